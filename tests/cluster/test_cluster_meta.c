/* test_cluster_meta.c - the znode encodings (hostile input included) and
 * the controller's rule, without ZooKeeper. */
#include "ctl.h"
#include "meta.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int s_dec_state(const char *s, sl_cl_state_t *out)
{
    return sl_cl_state_decode(s, (int) strlen(s), out);
}

static void test_node_roundtrip(void **state)
{
    (void) state;
    sl_cl_node_t n = {.id = 7}, m;
    strcpy(n.endpoint, "tcp://10.0.0.7:5555");
    strcpy(n.pub, "tcp://10.0.0.7:5556");
    char *s = sl_cl_node_encode(&n);
    assert_non_null(s);
    assert_int_equal(sl_cl_node_decode(s, (int) strlen(s), &m), 0);
    assert_int_equal(m.id, 7);
    assert_string_equal(m.endpoint, n.endpoint);
    assert_string_equal(m.pub, n.pub);
    free(s);
}

/* The optional replication endpoint: absent reads as "", present must be a
 * printable string like the others. */
static void test_node_repl(void **state)
{
    (void) state;
    sl_cl_node_t n = {.id = 3}, m;
    strcpy(n.endpoint, "tcp://h:1");
    strcpy(n.repl, "tcp://h:3");
    char *s = sl_cl_node_encode(&n);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"repl\":\"tcp://h:3\""));
    assert_int_equal(sl_cl_node_decode(s, (int) strlen(s), &m), 0);
    assert_string_equal(m.repl, "tcp://h:3");
    free(s);
    const char *old = "{\"version\":1,\"id\":3,\"endpoint\":\"tcp://h:1\",\"pub\":\"\"}";
    assert_int_equal(sl_cl_node_decode(old, (int) strlen(old), &m), 0);
    assert_string_equal(m.repl, "");
    const char *bad[] = {
        "{\"version\":1,\"id\":3,\"endpoint\":\"tcp://h:1\",\"pub\":\"\",\"repl\":5}",
        "{\"version\":1,\"id\":3,\"endpoint\":\"tcp://h:1\",\"pub\":\"\",\"repl\":\"a b\"}",
        "{\"version\":1,\"id\":3,\"endpoint\":\"tcp://h:1\",\"pub\":\"\",\"repl\":null}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sl_cl_node_decode(bad[i], (int) strlen(bad[i]), &m), SL_CL_EBADDATA);
}

static void test_node_hostile(void **state)
{
    (void) state;
    const char *bad[] = {
        "",
        "{",
        "null",
        "[]",
        "{\"version\":1,\"id\":0,\"endpoint\":\"tcp://a:1\",\"pub\":\"\"}",
        "{\"version\":2,\"id\":1,\"endpoint\":\"tcp://a:1\",\"pub\":\"\"}",
        "{\"id\":1,\"endpoint\":\"tcp://a:1\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":1.5,\"endpoint\":\"tcp://a:1\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":1e30,\"endpoint\":\"tcp://a:1\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":\"1\",\"endpoint\":\"tcp://a:1\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":1,\"endpoint\":\"\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":1,\"endpoint\":\"tcp://a b:1\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":1,\"endpoint\":\"tcp://a\\n:1\",\"pub\":\"\"}",
        "{\"version\":1,\"id\":1,\"endpoint\":7,\"pub\":\"\"}",
        "{\"version\":1,\"id\":1,\"endpoint\":\"tcp://a:1\"}",
        "{\"version\":1,\"id\":1,\"endpoint\":\"tcp://a:1\",\"pub\":\"\"} x",
    };
    sl_cl_node_t m;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sl_cl_node_decode(bad[i], (int) strlen(bad[i]), &m), SL_CL_EBADDATA);
    /* An endpoint longer than the struct holds. */
    char big[600];
    int k = snprintf(big, sizeof big, "{\"version\":1,\"id\":1,\"pub\":\"\",\"endpoint\":\"");
    memset(big + k, 'a', 300);
    strcpy(big + k + 300, "\"}");
    assert_int_equal(sl_cl_node_decode(big, (int) strlen(big), &m), SL_CL_EBADDATA);
    /* Not NUL-terminated: only len bytes count. */
    const char *ok = "{\"version\":1,\"id\":3,\"endpoint\":\"e\",\"pub\":\"\"}GARBAGE";
    assert_int_equal(sl_cl_node_decode(ok, (int) (strlen(ok) - 7), &m), 0);
    assert_int_equal(sl_cl_node_decode(ok, (int) strlen(ok), &m), SL_CL_EBADDATA);
    /* A NUL inside the bytes. */
    const char nul[] = "{\"version\":1,\"id\":3,\0\"endpoint\":\"e\",\"pub\":\"\"}";
    assert_int_equal(sl_cl_node_decode(nul, (int) sizeof nul - 1, &m), SL_CL_EBADDATA);
    assert_int_equal(sl_cl_node_decode(NULL, 5, &m), SL_CL_EBADDATA);
}

static void test_state_roundtrip(void **state)
{
    (void) state;
    sl_cl_state_t s = {.leader = 2, .leader_epoch = 9, .controller_epoch = 4, .n_isr = 2,
                       .isr = {2, 3}};
    char *e = sl_cl_state_encode(&s);
    assert_non_null(e);
    sl_cl_state_t d;
    assert_int_equal(s_dec_state(e, &d), 0);
    assert_int_equal(d.leader, 2);
    assert_int_equal(d.leader_epoch, 9);
    assert_int_equal(d.controller_epoch, 4);
    assert_int_equal(d.n_isr, 2);
    assert_int_equal(d.isr[1], 3);
    free(e);
    assert_int_equal(
        s_dec_state("{\"version\":1,\"leader\":-1,\"leader_epoch\":3,\"isr\":[5],"
                    "\"controller_epoch\":0}",
                    &d),
        0);
    assert_int_equal(d.leader, -1);
}

static void test_state_hostile(void **state)
{
    (void) state;
    const char *bad[] = {
        "{not json",
        "{\"version\":1,\"leader\":5,\"leader_epoch\":1,\"isr\":[1],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":0,\"isr\":[1],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":0,\"leader_epoch\":1,\"isr\":[1],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":-2,\"leader_epoch\":1,\"isr\":[1],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1,1],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1,-3],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":1,\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":2147483648,\"isr\":[1],"
        "\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1],\"controller_epoch\":-1}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1]}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":1,\"isr\":[1,2,3,4,5,6,7,8,9,10,11,12,13,"
        "14,15,16,17],\"controller_epoch\":0}",
        "{\"version\":1,\"leader\":1,\"leader_epoch\":NaN,\"isr\":[1],\"controller_epoch\":0}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    };
    sl_cl_state_t d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(s_dec_state(bad[i], &d), SL_CL_EBADDATA);
    /* Deep nesting must not recurse us to death either. */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    assert_int_equal(s_dec_state(deep, &d), SL_CL_EBADDATA);
    free(deep);
}

static void test_replicas_epoch_controller(void **state)
{
    (void) state;
    int32_t ids[SL_CL_MAX_REPLICAS], out[SL_CL_MAX_REPLICAS] = {0};
    ids[0] = 3, ids[1] = 1, ids[2] = 2;
    char *e = sl_cl_replicas_encode(ids, 3);
    int n = 0;
    assert_int_equal(sl_cl_replicas_decode(e, (int) strlen(e), out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(ids, out, 3 * sizeof(int32_t));
    free(e);
    const char *dup = "{\"version\":1,\"replicas\":[1,2,1]}";
    assert_int_equal(sl_cl_replicas_decode(dup, (int) strlen(dup), out, &n), SL_CL_EBADDATA);
    /* The log id: 16 hex digits in a string, all 64 bits kept. */
    uint64_t lid = 7;
    e = sl_cl_assign_encode(ids, 3, 0xfedcba9876543211ull);
    assert_non_null(strstr(e, "\"log_id\":\"fedcba9876543211\""));
    assert_int_equal(sl_cl_assign_decode(e, (int) strlen(e), out, &n, &lid), 0);
    assert_true(lid == 0xfedcba9876543211ull);
    assert_int_equal(sl_cl_replicas_decode(e, (int) strlen(e), out, &n), 0);
    free(e);
    e = sl_cl_assign_encode(ids, 3, 0); /* none: left out, decodes as 0 */
    assert_null(strstr(e, "log_id"));
    assert_int_equal(sl_cl_assign_decode(e, (int) strlen(e), out, &n, &lid), 0);
    assert_true(lid == 0);
    free(e);
    static const char *bad_ids[] = {
        "{\"version\":1,\"replicas\":[1],\"log_id\":\"0000000000000000\"}",
        "{\"version\":1,\"replicas\":[1],\"log_id\":\"fedcba987654321\"}",
        "{\"version\":1,\"replicas\":[1],\"log_id\":\"fedcba98765432100\"}",
        "{\"version\":1,\"replicas\":[1],\"log_id\":\"FEDCBA9876543210\"}",
        "{\"version\":1,\"replicas\":[1],\"log_id\":\"-edcba9876543210\"}",
        "{\"version\":1,\"replicas\":[1],\"log_id\":12345}",
        "{\"version\":1,\"replicas\":[1],\"log_id\":null}",
    };
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
        assert_int_equal(sl_cl_assign_decode(bad_ids[i], (int) strlen(bad_ids[i]), out, &n, &lid),
                         SL_CL_EBADDATA);
    int32_t ep;
    e = sl_cl_epoch_encode(41);
    assert_int_equal(sl_cl_epoch_decode(e, (int) strlen(e), &ep), 0);
    assert_int_equal(ep, 41);
    free(e);
    assert_int_equal(sl_cl_epoch_decode("-1", 2, &ep), SL_CL_EBADDATA);
    assert_int_equal(sl_cl_epoch_decode("x", 1, &ep), SL_CL_EBADDATA);
    assert_int_equal(sl_cl_epoch_decode("", 0, &ep), SL_CL_EBADDATA);
    int32_t id;
    e = sl_cl_controller_encode(5);
    assert_int_equal(sl_cl_controller_decode(e, (int) strlen(e), &id), 0);
    assert_int_equal(id, 5);
    free(e);
    assert_int_equal(sl_cl_controller_decode("{\"id\":5}", 8, &id), SL_CL_EBADDATA);
}

static void test_topic_checks(void **state)
{
    (void) state;
    assert_true(sl_cl_topic_name_ok("orders.v1_x-2"));
    assert_false(sl_cl_topic_name_ok(""));
    assert_false(sl_cl_topic_name_ok("."));
    assert_false(sl_cl_topic_name_ok(".."));
    assert_false(sl_cl_topic_name_ok("a/b"));
    assert_false(sl_cl_topic_name_ok("a b"));
    char long_name[200];
    memset(long_name, 'a', 129);
    long_name[129] = '\0';
    assert_false(sl_cl_topic_name_ok(long_name));
    sl_cl_topic_t t = {.n_replicas = 2, .replicas = {1, 2},
                       .state = {.leader = 1, .leader_epoch = 1, .n_isr = 2, .isr = {1, 2}}};
    assert_int_equal(sl_cl_topic_check(&t), 0);
    t.state.isr[1] = 3; /* ISR member that is not a replica */
    assert_int_equal(sl_cl_topic_check(&t), SL_CL_EBADDATA);
}

/* ---- the controller's rule ---- */

static const int32_t R[] = {1, 2, 3};

static void test_decide_leader_alive(void **state)
{
    (void) state;
    sl_cl_state_t cur = {.leader = 1, .leader_epoch = 5, .n_isr = 3, .isr = {1, 2, 3}}, next;
    int32_t live_all[] = {1, 2, 3}, live_no3[] = {1, 2};
    assert_int_equal(sl_cl_decide(R, 3, &cur, live_all, 3, 7, &next), 0);
    /* A dead follower leaves the ISR; leader and epoch stay. */
    assert_int_equal(sl_cl_decide(R, 3, &cur, live_no3, 2, 7, &next), 1);
    assert_int_equal(next.leader, 1);
    assert_int_equal(next.leader_epoch, 5);
    assert_int_equal(next.n_isr, 2);
    assert_int_equal(next.controller_epoch, 7);
}

static void test_decide_failover_in_isr_only(void **state)
{
    (void) state;
    /* Leader 1 dies; 2 is alive but not in the ISR; 3 is: 3 leads. */
    sl_cl_state_t cur = {.leader = 1, .leader_epoch = 5, .n_isr = 2, .isr = {1, 3}}, next;
    int32_t live[] = {2, 3};
    assert_int_equal(sl_cl_decide(R, 3, &cur, live, 2, 8, &next), 1);
    assert_int_equal(next.leader, 3);
    assert_int_equal(next.leader_epoch, 6);
    assert_int_equal(next.n_isr, 1);
    assert_int_equal(next.isr[0], 3);
    /* Preferred order: with ISR {1,3,2} and 1 dead, 2 (earlier replica) leads. */
    sl_cl_state_t cur2 = {.leader = 1, .leader_epoch = 5, .n_isr = 3, .isr = {1, 3, 2}};
    assert_int_equal(sl_cl_decide(R, 3, &cur2, live, 2, 8, &next), 1);
    assert_int_equal(next.leader, 2);
}

static void test_decide_offline_then_back(void **state)
{
    (void) state;
    /* Leader 1 dies, only 2 (outside the ISR) lives: no unclean election. */
    sl_cl_state_t cur = {.leader = 1, .leader_epoch = 5, .n_isr = 1, .isr = {1}}, next;
    int32_t live2[] = {2};
    assert_int_equal(sl_cl_decide(R, 3, &cur, live2, 1, 8, &next), 1);
    assert_int_equal(next.leader, -1);
    assert_int_equal(next.leader_epoch, 6);
    assert_int_equal(next.n_isr, 1);
    assert_int_equal(next.isr[0], 1);
    /* Still offline: nothing to write. */
    sl_cl_state_t off = next;
    assert_int_equal(sl_cl_decide(R, 3, &off, live2, 1, 8, &next), 0);
    /* 1 comes back: it leads again, new epoch. */
    int32_t live12[] = {1, 2};
    assert_int_equal(sl_cl_decide(R, 3, &off, live12, 2, 9, &next), 1);
    assert_int_equal(next.leader, 1);
    assert_int_equal(next.leader_epoch, 7);
    assert_int_equal(next.controller_epoch, 9);
    /* Nobody alive at all: the ISR is never emptied. */
    assert_int_equal(sl_cl_decide(R, 3, &cur, NULL, 0, 8, &next), 1);
    assert_int_equal(next.n_isr, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_roundtrip),
        cmocka_unit_test(test_node_hostile),
        cmocka_unit_test(test_node_repl),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_state_hostile),
        cmocka_unit_test(test_replicas_epoch_controller),
        cmocka_unit_test(test_topic_checks),
        cmocka_unit_test(test_decide_leader_alive),
        cmocka_unit_test(test_decide_failover_in_isr_only),
        cmocka_unit_test(test_decide_offline_then_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
