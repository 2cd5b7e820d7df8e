/*
 * server_bench.c - seglogd over TCP loopback, next to the transport limit.
 *
 *   server_bench [--sync none|always|interval:MS] [--workers N] [--scale F]
 *   server_bench --endpoint tcp://H:P --pub-endpoint tcp://H:Q   (a running server)
 *
 * Without --endpoint it starts a server in-process on 127.0.0.1:* with a
 * temporary data directory (removed at the end). For 100 B and 1 KiB
 * records it reports:
 *   - produce records/s, 1 and 4 clients, single-record and batch-100
 *     requests, pipelined (a window of requests in flight per client);
 *   - consume records/s in ranges of 1000, 1 and 4 clients;
 *   - round-trip latency of one produce and one consume (p50, p99);
 *   - PUB delivery: of N produced records, how many 1 and 4 subscribers
 *     receive, and the produce-to-receive latency (p50, p99);
 *   - the transport limit: a trivial ROUTER that echoes each message, driven
 *     the same way with the same message sizes;
 *   - idempotent against plain produce (--only idem; not in the default
 *     set): each client asks InitProducerId and numbers its batches, the
 *     two kinds alternate run by run, and the ratio is idempotent/plain.
 *   - with --only curve (not in the default set): CURVE against plaintext in
 *     the same run (docs/SECURITY.md): a second in-process server with a
 *     fresh certificate, zauth and a clients dir, and the same produce
 *     (100 B and 1 KiB, single and batch-100) and consume runs alternating
 *     between the two; the ratio is CURVE / plaintext.
 * Numbers go to stdout as one table per section.
 */
#include "seglog/server.h"
#include "seglog/v1/seglog.pb-c.h"

#include <czmq.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WINDOW     256 /* requests in flight per client */
#define TIMEOUT_MS 30000

static void *g_ctx;
static double g_scale = 1.0;
/* --only curve: client sockets to this endpoint use CURVE with these keys. */
static char g_curve_ep[256], g_curve_echo_ep[256];
static zcert_t *g_curve_server, *g_curve_client;
static pthread_t g_curve_echo;
static int g_curve_echo_started;

static void s_secure(void *s, const char *endpoint)
{
    if ((g_curve_ep[0] && strcmp(endpoint, g_curve_ep) == 0) ||
        (g_curve_echo_ep[0] && strcmp(endpoint, g_curve_echo_ep) == 0)) {
        zcert_apply(g_curve_client, s);
        zsock_set_curve_serverkey(s, zcert_public_txt(g_curve_server));
    }
}

static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int s_scaled(int n)
{
    int v = (int)(n * g_scale);
    return v < 1 ? 1 : v;
}

static void s_die(const char *what)
{
    fprintf(stderr, "server_bench: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, s_cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i] / 1000.0; /* ns -> us */
}

/* ---- request encoding --------------------------------------------------- */

/* A packed produce request of batch records of size bytes each; the first
 * 8 bytes of every value hold the send time (for PUB latency). */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint8_t *value;
} req_t;

static void s_pack_produce(req_t *r, const char *topic, int batch, size_t size, uint64_t id,
                           uint64_t stamp, uint64_t pid, uint64_t seq)
{
    if (!r->value) {
        r->value = calloc(1, size < 8 ? 8 : size);
        memset(r->value, 'v', size);
    }
    memcpy(r->value, &stamp, size < 8 ? size : 8);
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = r->value;
    rec.value.len = size;
    Seglog__V1__Record *ptrs[100];
    for (int i = 0; i < batch; i++)
        ptrs[i] = &rec;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = (char *)topic;
    p.n_records = (size_t)batch;
    p.records = ptrs;
    p.producer_id = pid;
    p.sequence = seq;
    Seglog__V1__Request q = SEGLOG__V1__REQUEST__INIT;
    q.id = id;
    q.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    q.produce = &p;
    size_t n = seglog__v1__request__get_packed_size(&q);
    if (n > r->cap) {
        r->buf = realloc(r->buf, n);
        r->cap = n;
    }
    r->len = seglog__v1__request__pack(&q, r->buf);
}

static void s_pack_consume(req_t *r, const char *topic, uint64_t offset, uint32_t max, uint64_t id)
{
    Seglog__V1__ConsumeRequest c = SEGLOG__V1__CONSUME_REQUEST__INIT;
    c.topic = (char *)topic;
    c.offset = offset;
    c.max_records = max;
    Seglog__V1__Request q = SEGLOG__V1__REQUEST__INIT;
    q.id = id;
    q.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    q.consume = &c;
    size_t n = seglog__v1__request__get_packed_size(&q);
    if (n > r->cap) {
        r->buf = realloc(r->buf, n);
        r->cap = n;
    }
    r->len = seglog__v1__request__pack(&q, r->buf);
}

static void s_req_free(req_t *r)
{
    free(r->buf);
    free(r->value);
    memset(r, 0, sizeof *r);
}

/* ---- a pipelined client ------------------------------------------------- */

typedef enum { OP_PRODUCE, OP_CONSUME, OP_ECHO } op_t;

typedef struct {
    const char *endpoint;
    const char *topic;
    op_t op;
    int requests;         /* to send */
    int batch;            /* records per produce */
    size_t size;          /* bytes per record value */
    uint64_t consume_end; /* consume: ranges cover [0, consume_end) */
    int window;
    int idem;     /* produce: idempotently (InitProducerId, then sequences 0, 1, ...) */
    uint64_t pid; /* the producer id (idem) */
    /* results */
    uint64_t records; /* produced or consumed */
    uint64_t cpu_ns;  /* CPU time of this client's thread */
    int failed;
} client_t;

static void s_make(client_t *c, req_t *r, int i)
{
    if (c->op == OP_CONSUME) {
        uint64_t ranges = (c->consume_end + 999) / 1000;
        s_pack_consume(r, c->topic, ((uint64_t)i % ranges) * 1000, 1000, (uint64_t)i + 1);
    } else {
        s_pack_produce(r, c->topic, c->batch, c->size, (uint64_t)i + 1, s_now_ns(), c->pid,
                       c->idem ? (uint64_t)i : 0);
    }
}

/* Count what the reply confirms. -1 if it is an error. */
static int64_t s_check(client_t *c, const void *data, size_t len)
{
    if (c->op == OP_ECHO)
        return c->batch;
    Seglog__V1__Response *r = seglog__v1__response__unpack(NULL, len, data);
    int64_t n = -1;
    if (r && c->op == OP_PRODUCE && r->body_case == SEGLOG__V1__RESPONSE__BODY_PRODUCE)
        n = r->produce->count;
    else if (r && c->op == OP_CONSUME && r->body_case == SEGLOG__V1__RESPONSE__BODY_CONSUME)
        n = (int64_t)r->consume->n_records;
    if (r && n < 0 && r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR)
        fprintf(stderr, "server_bench: error reply: %s\n", r->error->message);
    if (r)
        seglog__v1__response__free_unpacked(r, NULL);
    return n;
}

/* InitProducerId on socket s: the id, or 0 (printed). */
static uint64_t s_init_pid(void *s)
{
    Seglog__V1__InitProducerIdRequest ip = SEGLOG__V1__INIT_PRODUCER_ID_REQUEST__INIT;
    Seglog__V1__Request q = SEGLOG__V1__REQUEST__INIT;
    q.id = UINT64_MAX;
    q.body_case = SEGLOG__V1__REQUEST__BODY_INIT_PRODUCER_ID;
    q.init_producer_id = &ip;
    uint8_t buf[64];
    size_t n = seglog__v1__request__pack(&q, buf);
    if (zmq_send(s, buf, n, 0) < 0)
        s_die("send");
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    uint64_t pid = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_poll(&it, 1, TIMEOUT_MS) > 0 && zmq_msg_recv(&m, s, 0) >= 0) {
        Seglog__V1__Response *r =
            seglog__v1__response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        if (r && r->body_case == SEGLOG__V1__RESPONSE__BODY_INIT_PRODUCER_ID)
            pid = r->init_producer_id->producer_id;
        if (r)
            seglog__v1__response__free_unpacked(r, NULL);
    }
    zmq_msg_close(&m);
    if (!pid)
        fprintf(stderr, "server_bench: InitProducerId failed\n");
    return pid;
}

static uint64_t s_cpu_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *s_client(void *arg)
{
    client_t *c = arg;
    uint64_t cpu0 = s_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int linger = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    s_secure(s, c->endpoint);
    if (zmq_connect(s, c->endpoint) != 0)
        s_die("connect");
    if (c->idem && !(c->pid = s_init_pid(s))) {
        c->failed = 1;
        zmq_close(s);
        return NULL;
    }
    req_t r = {0};
    int sent = 0, got = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (got < c->requests && !c->failed) {
        while (sent < c->requests && sent - got < c->window) {
            s_make(c, &r, sent);
            if (zmq_send(s, r.buf, r.len, 0) < 0)
                s_die("send");
            sent++;
        }
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, TIMEOUT_MS) <= 0) {
            fprintf(stderr, "server_bench: timeout waiting for replies\n");
            c->failed = 1;
            break;
        }
        while (got < c->requests && zmq_msg_recv(&m, s, ZMQ_DONTWAIT) >= 0) {
            int64_t n = s_check(c, zmq_msg_data(&m), zmq_msg_size(&m));
            if (n < 0)
                c->failed = 1;
            else
                c->records += (uint64_t)n;
            got++;
        }
    }
    zmq_msg_close(&m);
    s_req_free(&r);
    zmq_close(s);
    c->cpu_ns = s_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    return NULL;
}

/* CPU time per record of the last s_run_ex outside its client threads:
 * the in-process server's threads and the clients' ZeroMQ I/O thread.
 * Less sensitive to other load on the machine than records/s. */
static double g_last_cpu_ns_per_record;

/* Run n clients; returns records/s (0 if any failed). */
static double s_run_ex(const char *endpoint, const char *topic, op_t op, int nclients,
                       int requests, int batch, size_t size, uint64_t consume_end, int window,
                       int idem)
{
    client_t cs[8];
    pthread_t th[8];
    uint64_t t0 = s_now_ns(), cpu0 = s_cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < nclients; i++) {
        cs[i] = (client_t){.endpoint = endpoint,
                           .topic = topic,
                           .op = op,
                           .requests = requests,
                           .batch = batch,
                           .size = size,
                           .consume_end = consume_end,
                           .window = window,
                           .idem = idem};
        pthread_create(&th[i], NULL, s_client, &cs[i]);
    }
    uint64_t total = 0, client_cpu = 0;
    int failed = 0;
    for (int i = 0; i < nclients; i++) {
        pthread_join(th[i], NULL);
        total += cs[i].records;
        client_cpu += cs[i].cpu_ns;
        failed |= cs[i].failed;
    }
    double secs = (double)(s_now_ns() - t0) / 1e9;
    uint64_t cpu = s_cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    g_last_cpu_ns_per_record =
        total && cpu > client_cpu ? (double)(cpu - client_cpu) / (double)total : 0;
    return failed ? 0 : (double)total / secs;
}

static double s_run(const char *endpoint, const char *topic, op_t op, int nclients, int requests,
                    int batch, size_t size, uint64_t consume_end, int window)
{
    return s_run_ex(endpoint, topic, op, nclients, requests, batch, size, consume_end, window, 0);
}

/* ---- latency ------------------------------------------------------------ */

static void s_latency(const char *endpoint, const char *topic, op_t op, size_t size, int n,
                      double *p50, double *p99)
{
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, endpoint) != 0)
        s_die("connect");
    uint64_t *lat = calloc((size_t)n, sizeof *lat);
    req_t r = {0};
    client_t c = {.topic = topic, .op = op, .batch = 1, .size = size, .consume_end = 1000};
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (op == OP_CONSUME)
            s_pack_consume(&r, topic, (uint64_t)i % 1000, 1, (uint64_t)i + 1);
        else
            s_pack_produce(&r, topic, 1, size, (uint64_t)i + 1, 0, 0, 0);
        uint64_t t0 = s_now_ns();
        if (zmq_send(s, r.buf, r.len, 0) < 0)
            s_die("send");
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, TIMEOUT_MS) <= 0)
            break;
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, s, 0);
        lat[ok] = s_now_ns() - t0;
        if (op == OP_ECHO || s_check(&c, zmq_msg_data(&m), zmq_msg_size(&m)) >= 0)
            ok++;
        zmq_msg_close(&m);
    }
    *p50 = s_pct(lat, (size_t)ok, 0.50);
    *p99 = s_pct(lat, (size_t)ok, 0.99);
    free(lat);
    s_req_free(&r);
    zmq_close(s);
}

/* ---- PUB delivery ------------------------------------------------------- */

typedef struct {
    const char *pub;
    const char *topic;
    uint64_t first, end; /* offsets the producer will write */
    atomic_int *ready;
    uint64_t received;
    uint64_t *lat;
    size_t nlat;
} sub_t;

static void *s_subscriber(void *arg)
{
    sub_t *sb = arg;
    void *s = zmq_socket(g_ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, sb->pub);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, sb->topic, strlen(sb->topic));
    size_t tlen = strlen(sb->topic);
    int live = 0;
    zmq_msg_t t, ev;
    zmq_msg_init(&t);
    zmq_msg_init(&ev);
    for (;;) {
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, live ? 2000 : TIMEOUT_MS) <= 0)
            break; /* 2 s of silence after going live: done */
        if (zmq_msg_recv(&t, s, 0) < 0 || zmq_msg_recv(&ev, s, 0) < 0)
            break;
        uint64_t now = s_now_ns();
        if (zmq_msg_size(&t) != tlen || memcmp(zmq_msg_data(&t), sb->topic, tlen) != 0)
            continue;
        Seglog__V1__Event *e =
            seglog__v1__event__unpack(NULL, zmq_msg_size(&ev), zmq_msg_data(&ev));
        if (!e)
            continue;
        if (e->body_case == SEGLOG__V1__EVENT__BODY_HEARTBEAT && !live) {
            live = 1; /* the subscription is active */
            atomic_fetch_add(sb->ready, 1);
        } else if (e->body_case == SEGLOG__V1__EVENT__BODY_RECORD && live &&
                   e->record->offset >= sb->first && e->record->offset < sb->end) {
            uint64_t sent = 0;
            if (e->record->value.len >= 8)
                memcpy(&sent, e->record->value.data, 8);
            if (sb->nlat < sb->end - sb->first)
                sb->lat[sb->nlat++] = now - sent;
            sb->received++;
            if (e->record->offset == sb->end - 1) {
                seglog__v1__event__free_unpacked(e, NULL);
                break;
            }
        }
        seglog__v1__event__free_unpacked(e, NULL);
    }
    zmq_msg_close(&t);
    zmq_msg_close(&ev);
    zmq_close(s);
    return NULL;
}

static uint64_t s_next_offset(const char *endpoint, const char *topic)
{
    void *s = zmq_socket(g_ctx, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    s_secure(s, endpoint);
    zmq_connect(s, endpoint);
    Seglog__V1__OffsetsRequest o = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    o.topic = (char *)topic;
    Seglog__V1__Request q = SEGLOG__V1__REQUEST__INIT;
    q.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    q.offsets = &o;
    uint8_t buf[256];
    size_t n = seglog__v1__request__pack(&q, buf);
    zmq_send(s, buf, n, 0);
    uint64_t next = 0;
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, TIMEOUT_MS) > 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, s, 0);
        Seglog__V1__Response *r =
            seglog__v1__response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        if (r && r->body_case == SEGLOG__V1__RESPONSE__BODY_OFFSETS)
            next = r->offsets->next_offset;
        if (r)
            seglog__v1__response__free_unpacked(r, NULL);
        zmq_msg_close(&m);
    }
    zmq_close(s);
    return next;
}

typedef struct {
    double rate;     /* produce records/s */
    double received; /* worst subscriber's share of the records, 0..1 */
    double p50, p99; /* produce-to-receive, ms */
} pub_result_t;

static pub_result_t s_pub_delivery(const char *endpoint, const char *pub, size_t size, int nsubs,
                                   int records)
{
    char topic[64];
    snprintf(topic, sizeof topic, "pub-%zu-%d", size, nsubs);
    /* Create the topic so that it has heartbeats, then go live. */
    s_run(endpoint, topic, OP_PRODUCE, 1, 1, 1, size, 0, 1);
    uint64_t first = s_next_offset(endpoint, topic);
    atomic_int ready = 0;
    sub_t sb[4];
    pthread_t th[4];
    for (int i = 0; i < nsubs; i++) {
        sb[i] = (sub_t){pub, topic, first, first + (uint64_t)records, &ready, 0, NULL, 0};
        sb[i].lat = calloc((size_t)records, sizeof *sb[i].lat);
        pthread_create(&th[i], NULL, s_subscriber, &sb[i]);
    }
    uint64_t deadline = s_now_ns() + 10ull * 1000000000u;
    while (atomic_load(&ready) < nsubs && s_now_ns() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* waiting for the subscribers' first heartbeat */
    }
    /* Single-record produces, pipelined: every record is its own message. */
    pub_result_t res = {0};
    res.rate = s_run(endpoint, topic, OP_PRODUCE, 1, records, 1, size, 0, 64);
    uint64_t min_rx = UINT64_MAX;
    uint64_t *all = calloc((size_t)records * (size_t)nsubs, sizeof *all);
    size_t nall = 0;
    for (int i = 0; i < nsubs; i++) {
        pthread_join(th[i], NULL);
        if (sb[i].received < min_rx)
            min_rx = sb[i].received;
        memcpy(all + nall, sb[i].lat, sb[i].nlat * sizeof *all);
        nall += sb[i].nlat;
        free(sb[i].lat);
    }
    res.received = (double)min_rx / records;
    res.p50 = s_pct(all, nall, 0.5) / 1000.0; /* us -> ms */
    res.p99 = s_pct(all, nall, 0.99) / 1000.0;
    free(all);
    return res;
}

/* ---- the transport limit: a ROUTER that echoes -------------------------- */

static atomic_int g_echo_stop;

static void *s_echo(void *arg)
{
    void *s = arg;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (!atomic_load(&g_echo_stop)) {
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        for (int k = 0; k < 1024; k++) {
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0)
                break;
            zmq_msg_send(&m, s, (zmq_msg_more(&m) ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
        }
    }
    zmq_msg_close(&m);
    zmq_close(s);
    return NULL;
}

/* ---- main --------------------------------------------------------------- */

/* The machine is shared: print the load average next to the figures. */
static void s_print_load(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            strcpy(buf, "?");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("load average (%s): %s\n", when, buf);
}

static int s_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* ---- repetitions ------------------------------------------------------- */

#define MAX_RUNS 9

static int g_runs = 3;
/* --size, --batch, --clients: run only the produce rows that match (0: all) */
static int g_only_size, g_only_batch, g_only_clients;
static int g_no_echo; /* --no-echo: server runs only (profiling the client side) */

typedef struct {
    double v[MAX_RUNS];
    int n;
} series_t;

static int s_cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_add(series_t *s, double v)
{
    if (s->n < MAX_RUNS)
        s->v[s->n++] = v;
}

static double s_med(const series_t *s)
{
    if (s->n == 0)
        return 0;
    double v[MAX_RUNS];
    memcpy(v, s->v, (size_t)s->n * sizeof *v);
    qsort(v, (size_t)s->n, sizeof *v, s_cmp_dbl);
    return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static double s_min(const series_t *s)
{
    double m = s->n ? s->v[0] : 0;
    for (int i = 1; i < s->n; i++)
        m = s->v[i] < m ? s->v[i] : m;
    return m;
}

static double s_max(const series_t *s)
{
    double m = s->n ? s->v[0] : 0;
    for (int i = 1; i < s->n; i++)
        m = s->v[i] > m ? s->v[i] : m;
    return m;
}

/* "1.26M", "548k", "76" */
static const char *s_si(char *buf, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, cap, "%.0fk", v / 1e3);
    else if (v >= 100)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.2f", v);
    return buf;
}

/* "med (min-max)" of a series, into buf. */
static const char *s_fmt(char *buf, size_t cap, const series_t *s)
{
    char a[16], b[16], c[16];
    snprintf(buf, cap, "%s (%s-%s)", s_si(a, sizeof a, s_med(s)), s_si(b, sizeof b, s_min(s)),
             s_si(c, sizeof c, s_max(s)));
    return buf;
}

/* Sections, for --only (profiling one phase). */
enum { SEC_PRODUCE = 1, SEC_CONSUME = 2, SEC_LATENCY = 4, SEC_PUB = 8, SEC_IDEM = 16,
       SEC_CURVE = 32 };

static int s_sections(const char *list)
{
    int m = 0;
    if (strstr(list, "produce"))
        m |= SEC_PRODUCE;
    if (strstr(list, "consume"))
        m |= SEC_CONSUME;
    if (strstr(list, "latency"))
        m |= SEC_LATENCY;
    if (strstr(list, "pub"))
        m |= SEC_PUB;
    if (strstr(list, "idem"))
        m |= SEC_IDEM;
    if (strstr(list, "curve"))
        m |= SEC_CURVE;
    return m;
}

/* CURVE against plaintext (--only curve): a second in-process server like
 * the first plus --curve-cert/--clients-dir, the runs alternating. */
static void *s_echo(void *arg);

/* The transport alone: the echo ROUTER against one with CURVE (no ZAP
 * handler in this context: any client key is accepted), same messages. */
static void s_curve_echo_rows(const char *eep)
{
    void *echo = zmq_socket(g_ctx, ZMQ_ROUTER);
    int hwm = 100000;
    size_t cap = sizeof g_curve_echo_ep;
    zmq_setsockopt(echo, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(echo, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zcert_apply(g_curve_server, echo);
    zsock_set_curve_server(echo, 1);
    if (zmq_bind(echo, "tcp://127.0.0.1:*") != 0)
        s_die("bind curve echo");
    zmq_getsockopt(echo, ZMQ_LAST_ENDPOINT, g_curve_echo_ep, &cap);
    pthread_create(&g_curve_echo, NULL, s_echo, echo);
    g_curve_echo_started = 1;
    char b1[64], b2[64], b3[64];
    const size_t sizes[] = {100, 1024};
    for (int si = 0; si < 2; si++)
        for (int batch = 1; batch <= 100; batch *= 100) {
            int total = batch == 1 ? s_scaled(100000) : s_scaled(1000000);
            int window = batch == 1 ? WINDOW : 16;
            series_t p = {0}, c = {0}, ratio = {0};
            for (int run = 0; run < g_runs; run++) {
                double a = s_run(eep, "echo", OP_ECHO, 1, total / batch, batch, sizes[si], 0,
                                 window);
                double b = s_run(g_curve_echo_ep, "echo", OP_ECHO, 1, total / batch, batch,
                                 sizes[si], 0, window);
                s_add(&p, a);
                s_add(&c, b);
                s_add(&ratio, a > 0 ? b / a : 0);
            }
            printf("  echo    %5zu B  batch %-3d              %-22s  %-22s  %s\n", sizes[si],
                   batch, s_fmt(b1, sizeof b1, &p), s_fmt(b2, sizeof b2, &c),
                   s_fmt(b3, sizeof b3, &ratio));
            fflush(stdout);
        }
}

static void s_curve_section(const seglog_server_config_t *base, const char *plain_ep,
                            const char *eep)
{
    char dir[] = "/tmp/seglog-bench-curve-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return;
    }
    char clients[300], cert[300], data[300];
    snprintf(clients, sizeof clients, "%s/clients", dir);
    snprintf(cert, sizeof cert, "%s/server.key", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    zsys_dir_create(clients);
    g_curve_server = zcert_new();
    g_curve_client = zcert_new();
    zcert_save(g_curve_server, cert);
    char pub[320];
    snprintf(pub, sizeof pub, "%s/bench.key", clients);
    zcert_save_public(g_curve_client, pub);
    seglog_server_config_t cfg = *base;
    cfg.data_dir = data;
    cfg.curve_cert = cert;
    cfg.clients_dir = clients;
    seglog_server_t *srv = NULL;
    int rc = seglog_server_new(&cfg, &srv);
    if (rc) {
        fprintf(stderr, "server_bench: cannot start the CURVE server: %s\n",
                seglog_server_strerror(rc));
        return;
    }
    snprintf(g_curve_ep, sizeof g_curve_ep, "%s", seglog_server_endpoint(srv));
    printf("\nCURVE vs plaintext, 1 client (records/s)   plaintext               CURVE"
           "                   ratio\n");
    char b1[64], b2[64], b3[64];
    const size_t sizes[] = {100, 1024};
    for (int si = 0; si < 2; si++)
        for (int batch = 1; batch <= 100; batch *= 100) {
            int total = batch == 1 ? s_scaled(100000) : s_scaled(1000000);
            int window = batch == 1 ? WINDOW : 16;
            char topic[64];
            snprintf(topic, sizeof topic, "cv-%zu-%d", sizes[si], batch);
            series_t p = {0}, c = {0}, ratio = {0};
            for (int run = 0; run < g_runs; run++) {
                double a = s_run(plain_ep, topic, OP_PRODUCE, 1, total / batch, batch,
                                 sizes[si], 0, window);
                double b = s_run(g_curve_ep, topic, OP_PRODUCE, 1, total / batch, batch,
                                 sizes[si], 0, window);
                s_add(&p, a);
                s_add(&c, b);
                s_add(&ratio, a > 0 ? b / a : 0);
            }
            printf("  produce %5zu B  batch %-3d              %-22s  %-22s  %s\n", sizes[si],
                   batch, s_fmt(b1, sizeof b1, &p), s_fmt(b2, sizeof b2, &c),
                   s_fmt(b3, sizeof b3, &ratio));
            fflush(stdout);
        }
    for (int si = 0; si < 2; si++) {
        char topic[64];
        snprintf(topic, sizeof topic, "cv-%zu-100", sizes[si]); /* filled above */
        uint64_t ends[2] = {s_next_offset(plain_ep, topic), s_next_offset(g_curve_ep, topic)};
        series_t p = {0}, c = {0}, ratio = {0};
        for (int run = 0; run < g_runs; run++) {
            int reqs = s_scaled(1000);
            double a = s_run(plain_ep, topic, OP_CONSUME, 1, reqs, 1, sizes[si], ends[0], 4);
            double b = s_run(g_curve_ep, topic, OP_CONSUME, 1, reqs, 1, sizes[si], ends[1], 4);
            s_add(&p, a);
            s_add(&c, b);
            s_add(&ratio, a > 0 ? b / a : 0);
        }
        printf("  consume %5zu B  ranges of 1000         %-22s  %-22s  %s\n", sizes[si],
               s_fmt(b1, sizeof b1, &p), s_fmt(b2, sizeof b2, &c), s_fmt(b3, sizeof b3, &ratio));
        fflush(stdout);
    }
    if (!g_no_echo)
        s_curve_echo_rows(eep);
    g_curve_ep[0] = '\0';
    seglog_server_destroy(&srv);
    zcert_destroy(&g_curve_server);
    zcert_destroy(&g_curve_client);
    nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The echo ROUTER: same socket options as the benchmark clients expect
 * (no HWM in the way of the window). Returns its endpoint in eep. */
static pthread_t s_echo_start(char *eep, size_t cap)
{
    void *echo = zmq_socket(g_ctx, ZMQ_ROUTER);
    int hwm = 100000;
    zmq_setsockopt(echo, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(echo, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(echo, "tcp://127.0.0.1:*") != 0)
        s_die("bind echo");
    zmq_getsockopt(echo, ZMQ_LAST_ENDPOINT, eep, &cap);
    pthread_t eth;
    pthread_create(&eth, NULL, s_echo, echo);
    return eth;
}

int main(int argc, char **argv)

{
    const char *endpoint = NULL, *pub = NULL;
    int only = SEC_PRODUCE | SEC_CONSUME | SEC_LATENCY | SEC_PUB;
    seglog_server_config_t cfg;
    seglog_server_config_default(&cfg);
    cfg.bind = "tcp://127.0.0.1:*";
    cfg.pub = "tcp://127.0.0.1:*";
    cfg.pub_hwm = 100000;
    /* The server's default policy (interval:1000), unless --sync says otherwise. */
    char sync_default[32];
    snprintf(sync_default, sizeof sync_default, "interval:%" PRIu32, cfg.sync_interval_ms);
    const char *sync_name = sync_default;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--endpoint") == 0) {
            endpoint = argv[i + 1];
        } else if (strcmp(argv[i], "--pub-endpoint") == 0) {
            pub = argv[i + 1];
        } else if (strcmp(argv[i], "--workers") == 0) {
            cfg.workers = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--scale") == 0) {
            g_scale = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--runs") == 0) {
            g_runs = atoi(argv[i + 1]);
            g_runs = g_runs < 1 ? 1 : g_runs > MAX_RUNS ? MAX_RUNS : g_runs;
        } else if (strcmp(argv[i], "--no-echo") == 0) {
            g_no_echo = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--size") == 0) {
            g_only_size = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--batch") == 0) {
            g_only_batch = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--clients") == 0) {
            g_only_clients = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--only") == 0) {
            only = s_sections(argv[i + 1]);
        } else if (strcmp(argv[i], "--sync") == 0) {
            sync_name = argv[i + 1];
            if (strcmp(sync_name, "always") == 0)
                cfg.sync = SEGLOG_SYNC_ALWAYS;
            else if (strcmp(sync_name, "none") == 0)
                cfg.sync = SEGLOG_SYNC_NONE;
            else if (strncmp(sync_name, "interval:", 9) == 0) {
                cfg.sync = SEGLOG_SYNC_INTERVAL;
                cfg.sync_interval_ms = (uint32_t)atoi(sync_name + 9);
            } else {
                fprintf(stderr, "server_bench: unknown sync policy %s\n", sync_name);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: server_bench [--endpoint EP --pub-endpoint EP] "
                            "[--sync none|always|interval:MS] [--workers N] [--scale F] [--runs N] "
                            "[--only produce,consume,latency,pub,idem,curve] [--size B] [--batch N] "
                            "[--clients N] [--no-echo 1]\n");
            return 2;
        }
    }
    g_ctx = zmq_ctx_new();
    seglog_server_t *srv = NULL;
    char dir[] = "/tmp/seglog-bench-XXXXXX";
    if (!endpoint) {
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        cfg.data_dir = dir;
        int rc = seglog_server_new(&cfg, &srv);
        if (rc) {
            fprintf(stderr, "server_bench: cannot start server: %s\n", seglog_strerror(rc));
            return 1;
        }
        endpoint = seglog_server_endpoint(srv);
        pub = seglog_server_pub_endpoint(srv);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("seglog server_bench: %s, sync=%s, %ld CPUs, TCP loopback, window %d requests per "
           "client\n",
           srv ? "in-process server" : endpoint, srv ? sync_name : "(server's)", ncpu, WINDOW);
    if (srv)
        printf("workers %d%s\n", cfg.workers, cfg.workers ? "" : " (one per CPU)");
    s_print_load("start");
    printf("\n");

    char eep[256];
    pthread_t eth = s_echo_start(eep, sizeof eep);
    printf("Each figure: median of %d runs (min-max). Server and echo runs alternate; the ratio\n"
           "is the median over the runs of server/echo.\n",
           g_runs);

    const size_t sizes[] = {100, 1024};
    char b1[64], b2[64], b3[64];
    if (only & SEC_PRODUCE) {
        printf("\nproduce, pipelined (records/s)        server                  echo (limit)"
               "            ratio\n");
        for (int si = 0; si < 2; si++)
            for (int batch = 1; batch <= 100; batch *= 100)
                for (int k = 0; k < 2; k++) {
                    int clients = k ? 4 : 1;
                    if ((g_only_size && g_only_size != (int)sizes[si]) ||
                        (g_only_batch && g_only_batch != batch) ||
                        (g_only_clients && g_only_clients != clients))
                        continue;
                    int total = batch == 1 ? s_scaled(100000) : s_scaled(1000000);
                    int window = batch == 1 ? WINDOW : 16;
                    int reqs = total / batch / clients;
                    char topic[64];
                    snprintf(topic, sizeof topic, "p-%zu-%d-%d", sizes[si], batch, clients);
                    series_t srv_r = {0}, echo_r = {0}, ratio = {0};
                    for (int run = 0; run < g_runs; run++) {
                        double a = s_run(endpoint, topic, OP_PRODUCE, clients, reqs, batch,
                                         sizes[si], 0, window);
                        double e = g_no_echo ? 0
                                             : s_run(eep, "echo", OP_ECHO, clients, reqs, batch,
                                                     sizes[si], 0, window);
                        s_add(&srv_r, a);
                        s_add(&echo_r, e);
                        s_add(&ratio, e > 0 ? a / e : 0);
                    }
                    printf("  %5zu B  batch %-3d  %d client%s  %-22s  %-22s  %s\n", sizes[si],
                           batch, clients, clients > 1 ? "s" : " ", s_fmt(b1, sizeof b1, &srv_r),
                           s_fmt(b2, sizeof b2, &echo_r), s_fmt(b3, sizeof b3, &ratio));
                    fflush(stdout);
                }
    }

    if (only & SEC_IDEM) {
        printf("\nidempotent vs plain produce, pipelined (records/s)\n"
               "                              plain                   idempotent"
               "              ratio idem/plain\n");
        char cpu_rows[8][192]; /* the same rows in CPU per record, printed after */
        int ncpu = 0;
        for (int si = 0; si < 2; si++)
            for (int batch = 1; batch <= 100; batch *= 100)
                for (int k = 0; k < 2; k++) {
                    int clients = k ? 4 : 1;
                    if ((g_only_size && g_only_size != (int)sizes[si]) ||
                        (g_only_batch && g_only_batch != batch) ||
                        (g_only_clients && g_only_clients != clients))
                        continue;
                    int total = batch == 1 ? s_scaled(100000) : s_scaled(1000000);
                    int window = batch == 1 ? WINDOW : 16;
                    int reqs = total / batch / clients;
                    series_t pl = {0}, id = {0}, ratio = {0}, cpl = {0}, cid = {0}, cr = {0};
                    for (int run = 0; run < g_runs; run++) {
                        char tp[64], ti[64]; /* fresh topics: equal log sizes for both */
                        snprintf(tp, sizeof tp, "ip-%zu-%d-%d-%d", sizes[si], batch, clients, run);
                        snprintf(ti, sizeof ti, "ii-%zu-%d-%d-%d", sizes[si], batch, clients, run);
                        double a, b, ca, cb;
                        if (run % 2) { /* alternate which goes first */
                            b = s_run_ex(endpoint, ti, OP_PRODUCE, clients, reqs, batch,
                                         sizes[si], 0, window, 1);
                            cb = g_last_cpu_ns_per_record;
                            a = s_run_ex(endpoint, tp, OP_PRODUCE, clients, reqs, batch,
                                         sizes[si], 0, window, 0);
                            ca = g_last_cpu_ns_per_record;
                        } else {
                            a = s_run_ex(endpoint, tp, OP_PRODUCE, clients, reqs, batch,
                                         sizes[si], 0, window, 0);
                            ca = g_last_cpu_ns_per_record;
                            b = s_run_ex(endpoint, ti, OP_PRODUCE, clients, reqs, batch,
                                         sizes[si], 0, window, 1);
                            cb = g_last_cpu_ns_per_record;
                        }
                        s_add(&pl, a);
                        s_add(&id, b);
                        s_add(&ratio, a > 0 ? b / a : 0);
                        s_add(&cpl, ca);
                        s_add(&cid, cb);
                        s_add(&cr, ca > 0 ? cb / ca : 0);
                    }
                    char c1[48], c2[48], c3[48];
                    if (ncpu < 8)
                        snprintf(cpu_rows[ncpu++], sizeof cpu_rows[0],
                                 "  %5zu B  batch %-3d  %d client%s  %-22s  %-22s  %s\n", sizes[si],
                                 batch, clients, clients > 1 ? "s" : " ",
                                 s_fmt(c1, sizeof c1, &cpl), s_fmt(c2, sizeof c2, &cid),
                                 s_fmt(c3, sizeof c3, &cr));
                    printf("  %5zu B  batch %-3d  %d client%s  %-22s  %-22s  %s\n", sizes[si],
                           batch, clients, clients > 1 ? "s" : " ", s_fmt(b1, sizeof b1, &pl),
                           s_fmt(b2, sizeof b2, &id), s_fmt(b3, sizeof b3, &ratio));
                    fflush(stdout);
                }
        if (srv && ncpu) {
            /* Process CPU less the client threads': the server's threads and
             * the clients' ZeroMQ I/O thread. A cost, so less sensitive than
             * records/s to other load on a shared machine. */
            printf("\nidempotent vs plain produce, CPU per record outside the client threads "
                   "(ns)\n"
                   "                              plain                   idempotent"
                   "              ratio idem/plain\n");
            for (int i = 0; i < ncpu; i++)
                fputs(cpu_rows[i], stdout);
        }
    }

    if (only & SEC_CONSUME) {
        printf("\nconsume, ranges of 1000 (records/s)   1 client                4 clients\n");
        for (int si = 0; si < 2; si++) {
            char topic[64];
            snprintf(topic, sizeof topic, "c-%zu", sizes[si]);
            /* 100k records to read (already there if produce ran) */
            uint64_t end = s_next_offset(endpoint, topic);
            if (end < 100000)
                s_run(endpoint, topic, OP_PRODUCE, 1, (int)(100000 - end + 99) / 100, 100,
                      sizes[si], 0, 16);
            end = s_next_offset(endpoint, topic);
            series_t r[2] = {0};
            for (int run = 0; run < g_runs; run++)
                for (int k = 0; k < 2; k++) {
                    int clients = k ? 4 : 1;
                    int reqs = s_scaled(1000) / clients;
                    s_add(&r[k],
                          s_run(endpoint, topic, OP_CONSUME, clients, reqs, 1, sizes[si], end, 4));
                }
            printf("  %5zu B                        %-22s  %s\n", sizes[si],
                   s_fmt(b1, sizeof b1, &r[0]), s_fmt(b2, sizeof b2, &r[1]));
            fflush(stdout);
        }
    }

    if (only & SEC_LATENCY) {
        printf("\nround trip, one request in flight (us)   p50                 p99\n");
        for (int si = 0; si < 2; si++) {
            char topic[64], ctopic[64];
            snprintf(topic, sizeof topic, "lat-%zu", sizes[si]);
            snprintf(ctopic, sizeof ctopic, "c-%zu", sizes[si]);
            if (s_next_offset(endpoint, ctopic) < 1000)
                s_run(endpoint, ctopic, OP_PRODUCE, 1, 10, 100, sizes[si], 0, 16);
            series_t p50[3] = {0}, p99[3] = {0};
            for (int run = 0; run < g_runs; run++) {
                double a, b;
                s_latency(endpoint, topic, OP_PRODUCE, sizes[si], s_scaled(5000), &a, &b);
                s_add(&p50[0], a);
                s_add(&p99[0], b);
                s_latency(endpoint, ctopic, OP_CONSUME, sizes[si], s_scaled(5000), &a, &b);
                s_add(&p50[1], a);
                s_add(&p99[1], b);
                s_latency(eep, "echo", OP_ECHO, sizes[si], s_scaled(5000), &a, &b);
                s_add(&p50[2], a);
                s_add(&p99[2], b);
            }
            const char *what[3] = {"produce (1 record)", "consume (1 record)", "echo (limit)"};
            for (int k = 0; k < 3; k++)
                printf("  %5zu B  %-22s  %-18s  %s\n", sizes[si], what[k],
                       s_fmt(b1, sizeof b1, &p50[k]), s_fmt(b2, sizeof b2, &p99[k]));
            fflush(stdout);
        }
    }

    if (only & SEC_PUB) {
        printf("\nPUB delivery (single-record produces, window 64)\n"
               "                            produce rec/s           received %% (worst sub)  "
               "latency p50 ms          p99 ms\n");
        for (int si = 0; si < 2; si++)
            for (int n = 1; n <= 4; n *= 4) {
                series_t rate = {0}, rx = {0}, p50 = {0}, p99 = {0};
                for (int run = 0; run < g_runs; run++) {
                    pub_result_t r = s_pub_delivery(endpoint, pub, sizes[si], n, s_scaled(50000));
                    s_add(&rate, r.rate);
                    s_add(&rx, 100.0 * r.received);
                    s_add(&p50, r.p50);
                    s_add(&p99, r.p99);
                }
                char b4[64];
                printf("  %5zu B  %d sub%s  %6d rec  %-22s  %-22s  %-22s  %s\n", sizes[si], n,
                       n > 1 ? "s" : " ", s_scaled(50000), s_fmt(b1, sizeof b1, &rate),
                       s_fmt(b2, sizeof b2, &rx), s_fmt(b3, sizeof b3, &p50),
                       s_fmt(b4, sizeof b4, &p99));
                fflush(stdout);
            }
    }
    if (only & SEC_CURVE) {
        if (srv)
            s_curve_section(&cfg, endpoint, eep);
        else
            fprintf(stderr, "server_bench: --only curve needs the in-process server\n");
    }
    atomic_store(&g_echo_stop, 1);
    pthread_join(eth, NULL);
    if (g_curve_echo_started)
        pthread_join(g_curve_echo, NULL);

    printf("\n");
    s_print_load("end");
    if (srv) {
        seglog_server_destroy(&srv);
        nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
    zmq_ctx_term(g_ctx);
    return 0;
}
