/* cmp_util.c - see cmp_util.h */
#include "cmp_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_usage;
static int s_fields;

static void s_usage_exit(const char *what)
{
    fprintf(stderr, "cmp: %s\nusage: %s\n", what, s_usage);
    exit(2);
}

void cmp_args_parse(int argc, char **argv, cmp_args_t *a, const char *usage)
{
    s_usage = usage;
    *a = (cmp_args_t){.topic = "bench",
                      .label = "",
                      .records = 1000000,
                      .size = 100,
                      .batch = 1,
                      .clients = 1,
                      .topics = 1,
                      .window = 64,
                      .range = 1000,
                      .rate = 10000,
                      .timeout_ms = 30000};
    if (argc < 2)
        s_usage_exit("no mode");
    a->mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            s_usage_exit("an option without a value");
        if (!strcmp(k, "--endpoint"))
            a->endpoint = v;
        else if (!strcmp(k, "--pub"))
            a->pub = v;
        else if (!strcmp(k, "--topic"))
            a->topic = v;
        else if (!strcmp(k, "--dir"))
            a->dir = v;
        else if (!strcmp(k, "--label"))
            a->label = v;
        else if (!strcmp(k, "--records"))
            a->records = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--size"))
            a->size = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--batch"))
            a->batch = atoi(v);
        else if (!strcmp(k, "--clients"))
            a->clients = atoi(v);
        else if (!strcmp(k, "--topics"))
            a->topics = atoi(v);
        else if (!strcmp(k, "--window"))
            a->window = atoi(v);
        else if (!strcmp(k, "--range"))
            a->range = atoi(v);
        else if (!strcmp(k, "--rate"))
            a->rate = atof(v);
        else if (!strcmp(k, "--timeout-ms"))
            a->timeout_ms = atoi(v);
        else
            s_usage_exit(k);
    }
    if (a->records == 0 || a->size < 8 || a->batch < 1 || a->batch > 10000 || a->clients < 1 ||
        a->clients > CMP_MAX_CLIENTS || a->topics < 1 || a->topics > a->clients || a->window < 1 ||
        a->window > 1024 || a->range < 1 || a->rate <= 0 || a->timeout_ms < 1)
        s_usage_exit("a value out of range (size >= 8, batch 1..10000, clients 1..16, "
                     "topics 1..clients, window 1..1024)");
    if (a->records % ((uint64_t)a->batch * (uint64_t)a->clients) != 0)
        s_usage_exit("records must be a multiple of batch x clients");
}

const char *cmp_topic_of(const cmp_args_t *a, int i, char *buf, size_t cap)
{
    if (a->topics <= 1)
        snprintf(buf, cap, "%s", a->topic);
    else
        snprintf(buf, cap, "%s-%d", a->topic, i % a->topics);
    return buf;
}

uint64_t cmp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cmp_sleep_until(uint64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000u), (long)(t_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

void cmp_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cmp: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

uint8_t *cmp_value_new(size_t size)
{
    uint8_t *v = malloc(size < 8 ? 8 : size);
    if (!v)
        cmp_die("out of memory");
    memset(v, 'x', size);
    return v;
}

void cmp_value_set_index(uint8_t *value, size_t size, uint64_t index)
{
    (void)size;
    memcpy(value, &index, 8);
}

uint64_t cmp_value_index(const uint8_t *value, size_t len)
{
    uint64_t i = UINT64_MAX;
    if (len >= 8)
        memcpy(&i, value, 8);
    return i;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least p of them at or below. */
static size_t s_rank(size_t n, double p)
{
    size_t i = (size_t)(p * (double)n + 0.999999);
    return i == 0 ? 0 : i - 1 < n ? i - 1 : n - 1;
}

double cmp_pct_us(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, s_cmp_u64);
    return (double)v[s_rank(n, p)] / 1000.0;
}

double cmp_pct_signed_us(int64_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, s_cmp_i64);
    return (double)v[s_rank(n, p)] / 1000.0;
}

void cmp_json_begin(const char *system, const cmp_args_t *a)
{
    s_fields = 0;
    printf("{");
    cmp_json_str("system", system);
    cmp_json_str("mode", a->mode);
    cmp_json_str("label", a->label);
    cmp_json_num("size", (double)a->size);
    cmp_json_num("batch", a->batch);
    cmp_json_num("clients", a->clients);
    cmp_json_num("topics", a->topics);
    cmp_json_num("window", a->window);
    cmp_json_num("records", (double)a->records);
    char buf[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    cmp_json_num("load1", atof(buf));
}

void cmp_json_num(const char *key, double v)
{
    printf("%s\"%s\": %.6g", s_fields++ ? ", " : "", key, v);
}

void cmp_json_str(const char *key, const char *v)
{
    printf("%s\"%s\": \"", s_fields++ ? ", " : "", key);
    for (const char *c = v; *c; c++)
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if ((unsigned char)*c >= 0x20)
            putchar(*c);
    putchar('"');
}

void cmp_json_end(void)
{
    printf("}\n");
    fflush(stdout);
}
