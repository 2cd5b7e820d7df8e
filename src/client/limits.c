/*
 * limits.c - the server's version and limits (InfoRequest), cached in the
 * client, and the checks that refuse a produce the server would refuse
 * (or drop the connection for) before anything is sent. See
 * seglog_client_info in seglog/client.h.
 */
#include "client_impl.h"

#include <stdio.h>
#include <string.h>

/* Ask the server, unless the cache is fresh. 0 with info_state set (1 or
 * -1), or the error of the call. */
static int s_refresh(seglog_client_t *c)
{
    if (c->info_state != 0 && c->info_gen == c->rpc.generation)
        return 0;
    slc_request_t req = {.kind = SLC_INFO};
    slc_response_t resp;
    int rc = slc_client_call(c, &req, &resp);
    if (rc == SEGLOG_CLIENT_E_BAD_REQUEST) {
        /* A server older than Info: it checks what it checks. */
        c->info_state = -1;
        c->info_gen = c->rpc.generation;
        c->rpc.max_msg = 0;
        return 0;
    }
    if (rc == SEGLOG_CLIENT_E_TIMEOUT && c->info_state != 0) {
        /* The server is unreachable: keep what it said last time and let the
         * request itself meet the outage; do not ask again on this socket. */
        c->info_gen = c->rpc.generation;
        return 0;
    }
    if (rc)
        return rc;
    c->info = resp.info;
    c->info_state = 1;
    c->info_gen = c->rpc.generation;
    c->rpc.max_msg = resp.info.max_message_bytes;
    return 0;
}

int seglog_client_info(seglog_client_t *c, seglog_server_info_t *out)
{
    if (!c || !out)
        return SEGLOG_CLIENT_E_INVAL;
    int rc = s_refresh(c);
    if (rc)
        return rc;
    if (c->info_state < 0)
        return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_BAD_REQUEST,
                            "the server at %s does not answer Info requests (it is older than "
                            "this client)",
                            c->rpc.endpoint);
    *out = c->info;
    return 0;
}

static int s_refuse(seglog_client_t *c, char *errmsg, size_t cap, int err)
{
    if (errmsg)
        snprintf(errmsg, cap, "%s", c->rpc.errmsg);
    return err;
}

int slc_limits_check(seglog_client_t *c, const seglog_record_t *records, size_t n, char *errmsg,
                     size_t cap)
{
    int rc = s_refresh(c);
    if (rc)
        return s_refuse(c, errmsg, cap, rc);
    if (c->info_state < 0)
        return 0;
    const seglog_server_info_t *in = &c->info;
    if (in->max_batch_records && n > in->max_batch_records) {
        slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_BAD_REQUEST,
                     "a batch of %zu records; the server at %s takes at most %u per produce", n,
                     c->rpc.endpoint, in->max_batch_records);
        return s_refuse(c, errmsg, cap, SEGLOG_CLIENT_E_BAD_REQUEST);
    }
    for (size_t i = 0; in->max_record_bytes && i < n; i++) {
        size_t size = records[i].key_len + records[i].value_len;
        if (size > in->max_record_bytes) {
            slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_RECORD_TOO_LARGE,
                         "record %zu of the batch is %zu bytes (key + value); the server at %s "
                         "takes at most %u (seglogd --max-record-bytes)",
                         i, size, c->rpc.endpoint, in->max_record_bytes);
            return s_refuse(c, errmsg, cap, SEGLOG_CLIENT_E_RECORD_TOO_LARGE);
        }
    }
    return 0;
}

int slc_limits_check_size(const seglog_client_t *c, slc_rpc_t *rpc, size_t size)
{
    if (c->info_state <= 0 || !c->info.max_message_bytes || size <= c->info.max_message_bytes)
        return 0;
    return slc_rpc_fail(rpc, SEGLOG_CLIENT_E_MESSAGE_TOO_LARGE,
                        "the request is %zu bytes; the server at %s takes messages of at most "
                        "%llu bytes (seglogd: 4 x --max-record-bytes + 64K)",
                        size, c->rpc.endpoint, (unsigned long long)c->info.max_message_bytes);
}
