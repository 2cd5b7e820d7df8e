/*
 * worker.h - a request worker thread.
 *
 * Owns: one inproc PAIR socket connected to the front end, a decode arena,
 * a reply buffer and a small iterator cache. All of it belongs to the
 * worker's thread once sl_worker_new() returns.
 *
 * Messages from the front end: [routing id][envelope...][Request] (at most
 * SL_MAX_FRAMES frames), or a single frame "STOP". Replies to the front
 * end: [routing id][envelope...][Response], and a single frame "DONE" as
 * the worker's last message.
 *
 * Group commit: the worker takes every request that is ready (up to a
 * batch limit), appends each produce with seglog_log_append_batch_nowait(),
 * and only then waits for the commits (seglog_log_commit_wait), so one
 * fdatasync covers the whole group. Replies leave in request order.
 */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include "stats.h"
#include "topics.h"

#include <stddef.h>
#include <stdint.h>

/* Frames of one client message, as the ROUTER delivers it (routing id
 * included): a routing id, up to 15 envelope frames, one Request. */
#define SL_MAX_FRAMES 17

#define SL_CTRL_STOP "STOP"
#define SL_CTRL_DONE "DONE"

typedef struct sl_worker sl_worker_t;

typedef struct sl_worker_config {
    int id;
    void *zmq_ctx;
    const char *endpoint; /* inproc endpoint the front end bound */
    sl_topics_t *topics;
    uint32_t max_record_bytes; /* key + value */
    size_t max_consume_bytes;  /* payload cap of one ConsumeResponse */
    size_t arena_limit;        /* decode memory cap per request */
    sl_stats_t *stats;
} sl_worker_config_t;

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

#endif
