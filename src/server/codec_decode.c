/* codec_decode.c - see codec.h: decoding requests (the hand-written
 * produce fast path, and protobuf-c for everything else). Its other half,
 * codec.c, encodes responses, events and stored records. */
#include "codec.h"

#include "codec_wire.h"
#include "errors.h"
#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"

#include <stdlib.h>
#include <string.h>

/* ---- varints and fields ------------------------------------------------- */

static int s_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Step over the next field of [*p, end), whatever its wire type but a
 * group (protobuf-c refuses those). *tag gets its tag; a LEN field's bytes
 * are *bytes, *n long. 0, or -1 if the bytes do not scan. */
static int s_scan_field(const uint8_t **p, const uint8_t *end, uint64_t *tag, const uint8_t **bytes,
                        uint64_t *n)
{
    if (s_get_varint(p, end, tag))
        return -1;
    switch (*tag & 7) {
    case WT_VARINT:
        return s_get_varint(p, end, n);
    case WT_I64:
    case WT_I32: {
        size_t w = (*tag & 7) == WT_I64 ? 8 : 4;
        if ((size_t)(end - *p) < w)
            return -1;
        *p += w;
        return 0;
    }
    case WT_LEN:
        if (s_get_varint(p, end, n) || *n > (uint64_t)(end - *p))
            return -1;
        *bytes = *p;
        *p += *n;
        return 0;
    default:
        return -1;
    }
}

/* protobuf-c keeps strings NUL-terminated, so "ab\0cd" would silently
 * become "ab". Scan the wire form: reject a field 1 (every body's topic)
 * with a NUL inside any body field of the Request. */
static int s_topic_has_nul(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, n = 0;
        const uint8_t *body = NULL;
        if (s_scan_field(&p, end, &tag, &body, &n))
            return 1;
        if ((tag & 7) != WT_LEN || (tag >> 3) < 2 || (tag >> 3) > 8)
            continue; /* bodies 2..8; 6 and 7 have no topic (field 1 unknown: skipped) */
        for (const uint8_t *q = body, *qend = body + n; q < qend;) {
            uint64_t t2, m = 0;
            const uint8_t *f = NULL;
            if (s_scan_field(&q, qend, &t2, &f, &m))
                return 1;
            if ((t2 & 7) == WT_LEN && (t2 >> 3) == 1 && memchr(f, 0, (size_t)m))
                return 1;
        }
    }
    return 0;
}

/* A NUL inside string field `field` of body `body` (wire form, as
 * s_topic_has_nul; undecodable bytes count as a NUL: protobuf-c refused
 * them anyway). */
static int s_string_has_nul(const uint8_t *p, size_t len, uint64_t body, uint64_t field)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, n = 0;
        const uint8_t *b = NULL;
        if (s_scan_field(&p, end, &tag, &b, &n))
            return 1;
        if ((tag & 7) != WT_LEN || (tag >> 3) != body)
            continue;
        for (const uint8_t *q = b, *qend = b + n; q < qend;) {
            uint64_t t2, m = 0;
            const uint8_t *f = NULL;
            if (s_scan_field(&q, qend, &t2, &f, &m))
                return 1;
            if ((t2 & 7) == WT_LEN && (t2 >> 3) == field && memchr(f, 0, (size_t)m))
                return 1;
        }
    }
    return 0;
}

/* ---- decoding ----------------------------------------------------------- */

static void *s_arena_alloc(void *data, size_t size)
{
    return sl_arena_alloc(data, size ? size : 1);
}

static void s_arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* the arena is reset as a whole */
}

static int s_bad(const char **why, const char *reason)
{
    *why = reason;
    return SL_E_BAD_REQUEST;
}

static int s_set_topic(sl_request_t *req, const char *topic)
{
    req->topic = topic ? topic : "";
    req->topic_len = strlen(req->topic);
    return 0;
}

static void s_set_group(sl_request_t *req, const char *group)
{
    req->group = group ? group : "";
    req->group_len = strlen(req->group);
}

static int s_decode_produce(sl_arena_t *arena, const Seglog__V1__ProduceRequest *p,
                            sl_request_t *req, const char **why)
{
    if (p->n_records == 0)
        return s_bad(why, "produce has no records");
    if (p->n_records > SL_MAX_BATCH_RECORDS)
        return s_bad(why, "produce has more than 10000 records");
    sl_record_t *recs = sl_arena_alloc(arena, p->n_records * sizeof *recs);
    if (!recs)
        return s_bad(why, "request too large to decode");
    for (size_t i = 0; i < p->n_records; i++) {
        const Seglog__V1__Record *r = p->records[i];
        if (!r)
            return s_bad(why, "produce has a missing record");
        recs[i] = (sl_record_t){
            .value = r->value.data,
            .value_len = r->value.len,
            .key = r->key.data,
            .key_len = r->key.len,
            .timestamp_ms = r->timestamp_ms,
        };
    }
    req->type = SL_REQ_PRODUCE;
    req->records = recs;
    req->nrecords = p->n_records;
    req->producer_id = p->producer_id;
    req->sequence = p->sequence;
    req->acks = (uint32_t)p->acks;
    return s_set_topic(req, p->topic);
}

/* ---- the produce fast path ----------------------------------------------
 * A ProduceRequest in the canonical form every client writes is decoded
 * here without protobuf-c (which was the largest cost of serving a small
 * produce). Anything else (an unknown, repeated or mistyped field, a body
 * that is not a produce, a count out of range, a NUL in the topic, a short
 * buffer) returns 1 and goes to protobuf-c, so every error message and
 * every corner of protobuf semantics (last-one-wins, merging, unknown
 * fields) stays protobuf-c's. tests/server/test_codec.c and the fuzz
 * target check that both decoders agree. */

/* A varint of at most 5 bytes (a tag or a length, as protobuf-c reads
 * them); -1 otherwise. */
static int s_get_varint32(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *start = *p;
    if (s_get_varint(p, end, v) || *p - start > 5 || *v > UINT32_MAX)
        return -1;
    return 0;
}

/* Next field of [*p, end): its number, wire type and, for LEN, its bytes;
 * for VARINT its value. 0, or -1 on anything but VARINT and LEN (and on
 * any tag or length in a form the fast path leaves to protobuf-c). */
static int s_next_field(const uint8_t **p, const uint8_t *end, uint32_t *field, uint64_t *v,
                        const uint8_t **bytes)
{
    uint64_t tag;
    if (s_get_varint32(p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    *field = (uint32_t)(tag >> 3);
    if ((tag & 7) == WT_VARINT)
        return s_get_varint(p, end, v);
    if ((tag & 7) != WT_LEN || s_get_varint32(p, end, v) || *v > (uint64_t)(end - *p))
        return -1;
    *bytes = *p;
    *p += *v;
    return 0;
}

/* One Record; 1 if it is not in the fast path's form. */
static int s_fast_record(const uint8_t *p, const uint8_t *end, sl_record_t *r)
{
    unsigned seen = 0;
    memset(r, 0, sizeof *r);
    r->value = r->key = (const uint8_t *)"";
    while (p < end) {
        uint32_t f;
        uint64_t v;
        const uint8_t *b = NULL;
        if (s_next_field(&p, end, &f, &v, &b) || f > 4 || (seen & (1u << f)))
            return 1;
        seen |= 1u << f;
        if ((f == 1 || f == 3) != (b != NULL))
            return 1; /* wrong wire type */
        if (f == 1) {
            r->value = b;
            r->value_len = (size_t)v;
        } else if (f == 3) {
            r->key = b;
            r->key_len = (size_t)v;
        } else if (f == 4) {
            r->timestamp_ms = v;
        } /* f == 2: a client-set offset is ignored, as protobuf-c's path does */
    }
    return 0;
}

static int s_decode_produce_fast(sl_arena_t *arena, const uint8_t *data, size_t len,
                                 sl_request_t *req)
{
    const uint8_t *p = data, *end = data + len, *body = NULL;
    uint64_t id = 0, body_len = 0;
    unsigned seen = 0;
    while (p < end) {
        uint32_t f;
        uint64_t v;
        const uint8_t *b = NULL;
        if (s_next_field(&p, end, &f, &v, &b) || f > 2 || (seen & (1u << f)))
            return 1;
        seen |= 1u << f;
        if (f == 1 && !b)
            id = v;
        else if (f == 2 && b)
            body = b, body_len = v;
        else
            return 1;
    }
    if (!body)
        return 1;
    /* Pass 1: check the form and count the records. */
    const uint8_t *topic = (const uint8_t *)"";
    uint64_t topic_len = 0, producer_id = 0, sequence = 0, acks = 0;
    size_t nrec = 0;
    seen = 0;
    const uint8_t *bend = body + body_len;
    for (p = body; p < bend;) {
        uint32_t f;
        uint64_t v;
        const uint8_t *b = NULL;
        if (s_next_field(&p, bend, &f, &v, &b) || f > 5 || (f != 2 && (seen & (1u << f))))
            return 1;
        seen |= 1u << f;
        if ((f <= 2) != (b != NULL))
            return 1;
        if (f == 1) {
            topic = b, topic_len = v;
        } else if (f == 2) {
            sl_record_t r;
            if (s_fast_record(b, b + v, &r) || ++nrec > SL_MAX_BATCH_RECORDS)
                return 1;
        } else if (f == 3) {
            producer_id = v;
        } else if (f == 4) {
            sequence = v;
        } else {
            if (v > UINT32_MAX)
                return 1; /* an enum is an int32: protobuf-c's rules for the rest */
            acks = v;
        }
    }
    if (nrec == 0 || memchr(topic, 0, (size_t)topic_len))
        return 1;
    sl_record_t *recs = sl_arena_alloc(arena, nrec * sizeof *recs);
    char *name = sl_arena_alloc(arena, (size_t)topic_len + 1);
    if (!recs || !name)
        return 1; /* protobuf-c says why */
    memcpy(name, topic, (size_t)topic_len);
    name[topic_len] = 0;
    /* Pass 2: the records (the form is known to be good). */
    size_t i = 0;
    for (p = body; p < bend;) {
        uint32_t f;
        uint64_t v;
        const uint8_t *b = NULL;
        s_next_field(&p, bend, &f, &v, &b);
        if (f == 2)
            s_fast_record(b, b + v, &recs[i++]);
    }
    req->id = id;
    req->type = SL_REQ_PRODUCE;
    req->topic = name;
    req->topic_len = (size_t)topic_len;
    req->records = recs;
    req->nrecords = nrec;
    req->producer_id = producer_id;
    req->sequence = sequence;
    req->acks = (uint32_t)acks;
    return 0;
}

int sl_codec_decode_request(sl_arena_t *arena, const void *data, size_t len, sl_request_t *req,
                            const char **why)
{
    memset(req, 0, sizeof *req);
    if (s_decode_produce_fast(arena, data, len, req) == 0)
        return 0;
    return sl_codec_decode_request_pb(arena, data, len, req, why);
}

int sl_codec_is_produce(const void *data, size_t len)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t body = 0;
    while (p < end) {
        uint64_t tag, n = 0;
        const uint8_t *b = NULL;
        if (s_scan_field(&p, end, &tag, &b, &n))
            return 0;
        if ((tag & 7) == WT_LEN && (tag >> 3) >= 2 && (tag >> 3) <= 63)
            body = tag >> 3; /* any body field: the last one wins, as in the decoder */
    }
    return body == 2;
}

uint64_t sl_codec_peek_id(const void *data, size_t len)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t id = 0;
    while (p < end) {
        uint64_t tag, n = 0;
        const uint8_t *b = NULL;
        if (s_scan_field(&p, end, &tag, &b, &n))
            return 0;
        if (tag == TAG(1, WT_VARINT))
            id = n; /* the last one wins, as in protobuf */
    }
    return id;
}

int sl_codec_peek_error(const void *data, size_t len)
{
    const uint8_t *p = data, *end = p + len;
    int code = 0;
    while (p < end) {
        uint64_t tag, n = 0;
        const uint8_t *b = NULL;
        if (s_scan_field(&p, end, &tag, &b, &n))
            return code;
        if (tag != ((64u << 3) | WT_LEN) || !b) /* TAG() is one byte: 64 needs two */
            continue;
        const uint8_t *q = b, *qend = b + n; /* the Error message: its field 1 */
        code = SL_WIRE_INTERNAL; /* an Error without a code is still an error */
        while (q < qend) {
            uint64_t t2, v = 0;
            const uint8_t *b2 = NULL;
            if (s_scan_field(&q, qend, &t2, &b2, &v))
                break;
            if (t2 == TAG(1, WT_VARINT) && v > 0 && v < 64)
                code = (int)v;
        }
    }
    return code;
}

int sl_codec_decode_request_pb(sl_arena_t *arena, const void *data, size_t len, sl_request_t *req,
                               const char **why)
{
    memset(req, 0, sizeof *req);
    ProtobufCAllocator al = {.alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = arena};
    Seglog__V1__Request *m = seglog__v1__request__unpack(&al, len, data);
    if (!m)
        return s_bad(why, sl_arena_exhausted(arena) ? "request too large to decode"
                                                    : "undecodable request bytes");
    req->id = m->id;
    switch (m->body_case) {
    case SEGLOG__V1__REQUEST__BODY_PRODUCE:
        if (!m->produce)
            return s_bad(why, "request has no body");
        if (s_decode_produce(arena, m->produce, req, why))
            return SL_E_BAD_REQUEST;
        break;
    case SEGLOG__V1__REQUEST__BODY_CONSUME: {
        const Seglog__V1__ConsumeRequest *c = m->consume;
        if (!c)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_CONSUME;
        s_set_topic(req, c->topic);
        req->offset = c->offset;
        req->max_records = c->max_records == 0                       ? 1
                           : c->max_records > SL_MAX_CONSUME_RECORDS ? SL_MAX_CONSUME_RECORDS
                                                                     : c->max_records;
        req->max_bytes = c->max_bytes;
        if (c->max_wait_ms > SL_MAX_WAIT_MS)
            return s_bad(why, "consume max_wait_ms is above the server's cap of 60000 ms");
        req->max_wait_ms = c->max_wait_ms;
        break;
    }
    case SEGLOG__V1__REQUEST__BODY_OFFSETS:
        if (!m->offsets)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_OFFSETS;
        s_set_topic(req, m->offsets->topic);
        break;
    case SEGLOG__V1__REQUEST__BODY_TRUNCATE:
        if (!m->truncate)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_TRUNCATE;
        s_set_topic(req, m->truncate->topic);
        req->lowest_offset = m->truncate->lowest_offset;
        break;
    case SEGLOG__V1__REQUEST__BODY_INFO:
        if (!m->info)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_INFO;
        s_set_topic(req, NULL);
        return 0; /* no strings */
    case SEGLOG__V1__REQUEST__BODY_LIST_TOPICS:
        if (!m->list_topics)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_LIST_TOPICS;
        s_set_topic(req, NULL);
        return 0;
    case SEGLOG__V1__REQUEST__BODY_DELETE_TOPIC:
        if (!m->delete_topic)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_DELETE_TOPIC;
        s_set_topic(req, m->delete_topic->topic);
        break;
    case SEGLOG__V1__REQUEST__BODY_CREATE_TOPIC:
        if (!m->create_topic)
            return s_bad(why, "request has no body");
        if (m->create_topic->replicas > 16)
            return s_bad(why, "create_topic replicas is above 16");
        req->type = SL_REQ_CREATE_TOPIC;
        s_set_topic(req, m->create_topic->topic);
        req->replicas = m->create_topic->replicas;
        break;
    case SEGLOG__V1__REQUEST__BODY_OFFSET_FOR_TIME:
        if (!m->offset_for_time)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_OFFSET_FOR_TIME;
        s_set_topic(req, m->offset_for_time->topic);
        req->timestamp_ms = m->offset_for_time->timestamp_ms;
        break;
    case SEGLOG__V1__REQUEST__BODY_TOPIC_CONFIG: {
        const Seglog__V1__TopicConfigRequest *c = m->topic_config;
        if (!c)
            return s_bad(why, "request has no body");
        if (c->n_set > SL_MAX_CONFIG_SET)
            return s_bad(why, "topic_config sets more than 16 entries");
        req->type = SL_REQ_TOPIC_CONFIG;
        s_set_topic(req, c->topic);
        sl_config_kv_t *kv = c->n_set ? sl_arena_alloc(arena, c->n_set * sizeof *kv) : NULL;
        if (c->n_set && !kv)
            return s_bad(why, "request too large to decode");
        for (size_t i = 0; i < c->n_set; i++) {
            if (!c->set[i])
                return s_bad(why, "topic_config entry without a body");
            kv[i] = (sl_config_kv_t){.key = c->set[i]->key ? c->set[i]->key : "",
                                     .value = c->set[i]->value ? c->set[i]->value : ""};
        }
        req->config = kv;
        req->nconfig = c->n_set;
        break;
    }
    case SEGLOG__V1__REQUEST__BODY_METADATA:
        if (!m->metadata)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_METADATA;
        s_set_topic(req, NULL);
        return 0;
    case SEGLOG__V1__REQUEST__BODY_INIT_PRODUCER_ID:
        if (!m->init_producer_id)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_INIT_PRODUCER_ID;
        s_set_topic(req, NULL);
        return 0;
    case SEGLOG__V1__REQUEST__BODY_COMMIT_OFFSET: {
        const Seglog__V1__CommitOffsetRequest *c = m->commit_offset;
        if (!c)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_COMMIT_OFFSET;
        s_set_topic(req, c->topic);
        s_set_group(req, c->group);
        req->offset = c->offset;
        req->metadata = c->metadata ? c->metadata : "";
        req->metadata_len = strlen(req->metadata);
        if (s_string_has_nul(data, len, 21, 4))
            return s_bad(why, "metadata contains a NUL byte");
        if (s_string_has_nul(data, len, 21, 1))
            return s_bad(why, "group contains a NUL byte");
        if (s_string_has_nul(data, len, 21, 2))
            return s_bad(why, "topic contains a NUL byte");
        return 0;
    }
    case SEGLOG__V1__REQUEST__BODY_FETCH_OFFSET: {
        const Seglog__V1__FetchOffsetRequest *f = m->fetch_offset;
        if (!f)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_FETCH_OFFSET;
        s_set_topic(req, f->topic);
        s_set_group(req, f->group);
        if (s_string_has_nul(data, len, 22, 1))
            return s_bad(why, "group contains a NUL byte");
        if (s_string_has_nul(data, len, 22, 2))
            return s_bad(why, "topic contains a NUL byte");
        return 0;
    }
    default:
        /* Includes bodies from a newer protocol: protobuf-c keeps them as
         * unknown fields and leaves the oneof unset. */
        return s_bad(why, "request has no body (or one this server does not know)");
    }
    if (s_topic_has_nul(data, len))
        return s_bad(why, "topic contains a NUL byte");
    return 0;
}
