/*
 * meta.h - what the cluster keeps in ZooKeeper, as C structs, and their
 * JSON encoding (cJSON). Layout and meaning: docs/CLUSTER.md.
 *
 *   /seglog/nodes/<id>          {"version":1,"id":2,"endpoint":"tcp://...","pub":"tcp://..."}
 *   /seglog/controller          {"version":1,"id":2}
 *   /seglog/controller_epoch    7
 *   /seglog/topics/<t>          {"version":1,"replicas":[2,3,1],"log_id":"0123456789abcdef"}
 *   /seglog/topics/<t>/state    {"version":1,"leader":2,"leader_epoch":4,"isr":[2,3],
 *                                "controller_epoch":7}
 *
 * Every decoder treats its input as hostile: anything but exactly the
 * expected shape (types, ranges, lengths, distinct ids, leader in the ISR,
 * no trailing bytes) is SL_CL_EBADDATA, never a crash or a partial result.
 * Encoders return a malloc'ed NUL-terminated string (free()), or NULL when
 * out of memory.
 *
 * Thread rules: pure functions, any thread.
 */
#ifndef SL_CLUSTER_META_H
#define SL_CLUSTER_META_H

#include <stddef.h>
#include <stdint.h>

/* Error codes of the cluster layer (0 = ok). sl_cl_strerror() names them. */
enum {
    SL_CL_OK = 0,
    SL_CL_EINVAL = -901,      /* bad argument (topic name, node id, ISR outside replicas) */
    SL_CL_ENOMEM = -902,
    SL_CL_EBADDATA = -903,    /* a znode holds data that does not validate */
    SL_CL_ENOTCONN = -904,    /* no ZooKeeper session right now; retry later */
    SL_CL_ETIMEOUT = -905,    /* a bounded wait ran out */
    SL_CL_ENONODE = -906,     /* the znode (topic, node) does not exist */
    SL_CL_ESTALE = -907,      /* compare-and-set lost: re-read and decide again */
    SL_CL_ENOTLEADER = -908,  /* this node is not (or no longer) leader of that epoch */
    SL_CL_ENOREPLICAS = -909, /* fewer live nodes than the replication factor */
    SL_CL_EZK = -910,         /* another ZooKeeper error (logged with its name) */
    SL_CL_EEXISTS = -911,     /* a node with this id is registered by another session */
};
const char *sl_cl_strerror(int rc);

#define SL_CL_MAX_REPLICAS 16
#define SL_CL_ENDPOINT_MAX 256 /* bytes, NUL included */
#define SL_CL_TOPIC_MAX 128
#define SL_CL_CONFIG_MAX 256 /* bytes of a topic's config znode, NUL included */

typedef struct sl_cl_node {
    int32_t id;                        /* >= 1 */
    char endpoint[SL_CL_ENDPOINT_MAX]; /* request endpoint, printable ASCII, non-empty */
    char pub[SL_CL_ENDPOINT_MAX];      /* PUB endpoint, printable ASCII, may be empty */
    char repl[SL_CL_ENDPOINT_MAX];     /* replication endpoint (fetches); optional key
                                          "repl", may be empty (then absent) */
    char curve_key[41];                /* CURVE public key (Z85) of the node's sockets;
                                          optional key "curve_public_key", "" without */
} sl_cl_node_t;

typedef struct sl_cl_state {
    int32_t leader;           /* node id, or -1: no live ISR member (offline) */
    int32_t leader_epoch;     /* >= 1, bumped by every leader change */
    int32_t controller_epoch; /* epoch of the controller that wrote it, 0 at creation */
    int n_isr;                /* 1..SL_CL_MAX_REPLICAS */
    int32_t isr[SL_CL_MAX_REPLICAS];
} sl_cl_state_t;

typedef struct sl_cl_topic {
    char name[SL_CL_TOPIC_MAX + 1];
    int n_replicas; /* 1..SL_CL_MAX_REPLICAS, preferred leader first */
    int32_t replicas[SL_CL_MAX_REPLICAS];
    sl_cl_state_t state;
    int32_t state_version; /* ZooKeeper version of .../state: the CAS token */
    uint64_t log_id;       /* the id every replica's local log has (seglog_log_epoch);
                              0: none (a topic made by an older build) */
    char config[SL_CL_CONFIG_MAX]; /* .../config: the topic's settings, "KEY=VALUE\n"
                                      lines (docs/CLUSTER.md); "" if none */
    int32_t config_version;        /* its ZooKeeper version; -1: no such znode */
} sl_cl_topic_t;

/* 1 if name is a valid topic name: [A-Za-z0-9._-]{1,128}, not "." or "..". */
int sl_cl_topic_name_ok(const char *name);

char *sl_cl_node_encode(const sl_cl_node_t *n);
int sl_cl_node_decode(const char *buf, int len, sl_cl_node_t *out);

char *sl_cl_controller_encode(int32_t id);
int sl_cl_controller_decode(const char *buf, int len, int32_t *id);

char *sl_cl_epoch_encode(int32_t epoch);
int sl_cl_epoch_decode(const char *buf, int len, int32_t *epoch); /* >= 0 */

char *sl_cl_replicas_encode(const int32_t *ids, int n);
int sl_cl_replicas_decode(const char *buf, int len, int32_t *ids, int *n);
/* The same with the optional "log_id": 16 lowercase hex digits, not all
 * zero (a JSON number would lose bits above 2^53). log_id 0: left out on
 * encode, and what decode returns when the key is absent. */
char *sl_cl_assign_encode(const int32_t *ids, int n, uint64_t log_id);
int sl_cl_assign_decode(const char *buf, int len, int32_t *ids, int *n, uint64_t *log_id);

char *sl_cl_state_encode(const sl_cl_state_t *s);
int sl_cl_state_decode(const char *buf, int len, sl_cl_state_t *out);

/* The cross checks of a whole topic: every ISR member is a replica.
 * 0 or SL_CL_EBADDATA. */
int sl_cl_topic_check(const sl_cl_topic_t *t);

/* 1 if id is among ids[0..n). */
int sl_cl_has(const int32_t *ids, int n, int32_t id);

#endif
