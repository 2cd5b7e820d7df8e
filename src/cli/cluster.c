/* cluster.c - `seglog cluster`: the cluster's nodes and, per topic, the
 * leader, epoch, ISR and high watermark (Metadata), as text or JSON. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>


static const char s_usage[] =
    "usage: seglog cluster [--format text|json]\n"
    "\n"
    "Ask one node (the --endpoint given, or the first of a list that answers)\n"
    "for the cluster's metadata and print it. A standalone seglogd has none\n"
    "(exit 1).\n"
    "\n"
    "  --format FORMAT        text (default):\n"
    "                           node ID ENDPOINT pub=PUB alive|dead [curve=KEY]\n"
    "                           topic NAME leader=ID epoch=N isr=ID,ID replicas=ID,ID hw=N\n"
    "                           (leader=-1: no leader; hw as the answering node knows it)\n"
    "                         json: one object: node_id (the answering node), nodes\n"
    "                           [{id, endpoint, pub_endpoint, alive, curve_public_key}],\n"
    "                           topics [{name,\n"
    "                           replicas, leader, leader_epoch, isr, high_watermark}]\n"
    "\n";

/* A JSON string of printable ASCII (endpoints, topic names); other bytes
 * as \u00XX. */
static void s_json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void s_ids(const int32_t *v, size_t n, int json)
{
    if (json)
        putchar('[');
    for (size_t i = 0; i < n; i++)
        printf("%s%" PRId32, i ? "," : "", v[i]);
    if (json)
        putchar(']');
    else if (!n)
        putchar('-');
}

static void s_print(const seglog_cluster_info_t *ci, int json)
{
    if (!json) {
        for (size_t i = 0; i < ci->nnodes; i++) {
            const seglog_node_info_t *n = &ci->nodes[i];
            printf("node %" PRId32 " %s pub=%s %s%s%s%s\n", n->id,
                   *n->endpoint ? n->endpoint : "-", *n->pub_endpoint ? n->pub_endpoint : "-",
                   n->alive ? "alive" : "dead", *n->curve_public_key ? " curve=" : "",
                   n->curve_public_key, n->id == ci->node_id ? " (answered)" : "");
        }
        for (size_t i = 0; i < ci->ntopics; i++) {
            const seglog_topic_meta_t *t = &ci->topics[i];
            printf("topic %s leader=%" PRId32 " epoch=%" PRId32 " isr=", t->name, t->leader,
                   t->leader_epoch);
            s_ids(t->isr, t->nisr, 0);
            fputs(" replicas=", stdout);
            s_ids(t->replicas, t->nreplicas, 0);
            printf(" hw=%" PRIu64 "\n", t->high_watermark);
        }
        return;
    }
    printf("{\"node_id\":%" PRId32 ",\"nodes\":[", ci->node_id);
    for (size_t i = 0; i < ci->nnodes; i++) {
        const seglog_node_info_t *n = &ci->nodes[i];
        printf("%s{\"id\":%" PRId32 ",\"endpoint\":", i ? "," : "", n->id);
        s_json_str(n->endpoint);
        fputs(",\"pub_endpoint\":", stdout);
        s_json_str(n->pub_endpoint);
        printf(",\"alive\":%s,\"curve_public_key\":", n->alive ? "true" : "false");
        s_json_str(n->curve_public_key);
        putchar('}');
    }
    fputs("],\"topics\":[", stdout);
    for (size_t i = 0; i < ci->ntopics; i++) {
        const seglog_topic_meta_t *t = &ci->topics[i];
        printf("%s{\"name\":", i ? "," : "");
        s_json_str(t->name);
        fputs(",\"replicas\":", stdout);
        s_ids(t->replicas, t->nreplicas, 1);
        printf(",\"leader\":%" PRId32 ",\"leader_epoch\":%" PRId32 ",\"isr\":", t->leader,
               t->leader_epoch);
        s_ids(t->isr, t->nisr, 1);
        printf(",\"high_watermark\":%" PRIu64 "}", t->high_watermark);
    }
    fputs("]}\n", stdout);
}

int cli_cluster(int argc, char **argv, cli_common_t *c)
{
    int json = 0, exit_code = cli_parse_plain(argc, argv, c, s_usage, &json);
    if (exit_code >= 0)
        return exit_code;
    seglog_client_t *client = NULL;
    int connect_rc = cli_connect(c, &client);
    if (connect_rc != 0)
        return connect_rc;
    seglog_cluster_info_t ci;
    int rc = seglog_client_metadata(client, &ci);
    if (rc) {
        exit_code = cli_fail("cluster", rc, seglog_client_errmsg(client));
    } else {
        s_print(&ci, json);
        exit_code = CLI_EXIT_OK;
    }
    seglog_client_destroy(&client);
    if (exit_code == CLI_EXIT_OK && fflush(stdout) != 0 && errno != EPIPE) {
        cli_error("writing stdout: %s", strerror(errno));
        return CLI_EXIT_ERROR;
    }
    return exit_code;
}
