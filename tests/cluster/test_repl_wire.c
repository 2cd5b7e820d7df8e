/* test_repl_wire.c - the leader epochs of stored records and the end of an
 * epoch in a real log (the KIP-101 answer), without ZooKeeper. */
#include "codec.h"
#include "repl_int.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static size_t s_stored(uint64_t epoch, const char *value, uint8_t *out)
{
    sl_record_t r = {.value = (const uint8_t *)value, .value_len = strlen(value),
                     .timestamp_ms = 1700000000000ull, .leader_epoch = epoch};
    assert_true(sl_codec_stored_size(&r) < 64);
    return sl_codec_stored_write(&r, out);
}

static void test_stored_epoch(void **state)
{
    (void)state;
    uint8_t b[64];
    for (uint64_t e = 0; e < 70000; e = e * 3 + 1) {
        size_t n = s_stored(e, "v", b);
        assert_int_equal(sl_repl_stored_epoch(b, n), e);
    }
    /* epoch 0 is absent: the standalone bytes, unchanged */
    size_t n0 = s_stored(0, "abc", b);
    sl_record_t r = {.value = (const uint8_t *)"abc", .value_len = 3,
                     .timestamp_ms = 1700000000000ull};
    assert_int_equal(n0, sl_codec_stored_size(&r));
    /* hostile bytes: truncated varints and lengths, unknown wire types */
    const uint8_t bad[][6] = {{0x28}, {0x28, 0x80}, {0x0a, 0x7f}, {0x0f, 0x01}, {0xff, 0xff},
                              {0x29, 1, 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t n = 0; n <= sizeof bad[i]; n++)
            (void)sl_repl_stored_epoch(bad[i], n);
    const uint8_t last[] = {0x28, 0x03, 0x28, 0x07}; /* last one wins */
    assert_int_equal(sl_repl_stored_epoch(last, sizeof last), 7);
}

static void test_epoch_end(void **state)
{
    (void)state;
    char *dir = tu_tempdir("repl_wire");
    seglog_log_t *log = NULL;
    assert_int_equal(seglog_log_open(dir, NULL, &log), 0);
    uint64_t end = 99;
    assert_int_equal(sl_repl_epoch_end(log, 1, &end), 0);
    assert_int_equal(end, 0); /* empty */
    const uint64_t epochs[] = {0, 0, 1, 1, 1, 3, 3, 5};
    for (size_t i = 0; i < 8; i++) {
        uint8_t b[64];
        size_t n = s_stored(epochs[i], "x", b);
        assert_int_equal(seglog_log_append(log, b, n, NULL), 0);
    }
    const uint64_t want[][2] = {{0, 2}, {1, 5}, {2, 5}, {3, 7}, {4, 7}, {5, 8}, {9, 8}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(sl_repl_epoch_end(log, want[i][0], &end), 0);
        assert_int_equal(end, want[i][1]);
    }
    uint64_t e = 0;
    assert_int_equal(sl_repl_epoch_at(log, 5, &e), 0);
    assert_int_equal(e, 3);
    assert_int_not_equal(sl_repl_epoch_at(log, 8, &e), 0);
    /* after a cut, the end of the cut epoch is the new log end */
    assert_int_equal(seglog_log_truncate_after(log, 6), 0);
    assert_int_equal(sl_repl_epoch_end(log, 3, &end), 0);
    assert_int_equal(end, 6);
    seglog_log_destroy(&log);
    tu_rmrf(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored_epoch),
        cmocka_unit_test(test_epoch_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
