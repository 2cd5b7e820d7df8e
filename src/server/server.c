/*
 * server.c - the server object (include/seglog/server.h) and its front-end
 * thread.
 *
 * The front end owns the client ROUTER and one inproc PAIR per worker. It
 * never blocks on a send:
 *   - requests go to worker hash(routing id) % N as jobs (worker.h): each
 *     poll round reads up to DRAIN_REQUESTS requests and hands every worker
 *     its share in one message. While a worker holds SL_WORKER_MAX_JOBS
 *     jobs, the front end stops reading the ROUTER (back-pressure reaches
 *     clients through TCP), while it keeps forwarding replies, so a worker
 *     always makes progress (no deadlock);
 *   - replies go to the ROUTER with ZMQ_DONTWAIT and ROUTER_MANDATORY: a
 *     peer that is gone or at its high-water mark loses the reply, which is
 *     counted and logged.
 * Shutdown: stop reading the ROUTER, deliver the jobs read, send STOP to
 * every worker, forward replies until every worker said DONE, close.
 * The front end owns every job: it allocates them on demand, keeps the
 * returned ones on a free list and frees them all when it ends.
 */
#include "seglog/server.h"

#include "codec.h"
#include "cmode.h"
#include "committer.h"
#include "errors.h"
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
#define LOG_RECORD_OVERHEAD 32u  /* tags and varints of a stored record */
#define MAX_IN_FLIGHT       1000 /* requests a client may pipeline (docs/PROTOCOL.md) */
#define DROP_SLACK_BYTES    (64ull << 20) /* frames this far over the limit get a reply */

struct seglog_server {
    seglog_server_config_t cfg;
    char *data_dir, *bind, *pub;
    char endpoint[256];
    void *ctx;
    void *router;
    void *monitor; /* PAIR receiving the ROUTER's connection events */
    int monitor_fd; /* its ZMQ_FD (the front end polls it as a descriptor) */
    void **wsock;  /* front-end ends of the worker pipes */
    sl_worker_t **workers;
    int nworkers;
    int stop_fd;
    sl_stats_t stats;
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
    /* --sync always: replies in request order, the head waiting for its
     * commit; while any waits, workers' replies queue behind it too. */
    sl_job_t **park;
    size_t park_head, park_n, park_cap;
    sl_info_t info; /* limits, as InfoResponse reports them */
    int fe_produces; /* the front end serves produces (--produce-on, resolved) */
    struct sl_repl *repl; /* cluster mode (cmode.h), or NULL */
    char sync_name[32];
    int stopped;
    int stop_rc;
    _Atomic int stop_req; /* set with stop_fd: seen by a busy front end */
};

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
    cfg->min_insync = 2;
    cfg->replica_lag_ms = 10000;
    cfg->zk_session_ms = 6000;
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
    if (bad) {
        sl_log(SL_LOG_ERROR, "invalid configuration: %s", bad);
        return SEGLOG_E_INVAL;
    }
    return 0;
}

/* ---- front end ---------------------------------------------------------- */

static uint32_t s_pick(const seglog_server_t *s, const zmq_msg_t *rid)
{
    const uint8_t *p = zmq_msg_data((zmq_msg_t *)rid);
    size_t n = zmq_msg_size((zmq_msg_t *)rid);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    /* FNV-1a's low bits depend only on the low bits of the input bytes
     * (multiplying by an odd prime keeps bit 0), so `% 2` would see one
     * parity bit: mix every bit down first (murmur3's finaliser). */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h % (uint32_t)s->nworkers;
}

/* The front end's view of one worker. */
typedef struct fe_worker {
    sl_job_t **pend; /* read, not yet handed over (SL_WORKER_MAX_JOBS slots) */
    int npend;
    int held; /* handed over, not yet returned */
    sl_hop_sync_t hop;
} fe_worker_t;

static sl_job_t *s_job_get(seglog_server_t *s)
{
    sl_job_t *job = s->fe_free;
    if (job)
        s->fe_free = job->next;
    else
        job = malloc(sizeof *job); /* NULL: read no more this round */
    if (job) {
        job->nframes = 0;
        job->commit.topic = NULL;
        job->oversize = 0;
    }
    return job;
}

/* Close what is left in a job and put it on the free list. */
static void s_job_put(seglog_server_t *s, sl_job_t *job)
{
    for (int i = 0; i < job->nframes; i++)
        zmq_msg_close(&job->frames[i]);
    job->nframes = 0;
    job->next = s->fe_free;
    s->fe_free = job;
}

/* Hand worker i the jobs read for it, in one message, without blocking.
 * 0, or EAGAIN (nothing sent; cannot happen while INPROC_HWM covers
 * SL_WORKER_MAX_JOBS, but never block the front end). */
static int s_to_worker(seglog_server_t *s, int i)
{
    fe_worker_t *fw = &s->fe_w[i];
    if (fw->npend == 0)
        return 0;
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, (size_t)fw->npend * sizeof(sl_job_t *)) != 0)
        return EAGAIN;
    memcpy(zmq_msg_data(&m), fw->pend, (size_t)fw->npend * sizeof(sl_job_t *));
    atomic_fetch_add_explicit(&fw->hop.to_worker, 1, memory_order_release); /* see worker.h */
    if (zmq_msg_send(&m, s->wsock[i], ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return EAGAIN;
    }
    fw->held += fw->npend;
    fw->npend = 0;
    return 0;
}

/* Answer a message the front end refuses itself (too many frames). The
 * reply keeps a REQ-style empty delimiter if the client sent one. */
static void s_reply_refused(seglog_server_t *s, sl_job_t *job, int empty_delim, const char *why)
{
    sl_buf_t out = {0};
    if (sl_codec_encode_error(&out, 0, SL_WIRE_BAD_REQUEST, why) == 0 &&
        zmq_msg_send(&job->frames[0], s->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        if (empty_delim)
            zmq_send(s->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s->router, out.data, out.len, ZMQ_DONTWAIT);
    } else {
        SL_STAT_ADD(&s->stats, replies_dropped, 1);
    }
    sl_buf_free(&out);
}

/* Read one client message into job; with block, wait for its first frame
 * up to the ROUTER's ZMQ_RCVTIMEO (IDLE_WAIT_MS). Returns 1 if it should go to a worker,
 * 2 if it was answered here, 0 if there was none, -1 on a socket error.
 * On any result but 1 the job holds nothing. */
static int s_read_client(seglog_server_t *s, sl_job_t *job, int block)
{
    job->nframes = 0;
    int total = 0, empty_delim = 0;
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_t *f = job->nframes < SL_MAX_FRAMES ? &job->frames[job->nframes] : &tmp;
        zmq_msg_init(f);
        if (zmq_msg_recv(f, s->router, total == 0 && !block ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(f);
            for (int i = 0; i < job->nframes; i++)
                zmq_msg_close(&job->frames[i]);
            job->nframes = 0;
            return e == EAGAIN || e == EINTR ? 0 : -1;
        }
        if (total == 1 && zmq_msg_size(f) == 0)
            empty_delim = 1;
        total++;
        int more = zmq_msg_more(f);
        if (f == &tmp)
            zmq_msg_close(f);
        else
            job->nframes++;
        if (!more)
            break;
    }
    SL_STAT_ADD(&s->stats, requests, 1);
    if (total > SL_MAX_FRAMES) {
        char why[128];
        snprintf(why, sizeof why, "message has %d frames; at most %d are allowed", total - 1,
                 SL_MAX_FRAMES - 1);
        SL_STAT_ADD(&s->stats, bad_requests, 1);
        sl_log_client(SL_LOG_WARN, "refused message reason=too_many_frames frames=%d", total - 1);
        s_reply_refused(s, job, empty_delim, why);
        for (int i = 0; i < job->nframes; i++)
            zmq_msg_close(&job->frames[i]);
        job->nframes = 0;
        return 2;
    }
    return 1;
}

/* Send a returned job's envelope and reply to the ROUTER, then recycle it. */
static void s_reply(seglog_server_t *s, sl_job_t *job)
{
    int ok = 1;
    for (int f = 0; ok && f < job->nframes; f++)
        ok = zmq_msg_send(&job->frames[f], s->router, ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0;
    if (ok)
        ok = zmq_msg_send(&job->reply, s->router, ZMQ_DONTWAIT) >= 0;
    if (!ok) {
        int e = zmq_errno();
        zmq_msg_close(&job->reply);
        SL_STAT_ADD(&s->stats, replies_dropped, 1);
        sl_log_client(SL_LOG_WARN, "reply dropped reason=\"%s\"",
                      e == EHOSTUNREACH ? "client gone"
                      : e == EAGAIN     ? "client at high-water mark"
                                        : zmq_strerror(e));
    } else {
        job->nframes = 0; /* every frame was sent (and so emptied) */
    }
    s_job_put(s, job); /* closes what was not sent */
}

/* Send a job's reply now, or queue it behind replies waiting for their
 * commit (keeps each connection's replies in request order). */
static void s_deliver(seglog_server_t *s, sl_job_t *job)
{
    if (s->park_n == 0 && !job->commit.topic) {
        s_reply(s, job);
        return;
    }
    s->park[(s->park_head + s->park_n++) % s->park_cap] = job; /* sized so it cannot fill */
}

/* Send the queued replies whose commit is decided, oldest first. Returns
 * how many left. */
static int s_release(seglog_server_t *s)
{
    int k = 0;
    while (s->park_n > 0) {
        sl_job_t *job = s->park[s->park_head];
        if (!sl_worker_complete(s->fe_inline, job))
            break;
        s_reply(s, job);
        s->park_head = (s->park_head + 1) % s->park_cap;
        s->park_n--;
        k++;
    }
    return k;
}

/* Forward the replies of up to DRAIN_REPLIES messages from worker i to
 * the ROUTER. Returns how many messages it read; *done is set if the
 * worker said DONE. */
static int s_from_worker(seglog_server_t *s, int i, int *done)
{
    void *w = s->wsock[i];
    int k;
    for (k = 0; k < DRAIN_REPLIES; k++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, w, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return k;
        }
        size_t size = zmq_msg_size(&m);
        if (size == strlen(SL_CTRL_DONE)) {
            if (memcmp(zmq_msg_data(&m), SL_CTRL_DONE, size) == 0)
                *done = 1;
            zmq_msg_close(&m);
            if (*done)
                return k + 1;
            continue;
        }
        atomic_load_explicit(&s->fe_w[i].hop.to_front, memory_order_acquire); /* see worker.h */
        size_t n = size / sizeof(sl_job_t *);
        sl_job_t **jobs = zmq_msg_data(&m);
        for (size_t j = 0; j < n; j++)
            s_deliver(s, jobs[j]);
        s->fe_w[i].held -= (int)n;
        zmq_msg_close(&m);
    }
    return k;
}

/* "address:port" of a just-accepted connection, for the log. Best effort:
 * the descriptor belongs to libzmq's I/O thread. */
static void s_peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(out, cap, "%s:%u", host, port);
}

/* Connection events of the ROUTER. libzmq 4.3 reports a peer that hung
 * up and a peer it dropped (a frame over ZMQ_MAXMSGSIZE, or a ZMTP error
 * after the handshake) the same way: ZMQ_EVENT_DISCONNECTED with the
 * descriptor, no reason. So a disconnect is logged plainly; frames over
 * max_message_bytes are refused (and logged) by the workers, and only
 * frames over seglog_server_drop_message_bytes() are dropped unseen.
 * Handshake failures are real protocol errors: WARN. */
static void s_monitor_events(seglog_server_t *s)
{
    /* Read to EAGAIN: the front end polls the PAIR's ZMQ_FD, which only
     * signals again once the socket was drained (4096 bounds one call). */
    for (int k = 0; k < 4096; k++) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&ev, s->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            zmq_msg_close(&addr);
            return;
        }
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, s->monitor, 0); /* the bound endpoint: not interesting */
        if (zmq_msg_size(&ev) >= 6) {
            uint16_t id;
            uint32_t value;
            memcpy(&id, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
            if (id == ZMQ_EVENT_ACCEPTED) {
                char peer[INET6_ADDRSTRLEN + 8];
                s_peer_name((int)value, peer, sizeof peer);
                sl_log_client(SL_LOG_INFO, "client connected peer=%s fd=%u", peer, value);
            } else if (id == ZMQ_EVENT_DISCONNECTED) {
                sl_log_client(SL_LOG_INFO, "client disconnected fd=%u", value);
            } else {
                sl_log_client(SL_LOG_WARN, "client handshake failed event=%u value=%u", id, value);
            }
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
}

/* Read up to DRAIN_REQUESTS client messages; produces of connections
 * with nothing queued at their worker go to the inline batch (*ninl),
 * the rest to their worker's pending list. With block, the first receive
 * waits (see s_read_client). Returns how many were read; *drained is set
 * if the round ended because the ROUTER had nothing more. */
static int s_read_round(seglog_server_t *s, size_t *ninl, int block, int *drained)
{
    int k;
    *drained = 0;
    for (k = 0; k < DRAIN_REQUESTS; k++) {
        sl_job_t *job = s_job_get(s);
        if (!job)
            break; /* out of memory: the requests wait in the ROUTER */
        int rc = s_read_client(s, job, block && k == 0);
        if (rc != 1) {
            s_job_put(s, job);
            if (rc == 2)
                continue;
            *drained = rc == 0;
            break;
        }
        fe_worker_t *w = &s->fe_w[s_pick(s, &job->frames[0])];
        zmq_msg_t *req = &job->frames[job->nframes - 1];
        if (zmq_msg_size(req) > s->info.max_message_bytes) {
            /* Free its bytes now; a worker answers it in its turn. */
            job->oversize = zmq_msg_size(req);
            job->oversize_id = sl_codec_peek_id(zmq_msg_data(req), zmq_msg_size(req));
            zmq_msg_close(req);
            zmq_msg_init(req);
        }
        if (s->fe_produces && w->held == 0 && w->npend == 0 &&
            sl_codec_is_produce(zmq_msg_data(req), zmq_msg_size(req)))
            s->fe_inl[(*ninl)++] = job; /* nothing of this connection is queued */
        else
            w->pend[w->npend++] = job;
        if (w->held + w->npend >= SL_WORKER_MAX_JOBS)
            break; /* back-pressure: read again once it has room */
    }
    return k;
}

/* Wait in zmq_poll for whatever the front end waits on now: only the
 * sockets and descriptors it has a use for (each ZeroMQ socket in a
 * zmq_poll costs two ZMQ_EVENTS look-ups, each a getpid and a poll system
 * call on an idle socket). The monitor PAIR is only ever read, so its
 * ZMQ_FD is polled as a plain descriptor (edge-triggered: it is drained to
 * EAGAIN, or polled again at once). Returns 0, or -1 on a poll failure. */
static int s_wait(seglog_server_t *s, int room, int stopping)
{
    zmq_pollitem_t *items = s->fe_items;
    int n = 0, mon = -1, com = -1;
    if (room)
        items[n++] = (zmq_pollitem_t){.socket = s->router, .events = ZMQ_POLLIN};
    if (!stopping)
        items[n++] = (zmq_pollitem_t){.fd = s->stop_fd, .events = ZMQ_POLLIN};
    items[mon = n++] = (zmq_pollitem_t){.fd = s->monitor_fd, .events = ZMQ_POLLIN};
    if (s->park_n)
        items[com = n++] =
            (zmq_pollitem_t){.fd = sl_committer_fd(s->committer), .events = ZMQ_POLLIN};
    for (int i = 0; i < s->nworkers; i++) {
        const fe_worker_t *fw = &s->fe_w[i];
        short ev = 0;
        if (!s->fe_done[i] && (fw->held > 0 || stopping))
            ev |= ZMQ_POLLIN;
        if (fw->npend || (stopping && !s->fe_stop_sent[i]))
            ev |= ZMQ_POLLOUT;
        if (ev)
            items[n++] = (zmq_pollitem_t){.socket = s->wsock[i], .events = ev};
    }
    if (zmq_poll(items, n, -1) < 0) {
        if (zmq_errno() == EINTR)
            return 0;
        sl_log(SL_LOG_ERROR, "front end poll failed error=\"%s\"", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (items[mon].revents & ZMQ_POLLIN)
        s_monitor_events(s);
    if (com >= 0 && (items[com].revents & ZMQ_POLLIN))
        sl_committer_drain(s->committer);
    return 0;
}

/* The front end's loop. A round forwards the workers' replies, reads the
 * clients, serves the produces itself and hands the rest to the workers.
 * It waits only once every source it read from was drained (a round that
 * stopped at a drain limit goes on at once), and then in the cheapest
 * way: with nothing to watch but the ROUTER (every worker idle, no reply
 * parked; the common case under produce load), the next round's first
 * receive blocks, one getpid and one poll system call, as an echo server's
 * would; otherwise in s_wait(). */
static void *s_frontend(void *arg)
{
    seglog_server_t *s = arg;
    pthread_setname_np(pthread_self(), "sl-frontend"); /* for top -H and perf */
    const int n = s->nworkers;
    int *stop_sent = s->fe_stop_sent, *done = s->fe_done;
    fe_worker_t *fw = s->fe_w;
    /* Cluster mode parks every produce: acks=all waits for the HW. */
    const int wait = s->cfg.sync != SEGLOG_SYNC_ALWAYS && !s->repl;
    int stopping = 0, ndone = 0, busy = 0, failed = 0;
    unsigned rounds = 0;
    while (!failed && (ndone < n || s->park_n > 0)) {
        /* Read clients only while every worker has room for a full round,
         * and while not too many replies wait for their commit. */
        int room = !stopping && s->park_n < PARK_MAX;
        int idle_workers = 1;
        for (int i = 0; i < n; i++) {
            if (fw[i].held + fw[i].npend >= SL_WORKER_MAX_JOBS)
                room = 0;
            if (fw[i].held || fw[i].npend)
                idle_workers = 0;
        }
        int block = !busy && room && idle_workers && s->park_n == 0;
        if (!busy && !block)
            failed = s_wait(s, room, stopping) != 0;
        else if (++rounds % 256 == 0)
            s_monitor_events(s); /* connection logs, also under endless load */
        if (!stopping && atomic_load_explicit(&s->stop_req, memory_order_acquire))
            stopping = 1;
        busy = 0;
        for (int i = 0; i < n; i++)
            if (!done[i] && (fw[i].held > 0 || stopping)) {
                busy |= s_from_worker(s, i, &done[i]) >= DRAIN_REPLIES;
                ndone += done[i];
            }
        size_t ninl = 0;
        if (room && !stopping) {
            int drained;
            int k = s_read_round(s, &ninl, block, &drained);
            busy |= k > 0 && !drained;
            if (block && k == 0)
                s_monitor_events(s); /* the blocking receive timed out: idle */
        }
        /* The produces first: a later request of the same connection that
         * went to a worker must see them appended. Under --sync always they
         * do not wait for the fdatasync here: the committer runs it while
         * this thread goes on, and their replies wait in the park. */
        if (ninl) {
            SL_STAT_ADD(&s->stats, frontend_produces, ninl);
            sl_worker_serve(s->fe_inline, s->fe_inl, ninl, wait);
            for (size_t k = 0; k < ninl; k++)
                s_deliver(s, s->fe_inl[k]);
            if (!wait)
                sl_committer_kick(s->committer);
        }
        if (s->park_n)
            s_release(s);
        for (int i = 0; i < n; i++)
            s_to_worker(s, i);
        if (stopping) {
            for (int i = 0; i < n; i++)
                if (!stop_sent[i] && !fw[i].npend &&
                    zmq_send(s->wsock[i], SL_CTRL_STOP, strlen(SL_CTRL_STOP), ZMQ_DONTWAIT) >= 0)
                    stop_sent[i] = 1;
        }
    }
    for (int i = 0; i < n; i++) /* only after a poll failure */
        while (fw[i].npend > 0)
            s_job_put(s, fw[i].pend[--fw[i].npend]);
    int linger = ROUTER_LINGER_MS;
    zmq_socket_monitor(s->router, NULL, 0);
    zmq_close(s->monitor);
    s->monitor = NULL;
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s->router);
    s->router = NULL;
    for (int i = 0; i < n; i++) {
        zmq_close(s->wsock[i]);
        s->wsock[i] = NULL;
    }
    return NULL;
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
    s->fe_items = calloc((size_t)s->nworkers + 4, sizeof *s->fe_items);
    s->park_cap = PARK_MAX + DRAIN_REQUESTS + (size_t)s->nworkers * SL_WORKER_MAX_JOBS;
    s->park = calloc(s->park_cap, sizeof *s->park);
    s->fe_stop_sent = calloc((size_t)s->nworkers, sizeof *s->fe_stop_sent);
    s->fe_done = calloc((size_t)s->nworkers, sizeof *s->fe_done);
    s->fe_w = calloc((size_t)s->nworkers, sizeof *s->fe_w);
    s->fe_inl = calloc(DRAIN_REQUESTS, sizeof *s->fe_inl);
    if (!s->fe_inl || !s->park || !s->wsock || !s->workers || !s->fe_items || !s->fe_stop_sent ||
        !s->fe_done || !s->fe_w)
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
    sl_publisher_destroy(&s->publisher);
    sl_topics_destroy(&s->topics);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    free(s->wsock);
    free(s->workers);
    free(s->fe_items);
    free(s->fe_stop_sent);
    free(s->fe_done);
    free(s->fe_inl);
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
    s->data_dir = strdup(cfg->data_dir);
    s->bind = strdup(cfg->bind);
    s->pub = strdup(cfg->pub);
    if (!s->data_dir || !s->bind || !s->pub) {
        s_teardown(s);
        return SEGLOG_E_NOMEM;
    }
    s->cfg.data_dir = s->data_dir;
    s->cfg.bind = s->bind;
    s->cfg.pub = s->pub;
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

    s->ctx = zmq_ctx_new();
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
    };
    rc = sl_publisher_new(&pc, &s->publisher);
    if (!rc) {
        sl_topics_config_t tc = {
            .data_dir = s->cfg.data_dir,
            .max_topics = s->cfg.max_topics,
            .notify = s_topics_notify,
            .notify_arg = s->publisher,
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
        tc.log.vfs = s->cfg.vfs;
        tc.log.sync_interval_ms = s->cfg.sync_interval_ms ? s->cfg.sync_interval_ms : 1000;
        rc = sl_topics_new(&tc, &s->topics);
    }
    if (!rc)
        rc = sl_committer_new(s->topics, s->cfg.sync, s->publisher, &s->committer);
    if (!rc)
        rc = s_bind_router(s);
    if (!rc && s->cfg.zookeeper)
        rc = sl_cmode_start(&s->cfg, s->ctx, s->topics, s->endpoint,
                            sl_publisher_endpoint(s->publisher), sl_committer_fd(s->committer),
                            &s->info, &s->repl);
    if (!rc)
        rc = s_start_workers(s);
    if (!rc)
        rc = sl_publisher_start(s->publisher, s->topics);
    if (!rc) {
        rc = pthread_create(&s->fe, NULL, s_frontend, s);
        s->fe_started = rc == 0;
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

int seglog_server_stop(seglog_server_t *s)
{
    if (!s)
        return SEGLOG_E_INVAL;
    if (s->stopped)
        return s->stop_rc;
    s->stopped = 1;
    sl_log(SL_LOG_INFO, "shutting down");
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
}
