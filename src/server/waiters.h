/*
 * waiters.h - the bound and the wake-up of long-poll consumes
 * (ConsumeRequest.max_wait_ms).
 *
 * A consume at the visible end with max_wait_ms > 0 is not answered at
 * once: its worker reserves a place here (sl_waiters_reserve), prepares
 * the empty reply and hands the job back to the front end marked parked
 * (sl_job_t.wait), which keeps it until the topic's visible end moves, the
 * topic is deleted, the wait ends, or the server stops (frontend.c). The
 * front end gives the place back (sl_waiters_release).
 *
 * Wake-up: sl_waiters_wake() is called by the topic registry whenever a
 * visible end may have moved (on_commit, an acknowledged produce, a new
 * high watermark, a delete). It costs one atomic load while nothing
 * waits; otherwise it writes an eventfd at most once until the front end
 * takes the wake-up (sl_waiters_take), so a burst of commits is one write.
 *
 * Ownership: the server owns it; any thread may call reserve, wake and
 * take; the front end polls the descriptor. No ZeroMQ here.
 */
#ifndef SL_WAITERS_H
#define SL_WAITERS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct sl_waiters sl_waiters_t;

int sl_waiters_new(uint32_t max, sl_waiters_t **out);
void sl_waiters_destroy(sl_waiters_t **w_p);

uint32_t sl_waiters_max(const sl_waiters_t *w);

/* Take a place: 1, or 0 if max consumes wait already. Any thread. */
int sl_waiters_reserve(sl_waiters_t *w);
/* Give n places back. */
void sl_waiters_release(sl_waiters_t *w, uint32_t n);

/* A visible end may have moved. Any thread; never blocks. arg is the
 * sl_waiters_t (the registry's callback signature). */
void sl_waiters_wake(void *arg);

/* Readable after a wake-up that was not taken yet. */
int sl_waiters_fd(const sl_waiters_t *w);

/* 1 if a wake-up came since the last call (and drain the descriptor). */
int sl_waiters_take(sl_waiters_t *w);

#endif
