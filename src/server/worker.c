/* worker.c - see worker.h */
#include "worker_impl.h"

#include "cmode.h"
#include "codec.h"
#include "committer.h"
#include "errors.h"
#include "itercache.h"
#include "mem.h"
#include "slog.h"
#include "tsan_sync.h"

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

/* ---- replies ------------------------------------------------------------ */

/* Move the encoded reply (data, len) into the slot's reply frame. */
void sl_wk_set_reply(sl_worker_t *w, slot_t *slot, const void *data, size_t len)
{
    zmq_msg_t *reply = &slot->job->reply;
    if (zmq_msg_init_size(reply, len) != 0) {
        /* Out of memory: send an empty frame rather than nothing, so the
         * reply order of the connection is kept. */
        zmq_msg_init(reply);
    } else if (len) {
        memcpy(zmq_msg_data(reply), data, len);
        SL_TSAN_RELEASE(zmq_msg_data(reply)); /* the HTTP gateway reads it */
    }
    slot->has_reply = 1;
    slot->job->m_code = (uint8_t)sl_codec_peek_error(data, len);
    w->batch_bytes += len;
}

void sl_wk_reply_buf(sl_worker_t *w, slot_t *slot)
{
    sl_wk_set_reply(w, slot, w->out.data, w->out.len);
    sl_buf_clear(&w->out, REPLY_BUF_KEEP);
}

void sl_wk_reply_error(sl_worker_t *w, slot_t *slot, uint64_t id, int err, const char *msg)
{
    w->out.len = 0;
    if (sl_codec_encode_error(&w->out, id, sl_error_wire(err), msg) != 0)
        w->out.len = 0;
    sl_wk_reply_buf(w, slot);
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
    slot->commit_offset = 0;
    zmq_msg_t *req = &job->frames[job->nframes - 1];
    if (job->oversize && w->cfg.info) /* the front end already dropped its bytes */
        sl_wk_refuse_oversized(w, slot, job->oversize, job->oversize_id);
    else
        sl_wk_handle(w, slot, zmq_msg_data(req), zmq_msg_size(req));
    if (job->wait.parked)
        return; /* a long poll: the front end keeps the Request for its resume */
    zmq_msg_close(req); /* the job goes back with its envelope only */
    job->nframes--;
}

/* A produce of slot's size was acknowledged (metrics). */
static void s_count_produced(sl_topic_t *tp, uint32_t count, uint64_t bytes)
{
    atomic_fetch_add_explicit(&tp->m_produced_records, count, memory_order_relaxed);
    atomic_fetch_add_explicit(&tp->m_produced_bytes, bytes, memory_order_relaxed);
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
        sl_wk_reply_error(w, slot, id, SL_E_UNKNOWN_TOPIC, msg);
        return;
    }
    snprintf(msg, sizeof msg, "commit on topic \"%s\" failed: %s", tp->name, sl_strerror(rc));
    sl_log(SL_LOG_ERROR, "commit failed topic=%s error=\"%s\"", tp->name, sl_strerror(rc));
    sl_wk_reply_error(w, slot, id, rc, msg);
}

/* The reply of an append that passed its acknowledgement point: a
 * ProduceResponse, or a CommitOffsetResponse for a CommitOffset. */
static void s_encode_ack(sl_worker_t *w, int commit_offset, uint64_t id, uint64_t first,
                         uint32_t count)
{
    w->out.len = 0;
    int rc = commit_offset ? sl_codec_encode_commit_offset(&w->out, id)
                           : sl_codec_encode_produce(&w->out, id, first, count);
    if (rc)
        w->out.len = 0;
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
        } else if (slot->acks_all &&
                   sl_cmode_ack(w->cfg.repl, slot->topic, slot->id, slot->first + slot->count,
                                slot->epoch, slot->since_ms, 1, &w->out) < 0) {
            sl_wk_reply_buf(w, slot); /* cluster mode: not replicated in time, or fenced */
        } else {
            sl_topic_acked(slot->topic, slot->first + slot->count);
            s_count_produced(slot->topic, slot->count, slot->bytes);
            s_encode_ack(w, slot->commit_offset, slot->id, slot->first, slot->count);
            sl_wk_reply_buf(w, slot);
        }
        slot->pending = 0;
        slot->commit_offset = 0;
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
    slot->commit_offset = 0;
    w->nbatch = 1;
    sl_wk_handle(w, slot, data, len);
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
        job->commit.commit_offset = slot->commit_offset;
        slot->commit_offset = 0;
        job->commit.bytes = slot->bytes;
        job->commit.acks_all = slot->acks_all;
        job->commit.epoch = slot->epoch;
        job->commit.since_ms = slot->since_ms;
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
    int hw = rc == 0 && job->commit.acks_all /* cluster mode: also wait for the HW */
                 ? sl_cmode_ack(w->cfg.repl, tp, job->commit.id,
                                job->commit.first + job->commit.count, job->commit.epoch,
                                job->commit.since_ms, 0, &w->out)
                 : 1;
    if (hw == 0)
        return 0;
    if (rc) {
        s_commit_error(w, &slot, tp, job->commit.id, rc);
    } else if (hw < 0) {
        sl_wk_reply_buf(w, &slot);
    } else {
        sl_topic_acked(tp, job->commit.first + job->commit.count);
        s_count_produced(tp, job->commit.count, job->commit.bytes);
        s_encode_ack(w, job->commit.commit_offset, job->commit.id, job->commit.first,
                     job->commit.count);
        sl_wk_reply_buf(w, &slot);
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
