/*
 * acl.h - who may do what to which topic (--acl FILE, docs/SECURITY.md).
 *
 * A principal is a client that passed the CURVE handshake: its public key
 * (Z85, the ZAP User-Id that czmq's zauth sets) and the "name" of its
 * certificate in --clients-dir, if it has one. The file is read once at
 * start; an ACL object is immutable afterwards, so any thread may query it.
 *
 * File format: one rule per line, three fields separated by blanks:
 *     CLIENT  TOPIC-PATTERN  RIGHTS
 *   CLIENT        name:NAME (the certificate's name metadata), key:Z85KEY
 *                 (its 40-character public key) or * (any known key)
 *   TOPIC-PATTERN an exact topic name or an fnmatch(3) glob (*, ?, [..])
 *   RIGHTS        comma-separated: produce, consume, admin, replicate, all
 * Blank lines and lines starting with # are ignored. A request is allowed
 * if any rule names its client, matches its topic and has the right;
 * otherwise it is denied (default deny).
 */
#ifndef SL_ACL_H
#define SL_ACL_H

#include <stddef.h>

enum {
    SL_ACL_PRODUCE = 1,   /* Produce (creating the topic by its first produce) */
    SL_ACL_CONSUME = 2,   /* Consume, Offsets, PUB subscriptions */
    SL_ACL_ADMIN = 4,     /* Truncate, DeleteTopic, and requests not mapped otherwise */
    SL_ACL_REPLICATE = 8, /* cluster: Fetch and OffsetForLeaderEpoch on the repl socket */
    SL_ACL_ALL = 15,
};

#define SL_KEY_Z85_LEN 40
#define SL_NAME_MAX    64

/* Who sent a request: empty key when the socket is not CURVE. */
typedef struct sl_principal {
    char key[SL_KEY_Z85_LEN + 1];
    char name[SL_NAME_MAX + 1];
} sl_principal_t;

typedef struct sl_acl sl_acl_t;

/* Parse path. 0, or -1 with the line and reason in err. */
int sl_acl_load(const char *path, sl_acl_t **out, char *err, size_t errlen);

/* 1 if who may use `right` on topic (NUL-terminated), else 0. */
int sl_acl_allows(const sl_acl_t *acl, const sl_principal_t *who, const char *topic,
                  unsigned right);

/* 1 if some rule gives who any right on topic (ListTopics filtering). */
int sl_acl_any(const sl_acl_t *acl, const sl_principal_t *who, const char *topic);

/* "produce", "consume", "admin" or "replicate". */
const char *sl_acl_right_name(unsigned right);

/* Fill who from a received frame's ZAP metadata (User-Id, name). 0, or -1
 * if the frame carries no User-Id (not a CURVE connection). */
int sl_principal_from_msg(sl_principal_t *who, void *zmq_msg);

/* "name:NAME" or "key:KEY" for log lines and error messages. */
const char *sl_principal_str(const sl_principal_t *who, char *buf, size_t cap);

void sl_acl_destroy(sl_acl_t **acl_p);

#endif
