/*
 * seglog/log.h - the log core: a segmented, checksummed, crash-safe commit log.
 *
 * What it is
 *   A log is a directory of segments. Each segment is one store file (the
 *   records, framed with a length and a CRC32C) and one index file (a dense,
 *   memory-mapped table from relative offset to store position). Records get
 *   dense 64-bit offsets. The active (last) segment takes appends and rolls
 *   to a new segment *before* an append that would not fit. The byte layout
 *   and the recovery rules are in docs/FORMAT.md.
 *
 *   The log core does no networking and includes no ZeroMQ.
 *
 * Ownership
 *   seglog_log_open() returns a handle owned by the caller, freed by
 *   seglog_log_destroy(). seglog_log_close() and seglog_log_remove() release
 *   the files but keep the handle, so that any later call returns
 *   SEGLOG_E_CLOSED instead of crashing. An iterator is owned by its
 *   creator and must be destroyed before the log it reads.
 *
 * Errors
 *   Every function returns 0 on success, a negative SEGLOG_E_* code for a
 *   library error, or a positive errno value for a failed system call (for
 *   example ENOSPC or EIO). seglog_strerror() describes both.
 *
 * Thread rules (the locking contract)
 *   - A log handle may be shared by any number of threads.
 *   - Appends (single and batch) are serialised by one append mutex. Under
 *     SEGLOG_SYNC_ALWAYS the fdatasync happens outside that mutex: every
 *     appender waiting at that moment shares one sync (group commit).
 *   - Reads take a shared (read) lock on the segment list and never take
 *     the append mutex. A read from a sealed segment never waits for an
 *     append. A read of records still in the active segment's write buffer
 *     takes that buffer's short mutex to copy them out.
 *   - Structural changes (roll, truncate, truncate_after, reset, close,
 *     remove) take the segment list lock exclusively; they wait for
 *     in-flight reads. truncate_after and reset also take the append mutex.
 *   - An iterator belongs to one thread. It holds no lock between calls.
 *   - seglog_log_generation takes no lock (one atomic load).
 *   - The on_commit callback runs on whichever thread performed the sync
 *     (an appender, or the log's interval-sync thread). It must not call
 *     back into the same log.
 *
 * Caveats
 *   - A store file is limited to 4 GiB (positions are 32-bit), so
 *     max_store_bytes is capped at 4 GiB - 1.
 *   - Records are opaque bytes; the log neither compresses nor interprets
 *     them.
 *   - Only one handle may open a log directory at a time; open takes an
 *     advisory lock (flock) on the directory itself and fails with
 *     SEGLOG_E_LOCKED otherwise.
 *   - After seglog_log_truncate_after(log, x), offsets x and up are given
 *     out again: a reader holding an offset from before the cut may find
 *     another record there. Offsets alone do not name records across a
 *     cut; the caller that cuts (replication) must know why it may.
 *   - truncate_after fdatasyncs, writes an intent file and fsyncs the
 *     directory several times: it is an administrative operation, not a
 *     per-request one.
 */
#ifndef SEGLOG_LOG_H
#define SEGLOG_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Library error codes: negative. Positive values are errno values. */
enum {
    SEGLOG_OK = 0,
    SEGLOG_E_INVAL = -1,               /* bad argument */
    SEGLOG_E_NOMEM = -2,               /* out of memory */
    SEGLOG_E_CLOSED = -3,              /* the log was closed or removed */
    SEGLOG_E_OFFSET_TRUNCATED = -4,    /* offset below the lowest offset */
    SEGLOG_E_OFFSET_OUT_OF_RANGE = -5, /* offset at or past the next offset */
    SEGLOG_E_RECORD_TOO_LARGE = -6,    /* record larger than max_record_bytes */
    SEGLOG_E_BATCH_TOO_LARGE = -7,     /* batch cannot fit in an empty segment */
    SEGLOG_E_CORRUPT = -8,             /* CRC mismatch or damaged structure */
    SEGLOG_E_FORMAT = -9,              /* unknown file format or version */
    SEGLOG_E_BUFFER_TOO_SMALL = -10,   /* caller's buffer too small */
    SEGLOG_E_LOCKED = -11,             /* directory is opened by another process */
    SEGLOG_E_FAILED = -12,             /* a failed sync left unsynced data in doubt */
    SEGLOG_E_AGAIN = -13,              /* not yet (seglog_log_commit_check) */
    SEGLOG_E_CUT = -14,                /* append removed by truncate_after before its commit */
};

/* Describe an error returned by any seglog function (negative or errno). */
const char *seglog_strerror(int err);

/* The file I/O table. Every file operation of the log core goes through
 * it, so tests can inject EIO, ENOSPC, short writes and torn writes.
 * Each function returns what the POSIX call returns, except that errors are
 * returned as -errno instead of -1 with errno set. NULL in a config means
 * seglog_vfs_posix(). */
typedef struct seglog_vfs {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, mode_t mode);
    int (*close)(void *ctx, int fd);
    ssize_t (*preadv)(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off);
    ssize_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*fallocate)(void *ctx, int fd, off_t len); /* reserve [0,len) */
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*fsync_dir)(void *ctx, const char *dir);
    int (*fstat_size)(void *ctx, int fd, off_t *size);
} seglog_vfs_t;

/* The plain POSIX table. Static storage; never freed. */
const seglog_vfs_t *seglog_vfs_posix(void);

typedef enum {
    SEGLOG_SYNC_NONE = 0,     /* the OS decides when data reaches the disk */
    SEGLOG_SYNC_INTERVAL = 1, /* fdatasync every sync_interval_ms */
    SEGLOG_SYNC_ALWAYS = 2,   /* fdatasync before append returns */
} seglog_sync_t;

/* Log levels of the optional log callback. */
enum { SEGLOG_LEVEL_ERROR = 0, SEGLOG_LEVEL_WARN = 1, SEGLOG_LEVEL_INFO = 2 };

typedef struct seglog_config {
    uint64_t max_store_bytes;    /* roll before a store would exceed this; default 64 MiB */
    uint64_t max_index_bytes;    /* index capacity = floor(this / 8) entries; default 8 MiB */
    uint64_t initial_offset;     /* offset of the first record of a new or reset log */
    /* The lifetime id (seglog_log_epoch) of a new or reset log; 0 = a random
     * one. An existing log keeps the id it has. Replicas of one topic pass
     * the same id so that their files are byte-identical (docs/CLUSTER.md). */
    uint64_t log_id;
    uint32_t max_record_bytes;   /* default 1 MiB; at most 256 MiB */
    seglog_sync_t sync;          /* default SEGLOG_SYNC_INTERVAL */
    uint32_t sync_interval_ms;   /* default 1000 */
    uint32_t write_buffer_bytes; /* user-space write buffer; default 256 KiB */
    const seglog_vfs_t *vfs;     /* NULL: POSIX */
    /* Called after records reach the commit point of the sync policy:
     * committed_next is the offset just past the last committed record.
     * NONE commits at the write to the OS, INTERVAL at each periodic sync,
     * ALWAYS at each (group) sync. Optional. */
    void (*on_commit)(void *arg, uint64_t committed_next);
    void *on_commit_arg;
    /* Recovery actions, faults and warnings, as one line each. Optional. */
    void (*log_fn)(void *arg, int level, const char *msg);
    void *log_arg;
    /* The timestamp (ms since the epoch, or any unit that only grows) of
     * a stored record, as the caller encoded it; the log core does not
     * know the format. With it every segment keeps a time index
     * (<base>.timeindex, docs/FORMAT.md) for seglog_log_offset_for_time.
     * Called under the log's append lock, on appends, cuts and recovery;
     * it must not call the log. Optional. */
    uint64_t (*timestamp_fn)(void *arg, const void *record, size_t len);
    void *timestamp_arg;
} seglog_config_t;

/* Fill cfg with the defaults above. */
void seglog_config_default(seglog_config_t *cfg);

/* What open found and repaired. */
typedef struct seglog_recovery {
    int clean;                  /* 1 if the clean-shutdown marker was found */
    uint32_t segments;          /* segments opened */
    uint32_t indexes_rebuilt;   /* indexes rebuilt from their store */
    uint32_t indexes_repaired;  /* index tails cut back to their valid entries */
    uint64_t bytes_truncated;   /* torn or garbage bytes cut from the active store */
    uint64_t records_recovered; /* records re-verified by the tail scan */
    uint32_t files_ignored;     /* unrelated or orphaned files left alone */
    uint32_t cuts_finished;     /* interrupted truncate_after calls completed */
} seglog_recovery_t;

typedef struct seglog_log seglog_log_t;

/* Open (or create) the log in dir, creating dir if missing. cfg may be
 * NULL for defaults. On success *out owns the handle. */
int seglog_log_open(const char *dir, const seglog_config_t *cfg, seglog_log_t **out);

/* What the last open found. */
void seglog_log_recovery(const seglog_log_t *log, seglog_recovery_t *out);

/* Append one record. *offset_out (may be NULL) gets its offset. The record
 * is readable when this returns; it is durable per the sync policy. */
int seglog_log_append(seglog_log_t *log, const void *data, size_t len, uint64_t *offset_out);

/* Append n records atomically at contiguous offsets: after a crash either
 * all of them are in the log or none is. *first_out gets the first offset.
 * A batch never spans segments: the log rolls first if it would not fit,
 * and SEGLOG_E_BATCH_TOO_LARGE is returned if it cannot fit even an empty
 * segment. */
int seglog_log_append_batch(seglog_log_t *log, const struct iovec *recs, size_t n,
                            uint64_t *first_out);

/* Appends that wait for their commit point separately, so that one thread
 * can append many requests and then wait once (the server's group commit).
 * append_batch == append_batch_nowait + commit_wait under SYNC_ALWAYS. */
typedef struct seglog_commit {
    uint64_t target; /* offset just past the batch */
    uint64_t gen;    /* rollback generation seen at append time */
} seglog_commit_t;

int seglog_log_append_batch_nowait(seglog_log_t *log, const struct iovec *recs, size_t n,
                                   uint64_t *first_out, seglog_commit_t *token);

/* Wait until the append behind token passed the commit point: under
 * SYNC_ALWAYS an fdatasync (shared with every concurrent waiter); under
 * NONE and INTERVAL a write to the OS, so a process crash cannot lose it.
 * If the log rolled the append back, returns an error: the errno of the
 * most recent failed sync (which may be a later one than the sync that cut
 * this append), or SEGLOG_E_FAILED after a reset. */
int seglog_log_commit_wait(seglog_log_t *log, const seglog_commit_t *token);

/* commit_wait without the wait, for a thread that must not block (the
 * server's front end): under SYNC_ALWAYS 0 if the append passed its
 * commit point, SEGLOG_E_AGAIN if not yet, or an error as commit_wait
 * returns it if the append was rolled back; it never syncs. Under NONE and INTERVAL it is
 * commit_wait (a write to the OS, no fdatasync). */
int seglog_log_commit_check(seglog_log_t *log, const seglog_commit_t *token);

/* Move everything appended so far past the commit point now: under
 * SYNC_ALWAYS a group commit (seglog_log_commit_wait for the last append,
 * rollback on failure included), otherwise seglog_log_sync. Another
 * thread's commit_check then sees the result. */
int seglog_log_commit_all(seglog_log_t *log);

/* A token for everything appended so far, as if it were one append that
 * ended at the next offset: commit_wait/commit_check on it wait for all of
 * it, and fail if a rollback, reset or truncate_after cuts any of it.
 * token->gen is the log's current rollback generation: it changes exactly
 * when appended records are taken back, so a caller that keeps state
 * derived from the records (the server's producer state) can tell when to
 * rebuild it. */
int seglog_log_append_token(seglog_log_t *log, seglog_commit_t *token);

/* The log's current rollback generation (token->gen of an append made
 * now), read with one atomic load: it takes no lock, so a caller on a hot
 * path can check that its derived state is still current without a round
 * trip through the append mutex. The value can move as soon as it is
 * read: a caller that acts on it must still compare the gen of the tokens
 * it gets afterwards. A closed log keeps the generation it had (remove and
 * a failed reset end one). */
int seglog_log_generation(seglog_log_t *log, uint64_t *gen);

/* Push buffered appends to the OS (write, no fdatasync). */
int seglog_log_flush(seglog_log_t *log);

/* Flush and fdatasync now, whatever the policy. */
int seglog_log_sync(seglog_log_t *log);

/* Read the record at offset into buf (capacity cap). *len gets its length;
 * if cap is too small, SEGLOG_E_BUFFER_TOO_SMALL is returned and *len is
 * the size needed. Distinct errors: SEGLOG_E_OFFSET_TRUNCATED below the
 * lowest offset, SEGLOG_E_OFFSET_OUT_OF_RANGE at or past the next offset,
 * SEGLOG_E_CORRUPT if the stored bytes fail their CRC. */
int seglog_log_read(seglog_log_t *log, uint64_t offset, void *buf, size_t cap, size_t *len);

/* Same, into a buffer malloc'ed for the caller, who frees it. */
int seglog_log_read_alloc(seglog_log_t *log, uint64_t offset, void **data, size_t *len);

/* The offset of the first record whose timestamp (cfg.timestamp_fn) is
 * >= t, or the next offset if there is none. Records need not be in time
 * order: it is the first such record in offset order. Without a
 * timestamp_fn, the next offset. Holds the append lock while it reads:
 * the time index narrows the search to the records between two entries
 * (a 256th of a segment at most, unless timestamps stay flat for longer). */
int seglog_log_offset_for_time(seglog_log_t *log, uint64_t t, uint64_t *out);

/* One segment, as seglog_log_segment_info reports it (retention). */
typedef struct seglog_segment_info {
    uint64_t base, next;     /* its offsets: [base, next) */
    uint64_t bytes;          /* its store file's size (records and framing) */
    uint64_t max_timestamp;  /* its greatest record timestamp (timestamp_fn), if has_timestamp */
    int has_timestamp;       /* 0: no timestamp_fn, no record, or its index could not be rebuilt */
    int active;              /* the last segment (takes appends; never truncated) */
} seglog_segment_info_t;

/* Segment i (0 = the oldest). SEGLOG_E_OFFSET_OUT_OF_RANGE past the last. */
int seglog_log_segment_info(seglog_log_t *log, size_t i, seglog_segment_info_t *out);

/* The offset of the first record still stored. Equal to next_offset when
 * the log is empty. */
int seglog_log_lowest_offset(seglog_log_t *log, uint64_t *out);

/* The offset the next append will get. */
int seglog_log_next_offset(seglog_log_t *log, uint64_t *out);

/* The offset just past the last record that passed the commit point. */
int seglog_log_committed_offset(seglog_log_t *log, uint64_t *out);

/* The log's lifetime id: fixed when the log is created and replaced by
 * reset (cfg->log_id, or a random one if that is 0). */
int seglog_log_epoch(seglog_log_t *log, uint64_t *out);

/* Remove every sealed segment whose records all lie below lowest. The
 * active segment is never removed. *new_lowest (may be NULL) gets the
 * resulting lowest offset, which may be below `lowest`. */
int seglog_log_truncate(seglog_log_t *log, uint64_t lowest, uint64_t *new_lowest);

/* Remove every record at `offset` and above, so that the next append gets
 * `offset` (the other end from seglog_log_truncate; Kafka's truncateTo, for
 * a replica whose tail diverged from its leader's).
 *   - offset >= next offset: nothing to do, returns 0.
 *   - offset == lowest offset: the log becomes empty at that offset.
 *   - offset < lowest offset: SEGLOG_E_OFFSET_TRUNCATED, nothing changes.
 *   - offset inside a range that reads as SEGLOG_E_CORRUPT (a damaged
 *     sealed segment, docs/FORMAT.md), or record offset - 1 failing its
 *     CRC: SEGLOG_E_CORRUPT, nothing changes; cut lower.
 *   - A cut inside a batch keeps the batch's first records as a whole
 *     batch (its new last record is marked as the end of its batch).
 * Segments after the one holding `offset` are deleted; that one becomes
 * the active segment again and takes the next appends. The epoch does not
 * change.
 *
 * Durability: when records were removed, on return every record below
 * `offset` is on disk (under SEGLOG_SYNC_NONE: the cut segment's; earlier
 * segments were not synced when they rolled) and the removed ones are gone
 * for good: a crash can never bring them back. (The no-op case syncs
 * nothing.)
 * Crash-atomic: a crash during the call leaves the old log or the cut one,
 * never a mix (an intent file, finished by the next open; docs/FORMAT.md).
 *
 * When records were removed, committed_offset becomes `offset`: it goes
 * down if the cut removes committed records (the caller asked for it;
 * on_commit is not called), and up if records below `offset` were not yet
 * committed (they were just synced; on_commit is called with `offset`).
 *
 * Pending appends (commit tokens from before the cut): commit_wait and
 * commit_check return 0 for an append wholly below `offset`, and
 * SEGLOG_E_CUT (or the error of a later rollback, as for any ended
 * generation) for one that reached `offset`, committed before or not.
 *
 * Iterators: a next() that starts after the cut never returns a removed
 * record, even one its buffer held; at the end of the cut log it returns
 * 0, and it returns the new records if the offsets are appended again.
 *
 * Errors: a failure before the intent file is on disk (ENOSPC or EIO
 * writing it, growing the index, reading the frame before the cut) changes
 * nothing: the log serves on as before. A failure after that point, or a
 * failed fdatasync (which leaves unsynced pages in doubt), marks the
 * handle failed: every later call returns SEGLOG_E_CLOSED, appends
 * waiting for a commit fail, and the next open finishes the cut if its
 * intent file reached the disk (else finds the old log). */
int seglog_log_truncate_after(seglog_log_t *log, uint64_t offset);

/* Leader epochs (Kafka's leader-epoch-checkpoint, for replication's
 * divergence handling, KIP-101/KIP-279): a list of (leader epoch, start
 * offset) pairs, both strictly increasing, where an entry says that the
 * records from its start offset up to the next entry's start (or the log
 * end) were written in that epoch. The log core stores the list and keeps
 * it consistent with the log; it does not stamp or read epochs in records.
 * Unrelated to seglog_log_epoch(), the log's lifetime id.
 *
 * The list lives in <dir>/.leader_epochs, replaced whole on every change
 * (temporary file, fdatasync, rename, directory fsync): a crash leaves the
 * old list or the new one. It follows the log:
 *   - truncate_after(x) drops the entries that start at or past x (before
 *     it returns; if a crash comes first, the next open does it);
 *   - front truncation moves the start of the last entry below the new
 *     lowest offset up to it and drops the ones before (seen by every call
 *     below and by the next open);
 *   - open drops entries that start at or past the log's next offset: a
 *     power loss took their records, or an epoch was assigned and no
 *     record followed (such an entry says nothing a follower needs);
 *   - reset and remove delete the list.
 * The calls take the append mutex. */

/* Record that epoch starts at start_offset. start_offset must lie in
 * [lowest, next] (SEGLOG_E_OFFSET_TRUNCATED below, ..._OUT_OF_RANGE
 * above). The same epoch as the last one: nothing to do, returns 0. A lower
 * epoch, or a start below the last entry's: SEGLOG_E_INVAL. A higher epoch
 * at the last entry's start replaces that entry (it had no records). On
 * error the list is unchanged. */
int seglog_log_leader_epoch_assign(seglog_log_t *log, uint64_t epoch, uint64_t start_offset);

/* The last entry: returns 1 and fills the outputs (each may be NULL), 0 if
 * the list is empty, or an error. */
int seglog_log_leader_epoch_last(seglog_log_t *log, uint64_t *epoch, uint64_t *start_offset);

/* Kafka's endOffsetFor: for the requested epoch, *found_epoch gets the
 * largest listed epoch <= it and *end_offset the start of the first listed
 * epoch above it, or the log's next offset if there is none (the requested
 * epoch is the last one). SEGLOG_E_OFFSET_OUT_OF_RANGE if the list is
 * empty or the epoch is below the first or above the last listed one.
 * Outputs may be NULL. */
int seglog_log_leader_epoch_end_offset(seglog_log_t *log, uint64_t epoch, uint64_t *found_epoch,
                                       uint64_t *end_offset);

/* Drop every record and start again, empty, at cfg->initial_offset with a
 * new epoch (cfg->log_id if it is not 0: then the id stays the same). */
int seglog_log_reset(seglog_log_t *log);

/* seglog_log_reset, but the empty log starts at `offset` and its id
 * becomes log_id (0: as seglog_log_reset chooses it). Replication uses it
 * for a replica whose log ends below its leader's lowest offset: it goes
 * on from there with the same id. Iterators never return a record from
 * before the reset (as after truncate_after). */
int seglog_log_reset_to(seglog_log_t *log, uint64_t offset, uint64_t log_id);

/* Sync, write the clean-shutdown marker and release the files. The handle
 * stays valid; every later call returns SEGLOG_E_CLOSED. */
int seglog_log_close(seglog_log_t *log);

/* Close, then delete every segment file and the directory itself. */
int seglog_log_remove(seglog_log_t *log);

/* Close if needed and free the handle; sets *log_p to NULL. Idempotent. */
void seglog_log_destroy(seglog_log_t **log_p);

/* Iteration: read records from an offset, bounded by a record count and a
 * byte budget, with one pread per chunk and no per-record allocation.
 * The iterator owns a reusable buffer; data returned by next() stays valid
 * until the following next() or seek(). */
typedef struct seglog_iter seglog_iter_t;

int seglog_iter_new(seglog_log_t *log, seglog_iter_t **out);

/* Position at offset. max_records 0 means no count limit; max_bytes 0
 * means no byte limit. The first record is always returned, even when it
 * alone exceeds max_bytes, so that a reader always makes progress; after
 * that, a record that would take the payload total past max_bytes ends
 * the iteration. Errors as for seglog_log_read(). */
int seglog_iter_seek(seglog_iter_t *it, uint64_t offset, size_t max_records, size_t max_bytes);

/* 1 and a record, 0 at the end of the range (or of the log), or an error.
 * Any output pointer may be NULL. */
int seglog_iter_next(seglog_iter_t *it, uint64_t *offset, const void **data, size_t *len);

/* seglog_iter_next, and *batch_end (may be NULL) gets 1 if the record is
 * the last of its batch (its frame carries END, docs/FORMAT.md), else 0.
 * A batch is what one append_batch call wrote (a single append is a batch
 * of one); truncate_after inside a batch makes its new last record the
 * end of a batch. Replication uses it to copy a log with the same batches,
 * so that the copy's files are the same bytes. */
int seglog_iter_next_ex(seglog_iter_t *it, uint64_t *offset, const void **data, size_t *len,
                        int *batch_end);

/* The offset the next call to next() would return. */
uint64_t seglog_iter_position(const seglog_iter_t *it);

void seglog_iter_destroy(seglog_iter_t **it_p);

/* ---- whole frames (replication) ----
 *
 * A replica copies a log by its stored frames (docs/FORMAT.md): the leader
 * reads the frames of whole batches as they are in its store, the follower
 * verifies and writes the same bytes, so that both logs' files are the
 * same bytes, at the cost of one copy on each side instead of a decode and
 * re-encode of every record. */

/* Copy the frames of whole batches from offset on into *buf (malloc'ed,
 * grown as needed: *cap is its size; the caller frees it): the first batch
 * always comes, even past max_bytes, then each next batch that keeps the
 * total at or below max_bytes, all from offset's segment. Every frame's
 * CRC is checked. *len gets the bytes and *count the records (their
 * offsets are offset.. offset + *count - 1). Errors as for
 * seglog_log_read(); a torn batch (no frame with END before the end of
 * the segment's records) is SEGLOG_E_CORRUPT. */
int seglog_log_read_frames(seglog_log_t *log, uint64_t offset, size_t max_bytes, uint8_t **buf,
                           size_t *cap, size_t *len, size_t *count);

/* Append frames as read_frames gives them: len bytes of whole batches.
 * Every frame is checked first, and if one fails nothing is appended:
 * SEGLOG_E_CORRUPT for a bad CRC or length, a cut frame, or a last frame
 * without END (not whole batches); SEGLOG_E_RECORD_TOO_LARGE for a record
 * over max_record_bytes. The bytes are written as they are, batch by batch
 * as append_batch would (each batch in one segment, a roll before a batch
 * that does not fit, SEGLOG_E_BATCH_TOO_LARGE before anything is written
 * if one cannot fit an empty segment), and under SYNC_ALWAYS the call
 * returns once they are synced. *first_out gets the first offset and
 * *count_out the records appended (on a write error, the whole batches
 * that did go in). */
int seglog_log_append_frames(seglog_log_t *log, const void *frames, size_t len,
                             uint64_t *first_out, size_t *count_out);

#ifdef __cplusplus
}
#endif
#endif
