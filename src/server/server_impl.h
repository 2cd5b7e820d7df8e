/*
 * server_impl.h - what the server object's two halves share: server.c
 * (configuration, start, stop, accessors) and frontend.c (the front-end
 * thread). The struct is the server object of include/seglog/server.h;
 * the fe_* fields belong to the front-end thread once it runs.
 */
#ifndef SL_SERVER_IMPL_H
#define SL_SERVER_IMPL_H

#include "seglog/server.h"

#include "codec.h"
#include "committer.h"
#include "metrics.h"
#include "publisher.h"
#include "security.h"
#include "stats.h"
#include "pids.h"
#include "retention.h"
#include "topics.h"
#include "waiters.h"
#include "worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define MAX_WORKERS 256
/* Replies queued per client connection before further replies to it are
 * dropped: room for a client pipelining up to 1000 requests (libzmq sees
 * the reader's progress only every HWM/2 messages). */
#define CLIENT_SNDHWM       10000
#define CLIENT_RCVHWM       1000
#define INPROC_HWM          SL_WORKER_MAX_JOBS /* messages <= jobs: a send never blocks */
/* At shutdown, time for the last replies to leave. A client that reads
 * takes them in well under this; one that does not read would never take
 * them, and must not hold the exit (zmq_ctx_term waits this long for it). */
#define ROUTER_LINGER_MS    200
#define DRAIN_REQUESTS      256                /* requests read per poll round */
#define DRAIN_REPLIES       1024               /* replies forwarded per worker per poll round */
#define IDLE_WAIT_MS        20 /* a blocking receive's limit: stop and monitor checks */
#define MAX_CONSUME_BYTES   (1u << 20)
#define PARK_MAX            4096 /* replies waiting for a commit before reading stops */
#define LOG_RECORD_OVERHEAD 64u  /* tags and varints of a stored record (fields 1, 3-8) */
#define MAX_IN_FLIGHT       1000 /* requests a client may pipeline (docs/PROTOCOL.md) */
#define DROP_SLACK_BYTES    (64ull << 20) /* frames this far over the limit get a reply */

/* The front end's view of one worker. */
typedef struct fe_worker {
    sl_job_t **pend; /* read, not yet handed over (SL_WORKER_MAX_JOBS slots) */
    int npend;
    int held; /* handed over, not yet returned */
    sl_hop_sync_t hop;
} fe_worker_t;

struct seglog_server {
    seglog_server_config_t cfg;
    char *data_dir, *bind, *pub;
    char endpoint[256];
    void *ctx;
    int own_ctx;          /* ctx is ours to terminate (not czmq's: CURVE, security.h) */
    sl_security_t *sec;   /* CURVE and ACL; identities are read only with CURVE */
    int secure;           /* sl_security_curve(sec) */
    void *router;
    void *monitor; /* PAIR receiving the ROUTER's connection events */
    int monitor_fd; /* its ZMQ_FD (the front end polls it as a descriptor) */
    void **wsock;  /* front-end ends of the worker pipes */
    sl_worker_t **workers;
    int nworkers;
    int stop_fd;
    sl_stats_t stats;
    sl_metrics_t metrics;
    sl_metrics_vfs_t mvfs; /* the logs' VFS: cfg.vfs (or POSIX), syncs timed */
    sl_topics_t *topics;
    sl_publisher_t *publisher;
    pthread_t fe;
    int fe_started;
    /* front-end thread state, allocated by new() so the thread cannot fail */
    zmq_pollitem_t *fe_items;
    int *fe_stop_sent, *fe_done;
    struct fe_worker *fe_w;
    sl_job_t *fe_free;      /* recycled jobs */
    sl_worker_t *fe_inline; /* serves produces on the front end's thread */
    sl_job_t **fe_inl;      /* this round's produces for it (DRAIN_REQUESTS slots) */
    sl_committer_t *committer;
    /* Long-poll consumes parked until their topic's visible end moves
     * (waiters.h): fe_wait has room for max_waiters jobs. */
    sl_waiters_t *waiters;
    sl_conf_defaults_t conf_defaults; /* --retention-bytes, --retention-ms */
    sl_retention_t *retention;        /* the retention thread (retention.h) */
    sl_job_t **fe_wait;
    uint32_t fe_nwait;
    int fe_wait_new;      /* a job was parked this round: check the list */
    int64_t fe_wait_next; /* the earliest deadline (or retry) in the list */
    int fe_stopping;      /* shutdown began: parked jobs are answered at once */
    /* --sync always: replies in request order, the head waiting for its
     * commit; while any waits, workers' replies queue behind it too. */
    sl_job_t **park;
    size_t park_head, park_n, park_cap;
    sl_info_t info; /* limits, as InfoResponse reports them */
    int fe_produces; /* the front end serves produces (--produce-on, resolved) */
    struct sl_repl *repl; /* cluster mode (cmode.h), or NULL */
    struct sl_pids *pids; /* InitProducerId (pids.h) */
    struct sl_groups *groups; /* consumer groups' offsets (groups.h) */
    struct sl_http *http; /* --http (http.h), or NULL */
    char *http_ep;        /* the config's copy */
    char sync_name[32];
    int stopped;
    int stop_rc;
    _Atomic int stop_req; /* set with stop_fd: seen by a busy front end */
};

/* The front-end thread (frontend.c); arg is the server. */
void *sl_frontend_run(void *arg);

#endif
