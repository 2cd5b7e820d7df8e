/* test_retention.c - topic settings (TopicConfig) and retention on an
 * in-process server over real sockets: set/get/unset, bad input changes
 * nothing, settings survive a restart, retention.bytes under load with a
 * consumer reading (nothing at or after the retained start is lost; the
 * stores stay within the limit plus one segment), retention.ms by record
 * time, the server-wide default, and the active segment is never removed. */
#include "tclient.h"
#include "testutil.h"

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define SEG 16384 /* --segment-bytes of these tests */

static ts_t *s_start(uint64_t ret_bytes, uint64_t ret_ms)
{
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.segment_bytes = SEG;
    cfg.max_record_bytes = 1024;
    cfg.retention_check_ms = 20;
    cfg.retention_bytes = ret_bytes;
    cfg.retention_ms = ret_ms;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    return t;
}

/* A TopicConfig request with n KEY, VALUE pairs (varargs). */
static Seglog__V1__Response *s_config(tc_t *c, const char *topic, int n, ...)
{
    Seglog__V1__ConfigEntry e[8], *ep[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        seglog__v1__config_entry__init(&e[i]);
        e[i].key = va_arg(ap, char *);
        e[i].value = va_arg(ap, char *);
        ep[i] = &e[i];
    }
    va_end(ap);
    Seglog__V1__TopicConfigRequest q = SEGLOG__V1__TOPIC_CONFIG_REQUEST__INIT;
    q.topic = (char *)topic;
    q.n_set = (size_t)n;
    q.set = ep;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 9;
    req.body_case = SEGLOG__V1__REQUEST__BODY_TOPIC_CONFIG;
    req.topic_config = &q;
    return tc_call(c, &req);
}

/* value and effective of key in a TopicConfigResponse. */
static void s_expect(Seglog__V1__Response *r, const char *key, const char *value,
                     const char *effective)
{
    assert_non_null(r);
    if (r->body_case != SEGLOG__V1__RESPONSE__BODY_TOPIC_CONFIG)
        fail_msg("not a topic_config reply: %s",
                 r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR ? r->error->message : "?");
    for (size_t i = 0; i < r->topic_config->n_entries; i++) {
        Seglog__V1__ConfigEntry *e = r->topic_config->entries[i];
        if (strcmp(e->key, key) == 0) {
            assert_string_equal(e->value, value);
            assert_string_equal(e->effective, effective);
            return;
        }
    }
    fail_msg("no %s in the reply", key);
}

static void s_expect_error(Seglog__V1__Response *r, int code, const char *needle)
{
    assert_non_null(r);
    if (tc_error_code(r) != code)
        fail_msg("expected ErrorCode %d, got %d", code, tc_error_code(r));
    if (needle && !strstr(r->error->message, needle))
        fail_msg("message \"%s\" does not say \"%s\"", r->error->message, needle);
}

static void s_value(char *buf, size_t cap, uint64_t off)
{
    snprintf(buf, cap, "r%020" PRIu64 "-%0400d", off, 0);
}

/* Produce n records in batches of 10 with values s_value(offset). */
static void s_load(tc_t *c, const char *topic, uint64_t *next, size_t n, uint64_t ts_ms)
{
    for (size_t i = 0; i < n; i += 10) {
        Seglog__V1__Record rec[10], *rp[10];
        char vals[10][512];
        for (int k = 0; k < 10; k++) {
            seglog__v1__record__init(&rec[k]);
            s_value(vals[k], sizeof vals[k], *next + (uint64_t)k);
            rec[k].value.data = (uint8_t *)vals[k];
            rec[k].value.len = strlen(vals[k]);
            rec[k].timestamp_ms = ts_ms;
            rp[k] = &rec[k];
        }
        Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
        p.topic = (char *)topic;
        p.n_records = 10;
        p.records = rp;
        Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
        req.id = 1;
        req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
        req.produce = &p;
        Seglog__V1__Response *r = tc_call(c, &req);
        assert_int_equal(tc_error_code(r), 0);
        assert_int_equal(r->produce->offset, *next);
        tc_free(&r);
        *next += 10;
    }
}

static uint64_t s_lowest(tc_t *c, const char *topic)
{
    Seglog__V1__Response *r = tc_offsets(c, topic);
    assert_int_equal(tc_error_code(r), 0);
    uint64_t l = r->offsets->lowest_offset;
    tc_free(&r);
    return l;
}

/* Sum of the topic's .store sizes. */
static uint64_t s_store_bytes(const ts_t *t, const char *topic)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", t->dir, topic);
    DIR *d = opendir(dir);
    assert_non_null(d);
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 6, ".store") != 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0)
            sum += (uint64_t)st.st_size;
    }
    closedir(d);
    return sum;
}

/* Every record from `from` to `end` is there and is its own. */
static void s_read_all(tc_t *c, const char *topic, uint64_t from, uint64_t end)
{
    uint64_t off = from;
    while (off < end) {
        Seglog__V1__Response *r = tc_consume(c, topic, off, 1000, 0);
        assert_int_equal(tc_error_code(r), 0);
        assert_true(r->consume->n_records > 0);
        for (size_t i = 0; i < r->consume->n_records; i++) {
            char want[512];
            s_value(want, sizeof want, off);
            assert_int_equal(r->consume->records[i]->offset, off);
            assert_int_equal(r->consume->records[i]->value.len, strlen(want));
            assert_memory_equal(r->consume->records[i]->value.data, want, strlen(want));
            off++;
        }
        tc_free(&r);
    }
}

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait (bounded: 10 s) until the topic's lowest offset reaches at least
 * `at_least`; returns it. */
static uint64_t s_wait_lowest(tc_t *c, const char *topic, uint64_t at_least)
{
    uint64_t l = 0;
    for (int i = 0; i < 1000 && (l = s_lowest(c, topic)) < at_least; i++)
        usleep(10000); /* the retention pass runs every 20 ms */
    return l;
}

static void test_config_set_get_persist(void **state)
{
    (void)state;
    ts_t *t = s_start(0, 0);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    uint64_t next = 0;
    s_load(c, "cf", &next, 10, 0);
    Seglog__V1__Response *r = s_config(c, "cf", 0);
    s_expect(r, "retention.bytes", "", "-1");
    s_expect(r, "retention.ms", "", "-1");
    tc_free(&r);
    r = s_config(c, "cf", 2, "retention.ms", "86400000", "retention.bytes", "-1");
    s_expect(r, "retention.ms", "86400000", "86400000");
    s_expect(r, "retention.bytes", "-1", "-1");
    tc_free(&r);
    tc_destroy(&c);
    assert_int_equal(ts_restart(t), 0);
    c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    r = s_config(c, "cf", 0);
    s_expect(r, "retention.ms", "86400000", "86400000");
    s_expect(r, "retention.bytes", "-1", "-1");
    tc_free(&r);
    r = s_config(c, "cf", 1, "retention.ms", ""); /* back to the default */
    s_expect(r, "retention.ms", "", "-1");
    s_expect(r, "retention.bytes", "-1", "-1");
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_config_bad_input(void **state)
{
    (void)state;
    ts_t *t = s_start(0, 5000);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    uint64_t next = 0;
    s_load(c, "cf", &next, 10, 0);
    Seglog__V1__Response *r = s_config(c, "cf", 1, "retention.bytes", "1000");
    tc_free(&r);
    static const char *const bad[][3] = {
        {"retention.time", "5", "unknown setting \"retention.time\""},
        {"retention.ms", "0", "retention.ms: expected a whole number >= 1"},
        {"retention.ms", "-2", "got \"-2\""},
        {"retention.ms", "1.5", "got \"1.5\""},
        {"retention.bytes", "10K", "retention.bytes: expected"},
        {"retention.bytes", "99999999999999999999", "retention.bytes: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* A good entry with a bad one: nothing changes. */
        const char *other =
            strcmp(bad[i][0], "retention.bytes") == 0 ? "retention.ms" : "retention.bytes";
        r = s_config(c, "cf", 2, other, "2000", bad[i][0], bad[i][1]);
        s_expect_error(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, bad[i][2]);
        tc_free(&r);
    }
    r = s_config(c, "cf", 2, "retention.ms", "5", "retention.ms", "6");
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__BAD_REQUEST, "given twice");
    tc_free(&r);
    r = s_config(c, "nope", 0);
    s_expect_error(r, SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC, NULL);
    tc_free(&r);
    r = s_config(c, "cf", 0);
    s_expect(r, "retention.bytes", "1000", "1000");
    s_expect(r, "retention.ms", "", "5000"); /* the server default */
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

typedef struct reader {
    const char *endpoint;
    _Atomic uint64_t stop_at; /* UINT64_MAX while the load runs */
    uint64_t read, jumps;
    int failed;
    char why[256];
} reader_t;

/* Read from 0 to stop_at, in order; on OFFSET_TRUNCATED jump to the new
 * lowest offset (which must be past the position). Every record must be
 * its own. */
static void *s_reader(void *arg)
{
    reader_t *rd = arg;
    tc_t *c = tc_new(rd->endpoint, TC_DEALER);
    uint64_t off = 0;
    while (!rd->failed && off < atomic_load(&rd->stop_at)) {
        Seglog__V1__Response *r = tc_consume(c, "load", off, 200, 0);
        if (!r) {
            snprintf(rd->why, sizeof rd->why, "no reply at %" PRIu64, off);
            rd->failed = 1;
        } else if (tc_error_code(r) == SEGLOG__V1__ERROR_CODE__OFFSET_TRUNCATED) {
            Seglog__V1__Response *o = tc_offsets(c, "load");
            if (!o || tc_error_code(o) || o->offsets->lowest_offset <= off) {
                snprintf(rd->why, sizeof rd->why, "truncated at %" PRIu64 " but lowest is below",
                         off);
                rd->failed = 1;
            } else {
                off = o->offsets->lowest_offset;
                rd->jumps++;
            }
            tc_free(&o);
        } else if (tc_error_code(r)) {
            snprintf(rd->why, sizeof rd->why, "error %d at %" PRIu64, tc_error_code(r), off);
            rd->failed = 1;
        } else {
            for (size_t i = 0; i < r->consume->n_records && !rd->failed; i++) {
                char want[512];
                s_value(want, sizeof want, off);
                if (r->consume->records[i]->offset != off ||
                    r->consume->records[i]->value.len != strlen(want) ||
                    memcmp(r->consume->records[i]->value.data, want, strlen(want)) != 0) {
                    snprintf(rd->why, sizeof rd->why, "wrong record at %" PRIu64, off);
                    rd->failed = 1;
                }
                off++;
                rd->read++;
            }
        }
        tc_free(&r);
    }
    tc_destroy(&c);
    return NULL;
}

static void test_retention_bytes_under_load(void **state)
{
    (void)state;
    const uint64_t limit = 4 * SEG;
    ts_t *t = s_start(0, 0);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    uint64_t next = 0;
    s_load(c, "load", &next, 10, 0);
    char lim[32];
    snprintf(lim, sizeof lim, "%" PRIu64, limit);
    Seglog__V1__Response *r = s_config(c, "load", 1, "retention.bytes", lim);
    s_expect(r, "retention.bytes", lim, lim);
    tc_free(&r);
    reader_t rd = {.endpoint = seglog_server_endpoint(t->srv)};
    atomic_store(&rd.stop_at, UINT64_MAX);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_reader, &rd), 0);
    /* A late reader starts at 0 when the front is long gone. */
    reader_t late = {.endpoint = rd.endpoint};
    atomic_store(&late.stop_at, UINT64_MAX);
    pthread_t th2;
    uint64_t peak = 0;
    for (int round = 0; round < 40; round++) { /* ~1.2 MiB: about 75 segments */
        s_load(c, "load", &next, 70, 0);
        uint64_t b = s_store_bytes(t, "load");
        peak = b > peak ? b : peak;
        if (round == 20) {
            s_wait_lowest(c, "load", 1);
            assert_int_equal(pthread_create(&th2, NULL, s_reader, &late), 0);
        }
    }
    atomic_store(&rd.stop_at, next);
    atomic_store(&late.stop_at, next);
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    if (rd.failed)
        fail_msg("reader: %s", rd.why);
    if (late.failed)
        fail_msg("late reader: %s", late.why);
    assert_true(rd.jumps > 0 || rd.read == next); /* a reader may keep up */
    assert_true(late.jumps > 0);                  /* OFFSET_TRUNCATED, then the retained start */
    /* Once the pass ran, the stores hold at least the limit and at most the
     * limit plus one segment. */
    uint64_t bytes = UINT64_MAX;
    for (int i = 0; i < 1000 && (bytes = s_store_bytes(t, "load")) > limit + SEG; i++)
        usleep(10000);
    print_message("retention.bytes %" PRIu64 ": stores %" PRIu64 " bytes after the load (peak "
                  "%" PRIu64 " during it), readers read %" PRIu64 " and %" PRIu64
                  " records, jumped %" PRIu64 " and %" PRIu64 " times\n",
                  limit, bytes, peak, rd.read, late.read, rd.jumps, late.jumps);
    assert_true(bytes <= limit + SEG);
    assert_true(bytes >= limit);
    uint64_t lowest = s_lowest(c, "load");
    assert_true(lowest > 0);
    s_read_all(c, "load", lowest, next); /* nothing at or after the retained start is lost */
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static void test_retention_ms_and_default(void **state)
{
    (void)state;
    /* Server default: 1 MiB for every topic; "keep" opts out with -1. */
    ts_t *t = s_start(1u << 20, 0);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    uint64_t next = 0, knext = 0;
    uint64_t old = s_now_ms() - 3600 * 1000; /* an hour ago */
    s_load(c, "aged", &next, 200, old);      /* several segments of old records */
    uint64_t first_new = next;
    s_load(c, "aged", &next, 20, 0);         /* stamped now by the server */
    s_load(c, "keep", &knext, 200, old);
    Seglog__V1__Response *r = s_config(c, "keep", 2, "retention.bytes", "-1", "retention.ms",
                                       "-1");
    tc_free(&r);
    r = s_config(c, "aged", 1, "retention.ms", "60000");
    s_expect(r, "retention.ms", "60000", "60000");
    s_expect(r, "retention.bytes", "", "1048576");
    tc_free(&r);
    uint64_t lowest = s_wait_lowest(c, "aged", 1);
    assert_true(lowest > 0);
    assert_true(lowest <= first_new); /* nothing recent went */
    s_read_all(c, "aged", lowest, next);
    assert_int_equal(s_lowest(c, "keep"), 0);
    /* Everything old and a limit of 1 ms: all but the active segment go,
     * and what is left still reads. */
    r = s_config(c, "keep", 1, "retention.ms", "1");
    tc_free(&r);
    lowest = s_wait_lowest(c, "keep", 1);
    assert_true(lowest > 0 && lowest < knext);
    s_read_all(c, "keep", lowest, knext);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_set_get_persist),
        cmocka_unit_test(test_config_bad_input),
        cmocka_unit_test(test_retention_bytes_under_load),
        cmocka_unit_test(test_retention_ms_and_default),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tc_ctx_term();
    return rc;
}
