/* testutil.c - see testutil.h */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ftw.h>

char *tu_tempdir(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/seglog-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(buf))
        return NULL;
    return strdup(buf);
}

static int s_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rmrf(char **path_p)
{
    if (!path_p || !*path_p)
        return;
    nftw(*path_p, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(*path_p);
    *path_p = NULL;
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *tu_seg_path(const char *dir, uint64_t base, const char *ext)
{
    char name[64];
    snprintf(name, sizeof name, "%020" PRIu64 "%s", base, ext);
    return tu_path(dir, name);
}

long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

int tu_truncate(const char *path, long size)
{
    return truncate(path, size);
}

int tu_append_bytes(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, buf, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

int tu_write_at(const char *path, long off, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t w = pwrite(fd, buf, n, off);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

int tu_read_at(const char *path, long off, void *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t r = pread(fd, buf, n, off);
    close(fd);
    return r == (ssize_t)n ? 0 : -1;
}

int tu_write_file(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = n ? write(fd, buf, n) : 0;
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_drop_clean_marker(const char *dir)
{
    char *p = tu_path(dir, ".clean_shutdown");
    int rc = unlink(p);
    free(p);
    return rc;
}

int tu_crash_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn(arg) & 0xff);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- fault VFS ---- */

static const seglog_vfs_t *P(void)
{
    return seglog_vfs_posix();
}

static int f_open(void *ctx, const char *path, int flags, mode_t mode)
{
    (void)ctx;
    return P()->open(NULL, path, flags, mode);
}
static int f_close(void *ctx, int fd)
{
    (void)ctx;
    return P()->close(NULL, fd);
}
static ssize_t f_preadv(void *ctx, int fd, const struct iovec *iov, int n, off_t off)
{
    (void)ctx;
    return P()->preadv(NULL, fd, iov, n, off);
}
static ssize_t f_pwritev(void *ctx, int fd, const struct iovec *iov, int n, off_t off)
{
    tu_faults_t *f = ctx;
    f->writes++;
    if (f->fail_write_errno) {
        if (f->fail_write_after <= 0)
            return -f->fail_write_errno;
        f->fail_write_after--;
    }
    if (f->short_writes) {
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        size_t half = total / 2 ? total / 2 : 1;
        /* write only the first `half` bytes */
        struct iovec v[16];
        int k = 0;
        size_t left = half;
        for (int i = 0; i < n && left > 0 && k < 16; i++) {
            v[k] = iov[i];
            if (v[k].iov_len > left)
                v[k].iov_len = left;
            left -= v[k].iov_len;
            k++;
        }
        return P()->pwritev(NULL, fd, v, k, off);
    }
    return P()->pwritev(NULL, fd, iov, n, off);
}
static int f_fdatasync(void *ctx, int fd)
{
    tu_faults_t *f = ctx;
    f->syncs++;
    if (f->fail_sync_errno)
        return -f->fail_sync_errno;
    return P()->fdatasync(NULL, fd);
}
static int f_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    return P()->ftruncate(NULL, fd, len);
}
static int f_fallocate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    return P()->fallocate(NULL, fd, len);
}
static int f_rename(void *ctx, const char *a, const char *b)
{
    (void)ctx;
    return P()->rename(NULL, a, b);
}
static int f_unlink(void *ctx, const char *p)
{
    (void)ctx;
    return P()->unlink(NULL, p);
}
static int f_fsync_dir(void *ctx, const char *d)
{
    tu_faults_t *f = ctx;
    if (f->fail_sync_errno)
        return -f->fail_sync_errno;
    return P()->fsync_dir(NULL, d);
}
static int f_fstat_size(void *ctx, int fd, off_t *size)
{
    (void)ctx;
    return P()->fstat_size(NULL, fd, size);
}

seglog_vfs_t tu_fault_vfs(tu_faults_t *f)
{
    seglog_vfs_t v = {
        .ctx = f,
        .open = f_open,
        .close = f_close,
        .preadv = f_preadv,
        .pwritev = f_pwritev,
        .fdatasync = f_fdatasync,
        .ftruncate = f_ftruncate,
        .fallocate = f_fallocate,
        .rename = f_rename,
        .unlink = f_unlink,
        .fsync_dir = f_fsync_dir,
        .fstat_size = f_fstat_size,
    };
    return v;
}

void tu_config(seglog_config_t *c, uint64_t store_bytes, uint64_t index_bytes)
{
    seglog_config_default(c);
    c->max_record_bytes = 1024;
    c->max_store_bytes = store_bytes;
    c->max_index_bytes = index_bytes;
    c->sync = SEGLOG_SYNC_NONE;
}
