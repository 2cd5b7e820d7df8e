/*
 * sse.c - GET /v1/topics/{topic}/stream?offset=N: the topic's records from
 * N on as server-sent events, then live.
 *
 * Gap-free the way a consumer is: the stream is a loop of ordinary consume
 * requests through the request path (gateway.c), each starting at the
 * previous reply's next_offset. A consume returns records below the
 * visible end only, in offset order, so the stream never skips a record
 * and never shows one that can vanish: the tail's guarantee, without the
 * PUB socket. At the end of the log each consume waits there, up to a
 * second (ConsumeRequest.max_wait_ms, the long poll), and a quiet second
 * sends a heartbeat event. With every long-poll slot taken
 * (RESOURCE_EXHAUSTED, --max-waiters) the loop polls every 100 ms instead.
 *
 * Bounds: at most HTTP_MAX_STREAMS streams (then 429). Each holds one
 * consume reply's events at a time (a consume is capped at 256 KiB of
 * records); libmicrohttpd asks for more only once the client took the
 * last, so a slow reader stalls only its own connection thread, and one
 * that stops reading is closed after HTTP_IDLE_TIMEOUT seconds without
 * progress. Every wait checks the listener's stop flag.
 */
#include "http_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_BATCH_RECORDS 500
#define SSE_BATCH_BYTES   (256u << 10)
#define SSE_HEARTBEAT_MS  1000

typedef struct sse {
    sl_http_t *h;
    char topic[SL_TOPIC_NAME_MAX + 1];
    uint64_t next; /* offset of the next record to send */
    int base64;
    sl_buf_t out; /* events not yet handed to libmicrohttpd */
    size_t pos;
    int done;     /* end after out is sent */
    char errmsg[512]; /* the last Error reply's message */
} sse_t;

static uint64_t s_ms(void)
{
    return sl_metrics_now_ns() / 1000000u;
}

static void s_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void s_event(sse_t *st, const char *name, const char *id, cJSON *data)
{
    char *text = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!text)
        return;
    if (id)
        sl_buf_printf(&st->out, "id: %s\n", id);
    sl_buf_printf(&st->out, "event: %s\ndata: %s\n\n", name, text);
    free(text);
}

/* One consume at st->next, waiting up to wait_ms at the end of the log:
 * 1 records (or an error event) queued, 0 none, -1 no reply (stopping). */
static int s_fetch(sse_t *st, uint32_t wait_ms, int *err_code)
{
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
    cr.topic = st->topic;
    cr.offset = st->next;
    cr.max_records = SSE_BATCH_RECORDS;
    cr.max_bytes = SSE_BATCH_BYTES;
    cr.max_wait_ms = wait_ms;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &cr;
    Seglog__V1__Response *resp = NULL;
    *err_code = 0;
    if (sl_gw_call(st->h, &req, (int)wait_ms + 5000, &resp) != 0)
        return -1;
    int rc = 0;
    if (resp->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR && resp->error && wait_ms &&
        (int)resp->error->code == SL_WIRE_RESOURCE_EXHAUSTED) {
        *err_code = -1; /* no long-poll slot free: poll instead */
    } else if (resp->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR && resp->error) {
        *err_code = (int)resp->error->code;
        cJSON *j = cJSON_CreateObject();
        const char *name = sl_metrics_code_name(*err_code);
        cJSON_AddStringToObject(j, "error", name ? name : "INTERNAL");
        cJSON_AddNumberToObject(j, "code", *err_code);
        snprintf(st->errmsg, sizeof st->errmsg, "%s",
                 resp->error->message ? resp->error->message : "");
        cJSON_AddStringToObject(j, "message", st->errmsg);
        cJSON_AddNumberToObject(j, "offset", (double)st->next);
        s_event(st, "error", NULL, j);
        rc = 1;
    } else if (resp->consume) {
        const Seglog__V1__ConsumeResponse *c = resp->consume;
        for (size_t i = 0; i < c->n_records; i++) {
            cJSON *j = cJSON_CreateObject();
            sl_gw_record_json(j, c->records[i], st->base64);
            char id[24];
            snprintf(id, sizeof id, "%" PRIu64, c->records[i]->offset);
            s_event(st, "record", id, j);
        }
        atomic_fetch_add_explicit(&st->h->s->metrics.sse_events, c->n_records,
                                  memory_order_relaxed);
        if (c->next_offset > st->next)
            st->next = c->next_offset;
        rc = c->n_records > 0;
    }
    seglog__v1__response__free_unpacked(resp, NULL);
    return rc;
}

static ssize_t s_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_t *st = cls;
    uint64_t since = s_ms();
    while (st->pos == st->out.len) {
        st->out.len = st->pos = 0;
        if (st->done || atomic_load(&st->h->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        int code;
        uint64_t left = SSE_HEARTBEAT_MS - (s_ms() - since);
        int rc = s_fetch(st, left > SSE_HEARTBEAT_MS ? 1 : (uint32_t)left + 1, &code);
        if (rc < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (code > 0)
            st->done = 1; /* the error event goes out, then the stream ends */
        if (rc > 0)
            break;
        if (s_ms() - since >= SSE_HEARTBEAT_MS) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "next_offset", (double)st->next);
            s_event(st, "heartbeat", NULL, j);
            break;
        }
        if (code < 0)
            s_sleep_ms(100);
    }
    size_t n = st->out.len - st->pos;
    if (n > max)
        n = max;
    memcpy(buf, st->out.data + st->pos, n);
    st->pos += n;
    return (ssize_t)n;
}

static void s_free(void *cls)
{
    sse_t *st = cls;
    atomic_fetch_sub_explicit(&st->h->s->metrics.sse_clients, 1, memory_order_relaxed);
    sl_buf_free(&st->out);
    free(st);
}

enum MHD_Result sl_sse_start(sl_http_t *h, struct MHD_Connection *c, const char *topic)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
    /* A reconnecting EventSource sends the last id it saw. */
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    const char *enc = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "value_encoding");
    uint64_t offset = 0;
    char *end = NULL;
    if (v && (!*v || *v == '-' || *v == '+' || (offset = strtoull(v, &end, 10), *end)))
        return sl_http_error(h, c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", SL_WIRE_BAD_REQUEST,
                             "offset must be an unsigned decimal integer");
    if (last && *last) {
        uint64_t l = strtoull(last, &end, 10);
        if (!*end)
            offset = l + 1;
    }
    if (enc && strcmp(enc, "base64") && strcmp(enc, "utf8"))
        return sl_http_error(h, c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", SL_WIRE_BAD_REQUEST,
                             "value_encoding must be utf8 or base64");
    if (atomic_fetch_add(&h->s->metrics.sse_clients, 1) >= HTTP_MAX_STREAMS) {
        atomic_fetch_sub(&h->s->metrics.sse_clients, 1);
        char msg[120];
        snprintf(msg, sizeof msg, "too many streams open (at most %d)", HTTP_MAX_STREAMS);
        return sl_http_error(h, c, MHD_HTTP_TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED",
                             SL_WIRE_RESOURCE_EXHAUSTED, msg);
    }
    sse_t *st = calloc(1, sizeof *st);
    if (!st) {
        atomic_fetch_sub(&h->s->metrics.sse_clients, 1);
        return MHD_NO;
    }
    st->h = h;
    snprintf(st->topic, sizeof st->topic, "%s", topic);
    st->next = offset;
    st->base64 = enc && strcmp(enc, "base64") == 0;
    /* The first consume decides the status: an unknown topic or an offset
     * out of range is a plain JSON error, not a stream. */
    int code = 0, rc = s_fetch(st, 0, &code);
    if (rc < 0 || code) {
        Seglog__V1__Error e = SEGLOG__V1__ERROR__INIT;
        char msg[sizeof st->errmsg];
        snprintf(msg, sizeof msg, "%s", code ? st->errmsg : "no reply from the request path in time");
        s_free(st);
        if (!code)
            return sl_http_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", 0, msg);
        e.code = (Seglog__V1__ErrorCode)code;
        e.message = msg;
        return sl_http_wire_error(h, c, &e);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, s_reader, st, s_free);
    if (!resp) {
        s_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return sl_http_queue(h, c, MHD_HTTP_OK, resp);
}
