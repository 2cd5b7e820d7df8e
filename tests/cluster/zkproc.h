/*
 * zkproc.h - a real, standalone Apache ZooKeeper server for tests.
 *
 * Runs Debian's ZooKeeper 3.8 as a child process:
 *   java -cp DIR:/usr/share/java/zookeeper.jar[:slf4j-log4j12:log4j-1.2]
 *        org.apache.zookeeper.server.ZooKeeperServerMain DIR/zoo.cfg
 * in its own temporary DIR (zoo.cfg, log4j.properties at WARN, data/,
 * zk.log with the server's output), on a free loopback port (bind port 0,
 * close, hand it to ZooKeeper; if ZooKeeper cannot bind it, retry with
 * another), admin server off, "ruok" allowed, and a small tickTime so that
 * session expiry tests are quick (sessions are negotiated within
 * 2 x tickTime .. 60 s).
 *
 * "Started" means it answered "imok" to "ruok". Every wait is bounded.
 *
 * The java process never outlives the test: it gets PR_SET_PDEATHSIG
 * SIGKILL (dies with the test process, whatever kills that), an atexit()
 * handler kills every server still running, and zkproc_destroy() kills it.
 *
 * Thread rules: call from one thread (the test's main thread: the death
 * signal is tied to the thread that forks).
 */
#ifndef ZKPROC_H
#define ZKPROC_H

typedef struct zkproc zkproc_t;

/* Starts a server with this tickTime (ms); NULL (and a message on stderr)
 * if it did not answer within 30 s. */
zkproc_t *zkproc_start(int tick_ms);

/* "127.0.0.1:PORT" */
const char *zkproc_hosts(zkproc_t *self);
int zkproc_port(zkproc_t *self);
/* 1 if the java process runs. */
int zkproc_running(zkproc_t *self);

/* kill -9 the server and reap it; its data directory stays. 0 or -1. */
int zkproc_stop(zkproc_t *self);
/* Starts it again on the same port and data: 0 once it answers, or -1. */
int zkproc_restart(zkproc_t *self);

/* Kills it, removes its directory, frees. Idempotent. */
void zkproc_destroy(zkproc_t **self_p);

#endif
