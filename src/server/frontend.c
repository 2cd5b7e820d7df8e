/*
 * frontend.c - the server's front-end thread.
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
#include "server_impl.h"

#include "committer.h"
#include "tsan_sync.h"
#include "slog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

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
        job->wait.parked = job->wait.resume = 0;
        job->m_type = 0;
        job->m_code = 0;
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
        SL_TSAN_ACQUIRE(zmq_msg_data(f)); /* the HTTP gateway's requests */
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
    job->t0_ns = sl_metrics_now_ns();
    if (total > SL_MAX_FRAMES) {
        char why[128];
        snprintf(why, sizeof why, "message has %d frames; at most %d are allowed", total - 1,
                 SL_MAX_FRAMES - 1);
        SL_STAT_ADD(&s->stats, bad_requests, 1);
        sl_metrics_request(&s->metrics, 0, SL_WIRE_BAD_REQUEST, 0);
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
    sl_metrics_request(&s->metrics, job->m_type, job->m_code, sl_metrics_now_ns() - job->t0_ns);
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

static void s_unpark_reply(seglog_server_t *s, sl_job_t *job);

/* Send a job's reply now, or queue it behind replies waiting for their
 * commit (keeps each connection's replies in request order). A long poll
 * its worker parked joins the waiters instead (see s_waiters). */
static void s_deliver(seglog_server_t *s, sl_job_t *job)
{
    if (job->wait.parked) {
        if (s->fe_stopping) {
            s_unpark_reply(s, job);
        } else {
            s->fe_wait[s->fe_nwait++] = job; /* room: the worker reserved a place */
            s->fe_wait_new = 1;
        }
        return;
    }
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

/* ---- long polls ---------------------------------------------------------- */

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answer a parked long poll with the empty reply its worker made. */
static void s_unpark_reply(seglog_server_t *s, sl_job_t *job)
{
    zmq_msg_close(&job->frames[--job->nframes]); /* the Request, kept for a resume */
    job->wait.parked = 0;
    s_deliver(s, job);
}

/* Hand a parked long poll back to its connection's worker, to be served
 * again without waiting. 0 if that worker has no room this round. */
static int s_unpark_resume(seglog_server_t *s, sl_job_t *job)
{
    fe_worker_t *w = &s->fe_w[s_pick(s, &job->frames[0])];
    if (w->held + w->npend >= SL_WORKER_MAX_JOBS)
        return 0;
    zmq_msg_close(&job->reply); /* the empty reply: the worker makes a new one */
    job->wait.parked = 0;
    job->wait.resume = 1;
    w->pend[w->npend++] = job;
    return 1;
}

/* Decide the parked long polls, when anything may have changed (a
 * wake-up, a new one, a deadline, shutdown): one whose topic's visible
 * end moved (records arrived, the log was cut back, or the topic was
 * deleted) is served again by its worker, which answers with records or
 * the error; one whose time is up, or all of them at shutdown, get their
 * empty reply. */
static void s_waiters(seglog_server_t *s)
{
    int64_t now = s_mono_ms();
    int woken = sl_waiters_take(s->waiters);
    if (!woken && !s->fe_wait_new && !s->fe_stopping && now < s->fe_wait_next)
        return;
    s->fe_wait_new = 0;
    int64_t next = INT64_MAX;
    uint32_t k = 0, released = 0;
    for (uint32_t i = 0; i < s->fe_nwait; i++) {
        sl_job_t *job = s->fe_wait[i];
        sl_topic_t *tp = job->wait.topic;
        int moved = atomic_load(&tp->deleted) || sl_topic_visible_end(tp) != job->wait.offset;
        if (s->fe_stopping || (!moved && now >= job->wait.deadline_ms)) {
            s_unpark_reply(s, job);
            released++;
        } else if (moved && s_unpark_resume(s, job)) {
            released++;
        } else {
            s->fe_wait[k++] = job;
            int64_t at = moved ? now + 1 : job->wait.deadline_ms; /* moved: retry soon */
            if (at < next)
                next = at;
        }
    }
    s->fe_nwait = k;
    s->fe_wait_next = next;
    if (released)
        sl_waiters_release(s->waiters, released);
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
                atomic_fetch_add_explicit(&s->metrics.clients, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&s->metrics.clients_accepted, 1, memory_order_relaxed);
            } else if (id == ZMQ_EVENT_DISCONNECTED) {
                sl_log_client(SL_LOG_INFO, "client disconnected fd=%u", value);
                atomic_fetch_sub_explicit(&s->metrics.clients, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&s->metrics.clients_disconnected, 1,
                                          memory_order_relaxed);
            } else {
                const char *why = id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                      ? "key refused (not in --clients-dir)"
                                  : id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                      ? (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                                             ? "security mechanism mismatch (CURVE on one side "
                                               "only)"
                                             : "protocol error")
                                      : "no detail (wrong server key?)";
                sl_log_client(SL_LOG_WARN, "client handshake failed event=%u value=%u reason=\"%s\"",
                              id, value, why);
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
        if (s->secure) /* the principal travels with the job (acl.h) */
            sl_principal_from_msg(&job->who, req);
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
    long timeout = -1;
    if (s->fe_nwait) {
        items[n++] = (zmq_pollitem_t){.fd = sl_waiters_fd(s->waiters), .events = ZMQ_POLLIN};
        int64_t left = s->fe_wait_next - s_mono_ms();
        timeout = left <= 0 ? 0 : left > 60000 ? 60000 : (long)left;
    }
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
    if (zmq_poll(items, n, timeout) < 0) {
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

/* Queue depths for metrics.h: stored only when they changed. */
static void s_publish_depths(seglog_server_t *s)
{
    for (int i = 0; i < s->nworkers && i < SL_M_MAX_WORKERS; i++) {
        int32_t d = (int32_t)(s->fe_w[i].held + s->fe_w[i].npend);
        if (atomic_load_explicit(&s->metrics.worker_depth[i], memory_order_relaxed) != d)
            atomic_store_explicit(&s->metrics.worker_depth[i], d, memory_order_relaxed);
    }
    int32_t parked = (int32_t)s->park_n;
    if (atomic_load_explicit(&s->metrics.parked, memory_order_relaxed) != parked)
        atomic_store_explicit(&s->metrics.parked, parked, memory_order_relaxed);
}

/* The front end's loop. A round forwards the workers' replies, reads the
 * clients, serves the produces itself and hands the rest to the workers.
 * It waits only once every source it read from was drained (a round that
 * stopped at a drain limit goes on at once), and then in the cheapest
 * way: with nothing to watch but the ROUTER (every worker idle, no reply
 * parked; the common case under produce load), the next round's first
 * receive blocks, one getpid and one poll system call, as an echo server's
 * would; otherwise in s_wait(). */
void *sl_frontend_run(void *arg)
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
        int block = !busy && room && idle_workers && s->park_n == 0 && s->fe_nwait == 0;
        if (!busy && !block)
            failed = s_wait(s, room, stopping) != 0;
        else if (++rounds % 256 == 0)
            s_monitor_events(s); /* connection logs, also under endless load */
        if (!stopping && atomic_load_explicit(&s->stop_req, memory_order_acquire))
            stopping = s->fe_stopping = 1;
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
        if (s->fe_nwait)
            s_waiters(s);
        if (s->park_n)
            s_release(s);
        for (int i = 0; i < n; i++)
            s_to_worker(s, i);
        s_publish_depths(s);
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
    for (uint32_t i = 0; i < s->fe_nwait; i++) { /* only after a poll failure */
        zmq_msg_close(&s->fe_wait[i]->reply);
        s_job_put(s, s->fe_wait[i]);
    }
    if (s->fe_nwait)
        sl_waiters_release(s->waiters, s->fe_nwait);
    s->fe_nwait = 0;
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
