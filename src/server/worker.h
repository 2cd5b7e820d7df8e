/*
 * worker.h - a request worker thread.
 *
 * Owns: one inproc PAIR socket connected to the front end, a decode arena,
 * a reply buffer and a small iterator cache. All of it belongs to the
 * worker's thread once sl_worker_new() returns.
 *
 * Messages between the front end and a worker carry jobs by pointer: a
 * frame of n * sizeof(sl_job_t *) bytes (n >= 1) hands n jobs over, in
 * order; a frame of 4 bytes is control ("STOP" to the worker, "DONE" as
 * the worker's last message). One inproc message per batch instead of
 * two frames per request each way: the hop cost is paid per batch.
 *
 * Group commit: the worker takes every request that is ready (up to a
 * batch limit), appends each produce with seglog_log_append_batch_nowait(),
 * and only then waits for the commits (seglog_log_commit_wait), so one
 * fdatasync covers the whole group. Replies leave in request order.
 */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include "acl.h"
#include "codec.h"
#include "stats.h"
#include "topics.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* Frames of one client message, as the ROUTER delivers it (routing id
 * included): a routing id, up to 15 envelope frames, one Request. */
#define SL_MAX_FRAMES 17

#define SL_CTRL_STOP "STOP"
#define SL_CTRL_DONE "DONE"

/* Jobs one worker may hold at a time (sent and not yet returned); the
 * front end stops reading clients while a worker is at this limit, so
 * back-pressure reaches the clients through TCP. */
#define SL_WORKER_MAX_JOBS 1024

/* One client request on its way through a worker. The front end owns the
 * jobs (it allocates, fills and recycles them); a job belongs to a worker
 * from the message that hands it over until the message that returns it.
 * The worker closes the request frame and sets the reply. */
typedef struct sl_job {
    zmq_msg_t frames[SL_MAX_FRAMES]; /* routing id, envelope..., Request (last) */
    int nframes;                     /* on return: the envelope only */
    zmq_msg_t reply;                 /* set by the worker */
    /* A Request frame over max_message_bytes: the front end keeps its size
     * and id and replaces it by an empty frame at once, so that its bytes
     * are not held while it waits; the worker answers BAD_REQUEST. */
    size_t oversize; /* 0: a normal request */
    uint64_t oversize_id;
    /* metrics.h: when the front end read it, its request type (0 until
     * decoded) and the result code of its reply (set with the reply). */
    uint64_t t0_ns;
    uint8_t m_type, m_code;
    struct sl_job *next;             /* the front end's free list */
    /* With CURVE: who sent it (the front end reads the ZAP metadata of the
     * request frame, which an inproc hop would lose). */
    sl_principal_t who;
    /* A produce served without waiting for its commit (sl_worker_serve
     * with wait 0): topic is set until sl_worker_complete() made the reply. */
    struct {
        sl_topic_t *topic;
        seglog_commit_t token;
        uint64_t id, first;
        uint32_t count;
        int commit_offset; /* a CommitOffset's append (its reply's kind) */
        uint64_t bytes; /* key + value bytes of the batch (metrics) */
        /* cluster mode, acks=all: reply once the HW passed the batch */
        int acks_all;
        int32_t epoch;
        int64_t since_ms;
    } commit;
    /* A long-poll consume (waiters.h). parked: set by the worker, which
     * kept the Request frame (last in frames) and put the empty reply in
     * reply; the front end holds the job until topic's visible end is no
     * longer offset or deadline_ms (CLOCK_MONOTONIC) passes. resume: set
     * by the front end when it hands the job back to be served again,
     * without waiting. */
    struct {
        int parked, resume;
        struct sl_topic *topic;
        uint64_t offset;
        int64_t deadline_ms;
    } wait;
} sl_job_t;

/* The hop between the front end and one worker, as ThreadSanitizer sees
 * it. libzmq orders a message's bytes with atomics TSan cannot see (it is
 * not built with TSan), and now our own code writes the job pointers and
 * jobs on one side and reads them on the other. So each side also bumps
 * its counter (release) after writing and before sending, and the other
 * loads it (acquire) after receiving and before reading: a real ordering
 * that libzmq already guarantees, made visible. One atomic per message. */
typedef struct sl_hop_sync {
    _Atomic uint64_t to_worker, to_front;
} sl_hop_sync_t;

typedef struct sl_worker sl_worker_t;

typedef struct sl_worker_config {
    int id; /* >= 0; -1 names the front end's synchronous worker in logs */
    void *zmq_ctx;
    const char *endpoint; /* inproc endpoint the front end bound */
    sl_topics_t *topics;
    uint32_t max_record_bytes; /* key + value */
    size_t max_consume_bytes;  /* payload cap of one ConsumeResponse */
    size_t arena_limit;        /* decode memory cap per request */
    sl_stats_t *stats;
    sl_hop_sync_t *hop;             /* owned by the front end; outlives the worker */
    struct sl_committer *committer; /* told about appends (may be NULL) */
    seglog_sync_t sync;             /* the logs' policy */
    const sl_info_t *info;          /* limits (InfoResponse, batch rule); owned by the server */
    struct sl_repl *repl;           /* cluster mode (cmode.h), or NULL */
    struct sl_waiters *waiters;     /* long polls (waiters.h); NULL: answered at once */
    const struct sl_conf_defaults *conf_defaults; /* retention defaults (topicconf.h) */
    struct sl_pids *pids;           /* InitProducerId (pids.h); NULL: refused */
    struct sl_groups *groups;       /* consumer groups (groups.h); NULL: refused */
    int secure;                     /* CURVE: every request carries job->who */
    const sl_acl_t *acl;            /* with secure: who may do what; NULL: anything */
} sl_worker_config_t;

/* Bytes the log adds to each record of a batch (its frame header,
 * docs/FORMAT.md): a batch fits iff the sum of (stored size + this) is at
 * most sl_info_t.max_batch_bytes. */
#define SL_LOG_FRAME_BYTES 8u
/* The store file's header, which every segment starts with. */
#define SL_LOG_STORE_HEADER_BYTES 32u

/* Create the socket, connect it and start the thread. */
int sl_worker_new(const sl_worker_config_t *cfg, sl_worker_t **out);

/* Wait for the thread (the front end must have sent STOP) and free. */
void sl_worker_destroy(sl_worker_t **w_p);

/* Synchronous use, for tests and the fuzz target: a worker with no socket
 * and no thread (cfg->zmq_ctx and cfg->endpoint are not used). Each
 * sl_worker_handle() call serves one Request frame exactly as the worker
 * thread serves a batch of one: decode, serve against cfg->topics, wait
 * for the commit, encode. *reply (*reply_len bytes, a complete Response)
 * belongs to the worker and stays valid until the next call or destroy.
 * Returns 0, or SEGLOG_E_INVAL if w runs a thread. */
int sl_worker_new_sync(const sl_worker_config_t *cfg, sl_worker_t **out);
int sl_worker_handle(sl_worker_t *w, const void *data, size_t len, const void **reply,
                     size_t *reply_len);

/* Serve n jobs of a synchronous worker on the caller's thread, as the
 * worker thread serves a batch: on return each job holds its envelope and
 * its reply, as if it came back from a worker. The front end serves
 * produce requests this way (frontend.c). With wait, the group commit is
 * waited for; without, a produce that appended is left with job->commit
 * set and no reply, for sl_worker_complete(). Returns 0, or
 * SEGLOG_E_INVAL if w runs a thread. */
int sl_worker_serve(sl_worker_t *w, sl_job_t **jobs, size_t n, int wait);

/* 1 if job has its reply: it had one, or its commit is decided now (the
 * reply is the produce's or the commit error's). 0 while it waits for its
 * commit point. Never blocks; same worker as the sl_worker_serve(). */
int sl_worker_complete(sl_worker_t *w, sl_job_t *job);

#endif
