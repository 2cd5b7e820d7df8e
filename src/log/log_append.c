/* log_append.c - appends (single, batch, nowait), rolls, the sync policies
 * with group commit and the commit tokens, and the rollback of unsynced
 * records after a failed sync. */
#include "log_internal.h"

#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>

/* Raise the committed offset to upto, as seen by a sync that started in
 * rollback generation gen. A rollback or reset since then (gen moved) cut
 * or dropped records that upto may cover: committed must never include
 * them, or their appends would be acknowledged and then lost. */
void sl_log_set_committed(seglog_log_t *log, uint64_t upto, uint64_t gen)
{
    pthread_mutex_lock(&log->sync_mu);
    int moved = gen == log->gen && upto > log->committed;
    if (moved)
        log->committed = upto;
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    if (moved && log->cfg.on_commit)
        log->cfg.on_commit(log->cfg.on_commit_arg, upto);
}

/* ---- sync ---------------------------------------------------------------- */

/* The current rollback generation. Caller holds append_mu, so that no
 * rollback or reset can run before it uses the value; and since every
 * change of gen holds append_mu too (sl_log_end_gen), no sync_mu is needed
 * to read it. */
uint64_t sl_log_gen(seglog_log_t *log)
{
    return log->gen;
}

/* Flush the active store and, if datasync, fdatasync it. *upto gets the
 * offset the sync covers and *gen the rollback generation it belongs to
 * (both taken under the append mutex, so they agree). The shared lock keeps
 * the segment alive while the sync runs outside the append mutex. */
static int s_sync_active(seglog_log_t *log, int datasync, uint64_t *upto, uint64_t *gen)
{
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_rdlock(&log->lock);
    if (log->closed) {
        pthread_rwlock_unlock(&log->lock);
        pthread_mutex_unlock(&log->append_mu);
        return SEGLOG_E_CLOSED;
    }
    sl_segment_t *seg = log->active;
    int rc = sl_segment_sync_data(seg, 0);
    *upto = sl_segment_next(seg);
    *gen = sl_log_gen(log);
    pthread_mutex_unlock(&log->append_mu);
    if (rc == 0 && datasync)
        rc = sl_store_datasync(seg->store);
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

/* End the current rollback generation (rollback, reset, remove,
 * truncate_after). Caller holds append_mu and sync_mu. An append of
 * generation g is in the log iff it was committed before g ended: gen_end
 * keeps that point for s_commit_wait. */
void sl_log_end_gen(seglog_log_t *log, int err)
{
    log->gen_end[log->gen % GEN_RING] = log->committed;
    log->last_err = err;
    /* Atomic for seglog_log_generation, which reads it holding no lock. */
    __atomic_store_n(&log->gen, log->gen + 1, __ATOMIC_RELEASE);
}

/* After a failed fdatasync under ALWAYS: nothing past the committed point
 * was acknowledged, and its pages may never reach the disk, so cut it. */
static void s_rollback(seglog_log_t *log, int err)
{
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_wrlock(&log->lock);
    pthread_mutex_lock(&log->sync_mu);
    uint64_t to = log->committed;
    /* Bump the generation together with reading `to`: a sync that began
     * before this point covers records about to be cut, and must not raise
     * committed past `to` afterwards (s_set_committed checks gen). */
    sl_log_end_gen(log, err);
    pthread_mutex_unlock(&log->sync_mu);
    if (!log->closed) {
        sl_segment_t *seg = log->active;
        if (to < seg->base)
            to = seg->base;
        uint64_t next = sl_segment_next(seg);
        int rc = sl_segment_rollback(seg, to);
        sl_log_msg(log, SEGLOG_LEVEL_ERROR,
                   "%s: fdatasync failed (%s); rolled back %" PRIu64 " unacknowledged records%s",
                   log->dir, seglog_strerror(err), next - to, rc ? " (truncate failed too)" : "");
    }
    pthread_mutex_lock(&log->sync_mu);
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
}

/* The fate of an append of an ended generation gen: 0 if it is in the log
 * (committed when gen ended), else the error that ended it. Caller holds
 * sync_mu. */
static int s_gen_result(seglog_log_t *log, uint64_t target, uint64_t gen)
{
    if (log->gen - gen > GEN_RING || target > log->gen_end[gen % GEN_RING])
        return log->last_err ? log->last_err : SEGLOG_E_FAILED;
    return 0;
}

/* s_gen_result if gen has ended, else 0. */
static int s_ended(seglog_log_t *log, uint64_t target, uint64_t gen)
{
    pthread_mutex_lock(&log->sync_mu);
    int rc = log->gen != gen ? s_gen_result(log, target, gen) : 0;
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

/* Group commit: wait until `target` is synced. One waiter at a time is
 * the leader and syncs everything appended so far; the rest wait for it. */
static int s_commit_wait(seglog_log_t *log, uint64_t target, uint64_t gen)
{
    int rc = 0;
    pthread_mutex_lock(&log->sync_mu);
    for (;;) {
        if (log->gen != gen) {
            /* A rollback (or reset) ended the append's generation. The
             * committed offset can no longer tell: the cut offsets may
             * have been reused and committed since. The append is in the
             * log iff it was committed when its generation ended. */
            rc = s_gen_result(log, target, gen);
            break;
        }
        if (log->committed >= target)
            break;
        if (log->syncing) {
            pthread_cond_wait(&log->sync_cv, &log->sync_mu);
            continue;
        }
        log->syncing = 1;
        pthread_mutex_unlock(&log->sync_mu);
        uint64_t upto = 0, sync_gen = 0;
        int r = s_sync_active(log, 1, &upto, &sync_gen);
        /* The leader stays the leader through its rollback: no other
         * group sync may start (and claim the failed pages) before the
         * unsynced records are cut. CLOSED: close synced everything. */
        if (r != 0 && r != SEGLOG_E_CLOSED)
            s_rollback(log, r);
        pthread_mutex_lock(&log->sync_mu);
        log->syncing = 0;
        pthread_cond_broadcast(&log->sync_cv);
        pthread_mutex_unlock(&log->sync_mu);
        if (r == 0)
            sl_log_set_committed(log, upto, sync_gen);
        pthread_mutex_lock(&log->sync_mu);
        if (r == SEGLOG_E_CLOSED && log->committed < target) {
            rc = SEGLOG_E_CLOSED;
            break;
        }
    }
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

void *sl_log_sync_thread(void *arg)
{
    seglog_log_t *log = arg;
    int datasync = log->cfg.sync == SEGLOG_SYNC_INTERVAL;
    uint32_t ms = log->cfg.sync_interval_ms ? log->cfg.sync_interval_ms : 1000;
    int failing = 0;
    pthread_mutex_lock(&log->sync_mu);
    while (!log->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!log->stop && pthread_cond_timedwait(&log->sync_cv, &log->sync_mu, &ts) != ETIMEDOUT)
            ;
        if (log->stop)
            break;
        pthread_mutex_unlock(&log->sync_mu);
        uint64_t upto = 0, gen = 0;
        int rc = s_sync_active(log, datasync, &upto, &gen);
        if (rc == 0) {
            if (failing)
                sl_log_msg(log, SEGLOG_LEVEL_INFO, "%s: background sync works again", log->dir);
            failing = 0;
            sl_log_set_committed(log, upto, gen);
        } else if (rc != SEGLOG_E_CLOSED && !failing) {
            failing = 1;
            sl_log_msg(log, SEGLOG_LEVEL_ERROR, "%s: background %s failed: %s", log->dir,
                       datasync ? "fdatasync" : "flush", seglog_strerror(rc));
        }
        pthread_mutex_lock(&log->sync_mu);
    }
    pthread_mutex_unlock(&log->sync_mu);
    return NULL;
}

int seglog_log_flush(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    uint64_t upto, gen;
    int rc = s_sync_active(log, 0, &upto, &gen);
    if (rc == 0 && log->cfg.sync == SEGLOG_SYNC_NONE)
        sl_log_set_committed(log, upto, gen);
    return rc;
}

int seglog_log_sync(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    uint64_t upto, gen;
    int rc = s_sync_active(log, 1, &upto, &gen);
    if (rc == 0)
        sl_log_set_committed(log, upto, gen);
    return rc;
}

/* ---- append -------------------------------------------------------------- */

int sl_log_roll(seglog_log_t *log)
{
    sl_segment_t *old = log->active;
    int rc = sl_segment_sync_data(old, log->cfg.sync != SEGLOG_SYNC_NONE);
    /* Once the next segment exists, recovery treats this one as sealed and
     * trusts its index (docs/FORMAT.md): put the index on disk first. */
    if (rc == 0 && log->cfg.sync != SEGLOG_SYNC_NONE)
        rc = sl_segment_sync_index(old);
    if (rc)
        return rc;
    uint64_t base = sl_segment_next(old);
    sl_segment_t *seg;
    rc = sl_segment_create(log->dir, base, log->epoch, &log->seg_cfg, &seg);
    if (rc)
        return rc;
    rc = sl_log_fsync_dir(log);
    if (rc) {
        sl_segment_remove(&seg);
        return rc;
    }
    pthread_rwlock_wrlock(&log->lock);
    rc = sl_segment_seal(old);
    if (rc == 0)
        rc = sl_log_push(log, seg);
    pthread_rwlock_unlock(&log->lock);
    if (rc) {
        sl_segment_remove(&seg);
        return rc;
    }
    sl_log_set_committed(log, base, sl_log_gen(log)); /* under append_mu */
    return 0;
}

int seglog_log_append_batch_nowait(seglog_log_t *log, const struct iovec *recs, size_t n,
                                   uint64_t *first_out, seglog_commit_t *token)
{
    if (!log || (!recs && n) || n == 0)
        return SEGLOG_E_INVAL;
    uint64_t bytes = SL_STORE_HEADER_LEN;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].iov_len > log->cfg.max_record_bytes)
            return SEGLOG_E_RECORD_TOO_LARGE;
        if (!recs[i].iov_base && recs[i].iov_len)
            return SEGLOG_E_INVAL;
        bytes += SL_FRAME_HEADER_LEN + (uint64_t)recs[i].iov_len;
    }
    if (bytes > log->cfg.max_store_bytes || n > log->seg_cfg.index_capacity)
        return SEGLOG_E_BATCH_TOO_LARGE;

    pthread_mutex_lock(&log->append_mu);
    if (log->closed) {
        pthread_mutex_unlock(&log->append_mu);
        return SEGLOG_E_CLOSED;
    }
    int rc = 0;
    if (!sl_segment_fits(log->active, recs, n))
        rc = sl_log_roll(log);
    uint64_t first = 0;
    if (rc == 0)
        rc = sl_segment_append(log->active, recs, n, &first);
    if (rc == 0) {
        if (token) {
            token->target = first + n;
            token->gen = sl_log_gen(log);
        }
        if (first_out)
            *first_out = first;
    }
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

int seglog_log_commit_wait(seglog_log_t *log, const seglog_commit_t *token)
{
    if (!log || !token)
        return SEGLOG_E_INVAL;
    if (log->cfg.sync == SEGLOG_SYNC_ALWAYS)
        return s_commit_wait(log, token->target, token->gen);
    /* NONE and INTERVAL: hand the bytes to the OS, so that a process crash
     * cannot take them back; unless a reset or truncate_after removed them
     * (as in s_commit_wait). */
    int rc = s_ended(log, token->target, token->gen);
    if (rc)
        return rc;
    uint64_t upto, gen;
    rc = s_sync_active(log, 0, &upto, &gen);
    if (rc == 0 && log->cfg.sync == SEGLOG_SYNC_NONE)
        sl_log_set_committed(log, upto, gen);
    return rc;
}

int seglog_log_commit_check(seglog_log_t *log, const seglog_commit_t *token)
{
    if (!log || !token)
        return SEGLOG_E_INVAL;
    if (log->cfg.sync != SEGLOG_SYNC_ALWAYS)
        return seglog_log_commit_wait(log, token);
    int rc;
    pthread_mutex_lock(&log->sync_mu);
    if (log->gen != token->gen) /* as in s_commit_wait */
        rc = s_gen_result(log, token->target, token->gen);
    else
        rc = log->committed >= token->target ? 0 : SEGLOG_E_AGAIN;
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

int seglog_log_commit_all(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    if (log->cfg.sync != SEGLOG_SYNC_ALWAYS)
        return seglog_log_sync(log);
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_rdlock(&log->lock);
    int closed = log->closed;
    uint64_t target = closed ? 0 : sl_segment_next(log->active);
    uint64_t gen = sl_log_gen(log);
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return closed ? SEGLOG_E_CLOSED : s_commit_wait(log, target, gen);
}

int seglog_log_append_token(seglog_log_t *log, seglog_commit_t *token)
{
    if (!log || !token)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_rdlock(&log->lock);
    int closed = log->closed;
    if (!closed) {
        token->target = sl_segment_next(log->active);
        token->gen = sl_log_gen(log);
    }
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return closed ? SEGLOG_E_CLOSED : 0;
}

int seglog_log_generation(seglog_log_t *log, uint64_t *gen)
{
    if (!log || !gen)
        return SEGLOG_E_INVAL;
    *gen = __atomic_load_n(&log->gen, __ATOMIC_ACQUIRE);
    return 0;
}

int seglog_log_append_batch(seglog_log_t *log, const struct iovec *recs, size_t n,
                            uint64_t *first_out)
{
    seglog_commit_t token;
    uint64_t first;
    int rc = seglog_log_append_batch_nowait(log, recs, n, &first, &token);
    if (rc == 0 && log->cfg.sync == SEGLOG_SYNC_ALWAYS)
        rc = seglog_log_commit_wait(log, &token);
    if (rc == 0 && first_out)
        *first_out = first;
    return rc;
}

int seglog_log_append(seglog_log_t *log, const void *data, size_t len, uint64_t *offset_out)
{
    struct iovec iov = {(void *)data, len};
    if (!data && len)
        return SEGLOG_E_INVAL;
    if (!data)
        iov.iov_base = (void *)"";
    return seglog_log_append_batch(log, &iov, 1, offset_out);
}
