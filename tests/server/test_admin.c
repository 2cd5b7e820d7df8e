/* test_admin.c - Info, ListTopics and DeleteTopic on a real server:
 * Info reports the limits the server enforces (the batch limit checked at
 * its exact boundary); a rejected produce creates no topic; a deleted
 * topic is gone (requests, list, disk, PUB stream), frees its
 * --max-topics slot and comes back empty with a new epoch; and a delete
 * survives a kill -9 right after its reply (seglogd as a child process),
 * as does a delete a crash interrupted after its rename. */
#include "srv.h"
#include "tclient.h"
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>
#include <cmocka.h>

static void s_expect_error(Seglog__V1__Response *r, int code)
{
    assert_non_null(r);
    if (tc_error_code(r) != code)
        fail_msg("expected ErrorCode %d, got %d (%s)", code, tc_error_code(r),
                 r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR ? r->error->message : "no error");
}

static Seglog__V1__Response *s_info(tc_t *c)
{
    Seglog__V1__InfoRequest i = SEGLOG__V1__INFO_REQUEST__INIT;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 5;
    req.body_case = SEGLOG__V1__REQUEST__BODY_INFO;
    req.info = &i;
    return tc_call(c, &req);
}

static Seglog__V1__Response *s_list(tc_t *c)
{
    Seglog__V1__ListTopicsRequest l = SEGLOG__V1__LIST_TOPICS_REQUEST__INIT;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 6;
    req.body_case = SEGLOG__V1__REQUEST__BODY_LIST_TOPICS;
    req.list_topics = &l;
    Seglog__V1__Response *r = tc_call(c, &req);
    assert_non_null(r);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_LIST_TOPICS);
    return r;
}

static Seglog__V1__Response *s_delete(tc_t *c, const char *topic)
{
    Seglog__V1__DeleteTopicRequest d = SEGLOG__V1__DELETE_TOPIC_REQUEST__INIT;
    d.topic = (char *)topic;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 7;
    req.body_case = SEGLOG__V1__REQUEST__BODY_DELETE_TOPIC;
    req.delete_topic = &d;
    return tc_call(c, &req);
}

static void s_delete_ok(tc_t *c, const char *topic)
{
    Seglog__V1__Response *r = s_delete(c, topic);
    assert_non_null(r);
    if (r->body_case != SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC)
        fail_msg("delete %s: %s", topic, tc_error_code(r) > 0 ? r->error->message : "no reply");
    assert_int_equal(r->id, 7);
    tc_free(&r);
}

static uint64_t s_produce1(tc_t *c, const char *topic, const char *value)
{
    const char *v[1] = {value};
    Seglog__V1__Response *r = tc_produce(c, topic, 1, v);
    assert_non_null(r);
    if (r->body_case != SEGLOG__V1__RESPONSE__BODY_PRODUCE)
        fail_msg("produce to %s: %s", topic, tc_error_code(r) > 0 ? r->error->message : "?");
    uint64_t off = r->produce->offset;
    tc_free(&r);
    return off;
}

static uint64_t s_epoch(tc_t *c, const char *topic)
{
    Seglog__V1__Response *r = tc_offsets(c, topic);
    assert_non_null(r);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
    uint64_t e = r->offsets->epoch;
    tc_free(&r);
    return e;
}

/* A produce of n records of `len` value bytes each, timestamp 1 (so the
 * stored size is known: 1 + varint(len) + len + 2). */
static Seglog__V1__Response *s_produce_sized(tc_t *c, const char *topic, size_t n, size_t len)
{
    uint8_t *buf = calloc(1, len);
    Seglog__V1__Record *recs = calloc(n, sizeof *recs);
    Seglog__V1__Record **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        seglog__v1__record__init(&recs[i]);
        recs[i].value.data = buf;
        recs[i].value.len = len;
        recs[i].timestamp_ms = 1;
        ptrs[i] = &recs[i];
    }
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = (char *)topic;
    p.n_records = n;
    p.records = ptrs;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 9;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    Seglog__V1__Response *r = tc_call(c, &req);
    free(ptrs);
    free(recs);
    free(buf);
    return r;
}

static int s_dir_has(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    int e = tu_exists(p);
    free(p);
    return e;
}

/* Info reports what the server enforces; max_batch_bytes at its exact
 * boundary; a batch one byte over it creates no topic. */
static void test_info_and_batch_limit(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.max_record_bytes = 16384;
    cfg.segment_bytes = 65536;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);

    Seglog__V1__Response *r = s_info(c);
    assert_non_null(r);
    assert_int_equal(r->id, 5);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_INFO);
    Seglog__V1__InfoResponse *i = r->info;
    assert_true(strlen(i->version) > 0);
    assert_int_equal(i->max_record_bytes, 16384);
    assert_int_equal(i->max_message_bytes, seglog_server_max_message_bytes(&cfg));
    assert_int_equal(i->max_message_bytes, 4 * 16384 + 65536);
    /* the index of a 64 KiB segment: 8 KiB, 1024 entries */
    assert_int_equal(i->max_batch_records, 1024);
    assert_int_equal(i->max_batch_bytes, 65536 - 32);
    assert_int_equal(i->max_consume_bytes, 1u << 20);
    assert_int_equal(i->max_in_flight, 1000);
    assert_string_equal(i->sync, "none");
    assert_int_equal(i->segment_bytes, 65536);
    uint64_t limit = i->max_batch_bytes;
    tc_free(&r);

    /* 4 records of 16363 value bytes: stored 16368 each, + 8 framing =
     * 16376; 4 x 16376 = 65504 = the limit exactly. */
    assert_int_equal(4 * (16363 + 5 + 8), limit);
    r = s_produce_sized(c, "over", 4, 16364); /* 4 bytes over */
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__BATCH_TOO_LARGE);
    tc_free(&r);
    assert_false(s_dir_has(t->dir, "over"));
    r = s_produce_sized(c, "exact", 4, 16363);
    if (r->body_case != SEGLOG__V1__RESPONSE__BODY_PRODUCE)
        fail_msg("a batch of exactly max_batch_bytes was refused: %s", r->error->message);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* Item 4 of issue 11: a refused produce changes nothing: no directory,
 * no --max-topics slot, not listed. */
static void test_rejected_produce_creates_nothing(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.max_record_bytes = 16384;
    cfg.segment_bytes = 65536;
    cfg.max_topics = 1;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);

    Seglog__V1__Response *r = s_produce_sized(c, "big", 5, 16000); /* 80 KB > a segment */
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__BATCH_TOO_LARGE);
    tc_free(&r);
    r = s_produce_sized(c, "big2", 1, 16385); /* one byte over max_record_bytes */
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__RECORD_TOO_LARGE);
    tc_free(&r);
    r = s_produce_sized(c, "many", 1025, 1); /* more records than a segment's index holds */
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__BATCH_TOO_LARGE);
    tc_free(&r);
    assert_false(s_dir_has(t->dir, "big"));
    assert_false(s_dir_has(t->dir, "big2"));
    assert_false(s_dir_has(t->dir, "many"));
    r = tc_offsets(c, "big");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 0);
    tc_free(&r);
    /* The one --max-topics slot is still free. */
    assert_int_equal(s_produce1(c, "small", "x"), 0);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_list_topics(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    Seglog__V1__Response *r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 0);
    tc_free(&r);
    s_produce1(c, "b", "1");
    s_produce1(c, "b", "2");
    s_produce1(c, "c", "1");
    s_produce1(c, "", "1"); /* "default" */
    s_produce1(c, "a-1", "1");
    r = tc_truncate(c, "b", 0);
    tc_free(&r);
    r = s_list(c);
    Seglog__V1__ListTopicsResponse *l = r->list_topics;
    assert_int_equal(l->n_topics, 4);
    const char *names[] = {"a-1", "b", "c", "default"};
    const uint64_t next[] = {1, 2, 1, 1};
    for (size_t k = 0; k < 4; k++) {
        assert_string_equal(l->topics[k]->name, names[k]);
        assert_int_equal(l->topics[k]->next_offset, next[k]);
        assert_int_equal(l->topics[k]->lowest_offset, 0);
        assert_int_equal(l->topics[k]->epoch, s_epoch(c, names[k]));
    }
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static int s_count_entries(const char *dir)
{
    int n = 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    FILE *f = popen(cmd, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        n++;
    if (f)
        pclose(f);
    return n;
}

static void test_delete_topic(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    for (int k = 0; k < 3; k++)
        s_produce1(c, "gone", "old");
    s_produce1(c, "kept", "x");
    uint64_t epoch = s_epoch(c, "gone");
    assert_true(s_dir_has(t->dir, "gone"));

    s_delete_ok(c, "gone");
    /* Nothing left on disk: no directory, no tombstone. */
    assert_false(s_dir_has(t->dir, "gone"));
    assert_int_equal(s_count_entries(t->dir), 1); /* kept */
    Seglog__V1__Response *r = tc_offsets(c, "gone");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    r = tc_consume(c, "gone", 0, 10, 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    r = s_delete(c, "gone");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    r = s_delete(c, "bad/name");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__INVALID_TOPIC);
    tc_free(&r);
    r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 1);
    assert_string_equal(r->list_topics->topics[0]->name, "kept");
    tc_free(&r);

    /* A produce recreates it: empty, offset 0, a new epoch. */
    assert_int_equal(s_produce1(c, "gone", "new"), 0);
    assert_true(s_epoch(c, "gone") != epoch);
    r = tc_consume(c, "gone", 0, 10, 0);
    assert_int_equal(r->consume->n_records, 1);
    assert_memory_equal(r->consume->records[0]->value.data, "new", 3);
    tc_free(&r);

    /* "" is "default", as everywhere. */
    s_produce1(c, "", "d");
    s_delete_ok(c, "");
    r = tc_offsets(c, "default");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);

    /* Deletes and recreates reuse the table and the publisher's slots. */
    for (int k = 0; k < 50; k++) {
        char name[32];
        snprintf(name, sizeof name, "churn-%d", k % 3);
        s_produce1(c, name, "v");
        s_delete_ok(c, name);
    }
    r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 2);
    tc_free(&r);
    /* And the survivors survive a restart. */
    assert_int_equal(ts_restart(t), 0);
    tc_destroy(&c);
    c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 2);
    assert_string_equal(r->list_topics->topics[0]->name, "gone");
    assert_int_equal(r->list_topics->topics[0]->next_offset, 1);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_delete_frees_topic_slot(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.max_topics = 2;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce1(c, "a", "1");
    s_produce1(c, "b", "1");
    const char *v[1] = {"1"};
    Seglog__V1__Response *r = tc_produce(c, "c", 1, v);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__RESOURCE_EXHAUSTED);
    tc_free(&r);
    s_delete_ok(c, "a");
    assert_int_equal(s_produce1(c, "c", "1"), 0);
    r = tc_produce(c, "a", 1, v);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__RESOURCE_EXHAUSTED);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* One [topic][Event] message on sub; 1, or 0 on timeout. */
static int s_recv_event(void *sub, int timeout_ms, char *topic, size_t cap,
                        Seglog__V1__Event **ev)
{
    zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    int n = zmq_recv(sub, topic, cap - 1, 0);
    assert_true(n >= 0 && (size_t)n < cap);
    topic[n] = 0;
    zmq_msg_t f;
    zmq_msg_init(&f);
    assert_true(zmq_msg_recv(&f, sub, 0) >= 0);
    *ev = seglog__v1__event__unpack(NULL, zmq_msg_size(&f), zmq_msg_data(&f));
    zmq_msg_close(&f);
    assert_non_null(*ev);
    return 1;
}

/* After the delete reply nothing of the old log is published: the next
 * messages on the topic are the new log's (its epoch, its offset 0). */
static void test_delete_stops_publishing(void **state)
{
    (void)state;
    ts_t *t = ts_start(NULL);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_produce1(c, "pt", "old");
    uint64_t old_epoch = s_epoch(c, "pt");
    void *sub = tc_raw_socket(ZMQ_SUB);
    assert_int_equal(zmq_connect(sub, seglog_server_pub_endpoint(t->srv)), 0);
    assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "pt", 2), 0);
    /* Live once a heartbeat of the old log arrives. */
    char topic[256];
    Seglog__V1__Event *ev = NULL;
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    int live = 0;
    while (!live && tc_now_ms() < deadline && s_recv_event(sub, 1000, topic, sizeof topic, &ev)) {
        live = strcmp(topic, "pt") == 0 && ev->body_case == SEGLOG__V1__EVENT__BODY_HEARTBEAT &&
               ev->heartbeat->epoch == old_epoch;
        seglog__v1__event__free_unpacked(ev, NULL);
    }
    assert_true(live);
    for (int k = 0; k < 20; k++) /* records of the old log, still in flight or not */
        s_produce1(c, "pt", "old");
    s_delete_ok(c, "pt");
    /* Drain what was sent before the reply: it is old-epoch; anything
     * after the reply must not be. A fresh produce makes the boundary. */
    assert_int_equal(s_produce1(c, "pt", "new"), 0);
    uint64_t new_epoch = s_epoch(c, "pt");
    assert_true(new_epoch != old_epoch);
    int got_new = 0, after_new = 0;
    deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (after_new < 3 && tc_now_ms() < deadline &&
           s_recv_event(sub, 1000, topic, sizeof topic, &ev)) {
        if (ev->body_case == SEGLOG__V1__EVENT__BODY_RECORD && ev->record->value.len == 3 &&
            memcmp(ev->record->value.data, "new", 3) == 0) {
            assert_int_equal(ev->record->offset, 0);
            got_new = 1;
        } else if (got_new) {
            /* after the new log's first record: only the new log */
            assert_int_equal(ev->body_case, SEGLOG__V1__EVENT__BODY_HEARTBEAT);
            assert_int_equal(ev->heartbeat->epoch, new_epoch);
            after_new++;
        }
        seglog__v1__event__free_unpacked(ev, NULL);
    }
    assert_true(got_new);
    assert_int_equal(after_new, 3);
    tc_raw_close(&sub);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* Deletes while another connection produces, consumes and asks offsets
 * on the same topic: every reply is a success or UNKNOWN_TOPIC (or, for a
 * consume racing a recreate, OFFSET_OUT_OF_RANGE); never INTERNAL or
 * STORAGE; consumes stay dense; the server stays up. */
typedef struct {
    const char *endpoint;
    atomic_int replies;
    atomic_int stop;
    int bad; /* an unexpected reply; the first one's code */
} load_t;

static void *s_loader(void *arg)
{
    load_t *l = arg;
    tc_t *c = tc_new(l->endpoint, TC_DEALER);
    for (int i = 0; !atomic_load(&l->stop) && i < 100000; i++) {
        Seglog__V1__Response *r;
        const char *v[1] = {"x"};
        if (i % 3 == 0)
            r = tc_produce(c, "hot", 1, v);
        else if (i % 3 == 1)
            r = tc_consume(c, "hot", 0, 50, 0);
        else
            r = tc_offsets(c, "hot");
        int code = tc_error_code(r);
        if (code == 0 && r->body_case == SEGLOG__V1__RESPONSE__BODY_CONSUME)
            for (size_t k = 0; k < r->consume->n_records; k++)
                if (r->consume->records[k]->offset != k)
                    code = -2;
        if (code != 0 && code != SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC &&
            code != SEGLOG__V1__ERROR_CODE__OFFSET_OUT_OF_RANGE && !l->bad)
            l->bad = code ? code : -3;
        tc_free(&r);
        atomic_fetch_add(&l->replies, 1);
    }
    tc_destroy(&c);
    return NULL;
}

static void test_delete_under_load(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_ALWAYS;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    load_t l = {.endpoint = seglog_server_endpoint(t->srv)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_loader, &l), 0);
    int deleted = 0;
    uint64_t deadline = tc_now_ms() + 60000;
    for (int k = 1; k <= 30 && tc_now_ms() < deadline; k++) {
        while (atomic_load(&l.replies) < k * 30 && tc_now_ms() < deadline)
            tc_free(&(Seglog__V1__Response *){s_list(c)}); /* a round trip, not a sleep */
        Seglog__V1__Response *r = s_delete(c, "hot");
        assert_non_null(r);
        if (r->body_case == SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC)
            deleted++;
        else
            assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
        tc_free(&r);
    }
    atomic_store(&l.stop, 1);
    pthread_join(th, NULL);
    if (l.bad)
        fail_msg("unexpected reply during deletes: code %d", l.bad);
    assert_true(deleted > 0);
    assert_true(atomic_load(&l.replies) >= 30 * 30);
    s_produce1(c, "after", "v"); /* still serving */
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* kill -9 right after the delete reply: the topic stays deleted. A crash
 * after the rename but before the removal (a tombstone on disk) is
 * finished at the next start. */
static void test_delete_survives_kill9(void **state)
{
    (void)state;
    srv_t s = {0};
    assert_int_equal(srv_start(&s, NULL), 0);
    tc_t *c = tc_new(s.endpoint, TC_DEALER);
    for (int k = 0; k < 10; k++)
        s_produce1(c, "doomed", "v");
    s_produce1(c, "kept", "v");
    s_delete_ok(c, "doomed");
    assert_int_equal(srv_stop(&s, SIGKILL), 0);
    tc_destroy(&c);

    assert_int_equal(srv_relaunch(&s), 0);
    c = tc_new(s.endpoint, TC_DEALER);
    Seglog__V1__Response *r = tc_offsets(c, "doomed");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);
    r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 1);
    tc_free(&r);
    tc_destroy(&c);
    assert_int_equal(srv_stop(&s, SIGKILL), 0);

    /* A tombstone as a crash between the rename and the removal leaves it. */
    char *data = tu_path(s.dir, "data");
    char *kept = tu_path(data, "kept");
    char *tomb = tu_path(data, "kept~deleted~00000000000000ab");
    assert_int_equal(rename(kept, tomb), 0);
    assert_int_equal(srv_relaunch(&s), 0);
    c = tc_new(s.endpoint, TC_DEALER);
    r = s_list(c);
    assert_int_equal(r->list_topics->n_topics, 0);
    tc_free(&r);
    assert_false(tu_exists(tomb));
    assert_false(tu_exists(kept));
    tc_destroy(&c);
    free(data);
    free(kept);
    free(tomb);
    assert_int_equal(srv_destroy(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_and_batch_limit),
        cmocka_unit_test(test_rejected_produce_creates_nothing),
        cmocka_unit_test(test_list_topics),
        cmocka_unit_test(test_delete_topic),
        cmocka_unit_test(test_delete_frees_topic_slot),
        cmocka_unit_test(test_delete_stops_publishing),
        cmocka_unit_test(test_delete_under_load),
        cmocka_unit_test(test_delete_survives_kill9),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tc_ctx_term();
    return rc;
}
