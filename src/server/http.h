/*
 * http.h - seglogd's HTTP listener (docs/HTTP.md): GET /metrics (Prometheus),
 * /healthz, /readyz, the JSON gateway under /v1 and the status page at /.
 * Built on libmicrohttpd, a thread per connection.
 *
 * Lifecycle: sl_http_new() once the front end runs (the gateway's requests
 * go through it); sl_http_stop() before the front end stops: it stops
 * accepting, ends every stream and waits for every connection thread, then
 * closes the gateway's sockets (so that zmq_ctx_term does not wait).
 * Ownership: the server owns the listener. Thread rules: new, stop and
 * destroy from the server's controlling thread.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include "seglog/server.h"

typedef struct sl_http sl_http_t;

/* Bind s->cfg.http and start serving. Refuses a host that is not a
 * loopback address unless s->cfg.allow_plaintext (SEGLOG_E_INVAL, logged). */
int sl_http_new(seglog_server_t *s, sl_http_t **out);

/* "HOST:PORT" actually bound. */
const char *sl_http_endpoint(const sl_http_t *h);

/* Stop serving and close every socket. Idempotent. */
void sl_http_stop(sl_http_t *h);

void sl_http_destroy(sl_http_t **h_p);

#endif
