/*
 * codec.h - the only module that knows the wire encoding
 * (proto/seglog/v1/seglog.proto). The rest of the server works with the
 * plain structs below; the generated Seglog__V1__* names stay in codec.c and codec_decode.c.
 *
 * Decoding: a ProduceRequest in canonical form is decoded by hand (the
 * hot path); everything else, including every error, by protobuf-c, which
 * unpacks into the caller's arena (so a request costs
 * no malloc and a hostile one cannot allocate past the arena's limit), and
 * then every field is validated: the oneof must be set, counts are capped,
 * and strings must not hide a NUL byte. A successful unpack is not taken as
 * validation, because protobuf-c accepts an empty buffer as a valid message.
 *
 * Encoding: small responses are packed by protobuf-c. The hot paths are
 * written by hand, and the tests decode them with protobuf-c and Python:
 *   - the stored record: a Record message without its offset, so a log
 *     record is served by copying its bytes once and appending the offset
 *     field (protobuf parsers accept fields in any order);
 *   - ConsumeResponse, streamed into one buffer with headroom so the
 *     Response header is written in front of it at the end;
 *   - the PUB Event of a record.
 *
 * Thread rules: no state; every function is safe from any thread.
 */
#ifndef SL_CODEC_H
#define SL_CODEC_H

#include "mem.h"

#include <stddef.h>
#include <stdint.h>

/* Mirrors seglog.v1.ErrorCode (checked at compile time in codec.c). */
typedef enum {
    SL_WIRE_BAD_REQUEST = 1,
    SL_WIRE_OFFSET_OUT_OF_RANGE = 2,
    SL_WIRE_OFFSET_TRUNCATED = 3,
    SL_WIRE_RECORD_TOO_LARGE = 4,
    SL_WIRE_BATCH_TOO_LARGE = 5,
    SL_WIRE_INVALID_TOPIC = 6,
    SL_WIRE_UNKNOWN_TOPIC = 7,
    SL_WIRE_RESOURCE_EXHAUSTED = 8,
    SL_WIRE_INTERNAL = 9,
    SL_WIRE_STORAGE = 10,
    SL_WIRE_CORRUPT = 11,
    SL_WIRE_NOT_ENOUGH_REPLICAS = 12, /* cluster mode */
    SL_WIRE_OUT_OF_ORDER_SEQUENCE = 15, /* idempotent produce */
    SL_WIRE_UNKNOWN_GROUP = 16,         /* FetchOffset */
    SL_WIRE_PERMISSION_DENIED = 21,   /* the ACL (docs/SECURITY.md) */
    SL_WIRE_NOT_LEADER = 22,          /* cluster mode */
} sl_wire_code_t;

/* ProduceRequest.acks (cluster mode; standalone ignores it). */
enum { SL_ACKS_DEFAULT = 0, SL_ACKS_LEADER = 1, SL_ACKS_ALL = 2 };

/* Consumer groups (docs/PROTOCOL.md): a group name is [A-Za-z0-9._-]{1,128}
 * (as a topic name); CommitOffset's metadata is at most this many bytes. */
#define SL_GROUP_METADATA_MAX 256u

/* Protocol limits enforced by the decoder. */
#define SL_MAX_BATCH_RECORDS   10000u /* records in one ProduceRequest */
#define SL_MAX_CONSUME_RECORDS 10000u /* ConsumeRequest.max_records is clamped to this */
#define SL_MAX_WAIT_MS         60000u /* ConsumeRequest.max_wait_ms above it: BAD_REQUEST */

typedef enum {
    SL_REQ_PRODUCE = 1,
    SL_REQ_CONSUME = 2,
    SL_REQ_OFFSETS = 3,
    SL_REQ_TRUNCATE = 4,
    SL_REQ_INFO = 5,
    SL_REQ_LIST_TOPICS = 6,
    SL_REQ_DELETE_TOPIC = 7,
    SL_REQ_METADATA = 8, /* cluster mode (its topic filter is not read: every topic) */
    SL_REQ_INIT_PRODUCER_ID = 9,
    SL_REQ_COMMIT_OFFSET = 10, /* topic, group, offset, metadata */
    SL_REQ_FETCH_OFFSET = 11,  /* topic, group */
    SL_REQ_OFFSET_FOR_TIME = 12,
    SL_REQ_TOPIC_CONFIG = 13, /* admin */
    SL_REQ_CREATE_TOPIC = 14, /* admin: topic, replicas */
} sl_req_type_t;

#define SL_MAX_CONFIG_SET 16 /* entries in one TopicConfigRequest.set */

/* One topic setting (TopicConfigRequest/Response). */
typedef struct sl_config_kv {
    const char *key, *value, *effective; /* effective: responses only */
} sl_config_kv_t;

/* The server's limits, as InfoResponse reports them (field by field, see
 * the .proto). The server fills one at start; workers read it. */
typedef struct sl_info {
    const char *version;
    uint32_t max_record_bytes;
    uint64_t max_message_bytes;
    uint32_t max_batch_records;
    uint64_t max_batch_bytes;
    uint32_t max_consume_bytes;
    uint32_t max_in_flight;
    const char *sync; /* "none", "interval:MS", "always" */
    uint64_t segment_bytes;
} sl_info_t;

/* One row of a ListTopicsResponse. */
typedef struct sl_topic_row {
    const char *name;
    uint64_t lowest, next, epoch;
} sl_topic_row_t;

typedef struct sl_record {
    const uint8_t *value;
    size_t value_len;
    const uint8_t *key;
    size_t key_len;
    uint64_t timestamp_ms; /* 0: not set by the client */
    uint64_t leader_epoch; /* stored as field 5 when not 0 (cluster mode); never from a client */
    /* Idempotent produce: fields 6-8, set by the server on the first record
     * of a batch with a producer id (0: absent); never from a client. */
    uint64_t producer_id, sequence;
    uint32_t batch_records;
} sl_record_t;

/* A decoded request. Pointers refer to arena memory. */
typedef struct sl_request {
    uint64_t id;
    sl_req_type_t type;
    const char *topic; /* NUL-terminated, no embedded NUL; not yet validated (produce,
                          consume, offsets, truncate, delete_topic) */
    size_t topic_len;
    /* produce */
    const sl_record_t *records;
    size_t nrecords; /* 1..SL_MAX_BATCH_RECORDS */
    uint64_t producer_id, sequence;
    uint32_t acks; /* SL_ACKS_*, as sent (any value; cluster mode reads it) */
    /* consume */
    uint64_t offset;
    uint32_t max_records; /* 1..SL_MAX_CONSUME_RECORDS (0 already turned into 1) */
    uint32_t max_bytes;   /* as sent; 0 = no preference */
    uint32_t max_wait_ms; /* 0..SL_MAX_WAIT_MS: long poll at the visible end */
    /* truncate */
    uint64_t lowest_offset;
    /* commit_offset (offset above), fetch_offset: NUL-terminated, no
     * embedded NUL, not yet validated */
    const char *group;
    size_t group_len;
    const char *metadata;
    size_t metadata_len;
    /* offset_for_time */
    uint64_t timestamp_ms;
    /* create_topic: 0..16 (0: the server's default) */
    uint32_t replicas;
    /* topic_config: the settings to change (none: read only) */
    const sl_config_kv_t *config;
    size_t nconfig;
} sl_request_t;

/* Decode and validate one Request frame. Returns 0, or SL_E_BAD_REQUEST
 * with *why set to a static reason; req->id is set whenever the bytes
 * decoded, so the error can still be matched by the client. */
int sl_codec_decode_request(sl_arena_t *arena, const void *data, size_t len, sl_request_t *req,
                            const char **why);

/* The same, with protobuf-c alone: the reference the fast produce path of
 * sl_codec_decode_request is tested against. */
int sl_codec_decode_request_pb(sl_arena_t *arena, const void *data, size_t len, sl_request_t *req,
                               const char **why);

/* A cheap look at a Request frame: 1 if it scans as fields and its last
 * body field is a produce (the front end serves those itself), else 0.
 * Only a hint for routing, which serves any request correctly either way:
 * the decoder has the last word. */
int sl_codec_is_produce(const void *data, size_t len);

/* The id (field 1) of a Request frame without decoding the rest; 0 if it
 * has none or does not scan. For answering a frame too large to decode. */
uint64_t sl_codec_peek_id(const void *data, size_t len);

/* The timestamp_ms of a stored record (0 if it has none or does not
 * scan): the log core's timestamp_fn (arg unused). */
uint64_t sl_codec_stored_timestamp(void *arg, const void *stored, size_t len);
/* The ErrorCode of an encoded Response (0 if it is not an Error), without
 * decoding the rest: for counting replies by result (metrics.h). */
int sl_codec_peek_error(const void *data, size_t len);

/* The name of a wire ErrorCode as the .proto spells it ("NOT_LEADER"), or
 * NULL for 0 and codes it does not have. */
const char *sl_codec_error_name(int code);

/* The stored form of a record: a Record without offset. */
size_t sl_codec_stored_size(const sl_record_t *r);
/* Writes exactly sl_codec_stored_size(r) bytes; returns that size. */
size_t sl_codec_stored_write(const sl_record_t *r, uint8_t *out);
/* Consumer groups: the value of a __consumer_offsets record
 * (OffsetCommitValue). size, write (exactly size bytes), and parse (0, or
 * -1 if it does not scan; *md points into value). */
size_t sl_codec_offset_value_size(uint64_t offset, size_t md_len);
size_t sl_codec_offset_value_write(uint8_t *out, uint64_t offset, const char *md, size_t md_len);
int sl_codec_offset_value_parse(const void *value, size_t len, uint64_t *offset, const char **md,
                                size_t *md_len);
/* The key and value of a stored record (pointers into it; "" when absent).
 * 0, or -1 if it does not scan. */
int sl_codec_stored_kv(const void *stored, size_t len, const uint8_t **key, size_t *key_len,
                       const uint8_t **value, size_t *value_len);

/* The idempotence fields (6-8) of a stored record: 1 and the values when
 * it has a producer id, 0 when not (or the bytes do not scan). */
int sl_codec_stored_producer(const void *stored, size_t len, uint64_t *producer_id,
                             uint64_t *sequence, uint32_t *batch_records);

/* Response encoders: each appends one complete Response to out (which
 * should be empty) and returns 0 or SEGLOG_E_NOMEM. */
int sl_codec_encode_produce(sl_buf_t *out, uint64_t id, uint64_t offset, uint32_t count);
int sl_codec_encode_offsets(sl_buf_t *out, uint64_t id, uint64_t lowest, uint64_t next,
                            uint64_t epoch, uint64_t committed);
int sl_codec_encode_truncate(sl_buf_t *out, uint64_t id, uint64_t lowest);
int sl_codec_encode_info(sl_buf_t *out, uint64_t id, const sl_info_t *info);
int sl_codec_encode_topics(sl_buf_t *out, uint64_t id, const sl_topic_row_t *rows, size_t n);
int sl_codec_encode_delete_topic(sl_buf_t *out, uint64_t id);
int sl_codec_encode_create_topic(sl_buf_t *out, uint64_t id, int created, uint32_t replicas);
int sl_codec_encode_init_producer_id(sl_buf_t *out, uint64_t id, uint64_t producer_id);
int sl_codec_encode_commit_offset(sl_buf_t *out, uint64_t id);
int sl_codec_encode_fetch_offset(sl_buf_t *out, uint64_t id, int found, uint64_t offset,
                                 const char *metadata, size_t metadata_len);
int sl_codec_encode_offset_for_time(sl_buf_t *out, uint64_t id, uint64_t offset, uint64_t end);
int sl_codec_encode_topic_config(sl_buf_t *out, uint64_t id, const sl_config_kv_t *kv, size_t n);
/* message must be ASCII (use sl_log_quote for client-supplied text). */
int sl_codec_encode_error(sl_buf_t *out, uint64_t id, sl_wire_code_t code, const char *message);
/* The same with Error.leader_endpoint (cluster mode's NOT_LEADER). */
int sl_codec_encode_error_leader(sl_buf_t *out, uint64_t id, sl_wire_code_t code,
                                 const char *message, const char *leader_endpoint);

/* MetadataResponse (cluster mode). */
typedef struct sl_meta_node {
    int32_t id;
    const char *endpoint, *pub;
    const char *curve_key; /* the node's CURVE public key (Z85); NULL or "": none */
    int alive;
} sl_meta_node_t;

typedef struct sl_meta_topic {
    const char *name;
    const int32_t *replicas;
    size_t n_replicas;
    int32_t leader, leader_epoch;
    const int32_t *isr;
    size_t n_isr;
    uint64_t hw;
} sl_meta_topic_t;

int sl_codec_encode_metadata(sl_buf_t *out, uint64_t id, int32_t node_id,
                             const sl_meta_node_t *nodes, size_t nn, const sl_meta_topic_t *topics,
                             size_t nt);

/* ConsumeResponse, streamed: begin, add each stored record, finish. The
 * finished Response is *msg (inside out->data), *msg_len bytes. */
int sl_codec_consume_begin(sl_buf_t *out);
int sl_codec_consume_add(sl_buf_t *out, uint64_t offset, const void *stored, size_t len);
void sl_codec_consume_finish(sl_buf_t *out, uint64_t id, uint64_t next, uint64_t lowest,
                             uint64_t end, const uint8_t **msg, size_t *msg_len);

/* The Event frame of a stored record published with its offset. */
size_t sl_codec_event_record_size(uint64_t offset, size_t stored_len);
/* Writes exactly sl_codec_event_record_size() bytes. */
void sl_codec_event_record_write(uint8_t *out, uint64_t offset, const void *stored, size_t len);

/* The Event frame of a heartbeat. */
int sl_codec_encode_heartbeat(sl_buf_t *out, uint64_t next, uint64_t epoch);

#endif
