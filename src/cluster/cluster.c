/* cluster.c - session, registration, controller election and events of
 * sl_cluster_t; see cluster.h. Topics are in topics.c, the controller's
 * decisions in ctl.c. */
#include "cluster_int.h"

#include "clog.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RETRY_MS 200 /* after a failed step, while connected */

static int s_printable(const char *s, size_t cap, int allow_empty)
{
    if (!s)
        return allow_empty;
    size_t n = strlen(s);
    if (n >= cap || (n == 0 && !allow_empty))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

int sl_cl_zkerr(int rc, const char *what, const char *path)
{
    switch (rc) {
    case ZOK: return 0;
    case ZNONODE: return SL_CL_ENONODE;
    case ZBADVERSION: return SL_CL_ESTALE;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
    case ZCLOSING:
        sl_clog(SL_CLOG_DEBUG, "%s path=%s: %s (no session now)", what, path, sl_zk_rcname(rc));
        return SL_CL_ENOTCONN;
    default:
        sl_clog(SL_CLOG_ERROR, "%s path=%s: %s (%d)", what, path, sl_zk_rcname(rc), rc);
        return SL_CL_EZK;
    }
}

void sl_cl_emit(sl_cluster_t *self, int kind, const char *topic)
{
    int dedup = kind == SL_CL_EV_NODES || kind == SL_CL_EV_TOPICS || kind == SL_CL_EV_TOPIC;
    for (s_uev_t *e = self->uhead; dedup && e; e = e->next)
        if (e->ev.kind == kind && (!topic || strcmp(e->ev.topic, topic) == 0))
            return;
    s_uev_t *e = calloc(1, sizeof *e);
    if (!e) {
        sl_clog(SL_CLOG_ERROR, "out of memory: event %d lost", kind);
        return;
    }
    e->ev.kind = kind;
    e->ev.is_controller = self->is_controller;
    e->ev.epoch = self->controller_epoch;
    if (topic)
        snprintf(e->ev.topic, sizeof e->ev.topic, "%s", topic);
    if (self->utail)
        self->utail->next = e;
    else
        self->uhead = e;
    self->utail = e;
}

static int s_pending(sl_cluster_t *self, int kind)
{
    for (s_uev_t *e = self->uhead; e; e = e->next)
        if (e->ev.kind == kind)
            return 1;
    return 0;
}

sl_cluster_t *sl_cluster_new(const sl_cluster_config_t *cfg)
{
    if (!cfg || !cfg->zookeeper || !*cfg->zookeeper || cfg->node_id < 1 ||
        !s_printable(cfg->endpoint, SL_CL_ENDPOINT_MAX, 0) ||
        !s_printable(cfg->pub_endpoint, SL_CL_ENDPOINT_MAX, 1) ||
        !s_printable(cfg->repl_endpoint, SL_CL_ENDPOINT_MAX, 1) || cfg->session_ms < 0) {
        sl_clog(SL_CLOG_ERROR, "bad cluster config: need --zookeeper, --node-id >= 1 and "
                               "printable endpoints shorter than %d bytes",
                SL_CL_ENDPOINT_MAX);
        return NULL;
    }
    sl_cluster_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.session_ms == 0)
        self->cfg.session_ms = 6000;
    self->zookeeper = strdup(cfg->zookeeper);
    self->endpoint = strdup(cfg->endpoint);
    self->pub_endpoint = strdup(cfg->pub_endpoint ? cfg->pub_endpoint : "");
    self->repl_endpoint = strdup(cfg->repl_endpoint ? cfg->repl_endpoint : "");
    if (!self->zookeeper || !self->endpoint || !self->pub_endpoint || !self->repl_endpoint)
        goto fail;
    self->cfg.repl_endpoint = self->repl_endpoint;
    self->cfg.zookeeper = self->zookeeper;
    self->cfg.endpoint = self->endpoint;
    self->cfg.pub_endpoint = self->pub_endpoint;
    self->zk = sl_zk_new(self->zookeeper, self->cfg.session_ms);
    if (!self->zk) {
        sl_clog(SL_CLOG_ERROR, "bad zookeeper connect string (HOST:PORT[,HOST:PORT...][/chroot])");
        goto fail;
    }
    const char *root = sl_zk_root(self->zk);
    snprintf(self->p_root, sizeof self->p_root, "%s/seglog", root);
    snprintf(self->p_nodes, sizeof self->p_nodes, "%s/seglog/nodes", root);
    snprintf(self->p_me, sizeof self->p_me, "%s/seglog/nodes/%d", root, (int) cfg->node_id);
    snprintf(self->p_ctl, sizeof self->p_ctl, "%s/seglog/controller", root);
    snprintf(self->p_ctl_epoch, sizeof self->p_ctl_epoch, "%s/seglog/controller_epoch", root);
    snprintf(self->p_topics, sizeof self->p_topics, "%s/seglog/topics", root);
    self->controller_id = -1;
    sl_clog(SL_CLOG_INFO, "connecting to zookeeper hosts=%s root=%s node=%d session_ms=%d",
            sl_zk_hosts(self->zk), self->p_root, (int) cfg->node_id, self->cfg.session_ms);
    return self;
fail:
    sl_cluster_destroy(&self);
    return NULL;
}

void sl_cluster_destroy(sl_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sl_cluster_t *self = *self_p;
    sl_zk_destroy(&self->zk);
    while (self->uhead) {
        s_uev_t *e = self->uhead;
        self->uhead = e->next;
        free(e);
    }
    free(self->zookeeper);
    free(self->endpoint);
    free(self->pub_endpoint);
    free(self->repl_endpoint);
    free(self);
    *self_p = NULL;
}

int sl_cluster_fd(sl_cluster_t *self)
{
    return sl_zk_fd(self->zk);
}

/* Creates path and its missing ancestors (persistent, empty). */
static int s_ensure(sl_cluster_t *self, const char *path)
{
    char buf[SL_ZK_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int rc = zoo_create(sl_zk_handle(self->zk), buf, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0,
                            NULL, 0);
        if (rc != ZOK && rc != ZNODEEXISTS)
            return sl_cl_zkerr(rc, "create", buf);
        if (c == '\0')
            return 0;
        *p = c;
    }
}

/* p_me exists in our session: make sure it says us (a create whose answer
 * was lost, or a reconnect), and watch it so that its deletion brings us
 * back here. Writes only if it differs: our own write fires the watch. */
static int s_mine(sl_cluster_t *self, const char *data)
{
    char buf[2048];
    int len = sizeof buf;
    int zrc = zoo_get(sl_zk_handle(self->zk), self->p_me, 1, buf, &len, NULL);
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get", self->p_me);
    size_t n = strlen(data);
    if (len == (int) n && memcmp(buf, data, n) == 0)
        return 1;
    zrc = zoo_set(sl_zk_handle(self->zk), self->p_me, data, (int) n, -1);
    return zrc == ZOK ? 1 : sl_cl_zkerr(zrc, "set", self->p_me);
}

static int s_register(sl_cluster_t *self)
{
    zhandle_t *zh = sl_zk_handle(self->zk);
    sl_cl_node_t me;
    memset(&me, 0, sizeof me);
    me.id = self->cfg.node_id;
    snprintf(me.endpoint, sizeof me.endpoint, "%s", self->endpoint);
    snprintf(me.pub, sizeof me.pub, "%s", self->pub_endpoint);
    snprintf(me.repl, sizeof me.repl, "%s", self->repl_endpoint);
    if (self->cfg.curve_public_key)
        snprintf(me.curve_key, sizeof me.curve_key, "%s", self->cfg.curve_public_key);
    char *data = sl_cl_node_encode(&me);
    if (!data)
        return SL_CL_ENOMEM;
    int rc = SL_CL_ENOTCONN;
    for (int attempt = 0; attempt < 3; attempt++) {
        int zrc = zoo_create(zh, self->p_me, data, (int) strlen(data), &ZOO_OPEN_ACL_UNSAFE,
                             ZOO_EPHEMERAL, NULL, 0);
        if (zrc == ZOK) {
            rc = s_mine(self, data); /* and watch it */
            break;
        }
        if (zrc != ZNODEEXISTS) {
            rc = sl_cl_zkerr(zrc, "register", self->p_me);
            break;
        }
        struct Stat st;
        zrc = zoo_exists(zh, self->p_me, 1, &st); /* watch: retry when it goes */
        if (zrc == ZNONODE)
            continue;
        if (zrc != ZOK) {
            rc = sl_cl_zkerr(zrc, "exists", self->p_me);
            break;
        }
        if (st.ephemeralOwner == sl_zk_session_id(self->zk)) {
            rc = s_mine(self, data);
            break;
        }
        sl_clog(SL_CLOG_WARN,
                "waiting: node id %d is registered by zookeeper session 0x%llx, not ours "
                "(0x%llx): an earlier run whose session has not expired yet, or another node "
                "with this id. Registering when it goes.",
                (int) self->cfg.node_id, (unsigned long long) st.ephemeralOwner,
                (unsigned long long) sl_zk_session_id(self->zk));
        rc = 0; /* the watch on p_me wakes us */
        break;
    }
    free(data);
    if (rc == 1 && !self->registered) {
        self->registered = 1;
        sl_clog(SL_CLOG_INFO, "registered node=%d endpoint=%s pub=%s curve_public_key=%s "
                "session=0x%llx",
                (int) self->cfg.node_id, self->endpoint, self->pub_endpoint,
                self->cfg.curve_public_key ? self->cfg.curve_public_key : "(none)",
                (unsigned long long) sl_zk_session_id(self->zk));
        sl_cl_emit(self, SL_CL_EV_REGISTERED, NULL);
    }
    return rc < 0 ? rc : 0;
}

static void s_set_controller(sl_cluster_t *self, int on, int32_t id, int32_t epoch)
{
    int was = self->is_controller;
    self->is_controller = on;
    self->controller_id = id;
    if (epoch > 0)
        self->controller_epoch = epoch;
    if (on && !was)
        sl_clog(SL_CLOG_INFO, "elected controller node=%d controller_epoch=%d",
                (int) self->cfg.node_id, (int) epoch);
    if (on != was)
        sl_cl_emit(self, SL_CL_EV_CONTROLLER, NULL);
    if (on)
        self->need_reconcile = 1;
}

/* Reads controller_epoch: 0 with *epoch and *version, or an error. */
static int s_read_epoch(sl_cluster_t *self, int32_t *epoch, int32_t *version)
{
    zhandle_t *zh = sl_zk_handle(self->zk);
    for (int attempt = 0; attempt < 3; attempt++) {
        char buf[64];
        int len = sizeof buf;
        struct Stat st;
        int zrc = zoo_get(zh, self->p_ctl_epoch, 0, buf, &len, &st);
        if (zrc == ZNONODE) {
            zrc = zoo_create(zh, self->p_ctl_epoch, "0", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
            if (zrc != ZOK && zrc != ZNODEEXISTS)
                return sl_cl_zkerr(zrc, "create", self->p_ctl_epoch);
            continue;
        }
        if (zrc != ZOK)
            return sl_cl_zkerr(zrc, "get", self->p_ctl_epoch);
        if (sl_cl_epoch_decode(buf, len, epoch) < 0 || *epoch == INT32_MAX) {
            sl_clog(SL_CLOG_ERROR, "bad data in %s: no controller can be elected until it "
                                   "holds a number",
                    self->p_ctl_epoch);
            return SL_CL_EBADDATA;
        }
        *version = st.version;
        return 0;
    }
    return SL_CL_ENOTCONN;
}

/* Who is controller? Arms a watch on p_ctl. 1 if it is us. */
static int s_watch_controller(sl_cluster_t *self)
{
    char buf[256];
    int len = sizeof buf;
    struct Stat st;
    int zrc = zoo_get(sl_zk_handle(self->zk), self->p_ctl, 1, buf, &len, &st);
    if (zrc == ZNONODE) {
        /* No controller; a get on a missing node sets no watch. */
        zrc = zoo_exists(sl_zk_handle(self->zk), self->p_ctl, 1, &st);
        if (zrc == ZNONODE) {
            if (self->is_controller)
                s_set_controller(self, 0, -1, 0);
            self->controller_id = -1;
            return self->cfg.no_controller ? 0 : SL_CL_ESTALE; /* try to win */
        }
        return zrc == ZOK ? SL_CL_ESTALE : sl_cl_zkerr(zrc, "exists", self->p_ctl);
    }
    if (zrc != ZOK)
        return sl_cl_zkerr(zrc, "get", self->p_ctl);
    int32_t id = -1;
    if (sl_cl_controller_decode(buf, len, &id) < 0) {
        sl_clog(SL_CLOG_ERROR, "bad data in %s (session 0x%llx); waiting for it to go",
                self->p_ctl, (unsigned long long) st.ephemeralOwner);
        id = -1;
    }
    if (st.ephemeralOwner == sl_zk_session_id(self->zk) && id == self->cfg.node_id) {
        int32_t epoch, version;
        int rc = s_read_epoch(self, &epoch, &version);
        if (rc < 0)
            return rc;
        self->ctl_epoch_version = version;
        s_set_controller(self, 1, id, epoch);
        return 1;
    }
    if (self->is_controller) {
        sl_clog(SL_CLOG_WARN, "no longer controller: node %d is", (int) id);
        s_set_controller(self, 0, id, 0);
    }
    self->controller_id = id;
    return 0;
}

static int s_elect(sl_cluster_t *self)
{
    zhandle_t *zh = sl_zk_handle(self->zk);
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = s_watch_controller(self);
        if (rc != SL_CL_ESTALE)
            return rc < 0 ? rc : 0;
        int32_t epoch, version;
        rc = s_read_epoch(self, &epoch, &version);
        if (rc < 0)
            return rc;
        char *me = sl_cl_controller_encode(self->cfg.node_id);
        char *next = sl_cl_epoch_encode(epoch + 1);
        if (!me || !next) {
            free(me);
            free(next);
            return SL_CL_ENOMEM;
        }
        /* Win and bump the epoch atomically: no controller acts on an old one. */
        zoo_op_t ops[2];
        zoo_op_result_t res[2];
        struct Stat st;
        memset(res, 0, sizeof res);
        zoo_create_op_init(&ops[0], self->p_ctl, me, (int) strlen(me), &ZOO_OPEN_ACL_UNSAFE,
                           ZOO_EPHEMERAL, NULL, 0);
        zoo_set_op_init(&ops[1], self->p_ctl_epoch, next, (int) strlen(next), version, &st);
        int zrc = zoo_multi(zh, 2, ops, res);
        free(me);
        free(next);
        if (zrc == ZOK) {
            self->ctl_epoch_version = st.version;
            s_set_controller(self, 1, self->cfg.node_id, epoch + 1);
            return 0;
        }
        if (res[0].err == ZNODEEXISTS || res[1].err == ZBADVERSION || zrc == ZNODEEXISTS ||
            zrc == ZBADVERSION)
            continue; /* lost the race: see who won */
        return sl_cl_zkerr(zrc, "elect", self->p_ctl);
    }
    return SL_CL_ENOTCONN;
}

/* "<p_topics>/<name>/state" -> name, or NULL. */
static const char *s_topic_of(sl_cluster_t *self, const char *path, char *name)
{
    size_t n = strlen(self->p_topics);
    if (strncmp(path, self->p_topics, n) != 0 || path[n] != '/')
        return NULL;
    const char *t = path + n + 1;
    const char *slash = strchr(t, '/');
    size_t len = slash ? (size_t) (slash - t) : strlen(t);
    if (len == 0 || len > SL_CL_TOPIC_MAX)
        return NULL;
    memcpy(name, t, len);
    name[len] = '\0';
    return sl_cl_topic_name_ok(name) ? name : NULL;
}

static void s_on_zk(sl_cluster_t *self, const sl_zk_event_t *ev)
{
    char name[SL_CL_TOPIC_MAX + 1];
    switch (ev->kind) {
    case SL_ZK_EV_CONNECTED:
        if (!ev->new_session)
            sl_cl_emit(self, SL_CL_EV_UP, NULL);
        self->need_paths = self->need_register = self->need_elect = 1;
        self->need_reconcile = self->is_controller;
        self->retry_at = 0;
        return;
    case SL_ZK_EV_DISCONNECTED:
        sl_cl_emit(self, SL_CL_EV_DOWN, NULL);
        return;
    case SL_ZK_EV_EXPIRED:
        sl_clog(SL_CLOG_WARN, "fenced: zookeeper session expired; node %d assumes it leads "
                              "nothing%s",
                (int) self->cfg.node_id, self->is_controller ? " and is controller no more" : "");
        self->registered = 0;
        self->is_controller = 0;
        self->controller_id = -1;
        self->need_paths = self->need_register = self->need_elect = self->need_reconcile = 0;
        sl_cl_emit(self, SL_CL_EV_FENCED, NULL);
        self->renew_pending = 1;
        return;
    default:
        break;
    }
    if (strcmp(ev->path, self->p_nodes) == 0) {
        sl_cl_emit(self, SL_CL_EV_NODES, NULL);
        self->need_reconcile |= self->is_controller;
    } else if (strcmp(ev->path, self->p_me) == 0) {
        if (ev->kind == SL_ZK_EV_DELETED && self->registered) {
            sl_clog(SL_CLOG_WARN, "our registration %s was deleted; registering again",
                    self->p_me);
            self->registered = 0;
        }
        self->need_register = 1; /* re-checks it and re-arms the watch */
    } else if (strcmp(ev->path, self->p_ctl) == 0) {
        self->need_elect = 1;
    } else if (strcmp(ev->path, self->p_topics) == 0) {
        sl_cl_emit(self, SL_CL_EV_TOPICS, NULL);
        self->need_reconcile |= self->is_controller;
    } else if (s_topic_of(self, ev->path, name)) {
        sl_cl_emit(self, SL_CL_EV_TOPIC, name);
    }
}

static void s_work(sl_cluster_t *self)
{
    int rc = 0;
    if (self->need_paths) {
        rc = s_ensure(self, self->p_nodes);
        if (rc == 0)
            rc = s_ensure(self, self->p_topics);
        if (rc == 0)
            self->need_paths = 0;
    }
    if (rc == 0 && self->need_register) {
        self->need_register = 0;
        rc = s_register(self);
        if (rc < 0)
            self->need_register = 1;
    }
    if (rc == 0 && self->need_elect) {
        self->need_elect = 0;
        rc = s_elect(self);
        if (rc < 0)
            self->need_elect = 1;
    }
    if (rc == 0 && self->need_reconcile && self->is_controller) {
        self->need_reconcile = 0;
        rc = sl_cl_ctl_reconcile(self);
        if (rc == SL_CL_ENOTLEADER) {
            sl_clog(SL_CLOG_WARN, "controller_epoch moved on: node %d is controller no more",
                    (int) self->cfg.node_id);
            s_set_controller(self, 0, -1, 0);
            self->need_elect = 1;
            rc = 0;
        } else if (rc < 0) {
            self->need_reconcile = 1;
        }
    }
    if (rc < 0)
        self->retry_at = sl_zk_now_ms() + S_RETRY_MS;
}

int sl_cluster_process(sl_cluster_t *self, sl_cl_event_t *ev)
{
    sl_zk_event_t zev;
    while (sl_zk_next(self->zk, &zev))
        s_on_zk(self, &zev);
    sl_zk_tick(self->zk);
    /* FENCED reaches the owner before anything of the next session. */
    if (self->renew_pending && !s_pending(self, SL_CL_EV_FENCED)) {
        self->renew_pending = 0;
        if (sl_zk_renew(self->zk) < 0)
            self->renew_pending = 1;
    }
    if (!self->renew_pending && sl_zk_connected(self->zk) && sl_zk_now_ms() >= self->retry_at &&
        (self->need_paths || self->need_register || self->need_elect || self->need_reconcile))
        s_work(self);
    s_uev_t *e = self->uhead;
    if (!e)
        return 0;
    self->uhead = e->next;
    if (!self->uhead)
        self->utail = NULL;
    if (ev)
        *ev = e->ev;
    free(e);
    return 1;
}

int sl_cluster_wait(sl_cluster_t *self, sl_cl_event_t *ev, int timeout_ms)
{
    int64_t deadline = sl_zk_now_ms() + timeout_ms;
    for (;;) {
        if (sl_cluster_process(self, ev))
            return 1;
        int64_t left = deadline - sl_zk_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = sl_cluster_fd(self), .events = POLLIN};
        poll(&p, 1, left < 50 ? (int) left : 50);
    }
}

int sl_cluster_wait_registered(sl_cluster_t *self, int timeout_ms)
{
    int64_t deadline = sl_zk_now_ms() + timeout_ms;
    sl_cl_event_t ev;
    while (!self->registered || self->renew_pending) {
        int64_t left = deadline - sl_zk_now_ms();
        if (left <= 0)
            return SL_CL_ETIMEOUT;
        sl_cluster_wait(self, &ev, (int) left);
    }
    return 0;
}

int32_t sl_cluster_node_id(sl_cluster_t *self) { return self->cfg.node_id; }
int sl_cluster_registered(sl_cluster_t *self) { return self->registered; }
int sl_cluster_is_controller(sl_cluster_t *self) { return self->is_controller; }
int32_t sl_cluster_controller_id(sl_cluster_t *self) { return self->controller_id; }
int32_t sl_cluster_controller_epoch(sl_cluster_t *self) { return self->controller_epoch; }

int sl_cluster_lease_ok(sl_cluster_t *self)
{
    return self->registered && sl_zk_lease_ok(self->zk);
}

sl_zk_t *sl_cluster_zk(sl_cluster_t *self)
{
    return self->zk;
}

int64_t sl_cluster_lease_until_ms(sl_cluster_t *self)
{
    if (!self->registered)
        return 0;
    return sl_zk_lease_until_ms(self->zk);
}
