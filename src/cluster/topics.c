/* topics.c - topic creation, reads and compare-and-set writes of
 * /seglog/topics/<t>, its state and its config; see cluster.h. */
#include "cluster_int.h"

#include "clog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void sl_cl_topic_paths(sl_cluster_t *self, const char *name, char *topic_path, char *state_path)
{
    snprintf(topic_path, SL_ZK_PATH_MAX, "%s/%s", self->p_topics, name);
    snprintf(state_path, SL_ZK_PATH_MAX, "%s/%s/state", self->p_topics, name);
}

static void s_config_path(sl_cluster_t *self, const char *name, char *path)
{
    snprintf(path, SL_ZK_PATH_MAX, "%s/%s/config", self->p_topics, name);
}

/* The topic's config znode into t->config / t->config_version (watched:
 * its creation, change or deletion wakes the owner as SL_CL_EV_TOPIC). */
static int s_config_read(sl_cluster_t *self, const char *name, int watch, sl_cl_topic_t *t)
{
    zhandle_t *zh = sl_zk_handle(self->zk);
    char path[SL_ZK_PATH_MAX];
    s_config_path(self, name, path);
    int len = SL_CL_CONFIG_MAX - 1;
    struct Stat st;
    int zrc = zoo_get(zh, path, watch, t->config, &len, &st);
    if (zrc == ZNONODE) {
        t->config[0] = '\0';
        t->config_version = -1;
        if (watch) {
            zrc = zoo_exists(zh, path, 1, NULL);
            if (zrc != ZNONODE && zrc != ZOK)
                return sl_cl_zkerr(zrc, "exists", path);
        }
        return 0;
    }
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get", path);
    if (len < 0 || st.dataLength > SL_CL_CONFIG_MAX - 1) {
        sl_clog(SL_CLOG_ERROR, "bad data in %s: longer than %d bytes", path,
                SL_CL_CONFIG_MAX - 1);
        return SL_CL_EBADDATA;
    }
    t->config[len] = '\0';
    if (strlen(t->config) != (size_t) len) {
        sl_clog(SL_CLOG_ERROR, "bad data in %s: a NUL byte", path);
        return SL_CL_EBADDATA;
    }
    t->config_version = st.version;
    return 0;
}

int sl_cluster_config_cas(sl_cluster_t *self, const char *name, int32_t version,
                          const char *text)
{
    if (!sl_cl_topic_name_ok(name) || strlen(text) >= SL_CL_CONFIG_MAX)
        return SL_CL_EINVAL;
    if (!sl_zk_connected(self->zk))
        return SL_CL_ENOTCONN;
    zhandle_t *zh = sl_zk_handle(self->zk);
    char path[SL_ZK_PATH_MAX];
    s_config_path(self, name, path);
    int len = (int) strlen(text), zrc;
    if (version < 0) {
        zrc = zoo_create(zh, path, text, len, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (zrc == ZNODEEXISTS)
            return SL_CL_ESTALE;
        if (zrc == ZNONODE) /* the topic itself is gone */
            return SL_CL_ENONODE;
    } else {
        zrc = zoo_set(zh, path, text, len, version);
        if (zrc == ZBADVERSION || zrc == ZNONODE)
            return SL_CL_ESTALE;
    }
    return zrc == ZOK ? 0 : sl_cl_zkerr(zrc, version < 0 ? "create" : "set", path);
}

int sl_cl_topic_read(sl_cluster_t *self, const char *name, int watch, sl_cl_topic_t *out)
{
    if (!sl_cl_topic_name_ok(name))
        return SL_CL_EINVAL;
    if (!sl_zk_connected(self->zk))
        return SL_CL_ENOTCONN;
    zhandle_t *zh = sl_zk_handle(self->zk);
    char tpath[SL_ZK_PATH_MAX], spath[SL_ZK_PATH_MAX];
    sl_cl_topic_paths(self, name, tpath, spath);
    sl_cl_topic_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    char buf[2048];
    int len = sizeof buf;
    int zrc = zoo_get(zh, tpath, 0, buf, &len, NULL);
    if (zrc == ZNONODE) {
        if (watch) { /* wake the owner when it is created */
            zrc = zoo_exists(zh, spath, 1, NULL);
            if (zrc != ZNONODE && zrc != ZOK)
                return sl_cl_zkerr(zrc, "exists", spath);
        }
        return SL_CL_ENONODE;
    }
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get", tpath);
    if (sl_cl_assign_decode(buf, len, t.replicas, &t.n_replicas, &t.log_id) < 0) {
        sl_clog(SL_CLOG_ERROR, "bad data in %s: not a replica list", tpath);
        return SL_CL_EBADDATA;
    }
    len = sizeof buf;
    struct Stat st;
    zrc = zoo_get(zh, spath, watch, buf, &len, &st);
    if (zrc == ZNONODE) {
        if (watch)
            zoo_exists(zh, spath, 1, NULL);
        sl_clog(SL_CLOG_ERROR, "bad topic %s: no state znode", tpath);
        return SL_CL_EBADDATA;
    }
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get", spath);
    if (sl_cl_state_decode(buf, len, &t.state) < 0 || sl_cl_topic_check(&t) < 0) {
        sl_clog(SL_CLOG_ERROR, "bad data in %s: not a valid state for its replicas", spath);
        return SL_CL_EBADDATA;
    }
    t.state_version = st.version;
    int rc = s_config_read(self, name, watch, &t);
    if (rc != 0)
        return rc;
    *out = t;
    return 0;
}

int sl_cluster_topic_get(sl_cluster_t *self, const char *name, int watch, sl_cl_topic_t *out)
{
    return sl_cl_topic_read(self, name, watch, out);
}

static uint64_t s_new_log_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t) sizeof id || id == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = ((uint64_t) ts.tv_sec << 30) ^ (uint64_t) ts.tv_nsec ^ ((uint64_t) getpid() << 48);
    }
    return id ? id : 1;
}

static uint32_t s_fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t) *s) * 16777619u;
    return h;
}

int sl_cluster_topic_create(sl_cluster_t *self, const char *name, int rf, sl_cl_topic_t *out,
                            int *created)
{
    if (created)
        *created = 0;
    if (!sl_cl_topic_name_ok(name) || rf < 0 || rf > SL_CL_MAX_REPLICAS)
        return SL_CL_EINVAL;
    sl_cl_node_t *live;
    int n_live;
    int rc = sl_cl_nodes_read(self, &live, &n_live);
    if (rc < 0)
        return rc;
    if (rf == 0)
        rf = n_live < 3 ? n_live : 3;
    if (rf == 0 || rf > n_live) {
        free(live);
        /* Someone may have created it already: that is not an error. */
        rc = sl_cl_topic_read(self, name, 0, out);
        return rc == 0 ? 0 : SL_CL_ENOREPLICAS;
    }
    /* Consecutive live nodes from a start that depends on the name, so
     * topics' leaders and replicas spread over the nodes. */
    sl_cl_topic_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    uint32_t start = s_fnv1a(name) % (uint32_t) n_live;
    t.n_replicas = rf;
    for (int i = 0; i < rf; i++)
        t.replicas[i] = live[(start + (uint32_t) i) % (uint32_t) n_live].id;
    free(live);
    t.state.leader = t.replicas[0];
    t.state.leader_epoch = 1;
    t.state.controller_epoch = 0;
    t.state.n_isr = rf;
    memcpy(t.state.isr, t.replicas, sizeof(int32_t) * (size_t) rf);

    /* Every replica creates its local log with this id, so that their files
     * are the same bytes (docs/CLUSTER.md). */
    t.log_id = s_new_log_id();
    char *rdata = sl_cl_assign_encode(t.replicas, t.n_replicas, t.log_id);
    char *sdata = sl_cl_state_encode(&t.state);
    char tpath[SL_ZK_PATH_MAX], spath[SL_ZK_PATH_MAX];
    sl_cl_topic_paths(self, name, tpath, spath);
    rc = SL_CL_ENOMEM;
    if (rdata && sdata) {
        /* Both znodes or neither: no half-made topic for anyone to see. */
        zoo_op_t ops[2];
        zoo_op_result_t res[2];
        memset(res, 0, sizeof res);
        zoo_create_op_init(&ops[0], tpath, rdata, (int) strlen(rdata), &ZOO_OPEN_ACL_UNSAFE, 0,
                           NULL, 0);
        zoo_create_op_init(&ops[1], spath, sdata, (int) strlen(sdata), &ZOO_OPEN_ACL_UNSAFE, 0,
                           NULL, 0);
        int zrc = zoo_multi(sl_zk_handle(self->zk), 2, ops, res);
        if (zrc == ZOK) {
            t.state_version = 0;
            *out = t;
            if (created)
                *created = 1;
            sl_clog(SL_CLOG_INFO, "created topic %s replicas=%d leader=%d", name, rf,
                    (int) t.state.leader);
            rc = 0;
        } else if (zrc == ZNODEEXISTS || res[0].err == ZNODEEXISTS) {
            rc = sl_cl_topic_read(self, name, 0, out); /* lost the race: theirs */
        } else {
            rc = sl_cl_zkerr(zrc, "create topic", tpath);
        }
    }
    free(rdata);
    free(sdata);
    return rc;
}

int sl_cluster_topic_names(sl_cluster_t *self, int watch, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    if (!sl_zk_connected(self->zk))
        return SL_CL_ENOTCONN;
    struct String_vector kids = {0, NULL};
    int zrc = zoo_get_children(sl_zk_handle(self->zk), self->p_topics, watch, &kids);
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get_children", self->p_topics);
    char **v = calloc(kids.count > 0 ? (size_t) kids.count : 1, sizeof *v);
    int k = 0, rc = 0;
    for (int i = 0; v && i < kids.count; i++) {
        if (!sl_cl_topic_name_ok(kids.data[i])) {
            sl_clog(SL_CLOG_WARN, "ignoring znode %s/%.40s: not a topic name", self->p_topics,
                    kids.data[i]);
            continue;
        }
        if (!(v[k] = strdup(kids.data[i]))) {
            rc = SL_CL_ENOMEM;
            break;
        }
        k++;
    }
    deallocate_String_vector(&kids);
    if (!v || rc < 0) {
        sl_cluster_names_free(&v, k);
        return SL_CL_ENOMEM;
    }
    *names = v;
    *n = k;
    return 0;
}

void sl_cluster_names_free(char ***names, int n)
{
    if (!names || !*names)
        return;
    for (int i = 0; i < n; i++)
        free((*names)[i]);
    free(*names);
    *names = NULL;
}

/* next must be a valid state for the topic's replicas. */
static int s_state_ok(const sl_cl_topic_t *t, const sl_cl_state_t *next)
{
    sl_cl_topic_t c = *t;
    c.state = *next;
    if (next->n_isr < 1 || next->n_isr > SL_CL_MAX_REPLICAS || next->leader_epoch < 1 ||
        next->controller_epoch < 0 || next->leader == 0 || next->leader < -1 ||
        (next->leader != -1 && !sl_cl_has(next->isr, next->n_isr, next->leader)))
        return 0;
    for (int i = 0; i < next->n_isr; i++)
        if (next->isr[i] < 1 || sl_cl_has(next->isr, i, next->isr[i]))
            return 0;
    return sl_cl_topic_check(&c) == 0;
}

int sl_cluster_state_cas(sl_cluster_t *self, const char *name, int32_t version,
                         const sl_cl_state_t *next, int32_t *new_version)
{
    sl_cl_topic_t t;
    int rc = sl_cl_topic_read(self, name, 0, &t);
    if (rc < 0)
        return rc;
    if (!s_state_ok(&t, next))
        return SL_CL_EINVAL;
    char tpath[SL_ZK_PATH_MAX], spath[SL_ZK_PATH_MAX];
    sl_cl_topic_paths(self, name, tpath, spath);
    char *data = sl_cl_state_encode(next);
    if (!data)
        return SL_CL_ENOMEM;
    struct Stat st;
    int zrc = zoo_set2(sl_zk_handle(self->zk), spath, data, (int) strlen(data), version, &st);
    free(data);
    if (zrc == ZOK && new_version)
        *new_version = st.version;
    return sl_cl_zkerr(zrc, "set", spath);
}

int sl_cluster_isr_update(sl_cluster_t *self, const char *name, int32_t leader_epoch,
                          const int32_t *isr, int n, sl_cl_topic_t *out)
{
    int32_t me = self->cfg.node_id;
    if (n < 1 || n > SL_CL_MAX_REPLICAS || !sl_cl_has(isr, n, me))
        return SL_CL_EINVAL;
    for (int attempt = 0; attempt < 8; attempt++) {
        sl_cl_topic_t t;
        int rc = sl_cl_topic_read(self, name, 0, &t);
        if (rc < 0)
            return rc;
        if (out)
            *out = t;
        if (t.state.leader != me || t.state.leader_epoch != leader_epoch) {
            sl_clog(SL_CLOG_INFO, "isr change refused topic=%s: leader is %d epoch %d, not %d "
                                  "epoch %d",
                    name, (int) t.state.leader, (int) t.state.leader_epoch, (int) me,
                    (int) leader_epoch);
            return SL_CL_ENOTLEADER;
        }
        sl_cl_state_t next = t.state;
        next.n_isr = n;
        memcpy(next.isr, isr, sizeof(int32_t) * (size_t) n);
        int32_t v;
        rc = sl_cluster_state_cas(self, name, t.state_version, &next, &v);
        if (rc == 0) {
            if (out) {
                out->state = next;
                out->state_version = v;
            }
            sl_clog(SL_CLOG_INFO, "isr of %s is now %d replicas (leader %d epoch %d)", name, n,
                    (int) me, (int) leader_epoch);
            return 0;
        }
        if (rc != SL_CL_ESTALE)
            return rc;
    }
    return SL_CL_ESTALE;
}

int sl_cluster_topic_delete(sl_cluster_t *self, const char *name)
{
    if (!sl_cl_topic_name_ok(name))
        return SL_CL_EINVAL;
    if (!sl_zk_connected(self->zk))
        return SL_CL_ENOTCONN;
    zhandle_t *zh = sl_zk_handle(self->zk);
    char tpath[SL_ZK_PATH_MAX], spath[SL_ZK_PATH_MAX];
    sl_cl_topic_paths(self, name, tpath, spath);
    for (int tries = 0; tries < 16; tries++) {
        struct String_vector kids = {0, NULL};
        int zrc = zoo_get_children(zh, tpath, 0, &kids);
        if (zrc == ZNONODE)
            return SL_CL_ENONODE;
        if (zrc != ZOK)
            return sl_cl_zkerr(zrc, "get children", tpath);
        /* Its children and itself in one zoo_multi: every node sees the
         * whole topic or none of it. */
        int n = kids.count + 1;
        zoo_op_t *ops = calloc((size_t) n, sizeof *ops);
        zoo_op_result_t *res = calloc((size_t) n, sizeof *res);
        char (*paths)[SL_ZK_PATH_MAX + SL_CL_TOPIC_MAX] = calloc((size_t) n, sizeof *paths);
        int rc = ops && res && paths ? 0 : SL_CL_ENOMEM;
        for (int i = 0; rc == 0 && i < kids.count; i++) {
            snprintf(paths[i], sizeof paths[i], "%s/%s", tpath, kids.data[i]);
            zoo_delete_op_init(&ops[i], paths[i], -1);
        }
        if (rc == 0) {
            zoo_delete_op_init(&ops[n - 1], tpath, -1);
            zrc = zoo_multi(zh, n, ops, res);
        }
        deallocate_String_vector(&kids);
        free(ops);
        free(res);
        free(paths);
        if (rc)
            return rc;
        if (zrc == ZOK) {
            sl_clog(SL_CLOG_INFO, "deleted topic %s", name);
            return 0;
        }
        if (zrc == ZNONODE)
            return SL_CL_ENONODE; /* someone else deleted it first */
        if (zrc != ZNOTEMPTY)
            return sl_cl_zkerr(zrc, "delete topic", tpath);
        /* A child was added meanwhile (a first TopicConfig set): again. */
    }
    return SL_CL_ESTALE;
}
