/*
 * itercache.h - a few reusable log iterators, least recently used first out.
 *
 * A seglog_iter_t is bound to one log and keeps a read buffer of up to
 * about 1 MiB, so one iterator per topic per thread would cost memory in
 * proportion to topics x threads. A worker (and the publisher) keeps a
 * small cache instead: a hit reuses the iterator and its buffer, a miss
 * evicts the least recently used one.
 *
 * Ownership: owned by one thread, which must destroy it before any of the
 * logs it has seen are closed.
 */
#ifndef SL_ITERCACHE_H
#define SL_ITERCACHE_H

#include "seglog/log.h"

#include <stddef.h>

typedef struct sl_itercache sl_itercache_t;

int sl_itercache_new(size_t slots, sl_itercache_t **out);

/* An iterator over log, owned by the cache. */
int sl_itercache_get(sl_itercache_t *c, seglog_log_t *log, seglog_iter_t **out);

void sl_itercache_destroy(sl_itercache_t **c_p);

#endif
