/*
 * http.c - the HTTP listener (http.h): the libmicrohttpd daemon, request
 * bodies, routing, and the routes that are not the gateway's: /metrics,
 * /healthz, /readyz and the status page. See http_impl.h.
 */
#include "http_impl.h"

#include "cmode.h"
#include "metrics_render.h"
#include "slog.h"
#include "status_html.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

static uint64_t s_now_ms(void)
{
    return sl_metrics_now_ns() / 1000000u;
}

/* ---- responses ------------------------------------------------------------ */

enum MHD_Result sl_http_queue(sl_http_t *h, struct MHD_Connection *c, unsigned status,
                              struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    unsigned cls = status / 100;
    atomic_fetch_add_explicit(&h->s->metrics.http_requests[cls >= 1 && cls <= 5 ? cls : 0], 1,
                              memory_order_relaxed);
    return rc;
}

static enum MHD_Result s_body(sl_http_t *h, struct MHD_Connection *c, unsigned status,
                              const char *type, const void *data, size_t len, int copy)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        if (!copy)
            free((void *)data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    return sl_http_queue(h, c, status, resp);
}

enum MHD_Result sl_http_json(sl_http_t *h, struct MHD_Connection *c, unsigned status, cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        static const char oom[] = "{\"error\":\"INTERNAL\",\"code\":9,\"message\":\"out of memory\"}";
        return s_body(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", oom,
                      sizeof oom - 1, 1);
    }
    /* cJSON allocates with malloc (the default hooks): MUST_FREE frees it. */
    return s_body(h, c, status, "application/json", text, strlen(text), 0);
}

enum MHD_Result sl_http_error(sl_http_t *h, struct MHD_Connection *c, unsigned status,
                              const char *name, int code, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    if (j) {
        cJSON_AddStringToObject(j, "error", name);
        cJSON_AddNumberToObject(j, "code", code);
        cJSON_AddStringToObject(j, "message", msg);
    }
    return sl_http_json(h, c, status, j);
}

unsigned sl_http_status_for(int code)
{
    switch (code) {
    case SL_WIRE_BAD_REQUEST:
    case SL_WIRE_INVALID_TOPIC: return MHD_HTTP_BAD_REQUEST;
    case SL_WIRE_OFFSET_OUT_OF_RANGE:
    case SL_WIRE_OFFSET_TRUNCATED: return MHD_HTTP_RANGE_NOT_SATISFIABLE;
    case SL_WIRE_RECORD_TOO_LARGE:
    case SL_WIRE_BATCH_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
    case SL_WIRE_UNKNOWN_TOPIC: return MHD_HTTP_NOT_FOUND;
    case SL_WIRE_RESOURCE_EXHAUSTED: return MHD_HTTP_TOO_MANY_REQUESTS;
    case SL_WIRE_STORAGE:
    case SL_WIRE_NOT_ENOUGH_REPLICAS: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case SL_WIRE_NOT_LEADER:
    case SL_WIRE_OUT_OF_ORDER_SEQUENCE: return MHD_HTTP_CONFLICT;
    case SL_WIRE_UNKNOWN_GROUP: return MHD_HTTP_NOT_FOUND;
    case 20: return MHD_HTTP_UNAUTHORIZED;
    case 21: return MHD_HTTP_FORBIDDEN;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

enum MHD_Result sl_http_wire_error(sl_http_t *h, struct MHD_Connection *c,
                                   const Seglog__V1__Error *e)
{
    int code = (int)e->code;
    const char *name = sl_metrics_code_name(code);
    cJSON *j = cJSON_CreateObject();
    if (j) {
        cJSON_AddStringToObject(j, "error", name ? name : "INTERNAL");
        cJSON_AddNumberToObject(j, "code", code);
        cJSON_AddStringToObject(j, "message", e->message ? e->message : "");
        if (code == SL_WIRE_NOT_LEADER)
            cJSON_AddStringToObject(j, "leader_endpoint",
                                    e->leader_endpoint ? e->leader_endpoint : "");
    }
    return sl_http_json(h, c, sl_http_status_for(code), j);
}

/* ---- routes ----------------------------------------------------------------- */

static enum MHD_Result s_metrics(sl_http_t *h, struct MHD_Connection *c)
{
    sl_buf_t b = {0};
    if (sl_metrics_render(h->s, &b) != 0) {
        sl_buf_free(&b);
        return sl_http_error(h, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL", SL_WIRE_INTERNAL,
                             "out of memory");
    }
    enum MHD_Result rc = s_body(h, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                b.data, b.len, 0); /* takes b.data */
    return rc;
}

/* Serving: an Info request makes the round trip through the front end.
 * Any reply counts (with CURVE on, the gateway's requests carry no
 * identity and are refused: still a reply). */
static enum MHD_Result s_healthz(sl_http_t *h, struct MHD_Connection *c)
{
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__InfoRequest info = SEGLOG__V1__INFO_REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_INFO;
    req.info = &info;
    Seglog__V1__Response *resp = NULL;
    int ok = sl_gw_call(h, &req, 2000, &resp) == 0;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", ok ? "ok" : "unavailable");
    if (ok) {
        cJSON_AddStringToObject(j, "version", h->s->info.version);
        cJSON_AddStringToObject(j, "sync", h->s->info.sync);
    } else {
        cJSON_AddStringToObject(j, "message",
                                atomic_load(&h->stopping)
                                    ? "the server is stopping"
                                    : "the request path did not answer an Info request in 2 s");
    }
    cJSON_AddNumberToObject(j, "uptime_seconds", (double)(s_now_ms() - h->started_ms) / 1000.0);
    if (resp)
        seglog__v1__response__free_unpacked(resp, NULL);
    return sl_http_json(h, c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j);
}

/* Ready: the logs are recovered (seglog_server_new opened every topic
 * before the listener started) and, in cluster mode, this node is
 * registered and knows every topic's state (leader, ISR). */
static enum MHD_Result s_readyz(sl_http_t *h, struct MHD_Connection *c)
{
    seglog_server_t *s = h->s;
    int ready = !atomic_load(&h->stopping);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "recovered", 1);
    cJSON_AddNumberToObject(j, "topics", (double)sl_topics_count(s->topics));
    cJSON_AddBoolToObject(j, "cluster", s->repl != NULL);
    const char *why = ready ? NULL : "the server is stopping";
    if (s->repl) {
        sl_cmode_health_t hc;
        sl_cmode_health(s->repl, &hc);
        cJSON_AddNumberToObject(j, "node_id", s->cfg.node_id);
        cJSON_AddBoolToObject(j, "registered", hc.registered);
        cJSON_AddBoolToObject(j, "zookeeper_session", hc.session_ok);
        cJSON_AddBoolToObject(j, "topics_known", hc.ready);
        if (ready && !hc.registered)
            why = "not registered in ZooKeeper";
        else if (ready && !hc.ready)
            why = "the state of some topics (leader, ISR) is not known yet";
        ready = ready && hc.ready && hc.registered;
    }
    cJSON_AddStringToObject(j, "status", ready ? "ready" : "not_ready");
    if (why)
        cJSON_AddStringToObject(j, "message", why);
    return sl_http_json(h, c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j);
}

static enum MHD_Result s_route(sl_http_t *h, struct MHD_Connection *c, const char *url,
                               const char *method, http_req_t *r)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strncmp(url, "/v1/topics", 10) == 0 && (url[10] == 0 || url[10] == '/'))
        return sl_gw_topics(h, c, method, url + 10, r);
    const char *known[] = {"/", "/metrics", "/healthz", "/readyz", "/v1/status"};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(url, known[i]) == 0)
            k = i;
    if (k < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "no route for %.200s (docs/HTTP.md lists them)", url);
        return sl_http_error(h, c, MHD_HTTP_NOT_FOUND, "NOT_FOUND", 0, msg);
    }
    if (!get)
        return sl_http_error(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 0,
                             "this route takes GET only");
    switch (k) {
    case 0:
        return s_body(h, c, MHD_HTTP_OK, "text/html; charset=utf-8", sl_status_html,
                      sizeof sl_status_html - 1, 1);
    case 1: return s_metrics(h, c);
    case 2: return s_healthz(h, c);
    case 3: return s_readyz(h, c);
    default: return sl_status_json(h, c);
    }
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------- */

static enum MHD_Result s_access(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    sl_http_t *h = cls;
    http_req_t *r = *con_cls;
    if (!r) { /* headers are in; the body (if any) follows */
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > h->max_body)
            r->too_big = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        r->body_len += *upload_size;
        if (!r->too_big && r->body_len > h->max_body)
            r->too_big = 1;
        if (!r->too_big) {
            if (sl_buf_reserve(&r->body, *upload_size + 1))
                return MHD_NO;
            memcpy(r->body.data + r->body.len, upload, *upload_size);
            r->body.len += *upload_size;
            r->body.data[r->body.len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big) {
        char msg[200];
        snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes", h->max_body);
        return sl_http_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "BAD_REQUEST", SL_WIRE_BAD_REQUEST,
                             msg);
    }
    if (atomic_load(&h->stopping))
        return sl_http_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", 0,
                             "the server is stopping");
    return s_route(h, c, url, method, r);
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    http_req_t *r = *con_cls;
    if (r) {
        sl_buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

static void s_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                         enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    (void)socket_ctx;
    sl_http_t *h = cls;
    atomic_fetch_add_explicit(&h->s->metrics.http_connections,
                              toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1, memory_order_relaxed);
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    sl_log(SL_LOG_WARN, "http: %s", line);
}

/* ---- lifecycle ---------------------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" into an address; *loopback says whether it
 * is 127.0.0.0/8 or ::1. */
static int s_parse(const char *ep, struct sockaddr_storage *ss, socklen_t *len, int *loopback)
{
    char host[256];
    const char *colon = strrchr(ep, ':');
    if (!colon || colon == ep || strlen(ep) >= sizeof host)
        return -1;
    size_t hn = (size_t)(colon - ep);
    memcpy(host, ep, hn);
    host[hn] = 0;
    if (host[0] == '[' && hn > 2 && host[hn - 1] == ']') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = 0;
    }
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port > 65535)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
        return -1;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    } else {
        return -1;
    }
    return 0;
}

int sl_http_new(seglog_server_t *s, sl_http_t **out)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int loopback = 0;
    const char *ep = s->cfg.http;
    if (s_parse(ep, &ss, &len, &loopback) != 0) {
        sl_log(SL_LOG_ERROR, "http: cannot parse endpoint \"%s\": expected HOST:PORT", ep);
        return SEGLOG_E_INVAL;
    }
    if (!loopback && s->cfg.curve_cert) {
        sl_log(SL_LOG_ERROR,
               "http: refusing to serve HTTP on non-loopback address %s: with --curve-cert the "
               "HTTP listener binds loopback only, it has no authentication (docs/HTTP.md, "
               "Security)",
               ep);
        return SEGLOG_E_INVAL;
    }
    if (!loopback && !s->cfg.allow_plaintext) {
        sl_log(SL_LOG_ERROR,
               "http: refusing to serve plaintext HTTP on non-loopback address %s: use "
               "127.0.0.1 (or ::1), or --allow-plaintext (docs/HTTP.md, Security)",
               ep);
        return SEGLOG_E_INVAL;
    }
    sl_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return SEGLOG_E_NOMEM;
    h->s = s;
    h->started_ms = s_now_ms();
    /* Base64 and JSON quoting make a body up to ~1.4x its records: room for
     * a request the wire would take, and the server's limits decide. */
    h->max_body = 2 * (size_t)seglog_server_max_message_bytes(&s->cfg);
    pthread_mutex_init(&h->mu, NULL);
    snprintf(h->inproc, sizeof h->inproc, "inproc://seglog-%p-http", (void *)s);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, s_access, h,
                            MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, h, /* first: see its docs */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT,
                            MHD_OPTION_NOTIFY_COMPLETED, s_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, s_connection, h,
                            MHD_OPTION_END);
    if (!h->d) {
        sl_log(SL_LOG_ERROR, "http: cannot listen on %s (address in use or not local?)", ep);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return SEGLOG_E_INVAL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    snprintf(h->endpoint, sizeof h->endpoint, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
             port);
    sl_log(SL_LOG_INFO, "http listening on %s", h->endpoint);
    *out = h;
    return 0;
}

const char *sl_http_endpoint(const sl_http_t *h)
{
    return h->endpoint;
}

void sl_http_stop(sl_http_t *h)
{
    if (!h || !h->d)
        return;
    atomic_store(&h->stopping, 1); /* streams and waiting calls end within ~100 ms */
    MHD_stop_daemon(h->d);         /* joins every connection thread */
    h->d = NULL;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->npool; i++)
        zmq_close(h->pool[i]);
    h->npool = 0;
    free(h->pool);
    h->pool = NULL;
    pthread_mutex_unlock(&h->mu);
}

void sl_http_destroy(sl_http_t **h_p)
{
    if (!h_p || !*h_p)
        return;
    sl_http_t *h = *h_p;
    *h_p = NULL;
    sl_http_stop(h);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
