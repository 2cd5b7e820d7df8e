/*
 * producer_cluster.c - the pipelined producer in cluster mode: each batch
 * to its topic's leader, one socket per node, resent after NOT_LEADER or a
 * silent node (see the comment at the top of producer.c).
 */
#include "producer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- cluster mode ------------------------------------------------------ */

#define CONNECT_WAIT_MS 500
#define BACKOFF_MAX_MS  500

static void s_backoff(seglog_producer_t *p, int64_t now)
{
    p->retry_at = now + p->backoff;
    p->backoff = p->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff * 2;
}

/* The connection to endpoint (opened on first use); -1 if none is free. */
static int s_conn_for(seglog_producer_t *p, const char *endpoint)
{
    seglog_client_t *c = p->client;
    slc_curve_t keys;
    const slc_curve_t *want = slc_route_curve(c, endpoint, &keys);
    int i = -1;
    for (int k = 0; k < p->nconns && i < 0; k++)
        if (p->conns[k]->endpoint && strcmp(p->conns[k]->endpoint, endpoint) == 0) {
            if (k == 0 || p->conn_out[k] || !want ||
                strcmp(p->conns[k]->curve.server, want->server) == 0)
                return k;
            i = k; /* opened before Metadata gave the node's key: reopen */
            slc_rpc_fini(p->conns[k]);
        }
    if (i < 0 && p->nconns < SLC_POOL) {
        i = p->nconns;
        p->conns[i] = &p->extra[i - 1];
    } else if (i < 0) {
        for (int k = 1; k < p->nconns && i < 0; k++)
            if (!p->conn_out[k])
                i = k; /* an idle one: close it */
        if (i < 0)
            return -1;
        slc_rpc_fini(p->conns[i]);
    }
    if (slc_rpc_init(p->conns[i], c->ctx, want, endpoint, c->opts.timeout_ms, 0,
                     (int)p->cap + 16)) {
        snprintf(p->rpc.errmsg, sizeof p->rpc.errmsg, "%s", p->conns[i]->errmsg);
        return -1; /* a new slot is not counted; a reused one has no endpoint: free again */
    }
    if (i == p->nconns)
        p->nconns++;
    p->conn_out[i] = 0;
    return i;
}

static uint64_t s_topic_hash(const char *t)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ull;
    return h;
}

/* A live node for a topic the cluster does not know yet (a first produce
 * creates it, and that node redirects). */
static const char *s_any_node(seglog_client_t *c, uint64_t turn)
{
    size_t alive = 0;
    for (size_t i = 0; i < c->nnodes; i++)
        alive += c->nodes[i].alive && *c->nodes[i].endpoint;
    size_t k = alive ? turn % alive : 0;
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].alive && *c->nodes[i].endpoint && k-- == 0)
            return c->nodes[i].endpoint;
    return c->rpc.endpoint;
}

/* An earlier batch of s's topic and producer id is still unanswered. */
static int s_earlier_open(seglog_producer_t *p, uint64_t seq, const slot_t *s)
{
    for (uint64_t k = p->oldest; k < seq; k++) {
        const slot_t *e = slc_producer_slot(p, k);
        if (!e->done && e->pid == s->pid && strcmp(e->topic, s->topic) == 0)
            return 1;
    }
    return 0;
}

/* Send every batch waiting to be (re)sent, oldest first; ack with TIMEOUT
 * those past their deadline (none of them is queued anywhere). A held
 * batch waits for the earlier batches of its topic. */
int slc_producer_dispatch(seglog_producer_t *p)
{
    seglog_client_t *c = p->client;
    for (uint64_t seq = p->oldest; seq < p->next; seq++) {
        slot_t *s = slc_producer_slot(p, seq);
        if (s->done || s->conn >= 0)
            continue;
        int64_t now = slc_now_ms();
        if (now >= s->deadline) {
            char why[256];
            snprintf(why, sizeof why, "not acknowledged within %d ms: %.200s",
                     c->opts.timeout_ms * (1 + c->opts.retries),
                     *s->message ? s->message : "no leader");
            slc_producer_complete(s, seq, SEGLOG_CLIENT_E_TIMEOUT, why, 0, 0);
            slc_rpc_fail(&p->rpc, SEGLOG_CLIENT_E_TIMEOUT, "%s", why);
            p->timed_out = 1;
            continue;
        }
        if (now < p->retry_at)
            return 0;
        if (s->held) {
            if (s_earlier_open(p, seq, s))
                continue;
            s->held = 0;
        }
        slc_route_t *r = slc_route_find(c, s->topic);
        if ((!r || !r->endpoint) && now >= p->refresh_at) {
            int64_t until = now + c->opts.timeout_ms;
            slc_route_refresh(c, until < s->deadline ? until : s->deadline, NULL, NULL);
            p->refresh_at = slc_now_ms() + p->backoff;
            r = slc_route_find(c, s->topic);
        }
        char ep[256];
        if (r && r->endpoint)
            snprintf(ep, sizeof ep, "%s", r->endpoint);
        else if (!r) /* one node per topic: its batches arrive in order */
            snprintf(ep, sizeof ep, "%s", s_any_node(c, s_topic_hash(s->topic)));
        else {
            snprintf(s->message, sizeof s->message, "topic '%.128s' has no leader", s->topic);
            s_backoff(p, slc_now_ms());
            return 0;
        }
        int i = s_conn_for(p, ep);
        if (i < 0) {
            s_backoff(p, slc_now_ms());
            return 0;
        }
        int rc = slc_rpc_send(p->conns[i], &s->msg, CONNECT_WAIT_MS);
        if (rc == SEGLOG_CLIENT_E_AGAIN) { /* no connection: that node is down */
            snprintf(s->message, sizeof s->message, "no connection to %.200s", ep);
            slc_route_forget_endpoint(c, ep);
            p->refresh_at = 0;
            s_backoff(p, slc_now_ms());
            return 0;
        }
        if (rc)
            return slc_rpc_fail(&p->rpc, rc, "%s", p->conns[i]->errmsg);
        s->conn = i;
        if (p->conn_out[i]++ == 0)
            p->conn_quiet[i] = slc_now_ms();
    }
    return 0;
}

/* A reply on connection i. */
static int s_ctake(seglog_producer_t *p, int i, const slc_response_t *r)
{
    if (r->id < p->oldest || r->id >= p->next)
        return 0;
    slot_t *s = slc_producer_slot(p, r->id);
    if (s->done || s->conn != i)
        return 0; /* not outstanding there: stale */
    p->conn_quiet[i] = slc_now_ms();
    p->conn_out[i]--;
    s->conn = -1;
    if (r->kind == SLC_ERROR && r->err == SEGLOG_CLIENT_E_NOT_LEADER) {
        const char *hint = r->leader_endpoint;
        snprintf(s->message, sizeof s->message, "%.250s", r->message);
        if (hint && *hint && strcmp(hint, p->conns[i]->endpoint) != 0 &&
            slc_route_key_known(p->client, hint)) {
            slc_route_set(p->client, s->topic, hint);
        } else if (hint && *hint && strcmp(hint, p->conns[i]->endpoint) != 0) {
            slc_route_set(p->client, s->topic, NULL); /* ask Metadata: its CURVE key */
            p->refresh_at = 0;
        } else {
            slc_route_set(p->client, s->topic, NULL);
            p->refresh_at = 0;
            s_backoff(p, slc_now_ms());
        }
        return 0;
    }
    if (r->kind == SLC_ERROR && r->err == SEGLOG_CLIENT_E_OUT_OF_ORDER_SEQUENCE && s->pid &&
        s_earlier_open(p, r->id, s)) {
        /* It overtook an earlier batch of its topic (resent after a
         * failover, or still unanswered on a dead leader's socket): nothing
         * of it was appended. Send it again once the earlier ones are
         * answered; if one of them failed, this one's gap is real and is
         * then acked as it stands. */
        snprintf(s->message, sizeof s->message, "%.250s", r->message);
        s->held = 1;
        return 0;
    }
    if (r->kind == SLC_ERROR) {
        slc_producer_complete(s, r->id, r->err, r->message, 0, 0);
        return 0;
    }
    if (r->kind != SLC_PRODUCE)
        return slc_rpc_fail(&p->rpc, SEGLOG_CLIENT_E_PROTOCOL, "non-produce reply to a produce");
    slc_producer_complete(s, r->id, 0, "", r->offset, r->count);
    p->backoff = 50;
    return 0;
}

/* Connection i was silent for timeout_ms with batches outstanding: drop
 * the socket (and what it queued) and send them again elsewhere. */
static int s_csilence(seglog_producer_t *p, int i)
{
    slc_rpc_t *conn = p->conns[i];
    char ep[256];
    snprintf(ep, sizeof ep, "%s", conn->endpoint);
    int rc = slc_rpc_reconnect(conn);
    for (uint64_t seq = p->oldest; seq < p->next; seq++) {
        slot_t *s = slc_producer_slot(p, seq);
        if (!s->done && s->conn == i) {
            s->conn = -1;
            snprintf(s->message, sizeof s->message, "no reply from %.200s within %d ms", ep,
                     conn->timeout_ms);
        }
    }
    p->conn_out[i] = 0;
    slc_route_forget_endpoint(p->client, ep);
    p->refresh_at = 0;
    return rc;
}

int slc_producer_cpump(seglog_producer_t *p, int64_t deadline, int until_empty)
{
    p->timed_out = 0;
    for (;;) {
        uint64_t before = p->oldest;
        int rc = slc_producer_dispatch(p);
        slc_producer_report(p);
        if (rc)
            return rc;
        if (p->oldest == p->next || (!until_empty && p->oldest != before))
            return p->timed_out ? SEGLOG_CLIENT_E_TIMEOUT : 0;
        int64_t now = slc_now_ms();
        int64_t wake = deadline >= 0 ? deadline : now + 1000;
        zmq_pollitem_t items[SLC_POOL];
        int idx[SLC_POOL], n = 0, pending = 0;
        for (int i = 0; i < p->nconns; i++) {
            if (!p->conn_out[i])
                continue;
            int64_t quiet = p->conn_quiet[i] + p->conns[i]->timeout_ms;
            if (quiet < wake)
                wake = quiet;
            items[n] = (zmq_pollitem_t){p->conns[i]->sock, 0, ZMQ_POLLIN, 0};
            idx[n++] = i;
        }
        for (uint64_t seq = p->oldest; seq < p->next && !pending; seq++) {
            slot_t *s = slc_producer_slot(p, seq);
            pending = !s->done && s->conn < 0;
        }
        if (pending) {
            int64_t at = p->retry_at > now ? p->retry_at : now + 10;
            if (at < wake)
                wake = at;
        }
        int wait = wake > now ? (int)(wake - now) : 0;
        if (zmq_poll(items, n, wait) < 0)
            return slc_rpc_fail(&p->rpc, errno, "%s", zmq_strerror(errno));
        for (int k = 0; k < n; k++) {
            int i = idx[k];
            slc_response_t r;
            while (p->conn_out[i] && slc_rpc_recv(p->conns[i], 0, p->arena, &r) == 0) {
                rc = s_ctake(p, i, &r);
                if (rc)
                    return rc;
            }
        }
        now = slc_now_ms();
        for (int i = 0; i < p->nconns; i++)
            if (p->conn_out[i] && now >= p->conn_quiet[i] + p->conns[i]->timeout_ms) {
                rc = s_csilence(p, i);
                if (rc)
                    return rc;
            }
        slc_producer_report(p);
        if (p->oldest == p->next || (!until_empty && p->oldest != before))
            return p->timed_out ? SEGLOG_CLIENT_E_TIMEOUT : 0;
        if (deadline >= 0 && slc_now_ms() >= deadline)
            return p->timed_out ? SEGLOG_CLIENT_E_TIMEOUT : SEGLOG_CLIENT_E_AGAIN;
    }
}

