/*
 * test_kill9.c - seglogd killed with SIGKILL under a pipelined load, ten
 * times in a row on one data directory, with small segments so that the
 * kills land before, during and after segment rolls.
 *
 * After every kill the server is started again (new ephemeral ports) and
 * the topic is read back over the wire; after the last kill it is also
 * read with the log core directly, before any server touched it. Each
 * time:
 *   - every acknowledged record is at its acknowledged offset, byte for
 *     byte;
 *   - offsets are dense from 0 to the next offset, and every stored record
 *     is one the test sent, intact, in send order, with whole batches only
 *     (unacknowledged batches may or may not be there);
 *   - the next append gets the next offset.
 * Run once under --sync always and once under --sync interval:100. Both
 * must lose no acknowledged record: the server acknowledges only after the
 * write to the OS (docs/FORMAT.md), and a process crash leaves the page
 * cache alone. The number lost is printed either way.
 *
 * The kill moments come from a seeded generator; the seed is printed and
 * SEGLOG_CRASH_SEED=N replays a run.
 */
#include "seglog/client.h"
#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"
#include "srv.h"
#include "testutil.h"

#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define TOPIC            "crash"
#define CYCLES           10
#define WINDOW           32 /* produce requests in flight */
#define MAX_BATCH        8  /* records per produce request */
#define LOAD_MIN_MS      40 /* load before each kill: LOAD_MIN_MS + [0, LOAD_SPREAD_MS) */
#define LOAD_SPREAD_MS   160
#define MAX_SENDS        20000 /* per cycle, whatever the clock says */
#define SEGMENT_BYTES    65536
#define MAX_RECORD_BYTES 4096
#define INDEX_BYTES      (SEGMENT_BYTES / 8) /* what seglogd derives from --segment-bytes */
#define VALUE_MAX        256

/* What the test knows about one offset: the record acknowledged there. */
typedef struct {
    uint32_t batch; /* 0: nothing acknowledged at this offset */
    uint8_t idx;
} slot_t;

typedef struct {
    srv_t srv;
    int started;
    uint64_t rng;
    slot_t *slots; /* indexed by offset */
    size_t cap;
    uint64_t acked;      /* acknowledged records, all cycles */
    uint64_t acked_end;  /* just past the highest acknowledged offset */
    uint64_t lost;       /* acknowledged records missing after a restart */
    uint32_t next_batch; /* batch ids: 1, 2, ... in send order, across cycles */
    uint32_t ring[1024]; /* producer seq % 1024 -> batch id */
    int ack_errors;      /* non-timeout errors in acks (none expected) */
} fx_t;

/* ---- records ------------------------------------------------------------ */

static uint64_t s_rand(fx_t *fx)
{
    fx->rng ^= fx->rng << 13;
    fx->rng ^= fx->rng >> 7;
    fx->rng ^= fx->rng << 17;
    return fx->rng;
}

static size_t s_batch_size(uint32_t batch)
{
    return 1 + (size_t)((batch * 7919u) % MAX_BATCH);
}

/* Record idx of a batch: "b<batch>.i<idx>." and a filler derived from
 * both; 24..223 bytes. */
static size_t s_value(uint32_t batch, unsigned idx, uint8_t *buf)
{
    size_t len = 24 + (size_t)((batch * 131u + idx * 29u) % 200u);
    int h = snprintf((char *)buf, VALUE_MAX, "b%010" PRIu32 ".i%02u.", batch, idx);
    for (size_t j = (size_t)h; j < len; j++)
        buf[j] = (uint8_t)('a' + (batch + idx * 7u + j) % 26u);
    return len;
}

/* Which record of ours v is: 0 and (batch, idx), or -1 if v is not
 * byte-identical to a record the test produced. */
static int s_parse(const uint8_t *v, size_t len, uint32_t *batch, unsigned *idx)
{
    char head[32];
    if (len < 17 || len >= VALUE_MAX)
        return -1;
    memcpy(head, v, 17);
    head[17] = '\0';
    if (sscanf(head, "b%10" SCNu32 ".i%2u.", batch, idx) != 2 || *batch == 0 ||
        *idx >= s_batch_size(*batch))
        return -1;
    uint8_t want[VALUE_MAX];
    size_t wlen = s_value(*batch, *idx, want);
    return wlen == len && memcmp(want, v, len) == 0 ? 0 : -1;
}

static void s_slot_grow(fx_t *fx, uint64_t end)
{
    if (end <= fx->cap)
        return;
    size_t cap = fx->cap ? fx->cap : 4096;
    while (cap < end)
        cap *= 2;
    fx->slots = realloc(fx->slots, cap * sizeof *fx->slots);
    assert_non_null(fx->slots);
    memset(fx->slots + fx->cap, 0, (cap - fx->cap) * sizeof *fx->slots);
    fx->cap = cap;
}

/* Note an acknowledged batch. An offset acknowledged twice (for two
 * different records) would mean an acknowledged record was overwritten. */
static void s_note_ack(fx_t *fx, uint32_t batch, uint64_t offset, size_t count)
{
    assert_int_equal(count, s_batch_size(batch));
    s_slot_grow(fx, offset + count);
    for (size_t i = 0; i < count; i++) {
        slot_t *sl = &fx->slots[offset + i];
        if (sl->batch)
            fail_msg("offset %" PRIu64 " acknowledged twice (batch %" PRIu32 ", then %" PRIu32 ")",
                     offset + i, sl->batch, batch);
        sl->batch = batch;
        sl->idx = (uint8_t)i;
    }
    fx->acked += count;
    if (offset + count > fx->acked_end)
        fx->acked_end = offset + count;
}

/* ---- checking what is stored ------------------------------------------ */

typedef struct {
    uint64_t next;  /* offset the next record must have */
    uint32_t batch; /* last record seen: batch and idx */
    unsigned idx;
} walk_t;

/* One stored record, in offset order. */
static void s_walk(fx_t *fx, walk_t *w, uint64_t off, const uint8_t *v, size_t len)
{
    uint32_t batch;
    unsigned idx;
    if (off != w->next)
        fail_msg("hole or reorder: offset %" PRIu64 " where %" PRIu64 " was due", off, w->next);
    if (s_parse(v, len, &batch, &idx) != 0)
        fail_msg("offset %" PRIu64 ": %zu bytes that the test never produced", off, len);
    /* Send order, whole batches: a record continues its batch, or a new
     * (later) batch starts after a complete one. */
    int continues = batch == w->batch && idx == w->idx + 1;
    int starts =
        batch > w->batch && idx == 0 && (w->batch == 0 || w->idx + 1 == s_batch_size(w->batch));
    if (!continues && !starts)
        fail_msg("offset %" PRIu64 ": record b%" PRIu32 ".i%u after b%" PRIu32 ".i%u", off, batch,
                 idx, w->batch, w->idx);
    if (off < fx->cap && fx->slots[off].batch &&
        (fx->slots[off].batch != batch || fx->slots[off].idx != idx))
        fail_msg("offset %" PRIu64 ": acknowledged b%" PRIu32 ".i%u, stored b%" PRIu32 ".i%u", off,
                 fx->slots[off].batch, fx->slots[off].idx, batch, idx);
    w->batch = batch;
    w->idx = idx;
    w->next = off + 1;
}

/* After the walk ended at `end`: the last batch is whole, and acknowledged
 * records at or past `end` are lost (counted, then forgotten so that the
 * offsets can be acknowledged again). */
static uint64_t s_walk_end(fx_t *fx, const walk_t *w, uint64_t end)
{
    assert_int_equal(w->next, end);
    if (w->batch && w->idx + 1 != s_batch_size(w->batch))
        fail_msg("log ends inside batch %" PRIu32 " (record %u of %zu)", w->batch, w->idx,
                 s_batch_size(w->batch));
    uint64_t lost = 0;
    for (uint64_t o = end; o < fx->acked_end; o++)
        if (fx->slots[o].batch) {
            lost++;
            fx->slots[o].batch = 0;
        }
    if (fx->acked_end > end)
        fx->acked_end = end;
    fx->lost += lost;
    return lost;
}

/* Read the whole topic over the wire; returns its next offset. */
static uint64_t s_check_wire(fx_t *fx, seglog_client_t *c)
{
    seglog_offsets_t o;
    int rc = seglog_client_offsets(c, TOPIC, &o);
    if (rc == SEGLOG_CLIENT_E_UNKNOWN_TOPIC && fx->acked == 0)
        return 0; /* killed before the first record was appended */
    if (rc)
        fail_msg("offsets: %s (%s)", seglog_client_strerror(rc), seglog_client_errmsg(c));
    assert_int_equal(o.lowest_offset, 0);
    walk_t w = {0};
    for (int calls = 0; w.next < o.next_offset; calls++) {
        assert_true(calls < 100000);
        seglog_batch_t b;
        rc = seglog_client_consume_range(c, TOPIC, w.next, 1000, 0, &b);
        if (rc)
            fail_msg("consume at %" PRIu64 ": %s (%s)", w.next, seglog_client_strerror(rc),
                     seglog_client_errmsg(c));
        assert_true(b.count > 0);
        for (size_t i = 0; i < b.count; i++)
            s_walk(fx, &w, b.records[i].offset, b.records[i].value, b.records[i].value_len);
        assert_int_equal(b.next_offset, w.next);
    }
    s_walk_end(fx, &w, o.next_offset);
    return o.next_offset;
}

/* Read the topic with the log core, as the crash left it (no server has
 * recovered it yet); returns its next offset. */
static uint64_t s_check_core(fx_t *fx)
{
    char *dir = srv_topic_dir(&fx->srv, TOPIC);
    seglog_config_t cfg;
    seglog_config_default(&cfg);
    cfg.max_store_bytes = SEGMENT_BYTES;
    cfg.max_index_bytes = INDEX_BYTES;
    cfg.max_record_bytes = MAX_RECORD_BYTES + 32; /* as seglogd: key + value + encoding */
    cfg.sync = SEGLOG_SYNC_NONE;
    seglog_log_t *log = NULL;
    int rc = seglog_log_open(dir, &cfg, &log);
    if (rc)
        fail_msg("log core open %s: %s", dir, seglog_strerror(rc));
    seglog_recovery_t rec;
    seglog_log_recovery(log, &rec);
    assert_int_equal(rec.clean, 0);
    assert_true(rec.segments > 1); /* the segments did roll */
    uint64_t lowest = 1, next = 0;
    assert_int_equal(seglog_log_lowest_offset(log, &lowest), 0);
    assert_int_equal(seglog_log_next_offset(log, &next), 0);
    assert_int_equal(lowest, 0);
    walk_t w = {0};
    for (uint64_t off = 0; off < next; off++) {
        void *data = NULL;
        size_t len = 0;
        rc = seglog_log_read_alloc(log, off, &data, &len);
        if (rc)
            fail_msg("log core read %" PRIu64 ": %s", off, seglog_strerror(rc));
        /* A stored record is a protobuf Record without its offset. */
        Seglog__V1__Record *r = seglog__v1__record__unpack(NULL, len, data);
        assert_non_null(r);
        s_walk(fx, &w, off, r->value.data, r->value.len);
        seglog__v1__record__free_unpacked(r, NULL);
        free(data);
    }
    s_walk_end(fx, &w, next);
    seglog_log_destroy(&log);
    free(dir);
    return next;
}

/* ---- producing ---------------------------------------------------------- */

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void s_on_ack(void *arg, const seglog_ack_t *ack)
{
    fx_t *fx = arg;
    uint32_t batch = fx->ring[ack->seq % 1024];
    if (ack->err == 0)
        s_note_ack(fx, batch, ack->offset, ack->count);
    else if (ack->err != SEGLOG_CLIENT_E_TIMEOUT) {
        fprintf(stderr, "kill9: batch %" PRIu32 ": %s (%s)\n", batch,
                seglog_client_strerror(ack->err), ack->message);
        fx->ack_errors++;
    }
}

/* Build batch `batch` into recs (values in bufs). */
static size_t s_build(uint32_t batch, seglog_record_t *recs, uint8_t (*bufs)[VALUE_MAX])
{
    size_t n = s_batch_size(batch);
    for (size_t i = 0; i < n; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].value = bufs[i];
        recs[i].value_len = s_value(batch, (unsigned)i, bufs[i]);
    }
    return n;
}

static seglog_client_t *s_connect(fx_t *fx)
{
    seglog_client_options_t opts;
    seglog_client_options_default(&opts);
    opts.timeout_ms = 5000; /* the server is alive while we wait on it */
    opts.retries = 0;       /* a resend could store a batch twice */
    seglog_client_t *c = NULL;
    assert_int_equal(seglog_client_connect(fx->srv.endpoint, NULL, &opts, &c), 0);
    return c;
}

/* The append right after a restart gets the next offset. */
static void s_check_continues(fx_t *fx, seglog_client_t *c, uint64_t next)
{
    seglog_record_t recs[MAX_BATCH];
    uint8_t bufs[MAX_BATCH][VALUE_MAX];
    uint32_t batch = ++fx->next_batch;
    size_t n = s_build(batch, recs, bufs);
    uint64_t first = UINT64_MAX;
    int rc = seglog_client_produce_batch(c, TOPIC, recs, n, &first);
    if (rc)
        fail_msg("produce after restart: %s (%s)", seglog_client_strerror(rc),
                 seglog_client_errmsg(c));
    assert_int_equal(first, next);
    s_note_ack(fx, batch, first, n);
}

/* Pipelined load for a random time, then SIGKILL while requests are in
 * flight; acknowledgements that had reached the client are collected. */
static void s_load_and_kill(fx_t *fx, seglog_client_t *c, int cycle)
{
    seglog_producer_t *p = NULL;
    assert_int_equal(seglog_producer_new(c, WINDOW, s_on_ack, fx, &p), 0);
    uint64_t load_ms = LOAD_MIN_MS + s_rand(fx) % LOAD_SPREAD_MS;
    uint64_t deadline = s_now_ms() + load_ms, acked_before = fx->acked;
    seglog_record_t recs[MAX_BATCH];
    uint8_t bufs[MAX_BATCH][VALUE_MAX];
    int sends = 0;
    for (; sends < MAX_SENDS && s_now_ms() < deadline; sends++) {
        uint32_t batch = ++fx->next_batch;
        size_t n = s_build(batch, recs, bufs);
        uint64_t seq = 0;
        int rc = seglog_producer_send(p, TOPIC, recs, n, &seq);
        if (rc)
            fail_msg("producer send: %s (%s)", seglog_client_strerror(rc),
                     seglog_producer_errmsg(p));
        fx->ring[seq % 1024] = batch;
    }
    size_t in_flight = seglog_producer_in_flight(p);
    assert_int_equal(srv_stop(&fx->srv, SIGKILL), 0);
    /* Replies the server sent before it died may still be on their way to
     * the client's socket; they are acknowledgements too. */
    seglog_producer_flush(p, 200);
    seglog_producer_destroy(&p);
    printf("kill9: cycle %d: %d requests in %" PRIu64 " ms, %zu in flight at the kill, %" PRIu64
           " records acknowledged\n",
           cycle, sends, load_ms, in_flight, fx->acked - acked_before);
    assert_int_equal(fx->ack_errors, 0);
}

static void s_run(const char *sync)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *seed_env = getenv("SEGLOG_CRASH_SEED");
    uint64_t seed =
        seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    fx->rng = seed ? seed : 1;
    printf("kill9: --sync %s, seed %" PRIu64 "\n", sync, seed);
    const char *extra[] = {
        "--sync", sync, "--segment-bytes", "64K", "--max-record-bytes", "4K", "--workers",
        "2",      NULL};
    uint64_t t0 = s_now_ms();
    assert_int_equal(srv_start(&fx->srv, extra), 0);
    for (int cycle = 0; cycle < CYCLES; cycle++) {
        if (cycle > 0)
            assert_int_equal(srv_relaunch(&fx->srv), 0);
        seglog_client_t *c = s_connect(fx);
        uint64_t lost_before = fx->lost;
        uint64_t next = s_check_wire(fx, c);
        if (cycle > 0)
            printf("kill9: restart %d: next offset %" PRIu64 ", %" PRIu64
                   " acknowledged records lost\n",
                   cycle, next, fx->lost - lost_before);
        s_check_continues(fx, c, next);
        s_load_and_kill(fx, c, cycle);
        seglog_client_destroy(&c);
    }
    /* The last kill: read the files as the crash left them, then let the
     * server recover them and check again over the wire. */
    uint64_t lost_before = fx->lost;
    uint64_t next = s_check_core(fx);
    assert_int_equal(srv_relaunch(&fx->srv), 0);
    seglog_client_t *c = s_connect(fx);
    assert_int_equal(s_check_wire(fx, c), next);
    s_check_continues(fx, c, next);
    seglog_client_destroy(&c);
    printf("kill9: restart %d (log core): next offset %" PRIu64 ", %" PRIu64
           " acknowledged records lost\n",
           CYCLES, next, fx->lost - lost_before);
    printf("kill9: --sync %s: %d kills, %" PRIu64 " records acknowledged, %" PRIu64
           " acknowledged records lost, %" PRIu64 " ms\n",
           sync, CYCLES, fx->acked, fx->lost, s_now_ms() - t0);
    assert_true(fx->acked > 0);
    /* Neither policy may lose an acknowledged record to a process crash. */
    assert_int_equal(fx->lost, 0);
    assert_int_equal(srv_destroy(&fx->srv), 0);
    free(fx->slots);
    free(fx);
}

static void kill9_sync_always(void **state)
{
    (void)state;
    s_run("always");
}

static void kill9_sync_interval(void **state)
{
    (void)state;
    s_run("interval:100");
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill9_sync_always),
        cmocka_unit_test(kill9_sync_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
