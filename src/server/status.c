/*
 * status.c - GET /v1/status: what the status page (status.html, served at
 * /) shows, as one JSON object: the server's settings and counters, every
 * topic's offsets, traffic and files, and in cluster mode the nodes, the
 * leaders and the ISRs (a Metadata request through the request path).
 * The page computes rates from two successive reads.
 */
#include "http_impl.h"

#include "cmode.h"
#include "metrics_render.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void s_topics(seglog_server_t *s, cJSON *j)
{
    cJSON *arr = cJSON_AddArrayToObject(j, "topics");
    sl_topic_t **list = NULL;
    size_t n = 0;
    if (sl_topics_list(s->topics, &list, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        sl_topic_t *tp = list[i];
        if (atomic_load(&tp->deleted))
            continue;
        uint64_t end = sl_topic_visible_end(tp), lowest = 0, segs = 0, bytes = 0;
        if (seglog_log_lowest_offset(tp->log, &lowest) == 0 && lowest > end)
            lowest = end;
        sl_topic_disk_usage(s->cfg.data_dir, tp->name, &segs, &bytes);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", tp->name);
        cJSON_AddNumberToObject(o, "lowest_offset", (double)lowest);
        cJSON_AddNumberToObject(o, "next_offset", (double)end);
        cJSON_AddNumberToObject(o, "committed_offset", (double)sl_topic_publish_end(tp));
        cJSON_AddNumberToObject(o, "produced_records", (double)LOAD(tp->m_produced_records));
        cJSON_AddNumberToObject(o, "produced_bytes", (double)LOAD(tp->m_produced_bytes));
        cJSON_AddNumberToObject(o, "consumed_records", (double)LOAD(tp->m_consumed_records));
        cJSON_AddNumberToObject(o, "consumed_bytes", (double)LOAD(tp->m_consumed_bytes));
        cJSON_AddNumberToObject(o, "segments", (double)segs);
        cJSON_AddNumberToObject(o, "disk_bytes", (double)bytes);
        cJSON_AddItemToArray(arr, o);
    }
    free(list);
}

static cJSON *s_ids(const int32_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void s_cluster(sl_http_t *h, cJSON *j)
{
    seglog_server_t *s = h->s;
    if (!s->repl) {
        cJSON_AddNullToObject(j, "cluster");
        return;
    }
    cJSON *cl = cJSON_AddObjectToObject(j, "cluster");
    sl_cmode_health_t hc;
    sl_cmode_health(s->repl, &hc);
    cJSON_AddNumberToObject(cl, "node_id", s->cfg.node_id);
    cJSON_AddBoolToObject(cl, "registered", hc.registered);
    cJSON_AddBoolToObject(cl, "zookeeper_session", hc.session_ok);
    cJSON_AddBoolToObject(cl, "controller", hc.controller);
    /* The Metadata answer, made here (not through the request path, where
     * with CURVE on the gateway's requests carry no identity). */
    sl_buf_t b = {0};
    Seglog__V1__Response *resp = NULL;
    if (sl_cmode_metadata(s->repl, &b) == 0)
        resp = seglog__v1__response__unpack(NULL, b.len, b.data);
    sl_buf_free(&b);
    if (!resp || !resp->metadata) {
        if (resp)
            seglog__v1__response__free_unpacked(resp, NULL);
        return;
    }
    const Seglog__V1__MetadataResponse *m = resp->metadata;
    cJSON *nodes = cJSON_AddArrayToObject(cl, "nodes");
    for (size_t i = 0; i < m->n_nodes; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", m->nodes[i]->id);
        cJSON_AddStringToObject(o, "endpoint", m->nodes[i]->endpoint);
        cJSON_AddBoolToObject(o, "alive", m->nodes[i]->alive);
        cJSON_AddItemToArray(nodes, o);
    }
    cJSON *topics = cJSON_AddArrayToObject(cl, "topics");
    for (size_t i = 0; i < m->n_topics; i++) {
        const Seglog__V1__TopicMetadata *t = m->topics[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddNumberToObject(o, "leader", t->leader);
        cJSON_AddNumberToObject(o, "leader_epoch", t->leader_epoch);
        cJSON_AddItemToObject(o, "replicas", s_ids(t->replicas, t->n_replicas));
        cJSON_AddItemToObject(o, "isr", s_ids(t->isr, t->n_isr));
        cJSON_AddNumberToObject(o, "high_watermark", (double)t->high_watermark);
        cJSON_AddItemToArray(topics, o);
    }
    seglog__v1__response__free_unpacked(resp, NULL);
}

enum MHD_Result sl_status_json(sl_http_t *h, struct MHD_Connection *c)
{
    seglog_server_t *s = h->s;
    sl_metrics_t *m = &s->metrics;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "version", s->info.version);
    cJSON_AddStringToObject(j, "sync", s->info.sync);
    cJSON_AddNumberToObject(j, "uptime_seconds",
                            (double)(sl_metrics_now_ns() / 1000000u - h->started_ms) / 1000.0);
    cJSON_AddStringToObject(j, "endpoint", s->endpoint);
    cJSON_AddStringToObject(j, "pub_endpoint", sl_publisher_endpoint(s->publisher));
    cJSON_AddNumberToObject(j, "clients", (double)LOAD(m->clients));
    cJSON_AddNumberToObject(j, "http_connections", (double)LOAD(m->http_connections));
    cJSON_AddNumberToObject(j, "streams", (double)LOAD(m->sse_clients));
    cJSON_AddNumberToObject(j, "pub_subscriptions",
                            (double)sl_publisher_subscriptions(s->publisher));
    uint64_t by_type[SL_M_TYPES] = {0}, errors = 0;
    for (int t = 0; t < SL_M_TYPES; t++)
        for (int k = 0; k < SL_M_CODES; k++) {
            uint64_t v = LOAD(m->requests[t][k]);
            by_type[t] += v;
            errors += k ? v : 0;
        }
    cJSON *rq = cJSON_AddObjectToObject(j, "requests");
    cJSON_AddNumberToObject(rq, "produce", (double)by_type[SL_REQ_PRODUCE]);
    cJSON_AddNumberToObject(rq, "consume", (double)by_type[SL_REQ_CONSUME]);
    cJSON_AddNumberToObject(rq, "errors", (double)errors);
    cJSON *w = cJSON_AddArrayToObject(j, "worker_queue_depths");
    for (int i = 0; i < s->nworkers && i < SL_M_MAX_WORKERS; i++)
        cJSON_AddItemToArray(w, cJSON_CreateNumber(LOAD(m->worker_depth[i])));
    s_topics(s, j);
    s_cluster(h, j);
    return sl_http_json(h, c, MHD_HTTP_OK, j);
}
