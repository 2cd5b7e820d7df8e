/* error.c - seglog_client_strerror(): one description for every code. */
#include "seglog/client.h"

#include <zmq.h>

const char *seglog_client_strerror(int err)
{
    if (err > 0)
        return zmq_strerror(err); /* errno values, and ZeroMQ's own (ETERM, ...) */
    switch (err) {
    case SEGLOG_CLIENT_OK:
        return "success";
    case SEGLOG_CLIENT_E_BAD_REQUEST:
        return "bad request";
    case SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE:
        return "offset out of range";
    case SEGLOG_CLIENT_E_OFFSET_TRUNCATED:
        return "offset truncated";
    case SEGLOG_CLIENT_E_RECORD_TOO_LARGE:
        return "record too large";
    case SEGLOG_CLIENT_E_BATCH_TOO_LARGE:
        return "batch too large";
    case SEGLOG_CLIENT_E_INVALID_TOPIC:
        return "invalid topic";
    case SEGLOG_CLIENT_E_UNKNOWN_TOPIC:
        return "unknown topic";
    case SEGLOG_CLIENT_E_RESOURCE_EXHAUSTED:
        return "server resource exhausted";
    case SEGLOG_CLIENT_E_INTERNAL:
        return "internal server error";
    case SEGLOG_CLIENT_E_STORAGE:
        return "server storage error";
    case SEGLOG_CLIENT_E_CORRUPT:
        return "stored data corrupt";
    case SEGLOG_CLIENT_E_NOT_ENOUGH_REPLICAS:
        return "not enough in-sync replicas";
    case SEGLOG_CLIENT_E_OUT_OF_ORDER_SEQUENCE:
        return "out of order producer sequence";
    case SEGLOG_CLIENT_E_UNKNOWN_GROUP:
        return "unknown consumer group";
    case SEGLOG_CLIENT_E_UNAUTHENTICATED:
        return "unauthenticated";
    case SEGLOG_CLIENT_E_PERMISSION_DENIED:
        return "permission denied";
    case SEGLOG_CLIENT_E_NOT_LEADER:
        return "not the leader";
    case SEGLOG_CLIENT_E_SERVER_ERROR:
        return "unknown server error";
    case SEGLOG_CLIENT_E_INVAL:
        return "invalid argument";
    case SEGLOG_CLIENT_E_NOMEM:
        return "out of memory";
    case SEGLOG_CLIENT_E_TIMEOUT:
        return "server did not reply";
    case SEGLOG_CLIENT_E_PROTOCOL:
        return "protocol error";
    case SEGLOG_CLIENT_E_AGAIN:
        return "nothing available yet";
    case SEGLOG_CLIENT_E_EPOCH_CHANGED:
        return "log was reset (epoch changed)";
    case SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE:
        return "request larger than the server's message limit";
    default:
        return "unknown error";
    }
}
