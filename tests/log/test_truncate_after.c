/* test_truncate_after.c - seglog_log_truncate_after: cuts in the middle of
 * a segment, at a segment boundary, inside a batch, at the end and below
 * the lowest offset; after a reopen; commit tokens, committed offset,
 * iterators and the epoch across a cut; and every VFS call of a cut failing
 * in turn (a failed cut changes nothing, or the handle stops and the next
 * open finishes the cut). Crashes during a cut: tests/crash/test_powerloss.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "format.h"
#include "testutil.h"

#define NEVER_MS 3600000u
#define MAXREC   400

typedef struct {
    char *tmp, *dir;
    seglog_config_t cfg;
    seglog_log_t *log;
    uint32_t ver[MAXREC]; /* version of the record expected at each offset */
    uint64_t n;           /* expected next offset */
    uint64_t lowest;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("cut");
    fx->dir = tu_path(fx->tmp, "log");
    tu_config(&fx->cfg, 1536, 1 << 12); /* about 15 records per segment */
    fx->cfg.sync_interval_ms = NEVER_MS;
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

static size_t s_rec(uint64_t off, uint32_t ver, uint8_t *buf)
{
    size_t len = 40 + (size_t)((off * 37u + ver * 11u) % 80u);
    int k = snprintf((char *)buf, 32, "o%" PRIu64 "v%" PRIu32 "|", off, ver);
    for (size_t j = (size_t)k; j < len; j++)
        buf[j] = (uint8_t)(off * 131u + ver * 17u + j);
    return len;
}

static uint64_t s_next(seglog_log_t *log)
{
    uint64_t v = UINT64_MAX;
    assert_int_equal(seglog_log_next_offset(log, &v), 0);
    return v;
}

/* Append k single records (version ver) and expect their offsets. */
static void s_fill(fx_t *fx, uint64_t k, uint32_t ver)
{
    uint8_t buf[128];
    for (uint64_t i = 0; i < k; i++) {
        uint64_t off = UINT64_MAX;
        assert_int_equal(seglog_log_append(fx->log, buf, s_rec(fx->n, ver, buf), &off), 0);
        assert_int_equal(off, fx->n);
        fx->ver[fx->n++] = ver;
    }
}

/* Append one batch of k records. */
static void s_batch(fx_t *fx, unsigned k, uint32_t ver)
{
    uint8_t bufs[8][128];
    struct iovec iov[8];
    assert_true(k <= 8);
    for (unsigned i = 0; i < k; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = s_rec(fx->n + i, ver, bufs[i]);
    }
    uint64_t first = UINT64_MAX;
    assert_int_equal(seglog_log_append_batch(fx->log, iov, k, &first), 0);
    assert_int_equal(first, fx->n);
    for (unsigned i = 0; i < k; i++)
        fx->ver[fx->n++] = ver;
}

/* The log holds exactly the expected records, by read and by iterator. */
static void s_check(fx_t *fx)
{
    uint64_t lo = UINT64_MAX;
    assert_int_equal(seglog_log_lowest_offset(fx->log, &lo), 0);
    assert_int_equal(lo, fx->lowest);
    assert_int_equal(s_next(fx->log), fx->n);
    uint8_t want[128], got[128];
    for (uint64_t off = fx->lowest; off < fx->n; off++) {
        size_t wl = s_rec(off, fx->ver[off], want), gl = 0;
        assert_int_equal(seglog_log_read(fx->log, off, got, sizeof got, &gl), 0);
        assert_int_equal(gl, wl);
        assert_memory_equal(got, want, wl);
    }
    size_t gl;
    assert_int_equal(seglog_log_read(fx->log, fx->n, got, sizeof got, &gl),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    if (fx->n == fx->lowest)
        return;
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, fx->lowest, 0, 0), 0);
    uint64_t off, count = 0;
    const void *data;
    size_t len;
    while (seglog_iter_next(it, &off, &data, &len) == 1) {
        assert_int_equal(off, fx->lowest + count);
        size_t wl = s_rec(off, fx->ver[off], want);
        assert_int_equal(len, wl);
        assert_memory_equal(data, want, wl);
        count++;
    }
    assert_int_equal(fx->lowest + count, fx->n);
    seglog_iter_destroy(&it);
}

/* Close (clean or, with unclean, as after a crash), reopen and check. */
static void s_reopen(fx_t *fx, int unclean)
{
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    if (unclean)
        assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_check(fx);
}

static int s_seg_exists(fx_t *fx, uint64_t base)
{
    char *p = tu_seg_path(fx->dir, base, ".store");
    int e = tu_exists(p);
    free(p);
    return e;
}

/* Bases of the segments, from the files. */
static size_t s_bases(fx_t *fx, uint64_t *out, size_t cap)
{
    size_t k = 0;
    for (uint64_t b = 0; b <= fx->n + 1 && k < cap; b++)
        if (s_seg_exists(fx, b))
            out[k++] = b;
    return k;
}

static void s_cut(fx_t *fx, uint64_t at)
{
    assert_int_equal(seglog_log_truncate_after(fx->log, at), 0);
    if (at < fx->n)
        fx->n = at;
    s_check(fx);
    char *m = tu_path(fx->dir, SL_CUT_MARKER);
    assert_false(tu_exists(m)); /* the intent record is gone once done */
    free(m);
}

static void cut_middle_of_sealed_segment(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 60, 1);
    uint64_t b[16];
    size_t nb = s_bases(fx, b, 16);
    assert_true(nb >= 4);
    uint64_t epoch = 0, epoch2 = 1;
    assert_int_equal(seglog_log_epoch(fx->log, &epoch), 0);
    uint64_t at = b[1] + 3; /* inside the second segment */
    s_cut(fx, at);
    assert_int_equal(seglog_log_epoch(fx->log, &epoch2), 0);
    assert_true(epoch == epoch2);
    for (size_t i = 2; i < nb; i++)
        assert_false(s_seg_exists(fx, b[i]));
    assert_true(s_seg_exists(fx, b[1]));
    /* The cut segment takes appends again and rolls on. */
    s_fill(fx, 40, 2);
    s_reopen(fx, 0);
    s_reopen(fx, 1);
    s_fill(fx, 3, 3);
    s_reopen(fx, 1);
}

static void cut_in_active_segment(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 50, 1);
    uint64_t b[16];
    size_t nb = s_bases(fx, b, 16);
    uint64_t at = b[nb - 1] + 1;
    assert_true(at < fx->n);
    s_cut(fx, at);
    assert_int_equal(s_bases(fx, b, 16), nb);
    s_fill(fx, 5, 2);
    s_reopen(fx, 1);
}

static void cut_at_segment_boundary(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 60, 1);
    uint64_t b[16];
    size_t nb = s_bases(fx, b, 16);
    assert_true(nb >= 4);
    s_cut(fx, b[2]);
    /* That segment stays, empty, as the active one; the later ones go. */
    assert_true(s_seg_exists(fx, b[2]));
    for (size_t i = 3; i < nb; i++)
        assert_false(s_seg_exists(fx, b[i]));
    s_reopen(fx, 1);
    s_fill(fx, 20, 2);
    s_reopen(fx, 0);
}

static void cut_at_or_past_end_is_noop(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_truncate_after(fx->log, 0), 0); /* empty log */
    s_fill(fx, 30, 1);
    s_cut(fx, fx->n);
    s_cut(fx, fx->n + 100);
    s_cut(fx, UINT64_MAX);
    s_fill(fx, 1, 2);
    s_reopen(fx, 1);
}

static void cut_below_lowest(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 60, 1);
    uint64_t b[16];
    s_bases(fx, b, 16);
    uint64_t lo = 0;
    assert_int_equal(seglog_log_truncate(fx->log, b[2], &lo), 0);
    assert_int_equal(lo, b[2]);
    fx->lowest = lo;
    assert_int_equal(seglog_log_truncate_after(fx->log, lo - 1), SEGLOG_E_OFFSET_TRUNCATED);
    assert_int_equal(seglog_log_truncate_after(fx->log, 0), SEGLOG_E_OFFSET_TRUNCATED);
    s_check(fx); /* nothing changed */
    /* At the lowest offset: empty, and the next append gets it. */
    s_cut(fx, lo);
    assert_int_equal(s_next(fx->log), lo);
    s_reopen(fx, 1);
    s_fill(fx, 2, 2);
    s_reopen(fx, 1);
}

/* A cut inside a batch keeps the records before it as a whole batch: a
 * recovery (which drops batches without their END frame) keeps them. */
static void cut_inside_batch_survives_recovery(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 3, 1);
    s_batch(fx, 6, 1);
    s_fill(fx, 2, 1);
    s_cut(fx, 6); /* records 3, 4, 5 of the batch 3..8 stay */
    s_reopen(fx, 1);
    assert_int_equal(s_next(fx->log), 6);
    s_batch(fx, 4, 2);
    s_cut(fx, 8);
    s_reopen(fx, 1);
    /* And in a sealed segment, then rolled over again. */
    s_fill(fx, 20, 3);
    s_batch(fx, 5, 3);
    s_fill(fx, 25, 3);
    uint64_t at = fx->n - 25 - 2;
    s_cut(fx, at);
    s_reopen(fx, 1);
}

static void cut_after_reopen(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 70, 1);
    s_reopen(fx, 0); /* sealed segments mapped at their exact size */
    s_cut(fx, 20);
    s_fill(fx, 50, 2);
    s_reopen(fx, 1);
    s_cut(fx, 45);
    s_reopen(fx, 0);
}

/* Tokens: an append below the cut still commits; one at or past it fails
 * with SEGLOG_E_CUT. committed follows the cut, down and up. */
static void cut_and_commit_tokens(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 20, 1); /* committed: 20 */
    uint8_t buf[128];
    seglog_commit_t tok[6];
    for (int i = 0; i < 6; i++) {
        struct iovec iov = {buf, s_rec(fx->n, 2, buf)};
        uint64_t first;
        assert_int_equal(seglog_log_append_batch_nowait(fx->log, &iov, 1, &first, &tok[i]), 0);
        assert_int_equal(first, fx->n);
        fx->ver[fx->n++] = 2;
    }
    uint64_t c = 0;
    assert_int_equal(seglog_log_committed_offset(fx->log, &c), 0);
    assert_true(c >= 20 && c < 23); /* a roll commits up to its base */
    s_cut(fx, 23);                  /* 20..22 stay (synced by the cut), 23..25 go */
    assert_int_equal(seglog_log_committed_offset(fx->log, &c), 0);
    assert_int_equal(c, 23);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(seglog_log_commit_check(fx->log, &tok[i]), 0);
        assert_int_equal(seglog_log_commit_wait(fx->log, &tok[i]), 0);
    }
    for (int i = 3; i < 6; i++) {
        assert_int_equal(seglog_log_commit_check(fx->log, &tok[i]), SEGLOG_E_CUT);
        assert_int_equal(seglog_log_commit_wait(fx->log, &tok[i]), SEGLOG_E_CUT);
    }
    /* Below committed: committed goes down with the log. */
    s_cut(fx, 10);
    assert_int_equal(seglog_log_committed_offset(fx->log, &c), 0);
    assert_int_equal(c, 10);
    s_fill(fx, 5, 3);
    assert_int_equal(seglog_log_committed_offset(fx->log, &c), 0);
    assert_int_equal(c, 15);
    s_reopen(fx, 1);
}

/* Under interval, a token whose record was cut is not reported stored. */
static void cut_tokens_interval(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_INTERVAL;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 5, 1);
    uint8_t buf[128];
    seglog_commit_t a, b;
    struct iovec iov = {buf, s_rec(5, 2, buf)};
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &iov, 1, NULL, &a), 0);
    iov.iov_len = s_rec(6, 2, buf);
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &iov, 1, NULL, &b), 0);
    fx->ver[5] = 2;
    fx->n = 6;
    assert_int_equal(seglog_log_truncate_after(fx->log, 6), 0);
    assert_int_equal(seglog_log_commit_wait(fx->log, &a), 0);
    assert_int_equal(seglog_log_commit_wait(fx->log, &b), SEGLOG_E_CUT);
    s_check(fx);
}

/* An iterator whose buffer held records past the cut does not return them. */
static void cut_and_iterator(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 10, 1);
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 4, 0, 0), 0);
    uint64_t off;
    const void *data;
    size_t len;
    assert_int_equal(seglog_iter_next(it, &off, &data, &len), 1); /* buffer: 4..9 */
    assert_int_equal(off, 4);
    s_cut(fx, 6);
    assert_int_equal(seglog_iter_next(it, &off, &data, &len), 1);
    assert_int_equal(off, 5);
    assert_int_equal(seglog_iter_next(it, &off, &data, &len), 0);
    s_fill(fx, 1, 2); /* offset 6 again, another record */
    assert_int_equal(seglog_iter_next(it, &off, &data, &len), 1);
    assert_int_equal(off, 6);
    uint8_t want[128];
    size_t wl = s_rec(6, 2, want);
    assert_int_equal(len, wl);
    assert_memory_equal(data, want, wl);
    seglog_iter_destroy(&it);
}

static void cut_closed_and_bad_args(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_truncate_after(NULL, 0), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_close(fx->log), 0);
    assert_int_equal(seglog_log_truncate_after(fx->log, 0), SEGLOG_E_CLOSED);
}

/* ---- faults: every VFS call of a cut fails in turn ----------------------- */

typedef struct {
    int fail_at; /* mutating call number that fails (0: none) */
    int err;
    int calls;
} cnt_t;

static cnt_t s_cnt;

static const seglog_vfs_t *P(void)
{
    return seglog_vfs_posix();
}

static int s_hit(void)
{
    return ++s_cnt.calls == s_cnt.fail_at;
}

static int c_open(void *c, const char *p, int fl, mode_t m)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->open(NULL, p, fl, m);
}
static int c_close(void *c, int fd)
{
    (void)c;
    return P()->close(NULL, fd);
}
static ssize_t c_preadv(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    return P()->preadv(NULL, fd, v, n, off);
}
static ssize_t c_pwritev(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->pwritev(NULL, fd, v, n, off);
}
static int c_fdatasync(void *c, int fd)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->fdatasync(NULL, fd);
}
static int c_ftruncate(void *c, int fd, off_t len)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->ftruncate(NULL, fd, len);
}
static int c_fallocate(void *c, int fd, off_t len)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->fallocate(NULL, fd, len);
}
static int c_rename(void *c, const char *a, const char *b)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->rename(NULL, a, b);
}
static int c_unlink(void *c, const char *p)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->unlink(NULL, p);
}
static int c_fsync_dir(void *c, const char *d)
{
    (void)c;
    return s_hit() ? -s_cnt.err : P()->fsync_dir(NULL, d);
}
static int c_fstat_size(void *c, int fd, off_t *size)
{
    (void)c;
    return P()->fstat_size(NULL, fd, size);
}

static const seglog_vfs_t s_cvfs = {
    NULL,        c_open,      c_close,  c_preadv, c_pwritev,   c_fdatasync,
    c_ftruncate, c_fallocate, c_rename, c_unlink, c_fsync_dir, c_fstat_size,
};

/* Build the same log in a fresh directory: 60 records, the cut falls in
 * the second segment, inside a batch. */
static void s_build(fx_t *fx)
{
    seglog_log_destroy(&fx->log);
    tu_rmrf(&fx->tmp);
    free(fx->dir);
    fx->tmp = tu_tempdir("cutfault");
    fx->dir = tu_path(fx->tmp, "log");
    fx->n = 0;
    s_cnt.fail_at = 0;
    fx->cfg.vfs = &s_cvfs;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 18, 1);
    s_batch(fx, 6, 1);
    s_fill(fx, 36, 1);
}

static void s_faults(fx_t *fx, int err)
{
    int unchanged = 0, failed = 0, finished = 0;
    for (int k = 1;; k++) {
        assert_true(k < 200);
        s_build(fx);
        uint64_t old_n = fx->n, at = 0;
        uint64_t b[16];
        s_bases(fx, b, 16);
        for (at = b[1]; at < b[2]; at++) /* inside the batch, in a sealed segment */
            if (at > 18 && at < 24)
                break;
        assert_true(at > 18 && at < 24);
        s_cnt.calls = 0;
        s_cnt.err = err;
        s_cnt.fail_at = k;
        int rc = seglog_log_truncate_after(fx->log, at);
        int hit = s_cnt.calls >= k;
        s_cnt.fail_at = 0;
        if (!hit) { /* every call of the cut has failed once: done */
            assert_int_equal(rc, 0);
            fx->n = at;
            s_check(fx);
            break;
        }
        char *m = tu_path(fx->dir, SL_CUT_MARKER);
        int marker = tu_exists(m);
        free(m);
        uint64_t nx;
        if (rc == 0) {
            /* The failed call was retried or not needed (a best-effort
             * unlink): the cut is whole. */
            fx->n = at;
            s_check(fx);
            assert_false(marker);
        } else if (seglog_log_next_offset(fx->log, &nx) == 0) {
            /* Nothing changed and nothing left that a crash could finish. */
            unchanged++;
            assert_false(marker);
            s_check(fx);
            s_fill(fx, 2, 2);
            s_reopen(fx, 1);
        } else {
            /* The handle stopped; the next open finishes the cut if its
             * intent record is there, else finds the old log. */
            failed++;
            seglog_log_destroy(&fx->log);
            assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
            seglog_recovery_t rec;
            seglog_log_recovery(fx->log, &rec);
            assert_int_equal(rec.cuts_finished, marker ? 1 : 0);
            finished += marker;
            /* Without the record: old log, or the cut was whole and only
             * the record's removal was not confirmed. */
            fx->n = marker ? at : s_next(fx->log);
            assert_true(fx->n == at || fx->n == old_n);
            s_check(fx);
            s_fill(fx, 2, 2);
            s_reopen(fx, 1);
        }
    }
    /* Both kinds of outcome were reached. */
    assert_true(unchanged > 0);
    assert_true(failed > 0);
    assert_true(finished > 0);
}

static void cut_fault_eio(void **state)
{
    s_faults(*state, EIO);
}

static void cut_fault_enospc(void **state)
{
    s_faults(*state, ENOSPC);
}

/* A damaged intent record: the open refuses rather than guess. */
static void cut_damaged_intent_refused(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx, 5, 1);
    s_reopen(fx, 0);
    seglog_log_destroy(&fx->log);
    char *m = tu_path(fx->dir, SL_CUT_MARKER);
    assert_int_equal(tu_write_file(m, "garbage", 7), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), SEGLOG_E_CORRUPT);
    unlink(m);
    free(m);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_check(fx);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(cut_middle_of_sealed_segment),
        T(cut_in_active_segment),
        T(cut_at_segment_boundary),
        T(cut_at_or_past_end_is_noop),
        T(cut_below_lowest),
        T(cut_inside_batch_survives_recovery),
        T(cut_after_reopen),
        T(cut_and_commit_tokens),
        T(cut_tokens_interval),
        T(cut_and_iterator),
        T(cut_closed_and_bad_args),
        T(cut_fault_eio),
        T(cut_fault_enospc),
        T(cut_damaged_intent_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
