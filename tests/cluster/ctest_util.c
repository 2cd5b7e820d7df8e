/* ctest_util.c - see ctest_util.h. */
#include "ctest_util.h"

#include "clog.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static char *s_lines;
static size_t s_len;

static void s_sink(int level, const char *line, void *arg)
{
    (void) arg;
    fprintf(stderr, "[cluster %d] %s\n", level, line);
    size_t n = strlen(line);
    pthread_mutex_lock(&s_mu);
    char *p = realloc(s_lines, s_len + n + 2);
    if (p) {
        memcpy(p + s_len, line, n);
        p[s_len + n] = '\n';
        p[s_len + n + 1] = '\0';
        s_lines = p;
        s_len += n + 1;
    }
    pthread_mutex_unlock(&s_mu);
}

void ct_log_capture(void)
{
    sl_clog_set_sink(s_sink, NULL);
}

int ct_log_seen(const char *needle)
{
    pthread_mutex_lock(&s_mu);
    int seen = s_lines && strstr(s_lines, needle) != NULL;
    pthread_mutex_unlock(&s_mu);
    return seen;
}

void ct_log_clear(void)
{
    pthread_mutex_lock(&s_mu);
    free(s_lines);
    s_lines = NULL;
    s_len = 0;
    pthread_mutex_unlock(&s_mu);
}

int tn_start(tnode_t *n, const char *hosts, int32_t id, int session_ms)
{
    memset(n, 0, sizeof *n);
    char ep[64], pub[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 20000 + id);
    snprintf(pub, sizeof pub, "tcp://127.0.0.1:%d", 30000 + id);
    sl_cluster_config_t cfg = {.zookeeper = hosts, .session_ms = session_ms, .node_id = id,
                               .endpoint = ep, .pub_endpoint = pub};
    n->id = id;
    n->c = sl_cluster_new(&cfg);
    return n->c ? 0 : -1;
}

void tn_stop(tnode_t *n)
{
    sl_cluster_destroy(&n->c);
}

void tn_pump(tnode_t *n)
{
    if (!n->c)
        return;
    sl_cl_event_t ev;
    while (sl_cluster_process(n->c, &ev)) {
        switch (ev.kind) {
        case SL_CL_EV_FENCED:
            n->fenced++;
            n->registered_after_fence = 0;
            if (sl_cluster_registered(n->c) || sl_cluster_is_controller(n->c))
                n->fenced_while_registered++;
            break;
        case SL_CL_EV_REGISTERED:
            n->registered++;
            n->registered_after_fence++;
            break;
        case SL_CL_EV_DOWN: n->down++; break;
        case SL_CL_EV_UP: n->up++; break;
        case SL_CL_EV_NODES: n->nodes++; break;
        case SL_CL_EV_TOPIC: n->topic++; break;
        case SL_CL_EV_TOPICS: n->topics++; break;
        case SL_CL_EV_CONTROLLER:
            if (ev.is_controller)
                n->controller_on++;
            else
                n->controller_off++;
            break;
        default: break;
        }
    }
}

static long long s_now(void)
{
    return sl_zk_now_ms();
}

int ct_until(tnode_t **nodes, int k, ct_cond_fn *cond, void *arg, int timeout_ms)
{
    long long deadline = s_now() + timeout_ms;
    for (;;) {
        struct pollfd p[16];
        int np = 0;
        for (int i = 0; i < k; i++) {
            tn_pump(nodes[i]);
            if (nodes[i]->c && np < 16)
                p[np++] = (struct pollfd){.fd = sl_cluster_fd(nodes[i]->c), .events = POLLIN};
        }
        if (cond(arg))
            return 1;
        long long left = deadline - s_now();
        if (left <= 0)
            return 0;
        poll(p, (nfds_t) np, left < 20 ? (int) left : 20);
    }
}

static void s_raw_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void) zh, (void) path;
    if (type == ZOO_SESSION_EVENT)
        atomic_store((atomic_int *) ctx, state);
}

static void s_raw_log(const char *message)
{
    sl_clog(SL_CLOG_DEBUG, "raw zookeeper client: %s", message);
}

static atomic_int s_raw_state[8];
static int s_raw_next;

zhandle_t *ct_raw_session(const char *hosts, const clientid_t *cid)
{
    atomic_int *st = &s_raw_state[s_raw_next++ % 8];
    atomic_store(st, 0);
    zhandle_t *zh = zookeeper_init2(hosts, s_raw_watcher, 4000, cid, st, 0, s_raw_log);
    if (!zh)
        return NULL;
    long long deadline = s_now() + 10000;
    while (atomic_load(st) != ZOO_CONNECTED_STATE) {
        if (s_now() > deadline || atomic_load(st) == ZOO_EXPIRED_SESSION_STATE) {
            zookeeper_close(zh);
            return NULL;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return zh;
}

zhandle_t *ct_raw(const char *hosts)
{
    return ct_raw_session(hosts, NULL);
}

/* ---- sets of nodes ---- */

int c_all_registered(void *arg)
{
    nodeset_t *s = arg;
    for (int i = 0; i < s->k; i++)
        if (!s->n[i]->c || !sl_cluster_registered(s->n[i]->c))
            return 0;
    return 1;
}

int c_one_controller(void *arg)
{
    nodeset_t *s = arg;
    int count = 0;
    int32_t id = -1;
    for (int i = 0; i < s->k; i++)
        if (sl_cluster_is_controller(s->n[i]->c)) {
            count++;
            id = s->n[i]->id;
        }
    if (count != 1)
        return 0;
    for (int i = 0; i < s->k; i++)
        if (sl_cluster_controller_id(s->n[i]->c) != id)
            return 0;
    return 1;
}

tnode_t *ct_controller(nodeset_t *s)
{
    for (int i = 0; i < s->k; i++)
        if (s->n[i]->c && sl_cluster_is_controller(s->n[i]->c))
            return s->n[i];
    return NULL;
}

tnode_t *ct_node(tnode_t **all, int k, int32_t id)
{
    for (int i = 0; i < k; i++)
        if (all[i]->id == id)
            return all[i];
    return NULL;
}

int ct_start_all(nodeset_t *s, const char *hosts, int session_ms, int wait_ms)
{
    for (int i = 0; i < s->k; i++)
        if (tn_start(s->n[i], hosts, i + 1, session_ms) < 0)
            return 0;
    return ct_until(s->n, s->k, c_all_registered, s, wait_ms) &&
           ct_until(s->n, s->k, c_one_controller, s, wait_ms);
}

void ct_stop_all(nodeset_t *s)
{
    for (int i = 0; i < s->k; i++)
        tn_stop(s->n[i]);
}

int c_new_controller(void *arg)
{
    newctl_t *x = arg;
    tnode_t *c = ct_controller(&x->s);
    return c_one_controller(&x->s) && c && sl_cluster_controller_epoch(c->c) > x->above;
}

int c_leader(void *arg)
{
    want_t *w = arg;
    return sl_cluster_topic_get(w->reader->c, w->topic, 0, &w->t) == 0 &&
           w->t.state.leader == w->leader && w->t.state.leader_epoch == w->epoch;
}

zkproc_t *ct_zk;
zhandle_t *ct_zkraw;

int ct_zk_setup(void **state)
{
    (void) state;
    ct_log_capture();
    ct_zk = zkproc_start(100);
    if (!ct_zk)
        return -1;
    ct_zkraw = ct_raw(zkproc_hosts(ct_zk));
    return ct_zkraw ? 0 : -1;
}

int ct_zk_teardown(void **state)
{
    (void) state;
    if (ct_zkraw)
        zookeeper_close(ct_zkraw);
    ct_zkraw = NULL;
    zkproc_destroy(&ct_zk);
    return 0;
}

void ct_hosts(char *buf, size_t cap, const char *chroot)
{
    snprintf(buf, cap, "%s%s", zkproc_hosts(ct_zk), chroot);
}
