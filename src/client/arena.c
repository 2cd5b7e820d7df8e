/* arena.c - see arena.h */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define ARENA_MIN_BLOCK (64u << 10)
#define ARENA_RETAIN    (64u << 20)

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) uint8_t data[];
} block_t;

struct slc_arena {
    block_t *head; /* the current block; older (full) blocks follow */
    size_t total;  /* capacity of every block */
    ProtobufCAllocator pb;
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

static void *s_pb_alloc(void *data, size_t size)
{
    return slc_arena_alloc(data, size);
}

static void s_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

slc_arena_t *slc_arena_new(void)
{
    slc_arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->head = s_block_new(ARENA_MIN_BLOCK);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->total = ARENA_MIN_BLOCK;
    a->pb.alloc = s_pb_alloc;
    a->pb.free = s_pb_free;
    a->pb.allocator_data = a;
    return a;
}

static void s_free_chain(block_t *b)
{
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
}

void slc_arena_destroy(slc_arena_t **arena_p)
{
    if (!arena_p || !*arena_p)
        return;
    s_free_chain((*arena_p)->head);
    free(*arena_p);
    *arena_p = NULL;
}

void *slc_arena_alloc(slc_arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    block_t *b = a->head;
    if (b->cap - b->used < need) {
        size_t cap = b->cap * 2;
        if (cap < need)
            cap = need;
        block_t *nb = s_block_new(cap);
        if (!nb)
            return NULL;
        nb->next = b;
        a->head = b = nb;
        a->total += cap;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void slc_arena_reset(slc_arena_t *a)
{
    block_t *b = a->head;
    if (!b->next) {
        b->used = 0;
        return;
    }
    /* Several blocks: replace them with one that holds the whole peak, so
     * the next cycle of the same size allocates nothing. */
    size_t want = a->total > ARENA_RETAIN ? ARENA_RETAIN : a->total;
    block_t *nb = s_block_new(want);
    if (!nb) {
        /* Keep the newest (largest) block and free the others. */
        s_free_chain(b->next);
        b->next = NULL;
        b->used = 0;
        a->total = b->cap;
        return;
    }
    s_free_chain(b);
    a->head = nb;
    a->total = want;
}

ProtobufCAllocator *slc_arena_allocator(slc_arena_t *a)
{
    return &a->pb;
}
