/*
 * route.c - cluster mode in the client (seglog/client.h, "Cluster mode"):
 * the bootstrap list, Metadata, which node leads which topic, and the
 * produce that follows the leader.
 *
 * The client's own socket (c->rpc, "home") serves every synchronous call
 * but a cluster-mode produce: a single endpoint is never left; with a list,
 * home moves to the next node when its node does not answer. Produces in
 * cluster mode go through a small pool of sockets, one per node endpoint,
 * each with ZMQ_IMMEDIATE and replaced (linger 0) after an attempt that got
 * no reply, so the rule of rpc.h holds per connection: a request that got
 * no reply is never sent again on that socket, and never reaches a server
 * process started after it was queued.
 *
 * Thread rules: the client's; one thread at a time.
 */
#include "client_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_WAIT_MS 500 /* a node with no connection by then is taken as down */
#define BACKOFF_MIN_MS  50
#define BACKOFF_MAX_MS  500

void slc_sleep_ms(int ms)
{
    if (ms > 0)
        poll(NULL, 0, ms);
}

static int s_min(int64_t a, int64_t b)
{
    int64_t m = a < b ? a : b;
    return m > 0 ? (int)m : 0;
}

int64_t slc_route_deadline(const seglog_client_t *c)
{
    return slc_now_ms() + (int64_t)c->opts.timeout_ms * (1 + c->opts.retries);
}

int slc_route_parse(seglog_client_t *c, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (!n || c->nboot == SLC_MAX_BOOT)
            return SEGLOG_CLIENT_E_INVAL;
        c->boot[c->nboot] = strndup(p, n);
        if (!c->boot[c->nboot])
            return SEGLOG_CLIENT_E_NOMEM;
        c->nboot++;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static void s_free_nodes(seglog_client_t *c)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        free(c->nodes[i].endpoint);
        free(c->nodes[i].pub_endpoint);
    }
    free(c->nodes);
    c->nodes = NULL;
    c->nnodes = 0;
}

void slc_route_fini(seglog_client_t *c)
{
    for (int i = 0; i < c->npool; i++)
        slc_rpc_fini(&c->pool[i]);
    c->npool = 0;
    for (int i = 0; i < c->nboot; i++)
        free(c->boot[i]);
    c->nboot = 0;
    s_free_nodes(c);
    for (size_t i = 0; i < c->nroutes; i++) {
        free(c->routes[i].topic);
        free(c->routes[i].endpoint);
    }
    free(c->routes);
    c->routes = NULL;
    c->nroutes = c->routes_cap = 0;
}

slc_route_t *slc_route_find(seglog_client_t *c, const char *topic)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (strcmp(c->routes[i].topic, topic) == 0)
            return &c->routes[i];
    return NULL;
}

void slc_route_set(seglog_client_t *c, const char *topic, const char *endpoint)
{
    slc_route_t *r = slc_route_find(c, topic);
    char *ep = endpoint && *endpoint ? strdup(endpoint) : NULL;
    if (!r) {
        if (c->nroutes == c->routes_cap) {
            size_t cap = c->routes_cap ? 2 * c->routes_cap : 16;
            slc_route_t *v = realloc(c->routes, cap * sizeof *v);
            if (!v) {
                free(ep);
                return; /* out of memory: the topic stays unrouted (asked again) */
            }
            c->routes = v;
            c->routes_cap = cap;
        }
        char *t = strdup(topic);
        if (!t) {
            free(ep);
            return;
        }
        r = &c->routes[c->nroutes++];
        r->topic = t;
        r->endpoint = NULL;
    }
    free(r->endpoint);
    r->endpoint = ep;
}

void slc_route_forget_endpoint(seglog_client_t *c, const char *endpoint)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (c->routes[i].endpoint && strcmp(c->routes[i].endpoint, endpoint) == 0) {
            free(c->routes[i].endpoint);
            c->routes[i].endpoint = NULL;
        }
}

const slc_curve_t *slc_route_curve(const seglog_client_t *c, const char *endpoint,
                                   slc_curve_t *buf)
{
    if (!c->curve.server[0])
        return NULL;
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].curve_key[0] && c->nodes[i].endpoint &&
            strcmp(c->nodes[i].endpoint, endpoint) == 0) {
            *buf = c->curve;
            memcpy(buf->server, c->nodes[i].curve_key, 41);
            return buf;
        }
    return &c->curve;
}

int slc_route_key_known(const seglog_client_t *c, const char *endpoint)
{
    slc_curve_t buf;
    const slc_curve_t *k = slc_route_curve(c, endpoint, &buf);
    return k != &c->curve;
}

/* The pool's socket to endpoint, opened on first use (the oldest is
 * closed when the pool is full). NULL when ZeroMQ refuses the endpoint. */
static slc_rpc_t *s_conn(seglog_client_t *c, const char *endpoint)
{
    slc_curve_t keys;
    const slc_curve_t *want = slc_route_curve(c, endpoint, &keys);
    for (int i = 0; i < c->npool; i++)
        if (c->pool[i].endpoint && strcmp(c->pool[i].endpoint, endpoint) == 0) {
            if (!want || strcmp(c->pool[i].curve.server, want->server) == 0)
                return &c->pool[i];
            slc_rpc_fini(&c->pool[i]); /* opened before Metadata gave the node's key */
        }
    int i = -1;
    for (int k = 0; k < c->npool && i < 0; k++)
        if (!c->pool[k].endpoint)
            i = k; /* a slot whose open failed */
    if (i < 0 && c->npool < SLC_POOL)
        i = c->npool++;
    if (i < 0) {
        i = c->pool_evict++ % SLC_POOL;
        slc_rpc_fini(&c->pool[i]);
    }
    if (slc_rpc_init(&c->pool[i], c->ctx, want, endpoint, c->opts.timeout_ms, 0, 1000) != 0) {
        snprintf(c->rpc.errmsg, sizeof c->rpc.errmsg, "%s", c->pool[i].errmsg);
        return NULL; /* the slot's endpoint is NULL: free for the next open */
    }
    return &c->pool[i];
}

/* A live node for a topic nobody leads yet (it does not exist: the first
 * produce creates it and the node redirects), taking turns; home when no
 * node is known. */
static const char *s_any_node(seglog_client_t *c, unsigned turn)
{
    size_t alive = 0;
    for (size_t i = 0; i < c->nnodes; i++)
        alive += c->nodes[i].alive && *c->nodes[i].endpoint;
    if (!alive)
        return c->rpc.endpoint;
    size_t k = turn % alive;
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].alive && *c->nodes[i].endpoint && k-- == 0)
            return c->nodes[i].endpoint;
    return c->rpc.endpoint;
}

/* Store a Metadata answer: the nodes, and a route per topic. */
void slc_route_learn(seglog_client_t *c, const seglog_cluster_info_t *ci)
{
    s_free_nodes(c);
    c->nodes = calloc(ci->nnodes ? ci->nnodes : 1, sizeof *c->nodes);
    if (c->nodes) {
        for (size_t i = 0; i < ci->nnodes; i++) {
            c->nodes[i].id = ci->nodes[i].id;
            c->nodes[i].endpoint = strdup(ci->nodes[i].endpoint);
            c->nodes[i].pub_endpoint = strdup(ci->nodes[i].pub_endpoint);
            c->nodes[i].alive = ci->nodes[i].alive;
            if (ci->nodes[i].curve_public_key && strlen(ci->nodes[i].curve_public_key) == 40)
                memcpy(c->nodes[i].curve_key, ci->nodes[i].curve_public_key, 41);
            c->nnodes = i + 1;
        }
    }
    for (size_t i = 0; i < ci->ntopics; i++) {
        const seglog_topic_meta_t *t = &ci->topics[i];
        const char *ep = NULL;
        for (size_t k = 0; t->leader >= 0 && k < ci->nnodes; k++)
            if (ci->nodes[k].id == t->leader && ci->nodes[k].alive)
                ep = ci->nodes[k].endpoint;
        slc_route_set(c, t->name, ep);
    }
    c->mode = 1;
}

/* The endpoints to ask Metadata: live nodes, then the bootstrap list,
 * without duplicates, avoid last. Returns the count; the strings are
 * borrowed from c. */
static int s_candidates(seglog_client_t *c, const char *avoid, const char **out, int cap)
{
    int n = 0, avoided = 0;
    for (size_t i = 0; i <= c->nnodes + (size_t)c->nboot && n < cap; i++) {
        const char *ep;
        if (i < c->nnodes)
            ep = c->nodes[i].alive ? c->nodes[i].endpoint : NULL;
        else if (i < c->nnodes + (size_t)c->nboot)
            ep = c->boot[i - c->nnodes];
        else
            ep = avoided ? avoid : NULL;
        if (!ep || !*ep)
            continue;
        if (avoid && i < c->nnodes + (size_t)c->nboot && strcmp(ep, avoid) == 0) {
            avoided = 1;
            continue;
        }
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = strcmp(out[k], ep) == 0;
        if (!dup)
            out[n++] = ep;
    }
    return n;
}

int slc_route_refresh(seglog_client_t *c, int64_t deadline, const char *avoid,
                      slc_response_t *resp)
{
    return slc_route_refresh_in(c, deadline, avoid, c->arena, resp);
}

int slc_route_refresh_in(seglog_client_t *c, int64_t deadline, const char *avoid,
                         slc_arena_t *arena, slc_response_t *resp)
{
    const char *cand[SLC_MAX_BOOT + 64];
    int n = s_candidates(c, avoid, cand, (int)(sizeof cand / sizeof cand[0]));
    slc_response_t local;
    if (!resp)
        resp = &local;
    char tried[256] = "";
    int rc = SEGLOG_CLIENT_E_TIMEOUT;
    for (int i = 0; i < n; i++) {
        int64_t left = deadline - slc_now_ms();
        if (left <= 0)
            break;
        char ep[256];
        snprintf(ep, sizeof ep, "%s", cand[i]); /* s_store may free the candidate strings */
        slc_rpc_t *conn = s_conn(c, ep);
        if (!conn)
            continue;
        slc_request_t req = {.kind = SLC_METADATA, .id = ++c->route_id};
        zmq_msg_t msg;
        slc_arena_reset(arena);
        if (slc_codec_encode(&req, arena, &msg) != 0)
            return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_NOMEM, "out of memory");
        rc = slc_rpc_once(conn, &msg, req.id, SLC_METADATA, s_min(CONNECT_WAIT_MS, left),
                          s_min(c->opts.timeout_ms, left), arena, resp);
        zmq_msg_close(&msg);
        if (rc == 0) {
            slc_route_learn(c, &resp->cluster);
            return 0;
        }
        if (rc == SEGLOG_CLIENT_E_BAD_REQUEST) {
            if (c->mode == 0)
                c->mode = -1; /* a standalone server */
            snprintf(c->rpc.errmsg, sizeof c->rpc.errmsg, "%s", conn->errmsg);
            return rc;
        }
        size_t len = strlen(tried);
        if (len + strlen(ep) + 3 < sizeof tried)
            snprintf(tried + len, sizeof tried - len, "%s%.200s", len ? ", " : "", ep);
    }
    return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_TIMEOUT,
                        "no cluster node answered a Metadata request (tried: %s)",
                        *tried ? tried : "none within the time left");
}

/* Move the home socket to the node after the current one (bootstrap
 * list, then live nodes that are not in it). */
static int s_move_home(seglog_client_t *c)
{
    const char *cand[SLC_MAX_BOOT + 64];
    int n = 0;
    for (int i = 0; i < c->nboot; i++)
        cand[n++] = c->boot[i];
    for (size_t i = 0; i < c->nnodes && n < (int)(sizeof cand / sizeof cand[0]); i++) {
        int dup = !c->nodes[i].alive || !*c->nodes[i].endpoint;
        for (int k = 0; k < n && !dup; k++)
            dup = strcmp(cand[k], c->nodes[i].endpoint) == 0;
        if (!dup)
            cand[n++] = c->nodes[i].endpoint;
    }
    int cur = -1;
    for (int i = 0; i < n && cur < 0; i++)
        if (strcmp(cand[i], c->rpc.endpoint) == 0)
            cur = i;
    char next[256];
    snprintf(next, sizeof next, "%s", cand[(cur + 1) % n]);
    unsigned gen = c->rpc.generation;
    char msg[sizeof c->rpc.errmsg];
    snprintf(msg, sizeof msg, "%s", c->rpc.errmsg);
    slc_rpc_fini(&c->rpc);
    slc_curve_t keys;
    int rc = slc_rpc_init(&c->rpc, c->ctx, slc_route_curve(c, next, &keys), next,
                          c->opts.timeout_ms, c->opts.retries, 1000);
    c->rpc.generation = gen + 1; /* another server: ask its limits again */
    if (rc == 0)
        snprintf(c->rpc.errmsg, sizeof c->rpc.errmsg, "%s", msg);
    return rc;
}

int slc_client_call(seglog_client_t *c, slc_request_t *req, slc_response_t *resp)
{
    if (c->nboot <= 1)
        return slc_rpc_call(&c->rpc, req, c->arena, resp);
    /* A list: one attempt per node, the next node after a timeout. */
    int64_t deadline = slc_route_deadline(c);
    for (;;) {
        c->rpc.retries = 0;
        int rc = slc_rpc_call(&c->rpc, req, c->arena, resp);
        c->rpc.retries = c->opts.retries;
        if (rc != SEGLOG_CLIENT_E_TIMEOUT || slc_now_ms() >= deadline)
            return rc;
        rc = s_move_home(c);
        if (rc)
            return rc;
    }
}

static int s_done(seglog_client_t *c, zmq_msg_t *msg, int rc, const slc_rpc_t *conn)
{
    zmq_msg_close(msg);
    if (rc && conn)
        snprintf(c->rpc.errmsg, sizeof c->rpc.errmsg, "%s", conn->errmsg);
    else if (!rc)
        c->rpc.errmsg[0] = '\0';
    return rc;
}

int slc_route_produce(seglog_client_t *c, slc_request_t *req, slc_response_t *resp,
                      int64_t deadline)
{
    req->id = ++c->route_id;
    zmq_msg_t msg;
    int rc = slc_codec_encode(req, c->arena, &msg);
    if (rc)
        return slc_rpc_fail(&c->rpc, rc, "cannot encode the request: out of memory");
    rc = slc_limits_check_size(c, &c->rpc, zmq_msg_size(&msg));
    if (rc) {
        zmq_msg_close(&msg);
        return rc;
    }
    int backoff = BACKOFF_MIN_MS, refreshed = 0;
    unsigned turn = 0;
    char why[300] = "no leader known";
    for (;;) {
        int64_t left = deadline - slc_now_ms();
        if (left <= 0)
            break;
        slc_route_t *r = slc_route_find(c, slc_route_topic(req));
        if ((!r || !r->endpoint) && !refreshed) {
            refreshed = 1;
            if (slc_route_refresh(c, deadline, NULL, NULL) == 0)
                continue;
        }
        char ep[256];
        if (r && r->endpoint)
            snprintf(ep, sizeof ep, "%s", r->endpoint);
        else if (!r)
            snprintf(ep, sizeof ep, "%s", s_any_node(c, turn++)); /* a new topic */
        else {
            snprintf(why, sizeof why, "topic '%s' has no leader (offline, or electing one)",
                     slc_route_topic(req));
            slc_sleep_ms(s_min(backoff, left));
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            refreshed = 0;
            continue;
        }
        slc_rpc_t *conn = s_conn(c, ep);
        if (!conn)
            return s_done(c, &msg, SEGLOG_CLIENT_E_INVAL, NULL);
        rc = slc_rpc_once(conn, &msg, req->id, req->kind, s_min(CONNECT_WAIT_MS, left),
                          s_min(c->opts.timeout_ms, left), c->arena, resp);
        if (rc == 0)
            return s_done(c, &msg, 0, NULL);
        if (rc == SEGLOG_CLIENT_E_NOT_LEADER) {
            const char *hint = resp->leader_endpoint;
            snprintf(why, sizeof why, "%.120s answered NOT_LEADER: %.150s", ep, resp->message);
            if (hint && *hint && strcmp(hint, ep) != 0) {
                slc_route_set(c, slc_route_topic(req), hint);
                if (!slc_route_key_known(c, hint))
                    slc_route_refresh(c, deadline, NULL, NULL); /* its CURVE key */
                continue;
            }
            slc_route_set(c, slc_route_topic(req), NULL);
        } else if (rc == SEGLOG_CLIENT_E_AGAIN || rc == SEGLOG_CLIENT_E_TIMEOUT) {
            snprintf(why, sizeof why, "%.290s", conn->errmsg);
            slc_route_forget_endpoint(c, ep);
            if (slc_route_refresh(c, deadline, ep, NULL) == 0) {
                slc_route_t *n = slc_route_find(c, slc_route_topic(req));
                if (!n || !n->endpoint || strcmp(n->endpoint, ep) != 0)
                    continue; /* somewhere else to go at once */
            }
        } else {
            return s_done(c, &msg, rc, conn);
        }
        /* Nowhere better yet: wait a little, then ask again. */
        slc_sleep_ms(s_min(backoff, deadline - slc_now_ms()));
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        refreshed = 0;
    }
    zmq_msg_close(&msg);
    return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_TIMEOUT,
                        "produce to '%s' not acknowledged within %d ms (timeout %d ms x %d "
                        "attempts): %s",
                        slc_route_topic(req), c->opts.timeout_ms * (1 + c->opts.retries),
                        c->opts.timeout_ms, 1 + c->opts.retries, why);
}
