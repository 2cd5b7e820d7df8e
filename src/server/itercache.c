/* itercache.c - see itercache.h */
#include "itercache.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct {
    seglog_log_t *log;
    seglog_iter_t *it;
    uint64_t used; /* tick of the last use */
} slot_t;

struct sl_itercache {
    slot_t *slots;
    size_t n;
    uint64_t tick;
};

int sl_itercache_new(size_t slots, sl_itercache_t **out)
{
    sl_itercache_t *c = calloc(1, sizeof *c);
    if (!c)
        return SEGLOG_E_NOMEM;
    c->n = slots ? slots : 1;
    c->slots = calloc(c->n, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return SEGLOG_E_NOMEM;
    }
    *out = c;
    return 0;
}

int sl_itercache_get(sl_itercache_t *c, seglog_log_t *log, seglog_iter_t **out)
{
    slot_t *victim = &c->slots[0];
    for (size_t i = 0; i < c->n; i++) {
        slot_t *s = &c->slots[i];
        if (s->log == log && s->it) {
            s->used = ++c->tick;
            *out = s->it;
            return 0;
        }
        if (!s->it || s->used < victim->used)
            victim = s;
        if (!s->it)
            break;
    }
    seglog_iter_destroy(&victim->it);
    victim->log = NULL;
    int rc = seglog_iter_new(log, &victim->it);
    if (rc)
        return rc;
    victim->log = log;
    victim->used = ++c->tick;
    *out = victim->it;
    return 0;
}

void sl_itercache_destroy(sl_itercache_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    sl_itercache_t *c = *c_p;
    *c_p = NULL;
    for (size_t i = 0; i < c->n; i++)
        seglog_iter_destroy(&c->slots[i].it);
    free(c->slots);
    free(c);
}
