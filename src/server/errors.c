/* errors.c - see errors.h */
#include "errors.h"

#include "seglog/log.h"

sl_wire_code_t sl_error_wire(int err)
{
    if (err > 0)
        return SL_WIRE_STORAGE; /* an errno from a system call: ENOSPC, EIO, EMFILE... */
    switch (err) {
    case SL_E_BAD_REQUEST:
        return SL_WIRE_BAD_REQUEST;
    case SL_E_INVALID_TOPIC:
        return SL_WIRE_INVALID_TOPIC;
    case SL_E_UNKNOWN_TOPIC:
        return SL_WIRE_UNKNOWN_TOPIC;
    case SL_E_TOO_MANY_TOPICS:
    case SL_E_TOO_MANY_WAITERS:
        return SL_WIRE_RESOURCE_EXHAUSTED;
    case SL_E_OUT_OF_ORDER_SEQUENCE:
        return SL_WIRE_OUT_OF_ORDER_SEQUENCE;
    case SL_E_UNKNOWN_GROUP:
        return SL_WIRE_UNKNOWN_GROUP;
    case SL_E_INTERNAL_TOPIC:
        return SL_WIRE_INVALID_TOPIC;
    case SEGLOG_SERVER_E_PERMISSION_DENIED:
        return SL_WIRE_PERMISSION_DENIED;
    case SEGLOG_E_INVAL:
        return SL_WIRE_BAD_REQUEST; /* the log refused an argument taken from the request */
    case SEGLOG_E_NOMEM:
        return SL_WIRE_INTERNAL;
    case SEGLOG_E_CLOSED:
        return SL_WIRE_INTERNAL; /* only during shutdown; workers stop before logs close */
    case SEGLOG_E_OFFSET_TRUNCATED:
        return SL_WIRE_OFFSET_TRUNCATED;
    case SEGLOG_E_OFFSET_OUT_OF_RANGE:
        return SL_WIRE_OFFSET_OUT_OF_RANGE;
    case SEGLOG_E_RECORD_TOO_LARGE:
        return SL_WIRE_RECORD_TOO_LARGE;
    case SEGLOG_E_BATCH_TOO_LARGE:
        return SL_WIRE_BATCH_TOO_LARGE;
    case SEGLOG_E_CORRUPT:
        return SL_WIRE_CORRUPT;
    case SEGLOG_E_FORMAT:
        return SL_WIRE_CORRUPT; /* a file the log cannot read is damaged data to the client */
    case SEGLOG_E_BUFFER_TOO_SMALL:
        return SL_WIRE_INTERNAL; /* the server sized a buffer wrong: a bug */
    case SEGLOG_E_LOCKED:
        return SL_WIRE_STORAGE; /* the topic directory is held by another process */
    case SEGLOG_E_FAILED:
        return SL_WIRE_STORAGE; /* a failed sync left the data in doubt */
    default:
        return SL_WIRE_INTERNAL;
    }
}

const char *seglog_server_strerror(int err)
{
    return sl_strerror(err);
}

const char *sl_strerror(int err)
{
    switch (err) {
    case SL_E_BAD_REQUEST:
        return "bad request";
    case SL_E_INVALID_TOPIC:
        return "invalid topic name";
    case SL_E_UNKNOWN_TOPIC:
        return "unknown topic";
    case SL_E_TOO_MANY_TOPICS:
        return "too many topics";
    case SL_E_TOO_MANY_WAITERS:
        return "too many long-poll consumes waiting";
    case SL_E_OUT_OF_ORDER_SEQUENCE:
        return "out of order sequence";
    case SL_E_UNKNOWN_GROUP:
        return "unknown group";
    case SL_E_INTERNAL_TOPIC:
        return "internal topic";
    case SEGLOG_SERVER_E_SECURITY:
        return "CURVE or ACL configuration unusable (see the log)";
    case SEGLOG_SERVER_E_PLAINTEXT:
        return "refusing to bind a non-loopback address in plaintext: set up CURVE ('seglog keygen "
               "server', then --curve-cert server.key_secret --clients-dir DIR; "
               "docs/SECURITY.md) or pass --allow-plaintext";
    case SEGLOG_SERVER_E_PERMISSION_DENIED:
        return "permission denied";
    default:
        return seglog_strerror(err);
    }
}
