/*
 * limits_driver.c - the limits the comparison is measured against.
 *
 *   cmp_limits echo-serve --endpoint FILE
 *       a ZeroMQ ROUTER on tcp://127.0.0.1:* that sends every message back;
 *       writes its endpoint to FILE (atomically) and runs until SIGTERM.
 *   cmp_limits echo-produce --endpoint EP [--size B] [--batch N] [--clients N] [--window N]
 *                           [--records N]
 *       DEALER clients driven like the producers: --window messages of
 *       --size x --batch bytes in flight; records/s (a message = --batch records).
 *   cmp_limits echo-latency --endpoint EP [--size B] [--records N]
 *       sequential round trips of one --size message: p50/p99/p99.9.
 *   cmp_limits write --dir DIR [--size B] [--records N]
 *       write() of --records x --size bytes in 1 MiB chunks to a new file in
 *       DIR (no sync; the file is removed): MB/s and the records/s it equals.
 *   cmp_limits fdatasync --dir DIR [--records N]
 *       --records times pwrite of 108 B + fdatasync on a new file: syncs/s.
 * One JSON line on stdout; any error exits 1 (see cmp_util.h).
 */
#include "cmp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static const char *USAGE = "cmp_limits echo-serve|echo-produce|echo-latency|write|fdatasync "
                           "[--endpoint EP|FILE] [--dir DIR] [--size B] [--batch N] "
                           "[--clients N] [--window N] [--records N] [--label S]";

static cmp_args_t g_a;
static void *g_ctx;

/* ---- echo server --------------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void s_on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void s_echo_serve(void)
{
    struct sigaction sa = {.sa_handler = s_on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    void *s = zmq_socket(g_ctx, ZMQ_ROUTER);
    int hwm = 100000, linger = 0;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0)
        cmp_die("echo: bind: %s", zmq_strerror(zmq_errno()));
    char ep[256];
    size_t cap = sizeof ep;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_a.endpoint);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", ep) < 0 || fclose(f) != 0 || rename(tmp, g_a.endpoint) != 0)
        cmp_die("echo: cannot write %s: %s", g_a.endpoint, strerror(errno));
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (!g_stop) {
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        for (int k = 0; k < 1024; k++) {
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0)
                break;
            int more = zmq_msg_more(&m);
            if (zmq_msg_send(&m, s, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
                cmp_die("echo: send: %s", zmq_strerror(zmq_errno()));
        }
    }
    zmq_msg_close(&m);
    zmq_close(s);
}

/* ---- echo clients ------------------------------------------------------- */

static void *s_dealer(void)
{
    void *s = zmq_socket(g_ctx, ZMQ_DEALER);
    int hwm = 100000, linger = 0;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, g_a.endpoint) != 0)
        cmp_die("echo: connect %s: %s", g_a.endpoint, zmq_strerror(zmq_errno()));
    return s;
}

typedef struct {
    pthread_barrier_t *start;
} echo_client_t;

static void *s_echo_client(void *arg)
{
    echo_client_t *ec = arg;
    void *s = s_dealer();
    size_t len = g_a.size * (size_t)g_a.batch;
    uint8_t *buf = cmp_value_new(len);
    uint64_t reqs = g_a.records / (uint64_t)g_a.clients / (uint64_t)g_a.batch, sent = 0, got = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    pthread_barrier_wait(ec->start);
    while (got < reqs) {
        while (sent < reqs && sent - got < (uint64_t)g_a.window) {
            if (zmq_send(s, buf, len, 0) < 0)
                cmp_die("echo: send: %s", zmq_strerror(zmq_errno()));
            sent++;
        }
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, g_a.timeout_ms) <= 0)
            cmp_die("echo: no reply within %d ms", g_a.timeout_ms);
        while (got < reqs && zmq_msg_recv(&m, s, ZMQ_DONTWAIT) >= 0) {
            if (zmq_msg_size(&m) != len)
                cmp_die("echo: a reply of the wrong size");
            got++;
        }
    }
    zmq_msg_close(&m);
    free(buf);
    zmq_close(s);
    return NULL;
}

static void s_echo_produce(void)
{
    echo_client_t ec[CMP_MAX_CLIENTS];
    pthread_t th[CMP_MAX_CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)g_a.clients + 1);
    for (int i = 0; i < g_a.clients; i++) {
        ec[i].start = &start;
        pthread_create(&th[i], NULL, s_echo_client, &ec[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = cmp_now_ns();
    for (int i = 0; i < g_a.clients; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&start);
    cmp_json_begin("echo", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

static void s_echo_latency(void)
{
    void *s = s_dealer();
    size_t n = (size_t)g_a.records;
    uint64_t *lat = calloc(n, sizeof *lat);
    uint8_t *buf = cmp_value_new(g_a.size);
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = cmp_now_ns();
        if (zmq_send(s, buf, g_a.size, 0) < 0)
            cmp_die("echo: send: %s", zmq_strerror(zmq_errno()));
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, g_a.timeout_ms) <= 0 || zmq_msg_recv(&m, s, 0) < 0)
            cmp_die("echo: no reply within %d ms", g_a.timeout_ms);
        lat[i] = cmp_now_ns() - t0;
    }
    zmq_msg_close(&m);
    cmp_json_begin("echo", &g_a);
    cmp_json_num("p50_us", cmp_pct_us(lat, n, 0.50));
    cmp_json_num("p99_us", cmp_pct_us(lat, n, 0.99));
    cmp_json_num("p999_us", cmp_pct_us(lat, n, 0.999));
    cmp_json_end();
    free(lat);
    free(buf);
    zmq_close(s);
}

/* ---- disk --------------------------------------------------------------- */

static int s_new_file(char *path, size_t cap, const char *what)
{
    snprintf(path, cap, "%s/%s-XXXXXX", g_a.dir, what);
    int fd = mkstemp(path);
    if (fd < 0)
        cmp_die("%s: mkstemp in %s: %s", what, g_a.dir, strerror(errno));
    return fd;
}

static void s_write(void)
{
    char path[4096];
    int fd = s_new_file(path, sizeof path, "write");
    size_t chunk = 1u << 20;
    uint8_t *buf = cmp_value_new(chunk);
    uint64_t total = g_a.records * g_a.size, left = total;
    uint64_t t0 = cmp_now_ns();
    while (left > 0) {
        size_t n = left < chunk ? (size_t)left : chunk;
        ssize_t w = write(fd, buf, n);
        if (w <= 0)
            cmp_die("write: %s", w < 0 ? strerror(errno) : "short write");
        left -= (uint64_t)w;
    }
    if (close(fd) != 0)
        cmp_die("write: close: %s", strerror(errno));
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    unlink(path);
    free(buf);
    cmp_json_begin("disk", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("mbps", (double)total / secs / 1e6);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

static void s_fdatasync(void)
{
    char path[4096];
    int fd = s_new_file(path, sizeof path, "sync");
    uint8_t buf[108];
    memset(buf, 's', sizeof buf);
    uint64_t t0 = cmp_now_ns();
    for (uint64_t i = 0; i < g_a.records; i++) {
        if (pwrite(fd, buf, sizeof buf, (off_t)(i * sizeof buf)) != (ssize_t)sizeof buf)
            cmp_die("fdatasync: pwrite: %s", strerror(errno));
        if (fdatasync(fd) != 0)
            cmp_die("fdatasync: %s", strerror(errno));
    }
    double secs = (double)(cmp_now_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    cmp_json_begin("disk", &g_a);
    cmp_json_num("seconds", secs);
    cmp_json_num("rate", (double)g_a.records / secs);
    cmp_json_end();
}

int main(int argc, char **argv)
{
    cmp_args_parse(argc, argv, &g_a, USAGE);
    int disk = !strcmp(g_a.mode, "write") || !strcmp(g_a.mode, "fdatasync");
    if (disk && !g_a.dir)
        cmp_die("limits: %s needs --dir", g_a.mode);
    if (!disk && !g_a.endpoint)
        cmp_die("limits: %s needs --endpoint", g_a.mode);
    if (disk) {
        if (!strcmp(g_a.mode, "write"))
            s_write();
        else
            s_fdatasync();
        return 0;
    }
    g_ctx = zmq_ctx_new();
    if (!strcmp(g_a.mode, "echo-serve"))
        s_echo_serve();
    else if (!strcmp(g_a.mode, "echo-produce"))
        s_echo_produce();
    else if (!strcmp(g_a.mode, "echo-latency"))
        s_echo_latency();
    else
        cmp_die("limits: unknown mode %s\nusage: %s", g_a.mode, USAGE);
    zmq_ctx_term(g_ctx);
    return 0;
}
