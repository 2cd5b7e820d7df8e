/*
 * metrics_render.c - GET /metrics: the server's metrics (metrics.h) and the
 * state read at scrape time (topics' offsets and files, the publisher,
 * cluster mode) in the Prometheus text format, version 0.0.4.
 * docs/HTTP.md lists every metric.
 */
#include "metrics_render.h"

#include "cmode.h"
#include "server_impl.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void sl_topic_disk_usage(const char *data_dir, const char *name, uint64_t *segments,
                         uint64_t *bytes)
{
    *segments = 0;
    *bytes = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        *bytes += (uint64_t)st.st_size;
        size_t n = strlen(de->d_name);
        if (n > 6 && strcmp(de->d_name + n - 6, ".store") == 0)
            (*segments)++;
    }
    closedir(d);
}

static int s_requests(seglog_server_t *s, sl_buf_t *b)
{
    int rc = sl_prom_head(b, "seglog_requests_total", "counter",
                          "Requests answered, by request type and result (ok or the wire "
                          "ErrorCode name).");
    for (int t = 0; t < SL_M_TYPES && !rc; t++) {
        const char *tn = sl_metrics_type_name(t);
        for (int c = 0; c < SL_M_CODES && tn && !rc; c++) {
            uint64_t v = LOAD(s->metrics.requests[t][c]);
            const char *cn = sl_metrics_code_name(c);
            /* ok is always shown for the main types, so rates start at 0 */
            if (!cn || (v == 0 && !(c == 0 && t >= 1 && t <= 4)))
                continue;
            char lab[96];
            snprintf(lab, sizeof lab, "type=\"%s\",result=\"%s\"", tn, cn);
            rc = sl_prom_u64(b, "seglog_requests_total", lab, v);
        }
    }
    rc = rc || sl_prom_head(b, "seglog_produce_latency_seconds", "histogram",
                            "Produce requests: from read off the socket to the reply sent.") ||
         sl_prom_hist(b, "seglog_produce_latency_seconds", NULL, &s->metrics.produce_latency);
    rc = rc || sl_prom_head(b, "seglog_consume_latency_seconds", "histogram",
                            "Consume requests: from read off the socket to the reply sent.") ||
         sl_prom_hist(b, "seglog_consume_latency_seconds", NULL, &s->metrics.consume_latency);
    rc = rc || sl_prom_head(b, "seglog_fsync_duration_seconds", "histogram",
                            "fdatasync and directory fsync calls of the logs.") ||
         sl_prom_hist(b, "seglog_fsync_duration_seconds", NULL, &s->metrics.fsync);
    rc = rc || sl_prom_head(b, "seglog_commit_batch_records", "histogram",
                            "Records made durable per commit point (one group fdatasync "
                            "under --sync always).") ||
         sl_prom_hist(b, "seglog_commit_batch_records", NULL, &s->metrics.commit_records);
    return rc;
}

typedef struct {
    const char *name, *type, *help;
} fam_t;

/* Per-topic families, one series per live topic each. */
static const fam_t s_topic_fams[] = {
    {"seglog_topic_produced_records_total", "counter", "Records acknowledged to producers."},
    {"seglog_topic_produced_bytes_total", "counter",
     "Stored bytes of the records acknowledged to producers."},
    {"seglog_topic_consumed_records_total", "counter", "Records served by consume requests."},
    {"seglog_topic_consumed_bytes_total", "counter",
     "Stored bytes of the records served by consume requests."},
    {"seglog_topic_log_start_offset", "gauge", "Lowest offset still stored."},
    {"seglog_topic_log_end_offset", "gauge", "Visible end: the next offset a consumer can read up to."},
    {"seglog_topic_committed_offset", "gauge", "End of what passed the log's commit point."},
    {"seglog_topic_segments", "gauge", "Segments of the topic's log."},
    {"seglog_topic_disk_bytes", "gauge",
     "Size of the topic's files (stores and indexes, preallocated index space included)."},
};

static uint64_t s_topic_value(seglog_server_t *s, sl_topic_t *tp, int f, uint64_t *segs,
                              uint64_t *bytes)
{
    uint64_t v = 0;
    switch (f) {
    case 0: return LOAD(tp->m_produced_records);
    case 1: return LOAD(tp->m_produced_bytes);
    case 2: return LOAD(tp->m_consumed_records);
    case 3: return LOAD(tp->m_consumed_bytes);
    case 4:
        if (seglog_log_lowest_offset(tp->log, &v) == 0 && v > sl_topic_visible_end(tp))
            v = sl_topic_visible_end(tp);
        return v;
    case 5: return sl_topic_visible_end(tp);
    case 6: return sl_topic_publish_end(tp);
    case 7:
        if (*segs == UINT64_MAX)
            sl_topic_disk_usage(s->cfg.data_dir, tp->name, segs, bytes);
        return *segs;
    default:
        if (*segs == UINT64_MAX)
            sl_topic_disk_usage(s->cfg.data_dir, tp->name, segs, bytes);
        return *bytes;
    }
}

static int s_topics(seglog_server_t *s, sl_buf_t *b)
{
    sl_topic_t **list = NULL;
    size_t n = 0;
    if (sl_topics_list(s->topics, &list, &n))
        return -1;
    const int nf = (int)(sizeof s_topic_fams / sizeof s_topic_fams[0]);
    uint64_t *segs = calloc(n + 1, sizeof *segs), *bytes = calloc(n + 1, sizeof *bytes);
    int rc = segs && bytes ? 0 : -1;
    for (size_t i = 0; i < n && !rc; i++)
        segs[i] = UINT64_MAX; /* not scanned yet */
    for (int f = 0; f < nf && !rc; f++) {
        rc = sl_prom_head(b, s_topic_fams[f].name, s_topic_fams[f].type, s_topic_fams[f].help);
        for (size_t i = 0; i < n && !rc; i++) {
            if (atomic_load(&list[i]->deleted))
                continue;
            char lab[SL_TOPIC_NAME_MAX + 16];
            snprintf(lab, sizeof lab, "topic=\"%s\"", list[i]->name); /* [A-Za-z0-9._-] */
            rc = sl_prom_u64(b, s_topic_fams[f].name, lab,
                             s_topic_value(s, list[i], f, &segs[i], &bytes[i]));
        }
    }
    free(segs);
    free(bytes);
    free(list);
    return rc;
}

static int s_server(seglog_server_t *s, sl_buf_t *b)
{
    sl_metrics_t *m = &s->metrics;
    int rc = sl_prom_head(b, "seglog_topics", "gauge", "Topics open.") ||
             sl_prom_u64(b, "seglog_topics", NULL, sl_topics_count(s->topics));
    rc = rc || sl_prom_head(b, "seglog_connected_clients", "gauge",
                            "ZeroMQ connections to the request socket (accepted minus "
                            "disconnected, from the socket monitor).") ||
         sl_prom_i64(b, "seglog_connected_clients", NULL, LOAD(m->clients));
    rc = rc || sl_prom_head(b, "seglog_client_connections_total", "counter",
                            "ZeroMQ connections accepted on the request socket.") ||
         sl_prom_u64(b, "seglog_client_connections_total", NULL, LOAD(m->clients_accepted));
    rc = rc || sl_prom_head(b, "seglog_worker_queue_depth", "gauge",
                            "Requests queued at or held by each worker thread.");
    for (int i = 0; i < s->nworkers && i < SL_M_MAX_WORKERS && !rc; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "worker=\"%d\"", i);
        rc = sl_prom_i64(b, "seglog_worker_queue_depth", lab, LOAD(m->worker_depth[i]));
    }
    rc = rc || sl_prom_head(b, "seglog_replies_waiting_commit", "gauge",
                            "Replies the front end holds until their produce commits.") ||
         sl_prom_i64(b, "seglog_replies_waiting_commit", NULL, LOAD(m->parked));
    rc = rc || sl_prom_head(b, "seglog_replies_dropped_total", "counter",
                            "Replies the request socket refused (client gone or at its "
                            "high-water mark).") ||
         sl_prom_u64(b, "seglog_replies_dropped_total", NULL, SL_STAT_GET(&s->stats, replies_dropped));
    rc = rc || sl_prom_head(b, "seglog_pub_subscriptions", "gauge",
                            "Distinct topic prefixes subscribed on the PUB socket (XPUB reports "
                            "a prefix's first subscribe and last unsubscribe, not subscribers).") ||
         sl_prom_u64(b, "seglog_pub_subscriptions", NULL,
                     (uint64_t)sl_publisher_subscriptions(s->publisher));
    rc = rc || sl_prom_head(b, "seglog_pub_messages_total", "counter",
                            "Messages sent on the PUB socket, by kind.") ||
         sl_prom_u64(b, "seglog_pub_messages_total", "kind=\"record\"",
                     SL_STAT_GET(&s->stats, published)) ||
         sl_prom_u64(b, "seglog_pub_messages_total", "kind=\"heartbeat\"",
                     SL_STAT_GET(&s->stats, heartbeats));
    rc = rc || sl_prom_head(b, "seglog_pub_connections", "gauge",
                            "TCP connections to the PUB socket (accepted minus disconnected, "
                            "from the socket monitor).") ||
         sl_prom_u64(b, "seglog_pub_connections", NULL,
                     (uint64_t)sl_publisher_connections(s->publisher));
    rc = rc || sl_prom_head(b, "seglog_pub_dropped_total", "counter",
                            "PUB messages (records and heartbeats) that at least one subscriber "
                            "did not get because its queue was at the high-water mark.") ||
         sl_prom_u64(b, "seglog_pub_dropped_total", NULL, SL_STAT_GET(&s->stats, pub_dropped));
    rc = rc || sl_prom_head(b, "seglog_pub_gap_records_total", "counter",
                            "Records the publisher could not read and skipped (subscribers "
                            "see the gap and fetch it).") ||
         sl_prom_u64(b, "seglog_pub_gap_records_total", NULL, SL_STAT_GET(&s->stats, publish_gaps));
    rc = rc || sl_prom_head(b, "seglog_http_requests_total", "counter",
                            "HTTP requests answered, by status class.");
    static const char *cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6 && !rc; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "code=\"%s\"", cls[i]);
        rc = sl_prom_u64(b, "seglog_http_requests_total", lab, LOAD(m->http_requests[i]));
    }
    rc = rc || sl_prom_head(b, "seglog_http_connections", "gauge", "Open HTTP connections.") ||
         sl_prom_i64(b, "seglog_http_connections", NULL, LOAD(m->http_connections));
    rc = rc || sl_prom_head(b, "seglog_http_streams", "gauge", "Open server-sent event streams.") ||
         sl_prom_i64(b, "seglog_http_streams", NULL, LOAD(m->sse_clients));
    rc = rc || sl_prom_head(b, "seglog_http_stream_events_total", "counter",
                            "Record events sent on server-sent event streams.") ||
         sl_prom_u64(b, "seglog_http_stream_events_total", NULL, LOAD(m->sse_events));
    return rc;
}

int sl_metrics_render(seglog_server_t *s, sl_buf_t *b)
{
    int rc = s_requests(s, b) || s_server(s, b) || s_topics(s, b);
    if (!rc && s->repl)
        rc = sl_cmode_metrics(s->repl, b);
    return rc ? SEGLOG_E_NOMEM : 0;
}
