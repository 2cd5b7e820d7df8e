/*
 * http_impl.h - what the HTTP listener's files share: http.c (the
 * libmicrohttpd daemon, routing, /metrics, /healthz, /readyz, the status
 * page), gateway.c (the /v1 JSON routes and the request path into the
 * front end), sse.c (the record stream) and status.c (GET /v1/status).
 *
 * The request path (docs/HTTP.md, "Design"): the front end's ROUTER also
 * binds inproc://seglog-<server>-http. A gateway call takes a DEALER from a
 * pool (created on demand, connected to that endpoint), sends the same
 * protobuf Request a ZeroMQ client would, and waits for the Response with
 * the matching id. So an HTTP request passes every check, limit, error code
 * and cluster rule of a ZeroMQ one: the front end and the workers cannot
 * tell them apart. A socket moves between connection threads only through
 * the pool's mutex (a full barrier, which libzmq requires to migrate a
 * socket between threads).
 *
 * gateway.c is a client of the wire protocol, like src/cluster/repl_*.c,
 * so it uses the generated Seglog__V1__* types directly.
 *
 * Threads: libmicrohttpd runs a thread per connection; every function here
 * runs on one of those threads, except sl_http_new/stop/destroy (the
 * server's controlling thread).
 */
#ifndef SL_HTTP_IMPL_H
#define SL_HTTP_IMPL_H

#include "http.h"
#include "mem.h"
#include "server_impl.h"

#include "seglog/v1/seglog.pb-c.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#define HTTP_CONN_LIMIT    1024 /* connections libmicrohttpd accepts at once */
#define HTTP_IDLE_TIMEOUT  10   /* s: a connection without progress is closed */
#define HTTP_POOL_KEEP     64   /* idle DEALERs kept for reuse */
#define HTTP_CALL_MS       30000 /* a gateway call's limit (acks=all may wait long) */
#define HTTP_MAX_STREAMS   64   /* concurrent /stream clients */

struct sl_http {
    seglog_server_t *s;
    struct MHD_Daemon *d;
    char endpoint[128];
    char inproc[96];
    _Atomic int stopping;
    uint64_t started_ms;
    size_t max_body; /* request bodies above this: 413 */
    pthread_mutex_t mu;
    void **pool; /* idle DEALERs, under mu */
    int npool;
    _Atomic uint64_t next_id;
};

/* One HTTP request's state (MHD's *con_cls), freed when it completes. */
typedef struct http_req {
    sl_buf_t body;
    int too_big;
    size_t body_len; /* bytes received, kept counting past the limit */
} http_req_t;

/* ---- responses (http.c) ------------------------------------------------- */

/* Queue j (freed here) as the JSON body of a response with status. */
enum MHD_Result sl_http_json(sl_http_t *h, struct MHD_Connection *c, unsigned status, cJSON *j);
/* {"error": name, "code": wire code or 0, "message": msg} with status. */
enum MHD_Result sl_http_error(sl_http_t *h, struct MHD_Connection *c, unsigned status,
                              const char *name, int code, const char *msg);
/* The HTTP status and JSON of a wire Error. */
enum MHD_Result sl_http_wire_error(sl_http_t *h, struct MHD_Connection *c,
                                   const Seglog__V1__Error *e);
/* Queue resp with status, counting it; destroys resp. */
enum MHD_Result sl_http_queue(sl_http_t *h, struct MHD_Connection *c, unsigned status,
                              struct MHD_Response *resp);
unsigned sl_http_status_for(int wire_code);

/* ---- the request path (gateway.c) --------------------------------------- */

/* Send req (its id is set here) and wait up to timeout_ms for the reply:
 * 0 and *resp (free with seglog__v1__response__free_unpacked(*resp, NULL)),
 * or -1 if no reply came (server stopping, or the timeout). */
int sl_gw_call(sl_http_t *h, Seglog__V1__Request *req, int timeout_ms,
               Seglog__V1__Response **resp);

/* The /v1/topics... routes; path starts after "/v1/topics". */
enum MHD_Result sl_gw_topics(sl_http_t *h, struct MHD_Connection *c, const char *method,
                             const char *path, http_req_t *r);

/* Base64 (RFC 4648, standard alphabet). decode: padding optional, no
 * whitespace; returns the length or -1. encode: NUL-terminated into out,
 * which has room for 4 * ((n + 2) / 3) + 1 bytes. */
long sl_b64_decode(const char *in, size_t n, uint8_t *out);
void sl_b64_encode(const uint8_t *in, size_t n, char *out);
/* A record's key and value as JSON fields of o: as strings if both are
 * UTF-8 without NUL bytes and base64 is 0, else base64 with
 * "value_encoding":"base64" (which covers the key too). */
int sl_gw_record_json(cJSON *o, const Seglog__V1__Record *r, int base64);

/* ---- the stream (sse.c) ------------------------------------------------- */

enum MHD_Result sl_sse_start(sl_http_t *h, struct MHD_Connection *c, const char *topic);

/* ---- GET /v1/status (status.c) ------------------------------------------ */

enum MHD_Result sl_status_json(sl_http_t *h, struct MHD_Connection *c);

#endif
