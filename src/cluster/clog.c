/* clog.c - see clog.h. */
#include "clog.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sl_clog_sink_fn *_Atomic s_sink;
static void *_Atomic s_sink_arg;
static atomic_int s_level = SL_CLOG_INFO;

static const char *const s_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void sl_clog_set_sink(sl_clog_sink_fn *fn, void *arg)
{
    atomic_store(&s_sink_arg, arg);
    atomic_store(&s_sink, fn);
}

void sl_clog_set_level(int level)
{
    atomic_store(&s_level, level);
}

static void s_stderr(int level, const char *line)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[1200];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s cluster: %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, s_names[level], line);
    if (n < 0)
        return;
    if ((size_t) n >= sizeof buf) {
        n = sizeof buf - 1;
        buf[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, buf, (size_t) n);
    (void) w;
}

void sl_clog(int level, const char *fmt, ...)
{
    if (level < SL_CLOG_ERROR)
        level = SL_CLOG_ERROR;
    if (level > SL_CLOG_DEBUG)
        level = SL_CLOG_DEBUG;
    if (level > atomic_load(&s_level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One line: a newline inside (from ZooKeeper's messages) would forge one. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    sl_clog_sink_fn *fn = atomic_load(&s_sink);
    if (fn)
        fn(level, line, atomic_load(&s_sink_arg));
    else
        s_stderr(level, line);
}
