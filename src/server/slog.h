/*
 * slog.h - structured log lines on stderr.
 *
 *   2026-11-21T23:40:00.123Z INFO seglogd: listening endpoint=tcp://127.0.0.1:5555
 *
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave. Messages are "what happened" followed by
 * key=value pairs; values that come from clients or disks go through
 * sl_log_quote() first, so a hostile topic name cannot forge a log line.
 *
 * Lines caused by clients use sl_log_client(), which is rate limited
 * (a flood of garbage must not turn into a flood of log I/O): at most 20
 * lines a second, and the next line that gets through says how many were
 * suppressed.
 *
 * Thread rules: every function may be called from any thread.
 */
#ifndef SL_SLOG_H
#define SL_SLOG_H

#include <stddef.h>

enum { SL_LOG_ERROR = 0, SL_LOG_WARN = 1, SL_LOG_INFO = 2, SL_LOG_DEBUG = 3 };

/* Lines above this level are dropped. Default SL_LOG_INFO. */
void sl_log_set_level(int level);
int sl_log_enabled(int level);

/* "error", "warn", "info", "debug" -> level, or -1. */
int sl_log_parse_level(const char *name);

void sl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line caused by a client (bad input, connections); rate limited. */
void sl_log_client(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write at most len bytes of s into buf (capacity cap, >= 8) as a double
 * quoted string: printable ASCII as is, '"' and '\\' escaped, every other
 * byte as \xNN, cut with "..." if it does not fit. Returns buf. */
const char *sl_log_quote(char *buf, size_t cap, const void *s, size_t len);

#endif
