/* groups.c - see groups.h */
#include "groups.h"

#include "codec.h"
#include "slog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One (group, topic) or one group (topic NULL: the set of known groups). */
typedef struct entry {
    char *key; /* "group/topic", or "group" in the group set; owned */
    uint64_t offset;
    char *md; /* owned, NUL-terminated */
    size_t md_len;
} entry_t;

typedef struct table {
    entry_t *v; /* open addressing; cap a power of two; key NULL = empty */
    size_t cap, n;
} table_t;

struct sl_groups {
    pthread_mutex_t mu;
    int loaded;
    uint64_t gen;     /* the log's rollback generation the map was built in */
    uint64_t applied; /* records below this are in the map */
    table_t commits, groups;
};

static uint64_t s_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static void s_table_clear(table_t *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->v[i].key);
        free(t->v[i].md);
    }
    free(t->v);
    t->v = NULL;
    t->cap = t->n = 0;
}

/* The slot of key (found or where it goes); NULL if the table is empty. */
static entry_t *s_slot(table_t *t, const char *key, size_t n)
{
    if (!t->cap)
        return NULL;
    size_t i = (size_t)s_hash(key, n) & (t->cap - 1);
    while (t->v[i].key && (strlen(t->v[i].key) != n || memcmp(t->v[i].key, key, n) != 0))
        i = (i + 1) & (t->cap - 1);
    return &t->v[i];
}

static int s_grow(table_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    entry_t *v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    table_t nt = {v, cap, t->n};
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].key)
            *s_slot(&nt, t->v[i].key, strlen(t->v[i].key)) = t->v[i];
    free(t->v);
    *t = nt;
    return 0;
}

/* The entry of key, made if missing; NULL on OOM. */
static entry_t *s_put(table_t *t, const char *key, size_t n)
{
    if ((t->n + 1) * 2 > t->cap && s_grow(t))
        return NULL;
    entry_t *e = s_slot(t, key, n);
    if (!e->key) {
        if (!(e->key = malloc(n + 1)))
            return NULL;
        memcpy(e->key, key, n);
        e->key[n] = 0;
        t->n++;
    }
    return e;
}

sl_groups_t *sl_groups_new(void)
{
    sl_groups_t *g = calloc(1, sizeof *g);
    if (g)
        pthread_mutex_init(&g->mu, NULL);
    return g;
}

void sl_groups_destroy(sl_groups_t **g_p)
{
    if (!g_p || !*g_p)
        return;
    sl_groups_t *g = *g_p;
    *g_p = NULL;
    s_table_clear(&g->commits);
    s_table_clear(&g->groups);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

int sl_groups_is_internal(const char *name, size_t len)
{
    return len == sizeof SL_GROUPS_TOPIC - 1 && memcmp(name, SL_GROUPS_TOPIC, len) == 0;
}

int sl_groups_key(char *key, size_t cap, const char *group, const char *topic, size_t *key_len)
{
    size_t g = strlen(group), t = strlen(topic);
    if (g + 1 + t + 1 > cap)
        return -1;
    memcpy(key, group, g);
    key[g] = '/';
    memcpy(key + g + 1, topic, t + 1);
    *key_len = g + 1 + t;
    return 0;
}

/* Apply one stored record of the offsets topic. Damaged or foreign
 * records (not written by this server) are skipped. */
static int s_apply(sl_groups_t *g, const void *data, size_t len)
{
    const uint8_t *k, *v;
    size_t klen, vlen, mdlen;
    uint64_t offset;
    const char *md;
    if (sl_codec_stored_kv(data, len, &k, &klen, &v, &vlen) ||
        sl_codec_offset_value_parse(v, vlen, &offset, &md, &mdlen))
        return 0;
    const char *slash = memchr(k, '/', klen);
    if (!slash || slash == (const char *)k || mdlen > SL_GROUP_METADATA_MAX)
        return 0;
    entry_t *e = s_put(&g->commits, (const char *)k, klen);
    entry_t *ge = e ? s_put(&g->groups, (const char *)k, (size_t)(slash - (const char *)k)) : NULL;
    char *copy = malloc(mdlen + 1);
    if (!ge || !copy) {
        free(copy);
        return SEGLOG_E_NOMEM;
    }
    memcpy(copy, md, mdlen);
    copy[mdlen] = 0;
    free(e->md);
    e->md = copy;
    e->md_len = mdlen;
    e->offset = offset;
    return 0;
}

/* Bring the map up to end. Caller holds mu. */
static int s_catch_up(sl_groups_t *g, seglog_log_t *log, uint64_t end)
{
    seglog_commit_t tok;
    int rc = seglog_log_append_token(log, &tok);
    if (rc)
        return rc;
    if (!g->loaded || g->gen != tok.gen) {
        s_table_clear(&g->commits);
        s_table_clear(&g->groups);
        if ((rc = seglog_log_lowest_offset(log, &g->applied)) != 0)
            return rc;
        g->gen = tok.gen;
        g->loaded = 1;
    }
    if (g->applied >= end)
        return 0;
    seglog_iter_t *it = NULL;
    if ((rc = seglog_iter_new(log, &it)) != 0)
        return rc;
    uint64_t from = g->applied;
    rc = seglog_iter_seek(it, from, (size_t)(end - from), 0);
    size_t n = 0;
    while (rc == 0) {
        uint64_t off;
        const void *data;
        size_t len;
        int r = seglog_iter_next(it, &off, &data, &len);
        if (r <= 0) {
            rc = r;
            break;
        }
        if ((rc = s_apply(g, data, len)) != 0)
            break;
        g->applied = off + 1;
        n++;
    }
    seglog_iter_destroy(&it);
    if (rc)
        g->loaded = 0; /* start again next time */
    else if (from == 0 && n)
        sl_log(SL_LOG_INFO, "consumer offsets loaded records=%zu groups=%zu commits=%zu", n,
               g->groups.n, g->commits.n);
    return rc;
}

int sl_groups_fetch(sl_groups_t *g, seglog_log_t *log, uint64_t visible_end, const char *group,
                    const char *topic, int *found, uint64_t *offset, char *md, size_t md_cap,
                    size_t *md_len)
{
    char key[2 * 130 + 2];
    size_t klen;
    if (sl_groups_key(key, sizeof key, group, topic, &klen) || md_cap <= SL_GROUP_METADATA_MAX)
        return SEGLOG_E_INVAL;
    pthread_mutex_lock(&g->mu);
    int rc = s_catch_up(g, log, visible_end);
    if (rc == 0) {
        entry_t *ge = s_slot(&g->groups, group, strlen(group));
        if (!ge || !ge->key) {
            rc = 1;
        } else {
            entry_t *e = s_slot(&g->commits, key, klen);
            *found = e && e->key;
            if (*found) {
                *offset = e->offset;
                memcpy(md, e->md, e->md_len + 1);
                *md_len = e->md_len;
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}
