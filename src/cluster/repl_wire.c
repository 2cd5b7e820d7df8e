/* repl_wire.c - the replication messages on the wire (protobuf-c) and the
 * leader epoch of stored records. */
#include "repl_int.h"

#include <stdlib.h>
#include <string.h>

/* A varint; 0 and *p moved past it, or -1. */
static int s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

uint64_t sl_repl_stored_epoch(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t epoch = 0;
    while (p < end) {
        uint64_t tag, v;
        if (s_varint(&p, end, &tag))
            return epoch;
        switch (tag & 7) {
        case 0:
            if (s_varint(&p, end, &v))
                return epoch;
            if ((tag >> 3) == 5)
                epoch = v; /* last one wins, as protobuf parsers do */
            break;
        case 2:
            if (s_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return epoch;
            p += v;
            break;
        case 1:
            if (end - p < 8)
                return epoch;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return epoch;
            p += 4;
            break;
        default:
            return epoch;
        }
    }
    return epoch;
}

int sl_repl_epoch_at(seglog_log_t *log, uint64_t offset, uint64_t *epoch)
{
    void *data = NULL;
    size_t len = 0;
    int rc = seglog_log_read_alloc(log, offset, &data, &len);
    if (rc)
        return rc;
    *epoch = sl_repl_stored_epoch(data, len);
    free(data);
    return 0;
}

int sl_repl_epoch_end(seglog_log_t *log, uint64_t epoch, uint64_t *end)
{
    uint64_t lo = 0, hi = 0;
    int rc = seglog_log_lowest_offset(log, &lo);
    if (rc == 0)
        rc = seglog_log_next_offset(log, &hi);
    while (rc == 0 && lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, e = 0;
        rc = sl_repl_epoch_at(log, mid, &e);
        if (rc)
            break;
        if (e > epoch)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (rc == 0)
        *end = lo;
    return rc;
}

/* Send [rid][m] without blocking; m is closed either way. The frame's
 * bytes were allocated by libzmq (zmq_msg_init_size), so libzmq also frees
 * them, on its I/O thread: no free callback of ours runs there. */
static int s_send_msg(void *sock, zmq_msg_t *rid, zmq_msg_t *m)
{
    if (rid) {
        zmq_msg_t r;
        zmq_msg_init(&r);
        zmq_msg_copy(&r, rid);
        if (zmq_msg_send(&r, sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&r);
            zmq_msg_close(m);
            return -1;
        }
    }
    if (zmq_msg_send(m, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(m);
        return -1;
    }
    return 0;
}

int sl_repl_send(void *sock, zmq_msg_t *rid, const Seglog__V1__Response *resp)
{
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, seglog__v1__response__get_packed_size(resp)))
        return -1;
    seglog__v1__response__pack(resp, zmq_msg_data(&m));
    return s_send_msg(sock, rid, &m);
}

int sl_repl_send_req(void *sock, const Seglog__V1__Request *req)
{
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, seglog__v1__request__get_packed_size(req)))
        return -1;
    seglog__v1__request__pack(req, zmq_msg_data(&m));
    return s_send_msg(sock, NULL, &m);
}

int sl_repl_send_error(void *sock, zmq_msg_t *rid, uint64_t id, int code, const char *msg)
{
    Seglog__V1__Error e = SEGLOG__V1__ERROR__INIT;
    e.code = (Seglog__V1__ErrorCode)code;
    e.message = (char *)msg;
    Seglog__V1__Response r = SEGLOG__V1__RESPONSE__INIT;
    r.id = id;
    r.body_case = SEGLOG__V1__RESPONSE__BODY_ERROR;
    r.error = &e;
    return sl_repl_send(sock, rid, &r);
}
