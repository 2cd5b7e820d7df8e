/*
 * groups.h - consumer groups' committed offsets (Kafka's group
 * coordinator, reduced to CommitOffset and FetchOffset).
 *
 * The truth is the internal topic __consumer_offsets: every CommitOffset
 * appends one record (key "GROUP/TOPIC", value an OffsetCommitValue:
 * offset and metadata; docs/FORMAT.md) and is answered once the record
 * passed the acknowledgement point (cluster mode: acks=all, the record is
 * replicated like any other). This module keeps the in-memory map
 * (group, topic) -> last committed (offset, metadata), a cache of that
 * topic: before each lookup it applies the records from where it stopped
 * up to the topic's visible end, so it never shows a commit that could
 * still vanish, and a restarted server (or a new leader) rebuilds it by
 * reading the topic from its start at the first FetchOffset. A rollback or
 * truncate_after of the topic (its rollback generation moved) starts the
 * map again from the topic's lowest offset.
 *
 * The topic only grows (no compaction): each commit costs one record of
 * about 40 bytes + the names and metadata, and the first FetchOffset after
 * a start reads all of it. Truncate, DeleteTopic and produce are refused
 * on it (INVALID_TOPIC), so the latest commit of a group is never dropped.
 *
 * Thread rules: any thread; one mutex.
 */
#ifndef SL_GROUPS_H
#define SL_GROUPS_H

#include "seglog/log.h"

#include <stddef.h>
#include <stdint.h>

#define SL_GROUPS_TOPIC "__consumer_offsets"

typedef struct sl_groups sl_groups_t;

sl_groups_t *sl_groups_new(void);
void sl_groups_destroy(sl_groups_t **g_p);

/* 1 if name (len bytes) is the internal topic (clients may not write it). */
int sl_groups_is_internal(const char *name, size_t len);

/* The record of a commit: key "group/topic" into key (cap bytes), 0 or -1
 * if it does not fit. */
int sl_groups_key(char *key, size_t cap, const char *group, const char *topic, size_t *key_len);

/* Look up group's commit for topic in the offsets log, first applying its
 * records below visible_end. Returns 0 with *found (0: the group committed
 * for other topics only) and, when found, *offset and the metadata copied
 * into md (md_cap >= 257 bytes, NUL-terminated, *md_len); 1 if the group
 * never committed anything; or a log error. */
int sl_groups_fetch(sl_groups_t *g, seglog_log_t *log, uint64_t visible_end, const char *group,
                    const char *topic, int *found, uint64_t *offset, char *md, size_t md_cap,
                    size_t *md_len);

#endif
