/*
 * zk.h - one ZooKeeper session, owned by one thread.
 *
 * Wraps the multi-threaded ZooKeeper C client (libzookeeper_mt). That
 * library runs its own I/O and completion threads and calls the watcher
 * there; our watcher never blocks: it appends the event to a queue under a
 * mutex held for a few instructions and makes an eventfd readable. The owner
 * thread polls sl_zk_fd() (zmq_poll, poll, zpoller all take it) and pops
 * events with sl_zk_next(). The fd is readable exactly while events are
 * queued (level triggered).
 *
 * Session states reach the owner as events, in order:
 *   SL_ZK_EV_CONNECTED     connected; new_session = 1 for a session we had not had before
 *   SL_ZK_EV_DISCONNECTED  the connection dropped; the session (ephemerals,
 *                          watches) may survive if we reconnect in time
 *   SL_ZK_EV_EXPIRED       the session is gone for good: its ephemeral znodes
 *                          and watches are gone. The handle is dead. The owner
 *                          must act on it first (assume it leads nothing), then
 *                          call sl_zk_renew() for a new session.
 * and watched znodes as SL_ZK_EV_CREATED/DELETED/CHANGED/CHILD with the full
 * path (chroot included: see sl_zk_root()).
 *
 * The connect string is HOST:PORT[,HOST:PORT...][/chroot]. The chroot is not
 * given to the C client (which needs the path to exist): sl_zk keeps it as
 * sl_zk_root(), and the cluster layer prefixes its paths with it and creates
 * it when missing.
 *
 * Lease: sl_zk_tick() sends a small request every session_timeout/4 and
 * remembers when the last one that succeeded was SENT. The server cannot
 * have expired the session before that time + the session timeout, so
 * sl_zk_lease_ok() (now < sent + 2/3 timeout) says "my session is certainly
 * alive". A process stopped (SIGSTOP, swap) past its lease sees it false at
 * once when it runs again, before any event arrives: the data path's fence.
 *
 * While the session is down, sl_zk_tick() logs once a second at first, then
 * every 10 s, what it waits for (hosts, how long).
 *
 * Thread rules: every function is for the owner thread only. The ZooKeeper
 * handle from sl_zk_handle() may be used for synchronous calls (zoo_get, ...)
 * on the owner thread; it changes on sl_zk_renew().
 */
#ifndef SL_CLUSTER_ZK_H
#define SL_CLUSTER_ZK_H

#include <stdint.h>
#include <zookeeper/zookeeper.h>

typedef struct sl_zk sl_zk_t;

enum {
    SL_ZK_EV_CONNECTED = 1,
    SL_ZK_EV_DISCONNECTED,
    SL_ZK_EV_EXPIRED,
    SL_ZK_EV_CREATED,
    SL_ZK_EV_DELETED,
    SL_ZK_EV_CHANGED,
    SL_ZK_EV_CHILD,
};

#define SL_ZK_PATH_MAX 512

typedef struct sl_zk_event {
    int kind;                  /* SL_ZK_EV_* */
    int new_session;           /* CONNECTED only: 1 if a new session id */
    char path[SL_ZK_PATH_MAX]; /* znode events only, else "" */
} sl_zk_event_t;

/* Starts connecting (asynchronously) to hosts ("H:P[,H:P...][/chroot]")
 * with the given session timeout (ms; the server may negotiate it within
 * its limits). NULL on a malformed connect string or no memory. */
sl_zk_t *sl_zk_new(const char *hosts, int session_ms);
/* Closes the session (its ephemerals go at once). Idempotent. */
void sl_zk_destroy(sl_zk_t **self_p);

int sl_zk_fd(sl_zk_t *self);
/* Pops the next event into *ev: 1, or 0 if none is queued. */
int sl_zk_next(sl_zk_t *self, sl_zk_event_t *ev);

/* Waits until connected or timeout_ms passes: 0 or SL_CL_ETIMEOUT (or
 * SL_CL_ENOTCONN once expired). Events stay queued for sl_zk_next(). */
int sl_zk_wait_connected(sl_zk_t *self, int timeout_ms);

/* Closes the dead handle and starts a new session (after EXPIRED).
 * Events of the old handle still queued are dropped. 0 or SL_CL_ENOMEM. */
int sl_zk_renew(sl_zk_t *self);

/* Housekeeping: lease pings and "waiting for zookeeper" log lines. Call it
 * at least every 100 ms or so; cheap. */
void sl_zk_tick(sl_zk_t *self);

zhandle_t *sl_zk_handle(sl_zk_t *self);
const char *sl_zk_root(sl_zk_t *self);   /* "" or "/chroot" */
const char *sl_zk_hosts(sl_zk_t *self);  /* without the chroot */
int sl_zk_connected(sl_zk_t *self);      /* 1 if the handle is connected now */
int sl_zk_lease_ok(sl_zk_t *self);
int64_t sl_zk_lease_until_ms(sl_zk_t *self); /* 0 if not ok now */       /* see above */
int sl_zk_session_ms(sl_zk_t *self);     /* negotiated timeout (or requested) */
int64_t sl_zk_session_id(sl_zk_t *self); /* 0 before the first connect */
/* The session's id and password (tests take the session over with them). */
const clientid_t *sl_zk_client_id(sl_zk_t *self);
/* Bumped by every sl_zk_renew(): a new session. */
uint64_t sl_zk_generation(sl_zk_t *self);

/* Monotonic milliseconds (the clock all waits use). */
int64_t sl_zk_now_ms(void);

/* The short name of a ZooKeeper return code ("ZNONODE"). */
const char *sl_zk_rcname(int rc);

#endif
