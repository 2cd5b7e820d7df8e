/*
 * ctest_util.h - helpers shared by the cluster integration tests: a log
 * sink that remembers lines, test nodes whose events are counted, a pump
 * that runs several sl_cluster_t on this thread until a condition holds
 * (bounded), and a raw ZooKeeper handle to read or damage znodes.
 *
 * Thread rules: the test's main thread, except tn_* objects created by a
 * thread that then owns them.
 */
#ifndef CTEST_UTIL_H
#define CTEST_UTIL_H

#include "cluster.h"
#include "zk.h"
#include "zkproc.h"

typedef struct tnode {
    sl_cluster_t *c;
    int32_t id;
    int fenced, registered, down, up, nodes, topic, topics, controller_on, controller_off;
    int fenced_while_registered; /* FENCED came while registered() said 1 */
    int registered_after_fence;  /* REGISTERED events after the last FENCED */
} tnode_t;

/* Log capture (installed by ct_log_capture; also echoes to stderr). */
void ct_log_capture(void);
int ct_log_seen(const char *needle);
void ct_log_clear(void);

/* A node with id on hosts (connect string incl. chroot); NULL on failure. */
int tn_start(tnode_t *n, const char *hosts, int32_t id, int session_ms);
void tn_stop(tnode_t *n);
/* Processes n's pending events into its counters. */
void tn_pump(tnode_t *n);

typedef int (ct_cond_fn)(void *arg);
/* Pumps nodes[0..k) until cond(arg) or timeout_ms: 1 if it held. */
int ct_until(tnode_t **nodes, int k, ct_cond_fn *cond, void *arg, int timeout_ms);

/* ---- sets of nodes and the conditions the tests wait for ---- */

typedef struct {
    tnode_t **n;
    int k;
} nodeset_t;

/* Starts s->n[i] with id i + 1 and waits until all are registered and agree
 * on one controller: 1, or 0 on failure or after wait_ms. */
int ct_start_all(nodeset_t *s, const char *hosts, int session_ms, int wait_ms);
void ct_stop_all(nodeset_t *s);
tnode_t *ct_controller(nodeset_t *s);             /* NULL if none */
tnode_t *ct_node(tnode_t **all, int k, int32_t id); /* by id */

int c_all_registered(void *nodeset);
/* Exactly one controller among the set, and everybody agrees on it. */
int c_one_controller(void *nodeset);

typedef struct {
    nodeset_t s;
    int32_t above;
} newctl_t;
/* One agreed controller whose epoch is above x->above. */
int c_new_controller(void *newctl);

typedef struct {
    tnode_t *reader;
    const char *topic;
    int32_t leader, epoch;
    sl_cl_topic_t t; /* the last state read */
} want_t;
/* reader sees topic led by leader at epoch. */
int c_leader(void *want);

/* A raw, connected ZooKeeper handle (NULL after 10 s). */
zhandle_t *ct_raw(const char *hosts);
/* Same, taking over an existing session. */
zhandle_t *ct_raw_session(const char *hosts, const clientid_t *cid);

/* The group fixture of the tests that share one ZooKeeper: ct_zk_setup
 * starts a real one (zkproc, tick 100 ms) and opens a raw handle on it,
 * ct_zk_teardown closes both. ct_hosts writes its connect string plus
 * chroot ("" for none). */
extern zkproc_t *ct_zk;
extern zhandle_t *ct_zkraw;
int ct_zk_setup(void **state);
int ct_zk_teardown(void **state);
void ct_hosts(char *buf, size_t cap, const char *chroot);

#endif
