/* config.c - `seglog config`: read or change a topic's settings
 * (retention.bytes, retention.ms). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { OPT_SET = CLI_OPT_FIRST_FREE, OPT_GET };

#define MAX_SET 16

static const char s_config_usage[] =
    "usage: seglog config -t TOPIC [--set KEY=VALUE]... [--get]\n"
    "\n"
    "Print TOPIC's settings, one \"KEY VALUE EFFECTIVE\" line each: the topic's own\n"
    "value (\"-\" if unset) and what applies (its own, else the server default from\n"
    "seglogd --retention-bytes / --retention-ms; -1 means no limit). With --set,\n"
    "change them first (all or nothing, durably).\n"
    "\n"
    "  --set KEY=VALUE        KEY: retention.bytes or retention.ms; VALUE: a whole\n"
    "                         number >= 1, -1 (no limit), or empty (the server\n"
    "                         default again); repeatable\n"
    "  --get                  only print (the default without --set)\n"
    "\n"
    "Retention removes whole segments from the front of the log, never the active\n"
    "one: retention.bytes keeps at least that many bytes, retention.ms drops segments\n"
    "whose newest record is older.\n"
    "\n";

int cli_config(int argc, char **argv, cli_common_t *c)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
                                             {"set", required_argument, NULL, OPT_SET},
                                             {"get", no_argument, NULL, OPT_GET},
                                             {NULL, 0, NULL, 0}};
    seglog_config_entry_t set[MAX_SET];
    char keys[MAX_SET][64];
    size_t n = 0;
    int opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:h", longopts, c, s_config_usage, &exit_code)) !=
           -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt == OPT_GET)
            continue;
        if (opt != OPT_SET)
            return cli_usage_error(argv[0], "unknown option");
        const char *eq = strchr(optarg, '=');
        if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof keys[0])
            return cli_usage_error(argv[0], "--set wants KEY=VALUE, not '%s'", optarg);
        if (n == MAX_SET)
            return cli_usage_error(argv[0], "at most %d --set options", MAX_SET);
        memcpy(keys[n], optarg, (size_t)(eq - optarg));
        keys[n][eq - optarg] = '\0';
        set[n] = (seglog_config_entry_t){.key = keys[n], .value = eq + 1};
        n++;
    }
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect_named(argc, argv, c, &client);
    if (connect_rc != 0)
        return connect_rc;
    const seglog_config_entry_t *e;
    size_t ne;
    int rc = seglog_client_topic_config(client, c->topic, set, n, &e, &ne);
    if (rc) {
        char what[160];
        snprintf(what, sizeof what, "config of '%s'", c->topic);
        exit_code = cli_fail(what, rc, seglog_client_errmsg(client));
    } else {
        for (size_t i = 0; i < ne; i++)
            printf("%s %s %s\n", e[i].key, e[i].value[0] ? e[i].value : "-", e[i].effective);
        exit_code = CLI_EXIT_OK;
        if (fflush(stdout) != 0 && errno != EPIPE) {
            cli_error("writing stdout: %s", strerror(errno));
            exit_code = CLI_EXIT_ERROR;
        }
    }
    seglog_client_destroy(&client);
    return exit_code;
}
