/*
 * topics_dir.h - the data directory on disk, as the topic registry
 * (topics.c) uses it: making it, proving it writable at start, listing
 * its topic directories (finishing deletes a crash interrupted), and
 * removing a deleted topic's tombstone directory (docs/FORMAT.md). The
 * registry in memory stays in topics.c.
 *
 * Thread rules: any thread; the registry serialises creates and deletes.
 */
#ifndef SL_TOPICS_DIR_H
#define SL_TOPICS_DIR_H

#include <stddef.h>

/* A deleted topic's directory is renamed NAME~deleted~EPOCH (16 hex
 * digits) before it is removed: never a topic name ('~'). */
#define SL_TOMB_MARK "~deleted~"

/* mkdir -p dir: 0 or an errno / SEGLOG_E_NOMEM. */
int sl_tdir_mkdir_p(const char *dir);

/* Create and remove a probe file in the directory: 0 or its errno. */
int sl_tdir_probe_writable(int dir_fd);

/* The topic directory names under dir_fd, sorted (malloc'ed array of
 * malloc'ed strings); tombstones are removed on the way, other names
 * that are no topic name are logged and skipped. 0 or an error. */
int sl_tdir_scan(int dir_fd, char ***names_out, size_t *n_out);

/* Remove the tombstone directory name (files only) under dir_fd; 0 if
 * it is not there. */
int sl_tdir_remove_tomb(int dir_fd, const char *name);

#endif
