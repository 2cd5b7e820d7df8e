/* test_cluster_ctl.c - the cluster layer against a real ZooKeeper
 * (zkproc.c): the controller. Leadership moves only within the ISR, with
 * epoch bumps, and a controller whose epoch moved on is refused.
 * Every test works under its own chroot on one server. */
#include "ctest_util.h"
#include "zkproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SESSION_MS 2000
#define WAIT_MS 15000


/* ---- controller failover ---- */

static void test_failover_within_isr(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t5");
    tnode_t n1, n2, n3;
    tnode_t *all[] = {&n1, &n2, &n3};
    nodeset_t s = {all, 3};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    sl_cl_topic_t t, t2;
    int created;
    assert_int_equal(sl_cluster_topic_create(n1.c, "fo", 3, &t, &created), 0);
    int32_t L = t.replicas[0], X = t.replicas[1], Y = t.replicas[2];
    tnode_t *nl = ct_node(all, 3, L), *nx = ct_node(all, 3, X), *ny = ct_node(all, 3, Y);
    /* The leader dropped Y from the ISR (it lagged). */
    int32_t isr_lx[] = {L, X};
    assert_int_equal(sl_cluster_isr_update(nl->c, "fo", 1, isr_lx, 2, NULL), 0);
    /* "fo2": led by X, L and Y in sync. */
    assert_int_equal(sl_cluster_topic_create(n1.c, "fo2", 3, &t2, &created), 0);
    sl_cl_state_t st2 = {.leader = X, .leader_epoch = 1, .n_isr = 3, .isr = {X, L, Y}};
    assert_int_equal(sl_cluster_state_cas(n1.c, "fo2", t2.state_version, &st2, NULL), 0);

    /* L dies: X (in the ISR) leads "fo" at epoch 2; Y (alive, not in the
     * ISR) does not. "fo2" keeps X at epoch 1 and loses L from its ISR. */
    tn_stop(nl);
    tnode_t *xy[] = {nx, ny};
    want_t w = {.reader = ny, .topic = "fo", .leader = X, .epoch = 2};
    assert_true(ct_until(xy, 2, c_leader, &w, WAIT_MS));
    assert_int_equal(w.t.state.n_isr, 1);
    assert_int_equal(w.t.state.isr[0], X);
    tnode_t *ctl = ct_controller(&(nodeset_t){xy, 2});
    assert_non_null(ctl);
    assert_int_equal(w.t.state.controller_epoch, sl_cluster_controller_epoch(ctl->c));
    want_t w2 = {.reader = nx, .topic = "fo2", .leader = X, .epoch = 1};
    assert_true(c_leader(&w2));
    assert_int_equal(w2.t.state.n_isr, 2);
    assert_false(sl_cl_has(w2.t.state.isr, 2, L));

    /* X dies too: "fo" has no live ISR member, goes offline (leader -1,
     * epoch 3, ISR still {X}); Y stays out. "fo2" fails over to Y. */
    tn_stop(nx);
    tnode_t *only_y[] = {ny};
    want_t w3 = {.reader = ny, .topic = "fo", .leader = -1, .epoch = 3};
    assert_true(ct_until(only_y, 1, c_leader, &w3, WAIT_MS));
    assert_int_equal(w3.t.state.n_isr, 1);
    assert_int_equal(w3.t.state.isr[0], X);
    want_t w4 = {.reader = ny, .topic = "fo2", .leader = Y, .epoch = 2};
    assert_true(ct_until(only_y, 1, c_leader, &w4, WAIT_MS));

    /* X comes back: the controller (Y now) makes it leader again, epoch 4. */
    tnode_t nx2;
    assert_int_equal(tn_start(&nx2, hosts, X, SESSION_MS), 0);
    tnode_t *back[] = {ny, &nx2};
    want_t w5 = {.reader = ny, .topic = "fo", .leader = X, .epoch = 4};
    assert_true(ct_until(back, 2, c_leader, &w5, WAIT_MS));
    assert_true(sl_cluster_is_controller(ny->c));
    tn_stop(&nx2);
    tn_stop(ny);
}

/* ---- a controller whose epoch moved on is fenced by its own writes ---- */

static int c_ctl_again(void *arg)
{
    newctl_t *x = arg;
    return c_new_controller(x) && ct_log_seen("controller_epoch moved on");
}

static void test_controller_epoch_fence(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t8");
    tnode_t n1, n2, n3;
    tnode_t *all[] = {&n1, &n2, &n3};
    nodeset_t s = {all, 3};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    tnode_t *ctl = ct_controller(&s);
    int32_t e1 = sl_cluster_controller_epoch(ctl->c);
    sl_cl_topic_t t;
    int created;
    assert_int_equal(sl_cluster_topic_create(ctl->c, "fence", 3, &t, &created), 0);

    /* controller_epoch moves on behind the controller's back (no watch of
     * its fires): its next write, a multi checking the version it won
     * with, must be refused. */
    char next[16];
    snprintf(next, sizeof next, "%d", (int) e1 + 1);
    assert_int_equal(zoo_set(ct_zkraw, "/t8/seglog/controller_epoch", next, (int) strlen(next), -1),
                     ZOK);
    tnode_t *victim = NULL;
    for (int i = 0; i < 3 && !victim; i++)
        if (all[i] != ctl && all[i]->id == t.state.leader)
            victim = all[i];
    if (!victim) /* the controller leads "fence": kill another replica */
        victim = all[0] != ctl ? all[0] : all[1];
    int32_t vid = victim->id;
    tn_stop(victim);
    tnode_t *rest[2];
    int k = 0;
    for (int i = 0; i < 3; i++)
        if (all[i] != victim)
            rest[k++] = all[i];
    /* It gives up, stands again, and (still holding /controller) takes
     * the new epoch; then it does the job under that epoch. */
    newctl_t x = {{rest, 2}, e1};
    assert_true(ct_until(rest, 2, c_ctl_again, &x, WAIT_MS));
    assert_true(ctl->controller_off >= 1);
    assert_int_equal(sl_cluster_controller_epoch(ctl->c), e1 + 1);
    want_t w = {.reader = ctl, .topic = "fence", .leader = t.state.leader,
                .epoch = t.state.leader == vid ? 2 : 1};
    if (t.state.leader == vid)
        w.leader = t.replicas[1] == vid ? t.replicas[2] : t.replicas[1];
    assert_true(ct_until(rest, 2, c_leader, &w, WAIT_MS));
    assert_false(sl_cl_has(w.t.state.isr, w.t.state.n_isr, vid));
    assert_int_equal(w.t.state.controller_epoch, e1 + 1);
    ct_stop_all(&x.s);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover_within_isr),
        cmocka_unit_test(test_controller_epoch_fence),
    };
    return cmocka_run_group_tests(tests, ct_zk_setup, ct_zk_teardown);
}
