/* codec.c - see codec.h: encoding responses, events and stored records.
 * Its other half, codec_decode.c, decodes requests; the two are the only
 * files that include the generated code. */
#include "codec.h"

#include "codec_wire.h"
#include "errors.h"
#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define CONSUME_HEADROOM 32u /* >= id tag+varint (11) + body tag (1) + length varint (10) */

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
SAME(SL_WIRE_OUT_OF_ORDER_SEQUENCE, SEGLOG__V1__ERROR_CODE__OUT_OF_ORDER_SEQUENCE);
SAME(SL_WIRE_UNKNOWN_GROUP, SEGLOG__V1__ERROR_CODE__UNKNOWN_GROUP);
SAME(SL_ACKS_LEADER, SEGLOG__V1__ACKS__ACKS_LEADER);
SAME(SL_ACKS_ALL, SEGLOG__V1__ACKS__ACKS_ALL);

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
    if (r->producer_id)
        n += 3 + s_varint_size(r->producer_id) + s_varint_size(r->sequence) +
             s_varint_size(r->batch_records);
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
    if (r->producer_id) { /* all three, even a sequence of 0: rebuild reads them together */
        out[n++] = TAG(6, WT_VARINT);
        n += s_put_varint(out + n, r->producer_id);
        out[n++] = TAG(7, WT_VARINT);
        n += s_put_varint(out + n, r->sequence);
        out[n++] = TAG(8, WT_VARINT);
        n += s_put_varint(out + n, r->batch_records);
    }
    return n;
}

static int s_scan_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
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

size_t sl_codec_offset_value_size(uint64_t offset, size_t md_len)
{
    return (offset ? 1 + s_varint_size(offset) : 0) +
           (md_len ? 1 + s_varint_size(md_len) + md_len : 0);
}

size_t sl_codec_offset_value_write(uint8_t *out, uint64_t offset, const char *md, size_t md_len)
{
    size_t n = 0;
    if (offset) {
        out[n++] = TAG(1, WT_VARINT);
        n += s_put_varint(out + n, offset);
    }
    if (md_len) {
        out[n++] = TAG(2, WT_LEN);
        n += s_put_varint(out + n, md_len);
        memcpy(out + n, md, md_len);
        n += md_len;
    }
    return n;
}

int sl_codec_offset_value_parse(const void *value, size_t len, uint64_t *offset, const char **md,
                                size_t *md_len)
{
    const uint8_t *p = value, *end = p + len;
    *offset = 0;
    *md = "";
    *md_len = 0;
    while (p < end) {
        uint64_t tag, v;
        if (s_scan_varint(&p, end, &tag))
            return -1;
        if ((tag & 7) == WT_VARINT) {
            if (s_scan_varint(&p, end, &v))
                return -1;
            if (tag >> 3 == 1)
                *offset = v;
        } else if ((tag & 7) == WT_LEN) {
            if (s_scan_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            if (tag >> 3 == 2) {
                *md = (const char *)p;
                *md_len = (size_t)v;
            }
            p += v;
        } else {
            return -1;
        }
    }
    return 0;
}

int sl_codec_stored_kv(const void *stored, size_t len, const uint8_t **key, size_t *key_len,
                       const uint8_t **value, size_t *value_len)
{
    const uint8_t *p = stored, *end = p + len;
    *key = *value = (const uint8_t *)"";
    *key_len = *value_len = 0;
    while (p < end) {
        uint64_t tag, v;
        if (s_scan_varint(&p, end, &tag))
            return -1;
        if ((tag & 7) == WT_VARINT) {
            if (s_scan_varint(&p, end, &v))
                return -1;
        } else if ((tag & 7) == WT_LEN) {
            if (s_scan_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            if (tag >> 3 == 1) {
                *value = p;
                *value_len = (size_t)v;
            } else if (tag >> 3 == 3) {
                *key = p;
                *key_len = (size_t)v;
            }
            p += v;
        } else {
            return -1;
        }
    }
    return 0;
}

int sl_codec_stored_producer(const void *stored, size_t len, uint64_t *producer_id,
                             uint64_t *sequence, uint32_t *batch_records)
{
    const uint8_t *p = stored, *end = p + len;
    uint64_t pid = 0, seq = 0, cnt = 0;
    while (p < end) {
        uint64_t tag, v;
        if (s_scan_varint(&p, end, &tag))
            return 0;
        if ((tag & 7) == WT_VARINT) {
            if (s_scan_varint(&p, end, &v))
                return 0;
            if (tag >> 3 == 6)
                pid = v;
            else if (tag >> 3 == 7)
                seq = v;
            else if (tag >> 3 == 8)
                cnt = v;
        } else if ((tag & 7) == WT_LEN) {
            if (s_scan_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return 0;
            p += v;
        } else {
            return 0; /* the server writes no other wire type */
        }
    }
    if (!pid)
        return 0;
    *producer_id = pid;
    *sequence = seq;
    *batch_records = cnt > UINT32_MAX ? UINT32_MAX : (uint32_t)cnt;
    return 1;
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

int sl_codec_encode_offset_for_time(sl_buf_t *out, uint64_t id, uint64_t offset, uint64_t end)
{
    Seglog__V1__OffsetForTimeResponse t = SEGLOG__V1__OFFSET_FOR_TIME_RESPONSE__INIT;
    t.offset = offset;
    t.end_offset = end;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_OFFSET_FOR_TIME;
    r.offset_for_time = &t;
    return s_pack(out, &r);
}

int sl_codec_encode_topic_config(sl_buf_t *out, uint64_t id, const sl_config_kv_t *kv, size_t n)
{
    Seglog__V1__ConfigEntry e[SL_MAX_CONFIG_SET];
    Seglog__V1__ConfigEntry *ep[SL_MAX_CONFIG_SET];
    if (n > SL_MAX_CONFIG_SET)
        return SEGLOG_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        seglog__v1__config_entry__init(&e[i]);
        e[i].key = (char *)kv[i].key;
        e[i].value = (char *)kv[i].value;
        e[i].effective = (char *)kv[i].effective;
        ep[i] = &e[i];
    }
    Seglog__V1__TopicConfigResponse t = SEGLOG__V1__TOPIC_CONFIG_RESPONSE__INIT;
    t.n_entries = n;
    t.entries = ep;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_TOPIC_CONFIG;
    r.topic_config = &t;
    return s_pack(out, &r);
}

/* Walk the stored Record's fields for field 4 (timestamp_ms, a varint).
 * The stored form is ours (sl_codec_stored_write), but records written
 * by older versions or replicated ones are scanned the same way. */
static int s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

uint64_t sl_codec_stored_timestamp(void *arg, const void *stored, size_t len)
{
    (void)arg;
    const uint8_t *p = stored, *end = p + len;
    while (p < end) {
        uint64_t tag, v;
        if (s_varint(&p, end, &tag))
            return 0;
        switch (tag & 7) {
        case 0:
            if (s_varint(&p, end, &v))
                return 0;
            if (tag >> 3 == 4)
                return v;
            break;
        case 2:
            if (s_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return 0;
            p += v;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
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

int sl_codec_encode_create_topic(sl_buf_t *out, uint64_t id, int created, uint32_t replicas)
{
    Seglog__V1__CreateTopicResponse c = SEGLOG__V1__CREATE_TOPIC_RESPONSE__INIT;
    c.created = created != 0;
    c.replicas = replicas;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_CREATE_TOPIC;
    r.create_topic = &c;
    return s_pack(out, &r);
}

int sl_codec_encode_init_producer_id(sl_buf_t *out, uint64_t id, uint64_t producer_id)
{
    Seglog__V1__InitProducerIdResponse b = SEGLOG__V1__INIT_PRODUCER_ID_RESPONSE__INIT;
    b.producer_id = producer_id;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_INIT_PRODUCER_ID;
    r.init_producer_id = &b;
    return s_pack(out, &r);
}

int sl_codec_encode_commit_offset(sl_buf_t *out, uint64_t id)
{
    Seglog__V1__CommitOffsetResponse b = SEGLOG__V1__COMMIT_OFFSET_RESPONSE__INIT;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_COMMIT_OFFSET;
    r.commit_offset = &b;
    return s_pack(out, &r);
}

int sl_codec_encode_fetch_offset(sl_buf_t *out, uint64_t id, int found, uint64_t offset,
                                 const char *metadata, size_t metadata_len)
{
    char md[SL_GROUP_METADATA_MAX + 1];
    if (metadata_len > SL_GROUP_METADATA_MAX)
        metadata_len = SL_GROUP_METADATA_MAX;
    memcpy(md, metadata ? metadata : "", metadata_len);
    md[metadata_len] = 0;
    Seglog__V1__FetchOffsetResponse b = SEGLOG__V1__FETCH_OFFSET_RESPONSE__INIT;
    b.found = found != 0;
    b.offset = offset;
    b.metadata = md;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_FETCH_OFFSET;
    r.fetch_offset = &b;
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
        ni[i].curve_public_key = (char *)(nodes[i].curve_key ? nodes[i].curve_key : "");
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

const char *sl_codec_error_name(int code)
{
    const ProtobufCEnumValue *v =
        code > 0 ? protobuf_c_enum_descriptor_get_value(&seglog__v1__error_code__descriptor, code)
                 : NULL;
    return v ? v->name : NULL;
}
