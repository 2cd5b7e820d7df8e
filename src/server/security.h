/*
 * security.h - CURVE on the server's sockets (docs/SECURITY.md).
 *
 * Owns: the server's certificate (--curve-cert, loaded with czmq's zcert),
 * the ACL (--acl, acl.h), and a reference on the process's zauth actor.
 *
 * czmq's zauth answers ZAP requests for every socket of czmq's context
 * (zsys_init) on one inproc endpoint, so there is one zauth per process,
 * shared by every server in it (refcounted); all of them must name the
 * same --clients-dir. zauth checks each client key against the directory
 * at every handshake (zcertstore re-reads it when its file count, total
 * size or time changes), so adding or removing a certificate takes effect
 * on the next connection without a restart. A server with CURVE makes its
 * sockets in czmq's context (sl_security_ctx); one without keeps its own
 * context, exactly as before.
 *
 * Thread rules: new and destroy on the server's controlling thread; the
 * queries are read-only and may be called from any thread.
 */
#ifndef SL_SECURITY_H
#define SL_SECURITY_H

#include "acl.h"
#include "seglog/server.h"

typedef struct sl_security sl_security_t;

/* Check the configuration and, with curve_cert, load the certificate and
 * the ACL and start (or share) zauth. Refuses a non-loopback bind, pub or
 * repl_bind endpoint in plaintext unless allow_plaintext. Returns 0 or a
 * SEGLOG_SERVER_E_* code; the reason is logged (ERROR). */
int sl_security_new(const seglog_server_config_t *cfg, sl_security_t **out);

/* 1 if the server's sockets use CURVE. */
int sl_security_curve(const sl_security_t *sec);

/* czmq's context, where zauth listens (CURVE only). */
void *sl_security_ctx(const sl_security_t *sec);

/* Make a socket a CURVE server under zauth; before its bind. No-op
 * without CURVE. 0 or an errno. */
int sl_security_apply_server(const sl_security_t *sec, void *sock);

/* Make a socket a CURVE client of server_key (Z85) with this node's own
 * certificate (node-to-node traffic). 0 or an errno. */
int sl_security_apply_client(const sl_security_t *sec, void *sock, const char *server_key);

/* This node's public and secret keys (Z85), or NULL without CURVE. */
const char *sl_security_public_key(const sl_security_t *sec);
const char *sl_security_secret_key(const sl_security_t *sec);

/* The ACL, or NULL (no --acl: every known key may do everything). */
const sl_acl_t *sl_security_acl(const sl_security_t *sec);

/* 0 if endpoint is local (loopback, ipc, inproc), else -1. */
int sl_security_is_local(const char *endpoint);

void sl_security_destroy(sl_security_t **sec_p);

#endif
