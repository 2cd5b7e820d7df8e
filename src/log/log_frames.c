/* log_frames.c - whole stored frames (log.h): a leader reads the frames of
 * whole batches as they are in its store, a follower checks them and
 * appends the same bytes, so that a replica is copied without decoding and
 * re-framing every record. */
#include "log_internal.h"

#include "format.h"
#include "index.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static int s_reserve(uint8_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n && *buf)
        return 0;
    uint8_t *p = realloc(*buf, n ? n : 1);
    if (!p)
        return SEGLOG_E_NOMEM;
    *buf = p;
    *cap = n ? n : 1;
    return 0;
}

/* Whole batches at the start of the n bytes read: 1 with *len and *count
 * set, 0 if the first batch goes on past them, or an error. left: the
 * records the segment has from there. */
static int s_whole(const uint8_t *p, size_t n, uint64_t left, size_t max_bytes, size_t *len,
                   size_t *count)
{
    size_t at = 0, whole = 0, whole_n = 0;
    for (uint64_t k = 0; k < left;) {
        uint32_t plen = 0;
        int end = 0;
        int r = sl_frame_check(p + at, n - at, SL_MAX_RECORD_LIMIT, &plen, &end);
        if (r < 0)
            return r;
        if (r == 0)
            break; /* more bytes needed */
        size_t flen = SL_FRAME_HEADER_LEN + (size_t)plen;
        if (whole_n > 0 && at + flen > max_bytes)
            break; /* the next batch would pass max_bytes */
        at += flen;
        k++;
        if (end) {
            whole = at;
            whole_n = (size_t)k;
            if (at >= max_bytes)
                break;
        }
    }
    *len = whole;
    *count = whole_n;
    return whole_n > 0;
}

int seglog_log_read_frames(seglog_log_t *log, uint64_t offset, size_t max_bytes, uint8_t **buf,
                           size_t *cap, size_t *len, size_t *count)
{
    if (!log || !buf || !cap || !len || !count)
        return SEGLOG_E_INVAL;
    *len = *count = 0;
    pthread_rwlock_rdlock(&log->lock);
    int rc = sl_log_bounds(log, offset);
    sl_segment_t *seg = rc ? NULL : sl_log_find(log, offset);
    uint64_t pos = 0, flen = 0;
    if (rc == 0)
        rc = sl_segment_locate(seg, offset, &pos, &flen);
    if (rc == 0) {
        /* Only published records (the index count): the store may hold
         * the frames of an append still in progress past them. */
        uint64_t left = sl_segment_next(seg) - offset;
        uint64_t avail = sl_store_size(seg->store) - pos;
        size_t want = max_bytes < 4096 ? 4096 : max_bytes;
        for (;;) {
            size_t n = avail < want ? (size_t)avail : want;
            rc = s_reserve(buf, cap, n);
            if (rc)
                break;
            struct iovec iov = {*buf, n};
            rc = sl_store_readv(seg->store, pos, &iov, 1, n);
            if (rc)
                break;
            rc = s_whole(*buf, n, left, max_bytes, len, count);
            if (rc != 0 || n == avail) {
                /* 0 with everything read: no END before the segment's
                 * records end, or fewer bytes than the index promises. */
                rc = rc == 1 ? 0 : rc < 0 ? rc : SEGLOG_E_CORRUPT;
                break;
            }
            want = n * 2; /* the first batch is longer: read more */
        }
    }
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

/* 1 if bytes of frames, count records, still fit the segment. */
static int s_fits(const sl_segment_t *s, uint64_t bytes, uint64_t count)
{
    return sl_store_size(s->store) + bytes <= s->max_store_bytes &&
           (uint64_t)sl_index_count(s->index) + count <= sl_index_capacity(s->index);
}

/* The batch starting at record i: its end (one past its END frame) and
 * its frame bytes. */
static size_t s_batch(const struct iovec *recs, size_t n, size_t i, uint64_t *bytes)
{
    *bytes = 0;
    while (i < n) {
        const uint8_t *hdr = (const uint8_t *)recs[i].iov_base - SL_FRAME_HEADER_LEN;
        *bytes += SL_FRAME_HEADER_LEN + recs[i].iov_len;
        i++;
        if (sl_get32(hdr) & SL_FRAME_END)
            break;
    }
    return i;
}

/* Check every frame; recs (malloc'ed) gets their payloads. */
static int s_check(const seglog_log_t *log, const uint8_t *p, size_t len, struct iovec **recs_out,
                   size_t *n_out)
{
    size_t n = 0, cap = 0, at = 0;
    struct iovec *recs = NULL;
    uint64_t bbytes = 0, bn = 0;
    int end = 0, rc = 0;
    while (at < len) {
        uint32_t plen = 0;
        int r = sl_frame_check(p + at, len - at, SL_MAX_RECORD_LIMIT, &plen, &end);
        if (r <= 0) {
            rc = SEGLOG_E_CORRUPT; /* a bad CRC or length, or a cut frame */
            break;
        }
        if (plen > log->cfg.max_record_bytes) {
            rc = SEGLOG_E_RECORD_TOO_LARGE;
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct iovec *a = realloc(recs, nc * sizeof *a);
            if (!a) {
                rc = SEGLOG_E_NOMEM;
                break;
            }
            recs = a;
            cap = nc;
        }
        recs[n++] = (struct iovec){(void *)(p + at + SL_FRAME_HEADER_LEN), plen};
        at += SL_FRAME_HEADER_LEN + (size_t)plen;
        bbytes += SL_FRAME_HEADER_LEN + (uint64_t)plen;
        bn++;
        if (end) {
            if (SL_STORE_HEADER_LEN + bbytes > log->cfg.max_store_bytes ||
                bn > log->seg_cfg.index_capacity) {
                rc = SEGLOG_E_BATCH_TOO_LARGE;
                break;
            }
            bbytes = bn = 0;
        }
    }
    if (rc == 0 && !end)
        rc = SEGLOG_E_CORRUPT; /* the last batch has no END: not whole */
    if (rc) {
        free(recs);
        return rc;
    }
    *recs_out = recs;
    *n_out = n;
    return 0;
}

int seglog_log_append_frames(seglog_log_t *log, const void *frames, size_t len, uint64_t *first_out,
                             size_t *count_out)
{
    if (count_out)
        *count_out = 0;
    if (!log || !frames || len == 0)
        return SEGLOG_E_INVAL;
    struct iovec *recs = NULL;
    size_t n = 0;
    int rc = s_check(log, frames, len, &recs, &n);
    if (rc)
        return rc;
    pthread_mutex_lock(&log->append_mu);
    if (log->closed) {
        pthread_mutex_unlock(&log->append_mu);
        free(recs);
        return SEGLOG_E_CLOSED;
    }
    /* Batch by batch as append_batch would roll, but one store append per
     * run of batches that fit the active segment. */
    size_t i = 0, done = 0;
    uint64_t first = 0;
    while (i < n && rc == 0) {
        uint64_t bytes, more;
        size_t j = s_batch(recs, n, i, &bytes);
        if (!s_fits(log->active, bytes, j - i) && (rc = sl_log_roll(log)) != 0)
            break;
        for (size_t k; j < n; j = k) {
            k = s_batch(recs, n, j, &more);
            if (!s_fits(log->active, bytes + more, k - i))
                break;
            bytes += more;
        }
        uint64_t f = 0;
        const uint8_t *start = (const uint8_t *)recs[i].iov_base - SL_FRAME_HEADER_LEN;
        rc = sl_segment_append_frames(log->active, start, (size_t)bytes, recs + i, j - i, &f);
        if (rc == 0) {
            if (done == 0)
                first = f;
            done += j - i;
            i = j;
        }
    }
    seglog_commit_t token = {.target = first + done, .gen = sl_log_gen(log)};
    pthread_mutex_unlock(&log->append_mu);
    free(recs);
    if (rc == 0 && log->cfg.sync == SEGLOG_SYNC_ALWAYS)
        rc = seglog_log_commit_wait(log, &token);
    if (first_out)
        *first_out = first;
    if (count_out)
        *count_out = done;
    return rc;
}
