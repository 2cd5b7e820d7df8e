/*
 * topicconf.h - a topic's settings (retention.bytes, retention.ms): their
 * values, their file, the TopicConfig request, and the server defaults
 * they override.
 *
 * Values: SL_CONF_UNSET (the server default applies), SL_CONF_NONE (no
 * limit, whatever the default) or a limit >= 1 (bytes, ms). A topic keeps
 * them in atomics (sl_topic_t.conf), read by the retention thread.
 *
 * File: <topic dir>/.topic_config, lines "KEY=VALUE\n" for the settings
 * that are set (docs/FORMAT.md), replaced durably: written to
 * .topic_config.tmp, fdatasync, rename, fsync of the directory. A topic
 * without the file has every setting unset. Loaded when the topic opens.
 *
 * Thread rules: changes are serialised by one mutex of this module;
 * reads take no lock.
 */
#ifndef SL_TOPICCONF_H
#define SL_TOPICCONF_H

#include "codec.h"
#include "mem.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SL_CONF_UNSET INT64_MIN
#define SL_CONF_NONE  (-1)

enum { SL_CONF_RETENTION_BYTES = 0, SL_CONF_RETENTION_MS = 1, SL_CONF_N = 2 };

#define SL_CONF_FILE ".topic_config"
#define SL_CONF_TMP  ".topic_config.tmp"

typedef struct sl_topicconf {
    _Atomic int64_t v[SL_CONF_N];
} sl_topicconf_t;

/* Server-wide defaults (--retention-bytes, --retention-ms): 0 is no limit. */
typedef struct sl_conf_defaults {
    uint64_t v[SL_CONF_N];
} sl_conf_defaults_t;

/* "retention.bytes", "retention.ms". */
const char *sl_conf_key(int k);

/* Load dir/.topic_config into c (every setting unset if there is none).
 * A file that does not parse is an error (the topic must not open with
 * settings other than its own). */
int sl_topicconf_load(sl_topicconf_t *c, const char *dir);

/* The limit that applies: the topic's, else the default; 0 = none. */
uint64_t sl_topicconf_effective(const sl_topicconf_t *c, const sl_conf_defaults_t *d, int k);

/* Parse "KEY=VALUE\n" lines (the file's and the cluster's format) into v
 * (SL_CONF_UNSET for a key not there). SEGLOG_E_CORRUPT if it does not
 * parse. */
int sl_topicconf_parse(const char *text, size_t len, int64_t v[SL_CONF_N]);

/* The lines for v (set keys only) into buf; their length. */
size_t sl_topicconf_format(const int64_t v[SL_CONF_N], char *buf, size_t cap);

/* Check a TopicConfig request's entries: v[k] and seen[k] for each key it
 * sets. 0, or SL_E_BAD_REQUEST with msg set (a precise reason). */
int sl_topicconf_validate(const sl_request_t *req, int64_t v[SL_CONF_N], int seen[SL_CONF_N],
                          char *msg, size_t cap);

/* Make next the settings of c (the file in dir replaced durably first;
 * nothing is written when they are already next). 0 or an errno. */
int sl_topicconf_set(sl_topicconf_t *c, const char *dir, const int64_t next[SL_CONF_N]);

/* The TopicConfig response for c (each setting and its effective value). */
int sl_topicconf_encode(const sl_topicconf_t *c, const sl_conf_defaults_t *d, uint64_t id,
                        sl_buf_t *out);

struct sl_topic;

/* Serve a TopicConfig request on topic tp (whose directory is dir):
 * validate every entry of req (all or nothing), store the new settings
 * durably, then encode the response into out. 0, or SL_E_BAD_REQUEST with
 * msg set (a precise reason), or a storage error (msg set; nothing
 * changed). */
int sl_topicconf_request(sl_topicconf_t *c, const char *dir, const sl_conf_defaults_t *d,
                         const sl_request_t *req, sl_buf_t *out, char *msg, size_t cap);

#endif
