/* test_client_codec.c - the client's hand-written produce encoding and
 * produce-reply decoding against protobuf-c (the reference): the bytes
 * must be identical, and so must the decoded replies. */
#include "codec.h"

#include "seglog/v1/seglog.pb-c.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void s_same_encoding(const slc_request_t *req)
{
    slc_arena_t *a = slc_arena_new();
    assert_non_null(a);
    zmq_msg_t fast, ref;
    assert_int_equal(slc_codec_encode(req, a, &fast), 0);
    assert_int_equal(slc_codec_encode_pb(req, a, &ref), 0);
    assert_int_equal(zmq_msg_size(&fast), zmq_msg_size(&ref));
    assert_memory_equal(zmq_msg_data(&fast), zmq_msg_data(&ref), zmq_msg_size(&ref));
    zmq_msg_close(&fast);
    zmq_msg_close(&ref);
    slc_arena_destroy(&a);
}

static void test_produce_encoding_is_protobuf_c_s(void **state)
{
    (void)state;
    static uint8_t big[70000];
    memset(big, 'b', sizeof big);
    seglog_record_t recs[4] = {
        {.value = (const uint8_t *)"hello", .value_len = 5},
        {.key = (const uint8_t *)"key", .key_len = 3, .timestamp_ms = 1700000000123ull},
        {.value = big, .value_len = sizeof big, .key = big, .key_len = 200},
        {0}, /* empty record: no fields at all */
    };
    const char *topics[] = {NULL, "", "t", "a-much-longer.topic_name"};
    const uint64_t ids[] = {0, 1, 127, 128, 300, (uint64_t)-1};
    for (size_t t = 0; t < 4; t++)
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            for (size_t n = 0; n <= 4; n++) {
                slc_request_t req = {.id = ids[i],
                                     .kind = SLC_PRODUCE,
                                     .topic = topics[t],
                                     .records = recs,
                                     .nrecords = n};
                s_same_encoding(&req);
                req.records = recs + (4 - n); /* other subsets */
                s_same_encoding(&req);
                /* idempotent: producer id and sequence (0 is not encoded) */
                req.producer_id = ids[(i + 1) % 6] ? ids[(i + 1) % 6] : 7;
                req.sequence = ids[(i + n) % 6];
                s_same_encoding(&req);
            }
}

static void s_same_decoding(const uint8_t *b, size_t len)
{
    slc_arena_t *a = slc_arena_new();
    assert_non_null(a);
    slc_response_t r1, r2;
    int rc1 = slc_codec_decode_response(a, b, len, &r1);
    int rc2 = slc_codec_decode_response_pb(a, b, len, &r2);
    assert_int_equal(rc1, rc2);
    if (rc1 == 0) {
        assert_int_equal(r1.id, r2.id);
        assert_int_equal(r1.kind, r2.kind);
        assert_int_equal(r1.offset, r2.offset);
        assert_int_equal(r1.count, r2.count);
        assert_int_equal(r1.err, r2.err);
    }
    slc_arena_destroy(&a);
}

static void test_produce_reply_decoding_is_protobuf_c_s(void **state)
{
    (void)state;
    Seglog__V1__ProduceResponse pr = SEGLOG__V1__PRODUCE_RESPONSE__INIT;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_PRODUCE;
    r.produce = &pr;
    const uint64_t vals[] = {0, 1, 300, 1ull << 40};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
            r.id = vals[i];
            pr.offset = vals[j];
            pr.count = (uint32_t)vals[(i + j) % 3];
            uint8_t b[64];
            size_t len = seglog__v1__response__pack(&r, b);
            s_same_decoding(b, len);
            for (size_t cut = 0; cut < len; cut++)
                s_same_decoding(b, cut);
            for (size_t k = 0; k < len; k++) {
                uint8_t keep = b[k];
                const uint8_t alts[] = {0x00, 0x08, 0x10, 0x12, 0x80, 0xff};
                for (size_t m = 0; m < sizeof alts; m++) {
                    b[k] = alts[m];
                    s_same_decoding(b, len);
                }
                b[k] = keep;
            }
        }
    /* A count above 32 bits and a trailing unknown field: protobuf-c's call. */
    const uint8_t wide[] = {0x12, 0x07, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t extra[] = {0x12, 0x02, 0x08, 0x05, 0x48, 0x01};
    s_same_decoding(wide, sizeof wide);
    s_same_decoding(extra, sizeof extra);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_encoding_is_protobuf_c_s),
        cmocka_unit_test(test_produce_reply_decoding_is_protobuf_c_s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
