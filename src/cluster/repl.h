/*
 * repl.h - seglogd's cluster mode: the replication data path on top of the
 * coordination layer (cluster.h). docs/CLUSTER.md has the protocol.
 *
 * An sl_repl_t owns one thread ("sl-repl") that owns:
 *   - the sl_cluster_t (ZooKeeper session, registration, controller);
 *   - the replication ROUTER socket, where this node, when it leads a
 *     topic, serves its followers' FetchRequest (long poll) and
 *     OffsetForLeaderEpochRequest;
 *   - one DEALER per topic this node follows, fetching from its leader.
 * For every topic it leads it tracks each follower's log end (the fetch
 * offset is the follower's acknowledgement), computes the high watermark
 * (HW = min over the ISR, itself included) and shrinks/expands the ISR in
 * ZooKeeper by compare-and-set. For every topic it follows it first
 * truncates its log to the end of its last epoch as the leader reports it
 * (KIP-101/279), then appends the leader's records byte for byte. The HW
 * caps what clients see on every node (sl_topic_limit_set). The HWs this
 * node knows are checkpointed in data_dir/~hw_checkpoint and a topic's
 * HW starts from there when its log is opened (repl_ckpt.c, hwckpt.h).
 *
 * The produce path (front end and workers, any thread) asks this module:
 *   sl_repl_produce_begin  before appending: leader now? enough ISR? which
 *                          epoch to stamp? (creates the topic in ZooKeeper
 *                          on its first produce, waiting for that)
 *   sl_repl_appended       after appending: wake the long-polled fetches
 *   sl_repl_ack_check      may an acks=all produce be answered now?
 *   sl_repl_ack_wait       the same, blocking (worker threads)
 *
 * TopicConfig sets (workers): sl_repl_config_set merges the keys into
 * /seglog/topics/<t>/config through the repl thread and applies them here;
 * every replica applies each version of that znode it reads
 * (repl_config.c).
 *
 * Fencing: a produce is acknowledged only while this node leads the topic
 * at the epoch its records were stamped with AND its ZooKeeper lease is ok
 * (sl_cluster_lease_until_ms, published by the thread and checked against
 * the clock by the caller, so a process stopped past its lease acks nothing
 * even before its thread runs). A FENCED event, a state naming another
 * leader or a follower's fetch carrying a higher epoch end the leadership
 * at once.
 *
 * Thread rules: new/destroy from one controlling thread; the produce-path
 * functions from any thread; everything else is the repl thread's.
 */
#ifndef SL_REPL_H
#define SL_REPL_H

#include <stddef.h>
#include <stdint.h>

struct sl_topics;
struct sl_topic;

typedef struct sl_repl sl_repl_t;

typedef struct sl_repl_config {
    const char *zookeeper;     /* HOST:PORT[,...][/chroot] */
    int32_t node_id;           /* >= 1 */
    const char *endpoint;      /* advertised request endpoint */
    const char *pub_endpoint;  /* advertised PUB endpoint */
    const char *repl_bind;     /* replication ROUTER bind endpoint (may end in :*) */
    const char *repl_advertise_host; /* host part advertised for it (e.g. "127.0.0.1") */
    int replication_factor;    /* 0: min(3, live nodes) */
    int min_insync;            /* produce refused below this ISR size */
    int replica_lag_ms;        /* a follower not caught up this long leaves the ISR */
    int zk_session_ms;
    void *zmq_ctx;
    struct sl_topics *topics;
    int wake_fd;               /* eventfd: written when parked acks may be decided */
    uint64_t segment_bytes;    /* to cut a fetched run into batches that fit a segment */
    uint32_t max_batch_records;
    /* The HW checkpoint (docs/CLUSTER.md): data_dir/~hw_checkpoint, read at
     * start and written every hw_checkpoint_ms (0: 5000) and at destroy.
     * NULL: no checkpoint (every HW starts at 0). */
    const char *data_dir;
    int hw_checkpoint_ms;
    /* CURVE (docs/SECURITY.md). With curve_secret the replication ROUTER is a
     * CURVE server (the ZAP handler, czmq's zauth, answers in zmq_ctx), and a
     * follower connects to its leader as a CURVE client with these keys and
     * the leader's public key from its ZooKeeper registration. The keys are
     * borrowed (Z85) and must outlive the repl object. */
    const char *curve_public; /* NULL: plaintext */
    const char *curve_secret;
    /* With CURVE: may the sender of a Fetch or OffsetForLeaderEpoch (frame:
     * the request, carrying its ZAP metadata) replicate topic? NULL: any
     * key zauth admitted may. */
    int (*may_replicate)(void *arg, void *frame, const char *topic);
    void *may_arg;
} sl_repl_config_t;

/* Starts the thread; it connects to ZooKeeper by itself (no wait). */
int sl_repl_new(const sl_repl_config_t *cfg, sl_repl_t **out);
/* Stops the thread (closing the ZooKeeper session: the node leaves at
 * once) and frees. Idempotent. */
void sl_repl_destroy(sl_repl_t **self_p);
/* The advertised replication endpoint (bound port resolved). */
const char *sl_repl_endpoint(sl_repl_t *self);

/* The verdict on a produce before its append. */
typedef struct sl_repl_produce {
    int code;            /* 0: go on; else an SL_WIRE_* code to answer with */
    char msg[640];       /* when code != 0 */
    char leader[256];    /* NOT_LEADER: the leader's request endpoint, or "" */
    int32_t epoch;       /* when code == 0: stamp the records with this */
    int acks_all;        /* when code == 0: wait for the HW before the reply */
    void *hold;          /* when code == 0: pass to sl_repl_produce_end after the append */
} sl_repl_produce_t;

/* For an admin change that only the leader applies (Truncate): code 0 and
 * hold (pass it to sl_repl_produce_end after the change) while this node
 * leads topic name with a valid lease; else NOT_LEADER (with the leader's
 * endpoint) or BAD_REQUEST (not in ZooKeeper). Never blocks long. */
void sl_repl_lead_begin(sl_repl_t *self, const char *name, sl_repl_produce_t *out);

/* name/len as the request gave it ("" = default). May block up to a few
 * seconds the first time a topic is produced to (ZooKeeper creation). */
void sl_repl_produce_begin(sl_repl_t *self, const char *name, size_t len, uint32_t acks,
                           sl_repl_produce_t *out);
/* The append of a produce that begin allowed is done (or was refused):
 * until this call the topic's leadership cannot end. */
void sl_repl_produce_end(sl_repl_t *self, void *hold);
/* Records were appended (any thread, never blocks). */
void sl_repl_appended(sl_repl_t *self);

/* For an acks=all produce of topic tp ending at end, stamped with epoch,
 * appended at since_ms (sl_repl_now_ms): 1 = acknowledge, 0 = not yet,
 * -1 = answer with out->code/msg/leader instead. Never blocks. */
int sl_repl_ack_check(sl_repl_t *self, struct sl_topic *tp, uint64_t end, int32_t epoch,
                      int64_t since_ms, sl_repl_produce_t *out);
/* Blocks until sl_repl_ack_check decides (bounded by its timeout). */
int sl_repl_ack_wait(sl_repl_t *self, struct sl_topic *tp, uint64_t end, int32_t epoch,
                     int64_t since_ms, sl_repl_produce_t *out);

int64_t sl_repl_now_ms(void);

/* Set the keys seen[k] of topic name to v[k] (topicconf.h values) in
 * ZooKeeper, then here; blocks a worker until the repl thread has done it.
 * 0, or an error with msg set (nothing changed, unless msg says so). */
int sl_repl_config_set(sl_repl_t *self, const char *name, const int64_t *v, const int *seen,
                       char *msg, size_t cap);

/* CreateTopic: topic name in ZooKeeper with rf replicas (0: the default),
 * through the repl thread (blocks a worker). *created 0 if it existed;
 * *n its replica count; *enough 0 if too few nodes are live (msg set). */
int sl_repl_create_topic(sl_repl_t *self, const char *name, int rf, int *created, int *n,
                         int *enough, char *msg, size_t cap);

/* DeleteTopic: the topic's znodes in ZooKeeper, then its log here
 * (through the repl thread; blocks a worker). *unknown 1 if it did not
 * exist. */
int sl_repl_delete_topic(sl_repl_t *self, const char *name, int *unknown, char *msg, size_t cap);

/* Reserve producer ids for this node in ZooKeeper
 * (sl_cluster_pids_reserve, through the repl thread; blocks a worker). */
int sl_repl_pids_reserve(sl_repl_t *self, uint64_t next, uint64_t block, uint64_t limit,
                         uint64_t *start, uint64_t *reserved, char *msg, size_t cap);

/* For health checks and metrics (repl_stats.c; any thread). */
typedef struct sl_repl_node_stats {
    int registered;   /* /seglog/nodes/<id> is ours */
    int session_ok;   /* the ZooKeeper lease is valid now */
    int controller;   /* this node is the controller */
    int ready;        /* registered, and every topic's state is known */
    int nodes;        /* live nodes */
} sl_repl_node_stats_t;

typedef struct sl_repl_topic_stats {
    const char *name;
    int role;           /* 0 none, 1 leader, 2 follower */
    int32_t leader;     /* -1: offline */
    int32_t leader_epoch;
    int isr;            /* ISR size */
    uint64_t hw;        /* the high watermark this node knows */
    int nfollowers;     /* leader only: */
    int32_t follower[16];
    uint64_t follower_lag[16]; /* leader's log end - the follower's fetch offset */
} sl_repl_topic_stats_t;

void sl_repl_node_stats(sl_repl_t *self, sl_repl_node_stats_t *out);
/* fn once per topic with a known state, under the module's mutex: fn must
 * not call back into this module. */
void sl_repl_topic_stats_each(sl_repl_t *self,
                              void (*fn)(void *arg, const sl_repl_topic_stats_t *t), void *arg);

/* A MetadataResponse (docs/PROTOCOL.md) into out: the live nodes (and
 * replicas that are not live, alive = 0), every topic known here with its
 * replicas, leader, epoch, ISR and the HW this node knows. Any thread. */
struct sl_buf;
int sl_repl_metadata(sl_repl_t *self, uint64_t id, struct sl_buf *out);

#endif
