/*
 * topics.h - the topic registry: one log directory per topic under the
 * data directory.
 *
 * Owns: every topic and its seglog_log_t, and a lock on the data directory
 * (flock on the directory itself) so that two servers cannot share it.
 *
 * Lifetime: topics are created (on first produce, or at start for every
 * existing directory) and never removed while the registry lives, so a
 * sl_topic_t pointer stays valid until sl_topics_destroy(). That is what
 * lets lookups take no lock: the table has a fixed size (twice
 * --max-topics) and a slot, once set, never changes.
 *
 * Commit notification: each log's on_commit callback stores the committed
 * offset in topic->committed (an atomic) and calls the registry's notify
 * function, which must be async-safe in the loose sense: it runs on
 * whichever thread synced (a worker or the log's interval thread) and must
 * not touch ZeroMQ sockets it does not own.
 *
 * Thread rules: sl_topics_get() and the list walk are safe from any thread.
 * sl_topics_close_all() and destroy run after every other thread stopped.
 */
#ifndef SL_TOPICS_H
#define SL_TOPICS_H

#include "seglog/log.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TOPIC_NAME_MAX 128
#define SL_DEFAULT_TOPIC  "default"

typedef struct sl_topics sl_topics_t;

typedef struct sl_topic {
    char name[SL_TOPIC_NAME_MAX + 1];
    size_t name_len;
    uint32_t index;    /* 0, 1, 2... in creation order */
    seglog_log_t *log; /* owned */
    seglog_recovery_t recovery;
    uint64_t publish_from;           /* committed offset at open: the publisher starts here */
    _Atomic uint64_t committed;      /* latest on_commit value */
    _Atomic(struct sl_topic *) next; /* registry list, newest first */
    sl_topics_t *owner;
} sl_topic_t;

typedef struct sl_topics_config {
    const char *data_dir;
    seglog_config_t log; /* template for every topic's log; on_commit/log_fn are set here */
    uint32_t max_topics;
    void (*notify)(void *arg); /* called after a topic's committed offset moved */
    void *notify_arg;
} sl_topics_config_t;

/* Create data_dir if needed, lock it, and open every topic directory in it.
 * Fails if a topic cannot be opened (the server must not serve a partial
 * data directory) or if there are more topics than max_topics. */
int sl_topics_new(const sl_topics_config_t *cfg, sl_topics_t **out);

/* 1 if name (len bytes) is a valid topic name: [A-Za-z0-9._-]{1,128},
 * not "." or "..". */
int sl_topic_name_valid(const char *name, size_t len);

/* Find a topic; an empty name means "default". With create, a missing
 * topic is created. Errors: SL_E_INVALID_TOPIC, SL_E_UNKNOWN_TOPIC,
 * SL_E_TOO_MANY_TOPICS, or whatever opening its log returned. */
int sl_topics_get(sl_topics_t *t, const char *name, size_t len, int create, sl_topic_t **out);

/* The newest topic; follow topic->next (atomic loads) for the rest. */
sl_topic_t *sl_topics_first(sl_topics_t *t);

size_t sl_topics_count(sl_topics_t *t);

/* Flush and fdatasync every log (their on_commit callbacks fire). Returns
 * the first error. */
int sl_topics_sync_all(sl_topics_t *t);

/* Close every log (sync + clean-shutdown marker). Returns the first error. */
int sl_topics_close_all(sl_topics_t *t);

/* Close what is still open, free everything, release the directory lock. */
void sl_topics_destroy(sl_topics_t **t_p);

#endif
