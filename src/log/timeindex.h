/* timeindex.h - a segment's sparse time index (<base>.timeindex, Kafka's
 * .timeindex idea; docs/FORMAT.md).
 *
 * An entry (ts, rel) says: the record at relative offset rel raised the
 * segment's running maximum timestamp to ts, so every record before it
 * has a timestamp <= ts... below ts or equal. Entries are a subset of
 * those raise points, in increasing order of both fields; one entry with
 * rel equal to the segment's record count (the seal marker) may end a
 * sealed segment's index and gives its maximum timestamp. Any subset is
 * correct for a lookup (segment_time.c scans the records between
 * entries), so the index is a cache: entries past the store's records
 * are dropped on open, missing ones are rebuilt, and a failed write only
 * leaves one out.
 *
 * File: 16-byte entries, u64 ts | u32 rel | u32 crc32c(first 12 bytes).
 * Owns: its descriptor and an in-memory copy of the entries.
 * Threads: none of its own; the log serialises every call (append_mu).
 */
#ifndef SL_TIMEINDEX_H
#define SL_TIMEINDEX_H

#include "seglog/log.h"

#include <stddef.h>
#include <stdint.h>

#define SL_TIME_ENTRY_LEN 16u

typedef struct sl_tentry {
    uint64_t ts;
    uint32_t rel;
} sl_tentry_t;

typedef struct sl_tindex sl_tindex_t;

/* Open (create if missing; emptied with truncate) and load the longest
 * prefix of entries whose CRC verifies and that increase in both fields.
 * *existed says whether the file was there before. */
int sl_tindex_open(const seglog_vfs_t *vfs, const char *path, int truncate, int *existed,
                   sl_tindex_t **out);

size_t sl_tindex_count(const sl_tindex_t *x);
const sl_tentry_t *sl_tindex_at(const sl_tindex_t *x, size_t i);

/* Drop the entries with rel > count, and the one at count unless
 * keep_marker; cut the file to match. */
int sl_tindex_trim(sl_tindex_t *x, uint32_t count, int keep_marker);

/* Append an entry (ts and rel above the last entry's): in memory, and
 * written to the file (not synced). On a write error the entry is left
 * out and the error returned. */
int sl_tindex_add(sl_tindex_t *x, uint64_t ts, uint32_t rel);

/* The index of the last entry with ts < t, or -1 if there is none. */
long sl_tindex_below(const sl_tindex_t *x, uint64_t t);

int sl_tindex_sync(sl_tindex_t *x);

/* Optionally fdatasync, close and free. */
int sl_tindex_close(sl_tindex_t **x_p, int sync);

#endif
