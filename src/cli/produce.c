/*
 * produce.c - `seglog produce`: values from the arguments as one atomic
 * batch, or one record per stdin line sent in pipelined batches.
 *
 * Stdin lines are packed into a batch (at most BATCH_RECORDS records and,
 * past the first record, BATCH_BYTES bytes: well under the server's message
 * limit), handed to a seglog_producer_t, which keeps IN_FLIGHT batches
 * outstanding and reports acks in send order, so offsets print in input
 * order. A line is the bytes before '\n' (a final line without '\n' counts
 * too); every other byte, '\r' included, is part of the value.
 */
#include "cli.h"
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_RECORDS   1000
#define BATCH_BYTES     (256u << 10)
#define IN_FLIGHT       8
#define PROGRESS_AFTER  5000 /* lines read before a progress line appears */
#define PROGRESS_PERIOD 200  /* ms between progress updates */

static const char s_usage[] =
    "usage: seglog produce [-t TOPIC] [-q] [VALUE...]\n"
    "\n"
    "Append records to TOPIC. With VALUEs, they are appended as one atomic batch.\n"
    "Without, every line of stdin is one record (without its newline), sent in\n"
    "pipelined batches. Prints the offset of each record, one per line.\n"
    "\n"
    "  -q, --quiet            print only a summary line\n"
    "\n";

typedef struct produce {
    cli_common_t *c;
    int quiet;
    uint64_t records;     /* acknowledged */
    uint64_t first, last; /* offsets acknowledged (when records > 0) */
    int failed;           /* an ack carried an error */
    int out_err;          /* errno of a failed stdout write */
    int progress;         /* showing a progress line on stderr */
    int64_t progress_at;  /* ms of the last progress update */
} produce_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_print_offsets(produce_t *p, uint64_t first, uint64_t count)
{
    if (!p->records)
        p->first = first;
    p->records += count;
    p->last = first + count - 1;
    if (p->quiet || p->out_err)
        return;
    for (uint64_t i = 0; i < count; i++)
        printf("%" PRIu64 "\n", first + i);
    p->out_err = cli_write_error(stdout);
}

static void s_on_ack(void *arg, const seglog_ack_t *ack)
{
    produce_t *p = arg;
    if (p->failed)
        return; /* report the first failure only */
    if (ack->err) {
        p->failed = 1;
        char what[96];
        snprintf(what, sizeof what, "produce to '%s' failed at input line %" PRIu64, p->c->topic,
                 p->records + 1);
        cli_fail(what, ack->err, ack->message);
        return;
    }
    s_print_offsets(p, ack->offset, ack->count);
}

static void s_summary(produce_t *p)
{
    if (!p->quiet || p->out_err)
        return;
    if (p->records)
        printf("produced %" PRIu64 " records to '%s', offsets %" PRIu64 "..%" PRIu64 "\n",
               p->records, p->c->topic, p->first, p->last);
    else
        printf("produced 0 records to '%s'\n", p->c->topic);
    p->out_err = cli_write_error(stdout);
}

/* Values from the command line: one synchronous atomic batch. */
static int s_from_args(produce_t *p, seglog_client_t *client, int n, char **values)
{
    seglog_record_t *recs = calloc((size_t)n, sizeof *recs);
    if (!recs) {
        cli_error("out of memory");
        return CLI_EXIT_ERROR;
    }
    for (int i = 0; i < n; i++) {
        recs[i].value = (const uint8_t *)values[i];
        recs[i].value_len = strlen(values[i]);
    }
    uint64_t first;
    int rc = seglog_client_produce_batch(client, p->c->topic, recs, (size_t)n, &first);
    free(recs);
    if (rc) {
        char what[96];
        snprintf(what, sizeof what, "produce to '%s'", p->c->topic);
        return cli_fail(what, rc, seglog_client_errmsg(client));
    }
    s_print_offsets(p, first, (uint64_t)n);
    return CLI_EXIT_OK;
}

/* The lines of the batch being filled: bytes in data, value i at
 * data[start[i]..start[i+1]). Reused from batch to batch. */
typedef struct batch {
    char *data;
    size_t len, cap;
    size_t *start; /* BATCH_RECORDS + 1 */
    size_t n;
    seglog_record_t *recs; /* BATCH_RECORDS */
} batch_t;

static int s_batch_add(batch_t *b, const char *line, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : BATCH_BYTES;
        while (cap < b->len + len)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    if (len) /* an empty line may come before any buffer exists */
        memcpy(b->data + b->len, line, len);
    b->start[b->n] = b->len;
    b->len += len;
    b->n++;
    b->start[b->n] = b->len;
    return 0;
}

static void s_progress(produce_t *p, uint64_t read, int final)
{
    if (!p->progress)
        return;
    int64_t now = s_now_ms();
    if (!final && now - p->progress_at < PROGRESS_PERIOD)
        return;
    p->progress_at = now;
    fprintf(stderr, "\rseglog: %" PRIu64 " lines read, %" PRIu64 " acknowledged%s", read,
            p->records, final ? "\n" : "");
}

static int s_send(produce_t *p, seglog_producer_t *prod, batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        b->recs[i].value = (const uint8_t *)b->data + b->start[i];
        b->recs[i].value_len = b->start[i + 1] - b->start[i];
    }
    int rc = seglog_producer_send(prod, p->c->topic, b->recs, b->n, NULL);
    b->n = 0;
    b->len = 0;
    return rc;
}

static int s_from_stdin(produce_t *p, seglog_client_t *client)
{
    seglog_producer_t *prod = NULL;
    batch_t b = {0};
    char *line = NULL;
    size_t line_cap = 0;
    uint64_t read = 0;
    int exit_code = CLI_EXIT_OK;
    int rc = seglog_producer_new(client, IN_FLIGHT, s_on_ack, p, &prod);
    if (rc) {
        cli_fail("cannot start the producer", rc, seglog_client_errmsg(client));
        return CLI_EXIT_ERROR;
    }
    b.start = malloc((BATCH_RECORDS + 1) * sizeof *b.start);
    b.recs = calloc(BATCH_RECORDS, sizeof *b.recs);
    if (!b.start || !b.recs) {
        cli_error("out of memory");
        exit_code = CLI_EXIT_ERROR;
        goto done;
    }
    int tty = isatty(STDERR_FILENO);
    ssize_t len;
    rc = 0;
    while (!p->failed && !p->out_err && (len = getline(&line, &line_cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (b.n == BATCH_RECORDS || (b.n && b.len + (size_t)len > BATCH_BYTES)) {
            if ((rc = s_send(p, prod, &b)) != 0)
                break;
        }
        if (s_batch_add(&b, line, (size_t)len) != 0) {
            cli_error("out of memory");
            exit_code = CLI_EXIT_ERROR;
            goto done;
        }
        read++;
        if (tty && read > PROGRESS_AFTER)
            p->progress = 1;
        s_progress(p, read, 0);
    }
    if (!rc && ferror(stdin)) {
        cli_error("reading stdin: %s", strerror(errno));
        exit_code = CLI_EXIT_ERROR;
        goto done;
    }
    if (!rc && b.n && !p->failed && !p->out_err)
        rc = s_send(p, prod, &b);
    while (!rc && seglog_producer_in_flight(prod) && !p->out_err)
        rc = seglog_producer_flush(prod, -1);
    s_progress(p, read, 1);
    if (rc && !p->failed) {
        char what[96];
        snprintf(what, sizeof what, "produce to '%s'", p->c->topic);
        exit_code = cli_fail(what, rc, seglog_producer_errmsg(prod));
    }
done:
    if (p->failed)
        exit_code = CLI_EXIT_ERROR;
    seglog_producer_destroy(&prod);
    free(line);
    free(b.data);
    free(b.start);
    free(b.recs);
    return exit_code;
}

int cli_produce(int argc, char **argv, cli_common_t *c)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS, {"quiet", no_argument, NULL, 'q'}, {NULL, 0, NULL, 0}};
    produce_t p = {.c = c};
    int opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:hq", longopts, c, s_usage, &exit_code)) != -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt == 'q')
            p.quiet = 1;
    }
    seglog_client_t *client = NULL;
    if (cli_connect(c, &client) != 0)
        return CLI_EXIT_ERROR;
    if (optind < argc)
        exit_code = s_from_args(&p, client, argc - optind, argv + optind);
    else
        exit_code = s_from_stdin(&p, client);
    if (exit_code == CLI_EXIT_OK)
        s_summary(&p);
    if (exit_code == CLI_EXIT_OK && !p.out_err && fflush(stdout) != 0)
        p.out_err = errno;
    seglog_client_destroy(&client);
    if (p.out_err && p.out_err != EPIPE) {
        cli_error("writing stdout: %s", strerror(p.out_err));
        return CLI_EXIT_ERROR;
    }
    return exit_code;
}
