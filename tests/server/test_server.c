/* test_server.c - the server in-process, request/reply over real ZeroMQ
 * sockets on tcp://127.0.0.1:*: produce, consume, ranges, offsets,
 * truncate, pipelining, concurrency, socket types, restart. */
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
#include <zmq.h>
#include <cmocka.h>

static ts_t *s_start_default(void)
{
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    return t;
}

static void s_expect_error(Seglog__V1__Response *r, int code)
{
    assert_non_null(r);
    if (tc_error_code(r) != code)
        fail_msg("expected ErrorCode %d, got %d (%s)", code, tc_error_code(r),
                 r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR ? r->error->message : "no error");
}

static void test_produce_then_consume(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);

    /* Client-set key and timestamp are kept; an offset it sends is ignored. */
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = (uint8_t *)"hello";
    rec.value.len = 5;
    rec.key.data = (uint8_t *)"k1";
    rec.key.len = 2;
    rec.timestamp_ms = 1234;
    rec.offset = 999;
    Seglog__V1__Record *ptr = &rec;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = "orders";
    p.n_records = 1;
    p.records = &ptr;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 77;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    Seglog__V1__Response *r = tc_call(c, &req);
    assert_non_null(r);
    assert_int_equal(r->id, 77);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    assert_int_equal(r->produce->offset, 0);
    assert_int_equal(r->produce->count, 1);
    tc_free(&r);

    /* No timestamp: the server stamps one. */
    uint64_t before = (uint64_t)time(NULL) * 1000;
    r = tc_produce_bytes(c, "orders", "world", 5);
    assert_int_equal(r->produce->offset, 1);
    tc_free(&r);

    r = tc_consume(c, "orders", 0, 10, 0);
    assert_non_null(r);
    assert_int_equal(r->id, 3);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    Seglog__V1__ConsumeResponse *cr = r->consume;
    assert_int_equal(cr->n_records, 2);
    assert_int_equal(cr->records[0]->offset, 0);
    assert_memory_equal(cr->records[0]->value.data, "hello", 5);
    assert_memory_equal(cr->records[0]->key.data, "k1", 2);
    assert_int_equal(cr->records[0]->timestamp_ms, 1234);
    assert_int_equal(cr->records[1]->offset, 1);
    assert_memory_equal(cr->records[1]->value.data, "world", 5);
    assert_int_equal(cr->records[1]->key.len, 0);
    assert_true(cr->records[1]->timestamp_ms >= before - 1000);
    assert_true(cr->records[1]->timestamp_ms <= (uint64_t)time(NULL) * 1000 + 1000);
    assert_int_equal(cr->next_offset, 2);
    assert_int_equal(cr->lowest_offset, 0);
    assert_int_equal(cr->end_offset, 2);
    tc_free(&r);

    r = tc_offsets(c, "orders");
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
    assert_int_equal(r->offsets->lowest_offset, 0);
    assert_int_equal(r->offsets->next_offset, 2);
    assert_int_equal(r->offsets->committed_offset, 2); /* sync none: committed at the write */
    assert_true(r->offsets->epoch != 0);
    tc_free(&r);

    /* The empty topic name means "default". */
    r = tc_produce_bytes(c, "", "d", 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    r = tc_consume(c, "default", 0, 1, 0);
    assert_int_equal(r->consume->n_records, 1);
    assert_memory_equal(r->consume->records[0]->value.data, "d", 1);
    tc_free(&r);

    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_batch_produce(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(c, "b", "first", 5);
    tc_free(&r);
    char bufs[100][16];
    const char *vals[100];
    for (int i = 0; i < 100; i++) {
        snprintf(bufs[i], sizeof bufs[i], "rec-%d", i);
        vals[i] = bufs[i];
    }
    r = tc_produce(c, "b", 100, vals);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    assert_int_equal(r->produce->offset, 1);
    assert_int_equal(r->produce->count, 100);
    tc_free(&r);
    r = tc_consume(c, "b", 1, 1000, 0);
    assert_int_equal(r->consume->n_records, 100);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(r->consume->records[i]->offset, 1 + i);
        assert_int_equal(r->consume->records[i]->value.len, strlen(vals[i]));
        assert_memory_equal(r->consume->records[i]->value.data, vals[i], strlen(vals[i]));
    }
    assert_int_equal(r->consume->next_offset, 101);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_range_consume(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    char v[100];
    for (int i = 0; i < 50; i++) {
        memset(v, 'a' + i % 26, sizeof v);
        Seglog__V1__Response *r = tc_produce_bytes(c, "range", v, sizeof v);
        assert_int_equal(r->produce->offset, i);
        tc_free(&r);
    }
    /* By count. */
    Seglog__V1__Response *r = tc_consume(c, "range", 5, 10, 0);
    assert_int_equal(r->consume->n_records, 10);
    assert_int_equal(r->consume->records[0]->offset, 5);
    assert_int_equal(r->consume->records[9]->offset, 14);
    assert_int_equal(r->consume->next_offset, 15);
    tc_free(&r);
    /* max_records 0 means 1. */
    r = tc_consume(c, "range", 7, 0, 0);
    assert_int_equal(r->consume->n_records, 1);
    assert_int_equal(r->consume->next_offset, 8);
    tc_free(&r);
    /* By bytes: each stored record is 100 B of value plus ~10 B of framing
     * and timestamp; 350 bytes hold 3 of them. */
    r = tc_consume(c, "range", 0, 1000, 350);
    assert_int_equal(r->consume->n_records, 3);
    assert_int_equal(r->consume->next_offset, 3);
    tc_free(&r);
    /* The first record always comes, even over max_bytes. */
    r = tc_consume(c, "range", 20, 1000, 1);
    assert_int_equal(r->consume->n_records, 1);
    assert_int_equal(r->consume->records[0]->offset, 20);
    tc_free(&r);
    /* Up to the end. */
    r = tc_consume(c, "range", 45, 1000, 0);
    assert_int_equal(r->consume->n_records, 5);
    assert_int_equal(r->consume->next_offset, 50);
    assert_int_equal(r->consume->end_offset, 50);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_past_end_and_truncated(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.segment_bytes = 4096;
    cfg.max_record_bytes = 1024;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    char v[200];
    memset(v, 'x', sizeof v);
    for (int i = 0; i < 100; i++) { /* ~20 KB: several 4 KiB segments */
        Seglog__V1__Response *r = tc_produce_bytes(c, "tr", v, sizeof v);
        assert_int_equal(r->produce->offset, i);
        tc_free(&r);
    }
    /* At the end: empty, not an error. */
    Seglog__V1__Response *r = tc_consume(c, "tr", 100, 10, 0);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    assert_int_equal(r->consume->n_records, 0);
    assert_int_equal(r->consume->next_offset, 100);
    tc_free(&r);
    /* Past the end. */
    r = tc_consume(c, "tr", 101, 10, 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__OFFSET_OUT_OF_RANGE);
    tc_free(&r);
    /* Truncate drops whole segments below 60. */
    r = tc_truncate(c, "tr", 60);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_TRUNCATE);
    uint64_t lowest = r->truncate->lowest_offset;
    assert_true(lowest > 0 && lowest <= 60);
    tc_free(&r);
    r = tc_offsets(c, "tr");
    assert_int_equal(r->offsets->lowest_offset, lowest);
    assert_int_equal(r->offsets->next_offset, 100);
    tc_free(&r);
    r = tc_consume(c, "tr", 0, 10, 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__OFFSET_TRUNCATED);
    tc_free(&r);
    r = tc_consume(c, "tr", lowest - 1, 10, 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__OFFSET_TRUNCATED);
    tc_free(&r);
    r = tc_consume(c, "tr", lowest, 1, 0);
    assert_int_equal(r->consume->n_records, 1);
    assert_int_equal(r->consume->records[0]->offset, lowest);
    assert_int_equal(r->consume->lowest_offset, lowest);
    tc_free(&r);
    /* Truncating past the next offset is refused. */
    r = tc_truncate(c, "tr", 101);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__OFFSET_OUT_OF_RANGE);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_unknown_topic(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = tc_consume(c, "missing", 0, 1, 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    assert_int_equal(r->id, 3);
    tc_free(&r);
    r = tc_offsets(c, "missing");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    r = tc_truncate(c, "missing", 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    /* Reads do not create it. */
    char *dir = tu_path(t->dir, "missing");
    assert_false(tu_exists(dir));
    free(dir);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* REQ, DEALER with the empty delimiter, DEALER without: all work. */
static void test_socket_types(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    const tc_mode_t modes[] = {TC_REQ, TC_DEALER_DELIM, TC_DEALER};
    for (int m = 0; m < 3; m++) {
        tc_t *c = tc_new(seglog_server_endpoint(t->srv), modes[m]);
        char v[32];
        snprintf(v, sizeof v, "mode-%d", m);
        Seglog__V1__Response *r = tc_produce_bytes(c, "modes", v, strlen(v));
        assert_non_null(r);
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
        assert_int_equal(r->produce->offset, m);
        tc_free(&r);
        r = tc_consume(c, "modes", (uint64_t)m, 1, 0);
        assert_non_null(r);
        assert_int_equal(r->consume->n_records, 1);
        assert_memory_equal(r->consume->records[0]->value.data, v, strlen(v));
        tc_free(&r);
        tc_destroy(&c);
    }
    ts_stop(&t, 1);
}

typedef enum { RQ_PRODUCE, RQ_CONSUME, RQ_OFFSETS } rq_kind_t;

/* Send one request with id on c: a produce of the record "<prefix>-<k>",
 * a consume of 1 record at offset k, or an offsets, all on topic. 0 or -1
 * (no cmocka assert: producer threads call it). */
static int s_send_rq(tc_t *c, uint64_t id, rq_kind_t kind, const char *topic, const char *prefix,
                     int k)
{
    char v[48];
    snprintf(v, sizeof v, "%s-%d", prefix, k);
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = (uint8_t *)v;
    rec.value.len = strlen(v);
    Seglog__V1__Record *ptr = &rec;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
    Seglog__V1__OffsetsRequest o = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = id;
    if (kind == RQ_PRODUCE) {
        p.topic = (char *)topic;
        p.n_records = 1;
        p.records = &ptr;
        req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
        req.produce = &p;
    } else if (kind == RQ_CONSUME) {
        cr.topic = (char *)topic;
        cr.offset = (uint64_t)k;
        cr.max_records = 1;
        req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
        req.consume = &cr;
    } else {
        o.topic = (char *)topic;
        req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
        req.offsets = &o;
    }
    return tc_send(c, &req);
}

/* Produce n single-record requests through one DEALER, keeping up to
 * window in flight; offsets[i] gets the offset of request i. Replies must
 * arrive in send order. Returns 0 or -1. */
static int s_pipeline(tc_t *c, const char *topic, int client, int n, int window, uint64_t *offsets)
{
    void *sock = tc_socket(c);
    int sent = 0, got = 0;
    uint64_t deadline = tc_now_ms() + 120000;
    while (got < n) {
        if (tc_now_ms() > deadline)
            return -1;
        zmq_pollitem_t it = {.socket = sock,
                             .events =
                                 ZMQ_POLLIN | (sent < n && sent - got < window ? ZMQ_POLLOUT : 0)};
        if (zmq_poll(&it, 1, 10000) <= 0)
            return -1;
        if ((it.revents & ZMQ_POLLOUT) && sent < n && sent - got < window) {
            char prefix[16];
            snprintf(prefix, sizeof prefix, "c%d", client);
            if (s_send_rq(c, (uint64_t)sent + 1, RQ_PRODUCE, topic, prefix, sent))
                return -1;
            sent++;
        }
        if (it.revents & ZMQ_POLLIN) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, 0) < 0)
                return -1;
            Seglog__V1__Response *r =
                seglog__v1__response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            zmq_msg_close(&m);
            if (!r || r->body_case != SEGLOG__V1__RESPONSE__BODY_PRODUCE ||
                r->id != (uint64_t)got + 1) {
                fprintf(stderr, "client %d: reply %d out of order or failed (id %" PRIu64 ")\n",
                        client, got, r ? r->id : 0);
                tc_free(&r);
                return -1;
            }
            offsets[got++] = r->produce->offset;
            tc_free(&r);
        }
    }
    return 0;
}

static void test_pipelined_10000(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const int n = 10000;
    uint64_t *offsets = calloc(n, sizeof *offsets);
    assert_int_equal(s_pipeline(c, "pipe", 0, n, 1000, offsets), 0);
    /* Appended in send order: offsets are 0..n-1 in order. */
    for (int i = 0; i < n; i++)
        assert_int_equal(offsets[i], i);
    /* And each holds the value sent as request i. */
    for (int off = 0; off < n;) {
        Seglog__V1__Response *r = tc_consume(c, "pipe", (uint64_t)off, 1000, 0);
        assert_non_null(r);
        assert_true(r->consume->n_records > 0);
        for (size_t k = 0; k < r->consume->n_records; k++, off++) {
            char v[32];
            snprintf(v, sizeof v, "c0-%d", off);
            assert_int_equal(r->consume->records[k]->value.len, strlen(v));
            assert_memory_equal(r->consume->records[k]->value.data, v, strlen(v));
        }
        tc_free(&r);
    }
    free(offsets);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* The documented window: exactly 1000 requests in flight on one
 * connection, all sent before any reply is read, are all answered, in
 * order, and none is dropped. */
static void test_exactly_1000_in_flight(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    enum { N = 1000 };
    for (int i = 0; i < N; i++)
        assert_int_equal(s_send_rq(c, (uint64_t)i + 1, i % 2 ? RQ_OFFSETS : RQ_PRODUCE, "win",
                                   "w", i / 2),
                         0);
    for (int i = 0; i < N; i++) {
        Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
        assert_non_null(r);
        assert_int_equal(r->id, (uint64_t)i + 1);
        if (i % 2 == 0)
            assert_int_equal(r->produce->offset, i / 2);
        else
            assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
        tc_free(&r);
    }
    seglog_server_stats_t st;
    seglog_server_stats(t->srv, &st);
    assert_int_equal(st.replies_dropped, 0);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* One connection pipelines produces, consumes of the record it just
 * produced, offsets and bad requests, up to 300 in flight. The server
 * serves produces on its front end and the rest on a worker: replies must
 * still come back in request order. A consume runs after the produce sent
 * before it, but sees its record only once it passed its acknowledgement
 * point (the visible end): before that, the consume gets nothing at the
 * visible end, or OFFSET_OUT_OF_RANGE past it; never another record. */
static void s_mixed_pipeline_order(seglog_sync_t sync, seglog_produce_on_t on)
{
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = sync;
    cfg.produce_on = on;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    void *sock = tc_socket(c);
    enum { N = 6000, WINDOW = 300 };
    int sent = 0, got = 0;
    uint64_t deadline = tc_now_ms() + 120000;
    while (got < N) {
        assert_true(tc_now_ms() < deadline);
        zmq_pollitem_t it = {.socket = sock,
                             .events =
                                 ZMQ_POLLIN | (sent < N && sent - got < WINDOW ? ZMQ_POLLOUT : 0)};
        assert_true(zmq_poll(&it, 1, 10000) > 0);
        if ((it.revents & ZMQ_POLLOUT) && sent < N && sent - got < WINDOW) {
            /* Request i: kind i % 4; the produce of round k = i / 4 gets offset k;
             * kind 3 is a produce to an invalid topic: an error, in its place. */
            int k = sent / 4;
            const rq_kind_t kinds[4] = {RQ_PRODUCE, RQ_CONSUME, RQ_OFFSETS, RQ_PRODUCE};
            assert_int_equal(s_send_rq(c, (uint64_t)sent + 1, kinds[sent % 4],
                                       sent % 4 == 3 ? "no/slash" : "mixed", "m", k),
                             0);
            sent++;
        }
        if (it.revents & ZMQ_POLLIN) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&m, sock, 0) >= 0);
            Seglog__V1__Response *r =
                seglog__v1__response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            zmq_msg_close(&m);
            assert_non_null(r);
            assert_int_equal(r->id, (uint64_t)got + 1); /* in request order */
            int k = got / 4;
            switch (got % 4) {
            case 0:
                assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
                assert_int_equal(r->produce->offset, k);
                break;
            case 1: {
                if (tc_error_code(r) == SEGLOG__V1__ERROR_CODE__OFFSET_OUT_OF_RANGE)
                    break; /* the visible end is still below k */
                assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
                assert_true(r->consume->end_offset >= (uint64_t)k);
                if (r->consume->n_records == 0) {
                    assert_int_equal(r->consume->end_offset, k);
                    break; /* produced, not yet acknowledged */
                }
                assert_int_equal(r->consume->n_records, 1);
                char v[32];
                snprintf(v, sizeof v, "m-%d", k);
                assert_int_equal(r->consume->records[0]->value.len, strlen(v));
                assert_memory_equal(r->consume->records[0]->value.data, v, strlen(v));
                break;
            }
            case 2: /* the visible end: never past the produces sent */
                assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
                assert_true(r->offsets->next_offset <= (uint64_t)k + 1);
                break;
            default:
                assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__INVALID_TOPIC);
                break;
            }
            tc_free(&r);
            got++;
        }
    }
    tc_destroy(&c);
    seglog_server_stats_t st;
    seglog_server_stats(t->srv, &st);
    if (on == SEGLOG_PRODUCE_WORKERS)
        assert_int_equal(st.frontend_produces, 0);
    else
        assert_true(st.frontend_produces > 0); /* whenever the worker was idle */
    ts_stop(&t, 1);
}

static void test_mixed_pipeline_order(void **state)
{
    (void)state;
    s_mixed_pipeline_order(SEGLOG_SYNC_NONE, SEGLOG_PRODUCE_FRONTEND);
}

/* The same with every produce served by the connection's worker. */
static void test_mixed_pipeline_order_workers(void **state)
{
    (void)state;
    s_mixed_pipeline_order(SEGLOG_SYNC_NONE, SEGLOG_PRODUCE_WORKERS);
    s_mixed_pipeline_order(SEGLOG_SYNC_ALWAYS, SEGLOG_PRODUCE_WORKERS);
}

/* Under always, bursts of [produce, consume of it, offsets] from one
 * connection with nothing else in flight: the produce is served by the
 * front end and waits for the committer's fdatasync, the other two go to a
 * worker and are ready long before. Their replies must still wait. */
static void test_parked_reply_keeps_order(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_ALWAYS;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    for (int k = 0; k < 200; k++) {
        assert_int_equal(s_send_rq(c, 1, RQ_PRODUCE, "burst", "b", k), 0);
        assert_int_equal(s_send_rq(c, 2, RQ_CONSUME, "burst", "b", k), 0);
        assert_int_equal(s_send_rq(c, 3, RQ_OFFSETS, "burst", "b", k), 0);
        for (uint64_t id = 1; id <= 3; id++) {
            Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
            assert_non_null(r);
            assert_int_equal(r->id, id);
            if (id == 1)
                assert_int_equal(r->produce->offset, k);
            else if (id == 2) /* ran after the append, maybe before its fdatasync:
                                 the record only once it is synced */
                assert_true(r->consume->n_records == 1 ||
                            (r->consume->n_records == 0 && r->consume->end_offset == (uint64_t)k));
            else /* the visible end: k (not synced yet) or k + 1 */
                assert_true(r->offsets->next_offset == (uint64_t)k ||
                            r->offsets->next_offset == (uint64_t)k + 1);
            tc_free(&r);
        }
    }
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* Under always the front end's produce replies wait for the committer's
 * fdatasync while other replies are ready: the order must hold too. */
static void test_mixed_pipeline_order_always(void **state)
{
    (void)state;
    s_mixed_pipeline_order(SEGLOG_SYNC_ALWAYS, SEGLOG_PRODUCE_FRONTEND);
}

typedef struct {
    const char *endpoint;
    int id, n;
    uint64_t *offsets;
    int rc;
    const char *topic; /* NULL: "conc" */
} producer_arg_t;

static void *s_producer(void *arg)
{
    producer_arg_t *a = arg;
    tc_t *c = tc_new(a->endpoint, TC_DEALER); /* each thread owns its socket */
    a->rc = c ? s_pipeline(c, a->topic ? a->topic : "conc", a->id, a->n, 500, a->offsets) : -1;
    tc_destroy(&c);
    return NULL;
}

static int s_cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void test_concurrent_8x5000(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    enum { CLIENTS = 8, PER = 5000 };
    pthread_t th[CLIENTS];
    producer_arg_t args[CLIENTS];
    uint64_t *all = calloc(CLIENTS * PER, sizeof *all);
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (producer_arg_t){seglog_server_endpoint(t->srv), i, PER, all + i * PER, -1, NULL};
        assert_int_equal(pthread_create(&th[i], NULL, s_producer, &args[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, 0);
        /* Each client's offsets grow in its send order. */
        for (int k = 1; k < PER; k++)
            assert_true(args[i].offsets[k] > args[i].offsets[k - 1]);
    }
    /* Every acked offset holds the value that client sent. */
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    for (int i = 0; i < CLIENTS; i += 3) {
        for (int k = 0; k < PER; k += 97) {
            Seglog__V1__Response *r = tc_consume(c, "conc", args[i].offsets[k], 1, 0);
            char v[32];
            snprintf(v, sizeof v, "c%d-%d", i, k);
            assert_int_equal(r->consume->n_records, 1);
            assert_memory_equal(r->consume->records[0]->value.data, v, strlen(v));
            tc_free(&r);
        }
    }
    tc_destroy(&c);
    /* Distinct and dense: 0..39999. */
    qsort(all, CLIENTS * PER, sizeof *all, s_cmp_u64);
    for (int i = 0; i < CLIENTS * PER; i++)
        assert_int_equal(all[i], i);
    free(all);
    ts_stop(&t, 1);
}

/* --produce-on workers: 8 pipelining clients over 4 topics on 2 workers.
 * Every produce is served by a worker (none by the front end), each
 * client's offsets grow in its send order, and each topic's offsets are
 * dense and distinct, whichever workers appended to it. */
static void test_concurrent_topics_workers(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.produce_on = SEGLOG_PRODUCE_WORKERS;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    enum { CLIENTS = 8, TOPICS = 4, PER = 3000 };
    static const char *const topics[TOPICS] = {"w0", "w1", "w2", "w3"};
    pthread_t th[CLIENTS];
    producer_arg_t args[CLIENTS];
    uint64_t *all = calloc(CLIENTS * PER, sizeof *all);
    assert_non_null(all);
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (producer_arg_t){seglog_server_endpoint(t->srv), i, PER, all + i * PER, -1,
                                   topics[i % TOPICS]};
        assert_int_equal(pthread_create(&th[i], NULL, s_producer, &args[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, 0);
        for (int k = 1; k < PER; k++)
            assert_true(args[i].offsets[k] > args[i].offsets[k - 1]);
    }
    for (int tp = 0; tp < TOPICS; tp++) { /* clients tp and tp + 4 share topic tp */
        uint64_t *o = calloc(2 * PER, sizeof *o);
        assert_non_null(o);
        memcpy(o, args[tp].offsets, PER * sizeof *o);
        memcpy(o + PER, args[tp + TOPICS].offsets, PER * sizeof *o);
        qsort(o, 2 * PER, sizeof *o, s_cmp_u64);
        for (int i = 0; i < 2 * PER; i++)
            assert_int_equal(o[i], i);
        free(o);
    }
    free(all);
    seglog_server_stats_t st;
    seglog_server_stats(t->srv, &st);
    assert_int_equal(st.frontend_produces, 0);
    ts_stop(&t, 1);
}

static void test_restart_keeps_records(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_INTERVAL; /* the default policy: close must sync */
    cfg.sync_interval_ms = 60000;
    cfg.segment_bytes = 2048;
    cfg.max_record_bytes = 1024;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *topics[] = {"alpha", "beta"};
    for (int i = 0; i < 300; i++) {
        char v[32];
        snprintf(v, sizeof v, "value-%d", i);
        Seglog__V1__Response *r = tc_produce_bytes(c, topics[i % 2], v, strlen(v));
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
        assert_int_equal(r->produce->offset, i / 2);
        tc_free(&r);
    }
    tc_destroy(&c);
    assert_int_equal(seglog_server_stop(t->srv), 0);
    assert_int_equal(ts_restart(t), 0);

    for (int k = 0; k < 2; k++) {
        seglog_recovery_t rec;
        assert_int_equal(seglog_server_topic_recovery(t->srv, topics[k], &rec), 0);
        assert_int_equal(rec.clean, 1);
        assert_true(rec.segments > 1);
    }
    c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    for (int k = 0; k < 2; k++) {
        Seglog__V1__Response *r = tc_consume(c, topics[k], 0, 1000, 0);
        assert_int_equal(r->consume->n_records, 150);
        for (int j = 0; j < 150; j++) {
            char v[32];
            snprintf(v, sizeof v, "value-%d", j * 2 + k);
            assert_int_equal(r->consume->records[j]->value.len, strlen(v));
            assert_memory_equal(r->consume->records[j]->value.data, v, strlen(v));
        }
        tc_free(&r);
    }
    /* Appends continue after the recovered records. */
    Seglog__V1__Response *r = tc_produce_bytes(c, "alpha", "more", 4);
    assert_int_equal(r->produce->offset, 150);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* --max-topics bounds the directories (and descriptors) clients can make
 * the server create. */
static void test_topic_limit(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.max_topics = 2;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *names[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        Seglog__V1__Response *r = tc_produce_bytes(c, names[i], "v", 1);
        if (i < 2)
            assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
        else
            s_expect_error(r, SEGLOG__V1__ERROR_CODE__RESOURCE_EXHAUSTED);
        tc_free(&r);
    }
    /* Existing topics still take appends. */
    Seglog__V1__Response *r = tc_produce_bytes(c, "one", "w", 1);
    assert_int_equal(r->produce->offset, 1);
    tc_free(&r);
    tc_destroy(&c);
    /* A data directory with more topics than the limit is refused at start. */
    seglog_server_destroy(&t->srv);
    t->cfg.max_topics = 1;
    assert_int_equal(seglog_server_new(&t->cfg, &t->srv), SEGLOG_SERVER_E_TOO_MANY_TOPICS);
    ts_stop(&t, 1);
}

/* A second server on the same data directory is refused. */
static void test_data_dir_locked(void **state)
{
    (void)state;
    ts_t *t = s_start_default();
    seglog_server_config_t cfg = t->cfg;
    seglog_server_t *other = NULL;
    assert_int_equal(seglog_server_new(&cfg, &other), SEGLOG_E_LOCKED);
    assert_null(other);
    ts_stop(&t, 1);
}

static int s_teardown(void **state)
{
    (void)state;
    tc_ctx_term();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_then_consume),
        cmocka_unit_test(test_batch_produce),
        cmocka_unit_test(test_range_consume),
        cmocka_unit_test(test_past_end_and_truncated),
        cmocka_unit_test(test_unknown_topic),
        cmocka_unit_test(test_socket_types),
        cmocka_unit_test(test_pipelined_10000),
        cmocka_unit_test(test_exactly_1000_in_flight),
        cmocka_unit_test(test_mixed_pipeline_order),
        cmocka_unit_test(test_mixed_pipeline_order_always),
        cmocka_unit_test(test_mixed_pipeline_order_workers),
        cmocka_unit_test(test_concurrent_topics_workers),
        cmocka_unit_test(test_parked_reply_keeps_order),
        cmocka_unit_test(test_concurrent_8x5000),
        cmocka_unit_test(test_restart_keeps_records),
        cmocka_unit_test(test_topic_limit),
        cmocka_unit_test(test_data_dir_locked),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
