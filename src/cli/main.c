/*
 * main.c - the seglog command-line tool: global options, dispatch and the
 * helpers the subcommands share.
 *
 *   seglog [COMMON OPTIONS] COMMAND [OPTIONS] [ARGS]
 *
 * Exit codes: 0 success, 1 server or connection error (one line on
 * stderr), 2 usage error. SIGPIPE is ignored and a write that fails with
 * EPIPE ends the command quietly, so `seglog consume | head` is clean.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_common_help[] =
    "common options (also accepted before COMMAND):\n"
    "  -t, --topic TOPIC      topic name, [A-Za-z0-9._-]{1,128}, not starting with\n"
    "                         '-' (default \"default\"; -t \"\" is refused)\n"
    "  --endpoint ENDPOINT[,ENDPOINT...]\n"
    "                         server request socket, or a list of cluster nodes\n"
    "                         (default $SEGLOG_ENDPOINT, else " CLI_DEFAULT_ENDPOINT ");\n"
    "                         produce goes to each topic's leader; other commands\n"
    "                         read from the endpoint given (from a list: the first\n"
    "                         node that answers)\n"
    "  --pub-endpoint ENDPOINT\n"
    "                         server publish socket, for tail\n"
    "                         (default $SEGLOG_PUB_ENDPOINT, else " CLI_DEFAULT_PUB_ENDPOINT ");\n"
    "                         not used with a list of cluster nodes: tail then\n"
    "                         takes each node's own from the cluster's metadata\n"
    "  --timeout MS           wait this long for a connection, then for each reply\n"
    "                         (default 2000); no connection within MS means the\n"
    "                         server is not running: fail at once, no retries\n"
    "                         (cluster: a call, failover included, ends within\n"
    "                         MS x (1 + retries))\n"
    "  --retries N            resend an unanswered request on a new connection\n"
    "                         this many times (default 2)\n"
    "  --curve-server-key KEY|FILE\n"
    "                         CURVE: the server's public key (40 Z85 characters) or\n"
    "                         its public certificate file (default\n"
    "                         $SEGLOG_CURVE_SERVER_KEY); needs --curve-cert\n"
    "  --curve-cert FILE      CURVE: this client's certificate, from 'seglog keygen'\n"
    "                         (NAME.key_secret; default $SEGLOG_CURVE_CERT)\n"
    "  --help                 this help\n";

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: seglog [COMMON OPTIONS] COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  produce [VALUE...]     append records (from arguments, or one per stdin line)\n"
            "  consume                print stored records\n"
            "  tail                   print records as they arrive, until Ctrl-C\n"
            "  offsets                print a topic's offsets and epoch\n"
            "  truncate --before N    drop whole segments below offset N\n"
            "  topics                 list the topics and their offsets\n"
            "  create -t TOPIC        create a topic (--replicas N in cluster mode)\n"
            "  delete -t TOPIC        delete a topic and all its records\n"
            "  config -t TOPIC        read or --set a topic's retention settings\n"
            "  cluster                print the cluster's nodes, leaders, epochs, ISRs, HWs\n"
            "  keygen NAME            write a CURVE certificate pair NAME.key, NAME.key_secret\n"
            "\n"
            "'seglog COMMAND --help' describes each command.\n"
            "exit codes: 0 success, 1 server or connection error, 2 usage error\n"
            "\n%s",
            cli_common_help);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("seglog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("seglog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try 'seglog %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_EXIT_USAGE;
}

int cli_parse_u64(const char *arg, uint64_t *out)
{
    if (!arg || *arg < '0' || *arg > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int s_parse_int(const char *arg, int min, int *out)
{
    uint64_t v;
    if (cli_parse_u64(arg, &v) != 0 || v > INT_MAX || (int)v < min)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_common_option(cli_common_t *c, int opt, const char *arg)
{
    switch (opt) {
    case 't':
        c->topic = arg;
        c->topic_given = 1;
        return 1;
    case CLI_OPT_ENDPOINT:
        c->endpoint = arg;
        return 1;
    case CLI_OPT_PUB_ENDPOINT:
        c->pub_endpoint = arg;
        return 1;
    case CLI_OPT_TIMEOUT:
        if (s_parse_int(arg, 1, &c->timeout_ms) != 0) {
            cli_error("--timeout wants a number of milliseconds above 0, not '%s'", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_RETRIES:
        if (s_parse_int(arg, 0, &c->retries) != 0) {
            cli_error("--retries wants a number, not '%s'", arg);
            return -1;
        }
        return 1;
    case CLI_OPT_CURVE_SERVER_KEY:
        c->curve_server_key = arg;
        return 1;
    case CLI_OPT_CURVE_CERT:
        c->curve_cert = arg;
        return 1;
    default:
        return 0;
    }
}

int cli_next_option(int argc, char **argv, const char *shortopts, const struct option *longopts,
                    cli_common_t *c, const char *usage, int *exit_code)
{
    opterr = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (opt == -1)
            return -1;
        if (opt == CLI_OPT_HELP || opt == 'h') {
            fputs(usage, stdout);
            fputs(cli_common_help, stdout);
            *exit_code = CLI_EXIT_OK;
            return CLI_OPT_EXIT;
        }
        if (opt == ':' || opt == '?') {
            const char *bad = argv[optind - 1];
            *exit_code = opt == ':' ? cli_usage_error(argv[0], "option '%s' needs a value", bad)
                                    : cli_usage_error(argv[0], "unknown option '%s'", bad);
            return CLI_OPT_EXIT;
        }
        int r = cli_common_option(c, opt, optarg);
        if (r < 0) {
            *exit_code = CLI_EXIT_USAGE;
            return CLI_OPT_EXIT;
        }
        if (r == 0)
            return opt;
    }
}

int cli_parse_plain(int argc, char **argv, cli_common_t *c, const char *usage, int *json)
{
    enum { OPT_FORMAT = CLI_OPT_FIRST_FREE };
    static const struct option with_format[] = {
        CLI_COMMON_LONGOPTS, {"format", required_argument, NULL, OPT_FORMAT}, {NULL, 0, NULL, 0}};
    static const struct option common_only[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:h", json ? with_format : common_only, c, usage,
                                  &exit_code)) != -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt != OPT_FORMAT || !json)
            return cli_usage_error(argv[0], "unknown option");
        if (strcmp(optarg, "json") == 0)
            *json = 1;
        else if (strcmp(optarg, "text") == 0)
            *json = 0;
        else
            return cli_usage_error(argv[0], "--format wants text or json, not '%s'", optarg);
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    return -1;
}

int cli_fail(const char *what, int err, const char *detail)
{
    if (detail && *detail && strcmp(detail, seglog_client_strerror(err)) != 0)
        cli_error("%s: %s: %s", what, seglog_client_strerror(err), detail);
    else
        cli_error("%s: %s", what, seglog_client_strerror(err));
    return CLI_EXIT_ERROR;
}

const char *cli_quote(char *buf, size_t cap, const char *topic)
{
    size_t n = strlen(topic);
    if (n <= 60)
        snprintf(buf, cap, "'%s'", topic);
    else
        snprintf(buf, cap, "'%.28s...%s' (%zu characters)", topic, topic + n - 28, n);
    return buf;
}

int cli_check_topic(const cli_common_t *c)
{
    const char *t = c->topic;
    size_t n = strlen(t);
    char q[128];
    if (n == 0)
        return cli_usage_error(c->cmd, "the topic name is empty (-t \"\"); name a topic, or leave "
                                       "out -t for \"default\"");
    if (t[0] == '-')
        return cli_usage_error(c->cmd,
                               "topic %s starts with '-' (an option given as the value of -t?)",
                               cli_quote(q, sizeof q, t));
    int ok = n <= 128 && strcmp(t, ".") != 0 && strcmp(t, "..") != 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
             (t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == '_' || t[i] == '-';
    if (!ok)
        return cli_usage_error(c->cmd,
                               "invalid topic name %s: must match [A-Za-z0-9._-]{1,128} and not "
                               "be \".\" or \"..\"",
                               cli_quote(q, sizeof q, t));
    return 0;
}

int cli_connect_named(int argc, char **argv, const cli_common_t *c, seglog_client_t **client_p)
{
    if (!c->topic_given)
        return cli_usage_error(argv[0], "%s needs -t TOPIC", argv[0]);
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    return cli_connect(c, client_p);
}

int cli_connect(const cli_common_t *c, seglog_client_t **client_p)
{
    int rc = cli_check_topic(c);
    if (rc)
        return rc;
    seglog_client_options_t o;
    seglog_client_options_default(&o);
    if (c->timeout_ms > 0)
        o.timeout_ms = c->timeout_ms;
    if (c->retries >= 0)
        o.retries = c->retries;
    o.acks = c->acks;
    char server[41], pub[41], sec[41], err[512];
    if (c->curve_server_key || c->curve_cert) {
        if (!c->curve_server_key || !c->curve_cert)
            return cli_usage_error(c->cmd, "CURVE needs both --curve-server-key and --curve-cert "
                                           "(or $SEGLOG_CURVE_SERVER_KEY and $SEGLOG_CURVE_CERT)");
        if (seglog_curve_read_key(c->curve_server_key, server, err, sizeof err) != 0)
            return cli_usage_error(c->cmd, "--curve-server-key: %s", err);
        if (seglog_curve_read_cert(c->curve_cert, pub, sec, err, sizeof err) != 0)
            return cli_usage_error(c->cmd, "--curve-cert: %s", err);
        if (!sec[0])
            return cli_usage_error(c->cmd,
                                   "--curve-cert: '%s' has no secret key (give NAME.key_secret)",
                                   c->curve_cert);
        o.curve_server_key = server;
        o.curve_public_key = pub;
        o.curve_secret_key = sec;
    }
    rc = seglog_client_connect(c->endpoint, c->pub_endpoint, &o, client_p);
    memset(sec, 0, sizeof sec);
    if (rc) {
        if (rc == SEGLOG_CLIENT_E_INVAL)
            return cli_usage_error(c->cmd,
                                   "invalid endpoint '%s' (want tcp://HOST:PORT or ipc://PATH, or a "
                                   "comma-separated list of them)",
                                   c->endpoint);
        else
            cli_error("cannot connect: %s", seglog_client_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **, cli_common_t *);
} s_commands[] = {
    {"produce", cli_produce}, {"consume", cli_consume},   {"tail", cli_tail},
    {"offsets", cli_offsets}, {"truncate", cli_truncate}, {"topics", cli_topics},
    {"delete", cli_delete},   {"cluster", cli_cluster},   {"keygen", cli_keygen},
    {"config", cli_config},   {"create", cli_create},
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is an EPIPE write error, handled quietly */

    cli_common_t c = {
        .endpoint = CLI_DEFAULT_ENDPOINT,
        .pub_endpoint = CLI_DEFAULT_PUB_ENDPOINT,
        .topic = "default",
        .timeout_ms = -1,
        .retries = -1,
    };
    const char *env = getenv("SEGLOG_ENDPOINT");
    if (env && *env)
        c.endpoint = env;
    env = getenv("SEGLOG_PUB_ENDPOINT");
    if (env && *env)
        c.pub_endpoint = env;
    env = getenv("SEGLOG_CURVE_SERVER_KEY");
    if (env && *env)
        c.curve_server_key = env;
    env = getenv("SEGLOG_CURVE_CERT");
    if (env && *env)
        c.curve_cert = env;

    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:t:h", longopts, NULL)) != -1) {
        if (opt == 'h' || opt == CLI_OPT_HELP) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (opt == ':')
            return cli_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
        if (opt == '?')
            return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
        int r = cli_common_option(&c, opt, optarg);
        if (r < 0)
            return CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        s_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (strcmp(name, s_commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* GNU getopt: start over for the subcommand */
            c.cmd = name;
            return s_commands[i].fn(sub_argc, sub_argv, &c);
        }
    }
    return cli_usage_error(NULL, "unknown command '%s'", name);
}
