/* crc32c.c - CRC32C with a hardware path (SSE4.2) and a table fallback. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t s_table[8][256];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_have_hw;

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
__attribute__((target("sse4.2"))) static uint32_t s_crc32c_hw(uint32_t crc, const void *buf,
                                                              size_t n)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
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
