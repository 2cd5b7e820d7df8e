/* test_cluster_zkloss.c - the cluster layer when ZooKeeper goes away: it
 * logs what it waits for, drops its lease, and recovers by itself when
 * ZooKeeper comes back; a stalled owner loses its lease at once. Each test
 * runs its own ZooKeeper (zkproc.c). */
#include "ctest_util.h"
#include "zkproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define SESSION_MS 1500
#define WAIT_MS 20000

typedef struct {
    tnode_t *n[2];
    int64_t until;
} pair_t;

static int c_ready(void *arg)
{
    pair_t *p = arg;
    int ctl = 0;
    for (int i = 0; i < 2; i++) {
        if (!sl_cluster_registered(p->n[i]->c) || !sl_cluster_lease_ok(p->n[i]->c))
            return 0;
        ctl += sl_cluster_is_controller(p->n[i]->c);
    }
    return ctl == 1 &&
           sl_cluster_controller_id(p->n[0]->c) == sl_cluster_controller_id(p->n[1]->c);
}

static int c_down(void *arg)
{
    pair_t *p = arg;
    for (int i = 0; i < 2; i++)
        if (p->n[i]->down < 1 || sl_cluster_lease_ok(p->n[i]->c))
            return 0;
    return ct_log_seen("waiting for zookeeper hosts=");
}

/* The outage itself: how long ZooKeeper stays away is the test's choice. */
static int c_time(void *arg)
{
    pair_t *p = arg;
    return sl_zk_now_ms() >= p->until;
}

static int c_recovered(void *arg)
{
    pair_t *p = arg;
    if (!c_ready(p))
        return 0;
    for (int i = 0; i < 2; i++) {
        if (p->n[i]->up < 1 && p->n[i]->fenced < 1)
            return 0; /* the state is up before its event is delivered */
        sl_cl_node_t nodes[4];
        int n = 0;
        if (sl_cluster_nodes(p->n[i]->c, nodes, 4, &n) < 0 || n != 2)
            return 0;
    }
    return 1;
}

static void test_zookeeper_restart(void **state)
{
    (void) state;
    ct_log_capture();
    zkproc_t *zk = zkproc_start(100);
    assert_non_null(zk);
    char hosts[128];
    snprintf(hosts, sizeof hosts, "%s/deep/er", zkproc_hosts(zk)); /* chroot made for us */
    tnode_t a, b;
    assert_int_equal(tn_start(&a, hosts, 1, SESSION_MS), 0);
    assert_int_equal(tn_start(&b, hosts, 2, SESSION_MS), 0);
    pair_t p = {{&a, &b}, 0};
    assert_true(ct_until(p.n, 2, c_ready, &p, WAIT_MS));
    sl_cl_topic_t before, after;
    int created;
    assert_int_equal(sl_cluster_topic_create(a.c, "keep", 2, &before, &created), 0);

    /* ZooKeeper dies: both notice, lose their lease, and say what they
     * wait for, over an outage longer than the session timeout. */
    ct_log_clear();
    assert_int_equal(zkproc_stop(zk), 0);
    assert_true(ct_until(p.n, 2, c_down, &p, WAIT_MS));
    p.until = sl_zk_now_ms() + SESSION_MS + 1000;
    ct_until(p.n, 2, c_time, &p, WAIT_MS);
    assert_int_equal(sl_cluster_topic_get(a.c, "keep", 0, &after), SL_CL_ENOTCONN);

    /* It comes back (same port, same data): everything recovers alone. */
    assert_int_equal(zkproc_restart(zk), 0);
    assert_true(ct_until(p.n, 2, c_recovered, &p, WAIT_MS));
    assert_true(ct_log_seen("zookeeper connected hosts="));
    assert_int_equal(sl_cluster_topic_get(b.c, "keep", 0, &after), 0);
    assert_memory_equal(after.replicas, before.replicas, sizeof before.replicas);
    assert_true(sl_cl_has(after.state.isr, after.state.n_isr, after.state.leader));
    /* Either the sessions survived (UP) or they expired and each node was
     * fenced before it registered again. */
    for (int i = 0; i < 2; i++) {
        fprintf(stderr, "node %d: up=%d fenced=%d registered=%d\n", (int) p.n[i]->id,
                p.n[i]->up, p.n[i]->fenced, p.n[i]->registered);
        assert_true(p.n[i]->up >= 1 || p.n[i]->fenced >= 1);
        assert_int_equal(p.n[i]->fenced_while_registered, 0);
        /* One REGISTERED per session, however often it reconnected. */
        assert_int_equal(p.n[i]->registered, 1 + p.n[i]->fenced);
    }
    tn_stop(&a);
    tn_stop(&b);
    zkproc_destroy(&zk);
}

static int c_lease(void *arg)
{
    return sl_cluster_lease_ok(((tnode_t *) arg)->c);
}

static void test_stalled_owner_loses_lease(void **state)
{
    (void) state;
    zkproc_t *zk = zkproc_start(100);
    assert_non_null(zk);
    tnode_t a;
    tnode_t *one[] = {&a};
    assert_int_equal(tn_start(&a, zkproc_hosts(zk), 1, SESSION_MS), 0);
    assert_true(ct_until(one, 1, c_lease, &a, WAIT_MS));
    /* The owner stalls (as under SIGSTOP) past 2/3 of the session timeout:
     * without running anything, it knows at once that it may have been
     * replaced, though ZooKeeper's own threads kept the session alive. */
    struct timespec stall = {SESSION_MS / 1000, (SESSION_MS % 1000) * 1000000L};
    nanosleep(&stall, NULL);
    assert_false(sl_cluster_lease_ok(a.c));
    assert_true(sl_cluster_registered(a.c));
    /* Running again renews it, same session. */
    assert_true(ct_until(one, 1, c_lease, &a, WAIT_MS));
    assert_int_equal(a.fenced, 0);
    tn_stop(&a);
    zkproc_destroy(&zk);
}

static int c_registered(void *arg)
{
    return sl_cluster_registered(((tnode_t *) arg)->c);
}

static int c_waiting(void *arg)
{
    (void) arg;
    return ct_log_seen("waiting for zookeeper hosts=");
}

static int c_is_down(void *arg)
{
    tnode_t *n = arg;
    return n->down >= 1;
}

/* A node started before ZooKeeper says what it waits for and registers
 * when ZooKeeper comes; destroying a node while ZooKeeper is down returns
 * promptly. */
static void test_start_before_zookeeper(void **state)
{
    (void) state;
    ct_log_capture();
    ct_log_clear();
    zkproc_t *zk = zkproc_start(100);
    assert_non_null(zk);
    assert_int_equal(zkproc_stop(zk), 0); /* its port and data dir stay ours */
    tnode_t a;
    tnode_t *one[] = {&a};
    assert_int_equal(tn_start(&a, zkproc_hosts(zk), 1, SESSION_MS), 0);
    assert_true(ct_until(one, 1, c_waiting, NULL, WAIT_MS));
    assert_false(sl_cluster_registered(a.c));
    assert_int_equal(zkproc_restart(zk), 0);
    assert_true(ct_until(one, 1, c_registered, &a, WAIT_MS));

    assert_int_equal(zkproc_stop(zk), 0);
    assert_true(ct_until(one, 1, c_is_down, &a, WAIT_MS));
    int64_t t0 = sl_zk_now_ms();
    tn_stop(&a);
    assert_true(sl_zk_now_ms() - t0 < SESSION_MS);
    zkproc_destroy(&zk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zookeeper_restart),
        cmocka_unit_test(test_stalled_owner_loses_lease),
        cmocka_unit_test(test_start_before_zookeeper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
