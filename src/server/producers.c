/* producers.c - see producers.h */
#include "producers.h"

#include "codec.h"
#include "slog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t seq, first;
    uint32_t count;
} pbatch_t;

typedef struct {
    uint64_t pid; /* 0: empty slot */
    uint8_t n, head; /* batches held; index of the newest */
    pbatch_t b[SL_PSTATE_BATCHES];
} producer_t;

/* What a scan for one producer's older batches found (sl_pstate_find_old):
 * kept for the resends that follow, until the state is rebuilt. */
typedef struct {
    uint64_t pid; /* 0: empty */
    pbatch_t *b;
    size_t n, cap;
} history_t;

struct sl_pstate {
    pthread_mutex_t mu;
    history_t hist;
    int loaded;
    uint64_t gen;
    int64_t epoch;
    producer_t *tab; /* open addressing, linear probing; cap a power of two */
    size_t cap, count;
};

sl_pstate_t *sl_pstate_new(void)
{
    sl_pstate_t *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    pthread_mutex_init(&ps->mu, NULL);
    return ps;
}

void sl_pstate_destroy(sl_pstate_t **ps_p)
{
    if (!ps_p || !*ps_p)
        return;
    sl_pstate_t *ps = *ps_p;
    *ps_p = NULL;
    pthread_mutex_destroy(&ps->mu);
    free(ps->hist.b);
    free(ps->tab);
    free(ps);
}

static size_t s_hash(uint64_t pid, size_t cap)
{
    pid ^= pid >> 33;
    pid *= 0xff51afd7ed558ccdull;
    pid ^= pid >> 33;
    return (size_t)pid & (cap - 1);
}

static producer_t *s_find(sl_pstate_t *ps, uint64_t pid)
{
    if (!ps->cap)
        return NULL;
    for (size_t i = s_hash(pid, ps->cap), k = 0; k < ps->cap; i = (i + 1) & (ps->cap - 1), k++) {
        if (ps->tab[i].pid == pid)
            return &ps->tab[i];
        if (ps->tab[i].pid == 0)
            return NULL;
    }
    return NULL;
}

/* Put p into a table known to have room. */
static producer_t *s_place(producer_t *tab, size_t cap, const producer_t *p)
{
    size_t i = s_hash(p->pid, cap);
    while (tab[i].pid)
        i = (i + 1) & (cap - 1);
    tab[i] = *p;
    return &tab[i];
}

static uint64_t s_last_offset(const producer_t *p)
{
    return p->n ? p->b[p->head].first : 0;
}

/* Rehash into cap slots, leaving out `skip` (may be NULL). -1 on OOM. */
static int s_rehash(sl_pstate_t *ps, size_t cap, const producer_t *skip)
{
    producer_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < ps->cap; i++)
        if (ps->tab[i].pid && &ps->tab[i] != skip) {
            s_place(tab, cap, &ps->tab[i]);
            count++;
        }
    free(ps->tab);
    ps->tab = tab;
    ps->cap = cap;
    ps->count = count;
    return 0;
}

/* A new, empty producer pid; NULL on OOM. Evicts the producer with the
 * oldest last batch when the table holds SL_PSTATE_MAX_PRODUCERS. */
static producer_t *s_add(sl_pstate_t *ps, uint64_t pid)
{
    if (ps->count >= SL_PSTATE_MAX_PRODUCERS) {
        producer_t *old = NULL;
        for (size_t i = 0; i < ps->cap; i++)
            if (ps->tab[i].pid && (!old || s_last_offset(&ps->tab[i]) < s_last_offset(old)))
                old = &ps->tab[i];
        if (s_rehash(ps, ps->cap, old))
            return NULL;
    }
    if ((ps->count + 1) * 2 > ps->cap && s_rehash(ps, ps->cap ? ps->cap * 2 : 64, NULL))
        return NULL;
    producer_t p = {.pid = pid};
    ps->count++;
    return s_place(ps->tab, ps->cap, &p);
}

static void s_push(producer_t *p, uint64_t seq, uint64_t first, uint32_t count)
{
    p->head = p->n ? (uint8_t)((p->head + 1) % SL_PSTATE_BATCHES) : 0;
    p->b[p->head] = (pbatch_t){.seq = seq, .first = first, .count = count};
    if (p->n < SL_PSTATE_BATCHES)
        p->n++;
}

static void s_put(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t first, uint32_t count)
{
    producer_t *p = s_find(ps, pid);
    if (!p)
        p = s_add(ps, pid);
    if (p)
        s_push(p, seq, first, count);
}

typedef void s_batch_fn(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t first,
                        uint32_t count, void *arg);

/* Call fn for every idempotent batch among the log's last
 * SL_PSTATE_SCAN_RECORDS records before end; *found: how many. */
static int s_scan(sl_pstate_t *ps, seglog_log_t *log, uint64_t end, s_batch_fn *fn, void *arg,
                  uint64_t *from_out, size_t *found_out)
{
    uint64_t lowest = 0;
    int rc = seglog_log_lowest_offset(log, &lowest);
    if (rc)
        return rc;
    uint64_t from = end - lowest > SL_PSTATE_SCAN_RECORDS ? end - SL_PSTATE_SCAN_RECORDS : lowest;
    *from_out = from;
    *found_out = 0;
    if (from >= end)
        return 0;
    seglog_iter_t *it = NULL;
    if ((rc = seglog_iter_new(log, &it)) != 0)
        return rc;
    rc = seglog_iter_seek(it, from, (size_t)(end - from), 0);
    if (rc == SEGLOG_E_OFFSET_TRUNCATED) { /* a truncation moved the start meanwhile */
        if ((rc = seglog_log_lowest_offset(log, &from)) == 0)
            rc = from < end ? seglog_iter_seek(it, from, (size_t)(end - from), 0) : 0;
    }
    size_t found = 0;
    while (rc == 0) {
        uint64_t off, pid, seq;
        uint32_t cnt;
        const void *data;
        size_t len;
        int r = seglog_iter_next(it, &off, &data, &len);
        if (r <= 0) {
            rc = r;
            break;
        }
        if (sl_codec_stored_producer(data, len, &pid, &seq, &cnt)) {
            if (cnt == 0)
                cnt = 1;
            if (cnt > end - off) /* a batch cut short by truncate_after */
                cnt = (uint32_t)(end - off);
            fn(ps, pid, seq, off, cnt, arg);
            found++;
        }
    }
    seglog_iter_destroy(&it);
    *found_out = found;
    return rc;
}

static void s_put_fn(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t first, uint32_t count,
                     void *arg)
{
    (void)arg;
    s_put(ps, pid, seq, first, count);
}

/* Read the idempotent batches of the log's last records into an empty
 * table. Records appended meanwhile by plain produces carry no producer
 * and do not matter; idempotent ones cannot come (the caller holds mu). */
static int s_rebuild(sl_pstate_t *ps, seglog_log_t *log, uint64_t end)
{
    free(ps->tab);
    ps->tab = NULL;
    ps->cap = ps->count = 0;
    ps->hist.pid = 0;
    ps->hist.n = 0;
    uint64_t from = 0;
    size_t found = 0;
    int rc = s_scan(ps, log, end, s_put_fn, NULL, &from, &found);
    if (rc == 0 && found)
        sl_log(SL_LOG_INFO,
               "producer state rebuilt from offsets %" PRIu64 "..%" PRIu64
               " batches=%zu producers=%zu",
               from, end, found, ps->count);
    return rc;
}

int sl_pstate_begin(sl_pstate_t *ps, seglog_log_t *log, int64_t epoch)
{
    pthread_mutex_lock(&ps->mu);
    /* The common case reads the generation with an atomic load and takes
     * no lock of the log's: the append that follows takes the append mutex
     * once, as a plain produce does. A rollback right after the load is
     * seen in the append's token (sl_pstate_record) or, for a duplicate,
     * in the commit check of its reply token (sl_pstate_check). */
    uint64_t gen = 0;
    int rc = seglog_log_generation(log, &gen);
    if (rc == 0 && ps->loaded && ps->gen == gen && ps->epoch == epoch)
        return 0;
    seglog_commit_t tok;
    if (rc == 0)
        rc = seglog_log_append_token(log, &tok); /* the end and gen, as one */
    if (rc == 0 && (!ps->loaded || ps->gen != tok.gen || ps->epoch != epoch)) {
        ps->loaded = 0;
        rc = s_rebuild(ps, log, tok.target);
        if (rc == 0) {
            ps->loaded = 1;
            ps->gen = tok.gen;
            ps->epoch = epoch;
        }
    }
    if (rc)
        pthread_mutex_unlock(&ps->mu);
    return rc;
}

void sl_pstate_end(sl_pstate_t *ps)
{
    pthread_mutex_unlock(&ps->mu);
}

sl_seq_t sl_pstate_check(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t *first,
                         uint32_t *count, uint64_t *expected, seglog_commit_t *dup)
{
    const producer_t *p = s_find(ps, pid);
    if (!p || !p->n)
        return SL_SEQ_NEW; /* unknown: take it (producers.h) */
    uint64_t last = p->b[p->head].seq;
    *expected = last + 1;
    if (seq == last + 1)
        return SL_SEQ_NEW;
    if (seq > last + 1)
        return SL_SEQ_GAP;
    for (unsigned i = 0; i < p->n; i++)
        if (p->b[i].seq == seq) {
            *first = p->b[i].first;
            *count = p->b[i].count;
            /* Every batch held was in the log in generation ps->gen: a
             * rollback since then that cut it fails this token's check. */
            *dup = (seglog_commit_t){.target = *first + *count, .gen = ps->gen};
            return SL_SEQ_DUP;
        }
    return SL_SEQ_OLD;
}

static void s_hist_fn(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t first,
                      uint32_t count, void *arg)
{
    (void)arg;
    history_t *h = &ps->hist;
    if (pid != h->pid || h->n == SIZE_MAX)
        return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        pbatch_t *b = realloc(h->b, cap * sizeof *b);
        if (!b) {
            h->n = SIZE_MAX; /* out of memory: this scan finds nothing */
            return;
        }
        h->b = b;
        h->cap = cap;
    }
    h->b[h->n++] = (pbatch_t){.seq = seq, .first = first, .count = count};
}

sl_seq_t sl_pstate_find_old(sl_pstate_t *ps, seglog_log_t *log, uint64_t pid, uint64_t seq,
                            uint64_t *first, uint32_t *count, seglog_commit_t *dup)
{
    history_t *h = &ps->hist;
    if (h->pid != pid) {
        seglog_commit_t tok;
        if (seglog_log_append_token(log, &tok) != 0 || tok.gen != ps->gen)
            return SL_SEQ_OLD; /* a rollback since the state was built: rebuilt next time */
        h->pid = pid;
        h->n = 0;
        uint64_t from = 0;
        size_t found = 0;
        int rc = s_scan(ps, log, tok.target, s_hist_fn, NULL, &from, &found);
        if (rc || h->n == SIZE_MAX) {
            h->pid = 0;
            h->n = 0;
            return SL_SEQ_OLD;
        }
        sl_log(SL_LOG_INFO,
               "producer %" PRIu64 ": a resend older than its last %d batches; offsets "
               "%" PRIu64 "..%" PRIu64 " hold %zu of its batches",
               pid, SL_PSTATE_BATCHES, from, tok.target, h->n);
    }
    for (size_t i = h->n; i-- > 0;)
        if (h->b[i].seq == seq) {
            *first = h->b[i].first;
            *count = h->b[i].count;
            *dup = (seglog_commit_t){.target = *first + *count, .gen = ps->gen};
            return SL_SEQ_DUP;
        }
    return SL_SEQ_OLD;
}

void sl_pstate_record(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t first, uint32_t count,
                      uint64_t gen)
{
    s_put(ps, pid, seq, first, count);
    if (pid == ps->hist.pid) /* it moved on: a later lookup scans again */
        ps->hist.pid = 0;
    if (gen != ps->gen) /* a rollback ran between begin and the append: rebuild next time */
        ps->loaded = 0;
}

size_t sl_pstate_count(sl_pstate_t *ps)
{
    pthread_mutex_lock(&ps->mu);
    size_t n = ps->count;
    pthread_mutex_unlock(&ps->mu);
    return n;
}
