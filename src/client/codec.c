/* codec.c - see codec.h */
#include "codec.h"

#include "seglog/v1/seglog.pb-c.h"

#include <stdio.h>
#include <string.h>

/* The generated name of a wire ErrorCode. */
#define SLC_WIRE(name) SEGLOG__V1__ERROR_CODE__##name

static const struct {
    int wire;
    int err;
} s_errors[] = {
    {SLC_WIRE(BAD_REQUEST), SEGLOG_CLIENT_E_BAD_REQUEST},
    {SLC_WIRE(OFFSET_OUT_OF_RANGE), SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE},
    {SLC_WIRE(OFFSET_TRUNCATED), SEGLOG_CLIENT_E_OFFSET_TRUNCATED},
    {SLC_WIRE(RECORD_TOO_LARGE), SEGLOG_CLIENT_E_RECORD_TOO_LARGE},
    {SLC_WIRE(BATCH_TOO_LARGE), SEGLOG_CLIENT_E_BATCH_TOO_LARGE},
    {SLC_WIRE(INVALID_TOPIC), SEGLOG_CLIENT_E_INVALID_TOPIC},
    {SLC_WIRE(UNKNOWN_TOPIC), SEGLOG_CLIENT_E_UNKNOWN_TOPIC},
    {SLC_WIRE(RESOURCE_EXHAUSTED), SEGLOG_CLIENT_E_RESOURCE_EXHAUSTED},
    {SLC_WIRE(INTERNAL), SEGLOG_CLIENT_E_INTERNAL},
    {SLC_WIRE(STORAGE), SEGLOG_CLIENT_E_STORAGE},
    {SLC_WIRE(CORRUPT), SEGLOG_CLIENT_E_CORRUPT},
    {SLC_WIRE(UNAUTHENTICATED), SEGLOG_CLIENT_E_UNAUTHENTICATED},
    {SLC_WIRE(PERMISSION_DENIED), SEGLOG_CLIENT_E_PERMISSION_DENIED},
    {SLC_WIRE(NOT_LEADER), SEGLOG_CLIENT_E_NOT_LEADER},
    {SLC_WIRE(NOT_ENOUGH_REPLICAS), SEGLOG_CLIENT_E_NOT_ENOUGH_REPLICAS},
    {SLC_WIRE(OUT_OF_ORDER_SEQUENCE), SEGLOG_CLIENT_E_OUT_OF_ORDER_SEQUENCE},
    {SLC_WIRE(UNKNOWN_GROUP), SEGLOG_CLIENT_E_UNKNOWN_GROUP},
};

int slc_codec_error(int wire_code)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++)
        if (s_errors[i].wire == wire_code)
            return s_errors[i].err;
    return SEGLOG_CLIENT_E_SERVER_ERROR;
}

static ProtobufCBinaryData s_bytes(const uint8_t *p, size_t len)
{
    /* protobuf-c only reads .data when packing. */
    ProtobufCBinaryData b = {len, len ? (uint8_t *)(uintptr_t)p : NULL};
    return b;
}

static int s_encode_produce(const slc_request_t *req, slc_arena_t *arena,
                            Seglog__V1__ProduceRequest *pr)
{
    pr->topic = (char *)(uintptr_t)req->topic;
    pr->acks = (Seglog__V1__Acks)req->acks;
    pr->producer_id = req->producer_id;
    pr->sequence = req->producer_id ? req->sequence : 0;
    pr->n_records = req->nrecords;
    if (!req->nrecords)
        return 0;
    Seglog__V1__Record *recs = slc_arena_alloc(arena, req->nrecords * sizeof *recs);
    Seglog__V1__Record **ptrs = slc_arena_alloc(arena, req->nrecords * sizeof *ptrs);
    if (!recs || !ptrs)
        return SEGLOG_CLIENT_E_NOMEM;
    for (size_t i = 0; i < req->nrecords; i++) {
        const seglog_record_t *r = &req->records[i];
        seglog__v1__record__init(&recs[i]);
        recs[i].value = s_bytes(r->value, r->value_len);
        recs[i].key = s_bytes(r->key, r->key_len);
        recs[i].timestamp_ms = r->timestamp_ms;
        ptrs[i] = &recs[i];
    }
    pr->records = ptrs;
    return 0;
}

/* ---- produce, by hand ---------------------------------------------------
 * The hot path: a ProduceRequest written straight into the frame, byte for
 * byte what protobuf-c packs (fields in number order, proto3 defaults
 * omitted); tests/client/test_codec.c compares the two. */

static size_t s_vsize(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *s_vput(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A length-delimited field of n bytes: tag, length, bytes. */
static size_t s_lsize(size_t n)
{
    return 1 + s_vsize(n) + n;
}

static uint8_t *s_lput(uint8_t *p, uint8_t tag, const void *data, size_t n)
{
    *p++ = tag;
    p = s_vput(p, n);
    if (n)
        memcpy(p, data, n);
    return p + n;
}

static size_t s_record_size(const seglog_record_t *r)
{
    return (r->value_len ? s_lsize(r->value_len) : 0) + (r->key_len ? s_lsize(r->key_len) : 0) +
           (r->timestamp_ms ? 1 + s_vsize(r->timestamp_ms) : 0);
}

static int s_encode_produce_fast(const slc_request_t *req, zmq_msg_t *msg)
{
    const char *topic = req->topic ? req->topic : "";
    size_t tlen = strlen(topic);
    size_t body = tlen ? s_lsize(tlen) : 0;
    for (size_t i = 0; i < req->nrecords; i++)
        body += s_lsize(s_record_size(&req->records[i]));
    if (req->producer_id) {
        body += 1 + s_vsize(req->producer_id);
        if (req->sequence)
            body += 1 + s_vsize(req->sequence);
    }
    if (req->acks)
        body += 1 + s_vsize((uint64_t)req->acks);
    size_t size = (req->id ? 1 + s_vsize(req->id) : 0) + 1 + s_vsize(body) + body;
    if (zmq_msg_init_size(msg, size) != 0)
        return SEGLOG_CLIENT_E_NOMEM;
    uint8_t *p = zmq_msg_data(msg);
    if (req->id) {
        *p++ = 1 << 3; /* Request.id */
        p = s_vput(p, req->id);
    }
    *p++ = 2 << 3 | 2; /* Request.produce */
    p = s_vput(p, body);
    if (tlen)
        p = s_lput(p, 1 << 3 | 2, topic, tlen); /* ProduceRequest.topic */
    for (size_t i = 0; i < req->nrecords; i++) {
        const seglog_record_t *r = &req->records[i];
        *p++ = 2 << 3 | 2; /* ProduceRequest.records */
        p = s_vput(p, s_record_size(r));
        if (r->value_len)
            p = s_lput(p, 1 << 3 | 2, r->value, r->value_len); /* Record.value */
        if (r->key_len)
            p = s_lput(p, 3 << 3 | 2, r->key, r->key_len); /* Record.key */
        if (r->timestamp_ms) {
            *p++ = 4 << 3; /* Record.timestamp_ms */
            p = s_vput(p, r->timestamp_ms);
        }
    }
    if (req->producer_id) {
        *p++ = 3 << 3; /* ProduceRequest.producer_id */
        p = s_vput(p, req->producer_id);
        if (req->sequence) {
            *p++ = 4 << 3; /* ProduceRequest.sequence */
            p = s_vput(p, req->sequence);
        }
    }
    if (req->acks) {
        *p++ = 5 << 3; /* ProduceRequest.acks */
        p = s_vput(p, (uint64_t)req->acks);
    }
    return 0;
}

int slc_codec_encode(const slc_request_t *req, slc_arena_t *arena, zmq_msg_t *msg)
{
    if (req->kind == SLC_PRODUCE)
        return s_encode_produce_fast(req, msg);
    return slc_codec_encode_pb(req, arena, msg);
}

int slc_codec_encode_pb(const slc_request_t *req, slc_arena_t *arena, zmq_msg_t *msg)
{
    Seglog__V1__Request rq = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__ProduceRequest pr = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
    Seglog__V1__OffsetsRequest orq = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    Seglog__V1__TruncateRequest tr = SEGLOG__V1__TRUNCATE_REQUEST__INIT;
    Seglog__V1__InfoRequest ir = SEGLOG__V1__INFO_REQUEST__INIT;
    Seglog__V1__ListTopicsRequest lr = SEGLOG__V1__LIST_TOPICS_REQUEST__INIT;
    Seglog__V1__DeleteTopicRequest dr = SEGLOG__V1__DELETE_TOPIC_REQUEST__INIT;
    Seglog__V1__CreateTopicRequest ctr = SEGLOG__V1__CREATE_TOPIC_REQUEST__INIT;
    Seglog__V1__MetadataRequest mr = SEGLOG__V1__METADATA_REQUEST__INIT;
    Seglog__V1__InitProducerIdRequest ip = SEGLOG__V1__INIT_PRODUCER_ID_REQUEST__INIT;
    Seglog__V1__CommitOffsetRequest co = SEGLOG__V1__COMMIT_OFFSET_REQUEST__INIT;
    Seglog__V1__FetchOffsetRequest fo = SEGLOG__V1__FETCH_OFFSET_REQUEST__INIT;
    char *group = (char *)(uintptr_t)(req->group ? req->group : "");
    Seglog__V1__OffsetForTimeRequest ftr = SEGLOG__V1__OFFSET_FOR_TIME_REQUEST__INIT;
    Seglog__V1__TopicConfigRequest tcr = SEGLOG__V1__TOPIC_CONFIG_REQUEST__INIT;
    Seglog__V1__ConfigEntry ce[16], *cep[16];
    char *topic = (char *)(uintptr_t)(req->topic ? req->topic : "");

    rq.id = req->id;
    switch (req->kind) {
    case SLC_PRODUCE: {
        int rc = s_encode_produce(req, arena, &pr);
        if (rc)
            return rc;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
        rq.produce = &pr;
        break;
    }
    case SLC_CONSUME:
        cr.topic = topic;
        cr.offset = req->offset;
        cr.max_records = req->max_records;
        cr.max_bytes = req->max_bytes;
        cr.max_wait_ms = req->max_wait_ms;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
        rq.consume = &cr;
        break;
    case SLC_TOPIC_CONFIG:
        if (req->nconfig > 16)
            return SEGLOG_CLIENT_E_INVAL;
        for (size_t i = 0; i < req->nconfig; i++) {
            seglog__v1__config_entry__init(&ce[i]);
            ce[i].key = (char *)(uintptr_t)(req->config[i].key ? req->config[i].key : "");
            ce[i].value = (char *)(uintptr_t)(req->config[i].value ? req->config[i].value : "");
            cep[i] = &ce[i];
        }
        tcr.topic = topic;
        tcr.n_set = req->nconfig;
        tcr.set = cep;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_TOPIC_CONFIG;
        rq.topic_config = &tcr;
        break;
    case SLC_OFFSET_FOR_TIME:
        ftr.topic = topic;
        ftr.timestamp_ms = req->timestamp_ms;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_OFFSET_FOR_TIME;
        rq.offset_for_time = &ftr;
        break;
    case SLC_OFFSETS:
        orq.topic = topic;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
        rq.offsets = &orq;
        break;
    case SLC_TRUNCATE:
        tr.topic = topic;
        tr.lowest_offset = req->offset;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_TRUNCATE;
        rq.truncate = &tr;
        break;
    case SLC_INFO:
        rq.body_case = SEGLOG__V1__REQUEST__BODY_INFO;
        rq.info = &ir;
        break;
    case SLC_LIST_TOPICS:
        rq.body_case = SEGLOG__V1__REQUEST__BODY_LIST_TOPICS;
        rq.list_topics = &lr;
        break;
    case SLC_CREATE_TOPIC:
        ctr.topic = topic;
        ctr.replicas = req->replicas;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_CREATE_TOPIC;
        rq.create_topic = &ctr;
        break;
    case SLC_DELETE_TOPIC:
        dr.topic = topic;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_DELETE_TOPIC;
        rq.delete_topic = &dr;
        break;
    case SLC_METADATA:
        rq.body_case = SEGLOG__V1__REQUEST__BODY_METADATA;
        rq.metadata = &mr;
        break;
    case SLC_INIT_PRODUCER_ID:
        rq.body_case = SEGLOG__V1__REQUEST__BODY_INIT_PRODUCER_ID;
        rq.init_producer_id = &ip;
        break;
    case SLC_COMMIT_OFFSET:
        co.group = group;
        co.topic = topic;
        co.offset = req->offset;
        co.metadata = (char *)(uintptr_t)(req->metadata ? req->metadata : "");
        rq.body_case = SEGLOG__V1__REQUEST__BODY_COMMIT_OFFSET;
        rq.commit_offset = &co;
        break;
    case SLC_FETCH_OFFSET:
        fo.group = group;
        fo.topic = topic;
        rq.body_case = SEGLOG__V1__REQUEST__BODY_FETCH_OFFSET;
        rq.fetch_offset = &fo;
        break;
    default:
        return SEGLOG_CLIENT_E_INVAL;
    }
    size_t size = seglog__v1__request__get_packed_size(&rq);
    if (zmq_msg_init_size(msg, size) != 0)
        return SEGLOG_CLIENT_E_NOMEM;
    seglog__v1__request__pack(&rq, zmq_msg_data(msg));
    return 0;
}

/* A decoded Record as the public struct. */
static int s_record(const Seglog__V1__Record *r, seglog_record_t *out)
{
    if (r->value.len && !r->value.data)
        return SEGLOG_CLIENT_E_PROTOCOL;
    if (r->key.len && !r->key.data)
        return SEGLOG_CLIENT_E_PROTOCOL;
    out->offset = r->offset;
    out->timestamp_ms = r->timestamp_ms;
    out->value = r->value.len ? r->value.data : (const uint8_t *)"";
    out->value_len = r->value.len;
    out->key = r->key.len ? r->key.data : NULL;
    out->key_len = r->key.len;
    return 0;
}

static int s_decode_consume(slc_arena_t *arena, const Seglog__V1__ConsumeResponse *c,
                            slc_response_t *out)
{
    out->next_offset = c->next_offset;
    out->lowest_offset = c->lowest_offset;
    out->end_offset = c->end_offset;
    out->nrecords = c->n_records;
    out->records = NULL;
    if (!c->n_records)
        return 0;
    out->records = slc_arena_alloc(arena, c->n_records * sizeof *out->records);
    if (!out->records)
        return SEGLOG_CLIENT_E_NOMEM;
    for (size_t i = 0; i < c->n_records; i++) {
        if (!c->records[i])
            return SEGLOG_CLIENT_E_PROTOCOL;
        int rc = s_record(c->records[i], &out->records[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* A varint of [*p, end), or -1. */
static int s_vget(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* The produce reply in the form the server writes, [1: id] 2: {[1:
 * offset] [2: count]}; 1 for anything else (protobuf-c decides then). */
static int s_decode_produce_fast(const uint8_t *p, size_t len, slc_response_t *out)
{
    const uint8_t *end = p + len;
    uint64_t v, body_len, id = 0, offset = 0, count = 0;
    if (p < end && *p == (1 << 3)) {
        p++;
        if (s_vget(&p, end, &id))
            return 1;
    }
    if (p >= end || *p++ != (2 << 3 | 2) || s_vget(&p, end, &body_len) ||
        body_len != (uint64_t)(end - p))
        return 1;
    if (p < end && *p == (1 << 3)) {
        p++;
        if (s_vget(&p, end, &offset))
            return 1;
    }
    if (p < end && *p == (2 << 3)) {
        p++;
        if (s_vget(&p, end, &v))
            return 1;
        if (v > UINT32_MAX)
            return 1;
        count = v;
    }
    if (p != end)
        return 1;
    out->id = id;
    out->kind = SLC_PRODUCE;
    out->offset = offset;
    out->count = (uint32_t)count;
    return 0;
}

int slc_codec_decode_response(slc_arena_t *arena, const void *data, size_t len, slc_response_t *out)
{
    memset(out, 0, sizeof *out);
    if (s_decode_produce_fast(data, len, out) == 0)
        return 0;
    return slc_codec_decode_response_pb(arena, data, len, out);
}

static void s_decode_info(const Seglog__V1__InfoResponse *i, slc_response_t *out)
{
    seglog_server_info_t *o = &out->info;
    snprintf(o->version, sizeof o->version, "%s", i->version ? i->version : "");
    o->max_record_bytes = i->max_record_bytes;
    o->max_message_bytes = i->max_message_bytes;
    o->max_batch_records = i->max_batch_records;
    o->max_batch_bytes = i->max_batch_bytes;
    o->max_consume_bytes = i->max_consume_bytes;
    o->max_in_flight = i->max_in_flight;
    snprintf(o->sync, sizeof o->sync, "%s", i->sync ? i->sync : "");
    o->segment_bytes = i->segment_bytes;
}

static int s_decode_topics(slc_arena_t *arena, const Seglog__V1__ListTopicsResponse *l,
                           slc_response_t *out)
{
    out->ntopics = l->n_topics;
    out->topics = NULL;
    if (!l->n_topics)
        return 0;
    out->topics = slc_arena_alloc(arena, l->n_topics * sizeof *out->topics);
    if (!out->topics)
        return SEGLOG_CLIENT_E_NOMEM;
    for (size_t i = 0; i < l->n_topics; i++) {
        const Seglog__V1__TopicInfo *t = l->topics[i];
        if (!t)
            return SEGLOG_CLIENT_E_PROTOCOL;
        out->topics[i] = (seglog_topic_info_t){.name = t->name ? t->name : "",
                                               .lowest_offset = t->lowest_offset,
                                               .next_offset = t->next_offset,
                                               .epoch = t->epoch};
    }
    return 0;
}

static int s_decode_metadata(slc_arena_t *arena, const Seglog__V1__MetadataResponse *m,
                             slc_response_t *out)
{
    seglog_cluster_info_t *ci = &out->cluster;
    ci->node_id = m->node_id;
    if (m->n_nodes) {
        seglog_node_info_t *n = slc_arena_alloc(arena, m->n_nodes * sizeof *n);
        if (!n)
            return SEGLOG_CLIENT_E_NOMEM;
        for (size_t i = 0; i < m->n_nodes; i++) {
            const Seglog__V1__NodeInfo *x = m->nodes[i];
            if (!x)
                return SEGLOG_CLIENT_E_PROTOCOL;
            n[i] = (seglog_node_info_t){.id = x->id,
                                        .endpoint = x->endpoint ? x->endpoint : "",
                                        .pub_endpoint = x->pub_endpoint ? x->pub_endpoint : "",
                                        .alive = x->alive ? 1 : 0,
                                        .curve_public_key =
                                            x->curve_public_key ? x->curve_public_key : ""};
        }
        ci->nodes = n;
        ci->nnodes = m->n_nodes;
    }
    if (m->n_topics) {
        seglog_topic_meta_t *t = slc_arena_alloc(arena, m->n_topics * sizeof *t);
        if (!t)
            return SEGLOG_CLIENT_E_NOMEM;
        for (size_t i = 0; i < m->n_topics; i++) {
            const Seglog__V1__TopicMetadata *x = m->topics[i];
            if (!x)
                return SEGLOG_CLIENT_E_PROTOCOL;
            t[i] = (seglog_topic_meta_t){.name = x->name ? x->name : "",
                                         .replicas = x->replicas,
                                         .nreplicas = x->n_replicas,
                                         .leader = x->leader,
                                         .leader_epoch = x->leader_epoch,
                                         .isr = x->isr,
                                         .nisr = x->n_isr,
                                         .high_watermark = x->high_watermark};
        }
        ci->topics = t;
        ci->ntopics = m->n_topics;
    }
    return 0;
}

int slc_codec_decode_response_pb(slc_arena_t *arena, const void *data, size_t len,
                                 slc_response_t *out)
{
    memset(out, 0, sizeof *out);
    Seglog__V1__Response *r = seglog__v1__response__unpack(slc_arena_allocator(arena), len, data);
    if (!r)
        return SEGLOG_CLIENT_E_PROTOCOL;
    out->id = r->id;
    switch (r->body_case) {
    case SEGLOG__V1__RESPONSE__BODY_PRODUCE:
        out->kind = SLC_PRODUCE;
        out->offset = r->produce->offset;
        out->count = r->produce->count;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_CONSUME:
        out->kind = SLC_CONSUME;
        return s_decode_consume(arena, r->consume, out);
    case SEGLOG__V1__RESPONSE__BODY_OFFSETS:
        out->kind = SLC_OFFSETS;
        out->lowest_offset = r->offsets->lowest_offset;
        out->next_offset = r->offsets->next_offset;
        out->epoch = r->offsets->epoch;
        out->committed_offset = r->offsets->committed_offset;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_TOPIC_CONFIG: {
        out->kind = SLC_TOPIC_CONFIG;
        const Seglog__V1__TopicConfigResponse *t = r->topic_config;
        out->nconfig = t->n_entries;
        out->config = t->n_entries ? slc_arena_alloc(arena, t->n_entries * sizeof *out->config)
                                   : NULL;
        if (t->n_entries && !out->config)
            return SEGLOG_CLIENT_E_NOMEM;
        for (size_t i = 0; i < t->n_entries; i++) {
            if (!t->entries[i])
                return SEGLOG_CLIENT_E_PROTOCOL;
            out->config[i] = (seglog_config_entry_t){
                .key = t->entries[i]->key ? t->entries[i]->key : "",
                .value = t->entries[i]->value ? t->entries[i]->value : "",
                .effective = t->entries[i]->effective ? t->entries[i]->effective : ""};
        }
        return 0;
    }
    case SEGLOG__V1__RESPONSE__BODY_OFFSET_FOR_TIME:
        out->kind = SLC_OFFSET_FOR_TIME;
        out->offset = r->offset_for_time->offset;
        out->end_offset = r->offset_for_time->end_offset;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_TRUNCATE:
        out->kind = SLC_TRUNCATE;
        out->lowest_offset = r->truncate->lowest_offset;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_INFO:
        out->kind = SLC_INFO;
        s_decode_info(r->info, out);
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_LIST_TOPICS:
        out->kind = SLC_LIST_TOPICS;
        return s_decode_topics(arena, r->list_topics, out);
    case SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC:
        out->kind = SLC_DELETE_TOPIC;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_CREATE_TOPIC:
        out->kind = SLC_CREATE_TOPIC;
        out->found = r->create_topic->created;
        out->count = r->create_topic->replicas;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_ERROR:
        out->kind = SLC_ERROR;
        out->err = slc_codec_error((int)r->error->code);
        out->message = r->error->message ? r->error->message : "";
        out->leader_endpoint = r->error->leader_endpoint ? r->error->leader_endpoint : "";
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_METADATA:
        out->kind = SLC_METADATA;
        return s_decode_metadata(arena, r->metadata, out);
    case SEGLOG__V1__RESPONSE__BODY_INIT_PRODUCER_ID:
        out->kind = SLC_INIT_PRODUCER_ID;
        out->producer_id = r->init_producer_id->producer_id;
        return out->producer_id ? 0 : SEGLOG_CLIENT_E_PROTOCOL;
    case SEGLOG__V1__RESPONSE__BODY_COMMIT_OFFSET:
        out->kind = SLC_COMMIT_OFFSET;
        return 0;
    case SEGLOG__V1__RESPONSE__BODY_FETCH_OFFSET:
        out->kind = SLC_FETCH_OFFSET;
        out->found = r->fetch_offset->found;
        out->offset = r->fetch_offset->offset;
        out->message = r->fetch_offset->metadata ? r->fetch_offset->metadata : "";
        return 0;
    default:
        return SEGLOG_CLIENT_E_PROTOCOL; /* no body: not a valid response */
    }
}

int slc_codec_decode_event(slc_arena_t *arena, const void *data, size_t len, slc_event_t *out)
{
    memset(out, 0, sizeof *out);
    Seglog__V1__Event *e = seglog__v1__event__unpack(slc_arena_allocator(arena), len, data);
    if (!e)
        return SEGLOG_CLIENT_E_PROTOCOL;
    switch (e->body_case) {
    case SEGLOG__V1__EVENT__BODY_RECORD:
        out->kind = SLC_EVENT_RECORD;
        return s_record(e->record, &out->record);
    case SEGLOG__V1__EVENT__BODY_HEARTBEAT:
        out->kind = SLC_EVENT_HEARTBEAT;
        out->next_offset = e->heartbeat->next_offset;
        out->epoch = e->heartbeat->epoch;
        return 0;
    default:
        return SEGLOG_CLIENT_E_PROTOCOL;
    }
}
