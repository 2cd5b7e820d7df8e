/*
 * consume.c - `seglog consume` (stored records, up to the end of the log
 * as it was at the first read) and `seglog tail` (every record from a
 * start, then live, until SIGINT or SIGTERM; exit 0 then).
 */
#include "cli.h"
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CONSUME_BATCH 1000
#define TAIL_WAIT_MS  250 /* bound on one wait, so a signal is never missed for long */
#define FOLLOW_WAIT_MS 1000 /* --follow: one long poll's max_wait_ms */

enum { OPT_FROM = CLI_OPT_FIRST_FREE, OPT_COUNT, OPT_FORMAT, OPT_FOLLOW, OPT_FROM_TIME,
       OPT_GROUP };

static const char s_consume_usage[] =
    "usage: seglog consume [-t TOPIC] [--from N|earliest | --from-time TIME] [--count N]\n"
    "                      [--follow] [--group G] [--format text|json|raw]\n"
    "\n"
    "Print the records of TOPIC from an offset (default: earliest) to the end of\n"
    "the log as it was when reading started, or --count of them.\n"
    "\n"
    "  --from N|earliest      first offset to print (default earliest)\n"
    "  --from-time TIME       start at the first record stamped at or after TIME:\n"
    "                         2026-12-04T10:00:00Z (UTC; also .mmm, +HH:MM) or ms\n"
    "                         since the Unix epoch\n"
    "  --count N              print at most N records\n"
    "  --follow               at the end, wait for new records (long-poll consume,\n"
    "                         request/reply; 'seglog tail' uses the PUB stream) until\n"
    "                         --count records or interrupted (Ctrl-C, SIGTERM: exit 0)\n"
    "  --group G              consumer group G: start after G's last committed offset\n"
    "                         of TOPIC (earliest if none; --from, --from-time\n"
    "                         override) and commit the position after each batch\n"
    "                         is written\n"
    "  --format FORMAT        text: \"offset<TAB>value\" (default)\n"
    "                         json: one object per line: offset, timestamp_ms, key,\n"
    "                               value (base64 with \"value_encoding\":\"base64\"\n"
    "                               when not UTF-8; the same for key)\n"
    "                         raw:  values only, one per line\n"
    "\n";

static const char s_tail_usage[] =
    "usage: seglog tail [-t TOPIC] [--from N|earliest|latest] [--format text|json|raw]\n"
    "\n"
    "Print every record of TOPIC from an offset on, in order and exactly once, then\n"
    "wait for new ones, until interrupted (Ctrl-C, SIGTERM: exit 0). Records lost by\n"
    "the live stream are fetched again, so none is missed. A topic that does not\n"
    "exist yet is waited for (and then printed from its first record).\n"
    "With --endpoint A,B,C and a cluster, the tail reads one replica of TOPIC (the\n"
    "first node of the list if it holds one) and moves to another live replica\n"
    "when its node stops answering, going on at the next record (a note on\n"
    "stderr); --pub-endpoint is then not used.\n"
    "\n"
    "  --from N|earliest|latest  where to start (default latest: new records only)\n"
    "  --format FORMAT        text (default), json or raw, as for 'seglog consume'\n"
    "\n";

typedef struct read_opts {
    uint64_t from;
    uint64_t count; /* UINT64_MAX: no limit */
    cli_format_t fmt;
    int follow; /* consume --follow */
    int from_time; /* consume --from-time: time_ms is set */
    uint64_t time_ms;
    int from_set;      /* --from was given */
    const char *group; /* consume --group, or NULL */
} read_opts_t;

/* "2026-12-04T10:00:00Z", with optional ".mmm" and "Z" or "+HH:MM" /
 * "-HH:MM", or plain ms since the epoch. 0 or -1. */
static int s_parse_time(const char *s, uint64_t *ms)
{
    if (cli_parse_u64(s, ms) == 0)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    long frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    long off = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
        if (h > 23 || m > 59)
            return -1;
        off = (h * 60L + m) * 60L * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || t - off < 0)
        return -1;
    *ms = (uint64_t)(t - off) * 1000u + (uint64_t)frac;
    return 0;
}

static volatile sig_atomic_t s_stop;

/* Options shared by consume and tail; returns -1 to go on, else an exit
 * code. */
static int s_parse(int argc, char **argv, cli_common_t *c, const char *usage, int tail,
                   read_opts_t *r)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
                                             {"from", required_argument, NULL, OPT_FROM},
                                             {"count", required_argument, NULL, OPT_COUNT},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {"follow", no_argument, NULL, OPT_FOLLOW},
                                             {"from-time", required_argument, NULL, OPT_FROM_TIME},
                                             {"group", required_argument, NULL, OPT_GROUP},
                                             {NULL, 0, NULL, 0}};
    int opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:h", longopts, c, usage, &exit_code)) != -1) {
        switch (opt) {
        case CLI_OPT_EXIT:
            return exit_code;
        case OPT_FROM:
            if (r->from_time)
                return cli_usage_error(argv[0], "--from and --from-time exclude each other");
            r->from_set = 1;
            if (strcmp(optarg, "earliest") == 0)
                r->from = SEGLOG_OFFSET_EARLIEST;
            else if (tail && strcmp(optarg, "latest") == 0)
                r->from = SEGLOG_OFFSET_LATEST;
            else if (cli_parse_u64(optarg, &r->from) != 0 || r->from >= SEGLOG_OFFSET_EARLIEST)
                return cli_usage_error(argv[0], "--from wants an offset%s, not '%s'",
                                       tail ? ", 'earliest' or 'latest'" : " or 'earliest'",
                                       optarg);
            break;
        case OPT_COUNT:
            if (tail)
                return cli_usage_error(argv[0], "unknown option '--count'");
            if (cli_parse_u64(optarg, &r->count) != 0)
                return cli_usage_error(argv[0], "--count wants a number, not '%s'", optarg);
            break;
        case OPT_FROM_TIME:
            if (tail)
                return cli_usage_error(argv[0], "unknown option '--from-time'");
            if (r->from != SEGLOG_OFFSET_EARLIEST)
                return cli_usage_error(argv[0], "--from and --from-time exclude each other");
            if (s_parse_time(optarg, &r->time_ms) != 0)
                return cli_usage_error(argv[0],
                                       "--from-time wants 2026-12-04T10:00:00Z (UTC, or with "
                                       "+HH:MM) or ms since the epoch, not '%s'",
                                       optarg);
            r->from_time = 1;
            break;
        case OPT_GROUP:
            if (tail)
                return cli_usage_error(argv[0], "unknown option '--group'");
            r->group = optarg;
            break;
        case OPT_FOLLOW:
            if (tail)
                return cli_usage_error(argv[0], "unknown option '--follow'");
            r->follow = 1;
            break;
        case OPT_FORMAT:
            if (cli_format_parse(optarg, &r->fmt) != 0)
                return cli_usage_error(argv[0], "--format is text, json or raw, not '%s'", optarg);
            break;
        default:
            return cli_usage_error(argv[0], "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* The end of a write: -1 to go on, else the exit code (EPIPE: quietly 0). */
static int s_write_outcome(int err)
{
    if (!err)
        return -1;
    if (err == EPIPE)
        return CLI_EXIT_OK;
    cli_error("writing stdout: %s", strerror(err));
    return CLI_EXIT_ERROR;
}

static int s_fail_topic(const char *verb, const char *topic, int rc, const char *detail)
{
    char what[160];
    snprintf(what, sizeof what, "%s '%s'", verb, topic);
    return cli_fail(what, rc, detail);
}

static void s_catch_signals(void);

/* --group without --from: the group's committed position, or earliest. */
static int s_group_start(seglog_client_t *client, const cli_common_t *c, const read_opts_t *r,
                         uint64_t *offset)
{
    int found = 0;
    int rc = seglog_client_fetch_offset(client, r->group, c->topic, &found, offset, NULL);
    if (rc == SEGLOG_CLIENT_E_UNKNOWN_GROUP || (rc == 0 && !found)) {
        *offset = SEGLOG_OFFSET_EARLIEST;
        return 0;
    }
    if (rc) {
        char what[200];
        snprintf(what, sizeof what, "fetch the offset of group '%s'", r->group);
        return cli_fail(what, rc, seglog_client_errmsg(client));
    }
    return 0;
}

/* --group: the batch up to pos was written; store the position. */
static int s_group_commit(seglog_client_t *client, const cli_common_t *c, const read_opts_t *r,
                          uint64_t pos)
{
    int w = s_write_outcome(fflush(stdout) ? errno : 0); /* written before it counts as read */
    if (w >= 0)
        return w;
    int rc = seglog_client_commit_offset(client, r->group, c->topic, pos, NULL);
    if (rc) {
        char what[200];
        snprintf(what, sizeof what, "commit the offset of group '%s'", r->group);
        return cli_fail(what, rc, seglog_client_errmsg(client));
    }
    return -1;
}

static int s_consume(seglog_client_t *client, const cli_common_t *c, const read_opts_t *r)
{
    uint64_t offset = r->from;
    if (r->group && !r->from_set && !r->from_time) {
        int e = s_group_start(client, c, r, &offset);
        if (e)
            return e;
    }
    if (r->from_time) {
        int rc = seglog_client_offset_for_time(client, c->topic, r->time_ms, &offset);
        if (rc)
            return s_fail_topic("consume", c->topic, rc, seglog_client_errmsg(client));
    } else if (offset == SEGLOG_OFFSET_EARLIEST) {
        seglog_offsets_t o;
        int rc = seglog_client_offsets(client, c->topic, &o);
        if (rc)
            return s_fail_topic("consume", c->topic, rc, seglog_client_errmsg(client));
        offset = o.lowest_offset;
    }
    uint64_t left = r->count, end = UINT64_MAX;
    int have_end = r->follow; /* --follow: no end */
    while (left > 0 && (!have_end || offset < end) && !s_stop) {
        uint32_t want = left < CONSUME_BATCH ? (uint32_t)left : CONSUME_BATCH;
        seglog_batch_t b;
        int rc = seglog_client_consume_wait(client, c->topic, offset, want, 0,
                                            r->follow ? FOLLOW_WAIT_MS : 0, &b);
        if (rc == EINTR && s_stop)
            break;
        if (rc)
            return s_fail_topic("consume", c->topic, rc, seglog_client_errmsg(client));
        if (!have_end) {
            end = b.end_offset; /* stop where the log ended when we started */
            have_end = 1;
        }
        if (b.count == 0 && !r->follow)
            break;
        uint64_t pos = offset;
        for (size_t i = 0; i < b.count && left > 0 && b.records[i].offset < end; i++, left--) {
            int w = s_write_outcome(cli_print_record(stdout, r->fmt, &b.records[i]));
            if (w >= 0)
                return w;
            pos = b.records[i].offset + 1;
        }
        if (r->group && pos > offset) {
            int w = s_group_commit(client, c, r, pos);
            if (w >= 0)
                return w;
        }
        offset = b.next_offset;
        if (r->follow) { /* each batch shows at once */
            int w = s_write_outcome(fflush(stdout) ? errno : 0);
            if (w >= 0)
                return w;
        }
    }
    int w = s_write_outcome(fflush(stdout) ? errno : 0);
    return w >= 0 ? w : CLI_EXIT_OK;
}

int cli_consume(int argc, char **argv, cli_common_t *c)
{
    read_opts_t r = {.from = SEGLOG_OFFSET_EARLIEST, .count = UINT64_MAX, .fmt = CLI_FMT_TEXT};
    int exit_code = s_parse(argc, argv, c, s_consume_usage, 0, &r);
    if (exit_code >= 0)
        return exit_code;
    if (r.follow)
        s_catch_signals();
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
    exit_code = s_consume(client, c, &r);
    seglog_client_destroy(&client);
    return exit_code;
}

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

/* SIGINT/SIGTERM set a flag and interrupt the wait (no SA_RESTART). */
static void s_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* A move to another replica (cluster mode) is worth a note on stderr. */
static void s_note_failover(seglog_tail_t *t, uint64_t *seen)
{
    seglog_tail_stats_t st;
    seglog_tail_stats(t, &st);
    if (st.failovers == *seen)
        return;
    *seen = st.failovers;
    cli_error("tail: its node stopped answering; moved to another replica, at offset %" PRIu64
              " (failover %" PRIu64 ")",
              seglog_tail_position(t), st.failovers);
}

static int s_tail(seglog_tail_t *t, const read_opts_t *r)
{
    int flushed = 1;
    uint64_t failovers = 0;
    while (!s_stop) {
        seglog_record_t rec;
        /* Print what is ready without waiting; flush before blocking. */
        int rc = seglog_tail_next(t, flushed ? TAIL_WAIT_MS : 0, &rec);
        s_note_failover(t, &failovers);
        if (rc == 0) {
            int w = s_write_outcome(cli_print_record(stdout, r->fmt, &rec));
            if (w >= 0)
                return w;
            flushed = 0;
            continue;
        }
        if (rc == SEGLOG_CLIENT_E_AGAIN || rc == EINTR) {
            if (!flushed) {
                int w = s_write_outcome(fflush(stdout) ? errno : 0);
                if (w >= 0)
                    return w;
                flushed = 1;
            }
            continue;
        }
        if (rc == SEGLOG_CLIENT_E_EPOCH_CHANGED) {
            fflush(stdout);
            cli_error("%s", seglog_tail_errmsg(t));
            continue;
        }
        fflush(stdout);
        return cli_fail("tail", rc, seglog_tail_errmsg(t));
    }
    int w = s_write_outcome(fflush(stdout) ? errno : 0);
    return w >= 0 ? w : CLI_EXIT_OK;
}

int cli_tail(int argc, char **argv, cli_common_t *c)
{
    read_opts_t r = {.from = SEGLOG_OFFSET_LATEST, .count = UINT64_MAX, .fmt = CLI_FMT_TEXT};
    int exit_code = s_parse(argc, argv, c, s_tail_usage, 1, &r);
    if (exit_code >= 0)
        return exit_code;
    s_catch_signals();
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
    seglog_tail_t *t = NULL;
    seglog_tail_options_t o;
    seglog_tail_options_default(&o);
    o.wait_for_topic = 1; /* `seglog tail -t new` waits for the first record */
    int rc = seglog_tail_new(client, c->topic, r.from, &o, &t);
    if (rc == EINTR && s_stop)
        exit_code = CLI_EXIT_OK; /* interrupted before the first record */
    else if (rc == SEGLOG_CLIENT_E_INVAL) /* ZeroMQ rejected the endpoint */
        exit_code = cli_usage_error(c->cmd, "invalid pub endpoint '%s': %s", c->pub_endpoint,
                                    seglog_client_errmsg(client));
    else if (rc)
        exit_code = s_fail_topic("tail", c->topic, rc, seglog_client_errmsg(client));
    else
        exit_code = s_tail(t, &r);
    seglog_tail_destroy(&t);
    seglog_client_destroy(&client);
    return exit_code;
}
