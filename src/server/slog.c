/* slog.c - see slog.h */
#include "slog.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048
#define CLIENT_PER_SEC 20

static atomic_int s_level = SL_LOG_INFO;

static pthread_mutex_t s_rate_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t s_rate_second;
static int s_rate_count;
static uint64_t s_rate_suppressed;

static const char *const s_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void sl_log_set_level(int level)
{
    atomic_store(&s_level, level);
}

int sl_log_enabled(int level)
{
    return level <= atomic_load(&s_level);
}

int sl_log_parse_level(const char *name)
{
    static const char *const lower[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, lower[i]) == 0)
            return i;
    return -1;
}

static void s_emit(int level, const char *suffix, const char *fmt, va_list ap)
{
    char line[LINE_MAX_BYTES];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s seglogd: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, s_names[level]);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    if (m > 0)
        len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
    if (suffix) {
        m = snprintf(line + len, sizeof line - len, "%s", suffix);
        if (m > 0)
            len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
    }
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failed log write */
}

void sl_log(int level, const char *fmt, ...)
{
    if (level < 0 || level > SL_LOG_DEBUG || !sl_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    s_emit(level, NULL, fmt, ap);
    va_end(ap);
}

void sl_log_client(int level, const char *fmt, ...)
{
    if (level < 0 || level > SL_LOG_DEBUG || !sl_log_enabled(level))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t suppressed = 0;
    int allow;
    pthread_mutex_lock(&s_rate_mu);
    if (ts.tv_sec != s_rate_second) {
        s_rate_second = ts.tv_sec;
        s_rate_count = 0;
    }
    allow = s_rate_count < CLIENT_PER_SEC;
    if (allow) {
        s_rate_count++;
        suppressed = s_rate_suppressed;
        s_rate_suppressed = 0;
    } else {
        s_rate_suppressed++;
    }
    pthread_mutex_unlock(&s_rate_mu);
    if (!allow)
        return;
    char suffix[64] = "";
    if (suppressed)
        snprintf(suffix, sizeof suffix, " suppressed=%llu", (unsigned long long)suppressed);
    va_list ap;
    va_start(ap, fmt);
    s_emit(level, suppressed ? suffix : NULL, fmt, ap);
    va_end(ap);
}

const char *sl_log_quote(char *buf, size_t cap, const void *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        char tmp[4];
        size_t n;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[0] = (char)c;
            n = 1;
        } else {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[c >> 4];
            tmp[3] = hex[c & 15];
            n = 4;
        }
        if (o + n + 5 > cap) { /* room for ...", NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
