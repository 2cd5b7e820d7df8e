/* test_concurrency.c - appenders and readers on one log at once. Every
 * record names its writer and sequence number and derives its bytes from
 * them, so a reader can check any record it meets. Threads report what
 * they saw; the main thread asserts after joining them (cmocka asserts are
 * not thread-safe). Bounded by record counts, not by time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define MAX_REC 80
#define MARKER  99u /* writer id of the record at offset 0 */

typedef struct {
    char *tmp;
    char *dir;
    tu_faults_t f; /* here, not on a test's stack: teardown may still use it */
    seglog_vfs_t vfs;
    seglog_config_t cfg;
    seglog_log_t *log;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("concurrency");
    fx->dir = tu_path(fx->tmp, "log");
    *state = fx;
    return fx->tmp ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    seglog_log_destroy(&fx->log);
    free(fx->dir);
    tu_rmrf(&fx->tmp);
    free(fx);
    return 0;
}

/* Record (writer, seq): u32 writer | u32 seq | bytes derived from both. */
static size_t s_make(uint32_t writer, uint32_t seq, uint8_t *buf)
{
    size_t len = 8 + (seq * 7u + writer * 3u) % (MAX_REC - 8);
    memcpy(buf, &writer, 4);
    memcpy(buf + 4, &seq, 4);
    for (size_t j = 8; j < len; j++)
        buf[j] = (uint8_t)(writer * 97u + seq * 13u + j);
    return len;
}

/* 0 and the record's writer and seq if it is intact, -1 if not. */
static int s_parse(const void *data, size_t len, uint32_t *writer, uint32_t *seq)
{
    uint8_t want[MAX_REC];
    if (len < 8 || len > MAX_REC)
        return -1;
    memcpy(writer, data, 4);
    memcpy(seq, (const uint8_t *)data + 4, 4);
    if (s_make(*writer, *seq, want) != len || memcmp(want, data, len) != 0)
        return -1;
    return 0;
}

static uint64_t s_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct shared {
    seglog_log_t *log;
    uint32_t writers, per_writer;
    _Atomic int done; /* all appends returned */
    uint64_t final_next;
    _Atomic long bad; /* damaged records, wrong offsets, unexpected errors */
    _Atomic long reads;
    char first_error[160];
    pthread_mutex_t err_mu;
} shared_t;

static void s_bad(shared_t *sh, const char *fmt, ...)
{
    atomic_fetch_add(&sh->bad, 1);
    pthread_mutex_lock(&sh->err_mu);
    if (!sh->first_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->first_error, sizeof sh->first_error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->err_mu);
}

typedef struct {
    shared_t *sh;
    uint32_t id;
    int batches;    /* append in batches of 1..5 */
    uint64_t *offs; /* offset of each seq */
    int rc;
} writer_t;

static void *s_writer(void *arg)
{
    writer_t *w = arg;
    uint8_t buf[5][MAX_REC];
    struct iovec iov[5];
    uint64_t rng = 0x1234567ull + w->id;
    for (uint32_t seq = 0; seq < w->sh->per_writer;) {
        uint32_t n = w->batches ? 1 + (uint32_t)(s_rand(&rng) % 5) : 1;
        if (n > w->sh->per_writer - seq)
            n = w->sh->per_writer - seq;
        for (uint32_t k = 0; k < n; k++) {
            iov[k].iov_base = buf[k];
            iov[k].iov_len = s_make(w->id, seq + k, buf[k]);
        }
        uint64_t first;
        int rc = seglog_log_append_batch(w->sh->log, iov, n, &first);
        if (rc) {
            w->rc = rc;
            return NULL;
        }
        for (uint32_t k = 0; k < n; k++)
            w->offs[seq + k] = first + k;
        seq += n;
    }
    return NULL;
}

/* Random reads of [lowest, next): every record must be intact. */
static void *s_random_reader(void *arg)
{
    shared_t *sh = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    uint8_t buf[MAX_REC];
    while (!atomic_load(&sh->done)) {
        uint64_t lo, hi;
        if (seglog_log_lowest_offset(sh->log, &lo) || seglog_log_next_offset(sh->log, &hi)) {
            s_bad(sh, "offset query failed");
            return NULL;
        }
        if (hi <= lo)
            continue;
        uint64_t off = lo + s_rand(&rng) % (hi - lo);
        size_t len = 0;
        int rc;
        void *p = NULL;
        if (s_rand(&rng) % 8 == 0) {
            rc = seglog_log_read_alloc(sh->log, off, &p, &len);
        } else {
            rc = seglog_log_read(sh->log, off, buf, sizeof buf, &len);
            p = buf;
        }
        uint32_t writer, seq;
        if (rc)
            s_bad(sh, "read %llu: %s", (unsigned long long)off, seglog_strerror(rc));
        else if (s_parse(p, len, &writer, &seq) != 0)
            s_bad(sh, "read %llu: damaged record", (unsigned long long)off);
        if (p != buf)
            free(p);
        atomic_fetch_add(&sh->reads, 1);
    }
    return NULL;
}

/* Tail the log from 0 with an iterator: offsets dense, records intact,
 * each writer's sequence numbers in order, up to the final end. */
static void *s_tail_reader(void *arg)
{
    shared_t *sh = arg;
    seglog_iter_t *it = NULL;
    uint32_t next_seq[8] = {0};
    if (seglog_iter_new(sh->log, &it) || seglog_iter_seek(it, 0, 0, 0)) {
        s_bad(sh, "iterator setup failed");
        seglog_iter_destroy(&it);
        return NULL;
    }
    uint64_t expect = 0;
    for (;;) {
        uint64_t off;
        const void *d;
        size_t len;
        int rc = seglog_iter_next(it, &off, &d, &len);
        if (rc < 0) {
            s_bad(sh, "iterate at %llu: %s", (unsigned long long)expect, seglog_strerror(rc));
            break;
        }
        if (rc == 0) {
            if (atomic_load(&sh->done) && expect >= sh->final_next)
                break;
            sched_yield(); /* caught up with the appenders */
            continue;
        }
        uint32_t writer, seq;
        if (off != expect) {
            s_bad(sh, "iterator gave %llu, expected %llu", (unsigned long long)off,
                  (unsigned long long)expect);
            break;
        }
        if (s_parse(d, len, &writer, &seq) != 0) {
            s_bad(sh, "iterate %llu: damaged record", (unsigned long long)off);
            break;
        }
        if (writer != MARKER) {
            if (writer >= 8 || seq != next_seq[writer]) {
                s_bad(sh, "offset %llu: writer %u seq %u out of order", (unsigned long long)off,
                      writer, seq);
                break;
            }
            next_seq[writer]++;
        }
        expect++;
        atomic_fetch_add(&sh->reads, 1);
    }
    seglog_iter_destroy(&it);
    return NULL;
}

/* Run `writers` appenders of `per_writer` records and `random_readers` +
 * `tail_readers` readers; then check the log holds exactly the marker and
 * every appended record, densely. */
static void s_run(fx_t *fx, uint32_t writers, uint32_t per_writer, int random_readers,
                  int tail_readers)
{
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint8_t buf[MAX_REC];
    uint64_t off;
    assert_int_equal(seglog_log_append(fx->log, buf, s_make(MARKER, 0, buf), &off), 0);
    assert_int_equal(off, 0);

    shared_t sh = {.log = fx->log, .writers = writers, .per_writer = per_writer};
    pthread_mutex_init(&sh.err_mu, NULL);
    writer_t w[8];
    pthread_t wt[8], rt[8];
    int nr = random_readers + tail_readers;
    for (int i = 0; i < nr; i++)
        assert_int_equal(
            pthread_create(&rt[i], NULL, i < random_readers ? s_random_reader : s_tail_reader, &sh),
            0);
    for (uint32_t i = 0; i < writers; i++) {
        w[i] = (writer_t){.sh = &sh, .id = i, .batches = i % 2 == 1};
        w[i].offs = malloc(per_writer * sizeof(uint64_t));
        assert_int_equal(pthread_create(&wt[i], NULL, s_writer, &w[i]), 0);
    }
    for (uint32_t i = 0; i < writers; i++)
        pthread_join(wt[i], NULL);
    assert_int_equal(seglog_log_next_offset(fx->log, &sh.final_next), 0);
    atomic_store(&sh.done, 1);
    for (int i = 0; i < nr; i++)
        pthread_join(rt[i], NULL);
    if (sh.first_error[0])
        print_error("first reader error: %s\n", sh.first_error);
    assert_int_equal(atomic_load(&sh.bad), 0);
    assert_true(atomic_load(&sh.reads) > 0);

    /* Dense: the marker plus every record, each offset exactly once, each
     * writer's offsets increasing. */
    uint64_t total = 1 + (uint64_t)writers * per_writer;
    assert_int_equal(sh.final_next, total);
    uint8_t *seen = calloc(total, 1);
    seen[0] = 1;
    for (uint32_t i = 0; i < writers; i++) {
        assert_int_equal(w[i].rc, 0);
        for (uint32_t seq = 0; seq < per_writer; seq++) {
            uint64_t o = w[i].offs[seq];
            assert_true(o > 0 && o < total);
            assert_int_equal(seen[o], 0);
            seen[o] = 1;
            if (seq > 0)
                assert_true(o > w[i].offs[seq - 1]);
            size_t len = 0;
            uint32_t wr, sq;
            assert_int_equal(seglog_log_read(fx->log, o, buf, sizeof buf, &len), 0);
            assert_int_equal(s_parse(buf, len, &wr, &sq), 0);
            assert_int_equal(wr, i);
            assert_int_equal(sq, seq);
        }
        free(w[i].offs);
    }
    free(seen);
    pthread_mutex_destroy(&sh.err_mu);
}

/* Valgrind runs threads one at a time: fewer records, same shape. */
static uint32_t s_scaled(uint32_t n)
{
    return RUNNING_ON_VALGRIND ? n / 4 : n;
}

/* 2 appenders x 20000 records (one single, one in batches) and 4 readers
 * (2 random, 2 tailing iterators), with small segments so that rolls
 * happen under the readers, and a background flush every 2 ms. */
static void readers_and_appenders(void **state)
{
    fx_t *fx = *state;
    tu_config(&fx->cfg, 64 << 10, 1024 * 8);
    fx->cfg.max_record_bytes = MAX_REC;
    fx->cfg.write_buffer_bytes = 8192;
    fx->cfg.sync_interval_ms = 2;
    s_run(fx, 2, s_scaled(20000), 2, 2);
    seglog_log_destroy(&fx->log);
    /* Everything survives a reopen. */
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    seglog_recovery_t rec;
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.clean, 1);
    assert_true(rec.segments > 5);
    uint64_t next;
    assert_int_equal(seglog_log_next_offset(fx->log, &next), 0);
    assert_int_equal(next, 1 + 2 * (uint64_t)s_scaled(20000));
}

/* Truncation of old segments while readers read: a reader may be told
 * TRUNCATED for an offset that was below the lowest at the time, never
 * anything else. */
typedef struct {
    seglog_log_t *log;
    _Atomic int done;
    _Atomic long bad, truncated, reads;
} trunc_t;

static void *s_trunc_reader(void *arg)
{
    trunc_t *t = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    uint8_t buf[MAX_REC];
    while (!atomic_load(&t->done)) {
        uint64_t lo = 0, hi = 0;
        if (seglog_log_lowest_offset(t->log, &lo) || seglog_log_next_offset(t->log, &hi)) {
            atomic_fetch_add(&t->bad, 1);
            break;
        }
        if (hi <= lo)
            continue;
        uint64_t off = lo + s_rand(&rng) % (hi - lo);
        size_t len;
        uint32_t w, s;
        int rc = seglog_log_read(t->log, off, buf, sizeof buf, &len);
        uint64_t now_lo = 0;
        if (rc == SEGLOG_E_OFFSET_TRUNCATED && seglog_log_lowest_offset(t->log, &now_lo) == 0 &&
            off < now_lo)
            atomic_fetch_add(&t->truncated, 1);
        else if (rc || s_parse(buf, len, &w, &s))
            atomic_fetch_add(&t->bad, 1);
        atomic_fetch_add(&t->reads, 1);
    }
    return NULL;
}

static void truncate_under_readers(void **state)
{
    fx_t *fx = *state;
    tu_config(&fx->cfg, 32 << 10, 1024 * 8);
    fx->cfg.max_record_bytes = MAX_REC;
    fx->cfg.sync_interval_ms = 3600000;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    trunc_t t = {.log = fx->log};
    pthread_t rt[3];
    uint8_t buf[MAX_REC];
    uint64_t off;
    assert_int_equal(seglog_log_append(fx->log, buf, s_make(0, 0, buf), &off), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&rt[i], NULL, s_trunc_reader, &t), 0);
    uint32_t n = s_scaled(20000);
    for (uint32_t seq = 1; seq < n; seq++) {
        assert_int_equal(seglog_log_append(fx->log, buf, s_make(0, seq, buf), &off), 0);
        assert_int_equal(off, seq);
        if (seq % 2000 == 0)
            assert_int_equal(seglog_log_truncate(fx->log, seq - 1000, NULL), 0);
    }
    /* Under valgrind (one thread at a time) the readers may not have run
     * yet: give them up to 10 s to read before they are told to stop. */
    for (int w = 0; w < 10000 && atomic_load(&t.reads) == 0; w++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    atomic_store(&t.done, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(rt[i], NULL);
    assert_int_equal(atomic_load(&t.bad), 0);
    assert_true(atomic_load(&t.reads) > 0);
    uint64_t lo;
    assert_int_equal(seglog_log_lowest_offset(fx->log, &lo), 0);
    assert_true(lo > 0 && lo <= n - 1000);
    for (uint64_t o = lo; o < n; o++) {
        size_t len;
        uint32_t w, s;
        assert_int_equal(seglog_log_read(fx->log, o, buf, sizeof buf, &len), 0);
        assert_int_equal(s_parse(buf, len, &w, &s), 0);
        assert_int_equal(s, o);
    }
}

/* Close while appenders and readers are busy: every call after the close
 * returns CLOSED, nothing crashes, and the log holds exactly the records
 * whose appends succeeded. */
#define CL_WRITERS 3
#define CL_MAX     50000

typedef struct {
    seglog_log_t *log;
    _Atomic long appended; /* successful appends, all writers */
    _Atomic int closed_seen;
    _Atomic long bad;
} close_t;

typedef struct {
    close_t *c;
    uint32_t id;
    uint32_t n;            /* successful appends */
    uint64_t offs[CL_MAX]; /* their offsets */
} cl_writer_t;

static void *s_cl_writer(void *arg)
{
    cl_writer_t *w = arg;
    uint8_t buf[MAX_REC];
    for (uint32_t seq = 0; seq < CL_MAX; seq++) {
        uint64_t off;
        int rc = seglog_log_append(w->c->log, buf, s_make(w->id, seq, buf), &off);
        if (rc == SEGLOG_E_CLOSED)
            break;
        if (rc) {
            atomic_fetch_add(&w->c->bad, 1);
            break;
        }
        w->offs[w->n++] = off;
        atomic_fetch_add(&w->c->appended, 1);
    }
    return NULL;
}

static void *s_cl_reader(void *arg)
{
    close_t *c = arg;
    uint8_t buf[MAX_REC];
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    for (;;) {
        uint64_t hi;
        int rc = seglog_log_next_offset(c->log, &hi);
        if (rc == 0 && hi > 0) {
            size_t len;
            uint32_t w, q;
            rc = seglog_log_read(c->log, s_rand(&rng) % hi, buf, sizeof buf, &len);
            if (rc == 0 && s_parse(buf, len, &w, &q))
                atomic_fetch_add(&c->bad, 1);
        }
        if (rc == SEGLOG_E_CLOSED)
            break;
        if (rc)
            atomic_fetch_add(&c->bad, 1);
    }
    atomic_fetch_add(&c->closed_seen, 1);
    return NULL;
}

static void close_under_load(void **state)
{
    fx_t *fx = *state;
    for (int policy = 0; policy < 2; policy++) {
        tu_config(&fx->cfg, 32 << 10, 256 * 8);
        fx->cfg.max_record_bytes = MAX_REC;
        fx->cfg.sync = policy ? SEGLOG_SYNC_ALWAYS : SEGLOG_SYNC_NONE;
        assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
        close_t c = {.log = fx->log};
        cl_writer_t *w = calloc(CL_WRITERS, sizeof *w);
        pthread_t wt[CL_WRITERS], rt[2];
        for (uint32_t i = 0; i < CL_WRITERS; i++) {
            w[i].c = &c;
            w[i].id = i;
            assert_int_equal(pthread_create(&wt[i], NULL, s_cl_writer, &w[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&rt[i], NULL, s_cl_reader, &c), 0);
        /* Close once the writers are well under way (on a result, not a
         * timer); yield meanwhile. */
        long want = RUNNING_ON_VALGRIND ? 200 : 2000;
        while (atomic_load(&c.appended) < want)
            sched_yield();
        assert_int_equal(seglog_log_close(fx->log), 0);
        for (uint32_t i = 0; i < CL_WRITERS; i++)
            pthread_join(wt[i], NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(rt[i], NULL);
        assert_int_equal(atomic_load(&c.bad), 0);
        assert_int_equal(atomic_load(&c.closed_seen), 2);
        uint64_t v;
        assert_int_equal(seglog_log_next_offset(fx->log, &v), SEGLOG_E_CLOSED);
        seglog_log_destroy(&fx->log);

        /* Exactly the successful appends, each where it was acknowledged. */
        assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
        seglog_recovery_t rec;
        seglog_log_recovery(fx->log, &rec);
        assert_int_equal(rec.clean, 1);
        uint64_t next;
        assert_int_equal(seglog_log_next_offset(fx->log, &next), 0);
        assert_int_equal(next, (uint64_t)atomic_load(&c.appended));
        for (uint32_t i = 0; i < CL_WRITERS; i++)
            for (uint32_t seq = 0; seq < w[i].n; seq++) {
                uint8_t buf[MAX_REC];
                size_t len;
                uint32_t wr, sq;
                assert_int_equal(seglog_log_read(fx->log, w[i].offs[seq], buf, sizeof buf, &len),
                                 0);
                assert_int_equal(s_parse(buf, len, &wr, &sq), 0);
                assert_int_equal(wr, i);
                assert_int_equal(sq, seq);
            }
        free(w);
        assert_int_equal(seglog_log_remove(fx->log), 0);
        seglog_log_destroy(&fx->log);
    }
}

/* ---- group commit ---------------------------------------------------------- */

static _Atomic uint64_t s_commit_max;
static _Atomic int s_commit_calls;

/* Callbacks from different syncing threads may arrive out of order (the
 * server keeps the maximum); the maximum must reach the end. */
static void s_on_commit(void *arg, uint64_t next)
{
    (void)arg;
    uint64_t cur = atomic_load(&s_commit_max);
    while (next > cur && !atomic_compare_exchange_weak(&s_commit_max, &cur, next))
        ;
    atomic_fetch_add(&s_commit_calls, 1);
}

/* SYNC_ALWAYS with 4 appenders: every append returns synced, and appenders
 * that wait together share one fdatasync, so there are fewer syncs than
 * appends. */
static void group_commit_sync_always(void **state)
{
    fx_t *fx = *state;
    fx->vfs = tu_fault_vfs(&fx->f);
    tu_config(&fx->cfg, 1 << 20, 1 << 16);
    fx->cfg.max_record_bytes = MAX_REC;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    fx->cfg.vfs = &fx->vfs;
    fx->cfg.on_commit = s_on_commit;
    atomic_store(&s_commit_max, 0);
    atomic_store(&s_commit_calls, 0);
    uint32_t per = RUNNING_ON_VALGRIND ? 100 : 400;
    int syncs0 = fx->f.syncs;
    s_run(fx, 4, per, 0, 1);
    int syncs = fx->f.syncs - syncs0;
    uint64_t appends = 1 + 4 * (uint64_t)per;
    print_message("group commit: %llu appends, %d fdatasyncs\n", (unsigned long long)appends,
                  syncs);
    assert_true(syncs > 0);
    assert_true((uint64_t)syncs < appends);
    uint64_t committed;
    assert_int_equal(seglog_log_committed_offset(fx->log, &committed), 0);
    assert_int_equal(committed, appends);
    assert_int_equal(atomic_load(&s_commit_max), appends);
    assert_true(atomic_load(&s_commit_calls) <= syncs);
    seglog_log_destroy(&fx->log);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(readers_and_appenders),
        T(truncate_under_readers),
        T(close_under_load),
        T(group_commit_sync_always),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
