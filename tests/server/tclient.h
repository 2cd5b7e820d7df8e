/*
 * tclient.h - helpers for the server tests: a tiny request/reply client
 * over real ZeroMQ sockets (using the generated protobuf-c code directly,
 * independent of the server's codec), an in-process server on ephemeral
 * ports, and bounded waits.
 *
 * Every receive has a timeout; a helper that times out returns NULL or an
 * error so the test fails instead of hanging.
 */
#ifndef TCLIENT_H
#define TCLIENT_H

#include "seglog/server.h"
#include "seglog/v1/seglog.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define TC_TIMEOUT_MS 10000

typedef enum {
    TC_REQ = 0,          /* REQ socket */
    TC_DEALER = 1,       /* DEALER, request frame only */
    TC_DEALER_DELIM = 2, /* DEALER, empty delimiter then request (REQ-style) */
} tc_mode_t;

typedef struct tc tc_t;

/* A context shared by the test (zmq_ctx_new). */
void *tc_ctx(void);
void tc_ctx_term(void);

/* A bare socket of the shared context (linger 0), counted so that
 * tc_ctx_term knows whether every socket was closed. */
void *tc_raw_socket(int type);
void tc_raw_close(void **s_p);

tc_t *tc_new(const char *endpoint, tc_mode_t mode);
void tc_destroy(tc_t **c_p);
void *tc_socket(tc_t *c);

/* Send one request (frames per mode). 0 or -1. */
int tc_send(tc_t *c, const Seglog__V1__Request *req);
/* Send raw bytes as the request frame. */
int tc_send_raw(tc_t *c, const void *data, size_t len);

/* Receive one response; NULL on timeout or undecodable bytes. Free with
 * tc_free. */
Seglog__V1__Response *tc_recv(tc_t *c, int timeout_ms);
Seglog__V1__Response *tc_call(tc_t *c, const Seglog__V1__Request *req);
void tc_free(Seglog__V1__Response **r_p);

/* Request builders + call. values[i] is NUL-terminated. */
Seglog__V1__Response *tc_produce(tc_t *c, const char *topic, size_t n, const char *const *values);
Seglog__V1__Response *tc_produce_bytes(tc_t *c, const char *topic, const void *value, size_t len);
Seglog__V1__Response *tc_consume(tc_t *c, const char *topic, uint64_t offset, uint32_t max_records,
                                 uint32_t max_bytes);
Seglog__V1__Response *tc_offsets(tc_t *c, const char *topic);
Seglog__V1__Response *tc_truncate(tc_t *c, const char *topic, uint64_t lowest);

/* The ErrorCode of r, or 0 if r is not an error (-1 if r is NULL). */
int tc_error_code(const Seglog__V1__Response *r);

/* Pack req into a malloc'ed buffer (caller frees). */
uint8_t *tc_pack(const Seglog__V1__Request *req, size_t *len);

/* An in-process server on tcp://127.0.0.1:* with a fresh data dir. */
typedef struct ts {
    char *dir; /* owned; removed by ts_stop(..., 1) */
    seglog_server_config_t cfg;
    seglog_server_t *srv;
} ts_t;

/* Test defaults: 2 workers, sync none, heartbeat 100 ms. */
void ts_config(seglog_server_config_t *cfg);
/* Start with cfg (NULL: ts_config defaults) in a new temp dir. */
ts_t *ts_start(const seglog_server_config_t *cfg);
/* Start again on the same dir with the same config. 0 or error. */
int ts_restart(ts_t *t);
/* Stop and destroy the server; with remove, also the dir and t. */
void ts_stop(ts_t **t_p, int remove);

uint64_t tc_now_ms(void);

#endif
