/*
 * hwckpt.h - the high-watermark checkpoint: Kafka's
 * replication-offset-checkpoint for seglog (docs/FORMAT.md, "~hw_checkpoint";
 * docs/CLUSTER.md, "The checkpointed HW").
 *
 * One file per data directory, "~hw_checkpoint" (topic names cannot contain
 * '~', so the topic scan never takes it for a topic). It lists, for each
 * replicated topic, the topic's ZooKeeper log_id (its incarnation) and the
 * high watermark this node knew:
 *
 *     seglog-hw-checkpoint 1\n
 *     <count>\n
 *     <topic> <log_id: 16 lowercase hex digits> <hw: decimal>\n   (count lines)
 *
 * Written the crash-safe way (temporary file, fdatasync, rename, fsync of
 * the directory), so a crash leaves the old or the new file. The reader
 * treats the file as hostile: anything but exactly this shape (a bad
 * header, count, name, id or number, a duplicate topic, a log_id of 0,
 * trailing bytes) is SL_CL_EBADDATA and no entry is used.
 *
 * Thread rules: pure functions and plain file I/O, any thread; the caller
 * owns the entry arrays (free()).
 */
#ifndef SL_CLUSTER_HWCKPT_H
#define SL_CLUSTER_HWCKPT_H

#include "meta.h"

#include <stddef.h>
#include <stdint.h>

#define SL_HWCKPT_FILE      "~hw_checkpoint"
#define SL_HWCKPT_MAX_BYTES (64u << 20) /* a longer file is not read */

typedef struct sl_hwckpt_entry {
    char name[SL_CL_TOPIC_MAX + 1];
    uint64_t log_id; /* != 0 */
    uint64_t hw;
} sl_hwckpt_entry_t;

/* The file's text for entries e[0..n) (malloc'ed, NUL-terminated; *len
 * its length), or NULL when out of memory. */
char *sl_hwckpt_format(const sl_hwckpt_entry_t *e, int n, size_t *len);

/* Parse text (len bytes): *out (malloc'ed, NULL if none) and *n, or
 * SL_CL_EBADDATA / SL_CL_ENOMEM with *out NULL and *n 0. */
int sl_hwckpt_parse(const char *text, size_t len, sl_hwckpt_entry_t **out, int *n);

/* Read dir/~hw_checkpoint. A missing file is 0 entries (rc 0). Errors:
 * SL_CL_EBADDATA (damaged, or longer than SL_HWCKPT_MAX_BYTES), an errno
 * value (positive) from reading, SL_CL_ENOMEM. */
int sl_hwckpt_load(const char *dir, sl_hwckpt_entry_t **out, int *n);

/* Replace dir/~hw_checkpoint with text (len bytes) crash-safely:
 * ~hw_checkpoint.tmp, fdatasync, rename, fsync of dir. 0 or an errno value
 * (the old file is then still there, or the new one if only the directory
 * fsync failed). */
int sl_hwckpt_store(const char *dir, const char *text, size_t len);

#endif
