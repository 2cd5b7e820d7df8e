/* test_index.c - the memory-mapped index: entries, the published count,
 * preallocation to capacity and the cut back on close, reopen, validation
 * of what a file holds, and capacity = floor(max_index_bytes / 8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"
#include "index.h"
#include "testutil.h"

typedef struct {
    char *dir;
    char *path;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->dir = tu_tempdir("index");
    fx->path = tu_seg_path(fx->dir, 0, ".index");
    *state = fx;
    return fx->dir ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    free(fx->path);
    tu_rmrf(&fx->dir);
    free(fx);
    return 0;
}

static uint32_t s_pos(uint32_t i)
{
    return SL_STORE_HEADER_LEN + i * 20u;
}

/* Write n entries and publish them. */
static void s_fill(sl_index_t *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        sl_index_put(x, i, s_pos(i));
    sl_index_set_count(x, n);
}

static void write_read_count(void **state)
{
    fx_t *fx = *state;
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 10, 0, &x), 0);
    assert_int_equal(sl_index_capacity(x), 10);
    assert_int_equal(sl_index_file_entries(x), 0);
    assert_int_equal(sl_index_count(x), 0);
    /* Written but not yet published: invisible to readers. */
    sl_index_put(x, 0, s_pos(0));
    sl_index_put(x, 1, s_pos(1));
    assert_int_equal(sl_index_count(x), 0);
    uint32_t pos = 0;
    assert_int_equal(sl_index_read(x, 0, &pos), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    sl_index_set_count(x, 2);
    assert_int_equal(sl_index_count(x), 2);
    assert_int_equal(sl_index_read(x, 0, &pos), 0);
    assert_int_equal(pos, s_pos(0));
    assert_int_equal(sl_index_read(x, 1, &pos), 0);
    assert_int_equal(pos, s_pos(1));
    assert_int_equal(sl_index_read(x, 2, &pos), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    /* The raw slot holds the relative offset too. */
    uint32_t rel = 99;
    assert_int_equal(sl_index_slot(x, 1, &rel, &pos), 0);
    assert_int_equal(rel, 1);
    assert_int_equal(pos, s_pos(1));
    assert_int_equal(sl_index_slot(x, 10, &rel, &pos), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(sl_index_close(&x, 1), 0);
    assert_null(x);
}

/* Grown to capacity while open, cut back to the real length on close. */
static void preallocated_then_cut(void **state)
{
    fx_t *fx = *state;
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 100, 0, &x), 0);
    assert_int_equal(tu_file_size(fx->path), 100 * SL_INDEX_ENTRY_LEN);
    s_fill(x, 7);
    assert_int_equal(tu_file_size(fx->path), 100 * SL_INDEX_ENTRY_LEN);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(tu_file_size(fx->path), 7 * SL_INDEX_ENTRY_LEN);

    /* The bytes on disk are the entries. */
    uint8_t e[8];
    assert_int_equal(tu_read_at(fx->path, 6 * 8, e, 8), 0);
    assert_int_equal(sl_get32(e), 6);
    assert_int_equal(sl_get32(e + 4), s_pos(6));
}

static void reopen_sees_file_entries(void **state)
{
    fx_t *fx = *state;
    const seglog_vfs_t *v = seglog_vfs_posix();
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(v, fx->path, 16, 0, &x), 0);
    s_fill(x, 5);
    assert_int_equal(sl_index_close(&x, 1), 0);

    assert_int_equal(sl_index_open(v, fx->path, 16, 0, &x), 0);
    /* Entries on disk are not trusted until the caller says so. */
    assert_int_equal(sl_index_file_entries(x), 5);
    assert_int_equal(sl_index_count(x), 0);
    assert_int_equal(sl_index_capacity(x), 16);
    assert_int_equal(tu_file_size(fx->path), 16 * 8);
    assert_int_equal(sl_index_valid_prefix(x, 5, SL_STORE_HEADER_LEN, 1000), 5);
    sl_index_set_count(x, 5);
    uint32_t pos;
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(sl_index_read(x, i, &pos), 0);
        assert_int_equal(pos, s_pos(i));
    }
    /* Appends continue. */
    sl_index_put(x, 5, s_pos(5));
    sl_index_set_count(x, 6);
    assert_int_equal(sl_index_close(&x, 1), 0);
    assert_int_equal(tu_file_size(fx->path), 6 * 8);

    /* truncate=1 empties it. */
    assert_int_equal(sl_index_open(v, fx->path, 16, 1, &x), 0);
    assert_int_equal(sl_index_file_entries(x), 0);
    sl_index_set_count(x, 0);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(tu_file_size(fx->path), 0);
}

/* A file written with a bigger capacity is never hidden by a smaller one. */
static void file_larger_than_capacity(void **state)
{
    fx_t *fx = *state;
    const seglog_vfs_t *v = seglog_vfs_posix();
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(v, fx->path, 10, 0, &x), 0);
    s_fill(x, 10);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(sl_index_open(v, fx->path, 4, 0, &x), 0);
    assert_int_equal(sl_index_capacity(x), 10);
    assert_int_equal(sl_index_file_entries(x), 10);
    sl_index_set_count(x, 10);
    uint32_t pos;
    assert_int_equal(sl_index_read(x, 9, &pos), 0);
    assert_int_equal(pos, s_pos(9));
    assert_int_equal(sl_index_close(&x, 0), 0);
}

static void valid_prefix_rules(void **state)
{
    fx_t *fx = *state;
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 10, 0, &x), 0);
    for (uint32_t i = 0; i < 6; i++)
        sl_index_put(x, i, s_pos(i));
    /* Zeroed tail stops it; so does the limit. */
    assert_int_equal(sl_index_valid_prefix(x, 10, 32, 10000), 6);
    assert_int_equal(sl_index_valid_prefix(x, 4, 32, 10000), 4);
    /* Entries at or past the store end. */
    assert_int_equal(sl_index_valid_prefix(x, 10, 32, s_pos(4)), 4);
    assert_int_equal(sl_index_valid_prefix(x, 10, 32, s_pos(4) + 1), 5);
    /* Below the minimum position. */
    assert_int_equal(sl_index_valid_prefix(x, 10, s_pos(0) + 1, 10000), 0);
    /* Not strictly increasing. */
    sl_index_put(x, 3, s_pos(2));
    assert_int_equal(sl_index_valid_prefix(x, 10, 32, 10000), 3);
    sl_index_put(x, 3, s_pos(3));
    /* Wrong relative offset in the slot. */
    uint8_t e[8];
    sl_put32(e, 7);
    sl_put32(e + 4, s_pos(2));
    sl_index_set_count(x, 6);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(tu_write_at(fx->path, 2 * 8, e, 8), 0);
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 10, 0, &x), 0);
    assert_int_equal(sl_index_valid_prefix(x, sl_index_file_entries(x), 32, 10000), 2);
    sl_index_set_count(x, 2);
    assert_int_equal(sl_index_close(&x, 0), 0);
}

/* Shrinking the count zeroes the cut slots, so that no later recovery can
 * trust them. */
static void shrink_zeroes_cut_slots(void **state)
{
    fx_t *fx = *state;
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 10, 0, &x), 0);
    s_fill(x, 6);
    sl_index_set_count(x, 2);
    assert_int_equal(sl_index_count(x), 2);
    for (uint32_t i = 2; i < 6; i++) {
        uint32_t rel = 1, pos = 1;
        assert_int_equal(sl_index_slot(x, i, &rel, &pos), 0);
        assert_int_equal(rel, 0);
        assert_int_equal(pos, 0);
    }
    uint32_t rel, pos;
    assert_int_equal(sl_index_slot(x, 1, &rel, &pos), 0);
    assert_int_equal(pos, s_pos(1));
    assert_int_equal(sl_index_close(&x, 0), 0);
}

/* Stale entries a file held past the count a recovery settles on are
 * zeroed too (a crash later must not find them again). */
static void settle_zeroes_stale_file_slots(void **state)
{
    fx_t *fx = *state;
    const seglog_vfs_t *v = seglog_vfs_posix();
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(v, fx->path, 10, 0, &x), 0);
    s_fill(x, 8);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(sl_index_open(v, fx->path, 10, 0, &x), 0);
    sl_index_set_count(x, 3);
    /* Still open (as after a recovery): the file is at capacity, and the
     * slots 3..7 read as zero through the shared mapping. */
    assert_int_equal(tu_file_size(fx->path), 10 * 8);
    uint8_t e[5 * 8], zero[5 * 8] = {0};
    assert_int_equal(tu_read_at(fx->path, 3 * 8, e, sizeof e), 0);
    assert_memory_equal(e, zero, sizeof e);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(tu_file_size(fx->path), 3 * 8);
}

static void grow_and_shrink(void **state)
{
    fx_t *fx = *state;
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 2, 0, &x), 0);
    s_fill(x, 2);
    assert_int_equal(sl_index_grow(x, 8), 0);
    assert_int_equal(sl_index_capacity(x), 8);
    assert_int_equal(tu_file_size(fx->path), 8 * 8);
    for (uint32_t i = 2; i < 5; i++)
        sl_index_put(x, i, s_pos(i));
    sl_index_set_count(x, 5);
    /* Growing to less is a no-op. */
    assert_int_equal(sl_index_grow(x, 4), 0);
    assert_int_equal(sl_index_capacity(x), 8);
    /* Seal: exact size. */
    assert_int_equal(sl_index_shrink(x), 0);
    assert_int_equal(sl_index_capacity(x), 5);
    assert_int_equal(tu_file_size(fx->path), 5 * 8);
    uint32_t pos;
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(sl_index_read(x, i, &pos), 0);
        assert_int_equal(pos, s_pos(i));
    }
    assert_int_equal(sl_index_sync(x), 0);
    assert_int_equal(sl_index_close(&x, 1), 0);
    assert_int_equal(tu_file_size(fx->path), 5 * 8);
}

/* A torn trailing partial entry is not an entry. */
static void partial_entry_ignored(void **state)
{
    fx_t *fx = *state;
    sl_index_t *x = NULL;
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 4, 0, &x), 0);
    s_fill(x, 3);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(tu_append_bytes(fx->path, "\x03\x00\x00", 3), 0);
    assert_int_equal(sl_index_open(seglog_vfs_posix(), fx->path, 3, 0, &x), 0);
    assert_int_equal(sl_index_file_entries(x), 3);
    sl_index_set_count(x, 3);
    assert_int_equal(sl_index_close(&x, 0), 0);
    assert_int_equal(tu_file_size(fx->path), 3 * 8);
}

/* Through the log: capacity is floor(max_index_bytes / 8), the active
 * index file is that big while open, and the entry past it rolls. */
static void capacity_from_config(void **state)
{
    fx_t *fx = *state;
    seglog_config_t c;
    tu_config(&c, 1 << 20, 31); /* floor(31 / 8) = 3 */
    seglog_log_t *log = NULL;
    assert_int_equal(seglog_log_open(fx->dir, &c, &log), 0);
    char *idx0 = tu_seg_path(fx->dir, 0, ".index"), *idx3 = tu_seg_path(fx->dir, 3, ".index");
    assert_int_equal(tu_file_size(idx0), 3 * 8);
    uint64_t off;
    for (int i = 0; i < 3; i++)
        assert_int_equal(seglog_log_append(log, "abc", 3, &off), 0);
    assert_false(tu_exists(idx3));
    assert_int_equal(seglog_log_append(log, "abc", 3, &off), 0);
    assert_int_equal(off, 3);
    assert_true(tu_exists(idx3));
    assert_int_equal(tu_file_size(idx0), 3 * 8);
    assert_int_equal(tu_file_size(idx3), 3 * 8);
    /* A batch larger than any index is refused. */
    struct iovec b[4] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
    assert_int_equal(seglog_log_append_batch(log, b, 4, &off), SEGLOG_E_BATCH_TOO_LARGE);
    assert_int_equal(seglog_log_close(log), 0);
    assert_int_equal(tu_file_size(idx3), 1 * 8);
    seglog_log_destroy(&log);
    free(idx0);
    free(idx3);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(write_read_count),
        T(preallocated_then_cut),
        T(reopen_sees_file_entries),
        T(file_larger_than_capacity),
        T(valid_prefix_rules),
        T(shrink_zeroes_cut_slots),
        T(settle_zeroes_stale_file_slots),
        T(grow_and_shrink),
        T(partial_entry_ignored),
        T(capacity_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
