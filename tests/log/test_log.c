/* test_log.c - the log API: appends and reads, offsets and their errors,
 * reopen, iteration, batches and rolling, truncate, reset, remove, close,
 * the directory lock, epochs and the commit point of each sync policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "format.h"
#include "testutil.h"

#define NEVER_MS 3600000u /* a background sync interval no test reaches */

typedef struct {
    char *tmp;
    char *dir; /* <tmp>/log: open creates it */
    seglog_config_t cfg;
    seglog_log_t *log;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("log");
    fx->dir = tu_path(fx->tmp, "log");
    tu_config(&fx->cfg, 1 << 20, 1 << 16);
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

static void s_open(fx_t *fx)
{
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_non_null(fx->log);
}

static void s_reopen(fx_t *fx)
{
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    s_open(fx);
}

/* Record i: 0..max-1 bytes derived from i (record 0 is empty). */
static size_t s_rec(uint64_t i, size_t max, uint8_t *buf)
{
    size_t len = (size_t)((i * 37u) % max);
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 131u + j * 7u + 1u);
    return len;
}

static uint64_t s_append_rec(seglog_log_t *log, uint64_t i, size_t max)
{
    uint8_t buf[4096];
    uint64_t off = UINT64_MAX;
    assert_int_equal(seglog_log_append(log, buf, s_rec(i, max, buf), &off), 0);
    return off;
}

static void s_check(seglog_log_t *log, uint64_t off, uint64_t i, size_t max)
{
    uint8_t want[4096], got[4096];
    size_t wlen = s_rec(i, max, want), glen = 12345;
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

static uint64_t s_lowest(seglog_log_t *log)
{
    uint64_t v = UINT64_MAX;
    assert_int_equal(seglog_log_lowest_offset(log, &v), 0);
    return v;
}

static uint64_t s_committed(seglog_log_t *log)
{
    uint64_t v = UINT64_MAX;
    assert_int_equal(seglog_log_committed_offset(log, &v), 0);
    return v;
}

static void append_and_read(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    assert_int_equal(s_lowest(fx->log), 0);
    assert_int_equal(s_next(fx->log), 0);
    for (uint64_t i = 0; i < 200; i++)
        assert_int_equal(s_append_rec(fx->log, i, 300), i);
    assert_int_equal(s_next(fx->log), 200);
    /* Still in the write buffer, then from the file. */
    for (uint64_t i = 0; i < 200; i++)
        s_check(fx->log, i, i, 300);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    for (uint64_t i = 0; i < 200; i++)
        s_check(fx->log, i, i, 300);
    /* read_alloc, including a record over its 256-byte stack buffer. */
    uint8_t want[300];
    for (uint64_t i = 0; i < 200; i += 7) {
        void *p = NULL;
        size_t len = 0;
        assert_int_equal(seglog_log_read_alloc(fx->log, i, &p, &len), 0);
        assert_non_null(p);
        assert_int_equal(len, s_rec(i, 300, want));
        assert_memory_equal(p, want, len);
        free(p);
    }
    s_reopen(fx);
    assert_int_equal(s_next(fx->log), 200);
    for (uint64_t i = 0; i < 200; i++)
        s_check(fx->log, i, i, 300);
}

static void read_past_end(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    char buf[16];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 0, buf, sizeof buf, &len),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    s_append_rec(fx->log, 1, 10);
    assert_int_equal(seglog_log_read(fx->log, 1, buf, sizeof buf, &len),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(seglog_log_read(fx->log, UINT64_MAX, buf, sizeof buf, &len),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    void *p = NULL;
    assert_int_equal(seglog_log_read_alloc(fx->log, 5, &p, &len), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_null(p);
    s_check(fx->log, 0, 1, 10);
}

static void read_buffer_too_small(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    char big[500];
    memset(big, 'b', sizeof big);
    assert_int_equal(seglog_log_append(fx->log, big, sizeof big, NULL), 0);
    assert_int_equal(seglog_log_append(fx->log, big, 100, NULL), 0);
    char small[50];
    size_t len = 0;
    /* Length known from the index, and not (the last record). */
    assert_int_equal(seglog_log_read(fx->log, 0, small, sizeof small, &len),
                     SEGLOG_E_BUFFER_TOO_SMALL);
    assert_int_equal(len, 500);
    assert_int_equal(seglog_log_read(fx->log, 1, small, sizeof small, &len),
                     SEGLOG_E_BUFFER_TOO_SMALL);
    assert_int_equal(len, 100);
    void *p;
    assert_int_equal(seglog_log_read_alloc(fx->log, 0, &p, &len), 0);
    assert_int_equal(len, 500);
    assert_memory_equal(p, big, 500);
    free(p);
}

/* Small segments: 4 records each. */
static void s_small_segments(fx_t *fx)
{
    fx->cfg.max_index_bytes = 4 * 8;
}

static void read_below_lowest(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    for (uint64_t i = 0; i < 20; i++)
        s_append_rec(fx->log, i, 100);
    uint64_t nl = UINT64_MAX;
    assert_int_equal(seglog_log_truncate(fx->log, 10, &nl), 0);
    /* Segments [0,4) and [4,8) go; [8,12) holds 10, so it stays. */
    assert_int_equal(nl, 8);
    assert_int_equal(s_lowest(fx->log), 8);
    char buf[128];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 7, buf, sizeof buf, &len), SEGLOG_E_OFFSET_TRUNCATED);
    assert_int_equal(seglog_log_read(fx->log, 0, buf, sizeof buf, &len), SEGLOG_E_OFFSET_TRUNCATED);
    for (uint64_t i = 8; i < 20; i++)
        s_check(fx->log, i, i, 100);
    char *gone = tu_seg_path(fx->dir, 4, ".store"), *kept = tu_seg_path(fx->dir, 8, ".store");
    assert_false(tu_exists(gone));
    assert_true(tu_exists(kept));
    free(gone);
    free(kept);
    /* And after reopen. */
    s_reopen(fx);
    assert_int_equal(s_lowest(fx->log), 8);
    assert_int_equal(seglog_log_read(fx->log, 7, buf, sizeof buf, &len), SEGLOG_E_OFFSET_TRUNCATED);
    s_check(fx->log, 8, 8, 100);
}

/* Three records over two segments (capacity 2): lowest 0, next 3, and the
 * next append gets 3. */
static void reopen_three_records_two_segments(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 2 * 8;
    s_open(fx);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(s_append_rec(fx->log, i + 1, 50), i);
    s_reopen(fx);
    seglog_recovery_t rec;
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.clean, 1);
    assert_int_equal(rec.segments, 2);
    assert_int_equal(rec.bytes_truncated, 0);
    assert_int_equal(s_lowest(fx->log), 0);
    assert_int_equal(s_next(fx->log), 3);
    for (uint64_t i = 0; i < 3; i++)
        s_check(fx->log, i, i + 1, 50);
    assert_int_equal(s_append_rec(fx->log, 4, 50), 3);
    s_check(fx->log, 3, 4, 50);
}

static void initial_offset_for_new_log(void **state)
{
    fx_t *fx = *state;
    fx->cfg.initial_offset = 1000;
    s_open(fx);
    assert_int_equal(s_lowest(fx->log), 1000);
    assert_int_equal(s_next(fx->log), 1000);
    assert_int_equal(s_committed(fx->log), 1000);
    char *p = tu_path(fx->dir, "00000000000000001000.store");
    assert_true(tu_exists(p));
    free(p);
    assert_int_equal(s_append_rec(fx->log, 1, 10), 1000);
    char buf[8];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 999, buf, sizeof buf, &len),
                     SEGLOG_E_OFFSET_TRUNCATED);
    /* An existing log keeps its offsets whatever the config says. */
    fx->cfg.initial_offset = 5;
    s_reopen(fx);
    assert_int_equal(s_lowest(fx->log), 1000);
    assert_int_equal(s_append_rec(fx->log, 2, 10), 1001);
}

static void epoch_stable_across_reopen(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    uint64_t e1 = 0, e2 = 0;
    assert_int_equal(seglog_log_epoch(fx->log, &e1), 0);
    assert_int_not_equal(e1, 0);
    for (uint64_t i = 0; i < 10; i++) /* rolls copy the epoch */
        s_append_rec(fx->log, i, 10);
    s_reopen(fx);
    assert_int_equal(seglog_log_epoch(fx->log, &e2), 0);
    assert_int_equal(e2, e1);
    /* A different log gets a different epoch. */
    char *other = tu_path(fx->tmp, "other");
    seglog_log_t *log2 = NULL;
    assert_int_equal(seglog_log_open(other, &fx->cfg, &log2), 0);
    assert_int_equal(seglog_log_epoch(log2, &e2), 0);
    assert_int_not_equal(e2, e1);
    seglog_log_destroy(&log2);
    free(other);
}

static void reset_starts_over(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    fx->cfg.initial_offset = 50;
    s_open(fx);
    for (uint64_t i = 0; i < 10; i++)
        s_append_rec(fx->log, i, 100);
    uint64_t e1, e2;
    assert_int_equal(seglog_log_epoch(fx->log, &e1), 0);
    assert_int_equal(seglog_log_reset(fx->log), 0);
    assert_int_equal(seglog_log_epoch(fx->log, &e2), 0);
    assert_int_not_equal(e1, e2);
    assert_int_equal(s_lowest(fx->log), 50);
    assert_int_equal(s_next(fx->log), 50);
    assert_int_equal(s_committed(fx->log), 50);
    char buf[128];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 50, buf, sizeof buf, &len),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    /* Only the fresh segment is left. */
    char *old = tu_seg_path(fx->dir, 54, ".store");
    assert_false(tu_exists(old));
    free(old);
    assert_int_equal(s_append_rec(fx->log, 77, 100), 50);
    s_check(fx->log, 50, 77, 100);
    s_reopen(fx);
    assert_int_equal(seglog_log_epoch(fx->log, &e1), 0);
    assert_int_equal(e1, e2);
    assert_int_equal(s_lowest(fx->log), 50);
    assert_int_equal(s_next(fx->log), 51);
    s_check(fx->log, 50, 77, 100);
}

static void remove_deletes_directory(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    for (uint64_t i = 0; i < 10; i++)
        s_append_rec(fx->log, i, 100);
    assert_true(tu_exists(fx->dir));
    assert_int_equal(seglog_log_remove(fx->log), 0);
    assert_false(tu_exists(fx->dir));
    uint64_t v;
    assert_int_equal(seglog_log_next_offset(fx->log, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_append(fx->log, "x", 1, NULL), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_remove(fx->log), SEGLOG_E_CLOSED);
    seglog_log_destroy(&fx->log);
    assert_null(fx->log);
    seglog_log_destroy(&fx->log); /* idempotent */
}

/* After close, every call says CLOSED and nothing crashes. */
static void use_after_close(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    for (uint64_t i = 0; i < 5; i++)
        s_append_rec(fx->log, i, 100);
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 0), 0);
    assert_int_equal(seglog_log_close(fx->log), 0);

    seglog_log_t *log = fx->log;
    char buf[128];
    size_t len;
    uint64_t v;
    void *p = NULL;
    struct iovec iov = {"a", 1};
    seglog_commit_t tok;
    assert_int_equal(seglog_log_append(log, "a", 1, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_append_batch(log, &iov, 1, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_append_batch_nowait(log, &iov, 1, &v, &tok), SEGLOG_E_CLOSED);
    tok.target = 5;
    tok.gen = 0;
    assert_int_equal(seglog_log_commit_wait(log, &tok), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_flush(log), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_sync(log), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_read(log, 0, buf, sizeof buf, &len), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_read_alloc(log, 0, &p, &len), SEGLOG_E_CLOSED);
    assert_null(p);
    assert_int_equal(seglog_log_lowest_offset(log, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_next_offset(log, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_committed_offset(log, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_epoch(log, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_truncate(log, 3, &v), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_reset(log), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_close(log), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_log_remove(log), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 0), SEGLOG_E_CLOSED);
    assert_int_equal(seglog_iter_next(it, &v, NULL, &len), SEGLOG_E_CLOSED);
    seglog_iter_t *it2 = NULL;
    assert_int_equal(seglog_iter_new(log, &it2), SEGLOG_E_CLOSED);
    assert_null(it2);
    seglog_recovery_t rec;
    seglog_log_recovery(log, &rec);
    assert_int_equal(rec.clean, 0);
    seglog_iter_destroy(&it);
    seglog_log_destroy(&fx->log);
    /* The files are intact: a clean close. */
    s_open(fx);
    seglog_log_recovery(fx->log, &rec);
    assert_int_equal(rec.clean, 1);
    assert_int_equal(s_next(fx->log), 5);
}

/* A batch that does not fit the rest of the segment rolls first and lands
 * whole in the next one. */
static void batch_rolls_whole(void **state)
{
    fx_t *fx = *state;
    /* Room for 4 frames of 100-byte records. */
    fx->cfg.max_record_bytes = 100;
    fx->cfg.max_store_bytes = SL_STORE_HEADER_LEN + 4 * (SL_FRAME_HEADER_LEN + 100);
    s_open(fx);
    char rec[100];
    memset(rec, 'a', sizeof rec);
    for (int i = 0; i < 2; i++)
        assert_int_equal(seglog_log_append(fx->log, rec, sizeof rec, NULL), 0);
    uint8_t b[3][100];
    struct iovec iov[3];
    for (int i = 0; i < 3; i++) {
        memset(b[i], 'x' + i, 100);
        iov[i].iov_base = b[i];
        iov[i].iov_len = 100;
    }
    uint64_t first = 0;
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 3, &first), 0);
    assert_int_equal(first, 2);
    assert_int_equal(s_next(fx->log), 5);
    char *s0 = tu_seg_path(fx->dir, 0, ".store"), *s2 = tu_seg_path(fx->dir, 2, ".store");
    assert_true(tu_exists(s2));
    assert_int_equal(tu_file_size(s0), SL_STORE_HEADER_LEN + 2 * 108);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    assert_int_equal(tu_file_size(s2), SL_STORE_HEADER_LEN + 3 * 108);
    for (int i = 0; i < 3; i++) {
        char got[100];
        size_t len;
        assert_int_equal(seglog_log_read(fx->log, 2 + (uint64_t)i, got, sizeof got, &len), 0);
        assert_int_equal(len, 100);
        assert_memory_equal(got, b[i], 100);
    }
    /* A batch that fits exactly the rest of the segment does not roll. */
    assert_int_equal(seglog_log_append(fx->log, rec, sizeof rec, &first), 0);
    assert_int_equal(first, 5);
    char *s5 = tu_seg_path(fx->dir, 5, ".store");
    assert_false(tu_exists(s5));
    free(s0);
    free(s2);
    free(s5);
}

static void batch_too_large(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_record_bytes = 100;
    fx->cfg.max_store_bytes = SL_STORE_HEADER_LEN + 4 * (SL_FRAME_HEADER_LEN + 100) + 7;
    s_open(fx);
    s_append_rec(fx->log, 3, 50);
    char rec[100];
    memset(rec, 'q', sizeof rec);
    struct iovec iov[5];
    for (int i = 0; i < 5; i++) {
        iov[i].iov_base = rec;
        iov[i].iov_len = 100;
    }
    uint64_t first = 77;
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 5, &first), SEGLOG_E_BATCH_TOO_LARGE);
    assert_int_equal(first, 77);
    assert_int_equal(s_next(fx->log), 1);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    char *s0 = tu_seg_path(fx->dir, 0, ".store"), *s1 = tu_seg_path(fx->dir, 1, ".store");
    assert_int_equal(tu_file_size(s0), SL_STORE_HEADER_LEN + 8 + s_rec(3, 50, (uint8_t[64]){0}));
    assert_false(tu_exists(s1));
    /* Four fit an empty segment: the log rolls for them. */
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 4, &first), 0);
    assert_int_equal(first, 1);
    assert_true(tu_exists(s1));
    s_check(fx->log, 0, 3, 50);
    free(s0);
    free(s1);
}

static void record_too_large(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    char big[1025];
    memset(big, 'z', sizeof big);
    uint64_t off = 77;
    assert_int_equal(seglog_log_append(fx->log, big, 1025, &off), SEGLOG_E_RECORD_TOO_LARGE);
    assert_int_equal(off, 77);
    struct iovec iov[3] = {{"ok", 2}, {big, 1025}, {"ok", 2}};
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 3, &off), SEGLOG_E_RECORD_TOO_LARGE);
    assert_int_equal(s_next(fx->log), 0);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    char *s0 = tu_seg_path(fx->dir, 0, ".store");
    assert_int_equal(tu_file_size(s0), SL_STORE_HEADER_LEN);
    free(s0);
    /* Exactly max_record_bytes is fine. */
    assert_int_equal(seglog_log_append(fx->log, big, 1024, &off), 0);
    assert_int_equal(off, 0);
    void *p;
    size_t len;
    assert_int_equal(seglog_log_read_alloc(fx->log, 0, &p, &len), 0);
    assert_int_equal(len, 1024);
    assert_memory_equal(p, big, 1024);
    free(p);
}

static void empty_records(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    uint64_t off;
    assert_int_equal(seglog_log_append(fx->log, NULL, 0, &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(seglog_log_append(fx->log, "ignored", 0, &off), 0);
    assert_int_equal(off, 1);
    struct iovec iov[3] = {{NULL, 0}, {"mid", 3}, {NULL, 0}};
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 3, &off), 0);
    assert_int_equal(off, 2);
    assert_int_equal(seglog_log_append(fx->log, NULL, 5, &off), SEGLOG_E_INVAL);
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t o = 0; o < 5; o++) {
            char buf[8];
            size_t len = 99;
            assert_int_equal(seglog_log_read(fx->log, o, buf, sizeof buf, &len), 0);
            assert_int_equal(len, o == 3 ? 3 : 0);
            /* A zero-capacity buffer is enough for an empty record. */
            if (o != 3)
                assert_int_equal(seglog_log_read(fx->log, o, NULL, 0, &len), 0);
            void *p = NULL;
            assert_int_equal(seglog_log_read_alloc(fx->log, o, &p, &len), 0);
            assert_non_null(p);
            free(p);
        }
        s_reopen(fx);
    }
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 1), 0);
    uint64_t o;
    size_t len;
    const void *d;
    /* Empty records take nothing from a 1-byte budget; "mid" would. */
    for (uint64_t k = 0; k < 3; k++) {
        assert_int_equal(seglog_iter_next(it, &o, &d, &len), 1);
        assert_int_equal(o, k);
        assert_int_equal(len, 0);
    }
    assert_int_equal(seglog_iter_next(it, &o, &d, &len), 0);
    assert_int_equal(seglog_iter_seek(it, 3, 0, 1), 0);
    assert_int_equal(seglog_iter_next(it, &o, &d, &len), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(d, "mid", 3);
    /* The budget is spent, but an empty record costs nothing. */
    assert_int_equal(seglog_iter_next(it, &o, &d, &len), 1);
    assert_int_equal(o, 4);
    assert_int_equal(len, 0);
    assert_int_equal(seglog_iter_next(it, &o, &d, &len), 0);
    seglog_iter_destroy(&it);
}

static void truncate_keeps_active(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    uint64_t nl = 0;
    for (uint64_t i = 0; i < 3; i++)
        s_append_rec(fx->log, i, 100);
    assert_int_equal(seglog_log_truncate(fx->log, UINT64_MAX, &nl), 0);
    assert_int_equal(nl, 0);
    for (uint64_t i = 0; i < 3; i++)
        s_check(fx->log, i, i, 100);
    for (uint64_t i = 3; i < 10; i++)
        s_append_rec(fx->log, i, 100);
    /* Segments 0, 4, 8: everything below 10 is asked for; 8 is active. */
    assert_int_equal(seglog_log_truncate(fx->log, 10, &nl), 0);
    assert_int_equal(nl, 8);
    assert_int_equal(seglog_log_truncate(fx->log, UINT64_MAX, &nl), 0);
    assert_int_equal(nl, 8);
    s_check(fx->log, 8, 8, 100);
    s_check(fx->log, 9, 9, 100);
    assert_int_equal(s_append_rec(fx->log, 10, 100), 10);
    /* Truncating below the lowest changes nothing. */
    assert_int_equal(seglog_log_truncate(fx->log, 0, &nl), 0);
    assert_int_equal(nl, 8);
}

static void second_open_locked(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    seglog_log_t *other = NULL;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &other), SEGLOG_E_LOCKED);
    assert_null(other);
    assert_int_equal(seglog_log_close(fx->log), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &other), 0);
    seglog_log_destroy(&other);
}

static void invalid_arguments(void **state)
{
    fx_t *fx = *state;
    seglog_log_t *log = NULL;
    seglog_config_t c = fx->cfg;
    assert_int_equal(seglog_log_open(NULL, &c, &log), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_open("", &c, &log), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_open(fx->dir, &c, NULL), SEGLOG_E_INVAL);
    c.max_record_bytes = 0;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    c = fx->cfg;
    c.max_record_bytes = SL_MAX_RECORD_LIMIT + 1;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    c = fx->cfg;
    c.max_store_bytes = SL_STORE_HEADER_LEN + SL_FRAME_HEADER_LEN + c.max_record_bytes - 1;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    c = fx->cfg;
    c.max_store_bytes = 1ull << 32;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    c = fx->cfg;
    c.max_index_bytes = 7;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    c = fx->cfg;
    c.sync = (seglog_sync_t)3;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    c = fx->cfg;
    c.sync = SEGLOG_SYNC_INTERVAL;
    c.sync_interval_ms = 0;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), SEGLOG_E_INVAL);
    assert_null(log);

    s_open(fx);
    uint64_t v;
    assert_int_equal(seglog_log_append_batch(fx->log, NULL, 0, &v), SEGLOG_E_INVAL);
    struct iovec iov = {NULL, 3};
    assert_int_equal(seglog_log_append_batch(fx->log, &iov, 1, &v), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_read(fx->log, 0, NULL, 5, &v), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_next_offset(fx->log, NULL), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_next_offset(NULL, &v), SEGLOG_E_INVAL);
    assert_int_equal(seglog_log_close(NULL), SEGLOG_E_INVAL);
    assert_int_equal(s_next(fx->log), 0);
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_next(it, &v, NULL, NULL), SEGLOG_E_INVAL); /* not positioned */
    seglog_iter_destroy(&it);
    assert_null(it);
}

static void config_defaults_and_null_config(void **state)
{
    fx_t *fx = *state;
    seglog_config_t c;
    seglog_config_default(&c);
    assert_int_equal(c.max_store_bytes, 64ull << 20);
    assert_int_equal(c.max_index_bytes, 8ull << 20);
    assert_int_equal(c.max_record_bytes, 1u << 20);
    assert_int_equal(c.sync, SEGLOG_SYNC_INTERVAL);
    assert_int_equal(c.sync_interval_ms, 1000);
    assert_int_equal(c.write_buffer_bytes, 256u << 10);
    assert_int_equal(c.initial_offset, 0);
    assert_null(c.vfs);
    assert_int_equal(seglog_log_open(fx->dir, NULL, &fx->log), 0);
    assert_int_equal(s_append_rec(fx->log, 5, 100), 0);
    s_check(fx->log, 0, 5, 100);
}

static void strerror_covers_codes(void **state)
{
    (void)state;
    const char *seen[14];
    for (int e = 0; e >= SEGLOG_E_AGAIN; e--) {
        const char *m = seglog_strerror(e);
        assert_non_null(m);
        assert_string_not_equal(m, "unknown error");
        for (int k = 0; k < -e; k++)
            assert_string_not_equal(m, seen[k]);
        seen[-e] = m;
    }
    assert_string_equal(seglog_strerror(-99), "unknown error");
    assert_string_equal(seglog_strerror(ENOSPC), strerror(ENOSPC));
}

/* ---- iteration ---------------------------------------------------------- */

typedef struct {
    uint64_t off[64];
    size_t len[64];
    int n;
    int last_rc;
} got_t;

static void s_iterate(seglog_iter_t *it, got_t *g)
{
    memset(g, 0, sizeof *g);
    const void *d;
    int rc;
    while (g->n < 64 && (rc = seglog_iter_next(it, &g->off[g->n], &d, &g->len[g->n])) == 1)
        g->n++;
    g->last_rc = g->n < 64 ? rc : 1;
}

static void iter_count_limit(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    for (uint64_t i = 0; i < 10; i++)
        s_append_rec(fx->log, i, 100);
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 2, 3, 0), 0);
    assert_int_equal(seglog_iter_position(it), 2);
    got_t g;
    s_iterate(it, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.last_rc, 0);
    assert_int_equal(g.off[0], 2);
    assert_int_equal(g.off[2], 4);
    assert_int_equal(seglog_iter_position(it), 5);
    assert_int_equal(seglog_iter_next(it, NULL, NULL, NULL), 0);
    /* No limit: to the end of the log. */
    assert_int_equal(seglog_iter_seek(it, 7, 0, 0), 0);
    s_iterate(it, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.off[2], 9);
    seglog_iter_destroy(&it);
}

static void iter_byte_budget(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    char rec[100];
    for (int i = 0; i < 6; i++) {
        memset(rec, 'a' + i, sizeof rec);
        assert_int_equal(seglog_log_append(fx->log, rec, sizeof rec, NULL), 0);
    }
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    got_t g;
    /* The first record comes back even when it alone is over budget. */
    assert_int_equal(seglog_iter_seek(it, 1, 0, 50), 0);
    s_iterate(it, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.off[0], 1);
    assert_int_equal(g.len[0], 100);
    assert_int_equal(seglog_iter_position(it), 2);
    /* 250 bytes: two records (200); the third would make 300. */
    assert_int_equal(seglog_iter_seek(it, 0, 0, 250), 0);
    s_iterate(it, &g);
    assert_int_equal(g.n, 2);
    /* Exactly at the budget is inside it. */
    assert_int_equal(seglog_iter_seek(it, 0, 0, 300), 0);
    s_iterate(it, &g);
    assert_int_equal(g.n, 3);
    /* Count and bytes together: the tighter wins. */
    assert_int_equal(seglog_iter_seek(it, 0, 2, 1000), 0);
    s_iterate(it, &g);
    assert_int_equal(g.n, 2);
    /* The data is the record's. */
    assert_int_equal(seglog_iter_seek(it, 4, 1, 0), 0);
    const void *d;
    size_t len;
    uint64_t off;
    assert_int_equal(seglog_iter_next(it, &off, &d, &len), 1);
    memset(rec, 'a' + 4, sizeof rec);
    assert_int_equal(len, 100);
    assert_memory_equal(d, rec, 100);
    seglog_iter_destroy(&it);
}

static void iter_across_segments(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_store_bytes = 2048;
    s_open(fx);
    for (uint64_t i = 0; i < 300; i++)
        s_append_rec(fx->log, i, 400);
    char *s1 = tu_seg_path(fx->dir, 0, ".store");
    assert_true(tu_exists(s1));
    free(s1);
    seglog_recovery_t rec;
    for (int pass = 0; pass < 2; pass++) {
        seglog_iter_t *it;
        assert_int_equal(seglog_iter_new(fx->log, &it), 0);
        assert_int_equal(seglog_iter_seek(it, 3, 0, 0), 0);
        uint64_t want = 3, off;
        const void *d;
        size_t len;
        int rc;
        while ((rc = seglog_iter_next(it, &off, &d, &len)) == 1) {
            uint8_t exp[400];
            assert_int_equal(off, want);
            assert_int_equal(len, s_rec(want, 400, exp));
            assert_memory_equal(d, exp, len);
            want++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(want, 300);
        seglog_iter_destroy(&it);
        s_reopen(fx);
        seglog_log_recovery(fx->log, &rec);
        assert_true(rec.segments > 10);
    }
}

static void iter_seek_errors(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 0), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    for (uint64_t i = 0; i < 10; i++)
        s_append_rec(fx->log, i, 100);
    assert_int_equal(seglog_iter_seek(it, 10, 0, 0), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(seglog_iter_seek(it, UINT64_MAX, 0, 0), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(seglog_iter_seek(it, 9, 0, 0), 0);
    assert_int_equal(seglog_log_truncate(fx->log, 8, NULL), 0);
    assert_int_equal(seglog_iter_seek(it, 7, 0, 0), SEGLOG_E_OFFSET_TRUNCATED);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 0), SEGLOG_E_OFFSET_TRUNCATED);
    /* A positioned iterator whose segment is truncated away says so. */
    assert_int_equal(seglog_iter_seek(it, 8, 0, 0), 0);
    assert_int_equal(seglog_log_truncate(fx->log, 100, NULL), 0); /* 8 is active: kept */
    uint64_t off;
    assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), 1);
    assert_int_equal(off, 8);
    seglog_iter_destroy(&it);
    seglog_iter_destroy(&it); /* idempotent */
}

/* At the end of the log next() returns 0; later appends are picked up. */
static void iter_tails_log(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    for (uint64_t i = 0; i < 3; i++)
        s_append_rec(fx->log, i, 100);
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 0), 0);
    got_t g;
    s_iterate(it, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.last_rc, 0);
    for (uint64_t i = 3; i < 9; i++) /* into the next segments */
        s_append_rec(fx->log, i, 100);
    s_iterate(it, &g);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.off[0], 3);
    assert_int_equal(g.off[5], 8);
    seglog_iter_destroy(&it);
}

/* Limits that end inside a later segment. */
static void iter_limits_across_segments(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx); /* 4 records per segment */
    s_open(fx);
    for (uint64_t i = 0; i < 16; i++)
        s_append_rec(fx->log, i + 1, 100);
    seglog_iter_t *it;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    got_t g;
    assert_int_equal(seglog_iter_seek(it, 2, 7, 0), 0); /* 2..8: three segments */
    s_iterate(it, &g);
    assert_int_equal(g.n, 7);
    for (int k = 0; k < 7; k++)
        assert_int_equal(g.off[k], 2 + (uint64_t)k);
    /* A byte budget that runs out in the next segment. */
    size_t budget = 0;
    uint8_t tmp[128];
    for (uint64_t i = 3; i <= 6; i++)
        budget += s_rec(i + 1, 100, tmp);
    assert_int_equal(seglog_iter_seek(it, 3, 0, budget), 0);
    s_iterate(it, &g);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.off[3], 6);
    seglog_iter_destroy(&it);
}

/* Records larger than the iterator's 1 MiB chunk. */
static void iter_large_records(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_record_bytes = 3 << 20;
    fx->cfg.max_store_bytes = 16 << 20;
    s_open(fx);
    size_t sizes[5] = {10, (3 << 20) - 1, 20, 1 << 20, 30};
    uint8_t *big = malloc(3 << 20);
    assert_non_null(big);
    for (size_t j = 0; j < (3u << 20); j++)
        big[j] = (uint8_t)(j * 2654435761u >> 11);
    for (int k = 0; k < 5; k++)
        assert_int_equal(seglog_log_append(fx->log, big, sizes[k], NULL), 0);
    for (int pass = 0; pass < 2; pass++) {
        seglog_iter_t *it;
        assert_int_equal(seglog_iter_new(fx->log, &it), 0);
        assert_int_equal(seglog_iter_seek(it, 0, 0, 0), 0);
        uint64_t off;
        const void *d;
        size_t len;
        for (int k = 0; k < 5; k++) {
            assert_int_equal(seglog_iter_next(it, &off, &d, &len), 1);
            assert_int_equal(off, (uint64_t)k);
            assert_int_equal(len, sizes[k]);
            assert_memory_equal(d, big, len);
        }
        assert_int_equal(seglog_iter_next(it, &off, &d, &len), 0);
        seglog_iter_destroy(&it);
        s_reopen(fx);
    }
    free(big);
}

/* A batch of more records than the segment's on-stack position array. */
static void large_batch(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    enum { N = 300 };
    static uint8_t b[N][64];
    struct iovec iov[N];
    for (int k = 0; k < N; k++) {
        iov[k].iov_base = b[k];
        iov[k].iov_len = s_rec((uint64_t)k, 64, b[k]);
    }
    uint64_t first;
    assert_int_equal(seglog_log_append_batch(fx->log, iov, N, &first), 0);
    assert_int_equal(first, 0);
    assert_int_equal(s_next(fx->log), N);
    s_reopen(fx);
    for (uint64_t k = 0; k < N; k++)
        s_check(fx->log, k, k, 64);
}

/* remove deletes its own files; a foreign file keeps the directory (and
 * remove says why). */
static void remove_keeps_foreign_files(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    s_append_rec(fx->log, 1, 100);
    char *foreign = tu_path(fx->dir, "notes.txt");
    assert_int_equal(tu_write_file(foreign, "x", 1), 0);
    assert_int_equal(seglog_log_remove(fx->log), ENOTEMPTY);
    assert_true(tu_exists(foreign));
    char *sp = tu_seg_path(fx->dir, 0, ".store"), *ip = tu_seg_path(fx->dir, 0, ".index");
    assert_false(tu_exists(sp));
    assert_false(tu_exists(ip));
    uint64_t v;
    assert_int_equal(seglog_log_next_offset(fx->log, &v), SEGLOG_E_CLOSED);
    free(foreign);
    free(sp);
    free(ip);
}

/* The directory may be given with trailing slashes, and is created with
 * its parents. */
static void directory_path_forms(void **state)
{
    fx_t *fx = *state;
    char *deep = tu_path(fx->tmp, "a/b/c//");
    assert_int_equal(seglog_log_open(deep, &fx->cfg, &fx->log), 0);
    s_append_rec(fx->log, 1, 100);
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    char *plain = tu_path(fx->tmp, "a/b/c");
    char *sp = tu_seg_path(plain, 0, ".store"), *marker = tu_path(plain, ".clean_shutdown");
    assert_true(tu_exists(sp));
    assert_true(tu_exists(marker));
    assert_int_equal(seglog_log_open(plain, &fx->cfg, &fx->log), 0);
    s_check(fx->log, 0, 1, 100);
    assert_false(tu_exists(marker)); /* a crash from now on is unclean */
    free(deep);
    free(plain);
    free(sp);
    free(marker);
}

/* Reopened with smaller limits, the active segment keeps what it has and
 * the next append rolls. */
static void smaller_limits_on_reopen(void **state)
{
    fx_t *fx = *state;
    s_open(fx);
    for (uint64_t i = 0; i < 10; i++)
        s_append_rec(fx->log, i, 100);
    fx->cfg.max_index_bytes = 4 * 8;
    s_reopen(fx);
    assert_int_equal(s_next(fx->log), 10);
    assert_int_equal(s_append_rec(fx->log, 10, 100), 10);
    char *s10 = tu_seg_path(fx->dir, 10, ".store");
    assert_true(tu_exists(s10));
    free(s10);
    for (uint64_t i = 0; i <= 10; i++)
        s_check(fx->log, i, i, 100);
}

/* ---- commit point -------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t last;
    int calls;
} commits_t;

static void s_on_commit(void *arg, uint64_t next)
{
    commits_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->last = next;
    c->calls++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void s_commits_init(commits_t *c, fx_t *fx)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    fx->cfg.on_commit = s_on_commit;
    fx->cfg.on_commit_arg = c;
}

static void s_commits_fini(commits_t *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static uint64_t s_commits_last(commits_t *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t v = c->last;
    pthread_mutex_unlock(&c->mu);
    return v;
}

static void commit_sync_always(void **state)
{
    fx_t *fx = *state;
    commits_t c;
    s_commits_init(&c, fx);
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    s_open(fx);
    assert_int_equal(s_committed(fx->log), 0);
    for (uint64_t i = 0; i < 5; i++) {
        uint64_t off = s_append_rec(fx->log, i, 100);
        assert_int_equal(s_committed(fx->log), off + 1);
        assert_int_equal(s_commits_last(&c), off + 1);
    }
    struct iovec iov[2] = {{"a", 1}, {"b", 1}};
    uint64_t first;
    assert_int_equal(seglog_log_append_batch(fx->log, iov, 2, &first), 0);
    assert_int_equal(first, 5);
    assert_int_equal(s_committed(fx->log), 7);
    assert_int_equal(s_commits_last(&c), 7);
    /* nowait + commit_wait. */
    seglog_commit_t tok;
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, iov, 2, &first, &tok), 0);
    assert_int_equal(first, 7);
    assert_int_equal(tok.target, 9);
    assert_int_equal(s_committed(fx->log), 7);
    assert_int_equal(seglog_log_commit_wait(fx->log, &tok), 0);
    assert_int_equal(s_committed(fx->log), 9);
    assert_int_equal(s_commits_last(&c), 9);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&c);
}

static void commit_sync_none(void **state)
{
    fx_t *fx = *state;
    commits_t c;
    s_commits_init(&c, fx);
    fx->cfg.sync = SEGLOG_SYNC_NONE;
    fx->cfg.initial_offset = 10;
    s_open(fx);
    char *sp = tu_seg_path(fx->dir, 10, ".store");
    for (uint64_t i = 0; i < 3; i++)
        s_append_rec(fx->log, i + 1, 100);
    /* Buffered: not written to the OS, not committed. */
    assert_int_equal(s_committed(fx->log), 10);
    assert_int_equal(c.calls, 0);
    assert_int_equal(tu_file_size(sp), SL_STORE_HEADER_LEN);
    assert_int_equal(seglog_log_flush(fx->log), 0);
    assert_true(tu_file_size(sp) > SL_STORE_HEADER_LEN);
    assert_int_equal(s_committed(fx->log), 13);
    assert_int_equal(s_commits_last(&c), 13);
    assert_int_equal(c.calls, 1);
    /* Nothing new: no new callback. */
    assert_int_equal(seglog_log_flush(fx->log), 0);
    assert_int_equal(c.calls, 1);
    /* nowait + commit_wait writes to the OS. */
    seglog_commit_t tok;
    uint64_t first;
    struct iovec iov = {"zz", 2};
    assert_int_equal(seglog_log_append_batch_nowait(fx->log, &iov, 1, &first, &tok), 0);
    assert_int_equal(s_committed(fx->log), 13);
    long before = tu_file_size(sp);
    assert_int_equal(seglog_log_commit_wait(fx->log, &tok), 0);
    assert_int_equal(tu_file_size(sp), before + 8 + 2);
    assert_int_equal(s_committed(fx->log), 14);
    /* sync commits too. */
    s_append_rec(fx->log, 9, 100);
    assert_int_equal(seglog_log_sync(fx->log), 0);
    assert_int_equal(s_committed(fx->log), 15);
    assert_int_equal(s_commits_last(&c), 15);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&c);
    free(sp);
}

/* INTERVAL: the background thread commits; wait for its callback. */
static void commit_sync_interval(void **state)
{
    fx_t *fx = *state;
    commits_t c;
    s_commits_init(&c, fx);
    fx->cfg.sync = SEGLOG_SYNC_INTERVAL;
    fx->cfg.sync_interval_ms = 5;
    s_open(fx);
    for (uint64_t i = 0; i < 4; i++)
        s_append_rec(fx->log, i, 100);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&c.mu);
    int rc = 0;
    while (c.last < 4 && rc == 0)
        rc = pthread_cond_timedwait(&c.cv, &c.mu, &dl);
    uint64_t last = c.last;
    pthread_mutex_unlock(&c.mu);
    assert_int_equal(last, 4);
    assert_int_equal(s_committed(fx->log), 4);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&c);
}

/* Sealed segments and close count as commits; reopen starts committed. */
static void commit_at_roll_and_reopen(void **state)
{
    fx_t *fx = *state;
    s_small_segments(fx);
    s_open(fx);
    for (uint64_t i = 0; i < 5; i++) /* the 5th rolls: [0,4) is sealed */
        s_append_rec(fx->log, i, 100);
    assert_int_equal(s_committed(fx->log), 4);
    s_reopen(fx);
    assert_int_equal(s_committed(fx->log), 5);
}

/* ---- commit_check and commit_all ---------------------------------------- */

/* A fault VFS used only to count fdatasync calls, and the commit callback
 * state: static, so that a teardown after a failed assert (which closes the
 * log and may call on_commit) never touches a dead stack frame. */
static tu_faults_t s_cf;
static seglog_vfs_t s_cvfs;
static commits_t s_cc;

static void s_counting(fx_t *fx)
{
    memset(&s_cf, 0, sizeof s_cf);
    s_cvfs = tu_fault_vfs(&s_cf);
    fx->cfg.vfs = &s_cvfs;
    s_commits_init(&s_cc, fx);
}

static int s_calls(commits_t *c)
{
    pthread_mutex_lock(&c->mu);
    int v = c->calls;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Append records [i, i + n) as one batch without waiting. */
static uint64_t s_nowait(seglog_log_t *log, uint64_t i, size_t n, seglog_commit_t *tok)
{
    uint8_t buf[8][100];
    struct iovec iov[8];
    assert_true(n <= 8);
    for (size_t k = 0; k < n; k++) {
        iov[k].iov_base = buf[k];
        iov[k].iov_len = s_rec(i + k, 100, buf[k]);
    }
    uint64_t first = UINT64_MAX;
    memset(tok, 0xee, sizeof *tok);
    assert_int_equal(seglog_log_append_batch_nowait(log, iov, n, &first, tok), 0);
    assert_int_equal(tok->target, first + n);
    return first;
}

/* ALWAYS: commit_check never syncs and says AGAIN until a commit_all (one
 * group sync) covers the append; then 0, for every earlier token too. */
static void commit_check_and_all_always(void **state)
{
    fx_t *fx = *state;
    s_counting(fx);
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    s_open(fx);
    assert_int_equal(s_append_rec(fx->log, 0, 100), 0); /* [0,1) committed */
    assert_int_equal(s_committed(fx->log), 1);
    assert_int_equal(s_calls(&s_cc), 1);

    seglog_commit_t t1, t2, t3;
    assert_int_equal(s_nowait(fx->log, 1, 3, &t1), 1);
    assert_int_equal(s_nowait(fx->log, 4, 2, &t2), 4);
    assert_int_equal(t2.target, 6);
    int syncs = s_cf.syncs;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(seglog_log_commit_check(fx->log, &t1), SEGLOG_E_AGAIN);
        assert_int_equal(seglog_log_commit_check(fx->log, &t2), SEGLOG_E_AGAIN);
    }
    assert_int_equal(s_cf.syncs, syncs); /* it never syncs */
    assert_int_equal(s_committed(fx->log), 1);
    assert_int_equal(s_calls(&s_cc), 1);
    assert_int_equal(s_next(fx->log), 6);
    for (uint64_t i = 0; i < 6; i++) /* readable before the commit point */
        s_check(fx->log, i, i, 100);

    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_true(s_cf.syncs > syncs);
    assert_int_equal(s_committed(fx->log), 6);
    assert_int_equal(s_committed(fx->log), s_next(fx->log));
    assert_int_equal(s_calls(&s_cc), 2);
    assert_int_equal(s_commits_last(&s_cc), 6);
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t2), 0);

    /* Nothing new: no sync, no callback. */
    syncs = s_cf.syncs;
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(s_cf.syncs, syncs);
    assert_int_equal(s_calls(&s_cc), 2);

    /* A later append is AGAIN again; the earlier tokens stay 0. */
    assert_int_equal(s_nowait(fx->log, 6, 1, &t3), 6);
    assert_int_equal(seglog_log_commit_check(fx->log, &t3), SEGLOG_E_AGAIN);
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t2), 0);
    assert_int_equal(s_committed(fx->log), 6);
    assert_int_equal(s_cf.syncs, syncs);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t3), 0);
    assert_int_equal(seglog_log_commit_wait(fx->log, &t3), 0); /* they agree */
    assert_int_equal(s_committed(fx->log), 7);
    assert_int_equal(s_calls(&s_cc), 3);
    assert_int_equal(s_commits_last(&s_cc), 7);

    /* A plain (waiting) append's commit is seen by commit_check too. */
    assert_int_equal(s_append_rec(fx->log, 7, 100), 7);
    seglog_commit_t t4 = {.target = 8, .gen = t3.gen};
    assert_int_equal(seglog_log_commit_check(fx->log, &t4), 0);

    s_reopen(fx);
    assert_int_equal(s_next(fx->log), 8);
    for (uint64_t i = 0; i < 8; i++)
        s_check(fx->log, i, i, 100);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&s_cc);
}

/* ALWAYS: a roll seals (and syncs) the old segment, so tokens for it pass
 * their commit point without a commit_all; the new segment's do not. */
static void commit_check_after_roll(void **state)
{
    fx_t *fx = *state;
    s_counting(fx);
    s_small_segments(fx);
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    s_open(fx);
    seglog_commit_t t1, t2;
    assert_int_equal(s_nowait(fx->log, 0, 3, &t1), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), SEGLOG_E_AGAIN);
    /* 2 records do not fit the 1 slot left: the log rolls, [0,3) is sealed. */
    assert_int_equal(s_nowait(fx->log, 3, 2, &t2), 3);
    char *s3 = tu_seg_path(fx->dir, 3, ".store");
    assert_true(tu_exists(s3));
    free(s3);
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t2), SEGLOG_E_AGAIN);
    assert_int_equal(s_committed(fx->log), 3);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t2), 0);
    assert_int_equal(s_committed(fx->log), 5);
    assert_int_equal(s_commits_last(&s_cc), 5);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&s_cc);
}

typedef struct {
    seglog_log_t *log;
    seglog_commit_t tok;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    int rc;
    long polls;
} poller_t;

static void *s_poll_thread(void *arg)
{
    poller_t *p = arg;
    pthread_mutex_lock(&p->mu);
    p->started = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc;
    for (;;) {
        rc = seglog_log_commit_check(p->log, &p->tok);
        p->polls++;
        if (rc != SEGLOG_E_AGAIN)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 30)
            break; /* rc stays AGAIN: the test fails */
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    p->rc = rc;
    return NULL;
}

/* ALWAYS: a thread polling commit_check sees the commit another thread's
 * commit_all made. */
static void commit_check_sees_other_thread(void **state)
{
    fx_t *fx = *state;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    s_open(fx);
    poller_t p;
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    p.log = fx->log;
    p.rc = 12345;
    assert_int_equal(s_nowait(fx->log, 0, 4, &p.tok), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_poll_thread, &p), 0);
    pthread_mutex_lock(&p.mu);
    while (!p.started)
        pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    struct timespec nap = {0, 20000000}; /* let it poll AGAIN a few times */
    nanosleep(&nap, NULL);
    int rc = seglog_log_commit_all(fx->log);
    pthread_join(t, NULL);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    assert_int_equal(rc, 0);
    assert_int_equal(p.rc, 0);
    assert_true(p.polls >= 1);
    assert_int_equal(s_committed(fx->log), 4);
}

/* INTERVAL (a long interval): commit_check is commit_wait, a write to the
 * OS: 0 at once, no fdatasync, no commit. commit_all fdatasyncs and
 * commits everything appended. */
static void commit_check_and_all_interval(void **state)
{
    fx_t *fx = *state;
    s_counting(fx);
    fx->cfg.sync = SEGLOG_SYNC_INTERVAL;
    fx->cfg.sync_interval_ms = 60000;
    s_open(fx);
    char *sp = tu_seg_path(fx->dir, 0, ".store");
    seglog_commit_t t1, t2;
    assert_int_equal(s_nowait(fx->log, 0, 3, &t1), 0);
    assert_int_equal(tu_file_size(sp), SL_STORE_HEADER_LEN); /* still buffered */
    int syncs = s_cf.syncs;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 10);               /* did not wait for the interval sync */
    assert_true(tu_file_size(sp) > SL_STORE_HEADER_LEN); /* written to the OS */
    assert_int_equal(s_cf.syncs, syncs);                 /* not fdatasync'ed */
    assert_int_equal(s_committed(fx->log), 0);           /* INTERVAL commits at a sync */
    assert_int_equal(s_calls(&s_cc), 0);

    assert_int_equal(s_nowait(fx->log, 3, 2, &t2), 3);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_true(s_cf.syncs > syncs);
    assert_int_equal(s_next(fx->log), 5);
    assert_int_equal(s_committed(fx->log), 5);
    assert_int_equal(s_calls(&s_cc), 1);
    assert_int_equal(s_commits_last(&s_cc), 5);
    assert_int_equal(seglog_log_commit_check(fx->log, &t2), 0);
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), 0);
    for (uint64_t i = 0; i < 5; i++)
        s_check(fx->log, i, i, 100);
    /* Nothing new: committed stays, no second callback. */
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_int_equal(s_committed(fx->log), 5);
    assert_int_equal(s_calls(&s_cc), 1);
    free(sp);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&s_cc);
}

/* NONE: commit_check writes to the OS and commits (like commit_wait);
 * commit_all is a sync. */
static void commit_check_and_all_none(void **state)
{
    fx_t *fx = *state;
    s_counting(fx);
    fx->cfg.sync = SEGLOG_SYNC_NONE;
    s_open(fx);
    char *sp = tu_seg_path(fx->dir, 0, ".store");
    seglog_commit_t t1;
    assert_int_equal(s_nowait(fx->log, 0, 2, &t1), 0);
    assert_int_equal(tu_file_size(sp), SL_STORE_HEADER_LEN);
    int syncs = s_cf.syncs;
    assert_int_equal(seglog_log_commit_check(fx->log, &t1), 0);
    assert_true(tu_file_size(sp) > SL_STORE_HEADER_LEN);
    assert_int_equal(s_cf.syncs, syncs);
    assert_int_equal(s_committed(fx->log), 2);
    assert_int_equal(s_commits_last(&s_cc), 2);
    s_append_rec(fx->log, 2, 100);
    assert_int_equal(seglog_log_commit_all(fx->log), 0);
    assert_true(s_cf.syncs > syncs);
    assert_int_equal(s_committed(fx->log), 3);
    assert_int_equal(s_commits_last(&s_cc), 3);
    free(sp);
    seglog_log_destroy(&fx->log);
    s_commits_fini(&s_cc);
}

/* Bad arguments, and a closed handle, under each policy. */
static void commit_check_and_all_errors(void **state)
{
    fx_t *fx = *state;
    const seglog_sync_t pol[3] = {SEGLOG_SYNC_NONE, SEGLOG_SYNC_INTERVAL, SEGLOG_SYNC_ALWAYS};
    for (int k = 0; k < 3; k++) {
        fx->cfg.sync = pol[k];
        s_open(fx);
        seglog_commit_t tok;
        uint64_t first = s_nowait(fx->log, 0, 1, &tok);
        assert_int_equal(first, (uint64_t)k);
        assert_int_equal(seglog_log_commit_check(NULL, &tok), SEGLOG_E_INVAL);
        assert_int_equal(seglog_log_commit_check(fx->log, NULL), SEGLOG_E_INVAL);
        assert_int_equal(seglog_log_commit_all(NULL), SEGLOG_E_INVAL);
        assert_int_equal(seglog_log_close(fx->log), 0);
        assert_int_equal(seglog_log_commit_all(fx->log), SEGLOG_E_CLOSED);
        if (pol[k] == SEGLOG_SYNC_ALWAYS) {
            /* The clean close synced the pending append: as commit_wait. */
            assert_int_equal(seglog_log_commit_wait(fx->log, &tok), 0);
            assert_int_equal(seglog_log_commit_check(fx->log, &tok), 0);
        } else {
            assert_int_equal(seglog_log_commit_check(fx->log, &tok), SEGLOG_E_CLOSED);
        }
        seglog_log_destroy(&fx->log);
    }
    s_open(fx);
    assert_int_equal(s_next(fx->log), 3);
}

/* Logging callback: recovery actions arrive as lines. */
static int s_lines;
static void s_log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    (void)level;
    if (msg && *msg)
        s_lines++;
}

static void log_fn_reports_recovery(void **state)
{
    fx_t *fx = *state;
    fx->cfg.log_fn = s_log_fn;
    s_open(fx);
    s_append_rec(fx->log, 3, 100);
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    char *sp = tu_seg_path(fx->dir, 0, ".store");
    assert_int_equal(tu_append_bytes(sp, "garbage!", 8), 0);
    free(sp);
    s_lines = 0;
    s_open(fx);
    assert_true(s_lines > 0);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(append_and_read),
        T(read_past_end),
        T(read_buffer_too_small),
        T(read_below_lowest),
        T(reopen_three_records_two_segments),
        T(initial_offset_for_new_log),
        T(epoch_stable_across_reopen),
        T(reset_starts_over),
        T(remove_deletes_directory),
        T(use_after_close),
        T(batch_rolls_whole),
        T(batch_too_large),
        T(record_too_large),
        T(empty_records),
        T(truncate_keeps_active),
        T(second_open_locked),
        T(invalid_arguments),
        T(config_defaults_and_null_config),
        cmocka_unit_test(strerror_covers_codes),
        T(iter_count_limit),
        T(iter_byte_budget),
        T(iter_across_segments),
        T(iter_seek_errors),
        T(iter_tails_log),
        T(iter_limits_across_segments),
        T(iter_large_records),
        T(large_batch),
        T(remove_keeps_foreign_files),
        T(directory_path_forms),
        T(smaller_limits_on_reopen),
        T(commit_sync_always),
        T(commit_sync_none),
        T(commit_sync_interval),
        T(commit_at_roll_and_reopen),
        T(commit_check_and_all_always),
        T(commit_check_after_roll),
        T(commit_check_sees_other_thread),
        T(commit_check_and_all_interval),
        T(commit_check_and_all_none),
        T(commit_check_and_all_errors),
        T(log_fn_reports_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
