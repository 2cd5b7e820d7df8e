/*
 * pids.h - producer ids for InitProducerId (idempotent produce).
 *
 * An id is (prefix << 40) | n, n = 1, 2, 3, ...: prefix 0 on a standalone
 * server, node_id + 1 in cluster mode, so that ids from different nodes
 * never meet (node ids are unique in a cluster). n comes from a durable
 * counter in <data_dir>/~producer_ids (`~` is not allowed in topic names,
 * so the topic scan never takes it for a topic; docs/FORMAT.md): the
 * counter reserves SL_PIDS_BLOCK ids at a time (written to a temporary
 * file, fdatasynced, renamed, directory fsynced) before any of them is
 * handed out, and a restart starts after the last reserved block, so no
 * id is ever given out twice, kill -9 or power loss included.
 *
 * Cluster mode (sl_pids_set_remote): the counter of each node also lives
 * in ZooKeeper (/seglog/producer_ids/<node_id>, docs/CLUSTER.md), and a
 * block is reserved there before the local file: a node restarted with
 * an empty or an older data directory continues after every id it ever
 * handed out, so no two producers share an id, disk loss included. Until
 * its first reservation there, a node does not call an id of its own
 * "never issued".
 *
 * Thread rules: any thread (one mutex; sl_pids_never_issued takes none:
 * an atomic load of the next id).
 */
#ifndef SL_PIDS_H
#define SL_PIDS_H

#include <stddef.h>
#include <stdint.h>

#define SL_PIDS_BLOCK    1024u
#define SL_PIDS_FILE     "~producer_ids"
#define SL_PIDS_N_BITS   40

typedef struct sl_pids sl_pids_t;

/* Read (or create) the counter under data_dir. node_id < 0: standalone.
 * 0 or an errno / SEGLOG_E_* code (a damaged counter file: SEGLOG_E_CORRUPT). */
int sl_pids_new(const char *data_dir, int node_id, sl_pids_t **out);
void sl_pids_destroy(sl_pids_t **p);

/* The next id; 0, or an errno / the remote's error if the reservation
 * could not be written (msg set). */
int sl_pids_next(sl_pids_t *p, uint64_t *id, char *msg, size_t cap);

/* Cluster mode: reserve [*start, *reserved) remotely, start >= next, at
 * most limit; 0 or an error with msg set. */
typedef int sl_pids_remote_fn(void *arg, uint64_t next, uint64_t block, uint64_t limit,
                              uint64_t *start, uint64_t *reserved, char *msg, size_t cap);
void sl_pids_set_remote(sl_pids_t *p, sl_pids_remote_fn *fn, void *arg);

/* 1 if id has this server's prefix and was never handed out (a client
 * made it up), else 0 (ids of other nodes are not checked). */
int sl_pids_never_issued(sl_pids_t *p, uint64_t id);

#endif
