/* retention.c - see retention.h */
#include "retention.h"

#include "errors.h"
#include "groups.h"
#include "slog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct sl_retention {
    sl_topics_t *topics;
    const sl_conf_defaults_t *defaults;
    uint32_t period_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int stop;
};

/* The offset below which tp's segments may go now (0: none). */
static uint64_t s_cut_point(sl_topic_t *tp, uint64_t bytes_lim, uint64_t ms_lim, uint64_t now_ms,
                            const char **why)
{
    seglog_segment_info_t seg[64];
    uint64_t total = 0, end = sl_topic_visible_end(tp), cut = 0;
    size_t n = 0;
    /* Totals over every segment; the decisions over the first 64 (a pass
     * that removes 63 segments leaves the rest to the next one). */
    for (size_t i = 0;; i++) {
        seglog_segment_info_t s;
        if (seglog_log_segment_info(tp->log, i, &s) != 0)
            break;
        total += s.bytes;
        if (n < 64)
            seg[n++] = s;
    }
    for (size_t k = 0; k < n && !seg[k].active; k++) {
        if (seg[k].next > end)
            break; /* not visible yet: in cluster mode, not below the high watermark */
        int by_bytes = bytes_lim && total - seg[k].bytes >= bytes_lim;
        int by_time = ms_lim && seg[k].has_timestamp && seg[k].max_timestamp + ms_lim < now_ms;
        if (!by_bytes && !by_time)
            break;
        *why = by_bytes ? "retention.bytes" : "retention.ms";
        total -= seg[k].bytes;
        cut = seg[k].next;
    }
    return cut;
}

size_t sl_retention_pass(sl_topics_t *topics, const sl_conf_defaults_t *d, uint64_t now_ms)
{
    size_t removed = 0;
    for (sl_topic_t *tp = sl_topics_first(topics); tp; tp = atomic_load(&tp->next)) {
        if (atomic_load(&tp->deleted))
            continue;
        /* Consumer groups' commits: the map is rebuilt from the whole topic,
         * so no segment of it may go (groups.h). */
        if (sl_groups_is_internal(tp->name, tp->name_len))
            continue;
        uint64_t bl = sl_topicconf_effective(&tp->conf, d, SL_CONF_RETENTION_BYTES);
        uint64_t ml = sl_topicconf_effective(&tp->conf, d, SL_CONF_RETENTION_MS);
        if (!bl && !ml)
            continue;
        const char *why = "";
        uint64_t cut = s_cut_point(tp, bl, ml, now_ms, &why), before = 0, lowest = 0;
        if (!cut || seglog_log_lowest_offset(tp->log, &before) != 0 || before >= cut)
            continue;
        int rc = seglog_log_truncate(tp->log, cut, &lowest);
        if (rc) {
            if (rc != SEGLOG_E_CLOSED) /* deleted meanwhile */
                sl_log(SL_LOG_ERROR, "retention failed topic=%s error=\"%s\"", tp->name,
                       sl_strerror(rc));
            continue;
        }
        removed++;
        sl_log(SL_LOG_INFO,
               "retention removed segments topic=%s reason=%s lowest_before=%" PRIu64
               " lowest=%" PRIu64,
               tp->name, why, before, lowest);
    }
    return removed;
}

static uint64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *s_main(void *arg)
{
    sl_retention_t *r = arg;
    pthread_setname_np(pthread_self(), "sl-retention");
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        sl_retention_pass(r->topics, r->defaults, s_wall_ms());
        pthread_mutex_lock(&r->mu);
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += r->period_ms / 1000;
        at.tv_nsec += (long)(r->period_ms % 1000) * 1000000L;
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int sl_retention_new(sl_topics_t *topics, const sl_conf_defaults_t *defaults, uint32_t period_ms,
                     sl_retention_t **out)
{
    sl_retention_t *r = calloc(1, sizeof *r);
    if (!r)
        return SEGLOG_E_NOMEM;
    r->topics = topics;
    r->defaults = defaults;
    r->period_ms = period_ms ? period_ms : 1000;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&r->thread, NULL, s_main, r);
    if (rc) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sl_retention_destroy(sl_retention_t **r_p)
{
    sl_retention_t *r = *r_p;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    *r_p = NULL;
}
