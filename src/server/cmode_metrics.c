/*
 * cmode_metrics.c - cluster mode's part of /metrics and /readyz (cmode.h):
 * the ZooKeeper session, this node's registration and role, and per topic
 * the ISR size, the high watermark and each follower's lag, as the
 * replication module publishes them (src/cluster/repl.h).
 */
#include "cmode.h"

#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#ifdef SEGLOG_HAVE_CLUSTER
#include "repl.h"

void sl_cmode_health(struct sl_repl *r, sl_cmode_health_t *out)
{
    sl_repl_node_stats_t st;
    sl_repl_node_stats(r, &st);
    *out = (sl_cmode_health_t){.registered = st.registered,
                               .session_ok = st.session_ok,
                               .controller = st.controller,
                               .ready = st.ready,
                               .nodes = st.nodes};
}

typedef struct {
    sl_buf_t *b;
    int pass; /* which family this walk writes */
    int rc;
} walk_t;

static void s_topic(void *arg, const sl_repl_topic_stats_t *t)
{
    walk_t *w = arg;
    char lab[200];
    snprintf(lab, sizeof lab, "topic=\"%s\"", t->name);
    if (w->rc)
        return;
    switch (w->pass) {
    case 0:
        w->rc = sl_prom_i64(w->b, "seglog_cluster_topic_isr_size", lab, t->isr);
        break;
    case 1:
        w->rc = sl_prom_u64(w->b, "seglog_cluster_topic_high_watermark", lab, t->hw);
        break;
    case 2:
        w->rc = sl_prom_i64(w->b, "seglog_cluster_topic_leader", lab, t->leader);
        break;
    case 3:
        w->rc = sl_prom_i64(w->b, "seglog_cluster_topic_is_leader", lab, t->role == 1);
        break;
    default:
        for (int i = 0; i < t->nfollowers && !w->rc; i++) {
            snprintf(lab, sizeof lab, "topic=\"%s\",follower=\"%d\"", t->name,
                     (int)t->follower[i]);
            w->rc = sl_prom_u64(w->b, "seglog_cluster_follower_lag_records", lab,
                                t->follower_lag[i]);
        }
        break;
    }
}

int sl_cmode_metadata(struct sl_repl *r, sl_buf_t *out)
{
    return sl_repl_metadata(r, 0, out);
}

int sl_cmode_metrics(struct sl_repl *r, sl_buf_t *b)
{
    sl_cmode_health_t h;
    sl_cmode_health(r, &h);
    int rc = sl_prom_head(b, "seglog_zookeeper_session_up", "gauge",
                          "1 while this node's ZooKeeper session is known to be alive.") ||
             sl_prom_i64(b, "seglog_zookeeper_session_up", NULL, h.session_ok);
    rc = rc || sl_prom_head(b, "seglog_cluster_registered", "gauge",
                            "1 while this node is registered in ZooKeeper.") ||
         sl_prom_i64(b, "seglog_cluster_registered", NULL, h.registered);
    rc = rc || sl_prom_head(b, "seglog_cluster_controller", "gauge",
                            "1 while this node is the cluster controller.") ||
         sl_prom_i64(b, "seglog_cluster_controller", NULL, h.controller);
    rc = rc || sl_prom_head(b, "seglog_cluster_nodes", "gauge", "Live nodes, as seen here.") ||
         sl_prom_i64(b, "seglog_cluster_nodes", NULL, h.nodes);
    static const char *fam[][3] = {
        {"seglog_cluster_topic_isr_size", "gauge", "In-sync replicas of the topic."},
        {"seglog_cluster_topic_high_watermark", "gauge",
         "The topic's high watermark as this node knows it."},
        {"seglog_cluster_topic_leader", "gauge", "Node id of the topic's leader (-1: offline)."},
        {"seglog_cluster_topic_is_leader", "gauge", "1 if this node leads the topic."},
        {"seglog_cluster_follower_lag_records", "gauge",
         "On the leader: its log end minus each follower's last fetch offset."},
    };
    for (int p = 0; p < 5 && !rc; p++) {
        rc = sl_prom_head(b, fam[p][0], fam[p][1], fam[p][2]);
        walk_t w = {.b = b, .pass = p};
        if (!rc)
            sl_repl_topic_stats_each(r, s_topic, &w);
        rc = w.rc;
    }
    return rc;
}

#else /* built without the cluster layer: no repl ever exists */

void sl_cmode_health(struct sl_repl *r, sl_cmode_health_t *out)
{
    (void)r;
    memset(out, 0, sizeof *out);
}

int sl_cmode_metrics(struct sl_repl *r, sl_buf_t *b)
{
    (void)r;
    (void)b;
    return 0;
}

int sl_cmode_metadata(struct sl_repl *r, sl_buf_t *out)
{
    (void)r;
    (void)out;
    return -1;
}

#endif
