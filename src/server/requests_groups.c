/* requests_groups.c - serving CommitOffset and FetchOffset in a worker
 * (consumer groups, groups.h), beside requests.c. A commit is an append
 * to the internal topic __consumer_offsets, left pending for the group
 * commit like a produce (and, in cluster mode, acknowledged with acks=all
 * by that topic's leader only); a fetch reads the map groups.h keeps. */
#include "worker_impl.h"

#include "cmode.h"
#include "errors.h"
#include "groups.h"
#include "slog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

static const char *s_topic_name(const sl_request_t *req)
{
    return req->topic_len ? req->topic : SL_DEFAULT_TOPIC;
}

/* The group and topic names of req are ones the server takes: 0, or 1
 * with the error reply made. */
static int s_bad_names(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    char msg[ERRMSG_MAX], q[300];
    if (!w->cfg.groups) {
        sl_wk_reply_error(w, slot, req->id, SL_E_BAD_REQUEST,
                          "consumer groups are not served by this worker");
        return 1;
    }
    if (!sl_topic_name_valid(req->group, req->group_len)) {
        sl_log_quote(q, sizeof q, req->group, req->group_len);
        snprintf(msg, sizeof msg,
                 req->group_len ? "invalid group name %s: must match [A-Za-z0-9._-]{1,128} and "
                                  "not be \".\" or \"..\""
                                : "the group name is empty%s",
                 req->group_len ? q : "");
        sl_wk_reply_error(w, slot, req->id, SL_E_BAD_REQUEST, msg);
        return 1;
    }
    const char *topic = s_topic_name(req);
    size_t tlen = strlen(topic);
    if (!sl_topic_name_valid(topic, tlen) || sl_groups_is_internal(topic, tlen)) {
        sl_log_quote(q, sizeof q, topic, tlen);
        snprintf(msg, sizeof msg, "invalid topic name %s for a consumer group offset", q);
        sl_wk_reply_error(w, slot, req->id, SL_E_INVALID_TOPIC, msg);
        return 1;
    }
    return 0;
}

/* Cluster mode: this node must lead __consumer_offsets. 0 (and, for a
 * commit, *epoch, *acks_all and *hold as sl_cmode_produce_begin sets
 * them), or 1 with the reply (NOT_LEADER with the leader's endpoint, ...)
 * made. Standalone: 0. */
static int s_lead_offsets(sl_worker_t *w, slot_t *slot, const sl_request_t *req, int32_t *epoch,
                          int *acks_all, void **hold)
{
    *epoch = 0;
    *acks_all = 0;
    *hold = NULL;
    if (!w->cfg.repl)
        return 0;
    sl_request_t p = {.id = req->id,
                      .type = SL_REQ_PRODUCE,
                      .topic = SL_GROUPS_TOPIC,
                      .topic_len = sizeof SL_GROUPS_TOPIC - 1,
                      .acks = SL_ACKS_ALL};
    w->out.len = 0;
    if (sl_cmode_produce_begin(w->cfg.repl, &p, epoch, acks_all, hold, &w->out)) {
        sl_wk_reply_buf(w, slot);
        return 1;
    }
    return 0;
}

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sl_wk_commit_offset(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    char msg[ERRMSG_MAX];
    if (s_bad_names(w, slot, req))
        return;
    if (req->metadata_len > SL_GROUP_METADATA_MAX) {
        snprintf(msg, sizeof msg, "metadata of %zu bytes: at most %u", req->metadata_len,
                 SL_GROUP_METADATA_MAX);
        sl_wk_reply_error(w, slot, req->id, SL_E_BAD_REQUEST, msg);
        return;
    }
    const char *topic = s_topic_name(req);
    sl_topic_t *tp;
    /* Standalone: the topic must exist here. In cluster mode it may live
     * on other nodes than the offsets topic's leader: the name is enough. */
    if (!w->cfg.repl && sl_topics_get(w->cfg.topics, topic, strlen(topic), 0, &tp) != 0) {
        snprintf(msg, sizeof msg, "unknown topic \"%s\"", topic);
        sl_wk_reply_error(w, slot, req->id, SL_E_UNKNOWN_TOPIC, msg);
        return;
    }
    int32_t epoch;
    int acks_all;
    void *hold;
    if (s_lead_offsets(w, slot, req, &epoch, &acks_all, &hold))
        return;
    char key[2 * (SL_TOPIC_NAME_MAX + 1) + 2];
    size_t klen = 0;
    int rc = sl_groups_key(key, sizeof key, req->group, topic, &klen) ? SEGLOG_E_INVAL : 0;
    if (rc == 0)
        rc = sl_topics_get(w->cfg.topics, SL_GROUPS_TOPIC, sizeof SL_GROUPS_TOPIC - 1, 1, &tp);
    uint8_t *val = NULL, *rec = NULL;
    sl_record_t r = {.key = (const uint8_t *)key,
                     .key_len = klen,
                     .timestamp_ms = s_now_ms(),
                     .leader_epoch = (uint64_t)epoch};
    if (rc == 0) {
        r.value_len = sl_codec_offset_value_size(req->offset, req->metadata_len);
        val = sl_arena_alloc(w->arena, r.value_len + 1);
        if (val) {
            sl_codec_offset_value_write(val, req->offset, req->metadata, req->metadata_len);
            r.value = val;
            rec = sl_arena_alloc(w->arena, sl_codec_stored_size(&r));
        }
        rc = rec ? 0 : SEGLOG_E_NOMEM;
    }
    uint64_t first = 0;
    if (rc == 0) {
        struct iovec iov = {rec, sl_codec_stored_write(&r, rec)};
        rc = seglog_log_append_batch_nowait(tp->log, &iov, 1, &first, &slot->token);
    }
    if (w->cfg.repl)
        sl_cmode_produce_end(w->cfg.repl, hold);
    if (rc) {
        snprintf(msg, sizeof msg, "commit of group \"%s\" failed: %s", req->group,
                 sl_strerror(rc));
        sl_log(SL_LOG_ERROR, "commit_offset failed group=%s error=\"%s\"", req->group,
               sl_strerror(rc));
        sl_wk_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    slot->pending = 1;
    slot->commit_offset = 1;
    w->appended = 1;
    slot->acks_all = acks_all;
    slot->epoch = epoch;
    if (w->cfg.repl) {
        slot->since_ms = sl_cmode_now_ms();
        sl_cmode_appended(w->cfg.repl);
    }
    slot->topic = tp;
    slot->id = req->id;
    slot->first = first;
    slot->count = 1;
}

void sl_wk_fetch_offset(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    char msg[ERRMSG_MAX];
    if (s_bad_names(w, slot, req))
        return;
    int32_t epoch;
    int acks_all;
    void *hold;
    if (s_lead_offsets(w, slot, req, &epoch, &acks_all, &hold))
        return;
    if (w->cfg.repl)
        sl_cmode_produce_end(w->cfg.repl, hold);
    const char *topic = s_topic_name(req);
    sl_topic_t *tp;
    int found = 0;
    uint64_t offset = 0;
    char md[SL_GROUP_METADATA_MAX + 1];
    size_t md_len = 0;
    int rc = sl_topics_get(w->cfg.topics, SL_GROUPS_TOPIC, sizeof SL_GROUPS_TOPIC - 1, 0, &tp);
    if (rc == 0)
        rc = sl_groups_fetch(w->cfg.groups, tp->log, sl_topic_visible_end(tp), req->group, topic,
                             &found, &offset, md, sizeof md, &md_len);
    if (rc == SL_E_UNKNOWN_TOPIC || rc == 1) { /* no commit at all yet, or none of this group */
        snprintf(msg, sizeof msg, "unknown group \"%s\": it has never committed an offset",
                 req->group);
        sl_wk_reply_error(w, slot, req->id, SL_E_UNKNOWN_GROUP, msg);
        return;
    }
    if (rc) {
        snprintf(msg, sizeof msg, "fetch_offset failed: %s", sl_strerror(rc));
        sl_log(SL_LOG_ERROR, "fetch_offset failed error=\"%s\"", sl_strerror(rc));
        sl_wk_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    w->out.len = 0;
    if (sl_codec_encode_fetch_offset(&w->out, req->id, found, offset, md, md_len))
        w->out.len = 0;
    sl_wk_reply_buf(w, slot);
}
