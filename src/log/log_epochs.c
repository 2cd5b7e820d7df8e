/* log_epochs.c - the leader epoch cache of a log (Kafka's
 * leader-epoch-checkpoint), for replication's divergence handling
 * (KIP-101/KIP-279). The log core stores and trims the list; what an epoch
 * means is the caller's. Every call takes the append mutex, so the list
 * agrees with the offsets appends and cuts give out. Front truncation is
 * applied lazily: each call first moves the list's start up to the lowest
 * offset (and open does it too). */
#include "log_internal.h"

static uint64_t s_lowest(seglog_log_t *log)
{
    pthread_rwlock_rdlock(&log->lock);
    uint64_t lo = log->closed ? 0 : log->segs[0]->base;
    pthread_rwlock_unlock(&log->lock);
    return lo;
}

static uint64_t s_next(seglog_log_t *log)
{
    pthread_rwlock_rdlock(&log->lock);
    uint64_t nx = log->closed ? 0 : sl_segment_next(log->active);
    pthread_rwlock_unlock(&log->lock);
    return nx;
}

int sl_log_epochs_open(seglog_log_t *log)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    int rc = sl_epochs_load(v, log->dir, &log->epochs);
    if (rc) {
        sl_log_msg(log, SEGLOG_LEVEL_ERROR, "%s: cannot load %s: %s", log->dir, SL_EPOCHS_FILE,
                   seglog_strerror(rc));
        return rc;
    }
    /* Entries at or past the end describe records a crash (or an unfinished
     * cut) took away; entries below the lowest offset were truncated. */
    int changed = sl_epochs_trim_end(&log->epochs, sl_segment_next(log->active));
    changed |= sl_epochs_trim_front(&log->epochs, log->segs[0]->base);
    if (changed)
        rc = sl_epochs_store(v, log->dir, &log->epochs);
    return rc;
}

int sl_log_epochs_cut(seglog_log_t *log, uint64_t next)
{
    if (!sl_epochs_trim_end(&log->epochs, next))
        return 0;
    return sl_epochs_store(log->seg_cfg.vfs, log->dir, &log->epochs);
}

int seglog_log_leader_epoch_assign(seglog_log_t *log, uint64_t epoch, uint64_t start_offset)
{
    if (!log)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu);
    sl_epochs_t *ep = &log->epochs;
    int rc = log->closed ? SEGLOG_E_CLOSED : 0;
    if (rc)
        goto out;
    uint64_t lowest = s_lowest(log), next = s_next(log);
    sl_epochs_trim_front(ep, lowest);
    if (start_offset > next) {
        rc = SEGLOG_E_OFFSET_OUT_OF_RANGE;
        goto out;
    }
    if (start_offset < lowest) {
        rc = SEGLOG_E_OFFSET_TRUNCATED;
        goto out;
    }
    sl_epoch_entry_t *last = ep->n ? &ep->e[ep->n - 1] : NULL;
    if (last && epoch == last->epoch)
        goto out; /* already the current epoch */
    if (last && (epoch < last->epoch || start_offset < last->start)) {
        rc = SEGLOG_E_INVAL; /* both must grow */
        goto out;
    }
    if (last && start_offset == last->start) {
        /* The previous epoch has no records: the new one replaces it. */
        sl_epoch_entry_t old = *last;
        last->epoch = epoch;
        rc = sl_epochs_store(log->seg_cfg.vfs, log->dir, ep);
        if (rc)
            *last = old;
        goto out;
    }
    rc = sl_epochs_push(ep, epoch, start_offset);
    if (rc == 0 && (rc = sl_epochs_store(log->seg_cfg.vfs, log->dir, ep)) != 0)
        ep->n--;
out:
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

int seglog_log_leader_epoch_last(seglog_log_t *log, uint64_t *epoch, uint64_t *start_offset)
{
    if (!log)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu);
    int rc = log->closed ? SEGLOG_E_CLOSED : 0;
    if (rc == 0) {
        sl_epochs_trim_front(&log->epochs, s_lowest(log));
        if (log->epochs.n > 0) {
            const sl_epoch_entry_t *e = &log->epochs.e[log->epochs.n - 1];
            if (epoch)
                *epoch = e->epoch;
            if (start_offset)
                *start_offset = e->start;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

int seglog_log_leader_epoch_end_offset(seglog_log_t *log, uint64_t epoch, uint64_t *found_epoch,
                                       uint64_t *end_offset)
{
    if (!log)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu);
    int rc = log->closed ? SEGLOG_E_CLOSED : 0;
    if (rc)
        goto out;
    sl_epochs_t *ep = &log->epochs;
    sl_epochs_trim_front(ep, s_lowest(log));
    if (ep->n == 0 || epoch < ep->e[0].epoch || epoch > ep->e[ep->n - 1].epoch) {
        rc = SEGLOG_E_OFFSET_OUT_OF_RANGE;
        goto out;
    }
    size_t i = 0; /* the last entry whose epoch is <= epoch */
    while (i + 1 < ep->n && ep->e[i + 1].epoch <= epoch)
        i++;
    if (found_epoch)
        *found_epoch = ep->e[i].epoch;
    if (end_offset)
        *end_offset = i + 1 < ep->n ? ep->e[i + 1].start : s_next(log);
out:
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}
