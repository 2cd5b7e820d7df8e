/* produce_report.c - see produce.h */
#include "produce.h"
#include "output.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void produce_sent(produce_t *p, uint64_t seq, uint64_t first, uint64_t n)
{
    size_t cap = sizeof p->fly / sizeof p->fly[0];
    size_t i = (p->fly_head + p->fly_n) % cap;
    p->fly[i].seq = seq;
    p->fly[i].first = first;
    p->fly[i].n = n;
    p->fly_n++; /* never above cap: the producer keeps at most IN_FLIGHT */
}

static int s_add(produce_range_t **v, size_t *n, uint64_t first, uint64_t count, uint64_t offset)
{
    produce_range_t *r = realloc(*v, (*n + 1) * sizeof **v);
    if (!r)
        return -1;
    r[*n] = (produce_range_t){.first = first, .n = count, .offset = offset};
    *v = r;
    (*n)++;
    return 0;
}

static void s_lines(char *buf, size_t cap, uint64_t first, uint64_t n)
{
    if (n == 1)
        snprintf(buf, cap, "input line %" PRIu64, first);
    else
        snprintf(buf, cap, "input lines %" PRIu64 "-%" PRIu64, first, first + n - 1);
}

void produce_on_ack(void *arg, const seglog_ack_t *ack)
{
    produce_t *p = arg;
    size_t cap = sizeof p->fly / sizeof p->fly[0];
    uint64_t first = 0, n = ack->count;
    if (p->fly_n && p->fly[p->fly_head].seq == ack->seq) {
        first = p->fly[p->fly_head].first;
        n = p->fly[p->fly_head].n;
        p->fly_head = (p->fly_head + 1) % cap;
        p->fly_n--;
    }
    if (ack->err) {
        if (!p->failed) {
            char q[128], lines[64], what[224];
            s_lines(lines, sizeof lines, first, n);
            snprintf(what, sizeof what, "produce to %s failed at %s",
                     cli_quote(q, sizeof q, p->c->topic), lines);
            cli_fail(what, ack->err, ack->message);
        }
        p->failed = 1;
        int rc = ack->err == SEGLOG_CLIENT_E_TIMEOUT ? s_add(&p->unknown, &p->nunknown, first, n, 0)
                                                     : s_add(&p->lost, &p->nlost, first, n, 0);
        if (rc != 0)
            cli_error("out of memory");
        return;
    }
    /* Stored after the failure in input order: a later batch than the one
     * that failed, or lines after the one refused before sending. */
    int late = p->failed && (p->failed_line == 0 || first > p->failed_line);
    if (late && s_add(&p->late, &p->nlate, first, n, ack->offset) != 0)
        cli_error("out of memory");
    produce_print_offsets(p, ack->offset, ack->count);
}

void produce_fail_line(produce_t *p, uint64_t line, const char *fmt, ...)
{
    if (fmt && !p->failed) {
        char q[128];
        fprintf(stderr, "seglog: produce to %s failed at input line %" PRIu64 ": ",
                cli_quote(q, sizeof q, p->c->topic), line);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    if (!p->failed)
        p->failed_line = line;
    p->failed = 1;
}

void produce_report(produce_t *p, uint64_t unsent, uint64_t read)
{
    /* The failed ranges come in input order (acks are in send order);
     * adjacent ones are merged, and so is the unsent rest. */
    fputs("seglog: not stored:", stderr);
    const char *sep = " ";
    uint64_t first = 0, n = 0;
    for (size_t i = 0; i <= p->nlost; i++) {
        const produce_range_t *r = i < p->nlost ? &p->lost[i] : NULL;
        if (r && r->first >= unsent)
            continue;
        if (r && n && first + n == r->first) {
            n += r->n;
            continue;
        }
        if (n && !(first + n == unsent && unsent <= read)) {
            char lines[64];
            s_lines(lines, sizeof lines, first, n);
            fprintf(stderr, "%s%s", sep, lines);
            sep = ", ";
        }
        if (r) {
            first = r->first;
            n = r->n;
        }
    }
    if (unsent <= read) {
        uint64_t from = n && first + n == unsent ? first : unsent;
        fprintf(stderr, "%sinput line %" PRIu64 " and every line after it", sep, from);
    } else if (!p->nlost) {
        fputs(" none", stderr);
    }
    fputc('\n', stderr);
    for (size_t i = 0; i < p->nunknown; i++) {
        char lines[64];
        s_lines(lines, sizeof lines, p->unknown[i].first, p->unknown[i].n);
        fprintf(stderr, "seglog: no reply for %s: they may or may not be stored\n", lines);
    }
    for (size_t i = 0; i < p->nlate; i++) {
        const produce_range_t *r = &p->late[i];
        char lines[64];
        s_lines(lines, sizeof lines, r->first, r->n);
        fprintf(stderr,
                "seglog: stored after the failure: %s, offsets %" PRIu64 "..%" PRIu64 "\n",
                lines, r->offset, r->offset + r->n - 1);
    }
}

void produce_free(produce_t *p)
{
    free(p->lost);
    free(p->late);
    free(p->unknown);
    p->lost = p->late = p->unknown = NULL;
    p->nlost = p->nlate = p->nunknown = 0;
}
