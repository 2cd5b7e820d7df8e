/* topicconf.c - see topicconf.h */
#include "topicconf.h"

#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const s_keys[SL_CONF_N] = {"retention.bytes", "retention.ms"};

const char *sl_conf_key(int k)
{
    return k >= 0 && k < SL_CONF_N ? s_keys[k] : "?";
}

static int s_find(const char *key)
{
    for (int k = 0; k < SL_CONF_N; k++)
        if (strcmp(key, s_keys[k]) == 0)
            return k;
    return -1;
}

/* "" -> unset, "-1" -> none, 1..INT64_MAX -> itself. 0 or -1 on junk. */
static int s_parse(const char *v, int64_t *out)
{
    if (!*v) {
        *out = SL_CONF_UNSET;
        return 0;
    }
    if (strcmp(v, "-1") == 0) {
        *out = SL_CONF_NONE;
        return 0;
    }
    if (*v < '1' || *v > '9' || strlen(v) > 19)
        return -1;
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    unsigned long long n = strtoull(v, NULL, 10);
    if (errno || n > INT64_MAX)
        return -1;
    *out = (int64_t)n;
    return 0;
}

static char *s_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int sl_topicconf_parse(const char *text, size_t len, int64_t v[SL_CONF_N])
{
    for (int k = 0; k < SL_CONF_N; k++)
        v[k] = SL_CONF_UNSET;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl - p >= 200)
            return SEGLOG_E_CORRUPT;
        char line[200];
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        char *eq = strchr(line, '=');
        int64_t x;
        int k = -1;
        if (eq) {
            *eq = '\0';
            k = s_find(line);
        }
        if (k < 0 || s_parse(eq + 1, &x) || x == SL_CONF_UNSET)
            return SEGLOG_E_CORRUPT;
        v[k] = x;
    }
    return 0;
}

size_t sl_topicconf_format(const int64_t v[SL_CONF_N], char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < SL_CONF_N; k++)
        if (v[k] != SL_CONF_UNSET && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s=%" PRId64 "\n", s_keys[k], v[k]);
    return len < cap ? len : cap - 1;
}

int sl_topicconf_load(sl_topicconf_t *c, const char *dir)
{
    for (int k = 0; k < SL_CONF_N; k++)
        atomic_store(&c->v[k], SL_CONF_UNSET);
    char *path = s_join(dir, SL_CONF_FILE);
    if (!path)
        return SEGLOG_E_NOMEM;
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return errno == ENOENT ? 0 : errno;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    int rc = ferror(f) ? EIO : n == sizeof buf ? SEGLOG_E_CORRUPT : 0;
    fclose(f);
    int64_t v[SL_CONF_N];
    if (rc == 0)
        rc = sl_topicconf_parse(buf, n, v);
    if (rc == 0)
        for (int k = 0; k < SL_CONF_N; k++)
            atomic_store(&c->v[k], v[k]);
    return rc;
}

uint64_t sl_topicconf_effective(const sl_topicconf_t *c, const sl_conf_defaults_t *d, int k)
{
    int64_t v = atomic_load(&c->v[k]);
    if (v == SL_CONF_UNSET)
        return d ? d->v[k] : 0;
    return v == SL_CONF_NONE ? 0 : (uint64_t)v;
}

/* Replace the file with v (write, fdatasync, rename, fsync dir). */
static int s_store(const char *dir, const int64_t v[SL_CONF_N])
{
    char buf[256];
    size_t len = sl_topicconf_format(v, buf, sizeof buf);
    char *tmp = s_join(dir, SL_CONF_TMP), *path = s_join(dir, SL_CONF_FILE);
    int rc = tmp && path ? 0 : SEGLOG_E_NOMEM, fd = -1;
    if (rc == 0 && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        rc = errno;
    if (rc == 0 && write(fd, buf, len) != (ssize_t)len)
        rc = errno ? errno : EIO;
    if (rc == 0 && fdatasync(fd) != 0)
        rc = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = errno;
        if (dfd >= 0)
            close(dfd);
    } else if (tmp) {
        unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}

static int s_bad(char *msg, size_t cap, const char *fmt, const char *a)
{
    snprintf(msg, cap, fmt, a);
    return SL_E_BAD_REQUEST;
}

int sl_topicconf_validate(const sl_request_t *req, int64_t v[SL_CONF_N], int seen[SL_CONF_N],
                          char *msg, size_t cap)
{
    char q[200];
    for (int k = 0; k < SL_CONF_N; k++)
        seen[k] = 0, v[k] = SL_CONF_UNSET;
    for (size_t i = 0; i < req->nconfig; i++) {
        const sl_config_kv_t *e = &req->config[i];
        int k = s_find(e->key);
        snprintf(q, sizeof q, "%.120s", e->key);
        for (char *p = q; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                *p = '?';
        if (k < 0)
            return s_bad(msg, cap,
                         "unknown setting \"%s\": the settings are retention.bytes and "
                         "retention.ms",
                         q);
        if (seen[k]++)
            return s_bad(msg, cap, "setting %s given twice", s_keys[k]);
        if (s_parse(e->value, &v[k])) {
            snprintf(q, sizeof q, "%.60s", e->value);
            for (char *p = q; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                    *p = '?';
            snprintf(msg, cap,
                     "%s: expected a whole number >= 1 (%s), -1 (no limit) or \"\" (the server "
                     "default), got \"%s\"",
                     s_keys[k], k == SL_CONF_RETENTION_BYTES ? "bytes" : "milliseconds", q);
            return SL_E_BAD_REQUEST;
        }
    }
    return 0;
}

int sl_topicconf_set(sl_topicconf_t *c, const char *dir, const int64_t next[SL_CONF_N])
{
    pthread_mutex_lock(&s_mu);
    int same = 1;
    for (int k = 0; k < SL_CONF_N; k++)
        same &= atomic_load(&c->v[k]) == next[k];
    int rc = same ? 0 : s_store(dir, next);
    if (rc == 0)
        for (int k = 0; k < SL_CONF_N; k++)
            atomic_store(&c->v[k], next[k]);
    pthread_mutex_unlock(&s_mu);
    return rc;
}

int sl_topicconf_encode(const sl_topicconf_t *c, const sl_conf_defaults_t *d, uint64_t id,
                        sl_buf_t *out)
{
    char val[SL_CONF_N][24], eff[SL_CONF_N][24];
    sl_config_kv_t kv[SL_CONF_N];
    for (int k = 0; k < SL_CONF_N; k++) {
        int64_t x = atomic_load(&c->v[k]);
        if (x == SL_CONF_UNSET)
            val[k][0] = '\0';
        else
            snprintf(val[k], sizeof val[k], "%" PRId64, x);
        uint64_t e = sl_topicconf_effective(c, d, k);
        if (e == 0)
            snprintf(eff[k], sizeof eff[k], "-1");
        else
            snprintf(eff[k], sizeof eff[k], "%" PRIu64, e);
        kv[k] = (sl_config_kv_t){.key = s_keys[k], .value = val[k], .effective = eff[k]};
    }
    out->len = 0;
    return sl_codec_encode_topic_config(out, id, kv, SL_CONF_N);
}

int sl_topicconf_request(sl_topicconf_t *c, const char *dir, const sl_conf_defaults_t *d,
                         const sl_request_t *req, sl_buf_t *out, char *msg, size_t cap)
{
    int64_t v[SL_CONF_N];
    int seen[SL_CONF_N];
    int rc = sl_topicconf_validate(req, v, seen, msg, cap);
    if (rc)
        return rc;
    if (req->nconfig) {
        /* Serialised with every other change (s_mu), so two requests that
         * set different keys both keep theirs. */
        pthread_mutex_lock(&s_mu);
        int64_t next[SL_CONF_N];
        for (int k = 0; k < SL_CONF_N; k++)
            next[k] = seen[k] ? v[k] : atomic_load(&c->v[k]);
        rc = s_store(dir, next);
        if (rc == 0)
            for (int k = 0; k < SL_CONF_N; k++)
                atomic_store(&c->v[k], next[k]);
        pthread_mutex_unlock(&s_mu);
    }
    if (rc) {
        snprintf(msg, cap, "cannot store the settings: %s (nothing changed)", sl_strerror(rc));
        return rc;
    }
    rc = sl_topicconf_encode(c, d, req->id, out);
    if (rc)
        snprintf(msg, cap, "out of memory");
    return rc;
}
