/*
 * srv.h - seglogd as a child process, for the client tests.
 *
 * srv_start() runs SEGLOGD_PATH with its data in a fresh temporary
 * directory, on tcp://127.0.0.1:* for both sockets, and learns the ports
 * from --endpoints-file. srv_stop() ends it (SIGTERM: clean shutdown, or
 * SIGKILL: a crash). srv_restart() runs it again on the same data and the
 * same, now explicit, endpoints. Every wait is bounded.
 */
#ifndef SRV_H
#define SRV_H

#include "seglog/client.h"

#include <sys/types.h>

#define SRV_MAX_ARGS 16

typedef struct srv {
    pid_t pid; /* 0 when not running */
    char *dir; /* temporary directory: data/ and the endpoints file */
    char endpoint[128];
    char pub_endpoint[128];
    const char *extra[SRV_MAX_ARGS]; /* more seglogd arguments, NULL-terminated */
} srv_t;

/* Start seglogd with extra arguments (NULL-terminated list, may be NULL).
 * 0 or -1 (the reason is printed). */
int srv_start(srv_t *s, const char *const *extra);

/* Send sig and reap the child (waits at most 30 s, then SIGKILL). 0 if it
 * ended as asked: exit status 0 after SIGTERM (a clean shutdown, and under
 * ASan no leak), or killed after SIGKILL; -1 otherwise. */
int srv_stop(srv_t *s, int sig);

/* SIGSTOP, then wait until every thread of the server is stopped (the
 * stop is asynchronous). Resume with kill(s->pid, SIGCONT). 0 or -1. */
int srv_pause(srv_t *s);

/* Stop (SIGTERM, which must succeed) and start again with the same data
 * directory and endpoints. */
int srv_restart(srv_t *s);

/* Start again on the same data directory, on new ephemeral ports (the
 * endpoints are updated), after a stop of any kind; for crash tests, where
 * the old ports need not be free at once. 0 or -1. */
int srv_relaunch(srv_t *s);

/* Stop (SIGTERM) if running and remove the directory; srv_stop's result. */
int srv_destroy(srv_t *s);

/* "<dir>/data/<topic>": where seglogd keeps a topic (malloc'ed). */
char *srv_topic_dir(const srv_t *s, const char *topic);

/* rm -rf path. */
int srv_rmrf(const char *path);

/* What a client test holds: a server child and the handles on it. The
 * cmocka teardown frees them even when the test fails half-way, and fails
 * the test if the server did not stop cleanly. */
typedef struct srv_fx {
    srv_t srv;
    seglog_client_t *c;
    seglog_producer_t *p;
    seglog_tail_t *t;
} srv_fx_t;

int srv_fx_setup(void **state);
int srv_fx_teardown(void **state);

#endif
