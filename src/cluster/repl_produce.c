/*
 * repl_produce.c - what request threads ask of the replication module
 * (repl.h): the produce path (leader now? enough ISR? which epoch? may the
 * reply go?), the leader check of an admin change, and Metadata. Any
 * thread; the repl thread publishes what these read (repl_int.h).
 */
#include "repl_int.h"

#include "codec.h"
#include "topics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CREATE_WAIT_MS 5000 /* a first produce waits this long for the topic's creation */

/* ---- the produce path (any thread) --------------------------------------- */

static int s_lease_ok(sl_repl_t *r)
{
    return sl_repl_now_ms() < atomic_load(&r->lease_until);
}

static void s_verdict(sl_repl_t *r, rtopic_t *rt, uint32_t acks, sl_repl_produce_t *out)
{
    int role = atomic_load(&rt->role);
    int32_t lead = atomic_load(&rt->lead);
    if (role != RT_LEADER || lead == 0) {
        out->code = 22; /* NOT_LEADER */
        pthread_mutex_lock(&r->mu);
        snprintf(out->leader, sizeof out->leader, "%s", rt->leader_ep);
        pthread_mutex_unlock(&r->mu);
        snprintf(out->msg, sizeof out->msg, "node %d does not lead topic \"%s\"%s%s",
                 (int)r->cfg.node_id, rt->name, out->leader[0] ? "; the leader is " : " (no leader now)",
                 out->leader);
        return;
    }
    if (!s_lease_ok(r)) {
        out->code = 22;
        snprintf(out->msg, sizeof out->msg,
                 "node %d cannot be sure it still leads topic \"%s\": no zookeeper lease",
                 (int)r->cfg.node_id, rt->name);
        return;
    }
    int isr = atomic_load(&rt->isr_n);
    out->acks_all = acks != 1; /* ACKS_LEADER */
    if (out->acks_all && isr < r->cfg.min_insync) {
        out->code = 12; /* NOT_ENOUGH_REPLICAS */
        snprintf(out->msg, sizeof out->msg,
                 "topic \"%s\" has %d in-sync replicas, --min-insync is %d: nothing was appended",
                 rt->name, isr, r->cfg.min_insync);
        return;
    }
    out->epoch = lead;
}

void sl_repl_produce_begin(sl_repl_t *r, const char *name, size_t len, uint32_t acks,
                           sl_repl_produce_t *out)
{
    memset(out, 0, sizeof *out);
    char nm[SL_CL_TOPIC_MAX + 1];
    if (len == 0) {
        snprintf(nm, sizeof nm, "%s", SL_DEFAULT_TOPIC);
    } else if (len > SL_CL_TOPIC_MAX || !sl_topic_name_valid(name, len)) {
        out->code = 6; /* INVALID_TOPIC */
        snprintf(out->msg, sizeof out->msg, "invalid topic name");
        return;
    } else {
        memcpy(nm, name, len);
        nm[len] = 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CREATE_WAIT_MS / 1000;
    pthread_mutex_lock(&r->mu);
    int asked = 0;
    rtopic_t *rt = NULL;
    for (;;) {
        rt = sl_repl_find(r, nm);
        if (rt && atomic_load(&rt->have_state))
            break;
        if (asked && r->cfail_rc && strcmp(r->cfail, nm) == 0) {
            int rc = r->cfail_rc;
            out->code = rc == SL_CL_ENOREPLICAS ? 12 /* NOT_ENOUGH_REPLICAS */ : 22;
            snprintf(out->msg, sizeof out->msg, "topic \"%s\" could not be created: %s%s", nm,
                     sl_cl_strerror(rc),
                     rc == SL_CL_ENOREPLICAS ? " (--replication-factor above the live nodes)" : "");
            pthread_mutex_unlock(&r->mu);
            return;
        }
        if (!asked && r->ncreq < 16) {
            if (r->cfail_rc && strcmp(r->cfail, nm) == 0)
                r->cfail_rc = 0; /* an older failure: try again */
            memcpy(r->creq[r->ncreq++], nm, sizeof nm);
            asked = 1;
            sl_repl_efd_write(r->efd);
        }
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT) {
            out->code = 22;
            snprintf(out->msg, sizeof out->msg,
                     "topic \"%s\" could not be created in zookeeper in time (is it reachable?)",
                     nm);
            pthread_mutex_unlock(&r->mu);
            return;
        }
    }
    pthread_mutex_unlock(&r->mu);
    pthread_rwlock_rdlock(&rt->role_lk);
    s_verdict(r, rt, acks, out);
    if (out->code)
        pthread_rwlock_unlock(&rt->role_lk);
    else
        out->hold = rt;
}

void sl_repl_lead_begin(sl_repl_t *r, const char *name, sl_repl_produce_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->mu);
    rtopic_t *rt = sl_repl_find(r, name);
    int known = rt && atomic_load(&rt->have_state);
    pthread_mutex_unlock(&r->mu);
    if (!known) {
        out->code = 1; /* BAD_REQUEST */
        snprintf(out->msg, sizeof out->msg,
                 "topic \"%s\" is not in zookeeper (a topic of this node's data directory "
                 "from before cluster mode?): produce to it first", name);
        return;
    }
    pthread_rwlock_rdlock(&rt->role_lk);
    s_verdict(r, rt, 1 /* ACKS_LEADER: no ISR size rule */, out);
    if (out->code)
        pthread_rwlock_unlock(&rt->role_lk);
    else
        out->hold = rt;
}

void sl_repl_produce_end(sl_repl_t *r, void *hold)
{
    (void)r;
    if (hold)
        pthread_rwlock_unlock(&((rtopic_t *)hold)->role_lk);
}

int sl_repl_ack_check(sl_repl_t *r, sl_topic_t *tp, uint64_t end, int32_t epoch,
                      int64_t since_ms, sl_repl_produce_t *out)
{
    memset(out, 0, sizeof *out);
    rtopic_t *rt = atomic_load(&tp->cluster);
    if (!rt || atomic_load(&rt->lead) != epoch) {
        out->code = 22;
        if (rt) {
            pthread_mutex_lock(&r->mu);
            snprintf(out->leader, sizeof out->leader, "%s", rt->leader_ep);
            pthread_mutex_unlock(&r->mu);
        }
        snprintf(out->msg, sizeof out->msg,
                 "leadership of topic \"%s\" (epoch %d) ended before the records were "
                 "replicated: they may or may not be kept",
                 tp->name, (int)epoch);
        return -1;
    }
    if (!s_lease_ok(r)) {
        out->code = 22;
        snprintf(out->msg, sizeof out->msg,
                 "zookeeper lease lost while waiting for replication of topic \"%s\": the "
                 "records may or may not be kept",
                 tp->name);
        return -1;
    }
    if (atomic_load(&rt->hw) >= end) {
        if (atomic_load(&rt->isr_n) < r->cfg.min_insync) {
            out->code = 12;
            snprintf(out->msg, sizeof out->msg,
                     "the in-sync replicas of topic \"%s\" fell below --min-insync %d after the "
                     "append: the records are stored but not acknowledged",
                     tp->name, r->cfg.min_insync);
            return -1;
        }
        return 1;
    }
    int64_t limit = (int64_t)r->cfg.replica_lag_ms + r->cfg.zk_session_ms + 5000;
    if (sl_repl_now_ms() - since_ms > limit) {
        out->code = 12;
        snprintf(out->msg, sizeof out->msg,
                 "replication of topic \"%s\" did not reach the in-sync replicas within %" PRId64
                 " ms: the records may or may not be kept",
                 tp->name, limit);
        return -1;
    }
    return 0;
}

int sl_repl_ack_wait(sl_repl_t *r, sl_topic_t *tp, uint64_t end, int32_t epoch, int64_t since_ms,
                     sl_repl_produce_t *out)
{
    for (;;) {
        int rc = sl_repl_ack_check(r, tp, end, epoch, since_ms, out);
        if (rc)
            return rc;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 20 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&r->mu);
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
        pthread_mutex_unlock(&r->mu);
    }
}

/* ---- Metadata (any request thread) ---------------------------------------- */

int sl_repl_metadata(sl_repl_t *r, uint64_t id, struct sl_buf *out)
{
    pthread_mutex_lock(&r->mu);
    size_t nt = 0, nn = 0;
    for (rtopic_t *rt = r->topics; rt; rt = rt->next)
        nt += atomic_load(&rt->have_state) != 0;
    /* live nodes, then replicas that are not live (alive = 0) */
    sl_meta_node_t *nodes = calloc(r->nnodes + nt * SL_CL_MAX_REPLICAS + 1, sizeof *nodes);
    sl_meta_topic_t *topics = calloc(nt + 1, sizeof *topics);
    sl_cl_topic_t *metas = calloc(nt + 1, sizeof *metas);
    int rc = SL_CL_ENOMEM;
    if (nodes && topics && metas) {
        for (int i = 0; i < r->nnodes; i++)
            nodes[nn++] = (sl_meta_node_t){.id = r->nodes[i].id,
                                           .endpoint = r->nodes[i].endpoint,
                                           .pub = r->nodes[i].pub,
                                           .curve_key = r->nodes[i].curve_key,
                                           .alive = 1};
        size_t k = 0;
        for (rtopic_t *rt = r->topics; rt && k < nt; rt = rt->next) {
            if (!atomic_load(&rt->have_state))
                continue;
            metas[k] = rt->meta;
            const sl_cl_topic_t *m = &metas[k];
            topics[k] = (sl_meta_topic_t){.name = rt->name,
                                          .replicas = m->replicas,
                                          .n_replicas = (size_t)m->n_replicas,
                                          .leader = m->state.leader,
                                          .leader_epoch = m->state.leader_epoch,
                                          .isr = m->state.isr,
                                          .n_isr = (size_t)m->state.n_isr,
                                          .hw = atomic_load(&rt->hw)};
            for (int i = 0; i < m->n_replicas; i++) {
                size_t j = 0;
                while (j < nn && nodes[j].id != m->replicas[i])
                    j++;
                if (j == nn)
                    nodes[nn++] = (sl_meta_node_t){.id = m->replicas[i], .endpoint = "", .pub = ""};
            }
            k++;
        }
        rc = sl_codec_encode_metadata(out, id, r->cfg.node_id, nodes, nn, topics, k);
    }
    pthread_mutex_unlock(&r->mu);
    free(nodes);
    free(topics);
    free(metas);
    return rc;
}
