/*
 * arena.h - the client's reusable decode memory.
 *
 * A bump allocator that protobuf-c unpacks replies into (through
 * slc_arena_allocator()), so a call costs no malloc once the arena has
 * grown to the size of the replies it sees. Everything allocated is freed
 * together by slc_arena_reset(), which keeps one block as large as the
 * peak of the last cycle (up to a retain limit).
 *
 * Ownership: owned by the object that made it (a client, producer or
 * tail); one thread at a time.
 */
#ifndef SLC_ARENA_H
#define SLC_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct slc_arena slc_arena_t;

/* NULL when out of memory. */
slc_arena_t *slc_arena_new(void);

void slc_arena_destroy(slc_arena_t **arena_p);

/* n bytes aligned to 16, valid until the next reset; NULL when out of
 * memory. */
void *slc_arena_alloc(slc_arena_t *arena, size_t n);

/* Forget every allocation. */
void slc_arena_reset(slc_arena_t *arena);

/* A protobuf-c allocator backed by the arena (its free does nothing). */
ProtobufCAllocator *slc_arena_allocator(slc_arena_t *arena);

#endif
