/*
 * cmp_util.h - what the comparison drivers share: time, arguments,
 * record values, percentiles and the one JSON line each driver prints.
 *
 * Every driver runs one workload against one system and prints exactly
 * one JSON object on one line of stdout (run.sh collects them, report.py
 * aggregates them). On any error a driver prints "cmp: ..." to stderr and
 * exits non-zero: a benchmark that half-worked must not print a number.
 *
 * Record values: `size` bytes; the first 8 bytes hold the record's index
 * (little-endian, as stored by memcpy on x86), the rest is 'x'. Readers
 * check the index, so a consume that returns the wrong records fails.
 */
#ifndef CMP_UTIL_H
#define CMP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CMP_MAX_CLIENTS 16

/* The workload, as given on the command line (--name value pairs). */
typedef struct cmp_args {
    const char *mode;     /* argv[1]: produce, consume, latency, tail, ... */
    const char *endpoint; /* the system's address (form depends on the driver) */
    const char *pub;      /* seglog: the PUB endpoint */
    const char *topic;    /* topic / stream key; default "bench" */
    const char *dir;      /* limits: the directory to write in */
    const char *label;    /* free text copied into the JSON ("durable", ...) */
    uint64_t records;     /* records to produce / consume; default 1000000 */
    size_t size;          /* value bytes; default 100 */
    int batch;            /* records per request; default 1 */
    int clients;          /* parallel clients; default 1 */
    int topics;           /* topics the clients spread over (client i: topic i % topics);
                           * default 1: every client on --topic */
    int window;           /* requests in flight per client; default 64 */
    int range;            /* records per consume request; default 1000 */
    double rate;          /* tail: records/s; default 10000 */
    int timeout_ms;       /* per-reply timeout; default 30000 */
} cmp_args_t;

/* Parse argv; exits with a usage message on an unknown option. */
void cmp_args_parse(int argc, char **argv, cmp_args_t *a, const char *usage);

/* The topic of client `i`: --topic if --topics is 1, else "<topic>-<i % topics>".
 * Writes into buf (cap bytes) and returns it. */
const char *cmp_topic_of(const cmp_args_t *a, int i, char *buf, size_t cap);

uint64_t cmp_now_ns(void);
void cmp_sleep_until(uint64_t t_ns);

/* Print "cmp: <driver>: <message>" to stderr and exit(1). */
void cmp_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A value buffer of size bytes (at least 8), filled as described above. */
uint8_t *cmp_value_new(size_t size);
void cmp_value_set_index(uint8_t *value, size_t size, uint64_t index);
uint64_t cmp_value_index(const uint8_t *value, size_t len);

/* The p-quantile (0..1) of n samples in ns, in microseconds. Sorts v. */
double cmp_pct_us(uint64_t *v, size_t n, double p);
/* The same for signed differences (ack-to-receipt may be negative). */
double cmp_pct_signed_us(int64_t *v, size_t n, double p);

/* The one JSON line. Start it, add fields, end it (prints and flushes).
 * Common fields (system, mode, size, batch, clients, window, records,
 * label, load average) are added by cmp_json_begin. */
void cmp_json_begin(const char *system, const cmp_args_t *a);
void cmp_json_num(const char *key, double v);
void cmp_json_str(const char *key, const char *v);
void cmp_json_end(void);

#endif
