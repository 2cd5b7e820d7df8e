/* rpc.c - see rpc.h */
#include "rpc.h"

#include <errno.h>
#include <stdatomic.h>
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

int slc_curve_apply(const slc_curve_t *curve, void *sock)
{
    if (!curve || !curve->server[0])
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, curve->server, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, curve->pub, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve->sec, 40) != 0)
        return errno;
    return 0;
}

/* Watch the handshakes of s: a PAIR on an inproc endpoint of its own.
 * libzmq unbinds a closed monitor's endpoint asynchronously, so the name
 * is never reused: a process-wide counter (the library's only static). */
static int s_monitor(slc_rpc_t *rpc, void *s)
{
    static _Atomic unsigned long s_seq;
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://seglog-client-monitor-%lu", ++s_seq);
    int linger = 0;
    if (zmq_socket_monitor(s, ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return errno;
    rpc->mon = zmq_socket(rpc->ctx, ZMQ_PAIR);
    if (!rpc->mon)
        return errno;
    zmq_setsockopt(rpc->mon, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(rpc->mon, ep) != 0)
        return errno;
    rpc->hs_failed = 0;
    return 0;
}

static void s_close(slc_rpc_t *rpc)
{
    if (rpc->sock) {
        zmq_socket_monitor(rpc->sock, NULL, 0);
        zmq_close(rpc->sock); /* linger 0: whatever is queued is dropped */
    }
    if (rpc->mon)
        zmq_close(rpc->mon);
    rpc->sock = rpc->mon = NULL;
}

/* Read the handshake events; 1 if the last one was a failure. */
static int s_handshake_failed(slc_rpc_t *rpc)
{
    for (int k = 0; rpc->mon && k < 256; k++) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, rpc->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        if (zmq_msg_size(&ev) >= 6) {
            uint16_t id;
            uint32_t value;
            memcpy(&id, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
            rpc->hs_failed = id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 0 : id;
            rpc->hs_value = (int)value;
        }
        while (zmq_msg_more(&ev)) /* the endpoint frame */
            if (zmq_msg_recv(&ev, rpc->mon, 0) < 0)
                break;
        zmq_msg_close(&ev);
    }
    return rpc->hs_failed != 0;
}

/* The message for a failed handshake: what went wrong and what to check. */
static int s_handshake_error(slc_rpc_t *rpc)
{
    const char *e = rpc->endpoint;
    int curve = rpc->curve.server[0] != 0;
    if (rpc->hs_failed == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_UNAUTHENTICATED,
                            "handshake failed: %s refused this client's key (ZAP status %d): "
                            "is its public certificate in the server's --clients-dir?",
                            e, rpc->hs_value);
    if (rpc->hs_failed == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        rpc->hs_value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_UNAUTHENTICATED,
                            curve ? "handshake failed: %s does not use CURVE (security mechanism "
                                    "mismatch); connect without --curve-server-key"
                                  : "handshake failed: %s requires CURVE (security mechanism "
                                    "mismatch): give --curve-server-key and --curve-cert "
                                    "(docs/SECURITY.md)",
                            e);
    if (rpc->hs_failed == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_UNAUTHENTICATED,
                            "handshake failed: protocol error 0x%x with %s", rpc->hs_value, e);
    return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_UNAUTHENTICATED,
                        curve ? "handshake failed: %s closed the connection during the CURVE "
                                "handshake: does it use CURVE, and is --curve-server-key its "
                                "public key?"
                              : "handshake failed: %s closed the connection during the "
                                "handshake (%s): does it require CURVE? Give --curve-server-key "
                                "and --curve-cert (docs/SECURITY.md)",
                        e, zmq_strerror(rpc->hs_value));
}

static int s_open(slc_rpc_t *rpc)
{
    void *s = zmq_socket(rpc->ctx, ZMQ_DEALER);
    if (!s)
        return slc_rpc_fail(rpc, errno, "cannot create a socket: %s", zmq_strerror(errno));
    int rc = slc_curve_apply(&rpc->curve, s);
    if (!rc)
        rc = s_monitor(rpc, s);
    if (rc) {
        zmq_close(s);
        if (rpc->mon)
            zmq_close(rpc->mon);
        rpc->mon = NULL;
        return slc_rpc_fail(rpc, rc, "cannot set up a socket: %s", zmq_strerror(rc));
    }
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
        rpc->sock = s;
        s_close(rpc);
        return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_INVAL, "cannot connect to '%s': %s", rpc->endpoint,
                            zmq_strerror(err));
    }
    rpc->sock = s;
    rpc->connected = 0;
    rpc->generation++;
    return 0;
}

int slc_rpc_init(slc_rpc_t *rpc, void *ctx, const slc_curve_t *curve, const char *endpoint,
                 int timeout_ms, int retries, int sndhwm)
{
    memset(rpc, 0, sizeof *rpc);
    rpc->ctx = ctx;
    if (curve)
        rpc->curve = *curve;
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
    s_close(rpc);
    zmq_msg_close(&rpc->in);
    free(rpc->endpoint);
    rpc->endpoint = NULL;
    memset(&rpc->curve, 0, sizeof rpc->curve); /* the secret key's copy */
}

int slc_rpc_reconnect(slc_rpc_t *rpc)
{
    s_close(rpc); /* linger 0: whatever is queued is dropped */
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

/* Wait up to timeout_ms for the socket to take a message (a connection,
 * ZMQ_IMMEDIATE) or for a handshake failure. 0, SEGLOG_CLIENT_E_AGAIN,
 * SEGLOG_CLIENT_E_UNAUTHENTICATED (errmsg set) or an errno. */
static int s_wait_connection(slc_rpc_t *rpc, int timeout_ms)
{
    int64_t deadline = slc_now_ms() + timeout_ms;
    for (;;) {
        if (s_handshake_failed(rpc))
            return s_handshake_error(rpc);
        zmq_pollitem_t items[2] = {{rpc->sock, 0, ZMQ_POLLOUT, 0}, {rpc->mon, 0, ZMQ_POLLIN, 0}};
        int64_t left = deadline - slc_now_ms();
        int n = zmq_poll(items, rpc->mon ? 2 : 1, left > 0 ? (long)left : 0);
        if (n < 0)
            return errno;
        if (items[0].revents & ZMQ_POLLOUT)
            return 0;
        if (n == 0 && left <= 0)
            return s_handshake_failed(rpc) ? s_handshake_error(rpc) : SEGLOG_CLIENT_E_AGAIN;
    }
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
            rc = s_wait_connection(rpc, s_remaining(deadline));
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
    case SLC_CREATE_TOPIC:
        return "create-topic";
    case SLC_METADATA:
        return "metadata";
    case SLC_OFFSET_FOR_TIME:
        return "offset-for-time";
    case SLC_TOPIC_CONFIG:
        return "topic-config";
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
