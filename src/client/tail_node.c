/*
 * tail_node.c - which node a tail reads (seglog/client.h, "Cluster mode"):
 * its two sockets, and in failover mode the move to another replica.
 *
 * A single endpoint, or a bootstrap list that reaches a standalone server,
 * reads the client's node and the PUB endpoint given, and never leaves
 * them. A bootstrap list that reaches a cluster puts the tail in failover
 * mode: the PUB endpoints come from Metadata (each node advertises its
 * own), each request is one attempt, and a node that does not answer is
 * left for another live replica of the topic. A move closes both sockets
 * (linger 0), so nothing the old node still had queued for us arrives
 * afterwards, and subscribes on the new node before it asks that node's
 * Offsets, as at the start (tail.c).
 *
 * Metadata goes through the client's sockets (route.c), so what the tail
 * learns (nodes, leaders) serves the client's produces too; the reply goes
 * to the tail's arena, so the client's borrowed replies stay valid.
 *
 * Thread rules: the tail's client's; one thread at a time.
 */
#include "tail_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_WAIT_MS 500 /* a node with no connection by then is taken as down */
#define BACKOFF_MIN_MS  50
#define BACKOFF_MAX_MS  500
#define MAX_CANDIDATES  32
#define EP_MAX          256

typedef struct cand {
    char ep[EP_MAX], pub[EP_MAX];
} cand_t;

static int s_min(int64_t a, int64_t b)
{
    int64_t m = a < b ? a : b;
    return m > 0 ? (int)m : 0;
}

int slc_tail_open(seglog_tail_t *t, const char *endpoint, const char *pub)
{
    seglog_client_t *c = t->client;
    if (t->sub) {
        zmq_close(t->sub); /* linger 0 (set at open) */
        t->sub = NULL;
    }
    slc_rpc_fini(&t->rpc);
    free(t->pub);
    t->pub = strdup(pub);
    if (!t->pub)
        return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_NOMEM, "out of memory");
    /* Failover mode: one attempt per request; no answer means the next node. */
    /* Each node with its own CURVE key (from Metadata; the client's node: its channel's). */
    slc_curve_t keys;
    const slc_curve_t *k = c->rpc.endpoint && strcmp(endpoint, c->rpc.endpoint) == 0
                               ? &c->rpc.curve
                               : slc_route_curve(c, endpoint, &keys);
    int rc = slc_rpc_init(&t->rpc, c->ctx, k, endpoint, c->opts.timeout_ms,
                          t->failover ? 0 : c->opts.retries, 1000);
    if (rc)
        return rc;
    t->sub = zmq_socket(c->ctx, ZMQ_SUB);
    if (!t->sub)
        return slc_rpc_fail(&t->rpc, errno, "cannot create a socket: %s", zmq_strerror(errno));
    rc = slc_curve_apply(&t->rpc.curve, t->sub);
    if (rc)
        return slc_rpc_fail(&t->rpc, rc, "cannot set up CURVE: %s", zmq_strerror(rc));
    /* With CURVE the topic frame is the name and a zero byte, and the
     * server applies only such exact subscriptions (docs/SECURITY.md). */
    t->frame_len = t->topic_len + (c->curve.server[0] ? 1 : 0);
    int linger = 0;
    zmq_setsockopt(t->sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(t->sub, ZMQ_RCVHWM, &t->sub_hwm, sizeof t->sub_hwm);
    /* A prefix subscription; tail.c compares the topic frame exactly. */
    zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, t->topic, t->frame_len);
    if (zmq_connect(t->sub, pub) != 0)
        return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_INVAL, "cannot connect to '%s': %s", pub,
                            zmq_strerror(errno));
    t->heard_ms = slc_now_ms();
    return 0;
}

/* A live node with both endpoints, once. */
static void s_add(const seglog_node_info_t *nd, cand_t *out, int *n)
{
    if (!nd->alive || !*nd->endpoint || !*nd->pub_endpoint || *n == MAX_CANDIDATES ||
        strlen(nd->endpoint) >= EP_MAX || strlen(nd->pub_endpoint) >= EP_MAX)
        return;
    for (int k = 0; k < *n; k++)
        if (strcmp(out[k].ep, nd->endpoint) == 0)
            return;
    snprintf(out[*n].ep, EP_MAX, "%s", nd->endpoint);
    snprintf(out[*n].pub, EP_MAX, "%s", nd->pub_endpoint);
    (*n)++;
}

static void s_add_id(const seglog_cluster_info_t *ci, int32_t id, cand_t *out, int *n)
{
    for (size_t i = 0; i < ci->nnodes; i++)
        if (ci->nodes[i].id == id)
            s_add(&ci->nodes[i], out, n);
}

/* The nodes a tail of the topic can read, from a Metadata answer (copied:
 * the answer is in the arena the next request resets): its live replicas,
 * the leader first, then the ISR, then the others; every live node while
 * the topic is not there (yet). */
static int s_candidates(const seglog_tail_t *t, const seglog_cluster_info_t *ci, cand_t *out)
{
    const seglog_topic_meta_t *tm = NULL;
    for (size_t i = 0; i < ci->ntopics && !tm; i++)
        if (strcmp(ci->topics[i].name, t->topic) == 0)
            tm = &ci->topics[i];
    int n = 0;
    if (!tm) {
        for (size_t i = 0; i < ci->nnodes; i++)
            s_add(&ci->nodes[i], out, &n);
        return n;
    }
    if (tm->leader >= 0)
        s_add_id(ci, tm->leader, out, &n);
    for (size_t i = 0; i < tm->nisr; i++)
        s_add_id(ci, tm->isr[i], out, &n);
    for (size_t i = 0; i < tm->nreplicas; i++)
        s_add_id(ci, tm->replicas[i], out, &n);
    return n;
}

/* Move the candidate whose endpoint is ep to the front (or the back). */
static void s_place(cand_t *v, int n, const char *ep, int front)
{
    int at = -1;
    for (int i = 0; ep && i < n && at < 0; i++)
        if (strcmp(v[i].ep, ep) == 0)
            at = i;
    if (at < 0)
        return;
    cand_t keep = v[at];
    if (front) {
        memmove(v + 1, v, (size_t)at * sizeof *v);
        v[0] = keep;
    } else {
        memmove(v + at, v + at + 1, (size_t)(n - at - 1) * sizeof *v);
        v[n - 1] = keep;
    }
}

/* Metadata into the tail's arena; the client's errmsg is left as it was
 * (this is a call on the tail), the failure's message goes to the tail. */
static int s_metadata(seglog_tail_t *t, int64_t deadline, const char *avoid, slc_response_t *m)
{
    seglog_client_t *c = t->client;
    char keep[sizeof c->rpc.errmsg];
    memcpy(keep, c->rpc.errmsg, sizeof keep);
    int rc = slc_route_refresh_in(c, deadline, avoid, t->arena, m);
    if (rc)
        slc_rpc_fail(&t->rpc, rc, "%s", c->rpc.errmsg);
    memcpy(c->rpc.errmsg, keep, sizeof keep);
    return rc;
}

/* One Offsets request to the tail's node: a connection within 500 ms, the
 * answer within timeout_ms, both within deadline. 0, the node's error,
 * SEGLOG_CLIENT_E_AGAIN (no connection) or TIMEOUT (no answer). */
static int s_offsets_once(seglog_tail_t *t, int64_t deadline, slc_response_t *o)
{
    int64_t left = deadline - slc_now_ms();
    if (!t->rpc.endpoint || left <= 0)
        return SEGLOG_CLIENT_E_TIMEOUT;
    slc_request_t req = {.kind = SLC_OFFSETS, .topic = t->topic, .id = t->rpc.next_id++};
    zmq_msg_t msg;
    slc_arena_reset(t->arena);
    if (slc_codec_encode(&req, t->arena, &msg) != 0)
        return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_NOMEM, "out of memory");
    int rc = slc_rpc_once(&t->rpc, &msg, req.id, SLC_OFFSETS, s_min(CONNECT_WAIT_MS, left),
                          s_min(t->client->opts.timeout_ms, left), t->arena, o);
    zmq_msg_close(&msg);
    return rc;
}

/* Ask Metadata (avoid last), then open the tail on each candidate in turn
 * (prefer first, avoid last) until one answers an Offsets request, again
 * with a short backoff until deadline. 0 or that node's error, with *o;
 * the tail stays open on that node. */
static int s_find(seglog_tail_t *t, const char *prefer, const char *avoid, int64_t deadline,
                  slc_response_t *o)
{
    char was[EP_MAX], tried[300] = "";
    snprintf(was, sizeof was, "%s", t->rpc.endpoint ? t->rpc.endpoint : "");
    int backoff = BACKOFF_MIN_MS;
    for (;;) {
        slc_response_t m;
        int rc = s_metadata(t, deadline, avoid, &m);
        if (rc)
            return rc;
        cand_t cand[MAX_CANDIDATES];
        int n = s_candidates(t, &m.cluster, cand);
        s_place(cand, n, prefer, 1);
        s_place(cand, n, avoid, 0);
        for (int i = 0; i < n && slc_now_ms() < deadline; i++) {
            int is_open = t->sub && t->rpc.endpoint && strcmp(t->rpc.endpoint, cand[i].ep) == 0 &&
                          strcmp(t->pub, cand[i].pub) == 0;
            rc = is_open ? 0 : slc_tail_open(t, cand[i].ep, cand[i].pub);
            if (rc == 0)
                rc = s_offsets_once(t, deadline, o);
            if (rc != SEGLOG_CLIENT_E_AGAIN && rc != SEGLOG_CLIENT_E_TIMEOUT &&
                rc != SEGLOG_CLIENT_E_INVAL) {
                if (*was && strcmp(was, cand[i].ep) != 0)
                    t->stats.failovers++;
                return rc; /* an answer (or EINTR) */
            }
            size_t len = strlen(tried);
            if (len + strlen(cand[i].ep) + 3 < sizeof tried)
                snprintf(tried + len, sizeof tried - len, "%s%s", len ? ", " : "", cand[i].ep);
        }
        int64_t left = deadline - slc_now_ms();
        if (left <= 0)
            break;
        slc_sleep_ms(s_min(backoff, left));
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_TIMEOUT,
                        "no live replica of topic '%s' answered within %d ms (tried: %s)", t->topic,
                        t->client->opts.timeout_ms * (1 + t->client->opts.retries),
                        *tried ? tried : "none");
}

int slc_tail_start(seglog_tail_t *t, slc_response_t *off)
{
    seglog_client_t *c = t->client;
    if (c->nboot > 1 && c->mode != -1) {
        t->failover = 1; /* set before any socket opens: one attempt per request */
        int rc = s_find(t, c->rpc.endpoint, NULL, slc_route_deadline(c), off);
        if (rc != SEGLOG_CLIENT_E_BAD_REQUEST || c->mode != -1)
            return rc;
        t->failover = 0; /* a standalone server: as with a single endpoint */
    }
    if (!c->pub_endpoint)
        return slc_rpc_fail(&t->rpc, SEGLOG_CLIENT_E_INVAL,
                            "a tail needs the server's PUB endpoint");
    int rc = slc_tail_open(t, c->rpc.endpoint, c->pub_endpoint);
    if (rc)
        return rc;
    slc_request_t req = {.kind = SLC_OFFSETS, .topic = t->topic};
    return slc_rpc_call(&t->rpc, &req, t->arena, off);
}

int slc_tail_move(seglog_tail_t *t, int stay)
{
    int64_t deadline = slc_route_deadline(t->client);
    slc_response_t o;
    char cur[EP_MAX];
    snprintf(cur, sizeof cur, "%s", t->rpc.endpoint ? t->rpc.endpoint : "");
    int rc = SEGLOG_CLIENT_E_TIMEOUT;
    if (stay && t->pending) /* is the topic there now, on other nodes than ours? */
        rc = s_find(t, *cur ? cur : NULL, NULL, deadline, &o);
    else if (stay && t->sub)
        rc = s_offsets_once(t, deadline, &o); /* silent: does it still answer? */
    if (rc == SEGLOG_CLIENT_E_AGAIN || rc == SEGLOG_CLIENT_E_TIMEOUT)
        rc = s_find(t, NULL, *cur ? cur : NULL, deadline, &o);
    if (rc == SEGLOG_CLIENT_E_UNKNOWN_TOPIC) {
        /* The node answered: it is alive, and the topic is not there (yet,
         * or deleted: a new incarnation shows as another epoch). Wait on
         * its stream, as a single endpoint does. */
        t->heard_ms = slc_now_ms();
        return 0;
    }
    if (rc)
        return rc;
    t->heard_ms = slc_now_ms();
    return slc_tail_adopt(t, &o);
}
