/* meta.c - JSON encoding and validation of the znodes; see meta.h. */
#include "meta.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sl_cl_strerror(int rc)
{
    switch (rc) {
    case SL_CL_OK: return "ok";
    case SL_CL_EINVAL: return "invalid argument";
    case SL_CL_ENOMEM: return "out of memory";
    case SL_CL_EBADDATA: return "znode data does not validate";
    case SL_CL_ENOTCONN: return "no zookeeper session";
    case SL_CL_ETIMEOUT: return "timed out";
    case SL_CL_ENONODE: return "no such znode";
    case SL_CL_ESTALE: return "compare-and-set lost (stale version)";
    case SL_CL_ENOTLEADER: return "not the leader of that epoch";
    case SL_CL_ENOREPLICAS: return "not enough live nodes";
    case SL_CL_EZK: return "zookeeper error";
    case SL_CL_EEXISTS: return "node id registered by another session";
    default: return "unknown cluster error";
    }
}

int sl_cl_topic_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SL_CL_TOPIC_MAX)
        return 0;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0; /* ZooKeeper rejects them as path components */
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int sl_cl_has(const int32_t *ids, int n, int32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* ---- decoding helpers ---- */

/* Parse exactly len bytes as one JSON value (trailing blanks allowed). */
static cJSON *s_parse(const char *buf, int len)
{
    if (!buf || len <= 0 || len > 64 * 1024)
        return NULL;
    if (memchr(buf, '\0', (size_t) len))
        return NULL; /* cJSON would skip a NUL as blank space */
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, (size_t) len, &end, 0);
    if (!j)
        return NULL;
    for (const char *p = end; p && p < buf + len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            cJSON_Delete(j);
            return NULL;
        }
    return j;
}

/* An integral JSON number in [lo, hi]. */
static int s_int(const cJSON *v, int64_t lo, int64_t hi, int32_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double) lo || d > (double) hi)
        return -1;
    *out = (int32_t) d;
    return 0;
}

static int s_field_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int32_t *out)
{
    return s_int(cJSON_GetObjectItemCaseSensitive(o, key), lo, hi, out);
}

/* An object with "version": 1. */
static int s_versioned(const cJSON *o)
{
    int32_t v;
    return cJSON_IsObject(o) && s_field_int(o, "version", 1, 1, &v) == 0 ? 0 : -1;
}

/* An array of 1..SL_CL_MAX_REPLICAS distinct node ids (>= 1). */
static int s_ids(const cJSON *a, int32_t *ids, int *n)
{
    if (!cJSON_IsArray(a))
        return -1;
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (k == SL_CL_MAX_REPLICAS)
            return -1;
        int32_t id;
        if (s_int(e, 1, INT32_MAX, &id) < 0 || sl_cl_has(ids, k, id))
            return -1;
        ids[k++] = id;
    }
    if (k == 0)
        return -1;
    *n = k;
    return 0;
}

/* A printable ASCII string that fits in cap bytes (NUL included). */
static int s_str(const cJSON *v, int allow_empty, char *out, size_t cap)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return -1;
    size_t n = strlen(v->valuestring);
    if (n >= cap || (n == 0 && !allow_empty))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (v->valuestring[i] < 0x21 || v->valuestring[i] > 0x7e)
            return -1;
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

static char *s_print(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

static cJSON *s_object(void)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddNumberToObject(o, "version", 1)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int s_add_ids(cJSON *o, const char *key, const int32_t *ids, int n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    if (!a)
        return -1;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateNumber(ids[i]);
        if (!e || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            return -1;
        }
    }
    return 0;
}

/* ---- nodes ---- */

char *sl_cl_node_encode(const sl_cl_node_t *n)
{
    cJSON *o = s_object();
    if (o && (!cJSON_AddNumberToObject(o, "id", n->id) ||
              !cJSON_AddStringToObject(o, "endpoint", n->endpoint) ||
              !cJSON_AddStringToObject(o, "pub", n->pub) ||
              (n->repl[0] && !cJSON_AddStringToObject(o, "repl", n->repl)) ||
              (n->curve_key[0] &&
               !cJSON_AddStringToObject(o, "curve_public_key", n->curve_key)))) {
        cJSON_Delete(o);
        return NULL;
    }
    return s_print(o);
}

int sl_cl_node_decode(const char *buf, int len, sl_cl_node_t *out)
{
    cJSON *o = s_parse(buf, len);
    sl_cl_node_t n;
    memset(&n, 0, sizeof n);
    int ok = o && s_versioned(o) == 0 && s_field_int(o, "id", 1, INT32_MAX, &n.id) == 0 &&
             s_str(cJSON_GetObjectItemCaseSensitive(o, "endpoint"), 0, n.endpoint,
                   sizeof n.endpoint) == 0 &&
             s_str(cJSON_GetObjectItemCaseSensitive(o, "pub"), 1, n.pub, sizeof n.pub) == 0;
    const cJSON *repl = o ? cJSON_GetObjectItemCaseSensitive(o, "repl") : NULL;
    if (ok && repl)
        ok = s_str(repl, 1, n.repl, sizeof n.repl) == 0;
    const cJSON *key = o ? cJSON_GetObjectItemCaseSensitive(o, "curve_public_key") : NULL;
    if (ok && key)
        ok = s_str(key, 1, n.curve_key, sizeof n.curve_key) == 0 &&
             (n.curve_key[0] == 0 || strlen(n.curve_key) == 40);
    cJSON_Delete(o);
    if (!ok)
        return SL_CL_EBADDATA;
    *out = n;
    return 0;
}

/* ---- controller ---- */

char *sl_cl_controller_encode(int32_t id)
{
    cJSON *o = s_object();
    if (o && !cJSON_AddNumberToObject(o, "id", id)) {
        cJSON_Delete(o);
        return NULL;
    }
    return s_print(o);
}

int sl_cl_controller_decode(const char *buf, int len, int32_t *id)
{
    cJSON *o = s_parse(buf, len);
    int32_t v;
    int ok = o && s_versioned(o) == 0 && s_field_int(o, "id", 1, INT32_MAX, &v) == 0;
    cJSON_Delete(o);
    if (!ok)
        return SL_CL_EBADDATA;
    *id = v;
    return 0;
}

char *sl_cl_epoch_encode(int32_t epoch)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%d", (int) epoch);
    return strdup(buf);
}

int sl_cl_epoch_decode(const char *buf, int len, int32_t *epoch)
{
    cJSON *j = s_parse(buf, len);
    int32_t v;
    int ok = j && s_int(j, 0, INT32_MAX, &v) == 0;
    cJSON_Delete(j);
    if (!ok)
        return SL_CL_EBADDATA;
    *epoch = v;
    return 0;
}

/* ---- topics ---- */

char *sl_cl_assign_encode(const int32_t *ids, int n, uint64_t log_id)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, log_id);
    cJSON *o = s_object();
    if (o && (s_add_ids(o, "replicas", ids, n) < 0 ||
              (log_id && !cJSON_AddStringToObject(o, "log_id", hex)))) {
        cJSON_Delete(o);
        return NULL;
    }
    return s_print(o);
}

char *sl_cl_replicas_encode(const int32_t *ids, int n)
{
    return sl_cl_assign_encode(ids, n, 0);
}

/* "log_id": exactly 16 lowercase hex digits, not all zero. */
static int s_log_id(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) != 16 ||
        strspn(v->valuestring, "0123456789abcdef") != 16)
        return -1;
    uint64_t id = strtoull(v->valuestring, NULL, 16);
    if (id == 0)
        return -1;
    *out = id;
    return 0;
}

int sl_cl_assign_decode(const char *buf, int len, int32_t *ids, int *n, uint64_t *log_id)
{
    cJSON *o = s_parse(buf, len);
    int32_t tmp[SL_CL_MAX_REPLICAS];
    int k = 0;
    uint64_t id = 0;
    int ok = o && s_versioned(o) == 0 &&
             s_ids(cJSON_GetObjectItemCaseSensitive(o, "replicas"), tmp, &k) == 0;
    const cJSON *lid = o ? cJSON_GetObjectItemCaseSensitive(o, "log_id") : NULL;
    if (ok && lid)
        ok = s_log_id(lid, &id) == 0;
    cJSON_Delete(o);
    if (!ok)
        return SL_CL_EBADDATA;
    memcpy(ids, tmp, sizeof(int32_t) * (size_t) k);
    *n = k;
    if (log_id)
        *log_id = id;
    return 0;
}

int sl_cl_replicas_decode(const char *buf, int len, int32_t *ids, int *n)
{
    return sl_cl_assign_decode(buf, len, ids, n, NULL);
}

char *sl_cl_state_encode(const sl_cl_state_t *s)
{
    cJSON *o = s_object();
    if (o && (!cJSON_AddNumberToObject(o, "leader", s->leader) ||
              !cJSON_AddNumberToObject(o, "leader_epoch", s->leader_epoch) ||
              s_add_ids(o, "isr", s->isr, s->n_isr) < 0 ||
              !cJSON_AddNumberToObject(o, "controller_epoch", s->controller_epoch))) {
        cJSON_Delete(o);
        return NULL;
    }
    return s_print(o);
}

int sl_cl_state_decode(const char *buf, int len, sl_cl_state_t *out)
{
    cJSON *o = s_parse(buf, len);
    sl_cl_state_t s;
    memset(&s, 0, sizeof s);
    int ok = o && s_versioned(o) == 0 &&
             s_field_int(o, "leader", -1, INT32_MAX, &s.leader) == 0 && s.leader != 0 &&
             s_field_int(o, "leader_epoch", 1, INT32_MAX, &s.leader_epoch) == 0 &&
             s_field_int(o, "controller_epoch", 0, INT32_MAX, &s.controller_epoch) == 0 &&
             s_ids(cJSON_GetObjectItemCaseSensitive(o, "isr"), s.isr, &s.n_isr) == 0 &&
             (s.leader == -1 || sl_cl_has(s.isr, s.n_isr, s.leader));
    cJSON_Delete(o);
    if (!ok)
        return SL_CL_EBADDATA;
    *out = s;
    return 0;
}

int sl_cl_topic_check(const sl_cl_topic_t *t)
{
    if (t->n_replicas < 1 || t->n_replicas > SL_CL_MAX_REPLICAS || t->state.n_isr < 1 ||
        t->state.n_isr > SL_CL_MAX_REPLICAS)
        return SL_CL_EBADDATA;
    for (int i = 0; i < t->state.n_isr; i++)
        if (!sl_cl_has(t->replicas, t->n_replicas, t->state.isr[i]))
            return SL_CL_EBADDATA;
    return 0;
}
