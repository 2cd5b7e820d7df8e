/* poll_bench.c - latency from produce to delivery: long-poll consume
 * (ConsumeRequest.max_wait_ms) against the PUB tail (seglog_tail_t), in
 * the same run, on one in-process seglogd over TCP loopback.
 *
 * A producer sends one record every GAP_US; each record's value is its
 * send time (CLOCK_MONOTONIC, ns). A long-poll reader and a tail reader,
 * each on its own thread and connection, note now - send time for every
 * record they get. Prints p50 / p99 / max of both.
 *
 * usage: poll_bench [N] [none|interval|always]   (default 2000 interval) */
#include "seglog/client.h"
#include "seglog/server.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GAP_US 1000

static uint64_t s_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct reader {
    const char *ep, *pub;
    size_t n;
    uint64_t *lat; /* ns */
    int tail;      /* 1: PUB tail, 0: long poll */
    int rc;
} reader_t;

static uint64_t s_sent(const seglog_record_t *r)
{
    uint64_t t = 0;
    if (r->value_len == sizeof t)
        memcpy(&t, r->value, sizeof t);
    return t;
}

static void *s_read(void *arg)
{
    reader_t *rd = arg;
    seglog_client_t *c = NULL;
    rd->rc = seglog_client_connect(rd->ep, rd->pub, NULL, &c);
    if (rd->rc)
        return NULL;
    size_t got = 0;
    if (rd->tail) {
        seglog_tail_t *t = NULL;
        seglog_tail_options_t o;
        seglog_tail_options_default(&o);
        o.wait_for_topic = 1;
        rd->rc = seglog_tail_new(c, "bench", 0, &o, &t);
        while (!rd->rc && got < rd->n) {
            seglog_record_t r;
            int rc = seglog_tail_next(t, 1000, &r);
            if (rc == SEGLOG_CLIENT_E_AGAIN)
                continue;
            if (rc) {
                rd->rc = rc;
                break;
            }
            rd->lat[got++] = s_ns() - s_sent(&r);
        }
        seglog_tail_destroy(&t);
    } else {
        uint64_t off = 0;
        while (got < rd->n) {
            seglog_batch_t b;
            int rc = seglog_client_consume_wait(c, "bench", off, 1000, 0, 1000, &b);
            if (rc == SEGLOG_CLIENT_E_UNKNOWN_TOPIC) {
                usleep(1000); /* before the first produce */
                continue;
            }
            if (rc) {
                rd->rc = rc;
                break;
            }
            uint64_t now = s_ns();
            for (size_t i = 0; i < b.count && got < rd->n; i++)
                rd->lat[got++] = now - s_sent(&b.records[i]);
            off = b.next_offset;
        }
    }
    seglog_client_destroy(&c);
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void s_print(const char *name, uint64_t *lat, size_t n)
{
    qsort(lat, n, sizeof *lat, s_cmp);
    printf("%-22s p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%zu records)\n", name,
           lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3, n);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 2000;
    const char *sync = argc > 2 ? argv[2] : "interval";
    if (n < 10)
        n = 10;
    char dir[] = "/tmp/seglog-poll-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    seglog_server_config_t cfg;
    seglog_server_config_default(&cfg);
    cfg.data_dir = dir;
    cfg.bind = "tcp://127.0.0.1:*";
    cfg.pub = "tcp://127.0.0.1:*";
    cfg.sync = strcmp(sync, "none") == 0     ? SEGLOG_SYNC_NONE
               : strcmp(sync, "always") == 0 ? SEGLOG_SYNC_ALWAYS
                                             : SEGLOG_SYNC_INTERVAL;
    seglog_server_t *s = NULL;
    int rc = seglog_server_new(&cfg, &s);
    if (rc) {
        fprintf(stderr, "server: %s\n", seglog_server_strerror(rc));
        return 1;
    }
    reader_t rd[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        rd[i] = (reader_t){.ep = seglog_server_endpoint(s),
                           .pub = seglog_server_pub_endpoint(s),
                           .n = n,
                           .lat = calloc(n, sizeof(uint64_t)),
                           .tail = i};
        pthread_create(&th[i], NULL, s_read, &rd[i]);
    }
    seglog_client_t *p = NULL;
    rc = seglog_client_connect(seglog_server_endpoint(s), NULL, NULL, &p);
    for (size_t i = 0; !rc && i < n; i++) {
        uint64_t t = s_ns();
        rc = seglog_client_produce(p, "bench", &t, sizeof t, NULL);
        usleep(GAP_US);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (rc || rd[0].rc || rd[1].rc) {
        fprintf(stderr, "failed: produce %d, long poll %d, tail %d\n", rc, rd[0].rc, rd[1].rc);
        return 1;
    }
    printf("produce -> delivery, sync %s, one record every %d us:\n", sync, GAP_US);
    s_print("long-poll consume", rd[0].lat, n);
    s_print("PUB tail", rd[1].lat, n);
    seglog_client_destroy(&p);
    seglog_server_destroy(&s);
    free(rd[0].lat);
    free(rd[1].lat);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
