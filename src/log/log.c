/* log.c - many segments: append, read, iterate, truncate, reset, sync
 * policies with group commit, and crash recovery at open. The locking
 * contract is in include/seglog/log.h. Lock order:
 *   append_mu -> lock (rwlock) -> sync_mu. */
#include "seglog/log.h"

#include "format.h"
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Generations whose end point a waiting append can still look up. */
#define GEN_RING 64

struct seglog_log {
    char *dir;
    seglog_config_t cfg;
    sl_seg_config_t seg_cfg;
    int dir_fd; /* holds the flock */
    seglog_recovery_t rec;

    pthread_mutex_t append_mu; /* serialises appends, rolls, rollback */
    pthread_rwlock_t lock;     /* segs/nsegs/active/closed: shared for reads */
    sl_segment_t **segs;
    size_t nsegs, segs_cap;
    sl_segment_t *active; /* segs[nsegs-1]; changes under append_mu + lock */
    int closed;
    uint64_t epoch;

    pthread_mutex_t sync_mu; /* committed, syncing, gen, last_err, stop */
    pthread_cond_t sync_cv;
    uint64_t committed;
    int syncing;
    uint64_t gen;               /* bumped when unacknowledged appends are rolled back */
    uint64_t gen_end[GEN_RING]; /* committed when each recent gen ended */
    int last_err;
    int stop;
    int thread_started;
    pthread_t thread;
};

static void s_log(seglog_log_t *log, int level, const char *fmt, ...)
{
    if (!log->cfg.log_fn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log->cfg.log_fn(log->cfg.log_arg, level, msg);
}

void seglog_config_default(seglog_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_store_bytes = 64ull << 20;
    cfg->max_index_bytes = 8ull << 20;
    cfg->max_record_bytes = 1u << 20;
    cfg->sync = SEGLOG_SYNC_INTERVAL;
    cfg->sync_interval_ms = 1000;
    cfg->write_buffer_bytes = 256u << 10;
}

static uint64_t s_new_epoch(void)
{
    uint64_t e = 0;
    if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e || e == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        e = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 48);
    }
    return e ? e : 1;
}

/* Strict segment file names: 20 digits, then ".store" or ".index". */
static int s_parse_name(const char *name, uint64_t *base, int *is_store)
{
    size_t n = strlen(name);
    if (n != 26)
        return 0;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    if (strcmp(name + 20, ".store") == 0)
        *is_store = 1;
    else if (strcmp(name + 20, ".index") == 0)
        *is_store = 0;
    else
        return 0;
    errno = 0;
    unsigned long long v = strtoull(name, NULL, 10);
    if (errno)
        return 0;
    *base = v;
    return 1;
}

static int s_mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return SEGLOG_E_NOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                rc = errno;
                break;
            }
            *q = c;
            if (c == '\0')
                break;
        }
    }
    free(p);
    return rc;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int s_push(seglog_log_t *log, sl_segment_t *seg)
{
    if (log->nsegs == log->segs_cap) {
        size_t cap = log->segs_cap ? log->segs_cap * 2 : 16;
        sl_segment_t **n = realloc(log->segs, cap * sizeof *n);
        if (!n)
            return SEGLOG_E_NOMEM;
        log->segs = n;
        log->segs_cap = cap;
    }
    log->segs[log->nsegs++] = seg;
    log->active = seg;
    return 0;
}

static char *s_marker_path(const seglog_log_t *log)
{
    size_t n = strlen(log->dir) + sizeof(SL_CLEAN_MARKER) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", log->dir, SL_CLEAN_MARKER);
    return p;
}

static int s_fsync_dir(seglog_log_t *log)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    return -v->fsync_dir(v->ctx, log->dir);
}

/* Raise the committed offset to upto, as seen by a sync that started in
 * rollback generation gen. A rollback or reset since then (gen moved) cut
 * or dropped records that upto may cover: committed must never include
 * them, or their appends would be acknowledged and then lost. */
static void s_set_committed(seglog_log_t *log, uint64_t upto, uint64_t gen)
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

/* ---- open ---------------------------------------------------------------- */

static int s_validate(const seglog_config_t *c)
{
    if (c->max_record_bytes == 0 || c->max_record_bytes > SL_MAX_RECORD_LIMIT)
        return SEGLOG_E_INVAL;
    if (c->max_store_bytes > SL_MAX_STORE_LIMIT ||
        c->max_store_bytes <
            SL_STORE_HEADER_LEN + SL_FRAME_HEADER_LEN + (uint64_t)c->max_record_bytes)
        return SEGLOG_E_INVAL;
    if (c->max_index_bytes < SL_INDEX_ENTRY_LEN ||
        c->max_index_bytes / SL_INDEX_ENTRY_LEN > UINT32_MAX)
        return SEGLOG_E_INVAL;
    if (c->sync > SEGLOG_SYNC_ALWAYS)
        return SEGLOG_E_INVAL;
    if (c->sync == SEGLOG_SYNC_INTERVAL && c->sync_interval_ms == 0)
        return SEGLOG_E_INVAL;
    return 0;
}

static int s_load(seglog_log_t *log, int clean)
{
    DIR *d = opendir(log->dir);
    if (!d)
        return errno;
    uint64_t *stores = NULL, *indexes = NULL;
    size_t ns = 0, ni = 0, cs = 0, ci = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t base;
        int is_store;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, SL_CLEAN_MARKER) == 0)
            continue;
        if (!s_parse_name(e->d_name, &base, &is_store)) {
            log->rec.files_ignored++;
            continue;
        }
        uint64_t **arr = is_store ? &stores : &indexes;
        size_t *n = is_store ? &ns : &ni, *c = is_store ? &cs : &ci;
        if (*n == *c) {
            size_t nc = *c ? *c * 2 : 16;
            uint64_t *p = realloc(*arr, nc * sizeof *p);
            if (!p) {
                rc = SEGLOG_E_NOMEM;
                goto out;
            }
            *arr = p;
            *c = nc;
        }
        (*arr)[(*n)++] = base;
    }
    /* qsort's array must not be NULL, even for 0 elements (an empty dir). */
    if (ns > 1)
        qsort(stores, ns, sizeof *stores, s_cmp_u64);
    if (ni > 1)
        qsort(indexes, ni, sizeof *indexes, s_cmp_u64);
    /* An index with no store is an orphan: ignored, never trusted. */
    for (size_t i = 0, j = 0; i < ni; i++) {
        while (j < ns && stores[j] < indexes[i])
            j++;
        if (j >= ns || stores[j] != indexes[i]) {
            log->rec.files_ignored++;
            s_log(log, SEGLOG_LEVEL_WARN, "%s: index %020" PRIu64 ".index has no store; ignored",
                  log->dir, indexes[i]);
        }
    }
    uint64_t epoch_hint = 0;
    for (size_t i = 0; i < ns; i++) {
        sl_segment_t *seg;
        int active = i + 1 == ns;
        if (!epoch_hint)
            epoch_hint = s_new_epoch();
        rc = sl_segment_open(log->dir, stores[i], &log->seg_cfg, active, clean, epoch_hint,
                             &log->rec, &seg);
        if (rc)
            goto out;
        epoch_hint = sl_segment_epoch(seg);
        if (log->nsegs > 0) {
            sl_segment_t *prev = log->segs[log->nsegs - 1];
            uint64_t pn = sl_segment_next(prev);
            if (pn > seg->base) {
                s_log(log, SEGLOG_LEVEL_ERROR,
                      "%s: segment %020" PRIu64
                      " overlaps the one before it (which ends at %" PRIu64 ")",
                      log->dir, seg->base, pn);
                sl_segment_close(&seg, 0);
                rc = SEGLOG_E_CORRUPT;
                goto out;
            }
            if (pn < seg->base) {
                prev->limit = seg->base;
                s_log(log, SEGLOG_LEVEL_ERROR,
                      "%s: offsets %" PRIu64 "..%" PRIu64 " are missing; they read as corrupt",
                      log->dir, pn, seg->base - 1);
            }
        }
        rc = s_push(log, seg);
        if (rc) {
            sl_segment_close(&seg, 0);
            goto out;
        }
        log->rec.segments++;
    }
out:
    closedir(d);
    free(stores);
    free(indexes);
    return rc;
}

static void *s_sync_thread(void *arg);

static void s_release(seglog_log_t *log)
{
    for (size_t i = 0; i < log->nsegs; i++)
        sl_segment_close(&log->segs[i], 0);
    free(log->segs);
    log->segs = NULL;
    log->nsegs = 0;
    log->active = NULL;
}

static void s_free(seglog_log_t *log)
{
    s_release(log);
    if (log->dir_fd >= 0)
        close(log->dir_fd);
    pthread_mutex_destroy(&log->append_mu);
    pthread_rwlock_destroy(&log->lock);
    pthread_mutex_destroy(&log->sync_mu);
    pthread_cond_destroy(&log->sync_cv);
    free(log->dir);
    free(log);
}

int seglog_log_open(const char *dir, const seglog_config_t *cfg, seglog_log_t **out)
{
    if (!dir || !*dir || !out)
        return SEGLOG_E_INVAL;
    seglog_config_t c;
    if (cfg)
        c = *cfg;
    else
        seglog_config_default(&c);
    if (!c.vfs)
        c.vfs = seglog_vfs_posix();
    if (c.write_buffer_bytes == 0)
        c.write_buffer_bytes = 256u << 10;
    int rc = s_validate(&c);
    if (rc)
        return rc;
    seglog_log_t *log = calloc(1, sizeof *log);
    if (!log)
        return SEGLOG_E_NOMEM;
    log->dir_fd = -1;
    pthread_mutex_init(&log->append_mu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* Writers (roll, truncate) must not starve behind a stream of reads. */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&log->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&log->sync_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->sync_cv, &ca);
    pthread_condattr_destroy(&ca);
    log->cfg = c;
    log->dir = strdup(dir);
    if (!log->dir) {
        s_free(log);
        return SEGLOG_E_NOMEM;
    }
    size_t dl = strlen(log->dir);
    while (dl > 1 && log->dir[dl - 1] == '/')
        log->dir[--dl] = '\0';
    log->seg_cfg = (sl_seg_config_t){
        .vfs = c.vfs,
        .max_store_bytes = c.max_store_bytes,
        .index_capacity = (uint32_t)(c.max_index_bytes / SL_INDEX_ENTRY_LEN),
        .max_record_bytes = c.max_record_bytes,
        .write_buffer_bytes = c.write_buffer_bytes,
        .log_fn = c.log_fn,
        .log_arg = c.log_arg,
    };

    rc = s_mkdir_p(log->dir);
    if (rc)
        goto fail;
    log->dir_fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dir_fd < 0) {
        rc = errno;
        goto fail;
    }
    if (flock(log->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? SEGLOG_E_LOCKED : errno;
        goto fail;
    }
    /* Writable? Find out now, with a clear error, not at the first append. */
    if (access(log->dir, W_OK) < 0) {
        rc = errno;
        goto fail;
    }
    char *marker = s_marker_path(log);
    if (!marker) {
        rc = SEGLOG_E_NOMEM;
        goto fail;
    }
    struct stat st;
    int clean = stat(marker, &st) == 0;
    log->rec.clean = clean;
    rc = s_load(log, clean);
    if (rc == 0 && log->nsegs == 0) {
        sl_segment_t *seg;
        rc = sl_segment_create(log->dir, c.initial_offset, s_new_epoch(), &log->seg_cfg, &seg);
        if (rc == 0 && (rc = s_push(log, seg)) != 0)
            sl_segment_close(&seg, 0);
        if (rc == 0)
            rc = s_fsync_dir(log);
    }
    if (rc == 0 && clean) {
        /* From here on a crash must be detected as unclean. */
        rc = -c.vfs->unlink(c.vfs->ctx, marker);
        if (rc == 0)
            rc = s_fsync_dir(log);
    }
    free(marker);
    if (rc)
        goto fail;
    log->epoch = sl_segment_epoch(log->active);
    log->committed = sl_segment_next(log->active);
    if (c.sync != SEGLOG_SYNC_ALWAYS) {
        if (pthread_create(&log->thread, NULL, s_sync_thread, log) != 0) {
            rc = SEGLOG_E_NOMEM;
            goto fail;
        }
        log->thread_started = 1;
    }
    *out = log;
    return 0;
fail:
    s_free(log);
    return rc;
}

void seglog_log_recovery(const seglog_log_t *log, seglog_recovery_t *out)
{
    *out = log->rec;
}

/* ---- sync ---------------------------------------------------------------- */

/* The current rollback generation. Caller holds append_mu, so that no
 * rollback or reset can run before it uses the value. */
static uint64_t s_gen(seglog_log_t *log)
{
    pthread_mutex_lock(&log->sync_mu);
    uint64_t gen = log->gen;
    pthread_mutex_unlock(&log->sync_mu);
    return gen;
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
    *gen = s_gen(log);
    pthread_mutex_unlock(&log->append_mu);
    if (rc == 0 && datasync)
        rc = sl_store_datasync(seg->store);
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

/* End the current rollback generation (rollback, reset, remove). Caller
 * holds sync_mu. An append of generation g is in the log iff it was
 * committed before g ended: gen_end keeps that point for s_commit_wait. */
static void s_end_gen(seglog_log_t *log, int err)
{
    log->gen_end[log->gen % GEN_RING] = log->committed;
    log->gen++;
    log->last_err = err;
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
    s_end_gen(log, err);
    pthread_mutex_unlock(&log->sync_mu);
    if (!log->closed) {
        sl_segment_t *seg = log->active;
        if (to < seg->base)
            to = seg->base;
        uint64_t next = sl_segment_next(seg);
        int rc = sl_segment_rollback(seg, to);
        s_log(log, SEGLOG_LEVEL_ERROR,
              "%s: fdatasync failed (%s); rolled back %" PRIu64 " unacknowledged records%s",
              log->dir, seglog_strerror(err), next - to, rc ? " (truncate failed too)" : "");
    }
    pthread_mutex_lock(&log->sync_mu);
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
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
            if (log->gen - gen > GEN_RING || target > log->gen_end[gen % GEN_RING])
                rc = log->last_err ? log->last_err : SEGLOG_E_FAILED;
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
            s_set_committed(log, upto, sync_gen);
        pthread_mutex_lock(&log->sync_mu);
        if (r == SEGLOG_E_CLOSED && log->committed < target) {
            rc = SEGLOG_E_CLOSED;
            break;
        }
    }
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

static void *s_sync_thread(void *arg)
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
                s_log(log, SEGLOG_LEVEL_INFO, "%s: background sync works again", log->dir);
            failing = 0;
            s_set_committed(log, upto, gen);
        } else if (rc != SEGLOG_E_CLOSED && !failing) {
            failing = 1;
            s_log(log, SEGLOG_LEVEL_ERROR, "%s: background %s failed: %s", log->dir,
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
        s_set_committed(log, upto, gen);
    return rc;
}

int seglog_log_sync(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    uint64_t upto, gen;
    int rc = s_sync_active(log, 1, &upto, &gen);
    if (rc == 0)
        s_set_committed(log, upto, gen);
    return rc;
}

/* ---- append -------------------------------------------------------------- */

/* Seal the active segment and start a new one at its next offset. Caller
 * holds append_mu. */
static int s_roll(seglog_log_t *log)
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
    rc = s_fsync_dir(log);
    if (rc) {
        sl_segment_remove(&seg);
        return rc;
    }
    pthread_rwlock_wrlock(&log->lock);
    rc = sl_segment_seal(old);
    if (rc == 0)
        rc = s_push(log, seg);
    pthread_rwlock_unlock(&log->lock);
    if (rc) {
        sl_segment_remove(&seg);
        return rc;
    }
    s_set_committed(log, base, s_gen(log)); /* under append_mu */
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
        rc = s_roll(log);
    uint64_t first = 0;
    if (rc == 0)
        rc = sl_segment_append(log->active, recs, n, &first);
    if (rc == 0) {
        if (token) {
            token->target = first + n;
            pthread_mutex_lock(&log->sync_mu);
            token->gen = log->gen;
            pthread_mutex_unlock(&log->sync_mu);
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
     * cannot take them back. */
    uint64_t upto, gen;
    int rc = s_sync_active(log, 0, &upto, &gen);
    if (rc == 0 && log->cfg.sync == SEGLOG_SYNC_NONE)
        s_set_committed(log, upto, gen);
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
        rc = log->gen - token->gen > GEN_RING || token->target > log->gen_end[token->gen % GEN_RING]
                 ? (log->last_err ? log->last_err : SEGLOG_E_FAILED)
                 : 0;
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
    uint64_t gen = s_gen(log);
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return closed ? SEGLOG_E_CLOSED : s_commit_wait(log, target, gen);
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

/* ---- reads --------------------------------------------------------------- */

/* The segment holding offset. Caller holds the shared lock. */
static sl_segment_t *s_find(seglog_log_t *log, uint64_t offset)
{
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return log->segs[lo];
}

/* Check offset against [lowest, next). Caller holds the shared lock. */
static int s_bounds(seglog_log_t *log, uint64_t offset)
{
    if (log->closed)
        return SEGLOG_E_CLOSED;
    if (offset < log->segs[0]->base)
        return SEGLOG_E_OFFSET_TRUNCATED;
    if (offset >= sl_segment_next(log->active))
        return SEGLOG_E_OFFSET_OUT_OF_RANGE;
    return 0;
}

int seglog_log_read(seglog_log_t *log, uint64_t offset, void *buf, size_t cap, size_t *len)
{
    if (!log || (!buf && cap) || !len)
        return SEGLOG_E_INVAL;
    pthread_rwlock_rdlock(&log->lock);
    int rc = s_bounds(log, offset);
    if (rc == 0)
        rc = sl_segment_read(s_find(log, offset), offset, buf, cap, len);
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_log_read_alloc(seglog_log_t *log, uint64_t offset, void **data, size_t *len)
{
    if (!data || !len)
        return SEGLOG_E_INVAL;
    uint8_t small[256];
    size_t n = 0;
    int rc = seglog_log_read(log, offset, small, sizeof small, &n);
    if (rc && rc != SEGLOG_E_BUFFER_TOO_SMALL)
        return rc;
    void *p = malloc(n ? n : 1);
    if (!p)
        return SEGLOG_E_NOMEM;
    if (rc == 0)
        memcpy(p, small, n);
    else if ((rc = seglog_log_read(log, offset, p, n, &n)) != 0) {
        free(p);
        return rc;
    }
    *data = p;
    *len = n;
    return 0;
}

typedef enum { Q_LOWEST, Q_NEXT, Q_COMMITTED, Q_EPOCH } query_t;

static int s_query(seglog_log_t *log, query_t q, uint64_t *out)
{
    if (!log || !out)
        return SEGLOG_E_INVAL;
    pthread_rwlock_rdlock(&log->lock);
    int rc = log->closed ? SEGLOG_E_CLOSED : 0;
    if (rc == 0) {
        switch (q) {
        case Q_LOWEST:
            *out = log->segs[0]->base;
            break;
        case Q_NEXT:
            *out = sl_segment_next(log->active);
            break;
        case Q_EPOCH:
            *out = log->epoch;
            break;
        case Q_COMMITTED:
            pthread_mutex_lock(&log->sync_mu);
            *out = log->committed;
            pthread_mutex_unlock(&log->sync_mu);
            break;
        }
    }
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_log_lowest_offset(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_LOWEST, out);
}

int seglog_log_next_offset(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_NEXT, out);
}

int seglog_log_committed_offset(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_COMMITTED, out);
}

int seglog_log_epoch(seglog_log_t *log, uint64_t *out)
{
    return s_query(log, Q_EPOCH, out);
}

/* ---- structure ----------------------------------------------------------- */

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
        int r = s_fsync_dir(log);
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
    uint64_t epoch = s_new_epoch();
    sl_segment_t *seg = NULL;
    int r = sl_segment_create(log->dir, log->cfg.initial_offset, epoch, &log->seg_cfg, &seg);
    if (r == 0 && (r = s_push(log, seg)) != 0)
        sl_segment_close(&seg, 0);
    if (r) {
        /* Without an active segment the handle cannot serve: close it. */
        log->closed = 1;
        rc = r;
        goto out;
    }
    log->epoch = epoch;
    r = s_fsync_dir(log);
    if (rc == 0)
        rc = r;
    pthread_mutex_lock(&log->sync_mu);
    s_end_gen(log, SEGLOG_E_FAILED); /* appends waiting for a sync were dropped */
    log->committed = log->cfg.initial_offset;
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
out:
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

static void s_stop_thread(seglog_log_t *log)
{
    pthread_mutex_lock(&log->sync_mu);
    log->stop = 1;
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    if (log->thread_started) {
        pthread_join(log->thread, NULL);
        log->thread_started = 0;
    }
}

/* Close every segment; with clean, sync them and leave the marker. */
static int s_close(seglog_log_t *log, int clean)
{
    s_stop_thread(log);
    pthread_mutex_lock(&log->append_mu);
    pthread_rwlock_wrlock(&log->lock);
    if (log->closed) {
        pthread_rwlock_unlock(&log->lock);
        pthread_mutex_unlock(&log->append_mu);
        return SEGLOG_E_CLOSED;
    }
    int rc = 0;
    uint64_t next = sl_segment_next(log->active);
    for (size_t i = 0; i < log->nsegs; i++) {
        int r = sl_segment_close(&log->segs[i], clean && log->segs[i] == log->active);
        if (r && rc == 0)
            rc = r;
    }
    log->nsegs = 0;
    log->active = NULL;
    log->closed = 1;
    if (clean && rc == 0) {
        char *marker = s_marker_path(log);
        const seglog_vfs_t *v = log->seg_cfg.vfs;
        int fd =
            marker ? v->open(v->ctx, marker, O_WRONLY | O_CREAT | O_TRUNC, 0644) : SEGLOG_E_NOMEM;
        if (fd >= 0) {
            rc = -v->fdatasync(v->ctx, fd);
            v->close(v->ctx, fd);
            if (rc == 0)
                rc = s_fsync_dir(log);
        } else {
            rc = fd == SEGLOG_E_NOMEM ? fd : -fd;
        }
        free(marker);
    }
    pthread_mutex_lock(&log->sync_mu);
    if (rc == 0 && clean && next > log->committed)
        log->committed = next;
    pthread_cond_broadcast(&log->sync_cv);
    pthread_mutex_unlock(&log->sync_mu);
    pthread_rwlock_unlock(&log->lock);
    pthread_mutex_unlock(&log->append_mu);
    if (log->dir_fd >= 0) {
        close(log->dir_fd); /* releases the flock */
        log->dir_fd = -1;
    }
    return rc;
}

int seglog_log_close(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    return s_close(log, 1);
}

int seglog_log_remove(seglog_log_t *log)
{
    if (!log)
        return SEGLOG_E_INVAL;
    s_stop_thread(log);
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
    s_end_gen(log, SEGLOG_E_CLOSED);
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

void seglog_log_destroy(seglog_log_t **log_p)
{
    if (!log_p || !*log_p)
        return;
    seglog_log_t *log = *log_p;
    *log_p = NULL;
    if (!log->closed)
        s_close(log, 1);
    s_stop_thread(log);
    s_free(log);
}

/* ---- iteration ----------------------------------------------------------- */

#define ITER_CHUNK (1u << 20)
#define ITER_MIN   (64u << 10)

struct seglog_iter {
    seglog_log_t *log;
    uint8_t *buf;
    size_t cap;
    size_t len, off;     /* bytes in buf; parse position */
    uint64_t offset;     /* offset of the record at buf + off */
    uint64_t buf_limit;  /* records in buf are valid below this offset */
    uint64_t left;       /* records still allowed (UINT64_MAX: no limit) */
    uint64_t bytes_left; /* payload budget (UINT64_MAX: no limit) */
    int started;         /* a record has been returned since seek */
    int positioned;
};

int seglog_iter_new(seglog_log_t *log, seglog_iter_t **out)
{
    if (!log || !out)
        return SEGLOG_E_INVAL;
    /* As every call on a closed handle: CLOSED (log.h), rather than an
     * iterator that can only fail later. */
    pthread_rwlock_rdlock(&log->lock);
    int closed = log->closed;
    pthread_rwlock_unlock(&log->lock);
    if (closed)
        return SEGLOG_E_CLOSED;
    seglog_iter_t *it = calloc(1, sizeof *it);
    if (!it)
        return SEGLOG_E_NOMEM;
    it->log = log;
    *out = it;
    return 0;
}

int seglog_iter_seek(seglog_iter_t *it, uint64_t offset, size_t max_records, size_t max_bytes)
{
    if (!it)
        return SEGLOG_E_INVAL;
    pthread_rwlock_rdlock(&it->log->lock);
    int rc = s_bounds(it->log, offset);
    pthread_rwlock_unlock(&it->log->lock);
    if (rc)
        return rc;
    it->offset = offset;
    it->len = it->off = 0;
    it->buf_limit = offset;
    it->left = max_records ? max_records : UINT64_MAX;
    it->bytes_left = max_bytes ? max_bytes : UINT64_MAX;
    it->started = 0;
    it->positioned = 1;
    return 0;
}

uint64_t seglog_iter_position(const seglog_iter_t *it)
{
    return it->offset;
}

static int s_reserve(seglog_iter_t *it, size_t n)
{
    if (it->cap >= n)
        return 0;
    uint8_t *p = realloc(it->buf, n);
    if (!p)
        return SEGLOG_E_NOMEM;
    it->buf = p;
    it->cap = n;
    return 0;
}

/* Load bytes for it->offset and onwards with one read. Returns 1 if loaded,
 * 0 at the end of the log, or an error. */
static int s_refill(seglog_iter_t *it, size_t need)
{
    seglog_log_t *log = it->log;
    pthread_rwlock_rdlock(&log->lock);
    int rc = s_bounds(log, it->offset);
    if (rc) {
        pthread_rwlock_unlock(&log->lock);
        return rc == SEGLOG_E_OFFSET_OUT_OF_RANGE ? 0 : rc;
    }
    sl_segment_t *seg = s_find(log, it->offset);
    uint64_t pos, flen;
    rc = sl_segment_locate(seg, it->offset, &pos, &flen);
    if (rc)
        goto out;
    uint64_t seg_next = sl_segment_next(seg);
    uint64_t end = sl_store_size(seg->store);
    /* With a record limit, the index gives the exact end of the range. */
    if (it->left < seg_next - it->offset) {
        uint64_t epos, elen;
        if (sl_segment_locate(seg, it->offset + it->left, &epos, &elen) == 0)
            end = epos;
    }
    size_t want_cap = ITER_CHUNK;
    if (it->bytes_left < ITER_CHUNK - ITER_MIN)
        want_cap = (size_t)it->bytes_left + ITER_MIN;
    if (want_cap < need)
        want_cap = need;
    size_t want = end - pos < want_cap ? (size_t)(end - pos) : want_cap;
    if (want < need)
        want = need;
    rc = s_reserve(it, want);
    if (rc)
        goto out;
    struct iovec iov = {it->buf, want};
    rc = sl_store_readv(seg->store, pos, &iov, 1, want);
    if (rc)
        goto out;
    it->len = want;
    it->off = 0;
    it->buf_limit = seg_next;
    rc = 1;
out:
    pthread_rwlock_unlock(&log->lock);
    return rc;
}

int seglog_iter_next(seglog_iter_t *it, uint64_t *offset, const void **data, size_t *len)
{
    if (!it || !it->positioned)
        return SEGLOG_E_INVAL;
    if (it->left == 0)
        return 0;
    for (int tries = 0;; tries++) {
        uint32_t plen = 0;
        int end, rc = 0;
        if (it->offset < it->buf_limit && it->off < it->len)
            rc = sl_frame_check(it->buf + it->off, it->len - it->off, SL_MAX_RECORD_LIMIT, &plen,
                                &end);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (tries >= 2)
                return SEGLOG_E_CORRUPT; /* the index points at a frame that is not there */
            size_t need = SL_FRAME_HEADER_LEN + (size_t)plen;
            rc = s_refill(it, need > SL_FRAME_HEADER_LEN ? need : 0);
            if (rc <= 0)
                return rc;
            continue;
        }
        if (it->started && plen > it->bytes_left)
            return 0;
        it->bytes_left = plen > it->bytes_left ? 0 : it->bytes_left - plen;
        it->started = 1;
        if (offset)
            *offset = it->offset;
        if (data)
            *data = it->buf + it->off + SL_FRAME_HEADER_LEN;
        if (len)
            *len = plen;
        it->off += SL_FRAME_HEADER_LEN + plen;
        it->offset++;
        if (it->left != UINT64_MAX)
            it->left--;
        return 1;
    }
}

void seglog_iter_destroy(seglog_iter_t **it_p)
{
    if (!it_p || !*it_p)
        return;
    free((*it_p)->buf);
    free(*it_p);
    *it_p = NULL;
}
