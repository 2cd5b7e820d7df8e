/* segment_time.c - a segment's time index (timeindex.h): kept up to date
 * by appends, rolls and cuts, rebuilt from the records when the file lost
 * entries, and searched by seglog_log_offset_for_time. The timestamps
 * come from the log's timestamp_fn (the log core does not know the
 * record format). */
#include "segment.h"

#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads records one by one, growing its buffer as needed. */
typedef struct reader {
    uint8_t *buf;
    size_t cap;
} reader_t;

static int s_ts(sl_segment_t *s, reader_t *r, uint32_t rel, uint64_t *ts, size_t *len_out)
{
    const sl_seg_config_t *c = s->cfg;
    size_t len = 0;
    for (;;) {
        int rc = r->buf ? sl_segment_read(s, s->base + rel, r->buf, r->cap, &len)
                        : SEGLOG_E_BUFFER_TOO_SMALL;
        if (rc != SEGLOG_E_BUFFER_TOO_SMALL) {
            if (rc == 0)
                *ts = c->timestamp_fn(c->timestamp_arg, r->buf, len);
            *len_out = len;
            return rc;
        }
        size_t want = len > 256 ? len : 256;
        uint8_t *p = realloc(r->buf, want);
        if (!p)
            return SEGLOG_E_NOMEM;
        r->buf = p;
        r->cap = want;
    }
}

/* Record one record of `bytes` stored bytes at rel with timestamp ts. */
static void s_note(sl_segment_t *s, uint32_t rel, uint64_t ts, size_t bytes)
{
    s->ts_since += bytes + SL_FRAME_HEADER_LEN;
    if (ts <= s->ts_max && s->ts_seen)
        return;
    s->ts_max = ts;
    s->ts_seen = 1;
    if (!s->ts_ok || (sl_tindex_count(s->tindex) > 0 && s->ts_since < s->cfg->time_interval))
        return;
    if (sl_tindex_add(s->tindex, ts, rel) == 0)
        s->ts_since = 0;
}

/* Rebuild the running maximum (and the entries) from the last entry to
 * the end of the segment. On a read failure no more entries are added to
 * this segment (an entry needs the true maximum); lookups then scan. */
static int s_rescan(sl_segment_t *s)
{
    uint32_t count = sl_index_count(s->index), from = 0;
    size_t n = sl_tindex_count(s->tindex);
    s->ts_max = 0;
    s->ts_seen = 0;
    s->ts_since = 0;
    s->ts_ok = 1;
    if (n > 0) {
        const sl_tentry_t *e = sl_tindex_at(s->tindex, n - 1);
        s->ts_max = e->ts;
        s->ts_seen = 1;
        from = e->rel + 1;
    }
    reader_t r = {0};
    int rc = 0;
    for (uint32_t rel = from; rel < count; rel++) {
        uint64_t ts;
        size_t len;
        rc = s_ts(s, &r, rel, &ts, &len);
        if (rc) {
            s->ts_ok = 0;
            break;
        }
        s_note(s, rel, ts, len);
    }
    free(r.buf);
    return rc;
}

int sl_segment_time_open(sl_segment_t *s, int create, int active)
{
    if (!s->cfg->timestamp_fn)
        return 0;
    int existed = 0;
    int rc = sl_tindex_open(s->vfs, s->time_path, create, &existed, &s->tindex);
    if (rc)
        return rc;
    uint32_t count = sl_index_count(s->index);
    s->ts_ok = 1;
    if (create)
        return 0;
    rc = sl_tindex_trim(s->tindex, count, !active);
    if (rc)
        return rc;
    size_t n = sl_tindex_count(s->tindex);
    if (!active && n > 0 && sl_tindex_at(s->tindex, n - 1)->rel == count) {
        s->ts_max = sl_tindex_at(s->tindex, n - 1)->ts; /* the seal marker */
        s->ts_seen = 1;
        return 0;
    }
    if (count > 0 && s->cfg->log_fn)
        s->cfg->log_fn(s->cfg->log_arg, SEGLOG_LEVEL_INFO,
                       existed ? "time index: entries rebuilt past the last one kept"
                               : "time index: missing, rebuilt from the records");
    rc = s_rescan(s);
    if (rc == 0 && !active)
        sl_segment_time_seal(s);
    return rc == SEGLOG_E_CORRUPT ? 0 : rc; /* a damaged store: lookups scan what reads */
}

void sl_segment_time_append(sl_segment_t *s, const struct iovec *recs, size_t n, uint32_t first)
{
    if (!s->tindex)
        return;
    const sl_seg_config_t *c = s->cfg;
    for (size_t i = 0; i < n; i++)
        s_note(s, first + (uint32_t)i, c->timestamp_fn(c->timestamp_arg, recs[i].iov_base,
                                                       recs[i].iov_len),
               recs[i].iov_len);
}

void sl_segment_time_seal(sl_segment_t *s)
{
    uint32_t count = sl_index_count(s->index);
    if (!s->tindex || !s->ts_ok || count == 0)
        return;
    size_t n = sl_tindex_count(s->tindex);
    uint64_t ts = s->ts_max;
    if (n > 0 && sl_tindex_at(s->tindex, n - 1)->ts >= ts)
        ts = sl_tindex_at(s->tindex, n - 1)->ts + 1; /* entries increase: a bound is enough */
    sl_tindex_add(s->tindex, ts, count); /* best effort: without it, lookups scan */
}

int sl_segment_time_cut(sl_segment_t *s)
{
    if (!s->tindex)
        return 0;
    int rc = sl_tindex_trim(s->tindex, sl_index_count(s->index), 0);
    if (rc == 0)
        rc = s_rescan(s);
    return rc;
}

int sl_segment_time_sync(sl_segment_t *s)
{
    return s->tindex ? sl_tindex_sync(s->tindex) : 0;
}

int sl_segment_time_find(sl_segment_t *s, uint64_t t, uint64_t *offset)
{
    uint32_t count = sl_index_count(s->index);
    if (count == 0)
        return 0;
    uint32_t from = 0, to = count; /* scan [from, to); `to` itself qualifies if < count */
    if (s->tindex) {
        size_t n = sl_tindex_count(s->tindex);
        if (n > 0) {
            const sl_tentry_t *last = sl_tindex_at(s->tindex, n - 1);
            if (last->rel == count && last->ts < t)
                return 0; /* the seal marker: nothing here reaches t */
        }
        long k = sl_tindex_below(s->tindex, t);
        if (k >= 0)
            from = sl_tindex_at(s->tindex, (size_t)k)->rel + 1;
        if ((size_t)(k + 1) < n && sl_tindex_at(s->tindex, (size_t)(k + 1))->rel < count)
            to = sl_tindex_at(s->tindex, (size_t)(k + 1))->rel;
        if (!s->ts_ok)
            to = count; /* entries may be missing past a failed rescan */
    }
    reader_t r = {0};
    int rc = 0, found = 0;
    for (uint32_t rel = from; rel < to; rel++) {
        uint64_t ts;
        size_t len;
        rc = s_ts(s, &r, rel, &ts, &len);
        if (rc)
            break;
        if (ts >= t) {
            *offset = s->base + rel;
            found = 1;
            break;
        }
    }
    free(r.buf);
    if (rc)
        return rc;
    if (!found && to < count) {
        *offset = s->base + to;
        found = 1;
    }
    return found;
}
