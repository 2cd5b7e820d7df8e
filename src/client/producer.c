/*
 * producer.c - the asynchronous, pipelined producer (seglog/client.h).
 *
 * Up to max_in_flight batches are outstanding on the producer's own DEALER
 * socket. Slot i of a ring holds the packed request of sequence number seq
 * where seq % cap == i, so a reply finds its slot from its id alone (the
 * request id is the sequence number). Replies may arrive in any order
 * (the server answers some errors before earlier appends are acked); each
 * is stored in its slot and acks are reported strictly in send order, as
 * the oldest slots complete.
 *
 * Lazy Pirate for a pipeline: if no reply at all arrives for timeout_ms
 * while batches are outstanding, the socket is replaced and every
 * unanswered batch is resent, oldest first, on the new one. Any reply
 * resets the retry count. After `retries` resends without an answer every
 * outstanding batch is acked with SEGLOG_CLIENT_E_TIMEOUT. If no batch of
 * the window could be sent at all (no connection within timeout_ms: the
 * server is not running), there is nothing to resend and they are acked
 * with TIMEOUT at the first silence. The socket has ZMQ_IMMEDIATE (rpc.h),
 * and it is replaced before the TIMEOUT acks, so no batch acked with
 * TIMEOUT is sent afterwards.
 *
 * Cluster mode (the client was given a bootstrap list of cluster nodes, or
 * a node answered NOT_LEADER): each batch goes to its topic's leader, on one
 * socket per node (conns[0] is rpc). A batch answered NOT_LEADER is sent
 * again to the leader named in the answer (or, after asking Metadata, the
 * one it names); a node that stays silent for timeout_ms while it has
 * batches outstanding has its socket replaced (discarding what it queued)
 * and its batches sent again to the leader Metadata names next. A batch not
 * acknowledged within timeout_ms x (1 + retries) of its first send is acked
 * with TIMEOUT; it is not queued on any socket by then. Acked batches keep
 * their offsets. With idempotence (the default) a batch resent after a
 * failover is stored once: the new leader answers a batch the old one
 * stored with its original offsets, and a batch that overtook an earlier
 * one of its topic (answered OUT_OF_ORDER_SEQUENCE, nothing appended) is
 * held and sent again once no earlier batch of its topic is unanswered.
 * Without idempotence a resent batch may be stored twice (at-least-once).
 */
#include "producer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int seglog_producer_new(seglog_client_t *client, uint32_t max_in_flight, seglog_ack_fn *on_ack,
                        void *arg, seglog_producer_t **producer_p)
{
    if (!client || !producer_p || !on_ack || max_in_flight < 1 || max_in_flight > 1024)
        return SEGLOG_CLIENT_E_INVAL;
    *producer_p = NULL;
    seglog_producer_t *p = calloc(1, sizeof *p);
    if (!p)
        return SEGLOG_CLIENT_E_NOMEM;
    p->cap = max_in_flight;
    p->slots = calloc(max_in_flight, sizeof *p->slots);
    p->arena = slc_arena_new();
    if (!p->slots || !p->arena) {
        free(p->slots);
        slc_arena_destroy(&p->arena);
        free(p);
        return SEGLOG_CLIENT_E_NOMEM;
    }
    /* The queue must hold the whole window, or a resend could block. */
    int rc = slc_rpc_init(&p->rpc, client->ctx, &client->rpc.curve, client->rpc.endpoint, client->opts.timeout_ms,
                          client->opts.retries, (int)max_in_flight + 16);
    if (rc) {
        free(p->slots);
        slc_arena_destroy(&p->arena);
        free(p);
        return rc;
    }
    p->client = client;
    p->conns[0] = &p->rpc;
    p->nconns = 1;
    p->on_ack = on_ack;
    p->arg = arg;
    p->oldest = p->next = 1;
    *producer_p = p;
    return 0;
}

void seglog_producer_destroy(seglog_producer_t **producer_p)
{
    if (!producer_p || !*producer_p)
        return;
    seglog_producer_t *p = *producer_p;
    for (uint32_t i = 0; i < p->cap; i++)
        if (p->slots[i].used)
            zmq_msg_close(&p->slots[i].msg);
    slc_rpc_fini(&p->rpc);
    for (int i = 1; i < p->nconns; i++)
        slc_rpc_fini(p->conns[i]);
    slc_arena_destroy(&p->arena);
    free(p->slots);
    free(p);
    *producer_p = NULL;
}

size_t seglog_producer_in_flight(const seglog_producer_t *p)
{
    return (size_t)(p->next - p->oldest);
}

const char *seglog_producer_errmsg(const seglog_producer_t *p)
{
    return p ? p->rpc.errmsg : "";
}

slot_t *slc_producer_slot(seglog_producer_t *p, uint64_t seq)
{
    return &p->slots[seq % p->cap];
}

/* Report every completed batch at the head of the window, in order. */
void slc_producer_report(seglog_producer_t *p)
{
    while (p->oldest < p->next) {
        slot_t *s = slc_producer_slot(p, p->oldest);
        if (!s->done)
            break;
        zmq_msg_close(&s->msg);
        s->used = s->done = 0;
        p->oldest++;
        if (s->ack.err)
            slc_idem_failed(p->client, s->pid); /* its fate on the server is unknown */
        p->on_ack(p->arg, &s->ack);
    }
}

void slc_producer_complete(slot_t *s, uint64_t seq, int err, const char *message, uint64_t offset,
                       uint32_t count)
{
    size_t n = strlen(message);
    if (n >= sizeof s->message)
        n = sizeof s->message - 1; /* messages are ASCII: no character is cut */
    memcpy(s->message, message, n);
    s->message[n] = '\0';
    s->ack.seq = seq;
    s->ack.err = err;
    s->ack.message = s->message;
    s->ack.offset = offset;
    s->ack.count = count;
    s->done = 1;
}

/* From now on every batch follows its topic's leader; the outstanding
 * ones are on rpc (conns[0]). */
void slc_producer_enter_cluster(seglog_producer_t *p)
{
    if (p->cluster)
        return;
    p->cluster = 1;
    p->client->mode = 1;
    int64_t now = slc_now_ms(), deadline = slc_route_deadline(p->client);
    p->conn_out[0] = 0;
    p->conn_quiet[0] = now;
    for (uint64_t seq = p->oldest; seq < p->next; seq++) {
        slot_t *s = slc_producer_slot(p, seq);
        s->deadline = deadline;
        s->conn = s->done ? -1 : 0;
        p->conn_out[0] += !s->done;
    }
    p->backoff = 50;
}

/* Store one reply in its slot. */
static int s_take(seglog_producer_t *p, const slc_response_t *r)
{
    if (r->id < p->oldest || r->id >= p->next)
        return 0; /* an answer to a batch already reported (a resent duplicate) */
    slot_t *s = slc_producer_slot(p, r->id);
    if (s->done)
        return 0;
    if (r->kind == SLC_ERROR && r->err == SEGLOG_CLIENT_E_NOT_LEADER) {
        /* A cluster node: follow the leader from here on. */
        slc_producer_enter_cluster(p);
        p->conn_out[0]--;
        s->conn = -1;
        snprintf(s->message, sizeof s->message, "%s", r->message);
        const char *hint = r->leader_endpoint;
        if (hint && *hint && !slc_route_key_known(p->client, hint))
            hint = NULL; /* ask Metadata first: the leader's CURVE key */
        slc_route_set(p->client, s->topic, hint);
        p->refresh_at = 0;
        return 0;
    }
    if (r->kind == SLC_ERROR) {
        slc_producer_complete(s, r->id, r->err, r->message, 0, 0);
        return 0;
    }
    if (r->kind != SLC_PRODUCE)
        return slc_rpc_fail(&p->rpc, SEGLOG_CLIENT_E_PROTOCOL, "non-produce reply to a produce");
    slc_producer_complete(s, r->id, 0, "", r->offset, r->count);
    return 0;
}

/* Resend every unanswered batch, oldest first, on a new socket. */
static int s_resend(seglog_producer_t *p)
{
    int rc = slc_rpc_reconnect(&p->rpc);
    if (rc)
        return rc;
    for (uint64_t seq = p->oldest; seq < p->next; seq++) {
        slot_t *s = slc_producer_slot(p, seq);
        if (s->done)
            continue;
        rc = slc_rpc_send(&p->rpc, &s->msg, p->rpc.timeout_ms);
        if (rc == 0)
            p->window_sent = 1;
        if (rc && rc != SEGLOG_CLIENT_E_AGAIN)
            return rc;
        /* A full queue (AGAIN) is a timeout like any other. */
    }
    return 0;
}

/* Every outstanding batch failed: ack them all with err. */
static void s_fail_all(seglog_producer_t *p, int err)
{
    for (uint64_t seq = p->oldest; seq < p->next; seq++) {
        slot_t *s = slc_producer_slot(p, seq);
        if (!s->done)
            slc_producer_complete(s, seq, err, p->rpc.errmsg, 0, 0);
    }
    slc_producer_report(p);
}

/* Handle silence: resend, or give up after the last retry. */
static int s_on_silence(seglog_producer_t *p)
{
    if (p->attempts > p->rpc.retries || !p->window_sent) {
        slc_rpc_timed_out(&p->rpc, p->attempts, p->window_sent);
        /* Drop the socket so no queued request reaches a returning server. */
        int rc = slc_rpc_reconnect(&p->rpc);
        s_fail_all(p, SEGLOG_CLIENT_E_TIMEOUT);
        p->attempts = 0;
        return rc ? rc : SEGLOG_CLIENT_E_TIMEOUT;
    }
    p->attempts++;
    p->last_progress = slc_now_ms();
    return s_resend(p);
}

/* Wait until deadline (or not at all if wait_all is 0 and a reply was
 * handled) for replies; returns 0, AGAIN at the deadline, or an error. */
static int s_pump(seglog_producer_t *p, int64_t deadline, int until_empty)
{
    if (p->cluster)
        return slc_producer_cpump(p, deadline, until_empty);
    for (;;) {
        if (p->oldest == p->next)
            return 0;
        int64_t now = slc_now_ms();
        int64_t silent_until = p->last_progress + p->rpc.timeout_ms;
        int64_t until = deadline >= 0 && deadline < silent_until ? deadline : silent_until;
        int wait = until > now ? (int)(until - now) : 0;
        slc_response_t r;
        int rc = slc_rpc_recv(&p->rpc, wait, p->arena, &r);
        if (rc == 0) {
            p->last_progress = slc_now_ms();
            p->attempts = 1;
            rc = s_take(p, &r);
            if (rc)
                return rc;
            if (p->cluster)
                return slc_producer_cpump(p, deadline, until_empty);
            slc_producer_report(p);
            if (!until_empty)
                return 0;
            continue;
        }
        if (rc != SEGLOG_CLIENT_E_AGAIN)
            return rc > 0 ? slc_rpc_fail(&p->rpc, rc, "%s", zmq_strerror(rc)) : rc;
        if (slc_now_ms() >= silent_until) {
            rc = s_on_silence(p);
            if (rc)
                return rc;
            continue;
        }
        if (deadline >= 0 && slc_now_ms() >= deadline)
            return SEGLOG_CLIENT_E_AGAIN;
    }
}

int seglog_producer_send(seglog_producer_t *p, const char *topic, const seglog_record_t *records,
                         size_t n, uint64_t *seq)
{
    if (!p || (!records && n))
        return SEGLOG_CLIENT_E_INVAL;
    /* Refused before anything is sent: no sequence number, no ack. */
    int rc = slc_limits_check(p->client, records, n, p->rpc.errmsg, sizeof p->rpc.errmsg);
    if (rc)
        return rc;
    seglog_client_t *c = p->client;
    if (!p->cluster && c->mode == 0 && c->nboot > 1) { /* a list: is it a cluster? */
        rc = slc_route_refresh(c, slc_route_deadline(c), NULL, NULL);
        if (rc && rc != SEGLOG_CLIENT_E_BAD_REQUEST)
            return slc_rpc_fail(&p->rpc, rc, "%s", c->rpc.errmsg);
    }
    if (!p->cluster && c->mode == 1)
        slc_producer_enter_cluster(p);
    while (p->next - p->oldest >= p->cap) {
        rc = s_pump(p, -1, 0);
        if (rc)
            return rc;
    }
    slot_t *s = slc_producer_slot(p, p->next);
    slc_request_t req = {.id = p->next,
                         .kind = SLC_PRODUCE,
                         .topic = slc_topic(topic),
                         .records = records,
                         .nrecords = n,
                         .acks = c->opts.acks};
    /* Idempotent: the packed request, resent as it is, keeps its producer
     * id and sequence (idem.c). In cluster mode a batch that reaches a new
     * leader before an earlier one of its topic (still unanswered on the
     * old leader's socket) is refused as a gap and held until the earlier
     * one is answered (producer_cluster.c). */
    rc = slc_idem_next(c, req.topic, &req.producer_id, &req.sequence);
    if (rc)
        return slc_rpc_fail(&p->rpc, rc, "%s", c->rpc.errmsg);
    s->pid = req.producer_id;
    slc_arena_reset(p->arena);
    rc = slc_codec_encode(&req, p->arena, &s->msg);
    if (rc) {
        slc_idem_failed(c, s->pid); /* its sequence is never sent: start again */
        return slc_rpc_fail(&p->rpc, rc, "cannot encode the request: out of memory");
    }
    rc = slc_limits_check_size(p->client, &p->rpc, zmq_msg_size(&s->msg));
    if (rc) {
        slc_idem_failed(c, s->pid);
        zmq_msg_close(&s->msg);
        return rc;
    }
    snprintf(s->topic, sizeof s->topic, "%s", req.topic);
    s->conn = -1;
    s->held = 0;
    if (p->cluster) {
        s->used = 1;
        s->done = 0;
        s->deadline = slc_route_deadline(c);
        if (seq)
            *seq = p->next;
        p->next++;
        p->timed_out = 0;
        rc = slc_producer_dispatch(p);
        slc_producer_report(p);
        return rc ? rc : p->timed_out ? SEGLOG_CLIENT_E_TIMEOUT : 0;
    }
    if (p->oldest == p->next) { /* the window was empty: the silence clock starts now */
        p->last_progress = slc_now_ms();
        p->attempts = 1;
        p->window_sent = 0;
    }
    rc = slc_rpc_send(&p->rpc, &s->msg, p->rpc.timeout_ms);
    if (rc == 0)
        p->window_sent = 1;
    if (rc && rc != SEGLOG_CLIENT_E_AGAIN) { /* AGAIN: resent on the next silence */
        slc_idem_failed(c, s->pid);
        zmq_msg_close(&s->msg);
        return rc > 0 ? slc_rpc_fail(&p->rpc, rc, "%s", zmq_strerror(rc)) : rc;
    }
    s->used = 1;
    s->done = 0;
    s->conn = 0;
    if (seq)
        *seq = p->next;
    p->next++;
    return 0;
}

int seglog_producer_poll(seglog_producer_t *p, int timeout_ms)
{
    if (!p)
        return SEGLOG_CLIENT_E_INVAL;
    int64_t deadline = slc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int rc = s_pump(p, deadline, 1);
    return rc == SEGLOG_CLIENT_E_AGAIN ? 0 : rc;
}

int seglog_producer_flush(seglog_producer_t *p, int timeout_ms)
{
    if (!p)
        return SEGLOG_CLIENT_E_INVAL;
    int64_t deadline = timeout_ms < 0 ? -1 : slc_now_ms() + timeout_ms;
    return s_pump(p, deadline, 1);
}
