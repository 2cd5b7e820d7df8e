/*
 * producers.h - idempotent produce: what the server remembers of each
 * producer on one topic (Kafka's ProducerStateManager, reduced).
 *
 * A ProduceRequest with a producer_id (from InitProducerId, pids.h) and a
 * sequence (0, 1, 2, ... per producer and topic, one per batch) is
 * appended only if its sequence is the next one expected. The state keeps
 * the last SL_PSTATE_BATCHES batches of each producer (sequence, first
 * offset, count), so a resent batch gets its original offsets back and
 * appends nothing.
 *
 * The log is the truth: the first record of every idempotent batch
 * carries producer_id, sequence and the batch's record count (stored
 * Record fields 6-8, docs/FORMAT.md). The state is rebuilt from the log's
 * last SL_PSTATE_SCAN_RECORDS records: on the first idempotent produce
 * after the topic was opened (a restart, kill -9 included), whenever the
 * log's rollback generation moved (a failed fdatasync, truncate_after),
 * and in cluster mode whenever the leader epoch changed (a follower gets
 * the same bytes by replication, so a new leader rebuilds the same state).
 * A producer whose last batch lies further back than that window, or that
 * was evicted (more than SL_PSTATE_MAX_PRODUCERS on the topic: the one
 * with the oldest last batch goes), is unknown: its next batch is taken
 * whatever its sequence, and starts its state again.
 *
 * Thread rules: begin() locks the state (one mutex per topic); the caller
 * checks, appends and records, then calls end(). Idempotent produces to
 * one topic are serialised by it; plain produces never touch it. begin()
 * takes no lock of the log's unless it rebuilds: it reads the rollback
 * generation with seglog_log_generation, so an idempotent produce takes
 * the log's append mutex once (its append), as a plain produce does.
 */
#ifndef SL_PRODUCERS_H
#define SL_PRODUCERS_H

#include "seglog/log.h"

#include <stdint.h>

#define SL_PSTATE_BATCHES       5
#define SL_PSTATE_MAX_PRODUCERS 65536
#define SL_PSTATE_SCAN_RECORDS  (1u << 17) /* 131072 records scanned at a rebuild */

typedef struct sl_pstate sl_pstate_t;

/* NULL on out of memory. */
sl_pstate_t *sl_pstate_new(void);
void sl_pstate_destroy(sl_pstate_t **ps_p);

/* Lock the state and make it current for log as led in epoch (0
 * standalone): rebuilt if it was never loaded, or the log's rollback
 * generation or the epoch changed. 0 (locked), or the log's error
 * (unlocked). */
int sl_pstate_begin(sl_pstate_t *ps, seglog_log_t *log, int64_t epoch);
void sl_pstate_end(sl_pstate_t *ps);

typedef enum {
    SL_SEQ_NEW = 0, /* append it */
    SL_SEQ_DUP,     /* appended before: *first, *count are its offsets */
    SL_SEQ_GAP,     /* past the next expected sequence (*expected) */
    SL_SEQ_OLD,     /* older than the batches remembered (*expected is the next one) */
} sl_seq_t;

/* What to do with batch seq of producer pid (locked). On SL_SEQ_DUP,
 * *dup is the commit token for its reply: the original's end in the
 * generation the state is current for, so that commit_check/commit_wait
 * on it succeed once the original passed its commit point, and fail if a
 * rollback cut it (however late that rollback ran). */
sl_seq_t sl_pstate_check(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t *first,
                         uint32_t *count, uint64_t *expected, seglog_commit_t *dup);

/* After SL_SEQ_OLD (locked): look for batch seq of producer pid in the
 * log's last SL_PSTATE_SCAN_RECORDS records, as a rebuild would (one scan
 * per producer, its batches kept for the resends that follow until the
 * state is rebuilt). SL_SEQ_DUP with *first, *count and *dup as
 * sl_pstate_check gives them, or SL_SEQ_OLD if it is not there (or the
 * log was rolled back since the state was built). */
sl_seq_t sl_pstate_find_old(sl_pstate_t *ps, seglog_log_t *log, uint64_t pid, uint64_t seq,
                            uint64_t *first, uint32_t *count, seglog_commit_t *dup);

/* The batch was appended at [first, first + count) in rollback generation
 * gen (its commit token's). Out of memory only forgets (logged by the
 * caller's next rebuild: nothing is lost but the dedup of this batch). */
void sl_pstate_record(sl_pstate_t *ps, uint64_t pid, uint64_t seq, uint64_t first, uint32_t count,
                      uint64_t gen);

/* Producers known (locked or not: a statistic). */
size_t sl_pstate_count(sl_pstate_t *ps);

#endif
