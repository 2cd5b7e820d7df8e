/* test_faults.c - I/O faults through the fault-injecting VFS: failed and
 * short writes, failed fdatasync, failures while rolling. An append that
 * fails returns the errno, leaves nothing partial behind, reads keep
 * working, and appends resume once the fault clears, without a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "format.h"
#include "testutil.h"

#define NEVER_MS 3600000u

typedef struct {
    char *tmp;
    char *dir;
    tu_faults_t f;
    seglog_vfs_t vfs;
    seglog_config_t cfg;
    seglog_log_t *log;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("faults");
    fx->dir = tu_path(fx->tmp, "log");
    fx->vfs = tu_fault_vfs(&fx->f);
    tu_config(&fx->cfg, 1 << 20, 1 << 12);
    fx->cfg.sync_interval_ms = NEVER_MS; /* no background flush: the test drives I/O */
    fx->cfg.write_buffer_bytes = 4096;
    fx->cfg.vfs = &fx->vfs;
    *state = fx;
    return fx->tmp ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    seglog_log_destroy(&fx->log);
    free(fx->dir);
    tu_rmrf(&fx->tmp);
    free(fx);
    return 0;
}

static size_t s_rec(uint64_t i, uint8_t *buf)
{
    size_t len = 300 + (size_t)((i * 53u) % 700u);
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 131u + j * 7u + 3u);
    return len;
}

static int s_append(seglog_log_t *log, uint64_t i, uint64_t *off)
{
    uint8_t buf[1024];
    return seglog_log_append(log, buf, s_rec(i, buf), off);
}

static void s_check(seglog_log_t *log, uint64_t off, uint64_t i)
{
    uint8_t want[1024], got[1024];
    size_t wlen = s_rec(i, want), glen = 0;
    assert_int_equal(seglog_log_read(log, off, got, sizeof got, &glen), 0);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
}

static uint64_t s_next(seglog_log_t *log)
{
    uint64_t v = UINT64_MAX;
    assert_int_equal(seglog_log_next_offset(log, &v), 0);
    return v;
}

/* Close, reopen through plain POSIX, and check the log holds exactly
 * records [0, n). */
static void s_reopen_check(fx_t *fx, uint64_t n)
{
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    seglog_config_t c = fx->cfg;
    c.vfs = NULL;
    assert_int_equal(seglog_log_open(fx->dir, &c, &fx->log), 0);
    seglog_recovery_t rec;
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.clean, 1);
    assert_int_equal(s_next(fx->log), n);
    for (uint64_t i = 0; i < n; i++)
        s_check(fx->log, i, i);
}

/* ENOSPC or EIO when the write buffer goes out: the append that needed
 * the room fails with the errno; the records acknowledged before stay
 * (in the buffer) and keep reading; once the fault clears, appends resume. */
static void write_error_fails_append(void **state)
{
    fx_t *fx = *state;
    const int errs[2] = {ENOSPC, EIO};
    for (int k = 0; k < 2; k++) {
        fx->f.fail_write_errno = 0;
        assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
        uint64_t n = s_next(fx->log), off;
        assert_int_equal(n, k == 0 ? 0 : 8);
        for (int j = 0; j < 3; j++, n++) {
            assert_int_equal(s_append(fx->log, n, &off), 0);
            assert_int_equal(off, n);
        }
        fx->f.fail_write_errno = errs[k];
        fx->f.fail_write_after = 0;
        int rc = 0;
        for (int tries = 0; tries < 10 && rc == 0; tries++) {
            rc = s_append(fx->log, n, &off);
            if (rc == 0)
                n++; /* still fitted in the buffer */
        }
        assert_int_equal(rc, errs[k]);
        assert_int_equal(s_next(fx->log), n);
        /* Again: still failing, still nothing added. */
        assert_int_equal(s_append(fx->log, n, &off), errs[k]);
        assert_int_equal(seglog_log_flush(fx->log), errs[k]);
        for (uint64_t i = 0; i < n; i++)
            s_check(fx->log, i, i);
        char b[8];
        size_t len;
        assert_int_equal(seglog_log_read(fx->log, n, b, sizeof b, &len),
                         SEGLOG_E_OFFSET_OUT_OF_RANGE);
        fx->f.fail_write_errno = 0;
        while (n < (uint64_t)(k + 1) * 8) {
            assert_int_equal(s_append(fx->log, n, &off), 0);
            assert_int_equal(off, n);
            n++;
        }
        s_reopen_check(fx, n);
        assert_int_equal(seglog_log_close(fx->log), 0);
        seglog_log_destroy(&fx->log);
    }
}

/* A record bigger than the write buffer is written through; when that
 * write fails nothing of it stays in the file. */
static void write_through_error_leaves_nothing(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_record_bytes = 16384;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint64_t off;
    for (uint64_t i = 0; i < 2; i++)
        assert_int_equal(s_append(fx->log, i, &off), 0);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    char *sp = tu_seg_path(fx->dir, 0, ".store");
    long size = tu_file_size(sp);
    uint8_t *big = malloc(10000);
    memset(big, 0x77, 10000);
    fx->f.fail_write_errno = ENOSPC;
    fx->f.fail_write_after = 0;
    fx->f.short_writes = 1; /* and the writes that do happen are short */
    assert_int_equal(seglog_log_append(fx->log, big, 10000, &off), ENOSPC);
    assert_int_equal(tu_file_size(sp), size);
    fx->f.fail_write_after = 3; /* three short writes get through, then ENOSPC */
    assert_int_equal(seglog_log_append(fx->log, big, 10000, &off), ENOSPC);
    assert_int_equal(tu_file_size(sp), size);
    assert_int_equal(s_next(fx->log), 2);
    s_check(fx->log, 0, 0);
    s_check(fx->log, 1, 1);
    fx->f.fail_write_errno = 0;
    assert_int_equal(s_append(fx->log, 2, &off), 0);
    assert_int_equal(off, 2);
    free(big);
    free(sp);
    s_reopen_check(fx, 3);
}

/* Every write comes back short: the log loops and loses nothing. */
static void short_writes_lose_nothing(void **state)
{
    fx_t *fx = *state;
    fx->f.short_writes = 1;
    fx->cfg.max_index_bytes = 16 * 8;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint64_t off;
    for (uint64_t i = 0; i < 50; i++) {
        assert_int_equal(s_append(fx->log, i, &off), 0);
        assert_int_equal(off, i);
    }
    assert_true(fx->f.writes > 50);
    s_reopen_check(fx, 50);
}

/* Under SYNC_ALWAYS the write happens before the append returns: a failed
 * write fails it, and the log rolls it back. */
static void write_error_sync_always(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint64_t off, v;
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(s_append(fx->log, i, &off), 0);
    fx->f.fail_write_errno = EIO;
    fx->f.fail_write_after = 0;
    assert_int_equal(s_append(fx->log, 3, &off), EIO);
    assert_int_equal(s_next(fx->log), 3);
    assert_int_equal(seglog_log_committed_offset(fx->log, &v), 0);
    assert_int_equal(v, 3);
    for (uint64_t i = 0; i < 3; i++)
        s_check(fx->log, i, i);
    fx->f.fail_write_errno = 0;
    assert_int_equal(s_append(fx->log, 3, &off), 0);
    assert_int_equal(off, 3);
    s_reopen_check(fx, 4);
}

/* Under SYNC_ALWAYS a failed fdatasync fails the append: the unacknowledged
 * records are cut from the store, acknowledged ones stay, and the next
 * append (the fault cleared) reuses the offset. */
static void failed_fdatasync_rolls_back(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint64_t off, v;
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(s_append(fx->log, i, &off), 0);
    char *sp = tu_seg_path(fx->dir, 0, ".store");
    long size = tu_file_size(sp);
    int syncs = fx->f.syncs;
    fx->f.fail_sync_errno = EIO;
    assert_int_equal(s_append(fx->log, 3, &off), EIO);
    assert_true(fx->f.syncs > syncs);
    assert_int_equal(s_next(fx->log), 3);
    assert_int_equal(tu_file_size(sp), size);
    /* A batch: all of it goes. */
    uint8_t b[3][1024];
    struct iovec iov[3];
    for (int k = 0; k < 3; k++) {
        iov[k].iov_base = b[k];
        iov[k].iov_len = s_rec(3 + (uint64_t)k, b[k]);
    }
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 3, &off), EIO);
    assert_int_equal(s_next(fx->log), 3);
    assert_int_equal(tu_file_size(sp), size);
    assert_int_equal(seglog_log_committed_offset(fx->log, &v), 0);
    assert_int_equal(v, 3);
    for (uint64_t i = 0; i < 3; i++)
        s_check(fx->log, i, i);
    char buf[8];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 3, buf, sizeof buf, &len),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    /* Explicit sync fails too, and cuts nothing that was acknowledged. */
    assert_int_equal(seglog_log_sync(fx->log), EIO);
    fx->f.fail_sync_errno = 0;
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 3, &off), 0);
    assert_int_equal(off, 3);
    assert_int_equal(seglog_log_committed_offset(fx->log, &v), 0);
    assert_int_equal(v, 6);
    free(sp);
    s_reopen_check(fx, 6);
}

/* The header of the next segment cannot be written: the append fails, the
 * log stays as it was, and (fault cleared) the roll succeeds later. A
 * clean close in between must leave a log that opens. */
static void roll_fails_on_header_write(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint64_t off;
    for (uint64_t i = 0; i < 4; i++)
        assert_int_equal(s_append(fx->log, i, &off), 0);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    fx->f.fail_write_errno = ENOSPC;
    fx->f.fail_write_after = 0;
    assert_int_equal(s_append(fx->log, 4, &off), ENOSPC);
    assert_int_equal(s_next(fx->log), 4);
    for (uint64_t i = 0; i < 4; i++)
        s_check(fx->log, i, i);
    fx->f.fail_write_errno = 0;
    /* Close now, with the failed roll behind us. */
    s_reopen_check(fx, 4);
    assert_int_equal(s_append(fx->log, 4, &off), 0);
    assert_int_equal(off, 4);
    s_reopen_check(fx, 5);
}

/* The directory fsync after creating the next segment fails. */
static void roll_fails_on_dir_sync(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint64_t off;
    for (uint64_t i = 0; i < 4; i++)
        assert_int_equal(s_append(fx->log, i, &off), 0);
    fx->f.fail_sync_errno = EIO; /* fdatasync and the directory fsync */
    assert_int_equal(s_append(fx->log, 4, &off), EIO);
    assert_int_equal(s_next(fx->log), 4);
    char *s4 = tu_seg_path(fx->dir, 4, ".store");
    assert_false(tu_exists(s4));
    free(s4);
    for (uint64_t i = 0; i < 4; i++)
        s_check(fx->log, i, i);
    fx->f.fail_sync_errno = 0;
    assert_int_equal(s_append(fx->log, 4, &off), 0);
    assert_int_equal(off, 4);
    s_reopen_check(fx, 5);
}

/* A waiter whose append was rolled back must learn so even when the cut
 * offsets have been reused and committed before it looks: the committed
 * offset alone would say "done". Driven step by step with the token API. */
static void rolled_back_token_fails_after_reuse(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint8_t buf[1024];
    uint64_t off;
    assert_int_equal(s_append(fx->log, 0, &off), 0); /* 0: acknowledged */
    struct iovec a1 = {buf, s_rec(1, buf)};
    seglog_commit_t t1, t2, t3;
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &a1, 1, &off, &t1), 0);
    assert_int_equal(off, 1);
    assert_int_equal(seglog_log_commit_wait(fx->log, &t1), 0); /* 1: committed */
    uint8_t b2[1024];
    struct iovec a2 = {b2, s_rec(2, b2)};
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &a2, 1, &off, &t2), 0);
    assert_int_equal(off, 2); /* 2: appended, its waiter not yet there */
    /* Another append's sync fails: 2 and 3 are cut. */
    fx->f.fail_sync_errno = EIO;
    struct iovec a3 = {b2, s_rec(3, b2)};
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &a3, 1, &off, &t3), 0);
    assert_int_equal(off, 3);
    assert_int_equal(seglog_log_commit_wait(fx->log, &t3), EIO);
    assert_int_equal(s_next(fx->log), 2);
    fx->f.fail_sync_errno = 0;
    /* Offsets 2 and 3 are reused by new records and committed. */
    assert_int_equal(s_append(fx->log, 2, &off), 0);
    assert_int_equal(off, 2);
    assert_int_equal(s_append(fx->log, 3, &off), 0);
    assert_int_equal(off, 3);
    /* The old waiters: 2 was cut (an error), 1 was committed (success). */
    assert_int_equal(seglog_log_commit_wait(fx->log, &t2), EIO);
    assert_int_equal(seglog_log_commit_wait(fx->log, &t1), 0);
    s_reopen_check(fx, 4);
}

/* The same after a reset: a waiter from before it never succeeds because
 * the new log's offsets went past its target. */
static void reset_token_fails_after_reuse(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint8_t buf[1024];
    uint64_t off;
    struct iovec a = {buf, s_rec(0, buf)};
    seglog_commit_t t0, t1;
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &a, 1, &off, &t0), 0);
    assert_int_equal(seglog_log_commit_wait(fx->log, &t0), 0);
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &a, 1, &off, &t1), 0);
    assert_int_equal(off, 1);
    assert_int_equal(seglog_log_reset(fx->log), 0);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(s_append(fx->log, i, &off), 0);
        assert_int_equal(off, i);
    }
    assert_int_equal(seglog_log_commit_wait(fx->log, &t1), SEGLOG_E_FAILED);
    assert_int_equal(seglog_log_commit_wait(fx->log, &t0), 0); /* committed before */
    s_reopen_check(fx, 3);
}

/* ---- commit_check and commit_all after a failed fdatasync --------------- */

static uint64_t s_commit_last;
static int s_commit_calls;

static void s_on_commit(void *arg, uint64_t next)
{
    (void)arg;
    s_commit_last = next;
    s_commit_calls++;
}

/* Append records seq[0..n) as one batch without waiting. */
static uint64_t s_nowait(seglog_log_t *log, const uint64_t *seq, size_t n, seglog_commit_t *tok)
{
    uint8_t buf[4][1024];
    struct iovec iov[4];
    assert_true(n <= 4);
    for (size_t k = 0; k < n; k++) {
        iov[k].iov_base = buf[k];
        iov[k].iov_len = s_rec(seq[k], buf[k]);
    }
    uint64_t first = UINT64_MAX;
    assert_int_equal(seglog_log_append_batch_nowait(log, iov, n, &first, tok), 0);
    assert_int_equal(tok->target, first + n);
    return first;
}

/* Under ALWAYS, a commit_all whose fdatasync fails rolls the batch back:
 * its token reports the error for good, even after a new batch reuses its
 * offsets and commits; the batch committed before stays 0; commit_check
 * itself never syncs. */
static void commit_check_after_failed_commit_all(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    fx->cfg.on_commit = s_on_commit;
    s_commit_last = 0;
    s_commit_calls = 0;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    char *sp = tu_seg_path(fx->dir, 0, ".store");
    uint64_t v;

    /* A: [0,3), committed. */
    const uint64_t sa[3] = {0, 1, 2};
    seglog_commit_t ta, tb, tc, td;
    assert_int_equal(s_nowait(fx->log, sa, 3, &ta), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &ta), SEGLOG_E_AGAIN);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &ta), 0);
    assert_int_equal(seglog_log_committed_offset(fx->log, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(s_commit_last, 3);
    int calls = s_commit_calls;
    long size = tu_file_size(sp);

    /* B: [3,5), with other contents than the records that will reuse 3, 4. */
    const uint64_t sb[2] = {100, 101};
    assert_int_equal(s_nowait(fx->log, sb, 2, &tb), 3);
    assert_int_equal(tb.target, 5);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), SEGLOG_E_AGAIN);
    fx->f.fail_sync_errno = EIO;
    int syncs = fx->f.syncs;
    assert_int_equal(seglog_log_commit_all(fx->log), EIO);
    assert_true(fx->f.syncs > syncs);
    syncs = fx->f.syncs;
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), EIO);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), EIO); /* stable */
    assert_int_equal(seglog_log_commit_check(fx->log, &ta), 0);
    assert_int_equal(fx->f.syncs, syncs);                        /* commit_check never syncs */
    assert_int_equal(seglog_log_commit_wait(fx->log, &tb), EIO); /* agrees */
    assert_int_equal(seglog_log_commit_wait(fx->log, &ta), 0);
    /* B is gone; A stays; nothing new was committed. */
    assert_int_equal(s_next(fx->log), 3);
    assert_int_equal(seglog_log_committed_offset(fx->log, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(s_commit_calls, calls);
    assert_int_equal(tu_file_size(sp), size);
    char small[8];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 3, small, sizeof small, &len),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    for (uint64_t i = 0; i < 3; i++)
        s_check(fx->log, i, i);

    /* C reuses B's offsets (same count: the same target), appended while
     * the fault is still on; the fault clears, commit_all commits it. */
    const uint64_t sc[2] = {3, 4};
    assert_int_equal(s_nowait(fx->log, sc, 2, &tc), 3);
    assert_int_equal(tc.target, tb.target);
    assert_int_equal(seglog_log_commit_check(fx->log, &tc), SEGLOG_E_AGAIN);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), EIO);
    fx->f.fail_sync_errno = 0;
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &tc), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), EIO);
    assert_int_equal(seglog_log_commit_check(fx->log, &ta), 0);
    assert_int_equal(seglog_log_committed_offset(fx->log, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(s_commit_last, 5);
    assert_int_equal(s_commit_calls, calls + 1);

    /* D goes past B's target: B still failed, the others still 0. */
    const uint64_t sd[3] = {5, 6, 7};
    assert_int_equal(s_nowait(fx->log, sd, 3, &td), 5);
    assert_int_equal(seglog_log_commit_check(fx->log, &td), SEGLOG_E_AGAIN);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &td), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &tc), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), EIO);
    assert_int_equal(seglog_log_commit_check(fx->log, &ta), 0);
    assert_int_equal(s_commit_last, 8);
    free(sp);
    s_reopen_check(fx, 8); /* C's and D's records, not B's */
}

/* After a failed commit_all has rolled the unsynced batch back, a
 * commit_all with nothing left to sync succeeds without syncing, even while
 * syncs still fail; the rolled-back token keeps its error (ENOSPC here),
 * the committed one stays 0. */
static void commit_all_failure_then_nothing_new(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    const uint64_t sa[2] = {0, 1}, sb[1] = {50};
    seglog_commit_t ta, tb;
    assert_int_equal(s_nowait(fx->log, sa, 2, &ta), 0);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(s_nowait(fx->log, sb, 1, &tb), 2);
    fx->f.fail_sync_errno = ENOSPC;
    assert_int_equal(seglog_log_commit_all(fx->log), ENOSPC);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), ENOSPC);
    int syncs = fx->f.syncs;
    assert_int_equal(seglog_log_commit_all(fx->log), 0); /* nothing left to sync */
    assert_int_equal(fx->f.syncs, syncs);
    assert_int_equal(seglog_log_commit_check(fx->log, &tb), ENOSPC);
    assert_int_equal(seglog_log_commit_check(fx->log, &ta), 0);
    fx->f.fail_sync_errno = 0;
    s_reopen_check(fx, 2);
}

/* ---- concurrent appenders with intermittent fdatasync failures ---------- */

/* A VFS whose fdatasync fails now and then (every `period`-th call). */
typedef struct {
    _Atomic int calls;
    int period;
    _Atomic int failed;
} flaky_t;

static flaky_t s_flaky;

static int s_flaky_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    int n = atomic_fetch_add(&s_flaky.calls, 1) + 1;
    if (s_flaky.period && n % s_flaky.period == 0) {
        atomic_fetch_add(&s_flaky.failed, 1);
        return -EIO;
    }
    return seglog_vfs_posix()->fdatasync(NULL, fd);
}

static int s_ok_fsync_dir(void *ctx, const char *dir)
{
    (void)ctx;
    return seglog_vfs_posix()->fsync_dir(NULL, dir);
}

#define FW_THREADS 4
#define FW_RECORDS 300

typedef struct {
    seglog_log_t *log;
    int id;
    uint64_t acked[FW_RECORDS]; /* offset of each acknowledged seq, or UINT64_MAX */
    int errors, bad_errors;
} fw_t;

static size_t s_fw_rec(int id, int seq, uint8_t *buf)
{
    size_t len = 16 + (size_t)((seq * 13 + id * 5) % 48);
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(id * 59 + seq * 31 + (int)j);
    memcpy(buf, &id, sizeof id);
    memcpy(buf + 4, &seq, sizeof seq);
    return len;
}

static void *s_fw_thread(void *arg)
{
    fw_t *w = arg;
    uint8_t buf[64];
    for (int seq = 0; seq < FW_RECORDS; seq++) {
        uint64_t off;
        int rc = seglog_log_append(w->log, buf, s_fw_rec(w->id, seq, buf), &off);
        w->acked[seq] = rc == 0 ? off : UINT64_MAX;
        if (rc) {
            w->errors++;
            if (rc != EIO && rc != SEGLOG_E_FAILED)
                w->bad_errors++;
        }
    }
    return NULL;
}

/* Every acknowledged record must stay where it was acknowledged, whatever
 * the failed syncs of other appenders rolled back; the committed offset
 * never passes the end of the log. */
static void failed_syncs_keep_acknowledged(void **state)
{
    fx_t *fx = *state;
    memset(&s_flaky, 0, sizeof s_flaky);
    s_flaky.period = 5;
    fx->vfs = *seglog_vfs_posix(); /* in fx: teardown may still use it */
    fx->vfs.fdatasync = s_flaky_fdatasync;
    fx->vfs.fsync_dir = s_ok_fsync_dir;
    fx->cfg.vfs = &fx->vfs;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    fx->cfg.max_index_bytes = 256 * 8;
    fx->cfg.write_buffer_bytes = 64 << 10;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    fw_t w[FW_THREADS];
    pthread_t t[FW_THREADS];
    for (int i = 0; i < FW_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].log = fx->log;
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, s_fw_thread, &w[i]), 0);
    }
    for (int i = 0; i < FW_THREADS; i++)
        pthread_join(t[i], NULL);
    s_flaky.period = 0;
    assert_true(atomic_load(&s_flaky.failed) > 0);
    uint64_t next = s_next(fx->log), committed;
    assert_int_equal(seglog_log_committed_offset(fx->log, &committed), 0);
    assert_true(committed <= next);
    int acked = 0;
    for (int i = 0; i < FW_THREADS; i++) {
        assert_int_equal(w[i].bad_errors, 0);
        for (int seq = 0; seq < FW_RECORDS; seq++) {
            if (w[i].acked[seq] == UINT64_MAX)
                continue;
            acked++;
            uint8_t want[64], got[64];
            size_t wlen = s_fw_rec(i, seq, want), glen = 0;
            int rc = seglog_log_read(fx->log, w[i].acked[seq], got, sizeof got, &glen);
            if (rc || glen != wlen || memcmp(got, want, wlen) != 0)
                fail_msg("writer %d seq %d acknowledged at %llu is gone (rc %d)", i, seq,
                         (unsigned long long)w[i].acked[seq], rc);
        }
    }
    assert_true(acked > 0);
    assert_true((uint64_t)acked <= next);
    /* And after a reopen. */
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    fx->cfg.vfs = NULL;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(s_next(fx->log), next);
    for (int i = 0; i < FW_THREADS; i++)
        for (int seq = 0; seq < FW_RECORDS; seq++) {
            if (w[i].acked[seq] == UINT64_MAX)
                continue;
            uint8_t want[64], got[64];
            size_t wlen = s_fw_rec(i, seq, want), glen = 0;
            assert_int_equal(seglog_log_read(fx->log, w[i].acked[seq], got, sizeof got, &glen), 0);
            assert_int_equal(glen, wlen);
            assert_memory_equal(got, want, wlen);
        }
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(write_error_fails_append),
        T(write_through_error_leaves_nothing),
        T(short_writes_lose_nothing),
        T(write_error_sync_always),
        T(failed_fdatasync_rolls_back),
        T(roll_fails_on_header_write),
        T(roll_fails_on_dir_sync),
        T(rolled_back_token_fails_after_reuse),
        T(reset_token_fails_after_reuse),
        T(failed_syncs_keep_acknowledged),
        T(commit_check_after_failed_commit_all),
        T(commit_all_failure_then_nothing_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
