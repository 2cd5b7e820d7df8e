/* topics.c - see topics.h */
#include "topics.h"

#include "errors.h"
#include "metrics.h"
#include "topics_dir.h"
#include "slog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct sl_topics {
    char *data_dir;
    int dir_fd; /* holds the flock */
    seglog_config_t log_cfg;
    uint32_t max_topics;
    void (*notify)(void *arg);
    void *notify_arg;
    void (*wake)(void *arg); /* a visible end may have moved (long polls) */
    void *wake_arg;
    struct sl_hist *commit_records;
    int cluster;                  /* cluster mode: limits start at 0 */
    size_t mask;                  /* table size - 1; the size is a power of two */
    _Atomic(sl_topic_t *) *table; /* open addressing, linear probing */
    _Atomic(sl_topic_t *) head;   /* newest live topic */
    atomic_size_t count;          /* live topics */
    pthread_mutex_t create_mu;    /* serialises create and delete; lookups take no lock */
    /* under create_mu */
    sl_topic_t *all;     /* every topic ever made, through all_next */
    uint32_t *free_idx;  /* indexes of deleted topics, for reuse */
    size_t nfree;
    uint32_t next_idx;   /* indexes below it were handed out */
};

static void s_wake(sl_topics_t *t)
{
    if (t->wake)
        t->wake(t->wake_arg);
}

/* A table slot whose topic was deleted: lookups probe past it. */
static sl_topic_t s_tomb;


int sl_topic_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > SL_TOPIC_NAME_MAX)
        return 0;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static uint64_t s_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The live topic called name, or NULL. With slot, *slot gets its index. */
static sl_topic_t *s_find(sl_topics_t *t, const char *name, size_t len, size_t *slot)
{
    size_t i = s_hash(name, len) & t->mask;
    for (size_t k = 0; k <= t->mask; k++, i = (i + 1) & t->mask) {
        sl_topic_t *tp = atomic_load_explicit(&t->table[i], memory_order_acquire);
        if (!tp)
            return NULL;
        if (tp != &s_tomb && tp->name_len == len && memcmp(tp->name, name, len) == 0 &&
            !atomic_load(&tp->deleted)) {
            if (slot)
                *slot = i;
            return tp;
        }
    }
    return NULL;
}

static sl_topic_t *s_lookup(sl_topics_t *t, const char *name, size_t len)
{
    return s_find(t, name, len, NULL);
}

/* Caller holds create_mu, and tp's name is not in the table. The table has
 * room: it is at least twice max_topics, and count < max_topics. */
static void s_insert(sl_topics_t *t, sl_topic_t *tp)
{
    size_t i = s_hash(tp->name, tp->name_len) & t->mask;
    for (;;) {
        sl_topic_t *cur = atomic_load_explicit(&t->table[i], memory_order_relaxed);
        if (!cur || cur == &s_tomb)
            break;
        i = (i + 1) & t->mask;
    }
    atomic_store_explicit(&tp->next, atomic_load(&t->head), memory_order_relaxed);
    tp->all_next = t->all;
    t->all = tp;
    atomic_store_explicit(&t->table[i], tp, memory_order_release);
    atomic_store_explicit(&t->head, tp, memory_order_release);
    atomic_fetch_add(&t->count, 1);
}

/* The lowest free topic index. Caller holds create_mu. */
static uint32_t s_take_index(sl_topics_t *t)
{
    if (t->nfree == 0)
        return t->next_idx++;
    size_t best = 0;
    for (size_t i = 1; i < t->nfree; i++)
        if (t->free_idx[i] < t->free_idx[best])
            best = i;
    uint32_t idx = t->free_idx[best];
    t->free_idx[best] = t->free_idx[--t->nfree];
    return idx;
}

/* Take tp out of the table, the live list and the count. Caller holds
 * create_mu; slot is tp's table index. Readers that hold tp keep it. */
static void s_unlink(sl_topics_t *t, sl_topic_t *tp, size_t slot)
{
    atomic_store_explicit(&t->table[slot], &s_tomb, memory_order_release);
    /* A tombstone followed by an empty slot ends no probe early: empty
     * it, and the tombstones before it. */
    for (size_t i = slot; atomic_load(&t->table[(i + 1) & t->mask]) == NULL &&
                          atomic_load(&t->table[i]) == &s_tomb;
         i = (i - 1) & t->mask)
        atomic_store_explicit(&t->table[i], NULL, memory_order_release);
    sl_topic_t *prev = NULL;
    for (sl_topic_t *p = atomic_load(&t->head); p && p != tp; p = atomic_load(&p->next))
        prev = p;
    sl_topic_t *after = atomic_load(&tp->next);
    if (prev)
        atomic_store_explicit(&prev->next, after, memory_order_release);
    else if (atomic_load(&t->head) == tp)
        atomic_store_explicit(&t->head, after, memory_order_release);
    atomic_fetch_sub(&t->count, 1);
    t->free_idx[t->nfree++] = tp->index; /* room for max_topics */
}

static void s_on_commit(void *arg, uint64_t committed_next)
{
    sl_topic_t *tp = arg;
    uint64_t cur = atomic_load(&tp->committed);
    /* Two syncing threads may report out of order; keep the maximum. */
    while (committed_next > cur &&
           !atomic_compare_exchange_weak(&tp->committed, &cur, committed_next))
        ;
    if (committed_next > cur && tp->owner->commit_records)
        sl_hist_observe(tp->owner->commit_records, committed_next - cur);
    if (tp->owner->notify)
        tp->owner->notify(tp->owner->notify_arg);
    s_wake(tp->owner);
}

static void s_log_fn(void *arg, int level, const char *msg)
{
    sl_topic_t *tp = arg;
    int lvl = level == SEGLOG_LEVEL_ERROR  ? SL_LOG_ERROR
              : level == SEGLOG_LEVEL_WARN ? SL_LOG_WARN
                                           : SL_LOG_INFO;
    char q[1024];
    sl_log(lvl, "log core topic=%s msg=%s", tp->name, sl_log_quote(q, sizeof q, msg, strlen(msg)));
}

/* The log's path, malloc'ed: data_dir/name, or data_dir/name + suffix. */
static char *s_path(const sl_topics_t *t, const char *name, const char *suffix)
{
    size_t n = strlen(t->data_dir) + 1 + strlen(name) + (suffix ? strlen(suffix) : 0) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", t->data_dir, name, suffix ? suffix : "");
    return p;
}

char *sl_topics_dir(const sl_topics_t *t, const sl_topic_t *tp)
{
    return s_path(t, tp->name, NULL);
}

static void s_log_opened(const sl_topic_t *tp, int create, uint64_t lowest, uint64_t next)
{
    const seglog_recovery_t *r = &tp->recovery;
    /* Anything repaired means the last shutdown was not clean: say so. */
    int repaired = r->bytes_truncated || r->indexes_rebuilt || r->indexes_repaired ||
                   r->records_recovered;
    sl_log(repaired ? SL_LOG_WARN : SL_LOG_INFO,
           "topic %s topic=%s clean=%d segments=%" PRIu32 " lowest=%" PRIu64 " next=%" PRIu64
           " indexes_rebuilt=%" PRIu32 " indexes_repaired=%" PRIu32 " bytes_truncated=%" PRIu64
           " records_recovered=%" PRIu64 " files_ignored=%" PRIu32,
           create ? "created" : repaired ? "recovered" : "opened", tp->name, r->clean,
           r->segments, lowest, next, r->indexes_rebuilt, r->indexes_repaired, r->bytes_truncated,
           r->records_recovered, r->files_ignored);
}

/* Open (or create) a topic's log. Caller holds create_mu (or runs before
 * any other thread); tp->index is taken here, on success. */
static int s_open_topic_id(sl_topics_t *t, const char *name, size_t len, int create,
                           uint64_t log_id, sl_topic_t **out)
{
    sl_topic_t *tp = calloc(1, sizeof *tp);
    if (!tp)
        return SEGLOG_E_NOMEM;
    memcpy(tp->name, name, len);
    tp->name_len = len;
    tp->owner = t;
    tp->pstate = sl_pstate_new();
    char *path = tp->pstate ? s_path(t, tp->name, NULL) : NULL;
    if (!path) {
        sl_pstate_destroy(&tp->pstate);
        free(tp);
        return SEGLOG_E_NOMEM;
    }
    seglog_config_t cfg = t->log_cfg;
    cfg.log_id = log_id;
    cfg.on_commit = s_on_commit;
    cfg.on_commit_arg = tp;
    cfg.log_fn = s_log_fn;
    cfg.log_arg = tp;
    int rc = seglog_log_open(path, &cfg, &tp->log);
    if (rc == 0 && (rc = sl_topicconf_load(&tp->conf, path)) != 0) {
        sl_log(SL_LOG_ERROR, "topic settings unreadable topic=%s file=%s/" SL_CONF_FILE
               " error=\"%s\"", tp->name, path, sl_strerror(rc));
        seglog_log_destroy(&tp->log);
    }
    free(path);
    if (rc) {
        sl_log(SL_LOG_ERROR, "topic open failed topic=%s error=\"%s\"", tp->name, sl_strerror(rc));
        sl_pstate_destroy(&tp->pstate);
        free(tp);
        return rc;
    }
    pthread_mutex_init(&tp->pub_mu, NULL);
    tp->index = s_take_index(t);
    seglog_log_recovery(tp->log, &tp->recovery);
    uint64_t committed = 0, next = 0, lowest = 0;
    seglog_log_committed_offset(tp->log, &committed);
    seglog_log_next_offset(tp->log, &next);
    seglog_log_lowest_offset(tp->log, &lowest);
    tp->publish_from = committed;
    atomic_store(&tp->committed, committed);
    atomic_store(&tp->acked, committed);
    atomic_store(&tp->limit, t->cluster ? 0 : UINT64_MAX);
    atomic_store(&tp->cluster, NULL);
    s_log_opened(tp, create, lowest, next);
    *out = tp;
    return 0;
}

static int s_open_topic(sl_topics_t *t, const char *name, size_t len, int create, sl_topic_t **out)
{
    return s_open_topic_id(t, name, len, create, 0, out);
}

int sl_topics_new(const sl_topics_config_t *cfg, sl_topics_t **out)
{
    if (!cfg || !cfg->data_dir || !*cfg->data_dir || cfg->max_topics == 0 || !out)
        return SEGLOG_E_INVAL;
    sl_topics_t *t = calloc(1, sizeof *t);
    if (!t)
        return SEGLOG_E_NOMEM;
    t->dir_fd = -1;
    t->log_cfg = cfg->log;
    t->max_topics = cfg->max_topics;
    t->notify = cfg->notify;
    t->notify_arg = cfg->notify_arg;
    t->wake = cfg->wake;
    t->wake_arg = cfg->wake_arg;
    t->commit_records = cfg->commit_records;
    t->cluster = cfg->cluster;
    pthread_mutex_init(&t->create_mu, NULL);
    size_t size = 16;
    while (size < 2 * (size_t)cfg->max_topics)
        size *= 2;
    t->mask = size - 1;
    t->table = calloc(size, sizeof *t->table);
    t->free_idx = calloc(cfg->max_topics, sizeof *t->free_idx);
    t->data_dir = strdup(cfg->data_dir);
    int rc = (!t->table || !t->free_idx || !t->data_dir) ? SEGLOG_E_NOMEM : 0;
    if (rc == 0)
        rc = sl_tdir_mkdir_p(t->data_dir);
    if (rc == 0) {
        t->dir_fd = open(t->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (t->dir_fd < 0)
            rc = errno;
    }
    if (rc == 0 && flock(t->dir_fd, LOCK_EX | LOCK_NB) < 0)
        rc = errno == EWOULDBLOCK ? SEGLOG_E_LOCKED : errno;
    if (rc == 0 && (rc = sl_tdir_probe_writable(t->dir_fd)) != 0) {
        sl_log(SL_LOG_ERROR, "data directory is not writable dir=%s error=\"%s\"", cfg->data_dir,
               sl_strerror(rc));
        sl_topics_destroy(&t);
        return rc;
    }
    if (rc) {
        sl_log(SL_LOG_ERROR, "cannot use data directory dir=%s error=\"%s\"", cfg->data_dir,
               sl_strerror(rc));
        sl_topics_destroy(&t);
        return rc;
    }
    char **names = NULL;
    size_t n = 0;
    rc = sl_tdir_scan(t->dir_fd, &names, &n);
    if (rc == 0 && n > t->max_topics) {
        sl_log(SL_LOG_ERROR, "data directory holds more topics than --max-topics topics=%zu max=%u",
               n, t->max_topics);
        rc = SL_E_TOO_MANY_TOPICS;
    }
    for (size_t i = 0; i < n; i++) {
        sl_topic_t *tp;
        if (rc == 0 && (rc = s_open_topic(t, names[i], strlen(names[i]), 0, &tp)) == 0)
            s_insert(t, tp);
        free(names[i]);
    }
    free(names);
    if (rc) {
        sl_topics_destroy(&t);
        return rc;
    }
    *out = t;
    return 0;
}

static int s_get(sl_topics_t *t, const char *name, size_t len, int create, uint64_t log_id,
                 sl_topic_t **out)
{
    if (len == 0) {
        name = SL_DEFAULT_TOPIC;
        len = strlen(SL_DEFAULT_TOPIC);
    }
    if (!sl_topic_name_valid(name, len))
        return SL_E_INVALID_TOPIC;
    sl_topic_t *tp = s_lookup(t, name, len);
    if (tp) {
        *out = tp;
        return 0;
    }
    if (!create)
        return SL_E_UNKNOWN_TOPIC;
    pthread_mutex_lock(&t->create_mu);
    int rc = 0;
    tp = s_lookup(t, name, len);
    if (!tp) {
        if (atomic_load(&t->count) >= t->max_topics)
            rc = SL_E_TOO_MANY_TOPICS;
        else if ((rc = s_open_topic_id(t, name, len, 1, log_id, &tp)) == 0)
            s_insert(t, tp);
    }
    pthread_mutex_unlock(&t->create_mu);
    if (rc == 0)
        *out = tp;
    return rc;
}

int sl_topics_get(sl_topics_t *t, const char *name, size_t len, int create, sl_topic_t **out)
{
    return s_get(t, name, len, create, 0, out);
}

int sl_topics_get_id(sl_topics_t *t, const char *name, size_t len, uint64_t log_id,
                     sl_topic_t **out, int *replaced)
{
    if (replaced)
        *replaced = 0;
    sl_topic_t *tp = NULL;
    uint64_t have = 0;
    if (log_id && s_get(t, name, len, 0, 0, &tp) == 0 && seglog_log_epoch(tp->log, &have) == 0 &&
        have != log_id) {
        sl_log(SL_LOG_WARN,
               "topic's local log is a stale incarnation, deleting it topic=%s log_id=%016" PRIx64
               " expected=%016" PRIx64,
               tp->name, have, log_id);
        int rc = sl_topics_delete(t, tp->name, tp->name_len);
        if (rc && rc != SL_E_UNKNOWN_TOPIC)
            return rc;
        if (replaced)
            *replaced = 1;
    }
    return s_get(t, name, len, 1, log_id, out);
}

sl_topic_t *sl_topics_first(sl_topics_t *t)
{
    return atomic_load_explicit(&t->head, memory_order_acquire);
}

size_t sl_topics_count(sl_topics_t *t)
{
    return atomic_load(&t->count);
}

int sl_topics_sync_all(sl_topics_t *t)
{
    int first = 0;
    for (sl_topic_t *tp = sl_topics_first(t); tp; tp = atomic_load(&tp->next)) {
        int rc = seglog_log_sync(tp->log);
        if (rc && rc != SEGLOG_E_CLOSED) {
            sl_log(SL_LOG_ERROR, "sync failed topic=%s error=\"%s\"", tp->name, sl_strerror(rc));
            if (!first)
                first = rc;
        }
    }
    return first;
}

int sl_topics_close_all(sl_topics_t *t)
{
    int first = 0;
    for (sl_topic_t *tp = sl_topics_first(t); tp; tp = atomic_load(&tp->next)) {
        int rc = seglog_log_close(tp->log);
        if (rc && rc != SEGLOG_E_CLOSED) {
            sl_log(SL_LOG_ERROR, "close failed topic=%s error=\"%s\"", tp->name, sl_strerror(rc));
            if (!first)
                first = rc;
        }
    }
    return first;
}

void sl_topics_destroy(sl_topics_t **t_p)
{
    if (!t_p || !*t_p)
        return;
    sl_topics_t *t = *t_p;
    *t_p = NULL;
    sl_topic_t *tp = t->all;
    while (tp) {
        sl_topic_t *next = tp->all_next;
        seglog_log_destroy(&tp->log);
        pthread_mutex_destroy(&tp->pub_mu);
        sl_pstate_destroy(&tp->pstate);
        free(tp);
        tp = next;
    }
    if (t->dir_fd >= 0)
        close(t->dir_fd);
    pthread_mutex_destroy(&t->create_mu);
    free(t->free_idx);
    free(t->table);
    free(t->data_dir);
    free(t);
}

/* ---- delete -------------------------------------------------------------- */

static const seglog_vfs_t *s_vfs(const sl_topics_t *t)
{
    return t->log_cfg.vfs ? t->log_cfg.vfs : seglog_vfs_posix();
}

/* Put a topic whose delete failed back (a new sl_topic_t on the same
 * files). Caller holds create_mu. */
static void s_reopen(sl_topics_t *t, const char *name, size_t len)
{
    sl_topic_t *tp;
    int rc = s_open_topic(t, name, len, 0, &tp);
    if (rc == 0)
        s_insert(t, tp);
    else
        sl_log(SL_LOG_ERROR, "topic cannot be reopened after a failed delete topic=%.*s error=\"%s\"",
               (int)len, name, sl_strerror(rc));
}

int sl_topics_delete(sl_topics_t *t, const char *name, size_t len)
{
    if (len == 0) {
        name = SL_DEFAULT_TOPIC;
        len = strlen(SL_DEFAULT_TOPIC);
    }
    if (!sl_topic_name_valid(name, len))
        return SL_E_INVALID_TOPIC;
    pthread_mutex_lock(&t->create_mu);
    size_t slot = 0;
    sl_topic_t *tp = s_find(t, name, len, &slot);
    if (!tp) {
        pthread_mutex_unlock(&t->create_mu);
        return SL_E_UNKNOWN_TOPIC;
    }
    /* Under pub_mu: once it is set, the publisher sends nothing more. */
    pthread_mutex_lock(&tp->pub_mu);
    atomic_store(&tp->deleted, 1);
    pthread_mutex_unlock(&tp->pub_mu);
    s_wake(t); /* long polls on it answer UNKNOWN_TOPIC now */
    s_unlink(t, tp, slot);
    uint64_t epoch = 0;
    seglog_log_epoch(tp->log, &epoch);
    /* Waits for the appends and reads in progress; later ones get CLOSED. */
    int rc = seglog_log_close(tp->log);
    if (rc && rc != SEGLOG_E_CLOSED)
        sl_log(SL_LOG_WARN, "closing a deleted topic failed topic=%s error=\"%s\"", tp->name,
               sl_strerror(rc));
    char suffix[sizeof SL_TOMB_MARK + 16];
    snprintf(suffix, sizeof suffix, SL_TOMB_MARK "%016" PRIx64, epoch);
    char *from = s_path(t, tp->name, NULL), *to = s_path(t, tp->name, suffix);
    const seglog_vfs_t *v = s_vfs(t);
    rc = from && to ? -v->rename(v->ctx, from, to) : SEGLOG_E_NOMEM;
    if (rc) {
        sl_log(SL_LOG_ERROR, "topic delete failed topic=%s error=\"%s\"", tp->name,
               sl_strerror(rc));
        s_reopen(t, tp->name, tp->name_len);
    } else if ((rc = -v->fsync_dir(v->ctx, t->data_dir)) != 0) {
        sl_log(SL_LOG_ERROR,
               "topic deleted, but not durably: a crash may bring it back topic=%s error=\"%s\"",
               tp->name, sl_strerror(rc));
    }
    pthread_mutex_unlock(&t->create_mu);
    free(from);
    free(to);
    if (rc == 0) {
        /* The delete is on disk. What is left is garbage: if removing it
         * fails, the next start does it. */
        char tomb[SL_TOPIC_NAME_MAX + sizeof suffix];
        snprintf(tomb, sizeof tomb, "%s%s", tp->name, suffix);
        int e = sl_tdir_remove_tomb(t->dir_fd, tomb);
        if (e)
            sl_log(SL_LOG_WARN, "removing a deleted topic's files failed dir=%s error=\"%s\"", tomb,
                   sl_strerror(e));
        sl_log(SL_LOG_INFO, "topic deleted topic=%s epoch=%016" PRIx64, tp->name, epoch);
    }
    return rc;
}

/* ---- visible end ----------------------------------------------------------- */

uint64_t sl_topic_visible_end(sl_topic_t *tp)
{
    uint64_t c = atomic_load_explicit(&tp->committed, memory_order_acquire);
    uint64_t a = atomic_load_explicit(&tp->acked, memory_order_acquire);
    uint64_t v = c > a ? c : a, lim = atomic_load_explicit(&tp->limit, memory_order_acquire);
    return v < lim ? v : lim;
}

void sl_topic_limit_set(sl_topic_t *tp, uint64_t limit)
{
    atomic_store_explicit(&tp->limit, limit, memory_order_release);
    if (tp->owner->notify)
        tp->owner->notify(tp->owner->notify_arg);
    s_wake(tp->owner);
}

void sl_topic_acked(sl_topic_t *tp, uint64_t end)
{
    uint64_t cur = atomic_load(&tp->acked);
    while (end > cur && !atomic_compare_exchange_weak(&tp->acked, &cur, end))
        ;
    if (end > cur)
        s_wake(tp->owner);
}

uint64_t sl_topic_publish_end(sl_topic_t *tp)
{
    uint64_t c = atomic_load_explicit(&tp->committed, memory_order_acquire);
    uint64_t v = sl_topic_visible_end(tp);
    return c < v ? c : v;
}

/* ---- list ------------------------------------------------------------------ */

static int s_cmp_topic(const void *a, const void *b)
{
    return strcmp((*(sl_topic_t *const *)a)->name, (*(sl_topic_t *const *)b)->name);
}

int sl_topics_list(sl_topics_t *t, sl_topic_t ***out, size_t *n_out)
{
    /* Under create_mu, so the count and the walk agree. */
    pthread_mutex_lock(&t->create_mu);
    size_t cap = atomic_load(&t->count), n = 0;
    sl_topic_t **v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v) {
        pthread_mutex_unlock(&t->create_mu);
        return SEGLOG_E_NOMEM;
    }
    for (sl_topic_t *tp = sl_topics_first(t); tp && n < cap; tp = atomic_load(&tp->next))
        v[n++] = tp;
    pthread_mutex_unlock(&t->create_mu);
    if (n > 1)
        qsort(v, n, sizeof *v, s_cmp_topic);
    *out = v;
    *n_out = n;
    return 0;
}
