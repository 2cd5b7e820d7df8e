/* test_pubsub.c - the PUB socket: every committed record, in offset order,
 * per topic; heartbeats on idle topics; a slow subscriber loses messages
 * but never stalls producers; records appear only after their commit
 * point. No blind sleeps: a subscriber waits for a heartbeat on its topic
 * to know its subscription is live. */
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

typedef struct {
    char topic[256];
    size_t tlen;
    Seglog__V1__Event *ev;
} msg_t;

/* One [topic][Event] message. 1, 0 on timeout, -1 on a malformed one. */
static int s_recv(void *sub, int timeout_ms, msg_t *m)
{
    zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    int n = zmq_recv(sub, m->topic, sizeof m->topic - 1, 0);
    if (n < 0 || n >= (int)sizeof m->topic)
        return -1;
    m->tlen = (size_t)n;
    m->topic[n] = 0;
    int more = 0;
    size_t sz = sizeof more;
    zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &sz);
    if (!more)
        return -1;
    zmq_msg_t f;
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, sub, 0) < 0 || zmq_msg_more(&f)) {
        zmq_msg_close(&f);
        return -1;
    }
    m->ev = seglog__v1__event__unpack(NULL, zmq_msg_size(&f), zmq_msg_data(&f));
    zmq_msg_close(&f);
    return m->ev ? 1 : -1;
}

static void s_free_msg(msg_t *m)
{
    if (m->ev)
        seglog__v1__event__free_unpacked(m->ev, NULL);
    m->ev = NULL;
}

static void *s_subscribe(ts_t *t, const char *prefix, int rcvhwm)
{
    void *sub = tc_raw_socket(ZMQ_SUB);
    assert_non_null(sub);
    if (rcvhwm)
        zmq_setsockopt(sub, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    assert_int_equal(zmq_connect(sub, seglog_server_pub_endpoint(t->srv)), 0);
    assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix)), 0);
    return sub;
}

/* Wait until a heartbeat on exactly `topic` arrives: the subscription is
 * live from then on. Returns its next_offset; *epoch gets its epoch. */
static uint64_t s_wait_heartbeat(void *sub, const char *topic, uint64_t *epoch)
{
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (tc_now_ms() < deadline) {
        msg_t m = {0};
        int rc = s_recv(sub, 1000, &m);
        assert_true(rc >= 0);
        if (rc == 1 && strcmp(m.topic, topic) == 0 &&
            m.ev->body_case == SEGLOG__V1__EVENT__BODY_HEARTBEAT) {
            uint64_t next = m.ev->heartbeat->next_offset;
            if (epoch)
                *epoch = m.ev->heartbeat->epoch;
            s_free_msg(&m);
            return next;
        }
        s_free_msg(&m);
    }
    fail_msg("no heartbeat on %s", topic);
    return 0;
}

static void s_produce_n(tc_t *c, const char *topic, int first, int n, size_t pad)
{
    char **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        bufs[i] = malloc(pad + 32);
        int len = snprintf(bufs[i], 32, "%s-%d", topic, first + i);
        memset(bufs[i] + len, '.', pad);
        bufs[i][len + pad] = 0;
    }
    Seglog__V1__Response *r = tc_produce(c, topic, (size_t)n, (const char *const *)bufs);
    assert_non_null(r);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    assert_int_equal(r->produce->count, n);
    tc_free(&r);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
}

static void test_every_record_in_order(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce_n(c, "orders", 0, 1, 0); /* the topic exists, so it has heartbeats */
    void *sub = s_subscribe(t, "orders", 0);
    uint64_t from = s_wait_heartbeat(sub, "orders", NULL);
    assert_int_equal(from, 1);

    enum { BATCHES = 20, PER = 100 };
    for (int b = 0; b < BATCHES; b++) {
        s_produce_n(c, "orders", 1 + b * PER, PER, 0);
        s_produce_n(c, "orders-eu", b * 10, 10, 0); /* shares the prefix */
        s_produce_n(c, "other", b * 10, 10, 0);     /* does not */
    }
    uint64_t expect = from, end = 1 + BATCHES * PER;
    int prefix_only = 0;
    uint64_t deadline = tc_now_ms() + 20000;
    while (expect < end && tc_now_ms() < deadline) {
        msg_t m = {0};
        int rc = s_recv(sub, 1000, &m);
        assert_true(rc >= 0);
        if (rc == 0)
            continue;
        assert_string_not_equal(m.topic, "other");
        if (strcmp(m.topic, "orders") != 0) { /* a byte-prefix match: filtered here */
            assert_string_equal(m.topic, "orders-eu");
            prefix_only++;
        } else if (m.ev->body_case == SEGLOG__V1__EVENT__BODY_RECORD) {
            Seglog__V1__Record *r = m.ev->record;
            assert_int_equal(r->offset, expect); /* in order, no gap, no duplicate */
            char v[64];
            snprintf(v, sizeof v, "orders-%d", (int)expect);
            assert_int_equal(r->value.len, strlen(v));
            assert_memory_equal(r->value.data, v, strlen(v));
            assert_true(r->timestamp_ms > 0);
            expect++;
        } else {
            /* a heartbeat never claims more than was published */
            assert_true(m.ev->heartbeat->next_offset <= expect);
        }
        s_free_msg(&m);
    }
    assert_int_equal(expect, end);
    assert_true(prefix_only > 0);
    tc_raw_close(&sub);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_heartbeat_on_idle_topic(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL); /* heartbeat every 100 ms */
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce_n(c, "idle", 0, 5, 0);
    Seglog__V1__Response *r = tc_offsets(c, "idle");
    uint64_t epoch = r->offsets->epoch;
    tc_free(&r);
    void *sub = s_subscribe(t, "idle", 0);
    uint64_t e1 = 0, e2 = 0;
    /* The first heartbeat may predate the records' publication. */
    uint64_t n = s_wait_heartbeat(sub, "idle", &e1);
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (n != 5 && tc_now_ms() < deadline)
        n = s_wait_heartbeat(sub, "idle", &e1);
    assert_int_equal(n, 5);
    uint64_t t0 = tc_now_ms();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_wait_heartbeat(sub, "idle", &e2), 5);
        assert_true(e2 == epoch);
    }
    uint64_t dt = tc_now_ms() - t0;
    assert_true(e1 == epoch);
    /* Three periods of 100 ms: not a flood, not stuck. */
    assert_true(dt >= 200);
    assert_true(dt < 5000);
    tc_raw_close(&sub);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* With a tiny HWM a subscriber that does not read loses messages, and the
 * producer is never held up; what it does get is in order, and the
 * heartbeat tells it how far the topic went. */
static void test_slow_subscriber_drops(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.pub_hwm = 10;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce_n(c, "flood", 0, 1, 0);
    void *sub = s_subscribe(t, "flood", 10);
    assert_int_equal(s_wait_heartbeat(sub, "flood", NULL), 1);

    /* ~40 MB the subscriber does not read: far past every buffer. */
    enum { BATCHES = 200, PER = 50 };
    uint64_t t0 = tc_now_ms();
    for (int b = 0; b < BATCHES; b++)
        s_produce_n(c, "flood", 1 + b * PER, PER, 4000);
    uint64_t produce_ms = tc_now_ms() - t0;
    assert_true(produce_ms < 60000); /* never stalled by the subscriber */
    uint64_t end = 1 + BATCHES * PER;

    /* Wait until everything is published (the committed offset is the
     * publish point under sync none), then drain. Offset 0 was committed
     * before anyone subscribed: skipped, not sent, so not counted. */
    uint64_t deadline = tc_now_ms() + 30000;
    seglog_server_stats_t st = {0};
    while (tc_now_ms() < deadline) {
        seglog_server_stats(t->srv, &st);
        if (st.published >= end - 1)
            break;
        Seglog__V1__Response *r = tc_offsets(c, "flood"); /* a paced wait, not a sleep */
        tc_free(&r);
    }
    assert_true(st.published >= end - 1);
    uint64_t got = 0, last = 0, hb_next = 0;
    deadline = tc_now_ms() + 30000;
    while (hb_next != end && tc_now_ms() < deadline) {
        msg_t m = {0};
        int rc = s_recv(sub, 1000, &m);
        assert_true(rc >= 0);
        if (rc == 0)
            continue;
        if (m.ev->body_case == SEGLOG__V1__EVENT__BODY_RECORD) {
            assert_true(m.ev->record->offset > last); /* gaps, never reordering */
            last = m.ev->record->offset;
            got++;
        } else {
            hb_next = m.ev->heartbeat->next_offset;
        }
        s_free_msg(&m);
    }
    assert_int_equal(hb_next, end);
    assert_true(got < end - 1); /* some were dropped at the HWM */
    tc_raw_close(&sub);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* Produce one record to topic and wait up to wait_ms for it on sub. When
 * it arrives the committed offset must already be past it (published only
 * once committed). Returns 1 if it arrived. */
static int s_produce_and_see(tc_t *c, void *sub, const char *topic, uint64_t wait_ms)
{
    Seglog__V1__Response *r = tc_produce_bytes(c, topic, "x", 1);
    assert_non_null(r);
    uint64_t off = r->produce->offset;
    tc_free(&r);
    uint64_t deadline = tc_now_ms() + wait_ms;
    int seen = 0;
    while (!seen && tc_now_ms() < deadline) {
        msg_t m = {0};
        int rc = s_recv(sub, 1000, &m);
        assert_true(rc >= 0);
        if (rc == 1 && m.ev->body_case == SEGLOG__V1__EVENT__BODY_RECORD &&
            m.ev->record->offset == off) {
            seen = 1;
            r = tc_offsets(c, topic);
            assert_true(r->offsets->committed_offset > off);
            tc_free(&r);
        }
        s_free_msg(&m);
    }
    return seen;
}

/* Under interval:MS a record is published only after the periodic sync:
 * when it arrives, the committed offset is already past it. */
static void test_published_after_commit(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_INTERVAL;
    cfg.sync_interval_ms = 1000;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce_n(c, "commit", 0, 1, 0);
    void *sub = s_subscribe(t, "commit", 0);
    s_wait_heartbeat(sub, "commit", NULL);
    for (int round = 0; round < 3; round++)
        assert_true(s_produce_and_see(c, sub, "commit", TC_TIMEOUT_MS));
    tc_raw_close(&sub);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* Under interval:MS with a long MS, a record reaches a live subscriber
 * long before the periodic sync: while anyone subscribes the server syncs
 * new records at once (still published only once committed). With no
 * subscriber it does not: the committed offset waits for the interval. */
static void test_interval_syncs_early_for_subscribers(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_INTERVAL;
    cfg.sync_interval_ms = 60000;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);

    /* No subscriber: acknowledged (written to the OS), not committed. */
    s_produce_n(c, "early", 0, 3, 0);
    uint64_t until = tc_now_ms() + 300;
    while (tc_now_ms() < until) {
        Seglog__V1__Response *r = tc_offsets(c, "early");
        assert_non_null(r);
        assert_int_equal(r->offsets->next_offset, 3);
        assert_int_equal(r->offsets->committed_offset, 0);
        tc_free(&r);
    }

    void *sub = s_subscribe(t, "early", 0);
    s_wait_heartbeat(sub, "early", NULL);
    for (int round = 0; round < 5; round++) {
        uint64_t t0 = tc_now_ms();
        assert_true(s_produce_and_see(c, sub, "early", 5000)); /* within 5 s, not 60 s */
        assert_true(tc_now_ms() - t0 < 5000);
    }

    /* The subscriber leaves: early syncs stop again (the unsubscription
     * reaches the server asynchronously, so allow it a moment). */
    tc_raw_close(&sub);
    uint64_t committed = 0, next = 0, deadline = tc_now_ms() + 10000;
    int quiet = 0;
    while (!quiet && tc_now_ms() < deadline) {
        s_produce_n(c, "early", (int)next, 1, 0);
        Seglog__V1__Response *r = tc_offsets(c, "early");
        next = r->offsets->next_offset;
        tc_free(&r);
        uint64_t t1 = tc_now_ms();
        while (tc_now_ms() < t1 + 200) {
            r = tc_offsets(c, "early");
            committed = r->offsets->committed_offset;
            tc_free(&r);
        }
        quiet = committed < next;
    }
    assert_true(quiet);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* Records committed just before shutdown are still published. */
static void test_shutdown_publishes_tail(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_INTERVAL;
    cfg.sync_interval_ms = 60000; /* only the shutdown sync commits */
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce_n(c, "tail", 0, 1, 0);
    void *sub = s_subscribe(t, "tail", 0);
    uint64_t from = s_wait_heartbeat(sub, "tail", NULL);
    assert_int_equal(from, 0); /* nothing committed yet */
    s_produce_n(c, "tail", 1, 9, 0);
    tc_destroy(&c);
    assert_int_equal(seglog_server_stop(t->srv), 0);
    uint64_t expect = 0;
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (expect < 10 && tc_now_ms() < deadline) {
        msg_t m = {0};
        int rc = s_recv(sub, 500, &m);
        assert_true(rc >= 0);
        if (rc == 1 && m.ev->body_case == SEGLOG__V1__EVENT__BODY_RECORD) {
            assert_int_equal(m.ev->record->offset, expect);
            expect++;
        }
        s_free_msg(&m);
    }
    assert_int_equal(expect, 10);
    tc_raw_close(&sub);
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
        cmocka_unit_test(test_every_record_in_order),
        cmocka_unit_test(test_heartbeat_on_idle_topic),
        cmocka_unit_test(test_slow_subscriber_drops),
        cmocka_unit_test(test_published_after_commit),
        cmocka_unit_test(test_interval_syncs_early_for_subscribers),
        cmocka_unit_test(test_shutdown_publishes_tail),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
