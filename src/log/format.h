/* format.h - the on-disk byte layout (docs/FORMAT.md is the prose). All
 * integers are little-endian.
 *
 * Store file:  [header 32 B][frame][frame]...
 *   header:  u32 magic "SGLG" | u16 version | u16 header_len | u64 base_offset
 *            | u64 epoch | u32 reserved (0) | u32 crc32c(bytes 0..27)
 *   frame:   u32 len_flags | u32 crc32c(len_flags bytes, payload) | payload
 *            len_flags bit 31 set = last record of its batch; bits 0..30 =
 *            payload length.
 * Index file:  entry i = u32 relative offset (== i) | u32 store position. */
#ifndef SL_FORMAT_H
#define SL_FORMAT_H

#include <stdint.h>
#include <string.h>

#define SL_STORE_MAGIC      0x474c4753u /* "SGLG" read as LE u32 */
#define SL_STORE_VERSION    1u
#define SL_STORE_HEADER_LEN 32u
#define SL_FRAME_HEADER_LEN 8u
#define SL_FRAME_END        0x80000000u
#define SL_FRAME_LEN_MASK   0x7fffffffu
#define SL_INDEX_ENTRY_LEN  8u
#define SL_MAX_RECORD_LIMIT (256u << 20)
#define SL_MAX_STORE_LIMIT  0xffffffffull

#define SL_CLEAN_MARKER ".clean_shutdown"

/* The truncate_after intent record (docs/FORMAT.md), 52 bytes:
 *   u32 magic "SGCT" | u32 version (1) | u64 offset | u64 segment base
 *   | u64 cut position | u64 fix position (0: none) | 8 bytes: the new
 *   frame header at the fix position | u32 crc32c(bytes 0..47) */
#define SL_CUT_MARKER  ".truncate_after"
#define SL_CUT_TMP     ".truncate_after.tmp"
#define SL_CUT_MAGIC   0x54434753u /* "SGCT" */
#define SL_CUT_VERSION 1u
#define SL_CUT_LEN     52u

static inline uint32_t sl_get32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v; /* little-endian hosts only; checked in store.c */
}

static inline uint64_t sl_get64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void sl_put32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void sl_put64(void *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

#endif
