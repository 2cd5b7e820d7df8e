/* vfs.c - the POSIX file I/O table. Errors come back as -errno. */
#include "seglog/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int s_open(void *ctx, const char *path, int flags, mode_t mode)
{
    (void)ctx;
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int s_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t s_preadv(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    (void)ctx;
    ssize_t n;
    do
        n = preadv(fd, iov, iovcnt, off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static ssize_t s_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    (void)ctx;
    ssize_t n;
    do
        n = pwritev(fd, iov, iovcnt, off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int s_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int s_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    int rc;
    do
        rc = ftruncate(fd, len);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int s_fallocate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    /* posix_fallocate returns the error number instead of setting errno. */
    int rc = posix_fallocate(fd, 0, len);
    return rc == EINVAL || rc == EOPNOTSUPP ? 0 : -rc; /* fs without it: sparse is acceptable */
}

static int s_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int s_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

static int s_fsync_dir(void *ctx, const char *dir)
{
    (void)ctx;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int s_fstat_size(void *ctx, int fd, off_t *size)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *size = st.st_size;
    return 0;
}

static const seglog_vfs_t s_posix = {
    .ctx = NULL,
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

const seglog_vfs_t *seglog_vfs_posix(void)
{
    return &s_posix;
}
