/* timeindex.c - see timeindex.h */
#include "timeindex.h"

#include "crc32c.h"
#include "format.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct sl_tindex {
    const seglog_vfs_t *vfs;
    int fd;
    sl_tentry_t *e;
    size_t n, cap;
};

static int s_reserve(sl_tindex_t *x, size_t n)
{
    if (n <= x->cap)
        return 0;
    size_t cap = x->cap ? x->cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    sl_tentry_t *p = realloc(x->e, cap * sizeof *p);
    if (!p)
        return SEGLOG_E_NOMEM;
    x->e = p;
    x->cap = cap;
    return 0;
}

static int s_load(sl_tindex_t *x)
{
    off_t size = 0;
    int rc = -x->vfs->fstat_size(x->vfs->ctx, x->fd, &size);
    if (rc || size < (off_t)SL_TIME_ENTRY_LEN)
        return rc;
    size_t want = (size_t)size / SL_TIME_ENTRY_LEN * SL_TIME_ENTRY_LEN;
    uint8_t *buf = malloc(want);
    if (!buf)
        return SEGLOG_E_NOMEM;
    struct iovec iov = {buf, want};
    ssize_t got = x->vfs->preadv(x->vfs->ctx, x->fd, &iov, 1, 0);
    if (got < 0) {
        free(buf);
        return (int)-got;
    }
    size_t n = (size_t)got / SL_TIME_ENTRY_LEN;
    rc = s_reserve(x, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *p = buf + i * SL_TIME_ENTRY_LEN;
        uint64_t ts = sl_get64(p);
        uint32_t rel = sl_get32(p + 8);
        if (sl_get32(p + 12) != sl_crc32c(0, p, 12))
            break;
        if (x->n && (ts <= x->e[x->n - 1].ts || rel <= x->e[x->n - 1].rel))
            break;
        x->e[x->n++] = (sl_tentry_t){ts, rel};
    }
    free(buf);
    return rc;
}

int sl_tindex_open(const seglog_vfs_t *vfs, const char *path, int truncate, int *existed,
                   sl_tindex_t **out)
{
    *existed = 0;
    int fd = truncate ? -1 : vfs->open(vfs->ctx, path, O_RDWR, 0644);
    if (fd >= 0)
        *existed = 1;
    else
        fd = vfs->open(vfs->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -fd;
    sl_tindex_t *x = calloc(1, sizeof *x);
    if (!x) {
        vfs->close(vfs->ctx, fd);
        return SEGLOG_E_NOMEM;
    }
    x->vfs = vfs;
    x->fd = fd;
    int rc = *existed ? s_load(x) : 0;
    if (rc) {
        sl_tindex_close(&x, 0);
        return rc;
    }
    *out = x;
    return 0;
}

size_t sl_tindex_count(const sl_tindex_t *x)
{
    return x->n;
}

const sl_tentry_t *sl_tindex_at(const sl_tindex_t *x, size_t i)
{
    return &x->e[i];
}

int sl_tindex_trim(sl_tindex_t *x, uint32_t count, int keep_marker)
{
    size_t n = x->n;
    while (n > 0 && (x->e[n - 1].rel > count || (x->e[n - 1].rel == count && !keep_marker)))
        n--;
    x->n = n;
    /* Also drops whatever the file held past the entries loaded. */
    return -x->vfs->ftruncate(x->vfs->ctx, x->fd, (off_t)(n * SL_TIME_ENTRY_LEN));
}

int sl_tindex_add(sl_tindex_t *x, uint64_t ts, uint32_t rel)
{
    if (x->n && (ts <= x->e[x->n - 1].ts || rel <= x->e[x->n - 1].rel))
        return SEGLOG_E_INVAL; /* a caller bug: entries only increase */
    int rc = s_reserve(x, x->n + 1);
    if (rc)
        return rc;
    uint8_t b[SL_TIME_ENTRY_LEN];
    sl_put64(b, ts);
    sl_put32(b + 8, rel);
    sl_put32(b + 12, sl_crc32c(0, b, 12));
    struct iovec iov = {b, sizeof b};
    ssize_t w = x->vfs->pwritev(x->vfs->ctx, x->fd, &iov, 1, (off_t)(x->n * SL_TIME_ENTRY_LEN));
    if (w != (ssize_t)sizeof b)
        return w < 0 ? (int)-w : SEGLOG_E_CORRUPT; /* a short write: the CRC rejects it */
    x->e[x->n++] = (sl_tentry_t){ts, rel};
    return 0;
}

long sl_tindex_below(const sl_tindex_t *x, uint64_t t)
{
    size_t lo = 0, hi = x->n; /* the first entry with ts >= t is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->e[mid].ts < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

int sl_tindex_sync(sl_tindex_t *x)
{
    return -x->vfs->fdatasync(x->vfs->ctx, x->fd);
}

int sl_tindex_close(sl_tindex_t **x_p, int sync)
{
    sl_tindex_t *x = *x_p;
    if (!x)
        return 0;
    *x_p = NULL;
    int rc = sync ? sl_tindex_sync(x) : 0;
    int r = -x->vfs->close(x->vfs->ctx, x->fd);
    free(x->e);
    free(x);
    return rc ? rc : r;
}
