/* test_metrics.c - metrics.h: histogram buckets at their bounds, the text
 * exposition of counters and histograms, the result code peeked from an
 * encoded Response (what seglog_requests_total is labelled by), and the
 * gateway's base64. */
#include "codec.h"
#include "http_impl.h"
#include "mem.h"
#include "metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_hist_buckets(void **state)
{
    (void)state;
    sl_metrics_t m;
    memset(&m, 0, sizeof m);
    sl_metrics_init(&m);
    sl_hist_t *h = &m.commit_records; /* bounds 1, 4, 16, ... 65536 */
    sl_hist_observe(h, 1);      /* le 1 (bounds are inclusive) */
    sl_hist_observe(h, 2);      /* le 4 */
    sl_hist_observe(h, 4);      /* le 4 */
    sl_hist_observe(h, 100000); /* +Inf */
    assert_int_equal(h->counts[0], 1);
    assert_int_equal(h->counts[1], 2);
    assert_int_equal(h->counts[h->nbounds], 1);
    assert_int_equal(h->sum, 100007);
    sl_buf_t b = {0};
    assert_int_equal(sl_prom_hist(&b, "x_records", "topic=\"t\"", h), 0);
    assert_int_equal(sl_buf_reserve(&b, 1), 0);
    b.data[b.len] = 0;
    const char *t = (const char *)b.data;
    assert_non_null(strstr(t, "x_records_bucket{topic=\"t\",le=\"1\"} 1\n"));
    assert_non_null(strstr(t, "x_records_bucket{topic=\"t\",le=\"4\"} 3\n")); /* cumulative */
    assert_non_null(strstr(t, "x_records_bucket{topic=\"t\",le=\"65536\"} 3\n"));
    assert_non_null(strstr(t, "x_records_bucket{topic=\"t\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(t, "x_records_sum{topic=\"t\"} 100007\n"));
    assert_non_null(strstr(t, "x_records_count{topic=\"t\"} 4\n"));
    sl_buf_free(&b);
}

static void test_latency_in_seconds(void **state)
{
    (void)state;
    sl_metrics_t m;
    memset(&m, 0, sizeof m);
    sl_metrics_init(&m);
    sl_metrics_request(&m, SL_REQ_PRODUCE, 0, 1500000);              /* 1.5 ms */
    sl_metrics_request(&m, SL_REQ_CONSUME, SL_WIRE_UNKNOWN_TOPIC, 10); /* 10 ns */
    sl_metrics_request(&m, 99, 99, 0); /* out of range: counted as invalid/INTERNAL */
    assert_int_equal(m.requests[SL_REQ_PRODUCE][0], 1);
    assert_int_equal(m.requests[SL_REQ_CONSUME][SL_WIRE_UNKNOWN_TOPIC], 1);
    assert_int_equal(m.requests[0][SL_WIRE_INTERNAL], 1);
    sl_buf_t b = {0};
    assert_int_equal(sl_prom_hist(&b, "lat_seconds", NULL, &m.produce_latency), 0);
    assert_int_equal(sl_buf_reserve(&b, 1), 0);
    b.data[b.len] = 0;
    const char *t = (const char *)b.data;
    assert_non_null(strstr(t, "lat_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(t, "lat_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(t, "lat_seconds_sum 0.0015\n"));
    assert_non_null(strstr(t, "lat_seconds_count 1\n"));
    sl_buf_free(&b);
    assert_string_equal(sl_metrics_code_name(SL_WIRE_NOT_LEADER), "NOT_LEADER");
    assert_string_equal(sl_metrics_type_name(SL_REQ_METADATA), "metadata");
    for (int t = 1; t <= SL_REQ_TOPIC_CONFIG; t++) /* every request type is exported */
        assert_non_null(sl_metrics_type_name(t));
    assert_string_equal(sl_metrics_code_name(SL_WIRE_OUT_OF_ORDER_SEQUENCE),
                        "OUT_OF_ORDER_SEQUENCE");
    assert_string_equal(sl_metrics_code_name(0), "ok");
    assert_null(sl_metrics_code_name(63));
}

static void test_peek_error(void **state)
{
    (void)state;
    sl_buf_t b = {0};
    assert_int_equal(sl_codec_encode_produce(&b, 300, 5, 2), 0);
    assert_int_equal(sl_codec_peek_error(b.data, b.len), 0);
    b.len = 0;
    assert_int_equal(sl_codec_encode_error(&b, 300, SL_WIRE_OFFSET_TRUNCATED, "gone"), 0);
    assert_int_equal(sl_codec_peek_error(b.data, b.len), SL_WIRE_OFFSET_TRUNCATED);
    b.len = 0;
    assert_int_equal(sl_codec_encode_error(&b, 0, SL_WIRE_NOT_LEADER, "elsewhere"), 0);
    assert_int_equal(sl_codec_peek_error(b.data, b.len), SL_WIRE_NOT_LEADER);
    assert_int_equal(sl_codec_peek_error(b.data, b.len - 1), 0); /* truncated: not scanned */
    assert_int_equal(sl_codec_peek_error(NULL, 0), 0);
    sl_buf_free(&b);
}

static void test_base64(void **state)
{
    (void)state;
    uint8_t all[256], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char enc[4 * ((256 + 2) / 3) + 1];
    for (size_t n = 0; n <= 5; n++) { /* every padding case */
        sl_b64_encode(all + 250, n, enc);
        assert_int_equal(strlen(enc), 4 * ((n + 2) / 3));
        assert_int_equal(sl_b64_decode(enc, strlen(enc), back), (long)n);
        assert_memory_equal(back, all + 250, n);
    }
    sl_b64_encode(all, 256, enc);
    assert_int_equal(sl_b64_decode(enc, strlen(enc), (uint8_t *)enc), 256); /* in place */
    assert_memory_equal(enc, all, 256);
    assert_int_equal(sl_b64_decode("AAE", 3, back), 2); /* padding optional */
    assert_int_equal(sl_b64_decode("A", 1, back), -1);
    assert_int_equal(sl_b64_decode("AA!A", 4, back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_latency_in_seconds),
        cmocka_unit_test(test_peek_error),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
