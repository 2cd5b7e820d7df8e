/*
 * fuzz_request.c - the request handler: bytes in, response out.
 *
 * Each input is a short session of Request frames served by a synchronous
 * worker (sl_worker_handle: the worker thread's decode -> serve -> commit
 * -> encode path, without sockets) against a topic registry in a fresh
 * temporary data directory, so an input replays the same way every time.
 *
 * Input layout: frames back to back, each a 2-byte little-endian length
 * and that many bytes; a length that runs past the end takes the rest.
 * At most MAX_FRAMES frames, so a session can produce and then consume.
 *
 * Checked for every frame, beyond "no crash, no leak, no UB":
 *   - the reply is a Response that protobuf-c decodes, with its body set;
 *   - if protobuf-c decodes the request, the reply carries its id;
 *   - an Error's message is printable ASCII;
 *   - a produce reply counts the records sent; a consume reply's records
 *     have increasing offsets from the requested one, below next_offset;
 *   - the hand-written produce decoder agrees with protobuf-c on the
 *     result, the reason of an error and every decoded field.
 */
#include "codec.h"
#include "mem.h"
#include "slog.h"
#include "stats.h"
#include "testutil.h"
#include "topics.h"
#include "worker.h"

#include "seglog/v1/seglog.pb-c.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES       16
#define MAX_RECORD_BYTES 1024u
#define SEGMENT_BYTES    8192u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed check: print it and abort, which libFuzzer reports as a crash
 * (and saves the input). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_request: check failed at %s:%d: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static sl_stats_t s_stats;

/* Both request decoders on one frame must agree (codec.c). */
static void s_check_decoders(const uint8_t *b, size_t len)
{
    sl_arena_t *a1 = NULL, *a2 = NULL;
    CHECK(sl_arena_new(1u << 20, &a1) == 0 && sl_arena_new(1u << 20, &a2) == 0);
    sl_request_t r1, r2;
    const char *w1 = NULL, *w2 = NULL;
    int rc1 = sl_codec_decode_request(a1, b, len, &r1, &w1);
    int rc2 = sl_codec_decode_request_pb(a2, b, len, &r2, &w2);
    CHECK(rc1 == rc2);
    CHECK(r1.id == r2.id);
    if (rc1) {
        CHECK(strcmp(w1, w2) == 0);
    } else {
        CHECK(r1.type == r2.type && r1.topic_len == r2.topic_len);
        CHECK(memcmp(r1.topic, r2.topic, r1.topic_len + 1) == 0);
        CHECK(r1.nrecords == r2.nrecords && r1.producer_id == r2.producer_id &&
              r1.sequence == r2.sequence);
        for (size_t i = 0; i < r1.nrecords; i++) {
            const sl_record_t *x = &r1.records[i], *y = &r2.records[i];
            CHECK(x->value_len == y->value_len && x->key_len == y->key_len &&
                  x->timestamp_ms == y->timestamp_ms);
            CHECK(x->value_len == 0 || memcmp(x->value, y->value, x->value_len) == 0);
            CHECK(x->key_len == 0 || memcmp(x->key, y->key, x->key_len) == 0);
        }
        /* The routing hint must find every produce the decoder finds (a
         * miss would only cost a hop, but means the scanner is wrong). */
        if (r1.type == SL_REQ_PRODUCE)
            CHECK(sl_codec_is_produce(b, len));
    }
    sl_arena_destroy(&a1);
    sl_arena_destroy(&a2);
}
static int s_verbose; /* FUZZ_VERBOSE=1: print each reply, for triage */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s_verbose = getenv("FUZZ_VERBOSE") != NULL;
    sl_log_set_level(s_verbose ? SL_LOG_INFO : -1); /* otherwise noise */
    return 0;
}

/* The oracle for one request/reply pair. */
static void s_check_reply(const uint8_t *req, size_t req_len, const void *reply, size_t reply_len)
{
    Seglog__V1__Response *r = seglog__v1__response__unpack(NULL, reply_len, reply);
    CHECK(r != NULL);
    CHECK(r->body_case != SEGLOG__V1__RESPONSE__BODY__NOT_SET);
    Seglog__V1__Request *q = seglog__v1__request__unpack(NULL, req_len, req);
    if (s_verbose)
        fprintf(stderr, "request %zu bytes (%s) -> response body %d%s%s\n", req_len,
                q ? "decodes" : "junk", (int)r->body_case,
                r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR ? ": " : "",
                r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR ? r->error->message : "");
    if (q)
        CHECK(r->id == q->id);
    switch (r->body_case) {
    case SEGLOG__V1__RESPONSE__BODY_ERROR:
        CHECK(r->error->code != SEGLOG__V1__ERROR_CODE__ERROR_CODE_UNSPECIFIED);
        for (const char *p = r->error->message; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f);
        break;
    case SEGLOG__V1__RESPONSE__BODY_PRODUCE:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_PRODUCE);
        CHECK(r->produce->count == q->produce->n_records);
        break;
    case SEGLOG__V1__RESPONSE__BODY_CONSUME: {
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_CONSUME);
        const Seglog__V1__ConsumeResponse *c = r->consume;
        uint64_t expect = q->consume->offset;
        for (size_t i = 0; i < c->n_records; i++, expect++)
            CHECK(c->records[i]->offset == expect);
        CHECK(c->next_offset == expect);
        CHECK(c->lowest_offset <= c->end_offset);
        CHECK(c->next_offset <= c->end_offset);
        uint32_t max = q->consume->max_records ? q->consume->max_records : 1;
        CHECK(c->n_records <= max);
        break;
    }
    case SEGLOG__V1__RESPONSE__BODY_OFFSETS:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_OFFSETS);
        CHECK(r->offsets->lowest_offset <= r->offsets->next_offset);
        CHECK(r->offsets->committed_offset <= r->offsets->next_offset);
        break;
    case SEGLOG__V1__RESPONSE__BODY_TRUNCATE:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_TRUNCATE);
        break;
    case SEGLOG__V1__RESPONSE__BODY_INFO:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_INFO);
        CHECK(r->info->max_batch_records <= 10000);
        break;
    case SEGLOG__V1__RESPONSE__BODY_LIST_TOPICS:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_LIST_TOPICS);
        for (size_t i = 0; i < r->list_topics->n_topics; i++) {
            const Seglog__V1__TopicInfo *t = r->list_topics->topics[i];
            CHECK(t->name[0] != '\0');
            CHECK(t->lowest_offset <= t->next_offset);
            CHECK(i == 0 || strcmp(r->list_topics->topics[i - 1]->name, t->name) < 0);
        }
        break;
    case SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_DELETE_TOPIC);
        break;
    case SEGLOG__V1__RESPONSE__BODY_METADATA:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_METADATA);
        break;
    case SEGLOG__V1__RESPONSE__BODY_CREATE_TOPIC:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_CREATE_TOPIC);
        CHECK(r->create_topic->replicas == 1); /* a standalone server */
        CHECK(q->create_topic->replicas <= 1);
        break;
    case SEGLOG__V1__RESPONSE__BODY_INIT_PRODUCER_ID:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_INIT_PRODUCER_ID);
        CHECK(r->init_producer_id->producer_id != 0);
        break;
    case SEGLOG__V1__RESPONSE__BODY_COMMIT_OFFSET:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_COMMIT_OFFSET);
        break;
    case SEGLOG__V1__RESPONSE__BODY_FETCH_OFFSET:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_FETCH_OFFSET);
        break;
    case SEGLOG__V1__RESPONSE__BODY_OFFSET_FOR_TIME:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_OFFSET_FOR_TIME);
        break;
    case SEGLOG__V1__RESPONSE__BODY_TOPIC_CONFIG:
        CHECK(q && q->body_case == SEGLOG__V1__REQUEST__BODY_TOPIC_CONFIG);
        CHECK(r->topic_config->n_entries == 2);
        break;
    default: /* fetch and offset_for_leader_epoch: the replication socket's only */
        CHECK(!"unknown response body");
    }
    seglog__v1__request__free_unpacked(q, NULL);
    seglog__v1__response__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *dir = tu_tempdir("fuzzreq");
    CHECK(dir != NULL);
    sl_topics_config_t tc = {.data_dir = dir, .max_topics = 4};
    /* As seglog_server_new configures a topic's log, scaled down. */
    seglog_config_default(&tc.log);
    tc.log.max_store_bytes = SEGMENT_BYTES;
    tc.log.max_index_bytes = 4096;
    tc.log.max_record_bytes = MAX_RECORD_BYTES + 32;
    tc.log.sync = SEGLOG_SYNC_NONE;
    sl_topics_t *topics = NULL;
    CHECK(sl_topics_new(&tc, &topics) == 0);
    sl_worker_config_t wc = {
        .topics = topics,
        .max_record_bytes = MAX_RECORD_BYTES,
        .max_consume_bytes = 1u << 20,
        .arena_limit = 4 * (4 * MAX_RECORD_BYTES + (64u << 10)) + (1u << 20),
        .stats = &s_stats,
        .sync = SEGLOG_SYNC_NONE, /* as tc.log.sync */
    };
    sl_worker_t *w = NULL;
    CHECK(sl_worker_new_sync(&wc, &w) == 0);

    size_t pos = 0;
    for (int n = 0; n < MAX_FRAMES && pos < size; n++) {
        size_t len = size - pos;
        const uint8_t *frame = data + pos;
        if (len >= 2) {
            size_t want = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
            frame += 2;
            len -= 2;
            if (want < len)
                len = want;
        }
        /* A heap copy of exactly len bytes, so ASan sees any overread. */
        uint8_t *copy = malloc(len ? len : 1);
        CHECK(copy != NULL);
        memcpy(copy, frame, len);
        s_check_decoders(copy, len);
        const void *reply;
        size_t reply_len;
        CHECK(sl_worker_handle(w, copy, len, &reply, &reply_len) == 0);
        s_check_reply(copy, len, reply, reply_len);
        free(copy);
        pos = (size_t)(frame - data) + len;
    }

    sl_worker_destroy(&w); /* before the logs close: it caches iterators */
    CHECK(sl_topics_close_all(topics) == 0);
    sl_topics_destroy(&topics);
    tu_rmrf(&dir);
    return 0;
}
