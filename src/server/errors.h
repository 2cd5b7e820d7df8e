/*
 * errors.h - the server's error codes and the one mapping to the wire.
 *
 * The server uses the log core's convention: 0 is success, a negative value
 * is a library error, a positive value is an errno. The SEGLOG_E_* codes
 * (include/seglog/log.h) come from the log core; the server adds its own
 * negative codes below them (SEGLOG_SERVER_E_*, include/seglog/server.h). sl_error_wire() is the
 * only place that decides which ErrorCode a client sees for an error, and sl_strerror() describes
 * every code (it defers to seglog_strerror() for the log core's).
 */
#ifndef SL_ERRORS_H
#define SL_ERRORS_H

#include "codec.h"
#include "seglog/server.h"

/* Short internal names for the public SEGLOG_SERVER_E_* codes. */
enum {
    SL_E_BAD_REQUEST = SEGLOG_SERVER_E_BAD_REQUEST,
    SL_E_INVALID_TOPIC = SEGLOG_SERVER_E_INVALID_TOPIC,
    SL_E_UNKNOWN_TOPIC = SEGLOG_SERVER_E_UNKNOWN_TOPIC,
    SL_E_TOO_MANY_TOPICS = SEGLOG_SERVER_E_TOO_MANY_TOPICS,
    SL_E_TOO_MANY_WAITERS = SEGLOG_SERVER_E_TOO_MANY_WAITERS,
    SL_E_OUT_OF_ORDER_SEQUENCE = SEGLOG_SERVER_E_OUT_OF_ORDER_SEQUENCE,
    SL_E_UNKNOWN_GROUP = SEGLOG_SERVER_E_UNKNOWN_GROUP,
    SL_E_INTERNAL_TOPIC = SEGLOG_SERVER_E_INTERNAL_TOPIC,
};

/* The ErrorCode a client gets for err (err != 0). */
sl_wire_code_t sl_error_wire(int err);

/* Describe any error: server, log core or errno. */
const char *sl_strerror(int err);

#endif
