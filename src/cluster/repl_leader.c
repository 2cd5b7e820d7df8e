/* repl_leader.c - the leader's side: serving fetches (long poll) and
 * OffsetForLeaderEpoch, the high watermark, ISR shrink and expand. */
#include "repl_int.h"

#include "clog.h"
#include "topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W_NOT_LEADER          22
#define W_BAD_REQUEST         1
#define W_OFFSET_OUT_OF_RANGE 2
#define W_STORAGE             10
#define W_PERMISSION_DENIED   21

static uint64_t s_leo(rtopic_t *rt)
{
    uint64_t next = 0;
    seglog_log_next_offset(rt->tp->log, &next);
    return next;
}

static rfollower_t *s_fol(rtopic_t *rt, int32_t id)
{
    for (int i = 0; i < rt->nfol; i++)
        if (rt->fol[i].id == id)
            return &rt->fol[i];
    return NULL;
}

void sl_repl_leader_start(sl_repl_t *r, rtopic_t *rt)
{
    int64_t now = sl_repl_now_ms();
    rt->nfol = 0;
    for (int i = 0; i < rt->meta.n_replicas; i++) {
        if (rt->meta.replicas[i] == r->cfg.node_id)
            continue;
        atomic_store(&rt->fol_id_pub[rt->nfol], rt->meta.replicas[i]);
        atomic_store(&rt->fol_leo_pub[rt->nfol], 0);
        rt->fol[rt->nfol++] = (rfollower_t){
            .id = rt->meta.replicas[i], .caught_up_ms = now, .last_resp_ms = now};
    }
    atomic_store(&rt->nfol_pub, rt->nfol);
    rt->isr_checked_ms = now;
    rt->epoch_start = s_leo(rt);
    rt->nsamp = rt->samp_head = 0;
    sl_repl_parks_drop(r, rt);
}

void sl_repl_hw_update(sl_repl_t *r, rtopic_t *rt)
{
    if (atomic_load(&rt->role) != RT_LEADER || !rt->tp)
        return;
    uint64_t hw = atomic_load(&rt->hw), m = s_leo(rt);
    const sl_cl_state_t *s = &rt->meta.state;
    for (int i = 0; i < s->n_isr; i++) {
        if (s->isr[i] == r->cfg.node_id)
            continue;
        rfollower_t *f = s_fol(rt, s->isr[i]);
        uint64_t leo = f && f->known ? f->leo : 0;
        if (leo < m)
            m = leo;
    }
    if (m > hw) {
        atomic_store(&rt->hw, m);
        sl_topic_limit_set(rt->tp, m);
        sl_repl_wake_acks(r);
    }
}

/* ---- answering fetches ---------------------------------------------------- */

/* The stored frames of whole batches from offset (FetchResponse.frames):
 * one read, and the follower writes the same bytes. */
static void s_frames(sl_repl_t *r, rtopic_t *rt, uint64_t offset, uint32_t max_bytes,
                     Seglog__V1__FetchResponse *fr)
{
    size_t len = 0, count = 0;
    int rc = seglog_log_read_frames(rt->tp->log, offset, max_bytes, &r->f_bytes, &r->f_bcap, &len,
                                    &count);
    if (rc == 0 && count > 0) {
        fr->frames.data = r->f_bytes;
        fr->frames.len = len;
        fr->frames_offset = offset;
        fr->frames_count = (uint32_t)count;
    } else if (rc && rc != SEGLOG_E_OFFSET_OUT_OF_RANGE && rc != SEGLOG_E_OFFSET_TRUNCATED) {
        sl_clog(SL_CLOG_ERROR, "topic %s: reading records from %" PRIu64 " for a follower: %s",
                rt->name, offset, seglog_strerror(rc));
    }
}

static void s_fetch_reply(sl_repl_t *r, zmq_msg_t *rid, uint64_t id, rtopic_t *rt, int32_t replica,
                          uint64_t offset, uint32_t max_bytes, int frames)
{
    seglog_log_t *log = rt->tp->log;
    uint64_t lowest = 0, leo = s_leo(rt);
    seglog_log_lowest_offset(log, &lowest);
    /* Below our log start: no records, and log_start tells the follower
     * where to start its log again (repl_follower.c). */
    if (max_bytes == 0 || max_bytes > REPL_FETCH_BYTES)
        max_bytes = REPL_FETCH_BYTES;
    size_t n = 0, used = 0;
    /* Whole batches only, so that the follower appends the same batches and
     * its files are the same bytes (docs/CLUSTER.md): the first batch always
     * comes, even past max_bytes; a later one only if it fits. */
    size_t whole_n = 0;
    Seglog__V1__FetchResponse fr = SEGLOG__V1__FETCH_RESPONSE__INIT;
    if (frames && offset >= lowest && offset < leo)
        s_frames(r, rt, offset, max_bytes, &fr);
    else if (offset >= lowest && offset < leo &&
        (rt->iter || seglog_iter_new(log, &rt->iter) == 0) &&
        seglog_iter_seek(rt->iter, offset, 0, 0) == 0) {
        uint64_t off;
        const void *data;
        size_t len;
        int end = 0;
        while (seglog_iter_next_ex(rt->iter, &off, &data, &len, &end) == 1) {
            if (whole_n > 0 && used + len > max_bytes)
                break;
            if (n == r->f_cap) {
                size_t nc = r->f_cap ? r->f_cap * 2 : 256;
                void *a = realloc(r->f_recs, nc * sizeof *r->f_recs);
                if (a)
                    r->f_recs = a;
                void *b = realloc(r->f_ptrs, nc * sizeof *r->f_ptrs);
                if (b)
                    r->f_ptrs = b;
                void *c = realloc(r->f_at, nc * sizeof *r->f_at);
                if (c)
                    r->f_at = c;
                if (!a || !b || !c)
                    break;
                r->f_cap = nc;
            }
            if (used + len > r->f_bcap) {
                size_t nc = (used + len) * 2 + 65536;
                uint8_t *nb = realloc(r->f_bytes, nc);
                if (!nb)
                    break;
                r->f_bytes = nb;
                r->f_bcap = nc;
            }
            memcpy(r->f_bytes + used, data, len);
            Seglog__V1__StoredRecord *rec = &r->f_recs[n];
            *rec = (Seglog__V1__StoredRecord)SEGLOG__V1__STORED_RECORD__INIT;
            rec->offset = off;
            rec->leader_epoch = sl_repl_stored_epoch(data, len);
            rec->stored.len = len;
            rec->batch_end = end != 0;
            r->f_at[n] = used;
            used += len;
            n++;
            if (end) {
                whole_n = n;
                if (used >= max_bytes)
                    break;
            }
        }
    }
    n = whole_n; /* never a part of a batch */
    for (size_t i = 0; i < n; i++) {
        r->f_recs[i].stored.data = r->f_bytes + r->f_at[i];
        r->f_ptrs[i] = &r->f_recs[i];
    }
    rfollower_t *f = s_fol(rt, replica);
    if (f) {
        f->last_resp_ms = sl_repl_now_ms();
        f->leo_at_resp = leo;
    }
    fr.n_records = n;
    fr.records = n ? r->f_ptrs : NULL;
    fr.high_watermark = atomic_load(&rt->hw);
    fr.leader_epoch = rt->epoch;
    fr.log_start = lowest;
    fr.log_end = leo;
    Seglog__V1__Response resp = SEGLOG__V1__RESPONSE__INIT;
    resp.id = id;
    resp.body_case = SEGLOG__V1__RESPONSE__BODY_FETCH;
    resp.fetch = &fr;
    sl_repl_send(r->router, rid, &resp);
}

/* Checks common to Fetch and OffsetForLeaderEpoch: 0 = serve, else answered. */
static int s_check_leader(sl_repl_t *r, zmq_msg_t *rid, uint64_t id, rtopic_t *rt,
                          int32_t their_epoch)
{
    char msg[200];
    if (!rt || atomic_load(&rt->role) != RT_LEADER || !rt->tp) {
        snprintf(msg, sizeof msg, "node %d does not lead this topic", (int)r->cfg.node_id);
        sl_repl_send_error(r->router, rid, id, W_NOT_LEADER, msg);
        return 1;
    }
    if (their_epoch > rt->epoch) {
        /* Someone was told of a newer leader: this node's leadership is
         * over whatever ZooKeeper says to it now. */
        sl_repl_drop_leadership(r, rt, "a follower knows a higher leader epoch");
        rt->need_read = 1;
        snprintf(msg, sizeof msg, "node %d led epoch %d only", (int)r->cfg.node_id,
                 (int)rt->epoch);
        sl_repl_send_error(r->router, rid, id, W_NOT_LEADER, msg);
        return 1;
    }
    if (their_epoch < rt->epoch) {
        snprintf(msg, sizeof msg, "stale leader epoch %d: node %d leads at epoch %d",
                 (int)their_epoch, (int)r->cfg.node_id, (int)rt->epoch);
        sl_repl_send_error(r->router, rid, id, W_NOT_LEADER, msg);
        return 1;
    }
    return 0;
}

static void s_park(sl_repl_t *r, zmq_msg_t *rid, uint64_t id, rtopic_t *rt, int32_t replica,
                   uint64_t offset, uint32_t max_bytes, int frames, uint32_t wait_ms)
{
    if (r->npark == r->cappark) {
        int nc = r->cappark ? r->cappark * 2 : 16;
        rpark_t *p = realloc(r->parks, (size_t)nc * sizeof *p);
        if (!p) {
            s_fetch_reply(r, rid, id, rt, replica, offset, max_bytes, frames);
            return;
        }
        r->parks = p;
        r->cappark = nc;
    }
    rpark_t *p = &r->parks[r->npark++];
    zmq_msg_init(&p->rid);
    zmq_msg_move(&p->rid, rid);
    p->id = id;
    p->rt = rt;
    p->replica = replica;
    p->offset = offset;
    p->max_bytes = max_bytes;
    p->frames = frames;
    p->deadline_ms = sl_repl_now_ms() + (wait_ms > 5000 ? 5000 : wait_ms);
}

static void s_fetch(sl_repl_t *r, zmq_msg_t *rid, uint64_t id, const Seglog__V1__FetchRequest *f)
{
    rtopic_t *rt = f->topic ? sl_repl_find(r, f->topic) : NULL;
    if (s_check_leader(r, rid, id, rt, f->current_leader_epoch))
        return;
    rfollower_t *fol = s_fol(rt, f->replica_id);
    if (!fol) {
        sl_repl_send_error(r->router, rid, id, W_BAD_REQUEST, "not a follower of this topic");
        return;
    }
    int64_t now = sl_repl_now_ms();
    uint64_t leo = s_leo(rt);
    if (f->fetch_offset > leo) {
        sl_repl_send_error(r->router, rid, id, W_OFFSET_OUT_OF_RANGE,
                           "fetch offset past the leader's log end: truncate first");
        return;
    }
    fol->known = 1;
    fol->leo = f->fetch_offset;
    atomic_store_explicit(&rt->fol_leo_pub[fol - rt->fol], fol->leo, memory_order_relaxed);
    if (f->fetch_offset >= leo)
        fol->caught_up_ms = now;
    else if (f->fetch_offset >= fol->leo_at_resp && fol->last_resp_ms > fol->caught_up_ms)
        fol->caught_up_ms = fol->last_resp_ms;
    /* Kafka's two rules above alone evict a follower that keeps pace but
     * stays more than one fetch (max_bytes) behind our end, which acks=all
     * producers with more than that in flight cause by themselves: its
     * fetch offset never reaches the end we had at our previous answer. The
     * samples measure its lag in time instead: it leaves the ISR when it has
     * not reached where we were replica_lag_ms ago (stopped, or slower than
     * the producers), not for trailing a steady window. */
    for (int k = rt->nsamp - 1; k >= 0; k--) {
        const int i = (rt->samp_head + k) % REPL_LEO_SAMPLES;
        if (rt->leo_samp[i].leo <= f->fetch_offset) {
            if (rt->leo_samp[i].ms > fol->caught_up_ms)
                fol->caught_up_ms = rt->leo_samp[i].ms;
            break;
        }
    }
    sl_repl_hw_update(r, rt);
    if (f->fetch_offset < leo || f->max_wait_ms == 0)
        s_fetch_reply(r, rid, id, rt, f->replica_id, f->fetch_offset, f->max_bytes,
                      f->frames_ok);
    else
        s_park(r, rid, id, rt, f->replica_id, f->fetch_offset, f->max_bytes, f->frames_ok,
               f->max_wait_ms);
}

static void s_epoch_end(sl_repl_t *r, zmq_msg_t *rid, uint64_t id,
                        const Seglog__V1__OffsetForLeaderEpochRequest *q)
{
    rtopic_t *rt = q->topic ? sl_repl_find(r, q->topic) : NULL;
    if (s_check_leader(r, rid, id, rt, q->current_leader_epoch))
        return;
    seglog_log_t *log = rt->tp->log;
    uint64_t end = 0, lowest = 0, found = 0;
    int rc = sl_repl_epoch_end(log, q->leader_epoch, &end);
    if (rc == 0)
        rc = seglog_log_lowest_offset(log, &lowest);
    if (rc == 0 && end > lowest)
        rc = sl_repl_epoch_at(log, end - 1, &found);
    if (rc) {
        sl_repl_send_error(r->router, rid, id, W_STORAGE, seglog_strerror(rc));
        return;
    }
    Seglog__V1__OffsetForLeaderEpochResponse o = SEGLOG__V1__OFFSET_FOR_LEADER_EPOCH_RESPONSE__INIT;
    o.leader_epoch = end > lowest ? (int64_t)found : -1;
    o.end_offset = end;
    Seglog__V1__Response resp = SEGLOG__V1__RESPONSE__INIT;
    resp.id = id;
    resp.body_case = SEGLOG__V1__RESPONSE__BODY_OFFSET_FOR_LEADER_EPOCH;
    resp.offset_for_leader_epoch = &o;
    sl_repl_send(r->router, rid, &resp);
}

/* With CURVE and an ACL: may the sender replicate the request's topic? */
static int s_may_replicate(sl_repl_t *r, zmq_msg_t *body, const Seglog__V1__Request *req)
{
    if (!r->cfg.may_replicate)
        return 1;
    const char *topic = NULL;
    if (req->body_case == SEGLOG__V1__REQUEST__BODY_FETCH && req->fetch)
        topic = req->fetch->topic;
    else if (req->body_case == SEGLOG__V1__REQUEST__BODY_OFFSET_FOR_LEADER_EPOCH &&
             req->offset_for_leader_epoch)
        topic = req->offset_for_leader_epoch->topic;
    if (!topic)
        return 1; /* refused as a bad request below */
    if (r->cfg.may_replicate(r->cfg.may_arg, body, topic))
        return 1;
    sl_clog(SL_CLOG_WARN, "replication request refused topic=%s (no replicate right)", topic);
    return 0;
}

void sl_repl_serve(sl_repl_t *r)
{
    for (int k = 0; k < 256; k++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, r->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            return;
        }
        zmq_msg_init(&body);
        int more = zmq_msg_more(&rid);
        while (more) { /* the last frame is the request */
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&body, r->router, 0) < 0)
                break;
            more = zmq_msg_more(&body);
        }
        Seglog__V1__Request *req =
            seglog__v1__request__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        if (!req)
            sl_repl_send_error(r->router, &rid, 0, W_BAD_REQUEST, "undecodable request");
        else if (!s_may_replicate(r, &body, req))
            sl_repl_send_error(r->router, &rid, req->id, W_PERMISSION_DENIED,
                               "permission denied: this key may not replicate that topic "
                               "(needs the replicate right)");
        else if (req->body_case == SEGLOG__V1__REQUEST__BODY_FETCH && req->fetch)
            s_fetch(r, &rid, req->id, req->fetch);
        else if (req->body_case == SEGLOG__V1__REQUEST__BODY_OFFSET_FOR_LEADER_EPOCH &&
                 req->offset_for_leader_epoch)
            s_epoch_end(r, &rid, req->id, req->offset_for_leader_epoch);
        else
            sl_repl_send_error(r->router, &rid, req->id, W_BAD_REQUEST,
                               "the replication socket serves Fetch and OffsetForLeaderEpoch");
        if (req)
            seglog__v1__request__free_unpacked(req, NULL);
        zmq_msg_close(&body);
        zmq_msg_close(&rid);
    }
}

/* ---- parked fetches -------------------------------------------------------- */

void sl_repl_parks_drop(sl_repl_t *r, rtopic_t *rt)
{
    for (int i = 0; i < r->npark;) {
        if (r->parks[i].rt == rt) {
            sl_repl_send_error(r->router, &r->parks[i].rid, r->parks[i].id, W_NOT_LEADER,
                               "leadership changed");
            zmq_msg_close(&r->parks[i].rid);
            r->parks[i] = r->parks[--r->npark];
        } else {
            i++;
        }
    }
}

/* A topic this node leads whose ISR is itself alone: its HW moves with
 * every append. */
static int s_solo(const sl_repl_t *r, rtopic_t *rt)
{
    return atomic_load(&rt->role) == RT_LEADER && rt->tp && rt->meta.state.n_isr <= 1 &&
           rt->meta.state.isr[0] == r->cfg.node_id;
}

/* Store-buffering with the produce path (sl_repl_appended: append, fence,
 * load wake_on_append): either the appender sees our 1 and writes the
 * eventfd, or the log end read after our fence shows its records. */
int sl_repl_before_wait(sl_repl_t *r)
{
    int want = r->npark > 0;
    for (rtopic_t *rt = r->topics; rt && !want; rt = rt->next)
        want = s_solo(r, rt);
    atomic_store(&r->wake_on_append, want);
    atomic_thread_fence(memory_order_seq_cst);
    if (!want)
        return 0;
    for (int i = 0; i < r->npark; i++)
        if (s_leo(r->parks[i].rt) > r->parks[i].offset)
            return 1;
    for (rtopic_t *rt = r->topics; rt; rt = rt->next)
        if (s_solo(r, rt) && s_leo(rt) > atomic_load(&rt->hw))
            return 1;
    return 0;
}

int sl_repl_parks_wait_ms(sl_repl_t *r, int64_t now)
{
    int64_t w = -1;
    for (int i = 0; i < r->npark; i++) {
        int64_t d = r->parks[i].deadline_ms - now;
        if (d < 0)
            d = 0;
        if (w < 0 || d < w)
            w = d;
    }
    return (int)w;
}

static void s_parks(sl_repl_t *r, int64_t now)
{
    for (int i = 0; i < r->npark;) {
        rpark_t *p = &r->parks[i];
        if (s_leo(p->rt) > p->offset || now >= p->deadline_ms) {
            s_fetch_reply(r, &p->rid, p->id, p->rt, p->replica, p->offset, p->max_bytes,
                          p->frames);
            zmq_msg_close(&p->rid);
            r->parks[i] = r->parks[--r->npark];
        } else {
            i++;
        }
    }
}

/* ---- the ISR ---------------------------------------------------------------- */

static void s_isr(sl_repl_t *r, rtopic_t *rt, int64_t now)
{
    if (now - rt->isr_checked_ms < REPL_ISR_CHECK_MS || now >= atomic_load(&r->lease_until))
        return;
    rt->isr_checked_ms = now;
    const sl_cl_state_t *s = &rt->meta.state;
    int32_t isr[SL_CL_MAX_REPLICAS];
    int n = 0, changed = 0;
    uint64_t hw = atomic_load(&rt->hw);
    for (int i = 0; i < s->n_isr; i++) {
        rfollower_t *f = s->isr[i] == r->cfg.node_id ? NULL : s_fol(rt, s->isr[i]);
        if (f && now - f->caught_up_ms > r->cfg.replica_lag_ms) {
            sl_clog(SL_CLOG_WARN,
                    "topic %s: node %d leaves the isr (not caught up for %" PRId64 " ms)",
                    rt->name, (int)f->id, now - f->caught_up_ms);
            changed = 1;
            continue;
        }
        isr[n++] = s->isr[i];
    }
    for (int i = 0; i < rt->nfol; i++) {
        rfollower_t *f = &rt->fol[i];
        /* Our HW may lag the one our predecessor reached (a new leader's
         * starts at what it knew as a follower): a follower joins only once
         * it also holds everything we held when we became leader, so that
         * it holds every committed record (Kafka's KAFKA-7128). */
        if (sl_cl_has(s->isr, s->n_isr, f->id) || !f->known || f->leo < hw ||
            f->leo < rt->epoch_start || now - f->caught_up_ms > r->cfg.replica_lag_ms)
            continue;
        sl_clog(SL_CLOG_INFO, "topic %s: node %d joins the isr (log end %" PRIu64 ", hw %" PRIu64
                              ")", rt->name, (int)f->id, f->leo, hw);
        isr[n++] = f->id;
        changed = 1;
    }
    if (!changed)
        return;
    sl_cl_topic_t out;
    int rc = sl_cluster_isr_update(r->cl, rt->name, rt->epoch, isr, n, &out);
    if (rc == 0) {
        sl_repl_apply(r, rt, &out);
    } else if (rc == SL_CL_ENOTLEADER) {
        sl_repl_drop_leadership(r, rt, "isr change refused: another epoch in zookeeper");
        rt->need_read = 1;
    } else {
        sl_clog(SL_CLOG_WARN, "topic %s: isr change failed: %s", rt->name, sl_cl_strerror(rc));
    }
}

void sl_repl_leader_tick(sl_repl_t *r, int64_t now)
{
    s_parks(r, now);
    /* Parked acks=all replies also end on time: a lost lease or the ack
     * timeout moves no HW, so look at them every 100 ms anyway. */
    if (now - r->woke_ms >= 100) {
        r->woke_ms = now;
        sl_repl_wake_acks(r);
    }
    int64_t every = r->cfg.replica_lag_ms / REPL_LEO_SAMPLES;
    if (every < REPL_ISR_CHECK_MS)
        every = REPL_ISR_CHECK_MS;
    for (rtopic_t *rt = r->topics; rt; rt = rt->next) {
        if (atomic_load(&rt->role) != RT_LEADER || !rt->tp)
            continue;
        const int last = (rt->samp_head + rt->nsamp - 1) % REPL_LEO_SAMPLES;
        if (rt->nsamp == 0 || now - rt->leo_samp[last].ms >= every) {
            int i = (rt->samp_head + rt->nsamp) % REPL_LEO_SAMPLES;
            if (rt->nsamp == REPL_LEO_SAMPLES)
                rt->samp_head = (rt->samp_head + 1) % REPL_LEO_SAMPLES; /* drop the oldest */
            else
                rt->nsamp++;
            rt->leo_samp[i].ms = now;
            rt->leo_samp[i].leo = s_leo(rt);
        }
        sl_repl_hw_update(r, rt);
        s_isr(r, rt, now);
    }
}
