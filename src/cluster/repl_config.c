/*
 * repl_config.c - topic settings in cluster mode (docs/CLUSTER.md, "Topic
 * settings"): ZooKeeper's /seglog/topics/<t>/config is the truth, in the
 * .topic_config format ("KEY=VALUE\n" lines, topicconf.h).
 *
 * A TopicConfig set arrives on a worker (sl_repl_config_set); the repl
 * thread, which owns the ZooKeeper handle, merges the keys it sets into
 * the znode by compare-and-set (two nodes changing different keys at once
 * both keep theirs) and applies the result to the local topic before the
 * worker answers. Every replica watches the znode (sl_cl_topic_read) and
 * applies each version it reads (sl_repl_config_apply): its settings and
 * its .topic_config file follow ZooKeeper, so the retention thread of every
 * node applies the same limits.
 *
 * Also here: sl_repl_run, the one way a worker has ZooKeeper work done (the
 * settings above, and the node's producer-id counter: sl_repl_pids_reserve,
 * pids_zk.c). One call at a time, waited for.
 */
#include "repl_int.h"

#include "clog.h"
#include "topicconf.h"
#include "topics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CALL_TAKE_WAIT_MS 5000 /* for the repl thread to take a call */
#define CONFIG_CAS_TRIES    16

/* Make rt's settings those of text; 0 or an errno / SEGLOG_E_*. */
static int s_apply_text(sl_repl_t *r, rtopic_t *rt, const char *text)
{
    int64_t v[SL_CONF_N];
    int rc = sl_topicconf_parse(text, strlen(text), v);
    if (rc)
        return rc;
    char *dir = sl_topics_dir(r->cfg.topics, rt->tp);
    if (!dir)
        return ENOMEM;
    int64_t before[SL_CONF_N];
    for (int k = 0; k < SL_CONF_N; k++)
        before[k] = atomic_load(&rt->tp->conf.v[k]);
    rc = sl_topicconf_set(&rt->tp->conf, dir, v);
    free(dir);
    if (rc == 0 && memcmp(before, v, sizeof v) != 0) {
        char line[SL_CL_CONFIG_MAX];
        size_t n = sl_topicconf_format(v, line, sizeof line);
        for (size_t i = 0; i < n; i++)
            if (line[i] == '\n')
                line[i] = i + 1 < n ? ' ' : '\0';
        sl_clog(SL_CLOG_INFO, "topic %s: settings from zookeeper: %s", rt->name,
                n ? line : "(none: the server defaults)");
    }
    return rc;
}

void sl_repl_config_apply(sl_repl_t *r, rtopic_t *rt)
{
    if (!rt->tp || rt->config_seen == rt->meta.config_version + 2)
        return;
    int rc = s_apply_text(r, rt, rt->meta.config);
    if (rc == 0) {
        rt->config_seen = rt->meta.config_version + 2; /* 1: "no znode" seen */
        return;
    }
    if (rc == SEGLOG_E_CORRUPT)
        sl_clog(SL_CLOG_ERROR, "topic %s: the settings in zookeeper (version %d) do not parse; "
                               "keeping the current ones", rt->name, (int)rt->meta.config_version);
    else
        sl_clog(SL_CLOG_ERROR, "topic %s: cannot store the settings from zookeeper: %s; will "
                               "retry", rt->name, strerror(rc > 0 ? rc : EIO));
    rt->config_seen = rc == SEGLOG_E_CORRUPT ? rt->meta.config_version + 2 : 0;
    if (rc != SEGLOG_E_CORRUPT)
        rt->need_read = 1;
}

/* The repl thread: merge the request into the znode, apply it here. */
static int s_serve_one(sl_repl_t *r, const char *name, const int64_t v[], const int seen[],
                       char *msg, size_t cap)
{
    for (int tries = 0; tries < CONFIG_CAS_TRIES; tries++) {
        sl_cl_topic_t t;
        int rc = sl_cluster_topic_get(r->cl, name, 0, &t);
        if (rc) {
            snprintf(msg, cap, "cannot read topic \"%s\" from zookeeper: %s", name,
                     sl_cl_strerror(rc));
            return rc;
        }
        int64_t cur[SL_CONF_N], next[SL_CONF_N];
        if (sl_topicconf_parse(t.config, strlen(t.config), cur)) {
            snprintf(msg, cap, "the settings of topic \"%s\" in zookeeper do not parse", name);
            return SL_CL_EBADDATA;
        }
        for (int k = 0; k < SL_CONF_N; k++)
            next[k] = seen[k] ? v[k] : cur[k];
        char text[SL_CL_CONFIG_MAX];
        sl_topicconf_format(next, text, sizeof text);
        rc = strcmp(text, t.config) == 0 ? 0
                                          : sl_cluster_config_cas(r->cl, name, t.config_version,
                                                                  text);
        if (rc == SL_CL_ESTALE)
            continue; /* someone else changed it meanwhile: merge again */
        if (rc) {
            snprintf(msg, cap, "cannot write the settings of topic \"%s\" to zookeeper: %s "
                     "(nothing changed)", name, sl_cl_strerror(rc));
            return rc;
        }
        rtopic_t *rt = sl_repl_find(r, name);
        if (rt && rt->tp && (rc = s_apply_text(r, rt, text)) != 0) {
            snprintf(msg, cap, "the settings are in zookeeper, but this node could not store "
                     "them: %s (it retries)", strerror(rc > 0 ? rc : EIO));
            rt->need_read = 1;
            rt->config_seen = 0;
            return rc;
        }
        sl_clog(SL_CLOG_INFO, "topic %s: settings written to zookeeper", name);
        return 0;
    }
    snprintf(msg, cap, "the settings of topic \"%s\" kept changing in zookeeper; try again",
             name);
    return SL_CL_ESTALE;
}

/* ---- calls from workers, run on the repl thread (the ZooKeeper handle's
 * owner) ---------------------------------------------------------------- */

void sl_repl_calls_serve(sl_repl_t *r)
{
    pthread_mutex_lock(&r->mu);
    int take = r->call.busy && !r->call.taken;
    if (take)
        r->call.taken = 1;
    pthread_mutex_unlock(&r->mu);
    if (!take)
        return;
    /* The caller writes nothing of r->call while it is taken. */
    char msg[sizeof r->call.msg] = "";
    int rc = r->call.fn(r, r->call.arg, msg, sizeof msg);
    pthread_mutex_lock(&r->mu);
    r->call.rc = rc;
    memcpy(r->call.msg, msg, sizeof msg);
    r->call.done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

int sl_repl_run(sl_repl_t *r, sl_repl_call_fn *fn, void *arg, char *msg, size_t cap)
{
    pthread_mutex_lock(&r->call_mu); /* one at a time: they are rare */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CALL_TAKE_WAIT_MS / 1000;
    pthread_mutex_lock(&r->mu);
    r->call.fn = fn;
    r->call.arg = arg;
    r->call.busy = 1;
    r->call.taken = r->call.done = 0;
    uint64_t one = 1;
    ssize_t wn = write(r->efd, &one, sizeof one);
    (void)wn;
    int rc = 0;
    while (!r->call.done) {
        if (!r->call.taken) {
            if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT && !r->call.taken) {
                /* Withdrawn before the repl thread took it: nothing was done. */
                snprintf(msg, cap, "the replication thread did not take the request within "
                         "%d ms (nothing changed)", CALL_TAKE_WAIT_MS);
                rc = SL_CL_ETIMEOUT;
                break;
            }
        } else {
            /* Taken: its ZooKeeper calls end by themselves (their own
             * timeouts); its outcome must be reported, whatever it is. */
            pthread_cond_wait(&r->cv, &r->mu);
        }
    }
    if (r->call.done) {
        rc = r->call.rc;
        if (rc)
            snprintf(msg, cap, "%s", r->call.msg);
    }
    r->call.busy = 0;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->call_mu);
    return rc;
}

typedef struct {
    const char *name;
    const int64_t *v;
    const int *seen;
} config_args_t;

static int s_config_fn(sl_repl_t *r, void *arg, char *msg, size_t cap)
{
    const config_args_t *a = arg;
    return s_serve_one(r, a->name, a->v, a->seen, msg, cap);
}

int sl_repl_config_set(sl_repl_t *r, const char *name, const int64_t *v, const int *seen,
                       char *msg, size_t cap)
{
    config_args_t a = {name, v, seen};
    return sl_repl_run(r, s_config_fn, &a, msg, cap);
}

typedef struct {
    uint64_t next, block, limit, start, reserved;
} pids_args_t;

static int s_pids_fn(sl_repl_t *r, void *arg, char *msg, size_t cap)
{
    pids_args_t *a = arg;
    int rc = sl_cluster_pids_reserve(r->cl, a->next, a->block, a->limit, &a->start, &a->reserved);
    if (rc)
        snprintf(msg, cap, "cannot reserve producer ids in zookeeper: %s", sl_cl_strerror(rc));
    return rc;
}

int sl_repl_pids_reserve(sl_repl_t *r, uint64_t next, uint64_t block, uint64_t limit,
                         uint64_t *start, uint64_t *reserved, char *msg, size_t cap)
{
    pids_args_t a = {.next = next, .block = block, .limit = limit};
    int rc = sl_repl_run(r, s_pids_fn, &a, msg, cap);
    if (rc == 0) {
        *start = a.start;
        *reserved = a.reserved;
    }
    return rc;
}
