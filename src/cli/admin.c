/* admin.c - `seglog offsets`, `truncate`, `topics` and `delete`. */
#include "cli.h"
#include "output.h"

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

static const char s_topics_usage[] =
    "usage: seglog topics [--format text|json]\n"
    "\n"
    "List every topic the server holds, in name order, with its offsets.\n"
    "\n"
    "  --format FORMAT        text: \"NAME lowest_offset=N next_offset=N epoch=N\"\n"
    "                         (default)\n"
    "                         json: one object per line: topic, lowest_offset,\n"
    "                               next_offset, epoch\n"
    "\n";

static const char s_delete_usage[] =
    "usage: seglog delete -t TOPIC\n"
    "\n"
    "Delete TOPIC and all its records, durably: a server crash after the reply does\n"
    "not bring it back. A later produce creates a new, empty topic (a new epoch).\n"
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
    int exit_code = cli_parse_plain(argc, argv, c, s_offsets_usage, NULL);
    if (exit_code >= 0)
        return exit_code;
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
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
    if (!have_before)
        return cli_usage_error(argv[0], "truncate needs --before N");
    /* Truncation destroys data: the topic must be named, not defaulted. */
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect_named(argc, argv, c, &client);
    if (connect_rc != 0)
        return connect_rc;
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

int cli_topics(int argc, char **argv, cli_common_t *c)
{
    int json = 0, exit_code = cli_parse_plain(argc, argv, c, s_topics_usage, &json);
    if (exit_code >= 0)
        return exit_code;
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
    const seglog_topic_info_t *t;
    size_t n;
    int rc = seglog_client_list_topics(client, &t, &n);
    if (rc) {
        exit_code = cli_fail("topics", rc, seglog_client_errmsg(client));
    } else {
        /* Names are [A-Za-z0-9._-]: nothing to escape in JSON. */
        for (size_t i = 0; i < n; i++)
            printf(json ? "{\"topic\":\"%s\",\"lowest_offset\":%" PRIu64 ",\"next_offset\":%" PRIu64
                          ",\"epoch\":%" PRIu64 "}\n"
                        : "%s lowest_offset=%" PRIu64 " next_offset=%" PRIu64 " epoch=%" PRIu64 "\n",
                   t[i].name, t[i].lowest_offset, t[i].next_offset, t[i].epoch);
        exit_code = CLI_EXIT_OK;
    }
    seglog_client_destroy(&client);
    return s_finish(exit_code);
}

int cli_delete(int argc, char **argv, cli_common_t *c)
{
    int exit_code = cli_parse_plain(argc, argv, c, s_delete_usage, NULL);
    if (exit_code >= 0)
        return exit_code;
    /* Deletion destroys data: the topic must be named, not defaulted. */
    if (!c->topic_given)
        return cli_usage_error(argv[0], "delete needs -t TOPIC");
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
    char q[128], what[160];
    cli_quote(q, sizeof q, c->topic);
    int rc = seglog_client_delete_topic(client, c->topic);
    if (rc) {
        snprintf(what, sizeof what, "delete %s", q);
        exit_code = cli_fail(what, rc, seglog_client_errmsg(client));
    } else {
        printf("deleted %s\n", q);
        exit_code = CLI_EXIT_OK;
    }
    seglog_client_destroy(&client);
    return s_finish(exit_code);
}
