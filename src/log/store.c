/* store.c - append-only store file with a write buffer and CRC32C frames. */
#include "store.h"

#include "crc32c.h"
#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seglog's on-disk format helpers assume a little-endian host"
#endif

struct sl_store {
    const seglog_vfs_t *vfs;
    int fd;
    uint64_t base;
    uint64_t epoch;
    pthread_mutex_t buf_mu; /* guards buf, buf_len and changes of flushed */
    uint8_t *buf;
    size_t buf_cap;
    size_t buf_len;
    _Atomic uint64_t flushed; /* bytes in the file; the buffer starts here */
    _Atomic uint64_t size;    /* flushed + buf_len */
};

static int s_alloc(const seglog_vfs_t *vfs, int fd, uint64_t base, uint32_t bufsize,
                   sl_store_t **out)
{
    sl_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return SEGLOG_E_NOMEM;
    s->buf_cap = bufsize < 4096 ? 4096 : bufsize;
    s->buf = malloc(s->buf_cap);
    if (!s->buf) {
        free(s);
        return SEGLOG_E_NOMEM;
    }
    pthread_mutex_init(&s->buf_mu, NULL);
    s->vfs = vfs;
    s->fd = fd;
    s->base = base;
    *out = s;
    return 0;
}

static void s_free(sl_store_t *s)
{
    pthread_mutex_destroy(&s->buf_mu);
    free(s->buf);
    free(s);
}

/* Write all of iov at off, looping over short writes. *done gets the bytes
 * that did reach the file, even on failure. */
static int s_write_all(sl_store_t *s, struct iovec *iov, int cnt, uint64_t off, size_t *done)
{
    *done = 0;
    while (cnt > 0) {
        ssize_t n = s->vfs->pwritev(s->vfs->ctx, s->fd, iov, cnt, (off_t)(off + *done));
        if (n < 0)
            return (int)-n;
        if (n == 0)
            return EIO; /* defensive: a zero-byte write would loop forever */
        *done += (size_t)n;
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static void s_header(uint8_t h[SL_STORE_HEADER_LEN], uint64_t base, uint64_t epoch)
{
    memset(h, 0, SL_STORE_HEADER_LEN);
    sl_put32(h, SL_STORE_MAGIC);
    uint16_t v = SL_STORE_VERSION, hl = SL_STORE_HEADER_LEN;
    memcpy(h + 4, &v, 2);
    memcpy(h + 6, &hl, 2);
    sl_put64(h + 8, base);
    sl_put64(h + 16, epoch);
    sl_put32(h + 28, sl_crc32c(0, h, 28));
}

int sl_store_create(const seglog_vfs_t *vfs, const char *path, uint64_t base, uint64_t epoch,
                    uint32_t bufsize, sl_store_t **out)
{
    int fd = vfs->open(vfs->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -fd;
    sl_store_t *s;
    int rc = s_alloc(vfs, fd, base, bufsize, &s);
    if (rc) {
        vfs->close(vfs->ctx, fd);
        return rc;
    }
    uint8_t h[SL_STORE_HEADER_LEN];
    s_header(h, base, epoch);
    struct iovec iov = {h, sizeof h};
    size_t done;
    rc = s_write_all(s, &iov, 1, 0, &done);
    if (rc) {
        vfs->close(vfs->ctx, fd);
        s_free(s);
        return rc;
    }
    s->epoch = epoch;
    atomic_store(&s->flushed, SL_STORE_HEADER_LEN);
    atomic_store(&s->size, SL_STORE_HEADER_LEN);
    *out = s;
    return 0;
}

int sl_store_open(const seglog_vfs_t *vfs, const char *path, uint64_t base, uint32_t bufsize,
                  sl_store_t **out)
{
    int fd = vfs->open(vfs->ctx, path, O_RDWR, 0);
    if (fd < 0)
        return -fd;
    off_t size = 0;
    int rc = vfs->fstat_size(vfs->ctx, fd, &size);
    if (rc < 0) {
        vfs->close(vfs->ctx, fd);
        return -rc;
    }
    uint8_t h[SL_STORE_HEADER_LEN];
    struct iovec iov = {h, sizeof h};
    ssize_t n = size >= (off_t)sizeof h ? vfs->preadv(vfs->ctx, fd, &iov, 1, 0) : 0;
    if (n < 0) {
        vfs->close(vfs->ctx, fd);
        return (int)-n;
    }
    uint16_t v, hl;
    memcpy(&v, h + 4, 2);
    memcpy(&hl, h + 6, 2);
    if (n != (ssize_t)sizeof h || sl_get32(h) != SL_STORE_MAGIC || v != SL_STORE_VERSION ||
        hl != SL_STORE_HEADER_LEN || sl_get32(h + 28) != sl_crc32c(0, h, 28) ||
        sl_get64(h + 8) != base) {
        vfs->close(vfs->ctx, fd);
        return SEGLOG_E_FORMAT;
    }
    sl_store_t *s;
    rc = s_alloc(vfs, fd, base, bufsize, &s);
    if (rc) {
        vfs->close(vfs->ctx, fd);
        return rc;
    }
    s->epoch = sl_get64(h + 16);
    atomic_store(&s->flushed, (uint64_t)size);
    atomic_store(&s->size, (uint64_t)size);
    *out = s;
    return 0;
}

int sl_store_unfinished(const seglog_vfs_t *vfs, const char *path, uint64_t base,
                        uint64_t *size_out)
{
    int fd = vfs->open(vfs->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return -fd;
    off_t size = 0;
    int rc = -vfs->fstat_size(vfs->ctx, fd, &size);
    uint8_t h[SL_STORE_HEADER_LEN] = {0};
    size_t n = size < (off_t)sizeof h ? (size_t)size : sizeof h;
    if (rc == 0 && n > 0) {
        struct iovec iov = {h, n};
        ssize_t got = vfs->preadv(vfs->ctx, fd, &iov, 1, 0);
        rc = got < 0 ? (int)-got : (size_t)got != n ? EIO : 0;
    }
    vfs->close(vfs->ctx, fd);
    if (rc)
        return rc;
    *size_out = (uint64_t)size;
    static const uint8_t zero[SL_STORE_HEADER_LEN];
    if (memcmp(h, zero, n) == 0)
        return 1; /* nothing of the header reached the disk (or n == 0) */
    if (n == sizeof h)
        return 0; /* a whole header that sl_store_open refused: not ours */
    /* A torn write of the header: the bytes there must be the start of the
     * header we would write for base. The epoch is unknown; the CRC is
     * checked as far as it is there. */
    uint8_t want[SL_STORE_HEADER_LEN];
    s_header(want, base, 0);
    for (size_t i = 0; i < n; i++)
        if ((i < 16 || (i >= 24 && i < 28)) && h[i] != want[i])
            return 0;
    if (n > 28) {
        uint8_t crc[4];
        sl_put32(crc, sl_crc32c(0, h, 28));
        if (memcmp(h + 28, crc, n - 28) != 0)
            return 0;
    }
    return 1;
}

uint64_t sl_store_epoch(const sl_store_t *s)
{
    return s->epoch;
}

uint64_t sl_store_size(const sl_store_t *s)
{
    return atomic_load_explicit(&s->size, memory_order_acquire);
}

/* Write the buffer out. Caller holds buf_mu. */
static int s_flush_locked(sl_store_t *s)
{
    if (s->buf_len == 0)
        return 0;
    struct iovec iov = {s->buf, s->buf_len};
    size_t done = 0;
    uint64_t flushed = atomic_load_explicit(&s->flushed, memory_order_relaxed);
    int rc = s_write_all(s, &iov, 1, flushed, &done);
    if (done > 0) {
        memmove(s->buf, s->buf + done, s->buf_len - done);
        s->buf_len -= done;
        atomic_store_explicit(&s->flushed, flushed + done, memory_order_release);
    }
    return rc;
}

/* Cut to size. Caller holds buf_mu. */
static int s_truncate_locked(sl_store_t *s, uint64_t size)
{
    uint64_t flushed = atomic_load_explicit(&s->flushed, memory_order_relaxed);
    int rc = 0;
    if (size >= flushed) {
        s->buf_len = (size_t)(size - flushed);
        /* A failed write may have left bytes past the flushed mark. */
        rc = -s->vfs->ftruncate(s->vfs->ctx, s->fd, (off_t)flushed);
    } else {
        s->buf_len = 0;
        rc = -s->vfs->ftruncate(s->vfs->ctx, s->fd, (off_t)size);
        if (rc == 0)
            atomic_store_explicit(&s->flushed, size, memory_order_release);
    }
    if (rc == 0)
        atomic_store_explicit(&s->size, size, memory_order_release);
    return rc;
}

int sl_store_append(sl_store_t *s, const struct iovec *recs, size_t n, uint32_t *pos_out)
{
    int rc = 0;
    pthread_mutex_lock(&s->buf_mu);
    uint64_t start = atomic_load_explicit(&s->size, memory_order_relaxed);
    uint64_t pos = start;
    for (size_t i = 0; i < n; i++) {
        size_t len = recs[i].iov_len;
        size_t frame = SL_FRAME_HEADER_LEN + len;
        uint8_t hdr[SL_FRAME_HEADER_LEN];
        uint32_t lf = (uint32_t)len | (i + 1 == n ? SL_FRAME_END : 0);
        sl_put32(hdr, lf);
        uint32_t crc = sl_crc32c(0, hdr, 4);
        crc = sl_crc32c(crc, recs[i].iov_base, len);
        sl_put32(hdr + 4, crc);
        pos_out[i] = (uint32_t)pos;
        if (s->buf_len + frame > s->buf_cap) {
            rc = s_flush_locked(s);
            if (rc)
                goto fail;
        }
        if (frame > s->buf_cap) {
            /* Too big to buffer: write it straight through. */
            struct iovec iov[2] = {{hdr, sizeof hdr}, {recs[i].iov_base, len}};
            size_t done;
            rc = s_write_all(s, iov, 2, pos, &done);
            if (rc)
                goto fail;
            atomic_store_explicit(&s->flushed, pos + frame, memory_order_release);
        } else {
            memcpy(s->buf + s->buf_len, hdr, sizeof hdr);
            if (len) /* an empty record may come with a NULL base */
                memcpy(s->buf + s->buf_len + sizeof hdr, recs[i].iov_base, len);
            s->buf_len += frame;
        }
        pos += frame;
    }
    atomic_store_explicit(&s->size, pos, memory_order_release);
    pthread_mutex_unlock(&s->buf_mu);
    return 0;
fail:
    s_truncate_locked(s, start); /* best effort; the write error is what we report */
    pthread_mutex_unlock(&s->buf_mu);
    return rc;
}

int sl_store_append_frames(sl_store_t *s, const void *frames, size_t nbytes,
                           const struct iovec *recs, size_t n, uint32_t *pos_out)
{
    pthread_mutex_lock(&s->buf_mu);
    uint64_t start = atomic_load_explicit(&s->size, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        size_t at = (size_t)((const uint8_t *)recs[i].iov_base - (const uint8_t *)frames);
        pos_out[i] = (uint32_t)(start + at - SL_FRAME_HEADER_LEN);
    }
    int rc = 0;
    if (s->buf_len + nbytes > s->buf_cap)
        rc = s_flush_locked(s);
    if (rc == 0 && s->buf_len + nbytes <= s->buf_cap) {
        memcpy(s->buf + s->buf_len, frames, nbytes);
        s->buf_len += nbytes;
    } else if (rc == 0) {
        /* Larger than the buffer: straight through, after what it held. */
        struct iovec iov = {(void *)frames, nbytes};
        size_t done;
        rc = s_write_all(s, &iov, 1, start, &done);
        if (rc == 0)
            atomic_store_explicit(&s->flushed, start + nbytes, memory_order_release);
    }
    if (rc) {
        s_truncate_locked(s, start); /* best effort, as in sl_store_append */
        pthread_mutex_unlock(&s->buf_mu);
        return rc;
    }
    atomic_store_explicit(&s->size, start + nbytes, memory_order_release);
    pthread_mutex_unlock(&s->buf_mu);
    return 0;
}

int sl_store_flush(sl_store_t *s)
{
    pthread_mutex_lock(&s->buf_mu);
    int rc = s_flush_locked(s);
    pthread_mutex_unlock(&s->buf_mu);
    return rc;
}

int sl_store_datasync(sl_store_t *s)
{
    return -s->vfs->fdatasync(s->vfs->ctx, s->fd);
}

int sl_store_patch(sl_store_t *s, uint64_t pos, const void *buf, size_t n)
{
    pthread_mutex_lock(&s->buf_mu);
    int rc = SEGLOG_E_INVAL;
    if (pos + n <= atomic_load_explicit(&s->flushed, memory_order_relaxed)) {
        struct iovec iov = {(void *)buf, n};
        size_t done;
        rc = s_write_all(s, &iov, 1, pos, &done);
    }
    pthread_mutex_unlock(&s->buf_mu);
    return rc;
}

int sl_store_truncate(sl_store_t *s, uint64_t size)
{
    pthread_mutex_lock(&s->buf_mu);
    int rc = s_truncate_locked(s, size);
    pthread_mutex_unlock(&s->buf_mu);
    return rc;
}

/* Copy n bytes starting `skip` bytes into the iovecs from src. */
static void s_copy_to_iov(const struct iovec *iov, int iovcnt, size_t skip, const uint8_t *src,
                          size_t n)
{
    for (int i = 0; i < iovcnt && n > 0; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - skip;
        if (k > n)
            k = n;
        memcpy((uint8_t *)iov[i].iov_base + skip, src, k);
        src += k;
        n -= k;
        skip = 0;
    }
}

/* preadv exactly n bytes (looping over short reads). */
static int s_pread_all(sl_store_t *s, uint64_t pos, const struct iovec *iov, int iovcnt, size_t n)
{
    size_t got = 0;
    struct iovec local[4];
    if (iovcnt > 4)
        return SEGLOG_E_INVAL;
    memcpy(local, iov, sizeof(struct iovec) * (size_t)iovcnt);
    struct iovec *v = local;
    int cnt = iovcnt;
    /* Trim the iovecs to n bytes. */
    size_t left = n;
    for (int i = 0; i < cnt; i++) {
        if (v[i].iov_len > left)
            v[i].iov_len = left;
        left -= v[i].iov_len;
    }
    while (got < n) {
        while (cnt > 0 && v->iov_len == 0) {
            v++;
            cnt--;
        }
        ssize_t r = s->vfs->preadv(s->vfs->ctx, s->fd, v, cnt, (off_t)(pos + got));
        if (r < 0)
            return (int)-r;
        if (r == 0)
            return SEGLOG_E_CORRUPT; /* the file ends early */
        got += (size_t)r;
        while (cnt > 0 && (size_t)r >= v->iov_len) {
            r -= (ssize_t)v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (uint8_t *)v->iov_base + r;
            v->iov_len -= (size_t)r;
        }
    }
    return 0;
}

int sl_store_readv(sl_store_t *s, uint64_t pos, const struct iovec *iov, int iovcnt, size_t n)
{
    uint64_t flushed = atomic_load_explicit(&s->flushed, memory_order_acquire);
    if (pos + n <= flushed)
        return s_pread_all(s, pos, iov, iovcnt, n);
    pthread_mutex_lock(&s->buf_mu);
    flushed = atomic_load_explicit(&s->flushed, memory_order_relaxed);
    int rc = 0;
    if (pos + n > flushed + s->buf_len) {
        rc = SEGLOG_E_CORRUPT;
    } else if (pos + n <= flushed) {
        rc = s_pread_all(s, pos, iov, iovcnt, n);
    } else {
        size_t from_file = pos < flushed ? (size_t)(flushed - pos) : 0;
        if (from_file)
            rc = s_pread_all(s, pos, iov, iovcnt, from_file);
        if (rc == 0) {
            size_t boff = pos > flushed ? (size_t)(pos - flushed) : 0;
            s_copy_to_iov(iov, iovcnt, from_file, s->buf + boff, n - from_file);
        }
    }
    pthread_mutex_unlock(&s->buf_mu);
    return rc;
}

int sl_frame_check(const uint8_t *p, size_t avail, uint32_t max_len, uint32_t *payload_len,
                   int *end)
{
    if (avail < SL_FRAME_HEADER_LEN) {
        *payload_len = 0;
        return 0;
    }
    uint32_t lf = sl_get32(p);
    uint32_t len = lf & SL_FRAME_LEN_MASK;
    *payload_len = len;
    if (len > max_len)
        return SEGLOG_E_CORRUPT;
    if (avail - SL_FRAME_HEADER_LEN < len)
        return 0;
    uint32_t crc = sl_crc32c(0, p, 4);
    crc = sl_crc32c(crc, p + SL_FRAME_HEADER_LEN, len);
    if (crc != sl_get32(p + 4))
        return SEGLOG_E_CORRUPT;
    if (end)
        *end = (lf & SL_FRAME_END) != 0;
    return 1;
}

/* Frames up to this size are read whole into a stack buffer and their
 * payload copied out: a one-iovec read costs the kernel measurably less
 * than a two-iovec one (header + caller's buffer), and for small payloads
 * the difference is more than the extra copy (docs/PERFORMANCE.md). */
#define SMALL_FRAME 2048u

int sl_store_read_frame(sl_store_t *s, uint64_t pos, uint64_t frame_len, uint32_t max_len,
                        void *buf, size_t cap, size_t *len, int *end)
{
    uint8_t small[SMALL_FRAME];
    uint8_t hdr[SL_FRAME_HEADER_LEN];
    const uint8_t *payload = buf;
    int rc;
    uint32_t plen;
    if (frame_len >= SL_FRAME_HEADER_LEN && frame_len <= sizeof small &&
        frame_len - SL_FRAME_HEADER_LEN <= cap) {
        /* Length known from the index, and small: one read, one iovec. */
        plen = (uint32_t)(frame_len - SL_FRAME_HEADER_LEN);
        struct iovec iov = {small, (size_t)frame_len};
        rc = sl_store_readv(s, pos, &iov, 1, (size_t)frame_len);
        if (rc)
            return rc;
        memcpy(hdr, small, sizeof hdr);
        payload = small + SL_FRAME_HEADER_LEN;
        if ((sl_get32(hdr) & SL_FRAME_LEN_MASK) != plen)
            return SEGLOG_E_CORRUPT;
    } else if (frame_len >= SL_FRAME_HEADER_LEN && frame_len - SL_FRAME_HEADER_LEN <= cap) {
        /* Length known from the index: one read for header and payload. */
        plen = (uint32_t)(frame_len - SL_FRAME_HEADER_LEN);
        struct iovec iov[2] = {{hdr, sizeof hdr}, {buf, plen}};
        rc = sl_store_readv(s, pos, iov, 2, (size_t)frame_len);
        if (rc)
            return rc;
        if ((sl_get32(hdr) & SL_FRAME_LEN_MASK) != plen)
            return SEGLOG_E_CORRUPT;
    } else {
        struct iovec iov = {hdr, sizeof hdr};
        rc = sl_store_readv(s, pos, &iov, 1, sizeof hdr);
        if (rc)
            return rc;
        plen = sl_get32(hdr) & SL_FRAME_LEN_MASK;
        if (plen > max_len)
            return SEGLOG_E_CORRUPT;
        *len = plen;
        if (plen > cap)
            return SEGLOG_E_BUFFER_TOO_SMALL;
        struct iovec pv = {buf, plen};
        rc = sl_store_readv(s, pos + sizeof hdr, &pv, 1, plen);
        if (rc)
            return rc;
    }
    uint32_t crc = sl_crc32c(0, hdr, 4);
    crc = sl_crc32c(crc, payload, plen);
    if (crc != sl_get32(hdr + 4))
        return SEGLOG_E_CORRUPT;
    if (payload != buf && plen)
        memcpy(buf, payload, plen);
    *len = plen;
    if (end)
        *end = (sl_get32(hdr) & SL_FRAME_END) != 0;
    return 0;
}

int sl_store_close(sl_store_t **s_p, int sync)
{
    sl_store_t *s = *s_p;
    if (!s)
        return 0;
    *s_p = NULL;
    int rc = sl_store_flush(s);
    if (rc == 0 && sync)
        rc = sl_store_datasync(s);
    int crc = -s->vfs->close(s->vfs->ctx, s->fd);
    if (rc == 0)
        rc = crc;
    s_free(s);
    return rc;
}
