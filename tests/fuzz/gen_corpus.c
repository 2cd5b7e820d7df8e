/*
 * gen_corpus.c - writes the seed corpus of the fuzz targets:
 *   gen_corpus DIR   ->  DIR/request/seed-*  and  DIR/log_open/seed-*
 * Request seeds are sessions of valid (and a few invalid) requests, packed
 * with protobuf-c in fuzz_request.c's frame layout; log seeds are real
 * segments written by the log core, and synthetic ones in
 * fuzz_log_open.c's layout. The output is committed in
 * tests/fuzz/corpus/; run this again when a layout changes.
 */
#include "seglog/log.h"
#include "seglog/v1/seglog.pb-c.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_root;
static int s_failed;

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytes_t;

static void s_put(bytes_t *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void s_save(const char *target, const char *name, const bytes_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/seed-%s", s_root, target, name);
    if (tu_write_file(path, b->p ? b->p : (uint8_t *)"", b->len) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        s_failed = 1;
    }
}

/* ---- requests ------------------------------------------------------------ */

static uint64_t s_id;

/* Append one frame (2-byte length + bytes) to a session. */
static void s_frame(bytes_t *b, const void *data, size_t len)
{
    uint8_t l[2] = {(uint8_t)(len & 0xff), (uint8_t)(len >> 8)};
    s_put(b, l, 2);
    s_put(b, data, len);
}

static void s_req(bytes_t *b, Seglog__V1__Request *req)
{
    req->id = ++s_id;
    size_t len = seglog__v1__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    seglog__v1__request__pack(req, buf);
    s_frame(b, buf, len);
    free(buf);
}

static void s_produce(bytes_t *b, const char *topic, int n, size_t value_len, int keyed)
{
    Seglog__V1__Record *recs = calloc((size_t)n, sizeof *recs);
    Seglog__V1__Record **ptrs = calloc((size_t)n, sizeof *ptrs);
    uint8_t *value = malloc(value_len ? value_len : 1);
    for (size_t i = 0; i < value_len; i++)
        value[i] = (uint8_t)('a' + i % 26);
    for (int i = 0; i < n; i++) {
        seglog__v1__record__init(&recs[i]);
        recs[i].value = (ProtobufCBinaryData){value_len, value};
        if (keyed) {
            recs[i].key = (ProtobufCBinaryData){3, (uint8_t *)"key"};
            recs[i].timestamp_ms = 1700000000000ull + (uint64_t)i;
        }
        ptrs[i] = &recs[i];
    }
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = (char *)topic;
    p.n_records = (size_t)n;
    p.records = ptrs;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    s_req(b, &req);
    free(value);
    free(ptrs);
    free(recs);
}

static void s_consume(bytes_t *b, const char *topic, uint64_t offset, uint32_t max_records,
                      uint32_t max_bytes)
{
    Seglog__V1__ConsumeRequest c = SEGLOG__V1__CONSUME_REQUEST__INIT;
    c.topic = (char *)topic;
    c.offset = offset;
    c.max_records = max_records;
    c.max_bytes = max_bytes;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &c;
    s_req(b, &req);
}

static void s_offsets(bytes_t *b, const char *topic)
{
    Seglog__V1__OffsetsRequest o = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    o.topic = (char *)topic;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    req.offsets = &o;
    s_req(b, &req);
}

static void s_truncate(bytes_t *b, const char *topic, uint64_t lowest)
{
    Seglog__V1__TruncateRequest t = SEGLOG__V1__TRUNCATE_REQUEST__INIT;
    t.topic = (char *)topic;
    t.lowest_offset = lowest;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_TRUNCATE;
    req.truncate = &t;
    s_req(b, &req);
}

static void s_requests(void)
{
    struct {
        const char *name;
        int kind;
    } seeds[] = {{"produce", 0},  {"produce-batch", 1}, {"consume", 2}, {"offsets", 3},
                 {"truncate", 4}, {"session", 5},       {"roll", 6},    {"default-topic", 7},
                 {"errors", 8},   {"consume-limits", 9}};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        bytes_t b = {0};
        switch (seeds[i].kind) {
        case 0:
            s_produce(&b, "t", 1, 5, 0);
            break;
        case 1:
            s_produce(&b, "t", 5, 16, 1);
            break;
        case 2:
            s_produce(&b, "t", 3, 8, 0);
            s_consume(&b, "t", 0, 10, 0);
            break;
        case 3:
            s_produce(&b, "t", 1, 8, 0);
            s_offsets(&b, "t");
            break;
        case 4:
            s_produce(&b, "t", 1, 8, 0);
            s_truncate(&b, "t", 1);
            break;
        case 5:
            s_produce(&b, "orders", 4, 32, 1);
            s_produce(&b, "orders", 1, 0, 0);
            s_consume(&b, "orders", 0, 100, 0);
            s_offsets(&b, "orders");
            s_consume(&b, "orders", 5, 1, 0);
            s_consume(&b, "orders", 6, 1, 0);
            break;
        case 6: /* 1000-byte records over 8 KiB segments: rolls, then truncate */
            for (int k = 0; k < 3; k++)
                s_produce(&b, "r", 4, 1000, 0);
            s_truncate(&b, "r", 9);
            s_offsets(&b, "r");
            s_consume(&b, "r", 0, 1, 0);
            s_consume(&b, "r", 8, 100, 2000);
            break;
        case 7:
            s_produce(&b, "", 2, 4, 0);
            s_consume(&b, "default", 0, 0, 0);
            break;
        case 8:
            s_produce(&b, "a/b", 1, 1, 0);
            s_consume(&b, "nope", 0, 1, 0);
            s_produce(&b, "big", 1, 1025, 0);
            s_frame(&b, "", 0);
            s_frame(&b, "\xde\xad\xbe\xef\xff", 5);
            s_truncate(&b, "big", 100);
            break;
        case 9:
            s_produce(&b, "l", 20, 50, 0);
            s_consume(&b, "l", 3, 0, 1);
            s_consume(&b, "l", 0, 100000, 100);
            break;
        }
        s_save("request", seeds[i].name, &b);
        free(b.p);
    }
}

/* ---- log segments -------------------------------------------------------- */

enum { F_HEADER = 1, F_FRAMES = 2, F_INDEX = 4, F_CLEAN = 8, F_NOINDEX = 16, F_SEALED = 32 };

static int s_slurp(const char *path, bytes_t *b)
{
    long n = tu_file_size(path);
    if (n < 0)
        return -1;
    b->len = 0;
    uint8_t *tmp = malloc((size_t)n + 1);
    if (!tmp || tu_read_at(path, 0, tmp, (size_t)n) != 0) {
        free(tmp);
        return -1;
    }
    s_put(b, tmp, (size_t)n);
    free(tmp);
    return 0;
}

/* An input: flags, split, store body, index body. */
static void s_log_input(const char *name, unsigned flags, const bytes_t *store,
                        const bytes_t *index)
{
    bytes_t b = {0};
    uint8_t head[3] = {(uint8_t)flags, (uint8_t)(store->len & 0xff), (uint8_t)(store->len >> 8)};
    s_put(&b, head, 3);
    s_put(&b, store->p, store->len);
    if (index->len)
        s_put(&b, index->p, index->len);
    s_save("log_open", name, &b);
    free(b.p);
}

static void s_logs(void)
{
    /* A real segment, as the log core writes it (the fuzz target's config). */
    char *dir = tu_tempdir("gencorpus");
    seglog_config_t cfg;
    seglog_config_default(&cfg);
    cfg.max_store_bytes = 64u << 10;
    cfg.max_index_bytes = 4096;
    cfg.max_record_bytes = 4096;
    cfg.sync = SEGLOG_SYNC_NONE;
    seglog_log_t *log = NULL;
    if (!dir || seglog_log_open(dir, &cfg, &log) != 0) {
        fprintf(stderr, "cannot open a log\n");
        s_failed = 1;
        return;
    }
    for (int i = 0; i < 6; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "record-%d", i);
        seglog_log_append(log, v, (size_t)n, NULL);
    }
    struct iovec batch[3] = {{"b0", 2}, {"batch-1", 7}, {"", 0}};
    seglog_log_append_batch(log, batch, 3, NULL);
    seglog_log_close(log);
    seglog_log_destroy(&log);
    char *sp = tu_seg_path(dir, 0, ".store"), *ip = tu_seg_path(dir, 0, ".index");
    bytes_t store = {0}, index = {0}, none = {0};
    if (s_slurp(sp, &store) || s_slurp(ip, &index)) {
        fprintf(stderr, "cannot read the segment\n");
        s_failed = 1;
    } else {
        s_log_input("real", 0, &store, &index);
        s_log_input("real-clean", F_CLEAN, &store, &index);
        s_log_input("real-noindex", F_NOINDEX, &store, &none);
        bytes_t torn = store;
        torn.len -= 3;
        s_log_input("real-torn", 0, &torn, &index);
        bytes_t half = index;
        half.len /= 2;
        s_log_input("real-short-index", F_CLEAN, &store, &half);
        s_log_input("real-sealed", F_SEALED | F_CLEAN, &store, &index);
    }
    free(sp);
    free(ip);
    free(store.p);
    free(index.p);
    tu_rmrf(&dir);

    /* Synthetic: records as (length byte, payload); bit 7 set = more of the
     * same batch follows. */
    static const uint8_t recs[] = {5,   'h', 'e', 'l', 'l', 'o', 0x83, 'a', 'b', 'c', 0x81,
                                   'd', 2,   'e', 'f', 0,   4,   'l',  'a', 's', 't'};
    bytes_t body = {0}, empty = {0};
    s_put(&body, recs, sizeof recs);
    s_log_input("frames", F_FRAMES, &body, &empty);
    s_log_input("frames-index", F_FRAMES | F_INDEX, &body, &empty);
    s_log_input("frames-index-clean", F_FRAMES | F_INDEX | F_CLEAN, &body, &empty);
    bytes_t junk = {0};
    s_put(&junk, "\x01\x00\x00\x00\x20\x00\x00\x00\xff\xff", 10);
    s_log_input("frames-index-junk", F_FRAMES | F_INDEX | F_CLEAN, &body, &junk);
    bytes_t base = {0};
    s_put(&base, "\x00", 1);
    s_log_input("frames-sealed", F_FRAMES | F_INDEX | F_SEALED | F_CLEAN, &body, &base);
    bytes_t open_batch = {0}; /* a batch whose END frame never came */
    s_put(&open_batch, recs, sizeof recs);
    s_put(&open_batch, "\x82xy\x81z", 5);
    s_log_input("frames-unfinished-batch", F_FRAMES, &open_batch, &empty);
    free(open_batch.p);
    s_log_input("header-only", F_HEADER, &empty, &empty);
    s_log_input("header-garbage", F_HEADER, &junk, &junk);
    free(body.p);
    free(junk.p);
    free(base.p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    s_root = argv[1];
    char path[4096];
    snprintf(path, sizeof path, "%s/request", s_root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/log_open", s_root);
    mkdir(path, 0755);
    s_requests();
    s_logs();
    return s_failed;
}
