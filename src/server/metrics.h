/*
 * metrics.h - the server's Prometheus metrics: lock-free counters and
 * fixed-bucket histograms that any thread updates, and the text
 * exposition (https://prometheus.io/docs/instrumenting/exposition_formats/)
 * that GET /metrics serves (metrics_render.c).
 *
 * Every counter is a relaxed atomic: an update is one atomic add, no lock,
 * no allocation. A scrape reads each value once; values read together are
 * not a snapshot of one instant (a histogram's _count may trail its
 * buckets by an observation in flight), which Prometheus tolerates.
 *
 * Histograms have fixed bucket bounds in the base unit's fixed point:
 * nanoseconds for the *_seconds histograms (rendered as seconds), plain
 * numbers for the *_records ones. Each observation adds to one bucket (not
 * cumulative; the render sums them) and to the sum.
 *
 * Ownership: the server owns one sl_metrics_t (zeroed, then
 * sl_metrics_init). Thread rules: every function is safe from any thread.
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include "mem.h"
#include "seglog/log.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SL_HIST_MAX_BOUNDS 24

typedef struct sl_hist {
    const uint64_t *bounds; /* upper bounds (inclusive), increasing */
    int nbounds;            /* <= SL_HIST_MAX_BOUNDS; one more bucket is +Inf */
    double scale;           /* a bound or the sum / scale is the rendered value */
    _Atomic uint64_t counts[SL_HIST_MAX_BOUNDS + 1];
    _Atomic uint64_t sum;
} sl_hist_t;

/* Request types as labelled in seglog_requests_total{type=...}: index 0 is
 * a request that could not be decoded; 1.. follow sl_req_type_t (a type
 * without a name in metrics.c is not exported: add it there). */
#define SL_M_TYPES 16
/* Result codes: 0 ok, else the wire ErrorCode (codec.h), < SL_M_CODES. */
#define SL_M_CODES 32
#define SL_M_MAX_WORKERS 256

typedef struct sl_metrics {
    _Atomic uint64_t requests[SL_M_TYPES][SL_M_CODES];
    sl_hist_t produce_latency; /* request read -> reply sent, seconds */
    sl_hist_t consume_latency;
    sl_hist_t fsync;          /* fdatasync and directory fsync, seconds */
    sl_hist_t commit_records; /* records per commit point (group commit) */
    _Atomic int64_t clients;  /* connected ZeroMQ clients (ROUTER monitor) */
    _Atomic uint64_t clients_accepted, clients_disconnected;
    _Atomic int32_t worker_depth[SL_M_MAX_WORKERS]; /* jobs queued at or held by each worker */
    _Atomic int32_t parked;                         /* replies waiting for their commit */
    /* the HTTP listener (http.c) */
    _Atomic uint64_t http_requests[6]; /* by status class: 1xx..5xx at [1..5], [0] other */
    _Atomic int64_t http_connections;
    _Atomic int64_t sse_clients;
    _Atomic uint64_t sse_events;
} sl_metrics_t;

/* Set the bucket layouts (the rest must be zero). */
void sl_metrics_init(sl_metrics_t *m);

void sl_hist_observe(sl_hist_t *h, uint64_t v);

/* One request answered: type (0 = undecodable), wire code (0 = ok) and,
 * for produce and consume, the time from read to reply. */
void sl_metrics_request(sl_metrics_t *m, int type, int code, uint64_t ns);

/* Monotonic clock, nanoseconds. */
uint64_t sl_metrics_now_ns(void);

/* The label value of a request type index ("produce", ...). */
const char *sl_metrics_type_name(int type);
/* The wire name of a result code ("ok", "BAD_REQUEST", ...: the .proto's
 * names, from the generated descriptor); NULL if the proto has no such code. */
const char *sl_metrics_code_name(int code);

/* A VFS (seglog/log.h) that forwards to inner (NULL: POSIX) and observes
 * each fdatasync and directory fsync in fsync. The struct must outlive
 * every log that uses mv->vfs (metrics_vfs.c). */
typedef struct sl_metrics_vfs {
    seglog_vfs_t vfs;
    const seglog_vfs_t *inner;
    sl_hist_t *fsync;
} sl_metrics_vfs_t;

void sl_metrics_vfs_init(sl_metrics_vfs_t *mv, const seglog_vfs_t *inner, sl_hist_t *fsync);

/* ---- exposition helpers (metrics_render.c and tests) -------------------- */

/* "# HELP name help\n# TYPE name type\n" */
int sl_prom_head(sl_buf_t *b, const char *name, const char *type, const char *help);
/* "name{labels} value\n"; labels may be NULL or "" (no braces). */
int sl_prom_u64(sl_buf_t *b, const char *name, const char *labels, uint64_t v);
int sl_prom_i64(sl_buf_t *b, const char *name, const char *labels, int64_t v);
int sl_prom_f64(sl_buf_t *b, const char *name, const char *labels, double v);
/* The _bucket, _sum and _count series of h (head written by the caller);
 * labels (may be NULL) go before "le". */
int sl_prom_hist(sl_buf_t *b, const char *name, const char *labels, const sl_hist_t *h);
/* printf into b. */
int sl_buf_printf(sl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
