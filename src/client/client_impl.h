/*
 * client_impl.h - what the client, producer and tail share inside the
 * library: the client object itself. Not installed.
 */
#ifndef SLC_CLIENT_IMPL_H
#define SLC_CLIENT_IMPL_H

#include "arena.h"
#include "rpc.h"
#include "seglog/client.h"

struct seglog_client {
    void *ctx;          /* ZeroMQ context, owned; producers and tails borrow it */
    slc_rpc_t rpc;      /* request/reply channel of the synchronous calls */
    slc_arena_t *arena; /* replies of the synchronous calls */
    char *pub_endpoint; /* owned; NULL if none was given */
    seglog_client_options_t opts;
    /* The server's limits (limits.c): info_state 1 = known, -1 = the server
     * has no Info request, 0 = not asked yet on the current socket
     * (info_gen is the socket generation it was asked on). */
    seglog_server_info_t info;
    int info_state;
    unsigned info_gen;
};

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
