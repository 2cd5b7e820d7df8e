/* segment.h - one store plus one index, covering offsets [base, next).
 *
 * Files: <dir>/<base as 20 digits>.store and .index.
 * Owns: its store and index, and their paths.
 * Threads: as store.h and index.h. The log serialises appends, rollback,
 * seal and close, and excludes readers during seal and close. next is
 * base + the index's published count, so a reader that sees an offset
 * below next also sees its index entry and its bytes. */
#ifndef SL_SEGMENT_H
#define SL_SEGMENT_H

#include "index.h"
#include "store.h"
#include "timeindex.h"

typedef struct sl_seg_config {
    const seglog_vfs_t *vfs;
    uint64_t max_store_bytes;
    uint32_t index_capacity;
    uint32_t max_record_bytes;
    uint32_t write_buffer_bytes;
    void (*log_fn)(void *arg, int level, const char *msg);
    void *log_arg;
    /* The time index (segment_time.c); none without timestamp_fn. */
    uint64_t (*timestamp_fn)(void *arg, const void *rec, size_t len);
    void *timestamp_arg;
    uint32_t time_interval; /* store bytes at least between two time entries */
} sl_seg_config_t;

typedef struct sl_segment {
    uint64_t base;
    /* For a sealed segment whose store is damaged past its last intact
     * record: offsets in [next, limit) exist (the next segment starts at
     * limit) but cannot be read. Equal to next when there is no damage. */
    uint64_t limit;
    uint64_t max_store_bytes;
    const seglog_vfs_t *vfs;
    sl_store_t *store;
    sl_index_t *index;
    char *store_path;
    char *index_path;
    char *time_path;
    const sl_seg_config_t *cfg; /* the log's; outlives the segment */
    /* Time index: NULL without a timestamp_fn. ts_max is the greatest
     * timestamp of the records (once ts_seen), ts_since the bytes stored
     * since the last entry; ts_ok is 0 after a rebuild failed (no more
     * entries: lookups scan). Under the log's append_mu. */
    sl_tindex_t *tindex;
    uint64_t ts_max, ts_since;
    int ts_seen, ts_ok;
} sl_segment_t;

/* Build "<dir>/<20-digit base><ext>" into a malloc'ed string. */
char *sl_segment_path(const char *dir, uint64_t base, const char *ext);

/* Create a new, empty segment (overwriting any files of that name). */
int sl_segment_create(const char *dir, uint64_t base, uint64_t epoch, const sl_seg_config_t *c,
                      sl_segment_t **out);

/* Open an existing segment, recovering it as docs/FORMAT.md says.
 * active: the last segment (its torn tail is cut; its index is kept at
 * capacity). clean: the clean-shutdown marker was found. epoch_hint is
 * used if an empty active store must be re-initialised. */
int sl_segment_open(const char *dir, uint64_t base, const sl_seg_config_t *c, int active, int clean,
                    uint64_t epoch_hint, seglog_recovery_t *rec, sl_segment_t **out);

uint64_t sl_segment_next(const sl_segment_t *s);
uint64_t sl_segment_epoch(const sl_segment_t *s);

/* 1 if n records of these sizes fit in the remaining space, else 0. */
int sl_segment_fits(const sl_segment_t *s, const struct iovec *recs, size_t n);

/* Append a batch; publishes the new entries only when all are written. */
int sl_segment_append(sl_segment_t *s, const struct iovec *recs, size_t n, uint64_t *first);

/* The same with ready, checked frames (nbytes of them); recs are their
 * payloads (for the index positions and the time index). */
int sl_segment_append_frames(sl_segment_t *s, const void *frames, size_t nbytes,
                             const struct iovec *recs, size_t n, uint64_t *first);

/* Store position and (if known, else 0) frame length of offset. */
int sl_segment_locate(const sl_segment_t *s, uint64_t offset, uint64_t *pos, uint64_t *frame_len);

/* Read and verify the record at offset (which the caller has bounded). */
int sl_segment_read(sl_segment_t *s, uint64_t offset, void *buf, size_t cap, size_t *len);

/* Drop every record at or past next. */
int sl_segment_rollback(sl_segment_t *s, uint64_t next);

/* Make a sealed segment take appends again (truncate_after): map its
 * index at capacity. On failure the segment stays as it was, unless
 * sl_segment_usable() then says 0. */
int sl_segment_activate(sl_segment_t *s, uint32_t capacity);
int sl_segment_usable(const sl_segment_t *s);

/* How to cut the segment so that offset (in [base, next)) is its next
 * offset: *cut_pos gets the store size after the cut. If offset - 1 is in
 * the segment and its frame does not carry END (the cut falls inside a
 * batch), *fix_pos gets that frame's position and fix_hdr the frame header
 * with END set and its CRC recomputed; otherwise *fix_pos is 0. The frame
 * is verified first (SEGLOG_E_CORRUPT if it fails). The caller has flushed
 * the store. */
int sl_segment_cut_plan(sl_segment_t *s, uint64_t offset, uint64_t *cut_pos, uint64_t *fix_pos,
                        uint8_t fix_hdr[8]);

/* Make the segment sealed: flush, optionally sync, cut the index to its
 * real length. Readers must be excluded for the index part. */
int sl_segment_sync_data(sl_segment_t *s, int sync);
int sl_segment_seal(sl_segment_t *s);

/* Put the index entries on disk (a roll does this before the next segment
 * exists, so that a segment that is not the last has a durable index). */
int sl_segment_sync_index(sl_segment_t *s);

/* ---- the time index (segment_time.c) ---- */

/* Open the time index of a created (create: empty) or opened segment,
 * whose record count is final: drop entries past it, rebuild missing
 * ones from the records, and give a sealed segment its seal marker. */
int sl_segment_time_open(sl_segment_t *s, int create, int active);
/* Records first.. of a batch were appended (and published). */
void sl_segment_time_append(sl_segment_t *s, const struct iovec *recs, size_t n, uint32_t first);
/* The segment is being sealed: write its seal marker (best effort). */
void sl_segment_time_seal(sl_segment_t *s);
/* The record count went down (rollback, cut): drop and rebuild. */
int sl_segment_time_cut(sl_segment_t *s);
int sl_segment_time_sync(sl_segment_t *s);
/* The first record with timestamp >= t: 1 and *offset, 0 if none here,
 * or a read error. */
int sl_segment_time_find(sl_segment_t *s, uint64_t t, uint64_t *offset);

/* Flush, optionally sync, close the files and free. */
int sl_segment_close(sl_segment_t **s_p, int sync);

/* Close and delete both files. */
int sl_segment_remove(sl_segment_t **s_p);

#endif
