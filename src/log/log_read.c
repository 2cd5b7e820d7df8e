/* log_read.c - reads of single records, the offset queries, and the
 * iterators (one pread per chunk, no per-record allocation). */
#include "log_internal.h"

#include "format.h"

#include <stdlib.h>
#include <string.h>

/* ---- reads --------------------------------------------------------------- */

/* The segment holding offset. Caller holds the shared lock. */
sl_segment_t *sl_log_find(seglog_log_t *log, uint64_t offset)
{
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return log->segs[lo];
}

/* Check offset against [lowest, next). Caller holds the shared lock. */
int sl_log_bounds(seglog_log_t *log, uint64_t offset)
{
    if (log->closed)
        return SEGLOG_E_CLOSED;
    if (offset < log->segs[0]->base)
        return SEGLOG_E_OFFSET_TRUNCATED;
    if (offset >= sl_segment_next(log->active))
        return SEGLOG_E_OFFSET_OUT_OF_RANGE;
    return 0;
}

int seglog_log_read(seglog_log_t *log, uint64_t offset, void *buf, size_t cap, size_t *len)
{
    if (!log || (!buf && cap) || !len)
        return SEGLOG_E_INVAL;
    pthread_rwlock_rdlock(&log->lock);
    int rc = sl_log_bounds(log, offset);
    if (rc == 0)
        rc = sl_segment_read(sl_log_find(log, offset), offset, buf, cap, len);
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_log_read_alloc(seglog_log_t *log, uint64_t offset, void **data, size_t *len)
{
    if (!data || !len)
        return SEGLOG_E_INVAL;
    uint8_t small[256];
    size_t n = 0;
    int rc = seglog_log_read(log, offset, small, sizeof small, &n);
    if (rc && rc != SEGLOG_E_BUFFER_TOO_SMALL)
        return rc;
    void *p = malloc(n ? n : 1);
    if (!p)
        return SEGLOG_E_NOMEM;
    if (rc == 0)
        memcpy(p, small, n);
    else if ((rc = seglog_log_read(log, offset, p, n, &n)) != 0) {
        free(p);
        return rc;
    }
    *data = p;
    *len = n;
    return 0;
}

typedef enum { Q_LOWEST, Q_NEXT, Q_COMMITTED, Q_EPOCH } query_t;

static int s_query(seglog_log_t *log, query_t q, uint64_t *out)
{
    if (!log || !out)
        return SEGLOG_E_INVAL;
    pthread_rwlock_rdlock(&log->lock);
    int rc = log->closed ? SEGLOG_E_CLOSED : 0;
    if (rc == 0) {
        switch (q) {
        case Q_LOWEST:
            *out = log->segs[0]->base;
            break;
        case Q_NEXT:
            *out = sl_segment_next(log->active);
            break;
        case Q_EPOCH:
            *out = log->epoch;
            break;
        case Q_COMMITTED:
            pthread_mutex_lock(&log->sync_mu);
            *out = log->committed;
            pthread_mutex_unlock(&log->sync_mu);
            break;
        }
    }
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_log_lowest_offset(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_LOWEST, out);
}

int seglog_log_next_offset(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_NEXT, out);
}

int seglog_log_committed_offset(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_COMMITTED, out);
}

int seglog_log_epoch(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_EPOCH, out);
}

int seglog_log_offset_for_time(seglog_log_t *log, uint64_t t, uint64_t *out)
{
    if (!log || !out)
        return SEGLOG_E_INVAL;
    /* append_mu: the time indexes change only under it. */
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_rdlock(&log->lock);
    int rc = log->closed ? SEGLOG_E_CLOSED : 0;
    if (rc == 0) {
        *out = sl_segment_next(log->active);
        for (size_t i = 0; log->seg_cfg.timestamp_fn && i < log->nsegs; i++) {
            uint64_t off;
            int r = sl_segment_time_find(log->segs[i], t, &off);
            if (r < 0 || r > 1) {
                rc = r;
                break;
            }
            if (r == 1) {
                *out = off;
                break;
            }
        }
    }
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

int seglog_log_segment_info(seglog_log_t *log, size_t i, seglog_segment_info_t *out)
{
    if (!log || !out)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu); /* ts_max changes under it */
    pthread_rwlock_rdlock(&log->lock);
    int rc = log->closed ? SEGLOG_E_CLOSED : i >= log->nsegs ? SEGLOG_E_OFFSET_OUT_OF_RANGE : 0;
    if (rc == 0) {
        sl_segment_t *s = log->segs[i];
        *out = (seglog_segment_info_t){
            .base = s->base,
            .next = sl_segment_next(s),
            .bytes = sl_store_size(s->store),
            .max_timestamp = s->ts_max,
            .has_timestamp = s->tindex && s->ts_seen && s->ts_ok,
            .active = s == log->active,
        };
    }
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

/* ---- iteration ----------------------------------------------------------- */

#define ITER_CHUNK (1u << 20)
#define ITER_MIN   (64u << 10)

struct seglog_iter {
    seglog_log_t *log;
    uint8_t *buf;
    size_t cap;
    size_t len, off;     /* bytes in buf; parse position */
    uint64_t offset;     /* offset of the record at buf + off */
    uint64_t buf_limit;  /* records in buf are valid below this offset */
    uint64_t left;       /* records still allowed (UINT64_MAX: no limit) */
    uint64_t bytes_left; /* payload budget (UINT64_MAX: no limit) */
    uint64_t cuts;       /* log->cuts when buf was filled */
    int started;         /* a record has been returned since seek */
    int positioned;
};

int seglog_iter_new(seglog_log_t *log, seglog_iter_t **out)
{
    if (!log || !out)
        return SEGLOG_E_INVAL;
    /* As every call on a closed handle: CLOSED (log.h), rather than an
     * iterator that can only fail later. */
    pthread_rwlock_rdlock(&log->lock);
    int closed = log->closed;
    pthread_rwlock_unlock(&log->lock);
    if (closed)
        return SEGLOG_E_CLOSED;
    seglog_iter_t *it = calloc(1, sizeof *it);
    if (!it)
        return SEGLOG_E_NOMEM;
    it->log = log;
    *out = it;
    return 0;
}

int seglog_iter_seek(seglog_iter_t *it, uint64_t offset, size_t max_records, size_t max_bytes)
{
    if (!it)
        return SEGLOG_E_INVAL;
    pthread_rwlock_rdlock(&it->log->lock);
    int rc = sl_log_bounds(it->log, offset);
    it->cuts = atomic_load_explicit(&it->log->cuts, memory_order_acquire);
    pthread_rwlock_unlock(&it->log->lock);
    if (rc)
        return rc;
    it->offset = offset;
    it->len = it->off = 0;
    it->buf_limit = offset;
    it->left = max_records ? max_records : UINT64_MAX;
    it->bytes_left = max_bytes ? max_bytes : UINT64_MAX;
    it->started = 0;
    it->positioned = 1;
    return 0;
}

uint64_t seglog_iter_position(const seglog_iter_t *it)
{
    return it->offset;
}

static int s_reserve(seglog_iter_t *it, size_t n)
{
    if (it->cap >= n)
        return 0;
    uint8_t *p = realloc(it->buf, n);
    if (!p)
        return SEGLOG_E_NOMEM;
    it->buf = p;
    it->cap = n;
    return 0;
}

/* Load bytes for it->offset and onwards with one read. Returns 1 if loaded,
 * 0 at the end of the log, or an error. */
static int s_refill(seglog_iter_t *it, size_t need)
{
    seglog_log_t *log = it->log;
    pthread_rwlock_rdlock(&log->lock);
    int rc = sl_log_bounds(log, it->offset);
    if (rc) {
        pthread_rwlock_unlock(&log->lock);
        return rc == SEGLOG_E_OFFSET_OUT_OF_RANGE ? 0 : rc;
    }
    sl_segment_t *seg = sl_log_find(log, it->offset);
    uint64_t pos, flen;
    rc = sl_segment_locate(seg, it->offset, &pos, &flen);
    if (rc)
        goto out;
    uint64_t seg_next = sl_segment_next(seg);
    uint64_t end = sl_store_size(seg->store);
    /* With a record limit, the index gives the exact end of the range. */
    if (it->left < seg_next - it->offset) {
        uint64_t epos, elen;
        if (sl_segment_locate(seg, it->offset + it->left, &epos, &elen) == 0)
            end = epos;
    }
    size_t want_cap = ITER_CHUNK;
    if (it->bytes_left < ITER_CHUNK - ITER_MIN)
        want_cap = (size_t)it->bytes_left + ITER_MIN;
    if (want_cap < need)
        want_cap = need;
    size_t want = end - pos < want_cap ? (size_t)(end - pos) : want_cap;
    if (want < need)
        want = need;
    rc = s_reserve(it, want);
    if (rc)
        goto out;
    struct iovec iov = {it->buf, want};
    rc = sl_store_readv(seg->store, pos, &iov, 1, want);
    if (rc)
        goto out;
    it->len = want;
    it->off = 0;
    it->buf_limit = seg_next;
    it->cuts = atomic_load_explicit(&log->cuts, memory_order_acquire);
    rc = 1;
out:
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_iter_next(seglog_iter_t *it, uint64_t *offset, const void **data, size_t *len)
{
    return seglog_iter_next_ex(it, offset, data, len, NULL);
}

int seglog_iter_next_ex(seglog_iter_t *it, uint64_t *offset, const void **data, size_t *len,
                        int *batch_end)
{
    if (!it || !it->positioned)
        return SEGLOG_E_INVAL;
    if (it->left == 0)
        return 0;
    uint64_t cuts = atomic_load_explicit(&it->log->cuts, memory_order_acquire);
    if (cuts != it->cuts) {
        /* A truncate_after since the buffer was filled: what it holds at
         * and past the cut is gone. Read again. */
        it->cuts = cuts;
        it->len = it->off = 0;
        it->buf_limit = it->offset;
    }
    for (int tries = 0;; tries++) {
        uint32_t plen = 0;
        int end, rc = 0;
        if (it->offset < it->buf_limit && it->off < it->len)
            rc = sl_frame_check(it->buf + it->off, it->len - it->off, SL_MAX_RECORD_LIMIT, &plen,
                                &end);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (tries >= 2)
                return SEGLOG_E_CORRUPT; /* the index points at a frame that is not there */
            size_t need = SL_FRAME_HEADER_LEN + (size_t)plen;
            rc = s_refill(it, need > SL_FRAME_HEADER_LEN ? need : 0);
            if (rc <= 0)
                return rc;
            continue;
        }
        if (it->started && plen > it->bytes_left)
            return 0;
        it->bytes_left = plen > it->bytes_left ? 0 : it->bytes_left - plen;
        it->started = 1;
        if (offset)
            *offset = it->offset;
        if (data)
            *data = it->buf + it->off + SL_FRAME_HEADER_LEN;
        if (len)
            *len = plen;
        if (batch_end)
            *batch_end = end != 0;
        it->off += SL_FRAME_HEADER_LEN + plen;
        it->offset++;
        if (it->left != UINT64_MAX)
            it->left--;
        return 1;
    }
}

void seglog_iter_destroy(seglog_iter_t **it_p)
{
    if (!it_p || !*it_p)
        return;
    free((*it_p)->buf);
    free(*it_p);
    *it_p = NULL;
}
