/* security.c - see security.h */
#include "security.h"

#include "slog.h"

#include <czmq.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sl_security {
    int curve;
    zcert_t *cert;
    sl_acl_t *acl;
};

/* The process's zauth (see security.h). */
static pthread_mutex_t s_auth_mu = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_auth;
static int s_auth_refs;
static char *s_auth_dir;

static int s_auth_ref(const char *dir)
{
    int rc = 0;
    pthread_mutex_lock(&s_auth_mu);
    if (s_auth_refs > 0 && strcmp(s_auth_dir, dir) != 0) {
        sl_log(SL_LOG_ERROR,
               "one process serves one --clients-dir: %s is in use, %s was asked for", s_auth_dir,
               dir);
        rc = SEGLOG_SERVER_E_SECURITY;
    } else if (s_auth_refs == 0) {
        zsys_handler_set(NULL); /* the program owns its signals (seglog/server.h) */
        s_auth_dir = strdup(dir);
        s_auth = s_auth_dir ? zactor_new(zauth, NULL) : NULL;
        if (!s_auth || zstr_sendx(s_auth, "CURVE", dir, NULL) != 0 || zsock_wait(s_auth) != 0) {
            zactor_destroy(&s_auth);
            free(s_auth_dir);
            s_auth_dir = NULL;
            sl_log(SL_LOG_ERROR, "cannot start the ZAP handler (zauth)");
            rc = SEGLOG_SERVER_E_SECURITY;
        }
    }
    if (rc == 0)
        s_auth_refs++;
    pthread_mutex_unlock(&s_auth_mu);
    return rc;
}

static void s_auth_unref(void)
{
    pthread_mutex_lock(&s_auth_mu);
    if (--s_auth_refs == 0) {
        zactor_destroy(&s_auth);
        free(s_auth_dir);
        s_auth_dir = NULL;
    }
    pthread_mutex_unlock(&s_auth_mu);
}

int sl_security_is_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return 0;
    if (strncmp(ep, "tcp://", 6) != 0)
        return -1;
    const char *h = ep + 6;
    if (strncmp(h, "localhost:", 10) == 0 || strncmp(h, "[::1]:", 6) == 0)
        return 0;
    const char *colon = strrchr(h, ':');
    if (strncmp(h, "127.", 4) != 0 || !colon)
        return -1;
    for (const char *p = h; p < colon; p++) /* an IPv4 literal, not a name like 127.x.com */
        if ((*p < '0' || *p > '9') && *p != '.')
            return -1;
    return 0;
}

static int s_check_plain(const char *what, const char *ep)
{
    if (!ep || sl_security_is_local(ep) == 0)
        return 0;
    sl_log(SL_LOG_ERROR,
           "refusing to bind %s endpoint=%s in plaintext: anyone who can reach it could read and "
           "write every topic. Set up CURVE: 'seglog keygen server' (writes server.key and "
           "server.key_secret), 'seglog keygen NAME --dir clients' per client, then start "
           "seglogd with --curve-cert server.key_secret --clients-dir clients [--acl FILE] and "
           "give clients --curve-server-key server.key --curve-cert NAME.key_secret "
           "(docs/SECURITY.md). Or pass --allow-plaintext to accept the risk.",
           what, ep);
    return SEGLOG_SERVER_E_PLAINTEXT;
}

static int s_load(sl_security_t *sec, const seglog_server_config_t *cfg)
{
    if (!cfg->clients_dir) {
        sl_log(SL_LOG_ERROR, "--curve-cert needs --clients-dir (the public certificates of the "
                             "clients allowed in)");
        return SEGLOG_SERVER_E_SECURITY;
    }
    if (!zsys_file_exists(cfg->curve_cert) || !(sec->cert = zcert_load(cfg->curve_cert))) {
        sl_log(SL_LOG_ERROR, "cannot load the server certificate path=%s", cfg->curve_cert);
        return SEGLOG_SERVER_E_SECURITY;
    }
    if (strcmp(zcert_secret_txt(sec->cert), "0000000000000000000000000000000000000000") == 0) {
        sl_log(SL_LOG_ERROR,
               "server certificate has no secret key path=%s (give the *_secret file)",
               cfg->curve_cert);
        return SEGLOG_SERVER_E_SECURITY;
    }
    struct stat st;
    if (stat(cfg->clients_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl_log(SL_LOG_ERROR, "--clients-dir is not a directory path=%s", cfg->clients_dir);
        return SEGLOG_SERVER_E_SECURITY;
    }
    if (cfg->acl) {
        char err[512];
        if (sl_acl_load(cfg->acl, &sec->acl, err, sizeof err)) {
            sl_log(SL_LOG_ERROR, "%s", err);
            return SEGLOG_SERVER_E_SECURITY;
        }
    }
    return s_auth_ref(cfg->clients_dir);
}

int sl_security_new(const seglog_server_config_t *cfg, sl_security_t **out)
{
    *out = NULL;
    sl_security_t *sec = calloc(1, sizeof *sec);
    if (!sec)
        return SEGLOG_E_NOMEM;
    int rc = 0;
    if (cfg->curve_cert) {
        rc = s_load(sec, cfg);
        sec->curve = rc == 0;
    } else if (cfg->clients_dir || cfg->acl) {
        sl_log(SL_LOG_ERROR, "--clients-dir and --acl need --curve-cert");
        rc = SEGLOG_SERVER_E_SECURITY;
    } else if (!cfg->allow_plaintext) {
        rc = s_check_plain("request", cfg->bind);
        if (!rc)
            rc = s_check_plain("pub", cfg->pub);
        if (!rc && cfg->zookeeper)
            rc = s_check_plain("replication", cfg->repl_bind ? cfg->repl_bind : cfg->bind);
    }
    if (rc) {
        sl_security_destroy(&sec);
        return rc;
    }
    if (sec->curve)
        sl_log(SL_LOG_INFO, "CURVE on public_key=%s clients_dir=%s acl=%s",
               zcert_public_txt(sec->cert), cfg->clients_dir, cfg->acl ? cfg->acl : "(none)");
    *out = sec;
    return 0;
}

int sl_security_curve(const sl_security_t *sec)
{
    return sec && sec->curve;
}

void *sl_security_ctx(const sl_security_t *sec)
{
    (void)sec;
    return zsys_init();
}

int sl_security_apply_server(const sl_security_t *sec, void *sock)
{
    if (!sl_security_curve(sec))
        return 0;
    zcert_apply(sec->cert, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, "seglog");
    return zsock_curve_server(sock) == 1 ? 0 : EINVAL;
}

int sl_security_apply_client(const sl_security_t *sec, void *sock, const char *server_key)
{
    if (!sl_security_curve(sec))
        return 0;
    if (!server_key || strlen(server_key) != SL_KEY_Z85_LEN)
        return EINVAL;
    zcert_apply(sec->cert, sock);
    zsock_set_curve_serverkey(sock, server_key);
    return 0;
}

const char *sl_security_public_key(const sl_security_t *sec)
{
    return sl_security_curve(sec) ? zcert_public_txt(sec->cert) : NULL;
}

const char *sl_security_secret_key(const sl_security_t *sec)
{
    return sl_security_curve(sec) ? zcert_secret_txt(sec->cert) : NULL;
}

const sl_acl_t *sl_security_acl(const sl_security_t *sec)
{
    return sec ? sec->acl : NULL;
}

void sl_security_destroy(sl_security_t **sec_p)
{
    sl_security_t *sec = *sec_p;
    if (!sec)
        return;
    if (sec->curve)
        s_auth_unref();
    zcert_destroy(&sec->cert);
    sl_acl_destroy(&sec->acl);
    free(sec);
    *sec_p = NULL;
}
