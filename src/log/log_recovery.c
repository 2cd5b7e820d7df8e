/* log_recovery.c - the log handle's life: open (the directory scan, segment
 * recovery as docs/FORMAT.md says, the clean-shutdown marker), close and
 * destroy, and the helpers the other parts share. */
#include "log_internal.h"

#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void sl_log_msg(seglog_log_t *log, int level, const char *fmt, ...)
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

uint64_t sl_log_new_epoch(void)
{
    uint64_t e = 0;
    if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e || e == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        e = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 48);
    }
    return e ? e : 1;
}

uint64_t sl_log_id(const seglog_log_t *log)
{
    return log->cfg.log_id ? log->cfg.log_id : sl_log_new_epoch();
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

int sl_log_push(seglog_log_t *log, sl_segment_t *seg)
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

int sl_log_fsync_dir(seglog_log_t *log)
{
    const seglog_vfs_t *v = log->seg_cfg.vfs;
    return -v->fsync_dir(v->ctx, log->dir);
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
            strcmp(e->d_name, SL_CLEAN_MARKER) == 0 || strcmp(e->d_name, SL_CUT_MARKER) == 0 ||
            strcmp(e->d_name, SL_EPOCHS_FILE) == 0 || strcmp(e->d_name, SL_EPOCHS_TMP) == 0)
            continue;
        size_t nl = strlen(e->d_name);
        if (nl == 30 && strcmp(e->d_name + 20, ".timeindex") == 0)
            continue; /* a segment's time index: opened with its segment */
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
            sl_log_msg(log, SEGLOG_LEVEL_WARN,
                       "%s: index %020" PRIu64 ".index has no store; ignored", log->dir,
                       indexes[i]);
        }
    }
    uint64_t epoch_hint = 0;
    for (size_t i = 0; i < ns; i++) {
        sl_segment_t *seg;
        int active = i + 1 == ns;
        if (!epoch_hint)
            epoch_hint = sl_log_id(log);
        rc = sl_segment_open(log->dir, stores[i], &log->seg_cfg, active, clean, epoch_hint,
                             &log->rec, &seg);
        if (rc)
            goto out;
        epoch_hint = sl_segment_epoch(seg);
        if (log->nsegs > 0) {
            sl_segment_t *prev = log->segs[log->nsegs - 1];
            uint64_t pn = sl_segment_next(prev);
            if (pn > seg->base) {
                sl_log_msg(log, SEGLOG_LEVEL_ERROR,
                           "%s: segment %020" PRIu64
                           " overlaps the one before it (which ends at %" PRIu64 ")",
                           log->dir, seg->base, pn);
                sl_segment_close(&seg, 0);
                rc = SEGLOG_E_CORRUPT;
                goto out;
            }
            if (pn < seg->base) {
                prev->limit = seg->base;
                sl_log_msg(log, SEGLOG_LEVEL_ERROR,
                           "%s: offsets %" PRIu64 "..%" PRIu64 " are missing; they read as corrupt",
                           log->dir, pn, seg->base - 1);
            }
        }
        rc = sl_log_push(log, seg);
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
    sl_epochs_free(&log->epochs);
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
        .timestamp_fn = c.timestamp_fn,
        .timestamp_arg = c.timestamp_arg,
        /* At most ~256 entries per full segment: a few KiB of memory each,
         * and a lookup reads at most this much between two entries. */
        .time_interval = c.max_store_bytes / 256 > 4096 ? (uint32_t)(c.max_store_bytes / 256)
                                                         : 4096u,
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
    rc = sl_log_finish_cut(log);
    if (rc) {
        free(marker);
        goto fail;
    }
    struct stat st;
    int clean = stat(marker, &st) == 0;
    log->rec.clean = clean;
    rc = s_load(log, clean);
    if (rc == 0 && log->nsegs == 0) {
        sl_segment_t *seg;
        rc = sl_segment_create(log->dir, c.initial_offset, sl_log_id(log), &log->seg_cfg, &seg);
        if (rc == 0 && (rc = sl_log_push(log, seg)) != 0)
            sl_segment_close(&seg, 0);
        if (rc == 0)
            rc = sl_log_fsync_dir(log);
    }
    if (rc == 0 && clean) {
        /* From here on a crash must be detected as unclean. */
        rc = -c.vfs->unlink(c.vfs->ctx, marker);
        if (rc == 0)
            rc = sl_log_fsync_dir(log);
    }
    free(marker);
    if (rc)
        goto fail;
    log->epoch = sl_segment_epoch(log->active);
    log->committed = sl_segment_next(log->active);
    rc = sl_log_epochs_open(log);
    if (rc)
        goto fail;
    if (c.sync != SEGLOG_SYNC_ALWAYS) {
        if (pthread_create(&log->thread, NULL, sl_log_sync_thread, log) != 0) {
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

void sl_log_stop_thread(seglog_log_t *log)
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
    sl_log_stop_thread(log);
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
                rc = sl_log_fsync_dir(log);
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
void seglog_log_destroy(seglog_log_t **log_p)
{
    if (!log_p || !*log_p)
        return;
    seglog_log_t *log = *log_p;
    *log_p = NULL;
    if (!log->closed)
        s_close(log, 1);
    sl_log_stop_thread(log);
    s_free(log);
}
