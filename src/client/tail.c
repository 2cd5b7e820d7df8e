/*
 * tail.c - the reliable stream consumer (seglog/client.h), the zguide's
 * Clone pattern over seglog's PUB stream.
 *
 * State: `next` is the offset of the next record to return; `known_end` is
 * an offset below which records are known to exist (from the offsets
 * reply, a ConsumeResponse's end_offset, a heartbeat's next_offset, or a
 * published record seen ahead of `next`). The invariant is that every
 * record below `next` was returned exactly once and in order.
 *
 * next() repeats, until it has a record or an outcome to report:
 *   1. return the next record of the last fetched batch, if any;
 *   2. if next < known_end, fetch [next, ...) over request/reply (a batch
 *      of fetch_records, ending where the log ended when it was read; that
 *      end raises known_end, so a catch-up runs to the end of the log);
 *   3. otherwise wait on the SUB socket and take one message:
 *      - not exactly our topic (subscriptions are prefixes): ignore;
 *      - record below next: a duplicate of a fetched record, drop;
 *      - record at next: return it;
 *      - record above next: a gap (the PUB socket dropped at its HWM, or
 *        the subscription was not live yet): known_end = offset + 1;
 *      - heartbeat with another epoch: the log was reset; move to the new
 *        log's lowest offset and report SEGLOG_CLIENT_E_EPOCH_CHANGED;
 *      - heartbeat with next_offset above next: records were missed at
 *        the end of a burst; known_end = next_offset.
 * The SUB socket subscribed before the first offsets request, so every
 * record published after that either arrives on it, or its loss shows as
 * a gap or a heartbeat ahead of `next` (heartbeats come about once a
 * second on an idle topic).
 *
 * Failover mode (a bootstrap list and a cluster; tail_node.c): a request
 * that gets no answer, or SLC_TAIL_SILENCE_MS without a PUB message and
 * then no answer to an Offsets request, moves the tail to another live
 * replica, where it goes on at `next` by the same catch-up. Every replica
 * serves records only below its high watermark (they cannot vanish) at
 * the same offsets, under the same epoch (the topic's ZooKeeper log_id),
 * so the invariant holds across the move; a replica behind `next` is
 * waited for, as a stream that has not caught up.
 */
#include "tail_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FETCH_RECORDS 1000
#define DEFAULT_SUB_HWM       1000

void seglog_tail_options_default(seglog_tail_options_t *o)
{
    o->start_at_lowest = 0;
    o->fetch_records = DEFAULT_FETCH_RECORDS;
    o->fetch_bytes = 0;
    o->sub_hwm = DEFAULT_SUB_HWM;
    o->wait_for_topic = 0;
}

static int s_offsets(seglog_tail_t *t, slc_response_t *r)
{
    if (!t->rpc.endpoint) /* failover mode: the last move found no node to open on */
        return SEGLOG_CLIENT_E_TIMEOUT;
    slc_request_t req = {.kind = SLC_OFFSETS, .topic = t->topic};
    return slc_rpc_call(&t->rpc, &req, t->arena, r);
}

/* A request to the tail's node got no answer: in failover mode the tail
 * moves to another replica (0: go on from the state the move set). */
static int s_lost(seglog_tail_t *t, int rc)
{
    if (rc == SEGLOG_CLIENT_E_TIMEOUT && t->failover)
        return slc_tail_move(t, 0);
    return rc;
}

/* Where to start, from the log's offsets. */
int slc_tail_resolve(seglog_tail_t *t, uint64_t from, const slc_response_t *o)
{
    if (from == SEGLOG_OFFSET_EARLIEST)
        from = o->lowest_offset;
    else if (from == SEGLOG_OFFSET_LATEST)
        from = o->next_offset;
    if (from < o->lowest_offset) {
        if (!t->start_at_lowest)
            return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_OFFSET_TRUNCATED,
                                "offset %llu of topic '%s' was truncated; the lowest is %llu",
                                (unsigned long long)from, t->topic,
                                (unsigned long long)o->lowest_offset);
        from = o->lowest_offset;
    }
    if (from > o->next_offset)
        return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE,
                            "offset %llu is past the end of topic '%s' (next offset %llu)",
                            (unsigned long long)from, t->topic, (unsigned long long)o->next_offset);
    t->next = from;
    t->known_end = o->next_offset;
    t->epoch = o->epoch;
    return 0;
}

int seglog_tail_new(seglog_client_t *client, const char *topic, uint64_t from_offset,
                    const seglog_tail_options_t *opts, seglog_tail_t **tail_p)
{
    if (!client || !tail_p)
        return SEGLOG_CLIENT_E_INVAL;
    *tail_p = NULL;
    seglog_tail_options_t o;
    seglog_tail_options_default(&o);
    if (opts)
        o = *opts;
    if (o.fetch_records == 0)
        o.fetch_records = DEFAULT_FETCH_RECORDS;
    if (o.sub_hwm <= 0)
        o.sub_hwm = DEFAULT_SUB_HWM;

    seglog_tail_t *t = calloc(1, sizeof *t);
    if (!t)
        return SEGLOG_CLIENT_E_NOMEM;
    zmq_msg_init(&t->frame);
    t->client = client;
    t->sub_hwm = o.sub_hwm;
    t->start_at_lowest = o.start_at_lowest;
    t->fetch_records = o.fetch_records;
    t->fetch_bytes = o.fetch_bytes;
    t->topic = strdup(slc_topic(topic));
    t->arena = slc_arena_new();
    t->ev_arena = slc_arena_new();
    int rc = SEGLOG_CLIENT_E_NOMEM;
    if (!t->topic || !t->arena || !t->ev_arena)
        goto fail;
    t->topic_len = strlen(t->topic);
    /* Subscribe first: from here on, every published record either reaches
     * us or shows up as a gap. Then learn where the log stands. */
    slc_response_t off;
    rc = slc_tail_start(t, &off);
    if (rc == SEGLOG_CLIENT_E_UNKNOWN_TOPIC && o.wait_for_topic) {
        /* The first message on the topic's stream means it exists now. */
        t->pending = 1;
        t->from = from_offset == SEGLOG_OFFSET_LATEST ? SEGLOG_OFFSET_EARLIEST : from_offset;
        rc = 0;
    } else if (rc == 0) {
        rc = slc_tail_resolve(t, from_offset, &off);
    }
    if (rc)
        goto fail_msg;
    *tail_p = t;
    return 0;
fail_msg:
    /* Carry the explanation to the client, where the caller can read it. */
    snprintf(client->rpc.errmsg, sizeof client->rpc.errmsg, "%s", t->rpc.errmsg);
fail:
    seglog_tail_destroy(&t);
    return rc;
}

void seglog_tail_destroy(seglog_tail_t **tail_p)
{
    if (!tail_p || !*tail_p)
        return;
    seglog_tail_t *t = *tail_p;
    if (t->sub)
        zmq_close(t->sub);
    zmq_msg_close(&t->frame);
    slc_rpc_fini(&t->rpc);
    slc_arena_destroy(&t->arena);
    slc_arena_destroy(&t->ev_arena);
    free(t->pub);
    free(t->topic);
    free(t);
    *tail_p = NULL;
}

uint64_t seglog_tail_position(const seglog_tail_t *t)
{
    return t->next;
}

uint64_t seglog_tail_epoch(const seglog_tail_t *t)
{
    return t->epoch;
}

void seglog_tail_stats(const seglog_tail_t *t, seglog_tail_stats_t *out)
{
    *out = t->stats;
}

const char *seglog_tail_errmsg(const seglog_tail_t *t)
{
    return t ? t->rpc.errmsg : "";
}

static void s_drop_batch(seglog_tail_t *t)
{
    t->batch = NULL;
    t->batch_n = t->batch_pos = 0;
}

/* The log o describes has another epoch: start over at its lowest offset. */
static int s_reset(seglog_tail_t *t, const slc_response_t *o)
{
    uint64_t old = t->epoch;
    s_drop_batch(t);
    t->stats.epochs++;
    slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_EPOCH_CHANGED,
                 "topic '%s' was reset (epoch %llu, was %llu); continuing at offset %llu", t->topic,
                 (unsigned long long)o->epoch, (unsigned long long)old,
                 (unsigned long long)o->lowest_offset);
    t->epoch = o->epoch;
    t->next = o->lowest_offset;
    t->known_end = o->next_offset;
    return SEGLOG_CLIENT_E_EPOCH_CHANGED;
}

int slc_tail_adopt(seglog_tail_t *t, const slc_response_t *o)
{
    if (t->pending) {
        int rc = slc_tail_resolve(t, t->from, o);
        if (rc == 0)
            t->pending = 0;
        return rc;
    }
    if (o->epoch != t->epoch)
        return s_reset(t, o);
    t->known_end = o->next_offset;
    return 0;
}

/* The log may have a new epoch (a heartbeat said so, or the log is shorter
 * than our position): ask. 0 when it has not (*same 1), else as s_reset. */
static int s_epoch_check(seglog_tail_t *t, int *same, slc_response_t *o)
{
    *same = 0;
    int rc = s_offsets(t, o);
    if (rc)
        return s_lost(t, rc);
    if (o->epoch == t->epoch) {
        *same = 1;
        return 0; /* not a reset after all */
    }
    return s_reset(t, o);
}

/* Fetch the next batch from `next` over request/reply. */
static int s_fetch(seglog_tail_t *t)
{
    slc_request_t req = {.kind = SLC_CONSUME,
                         .topic = t->topic,
                         .offset = t->next,
                         .max_records = t->fetch_records,
                         .max_bytes = t->fetch_bytes};
    slc_response_t r;
    if (!t->rpc.endpoint) /* failover mode: the last move found no node to open on */
        return s_lost(t, SEGLOG_CLIENT_E_TIMEOUT);
    t->stats.fetches++;
    int rc = slc_rpc_call(&t->rpc, &req, t->arena, &r);
    if (rc == SEGLOG_CLIENT_E_OFFSET_TRUNCATED && t->start_at_lowest && !t->stats.delivered &&
        !t->stats.epochs) {
        /* Still at the start, which moved up while we got here. */
        slc_response_t o;
        rc = s_offsets(t, &o);
        if (rc)
            return s_lost(t, rc);
        if (o.lowest_offset > t->next)
            t->next = o.lowest_offset;
        if (o.next_offset > t->known_end)
            t->known_end = o.next_offset;
        return 0;
    }
    if (rc == SEGLOG_CLIENT_E_OFFSET_TRUNCATED)
        return slc_rpc_fail(&t->rpc, rc,
                            "records of topic '%s' from offset %llu on were truncated before "
                            "the tail read them",
                            t->topic, (unsigned long long)t->next);
    if (rc == SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE) {
        /* The log is shorter than our position: it must have been reset,
         * or (failover mode) we moved to a replica whose high watermark is
         * still below the records the last one served: wait for it. */
        char msg[sizeof t->rpc.errmsg];
        snprintf(msg, sizeof msg, "%s", t->rpc.errmsg);
        slc_response_t o;
        int same, erc = s_epoch_check(t, &same, &o);
        if (erc || !same)
            return erc;
        if (t->failover) {
            t->known_end = o.next_offset;
            return 0;
        }
        return slc_rpc_fail(&t->rpc, rc, "%s", msg);
    }
    if (rc)
        return s_lost(t, rc);
    for (size_t i = 0; i < r.nrecords; i++)
        if (r.records[i].offset != t->next + i)
            return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_PROTOCOL,
                                "consume from %llu returned offset %llu at position %zu",
                                (unsigned long long)t->next,
                                (unsigned long long)r.records[i].offset, i);
    if (r.nrecords == 0) {
        /* The log ends at next: whatever we believed beyond it is not
         * there (yet); the PUB stream takes over. */
        t->known_end = t->next;
        return 0;
    }
    t->batch = r.records;
    t->batch_n = r.nrecords;
    t->batch_pos = 0;
    if (r.end_offset > t->known_end)
        t->known_end = r.end_offset;
    return 0;
}

/* Outcomes of one PUB message, besides the error codes. */
enum { LIVE_RECORD = -1000, LIVE_AGAIN = -1001 };

/* A message on the stream of a topic that did not exist: start now. The
 * message itself is not used; the fetch from the start covers it. */
static int s_topic_appeared(seglog_tail_t *t)
{
    slc_response_t o;
    int rc = s_offsets(t, &o);
    if (rc)
        rc = s_lost(t, rc);
    else
        rc = slc_tail_adopt(t, &o);
    return rc ? rc : LIVE_AGAIN;
}

/* Receive one frame into t->frame. */
static int s_recv_frame(seglog_tail_t *t)
{
    if (zmq_msg_recv(&t->frame, t->sub, ZMQ_DONTWAIT) < 0)
        return errno;
    return 0;
}

/* Wait for and handle one PUB message: LIVE_RECORD with *record,
 * LIVE_AGAIN when the state may have changed (loop again), or an error
 * (SEGLOG_CLIENT_E_AGAIN at the deadline). */
static int s_live(seglog_tail_t *t, int64_t deadline, seglog_record_t *record)
{
    int64_t now = slc_now_ms();
    int wait = -1;
    if (deadline >= 0)
        wait = deadline > now ? (int)(deadline - now) : 0;
    int64_t silent = t->heard_ms + SLC_TAIL_SILENCE_MS;
    if (t->failover && (wait < 0 || silent - now < wait))
        wait = silent > now ? (int)(silent - now) : 0;
    zmq_pollitem_t item = {t->sub, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&item, 1, wait);
    if (n < 0)
        return errno;
    if (n == 0) {
        now = slc_now_ms();
        if (t->failover && now >= silent) {
            int rc = slc_tail_move(t, 1); /* a silent node: does it still answer? */
            return rc ? rc : LIVE_AGAIN;
        }
        return deadline >= 0 && now >= deadline ? SEGLOG_CLIENT_E_AGAIN : LIVE_AGAIN;
    }
    int rc = s_recv_frame(t);
    if (rc)
        return rc == EAGAIN ? LIVE_AGAIN : rc;
    t->heard_ms = slc_now_ms();
    /* Frame 1: the topic, compared exactly. */
    int ours = zmq_msg_size(&t->frame) == t->frame_len &&
               memcmp(zmq_msg_data(&t->frame), t->topic, t->frame_len) == 0;
    if (!zmq_msg_more(&t->frame))
        return LIVE_AGAIN; /* no event frame: not a seglog message */
    if ((rc = s_recv_frame(t)) != 0)
        return rc;
    int extra = zmq_msg_more(&t->frame);
    while (zmq_msg_more(&t->frame)) /* drop any further frames */
        if (zmq_msg_recv(&t->frame, t->sub, 0) < 0)
            return errno;
    if (!ours || extra)
        return LIVE_AGAIN;

    slc_event_t ev;
    slc_arena_reset(t->ev_arena);
    if (slc_codec_decode_event(t->ev_arena, zmq_msg_data(&t->frame), zmq_msg_size(&t->frame),
                               &ev) != 0)
        return LIVE_AGAIN; /* undecodable: the next record or heartbeat shows a gap */
    if (t->pending)
        return s_topic_appeared(t);
    if (ev.kind == SLC_EVENT_HEARTBEAT) {
        t->stats.heartbeats++;
        if (ev.epoch != t->epoch) {
            slc_response_t o;
            int same, rc = s_epoch_check(t, &same, &o);
            return rc ? rc : LIVE_AGAIN;
        }
        if (ev.next_offset > t->next) {
            t->stats.hb_behind++;
            if (ev.next_offset > t->known_end)
                t->known_end = ev.next_offset;
        }
        return LIVE_AGAIN;
    }
    uint64_t off = ev.record.offset;
    if (off < t->next) {
        t->stats.duplicates++;
        return LIVE_AGAIN;
    }
    if (off > t->next) {
        t->stats.gaps++;
        if (off + 1 > t->known_end)
            t->known_end = off + 1;
        return LIVE_AGAIN;
    }
    *record = ev.record;
    t->stats.live++;
    return LIVE_RECORD;
}

int seglog_tail_next(seglog_tail_t *t, int timeout_ms, seglog_record_t *record)
{
    if (!t || !record)
        return SEGLOG_CLIENT_E_INVAL;
    int64_t deadline = timeout_ms < 0 ? -1 : slc_now_ms() + timeout_ms;
    for (;;) {
        if (t->batch_pos < t->batch_n) {
            *record = t->batch[t->batch_pos++];
            t->next = record->offset + 1;
            t->stats.delivered++;
            return 0;
        }
        if (t->next < t->known_end) {
            int rc = s_fetch(t);
            if (rc)
                return rc;
            continue;
        }
        int rc = s_live(t, deadline, record);
        if (rc == LIVE_RECORD) {
            t->next = record->offset + 1;
            t->stats.delivered++;
            return 0;
        }
        if (rc != LIVE_AGAIN)
            return rc;
    }
}
