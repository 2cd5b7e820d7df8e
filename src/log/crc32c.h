/* crc32c.h - CRC32C (Castagnoli), the checksum of every stored record.
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once, at
 * first use), and a slicing-by-8 table otherwise. Thread-safe. */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Extend crc (start with 0) over n bytes of buf. */
uint32_t sl_crc32c(uint32_t crc, const void *buf, size_t n);

/* The software path alone, for tests that compare both. */
uint32_t sl_crc32c_sw(uint32_t crc, const void *buf, size_t n);

#endif
