/*
 * repl_admin.c - CreateTopic and DeleteTopic in cluster mode: run on the
 * repl thread (sl_repl_run) against ZooKeeper, then applied here at once;
 * the other nodes apply them from their watches (docs/CLUSTER.md).
 */
#include "repl_int.h"

#include "clog.h"
#include "errors.h"
#include "topics.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int rf, created, n, enough;
} create_args_t;

/* CreateTopic (sl_repl_run: the repl thread). */
static int s_create_fn(sl_repl_t *r, void *arg, char *msg, size_t cap)
{
    create_args_t *a = arg;
    sl_cl_topic_t t;
    int rf = a->rf ? a->rf : r->cfg.replication_factor;
    int rc = sl_cluster_topic_create(r->cl, a->name, rf, &t, &a->created);
    if (rc == SL_CL_ENOREPLICAS) {
        a->enough = 0;
        snprintf(msg, cap, "topic \"%s\" needs %d replicas and fewer nodes are live: nothing "
                 "was created", a->name, rf);
        return rc;
    }
    if (rc) {
        snprintf(msg, cap, "topic \"%s\" could not be created in zookeeper: %s", a->name,
                 sl_cl_strerror(rc));
        return rc;
    }
    if (a->created)
        sl_clog(SL_CLOG_INFO, "topic %s: created by request with %d replicas", a->name,
                t.n_replicas);
    a->n = t.n_replicas;
    sl_repl_read_topic(r, a->name); /* this node's role for it, at once */
    return 0;
}

int sl_repl_create_topic(sl_repl_t *r, const char *name, int rf, int *created, int *n,
                         int *enough, char *msg, size_t cap)
{
    create_args_t a = {.name = name, .rf = rf, .enough = 1};
    int rc = sl_repl_run(r, s_create_fn, &a, msg, cap);
    *created = a.created;
    *n = a.n;
    *enough = a.enough;
    return rc;
}

void sl_repl_topic_gone(sl_repl_t *r, rtopic_t *rt)
{
    sl_clog(SL_CLOG_INFO, "topic %s: deleted in zookeeper: deleting the local log", rt->name);
    /* No append, fetch or ack uses the old log past this point. */
    if (atomic_load(&rt->role) == RT_LEADER) {
        sl_repl_drop_leadership(r, rt, "the topic was deleted");
    } else {
        pthread_rwlock_wrlock(&rt->role_lk);
        atomic_store(&rt->lead, 0);
        atomic_store(&rt->role, RT_NONE);
        pthread_rwlock_unlock(&rt->role_lk);
        sl_repl_parks_drop(r, rt);
    }
    sl_repl_follower_reset(r, rt);
    if (rt->iter)
        seglog_iter_destroy(&rt->iter);
    if (rt->tp) {
        rt->tp = NULL;
        int rc = sl_topics_delete(r->cfg.topics, rt->name, strlen(rt->name));
        if (rc && rc != SL_E_UNKNOWN_TOPIC)
            sl_clog(SL_CLOG_ERROR, "topic %s: deleting the local log failed (error %d); it "
                    "is replaced if the topic is created again", rt->name, rc);
    }
    pthread_mutex_lock(&r->mu);
    memset(&rt->meta, 0, sizeof rt->meta);
    snprintf(rt->meta.name, sizeof rt->meta.name, "%s", rt->name);
    rt->leader_ep[0] = '\0';
    pthread_mutex_unlock(&r->mu);
    atomic_store(&rt->hw, 0);
    atomic_store(&rt->isr_n, 0);
    atomic_store(&rt->nfol_pub, 0);
    rt->nfol = 0;
    rt->epoch = 0;
    rt->leader_id = -1;
    rt->config_seen = 0;
    rt->need_read = 0;
    atomic_store(&rt->have_state, 0);
    sl_repl_wake_acks(r);
}

static int s_delete_fn(sl_repl_t *r, void *arg, char *msg, size_t cap)
{
    const char *name = arg;
    int rc = sl_cluster_topic_delete(r->cl, name);
    if (rc == SL_CL_ENONODE) {
        snprintf(msg, cap, "unknown topic \"%s\"", name);
        return rc;
    }
    if (rc) {
        snprintf(msg, cap, "topic \"%s\" could not be deleted in zookeeper: %s (nothing "
                 "changed)", name, sl_cl_strerror(rc));
        return rc;
    }
    rtopic_t *rt = sl_repl_find(r, name);
    if (rt && atomic_load(&rt->have_state))
        sl_repl_topic_gone(r, rt); /* here at once; the others from their watches */
    return 0;
}

int sl_repl_delete_topic(sl_repl_t *r, const char *name, int *unknown, char *msg, size_t cap)
{
    int rc = sl_repl_run(r, s_delete_fn, (void *)name, msg, cap);
    *unknown = rc == SL_CL_ENONODE;
    return rc;
}
