/*
 * server.c - the server object (include/seglog/server.h): configuration,
 * start (topics, committer, publisher, ROUTER, workers, then the
 * front-end thread of frontend.c), stop, and the accessors.
 */
#include "server_impl.h"

#include "codec.h"
#include "cmode.h"
#include "committer.h"
#include "errors.h"
#include "groups.h"
#include "http.h"
#include "publisher.h"
#include "slog.h"
#include "stats.h"
#include "topics.h"
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>


void seglog_server_config_default(seglog_server_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = "./data";
    cfg->bind = "tcp://127.0.0.1:5555";
    cfg->pub = "tcp://127.0.0.1:5556";
    cfg->workers = 0;
    cfg->sync = SEGLOG_SYNC_INTERVAL;
    cfg->sync_interval_ms = 1000;
    cfg->segment_bytes = 64u << 20;
    cfg->max_record_bytes = 1u << 20;
    cfg->pub_hwm = 10000;
    cfg->heartbeat_ms = 1000;
    cfg->max_topics = 1024;
    cfg->max_waiters = 1024;
    cfg->min_insync = 2;
    cfg->replica_lag_ms = 10000;
    cfg->zk_session_ms = 6000;
    cfg->hw_checkpoint_ms = 5000;
}

uint64_t seglog_server_max_message_bytes(const seglog_server_config_t *cfg)
{
    return 4 * (uint64_t)cfg->max_record_bytes + (64u << 10);
}

uint64_t seglog_server_drop_message_bytes(const seglog_server_config_t *cfg)
{
    return seglog_server_max_message_bytes(cfg) + DROP_SLACK_BYTES;
}

uint64_t seglog_server_max_consume_bytes(const seglog_server_config_t *cfg)
{
    (void)cfg;
    return MAX_CONSUME_BYTES;
}

static int s_validate(const seglog_server_config_t *c)
{
    const char *bad = NULL;
    if (!c->data_dir || !*c->data_dir)
        bad = "data_dir is empty";
    else if (!c->bind || !*c->bind || !c->pub || !*c->pub)
        bad = "an endpoint is empty";
    else if (c->workers < 0 || c->workers > MAX_WORKERS)
        bad = "workers must be 0..256";
    else if (c->produce_on > SEGLOG_PRODUCE_WORKERS)
        bad = "unknown produce_on";
    else if (c->sync > SEGLOG_SYNC_ALWAYS)
        bad = "unknown sync policy";
    else if (c->sync == SEGLOG_SYNC_INTERVAL && c->sync_interval_ms == 0)
        bad = "sync interval must be above 0";
    else if (c->max_record_bytes == 0 || c->max_record_bytes > (256u << 20) - 1024)
        bad = "max_record_bytes must be 1..256 MiB - 1 KiB";
    else if (c->segment_bytes > 0xffffffffull ||
             c->segment_bytes < (uint64_t)c->max_record_bytes + LOG_RECORD_OVERHEAD + 64)
        bad = "segment_bytes must hold one maximal record (max_record_bytes + 96) and be < 4 GiB";
    else if (c->pub_hwm <= 0)
        bad = "pub_hwm must be above 0";
    else if (c->heartbeat_ms <= 0)
        bad = "heartbeat_ms must be above 0";
    else if (c->max_topics == 0 || c->max_topics > 65536)
        bad = "max_topics must be 1..65536";
    else if (c->max_waiters > 65536)
        bad = "max_waiters must be 0 (the default, 1024) or 1..65536";
    if (bad) {
        sl_log(SL_LOG_ERROR, "invalid configuration: %s", bad);
        return SEGLOG_E_INVAL;
    }
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

#ifndef SEGLOG_VERSION
#define SEGLOG_VERSION "0"
#endif

/* The limits the server enforces, for InfoResponse and the produce checks.
 * index_bytes is each segment's index size: one 8-byte entry per record. */
static void s_fill_info(seglog_server_t *s, uint64_t index_bytes)
{
    if (s->cfg.sync == SEGLOG_SYNC_INTERVAL)
        snprintf(s->sync_name, sizeof s->sync_name, "interval:%" PRIu32, s->cfg.sync_interval_ms);
    else
        snprintf(s->sync_name, sizeof s->sync_name, "%s",
                 s->cfg.sync == SEGLOG_SYNC_ALWAYS ? "always" : "none");
    uint64_t index_records = index_bytes / 8;
    s->info = (sl_info_t){
        .version = SEGLOG_VERSION,
        .max_record_bytes = s->cfg.max_record_bytes,
        .max_message_bytes = seglog_server_max_message_bytes(&s->cfg),
        .max_batch_records = index_records < SL_MAX_BATCH_RECORDS ? (uint32_t)index_records
                                                                   : SL_MAX_BATCH_RECORDS,
        .max_batch_bytes = s->cfg.segment_bytes - SL_LOG_STORE_HEADER_BYTES,
        .max_consume_bytes = (uint32_t)seglog_server_max_consume_bytes(&s->cfg),
        .max_in_flight = MAX_IN_FLIGHT,
        .sync = s->sync_name,
        .segment_bytes = s->cfg.segment_bytes,
    };
}

static void s_topics_notify(void *arg)
{
    sl_publisher_notify(arg);
}

static int s_bind_router(seglog_server_t *s)
{
    s->router = zmq_socket(s->ctx, ZMQ_ROUTER);
    if (!s->router)
        return zmq_errno();
    /* libzmq drops a connection that sends a larger frame, and cannot say
     * why: set it well above max_message_bytes, so that a frame over the
     * limit reaches a worker and gets an error reply and a WARN line. */
    int64_t maxmsg = (int64_t)seglog_server_drop_message_bytes(&s->cfg);
    int sndhwm = CLIENT_SNDHWM, rcvhwm = CLIENT_RCVHWM, one = 1, linger = 0;
    int hb_ivl = 10000, hb_timeout = 30000;
    /* All options before bind: MAXMSGSIZE applies to peers accepted later. */
    zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(s->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt(s->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    int rcvtimeo = IDLE_WAIT_MS; /* bounds the front end's blocking receive */
    zmq_setsockopt(s->router, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    zmq_setsockopt(s->router, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl);
    zmq_setsockopt(s->router, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
    char mep[128];
    snprintf(mep, sizeof mep, "inproc://seglog-%p-monitor", (void *)s);
    if (zmq_socket_monitor(
            s->router, mep,
            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return zmq_errno();
    s->monitor = zmq_socket(s->ctx, ZMQ_PAIR);
    if (!s->monitor)
        return zmq_errno();
    zmq_setsockopt(s->monitor, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s->monitor, mep) != 0)
        return zmq_errno();
    size_t fdlen = sizeof s->monitor_fd;
    if (zmq_getsockopt(s->monitor, ZMQ_FD, &s->monitor_fd, &fdlen) != 0)
        return zmq_errno();
    if (sl_security_apply_server(s->sec, s->router) != 0)
        return SEGLOG_SERVER_E_SECURITY;
    if (s->cfg.http) { /* the HTTP gateway's way in (http_impl.h) */
        char hep[96];
        snprintf(hep, sizeof hep, "inproc://seglog-%p-http", (void *)s);
        if (zmq_bind(s->router, hep) != 0)
            return zmq_errno();
    }
    if (zmq_bind(s->router, s->cfg.bind) != 0) {
        int e = zmq_errno();
        sl_log(SL_LOG_ERROR, "cannot bind request socket endpoint=%s error=\"%s\"", s->cfg.bind,
               zmq_strerror(e));
        return e;
    }
    size_t len = sizeof s->endpoint;
    if (zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &len) != 0)
        return zmq_errno();
    return 0;
}

static int s_start_workers(seglog_server_t *s)
{
    s->wsock = calloc((size_t)s->nworkers, sizeof *s->wsock);
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    s->fe_items = calloc((size_t)s->nworkers + 5, sizeof *s->fe_items);
    s->park_cap = PARK_MAX + DRAIN_REQUESTS + (size_t)s->nworkers * SL_WORKER_MAX_JOBS +
                  sl_waiters_max(s->waiters); /* long polls answered at once on shutdown */
    s->park = calloc(s->park_cap, sizeof *s->park);
    s->fe_stop_sent = calloc((size_t)s->nworkers, sizeof *s->fe_stop_sent);
    s->fe_done = calloc((size_t)s->nworkers, sizeof *s->fe_done);
    s->fe_w = calloc((size_t)s->nworkers, sizeof *s->fe_w);
    s->fe_inl = calloc(DRAIN_REQUESTS, sizeof *s->fe_inl);
    s->fe_wait = calloc(sl_waiters_max(s->waiters), sizeof *s->fe_wait);
    if (!s->fe_inl || !s->fe_wait || !s->park || !s->wsock || !s->workers || !s->fe_items ||
        !s->fe_stop_sent || !s->fe_done || !s->fe_w)
        return SEGLOG_E_NOMEM;
    for (int i = 0; i < s->nworkers; i++)
        if (!(s->fe_w[i].pend = calloc(SL_WORKER_MAX_JOBS, sizeof(sl_job_t *))))
            return SEGLOG_E_NOMEM;
    size_t maxmsg = (size_t)seglog_server_max_message_bytes(&s->cfg);
    for (int i = 0; i < s->nworkers; i++) {
        char ep[128];
        snprintf(ep, sizeof ep, "inproc://seglog-%p-worker-%d", (void *)s, i);
        s->wsock[i] = zmq_socket(s->ctx, ZMQ_PAIR);
        if (!s->wsock[i])
            return zmq_errno();
        int hwm = INPROC_HWM, linger = 0;
        zmq_setsockopt(s->wsock[i], ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s->wsock[i], ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s->wsock[i], ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind(s->wsock[i], ep) != 0)
            return zmq_errno();
        sl_worker_config_t wc = {
            .id = i,
            .zmq_ctx = s->ctx,
            .endpoint = ep,
            .topics = s->topics,
            .max_record_bytes = s->cfg.max_record_bytes,
            .max_consume_bytes = seglog_server_max_consume_bytes(&s->cfg),
            .arena_limit = 4 * maxmsg + (1u << 20),
            .stats = &s->stats,
            .hop = &s->fe_w[i].hop,
            .committer = s->committer,
            .sync = s->cfg.sync,
            .info = &s->info,
            .repl = s->repl,
            .waiters = s->waiters,
            .conf_defaults = &s->conf_defaults,
            .pids = s->pids,
            .secure = sl_security_curve(s->sec),
            .acl = sl_security_acl(s->sec),
            .groups = s->groups,
        };
        int rc = sl_worker_new(&wc, &s->workers[i]);
        if (rc)
            return rc;
    }
    sl_worker_config_t ic = {
        .id = -1,
        .topics = s->topics,
        .max_record_bytes = s->cfg.max_record_bytes,
        .max_consume_bytes = seglog_server_max_consume_bytes(&s->cfg),
        .arena_limit = 4 * maxmsg + (1u << 20),
        .stats = &s->stats,
        .committer = s->committer,
        .sync = s->cfg.sync,
        .info = &s->info,
        .repl = s->repl,
        .pids = s->pids,
        .secure = sl_security_curve(s->sec),
        .acl = sl_security_acl(s->sec),
        .groups = s->groups,
    };
    return sl_worker_new_sync(&ic, &s->fe_inline);
}

/* Tear down whatever new() built, in reverse order. Only called while the
 * front end is not running. */
static void s_teardown(seglog_server_t *s)
{
    /* Workers that started are blocked in recv: tell them to stop. */
    for (int i = 0; s->workers && i < s->nworkers; i++) {
        if (!s->workers[i])
            continue;
        zmq_send(s->wsock[i], SL_CTRL_STOP, strlen(SL_CTRL_STOP), 0);
        char buf[8];
        while (zmq_recv(s->wsock[i], buf, sizeof buf, 0) >= 0 &&
               !(memcmp(buf, SL_CTRL_DONE, 4) == 0))
            ;
        sl_worker_destroy(&s->workers[i]);
    }
    for (int i = 0; s->wsock && i < s->nworkers; i++)
        if (s->wsock[i])
            zmq_close(s->wsock[i]);
    if (s->monitor)
        zmq_close(s->monitor);
    if (s->router)
        zmq_close(s->router);
    sl_cmode_stop(&s->repl);
    sl_committer_destroy(&s->committer);
    sl_retention_destroy(&s->retention);
    sl_publisher_destroy(&s->publisher);
    sl_topics_destroy(&s->topics);
    sl_pids_destroy(&s->pids);
    sl_groups_destroy(&s->groups);
    if (s->ctx && s->own_ctx)
        zmq_ctx_term(s->ctx);
    sl_security_destroy(&s->sec); /* after every socket it guards is closed */
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    free(s->wsock);
    free(s->workers);
    free(s->fe_items);
    free(s->fe_stop_sent);
    free(s->fe_done);
    free(s->fe_inl);
    free(s->fe_wait);
    sl_waiters_destroy(&s->waiters);
    free(s->park);
    sl_worker_destroy(&s->fe_inline);
    for (int i = 0; s->fe_w && i < s->nworkers; i++)
        free(s->fe_w[i].pend);
    free(s->fe_w);
    while (s->fe_free) {
        sl_job_t *job = s->fe_free;
        s->fe_free = job->next;
        free(job);
    }
    free(s->data_dir);
    free(s->bind);
    free(s->pub);
    free(s->http_ep);
    free(s);
}

int seglog_server_new(const seglog_server_config_t *cfg, seglog_server_t **out)
{
    if (!cfg || !out)
        return SEGLOG_E_INVAL;
    int rc = s_validate(cfg);
    if (rc)
        return rc;
    seglog_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return SEGLOG_E_NOMEM;
    s->stop_fd = -1;
    s->cfg = *cfg;
    sl_metrics_init(&s->metrics);
    s->data_dir = strdup(cfg->data_dir);
    s->bind = strdup(cfg->bind);
    s->pub = strdup(cfg->pub);
    s->http_ep = cfg->http ? strdup(cfg->http) : NULL;
    if (!s->data_dir || !s->bind || !s->pub || (cfg->http && !s->http_ep)) {
        s_teardown(s);
        return SEGLOG_E_NOMEM;
    }
    s->cfg.data_dir = s->data_dir;
    s->cfg.bind = s->bind;
    s->cfg.pub = s->pub;
    s->cfg.http = s->http_ep;
    if (s->cfg.workers == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        s->cfg.workers = ncpu < 1 ? 1 : ncpu > MAX_WORKERS ? MAX_WORKERS : (int)ncpu;
    }
    s->nworkers = s->cfg.workers;
    /* On a small machine the front end and libzmq's I/O thread already
     * keep the cores busy, and serving produces on the front end saves a
     * hand-off each way (docs/PERFORMANCE.md, "The worker pool"); with
     * cores to spare, the workers append in parallel. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->fe_produces = s->cfg.produce_on == SEGLOG_PRODUCE_FRONTEND ||
                     (s->cfg.produce_on == SEGLOG_PRODUCE_AUTO && !(s->nworkers >= 2 && cpus >= 4));

    rc = sl_security_new(&s->cfg, &s->sec);
    if (rc) {
        s_teardown(s);
        return rc;
    }
    s->secure = sl_security_curve(s->sec);
    s->own_ctx = !s->secure;
    s->ctx = s->own_ctx ? zmq_ctx_new() : sl_security_ctx(s->sec);
    s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!s->ctx || s->stop_fd < 0) {
        rc = s->ctx ? errno : zmq_errno();
        s_teardown(s);
        return rc;
    }
    sl_publisher_config_t pc = {
        .zmq_ctx = s->ctx,
        .endpoint = s->cfg.pub,
        .hwm = s->cfg.pub_hwm,
        .heartbeat_ms = s->cfg.heartbeat_ms,
        .stats = &s->stats,
        .sec = s->sec,
    };
    rc = sl_publisher_new(&pc, &s->publisher);
    if (!rc)
        rc = sl_waiters_new(s->cfg.max_waiters ? s->cfg.max_waiters : 1024, &s->waiters);
    if (!rc) {
        sl_topics_config_t tc = {
            .data_dir = s->cfg.data_dir,
            .max_topics = s->cfg.max_topics,
            .notify = s_topics_notify,
            .notify_arg = s->publisher,
            .wake = sl_waiters_wake,
            .wake_arg = s->waiters,
            .cluster = s->cfg.zookeeper != NULL,
        };
        seglog_config_default(&tc.log);
        tc.log.max_store_bytes = s->cfg.segment_bytes;
        /* An index entry per record; records are rarely below 64 bytes,
         * and an index that fills first just rolls the segment early. */
        uint64_t ib = s->cfg.segment_bytes / 8;
        tc.log.max_index_bytes = ib < 4096 ? 4096 : ib > (8u << 20) ? (8u << 20) : ib & ~7ull;
        s_fill_info(s, tc.log.max_index_bytes);
        tc.log.max_record_bytes = s->cfg.max_record_bytes + LOG_RECORD_OVERHEAD;
        tc.log.sync = s->cfg.sync;
        sl_metrics_vfs_init(&s->mvfs, s->cfg.vfs, &s->metrics.fsync);
        tc.log.vfs = &s->mvfs.vfs;
        tc.commit_records = &s->metrics.commit_records;
        tc.log.timestamp_fn = sl_codec_stored_timestamp; /* time indexes (OffsetForTime) */
        tc.log.sync_interval_ms = s->cfg.sync_interval_ms ? s->cfg.sync_interval_ms : 1000;
        rc = sl_topics_new(&tc, &s->topics);
    }
    if (!rc) /* after the topics: they made the data directory */
        rc = sl_pids_new(s->cfg.data_dir, s->cfg.zookeeper ? s->cfg.node_id : -1, &s->pids);
    if (!rc && !(s->groups = sl_groups_new()))
        rc = SEGLOG_E_NOMEM;
    if (!rc)
        rc = sl_committer_new(s->topics, s->cfg.sync, s->publisher, &s->committer);
    if (!rc)
        rc = s_bind_router(s);
    if (!rc && s->cfg.zookeeper)
        rc = sl_cmode_start(&s->cfg, s->ctx, s->topics, s->endpoint,
                            sl_publisher_endpoint(s->publisher), sl_committer_fd(s->committer),
                            &s->info, s->sec, &s->repl);
    if (!rc && s->repl) /* ids are reserved in ZooKeeper too (pids.h) */
        sl_pids_set_remote(s->pids, sl_cmode_pids_reserve, s->repl);
    if (!rc)
        rc = s_start_workers(s);
    if (!rc) {
        s->conf_defaults.v[SL_CONF_RETENTION_BYTES] = s->cfg.retention_bytes;
        s->conf_defaults.v[SL_CONF_RETENTION_MS] = s->cfg.retention_ms;
        rc = sl_retention_new(s->topics, &s->conf_defaults,
                              s->cfg.retention_check_ms ? s->cfg.retention_check_ms : 1000,
                              &s->retention);
    }
    if (!rc)
        rc = sl_publisher_start(s->publisher, s->topics);
    if (!rc) {
        rc = pthread_create(&s->fe, NULL, sl_frontend_run, s);
        s->fe_started = rc == 0;
    }
    if (!rc && s->cfg.http)
        rc = sl_http_new(s, &s->http);
    if (rc && s->fe_started) { /* only the listener failed: stop as usual */
        s->stop_rc = 0;
        seglog_server_stop(s);
        seglog_server_destroy(&s);
        return rc;
    }
    if (rc) {
        sl_log(SL_LOG_ERROR, "server start failed error=\"%s\"", sl_strerror(rc));
        s_teardown(s);
        return rc;
    }
    const char *sync = s->cfg.sync == SEGLOG_SYNC_NONE     ? "none"
                       : s->cfg.sync == SEGLOG_SYNC_ALWAYS ? "always"
                                                           : "interval";
    sl_log(SL_LOG_INFO,
           "started data_dir=%s workers=%d produce_on=%s sync=%s sync_interval_ms=%" PRIu32
           " segment_bytes=%" PRIu64 " max_record_bytes=%" PRIu32 " max_message_bytes=%" PRIu64
           " drop_message_bytes=%" PRIu64 " pub_hwm=%d topics=%zu",
           s->cfg.data_dir, s->nworkers, s->fe_produces ? "frontend" : "workers", sync,
           s->cfg.sync_interval_ms, s->cfg.segment_bytes,
           s->cfg.max_record_bytes, seglog_server_max_message_bytes(&s->cfg),
           seglog_server_drop_message_bytes(&s->cfg), s->cfg.pub_hwm,
           sl_topics_count(s->topics));
    sl_log(SL_LOG_INFO, "listening on %s", s->endpoint);
    sl_log(SL_LOG_INFO, "publishing on %s", sl_publisher_endpoint(s->publisher));
    *out = s;
    return 0;
}

const char *seglog_server_endpoint(const seglog_server_t *s)
{
    return s->endpoint;
}

const char *seglog_server_pub_endpoint(const seglog_server_t *s)
{
    return sl_publisher_endpoint(s->publisher);
}

const char *seglog_server_http_endpoint(const seglog_server_t *s)
{
    return s->http ? sl_http_endpoint(s->http) : NULL;
}

int seglog_server_stop(seglog_server_t *s)
{
    if (!s)
        return SEGLOG_E_INVAL;
    if (s->stopped)
        return s->stop_rc;
    s->stopped = 1;
    sl_log(SL_LOG_INFO, "shutting down");
    sl_http_destroy(&s->http); /* first: its requests go through the front end */
    uint64_t one = 1;
    atomic_store_explicit(&s->stop_req, 1, memory_order_release);
    ssize_t w = write(s->stop_fd, &one, sizeof one);
    (void)w;
    if (s->fe_started)
        pthread_join(s->fe, NULL);
    s->fe_started = 0;
    for (int i = 0; i < s->nworkers; i++)
        sl_worker_destroy(&s->workers[i]);
    sl_cmode_stop(&s->repl); /* leaves the cluster: no fetches, appends or acks any more */
    sl_committer_destroy(&s->committer);
    sl_retention_destroy(&s->retention);
    /* No appends any more. Sync, so that everything is committed and the
     * publisher sends it; then close (clean-shutdown marker). */
    int rc = sl_topics_sync_all(s->topics);
    sl_publisher_stop(s->publisher);
    int rc2 = sl_topics_close_all(s->topics);
    s->stop_rc = rc ? rc : rc2;
    seglog_server_stats_t st;
    seglog_server_stats(s, &st);
    sl_log(s->stop_rc ? SL_LOG_ERROR : SL_LOG_INFO,
           "stopped clean=%d requests=%" PRIu64 " bad_requests=%" PRIu64 " replies_dropped=%" PRIu64
           " published=%" PRIu64 " heartbeats=%" PRIu64,
           s->stop_rc == 0, st.requests, st.bad_requests, st.replies_dropped, st.published,
           st.heartbeats);
    return s->stop_rc;
}

void seglog_server_destroy(seglog_server_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    seglog_server_t *s = *s_p;
    *s_p = NULL;
    seglog_server_stop(s);
    /* Every worker is gone and the front end closed its sockets. */
    free(s->workers);
    s->workers = NULL;
    free(s->wsock);
    s->wsock = NULL;
    s_teardown(s);
}

int seglog_server_topic_recovery(seglog_server_t *s, const char *topic, seglog_recovery_t *out)
{
    sl_topic_t *tp;
    if (!s || !topic || !out || sl_topics_get(s->topics, topic, strlen(topic), 0, &tp))
        return SEGLOG_E_INVAL;
    *out = tp->recovery;
    return 0;
}

void seglog_server_stats(seglog_server_t *s, seglog_server_stats_t *out)
{
    out->requests = SL_STAT_GET(&s->stats, requests);
    out->replies_dropped = SL_STAT_GET(&s->stats, replies_dropped);
    out->bad_requests = SL_STAT_GET(&s->stats, bad_requests);
    out->published = SL_STAT_GET(&s->stats, published);
    out->heartbeats = SL_STAT_GET(&s->stats, heartbeats);
    out->frontend_produces = SL_STAT_GET(&s->stats, frontend_produces);
    out->produce_duplicates = SL_STAT_GET(&s->stats, produce_duplicates);
}
