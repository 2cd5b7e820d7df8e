/*
 * seglog/server.h - seglogd as a library: a server object that a program
 * (seglogd's main, or a test) starts with a config and stops.
 *
 * What it runs
 *   One front-end thread owns the client ROUTER socket. It forwards each
 *   request to one of N worker threads, picked by a hash of the client's
 *   routing id, so one connection's requests run, and are answered, in
 *   order, and produces to different topics from different connections
 *   append in parallel (the log core serialises the writers of one
 *   topic). With produce_on FRONTEND (the AUTO choice below 4 CPUs or with
 *   one worker) the front end serves a connection's produce requests
 *   itself while nothing else of that connection is at its worker: decode,
 *   append, reply, with no thread hand-off on the hot path.
 *   A worker decodes, appends produces without waiting, commits the whole
 *   group once (one fdatasync for many requests under SYNC_ALWAYS), reads
 *   consumes with a reusable iterator, and hands the replies back to the
 *   front end, which sends them without blocking. Under SYNC_ALWAYS the
 *   front end's own appends are committed by a committer thread (group
 *   commit, back to back) while their replies wait, in order; under
 *   SYNC_INTERVAL the committer syncs new records at once while anyone
 *   subscribes. One publisher thread owns the PUB (XPUB) socket and
 *   publishes records once they pass the commit point, plus a heartbeat
 *   per idle topic. The wire protocol is docs/PROTOCOL.md.
 *
 * Ownership
 *   seglog_server_new() returns a server owned by the caller; it copies
 *   everything it needs from the config. seglog_server_destroy() stops it
 *   if needed and frees it.
 *
 * Thread rules
 *   new, stop and destroy are called by one controlling thread. The
 *   accessors may be called from any thread while the server lives.
 *   The server installs no signal handlers: signals are the program's
 *   business (seglogd blocks SIGINT/SIGTERM and waits for them with
 *   sigwait, then calls seglog_server_stop).
 *
 * Errors
 *   As in seglog/log.h: 0, a negative SEGLOG_E_* code, or a positive errno,
 *   plus the server's own SEGLOG_SERVER_E_* codes below.
 *   seglog_server_strerror() describes all of them.
 */
#ifndef SEGLOG_SERVER_H
#define SEGLOG_SERVER_H

#include "seglog/log.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The server's errors, beyond the log core's (which stop at -99). */
enum {
    SEGLOG_SERVER_E_BAD_REQUEST = -100,     /* undecodable or invalid request */
    SEGLOG_SERVER_E_INVALID_TOPIC = -101,   /* topic name not allowed */
    SEGLOG_SERVER_E_UNKNOWN_TOPIC = -102,   /* topic does not exist */
    SEGLOG_SERVER_E_TOO_MANY_TOPICS = -103, /* max_topics reached (or exceeded at start) */
    SEGLOG_SERVER_E_CLUSTER = -104,         /* cluster mode could not start (logged) */
    SEGLOG_SERVER_E_TOO_MANY_WAITERS = -110, /* max_waiters long-poll consumes wait already */
    /* idempotent produce and consumer groups (docs/PROTOCOL.md) */
    SEGLOG_SERVER_E_OUT_OF_ORDER_SEQUENCE = -120, /* a gap in a producer's sequence */
    SEGLOG_SERVER_E_UNKNOWN_GROUP = -121,         /* FetchOffset: the group never committed */
    SEGLOG_SERVER_E_INTERNAL_TOPIC = -122,        /* clients may not write __consumer_offsets */
    /* security (docs/SECURITY.md) */
    SEGLOG_SERVER_E_SECURITY = -140,          /* CURVE/ACL configuration unusable (logged) */
    SEGLOG_SERVER_E_PLAINTEXT = -141,         /* non-loopback bind without CURVE (logged) */
    SEGLOG_SERVER_E_PERMISSION_DENIED = -142, /* the ACL refuses the request */
};

/* Describe any error: the server's, the log core's or an errno. */
const char *seglog_server_strerror(int err);

/* Which threads serve produce requests (--produce-on). */
typedef enum {
    SEGLOG_PRODUCE_AUTO = 0, /* workers with >= 2 workers and >= 4 online CPUs, else frontend */
    SEGLOG_PRODUCE_FRONTEND, /* the front end serves a connection's produces itself while
                                nothing else of that connection is at its worker */
    SEGLOG_PRODUCE_WORKERS,  /* every request goes to the connection's worker */
} seglog_produce_on_t;

typedef struct seglog_server_config {
    const char *data_dir;      /* one directory per topic below it; default "./data" */
    const char *bind;          /* request ROUTER endpoint; default tcp://127.0.0.1:5555 */
    const char *pub;           /* PUB endpoint; default tcp://127.0.0.1:5556 */
    int workers;               /* 0: one per online CPU */
    seglog_produce_on_t produce_on; /* default SEGLOG_PRODUCE_AUTO */
    seglog_sync_t sync;        /* default SEGLOG_SYNC_INTERVAL */
    uint32_t sync_interval_ms; /* default 1000 */
    uint64_t segment_bytes;    /* store file size before rolling; default 64 MiB */
    uint32_t max_record_bytes; /* key + value of one record; default 1 MiB */
    int pub_hwm;               /* PUB send high-water mark in messages; default 10000 */
    int heartbeat_ms;          /* heartbeat period of an idle topic; default 1000 */
    uint32_t max_topics;       /* topics that may exist; default 1024 */
    uint32_t max_waiters;      /* long-poll consumes waiting at once; 0 or default: 1024 */
    /* Retention (docs/PROTOCOL.md, TopicConfig): server-wide defaults a
     * topic's retention.bytes / retention.ms override; 0 = no limit. */
    uint64_t retention_bytes;
    uint64_t retention_ms;
    uint32_t retention_check_ms; /* period of the retention pass; 0 or default: 1000 */
    const seglog_vfs_t *vfs; /* file I/O of every topic's log; NULL: POSIX (tests inject faults) */
    /* Cluster mode (docs/CLUSTER.md), on when zookeeper is set. Needs a
     * build with the cluster layer (libzookeeper-mt-dev, libcjson-dev). */
    const char *zookeeper;   /* HOST:PORT[,HOST:PORT...][/chroot]; NULL: standalone */
    int node_id;             /* >= 1, required in cluster mode */
    const char *advertise;   /* request endpoint others use; NULL: the bound one */
    const char *repl_bind;   /* replication socket; NULL: the request host, a free port */
    int replication_factor;  /* for new topics; 0: min(3, live nodes) */
    int min_insync;          /* acks=all refused below this ISR size; default 2 */
    int replica_lag_ms;      /* a follower behind this long leaves the ISR; default 10000 */
    int zk_session_ms;       /* ZooKeeper session timeout; default 6000 */
    int hw_checkpoint_ms;    /* period of the HW checkpoint (data_dir/~hw_checkpoint); default 5000 */
    /* Security (docs/SECURITY.md). With curve_cert every socket (requests,
     * PUB, replication) is a CURVE server that admits only the keys in
     * clients_dir; without it, binding a non-loopback address is refused
     * unless allow_plaintext. */
    const char *curve_cert;  /* the server's secret certificate (zcert); NULL: plaintext */
    const char *clients_dir; /* public certificates of the allowed clients (and nodes) */
    const char *acl;         /* ACL file (src/server/acl.h); NULL: every known key may do all */
    int allow_plaintext;     /* 1: allow a plaintext non-loopback bind */
    /* HTTP listener (docs/HTTP.md): metrics, health, the JSON gateway and
     * the status page. NULL: off. "HOST:PORT", port 0 picks a free one
     * (seglog_server_http_endpoint() tells which). A host that is not a
     * loopback address is refused unless allow_plaintext, and always with
     * curve_cert (HTTP has no authentication). */
    const char *http;
} seglog_server_config_t;

/* Fill cfg with the defaults above. */
void seglog_server_config_default(seglog_server_config_t *cfg);

/* The largest request frame the server serves, derived from
 * max_record_bytes (4 records' worth plus 64 KiB). A larger frame is
 * answered with BAD_REQUEST and logged (WARN). */
uint64_t seglog_server_max_message_bytes(const seglog_server_config_t *cfg);

/* ZMQ_MAXMSGSIZE on the ROUTER: max_message_bytes + 64 MiB. libzmq closes
 * the connection of a peer that sends a larger frame, without a reply,
 * and reports it as a plain disconnect. */
uint64_t seglog_server_drop_message_bytes(const seglog_server_config_t *cfg);

/* The largest payload a ConsumeResponse carries (records beyond the
 * first stop there): the same as the request limit. */
uint64_t seglog_server_max_consume_bytes(const seglog_server_config_t *cfg);

typedef struct seglog_server seglog_server_t;

/* Open the data directory and every topic in it, bind both sockets and
 * start the threads. On failure nothing is left running. */
int seglog_server_new(const seglog_server_config_t *cfg, seglog_server_t **out);

/* The endpoints actually bound (ports resolved when the config said :*). */
const char *seglog_server_endpoint(const seglog_server_t *s);
const char *seglog_server_pub_endpoint(const seglog_server_t *s);
/* "HOST:PORT" of the HTTP listener (port resolved), or NULL if it is off. */
const char *seglog_server_http_endpoint(const seglog_server_t *s);

/* Clean shutdown: stop reading requests, let the workers finish what they
 * already took (their replies are still sent), sync every log, publish
 * what became committed, close every log (writing the clean-shutdown
 * marker) and close every socket. Idempotent; returns the first error. */
int seglog_server_stop(seglog_server_t *s);

/* Stop if needed, then free. Sets *s_p to NULL. */
void seglog_server_destroy(seglog_server_t **s_p);

/* What open found for a topic (valid until destroy). SEGLOG_E_INVAL if
 * no such topic is open. */
int seglog_server_topic_recovery(seglog_server_t *s, const char *topic, seglog_recovery_t *out);

/* Counters, for logs and tests. */
typedef struct seglog_server_stats {
    uint64_t requests;        /* request messages read from the ROUTER */
    uint64_t replies_dropped; /* replies the ROUTER refused (peer gone or at its HWM) */
    uint64_t bad_requests;    /* requests answered with BAD_REQUEST */
    uint64_t published;       /* records sent on the PUB socket */
    uint64_t heartbeats;      /* heartbeats sent */
    uint64_t frontend_produces; /* produce requests the front end served itself */
    uint64_t produce_duplicates; /* idempotent produces answered with their original offsets */
} seglog_server_stats_t;

void seglog_server_stats(seglog_server_t *s, seglog_server_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
