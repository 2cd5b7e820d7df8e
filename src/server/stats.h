/*
 * stats.h - counters shared by the server's threads (relaxed atomics: they
 * are for logs and tests, not for synchronisation).
 */
#ifndef SL_STATS_H
#define SL_STATS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct sl_stats {
    _Atomic uint64_t requests;
    _Atomic uint64_t replies_dropped;
    _Atomic uint64_t bad_requests;
    _Atomic uint64_t published;
    _Atomic uint64_t heartbeats;
    _Atomic uint64_t pub_dropped; /* PUB messages some subscriber missed at its HWM */
    _Atomic uint64_t publish_gaps; /* records the publisher had to skip */
    _Atomic uint64_t frontend_produces;
    _Atomic uint64_t produce_duplicates; /* idempotent produces answered as duplicates */
} sl_stats_t;

#define SL_STAT_ADD(s, field, n) atomic_fetch_add_explicit(&(s)->field, (n), memory_order_relaxed)
#define SL_STAT_GET(s, field)    atomic_load_explicit(&(s)->field, memory_order_relaxed)

#endif
