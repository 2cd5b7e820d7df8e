/* test_codec.c - the server's wire codec, error mapping and topic names.
 * Hand-written encodings are checked by decoding them with protobuf-c. */
#include "codec.h"
#include "errors.h"
#include "mem.h"
#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"
#include "topics.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static sl_arena_t *s_arena(size_t limit)
{
    sl_arena_t *a = NULL;
    assert_int_equal(sl_arena_new(limit, &a), 0);
    return a;
}

static uint8_t *s_pack(const Seglog__V1__Request *r, size_t *len)
{
    *len = seglog__v1__request__get_packed_size(r);
    uint8_t *b = malloc(*len + 1);
    seglog__v1__request__pack(r, b);
    return b;
}

static void test_garbage_is_bad_request(void **state)
{
    (void)state;
    sl_arena_t *a = s_arena(1 << 20);
    sl_request_t req;
    const char *why = NULL;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99};
    assert_int_equal(sl_codec_decode_request(a, junk, sizeof junk, &req, &why), SL_E_BAD_REQUEST);
    assert_string_equal(why, "undecodable request bytes");
    /* A truncated length-delimited field. */
    const uint8_t cut[] = {0x08, 0x01, 0x12, 0x20, 0x0a};
    assert_int_equal(sl_codec_decode_request(a, cut, sizeof cut, &req, &why), SL_E_BAD_REQUEST);
    sl_arena_destroy(&a);
}

static void test_empty_and_missing_body(void **state)
{
    (void)state;
    sl_arena_t *a = s_arena(1 << 20);
    sl_request_t req;
    const char *why = NULL;
    /* protobuf-c accepts an empty buffer as a valid message: not valid here. */
    assert_int_equal(sl_codec_decode_request(a, "", 0, &req, &why), SL_E_BAD_REQUEST);
    assert_non_null(strstr(why, "no body"));
    /* id set, no body: the id still comes back. */
    const uint8_t only_id[] = {0x08, 0x2a};
    assert_int_equal(sl_codec_decode_request(a, only_id, sizeof only_id, &req, &why),
                     SL_E_BAD_REQUEST);
    assert_int_equal(req.id, 42);
    /* A body from a newer protocol (field 13, the first free one) is
     * unknown: no body. */
    const uint8_t future[] = {0x08, 0x07, 0x6a, 0x02, 0x0a, 0x00};
    assert_int_equal(sl_codec_decode_request(a, future, sizeof future, &req, &why),
                     SL_E_BAD_REQUEST);
    assert_int_equal(req.id, 7);
    sl_arena_destroy(&a);
}

static void test_produce_counts(void **state)
{
    (void)state;
    sl_arena_t *a = s_arena(64 << 20);
    sl_request_t req;
    const char *why = NULL;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = "t";
    Seglog__V1__Request r = SEGLOG__V1__REQUEST__INIT;
    r.id = 9;
    r.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    r.produce = &p;
    size_t len;
    uint8_t *b = s_pack(&r, &len);
    assert_int_equal(sl_codec_decode_request(a, b, len, &req, &why), SL_E_BAD_REQUEST);
    assert_string_equal(why, "produce has no records");
    free(b);

    size_t n = SL_MAX_BATCH_RECORDS + 1;
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = (uint8_t *)"x";
    rec.value.len = 1;
    Seglog__V1__Record **ptrs = malloc(n * sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rec;
    p.records = ptrs;
    p.n_records = n;
    b = s_pack(&r, &len);
    sl_arena_reset(a);
    assert_int_equal(sl_codec_decode_request(a, b, len, &req, &why), SL_E_BAD_REQUEST);
    assert_non_null(strstr(why, "10000"));
    free(b);

    p.n_records = SL_MAX_BATCH_RECORDS;
    b = s_pack(&r, &len);
    sl_arena_reset(a);
    assert_int_equal(sl_codec_decode_request(a, b, len, &req, &why), 0);
    assert_int_equal(req.type, SL_REQ_PRODUCE);
    assert_int_equal(req.nrecords, SL_MAX_BATCH_RECORDS);
    assert_int_equal(req.records[9999].value_len, 1);
    assert_memory_equal(req.records[9999].value, "x", 1);
    assert_string_equal(req.topic, "t");
    free(b);
    free(ptrs);
    sl_arena_destroy(&a);
}

/* A million empty records in 2 MB must not make the decoder allocate
 * without bound: the arena limit refuses it. */
static void test_arena_limits_decoding(void **state)
{
    (void)state;
    size_t n = 1000000;
    size_t len = 2 + 3 + 2 * n + 8;
    uint8_t *b = malloc(len);
    size_t o = 0;
    size_t body = 2 * n;
    b[o++] = 0x12; /* produce, LEN */
    uint64_t v = body;
    while (v >= 0x80) {
        b[o++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[o++] = (uint8_t)v;
    for (size_t i = 0; i < n; i++) {
        b[o++] = 0x12; /* ProduceRequest.records, LEN 0 */
        b[o++] = 0x00;
    }
    sl_arena_t *a = s_arena(8 << 20);
    sl_request_t req;
    const char *why = NULL;
    assert_int_equal(sl_codec_decode_request(a, b, o, &req, &why), SL_E_BAD_REQUEST);
    assert_string_equal(why, "request too large to decode");
    /* The arena recovers after a reset. */
    sl_arena_reset(a);
    assert_false(sl_arena_exhausted(a));
    assert_non_null(sl_arena_alloc(a, 1000));
    sl_arena_destroy(&a);
    free(b);
}

static void test_topic_with_nul(void **state)
{
    (void)state;
    sl_arena_t *a = s_arena(1 << 20);
    sl_request_t req;
    const char *why = NULL;
    /* Request{id=1, offsets{topic="a\0b"}} */
    const uint8_t b[] = {0x08, 0x01, 0x22, 0x05, 0x0a, 0x03, 'a', 0x00, 'b'};
    assert_int_equal(sl_codec_decode_request(a, b, sizeof b, &req, &why), SL_E_BAD_REQUEST);
    assert_string_equal(why, "topic contains a NUL byte");
    const uint8_t ok[] = {0x08, 0x01, 0x22, 0x05, 0x0a, 0x03, 'a', 'x', 'b'};
    assert_int_equal(sl_codec_decode_request(a, ok, sizeof ok, &req, &why), 0);
    assert_int_equal(req.type, SL_REQ_OFFSETS);
    assert_int_equal(req.topic_len, 3);
    /* The same in a DeleteTopicRequest (body 8). */
    const uint8_t del[] = {0x08, 0x01, 0x42, 0x05, 0x0a, 0x03, 'a', 0x00, 'b'};
    assert_int_equal(sl_codec_decode_request(a, del, sizeof del, &req, &why), SL_E_BAD_REQUEST);
    assert_string_equal(why, "topic contains a NUL byte");
    sl_arena_destroy(&a);
}

/* Info (6), ListTopics (7), DeleteTopic (8) decode; their responses
 * encode to what protobuf-c reads back. */
static void test_admin_requests(void **state)
{
    (void)state;
    sl_arena_t *a = s_arena(1 << 20);
    sl_request_t req;
    const char *why = NULL;
    const uint8_t info[] = {0x08, 0x03, 0x32, 0x00};
    assert_int_equal(sl_codec_decode_request(a, info, sizeof info, &req, &why), 0);
    assert_int_equal(req.type, SL_REQ_INFO);
    assert_int_equal(req.id, 3);
    const uint8_t list[] = {0x08, 0x04, 0x3a, 0x00};
    assert_int_equal(sl_codec_decode_request(a, list, sizeof list, &req, &why), 0);
    assert_int_equal(req.type, SL_REQ_LIST_TOPICS);
    const uint8_t del[] = {0x08, 0x05, 0x42, 0x03, 0x0a, 0x01, 't'};
    assert_int_equal(sl_codec_decode_request(a, del, sizeof del, &req, &why), 0);
    assert_int_equal(req.type, SL_REQ_DELETE_TOPIC);
    assert_int_equal(req.topic_len, 1);
    assert_int_equal(req.topic[0], 't');
    /* A produce followed by a delete_topic decodes as the delete (last
     * body wins): the routing hint must agree, or the front end would run
     * a delete on its own thread. */
    const uint8_t both[] = {0x12, 0x05, 0x12, 0x03, 0x0a, 0x01, 0x78, 0x42, 0x03, 0x0a, 0x01, 't'};
    assert_int_equal(sl_codec_decode_request(a, both, sizeof both, &req, &why), 0);
    assert_int_equal(req.type, SL_REQ_DELETE_TOPIC);
    assert_int_equal(sl_codec_is_produce(both, sizeof both), 0);
    assert_int_equal(sl_codec_peek_id(del, sizeof del), 5);
    assert_int_equal(sl_codec_peek_id(both, sizeof both), 0);

    sl_buf_t out = {0};
    sl_info_t in = {.version = "1.2.3",
                    .max_record_bytes = 10,
                    .max_message_bytes = 20,
                    .max_batch_records = 30,
                    .max_batch_bytes = 40,
                    .max_consume_bytes = 50,
                    .max_in_flight = 60,
                    .sync = "interval:70",
                    .segment_bytes = 80};
    assert_int_equal(sl_codec_encode_info(&out, 9, &in), 0);
    Seglog__V1__Response *r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_non_null(r);
    assert_int_equal(r->id, 9);
    assert_string_equal(r->info->version, "1.2.3");
    assert_int_equal(r->info->max_batch_bytes, 40);
    assert_string_equal(r->info->sync, "interval:70");
    assert_int_equal(r->info->segment_bytes, 80);
    seglog__v1__response__free_unpacked(r, NULL);
    out.len = 0;
    sl_topic_row_t rows[2] = {{"a", 1, 2, 3}, {"b", 4, 5, 6}};
    assert_int_equal(sl_codec_encode_topics(&out, 10, rows, 2), 0);
    r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_int_equal(r->list_topics->n_topics, 2);
    assert_string_equal(r->list_topics->topics[1]->name, "b");
    assert_int_equal(r->list_topics->topics[1]->next_offset, 5);
    seglog__v1__response__free_unpacked(r, NULL);
    out.len = 0;
    assert_int_equal(sl_codec_encode_topics(&out, 11, NULL, 0), 0);
    r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_LIST_TOPICS);
    assert_int_equal(r->list_topics->n_topics, 0);
    seglog__v1__response__free_unpacked(r, NULL);
    out.len = 0;
    assert_int_equal(sl_codec_encode_delete_topic(&out, 12), 0);
    r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_int_equal(r->id, 12);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC);
    seglog__v1__response__free_unpacked(r, NULL);
    sl_buf_free(&out);
    sl_arena_destroy(&a);
}

static void test_consume_clamps(void **state)
{
    (void)state;
    sl_arena_t *a = s_arena(1 << 20);
    sl_request_t req;
    const char *why = NULL;
    Seglog__V1__ConsumeRequest c = SEGLOG__V1__CONSUME_REQUEST__INIT;
    c.topic = "";
    c.offset = 77;
    Seglog__V1__Request r = SEGLOG__V1__REQUEST__INIT;
    r.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    r.consume = &c;
    size_t len;
    uint8_t *b = s_pack(&r, &len);
    assert_int_equal(sl_codec_decode_request(a, b, len, &req, &why), 0);
    assert_int_equal(req.max_records, 1); /* 0 means 1 */
    assert_int_equal(req.offset, 77);
    assert_int_equal(req.topic_len, 0);
    free(b);
    c.max_records = 4000000000u;
    c.max_bytes = 123;
    b = s_pack(&r, &len);
    assert_int_equal(sl_codec_decode_request(a, b, len, &req, &why), 0);
    assert_int_equal(req.max_records, SL_MAX_CONSUME_RECORDS);
    assert_int_equal(req.max_bytes, 123);
    free(b);
    sl_arena_destroy(&a);
}

/* The stored form + offset field, streamed into a ConsumeResponse, must
 * decode with protobuf-c to exactly the records that went in. */
static void test_consume_response_roundtrip(void **state)
{
    (void)state;
    const uint64_t offsets[] = {0, 1, 127, 128, 300, UINT64_MAX - 1};
    const size_t n = sizeof offsets / sizeof offsets[0];
    sl_buf_t out = {0};
    assert_int_equal(sl_codec_consume_begin(&out), 0);
    char *big = malloc(70000);
    memset(big, 'b', 70000);
    for (size_t i = 0; i < n; i++) {
        sl_record_t r = {0};
        if (i != 2) { /* record 2 has an empty value */
            r.value = (const uint8_t *)(i == 4 ? big : "hello");
            r.value_len = i == 4 ? 70000 : 5;
        }
        if (i % 2) {
            r.key = (const uint8_t *)"key";
            r.key_len = 3;
        }
        r.timestamp_ms = i == 3 ? 0 : 1700000000000ull + i;
        uint8_t stored[80000];
        size_t sl = sl_codec_stored_write(&r, stored);
        assert_int_equal(sl, sl_codec_stored_size(&r));
        assert_int_equal(sl_codec_consume_add(&out, offsets[i], stored, sl), 0);
    }
    const uint8_t *msg;
    size_t mlen;
    sl_codec_consume_finish(&out, 123456789, 301, 5, 400, &msg, &mlen);
    Seglog__V1__Response *resp = seglog__v1__response__unpack(NULL, mlen, msg);
    assert_non_null(resp);
    assert_int_equal(resp->id, 123456789);
    assert_int_equal(resp->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    Seglog__V1__ConsumeResponse *c = resp->consume;
    assert_int_equal(c->next_offset, 301);
    assert_int_equal(c->lowest_offset, 5);
    assert_int_equal(c->end_offset, 400);
    assert_int_equal(c->n_records, n);
    for (size_t i = 0; i < n; i++) {
        Seglog__V1__Record *r = c->records[i];
        assert_true(r->offset == offsets[i]);
        if (i == 2) {
            assert_int_equal(r->value.len, 0);
        } else if (i == 4) {
            assert_int_equal(r->value.len, 70000);
            assert_memory_equal(r->value.data, big, 70000);
        } else {
            assert_int_equal(r->value.len, 5);
            assert_memory_equal(r->value.data, "hello", 5);
        }
        assert_int_equal(r->key.len, i % 2 ? 3 : 0);
        assert_true(r->timestamp_ms == (i == 3 ? 0 : 1700000000000ull + i));
    }
    seglog__v1__response__free_unpacked(resp, NULL);

    /* An empty response (at the end of the log) and id 0. */
    assert_int_equal(sl_codec_consume_begin(&out), 0);
    sl_codec_consume_finish(&out, 0, 0, 0, 0, &msg, &mlen);
    resp = seglog__v1__response__unpack(NULL, mlen, msg);
    assert_non_null(resp);
    assert_int_equal(resp->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    assert_int_equal(resp->consume->n_records, 0);
    seglog__v1__response__free_unpacked(resp, NULL);
    sl_buf_free(&out);
    free(big);
}

static void test_event_encodings(void **state)
{
    (void)state;
    sl_record_t r = {.value = (const uint8_t *)"v", .value_len = 1, .timestamp_ms = 99};
    uint8_t stored[32];
    size_t sl = sl_codec_stored_write(&r, stored);
    size_t n = sl_codec_event_record_size(1ull << 40, sl);
    uint8_t *ev = malloc(n);
    sl_codec_event_record_write(ev, 1ull << 40, stored, sl);
    Seglog__V1__Event *e = seglog__v1__event__unpack(NULL, n, ev);
    assert_non_null(e);
    assert_int_equal(e->body_case, SEGLOG__V1__EVENT__BODY_RECORD);
    assert_true(e->record->offset == 1ull << 40);
    assert_int_equal(e->record->timestamp_ms, 99);
    assert_memory_equal(e->record->value.data, "v", 1);
    seglog__v1__event__free_unpacked(e, NULL);
    free(ev);

    sl_buf_t out = {0};
    assert_int_equal(sl_codec_encode_heartbeat(&out, 42, 0xdeadbeefcafeull), 0);
    e = seglog__v1__event__unpack(NULL, out.len, out.data);
    assert_non_null(e);
    assert_int_equal(e->body_case, SEGLOG__V1__EVENT__BODY_HEARTBEAT);
    assert_int_equal(e->heartbeat->next_offset, 42);
    assert_true(e->heartbeat->epoch == 0xdeadbeefcafeull);
    seglog__v1__event__free_unpacked(e, NULL);
    sl_buf_free(&out);
}

static void test_small_responses(void **state)
{
    (void)state;
    sl_buf_t out = {0};
    assert_int_equal(sl_codec_encode_error(&out, 5, SL_WIRE_UNKNOWN_TOPIC, "nope"), 0);
    Seglog__V1__Response *r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_non_null(r);
    assert_int_equal(r->id, 5);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_ERROR);
    assert_int_equal(r->error->code, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    assert_string_equal(r->error->message, "nope");
    seglog__v1__response__free_unpacked(r, NULL);
    out.len = 0;
    assert_int_equal(sl_codec_encode_produce(&out, 6, 1000, 3), 0);
    r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_int_equal(r->produce->offset, 1000);
    assert_int_equal(r->produce->count, 3);
    seglog__v1__response__free_unpacked(r, NULL);
    out.len = 0;
    assert_int_equal(sl_codec_encode_offsets(&out, 7, 1, 2, 3, 4), 0);
    r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_int_equal(r->offsets->lowest_offset, 1);
    assert_int_equal(r->offsets->next_offset, 2);
    assert_int_equal(r->offsets->epoch, 3);
    assert_int_equal(r->offsets->committed_offset, 4);
    seglog__v1__response__free_unpacked(r, NULL);
    out.len = 0;
    assert_int_equal(sl_codec_encode_truncate(&out, 8, 77), 0);
    r = seglog__v1__response__unpack(NULL, out.len, out.data);
    assert_int_equal(r->truncate->lowest_offset, 77);
    seglog__v1__response__free_unpacked(r, NULL);
    sl_buf_free(&out);
}

/* The hand-written ProduceResponse is byte for byte what protobuf-c packs,
 * zero fields (left out) and the largest values included. */
static void test_produce_response_bytes(void **state)
{
    (void)state;
    const uint64_t ids[] = {0, 1, 127, 128, UINT64_MAX};
    const uint64_t offs[] = {0, 1, 300, UINT64_MAX};
    const uint32_t counts[] = {0, 1, 10000, UINT32_MAX};
    sl_buf_t out = {0};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        for (size_t j = 0; j < sizeof offs / sizeof *offs; j++)
            for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
                Seglog__V1__ProduceResponse p = SEGLOG__V1__PRODUCE_RESPONSE__INIT;
                p.offset = offs[j];
                p.count = counts[k];
                Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
                r.id = ids[i];
                r.body_case = SEGLOG__V1__RESPONSE__BODY_PRODUCE;
                r.produce = &p;
                uint8_t want[64];
                size_t n = seglog__v1__response__pack(&r, want);
                out.len = 0;
                assert_int_equal(sl_codec_encode_produce(&out, ids[i], offs[j], counts[k]), 0);
                assert_int_equal(out.len, n);
                assert_memory_equal(out.data, want, n);
            }
    sl_buf_free(&out);
}

/* Every log-core code and errno maps to exactly the ErrorCode the
 * protocol documents. */
static void test_error_mapping(void **state)
{
    (void)state;
    const struct {
        int err;
        sl_wire_code_t code;
    } map[] = {
        {SEGLOG_E_INVAL, SL_WIRE_BAD_REQUEST},
        {SEGLOG_E_NOMEM, SL_WIRE_INTERNAL},
        {SEGLOG_E_CLOSED, SL_WIRE_INTERNAL},
        {SEGLOG_E_OFFSET_TRUNCATED, SL_WIRE_OFFSET_TRUNCATED},
        {SEGLOG_E_OFFSET_OUT_OF_RANGE, SL_WIRE_OFFSET_OUT_OF_RANGE},
        {SEGLOG_E_RECORD_TOO_LARGE, SL_WIRE_RECORD_TOO_LARGE},
        {SEGLOG_E_BATCH_TOO_LARGE, SL_WIRE_BATCH_TOO_LARGE},
        {SEGLOG_E_CORRUPT, SL_WIRE_CORRUPT},
        {SEGLOG_E_FORMAT, SL_WIRE_CORRUPT},
        {SEGLOG_E_BUFFER_TOO_SMALL, SL_WIRE_INTERNAL},
        {SEGLOG_E_LOCKED, SL_WIRE_STORAGE},
        {SEGLOG_E_FAILED, SL_WIRE_STORAGE},
        {SL_E_BAD_REQUEST, SL_WIRE_BAD_REQUEST},
        {SL_E_INVALID_TOPIC, SL_WIRE_INVALID_TOPIC},
        {SL_E_UNKNOWN_TOPIC, SL_WIRE_UNKNOWN_TOPIC},
        {SL_E_TOO_MANY_TOPICS, SL_WIRE_RESOURCE_EXHAUSTED},
        {ENOSPC, SL_WIRE_STORAGE},
        {EIO, SL_WIRE_STORAGE},
        {-999, SL_WIRE_INTERNAL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        assert_int_equal(sl_error_wire(map[i].err), map[i].code);
        assert_non_null(sl_strerror(map[i].err));
    }
    assert_string_equal(sl_strerror(ENOSPC), strerror(ENOSPC));
}

static void test_topic_names(void **state)
{
    (void)state;
    char long_ok[129], long_bad[130];
    memset(long_ok, 'a', 128);
    long_ok[128] = 0;
    memset(long_bad, 'a', 129);
    long_bad[129] = 0;
    const char *good[] = {"a", "default", "orders.eu-1_X", "...", ".hidden", "a..b", long_ok};
    const char *bad[] = {"", ".", "..", "a/b", "a b", "a\\b", "ä", "a\nb", "../x", long_bad};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(sl_topic_name_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(sl_topic_name_valid(bad[i], strlen(bad[i])));
}

/* ---- the hand-written produce decoder against protobuf-c ---------------- */

/* Decode with both decoders; they must agree on the result, the reason
 * and every field. */
static void s_same_decode(const uint8_t *b, size_t len)
{
    sl_arena_t *a1 = s_arena(1 << 20), *a2 = s_arena(1 << 20);
    sl_request_t r1, r2;
    const char *w1 = NULL, *w2 = NULL;
    int rc1 = sl_codec_decode_request(a1, b, len, &r1, &w1);
    int rc2 = sl_codec_decode_request_pb(a2, b, len, &r2, &w2);
    assert_int_equal(rc1, rc2);
    assert_int_equal(r1.id, r2.id);
    if (rc1) {
        assert_string_equal(w1, w2);
    } else {
        assert_int_equal(r1.type, r2.type);
        assert_int_equal(r1.topic_len, r2.topic_len);
        assert_memory_equal(r1.topic, r2.topic, r1.topic_len + 1);
        assert_int_equal(r1.nrecords, r2.nrecords);
        assert_int_equal(r1.producer_id, r2.producer_id);
        assert_int_equal(r1.sequence, r2.sequence);
        for (size_t i = 0; i < r1.nrecords; i++) {
            assert_int_equal(r1.records[i].value_len, r2.records[i].value_len);
            assert_int_equal(r1.records[i].key_len, r2.records[i].key_len);
            assert_int_equal(r1.records[i].timestamp_ms, r2.records[i].timestamp_ms);
            if (r1.records[i].value_len)
                assert_memory_equal(r1.records[i].value, r2.records[i].value,
                                    r1.records[i].value_len);
            if (r1.records[i].key_len)
                assert_memory_equal(r1.records[i].key, r2.records[i].key, r1.records[i].key_len);
        }
    }
    /* The routing hint agrees with a successful decode. */
    if (rc1 == 0)
        assert_int_equal(sl_codec_is_produce(b, len), r1.type == SL_REQ_PRODUCE);
    sl_arena_destroy(&a1);
    sl_arena_destroy(&a2);
}

static void test_fast_produce_matches_protobuf_c(void **state)
{
    (void)state;
    Seglog__V1__Record recs[3] = {SEGLOG__V1__RECORD__INIT, SEGLOG__V1__RECORD__INIT,
                                  SEGLOG__V1__RECORD__INIT};
    recs[0].value.data = (uint8_t *)"hello";
    recs[0].value.len = 5;
    recs[1].key.data = (uint8_t *)"k";
    recs[1].key.len = 1;
    recs[1].timestamp_ms = 1700000000000ull;
    recs[2].value.data = (uint8_t *)"v";
    recs[2].value.len = 1;
    recs[2].offset = 77; /* ignored by both */
    Seglog__V1__Record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    Seglog__V1__Request r = SEGLOG__V1__REQUEST__INIT;
    r.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    r.produce = &p;
    p.records = ptrs;
    const char *topics[] = {"", "orders", "a.b-c_d", "bad name", "\xff\xfe"};
    for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
        for (size_t n = 0; n <= 3; n++) {
            p.topic = (char *)topics[t];
            p.n_records = n;
            r.id = t * 10 + n;
            p.producer_id = n == 2 ? 5 : 0;
            p.sequence = n == 3 ? (uint64_t)-1 : 0;
            size_t len;
            uint8_t *b = s_pack(&r, &len);
            s_same_decode(b, len);
            /* Every prefix: truncated input, on both paths. */
            for (size_t cut = 0; cut < len; cut++)
                s_same_decode(b, cut);
            /* Every single-byte change. */
            for (size_t i = 0; i < len; i++) {
                uint8_t keep = b[i];
                const uint8_t alts[] = {0x00, 0x01, 0x0a, 0x12, 0x1a, 0x80, 0xff};
                for (size_t k = 0; k < sizeof alts; k++) {
                    b[i] = alts[k];
                    s_same_decode(b, len);
                }
                b[i] = keep;
            }
            free(b);
        }
    }
    /* Forms the fast path leaves to protobuf-c: a repeated id (last wins),
     * a second produce body (merged), an unknown field, a consume after a
     * produce (the oneof takes the last). */
    const uint8_t twice_id[] = {0x08, 0x01, 0x08, 0x02, 0x12, 0x05, 0x12, 0x03, 0x0a, 0x01, 0x78};
    const uint8_t merged[] = {0x12, 0x03, 0x0a, 0x01, 0x74, 0x12,
                              0x05, 0x12, 0x03, 0x0a, 0x01, 0x78};
    const uint8_t unknown[] = {0x12, 0x07, 0x12, 0x03, 0x0a, 0x01, 0x78, 0x48, 0x01};
    const uint8_t then_consume[] = {0x12, 0x05, 0x12, 0x03, 0x0a, 0x01,
                                    0x78, 0x1a, 0x03, 0x0a, 0x01, 0x74};
    const uint8_t fixed64_id[] = {0x09, 1,    2,    3,    4,    5,    6,    7,
                                  8,    0x12, 0x05, 0x12, 0x03, 0x0a, 0x01, 0x78};
    s_same_decode(twice_id, sizeof twice_id);
    s_same_decode(merged, sizeof merged);
    s_same_decode(unknown, sizeof unknown);
    s_same_decode(then_consume, sizeof then_consume);
    s_same_decode(fixed64_id, sizeof fixed64_id);
    /* An unknown group, and a length or a tag spelled in more than 5
     * bytes: protobuf-c's call, whatever it is. */
    const uint8_t group[] = {0x12, 0x05, 0x12, 0x03, 0x0a, 0x01, 0x78, 0x4b, 0x08, 0x01, 0x4c};
    const uint8_t long_len[] = {0x12, 0x85, 0x80, 0x80, 0x80, 0x80,
                                0x00, 0x12, 0x03, 0x0a, 0x01, 0x78};
    const uint8_t long_tag[] = {0x92, 0x80, 0x80, 0x80, 0x80, 0x00,
                                0x05, 0x12, 0x03, 0x0a, 0x01, 0x78};
    const uint8_t fixed32_after[] = {0x12, 0x05, 0x12, 0x03, 0x0a, 0x01,
                                     0x78, 0x4d, 0x01, 0x02, 0x03, 0x04};
    s_same_decode(group, sizeof group);
    s_same_decode(long_len, sizeof long_len);
    s_same_decode(long_tag, sizeof long_tag);
    s_same_decode(fixed32_after, sizeof fixed32_after);
    assert_int_equal(sl_codec_is_produce(fixed32_after, sizeof fixed32_after), 1);
    assert_int_equal(sl_codec_is_produce(then_consume, sizeof then_consume), 0);
    assert_int_equal(sl_codec_is_produce(merged, sizeof merged), 1);
    /* Two bodies are protobuf-c's call (it keeps the last one whole, so
     * the topic of the first is gone): the fast path must not decide. */
    sl_arena_t *a = s_arena(1 << 20);
    sl_request_t req;
    const char *why = NULL;
    assert_int_equal(sl_codec_decode_request(a, merged, sizeof merged, &req, &why), 0);
    assert_string_equal(req.topic, "");
    assert_int_equal(req.nrecords, 1);
    sl_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_is_bad_request),
        cmocka_unit_test(test_empty_and_missing_body),
        cmocka_unit_test(test_produce_counts),
        cmocka_unit_test(test_arena_limits_decoding),
        cmocka_unit_test(test_topic_with_nul),
        cmocka_unit_test(test_admin_requests),
        cmocka_unit_test(test_consume_clamps),
        cmocka_unit_test(test_consume_response_roundtrip),
        cmocka_unit_test(test_event_encodings),
        cmocka_unit_test(test_small_responses),
        cmocka_unit_test(test_produce_response_bytes),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_fast_produce_matches_protobuf_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
