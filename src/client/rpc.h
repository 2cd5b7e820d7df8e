/*
 * rpc.h - one request/reply channel to the server's ROUTER socket: a
 * DEALER socket with the zguide's Lazy Pirate recovery.
 *
 * Every request carries an id and every reply echoes it, so the channel
 * can pipeline (the producer) or wait for one reply (slc_rpc_call). A reply
 * whose id matches nothing is stale and dropped.
 *
 * No late delivery: the socket has ZMQ_IMMEDIATE, so a request is queued
 * only on a completed connection and dies with it; it can never go out on
 * a later connection (to a restarted server). A send while there is no
 * connection waits for one, at most timeout_ms. When a call ends without
 * its reply (timeout, EINTR, ...) the socket is closed with linger 0 and a
 * new one opened before the call returns, so what it still queued is
 * discarded (asynchronously, by libzmq: in that instant a queued request
 * can still go out, but only on its own connection, to the same server
 * process).
 *
 * A channel also keeps the error message of the last failed call, and
 * turns a server Error reply into the client code plus that message.
 *
 * Ownership: a channel is embedded in the object that uses it (client,
 * producer, tail) and borrows the client's ZeroMQ context. One thread.
 */
#ifndef SLC_RPC_H
#define SLC_RPC_H

#include "arena.h"
#include "codec.h"

#include <stdint.h>
#include <zmq.h>

/* CURVE keys (Z85, NUL-terminated); server[0] == 0: plaintext. */
typedef struct slc_curve {
    char server[41], pub[41], sec[41];
} slc_curve_t;

typedef struct slc_rpc {
    void *ctx;        /* borrowed */
    slc_curve_t curve; /* a copy (per channel: each node may have its own server key);
                          server[0] == 0: plaintext */
    void *mon;        /* PAIR reading the socket's handshake events */
    int hs_failed;    /* the last handshake event was a failure: its ZMQ_EVENT_ */
    int hs_value;     /* and its value */
    void *sock;       /* DEALER; NULL after a failed reconnect */
    char *endpoint;   /* owned */
    int timeout_ms;   /* per attempt */
    int retries;      /* resends after the first attempt */
    int sndhwm;       /* queue limit for pipelined requests */
    int connected;    /* a send on this socket succeeded (it had a connection) */
    unsigned generation; /* counts the sockets opened: a new one may reach a new server */
    uint64_t max_msg;    /* refuse to send a request larger than this (0: no limit) */
    uint64_t next_id; /* id of the next request */
    zmq_msg_t in;     /* the last frame received; reused */
    char errmsg[512];
} slc_rpc_t;

/* Milliseconds on the monotonic clock. */
int64_t slc_now_ms(void);

/* Open and connect (with CURVE when curve, which is copied, has a server key;
 * NULL: plaintext).
 * SEGLOG_CLIENT_E_INVAL for an endpoint ZeroMQ rejects (errmsg says why).
 * On failure nothing needs to be freed.
 * Handshakes are watched (a socket monitor): while a send waits for a
 * connection, a failed handshake (wrong or unknown key, CURVE on one side
 * only) ends the wait at once with SEGLOG_CLIENT_E_UNAUTHENTICATED and
 * "handshake failed: ..." in errmsg, instead of a timeout. */
int slc_rpc_init(slc_rpc_t *rpc, void *ctx, const slc_curve_t *curve, const char *endpoint,
                 int timeout_ms, int retries, int sndhwm);

/* Apply CURVE client keys to any socket (the tail's SUB). 0 or an errno. */
int slc_curve_apply(const slc_curve_t *curve, void *sock);

void slc_rpc_fini(slc_rpc_t *rpc);

/* Close the socket (discarding what it still queues) and open a new one. */
int slc_rpc_reconnect(slc_rpc_t *rpc);

/* Send a copy of msg (msg stays the caller's, for resending). Waits up to
 * timeout_ms while there is no connection or the send queue is full. 0,
 * SEGLOG_CLIENT_E_AGAIN if it could not be queued,
 * SEGLOG_CLIENT_E_UNAUTHENTICATED if the handshake failed, or an errno. */
int slc_rpc_send(slc_rpc_t *rpc, zmq_msg_t *msg, int timeout_ms);

/* Wait up to timeout_ms (< 0: no limit) for one single-frame reply and
 * decode it into resp (arena memory). 0, SEGLOG_CLIENT_E_AGAIN,
 * SEGLOG_CLIENT_E_PROTOCOL for an undecodable reply, or an errno (EINTR).
 * Messages of several frames are not replies of ours and are skipped. */
int slc_rpc_recv(slc_rpc_t *rpc, int timeout_ms, slc_arena_t *arena, slc_response_t *resp);

/* 1 if the socket has a live connection now (it is writable). */
int slc_rpc_writable(slc_rpc_t *rpc);

/* Set the TIMEOUT message after `attempts` attempts without a reply:
 * "no connection ... is seglogd running at ...?" when nothing was sent
 * (sent == 0), else "no reply", saying whether the connection was lost.
 * Returns SEGLOG_CLIENT_E_TIMEOUT. */
int slc_rpc_timed_out(slc_rpc_t *rpc, int attempts, int sent);

/* One request, Lazy Pirate: encode req (its id is assigned here), send,
 * wait, and on a timeout reconnect and resend, up to rpc->retries times.
 * If the first attempt finds no connection within timeout_ms, nothing was
 * sent and the call fails at once (TIMEOUT, "is seglogd running at ...?").
 * A call that ends without a reply replaces the socket before it returns.
 * A request larger than rpc->max_msg is not sent:
 * SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE.
 * The arena is reset first; resp lives in it. Returns 0 with a reply of
 * req->kind, the server's error code (message in errmsg),
 * SEGLOG_CLIENT_E_TIMEOUT, SEGLOG_CLIENT_E_PROTOCOL or an errno. */
int slc_rpc_call(slc_rpc_t *rpc, slc_request_t *req, slc_arena_t *arena, slc_response_t *resp);

/* One attempt of an encoded request (msg stays the caller's) whose id is
 * id: wait up to connect_ms for a connection, then up to reply_ms for the
 * reply. 0, the server's error code, SEGLOG_CLIENT_E_AGAIN when it found
 * no connection (nothing was sent), SEGLOG_CLIENT_E_TIMEOUT when it was
 * sent and no reply came (the socket was then replaced, discarding what it
 * still queued), SEGLOG_CLIENT_E_PROTOCOL or an errno. The cluster routing
 * (route.c) is built on it. */
int slc_rpc_once(slc_rpc_t *rpc, zmq_msg_t *msg, uint64_t id, slc_kind_t kind, int connect_ms,
                 int reply_ms, slc_arena_t *arena, slc_response_t *resp);

/* Set errmsg, printf style. Returns err, for `return slc_rpc_fail(...)`. */
int slc_rpc_fail(slc_rpc_t *rpc, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
