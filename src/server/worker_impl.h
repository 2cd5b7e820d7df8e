/*
 * worker_impl.h - what worker.c (the thread, the batch, the group commit)
 * and requests.c (serving one request) share: the worker's state, a batch
 * slot, and the reply helpers. Internal to those two files.
 */
#ifndef SL_WORKER_IMPL_H
#define SL_WORKER_IMPL_H

#include "codec.h"
#include "itercache.h"
#include "mem.h"
#include "worker.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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
    int commit_offset; /* the append of a CommitOffset: its reply is a CommitOffsetResponse */
    uint64_t bytes; /* stored bytes of the batch (metrics) */
    /* cluster mode, acks=all (cmode.h): the reply also waits for the HW */
    int acks_all;
    int32_t epoch;
    int64_t since_ms;
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

/* Move the encoded reply (data, len) into the slot's reply frame. */
void sl_wk_set_reply(sl_worker_t *w, slot_t *slot, const void *data, size_t len);
/* The reply encoded in w->out. */
void sl_wk_reply_buf(sl_worker_t *w, slot_t *slot);
/* An Error reply; err is a server, log core or errno code. */
void sl_wk_reply_error(sl_worker_t *w, slot_t *slot, uint64_t id, int err, const char *msg);

/* Serve one Request frame into slot (requests.c): a reply, or a produce
 * appended and left pending for the group commit. */
void sl_wk_handle(sl_worker_t *w, slot_t *slot, const void *data, size_t len);
/* Consumer groups (requests_groups.c): a commit is left pending like a
 * produce (its reply a CommitOffsetResponse); a fetch is answered. */
void sl_wk_commit_offset(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
void sl_wk_fetch_offset(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
/* The error reply for a topic lookup that failed (requests.c), and for a
 * log error on topic tp during what (logged when it is the server's). */
void sl_wk_topic_error(sl_worker_t *w, slot_t *slot, const sl_request_t *req, int err);
void sl_wk_log_error(sl_worker_t *w, slot_t *slot, const sl_request_t *req, const sl_topic_t *tp,
                     const char *what, int err);
/* Admin requests (requests_admin.c). */
void sl_wk_truncate(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
void sl_wk_init_producer_id(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
void sl_wk_topic_config(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
/* Info, ListTopics, CreateTopic, DeleteTopic (admin.c). */
void sl_wk_admin(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
/* With CURVE: may the request's sender do it? 0, or -1 after replying
 * PERMISSION_DENIED. */
int sl_wk_authorize(sl_worker_t *w, slot_t *slot, const sl_request_t *req);
/* Answer a frame of len bytes over max_message_bytes, without its bytes. */
void sl_wk_refuse_oversized(sl_worker_t *w, slot_t *slot, size_t len, uint64_t id);

#endif
