/*
 * test_powerloss.c - simulated power loss at random points, many times
 * over one log directory, through a VFS that remembers what is durable.
 *
 * tests/log/test_recovery.c checks hand-made power-loss states (the synced
 * bytes followed by nothing, a torn frame, garbage, a zeroed or missing
 * index). This test lets the log core itself run into them:
 *
 *   - A child process opens the log (recovering what the last "power loss"
 *     left), checks it, appends random batches and dies at a random VFS
 *     call (a pwritev may be cut short first), or after its appends
 *     without closing. Its VFS keeps, for every file, a copy of the
 *     content at its last fdatasync, and for the directory the list of
 *     names at its last fsync: that is what survives a power loss.
 *   - The parent then builds what the disk may hold after the power cut,
 *     file by file: exactly the durable content; or any mix, sector by
 *     sector, of the durable content and what the process had written
 *     (written-back pages survive, others do not; the file length is
 *     either one); or the written bytes up to a random sector and the
 *     durable bytes after it. A file created since the last directory
 *     fsync may vanish. The index files, written through a memory map,
 *     get the same treatment. That state is durable for the next round.
 *
 * Now and then the child assigns a new leader epoch at its next offset, and
 * now and then it cuts its tail with seglog_log_truncate_after at a
 * random offset near the end (inside batches and segments, at segment
 * boundaries), so power losses also fall inside cuts.
 *
 * Checked by every child before it appends, and by the parent at the end:
 * every record acknowledged as durable (sync=always: append returned;
 * sync=interval: reported by on_commit) is there, byte for byte, unless a
 * later cut removed it; offsets are dense from 0; every stored record is
 * intact and one that was appended at that offset; batches are whole, or
 * end where a cut was made; no record that a completed cut removed ever
 * comes back. Read errors (CORRUPT) fail.
 *
 * SEGLOG_CRASH_SEED=N replays a run (the seed is printed).
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#ifndef ROUNDS
#define ROUNDS 120 /* power losses per sync policy (fewer under sanitizers) */
#endif
#define APPENDS     120 /* batches a child tries before it dies anyway */
#define MAX_BATCH   4
#define MAX_OFFSETS (120 * APPENDS * MAX_BATCH)
#define CRASH_SPAN  700 /* the crash falls on VFS call 1..CRASH_SPAN */
#define SECTOR      512
#define REC_MAX     400
#define CUT_EVERY   25 /* one append in this many is a truncate_after instead */
#define SUB_INCS    16 /* record generations per round: a cut starts a new one */
#define EPOCH_EVERY 20 /* one append in this many assigns a new leader epoch instead */

/* Shared between the parent and its children (MAP_SHARED). */
typedef struct {
    uint64_t durable_end;              /* records below are durable (acknowledged) */
    _Atomic int cutting;               /* a cut runs: on_commit leaves durable_end alone */
    uint64_t ep_next;                  /* leader epochs: the last one tried */
    uint64_t ep_acked, ep_start;       /* the last one assigned (0: none since a cut) */
    uint32_t inc_of[MAX_OFFSETS];      /* generation that last appended each offset */
    uint32_t gone_upto[MAX_OFFSETS];   /* generations <= this were cut away here */
    uint8_t cut_here[MAX_OFFSETS + 1]; /* a cut was tried at this offset */
    char msg[512];                     /* why a child failed */
} shm_t;

typedef struct {
    shm_t *shm;
    char *tmp, *dir, *shadow;
    seglog_sync_t sync;
    uint32_t inc; /* this round */
    uint64_t rng;
    _Atomic long ops; /* VFS calls so far (child) */
    long crash_at;    /* die at this call */
} fx_t;

static fx_t *s_fx; /* the child's, for the VFS and on_commit */

static uint64_t s_rand(uint64_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

/* In the child, the appending thread and the log's sync thread both draw
 * (the VFS runs on both): serialise the shared generator. */
static pthread_mutex_t s_rng_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t s_rand_shared(uint64_t *r)
{
    pthread_mutex_lock(&s_rng_mu);
    uint64_t v = s_rand(r);
    pthread_mutex_unlock(&s_rng_mu);
    return v;
}

/* ---- records ------------------------------------------------------------ */

/* Record `off` of a batch [first, first + n) appended in round inc. */
static size_t s_rec(uint32_t inc, uint64_t off, uint64_t first, unsigned n, uint8_t *buf)
{
    uint64_t h = (off + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)inc * 0xbf58476d1ce4e5b9ull;
    size_t len = 40 + (size_t)(h % (REC_MAX - 40));
    int k = snprintf((char *)buf, REC_MAX, "I%06" PRIu32 "O%09" PRIu64 "F%09" PRIu64 "N%u|", inc,
                     off, first, n);
    for (size_t j = (size_t)k; j < len; j++)
        buf[j] = (uint8_t)(h >> (j % 57) ^ j);
    return len;
}

/* Check one stored record; "" or what is wrong (into why). */
static int s_parse(const uint8_t *v, size_t len, uint64_t off, uint32_t *inc, uint64_t *first,
                   unsigned *n, char *why, size_t cap)
{
    char head[48];
    size_t hl = len < sizeof head - 1 ? len : sizeof head - 1;
    memcpy(head, v, hl);
    head[hl] = '\0';
    uint64_t o;
    if (sscanf(head, "I%6" SCNu32 "O%9" SCNu64 "F%9" SCNu64 "N%u|", inc, &o, first, n) != 4) {
        snprintf(why, cap, "offset %" PRIu64 ": %zu bytes that were never appended", off, len);
        return -1;
    }
    uint8_t want[REC_MAX];
    size_t wl = s_rec(*inc, o, *first, *n, want);
    if (o != off || wl != len || memcmp(want, v, len) != 0) {
        snprintf(why, cap, "offset %" PRIu64 " holds record %" PRIu64 " of round %" PRIu32 "%s",
                 off, o, *inc, o == off ? " with other bytes" : "");
        return -1;
    }
    return 0;
}

/* The invariants; 0, or -1 with the reason in why. */
static int s_verify(seglog_log_t *log, const shm_t *shm, char *why, size_t cap)
{
    uint64_t lowest = 1, next = 0;
    if (seglog_log_lowest_offset(log, &lowest) || seglog_log_next_offset(log, &next))
        return snprintf(why, cap, "offsets unavailable"), -1;
    if (lowest != 0)
        return snprintf(why, cap, "lowest offset %" PRIu64, lowest), -1;
    if (next < shm->durable_end)
        return snprintf(why, cap, "next %" PRIu64 " < durable end %" PRIu64, next,
                        shm->durable_end),
               -1;
    uint8_t buf[REC_MAX + 1];
    uint64_t bfirst = 0;
    unsigned bn = 0;
    uint32_t binc = 0;
    for (uint64_t off = 0; off < next; off++) {
        size_t len = 0;
        int rc = seglog_log_read(log, off, buf, sizeof buf, &len);
        if (rc)
            return snprintf(why, cap, "read %" PRIu64 " of [0, %" PRIu64 "): %s", off, next,
                            seglog_strerror(rc)),
                   -1;
        uint32_t inc;
        uint64_t first;
        unsigned n;
        if (s_parse(buf, len, off, &inc, &first, &n, why, cap))
            return -1;
        if (inc <= shm->gone_upto[off])
            return snprintf(why, cap,
                            "offset %" PRIu64 " holds a record of generation %" PRIu32
                            ", which a completed cut removed",
                            off, inc),
                   -1;
        if (first == off) { /* a batch starts: the one before is whole */
            if (off != bfirst + bn && !shm->cut_here[off])
                return snprintf(why, cap, "batch at %" PRIu64 " cut at %" PRIu64, bfirst, off), -1;
            bfirst = first, bn = n, binc = inc;
        } else if (first != bfirst || n != bn || inc != binc) {
            return snprintf(why, cap, "offset %" PRIu64 " does not continue its batch", off), -1;
        }
        if (off < shm->durable_end && inc != shm->inc_of[off])
            return snprintf(why, cap,
                            "durable offset %" PRIu64 " holds round %" PRIu32 ", not %" PRIu32, off,
                            inc, shm->inc_of[off]),
                   -1;
    }
    if (next != bfirst + bn && !shm->cut_here[next])
        return snprintf(why, cap, "log ends inside the batch at %" PRIu64, bfirst), -1;
    /* Leader epochs: never one that was not tried, never one starting at
     * or past the end, and the last assigned one is there once records
     * after its start are durable. */
    uint64_t e = 0, s = 0;
    int r = seglog_log_leader_epoch_last(log, &e, &s);
    if (r < 0)
        return snprintf(why, cap, "leader epochs: %s", seglog_strerror(r)), -1;
    if (r == 1 && (e > shm->ep_next || s >= next))
        return snprintf(why, cap, "leader epoch %" PRIu64 " at %" PRIu64 " (next %" PRIu64 ")", e,
                        s, next),
               -1;
    if (shm->ep_acked && shm->durable_end > shm->ep_start && (r != 1 || e < shm->ep_acked))
        return snprintf(why, cap, "leader epoch %" PRIu64 " at %" PRIu64 " lost", shm->ep_acked,
                        shm->ep_start),
               -1;
    return 0;
}

/* ---- the power-loss VFS (child side) ------------------------------------- */

static const seglog_vfs_t *P(void)
{
    return seglog_vfs_posix();
}

/* Count a call; die at the chosen one. */
static void s_tick(void)
{
    if (atomic_fetch_add(&s_fx->ops, 1) + 1 == s_fx->crash_at)
        _exit(0);
}

/* Copy src to dst through a temporary file and rename: the shadow copy
 * is never half-written. 0 or -1. */
static int s_copy(const char *src, const char *dst)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int in = open(src, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    char buf[8192];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0)
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = -1;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc == 0 ? rename(tmp, dst) : -1;
}

static char *s_join(const char *a, const char *b)
{
    return tu_path(a, b);
}

/* The name of fd's file, from /proc. */
static int s_fd_name(int fd, char *name, size_t cap)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return -1;
    path[n] = '\0';
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (strlen(base) >= cap)
        return -1;
    memcpy(name, base, strlen(base) + 1);
    return 0;
}

static int s_shadow_reset(const char *path);

static int v_open(void *c, const char *p, int fl, mode_t m)
{
    (void)c;
    s_tick();
    /* A new file, or one cut to zero, has no durable content yet (a name
     * reused after a delete must not come back with the old file's). */
    if ((fl & O_TRUNC) || ((fl & O_CREAT) && !tu_exists(p)))
        if (s_shadow_reset(p))
            return -EIO;
    return P()->open(NULL, p, fl, m);
}
static int v_close(void *c, int fd)
{
    (void)c;
    return P()->close(NULL, fd);
}
static ssize_t v_preadv(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    return P()->preadv(NULL, fd, v, n, off);
}
static ssize_t v_pwritev(void *c, int fd, const struct iovec *v, int n, off_t off)
{
    (void)c;
    if (atomic_fetch_add(&s_fx->ops, 1) + 1 == s_fx->crash_at) {
        /* Die half-way through the write. */
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += v[i].iov_len;
        size_t left = total ? (size_t)s_rand_shared(&s_fx->rng) % total : 0;
        struct iovec part[64];
        int k = 0;
        for (int i = 0; i < n && left > 0 && k < 64; i++, k++) {
            part[k] = v[i];
            if (part[k].iov_len > left)
                part[k].iov_len = left;
            left -= part[k].iov_len;
        }
        if (k)
            P()->pwritev(NULL, fd, part, k, off);
        _exit(0);
    }
    return P()->pwritev(NULL, fd, v, n, off);
}
/* No real fdatasync (this is a simulation): the file's content now is what
 * a power loss keeps. */
static pthread_mutex_t s_copy_mu = PTHREAD_MUTEX_INITIALIZER; /* appender and sync thread */

static int v_fdatasync(void *c, int fd)
{
    (void)c;
    s_tick();
    char name[256];
    if (s_fd_name(fd, name, sizeof name))
        return -EIO;
    char *src = s_join(s_fx->dir, name), *dst = s_join(s_fx->shadow, name);
    pthread_mutex_lock(&s_copy_mu);
    int rc = s_copy(src, dst);
    pthread_mutex_unlock(&s_copy_mu);
    free(src);
    free(dst);
    return rc ? -EIO : 0;
}
static int v_ftruncate(void *c, int fd, off_t len)
{
    (void)c;
    s_tick();
    return P()->ftruncate(NULL, fd, len);
}
static int v_fallocate(void *c, int fd, off_t len)
{
    (void)c;
    s_tick();
    return P()->fallocate(NULL, fd, len);
}
/* The durable content belongs to the file, not to its name: it moves. */
static int v_rename(void *c, const char *a, const char *b)
{
    (void)c;
    s_tick();
    pthread_mutex_lock(&s_copy_mu);
    const char *na = strrchr(a, '/'), *nb = strrchr(b, '/');
    char *sa = s_join(s_fx->shadow, na ? na + 1 : a), *sb = s_join(s_fx->shadow, nb ? nb + 1 : b);
    int rc = P()->rename(NULL, a, b);
    if (rc == 0 && tu_exists(sa) && rename(sa, sb) != 0)
        rc = -EIO;
    pthread_mutex_unlock(&s_copy_mu);
    free(sa);
    free(sb);
    return rc;
}
static int v_unlink(void *c, const char *p)
{
    (void)c;
    s_tick();
    return P()->unlink(NULL, p);
}

static int s_shadow_reset(const char *path)
{
    const char *n = strrchr(path, '/');
    char *sh = s_join(s_fx->shadow, n ? n + 1 : path);
    pthread_mutex_lock(&s_copy_mu);
    int rc = tu_write_file(sh, "", 0);
    pthread_mutex_unlock(&s_copy_mu);
    free(sh);
    return rc;
}

/* Names in dir, one per line, into a malloc'ed string. */
static char *s_listing(const char *dir)
{
    DIR *d = opendir(dir);
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    struct dirent *e;
    while (d && out && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        size_t n = strlen(e->d_name);
        if (len + n + 2 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, e->d_name, n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
    }
    if (d)
        closedir(d);
    return out;
}

/* The directory's entries now are what a power loss keeps. */
static int v_fsync_dir(void *c, const char *dir)
{
    (void)c;
    s_tick();
    pthread_mutex_lock(&s_copy_mu);
    char *list = s_listing(dir), *path = s_join(s_fx->shadow, "LISTING"),
         *tmp = s_join(s_fx->shadow, "LISTING.tmp");
    int rc = list && tu_write_file(tmp, list, strlen(list)) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    pthread_mutex_unlock(&s_copy_mu);
    free(list);
    free(path);
    free(tmp);
    return rc ? -EIO : 0;
}
static int v_fstat_size(void *c, int fd, off_t *size)
{
    (void)c;
    return P()->fstat_size(NULL, fd, size);
}

static const seglog_vfs_t s_vfs = {
    NULL,        v_open,      v_close,  v_preadv, v_pwritev,   v_fdatasync,
    v_ftruncate, v_fallocate, v_rename, v_unlink, v_fsync_dir, v_fstat_size,
};

/* ---- the child: recover, check, append, die ------------------------------ */

/* durable_end is written by the appender and the sync thread. */
static pthread_mutex_t s_durable_mu = PTHREAD_MUTEX_INITIALIZER;

static void s_on_commit(void *arg, uint64_t committed_next)
{
    shm_t *shm = arg;
    pthread_mutex_lock(&s_durable_mu);
    if (!atomic_load(&shm->cutting) && committed_next > shm->durable_end)
        shm->durable_end = committed_next;
    pthread_mutex_unlock(&s_durable_mu);
}

/* Cut at a random offset near the end; the records a completed cut
 * removed must never come back, and those below it stay durable. */
static int s_cut(fx_t *fx, seglog_log_t *log, uint32_t *inc)
{
    shm_t *shm = fx->shm;
    uint64_t next = 0;
    seglog_log_next_offset(log, &next);
    uint64_t back = s_rand_shared(&fx->rng) % 60, at = next > back ? next - back : 0;
    pthread_mutex_lock(&s_durable_mu);
    atomic_store(&shm->cutting, 1);
    if (shm->durable_end > at)
        shm->durable_end = at; /* whether the cut survives a crash or not */
    pthread_mutex_unlock(&s_durable_mu);
    shm->cut_here[at] = 1;
    if (at <= shm->ep_start)
        shm->ep_acked = 0; /* the cut may drop it */
    if (getenv("SEGLOG_CRASH_VERBOSE"))
        fprintf(stderr, "  cut at %" PRIu64 " (next %" PRIu64 ", durable %" PRIu64 ")\n", at, next,
                shm->durable_end);
    int rc = seglog_log_truncate_after(log, at);
    if (rc) {
        snprintf(shm->msg, sizeof shm->msg, "truncate_after(%" PRIu64 "): %s", at,
                 seglog_strerror(rc));
        return -1;
    }
    for (uint64_t off = at; off < next; off++)
        shm->gone_upto[off] = *inc;
    pthread_mutex_lock(&s_durable_mu);
    if (at < next)
        shm->durable_end = at; /* every record below the cut was synced by it */
    atomic_store(&shm->cutting, 0);
    pthread_mutex_unlock(&s_durable_mu);
    (*inc)++;
    return 0;
}

static void s_print(void *arg, int level, const char *msg)
{
    (void)arg;
    fprintf(stderr, "  log[%d]: %s\n", level, msg);
}

static void s_log_config(fx_t *fx, seglog_config_t *cfg)
{
    tu_config(cfg, 8192, 48 * 8); /* a roll every ~40 records */
    cfg->max_record_bytes = REC_MAX;
    cfg->write_buffer_bytes = 1024;
    cfg->sync = fx->sync;
    cfg->sync_interval_ms = 2;
    cfg->on_commit = s_on_commit;
    cfg->on_commit_arg = fx->shm;
    if (getenv("SEGLOG_CRASH_VERBOSE")) /* SEGLOG_CRASH_VERBOSE=1: recovery's log lines */
        cfg->log_fn = s_print;
}

static int s_child(void *arg)
{
    fx_t *fx = arg;
    s_fx = fx;
    shm_t *shm = fx->shm;
    seglog_config_t cfg;
    s_log_config(fx, &cfg);
    cfg.vfs = &s_vfs;
    atomic_store(&shm->cutting, 0); /* the last child may have died in a cut */
    seglog_log_t *log = NULL;
    int rc = seglog_log_open(fx->dir, &cfg, &log);
    if (rc) {
        snprintf(shm->msg, sizeof shm->msg, "open: %s", seglog_strerror(rc));
        return 1;
    }
    if (s_verify(log, shm, shm->msg, sizeof shm->msg))
        return 2;
    uint64_t last = 0;
    if (seglog_log_leader_epoch_last(log, &last, NULL) != 1 || last != shm->ep_acked)
        shm->ep_acked = 0; /* dropped at open with its records, none durable */
    uint8_t bufs[MAX_BATCH][REC_MAX];
    struct iovec iov[MAX_BATCH];
    uint32_t inc = fx->inc * SUB_INCS;
    for (int a = 0; a < APPENDS; a++) {
        if (s_rand_shared(&fx->rng) % CUT_EVERY == 0 && inc + 1 < (fx->inc + 1) * SUB_INCS) {
            if (s_cut(fx, log, &inc))
                return 4;
            continue;
        }
        if (s_rand_shared(&fx->rng) % EPOCH_EVERY == 0) {
            uint64_t start = 0, e = ++shm->ep_next;
            seglog_log_next_offset(log, &start);
            rc = seglog_log_leader_epoch_assign(log, e, start);
            if (rc) {
                snprintf(shm->msg, sizeof shm->msg, "leader epoch %" PRIu64 ": %s", e,
                         seglog_strerror(rc));
                return 5;
            }
            shm->ep_acked = e;
            shm->ep_start = start;
            continue;
        }
        unsigned n = 1 + (unsigned)(s_rand_shared(&fx->rng) % MAX_BATCH);
        uint64_t first = 0, got = UINT64_MAX;
        seglog_log_next_offset(log, &first);
        if (first + n > MAX_OFFSETS)
            break;
        for (unsigned i = 0; i < n; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = s_rec(inc, first + i, first, n, bufs[i]);
            shm->inc_of[first + i] = inc; /* before on_commit can see it */
        }
        rc = seglog_log_append_batch(log, iov, n, &got);
        if (rc || got != first) {
            snprintf(shm->msg, sizeof shm->msg, "append at %" PRIu64 ": %s", first,
                     rc ? seglog_strerror(rc) : "wrong offset");
            return 3;
        }
        if (fx->sync == SEGLOG_SYNC_ALWAYS) {
            pthread_mutex_lock(&s_durable_mu);
            shm->durable_end = first + n;
            pthread_mutex_unlock(&s_durable_mu);
        }
    }
    return 0; /* tu_crash_child: _exit, nothing closed */
}

/* ---- the parent: what the disk holds after the power cut ---------------- */

typedef struct {
    uint8_t *p;
    size_t n;
} blob_t;

static blob_t s_slurp(const char *path)
{
    blob_t b = {NULL, 0};
    long n = tu_file_size(path);
    if (n > 0) {
        b.p = malloc((size_t)n);
        assert_non_null(b.p);
        assert_int_equal(tu_read_at(path, 0, b.p, (size_t)n), 0);
        b.n = (size_t)n;
    }
    return b;
}

static int s_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* One file after the power cut, from its durable and its written content. */
static void s_cut_file(fx_t *fx, const char *path, const char *shadow_path)
{
    blob_t cur = s_slurp(path), dur = s_slurp(shadow_path);
    int mode = (int)(s_rand(&fx->rng) % 3);
    size_t len = mode == 0 ? dur.n : (s_rand(&fx->rng) & 1) ? cur.n : dur.n;
    uint8_t *out = calloc(1, len ? len : 1);
    assert_non_null(out);
    size_t cut = cur.n ? (size_t)(s_rand(&fx->rng) % (cur.n / SECTOR + 1)) * SECTOR : 0;
    for (size_t s = 0; s < len; s += SECTOR) {
        int written;
        if (mode == 0)
            written = 0;
        else if (mode == 1)
            written = (int)(s_rand(&fx->rng) & 1);
        else
            written = s < cut;
        const blob_t *src = written ? &cur : &dur;
        size_t end = s + SECTOR < len ? s + SECTOR : len;
        for (size_t i = s; i < end; i++)
            out[i] = i < src->n ? src->p[i] : 0;
    }
    assert_int_equal(tu_write_file(path, out, len), 0);
    free(out);
    free(cur.p);
    free(dur.p);
}

static void s_power_cut(fx_t *fx)
{
    char *lpath = s_join(fx->shadow, "LISTING");
    blob_t lb = s_slurp(lpath);
    char *list = calloc(1, lb.n + 1);
    if (lb.n)
        memcpy(list, lb.p, lb.n);
    free(lb.p);
    /* Entries made since the last directory fsync may be gone; entries
     * removed since then come back with their durable content. */
    char *now = s_listing(fx->dir);
    for (char *p = now; p && *p;) {
        char *e = strchr(p, '\n');
        *e = '\0';
        if (!s_listed(list, p) && (s_rand(&fx->rng) & 1)) {
            char *f = s_join(fx->dir, p);
            assert_int_equal(unlink(f), 0);
            free(f);
        }
        p = e + 1;
    }
    size_t rcap = lb.n + 2, rlen = 0;
    char *restored = calloc(1, rcap); /* names brought back, one per line */
    for (char *p = list; *p;) {
        char *e = strchr(p, '\n');
        *e = '\0';
        char *f = s_join(fx->dir, p), *sh = s_join(fx->shadow, p);
        if (!tu_exists(f)) {
            /* Exactly what was synced: a deleted file's unsynced writes
             * are not mixed in (the process's view of it is gone). */
            if (tu_exists(sh))
                assert_int_equal(s_copy(sh, f), 0);
            else
                assert_int_equal(tu_write_file(f, "", 0), 0);
            size_t n = strlen(p);
            memcpy(restored + rlen, p, n);
            rlen += n;
            restored[rlen++] = '\n';
        }
        free(f);
        free(sh);
        p = e + 1;
    }
    free(now);
    free(list);
    /* Each file: durable bytes, written bytes, or a mix. Then that state
     * is what the disk holds: the shadow starts from it. */
    now = s_listing(fx->dir);
    for (char *p = now; *p;) {
        char *e = strchr(p, '\n');
        *e = '\0';
        char *f = s_join(fx->dir, p), *sh = s_join(fx->shadow, p);
        if (!s_listed(restored, p))
            s_cut_file(fx, f, sh);
        assert_int_equal(s_copy(f, sh), 0);
        free(f);
        free(sh);
        p = e + 1;
    }
    free(now);
    free(restored);
    now = s_listing(fx->dir);
    assert_int_equal(tu_write_file(lpath, now, strlen(now)), 0);
    free(now);
    free(lpath);
}

static void s_run(seglog_sync_t sync)
{
    fx_t fx = {0};
    fx.shm = mmap(NULL, sizeof *fx.shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(fx.shm != MAP_FAILED);
    const char *env = getenv("SEGLOG_CRASH_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    fx.rng = seed ? seed : 1;
    fx.sync = sync;
    /* On tmpfs if there is one: ext4 flushes data on every rename over a
     * file (auto_da_alloc), which makes the shadow copies slow, and no
     * byte here needs a real disk. */
    char shm_tmpl[] = "/dev/shm/seglog-powerloss-XXXXXX";
    fx.tmp = mkdtemp(shm_tmpl) ? strdup(shm_tmpl) : tu_tempdir("powerloss");
    assert_non_null(fx.tmp);
    fx.dir = s_join(fx.tmp, "log");
    fx.shadow = s_join(fx.tmp, "shadow");
    assert_int_equal(mkdir(fx.dir, 0755), 0);
    assert_int_equal(mkdir(fx.shadow, 0755), 0);
    printf("powerloss: sync=%s seed %" PRIu64 "\n",
           sync == SEGLOG_SYNC_ALWAYS ? "always" : "interval", seed);
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        fx.inc = round;
        fx.crash_at = 1 + (long)(s_rand(&fx.rng) % CRASH_SPAN);
        atomic_store(&fx.ops, 0);
        fx.shm->msg[0] = '\0';
        if (getenv("SEGLOG_CRASH_VERBOSE"))
            fprintf(stderr, "round %" PRIu32 " (durable %" PRIu64 ")\n", round,
                    fx.shm->durable_end);
        int rc = tu_crash_child(s_child, &fx);
        s_rand(&fx.rng); /* the child's draws stay in the child */
        if (rc != 0)
            fail_msg("round %" PRIu32 " (seed %" PRIu64 "): child %d: %s", round, seed, rc,
                     fx.shm->msg);
        s_power_cut(&fx);
    }
    /* The last cut, checked here with plain POSIX I/O. */
    seglog_config_t cfg;
    s_log_config(&fx, &cfg);
    cfg.sync = SEGLOG_SYNC_NONE;
    cfg.on_commit = NULL;
    seglog_log_t *log = NULL;
    int rc = seglog_log_open(fx.dir, &cfg, &log);
    if (rc)
        fail_msg("final open: %s", seglog_strerror(rc));
    char why[512];
    if (s_verify(log, fx.shm, why, sizeof why))
        fail_msg("final check (seed %" PRIu64 "): %s", seed, why);
    uint64_t next = 0;
    seglog_log_next_offset(log, &next);
    seglog_recovery_t rec;
    seglog_log_recovery(log, &rec);
    printf("powerloss: %d power cuts, %" PRIu64 " records stored, %" PRIu64 " durable, %" PRIu32
           " segments\n",
           ROUNDS, next, fx.shm->durable_end, rec.segments);
    assert_true(fx.shm->durable_end > 0);
    assert_true(rec.segments > 1);
    seglog_log_destroy(&log);
    munmap(fx.shm, sizeof *fx.shm);
    free(fx.dir);
    free(fx.shadow);
    tu_rmrf(&fx.tmp);
}

static void powerloss_sync_always(void **state)
{
    (void)state;
    s_run(SEGLOG_SYNC_ALWAYS);
}

static void powerloss_sync_interval(void **state)
{
    (void)state;
    s_run(SEGLOG_SYNC_INTERVAL);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(powerloss_sync_always),
        cmocka_unit_test(powerloss_sync_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
