/* test_store.c - the store file: header, framed appends, reads from the
 * write buffer and from the file, write-through of large records, reopen,
 * truncation, and writes through a faulty VFS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <unistd.h>

#include "crc32c.h"
#include "format.h"
#include "store.h"
#include "testutil.h"

#define BASE  100u
#define EPOCH 0x1122334455667788ull

typedef struct {
    char *dir;
    char *path;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fx->dir = tu_tempdir("store");
    fx->path = tu_seg_path(fx->dir, BASE, ".store");
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

/* Record i: length 1..max, bytes derived from i. */
static size_t s_rec(uint32_t i, size_t max, uint8_t *buf)
{
    size_t len = 1 + (i * 37u) % max;
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 131u + j * 7u + 1u);
    return len;
}

static void s_expect(sl_store_t *s, uint64_t pos, uint64_t frame_len, uint32_t i, size_t max,
                     int want_end)
{
    uint8_t want[8192], got[8192];
    size_t wlen = s_rec(i, max, want), glen = 0;
    int end = -1;
    assert_int_equal(sl_store_read_frame(s, pos, frame_len, 1u << 20, got, sizeof got, &glen, &end),
                     0);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    assert_int_equal(end, want_end);
}

static void create_writes_header(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(seglog_vfs_posix(), fx->path, BASE, EPOCH, 0, &s), 0);
    assert_int_equal(sl_store_size(s), SL_STORE_HEADER_LEN);
    assert_int_equal(sl_store_epoch(s), EPOCH);
    assert_int_equal(sl_store_close(&s, 1), 0);
    assert_null(s);

    uint8_t h[SL_STORE_HEADER_LEN];
    assert_int_equal(tu_file_size(fx->path), SL_STORE_HEADER_LEN);
    assert_int_equal(tu_read_at(fx->path, 0, h, sizeof h), 0);
    assert_memory_equal(h, "SGLG", 4);
    assert_int_equal(h[4] | h[5] << 8, SL_STORE_VERSION);
    assert_int_equal(h[6] | h[7] << 8, SL_STORE_HEADER_LEN);
    assert_int_equal(sl_get64(h + 8), BASE);
    assert_int_equal(sl_get64(h + 16), EPOCH);
    assert_int_equal(sl_get32(h + 24), 0);
    assert_int_equal(sl_get32(h + 28), sl_crc32c(0, h, 28));
}

/* Records are readable while they are still in the write buffer. */
static void read_from_buffer(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(seglog_vfs_posix(), fx->path, BASE, EPOCH, 64 << 10, &s), 0);
    uint8_t buf[3][200];
    struct iovec iov[3];
    uint32_t pos[3];
    for (uint32_t i = 0; i < 3; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = s_rec(i, 200, buf[i]);
        assert_int_equal(sl_store_append(s, &iov[i], 1, &pos[i]), 0);
    }
    assert_int_equal(pos[0], SL_STORE_HEADER_LEN);
    assert_int_equal(pos[1], pos[0] + SL_FRAME_HEADER_LEN + iov[0].iov_len);
    assert_int_equal(pos[2], pos[1] + SL_FRAME_HEADER_LEN + iov[1].iov_len);
    assert_int_equal(sl_store_size(s), pos[2] + SL_FRAME_HEADER_LEN + iov[2].iov_len);
    /* Nothing reached the file yet. */
    assert_int_equal(tu_file_size(fx->path), SL_STORE_HEADER_LEN);
    for (uint32_t i = 0; i < 3; i++) {
        s_expect(s, pos[i], 0, i, 200, 1);
        s_expect(s, pos[i], SL_FRAME_HEADER_LEN + iov[i].iov_len, i, 200, 1);
    }
    assert_int_equal(sl_store_flush(s), 0);
    assert_int_equal(tu_file_size(fx->path), (long)sl_store_size(s));
    for (uint32_t i = 0; i < 3; i++)
        s_expect(s, pos[i], 0, i, 200, 1);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

/* A batch: one frame per record, END only on the last. */
static void batch_sets_end_on_last(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(seglog_vfs_posix(), fx->path, BASE, EPOCH, 0, &s), 0);
    uint8_t buf[4][100];
    struct iovec iov[4];
    uint32_t pos[4];
    for (uint32_t i = 0; i < 4; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = s_rec(i, 100, buf[i]);
    }
    assert_int_equal(sl_store_append(s, iov, 4, pos), 0);
    for (uint32_t i = 0; i < 4; i++)
        s_expect(s, pos[i], 0, i, 100, i == 3);
    assert_int_equal(sl_store_flush(s), 0);
    uint8_t hdr[8];
    assert_int_equal(tu_read_at(fx->path, pos[0], hdr, 8), 0);
    assert_int_equal(sl_get32(hdr), (uint32_t)iov[0].iov_len);
    assert_int_equal(tu_read_at(fx->path, pos[3], hdr, 8), 0);
    assert_int_equal(sl_get32(hdr), SL_FRAME_END | (uint32_t)iov[3].iov_len);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

/* Records larger than the write buffer are written straight through,
 * mixed with buffered ones, and every one reads back. */
static void record_larger_than_buffer(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(seglog_vfs_posix(), fx->path, BASE, EPOCH, 4096, &s), 0);
    static uint8_t big[3][6000];
    size_t lens[3] = {100, 6000, 50};
    struct iovec iov[3];
    uint32_t pos[3];
    for (int i = 0; i < 3; i++) {
        for (size_t j = 0; j < lens[i]; j++)
            big[i][j] = (uint8_t)(j * 31 + (size_t)i);
        iov[i].iov_base = big[i];
        iov[i].iov_len = lens[i];
        assert_int_equal(sl_store_append(s, &iov[i], 1, &pos[i]), 0);
    }
    /* The big one forced the small one before it out, and went out itself. */
    assert_true(tu_file_size(fx->path) >= (long)(pos[1] + 8 + 6000));
    for (int i = 0; i < 3; i++) {
        uint8_t got[6000];
        size_t len = 0;
        assert_int_equal(sl_store_read_frame(s, pos[i], 0, 1u << 20, got, sizeof got, &len, NULL),
                         0);
        assert_int_equal(len, lens[i]);
        assert_memory_equal(got, big[i], lens[i]);
    }
    /* A batch with a big record in the middle. */
    uint32_t bpos[3];
    assert_int_equal(sl_store_append(s, iov, 3, bpos), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t got[6000];
        size_t len = 0;
        int end = -1;
        assert_int_equal(sl_store_read_frame(s, bpos[i], 0, 1u << 20, got, sizeof got, &len, &end),
                         0);
        assert_int_equal(len, lens[i]);
        assert_memory_equal(got, big[i], lens[i]);
        assert_int_equal(end, i == 2);
    }
    assert_int_equal(sl_store_close(&s, 1), 0);
    assert_int_equal(tu_file_size(fx->path), (long)bpos[2] + 8 + 50);
}

static void reopen_keeps_records(void **state)
{
    fx_t *fx = *state;
    const seglog_vfs_t *v = seglog_vfs_posix();
    sl_store_t *s = NULL;
    uint32_t pos[50];
    uint8_t buf[300];
    assert_int_equal(sl_store_create(v, fx->path, BASE, EPOCH, 4096, &s), 0);
    for (uint32_t i = 0; i < 50; i++) {
        struct iovec iov = {buf, s_rec(i, 300, buf)};
        assert_int_equal(sl_store_append(s, &iov, 1, &pos[i]), 0);
    }
    uint64_t size = sl_store_size(s);
    assert_int_equal(sl_store_close(&s, 1), 0);
    assert_int_equal(tu_file_size(fx->path), (long)size);

    assert_int_equal(sl_store_open(v, fx->path, BASE, 4096, &s), 0);
    assert_int_equal(sl_store_size(s), size);
    assert_int_equal(sl_store_epoch(s), EPOCH);
    for (uint32_t i = 0; i < 50; i++)
        s_expect(s, pos[i], 0, i, 300, 1);
    /* Appends continue at the end. */
    uint32_t p;
    struct iovec iov = {buf, s_rec(50, 300, buf)};
    assert_int_equal(sl_store_append(s, &iov, 1, &p), 0);
    assert_int_equal(p, size);
    s_expect(s, p, 0, 50, 300, 1);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

static void open_rejects_bad_header(void **state)
{
    fx_t *fx = *state;
    const seglog_vfs_t *v = seglog_vfs_posix();
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(v, fx->path, BASE, EPOCH, 0, &s), 0);
    assert_int_equal(sl_store_close(&s, 0), 0);

    /* Wrong base for the name. */
    assert_int_equal(sl_store_open(v, fx->path, BASE + 1, 0, &s), SEGLOG_E_FORMAT);
    assert_null(s);
    /* A flipped epoch bit fails the header CRC. */
    uint8_t b;
    assert_int_equal(tu_read_at(fx->path, 16, &b, 1), 0);
    b ^= 1;
    assert_int_equal(tu_write_at(fx->path, 16, &b, 1), 0);
    assert_int_equal(sl_store_open(v, fx->path, BASE, 0, &s), SEGLOG_E_FORMAT);
    b ^= 1;
    assert_int_equal(tu_write_at(fx->path, 16, &b, 1), 0);
    assert_int_equal(sl_store_open(v, fx->path, BASE, 0, &s), 0);
    assert_int_equal(sl_store_close(&s, 0), 0);
    /* Short file. */
    assert_int_equal(tu_truncate(fx->path, 20), 0);
    assert_int_equal(sl_store_open(v, fx->path, BASE, 0, &s), SEGLOG_E_FORMAT);
    /* Foreign file. */
    char junk[64];
    memset(junk, 'x', sizeof junk);
    assert_int_equal(tu_write_file(fx->path, junk, sizeof junk), 0);
    assert_int_equal(sl_store_open(v, fx->path, BASE, 0, &s), SEGLOG_E_FORMAT);
    /* Missing file: the errno. */
    assert_int_equal(unlink(fx->path), 0);
    assert_int_equal(sl_store_open(v, fx->path, BASE, 0, &s), ENOENT);
}

static void buffer_too_small(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(seglog_vfs_posix(), fx->path, BASE, EPOCH, 0, &s), 0);
    uint8_t rec[100];
    memset(rec, 7, sizeof rec);
    struct iovec iov = {rec, sizeof rec};
    uint32_t pos;
    assert_int_equal(sl_store_append(s, &iov, 1, &pos), 0);
    uint8_t small[10];
    size_t len = 0;
    assert_int_equal(sl_store_read_frame(s, pos, 0, 1u << 20, small, sizeof small, &len, NULL),
                     SEGLOG_E_BUFFER_TOO_SMALL);
    assert_int_equal(len, 100);
    len = 0;
    assert_int_equal(sl_store_read_frame(s, pos, 108, 1u << 20, small, sizeof small, &len, NULL),
                     SEGLOG_E_BUFFER_TOO_SMALL);
    assert_int_equal(len, 100);
    /* A length over max_len is damage, not a small buffer. */
    assert_int_equal(sl_store_read_frame(s, pos, 0, 50, small, sizeof small, &len, NULL),
                     SEGLOG_E_CORRUPT);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

/* The CRC covers the length word and the payload. */
static void crc_detects_damage(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    const seglog_vfs_t *v = seglog_vfs_posix();
    assert_int_equal(sl_store_create(v, fx->path, BASE, EPOCH, 0, &s), 0);
    uint8_t rec[40], got[64];
    memset(rec, 0x5a, sizeof rec);
    struct iovec iov[2] = {{rec, sizeof rec}, {rec, sizeof rec}};
    uint32_t pos[2];
    assert_int_equal(sl_store_append(s, iov, 2, pos), 0);
    assert_int_equal(sl_store_close(&s, 1), 0);

    uint8_t b;
    size_t len;
    /* Payload byte of record 1. */
    assert_int_equal(tu_read_at(fx->path, pos[1] + 8 + 5, &b, 1), 0);
    b ^= 0x10;
    assert_int_equal(tu_write_at(fx->path, pos[1] + 8 + 5, &b, 1), 0);
    /* END bit of record 0 (same length, so only the CRC can tell). */
    assert_int_equal(tu_read_at(fx->path, pos[0] + 3, &b, 1), 0);
    b ^= 0x80;
    assert_int_equal(tu_write_at(fx->path, pos[0] + 3, &b, 1), 0);

    assert_int_equal(sl_store_open(v, fx->path, BASE, 0, &s), 0);
    assert_int_equal(sl_store_read_frame(s, pos[0], 0, 1u << 20, got, sizeof got, &len, NULL),
                     SEGLOG_E_CORRUPT);
    assert_int_equal(sl_store_read_frame(s, pos[1], 0, 1u << 20, got, sizeof got, &len, NULL),
                     SEGLOG_E_CORRUPT);
    /* A frame length that disagrees with the index's is damage too. */
    assert_int_equal(sl_store_read_frame(s, pos[0], 40, 1u << 20, got, sizeof got, &len, NULL),
                     SEGLOG_E_CORRUPT);
    /* Bytes past the end of the store are not there. */
    assert_int_equal(sl_store_read_frame(s, pos[1] + 48, 0, 1u << 20, got, sizeof got, &len, NULL),
                     SEGLOG_E_CORRUPT);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

static void frame_check(void **state)
{
    (void)state;
    uint8_t f[8 + 16];
    uint8_t payload[16];
    memset(payload, 0xa5, sizeof payload);
    sl_put32(f, SL_FRAME_END | 16);
    uint32_t crc = sl_crc32c(0, f, 4);
    sl_put32(f + 4, sl_crc32c(crc, payload, 16));
    memcpy(f + 8, payload, 16);

    uint32_t plen = 99;
    int end = -1;
    assert_int_equal(sl_frame_check(f, sizeof f, 1024, &plen, &end), 1);
    assert_int_equal(plen, 16);
    assert_int_equal(end, 1);
    /* Short: more bytes needed; the header says how many. */
    assert_int_equal(sl_frame_check(f, 8 + 15, 1024, &plen, &end), 0);
    assert_int_equal(plen, 16);
    assert_int_equal(sl_frame_check(f, 7, 1024, &plen, &end), 0);
    assert_int_equal(plen, 0);
    /* Impossible length. */
    assert_int_equal(sl_frame_check(f, sizeof f, 15, &plen, &end), SEGLOG_E_CORRUPT);
    /* Bad CRC. */
    f[20] ^= 1;
    assert_int_equal(sl_frame_check(f, sizeof f, 1024, &plen, &end), SEGLOG_E_CORRUPT);
}

static void truncate_drops_tail(void **state)
{
    fx_t *fx = *state;
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(seglog_vfs_posix(), fx->path, BASE, EPOCH, 4096, &s), 0);
    uint8_t buf[300];
    uint32_t pos[20];
    for (uint32_t i = 0; i < 20; i++) {
        struct iovec iov = {buf, s_rec(i, 300, buf)};
        assert_int_equal(sl_store_append(s, &iov, 1, &pos[i]), 0);
    }
    /* Cut inside the buffer, then below the flushed mark. */
    assert_int_equal(sl_store_truncate(s, pos[18]), 0);
    assert_int_equal(sl_store_size(s), pos[18]);
    s_expect(s, pos[17], 0, 17, 300, 1);
    uint8_t got[300];
    size_t len;
    assert_int_equal(sl_store_read_frame(s, pos[18], 0, 1u << 20, got, sizeof got, &len, NULL),
                     SEGLOG_E_CORRUPT);
    assert_int_equal(sl_store_flush(s), 0);
    assert_int_equal(tu_file_size(fx->path), (long)pos[18]);
    assert_int_equal(sl_store_truncate(s, pos[3]), 0);
    assert_int_equal(sl_store_size(s), pos[3]);
    assert_int_equal(tu_file_size(fx->path), (long)pos[3]);
    s_expect(s, pos[2], 0, 2, 300, 1);
    /* Appends continue at the cut. */
    uint32_t p;
    struct iovec iov = {buf, s_rec(7, 300, buf)};
    assert_int_equal(sl_store_append(s, &iov, 1, &p), 0);
    assert_int_equal(p, pos[3]);
    s_expect(s, p, 0, 7, 300, 1);
    assert_int_equal(sl_store_close(&s, 1), 0);
    assert_int_equal(tu_file_size(fx->path), (long)(pos[3] + 8 + s_rec(7, 300, buf)));
}

/* Every write comes back short: the store loops until all bytes are out. */
static void short_writes(void **state)
{
    fx_t *fx = *state;
    tu_faults_t f = {0};
    f.short_writes = 1;
    seglog_vfs_t v = tu_fault_vfs(&f);
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(&v, fx->path, BASE, EPOCH, 4096, &s), 0);
    uint8_t buf[5000];
    uint32_t pos[40];
    for (uint32_t i = 0; i < 40; i++) {
        struct iovec iov = {buf, s_rec(i, i % 10 == 9 ? 5000 : 300, buf)};
        assert_int_equal(sl_store_append(s, &iov, 1, &pos[i]), 0);
    }
    assert_int_equal(sl_store_flush(s), 0);
    uint64_t size = sl_store_size(s);
    assert_int_equal(tu_file_size(fx->path), (long)size);
    int writes = f.writes;
    assert_int_equal(sl_store_close(&s, 1), 0);
    /* Far more calls than buffer flushes: they really were short. */
    assert_true(writes > 40);

    assert_int_equal(sl_store_open(seglog_vfs_posix(), fx->path, BASE, 0, &s), 0);
    assert_int_equal(sl_store_size(s), size);
    for (uint32_t i = 0; i < 40; i++)
        s_expect(s, pos[i], 0, i, i % 10 == 9 ? 5000 : 300, 1);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

/* A failed write leaves nothing of the batch, keeps the records before it,
 * and the store works again once the fault clears. */
static void write_error_rolls_back(void **state)
{
    fx_t *fx = *state;
    tu_faults_t f = {0};
    seglog_vfs_t v = tu_fault_vfs(&f);
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(&v, fx->path, BASE, EPOCH, 4096, &s), 0);
    uint8_t buf[8000];
    uint32_t pos[4];
    for (uint32_t i = 0; i < 3; i++) {
        struct iovec iov = {buf, s_rec(i, 300, buf)};
        assert_int_equal(sl_store_append(s, &iov, 1, &pos[i]), 0);
    }
    uint64_t size = sl_store_size(s);
    /* A batch whose second record must be written through: it fails. */
    f.fail_write_errno = ENOSPC;
    f.fail_write_after = 0;
    uint8_t big[6000];
    memset(big, 0xee, sizeof big);
    struct iovec batch[2] = {{buf, 10}, {big, sizeof big}};
    uint32_t bpos[2];
    assert_int_equal(sl_store_append(s, batch, 2, bpos), ENOSPC);
    assert_int_equal(sl_store_size(s), size);
    for (uint32_t i = 0; i < 3; i++)
        s_expect(s, pos[i], 0, i, 300, 1);
    /* The flush before the write-through succeeds, the write-through fails:
     * the flushed part of the batch is cut from the file again. */
    f.fail_write_after = 1;
    assert_int_equal(sl_store_append(s, batch, 2, bpos), ENOSPC);
    assert_int_equal(sl_store_size(s), size);
    assert_true(tu_file_size(fx->path) <= (long)size);
    for (uint32_t i = 0; i < 3; i++)
        s_expect(s, pos[i], 0, i, 300, 1);

    f.fail_write_errno = 0;
    struct iovec iov = {buf, s_rec(3, 300, buf)};
    assert_int_equal(sl_store_append(s, &iov, 1, &pos[3]), 0);
    assert_int_equal(pos[3], size);
    assert_int_equal(sl_store_close(&s, 1), 0);
    assert_int_equal(tu_file_size(fx->path), (long)(size + 8 + iov.iov_len));
    assert_int_equal(sl_store_open(seglog_vfs_posix(), fx->path, BASE, 0, &s), 0);
    for (uint32_t i = 0; i < 4; i++)
        s_expect(s, pos[i], 0, i, 300, 1);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

/* A flush that fails half way leaves a record partly in the file and
 * partly in the buffer; it still reads back whole, and a later flush
 * finishes the job. */
static void read_across_partial_flush(void **state)
{
    fx_t *fx = *state;
    tu_faults_t f = {0};
    seglog_vfs_t v = tu_fault_vfs(&f);
    sl_store_t *s = NULL;
    assert_int_equal(sl_store_create(&v, fx->path, BASE, EPOCH, 4096, &s), 0);
    uint8_t buf[300];
    uint32_t pos[5];
    for (uint32_t i = 0; i < 5; i++) {
        struct iovec iov = {buf, s_rec(i, 300, buf)};
        assert_int_equal(sl_store_append(s, &iov, 1, &pos[i]), 0);
    }
    uint64_t size = sl_store_size(s);
    f.short_writes = 1;
    f.fail_write_errno = EIO;
    f.fail_write_after = 1; /* one half-write, then EIO */
    assert_int_equal(sl_store_flush(s), EIO);
    long on_disk = tu_file_size(fx->path);
    assert_true(on_disk > SL_STORE_HEADER_LEN && on_disk < (long)size);
    assert_int_equal(sl_store_size(s), size);
    for (uint32_t i = 0; i < 5; i++)
        s_expect(s, pos[i], 0, i, 300, 1);
    f.fail_write_errno = 0;
    f.short_writes = 0;
    assert_int_equal(sl_store_flush(s), 0);
    assert_int_equal(tu_file_size(fx->path), (long)size);
    for (uint32_t i = 0; i < 5; i++)
        s_expect(s, pos[i], 0, i, 300, 1);
    assert_int_equal(sl_store_close(&s, 0), 0);
}

/* Optional argument: a test name pattern (cmocka_set_test_filter). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(create_writes_header),      T(read_from_buffer),     T(batch_sets_end_on_last),
        T(record_larger_than_buffer), T(reopen_keeps_records), T(open_rejects_bad_header),
        T(buffer_too_small),          T(crc_detects_damage),   cmocka_unit_test(frame_check),
        T(truncate_drops_tail),       T(short_writes),         T(write_error_rolls_back),
        T(read_across_partial_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
