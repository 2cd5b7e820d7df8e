/* repl_int.h - what repl.c, repl_leader.c, repl_follower.c and
 * repl_wire.c share. Everything here belongs to the repl thread unless
 * marked "published" (atomics other threads read) or "under mu". */
#ifndef SL_REPL_INT_H
#define SL_REPL_INT_H

#include "cluster.h"
#include "hwckpt.h"
#include "repl.h"

#include "topicconf.h"

#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <zmq.h>

typedef int sl_repl_call_fn(struct sl_repl *r, void *arg, char *msg, size_t cap);

enum { RT_NONE = 0, RT_LEADER = 1, RT_FOLLOWER = 2 };
enum { F_TRUNC = 0, F_FETCH = 1 };

#define REPL_MAX_NODES     64
#define REPL_FETCH_WAIT_MS 500      /* a follower's long poll */
#define REPL_FETCH_BYTES   (1u << 20)
#define REPL_RPC_SLACK_MS  3000     /* no answer this long after the wait: reconnect */
#define REPL_ISR_CHECK_MS  100
#define REPL_LEO_SAMPLES   128      /* the leader's log end over the last replica_lag_ms */

typedef struct rfollower {
    int32_t id;
    int known;              /* fetched at least once at this epoch */
    uint64_t leo;           /* its fetch offset: it holds everything below */
    int64_t caught_up_ms;   /* latest time T at which it is known to have had
                             * everything we had at T (its lag, in time) */
    int64_t last_resp_ms;   /* when we answered its last fetch */
    uint64_t leo_at_resp;   /* our log end then */
} rfollower_t;

typedef struct rtopic {
    char name[SL_CL_TOPIC_MAX + 1];
    struct sl_topic *tp; /* the local log; NULL while this node is no replica */
    /* published */
    _Atomic int role;
    _Atomic int32_t lead;  /* the epoch this node leads at, 0 if it does not lead */
    _Atomic uint64_t hw;
    _Atomic int isr_n;
    _Atomic int have_state;
    /* published for metrics (repl_stats.c): the followers' fetch offsets */
    _Atomic int nfol_pub;
    _Atomic int32_t fol_id_pub[SL_CL_MAX_REPLICAS];
    _Atomic uint64_t fol_leo_pub[SL_CL_MAX_REPLICAS];
    char leader_ep[SL_CL_ENDPOINT_MAX]; /* under mu */
    /* Held for reading by a produce from its leadership check to the end of
     * its append; taken for writing to end the leadership (lock order:
     * role_lk before mu). */
    pthread_rwlock_t role_lk;
    /* repl thread */
    sl_cl_topic_t meta;
    int32_t epoch;     /* epoch of the current role */
    int32_t leader_id; /* -1 none */
    int need_read;     /* re-read the state from ZooKeeper */
    rfollower_t fol[SL_CL_MAX_REPLICAS];
    int nfol;
    int64_t isr_checked_ms;
    uint64_t epoch_start; /* our log end when this leadership began: every record
                           * committed before it lies below (KAFKA-7128) */
    /* Our log end sampled every replica_lag_ms / REPL_LEO_SAMPLES (at least
     * REPL_ISR_CHECK_MS) while leading, oldest first in the ring: a fetch at
     * offset X proves the follower has what we had at the newest sample
     * <= X, however far behind our current end it is. */
    struct { int64_t ms; uint64_t leo; } leo_samp[REPL_LEO_SAMPLES];
    int nsamp, samp_head;
    seglog_iter_t *iter; /* the leader's reader for fetches (repl thread) */
    /* follower */
    int fstate;
    void *dealer;
    char dealer_ep[SL_CL_ENDPOINT_MAX];
    int inflight;
    uint64_t expect_id;
    int64_t sent_ms, retry_ms;
    int trunc_loops;
    int warned_split; /* logged that a leader's batch did not fit our segments */
    int no_frames;    /* fetch records, not frames: a leader's batch did not fit */
    int32_t config_seen; /* meta.config_version + 2 once applied (0: not yet) */
    struct rtopic *next;
} rtopic_t;

typedef struct rpark {
    zmq_msg_t rid;
    uint64_t id;
    rtopic_t *rt;
    int32_t replica;
    uint64_t offset;
    uint32_t max_bytes;
    int frames; /* FetchRequest.frames_ok */
    int64_t deadline_ms;
} rpark_t;

struct sl_repl {
    sl_repl_config_t cfg;
    char *zookeeper, *endpoint, *pub_endpoint, *repl_bind, *repl_host;
    char repl_ep[SL_CL_ENDPOINT_MAX];
    pthread_t thread;
    int started;
    _Atomic int stop;
    int efd; /* produce path -> repl thread: appended, create requests, stop */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rtopic_t *topics; /* list: appended under mu, never freed before destroy */
    char creq[16][SL_CL_TOPIC_MAX + 1]; /* under mu: topics to create */
    int ncreq;
    char cfail[SL_CL_TOPIC_MAX + 1]; /* under mu: the last creation that failed, */
    int cfail_rc;                    /* and why (0: none) */
    /* A call from a worker for the repl thread (sl_repl_run,
     * repl_config.c): under mu; callers one at a time under call_mu. */
    pthread_mutex_t call_mu;
    struct {
        int busy, taken, done, rc;
        sl_repl_call_fn *fn;
        void *arg;
        char msg[300];
    } call;
    _Atomic int64_t lease_until;
    /* published each loop for health and metrics (repl_stats.c) */
    _Atomic int registered_pub, controller_pub, ready_pub;
    /* repl thread */
    sl_cluster_t *cl;
    void *router;
    sl_cl_node_t nodes[REPL_MAX_NODES];
    int nnodes;
    int need_all;       /* re-read the topic list and every topic */
    int need_nodes;
    int64_t retry_ms;   /* next retry of failed ZooKeeper reads */
    rpark_t *parks;
    int npark, cappark;
    uint64_t next_id;
    int64_t woke_ms;
    sl_cl_node_t nodes_tmp[REPL_MAX_NODES]; /* s_read_nodes' scratch */
    /* Written by the repl thread before each wait: 1 if an append must wake
     * it (a parked fetch, or a led topic whose ISR is this node alone, so
     * the HW follows our own log end); sl_repl_appended skips the eventfd
     * write otherwise (under load the followers' fetches are in flight and
     * pick the records up when they arrive). */
    _Atomic int wake_on_append;
    /* The follower's FetchResponse unpack arena (repl_follower.c): one
     * response at a time, reused, grown to what responses need. */
    uint8_t *arena;
    size_t arena_cap, arena_used, arena_want;
    /* s_fetch_reply's buffers, kept between fetches (fresh ones page-faulted) */
    Seglog__V1__StoredRecord *f_recs;
    Seglog__V1__StoredRecord **f_ptrs;
    size_t *f_at;
    size_t f_cap;
    uint8_t *f_bytes;
    size_t f_bcap;
    /* The HW checkpoint (repl_ckpt.c): the entries loaded at start, the
     * text last written, the next periodic write. */
    sl_hwckpt_entry_t *ck;
    int nck;
    int ck_listed; /* the topic list was read once: unmatched loaded entries go */
    char *ck_text;
    size_t ck_len;
    int64_t ck_next_ms;
};

/* repl.c */
rtopic_t *sl_repl_find(sl_repl_t *r, const char *name); /* repl thread, or under mu */
void sl_repl_wake_acks(sl_repl_t *r);                 /* HW or a role moved */
const sl_cl_node_t *sl_repl_node(sl_repl_t *r, int32_t id);
void sl_repl_apply(sl_repl_t *r, rtopic_t *rt, const sl_cl_topic_t *t);
void sl_repl_drop_leadership(sl_repl_t *r, rtopic_t *rt, const char *why);

/* repl_leader.c */
void sl_repl_leader_start(sl_repl_t *r, rtopic_t *rt);
void sl_repl_serve(sl_repl_t *r); /* drain the ROUTER */
void sl_repl_leader_tick(sl_repl_t *r, int64_t now);
void sl_repl_hw_update(sl_repl_t *r, rtopic_t *rt);
void sl_repl_parks_drop(sl_repl_t *r, rtopic_t *rt);
int sl_repl_parks_wait_ms(sl_repl_t *r, int64_t now);
/* Before the repl thread waits: publish wake_on_append (then a full fence);
 * returns 1 if something an append made ready is already there (do not
 * block). */
int sl_repl_before_wait(sl_repl_t *r);

/* repl.c: wake the thread behind eventfd fd (EAGAIN: it is awake). */
void sl_repl_efd_write(int fd);
/* repl.c: read topic name from ZooKeeper (arming its watch) and apply it
 * (a deleted one: sl_repl_topic_gone). */
int sl_repl_read_topic(sl_repl_t *r, const char *name);
/* repl_admin.c: the topic was deleted in ZooKeeper: give up its role,
 * delete the local log, forget its state (a later produce creates it
 * again, with a new log id). */
void sl_repl_topic_gone(sl_repl_t *r, rtopic_t *rt);

/* repl_config.c: apply rt->meta's settings to the local topic (once per
 * znode version); serve a queued TopicConfig set (repl thread). */
void sl_repl_config_apply(sl_repl_t *r, rtopic_t *rt);
/* Run fn(r, arg) on the repl thread; blocks a worker until it has run (or
 * SL_CL_ETIMEOUT, msg set, if the thread did not take it within 5 s: then
 * it never runs). fn's result, its msg copied on error. */
int sl_repl_run(sl_repl_t *r, sl_repl_call_fn *fn, void *arg, char *msg, size_t cap);
/* The repl thread: run the queued call, if any. */
void sl_repl_calls_serve(sl_repl_t *r);

/* repl_ckpt.c: the HW checkpoint (hwckpt.h), all on the repl thread
 * (load: before it starts; write: also after it stopped). */
void sl_repl_ckpt_load(sl_repl_t *r);
/* rt's local log was just opened: its HW from the checkpoint if the
 * entry's log_id is the topic's, capped at the log end. */
void sl_repl_ckpt_apply(sl_repl_t *r, rtopic_t *rt);
/* Write the HWs this node knows now, if they changed since the last write. */
int sl_repl_ckpt_write(sl_repl_t *r);
void sl_repl_ckpt_tick(sl_repl_t *r, int64_t now); /* every hw_checkpoint_ms */
void sl_repl_ckpt_free(sl_repl_t *r);

/* repl_follower.c */
void sl_repl_follower_reset(sl_repl_t *r, rtopic_t *rt);
void sl_repl_follower_tick(sl_repl_t *r, rtopic_t *rt, int64_t now);
void sl_repl_follower_recv(sl_repl_t *r, rtopic_t *rt);
void sl_repl_arena_free(sl_repl_t *r);

/* repl_wire.c */
/* Leader epoch of a stored record (field 5, 0 if absent). */
uint64_t sl_repl_stored_epoch(const uint8_t *p, size_t len);
/* Epoch of the record at offset (0 on any read error: logged by caller). */
int sl_repl_epoch_at(seglog_log_t *log, uint64_t offset, uint64_t *epoch);
/* First offset in [lowest, next) whose record's epoch is > epoch (next if
 * none): records' epochs never decrease along the log. */
int sl_repl_epoch_end(seglog_log_t *log, uint64_t epoch, uint64_t *end);
/* Packs resp into a message and sends it after routing id rid (NULL on a
 * DEALER). */
int sl_repl_send(void *sock, zmq_msg_t *rid, const Seglog__V1__Response *resp);
int sl_repl_send_req(void *sock, const Seglog__V1__Request *req);
int sl_repl_send_error(void *sock, zmq_msg_t *rid, uint64_t id, int code, const char *msg);

#endif
