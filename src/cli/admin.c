/* admin.c - `seglog offsets` and `seglog truncate`. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { OPT_BEFORE = CLI_OPT_FIRST_FREE };

static const char s_offsets_usage[] =
    "usage: seglog offsets [-t TOPIC]\n"
    "\n"
    "Print the offsets of TOPIC, one \"name value\" per line: lowest_offset (first\n"
    "offset still stored), next_offset (the next record's), committed_offset\n"
    "(records below it passed the commit point) and epoch (changes on a reset).\n"
    "\n";

static const char s_truncate_usage[] =
    "usage: seglog truncate -t TOPIC --before N\n"
    "\n"
    "Drop every whole segment of TOPIC whose records all lie below offset N, and\n"
    "print the new lowest offset (which may be below N: segments are never split).\n"
    "\n"
    "  --before N             offset below which records may go\n"
    "\n";

static int s_finish(int exit_code)
{
    if (exit_code == CLI_EXIT_OK && fflush(stdout) != 0 && errno != EPIPE) {
        cli_error("writing stdout: %s", strerror(errno));
        return CLI_EXIT_ERROR;
    }
    return exit_code;
}

int cli_offsets(int argc, char **argv, cli_common_t *c)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:h", longopts, c, s_offsets_usage, &exit_code)) !=
           -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        return cli_usage_error(argv[0], "unknown option");
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    seglog_client_t *client = NULL;
    if (cli_connect(c, &client) != 0)
        return CLI_EXIT_ERROR;
    seglog_offsets_t o;
    int rc = seglog_client_offsets(client, c->topic, &o);
    if (rc) {
        char what[160];
        snprintf(what, sizeof what, "offsets of '%s'", c->topic);
        exit_code = cli_fail(what, rc, seglog_client_errmsg(client));
    } else {
        printf("lowest_offset %" PRIu64 "\nnext_offset %" PRIu64 "\ncommitted_offset %" PRIu64
               "\nepoch %" PRIu64 "\n",
               o.lowest_offset, o.next_offset, o.committed_offset, o.epoch);
        exit_code = CLI_EXIT_OK;
    }
    seglog_client_destroy(&client);
    return s_finish(exit_code);
}

int cli_truncate(int argc, char **argv, cli_common_t *c)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS, {"before", required_argument, NULL, OPT_BEFORE}, {NULL, 0, NULL, 0}};
    int opt, exit_code, have_before = 0;
    uint64_t before = 0;
    while ((opt = cli_next_option(argc, argv, ":t:h", longopts, c, s_truncate_usage, &exit_code)) !=
           -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt != OPT_BEFORE)
            return cli_usage_error(argv[0], "unknown option");
        if (cli_parse_u64(optarg, &before) != 0)
            return cli_usage_error(argv[0], "--before wants an offset, not '%s'", optarg);
        have_before = 1;
    }
    /* Truncation destroys data: the topic must be named, not defaulted. */
    if (!c->topic_given)
        return cli_usage_error(argv[0], "truncate needs -t TOPIC");
    if (!have_before)
        return cli_usage_error(argv[0], "truncate needs --before N");
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    seglog_client_t *client = NULL;
    if (cli_connect(c, &client) != 0)
        return CLI_EXIT_ERROR;
    uint64_t lowest;
    int rc = seglog_client_truncate(client, c->topic, before, &lowest);
    if (rc) {
        char what[160];
        snprintf(what, sizeof what, "truncate '%s'", c->topic);
        exit_code = cli_fail(what, rc, seglog_client_errmsg(client));
    } else {
        printf("lowest_offset %" PRIu64 "\n", lowest);
        exit_code = CLI_EXIT_OK;
    }
    seglog_client_destroy(&client);
    return s_finish(exit_code);
}
