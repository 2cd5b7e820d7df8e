/* crc32c.c - CRC32C with a hardware path (SSE4.2) and a table fallback.
 *
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1, so
 * one dependent chain runs at a third of its speed. For long inputs the
 * hardware path runs three chains over three adjacent blocks and joins
 * them with a "shift by n zero bytes" table (the CRC is linear), as in
 * Mark Adler's crc32c.c. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* Castagnoli, reflected */

/* Block sizes of the three-chain loop: 3 x LONG, then 3 x SHORT. */
#define LONG  2048u
#define SHORT 256u

static uint32_t s_table[8][256];
static uint32_t s_long[4][256];  /* shift a CRC over LONG zero bytes */
static uint32_t s_short[4][256]; /* ... over SHORT zero bytes */
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_have_hw;

/* GF(2) 32x32 matrix times vector: the columns set in vec, xored. */
static uint32_t s_gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void s_gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = s_gf2_times(mat, mat[n]);
}

/* Fill zeros[][] so that s_shift(zeros, crc) extends a (pre-inverted) CRC
 * register over len zero bytes; len is a power of two. */
static void s_zeros_table(uint32_t zeros[4][256], size_t len)
{
    uint32_t odd[32], even[32];
    odd[0] = POLY; /* the operator for one zero bit */
    for (int n = 1; n < 32; n++)
        odd[n] = 1u << (n - 1);
    s_gf2_square(even, odd); /* two zero bits */
    s_gf2_square(odd, even); /* four */
    /* Square until odd covers 8 * len bits: four bits so far, len * 8 wanted. */
    for (size_t bits = 4; bits < len * 8; bits *= 2) {
        s_gf2_square(even, odd);
        memcpy(odd, even, sizeof odd);
    }
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = s_gf2_times(odd, n);
        zeros[1][n] = s_gf2_times(odd, n << 8);
        zeros[2][n] = s_gf2_times(odd, n << 16);
        zeros[3][n] = s_gf2_times(odd, n << 24);
    }
}

static inline uint32_t s_shift(const uint32_t zeros[4][256], uint32_t crc)
{
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^
           zeros[3][crc >> 24];
}

static void s_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        s_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = s_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = s_table[0][c & 0xff] ^ (c >> 8);
            s_table[k][n] = c;
        }
    }
    s_zeros_table(s_long, LONG);
    s_zeros_table(s_short, SHORT);
#if defined(__x86_64__)
    __builtin_cpu_init();
    s_have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t sl_crc32c_sw(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&s_once, s_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* little-endian host assumed (x86_64, aarch64) */
        w ^= crc;
        crc = s_table[7][w & 0xff] ^ s_table[6][(w >> 8) & 0xff] ^ s_table[5][(w >> 16) & 0xff] ^
              s_table[4][(w >> 24) & 0xff] ^ s_table[3][(w >> 32) & 0xff] ^
              s_table[2][(w >> 40) & 0xff] ^ s_table[1][(w >> 48) & 0xff] ^ s_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = s_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
/* Three chains over blocks of `block` bytes while 3 blocks remain. */
#define S_THREE_CHAINS(block, zeros)                                                               \
    while (n >= 3 * (block)) {                                                                     \
        uint64_t c1 = 0, c2 = 0;                                                                   \
        const uint8_t *end = p + (block);                                                          \
        do {                                                                                       \
            uint64_t w0, w1, w2;                                                                   \
            memcpy(&w0, p, 8);                                                                     \
            memcpy(&w1, p + (block), 8);                                                           \
            memcpy(&w2, p + 2 * (block), 8);                                                       \
            c = __builtin_ia32_crc32di(c, w0);                                                     \
            c1 = __builtin_ia32_crc32di(c1, w1);                                                   \
            c2 = __builtin_ia32_crc32di(c2, w2);                                                   \
            p += 8;                                                                                \
        } while (p < end);                                                                         \
        c = s_shift(zeros, (uint32_t)c) ^ c1;                                                      \
        c = s_shift(zeros, (uint32_t)c) ^ c2;                                                      \
        p += 2 * (block);                                                                          \
        n -= 3 * (block);                                                                          \
    }

__attribute__((target("sse4.2"))) static uint32_t s_crc32c_hw(uint32_t crc, const void *buf,
                                                              size_t n)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    S_THREE_CHAINS(LONG, s_long)
    S_THREE_CHAINS(SHORT, s_short)
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t sl_crc32c(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&s_once, s_init);
#if defined(__x86_64__)
    if (s_have_hw)
        return s_crc32c_hw(crc, buf, n);
#endif
    return sl_crc32c_sw(crc, buf, n);
}
