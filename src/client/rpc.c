/* rpc.c - see rpc.h */
#include "rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t slc_now_ms(void)
{
    struct timespec ts;
    /* Timeouts are in ms: the coarse clock (a few ms of resolution) is
     * enough and costs a memory read, where it is read per request. */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int slc_rpc_fail(slc_rpc_t *rpc, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rpc->errmsg, sizeof rpc->errmsg, fmt, ap);
    va_end(ap);
    return err;
}

static int s_open(slc_rpc_t *rpc)
{
    void *s = zmq_socket(rpc->ctx, ZMQ_DEALER);
    if (!s)
        return slc_rpc_fail(rpc, errno, "cannot create a socket: %s", zmq_strerror(errno));
    int linger = 0, immediate = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &rpc->sndhwm, sizeof rpc->sndhwm);
    /* Queue only on a completed connection. Without it a request sent while
     * the server is down waits in the socket and goes out on whatever
     * connection comes next: to a restarted server, after the caller was
     * told TIMEOUT. With it, a queued request dies with its connection. */
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    if (zmq_connect(s, rpc->endpoint) != 0) {
        int err = errno;
        zmq_close(s);
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_INVAL, "cannot connect to '%s': %s", rpc->endpoint,
                            zmq_strerror(err));
    }
    rpc->sock = s;
    rpc->connected = 0;
    rpc->generation++;
    return 0;
}

int slc_rpc_init(slc_rpc_t *rpc, void *ctx, const char *endpoint, int timeout_ms, int retries,
                 int sndhwm)
{
    memset(rpc, 0, sizeof *rpc);
    rpc->ctx = ctx;
    rpc->timeout_ms = timeout_ms;
    rpc->retries = retries;
    rpc->sndhwm = sndhwm;
    rpc->next_id = 1;
    rpc->endpoint = strdup(endpoint);
    if (!rpc->endpoint)
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_NOMEM, "out of memory");
    int rc = s_open(rpc);
    if (rc) {
        free(rpc->endpoint);
        rpc->endpoint = NULL;
        return rc;
    }
    zmq_msg_init(&rpc->in);
    return 0;
}

void slc_rpc_fini(slc_rpc_t *rpc)
{
    if (!rpc->endpoint)
        return; /* never initialised, or already finished */
    if (rpc->sock)
        zmq_close(rpc->sock);
    rpc->sock = NULL;
    zmq_msg_close(&rpc->in);
    free(rpc->endpoint);
    rpc->endpoint = NULL;
}

int slc_rpc_reconnect(slc_rpc_t *rpc)
{
    if (rpc->sock)
        zmq_close(rpc->sock); /* linger 0: whatever is queued is dropped */
    rpc->sock = NULL;
    return s_open(rpc);
}

static int s_poll(void *sock, short events, int timeout_ms)
{
    zmq_pollitem_t item = {sock, 0, events, 0};
    int n = zmq_poll(&item, 1, timeout_ms);
    if (n < 0)
        return errno;
    return n ? 0 : SEGLOG_CLIENT_E_AGAIN;
}

static int s_remaining(int64_t deadline)
{
    int64_t left = deadline - slc_now_ms();
    return left > 0 ? (int)left : 0;
}

int slc_rpc_send(slc_rpc_t *rpc, zmq_msg_t *msg, int timeout_ms)
{
    if (!rpc->sock) {
        int rc = s_open(rpc);
        if (rc)
            return rc;
    }
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    if (zmq_msg_copy(&copy, msg) != 0) { /* shares the buffer; no byte copy */
        int err = errno;
        zmq_msg_close(&copy);
        return err;
    }
    int64_t deadline = slc_now_ms() + timeout_ms;
    for (;;) {
        if (zmq_msg_send(&copy, rpc->sock, ZMQ_DONTWAIT) >= 0) {
            rpc->connected = 1; /* ZMQ_IMMEDIATE: only a connection takes it */
            return 0;
        }
        int rc = errno;
        if (rc == EAGAIN)
            rc = s_poll(rpc->sock, ZMQ_POLLOUT, s_remaining(deadline));
        if (rc) {
            zmq_msg_close(&copy);
            return rc;
        }
    }
}

/* Receive the rest of a multi-frame message and drop it. */
static int s_skip_frames(slc_rpc_t *rpc)
{
    while (zmq_msg_more(&rpc->in))
        if (zmq_msg_recv(&rpc->in, rpc->sock, 0) < 0)
            return errno;
    return 0;
}

int slc_rpc_recv(slc_rpc_t *rpc, int timeout_ms, slc_arena_t *arena, slc_response_t *resp)
{
    if (!rpc->sock)
        return SEGLOG_CLIENT_E_AGAIN;
    int64_t deadline = slc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* Try the receive first: with requests pipelined a reply is often
         * waiting already, and a poll per reply costs system calls. */
        if (zmq_msg_recv(&rpc->in, rpc->sock, ZMQ_DONTWAIT) < 0) {
            if (errno != EAGAIN)
                return errno;
            int wait = timeout_ms < 0 ? -1 : s_remaining(deadline);
            int rc = s_poll(rpc->sock, ZMQ_POLLIN, wait);
            if (rc)
                return rc;
            continue;
        }
        int rc;
        if (zmq_msg_more(&rpc->in)) {
            rc = s_skip_frames(rpc);
            if (rc)
                return rc;
            continue;
        }
        slc_arena_reset(arena);
        rc = slc_codec_decode_response(arena, zmq_msg_data(&rpc->in), zmq_msg_size(&rpc->in), resp);
        if (rc)
            return slc_rpc_fail(rpc, rc, "undecodable reply from %s (%zu bytes)", rpc->endpoint,
                                zmq_msg_size(&rpc->in));
        return 0;
    }
}

static const char *s_kind_name(slc_kind_t k)
{
    switch (k) {
    case SLC_PRODUCE:
        return "produce";
    case SLC_CONSUME:
        return "consume";
    case SLC_OFFSETS:
        return "offsets";
    case SLC_TRUNCATE:
        return "truncate";
    case SLC_INFO:
        return "info";
    case SLC_LIST_TOPICS:
        return "list-topics";
    case SLC_DELETE_TOPIC:
        return "delete-topic";
    case SLC_METADATA:
        return "metadata";
    default:
        return "error";
    }
}

/* Wait for the reply to id until deadline. */
static int s_await_id(slc_rpc_t *rpc, uint64_t id, slc_kind_t kind, int64_t deadline,
                      slc_arena_t *arena, slc_response_t *resp)
{
    const slc_request_t r = {.id = id, .kind = kind};
    const slc_request_t *req = &r;
    for (;;) {
        int left = s_remaining(deadline);
        if (left <= 0)
            return SEGLOG_CLIENT_E_AGAIN;
        int rc = slc_rpc_recv(rpc, left, arena, resp);
        if (rc)
            return rc;
        /* id 0 answers a request the server could not decode: with one
         * request outstanding, that is ours. */
        int undecodable = resp->id == 0 && resp->kind == SLC_ERROR;
        if (resp->id != req->id && !undecodable)
            continue; /* the reply to an earlier, abandoned request */
        if (resp->kind == SLC_ERROR)
            return slc_rpc_fail(rpc, resp->err, "%s", resp->message);
        if (resp->kind != req->kind)
            return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_PROTOCOL, "%s reply to a %s request from %s",
                                s_kind_name(resp->kind), s_kind_name(req->kind), rpc->endpoint);
        return 0;
    }
}

/* 1 if the socket has a connection that takes requests (ZMQ_IMMEDIATE:
 * writable means connected). */
int slc_rpc_writable(slc_rpc_t *rpc)
{
    return rpc->sock && s_poll(rpc->sock, ZMQ_POLLOUT, 0) == 0;
}

int slc_rpc_timed_out(slc_rpc_t *rpc, int attempts, int sent)
{
    if (!sent)
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_TIMEOUT,
                            "no connection to %s within %d ms: is seglogd running at %s?",
                            rpc->endpoint, rpc->timeout_ms, rpc->endpoint);
    if (!slc_rpc_writable(rpc))
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_TIMEOUT,
                            "no reply from %s: %d attempt%s of %d ms each, and no connection "
                            "now: is seglogd running at %s?",
                            rpc->endpoint, attempts, attempts > 1 ? "s" : "", rpc->timeout_ms,
                            rpc->endpoint);
    return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_TIMEOUT,
                        "no reply from %s: %d attempt%s of %d ms each", rpc->endpoint, attempts,
                        attempts > 1 ? "s" : "", rpc->timeout_ms);
}

static int s_await(slc_rpc_t *rpc, const slc_request_t *req, int64_t deadline, slc_arena_t *arena,
                   slc_response_t *resp)
{
    return s_await_id(rpc, req->id, req->kind, deadline, arena, resp);
}

int slc_rpc_once(slc_rpc_t *rpc, zmq_msg_t *msg, uint64_t id, slc_kind_t kind, int connect_ms,
                 int reply_ms, slc_arena_t *arena, slc_response_t *resp)
{
    int rc = slc_rpc_send(rpc, msg, connect_ms);
    if (rc == SEGLOG_CLIENT_E_AGAIN)
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_AGAIN, "no connection to %s within %d ms",
                            rpc->endpoint, connect_ms);
    if (rc == 0)
        rc = s_await_id(rpc, id, kind, slc_now_ms() + reply_ms, arena, resp);
    if (rc == 0 || (rc < 0 && rc != SEGLOG_CLIENT_E_AGAIN && rc != SEGLOG_CLIENT_E_PROTOCOL))
        return rc; /* a reply */
    /* Sent, and no reply: discard what the socket still queues. */
    if (rc == SEGLOG_CLIENT_E_AGAIN)
        rc = slc_rpc_fail(rpc, SEGLOG_CLIENT_E_TIMEOUT, "no reply from %s within %d ms",
                          rpc->endpoint, reply_ms);
    else if (rc > 0)
        rc = slc_rpc_fail(rpc, rc, "%s", zmq_strerror(rc));
    int rc2 = slc_rpc_reconnect(rpc);
    return rc2 && rc == 0 ? rc2 : rc;
}

int slc_rpc_call(slc_rpc_t *rpc, slc_request_t *req, slc_arena_t *arena, slc_response_t *resp)
{
    slc_arena_reset(arena);
    req->id = rpc->next_id++;
    zmq_msg_t msg;
    int rc = slc_codec_encode(req, arena, &msg);
    if (rc)
        return slc_rpc_fail(rpc, rc, "cannot encode the request: out of memory");
    rpc->errmsg[0] = '\0';
    if (rpc->max_msg && zmq_msg_size(&msg) > rpc->max_msg) {
        size_t size = zmq_msg_size(&msg);
        zmq_msg_close(&msg);
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE,
                            "the request is %zu bytes; the server at %s takes messages of at most "
                            "%llu bytes",
                            size, rpc->endpoint, (unsigned long long)rpc->max_msg);
    }
    int sent = 0, attempt = 0;
    for (; attempt <= rpc->retries; attempt++) {
        rc = slc_rpc_send(rpc, &msg, rpc->timeout_ms);
        if (rc == 0) {
            sent = 1;
            /* A long poll's reply may come max_wait_ms later than any other. */
            rc = s_await(rpc, req, slc_now_ms() + rpc->timeout_ms + req->max_wait_ms, arena,
                         resp);
        }
        if (rc != SEGLOG_CLIENT_E_AGAIN)
            break;
        if (!sent) {
            /* No connection within timeout_ms, and nothing was sent: the
             * server is not there. Retrying would only wait longer. */
            attempt++;
            break;
        }
        if (attempt == rpc->retries) {
            attempt++;
            break;
        }
        /* Lazy Pirate: the server may be gone; start over on a new socket
         * (what the old one still queues dies with it). */
        rc = slc_rpc_reconnect(rpc);
        if (rc) {
            zmq_msg_close(&msg);
            return rc;
        }
    }
    zmq_msg_close(&msg);
    if (rc == 0 || (rc < 0 && rc != SEGLOG_CLIENT_E_AGAIN && rc != SEGLOG_CLIENT_E_PROTOCOL))
        return rc; /* a reply: ours, or the server's error */
    /* No reply (timeout, or an errno such as EINTR): the request may still
     * be queued on the socket. Close it, discarding that (rpc.h); the
     * connection state for the message is read first. */
    if (rc == SEGLOG_CLIENT_E_AGAIN)
        rc = slc_rpc_timed_out(rpc, attempt, sent);
    else if (rc > 0)
        rc = slc_rpc_fail(rpc, rc, "%s", zmq_strerror(rc));
    int rc2 = slc_rpc_reconnect(rpc);
    return rc2 && rc == 0 ? rc2 : rc;
}
