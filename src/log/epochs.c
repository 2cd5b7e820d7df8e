/* epochs.c - the leader epoch cache file (see epochs.h). */
#include "epochs.h"

#include "crc32c.h"
#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EP_MAGIC   0x454c4753u /* "SGLE" */
#define EP_VERSION 1u
#define EP_HEADER  16u
#define EP_ENTRY   16u
#define EP_MAX     (1u << 20) /* entries; a bound for a damaged count */

static char *s_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int s_unlink(const seglog_vfs_t *v, const char *path)
{
    int rc = -v->unlink(v->ctx, path);
    return rc == ENOENT ? 0 : rc;
}

static int s_reserve(sl_epochs_t *ep, size_t n)
{
    if (ep->cap >= n)
        return 0;
    size_t cap = ep->cap ? ep->cap * 2 : 8;
    if (cap < n)
        cap = n;
    sl_epoch_entry_t *e = realloc(ep->e, cap * sizeof *e);
    if (!e)
        return SEGLOG_E_NOMEM;
    ep->e = e;
    ep->cap = cap;
    return 0;
}

static int s_parse(const uint8_t *b, size_t len, sl_epochs_t *ep)
{
    if (len < EP_HEADER + 4 || sl_get32(b) != EP_MAGIC || sl_get32(b + 4) != EP_VERSION)
        return SEGLOG_E_CORRUPT;
    uint32_t n = sl_get32(b + 8);
    if (n > EP_MAX || len != EP_HEADER + (size_t)n * EP_ENTRY + 4 ||
        sl_get32(b + len - 4) != sl_crc32c(0, b, len - 4))
        return SEGLOG_E_CORRUPT;
    int rc = s_reserve(ep, n);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = b + EP_HEADER + (size_t)i * EP_ENTRY;
        sl_epoch_entry_t e = {sl_get64(p), sl_get64(p + 8)};
        if (i > 0 && (e.epoch <= ep->e[i - 1].epoch || e.start <= ep->e[i - 1].start))
            return SEGLOG_E_CORRUPT;
        ep->e[i] = e;
    }
    ep->n = n;
    return 0;
}

int sl_epochs_load(const seglog_vfs_t *v, const char *dir, sl_epochs_t *ep)
{
    ep->n = 0;
    char *tmp = s_path(dir, SL_EPOCHS_TMP), *path = s_path(dir, SL_EPOCHS_FILE);
    uint8_t *b = NULL;
    int fd = -1, rc = tmp && path ? 0 : SEGLOG_E_NOMEM;
    if (rc == 0)
        rc = s_unlink(v, tmp); /* a replacement that never happened */
    if (rc == 0) {
        fd = v->open(v->ctx, path, O_RDONLY, 0);
        if (fd == -ENOENT)
            goto out;
        if (fd < 0)
            rc = -fd;
    }
    off_t size = 0;
    if (rc == 0)
        rc = -v->fstat_size(v->ctx, fd, &size);
    if (rc == 0 && (size < EP_HEADER + 4 || size > EP_HEADER + (off_t)EP_MAX * EP_ENTRY + 4))
        rc = SEGLOG_E_CORRUPT;
    if (rc == 0 && !(b = malloc((size_t)size)))
        rc = SEGLOG_E_NOMEM;
    if (rc == 0) {
        struct iovec iov = {b, (size_t)size};
        ssize_t got = v->preadv(v->ctx, fd, &iov, 1, 0);
        rc = got < 0 ? (int)-got : got != size ? SEGLOG_E_CORRUPT : 0;
    }
    if (rc == 0)
        rc = s_parse(b, (size_t)size, ep);
out:
    if (fd >= 0)
        v->close(v->ctx, fd);
    free(b);
    free(tmp);
    free(path);
    return rc;
}

int sl_epochs_store(const seglog_vfs_t *v, const char *dir, const sl_epochs_t *ep)
{
    char *tmp = s_path(dir, SL_EPOCHS_TMP), *path = s_path(dir, SL_EPOCHS_FILE);
    size_t len = EP_HEADER + ep->n * EP_ENTRY + 4;
    uint8_t *b = calloc(1, len);
    int fd = -1, rc = tmp && path && b ? 0 : SEGLOG_E_NOMEM;
    if (rc)
        goto out;
    if (ep->n == 0) {
        rc = s_unlink(v, path);
        if (rc == 0)
            rc = -v->fsync_dir(v->ctx, dir);
        goto out;
    }
    sl_put32(b, EP_MAGIC);
    sl_put32(b + 4, EP_VERSION);
    sl_put32(b + 8, (uint32_t)ep->n);
    for (size_t i = 0; i < ep->n; i++) {
        sl_put64(b + EP_HEADER + i * EP_ENTRY, ep->e[i].epoch);
        sl_put64(b + EP_HEADER + i * EP_ENTRY + 8, ep->e[i].start);
    }
    sl_put32(b + len - 4, sl_crc32c(0, b, len - 4));
    fd = v->open(v->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = -fd;
        goto out;
    }
    struct iovec iov = {b, len};
    ssize_t n = v->pwritev(v->ctx, fd, &iov, 1, 0);
    rc = n < 0 ? (int)-n : (size_t)n != len ? EIO : 0;
    if (rc == 0)
        rc = -v->fdatasync(v->ctx, fd);
    int r = -v->close(v->ctx, fd);
    if (rc == 0)
        rc = r;
    if (rc == 0)
        rc = -v->rename(v->ctx, tmp, path);
    else
        s_unlink(v, tmp); /* best effort; load removes it anyway */
    if (rc == 0)
        rc = -v->fsync_dir(v->ctx, dir);
out:
    free(b);
    free(tmp);
    free(path);
    return rc;
}

int sl_epochs_trim_end(sl_epochs_t *ep, uint64_t next)
{
    size_t n = ep->n;
    while (ep->n > 0 && ep->e[ep->n - 1].start >= next)
        ep->n--;
    return ep->n != n;
}

int sl_epochs_trim_front(sl_epochs_t *ep, uint64_t lowest)
{
    size_t k = 0;
    while (k + 1 < ep->n && ep->e[k + 1].start <= lowest)
        k++;
    int changed = k > 0;
    if (k > 0) {
        memmove(ep->e, ep->e + k, (ep->n - k) * sizeof *ep->e);
        ep->n -= k;
    }
    if (ep->n > 0 && ep->e[0].start < lowest) {
        ep->e[0].start = lowest;
        changed = 1;
    }
    return changed;
}

int sl_epochs_push(sl_epochs_t *ep, uint64_t epoch, uint64_t start)
{
    int rc = s_reserve(ep, ep->n + 1);
    if (rc)
        return rc;
    ep->e[ep->n++] = (sl_epoch_entry_t){epoch, start};
    return 0;
}

void sl_epochs_free(sl_epochs_t *ep)
{
    free(ep->e);
    ep->e = NULL;
    ep->n = ep->cap = 0;
}
