/* cmode.c - see cmode.h */
#include "cmode.h"

#include "slog.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#ifdef SEGLOG_HAVE_CLUSTER
#include "acl.h"
#include "clog.h"
#include "repl.h"
#include "security.h"

static void s_clog_sink(int level, const char *line, void *arg)
{
    (void)arg;
    sl_log(level, "cluster: %s", line);
}

/* "tcp://host:port" -> host into buf ("127.0.0.1" if there is none). */
static void s_host(const char *ep, char *buf, size_t cap)
{
    const char *h = strstr(ep, "://");
    h = h ? h + 3 : ep;
    const char *c = strrchr(h, ':');
    size_t n = c ? (size_t)(c - h) : strlen(h);
    if (n == 0 || n >= cap || (n == 1 && *h == '*') || (n == 7 && !strncmp(h, "0.0.0.0", 7))) {
        snprintf(buf, cap, "127.0.0.1");
        return;
    }
    memcpy(buf, h, n);
    buf[n] = 0;
}

/* The replicate right of a Fetch's sender (repl.h's may_replicate). */
static int s_may_replicate(void *arg, void *frame, const char *topic)
{
    const sl_acl_t *acl = arg;
    sl_principal_t who;
    if (sl_principal_from_msg(&who, frame) != 0)
        return 0;
    return sl_acl_allows(acl, &who, topic, SL_ACL_REPLICATE);
}

int sl_cmode_start(const seglog_server_config_t *cfg, void *zmq_ctx, sl_topics_t *topics,
                   const char *bound, const char *pub, int wake_fd, const sl_info_t *info,
                   const struct sl_security *sec, struct sl_repl **out)
{
    if (cfg->node_id < 1) {
        sl_log(SL_LOG_ERROR, "cluster mode needs --node-id N (an integer >= 1)");
        return SEGLOG_SERVER_E_CLUSTER;
    }
    sl_clog_set_sink(s_clog_sink, NULL);
    const char *adv = cfg->advertise ? cfg->advertise : bound;
    char host[256], bind_host[256], repl_bind[300];
    s_host(adv, host, sizeof host);
    s_host(cfg->bind, bind_host, sizeof bind_host);
    snprintf(repl_bind, sizeof repl_bind, "tcp://%s:*", bind_host);
    sl_repl_config_t rc = {
        .zookeeper = cfg->zookeeper,
        .node_id = cfg->node_id,
        .endpoint = adv,
        .pub_endpoint = pub,
        .repl_bind = cfg->repl_bind ? cfg->repl_bind : repl_bind,
        .repl_advertise_host = host,
        .replication_factor = cfg->replication_factor,
        .min_insync = cfg->min_insync > 0 ? cfg->min_insync : 2,
        .replica_lag_ms = cfg->replica_lag_ms > 0 ? cfg->replica_lag_ms : 10000,
        .zk_session_ms = cfg->zk_session_ms > 0 ? cfg->zk_session_ms : 6000,
        .zmq_ctx = zmq_ctx,
        .topics = topics,
        .wake_fd = wake_fd,
        .segment_bytes = cfg->segment_bytes,
        .max_batch_records = info->max_batch_records,
        .data_dir = cfg->data_dir,
        .hw_checkpoint_ms = cfg->hw_checkpoint_ms > 0 ? cfg->hw_checkpoint_ms : 5000,
        .curve_public = sl_security_public_key(sec),
        .curve_secret = sl_security_secret_key(sec),
        .may_replicate = sl_security_acl(sec) ? s_may_replicate : NULL,
        .may_arg = (void *)sl_security_acl(sec),
    };
    if (sl_repl_new(&rc, out)) {
        sl_log(SL_LOG_ERROR, "cluster mode could not start (see above)");
        return SEGLOG_SERVER_E_CLUSTER;
    }
    return 0;
}

void sl_cmode_stop(struct sl_repl **r)
{
    sl_repl_destroy(r);
}

static void s_error(sl_buf_t *out, uint64_t id, const sl_repl_produce_t *v)
{
    out->len = 0;
    if (sl_codec_encode_error_leader(out, id, (sl_wire_code_t)v->code, v->msg, v->leader))
        out->len = 0;
}

int sl_cmode_produce_begin(struct sl_repl *r, const sl_request_t *req, int32_t *epoch,
                           int *acks_all, void **hold, sl_buf_t *out)
{
    sl_repl_produce_t v;
    sl_repl_produce_begin(r, req->topic, req->topic_len, req->acks, &v);
    if (v.code) {
        s_error(out, req->id, &v);
        return 1;
    }
    *epoch = v.epoch;
    *acks_all = v.acks_all;
    *hold = v.hold;
    return 0;
}

void sl_cmode_produce_end(struct sl_repl *r, void *hold)
{
    sl_repl_produce_end(r, hold);
}

int sl_cmode_lead_begin(struct sl_repl *r, const char *topic, uint64_t id, void **hold,
                        sl_buf_t *out)
{
    sl_repl_produce_t v;
    sl_repl_lead_begin(r, topic, &v);
    if (v.code) {
        s_error(out, id, &v);
        return 1;
    }
    *hold = v.hold;
    return 0;
}

void sl_cmode_appended(struct sl_repl *r)
{
    sl_repl_appended(r);
}

int sl_cmode_ack(struct sl_repl *r, sl_topic_t *tp, uint64_t id, uint64_t end, int32_t epoch,
                 int64_t since, int wait, sl_buf_t *out)
{
    sl_repl_produce_t v;
    int rc = wait ? sl_repl_ack_wait(r, tp, end, epoch, since, &v)
                  : sl_repl_ack_check(r, tp, end, epoch, since, &v);
    if (rc < 0)
        s_error(out, id, &v);
    return rc;
}

int64_t sl_cmode_now_ms(void)
{
    return sl_repl_now_ms();
}

int sl_cmode_config_set(struct sl_repl *r, const char *topic, const int64_t *v, const int *seen,
                        char *msg, size_t cap)
{
    int rc = sl_repl_config_set(r, topic, v, seen, msg, cap);
    return rc > 0 ? rc : rc ? SEGLOG_SERVER_E_CLUSTER : 0;
}

int sl_cmode_create_topic(struct sl_repl *r, const char *topic, uint32_t replicas, uint64_t id,
                          sl_buf_t *out)
{
    int created = 0, n = 0, enough = 1;
    char msg[300] = "";
    int rc = sl_repl_create_topic(r, topic, (int)replicas, &created, &n, &enough, msg, sizeof msg);
    out->len = 0;
    if (rc == 0) {
        if (sl_codec_encode_create_topic(out, id, created, (uint32_t)n))
            out->len = 0;
        return 0;
    }
    if (sl_codec_encode_error(out, id, enough ? SL_WIRE_INTERNAL : SL_WIRE_NOT_ENOUGH_REPLICAS,
                              msg))
        out->len = 0;
    return 1;
}

int sl_cmode_delete_topic(struct sl_repl *r, const char *topic, char *msg, size_t cap)
{
    int unknown = 0;
    int rc = sl_repl_delete_topic(r, topic, &unknown, msg, cap);
    return rc == 0 ? 0 : unknown ? SL_E_UNKNOWN_TOPIC : SEGLOG_SERVER_E_CLUSTER;
}

int sl_cmode_pids_reserve(void *repl, uint64_t next, uint64_t block, uint64_t limit,
                          uint64_t *start, uint64_t *reserved, char *msg, size_t cap)
{
    return sl_repl_pids_reserve(repl, next, block, limit, start, reserved, msg, cap);
}

int sl_cmode_request(struct sl_repl *r, const sl_request_t *req, sl_buf_t *out)
{
    const char *why = NULL;
    out->len = 0;
    if (req->type == SL_REQ_METADATA) {
        if (r) {
            if (sl_repl_metadata(r, req->id, out) == 0)
                return 1;
            why = "out of memory";
        } else {
            why = "Metadata is served in cluster mode only (this seglogd is standalone)";
        }
    }
    if (!why)
        return 0;
    out->len = 0;
    if (sl_codec_encode_error(out, req->id, SL_WIRE_BAD_REQUEST, why))
        out->len = 0;
    return 1;
}

#else /* built without the cluster layer */

int sl_cmode_request(struct sl_repl *r, const sl_request_t *req, sl_buf_t *out)
{
    (void)r;
    if (req->type != SL_REQ_METADATA)
        return 0;
    out->len = 0;
    if (sl_codec_encode_error(out, req->id, SL_WIRE_BAD_REQUEST,
                              "Metadata is served in cluster mode only (this seglogd is standalone)"))
        out->len = 0;
    return 1;
}

int sl_cmode_start(const seglog_server_config_t *cfg, void *zmq_ctx, sl_topics_t *topics,
                   const char *bound, const char *pub, int wake_fd, const sl_info_t *info,
                   const struct sl_security *sec, struct sl_repl **out)
{
    (void)cfg, (void)zmq_ctx, (void)topics, (void)bound, (void)pub, (void)wake_fd, (void)info;
    (void)sec;
    *out = NULL;
    sl_log(SL_LOG_ERROR, "--zookeeper: this seglogd was built without cluster mode "
                         "(needs libzookeeper-mt-dev and libcjson-dev)");
    return SEGLOG_SERVER_E_CLUSTER;
}

void sl_cmode_stop(struct sl_repl **r)
{
    *r = NULL;
}

/* Unreachable: without cluster mode the server never has a repl. */
int sl_cmode_create_topic(struct sl_repl *r, const char *topic, uint32_t replicas, uint64_t id,
                          sl_buf_t *out)
{
    (void)r, (void)topic, (void)replicas;
    out->len = 0;
    if (sl_codec_encode_error(out, id, SL_WIRE_INTERNAL, "cluster mode not built"))
        out->len = 0;
    return 1;
}

/* Unreachable: without cluster mode the server never has a repl. */
int sl_cmode_delete_topic(struct sl_repl *r, const char *topic, char *msg, size_t cap)
{
    (void)r, (void)topic;
    snprintf(msg, cap, "cluster mode not built");
    return SEGLOG_SERVER_E_CLUSTER;
}

/* Unreachable: without cluster mode the server never has a repl. */
int sl_cmode_lead_begin(struct sl_repl *r, const char *topic, uint64_t id, void **hold,
                        sl_buf_t *out)
{
    (void)r, (void)topic, (void)id, (void)out;
    *hold = NULL;
    return 0;
}

/* Unreachable: without cluster mode the server never has a repl. */
int sl_cmode_pids_reserve(void *repl, uint64_t next, uint64_t block, uint64_t limit,
                          uint64_t *start, uint64_t *reserved, char *msg, size_t cap)
{
    (void)repl, (void)next, (void)block, (void)limit, (void)start, (void)reserved;
    snprintf(msg, cap, "cluster mode not built");
    return SEGLOG_SERVER_E_CLUSTER;
}

/* Unreachable: without cluster mode the server never has a repl. */
int sl_cmode_config_set(struct sl_repl *r, const char *topic, const int64_t *v, const int *seen,
                        char *msg, size_t cap)
{
    (void)r, (void)topic, (void)v, (void)seen;
    snprintf(msg, cap, "cluster mode not built");
    return SEGLOG_SERVER_E_CLUSTER;
}

/* Unreachable: without cluster mode the server never has a repl. */
void sl_cmode_produce_end(struct sl_repl *r, void *hold)
{
    (void)r, (void)hold;
}

int sl_cmode_produce_begin(struct sl_repl *r, const sl_request_t *req, int32_t *epoch,
                           int *acks_all, void **hold, sl_buf_t *out)
{
    (void)r, (void)epoch, (void)acks_all, (void)hold;
    if (sl_codec_encode_error(out, req->id, SL_WIRE_INTERNAL, "cluster mode not built"))
        out->len = 0;
    return 1;
}

void sl_cmode_appended(struct sl_repl *r)
{
    (void)r;
}

int sl_cmode_ack(struct sl_repl *r, sl_topic_t *tp, uint64_t id, uint64_t end, int32_t epoch,
                 int64_t since, int wait, sl_buf_t *out)
{
    (void)r, (void)tp, (void)end, (void)epoch, (void)since, (void)wait;
    if (sl_codec_encode_error(out, id, SL_WIRE_INTERNAL, "cluster mode not built"))
        out->len = 0;
    return -1;
}

int64_t sl_cmode_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
