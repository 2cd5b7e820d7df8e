/*
 * cluster.h - this node's view of the seglog cluster, kept in ZooKeeper.
 *
 * An sl_cluster_t owns one ZooKeeper session (zk.h) and through it:
 *   - this node's registration: the ephemeral /seglog/nodes/<id> with its
 *     request and PUB endpoints (gone when the session ends);
 *   - a candidacy for controller (/seglog/controller, ephemeral), won
 *     together with a bump of /seglog/controller_epoch in one zoo_multi;
 *   - while controller: the rules of docs/CLUSTER.md. When a node leaves,
 *     every topic it led gets a new leader from its ISR (never outside it:
 *     unclean election is off) with leader_epoch + 1, and dead nodes leave
 *     every ISR. Every controller write is a zoo_multi conditioned on the
 *     controller_epoch version it won with, so a deposed controller's
 *     writes fail. It does not apply min-insync: that is the produce path's.
 *   - topic creation, topic reads (with watches), and the leader's own ISR
 *     changes, all by compare-and-set on the state znode's version.
 *
 * Events. The owner polls sl_cluster_fd() and calls sl_cluster_process()
 * when it is readable, and at least every 100 ms anyway (leases, retries,
 * "waiting for zookeeper" log lines). process() does the pending ZooKeeper
 * work (registration, election, controller decisions) and returns at most
 * one event for the owner:
 *   SL_CL_EV_FENCED      the session EXPIRED: this node must assume at once
 *                        that it leads nothing and controls nothing. It is
 *                        always returned BEFORE the layer opens a new session
 *                        and registers again (on the next process() call).
 *                        When it comes, registered() and is_controller() are
 *                        already 0 (no separate SL_CL_EV_CONTROLLER for it).
 *   SL_CL_EV_DOWN        connection to ZooKeeper lost; the session may still
 *                        live (use sl_cluster_lease_ok() to know it does).
 *   SL_CL_EV_UP          connected again to the same session.
 *   SL_CL_EV_REGISTERED  /seglog/nodes/<id> is ours (once per session). After
 *                        a new session every earlier watch is gone: re-read
 *                        what you watch (topics) when this comes.
 *   SL_CL_EV_NODES       membership changed: call sl_cluster_nodes().
 *   SL_CL_EV_CONTROLLER  this node became (is_controller = 1) or stopped
 *                        being (0) the controller; epoch = controller_epoch.
 *   SL_CL_EV_TOPIC       a watched topic's state changed (or it was created
 *                        or deleted): re-read it with sl_cluster_topic_get().
 *   SL_CL_EV_TOPICS      the topic list changed (only if it was read with watch).
 *
 * Errors are SL_CL_* (meta.h), sl_cl_strerror() names them. Functions that
 * talk to ZooKeeper block the owner thread for one or a few round trips, and
 * fail fast with SL_CL_ENOTCONN while the session is not connected.
 *
 * Thread rules: an sl_cluster_t and everything it returns belong to the
 * thread that created it; none of its functions may be called from another
 * thread. ZooKeeper's threads only ever touch the event queue inside zk.c.
 */
#ifndef SL_CLUSTER_H
#define SL_CLUSTER_H

#include "meta.h"

#include <stdint.h>

typedef struct sl_cluster sl_cluster_t;

typedef struct sl_cluster_config {
    const char *zookeeper;    /* "HOST:PORT[,HOST:PORT...][/chroot]" */
    int session_ms;           /* ZooKeeper session timeout; 0 = 6000 */
    int32_t node_id;          /* >= 1 */
    const char *endpoint;     /* advertised request endpoint */
    const char *pub_endpoint; /* advertised PUB endpoint, may be NULL or "" */
    int no_controller;        /* 1: never stand for controller */
    const char *repl_endpoint; /* advertised replication endpoint, may be NULL or "" */
    const char *curve_public_key; /* registered as "curve_public_key"; NULL: none.
                                     Borrowed: must outlive the cluster object */
} sl_cluster_config_t;

enum {
    SL_CL_EV_FENCED = 1,
    SL_CL_EV_DOWN,
    SL_CL_EV_UP,
    SL_CL_EV_REGISTERED,
    SL_CL_EV_NODES,
    SL_CL_EV_CONTROLLER,
    SL_CL_EV_TOPIC,
    SL_CL_EV_TOPICS,
};

typedef struct sl_cl_event {
    int kind;                         /* SL_CL_EV_* */
    int is_controller;                /* SL_CL_EV_CONTROLLER */
    int32_t epoch;                    /* SL_CL_EV_CONTROLLER: controller_epoch */
    char topic[SL_CL_TOPIC_MAX + 1];  /* SL_CL_EV_TOPIC */
} sl_cl_event_t;

/* Validates cfg (copied) and starts connecting; it does not wait. NULL on
 * a bad config (logged) or no memory. */
sl_cluster_t *sl_cluster_new(const sl_cluster_config_t *cfg);
/* Closes the session: the registration and a controller role end at once. */
void sl_cluster_destroy(sl_cluster_t **self_p);

int sl_cluster_fd(sl_cluster_t *self);
/* Does pending work; 1 and *ev filled if there is an event, else 0. */
int sl_cluster_process(sl_cluster_t *self, sl_cl_event_t *ev);
/* poll(fd) + process() until an event comes (1) or timeout_ms passes (0). */
int sl_cluster_wait(sl_cluster_t *self, sl_cl_event_t *ev, int timeout_ms);
/* Processes (dropping events) until this node is registered: 0 or
 * SL_CL_ETIMEOUT. For start-up and tests; a server keeps its events. */
int sl_cluster_wait_registered(sl_cluster_t *self, int timeout_ms);

int32_t sl_cluster_node_id(sl_cluster_t *self);
int sl_cluster_registered(sl_cluster_t *self);
int sl_cluster_is_controller(sl_cluster_t *self);
/* Id of the controller as last seen (-1 unknown), its epoch (0 unknown). */
int32_t sl_cluster_controller_id(sl_cluster_t *self);
int32_t sl_cluster_controller_epoch(sl_cluster_t *self);
/* 1 while the session is certainly alive (zk.h: lease). A leader must not
 * acknowledge anything while this is 0. */
int sl_cluster_lease_ok(sl_cluster_t *self);
/* The sl_zk_now_ms() time at which the lease runs out (0 if it is not ok
 * now): lease_ok() is now < this. For a thread that must check the lease
 * without calling into this one (the produce path gets it published). */
int64_t sl_cluster_lease_until_ms(sl_cluster_t *self);

/* The session underneath, for diagnostics and tests (zk.h; owner thread). */
struct sl_zk;
struct sl_zk *sl_cluster_zk(sl_cluster_t *self);

/* The live nodes, sorted by id, into out[0..cap); *n = how many there are
 * (may exceed cap). Arms the membership watch (SL_CL_EV_NODES). Nodes with
 * invalid data are logged and left out. */
int sl_cluster_nodes(sl_cluster_t *self, sl_cl_node_t *out, int cap, int *n);

/* Creates topic name with rf replicas (0 = min(3, live nodes)) spread over
 * the live nodes, the first one leader, ISR = all replicas, leader_epoch 1:
 * the replica list and the state in one zoo_multi. If it exists already
 * (someone else won the race), *out is the existing topic and *created = 0.
 * Errors: SL_CL_EINVAL (name, rf), SL_CL_ENOREPLICAS (rf > live nodes). */
int sl_cluster_topic_create(sl_cluster_t *self, const char *name, int rf, sl_cl_topic_t *out,
                            int *created);

/* Deletes topic name: its znode and its children (state, config) in one
 * zoo_multi. SL_CL_ENONODE if it does not exist. */
int sl_cluster_topic_delete(sl_cluster_t *self, const char *name);

/* Reads a topic (replicas, state, state version, settings). watch = 1 arms
 * SL_CL_EV_TOPIC for its next change, or for its creation if it does not
 * exist yet (then SL_CL_ENONODE). */
int sl_cluster_topic_get(sl_cluster_t *self, const char *name, int watch, sl_cl_topic_t *out);

/* The topic names (malloc'ed array of malloc'ed strings, free with
 * sl_cluster_names_free). watch = 1 arms SL_CL_EV_TOPICS. */
int sl_cluster_topic_names(sl_cluster_t *self, int watch, char ***names, int *n);
void sl_cluster_names_free(char ***names, int n);

/* The leader's ISR change: sets the ISR of topic name to isr[0..n) if this
 * node is still its leader at leader_epoch. The new ISR must contain this
 * node and only replicas. On a lost race (ZBADVERSION) it re-reads: still
 * leader of that epoch -> retries; otherwise SL_CL_ENOTLEADER (stop acting
 * as leader). *out (may be NULL) gets the state as now written or read. */
int sl_cluster_isr_update(sl_cluster_t *self, const char *name, int32_t leader_epoch,
                          const int32_t *isr, int n, sl_cl_topic_t *out);

/* Reserves producer ids [*start, *reserved) for this node: the counter
 * /seglog/producer_ids/<node_id> (a decimal) goes from its value R to
 * max(R, next) + block by compare-and-set, so a node whose data directory
 * was lost never hands out an id twice (pids.h). limit: the first value
 * that cannot be reached (SL_CL_EINVAL past it). */
int sl_cluster_pids_reserve(sl_cluster_t *self, uint64_t next, uint64_t block, uint64_t limit,
                            uint64_t *start, uint64_t *reserved);

/* Writes text as the settings of topic name (/seglog/topics/<name>/config)
 * if the znode's version is still version (-1: if it does not exist yet,
 * then it is created). SL_CL_ESTALE if not (read again and retry);
 * SL_CL_ENONODE if the topic is gone. */
int sl_cluster_config_cas(sl_cluster_t *self, const char *name, int32_t version,
                          const char *text);

/* The raw compare-and-set: writes next as the state of name if its version
 * is still version. SL_CL_ESTALE if not. *new_version (may be NULL) gets the
 * version written. Validates next against the replica list first. */
int sl_cluster_state_cas(sl_cluster_t *self, const char *name, int32_t version,
                         const sl_cl_state_t *next, int32_t *new_version);

#endif
