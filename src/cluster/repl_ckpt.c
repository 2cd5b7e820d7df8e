/* repl_ckpt.c - the repl thread's side of the HW checkpoint (hwckpt.h;
 * docs/CLUSTER.md, "The checkpointed HW"): load it at start, apply it when
 * a topic's local log is opened, and write what this node knows every
 * --hw-checkpoint-ms, when a truncation lowered an HW, and at a clean stop.
 *
 * Why applying it is safe: an HW this node ever learned bounds records that
 * were on every ISR member of that leader (acks=all committed). They
 * survive every failover the design allows, so showing them again after a
 * restart never shows a record that can vanish. The HW is applied only to
 * the same incarnation of the topic (the ZooKeeper log_id) and never above
 * the local log end; a later truncation lowers it (repl_follower.c). */
#include "repl_int.h"

#include "clog.h"
#include "topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_repl_ckpt_load(sl_repl_t *r)
{
    if (!r->cfg.data_dir)
        return;
    int rc = sl_hwckpt_load(r->cfg.data_dir, &r->ck, &r->nck);
    if (rc == 0 && r->nck > 0)
        sl_clog(SL_CLOG_INFO, "high watermark checkpoint: %d topics in %s/%s", r->nck,
                r->cfg.data_dir, SL_HWCKPT_FILE);
    else if (rc)
        sl_clog(SL_CLOG_WARN,
                "high watermark checkpoint %s/%s not used (%s): every topic's HW "
                "starts at 0 until its first fetch; the file is rewritten",
                r->cfg.data_dir, SL_HWCKPT_FILE, rc > 0 ? strerror(rc) : sl_cl_strerror(rc));
}

static const sl_hwckpt_entry_t *s_entry(sl_repl_t *r, const char *name)
{
    for (int i = 0; i < r->nck; i++)
        if (strcmp(r->ck[i].name, name) == 0)
            return &r->ck[i];
    return NULL;
}

void sl_repl_ckpt_apply(sl_repl_t *r, rtopic_t *rt)
{
    const sl_hwckpt_entry_t *e = s_entry(r, rt->name);
    if (!e || !rt->tp)
        return;
    if (e->log_id != rt->meta.log_id) { /* deleted and created again, or no log_id */
        sl_clog(SL_CLOG_INFO,
                "topic %s: the high watermark checkpoint is of another "
                "incarnation (log id %016" PRIx64 ", the topic's %016" PRIx64 "): not used",
                rt->name, e->log_id, rt->meta.log_id);
        return;
    }
    uint64_t next = 0;
    seglog_log_next_offset(rt->tp->log, &next);
    uint64_t hw = e->hw < next ? e->hw : next;
    if (hw > atomic_load(&rt->hw)) {
        atomic_store(&rt->hw, hw);
        sl_topic_limit_set(rt->tp, hw);
    }
    sl_clog(SL_CLOG_INFO,
            "topic %s: high watermark %" PRIu64 " from the checkpoint "
            "(checkpointed %" PRIu64 ", log end %" PRIu64 ")",
            rt->name, atomic_load(&rt->hw), e->hw, next);
}

/* A loaded entry not superseded by a topic open here: kept while it may
 * still apply (its topic not read from ZooKeeper yet, or its log not
 * openable now), dropped once ZooKeeper says it is gone or another
 * incarnation. */
static int s_keep_loaded(sl_repl_t *r, const sl_hwckpt_entry_t *e)
{
    rtopic_t *rt = sl_repl_find(r, e->name);
    if (!rt || !atomic_load(&rt->have_state))
        return !r->ck_listed;
    return !rt->tp && rt->meta.log_id == e->log_id;
}

int sl_repl_ckpt_write(sl_repl_t *r)
{
    if (!r->cfg.data_dir)
        return 0;
    int cap = r->nck;
    for (rtopic_t *rt = r->topics; rt; rt = rt->next)
        cap++;
    sl_hwckpt_entry_t *e = calloc((size_t)(cap > 0 ? cap : 1), sizeof *e);
    if (!e)
        return SL_CL_ENOMEM;
    int n = 0;
    for (rtopic_t *rt = r->topics; rt; rt = rt->next) {
        if (!rt->tp || !rt->meta.log_id || !atomic_load(&rt->have_state))
            continue;
        snprintf(e[n].name, sizeof e[n].name, "%s", rt->name);
        e[n].log_id = rt->meta.log_id;
        e[n++].hw = atomic_load(&rt->hw);
    }
    for (int i = 0; i < r->nck; i++)
        if (s_keep_loaded(r, &r->ck[i]))
            e[n++] = r->ck[i];
    size_t len = 0;
    char *text = sl_hwckpt_format(e, n, &len);
    free(e);
    if (!text)
        return SL_CL_ENOMEM;
    if (r->ck_text && r->ck_len == len && memcmp(r->ck_text, text, len) == 0) {
        free(text); /* nothing moved */
        return 0;
    }
    int rc = sl_hwckpt_store(r->cfg.data_dir, text, len);
    if (rc) {
        sl_clog(SL_CLOG_WARN, "writing the high watermark checkpoint %s/%s failed: %s",
                r->cfg.data_dir, SL_HWCKPT_FILE, strerror(rc));
        free(text);
        return rc;
    }
    free(r->ck_text);
    r->ck_text = text;
    r->ck_len = len;
    return 0;
}

void sl_repl_ckpt_tick(sl_repl_t *r, int64_t now)
{
    if (!r->cfg.data_dir || now < r->ck_next_ms)
        return;
    r->ck_next_ms = now + (r->cfg.hw_checkpoint_ms > 0 ? r->cfg.hw_checkpoint_ms : 5000);
    sl_repl_ckpt_write(r);
}

void sl_repl_ckpt_free(sl_repl_t *r)
{
    free(r->ck);
    r->ck = NULL;
    r->nck = 0;
    free(r->ck_text);
    r->ck_text = NULL;
}
