/* admin.c - see admin.h */
#include "admin.h"

#include "cmode.h"
#include "errors.h"
#include "groups.h"
#include "slog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int sl_admin_info(sl_buf_t *out, uint64_t id, const sl_info_t *info)
{
    out->len = 0;
    return sl_codec_encode_info(out, id, info);
}

int sl_admin_list_topics(sl_buf_t *out, uint64_t id, sl_topics_t *topics, const sl_acl_t *acl,
                         const sl_principal_t *who)
{
    sl_topic_t **v = NULL;
    size_t n = 0;
    int rc = sl_topics_list(topics, &v, &n);
    if (rc)
        return rc;
    sl_topic_row_t *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        free(v);
        return SEGLOG_E_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        sl_topic_t *tp = v[i];
        uint64_t lowest = 0, epoch = 0;
        if (acl && !sl_acl_any(acl, who, tp->name))
            continue;
        if (sl_groups_is_internal(tp->name, tp->name_len))
            continue; /* consumer groups' offsets: hidden (docs/PROTOCOL.md) */
        /* A topic deleted since the list was taken fails here: leave it out. */
        if (seglog_log_lowest_offset(tp->log, &lowest) || seglog_log_epoch(tp->log, &epoch))
            continue;
        uint64_t end = sl_topic_visible_end(tp);
        rows[k++] = (sl_topic_row_t){
            .name = tp->name, .lowest = lowest < end ? lowest : end, .next = end, .epoch = epoch};
    }
    out->len = 0;
    rc = sl_codec_encode_topics(out, id, rows, k);
    free(rows);
    free(v);
    return rc;
}

int sl_admin_create_topic(sl_buf_t *out, const sl_request_t *req, sl_topics_t *topics,
                          struct sl_repl *repl, char *msg, size_t cap)
{
    const char *name = req->topic_len ? req->topic : SL_DEFAULT_TOPIC;
    size_t len = req->topic_len ? req->topic_len : sizeof SL_DEFAULT_TOPIC - 1;
    if (!sl_topic_name_valid(name, len)) {
        char q[300];
        sl_log_quote(q, sizeof q, name, len);
        snprintf(msg, cap,
                 "invalid topic name %s: must match [A-Za-z0-9._-]{1,128} and not be \".\" or "
                 "\"..\"",
                 q);
        return SL_E_INVALID_TOPIC;
    }
    if (repl) { /* cluster mode: ZooKeeper decides; out holds the answer either way */
        sl_cmode_create_topic(repl, name, req->replicas, req->id, out);
        return 0;
    }
    if (req->replicas > 1) {
        snprintf(msg, cap,
                 "a standalone server holds one replica of a topic: %u replicas need cluster "
                 "mode (seglogd --zookeeper)",
                 req->replicas);
        return SL_E_BAD_REQUEST;
    }
    sl_topic_t *tp;
    int created = 0;
    int rc = sl_topics_get(topics, name, len, 0, &tp);
    if (rc == SL_E_UNKNOWN_TOPIC) {
        rc = sl_topics_get(topics, name, len, 1, &tp);
        created = rc == 0;
    }
    if (rc) {
        snprintf(msg, cap, "cannot create topic \"%.*s\": %s", (int)len, name, sl_strerror(rc));
        return rc;
    }
    if (created)
        sl_log(SL_LOG_INFO, "topic created by request topic=%.*s", (int)len, name);
    out->len = 0;
    return sl_codec_encode_create_topic(out, req->id, created, 1);
}

int sl_admin_delete_topic(sl_buf_t *out, const sl_request_t *req, sl_topics_t *topics,
                          struct sl_repl *repl, char *msg, size_t cap)
{
    int rc;
    if (repl) { /* cluster mode: ZooKeeper first, every replica follows */
        const char *name = req->topic_len ? req->topic : SL_DEFAULT_TOPIC;
        size_t len = req->topic_len ? req->topic_len : sizeof SL_DEFAULT_TOPIC - 1;
        rc = sl_topic_name_valid(name, len) ? sl_cmode_delete_topic(repl, name, msg, cap)
                                            : SL_E_INVALID_TOPIC;
        if (rc == 0) {
            out->len = 0;
            return sl_codec_encode_delete_topic(out, req->id);
        }
        if (rc == SEGLOG_SERVER_E_CLUSTER)
            return rc; /* msg says why */
        msg[0] = '\0';
    } else {
        rc = sl_topics_delete(topics, req->topic, req->topic_len);
    }
    if (rc == 0) {
        out->len = 0;
        return sl_codec_encode_delete_topic(out, req->id);
    }
    char q[300];
    sl_log_quote(q, sizeof q, req->topic_len ? req->topic : SL_DEFAULT_TOPIC,
                 req->topic_len ? req->topic_len : sizeof SL_DEFAULT_TOPIC - 1);
    if (rc == SL_E_INVALID_TOPIC)
        snprintf(msg, cap,
                 "invalid topic name %s: must match [A-Za-z0-9._-]{1,128} and not be \".\" or "
                 "\"..\"",
                 q);
    else if (rc == SL_E_UNKNOWN_TOPIC)
        snprintf(msg, cap, "unknown topic %s", q);
    else
        snprintf(msg, cap, "cannot delete topic %s: %s", q, sl_strerror(rc));
    return rc;
}
