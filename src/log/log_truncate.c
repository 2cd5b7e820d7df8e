/* log_truncate.c - structural changes: front truncation (whole sealed
 * segments), reset and remove. */
#include "log_internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- front truncation, reset --------------------------------------------- */

int seglog_log_truncate(seglog_log_t *log, uint64_t lowest, uint64_t *new_lowest)
{
    if (!log)
        return SEGLOG_E_INVAL;
    pthread_rwlock_wrlock(&log->lock);
    if (log->closed) {
        pthread_rwlock_unlock(&log->lock);
        return SEGLOG_E_CLOSED;
    }
    size_t k = 0;
    int rc = 0;
    while (k + 1 < log->nsegs && sl_segment_next(log->segs[k]) <= lowest) {
        int r = sl_segment_remove(&log->segs[k]);
        if (r && rc == 0)
            rc = r;
        k++;
    }
    if (k > 0) {
        memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *log->segs);
        log->nsegs -= k;
        int r = sl_log_fsync_dir(log);
        if (rc == 0)
            rc = r;
    }
    if (new_lowest)
        *new_lowest = log->segs[0]->base;
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_log_reset(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_wrlock(&log->lock);
    int rc = 0;
    if (log->closed) {
        rc = SEGLOG_E_CLOSED;
        goto out;
    }
    for (size_t i = 0; i < log->nsegs; i++) {
        int r = sl_segment_remove(&log->segs[i]);
        if (r && rc == 0)
            rc = r;
    }
    log->nsegs = 0;
    log->active = NULL;
    uint64_t epoch = sl_log_new_epoch();
    sl_segment_t *seg = NULL;
    int r = sl_segment_create(log->dir, log->cfg.initial_offset, epoch, &log->seg_cfg, &seg);
    if (r == 0 && (r = sl_log_push(log, seg)) != 0)
        sl_segment_close(&seg, 0);
    if (r) {
        /* Without an active segment the handle cannot serve: close it. */
        log->closed = 1;
        rc = r;
        goto out;
    }
    log->epoch = epoch;
    r = sl_log_fsync_dir(log);
    if (rc == 0)
        rc = r;
    pthread_mutex_lock(&log->sync_mu);
    sl_log_end_gen(log, SEGLOG_E_FAILED); /* appends waiting for a sync were dropped */
    log->committed = log->cfg.initial_offset;
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
out:
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

int seglog_log_remove(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    sl_log_stop_thread(log);
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_wrlock(&log->lock);
    if (log->closed) {
        pthread_rwlock_unlock(&log->lock);
        pthread_mutex_unlock(&log->append_mu);
        return SEGLOG_E_CLOSED;
    }
    int rc = 0;
    for (size_t i = 0; i < log->nsegs; i++) {
        int r = sl_segment_remove(&log->segs[i]);
        if (r && rc == 0)
            rc = r;
    }
    log->nsegs = 0;
    log->active = NULL;
    log->closed = 1;
    pthread_mutex_lock(&log->sync_mu);
    sl_log_end_gen(log, SEGLOG_E_CLOSED);
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    if (log->dir_fd >= 0) {
        close(log->dir_fd);
        log->dir_fd = -1;
    }
    /* The directory goes only if nothing else lives in it. */
    if (rmdir(log->dir) < 0 && rc == 0 && errno != ENOENT)
        rc = errno;
    return rc;
}
