/*
 * test_abuse.c - seglogd (a child process) under abusive clients:
 *   - 1000 connect/disconnect cycles (ZMTP sessions, bare TCP connects,
 *     sockets closed before their handshake);
 *   - 200 idle connections at once;
 *   - a client that sends only messages of 1000 parts;
 *   - a client that pipelines 100 000 produce requests and never reads.
 * In every case a normal client's produce + consume round trip keeps
 * succeeding within PROBE_BOUND_MS while the abuse runs, the server's
 * VmRSS stays under PI_RSS_BOUND_MIB (docs/PROTOCOL.md, "Limits"), and
 * once the abusers are gone its descriptor count (/proc/<pid>/fd) is back
 * at its baseline, exactly: libzmq keeps no descriptor per past peer.
 */
#include "procinfo.h"
#include "srv.h"
#include "tclient.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <cmocka.h>

#define CYCLES              1000
#define IDLE_CONNS          200
#define PARTS               1000
#define PARTS_MESSAGES      300
#define FLOOD_REQUESTS      100000
#define CONSUME_REQUESTS    30000
#define CONSUME_REPLY_BYTES 4096
#define FD_SETTLE_MS        10000 /* the server closes a departed peer's socket asynchronously */

static srv_t s_srv;
static tc_t *s_probe;           /* the well-behaved client */
static int s_base_fds;          /* server descriptors with only s_probe connected */
static long s_max_rss_kib;      /* the highest VmRSS seen */
static uint64_t s_probe_max_ms; /* the slowest round trip seen */
static uint64_t s_probe_bound_ms;

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void s_sample_rss(void)
{
    long kib = pi_rss_kib(s_srv.pid);
    assert_true(kib > 0);
    if (kib > s_max_rss_kib)
        s_max_rss_kib = kib;
    if (kib > pi_rss_bound_kib())
        fail_msg("seglogd VmRSS %ld KiB is over the bound of %ld KiB", kib, pi_rss_bound_kib());
}

/* One produce + consume round trip of the normal client, within the
 * bound; also samples the server's RSS. */
static void s_probe_once(void)
{
    static uint64_t n;
    char value[64];
    int len = snprintf(value, sizeof value, "probe-%" PRIu64, n++);
    uint64_t t0 = tc_now_ms();
    Seglog__V1__Response *r = tc_produce_bytes(s_probe, "probe", value, (size_t)len);
    assert_non_null(r);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    uint64_t off = r->produce->offset;
    tc_free(&r);
    r = tc_consume(s_probe, "probe", off, 1, 0);
    assert_non_null(r);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    assert_int_equal(r->consume->n_records, 1);
    assert_int_equal(r->consume->records[0]->value.len, (size_t)len);
    assert_memory_equal(r->consume->records[0]->value.data, value, (size_t)len);
    tc_free(&r);
    uint64_t ms = tc_now_ms() - t0;
    if (ms > s_probe_max_ms)
        s_probe_max_ms = ms;
    if (ms > s_probe_bound_ms)
        fail_msg("a normal round trip took %" PRIu64 " ms (bound %" PRIu64 " ms)", ms,
                 s_probe_bound_ms);
    s_sample_rss();
}

/* Wait (bounded) until the server's descriptor count is want; returns the
 * last count seen. */
static int s_wait_fds(int want)
{
    uint64_t deadline = tc_now_ms() + FD_SETTLE_MS;
    int n;
    while ((n = pi_fd_count(s_srv.pid)) != want && tc_now_ms() < deadline)
        s_sleep_ms(20);
    return n;
}

/* Probe while *done is 0 (an abuser thread runs), at most limit_ms. */
static void s_probe_while(atomic_int *done, uint64_t limit_ms)
{
    uint64_t deadline = tc_now_ms() + limit_ms;
    int rounds = 0;
    while (!atomic_load(done)) {
        if (tc_now_ms() > deadline)
            fail_msg("the abuser did not finish within %" PRIu64 " ms", limit_ms);
        s_probe_once();
        rounds++;
        s_sleep_ms(10);
    }
    print_message("  %d round trips during the abuse\n", rounds);
}

static int s_setup(void **state)
{
    (void)state;
    const char *const args[] = {"--sync", "none", "--workers", "2", NULL};
    if (srv_start(&s_srv, args) != 0)
        return -1;
    s_probe = tc_new(s_srv.endpoint, TC_DEALER);
    s_probe_bound_ms = pi_sanitized() ? 5000 : 1000;
    if (!s_probe)
        return -1;
    /* Every topic the tests use exists before the baseline (each one
     * holds its directory lock and segment files open). */
    const char *topics[] = {"probe", "flood"};
    for (size_t i = 0; i < 2; i++) {
        Seglog__V1__Response *r = tc_produce_bytes(s_probe, topics[i], "x", 1);
        int ok = r && r->body_case == SEGLOG__V1__RESPONSE__BODY_PRODUCE;
        tc_free(&r);
        if (!ok)
            return -1;
    }
    s_sleep_ms(200); /* let the accept settle before the baseline */
    s_base_fds = pi_fd_count(s_srv.pid);
    long rss = pi_rss_kib(s_srv.pid);
    print_message("baseline: %d descriptors, VmRSS %ld KiB; RSS bound %ld KiB, round-trip bound "
                  "%" PRIu64 " ms\n",
                  s_base_fds, rss, pi_rss_bound_kib(), s_probe_bound_ms);
    return s_base_fds > 0 && rss > 0 ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    print_message("highest VmRSS %ld KiB, slowest normal round trip %" PRIu64 " ms\n",
                  s_max_rss_kib, s_probe_max_ms);
    tc_destroy(&s_probe);
    tc_ctx_term();
    return srv_destroy(&s_srv) == 0 ? 0 : -1;
}

/* ---- connect/disconnect ------------------------------------------------- */

/* A bare TCP connect and close: the server accepts, then reads EOF
 * before any ZMTP greeting. */
static void s_tcp_touch(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    assert_non_null(colon);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
}

static void test_connect_disconnect(void **state)
{
    (void)state;
    for (int i = 0; i < CYCLES; i++) {
        switch (i % 3) {
        case 0: { /* a full session: handshake and a request */
            tc_t *c = tc_new(s_srv.endpoint, TC_DEALER);
            assert_non_null(c);
            Seglog__V1__Response *r = tc_offsets(c, "probe");
            assert_non_null(r);
            assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
            tc_free(&r);
            tc_destroy(&c);
            break;
        }
        case 1: /* connect, then close at once (maybe mid-handshake) */ {
            tc_t *c = tc_new(s_srv.endpoint, TC_DEALER);
            assert_non_null(c);
            tc_destroy(&c);
            break;
        }
        default:
            s_tcp_touch(s_srv.endpoint);
            break;
        }
        if (i % 100 == 99)
            s_probe_once();
    }
    int fds = s_wait_fds(s_base_fds);
    print_message("after %d cycles: %d descriptors (baseline %d)\n", CYCLES, fds, s_base_fds);
    assert_int_equal(fds, s_base_fds);
    s_probe_once();
}

/* ---- idle connections --------------------------------------------------- */

static void test_idle_connections(void **state)
{
    (void)state;
    tc_t **idle = calloc(IDLE_CONNS, sizeof *idle);
    assert_non_null(idle);
    for (int i = 0; i < IDLE_CONNS; i++)
        assert_non_null(idle[i] = tc_new(s_srv.endpoint, TC_DEALER));
    /* Every one is accepted: one descriptor each on the server. */
    int fds = s_wait_fds(s_base_fds + IDLE_CONNS);
    print_message("%d idle connections: %d descriptors (baseline %d)\n", IDLE_CONNS, fds,
                  s_base_fds);
    assert_int_equal(fds, s_base_fds + IDLE_CONNS);
    for (int k = 0; k < 20; k++) { /* about a second of idling */
        s_probe_once();
        s_sleep_ms(50);
    }
    /* Idle is not dead: each still gets an answer. */
    for (int i = 0; i < IDLE_CONNS; i++) {
        Seglog__V1__Response *r = tc_offsets(idle[i], "probe");
        assert_non_null(r);
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
        tc_free(&r);
    }
    for (int i = 0; i < IDLE_CONNS; i++)
        tc_destroy(&idle[i]);
    free(idle);
    fds = s_wait_fds(s_base_fds);
    assert_int_equal(fds, s_base_fds);
    s_probe_once();
}

/* ---- 1000-part messages ------------------------------------------------- */

typedef struct {
    const char *endpoint;
    atomic_int done;
    int sent, refused; /* messages sent, BAD_REQUEST replies read */
    int rc;
} parts_arg_t;

static void *s_parts_main(void *arg)
{
    parts_arg_t *a = arg;
    a->rc = -1;
    tc_t *c = tc_new(a->endpoint, TC_DEALER);
    void *s = c ? tc_socket(c) : NULL;
    /* Windows of 10 messages: pipelined, but every refusal is counted. */
    while (s && a->sent < PARTS_MESSAGES) {
        int k;
        for (k = 0; k < 10 && a->sent < PARTS_MESSAGES; k++, a->sent++)
            for (int i = 0; i < PARTS; i++)
                if (zmq_send(s, "frame", 5, i + 1 < PARTS ? ZMQ_SNDMORE : 0) < 0)
                    goto out;
        for (; k > 0; k--) {
            Seglog__V1__Response *r = tc_recv(c, TC_TIMEOUT_MS);
            if (!r)
                goto out;
            if (tc_error_code(r) == SEGLOG__V1__ERROR_CODE__BAD_REQUEST)
                a->refused++;
            tc_free(&r);
        }
    }
    a->rc = 0;
out:
    tc_destroy(&c);
    atomic_store(&a->done, 1);
    return NULL;
}

static void test_thousand_part_messages(void **state)
{
    (void)state;
    parts_arg_t a = {.endpoint = s_srv.endpoint};
    pthread_t th;
    uint64_t t0 = tc_now_ms();
    assert_int_equal(pthread_create(&th, NULL, s_parts_main, &a), 0);
    s_probe_while(&a.done, 120000);
    pthread_join(th, NULL);
    print_message("%d messages of %d parts in %" PRIu64 " ms, %d refused\n", a.sent, PARTS,
                  tc_now_ms() - t0, a.refused);
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.refused, PARTS_MESSAGES);
    assert_int_equal(s_wait_fds(s_base_fds), s_base_fds);
    s_probe_once();
}

/* ---- a pipeliner that never reads ----------------------------------------- */

typedef struct {
    const char *endpoint;
    atomic_int done;
    int sent;
    int rc;
    void *sock; /* left open (unread replies pile up) until the test closes it */
} flood_arg_t;

static void *s_flood_main(void *arg)
{
    flood_arg_t *a = arg;
    a->rc = -1;
    uint8_t value[100];
    memset(value, 'f', sizeof value);
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value = (ProtobufCBinaryData){sizeof value, value};
    Seglog__V1__Record *recs[1] = {&rec};
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = "flood";
    p.n_records = 1;
    p.records = recs;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 1;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    size_t len;
    uint8_t *buf = tc_pack(&req, &len);
    void *s = tc_raw_socket(ZMQ_DEALER);
    a->sock = s;
    /* Blocking sends, bounded: if the server ever stopped reading, the
     * send times out and the test fails instead of hanging. */
    /* A tiny receive side, so that the unread replies pile up in the
     * server (its per-connection queue, then drops) rather than here. */
    int timeout = TC_TIMEOUT_MS, rcvhwm = 1, rcvbuf = 4096;
    if (s && buf) {
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
        zmq_setsockopt(s, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (zmq_connect(s, a->endpoint) == 0) {
            while (a->sent < FLOOD_REQUESTS && zmq_send(s, buf, len, 0) == (int)len)
                a->sent++;
            a->rc = a->sent == FLOOD_REQUESTS ? 0 : -1;
        }
    }
    free(buf);
    atomic_store(&a->done, 1);
    return NULL;
}

static void test_pipeline_never_read(void **state)
{
    (void)state;
    flood_arg_t a = {.endpoint = s_srv.endpoint};
    pthread_t th;
    uint64_t t0 = tc_now_ms();
    assert_int_equal(pthread_create(&th, NULL, s_flood_main, &a), 0);
    s_probe_while(&a.done, 120000);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    /* Every request is served even though no reply is read: the flood
     * topic had 1 record, and gets all of them. */
    uint64_t next = 0, deadline = tc_now_ms() + 120000;
    while (next < 1 + FLOOD_REQUESTS && tc_now_ms() < deadline) {
        Seglog__V1__Response *r = tc_offsets(s_probe, "flood");
        assert_non_null(r);
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
        next = r->offsets->next_offset;
        tc_free(&r);
        s_probe_once();
        s_sleep_ms(20);
    }
    print_message("%d requests pipelined and never read; all appended after %" PRIu64 " ms\n",
                  a.sent, tc_now_ms() - t0);
    assert_int_equal(next, 1 + FLOOD_REQUESTS);
    tc_raw_close(&a.sock);
    assert_int_equal(s_wait_fds(s_base_fds), s_base_fds);
    s_probe_once();
}

/* The same with consume replies of about 4 KiB: the server queues at most
 * its SNDHWM of them for the connection and drops the rest (counted and
 * logged), so its memory grows by at most SNDHWM x reply size. */
static void test_consume_never_read(void **state)
{
    (void)state;
    Seglog__V1__ConsumeRequest q = SEGLOG__V1__CONSUME_REQUEST__INIT;
    q.topic = "flood";
    q.max_records = 10000;
    q.max_bytes = CONSUME_REPLY_BYTES;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &q;
    size_t len;
    uint8_t *buf = tc_pack(&req, &len);
    void *s = tc_raw_socket(ZMQ_DEALER);
    assert_non_null(s);
    int timeout = TC_TIMEOUT_MS, rcvhwm = 1, rcvbuf = 4096;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(s, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(zmq_connect(s, s_srv.endpoint), 0);
    long rss0 = pi_rss_kib(s_srv.pid);
    for (int i = 0; i < CONSUME_REQUESTS; i++) {
        assert_int_equal(zmq_send(s, buf, len, 0), (int)len);
        if (i % 1000 == 999)
            s_probe_once();
    }
    free(buf);
    /* Now read what reaches us, until a second of silence. */
    s_probe_once();
    int got = 0;
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    while (got < CONSUME_REQUESTS && zmq_poll(&it, 1, 1000) == 1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, s, 0) >= 0);
        assert_true(zmq_msg_size(&m) > CONSUME_REPLY_BYTES / 2);
        zmq_msg_close(&m);
        got++;
        if (got % 1000 == 0)
            s_sample_rss();
    }
    long rss1 = s_max_rss_kib;
    print_message("%d consume requests of %d bytes never read: %d replies arrived, %d dropped; "
                  "VmRSS %ld KiB before, highest %ld KiB\n",
                  CONSUME_REQUESTS, CONSUME_REPLY_BYTES, got, CONSUME_REQUESTS - got, rss0, rss1);
    /* The queue is bounded: far from every reply could be held. */
    assert_true(got > 0 && got < CONSUME_REQUESTS);
    tc_raw_close(&s);
    assert_int_equal(s_wait_fds(s_base_fds), s_base_fds);
    s_probe_once();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_disconnect),     cmocka_unit_test(test_idle_connections),
        cmocka_unit_test(test_thousand_part_messages), cmocka_unit_test(test_pipeline_never_read),
        cmocka_unit_test(test_consume_never_read),
    };
    return cmocka_run_group_tests_name("abuse", tests, s_setup, s_teardown);
}
