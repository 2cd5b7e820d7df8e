/* test_leader_epochs.c - the leader epoch cache: assign, last, end offset
 * (Kafka's endOffsetFor), the rules that keep it monotonic, persistence,
 * its trimming by truncate_after, front truncation, reset and open, a
 * damaged file, and a process crash at every VFS call of an assign or a
 * cut. (Power loss during an assign: tests/crash/test_powerloss.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <signal.h>
#include <unistd.h>

#include "testutil.h"

#define EPOCHS ".leader_epochs"

typedef struct {
    char *tmp, *dir;
    seglog_config_t cfg;
    seglog_log_t *log;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("epochs");
    fx->dir = tu_path(fx->tmp, "log");
    tu_config(&fx->cfg, 1024, 1 << 12);
    fx->cfg.max_record_bytes = 200; /* 9 records of 100 bytes per segment */
    fx->cfg.sync_interval_ms = 3600000u;
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

static void s_fill(seglog_log_t *log, int k)
{
    char buf[100];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < k; i++)
        assert_int_equal(seglog_log_append(log, buf, sizeof buf, NULL), 0);
}

static void s_reopen(fx_t *fx, int unclean)
{
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    if (unclean)
        assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
}

static void s_last(seglog_log_t *log, uint64_t epoch, uint64_t start)
{
    uint64_t e = UINT64_MAX, s = UINT64_MAX;
    assert_int_equal(seglog_log_leader_epoch_last(log, &e, &s), 1);
    assert_int_equal(e, epoch);
    assert_int_equal(s, start);
}

static void s_end(seglog_log_t *log, uint64_t req, uint64_t found, uint64_t end)
{
    uint64_t f = UINT64_MAX, o = UINT64_MAX;
    assert_int_equal(seglog_log_leader_epoch_end_offset(log, req, &f, &o), 0);
    assert_int_equal(f, found);
    assert_int_equal(o, end);
}

static void s_undefined(seglog_log_t *log, uint64_t req)
{
    uint64_t f, o;
    assert_int_equal(seglog_log_leader_epoch_end_offset(log, req, &f, &o),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
}

static void epochs_assign_last_end_offset(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_last(fx->log, NULL, NULL), 0);
    s_undefined(fx->log, 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    s_fill(fx->log, 10);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 3, 10), 0);
    s_fill(fx->log, 15);
    s_last(fx->log, 3, 10);
    s_end(fx->log, 1, 1, 10);
    s_end(fx->log, 2, 1, 10); /* not listed: the largest epoch below it */
    s_end(fx->log, 3, 3, 25); /* the last epoch ends at the log end */
    s_undefined(fx->log, 0);
    s_undefined(fx->log, 4);
}

static void epochs_monotonic(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_fill(fx->log, 10);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 3, 4), 0);
    s_fill(fx->log, 10);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 2, 15), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 4, 3), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 4, 21), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 3, 12), 0); /* same epoch */
    s_last(fx->log, 3, 4);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 4, 20), 0); /* at next */
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 6, 20), 0); /* replaces 4 */
    s_last(fx->log, 6, 20);
    s_end(fx->log, 3, 3, 20);
    s_end(fx->log, 4, 3, 20);
    s_end(fx->log, 5, 3, 20);
    s_end(fx->log, 6, 6, 20);
    s_fill(fx->log, 2);
    s_end(fx->log, 6, 6, 22);
    /* Below the lowest offset. */
    uint64_t lo = 0;
    assert_int_equal(seglog_log_truncate(fx->log, 15, &lo), 0);
    assert_true(lo > 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 7, lo - 1), SEGLOG_E_OFFSET_TRUNCATED);
}

static void epochs_persist(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    s_fill(fx->log, 5);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 2, 5), 0);
    s_fill(fx->log, 5);
    s_reopen(fx, 0);
    s_last(fx->log, 2, 5);
    s_end(fx->log, 1, 1, 5);
    s_reopen(fx, 1);
    s_last(fx->log, 2, 5);
    s_end(fx->log, 2, 2, 10);
    /* A leftover temporary file is a replacement that never happened. */
    seglog_log_destroy(&fx->log);
    char *tmp = tu_path(fx->dir, EPOCHS ".tmp");
    assert_int_equal(tu_write_file(tmp, "junk", 4), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_false(tu_exists(tmp));
    free(tmp);
    s_last(fx->log, 2, 5);
    seglog_recovery_t rec;
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.files_ignored, 0);
}

/* An epoch assigned with no record after it says nothing: open drops it. */
static void epochs_open_drops_empty_tail(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    s_fill(fx->log, 3);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 2, 3), 0);
    s_reopen(fx, 0);
    s_last(fx->log, 1, 0);
    s_end(fx->log, 1, 1, 3);
}

static void epochs_follow_truncate_after(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    s_fill(fx->log, 10);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 3, 10), 0);
    s_fill(fx->log, 15);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 6, 25), 0);
    s_fill(fx->log, 5);
    assert_int_equal(seglog_log_truncate_after(fx->log, 12), 0);
    s_last(fx->log, 3, 10);
    s_end(fx->log, 3, 3, 12);
    s_undefined(fx->log, 6);
    s_reopen(fx, 1);
    s_last(fx->log, 3, 10);
    assert_int_equal(seglog_log_truncate_after(fx->log, 10), 0);
    s_last(fx->log, 1, 0);
    /* The follower takes the leader's epoch 5 from here. */
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 5, 10), 0);
    s_fill(fx->log, 2);
    s_reopen(fx, 1);
    s_last(fx->log, 5, 10);
    s_end(fx->log, 1, 1, 10);
    s_end(fx->log, 5, 5, 12);
}

static void epochs_follow_front_truncation_and_reset(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    s_fill(fx->log, 20);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 2, 20), 0);
    s_fill(fx->log, 20);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 3, 40), 0);
    s_fill(fx->log, 10);
    uint64_t lo = 0;
    assert_int_equal(seglog_log_truncate(fx->log, 30, &lo), 0);
    assert_true(lo > 20 && lo <= 30);
    s_undefined(fx->log, 1);
    s_end(fx->log, 2, 2, 40);
    s_reopen(fx, 1);
    s_undefined(fx->log, 1);
    s_end(fx->log, 2, 2, 40);
    s_last(fx->log, 3, 40);
    assert_int_equal(seglog_log_reset(fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_last(fx->log, NULL, NULL), 0);
    char *p = tu_path(fx->dir, EPOCHS);
    assert_false(tu_exists(p));
    free(p);
    s_reopen(fx, 0);
    assert_int_equal(seglog_log_leader_epoch_last(fx->log, NULL, NULL), 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    assert_int_equal(seglog_log_remove(fx->log), 0);
    assert_false(tu_exists(fx->dir));
}

static void epochs_damaged_file_refused(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
    s_fill(fx->log, 3);
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    char *p = tu_path(fx->dir, EPOCHS);
    long n = tu_file_size(p);
    assert_true(n > 20);
    uint8_t b = 0x5a;
    assert_int_equal(tu_write_at(p, n - 9, &b, 1), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), SEGLOG_E_CORRUPT);
    free(p);
}

/* ---- a process crash at every VFS call of an assign and of a cut -------- */

static _Atomic long s_calls, s_die_at;

static const seglog_vfs_t *P(void)
{
    return seglog_vfs_posix();
}
static void s_tick(void)
{
    /* A crash: SIGKILL, not _exit, so that nothing runs after it (valgrind's
     * leak check would report what the interrupted call had allocated). */
    if (atomic_fetch_add(&s_calls, 1) + 1 == atomic_load(&s_die_at))
        kill(getpid(), SIGKILL);
}
static int k_open(void *c, const char *p, int fl, mode_t m)
{
    (void)c;
    s_tick();
    return P()->open(NULL, p, fl, m);
}
static int k_close(void *c, int fd)
{
    (void)c;
    return P()->close(NULL, fd);
}
static ssize_t k_preadv(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    return P()->preadv(NULL, fd, v, n, off);
}
static ssize_t k_pwritev(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    s_tick();
    return P()->pwritev(NULL, fd, v, n, off);
}
static int k_fdatasync(void *c, int fd)
{
    (void)c;
    s_tick();
    return P()->fdatasync(NULL, fd);
}
static int k_ftruncate(void *c, int fd, off_t len)
{
    (void)c;
    s_tick();
    return P()->ftruncate(NULL, fd, len);
}
static int k_fallocate(void *c, int fd, off_t len)
{
    (void)c;
    s_tick();
    return P()->fallocate(NULL, fd, len);
}
static int k_rename(void *c, const char *a, const char *b)
{
    (void)c;
    s_tick();
    return P()->rename(NULL, a, b);
}
static int k_unlink(void *c, const char *p)
{
    (void)c;
    s_tick();
    return P()->unlink(NULL, p);
}
static int k_fsync_dir(void *c, const char *d)
{
    (void)c;
    s_tick();
    return P()->fsync_dir(NULL, d);
}
static int k_fstat_size(void *c, int fd, off_t *size)
{
    (void)c;
    return P()->fstat_size(NULL, fd, size);
}
static const seglog_vfs_t s_kvfs = {
    NULL,        k_open,      k_close,  k_preadv, k_pwritev,   k_fdatasync,
    k_ftruncate, k_fallocate, k_rename, k_unlink, k_fsync_dir, k_fstat_size,
};

typedef struct {
    fx_t *fx;
    long die_at;
} crash_t;

/* Child: open (epochs 1@0, 2@10 over 20 records), then die at call die_at
 * of: assign(4, 15), then truncate_after(17) (SIGKILL). Exit 2 if the
 * call counter never reached die_at, 1 on a failed call. */
static int s_child(void *arg)
{
    crash_t *c = arg;
    seglog_config_t cfg = c->fx->cfg;
    cfg.vfs = &s_kvfs;
    seglog_log_t *log = NULL;
    if (seglog_log_open(c->fx->dir, &cfg, &log))
        return 1;
    atomic_store(&s_calls, 0);
    atomic_store(&s_die_at, c->die_at);
    if (seglog_log_leader_epoch_assign(log, 4, 15))
        return 1;
    if (seglog_log_truncate_after(log, 17))
        return 1;
    return 2; /* survived: the parent stops */
}

static void epochs_crash_at_every_call(void **state)
{
    fx_t *fx = *state;
    int seen[3] = {0, 0, 0}; /* old, assigned, assigned and cut */
    for (long k = 1;; k++) {
        assert_true(k < 200);
        seglog_log_destroy(&fx->log);
        tu_rmrf(&fx->tmp);
        free(fx->dir);
        fx->tmp = tu_tempdir("epochcrash");
        fx->dir = tu_path(fx->tmp, "log");
        assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
        assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 1, 0), 0);
        s_fill(fx->log, 10);
        assert_int_equal(seglog_log_leader_epoch_assign(fx->log, 2, 10), 0);
        s_fill(fx->log, 10);
        assert_int_equal(seglog_log_close(fx->log), 0);
        seglog_log_destroy(&fx->log);
        crash_t c = {fx, k};
        int rc = tu_crash_child(s_child, &c);
        assert_true(rc == -1 || rc == 2); /* killed at call k, or survived */
        /* The state after the crash: old, assigned, or assigned and cut. */
        assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
        uint64_t next = 0, e = 0, s = 0;
        assert_int_equal(seglog_log_next_offset(fx->log, &next), 0);
        assert_int_equal(seglog_log_leader_epoch_last(fx->log, &e, &s), 1);
        assert_true(next == 20 || next == 17);
        if (e == 2) { /* the assign did not land: nor did the cut */
            assert_int_equal(s, 10);
            assert_int_equal(next, 20);
            s_end(fx->log, 2, 2, 20);
            seen[0]++;
        } else {
            seen[next == 20 ? 1 : 2]++;
            assert_int_equal(e, 4);
            assert_int_equal(s, 15);
            s_end(fx->log, 2, 2, 15);
            s_end(fx->log, 4, 4, next);
        }
        s_end(fx->log, 1, 1, 10);
        if (rc == 2)
            break;
    }
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(epochs_assign_last_end_offset),
        T(epochs_monotonic),
        T(epochs_persist),
        T(epochs_open_drops_empty_tail),
        T(epochs_follow_truncate_after),
        T(epochs_follow_front_truncation_and_reset),
        T(epochs_damaged_file_refused),
        T(epochs_crash_at_every_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
