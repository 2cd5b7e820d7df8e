/*
 * jetstream_driver.c - NATS JetStream produce through the official C client
 * (libnats, Debian's libnats-dev), for the cluster group of run.sh (issue 13):
 * a replicated stream against a replicated seglog topic.
 *
 *   cmp_jetstream produce --endpoint URLS [--replicas R] [--size B] [--clients N]
 *                         [--in-flight W] [--records N] [--topic STREAM] [--label S]
 *
 * URLS: the servers, comma-separated ("nats://127.0.0.1:4222,nats://..."),
 * given to every connection (the client picks one). The stream STREAM
 * (default "bench", subject the same) is created with file storage and
 * R replicas (default 3) unless it exists; creation waits for its leader.
 * Each client is a thread with its own connection and JetStream context; it
 * publishes its share of the records with js_PublishAsync, at most W
 * (PublishAsync.MaxPending, --in-flight, default 4096) awaiting their PubAck, then
 * waits for every PubAck (js_PublishAsyncComplete). Every PubAck is checked
 * in the ack handler (stream name, no error, no duplicate) and its sequence
 * kept; at the end the sequences of all clients must be exactly 1..N (the
 * stream was empty). --batch is not a JetStream notion and must be 1.
 * Prints records/s and, like the other drivers, one JSON line; any error
 * exits 1 (cmp_util.h).
 */
#include "cmp_util.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE = "cmp_jetstream produce --endpoint URLS [--replicas R] [--size B] "
                           "[--clients N] [--in-flight W] [--records N] [--topic STREAM] [--label S]";

static cmp_args_t g_a;
static int g_replicas = 3;
static int g_in_flight = 4096;
static const char **g_urls;
static int g_nurls;

typedef struct client {
    int idx;
    uint64_t n;          /* records to publish */
    uint64_t *seqs;      /* PubAck sequences, in arrival order */
    _Atomic uint64_t acked;
    _Atomic int failed;
    char err[256];
    pthread_t th;
} client_t;

static void s_check(natsStatus s, const char *what)
{
    if (s != NATS_OK)
        cmp_die("jetstream: %s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
}

static natsConnection *s_connect(void)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    s_check(natsOptions_Create(&o), "options");
    s_check(natsOptions_SetServers(o, g_urls, g_nurls), "servers");
    s_check(natsOptions_SetTimeout(o, 5000), "timeout");
    s_check(natsConnection_Connect(&nc, o), "connect");
    natsOptions_Destroy(o);
    return nc;
}

/* Runs on the library's ack thread of one client's context. */
static void s_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    client_t *c = closure;
    if (pa && pa->Stream && strcmp(pa->Stream, g_a.topic) == 0 && !pa->Duplicate &&
        pa->Sequence > 0) {
        uint64_t k = atomic_load(&c->acked);
        if (k < c->n)
            c->seqs[k] = pa->Sequence;
        atomic_store(&c->acked, k + 1);
    } else if (!atomic_exchange(&c->failed, 1)) {
        snprintf(c->err, sizeof c->err, "bad PubAck: %s",
                 pae ? (pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err))
                     : pa ? "wrong stream, duplicate or sequence 0" : "none");
    }
    natsMsg_Destroy(msg);
}

static void *s_client(void *arg)
{
    client_t *c = arg;
    natsConnection *nc = s_connect();
    jsOptions jo;
    jsCtx *js = NULL;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = g_a.window;
    jo.PublishAsync.AckHandler = s_on_ack;
    jo.PublishAsync.AckHandlerClosure = c;
    jo.PublishAsync.StallWait = g_a.timeout_ms;
    s_check(natsConnection_JetStream(&js, nc, &jo), "jetstream context");
    uint8_t *v = cmp_value_new(g_a.size);
    for (uint64_t i = 0; i < c->n && !atomic_load(&c->failed); i++) {
        cmp_value_set_index(v, g_a.size, (uint64_t)c->idx << 40 | i);
        natsStatus s = js_PublishAsync(js, g_a.topic, v, (int)g_a.size, NULL);
        if (s != NATS_OK) {
            if (!atomic_exchange(&c->failed, 1))
                snprintf(c->err, sizeof c->err, "publish %" PRIu64 ": %s", i,
                         natsStatus_GetText(s));
            break;
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = g_a.timeout_ms;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK && !atomic_exchange(&c->failed, 1))
        snprintf(c->err, sizeof c->err, "waiting for the PubAcks: %s", natsStatus_GetText(s));
    free(v);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return NULL;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void s_stream(void)
{
    natsConnection *nc = s_connect();
    jsCtx *js = NULL;
    s_check(natsConnection_JetStream(&js, nc, NULL), "jetstream context");
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = g_a.topic;
    const char *subj[1] = {g_a.topic};
    cfg.Subjects = subj;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = g_replicas;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = NATS_OK;
    /* A fresh cluster may not have elected its meta leader yet: retry. */
    for (int i = 0; i < 100; i++) {
        s = js_AddStream(&si, js, &cfg, NULL, &jerr);
        if (s == NATS_OK || jerr == JSStreamNameExistErr)
            break;
        nats_Sleep(100);
    }
    if (s != NATS_OK && jerr != JSStreamNameExistErr)
        cmp_die("jetstream: creating stream %s (R%d): %s (error %d, %s)", g_a.topic, g_replicas,
                natsStatus_GetText(s), (int)jerr, nats_GetLastError(NULL));
    if (si && si->Config && si->Config->Replicas != g_replicas)
        cmp_die("jetstream: stream %s has %d replicas, not %d", g_a.topic,
                (int)si->Config->Replicas, g_replicas);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

int main(int argc, char **argv)
{
    /* --replicas and --in-flight are this driver's own (the common --window
     * stops at 1024): take them out before the common parser. */
    char **av = calloc((size_t)argc + 1, sizeof *av);
    int ac = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--replicas") && i + 1 < argc)
            g_replicas = atoi(argv[++i]);
        else if (i > 0 && !strcmp(argv[i], "--in-flight") && i + 1 < argc)
            g_in_flight = atoi(argv[++i]);
        else
            av[ac++] = argv[i];
    }
    cmp_args_parse(ac, av, &g_a, USAGE);
    if (g_in_flight < 1 || g_in_flight > 1000000)
        cmp_die("jetstream: --in-flight must be 1 to 1000000");
    g_a.window = g_in_flight; /* reported as the window */
    if (strcmp(g_a.mode, "produce") != 0 || !g_a.endpoint)
        cmp_die("%s", USAGE);
    if (g_a.batch != 1)
        cmp_die("jetstream: --batch must be 1 (each record is one async publish)");
    if (g_replicas < 1 || g_replicas > 5)
        cmp_die("jetstream: --replicas must be 1 to 5");
    if (g_a.records % (uint64_t)g_a.clients)
        cmp_die("jetstream: records must be a multiple of clients");

    char *urls = strdup(g_a.endpoint);
    g_urls = calloc(16, sizeof *g_urls);
    for (char *save = NULL, *t = strtok_r(urls, ",", &save); t && g_nurls < 16;
         t = strtok_r(NULL, ",", &save))
        g_urls[g_nurls++] = t;

    s_check(nats_Open(-1), "nats_Open");
    s_stream();

    client_t *cs = calloc((size_t)g_a.clients, sizeof *cs);
    uint64_t per = g_a.records / (uint64_t)g_a.clients;
    for (int i = 0; i < g_a.clients; i++) {
        cs[i].idx = i;
        cs[i].n = per;
        cs[i].seqs = calloc(per ? per : 1, sizeof *cs[i].seqs);
        if (!cs[i].seqs)
            cmp_die("out of memory");
    }
    uint64_t t0 = cmp_now_ns();
    for (int i = 0; i < g_a.clients; i++)
        pthread_create(&cs[i].th, NULL, s_client, &cs[i]);
    for (int i = 0; i < g_a.clients; i++)
        pthread_join(cs[i].th, NULL);
    double secs = (double)(cmp_now_ns() - t0) / 1e9;

    uint64_t *all = calloc(g_a.records ? g_a.records : 1, sizeof *all), n = 0;
    for (int i = 0; i < g_a.clients; i++) {
        if (atomic_load(&cs[i].failed))
            cmp_die("jetstream: client %d: %s", i, cs[i].err);
        if (atomic_load(&cs[i].acked) != cs[i].n)
            cmp_die("jetstream: client %d: %" PRIu64 " PubAcks for %" PRIu64 " publishes", i,
                    (uint64_t)atomic_load(&cs[i].acked), cs[i].n);
        memcpy(all + n, cs[i].seqs, cs[i].n * sizeof *all);
        n += cs[i].n;
        free(cs[i].seqs);
    }
    qsort(all, n, sizeof *all, s_cmp_u64);
    for (uint64_t i = 0; i < n; i++)
        if (all[i] != i + 1)
            cmp_die("jetstream: acknowledged sequences are not 1..%" PRIu64 " (at %" PRIu64
                    ": %" PRIu64 ")", n, i, all[i]);
    free(all);
    free(cs);

    cmp_json_begin("jetstream", &g_a);
    cmp_json_num("replicas", g_replicas);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_num("seconds", secs);
    cmp_json_end();
    free(g_urls);
    free(urls);
    free(av);
    nats_Close();
    return 0;
}
