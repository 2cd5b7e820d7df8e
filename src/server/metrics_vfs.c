/*
 * metrics_vfs.c - a seglog_vfs_t that forwards every call to another table
 * and times the syncs (fdatasync and directory fsync) into a histogram:
 * seglog_fsync_duration_seconds, without the log core knowing about
 * metrics. See metrics.h.
 */
#include "metrics.h"

#define INNER(ctx) (((sl_metrics_vfs_t *)(ctx))->inner)

static int s_open(void *ctx, const char *path, int flags, mode_t mode)
{
    return INNER(ctx)->open(INNER(ctx)->ctx, path, flags, mode);
}

static int s_close(void *ctx, int fd)
{
    return INNER(ctx)->close(INNER(ctx)->ctx, fd);
}

static ssize_t s_preadv(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return INNER(ctx)->preadv(INNER(ctx)->ctx, fd, iov, iovcnt, off);
}

static ssize_t s_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return INNER(ctx)->pwritev(INNER(ctx)->ctx, fd, iov, iovcnt, off);
}

static int s_fdatasync(void *ctx, int fd)
{
    uint64_t t0 = sl_metrics_now_ns();
    int rc = INNER(ctx)->fdatasync(INNER(ctx)->ctx, fd);
    sl_hist_observe(((sl_metrics_vfs_t *)ctx)->fsync, sl_metrics_now_ns() - t0);
    return rc;
}

static int s_ftruncate(void *ctx, int fd, off_t len)
{
    return INNER(ctx)->ftruncate(INNER(ctx)->ctx, fd, len);
}

static int s_fallocate(void *ctx, int fd, off_t len)
{
    return INNER(ctx)->fallocate(INNER(ctx)->ctx, fd, len);
}

static int s_rename(void *ctx, const char *from, const char *to)
{
    return INNER(ctx)->rename(INNER(ctx)->ctx, from, to);
}

static int s_unlink(void *ctx, const char *path)
{
    return INNER(ctx)->unlink(INNER(ctx)->ctx, path);
}

static int s_fsync_dir(void *ctx, const char *dir)
{
    uint64_t t0 = sl_metrics_now_ns();
    int rc = INNER(ctx)->fsync_dir(INNER(ctx)->ctx, dir);
    sl_hist_observe(((sl_metrics_vfs_t *)ctx)->fsync, sl_metrics_now_ns() - t0);
    return rc;
}

static int s_fstat_size(void *ctx, int fd, off_t *size)
{
    return INNER(ctx)->fstat_size(INNER(ctx)->ctx, fd, size);
}

void sl_metrics_vfs_init(sl_metrics_vfs_t *mv, const seglog_vfs_t *inner, sl_hist_t *fsync)
{
    mv->inner = inner ? inner : seglog_vfs_posix();
    mv->fsync = fsync;
    mv->vfs = (seglog_vfs_t){
        .ctx = mv,
        .open = s_open,
        .close = s_close,
        .preadv = s_preadv,
        .pwritev = s_pwritev,
        .fdatasync = s_fdatasync,
        .ftruncate = s_ftruncate,
        .fallocate = s_fallocate,
        .rename = s_rename,
        .unlink = s_unlink,
        .fsync_dir = s_fsync_dir,
        .fstat_size = s_fstat_size,
    };
}
