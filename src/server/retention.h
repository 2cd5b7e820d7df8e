/*
 * retention.h - the thread that applies retention (retention.bytes,
 * retention.ms; topicconf.h) by removing whole segments from the front of
 * each topic's log, with the log core's front truncate.
 *
 * Rules, per topic, each pass (every period_ms), oldest segment first,
 * stopping at the first segment that stays:
 *   - never the active segment, and never a segment with records at or
 *     past the topic's visible end (in cluster mode the high watermark);
 *   - retention.bytes: the segment goes while the stores' total size
 *     without it is still >= the limit (so the topic keeps at least the
 *     limit, and at most the limit plus one segment);
 *   - retention.ms: the segment goes when its greatest record timestamp
 *     is older than now - the limit (a segment whose timestamps are
 *     unknown is kept).
 * Readers of removed offsets get OFFSET_TRUNCATED, as after Truncate.
 *
 * Ownership: owns its thread; reads the registry and the defaults, which
 * outlive it.
 */
#ifndef SL_RETENTION_H
#define SL_RETENTION_H

#include "topicconf.h"
#include "topics.h"

typedef struct sl_retention sl_retention_t;

int sl_retention_new(sl_topics_t *topics, const sl_conf_defaults_t *defaults, uint32_t period_ms,
                     sl_retention_t **out);

/* Stop the thread (finishing the pass in progress) and free. */
void sl_retention_destroy(sl_retention_t **r_p);

/* One pass over every topic at wall-clock time now_ms; returns the
 * segments removed. The thread's work; callable from any thread. */
size_t sl_retention_pass(sl_topics_t *topics, const sl_conf_defaults_t *defaults, uint64_t now_ms);

#endif
