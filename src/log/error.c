/* error.c - one strerror for library codes (negative) and errno (positive). */
#include "seglog/log.h"

#include <string.h>

const char *seglog_strerror(int err)
{
    switch (err) {
    case SEGLOG_OK:
        return "success";
    case SEGLOG_E_INVAL:
        return "invalid argument";
    case SEGLOG_E_NOMEM:
        return "out of memory";
    case SEGLOG_E_CLOSED:
        return "log is closed";
    case SEGLOG_E_OFFSET_TRUNCATED:
        return "offset is below the lowest offset (truncated away)";
    case SEGLOG_E_OFFSET_OUT_OF_RANGE:
        return "offset is at or past the next offset (not written yet)";
    case SEGLOG_E_RECORD_TOO_LARGE:
        return "record is larger than max_record_bytes";
    case SEGLOG_E_BATCH_TOO_LARGE:
        return "batch does not fit in an empty segment";
    case SEGLOG_E_CORRUPT:
        return "stored data is corrupt (checksum or structure mismatch)";
    case SEGLOG_E_FORMAT:
        return "file has an unknown format or version";
    case SEGLOG_E_BUFFER_TOO_SMALL:
        return "buffer too small for the record";
    case SEGLOG_E_LOCKED:
        return "log directory is already open (locked by another handle)";
    case SEGLOG_E_FAILED:
        return "a failed sync rolled back unacknowledged appends";
    case SEGLOG_E_AGAIN:
        return "not committed yet";
    case SEGLOG_E_CUT:
        return "records removed by truncate_after before they were committed";
    }
    if (err > 0)
        return strerror(err); /* glibc: thread-safe for known errno values */
    return "unknown error";
}
