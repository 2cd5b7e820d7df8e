/*
 * seglog_driver.c - the comparison workloads against a running seglogd,
 * through the C client library (include/seglog/client.h).
 *
 *   cmp_seglog produce --endpoint EP [--size B] [--batch N] [--clients N] [--window N]
 *                      [--records N] [--topics T]
 *   cmp_seglog consume --endpoint EP [--size B] [--records N] [--range N]
 *   cmp_seglog latency --endpoint EP [--size B] [--records N]
 *   cmp_seglog tail    --endpoint EP --pub EP [--size B] [--records N] [--rate R]
 *
 * produce: each client (a thread with its own seglog_client_t) runs a
 *   seglog_producer_t with --window requests in flight, each request one
 *   batch of --batch records; records/s over all clients. With --topics T,
 *   client i produces to "<topic>-<i % T>" (the worker-pool bench).
 * consume: loads --records (batches of 100, untimed), then reads them all
 *   from offset 0 with consume_range(--range), checking every record.
 * latency: --records sequential single-record produces, then as many
 *   single-record consumes of those offsets; p50/p99/p99.9 of each.
 * tail: a seglog_tail_t follows the topic live while a producer sends
 *   --records single records at --rate records/s (pipelined, paced);
 *   latency from produce acknowledgement (and from send) to receipt.
 * One JSON line on stdout; any error exits 1 (see cmp_util.h).
 */
#include "cmp_util.h"
#include "seglog/client.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE = "cmp_seglog produce|consume|latency|tail --endpoint EP [--pub EP] "
                           "[--size B] [--batch N] [--clients N] [--window N] [--records N] "
                           "[--topics T] [--range N] [--rate R] [--label S]";

static cmp_args_t g_a;

static seglog_client_t *s_connect(const char *pub)
{
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    o.timeout_ms = g_a.timeout_ms;
    o.retries = 0; /* a retried produce may append twice: fail instead */
    seglog_client_t *c = NULL;
    int rc = seglog_client_connect(g_a.endpoint, pub, &o, &c);
    if (rc)
        cmp_die("seglog: connect %s: %s", g_a.endpoint, seglog_client_strerror(rc));
    return c;
}

/* ---- produce ------------------------------------------------------------ */

typedef struct {
    int id;
    pthread_barrier_t *start;
    uint64_t acked; /* records acknowledged */
    int err;        /* first ack error */
} producer_t;

static void s_on_ack(void *arg, const seglog_ack_t *ack)
{
    producer_t *p = arg;
    if (ack->err && !p->err)
        p->err = ack->err;
    if (!ack->err)
        p->acked += ack->count;
}

static void *s_producer(void *arg)
{
    producer_t *p = arg;
    seglog_client_t *c = s_connect(NULL);
    seglog_producer_t *prod = NULL;
    int rc = seglog_producer_new(c, (uint32_t)g_a.window, s_on_ack, p, &prod);
    if (rc)
        cmp_die("seglog: producer_new: %s", seglog_client_strerror(rc));
    uint64_t per = g_a.records / (uint64_t)g_a.clients;
    uint64_t base = per * (uint64_t)p->id;
    seglog_record_t *recs = calloc((size_t)g_a.batch, sizeof *recs);
    uint8_t **vals = calloc((size_t)g_a.batch, sizeof *vals);
    for (int i = 0; i < g_a.batch; i++) {
        vals[i] = cmp_value_new(g_a.size);
        recs[i].value = vals[i];
        recs[i].value_len = g_a.size;
    }
    char topic[160];
    cmp_topic_of(&g_a, p->id, topic, sizeof topic);
    pthread_barrier_wait(p->start);
    for (uint64_t done = 0; done < per; done += (uint64_t)g_a.batch) {
        for (int i = 0; i < g_a.batch; i++)
            cmp_value_set_index(vals[i], g_a.size, base + done + (uint64_t)i);
        rc = seglog_producer_send(prod, topic, recs, (size_t)g_a.batch, NULL);
        if (rc)
            cmp_die("seglog: send: %s (%s)", seglog_client_strerror(rc),
                    seglog_producer_errmsg(prod));
        if (p->err)
            break;
    }
    rc = seglog_producer_flush(prod, g_a.timeout_ms);
    if (rc)
        cmp_die("seglog: flush: %s (%s)", seglog_client_strerror(rc), seglog_producer_errmsg(prod));
    if (p->err)
        cmp_die("seglog: produce failed: %s", seglog_client_strerror(p->err));
    if (p->acked != per)
        cmp_die("seglog: %" PRIu64 " of %" PRIu64 " records acknowledged", p->acked, per);
    for (int i = 0; i < g_a.batch; i++)
        free(vals[i]);
    free(vals);
    free(recs);
    seglog_producer_destroy(&prod);
    seglog_client_destroy(&c);
    return NULL;
}

/* Run the producers; returns the seconds from the common start to the
 * last acknowledgement. */
static double s_produce_all(void)
{
    producer_t ps[CMP_MAX_CLIENTS];
    pthread_t th[CMP_MAX_CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)g_a.clients + 1);
    for (int i = 0; i < g_a.clients; i++) {
        ps[i] = (producer_t){.id = i, .start = &start};
        pthread_create(&th[i], NULL, s_producer, &ps[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = cmp_now_ns();
    for (int i = 0; i < g_a.clients; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&start);
    return secs;
}

static void s_produce(void)
{
    double secs = s_produce_all();
    cmp_json_begin("seglog", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

/* ---- consume ------------------------------------------------------------ */

static void s_consume(void)
{
    /* Load, untimed: one client, batches of 100 (or fewer), 16 in flight. */
    cmp_args_t want = g_a;
    g_a.clients = 1;
    g_a.batch = g_a.records % 100 == 0 ? 100 : 1;
    g_a.window = 16;
    s_produce_all();
    g_a = want;

    seglog_client_t *c = s_connect(NULL);
    uint64_t off = 0;
    uint64_t t0 = cmp_now_ns();
    while (off < g_a.records) {
        seglog_batch_t b;
        int rc = seglog_client_consume_range(c, g_a.topic, off, (uint32_t)g_a.range, 0, &b);
        if (rc)
            cmp_die("seglog: consume_range at %" PRIu64 ": %s (%s)", off,
                    seglog_client_strerror(rc), seglog_client_errmsg(c));
        if (b.count == 0)
            cmp_die("seglog: empty consume at %" PRIu64, off);
        for (size_t i = 0; i < b.count; i++) {
            const seglog_record_t *r = &b.records[i];
            if (r->offset != off || r->value_len != g_a.size ||
                cmp_value_index(r->value, r->value_len) != off)
                cmp_die("seglog: wrong record at offset %" PRIu64, off);
            off++;
        }
    }
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    seglog_client_destroy(&c);
    cmp_json_begin("seglog", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

/* ---- latency ------------------------------------------------------------ */

static void s_latency(void)
{
    seglog_client_t *c = s_connect(NULL);
    size_t n = (size_t)g_a.records;
    uint64_t *prod = calloc(n, sizeof *prod), *cons = calloc(n, sizeof *cons);
    uint8_t *v = cmp_value_new(g_a.size);
    uint64_t first = 0;
    for (size_t i = 0; i < n; i++) {
        cmp_value_set_index(v, g_a.size, i);
        uint64_t off, t0 = cmp_now_ns();
        int rc = seglog_client_produce(c, g_a.topic, v, g_a.size, &off);
        prod[i] = cmp_now_ns() - t0;
        if (rc)
            cmp_die("seglog: produce: %s (%s)", seglog_client_strerror(rc),
                    seglog_client_errmsg(c));
        if (i == 0)
            first = off;
    }
    for (size_t i = 0; i < n; i++) {
        seglog_record_t r;
        uint64_t t0 = cmp_now_ns();
        int rc = seglog_client_consume(c, g_a.topic, first + i, &r);
        cons[i] = cmp_now_ns() - t0;
        if (rc)
            cmp_die("seglog: consume: %s (%s)", seglog_client_strerror(rc),
                    seglog_client_errmsg(c));
        if (cmp_value_index(r.value, r.value_len) != i)
            cmp_die("seglog: consume returned the wrong record");
    }
    cmp_json_begin("seglog", &g_a);
    cmp_json_num("produce_p50_us", cmp_pct_us(prod, n, 0.50));
    cmp_json_num("produce_p99_us", cmp_pct_us(prod, n, 0.99));
    cmp_json_num("produce_p999_us", cmp_pct_us(prod, n, 0.999));
    cmp_json_num("consume_p50_us", cmp_pct_us(cons, n, 0.50));
    cmp_json_num("consume_p99_us", cmp_pct_us(cons, n, 0.99));
    cmp_json_num("consume_p999_us", cmp_pct_us(cons, n, 0.999));
    cmp_json_end();
    free(v);
    free(prod);
    free(cons);
    seglog_client_destroy(&c);
}

/* ---- tail --------------------------------------------------------------- */

typedef struct {
    uint64_t n;                    /* measured records: indexes 0..n-1 */
    uint64_t *t_rx;                /* receipt time of each index */
    atomic_uint_fast64_t got_warm; /* warm-up records received live */
    atomic_int stop;
    int failed;
    seglog_tail_stats_t stats;
} tail_ctx_t;

#define WARM_BASE 0x8000000000000000ull /* index bit of warm-up records */

static void *s_tailer(void *arg)
{
    tail_ctx_t *t = arg;
    seglog_client_t *c = s_connect(g_a.pub);
    seglog_tail_t *tail = NULL;
    int rc = seglog_tail_new(c, g_a.topic, SEGLOG_OFFSET_LATEST, NULL, &tail);
    if (rc)
        cmp_die("seglog: tail_new: %s", seglog_client_strerror(rc));
    uint64_t received = 0;
    while (received < t->n && !atomic_load(&t->stop)) {
        seglog_record_t r;
        rc = seglog_tail_next(tail, 100, &r);
        if (rc == SEGLOG_CLIENT_E_AGAIN)
            continue;
        if (rc)
            cmp_die("seglog: tail_next: %s (%s)", seglog_client_strerror(rc),
                    seglog_tail_errmsg(tail));
        uint64_t now = cmp_now_ns();
        uint64_t idx = cmp_value_index(r.value, r.value_len);
        if (idx & WARM_BASE) {
            seglog_tail_stats_t st;
            seglog_tail_stats(tail, &st);
            if (st.live)
                atomic_fetch_add(&t->got_warm, 1);
            continue;
        }
        if (idx >= t->n || t->t_rx[idx])
            cmp_die("seglog: tail delivered index %" PRIu64 " twice or out of range", idx);
        __atomic_store_n(&t->t_rx[idx], now, __ATOMIC_RELEASE);
        received++;
    }
    seglog_tail_stats(tail, &t->stats);
    seglog_tail_destroy(&tail);
    seglog_client_destroy(&c);
    return NULL;
}

typedef struct {
    uint64_t *t_ack;
    uint64_t *seq_index; /* producer seq -> record index */
    uint64_t nseq;
    int err;
} tail_prod_t;

static void s_on_tail_ack(void *arg, const seglog_ack_t *ack)
{
    tail_prod_t *tp = arg;
    if (ack->err) {
        tp->err = ack->err;
        return;
    }
    if (ack->seq < tp->nseq && tp->seq_index[ack->seq] != UINT64_MAX)
        tp->t_ack[tp->seq_index[ack->seq]] = cmp_now_ns();
}

static void s_tail(void)
{
    uint64_t n = g_a.records;
    tail_ctx_t t = {.n = n, .t_rx = calloc(n, sizeof(uint64_t))};
    tail_prod_t tp = {.t_ack = calloc(n, sizeof(uint64_t))};
    uint64_t *t_send = calloc(n, sizeof(uint64_t));
    tp.nseq = n + 10000 + 2;
    tp.seq_index = malloc(tp.nseq * sizeof(uint64_t));
    memset(tp.seq_index, 0xff, tp.nseq * sizeof(uint64_t));

    seglog_client_t *c = s_connect(NULL);
    uint8_t *v = cmp_value_new(g_a.size);
    cmp_value_set_index(v, g_a.size, WARM_BASE);
    int rc = seglog_client_produce(c, g_a.topic, v, g_a.size, NULL); /* create the topic */
    if (rc)
        cmp_die("seglog: produce: %s", seglog_client_strerror(rc));
    seglog_producer_t *prod = NULL;
    rc = seglog_producer_new(c, (uint32_t)g_a.window, s_on_tail_ack, &tp, &prod);
    if (rc)
        cmp_die("seglog: producer_new: %s", seglog_client_strerror(rc));

    pthread_t th;
    pthread_create(&th, NULL, s_tailer, &t);
    /* Warm up until the tail receives from the live stream (at most 10 s):
     * one record every 10 ms. */
    seglog_record_t rec = {.value = v, .value_len = g_a.size};
    uint64_t deadline = cmp_now_ns() + 10000000000ull;
    for (uint64_t w = 1; atomic_load(&t.got_warm) == 0; w++) {
        if (cmp_now_ns() > deadline || w >= 10000)
            cmp_die("seglog: the tail received nothing live within 10 s");
        cmp_value_set_index(v, g_a.size, WARM_BASE | w);
        if ((rc = seglog_producer_send(prod, g_a.topic, &rec, 1, NULL)) != 0)
            cmp_die("seglog: send: %s", seglog_client_strerror(rc));
        if ((rc = seglog_producer_poll(prod, 10)) != 0)
            cmp_die("seglog: poll: %s", seglog_client_strerror(rc));
        cmp_sleep_until(cmp_now_ns() + 10000000);
    }
    if ((rc = seglog_producer_flush(prod, g_a.timeout_ms)) != 0)
        cmp_die("seglog: flush: %s", seglog_client_strerror(rc));

    /* Paced: send each record when due; while waiting, block on acks (so
     * an ack's time is taken when it arrives) or sleep. */
    double gap = 1e9 / g_a.rate;
    uint64_t t0 = cmp_now_ns() + 1000000;
    uint64_t sent = 0;
    while (sent < n || seglog_producer_in_flight(prod) > 0) {
        uint64_t now = cmp_now_ns();
        uint64_t due = t0 + (uint64_t)((double)sent * gap);
        if (sent < n && now >= due) {
            uint64_t seq;
            cmp_value_set_index(v, g_a.size, sent);
            t_send[sent] = cmp_now_ns();
            if ((rc = seglog_producer_send(prod, g_a.topic, &rec, 1, &seq)) != 0)
                cmp_die("seglog: send: %s", seglog_client_strerror(rc));
            if (seq < tp.nseq)
                tp.seq_index[seq] = sent;
            sent++;
        } else if (seglog_producer_in_flight(prod) > 0) {
            if ((rc = seglog_producer_poll(prod, 1)) != 0)
                cmp_die("seglog: poll: %s", seglog_client_strerror(rc));
        } else {
            cmp_sleep_until(due);
        }
        if (tp.err)
            cmp_die("seglog: produce failed: %s", seglog_client_strerror(tp.err));
    }
    double send_secs = (double)(cmp_now_ns() - t0) / 1e9;
    /* The tail must get everything; allow the sync interval and more. */
    uint64_t wait_until = cmp_now_ns() + 5000000000ull;
    while (cmp_now_ns() < wait_until) {
        if (__atomic_load_n(&t.t_rx[n - 1], __ATOMIC_ACQUIRE))
            break;
        cmp_sleep_until(cmp_now_ns() + 1000000);
    }
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    int64_t *ack_rx = calloc(n, sizeof(int64_t));
    uint64_t *send_rx = calloc(n, sizeof(uint64_t));
    for (uint64_t i = 0; i < n; i++) {
        if (!t.t_rx[i] || !tp.t_ack[i])
            cmp_die("seglog: record %" PRIu64 " was not %s", i,
                    t.t_rx[i] ? "acknowledged" : "received by the tail");
        ack_rx[i] = (int64_t)t.t_rx[i] - (int64_t)tp.t_ack[i];
        send_rx[i] = t.t_rx[i] - t_send[i];
    }
    cmp_json_begin("seglog", &g_a);
    cmp_json_num("rate_achieved", (double)n / send_secs);
    cmp_json_num("ack_rx_p50_us", cmp_pct_signed_us(ack_rx, n, 0.50));
    cmp_json_num("ack_rx_p99_us", cmp_pct_signed_us(ack_rx, n, 0.99));
    cmp_json_num("send_rx_p50_us", cmp_pct_us(send_rx, n, 0.50));
    cmp_json_num("send_rx_p99_us", cmp_pct_us(send_rx, n, 0.99));
    cmp_json_num("tail_live", (double)t.stats.live);
    cmp_json_num("tail_fetches", (double)t.stats.fetches);
    cmp_json_end();
    seglog_producer_destroy(&prod);
    seglog_client_destroy(&c);
    free(v);
    free(ack_rx);
    free(send_rx);
    free(t.t_rx);
    free(tp.t_ack);
    free(tp.seq_index);
    free(t_send);
}

int main(int argc, char **argv)
{
    cmp_args_parse(argc, argv, &g_a, USAGE);
    if (!g_a.endpoint)
        cmp_die("seglog: --endpoint is required");
    if (!strcmp(g_a.mode, "produce"))
        s_produce();
    else if (!strcmp(g_a.mode, "consume"))
        s_consume();
    else if (!strcmp(g_a.mode, "latency"))
        s_latency();
    else if (!strcmp(g_a.mode, "tail") && g_a.pub)
        s_tail();
    else
        cmp_die("seglog: unknown mode %s (tail needs --pub)\nusage: %s", g_a.mode, USAGE);
    return 0;
}
