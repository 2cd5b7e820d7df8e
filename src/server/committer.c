/* committer.c - see committer.h */
#include "committer.h"

#include "slog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EARLY_GAP_US 150

struct sl_committer {
    sl_topics_t *topics;
    seglog_sync_t sync;
    sl_publisher_t *publisher;
    int efd; /* to the front end: something was committed */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int kicked;
    int stop; /* under mu */
    int failing;
};

/* One pass over the topics: commit those with records past their commit
 * point. Returns 1 if it committed (or tried to) anything. */
static int s_pass(sl_committer_t *c)
{
    int did = 0, failed = 0;
    int eager = c->sync == SEGLOG_SYNC_ALWAYS ||
                (c->sync == SEGLOG_SYNC_INTERVAL && sl_publisher_subscribed(c->publisher));
    if (!eager)
        return 0;
    for (sl_topic_t *tp = sl_topics_first(c->topics); tp; tp = atomic_load(&tp->next)) {
        uint64_t next = 0, committed = 0;
        if (seglog_log_next_offset(tp->log, &next) ||
            seglog_log_committed_offset(tp->log, &committed) || next <= committed)
            continue;
        did = 1;
        int rc = seglog_log_commit_all(tp->log);
        if (rc && rc != SEGLOG_E_CLOSED) {
            failed = 1;
            if (!c->failing) /* the log core logged the rollback itself */
                sl_log(SL_LOG_ERROR, "commit failed topic=%s error=\"%s\"", tp->name,
                       seglog_strerror(rc));
        }
    }
    if (c->failing && !failed && did)
        sl_log(SL_LOG_INFO, "commits work again");
    c->failing = failed ? 1 : did ? 0 : c->failing;
    return did;
}

/* Early syncs for subscribers (interval) start at most every EARLY_GAP_US.
 * Back to back (about 12k/s on the test machine's disk) their ext4
 * writeback took CPU from producers; a 150 us gap caps them near 6.7k/s
 * and keeps the live tail's p99 around 0.4 ms (docs/PERFORMANCE.md).
 * Acknowledgements never wait for these syncs. */
static void s_pace(const struct timespec *t0)
{
    struct timespec until = *t0;
    until.tv_nsec += EARLY_GAP_US * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

static void *s_main(void *arg)
{
    sl_committer_t *c = arg;
    pthread_setname_np(pthread_self(), "sl-committer"); /* for top -H and perf */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!atomic_load(&c->kicked) && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        int stop = c->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        atomic_store(&c->kicked, 0);
        /* Back to back while there is work: appends made during one
         * fdatasync are the next group. */
        for (;;) {
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            if (!s_pass(c))
                break;
            uint64_t one = 1;
            ssize_t w = write(c->efd, &one, sizeof one);
            (void)w; /* EAGAIN: the counter is saturated, the fd is readable */
            if (c->failing)
                break; /* no busy loop on a failing disk: wait for the next kick */
            if (c->sync == SEGLOG_SYNC_INTERVAL)
                s_pace(&t0);
        }
    }
    return NULL;
}

int sl_committer_new(sl_topics_t *topics, seglog_sync_t sync, sl_publisher_t *publisher,
                     sl_committer_t **out)
{
    sl_committer_t *c = calloc(1, sizeof *c);
    if (!c)
        return SEGLOG_E_NOMEM;
    c->topics = topics;
    c->sync = sync;
    c->publisher = publisher;
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->efd < 0) {
        int e = errno;
        free(c);
        return e;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    int rc = pthread_create(&c->thread, NULL, s_main, c);
    if (rc) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        close(c->efd);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void sl_committer_kick(sl_committer_t *c)
{
    if (atomic_exchange(&c->kicked, 1) == 0) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
}

void sl_committer_appended(sl_committer_t *c)
{
    if (c && c->sync == SEGLOG_SYNC_INTERVAL && sl_publisher_subscribed(c->publisher))
        sl_committer_kick(c);
}

int sl_committer_fd(const sl_committer_t *c)
{
    return c->efd;
}

void sl_committer_drain(sl_committer_t *c)
{
    uint64_t v;
    ssize_t r = read(c->efd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing there */
}

void sl_committer_destroy(sl_committer_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    sl_committer_t *c = *c_p;
    *c_p = NULL;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    close(c->efd);
    free(c);
}
