/* metrics.c - see metrics.h */
#include "metrics.h"

#include "codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS 1000000ull
#define US 1000ull

/* Request latency: 50 us .. 10 s. */
static const uint64_t s_latency_ns[] = {50 * US,  100 * US, 250 * US, 500 * US,  1 * MS,
                                        2500 * US, 5 * MS,  10 * MS,  25 * MS,   50 * MS,
                                        100 * MS, 250 * MS, 500 * MS, 1000 * MS, 2500 * MS,
                                        5000 * MS, 10000 * MS};
/* fdatasync: 10 us .. 10 s. */
static const uint64_t s_fsync_ns[] = {10 * US,  25 * US,  50 * US,   100 * US,  250 * US,
                                      500 * US, 1 * MS,   2500 * US, 5 * MS,    10 * MS,
                                      25 * MS,  50 * MS,  100 * MS,  250 * MS,  500 * MS,
                                      1000 * MS, 10000 * MS};
/* Records per commit: powers of 4 up to 65536. */
static const uint64_t s_records[] = {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536};

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void s_hist_init(sl_hist_t *h, const uint64_t *bounds, int n, double scale)
{
    h->bounds = bounds;
    h->nbounds = n;
    h->scale = scale;
}

void sl_metrics_init(sl_metrics_t *m)
{
    s_hist_init(&m->produce_latency, s_latency_ns, NB(s_latency_ns), 1e9);
    s_hist_init(&m->consume_latency, s_latency_ns, NB(s_latency_ns), 1e9);
    s_hist_init(&m->fsync, s_fsync_ns, NB(s_fsync_ns), 1e9);
    s_hist_init(&m->commit_records, s_records, NB(s_records), 1);
}

void sl_hist_observe(sl_hist_t *h, uint64_t v)
{
    int i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

uint64_t sl_metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sl_metrics_request(sl_metrics_t *m, int type, int code, uint64_t ns)
{
    if (type < 0 || type >= SL_M_TYPES)
        type = 0;
    if (code < 0 || code >= SL_M_CODES)
        code = SL_WIRE_INTERNAL;
    atomic_fetch_add_explicit(&m->requests[type][code], 1, memory_order_relaxed);
    if (type == SL_REQ_PRODUCE)
        sl_hist_observe(&m->produce_latency, ns);
    else if (type == SL_REQ_CONSUME)
        sl_hist_observe(&m->consume_latency, ns);
}

const char *sl_metrics_type_name(int type)
{
    static const char *names[SL_M_TYPES] = {
        [0] = "invalid",
        [SL_REQ_PRODUCE] = "produce",
        [SL_REQ_CONSUME] = "consume",
        [SL_REQ_OFFSETS] = "offsets",
        [SL_REQ_TRUNCATE] = "truncate",
        [SL_REQ_INFO] = "info",
        [SL_REQ_LIST_TOPICS] = "list_topics",
        [SL_REQ_DELETE_TOPIC] = "delete_topic",
        [SL_REQ_CREATE_TOPIC] = "create_topic",
        [SL_REQ_METADATA] = "metadata",
        [SL_REQ_INIT_PRODUCER_ID] = "init_producer_id",
        [SL_REQ_COMMIT_OFFSET] = "commit_offset",
        [SL_REQ_FETCH_OFFSET] = "fetch_offset",
        [SL_REQ_OFFSET_FOR_TIME] = "offset_for_time",
        [SL_REQ_TOPIC_CONFIG] = "topic_config",
    };
    return type >= 0 && type < SL_M_TYPES ? names[type] : NULL;
}

const char *sl_metrics_code_name(int code)
{
    if (code == 0)
        return "ok";
    return code > 0 && code < SL_M_CODES ? sl_codec_error_name(code) : NULL;
}

/* ---- exposition ---------------------------------------------------------- */

int sl_buf_printf(sl_buf_t *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2; tries++) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->cap ? (char *)b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        if (sl_buf_reserve(b, (size_t)n + 1))
            return -1;
    }
    return -1;
}

int sl_prom_head(sl_buf_t *b, const char *name, const char *type, const char *help)
{
    return sl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int s_series(sl_buf_t *b, const char *name, const char *labels)
{
    if (labels && *labels)
        return sl_buf_printf(b, "%s{%s} ", name, labels);
    return sl_buf_printf(b, "%s ", name);
}

int sl_prom_u64(sl_buf_t *b, const char *name, const char *labels, uint64_t v)
{
    return s_series(b, name, labels) || sl_buf_printf(b, "%" PRIu64 "\n", v) ? -1 : 0;
}

int sl_prom_i64(sl_buf_t *b, const char *name, const char *labels, int64_t v)
{
    return s_series(b, name, labels) || sl_buf_printf(b, "%" PRId64 "\n", v) ? -1 : 0;
}

int sl_prom_f64(sl_buf_t *b, const char *name, const char *labels, double v)
{
    return s_series(b, name, labels) || sl_buf_printf(b, "%.9g\n", v) ? -1 : 0;
}

int sl_prom_hist(sl_buf_t *b, const char *name, const char *labels, const sl_hist_t *h)
{
    const char *sep = labels && *labels ? "," : "";
    const char *lab = labels ? labels : "";
    uint64_t cum = 0;
    int rc = 0;
    for (int i = 0; i <= h->nbounds && rc == 0; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbounds)
            rc = sl_buf_printf(b, "%s_bucket{%s%sle=\"%.9g\"} %" PRIu64 "\n", name, lab, sep,
                               (double)h->bounds[i] / h->scale, cum);
        else
            rc = sl_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, lab, sep, cum);
    }
    double sum = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / h->scale;
    char n2[128];
    snprintf(n2, sizeof n2, "%s_sum", name);
    if (!rc)
        rc = sl_prom_f64(b, n2, labels, sum);
    snprintf(n2, sizeof n2, "%s_count", name);
    if (!rc)
        rc = sl_prom_u64(b, n2, labels, cum);
    return rc;
}
