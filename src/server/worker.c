/* worker.c - see worker.h */
#include "worker.h"

#include "admin.h"
#include "codec.h"
#include "committer.h"
#include "errors.h"
#include "itercache.h"
#include "mem.h"
#include "slog.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define BATCH_MAX      256         /* requests taken before the group commit */
#define BATCH_BYTES    (16u << 20) /* reply bytes held before the group commit */
#define ITER_SLOTS     8
#define INPROC_HWM     SL_WORKER_MAX_JOBS /* messages <= jobs: a send never blocks */
#define REPLY_BUF_KEEP (4u << 20)
#define ERRMSG_MAX     512

/* One request of the current batch; its frames and reply live in the job. */
typedef struct {
    sl_job_t *job;
    int has_reply;
    /* a produce waiting for its commit */
    int pending;
    sl_topic_t *topic;
    seglog_commit_t token;
    uint64_t id, first;
    uint32_t count;
} slot_t;

struct sl_worker {
    sl_worker_config_t cfg;
    char name[16];   /* in log lines: the id, or "front" for the front end's */
    int appended;    /* a produce of this batch appended: tell the committer */
    uint64_t now_ms; /* the batch's append time (wall clock), read once; 0: not yet */
    void *sock;
    pthread_t thread;
    int started;
    sl_arena_t *arena;
    sl_buf_t out;
    sl_itercache_t *iters;
    slot_t *batch;
    size_t nbatch;
    size_t batch_bytes;
    /* jobs received and not yet served, in order */
    sl_job_t **inbox;
    size_t ninbox, inbox_pos;
    /* synchronous use (sl_worker_handle): the one job, and its reply */
    sl_job_t sync_job;
    int sync_has_reply;
};

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- replies ------------------------------------------------------------ */

/* Move the encoded reply (data, len) into the slot's reply frame. */
static void s_set_reply(sl_worker_t *w, slot_t *slot, const void *data, size_t len)
{
    zmq_msg_t *reply = &slot->job->reply;
    if (zmq_msg_init_size(reply, len) != 0) {
        /* Out of memory: send an empty frame rather than nothing, so the
         * reply order of the connection is kept. */
        zmq_msg_init(reply);
    } else if (len) {
        memcpy(zmq_msg_data(reply), data, len);
    }
    slot->has_reply = 1;
    w->batch_bytes += len;
}

static void s_reply_buf(sl_worker_t *w, slot_t *slot)
{
    s_set_reply(w, slot, w->out.data, w->out.len);
    sl_buf_clear(&w->out, REPLY_BUF_KEEP);
}

static void s_reply_error(sl_worker_t *w, slot_t *slot, uint64_t id, int err, const char *msg)
{
    w->out.len = 0;
    if (sl_codec_encode_error(&w->out, id, sl_error_wire(err), msg) != 0)
        w->out.len = 0;
    s_reply_buf(w, slot);
}

static const char *s_quote_topic(char *buf, size_t cap, const sl_request_t *req)
{
    return sl_log_quote(buf, cap, req->topic, req->topic_len);
}

/* The error reply for a failed topic lookup, with a message that says why. */
static void s_topic_error(sl_worker_t *w, slot_t *slot, const sl_request_t *req, int err)
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
    s_reply_error(w, slot, req->id, err, msg);
}

/* An error from the log core while serving req on tp. */
static void s_log_error(sl_worker_t *w, slot_t *slot, const sl_request_t *req, const sl_topic_t *tp,
                        const char *what, int err)
{
    char msg[ERRMSG_MAX];
    if (err == SEGLOG_E_CLOSED && atomic_load(&tp->deleted)) {
        snprintf(msg, sizeof msg, "topic \"%s\" was deleted", tp->name);
        s_reply_error(w, slot, req->id, SL_E_UNKNOWN_TOPIC, msg);
        return;
    }
    snprintf(msg, sizeof msg, "%s on topic \"%s\" failed: %s", what, tp->name, sl_strerror(err));
    sl_wire_code_t code = sl_error_wire(err);
    if (code == SL_WIRE_STORAGE || code == SL_WIRE_CORRUPT || code == SL_WIRE_INTERNAL)
        sl_log(SL_LOG_ERROR, "%s failed topic=%s error=\"%s\"", what, tp->name, sl_strerror(err));
    s_reply_error(w, slot, req->id, err, msg);
}

/* ---- requests ----------------------------------------------------------- */

static void s_produce(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
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
            s_reply_error(w, slot, req->id, SEGLOG_E_RECORD_TOO_LARGE, msg);
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
        s_reply_error(w, slot, req->id, SL_E_BAD_REQUEST, "request too large to process");
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
        s_reply_error(w, slot, req->id, SEGLOG_E_BATCH_TOO_LARGE, msg);
        return;
    }
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 1, &tp);
    if (rc) {
        s_topic_error(w, slot, req, rc);
        return;
    }
    uint64_t first = 0;
    rc = seglog_log_append_batch_nowait(tp->log, iov, req->nrecords, &first, &slot->token);
    if (rc) {
        if (rc == SEGLOG_E_BATCH_TOO_LARGE) {
            char msg[ERRMSG_MAX];
            snprintf(msg, sizeof msg,
                     "batch of %zu records (%zu bytes stored) does not fit in one segment",
                     req->nrecords, total);
            s_reply_error(w, slot, req->id, rc, msg);
            return;
        }
        s_log_error(w, slot, req, tp, "append", rc);
        return;
    }
    slot->pending = 1;
    w->appended = 1;
    slot->topic = tp;
    slot->id = req->id;
    slot->first = first;
    slot->count = (uint32_t)req->nrecords;
}

/* An empty ConsumeResponse at `offset` (the visible end). */
static void s_consume_empty(sl_worker_t *w, slot_t *slot, const sl_request_t *req, uint64_t lowest,
                            uint64_t end)
{
    const uint8_t *m;
    size_t mlen;
    if (sl_codec_consume_begin(&w->out) == 0) {
        sl_codec_consume_finish(&w->out, req->id, req->offset, lowest, end, &m, &mlen);
        s_set_reply(w, slot, m, mlen);
        sl_buf_clear(&w->out, REPLY_BUF_KEEP);
    } else {
        s_reply_error(w, slot, req->id, SEGLOG_E_NOMEM, "out of memory");
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

static void s_consume(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        s_topic_error(w, slot, req, rc);
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
            s_log_error(w, slot, req, tp, "consume", rc);
        } else if (req->offset == end) {
            s_consume_empty(w, slot, req, lowest, end); /* at the end: not an error */
        } else {
            snprintf(msg, sizeof msg,
                     "offset %" PRIu64 " is past the end of topic \"%s\" (next offset %" PRIu64 ")",
                     req->offset, tp->name, end);
            s_reply_error(w, slot, req->id, SEGLOG_E_OFFSET_OUT_OF_RANGE, msg);
        }
        return;
    }
    seglog_iter_t *it;
    rc = sl_itercache_get(w->iters, tp->log, &it);
    if (rc) {
        s_log_error(w, slot, req, tp, "consume", rc);
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
        s_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    if (rc) {
        s_log_error(w, slot, req, tp, "consume", rc);
        return;
    }
    if (sl_codec_consume_begin(&w->out)) {
        s_reply_error(w, slot, req->id, SEGLOG_E_NOMEM, "out of memory");
        return;
    }
    size_t n = 0;
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
    }
    if (rc < 0 && n == 0) {
        sl_buf_clear(&w->out, REPLY_BUF_KEEP);
        s_log_error(w, slot, req, tp, "consume", rc);
        return;
    }
    if (rc < 0) /* serve what was read; the next consume starts at the bad record */
        sl_log(SL_LOG_ERROR, "consume stopped early topic=%s offset=%" PRIu64 " error=\"%s\"",
               tp->name, seglog_iter_position(it), sl_strerror(rc));
    s_lowest(tp, end, &lowest);
    const uint8_t *m;
    size_t mlen;
    sl_codec_consume_finish(&w->out, req->id, seglog_iter_position(it), lowest, end, &m, &mlen);
    s_set_reply(w, slot, m, mlen);
    sl_buf_clear(&w->out, REPLY_BUF_KEEP);
}

static void s_offsets(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        s_topic_error(w, slot, req, rc);
        return;
    }
    uint64_t end = sl_topic_visible_end(tp), lowest = 0, epoch = 0;
    uint64_t committed = sl_topic_publish_end(tp);
    rc = s_lowest(tp, end, &lowest);
    if (!rc)
        rc = seglog_log_epoch(tp->log, &epoch);
    if (rc) {
        s_log_error(w, slot, req, tp, "offsets", rc);
        return;
    }
    w->out.len = 0;
    if (sl_codec_encode_offsets(&w->out, req->id, lowest, end, epoch, committed))
        w->out.len = 0;
    s_reply_buf(w, slot);
}

static void s_truncate(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    sl_topic_t *tp;
    int rc = sl_topics_get(w->cfg.topics, req->topic, req->topic_len, 0, &tp);
    if (rc) {
        s_topic_error(w, slot, req, rc);
        return;
    }
    uint64_t end = sl_topic_visible_end(tp), lowest = 0;
    if (req->lowest_offset > end) {
        char msg[ERRMSG_MAX];
        snprintf(msg, sizeof msg,
                 "cannot truncate topic \"%s\" to %" PRIu64 ": past its next offset %" PRIu64,
                 tp->name, req->lowest_offset, end);
        s_reply_error(w, slot, req->id, SEGLOG_E_OFFSET_OUT_OF_RANGE, msg);
        return;
    }
    /* Only whole segments below the active one go, and the active
     * segment's base is never above the commit point. */
    rc = seglog_log_truncate(tp->log, req->lowest_offset, &lowest);
    if (rc) {
        s_log_error(w, slot, req, tp, "truncate", rc);
        return;
    }
    sl_log(SL_LOG_INFO, "truncated topic=%s requested=%" PRIu64 " lowest=%" PRIu64, tp->name,
           req->lowest_offset, lowest);
    w->out.len = 0;
    if (sl_codec_encode_truncate(&w->out, req->id, lowest))
        w->out.len = 0;
    s_reply_buf(w, slot);
}

/* Info, ListTopics, DeleteTopic (admin.c). */
static void s_admin(sl_worker_t *w, slot_t *slot, const sl_request_t *req)
{
    char msg[ERRMSG_MAX] = "";
    int rc;
    if (req->type == SL_REQ_INFO)
        rc = w->cfg.info ? sl_admin_info(&w->out, req->id, w->cfg.info) : SEGLOG_E_INVAL;
    else if (req->type == SL_REQ_LIST_TOPICS)
        rc = sl_admin_list_topics(&w->out, req->id, w->cfg.topics);
    else
        rc = sl_admin_delete_topic(&w->out, req, w->cfg.topics, msg, sizeof msg);
    if (rc) {
        if (!msg[0])
            snprintf(msg, sizeof msg, "%s", sl_strerror(rc));
        if (rc == SL_E_INVALID_TOPIC)
            sl_log_client(SL_LOG_WARN, "invalid topic worker=%s request=delete_topic", w->name);
        s_reply_error(w, slot, req->id, rc, msg);
        return;
    }
    s_reply_buf(w, slot);
}

/* A request frame of len bytes over max_message_bytes: not decoded; the
 * id, if the frame had one, is all that is taken from it. */
static void s_refuse_oversized(sl_worker_t *w, slot_t *slot, size_t len, uint64_t id)
{
    char msg[ERRMSG_MAX];
    snprintf(msg, sizeof msg,
             "request of %zu bytes is over the server's max_message_bytes (%" PRIu64 ")", len,
             w->cfg.info->max_message_bytes);
    SL_STAT_ADD(w->cfg.stats, bad_requests, 1);
    sl_log_client(SL_LOG_WARN, "refused oversized message worker=%s bytes=%zu limit=%" PRIu64,
                  w->name, len, w->cfg.info->max_message_bytes);
    s_reply_error(w, slot, id, SL_E_BAD_REQUEST, msg);
}

static void s_handle(sl_worker_t *w, slot_t *slot, const void *data, size_t len)
{
    sl_request_t req;
    const char *why = NULL;
    if (w->cfg.info && len > w->cfg.info->max_message_bytes) {
        s_refuse_oversized(w, slot, len, sl_codec_peek_id(data, len));
        return;
    }
    sl_arena_reset(w->arena);
    int rc = sl_codec_decode_request(w->arena, data, len, &req, &why);
    if (rc) {
        SL_STAT_ADD(w->cfg.stats, bad_requests, 1);
        sl_log_client(SL_LOG_WARN, "bad request worker=%s bytes=%zu reason=\"%s\"", w->name, len,
                      why);
        s_reply_error(w, slot, req.id, rc, why);
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
        s_truncate(w, slot, &req);
        break;
    case SL_REQ_INFO:
    case SL_REQ_LIST_TOPICS:
    case SL_REQ_DELETE_TOPIC:
        s_admin(w, slot, &req);
        break;
    }
    if (!slot->has_reply && !slot->pending) /* defensive: every path must answer */
        s_reply_error(w, slot, req.id, SEGLOG_E_INVAL, "internal error");
}

/* ---- the batch ---------------------------------------------------------- */

/* Read one message: its jobs join the inbox. Returns 1 for jobs, 2 for
 * STOP, 0 if nothing was ready (DONTWAIT), -1 if the socket is gone. */
static int s_recv(sl_worker_t *w, int flags)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, w->sock, flags) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        return e == EAGAIN || e == EINTR ? 0 : -1;
    }
    atomic_load_explicit(&w->cfg.hop->to_worker, memory_order_acquire); /* see worker.h */
    size_t size = zmq_msg_size(&m), n = size / sizeof(sl_job_t *);
    int rc = 0;
    if (size == strlen(SL_CTRL_STOP)) {
        rc = memcmp(zmq_msg_data(&m), SL_CTRL_STOP, size) == 0 ? 2 : 0;
    } else if (n > 0 && size % sizeof(sl_job_t *) == 0) {
        /* The front end never has more than SL_WORKER_MAX_JOBS here. */
        assert(w->ninbox + n <= SL_WORKER_MAX_JOBS);
        memcpy(w->inbox + w->ninbox, zmq_msg_data(&m), size);
        w->ninbox += n;
        rc = 1;
    }
    zmq_msg_close(&m);
    return rc;
}

/* Serve job into the next slot of the batch. */
static void s_serve(sl_worker_t *w, sl_job_t *job)
{
    slot_t *slot = &w->batch[w->nbatch++];
    slot->job = job;
    slot->has_reply = 0;
    slot->pending = 0;
    zmq_msg_t *req = &job->frames[job->nframes - 1];
    if (job->oversize && w->cfg.info) /* the front end already dropped its bytes */
        s_refuse_oversized(w, slot, job->oversize, job->oversize_id);
    else
        s_handle(w, slot, zmq_msg_data(req), zmq_msg_size(req));
    zmq_msg_close(req); /* the job goes back with its envelope only */
    job->nframes--;
}

/* A produce whose commit failed: rolled back (always), not written
 * (none, interval), or its topic was deleted under it. */
static void s_commit_error(sl_worker_t *w, slot_t *slot, sl_topic_t *tp, uint64_t id, int rc)
{
    char msg[ERRMSG_MAX];
    if (rc == SEGLOG_E_CLOSED && atomic_load(&tp->deleted)) {
        snprintf(msg, sizeof msg,
                 "topic \"%s\" was deleted while the produce was in flight: its records went "
                 "with it",
                 tp->name);
        s_reply_error(w, slot, id, SL_E_UNKNOWN_TOPIC, msg);
        return;
    }
    snprintf(msg, sizeof msg, "commit on topic \"%s\" failed: %s", tp->name, sl_strerror(rc));
    sl_log(SL_LOG_ERROR, "commit failed topic=%s error=\"%s\"", tp->name, sl_strerror(rc));
    s_reply_error(w, slot, id, rc, msg);
}

/* Wait for the commit of every pending produce, in request order, and
 * encode its reply. Under SYNC_ALWAYS the first wait on a
 * log does (or joins) the group's fdatasync and the rest find their
 * offsets committed; under NONE and INTERVAL each wait is a flush that is
 * empty after the first. Waiting oldest first matters: a request whose
 * append was rolled back by a failed fdatasync must be seen to fail before
 * a later append (which may reuse its offsets) commits. */
static void s_commit(sl_worker_t *w)
{
    /* Under none and interval the first wait on a log writes the whole
     * batch's appends to the OS: later ones on that log share its result. */
    const seglog_log_t *flushed = NULL;
    int flushed_rc = 0;
    for (size_t i = 0; i < w->nbatch; i++) {
        slot_t *slot = &w->batch[i];
        if (!slot->pending)
            continue;
        int rc;
        if (w->cfg.sync != SEGLOG_SYNC_ALWAYS && slot->topic->log == flushed) {
            rc = flushed_rc;
        } else {
            rc = seglog_log_commit_wait(slot->topic->log, &slot->token);
            flushed = slot->topic->log;
            flushed_rc = rc;
        }
        if (rc) {
            s_commit_error(w, slot, slot->topic, slot->id, rc);
        } else {
            sl_topic_acked(slot->topic, slot->first + slot->count);
            w->out.len = 0;
            if (sl_codec_encode_produce(&w->out, slot->id, slot->first, slot->count))
                w->out.len = 0;
            s_reply_buf(w, slot);
        }
        slot->pending = 0;
    }
}

static void s_batch_reset(sl_worker_t *w)
{
    w->now_ms = 0;
    if (w->appended && w->cfg.committer)
        sl_committer_appended(w->cfg.committer);
    w->appended = 0;
    for (size_t i = 0; i < w->nbatch; i++) {
        w->batch[i].job = NULL;
        w->batch[i].has_reply = 0;
    }
    w->nbatch = 0;
    w->batch_bytes = 0;
}

/* Commit the batch, then return every job in request order. */
static void s_flush(sl_worker_t *w)
{
    s_commit(w);
    /* Every job goes back, in order, in one message. The front end reads
     * until our DONE, so the send cannot fail short of the context ending,
     * and then nobody is left to free the jobs anyway. */
    if (w->nbatch) {
        zmq_msg_t m;
        if (zmq_msg_init_size(&m, w->nbatch * sizeof(sl_job_t *)) == 0) {
            sl_job_t **jobs = zmq_msg_data(&m);
            for (size_t i = 0; i < w->nbatch; i++)
                jobs[i] = w->batch[i].job;
            atomic_fetch_add_explicit(&w->cfg.hop->to_front, 1, memory_order_release);
            if (zmq_msg_send(&m, w->sock, 0) < 0)
                zmq_msg_close(&m);
        }
    }
    s_batch_reset(w);
}

static void *s_main(void *arg)
{
    sl_worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof name, "sl-worker-%d", w->cfg.id % 1000);
    pthread_setname_np(pthread_self(), name); /* for top -H and perf */
    int stop = 0;
    while (!stop) {
        int rc = s_recv(w, 0);
        if (rc < 0)
            break;
        if (rc == 2)
            stop = 1;
        /* Take whatever else is ready: the group commit. A STOP comes after
         * every job the front end sent. */
        while (rc == 1)
            if ((rc = s_recv(w, ZMQ_DONTWAIT)) == 2)
                stop = 1;
        while (w->inbox_pos < w->ninbox) {
            s_serve(w, w->inbox[w->inbox_pos++]);
            if (w->nbatch == BATCH_MAX || w->batch_bytes >= BATCH_BYTES)
                s_flush(w);
        }
        s_flush(w);
        w->ninbox = w->inbox_pos = 0;
    }
    sl_itercache_destroy(&w->iters); /* before any log closes */
    zmq_send(w->sock, SL_CTRL_DONE, strlen(SL_CTRL_DONE), 0);
    zmq_close(w->sock);
    w->sock = NULL;
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void s_free(sl_worker_t *w)
{
    if (w->sync_has_reply) /* only a synchronous worker keeps one */
        zmq_msg_close(&w->sync_job.reply);
    if (w->sock)
        zmq_close(w->sock);
    sl_itercache_destroy(&w->iters);
    sl_arena_destroy(&w->arena);
    sl_buf_free(&w->out);
    free(w->batch);
    free(w->inbox);
    free(w);
}

/* The worker's memory, without socket or thread. */
static int s_alloc(const sl_worker_config_t *cfg, sl_worker_t **out)
{
    sl_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return SEGLOG_E_NOMEM;
    w->cfg = *cfg;
    if (cfg->id >= 0)
        snprintf(w->name, sizeof w->name, "%d", cfg->id % 1000);
    else
        snprintf(w->name, sizeof w->name, "front");
    int rc = sl_arena_new(cfg->arena_limit, &w->arena);
    if (!rc)
        rc = sl_itercache_new(ITER_SLOTS, &w->iters);
    if (!rc && !(w->batch = calloc(BATCH_MAX, sizeof *w->batch)))
        rc = SEGLOG_E_NOMEM;
    if (!rc && !(w->inbox = calloc(SL_WORKER_MAX_JOBS, sizeof *w->inbox)))
        rc = SEGLOG_E_NOMEM;
    if (rc) {
        s_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int sl_worker_new(const sl_worker_config_t *cfg, sl_worker_t **out)
{
    sl_worker_t *w;
    int rc = s_alloc(cfg, &w);
    if (rc)
        return rc;
    w->sock = zmq_socket(cfg->zmq_ctx, ZMQ_PAIR);
    if (!w->sock) {
        rc = zmq_errno();
        s_free(w);
        return rc;
    }
    int hwm = INPROC_HWM;
    /* The front end reads until it has our DONE, so a bounded linger only
     * matters if it died; it must not drop the last replies. */
    int linger = 5000;
    zmq_setsockopt(w->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(w->sock, cfg->endpoint) != 0) {
        rc = zmq_errno();
        s_free(w);
        return rc;
    }
    rc = pthread_create(&w->thread, NULL, s_main, w);
    if (rc) {
        s_free(w);
        return rc;
    }
    w->started = 1;
    *out = w;
    return 0;
}

int sl_worker_new_sync(const sl_worker_config_t *cfg, sl_worker_t **out)
{
    return s_alloc(cfg, out);
}

int sl_worker_handle(sl_worker_t *w, const void *data, size_t len, const void **reply,
                     size_t *reply_len)
{
    if (!w || w->started || (!data && len) || !reply || !reply_len)
        return SEGLOG_E_INVAL;
    if (w->sync_has_reply)
        zmq_msg_close(&w->sync_job.reply);
    slot_t *slot = &w->batch[0];
    slot->job = &w->sync_job;
    slot->has_reply = 0;
    slot->pending = 0;
    w->nbatch = 1;
    s_handle(w, slot, data, len);
    s_commit(w); /* every path leaves a reply */
    w->sync_has_reply = slot->has_reply;
    slot->job = NULL;
    w->nbatch = 0;
    w->batch_bytes = 0;
    w->now_ms = 0;
    *reply = zmq_msg_data(&w->sync_job.reply);
    *reply_len = zmq_msg_size(&w->sync_job.reply);
    return 0;
}

/* Hand the batch's pending produces to their jobs (no commit wait). */
static void s_park(sl_worker_t *w)
{
    for (size_t i = 0; i < w->nbatch; i++) {
        slot_t *slot = &w->batch[i];
        if (!slot->pending)
            continue;
        sl_job_t *job = slot->job;
        job->commit.topic = slot->topic;
        job->commit.token = slot->token;
        job->commit.id = slot->id;
        job->commit.first = slot->first;
        job->commit.count = slot->count;
        slot->pending = 0;
    }
}

int sl_worker_serve(sl_worker_t *w, sl_job_t **jobs, size_t n, int wait)
{
    if (!w || w->started || (n && !jobs))
        return SEGLOG_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        jobs[i]->commit.topic = NULL;
        s_serve(w, jobs[i]);
        if (w->nbatch == BATCH_MAX || w->batch_bytes >= BATCH_BYTES) {
            if (wait)
                s_commit(w);
            else
                s_park(w);
            s_batch_reset(w);
        }
    }
    if (wait)
        s_commit(w);
    else
        s_park(w);
    s_batch_reset(w);
    return 0;
}

int sl_worker_complete(sl_worker_t *w, sl_job_t *job)
{
    sl_topic_t *tp = job->commit.topic;
    if (!tp)
        return 1;
    int rc = seglog_log_commit_check(tp->log, &job->commit.token);
    if (rc == SEGLOG_E_AGAIN)
        return 0;
    /* The reply goes into the job, as a worker's slot would make it. */
    slot_t slot = {.job = job};
    if (rc) {
        s_commit_error(w, &slot, tp, job->commit.id, rc);
    } else {
        sl_topic_acked(tp, job->commit.first + job->commit.count);
        w->out.len = 0;
        if (sl_codec_encode_produce(&w->out, job->commit.id, job->commit.first, job->commit.count))
            w->out.len = 0;
        s_reply_buf(w, &slot);
    }
    w->batch_bytes = 0;
    job->commit.topic = NULL;
    return 1;
}

void sl_worker_destroy(sl_worker_t **w_p)
{
    if (!w_p || !*w_p)
        return;
    sl_worker_t *w = *w_p;
    *w_p = NULL;
    if (w->started)
        pthread_join(w->thread, NULL);
    s_free(w);
}
