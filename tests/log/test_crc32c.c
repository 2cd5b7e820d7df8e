/* test_crc32c.c - CRC32C: published vectors, incremental use, and the
 * hardware path agreeing with the table path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"

/* RFC 3720 (iSCSI) appendix B.4 and the common check value. */
static void vectors(void **state)
{
    (void)state;
    uint8_t buf[48];
    assert_int_equal(sl_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sl_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sl_crc32c(0, "", 0), 0u);
    assert_int_equal(sl_crc32c(0, "a", 1), 0xC1D04330u);

    memset(buf, 0, 32);
    assert_int_equal(sl_crc32c(0, buf, 32), 0x8A9136AAu);
    assert_int_equal(sl_crc32c_sw(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    assert_int_equal(sl_crc32c(0, buf, 32), 0x62A8AB43u);
    assert_int_equal(sl_crc32c_sw(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(sl_crc32c(0, buf, 32), 0x46DD794Eu);
    assert_int_equal(sl_crc32c_sw(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(sl_crc32c(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(sl_crc32c_sw(0, buf, 32), 0x113FDB5Cu);

    /* An iSCSI SCSI Read (10) command PDU. */
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    assert_int_equal(sl_crc32c(0, pdu, sizeof pdu), 0xD9963A56u);
    assert_int_equal(sl_crc32c_sw(0, pdu, sizeof pdu), 0xD9963A56u);
}

/* crc(a ++ b) == crc(crc(a), b) for every split point. */
static void incremental(void **state)
{
    (void)state;
    uint8_t buf[100];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = sl_crc32c(0, buf, sizeof buf);
    assert_int_equal(whole, sl_crc32c_sw(0, buf, sizeof buf));
    for (size_t k = 0; k <= sizeof buf; k++) {
        assert_int_equal(sl_crc32c(sl_crc32c(0, buf, k), buf + k, sizeof buf - k), whole);
        assert_int_equal(sl_crc32c_sw(sl_crc32c_sw(0, buf, k), buf + k, sizeof buf - k), whole);
    }
}

/* One flipped bit anywhere changes the checksum. */
static void detects_bit_flips(void **state)
{
    (void)state;
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 13);
    uint32_t good = sl_crc32c(0, buf, sizeof buf);
    for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(sl_crc32c(0, buf, sizeof buf), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

/* The dispatching function (SSE4.2 when present) and the table path agree
 * over random contents, lengths, alignments and starting values. Lengths
 * reach past 3 x 2048 bytes, where the hardware path interleaves three
 * streams, and hit the edges of its block sizes exactly. */
static void hw_matches_sw(void **state)
{
    (void)state;
    enum { MAX = 20000 };
    uint8_t *buf = malloc(MAX + 16);
    assert_non_null(buf);
    for (size_t i = 0; i < MAX + 16; i++)
        buf[i] = (uint8_t)s_rand();
    static const size_t edges[] = {0,    1,    7,    8,          9,     255,   256,
                                   257,  767,  768,  769,        2047,  2048,  2049,
                                   6143, 6144, 6145, 6144 + 768, 12288, 12289, MAX};
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        for (size_t align = 0; align < 8; align++) {
            uint32_t seed = (uint32_t)s_rand();
            assert_int_equal(sl_crc32c(0, buf + align, edges[e]),
                             sl_crc32c_sw(0, buf + align, edges[e]));
            assert_int_equal(sl_crc32c(seed, buf + align, edges[e]),
                             sl_crc32c_sw(seed, buf + align, edges[e]));
        }
    for (int round = 0; round < 3000; round++) {
        size_t align = s_rand() % 16;
        size_t len = round < 64 ? (size_t)round : s_rand() % MAX;
        uint32_t seed = round % 3 == 0 ? 0 : (uint32_t)s_rand();
        assert_int_equal(sl_crc32c(seed, buf + align, len), sl_crc32c_sw(seed, buf + align, len));
    }
    /* A long buffer checked in pieces equals the whole. */
    uint32_t whole = sl_crc32c(0, buf, MAX), part = 0;
    for (size_t off = 0; off < MAX;) {
        size_t n = 1 + s_rand() % 9000;
        if (n > MAX - off)
            n = MAX - off;
        part = sl_crc32c(part, buf + off, n);
        off += n;
    }
    assert_int_equal(part, whole);
    free(buf);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors),
        cmocka_unit_test(incremental),
        cmocka_unit_test(detects_bit_flips),
        cmocka_unit_test(hw_matches_sw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
