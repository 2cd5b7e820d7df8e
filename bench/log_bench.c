/* log_bench.c - throughput and latency of the log core, set against the
 * limits of the machine measured in the same run.
 *
 *   log_bench [--quick] [--only=PHASE[,PHASE...]] [DIR]
 *
 * PHASE is appends, sync, reads or reopen (default: all; --only is for
 * profiling one phase).
 * DIR (default: $TMPDIR or /tmp) gets a fresh log_bench.XXXXXX directory,
 * removed at the end. --quick uses small counts (a smoke run of a few
 * seconds); the default full run takes about a minute or two.
 *
 * Every figure is measured REPS (3) times; the median is printed with the
 * min-max range. Times are CLOCK_MONOTONIC. "raw" is the limit: write() of
 * the same number of bytes the store file ends up holding, in 1 MiB chunks
 * from the same 4 MiB source buffer, to a fresh file. Raw and append runs
 * alternate, and the ratio of an append figure is the median over the runs
 * of raw time / append time (1.00 = as fast as the raw write). MB are 10^6
 * bytes of record payload. The load average is printed because other work
 * on the machine skews every figure.
 *
 * This is a benchmark, not a test: it prints numbers and exits 0 unless a
 * call fails. */
#include "seglog/log.h"

#include "crc32c.h"
#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define REPS        3
#define FRAME_HDR   SL_FRAME_HEADER_LEN /* bytes of framing per record */
#define STORE_HDR   SL_STORE_HEADER_LEN /* bytes of store header */
#define CHUNK       (1u << 20)
#define BATCH       100
#define MAX_RESULTS 64

/* ---- sizes of the two modes ----------------------------------------------- */

typedef struct {
    size_t n_small;       /* 100 B records per append run and in the read log */
    size_t n_large;       /* 1 KiB records per append run and in the read log */
    size_t n_random;      /* random reads per run */
    double sync_seconds;  /* duration of each sync ALWAYS run */
    uint64_t reopen_size; /* store bytes of the reopen log */
} sizes_t;

static const sizes_t s_full = {3000000, 1000000, 2000000, 2.0, 1ull << 30};
static const sizes_t s_quick = {200000, 50000, 200000, 0.25, 64ull << 20};

static sizes_t S;
static char s_root[4096]; /* our temp directory; removed at exit */
static uint8_t *s_payload;
static size_t s_payload_len = 4u << 20;

/* ---- helpers ------------------------------------------------------------- */

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void s_rm_rf(const char *path)
{
    nftw(path, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void s_cleanup(void)
{
    if (s_root[0])
        s_rm_rf(s_root);
    s_root[0] = '\0';
}

static void s_die(const char *what, int rc)
{
    fprintf(stderr, "log_bench: %s: %s\n", what, seglog_strerror(rc));
    exit(1); /* atexit removes the temp directory */
}

static void s_check(int rc, const char *what)
{
    if (rc)
        s_die(what, rc);
}

static void s_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", s_root, name);
}

/* Push everything written so far in our directory to the disk, so that
 * writeback from one phase does not run during the next. */
static void s_settle(void)
{
    int fd = open(s_root, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

static uint64_t s_rand_state = 0x9e3779b97f4a7c15ull;

static uint64_t s_rand(void)
{
    uint64_t x = s_rand_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s_rand_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A record of len bytes; different records start at different places. */
static const void *s_rec(size_t i, size_t len)
{
    return s_payload + (i * 4099u) % (s_payload_len - len);
}

/* ---- statistics and the result table ------------------------------------- */

typedef struct {
    double med, min, max;
} stat_t;

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stat_t s_stat(const double *v, int n)
{
    double t[REPS];
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof *t, s_cmp_double);
    return (stat_t){t[n / 2], t[0], t[n - 1]};
}

/* One row of the summary. ratio < 0 means none. */
typedef struct {
    char name[48];
    stat_t rate;  /* records (or operations) per second */
    stat_t mbps;  /* payload MB/s; med < 0: not applicable */
    stat_t ratio; /* to the limit named in `of`; med < 0: none */
    stat_t ms;    /* a latency, for the reopen rows */
    const char *of;
    char note[64];
} result_t;

static result_t s_results[MAX_RESULTS];
static int s_nresults;

static void s_human(char *out, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else
        snprintf(out, cap, "%.0f", v);
}

static void s_print_row(const result_t *r)
{
    char a[16], b[16], c[16];
    s_human(a, sizeof a, r->rate.med);
    s_human(b, sizeof b, r->rate.min);
    s_human(c, sizeof c, r->rate.max);
    char rate[64] = "-", mb[64] = "-", ratio[64] = "-";
    if (r->rate.med >= 0)
        snprintf(rate, sizeof rate, "%s (%s-%s)", a, b, c);
    if (r->mbps.med >= 0)
        snprintf(mb, sizeof mb, "%.0f (%.0f-%.0f)", r->mbps.med, r->mbps.min, r->mbps.max);
    if (r->ratio.med >= 0)
        snprintf(ratio, sizeof ratio, "%.2f (%.2f-%.2f) %s", r->ratio.med, r->ratio.min,
                 r->ratio.max, r->of);
    printf("  %-34s %-24s %-18s %-22s %s\n", r->name, rate, mb, ratio, r->note);
    fflush(stdout);
}

static result_t *s_add(const char *name, const double *rate, const double *mbps,
                       const double *ratio, const char *of)
{
    if (s_nresults == MAX_RESULTS)
        s_die("too many results", SEGLOG_E_INVAL);
    result_t *r = &s_results[s_nresults++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->rate = rate ? s_stat(rate, REPS) : (stat_t){-1, -1, -1};
    r->mbps = mbps ? s_stat(mbps, REPS) : (stat_t){-1, -1, -1};
    r->ratio = ratio ? s_stat(ratio, REPS) : (stat_t){-1, -1, -1};
    r->of = of;
    return r;
}

static void s_header_row(void)
{
    printf("  %-34s %-24s %-18s %-22s %s\n", "measurement", "records/s med (min-max)",
           "MB/s med (min-max)", "ratio to limit", "note");
}

/* ---- a vfs that counts fdatasyncs --------------------------------------- */

static _Atomic uint64_t s_datasyncs;

static int s_count_fdatasync(void *ctx, int fd)
{
    const seglog_vfs_t *p = ctx;
    atomic_fetch_add(&s_datasyncs, 1);
    return p->fdatasync(p->ctx, fd);
}

#define FWD(name, ret, params, args)                                                               \
    static ret s_fwd_##name params                                                                 \
    {                                                                                              \
        const seglog_vfs_t *p = ctx;                                                               \
        return p->name args;                                                                       \
    }
FWD(open, int, (void *ctx, const char *path, int flags, mode_t mode), (p->ctx, path, flags, mode))
FWD(close, int, (void *ctx, int fd), (p->ctx, fd))
FWD(preadv, ssize_t, (void *ctx, int fd, const struct iovec *iov, int cnt, off_t off),
    (p->ctx, fd, iov, cnt, off))
FWD(pwritev, ssize_t, (void *ctx, int fd, const struct iovec *iov, int cnt, off_t off),
    (p->ctx, fd, iov, cnt, off))
FWD(ftruncate, int, (void *ctx, int fd, off_t len), (p->ctx, fd, len))
FWD(fallocate, int, (void *ctx, int fd, off_t len), (p->ctx, fd, len))
FWD(rename, int, (void *ctx, const char *from, const char *to), (p->ctx, from, to))
FWD(unlink, int, (void *ctx, const char *path), (p->ctx, path))
FWD(fstat_size, int, (void *ctx, int fd, off_t *size), (p->ctx, fd, size))
FWD(fsync_dir, int, (void *ctx, const char *dir), (p->ctx, dir))

static const seglog_vfs_t *s_counting_vfs(void)
{
    static seglog_vfs_t v;
    v = (seglog_vfs_t){
        .ctx = (void *)seglog_vfs_posix(),
        .open = s_fwd_open,
        .close = s_fwd_close,
        .preadv = s_fwd_preadv,
        .pwritev = s_fwd_pwritev,
        .fdatasync = s_count_fdatasync,
        .ftruncate = s_fwd_ftruncate,
        .fallocate = s_fwd_fallocate,
        .rename = s_fwd_rename,
        .unlink = s_fwd_unlink,
        .fsync_dir = s_fwd_fsync_dir,
        .fstat_size = s_fwd_fstat_size,
    };
    return &v;
}

static seglog_log_t *s_open_log(const char *name, seglog_sync_t sync)
{
    char dir[4200];
    s_path(dir, sizeof dir, name);
    seglog_config_t cfg;
    seglog_config_default(&cfg);
    cfg.sync = sync;
    /* Count syncs where they are the figure; elsewhere, plain POSIX. */
    cfg.vfs = sync == SEGLOG_SYNC_ALWAYS ? s_counting_vfs() : NULL;
    seglog_log_t *log = NULL;
    s_check(seglog_log_open(dir, &cfg, &log), "seglog_log_open");
    return log;
}

static void s_remove_log(seglog_log_t **log)
{
    s_check(seglog_log_remove(*log), "seglog_log_remove");
    seglog_log_destroy(log);
}

/* ---- the limits ---------------------------------------------------------- */

/* write() `bytes` to a fresh file in 1 MiB chunks; seconds taken. */
static double s_raw_write(uint64_t bytes)
{
    char path[4200];
    s_path(path, sizeof path, "raw.dat");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        s_die("open raw.dat", errno);
    double t0 = s_now();
    for (uint64_t done = 0; done < bytes;) {
        /* The same 4 MiB source as the appends, so both read it from the
         * same level of the cache. */
        size_t from = (size_t)(done % s_payload_len);
        size_t n = bytes - done < CHUNK ? (size_t)(bytes - done) : CHUNK;
        if (n > s_payload_len - from)
            n = s_payload_len - from;
        ssize_t w = write(fd, s_payload + from, n);
        if (w <= 0)
            s_die("write raw.dat", w < 0 ? errno : EIO);
        done += (uint64_t)w;
    }
    double t = s_now() - t0;
    close(fd);
    unlink(path);
    return t;
}

/* The fdatasync limit: append `len` bytes and fdatasync, in a loop, for
 * `seconds`. Returns syncs per second. */
static double s_sync_loop(size_t len, double seconds)
{
    char path[4200];
    s_path(path, sizeof path, "sync.dat");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        s_die("open sync.dat", errno);
    uint64_t n = 0;
    double t0 = s_now(), t;
    do {
        if (pwrite(fd, s_payload, len, (off_t)(n * len)) != (ssize_t)len)
            s_die("pwrite sync.dat", errno);
        if (fdatasync(fd) < 0)
            s_die("fdatasync sync.dat", errno);
        n++;
        t = s_now() - t0;
    } while (t < seconds);
    close(fd);
    unlink(path);
    return (double)n / t;
}

/* ---- appends ------------------------------------------------------------- */

/* Append n records of len bytes, `batch` per call, to a fresh log; then
 * flush, so that every byte has reached the OS as with the raw write.
 * Seconds taken. */
static double s_append_run(size_t len, size_t n, size_t batch)
{
    seglog_log_t *log = s_open_log("append", SEGLOG_SYNC_NONE);
    struct iovec iov[BATCH];
    double t0 = s_now();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        if (k == 1) {
            s_check(seglog_log_append(log, s_rec(i, len), len, NULL), "append");
            continue;
        }
        for (size_t j = 0; j < k; j++)
            iov[j] = (struct iovec){(void *)s_rec(i + j, len), len};
        s_check(seglog_log_append_batch(log, iov, k, NULL), "append_batch");
    }
    s_check(seglog_log_flush(log), "flush");
    double t = s_now() - t0;
    s_remove_log(&log);
    return t;
}

static void s_bench_appends(void)
{
    printf("\n[appends, sync NONE, 256 KiB write buffer, 64 MiB segments; then one flush]\n");
    s_header_row();
    const size_t lens[2] = {100, 1024};
    const size_t counts[2] = {S.n_small, S.n_large};
    for (int l = 0; l < 2; l++) {
        size_t len = lens[l], n = counts[l];
        uint64_t bytes = STORE_HDR + (uint64_t)n * (FRAME_HDR + len);
        /* Raw and append runs alternate, so that both see the same state of
         * the page cache and of the machine; ratios are taken per run. */
        double raw[REPS], rmb[REPS], rate[2][REPS], mb[2][REPS], ratio[2][REPS];
        for (int r = 0; r < REPS; r++) {
            raw[r] = s_raw_write(bytes);
            rmb[r] = (double)bytes / raw[r] / 1e6; /* MB/s of file bytes */
            for (int b = 0; b < 2; b++) {
                double t = s_append_run(len, n, b ? BATCH : 1);
                rate[b][r] = (double)n / t;
                mb[b][r] = (double)n * (double)len / t / 1e6;
                ratio[b][r] = raw[r] / t;
            }
        }
        char name[48];
        snprintf(name, sizeof name, "raw write %.0f MB, 1 MiB chunks", (double)bytes / 1e6);
        result_t *rr = s_add(name, NULL, rmb, NULL, NULL);
        snprintf(rr->note, sizeof rr->note, "limit for the %zu B appends (file MB/s)", len);
        s_print_row(rr);
        for (int b = 0; b < 2; b++) {
            snprintf(name, sizeof name, "append %zu B, %s", len, b ? "batches of 100" : "single");
            s_print_row(s_add(name, rate[b], mb[b], ratio[b], "raw"));
        }
    }
}

/* ---- sync ALWAYS: group commit ------------------------------------------- */

typedef struct {
    seglog_log_t *log;
    _Atomic int *stop;
    uint64_t n;
} appender_t;

static void *s_appender(void *arg)
{
    appender_t *a = arg;
    size_t i = 0;
    while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
        s_check(seglog_log_append(a->log, s_rec(i++, 100), 100, NULL), "append (ALWAYS)");
        a->n++;
    }
    return NULL;
}

/* Records/s with `threads` appenders for S.sync_seconds; *syncs_per_s
 * gets the fdatasyncs the log made per second. */
static double s_sync_run(int threads, double *syncs_per_s)
{
    seglog_log_t *log = s_open_log("always", SEGLOG_SYNC_ALWAYS);
    _Atomic int stop = 0;
    appender_t a[4];
    pthread_t th[4];
    uint64_t syncs0 = atomic_load(&s_datasyncs);
    double t0 = s_now();
    for (int i = 0; i < threads; i++) {
        a[i] = (appender_t){log, &stop, 0};
        if (pthread_create(&th[i], NULL, s_appender, &a[i]) != 0)
            s_die("pthread_create", EAGAIN);
    }
    struct timespec ts = {(time_t)S.sync_seconds,
                          (long)((S.sync_seconds - (double)(time_t)S.sync_seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    uint64_t n = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        n += a[i].n;
    }
    double t = s_now() - t0;
    *syncs_per_s = (double)(atomic_load(&s_datasyncs) - syncs0) / t;
    s_remove_log(&log);
    return (double)n / t;
}

static void s_bench_sync(void)
{
    printf("\n[sync ALWAYS, 100 B records, %.2f s per run; fdatasyncs counted by a wrapping "
           "vfs]\n",
           S.sync_seconds);
    s_header_row();
    s_settle();
    const int threads[2] = {1, 4};
    double loop[REPS], rate[2][REPS], syncs[2][REPS], ratio[2][REPS];
    for (int r = 0; r < REPS; r++) {
        loop[r] = s_sync_loop(100 + FRAME_HDR, S.sync_seconds);
        for (int k = 0; k < 2; k++) {
            rate[k][r] = s_sync_run(threads[k], &syncs[k][r]);
            ratio[k][r] = rate[k][r] / loop[r];
        }
    }
    result_t *lr = s_add("raw pwrite 108 B + fdatasync", loop, NULL, NULL, NULL);
    snprintf(lr->note, sizeof lr->note, "limit (fdatasyncs/s)");
    s_print_row(lr);
    for (int k = 0; k < 2; k++) {
        stat_t st = s_stat(rate[k], REPS), ss = s_stat(syncs[k], REPS);
        char name[48];
        snprintf(name, sizeof name, "append 100 B ALWAYS, %d thread%s", threads[k],
                 threads[k] > 1 ? "s" : "");
        result_t *res = s_add(name, rate[k], NULL, ratio[k], "sync");
        snprintf(res->note, sizeof res->note, "%.0f fdatasync/s, %.2f rec/sync", ss.med,
                 st.med / ss.med);
        s_print_row(res);
    }
}

/* ---- reads --------------------------------------------------------------- */

static seglog_log_t *s_build_log(const char *name, size_t len, size_t n)
{
    seglog_log_t *log = s_open_log(name, SEGLOG_SYNC_NONE);
    struct iovec iov[BATCH];
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        for (size_t j = 0; j < k; j++)
            iov[j] = (struct iovec){(void *)s_rec(i + j, len), len};
        s_check(seglog_log_append_batch(log, iov, k, NULL), "append_batch");
    }
    s_check(seglog_log_flush(log), "flush");
    return log;
}

static double s_read_iter(seglog_log_t *log, size_t n, size_t len)
{
    seglog_iter_t *it = NULL;
    s_check(seglog_iter_new(log, &it), "iter_new");
    double t0 = s_now();
    s_check(seglog_iter_seek(it, 0, 0, 0), "iter_seek");
    size_t got = 0, bytes = 0, l;
    const void *d;
    int rc;
    while ((rc = seglog_iter_next(it, NULL, &d, &l)) == 1) {
        got++;
        bytes += l;
    }
    double t = s_now() - t0;
    s_check(rc, "iter_next");
    seglog_iter_destroy(&it);
    if (got != n || bytes != n * len)
        s_die("iterator returned the wrong records", SEGLOG_E_CORRUPT);
    return t;
}

static double s_read_seq(seglog_log_t *log, size_t n, size_t len)
{
    static uint8_t buf[2048];
    size_t bytes = 0, l;
    double t0 = s_now();
    for (size_t i = 0; i < n; i++) {
        s_check(seglog_log_read(log, i, buf, sizeof buf, &l), "log_read");
        bytes += l;
    }
    double t = s_now() - t0;
    if (bytes != n * len)
        s_die("log_read returned the wrong records", SEGLOG_E_CORRUPT);
    return t;
}

static double s_read_random(seglog_log_t *log, const uint64_t *offs, size_t m)
{
    static uint8_t buf[2048];
    size_t l;
    double t0 = s_now();
    for (size_t i = 0; i < m; i++)
        s_check(seglog_log_read(log, offs[i], buf, sizeof buf, &l), "log_read");
    return s_now() - t0;
}

/* The store files of a log of 100 B records, opened for raw reads. */
typedef struct {
    int fd[64];
    size_t records[64]; /* records in each file */
    size_t nfiles, total;
} stores_t;

static void s_stores_open(stores_t *st, const char *name)
{
    char dir[4200], path[4500];
    s_path(dir, sizeof dir, name);
    memset(st, 0, sizeof *st);
    /* Segment files are named by base offset: walk them in order. */
    for (uint64_t base = 0; st->nfiles < 64; st->nfiles++) {
        snprintf(path, sizeof path, "%s/%020" PRIu64 ".store", dir, base);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            break;
        struct stat sb;
        if (fstat(fd, &sb) < 0)
            s_die("fstat store", errno);
        st->fd[st->nfiles] = fd;
        st->records[st->nfiles] = (size_t)(sb.st_size - STORE_HDR) / (FRAME_HDR + 100);
        st->total += st->records[st->nfiles];
        base += st->records[st->nfiles];
    }
    if (st->nfiles == 0)
        s_die("no store files", ENOENT);
}

static void s_stores_close(stores_t *st)
{
    for (size_t i = 0; i < st->nfiles; i++)
        close(st->fd[i]);
}

/* Our layout without the library (span 1), and the alternative of one
 * CRC per 100-record batch (span 100): to return one random record,
 * pread the bytes of `span` records around it, aligned to a batch start,
 * and CRC all of them. The log was written in batches of 100, so every
 * store file starts with a batch. Seconds for m reads. */
static double s_read_span(const stores_t *st, size_t span, const uint64_t *offs, size_t m)
{
    size_t frame = FRAME_HDR + 100;
    uint8_t *buf = malloc(span * frame);
    if (!buf)
        s_die("malloc", ENOMEM);
    uint32_t sink = 0;
    double t0 = s_now();
    for (size_t i = 0; i < m; i++) {
        uint64_t rel = offs[i];
        size_t f = 0;
        while (rel >= st->records[f])
            rel -= st->records[f++];
        off_t pos = (off_t)(STORE_HDR + rel / span * span * frame);
        if (pread(st->fd[f], buf, span * frame, pos) != (ssize_t)(span * frame))
            s_die("pread store", EIO);
        sink ^= sl_crc32c(0, buf, span * frame);
    }
    double t = s_now() - t0;
    free(buf);
    if (sink == 0x12345678u)
        printf(" "); /* keep the CRC from being optimised away */
    return t;
}

static void s_bench_reads(void)
{
    printf("\n[reads from the page cache, sync NONE; logs written in batches of 100]\n");
    s_header_row();
    const size_t lens[2] = {100, 1024};
    const size_t counts[2] = {S.n_small, S.n_large};
    seglog_log_t *small = NULL;
    for (int l = 0; l < 2; l++) {
        size_t len = lens[l], n = counts[l];
        char name[48];
        snprintf(name, sizeof name, "read%zu", len);
        seglog_log_t *log = s_build_log(name, len, n);
        s_settle(); /* no writeback while we measure */
        double rate[REPS], mb[REPS];
        for (int r = 0; r < REPS; r++) {
            double t = s_read_iter(log, n, len);
            rate[r] = (double)n / t;
            mb[r] = (double)(n * len) / t / 1e6;
        }
        snprintf(name, sizeof name, "sequential %zu B, iterator", len);
        s_print_row(s_add(name, rate, mb, NULL, NULL));
        for (int r = 0; r < REPS; r++) {
            double t = s_read_seq(log, n, len);
            rate[r] = (double)n / t;
            mb[r] = (double)(n * len) / t / 1e6;
        }
        snprintf(name, sizeof name, "sequential %zu B, log_read", len);
        s_print_row(s_add(name, rate, mb, NULL, NULL));
        if (l == 0)
            small = log;
        else
            s_remove_log(&log);
    }

    /* Random reads through the library, and the raw reads of the same
     * records (see s_read_span), alternating. */
    size_t m = S.n_random, n = S.n_small, m_alt = m / 10;
    uint64_t *offs = malloc(m * sizeof *offs);
    if (!offs)
        s_die("malloc", ENOMEM);
    for (size_t i = 0; i < m; i++)
        offs[i] = s_rand() % n;
    stores_t st;
    s_stores_open(&st, "read100");
    if (st.total != n)
        s_die("store files do not hold the log", SEGLOG_E_CORRUPT);
    double rate[3][REPS], mb[3][REPS];
    for (int r = 0; r < REPS; r++) {
        double t = s_read_random(small, offs, m);
        rate[0][r] = (double)m / t;
        t = s_read_span(&st, 1, offs, m);
        rate[1][r] = (double)m / t;
        t = s_read_span(&st, BATCH, offs, m_alt);
        rate[2][r] = (double)m_alt / t;
        for (int k = 0; k < 3; k++)
            mb[k][r] = rate[k][r] * 100 / 1e6;
    }
    s_stores_close(&st);
    free(offs);
    s_print_row(s_add("random 100 B, log_read", rate[0], mb[0], NULL, NULL));
    result_t *res = s_add("random 100 B, raw pread+CRC 1 rec", rate[1], mb[1], NULL, NULL);
    snprintf(res->note, sizeof res->note, "our layout without the library");
    s_print_row(res);
    res = s_add("random 100 B, pread+CRC 100 recs", rate[2], mb[2], NULL, NULL);
    snprintf(res->note, sizeof res->note, "alternative: one CRC per batch");
    s_print_row(res);
    s_remove_log(&small);
}

/* ---- reopen -------------------------------------------------------------- */

/* Drop our log's files from the page cache (they are clean after
 * s_settle), for a cold-cache open without touching anything else. */
static void s_evict(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        s_die("opendir", errno);
    struct dirent *e;
    char path[4600];
    while ((e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    closedir(d);
}

typedef enum { OPEN_CLEAN, OPEN_COLD, OPEN_CRASHED } open_kind_t;

/* Time seglog_log_open of dir, in ms; the log is closed cleanly again. */
static double s_time_open(const char *dir, open_kind_t kind, seglog_recovery_t *rec)
{
    seglog_config_t cfg;
    seglog_config_default(&cfg);
    cfg.sync = SEGLOG_SYNC_NONE;
    char marker[4300];
    snprintf(marker, sizeof marker, "%s/%s", dir, SL_CLEAN_MARKER);
    if (kind == OPEN_CRASHED && unlink(marker) < 0)
        s_die("unlink marker", errno);
    if (kind == OPEN_COLD)
        s_evict(dir);
    seglog_log_t *log = NULL;
    double t0 = s_now();
    s_check(seglog_log_open(dir, &cfg, &log), "reopen");
    double ms = (s_now() - t0) * 1e3;
    seglog_log_recovery(log, rec);
    if (rec->clean != (kind != OPEN_CRASHED))
        s_die("reopen found the log in the wrong state", SEGLOG_E_CORRUPT);
    s_check(seglog_log_close(log), "close");
    seglog_log_destroy(&log);
    s_settle();
    return ms;
}

static void s_bench_reopen(void)
{
    size_t len = 1024;
    size_t n = (size_t)((S.reopen_size + FRAME_HDR + len - 1) / (FRAME_HDR + len));
    double mib = (double)n * (FRAME_HDR + len) / (1 << 20);
    printf("\n[reopen: %zu records of 1 KiB, %.0f MiB of store, written in batches of 100]\n", n,
           mib);
    s_header_row();
    seglog_log_t *log = s_build_log("reopen", len, n);
    s_check(seglog_log_close(log), "close");
    seglog_log_destroy(&log);
    s_settle();
    char dir[4200];
    s_path(dir, sizeof dir, "reopen");
    static const char *names[3] = {"reopen clean log, warm cache", "reopen clean log, cold cache",
                                   "reopen after a crash (no marker)"};
    seglog_recovery_t rec = {0};
    for (int k = 0; k < 3; k++) {
        double ms[REPS];
        for (int r = 0; r < REPS; r++)
            ms[r] = s_time_open(dir, (open_kind_t)k, &rec);
        stat_t t = s_stat(ms, REPS);
        result_t *res = s_add(names[k], NULL, NULL, NULL, NULL);
        res->ms = t;
        snprintf(res->note, sizeof res->note, "%.2f ms (%.2f-%.2f), %" PRIu32 " segments, %.0f MiB",
                 t.med, t.min, t.max, rec.segments, mib);
        s_print_row(res);
    }
    seglog_config_t cfg;
    seglog_config_default(&cfg);
    s_check(seglog_log_open(dir, &cfg, &log), "open for remove");
    s_remove_log(&log);
}

/* ---- main ---------------------------------------------------------------- */

static void s_machine(void)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    snprintf(model, sizeof model, "%s", p + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    struct utsname u;
    uname(&u);
    printf("machine: nproc %ld, CPU %s, kernel %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), model,
           u.sysname, u.release, u.machine);
}

/* Other work on the machine skews every figure: say how busy it was. */
static void s_load(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(buf, sizeof buf, f))
            buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
    printf("load average %s: %s\n", when, buf);
}

static const result_t *s_find(const char *name)
{
    for (int i = 0; i < s_nresults; i++)
        if (strcmp(s_results[i].name, name) == 0)
            return &s_results[i];
    return NULL;
}

/* One target: the median against the goal. */
static void s_target(const char *what, double value, double goal, int at_least, const char *unit)
{
    int met = at_least ? value >= goal : value < goal;
    printf("  %-44s %10.2f %-5s (target %s %.2f)  %s\n", what, value, unit, at_least ? ">=" : "<",
           goal, met ? "met" : "MISSED");
}

static void s_summary(void)
{
    printf("\n[summary]\n");
    s_header_row();
    for (int i = 0; i < s_nresults; i++)
        s_print_row(&s_results[i]);

    printf("\n[targets, on the medians]\n");
    const result_t *r;
    if ((r = s_find("append 100 B, single")))
        s_target("append 100 B single, M records/s", r->rate.med / 1e6, 2.0, 1, "M/s");
    if ((r = s_find("append 1024 B, batches of 100")))
        s_target("append 1 KiB batches, ratio to raw write", r->ratio.med, 0.60, 1, "");
    const char *seq[4] = {"sequential 100 B, iterator", "sequential 1024 B, iterator",
                          "sequential 100 B, log_read", "sequential 1024 B, log_read"};
    for (int k = 0; k < 4; k++)
        if ((r = s_find(seq[k])))
            s_target(seq[k], r->mbps.med / 1e3, 1.0, 1, "GB/s");
    if ((r = s_find("random 100 B, log_read")))
        s_target("random 100 B, log_read, M reads/s", r->rate.med / 1e6, 1.0, 1, "M/s");
    if ((r = s_find("reopen clean log, warm cache")))
        s_target("reopen clean log, warm cache", r->ms.med, 50, 0, "ms");
    if ((r = s_find("reopen clean log, cold cache")))
        s_target("reopen clean log, cold cache", r->ms.med, 50, 0, "ms");
}

int main(int argc, char **argv)
{
    const char *base = NULL, *only = "appends,sync,reads,reopen";
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strncmp(argv[i], "--only=", 7) == 0) {
            only = argv[i] + 7;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--quick] [--only=appends,sync,reads,reopen] [DIR]\n",
                    argv[0]);
            return 2;
        } else {
            base = argv[i];
        }
    }
    if (!base)
        base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    S = quick ? s_quick : s_full;
    snprintf(s_root, sizeof s_root, "%s/log_bench.XXXXXX", base);
    if (!mkdtemp(s_root)) {
        fprintf(stderr, "log_bench: cannot create a directory in %s: %s\n", base, strerror(errno));
        return 1;
    }
    atexit(s_cleanup);
    s_payload = malloc(s_payload_len);
    if (!s_payload)
        s_die("malloc", ENOMEM);
    for (size_t i = 0; i < s_payload_len; i += 8) {
        uint64_t v = s_rand();
        memcpy(s_payload + i, &v, 8);
    }

    s_machine();
    printf("mode: %s, data in %s, %d runs per figure\n", quick ? "quick" : "full", s_root, REPS);
    s_load("at start");
    double t0 = s_now();
    if (strstr(only, "appends"))
        s_bench_appends();
    if (strstr(only, "sync"))
        s_bench_sync();
    if (strstr(only, "reads"))
        s_bench_reads();
    if (strstr(only, "reopen"))
        s_bench_reopen();
    s_summary();
    printf("\ntotal time %.1f s; ", s_now() - t0);
    s_load("at end");
    free(s_payload);
    return 0;
}
