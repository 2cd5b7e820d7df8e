/* test_input.c - hostile and malformed input. Every case gets a precise
 * Error (or, where the transport refuses, a dropped connection), and after
 * each one the server still answers. */
#include "tclient.h"
#include "testutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <cmocka.h>

#define MAX_RECORD 4096

static ts_t *s_srv;

static int s_setup(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.max_record_bytes = MAX_RECORD;
    cfg.segment_bytes = 3 * MAX_RECORD;
    s_srv = ts_start(&cfg);
    if (!s_srv)
        return -1;
    /* A known topic for the liveness checks. */
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(c, "alive", "x", 1);
    int ok = r && r->body_case == SEGLOG__V1__RESPONSE__BODY_PRODUCE;
    tc_free(&r);
    tc_destroy(&c);
    return ok ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    ts_stop(&s_srv, 1);
    tc_ctx_term();
    return 0;
}

/* The server still answers, on a fresh connection and on c. */
static void s_assert_alive(tc_t *c)
{
    tc_t *fresh = tc_new(seglog_server_endpoint(s_srv->srv), TC_REQ);
    tc_t *both[2] = {fresh, c};
    for (int i = 0; i < 2; i++) {
        if (!both[i])
            continue;
        Seglog__V1__Response *r = tc_offsets(both[i], "alive");
        assert_non_null(r);
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
        assert_true(r->offsets->next_offset >= 1);
        tc_free(&r);
    }
    tc_destroy(&fresh);
}

static void s_expect(Seglog__V1__Response *r, int code, const char *needle)
{
    assert_non_null(r);
    if (tc_error_code(r) != code)
        fail_msg("expected ErrorCode %d, got %d", code, tc_error_code(r));
    if (needle && !strstr(r->error->message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", r->error->message, needle);
}

static void test_garbage_bytes(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(tc_send_raw(c, junk, sizeof junk), 0);
    Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "undecodable");
    assert_int_equal(r->id, 0);
    tc_free(&r);
    s_assert_alive(c);
    tc_destroy(&c);
}

static void test_empty_frame(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    assert_int_equal(tc_send_raw(c, "", 0), 0);
    Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "no body");
    tc_free(&r);
    /* REQ-style: delimiter then an empty request frame. */
    tc_t *d = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER_DELIM);
    assert_int_equal(tc_send_raw(d, "", 0), 0);
    r = tc_recv(d, TC_TIMEOUT_MS);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "no body");
    tc_free(&r);
    s_assert_alive(c);
    tc_destroy(&c);
    tc_destroy(&d);
}

static void test_missing_body(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_REQ);
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 4242;
    Seglog__V1__Response *r = tc_call(c, &req);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "no body");
    assert_int_equal(r->id, 4242);
    tc_free(&r);
    /* A produce with no records is a bad field value. */
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = "alive";
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    r = tc_call(c, &req);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "no records");
    tc_free(&r);
    s_assert_alive(c);
    tc_destroy(&c);
}

/* 1000 frames: refused with BAD_REQUEST, by the front end; a REQ-style
 * delimiter is kept so the reply reaches a REQ-like client. */
static void test_thousand_frames(void **state)
{
    (void)state;
    for (int delim = 0; delim < 2; delim++) {
        tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), delim ? TC_DEALER_DELIM : TC_DEALER);
        void *s = tc_socket(c);
        if (delim)
            assert_true(zmq_send(s, "", 0, ZMQ_SNDMORE) >= 0);
        for (int i = 0; i < 1000; i++)
            assert_true(zmq_send(s, "frame", 5, i < 999 ? ZMQ_SNDMORE : 0) >= 0);
        Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
        s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "frames");
        tc_free(&r);
        s_assert_alive(c);
        tc_destroy(&c);
    }
    /* Many envelope frames within the limit are echoed back intact. */
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    void *s = tc_socket(c);
    for (int i = 0; i < 5; i++)
        assert_true(zmq_send(s, "env", 3, ZMQ_SNDMORE) >= 0);
    Seglog__V1__OffsetsRequest q = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    q.topic = "alive";
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 5;
    req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    req.offsets = &q;
    size_t len;
    uint8_t *buf = tc_pack(&req, &len);
    assert_true(zmq_send(s, buf, len, 0) >= 0);
    free(buf);
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&it, 1, TC_TIMEOUT_MS), 1);
    int frames = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, s, 0) >= 0);
        more = zmq_msg_more(&m);
        if (more)
            assert_memory_equal(zmq_msg_data(&m), "env", 3);
        frames++;
        zmq_msg_close(&m);
    }
    assert_int_equal(frames, 6);
    tc_destroy(&c);
}

static void test_invalid_topics(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    char too_long[130];
    memset(too_long, 't', 129);
    too_long[129] = 0;
    const char *bad[] = {".",      "..",         too_long,   "a/b",   "../etc",
                         "sp ace", "semi;colon", "\xc3\xa4", "tab\t", "new\nline"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Seglog__V1__Response *r = tc_produce_bytes(c, bad[i], "v", 1);
        s_expect(r, SEGLOG__V1__ERROR_CODE__INVALID_TOPIC, "invalid topic");
        tc_free(&r);
        r = tc_consume(c, bad[i], 0, 1, 0);
        s_expect(r, SEGLOG__V1__ERROR_CODE__INVALID_TOPIC, NULL);
        tc_free(&r);
    }
    /* Nothing was created for them. */
    char *p = tu_path(s_srv->dir, "sp ace");
    assert_false(tu_exists(p));
    free(p);
    /* A topic hiding a NUL byte (raw bytes: protobuf-c strings cannot). */
    const uint8_t nul[] = {0x08, 0x01, 0x22, 0x07, 0x0a, 0x05, 'a', 'l', 0x00, 'v', 'e'};
    assert_int_equal(tc_send_raw(c, nul, sizeof nul), 0);
    Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "NUL");
    tc_free(&r);
    /* 128 characters is fine. */
    too_long[128] = 0;
    r = tc_produce_bytes(c, too_long, "v", 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    s_assert_alive(c);
    tc_destroy(&c);
}

static void test_record_too_large(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    char *big = calloc(1, MAX_RECORD + 1);
    Seglog__V1__Response *r = tc_produce_bytes(c, "big", big, MAX_RECORD + 1);
    s_expect(r, SEGLOG__V1__ERROR_CODE__RECORD_TOO_LARGE, "limit is 4096");
    tc_free(&r);
    /* The refused produce appended nothing, so it created no topic. */
    r = tc_offsets(c, "big");
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    /* Exactly the limit is accepted. */
    r = tc_produce_bytes(c, "big", big, MAX_RECORD);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    /* A batch that fits no segment (segments hold 3 records). */
    const char *v4[4];
    memset(big, 'b', MAX_RECORD);
    for (int i = 0; i < 4; i++)
        v4[i] = big;
    r = tc_produce(c, "big", 4, v4);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BATCH_TOO_LARGE, "segment");
    tc_free(&r);
    free(big);
    s_assert_alive(c);
    tc_destroy(&c);
}

/* A request frame over max_message_bytes is refused with BAD_REQUEST
 * (its id echoed, the limit in the message); one over
 * drop_message_bytes (ZMQ_MAXMSGSIZE) makes libzmq drop that connection,
 * without a reply; everyone else is served. */
static void test_over_max_message_bytes(void **state)
{
    (void)state;
    uint64_t limit = seglog_server_max_message_bytes(&s_srv->cfg);
    tc_t *victim = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    tc_t *other = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_offsets(victim, "alive"); /* connected */
    assert_non_null(r);
    tc_free(&r);

    size_t n = (size_t)limit;
    uint8_t *big = calloc(1, n);
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = big;
    rec.value.len = n; /* the frame is a few bytes over the limit */
    Seglog__V1__Record *ptr = &rec;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = "over";
    p.n_records = 1;
    p.records = &ptr;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 77;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    assert_int_equal(tc_send(victim, &req), 0);
    free(big);
    r = tc_recv(victim, TC_TIMEOUT_MS);
    char want[64];
    snprintf(want, sizeof want, "max_message_bytes (%llu)", (unsigned long long)limit);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, want);
    assert_int_equal(r->id, 77);
    tc_free(&r);
    s_assert_alive(victim);

    uint64_t drop = seglog_server_drop_message_bytes(&s_srv->cfg);
    assert_int_equal(drop, limit + (64u << 20));
    n = (size_t)drop + 1000;
    uint8_t *huge = malloc(n);
    memset(huge, 0x0a, n);
    assert_int_equal(tc_send_raw(victim, huge, n), 0);
    free(huge);
    /* No reply to it... */
    assert_null(tc_recv(victim, 500));
    /* ...and the server serves others. */
    s_assert_alive(other);
    tc_destroy(&victim);
    tc_destroy(&other);
}

static void test_future_body_and_bad_values(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    /* Request{id=9, field 40 = {}}: a body this server does not know. */
    const uint8_t future[] = {0x08, 0x09, 0xc2, 0x02, 0x00};
    assert_int_equal(tc_send_raw(c, future, sizeof future), 0);
    Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "no body");
    assert_int_equal(r->id, 9);
    tc_free(&r);
    /* A wrong wire type for a known field. */
    const uint8_t wrong[] = {0x08, 0x01, 0x23};
    assert_int_equal(tc_send_raw(c, wrong, sizeof wrong), 0);
    r = tc_recv(c, TC_TIMEOUT_MS);
    s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, NULL);
    tc_free(&r);
    seglog_server_stats_t st;
    seglog_server_stats(s_srv->srv, &st);
    assert_true(st.bad_requests >= 2);
    s_assert_alive(c);
    tc_destroy(&c);
}

/* Many bad requests in a row, pipelined: each gets its answer, in order. */
static void test_garbage_flood(void **state)
{
    (void)state;
    tc_t *c = tc_new(seglog_server_endpoint(s_srv->srv), TC_DEALER);
    for (int i = 0; i < 500; i++) {
        uint8_t junk[16];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)(i * 31 + k * 7) | 0x80;
        assert_int_equal(tc_send_raw(c, junk, (size_t)(i % 16)), 0);
    }
    for (int i = 0; i < 500; i++) {
        Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
        s_expect(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, NULL);
        tc_free(&r);
    }
    s_assert_alive(c);
    tc_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_bytes),   cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_missing_body),    cmocka_unit_test(test_thousand_frames),
        cmocka_unit_test(test_invalid_topics),  cmocka_unit_test(test_record_too_large),
        cmocka_unit_test(test_over_max_message_bytes), cmocka_unit_test(test_future_body_and_bad_values),
        cmocka_unit_test(test_garbage_flood),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
