/*
 * cli.h - what the seglog tool's subcommands share: the common options,
 * the exit codes and small helpers. Each subcommand is cli_<name>(), which
 * parses its own arguments and returns the process exit code.
 */
#ifndef CLI_H
#define CLI_H

#include "seglog/client.h"

#include <getopt.h>
#include <stdint.h>

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1, /* server or connection error */
    CLI_EXIT_USAGE = 2,
};

#define CLI_DEFAULT_ENDPOINT     "tcp://127.0.0.1:5555"
#define CLI_DEFAULT_PUB_ENDPOINT "tcp://127.0.0.1:5556"

/* Options every subcommand takes. Defaults, then the environment
 * (SEGLOG_ENDPOINT, SEGLOG_PUB_ENDPOINT), then flags. */
typedef struct cli_common {
    const char *cmd; /* the subcommand's name, for usage hints */
    const char *endpoint;
    const char *pub_endpoint;
    const char *topic;
    int topic_given; /* -t was used (truncate insists on it) */
    int timeout_ms;
    int retries;
    int acks; /* seglog_acks_t (produce --acks) */
    /* CURVE (docs/SECURITY.md): $SEGLOG_CURVE_SERVER_KEY, $SEGLOG_CURVE_CERT */
    const char *curve_server_key; /* 40 Z85 characters or the server's public cert file */
    const char *curve_cert;       /* this client's certificate (NAME.key_secret) */
} cli_common_t;

/* getopt_long ids of the common long options. */
enum {
    CLI_OPT_ENDPOINT = 1000,
    CLI_OPT_PUB_ENDPOINT,
    CLI_OPT_TIMEOUT,
    CLI_OPT_RETRIES,
    CLI_OPT_HELP,
    CLI_OPT_CURVE_SERVER_KEY,
    CLI_OPT_CURVE_CERT,
    CLI_OPT_FIRST_FREE, /* subcommands number their own options from here */
};

/* The common entries of a long-option table: spliced in by each command. */
#define CLI_COMMON_LONGOPTS                                                                        \
    {"endpoint", required_argument, NULL, CLI_OPT_ENDPOINT},                                       \
        {"pub-endpoint", required_argument, NULL, CLI_OPT_PUB_ENDPOINT},                           \
        {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                                     \
        {"retries", required_argument, NULL, CLI_OPT_RETRIES},                                     \
        {"topic", required_argument, NULL, 't'},                                                   \
        {"curve-server-key", required_argument, NULL, CLI_OPT_CURVE_SERVER_KEY},                   \
        {"curve-cert", required_argument, NULL, CLI_OPT_CURVE_CERT},                               \
    {                                                                                              \
        "help", no_argument, NULL, CLI_OPT_HELP                                                    \
    }

/* The help text of the common options. */
extern const char cli_common_help[];

/* Handle a common option (opt as returned by getopt_long). 1 if it was
 * one, 0 if not, -1 on a bad value (message printed). */
int cli_common_option(cli_common_t *c, int opt, const char *arg);

/* The next option of a subcommand. Common options are applied to c, and
 * --help prints usage (then cli_common_help) to stdout. Returns an option
 * of the subcommand's own, -1 at the end of the options, or CLI_OPT_EXIT
 * with *exit_code set (after --help, or a usage error already printed).
 * shortopts must start with ':' and include "t:". */
#define CLI_OPT_EXIT (-2)
int cli_next_option(int argc, char **argv, const char *shortopts, const struct option *longopts,
                    cli_common_t *c, const char *usage, int *exit_code);

/* The whole command line of a subcommand that takes the common options,
 * --format text|json when json is not NULL (*json = 1 for json), and no
 * arguments. Returns -1 to go on, or the exit code to return now (after
 * --help, or a usage error already printed). */
int cli_parse_plain(int argc, char **argv, cli_common_t *c, const char *usage, int *json);

/* Parse a non-negative decimal number; -1 if arg is not one. */
int cli_parse_u64(const char *arg, uint64_t *out);

/* "seglog: <fmt>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a usage error with a hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Check the topic name as the server would, and more: "" and a name
 * starting with '-' (an option taken as the value of -t) are refused
 * too. 0, or prints why and returns CLI_EXIT_USAGE. */
int cli_check_topic(const cli_common_t *c);

/* "'<topic>'" for messages, shortened in the middle past 60 characters
 * (the quotes always close). */
const char *cli_quote(char *buf, size_t cap, const char *topic);

/* Check the topic (cli_check_topic), then connect with the common
 * options (the endpoint may be a comma-separated list of cluster nodes). 0, CLI_EXIT_USAGE for a bad topic or an endpoint ZeroMQ
 * rejects, CLI_EXIT_ERROR otherwise; the error is printed. */
int cli_connect(const cli_common_t *c, seglog_client_t **client_p);

/* After a command's own options (getopt's optind): the topic must be
 * named with -t (never "default" by omission) and no argument may be
 * left; then cli_connect. 0, or the exit code to return. */
int cli_connect_named(int argc, char **argv, const cli_common_t *c, seglog_client_t **client_p);

/* Report a failed client call ("seglog: <what>: <strerror>: <detail>");
 * returns CLI_EXIT_ERROR. */
int cli_fail(const char *what, int err, const char *detail);

/* Subcommands. argv[0] is the subcommand's name. */
int cli_produce(int argc, char **argv, cli_common_t *c);
int cli_consume(int argc, char **argv, cli_common_t *c);
int cli_tail(int argc, char **argv, cli_common_t *c);
int cli_offsets(int argc, char **argv, cli_common_t *c);
int cli_truncate(int argc, char **argv, cli_common_t *c);
int cli_topics(int argc, char **argv, cli_common_t *c);
int cli_delete(int argc, char **argv, cli_common_t *c);
int cli_create(int argc, char **argv, cli_common_t *c);
int cli_config(int argc, char **argv, cli_common_t *c);
int cli_cluster(int argc, char **argv, cli_common_t *c);
int cli_keygen(int argc, char **argv, cli_common_t *c);

#endif
