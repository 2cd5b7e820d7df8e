/*
 * cluster_int.h - the inside of sl_cluster_t, shared by cluster.c (session,
 * registration, election, events), topics.c (topic reads and writes) and
 * ctl.c (the controller). Owner thread only, like sl_cluster_t.
 */
#ifndef SL_CLUSTER_INT_H
#define SL_CLUSTER_INT_H

#include "cluster.h"
#include "zk.h"

/* Our own paths: chroot (<= 200) + "/seglog/controller_epoch"; leaves room
 * under SL_ZK_PATH_MAX for "/<topic>/state". */
#define SL_CL_PREFIX_MAX 256

typedef struct s_uev {
    struct s_uev *next;
    sl_cl_event_t ev;
} s_uev_t;

struct sl_cluster {
    sl_cluster_config_t cfg; /* strings below are our copies */
    char *zookeeper, *endpoint, *pub_endpoint, *repl_endpoint;
    sl_zk_t *zk;

    char p_root[SL_CL_PREFIX_MAX];     /* <chroot>/seglog */
    char p_nodes[SL_CL_PREFIX_MAX];    /* .../nodes */
    char p_me[SL_CL_PREFIX_MAX];       /* .../nodes/<id> */
    char p_ctl[SL_CL_PREFIX_MAX];      /* .../controller */
    char p_ctl_epoch[SL_CL_PREFIX_MAX];/* .../controller_epoch */
    char p_topics[SL_CL_PREFIX_MAX];   /* .../topics */

    s_uev_t *uhead, *utail; /* events for the owner */

    /* Work to do when connected; set again when a step fails. */
    int need_paths, need_register, need_elect, need_reconcile;
    int64_t retry_at;  /* no work before this (after a failure) */
    int renew_pending; /* EXPIRED seen; renew once FENCED was handed out */
    int first_session_done;

    int registered;
    int is_controller;
    int32_t controller_id;    /* -1 unknown */
    int32_t controller_epoch; /* ours when is_controller, else last seen */
    int32_t ctl_epoch_version;/* version of controller_epoch we won with */
    int64_t last_wait_log;    /* registration wait log, rate limit */
};

/* Pushes an event for the owner (dropped if the same one is pending). */
void sl_cl_emit(sl_cluster_t *self, int kind, const char *topic);
/* Maps a ZooKeeper rc to SL_CL_*; logs unexpected ones with what. */
int sl_cl_zkerr(int rc, const char *what, const char *path);

/* nodes.c: all live nodes, sorted by id, malloc'ed (free *out); arms the
 * membership watch. */
int sl_cl_nodes_read(sl_cluster_t *self, sl_cl_node_t **out, int *n);

/* topics.c */
int sl_cl_topic_read(sl_cluster_t *self, const char *name, int watch, sl_cl_topic_t *out);
void sl_cl_topic_paths(sl_cluster_t *self, const char *name, char *topic_path, char *state_path);

/* ctl.c: one pass over every topic as controller. 0, or SL_CL_ENOTLEADER
 * when this node turns out to be controller no more, or another error
 * (retry later). */
int sl_cl_ctl_reconcile(sl_cluster_t *self);

#endif
