/*
 * seglog/client.h - the C client of a seglog server.
 *
 * What it is
 *   A client talks to one seglogd (or a cluster of them, see "Cluster
 *   mode") over ZeroMQ: request/reply on the
 *   server's ROUTER socket (produce, consume, offsets, truncate, info,
 *   list topics, delete topic) and the
 *   server's PUB socket for live records (tail). The wire contract is
 *   proto/seglog/v1/seglog.proto; docs/PROTOCOL.md is the prose.
 *
 * Objects
 *   seglog_client_t    request/reply calls; owns the ZeroMQ context.
 *   seglog_producer_t  an asynchronous, pipelined producer (N in flight).
 *   seglog_tail_t      a reliable stream consumer: every record from an
 *                      offset on, in order, exactly once, then live.
 *   Producers and tails are made from a client, share its context, and
 *   must be destroyed before it.
 *
 * Thread rules
 *   The library has no global state: no global ZeroMQ context (it does not
 *   use czmq's zsys), no signal handlers, no static buffers (one atomic
 *   counter names the sockets' monitor endpoints uniquely). A client and
 *   every producer and tail made from it belong to one thread at a time;
 *   use one client per thread for concurrency.
 *
 * Ownership
 *   - seglog_client_connect and the _new functions return objects owned
 *     by the caller, freed by the matching _destroy(&p), which is
 *     idempotent and sets p to NULL.
 *   - Input buffers (topic, values, keys) are only read during the call.
 *   - Records returned by seglog_client_consume and _consume_range, and
 *     topics from seglog_client_list_topics, are borrowed: they point into
 *     the client's reusable reply arena and stay valid until the next call
 *     on the same client (a producer's send may make one: see
 *     seglog_producer_send).
 *   - A record returned by seglog_tail_next is borrowed from the tail and
 *     stays valid until the next call on that tail.
 *   - The seglog_ack_t passed to an ack callback (and its message) is valid
 *     only during the callback.
 *   - Strings from *_errmsg belong to the object and stay valid until its
 *     next call; seglog_client_strerror returns static strings.
 *
 * Errors
 *   Every call returns 0 on success, a negative SEGLOG_CLIENT_E_* code, or
 *   a positive errno value (from ZeroMQ or the system; EINTR when a signal
 *   interrupted a wait). Each server ErrorCode arrives as its own code;
 *   the server's message is then in *_errmsg(). A produce the server's
 *   limits rule out is refused by the client before sending, with the
 *   server's code where it has one (RECORD_TOO_LARGE, BAD_REQUEST) or
 *   SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE, and the limit in *_errmsg() (see
 *   seglog_client_info). seglog_client_strerror() describes every code.
 *
 * Timeouts and retries (the zguide's Lazy Pirate)
 *   A request is queued only on a completed connection to the server
 *   (ZMQ_IMMEDIATE). A send waits up to timeout_ms for a connection, then
 *   up to timeout_ms for the reply. If the first attempt finds no
 *   connection, nothing was sent: the call fails at once with
 *   SEGLOG_CLIENT_E_TIMEOUT and *_errmsg() says "no connection to E within
 *   T ms: is seglogd running at E?". If a sent request gets no reply, the
 *   client closes its socket, opens a new one and sends the request again,
 *   up to `retries` more times; then the call fails with
 *   SEGLOG_CLIENT_E_TIMEOUT and *_errmsg() names the endpoint, the
 *   attempts, and whether a connection exists now. Defaults: timeout_ms
 *   2000, retries 2, so a server that is not running is reported after
 *   2 s, and one that accepts connections but never answers after 6 s.
 *
 *   What a call that failed without a reply (TIMEOUT, EINTR, another
 *   errno) guarantees:
 *   - no attempt ever reaches a server process that was (re)started
 *     after the attempt was made: a request is only ever written to the
 *     connection it was queued on (ZMQ_IMMEDIATE), and a connection dies
 *     with its server process;
 *   - nothing it sent is resent after it returns: before returning it
 *     closes the socket that queued its attempts (linger 0), which
 *     discards what that socket still queues. libzmq discards
 *     asynchronously, so a queued attempt may still be written in that
 *     instant, but only to its own connection: to the same server process.
 *   It does not guarantee that nothing was executed: an attempt already
 *   written to a connection may still be executed by that same server
 *   process, if it is alive but slow (stopped, stalled on a disk), even
 *   after the call returned. A produce that failed with TIMEOUT therefore
 *   has an unknown outcome: each attempt was appended at most once, or not
 *   at all. Read the log's offsets (or the records) to find out.
 *   A producer's batches are the same: acked with TIMEOUT means unknown;
 *   an EINTR from send, poll or flush leaves the batches in flight (the
 *   next call goes on waiting for them).
 *
 * Cluster mode (docs/CLUSTER.md)
 *   The endpoint given to seglog_client_connect may be a comma-separated
 *   bootstrap list of cluster nodes' request endpoints (the CLI also takes
 *   it from SEGLOG_ENDPOINT). With a list, the first produce asks Metadata
 *   of the first node that answers: a standalone server (BAD_REQUEST)
 *   makes the client behave as with a single endpoint. With a single
 *   endpoint nothing changes (no Metadata request) until a node answers a
 *   produce with NOT_LEADER. In cluster mode:
 *   - every produce (seglog_client_produce*, and each producer batch) goes
 *     to its topic's leader, on a socket per node. On NOT_LEADER it goes to
 *     the node the answer names (Error.leader_endpoint) at once; when the
 *     answer names none, when the topic has no leader, or when the node
 *     finds no connection within 500 ms or sends no reply within
 *     timeout_ms, the client asks Metadata again (live nodes first, then
 *     the bootstrap list; restarted nodes are found through Metadata) and
 *     tries again, with a short backoff (50 ms doubling to 500 ms). All of
 *     it ends within timeout_ms x (1 + retries) of the call (a producer
 *     batch: of its first send), then SEGLOG_CLIENT_E_TIMEOUT. Any other
 *     error, SEGLOG_CLIENT_E_NOT_ENOUGH_REPLICAS included, is returned as
 *     it is, without a retry.
 *   - A topic that does not exist yet is sent to any live node: the first
 *     produce creates it, and that node redirects.
 *   - The rule above holds per connection: each socket has ZMQ_IMMEDIATE
 *     and is closed (linger 0) after an attempt that got no reply, before
 *     the request is tried elsewhere, so no request reaches a server
 *     process started after it was queued, and none that returned (or was
 *     acked) TIMEOUT is sent again.
 *   - Acknowledged records keep their offsets. A batch resent after a
 *     failover (answered NOT_LEADER, or outstanding on a leader that died)
 *     may have been stored by the old leader too; with idempotent produce
 *     (the default) the new leader, which has the old leader's records,
 *     answers it with the original offsets instead of appending it again.
 *     A pipelined producer's batch that overtook an earlier one of its
 *     topic (refused as a gap: nothing appended) is held and sent again
 *     once the earlier ones are answered, so its batches land in order,
 *     each once. Acks are reported in send order.
 *   - seglog_client_truncate goes to the topic's leader too (it truncates
 *     and its followers follow).
 *   - Every other call (consume, offsets, info, list, delete,
 *     metadata) goes to the client's node: a single endpoint is
 *     never left, so a follower's endpoint reads that follower, up to its
 *     high watermark; with a list, the next node is used after one that
 *     does not answer (one attempt each, within the same budget).
 *   - Tails: with a single endpoint, a tail reads that node and
 *     pub_endpoint and never leaves them. With a list, seglog_tail_new
 *     asks Metadata; against a cluster the tail fails over: it reads one
 *     live replica of its topic (the client's node if it is one, else the
 *     leader, the ISR, the others: the first that answers an Offsets
 *     request), with the PUB endpoint that node advertises in Metadata
 *     (pub_endpoint is not used and may be NULL). Each of its requests is
 *     one attempt. A request without an answer, or 3 s without a PUB
 *     message (a record or a heartbeat; about 1/s on an idle topic) and
 *     then no answer
 *     to an Offsets request, makes it close both sockets (linger 0), ask
 *     Metadata again and reopen on another live replica (the node it left
 *     last), then go on at its position by the normal catch-up. Replicas
 *     serve records only below their high watermark, at the same offsets,
 *     and the log's epoch is the topic's id from ZooKeeper on every
 *     replica, so a move keeps "every record once, in order" and reports
 *     no epoch change (see Caveats for topics made by older builds). A
 *     replica whose high watermark is below the position is waited for.
 *     seglog_tail_stats_t.failovers counts the moves.
 *   With the server's default --zk-session-ms 6000 a failover takes about
 *   6 s: a client that must ride it out needs timeout_ms x (1 + retries)
 *   above that (e.g. 2000 and 4).
 *
 * Idempotent produce (docs/PROTOCOL.md, "Idempotent produce")
 *   By default every produce (seglog_client_produce*, each producer batch)
 *   is idempotent: before its first produce a client asks the server for a
 *   producer id (InitProducerId, one extra round trip; it shares the id
 *   with its producers) and numbers its batches per topic, 0, 1, 2, ...
 *   Every resend of a batch (retries, NOT_LEADER, failover) carries the
 *   same id and sequence, and the server appends it once: a resend whose
 *   original was stored gets the original offsets back. So `retries`
 *   never duplicates a batch. After any batch that failed (an error reply,
 *   TIMEOUT, or a producer batch acked with an error) the next batch first
 *   asks for a new producer id, since the failed one may or may not be
 *   stored; so a pipelined producer's batches sent after a failed one may
 *   be acked SEGLOG_CLIENT_E_OUT_OF_ORDER_SEQUENCE (a gap: nothing of them
 *   was appended), and seglog_producer_send may return the error of that
 *   InitProducerId request (e.g. TIMEOUT without a server). The server
 *   remembers the last 5 batches of a producer per topic, and finds an
 *   older resend among the topic's last 131072 records (older still:
 *   OUT_OF_ORDER_SEQUENCE). A server older
 *   than InitProducerId gets plain produces. disable_idempotence in the
 *   options turns it off.
 *
 * Caveats
 *   - With disable_idempotence, a retried produce may append twice, when
 *     the first attempt reached the server but its reply was lost
 *     (at-least-once). Idempotence covers resends by this library; an
 *     application that produces a batch again after a TIMEOUT sends a new
 *     batch.
 *   - An empty or NULL topic means "default" (except for
 *     seglog_client_delete_topic, which insists on a name).
 *   - A tail notices that a log was reset (its epoch changed) from the
 *     next heartbeat or from an offset past the end; a busy topic that is
 *     reset and refilled past the tail's position between two heartbeats
 *     is seen only at the next idle moment.
 *   - A tail in failover mode of a topic created by an older build (its
 *     ZooKeeper znode has no log_id) sees a different epoch on each
 *     replica: a move reports SEGLOG_CLIENT_E_EPOCH_CHANGED and restarts
 *     at the new replica's lowest offset, returning records again.
 *   - A single-endpoint tail (and any standalone tail) does not treat a
 *     silent server as dead: it waits on its stream.
 */
#ifndef SEGLOG_CLIENT_H
#define SEGLOG_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Client error codes: negative. Positive values are errno values. */
enum {
    SEGLOG_CLIENT_OK = 0,
    /* One per server ErrorCode (the server's message is in *_errmsg). */
    SEGLOG_CLIENT_E_BAD_REQUEST = -301,
    SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE = -302,
    SEGLOG_CLIENT_E_OFFSET_TRUNCATED = -303,
    SEGLOG_CLIENT_E_RECORD_TOO_LARGE = -304,
    SEGLOG_CLIENT_E_BATCH_TOO_LARGE = -305,
    SEGLOG_CLIENT_E_INVALID_TOPIC = -306,
    SEGLOG_CLIENT_E_UNKNOWN_TOPIC = -307,
    SEGLOG_CLIENT_E_RESOURCE_EXHAUSTED = -308,
    SEGLOG_CLIENT_E_INTERNAL = -309,
    SEGLOG_CLIENT_E_STORAGE = -310,
    SEGLOG_CLIENT_E_CORRUPT = -311,
    SEGLOG_CLIENT_E_NOT_ENOUGH_REPLICAS = -312, /* cluster: ISR below --min-insync */
    SEGLOG_CLIENT_E_OUT_OF_ORDER_SEQUENCE = -315, /* idempotent produce: a gap in the sequence */
    SEGLOG_CLIENT_E_UNKNOWN_GROUP = -316, /* fetch_offset: the group never committed */
    SEGLOG_CLIENT_E_UNAUTHENTICATED = -320,
    SEGLOG_CLIENT_E_PERMISSION_DENIED = -321,
    SEGLOG_CLIENT_E_NOT_LEADER = -322,
    SEGLOG_CLIENT_E_SERVER_ERROR = -329, /* an ErrorCode this client does not know */
    /* Raised by the client itself. */
    SEGLOG_CLIENT_E_INVAL = -341,         /* bad argument or endpoint */
    SEGLOG_CLIENT_E_NOMEM = -342,         /* out of memory */
    SEGLOG_CLIENT_E_TIMEOUT = -343,       /* no reply after every retry */
    SEGLOG_CLIENT_E_PROTOCOL = -344,      /* the server sent something undecodable */
    SEGLOG_CLIENT_E_AGAIN = -345,         /* nothing arrived within the wait */
    SEGLOG_CLIENT_E_EPOCH_CHANGED = -346, /* tail: the log was reset */
    SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE = -347, /* a request above the server's max message size */
};

/* Describe any code returned by this library (negative or errno). */
const char *seglog_client_strerror(int err);

/* One record. On produce, value (and optionally key and timestamp_ms,
 * 0 = stamped by the server) are read; offset is ignored. */
typedef struct seglog_record {
    uint64_t offset;
    uint64_t timestamp_ms;
    const uint8_t *value;
    size_t value_len;
    const uint8_t *key; /* may be NULL when key_len is 0 */
    size_t key_len;
} seglog_record_t;

/* ------------------------------------------------------------------ */
/* Client: request/reply                                               */

typedef struct seglog_client seglog_client_t;

/* When a cluster-mode produce is acknowledged (ProduceRequest.acks). A
 * standalone server ignores it. */
typedef enum seglog_acks {
    SEGLOG_ACKS_DEFAULT = 0, /* the server's default: ACKS_ALL in cluster mode */
    SEGLOG_ACKS_LEADER = 1,  /* after the leader's own write */
    SEGLOG_ACKS_ALL = 2,     /* once every in-sync replica has the batch */
} seglog_acks_t;

typedef struct seglog_client_options {
    int timeout_ms; /* wait for a connection, then for one reply, > 0; default 2000 */
    int retries;    /* resends after the first attempt, >= 0; default 2 (see
                       "Timeouts and retries" for what is and is not resent) */
    int acks;       /* seglog_acks_t for every produce of this client and its
                       producers; default SEGLOG_ACKS_DEFAULT (not sent) */
    int disable_idempotence; /* 1: produce without producer id and sequence (a
                       resend may then append twice); default 0: idempotent
                       (see "Idempotent produce") */
    /* CURVE (docs/SECURITY.md): all three, or none (plaintext). Z85 keys of
     * 40 characters, copied by seglog_client_connect (NULL after it in
     * the client's copy). Every socket of the client, its producers and
     * tails then encrypts and authenticates; a handshake the server
     * refuses (unknown key, wrong server key, CURVE on one side only)
     * fails the call with SEGLOG_CLIENT_E_UNAUTHENTICATED and a message
     * starting "handshake failed:" as soon as it happens, within
     * timeout_ms. A tail's topic frames are then the name plus a zero
     * byte (docs/PROTOCOL.md). Default: NULL. */
    const char *curve_server_key; /* the server's public key */
    const char *curve_public_key; /* this client's public key */
    const char *curve_secret_key; /* this client's secret key */
} seglog_client_options_t;

/* Read a certificate written by `seglog keygen` (czmq's zcert format):
 * path itself, or path + "_secret" when that exists (it holds both keys).
 * pub and sec (41 bytes each) get the Z85 keys; sec is "" when the file has
 * no secret key. 0, or SEGLOG_CLIENT_E_INVAL with the reason in err. */
int seglog_curve_read_cert(const char *path, char pub[41], char sec[41], char *err, size_t cap);

/* A server key given as 40 Z85 characters or as a certificate file (its
 * public key): into out (41 bytes). 0 or SEGLOG_CLIENT_E_INVAL (err). */
int seglog_curve_read_key(const char *key_or_file, char out[41], char *err, size_t cap);

void seglog_client_options_default(seglog_client_options_t *opts);

/* Connect to a server. endpoint is its request (ROUTER) socket, or a
 * comma-separated bootstrap list of cluster nodes' request endpoints
 * ("tcp://a:5555,tcp://b:5555"; see "Cluster mode" above); pub_endpoint its
 * PUB socket (needed only for tails; may be NULL; not used by the tails of
 * a client with a bootstrap list that reaches a cluster).
 * ZeroMQ connects in the background, so this does not wait for the
 * server; SEGLOG_CLIENT_E_INVAL means an endpoint ZeroMQ rejects (or an
 * empty entry in a list, or more than 16 entries). opts may be NULL for
 * the defaults. */
int seglog_client_connect(const char *endpoint, const char *pub_endpoint,
                          const seglog_client_options_t *opts, seglog_client_t **client_p);

void seglog_client_destroy(seglog_client_t **client_p);

/* The message of the last failed call: the server's own text for a
 * server error, or the client's explanation. "" after a success. */
const char *seglog_client_errmsg(const seglog_client_t *client);

/* Append one record; *offset (may be NULL) gets its offset. */
int seglog_client_produce(seglog_client_t *client, const char *topic, const void *value, size_t len,
                          uint64_t *offset);

/* Append n records as one atomic batch at contiguous offsets; *first
 * (may be NULL) gets the offset of records[0]. The server takes 1..10000
 * records per batch and answers SEGLOG_CLIENT_E_BAD_REQUEST otherwise. */
int seglog_client_produce_batch(seglog_client_t *client, const char *topic,
                                const seglog_record_t *records, size_t n, uint64_t *first);

/* The record at offset (borrowed, see Ownership). */
int seglog_client_consume(seglog_client_t *client, const char *topic, uint64_t offset,
                          seglog_record_t *record);

typedef struct seglog_batch {
    const seglog_record_t *records; /* borrowed, see Ownership */
    size_t count;
    uint64_t next_offset;   /* just past the last record returned */
    uint64_t lowest_offset; /* the lowest offset still stored */
    uint64_t end_offset;    /* the log's next offset when the read started */
} seglog_batch_t;

/* Records from offset on: at most max_records (0 means 1) and about
 * max_bytes (0 = the server's cap; the first record always comes). An
 * offset equal to the log's next offset returns an empty batch. On an
 * error *batch is empty (count 0, records NULL). */
int seglog_client_consume_range(seglog_client_t *client, const char *topic, uint64_t offset,
                                uint32_t max_records, uint32_t max_bytes, seglog_batch_t *batch);

/* Long poll: as seglog_client_consume_range, but when offset is the
 * topic's visible end the server holds the reply until records arrive
 * there (they come back at once) or max_wait_ms (at most 60000, else
 * SEGLOG_CLIENT_E_BAD_REQUEST) passes (an empty batch). The call waits up
 * to timeout_ms + max_wait_ms for the reply. Past the server's
 * --max-waiters waiting long polls: SEGLOG_CLIENT_E_RESOURCE_EXHAUSTED.
 * max_wait_ms 0 is consume_range. */
int seglog_client_consume_wait(seglog_client_t *client, const char *topic, uint64_t offset,
                               uint32_t max_records, uint32_t max_bytes, uint32_t max_wait_ms,
                               seglog_batch_t *batch);

typedef struct seglog_offsets {
    uint64_t lowest_offset;    /* first offset still stored (== next_offset if empty) */
    uint64_t next_offset;      /* offset the next record will get */
    uint64_t committed_offset; /* records below this passed the commit point */
    uint64_t epoch;            /* random id of this log's lifetime */
} seglog_offsets_t;

int seglog_client_offsets(seglog_client_t *client, const char *topic, seglog_offsets_t *out);

/* The first offset whose record's timestamp_ms is >= timestamp_ms (ms
 * since the Unix epoch), or the log's visible end when no record is that
 * recent (yet): consume from *offset to read from that time on. */
int seglog_client_offset_for_time(seglog_client_t *client, const char *topic,
                                  uint64_t timestamp_ms, uint64_t *offset);

/* A topic setting (TopicConfig; docs/PROTOCOL.md): key "retention.bytes"
 * or "retention.ms"; value decimal, "-1" = no limit, "" = the server
 * default (in a set: unset it). effective: what applies (responses). */
typedef struct seglog_config_entry {
    const char *key;
    const char *value;
    const char *effective;
} seglog_config_entry_t;

/* Admin: change n settings of a topic (all or nothing, durably; n = 0
 * only reads them), then read every setting: *entries (borrowed from the
 * client's reply arena, as for list_topics) and *n_out. Invalid keys or
 * values: SEGLOG_CLIENT_E_BAD_REQUEST with the reason in errmsg. */
int seglog_client_topic_config(seglog_client_t *client, const char *topic,
                               const seglog_config_entry_t *set, size_t n,
                               const seglog_config_entry_t **entries, size_t *n_out);

/* Admin: drop every whole segment whose records all lie below lowest.
 * *new_lowest (may be NULL) gets the new lowest offset, which may be below
 * the one asked for. */
int seglog_client_truncate(seglog_client_t *client, const char *topic, uint64_t lowest,
                           uint64_t *new_lowest);

/* The server's version and limits (InfoRequest). */
typedef struct seglog_server_info {
    char version[64];           /* seglogd's version, e.g. "0.1.0" */
    uint32_t max_record_bytes;  /* key + value of one record */
    uint64_t max_message_bytes; /* largest request frame; a larger one drops the connection */
    uint32_t max_batch_records; /* records per produce */
    uint64_t max_batch_bytes;   /* largest stored batch (BATCH_TOO_LARGE above it) */
    uint32_t max_consume_bytes; /* the server's cap on one consume reply */
    uint32_t max_in_flight;     /* requests one connection may have outstanding */
    char sync[32];              /* "none", "interval:MS" or "always" */
    uint64_t segment_bytes;     /* store file size before a segment rolls */
} seglog_server_info_t;

/* The server's version and limits. Asked once and cached in the client;
 * asked again after the client replaced its socket (after a failed call),
 * since the server may have been restarted with other limits; if that
 * fails with a timeout the cached limits stay in use. A server
 * older than the Info request answers SEGLOG_CLIENT_E_BAD_REQUEST; the
 * client remembers that and does not ask again.
 *
 * Client-side limit checks: before sending a produce (seglog_client_produce,
 * _produce_batch, seglog_producer_send) the client gets the info (one extra
 * round trip on the first produce) and refuses, without sending anything:
 *   - a record whose key + value exceeds max_record_bytes:
 *     SEGLOG_CLIENT_E_RECORD_TOO_LARGE (the same code the server would
 *     answer), errmsg "record I of the batch is N bytes (key + value); the
 *     server at E takes at most M (seglogd --max-record-bytes)";
 *   - more than max_batch_records records: SEGLOG_CLIENT_E_BAD_REQUEST;
 *   - an encoded request above max_message_bytes, which the server would
 *     answer by dropping the connection: SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE.
 * Against a server without Info these checks are skipped and the server's
 * own answers apply. max_batch_bytes is left to the server
 * (BATCH_TOO_LARGE), which answers it without dropping the connection. */
int seglog_client_info(seglog_client_t *client, seglog_server_info_t *out);

/* One topic, as listed by seglog_client_list_topics. */
typedef struct seglog_topic_info {
    const char *name;       /* borrowed, see Ownership */
    uint64_t lowest_offset; /* first offset still stored */
    uint64_t next_offset;   /* the visible end, as in seglog_offsets_t */
    uint64_t epoch;
} seglog_topic_info_t;

/* Every topic the server holds, in name order. *topics is borrowed from the
 * client's reply arena (valid until the next call on the client); *n gets
 * the count (0 and *topics NULL when there is none). */
int seglog_client_list_topics(seglog_client_t *client, const seglog_topic_info_t **topics,
                              size_t *n);

/* Admin: create topic (empty) before its first produce. replicas: how many
 * nodes hold it in cluster mode (1..16; 0 = the cluster's default,
 * --replication-factor or min(3, live nodes)); a standalone server takes 0
 * or 1. An existing topic is no error: *created 0 (may be NULL) and
 * *replicas_out its replica count (may be NULL). Cluster mode: more
 * replicas than live nodes is SEGLOG_CLIENT_E_NOT_ENOUGH_REPLICAS, and
 * nothing is created. */
int seglog_client_create_topic(seglog_client_t *client, const char *topic, uint32_t replicas,
                               int *created, uint32_t *replicas_out);

/* Admin: delete a topic and all its records, durably. topic must be named:
 * NULL or "" is SEGLOG_CLIENT_E_INVAL here (not "default"). The server
 * answers SEGLOG_CLIENT_E_UNKNOWN_TOPIC for a topic it does not hold. A
 * later produce creates a new, empty log with a new epoch. */
int seglog_client_delete_topic(seglog_client_t *client, const char *topic);

/* Cluster metadata (MetadataRequest; docs/CLUSTER.md). Every pointer is
 * borrowed from the client's reply arena, as for list_topics. */
typedef struct seglog_node_info {
    int32_t id;
    const char *endpoint;     /* request endpoint ("" for a node that is not alive) */
    const char *pub_endpoint; /* PUB endpoint, may be "" */
    int alive;                /* registered in ZooKeeper now */
    const char *curve_public_key; /* the node's CURVE server key (40 Z85 characters), "" when
                                     it has none; with CURVE the client connects to the node
                                     with this key (docs/SECURITY.md) */
} seglog_node_info_t;

typedef struct seglog_topic_meta {
    const char *name;
    const int32_t *replicas; /* node ids; the first is the preferred leader */
    size_t nreplicas;
    int32_t leader; /* node id, -1: offline */
    int32_t leader_epoch;
    const int32_t *isr; /* in-sync replicas */
    size_t nisr;
    uint64_t high_watermark; /* as the answering node knows it */
} seglog_topic_meta_t;

typedef struct seglog_cluster_info {
    int32_t node_id; /* the node that answered */
    const seglog_node_info_t *nodes;
    size_t nnodes;
    const seglog_topic_meta_t *topics;
    size_t ntopics;
} seglog_cluster_info_t;

/* The cluster's nodes and, per topic, replicas, leader, epoch, ISR and HW,
 * as one node sees them: the client's current node (the endpoint given, or
 * with a bootstrap list the first node that answers). A standalone server
 * answers SEGLOG_CLIENT_E_BAD_REQUEST. The client also refreshes its
 * routing (which node leads which topic) from the answer. */
int seglog_client_metadata(seglog_client_t *client, seglog_cluster_info_t *out);

/* ------------------------------------------------------------------ */
/* Consumer groups: committed offsets (docs/PROTOCOL.md, "Consumer groups") */

/* The internal topic that holds the commits (hidden from
 * seglog_client_list_topics; produce, truncate and delete on it are
 * refused with SEGLOG_CLIENT_E_INVALID_TOPIC). */
#define SEGLOG_GROUPS_TOPIC "__consumer_offsets"
/* The longest metadata string of a commit, in bytes. */
#define SEGLOG_GROUP_METADATA_MAX 256

/* Store group's position in topic: offset is the next offset the group
 * will read. metadata (may be NULL) is free text of at most
 * SEGLOG_GROUP_METADATA_MAX bytes. Durable (the sync policy's
 * acknowledgement point; in cluster mode replicated with acks=all, sent to
 * the leader of SEGLOG_GROUPS_TOPIC) when it returns 0. A later commit of
 * the same group and topic replaces it. Errors: BAD_REQUEST (an empty or
 * invalid group name: group names follow the topic name rule; metadata too
 * long), INVALID_TOPIC, UNKNOWN_TOPIC (standalone: the topic does not
 * exist). A retry after a lost reply commits the same value again, which
 * is harmless. */
int seglog_client_commit_offset(seglog_client_t *client, const char *group, const char *topic,
                                uint64_t offset, const char *metadata);

/* The last offset group committed for topic: 0 with *found 1, *offset and
 * *metadata (may be NULL; borrowed, see Ownership), or *found 0 when the
 * group committed for other topics only. SEGLOG_CLIENT_E_UNKNOWN_GROUP if
 * the group never committed anything. */
int seglog_client_fetch_offset(seglog_client_t *client, const char *group, const char *topic,
                               int *found, uint64_t *offset, const char **metadata);

/* ------------------------------------------------------------------ */
/* Producer: asynchronous and pipelined                                */

typedef struct seglog_producer seglog_producer_t;

typedef struct seglog_ack {
    uint64_t seq;        /* what seglog_producer_send returned for this batch */
    int err;             /* 0, a server error code, or SEGLOG_CLIENT_E_TIMEOUT */
    const char *message; /* "" or the error's message */
    uint64_t offset;     /* first offset of the batch (when err == 0) */
    uint32_t count;      /* records appended (when err == 0) */
} seglog_ack_t;

/* Called on the producer's thread, from inside send, poll and flush.
 * It must not call the producer. */
typedef void(seglog_ack_fn)(void *arg, const seglog_ack_t *ack);

/* A producer with its own request socket, keeping up to max_in_flight
 * (1..1024) batches outstanding. Acks are reported in send order, one per
 * batch. */
int seglog_producer_new(seglog_client_t *client, uint32_t max_in_flight, seglog_ack_fn *on_ack,
                        void *arg, seglog_producer_t **producer_p);

/* Destroy; batches still in flight are abandoned without an ack (each may
 * or may not have been appended). */
void seglog_producer_destroy(seglog_producer_t **producer_p);

/* Send a batch (as seglog_client_produce_batch). When max_in_flight are
 * outstanding it first waits for acks. *seq (may be NULL) gets the
 * batch's sequence number, 1, 2, 3... Server errors come through the
 * callback. Returns 0; a batch refused by the client-side limit checks
 * (see seglog_client_info: RECORD_TOO_LARGE, BAD_REQUEST,
 * MESSAGE_TOO_LARGE), which is not sent, gets no sequence number and no
 * ack; or a transport error: SEGLOG_CLIENT_E_TIMEOUT means the server did
 * not answer after every retry, and every outstanding batch was then acked
 * with that error. The limits are asked through the client the producer
 * was made from (a synchronous call on its socket). */
int seglog_producer_send(seglog_producer_t *producer, const char *topic,
                         const seglog_record_t *records, size_t n, uint64_t *seq);

/* Wait up to timeout_ms (0: do not wait) for acks and report them.
 * Returns 0, or a transport error as for send. */
int seglog_producer_poll(seglog_producer_t *producer, int timeout_ms);

/* Wait until every batch is acked; timeout_ms < 0 waits as long as the
 * server keeps answering (retries still apply). SEGLOG_CLIENT_E_AGAIN if
 * batches are still outstanding after timeout_ms. */
int seglog_producer_flush(seglog_producer_t *producer, int timeout_ms);

/* Batches sent and not yet acked. */
size_t seglog_producer_in_flight(const seglog_producer_t *producer);

const char *seglog_producer_errmsg(const seglog_producer_t *producer);

/* ------------------------------------------------------------------ */
/* Tail: the reliable stream consumer                                  */

typedef struct seglog_tail seglog_tail_t;

/* Special start offsets for seglog_tail_new. */
#define SEGLOG_OFFSET_EARLIEST (UINT64_MAX - 1) /* the lowest stored offset */
#define SEGLOG_OFFSET_LATEST   UINT64_MAX       /* only records produced from now on */

typedef struct seglog_tail_options {
    int start_at_lowest;    /* start below the lowest offset: 0 = SEGLOG_CLIENT_E_OFFSET_TRUNCATED,
                               1 = start at the lowest offset instead */
    uint32_t fetch_records; /* records per catch-up request; default 1000 */
    uint32_t fetch_bytes;   /* bytes per catch-up request; 0 (default) = the server's cap */
    int sub_hwm;            /* receive high-water mark of the SUB socket; default 1000 */
    int wait_for_topic;     /* a topic that does not exist yet: 0 = SEGLOG_CLIENT_E_UNKNOWN_TOPIC,
                               1 = wait for it; its records are all new, so the tail then
                               starts at its lowest offset even for SEGLOG_OFFSET_LATEST */
} seglog_tail_options_t;

void seglog_tail_options_default(seglog_tail_options_t *opts);

/* Start a tail of topic at from_offset (a number, SEGLOG_OFFSET_EARLIEST
 * or SEGLOG_OFFSET_LATEST). It subscribes first, then asks the server for
 * the log's offsets and epoch. Errors: the server's (UNKNOWN_TOPIC, ...),
 * OFFSET_TRUNCATED for a start below the lowest offset (unless
 * start_at_lowest), OFFSET_OUT_OF_RANGE for a start past the next offset,
 * INVAL without a pub_endpoint (unless in failover mode: "Cluster mode"
 * above; there TIMEOUT when neither a Metadata request nor the topic's
 * live replicas answered within timeout_ms x (1 + retries)). opts may be
 * NULL. */
int seglog_tail_new(seglog_client_t *client, const char *topic, uint64_t from_offset,
                    const seglog_tail_options_t *opts, seglog_tail_t **tail_p);

void seglog_tail_destroy(seglog_tail_t **tail_p);

/* The next record, waiting up to timeout_ms for it (0: do not wait, < 0:
 * no limit). Returns
 *   0                              *record is the record at position()-1;
 *   SEGLOG_CLIENT_E_AGAIN          nothing new within the wait;
 *   SEGLOG_CLIENT_E_EPOCH_CHANGED  the log was reset: the tail has moved to
 *                                  the new log's lowest offset and goes on
 *                                  from there with the next call;
 *   SEGLOG_CLIENT_E_OFFSET_TRUNCATED records the tail had not read yet were
 *                                  truncated away; the position stays, so
 *                                  every further call fails the same way;
 *   EINTR                          a signal interrupted the wait;
 *   or a request error (TIMEOUT, ...), after which the call can be made
 *   again and resumes where it stopped. The wait does not spin: it blocks
 *   in zmq_poll on one socket at a time. timeout_ms bounds the wait for
 *   new records; a catch-up fetch that is needed first is a request,
 *   bounded by the client's timeout_ms and retries instead, and so is a
 *   move to another replica in failover mode ("Cluster mode" above: at
 *   most timeout_ms x (1 + retries), then TIMEOUT). */
int seglog_tail_next(seglog_tail_t *tail, int timeout_ms, seglog_record_t *record);

/* The offset of the next record the tail will return. */
uint64_t seglog_tail_position(const seglog_tail_t *tail);

/* The epoch of the log the tail reads. */
uint64_t seglog_tail_epoch(const seglog_tail_t *tail);

typedef struct seglog_tail_stats {
    uint64_t delivered;  /* records returned */
    uint64_t live;       /* of which from the PUB stream */
    uint64_t fetches;    /* consume requests made */
    uint64_t gaps;       /* PUB records found ahead of the position (a drop) */
    uint64_t hb_behind;  /* heartbeats that showed the tail behind */
    uint64_t duplicates; /* PUB records dropped as already delivered */
    uint64_t heartbeats; /* heartbeats received */
    uint64_t epochs;     /* epoch changes seen */
    uint64_t failovers;  /* moves to another replica (cluster mode, a bootstrap list) */
} seglog_tail_stats_t;

void seglog_tail_stats(const seglog_tail_t *tail, seglog_tail_stats_t *out);

const char *seglog_tail_errmsg(const seglog_tail_t *tail);

#ifdef __cplusplus
}
#endif
#endif
