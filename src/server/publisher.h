/*
 * publisher.h - the thread that owns the PUB socket.
 *
 * Every message is [topic name][Event]. For each topic the publisher keeps
 * its own position and, when the topic's committed offset (set by the
 * log's on_commit callback, on any thread) moves past it, reads the new
 * records back from the log with its own iterators and publishes them in
 * offset order: no reordering, no gaps (the PUB socket's high-water mark
 * may still drop messages for a slow subscriber; the offsets make that
 * visible). A topic that published nothing for heartbeat_ms gets a
 * Heartbeat { next_offset, epoch }.
 *
 * Wake-up: sl_publisher_notify() is safe from any thread, including log
 * callbacks. It writes to an eventfd at most once per wake-up (an atomic
 * flag coalesces a burst of commits into one write); the thread polls that
 * eventfd. It never touches the socket.
 *
 * The socket is an XPUB: to subscribers exactly a PUB, and it tells the
 * publisher thread about subscriptions, which it counts
 * (sl_publisher_subscribed: the committer syncs early while anyone listens).
 * It runs with ZMQ_XPUB_NODROP so that a message some subscriber has no
 * room for is seen and counted (stats pub_dropped) before it is sent on,
 * lossy, to the others (s_send_event): the socket still never blocks.
 *
 * With CURVE (cfg->sec, docs/SECURITY.md) the XPUB is a CURVE server in
 * ZMQ_XPUB_MANUAL mode: every subscription message reaches this thread
 * with its sender's ZAP User-Id, and only one whose prefix is a topic name
 * followed by a zero byte, on which the ACL grants that sender consume,
 * is applied (ZMQ_SUBSCRIBE on the XPUB applies to the pipe the last
 * message came from); refused ones are logged. The topic frame is then
 * the name plus that zero byte, so a subscription to "orders" cannot
 * match "orders-eu". Once anyone subscribed, the thread keeps publishing
 * (unsubscriptions are not counted in this mode).
 *
 * Ownership: the publisher owns its socket, eventfd and iterators. The
 * socket is bound in sl_publisher_new() (on the caller's thread, so bind
 * errors are reported there) and used only by the publisher thread after
 * sl_publisher_start().
 */
#ifndef SL_PUBLISHER_H
#define SL_PUBLISHER_H

#include "stats.h"
#include "topics.h"

#include <stddef.h>

typedef struct sl_publisher sl_publisher_t;

typedef struct sl_publisher_config {
    void *zmq_ctx;
    const char *endpoint; /* to bind */
    int hwm;              /* ZMQ_SNDHWM, > 0 */
    int heartbeat_ms;
    sl_stats_t *stats;
    const struct sl_security *sec; /* CURVE and ACL (security.h); NULL: plaintext */
} sl_publisher_config_t;

int sl_publisher_new(const sl_publisher_config_t *cfg, sl_publisher_t **out);

/* The endpoint actually bound. */
const char *sl_publisher_endpoint(const sl_publisher_t *p);

/* Start the thread on the given topics. */
int sl_publisher_start(sl_publisher_t *p, sl_topics_t *topics);

/* A topic's committed offset moved. Any thread; never blocks. */
void sl_publisher_notify(void *p);

/* 1 while at least one subscription is open on the socket. Any thread. */
int sl_publisher_subscribed(const sl_publisher_t *p);

/* Distinct prefixes subscribed now (metrics). Any thread. */
long sl_publisher_subscriptions(const sl_publisher_t *p);

/* TCP connections to the PUB socket now, from its socket monitor (accepted
 * minus disconnected; with CURVE, also ones still in their handshake).
 * Metrics. Any thread. */
long sl_publisher_connections(const sl_publisher_t *p);

/* Publish everything committed so far, then stop the thread and close the
 * socket (with a short linger). Call after the last append and sync. */
void sl_publisher_stop(sl_publisher_t *p);

void sl_publisher_destroy(sl_publisher_t **p_p);

#endif
