/*
 * tail_impl.h - what tail.c (the Clone pattern: catch-up by offset plus
 * the PUB stream) and tail_node.c (which node a tail reads, and moving to
 * another replica in cluster mode) share: the tail object. Not installed.
 * One thread, the tail's client's.
 */
#ifndef SLC_TAIL_IMPL_H
#define SLC_TAIL_IMPL_H

#include "client_impl.h"

/* A tail in failover mode that heard nothing from its node (no record, no
 * heartbeat; idle topics have one a second) for this long asks the node
 * (an Offsets request) and moves if it does not answer. */
#define SLC_TAIL_SILENCE_MS 3000

struct seglog_tail {
    seglog_client_t *client; /* borrowed: its context, keys, options and nodes */
    slc_rpc_t rpc;
    slc_arena_t *arena;    /* fetched batches, replies */
    slc_arena_t *ev_arena; /* decoded PUB events */
    void *sub;
    char *pub; /* owned: the PUB endpoint sub is connected to */
    char *topic;
    size_t frame_len; /* of the PUB topic frame: topic_len, + 1 with CURVE (its NUL) */
    size_t topic_len;
    int sub_hwm;
    uint64_t next;      /* offset of the next record to return */
    uint64_t known_end; /* records below this exist: fetch up to it */
    uint64_t epoch;
    int start_at_lowest;
    int pending;   /* waiting for the topic to exist (wait_for_topic) */
    uint64_t from; /* the start asked for, kept while pending */
    uint32_t fetch_records, fetch_bytes;
    const seglog_record_t *batch; /* the last fetched batch (arena memory) */
    size_t batch_n, batch_pos;
    zmq_msg_t frame; /* reused receive frame */
    seglog_tail_stats_t stats;
    /* Failover mode (tail_node.c): a bootstrap list and a cluster. */
    int failover;
    int64_t heard_ms; /* the node's last sign of life (a PUB message, an answer) */
};

/* ---- tail_node.c ---- */

/* (Re)open the tail on a node: close the SUB and request sockets (linger
 * 0: nothing queued survives), then a request socket to endpoint and a SUB
 * socket to pub, subscribed to the topic. 0 or an error with errmsg. */
int slc_tail_open(seglog_tail_t *t, const char *endpoint, const char *pub);

/* The first node of a new tail. A single endpoint, or a list that turns
 * out to be a standalone server: the client's node and PUB endpoint, as
 * always. A list and a cluster: failover mode, on the first replica of
 * the topic that answers (the client's node first if it is one). Either
 * way the SUB socket is subscribed before the Offsets request whose
 * answer (or error) is returned, in *off. */
int slc_tail_start(seglog_tail_t *t, slc_response_t *off);

/* Failover mode: find a node again (Metadata, then an Offsets request to
 * each live replica: leader, ISR, the rest). stay: the current node first
 * (it was silent; it may still answer), else last (it did not answer).
 * Takes the answer with slc_tail_adopt. 0, SEGLOG_CLIENT_E_EPOCH_CHANGED,
 * TIMEOUT when no replica answered within the client's budget
 * (timeout_ms x (1 + retries)), or another error. */
int slc_tail_move(seglog_tail_t *t, int stay);

/* ---- tail.c ---- */

/* Resolve the start `from` against a node's offsets (the first node, or a
 * topic that appeared). */
int slc_tail_resolve(seglog_tail_t *t, uint64_t from, const slc_response_t *o);

/* Go on from a node's Offsets answer: a topic that appeared is resolved,
 * another epoch is a reset (SEGLOG_CLIENT_E_EPOCH_CHANGED, position at the
 * new log's lowest offset), else the known end becomes the node's end
 * (which may be below the position: the node is behind; the tail waits
 * for it on the stream). */
int slc_tail_adopt(seglog_tail_t *t, const slc_response_t *o);

#endif
