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
};

/* An empty or NULL topic is the server's "default" topic. The tail needs
 * the real name: it is the PUB topic frame. */
static inline const char *slc_topic(const char *topic)
{
    return topic && *topic ? topic : "default";
}

#endif
