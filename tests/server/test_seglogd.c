/* test_seglogd.c - seglogd as a child process: endpoints, --help, config
 * file, bind failure, and SIGTERM during load, after which every
 * acknowledged record is on disk (read back with the log core directly)
 * and the logs carry the clean-shutdown marker. */
#include "seglog/log.h"
#include "tclient.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <cmocka.h>

#ifndef SEGLOGD_PATH
#error "SEGLOGD_PATH must name the seglogd binary"
#endif

typedef struct {
    pid_t pid;
    char *dir; /* temp dir: data/, endpoints, log */
    char bind[256], pub[256];
} child_t;

static void s_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* fork + exec seglogd with args (NULL-terminated), stdout/stderr to
 * dir/out and dir/log. */
static pid_t s_spawn(const char *dir, const char *const *args)
{
    char *out = tu_path(dir, "out"), *log = tu_path(dir, "log");
    const char *argv[32] = {SEGLOGD_PATH};
    int n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execv(SEGLOGD_PATH, (char *const *)argv);
        _exit(127);
    }
    free(out);
    free(log);
    return pid;
}

/* Wait for the child to exit within timeout_ms; its exit status, or -1
 * (and the child is killed) on timeout. */
static int s_wait_exit(pid_t pid, int timeout_ms)
{
    uint64_t deadline = tc_now_ms() + (uint64_t)timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (tc_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        s_nap_ms(10);
    }
}

static char *s_slurp(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    long n = tu_file_size(p);
    char *buf = calloc(1, n > 0 ? (size_t)n + 1 : 1);
    if (n > 0)
        tu_read_at(p, 0, buf, (size_t)n);
    free(p);
    return buf;
}

/* Start seglogd on ephemeral ports; wait (bounded) for its endpoints file. */
static void s_start(child_t *c, const char *const *extra)
{
    memset(c, 0, sizeof *c);
    c->dir = tu_tempdir("seglogd");
    assert_non_null(c->dir);
    char *data = tu_path(c->dir, "data"), *eps = tu_path(c->dir, "endpoints");
    const char *args[32] = {"--data-dir",
                            data,
                            "--bind",
                            "tcp://127.0.0.1:*",
                            "--pub",
                            "tcp://127.0.0.1:*",
                            "--endpoints-file",
                            eps,
                            "--workers",
                            "2"};
    int n = 10;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    c->pid = s_spawn(c->dir, args);
    assert_true(c->pid > 0);
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (!tu_exists(eps)) {
        int status;
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            char *log = s_slurp(c->dir, "log");
            fail_msg("seglogd exited early:\n%s", log);
        }
        if (tc_now_ms() > deadline) {
            kill(c->pid, SIGKILL);
            fail_msg("seglogd did not write its endpoints file");
        }
        s_nap_ms(5);
    }
    char *text = s_slurp(c->dir, "endpoints");
    assert_int_equal(sscanf(text, "bind=%255s pub=%255s", c->bind, c->pub), 2);
    assert_non_null(strstr(c->bind, "tcp://127.0.0.1:"));
    free(text);
    free(data);
    free(eps);
}

static void s_cleanup(child_t *c)
{
    tu_rmrf(&c->dir);
}

static void test_help_and_bad_options(void **state)
{
    (void)state;
    char *dir = tu_tempdir("seglogd");
    const char *help[] = {"--help", NULL};
    assert_int_equal(s_wait_exit(s_spawn(dir, help), TC_TIMEOUT_MS), 0);
    char *out = s_slurp(dir, "out");
    const char *documented[] = {"--data-dir",         "--bind",    "--pub",
                                "--workers",          "--sync",    "--segment-bytes",
                                "--max-record-bytes", "--pub-hwm", "--config",
                                "--endpoints-file"};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        if (!strstr(out, documented[i]))
            fail_msg("--help does not document %s", documented[i]);
    if (!strstr(out, "least max-record-bytes + 96"))
        fail_msg("--help does not give the minimum --segment-bytes");
    free(out);
    const char *bad[] = {"--sync", "sometimes", NULL};
    assert_int_equal(s_wait_exit(s_spawn(dir, bad), TC_TIMEOUT_MS), 2);
    char *log = s_slurp(dir, "log");
    assert_non_null(strstr(log, "sync"));
    free(log);
    tu_rmrf(&dir);
}

static void test_endpoints_and_sigint(void **state)
{
    (void)state;
    child_t c;
    s_start(&c, NULL);
    char *log = s_slurp(c.dir, "log");
    char line[300];
    snprintf(line, sizeof line, "seglogd: listening on %s", c.bind);
    assert_non_null(strstr(log, line));
    snprintf(line, sizeof line, "seglogd: publishing on %s", c.pub);
    assert_non_null(strstr(log, line));
    free(log);
    tc_t *cl = tc_new(c.bind, TC_REQ);
    Seglog__V1__Response *r = tc_produce_bytes(cl, "t", "v", 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    tc_destroy(&cl);
    kill(c.pid, SIGINT);
    assert_int_equal(s_wait_exit(c.pid, 20000), 0);
    log = s_slurp(c.dir, "log");
    assert_non_null(strstr(log, "signal received signal=SIGINT"));
    assert_non_null(strstr(log, "stopped clean=1"));
    free(log);
    s_cleanup(&c);
}

static void test_config_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir("seglogd-cfg");
    char *cfg = tu_path(dir, "seglogd.cfg");
    const char *text = "# test config\n"
                       "sync = always\n"
                       "max-record-bytes = 2K\n"
                       "segment-bytes = 16K\n";
    assert_int_equal(tu_write_file(cfg, text, strlen(text)), 0);
    const char *extra[] = {"--config", cfg, NULL};
    child_t c;
    s_start(&c, extra);
    char *log = s_slurp(c.dir, "log");
    assert_non_null(strstr(log, "sync=always"));
    assert_non_null(strstr(log, "max_record_bytes=2048"));
    free(log);
    tc_t *cl = tc_new(c.bind, TC_DEALER);
    char big[3000] = {0};
    Seglog__V1__Response *r = tc_produce_bytes(cl, "t", big, sizeof big);
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__RECORD_TOO_LARGE);
    tc_free(&r);
    tc_destroy(&cl);
    kill(c.pid, SIGTERM);
    assert_int_equal(s_wait_exit(c.pid, 20000), 0);
    s_cleanup(&c);
    free(cfg);
    tu_rmrf(&dir);
}

static void test_bind_failure(void **state)
{
    (void)state;
    void *taken = tc_raw_socket(ZMQ_ROUTER);
    assert_int_equal(zmq_bind(taken, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(taken, ZMQ_LAST_ENDPOINT, ep, &len);
    char *dir = tu_tempdir("seglogd");
    char *data = tu_path(dir, "data");
    const char *args[] = {"--data-dir", data, "--bind", ep, "--pub", "tcp://127.0.0.1:*", NULL};
    assert_int_equal(s_wait_exit(s_spawn(dir, args), TC_TIMEOUT_MS), 1);
    char *log = s_slurp(dir, "log");
    assert_non_null(strstr(log, "cannot bind request socket"));
    free(log);
    free(data);
    tu_rmrf(&dir);
    tc_raw_close(&taken);
}

/* ---- a data directory seglogd cannot use ---------------------------------- */

/* Run seglogd --data-dir data in a private mount namespace (unshare -m)
 * in which `ro` is a read-only bind mount of itself: the one honest way to
 * deny writes to root, who ignores permission bits. Output in dir/out and
 * dir/log. Returns seglogd's exit status, or -2 if this machine does not
 * let us make the mount (or it is not really read-only). */
static int s_run_on_ro_mount(const char *dir, const char *ro, const char *data)
{
    const char *script =
        "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\" \"$1\" || exit 99\n"
        "if touch \"$1/.rw-check\" 2>/dev/null; then exit 98; fi\n"
        "echo read-only-mount-ok\n"
        "exec \"$3\" --data-dir \"$2\" --bind 'tcp://127.0.0.1:*' --pub 'tcp://127.0.0.1:*'\n";
    const char *argv[] = {"unshare", "-m", "/bin/sh", "-c",         script,
                          "sh",      ro,   data,      SEGLOGD_PATH, NULL};
    char *out = tu_path(dir, "out"), *log = tu_path(dir, "log");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    free(out);
    free(log);
    assert_true(pid > 0);
    int st = s_wait_exit(pid, TC_TIMEOUT_MS);
    char *text = s_slurp(dir, "out");
    int mounted = strstr(text, "read-only-mount-ok") != NULL;
    free(text);
    return mounted ? st : -2;
}

/* Expect exit status 1 and every piece of `want` in the log. */
static void s_expect_refusal(const char *dir, int status, const char *const *want)
{
    char *log = s_slurp(dir, "log");
    if (status != 1)
        fail_msg("seglogd exited with %d, not 1; its log:\n%s", status, log);
    for (int i = 0; want[i]; i++)
        if (!strstr(log, want[i]))
            fail_msg("the log lacks \"%s\":\n%s", want[i], log);
    free(log);
}

/* A read-only data directory (empty, or holding a topic) stops seglogd at
 * start with a message naming the directory and the reason; so does a
 * data directory whose parent is read-only. */
static void test_read_only_data_dir(void **state)
{
    (void)state;
    char *dir = tu_tempdir("seglogd-ro");
    char *ro = tu_path(dir, "ro");
    assert_int_equal(mkdir(ro, 0755), 0);
    int st = s_run_on_ro_mount(dir, ro, ro);
    if (st == -2) {
        char *log = s_slurp(dir, "log");
        print_message("cannot make a read-only bind mount here (%s); skipped\n", log);
        free(log);
        tu_rmrf(&ro);
        tu_rmrf(&dir);
        skip();
    }
    const char *want[] = {"data directory is not writable", ro, "Read-only file system",
                          "seglogd: cannot start", NULL};
    s_expect_refusal(dir, st, want);

    /* The same with a topic in it (created read-write first). */
    char *topic = tu_path(ro, "t");
    seglog_log_t *log = NULL;
    assert_int_equal(seglog_log_open(topic, NULL, &log), 0);
    assert_int_equal(seglog_log_append(log, "v", 1, NULL), 0);
    seglog_log_destroy(&log);
    s_expect_refusal(dir, s_run_on_ro_mount(dir, ro, ro), want);

    /* A data directory still to be created below a read-only parent. */
    char *below = tu_path(ro, "new/data");
    const char *want_parent[] = {"cannot use data directory", below, "Read-only file system", NULL};
    s_expect_refusal(dir, s_run_on_ro_mount(dir, ro, below), want_parent);
    assert_false(tu_exists(below));
    free(below);
    free(topic);
    free(ro);
    tu_rmrf(&dir);
}

/* A data directory that is a file, or below a file: exit 1, with the
 * reason. One whose parents are missing is created (mkdir -p). */
static void test_data_dir_not_a_directory(void **state)
{
    (void)state;
    char *dir = tu_tempdir("seglogd-nodir");
    char *file = tu_path(dir, "file");
    assert_int_equal(tu_write_file(file, "x", 1), 0);
    char *below = tu_path(file, "data");
    const char *paths[] = {file, below};
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"--data-dir",        paths[i], "--bind", "tcp://127.0.0.1:*", "--pub",
                              "tcp://127.0.0.1:*", NULL};
        int st = s_wait_exit(s_spawn(dir, args), TC_TIMEOUT_MS);
        const char *want[] = {"cannot use data directory", paths[i], "Not a directory",
                              "seglogd: cannot start", NULL};
        s_expect_refusal(dir, st, want);
    }
    char *deep = tu_path(dir, "missing/parents/data"), *eps = tu_path(dir, "endpoints");
    const char *args[] = {"--data-dir",        deep,    "--bind",
                          "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*",
                          "--endpoints-file",  eps,     NULL};
    pid_t pid = s_spawn(dir, args);
    assert_true(pid > 0);
    for (uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS; !tu_exists(eps);) {
        if (tc_now_ms() > deadline || waitpid(pid, NULL, WNOHANG) == pid) {
            kill(pid, SIGKILL);
            fail_msg("seglogd did not start on a data dir with missing parents");
        }
        s_nap_ms(5);
    }
    struct stat sb;
    assert_int_equal(stat(deep, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    kill(pid, SIGTERM);
    assert_int_equal(s_wait_exit(pid, 20000), 0);
    free(deep);
    free(eps);
    free(below);
    free(file);
    tu_rmrf(&dir);
}

/* ---- SIGTERM during load ------------------------------------------------ */

#define LOAD_THREADS 4
#define LOAD_MAX     400000

typedef struct {
    const char *endpoint;
    int id;
    atomic_int *stop;
    atomic_int *acked_total;
    uint64_t *offsets; /* acked: offsets[k] holds value "p<id>-<seq[k]>" */
    int *seqs;
    int nacked;
    int errors;
} load_t;

static const char *s_load_topic(int id)
{
    return id % 2 ? "load-odd" : "load-even";
}

static void *s_loader(void *arg)
{
    load_t *a = arg;
    tc_t *c = tc_new(a->endpoint, TC_DEALER);
    if (!c) {
        a->errors++;
        return NULL;
    }
    void *s = tc_socket(c);
    int sent = 0, window = 64;
    while (!atomic_load(a->stop)) {
        short ev = ZMQ_POLLIN;
        if (sent - a->nacked < window && sent < LOAD_MAX)
            ev |= ZMQ_POLLOUT;
        zmq_pollitem_t it = {.socket = s, .events = ev};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        if (it.revents & ZMQ_POLLOUT) {
            char v[32];
            snprintf(v, sizeof v, "p%d-%d", a->id, sent);
            Seglog__V1__Record rec = SEGLOG__V1__RECORD__INIT;
            rec.value.data = (uint8_t *)v;
            rec.value.len = strlen(v);
            Seglog__V1__Record *ptr = &rec;
            Seglog__V1__ProduceRequest p = SEGLOG__V1__PRODUCE_REQUEST__INIT;
            p.topic = (char *)s_load_topic(a->id);
            p.n_records = 1;
            p.records = &ptr;
            Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
            req.id = (uint64_t)sent;
            req.body_case = SEGLOG__V1__REQUEST__BODY_PRODUCE;
            req.produce = &p;
            size_t len;
            uint8_t *buf = tc_pack(&req, &len);
            if (zmq_send(s, buf, len, ZMQ_DONTWAIT) >= 0)
                sent++; /* request id == sequence number of the value */
            free(buf);
        }
        if (it.revents & ZMQ_POLLIN) {
            Seglog__V1__Response *r = tc_recv(c, 0);
            if (r && r->body_case == SEGLOG__V1__RESPONSE__BODY_PRODUCE && r->id < (uint64_t)sent) {
                a->offsets[a->nacked] = r->produce->offset;
                a->seqs[a->nacked] = (int)r->id;
                a->nacked++;
                atomic_fetch_add(a->acked_total, 1);
            } else {
                a->errors++;
            }
            tc_free(&r);
        }
    }
    tc_destroy(&c);
    return NULL;
}

static void test_sigterm_during_load(void **state)
{
    (void)state;
    child_t c;
    /* the default sync policy, interval:1000: the shutdown must sync */
    const char *extra[] = {"--segment-bytes", "256K", "--max-record-bytes", "1K", NULL};
    s_start(&c, extra);
    atomic_int stop = 0, acked = 0;
    load_t loads[LOAD_THREADS];
    pthread_t th[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        loads[i] = (load_t){.endpoint = c.bind, .id = i, .stop = &stop, .acked_total = &acked};
        loads[i].offsets = calloc(LOAD_MAX, sizeof *loads[i].offsets);
        loads[i].seqs = calloc(LOAD_MAX, sizeof *loads[i].seqs);
        assert_int_equal(pthread_create(&th[i], NULL, s_loader, &loads[i]), 0);
    }
    uint64_t deadline = tc_now_ms() + 60000;
    while (atomic_load(&acked) < 20000 && tc_now_ms() < deadline)
        s_nap_ms(5);
    assert_true(atomic_load(&acked) >= 20000);
    kill(c.pid, SIGTERM); /* the loaders keep sending */
    int status = s_wait_exit(c.pid, 30000);
    atomic_store(&stop, 1);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(status, 0);
    char *log = s_slurp(c.dir, "log");
    assert_non_null(strstr(log, "signal received signal=SIGTERM"));
    assert_non_null(strstr(log, "stopped clean=1"));
    free(log);

    /* Every acknowledged record is there, with its value; the logs were
     * closed cleanly. Read with the log core, not the server. */
    char *data = tu_path(c.dir, "data");
    int total = 0;
    for (int parity = 0; parity < 2; parity++) {
        char *dir = tu_path(data, parity ? "load-odd" : "load-even");
        seglog_log_t *log_h = NULL;
        assert_int_equal(seglog_log_open(dir, NULL, &log_h), 0);
        seglog_recovery_t rec;
        seglog_log_recovery(log_h, &rec);
        assert_int_equal(rec.clean, 1);
        for (int i = parity; i < LOAD_THREADS; i += 2) {
            assert_int_equal(loads[i].errors, 0);
            for (int k = 0; k < loads[i].nacked; k++) {
                void *buf = NULL;
                size_t len = 0;
                assert_int_equal(seglog_log_read_alloc(log_h, loads[i].offsets[k], &buf, &len), 0);
                Seglog__V1__Record *r = seglog__v1__record__unpack(NULL, len, buf);
                assert_non_null(r);
                char v[32];
                snprintf(v, sizeof v, "p%d-%d", i, loads[i].seqs[k]);
                assert_int_equal(r->value.len, strlen(v));
                assert_memory_equal(r->value.data, v, strlen(v));
                seglog__v1__record__free_unpacked(r, NULL);
                free(buf);
                total++;
            }
        }
        seglog_log_destroy(&log_h);
        free(dir);
    }
    assert_true(total >= 20000);
    for (int i = 0; i < LOAD_THREADS; i++) {
        free(loads[i].offsets);
        free(loads[i].seqs);
    }
    free(data);
    s_cleanup(&c);
}

/* Wall-clock milliseconds (the log's clock). */
static uint64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The time stamp of the log line containing `what`, in wall-clock ms. */
static uint64_t s_log_time_ms(const char *log, const char *what)
{
    const char *hit = strstr(log, what);
    assert_non_null(hit);
    const char *line = hit;
    while (line > log && line[-1] != '\n')
        line--;
    struct tm tm = {0};
    int ms = 0;
    assert_int_equal(sscanf(line, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                     7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (uint64_t)timegm(&tm) * 1000u + (uint64_t)ms;
}

/* SIGTERM with clients connected: exit promptly. An idle client holds
 * nothing. A client that reads none of its replies (its RCVHWM is 1, so
 * its libzmq stops taking them and the TCP buffers fill) cannot take them
 * and must not hold the exit after the clean shutdown ("stopped clean=1")
 * for long: with the ROUTER's old 1 s linger it held it 1 s. Returns the
 * ms from SIGTERM to exit and from "stopped" to exit. */
static void s_sigterm_exit_ms(int stuck, uint64_t *total, uint64_t *after_stop)
{
    child_t c;
    s_start(&c, NULL);
    tc_t *idle = tc_new(c.bind, TC_DEALER);
    size_t n = 64u << 10;
    char *v = malloc(n);
    memset(v, 'v', n);
    Seglog__V1__Response *r = tc_produce_bytes(idle, "big", v, n);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    free(v);
    void *reader = tc_raw_socket(ZMQ_DEALER);
    int one = 1;
    zmq_setsockopt(reader, ZMQ_RCVHWM, &one, sizeof one);
    assert_int_equal(zmq_connect(reader, c.bind), 0);
    if (stuck) {
        Seglog__V1__ConsumeRequest cr = SEGLOG__V1__CONSUME_REQUEST__INIT;
        cr.topic = "big";
        cr.max_records = 1;
        Seglog__V1__Request req = SEGLOG__V1__REQUEST__INIT;
        req.body_case = SEGLOG__V1__REQUEST__BODY_CONSUME;
        req.consume = &cr;
        for (int i = 0; i < 1000; i++) { /* 64 MiB of replies, never read */
            req.id = (uint64_t)i + 1;
            size_t len;
            uint8_t *buf = tc_pack(&req, &len);
            assert_int_equal(zmq_send(reader, buf, len, 0), (int)len);
            free(buf);
        }
    }
    /* A round trip from the idle client: the server is up and serving. */
    r = tc_offsets(idle, "big");
    assert_non_null(r);
    tc_free(&r);
    uint64_t t0 = tc_now_ms();
    kill(c.pid, SIGTERM);
    assert_int_equal(s_wait_exit(c.pid, 20000), 0);
    uint64_t exit_wall = s_wall_ms();
    *total = tc_now_ms() - t0;
    char *log = s_slurp(c.dir, "log");
    uint64_t stopped = s_log_time_ms(log, "stopped clean=1");
    *after_stop = exit_wall > stopped ? exit_wall - stopped : 0;
    free(log);
    tc_destroy(&idle);
    tc_raw_close(&reader);
    s_cleanup(&c);
}

static void test_sigterm_exits_promptly(void **state)
{
    (void)state;
    uint64_t total = 0, after = 0;
    s_sigterm_exit_ms(0, &total, &after);
    if (total > 300)
        fail_msg("SIGTERM with an idle client took %llu ms", (unsigned long long)total);
    s_sigterm_exit_ms(1, &total, &after);
    if (after > 600)
        fail_msg("with a client not reading its replies, seglogd exited %llu ms after "
                 "\"stopped clean=1\" (%llu ms after SIGTERM)",
                 (unsigned long long)after, (unsigned long long)total);
}

/* A frame over max_message_bytes is logged as a WARN with the limit; a
 * plain disconnect is logged plainly. */
static void test_oversized_and_disconnect_logging(void **state)
{
    (void)state;
    child_t c;
    const char *extra[] = {"--max-record-bytes", "4096", NULL};
    s_start(&c, extra);
    tc_t *cl = tc_new(c.bind, TC_DEALER);
    size_t n = 4 * 4096 + 65536 + 100;
    uint8_t *big = calloc(1, n);
    big[0] = 0x08; /* id = 5, then an unknown field filling the rest */
    big[1] = 0x05;
    assert_int_equal(tc_send_raw(cl, big, n), 0);
    free(big);
    Seglog__V1__Response *r = tc_recv(cl, TC_TIMEOUT_MS);
    assert_non_null(r);
    assert_int_equal(tc_error_code(r), SEGLOG__V1__ERROR_CODE__BAD_REQUEST);
    assert_int_equal(r->id, 5);
    tc_free(&r);
    tc_destroy(&cl);
    /* The disconnect line follows the close; then stop, so the log is whole. */
    kill(c.pid, SIGTERM);
    assert_int_equal(s_wait_exit(c.pid, 20000), 0);
    char *log = s_slurp(c.dir, "log");
    char want[128];
    snprintf(want, sizeof want, "WARN seglogd: refused oversized message worker=");
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof want, "bytes=%zu limit=%d", n, 4 * 4096 + 65536);
    assert_non_null(strstr(log, want));
    assert_null(strstr(log, "protocol error"));
    free(log);
    s_cleanup(&c);
}

/* A recovery that cut a torn tail is a WARN with its counts. */
static void test_recovery_is_a_warning(void **state)
{
    (void)state;
    child_t c;
    s_start(&c, NULL);
    tc_t *cl = tc_new(c.bind, TC_DEALER);
    Seglog__V1__Response *r = tc_produce_bytes(cl, "torn", "v", 1);
    assert_int_equal(r->body_case, SEGLOG__V1__RESPONSE__BODY_PRODUCE);
    tc_free(&r);
    tc_destroy(&cl);
    kill(c.pid, SIGKILL);
    s_wait_exit(c.pid, 20000);
    char *data = tu_path(c.dir, "data"), *topic = tu_path(data, "torn");
    char *store = tu_seg_path(topic, 0, ".store");
    /* After the one record (32-byte header, 8-byte frame header, 10 bytes
     * stored): a frame header that promises 100 bytes, with a bad CRC. */
    const uint8_t junk[12] = {100, 0, 0, 0, 1, 2, 3, 4, 'h', 'a', 'l', 'f'};
    assert_int_equal(tu_write_at(store, 50, junk, sizeof junk), 0);
    char *eps = tu_path(c.dir, "endpoints");
    unlink(eps);
    const char *args[] = {"--data-dir", data, "--bind", "tcp://127.0.0.1:*", "--pub",
                          "tcp://127.0.0.1:*", "--endpoints-file", eps, NULL};
    c.pid = s_spawn(c.dir, args);
    uint64_t deadline = tc_now_ms() + TC_TIMEOUT_MS;
    while (!tu_exists(eps) && tc_now_ms() < deadline)
        s_nap_ms(5);
    assert_true(tu_exists(eps));
    kill(c.pid, SIGTERM);
    assert_int_equal(s_wait_exit(c.pid, 20000), 0);
    char *log = s_slurp(c.dir, "log");
    char want[128];
    snprintf(want, sizeof want, "WARN seglogd: topic recovered topic=torn clean=0");
    if (!strstr(log, want))
        fail_msg("no \"%s\" in:\n%s", want, log);
    assert_null(strstr(log, "bytes_truncated=0 "));
    free(log);
    free(eps);
    free(store);
    free(topic);
    free(data);
    s_cleanup(&c);
}

static int s_teardown(void **state)
{
    (void)state;
    tc_ctx_term();
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_bad_options),
        cmocka_unit_test(test_endpoints_and_sigint),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_bind_failure),
        cmocka_unit_test(test_sigterm_during_load),
        cmocka_unit_test(test_read_only_data_dir),
        cmocka_unit_test(test_data_dir_not_a_directory),
        cmocka_unit_test(test_sigterm_exits_promptly),
        cmocka_unit_test(test_oversized_and_disconnect_logging),
        cmocka_unit_test(test_recovery_is_a_warning),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
