/* repl_stats.c - what health checks and metrics read of the replication
 * module (repl.h): only values the repl thread publishes (atomics) and the
 * topic metadata that it writes under mu. */
#include "repl_int.h"

#include "topics.h"

void sl_repl_node_stats(sl_repl_t *r, sl_repl_node_stats_t *out)
{
    out->registered = atomic_load(&r->registered_pub);
    out->session_ok = sl_repl_now_ms() < atomic_load(&r->lease_until);
    out->controller = atomic_load(&r->controller_pub);
    out->ready = atomic_load(&r->ready_pub);
    pthread_mutex_lock(&r->mu);
    out->nodes = r->nnodes;
    pthread_mutex_unlock(&r->mu);
}

void sl_repl_topic_stats_each(sl_repl_t *r, void (*fn)(void *arg, const sl_repl_topic_stats_t *t),
                              void *arg)
{
    pthread_mutex_lock(&r->mu);
    for (rtopic_t *rt = r->topics; rt; rt = rt->next) {
        if (!atomic_load(&rt->have_state))
            continue;
        sl_repl_topic_stats_t t = {
            .name = rt->name,
            .role = atomic_load(&rt->role),
            .leader = rt->meta.state.leader,
            .leader_epoch = rt->meta.state.leader_epoch,
            .isr = atomic_load(&rt->isr_n),
            .hw = atomic_load(&rt->hw),
        };
        if (t.role == RT_LEADER && rt->tp) {
            uint64_t end = 0;
            seglog_log_next_offset(rt->tp->log, &end);
            int n = atomic_load(&rt->nfol_pub);
            for (int i = 0; i < n && i < 16; i++) {
                uint64_t leo = atomic_load_explicit(&rt->fol_leo_pub[i], memory_order_relaxed);
                t.follower[i] = atomic_load(&rt->fol_id_pub[i]);
                t.follower_lag[i] = end > leo ? end - leo : 0;
            }
            t.nfollowers = n < 16 ? n : 16;
        }
        fn(arg, &t);
    }
    pthread_mutex_unlock(&r->mu);
}
