/* test_storage.c - disk errors reach the client as STORAGE with the errno
 * text, a failed fdatasync under sync=always acknowledges nothing (and the
 * batch is not in the log), and the server keeps serving. Faults come from
 * a VFS whose switches are atomics, so the test thread may flip them while
 * the server's workers use the log. */
#include "tclient.h"
#include "testutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zmq.h>

static atomic_int s_fail_write;    /* errno for pwritev, 0 = pass */
static atomic_int s_fail_sync;     /* errno for fdatasync, 0 = pass */
static atomic_int s_sync_failures; /* fdatasync calls failed so far */
static atomic_int s_fail_rename;   /* errno for rename, 0 = pass */
static atomic_int s_fail_dirsync;  /* errno for a directory fsync, 0 = pass */

static const seglog_vfs_t *P(void)
{
    return seglog_vfs_posix();
}

static int f_open(void *c, const char *p, int fl, mode_t m)
{
    (void)c;
    return P()->open(P()->ctx, p, fl, m);
}
static int f_close(void *c, int fd)
{
    (void)c;
    return P()->close(P()->ctx, fd);
}
static ssize_t f_preadv(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    return P()->preadv(P()->ctx, fd, v, n, off);
}
static ssize_t f_pwritev(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    int e = atomic_load(&s_fail_write);
    return e ? -e : P()->pwritev(P()->ctx, fd, v, n, off);
}
static int f_fdatasync(void *c, int fd)
{
    (void)c;
    int e = atomic_load(&s_fail_sync);
    if (e)
        atomic_fetch_add(&s_sync_failures, 1);
    return e ? -e : P()->fdatasync(P()->ctx, fd);
}
static int f_ftruncate(void *c, int fd, off_t len)
{
    (void)c;
    return P()->ftruncate(P()->ctx, fd, len);
}
static int f_fallocate(void *c, int fd, off_t len)
{
    (void)c;
    return P()->fallocate(P()->ctx, fd, len);
}
static int f_rename(void *c, const char *a, const char *b)
{
    (void)c;
    int e = atomic_load(&s_fail_rename);
    if (e)
        return -e;
    return P()->rename(P()->ctx, a, b);
}
static int f_unlink(void *c, const char *p)
{
    (void)c;
    return P()->unlink(P()->ctx, p);
}
static int f_fsync_dir(void *c, const char *d)
{
    (void)c;
    int e = atomic_load(&s_fail_dirsync);
    if (e)
        return -e;
    return P()->fsync_dir(P()->ctx, d);
}
static int f_fstat_size(void *c, int fd, off_t *sz)
{
    (void)c;
    return P()->fstat_size(P()->ctx, fd, sz);
}

static const seglog_vfs_t s_vfs = {
    NULL,        f_open,      f_close,  f_preadv, f_pwritev,   f_fdatasync,
    f_ftruncate, f_fallocate, f_rename, f_unlink, f_fsync_dir, f_fstat_size,
};

static ts_t *s_start(seglog_sync_t sync)
{
    atomic_store(&s_fail_write, 0);
    atomic_store(&s_fail_sync, 0);
    atomic_store(&s_fail_rename, 0);
    atomic_store(&s_fail_dirsync, 0);
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = sync;
    cfg.vfs = &s_vfs;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    return t;
}

static void s_expect_storage(Seglog__V1__Response *r, const char *errtext)
{
    assert_non_null(r);
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__STORAGE);
    if (!strstr(r->error->message, errtext))
        fail_msg("\"%s\" lacks \"%s\"", r->error->message, errtext);
}

/* Send a produce of one value with request id `id`, without waiting. */
static void s_send_produce(tc_t *c, const char *topic, uint64_t id, const char *value)
{
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = (uint8_t *)value;
    rec.value.len = strlen(value);
    Seglog__V1__Record *ptr = &rec;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = (char *)topic;
    p.n_records = 1;
    p.records = &ptr;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = id;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    assert_int_equal(tc_send(c, &req), 0);
}

/* Records [from, from + n) of topic read back as vals[0..n), and
 * vals[n] (if not NULL) is the only record that may follow. */
static void s_expect_records(tc_t *c, const char *topic, uint64_t from, size_t n,
                             const char *const *vals)
{
    Seglog__V1__Response *r = tc_consume(c, topic, from, 100, 0);
    assert_non_null(r);
    if (r->body_case != SEGLOG__V1__RESPONSE__BODY_CONSUME)
        fail_msg("consume failed: %s", r->error ? r->error->message : "?");
    size_t got = r->consume->n_records;
    if (got != n && !(got == n + 1 && vals[n]))
        fail_msg("%zu records from %" PRIu64 ", expected %zu", got, from, n);
    for (size_t i = 0; i < got; i++) {
        assert_int_equal(r->consume->records[i]->offset, from + i);
        assert_int_equal(r->consume->records[i]->value.len, strlen(vals[i]));
        assert_memory_equal(r->consume->records[i]->value.data, vals[i], strlen(vals[i]));
    }
    tc_free(&r);
}

static Seglog__V1__OffsetsResponse s_offsets(tc_t *c, const char *topic)
{
    Seglog__V1__Response *r = tc_offsets(c, topic);
    assert_non_null(r);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_OFFSETS);
    Seglog__V1__OffsetsResponse o = *r->offsets;
    tc_free(&r);
    return o;
}

/* The next event of kind `body` on exactly `topic` (others skipped); NULL
 * on timeout. Free with seglog__v1__event__free_unpacked. */
static Seglog__V1__Event *s_next_event(void *sub, const char *topic, int body)
{
    for (uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS; tc_now_ms() < deadline;) {
        zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 200) <= 0)
            continue;
        zmq_msg_t f[2];
        zmq_msg_init(&f[0]);
        zmq_msg_init(&f[1]);
        int ok = zmq_msg_recv(&f[0], sub, 0) >= 0 && zmq_msg_more(&f[0]) &&
                 zmq_msg_recv(&f[1], sub, 0) >= 0 && !zmq_msg_more(&f[1]);
        Seglog__V1__Event *ev = NULL;
        if (ok && zmq_msg_size(&f[0]) == strlen(topic) &&
            memcmp(zmq_msg_data(&f[0]), topic, strlen(topic)) == 0)
            ev = seglog__v1__event__unpack(NULL, zmq_msg_size(&f[1]), zmq_msg_data(&f[1]));
        zmq_msg_close(&f[0]);
        zmq_msg_close(&f[1]);
        assert_true(ok);
        if (ev && (int)ev->body_case == body)
            return ev;
        if (ev)
            seglog__v1__event__free_unpacked(ev, NULL);
    }
    return NULL;
}

/* sync=always, fdatasync failing with EIO, then ENOSPC: every produce in
 * flight when it fails (one group commit or several) gets STORAGE with the
 * errno text and is not in the log: the offsets are reused. Reads of the
 * acknowledged records work during the fault; the committed offset stays;
 * the PUB stream never carries a rolled-back record; appends resume once
 * the fault clears, without a restart; a restart finds exactly the
 * acknowledged records. */
static void test_failed_sync_acks_nothing(void **state)
{
    (void)state;
    ts_t *t = s_start(SEGLOG_SYNC_ALWAYS);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    void *sub = tc_raw_socket(ZMQ_SUB);
    assert_int_equal(zmq_connect(sub, seglog_server_pub_endpoint(t->srv)), 0);
    assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "disk", 4), 0);
    const char *acked[] = {"ok-0", "ok-1", "ok-2", NULL};
    Seglog__V1__Response *r = tc_produce_bytes(c, "disk", acked[0], 4);
    assert_int_equal(r->produce->offset, 0);
    tc_free(&r);
    /* The subscription is live once a heartbeat of the topic arrives. */
    Seglog__V1__Event *ev = s_next_event(sub, "disk", SEGLOG__V1__EVENT__BODY_HEARTBEAT);
    assert_non_null(ev);
    seglog__v1__event__free_unpacked(ev, NULL);
    const int errs[] = {EIO, ENOSPC};
    for (int k = 0; k < 2; k++) {
        uint64_t next = (uint64_t)k + 1;
        atomic_store(&s_fail_sync, errs[k]);
        for (uint64_t id = 1; id <= 5; id++)
            s_send_produce(c, "disk", id, "lost");
        for (uint64_t id = 1; id <= 5; id++) {
            r = tc_recv(c, TC_TIMEOUT_MS);
            assert_non_null(r);
            assert_int_equal(r->id, id);
            s_expect_storage(r, strerror(errs[k]));
            tc_free(&r);
        }
        /* Reads work during the fault; nothing was added or committed. */
        s_expect_records(c, "disk", 0, next, acked);
        Seglog__V1__OffsetsResponse o = s_offsets(c, "disk");
        assert_int_equal(o.next_offset, next);
        assert_int_equal(o.committed_offset, next);
        atomic_store(&s_fail_sync, 0);
        r = tc_produce_bytes(c, "disk", acked[next], 4);
        assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
        assert_int_equal(r->produce->offset, next); /* the rolled-back offset, reused */
        tc_free(&r);
        s_expect_records(c, "disk", 0, next + 1, acked);
    }
    /* The subscriber got the acknowledged records only, in order (offset
     * 0 may have gone out before the subscription was live). */
    ev = s_next_event(sub, "disk", SEGLOG__V1__EVENT__BODY_RECORD);
    assert_non_null(ev);
    uint64_t want = ev->record->offset == 0 ? 0 : 1;
    for (;;) {
        assert_int_equal(ev->record->offset, want);
        assert_int_equal(ev->record->value.len, 4);
        assert_memory_equal(ev->record->value.data, acked[want], 4);
        seglog__v1__event__free_unpacked(ev, NULL);
        if (++want == 3)
            break;
        ev = s_next_event(sub, "disk", SEGLOG__V1__EVENT__BODY_RECORD);
        assert_non_null(ev);
    }
    tc_raw_close(&sub);
    tc_destroy(&c);
    /* What the disk holds is what was acknowledged. */
    assert_int_equal(ts_restart(t), 0);
    c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    s_expect_records(c, "disk", 0, 3, acked);
    assert_int_equal(s_offsets(c, "disk").next_offset, 3);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* ENOSPC and EIO on write under each sync policy: the produce gets
 * STORAGE with the errno text, acknowledged records stay readable during
 * the fault, and appends resume once it clears, without a restart. Under
 * always the failed batch is not in the log; under none and interval its
 * outcome is unknown (PROTOCOL.md), but the acknowledged records are all
 * there, after a restart too. */
static void test_write_faults_every_policy(void **state)
{
    (void)state;
    const seglog_sync_t policies[] = {SEGLOG_SYNC_NONE, SEGLOG_SYNC_INTERVAL, SEGLOG_SYNC_ALWAYS};
    const int errs[] = {ENOSPC, EIO};
    const char *acked[] = {"a-0", "a-1", "a-2", NULL};
    const char *maybe[] = {"a-0", "a-1", "a-2", "failed"};
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < 2; k++) {
            ts_t *t = s_start(policies[p]);
            tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
            Seglog__V1__Response *r = tc_produce(c, "w", 3, acked);
            assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
            tc_free(&r);
            atomic_store(&s_fail_write, errs[k]);
            r = tc_produce_bytes(c, "w", "failed", 6);
            s_expect_storage(r, strerror(errs[k]));
            tc_free(&r);
            /* Under none and interval the failed batch may still be in
             * the write buffer, and readable. */
            int always = policies[p] == SEGLOG_SYNC_ALWAYS;
            s_expect_records(c, "w", 0, 3, always ? acked : maybe);
            atomic_store(&s_fail_write, 0);
            r = tc_produce_bytes(c, "w", "after", 5);
            assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
            uint64_t off = r->produce->offset;
            tc_free(&r);
            if (always)
                assert_int_equal(off, 3);
            else
                assert_true(off == 3 || off == 4);
            const char *after[] = {"after", NULL};
            s_expect_records(c, "w", off, 1, after);
            tc_destroy(&c);
            assert_int_equal(ts_restart(t), 0);
            c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
            const char *kept[] = {"a-0", "a-1", "a-2", "failed", "after", NULL};
            const char *cut[] = {"a-0", "a-1", "a-2", "after", NULL};
            s_expect_records(c, "w", 0, off + 1, off == 4 ? kept : cut);
            assert_int_equal(s_offsets(c, "w").next_offset, off + 1);
            tc_destroy(&c);
            ts_stop(&t, 1);
        }
}

/* sync=interval: a failing background fdatasync does not fail produces
 * (they are acknowledged at the write to the OS), but the committed
 * offset, and so publication, stops until a sync succeeds again. */
static void test_interval_sync_fault(void **state)
{
    (void)state;
    atomic_store(&s_fail_write, 0);
    atomic_store(&s_fail_sync, 0);
    atomic_store(&s_fail_rename, 0);
    atomic_store(&s_fail_dirsync, 0);
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_INTERVAL;
    cfg.sync_interval_ms = 20;
    cfg.vfs = &s_vfs;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *vals[] = {"i-0", "i-1", "i-2", "i-3", "i-4", NULL};
    Seglog__V1__Response *r = tc_produce(c, "iv", 2, vals);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (s_offsets(c, "iv").committed_offset < 2)
        assert_true(tc_now_ms() < deadline);
    atomic_store(&s_fail_sync, EIO);
    r = tc_produce(c, "iv", 3, vals + 2);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    assert_int_equal(r->produce->offset, 2);
    tc_free(&r);
    /* Two failed background syncs after the append: the committed offset
     * has not moved, and the records are readable. */
    int failures = atomic_load(&s_sync_failures);
    deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (atomic_load(&s_sync_failures) < failures + 2)
        assert_true(tc_now_ms() < deadline);
    Seglog__V1__OffsetsResponse o = s_offsets(c, "iv");
    assert_int_equal(o.next_offset, 5);
    assert_int_equal(o.committed_offset, 2);
    s_expect_records(c, "iv", 0, 5, vals);
    atomic_store(&s_fail_sync, 0);
    deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (s_offsets(c, "iv").committed_offset < 5)
        assert_true(tc_now_ms() < deadline);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

/* A write error (ENOSPC) while creating a topic or appending. */
static void test_write_errors(void **state)
{
    (void)state;
    ts_t *t = s_start(SEGLOG_SYNC_NONE);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    atomic_store(&s_fail_write, ENOSPC);
    Seglog__V1__Response *r = tc_produce_bytes(c, "full", "v", 1);
    s_expect_storage(r, strerror(ENOSPC));
    tc_free(&r);
    atomic_store(&s_fail_write, 0);
    /* The server still serves: other requests and, once the disk has room,
     * new topics. */
    r = tc_produce_bytes(c, "roomy", "v", 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    /* An append to an existing topic: the write reaches the disk at the
     * commit (flush), which fails. */
    atomic_store(&s_fail_write, ENOSPC);
    r = tc_produce_bytes(c, "roomy", "w", 1);
    s_expect_storage(r, strerror(ENOSPC));
    tc_free(&r);
    atomic_store(&s_fail_write, 0);
    /* Once the disk has room again the topic takes appends. (Whether the
     * failed batch was kept in the write buffer and written later is the
     * log core's policy under sync=none: PROTOCOL.md says the outcome of a
     * STORAGE error is unknown there.) */
    r = tc_produce_bytes(c, "roomy", "x", 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    uint64_t off = r->produce->offset;
    tc_free(&r);
    r = tc_consume(c, "roomy", off, 1, 0);
    assert_int_equal(r->consume->n_records, 1);
    assert_memory_equal(r->consume->records[0]->value.data, "x", 1);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

static int s_teardown(void **state)
{
    (void)state;
    tc_ctx_term();
    return 0;
}

static Seglog__V1__Response *s_delete(tc_t *c, const char *topic)
{
    Seglog__V1__DeleteTopicRequest d = SEGLOG__V1__DELETE_TOPIC_REQUEST__INIT;
    d.topic = (char *)topic;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 3;
    req.body_case = SEGLOG__V1__REQUEST__BODY_DELETE_TOPIC;
    req.delete_topic = &d;
    return tc_call(c, &req);
}

/* DeleteTopic on a failing disk: a failed rename leaves the topic whole
 * and serving (STORAGE); a failed fsync of the data directory reports
 * STORAGE, the topic is gone from the server; and a working disk deletes. */
static void test_delete_faults(void **state)
{
    (void)state;
    ts_t *t = s_start(SEGLOG_SYNC_ALWAYS);
    tc_t *c = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *v[2] = {"a", "b"};
    Seglog__V1__Response *r = tc_produce(c, "del", 2, v);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    r = tc_offsets(c, "del");
    uint64_t epoch = r->offsets->epoch;
    tc_free(&r);

    atomic_store(&s_fail_rename, EIO);
    r = s_delete(c, "del");
    s_expect_storage(r, "Input/output error");
    tc_free(&r);
    atomic_store(&s_fail_rename, 0);
    r = tc_consume(c, "del", 0, 10, 0); /* reopened: the same log */
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    assert_int_equal(r->consume->n_records, 2);
    tc_free(&r);
    r = tc_offsets(c, "del");
    assert_int_equal(r->offsets->epoch, epoch);
    tc_free(&r);
    r = tc_produce(c, "del", 2, v);
    assert_int_equal(r->produce->offset, 2);
    tc_free(&r);

    atomic_store(&s_fail_dirsync, EIO);
    r = s_delete(c, "del");
    s_expect_storage(r, "Input/output error");
    tc_free(&r);
    atomic_store(&s_fail_dirsync, 0);
    r = tc_offsets(c, "del");
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__UNKNOWN_TOPIC);
    tc_free(&r);

    r = tc_produce(c, "del", 1, v);
    assert_int_equal(r->produce->offset, 0);
    tc_free(&r);
    r = s_delete(c, "del");
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_DELETE_TOPIC);
    tc_free(&r);
    tc_destroy(&c);
    ts_stop(&t, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_sync_acks_nothing),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_write_faults_every_policy),
        cmocka_unit_test(test_interval_sync_fault),
        cmocka_unit_test(test_delete_faults),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
