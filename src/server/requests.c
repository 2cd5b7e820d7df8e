/* requests.c - serving one request in a worker: produce (append, left
 * pending for the group commit), consume, offsets, offset by time; the
 * admin requests and the ACL check are in requests_admin.c. See worker.h
 * and worker_impl.h. */
#include "worker_impl.h"

#include "acl.h"
#include "admin.h"
#include "cmode.h"
#include "committer.h"
#include "errors.h"
#include "groups.h"
#include "pids.h"
#include "slog.h"
#include "waiters.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *s_quote_topic(char *buf, size_t cap, const sl_request_t *req)
{
    return sl_log_quote(buf, cap, req->topic, req->topic_len);
}

/* The error reply for a failed topic lookup, with a message that says why. */
void sl_wk_topic_error(sl_worker_t *w, slot_t *slot, const sl_request_t *req, int err)
{
    char q[300], msg[ERRMSG_MAX];
    s_quote_topic(q, sizeof q, req);
    switch (err) {
    case SL_E_INVALID_TOPIC:
        snprintf(msg, sizeof msg,
                 "invalid topic name %s: must match [A-Za-z0-9._-]{1,128} and not be \".\" or "
                 "\"..\"",
                 q);
        sl_log_client(SL_LOG_WARN, "invalid topic worker=%s topic=%s", w->name, q);
        break;
    case SL_E_UNKNOWN_TOPIC:
        snprintf(msg, sizeof msg, "unknown topic %s", q);
        break;
    case SL_E_TOO_MANY_TOPICS:
        snprintf(msg, sizeof msg, "cannot create topic %s: the server holds its maximum of topics",
                 q);
        sl_log_client(SL_LOG_WARN, "topic limit reached worker=%s topic=%s", w->name, q);
        break;
    default:
        snprintf(msg, sizeof msg, "cannot open topic %s: %s", q, sl_strerror(err));
        break; /* topics.c logged it */
    }
    sl_wk_reply_error(w, slot, req->id, err, msg);
}

/* An error from the log core while serving req on tp. */
void sl_wk_log_error(sl_worker_t *w, slot_t *slot, const sl_request_t *req, const sl_topic_t *tp,
                     const char *what, int err)
{
    char msg[ERRMSG_MAX];
    if (err == SEGLOG_E_CLOSED && atomic_load(&tp->deleted)) {
        snprintf(msg, sizeof msg, "topic \"%s\" was deleted", tp->name);
        sl_wk_reply_error(w, slot, req->id, SL_E_UNKNOWN_TOPIC, msg);
        return;
    }
    snprintf(msg, sizeof msg, "%s on topic \"%s\" failed: %s", what, tp->name, sl_strerror(err));
    sl_wire_code_t code = sl_error_wire(err);
    if (code == SL_WIRE_STORAGE || code == SL_WIRE_CORRUPT || code == SL_WIRE_INTERNAL)
        sl_log(SL_LOG_ERROR, "%s failed topic=%s error=\"%s\"", what, tp->name, sl_strerror(err));
    sl_wk_reply_error(w, slot, req->id, err, msg);
}

/* ---- requests ----------------------------------------------------------- */

/* A produce with a producer id, before its append: 0 = append it (the
 * topic's producer state is then locked: the caller records the batch and
 * unlocks); 1 = answered here, unlocked: a duplicate waits for its
 * original's commit point (pending, like an append) and gets the original
 * offsets; a sequence gap or a stale one is OUT_OF_ORDER_SEQUENCE. */
static int s_idempotent_check(sl_worker_t *w, slot_t *slot, const sl_request_t *req,
                              sl_topic_t *tp, int32_t epoch, int acks_all)
{
    char msg[ERRMSG_MAX];
    int rc = sl_pstate_begin(tp->pstate, tp->log, epoch);
    if (rc) {
        sl_wk_log_error(w, slot, req, tp, "producer state", rc);
        return 1;
    }
    uint64_t first = 0, expected = 0;
    uint32_t count = 0;
    seglog_commit_t tok = {0};
    sl_seq_t v = sl_pstate_check(tp->pstate, req->producer_id, req->sequence, &first, &count,
                                 &expected, &tok);
    if (v == SL_SEQ_NEW)
        return 0;
    if (v == SL_SEQ_OLD) /* a resend from further back (after a failover, a restart) */
        v = sl_pstate_find_old(tp->pstate, tp->log, req->producer_id, req->sequence, &first,
                               &count, &tok);
    sl_pstate_end(tp->pstate);
    if (v == SL_SEQ_DUP) {
        /* Appended before: nothing is appended now. The reply waits for
         * the original to pass the commit point, as the original's reply
         * did, and fails if a rollback cut it (producers.h). */
        SL_STAT_ADD(w->cfg.stats, produce_duplicates, 1);
        slot->token = tok;
        slot->pending = 1;
        w->appended = 1;
        slot->acks_all = acks_all;
        slot->epoch = epoch;
        if (w->cfg.repl)
            slot->since_ms = sl_cmode_now_ms();
        slot->topic = tp;
        slot->id = req->id;
        slot->first = first;
        slot->count = count;
        return 1;
    }
    if (v == SL_SEQ_GAP)
        snprintf(msg, sizeof msg,
                 "producer %" PRIu64 " on topic \"%s\": sequence %" PRIu64
                 " is out of order: expected %" PRIu64 " (a batch is missing)",
                 req->producer_id, tp->name, req->sequence, expected);
    else
        snprintf(msg, sizeof msg,
                 "producer %" PRIu64 " on topic \"%s\": sequence %" PRIu64
                 " is older than the last %d batches the server keeps and not among the "
                 "topic's last %u records (next expected %" PRIu64 "); it was appended before",
                 req->producer_id, tp->name, req->sequence, SL_PSTATE_BATCHES,
                 SL_PSTATE_SCAN_RECORDS, expected);
    sl_log_client(SL_LOG_WARN, "out of order sequence worker=%s producer=%" PRIu64 " got=%" PRIu64
                  " expected=%" PRIu64, w->name, req->producer_id, req->sequence, expected);
    sl_wk_reply_error(w, slot, req->id, SL_E_OUT_OF_ORDER_SEQUENCE, msg);
    return 1;
}

/* epoch, acks_all: cluster mode's (s_produce); 0 standalone. */
static void s_produce_as(sl_worker_t *w, slot_t *slot, const sl_request_t *req, int32_t epoch,
                         int acks_all)
{
    /* Refuse oversized records before the topic lookup, which would create
     * the topic for a produce that appends nothing. */
    for (size_t i = 0; i < req->nrecords; i++) {
        const sl_record_t *r = &req->records[i];
        if (r->key_len + r->value_len > w->cfg.max_record_bytes) {
            char msg[ERRMSG_MAX];
            snprintf(msg, sizeof msg,
                     "record %zu of %zu has %zu bytes of key + value; the limit is %" PRIu32, i,
                     req->nrecords, r->key_len + r->value_len, w->cfg.max_record_bytes);
            sl_log_client(SL_LOG_WARN, "record too large worker=%s bytes=%zu limit=%" PRIu32,
                          w->name, r->key_len + r->value_len, w->cfg.max_record_bytes);
            sl_wk_reply_error(w, slot, req->id, SEGLOG_E_RECORD_TOO_LARGE, msg);
            return;
        }
    }
    /* The stored records, and the log's batch rule (docs/PROTOCOL.md),
     * also before the lookup: a rejected produce must create nothing. */
    const sl_info_t *lim = w->cfg.info;
    size_t total = 0;
    uint64_t framed = 0;
    struct iovec *iov = sl_arena_alloc(w->arena, req->nrecords * sizeof *iov);
    for (size_t i = 0; iov && i < req->nrecords; i++) {
        sl_record_t r = req->records[i];
        r.leader_epoch = (uint64_t)epoch;
        if (i == 0 && req->producer_id) { /* producers.h: the state is rebuilt from these */
            r.producer_id = req->producer_id;
            r.sequence = req->sequence;
            r.batch_records = (uint32_t)req->nrecords;
        }
        if (r.timestamp_ms == 0)
            r.timestamp_ms = w->now_ms ? w->now_ms : (w->now_ms = s_now_ms());
        size_t n = sl_codec_stored_size(&r);
        uint8_t *p = sl_arena_alloc(w->arena, n);
        if (!p) {
            iov = NULL;
            break;
        }
        iov[i].iov_base = p;
        iov[i].iov_len = sl_codec_stored_write(&r, p);
        total += n;
        framed += SL_LOG_FRAME_BYTES + n;
    }
    if (!iov) {
        sl_wk_reply_error(w, slot, req->id, SL_E_BAD_REQUEST, "request too large to process");
        return;
    }
    if (lim && (framed > lim->max_batch_bytes || req->nrecords > lim->max_batch_records)) {
        char msg[ERRMSG_MAX];
        snprintf(msg, sizeof msg,
                 "batch of %zu records (%zu bytes stored, %" PRIu64
                 " with framing) does not fit in one segment: at most %" PRIu64
                 " bytes with framing and %" PRIu32 " records",
                 req->nrecords, total, framed, lim->max_batch_bytes, lim->max_batch_records);
        sl_log_client(SL_LOG_WARN, "batch too large worker=%s records=%zu bytes=%" PRIu64, w->name,
                      req->nrecords, framed);
        sl_wk_reply_error(w, slot, req->id, SEGLOG_E_BATCH_TOO_LARGE, msg);
        return;
    }
    if (req->producer_id && w->cfg.pids && sl_pids_never_issued(w->cfg.pids, req->producer_id)) {
        char msg[ERRMSG_MAX];
        snprintf(msg, sizeof msg,
                 "producer_id %" PRIu64 " was never handed out by this server (InitProducerId)",
                 req->producer_id);
        sl_wk_reply_error(w, slot, req->id, SL_E_BAD_REQUEST, msg);
        return;
    }
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 1, &tp);
    if (rc) {
        sl_wk_topic_error(w, slot, req, rc);
        return;
    }
    if (req->producer_id && s_idempotent_check(w, slot, req, tp, epoch, acks_all))
        return; /* a duplicate (pending on its original's commit) or an error; unlocked */
    uint64_t first = 0;
    rc = seglog_log_append_batch_nowait(tp->log, iov, req->nrecords, &first, &slot->token);
    if (req->producer_id) {
        if (rc == 0)
            sl_pstate_record(tp->pstate, req->producer_id, req->sequence, first,
                             (uint32_t)req->nrecords, slot->token.gen);
        sl_pstate_end(tp->pstate);
    }
    if (rc) {
        if (rc == SEGLOG_E_BATCH_TOO_LARGE) {
            char msg[ERRMSG_MAX];
            snprintf(msg, sizeof msg,
                     "batch of %zu records (%zu bytes stored) does not fit in one segment",
                     req->nrecords, total);
            sl_wk_reply_error(w, slot, req->id, rc, msg);
            return;
        }
        sl_wk_log_error(w, slot, req, tp, "append", rc);
        return;
    }
    slot->pending = 1;
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
    slot->count = (uint32_t)req->nrecords;
    slot->bytes = total;
}

/* Cluster mode: only the leader appends, stamping its epoch; the leader
 * role cannot end between that check and the append (cmode.h's hold). */
static void s_produce(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    if (!w->cfg.repl) {
        s_produce_as(w, slot, req, 0, 0);
        return;
    }
    int32_t epoch = 0;
    int acks_all = 0;
    void *hold = NULL;
    w->out.len = 0;
    if (sl_cmode_produce_begin(w->cfg.repl, req, &epoch, &acks_all, &hold, &w->out)) {
        sl_wk_reply_buf(w, slot);
        return;
    }
    s_produce_as(w, slot, req, epoch, acks_all);
    sl_cmode_produce_end(w->cfg.repl, hold);
}

/* An empty ConsumeResponse at `offset` (the visible end). */
static void s_consume_empty(sl_worker_t *w, slot_t *slot, const sl_request_t *req, uint64_t lowest,
                            uint64_t end)
{
    const uint8_t *m;
    size_t mlen;
    if (sl_codec_consume_begin(&w->out) == 0) {
        sl_codec_consume_finish(&w->out, req->id, req->offset, lowest, end, &m, &mlen);
        sl_wk_set_reply(w, slot, m, mlen);
        sl_buf_clear(&w->out, REPLY_BUF_KEEP);
    } else {
        sl_wk_reply_error(w, slot, req->id, SEGLOG_E_NOMEM, "out of memory");
    }
}

/* The lowest offset, never above the visible end. */
static int s_lowest(sl_topic_t *tp, uint64_t end, uint64_t *lowest)
{
    int rc = seglog_log_lowest_offset(tp->log, lowest);
    if (rc == 0 && *lowest > end)
        *lowest = end;
    return rc;
}

/* A consume at the visible end with max_wait_ms, its empty reply made:
 * park it with the front end (waiters.h) instead of answering, unless it
 * was parked once already (resume), long polls are off here (synchronous
 * use), or max_waiters wait already (RESOURCE_EXHAUSTED). */
static void s_park(sl_worker_t *w, slot_t *slot, const sl_request_t *req, sl_topic_t *tp)
{
    sl_job_t *job = slot->job;
    if (!req->max_wait_ms || !w->cfg.waiters || !job || job->wait.resume || !slot->has_reply)
        return;
    if (!sl_waiters_reserve(w->cfg.waiters)) {
        char msg[ERRMSG_MAX];
        snprintf(msg, sizeof msg,
                 "%" PRIu32 " long-poll consumes are waiting already, the server's limit "
                 "(seglogd --max-waiters); retry later or use max_wait_ms 0",
                 sl_waiters_max(w->cfg.waiters));
        sl_log_client(SL_LOG_WARN, "long-poll refused worker=%s reason=max_waiters", w->name);
        zmq_msg_close(&job->reply);
        slot->has_reply = 0;
        sl_wk_reply_error(w, slot, req->id, SL_E_TOO_MANY_WAITERS, msg);
        return;
    }
    job->wait.parked = 1;
    job->wait.topic = tp;
    job->wait.offset = req->offset;
    /* + 1: the clock is read in whole milliseconds, so "now + wait" can
     * be up to 1 ms early; a long poll never answers before max_wait_ms. */
    job->wait.deadline_ms = s_mono_ms() + (int64_t)req->max_wait_ms + 1;
}

static void s_consume(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        sl_wk_topic_error(w, slot, req, rc);
        return;
    }
    /* Records at or past the visible end are not served: they may not have
     * passed the acknowledgement point, and a failed fdatasync could still
     * take them back. The read is bounded by the end taken here, which is
     * also the reply's end_offset. */
    uint64_t end = sl_topic_visible_end(tp), lowest = 0;
    char msg[ERRMSG_MAX];
    if (req->offset >= end) {
        if ((rc = s_lowest(tp, end, &lowest)) != 0) {
            sl_wk_log_error(w, slot, req, tp, "consume", rc);
        } else if (req->offset == end) {
            s_consume_empty(w, slot, req, lowest, end); /* at the end: not an error */
            s_park(w, slot, req, tp);
        } else {
            snprintf(msg, sizeof msg,
                     "offset %" PRIu64 " is past the end of topic \"%s\" (next offset %" PRIu64 ")",
                     req->offset, tp->name, end);
            sl_wk_reply_error(w, slot, req->id, SEGLOG_E_OFFSET_OUT_OF_RANGE, msg);
        }
        return;
    }
    seglog_iter_t *it;
    rc = sl_itercache_get(w->iters, tp->log, &it);
    if (rc) {
        sl_wk_log_error(w, slot, req, tp, "consume", rc);
        return;
    }
    size_t max_bytes = req->max_bytes && req->max_bytes < w->cfg.max_consume_bytes
                           ? req->max_bytes
                           : w->cfg.max_consume_bytes;
    size_t max_records = req->max_records;
    if (end - req->offset < max_records)
        max_records = (size_t)(end - req->offset);
    rc = seglog_iter_seek(it, req->offset, max_records, max_bytes);
    if (rc == SEGLOG_E_OFFSET_TRUNCATED) {
        s_lowest(tp, end, &lowest);
        snprintf(msg, sizeof msg,
                 "offset %" PRIu64 " is below the lowest offset %" PRIu64
                 " of topic \"%s\" (truncated)",
                 req->offset, lowest, tp->name);
        sl_wk_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    if (rc) {
        sl_wk_log_error(w, slot, req, tp, "consume", rc);
        return;
    }
    if (sl_codec_consume_begin(&w->out)) {
        sl_wk_reply_error(w, slot, req->id, SEGLOG_E_NOMEM, "out of memory");
        return;
    }
    size_t n = 0, nbytes = 0;
    for (;;) {
        uint64_t off;
        const void *data;
        size_t len;
        rc = seglog_iter_next(it, &off, &data, &len);
        if (rc <= 0)
            break;
        if (sl_codec_consume_add(&w->out, off, data, len)) {
            rc = SEGLOG_E_NOMEM;
            break;
        }
        n++;
        nbytes += len;
    }
    if (rc < 0 && n == 0) {
        sl_buf_clear(&w->out, REPLY_BUF_KEEP);
        sl_wk_log_error(w, slot, req, tp, "consume", rc);
        return;
    }
    if (rc < 0) /* serve what was read; the next consume starts at the bad record */
        sl_log(SL_LOG_ERROR, "consume stopped early topic=%s offset=%" PRIu64 " error=\"%s\"",
               tp->name, seglog_iter_position(it), sl_strerror(rc));
    s_lowest(tp, end, &lowest);
    atomic_fetch_add_explicit(&tp->m_consumed_records, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&tp->m_consumed_bytes, nbytes, memory_order_relaxed);
    const uint8_t *m;
    size_t mlen;
    sl_codec_consume_finish(&w->out, req->id, seglog_iter_position(it), lowest, end, &m, &mlen);
    sl_wk_set_reply(w, slot, m, mlen);
    sl_buf_clear(&w->out, REPLY_BUF_KEEP);
}

static void s_offsets(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        sl_wk_topic_error(w, slot, req, rc);
        return;
    }
    uint64_t end = sl_topic_visible_end(tp), lowest = 0, epoch = 0;
    uint64_t committed = sl_topic_publish_end(tp);
    rc = s_lowest(tp, end, &lowest);
    if (!rc)
        rc = seglog_log_epoch(tp->log, &epoch);
    if (rc) {
        sl_wk_log_error(w, slot, req, tp, "offsets", rc);
        return;
    }
    w->out.len = 0;
    if (sl_codec_encode_offsets(&w->out, req->id, lowest, end, epoch, committed))
        w->out.len = 0;
    sl_wk_reply_buf(w, slot);
}

/* The first offset whose record's timestamp is >= the time, below the
 * visible end (the log's time index; docs/FORMAT.md). */
static void s_offset_for_time(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        sl_wk_topic_error(w, slot, req, rc);
        return;
    }
    uint64_t end = sl_topic_visible_end(tp), off = 0, lowest = 0;
    rc = seglog_log_offset_for_time(tp->log, req->timestamp_ms, &off);
    if (rc == 0)
        rc = s_lowest(tp, end, &lowest);
    if (rc) {
        sl_wk_log_error(w, slot, req, tp, "offset_for_time", rc);
        return;
    }
    if (off > end) /* appended, not visible yet: as if not there */
        off = end;
    if (off < lowest) /* truncated meanwhile */
        off = lowest;
    w->out.len = 0;
    if (sl_codec_encode_offset_for_time(&w->out, req->id, off, end))
        w->out.len = 0;
    sl_wk_reply_buf(w, slot);
}

void sl_wk_refuse_oversized(sl_worker_t *w, slot_t *slot, size_t len, uint64_t id)
{
    char msg[ERRMSG_MAX];
    snprintf(msg, sizeof msg,
             "request of %zu bytes is over the server's max_message_bytes (%" PRIu64 ")", len,
             w->cfg.info->max_message_bytes);
    SL_STAT_ADD(w->cfg.stats, bad_requests, 1);
    sl_log_client(SL_LOG_WARN, "refused oversized message worker=%s bytes=%zu limit=%" PRIu64,
                  w->name, len, w->cfg.info->max_message_bytes);
    sl_wk_reply_error(w, slot, id, SL_E_BAD_REQUEST, msg);
}

void sl_wk_handle(sl_worker_t *w, slot_t *slot, const void *data, size_t len)
{
    sl_request_t req;
    const char *why = NULL;
    if (w->cfg.info && len > w->cfg.info->max_message_bytes) {
        sl_wk_refuse_oversized(w, slot, len, sl_codec_peek_id(data, len));
        return;
    }
    sl_arena_reset(w->arena);
    int rc = sl_codec_decode_request(w->arena, data, len, &req, &why);
    slot->job->m_type = rc ? 0 : (uint8_t)req.type;
    if (rc) {
        SL_STAT_ADD(w->cfg.stats, bad_requests, 1);
        sl_log_client(SL_LOG_WARN, "bad request worker=%s bytes=%zu reason=\"%s\"", w->name, len,
                      why);
        sl_wk_reply_error(w, slot, req.id, rc, why);
        return;
    }
    if (w->cfg.secure && sl_wk_authorize(w, slot, &req))
        return; /* refused before any side effect */
    if (sl_cmode_request(w->cfg.repl, &req, &w->out)) { /* Metadata; cluster mode's refusals */
        sl_wk_reply_buf(w, slot);
        return;
    }
    if ((req.type == SL_REQ_PRODUCE || req.type == SL_REQ_TRUNCATE ||
         req.type == SL_REQ_DELETE_TOPIC || req.type == SL_REQ_CREATE_TOPIC) &&
        sl_groups_is_internal(req.topic, req.topic_len)) {
        sl_wk_reply_error(w, slot, req.id, SL_E_INTERNAL_TOPIC,
                          "topic \"" SL_GROUPS_TOPIC "\" is internal: only CommitOffset writes "
                          "it, and it is never truncated or deleted");
        return;
    }
    switch (req.type) {
    case SL_REQ_PRODUCE:
        s_produce(w, slot, &req);
        break;
    case SL_REQ_CONSUME:
        s_consume(w, slot, &req);
        break;
    case SL_REQ_OFFSETS:
        s_offsets(w, slot, &req);
        break;
    case SL_REQ_TRUNCATE:
        sl_wk_truncate(w, slot, &req);
        break;
    case SL_REQ_INFO:
    case SL_REQ_LIST_TOPICS:
    case SL_REQ_DELETE_TOPIC:
    case SL_REQ_CREATE_TOPIC:
        sl_wk_admin(w, slot, &req);
        break;
    case SL_REQ_OFFSET_FOR_TIME:
        s_offset_for_time(w, slot, &req);
        break;
    case SL_REQ_TOPIC_CONFIG:
        sl_wk_topic_config(w, slot, &req);
        break;
    case SL_REQ_METADATA: /* answered by sl_cmode_request */
        break;
    case SL_REQ_INIT_PRODUCER_ID:
        sl_wk_init_producer_id(w, slot, &req);
        break;
    case SL_REQ_COMMIT_OFFSET:
        sl_wk_commit_offset(w, slot, &req);
        break;
    case SL_REQ_FETCH_OFFSET:
        sl_wk_fetch_offset(w, slot, &req);
        break;
    }
    if (!slot->has_reply && !slot->pending) /* defensive: every path must answer */
        sl_wk_reply_error(w, slot, req.id, SEGLOG_E_INVAL, "internal error");
}

