/*
 * fuzz_log_open.c - opening a log directory whose files hold fuzzed bytes.
 *
 * Input layout:
 *   byte 0      flags (below)
 *   bytes 1..2  split: the rest is store bytes [0, split) and index bytes
 *   bytes 3..   store body, then index body
 * Flags:
 *   HEADER  prefix the store body with a valid store header (base 0)
 *   FRAMES  the store body is records, each a length byte (bit 7 clear:
 *           END, the last record of its batch) and up to 127 payload
 *           bytes, written as frames with valid CRCs
 *   INDEX   the index holds the right entries for those frames, and the
 *           index body follows them
 *   CLEAN   write the clean-shutdown marker
 *   NOINDEX write no index file at all
 *   SEALED  add a second, empty segment after the first, so the fuzzed
 *           one is sealed (base = index body's first byte)
 * Without HEADER and FRAMES the fuzzer owns every store byte.
 *
 * Then: open; read every offset from lowest to next, by iterator and by
 * seglog_log_read; append; close; reopen; read everything again. It must
 * never crash or leak, and every record returned must be, byte for byte,
 * the payload of a frame in the files written whose CRC is valid. A log
 * that opened once must reopen after a clean close, and keep the records
 * it served and the one appended.
 */
#include "crc32c.h"
#include "format.h"
#include "testutil.h"

#include "seglog/log.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    F_HEADER = 1 << 0,
    F_FRAMES = 1 << 1,
    F_INDEX = 1 << 2,
    F_CLEAN = 1 << 3,
    F_NOINDEX = 1 << 4,
    F_SEALED = 1 << 5,
};

#define MAX_SEEN 4096 /* records remembered between the two opens */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_log_open: check failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytes_t;

static void s_put(bytes_t *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        CHECK(p != NULL);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void s_put32(bytes_t *b, uint32_t v)
{
    uint8_t x[4];
    sl_put32(x, v);
    s_put(b, x, 4);
}

static void s_header(bytes_t *b, uint64_t base, uint64_t epoch)
{
    uint8_t h[SL_STORE_HEADER_LEN] = {0};
    sl_put32(h, SL_STORE_MAGIC);
    h[4] = SL_STORE_VERSION;
    h[6] = SL_STORE_HEADER_LEN;
    sl_put64(h + 8, base);
    sl_put64(h + 16, epoch);
    sl_put32(h + 28, sl_crc32c(0, h, 28));
    s_put(b, h, sizeof h);
}

static uint32_t s_frame_crc(const uint8_t *len_flags, const void *payload, size_t len)
{
    return sl_crc32c(sl_crc32c(0, len_flags, 4), payload, len);
}

/* 1 if data (len bytes) is the payload of a CRC-valid frame in store. */
static int s_is_valid_frame(const bytes_t *store, const void *data, size_t len)
{
    for (size_t p = 0; p + SL_FRAME_HEADER_LEN + len <= store->len; p++) {
        const uint8_t *f = store->p + p;
        if ((sl_get32(f) & SL_FRAME_LEN_MASK) != len ||
            memcmp(f + SL_FRAME_HEADER_LEN, data, len) != 0)
            continue;
        if (s_frame_crc(f, data, len) == sl_get32(f + 4))
            return 1;
    }
    return 0;
}

static void s_write(const char *dir, const char *name, const bytes_t *b)
{
    char *p = tu_path(dir, name);
    CHECK(tu_write_file(p, b->p ? b->p : (const uint8_t *)"", b->len) == 0);
    free(p);
}

typedef struct {
    uint64_t offset;
    uint32_t len, crc;
} seen_t;

static void s_config(seglog_config_t *c)
{
    seglog_config_default(c);
    c->max_store_bytes = 64u << 10;
    c->max_index_bytes = 4096;
    c->max_record_bytes = 4096;
    c->sync = SEGLOG_SYNC_NONE;
    c->write_buffer_bytes = 4096;
}

/* Read [lowest, next) both ways; remember what was served. */
static size_t s_read_all(seglog_log_t *log, const bytes_t *store, seen_t *seen)
{
    uint64_t lowest = 0, next = 0;
    CHECK(seglog_log_lowest_offset(log, &lowest) == 0);
    CHECK(seglog_log_next_offset(log, &next) == 0);
    CHECK(lowest <= next);
    size_t nseen = 0;
    seglog_iter_t *it = NULL;
    CHECK(seglog_iter_new(log, &it) == 0);
    if (seglog_iter_seek(it, lowest, 0, 0) == 0) {
        for (uint64_t expect = lowest;; expect++) {
            uint64_t off;
            const void *d;
            size_t len;
            int rc = seglog_iter_next(it, &off, &d, &len);
            if (rc <= 0)
                break;
            CHECK(off == expect && off < next);
            CHECK(s_is_valid_frame(store, d, len));
        }
    }
    seglog_iter_destroy(&it);
    for (uint64_t off = lowest; off < next && off - lowest < 2 * MAX_SEEN; off++) {
        void *d = NULL;
        size_t len = 0;
        int rc = seglog_log_read_alloc(log, off, &d, &len);
        if (rc == 0) {
            CHECK(s_is_valid_frame(store, d, len));
            if (nseen < MAX_SEEN)
                seen[nseen++] = (seen_t){off, (uint32_t)len, sl_crc32c(0, d, len)};
        }
        free(d);
    }
    return nseen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const unsigned flags = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *body = data + 3;
    size_t n = size - 3;
    if (split > n)
        split = n;
    const uint8_t *sbody = body, *ibody = body + split;
    size_t slen = split, ilen = n - split;

    bytes_t store = {0}, index = {0};
    uint64_t nframes = 0;
    if (flags & (F_HEADER | F_FRAMES))
        s_header(&store, 0, 0x5eed);
    if (flags & F_FRAMES) {
        for (size_t p = 0; p < slen;) {
            uint8_t l = sbody[p++];
            size_t len = l & 0x7f;
            if (len > slen - p)
                len = slen - p;
            uint8_t lf[4];
            sl_put32(lf, (uint32_t)len | (l & 0x80 ? 0 : SL_FRAME_END));
            uint8_t ie[8];
            sl_put32(ie, (uint32_t)nframes);
            sl_put32(ie + 4, (uint32_t)store.len);
            s_put(&index, ie, sizeof ie);
            s_put(&store, lf, 4);
            s_put32(&store, s_frame_crc(lf, sbody + p, len));
            s_put(&store, sbody + p, len);
            p += len;
            nframes++;
        }
        if (!(flags & F_INDEX))
            index.len = 0;
    } else {
        s_put(&store, sbody, slen);
    }
    s_put(&index, ibody, ilen);

    char *dir = tu_tempdir("fuzzlog");
    CHECK(dir != NULL);
    s_write(dir, "00000000000000000000.store", &store);
    if (!(flags & F_NOINDEX))
        s_write(dir, "00000000000000000000.index", &index);
    if (flags & F_SEALED) {
        bytes_t second = {0};
        uint64_t base = nframes + (ilen ? ibody[0] : 0);
        s_header(&second, base, 0x5eed);
        char name[64];
        snprintf(name, sizeof name, "%020" PRIu64 ".store", base);
        s_write(dir, name, &second);
        free(second.p);
    }
    if (flags & F_CLEAN) {
        bytes_t none = {0};
        s_write(dir, SL_CLEAN_MARKER, &none);
    }

    seglog_config_t cfg;
    s_config(&cfg);
    seglog_log_t *log = NULL;
    seen_t *seen = calloc(MAX_SEEN, sizeof *seen);
    CHECK(seen != NULL);
    if (seglog_log_open(dir, &cfg, &log) == 0) {
        size_t nseen = s_read_all(log, &store, seen);
        static const char rec[] = "appended by the fuzzer";
        uint64_t at = 0;
        int appended = seglog_log_append(log, rec, sizeof rec, &at) == 0;
        if (appended) {
            char back[sizeof rec];
            size_t len = 0;
            CHECK(seglog_log_read(log, at, back, sizeof back, &len) == 0);
            CHECK(len == sizeof rec && memcmp(back, rec, len) == 0);
        }
        CHECK(seglog_log_close(log) == 0);
        seglog_log_destroy(&log);

        /* A clean close leaves a log that opens, with the same records. */
        CHECK(seglog_log_open(dir, &cfg, &log) == 0);
        for (size_t i = 0; i < nseen; i++) {
            void *d = NULL;
            size_t len = 0;
            CHECK(seglog_log_read_alloc(log, seen[i].offset, &d, &len) == 0);
            CHECK(len == seen[i].len && sl_crc32c(0, d, len) == seen[i].crc);
            free(d);
        }
        if (appended) {
            char back[sizeof rec];
            size_t len = 0;
            CHECK(seglog_log_read(log, at, back, sizeof back, &len) == 0);
            CHECK(len == sizeof rec && memcmp(back, rec, len) == 0);
        }
        seglog_log_destroy(&log);
    }
    free(seen);
    free(store.p);
    free(index.p);
    tu_rmrf(&dir);
    return 0;
}
