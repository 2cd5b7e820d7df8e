/* test_frames.c - seglog_log_read_frames / seglog_log_append_frames, the
 * replication copy: a log copied through them in chunks of every size has
 * the same store files byte for byte (same frames, END flags and rolls);
 * a chunk never splits a batch; bad input (bad CRC, cut frame, no END,
 * record or batch too large) appends nothing; a write fault leaves whole
 * batches only; SYNC_ALWAYS returns committed. */
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

#include "crc32c.h"
#include "format.h"
#include "testutil.h"

#define NEVER_MS 3600000u
#define LOG_ID   0x5eed1234abcdULL

typedef struct {
    char *tmp, *src_dir, *dst_dir;
    seglog_config_t cfg;
    seglog_log_t *src, *dst;
    uint8_t *buf;
    size_t cap;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("frames");
    fx->src_dir = tu_path(fx->tmp, "src");
    fx->dst_dir = tu_path(fx->tmp, "dst");
    tu_config(&fx->cfg, 2048, 1 << 12); /* a dozen records per segment */
    fx->cfg.sync_interval_ms = NEVER_MS;
    fx->cfg.log_id = LOG_ID; /* the same store headers on both sides */
    assert_int_equal(seglog_log_open(fx->src_dir, &fx->cfg, &fx->src), 0);
    assert_int_equal(seglog_log_open(fx->dst_dir, &fx->cfg, &fx->dst), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    seglog_log_destroy(&fx->src);
    seglog_log_destroy(&fx->dst);
    free(fx->buf);
    free(fx->src_dir);
    free(fx->dst_dir);
    tu_rmrf(&fx->tmp);
    free(fx);
    return 0;
}

static size_t s_rec(uint64_t i, uint8_t *buf)
{
    size_t len = (size_t)((i * 37u) % 150u); /* empty records too */
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 131u + j * 7u);
    return len;
}

static uint64_t s_next(seglog_log_t *log);

/* Singles and batches of 2..7, n more records in all. */
static void s_fill(seglog_log_t *log, uint64_t n)
{
    static uint8_t data[8][160];
    struct iovec iov[8];
    n += s_next(log);
    for (uint64_t i = s_next(log); i < n;) {
        size_t k = 1 + (size_t)(i % 7u);
        if (k > n - i)
            k = (size_t)(n - i);
        for (size_t j = 0; j < k; j++)
            iov[j] = (struct iovec){data[j], s_rec(i + j, data[j])};
        uint64_t first = UINT64_MAX;
        assert_int_equal(seglog_log_append_batch(log, iov, k, &first), 0);
        assert_int_equal(first, i);
        i += k;
    }
}

static uint64_t s_next(seglog_log_t *log)
{
    uint64_t v = UINT64_MAX;
    assert_int_equal(seglog_log_next_offset(log, &v), 0);
    return v;
}

/* The last frame of [p, p+len) carries END. */
static int s_ends_whole(const uint8_t *p, size_t len)
{
    size_t at = 0;
    int end = 0;
    while (at < len) {
        uint32_t lf = sl_get32(p + at);
        end = (lf & SL_FRAME_END) != 0;
        at += SL_FRAME_HEADER_LEN + (lf & SL_FRAME_LEN_MASK);
    }
    return at == len && end;
}

/* Copy src to dst with read_frames chunks of max_bytes. */
static void s_copy(fx_t *fx, size_t max_bytes)
{
    uint64_t end = s_next(fx->src), at = s_next(fx->dst);
    while (at < end) {
        size_t len = 0, count = 0;
        assert_int_equal(
            seglog_log_read_frames(fx->src, at, max_bytes, &fx->buf, &fx->cap, &len, &count), 0);
        assert_true(count > 0);
        assert_true(s_ends_whole(fx->buf, len));
        uint64_t first = UINT64_MAX;
        size_t got = 0;
        assert_int_equal(seglog_log_append_frames(fx->dst, fx->buf, len, &first, &got), 0);
        assert_int_equal(first, at);
        assert_int_equal(got, count);
        at += count;
    }
    assert_int_equal(s_next(fx->dst), end);
}

static void s_same_files(fx_t *fx)
{
    seglog_log_close(fx->src);
    seglog_log_close(fx->dst);
    int segs = 0;
    for (uint64_t base = 0;; segs++) {
        char *a = tu_seg_path(fx->src_dir, base, ".store");
        char *b = tu_seg_path(fx->dst_dir, base, ".store");
        long na = tu_file_size(a), nb = tu_file_size(b);
        assert_int_equal(na, nb);
        if (na < 0) {
            free(a);
            free(b);
            break;
        }
        uint8_t *x = malloc((size_t)na + 1), *y = malloc((size_t)nb + 1);
        assert_int_equal(tu_read_at(a, 0, x, (size_t)na), 0);
        assert_int_equal(tu_read_at(b, 0, y, (size_t)nb), 0);
        assert_memory_equal(x, y, (size_t)na);
        free(x);
        free(y);
        free(a);
        free(b);
        /* the next segment starts where this one's records end */
        seglog_log_t *l = NULL;
        assert_int_equal(seglog_log_open(fx->src_dir, &fx->cfg, &l), 0);
        seglog_segment_info_t si;
        uint64_t next = UINT64_MAX;
        for (size_t i = 0; seglog_log_segment_info(l, i, &si) == 0; i++)
            if (si.base == base)
                next = si.next;
        seglog_log_destroy(&l);
        if (next == UINT64_MAX || next == base)
            break;
        base = next;
    }
    assert_true(segs >= 5); /* the copy rolled where the source did */
}

static void copy_in_every_chunk_size(void **state)
{
    fx_t *fx = *state;
    s_fill(fx->src, 300);
    s_copy(fx, 0); /* one batch per call */
    s_fill(fx->src, 100);
    s_copy(fx, 333);
    s_fill(fx->src, 100);
    s_copy(fx, 1 << 20);
    s_same_files(fx);
}

static void read_frames_bounds(void **state)
{
    fx_t *fx = *state;
    size_t len = 1, count = 1;
    assert_int_equal(seglog_log_read_frames(fx->src, 0, 100, &fx->buf, &fx->cap, &len, &count),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    assert_int_equal(len, 0);
    assert_int_equal(count, 0);
    s_fill(fx->src, 60);
    assert_int_equal(seglog_log_read_frames(fx->src, 60, 100, &fx->buf, &fx->cap, &len, &count),
                     SEGLOG_E_OFFSET_OUT_OF_RANGE);
    /* Within one segment: a chunk ends at the segment's last record. */
    seglog_segment_info_t si;
    assert_int_equal(seglog_log_segment_info(fx->src, 0, &si), 0);
    assert_int_equal(seglog_log_read_frames(fx->src, 0, 1 << 20, &fx->buf, &fx->cap, &len, &count),
                     0);
    assert_int_equal(count, si.next - si.base);
    assert_int_equal(len, si.bytes - SL_STORE_HEADER_LEN);
    /* Starting inside a batch (a follower that cut there) works too. */
    assert_int_equal(seglog_log_read_frames(fx->src, 2, 0, &fx->buf, &fx->cap, &len, &count), 0);
    assert_true(count >= 1 && s_ends_whole(fx->buf, len));
    uint64_t low = 0;
    assert_int_equal(seglog_log_truncate(fx->src, 40, &low), 0);
    assert_true(low > 0);
    assert_int_equal(seglog_log_read_frames(fx->src, 0, 100, &fx->buf, &fx->cap, &len, &count),
                     SEGLOG_E_OFFSET_TRUNCATED);
    assert_int_equal(seglog_log_read_frames(NULL, 0, 100, &fx->buf, &fx->cap, &len, &count),
                     SEGLOG_E_INVAL);
}

/* Build one frame of len bytes of x at p; returns its size. */
static size_t s_frame(uint8_t *p, size_t len, uint8_t x, int end)
{
    uint32_t lf = (uint32_t)len | (end ? SL_FRAME_END : 0);
    sl_put32(p, lf);
    memset(p + SL_FRAME_HEADER_LEN, x, len);
    uint32_t crc = sl_crc32c(0, p, 4);
    crc = sl_crc32c(crc, p + SL_FRAME_HEADER_LEN, len);
    sl_put32(p + 4, crc);
    return SL_FRAME_HEADER_LEN + len;
}

static void s_refused(fx_t *fx, const uint8_t *p, size_t len, int want)
{
    uint64_t before = s_next(fx->dst), first = 7;
    size_t got = 9;
    assert_int_equal(seglog_log_append_frames(fx->dst, p, len, &first, &got), want);
    assert_int_equal(got, 0);
    assert_int_equal(s_next(fx->dst), before);
}

static void bad_frames_append_nothing(void **state)
{
    fx_t *fx = *state;
    uint8_t p[8192];
    size_t n = s_frame(p, 10, 'a', 1);
    n += s_frame(p + n, 20, 'b', 0);
    n += s_frame(p + n, 30, 'c', 1);
    uint64_t first = 0;
    size_t got = 0;
    assert_int_equal(seglog_log_append_frames(fx->dst, p, n, &first, &got), 0);
    assert_int_equal(got, 3);
    /* a flipped payload byte */
    p[SL_FRAME_HEADER_LEN + 3] ^= 1;
    s_refused(fx, p, n, SEGLOG_E_CORRUPT);
    p[SL_FRAME_HEADER_LEN + 3] ^= 1;
    /* a cut frame, and a last frame without END */
    s_refused(fx, p, n - 1, SEGLOG_E_CORRUPT);
    s_refused(fx, p, 18 + 28, SEGLOG_E_CORRUPT);
    /* a record over max_record_bytes (1 KiB here) */
    size_t big = s_frame(p, fx->cfg.max_record_bytes + 1, 'd', 1);
    s_refused(fx, p, big, SEGLOG_E_RECORD_TOO_LARGE);
    /* a batch that no segment can hold (2 KiB stores) */
    size_t m = 0;
    for (int i = 0; i < 6; i++)
        m += s_frame(p + m, 500, 'e', i == 5);
    s_refused(fx, p, m, SEGLOG_E_BATCH_TOO_LARGE);
    assert_int_equal(seglog_log_append_frames(fx->dst, NULL, 0, &first, &got), SEGLOG_E_INVAL);
    /* what went in reads back */
    uint8_t r[64];
    size_t rl = 0;
    assert_int_equal(seglog_log_read(fx->dst, 2, r, sizeof r, &rl), 0);
    assert_int_equal(rl, 30);
    assert_int_equal(r[0], 'c');
}

static void write_fault_keeps_whole_batches(void **state)
{
    fx_t *fx = *state;
    s_fill(fx->src, 200);
    seglog_log_destroy(&fx->dst);
    tu_faults_t f = {0};
    seglog_vfs_t vfs = tu_fault_vfs(&f);
    seglog_config_t c = fx->cfg;
    c.vfs = &vfs;
    c.write_buffer_bytes = 4096;
    char *dir = tu_path(fx->tmp, "faulty");
    assert_int_equal(seglog_log_open(dir, &c, &fx->dst), 0);
    /* All of src in one buffer: several segments' worth, so the append
     * rolls (and flushes) on the way. */
    uint8_t *all = NULL;
    size_t len = 0, count = 0;
    for (uint64_t at = 0; at < 200;) {
        size_t l = 0, k = 0;
        assert_int_equal(seglog_log_read_frames(fx->src, at, 1 << 20, &fx->buf, &fx->cap, &l, &k),
                         0);
        all = realloc(all, len + l);
        memcpy(all + len, fx->buf, l);
        len += l;
        count += k;
        at += k;
    }
    assert_int_equal(count, 200);
    f.fail_write_errno = ENOSPC;
    f.fail_write_after = -1;
    uint64_t first = 0;
    size_t got = 99;
    int rc = seglog_log_append_frames(fx->dst, all, len, &first, &got);
    assert_int_not_equal(rc, 0);
    assert_true(got < count);
    assert_int_equal(s_next(fx->dst), got); /* whole batches, before the failed roll */
    f.fail_write_errno = 0;
    free(all);
    uint64_t next;
    seglog_log_destroy(&fx->dst);
    c.vfs = NULL;
    assert_int_equal(seglog_log_open(dir, &c, &fx->dst), 0);
    next = s_next(fx->dst);
    assert_true(next <= got);
    uint8_t want[160], have[160];
    for (uint64_t i = 0; i < next; i++) {
        size_t hl = 0;
        assert_int_equal(seglog_log_read(fx->dst, i, have, sizeof have, &hl), 0);
        size_t wl = s_rec(i, want);
        assert_int_equal(hl, wl);
        assert_memory_equal(have, want, wl);
    }
    free(dir);
}

static void sync_always_returns_committed(void **state)
{
    fx_t *fx = *state;
    s_fill(fx->src, 50);
    seglog_log_destroy(&fx->dst);
    seglog_config_t c = fx->cfg;
    c.sync = SEGLOG_SYNC_ALWAYS;
    assert_int_equal(seglog_log_open(fx->dst_dir, &c, &fx->dst), 0);
    size_t len = 0, count = 0;
    assert_int_equal(seglog_log_read_frames(fx->src, 0, 600, &fx->buf, &fx->cap, &len, &count), 0);
    uint64_t first = 1, committed = 0;
    size_t got = 0;
    assert_int_equal(seglog_log_append_frames(fx->dst, fx->buf, len, &first, &got), 0);
    assert_int_equal(first, 0);
    assert_int_equal(seglog_log_committed_offset(fx->dst, &committed), 0);
    assert_true(committed >= got);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(copy_in_every_chunk_size),      T(read_frames_bounds),
        T(bad_frames_append_nothing),     T(write_fault_keeps_whole_batches),
        T(sync_always_returns_committed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
