/*
 * codec.h - the only client module that knows the wire encoding
 * (proto/seglog/v1/seglog.proto). The generated Seglog__V1__* names stay in
 * codec.c; the rest of the client works with the plain structs below.
 *
 * Encoding packs a Request straight into a zmq_msg_t (one copy of the
 * record bytes); a ProduceRequest, and decoding a ProduceResponse, are
 * written by hand (the hot path), everything else goes through protobuf-c. Decoding unpacks into
 * the caller's arena and checks what protobuf-c does not: the oneof must be set (an empty buffer
 * unpacks to a valid all-default message) and every record must have a value pointer.
 *
 * slc_codec_error() is the one place that maps a wire ErrorCode to a
 * client error code.
 *
 * Thread rules: no state; safe from any thread.
 */
#ifndef SLC_CODEC_H
#define SLC_CODEC_H

#include "arena.h"
#include "seglog/client.h"

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef enum {
    SLC_PRODUCE = 1,
    SLC_CONSUME = 2,
    SLC_OFFSETS = 3,
    SLC_TRUNCATE = 4,
    SLC_ERROR = 5, /* responses only */
    SLC_INFO = 6,
    SLC_LIST_TOPICS = 7,
    SLC_DELETE_TOPIC = 8,
    SLC_METADATA = 9,
    SLC_INIT_PRODUCER_ID = 10,
    SLC_COMMIT_OFFSET = 11,
    SLC_FETCH_OFFSET = 12,
    SLC_OFFSET_FOR_TIME = 13, /* offset (the time in timestamp_ms) */
    SLC_TOPIC_CONFIG = 14,
    SLC_CREATE_TOPIC = 15, /* replicas; response: found = created, count = replicas */
} slc_kind_t;

typedef struct slc_request {
    uint64_t id;
    slc_kind_t kind;
    const char *topic;
    /* produce */
    const seglog_record_t *records;
    size_t nrecords;
    int acks; /* seglog_acks_t; 0 (default) is not encoded */
    uint64_t producer_id, sequence; /* idempotent produce; producer_id 0: not encoded */
    /* commit_offset (offset, metadata), fetch_offset */
    const char *group, *metadata;
    /* cluster mode: the topic whose leader takes it (NULL: topic) */
    const char *route_topic;
    /* consume (offset), truncate (offset = lowest) */
    uint64_t offset;
    uint32_t max_records, max_bytes;
    uint32_t max_wait_ms; /* consume: long poll (the reply may take this much longer) */
    uint64_t timestamp_ms; /* offset_for_time */
    const seglog_config_entry_t *config; /* topic_config: settings to change */
    size_t nconfig;
    uint32_t replicas; /* create_topic */
} slc_request_t;

typedef struct slc_response {
    uint64_t id;
    slc_kind_t kind;
    /* error */
    int err;             /* client code for the wire ErrorCode */
    const char *message; /* NUL-terminated, arena memory */
    const char *leader_endpoint; /* NOT_LEADER: "" or the leader's endpoint, arena memory */
    /* produce (fetch_offset: offset, found; its metadata is in message) */
    uint64_t offset;
    uint32_t count;
    int found;
    /* init_producer_id */
    uint64_t producer_id;
    /* consume */
    seglog_record_t *records; /* arena memory */
    size_t nrecords;
    uint64_t next_offset, lowest_offset, end_offset; /* offsets uses next and lowest too */
    /* offsets */
    uint64_t epoch, committed_offset;
    /* info */
    seglog_server_info_t info;
    /* list topics */
    seglog_topic_info_t *topics; /* arena memory */
    size_t ntopics;
    /* metadata (arrays in arena memory) */
    seglog_cluster_info_t cluster;
    /* topic_config (arena memory) */
    seglog_config_entry_t *config;
    size_t nconfig;
} slc_response_t;

typedef enum { SLC_EVENT_RECORD = 1, SLC_EVENT_HEARTBEAT = 2 } slc_event_kind_t;

typedef struct slc_event {
    slc_event_kind_t kind;
    seglog_record_t record;      /* SLC_EVENT_RECORD; arena memory */
    uint64_t next_offset, epoch; /* SLC_EVENT_HEARTBEAT */
} slc_event_t;

/* Pack req into msg (initialised here; the caller closes it). The arena
 * holds the temporary protobuf-c structs. 0 or SEGLOG_CLIENT_E_NOMEM. */
int slc_codec_encode(const slc_request_t *req, slc_arena_t *arena, zmq_msg_t *msg);

/* Decode one Response frame. 0, SEGLOG_CLIENT_E_PROTOCOL (undecodable or
 * invalid) or SEGLOG_CLIENT_E_NOMEM. */
int slc_codec_decode_response(slc_arena_t *arena, const void *data, size_t len,
                              slc_response_t *out);

/* The same two with protobuf-c alone: the references the hand-written
 * produce paths above are tested against (byte-identical encoding, same
 * decoded response). */
int slc_codec_encode_pb(const slc_request_t *req, slc_arena_t *arena, zmq_msg_t *msg);
int slc_codec_decode_response_pb(slc_arena_t *arena, const void *data, size_t len,
                                 slc_response_t *out);

/* Decode one Event frame; same returns. */
int slc_codec_decode_event(slc_arena_t *arena, const void *data, size_t len, slc_event_t *out);

/* The client error code for a wire ErrorCode value. */
int slc_codec_error(int wire_code);

#endif
