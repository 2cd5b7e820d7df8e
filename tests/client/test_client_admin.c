/* test_client_admin.c - the server's limits as the client learns them
 * (Info), the produces it refuses before sending, and the topic admin
 * calls (list, delete), against seglogd as a child process. */
#include "seglog/client.h"
#include "srv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define EXPECT_RC(rc, want, msg)                                                                   \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (want))                                                                         \
            fail_msg("%s: got %d (%s: %s), want %d (%s)", #rc, rc_, seglog_client_strerror(rc_),   \
                     (msg), (want), seglog_client_strerror(want));                                 \
    } while (0)
#define OK(c, call) EXPECT_RC(call, 0, seglog_client_errmsg(c))

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 4K records: the largest message the server takes is 4 x 4K + 64K. */
static const char *const s_args[] = {"--sync", "none", "--max-record-bytes", "4K", NULL};

static int s_setup(void **state)
{
    srv_fx_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    *state = w;
    if (srv_start(&w->srv, s_args) != 0)
        return -1;
    seglog_client_options_t o = {.timeout_ms = 3000, .retries = 2};
    return seglog_client_connect(w->srv.endpoint, w->srv.pub_endpoint, &o, &w->c) ? -1 : 0;
}

static int s_teardown(void **state)
{
    srv_fx_t *w = *state;
    if (!w)
        return 0;
    seglog_producer_destroy(&w->p);
    seglog_client_destroy(&w->c);
    int rc = srv_destroy(&w->srv);
    free(w);
    return rc;
}

static void test_info(void **state)
{
    srv_fx_t *w = *state;
    seglog_server_info_t in;
    OK(w->c, seglog_client_info(w->c, &in));
    assert_true(strlen(in.version) > 0);
    assert_int_equal(in.max_record_bytes, 4096);
    assert_int_equal(in.max_message_bytes, 4 * 4096 + 65536);
    assert_int_equal(in.max_batch_records, 10000);
    assert_string_equal(in.sync, "none");
    assert_true(in.segment_bytes > 0);
    assert_true(in.max_in_flight > 0);
}

/* A record over the limit is refused by the client at once, with the
 * limit in the message; nothing reaches the server. */
static void test_record_too_large_refused(void **state)
{
    srv_fx_t *w = *state;
    seglog_client_t *c = w->c;
    static char big[5000];
    int64_t t0 = s_now_ms();
    EXPECT_RC(seglog_client_produce(c, "lim", big, sizeof big, NULL),
              SEGLOG_CLIENT_E_RECORD_TOO_LARGE, seglog_client_errmsg(c));
    assert_non_null(strstr(seglog_client_errmsg(c), "5000 bytes"));
    assert_non_null(strstr(seglog_client_errmsg(c), "at most 4096"));
    assert_non_null(strstr(seglog_client_errmsg(c), w->srv.endpoint));
    /* key + value counts */
    seglog_record_t r = {.value = (const uint8_t *)big, .value_len = 4000,
                         .key = (const uint8_t *)big, .key_len = 97};
    EXPECT_RC(seglog_client_produce_batch(c, "lim", &r, 1, NULL), SEGLOG_CLIENT_E_RECORD_TOO_LARGE,
              seglog_client_errmsg(c));
    r.key_len = 96;
    OK(c, seglog_client_produce_batch(c, "lim", &r, 1, NULL));
    assert_true(s_now_ms() - t0 < 2000);
}

static void s_count_ack(void *arg, const seglog_ack_t *a)
{
    int *n = arg;
    (*n)++;
    assert_int_equal(a->err, 0);
}

static void test_producer_refuses(void **state)
{
    srv_fx_t *w = *state;
    int acks = 0;
    OK(w->c, seglog_producer_new(w->c, 4, s_count_ack, &acks, &w->p));
    static char big[5000];
    seglog_record_t r = {.value = (const uint8_t *)big, .value_len = sizeof big};
    uint64_t seq = 0;
    EXPECT_RC(seglog_producer_send(w->p, "lim", &r, 1, &seq), SEGLOG_CLIENT_E_RECORD_TOO_LARGE,
              seglog_producer_errmsg(w->p));
    assert_int_equal(seq, 0);
    assert_non_null(strstr(seglog_producer_errmsg(w->p), "at most 4096"));
    r.value_len = 10;
    EXPECT_RC(seglog_producer_send(w->p, "lim", &r, 1, &seq), 0, seglog_producer_errmsg(w->p));
    assert_int_equal(seq, 1);
    EXPECT_RC(seglog_producer_flush(w->p, 10000), 0, seglog_producer_errmsg(w->p));
    assert_int_equal(acks, 1);
}

/* A batch above the server's message limit: the server would drop the
 * connection (and the old client retried for seconds, then blamed the
 * server). The client refuses it at once. */
static void test_message_too_large_refused(void **state)
{
    srv_fx_t *w = *state;
    seglog_client_t *c = w->c;
    static char big[4000];
    seglog_record_t recs[30];
    for (int i = 0; i < 30; i++)
        recs[i] = (seglog_record_t){.value = (const uint8_t *)big, .value_len = sizeof big};
    int64_t t0 = s_now_ms();
    EXPECT_RC(seglog_client_produce_batch(c, "lim", recs, 30, NULL),
              SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE, seglog_client_errmsg(c));
    assert_true(s_now_ms() - t0 < 1000);
    assert_non_null(strstr(seglog_client_errmsg(c), "at most 81920 bytes"));
    /* The connection is fine. */
    OK(c, seglog_client_produce_batch(c, "lim", recs, 2, NULL));
}

static void test_list_and_delete(void **state)
{
    srv_fx_t *w = *state;
    seglog_client_t *c = w->c;
    OK(c, seglog_client_produce(c, "zeta", "z", 1, NULL));
    OK(c, seglog_client_produce(c, "alpha", "a", 1, NULL));
    OK(c, seglog_client_produce(c, "alpha", "b", 1, NULL));
    const seglog_topic_info_t *t;
    size_t n;
    OK(c, seglog_client_list_topics(c, &t, &n));
    int seen_alpha = 0, seen_zeta = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            assert_true(strcmp(t[i - 1].name, t[i].name) < 0); /* name order */
        if (strcmp(t[i].name, "alpha") == 0) {
            seen_alpha = 1;
            assert_int_equal(t[i].next_offset, 2);
            assert_int_equal(t[i].lowest_offset, 0);
        }
        if (strcmp(t[i].name, "zeta") == 0)
            seen_zeta = 1;
    }
    assert_true(seen_alpha && seen_zeta);
    seglog_offsets_t before;
    OK(c, seglog_client_offsets(c, "alpha", &before));

    OK(c, seglog_client_delete_topic(c, "alpha"));
    seglog_offsets_t o;
    EXPECT_RC(seglog_client_offsets(c, "alpha", &o), SEGLOG_CLIENT_E_UNKNOWN_TOPIC, "");
    EXPECT_RC(seglog_client_delete_topic(c, "alpha"), SEGLOG_CLIENT_E_UNKNOWN_TOPIC, "");
    EXPECT_RC(seglog_client_delete_topic(c, ""), SEGLOG_CLIENT_E_INVAL, "");
    EXPECT_RC(seglog_client_delete_topic(c, NULL), SEGLOG_CLIENT_E_INVAL, "");
    EXPECT_RC(seglog_client_delete_topic(c, "bad/name"), SEGLOG_CLIENT_E_INVALID_TOPIC, "");
    OK(c, seglog_client_list_topics(c, &t, &n));
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(t[i].name, "alpha");

    /* A new log, with a new epoch. */
    uint64_t off;
    OK(c, seglog_client_produce(c, "alpha", "new", 3, &off));
    assert_int_equal(off, 0);
    OK(c, seglog_client_offsets(c, "alpha", &o));
    assert_true(o.epoch != before.epoch);
}

/* Consumer groups through the C library: commit, fetch, the errors. */
static void test_group_offsets(void **state)
{
    srv_fx_t *w = *state;
    seglog_client_t *c = w->c;
    int found = -1;
    uint64_t off = 99;
    const char *md = NULL;
    OK(c, seglog_client_produce(c, "gt", "x", 1, NULL));
    EXPECT_RC(seglog_client_fetch_offset(c, "cg", "gt", &found, &off, &md),
              SEGLOG_CLIENT_E_UNKNOWN_GROUP, "");
    assert_non_null(strstr(seglog_client_errmsg(c), "never committed"));
    OK(c, seglog_client_commit_offset(c, "cg", "gt", 1, "meta"));
    OK(c, seglog_client_fetch_offset(c, "cg", "gt", &found, &off, &md));
    assert_int_equal(found, 1);
    assert_int_equal(off, 1);
    assert_string_equal(md, "meta");
    OK(c, seglog_client_commit_offset(c, "cg", "gt", 0, NULL));
    OK(c, seglog_client_fetch_offset(c, "cg", "gt", &found, &off, &md));
    assert_int_equal(found, 1);
    assert_int_equal(off, 0);
    assert_string_equal(md, "");
    OK(c, seglog_client_produce(c, "other", "y", 1, NULL));
    OK(c, seglog_client_fetch_offset(c, "cg", "other", &found, &off, &md));
    assert_int_equal(found, 0);
    char big[SEGLOG_GROUP_METADATA_MAX + 2];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    EXPECT_RC(seglog_client_commit_offset(c, "cg", "gt", 1, big), SEGLOG_CLIENT_E_BAD_REQUEST,
              "");
    EXPECT_RC(seglog_client_commit_offset(c, "", "gt", 1, NULL), SEGLOG_CLIENT_E_BAD_REQUEST, "");
    EXPECT_RC(seglog_client_commit_offset(c, "cg", "missing", 1, NULL),
              SEGLOG_CLIENT_E_UNKNOWN_TOPIC, "");
    EXPECT_RC(seglog_client_produce(c, SEGLOG_GROUPS_TOPIC, "f", 1, NULL),
              SEGLOG_CLIENT_E_INVALID_TOPIC, "");
    const seglog_topic_info_t *t;
    size_t n;
    OK(c, seglog_client_list_topics(c, &t, &n));
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(t[i].name, SEGLOG_GROUPS_TOPIC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_record_too_large_refused),
        cmocka_unit_test(test_producer_refuses),
        cmocka_unit_test(test_message_too_large_refused),
        cmocka_unit_test(test_list_and_delete),
        cmocka_unit_test(test_group_offsets),
    };
    return cmocka_run_group_tests_name("client_admin", tests, s_setup, s_teardown);
}
