/*
 * topics.h - the topic registry: one log directory per topic under the
 * data directory.
 *
 * Owns: every topic and its seglog_log_t, and a lock on the data directory
 * (flock on the directory itself) so that two servers cannot share it.
 *
 * Lifetime: topics are created (on first produce, or at start for every
 * existing directory) and deleted by sl_topics_delete(). A sl_topic_t is
 * never freed while the registry lives, deleted or not, so a pointer stays
 * valid until sl_topics_destroy(): that is what lets lookups and the
 * list walk take no lock. A deleted topic is marked (tp->deleted), leaves
 * the table and the list, and its log is closed: a thread that still holds
 * it gets SEGLOG_E_CLOSED from the log and must answer as for an unknown
 * topic. A later create of the same name makes a new sl_topic_t (a new
 * log, a new epoch). Caveat: each deletion keeps its closed topic (about
 * 2 KiB) until the server stops; the iterator caches key on log pointers,
 * so a log handle must not be freed (and its address reused) while any
 * thread runs.
 *
 * The table has a fixed size (at least twice --max-topics). A slot is set
 * by a create and emptied (to a tombstone, or back to empty when nothing
 * follows it) by a delete, both under the create mutex; lookups probe at
 * most the whole table.
 *
 * Deletion is durable and all-or-nothing across a crash: the log is
 * closed, its directory renamed to NAME~deleted~EPOCH (not a valid topic
 * name), the data directory fsynced, and only then the tombstone removed.
 * sl_topics_new() removes any tombstone a crash left behind.
 *
 * The visible end (sl_topic_visible_end) is the one limit of what clients
 * may see of a topic: consume, offsets, list and the publisher never go
 * past it. Today it is the acknowledgement point of the sync policy;
 * replication will lower it to the high watermark.
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

#include "producers.h"
#include "seglog/log.h"
#include "topicconf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TOPIC_NAME_MAX 128
#define SL_DEFAULT_TOPIC  "default"

typedef struct sl_topics sl_topics_t;

typedef struct sl_topic {
    char name[SL_TOPIC_NAME_MAX + 1];
    size_t name_len;
    uint32_t index;    /* < max_topics, unique among live topics; reused after a delete */
    seglog_log_t *log; /* owned; closed (not freed) once deleted */
    seglog_recovery_t recovery;
    uint64_t publish_from;           /* committed offset at open: the publisher starts here */
    _Atomic uint64_t committed;      /* latest on_commit value */
    _Atomic uint64_t acked;          /* end of the produces acknowledged (sl_topic_acked) */
    _Atomic int deleted;             /* set once, by sl_topics_delete */
    pthread_mutex_t pub_mu;          /* the publisher's turn on this topic vs. delete */
    _Atomic(struct sl_topic *) next; /* registry list of live topics, newest first */
    struct sl_topic *all_next;       /* every topic ever made (destroy frees them) */
    sl_topics_t *owner;
    /* Cluster mode (src/cluster/repl.h): the high watermark this node
     * knows, which caps the visible end; UINT64_MAX in standalone mode.
     * Set by the replication thread (sl_topic_limit_set). */
    _Atomic uint64_t limit;
    void *_Atomic cluster; /* the replication state of this topic (repl.c), or NULL */
    sl_topicconf_t conf;   /* retention settings (topicconf.h), loaded at open */
    sl_pstate_t *pstate;   /* idempotent produce (producers.h); owned */
    /* Metrics (metrics.h), relaxed: records and stored bytes acknowledged
     * to producers and served to consumers. */
    _Atomic uint64_t m_produced_records, m_produced_bytes;
    _Atomic uint64_t m_consumed_records, m_consumed_bytes;
} sl_topic_t;

typedef struct sl_topics_config {
    const char *data_dir;
    seglog_config_t log; /* template for every topic's log; on_commit/log_fn are set here */
    uint32_t max_topics;
    void (*notify)(void *arg); /* called after a topic's committed offset moved */
    void *notify_arg;
    /* Called (any thread, must not block) whenever a visible end may have
     * moved: a commit, an acknowledged produce, a new limit, a delete.
     * The long polls' wake-up (waiters.h); may be NULL. */
    void (*wake)(void *arg);
    void *wake_arg;
    struct sl_hist *commit_records; /* metrics.h: records per commit point; may be NULL */
    int cluster; /* 1: every topic's limit starts at 0 (the HW is not known yet) */
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

/* sl_topics_get with create, for a replica of a cluster topic: a log
 * created here gets log_id as its id (seglog_config_t.log_id; 0: random).
 * If log_id is not 0 and the topic's log has another id, that log is a
 * stale incarnation (the topic was deleted and created again while this
 * node was away): it is deleted durably (sl_topics_delete, logged as a
 * warning) and created again, empty, with log_id; *replaced (may be NULL)
 * is then 1. A thread still holding the old topic sees it deleted. */
int sl_topics_get_id(sl_topics_t *t, const char *name, size_t len, uint64_t log_id,
                     sl_topic_t **out, int *replaced);

/* The newest topic; follow topic->next (atomic loads) for the rest. A walk
 * may still meet a topic deleted meanwhile (check tp->deleted). */
sl_topic_t *sl_topics_first(sl_topics_t *t);

/* Delete a topic durably (see the top). 0 once the removal is on disk
 * (the tombstone's contents may still be there: they go right after, or
 * at the next start). Errors: SL_E_INVALID_TOPIC, SL_E_UNKNOWN_TOPIC, or a
 * storage error: if the rename failed the topic is reopened and stays; if
 * the directory fsync failed the topic is gone from this process but a
 * crash may bring it back. */
int sl_topics_delete(sl_topics_t *t, const char *name, size_t len);

/* The visible end of a topic: every record below it may be served. It is
 * max(committed, acked): what passed the log's commit point, or was
 * acknowledged to a producer (under --sync interval a produce is
 * acknowledged at the write to the OS, before the periodic fdatasync).
 * Never above a record a failed fdatasync can roll back. Any thread. */
uint64_t sl_topic_visible_end(sl_topic_t *tp);
/* Cluster mode: set the cap on the visible end (the high watermark) and
 * wake the publisher. Any thread. */
void sl_topic_limit_set(sl_topic_t *tp, uint64_t limit);

/* A produce ending at `end` passed its acknowledgement point: call before
 * its reply is made, so that a request sent after the reply sees it. */
void sl_topic_acked(sl_topic_t *tp, uint64_t end);

/* What the publisher may send: records below min(committed, visible end).
 * Under --sync interval this is the fdatasync point, which can lag the
 * visible end. */
uint64_t sl_topic_publish_end(sl_topic_t *tp);

size_t sl_topics_count(sl_topics_t *t);

/* "<data dir>/<topic name>", malloc'ed (the caller frees), or NULL. */
char *sl_topics_dir(const sl_topics_t *t, const sl_topic_t *tp);

/* Live topics, in name order: names[i] points into the topic (valid
 * while the registry lives). *out is malloc'ed; the caller frees it. */
int sl_topics_list(sl_topics_t *t, sl_topic_t ***out, size_t *n);

/* Flush and fdatasync every log (their on_commit callbacks fire). Returns
 * the first error. */
int sl_topics_sync_all(sl_topics_t *t);

/* Close every log (sync + clean-shutdown marker). Returns the first error. */
int sl_topics_close_all(sl_topics_t *t);

/* Close what is still open, free everything, release the directory lock. */
void sl_topics_destroy(sl_topics_t **t_p);

#endif
