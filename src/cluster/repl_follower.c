/* repl_follower.c - the follower's side: truncate to the leader's end of
 * our last epoch (KIP-101, with KIP-279's loop), then fetch and append the
 * leader's records byte for byte, and follow its high watermark. */
#include "repl_int.h"

#include "clog.h"
#include "topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W_NOT_LEADER          22
#define W_OFFSET_OUT_OF_RANGE 2
#define MAX_TRUNC_LOOPS       64

static void s_close_dealer(rtopic_t *rt)
{
    if (rt->dealer)
        zmq_close(rt->dealer);
    rt->dealer = NULL;
    rt->dealer_ep[0] = 0;
    rt->inflight = 0;
}

void sl_repl_follower_reset(sl_repl_t *r, rtopic_t *rt)
{
    (void)r;
    s_close_dealer(rt);
    rt->fstate = F_TRUNC;
    rt->trunc_loops = 0;
    rt->retry_ms = 0;
}

static void s_log_ends(rtopic_t *rt, uint64_t *lowest, uint64_t *next)
{
    *lowest = *next = 0;
    seglog_log_lowest_offset(rt->tp->log, lowest);
    seglog_log_next_offset(rt->tp->log, next);
}

/* Cut our log at `at` (nothing if at >= next), and the HW with it; a lowered
 * HW reaches the checkpoint before any record is appended past the cut. */
static int s_cut(sl_repl_t *r, rtopic_t *rt, uint64_t at)
{
    uint64_t lowest, next;
    s_log_ends(rt, &lowest, &next);
    if (at >= next)
        return 0;
    int rc = seglog_log_truncate_after(rt->tp->log, at);
    if (rc) {
        sl_clog(SL_CLOG_ERROR, "topic %s: truncating to %" PRIu64 " failed: %s", rt->name, at,
                seglog_strerror(rc));
        return rc;
    }
    sl_clog(SL_CLOG_INFO, "topic %s: truncated %" PRIu64 " records past %" PRIu64
                          " (not on the leader of epoch %d)",
            rt->name, next - at, at, (int)rt->epoch);
    if (atomic_load(&rt->hw) > at) {
        sl_clog(SL_CLOG_WARN, "topic %s: the cut at %" PRIu64 " lowers the high watermark "
                "from %" PRIu64, rt->name, at, atomic_load(&rt->hw));
        atomic_store(&rt->hw, at);
        sl_topic_limit_set(rt->tp, at);
        sl_repl_ckpt_write(r);
    }
    return 0;
}

static int s_ensure_dealer(sl_repl_t *r, rtopic_t *rt)
{
    const sl_cl_node_t *n = sl_repl_node(r, rt->leader_id);
    if (!n || !n->repl[0]) {
        r->need_nodes = 1;
        return -1;
    }
    if (rt->dealer && strcmp(rt->dealer_ep, n->repl) == 0)
        return 0;
    s_close_dealer(rt);
    void *ctx = r->cfg.zmq_ctx;
    rt->dealer = zmq_socket(ctx, ZMQ_DEALER);
    if (!rt->dealer)
        return -1;
    int zero = 0, one = 1;
    zmq_setsockopt(rt->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(rt->dealer, ZMQ_IMMEDIATE, &one, sizeof one);
    if (r->cfg.curve_secret) { /* CURVE to the leader's registered key (repl.h) */
        if (strlen(n->curve_key) != 40) {
            sl_clog(SL_CLOG_WARN, "topic %s: leader %d registered no CURVE key; not fetching",
                    rt->name, (int)rt->leader_id);
            s_close_dealer(rt);
            r->need_nodes = 1;
            return -1;
        }
        zmq_setsockopt(rt->dealer, ZMQ_CURVE_SERVERKEY, n->curve_key, 40);
        zmq_setsockopt(rt->dealer, ZMQ_CURVE_PUBLICKEY, r->cfg.curve_public, 40);
        zmq_setsockopt(rt->dealer, ZMQ_CURVE_SECRETKEY, r->cfg.curve_secret, 40);
    }
    if (zmq_connect(rt->dealer, n->repl)) {
        s_close_dealer(rt);
        return -1;
    }
    snprintf(rt->dealer_ep, sizeof rt->dealer_ep, "%s", n->repl);
    return 0;
}

static int s_send(sl_repl_t *r, rtopic_t *rt, Seglog__V1__Request *req, int64_t now)
{
    req->id = ++r->next_id;
    if (sl_repl_send_req(rt->dealer, req)) {
        rt->retry_ms = now + 100; /* not connected yet (ZMQ_IMMEDIATE) */
        return -1;
    }
    rt->inflight = 1;
    rt->expect_id = req->id;
    rt->sent_ms = now;
    return 0;
}

void sl_repl_follower_tick(sl_repl_t *r, rtopic_t *rt, int64_t now)
{
    if (atomic_load(&rt->role) != RT_FOLLOWER || !rt->tp) {
        if (rt->dealer && atomic_load(&rt->role) != RT_FOLLOWER)
            s_close_dealer(rt);
        return;
    }
    if (rt->inflight) {
        if (now - rt->sent_ms > REPL_FETCH_WAIT_MS + REPL_RPC_SLACK_MS) {
            sl_clog(SL_CLOG_WARN, "topic %s: no answer from leader %d at %s; reconnecting",
                    rt->name, (int)rt->leader_id, rt->dealer_ep);
            s_close_dealer(rt);
            rt->fstate = F_TRUNC; /* the leader may have changed meanwhile */
        }
        return;
    }
    if (now < rt->retry_ms || s_ensure_dealer(r, rt))
        return;
    uint64_t lowest, next;
    s_log_ends(rt, &lowest, &next);
    if (rt->fstate == F_TRUNC && next == lowest)
        rt->fstate = F_FETCH; /* nothing of ours to compare */
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    if (rt->fstate == F_TRUNC) {
        uint64_t last = 0;
        if (sl_repl_epoch_at(rt->tp->log, next - 1, &last)) {
            rt->retry_ms = now + 1000;
            return;
        }
        Seglog__V1__OffsetForLeaderEpochRequest q =
            SEGLOG__V1__OFFSET_FOR_LEADER_EPOCH_REQUEST__INIT;
        q.replica_id = r->cfg.node_id;
        q.topic = rt->name;
        q.leader_epoch = last;
        q.current_leader_epoch = rt->epoch;
        req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSET_FOR_LEADER_EPOCH;
        req.offset_for_leader_epoch = &q;
        s_send(r, rt, &req, now);
        return;
    }
    uint64_t last = 0;
    if (next > lowest)
        sl_repl_epoch_at(rt->tp->log, next - 1, &last);
    Seglog__V1__FetchRequest f = SEGLOG__V1__FETCH_REQUEST__INIT;
    f.replica_id = r->cfg.node_id;
    f.topic = rt->name;
    f.fetch_offset = next;
    f.last_fetched_epoch = last;
    f.current_leader_epoch = rt->epoch;
    f.max_bytes = REPL_FETCH_BYTES;
    f.max_wait_ms = REPL_FETCH_WAIT_MS;
    f.frames_ok = !rt->no_frames;
    req.body_case = SEGLOG__V1__REQUEST__BODY_FETCH;
    req.fetch = &f;
    s_send(r, rt, &req, now);
}

/* KIP-101/279: the leader's end of the epoch we asked about. */
static void s_on_epoch_end(sl_repl_t *r, rtopic_t *rt, const Seglog__V1__OffsetForLeaderEpochResponse *o)
{
    uint64_t lowest, next, last = 0;
    s_log_ends(rt, &lowest, &next);
    if (next > lowest && sl_repl_epoch_at(rt->tp->log, next - 1, &last)) {
        rt->retry_ms = sl_repl_now_ms() + 1000;
        return;
    }
    uint64_t cut = o->end_offset;
    int done = 1;
    if (o->leader_epoch < 0) {
        cut = lowest; /* the leader has nothing at or below our epochs */
    } else if ((uint64_t)o->leader_epoch != last) {
        /* The leader never had our last epoch: cut where our own records of
         * its epoch end, and compare again. */
        uint64_t mine = next;
        if (sl_repl_epoch_end(rt->tp->log, (uint64_t)o->leader_epoch, &mine) == 0 && mine < cut)
            cut = mine;
        done = 0;
    }
    if (cut < lowest)
        cut = lowest;
    if (s_cut(r, rt, cut)) {
        rt->retry_ms = sl_repl_now_ms() + 1000;
        return;
    }
    if (done || ++rt->trunc_loops >= MAX_TRUNC_LOOPS) {
        rt->fstate = F_FETCH;
        rt->trunc_loops = 0;
    }
}

static int s_append_one(rtopic_t *rt, Seglog__V1__StoredRecord **recs, struct iovec *iov,
                        size_t k)
{
    for (size_t j = 0; j < k; j++)
        iov[j] = (struct iovec){recs[j]->stored.data, recs[j]->stored.len};
    uint64_t first = 0;
    int rc = seglog_log_append_batch(rt->tp->log, iov, k, &first);
    if (rc) {
        if (rc != SEGLOG_E_BATCH_TOO_LARGE)
            sl_clog(SL_CLOG_ERROR, "topic %s: appending fetched records failed: %s", rt->name,
                    seglog_strerror(rc));
        return rc;
    }
    if (first != recs[0]->offset) {
        sl_clog(SL_CLOG_ERROR, "topic %s: fetched offset %" PRIu64 " landed at %" PRIu64,
                rt->name, recs[0]->offset, first);
        return -1;
    }
    return 0;
}

/* Records in appends that fit a segment: a reply of a leader that does not
 * mark batch ends, or a batch larger than our segments. */
static int s_append_split(sl_repl_t *r, rtopic_t *rt, Seglog__V1__StoredRecord **recs, size_t n)
{
    uint64_t budget = r->cfg.segment_bytes > 64 ? (r->cfg.segment_bytes - 32) / 2 : 1;
    size_t maxrec = r->cfg.max_batch_records ? r->cfg.max_batch_records : 1000;
    struct iovec iov[256];
    size_t i = 0;
    while (i < n) {
        size_t k = 0;
        uint64_t bytes = 0;
        while (i + k < n && k < 256 && k < maxrec &&
               (k == 0 || bytes + recs[i + k]->stored.len + 8 <= budget)) {
            bytes += recs[i + k]->stored.len + 8;
            k++;
        }
        int rc = s_append_one(rt, recs + i, iov, k);
        if (rc)
            return rc;
        i += k;
    }
    return 0;
}

/* Append fetched records with the leader's batches, one append per batch,
 * so that our files are the same bytes as the leader's (same frames, same
 * END flags, same segment rolls; docs/CLUSTER.md). */
static int s_append(sl_repl_t *r, rtopic_t *rt, Seglog__V1__StoredRecord **recs, size_t n)
{
    struct iovec stack[256];
    size_t i = 0;
    while (i < n) {
        size_t k = 1;
        while (i + k <= n && !recs[i + k - 1]->batch_end)
            k++;
        if (i + k > n)
            return s_append_split(r, rt, recs + i, n - i); /* no batch ends (older leader) */
        struct iovec *iov = k <= 256 ? stack : malloc(k * sizeof *iov);
        int rc = iov ? s_append_one(rt, recs + i, iov, k) : SEGLOG_E_NOMEM;
        if (iov != stack)
            free(iov);
        if (rc == SEGLOG_E_BATCH_TOO_LARGE) {
            if (!rt->warned_split)
                sl_clog(SL_CLOG_WARN, "topic %s: a batch of the leader (%zu records) does not fit "
                                      "in a segment here: appended in pieces, so this replica's "
                                      "files differ from the leader's (use the same "
                                      "--segment-bytes on every node)",
                        rt->name, k);
            rt->warned_split = 1;
            rc = s_append_split(r, rt, recs + i, k);
        }
        if (rc)
            return rc;
        i += k;
    }
    return 0;
}

/* Our log ends below the leader's log start: none of our records is on the
 * leader any more. Start the log again, empty, at the leader's start. */
static void s_restart_at(rtopic_t *rt, uint64_t start)
{
    uint64_t id = rt->meta.log_id;
    if (!id)
        seglog_log_epoch(rt->tp->log, &id);
    int rc = seglog_log_reset_to(rt->tp->log, start, id);
    if (rc) {
        sl_clog(SL_CLOG_ERROR, "topic %s: restarting the log at %" PRIu64 " failed: %s", rt->name,
                start, seglog_strerror(rc));
        rt->retry_ms = sl_repl_now_ms() + 1000;
        return;
    }
    sl_clog(SL_CLOG_INFO, "topic %s: log restarted at the leader's log start %" PRIu64,
            rt->name, start);
}

/* The leader's stored frames, appended as they are (log.h). */
static int s_append_frames(rtopic_t *rt, const Seglog__V1__FetchResponse *f)
{
    uint64_t first = 0;
    size_t count = 0;
    int rc = seglog_log_append_frames(rt->tp->log, f->frames.data, f->frames.len, &first, &count);
    if (rc == 0 && (first != f->frames_offset || count != f->frames_count)) {
        sl_clog(SL_CLOG_ERROR, "topic %s: %" PRIu32 " fetched records from %" PRIu64 " landed as "
                "%zu at %" PRIu64, rt->name, f->frames_count, f->frames_offset, count, first);
        return -1;
    }
    if (rc == SEGLOG_E_BATCH_TOO_LARGE) {
        /* Our segments are smaller than the leader's: fetch records, which
         * s_append splits (and warns about), from now on. */
        rt->no_frames = 1;
        sl_clog(SL_CLOG_WARN, "topic %s: a batch of the leader does not fit in a segment here; "
                "fetching records instead of the leader's frames", rt->name);
    } else if (rc) {
        sl_clog(SL_CLOG_ERROR, "topic %s: appending %" PRIu32 " fetched records from %" PRIu64
                " failed: %s", rt->name, f->frames_count, f->frames_offset, seglog_strerror(rc));
    }
    return rc;
}

static void s_on_fetch(sl_repl_t *r, rtopic_t *rt, const Seglog__V1__FetchResponse *f)
{
    uint64_t lowest, next;
    s_log_ends(rt, &lowest, &next);
    int frames = f->frames.len > 0;
    if (f->n_records == 0 && !frames && f->log_start > next) {
        s_restart_at(rt, f->log_start);
        return;
    }
    if (f->n_records > 0 || frames) {
        if ((frames ? f->frames_offset : f->records[0]->offset) != next) {
            rt->fstate = F_TRUNC; /* not contiguous with us: compare again */
            return;
        }
        if (frames ? s_append_frames(rt, f) : s_append(r, rt, f->records, f->n_records)) {
            rt->fstate = F_TRUNC;
            rt->retry_ms = sl_repl_now_ms() + 1000;
            return;
        }
        /* Written to the OS, as the leader's acks=leader point: serve them up
         * to the HW without waiting for the interval's fdatasync. */
        if (seglog_log_flush(rt->tp->log) == 0) {
            s_log_ends(rt, &lowest, &next);
            sl_topic_acked(rt->tp, next);
        }
        s_log_ends(rt, &lowest, &next);
    }
    if (f->log_start > lowest && f->log_start <= next) {
        /* The leader's log starts later (Truncate, retention): follow it,
         * by whole segments as it did. */
        uint64_t low = lowest;
        int rc = seglog_log_truncate(rt->tp->log, f->log_start, &low);
        if (rc)
            sl_clog(SL_CLOG_ERROR, "topic %s: following the leader's log start %" PRIu64
                    " failed: %s", rt->name, f->log_start, seglog_strerror(rc));
        else if (low != lowest)
            sl_clog(SL_CLOG_INFO, "topic %s: truncated to %" PRIu64 " after the leader's log "
                    "start %" PRIu64, rt->name, low, f->log_start);
    }
    uint64_t hw = f->high_watermark < next ? f->high_watermark : next;
    if (hw > atomic_load(&rt->hw)) {
        atomic_store(&rt->hw, hw);
        sl_topic_limit_set(rt->tp, hw);
    }
}

/* ---- the unpack arena -------------------------------------------------------
 * protobuf-c allocates every StoredRecord of a response and copies its bytes:
 * two malloc/free pairs per record were about a fifth of a follower's
 * replication thread. Responses are unpacked one at a time into one reused
 * block instead (a bump allocator; frees inside it do nothing). What does
 * not fit goes to malloc, and the block grows to that size for the next
 * response, so it ends as big as the largest response needs (about twice a
 * fetch's max_bytes for the smallest records) and no bigger. */

static void *s_arena_alloc(void *data, size_t size)
{
    sl_repl_t *r = data;
    size_t at = (r->arena_used + 15) & ~(size_t)15;
    r->arena_want = at + size;
    if (r->arena && at + size <= r->arena_cap) {
        r->arena_used = at + size;
        return r->arena + at;
    }
    return malloc(size);
}

static void s_arena_free(void *data, void *p)
{
    sl_repl_t *r = data;
    if (p && !(r->arena && (uint8_t *)p >= r->arena && (uint8_t *)p < r->arena + r->arena_cap))
        free(p);
}

static void s_arena_reset(sl_repl_t *r)
{
    if (r->arena_want > r->arena_cap) {
        size_t cap = r->arena_want + r->arena_want / 4;
        uint8_t *a = malloc(cap);
        if (a) {
            free(r->arena);
            r->arena = a;
            r->arena_cap = cap;
        }
    }
    r->arena_used = r->arena_want = 0;
}

void sl_repl_arena_free(sl_repl_t *r)
{
    free(r->arena);
    r->arena = NULL;
    r->arena_cap = r->arena_used = r->arena_want = 0;
}

void sl_repl_follower_recv(sl_repl_t *r, rtopic_t *rt)
{
    ProtobufCAllocator arena = {.alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = r};
    for (int k = 0; k < 16 && rt->dealer; k++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, rt->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        Seglog__V1__Response *resp =
            seglog__v1__response__unpack(&arena, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (!resp) {
            s_arena_reset(r);
            continue;
        }
        if (resp->id != rt->expect_id || !rt->inflight ||
            atomic_load(&rt->role) != RT_FOLLOWER) {
            seglog__v1__response__free_unpacked(resp, &arena);
            s_arena_reset(r);
            continue;
        }
        rt->inflight = 0;
        int64_t now = sl_repl_now_ms();
        if (resp->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR && resp->error) {
            int code = resp->error->code;
            if (code == W_OFFSET_OUT_OF_RANGE) {
                rt->fstate = F_TRUNC;
            } else {
                if (code == W_NOT_LEADER)
                    rt->need_read = 1; /* ZooKeeper will tell us who leads */
                rt->retry_ms = now + 200;
                sl_clog(SL_CLOG_DEBUG, "topic %s: leader %d answered: %s", rt->name,
                        (int)rt->leader_id, resp->error->message ? resp->error->message : "");
            }
        } else if (resp->body_case == SEGLOG__V1__RESPONSE__BODY_OFFSET_FOR_LEADER_EPOCH &&
                   rt->fstate == F_TRUNC) {
            s_on_epoch_end(r, rt, resp->offset_for_leader_epoch);
        } else if (resp->body_case == SEGLOG__V1__RESPONSE__BODY_FETCH &&
                   rt->fstate == F_FETCH) {
            s_on_fetch(r, rt, resp->fetch);
        }
        seglog__v1__response__free_unpacked(resp, &arena);
        s_arena_reset(r);
        sl_repl_follower_tick(r, rt, now); /* the next request at once */
    }
}
