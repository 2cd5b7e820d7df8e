/*
 * cmode.h - seglogd's cluster mode, as the server sees it: start and stop
 * the replication module (src/cluster/repl.h) and the produce path's three
 * questions, with their answers already encoded as Responses.
 *
 * Built without the cluster layer (no libzookeeper-mt-dev/libcjson-dev),
 * sl_cmode_start() refuses to start (SEGLOG_SERVER_E_CLUSTER, logged) and
 * the other functions are never reached (the server has no repl then).
 *
 * Thread rules: start/stop from the server's controlling thread; the rest
 * from any request thread (front end, workers).
 */
#ifndef SL_CMODE_H
#define SL_CMODE_H

#include "codec.h"
#include "mem.h"
#include "errors.h"
#include "topics.h"

#include "seglog/server.h"

#include <stdint.h>

struct sl_repl;

struct sl_security;

/* sec: CURVE for the replication socket and the follower connections, and
 * the ACL's replicate right (docs/SECURITY.md); it must outlive the repl. */
int sl_cmode_start(const seglog_server_config_t *cfg, void *zmq_ctx, sl_topics_t *topics,
                   const char *bound, const char *pub, int wake_fd, const sl_info_t *info,
                   const struct sl_security *sec, struct sl_repl **out);
void sl_cmode_stop(struct sl_repl **r);

/* Before a produce's append: 0 = append, stamping records with *epoch,
 * and (*acks_all) wait for the HW before the reply, then call
 * sl_cmode_produce_end(*hold) once the append is done (or refused): until
 * then this node cannot stop leading the topic, so no append of an old
 * leader lands between a follower's truncation and its fetches. 1 = the
 * reply (an Error: NOT_LEADER with the leader's endpoint,
 * NOT_ENOUGH_REPLICAS, ...) is in out, nothing held. May block for the
 * topic's creation in ZooKeeper. */
int sl_cmode_produce_begin(struct sl_repl *r, const sl_request_t *req, int32_t *epoch,
                           int *acks_all, void **hold, sl_buf_t *out);
void sl_cmode_produce_end(struct sl_repl *r, void *hold);
/* After the append (wakes long-polled fetches). */
void sl_cmode_appended(struct sl_repl *r);
/* An acks=all produce [.., end) of tp, stamped epoch, appended at since:
 * 1 = acknowledge; 0 = not yet (wait=0 only); -1 = the Error reply is in
 * out. wait=1 blocks until it is decided. */
int sl_cmode_ack(struct sl_repl *r, sl_topic_t *tp, uint64_t id, uint64_t end, int32_t epoch,
                 int64_t since, int wait, sl_buf_t *out);
int64_t sl_cmode_now_ms(void);

/* Requests cluster mode answers itself (r may be NULL: standalone): 1 and
 * the reply in out, or 0 to serve req as usual. Only Metadata: the
 * cluster's view (standalone: BAD_REQUEST). The admin requests have their
 * own calls below. */
int sl_cmode_request(struct sl_repl *r, const sl_request_t *req, sl_buf_t *out);

/* Before a Truncate in cluster mode: 0 and *hold (for
 * sl_cmode_produce_end after it) while this node leads the topic; else 1
 * with the error (NOT_LEADER with the leader's endpoint, BAD_REQUEST)
 * encoded into out. */
int sl_cmode_lead_begin(struct sl_repl *r, const char *topic, uint64_t id, void **hold,
                        sl_buf_t *out);

/* CreateTopic in cluster mode: the topic in ZooKeeper with replicas
 * replicas (0: the default), then this node's role for it. The response,
 * or the error (NOT_ENOUGH_REPLICAS, INTERNAL with the reason), encoded
 * into out; returns 1 on an error. */
int sl_cmode_create_topic(struct sl_repl *r, const char *topic, uint32_t replicas, uint64_t id,
                          sl_buf_t *out);

/* DeleteTopic in cluster mode: its znodes in ZooKeeper, then its log here
 * (the other replicas delete theirs from their watches). 0,
 * SL_E_UNKNOWN_TOPIC, or SEGLOG_SERVER_E_CLUSTER (ZooKeeper could not take
 * it: nothing changed); msg set on an error. */
int sl_cmode_delete_topic(struct sl_repl *r, const char *topic, char *msg, size_t cap);

/* sl_pids_remote_fn (pids.h) for repl: the node's producer-id counter in
 * ZooKeeper. */
int sl_cmode_pids_reserve(void *repl, uint64_t next, uint64_t block, uint64_t limit,
                          uint64_t *start, uint64_t *reserved, char *msg, size_t cap);

/* A TopicConfig set in cluster mode: the keys seen[k] become v[k] in
 * ZooKeeper (merged by compare-and-set), then here (sl_repl_config_set).
 * 0, or an error for sl_wk_reply_error with msg set: SEGLOG_SERVER_E_CLUSTER
 * (ZooKeeper unreachable or slow: nothing changed) or an errno (stored in
 * ZooKeeper, not here: msg says so). */
int sl_cmode_config_set(struct sl_repl *r, const char *topic, const int64_t *v, const int *seen,
                        char *msg, size_t cap);

/* Health and metrics (cmode_metrics.c; any thread). */
typedef struct sl_cmode_health {
    int registered, session_ok, controller, ready, nodes;
} sl_cmode_health_t;
void sl_cmode_health(struct sl_repl *r, sl_cmode_health_t *out);
/* A MetadataResponse (id 0) into out, as a Metadata request gets it. */
int sl_cmode_metadata(struct sl_repl *r, sl_buf_t *out);
/* The cluster families of /metrics, appended to b: 0 or -1 (no memory). */
int sl_cmode_metrics(struct sl_repl *r, sl_buf_t *b);

#endif
