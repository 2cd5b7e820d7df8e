/*
 * admin.h - the requests about the server and its topics rather than one
 * topic's records: Info, ListTopics, CreateTopic and DeleteTopic. Each encodes its
 * Response into out (cleared first), or returns an error code with a
 * message for the client in msg (which the caller encodes as an Error).
 *
 * Thread rules: any worker thread; state lives in the topic registry.
 */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include "acl.h"
#include "codec.h"
#include "topics.h"

int sl_admin_info(sl_buf_t *out, uint64_t id, const sl_info_t *info);
/* With acl, only the topics on which who has some right are listed. */
int sl_admin_list_topics(sl_buf_t *out, uint64_t id, sl_topics_t *topics, const sl_acl_t *acl,
                         const sl_principal_t *who);
/* CreateTopic. Standalone: creates the topic here (replicas 0 or 1).
 * Cluster mode (repl): in ZooKeeper with the replica count asked (the
 * cluster's errors, e.g. NOT_ENOUGH_REPLICAS, are encoded into out). */
struct sl_repl;
int sl_admin_create_topic(sl_buf_t *out, const sl_request_t *req, sl_topics_t *topics,
                          struct sl_repl *repl, char *msg, size_t cap);
/* DeleteTopic; cluster mode (repl): in ZooKeeper, then here. */
int sl_admin_delete_topic(sl_buf_t *out, const sl_request_t *req, sl_topics_t *topics,
                          struct sl_repl *repl, char *msg, size_t cap);

#endif
