/* index.h - a dense, memory-mapped index: entry i maps relative offset i
 * to the store position of its frame.
 *
 * Owns: the file descriptor and the mapping. While open for appends the
 * file is grown to capacity (and its blocks reserved with fallocate, so a
 * write through the map cannot SIGBUS on a full disk); close cuts it back
 * to its real length.
 * Threads: one writer (serialised by the log). Readers use entries below
 * sl_index_count(), which is published with release/acquire ordering. */
#ifndef SL_INDEX_H
#define SL_INDEX_H

#include "seglog/log.h"

#include <stdint.h>

typedef struct sl_index sl_index_t;

/* Open (create if missing, or emptied if truncate) path with room for
 * capacity entries. Entries found in the file are not trusted: count
 * starts at 0, and sl_index_file_entries() says how many slots the file
 * held. The caller validates and calls sl_index_set_count(). */
int sl_index_open(const seglog_vfs_t *vfs, const char *path, uint32_t capacity, int truncate,
                  sl_index_t **out);

uint32_t sl_index_capacity(const sl_index_t *x);
uint32_t sl_index_file_entries(const sl_index_t *x);

/* Entries published to readers. */
uint32_t sl_index_count(const sl_index_t *x);

/* How many leading slots hold structurally valid entries (relative offset
 * equal to the slot, positions strictly increasing, at or past min_pos and
 * below store_size). */
uint32_t sl_index_valid_prefix(const sl_index_t *x, uint32_t limit, uint32_t min_pos,
                               uint64_t store_size);

/* Write entry `rel` (must equal count + k for a pending batch) without
 * publishing it. */
void sl_index_put(sl_index_t *x, uint32_t rel, uint32_t pos);

/* Publish entries [0, count); zeroes the slots at and past count when it
 * shrinks. */
void sl_index_set_count(sl_index_t *x, uint32_t count);

/* Position of entry rel, or SEGLOG_E_OFFSET_OUT_OF_RANGE if rel >= count. */
int sl_index_read(const sl_index_t *x, uint32_t rel, uint32_t *pos);

/* Raw slot content (for recovery and tests); rel < file entries or capacity. */
int sl_index_slot(const sl_index_t *x, uint32_t rel, uint32_t *rel_out, uint32_t *pos_out);

/* Remap with room for capacity entries (recovery, and truncate_after
 * making a sealed segment active; no concurrent readers). On failure the
 * old mapping is restored; if that fails too, sl_index_capacity() is 0. */
int sl_index_grow(sl_index_t *x, uint32_t capacity);

/* Cut file and mapping to count entries, for a sealed segment. The caller
 * excludes readers. */
int sl_index_shrink(sl_index_t *x);

/* msync the written entries. */
int sl_index_sync(sl_index_t *x);

/* msync the written entries, then fdatasync the file through the VFS: the
 * entries are on disk when this returns. */
int sl_index_datasync(sl_index_t *x);

/* Unmap, cut the file to count entries, optionally fsync, close, free. */
int sl_index_close(sl_index_t **x_p, int sync);

#endif
