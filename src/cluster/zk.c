/* zk.c - one ZooKeeper session owned by one thread; see zk.h. */
#include "zk.h"

#include "clog.h"
#include "meta.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Shared with ZooKeeper's threads, one per handle (session). Freed only
 * after zookeeper_close(), which joins those threads. */
typedef struct s_hctx {
    struct sl_zk *owner;
    atomic_llong ping_sent;    /* when the ping in flight was sent, or -1 */
    atomic_llong last_ok_sent; /* send time of the last answered ping, or -1 */
} s_hctx_t;

typedef struct s_qitem {
    struct s_qitem *next;
    sl_zk_event_t ev;
} s_qitem_t;

struct sl_zk {
    char *hosts; /* without chroot */
    char *root;  /* "" or "/chroot" */
    int session_ms;
    zhandle_t *zh;
    s_hctx_t *hctx;
    uint64_t gen;
    uint64_t gen_connected; /* owner only: gen of the last CONNECTED seen */
    int efd;

    pthread_mutex_t mu; /* guards the fields below; never held across a call out */
    pthread_cond_t cv;
    s_qitem_t *head, *tail;
    int state;         /* last session event kind (SL_ZK_EV_CONNECTED, ...) */
    int64_t last_sid;  /* session id seen at the last CONNECTED */
    int negotiated_ms;

    /* owner only */
    int64_t down_since; /* when the connection was lost (or the start), -1 if up */
    int64_t next_log;
};

int64_t sl_zk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sl_zk_rcname(int rc)
{
    switch (rc) {
    case ZOK: return "ZOK";
    case ZSYSTEMERROR: return "ZSYSTEMERROR";
    case ZRUNTIMEINCONSISTENCY: return "ZRUNTIMEINCONSISTENCY";
    case ZDATAINCONSISTENCY: return "ZDATAINCONSISTENCY";
    case ZCONNECTIONLOSS: return "ZCONNECTIONLOSS";
    case ZMARSHALLINGERROR: return "ZMARSHALLINGERROR";
    case ZUNIMPLEMENTED: return "ZUNIMPLEMENTED";
    case ZOPERATIONTIMEOUT: return "ZOPERATIONTIMEOUT";
    case ZBADARGUMENTS: return "ZBADARGUMENTS";
    case ZINVALIDSTATE: return "ZINVALIDSTATE";
    case ZNONODE: return "ZNONODE";
    case ZNOAUTH: return "ZNOAUTH";
    case ZBADVERSION: return "ZBADVERSION";
    case ZNOCHILDRENFOREPHEMERALS: return "ZNOCHILDRENFOREPHEMERALS";
    case ZNODEEXISTS: return "ZNODEEXISTS";
    case ZNOTEMPTY: return "ZNOTEMPTY";
    case ZSESSIONEXPIRED: return "ZSESSIONEXPIRED";
    case ZINVALIDCALLBACK: return "ZINVALIDCALLBACK";
    case ZINVALIDACL: return "ZINVALIDACL";
    case ZAUTHFAILED: return "ZAUTHFAILED";
    case ZCLOSING: return "ZCLOSING";
    case ZNOTHING: return "ZNOTHING";
    case ZSESSIONMOVED: return "ZSESSIONMOVED";
    default: return "Z?";
    }
}

static void s_zklog(const char *message)
{
    sl_clog(SL_CLOG_DEBUG, "zookeeper client: %s", message);
}

static void s_global_init(void)
{
    /* Its retry chatter goes to our DEBUG level (s_zklog); ours says more. */
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
}

/* Called on the owner thread or ZooKeeper's; mu must be held. */
static void s_push_locked(sl_zk_t *self, int kind, const char *path)
{
    s_qitem_t *it = calloc(1, sizeof *it);
    if (!it)
        return; /* a lost znode event; session states are also kept in self->state */
    it->ev.kind = kind;
    if (kind == SL_ZK_EV_CONNECTED) {
        it->ev.new_session = 0;
    }
    if (path) {
        strncpy(it->ev.path, path, SL_ZK_PATH_MAX - 1);
    }
    if (self->tail)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    uint64_t one = 1;
    ssize_t w = write(self->efd, &one, sizeof one); /* EFD_NONBLOCK: never blocks */
    (void) w;
}

static void s_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    s_hctx_t *h = ctx;
    sl_zk_t *self = h->owner;
    pthread_mutex_lock(&self->mu);
    if (self->hctx != h) { /* an old handle: its news is stale */
        pthread_mutex_unlock(&self->mu);
        return;
    }
    if (type == ZOO_SESSION_EVENT) {
        int kind = SL_ZK_EV_DISCONNECTED;
        if (state == ZOO_CONNECTED_STATE)
            kind = SL_ZK_EV_CONNECTED;
        else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
            kind = SL_ZK_EV_EXPIRED;
        if (self->state != SL_ZK_EV_EXPIRED) {
            s_push_locked(self, kind, NULL);
            if (kind == SL_ZK_EV_CONNECTED) {
                const clientid_t *cid = zoo_client_id(zh);
                int64_t sid = cid ? cid->client_id : 0;
                self->tail->ev.new_session = sid != self->last_sid;
                self->last_sid = sid;
                self->negotiated_ms = zoo_recv_timeout(zh);
            }
            self->state = kind;
            pthread_cond_broadcast(&self->cv);
        }
    } else {
        int kind = type == ZOO_CREATED_EVENT   ? SL_ZK_EV_CREATED
                   : type == ZOO_DELETED_EVENT ? SL_ZK_EV_DELETED
                   : type == ZOO_CHANGED_EVENT ? SL_ZK_EV_CHANGED
                   : type == ZOO_CHILD_EVENT   ? SL_ZK_EV_CHILD
                                               : 0;
        if (kind)
            s_push_locked(self, kind, path);
    }
    pthread_mutex_unlock(&self->mu);
}

static int s_connect(sl_zk_t *self)
{
    s_hctx_t *h = calloc(1, sizeof *h);
    if (!h)
        return SL_CL_ENOMEM;
    h->owner = self;
    atomic_init(&h->ping_sent, -1);
    atomic_init(&h->last_ok_sent, -1);
    pthread_mutex_lock(&self->mu);
    self->hctx = h;
    self->state = SL_ZK_EV_DISCONNECTED;
    pthread_mutex_unlock(&self->mu);
    self->down_since = sl_zk_now_ms();
    self->next_log = self->down_since + 1000;
    self->zh = zookeeper_init2(self->hosts, s_watcher, self->session_ms, NULL, h, 0, s_zklog);
    if (!self->zh) {
        pthread_mutex_lock(&self->mu);
        self->hctx = NULL;
        pthread_mutex_unlock(&self->mu);
        free(h);
        return errno == ENOMEM ? SL_CL_ENOMEM : SL_CL_EINVAL;
    }
    return 0;
}

static void s_disconnect(sl_zk_t *self)
{
    if (self->zh)
        zookeeper_close(self->zh); /* joins ZooKeeper's threads */
    self->zh = NULL;
    pthread_mutex_lock(&self->mu);
    s_hctx_t *h = self->hctx;
    self->hctx = NULL;
    while (self->head) {
        s_qitem_t *it = self->head;
        self->head = it->next;
        free(it);
    }
    self->tail = NULL;
    uint64_t v;
    ssize_t r = read(self->efd, &v, sizeof v);
    (void) r;
    pthread_mutex_unlock(&self->mu);
    free(h);
}

/* "/a/b": no empty, "." or ".." component, [A-Za-z0-9._-] only. */
static int s_root_ok(const char *r)
{
    size_t n = strlen(r);
    if (n < 2 || n > 200 || r[0] != '/' || r[n - 1] == '/')
        return 0;
    for (const char *p = r; *p; p++) {
        if (*p == '/') {
            const char *c = p + 1;
            size_t len = strcspn(c, "/");
            if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                return 0;
            continue;
        }
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

sl_zk_t *sl_zk_new(const char *hosts, int session_ms)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_global_init);
    if (!hosts || !*hosts || session_ms <= 0)
        return NULL;
    sl_zk_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->efd = -1;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    self->session_ms = session_ms;
    const char *slash = strchr(hosts, '/');
    size_t hn = slash ? (size_t) (slash - hosts) : strlen(hosts);
    self->hosts = strndup(hosts, hn);
    self->root = strdup(slash ? slash : "");
    if (!self->hosts || !self->root || hn == 0 || (slash && !s_root_ok(slash)))
        goto fail;
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0 || s_connect(self) < 0)
        goto fail;
    return self;
fail:
    sl_zk_destroy(&self);
    return NULL;
}

void sl_zk_destroy(sl_zk_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sl_zk_t *self = *self_p;
    s_disconnect(self);
    if (self->efd >= 0)
        close(self->efd);
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    free(self->hosts);
    free(self->root);
    free(self);
    *self_p = NULL;
}

int sl_zk_fd(sl_zk_t *self)
{
    return self->efd;
}

static void s_note(sl_zk_t *self, const sl_zk_event_t *ev)
{
    int64_t now = sl_zk_now_ms();
    if (ev->kind == SL_ZK_EV_CONNECTED) {
        self->gen_connected = self->gen;
        if (self->down_since >= 0)
            sl_clog(SL_CLOG_INFO,
                    "zookeeper connected hosts=%s session=0x%llx new_session=%d timeout_ms=%d "
                    "after_ms=%lld",
                    self->hosts, (unsigned long long) sl_zk_session_id(self), ev->new_session,
                    sl_zk_session_ms(self), (long long) (now - self->down_since));
        self->down_since = -1;
    } else if (ev->kind == SL_ZK_EV_DISCONNECTED && self->down_since < 0) {
        sl_clog(SL_CLOG_WARN, "zookeeper connection lost hosts=%s session=0x%llx, reconnecting",
                self->hosts, (unsigned long long) sl_zk_session_id(self));
        self->down_since = now;
        self->next_log = now + 1000;
    } else if (ev->kind == SL_ZK_EV_EXPIRED) {
        sl_clog(SL_CLOG_WARN, "zookeeper session expired hosts=%s session=0x%llx",
                self->hosts, (unsigned long long) sl_zk_session_id(self));
        if (self->down_since < 0)
            self->down_since = now;
    }
}

int sl_zk_next(sl_zk_t *self, sl_zk_event_t *ev)
{
    pthread_mutex_lock(&self->mu);
    s_qitem_t *it = self->head;
    if (it) {
        self->head = it->next;
        if (!self->head) {
            self->tail = NULL;
            uint64_t v;
            ssize_t r = read(self->efd, &v, sizeof v); /* empty: fd not readable */
            (void) r;
        }
    }
    pthread_mutex_unlock(&self->mu);
    if (!it)
        return 0;
    *ev = it->ev;
    free(it);
    s_note(self, ev);
    return 1;
}

int sl_zk_wait_connected(sl_zk_t *self, int timeout_ms)
{
    int64_t deadline = sl_zk_now_ms() + timeout_ms;
    int rc = 0;
    pthread_mutex_lock(&self->mu);
    while (self->state != SL_ZK_EV_CONNECTED) {
        if (self->state == SL_ZK_EV_EXPIRED || !self->hctx) {
            rc = SL_CL_ENOTCONN;
            break;
        }
        int64_t left = deadline - sl_zk_now_ms();
        if (left <= 0) {
            rc = SL_CL_ETIMEOUT;
            break;
        }
        if (left > 1000)
            left = 1000; /* wake to log what we wait for */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&self->cv, &self->mu, &ts);
        pthread_mutex_unlock(&self->mu);
        sl_zk_tick(self);
        pthread_mutex_lock(&self->mu);
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

int sl_zk_renew(sl_zk_t *self)
{
    sl_clog(SL_CLOG_INFO, "zookeeper: closing the expired session 0x%llx, starting a new one",
            (unsigned long long) sl_zk_session_id(self));
    s_disconnect(self);
    self->gen++;
    return s_connect(self);
}

static void s_ping_done(int rc, const struct Stat *stat, const void *data)
{
    (void) stat;
    s_hctx_t *h = (s_hctx_t *) data;
    long long sent = atomic_exchange(&h->ping_sent, -1);
    if ((rc == ZOK || rc == ZNONODE) && sent >= 0)
        atomic_store(&h->last_ok_sent, sent);
}

void sl_zk_tick(sl_zk_t *self)
{
    int64_t now = sl_zk_now_ms();
    s_hctx_t *h = self->hctx;
    if (!h)
        return;
    if (sl_zk_connected(self)) {
        long long inflight = atomic_load(&h->ping_sent);
        long long last = atomic_load(&h->last_ok_sent);
        int every = sl_zk_session_ms(self) / 4;
        if (inflight < 0 && (last < 0 || now - last >= every)) {
            atomic_store(&h->ping_sent, now);
            if (zoo_aexists(self->zh, "/", 0, s_ping_done, h) != ZOK)
                atomic_store(&h->ping_sent, -1);
        }
        return;
    }
    if (self->down_since >= 0 && now >= self->next_log) {
        int64_t down = now - self->down_since;
        int64_t sid = sl_zk_session_id(self);
        if (sid == 0 || self->gen_connected != self->gen)
            sl_clog(SL_CLOG_WARN,
                    "waiting for zookeeper hosts=%s down_ms=%lld (no session yet: not "
                    "registered, not controller)",
                    self->hosts, (long long) down);
        else
            sl_clog(SL_CLOG_WARN,
                    "waiting for zookeeper hosts=%s down_ms=%lld session=0x%llx "
                    "(the session expires %d ms after the server last heard from us)",
                    self->hosts, (long long) down, (unsigned long long) sid,
                    sl_zk_session_ms(self));
        self->next_log = now + (down < 10000 ? 1000 : 10000);
    }
}

zhandle_t *sl_zk_handle(sl_zk_t *self)
{
    return self->zh;
}

const char *sl_zk_root(sl_zk_t *self)
{
    return self->root;
}

const char *sl_zk_hosts(sl_zk_t *self)
{
    return self->hosts;
}

int sl_zk_connected(sl_zk_t *self)
{
    return self->zh && zoo_state(self->zh) == ZOO_CONNECTED_STATE;
}

int sl_zk_lease_ok(sl_zk_t *self)
{
    s_hctx_t *h = self->hctx;
    if (!h || !sl_zk_connected(self))
        return 0;
    long long last = atomic_load(&h->last_ok_sent);
    return last >= 0 && sl_zk_now_ms() < last + (int64_t) sl_zk_session_ms(self) * 2 / 3;
}

int64_t sl_zk_lease_until_ms(sl_zk_t *self)
{
    s_hctx_t *h = self->hctx;
    if (!h || !sl_zk_connected(self))
        return 0;
    long long last = atomic_load(&h->last_ok_sent);
    if (last < 0)
        return 0;
    int64_t until = last + (int64_t) sl_zk_session_ms(self) * 2 / 3;
    return sl_zk_now_ms() < until ? until : 0;
}

int sl_zk_session_ms(sl_zk_t *self)
{
    pthread_mutex_lock(&self->mu);
    int ms = self->negotiated_ms > 0 ? self->negotiated_ms : self->session_ms;
    pthread_mutex_unlock(&self->mu);
    return ms;
}

int64_t sl_zk_session_id(sl_zk_t *self)
{
    pthread_mutex_lock(&self->mu);
    int64_t sid = self->last_sid;
    pthread_mutex_unlock(&self->mu);
    return sid;
}

uint64_t sl_zk_generation(sl_zk_t *self)
{
    return self->gen;
}

const clientid_t *sl_zk_client_id(sl_zk_t *self)
{
    return self->zh ? zoo_client_id(self->zh) : NULL;
}
