/* testutil.h - small helpers shared by the test executables: temporary
 * directories (removed at the end), file damage, and a fault-injecting
 * seglog_vfs_t. */
#ifndef SEGLOG_TESTUTIL_H
#define SEGLOG_TESTUTIL_H

#include "seglog/log.h"

#include <stddef.h>
#include <stdint.h>

/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'ed path. */
char *tu_tempdir(const char *tag);

/* rm -rf path, then free it and set *path_p to NULL. */
void tu_rmrf(char **path_p);

/* "<dir>/<name>" into a static-free malloc'ed string. */
char *tu_path(const char *dir, const char *name);

/* "<dir>/<20-digit base><ext>" */
char *tu_seg_path(const char *dir, uint64_t base, const char *ext);

/* File helpers; each returns 0 or -1. */
long tu_file_size(const char *path);
int tu_truncate(const char *path, long size);
int tu_append_bytes(const char *path, const void *buf, size_t n);
int tu_write_at(const char *path, long off, const void *buf, size_t n);
int tu_read_at(const char *path, long off, void *buf, size_t n);
int tu_write_file(const char *path, const void *buf, size_t n);
int tu_exists(const char *path);

/* Remove "<dir>/.clean_shutdown" so that the next open is unclean (as
 * after a crash). Returns 0 if the marker was there. */
int tu_drop_clean_marker(const char *dir);

/* Run fn(arg) in a forked child that then exits with _exit(), skipping
 * every close, flush and atexit handler: a process crash. fn must not use
 * cmocka asserts. Returns fn's result (0..255), or -1 if the child died
 * otherwise. */
int tu_crash_child(int (*fn)(void *), void *arg);

/* A fault-injecting VFS that wraps the POSIX one. Set the fault fields
 * while no log uses it (or from the thread that appends). The counters are
 * atomic: syncs may run on several threads at once (group commit, roll). */
typedef struct tu_faults {
    int fail_write_errno;      /* if set, pwritev fails with it */
    int fail_write_after;      /* pwritev calls that succeed before failing (-1 = now) */
    int short_writes;          /* if set, pwritev writes at most half, at least 1 byte */
    int fail_sync_errno;       /* if set, fdatasync fails with it */
    _Atomic int writes, syncs; /* counters */
} tu_faults_t;

/* Returns a VFS whose ctx points at f. */
seglog_vfs_t tu_fault_vfs(tu_faults_t *f);

/* A small default config for tests: 1 KiB records max, tiny segments. */
void tu_config(seglog_config_t *c, uint64_t store_bytes, uint64_t index_bytes);

#endif
