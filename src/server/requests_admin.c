/* requests_admin.c - serving the admin requests in a worker (truncate,
 * topic settings, InitProducerId, Info / ListTopics / CreateTopic /
 * DeleteTopic through admin.c) and the ACL check every request passes
 * first (docs/SECURITY.md), beside requests.c. */
#include "worker_impl.h"

#include "acl.h"
#include "admin.h"
#include "cmode.h"
#include "errors.h"
#include "pids.h"
#include "slog.h"
#include "topicconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_wk_truncate(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        sl_wk_topic_error(w, slot, req, rc);
        return;
    }
    /* Cluster mode: the leader truncates (the leadership held until it is
     * done); its followers follow the log start its fetch answers carry. */
    void *hold = NULL;
    if (w->cfg.repl && sl_cmode_lead_begin(w->cfg.repl, tp->name, req->id, &hold, &w->out)) {
        sl_wk_reply_buf(w, slot);
        return;
    }
    uint64_t end = sl_topic_visible_end(tp), lowest = 0;
    if (req->lowest_offset > end) {
        if (hold)
            sl_cmode_produce_end(w->cfg.repl, hold);
        char msg[ERRMSG_MAX];
        snprintf(msg, sizeof msg,
                 "cannot truncate topic \"%s\" to %" PRIu64 ": past its next offset %" PRIu64,
                 tp->name, req->lowest_offset, end);
        sl_wk_reply_error(w, slot, req->id, SEGLOG_E_OFFSET_OUT_OF_RANGE, msg);
        return;
    }
    /* Only whole segments below the active one go, and the active
     * segment's base is never above the commit point. */
    rc = seglog_log_truncate(tp->log, req->lowest_offset, &lowest);
    if (hold)
        sl_cmode_produce_end(w->cfg.repl, hold);
    if (rc) {
        sl_wk_log_error(w, slot, req, tp, "truncate", rc);
        return;
    }
    sl_log(SL_LOG_INFO, "truncated topic=%s requested=%" PRIu64 " lowest=%" PRIu64, tp->name,
           req->lowest_offset, lowest);
    w->out.len = 0;
    if (sl_codec_encode_truncate(&w->out, req->id, lowest))
        w->out.len = 0;
    sl_wk_reply_buf(w, slot);
}

void sl_wk_init_producer_id(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    uint64_t pid = 0;
    char why[300] = "";
    int rc = w->cfg.pids ? sl_pids_next(w->cfg.pids, &pid, why, sizeof why) : SEGLOG_E_INVAL;
    if (rc) {
        char msg[ERRMSG_MAX];
        snprintf(msg, sizeof msg, "cannot hand out a producer id: %s",
                 *why ? why : sl_strerror(rc));
        sl_log(SL_LOG_ERROR, "init_producer_id failed error=\"%s\"", msg);
        sl_wk_reply_error(w, slot, req->id, rc == SEGLOG_E_INVAL ? SEGLOG_E_NOMEM : rc, msg);
        return;
    }
    w->out.len = 0;
    if (sl_codec_encode_init_producer_id(&w->out, req->id, pid))
        w->out.len = 0;
    sl_wk_reply_buf(w, slot);
}

/* Admin: a topic's settings (topicconf.h): read, or change and read. */
void sl_wk_topic_config(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        sl_wk_topic_error(w, slot, req, rc);
        return;
    }
    char msg[ERRMSG_MAX], *dir = NULL;
    if (w->cfg.repl && req->nconfig) {
        /* Cluster mode: ZooKeeper holds the settings (docs/CLUSTER.md). */
        int64_t v[SL_CONF_N];
        int seen[SL_CONF_N];
        rc = sl_topicconf_validate(req, v, seen, msg, sizeof msg);
        if (rc == 0)
            rc = sl_cmode_config_set(w->cfg.repl, tp->name, v, seen, msg, sizeof msg);
        if (rc == 0 && sl_topicconf_encode(&tp->conf, w->cfg.conf_defaults, req->id, &w->out)) {
            rc = SEGLOG_E_NOMEM;
            snprintf(msg, sizeof msg, "out of memory (the settings were changed)");
        }
    } else {
        dir = sl_topics_dir(w->cfg.topics, tp);
        rc = dir ? sl_topicconf_request(&tp->conf, dir, w->cfg.conf_defaults, req, &w->out, msg,
                                        sizeof msg)
                 : SEGLOG_E_NOMEM;
        if (!dir)
            snprintf(msg, sizeof msg, "out of memory");
        free(dir);
    }
    if (rc) {
        if (rc != SL_E_BAD_REQUEST)
            sl_log(SL_LOG_ERROR, "topic_config failed topic=%s error=\"%s\"", tp->name, msg);
        sl_wk_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    if (req->nconfig)
        sl_log(SL_LOG_INFO, "topic settings changed topic=%s entries=%zu", tp->name,
               req->nconfig);
    sl_wk_reply_buf(w, slot);
}

/* Info, ListTopics, CreateTopic, DeleteTopic (admin.c). */
void sl_wk_admin(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    char msg[ERRMSG_MAX] = "";
    int rc;
    if (req->type == SL_REQ_INFO)
        rc = w->cfg.info ? sl_admin_info(&w->out, req->id, w->cfg.info) : SEGLOG_E_INVAL;
    else if (req->type == SL_REQ_LIST_TOPICS)
        rc = sl_admin_list_topics(&w->out, req->id, w->cfg.topics,
                                  w->cfg.secure ? w->cfg.acl : NULL, &slot->job->who);
    else if (req->type == SL_REQ_CREATE_TOPIC)
        rc = sl_admin_create_topic(&w->out, req, w->cfg.topics, w->cfg.repl, msg, sizeof msg);
    else
        rc = sl_admin_delete_topic(&w->out, req, w->cfg.topics, w->cfg.repl, msg, sizeof msg);
    if (rc) {
        if (!msg[0])
            snprintf(msg, sizeof msg, "%s", sl_strerror(rc));
        if (rc == SL_E_INVALID_TOPIC)
            sl_log_client(SL_LOG_WARN, "invalid topic worker=%s request=%s", w->name,
                          req->type == SL_REQ_CREATE_TOPIC ? "create_topic" : "delete_topic");
        sl_wk_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    sl_wk_reply_buf(w, slot);
}

/* With CURVE: may the request's sender do it? 0, or -1 after replying
 * PERMISSION_DENIED naming the action and the topic. Info, ListTopics,
 * Metadata and InitProducerId are open to every known key (ListTopics is
 * filtered); CommitOffset and FetchOffset need consume on the topic;
 * request types not listed here need admin (docs/SECURITY.md). */
int sl_wk_authorize(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    const sl_principal_t *who = &slot->job->who;
    const char *action;
    unsigned right;
    switch (req->type) {
    case SL_REQ_INFO:
    case SL_REQ_LIST_TOPICS:
    case SL_REQ_METADATA:
    case SL_REQ_INIT_PRODUCER_ID: /* an id for later produces, each checked */
        right = 0;
        action = "";
        break;
    case SL_REQ_PRODUCE:
        right = SL_ACL_PRODUCE;
        action = "produce to";
        break;
    case SL_REQ_CONSUME:
        right = SL_ACL_CONSUME;
        action = "consume from";
        break;
    case SL_REQ_OFFSETS:
        right = SL_ACL_CONSUME;
        action = "read the offsets of";
        break;
    case SL_REQ_COMMIT_OFFSET:
        right = SL_ACL_CONSUME;
        action = "commit a group offset of";
        break;
    case SL_REQ_FETCH_OFFSET:
        right = SL_ACL_CONSUME;
        action = "read a group offset of";
        break;
    case SL_REQ_OFFSET_FOR_TIME:
        right = SL_ACL_CONSUME;
        action = "look up offsets by time in";
        break;
    case SL_REQ_TRUNCATE:
        right = SL_ACL_ADMIN;
        action = "truncate";
        break;
    case SL_REQ_TOPIC_CONFIG:
        right = SL_ACL_ADMIN;
        action = "configure";
        break;
    case SL_REQ_DELETE_TOPIC:
        right = SL_ACL_ADMIN;
        action = "delete";
        break;
    case SL_REQ_CREATE_TOPIC:
        right = SL_ACL_ADMIN;
        action = "create";
        break;
    default:
        right = SL_ACL_ADMIN;
        action = "administer";
        break;
    }
    if (who->key[0] && (!right || !w->cfg.acl ||
                        sl_acl_allows(w->cfg.acl, who, req->topic ? req->topic : "", right)))
        return 0;
    char msg[ERRMSG_MAX], q[300], p[80];
    sl_principal_str(who, p, sizeof p);
    sl_log_quote(q, sizeof q, req->topic, req->topic_len);
    if (!who->key[0])
        snprintf(msg, sizeof msg, "permission denied: the request carries no CURVE identity");
    else
        snprintf(msg, sizeof msg, "permission denied: %s may not %s topic %s (needs the %s right)",
                 p, action, q, sl_acl_right_name(right));
    sl_log_client(SL_LOG_WARN, "permission denied worker=%s client=%s action=%s topic=%s",
                  w->name, p, sl_acl_right_name(right), q);
    sl_wk_reply_error(w, slot, req->id, SEGLOG_SERVER_E_PERMISSION_DENIED, msg);
    return -1;
}

/* A request frame of len bytes over max_message_bytes: not decoded; the
 * id, if the frame had one, is all that is taken from it. */
