/* log_internal.h - the log handle shared by the files of the log core.
 *
 * The public contract (and the thread rules) are in include/seglog/log.h.
 * The handle's code is split along its seams:
 *   log_recovery.c  open (directory scan, recovery, clean marker), close,
 *                   destroy, the config defaults
 *   log_append.c    appends, rolls, sync policies, group commit, rollback
 *   log_read.c      reads, offset queries, iterators
 *   log_frames.c    whole stored frames: read and append (replication)
 *   log_truncate.c  front truncate, truncate after an offset, reset, remove
 *   log_epochs.c    the leader epoch cache (epochs.c has its file)
 *
 * Lock order: append_mu -> lock (rwlock) -> sync_mu. */
#ifndef SL_LOG_INTERNAL_H
#define SL_LOG_INTERNAL_H

#include "seglog/log.h"

#include "epochs.h"
#include "segment.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

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
    _Atomic uint64_t cuts; /* truncate_after calls done: iterators drop their buffer */
    sl_epochs_t epochs;    /* leader epoch cache; under append_mu */

    pthread_mutex_t sync_mu; /* committed, syncing, gen, last_err, stop */
    pthread_cond_t sync_cv;
    uint64_t committed;
    int syncing;
    uint64_t gen;               /* bumped when unacknowledged appends are rolled back;
                                 * written under append_mu + sync_mu (atomic store) */
    uint64_t gen_end[GEN_RING]; /* committed when each recent gen ended */
    int last_err;
    int stop;
    int thread_started;
    pthread_t thread;
};

/* ---- log_recovery.c ------------------------------------------------------ */

/* One line to the config's log_fn, if any. */
void sl_log_msg(seglog_log_t *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A random non-zero epoch. */
uint64_t sl_log_new_epoch(void);
/* The epoch of a new or reset log: cfg.log_id, or a random one if it is 0. */
uint64_t sl_log_id(const seglog_log_t *log);

/* Append seg to the segment list and make it the active segment. Caller
 * holds the exclusive lock (or is open, before the handle is shared). */
int sl_log_push(seglog_log_t *log, sl_segment_t *seg);

/* fsync the log's directory through the VFS. */
int sl_log_fsync_dir(seglog_log_t *log);

/* Stop and join the background sync thread, if it runs. */
void sl_log_stop_thread(seglog_log_t *log);

/* ---- log_append.c -------------------------------------------------------- */

/* Raise the committed offset to upto, as seen by a sync that started in
 * rollback generation gen (unless the generation has moved since). */
void sl_log_set_committed(seglog_log_t *log, uint64_t upto, uint64_t gen);

/* The current rollback generation. Caller holds append_mu. */
uint64_t sl_log_gen(seglog_log_t *log);

/* End the current rollback generation with err. Caller holds append_mu
 * and sync_mu (readers of gen hold either, or use an atomic load). */
void sl_log_end_gen(seglog_log_t *log, int err);

/* Seal the active segment and start a new one at its next offset. Caller
 * holds append_mu. */
int sl_log_roll(seglog_log_t *log);

/* The interval / none policy's background thread. */
void *sl_log_sync_thread(void *arg);

/* ---- log_truncate.c ------------------------------------------------------ */

/* At open, before the segments are loaded: if a truncate_after was
 * interrupted (its intent record is there), finish it. */
int sl_log_finish_cut(seglog_log_t *log);

/* ---- log_epochs.c -------------------------------------------------------- */

/* At open, once the segments are loaded: load the epoch cache and trim it
 * to [lowest, next). */
int sl_log_epochs_open(seglog_log_t *log);

/* After a cut to next: drop the entries at or past it, durably. Caller
 * holds append_mu. */
int sl_log_epochs_cut(seglog_log_t *log, uint64_t next);

/* ---- log_read.c ---------------------------------------------------------- */

/* The segment holding offset. Caller holds the shared lock. */
sl_segment_t *sl_log_find(seglog_log_t *log, uint64_t offset);

/* Check offset against [lowest, next). Caller holds the shared lock. */
int sl_log_bounds(seglog_log_t *log, uint64_t offset);

#endif
