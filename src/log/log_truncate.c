/* log_truncate.c - structural changes: front truncation (whole sealed
 * segments), truncation after an offset (with its intent record, finished
 * at open after a crash), reset and remove. */
#include "log_internal.h"

#include "crc32c.h"
#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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

static int s_reset(seglog_log_t *log, uint64_t offset, uint64_t id)
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
    log->epochs.n = 0; /* a new lifetime has no leader epochs yet */
    int r = sl_epochs_store(log->seg_cfg.vfs, log->dir, &log->epochs);
    if (r && rc == 0)
        rc = r;
    uint64_t epoch = id ? id : sl_log_id(log);
    sl_segment_t *seg = NULL;
    r = sl_segment_create(log->dir, offset, epoch, &log->seg_cfg, &seg);
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
    log->committed = offset;
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    /* Iterators must not serve what their buffers hold of the old records. */
    atomic_fetch_add_explicit(&log->cuts, 1, memory_order_release);
out:
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

int seglog_log_reset(seglog_log_t *log)
{
    return s_reset(log, log ? log->cfg.initial_offset : 0, 0);
}

int seglog_log_reset_to(seglog_log_t *log, uint64_t offset, uint64_t log_id)
{
    return s_reset(log, offset, log_id);
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
    log->epochs.n = 0;
    int r = sl_epochs_store(log->seg_cfg.vfs, log->dir, &log->epochs);
    if (r && rc == 0)
        rc = r;
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

/* ---- truncate after an offset -------------------------------------------- */

/* What a cut does, physically: the intent record (format.h) that makes it
 * atomic across a crash. */
typedef struct {
    uint64_t offset;   /* the next offset after the cut */
    uint64_t seg_base; /* the segment that keeps the tail; later ones go */
    uint64_t cut_pos;  /* its store's size after the cut */
    uint64_t fix_pos;  /* frame whose header gets END (0: none) */
    uint8_t fix_hdr[SL_FRAME_HEADER_LEN];
} cut_t;

static void s_cut_encode(const cut_t *c, uint8_t b[SL_CUT_LEN])
{
    memset(b, 0, SL_CUT_LEN);
    sl_put32(b, SL_CUT_MAGIC);
    sl_put32(b + 4, SL_CUT_VERSION);
    sl_put64(b + 8, c->offset);
    sl_put64(b + 16, c->seg_base);
    sl_put64(b + 24, c->cut_pos);
    sl_put64(b + 32, c->fix_pos);
    memcpy(b + 40, c->fix_hdr, SL_FRAME_HEADER_LEN);
    sl_put32(b + 48, sl_crc32c(0, b, 48));
}

static int s_cut_decode(const uint8_t *b, size_t n, cut_t *c)
{
    if (n != SL_CUT_LEN || sl_get32(b) != SL_CUT_MAGIC || sl_get32(b + 4) != SL_CUT_VERSION ||
        sl_get32(b + 48) != sl_crc32c(0, b, 48))
        return SEGLOG_E_CORRUPT;
    c->offset = sl_get64(b + 8);
    c->seg_base = sl_get64(b + 16);
    c->cut_pos = sl_get64(b + 24);
    c->fix_pos = sl_get64(b + 32);
    memcpy(c->fix_hdr, b + 40, SL_FRAME_HEADER_LEN);
    if (c->cut_pos < SL_STORE_HEADER_LEN || c->offset < c->seg_base ||
        (c->fix_pos &&
         (c->fix_pos < SL_STORE_HEADER_LEN || c->fix_pos + SL_FRAME_HEADER_LEN > c->cut_pos)))
        return SEGLOG_E_CORRUPT;
    return 0;
}

static char *s_dir_path(const seglog_log_t *log, const char *name)
{
    size_t n = strlen(log->dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", log->dir, name);
    return p;
}

/* unlink through the VFS; a missing file is fine. */
static int s_unlink(seglog_log_t *log, const char *path)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    int rc = -v->unlink(v->ctx, path);
    return rc == ENOENT ? 0 : rc;
}

/* Write the intent record: temporary file, fdatasync, rename, directory
 * fsync. *placed is set once the rename happened: from then on the record
 * may be on disk, and a crash finishes the cut. */
static int s_cut_write(seglog_log_t *log, const cut_t *c, int *placed)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    uint8_t b[SL_CUT_LEN];
    s_cut_encode(c, b);
    *placed = 0;
    char *tmp = s_dir_path(log, SL_CUT_TMP), *path = s_dir_path(log, SL_CUT_MARKER);
    int rc = tmp && path ? 0 : SEGLOG_E_NOMEM;
    int fd = -1;
    if (rc == 0) {
        fd = v->open(v->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            rc = -fd;
    }
    if (rc == 0) {
        struct iovec iov = {b, sizeof b};
        ssize_t n = v->pwritev(v->ctx, fd, &iov, 1, 0);
        rc = n < 0 ? (int)-n : n != (ssize_t)sizeof b ? EIO : 0;
    }
    if (rc == 0)
        rc = -v->fdatasync(v->ctx, fd);
    if (fd >= 0) {
        int r = -v->close(v->ctx, fd);
        if (rc == 0)
            rc = r;
    }
    if (rc == 0) {
        rc = -v->rename(v->ctx, tmp, path);
        *placed = rc == 0;
    }
    if (rc == 0)
        rc = sl_log_fsync_dir(log);
    if (rc && !*placed && tmp)
        s_unlink(log, tmp); /* best effort: open ignores and removes it */
    free(tmp);
    free(path);
    return rc;
}

/* Remove the intent record, durably. */
static int s_cut_done(seglog_log_t *log)
{
    char *path = s_dir_path(log, SL_CUT_MARKER);
    if (!path)
        return SEGLOG_E_NOMEM;
    int rc = s_unlink(log, path);
    free(path);
    return rc ? rc : sl_log_fsync_dir(log);
}

/* Close a segment and delete its files, index first: a crash in between
 * leaves a store without index (rebuilt, then deleted again by the cut),
 * not an orphan index. */
static int s_drop(seglog_log_t *log, sl_segment_t **seg_p)
{
    sl_segment_t *seg = *seg_p;
    char *sp = strdup(seg->store_path), *ip = strdup(seg->index_path);
    char *tp = strdup(seg->time_path);
    int rc = sl_segment_close(seg_p, 0);
    int r = ip ? s_unlink(log, ip) : SEGLOG_E_NOMEM;
    if (rc == 0)
        rc = r;
    r = sp ? s_unlink(log, sp) : SEGLOG_E_NOMEM;
    if (rc == 0)
        rc = r;
    if (tp)
        s_unlink(log, tp); /* a cache: a leftover one is overwritten or ignored */
    free(sp);
    free(ip);
    free(tp);
    return rc;
}

/* A cut that failed past its point of no return: the handle stops serving
 * (every call returns SEGLOG_E_CLOSED, as after a failed reset) and the
 * next open finishes the cut from its intent record. Caller holds
 * append_mu and the exclusive lock. */
static void s_fail(seglog_log_t *log, int err)
{
    log->closed = 1;
    pthread_mutex_lock(&log->sync_mu);
    sl_log_end_gen(log, err);
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    sl_log_msg(log, SEGLOG_LEVEL_ERROR,
               "%s: truncate_after failed (%s); the log is closed, the next open finishes the "
               "truncation",
               log->dir, seglog_strerror(err));
}

int seglog_log_truncate_after(seglog_log_t *log, uint64_t offset)
{
    if (!log)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_wrlock(&log->lock);
    int rc = 0, grown = 0, placed = 0;
    uint64_t notify = 0;
    size_t j = 0;
    sl_segment_t *seg = NULL;
    cut_t c = {.offset = offset};
    if (log->closed) {
        rc = SEGLOG_E_CLOSED;
        goto out;
    }
    if (offset >= sl_segment_next(log->active))
        goto out; /* nothing at or past offset: done */
    if (offset < log->segs[0]->base) {
        rc = SEGLOG_E_OFFSET_TRUNCATED;
        goto out;
    }
    for (j = log->nsegs - 1; log->segs[j]->base > offset; j--)
        ;
    seg = log->segs[j];
    if (offset >= sl_segment_next(seg)) {
        rc = SEGLOG_E_CORRUPT; /* inside a damaged range (docs/FORMAT.md) */
        goto out;
    }
    c.seg_base = seg->base;
    /* Steps that change nothing visible if they fail. */
    rc = sl_segment_sync_data(seg, 0);
    if (rc == 0)
        rc = sl_segment_cut_plan(seg, offset, &c.cut_pos, &c.fix_pos, c.fix_hdr);
    if (rc == 0 && seg != log->active) {
        rc = sl_segment_activate(seg, log->seg_cfg.index_capacity);
        grown = rc == 0;
        if (rc && !sl_segment_usable(seg)) {
            s_fail(log, rc);
            goto out;
        }
    }
    /* The bytes below the cut must be on disk before the intent record: a
     * crash after it finishes the cut on them. A failed fdatasync leaves
     * the unsynced pages in doubt (docs/FORMAT.md): stop serving. */
    if (rc == 0 && (rc = sl_store_datasync(seg->store)) != 0) {
        s_fail(log, rc);
        goto out;
    }
    if (rc == 0)
        rc = s_cut_write(log, &c, &placed);
    if (rc) {
        /* Undo: the record may have reached the directory. If it cannot be
         * taken back for sure, a crash could finish the cut later, after
         * new appends: stop serving instead. */
        if (placed && s_cut_done(log) != 0) {
            s_fail(log, rc);
            goto out;
        }
        if (grown)
            sl_index_shrink(seg->index);
        goto out;
    }
    /* Point of no return: the intent record is on disk. */
    while (log->nsegs > j + 1) {
        int r = s_drop(log, &log->segs[log->nsegs - 1]);
        log->nsegs--;
        if (rc == 0)
            rc = r;
    }
    log->active = seg;
    if (rc == 0 && c.fix_pos)
        rc = sl_store_patch(seg->store, c.fix_pos, c.fix_hdr, sizeof c.fix_hdr);
    if (rc == 0)
        rc = sl_segment_rollback(seg, offset);
    seg->limit = sl_segment_next(seg);
    if (rc == 0)
        rc = sl_store_datasync(seg->store);
    if (rc == 0)
        rc = sl_segment_sync_index(seg);
    if (rc == 0)
        rc = sl_log_fsync_dir(log);
    if (rc == 0)
        rc = s_cut_done(log);
    if (rc == 0)
        rc = sl_log_epochs_cut(log, offset); /* open trims it too, if a crash comes first */
    if (rc) {
        s_fail(log, rc);
        goto out;
    }
    /* Everything below offset is past its commit point (the segments
     * before seg were synced when they rolled, except under sync=none,
     * whose commit point is the write to the OS; seg just now): committed
     * is offset, up or down. Appends still waiting end with their generation: in the log
     * iff below offset. */
    pthread_mutex_lock(&log->sync_mu);
    if (offset > log->committed)
        notify = offset;
    log->committed = offset;
    sl_log_end_gen(log, SEGLOG_E_CUT);
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    atomic_fetch_add_explicit(&log->cuts, 1, memory_order_release);
    sl_log_msg(log, SEGLOG_LEVEL_INFO, "%s: truncated after %" PRIu64, log->dir, offset);
out:
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    if (notify && log->cfg.on_commit)
        log->cfg.on_commit(log->cfg.on_commit_arg, notify);
    return rc;
}

/* ---- finishing an interrupted cut at open -------------------------------- */

/* Parse a segment file name: 20 digits then ext. */
static int s_seg_name(const char *name, uint64_t *base)
{
    size_t n = strlen(name);
    if (n != 26 && n != 30)
        return 0;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    if (strcmp(name + 20, ".store") != 0 && strcmp(name + 20, ".index") != 0 &&
        strcmp(name + 20, ".timeindex") != 0)
        return 0;
    *base = strtoull(name, NULL, 10);
    return 1;
}

/* Redo the physical steps of the cut (each is idempotent). */
static int s_cut_redo(seglog_log_t *log, const cut_t *c)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    DIR *d = opendir(log->dir);
    if (!d)
        return errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        uint64_t base;
        if (!s_seg_name(e->d_name, &base) || base <= c->seg_base)
            continue;
        char *p = s_dir_path(log, e->d_name);
        rc = p ? s_unlink(log, p) : SEGLOG_E_NOMEM;
        free(p);
    }
    closedir(d);
    if (rc)
        return rc;
    char *sp = sl_segment_path(log->dir, c->seg_base, ".store");
    if (!sp)
        return SEGLOG_E_NOMEM;
    int fd = v->open(v->ctx, sp, O_RDWR, 0);
    free(sp);
    if (fd == -ENOENT)
        return sl_log_fsync_dir(log); /* nothing left to cut */
    if (fd < 0)
        return -fd;
    off_t size = 0;
    rc = -v->fstat_size(v->ctx, fd, &size);
    /* The bytes below cut_pos were synced before the record was written;
     * a shorter store was damaged since, and recovery deals with it. */
    if (rc == 0 && (uint64_t)size >= c->cut_pos) {
        if (c->fix_pos) {
            struct iovec iov = {(void *)c->fix_hdr, sizeof c->fix_hdr};
            ssize_t n = v->pwritev(v->ctx, fd, &iov, 1, (off_t)c->fix_pos);
            rc = n < 0 ? (int)-n : n != (ssize_t)sizeof c->fix_hdr ? EIO : 0;
        }
        if (rc == 0 && (uint64_t)size > c->cut_pos)
            rc = -v->ftruncate(v->ctx, fd, (off_t)c->cut_pos);
        if (rc == 0)
            rc = -v->fdatasync(v->ctx, fd);
    }
    int r = -v->close(v->ctx, fd);
    if (rc == 0)
        rc = r;
    if (rc == 0)
        rc = sl_log_fsync_dir(log);
    return rc;
}

int sl_log_finish_cut(seglog_log_t *log)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    char *tmp = s_dir_path(log, SL_CUT_TMP), *path = s_dir_path(log, SL_CUT_MARKER);
    int rc = tmp && path ? 0 : SEGLOG_E_NOMEM;
    if (rc == 0)
        rc = s_unlink(log, tmp); /* a record that was never placed */
    int fd = -1;
    if (rc == 0) {
        fd = v->open(v->ctx, path, O_RDONLY, 0);
        if (fd == -ENOENT)
            goto out;
        if (fd < 0)
            rc = -fd;
    }
    uint8_t b[SL_CUT_LEN + 1];
    off_t size = 0;
    if (rc == 0)
        rc = -v->fstat_size(v->ctx, fd, &size);
    if (rc == 0 && size != SL_CUT_LEN)
        rc = SEGLOG_E_CORRUPT;
    if (rc == 0) {
        struct iovec iov = {b, SL_CUT_LEN};
        ssize_t n = v->preadv(v->ctx, fd, &iov, 1, 0);
        rc = n < 0 ? (int)-n : n != SL_CUT_LEN ? SEGLOG_E_CORRUPT : 0;
    }
    if (fd >= 0)
        v->close(v->ctx, fd);
    cut_t c;
    if (rc == 0)
        rc = s_cut_decode(b, SL_CUT_LEN, &c);
    if (rc == SEGLOG_E_CORRUPT)
        sl_log_msg(log, SEGLOG_LEVEL_ERROR, "%s: %s is damaged; the log is not opened", log->dir,
                   SL_CUT_MARKER);
    if (rc)
        goto out;
    /* A clean-shutdown marker cannot be trusted next to an unfinished cut. */
    char *clean = s_dir_path(log, SL_CLEAN_MARKER);
    rc = clean ? s_unlink(log, clean) : SEGLOG_E_NOMEM;
    free(clean);
    if (rc == 0)
        rc = s_cut_redo(log, &c);
    if (rc == 0)
        rc = s_cut_done(log);
    if (rc == 0) {
        log->rec.cuts_finished++;
        sl_log_msg(log, SEGLOG_LEVEL_WARN,
                   "%s: finished an interrupted truncate_after(%" PRIu64 ")", log->dir, c.offset);
    }
out:
    free(tmp);
    free(path);
    return rc;
}
