/* create.c - `seglog create`: a topic before its first produce, with a
 * replica count in cluster mode. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { OPT_REPLICAS = CLI_OPT_FIRST_FREE, OPT_IF_NOT_EXISTS };

static const char s_create_usage[] =
    "usage: seglog create -t TOPIC [--replicas N] [--if-not-exists]\n"
    "\n"
    "Create TOPIC, empty, and print \"created TOPIC replicas=N\". In cluster mode\n"
    "it is created in ZooKeeper on N nodes (its leader first); a standalone server\n"
    "holds one replica. A topic that exists already is an error (exit 1, its\n"
    "replica count named), unless --if-not-exists (then \"exists TOPIC replicas=N\",\n"
    "exit 0). A first produce still creates a topic with the default count.\n"
    "\n"
    "  --replicas N           1..16 (default: the cluster's --replication-factor,\n"
    "                         else min(3, live nodes); standalone: 1); more than\n"
    "                         the live nodes fails with NOT_ENOUGH_REPLICAS\n"
    "  --if-not-exists        an existing topic is not an error\n"
    "\n";

int cli_create(int argc, char **argv, cli_common_t *c)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"replicas", required_argument, NULL, OPT_REPLICAS},
        {"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
        {NULL, 0, NULL, 0}};
    int opt, exit_code, if_not_exists = 0;
    uint64_t replicas = 0;
    while ((opt = cli_next_option(argc, argv, ":t:h", longopts, c, s_create_usage,
                                  &exit_code)) != -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt == OPT_IF_NOT_EXISTS) {
            if_not_exists = 1;
        } else if (opt == OPT_REPLICAS) {
            if (cli_parse_u64(optarg, &replicas) != 0 || replicas < 1 || replicas > 16)
                return cli_usage_error(argv[0], "--replicas wants 1..16, not '%s'", optarg);
        } else {
            return cli_usage_error(argv[0], "unknown option");
        }
    }
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect_named(argc, argv, c, &client);
    if (connect_rc != 0)
        return connect_rc;
    int created = 0;
    uint32_t n = 0;
    char what[200];
    snprintf(what, sizeof what, "create '%s'", c->topic);
    int rc = seglog_client_create_topic(client, c->topic, (uint32_t)replicas, &created, &n);
    if (rc) {
        exit_code = cli_fail(what, rc, seglog_client_errmsg(client));
    } else if (!created && !if_not_exists) {
        cli_error("%s: the topic exists already (replicas=%" PRIu32 "); --if-not-exists "
                  "makes that no error", what, n);
        exit_code = CLI_EXIT_ERROR;
    } else {
        printf("%s %s replicas=%" PRIu32 "\n", created ? "created" : "exists", c->topic, n);
        exit_code = CLI_EXIT_OK;
        if (fflush(stdout) != 0 && errno != EPIPE) {
            cli_error("writing stdout: %s", strerror(errno));
            exit_code = CLI_EXIT_ERROR;
        }
    }
    seglog_client_destroy(&client);
    return exit_code;
}
