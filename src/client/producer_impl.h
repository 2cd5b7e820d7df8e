/*
 * producer_impl.h - what producer.c (the producer, standalone path) and
 * producer_cluster.c (following leaders in cluster mode) share: the
 * producer object and its slots. Not installed. One thread, the
 * producer's.
 */
#ifndef SLC_PRODUCER_IMPL_H
#define SLC_PRODUCER_IMPL_H

#include "client_impl.h"

typedef struct slot {
    zmq_msg_t msg; /* the packed request, kept for resending */
    int used;      /* sent, not yet reported */
    int done;      /* reply stored below */
    seglog_ack_t ack;
    char message[256];
    /* cluster mode */
    int conn;         /* index in conns it is outstanding on; -1: to be sent */
    int64_t deadline; /* acked with TIMEOUT when not answered by then */
    char topic[130];  /* where it goes (names are at most 128 bytes) */
    uint64_t pid;     /* idempotent produce: the producer id it carries (0: none) */
    int held;         /* answered OUT_OF_ORDER_SEQUENCE while an earlier batch of its
                         topic was unanswered: sent again once none is */
} slot_t;

struct seglog_producer {
    seglog_client_t *client; /* borrowed: limits (seglog_client_info) */
    slc_rpc_t rpc;
    slc_arena_t *arena;
    slot_t *slots;
    uint32_t cap;
    uint64_t oldest; /* sequence number of the oldest outstanding batch */
    uint64_t next;   /* sequence number of the next batch */
    seglog_ack_fn *on_ack;
    void *arg;
    int64_t last_progress; /* when a reply last arrived, or batches were (re)sent */
    int attempts;          /* sends of the outstanding window without an answer */
    int window_sent;       /* a batch of the outstanding window reached a connection */
    /* cluster mode: conns[0] is &rpc */
    int cluster;
    slc_rpc_t extra[SLC_POOL - 1];
    slc_rpc_t *conns[SLC_POOL];
    int nconns;
    int conn_out[SLC_POOL];       /* batches outstanding on each */
    int64_t conn_quiet[SLC_POOL]; /* since when each has been silent */
    int64_t retry_at, refresh_at; /* backoff before sending / asking Metadata again */
    int backoff;
    int timed_out; /* batches were acked with TIMEOUT in this call */
};

/* The slot of sequence number seq. */
slot_t *slc_producer_slot(seglog_producer_t *p, uint64_t seq);

/* Report every completed batch at the head of the window, in order. */
void slc_producer_report(seglog_producer_t *p);

/* Store an outcome in a slot (message is copied). */
void slc_producer_complete(slot_t *s, uint64_t seq, int err, const char *message, uint64_t offset,
                           uint32_t count);

/* Switch to cluster mode; the outstanding batches are on rpc (conns[0]). */
void slc_producer_enter_cluster(seglog_producer_t *p);

/* producer_cluster.c: send the batches waiting to be (re)sent (acking with
 * TIMEOUT those past their deadline), and wait for replies on every node's
 * socket (as s_pump in producer.c: until deadline, < 0 none; until_empty
 * 0: return once something was reported). */
int slc_producer_dispatch(seglog_producer_t *p);
int slc_producer_cpump(seglog_producer_t *p, int64_t deadline, int until_empty);

#endif
