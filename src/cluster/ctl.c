/* ctl.c - the controller: its rule for one topic (sl_cl_decide, see ctl.h)
 * and the pass over every topic that applies it through ZooKeeper. */
#include "ctl.h"

#include "clog.h"
#include "cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_cl_decide(const int32_t *replicas, int n_replicas, const sl_cl_state_t *cur,
                 const int32_t *live, int n_live, int32_t ctl_epoch, sl_cl_state_t *next)
{
    sl_cl_state_t s = *cur;
    s.n_isr = 0;
    for (int i = 0; i < cur->n_isr; i++) /* live ISR members, in order */
        if (sl_cl_has(live, n_live, cur->isr[i]))
            s.isr[s.n_isr++] = cur->isr[i];
    int leader_alive = cur->leader != -1 && sl_cl_has(live, n_live, cur->leader);
    if (leader_alive) {
        if (s.n_isr == cur->n_isr)
            return 0;
        s.controller_epoch = ctl_epoch;
        *next = s;
        return 1;
    }
    int32_t chosen = -1;
    for (int i = 0; i < n_replicas && chosen < 0; i++)
        if (sl_cl_has(s.isr, s.n_isr, replicas[i]))
            chosen = replicas[i];
    if (chosen < 0) {
        /* No live ISR member: offline, and the ISR stays as it was. */
        if (cur->leader == -1)
            return 0;
        s = *cur;
        s.leader = -1;
    } else {
        s.leader = chosen;
    }
    if (cur->leader_epoch == INT32_MAX) {
        sl_clog(SL_CLOG_ERROR, "leader_epoch at its maximum: cannot change the leader");
        return 0;
    }
    s.leader_epoch = cur->leader_epoch + 1;
    s.controller_epoch = ctl_epoch;
    *next = s;
    return 1;
}

static void s_fmt_ids(char *buf, size_t cap, const int32_t *ids, int n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && off < cap; i++)
        off += (size_t) snprintf(buf + off, cap - off, "%s%d", i ? "," : "", (int) ids[i]);
}

/* Applies the rule to one topic. 0, SL_CL_ENOTLEADER (deposed) or an error. */
static int s_topic(sl_cluster_t *self, const char *name, const int32_t *live, int n_live)
{
    zhandle_t *zh = sl_zk_handle(self->zk);
    char tpath[SL_ZK_PATH_MAX], spath[SL_ZK_PATH_MAX];
    sl_cl_topic_paths(self, name, tpath, spath);
    for (int attempt = 0; attempt < 5; attempt++) {
        sl_cl_topic_t t;
        int rc = sl_cl_topic_read(self, name, 0, &t);
        if (rc == SL_CL_ENONODE || rc == SL_CL_EBADDATA || rc == SL_CL_EINVAL)
            return 0; /* gone, or logged as bad: nothing we can decide */
        if (rc < 0)
            return rc;
        sl_cl_state_t next;
        if (!sl_cl_decide(t.replicas, t.n_replicas, &t.state, live, n_live,
                          self->controller_epoch, &next))
            return 0;
        char *data = sl_cl_state_encode(&next);
        if (!data)
            return SL_CL_ENOMEM;
        /* Only if controller_epoch is still the one we won with. */
        zoo_op_t ops[2];
        zoo_op_result_t res[2];
        memset(res, 0, sizeof res);
        zoo_check_op_init(&ops[0], self->p_ctl_epoch, self->ctl_epoch_version);
        zoo_set_op_init(&ops[1], spath, data, (int) strlen(data), t.state_version, NULL);
        int zrc = zoo_multi(zh, 2, ops, res);
        free(data);
        if (zrc == ZOK) {
            char a[128], b[128];
            s_fmt_ids(a, sizeof a, t.state.isr, t.state.n_isr);
            s_fmt_ids(b, sizeof b, next.isr, next.n_isr);
            sl_clog(SL_CLOG_INFO,
                    "controller: topic=%s leader %d -> %d leader_epoch %d -> %d isr [%s] -> [%s] "
                    "controller_epoch=%d",
                    name, (int) t.state.leader, (int) next.leader, (int) t.state.leader_epoch,
                    (int) next.leader_epoch, a, b, (int) self->controller_epoch);
            return 0;
        }
        if (res[0].err == ZBADVERSION || res[0].err == ZNONODE)
            return SL_CL_ENOTLEADER;
        if (res[1].err == ZBADVERSION || res[1].err == ZNONODE)
            continue; /* the state moved (a leader's ISR change): decide again */
        return sl_cl_zkerr(zrc, "controller set", spath);
    }
    return SL_CL_ESTALE;
}

int sl_cl_ctl_reconcile(sl_cluster_t *self)
{
    sl_cl_node_t *nodes;
    int n_nodes;
    int rc = sl_cl_nodes_read(self, &nodes, &n_nodes); /* arms the membership watch */
    if (rc < 0)
        return rc;
    int32_t *live = calloc(n_nodes > 0 ? (size_t) n_nodes : 1, sizeof *live);
    if (!live) {
        free(nodes);
        return SL_CL_ENOMEM;
    }
    for (int i = 0; i < n_nodes; i++)
        live[i] = nodes[i].id;
    free(nodes);
    char **names;
    int n;
    rc = sl_cluster_topic_names(self, 1, &names, &n); /* and the topic-list watch */
    if (rc < 0) {
        free(live);
        return rc;
    }
    int first_err = 0;
    for (int i = 0; i < n; i++) {
        rc = s_topic(self, names[i], live, n_nodes);
        if (rc == SL_CL_ENOTLEADER) {
            first_err = rc;
            break;
        }
        if (rc < 0 && !first_err)
            first_err = rc;
    }
    sl_cluster_names_free(&names, n);
    free(live);
    return first_err;
}
