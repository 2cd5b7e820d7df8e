/* test_timeindex.c - the segments' time indexes and
 * seglog_log_offset_for_time: every answer is checked against a brute
 * force over the records written, across segments, with timestamps in
 * and out of order, after the index files are lost or damaged, after a
 * process crash, after truncate_after and a front truncate. A record's
 * first 8 bytes are its timestamp (the test's timestamp_fn). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <unistd.h>

#include "testutil.h"

#define MAXREC 4000

typedef struct {
    char *tmp, *dir;
    seglog_config_t cfg;
    seglog_log_t *log;
    uint64_t ts[MAXREC]; /* by offset */
    uint64_t lowest, next;
} fx_t;

static uint64_t s_ts_fn(void *arg, const void *rec, size_t len)
{
    (void)arg;
    uint64_t t = 0;
    if (len >= 8)
        memcpy(&t, rec, 8);
    return t;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("timeindex");
    fx->dir = tu_path(fx->tmp, "log");
    tu_config(&fx->cfg, 8192, 4096);
    fx->cfg.sync = SEGLOG_SYNC_NONE;
    fx->cfg.timestamp_fn = s_ts_fn;
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

static void s_open(fx_t *fx)
{
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
}

static void s_close(fx_t *fx)
{
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
}

/* Append n records with timestamps from ts_of(i), in batches of 1..5. */
static void s_append(fx_t *fx, size_t n, uint64_t (*ts_of)(uint64_t i))
{
    uint8_t buf[5][40];
    struct iovec iov[5];
    for (size_t i = 0; i < n;) {
        size_t b = 1 + (i % 5);
        if (b > n - i)
            b = n - i;
        for (size_t k = 0; k < b; k++) {
            uint64_t off = fx->next + k, t = ts_of(off);
            assert_true(off < MAXREC);
            memset(buf[k], (int)(off & 0xff), sizeof buf[k]);
            memcpy(buf[k], &t, 8);
            iov[k] = (struct iovec){buf[k], 8 + (off % 32)};
            fx->ts[off] = t;
        }
        uint64_t first;
        assert_int_equal(seglog_log_append_batch(fx->log, iov, b, &first), 0);
        assert_int_equal(first, fx->next);
        fx->next += b;
        i += b;
    }
}

/* Every lookup from below the first timestamp to past the last agrees
 * with the brute force. */
static void s_check(fx_t *fx)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t o = fx->lowest; o < fx->next; o++) {
        lo = fx->ts[o] < lo ? fx->ts[o] : lo;
        hi = fx->ts[o] > hi ? fx->ts[o] : hi;
    }
    if (fx->next == fx->lowest)
        lo = hi = 100;
    for (uint64_t t = lo - 2; t <= hi + 2; t++) {
        uint64_t want = fx->next;
        for (uint64_t o = fx->lowest; o < fx->next; o++)
            if (fx->ts[o] >= t) {
                want = o;
                break;
            }
        uint64_t got = UINT64_MAX;
        assert_int_equal(seglog_log_offset_for_time(fx->log, t, &got), 0);
        if (got != want)
            fail_msg("offset_for_time(%llu) = %llu, want %llu", (unsigned long long)t,
                     (unsigned long long)got, (unsigned long long)want);
    }
}

static int s_count_files(const char *dir, const char *ext)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t el = strlen(ext);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > el && strcmp(e->d_name + l - el, ext) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static uint64_t s_rising(uint64_t i)
{
    return 1000 + i / 3; /* three records per millisecond, as server time would */
}

static uint64_t s_jumbled(uint64_t i)
{
    return 5000 + (i * 7919u) % 613u; /* client clocks: no order at all */
}

static uint64_t s_late(uint64_t i)
{
    return 3000 + i / 2;
}

static void test_across_segments(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    s_append(fx, 1500, s_rising);
    int segs = s_count_files(fx->dir, ".store");
    assert_true(segs >= 4);
    assert_int_equal(s_count_files(fx->dir, ".timeindex"), segs);
    s_check(fx);
    s_close(fx); /* clean: the files are used as they are */
    s_open(fx);
    seglog_recovery_t rec;
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.files_ignored, 0); /* .timeindex files are the log's own */
    s_check(fx);
    s_append(fx, 300, s_rising); /* the active segment's index goes on */
    s_check(fx);
}

static void test_out_of_order(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    s_append(fx, 800, s_jumbled);
    s_check(fx);
    s_close(fx);
    s_open(fx);
    s_check(fx);
}

/* The index is a cache: lost, emptied or damaged files are rebuilt from
 * the records, and the answers do not change. */
static void test_lost_and_damaged_files(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    s_append(fx, 1500, s_rising);
    s_close(fx);
    char *p0 = tu_seg_path(fx->dir, 0, ".timeindex");
    long size0 = tu_file_size(p0);
    assert_true(size0 >= 32);
    assert_int_equal(unlink(p0), 0); /* lost */
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    int k = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 10 || strcmp(e->d_name + l - 10, ".timeindex") != 0)
            continue;
        char *p = tu_path(fx->dir, e->d_name);
        if (k % 2 == 0) {
            assert_int_equal(tu_write_at(p, 16, "garbage!garbage!", 16), 0); /* bad CRC */
        } else {
            assert_int_equal(tu_truncate(p, 8), 0); /* torn */
        }
        free(p);
        k++;
    }
    closedir(d);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    s_open(fx);
    assert_true(tu_file_size(p0) >= 32); /* rebuilt, with its seal marker */
    s_check(fx);
    s_append(fx, 200, s_rising);
    s_check(fx);
    free(p0);
}

typedef struct {
    fx_t *fx;
} crash_arg_t;

static int s_crash_writer(void *arg)
{
    fx_t *fx = arg;
    seglog_log_t *log;
    if (seglog_log_open(fx->dir, &fx->cfg, &log))
        return 1;
    uint8_t buf[40];
    for (uint64_t o = fx->next; o < fx->next + 700; o++) {
        uint64_t t = s_late(o);
        memset(buf, 1, sizeof buf);
        memcpy(buf, &t, 8);
        if (seglog_log_append(log, buf, 8 + (o % 32), NULL))
            return 2;
    }
    if (seglog_log_flush(log))
        return 3;
    return 0; /* _exit without closing: a crash */
}

/* A process crash: the reopened log's indexes answer for every record
 * that survived (all of them: they reached the OS). */
static void test_crash_then_rebuild(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    s_append(fx, 400, s_rising);
    s_close(fx);
    assert_int_equal(tu_crash_child(s_crash_writer, fx), 0);
    for (uint64_t o = fx->next; o < fx->next + 700; o++)
        fx->ts[o] = s_late(o);
    fx->next += 700;
    s_open(fx);
    seglog_recovery_t rec;
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.clean, 0);
    uint64_t next;
    assert_int_equal(seglog_log_next_offset(fx->log, &next), 0);
    assert_int_equal(next, fx->next);
    s_check(fx);
}

/* Records cut at the tail (truncate_after) leave the index, and new ones
 * with earlier timestamps are found. The front truncate removes the
 * segments' index files with them. */
static void test_cut_and_truncate(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    s_append(fx, 1200, s_late);
    assert_int_equal(seglog_log_truncate_after(fx->log, 700), 0);
    fx->next = 700;
    s_check(fx);
    s_append(fx, 300, s_rising); /* earlier times than the cut records had */
    s_check(fx);
    int before = s_count_files(fx->dir, ".timeindex");
    uint64_t lowest;
    assert_int_equal(seglog_log_truncate(fx->log, 500, &lowest), 0);
    assert_true(lowest > 0 && lowest <= 500);
    fx->lowest = lowest;
    assert_true(s_count_files(fx->dir, ".timeindex") < before);
    assert_int_equal(s_count_files(fx->dir, ".timeindex"), s_count_files(fx->dir, ".store"));
    s_check(fx);
    s_close(fx);
    s_open(fx);
    s_check(fx);
}

/* Without a timestamp_fn there is no index: the answer is the end. */
static void test_no_timestamp_fn(void **state)
{
    fx_t *fx = *state;
    fx->cfg.timestamp_fn = NULL;
    s_open(fx);
    s_append(fx, 50, s_rising);
    uint64_t got;
    assert_int_equal(seglog_log_offset_for_time(fx->log, 0, &got), 0);
    assert_int_equal(got, 50);
    assert_int_equal(s_count_files(fx->dir, ".timeindex"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_and_damaged_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_then_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_and_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_timestamp_fn, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
