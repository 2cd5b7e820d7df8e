/*
 * http_bench.c - the HTTP gateway next to the ZeroMQ path, in one run, and
 * what scraping /metrics costs (docs/HTTP.md, docs/PERFORMANCE.md).
 *
 *   http_bench [--sync none|always|interval:MS] [--seconds S] [--topics N]
 *              [--rounds R] [--scrape-hz N] [--only all|gateway|scrape]
 *
 * Starts seglogd in-process (127.0.0.1:*, --http 127.0.0.1:0, a temporary
 * data directory, removed at the end). Records are 100 B values.
 *   1. produce, batches of 100 records, 1 and 4 clients, one request at a
 *      time per client: ZeroMQ (a DEALER with the protobuf Request) and
 *      HTTP (keep-alive, POST /v1/topics/T/records with a JSON array);
 *   2. consume, 100 records per request, the same way (GET .../records);
 *   3. /metrics scraping: ZeroMQ produce throughput (4 clients, batches of
 *      100, 16 requests in flight each) without and with a scraper that
 *      GETs /metrics every second, alternating, R runs each (default 3); N
 *      topics exist (default 50), so each scrape renders and scans them all.
 *      Because that A/B difference is small against run-to-run noise, it
 *      also measures the process CPU one scrape costs (200 back to back on
 *      an idle server, the scraper's own reading included: an upper bound)
 *      and the CPU the produce runs use per second: one scrape a second
 *      then takes at most (CPU per scrape) / (produce CPU per second) of
 *      the produce run's CPU, a figure that load on the machine barely moves.
 * The HTTP client is a few lines over a socket (requests written by hand,
 * responses read by Content-Length): the bench measures the server.
 */
#include "seglog/server.h"
#include "seglog/v1/seglog.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define BATCH      100
#define VALUE_SIZE 100
#define MAX_ROUNDS 15
#define CPU_SCRAPES 200 /* back to back, for the CPU one scrape costs */

static void *g_ctx;
static const char *g_zmq_ep;
static char g_http_host[64];
static int g_http_port;
static double g_seconds = 3.0;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void s_die(const char *what)
{
    fprintf(stderr, "http_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- ZeroMQ ---------------------------------------------------------------- */

static size_t s_pack(uint8_t **out, const char *topic, int consume, uint64_t offset, uint64_t id)
{
    static uint8_t value[VALUE_SIZE];
    memset(value, 'v', sizeof value);
    Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
    Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
    Seglog__V1__ConsumeRequest c = SEGLOG__V1__CONSUME_REQUEST__INIT;
    Seglog__V1__Record recs[BATCH], *ptrs[BATCH];
    req.id = id;
    if (consume) {
        c.topic = (char *)topic;
        c.offset = offset;
        c.max_records = BATCH;
        req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
        req.consume = &c;
    } else {
        for (int i = 0; i < BATCH; i++) {
            seglog__v1__record__init(&recs[i]);
            recs[i].value.data = value;
            recs[i].value.len = sizeof value;
            ptrs[i] = &recs[i];
        }
        p.topic = (char *)topic;
        p.n_records = BATCH;
        p.records = ptrs;
        req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
        req.produce = &p;
    }
    size_t n = seglog__v1__request__get_packed_size(&req);
    *out = malloc(n);
    seglog__v1__request__pack(&req, *out);
    return n;
}

typedef struct {
    int consume, window;
    char topic[64];
    double until;
    uint64_t records;
    atomic_int *stop; /* NULL: until the deadline */
    int once;         /* one request, then stop */
} job_t;

static void *s_zmq_client(void *arg)
{
    job_t *j = arg;
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, g_zmq_ep) != 0)
        s_die("connect");
    uint64_t id = 1, offset = 0;
    int inflight = 0;
    for (;;) {
        int done = (j->stop && atomic_load(j->stop)) || (!j->stop && s_now() >= j->until) ||
                   (j->once && id > 1);
        while (!done && inflight < j->window) {
            uint8_t *buf;
            size_t n = s_pack(&buf, j->topic, j->consume, offset, id++);
            if (zmq_send(s, buf, n, 0) < 0)
                s_die("send");
            free(buf);
            inflight++;
            if (j->consume)
                break; /* consume: one at a time, each from the last next_offset */
        }
        if (inflight == 0)
            break;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            s_die("recv");
        Seglog__V1__Response *r = seglog__v1__response__unpack(NULL, zmq_msg_size(&m),
                                                              zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (!r || r->body_case == SEGLOG__V1__RESPONSE__BODY_ERROR) {
            fprintf(stderr, "http_bench: error reply: %s\n",
                    r && r->error ? r->error->message : "undecodable");
            exit(1);
        }
        if (j->consume) {
            j->records += r->consume->n_records;
            offset = r->consume->n_records ? r->consume->next_offset : 0; /* wrap at the end */
        } else {
            j->records += r->produce->count;
        }
        seglog__v1__response__free_unpacked(r, NULL);
        inflight--;
    }
    zmq_close(s);
    return NULL;
}

/* ---- HTTP ------------------------------------------------------------------ */

static int s_http_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_http_port)};
    inet_pton(AF_INET, g_http_host, &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        s_die("http connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* One request on fd; the body of a 200 response into buf (NUL-terminated). */
static size_t s_http(int fd, const char *req, size_t len, char *buf, size_t cap)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, req + off, len - off);
        if (w <= 0)
            s_die("http write");
        off += (size_t)w;
    }
    size_t have = 0;
    char *body = NULL;
    size_t clen = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0)
            s_die("http read");
        have += (size_t)r;
        buf[have] = 0;
        if (!body && (body = strstr(buf, "\r\n\r\n"))) {
            body += 4;
            const char *cl = strcasestr(buf, "Content-Length:");
            if (!cl || strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                fprintf(stderr, "http_bench: unexpected response: %.300s\n", buf);
                exit(1);
            }
            clen = strtoul(cl + 15, NULL, 10);
        }
        if (body && (size_t)(buf + have - body) >= clen) {
            memmove(buf, body, clen);
            buf[clen] = 0;
            return clen;
        }
        if (have + 1 >= cap) {
            fprintf(stderr, "http_bench: response too large\n");
            exit(1);
        }
    }
}

static void *s_http_client(void *arg)
{
    job_t *j = arg;
    int fd = s_http_connect();
    size_t cap = 4u << 20;
    char *buf = malloc(cap), *req = malloc(64 << 10);
    char body[BATCH * (VALUE_SIZE + 16) + 16];
    size_t bl = 0;
    body[bl++] = '[';
    for (int i = 0; i < BATCH; i++) {
        bl += (size_t)snprintf(body + bl, sizeof body - bl, "%s{\"value\":\"", i ? "," : "");
        memset(body + bl, 'v', VALUE_SIZE);
        bl += VALUE_SIZE;
        body[bl++] = '"';
        body[bl++] = '}';
    }
    body[bl++] = ']';
    uint64_t offset = 0;
    while (s_now() < j->until) {
        size_t n;
        if (j->consume)
            n = (size_t)snprintf(req, 64 << 10,
                                 "GET /v1/topics/%s/records?offset=%" PRIu64 "&max=%d HTTP/1.1\r\n"
                                 "Host: b\r\n\r\n",
                                 j->topic, offset, BATCH);
        else
            n = (size_t)snprintf(req, 64 << 10,
                                 "POST /v1/topics/%s/records HTTP/1.1\r\nHost: b\r\n"
                                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
                                 "%.*s",
                                 j->topic, bl, (int)bl, body);
        s_http(fd, req, n, buf, cap);
        if (j->consume) {
            /* count the records: one "offset" key each */
            uint64_t k = 0;
            for (const char *p = buf; (p = strstr(p, "{\"offset\":")); p++)
                k++;
            const char *nx = strstr(buf, "\"next_offset\":");
            offset = k && nx ? strtoull(nx + 14, NULL, 10) : 0;
            j->records += k;
        } else {
            j->records += BATCH;
        }
    }
    close(fd);
    free(buf);
    free(req);
    return NULL;
}

/* ---- runs ------------------------------------------------------------------- */

static double s_run(void *(*fn)(void *), int clients, int consume, int window, const char *topic,
                    atomic_int *stop, double seconds)
{
    pthread_t th[16];
    job_t jobs[16];
    double t0 = s_now();
    for (int i = 0; i < clients; i++) {
        jobs[i] = (job_t){.consume = consume, .window = window, .until = t0 + seconds,
                          .stop = stop};
        snprintf(jobs[i].topic, sizeof jobs[i].topic, "%s%d", topic, consume ? 0 : i);
        pthread_create(&th[i], NULL, fn, &jobs[i]);
    }
    uint64_t total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].records;
    }
    return (double)total / (s_now() - t0);
}

static atomic_int g_scrape_stop;
static int g_scrape_hz = 1; /* scrapes a second (--scrape-hz: to see the cost grow with it) */
static atomic_long g_scrapes;

static void *s_scraper(void *arg)
{
    (void)arg;
    int fd = s_http_connect();
    size_t cap = 16u << 20;
    char *buf = malloc(cap);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n";
    while (!atomic_load(&g_scrape_stop)) {
        s_http(fd, req, sizeof req - 1, buf, cap);
        atomic_fetch_add(&g_scrapes, 1);
        for (int i = 0; i < 100 / g_scrape_hz && !atomic_load(&g_scrape_stop); i++)
            usleep(10000); /* g_scrape_hz scrapes a second */
    }
    close(fd);
    free(buf);
    return NULL;
}

static int s_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Part 1 and 2: the gateway against the ZeroMQ path. */
static void s_gateway_part(void)
{
    printf("%-34s %14s %14s %8s\n", "records/s", "ZeroMQ", "HTTP", "HTTP/ZMQ");
    for (int clients = 1; clients <= 4; clients *= 4) {
        double z = s_run(s_zmq_client, clients, 0, 1, "zp", NULL, g_seconds);
        double h = s_run(s_http_client, clients, 0, 1, "hp", NULL, g_seconds);
        char what[64];
        snprintf(what, sizeof what, "produce batch-100, %d client%s", clients, clients > 1 ? "s" : "");
        printf("%-34s %14.0f %14.0f %8.2f\n", what, z, h, h / z);
    }
    for (int clients = 1; clients <= 4; clients *= 4) {
        double z = s_run(s_zmq_client, clients, 1, 1, "zp", NULL, g_seconds);
        double h = s_run(s_http_client, clients, 1, 1, "zp", NULL, g_seconds);
        char what[64];
        snprintf(what, sizeof what, "consume 100/request, %d client%s", clients,
                 clients > 1 ? "s" : "");
        printf("%-34s %14.0f %14.0f %8.2f\n", what, z, h, h / z);
    }
}

static double s_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process CPU of one GET /metrics, server and scraper together, on an
 * otherwise idle server: n scrapes back to back on one connection. */
static double s_cpu_per_scrape(int n, double *wall)
{
    int fd = s_http_connect();
    size_t cap = 16u << 20;
    char *buf = malloc(cap);
    if (!buf)
        s_die("malloc");
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n";
    s_http(fd, req, sizeof req - 1, buf, cap); /* warm */
    double c0 = s_cpu_now(), t0 = s_now();
    for (int i = 0; i < n; i++)
        s_http(fd, req, sizeof req - 1, buf, cap);
    double c1 = s_cpu_now(), t1 = s_now();
    close(fd);
    free(buf);
    *wall = (t1 - t0) / n;
    return (c1 - c0) / n;
}

/* Part 3: what scraping /metrics once a second costs produce. */
static void s_scrape_part(int ntopics, int rounds)
{
    for (int i = 0; i < ntopics; i++) {
        atomic_int stop = 0; /* one batch each: creates the topic */
        job_t k = {.window = 1, .stop = &stop, .once = 1};
        snprintf(k.topic, sizeof k.topic, "extra%d", i);
        s_zmq_client(&k);
    }
    double wall_per = 0, cpu_per = s_cpu_per_scrape(CPU_SCRAPES, &wall_per);
    double off[MAX_ROUNDS], on[MAX_ROUNDS], cpu_rate[MAX_ROUNDS];
    long scrapes = 0;
    /* ABBA order: the log grows run after run and the throughput drifts with
     * it, so "with" goes first in every other round. */
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (r % 2 == 0)) {
                double c0 = s_cpu_now(), t0 = s_now();
                off[r] = s_run(s_zmq_client, 4, 0, 16, "sc", NULL, g_seconds);
                cpu_rate[r] = (s_cpu_now() - c0) / (s_now() - t0);
                continue;
            }
            atomic_store(&g_scrape_stop, 0);
            long before = atomic_load(&g_scrapes);
            pthread_t th;
            pthread_create(&th, NULL, s_scraper, NULL);
            on[r] = s_run(s_zmq_client, 4, 0, 16, "sc", NULL, g_seconds);
            atomic_store(&g_scrape_stop, 1);
            pthread_join(th, NULL);
            scrapes += atomic_load(&g_scrapes) - before;
        }
    }
    printf("\n/metrics %d time%s a second, %d+ topics: ZeroMQ produce, 4 clients x 16 in "
           "flight\n", g_scrape_hz, g_scrape_hz > 1 ? "s" : "", ntopics);
    printf("%-10s", "");
    for (int r = 0; r < rounds; r++)
        printf(" %9s%-3d", "run ", r + 1);
    printf(" %12s\n", "median");
    double so[MAX_ROUNDS], sn[MAX_ROUNDS], sc[MAX_ROUNDS];
    memcpy(so, off, sizeof so);
    memcpy(sn, on, sizeof sn);
    memcpy(sc, cpu_rate, sizeof sc);
    qsort(so, (size_t)rounds, sizeof so[0], s_cmp_d);
    qsort(sn, (size_t)rounds, sizeof sn[0], s_cmp_d);
    qsort(sc, (size_t)rounds, sizeof sc[0], s_cmp_d);
    printf("%-10s", "no scrape");
    for (int r = 0; r < rounds; r++)
        printf(" %12.0f", off[r]);
    printf(" %12.0f\n%-10s", so[rounds / 2], "scraping");
    for (int r = 0; r < rounds; r++)
        printf(" %12.0f", on[r]);
    printf(" %12.0f\n", sn[rounds / 2]);
    double pair[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        pair[r] = 1.0 - on[r] / off[r];
    qsort(pair, (size_t)rounds, sizeof pair[0], s_cmp_d);
    printf("throughput cost of scraping: %.2f%% (medians), %.2f%% (median of the rounds' "
           "own; min %.2f%%, max %.2f%%; %ld scrapes)\n",
           100.0 * (1.0 - sn[rounds / 2] / so[rounds / 2]), 100.0 * pair[rounds / 2],
           100.0 * pair[0], 100.0 * pair[rounds - 1], scrapes);
    printf("one scrape, idle server: %.0f us CPU (server and scraper), %.0f us wall\n",
           cpu_per * 1e6, wall_per * 1e6);
    printf("produce runs use %.2f CPUs (median): %d scrape%s a second take%s at most %.3f%% "
           "of their CPU\n",
           sc[rounds / 2], g_scrape_hz, g_scrape_hz > 1 ? "s" : "", g_scrape_hz > 1 ? "" : "s",
           100.0 * g_scrape_hz * cpu_per / sc[rounds / 2]);
}

int main(int argc, char **argv)
{
    seglog_server_config_t cfg;
    seglog_server_config_default(&cfg);
    const char *sync = "interval:1000";
    int ntopics = 50, rounds = 3;
    const char *only = "all";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sync") == 0) {
            sync = argv[i + 1];
        } else if (strcmp(argv[i], "--seconds") == 0) {
            g_seconds = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--topics") == 0) {
            ntopics = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--scrape-hz") == 0) {
            g_scrape_hz = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--only") == 0) {
            only = argv[i + 1];
        } else {
            fprintf(stderr, "usage: http_bench [--sync none|always|interval:MS] [--seconds S] "
                            "[--topics N] [--rounds R] [--scrape-hz N] [--only all|gateway|scrape]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || ntopics < 0 || g_scrape_hz < 1 || g_scrape_hz > 100 ||
        (strcmp(only, "all") && strcmp(only, "gateway") && strcmp(only, "scrape"))) {
        fprintf(stderr, "http_bench: --rounds is 1..%d, --scrape-hz 1..100, --topics >= 0, --only "
                        "all|gateway|scrape\n", MAX_ROUNDS);
        return 2;
    }
    if (strcmp(sync, "none") == 0)
        cfg.sync = SEGLOG_SYNC_NONE;
    else if (strcmp(sync, "always") == 0)
        cfg.sync = SEGLOG_SYNC_ALWAYS;
    else if (strncmp(sync, "interval:", 9) == 0)
        cfg.sync_interval_ms = (uint32_t)atoi(sync + 9);
    char dir[] = "/tmp/seglog-http-bench-XXXXXX";
    if (!mkdtemp(dir))
        s_die("mkdtemp");
    cfg.data_dir = dir;
    cfg.bind = "tcp://127.0.0.1:*";
    cfg.pub = "tcp://127.0.0.1:*";
    cfg.http = "127.0.0.1:0";
    seglog_server_t *srv = NULL;
    int rc = seglog_server_new(&cfg, &srv);
    if (rc) {
        fprintf(stderr, "http_bench: cannot start server: %s\n", seglog_server_strerror(rc));
        return 1;
    }
    g_zmq_ep = seglog_server_endpoint(srv);
    const char *hep = seglog_server_http_endpoint(srv);
    snprintf(g_http_host, sizeof g_http_host, "%.*s", (int)(strrchr(hep, ':') - hep), hep);
    g_http_port = atoi(strrchr(hep, ':') + 1);
    g_ctx = zmq_ctx_new();
    printf("seglog http_bench: in-process server, sync=%s, %ld CPUs, %.1f s per run, %d B values, "
           "batches of %d\n\n",
           sync, sysconf(_SC_NPROCESSORS_ONLN), g_seconds, VALUE_SIZE, BATCH);

    if (strcmp(only, "scrape") != 0)
        s_gateway_part();
    if (strcmp(only, "gateway") != 0)
        s_scrape_part(ntopics, rounds);

    zmq_ctx_term(g_ctx);
    seglog_server_destroy(&srv);
    nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
