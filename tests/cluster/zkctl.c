/* zkctl - a real ZooKeeper (zkproc) for tests written in other languages
 * (tests/cluster/test_repl.py): starts it, prints "hosts 127.0.0.1:PORT" on
 * stdout, then obeys one command per line on stdin: "stop" (kill -9),
 * "restart" (same port and data), "deleteall PATH" (PATH and everything
 * under it, through the ZooKeeper C client, like zkCli's deleteall), each
 * answered "ok" or "fail". EOF or
 * "quit" kills it and exits; so does the death of the parent (zkproc's
 * PR_SET_PDEATHSIG covers the java process, and stdin's EOF us). */
#include "zkproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

/* Delete path and its subtree; a missing node is fine. */
static int s_rmr(zhandle_t *zh, const char *path)
{
    struct String_vector kids = {0, NULL};
    int rc = zoo_get_children(zh, path, 0, &kids);
    if (rc == ZNONODE)
        return 0;
    if (rc != ZOK)
        return -1;
    for (int i = 0; i < kids.count && rc == ZOK; i++) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, kids.data[i]);
        rc = s_rmr(zh, sub) == 0 ? ZOK : ZSYSTEMERROR;
    }
    deallocate_String_vector(&kids);
    if (rc != ZOK)
        return -1;
    rc = zoo_delete(zh, path, -1);
    return rc == ZOK || rc == ZNONODE ? 0 : -1;
}

static int s_deleteall(const char *hosts, const char *path)
{
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zhandle_t *zh = zookeeper_init(hosts, NULL, 10000, NULL, NULL, 0);
    if (!zh)
        return -1;
    int rc = -1;
    for (int i = 0; i < 1000; i++) { /* at most 10 s */
        if (zoo_state(zh) == ZOO_CONNECTED_STATE) {
            rc = s_rmr(zh, path);
            break;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    zookeeper_close(zh);
    return rc;
}

int main(int argc, char **argv)
{
    int tick = argc > 1 ? atoi(argv[1]) : 100;
    zkproc_t *zk = zkproc_start(tick > 0 ? tick : 100);
    if (!zk)
        return 1;
    printf("hosts %s\n", zkproc_hosts(zk));
    fflush(stdout);
    char line[1100];
    while (fgets(line, sizeof line, stdin)) {
        int ok;
        if (strncmp(line, "stop", 4) == 0)
            ok = zkproc_stop(zk) == 0;
        else if (strncmp(line, "restart", 7) == 0)
            ok = zkproc_restart(zk) == 0;
        else if (strncmp(line, "deleteall ", 10) == 0) {
            line[strcspn(line, "\n")] = 0;
            ok = s_deleteall(zkproc_hosts(zk), line + 10) == 0;
        } else if (strncmp(line, "quit", 4) == 0)
            break;
        else
            ok = 0;
        printf("%s\n", ok ? "ok" : "fail");
        fflush(stdout);
    }
    zkproc_destroy(&zk);
    return 0;
}
