/* epochs.h - the leader epoch cache of a log (Kafka's
 * leader-epoch-checkpoint): a short list of (epoch, start offset), both
 * strictly increasing, kept in memory and in <dir>/.leader_epochs.
 *
 * The file is replaced whole: temporary file, fdatasync, rename, directory
 * fsync, so a crash leaves the old list or the new one. Layout (little-
 * endian): u32 magic "SGLE" | u32 version (1) | u32 count | u32 reserved (0)
 * | count x (u64 epoch, u64 start offset) | u32 crc32c of all before it.
 *
 * Owns: the entry array. Threads: the log serialises every call (its append
 * mutex). The log core does not interpret epochs. */
#ifndef SL_EPOCHS_H
#define SL_EPOCHS_H

#include "seglog/log.h"

#include <stddef.h>
#include <stdint.h>

#define SL_EPOCHS_FILE ".leader_epochs"
#define SL_EPOCHS_TMP  ".leader_epochs.tmp"

typedef struct {
    uint64_t epoch, start;
} sl_epoch_entry_t;

typedef struct {
    sl_epoch_entry_t *e;
    size_t n, cap;
} sl_epochs_t;

/* Load dir's file (none: empty), deleting a leftover temporary file.
 * SEGLOG_E_CORRUPT for a damaged file. */
int sl_epochs_load(const seglog_vfs_t *vfs, const char *dir, sl_epochs_t *ep);

/* Replace dir's file with ep (an empty ep deletes it). */
int sl_epochs_store(const seglog_vfs_t *vfs, const char *dir, const sl_epochs_t *ep);

/* Drop the entries that start at or past next (truncate_after, open).
 * Returns 1 if any was dropped. */
int sl_epochs_trim_end(sl_epochs_t *ep, uint64_t next);

/* The last entry that starts below lowest starts at lowest instead, and
 * those before it go (front truncation). Returns 1 if anything changed. */
int sl_epochs_trim_front(sl_epochs_t *ep, uint64_t lowest);

/* Append (epoch, start); on error ep is unchanged. */
int sl_epochs_push(sl_epochs_t *ep, uint64_t epoch, uint64_t start);

void sl_epochs_free(sl_epochs_t *ep);

#endif
