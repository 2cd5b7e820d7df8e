/* test_tail.c - seglog_tail_t against seglogd as a child process: every
 * record exactly once and in order, from a backlog into the live stream,
 * with the PUB socket forced to drop, from `latest`, across truncation,
 * across a log reset (epoch change), on exact topic matching, and with a
 * bootstrap list that reaches a standalone server (no failover mode). */
#include "seglog/client.h"
#include "srv.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define EXPECT_RC(rc, want, msg)                                                                   \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (want))                                                                         \
            fail_msg("%s: got %d (%s: %s), want %d (%s)", #rc, rc_, seglog_client_strerror(rc_),   \
                     (msg), (want), seglog_client_strerror(want));                                 \
    } while (0)
#define OK(c, call) EXPECT_RC(call, 0, seglog_client_errmsg(c))

#define WAIT_MS 30000 /* bound on any wait for records that must come */

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef srv_fx_t fx_t; /* srv.h: the teardown frees it even when a test fails */

/* Start seglogd with args and connect f->c to it. */
static void s_start(fx_t *f, const char *const *args)
{
    assert_int_equal(srv_start(&f->srv, args), 0);
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    o.timeout_ms = 10000;
    if (seglog_client_connect(f->srv.endpoint, f->srv.pub_endpoint, &o, &f->c) != 0)
        fail_msg("connect failed");
}

/* Value of record i: "r<i>" padded with 'x' to size bytes (at least the
 * digits). */
static size_t s_value(char *buf, size_t size, uint64_t i)
{
    int n = snprintf(buf, size + 1, "r%" PRIu64, i);
    if ((size_t)n < size)
        memset(buf + n, 'x', size - (size_t)n);
    return (size_t)n > size ? (size_t)n : size;
}

/* Produce records [from, to) to topic in batches of 10. */
static void s_produce(seglog_client_t *c, const char *topic, uint64_t from, uint64_t to,
                      size_t size)
{
    char *bufs = malloc(10 * (size + 32));
    assert_non_null(bufs);
    for (uint64_t i = from; i < to;) {
        seglog_record_t recs[10];
        size_t n = 0;
        for (; n < 10 && i < to; n++, i++) {
            char *b = bufs + n * (size + 32);
            recs[n] =
                (seglog_record_t){.value = (const uint8_t *)b, .value_len = s_value(b, size, i)};
        }
        uint64_t first;
        OK(c, seglog_client_produce_batch(c, topic, recs, n, &first));
        assert_int_equal(first, i - n);
    }
    free(bufs);
}

/* Read from the tail until it has returned record `until - 1`, checking
 * every record: offset == expected, value as produced. */
static void s_read_until(seglog_tail_t *t, uint64_t *expect, uint64_t until, size_t size)
{
    static char want[(1 << 20) + 32];
    assert_true(size < sizeof want - 32);
    int64_t deadline = s_now_ms() + WAIT_MS;
    while (*expect < until) {
        if (s_now_ms() > deadline)
            fail_msg("tail stuck at %" PRIu64 " waiting for %" PRIu64, *expect, until);
        seglog_record_t r;
        int rc = seglog_tail_next(t, 200, &r);
        if (rc == SEGLOG_CLIENT_E_AGAIN)
            continue;
        EXPECT_RC(rc, 0, seglog_tail_errmsg(t));
        if (r.offset != *expect)
            fail_msg("tail returned offset %" PRIu64 ", expected %" PRIu64, r.offset, *expect);
        size_t n = s_value(want, size, r.offset);
        assert_int_equal(r.value_len, n);
        assert_memory_equal(r.value, want, n);
        (*expect)++;
        assert_int_equal(seglog_tail_position(t), *expect);
    }
}

/* Nothing more arrives: no duplicate, no stray record. The wait spans
 * several heartbeats, which would reveal anything missed. */
static void s_expect_quiet(seglog_tail_t *t, int ms)
{
    seglog_record_t r;
    int rc = seglog_tail_next(t, ms, &r);
    if (rc == 0)
        fail_msg("unexpected record at offset %" PRIu64, r.offset);
    EXPECT_RC(rc, SEGLOG_CLIENT_E_AGAIN, seglog_tail_errmsg(t));
}

typedef struct producer_arg {
    const srv_t *srv;
    const char *topic;
    uint64_t from, to;
    size_t size;
    int rc;
} producer_arg_t;

/* A second thread with its own client: handles share no state. */
static void *s_producer_main(void *arg)
{
    producer_arg_t *a = arg;
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    o.timeout_ms = 10000;
    seglog_client_t *c = NULL;
    a->rc = seglog_client_connect(a->srv->endpoint, NULL, &o, &c);
    char *buf = malloc(a->size + 32);
    for (uint64_t i = a->from; a->rc == 0 && i < a->to;) {
        seglog_record_t recs[10];
        char *bufs[10];
        size_t n = 0;
        for (; n < 10 && i < a->to; n++, i++) {
            bufs[n] = malloc(a->size + 32);
            recs[n] = (seglog_record_t){.value = (const uint8_t *)bufs[n],
                                        .value_len = s_value(bufs[n], a->size, i)};
        }
        a->rc = seglog_client_produce_batch(c, a->topic, recs, n, NULL);
        for (size_t k = 0; k < n; k++)
            free(bufs[k]);
    }
    free(buf);
    seglog_client_destroy(&c);
    return NULL;
}

/* 1000 records exist; a tail from 0 reads them while another thread
 * produces 1000 more: exactly 2000 come out, in order. Without pause_ms
 * the producer starts when half the backlog is read, so the switch from
 * fetching to the live stream overlaps new records. With pause_ms the tail
 * is live first, then does not read while the producer runs, so a tiny
 * PUB HWM must drop. */
static void s_backlog_then_live(fx_t *f, const char *const *args,
                                const seglog_tail_options_t *topts, size_t size, int pause_ms,
                                seglog_tail_stats_t *st)
{
    s_start(f, args);
    seglog_client_t *c = f->c;
    s_produce(c, "t", 0, 1000, size);

    OK(c, seglog_tail_new(c, "t", 0, topts, &f->t));
    uint64_t expect = 0;
    if (pause_ms) { /* read the backlog and go live first */
        s_read_until(f->t, &expect, 1000, size);
        s_expect_quiet(f->t, 200);
    } else { /* produce while the backlog is being read */
        s_read_until(f->t, &expect, 500, size);
    }

    producer_arg_t pa = {.srv = &f->srv, .topic = "t", .from = 1000, .to = 2000, .size = size};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_producer_main, &pa), 0);
    if (pause_ms) {
        /* Stop reading while the producer runs, so the PUB socket
         * overflows, then wait a few heartbeats. */
        pthread_join(th, NULL);
        s_sleep_ms(pause_ms);
    }
    s_read_until(f->t, &expect, 2000, size);
    if (!pause_ms)
        pthread_join(th, NULL);
    assert_int_equal(pa.rc, 0);
    s_expect_quiet(f->t, 500);
    seglog_tail_stats(f->t, st);
    assert_int_equal(st->delivered, 2000);

    seglog_tail_destroy(&f->t);
}

static void test_backlog_then_live(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", NULL};
    seglog_tail_stats_t st;
    s_backlog_then_live(f, args, NULL, 16, 0, &st);
    assert_true(st.fetches >= 1);
}

static void test_forced_pub_drops(void **state)
{
    fx_t *f = *state;
    /* PUB HWM 1, SUB HWM 1 and 16 KiB records: 16 MB published in a burst
     * while the tail does not read cannot all be buffered. */
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", "--pub-hwm", "1", NULL};
    seglog_tail_options_t o;
    seglog_tail_options_default(&o);
    o.sub_hwm = 1;
    seglog_tail_stats_t st;
    s_backlog_then_live(f, args, &o, 16 << 10, 300, &st);
    print_message("live %" PRIu64 " gaps %" PRIu64 " hb_behind %" PRIu64 " fetches %" PRIu64
                  " dups %" PRIu64 "\n",
                  st.live, st.gaps, st.hb_behind, st.fetches, st.duplicates);
    /* Drops happened and were repaired by fetches. */
    if (st.gaps + st.hb_behind == 0 || st.live >= 1000)
        fail_msg("no PUB drop was seen (live %" PRIu64 ", gaps %" PRIu64 ", hb_behind %" PRIu64 ")",
                 st.live, st.gaps, st.hb_behind);
    assert_true(st.fetches > 1);
}

static void test_from_latest(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", NULL};
    s_start(f, args);
    seglog_client_t *c = f->c;
    s_produce(c, "l", 0, 100, 8);
    OK(c, seglog_tail_new(c, "l", SEGLOG_OFFSET_LATEST, NULL, &f->t));
    assert_int_equal(seglog_tail_position(f->t), 100);
    s_expect_quiet(f->t, 300);
    s_produce(c, "l", 100, 110, 8);
    uint64_t expect = 100;
    s_read_until(f->t, &expect, 110, 8);
    s_expect_quiet(f->t, 500);
    seglog_tail_destroy(&f->t);

    /* earliest, and a number in the middle */
    OK(c, seglog_tail_new(c, "l", SEGLOG_OFFSET_EARLIEST, NULL, &f->t));
    assert_int_equal(seglog_tail_position(f->t), 0);
    seglog_tail_destroy(&f->t);
    OK(c, seglog_tail_new(c, "l", 105, NULL, &f->t));
    expect = 105;
    s_read_until(f->t, &expect, 110, 8);
    seglog_tail_destroy(&f->t);
    /* past the end */
    EXPECT_RC(seglog_tail_new(c, "l", 111, NULL, &f->t), SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE,
              seglog_client_errmsg(c));
    assert_null(f->t);
}

static void test_truncated_while_tailing(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--segment-bytes", "4K", "--max-record-bytes",
                                "1K",     NULL};
    s_start(f, args);
    seglog_client_t *c = f->c;
    s_produce(c, "tr", 0, 500, 100); /* about 60 KB: many 4K segments */

    seglog_tail_options_t o;
    seglog_tail_options_default(&o);
    o.fetch_records = 10;
    OK(c, seglog_tail_new(c, "tr", 0, &o, &f->t));
    uint64_t expect = 0;
    s_read_until(f->t, &expect, 5, 100);

    uint64_t lowest;
    OK(c, seglog_client_truncate(c, "tr", 400, &lowest));
    assert_true(lowest > 10);

    /* The rest of the fetched batch (5..9) is still delivered; the next
     * fetch, at 10, finds its records gone. */
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++) {
        seglog_record_t r;
        rc = seglog_tail_next(f->t, 1000, &r);
        if (rc == 0)
            assert_int_equal(r.offset, expect++);
    }
    EXPECT_RC(rc, SEGLOG_CLIENT_E_OFFSET_TRUNCATED, seglog_tail_errmsg(f->t));
    assert_int_equal(expect, 10);
    assert_int_equal(seglog_tail_position(f->t), 10);
    assert_non_null(strstr(seglog_tail_errmsg(f->t), "truncated"));
    seglog_record_t r;
    EXPECT_RC(seglog_tail_next(f->t, 0, &r), SEGLOG_CLIENT_E_OFFSET_TRUNCATED, ""); /* sticky */
    seglog_tail_destroy(&f->t);

    /* Starting below the lowest offset: an error, or the lowest on demand. */
    EXPECT_RC(seglog_tail_new(c, "tr", 0, NULL, &f->t), SEGLOG_CLIENT_E_OFFSET_TRUNCATED, "");
    assert_null(f->t);
    o.start_at_lowest = 1;
    OK(c, seglog_tail_new(c, "tr", 0, &o, &f->t));
    assert_int_equal(seglog_tail_position(f->t), lowest);
    expect = lowest;
    s_read_until(f->t, &expect, 500, 100);
    seglog_tail_destroy(&f->t);
    OK(c, seglog_tail_new(c, "tr", SEGLOG_OFFSET_EARLIEST, NULL, &f->t));
    assert_int_equal(seglog_tail_position(f->t), lowest);
    seglog_tail_destroy(&f->t);
}

/* The topic's log is replaced while the tail runs (server stopped, topic
 * directory removed, server back on the same endpoints): the tail reports
 * EPOCH_CHANGED once and then reads the new log from its start. */
static void test_epoch_change(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", NULL};
    s_start(f, args);
    seglog_client_t *c = f->c;
    s_produce(c, "ep", 0, 10, 8);
    OK(c, seglog_tail_new(c, "ep", 0, NULL, &f->t));
    uint64_t expect = 0;
    s_read_until(f->t, &expect, 10, 8);
    uint64_t epoch = seglog_tail_epoch(f->t);

    assert_int_equal(srv_stop(&f->srv, SIGTERM), 0);
    char *dir = srv_topic_dir(&f->srv, "ep");
    assert_int_equal(srv_rmrf(dir), 0);
    free(dir);
    assert_int_equal(srv_restart(&f->srv), 0);
    s_produce(c, "ep", 0, 3, 8); /* the new log: offsets 0..2 */

    int rc = SEGLOG_CLIENT_E_AGAIN;
    int64_t deadline = s_now_ms() + WAIT_MS;
    seglog_record_t r;
    while (rc == SEGLOG_CLIENT_E_AGAIN && s_now_ms() < deadline)
        rc = seglog_tail_next(f->t, 200, &r);
    EXPECT_RC(rc, SEGLOG_CLIENT_E_EPOCH_CHANGED, seglog_tail_errmsg(f->t));
    assert_true(seglog_tail_epoch(f->t) != epoch);
    assert_int_equal(seglog_tail_position(f->t), 0);
    seglog_tail_stats_t st;
    seglog_tail_stats(f->t, &st);
    assert_int_equal(st.epochs, 1);
    expect = 0;
    s_read_until(f->t, &expect, 3, 8);
    s_expect_quiet(f->t, 500);

    seglog_tail_destroy(&f->t);
}

static void test_topic_matched_exactly(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", NULL};
    s_start(f, args);
    seglog_client_t *c = f->c;
    s_produce(c, "ab", 0, 1, 8);
    OK(c, seglog_tail_new(c, "ab", SEGLOG_OFFSET_LATEST, NULL, &f->t));
    s_produce(c, "abc", 0, 5, 8); /* same prefix, another topic */
    s_produce(c, "ab", 1, 3, 8);
    uint64_t expect = 1;
    s_read_until(f->t, &expect, 3, 8);
    s_expect_quiet(f->t, 500);
    seglog_tail_destroy(&f->t);
}

static void test_wait_for_topic(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", NULL};
    s_start(f, args);
    seglog_client_t *c = f->c;
    EXPECT_RC(seglog_tail_new(c, "new", SEGLOG_OFFSET_LATEST, NULL, &f->t),
              SEGLOG_CLIENT_E_UNKNOWN_TOPIC, seglog_client_errmsg(c));
    seglog_tail_options_t o;
    seglog_tail_options_default(&o);
    o.wait_for_topic = 1;
    OK(c, seglog_tail_new(c, "new", SEGLOG_OFFSET_LATEST, &o, &f->t));
    s_expect_quiet(f->t, 200);
    s_produce(c, "new", 0, 20, 8);
    uint64_t expect = 0; /* a topic born after the tail: all of it is new */
    s_read_until(f->t, &expect, 20, 8);
    s_expect_quiet(f->t, 300);
    seglog_tail_destroy(&f->t);
}

/* A bootstrap list that reaches a standalone server: the tail asks
 * Metadata, gets BAD_REQUEST and reads the client's node and PUB endpoint
 * as with a single endpoint (no failover mode, no move while quiet). */
static void test_list_standalone(void **state)
{
    fx_t *f = *state;
    const char *const args[] = {"--sync", "none", "--heartbeat-ms", "100", NULL};
    s_start(f, args);
    s_produce(f->c, "ls", 0, 30, 8);
    char list[600];
    snprintf(list, sizeof list, "%s,tcp://127.0.0.1:1", f->srv.endpoint);
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    seglog_client_t *c = NULL;
    OK(c, seglog_client_connect(list, NULL, &o, &c));
    seglog_tail_t *t = NULL;
    EXPECT_RC(seglog_tail_new(c, "ls", 0, NULL, &t), SEGLOG_CLIENT_E_INVAL,
              seglog_client_errmsg(c)); /* standalone: the PUB endpoint is needed */
    seglog_client_destroy(&c);
    OK(c, seglog_client_connect(list, f->srv.pub_endpoint, &o, &c));
    OK(c, seglog_tail_new(c, "ls", 0, NULL, &f->t));
    uint64_t expect = 0;
    s_read_until(f->t, &expect, 30, 8);
    s_produce(f->c, "ls", 30, 40, 8);
    s_read_until(f->t, &expect, 40, 8);
    s_expect_quiet(f->t, 3500); /* past the silence limit of failover mode */
    seglog_tail_stats_t st;
    seglog_tail_stats(f->t, &st);
    assert_int_equal(st.failovers, 0);
    assert_int_equal(st.delivered, 40);
    seglog_tail_destroy(&f->t);
    seglog_client_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backlog_then_live, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_forced_pub_drops, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_from_latest, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_while_tailing, srv_fx_setup,
                                        srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_epoch_change, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_topic_matched_exactly, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_topic, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_standalone, srv_fx_setup, srv_fx_teardown),
    };
    return cmocka_run_group_tests_name("tail", tests, NULL, NULL);
}
