/* test_segment.c - one store plus one index: file names, offsets from the
 * base, fits(), locate and read, rollback, seal, reopen and remove. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"
#include "segment.h"
#include "testutil.h"

typedef struct {
    char *dir;
    sl_seg_config_t cfg;
    seglog_recovery_t rec;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->dir = tu_tempdir("segment");
    fx->cfg = (sl_seg_config_t){
        .vfs = seglog_vfs_posix(),
        .max_store_bytes = 1 << 20,
        .index_capacity = 3, /* max_index_bytes = 24 */
        .max_record_bytes = 1024,
        .write_buffer_bytes = 4096,
    };
    *state = fx;
    return fx->dir ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    tu_rmrf(&fx->dir);
    free(fx);
    return 0;
}

static void s_append(sl_segment_t *s, const char *text, uint64_t want)
{
    struct iovec iov = {(void *)text, strlen(text)};
    uint64_t first = 0;
    assert_int_equal(sl_segment_append(s, &iov, 1, &first), 0);
    assert_int_equal(first, want);
}

static void s_expect(sl_segment_t *s, uint64_t offset, const char *text)
{
    char buf[256];
    size_t len = 0;
    assert_int_equal(sl_segment_read(s, offset, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(buf, text, len);
}

static void path_format(void **state)
{
    (void)state;
    char *p = sl_segment_path("/d", 16, ".store");
    assert_string_equal(p, "/d/00000000000000000016.store");
    free(p);
    p = sl_segment_path("/d", UINT64_MAX, ".index");
    assert_string_equal(p, "/d/18446744073709551615.index");
    free(p);
}

/* Base 16, room for exactly 3 index entries. */
static void base16_three_entries(void **state)
{
    fx_t *fx = *state;
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 16, 42, &fx->cfg, &s), 0);
    char *sp = tu_path(fx->dir, "00000000000000000016.store");
    char *ip = tu_path(fx->dir, "00000000000000000016.index");
    assert_true(tu_exists(sp));
    assert_true(tu_exists(ip));
    assert_int_equal(s->base, 16);
    assert_int_equal(sl_segment_next(s), 16);
    assert_int_equal(sl_segment_epoch(s), 42);

    struct iovec one = {"rec", 3};
    assert_true(sl_segment_fits(s, &one, 1));
    s_append(s, "alpha", 16);
    s_append(s, "beta", 17);
    s_append(s, "gamma", 18);
    assert_int_equal(sl_segment_next(s), 19);
    /* The store has room; the index does not. */
    assert_false(sl_segment_fits(s, &one, 1));
    struct iovec none = {"", 0};
    assert_false(sl_segment_fits(s, &none, 1));
    assert_int_equal(sl_segment_close(&s, 1), 0);
    assert_null(s);
    assert_int_equal(tu_file_size(ip), 24);

    /* Reopen after a clean close and after a crash: same range. */
    for (int clean = 1; clean >= 0; clean--) {
        memset(&fx->rec, 0, sizeof fx->rec);
        assert_int_equal(sl_segment_open(fx->dir, 16, &fx->cfg, 1, clean, 7, &fx->rec, &s), 0);
        assert_int_equal(s->base, 16);
        assert_int_equal(sl_segment_next(s), 19);
        assert_int_equal(sl_segment_epoch(s), 42);
        assert_false(sl_segment_fits(s, &one, 1));
        s_expect(s, 16, "alpha");
        s_expect(s, 17, "beta");
        s_expect(s, 18, "gamma");
        assert_int_equal(fx->rec.bytes_truncated, 0);
        assert_int_equal(fx->rec.indexes_rebuilt, 0);
        assert_int_equal(sl_segment_close(&s, 1), 0);
    }
    free(sp);
    free(ip);
}

static void fits_store_bytes(void **state)
{
    fx_t *fx = *state;
    fx->cfg.index_capacity = 100;
    fx->cfg.max_store_bytes = SL_STORE_HEADER_LEN + 2 * (SL_FRAME_HEADER_LEN + 10);
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 0, 1, &fx->cfg, &s), 0);
    char ten[10] = "0123456789";
    struct iovec r10 = {ten, 10};
    struct iovec two[2] = {{ten, 10}, {ten, 10}}, three[3] = {{ten, 10}, {ten, 10}, {ten, 1}};
    assert_true(sl_segment_fits(s, two, 2));
    assert_false(sl_segment_fits(s, three, 3));
    assert_int_equal(sl_segment_append(s, &r10, 1, NULL), 0);
    assert_true(sl_segment_fits(s, &r10, 1));
    assert_false(sl_segment_fits(s, two, 2));
    assert_int_equal(sl_segment_append(s, &r10, 1, NULL), 0);
    struct iovec empty = {ten, 0};
    /* Exactly full: even an empty record (8 bytes of frame) does not fit. */
    assert_false(sl_segment_fits(s, &empty, 1));
    assert_int_equal(sl_segment_close(&s, 0), 0);
}

static void locate_and_read(void **state)
{
    fx_t *fx = *state;
    fx->cfg.index_capacity = 100;
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 1000, 1, &fx->cfg, &s), 0);
    struct iovec b[3] = {{"one", 3}, {"three", 5}, {"", 0}};
    uint64_t first = 0;
    assert_int_equal(sl_segment_append(s, b, 3, &first), 0);
    assert_int_equal(first, 1000);
    uint64_t pos, flen;
    assert_int_equal(sl_segment_locate(s, 1000, &pos, &flen), 0);
    assert_int_equal(pos, SL_STORE_HEADER_LEN);
    assert_int_equal(flen, 8 + 3);
    assert_int_equal(sl_segment_locate(s, 1001, &pos, &flen), 0);
    assert_int_equal(pos, SL_STORE_HEADER_LEN + 11);
    assert_int_equal(flen, 8 + 5);
    /* The last one's length is not known from the index. */
    assert_int_equal(sl_segment_locate(s, 1002, &pos, &flen), 0);
    assert_int_equal(flen, 0);
    assert_int_equal(sl_segment_locate(s, 1003, &pos, &flen), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(sl_segment_locate(s, 999, &pos, &flen), SEGLOG_E_OFFSET_TRUNCATED);
    s_expect(s, 1000, "one");
    s_expect(s, 1001, "three");
    s_expect(s, 1002, "");
    char buf[2];
    size_t len = 0;
    assert_int_equal(sl_segment_read(s, 1001, buf, sizeof buf, &len), SEGLOG_E_BUFFER_TOO_SMALL);
    assert_int_equal(len, 5);
    assert_int_equal(sl_segment_read(s, 1003, buf, sizeof buf, &len), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(sl_segment_close(&s, 0), 0);
}

static void rollback_cuts_records(void **state)
{
    fx_t *fx = *state;
    fx->cfg.index_capacity = 100;
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 10, 1, &fx->cfg, &s), 0);
    const char *t[5] = {"r10", "r11", "r12", "r13", "r14"};
    for (int i = 0; i < 5; i++)
        s_append(s, t[i], 10 + (uint64_t)i);
    assert_int_equal(sl_segment_sync_data(s, 0), 0);
    uint64_t pos13, flen;
    assert_int_equal(sl_segment_locate(s, 13, &pos13, &flen), 0);
    assert_int_equal(sl_segment_rollback(s, 13), 0);
    assert_int_equal(sl_segment_next(s), 13);
    assert_int_equal(sl_store_size(s->store), pos13);
    s_expect(s, 12, "r12");
    char buf[8];
    size_t len;
    assert_int_equal(sl_segment_read(s, 13, buf, sizeof buf, &len), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    /* Outside [base, next): nothing to do. */
    assert_int_equal(sl_segment_rollback(s, 20), 0);
    assert_int_equal(sl_segment_next(s), 13);
    s_append(s, "new13", 13);
    s_expect(s, 13, "new13");
    assert_int_equal(sl_segment_close(&s, 1), 0);

    memset(&fx->rec, 0, sizeof fx->rec);
    assert_int_equal(sl_segment_open(fx->dir, 10, &fx->cfg, 1, 0, 1, &fx->rec, &s), 0);
    assert_int_equal(sl_segment_next(s), 14);
    s_expect(s, 12, "r12");
    s_expect(s, 13, "new13");
    assert_int_equal(sl_segment_close(&s, 0), 0);
}

static void seal_cuts_index(void **state)
{
    fx_t *fx = *state;
    fx->cfg.index_capacity = 100;
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 0, 1, &fx->cfg, &s), 0);
    char *ip = tu_seg_path(fx->dir, 0, ".index");
    assert_int_equal(tu_file_size(ip), 100 * 8);
    s_append(s, "a", 0);
    s_append(s, "b", 1);
    assert_int_equal(sl_segment_sync_data(s, 1), 0);
    assert_int_equal(sl_segment_seal(s), 0);
    assert_int_equal(tu_file_size(ip), 2 * 8);
    s_expect(s, 0, "a");
    s_expect(s, 1, "b");
    assert_int_equal(sl_segment_close(&s, 0), 0);

    /* A sealed segment opened clean keeps its exact index size. */
    assert_int_equal(sl_segment_open(fx->dir, 0, &fx->cfg, 0, 1, 1, &fx->rec, &s), 0);
    assert_int_equal(sl_segment_next(s), 2);
    assert_int_equal(tu_file_size(ip), 2 * 8);
    s_expect(s, 1, "b");
    assert_int_equal(sl_segment_close(&s, 0), 0);
    free(ip);
}

static void remove_deletes_files(void **state)
{
    fx_t *fx = *state;
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 5, 1, &fx->cfg, &s), 0);
    s_append(s, "x", 5);
    char *sp = tu_seg_path(fx->dir, 5, ".store"), *ip = tu_seg_path(fx->dir, 5, ".index");
    assert_true(tu_exists(sp) && tu_exists(ip));
    assert_int_equal(sl_segment_remove(&s), 0);
    assert_null(s);
    assert_false(tu_exists(sp));
    assert_false(tu_exists(ip));
    free(sp);
    free(ip);
}

/* Opening a base that does not match the file's header is refused. */
static void open_checks_base(void **state)
{
    fx_t *fx = *state;
    sl_segment_t *s = NULL;
    assert_int_equal(sl_segment_create(fx->dir, 5, 1, &fx->cfg, &s), 0);
    s_append(s, "x", 5);
    assert_int_equal(sl_segment_close(&s, 1), 0);
    char *from = tu_seg_path(fx->dir, 5, ".store"), *to = tu_seg_path(fx->dir, 6, ".store");
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(sl_segment_open(fx->dir, 6, &fx->cfg, 1, 1, 1, &fx->rec, &s), SEGLOG_E_FORMAT);
    assert_null(s);
    free(from);
    free(to);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_format), T(base16_three_entries),
        T(fits_store_bytes),           T(locate_and_read),
        T(rollback_cuts_records),      T(seal_cuts_index),
        T(remove_deletes_files),       T(open_checks_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
