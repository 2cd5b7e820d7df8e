/* srv.c - see srv.h */
#include "srv.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SEGLOGD_PATH
#error "SEGLOGD_PATH must name the seglogd binary"
#endif

#define START_WAIT_MS 20000 /* sanitizer builds start slowly */

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *s_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Read "bind=" and "pub=" from the endpoints file; 0 once both are there. */
static int s_read_endpoints(srv_t *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[120];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "bind=", 5) == 0) {
            snprintf(s->endpoint, sizeof s->endpoint, "%s", line + 5);
            got |= 1;
        } else if (strncmp(line, "pub=", 4) == 0) {
            snprintf(s->pub_endpoint, sizeof s->pub_endpoint, "%s", line + 4);
            got |= 2;
        }
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

static int s_spawn(srv_t *s, const char *bind, const char *pub)
{
    char *data = s_join(s->dir, "data");
    char *epf = s_join(s->dir, "endpoints");
    if (!data || !epf) {
        free(data);
        free(epf);
        return -1;
    }
    unlink(epf);
    const char *argv[12 + SRV_MAX_ARGS] = {SEGLOGD_PATH, "--data-dir",  data,  "--bind",
                                           bind,         "--pub",       pub,   "--endpoints-file",
                                           epf,          "--log-level", "warn"};
    int argc = 11;
    for (int i = 0; i < SRV_MAX_ARGS && s->extra[i]; i++)
        argv[argc++] = s->extra[i];
    argv[argc] = NULL;

    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        free(data);
        free(epf);
        return -1;
    }
    if (pid == 0) {
        /* Die with the test, even when it crashes or fails half-way. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        execv(SEGLOGD_PATH, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    int rc = -1;
    for (int waited = 0; waited < START_WAIT_MS; waited += 10) {
        if (s_read_endpoints(s, epf) == 0) {
            rc = 0;
            break;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "srv: seglogd exited during start (status 0x%x)\n", status);
            s->pid = 0;
            break;
        }
        s_sleep_ms(10);
    }
    if (rc && s->pid)
        fprintf(stderr, "srv: seglogd did not report its endpoints in time\n");
    free(data);
    free(epf);
    return rc;
}

int srv_start(srv_t *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; extra && extra[i] && i < SRV_MAX_ARGS - 1; i++)
        s->extra[i] = extra[i];
    const char *tmp = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/seglog-client-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return -1;
    }
    s->dir = strdup(tmpl);
    if (!s->dir)
        return -1;
    return s_spawn(s, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
}

/* 0 if the child ended as asked: exit status 0 after SIGTERM (a clean
 * shutdown; under ASan also no leak), killed by SIGKILL after SIGKILL. */
static int s_judge(int sig, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status) && WTERMSIG(status) == sig && sig == SIGKILL)
        return 0;
    if (WIFEXITED(status))
        fprintf(stderr, "srv: seglogd exited with status %d\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        fprintf(stderr, "srv: seglogd died of signal %d\n", WTERMSIG(status));
    return -1;
}

int srv_stop(srv_t *s, int sig)
{
    if (!s->pid)
        return 0;
    kill(s->pid, sig);
    kill(s->pid, SIGCONT); /* a stopped server (SIGSTOP) must see the signal too */
    int status = 0;
    for (int waited = 0; waited < 30000; waited += 10) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            return s_judge(sig, status);
        }
        if (r < 0 && errno != EINTR) {
            s->pid = 0;
            return -1;
        }
        s_sleep_ms(10);
    }
    fprintf(stderr, "srv: seglogd did not stop in time\n");
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return -1;
}

int srv_restart(srv_t *s)
{
    if (s->pid && srv_stop(s, SIGTERM) != 0)
        return -1;
    char bind[128], pub[128];
    snprintf(bind, sizeof bind, "%s", s->endpoint);
    snprintf(pub, sizeof pub, "%s", s->pub_endpoint);
    /* The old process's port may take a moment to be free again. */
    for (int attempt = 0; attempt < 50; attempt++) {
        if (s_spawn(s, bind, pub) == 0)
            return 0;
        if (s->pid)
            srv_stop(s, SIGKILL);
        s_sleep_ms(100);
    }
    return -1;
}

int srv_relaunch(srv_t *s)
{
    if (s->pid)
        return -1;
    return s_spawn(s, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
}

/* 1 if every thread of pid is stopped ('T' in /proc/PID/task/TID/stat). */
static int s_all_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int all = 1;
    struct dirent *e;
    while (all && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char stat[128], buf[256];
        snprintf(stat, sizeof stat, "%s/%.20s/stat", path, e->d_name);
        FILE *f = fopen(stat, "r");
        if (!f)
            continue; /* the thread is gone */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *p = strrchr(buf, ')'); /* "tid (comm) S ..." */
        if (!p || p[1] != ' ' || p[2] != 'T')
            all = 0;
    }
    closedir(d);
    return all;
}

int srv_pause(srv_t *s)
{
    if (!s->pid || kill(s->pid, SIGSTOP) != 0)
        return -1;
    /* kill() only starts the group stop; wait until no thread can run. */
    for (int waited = 0; waited < 10000; waited += 1) {
        if (s_all_stopped(s->pid))
            return 0;
        s_sleep_ms(1);
    }
    return -1;
}

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int srv_rmrf(const char *path)
{
    return nftw(path, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *srv_topic_dir(const srv_t *s, const char *topic)
{
    char *data = s_join(s->dir, "data");
    char *p = data ? s_join(data, topic) : NULL;
    free(data);
    return p;
}

int srv_destroy(srv_t *s)
{
    int rc = srv_stop(s, SIGTERM);
    if (s->dir) {
        srv_rmrf(s->dir);
        free(s->dir);
        s->dir = NULL;
    }
    return rc;
}

int srv_fx_setup(void **state)
{
    *state = calloc(1, sizeof(srv_fx_t));
    return *state ? 0 : -1;
}

int srv_fx_teardown(void **state)
{
    srv_fx_t *f = *state;
    seglog_tail_destroy(&f->t);
    seglog_producer_destroy(&f->p);
    seglog_client_destroy(&f->c);
    int rc = srv_destroy(&f->srv);
    free(f);
    return rc;
}
