/* tclient.c - see tclient.h */
#include "tclient.h"

#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct tc {
    void *sock;
    tc_mode_t mode;
};

static void *s_ctx;
static int s_open; /* sockets not yet closed */
static pthread_mutex_t s_ctx_mu = PTHREAD_MUTEX_INITIALIZER;

void *tc_ctx(void)
{
    pthread_mutex_lock(&s_ctx_mu);
    if (!s_ctx)
        s_ctx = zmq_ctx_new();
    void *c = s_ctx;
    pthread_mutex_unlock(&s_ctx_mu);
    return c;
}

void tc_ctx_term(void)
{
    pthread_mutex_lock(&s_ctx_mu);
    /* After a failed test a socket may still be open, and zmq_ctx_term
     * would wait for it forever: shut down without waiting instead. */
    if (s_ctx && s_open == 0)
        zmq_ctx_term(s_ctx);
    else if (s_ctx)
        zmq_ctx_shutdown(s_ctx);
    s_ctx = NULL;
    pthread_mutex_unlock(&s_ctx_mu);
}

uint64_t tc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

tc_t *tc_new(const char *endpoint, tc_mode_t mode)
{
    tc_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->mode = mode;
    c->sock = zmq_socket(tc_ctx(), mode == TC_REQ ? ZMQ_REQ : ZMQ_DEALER);
    if (c->sock) {
        pthread_mutex_lock(&s_ctx_mu);
        s_open++;
        pthread_mutex_unlock(&s_ctx_mu);
    }
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!c->sock || zmq_connect(c->sock, endpoint) != 0) {
        tc_destroy(&c);
        return NULL;
    }
    return c;
}

void tc_destroy(tc_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    if ((*c_p)->sock) {
        zmq_close((*c_p)->sock);
        pthread_mutex_lock(&s_ctx_mu);
        s_open--;
        pthread_mutex_unlock(&s_ctx_mu);
    }
    free(*c_p);
    *c_p = NULL;
}

void *tc_raw_socket(int type)
{
    void *s = zmq_socket(tc_ctx(), type);
    if (s) {
        int linger = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        pthread_mutex_lock(&s_ctx_mu);
        s_open++;
        pthread_mutex_unlock(&s_ctx_mu);
    }
    return s;
}

void tc_raw_close(void **s_p)
{
    if (!s_p || !*s_p)
        return;
    zmq_close(*s_p);
    *s_p = NULL;
    pthread_mutex_lock(&s_ctx_mu);
    s_open--;
    pthread_mutex_unlock(&s_ctx_mu);
}

void *tc_socket(tc_t *c)
{
    return c->sock;
}

int tc_send_raw(tc_t *c, const void *data, size_t len)
{
    if (c->mode == TC_DEALER_DELIM && zmq_send(c->sock, "", 0, ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send(c->sock, data, len, 0) < 0 ? -1 : 0;
}

uint8_t *tc_pack(const Seglog__V1__Request *req, size_t *len)
{
    *len = seglog__v1__request__get_packed_size(req);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        seglog__v1__request__pack(req, buf);
    return buf;
}

int tc_send(tc_t *c, const Seglog__V1__Request *req)
{
    size_t len;
    uint8_t *buf = tc_pack(req, &len);
    if (!buf)
        return -1;
    int rc = tc_send_raw(c, buf, len);
    free(buf);
    return rc;
}

Seglog__V1__Response *tc_recv(tc_t *c, int timeout_ms)
{
    zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    Seglog__V1__Response *r = NULL;
    for (int frame = 0;; frame++) {
        if (zmq_msg_recv(&m, c->sock, 0) < 0)
            break;
        int more = zmq_msg_more(&m);
        /* DEALER_DELIM: the first frame must be the empty delimiter. */
        int is_delim = c->mode == TC_DEALER_DELIM && frame == 0;
        if (is_delim && zmq_msg_size(&m) != 0) {
            fprintf(stderr, "tclient: expected an empty delimiter\n");
        } else if (!more && !is_delim) {
            r = seglog__v1__response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        }
        if (!more)
            break;
    }
    zmq_msg_close(&m);
    return r;
}

Seglog__V1__Response *tc_call(tc_t *c, const Seglog__V1__Request *req)
{
    if (tc_send(c, req) != 0)
        return NULL;
    return tc_recv(c, TC_TIMEOUT_MS);
}

void tc_free(Seglog__V1__Response **r_p)
{
    if (r_p && *r_p)
        seglog__v1__response__free_unpacked(*r_p, NULL);
    if (r_p)
        *r_p = NULL;
}

Seglog__V1__Response *tc_produce(tc_t *c, const char *topic, size_t n, const char *const *values)
{
    Seglog__V1__Record *recs = calloc(n ? n : 1, sizeof *recs);
    Seglog__V1__Record **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    Seglog__V1__Response *r = NULL;
    if (recs && ptrs) {
        for (size_t i = 0; i < n; i++) {
            seglog__v1__record__init(&recs[i]);
            recs[i].value.data = (uint8_t *)values[i];
            recs[i].value.len = strlen(values[i]);
            ptrs[i] = &recs[i];
        }
        Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
        p.topic = (char *)topic;
        p.n_records = n;
        p.records = ptrs;
        Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
        req.id = 1;
        req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
        req.produce = &p;
        r = tc_call(c, &req);
    }
    free(recs);
    free(ptrs);
    return r;
}

Seglog__V1__Response *tc_produce_bytes(tc_t *c, const char *topic, const void *value, size_t len)
{
    Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
    rec.value.data = (uint8_t *)value;
    rec.value.len = len;
    Seglog__V1__Record *ptr = &rec;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    p.topic = (char *)topic;
    p.n_records = 1;
    p.records = &ptr;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 2;
    req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
    req.produce = &p;
    return tc_call(c, &req);
}

Seglog__V1__Response *tc_consume(tc_t *c, const char *topic, uint64_t offset, uint32_t max_records,
                                 uint32_t max_bytes)
{
    Seglog__V1__ConsumeRequest q = SEGLOG__V1__CONSUME_REQUEST__INIT;
    q.topic = (char *)topic;
    q.offset = offset;
    q.max_records = max_records;
    q.max_bytes = max_bytes;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 3;
    req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
    req.consume = &q;
    return tc_call(c, &req);
}

Seglog__V1__Response *tc_offsets(tc_t *c, const char *topic)
{
    Seglog__V1__OffsetsRequest q = SEGLOG__V1__OFFSETS_REQUEST__INIT;
    q.topic = (char *)topic;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 4;
    req.body_case = SEGLOG__V1__REQUEST__BODY_OFFSETS;
    req.offsets = &q;
    return tc_call(c, &req);
}

Seglog__V1__Response *tc_truncate(tc_t *c, const char *topic, uint64_t lowest)
{
    Seglog__V1__TruncateRequest q = SEGLOG__V1__TRUNCATE_REQUEST__INIT;
    q.topic = (char *)topic;
    q.lowest_offset = lowest;
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    req.id = 5;
    req.body_case = SEGLOG__V1__REQUEST__BODY_TRUNCATE;
    req.truncate = &q;
    return tc_call(c, &req);
}

int tc_error_code(const Seglog__V1__Response *r)
{
    if (!r)
        return -1;
    if (r->body_case != SEGLOG__V1__RESPONSE__BODY_ERROR || !r->error)
        return 0;
    return (int)r->error->code;
}

void ts_config(seglog_server_config_t *cfg)
{
    seglog_server_config_default(cfg);
    cfg->bind = "tcp://127.0.0.1:*";
    cfg->pub = "tcp://127.0.0.1:*";
    cfg->workers = 2;
    cfg->sync = SEGLOG_SYNC_NONE;
    cfg->heartbeat_ms = 100;
}

ts_t *ts_start(const seglog_server_config_t *cfg)
{
    ts_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (cfg)
        t->cfg = *cfg;
    else
        ts_config(&t->cfg);
    t->dir = tu_tempdir("server");
    t->cfg.data_dir = t->dir;
    if (!t->dir || seglog_server_new(&t->cfg, &t->srv) != 0) {
        tu_rmrf(&t->dir);
        free(t);
        return NULL;
    }
    return t;
}

int ts_restart(ts_t *t)
{
    seglog_server_destroy(&t->srv);
    return seglog_server_new(&t->cfg, &t->srv);
}

void ts_stop(ts_t **t_p, int remove)
{
    if (!t_p || !*t_p)
        return;
    ts_t *t = *t_p;
    seglog_server_destroy(&t->srv);
    if (remove) {
        tu_rmrf(&t->dir);
        free(t);
        *t_p = NULL;
    }
}
