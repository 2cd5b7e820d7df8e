/*
 * client_impl.h - what the client, producer and tail share inside the
 * library: the client object itself. Not installed.
 */
#ifndef SLC_CLIENT_IMPL_H
#define SLC_CLIENT_IMPL_H

#include "arena.h"
#include "rpc.h"
#include "seglog/client.h"

#define SLC_MAX_BOOT 16 /* endpoints in a bootstrap list */
#define SLC_POOL     8  /* the client's connections to other nodes (route.c) */

/* A node from the last Metadata answer (owned copies). */
typedef struct slc_node {
    int32_t id;
    char *endpoint;
    char *pub_endpoint;
    char curve_key[41]; /* its CURVE server key from Metadata; "" if none */
    int alive;
} slc_node_t;

/* Where produces to a topic go: the leader's endpoint, or NULL when the
 * topic is known and has no reachable leader (offline, or forgotten after
 * a failure: ask Metadata again). */
typedef struct slc_route {
    char *topic;
    char *endpoint;
} slc_route_t;

struct seglog_client {
    void *ctx;          /* ZeroMQ context, owned; producers and tails borrow it */
    slc_rpc_t rpc;      /* request/reply channel of the synchronous calls */
    slc_arena_t *arena; /* replies of the synchronous calls */
    char *pub_endpoint; /* owned; NULL if none was given */
    seglog_client_options_t opts; /* the curve_* pointers are not kept: see curve */
    slc_curve_t curve;            /* CURVE keys (owned copies); server[0] == 0: plaintext */
    /* The server's limits (limits.c): info_state 1 = known, -1 = the server
     * has no Info request, 0 = not asked yet on the current socket
     * (info_gen is the socket generation it was asked on). */
    seglog_server_info_t info;
    int info_state;
    unsigned info_gen;
    /* Cluster mode (route.c). boot: the endpoints given (nboot 1: a single
     * endpoint, which the synchronous reads never leave). mode: 0 not known
     * yet, 1 a cluster, -1 standalone. */
    char *boot[SLC_MAX_BOOT];
    int nboot;
    int home;        /* index in boot of c->rpc's endpoint (a list only) */
    int mode;
    slc_node_t *nodes;
    size_t nnodes;
    slc_route_t *routes;
    size_t nroutes, routes_cap;
    slc_rpc_t pool[SLC_POOL]; /* to leaders and metadata sources; ids from route_id */
    int npool, pool_evict;
    uint64_t route_id;
    /* Idempotent produce (idem.c): the producer id (0: ask for one) and
     * each topic's next batch sequence; idem_off: the server has no
     * InitProducerId. */
    uint64_t pid;
    struct slc_seq {
        char *topic;
        uint64_t next;
    } *seqs;
    size_t nseqs, seqs_cap;
    int idem_off;
};

/* ---- idem.c: idempotent produce ---- */

/* The producer id and sequence of the next batch to topic (the sequence
 * is taken): *pid 0 when idempotence is off (by option, or an old server).
 * Asks InitProducerId first when there is no id. 0 or the error of that
 * request. */
int slc_idem_next(seglog_client_t *c, const char *topic, uint64_t *pid, uint64_t *seq);
/* A batch sent with pid failed: the next batch asks for a new id. */
void slc_idem_failed(seglog_client_t *c, uint64_t pid);
void slc_idem_fini(seglog_client_t *c);

/* ---- route.c: bootstrap lists, Metadata, leaders ---- */

/* Split a comma-separated list into c->boot (spaces around entries are
 * dropped). 0 or SEGLOG_CLIENT_E_INVAL (empty entry, > SLC_MAX_BOOT),
 * SEGLOG_CLIENT_E_NOMEM. */
int slc_route_parse(seglog_client_t *c, const char *list);

void slc_route_fini(seglog_client_t *c);

/* When a call that starts now must end: timeout_ms x (1 + retries). */
int64_t slc_route_deadline(const seglog_client_t *c);

/* A synchronous request to the client's node: a single endpoint exactly
 * as before (slc_rpc_call); with a list, the first node that answers (one
 * attempt each, moving on after a timeout), within slc_route_deadline. */
int slc_client_call(seglog_client_t *c, slc_request_t *req, slc_response_t *resp);

/* Ask Metadata (the known live nodes first, then the bootstrap list, avoid
 * last) and store nodes and leaders. 0, BAD_REQUEST (a standalone server),
 * or TIMEOUT when no node answered before deadline. The reply stays in
 * *resp (c->arena) when resp is not NULL. */
int slc_route_refresh(seglog_client_t *c, int64_t deadline, const char *avoid,
                      slc_response_t *resp);

/* The same, with the request and reply in arena instead of c->arena (a
 * tail's, so that the client's borrowed replies stay valid). */
int slc_route_refresh_in(seglog_client_t *c, int64_t deadline, const char *avoid,
                         slc_arena_t *arena, slc_response_t *resp);

/* Store a Metadata answer: nodes, and each topic's leader; mode = 1. */
void slc_route_learn(seglog_client_t *c, const seglog_cluster_info_t *ci);

/* The route of a topic: NULL if never seen, else its entry. */
/* The CURVE keys for a connection to endpoint: the client's, with the
 * server key replaced by the one the node registered when a Metadata
 * answer (itself received over CURVE) gave one for that endpoint. buf
 * holds the result when it differs from the client's; NULL: plaintext. */
const slc_curve_t *slc_route_curve(const seglog_client_t *c, const char *endpoint,
                                   slc_curve_t *buf);

/* 0 when the client uses CURVE and no Metadata answer gave endpoint's
 * server key yet (a NOT_LEADER hint to a node not seen before): ask
 * Metadata before connecting there. */
int slc_route_key_known(const seglog_client_t *c, const char *endpoint);

slc_route_t *slc_route_find(seglog_client_t *c, const char *topic);

/* Set (endpoint NULL: forget) the leader of a topic. */
void slc_route_set(seglog_client_t *c, const char *topic, const char *endpoint);

/* Forget every route that points at endpoint (it did not answer). */
void slc_route_forget_endpoint(seglog_client_t *c, const char *endpoint);

/* The topic whose leader a request goes to in cluster mode. */
static inline const char *slc_route_topic(const slc_request_t *req)
{
    return req->route_topic ? req->route_topic : req->topic;
}

/* A produce (or another request for a leader: a group's commit and fetch,
 * whose route_topic is __consumer_offsets) in cluster mode: to the
 * topic's leader, following NOT_LEADER and refreshing Metadata after a
 * timeout, until deadline. */
int slc_route_produce(seglog_client_t *c, slc_request_t *req, slc_response_t *resp,
                      int64_t deadline);

/* Sleep ms (bounded waits between retries). */
void slc_sleep_ms(int ms);

/* Check a batch against the server's limits before it is sent, asking
 * for them first if needed (seglog_client_info). 0, or the error with its
 * message in client->rpc.errmsg (copied to errmsg when it is not NULL). */
int slc_limits_check(seglog_client_t *client, const seglog_record_t *records, size_t n,
                     char *errmsg, size_t cap);

/* Check an encoded request's size against the cached limit: 0 or
 * SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE with the message in rpc->errmsg. */
int slc_limits_check_size(const seglog_client_t *client, slc_rpc_t *rpc, size_t size);

/* An empty or NULL topic is the server's "default" topic. The tail needs
 * the real name: it is the PUB topic frame. */
static inline const char *slc_topic(const char *topic)
{
    return topic && *topic ? topic : "default";
}

#endif
