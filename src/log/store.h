/* store.h - one append-only store file: a header, then framed records.
 *
 * Owns: the file descriptor and a user-space write buffer.
 * Threads: appends, flush and truncate are called by one thread at a time
 * (the log's append mutex or exclusive lock guarantees it). Reads may run
 * from any thread at any time: bytes below the flushed mark are immutable
 * and read with preadv and no lock; bytes still in the write buffer are
 * copied out under the buffer's mutex. */
#ifndef SL_STORE_H
#define SL_STORE_H

#include "seglog/log.h"

#include <stdint.h>

typedef struct sl_store sl_store_t;

/* Create (or overwrite) path with a fresh header. */
int sl_store_create(const seglog_vfs_t *vfs, const char *path, uint64_t base, uint64_t epoch,
                    uint32_t bufsize, sl_store_t **out);

/* Open an existing store and check its header against base. Returns
 * SEGLOG_E_FORMAT for a short, foreign or damaged header. */
int sl_store_open(const seglog_vfs_t *vfs, const char *path, uint64_t base, uint32_t bufsize,
                  sl_store_t **out);

/* Is the store at path one whose creation never finished on disk (the
 * state a crash during sl_store_create can leave)? That is: shorter than a
 * header and holding zeros or the start of the header sl_store_create
 * writes for base (a torn header write), or a header of all zeros whatever
 * the length. Returns 1 or 0 with *size set, or an errno. Anything else
 * that sl_store_open refuses (another magic or version, a bad CRC, another
 * base) is not unfinished. */
int sl_store_unfinished(const seglog_vfs_t *vfs, const char *path, uint64_t base, uint64_t *size);

uint64_t sl_store_epoch(const sl_store_t *s);

/* Logical size: flushed bytes plus buffered bytes. */
uint64_t sl_store_size(const sl_store_t *s);

/* Frame n records as one batch (the last frame carries the END flag) and
 * append them. pos_out[i] gets the position of frame i. On failure nothing
 * of the batch remains (the store is rolled back to its previous size). */
int sl_store_append(sl_store_t *s, const struct iovec *recs, size_t n, uint32_t *pos_out);

/* Write buffered bytes to the file. */
int sl_store_flush(sl_store_t *s);

/* fdatasync the file (does not flush the buffer). */
int sl_store_datasync(sl_store_t *s);

/* Read exactly n bytes at pos into the iovecs, from the file or the
 * buffer. SEGLOG_E_CORRUPT if the bytes are not there. */
int sl_store_readv(sl_store_t *s, uint64_t pos, const struct iovec *iov, int iovcnt, size_t n);

/* Read and verify the frame at pos. frame_len is the whole frame's length
 * if the caller knows it (from the index), else 0. The payload goes into
 * buf; *len gets its length (the size needed if SEGLOG_E_BUFFER_TOO_SMALL).
 * *end (may be NULL) gets the END flag. */
int sl_store_read_frame(sl_store_t *s, uint64_t pos, uint64_t frame_len, uint32_t max_len,
                        void *buf, size_t cap, size_t *len, int *end);

/* Append nbytes of ready frames (checked by the caller) as they are;
 * recs[i] is the payload of frame i inside them, and pos_out[i] gets that
 * frame's position, as sl_store_append gives it. */
int sl_store_append_frames(sl_store_t *s, const void *frames, size_t nbytes,
                           const struct iovec *recs, size_t n, uint32_t *pos_out);

/* Overwrite n bytes at pos, which must lie below the flushed mark (the
 * caller has flushed; truncate_after rewrites one frame header). */
int sl_store_patch(sl_store_t *s, uint64_t pos, const void *buf, size_t n);

/* Cut the store back to size bytes (rollback or recovery). */
int sl_store_truncate(sl_store_t *s, uint64_t size);

/* Flush, optionally fdatasync, close the fd and free. *s_p set to NULL. */
int sl_store_close(sl_store_t **s_p, int sync);

/* Parse one frame at p with avail bytes. Returns 1 and fills *payload_len
 * and *end for a complete frame with a good CRC, 0 if more bytes are
 * needed (*payload_len says how many the payload has), SEGLOG_E_CORRUPT
 * for a bad length or CRC. */
int sl_frame_check(const uint8_t *p, size_t avail, uint32_t max_len, uint32_t *payload_len,
                   int *end);

#endif
