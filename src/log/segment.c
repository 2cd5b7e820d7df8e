/* segment.c - a store and its index, and the recovery of both. */
#include "segment.h"

#include "crc32c.h"
#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_CHUNK (1u << 20)

static void s_log(const sl_seg_config_t *c, int level, const char *fmt, ...)
{
    if (!c->log_fn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log_fn(c->log_arg, level, msg);
}

char *sl_segment_path(const char *dir, uint64_t base, const char *ext)
{
    size_t n = strlen(dir) + 1 + 20 + strlen(ext) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%020" PRIu64 "%s", dir, base, ext);
    return p;
}

static int s_alloc(const char *dir, uint64_t base, const sl_seg_config_t *c, sl_segment_t **out)
{
    sl_segment_t *s = calloc(1, sizeof *s);
    if (!s)
        return SEGLOG_E_NOMEM;
    s->base = base;
    s->vfs = c->vfs;
    s->max_store_bytes = c->max_store_bytes;
    s->cfg = c;
    s->store_path = sl_segment_path(dir, base, ".store");
    s->index_path = sl_segment_path(dir, base, ".index");
    s->time_path = sl_segment_path(dir, base, ".timeindex");
    if (!s->store_path || !s->index_path || !s->time_path) {
        free(s->store_path);
        free(s->index_path);
        free(s->time_path);
        free(s);
        return SEGLOG_E_NOMEM;
    }
    *out = s;
    return 0;
}

static void s_free(sl_segment_t *s)
{
    sl_tindex_close(&s->tindex, 0);
    free(s->store_path);
    free(s->index_path);
    free(s->time_path);
    free(s);
}

int sl_segment_create(const char *dir, uint64_t base, uint64_t epoch, const sl_seg_config_t *c,
                      sl_segment_t **out)
{
    sl_segment_t *s;
    int rc = s_alloc(dir, base, c, &s);
    if (rc)
        return rc;
    rc = sl_store_create(c->vfs, s->store_path, base, epoch, c->write_buffer_bytes, &s->store);
    if (rc == 0)
        rc = sl_index_open(c->vfs, s->index_path, c->index_capacity, 1, &s->index);
    if (rc == 0) {
        sl_index_set_count(s->index, 0);
        rc = sl_segment_time_open(s, 1, 1);
    }
    if (rc) {
        sl_index_close(&s->index, 0);
        sl_store_close(&s->store, 0);
        /* Leave nothing behind: a store whose header could not be written
         * (ENOSPC at a roll) would be taken as the active segment by the
         * next open, which refuses it (SEGLOG_E_FORMAT) after a clean
         * close. The name is new or held an empty store: nothing is lost. */
        c->vfs->unlink(c->vfs->ctx, s->store_path);
        c->vfs->unlink(c->vfs->ctx, s->index_path);
        c->vfs->unlink(c->vfs->ctx, s->time_path);
        s_free(s);
        return rc;
    }
    sl_index_set_count(s->index, 0);
    s->limit = base;
    *out = s;
    return 0;
}

uint64_t sl_segment_next(const sl_segment_t *s)
{
    return s->base + sl_index_count(s->index);
}

uint64_t sl_segment_epoch(const sl_segment_t *s)
{
    return sl_store_epoch(s->store);
}

/* ---- recovery ---------------------------------------------------------- */

/* Does the frame at index entry i verify? Returns 1 yes, 0 no, or an I/O
 * error. *end gets its END flag. */
static int s_frame_ok(sl_segment_t *s, const sl_seg_config_t *c, uint32_t pos, int *end,
                      uint8_t **scratch, size_t *scratch_cap)
{
    uint8_t hdr[SL_FRAME_HEADER_LEN];
    struct iovec iov = {hdr, sizeof hdr};
    uint64_t size = sl_store_size(s->store);
    if ((uint64_t)pos + sizeof hdr > size)
        return 0;
    int rc = sl_store_readv(s->store, pos, &iov, 1, sizeof hdr);
    if (rc)
        return rc == SEGLOG_E_CORRUPT ? 0 : rc;
    uint32_t len = sl_get32(hdr) & SL_FRAME_LEN_MASK;
    if (len > SL_MAX_RECORD_LIMIT || (uint64_t)pos + sizeof hdr + len > size)
        return 0;
    if (*scratch_cap < len) {
        uint8_t *p = realloc(*scratch, len);
        if (!p)
            return SEGLOG_E_NOMEM;
        *scratch = p;
        *scratch_cap = len;
    }
    size_t got;
    rc = sl_store_read_frame(s->store, pos, sizeof hdr + len,
                             c->max_record_bytes > len ? c->max_record_bytes : len, *scratch,
                             *scratch_cap, &got, end);
    if (rc == SEGLOG_E_CORRUPT)
        return 0;
    return rc ? rc : 1;
}

/* The END flag of the frame at pos, without verifying its CRC. */
static int s_frame_end_flag(sl_segment_t *s, uint32_t pos, int *end)
{
    uint8_t hdr[SL_FRAME_HEADER_LEN];
    struct iovec iov = {hdr, sizeof hdr};
    int rc = sl_store_readv(s->store, pos, &iov, 1, sizeof hdr);
    if (rc)
        return rc;
    *end = (sl_get32(hdr) & SL_FRAME_END) != 0;
    return 0;
}

/* Find the last trustworthy index entry: a structurally valid entry whose
 * frame verifies and which starts a batch. Returns its slot (entries
 * before it are kept as they are), or 0 to scan the whole store. */
static int s_trust_point(sl_segment_t *s, const sl_seg_config_t *c, uint32_t valid, uint32_t *out)
{
    uint8_t *scratch = NULL;
    size_t cap = 0;
    int rc = 0;
    *out = 0;
    for (uint32_t k = valid; k > 0; k--) {
        uint32_t pos, rel;
        sl_index_slot(s->index, k - 1, &rel, &pos);
        int end;
        rc = s_frame_ok(s, c, pos, &end, &scratch, &cap);
        if (rc < 0 || rc > 1)
            break;
        if (rc == 0)
            continue;
        rc = 0;
        if (k - 1 == 0) {
            *out = 0;
            break;
        }
        uint32_t prev_pos;
        sl_index_slot(s->index, k - 2, &rel, &prev_pos);
        int prev_end = 0;
        rc = s_frame_end_flag(s, prev_pos, &prev_end);
        if (rc)
            break;
        if (prev_end) {
            *out = k - 1;
            break;
        }
    }
    free(scratch);
    return rc;
}

/* Scan frames forward from slot `from` (at store position pos), rebuilding
 * index entries for every complete, verified batch. *good_end gets the end
 * of the last complete batch and *count the entries kept. */
static int s_scan(sl_segment_t *s, uint32_t from, uint64_t pos, uint64_t *good_end, uint32_t *count)
{
    uint64_t size = sl_store_size(s->store);
    size_t cap = SCAN_CHUNK;
    uint8_t *buf = malloc(cap);
    uint32_t *pending = NULL;
    size_t npending = 0, pending_cap = 0;
    int rc = 0;
    if (!buf)
        return SEGLOG_E_NOMEM;
    *good_end = pos;
    *count = from;
    uint32_t next_slot = from;
    uint64_t cur = pos;
    while (cur < size) {
        size_t want = size - cur < cap ? (size_t)(size - cur) : cap;
        struct iovec iov = {buf, want};
        rc = sl_store_readv(s->store, cur, &iov, 1, want);
        if (rc)
            goto out;
        size_t off = 0;
        int grew = 0;
        while (off < want) {
            uint32_t plen;
            int end = 0;
            int r = sl_frame_check(buf + off, want - off, SL_MAX_RECORD_LIMIT, &plen, &end);
            if (r < 0)
                goto out; /* garbage: stop at the last complete batch */
            if (r == 0) {
                if (off == 0 && cur + SL_FRAME_HEADER_LEN + plen <= size &&
                    SL_FRAME_HEADER_LEN + (size_t)plen > cap) {
                    /* One frame larger than the chunk: grow and reread. */
                    uint8_t *nb = realloc(buf, SL_FRAME_HEADER_LEN + (size_t)plen);
                    if (!nb) {
                        rc = SEGLOG_E_NOMEM;
                        goto out;
                    }
                    buf = nb;
                    cap = SL_FRAME_HEADER_LEN + (size_t)plen;
                    grew = 1;
                }
                break;
            }
            if (npending == pending_cap) {
                size_t ncap = pending_cap ? pending_cap * 2 : 256;
                uint32_t *np = realloc(pending, ncap * sizeof *np);
                if (!np) {
                    rc = SEGLOG_E_NOMEM;
                    goto out;
                }
                pending = np;
                pending_cap = ncap;
            }
            pending[npending++] = (uint32_t)(cur + off);
            off += SL_FRAME_HEADER_LEN + plen;
            if (end) {
                if (next_slot + npending > sl_index_capacity(s->index)) {
                    uint64_t want_cap = (uint64_t)sl_index_capacity(s->index) * 2 + npending;
                    if (want_cap > UINT32_MAX)
                        want_cap = UINT32_MAX;
                    rc = sl_index_grow(s->index, (uint32_t)want_cap);
                    if (rc)
                        goto out;
                }
                for (size_t i = 0; i < npending; i++)
                    sl_index_put(s->index, next_slot + (uint32_t)i, pending[i]);
                next_slot += (uint32_t)npending;
                npending = 0;
                *good_end = cur + off;
                *count = next_slot;
            }
        }
        if (grew)
            continue; /* the buffer now holds the large frame: reread */
        if (off == 0)
            break; /* an incomplete frame at the end of the file */
        cur += off;
    }
out:
    free(buf);
    free(pending);
    return rc;
}

static int s_recover(sl_segment_t *s, const sl_seg_config_t *c, int active, seglog_recovery_t *rec)
{
    uint64_t size = sl_store_size(s->store);
    uint32_t file_entries = sl_index_file_entries(s->index);
    uint32_t valid = sl_index_valid_prefix(s->index, file_entries, SL_STORE_HEADER_LEN, size);
    /* The active segment's index was never synced: after a power loss its
     * pages may hold entries of records that were lost and since appended
     * again at other positions, and a stale entry can sit between entries
     * that verify. Only a scan from the first frame tells. A sealed
     * segment's index was synced before the next segment was created. */
    uint32_t from = 0;
    int rc = active ? 0 : s_trust_point(s, c, valid, &from);
    if (rc)
        return rc;
    uint64_t pos = SL_STORE_HEADER_LEN;
    if (from > 0) {
        uint32_t rel, p;
        sl_index_slot(s->index, from, &rel, &p);
        pos = p;
    }
    uint64_t good_end;
    uint32_t count;
    rc = s_scan(s, from, pos, &good_end, &count);
    if (rc)
        return rc;
    rec->records_recovered += count - from;
    if (good_end < size) {
        if (active) {
            s_log(c, SEGLOG_LEVEL_WARN,
                  "%s: cut %" PRIu64 " torn or garbage bytes at position %" PRIu64
                  " (offsets from %" PRIu64 " kept)",
                  s->store_path, size - good_end, good_end, s->base);
            rc = sl_store_truncate(s->store, good_end);
            if (rc)
                return rc;
            rec->bytes_truncated += size - good_end;
        } else {
            s_log(c, SEGLOG_LEVEL_ERROR,
                  "%s: sealed segment damaged at position %" PRIu64 "; offsets from %" PRIu64
                  " will read as corrupt",
                  s->store_path, good_end, s->base + count);
        }
    }
    if (file_entries == 0 && count > 0) {
        rec->indexes_rebuilt++;
        s_log(c, SEGLOG_LEVEL_WARN, "%s: index rebuilt with %" PRIu32 " entries", s->index_path,
              count);
    } else if (count != file_entries && !(active && valid == count)) {
        rec->indexes_repaired++;
        s_log(c, SEGLOG_LEVEL_WARN,
              "%s: index repaired to %" PRIu32 " entries (had %" PRIu32 " slots, %" PRIu32
              " valid)",
              s->index_path, count, file_entries, valid);
    }
    sl_index_set_count(s->index, count);
    return 0;
}

/* A clean close left exact lengths: trust them after a cheap check of the
 * last frame. Returns 1 if trusted. */
static int s_clean_ok(sl_segment_t *s)
{
    uint32_t n = sl_index_file_entries(s->index);
    uint64_t size = sl_store_size(s->store);
    if (n == 0)
        return size == SL_STORE_HEADER_LEN;
    uint32_t rel, pos;
    if (sl_index_slot(s->index, n - 1, &rel, &pos) || rel != n - 1)
        return 0;
    uint8_t hdr[SL_FRAME_HEADER_LEN];
    struct iovec iov = {hdr, sizeof hdr};
    if (pos < SL_STORE_HEADER_LEN || sl_store_readv(s->store, pos, &iov, 1, sizeof hdr))
        return 0;
    uint32_t lf = sl_get32(hdr);
    return (lf & SL_FRAME_END) &&
           pos + SL_FRAME_HEADER_LEN + (uint64_t)(lf & SL_FRAME_LEN_MASK) == size;
}

int sl_segment_open(const char *dir, uint64_t base, const sl_seg_config_t *c, int active, int clean,
                    uint64_t epoch_hint, seglog_recovery_t *rec, sl_segment_t **out)
{
    sl_segment_t *s;
    int rc = s_alloc(dir, base, c, &s);
    if (rc)
        return rc;
    rc = sl_store_open(c->vfs, s->store_path, base, c->write_buffer_bytes, &s->store);
    if (rc == SEGLOG_E_FORMAT && active && !clean) {
        /* A roll (or the first open) that crashed before the new header
         * reached the disk leaves a short store, one whose header reads as
         * zeros (possibly with some of the later pages on disk and others
         * not), or one cut inside its header by a torn write. Every
         * fdatasync of a store covers its whole header, so nothing in such
         * a store was ever synced, let alone acknowledged: start it again.
         * Any other header is not ours to guess at. */
        uint64_t sz = 0;
        int r = sl_store_unfinished(c->vfs, s->store_path, base, &sz);
        if (r == 1) {
            s_log(c, SEGLOG_LEVEL_WARN,
                  "%s: active store with an unfinished header (%" PRIu64
                  " bytes, never synced) re-initialised",
                  s->store_path, sz);
            s_free(s);
            rc = sl_segment_create(dir, base, epoch_hint, c, out);
            if (rc == 0)
                rec->bytes_truncated += sz;
            return rc;
        }
        if (r != 0)
            rc = r;
    }
    if (rc) {
        s_log(c, SEGLOG_LEVEL_ERROR, "%s: cannot open store: %s", s->store_path,
              seglog_strerror(rc));
        s_free(s);
        return rc;
    }
    /* A sealed, cleanly closed segment maps its index at its exact size. */
    uint32_t cap = active || !clean ? c->index_capacity : 0;
    rc = sl_index_open(c->vfs, s->index_path, cap, 0, &s->index);
    if (rc)
        goto fail;
    if (clean && s_clean_ok(s)) {
        sl_index_set_count(s->index, sl_index_file_entries(s->index));
    } else {
        if (clean)
            s_log(c, SEGLOG_LEVEL_WARN, "%s: clean marker present but lengths disagree; recovering",
                  s->store_path);
        if (clean && !active) {
            /* Recovery needs room to rebuild: remap at full capacity. */
            rc = sl_index_grow(s->index, c->index_capacity);
            if (rc)
                goto fail;
        }
        rc = s_recover(s, c, active, rec);
        if (rc)
            goto fail;
    }
    if (!active) {
        rc = sl_index_shrink(s->index);
        if (rc)
            goto fail;
    } else if (sl_index_capacity(s->index) < c->index_capacity) {
        rc = sl_index_grow(s->index, c->index_capacity);
        if (rc)
            goto fail;
    }
    s->limit = sl_segment_next(s);
    rc = sl_segment_time_open(s, 0, active);
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    s_log(c, SEGLOG_LEVEL_ERROR, "%s: cannot open segment: %s", s->store_path, seglog_strerror(rc));
    if (s->index)
        sl_index_close(&s->index, 0);
    sl_store_close(&s->store, 0);
    s_free(s);
    return rc;
}

/* ---- appends and reads ------------------------------------------------- */

int sl_segment_fits(const sl_segment_t *s, const struct iovec *recs, size_t n)
{
    uint64_t bytes = sl_store_size(s->store);
    for (size_t i = 0; i < n; i++)
        bytes += SL_FRAME_HEADER_LEN + (uint64_t)recs[i].iov_len;
    uint64_t count = (uint64_t)sl_index_count(s->index) + n;
    return bytes <= s->max_store_bytes && count <= sl_index_capacity(s->index);
}

/* An append of recs, framed here, or of ready frames (their payloads). */
static int s_append(sl_segment_t *s, const void *frames, size_t nbytes, const struct iovec *recs,
                    size_t n, uint64_t *first)
{
    uint32_t stack_pos[64];
    uint32_t *pos = n <= 64 ? stack_pos : malloc(n * sizeof *pos);
    if (!pos)
        return SEGLOG_E_NOMEM;
    int rc = frames ? sl_store_append_frames(s->store, frames, nbytes, recs, n, pos)
                    : sl_store_append(s->store, recs, n, pos);
    if (rc == 0) {
        uint32_t count = sl_index_count(s->index);
        for (size_t i = 0; i < n; i++)
            sl_index_put(s->index, count + (uint32_t)i, pos[i]);
        sl_index_set_count(s->index, count + (uint32_t)n);
        sl_segment_time_append(s, recs, n, count);
        if (first)
            *first = s->base + count;
    }
    if (pos != stack_pos)
        free(pos);
    return rc;
}

int sl_segment_append(sl_segment_t *s, const struct iovec *recs, size_t n, uint64_t *first)
{
    return s_append(s, NULL, 0, recs, n, first);
}

int sl_segment_append_frames(sl_segment_t *s, const void *frames, size_t nbytes,
                             const struct iovec *recs, size_t n, uint64_t *first)
{
    return s_append(s, frames, nbytes, recs, n, first);
}

int sl_segment_locate(const sl_segment_t *s, uint64_t offset, uint64_t *pos, uint64_t *frame_len)
{
    uint32_t count = sl_index_count(s->index);
    if (offset < s->base)
        return SEGLOG_E_OFFSET_TRUNCATED;
    uint64_t rel = offset - s->base;
    if (rel >= count)
        return offset < s->limit ? SEGLOG_E_CORRUPT : SEGLOG_E_OFFSET_OUT_OF_RANGE;
    uint32_t p, q;
    sl_index_read(s->index, (uint32_t)rel, &p);
    *pos = p;
    *frame_len = 0;
    if (rel + 1 < count && sl_index_read(s->index, (uint32_t)rel + 1, &q) == 0 && q > p)
        *frame_len = q - p;
    return 0;
}

int sl_segment_read(sl_segment_t *s, uint64_t offset, void *buf, size_t cap, size_t *len)
{
    uint64_t pos, frame_len;
    int rc = sl_segment_locate(s, offset, &pos, &frame_len);
    if (rc)
        return rc;
    return sl_store_read_frame(s->store, pos, frame_len, SL_MAX_RECORD_LIMIT, buf, cap, len, NULL);
}

int sl_segment_rollback(sl_segment_t *s, uint64_t next)
{
    uint32_t count = sl_index_count(s->index);
    if (next < s->base || next >= s->base + count)
        return 0;
    uint32_t rel = (uint32_t)(next - s->base), pos;
    sl_index_read(s->index, rel, &pos);
    sl_index_set_count(s->index, rel);
    if (s->limit > next)
        s->limit = next;
    int rc = sl_store_truncate(s->store, pos);
    int r = sl_segment_time_cut(s);
    return rc ? rc : r;
}

int sl_segment_activate(sl_segment_t *s, uint32_t capacity)
{
    int rc = sl_index_grow(s->index, capacity);
    if (rc == 0 && s->tindex) /* an active segment has no seal marker */
        rc = sl_tindex_trim(s->tindex, sl_index_count(s->index), 0);
    return rc;
}

int sl_segment_usable(const sl_segment_t *s)
{
    return sl_index_capacity(s->index) >= sl_index_count(s->index);
}

int sl_segment_cut_plan(sl_segment_t *s, uint64_t offset, uint64_t *cut_pos, uint64_t *fix_pos,
                        uint8_t fix_hdr[8])
{
    uint64_t pos, flen;
    *fix_pos = 0;
    int rc = sl_segment_locate(s, offset, &pos, &flen);
    if (rc)
        return rc;
    *cut_pos = pos;
    if (offset == s->base)
        return 0;
    uint64_t ppos;
    rc = sl_segment_locate(s, offset - 1, &ppos, &flen);
    if (rc)
        return rc;
    flen = pos - ppos;
    if (flen < SL_FRAME_HEADER_LEN || flen - SL_FRAME_HEADER_LEN > SL_MAX_RECORD_LIMIT)
        return SEGLOG_E_CORRUPT;
    uint8_t *frame = malloc((size_t)flen);
    if (!frame)
        return SEGLOG_E_NOMEM;
    struct iovec iov = {frame, (size_t)flen};
    rc = sl_store_readv(s->store, ppos, &iov, 1, (size_t)flen);
    uint32_t plen = 0;
    int end = 0;
    if (rc == 0 && sl_frame_check(frame, (size_t)flen, SL_MAX_RECORD_LIMIT, &plen, &end) != 1)
        rc = SEGLOG_E_CORRUPT;
    if (rc == 0 && SL_FRAME_HEADER_LEN + (uint64_t)plen != flen)
        rc = SEGLOG_E_CORRUPT;
    if (rc == 0 && !end) {
        uint32_t lf = sl_get32(frame) | SL_FRAME_END;
        sl_put32(fix_hdr, lf);
        uint32_t crc = sl_crc32c(0, fix_hdr, 4);
        crc = sl_crc32c(crc, frame + SL_FRAME_HEADER_LEN, plen);
        sl_put32(fix_hdr + 4, crc);
        *fix_pos = ppos;
    }
    free(frame);
    return rc;
}

int sl_segment_sync_data(sl_segment_t *s, int sync)
{
    int rc = sl_store_flush(s->store);
    if (rc == 0 && sync)
        rc = sl_store_datasync(s->store);
    return rc;
}

int sl_segment_sync_index(sl_segment_t *s)
{
    int rc = sl_index_datasync(s->index);
    return rc ? rc : sl_segment_time_sync(s);
}

int sl_segment_seal(sl_segment_t *s)
{
    sl_segment_time_seal(s);
    int rc = sl_index_shrink(s->index);
    if (rc == 0)
        rc = sl_index_sync(s->index);
    return rc;
}

int sl_segment_close(sl_segment_t **s_p, int sync)
{
    sl_segment_t *s = *s_p;
    if (!s)
        return 0;
    *s_p = NULL;
    int rc = sl_store_close(&s->store, sync);
    int r = sl_index_close(&s->index, sync);
    if (rc == 0)
        rc = r;
    r = sl_tindex_close(&s->tindex, sync);
    if (rc == 0)
        rc = r;
    s_free(s);
    return rc;
}

int sl_segment_remove(sl_segment_t **s_p)
{
    sl_segment_t *s = *s_p;
    if (!s)
        return 0;
    const seglog_vfs_t *vfs = NULL;
    char *sp = strdup(s->store_path), *ip = strdup(s->index_path);
    vfs = s->vfs;
    char *tp = s->tindex ? strdup(s->time_path) : NULL;
    int rc = sl_segment_close(s_p, 0);
    if (tp)
        vfs->unlink(vfs->ctx, tp); /* a cache: one left behind is overwritten or ignored */
    free(tp);
    if (sp) {
        int r = -vfs->unlink(vfs->ctx, sp);
        if (rc == 0 && r != ENOENT)
            rc = r;
    }
    if (ip) {
        int r = -vfs->unlink(vfs->ctx, ip);
        if (rc == 0 && r != ENOENT)
            rc = r;
    }
    if (!sp || !ip)
        rc = rc ? rc : SEGLOG_E_NOMEM;
    free(sp);
    free(ip);
    return rc;
}
