/* repl.c - the replication thread: ZooKeeper events, topic roles, and the
 * produce path's questions (repl.h). */
#include "repl_int.h"

#include "clog.h"
#include "codec.h"
#include "topics.h"
#include "zk.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>


int64_t sl_repl_now_ms(void)
{
    return sl_zk_now_ms();
}

void sl_repl_efd_write(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* EAGAIN: already readable */
}

void sl_repl_wake_acks(sl_repl_t *r)
{
    pthread_mutex_lock(&r->mu);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->cfg.wake_fd >= 0)
        sl_repl_efd_write(r->cfg.wake_fd);
}

rtopic_t *sl_repl_find(sl_repl_t *r, const char *name)
{
    for (rtopic_t *rt = r->topics; rt; rt = rt->next)
        if (strcmp(rt->name, name) == 0)
            return rt;
    return NULL;
}

static rtopic_t *s_topic_add(sl_repl_t *r, const char *name)
{
    rtopic_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    snprintf(rt->name, sizeof rt->name, "%s", name);
    rt->leader_id = -1;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* the repl thread must not starve behind a stream of produces */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&rt->role_lk, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_mutex_lock(&r->mu);
    rt->next = r->topics;
    r->topics = rt;
    pthread_mutex_unlock(&r->mu);
    return rt;
}

const sl_cl_node_t *sl_repl_node(sl_repl_t *r, int32_t id)
{
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].id == id)
            return &r->nodes[i];
    return NULL;
}

static void s_set_leader_ep(sl_repl_t *r, rtopic_t *rt)
{
    const sl_cl_node_t *n = rt->meta.state.leader > 0 ? sl_repl_node(r, rt->meta.state.leader) : NULL;
    pthread_mutex_lock(&r->mu);
    snprintf(rt->leader_ep, sizeof rt->leader_ep, "%s", n ? n->endpoint : "");
    pthread_mutex_unlock(&r->mu);
}

void sl_repl_drop_leadership(sl_repl_t *r, rtopic_t *rt, const char *why)
{
    if (atomic_load(&rt->role) == RT_LEADER)
        sl_clog(SL_CLOG_WARN, "topic %s: no longer leader of epoch %d: %s", rt->name,
                (int)rt->epoch, why);
    pthread_rwlock_wrlock(&rt->role_lk); /* waits for the appends that checked before */
    atomic_store(&rt->lead, 0);
    atomic_store(&rt->role, RT_NONE);
    pthread_rwlock_unlock(&rt->role_lk);
    sl_repl_parks_drop(r, rt);
    sl_repl_wake_acks(r);
}

/* Open (create) the local log of a topic this node replicates. */
static int s_local(sl_repl_t *r, rtopic_t *rt)
{
    if (rt->tp)
        return 0;
    sl_topic_t *tp = NULL;
    int stale = 0;
    int rc = sl_topics_get_id(r->cfg.topics, rt->name, strlen(rt->name), rt->meta.log_id, &tp,
                              &stale);
    if (stale)
        sl_clog(SL_CLOG_WARN, "topic %s: the local log was of an older incarnation of the "
                              "topic: deleted, starting empty", rt->name);
    if (rc) {
        sl_clog(SL_CLOG_ERROR, "topic %s: cannot open its local log (error %d)", rt->name, rc);
        return rc;
    }
    atomic_store(&tp->cluster, (void *)rt);
    uint64_t lim = atomic_load(&tp->limit);
    atomic_store(&rt->hw, lim == UINT64_MAX ? 0 : lim);
    rt->tp = tp;
    sl_repl_ckpt_apply(r, rt);
    return 0;
}

void sl_repl_apply(sl_repl_t *r, rtopic_t *rt, const sl_cl_topic_t *t)
{
    int32_t me = r->cfg.node_id;
    pthread_mutex_lock(&r->mu); /* Metadata readers copy it under mu */
    rt->meta = *t;
    pthread_mutex_unlock(&r->mu);
    rt->need_read = 0;
    const sl_cl_state_t *s = &t->state;
    atomic_store(&rt->isr_n, s->n_isr);
    s_set_leader_ep(r, rt);
    if (!sl_cl_has(t->replicas, t->n_replicas, me) || s_local(r, rt)) {
        if (atomic_load(&rt->role) != RT_NONE)
            sl_repl_drop_leadership(r, rt, "not a replica");
        atomic_store(&rt->have_state, 1);
        sl_repl_wake_acks(r);
        return;
    }
    if (s->leader == me) {
        if (atomic_load(&rt->role) != RT_LEADER || rt->epoch != s->leader_epoch) {
            rt->epoch = s->leader_epoch;
            rt->leader_id = me;
            sl_repl_follower_reset(r, rt);
            sl_repl_leader_start(r, rt);
            atomic_store(&rt->role, RT_LEADER);
            atomic_store(&rt->lead, s->leader_epoch);
            sl_clog(SL_CLOG_INFO, "topic %s: leader at epoch %d, isr size %d", rt->name,
                    (int)s->leader_epoch, s->n_isr);
        }
        sl_repl_hw_update(r, rt);
    } else {
        if (atomic_load(&rt->role) == RT_LEADER)
            sl_repl_drop_leadership(r, rt, "the state names another leader");
        if (atomic_load(&rt->role) != RT_FOLLOWER || rt->epoch != s->leader_epoch ||
            rt->leader_id != s->leader) {
            rt->epoch = s->leader_epoch;
            rt->leader_id = s->leader;
            sl_repl_follower_reset(r, rt);
            atomic_store(&rt->role, s->leader > 0 ? RT_FOLLOWER : RT_NONE);
            if (s->leader > 0)
                sl_clog(SL_CLOG_INFO, "topic %s: following node %d at epoch %d", rt->name,
                        (int)s->leader, (int)s->leader_epoch);
            else
                sl_clog(SL_CLOG_WARN, "topic %s: offline (no live in-sync replica), epoch %d",
                        rt->name, (int)s->leader_epoch);
        }
    }
    sl_repl_config_apply(r, rt);
    atomic_store(&rt->have_state, 1);
    sl_repl_wake_acks(r);
}

/* Read one topic (arming its watch) and apply it. */
int sl_repl_read_topic(sl_repl_t *r, const char *name)
{
    sl_cl_topic_t t;
    int rc = sl_cluster_topic_get(r->cl, name, 1, &t);
    rtopic_t *rt = sl_repl_find(r, name);
    if (rc == SL_CL_ENONODE) {
        if (rt && atomic_load(&rt->have_state))
            sl_repl_topic_gone(r, rt); /* deleted in ZooKeeper */
        return 0;
    }
    if (rc) {
        if (rt)
            rt->need_read = 1;
        return rc;
    }
    if (!rt && !(rt = s_topic_add(r, name)))
        return SL_CL_ENOMEM;
    sl_repl_apply(r, rt, &t);
    return 0;
}

static int s_read_nodes(sl_repl_t *r)
{
    int n = 0;
    sl_cl_node_t *tmp = r->nodes_tmp;
    int rc = sl_cluster_nodes(r->cl, tmp, REPL_MAX_NODES, &n);
    if (rc) {
        r->need_nodes = 1;
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    r->nnodes = n < REPL_MAX_NODES ? n : REPL_MAX_NODES;
    memcpy(r->nodes, tmp, (size_t)r->nnodes * sizeof tmp[0]);
    pthread_mutex_unlock(&r->mu);
    r->need_nodes = 0;
    for (rtopic_t *rt = r->topics; rt; rt = rt->next)
        if (atomic_load(&rt->have_state))
            s_set_leader_ep(r, rt);
    return 0;
}

static int s_read_all(sl_repl_t *r)
{
    char **names = NULL;
    int n = 0;
    int rc = sl_cluster_topic_names(r->cl, 1, &names, &n);
    if (rc) {
        r->need_all = 1;
        return rc;
    }
    for (int i = 0; i < n && rc == 0; i++)
        rc = sl_repl_read_topic(r, names[i]);
    /* Topics we know that are no longer listed were deleted meanwhile. */
    for (rtopic_t *rt = r->topics; rt && rc == 0; rt = rt->next) {
        int listed = 0;
        for (int i = 0; i < n && !listed; i++)
            listed = strcmp(names[i], rt->name) == 0;
        if (!listed && atomic_load(&rt->have_state))
            rc = sl_repl_read_topic(r, rt->name);
    }
    sl_cluster_names_free(&names, n);
    r->need_all = rc != 0;
    if (rc == 0)
        r->ck_listed = 1;
    return rc;
}

static void s_event(sl_repl_t *r, const sl_cl_event_t *ev)
{
    switch (ev->kind) {
    case SL_CL_EV_FENCED:
        for (rtopic_t *rt = r->topics; rt; rt = rt->next)
            if (atomic_load(&rt->role) == RT_LEADER)
                sl_repl_drop_leadership(r, rt, "zookeeper session expired (fenced)");
        atomic_store(&r->lease_until, 0);
        break;
    case SL_CL_EV_REGISTERED:
        s_read_nodes(r);
        s_read_all(r);
        break;
    case SL_CL_EV_NODES:
        s_read_nodes(r);
        break;
    case SL_CL_EV_TOPIC:
        if (sl_repl_read_topic(r, ev->topic)) {
            rtopic_t *rt = sl_repl_find(r, ev->topic);
            if (rt)
                rt->need_read = 1;
            else
                r->need_all = 1;
        }
        break;
    case SL_CL_EV_TOPICS:
        s_read_all(r);
        break;
    default:
        break;
    }
}

/* Topics the produce path asked for. */
static void s_creates(sl_repl_t *r)
{
    char name[SL_CL_TOPIC_MAX + 1];
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int have = r->ncreq > 0;
        if (have)
            memcpy(name, r->creq[--r->ncreq], sizeof name);
        pthread_mutex_unlock(&r->mu);
        if (!have)
            return;
        if (sl_repl_find(r, name) && atomic_load(&sl_repl_find(r, name)->have_state))
            continue;
        sl_cl_topic_t t;
        int created = 0;
        int rc = sl_cluster_topic_create(r->cl, name, r->cfg.replication_factor, &t, &created);
        if (rc) {
            sl_clog(SL_CLOG_WARN, "topic %s: creation failed: %s", name, sl_cl_strerror(rc));
            pthread_mutex_lock(&r->mu);
            memcpy(r->cfail, name, sizeof name);
            r->cfail_rc = rc;
            pthread_mutex_unlock(&r->mu);
            sl_repl_wake_acks(r);
            continue;
        }
        if (created)
            sl_clog(SL_CLOG_INFO, "topic %s: created with %d replicas", name, t.n_replicas);
        sl_repl_read_topic(r, name);
    }
}

static void s_retries(sl_repl_t *r, int64_t now)
{
    if (now < r->retry_ms || !sl_cluster_registered(r->cl))
        return;
    r->retry_ms = now + 500;
    if (r->need_nodes)
        s_read_nodes(r);
    if (r->need_all)
        s_read_all(r);
    for (rtopic_t *rt = r->topics; rt; rt = rt->next)
        if (rt->need_read)
            sl_repl_read_topic(r, rt->name);
}

/* What health checks and metrics read (repl_stats.c). Ready: registered,
 * the topic list read, and every topic's state known. */
static void s_publish(sl_repl_t *r)
{
    int reg = sl_cluster_registered(r->cl), ready = reg && !r->need_all;
    for (rtopic_t *rt = r->topics; rt && ready; rt = rt->next)
        ready = atomic_load(&rt->have_state) && !rt->need_read;
    atomic_store(&r->registered_pub, reg);
    atomic_store(&r->controller_pub, sl_cluster_is_controller(r->cl));
    atomic_store(&r->ready_pub, ready);
}

static void *s_main(void *arg)
{
    sl_repl_t *r = arg;
    pthread_setname_np(pthread_self(), "sl-repl");
    zmq_pollitem_t items[3 + 256];
    rtopic_t *by_item[256];
    while (!atomic_load(&r->stop)) {
        int64_t now = sl_repl_now_ms();
        int n = 0;
        items[n++] = (zmq_pollitem_t){.fd = sl_cluster_fd(r->cl), .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.fd = r->efd, .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.socket = r->router, .events = ZMQ_POLLIN};
        int nd = 0;
        for (rtopic_t *rt = r->topics; rt && nd < 256; rt = rt->next)
            if (rt->dealer && rt->inflight) {
                by_item[nd++] = rt;
                items[n++] = (zmq_pollitem_t){.socket = rt->dealer, .events = ZMQ_POLLIN};
            }
        int wait = 50, pw = sl_repl_parks_wait_ms(r, now);
        if (pw >= 0 && pw < wait)
            wait = pw;
        if (sl_repl_before_wait(r))
            wait = 0;
        if (zmq_poll(items, n, wait) < 0 && zmq_errno() != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t k = read(r->efd, &v, sizeof v);
            (void)k;
        }
        sl_cl_event_t ev;
        for (int i = 0; i < 64 && sl_cluster_process(r->cl, &ev) == 1; i++)
            s_event(r, &ev);
        atomic_store(&r->lease_until, sl_cluster_lease_until_ms(r->cl));
        s_publish(r);
        s_creates(r);
        sl_repl_calls_serve(r);
        now = sl_repl_now_ms();
        s_retries(r, now);
        if (items[2].revents & ZMQ_POLLIN)
            sl_repl_serve(r);
        for (int i = 0; i < nd; i++)
            if (items[3 + i].revents & ZMQ_POLLIN)
                sl_repl_follower_recv(r, by_item[i]);
        now = sl_repl_now_ms();
        sl_repl_leader_tick(r, now);
        for (rtopic_t *rt = r->topics; rt; rt = rt->next)
            sl_repl_follower_tick(r, rt, now);
        sl_repl_ckpt_tick(r, now);
    }
    return NULL;
}

/* "tcp://host:port" -> port ("" if none). */
static const char *s_port(const char *ep)
{
    const char *c = strrchr(ep, ':');
    return c ? c + 1 : "";
}

int sl_repl_new(const sl_repl_config_t *cfg, sl_repl_t **out)
{
    sl_repl_t *r = calloc(1, sizeof *r);
    if (!r)
        return SL_CL_ENOMEM;
    r->cfg = *cfg;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->call_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->router = zmq_socket(cfg->zmq_ctx, ZMQ_ROUTER);
    int zero = 0;
    if (r->efd < 0 || !r->router)
        goto fail;
    zmq_setsockopt(r->router, ZMQ_LINGER, &zero, sizeof zero);
    if (cfg->curve_secret) { /* a CURVE server under zauth (repl.h) */
        int one = 1;
        if (zmq_setsockopt(r->router, ZMQ_CURVE_SERVER, &one, sizeof one) ||
            zmq_setsockopt(r->router, ZMQ_CURVE_SECRETKEY, cfg->curve_secret, 40) ||
            zmq_setsockopt(r->router, ZMQ_ZAP_DOMAIN, "seglog", 6)) {
            sl_clog(SL_CLOG_ERROR, "cannot set CURVE on the replication socket: %s",
                    zmq_strerror(zmq_errno()));
            goto fail;
        }
    }
    if (zmq_bind(r->router, cfg->repl_bind)) {
        sl_clog(SL_CLOG_ERROR, "cannot bind the replication socket %s: %s", cfg->repl_bind,
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    char bound[256];
    size_t blen = sizeof bound;
    zmq_getsockopt(r->router, ZMQ_LAST_ENDPOINT, bound, &blen);
    snprintf(r->repl_ep, sizeof r->repl_ep, "tcp://%s:%s", cfg->repl_advertise_host,
             s_port(bound));
    sl_cluster_config_t cc = {
        .zookeeper = cfg->zookeeper,
        .session_ms = cfg->zk_session_ms,
        .node_id = cfg->node_id,
        .endpoint = cfg->endpoint,
        .pub_endpoint = cfg->pub_endpoint,
        .repl_endpoint = r->repl_ep,
        .curve_public_key = cfg->curve_public,
    };
    r->cl = sl_cluster_new(&cc);
    if (!r->cl)
        goto fail;
    r->need_all = 1;
    sl_repl_ckpt_load(r);
    r->ck_next_ms = sl_repl_now_ms() + cfg->hw_checkpoint_ms;
    if (pthread_create(&r->thread, NULL, s_main, r))
        goto fail;
    r->started = 1;
    sl_clog(SL_CLOG_INFO, "cluster mode: node %d, zookeeper %s, replication endpoint %s",
            (int)cfg->node_id, cfg->zookeeper, r->repl_ep);
    *out = r;
    return 0;
fail:
    sl_repl_destroy(&r);
    return SL_CL_EINVAL;
}

void sl_repl_destroy(sl_repl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sl_repl_t *r = *self_p;
    *self_p = NULL;
    if (r->started) {
        atomic_store(&r->stop, 1);
        sl_repl_efd_write(r->efd);
        pthread_join(r->thread, NULL);
        sl_repl_ckpt_write(r); /* a clean stop: the HWs as they are now */
    }
    for (rtopic_t *rt = r->topics; rt;) {
        rtopic_t *next = rt->next;
        sl_repl_parks_drop(r, rt);
        if (rt->dealer)
            zmq_close(rt->dealer);
        seglog_iter_destroy(&rt->iter); /* before the server closes the logs */
        if (rt->tp)
            atomic_store(&rt->tp->cluster, NULL);
        pthread_rwlock_destroy(&rt->role_lk);
        free(rt);
        rt = next;
    }
    free(r->parks);
    free(r->f_recs);
    free(r->f_ptrs);
    free(r->f_at);
    free(r->f_bytes);
    sl_repl_arena_free(r);
    sl_repl_ckpt_free(r);
    sl_cluster_destroy(&r->cl);
    if (r->router)
        zmq_close(r->router);
    if (r->efd >= 0)
        close(r->efd);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->call_mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

const char *sl_repl_endpoint(sl_repl_t *self)
{
    return self->repl_ep;
}

void sl_repl_appended(sl_repl_t *self)
{
    /* The records are in the log (its end moved under its lock): see
     * sl_repl_before_wait for the other half. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&self->wake_on_append))
        sl_repl_efd_write(self->efd);
}
