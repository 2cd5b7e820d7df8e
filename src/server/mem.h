/*
 * mem.h - the server's two reusable memory helpers.
 *
 * sl_arena_t: a bump allocator with a hard size limit. A worker decodes
 *   every request into its arena and resets it after the request, so the
 *   hot path does no per-request malloc once the arena has warmed up, and a
 *   hostile request (say, a million empty records) cannot make the decoder
 *   allocate more than the limit: the allocation fails and the request is
 *   refused.
 * sl_buf_t: a growable byte buffer that keeps its capacity between uses
 *   (up to a retain limit), for encoding replies.
 *
 * Ownership: each object is owned by its creator; one thread at a time.
 */
#ifndef SL_MEM_H
#define SL_MEM_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_arena sl_arena_t;

/* An arena that never holds more than limit bytes in total. */
int sl_arena_new(size_t limit, sl_arena_t **out);

/* n bytes aligned to 16, valid until the next reset. NULL if the limit
 * would be passed or malloc fails; sl_arena_exhausted() then returns 1. */
void *sl_arena_alloc(sl_arena_t *a, size_t n);

/* 1 if an allocation failed since the last reset. */
int sl_arena_exhausted(const sl_arena_t *a);

/* Forget every allocation. Keeps one block big enough for the peak of the
 * last cycle (up to 4 MiB), so a steady workload stops calling malloc. */
void sl_arena_reset(sl_arena_t *a);

void sl_arena_destroy(sl_arena_t **a_p);

typedef struct sl_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} sl_buf_t;

/* Make room for extra more bytes after len. 0 or SEGLOG_E_NOMEM. */
int sl_buf_reserve(sl_buf_t *b, size_t extra);

/* Empty the buffer; release its memory if it grew beyond keep bytes. */
void sl_buf_clear(sl_buf_t *b, size_t keep);

void sl_buf_free(sl_buf_t *b);

#endif
