/* waiters.c - see waiters.h */
#include "waiters.h"

#include "seglog/log.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>

struct sl_waiters {
    uint32_t max;
    _Atomic uint32_t count;
    _Atomic int pending; /* a wake-up was written and not taken */
    int fd;
};

int sl_waiters_new(uint32_t max, sl_waiters_t **out)
{
    sl_waiters_t *w = calloc(1, sizeof *w);
    if (!w)
        return SEGLOG_E_NOMEM;
    w->max = max;
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return e;
    }
    *out = w;
    return 0;
}

void sl_waiters_destroy(sl_waiters_t **w_p)
{
    sl_waiters_t *w = *w_p;
    if (!w)
        return;
    close(w->fd);
    free(w);
    *w_p = NULL;
}

uint32_t sl_waiters_max(const sl_waiters_t *w)
{
    return w->max;
}

int sl_waiters_reserve(sl_waiters_t *w)
{
    uint32_t cur = atomic_load(&w->count);
    while (cur < w->max)
        if (atomic_compare_exchange_weak(&w->count, &cur, cur + 1))
            return 1;
    return 0;
}

void sl_waiters_release(sl_waiters_t *w, uint32_t n)
{
    atomic_fetch_sub(&w->count, n);
}

void sl_waiters_wake(void *arg)
{
    sl_waiters_t *w = arg;
    if (!w || atomic_load_explicit(&w->count, memory_order_acquire) == 0)
        return;
    if (atomic_exchange(&w->pending, 1))
        return; /* written already, not taken yet */
    uint64_t one = 1;
    ssize_t n = write(w->fd, &one, sizeof one);
    (void)n; /* EAGAIN only at a counter near 2^64: it is readable then anyway */
}

int sl_waiters_fd(const sl_waiters_t *w)
{
    return w->fd;
}

int sl_waiters_take(sl_waiters_t *w)
{
    if (!atomic_load_explicit(&w->pending, memory_order_acquire))
        return 0;
    uint64_t v;
    ssize_t n = read(w->fd, &v, sizeof v);
    (void)n;
    atomic_store(&w->pending, 0);
    return 1;
}
