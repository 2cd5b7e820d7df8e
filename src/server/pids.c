/* pids.c - see pids.h */
#include "pids.h"

#include "seglog/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sl_pids {
    pthread_mutex_t mu;
    char *dir;
    uint64_t prefix;   /* already shifted */
    uint64_t next;     /* the next n to hand out; written under mu (atomic store) */
    uint64_t reserved; /* n below this are reserved on disk */
    sl_pids_remote_fn *remote; /* cluster mode: the counter in ZooKeeper */
    void *remote_arg;
    int floor_known;           /* atomic: remote reserved once (next is past its counter) */
    char errmsg[300];          /* under mu: the remote's last error */
};

void sl_pids_set_remote(sl_pids_t *p, sl_pids_remote_fn *fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    p->remote = fn;
    p->remote_arg = arg;
    pthread_mutex_unlock(&p->mu);
}

static int s_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) < 0 ? errno : 0;
    close(fd);
    return rc;
}

/* Write "reserved\n" durably: temporary file, fdatasync, rename, dir fsync. */
static int s_store(sl_pids_t *p, uint64_t reserved)
{
    char tmp[4200], path[4200], text[32];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", p->dir, SL_PIDS_FILE);
    snprintf(path, sizeof path, "%s/%s", p->dir, SL_PIDS_FILE);
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", reserved);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int rc = write(fd, text, (size_t)n) == n ? 0 : errno ? errno : EIO;
    if (rc == 0 && fdatasync(fd) < 0)
        rc = errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = errno;
    if (rc == 0)
        rc = s_fsync_dir(p->dir);
    if (rc)
        unlink(tmp);
    return rc;
}

int sl_pids_new(const char *data_dir, int node_id, sl_pids_t **out)
{
    *out = NULL;
    if (strlen(data_dir) > 4000)
        return SEGLOG_E_INVAL;
    sl_pids_t *p = calloc(1, sizeof *p);
    if (!p || !(p->dir = strdup(data_dir))) {
        free(p);
        return SEGLOG_E_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->prefix = node_id < 0 ? 0 : ((uint64_t)node_id + 1) << SL_PIDS_N_BITS;
    char path[4200], text[32] = "";
    snprintf(path, sizeof path, "%s/%s", data_dir, SL_PIDS_FILE);
    FILE *f = fopen(path, "re");
    uint64_t reserved = 1; /* n starts at 1: id 0 means "not idempotent" */
    int rc = 0;
    if (f) {
        char *end = NULL;
        if (!fgets(text, sizeof text, f))
            rc = SEGLOG_E_CORRUPT;
        else {
            errno = 0;
            reserved = strtoull(text, &end, 10);
            if (errno || end == text || (*end != '\n' && *end) || reserved == 0 ||
                reserved >= (1ull << SL_PIDS_N_BITS))
                rc = SEGLOG_E_CORRUPT;
        }
        fclose(f);
    } else if (errno != ENOENT) {
        rc = errno;
    }
    if (rc) {
        sl_pids_destroy(&p);
        return rc;
    }
    p->next = p->reserved = reserved; /* ids below were (maybe) handed out before */
    *out = p;
    return 0;
}

void sl_pids_destroy(sl_pids_t **pp)
{
    if (!pp || !*pp)
        return;
    sl_pids_t *p = *pp;
    *pp = NULL;
    pthread_mutex_destroy(&p->mu);
    free(p->dir);
    free(p);
}

int sl_pids_next(sl_pids_t *p, uint64_t *id, char *msg, size_t cap)
{
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->remote && (p->next >= p->reserved || !__atomic_load_n(&p->floor_known, __ATOMIC_ACQUIRE))) {
        /* The block is reserved in ZooKeeper first: a node whose data
         * directory was lost continues after what it handed out before. */
        uint64_t start = 0, reserved = 0;
        rc = p->remote(p->remote_arg, p->next, SL_PIDS_BLOCK, 1ull << SL_PIDS_N_BITS, &start,
                       &reserved, msg, cap);
        if (rc == 0 && (rc = s_store(p, reserved)) == 0) {
            p->reserved = reserved;
            __atomic_store_n(&p->next, start, __ATOMIC_RELEASE);
            __atomic_store_n(&p->floor_known, 1, __ATOMIC_RELEASE);
        } else if (rc > 0) {
            snprintf(msg, cap, "%s", strerror(rc));
        }
    } else if (p->next >= p->reserved) {
        uint64_t r = p->next + SL_PIDS_BLOCK;
        if (r >= (1ull << SL_PIDS_N_BITS))
            rc = SEGLOG_E_INVAL; /* 2^40 ids used up: not reachable in practice */
        else if ((rc = s_store(p, r)) == 0)
            p->reserved = r;
        if (rc)
            snprintf(msg, cap, "%s", rc > 0 ? strerror(rc) : "2^40 ids used up");
    }
    if (rc == 0) {
        *id = p->prefix | p->next;
        /* Atomic for sl_pids_never_issued, which reads it holding no lock. */
        __atomic_store_n(&p->next, p->next + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int sl_pids_never_issued(sl_pids_t *p, uint64_t id)
{
    if ((id & ~((1ull << SL_PIDS_N_BITS) - 1)) != p->prefix)
        return 0;
    if (p->remote && !__atomic_load_n(&p->floor_known, __ATOMIC_ACQUIRE))
        return 0; /* not known before ZooKeeper's counter is read */
    /* Once per idempotent produce: one atomic load, no mutex. An id handed
     * out reached its client after the store that passed it. */
    return (id & ((1ull << SL_PIDS_N_BITS) - 1)) >= __atomic_load_n(&p->next, __ATOMIC_ACQUIRE);
}
