/*
 * committer.h - the thread that moves appended records past the commit
 * point ahead of time, so that nobody else has to wait for an fdatasync:
 *
 *   - under --sync always the front end appends the produces it serves
 *     itself without waiting (seglog_log_append_batch_nowait) and keeps
 *     their replies parked; the committer runs the group commit
 *     (seglog_log_commit_all) for every topic with new records, back to
 *     back while appends keep coming, and after each round it wakes the
 *     front end (an eventfd), which sends the replies whose records are
 *     committed, in request order;
 *   - under --sync interval, while the PUB socket has at least one
 *     subscription, new records are synced at once instead of at the next
 *     interval (at most one such sync every 150 us), so a live tail sees
 *     them a fraction of a millisecond after the acknowledgement. The PUB stream's rule holds: nothing a crash could
 *     take back is published. Without subscribers, nothing changes.
 *   - under --sync none the commit point is the write: nothing to do.
 *
 * Kick: sl_committer_kick() (any thread, never blocks) says "records were
 * appended"; a burst of kicks costs one wake-up. sl_committer_appended() is
 * the kick for threads that committed their appends themselves (workers,
 * the front end under interval): it only kicks while eager syncing is on.
 *
 * Ownership: the committer owns its thread and its eventfd (read by the
 * front end with sl_committer_fd / sl_committer_drain). It reads the topic
 * registry and the publisher's subscription count; both outlive it.
 */
#ifndef SL_COMMITTER_H
#define SL_COMMITTER_H

#include "publisher.h"
#include "topics.h"

typedef struct sl_committer sl_committer_t;

int sl_committer_new(sl_topics_t *topics, seglog_sync_t sync, sl_publisher_t *publisher,
                     sl_committer_t **out);

/* Records were appended and wait for the committer (--sync always). */
void sl_committer_kick(sl_committer_t *c);

/* Records were appended and written to the OS by the caller: kick only if
 * they should be synced early for subscribers (--sync interval). */
void sl_committer_appended(sl_committer_t *c);

/* Readable after the committer committed something. */
int sl_committer_fd(const sl_committer_t *c);
void sl_committer_drain(sl_committer_t *c);

/* Finish the round in progress, stop the thread and free. */
void sl_committer_destroy(sl_committer_t **c_p);

#endif
