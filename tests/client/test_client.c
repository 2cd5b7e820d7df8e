/* test_client.c - the C client library against seglogd as a child
 * process: every call, every server error code a client can provoke, the
 * pipelined producer, and Lazy Pirate timeouts with recovery when the
 * server comes back on the same endpoint. */
#include "seglog/client.h"
#include "srv.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

/* Fail with the client's message when rc is not what was expected. */
#define EXPECT_RC(rc, want, msg)                                                                   \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (want))                                                                         \
            fail_msg("%s: got %d (%s: %s), want %d (%s)", #rc, rc_, seglog_client_strerror(rc_),   \
                     (msg), (want), seglog_client_strerror(want));                                 \
    } while (0)
#define OK(c, call) EXPECT_RC(call, 0, seglog_client_errmsg(c))

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct fixture {
    srv_t srv;
    seglog_client_t *c;
} fixture_t;

/* Small records and segments, so every size error is reachable cheaply. */
static const char *const s_small[] = {
    "--sync", "none", "--max-record-bytes", "4K", "--segment-bytes", "16K", NULL};

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    if (srv_start(&f->srv, s_small) != 0)
        return -1;
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    o.timeout_ms = 5000;
    return seglog_client_connect(f->srv.endpoint, f->srv.pub_endpoint, &o, &f->c) ? -1 : 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    seglog_client_destroy(&f->c);
    int rc = srv_destroy(&f->srv); /* a server that did not stop cleanly fails */
    free(f);
    return rc;
}

static void test_produce_consume_offsets(void **state)
{
    fixture_t *f = *state;
    seglog_client_t *c = f->c;
    uint64_t off = 99;
    OK(c, seglog_client_produce(c, "calls", "hello", 5, &off));
    assert_int_equal(off, 0);
    OK(c, seglog_client_produce(c, "calls", "", 0, &off)); /* an empty value is a record */
    assert_int_equal(off, 1);
    assert_string_equal(seglog_client_errmsg(c), "");

    seglog_record_t recs[3] = {
        {.value = (const uint8_t *)"a",
         .value_len = 1,
         .key = (const uint8_t *)"k",
         .key_len = 1,
         .timestamp_ms = 1234},
        {.value = (const uint8_t *)"bb", .value_len = 2},
        {.value = (const uint8_t *)"\0\xff", .value_len = 2},
    };
    OK(c, seglog_client_produce_batch(c, "calls", recs, 3, &off));
    assert_int_equal(off, 2);

    seglog_record_t r;
    OK(c, seglog_client_consume(c, "calls", 0, &r));
    assert_int_equal(r.offset, 0);
    assert_int_equal(r.value_len, 5);
    assert_memory_equal(r.value, "hello", 5);
    assert_true(r.timestamp_ms > 0); /* stamped by the server */
    OK(c, seglog_client_consume(c, "calls", 1, &r));
    assert_int_equal(r.value_len, 0);
    OK(c, seglog_client_consume(c, "calls", 2, &r));
    assert_int_equal(r.key_len, 1);
    assert_memory_equal(r.key, "k", 1);
    assert_int_equal(r.timestamp_ms, 1234);

    seglog_batch_t b;
    OK(c, seglog_client_consume_range(c, "calls", 1, 10, 0, &b));
    assert_int_equal(b.count, 4);
    assert_int_equal(b.next_offset, 5);
    assert_int_equal(b.lowest_offset, 0);
    assert_int_equal(b.end_offset, 5);
    assert_memory_equal(b.records[3].value, "\0\xff", 2);
    OK(c, seglog_client_consume_range(c, "calls", 1, 0, 0, &b)); /* 0 means 1 */
    assert_int_equal(b.count, 1);
    assert_int_equal(b.next_offset, 2);
    OK(c, seglog_client_consume_range(c, "calls", 0, 10, 1, &b)); /* first record always */
    assert_int_equal(b.count, 1);
    OK(c, seglog_client_consume_range(c, "calls", 5, 10, 0, &b)); /* at the end: empty */
    assert_int_equal(b.count, 0);
    assert_int_equal(b.next_offset, 5);

    seglog_offsets_t o;
    OK(c, seglog_client_offsets(c, "calls", &o));
    assert_int_equal(o.lowest_offset, 0);
    assert_int_equal(o.next_offset, 5);
    assert_true(o.committed_offset <= 5);
    assert_true(o.epoch != 0);

    /* NULL and "" are the default topic. */
    OK(c, seglog_client_produce(c, NULL, "d", 1, &off));
    OK(c, seglog_client_consume(c, "default", off, &r));
    assert_memory_equal(r.value, "d", 1);
    OK(c, seglog_client_consume(c, "", off, &r));
}

/* Long poll through the library: an empty batch after max_wait_ms (the
 * call waits past the client's timeout_ms for it), a bad value refused. */
static void test_consume_wait(void **state)
{
    fixture_t *f = *state;
    seglog_client_t *c = f->c;
    OK(c, seglog_client_produce(c, "lp", "a", 1, NULL));
    seglog_batch_t b;
    int64_t t0 = s_now_ms();
    OK(c, seglog_client_consume_wait(c, "lp", 1, 10, 0, 300, &b));
    int64_t took = s_now_ms() - t0;
    assert_int_equal(b.count, 0);
    assert_int_equal(b.next_offset, 1);
    if (took < 290 || took > 4000)
        fail_msg("a 300 ms long poll returned after %lld ms", (long long)took);
    OK(c, seglog_client_consume_wait(c, "lp", 0, 10, 0, 60000, &b)); /* not at the end */
    assert_int_equal(b.count, 1);
    EXPECT_RC(seglog_client_consume_wait(c, "lp", 1, 10, 0, 60001, &b),
              SEGLOG_CLIENT_E_BAD_REQUEST, seglog_client_errmsg(c));
    assert_non_null(strstr(seglog_client_errmsg(c), "max_wait_ms"));
}

static void test_truncate(void **state)
{
    fixture_t *f = *state;
    seglog_client_t *c = f->c;
    char value[1000];
    memset(value, 'x', sizeof value);
    for (int i = 0; i < 100; i++) /* about 100 KB: several 16K segments */
        OK(c, seglog_client_produce(c, "trunc", value, sizeof value, NULL));
    uint64_t lowest = 0;
    OK(c, seglog_client_truncate(c, "trunc", 0, &lowest));
    assert_int_equal(lowest, 0);
    OK(c, seglog_client_truncate(c, "trunc", 50, &lowest));
    assert_true(lowest > 0 && lowest <= 50); /* whole segments only */
    seglog_offsets_t o;
    OK(c, seglog_client_offsets(c, "trunc", &o));
    assert_int_equal(o.lowest_offset, lowest);
    seglog_record_t r;
    OK(c, seglog_client_consume(c, "trunc", lowest, &r));
    assert_int_equal(r.offset, lowest);

    /* Below the lowest offset: OFFSET_TRUNCATED, with the server's words. */
    EXPECT_RC(seglog_client_consume(c, "trunc", 0, &r), SEGLOG_CLIENT_E_OFFSET_TRUNCATED,
              seglog_client_errmsg(c));
    assert_true(strlen(seglog_client_errmsg(c)) > 0);
}

/* Each server ErrorCode a client can cause arrives as its own code with
 * the server's message. */
static void test_server_errors(void **state)
{
    fixture_t *f = *state;
    seglog_client_t *c = f->c;
    seglog_record_t r;
    seglog_offsets_t o;
    OK(c, seglog_client_produce(c, "errs", "v", 1, NULL));

    struct {
        int got;
        int want;
        char msg[512];
    } cases[8];
    int n = 0;
#define CASE(call, code)                                                                           \
    do {                                                                                           \
        cases[n].got = (call);                                                                     \
        cases[n].want = (code);                                                                    \
        snprintf(cases[n].msg, sizeof cases[n].msg, "%s", seglog_client_errmsg(c));                \
        n++;                                                                                       \
    } while (0)

    CASE(seglog_client_consume(c, "errs", 5, &r), SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE);
    CASE(seglog_client_offsets(c, "no-such-topic", &o), SEGLOG_CLIENT_E_UNKNOWN_TOPIC);
    CASE(seglog_client_produce(c, "bad/topic", "v", 1, NULL), SEGLOG_CLIENT_E_INVALID_TOPIC);
    CASE(seglog_client_offsets(c, "..", &o), SEGLOG_CLIENT_E_INVALID_TOPIC);

    static char big[5000];
    CASE(seglog_client_produce(c, "errs", big, sizeof big, NULL), SEGLOG_CLIENT_E_RECORD_TOO_LARGE);

    /* Five 3.9K records fit the 4K record limit but not one 16K segment. */
    seglog_record_t five[5];
    for (int i = 0; i < 5; i++)
        five[i] = (seglog_record_t){.value = (const uint8_t *)big, .value_len = 3900};
    CASE(seglog_client_produce_batch(c, "errs", five, 5, NULL), SEGLOG_CLIENT_E_BATCH_TOO_LARGE);

    /* An empty batch is a request the server refuses. */
    CASE(seglog_client_produce_batch(c, "errs", NULL, 0, NULL), SEGLOG_CLIENT_E_BAD_REQUEST);
#undef CASE

    for (int i = 0; i < n; i++) {
        if (cases[i].got != cases[i].want)
            fail_msg("case %d: got %d (%s: %s), want %d", i, cases[i].got,
                     seglog_client_strerror(cases[i].got), cases[i].msg, cases[i].want);
        assert_true(strlen(cases[i].msg) > 0);
    }
    /* The handle still works after errors. */
    OK(c, seglog_client_consume(c, "errs", 0, &r));
    assert_string_equal(seglog_client_errmsg(c), "");
}

static void test_strerror_distinct(void **state)
{
    (void)state;
    const int codes[] = {
        SEGLOG_CLIENT_E_BAD_REQUEST,
        SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE,
        SEGLOG_CLIENT_E_OFFSET_TRUNCATED,
        SEGLOG_CLIENT_E_RECORD_TOO_LARGE,
        SEGLOG_CLIENT_E_BATCH_TOO_LARGE,
        SEGLOG_CLIENT_E_INVALID_TOPIC,
        SEGLOG_CLIENT_E_UNKNOWN_TOPIC,
        SEGLOG_CLIENT_E_RESOURCE_EXHAUSTED,
        SEGLOG_CLIENT_E_INTERNAL,
        SEGLOG_CLIENT_E_STORAGE,
        SEGLOG_CLIENT_E_CORRUPT,
        SEGLOG_CLIENT_E_UNAUTHENTICATED,
        SEGLOG_CLIENT_E_PERMISSION_DENIED,
        SEGLOG_CLIENT_E_NOT_LEADER,
        SEGLOG_CLIENT_E_SERVER_ERROR,
        SEGLOG_CLIENT_E_INVAL,
        SEGLOG_CLIENT_E_NOMEM,
        SEGLOG_CLIENT_E_TIMEOUT,
        SEGLOG_CLIENT_E_PROTOCOL,
        SEGLOG_CLIENT_E_AGAIN,
        SEGLOG_CLIENT_E_EPOCH_CHANGED,
        SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE,
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = seglog_client_strerror(codes[i]);
        assert_string_not_equal(a, "unknown error");
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(a, seglog_client_strerror(codes[j]));
    }
    assert_string_equal(seglog_client_strerror(0), "success");
    assert_string_not_equal(seglog_client_strerror(EINTR), "unknown error");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    seglog_client_t *c = NULL;
    assert_int_equal(seglog_client_connect(NULL, NULL, NULL, &c), SEGLOG_CLIENT_E_INVAL);
    assert_int_equal(seglog_client_connect("not-an-endpoint", NULL, NULL, &c),
                     SEGLOG_CLIENT_E_INVAL);
    assert_null(c);
    seglog_client_options_t o = {.timeout_ms = 0, .retries = 1};
    assert_int_equal(seglog_client_connect("tcp://127.0.0.1:1", NULL, &o, &c),
                     SEGLOG_CLIENT_E_INVAL);
    OK(c, seglog_client_connect("tcp://127.0.0.1:1", NULL, NULL, &c));
    seglog_tail_t *t = NULL;
    assert_int_equal(seglog_tail_new(c, "x", 0, NULL, &t), SEGLOG_CLIENT_E_INVAL); /* no PUB */
    assert_true(strlen(seglog_client_errmsg(c)) > 0);
    seglog_client_destroy(&c);
    seglog_client_destroy(&c); /* idempotent */
    assert_null(c);
}

typedef struct acks {
    uint64_t n, records, next_seq, next_offset;
    int errors, last_err, order_ok;
    char last_msg[256];
} acks_t;

static void s_on_ack(void *arg, const seglog_ack_t *a)
{
    acks_t *k = arg;
    if (a->seq != k->next_seq)
        k->order_ok = 0;
    k->next_seq = a->seq + 1;
    k->n++;
    if (a->err) {
        k->errors++;
        k->last_err = a->err;
        snprintf(k->last_msg, sizeof k->last_msg, "%s", a->message);
        return;
    }
    if (k->records && a->offset != k->next_offset)
        k->order_ok = 0;
    k->records += a->count;
    k->next_offset = a->offset + a->count;
}

static void test_producer_pipelined(void **state)
{
    fixture_t *f = *state;
    acks_t k = {.next_seq = 1, .order_ok = 1};
    seglog_producer_t *p = NULL;
    assert_int_equal(seglog_producer_new(f->c, 0, s_on_ack, &k, &p), SEGLOG_CLIENT_E_INVAL);
    OK(f->c, seglog_producer_new(f->c, 8, s_on_ack, &k, &p));
    char vals[100][8];
    seglog_record_t recs[100];
    for (int i = 0; i < 100; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        recs[i] =
            (seglog_record_t){.value = (const uint8_t *)vals[i], .value_len = strlen(vals[i])};
    }
    size_t peak = 0;
    for (int b = 0; b < 50; b++) {
        uint64_t seq = 0;
        EXPECT_RC(seglog_producer_send(p, "pipe", recs, 100, &seq), 0, seglog_producer_errmsg(p));
        assert_int_equal(seq, (uint64_t)b + 1);
        size_t inflight = seglog_producer_in_flight(p);
        assert_true(inflight <= 8);
        if (inflight > peak)
            peak = inflight;
    }
    assert_true(peak > 1); /* it really pipelined */
    /* A failing batch in the middle is acked with its error, in order. */
    EXPECT_RC(seglog_producer_send(p, "bad/topic", recs, 1, NULL), 0, seglog_producer_errmsg(p));
    EXPECT_RC(seglog_producer_send(p, "pipe", recs, 100, NULL), 0, seglog_producer_errmsg(p));
    EXPECT_RC(seglog_producer_flush(p, 30000), 0, seglog_producer_errmsg(p));
    assert_int_equal(seglog_producer_in_flight(p), 0);
    assert_int_equal(k.n, 52);
    assert_true(k.order_ok);
    assert_int_equal(k.records, 5100);
    assert_int_equal(k.errors, 1);
    assert_int_equal(k.last_err, SEGLOG_CLIENT_E_INVALID_TOPIC);
    assert_true(strlen(k.last_msg) > 0);
    EXPECT_RC(seglog_producer_poll(p, 0), 0, seglog_producer_errmsg(p));
    seglog_producer_destroy(&p);
    assert_null(p);

    /* Everything arrived, in order. */
    seglog_batch_t b;
    OK(f->c, seglog_client_consume_range(f->c, "pipe", 4990, 20, 0, &b));
    assert_int_equal(b.count, 20);
    for (size_t i = 0; i < b.count; i++) {
        char want[8];
        int n = snprintf(want, sizeof want, "%d", (int)((4990 + i) % 100));
        assert_int_equal(b.records[i].value_len, (size_t)n);
        assert_memory_equal(b.records[i].value, want, (size_t)n);
    }
}

/* Every value stored in topic, in order, checked against the ones allowed:
 * the log must be `first` followed only by copies of `rest` (a retried
 * produce may append twice). Returns the number of records. */
static uint64_t s_check_log(seglog_client_t *c, const char *topic, const char *first,
                            const char *rest)
{
    seglog_batch_t b;
    OK(c, seglog_client_consume_range(c, topic, 0, 100, 0, &b));
    assert_true(b.count >= 1);
    assert_int_equal(b.records[0].value_len, strlen(first));
    assert_memory_equal(b.records[0].value, first, strlen(first));
    for (size_t i = 1; i < b.count; i++)
        if (b.records[i].value_len != strlen(rest) ||
            memcmp(b.records[i].value, rest, strlen(rest)) != 0)
            fail_msg("offset %zu holds '%.*s': a request that failed was delivered later", i,
                     (int)b.records[i].value_len, (const char *)b.records[i].value);
    return b.count;
}

/* Offsets, retried while the restarted server is not reachable yet. */
static void s_offsets_eventually(seglog_client_t *c, const char *topic, seglog_offsets_t *o)
{
    int rc = SEGLOG_CLIENT_E_TIMEOUT;
    for (int i = 0; i < 50 && rc == SEGLOG_CLIENT_E_TIMEOUT; i++)
        rc = seglog_client_offsets(c, topic, o);
    OK(c, rc);
}

/* A server that is not running: the call fails after one timeout (there
 * is no connection, so nothing was sent and there is nothing to resend),
 * and says so. When it returns on the same endpoint, the same handles
 * work, and nothing that failed is appended later: the server is
 * restarted while the handles' sockets are still reconnecting. */
static void test_timeout_then_recovery(void **state)
{
    srv_fx_t *w = *state;
    srv_t *s = &w->srv;
    const char *const args[] = {"--sync", "always", NULL};
    assert_int_equal(srv_start(s, args), 0);
    seglog_client_options_t o = {.timeout_ms = 200, .retries = 2};
    OK(w->c, seglog_client_connect(s->endpoint, s->pub_endpoint, &o, &w->c));
    seglog_client_t *c = w->c;
    acks_t k = {.next_seq = 1, .order_ok = 1};
    OK(c, seglog_producer_new(c, 4, s_on_ack, &k, &w->p));
    seglog_producer_t *p = w->p;
    uint64_t off;
    OK(c, seglog_client_produce(c, "lp", "before", 6, &off));
    assert_int_equal(off, 0);

    assert_int_equal(srv_stop(s, SIGKILL), 0);

    /* The producer times out, and acks what was outstanding. (It goes
     * first: it still has the client's producer id. After a failed batch
     * the next one asks InitProducerId first, and that fails at once
     * without a server.) */
    seglog_record_t rec = {.value = (const uint8_t *)"q", .value_len = 1};
    EXPECT_RC(seglog_producer_send(p, "lp", &rec, 1, NULL), 0, seglog_producer_errmsg(p));
    EXPECT_RC(seglog_producer_flush(p, -1), SEGLOG_CLIENT_E_TIMEOUT, "");
    assert_int_equal(k.n, 1);
    assert_int_equal(k.last_err, SEGLOG_CLIENT_E_TIMEOUT);
    assert_non_null(strstr(k.last_msg, "is seglogd running"));
    assert_int_equal(seglog_producer_in_flight(p), 0);
    EXPECT_RC(seglog_producer_send(p, "lp", &rec, 1, NULL), SEGLOG_CLIENT_E_TIMEOUT, "");
    assert_int_equal(seglog_producer_in_flight(p), 0);

    int64_t t0 = s_now_ms();
    EXPECT_RC(seglog_client_produce(c, "lp", "lost", 4, &off), SEGLOG_CLIENT_E_TIMEOUT, "");
    int64_t took = s_now_ms() - t0;
    assert_true(took >= 200 - 20);
    assert_true(took < 3 * 200); /* not retried: nothing was sent */
    char want[200];
    snprintf(want, sizeof want, "is seglogd running at %s?", s->endpoint);
    if (!strstr(seglog_client_errmsg(c), want))
        fail_msg("message '%s' lacks '%s'", seglog_client_errmsg(c), want);
    seglog_offsets_t offs;
    EXPECT_RC(seglog_client_offsets(c, "lp", &offs), SEGLOG_CLIENT_E_TIMEOUT, "");
    EXPECT_RC(seglog_client_produce(c, "lp", "lost", 4, &off), SEGLOG_CLIENT_E_TIMEOUT, "");

    /* Back on the same endpoint at once: the same handles recover, and
     * neither "lost" nor "q" ever reaches the new server. */
    assert_int_equal(srv_restart(s), 0);
    s_offsets_eventually(c, "lp", &offs);
    assert_int_equal(offs.next_offset, 1);
    OK(c, seglog_client_produce(c, "lp", "after", 5, &off));
    assert_true(off >= 1);
    rec.value = (const uint8_t *)"after";
    rec.value_len = 5;
    EXPECT_RC(seglog_producer_send(p, "lp", &rec, 1, NULL), 0, seglog_producer_errmsg(p));
    EXPECT_RC(seglog_producer_flush(p, 10000), 0, seglog_producer_errmsg(p));
    assert_int_equal(k.n, 2);
    assert_int_equal(k.records, 1);
    assert_true(s_check_log(c, "lp", "before", "after") >= 3);
}

static volatile sig_atomic_t s_alarms;
static void s_on_alarm(int sig)
{
    (void)sig;
    s_alarms++;
}

/* A call interrupted by a signal (EINTR) while the server is down must
 * not leave its request queued: on the old code it went out on the next
 * connection, to the restarted server, and was appended unreported. */
static void test_interrupted_call_not_delivered_later(void **state)
{
    srv_fx_t *w = *state;
    srv_t *s = &w->srv;
    assert_int_equal(srv_start(s, NULL), 0);
    seglog_client_options_t o = {.timeout_ms = 1000, .retries = 0};
    OK(w->c, seglog_client_connect(s->endpoint, NULL, &o, &w->c));
    seglog_client_t *c = w->c;
    OK(c, seglog_client_produce(c, "intr", "first", 5, NULL));
    assert_int_equal(srv_stop(s, SIGKILL), 0);
    seglog_offsets_t offs; /* leaves a new socket, still connecting */
    EXPECT_RC(seglog_client_offsets(c, "intr", &offs), SEGLOG_CLIENT_E_TIMEOUT, "");
    /* The limits asked for by the first produce are not asked again on the
     * new socket after a timeout: the cached ones stay in use, so the
     * produce below goes straight to its own send. */
    seglog_server_info_t in;
    OK(c, seglog_client_info(c, &in));

    struct sigaction sa = {.sa_handler = s_on_alarm}; /* no SA_RESTART */
    struct sigaction old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    struct itimerval it = {.it_value = {0, 200 * 1000}};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    int rc = seglog_client_produce(c, "intr", "ghost", 5, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(s_alarms, 1);
    EXPECT_RC(rc, EINTR, seglog_client_errmsg(c));

    assert_int_equal(srv_restart(s), 0);
    s_offsets_eventually(c, "intr", &offs);
    assert_int_equal(offs.next_offset, 1);
    OK(c, seglog_client_produce(c, "intr", "second", 6, NULL));
    assert_int_equal(s_check_log(c, "intr", "first", "second"), 2);
}

/* Retries that succeed: the server is stopped (SIGSTOP) for longer than
 * one timeout and then continues; the call returns normally, and so does
 * a pipelined producer. */
static void test_retry_succeeds(void **state)
{
    srv_fx_t *w = *state;
    srv_t *s = &w->srv;
    assert_int_equal(srv_start(s, NULL), 0);
    seglog_client_options_t o = {.timeout_ms = 300, .retries = 20};
    OK(w->c, seglog_client_connect(s->endpoint, NULL, &o, &w->c));
    seglog_client_t *c = w->c;
    OK(c, seglog_client_produce(c, "rs", "a", 1, NULL));
    assert_int_equal(srv_pause(s), 0);
    pid_t pid = fork();
    if (pid == 0) { /* resume the server after two timeouts */
        struct timespec ts = {0, 700 * 1000000L};
        nanosleep(&ts, NULL);
        kill(s->pid, SIGCONT);
        _exit(0);
    }
    assert_true(pid > 0);
    int64_t t0 = s_now_ms();
    seglog_offsets_t offs;
    OK(c, seglog_client_offsets(c, "rs", &offs));
    int64_t paused = s_now_ms() - t0;
    if (paused < 600)
        fail_msg("the call returned after %lld ms, before the server resumed", (long long)paused);
    assert_int_equal(offs.next_offset, 1);
    int status;
    waitpid(pid, &status, 0);

    /* The producer resends its whole window on a new socket, and every
     * batch is acked once, in order. The server may have read the first
     * sends before it stopped, so a batch can arrive twice; idempotent
     * produce (the default) appends it once: exactly 3 new records. */
    acks_t k = {.next_seq = 1, .order_ok = 1};
    OK(c, seglog_producer_new(c, 4, s_on_ack, &k, &w->p));
    assert_int_equal(srv_pause(s), 0);
    pid = fork();
    if (pid == 0) {
        struct timespec ts = {0, 700 * 1000000L};
        nanosleep(&ts, NULL);
        kill(s->pid, SIGCONT);
        _exit(0);
    }
    assert_true(pid > 0);
    seglog_record_t rec = {.value = (const uint8_t *)"b", .value_len = 1};
    for (int i = 0; i < 3; i++)
        EXPECT_RC(seglog_producer_send(w->p, "rs", &rec, 1, NULL), 0, seglog_producer_errmsg(w->p));
    EXPECT_RC(seglog_producer_flush(w->p, -1), 0, seglog_producer_errmsg(w->p));
    waitpid(pid, &status, 0);
    assert_int_equal(k.n, 3);
    assert_int_equal(k.errors, 0);
    assert_true(k.order_ok);
    OK(c, seglog_client_offsets(c, "rs", &offs));
    assert_int_equal(offs.next_offset, 4);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_produce_consume_offsets),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_consume_wait),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_producer_pipelined),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_strerror_distinct),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test_setup_teardown(test_timeout_then_recovery, srv_fx_setup, srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_call_not_delivered_later, srv_fx_setup,
                                        srv_fx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_succeeds, srv_fx_setup, srv_fx_teardown),
    };
    int failed = cmocka_run_group_tests_name("client_shared_server", shared, s_setup, s_teardown);
    failed += cmocka_run_group_tests_name("client_own_server", alone, NULL, NULL);
    return failed;
}
