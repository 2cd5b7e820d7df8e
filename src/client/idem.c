/* idem.c - idempotent produce in the client (seglog/client.h,
 * "Idempotent produce"): one producer id per client, asked of the server
 * (InitProducerId) before the first produce, and one batch sequence per
 * topic. A batch keeps its id and sequence through every resend (the
 * encoded request is resent as it is), so the server appends it once.
 * After any failed batch the id is dropped and a new one is asked before
 * the next batch: the server's state for the old one is then unknown (the
 * batch may or may not be stored), and a new producer starts clean. */
#include "client_impl.h"

#include <stdlib.h>
#include <string.h>

int slc_idem_next(seglog_client_t *c, const char *topic, uint64_t *pid, uint64_t *seq)
{
    *pid = *seq = 0;
    if (c->opts.disable_idempotence || c->idem_off)
        return 0;
    if (!c->pid) {
        slc_request_t req = {.kind = SLC_INIT_PRODUCER_ID};
        slc_response_t resp;
        int rc = slc_client_call(c, &req, &resp);
        if (rc == SEGLOG_CLIENT_E_BAD_REQUEST) { /* a server older than idempotence */
            c->idem_off = 1;
            return 0;
        }
        if (rc)
            return rc;
        if (resp.kind != SLC_INIT_PRODUCER_ID)
            return slc_rpc_fail(&c->rpc, SEGLOG_CLIENT_E_PROTOCOL,
                                "unexpected reply to InitProducerId");
        c->pid = resp.producer_id;
        for (size_t i = 0; i < c->nseqs; i++)
            free(c->seqs[i].topic);
        c->nseqs = 0;
    }
    size_t i = 0;
    while (i < c->nseqs && strcmp(c->seqs[i].topic, topic) != 0)
        i++;
    if (i == c->nseqs) {
        if (c->nseqs == c->seqs_cap) {
            size_t cap = c->seqs_cap ? c->seqs_cap * 2 : 8;
            void *v = realloc(c->seqs, cap * sizeof *c->seqs);
            if (!v)
                return SEGLOG_CLIENT_E_NOMEM;
            c->seqs = v;
            c->seqs_cap = cap;
        }
        if (!(c->seqs[i].topic = strdup(topic)))
            return SEGLOG_CLIENT_E_NOMEM;
        c->seqs[i].next = 0;
        c->nseqs++;
    }
    *pid = c->pid;
    *seq = c->seqs[i].next++;
    return 0;
}

void slc_idem_failed(seglog_client_t *c, uint64_t pid)
{
    if (pid && pid == c->pid)
        c->pid = 0;
}

void slc_idem_fini(seglog_client_t *c)
{
    for (size_t i = 0; i < c->nseqs; i++)
        free(c->seqs[i].topic);
    free(c->seqs);
    c->seqs = NULL;
    c->nseqs = c->seqs_cap = 0;
}
