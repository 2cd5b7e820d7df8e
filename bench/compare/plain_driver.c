/*
 * plain_driver.c - seglogd driven the way any polyglot user would: libzmq and
 * the protobuf-c code generated from proto/seglog/v1/seglog.proto, nothing
 * of the seglog client library (issue 12).
 *
 *   cmp_plain produce --endpoint EP [--size B] [--batch N] [--clients N] [--window W]
 *                     [--records N] [--topics T]
 *   cmp_plain echo    --endpoint EP [the same]     (against `cmp_limits echo-serve`)
 *   cmp_plain consume --endpoint EP [--size B] [--records N] [--range N]
 *   cmp_plain latency --endpoint EP [--size B] [--records N]
 *
 * produce: each client is a thread with its own DEALER (one context, as
 *   one process of a user would have). It sends W Requests, then for every
 *   reply received (blocking zmq_msg_recv, ZMQ_RCVTIMEO = --timeout-ms) it
 *   checks the reply and sends one new Request: no batching, no polling,
 *   no draining. Each Request is one ProduceRequest of --batch records,
 *   packed with seglog__v1__request__pack into one frame. Checked: every
 *   reply is a ProduceResponse with the next id (replies come in send
 *   order), count == batch, offsets increasing per client; at the end the
 *   offsets of each topic form one contiguous range with nothing twice.
 *   Client i produces to --topic, or to "<topic>-<i % T>" with --topics T.
 * echo: the same clients, the same packed Requests, against a ROUTER that
 *   returns each frame as is; each reply is unpacked as a Request and its
 *   id checked. The ratio produce/echo is then the server's own cost.
 * Both print records/s and the p50/p99 of each request's round trip (send
 *   to reply, so with W in flight it includes the wait in the window).
 * consume: loads --records (untimed, with the produce loop: batches of 100,
 *   W=16), then one DEALER reads them from offset 0 with sequential
 *   ConsumeRequests of --range records, checking every record.
 * latency: --records sequential single-record produces (W=1), then as many
 *   single-record consumes of offsets 0.. (so: a fresh topic, as run.sh
 *   gives it); p50/p99/p99.9 of each.
 * One JSON line on stdout; any error exits 1 (see cmp_util.h).
 */
#include "cmp_util.h"
#include "seglog/v1/seglog.pb-c.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const char *USAGE = "cmp_plain produce|echo|consume|latency --endpoint EP [--size B] "
                           "[--batch N] [--clients N] [--window W] [--records N] [--topics T] "
                           "[--range N] [--label S]";

static cmp_args_t g_a;
static void *g_ctx;
static int g_echo; /* the echo mode: replies are our own Requests */

static void *s_dealer(void)
{
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &g_a.timeout_ms, sizeof g_a.timeout_ms);
    if (zmq_connect(s, g_a.endpoint) != 0)
        cmp_die("plain: connect %s: %s", g_a.endpoint, zmq_strerror(zmq_errno()));
    return s;
}

/* Receive one frame, blocking; a timeout or any error is fatal. */
static void s_recv(void *s, zmq_msg_t *m)
{
    if (zmq_msg_recv(m, s, 0) < 0)
        cmp_die("plain: no reply within %d ms (%s)", g_a.timeout_ms, zmq_strerror(zmq_errno()));
    if (zmq_msg_more(m))
        cmp_die("plain: a reply of more than one frame");
}

static Seglog__V1__Response *s_unpack_response(zmq_msg_t *m, uint64_t id, int body)
{
    Seglog__V1__Response *r = seglog__v1__response__unpack(NULL, zmq_msg_size(m), zmq_msg_data(m));
    if (!r)
        cmp_die("plain: an undecodable reply");
    if (r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR)
        cmp_die("plain: request %" PRIu64 ": error %d: %s", r->id, (int)r->error->code,
                r->error->message);
    if (r->id != id || (int)r->body_case != body)
        cmp_die("plain: reply id %" PRIu64 " body %d, expected id %" PRIu64 " body %d", r->id,
                (int)r->body_case, id, body);
    return r;
}

/* ---- the windowed client (produce and echo) ------------------------------ */

typedef struct {
    int id;
    pthread_barrier_t *start;
    char topic[160];
    uint64_t reqs;     /* requests to send */
    uint64_t *rtt;     /* round trip of each request, ns */
    uint64_t *offsets; /* first offset of each request (produce) */
} client_t;

static void *s_client(void *arg)
{
    client_t *c = arg;
    void *s = s_dealer();
    uint64_t per = c->reqs * (uint64_t)g_a.batch, base = per * (uint64_t)c->id;
    size_t nrec = (size_t)g_a.batch;
    Seglog__V1__Record *recs = calloc(nrec, sizeof *recs);
    Seglog__V1__Record **recp = calloc(nrec, sizeof *recp);
    uint8_t **vals = calloc(nrec, sizeof *vals);
    for (size_t i = 0; i < nrec; i++) {
        seglog__v1__record__init(&recs[i]);
        vals[i] = cmp_value_new(g_a.size);
        recs[i].value.data = vals[i];
        recs[i].value.len = g_a.size;
        recp[i] = &recs[i];
    }
    Seglog__V1__ProduceRequest pr = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    pr.topic = c->topic;
    pr.n_records = nrec;
    pr.records = recp;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &pr;
    size_t cap = 64 + nrec * (g_a.size + 32) + strlen(c->topic);
    uint8_t *buf = malloc(cap);
    uint64_t *t_send = calloc((size_t)g_a.window, sizeof *t_send);
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t sent = 0, got = 0;
    pthread_barrier_wait(c->start);

    for (;;) {
        /* Fill the window: W at the start, then one per reply. */
        while (sent < c->reqs && sent - got < (uint64_t)g_a.window) {
            for (size_t i = 0; i < nrec; i++)
                cmp_value_set_index(vals[i], g_a.size, base + sent * nrec + i);
            req.id = sent + 1;
            size_t len = seglog__v1__request__get_packed_size(&req);
            if (len > cap)
                cmp_die("plain: request of %zu bytes", len);
            seglog__v1__request__pack(&req, buf);
            t_send[sent % (uint64_t)g_a.window] = cmp_now_ns();
            if (zmq_send(s, buf, len, 0) != (int)len)
                cmp_die("plain: send: %s", zmq_strerror(zmq_errno()));
            sent++;
        }
        if (got == c->reqs)
            break;
        s_recv(s, &m);
        c->rtt[got] = cmp_now_ns() - t_send[got % (uint64_t)g_a.window];
        if (g_echo) {
            Seglog__V1__Request *e =
                seglog__v1__request__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            if (!e || e->id != got + 1 || e->body_case != SEGLOG__V1__REQUEST__BODY_PRODUCE ||
                e->produce->n_records != nrec)
                cmp_die("plain: echo: not request %" PRIu64 " back", got + 1);
            seglog__v1__request__free_unpacked(e, NULL);
        } else {
            Seglog__V1__Response *r =
                s_unpack_response(&m, got + 1, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
            if (r->produce->count != nrec)
                cmp_die("plain: %u records appended, %zu sent", r->produce->count, nrec);
            if (got > 0 && r->produce->offset < c->offsets[got - 1] + nrec)
                cmp_die("plain: offset %" PRIu64 " after %" PRIu64 ": not in send order",
                        r->produce->offset, c->offsets[got - 1]);
            c->offsets[got] = r->produce->offset;
            seglog__v1__response__free_unpacked(r, NULL);
        }
        got++;
    }
    zmq_msg_close(&m);
    zmq_close(s);
    for (size_t i = 0; i < nrec; i++)
        free(vals[i]);
    free(vals);
    free(recp);
    free(recs);
    free(buf);
    free(t_send);
    return NULL;
}

/* The offsets of each topic must be one contiguous range, each once. */
static void s_check_offsets(client_t *cs, int n)
{
    for (int t = 0; t < g_a.topics; t++) {
        uint64_t lo = UINT64_MAX, total = 0;
        for (int i = t; i < n; i += g_a.topics) {
            total += cs[i].reqs * (uint64_t)g_a.batch;
            if (cs[i].reqs && cs[i].offsets[0] < lo)
                lo = cs[i].offsets[0];
        }
        uint8_t *seen = calloc((size_t)(total / 8 + 1), 1);
        for (int i = t; i < n; i += g_a.topics)
            for (uint64_t k = 0; k < cs[i].reqs; k++)
                for (uint64_t j = 0; j < (uint64_t)g_a.batch; j++) {
                    uint64_t o = cs[i].offsets[k] + j - lo;
                    if (o >= total || (seen[o / 8] & (1u << (o % 8))))
                        cmp_die("plain: topic %s: offset %" PRIu64 " twice or outside [%" PRIu64
                                ", %" PRIu64 ")",
                                cs[t].topic, o + lo, lo, lo + total);
                    seen[o / 8] |= (uint8_t)(1u << (o % 8));
                }
        free(seen);
    }
}

/* Run --clients windowed clients; returns the seconds from the common start
 * to the last reply, and (if rtt) all round trips in one array. */
static double s_run_clients(uint64_t **rtt_all, size_t *nrtt)
{
    client_t cs[CMP_MAX_CLIENTS];
    pthread_t th[CMP_MAX_CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)g_a.clients + 1);
    uint64_t reqs = g_a.records / (uint64_t)g_a.clients / (uint64_t)g_a.batch;
    for (int i = 0; i < g_a.clients; i++) {
        cs[i] = (client_t){.id = i, .start = &start, .reqs = reqs};
        cmp_topic_of(&g_a, i, cs[i].topic, sizeof cs[i].topic);
        cs[i].rtt = calloc(reqs, sizeof(uint64_t));
        cs[i].offsets = calloc(reqs, sizeof(uint64_t));
        if (!cs[i].rtt || !cs[i].offsets)
            cmp_die("plain: out of memory");
        pthread_create(&th[i], NULL, s_client, &cs[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = cmp_now_ns();
    for (int i = 0; i < g_a.clients; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&start);
    if (!g_echo)
        s_check_offsets(cs, g_a.clients);
    size_t n = (size_t)reqs * (size_t)g_a.clients;
    uint64_t *all = rtt_all ? malloc(n * sizeof *all) : NULL;
    for (int i = 0; i < g_a.clients; i++) {
        if (all)
            memcpy(all + (size_t)i * reqs, cs[i].rtt, reqs * sizeof *all);
        free(cs[i].rtt);
        free(cs[i].offsets);
    }
    if (rtt_all) {
        *rtt_all = all;
        *nrtt = n;
    }
    return secs;
}

static void s_produce(void)
{
    uint64_t *rtt;
    size_t n;
    double secs = s_run_clients(&rtt, &n);
    cmp_json_begin(g_echo ? "echo" : "plain", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_num("p50_us", cmp_pct_us(rtt, n, 0.50));
    cmp_json_num("p99_us", cmp_pct_us(rtt, n, 0.99));
    cmp_json_end();
    free(rtt);
}

/* ---- consume and latency ------------------------------------------------- */

/* One ConsumeRequest from `off`, at most max records; the reply's records
 * must be off, off+1, ... with the driver's values. Returns how many came. */
static size_t s_consume_one(void *s, zmq_msg_t *m, uint64_t id, uint64_t off, uint32_t max)
{
    Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
    cr.topic = (char *)g_a.topic;
    cr.offset = off;
    cr.max_records = max;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = id;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &cr;
    uint8_t buf[512];
    size_t len = seglog__v1__request__get_packed_size(&req);
    if (len > sizeof buf)
        cmp_die("plain: topic name too long");
    seglog__v1__request__pack(&req, buf);
    if (zmq_send(s, buf, len, 0) != (int)len)
        cmp_die("plain: send: %s", zmq_strerror(zmq_errno()));
    s_recv(s, m);
    Seglog__V1__Response *r = s_unpack_response(m, id, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    size_t n = r->consume->n_records;
    if (n == 0)
        cmp_die("plain: empty consume at %" PRIu64, off);
    for (size_t i = 0; i < n; i++) {
        const Seglog__V1__Record *rec = r->consume->records[i];
        if (rec->offset != off + i || rec->value.len != g_a.size ||
            cmp_value_index(rec->value.data, rec->value.len) != off + i)
            cmp_die("plain: wrong record at offset %" PRIu64, off + i);
    }
    seglog__v1__response__free_unpacked(r, NULL);
    return n;
}

static void s_consume(void)
{
    cmp_args_t want = g_a; /* load, untimed: one client, batches of 100, W=16 */
    g_a.clients = 1;
    g_a.topics = 1;
    g_a.batch = g_a.records % 100 == 0 ? 100 : 1;
    g_a.window = 16;
    s_run_clients(NULL, NULL);
    g_a = want;

    void *s = s_dealer();
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t off = 0, id = 0, t0 = cmp_now_ns();
    while (off < g_a.records)
        off += s_consume_one(s, &m, ++id, off, (uint32_t)g_a.range);
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    zmq_msg_close(&m);
    zmq_close(s);
    cmp_json_begin("plain", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

static void s_latency(void)
{
    cmp_args_t want = g_a; /* produce: one client, W=1, single records */
    g_a.clients = 1;
    g_a.topics = 1;
    g_a.batch = 1;
    g_a.window = 1;
    uint64_t *prod;
    size_t n;
    s_run_clients(&prod, &n);
    g_a = want;

    void *s = s_dealer();
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t *cons = calloc(n, sizeof *cons);
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = cmp_now_ns();
        s_consume_one(s, &m, i + 1, i, 1);
        cons[i] = cmp_now_ns() - t0;
    }
    zmq_msg_close(&m);
    zmq_close(s);
    cmp_json_begin("plain", &g_a);
    cmp_json_num("produce_p50_us", cmp_pct_us(prod, n, 0.50));
    cmp_json_num("produce_p99_us", cmp_pct_us(prod, n, 0.99));
    cmp_json_num("produce_p999_us", cmp_pct_us(prod, n, 0.999));
    cmp_json_num("consume_p50_us", cmp_pct_us(cons, n, 0.50));
    cmp_json_num("consume_p99_us", cmp_pct_us(cons, n, 0.99));
    cmp_json_num("consume_p999_us", cmp_pct_us(cons, n, 0.999));
    cmp_json_end();
    free(prod);
    free(cons);
}

int main(int argc, char **argv)
{
    cmp_args_parse(argc, argv, &g_a, USAGE);
    if (!g_a.endpoint)
        cmp_die("plain: --endpoint is required");
    g_ctx = zmq_ctx_new();
    if (!strcmp(g_a.mode, "produce"))
        s_produce();
    else if (!strcmp(g_a.mode, "echo")) {
        g_echo = 1;
        s_produce();
    } else if (!strcmp(g_a.mode, "consume"))
        s_consume();
    else if (!strcmp(g_a.mode, "latency"))
        s_latency();
    else
        cmp_die("plain: unknown mode %s\nusage: %s", g_a.mode, USAGE);
    zmq_ctx_term(g_ctx);
    return 0;
}
