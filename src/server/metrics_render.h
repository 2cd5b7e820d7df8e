/*
 * metrics_render.h - the text of GET /metrics (metrics_render.c), and the
 * topic file scan that /metrics and /v1/status share.
 */
#ifndef SL_METRICS_RENDER_H
#define SL_METRICS_RENDER_H

#include "mem.h"
#include "seglog/server.h"

#include <stdint.h>

/* Append the Prometheus text exposition of s to b: 0 or SEGLOG_E_NOMEM. */
int sl_metrics_render(seglog_server_t *s, sl_buf_t *b);

/* Segments (.store files) and total file bytes of data_dir/name; 0 and 0
 * if the directory cannot be read. */
void sl_topic_disk_usage(const char *data_dir, const char *name, uint64_t *segments,
                         uint64_t *bytes);

#endif
