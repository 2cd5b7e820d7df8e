/*
 * gateway.c - the HTTP/JSON gateway (docs/HTTP.md): /v1/topics routes made
 * into the same protobuf Requests a ZeroMQ client sends, through the front
 * end's ROUTER (inproc), so that every rule, limit and error is the wire
 * protocol's. See http_impl.h for the request path.
 */
#include "http_impl.h"

#include "slog.h"
#include "tsan_sync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* ---- the request path ------------------------------------------------------ */

static void *s_take(sl_http_t *h)
{
    void *sock = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->npool > 0)
        sock = h->pool[--h->npool];
    pthread_mutex_unlock(&h->mu);
    if (sock)
        return sock;
    sock = zmq_socket(h->s->ctx, ZMQ_DEALER);
    if (!sock)
        return NULL;
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, h->inproc) != 0) {
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

static void s_give(sl_http_t *h, void *sock)
{
    pthread_mutex_lock(&h->mu);
    if (h->npool < HTTP_POOL_KEEP && h->pool) {
        h->pool[h->npool++] = sock;
        sock = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (sock)
        zmq_close(sock);
}

int sl_gw_call(sl_http_t *h, Seglog__V1__Request *req, int timeout_ms,
               Seglog__V1__Response **resp)
{
    *resp = NULL;
    if (atomic_load(&h->stopping))
        return -1;
    void *sock = s_take(h);
    if (!sock)
        return -1;
    req->id = atomic_fetch_add(&h->next_id, 1) + 1;
    size_t n = seglog__v1__request__get_packed_size(req);
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, n) != 0) {
        s_give(h, sock);
        return -1;
    }
    seglog__v1__request__pack(req, zmq_msg_data(&m));
    SL_TSAN_RELEASE(zmq_msg_data(&m)); /* read by the front end or a worker */
    if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        zmq_close(sock);
        return -1;
    }
    uint64_t deadline = sl_metrics_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (!atomic_load(&h->stopping)) {
        uint64_t now = sl_metrics_now_ns();
        if (now >= deadline)
            break;
        long wait = (long)((deadline - now) / 1000000u);
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, wait < 100 ? wait + 1 : 100) < 0 && zmq_errno() != EINTR)
            break;
        if (!(it.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        SL_TSAN_ACQUIRE(zmq_msg_data(&m)); /* written by a worker */
        Seglog__V1__Response *r =
            seglog__v1__response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (r && r->id == req->id && r->body_case != SEGLOG__V1__RESPONSE__BODY__NOT_SET) {
            *resp = r;
            s_give(h, sock);
            return 0;
        }
        if (r) /* the late reply of an earlier call that gave up */
            seglog__v1__response__free_unpacked(r, NULL);
    }
    /* No reply in time: the socket may still get it later; do not reuse it. */
    zmq_close(sock);
    return -1;
}

/* ---- helpers ------------------------------------------------------------------ */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sl_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = s_b64[(v >> 18) & 63];
        out[o++] = s_b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? s_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? s_b64[v & 63] : '=';
    }
    out[o] = 0;
}

static int s_b64_val(char c)
{
    const char *p = c ? strchr(s_b64, c) : NULL;
    return p ? (int)(p - s_b64) : -1;
}

/* out may be in: it never overtakes the input. */
long sl_b64_decode(const char *in, size_t n, uint8_t *out)
{
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_b64_val(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

/* 1 if p[0..n) is UTF-8 (no overlongs, no surrogates) without NUL bytes. */
static int s_utf8(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        int k = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (k < 0 || n - i <= (size_t)k)
            return 0;
        uint32_t cp = c & (0x3fu >> k);
        for (int j = 1; j <= k; j++) {
            if ((p[i + (size_t)j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + (size_t)j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

static cJSON *s_bytes(const uint8_t *p, size_t n, int base64)
{
    if (!base64) {
        char *t = malloc(n + 1);
        if (!t)
            return NULL;
        if (n)
            memcpy(t, p, n);
        t[n] = 0;
        cJSON *j = cJSON_CreateString(t);
        free(t);
        return j;
    }
    char *t = malloc(4 * ((n + 2) / 3) + 1);
    if (!t)
        return NULL;
    sl_b64_encode(p, n, t);
    cJSON *j = cJSON_CreateString(t);
    free(t);
    return j;
}

int sl_gw_record_json(cJSON *o, const Seglog__V1__Record *r, int base64)
{
    if (!base64)
        base64 = !s_utf8(r->value.data, r->value.len) || !s_utf8(r->key.data, r->key.len);
    cJSON_AddNumberToObject(o, "offset", (double)r->offset);
    cJSON_AddNumberToObject(o, "timestamp_ms", (double)r->timestamp_ms);
    if (r->key.len)
        cJSON_AddItemToObject(o, "key", s_bytes(r->key.data, r->key.len, base64));
    cJSON_AddItemToObject(o, "value", s_bytes(r->value.data, r->value.len, base64));
    if (base64)
        cJSON_AddStringToObject(o, "value_encoding", "base64");
    return 0;
}

static const char *s_arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* An unsigned decimal query argument; 0 (and *out = dflt if absent) or -1. */
static int s_u64_arg(struct MHD_Connection *c, const char *name, uint64_t dflt, uint64_t *out)
{
    const char *v = s_arg(c, name);
    *out = dflt;
    if (!v)
        return 0;
    if (!*v || *v == '-' || *v == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

/* value_encoding from the query: 0 utf8 (default), 1 base64, -1 bad. */
static int s_encoding_arg(struct MHD_Connection *c)
{
    const char *v = s_arg(c, "value_encoding");
    if (!v || strcmp(v, "utf8") == 0 || strcmp(v, "utf-8") == 0)
        return 0;
    return strcmp(v, "base64") == 0 ? 1 : -1;
}

static enum MHD_Result s_bad(sl_http_t *h, struct MHD_Connection *c, const char *msg)
{
    return sl_http_error(h, c, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", SL_WIRE_BAD_REQUEST, msg);
}

/* Make the call; on no reply or an Error reply, answer here and return
 * NULL (*rc set). */
static Seglog__V1__Response *s_call(sl_http_t *h, struct MHD_Connection *c,
                                    Seglog__V1__Request *req, enum MHD_Result *rc)
{
    Seglog__V1__Response *resp = NULL;
    if (sl_gw_call(h, req, HTTP_CALL_MS, &resp) != 0) {
        *rc = sl_http_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", 0,
                            atomic_load(&h->stopping) ? "the server is stopping"
                                                      : "no reply from the request path in time");
        return NULL;
    }
    if (resp->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR && resp->error) {
        *rc = sl_http_wire_error(h, c, resp->error);
        seglog__v1__response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

/* ---- routes -------------------------------------------------------------------- */

static enum MHD_Result s_list(sl_http_t *h, struct MHD_Connection *c)
{
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__ListTopicsRequest lt = SEGLOG__V1__LIST_TOPICS_REQUEST__INIT;
    req.body_case = SEGLOG__V1__REQUEST__BODY_LIST_TOPICS;
    req.list_topics = &lt;
    enum MHD_Result rc;
    Seglog__V1__Response *resp = s_call(h, c, &req, &rc);
    if (!resp)
        return rc;
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "topics");
    for (size_t i = 0; resp->list_topics && i < resp->list_topics->n_topics; i++) {
        const Seglog__V1__TopicInfo *t = resp->list_topics->topics[i];
        cJSON *o = cJSON_CreateObject();
        char ep[32];
        snprintf(ep, sizeof ep, "%" PRIu64, t->epoch);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddNumberToObject(o, "lowest_offset", (double)t->lowest_offset);
        cJSON_AddNumberToObject(o, "next_offset", (double)t->next_offset);
        cJSON_AddStringToObject(o, "epoch", ep);
        cJSON_AddItemToArray(arr, o);
    }
    seglog__v1__response__free_unpacked(resp, NULL);
    return sl_http_json(h, c, MHD_HTTP_OK, j);
}

static enum MHD_Result s_offsets(sl_http_t *h, struct MHD_Connection *c, char *topic)
{
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__OffsetsRequest o = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    o.topic = topic;
    req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    req.offsets = &o;
    enum MHD_Result rc;
    Seglog__V1__Response *resp = s_call(h, c, &req, &rc);
    if (!resp)
        return rc;
    const Seglog__V1__OffsetsResponse *r = resp->offsets;
    cJSON *j = cJSON_CreateObject();
    char ep[32];
    snprintf(ep, sizeof ep, "%" PRIu64, r ? r->epoch : 0);
    cJSON_AddStringToObject(j, "topic", topic);
    cJSON_AddNumberToObject(j, "lowest_offset", r ? (double)r->lowest_offset : 0);
    cJSON_AddNumberToObject(j, "next_offset", r ? (double)r->next_offset : 0);
    cJSON_AddNumberToObject(j, "committed_offset", r ? (double)r->committed_offset : 0);
    cJSON_AddStringToObject(j, "epoch", ep);
    seglog__v1__response__free_unpacked(resp, NULL);
    return sl_http_json(h, c, MHD_HTTP_OK, j);
}

static enum MHD_Result s_consume(sl_http_t *h, struct MHD_Connection *c, char *topic)
{
    uint64_t offset, max, max_bytes;
    int enc = s_encoding_arg(c);
    if (s_u64_arg(c, "offset", 0, &offset))
        return s_bad(h, c, "offset must be an unsigned decimal integer");
    if (s_u64_arg(c, "max", 100, &max) || max < 1 || max > SL_MAX_CONSUME_RECORDS)
        return s_bad(h, c, "max must be 1..10000");
    if (s_u64_arg(c, "max_bytes", 0, &max_bytes) || max_bytes > UINT32_MAX)
        return s_bad(h, c, "max_bytes must be an unsigned 32-bit integer");
    if (enc < 0)
        return s_bad(h, c, "value_encoding must be utf8 or base64");
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
    cr.topic = topic;
    cr.offset = offset;
    cr.max_records = (uint32_t)max;
    cr.max_bytes = (uint32_t)max_bytes;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &cr;
    enum MHD_Result rc;
    Seglog__V1__Response *resp = s_call(h, c, &req, &rc);
    if (!resp)
        return rc;
    const Seglog__V1__ConsumeResponse *r = resp->consume;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "topic", topic);
    cJSON *arr = cJSON_AddArrayToObject(j, "records");
    for (size_t i = 0; r && i < r->n_records; i++) {
        cJSON *o = cJSON_CreateObject();
        sl_gw_record_json(o, r->records[i], enc);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddNumberToObject(j, "next_offset", r ? (double)r->next_offset : 0);
    cJSON_AddNumberToObject(j, "lowest_offset", r ? (double)r->lowest_offset : 0);
    cJSON_AddNumberToObject(j, "end_offset", r ? (double)r->end_offset : 0);
    seglog__v1__response__free_unpacked(resp, NULL);
    return sl_http_json(h, c, MHD_HTTP_OK, j);
}

/* A field of record i as bytes: a JSON string, as UTF-8 or base64 (decoded
 * in place). NULL/absent: empty. Returns 0 or -1 with msg. */
static int s_field(cJSON *rec, const char *name, int b64, size_t i, ProtobufCBinaryData *out,
                   char *msg, size_t cap)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(rec, name);
    out->data = NULL;
    out->len = 0;
    if (!f || cJSON_IsNull(f))
        return 0;
    if (!cJSON_IsString(f)) {
        snprintf(msg, cap, "record %zu: \"%s\" must be a string", i, name);
        return -1;
    }
    size_t n = strlen(f->valuestring);
    if (!b64) {
        out->data = (uint8_t *)f->valuestring;
        out->len = n;
        return 0;
    }
    long k = sl_b64_decode(f->valuestring, n, (uint8_t *)f->valuestring);
    if (k < 0) {
        snprintf(msg, cap, "record %zu: \"%s\" is not valid base64", i, name);
        return -1;
    }
    out->data = (uint8_t *)f->valuestring;
    out->len = (size_t)k;
    return 0;
}

/* The body's records: a JSON array (or one object), or NDJSON. */
static int s_parse_body(http_req_t *r, int ndjson, cJSON **out, char *msg, size_t cap)
{
    const char *p = r->body.data ? (const char *)r->body.data : "";
    size_t len = r->body.len;
    if (!ndjson) {
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(p, len, &end, 0);
        if (!j) {
            snprintf(msg, cap, "body is not valid JSON (at byte %zu)", end ? (size_t)(end - p) : 0);
            return -1;
        }
        if (cJSON_IsObject(j)) { /* one record */
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, j);
            j = arr;
        }
        if (!cJSON_IsArray(j)) {
            cJSON_Delete(j);
            snprintf(msg, cap, "body must be a JSON array of records {\"key\", \"value\"}");
            return -1;
        }
        *out = j;
        return 0;
    }
    cJSON *arr = cJSON_CreateArray();
    size_t line = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(p + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (p + at)) : len - at;
        line++;
        size_t k = 0;
        while (k < n && (p[at + k] == ' ' || p[at + k] == '\t' || p[at + k] == '\r'))
            k++;
        if (k < n) {
            cJSON *j = cJSON_ParseWithLengthOpts(p + at, n, NULL, 0);
            if (!j || !cJSON_IsObject(j)) {
                cJSON_Delete(j);
                cJSON_Delete(arr);
                snprintf(msg, cap, "NDJSON line %zu is not a JSON object", line);
                return -1;
            }
            cJSON_AddItemToArray(arr, j);
        }
        at += n + 1;
    }
    *out = arr;
    return 0;
}

static enum MHD_Result s_produce(sl_http_t *h, struct MHD_Connection *c, char *topic,
                                 http_req_t *r)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    int ndjson = 0;
    if (ct && strncmp(ct, "application/json", 16) == 0 && (!ct[16] || ct[16] == ';'))
        ndjson = 0;
    else if (ct && (strncmp(ct, "application/x-ndjson", 20) == 0 ||
                    strncmp(ct, "application/jsonl", 17) == 0))
        ndjson = 1;
    else {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "content type \"%.100s\" is not supported: send application/json (an array of "
                 "records) or application/x-ndjson (one record per line)",
                 ct ? ct : "(none)");
        return sl_http_error(h, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "BAD_REQUEST",
                             SL_WIRE_BAD_REQUEST, msg);
    }
    int enc = s_encoding_arg(c);
    if (enc < 0)
        return s_bad(h, c, "value_encoding must be utf8 or base64");
    const char *acks = s_arg(c, "acks");
    if (acks && strcmp(acks, "all") != 0 && strcmp(acks, "leader") != 0)
        return s_bad(h, c, "acks must be all or leader");
    char msg[300];
    cJSON *arr = NULL;
    if (s_parse_body(r, ndjson, &arr, msg, sizeof msg))
        return s_bad(h, c, msg);
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) {
        cJSON_Delete(arr);
        return s_bad(h, c, "no records: send at least one {\"value\": ...}");
    }
    Seglog__V1__Record *recs = calloc(n, sizeof *recs);
    Seglog__V1__Record **ptrs = calloc(n, sizeof *ptrs);
    int bad = !recs || !ptrs;
    if (bad)
        snprintf(msg, sizeof msg, "out of memory");
    size_t i = 0;
    for (cJSON *rec = arr->child; rec && !bad; rec = rec->next, i++) {
        seglog__v1__record__init(&recs[i]);
        ptrs[i] = &recs[i];
        if (!cJSON_IsObject(rec)) {
            snprintf(msg, sizeof msg, "record %zu is not an object", i);
            bad = 1;
            break;
        }
        int b64 = enc;
        cJSON *e = cJSON_GetObjectItemCaseSensitive(rec, "value_encoding");
        if (e && (!cJSON_IsString(e) ||
                  (strcmp(e->valuestring, "base64") && strcmp(e->valuestring, "utf8")))) {
            snprintf(msg, sizeof msg, "record %zu: value_encoding must be utf8 or base64", i);
            bad = 1;
            break;
        }
        if (e)
            b64 = strcmp(e->valuestring, "base64") == 0;
        cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "value");
        if (!cJSON_IsString(v)) {
            snprintf(msg, sizeof msg, "record %zu: \"value\" (a string) is required", i);
            bad = 1;
            break;
        }
        cJSON *ts = cJSON_GetObjectItemCaseSensitive(rec, "timestamp_ms");
        if (ts && (!cJSON_IsNumber(ts) || ts->valuedouble < 0)) {
            snprintf(msg, sizeof msg, "record %zu: timestamp_ms must be a number >= 0", i);
            bad = 1;
            break;
        }
        if (ts)
            recs[i].timestamp_ms = (uint64_t)ts->valuedouble;
        bad = s_field(rec, "value", b64, i, &recs[i].value, msg, sizeof msg) ||
              s_field(rec, "key", b64, i, &recs[i].key, msg, sizeof msg);
    }
    if (bad) {
        free(recs);
        free(ptrs);
        cJSON_Delete(arr);
        return s_bad(h, c, msg);
    }
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__ProduceRequest pr = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    pr.topic = topic;
    pr.n_records = n;
    pr.records = ptrs;
    pr.acks = !acks ? SEGLOG__V1__ACKS__ACKS_DEFAULT
              : strcmp(acks, "all") == 0 ? SEGLOG__V1__ACKS__ACKS_ALL
                                         : SEGLOG__V1__ACKS__ACKS_LEADER;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &pr;
    enum MHD_Result rc;
    Seglog__V1__Response *resp = s_call(h, c, &req, &rc);
    free(recs);
    free(ptrs);
    cJSON_Delete(arr);
    if (!resp)
        return rc;
    uint64_t first = resp->produce ? resp->produce->offset : 0;
    uint32_t count = resp->produce ? resp->produce->count : 0;
    seglog__v1__response__free_unpacked(resp, NULL);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "topic", topic);
    cJSON_AddNumberToObject(j, "offset", (double)first);
    cJSON_AddNumberToObject(j, "count", count);
    cJSON *offs = cJSON_AddArrayToObject(j, "offsets");
    for (uint32_t k = 0; k < count; k++)
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(first + k)));
    return sl_http_json(h, c, MHD_HTTP_OK, j);
}

enum MHD_Result sl_gw_topics(sl_http_t *h, struct MHD_Connection *c, const char *method,
                             const char *path, http_req_t *r)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (!*path || strcmp(path, "/") == 0) {
        if (!get)
            return sl_http_error(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 0,
                                 "GET /v1/topics lists the topics");
        return s_list(h, c);
    }
    /* "/{topic}[/records|/stream]" */
    char topic[SL_TOPIC_NAME_MAX + 2];
    const char *name = path + 1, *slash = strchr(name, '/');
    size_t tn = slash ? (size_t)(slash - name) : strlen(name);
    const char *rest = slash ? slash : "";
    if (tn == 0 || tn > SL_TOPIC_NAME_MAX) {
        return sl_http_error(h, c, MHD_HTTP_BAD_REQUEST, "INVALID_TOPIC", SL_WIRE_INVALID_TOPIC,
                             "invalid topic name: must match [A-Za-z0-9._-]{1,128} and not be "
                             "\".\" or \"..\"");
    }
    memcpy(topic, name, tn);
    topic[tn] = 0;
    if (!*rest) {
        if (!get)
            return sl_http_error(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 0,
                                 "GET /v1/topics/{topic} reads its offsets");
        return s_offsets(h, c, topic);
    }
    if (strcmp(rest, "/records") == 0) {
        if (get)
            return s_consume(h, c, topic);
        if (post)
            return s_produce(h, c, topic, r);
        return sl_http_error(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 0,
                             "/v1/topics/{topic}/records takes GET (read) or POST (append)");
    }
    if (strcmp(rest, "/stream") == 0) {
        if (!get)
            return sl_http_error(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 0,
                                 "/v1/topics/{topic}/stream takes GET");
        return sl_sse_start(h, c, topic);
    }
    char msg[300];
    snprintf(msg, sizeof msg, "no route for /v1/topics%.200s (docs/HTTP.md lists them)", path);
    return sl_http_error(h, c, MHD_HTTP_NOT_FOUND, "NOT_FOUND", 0, msg);
}
