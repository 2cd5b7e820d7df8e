/*
 * produce.h - the state of `seglog produce` from stdin, shared by
 * produce.c (reading, batching, sending) and produce_report.c (acks and
 * the exact report of which input lines were stored and which were not).
 */
#ifndef CLI_PRODUCE_H
#define CLI_PRODUCE_H

#include "cli.h"

#include <stddef.h>
#include <stdint.h>

#define PRODUCE_IN_FLIGHT 8

/* Input lines [first, first + n), and where they were stored. */
typedef struct produce_range {
    uint64_t first, n;
    uint64_t offset; /* stored ranges only */
} produce_range_t;

typedef struct produce {
    cli_common_t *c;
    int quiet;
    const char *key; /* --key */
    const char *sep; /* --key-separator */
    uint32_t max_record; /* the server's limit; 0 unknown (an old server) */
    size_t batch_records, batch_bytes;
    uint64_t records;     /* acknowledged */
    uint64_t first, last; /* offsets acknowledged (when records > 0) */
    int failed;           /* the stream stopped at a failure */
    uint64_t failed_line; /* a line refused before it was sent, or 0 */
    int out_err;          /* errno of a failed stdout write */
    int progress;         /* showing a progress line on stderr */
    int64_t progress_at;  /* ms of the last progress update */
    /* batches in flight, in send order: seq and lines */
    struct {
        uint64_t seq, first, n;
    } fly[PRODUCE_IN_FLIGHT + 1];
    size_t fly_head, fly_n;
    /* after the first failure: lines not stored, and lines stored */
    produce_range_t *lost, *late, *unknown; /* unknown: acked with TIMEOUT */
    size_t nlost, nlate, nunknown;
} produce_t;

/* Print (unless quiet) and count the offsets of stored records. */
void produce_print_offsets(produce_t *p, uint64_t first, uint64_t count);

/* A batch of input lines [first, first + n) was sent as seq. */
void produce_sent(produce_t *p, uint64_t seq, uint64_t first, uint64_t n);

/* The producer's ack callback (arg is the produce_t). */
void produce_on_ack(void *arg, const seglog_ack_t *ack);

/* The stream stops at input line `line`, which was not sent: print
 * "seglog: produce to 'T' failed at input line N: <fmt...>" (fmt NULL:
 * the caller printed the failure) and remember the line. */
void produce_fail_line(produce_t *p, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* After a failure, on stderr: the input lines not stored (every range that
 * failed, and every line from unsent on: not sent, or not read), and the
 * lines stored after the first failure with their offsets. read is the
 * number of lines read. Batches acked with TIMEOUT are reported apart:
 * each may or may not have been stored. */
void produce_report(produce_t *p, uint64_t unsent, uint64_t read);

void produce_free(produce_t *p);

#endif
