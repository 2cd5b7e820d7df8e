/* test_log_ident.c - what replication needs to make a copy of a log whose
 * files are the same bytes: a given lifetime id (cfg.log_id) for a new or
 * reset log, and the batch boundaries seen by the iterator
 * (seglog_iter_next_ex). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "testutil.h"

#define NEVER_MS 3600000u
#define ID_A     0x0123456789abcdefull
#define ID_B     0xfedcba9876543210ull

typedef struct {
    char *tmp;
    char *dir;  /* <tmp>/a */
    char *dir2; /* <tmp>/b */
    seglog_config_t cfg;
    seglog_log_t *log;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("ident");
    fx->dir = tu_path(fx->tmp, "a");
    fx->dir2 = tu_path(fx->tmp, "b");
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
    free(fx->dir2);
    tu_rmrf(&fx->tmp);
    free(fx);
    return 0;
}

static uint64_t s_epoch(seglog_log_t *log)
{
    uint64_t e = 0;
    assert_int_equal(seglog_log_epoch(log, &e), 0);
    return e;
}

/* Append a batch of n records whose bytes derive from tag. */
static uint64_t s_batch(seglog_log_t *log, size_t n, unsigned tag)
{
    uint8_t buf[8][40];
    struct iovec iov[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        size_t len = 5 + (tag * 7 + i * 3) % 30;
        memset(buf[i], (int)(tag + i), len);
        iov[i] = (struct iovec){buf[i], len};
    }
    uint64_t first = 0;
    assert_int_equal(seglog_log_append_batch(log, iov, n, &first), 0);
    return first;
}

/* cfg.log_id is the epoch of a new log and of a reset one; an existing log
 * keeps its own. 0 still means a random id. */
static void log_id_of_new_and_reset_logs(void **state)
{
    fx_t *fx = *state;
    fx->cfg.log_id = ID_A;
    fx->cfg.max_index_bytes = 4 * 8; /* rolls copy the id */
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_true(s_epoch(fx->log) == ID_A);
    for (unsigned i = 0; i < 6; i++)
        s_batch(fx->log, 2, i);
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    fx->cfg.log_id = ID_B; /* not applied to an existing log */
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_true(s_epoch(fx->log) == ID_A);
    assert_int_equal(seglog_log_reset(fx->log), 0); /* a reset takes the configured id */
    assert_true(s_epoch(fx->log) == ID_B);
    seglog_log_destroy(&fx->log);
    fx->cfg.log_id = 0;
    assert_int_equal(seglog_log_open(fx->dir2, &fx->cfg, &fx->log), 0);
    uint64_t e = s_epoch(fx->log);
    assert_true(e != 0 && e != ID_A && e != ID_B);
}

/* reset_to: empty at a given offset with a given id; an iterator does not
 * serve the old records its buffer still holds. */
static void reset_to_offset_and_id(void **state)
{
    fx_t *fx = *state;
    fx->cfg.log_id = ID_A;
    fx->cfg.max_index_bytes = 4 * 8;
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    for (unsigned i = 0; i < 5; i++)
        s_batch(fx->log, 2, i);
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 8, 0, 0), 0);
    uint64_t off = 0;
    assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), 1); /* buffers 8 and 9 */
    assert_int_equal(seglog_log_reset_to(fx->log, 1000, ID_B), 0);
    assert_int_not_equal(seglog_iter_next(it, &off, NULL, NULL), 1);
    seglog_iter_destroy(&it);
    uint64_t lowest = 0, next = 0;
    assert_int_equal(seglog_log_lowest_offset(fx->log, &lowest), 0);
    assert_int_equal(seglog_log_next_offset(fx->log, &next), 0);
    assert_int_equal(lowest, 1000);
    assert_int_equal(next, 1000);
    assert_true(s_epoch(fx->log) == ID_B);
    assert_int_equal(s_batch(fx->log, 3, 9), 1000);
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    assert_true(s_epoch(fx->log) == ID_B);
    assert_int_equal(seglog_log_lowest_offset(fx->log, &lowest), 0);
    assert_int_equal(seglog_log_next_offset(fx->log, &next), 0);
    assert_int_equal(lowest, 1000);
    assert_int_equal(next, 1003);
    assert_int_equal(seglog_log_reset_to(fx->log, 5, 0), 0); /* 0: the configured id */
    assert_true(s_epoch(fx->log) == ID_A);
}

/* The END flag of every record, as the iterator reports it. */
static void s_flags(seglog_log_t *log, uint64_t from, size_t max_bytes, int *flags, size_t *n)
{
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, from, 0, max_bytes), 0);
    uint64_t off;
    int end = -1, rc;
    *n = 0;
    while ((rc = seglog_iter_next_ex(it, &off, NULL, NULL, &end)) == 1) {
        assert_int_equal(off, from + *n);
        flags[(*n)++] = end;
        end = -1;
    }
    assert_int_equal(rc, 0);
    seglog_iter_destroy(&it);
}

static void iter_reports_batch_ends(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8; /* the batch of 3 at offset 3 rolls */
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    uint8_t one = 1;
    assert_int_equal(seglog_log_append(fx->log, &one, 1, NULL), 0); /* 0 */
    s_batch(fx->log, 2, 1);                                           /* 1-2 */
    s_batch(fx->log, 3, 2);                                           /* 3-5 */
    s_batch(fx->log, 4, 3);                                           /* 6-9 */
    const int want[] = {1, 0, 1, 0, 0, 1, 0, 0, 0, 1};
    int got[16];
    size_t n;
    s_flags(fx->log, 0, 0, got, &n);
    assert_int_equal(n, 10);
    assert_memory_equal(got, want, sizeof want);
    /* From the middle of a batch, and the old call still works. */
    s_flags(fx->log, 4, 0, got, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(got, want + 4, sizeof want - 4 * sizeof want[0]);
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(fx->log, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 1, 2, 0), 0);
    uint64_t off;
    assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), 1);
    assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), 1);
    assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), 0);
    seglog_iter_destroy(&it);
    /* After a clean reopen (the flags are in the store, not in memory). */
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    s_flags(fx->log, 0, 0, got, &n);
    assert_int_equal(n, 10);
    assert_memory_equal(got, want, sizeof want);
    /* A cut inside a batch ends that batch at its new last record. */
    assert_int_equal(seglog_log_truncate_after(fx->log, 8), 0);
    s_flags(fx->log, 6, 0, got, &n);
    assert_int_equal(n, 2);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], 1);
}

/* Copy src into a new log dst batch by batch, as a follower does. */
static void s_copy(seglog_log_t *src, seglog_log_t *dst)
{
    seglog_iter_t *it = NULL;
    assert_int_equal(seglog_iter_new(src, &it), 0);
    assert_int_equal(seglog_iter_seek(it, 0, 0, 0), 0);
    struct iovec iov[16];
    uint8_t copy[16][64];
    size_t k = 0;
    uint64_t off;
    const void *data;
    size_t len;
    int end, rc;
    while ((rc = seglog_iter_next_ex(it, &off, &data, &len, &end)) == 1) {
        assert_true(k < 16 && len <= sizeof copy[0]);
        memcpy(copy[k], data, len);
        iov[k] = (struct iovec){copy[k], len};
        k++;
        if (end) {
            assert_int_equal(seglog_log_append_batch(dst, iov, k, NULL), 0);
            k = 0;
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(k, 0);
    seglog_iter_destroy(&it);
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int s_names(const char *dir, char names[][64], int cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        assert_true(n < cap && strlen(de->d_name) < 64);
        memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
    }
    closedir(d);
    qsort(names, (size_t)n, 64, s_cmp);
    return n;
}

static void s_same_file(const char *a, const char *b)
{
    long na = tu_file_size(a), nb = tu_file_size(b);
    assert_true(na >= 0);
    assert_int_equal(na, nb);
    char *ba = malloc((size_t)na + 1), *bb = malloc((size_t)nb + 1);
    assert_int_equal(tu_read_at(a, 0, ba, (size_t)na), 0);
    assert_int_equal(tu_read_at(b, 0, bb, (size_t)nb), 0);
    assert_memory_equal(ba, bb, (size_t)na);
    free(ba);
    free(bb);
}

/* Same id, same config, same batches: the files are the same bytes,
 * including where the segments rolled. */
static void batch_copy_is_byte_identical(void **state)
{
    fx_t *fx = *state;
    fx->cfg.log_id = ID_A;
    fx->cfg.max_record_bytes = 64;
    fx->cfg.max_store_bytes = 32 + 200; /* rolls by bytes */
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    for (unsigned i = 0; i < 20; i++)
        s_batch(fx->log, 1 + i % 4, i);
    seglog_log_t *copy = NULL;
    assert_int_equal(seglog_log_open(fx->dir2, &fx->cfg, &copy), 0);
    s_copy(fx->log, copy);
    assert_int_equal(seglog_log_close(copy), 0);
    seglog_log_destroy(&copy);
    assert_int_equal(seglog_log_close(fx->log), 0);
    char na[64][64], nb[64][64];
    int n = s_names(fx->dir, na, 64);
    assert_int_equal(s_names(fx->dir2, nb, 64), n);
    assert_true(n > 6); /* several segments and the clean marker */
    for (int i = 0; i < n; i++) {
        assert_string_equal(na[i], nb[i]);
        char *a = tu_path(fx->dir, na[i]), *b = tu_path(fx->dir2, nb[i]);
        s_same_file(a, b);
        free(a);
        free(b);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(log_id_of_new_and_reset_logs),
        T(reset_to_offset_and_id),
        T(iter_reports_batch_ends),
        T(batch_copy_is_byte_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
