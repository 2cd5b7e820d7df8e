/* test_cluster_zk.c - the cluster layer against a real ZooKeeper
 * (zkproc.c): registration, election, topic creation race, compare-and-set,
 * session expiry (fencing) and hostile znode data. (Controller failover:
 * test_cluster_ctl.c.)
 * Every test works under its own chroot on one server. */
#include "ctest_util.h"
#include "zkproc.h"

#include <pthread.h>
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



/* ---- registration ---- */

typedef struct {
    tnode_t *n;
    int want;
} count_t;

static int c_node_count(void *arg)
{
    count_t *c = arg;
    sl_cl_node_t nodes[8];
    int n = -1;
    return sl_cluster_nodes(c->n->c, nodes, 8, &n) == 0 && n == c->want;
}

static int c_registered_twice(void *arg)
{
    tnode_t *n = arg;
    return n->registered == 2 && sl_cluster_registered(n->c);
}

/* The membership event came, and the list shows the change. */
static int c_nodes_event(void *arg)
{
    count_t *c = arg;
    return c->n->nodes >= 1 && c_node_count(c);
}

static int c_log_dup(void *arg)
{
    (void) arg;
    return ct_log_seen("waiting: node id 1 is registered by zookeeper session");
}

static void test_register_and_leave(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t1");
    tnode_t a, b, dup;
    tnode_t *both[] = {&a, &b};
    nodeset_t s = {both, 2};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));

    sl_cl_node_t nodes[8];
    int n = 0;
    assert_int_equal(sl_cluster_nodes(a.c, nodes, 8, &n), 0); /* arms the watch */
    assert_int_equal(n, 2);
    assert_int_equal(nodes[0].id, 1);
    assert_int_equal(nodes[1].id, 2);
    assert_string_equal(nodes[1].endpoint, "tcp://127.0.0.1:20002");
    assert_string_equal(nodes[1].pub, "tcp://127.0.0.1:30002");
    struct Stat st;
    assert_int_equal(zoo_exists(ct_zkraw, "/t1/seglog/nodes/2", 0, &st), ZOK);
    assert_true(st.ephemeralOwner != 0);

    /* Someone deletes node 2's registration: it registers again, once. */
    assert_int_equal(zoo_delete(ct_zkraw, "/t1/seglog/nodes/2", -1), ZOK);
    nodeset_t sb = {(tnode_t *[]){&b}, 1};
    assert_true(ct_until(sb.n, 1, c_registered_twice, &b, WAIT_MS));
    assert_int_equal(zoo_exists(ct_zkraw, "/t1/seglog/nodes/2", 0, &st), ZOK);
    assert_int_equal(a.registered, 1);

    /* Closing node 2's session removes its znode; node 1 hears of it. */
    tn_stop(&b);
    count_t want1 = {&a, 1};
    tnode_t *only_a[] = {&a};
    assert_true(ct_until(only_a, 1, c_nodes_event, &want1, WAIT_MS));
    assert_int_equal(zoo_exists(ct_zkraw, "/t1/seglog/nodes/2", 0, &st), ZNONODE);

    /* A second node with id 1 waits until the first one's session ends. */
    assert_int_equal(tn_start(&dup, hosts, 1, SESSION_MS), 0);
    tnode_t *pair[] = {&a, &dup};
    assert_true(ct_until(pair, 2, c_log_dup, NULL, WAIT_MS));
    assert_false(sl_cluster_registered(dup.c));
    assert_true(sl_cluster_registered(a.c));
    tn_stop(&a);
    nodeset_t sd = {(tnode_t *[]){&dup}, 1};
    assert_true(ct_until(sd.n, 1, c_all_registered, &sd, WAIT_MS));
    tn_stop(&dup);
}

/* ---- election ---- */


static int32_t s_raw_epoch(const char *path)
{
    char buf[32];
    int len = sizeof buf - 1;
    if (zoo_get(ct_zkraw, path, 0, buf, &len, NULL) != ZOK || len < 0)
        return -1;
    buf[len] = '\0';
    return atoi(buf);
}

static void test_election(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t2");
    tnode_t n1, n2, n3;
    tnode_t *all[] = {&n1, &n2, &n3};
    nodeset_t s = {all, 3};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    tnode_t *ctl = ct_controller(&s);
    int32_t e1 = sl_cluster_controller_epoch(ctl->c);
    assert_true(e1 >= 1);
    assert_int_equal(s_raw_epoch("/t2/seglog/controller_epoch"), e1);
    assert_int_equal(ctl->controller_on, 1);

    /* The controller's session closes: one of the others takes over with
     * a higher epoch, and both agree on who. */
    tn_stop(ctl);
    tnode_t *rest[2];
    int k = 0;
    for (int i = 0; i < 3; i++)
        if (all[i] != ctl)
            rest[k++] = all[i];
    newctl_t x = {{rest, 2}, e1};
    assert_true(ct_until(rest, 2, c_new_controller, &x, WAIT_MS));
    tnode_t *ctl2 = ct_controller(&x.s);
    int32_t e2 = sl_cluster_controller_epoch(ctl2->c);
    assert_true(e2 > e1);
    assert_int_equal(s_raw_epoch("/t2/seglog/controller_epoch"), e2);
    ct_stop_all(&x.s);
}

/* ---- topic creation race ---- */

#define RACE_TOPICS 10

typedef struct {
    const char *hosts;
    int32_t id;
    pthread_barrier_t *barrier;
    int rc[RACE_TOPICS], created[RACE_TOPICS];
    sl_cl_topic_t t[RACE_TOPICS];
    int ready;
} racer_t;

static int c_three_live(void *arg)
{
    count_t *c = arg;
    return c_node_count(c);
}

static void *s_racer(void *arg)
{
    racer_t *r = arg;
    tnode_t n;
    if (tn_start(&n, r->hosts, r->id, SESSION_MS) == 0 &&
        sl_cluster_wait_registered(n.c, WAIT_MS) == 0) {
        count_t want = {&n, 3};
        tnode_t *one[] = {&n};
        r->ready = ct_until(one, 1, c_three_live, &want, WAIT_MS);
    }
    pthread_barrier_wait(r->barrier);
    for (int i = 0; r->ready && i < RACE_TOPICS; i++) {
        char name[32];
        snprintf(name, sizeof name, "race-%d", i);
        r->rc[i] = sl_cluster_topic_create(n.c, name, 0, &r->t[i], &r->created[i]);
    }
    tn_stop(&n);
    return NULL;
}

static void test_topic_create_race(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t3");
    tnode_t n3;
    nodeset_t s = {(tnode_t *[]){&n3}, 1};
    assert_int_equal(tn_start(&n3, hosts, 3, SESSION_MS), 0);
    assert_true(ct_until(s.n, 1, c_all_registered, &s, WAIT_MS));

    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    racer_t r1 = {.hosts = hosts, .id = 1, .barrier = &barrier};
    racer_t r2 = {.hosts = hosts, .id = 2, .barrier = &barrier};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, s_racer, &r1);
    pthread_create(&t2, NULL, s_racer, &r2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&barrier);
    assert_true(r1.ready && r2.ready);
    for (int i = 0; i < RACE_TOPICS; i++) {
        assert_int_equal(r1.rc[i], 0);
        assert_int_equal(r2.rc[i], 0);
        assert_int_equal(r1.created[i] + r2.created[i], 1); /* created once */
        assert_int_equal(r1.t[i].n_replicas, 3);            /* min(3, live) */
        assert_memory_equal(r1.t[i].replicas, r2.t[i].replicas, 3 * sizeof(int32_t));
        assert_int_equal(r1.t[i].state.leader, r1.t[i].replicas[0]);
        assert_int_equal(r1.t[i].state.leader_epoch, 1);
        assert_int_equal(r2.t[i].state.n_isr, 3);
    }

    /* Only node 3 is left: rf 2 is too many, rf 0 means 1. */
    sl_cl_topic_t t;
    int created;
    count_t one = {&n3, 1};
    assert_true(ct_until(s.n, 1, c_node_count, &one, WAIT_MS));
    assert_int_equal(sl_cluster_topic_create(n3.c, "two", 2, &t, &created), SL_CL_ENOREPLICAS);
    assert_int_equal(sl_cluster_topic_create(n3.c, "a/b", 1, &t, &created), SL_CL_EINVAL);
    assert_int_equal(sl_cluster_topic_create(n3.c, "..", 1, &t, &created), SL_CL_EINVAL);
    assert_int_equal(sl_cluster_topic_create(n3.c, "one", 0, &t, &created), 0);
    assert_int_equal(created, 1);
    assert_int_equal(t.n_replicas, 1);
    /* An existing topic is returned even when rf could not be met now. */
    assert_int_equal(sl_cluster_topic_create(n3.c, "race-0", 0, &t, &created), 0);
    assert_int_equal(created, 0);
    assert_int_equal(t.n_replicas, 3);
    char **names;
    int n;
    assert_int_equal(sl_cluster_topic_names(n3.c, 0, &names, &n), 0);
    assert_int_equal(n, RACE_TOPICS + 1);
    sl_cluster_names_free(&names, n);
    tn_stop(&n3);
}

/* ---- compare-and-set ---- */


static void test_cas_stale_writer(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t4");
    tnode_t n1, n2, n3;
    tnode_t *all[] = {&n1, &n2, &n3};
    nodeset_t s = {all, 3};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    sl_cl_topic_t t, a, b, now;
    int created;
    assert_int_equal(sl_cluster_topic_create(n1.c, "cas", 3, &t, &created), 0);
    assert_int_equal(sl_cluster_topic_get(n1.c, "cas", 0, &a), 0);
    assert_int_equal(sl_cluster_topic_get(n2.c, "cas", 0, &b), 0);
    assert_int_equal(a.state_version, b.state_version);

    /* Two writers read the same version; the second one loses. */
    sl_cl_state_t na = a.state, nb = b.state;
    na.n_isr = 2; /* drop the last replica */
    nb.n_isr = 1;
    int32_t v = -1;
    assert_int_equal(sl_cluster_state_cas(n1.c, "cas", a.state_version, &na, &v), 0);
    assert_int_equal(v, a.state_version + 1);
    assert_int_equal(sl_cluster_state_cas(n2.c, "cas", b.state_version, &nb, NULL),
                     SL_CL_ESTALE);
    assert_int_equal(sl_cluster_topic_get(n3.c, "cas", 0, &now), 0);
    assert_int_equal(now.state.n_isr, 2);
    assert_int_equal(now.state_version, v);
    /* A state that breaks the rules is refused before it is written. */
    sl_cl_state_t bad = now.state;
    bad.isr[1] = 77;
    assert_int_equal(sl_cluster_state_cas(n1.c, "cas", v, &bad, NULL), SL_CL_EINVAL);

    /* The leader's own ISR change, conditioned on its epoch. */
    int32_t L = now.state.leader, F = now.state.isr[1], G = t.replicas[2];
    tnode_t *lead = ct_node(all, 3, L), *other = ct_node(all, 3, F);
    int32_t isr3[] = {L, F, G}, isr1[] = {L}, not_me[] = {F}, outsider[] = {L, 99};
    assert_int_equal(sl_cluster_isr_update(lead->c, "cas", 1, isr3, 3, &now), 0);
    assert_int_equal(now.state.n_isr, 3);
    assert_int_equal(sl_cluster_isr_update(lead->c, "cas", 1, not_me, 1, NULL), SL_CL_EINVAL);
    assert_int_equal(sl_cluster_isr_update(lead->c, "cas", 1, outsider, 2, NULL), SL_CL_EINVAL);
    int32_t other_isr[] = {F, L};
    assert_int_equal(sl_cluster_isr_update(other->c, "cas", 1, other_isr, 2, NULL),
                     SL_CL_ENOTLEADER);

    /* Leadership moves on (epoch 2) behind the old leader's back: its
     * change at epoch 1 is refused, and nothing is written. */
    sl_cl_state_t moved = now.state;
    moved.leader = F;
    moved.leader_epoch = 2;
    assert_int_equal(sl_cluster_state_cas(other->c, "cas", now.state_version, &moved, &v), 0);
    assert_int_equal(sl_cluster_isr_update(lead->c, "cas", 1, isr1, 1, &now), SL_CL_ENOTLEADER);
    assert_int_equal(now.state.leader, F);
    assert_int_equal(now.state_version, v);
    assert_int_equal(now.state.n_isr, 3);
    ct_stop_all(&s);
}


/* ---- session expiry: fenced first, then a new session ---- */

typedef struct {
    tnode_t *n;
    int want_fenced;
} fence_t;

static int c_fenced(void *arg)
{
    fence_t *f = arg;
    return f->n->fenced >= f->want_fenced;
}

static int c_reregistered(void *arg)
{
    fence_t *f = arg;
    return f->n->registered_after_fence >= 1 && sl_cluster_registered(f->n->c);
}

static void test_expiry_fences(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t6");
    tnode_t n1, n2;
    tnode_t *all[] = {&n1, &n2};
    nodeset_t s = {all, 2};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    tnode_t *ctl = ct_controller(&s);
    int64_t old_sid = sl_zk_session_id(sl_cluster_zk(ctl->c));
    int32_t e1 = sl_cluster_controller_epoch(ctl->c);

    /* Expire its session from outside: take the session over with its id
     * and password, then close it. (Retried: the node may win it back
     * before the close lands.) */
    fence_t f = {ctl, 1};
    for (int attempt = 0; attempt < 5 && ctl->fenced == 0; attempt++) {
        clientid_t cid = *sl_zk_client_id(sl_cluster_zk(ctl->c));
        zhandle_t *thief = ct_raw_session(hosts, &cid);
        if (thief)
            zookeeper_close(thief);
        ct_until(all, 2, c_fenced, &f, 5000);
    }
    assert_int_equal(ctl->fenced, 1);
    /* When FENCED reached the owner, it was neither registered nor controller. */
    assert_int_equal(ctl->fenced_while_registered, 0);
    /* Then, and only then, a new session registers it again. */
    assert_true(ct_until(all, 2, c_reregistered, &f, WAIT_MS));
    int64_t new_sid = sl_zk_session_id(sl_cluster_zk(ctl->c));
    assert_true(new_sid != old_sid);
    char path[64];
    snprintf(path, sizeof path, "/t6/seglog/nodes/%d", (int) ctl->id);
    struct Stat st;
    assert_int_equal(zoo_exists(ct_zkraw, path, 0, &st), ZOK);
    assert_true(st.ephemeralOwner == new_sid);
    /* A controller again, with a new epoch. */
    newctl_t x = {s, e1};
    assert_true(ct_until(all, 2, c_new_controller, &x, WAIT_MS));
    assert_true(ct_log_seen("fenced: zookeeper session expired"));
    ct_stop_all(&s);
}

/* ---- watches: topic state, topic creation, topic list ---- */

typedef struct {
    tnode_t *n;
    int topic, topics;
} evwant_t;

static int c_events(void *arg)
{
    evwant_t *w = arg;
    return w->n->topic >= w->topic && w->n->topics >= w->topics;
}

static void test_topic_watch(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t9");
    tnode_t n1, n2;
    tnode_t *all[] = {&n1, &n2};
    nodeset_t s = {all, 2};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    sl_cl_topic_t t;
    int created;
    char **names;
    int n;
    /* Watch a topic that does not exist yet, and the topic list. */
    assert_int_equal(sl_cluster_topic_get(n2.c, "w", 1, &t), SL_CL_ENONODE);
    assert_int_equal(sl_cluster_topic_names(n2.c, 1, &names, &n), 0);
    assert_int_equal(n, 0);
    sl_cluster_names_free(&names, n);
    assert_int_equal(sl_cluster_topic_create(n1.c, "w", 2, &t, &created), 0);
    evwant_t w = {&n2, 1, 1};
    assert_true(ct_until(all, 2, c_events, &w, WAIT_MS));
    /* Re-read with watch; a state change (here the leader's ISR change)
     * is announced once. */
    assert_int_equal(sl_cluster_topic_get(n2.c, "w", 1, &t), 0);
    tnode_t *lead = ct_node(all, 2, t.state.leader);
    int32_t isr[] = {t.state.leader};
    assert_int_equal(sl_cluster_isr_update(lead->c, "w", 1, isr, 1, NULL), 0);
    w.topic = 2;
    assert_true(ct_until(all, 2, c_events, &w, WAIT_MS));
    assert_int_equal(sl_cluster_topic_get(n2.c, "w", 0, &t), 0);
    assert_int_equal(t.state.n_isr, 1);
    ct_stop_all(&s);
}

/* ---- hostile znode data ---- */

static void s_raw_create(const char *path, const char *data)
{
    int rc = zoo_create(ct_zkraw, path, data, data ? (int) strlen(data) : -1, &ZOO_OPEN_ACL_UNSAFE,
                        0, NULL, 0);
    assert_true(rc == ZOK || rc == ZNODEEXISTS);
}

static void test_bad_data(void **state)
{
    (void) state;
    char hosts[128];
    ct_hosts(hosts, sizeof hosts, "/t7");
    tnode_t n1, n2, n3;
    tnode_t *all[] = {&n1, &n2, &n3};
    nodeset_t s = {all, 3};
    assert_true(ct_start_all(&s, hosts, SESSION_MS, WAIT_MS));
    sl_cl_topic_t t;
    int created;
    assert_int_equal(sl_cluster_topic_create(n1.c, "good", 3, &t, &created), 0);

    s_raw_create("/t7/seglog/nodes/99", "garbage");
    s_raw_create("/t7/seglog/nodes/abc", "{}");
    s_raw_create("/t7/seglog/nodes/4", "{\"version\":1,\"id\":5,\"endpoint\":\"e\",\"pub\":\"\"}");
    const char *rep = "{\"version\":1,\"replicas\":[1,2,3]}";
    s_raw_create("/t7/seglog/topics/badjson", rep);
    s_raw_create("/t7/seglog/topics/badjson/state", "{not json");
    s_raw_create("/t7/seglog/topics/badleader", rep);
    s_raw_create("/t7/seglog/topics/badleader/state",
                 "{\"version\":1,\"leader\":2,\"leader_epoch\":1,\"isr\":[1],"
                 "\"controller_epoch\":0}");
    s_raw_create("/t7/seglog/topics/outsider", rep);
    s_raw_create("/t7/seglog/topics/outsider/state",
                 "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1,9],"
                 "\"controller_epoch\":0}");
    s_raw_create("/t7/seglog/topics/badrep", "[1,2]");
    s_raw_create("/t7/seglog/topics/badrep/state",
                 "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1],"
                 "\"controller_epoch\":0}");
    s_raw_create("/t7/seglog/topics/nostate", rep);
    s_raw_create("/t7/seglog/topics/empty", NULL);
    s_raw_create("/t7/seglog/topics/empty/state", NULL);

    sl_cl_node_t nodes[8];
    int n = 0;
    assert_int_equal(sl_cluster_nodes(n2.c, nodes, 8, &n), 0);
    assert_int_equal(n, 3); /* 99, abc and the id-mismatched 4 are left out */
    const char *bad[] = {"badjson", "badleader", "outsider", "badrep", "nostate", "empty"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sl_cluster_topic_get(n2.c, bad[i], 0, &t), SL_CL_EBADDATA);
    assert_int_equal(sl_cluster_topic_get(n2.c, "nothere", 0, &t), SL_CL_ENONODE);

    /* The controller skips what it cannot read and still does its job. */
    assert_int_equal(sl_cluster_topic_get(n1.c, "good", 0, &t), 0);
    int32_t L = t.state.leader, X = t.replicas[1];
    tnode_t *nl = ct_node(all, 3, L);
    tn_stop(nl);
    tnode_t *rest[2];
    int k = 0;
    for (int i = 0; i < 3; i++)
        if (all[i] != nl)
            rest[k++] = all[i];
    want_t w = {.reader = rest[0], .topic = "good", .leader = X, .epoch = 2};
    assert_true(ct_until(rest, 2, c_leader, &w, WAIT_MS));
    assert_true(ct_log_seen("bad data in /t7/seglog/topics/badjson/state"));
    ct_stop_all(&(nodeset_t){rest, 2});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_leave),
        cmocka_unit_test(test_election),
        cmocka_unit_test(test_topic_create_race),
        cmocka_unit_test(test_cas_stale_writer),
        cmocka_unit_test(test_expiry_fences),
        cmocka_unit_test(test_topic_watch),
        cmocka_unit_test(test_bad_data),
    };
    return cmocka_run_group_tests(tests, ct_zk_setup, ct_zk_teardown);
}
