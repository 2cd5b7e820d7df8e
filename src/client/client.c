/* client.c - the synchronous calls of seglog/client.h */
#include "client_impl.h"

#include <stdlib.h>
#include <string.h>

/* A stopped server is reported after one timeout (no connection: nothing
 * to resend); a silent one after (1 + retries) timeouts, 6 s. */
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_RETRIES    2

void seglog_client_options_default(seglog_client_options_t *opts)
{
    memset(opts, 0, sizeof *opts); /* acks DEFAULT, no CURVE keys */
    opts->timeout_ms = DEFAULT_TIMEOUT_MS;
    opts->retries = DEFAULT_RETRIES;
}

int seglog_client_connect(const char *endpoint, const char *pub_endpoint,
                          const seglog_client_options_t *opts, seglog_client_t **client_p)
{
    if (!endpoint || !*endpoint || !client_p)
        return SEGLOG_CLIENT_E_INVAL;
    *client_p = NULL;
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    if (opts) {
        if (opts->timeout_ms <= 0 || opts->retries < 0)
            return SEGLOG_CLIENT_E_INVAL;
        o = *opts;
    }
    seglog_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return SEGLOG_CLIENT_E_NOMEM;
    c->opts = o;
    int keys = (o.curve_server_key != NULL) + (o.curve_public_key != NULL) +
               (o.curve_secret_key != NULL);
    if (keys) {
        if (keys != 3 || strlen(o.curve_server_key) != 40 || strlen(o.curve_public_key) != 40 ||
            strlen(o.curve_secret_key) != 40) {
            free(c);
            return SEGLOG_CLIENT_E_INVAL; /* all three keys, 40 Z85 characters each */
        }
        memcpy(c->curve.server, o.curve_server_key, 41);
        memcpy(c->curve.pub, o.curve_public_key, 41);
        memcpy(c->curve.sec, o.curve_secret_key, 41);
    }
    c->opts.curve_server_key = c->opts.curve_public_key = c->opts.curve_secret_key = NULL;
    c->ctx = zmq_ctx_new();
    c->arena = slc_arena_new();
    if (pub_endpoint && *pub_endpoint)
        c->pub_endpoint = strdup(pub_endpoint);
    if (!c->ctx || !c->arena || (pub_endpoint && *pub_endpoint && !c->pub_endpoint)) {
        seglog_client_destroy(&c);
        return SEGLOG_CLIENT_E_NOMEM;
    }
    int rc = slc_route_parse(c, endpoint);
    for (int i = 1; rc == 0 && i < c->nboot; i++) { /* every entry must be one ZeroMQ takes */
        rc = slc_rpc_init(&c->rpc, c->ctx, &c->curve, c->boot[i], o.timeout_ms, o.retries, 1000);
        slc_rpc_fini(&c->rpc);
    }
    if (rc == 0)
        rc = slc_rpc_init(&c->rpc, c->ctx, &c->curve, c->boot[0], o.timeout_ms, o.retries, 1000);
    if (rc) {
        seglog_client_destroy(&c);
        return rc;
    }
    *client_p = c;
    return 0;
}

void seglog_client_destroy(seglog_client_t **client_p)
{
    if (!client_p || !*client_p)
        return;
    seglog_client_t *c = *client_p;
    slc_rpc_fini(&c->rpc);
    slc_route_fini(c);
    slc_idem_fini(c);
    if (c->ctx)
        zmq_ctx_term(c->ctx); /* every socket has linger 0: this does not wait */
    slc_arena_destroy(&c->arena);
    free(c->pub_endpoint);
    memset(c->curve.sec, 0, sizeof c->curve.sec);
    free(c);
    *client_p = NULL;
}

const char *seglog_client_errmsg(const seglog_client_t *client)
{
    return client ? client->rpc.errmsg : "";
}

static int s_call(seglog_client_t *c, slc_request_t *req, slc_response_t *resp)
{
    return slc_client_call(c, req, resp);
}

int seglog_client_produce(seglog_client_t *c, const char *topic, const void *value, size_t len,
                          uint64_t *offset)
{
    if (!c || (!value && len))
        return SEGLOG_CLIENT_E_INVAL;
    seglog_record_t rec = {.value = value, .value_len = len};
    return seglog_client_produce_batch(c, topic, &rec, 1, offset);
}

/* One request for a topic's leader (a produce, a group's commit or
 * fetch): to that leader in cluster mode. */
static int s_leader_call(seglog_client_t *c, slc_request_t *req, slc_response_t *resp)
{
    int rc;
    int64_t deadline = slc_route_deadline(c);
    if (c->mode == 0 && c->nboot > 1) { /* a list: is it a cluster? */
        rc = slc_route_refresh(c, deadline, NULL, NULL);
        if (rc && rc != SEGLOG_CLIENT_E_BAD_REQUEST)
            return rc;
    }
    if (c->mode == 1) {
        rc = slc_route_produce(c, req, resp, deadline);
    } else {
        /* A single endpoint (or a standalone server): as before, until a
         * node says it does not lead the topic. */
        rc = s_call(c, req, resp);
        if (rc == SEGLOG_CLIENT_E_NOT_LEADER) {
            c->mode = 1;
            slc_route_set(c, slc_route_topic(req), resp->leader_endpoint);
            rc = slc_route_produce(c, req, resp, deadline);
        }
    }
    return rc;
}

/* One produce request; resp is the ProduceResponse of all n records. */
static int s_produce(seglog_client_t *c, slc_request_t *req, slc_response_t *resp)
{
    int rc = s_leader_call(c, req, resp);
    if (rc)
        return rc;
    if (resp->count != req->nrecords)
        return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_PROTOCOL,
                            "the server appended %u records of a batch of %zu", resp->count,
                            req->nrecords);
    return 0;
}

int seglog_client_produce_batch(seglog_client_t *c, const char *topic,
                                const seglog_record_t *records, size_t n, uint64_t *first)
{
    if (!c || (!records && n))
        return SEGLOG_CLIENT_E_INVAL;
    int rc = slc_limits_check(c, records, n, NULL, 0);
    if (rc)
        return rc;
    slc_request_t req = {.kind = SLC_PRODUCE,
                         .topic = slc_topic(topic),
                         .records = records,
                         .nrecords = n,
                         .acks = c->opts.acks};
    slc_response_t resp;
    /* Idempotent: every resend below (Lazy Pirate, NOT_LEADER, failover)
     * carries the same producer id and sequence (idem.c). */
    rc = slc_idem_next(c, req.topic, &req.producer_id, &req.sequence);
    if (rc)
        return rc;
    rc = s_produce(c, &req, &resp);
    if (rc) {
        slc_idem_failed(c, req.producer_id);
        return rc;
    }
    if (first)
        *first = resp.offset;
    return 0;
}

int seglog_client_consume_range(seglog_client_t *c, const char *topic, uint64_t offset,
                                uint32_t max_records, uint32_t max_bytes, seglog_batch_t *batch)
{
    return seglog_client_consume_wait(c, topic, offset, max_records, max_bytes, 0, batch);
}

int seglog_client_consume_wait(seglog_client_t *c, const char *topic, uint64_t offset,
                               uint32_t max_records, uint32_t max_bytes, uint32_t max_wait_ms,
                               seglog_batch_t *batch)
{
    if (!c || !batch)
        return SEGLOG_CLIENT_E_INVAL;
    /* Defined on every return: empty unless the call succeeds. (gcc -O3
     * cannot see that slc_rpc_fail returns its nonzero err, and rightly
     * warned that the caller could read an unset batch.) */
    *batch = (seglog_batch_t){0};
    slc_request_t req = {.kind = SLC_CONSUME,
                         .topic = slc_topic(topic),
                         .offset = offset,
                         .max_records = max_records,
                         .max_bytes = max_bytes,
                         .max_wait_ms = max_wait_ms};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    /* The records must be the ones asked for: dense, from offset on. */
    for (size_t i = 0; i < resp.nrecords; i++)
        if (resp.records[i].offset != offset + i)
            return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_PROTOCOL,
                                "consume from %llu returned offset %llu at position %zu",
                                (unsigned long long)offset,
                                (unsigned long long)resp.records[i].offset, i);
    batch->records = resp.records;
    batch->count = resp.nrecords;
    batch->next_offset = resp.next_offset;
    batch->lowest_offset = resp.lowest_offset;
    batch->end_offset = resp.end_offset;
    return 0;
}

int seglog_client_consume(seglog_client_t *c, const char *topic, uint64_t offset,
                          seglog_record_t *record)
{
    if (!record)
        return SEGLOG_CLIENT_E_INVAL;
    seglog_batch_t b;
    int rc = seglog_client_consume_range(c, topic, offset, 1, 0, &b);
    if (rc)
        return rc;
    if (b.count == 0) /* offset == next offset: nothing there yet */
        return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_OFFSET_OUT_OF_RANGE,
                            "no record at offset %llu yet (the log ends there)",
                            (unsigned long long)offset);
    *record = b.records[0];
    return 0;
}

int seglog_client_offsets(seglog_client_t *c, const char *topic, seglog_offsets_t *out)
{
    if (!c || !out)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {.kind = SLC_OFFSETS, .topic = slc_topic(topic)};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    out->lowest_offset = resp.lowest_offset;
    out->next_offset = resp.next_offset;
    out->committed_offset = resp.committed_offset;
    out->epoch = resp.epoch;
    return 0;
}

int seglog_client_offset_for_time(seglog_client_t *c, const char *topic, uint64_t timestamp_ms,
                                  uint64_t *offset)
{
    if (!c || !offset)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {
        .kind = SLC_OFFSET_FOR_TIME, .topic = slc_topic(topic), .timestamp_ms = timestamp_ms};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    *offset = resp.offset;
    return 0;
}

int seglog_client_topic_config(seglog_client_t *c, const char *topic,
                               const seglog_config_entry_t *set, size_t n,
                               const seglog_config_entry_t **entries, size_t *n_out)
{
    if (!c || (!set && n) || n > 16 || !entries || !n_out)
        return SEGLOG_CLIENT_E_INVAL;
    *entries = NULL;
    *n_out = 0;
    slc_request_t req = {
        .kind = SLC_TOPIC_CONFIG, .topic = slc_topic(topic), .config = set, .nconfig = n};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    *entries = resp.config;
    *n_out = resp.nconfig;
    return 0;
}

int seglog_client_truncate(seglog_client_t *c, const char *topic, uint64_t lowest,
                           uint64_t *new_lowest)
{
    if (!c)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {.kind = SLC_TRUNCATE, .topic = slc_topic(topic), .offset = lowest};
    slc_response_t resp;
    int rc = s_leader_call(c, &req, &resp); /* the leader truncates, followers follow */
    if (rc)
        return rc;
    if (new_lowest)
        *new_lowest = resp.lowest_offset;
    return 0;
}

int seglog_client_list_topics(seglog_client_t *c, const seglog_topic_info_t **topics, size_t *n)
{
    if (!c || !topics || !n)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {.kind = SLC_LIST_TOPICS};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    *topics = resp.topics;
    *n = resp.ntopics;
    return 0;
}

int seglog_client_metadata(seglog_client_t *c, seglog_cluster_info_t *out)
{
    if (!c || !out)
        return SEGLOG_CLIENT_E_INVAL;
    *out = (seglog_cluster_info_t){0};
    slc_request_t req = {.kind = SLC_METADATA};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    *out = resp.cluster;
    /* Route from it too (copies; the answer stays in the arena). */
    seglog_cluster_info_t copy = resp.cluster;
    slc_route_learn(c, &copy);
    return 0;
}

int seglog_client_create_topic(seglog_client_t *c, const char *topic, uint32_t replicas,
                               int *created, uint32_t *replicas_out)
{
    if (!c || replicas > 16)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {
        .kind = SLC_CREATE_TOPIC, .topic = slc_topic(topic), .replicas = replicas};
    slc_response_t resp;
    int rc = s_call(c, &req, &resp);
    if (rc)
        return rc;
    if (created)
        *created = resp.found;
    if (replicas_out)
        *replicas_out = resp.count;
    return 0;
}

int seglog_client_delete_topic(seglog_client_t *c, const char *topic)
{
    if (!c)
        return SEGLOG_CLIENT_E_INVAL;
    if (!topic || !*topic) /* deleting "default" by omission is too easy */
        return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_INVAL, "delete needs a topic name");
    slc_request_t req = {.kind = SLC_DELETE_TOPIC, .topic = topic};
    slc_response_t resp;
    return s_call(c, &req, &resp);
}

/* ---- consumer groups ---------------------------------------------------- */

int seglog_client_commit_offset(seglog_client_t *c, const char *group, const char *topic,
                                uint64_t offset, const char *metadata)
{
    if (!c || !group)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {.kind = SLC_COMMIT_OFFSET,
                         .topic = slc_topic(topic),
                         .group = group,
                         .offset = offset,
                         .metadata = metadata ? metadata : "",
                         .route_topic = SEGLOG_GROUPS_TOPIC};
    slc_response_t resp;
    return s_leader_call(c, &req, &resp);
}

int seglog_client_fetch_offset(seglog_client_t *c, const char *group, const char *topic,
                               int *found, uint64_t *offset, const char **metadata)
{
    if (!c || !group || !found || !offset)
        return SEGLOG_CLIENT_E_INVAL;
    slc_request_t req = {.kind = SLC_FETCH_OFFSET,
                         .topic = slc_topic(topic),
                         .group = group,
                         .route_topic = SEGLOG_GROUPS_TOPIC};
    slc_response_t resp;
    int rc = s_leader_call(c, &req, &resp);
    if (rc)
        return rc;
    *found = resp.found;
    *offset = resp.found ? resp.offset : 0;
    if (metadata)
        *metadata = resp.found ? resp.message : "";
    return 0;
}
