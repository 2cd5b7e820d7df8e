/*
 * clog.h - log lines of the cluster layer.
 *
 *   2026-12-04T15:09:33.123Z WARN cluster: zookeeper down, waiting for it hosts=...
 *
 * The cluster layer does not depend on the server (src/server links it, not
 * the other way round), so it has its own tiny logger. By default it writes
 * one line per call to stderr with a single write(2), in the same format as
 * the server's slog. A program that has its own logger installs a sink
 * (seglogd forwards to sl_log); tests install one to check what was logged.
 *
 * The ZooKeeper C client's own messages are routed here at DEBUG level: its
 * retry messages are noise next to ours, which say what we wait for.
 *
 * Thread rules: every function may be called from any thread; the sink may
 * be called from any thread (including ZooKeeper's) and must not block long.
 * Set the sink and the level before starting any cluster object.
 */
#ifndef SL_CLOG_H
#define SL_CLOG_H

enum { SL_CLOG_ERROR = 0, SL_CLOG_WARN = 1, SL_CLOG_INFO = 2, SL_CLOG_DEBUG = 3 };

/* line: the message without timestamp or level, NUL-terminated. */
typedef void (sl_clog_sink_fn)(int level, const char *line, void *arg);

/* NULL restores the stderr sink. */
void sl_clog_set_sink(sl_clog_sink_fn *fn, void *arg);
/* Lines above this level are dropped. Default SL_CLOG_INFO. */
void sl_clog_set_level(int level);

void sl_clog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
