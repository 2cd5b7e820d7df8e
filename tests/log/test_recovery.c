/* test_recovery.c - crash cases. Each test writes a log, stops it (a clean
 * close, a close followed by removing the clean marker, or a real process
 * crash in a forked child), damages the files the way a crash or a disk
 * would, reopens, and checks what recovery reports, that every intact
 * record reads back byte for byte, and that the next append continues
 * right after the last intact record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "format.h"
#include "testutil.h"

#define NEVER_MS 3600000u

typedef struct {
    char *tmp;
    char *dir;
    seglog_config_t cfg;
    seglog_log_t *log;
    seglog_recovery_t rec;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->tmp = tu_tempdir("recovery");
    fx->dir = tu_path(fx->tmp, "log");
    tu_config(&fx->cfg, 1 << 20, 1 << 12);
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

/* Record i: 1..max bytes derived from i. */
static size_t s_rec(uint64_t i, uint8_t *buf)
{
    size_t len = 1 + (size_t)((i * 53u) % 200u);
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 131u + j * 7u + 3u);
    return len;
}

static void s_open(fx_t *fx)
{
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), 0);
    seglog_log_recovery(fx->log, &fx->rec);
}

static void s_close(fx_t *fx)
{
    assert_int_equal(seglog_log_close(fx->log), 0);
    seglog_log_destroy(&fx->log);
}

static void s_append_range(seglog_log_t *log, uint64_t from, uint64_t to)
{
    uint8_t buf[256];
    for (uint64_t i = from; i < to; i++) {
        uint64_t off;
        assert_int_equal(seglog_log_append(log, buf, s_rec(i, buf), &off), 0);
        assert_int_equal(off, i);
    }
}

/* Write records [0, n) and close cleanly. */
static void s_write(fx_t *fx, uint64_t n)
{
    s_open(fx);
    s_append_range(fx->log, 0, n);
    s_close(fx);
}

static void s_check(seglog_log_t *log, uint64_t i)
{
    uint8_t want[256], got[256];
    size_t wlen = s_rec(i, want), glen = 0;
    int rc = seglog_log_read(log, i, got, sizeof got, &glen);
    if (rc)
        fail_msg("offset %llu: %s", (unsigned long long)i, seglog_strerror(rc));
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
}

/* Records [lowest, n) read back, the log ends at n, the next append gets
 * n and reads back, also after another reopen. */
static void s_verify(fx_t *fx, uint64_t lowest, uint64_t n)
{
    uint64_t v;
    assert_int_equal(seglog_log_lowest_offset(fx->log, &v), 0);
    assert_int_equal(v, lowest);
    assert_int_equal(seglog_log_next_offset(fx->log, &v), 0);
    assert_int_equal(v, n);
    for (uint64_t i = lowest; i < n; i++)
        s_check(fx->log, i);
    char b[8];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, n, b, sizeof b, &len), SEGLOG_E_OFFSET_OUT_OF_RANGE);
    s_append_range(fx->log, n, n + 1);
    s_check(fx->log, n);
    s_close(fx);
    s_open(fx);
    assert_int_equal(fx->rec.clean, 1);
    for (uint64_t i = lowest; i <= n; i++)
        s_check(fx->log, i);
    s_close(fx);
}

static char *s_store(fx_t *fx, uint64_t base)
{
    return tu_seg_path(fx->dir, base, ".store");
}

static char *s_index(fx_t *fx, uint64_t base)
{
    return tu_seg_path(fx->dir, base, ".index");
}

/* Store position of record k of the segment at base (from its index,
 * which is exact after a clean close). */
static long s_pos(fx_t *fx, uint64_t base, uint64_t k)
{
    char *ip = s_index(fx, base);
    uint8_t e[8];
    assert_int_equal(tu_read_at(ip, (long)k * 8, e, 8), 0);
    free(ip);
    assert_int_equal(sl_get32(e), k);
    return (long)sl_get32(e + 4);
}

/* ---- torn and garbage tails ------------------------------------------------ */

/* The last record is cut in its header, then in its payload; with and
 * without the clean marker (a marker whose lengths disagree is not
 * trusted). */
static void tail_cut_mid_record(void **state)
{
    fx_t *fx = *state;
    for (int variant = 0; variant < 4; variant++) {
        tu_rmrf(&fx->tmp);
        fx->tmp = tu_tempdir("recovery");
        free(fx->dir);
        fx->dir = tu_path(fx->tmp, "log");
        s_write(fx, 10);
        char *sp = s_store(fx, 0);
        long p9 = s_pos(fx, 0, 9);
        long cut = variant % 2 ? p9 + 8 + 1 : p9 + 5;
        if (variant >= 2)
            assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        assert_int_equal(tu_truncate(sp, cut), 0);
        s_open(fx);
        assert_int_equal(fx->rec.clean, variant < 2);
        assert_int_equal(fx->rec.segments, 1);
        assert_int_equal(fx->rec.bytes_truncated, (uint64_t)(cut - p9));
        assert_int_equal(fx->rec.indexes_rebuilt, 0);
        assert_int_equal(fx->rec.indexes_repaired, 1);
        assert_int_equal(tu_file_size(sp), p9);
        s_verify(fx, 0, 9);
        free(sp);
    }
}

static void garbage_tail(void **state)
{
    fx_t *fx = *state;
    s_write(fx, 10);
    char *sp = s_store(fx, 0);
    long size = tu_file_size(sp);
    uint8_t junk[100];
    memset(junk, 0xab, sizeof junk);
    assert_int_equal(tu_append_bytes(sp, junk, sizeof junk), 0);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    s_open(fx);
    assert_int_equal(fx->rec.clean, 0);
    assert_int_equal(fx->rec.bytes_truncated, 100);
    assert_int_equal(fx->rec.indexes_repaired, 0);
    assert_int_equal(tu_file_size(sp), size);
    s_verify(fx, 0, 10);

    /* Garbage that parses as a frame header with a plausible length: its
     * CRC fails. The clean marker is there, but the length disagrees. */
    size = tu_file_size(sp);
    uint8_t fake[8 + 40];
    memset(fake, 0x11, sizeof fake);
    sl_put32(fake, SL_FRAME_END | 40);
    sl_put32(fake + 4, 0xdeadbeef);
    assert_int_equal(tu_append_bytes(sp, fake, sizeof fake), 0);
    s_open(fx);
    assert_int_equal(fx->rec.clean, 1);
    assert_int_equal(fx->rec.bytes_truncated, sizeof fake);
    assert_int_equal(tu_file_size(sp), size);
    s_verify(fx, 0, 11);
    free(sp);
}

/* A batch is all or nothing: cut in its last frame, or with its END frame
 * failing its CRC, the whole batch goes and the records before stay. */
static void torn_batch_at_tail(void **state)
{
    fx_t *fx = *state;
    for (int variant = 0; variant < 3; variant++) {
        tu_rmrf(&fx->tmp);
        fx->tmp = tu_tempdir("recovery");
        free(fx->dir);
        fx->dir = tu_path(fx->tmp, "log");
        s_open(fx);
        /* variant 2: the batch is the whole segment. */
        uint64_t singles = variant == 2 ? 0 : 5;
        s_append_range(fx->log, 0, singles);
        uint8_t b[4][256];
        struct iovec iov[4];
        for (int k = 0; k < 4; k++) {
            iov[k].iov_base = b[k];
            iov[k].iov_len = s_rec(singles + (uint64_t)k, b[k]);
        }
        uint64_t first;
        assert_int_equal(seglog_log_append_batch(fx->log, iov, 4, &first), 0);
        assert_int_equal(first, singles);
        s_close(fx);

        char *sp = s_store(fx, 0);
        long size = tu_file_size(sp);
        long start = s_pos(fx, 0, singles), last = s_pos(fx, 0, singles + 3);
        if (variant == 1) { /* END frame intact in length, broken in CRC */
            uint8_t x;
            assert_int_equal(tu_read_at(sp, last + 8, &x, 1), 0);
            x ^= 0xff;
            assert_int_equal(tu_write_at(sp, last + 8, &x, 1), 0);
        } else {
            assert_int_equal(tu_truncate(sp, last + 8 + (long)iov[3].iov_len / 2), 0);
            size = tu_file_size(sp);
        }
        assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        s_open(fx);
        assert_int_equal(fx->rec.clean, 0);
        assert_int_equal(fx->rec.bytes_truncated, (uint64_t)(size - start));
        assert_int_equal(tu_file_size(sp), start);
        char buf[256];
        size_t len;
        assert_int_equal(seglog_log_read(fx->log, singles, buf, sizeof buf, &len),
                         SEGLOG_E_OFFSET_OUT_OF_RANGE);
        s_verify(fx, 0, singles);
        free(sp);
    }
}

/* ---- the index ----------------------------------------------------------- */

/* Unclean stop with the active index still preallocated: a zeroed tail. */
static void preallocated_index_zeroed_tail(void **state)
{
    fx_t *fx = *state;
    s_write(fx, 10);
    char *ip = s_index(fx, 0);
    assert_int_equal(tu_file_size(ip), 10 * 8);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(tu_truncate(ip, 512 * 8), 0); /* grows with zeros */
    s_open(fx);
    assert_int_equal(fx->rec.clean, 0);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    assert_int_equal(fx->rec.indexes_rebuilt, 0);
    assert_int_equal(fx->rec.indexes_repaired, 0);
    /* The active segment's unsynced index is never trusted after an
     * unclean stop: every frame was scanned (test_powerloss shows why). */
    assert_int_equal(fx->rec.records_recovered, 10);
    s_verify(fx, 0, 10);
    assert_int_equal(tu_file_size(ip), 11 * 8);
    free(ip);
}

/* A sealed index with a zeroed tail (a crash between roll and seal) is
 * cut back to its entries. */
static void sealed_index_zeroed_tail(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    s_write(fx, 10); /* segments 0, 4, 8 */
    char *ip = s_index(fx, 4);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(tu_truncate(ip, 4 * 8 + 3 * 8), 0);
    s_open(fx);
    assert_int_equal(fx->rec.segments, 3);
    assert_int_equal(fx->rec.indexes_repaired, 1);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    assert_int_equal(tu_file_size(ip), 4 * 8);
    s_verify(fx, 0, 10);
    free(ip);
}

/* A missing index is rebuilt from its store, for sealed and active
 * segments, after a clean close and after a crash. */
static void missing_index_rebuilt(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    for (int clean = 1; clean >= 0; clean--) {
        s_write(fx, 10 + (uint64_t)clean); /* segments 0, 4, 8 */
        if (!clean)
            assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        char *i0 = s_index(fx, 0), *i8 = s_index(fx, 8);
        assert_int_equal(unlink(i0), 0);
        assert_int_equal(unlink(i8), 0);
        s_open(fx);
        assert_int_equal(fx->rec.clean, clean);
        assert_int_equal(fx->rec.indexes_rebuilt, 2);
        assert_int_equal(fx->rec.bytes_truncated, 0);
        /* Clean: 4 + 3 rebuilt. Unclean: 4 + 2 rebuilt, and the last
         * entry of segment 4 re-verified. */
        assert_int_equal(fx->rec.records_recovered, 7);
        /* The sealed one is exact again. */
        assert_int_equal(tu_file_size(i0), 4 * 8);
        uint64_t n = 10 + (uint64_t)clean;
        s_verify(fx, 0, n);
        free(i0);
        free(i8);
        /* s_verify appended one: start the next round from a fresh dir. */
        tu_rmrf(&fx->tmp);
        fx->tmp = tu_tempdir("recovery");
        free(fx->dir);
        fx->dir = tu_path(fx->tmp, "log");
    }
}

/* A process crash loses the write buffer while the mapped index keeps the
 * entries of the lost records: they point past the store end. Built by
 * hand, then by a real crash. */
static void index_points_past_store_end(void **state)
{
    fx_t *fx = *state;
    s_write(fx, 10);
    char *sp = s_store(fx, 0), *ip = s_index(fx, 0);
    long p7 = s_pos(fx, 0, 7);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(tu_truncate(sp, p7), 0);
    assert_int_equal(tu_truncate(ip, 100 * 8), 0);
    s_open(fx);
    assert_int_equal(fx->rec.clean, 0);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    assert_int_equal(fx->rec.indexes_rebuilt, 0);
    s_verify(fx, 0, 7);
    free(sp);
    free(ip);
}

static fx_t *s_child_fx;

/* Child: append 10 records and write them to the OS, then 5 more that stay
 * in the write buffer, and die. */
static int s_child_lose_buffer(void *arg)
{
    fx_t *fx = arg;
    s_child_fx = fx; /* keeps the handle reachable for leak checkers */
    fx->cfg.write_buffer_bytes = 1 << 20;
    if (seglog_log_open(fx->dir, &fx->cfg, &fx->log))
        return 1;
    uint8_t buf[256];
    for (uint64_t i = 0; i < 15; i++) {
        if (i == 10 && seglog_log_flush(fx->log))
            return 2;
        if (seglog_log_append(fx->log, buf, s_rec(i, buf), NULL))
            return 3;
    }
    uint64_t n;
    if (seglog_log_next_offset(fx->log, &n) || n != 15)
        return 4;
    return 0;
}

static void process_crash_loses_buffer(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(tu_crash_child(s_child_lose_buffer, fx), 0);
    char *ip = s_index(fx, 0), *sp = s_store(fx, 0);
    /* The index still holds 15 entries; the store only 10 records. */
    uint8_t e[8];
    assert_int_equal(tu_read_at(ip, 14 * 8, e, 8), 0);
    assert_int_equal(sl_get32(e), 14);
    assert_true(sl_get32(e + 4) >= (uint32_t)tu_file_size(sp));
    s_open(fx);
    assert_int_equal(fx->rec.clean, 0);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    s_verify(fx, 0, 10);
    free(ip);
    free(sp);
}

/* Child: open (which recovers), then die without closing. */
static int s_child_open_only(void *arg)
{
    fx_t *fx = arg;
    s_child_fx = fx;
    return seglog_log_open(fx->dir, &fx->cfg, &fx->log) ? 1 : 0;
}

/* Recovery zeroes the index slots past the records it kept, so that a
 * crash right after it cannot find them again. */
static void recovery_zeroes_stale_slots(void **state)
{
    fx_t *fx = *state;
    s_write(fx, 10);
    long p5 = s_pos(fx, 0, 5);
    char *sp = s_store(fx, 0);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(tu_truncate(sp, p5 + 3), 0);
    /* Nothing of ours on the heap across the fork but what fx reaches:
     * the child's leak check (valgrind) must find it all. */
    free(sp);
    assert_int_equal(tu_crash_child(s_child_open_only, fx), 0);
    sp = s_store(fx, 0);
    char *ip = s_index(fx, 0);
    assert_true(tu_file_size(ip) >= 10 * 8);
    uint8_t e[5 * 8], zero[5 * 8] = {0};
    assert_int_equal(tu_read_at(ip, 5 * 8, e, sizeof e), 0);
    assert_memory_equal(e, zero, sizeof e);
    assert_int_equal(tu_file_size(sp), p5);
    s_open(fx);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    s_verify(fx, 0, 5);
    free(sp);
    free(ip);
}

/* ---- damage in sealed segments -------------------------------------------- */

static void s_flip(const char *path, long off)
{
    uint8_t x;
    assert_int_equal(tu_read_at(path, off, &x, 1), 0);
    x ^= 0x5a;
    assert_int_equal(tu_write_at(path, off, &x, 1), 0);
}

/* A CRC mismatch in a sealed segment: that record reads as CORRUPT, its
 * neighbours read fine, nothing is cut. */
static void crc_mismatch_in_sealed_segment(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 8 * 8;
    for (int clean = 1; clean >= 0; clean--) {
        s_write(fx, 20); /* segments 0, 8, 16 */
        char *s8 = s_store(fx, 8);
        long size8 = tu_file_size(s8);
        s_flip(s8, s_pos(fx, 8, 3) + 8 + 1); /* offset 11 */
        if (!clean)
            assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        s_open(fx);
        assert_int_equal(fx->rec.clean, clean);
        assert_int_equal(fx->rec.bytes_truncated, 0);
        assert_int_equal(tu_file_size(s8), size8);
        char buf[256];
        size_t len;
        assert_int_equal(seglog_log_read(fx->log, 11, buf, sizeof buf, &len), SEGLOG_E_CORRUPT);
        void *p = NULL;
        assert_int_equal(seglog_log_read_alloc(fx->log, 11, &p, &len), SEGLOG_E_CORRUPT);
        for (uint64_t i = 0; i < 20; i++)
            if (i != 11)
                s_check(fx->log, i);
        /* Iteration stops at it with the error; seeking past it works. */
        seglog_iter_t *it;
        assert_int_equal(seglog_iter_new(fx->log, &it), 0);
        assert_int_equal(seglog_iter_seek(it, 10, 0, 0), 0);
        uint64_t off;
        assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), 1);
        assert_int_equal(off, 10);
        assert_int_equal(seglog_iter_next(it, &off, NULL, NULL), SEGLOG_E_CORRUPT);
        assert_int_equal(seglog_iter_seek(it, 12, 0, 0), 0);
        int n = 0, rc;
        while ((rc = seglog_iter_next(it, &off, NULL, NULL)) == 1)
            n++;
        assert_int_equal(rc, 0);
        assert_int_equal(n, 8);
        seglog_iter_destroy(&it);
        s_append_range(fx->log, 20, 21);
        s_check(fx->log, 20);
        s_close(fx);
        free(s8);
        tu_rmrf(&fx->tmp);
        fx->tmp = tu_tempdir("recovery");
        free(fx->dir);
        fx->dir = tu_path(fx->tmp, "log");
    }
}

/* The last record of a sealed segment is damaged and the stop was unclean:
 * the segment ends early, the offset reads as CORRUPT up to the next
 * segment's base, and the next segment is untouched. */
static void sealed_segment_damaged_at_end(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 8 * 8;
    s_write(fx, 20);
    char *s8 = s_store(fx, 8);
    long size8 = tu_file_size(s8);
    s_flip(s8, s_pos(fx, 8, 7) + 8);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    s_open(fx);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    assert_int_equal(fx->rec.indexes_repaired, 1);
    assert_int_equal(tu_file_size(s8), size8);
    char buf[256];
    size_t len;
    assert_int_equal(seglog_log_read(fx->log, 15, buf, sizeof buf, &len), SEGLOG_E_CORRUPT);
    for (uint64_t i = 0; i < 20; i++)
        if (i != 15)
            s_check(fx->log, i);
    uint64_t v;
    assert_int_equal(seglog_log_next_offset(fx->log, &v), 0);
    assert_int_equal(v, 20);
    s_append_range(fx->log, 20, 21);
    s_check(fx->log, 20);
    free(s8);
}

/* A whole sealed segment missing: a gap that reads as CORRUPT, not as
 * truncated or out of range. */
static void missing_sealed_segment_is_a_gap(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    s_write(fx, 12); /* 0, 4, 8 */
    char *s4 = s_store(fx, 4), *i4 = s_index(fx, 4);
    assert_int_equal(unlink(s4), 0);
    assert_int_equal(unlink(i4), 0);
    s_open(fx);
    assert_int_equal(fx->rec.segments, 2);
    char buf[256];
    size_t len;
    for (uint64_t i = 4; i < 8; i++)
        assert_int_equal(seglog_log_read(fx->log, i, buf, sizeof buf, &len), SEGLOG_E_CORRUPT);
    for (uint64_t i = 0; i < 12; i++)
        if (i < 4 || i >= 8)
            s_check(fx->log, i);
    free(s4);
    free(i4);
}

/* Two segments claiming the same offsets: open refuses to guess. */
static void overlapping_segments_refused(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    s_write(fx, 6); /* 0 (0..3), 4 (4..5) */
    /* A foreign segment with base 2, made by another log. */
    char *other = tu_path(fx->tmp, "other");
    seglog_config_t c = fx->cfg;
    c.initial_offset = 2;
    seglog_log_t *log2;
    assert_int_equal(seglog_log_open(other, &c, &log2), 0);
    assert_int_equal(seglog_log_append(log2, "x", 1, NULL), 0);
    assert_int_equal(seglog_log_close(log2), 0);
    seglog_log_destroy(&log2);
    char *from = tu_seg_path(other, 2, ".store"), *to = s_store(fx, 2);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), SEGLOG_E_CORRUPT);
    assert_null(fx->log);
    /* Take it away again: the log opens as it was. */
    assert_int_equal(unlink(to), 0);
    s_open(fx);
    s_verify(fx, 0, 6);
    free(other);
    free(from);
    free(to);
}

/* ---- the directory ------------------------------------------------------- */

static void stray_files_ignored(void **state)
{
    fx_t *fx = *state;
    s_write(fx, 5);
    const char *names[] = {"notes.txt", "00000000000000000005.store.bak", "123.store",
                           "0000000000000000000x.index", "00000000000000009999.index"};
    for (size_t i = 0; i < 5; i++) {
        char *p = tu_path(fx->dir, names[i]);
        assert_int_equal(tu_write_file(p, "hello", 5), 0);
        free(p);
    }
    char *sub = tu_path(fx->dir, "subdir");
    assert_int_equal(mkdir(sub, 0755), 0);
    s_open(fx);
    assert_int_equal(fx->rec.clean, 1);
    assert_int_equal(fx->rec.files_ignored, 6);
    assert_int_equal(fx->rec.segments, 1);
    assert_int_equal(fx->rec.bytes_truncated, 0);
    s_verify(fx, 0, 5);
    /* Left alone. */
    for (size_t i = 0; i < 5; i++) {
        char *p = tu_path(fx->dir, names[i]);
        assert_int_equal(tu_file_size(p), 5);
        free(p);
    }
    assert_true(tu_exists(sub));
    free(sub);
}

/* A roll that crashed before the new store's header reached the disk: an
 * empty (or zeroed) active store is re-initialised; the records before it
 * are intact. */
static void torn_roll_empty_store(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    for (int variant = 0; variant < 2; variant++) {
        s_write(fx, 8); /* 0, 4: both full */
        char *s8 = s_store(fx, 8);
        uint8_t zero[SL_STORE_HEADER_LEN] = {0};
        assert_int_equal(tu_write_file(s8, zero, variant ? sizeof zero : 0), 0);
        assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        s_open(fx);
        assert_int_equal(fx->rec.segments, 3);
        assert_int_equal(fx->rec.bytes_truncated, variant ? sizeof zero : 0);
        assert_int_equal(tu_file_size(s8), SL_STORE_HEADER_LEN);
        s_verify(fx, 0, 8);
        free(s8);
        tu_rmrf(&fx->tmp);
        fx->tmp = tu_tempdir("recovery");
        free(fx->dir);
        fx->dir = tu_path(fx->tmp, "log");
    }
}

/* Reset the fixture to an empty log directory. */
static void s_fresh(fx_t *fx)
{
    tu_rmrf(&fx->tmp);
    fx->tmp = tu_tempdir("recovery");
    free(fx->dir);
    fx->dir = tu_path(fx->tmp, "log");
}

/* The header a roll of the log in fx writes for a store at base: the one
 * of store 0 (same epoch) with base and CRC changed. */
static void s_header_for(fx_t *fx, uint64_t base, uint8_t h[SL_STORE_HEADER_LEN])
{
    char *s0 = s_store(fx, 0);
    assert_int_equal(tu_read_at(s0, 0, h, SL_STORE_HEADER_LEN), 0);
    free(s0);
    sl_put64(h + 8, base);
    sl_put32(h + 28, sl_crc32c(0, h, 28));
}

/* The state test_powerloss ran into: a roll died in the middle of the new
 * store's header write (a torn pwritev) and the power cut kept the file's
 * length: the active store is shorter than a header and holds its first
 * bytes, and its index was never created (or is a stale one of an earlier
 * store of that name). Nothing in it was synced: it is re-initialised and
 * every record before it is there. Bytes that are not the start of our
 * header for that base, and a torn header in a store that is not the
 * last, are still refused. */
static void torn_header_write_in_active_store(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 4 * 8;
    const size_t cuts[] = {1, 4, 8, 16, 24, 28, 30, 31};
    for (size_t v = 0; v < sizeof cuts / sizeof cuts[0] * 2; v++) {
        size_t n = cuts[v / 2];
        int stale_index = (int)(v & 1);
        s_write(fx, 8); /* 0, 4: both full */
        char *s8 = s_store(fx, 8), *i8 = s_index(fx, 8);
        uint8_t h[SL_STORE_HEADER_LEN];
        s_header_for(fx, 8, h);
        assert_int_equal(tu_write_file(s8, h, n), 0);
        if (stale_index) { /* entries of another store of that name */
            uint8_t e[2 * 8];
            sl_put32(e, 0), sl_put32(e + 4, 32), sl_put32(e + 8, 1), sl_put32(e + 12, 40);
            assert_int_equal(tu_write_file(i8, e, sizeof e), 0);
        } else { /* the roll died before it created the index */
            assert_false(tu_exists(i8));
        }
        assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        s_open(fx);
        assert_int_equal(fx->rec.clean, 0);
        assert_int_equal(fx->rec.segments, 3);
        assert_int_equal(fx->rec.bytes_truncated, n);
        assert_int_equal(tu_file_size(s8), SL_STORE_HEADER_LEN);
        uint8_t h2[SL_STORE_HEADER_LEN];
        assert_int_equal(tu_read_at(s8, 0, h2, sizeof h2), 0);
        assert_memory_equal(h2, h, 16); /* magic, version, header length, base */
        s_verify(fx, 0, 8);             /* and 8 is appended, read back, reopened */
        free(s8);
        free(i8);
        s_fresh(fx);
    }

    /* Refused: other bytes than the start of our header for that base. */
    enum { WRONG_MAGIC, WRONG_BASE, WRONG_CRC, NONZERO_RESERVED, WHOLE_FOREIGN, NOT_LAST };
    for (int k = WRONG_MAGIC; k <= NOT_LAST; k++) {
        s_write(fx, 8);
        uint64_t base = k == NOT_LAST ? 4 : 8;
        char *sp = s_store(fx, base);
        uint8_t h[SL_STORE_HEADER_LEN];
        s_header_for(fx, base, h);
        if (k == NOT_LAST) { /* 8 exists: that roll finished */
            uint8_t h8[SL_STORE_HEADER_LEN];
            s_header_for(fx, 8, h8);
            char *s8 = s_store(fx, 8);
            assert_int_equal(tu_write_file(s8, h8, sizeof h8), 0);
            free(s8);
        }
        size_t n = 16;
        switch (k) {
        case WRONG_MAGIC:
            memcpy(h, "XGLG", 4);
            break;
        case WRONG_BASE:
            h[8] ^= 1;
            break;
        case WRONG_CRC:
            h[28] ^= 1;
            n = 30;
            break;
        case NONZERO_RESERVED:
            h[24] = 1;
            n = 26;
            break;
        case WHOLE_FOREIGN: /* a whole header, another format */
            memcpy(h, "NOPE", 4);
            n = sizeof h;
            break;
        case NOT_LAST: /* a torn header, but in a sealed segment */
            break;
        }
        assert_int_equal(tu_write_file(sp, h, n), 0);
        assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
        if (seglog_log_open(fx->dir, &fx->cfg, &fx->log) != SEGLOG_E_FORMAT)
            fail_msg("case %d: not refused", k);
        assert_null(fx->log);
        assert_int_equal(tu_file_size(sp), (long)n); /* left as it was */
        free(sp);
        s_fresh(fx);
    }
}

/* A damaged header is not guessed at: open fails with FORMAT. */
static void damaged_header_refused(void **state)
{
    fx_t *fx = *state;
    s_write(fx, 3);
    char *sp = s_store(fx, 0);
    s_flip(sp, 9);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    assert_int_equal(seglog_log_open(fx->dir, &fx->cfg, &fx->log), SEGLOG_E_FORMAT);
    assert_null(fx->log);
    s_flip(sp, 9);
    s_open(fx);
    s_verify(fx, 0, 3);
    free(sp);
}

/* Records larger than the 1 MiB recovery scan chunk are rescanned whole. */
static void large_records_rescanned(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_record_bytes = 3 << 20;
    fx->cfg.max_store_bytes = 64 << 20;
    size_t sizes[4] = {100, (3 << 20) - 5, 1 << 20, 7};
    uint8_t *big = malloc(3 << 20);
    assert_non_null(big);
    for (size_t j = 0; j < (3u << 20); j++)
        big[j] = (uint8_t)(j * 2654435761u >> 13);
    s_open(fx);
    for (int k = 0; k < 4; k++)
        assert_int_equal(seglog_log_append(fx->log, big, sizes[k], NULL), 0);
    s_close(fx);
    char *ip = s_index(fx, 0), *sp = s_store(fx, 0);
    long size = tu_file_size(sp);
    assert_int_equal(unlink(ip), 0);
    assert_int_equal(tu_append_bytes(sp, "torn", 4), 0);
    assert_int_equal(tu_drop_clean_marker(fx->dir), 0);
    s_open(fx);
    assert_int_equal(fx->rec.indexes_rebuilt, 1);
    assert_int_equal(fx->rec.records_recovered, 4);
    assert_int_equal(fx->rec.bytes_truncated, 4);
    assert_int_equal(tu_file_size(sp), size);
    for (uint64_t k = 0; k < 4; k++) {
        void *p = NULL;
        size_t len = 0;
        assert_int_equal(seglog_log_read_alloc(fx->log, k, &p, &len), 0);
        assert_int_equal(len, sizes[k]);
        assert_memory_equal(p, big, len);
        free(p);
    }
    uint64_t off;
    assert_int_equal(seglog_log_append(fx->log, "next", 4, &off), 0);
    assert_int_equal(off, 4);
    free(big);
    free(ip);
    free(sp);
}

/* ---- power loss ------------------------------------------------------------ */

typedef struct {
    fx_t *fx;
    char *note; /* where the child writes the synced size of the active store */
} pl_t;

/* Child: 20 records over segments 0, 8, 16; seglog_log_sync(); note the
 * active store's size; 3 more records written to the OS (not synced);
 * die. */
static int s_child_sync_then_more(void *arg)
{
    pl_t *pl = arg;
    fx_t *fx = pl->fx;
    s_child_fx = fx;
    if (seglog_log_open(fx->dir, &fx->cfg, &fx->log))
        return 1;
    uint8_t buf[256];
    for (uint64_t i = 0; i < 23; i++) {
        if (i == 20) {
            if (seglog_log_sync(fx->log))
                return 2;
            char *sp = tu_seg_path(fx->dir, 16, ".store");
            long size = tu_file_size(sp);
            free(sp);
            if (tu_write_file(pl->note, &size, sizeof size))
                return 3;
        }
        if (seglog_log_append(fx->log, buf, s_rec(i, buf), NULL))
            return 4;
    }
    return seglog_log_flush(fx->log) ? 5 : 0;
}

/* What the disk may hold after a power loss: the synced bytes, and after
 * them nothing, part of a frame, or garbage; the unsynced index may hold
 * entries, zeros, or nothing at all. Every synced record survives. */
static void synced_records_survive_power_loss(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 8 * 8;
    for (int variant = 0; variant < 5; variant++) {
        pl_t pl = {fx, tu_path(fx->tmp, "synced")};
        assert_int_equal(tu_crash_child(s_child_sync_then_more, &pl), 0);
        long synced = 0;
        assert_int_equal(tu_read_at(pl.note, 0, &synced, sizeof synced), 0);
        char *sp = s_store(fx, 16), *ip = s_index(fx, 16);
        long size = tu_file_size(sp);
        assert_true(size > synced);
        switch (variant) {
        case 0: /* everything after the sync dropped */
            assert_int_equal(tu_truncate(sp, synced), 0);
            break;
        case 1: /* torn: part of the next frame */
            assert_int_equal(tu_truncate(sp, synced + 11), 0);
            break;
        case 2: { /* the unsynced pages hold garbage */
            uint8_t junk[512];
            memset(junk, 0xa5, sizeof junk);
            assert_int_equal(tu_write_at(sp, synced, junk, (size_t)(size - synced)), 0);
            break;
        }
        case 3: { /* the index pages never made it: zeros */
            long isz = tu_file_size(ip);
            assert_int_equal(tu_truncate(ip, 0), 0);
            assert_int_equal(tu_truncate(ip, isz), 0);
            assert_int_equal(tu_truncate(sp, synced + 3), 0);
            break;
        }
        case 4: /* nor did the index file */
            assert_int_equal(unlink(ip), 0);
            assert_int_equal(tu_truncate(sp, synced), 0);
            break;
        }
        s_open(fx);
        assert_int_equal(fx->rec.clean, 0);
        assert_int_equal(fx->rec.segments, 3);
        assert_int_equal(tu_file_size(sp), synced);
        s_verify(fx, 0, 20);
        free(sp);
        free(ip);
        free(pl.note);
        tu_rmrf(&fx->tmp);
        fx->tmp = tu_tempdir("recovery");
        free(fx->dir);
        fx->dir = tu_path(fx->tmp, "log");
    }
}

/* Under SYNC_ALWAYS every acknowledged record was synced: a crash after
 * the last append loses nothing even if the index is lost. */
static int s_child_always(void *arg)
{
    fx_t *fx = arg;
    s_child_fx = fx;
    fx->cfg.sync = SEGLOG_SYNC_ALWAYS;
    if (seglog_log_open(fx->dir, &fx->cfg, &fx->log))
        return 1;
    s_append_range(fx->log, 0, 12);
    return 0;
}

static void sync_always_crash_keeps_acked(void **state)
{
    fx_t *fx = *state;
    fx->cfg.max_index_bytes = 8 * 8;
    assert_int_equal(tu_crash_child(s_child_always, fx), 0);
    char *ip = s_index(fx, 8);
    assert_int_equal(unlink(ip), 0);
    s_open(fx);
    assert_int_equal(fx->rec.clean, 0);
    assert_int_equal(fx->rec.indexes_rebuilt, 1);
    s_verify(fx, 0, 12);
    free(ip);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(tail_cut_mid_record),
        T(garbage_tail),
        T(torn_batch_at_tail),
        T(preallocated_index_zeroed_tail),
        T(sealed_index_zeroed_tail),
        T(missing_index_rebuilt),
        T(index_points_past_store_end),
        T(process_crash_loses_buffer),
        T(recovery_zeroes_stale_slots),
        T(crc_mismatch_in_sealed_segment),
        T(sealed_segment_damaged_at_end),
        T(missing_sealed_segment_is_a_gap),
        T(overlapping_segments_refused),
        T(stray_files_ignored),
        T(torn_roll_empty_store),
        T(torn_header_write_in_active_store),
        T(damaged_header_refused),
        T(large_records_rescanned),
        T(synced_records_survive_power_loss),
        T(sync_always_crash_keeps_acked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
