/* test_longpoll.c - long-poll consume (ConsumeRequest.max_wait_ms) on an
 * in-process server over real sockets: the wake-up latency after a
 * produce, the timeout, the waiter bound, bad values, a delete and a
 * shutdown while a consume waits.
 *
 * Synchronisation without sleeps: a DEALER sends the long poll and then
 * an Offsets request; the connection's worker serves both in order, so
 * when the Offsets reply arrives first the long poll is parked (an old
 * server answers the consume first, and the tests fail). */
#include "tclient.h"
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>
#include <cmocka.h>

/* Sanitizers slow everything down: time bounds are scaled by this. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW 10
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW 10
#endif
#endif
#ifndef SLOW
#define SLOW 1
#endif

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int s_send_poll(tc_t *c, uint64_t id, const char *topic, uint64_t offset, uint32_t wait_ms)
{
    Seglog__V1__ConsumeRequest q = SEGLOG__V1__CONSUME_REQUEST__INIT;
    q.topic = (char *)topic;
    q.offset = offset;
    q.max_records = 100;
    q.max_wait_ms = wait_ms;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = id;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &q;
    return tc_send(c, &req);
}

/* Send a long poll and make sure it is parked (see the top). */
static void s_park(tc_t *c, uint64_t id, const char *topic, uint64_t offset, uint32_t wait_ms)
{
    assert_int_equal(s_send_poll(c, id, topic, offset, wait_ms), 0);
    Seglog__V1__OffsetsRequest o = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    o.topic = (char *)topic;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = id + 1000000;
    req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    req.offsets = &o;
    assert_int_equal(tc_send(c, &req), 0);
    Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
    assert_non_null(r);
    if (r->id != id + 1000000)
        fail_msg("the long poll %" PRIu64 " was answered before a later request (body %d): "
                 "not parked",
                 id, r->body_case);
    tc_free(&r);
}

static void s_expect_error(Seglog__V1__Response *r, int code, const char *needle)
{
    assert_non_null(r);
    if (tc_error_code(r) != code)
        fail_msg("expected ErrorCode %d, got %d", code, tc_error_code(r));
    if (needle && !strstr(r->error->message, needle))
        fail_msg("message \"%s\" does not say \"%s\"", r->error->message, needle);
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* N rounds: park at the end, produce from another connection, and time
 * the long poll's reply from the produce's acknowledgement (its reply; the
 * long poll's may even come first: 0) and from just before the produce
 * was sent. The median wake-up must be under 5 ms, and at most one (a
 * scheduling hiccup on a loaded machine) over 50 ms. */
static void s_wake_latency(seglog_sync_t sync)
{
    enum { N = 40 };
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = sync;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *w = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    tc_t *p = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(p, "lp", "first", 5);
    assert_int_equal(tc_error_code(r), 0);
    tc_free(&r);
    uint64_t lat[N], from_send[N];
    for (int i = 0; i < N; i++) {
        uint64_t offset = (uint64_t)i + 1;
        s_park(w, 10 + (uint64_t)i, "lp", offset, 10000);
        uint64_t t0 = s_now_us();
        r = tc_produce_bytes(p, "lp", "x", 1);
        uint64_t t_ack = s_now_us();
        assert_int_equal(tc_error_code(r), 0);
        assert_int_equal(r->produce->offset, offset);
        tc_free(&r);
        r = tc_recv(w, TC_TIMEOUT_MS);
        uint64_t t1 = s_now_us();
        lat[i] = t1 - t_ack;
        from_send[i] = t1 - t0;
        assert_non_null(r);
        assert_int_equal(r->id, 10 + i);
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
        assert_int_equal(r->consume->n_records, 1);
        assert_int_equal(r->consume->records[0]->offset, offset);
        assert_int_equal(r->consume->next_offset, offset + 1);
        tc_free(&r);
    }
    qsort(lat, N, sizeof lat[0], s_cmp_u64);
    qsort(from_send, N, sizeof from_send[0], s_cmp_u64);
    print_message("long poll wake-up (sync %d) after the ack: median %" PRIu64 " us, max %" PRIu64
                  " us; after the produce was sent: median %" PRIu64 " us, max %" PRIu64 " us\n",
                  (int)sync, lat[N / 2], lat[N - 1], from_send[N / 2], from_send[N - 1]);
    if (lat[N / 2] >= 5000 * SLOW)
        fail_msg("median wake-up %" PRIu64 " us: not within 5 ms of the produce", lat[N / 2]);
    if (lat[N - 2] >= 50000 * SLOW)
        fail_msg("two wake-ups over 50 ms: %" PRIu64 " and %" PRIu64 " us", lat[N - 2],
                 lat[N - 1]);
    tc_destroy(&w);
    tc_destroy(&p);
    ts_stop(&t, 1);
}

static void test_wakes_on_produce(void **state)
{
    (void)state;
    s_wake_latency(SEGLOG_SYNC_NONE);
}

static void test_wakes_on_produce_sync_always(void **state)
{
    (void)state;
    s_wake_latency(SEGLOG_SYNC_ALWAYS);
}

static void test_timeout_answers_empty(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(c, "lp", "a", 1);
    tc_free(&r);
    uint64_t t0 = s_now_us();
    s_park(c, 5, "lp", 1, 200);
    r = tc_recv(c, TC_TIMEOUT_MS);
    uint64_t took = s_now_us() - t0;
    assert_non_null(r);
    assert_int_equal(r->id, 5);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    assert_int_equal(r->consume->n_records, 0);
    assert_int_equal(r->consume->next_offset, 1);
    assert_int_equal(r->consume->end_offset, 1);
    tc_free(&r);
    if (took < 200000 || took > 2000000)
        fail_msg("a 200 ms long poll answered after %" PRIu64 " us", took);
    /* Not at the end: records at once, whatever max_wait_ms says. */
    t0 = s_now_us();
    assert_int_equal(s_send_poll(c, 6, "lp", 0, 60000), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->consume->n_records, 1);
    tc_free(&r);
    assert_true(s_now_us() - t0 < 1000000);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_bad_values(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(c, "lp", "a", 1);
    tc_free(&r);
    assert_int_equal(s_send_poll(c, 7, "lp", 1, 60001), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "max_wait_ms");
    assert_int_equal(r->id, 7);
    tc_free(&r);
    assert_int_equal(s_send_poll(c, 8, "lp", 1, UINT32_MAX), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "60000");
    tc_free(&r);
    /* Past the end is still an error, not a wait. */
    assert_int_equal(s_send_poll(c, 9, "lp", 5, 1000), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__OFFSET_OUT_OF_RANGE, NULL);
    tc_free(&r);
    /* An unknown topic too. */
    assert_int_equal(s_send_poll(c, 10, "nope", 0, 1000), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC, NULL);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_waiter_bound(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.max_waiters = 2;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *a = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    tc_t *b = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(a, "lp", "a", 1);
    tc_free(&r);
    s_park(a, 1, "lp", 1, 30000);
    s_park(b, 2, "lp", 1, 30000);
    assert_int_equal(s_send_poll(c, 3, "lp", 1, 30000), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "--max-waiters");
    assert_int_equal(r->id, 3);
    tc_free(&r);
    /* A produce answers both; then there is room again. */
    r = tc_produce_bytes(c, "lp", "b", 1);
    tc_free(&r);
    for (int i = 0; i < 2; i++) {
        r = tc_recv(i ? b : a, TC_TIMEOUT_MS);
        assert_non_null(r);
        assert_int_equal(r->consume->n_records, 1);
        tc_free(&r);
    }
    s_park(c, 4, "lp", 2, 100);
    r = tc_recv(c, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->id, 4);
    assert_int_equal(r->consume->n_records, 0);
    tc_free(&r);
    tc_destroy(&a);
    tc_destroy(&b);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_delete_answers_waiter(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *w = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(c, "lp", "a", 1);
    tc_free(&r);
    s_park(w, 1, "lp", 1, 60000);
    uint64_t t0 = s_now_us();
    Seglog__V1__DeleteTopicRequest d = SEGLOG__V1__DELETE_TOPIC_REQUEST__INIT;
    d.topic = "lp";
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 2;
    req.body_case = SEGLOG__V1__REQUEST__BODY_DELETE_TOPIC;
    req.delete_topic = &d;
    r = tc_call(c, &req);
    assert_int_equal(tc_error_code(r), 0);
    tc_free(&r);
    r = tc_recv(w, TC_TIMEOUT_MS);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC, "lp");
    assert_int_equal(r->id, 1);
    tc_free(&r);
    assert_true(s_now_us() - t0 < 5000000);
    tc_destroy(&w);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_shutdown_answers_waiter(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *w = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(w, "lp", "a", 1);
    tc_free(&r);
    s_park(w, 1, "lp", 1, 60000);
    uint64_t t0 = s_now_us();
    assert_int_equal(seglog_server_stop(t->srv), 0);
    uint64_t took = s_now_us() - t0;
    r = tc_recv(w, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->id, 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    assert_int_equal(r->consume->n_records, 0);
    tc_free(&r);
    if (took > 5000000)
        fail_msg("stopping with a long poll waiting took %" PRIu64 " us", took);
    tc_destroy(&w);
    ts_stop(&t, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wakes_on_produce),
        cmocka_unit_test(test_wakes_on_produce_sync_always),
        cmocka_unit_test(test_timeout_answers_empty),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_waiter_bound),
        cmocka_unit_test(test_delete_answers_waiter),
        cmocka_unit_test(test_shutdown_answers_waiter),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tc_ctx_term();
    return rc;
}
