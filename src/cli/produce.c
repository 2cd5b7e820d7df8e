/*
 * produce.c - `seglog produce`: values from the arguments as one atomic
 * batch, or one record per stdin line sent in pipelined batches.
 *
 * Stdin lines are packed into a batch (at most BATCH_RECORDS records and,
 * past the first record, BATCH_BYTES bytes, both lowered to fit the
 * server's limits), handed to a seglog_producer_t, which keeps IN_FLIGHT
 * batches outstanding and reports acks in send order, so offsets print in
 * input order. A line is the bytes before '\n' (a final line without '\n'
 * counts too); every other byte, '\r' included, is part of the value.
 * When stdin has nothing ready (a slow or interactive writer), the lines
 * read so far are sent at once and acks are handled (every 50 ms, which in
 * cluster mode also follows a failover) until more input comes; offsets
 * are flushed to stdout per acknowledged batch.
 *
 * The first failure stops the stream: a line the server would refuse (too
 * large, learnt from its Info) or that lacks the key separator is found
 * before it is sent, and the lines before it are still sent; a batch the
 * server refuses is found from its ack. Either way nothing more is read or
 * sent, the batches already in flight are waited for, and every outcome is
 * reported: stdout gets the offset of every stored line, stderr the
 * failure, the exact input lines that were not stored, and any stored
 * after the failure (produce_report.c).
 */
#include "cli.h"
#include "output.h"
#include "produce.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_RECORDS   1000
#define BATCH_BYTES     (256u << 10)
#define PROGRESS_AFTER  5000 /* lines read before a progress line appears */
#define PROGRESS_PERIOD 200  /* ms between progress updates */
#define RECORD_OVERHEAD 64   /* bound on the framing of one record, wire or store */
#define STDIN_WAIT_MS   50   /* acks are handled this often while stdin is idle */

enum { OPT_KEY = CLI_OPT_FIRST_FREE, OPT_KEY_SEPARATOR, OPT_ACKS };

static const char s_usage[] =
    "usage: seglog produce [-t TOPIC] [-q] [--key KEY | --key-separator SEP]\n"
    "                      [--acks all|leader] [VALUE...]\n"
    "\n"
    "Append records to TOPIC. With VALUEs, they are appended as one atomic batch.\n"
    "Without, every line of stdin is one record (without its newline), sent in\n"
    "pipelined batches. Prints the offset of each record, one per line.\n"
    "\n"
    "The first failure stops a stdin stream: nothing after it is read or sent.\n"
    "A line the server would refuse (larger than its --max-record-bytes) is\n"
    "found before it is sent. stderr then names the input lines that were not\n"
    "stored (and any stored after the failure); exit code 1.\n"
    "\n"
    "  -q, --quiet            print only a summary line\n"
    "  --key KEY              give every record this key\n"
    "  --key-separator SEP    stdin only: each line is KEY SEP VALUE, split at the\n"
    "                         first SEP; a line without SEP is an error\n"
    "  --acks all|leader      cluster mode: acknowledged once every in-sync replica\n"
    "                         has the records (all, the server's default), or after\n"
    "                         the leader's own write (leader); standalone: ignored\n"
    "\n"
    "Cluster mode (--endpoint of a cluster node, or a list): records go to the\n"
    "topic's leader, following it across a failover; batches in flight then are\n"
    "sent again to the new leader, which stores each of them once (idempotent\n"
    "produce; every printed offset holds its line). A batch not acknowledged\n"
    "within --timeout x (1 + --retries) stops the stream.\n"
    "\n";

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void produce_print_offsets(produce_t *p, uint64_t first, uint64_t count)
{
    if (!p->records)
        p->first = first;
    p->records += count;
    p->last = first + count - 1;
    if (p->quiet || p->out_err)
        return;
    for (uint64_t i = 0; i < count; i++)
        printf("%" PRIu64 "\n", first + i);
    /* One write per acknowledged batch: a reader of a pipe sees each
     * acknowledgement as it happens (a stdin stream may run for hours). */
    fflush(stdout);
    p->out_err = cli_write_error(stdout);
}

static void s_summary(produce_t *p)
{
    if (!p->quiet || p->out_err)
        return;
    char q[128];
    cli_quote(q, sizeof q, p->c->topic);
    if (p->records)
        printf("produced %" PRIu64 " records to %s, offsets %" PRIu64 "..%" PRIu64 "\n",
               p->records, q, p->first, p->last);
    else
        printf("produced 0 records to %s\n", q);
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
        if (p->key) {
            recs[i].key = (const uint8_t *)p->key;
            recs[i].key_len = strlen(p->key);
        }
    }
    uint64_t first;
    int rc = seglog_client_produce_batch(client, p->c->topic, recs, (size_t)n, &first);
    free(recs);
    if (rc) {
        char q[128], what[160];
        snprintf(what, sizeof what, "produce to %s", cli_quote(q, sizeof q, p->c->topic));
        return cli_fail(what, rc, seglog_client_errmsg(client));
    }
    produce_print_offsets(p, first, (uint64_t)n);
    return CLI_EXIT_OK;
}

/* The lines of the batch being filled: bytes in data, line i at
 * data[start[i]..start[i+1]), its key the first klen[i] bytes of it (then
 * the separator) when a separator is used. Reused from batch to batch. */
typedef struct batch {
    char *data;
    size_t len, cap;
    size_t *start; /* BATCH_RECORDS + 1 */
    size_t *klen;  /* BATCH_RECORDS */
    size_t n;
    size_t bytes; /* key + value + RECORD_OVERHEAD of every line */
    uint64_t first_line;
    seglog_record_t *recs; /* BATCH_RECORDS */
} batch_t;

static int s_batch_add(batch_t *b, const char *line, size_t len, size_t klen, size_t cost)
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
    b->klen[b->n] = klen;
    b->len += len;
    b->n++;
    b->start[b->n] = b->len;
    b->bytes += cost;
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

/* Send the batch; on success its lines are in flight. */
static int s_send(produce_t *p, seglog_producer_t *prod, batch_t *b)
{
    size_t seplen = p->sep ? strlen(p->sep) : 0;
    for (size_t i = 0; i < b->n; i++) {
        const uint8_t *line = (const uint8_t *)b->data + b->start[i];
        size_t len = b->start[i + 1] - b->start[i];
        seglog_record_t *r = &b->recs[i];
        if (p->sep) {
            r->key = line;
            r->key_len = b->klen[i];
            r->value = line + b->klen[i] + seplen;
            r->value_len = len - b->klen[i] - seplen;
        } else {
            r->key = (const uint8_t *)p->key;
            r->key_len = p->key ? strlen(p->key) : 0;
            r->value = line;
            r->value_len = len;
        }
    }
    uint64_t seq = 0;
    int rc = seglog_producer_send(prod, p->c->topic, b->recs, b->n, &seq);
    if (rc == 0) {
        produce_sent(p, seq, b->first_line, b->n);
        b->first_line += b->n; /* else these lines count as not sent */
    }
    b->n = 0;
    b->len = 0;
    b->bytes = 0;
    return rc;
}

/* The key length of a line split at the separator, or -1 without one. */
static ssize_t s_split(const produce_t *p, const char *line, size_t len)
{
    size_t seplen = strlen(p->sep);
    for (size_t i = 0; i + seplen <= len; i++)
        if (memcmp(line + i, p->sep, seplen) == 0)
            return (ssize_t)i;
    return -1;
}

/* The batch limits: ours, lowered to what the server takes. */
static void s_limits(produce_t *p, seglog_client_t *client)
{
    p->batch_records = BATCH_RECORDS;
    p->batch_bytes = BATCH_BYTES;
    seglog_server_info_t in;
    if (seglog_client_info(client, &in) != 0)
        return; /* an old server: its own answers apply */
    p->max_record = in.max_record_bytes;
    if (in.max_batch_records && in.max_batch_records < p->batch_records)
        p->batch_records = in.max_batch_records;
    /* A request frame carries the topic and some framing besides the
     * records; a stored batch some framing per record. */
    uint64_t msg = in.max_message_bytes > 1024 ? in.max_message_bytes - 1024 : 0;
    if (msg && msg < p->batch_bytes)
        p->batch_bytes = (size_t)msg;
    if (in.max_batch_bytes && in.max_batch_bytes < p->batch_bytes)
        p->batch_bytes = (size_t)in.max_batch_bytes;
}

/* 1 if stdio holds stdin bytes not read yet (glibc; elsewhere 0, which
 * only makes batches smaller). */
static int s_stdin_buffered(void)
{
#ifdef __GLIBC__
    return stdin->_IO_read_ptr < stdin->_IO_read_end;
#else
    return 0;
#endif
}

/* Before reading a line: if stdin has nothing ready (an interactive or
 * slow writer), send the lines read so far and report acks (following a
 * failover in cluster mode) until it has. 0 or the producer's error. */
static int s_wait_stdin(produce_t *p, seglog_producer_t *prod, batch_t *b)
{
    struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
    if (s_stdin_buffered() || poll(&pf, 1, 0) != 0)
        return 0;
    if (b->n) {
        int rc = s_send(p, prod, b);
        if (rc)
            return rc;
    }
    while (!p->failed && !p->out_err) {
        if (!seglog_producer_in_flight(prod)) {
            while (poll(&pf, 1, -1) < 0 && errno == EINTR)
                ;
            return 0;
        }
        int rc = seglog_producer_poll(prod, STDIN_WAIT_MS);
        if (rc)
            return rc;
        if (poll(&pf, 1, 0) != 0)
            return 0;
    }
    return 0;
}

static int s_from_stdin(produce_t *p, seglog_client_t *client)
{
    seglog_producer_t *prod = NULL;
    batch_t b = {.first_line = 1};
    char *line = NULL;
    size_t line_cap = 0;
    uint64_t read = 0;
    int exit_code = CLI_EXIT_OK;
    /* Learn the limits first: a server that is not there is reported here. */
    seglog_server_info_t in;
    int rc = seglog_client_info(client, &in);
    if (rc && rc != SEGLOG_CLIENT_E_BAD_REQUEST) {
        char q[128], what[160];
        snprintf(what, sizeof what, "produce to %s", cli_quote(q, sizeof q, p->c->topic));
        return cli_fail(what, rc, seglog_client_errmsg(client));
    }
    s_limits(p, client);
    rc = seglog_producer_new(client, PRODUCE_IN_FLIGHT, produce_on_ack, p, &prod);
    if (rc) {
        cli_fail("cannot start the producer", rc, seglog_client_errmsg(client));
        return CLI_EXIT_ERROR;
    }
    b.start = malloc((BATCH_RECORDS + 1) * sizeof *b.start);
    b.klen = malloc(BATCH_RECORDS * sizeof *b.klen);
    b.recs = calloc(BATCH_RECORDS, sizeof *b.recs);
    if (!b.start || !b.klen || !b.recs) {
        cli_error("out of memory");
        exit_code = CLI_EXIT_ERROR;
        goto done;
    }
    int tty = isatty(STDERR_FILENO);
    size_t keylen = p->key ? strlen(p->key) : 0;
    ssize_t len;
    rc = 0;
    while (!p->failed && !p->out_err && (rc = s_wait_stdin(p, prod, &b)) == 0 &&
           !p->failed && (len = getline(&line, &line_cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        read++;
        size_t klen = 0, size = (size_t)len + keylen;
        if (p->sep) {
            ssize_t k = s_split(p, line, (size_t)len);
            if (k < 0) {
                produce_fail_line(p, read, "input line %" PRIu64 " has no key separator", read);
                break;
            }
            klen = (size_t)k;
            size = (size_t)len - strlen(p->sep);
        }
        if (p->max_record && size > p->max_record) {
            produce_fail_line(p, read,
                              "record too large: input line %" PRIu64 " is %zu bytes (key + "
                              "value); the server at %s takes at most %" PRIu32
                              " (seglogd --max-record-bytes)",
                              read, size, p->c->endpoint, p->max_record);
            break;
        }
        size_t cost = size + RECORD_OVERHEAD;
        if (b.n == p->batch_records || (b.n && b.bytes + cost > p->batch_bytes)) {
            if ((rc = s_send(p, prod, &b)) != 0)
                break;
        }
        if (s_batch_add(&b, line, (size_t)len, klen, cost) != 0) {
            cli_error("out of memory");
            exit_code = CLI_EXIT_ERROR;
            goto done;
        }
        if (tty && read > PROGRESS_AFTER)
            p->progress = 1;
        s_progress(p, read, 0);
    }
    if (!rc && !p->failed && ferror(stdin))
        produce_fail_line(p, read + 1, "reading stdin: %s", strerror(errno));
    /* The lines before a line that failed here are sent all the same. */
    if (!rc && b.n && !p->out_err && (!p->failed || p->failed_line))
        rc = s_send(p, prod, &b);
    while (!rc && seglog_producer_in_flight(prod) && !p->out_err)
        rc = seglog_producer_flush(prod, -1);
    s_progress(p, read, 1);
    if (rc) {
        char q[128], what[160];
        snprintf(what, sizeof what, "produce to %s", cli_quote(q, sizeof q, p->c->topic));
        if (!p->failed)
            cli_fail(what, rc, seglog_producer_errmsg(prod));
        produce_fail_line(p, b.first_line, NULL);
    }
    if (p->failed)
        produce_report(p, b.first_line, read);
done:
    if (p->failed)
        exit_code = CLI_EXIT_ERROR;
    seglog_producer_destroy(&prod);
    free(line);
    free(b.data);
    free(b.start);
    free(b.klen);
    free(b.recs);
    return exit_code;
}

int cli_produce(int argc, char **argv, cli_common_t *c)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"key", required_argument, NULL, OPT_KEY},
                                             {"key-separator", required_argument, NULL,
                                              OPT_KEY_SEPARATOR},
                                             {"acks", required_argument, NULL, OPT_ACKS},
                                             {NULL, 0, NULL, 0}};
    produce_t p = {.c = c};
    int opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:hq", longopts, c, s_usage, &exit_code)) != -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt == 'q')
            p.quiet = 1;
        else if (opt == OPT_KEY)
            p.key = optarg;
        else if (opt == OPT_KEY_SEPARATOR)
            p.sep = optarg;
        else if (opt == OPT_ACKS && strcmp(optarg, "all") == 0)
            c->acks = SEGLOG_ACKS_ALL;
        else if (opt == OPT_ACKS && strcmp(optarg, "leader") == 0)
            c->acks = SEGLOG_ACKS_LEADER;
        else if (opt == OPT_ACKS)
            return cli_usage_error(argv[0], "--acks wants all or leader, not '%s'", optarg);
        else
            return cli_usage_error(argv[0], "unknown option");
    }
    if (p.key && p.sep)
        return cli_usage_error(argv[0], "--key and --key-separator exclude each other");
    if (p.sep && !*p.sep)
        return cli_usage_error(argv[0], "--key-separator wants a non-empty separator");
    if (p.sep && optind < argc)
        return cli_usage_error(argv[0], "--key-separator splits stdin lines; with VALUEs use --key");
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
    if (optind < argc)
        exit_code = s_from_args(&p, client, argc - optind, argv + optind);
    else
        exit_code = s_from_stdin(&p, client);
    if (exit_code == CLI_EXIT_OK)
        s_summary(&p);
    if (exit_code == CLI_EXIT_OK && !p.out_err && fflush(stdout) != 0)
        p.out_err = errno;
    seglog_client_destroy(&client);
    produce_free(&p);
    if (p.out_err && p.out_err != EPIPE) {
        cli_error("writing stdout: %s", strerror(p.out_err));
        return CLI_EXIT_ERROR;
    }
    return exit_code;
}
