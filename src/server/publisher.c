/* publisher.c - see publisher.h */
#include "publisher.h"

#include "codec.h"
#include "errors.h"
#include "itercache.h"
#include "mem.h"
#include "security.h"
#include "slog.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ROUND_RECORDS 1024 /* per topic per round, so busy topics take turns */
#define ROUND_BYTES   (256u << 10)
#define ITER_SLOTS    16
#define PUB_LINGER_MS 100 /* at shutdown: a reading subscriber takes the last events in far less */
#define MONITOR_EVENTS (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED)

typedef struct {
    const sl_topic_t *tp; /* the topic this state is for (indexes are reused after a delete) */
    uint64_t next;        /* every record below this was published */
    int64_t last_ms;      /* last record or heartbeat sent */
} tstate_t;

struct sl_publisher {
    sl_publisher_config_t cfg;
    char endpoint[256];
    void *sock;
    void *monitor; /* PAIR: the XPUB's connection events */
    int efd;
    atomic_int wake_pending;
    atomic_int stop;
    atomic_long subscriptions; /* distinct prefixes subscribed (XPUB) */
    atomic_long connections;   /* TCP connections to the XPUB (socket monitor) */
    int secure;                /* CURVE: XPUB_MANUAL, topic frames end in a zero byte */
    sl_topics_t *topics;
    pthread_t thread;
    int started;
    /* publisher thread only */
    tstate_t *st;
    size_t nst;
    sl_itercache_t *iters;
    sl_buf_t buf;
};

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tstate_t *s_state(sl_publisher_t *p, const sl_topic_t *tp, int64_t now)
{
    if (tp->index >= p->nst) {
        size_t n = p->nst ? p->nst : 16;
        while (n <= tp->index)
            n *= 2;
        tstate_t *st = realloc(p->st, n * sizeof *st);
        if (!st)
            return NULL;
        memset(st + p->nst, 0, (n - p->nst) * sizeof *st);
        p->st = st;
        p->nst = n;
    }
    tstate_t *s = &p->st[tp->index];
    if (s->tp != tp) {
        s->tp = tp;
        s->next = tp->publish_from;
        s->last_ms = now - p->cfg.heartbeat_ms; /* first heartbeat right away */
    }
    return s;
}

static void s_set_nodrop(sl_publisher_t *p, int on)
{
    zmq_setsockopt(p->sock, ZMQ_XPUB_NODROP, &on, sizeof on);
}

/* Never blocks: at a subscriber's HWM the whole message is dropped for that
 * subscriber, and the others still get it. To count those drops the XPUB
 * runs with ZMQ_XPUB_NODROP, under which a DONTWAIT send that some matching
 * subscriber has no room for fails with EAGAIN and reaches nobody; that
 * message is counted and sent again with NODROP off, so that every
 * subscriber with room gets it (the full ones are skipped for all its
 * frames), and NODROP goes back on. */
static void s_send_event(sl_publisher_t *p, const sl_topic_t *tp, zmq_msg_t *ev)
{
    size_t n = tp->name_len + (p->secure ? 1 : 0); /* the name's NUL (publisher.h) */
    int rc = zmq_send(p->sock, tp->name, n, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (rc < 0 && zmq_errno() == EAGAIN) {
        SL_STAT_ADD(p->cfg.stats, pub_dropped, 1);
        s_set_nodrop(p, 0);
        rc = zmq_send(p->sock, tp->name, n, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (rc >= 0)
            rc = zmq_msg_send(ev, p->sock, ZMQ_DONTWAIT);
        s_set_nodrop(p, 1);
    } else if (rc >= 0) {
        /* Every matching pipe took the first frame, so it has room for the
         * rest of the message (libzmq counts whole messages). Should the
         * body still be refused, it must not stay unsent: the next topic
         * frame would join this message. */
        rc = zmq_msg_send(ev, p->sock, ZMQ_DONTWAIT);
        if (rc < 0 && zmq_errno() == EAGAIN) {
            SL_STAT_ADD(p->cfg.stats, pub_dropped, 1);
            s_set_nodrop(p, 0);
            rc = zmq_msg_send(ev, p->sock, ZMQ_DONTWAIT);
            s_set_nodrop(p, 1);
        }
    }
    if (rc < 0)
        zmq_msg_close(ev);
}

static void s_heartbeat(sl_publisher_t *p, const sl_topic_t *tp, const tstate_t *st)
{
    uint64_t epoch = 0;
    if (seglog_log_epoch(tp->log, &epoch))
        return;
    p->buf.len = 0;
    if (sl_codec_encode_heartbeat(&p->buf, st->next, epoch))
        return;
    zmq_msg_t ev;
    if (zmq_msg_init_size(&ev, p->buf.len))
        return;
    memcpy(zmq_msg_data(&ev), p->buf.data, p->buf.len);
    s_send_event(p, tp, &ev);
    SL_STAT_ADD(p->cfg.stats, heartbeats, 1);
}

/* Records [st->next, target) cannot be published: skip them, loudly. */
static void s_skip(sl_publisher_t *p, const sl_topic_t *tp, tstate_t *st, uint64_t target, int err)
{
    sl_log(SL_LOG_ERROR,
           "publisher skipped records topic=%s from=%" PRIu64 " to=%" PRIu64 " error=\"%s\"",
           tp->name, st->next, target, sl_strerror(err));
    SL_STAT_ADD(p->cfg.stats, publish_gaps, target - st->next);
    st->next = target;
}

/* Publish up to one round of [st->next, committed). Returns 1 if more is
 * left. */
static int s_publish(sl_publisher_t *p, const sl_topic_t *tp, tstate_t *st, uint64_t committed)
{
    seglog_iter_t *it;
    if (sl_itercache_get(p->iters, tp->log, &it))
        return 1; /* out of memory: try again next round */
    uint64_t want = committed - st->next;
    if (want > ROUND_RECORDS)
        want = ROUND_RECORDS;
    int rc = seglog_iter_seek(it, st->next, (size_t)want, ROUND_BYTES);
    uint64_t sent = 0;
    while (rc == 0) {
        uint64_t off;
        const void *data;
        size_t len;
        rc = seglog_iter_next(it, &off, &data, &len);
        if (rc <= 0)
            break;
        rc = 0;
        zmq_msg_t ev;
        size_t n = sl_codec_event_record_size(off, len);
        if (zmq_msg_init_size(&ev, n)) {
            rc = SEGLOG_E_NOMEM;
            break;
        }
        sl_codec_event_record_write(zmq_msg_data(&ev), off, data, len);
        s_send_event(p, tp, &ev);
        st->next = off + 1;
        sent++;
    }
    SL_STAT_ADD(p->cfg.stats, published, sent);
    if (rc == SEGLOG_E_OFFSET_TRUNCATED) {
        /* Truncated below our position before we got there. */
        uint64_t lowest = st->next;
        seglog_log_lowest_offset(tp->log, &lowest);
        if (lowest > st->next)
            s_skip(p, tp, st, lowest, rc);
    } else if (rc < 0 && rc != SEGLOG_E_NOMEM && rc != SEGLOG_E_CLOSED && sent == 0) {
        /* A record we cannot read (CORRUPT): subscribers see the gap and
         * get the precise error when they fetch it. */
        s_skip(p, tp, st, st->next + 1, rc);
    }
    return st->next < committed;
}

static void s_drain_eventfd(sl_publisher_t *p)
{
    uint64_t v;
    ssize_t r = read(p->efd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing there; the flag below is what matters */
    atomic_store(&p->wake_pending, 0);
}

/* With CURVE: apply a subscription only if it names one topic and the
 * sender may consume it (publisher.h). */
static void s_secure_subscription(sl_publisher_t *p, zmq_msg_t *m)
{
    const char *d = zmq_msg_data(m);
    size_t n = zmq_msg_size(m);
    if (n < 1)
        return;
    if (d[0] == 0) { /* unsubscribe: drop it from that pipe if it was applied */
        zmq_setsockopt(p->sock, ZMQ_UNSUBSCRIBE, d + 1, n - 1);
        return;
    }
    sl_principal_t who;
    char topic[SL_TOPIC_NAME_MAX + 1], ws[80];
    int named = sl_principal_from_msg(&who, m) == 0;
    int exact = n >= 3 && n - 2 <= SL_TOPIC_NAME_MAX && d[n - 1] == 0 && !memchr(d + 1, 0, n - 2);
    const sl_acl_t *acl = sl_security_acl(p->cfg.sec);
    if (exact)
        memcpy(topic, d + 1, n - 1);
    else
        snprintf(topic, sizeof topic, "(not a topic name and a zero byte)");
    if (named && exact && (!acl || sl_acl_allows(acl, &who, topic, SL_ACL_CONSUME))) {
        zmq_setsockopt(p->sock, ZMQ_SUBSCRIBE, d + 1, n - 1); /* the last message's pipe */
        atomic_fetch_add(&p->subscriptions, 1);
        sl_log_client(SL_LOG_DEBUG, "subscription applied client=%s topic=%s",
                      sl_principal_str(&who, ws, sizeof ws), topic);
        return;
    }
    sl_log_client(SL_LOG_WARN, "subscription refused client=%s topic=%s reason=\"%s\"",
                  named ? sl_principal_str(&who, ws, sizeof ws) : "(no identity)", topic,
                  !exact ? "not an exact topic subscription" : "no consume right");
}

/* Subscription messages of the XPUB socket: 1 + prefix (first subscriber
 * of that prefix) or 0 + prefix (its last one left, or disconnected).
 * Counted so that sl_publisher_subscribed() can tell whether anyone
 * listens; nothing else reads them. */
static void s_read_subscriptions(sl_publisher_t *p)
{
    for (int k = 0; k < 256; k++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (p->secure) {
            s_secure_subscription(p, &m);
        } else if (zmq_msg_size(&m) >= 1) {
            uint8_t kind = *(uint8_t *)zmq_msg_data(&m);
            if (kind == 1)
                atomic_fetch_add(&p->subscriptions, 1);
            else if (kind == 0 && atomic_load(&p->subscriptions) > 0)
                atomic_fetch_sub(&p->subscriptions, 1);
        }
        zmq_msg_close(&m);
    }
}

/* Connection events of the XPUB: the subscriber connection gauge. */
static void s_read_monitor(sl_publisher_t *p)
{
    for (int k = 0; k < 256; k++) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, p->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t id = 0;
        if (zmq_msg_size(&ev) >= 6)
            memcpy(&id, zmq_msg_data(&ev), sizeof id);
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) { /* the endpoint frame */
            zmq_msg_init(&ev);
            zmq_msg_recv(&ev, p->monitor, 0);
            zmq_msg_close(&ev);
        }
        if (id == ZMQ_EVENT_ACCEPTED)
            atomic_fetch_add(&p->connections, 1);
        else if (id == ZMQ_EVENT_DISCONNECTED && atomic_load(&p->connections) > 0)
            atomic_fetch_sub(&p->connections, 1);
    }
}

static void *s_main(void *arg)
{
    sl_publisher_t *p = arg;
    pthread_setname_np(pthread_self(), "sl-publisher"); /* for top -H and perf */
    const int hb = p->cfg.heartbeat_ms;
    for (;;) {
        int stopping = atomic_load(&p->stop);
        /* Subscriptions that reached the socket count before we decide:
         * with none, committed records are skipped, not read and sent
         * (a PUB would drop them anyway; a subscriber that arrives later
         * fills the gap by offset, as after any drop). */
        s_read_subscriptions(p);
        int listening = sl_publisher_subscribed(p);
        int64_t now = s_mono_ms();
        int64_t due = now + hb;
        int more = 0;
        for (sl_topic_t *tp = sl_topics_first(p->topics); tp; tp = atomic_load(&tp->next)) {
            /* Under the topic's pub_mu: once a delete has set `deleted`,
             * nothing more is sent for that topic. */
            pthread_mutex_lock(&tp->pub_mu);
            tstate_t *st = atomic_load(&tp->deleted) ? NULL : s_state(p, tp, now);
            if (!st) {
                more |= !atomic_load(&tp->deleted);
                pthread_mutex_unlock(&tp->pub_mu);
                continue;
            }
            uint64_t committed = sl_topic_publish_end(tp);
            if (st->next < committed && !listening) {
                st->next = committed;
                st->last_ms = now;
            } else if (st->next < committed) {
                more |= s_publish(p, tp, st, committed);
                st->last_ms = now;
            } else if (now - st->last_ms >= hb) {
                s_heartbeat(p, tp, st);
                st->last_ms = now;
            }
            if (st->last_ms + hb < due)
                due = st->last_ms + hb;
            pthread_mutex_unlock(&tp->pub_mu);
        }
        if (stopping && !more)
            break;
        int timeout = 0;
        if (!more) {
            int64_t left = due - s_mono_ms();
            timeout = left < 0 ? 0 : left > hb ? hb : (int)left;
        }
        zmq_pollitem_t items[3] = {{.fd = p->efd, .events = ZMQ_POLLIN},
                                   {.socket = p->sock, .events = ZMQ_POLLIN},
                                   {.socket = p->monitor, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 3, timeout) > 0) {
            if (items[0].revents & ZMQ_POLLIN)
                s_drain_eventfd(p);
            if (items[1].revents & ZMQ_POLLIN)
                s_read_subscriptions(p);
            if (items[2].revents & ZMQ_POLLIN)
                s_read_monitor(p);
        }
    }
    sl_itercache_destroy(&p->iters); /* before the logs close */
    zmq_socket_monitor(p->sock, NULL, 0);
    zmq_close(p->sock);
    p->sock = NULL;
    zmq_close(p->monitor);
    p->monitor = NULL;
    return NULL;
}

static int s_monitor_new(sl_publisher_t *p)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://seglog-pub-%p-monitor", (void *)p);
    if (zmq_socket_monitor(p->sock, ep, MONITOR_EVENTS) != 0)
        return zmq_errno();
    int linger = 0;
    if (!(p->monitor = zmq_socket(p->cfg.zmq_ctx, ZMQ_PAIR)))
        return zmq_errno();
    zmq_setsockopt(p->monitor, ZMQ_LINGER, &linger, sizeof linger);
    return zmq_connect(p->monitor, ep) == 0 ? 0 : zmq_errno();
}

int sl_publisher_new(const sl_publisher_config_t *cfg, sl_publisher_t **out)
{
    if (!cfg || cfg->hwm <= 0 || cfg->heartbeat_ms <= 0)
        return SEGLOG_E_INVAL;
    sl_publisher_t *p = calloc(1, sizeof *p);
    if (!p)
        return SEGLOG_E_NOMEM;
    p->cfg = *cfg;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = p->efd < 0 ? errno : 0;
    if (!rc)
        rc = sl_itercache_new(ITER_SLOTS, &p->iters);
    if (!rc && !(p->sock = zmq_socket(cfg->zmq_ctx, ZMQ_XPUB)))
        rc = zmq_errno();
    if (!rc) {
        int linger = PUB_LINGER_MS;
        zmq_setsockopt(p->sock, ZMQ_SNDHWM, &cfg->hwm, sizeof cfg->hwm);
        zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
        s_set_nodrop(p, 1); /* see s_send_event */
        p->secure = sl_security_curve(cfg->sec);
        if (p->secure) {
            int manual = 1;
            zmq_setsockopt(p->sock, ZMQ_XPUB_MANUAL, &manual, sizeof manual);
            if (sl_security_apply_server(cfg->sec, p->sock))
                rc = SEGLOG_SERVER_E_SECURITY;
        }
        if (!rc && zmq_bind(p->sock, cfg->endpoint) != 0) {
            rc = zmq_errno();
            sl_log(SL_LOG_ERROR, "cannot bind publish socket endpoint=%s error=\"%s\"",
                   cfg->endpoint, zmq_strerror(rc));
        }
    }
    if (!rc) {
        size_t n = sizeof p->endpoint;
        if (zmq_getsockopt(p->sock, ZMQ_LAST_ENDPOINT, p->endpoint, &n) != 0)
            rc = zmq_errno();
    }
    if (!rc)
        rc = s_monitor_new(p);
    if (rc) {
        sl_publisher_destroy(&p);
        return rc;
    }
    p->cfg.endpoint = p->endpoint;
    *out = p;
    return 0;
}

const char *sl_publisher_endpoint(const sl_publisher_t *p)
{
    return p->endpoint;
}

int sl_publisher_start(sl_publisher_t *p, sl_topics_t *topics)
{
    p->topics = topics;
    int rc = pthread_create(&p->thread, NULL, s_main, p);
    if (rc == 0)
        p->started = 1;
    return rc;
}

void sl_publisher_notify(void *arg)
{
    sl_publisher_t *p = arg;
    if (atomic_exchange(&p->wake_pending, 1) == 0) {
        uint64_t one = 1;
        ssize_t w = write(p->efd, &one, sizeof one);
        (void)w; /* EAGAIN only if the counter is saturated: already awake */
    }
}

long sl_publisher_subscriptions(const sl_publisher_t *p)
{
    return p ? atomic_load_explicit(&p->subscriptions, memory_order_relaxed) : 0;
}

long sl_publisher_connections(const sl_publisher_t *p)
{
    return p ? atomic_load_explicit(&p->connections, memory_order_relaxed) : 0;
}

int sl_publisher_subscribed(const sl_publisher_t *p)
{
    return p && atomic_load_explicit(&p->subscriptions, memory_order_relaxed) > 0;
}

void sl_publisher_stop(sl_publisher_t *p)
{
    if (!p || !p->started)
        return;
    atomic_store(&p->stop, 1);
    uint64_t one = 1;
    ssize_t w = write(p->efd, &one, sizeof one);
    (void)w;
    pthread_join(p->thread, NULL);
    p->started = 0;
}

void sl_publisher_destroy(sl_publisher_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    sl_publisher_t *p = *p_p;
    *p_p = NULL;
    sl_publisher_stop(p);
    if (p->sock) {
        zmq_socket_monitor(p->sock, NULL, 0);
        zmq_close(p->sock);
    }
    if (p->monitor)
        zmq_close(p->monitor);
    sl_itercache_destroy(&p->iters);
    if (p->efd >= 0)
        close(p->efd);
    sl_buf_free(&p->buf);
    free(p->st);
    free(p);
}
