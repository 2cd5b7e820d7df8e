/* zkproc.c - see zkproc.h. */
#include "zkproc.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_PROCS 16
#define S_START_MS 30000

struct zkproc {
    char dir[256];
    char hosts[64];
    int port;
    int tick_ms;
    pid_t pid;
};

static pid_t s_pids[S_MAX_PROCS];

static void s_kill_all(void)
{
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_pids[i] > 0) {
            kill(s_pids[i], SIGKILL);
            waitpid(s_pids[i], NULL, 0);
            s_pids[i] = 0;
        }
}

static void s_track(pid_t pid, int add)
{
    static int registered;
    if (!registered) {
        atexit(s_kill_all);
        registered = 1;
    }
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (add ? s_pids[i] == 0 : s_pids[i] == pid) {
            s_pids[i] = add ? pid : 0;
            return;
        }
}

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *) &a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int s_write(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int s_config(zkproc_t *self)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "tickTime=%d\n"
             "dataDir=%s/data\n"
             "clientPort=%d\n"
             "clientPortAddress=127.0.0.1\n"
             "admin.enableServer=false\n"
             "4lw.commands.whitelist=ruok\n"
             "maxClientCnxns=0\n"
             "maxSessionTimeout=60000\n"
             "forceSync=no\n",
             self->tick_ms, self->dir, self->port);
    return s_write(self->dir, "zoo.cfg", cfg);
}

/* "ruok" -> "imok" within 500 ms: 1 yes, 0 no. */
static int s_ruok(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[8] = {0};
    size_t got = 0;
    if (connect(fd, (struct sockaddr *) &a, sizeof a) == 0 && write(fd, "ruok", 4) == 4) {
        long long deadline = s_now_ms() + 500;
        while (got < 4) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            long long left = deadline - s_now_ms();
            if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                break;
            ssize_t r = read(fd, buf + got, 4 - got);
            if (r <= 0)
                break;
            got += (size_t) r;
        }
    }
    close(fd);
    return got == 4 && memcmp(buf, "imok", 4) == 0;
}

static int s_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

static pid_t s_spawn(zkproc_t *self)
{
    char cp[1024], cfg[512], logp[512];
    snprintf(cp, sizeof cp, "%s:/usr/share/java/zookeeper.jar", self->dir);
    /* A log4j binding, when Debian has it, so warnings reach zk.log;
     * without one slf4j is silent (NOP). */
    if (s_exists("/usr/share/java/slf4j-log4j12.jar") && s_exists("/usr/share/java/log4j-1.2.jar"))
        strncat(cp, ":/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
                sizeof cp - strlen(cp) - 1);
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", self->dir);
    snprintf(logp, sizeof logp, "%s/zk.log", self->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int nul = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    if (nul >= 0)
        dup2(nul, 0);
    execlp("java", "java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
           "-Dzookeeper.preAllocSize=1024", "-Dzookeeper.jmx.log4j.disable=true", "-cp", cp,
           "org.apache.zookeeper.server.ZooKeeperServerMain", cfg, (char *) NULL);
    _exit(127);
}

/* Spawns and waits for "imok". 0, or -1 (the process is reaped). */
static int s_run(zkproc_t *self)
{
    self->pid = s_spawn(self);
    if (self->pid < 0)
        return -1;
    s_track(self->pid, 1);
    long long deadline = s_now_ms() + S_START_MS;
    while (s_now_ms() < deadline) {
        if (s_ruok(self->port))
            return 0;
        int status;
        if (waitpid(self->pid, &status, WNOHANG) == self->pid) {
            s_track(self->pid, 0);
            self->pid = 0;
            return -1; /* exited: port taken, or java missing */
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL); /* a bounded readiness probe */
    }
    zkproc_stop(self);
    return -1;
}

zkproc_t *zkproc_start(int tick_ms)
{
    zkproc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    const char *tmp = getenv("TMPDIR");
    snprintf(self->dir, sizeof self->dir, "%s/seglog-zk.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(self->dir)) {
        free(self);
        return NULL;
    }
    self->tick_ms = tick_ms;
    char data[300];
    snprintf(data, sizeof data, "%s/data", self->dir);
    mkdir(data, 0755);
    s_write(self->dir, "log4j.properties",
            "log4j.rootLogger=WARN, CONSOLE\n"
            "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p %c{1}: %m%n\n");
    for (int attempt = 0; attempt < 5; attempt++) {
        self->port = s_free_port();
        snprintf(self->hosts, sizeof self->hosts, "127.0.0.1:%d", self->port);
        if (self->port > 0 && s_config(self) == 0 && s_run(self) == 0)
            return self;
    }
    fprintf(stderr, "zkproc: zookeeper did not start; see %s/zk.log\n", self->dir);
    self->pid = 0;
    zkproc_destroy(&self);
    return NULL;
}

const char *zkproc_hosts(zkproc_t *self)
{
    return self->hosts;
}

int zkproc_port(zkproc_t *self)
{
    return self->port;
}

int zkproc_running(zkproc_t *self)
{
    return self->pid > 0 && waitpid(self->pid, NULL, WNOHANG) == 0;
}

int zkproc_stop(zkproc_t *self)
{
    if (self->pid <= 0)
        return -1;
    kill(self->pid, SIGKILL);
    int rc = waitpid(self->pid, NULL, 0) == self->pid ? 0 : -1;
    s_track(self->pid, 0);
    self->pid = 0;
    return rc;
}

int zkproc_restart(zkproc_t *self)
{
    if (self->pid > 0)
        zkproc_stop(self);
    /* The port was ours a moment ago; ZooKeeper binds with SO_REUSEADDR. */
    for (int attempt = 0; attempt < 3; attempt++)
        if (s_run(self) == 0)
            return 0;
    return -1;
}

void zkproc_destroy(zkproc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zkproc_t *self = *self_p;
    if (self->pid > 0)
        zkproc_stop(self);
    if (!getenv("ZKPROC_KEEP")) {
        char *dir = strdup(self->dir);
        tu_rmrf(&dir);
    }
    free(self);
    *self_p = NULL;
}
