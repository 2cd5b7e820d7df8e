/* test_visible.c - the visible end: a consume or offsets request never
 * shows a record that has not passed its acknowledgement point.
 *
 * Under --sync always a produce is acknowledged after its fdatasync, and a
 * failed fdatasync rolls the batch back and reuses its offsets. The test
 * holds an fdatasync inside the VFS (the records are already written to
 * the file) until a consume from another connection has read the store,
 * then fails it with EIO: the consume must not have returned the record
 * that was rolled back. No sleeps: the VFS says when the sync started,
 * and the consume's own read releases it. */
#include "tclient.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cv = PTHREAD_COND_INITIALIZER;
static int s_armed;           /* the next fdatasync waits for a read, then fails */
static int s_entered;         /* that fdatasync has started */
static unsigned long s_reads; /* preadv calls so far */

static const seglog_vfs_t *P(void)
{
    return seglog_vfs_posix();
}

static void s_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static ssize_t f_preadv(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    ssize_t r = P()->preadv(P()->ctx, fd, v, n, off);
    pthread_mutex_lock(&s_mu);
    s_reads++;
    pthread_cond_broadcast(&s_cv);
    pthread_mutex_unlock(&s_mu);
    return r;
}

static int f_fdatasync(void *c, int fd)
{
    (void)c;
    pthread_mutex_lock(&s_mu);
    if (!s_armed) {
        pthread_mutex_unlock(&s_mu);
        return P()->fdatasync(P()->ctx, fd);
    }
    s_armed = 0;
    s_entered = 1;
    unsigned long base = s_reads;
    pthread_cond_broadcast(&s_cv);
    struct timespec ts;
    s_deadline(&ts, TC_TIMEOUT_MS);
    while (s_reads == base && pthread_cond_timedwait(&s_cv, &s_mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&s_mu);
    return -EIO;
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
static ssize_t f_pwritev(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    return P()->pwritev(P()->ctx, fd, v, n, off);
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

static void s_send_consume(tc_t *c, const char *topic, uint64_t id, uint64_t offset)
{
    Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
    cr.topic = (char *)topic;
    cr.offset = offset;
    cr.max_records = 100;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = id;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &cr;
    assert_int_equal(tc_send(c, &req), 0);
}

static void s_wait_entered(void)
{
    struct timespec ts;
    s_deadline(&ts, TC_TIMEOUT_MS);
    pthread_mutex_lock(&s_mu);
    while (!s_entered && pthread_cond_timedwait(&s_cv, &s_mu, &ts) == 0)
        ;
    int ok = s_entered;
    pthread_mutex_unlock(&s_mu);
    assert_true(ok);
}

/* A consume served while the produce before it waits for its fdatasync
 * must not return that produce's record: the sync fails, the record is
 * rolled back and its offset goes to another record. */
static void test_consume_never_sees_rolled_back_record(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_ALWAYS;
    cfg.vfs = &s_vfs;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *a = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    tc_t *b = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *first[1] = {"acked"};
    Seglog__V1__Response *r = tc_produce(a, "vis", 1, first);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);

    pthread_mutex_lock(&s_mu);
    s_armed = 1;
    s_entered = 0;
    pthread_mutex_unlock(&s_mu);
    s_send_produce(a, "vis", 10, "doomed"); /* offset 1, written, its fdatasync held */
    s_wait_entered();
    s_send_consume(b, "vis", 20, 0); /* its read of the store ends the fdatasync, with EIO */

    r = tc_recv(a, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->id, 10);
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__STORAGE);
    tc_free(&r);
    r = tc_recv(b, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->id, 20);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_CONSUME);
    for (size_t i = 0; i < r->consume->n_records; i++)
        if (r->consume->records[i]->value.len == 6 &&
            memcmp(r->consume->records[i]->value.data, "doomed", 6) == 0)
            fail_msg("consume returned offset %llu, a record that was never acknowledged "
                     "and was then rolled back",
                     (unsigned long long)r->consume->records[i]->offset);
    assert_int_equal(r->consume->n_records, 1);
    assert_int_equal(r->consume->end_offset, 1);
    tc_free(&r);

    /* The offset is reused: the log says "reused", never "doomed". */
    const char *next[1] = {"reused"};
    r = tc_produce(a, "vis", 1, next);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    assert_int_equal(r->produce->offset, 1);
    tc_free(&r);
    r = tc_consume(b, "vis", 1, 10, 0);
    assert_int_equal(r->consume->n_records, 1);
    assert_memory_equal(r->consume->records[0]->value.data, "reused", 6);
    tc_free(&r);
    tc_destroy(&a);
    tc_destroy(&b);
    ts_stop(&t, 1);
}

/* The same hold, read by Offsets: next_offset is the visible end, not the
 * end of what was appended. */
static void test_offsets_stop_at_visible_end(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_ALWAYS;
    cfg.vfs = &s_vfs;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *a = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    tc_t *b = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *v[1] = {"x"};
    Seglog__V1__Response *r = tc_produce(a, "off", 1, v);
    tc_free(&r);
    pthread_mutex_lock(&s_mu);
    s_armed = 1;
    s_entered = 0;
    pthread_mutex_unlock(&s_mu);
    s_send_produce(a, "off", 10, "held");
    s_wait_entered();
    Seglog__V1__OffsetsRequest o = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    o.topic = "off";
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 21;
    req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    req.offsets = &o;
    assert_int_equal(tc_send(b, &req), 0);
    s_send_consume(b, "off", 22, 0); /* its read releases the fdatasync */
    r = tc_recv(a, TC_TIMEOUT_MS);
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__STORAGE);
    tc_free(&r);
    r = tc_recv(b, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->id, 21);
    assert_int_equal(r->offsets->next_offset, 1);
    assert_int_equal(r->offsets->committed_offset, 1);
    tc_free(&r);
    r = tc_recv(b, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(r->id, 22);
    assert_int_equal(r->consume->n_records, 1);
    tc_free(&r);
    tc_destroy(&a);
    tc_destroy(&b);
    ts_stop(&t, 1);
}

/* Under interval a produce is acknowledged at the write to the OS, and is
 * visible from then on, while the PUB stream (committed_offset) waits for
 * the fdatasync: no subscriber, an interval of a minute. */
static void test_interval_visible_at_ack(void **state)
{
    (void)state;
    seglog_server_config_t cfg;
    ts_config(&cfg);
    cfg.sync = SEGLOG_SYNC_INTERVAL;
    cfg.sync_interval_ms = 60000;
    ts_t *t = ts_start(&cfg);
    assert_non_null(t);
    tc_t *a = tc_new(seglog_server_endpoint(t->srv), TC_DEALER);
    const char *v[2] = {"p", "q"};
    Seglog__V1__Response *r = tc_produce(a, "iv", 2, v);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    r = tc_consume(a, "iv", 0, 10, 0);
    assert_int_equal(r->consume->n_records, 2);
    assert_int_equal(r->consume->end_offset, 2);
    tc_free(&r);
    r = tc_offsets(a, "iv");
    assert_int_equal(r->offsets->next_offset, 2);
    assert_int_equal(r->offsets->committed_offset, 0); /* not fdatasynced yet */
    tc_free(&r);
    tc_destroy(&a);
    ts_stop(&t, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consume_never_sees_rolled_back_record),
        cmocka_unit_test(test_offsets_stop_at_visible_end),
        cmocka_unit_test(test_interval_visible_at_ack),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tc_ctx_term();
    return rc;
}
