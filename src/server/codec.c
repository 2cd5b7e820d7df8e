/* codec.c - see codec.h. The only file that includes the generated code. */
#include "codec.h"

#include "errors.h"
#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define CONSUME_HEADROOM 32u /* >= id tag+varint (11) + body tag (1) + length varint (10) */

#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " must equal " #b)
SAME(SL_WIRE_BAD_REQUEST, SEGLOG__V1__ERROR_CODE__BAD_REQUEST);
SAME(SL_WIRE_OFFSET_OUT_OF_RANGE, SEGLOG__V1__ERROR_CODE__OFFSET_OUT_OF_RANGE);
SAME(SL_WIRE_OFFSET_TRUNCATED, SEGLOG__V1__ERROR_CODE__OFFSET_TRUNCATED);
SAME(SL_WIRE_RECORD_TOO_LARGE, SEGLOG__V1__ERROR_CODE__RECORD_TOO_LARGE);
SAME(SL_WIRE_BATCH_TOO_LARGE, SEGLOG__V1__ERROR_CODE__BATCH_TOO_LARGE);
SAME(SL_WIRE_INVALID_TOPIC, SEGLOG__V1__ERROR_CODE__INVALID_TOPIC);
SAME(SL_WIRE_UNKNOWN_TOPIC, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
SAME(SL_WIRE_RESOURCE_EXHAUSTED, SEGLOG__V1__ERROR_CODE__RESOURCE_EXHAUSTED);
SAME(SL_WIRE_INTERNAL, SEGLOG__V1__ERROR_CODE__INTERNAL);
SAME(SL_WIRE_STORAGE, SEGLOG__V1__ERROR_CODE__STORAGE);
SAME(SL_WIRE_CORRUPT, SEGLOG__V1__ERROR_CODE__CORRUPT);
SAME(SL_WIRE_NOT_ENOUGH_REPLICAS, SEGLOG__V1__ERROR_CODE__NOT_ENOUGH_REPLICAS);
SAME(SL_WIRE_NOT_LEADER, SEGLOG__V1__ERROR_CODE__NOT_LEADER);
SAME(SL_ACKS_LEADER, SEGLOG__V1__ACKS__ACKS_LEADER);
SAME(SL_ACKS_ALL, SEGLOG__V1__ACKS__ACKS_ALL);

/* Field tags of the hand-written encodings: (field number << 3) | wire type. */
enum {
    WT_VARINT = 0,
    WT_I64 = 1,
    WT_LEN = 2,
    WT_SGROUP = 3,
    WT_EGROUP = 4,
    WT_I32 = 5,
};
#define TAG(field, wt) ((uint8_t)(((field) << 3) | (wt)))
SAME(SEGLOG__V1__RESPONSE__BODY_CONSUME, 3);
SAME(SEGLOG__V1__RESPONSE__BODY_PRODUCE, 2);
SAME(SEGLOG__V1__EVENT__BODY_RECORD, 1);

/* ---- varints ------------------------------------------------------------ */

static size_t s_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t s_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

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
    case SEGLOG__V1__REQUEST__BODY_METADATA:
        if (!m->metadata)
            return s_bad(why, "request has no body");
        req->type = SL_REQ_METADATA;
        s_set_topic(req, NULL);
        return 0;
    default:
        /* Includes bodies from a newer protocol: protobuf-c keeps them as
         * unknown fields and leaves the oneof unset. */
        return s_bad(why, "request has no body (or one this server does not know)");
    }
    if (s_topic_has_nul(data, len))
        return s_bad(why, "topic contains a NUL byte");
    return 0;
}

/* ---- stored records ----------------------------------------------------- */

size_t sl_codec_stored_size(const sl_record_t *r)
{
    size_t n = 0;
    if (r->value_len)
        n += 1 + s_varint_size(r->value_len) + r->value_len;
    if (r->key_len)
        n += 1 + s_varint_size(r->key_len) + r->key_len;
    if (r->timestamp_ms)
        n += 1 + s_varint_size(r->timestamp_ms);
    if (r->leader_epoch)
        n += 1 + s_varint_size(r->leader_epoch);
    return n;
}

size_t sl_codec_stored_write(const sl_record_t *r, uint8_t *out)
{
    size_t n = 0;
    if (r->value_len) {
        out[n++] = TAG(1, WT_LEN);
        n += s_put_varint(out + n, r->value_len);
        memcpy(out + n, r->value, r->value_len);
        n += r->value_len;
    }
    if (r->key_len) {
        out[n++] = TAG(3, WT_LEN);
        n += s_put_varint(out + n, r->key_len);
        memcpy(out + n, r->key, r->key_len);
        n += r->key_len;
    }
    if (r->timestamp_ms) {
        out[n++] = TAG(4, WT_VARINT);
        n += s_put_varint(out + n, r->timestamp_ms);
    }
    if (r->leader_epoch) {
        out[n++] = TAG(5, WT_VARINT);
        n += s_put_varint(out + n, r->leader_epoch);
    }
    return n;
}

/* A stored record plus its offset field is a complete Record. */
static size_t s_record_len(uint64_t offset, size_t stored_len)
{
    return stored_len + (offset ? 1 + s_varint_size(offset) : 0);
}

static size_t s_put_record(uint8_t *out, uint64_t offset, const void *stored, size_t len)
{
    size_t n = 0;
    out[n++] = TAG(1, WT_LEN); /* ConsumeResponse.records and Event.record are both field 1 */
    n += s_put_varint(out + n, s_record_len(offset, len));
    if (len)
        memcpy(out + n, stored, len);
    n += len;
    if (offset) {
        out[n++] = TAG(2, WT_VARINT); /* Record.offset */
        n += s_put_varint(out + n, offset);
    }
    return n;
}

/* ---- responses ---------------------------------------------------------- */

static size_t s_put_u64_field(uint8_t *p, unsigned field, uint64_t v);

static int s_pack(sl_buf_t *out, const Seglog__V1__Response *r)
{
    size_t n = seglog__v1__response__get_packed_size(r);
    if (sl_buf_reserve(out, n))
        return SEGLOG_E_NOMEM;
    out->len += seglog__v1__response__pack(r, out->data + out->len);
    return 0;
}

/* By hand: it answers every produce, and protobuf-c's get_packed_size +
 * pack cost more than the rest of the reply path. Same bytes as protobuf-c
 * (proto3 leaves zero scalars out; a set oneof message is always sent). */
int sl_codec_encode_produce(sl_buf_t *out, uint64_t id, uint64_t offset, uint32_t count)
{
    uint8_t body[2 * 11], *q = body;
    q += s_put_u64_field(q, 1, offset); /* ProduceResponse.offset */
    q += s_put_u64_field(q, 2, count);  /* ProduceResponse.count */
    size_t blen = (size_t)(q - body);
    if (sl_buf_reserve(out, 11 + 2 + blen))
        return SEGLOG_E_NOMEM;
    uint8_t *p = out->data + out->len;
    p += s_put_u64_field(p, 1, id); /* Response.id */
    *p++ = TAG(SEGLOG__V1__RESPONSE__BODY_PRODUCE, WT_LEN);
    *p++ = (uint8_t)blen; /* < 128 */
    memcpy(p, body, blen);
    out->len = (size_t)(p + blen - out->data);
    return 0;
}

int sl_codec_encode_offsets(sl_buf_t *out, uint64_t id, uint64_t lowest, uint64_t next,
                            uint64_t epoch, uint64_t committed)
{
    Seglog__V1__OffsetsResponse o = SEGLOG__V1__OFFSETS_RESPONSE__INIT;
    o.lowest_offset = lowest;
    o.next_offset = next;
    o.epoch = epoch;
    o.committed_offset = committed;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_OFFSETS;
    r.offsets = &o;
    return s_pack(out, &r);
}

int sl_codec_encode_truncate(sl_buf_t *out, uint64_t id, uint64_t lowest)
{
    Seglog__V1__TruncateResponse t = SEGLOG__V1__TRUNCATE_RESPONSE__INIT;
    t.lowest_offset = lowest;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_TRUNCATE;
    r.truncate = &t;
    return s_pack(out, &r);
}

int sl_codec_encode_info(sl_buf_t *out, uint64_t id, const sl_info_t *info)
{
    Seglog__V1__InfoResponse i = SEGLOG__V1__INFO_RESPONSE__INIT;
    i.version = (char *)info->version;
    i.max_record_bytes = info->max_record_bytes;
    i.max_message_bytes = info->max_message_bytes;
    i.max_batch_records = info->max_batch_records;
    i.max_batch_bytes = info->max_batch_bytes;
    i.max_consume_bytes = info->max_consume_bytes;
    i.max_in_flight = info->max_in_flight;
    i.sync = (char *)info->sync;
    i.segment_bytes = info->segment_bytes;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_INFO;
    r.info = &i;
    return s_pack(out, &r);
}

int sl_codec_encode_topics(sl_buf_t *out, uint64_t id, const sl_topic_row_t *rows, size_t n)
{
    Seglog__V1__TopicInfo *ti = calloc(n ? n : 1, sizeof *ti);
    Seglog__V1__TopicInfo **tp = calloc(n ? n : 1, sizeof *tp);
    int rc = SEGLOG_E_NOMEM;
    if (ti && tp) {
        for (size_t i = 0; i < n; i++) {
            seglog__v1__topic_info__init(&ti[i]);
            ti[i].name = (char *)rows[i].name;
            ti[i].lowest_offset = rows[i].lowest;
            ti[i].next_offset = rows[i].next;
            ti[i].epoch = rows[i].epoch;
            tp[i] = &ti[i];
        }
        Seglog__V1__ListTopicsResponse l = SEGLOG__V1__LIST_TOPICS_RESPONSE__INIT;
        l.n_topics = n;
        l.topics = tp;
        Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
        r.id = id;
        r.body_case = SEGLOG__V1__RESPONSE__BODY_LIST_TOPICS;
        r.list_topics = &l;
        rc = s_pack(out, &r);
    }
    free(ti);
    free(tp);
    return rc;
}

int sl_codec_encode_delete_topic(sl_buf_t *out, uint64_t id)
{
    Seglog__V1__DeleteTopicResponse d = SEGLOG__V1__DELETE_TOPIC_RESPONSE__INIT;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC;
    r.delete_topic = &d;
    return s_pack(out, &r);
}

int sl_codec_encode_error(sl_buf_t *out, uint64_t id, sl_wire_code_t code, const char *message)
{
    return sl_codec_encode_error_leader(out, id, code, message, NULL);
}

int sl_codec_encode_error_leader(sl_buf_t *out, uint64_t id, sl_wire_code_t code,
                                 const char *message, const char *leader_endpoint)
{
    Seglog__V1__Error e = SEGLOG__V1__ERROR__INIT;
    e.code = (Seglog__V1__ErrorCode)code;
    e.message = (char *)(message ? message : "");
    e.leader_endpoint = (char *)(leader_endpoint ? leader_endpoint : "");
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_ERROR;
    r.error = &e;
    return s_pack(out, &r);
}

int sl_codec_encode_metadata(sl_buf_t *out, uint64_t id, int32_t node_id,
                             const sl_meta_node_t *nodes, size_t nn, const sl_meta_topic_t *topics,
                             size_t nt)
{
    Seglog__V1__NodeInfo *ni = calloc(nn ? nn : 1, sizeof *ni);
    Seglog__V1__NodeInfo **np = calloc(nn ? nn : 1, sizeof *np);
    Seglog__V1__TopicMetadata *ti = calloc(nt ? nt : 1, sizeof *ti);
    Seglog__V1__TopicMetadata **tpp = calloc(nt ? nt : 1, sizeof *tpp);
    int rc = SEGLOG_E_NOMEM;
    if (!ni || !np || !ti || !tpp)
        goto out;
    for (size_t i = 0; i < nn; i++) {
        seglog__v1__node_info__init(&ni[i]);
        ni[i].id = nodes[i].id;
        ni[i].endpoint = (char *)nodes[i].endpoint;
        ni[i].pub_endpoint = (char *)nodes[i].pub;
        ni[i].alive = nodes[i].alive != 0;
        np[i] = &ni[i];
    }
    for (size_t i = 0; i < nt; i++) {
        seglog__v1__topic_metadata__init(&ti[i]);
        ti[i].name = (char *)topics[i].name;
        ti[i].n_replicas = topics[i].n_replicas;
        ti[i].replicas = (int32_t *)topics[i].replicas;
        ti[i].leader = topics[i].leader;
        ti[i].leader_epoch = topics[i].leader_epoch;
        ti[i].n_isr = topics[i].n_isr;
        ti[i].isr = (int32_t *)topics[i].isr;
        ti[i].high_watermark = topics[i].hw;
        tpp[i] = &ti[i];
    }
    Seglog__V1__MetadataResponse m = SEGLOG__V1__METADATA_RESPONSE__INIT;
    m.n_nodes = nn;
    m.nodes = np;
    m.n_topics = nt;
    m.topics = tpp;
    m.node_id = node_id;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_METADATA;
    r.metadata = &m;
    rc = s_pack(out, &r);
out:
    free(ni);
    free(np);
    free(ti);
    free(tpp);
    return rc;
}

int sl_codec_consume_begin(sl_buf_t *out)
{
    out->len = 0;
    if (sl_buf_reserve(out, CONSUME_HEADROOM + 64))
        return SEGLOG_E_NOMEM;
    out->len = CONSUME_HEADROOM;
    return 0;
}

int sl_codec_consume_add(sl_buf_t *out, uint64_t offset, const void *stored, size_t len)
{
    size_t rec = s_record_len(offset, len);
    /* + 33: room for the three trailing varint fields of finish() */
    if (sl_buf_reserve(out, 1 + s_varint_size(rec) + rec + 33))
        return SEGLOG_E_NOMEM;
    out->len += s_put_record(out->data + out->len, offset, stored, len);
    return 0;
}

static size_t s_put_u64_field(uint8_t *p, unsigned field, uint64_t v)
{
    if (!v)
        return 0; /* proto3 leaves zero scalars out */
    p[0] = TAG(field, WT_VARINT);
    return 1 + s_put_varint(p + 1, v);
}

void sl_codec_consume_finish(sl_buf_t *out, uint64_t id, uint64_t next, uint64_t lowest,
                             uint64_t end, const uint8_t **msg, size_t *msg_len)
{
    /* begin and add always leave 33 spare bytes: 3 x (tag + 10-byte varint) */
    uint8_t *p = out->data + out->len;
    p += s_put_u64_field(p, 2, next);
    p += s_put_u64_field(p, 3, lowest);
    p += s_put_u64_field(p, 4, end);
    out->len = (size_t)(p - out->data);
    size_t body = out->len - CONSUME_HEADROOM;

    uint8_t hdr[CONSUME_HEADROOM];
    size_t h = s_put_u64_field(hdr, 1, id); /* Response.id */
    hdr[h++] = TAG(SEGLOG__V1__RESPONSE__BODY_CONSUME, WT_LEN);
    h += s_put_varint(hdr + h, body);
    uint8_t *start = out->data + CONSUME_HEADROOM - h;
    memcpy(start, hdr, h);
    *msg = start;
    *msg_len = h + body;
}

/* ---- events ------------------------------------------------------------- */

size_t sl_codec_event_record_size(uint64_t offset, size_t stored_len)
{
    size_t rec = s_record_len(offset, stored_len);
    return 1 + s_varint_size(rec) + rec;
}

void sl_codec_event_record_write(uint8_t *out, uint64_t offset, const void *stored, size_t len)
{
    s_put_record(out, offset, stored, len);
}

int sl_codec_encode_heartbeat(sl_buf_t *out, uint64_t next, uint64_t epoch)
{
    Seglog__V1__Heartbeat hb = SEGLOG__V1__HEARTBEAT__INIT;
    hb.next_offset = next;
    hb.epoch = epoch;
    Seglog__V1__Event ev = SEGLOG__V1__EVENT__INIT;
    ev.body_case = SEGLOG__V1__EVENT__BODY_HEARTBEAT;
    ev.heartbeat = &hb;
    size_t n = seglog__v1__event__get_packed_size(&ev);
    if (sl_buf_reserve(out, n))
        return SEGLOG_E_NOMEM;
    out->len += seglog__v1__event__pack(&ev, out->data + out->len);
    return 0;
}
