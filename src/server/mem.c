/* mem.c - see mem.h */
#include "mem.h"

#include "seglog/log.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_MIN_BLOCK (64u << 10)
#define ARENA_RETAIN    (4u << 20)

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) uint8_t data[];
} block_t;

struct sl_arena {
    block_t *head; /* current block; older blocks follow */
    size_t limit;  /* total block capacity allowed */
    size_t total;  /* capacity of all blocks */
    size_t used;   /* bytes handed out since reset */
    int exhausted;
};

static block_t *s_block_new(size_t cap)
{
    block_t *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

int sl_arena_new(size_t limit, sl_arena_t **out)
{
    sl_arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return SEGLOG_E_NOMEM;
    a->limit = limit < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : limit;
    a->head = s_block_new(ARENA_MIN_BLOCK);
    if (!a->head) {
        free(a);
        return SEGLOG_E_NOMEM;
    }
    a->total = ARENA_MIN_BLOCK;
    *out = a;
    return 0;
}

void *sl_arena_alloc(sl_arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) {
        a->exhausted = 1;
        return NULL;
    }
    block_t *b = a->head;
    if (b->cap - b->used < need) {
        size_t cap = b->cap * 2;
        if (cap < need)
            cap = need;
        if (a->total + cap > a->limit) {
            if (a->total + need > a->limit || need > a->limit) {
                a->exhausted = 1;
                return NULL;
            }
            cap = a->limit - a->total;
        }
        block_t *nb = s_block_new(cap);
        if (!nb) {
            a->exhausted = 1;
            return NULL;
        }
        nb->next = b;
        a->head = b = nb;
        a->total += cap;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

int sl_arena_exhausted(const sl_arena_t *a)
{
    return a->exhausted;
}

void sl_arena_reset(sl_arena_t *a)
{
    if (a->head->next) {
        /* Several blocks: replace them with one that fits the peak. */
        size_t want = a->used < ARENA_RETAIN ? a->used : ARENA_RETAIN;
        if (want < ARENA_MIN_BLOCK)
            want = ARENA_MIN_BLOCK;
        if (want > a->limit)
            want = a->limit;
        block_t *nb = s_block_new(want);
        if (nb) {
            for (block_t *b = a->head, *next; b; b = next) {
                next = b->next;
                free(b);
            }
            a->head = nb;
            a->total = want;
        } else {
            /* Keep the newest block; free the rest. */
            for (block_t *b = a->head->next, *next; b; b = next) {
                next = b->next;
                free(b);
            }
            a->head->next = NULL;
            a->total = a->head->cap;
        }
    }
    a->head->used = 0;
    a->used = 0;
    a->exhausted = 0;
}

void sl_arena_destroy(sl_arena_t **a_p)
{
    if (!a_p || !*a_p)
        return;
    sl_arena_t *a = *a_p;
    *a_p = NULL;
    for (block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

int sl_buf_reserve(sl_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return SEGLOG_E_NOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return SEGLOG_E_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

void sl_buf_clear(sl_buf_t *b, size_t keep)
{
    b->len = 0;
    if (b->cap > keep) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void sl_buf_free(sl_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
