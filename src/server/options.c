/* options.c - see options.h */
#include "options.h"

#include "slog.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef int (*setter_fn)(sl_options_t *o, const char *v, char *err, size_t errlen);

static int s_fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return -1;
}

static char *s_own(sl_options_t *o, const char *v)
{
    if (o->nowned == (int)(sizeof o->owned / sizeof o->owned[0]))
        return NULL;
    char *c = strdup(v);
    if (c)
        o->owned[o->nowned++] = c;
    return c;
}

/* An unsigned number with an optional K/M/G suffix, in [min, max]. */
static int s_size(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!*v || *v == '-' || *v == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v)
        return -1;
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1u << 10;
    else if (*end == 'M' || *end == 'm')
        mul = 1u << 20;
    else if (*end == 'G' || *end == 'g')
        mul = 1u << 30;
    if (mul != 1)
        end++;
    if (*end || (n && (uint64_t)n > UINT64_MAX / mul))
        return -1;
    n *= mul;
    if (n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

#define SIZE_SETTER(fname, field, type, min, max, what)                                            \
    static int fname(sl_options_t *o, const char *v, char *err, size_t errlen)                     \
    {                                                                                              \
        uint64_t n;                                                                                \
        if (s_size(v, (min), (max), &n))                                                           \
            return s_fail(err, errlen, "%s: expected " what ", got \"%s\"", #field, v);            \
        o->server.field = (type)n;                                                                 \
        return 0;                                                                                  \
    }

SIZE_SETTER(s_workers, workers, int, 0, 256, "0..256")
SIZE_SETTER(s_segment, segment_bytes, uint64_t, 4096, 0xffffffffull, "a size of 4K..4G-1")
SIZE_SETTER(s_max_record, max_record_bytes, uint32_t, 1, (256u << 20) - 1024,
            "a size of 1..256M-1K")
SIZE_SETTER(s_pub_hwm, pub_hwm, int, 1, 10000000, "1..10000000")
SIZE_SETTER(s_heartbeat, heartbeat_ms, int, 1, 3600000, "1..3600000 ms")
SIZE_SETTER(s_max_topics, max_topics, uint32_t, 1, 65536, "1..65536")
SIZE_SETTER(s_max_waiters, max_waiters, uint32_t, 1, 65536, "1..65536")
SIZE_SETTER(s_ret_bytes, retention_bytes, uint64_t, 0, INT64_MAX, "a size, 0 = no limit")
SIZE_SETTER(s_ret_ms, retention_ms, uint64_t, 0, INT64_MAX, "milliseconds, 0 = no limit")
SIZE_SETTER(s_ret_check, retention_check_ms, uint32_t, 10, 3600000, "10..3600000 ms")
/* cluster mode (docs/CLUSTER.md) */
SIZE_SETTER(s_node_id, node_id, int, 1, 0x7fffffff, "an integer >= 1")
SIZE_SETTER(s_rf, replication_factor, int, 1, 16, "1..16")
SIZE_SETTER(s_min_insync, min_insync, int, 1, 16, "1..16")
SIZE_SETTER(s_lag, replica_lag_ms, int, 100, 3600000, "100..3600000 ms")
SIZE_SETTER(s_zk_session, zk_session_ms, int, 100, 600000, "100..600000 ms")
SIZE_SETTER(s_hw_ckpt, hw_checkpoint_ms, int, 100, 3600000, "100..3600000 ms")

static int s_string(sl_options_t *o, const char *v, const char **dst, const char *name, char *err,
                    size_t errlen)
{
    if (!*v)
        return s_fail(err, errlen, "%s: empty value%s", name, "");
    if (!(*dst = s_own(o, v)))
        return s_fail(err, errlen, "%s: out of memory%s", name, "");
    return 0;
}

static int s_data_dir(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.data_dir, "data-dir", err, errlen);
}

static int s_bind(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.bind, "bind", err, errlen);
}

static int s_pub(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.pub, "pub", err, errlen);
}

static int s_zookeeper(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.zookeeper, "zookeeper", err, errlen);
}

static int s_advertise(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.advertise, "advertise", err, errlen);
}

static int s_repl_bind(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.repl_bind, "repl-bind", err, errlen);
}

static int s_http(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.http, "http", err, errlen);
}

static int s_curve_cert(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.curve_cert, "curve-cert", err, errlen);
}

static int s_clients_dir(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.clients_dir, "clients-dir", err, errlen);
}

static int s_acl(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    return s_string(o, v, &o->server.acl, "acl", err, errlen);
}

/* A switch: "--allow-plaintext" alone on the command line, or
 * "allow-plaintext = true|false" in the file. */
static int s_allow_plaintext(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        o->server.allow_plaintext = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        o->server.allow_plaintext = 0;
    else
        return s_fail(err, errlen, "allow-plaintext: expected true or false, got \"%s\"%s", v,
                      "");
    return 0;
}

static int s_endpoints_file(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    const char *p;
    if (s_string(o, v, &p, "endpoints-file", err, errlen))
        return -1;
    o->endpoints_file = (char *)p;
    return 0;
}

static int s_sync(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "none") == 0) {
        o->server.sync = SEGLOG_SYNC_NONE;
    } else if (strcmp(v, "always") == 0) {
        o->server.sync = SEGLOG_SYNC_ALWAYS;
    } else if (strncmp(v, "interval:", 9) == 0) {
        uint64_t ms;
        if (s_size(v + 9, 1, 3600000, &ms))
            return s_fail(err, errlen, "sync: bad interval in \"%s\"%s", v, "");
        o->server.sync = SEGLOG_SYNC_INTERVAL;
        o->server.sync_interval_ms = (uint32_t)ms;
    } else {
        return s_fail(err, errlen, "sync: expected none, always or interval:MS, got \"%s\"%s", v,
                      "");
    }
    return 0;
}

static int s_produce_on(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "auto") == 0)
        o->server.produce_on = SEGLOG_PRODUCE_AUTO;
    else if (strcmp(v, "frontend") == 0)
        o->server.produce_on = SEGLOG_PRODUCE_FRONTEND;
    else if (strcmp(v, "workers") == 0)
        o->server.produce_on = SEGLOG_PRODUCE_WORKERS;
    else
        return s_fail(err, errlen, "produce-on: expected auto, frontend or workers, got \"%s\"%s",
                      v, "");
    return 0;
}

static int s_log_level(sl_options_t *o, const char *v, char *err, size_t errlen)
{
    int l = sl_log_parse_level(v);
    if (l < 0)
        return s_fail(err, errlen, "log-level: expected error, warn, info or debug, got \"%s\"%s",
                      v, "");
    o->log_level = l;
    return 0;
}

static const struct {
    const char *name;
    setter_fn set;
} s_opts[] = {
    {"data-dir", s_data_dir},
    {"bind", s_bind},
    {"pub", s_pub},
    {"workers", s_workers},
    {"produce-on", s_produce_on},
    {"sync", s_sync},
    {"segment-bytes", s_segment},
    {"max-record-bytes", s_max_record},
    {"pub-hwm", s_pub_hwm},
    {"heartbeat-ms", s_heartbeat},
    {"max-topics", s_max_topics},
    {"max-waiters", s_max_waiters},
    {"retention-bytes", s_ret_bytes},
    {"retention-ms", s_ret_ms},
    {"retention-check-ms", s_ret_check},
    {"log-level", s_log_level},
    {"endpoints-file", s_endpoints_file},
    {"zookeeper", s_zookeeper},
    {"node-id", s_node_id},
    {"advertise", s_advertise},
    {"repl-bind", s_repl_bind},
    {"replication-factor", s_rf},
    {"min-insync", s_min_insync},
    {"replica-lag-ms", s_lag},
    {"zk-session-ms", s_zk_session},
    {"hw-checkpoint-ms", s_hw_ckpt},
    {"curve-cert", s_curve_cert},
    {"clients-dir", s_clients_dir},
    {"acl", s_acl},
    {"http", s_http},
    {"allow-plaintext", s_allow_plaintext},
};

static setter_fn s_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof s_opts / sizeof s_opts[0]; i++)
        if (strlen(s_opts[i].name) == len && strncmp(s_opts[i].name, name, len) == 0)
            return s_opts[i].set;
    return NULL;
}

static int s_load_file(sl_options_t *o, const char *path, char *err, size_t errlen)
{
    zconfig_t *root = zconfig_load(path);
    if (!root)
        return s_fail(err, errlen, "config: cannot read or parse \"%s\"%s", path, "");
    int rc = 0;
    for (zconfig_t *c = zconfig_child(root); c && rc == 0; c = zconfig_next(c)) {
        const char *name = zconfig_name(c);
        const char *value = zconfig_value(c);
        setter_fn set = name ? s_find(name, strlen(name)) : NULL;
        if (!set || zconfig_child(c))
            rc = s_fail(err, errlen, "config %s: unknown setting \"%s\"", path, name ? name : "");
        else
            rc = set(o, value ? value : "", err, errlen);
    }
    zconfig_destroy(&root);
    return rc;
}

int sl_options_parse(int argc, char **argv, sl_options_t *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    seglog_server_config_default(&o->server);
    o->log_level = SL_LOG_INFO;
    /* The file first, so that the command line overrides it. */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        if (path && s_load_file(o, path, err, errlen))
            return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            o->version = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return s_fail(err, errlen, "unexpected argument \"%s\"%s", a, "");
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        int is_config = nlen == 6 && strncmp(name, "config", 6) == 0;
        setter_fn set = is_config ? NULL : s_find(name, nlen);
        if (!set && !is_config)
            return s_fail(err, errlen, "unknown option \"%s\"%s", a, "");
        if (!value && set == s_allow_plaintext)
            value = "true"; /* a switch on the command line */
        if (!value) {
            if (i + 1 >= argc)
                return s_fail(err, errlen, "option \"%s\" needs a value%s", a, "");
            value = argv[++i];
        }
        if (set && set(o, value, err, errlen))
            return -1;
    }
    return 0;
}

void sl_options_free(sl_options_t *o)
{
    for (int i = 0; i < o->nowned; i++)
        free(o->owned[i]);
    o->nowned = 0;
}

void sl_options_usage(FILE *out)
{
    fputs("usage: seglogd [OPTIONS]\n"
          "\n"
          "seglog server: a segmented commit log behind a ZeroMQ ROUTER (requests) and PUB\n"
          "(records as they commit). Protocol: docs/PROTOCOL.md.\n"
          "\n"
          "  --data-dir DIR          one directory per topic below DIR (default ./data)\n"
          "  --bind ENDPOINT         request socket (default tcp://127.0.0.1:5555)\n"
          "  --pub ENDPOINT          publish socket (default tcp://127.0.0.1:5556)\n"
          "                          tcp://127.0.0.1:* picks a free port; the endpoints in\n"
          "                          use are logged at start\n"
          "  --workers N             request worker threads, 0 = one per CPU (default 0)\n"
          "  --produce-on WHO        who serves produce requests: frontend (the front-end\n"
          "                          thread, no hand-off), workers (each connection's worker,\n"
          "                          topics in parallel) or auto (default: workers with >= 2\n"
          "                          workers and >= 4 CPUs, else frontend)\n"
          "  --sync POLICY           none | interval:MS | always (default interval:1000)\n"
          "                          none: acknowledged once written to the OS\n"
          "                          interval:MS: written to the OS, fdatasync every MS;\n"
          "                            published to subscribers only after that sync\n"
          "                          always: fdatasync before the reply (group commit)\n"
          "  --segment-bytes SIZE    roll a segment before it passes SIZE (default 64M); at\n"
          "                          least max-record-bytes + 96 (and 4K), at most 4G-1\n"
          "  --max-record-bytes SIZE largest key + value of one record (default 1M); the\n"
          "                          largest accepted message is 4 x SIZE + 64K\n"
          "  --pub-hwm N             PUB high-water mark per subscriber, in messages; a slower\n"
          "                          subscriber loses messages beyond it (default 10000)\n"
          "  --heartbeat-ms MS       heartbeat period of an idle topic (default 1000)\n"
          "  --max-topics N          most topics the server will hold (default 1024)\n"
          "  --max-waiters N         long-poll consumes (max_wait_ms) waiting at once; one\n"
          "                          more gets RESOURCE_EXHAUSTED (default 1024)\n"
          "  --retention-bytes SIZE  default retention.bytes of every topic: old segments go\n"
          "                          while the rest still holds SIZE (default 0: no limit)\n"
          "  --retention-ms MS       default retention.ms: segments whose newest record is\n"
          "                          older go (default 0: no limit); 'seglog config' sets\n"
          "                          a topic's own\n"
          "  --retention-check-ms MS how often retention runs (default 1000)\n"
          "  --log-level LEVEL       error | warn | info | debug (default info)\n"
          "  --endpoints-file PATH   write \"bind=ENDPOINT\" and \"pub=ENDPOINT\" lines (and\n"
          "                          \"http=HOST:PORT\" with --http) to PATH once every\n"
          "                          socket is bound (written atomically)\n"
          "  --http HOST:PORT        HTTP listener: /metrics, /healthz, /readyz, the JSON\n"
          "                          gateway /v1/... and the status page / (docs/HTTP.md);\n"
          "                          off by default; port 0 picks a free one\n"
          "                          (loopback only, unless --allow-plaintext and no\n"
          "                          --curve-cert)\n"
          "\n"
          "cluster mode (docs/CLUSTER.md; off without --zookeeper):\n"
          "  --zookeeper HOSTS       HOST:PORT[,HOST:PORT...][/chroot] of ZooKeeper\n"
          "  --node-id N             this node's id, an integer >= 1 (required)\n"
          "  --advertise ENDPOINT    request endpoint other nodes and clients use\n"
          "                          (default: the bound one)\n"
          "  --repl-bind ENDPOINT    replication socket (default: the --bind host, a free\n"
          "                          port); advertised with the --advertise host\n"
          "  --replication-factor N  replicas of a new topic (default min(3, live nodes))\n"
          "  --min-insync N          acks=all produce refused (NOT_ENOUGH_REPLICAS) with\n"
          "                          fewer in-sync replicas (default 2)\n"
          "  --replica-lag-ms MS     a follower not caught up for MS leaves the ISR\n"
          "                          (default 10000)\n"
          "  --zk-session-ms MS      ZooKeeper session timeout (default 6000)\n"
          "  --hw-checkpoint-ms MS   write the high watermarks this node knows to\n"
          "                          DATA_DIR/~hw_checkpoint every MS (when they moved)\n"
          "                          and at a clean stop (default 5000)\n"
          "\n"
          "security (docs/SECURITY.md):\n"
          "  --curve-cert FILE       CURVE: the server's secret certificate (seglog keygen);\n"
          "                          every socket then admits only known client keys\n"
          "  --clients-dir DIR       public certificates of the allowed clients (and cluster\n"
          "                          nodes); adding or removing one takes effect at the\n"
          "                          client's next connection, no restart\n"
          "  --acl FILE              per-topic rights (produce, consume, admin, replicate) by\n"
          "                          certificate name or key; default deny. Without it every\n"
          "                          known key may do everything\n"
          "  --allow-plaintext       allow binding a non-loopback address without CURVE\n"
          "                          (refused by default)\n"
          "\n"
          "  --config FILE           read settings from FILE first: one \"name = value\" per\n"
          "                          line, names as above without \"--\" (ZPL format);\n"
          "                          the command line wins\n"
          "  --help, --version\n"
          "\n"
          "SIGINT or SIGTERM: stop taking requests, finish the ones taken, sync and close\n"
          "every log (clean-shutdown marker), exit 0.\n",
          out);
}
