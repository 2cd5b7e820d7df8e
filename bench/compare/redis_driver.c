/*
 * redis_driver.c - the comparison workloads against a running
 * redis-server (Redis Streams), through hiredis.
 *
 *   cmp_redis produce|consume|latency|tail --endpoint HOST:PORT [options as cmp_seglog]
 *
 * Each record is one stream entry with one field, "v" = the value.
 * produce: per client (a thread with its own connection), up to --window
 *   requests in flight; a request is one XADD (--batch 1) or a pipeline of
 *   --batch XADDs written at once (Redis has no batch append: a pipeline is
 *   its batch). Every reply must be an entry id.
 * consume: loads --records (pipelines of 100, untimed), then reads them
 *   from the start with XRANGE key (last-id + COUNT --range.
 * latency: --records sequential XADDs, then XRANGE id id COUNT 1 of each.
 * tail: a second connection waits in XREAD BLOCK (COUNT 1000) while a
 *   pipelined, paced producer sends --records XADDs at --rate records/s.
 * One JSON line on stdout; any error exits 1 (see cmp_util.h).
 */
#include "cmp_util.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *USAGE = "cmp_redis produce|consume|latency|tail --endpoint HOST:PORT "
                           "[--size B] [--batch N] [--clients N] [--window N] [--records N] "
                           "[--range N] [--rate R] [--label S]";

static cmp_args_t g_a;
static char g_host[256];
static int g_port;

static redisContext *s_connect(void)
{
    struct timeval tv = {g_a.timeout_ms / 1000, (g_a.timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(g_host, g_port, tv);
    if (!c || c->err)
        cmp_die("redis: connect %s:%d: %s", g_host, g_port, c ? c->errstr : "out of memory");
    if (redisSetTimeout(c, tv) != REDIS_OK) /* a reply that never comes is an error */
        cmp_die("redis: set timeout: %s", c->errstr);
    return c;
}

static void s_append_xadd(redisContext *c, const uint8_t *value, size_t len)
{
    const char *argv[5] = {"XADD", g_a.topic, "*", "v", (const char *)value};
    size_t lens[5] = {4, strlen(g_a.topic), 1, 1, len};
    if (redisAppendCommandArgv(c, 5, argv, lens) != REDIS_OK)
        cmp_die("redis: append: %s", c->errstr);
}

static void s_flush(redisContext *c)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            cmp_die("redis: write: %s", c->errstr);
}

/* Take one reply (blocking); it must be an entry id. */
static void s_take_id(redisContext *c, char *id, size_t cap)
{
    redisReply *r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
        cmp_die("redis: reply: %s", c->errstr);
    if (r->type != REDIS_REPLY_STRING)
        cmp_die("redis: XADD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "not an id");
    if (id)
        snprintf(id, cap, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
}

/* ---- produce ------------------------------------------------------------ */

typedef struct {
    int id;
    pthread_barrier_t *start;
    int window, batch;
} producer_t;

static void *s_producer(void *arg)
{
    producer_t *p = arg;
    redisContext *c = s_connect();
    uint64_t per = g_a.records / (uint64_t)g_a.clients;
    uint64_t base = per * (uint64_t)p->id;
    uint64_t reqs = per / (uint64_t)p->batch, sent = 0, done = 0;
    uint8_t *v = cmp_value_new(g_a.size);
    pthread_barrier_wait(p->start);
    while (done < reqs) {
        if (sent < reqs && sent - done < (uint64_t)p->window) {
            while (sent < reqs && sent - done < (uint64_t)p->window) {
                for (int i = 0; i < p->batch; i++) {
                    cmp_value_set_index(v, g_a.size,
                                        base + sent * (uint64_t)p->batch + (uint64_t)i);
                    s_append_xadd(c, v, g_a.size);
                }
                sent++;
            }
            s_flush(c);
        }
        for (int i = 0; i < p->batch; i++) /* one request's replies */
            s_take_id(c, NULL, 0);
        done++;
    }
    free(v);
    redisFree(c);
    return NULL;
}

static double s_produce_all(int clients, int batch, int window)
{
    producer_t ps[CMP_MAX_CLIENTS];
    pthread_t th[CMP_MAX_CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)clients + 1);
    cmp_args_t saved = g_a;
    g_a.clients = clients;
    for (int i = 0; i < clients; i++) {
        ps[i] = (producer_t){.id = i, .start = &start, .window = window, .batch = batch};
        pthread_create(&th[i], NULL, s_producer, &ps[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = cmp_now_ns();
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&start);
    g_a = saved;
    return secs;
}

static void s_check_len(redisContext *c, uint64_t want)
{
    redisReply *r = redisCommand(c, "XLEN %s", g_a.topic);
    if (!r || r->type != REDIS_REPLY_INTEGER || (uint64_t)r->integer != want)
        cmp_die("redis: XLEN is %lld, expected %" PRIu64, r ? r->integer : -1, want);
    freeReplyObject(r);
}

static void s_produce(void)
{
    double secs = s_produce_all(g_a.clients, g_a.batch, g_a.window);
    redisContext *c = s_connect();
    s_check_len(c, g_a.records);
    redisFree(c);
    cmp_json_begin("redis", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

/* ---- consume ------------------------------------------------------------ */

/* Check one XRANGE entry [id, [field, value]]; copies its id. */
static void s_check_entry(const redisReply *e, uint64_t index, char *id, size_t cap)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY ||
        e->element[1]->elements != 2)
        cmp_die("redis: XRANGE: unexpected entry shape");
    const redisReply *val = e->element[1]->element[1];
    if (val->len != g_a.size || cmp_value_index((const uint8_t *)val->str, val->len) != index)
        cmp_die("redis: XRANGE: wrong record at %" PRIu64, index);
    snprintf(id, cap, "%.*s", (int)e->element[0]->len, e->element[0]->str);
}

static void s_consume(void)
{
    s_produce_all(1, (int)(g_a.records % 100 == 0 ? 100 : 1), 16); /* load, untimed */
    redisContext *c = s_connect();
    s_check_len(c, g_a.records);
    char start[80] = "-", last[64];
    uint64_t got = 0;
    uint64_t t0 = cmp_now_ns();
    while (got < g_a.records) {
        redisReply *r = redisCommand(c, "XRANGE %s %s + COUNT %d", g_a.topic, start, g_a.range);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
            cmp_die("redis: XRANGE at %" PRIu64 ": %s", got,
                    r ? (r->type == REDIS_REPLY_ERROR ? r->str : "empty") : c->errstr);
        for (size_t i = 0; i < r->elements; i++)
            s_check_entry(r->element[i], got++, last, sizeof last);
        snprintf(start, sizeof start, "(%s", last);
        freeReplyObject(r);
    }
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    redisFree(c);
    cmp_json_begin("redis", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

/* ---- latency ------------------------------------------------------------ */

static void s_latency(void)
{
    redisContext *c = s_connect();
    size_t n = (size_t)g_a.records;
    uint64_t *prod = calloc(n, sizeof *prod), *cons = calloc(n, sizeof *cons);
    char(*ids)[48] = calloc(n, sizeof *ids);
    uint8_t *v = cmp_value_new(g_a.size);
    for (size_t i = 0; i < n; i++) {
        cmp_value_set_index(v, g_a.size, i);
        uint64_t t0 = cmp_now_ns();
        s_append_xadd(c, v, g_a.size);
        s_take_id(c, ids[i], sizeof ids[i]);
        prod[i] = cmp_now_ns() - t0;
    }
    for (size_t i = 0; i < n; i++) {
        char last[64];
        uint64_t t0 = cmp_now_ns();
        redisReply *r = redisCommand(c, "XRANGE %s %s %s COUNT 1", g_a.topic, ids[i], ids[i]);
        cons[i] = cmp_now_ns() - t0;
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1)
            cmp_die("redis: XRANGE of one entry failed");
        s_check_entry(r->element[0], i, last, sizeof last);
        freeReplyObject(r);
    }
    cmp_json_begin("redis", &g_a);
    cmp_json_num("produce_p50_us", cmp_pct_us(prod, n, 0.50));
    cmp_json_num("produce_p99_us", cmp_pct_us(prod, n, 0.99));
    cmp_json_num("produce_p999_us", cmp_pct_us(prod, n, 0.999));
    cmp_json_num("consume_p50_us", cmp_pct_us(cons, n, 0.50));
    cmp_json_num("consume_p99_us", cmp_pct_us(cons, n, 0.99));
    cmp_json_num("consume_p999_us", cmp_pct_us(cons, n, 0.999));
    cmp_json_end();
    free(v);
    free(ids);
    free(prod);
    free(cons);
    redisFree(c);
}

/* ---- tail --------------------------------------------------------------- */

#define WARM_BASE 0x8000000000000000ull

typedef struct {
    uint64_t n;
    uint64_t *t_rx;
    atomic_int got_warm;
    atomic_int stop;
} tail_ctx_t;

static void *s_reader(void *arg)
{
    tail_ctx_t *t = arg;
    redisContext *c = s_connect();
    char last[64] = "$";
    uint64_t received = 0;
    while (received < t->n && !atomic_load(&t->stop)) {
        redisReply *r =
            redisCommand(c, "XREAD COUNT 1000 BLOCK 100 STREAMS %s %s", g_a.topic, last);
        uint64_t now = cmp_now_ns();
        if (!r)
            cmp_die("redis: XREAD: %s", c->errstr);
        if (r->type == REDIS_REPLY_NIL) { /* the block timed out */
            freeReplyObject(r);
            continue;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
            r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2)
            cmp_die("redis: XREAD: unexpected reply");
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            const redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 2)
                cmp_die("redis: XREAD: unexpected entry");
            snprintf(last, sizeof last, "%.*s", (int)e->element[0]->len, e->element[0]->str);
            const redisReply *val = e->element[1]->element[1];
            uint64_t idx = cmp_value_index((const uint8_t *)val->str, val->len);
            if (idx & WARM_BASE) {
                atomic_fetch_add(&t->got_warm, 1);
                continue;
            }
            if (idx >= t->n || t->t_rx[idx])
                cmp_die("redis: XREAD delivered index %" PRIu64 " twice or out of range", idx);
            __atomic_store_n(&t->t_rx[idx], now, __ATOMIC_RELEASE);
            received++;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

/* Take every reply already read or readable now; stamp each ack. */
static void s_take_acks(redisContext *c, uint64_t *acked, uint64_t *t_ack, uint64_t n)
{
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(c, &r) != REDIS_OK)
            cmp_die("redis: reply: %s", c->errstr);
        if (!r)
            return;
        redisReply *rr = r;
        if (rr->type != REDIS_REPLY_STRING)
            cmp_die("redis: XADD: %s", rr->type == REDIS_REPLY_ERROR ? rr->str : "not an id");
        freeReplyObject(r);
        if (*acked < n)
            t_ack[*acked] = cmp_now_ns();
        (*acked)++;
    }
}

/* Wait until c's socket is readable or t_ns; read what is there. */
static void s_wait_read(redisContext *c, uint64_t until_ns)
{
    uint64_t now = cmp_now_ns();
    uint64_t d = until_ns > now ? until_ns - now : 0;
    struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int rc = ppoll(&pfd, 1, &ts, NULL);
    if (rc > 0 && redisBufferRead(c) != REDIS_OK)
        cmp_die("redis: read: %s", c->errstr);
}

static void s_tail(void)
{
    uint64_t n = g_a.records;
    tail_ctx_t t = {.n = n, .t_rx = calloc(n, sizeof(uint64_t))};
    uint64_t *t_send = calloc(n, sizeof(uint64_t)), *t_ack = calloc(n, sizeof(uint64_t));
    redisContext *c = s_connect();
    uint8_t *v = cmp_value_new(g_a.size);
    pthread_t th;
    pthread_create(&th, NULL, s_reader, &t);
    /* Warm up until the reader receives (at most 10 s): one record per 10 ms. */
    uint64_t deadline = cmp_now_ns() + 10000000000ull;
    for (uint64_t w = 1; atomic_load(&t.got_warm) == 0; w++) {
        if (cmp_now_ns() > deadline)
            cmp_die("redis: the XREAD reader received nothing within 10 s");
        cmp_value_set_index(v, g_a.size, WARM_BASE | w);
        s_append_xadd(c, v, g_a.size);
        s_take_id(c, NULL, 0);
        cmp_sleep_until(cmp_now_ns() + 10000000);
    }
    double gap = 1e9 / g_a.rate;
    uint64_t t0 = cmp_now_ns() + 1000000, sent = 0, acked = 0;
    while (acked < n) {
        uint64_t now = cmp_now_ns();
        uint64_t due = t0 + (uint64_t)((double)sent * gap);
        if (sent < n && now >= due && sent - acked < (uint64_t)g_a.window) {
            cmp_value_set_index(v, g_a.size, sent);
            t_send[sent] = cmp_now_ns();
            s_append_xadd(c, v, g_a.size);
            s_flush(c);
            sent++;
        } else if (sent > acked) {
            int can_send = sent < n && sent - acked < (uint64_t)g_a.window;
            s_wait_read(c, can_send ? due : now + (uint64_t)g_a.timeout_ms * 1000000u);
        } else {
            cmp_sleep_until(due);
        }
        s_take_acks(c, &acked, t_ack, n);
        if (sent > acked && cmp_now_ns() > t_send[acked] + (uint64_t)g_a.timeout_ms * 1000000u)
            cmp_die("redis: no XADD reply within %d ms", g_a.timeout_ms);
    }
    double send_secs = (double)(cmp_now_ns() - t0) / 1e9;
    uint64_t wait_until = cmp_now_ns() + 5000000000ull;
    while (cmp_now_ns() < wait_until && !__atomic_load_n(&t.t_rx[n - 1], __ATOMIC_ACQUIRE))
        cmp_sleep_until(cmp_now_ns() + 1000000);
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    int64_t *ack_rx = calloc(n, sizeof(int64_t));
    uint64_t *send_rx = calloc(n, sizeof(uint64_t));
    for (uint64_t i = 0; i < n; i++) {
        if (!t.t_rx[i] || !t_ack[i])
            cmp_die("redis: record %" PRIu64 " was not %s", i,
                    t.t_rx[i] ? "acknowledged" : "received by the reader");
        ack_rx[i] = (int64_t)t.t_rx[i] - (int64_t)t_ack[i];
        send_rx[i] = t.t_rx[i] - t_send[i];
    }
    cmp_json_begin("redis", &g_a);
    cmp_json_num("rate_achieved", (double)n / send_secs);
    cmp_json_num("ack_rx_p50_us", cmp_pct_signed_us(ack_rx, n, 0.50));
    cmp_json_num("ack_rx_p99_us", cmp_pct_signed_us(ack_rx, n, 0.99));
    cmp_json_num("send_rx_p50_us", cmp_pct_us(send_rx, n, 0.50));
    cmp_json_num("send_rx_p99_us", cmp_pct_us(send_rx, n, 0.99));
    cmp_json_end();
    free(ack_rx);
    free(send_rx);
    free(v);
    free(t.t_rx);
    free(t_send);
    free(t_ack);
    redisFree(c);
}

int main(int argc, char **argv)
{
    cmp_args_parse(argc, argv, &g_a, USAGE);
    const char *colon = g_a.endpoint ? strrchr(g_a.endpoint, ':') : NULL;
    if (!colon || (size_t)(colon - g_a.endpoint) >= sizeof g_host)
        cmp_die("redis: --endpoint HOST:PORT is required");
    snprintf(g_host, sizeof g_host, "%.*s", (int)(colon - g_a.endpoint), g_a.endpoint);
    g_port = atoi(colon + 1);
    if (!strcmp(g_a.mode, "produce"))
        s_produce();
    else if (!strcmp(g_a.mode, "consume"))
        s_consume();
    else if (!strcmp(g_a.mode, "latency"))
        s_latency();
    else if (!strcmp(g_a.mode, "tail"))
        s_tail();
    else
        cmp_die("redis: unknown mode %s\nusage: %s", g_a.mode, USAGE);
    return 0;
}
