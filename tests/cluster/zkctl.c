/* zkctl - a real ZooKeeper (zkproc) for tests written in other languages
 * (tests/cluster/test_repl.py): starts it, prints "hosts 127.0.0.1:PORT" on
 * stdout, then obeys one command per line on stdin: "stop" (kill -9),
 * "restart" (same port and data), each answered "ok" or "fail". EOF or
 * "quit" kills it and exits; so does the death of the parent (zkproc's
 * PR_SET_PDEATHSIG covers the java process, and stdin's EOF us). */
#include "zkproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int tick = argc > 1 ? atoi(argv[1]) : 100;
    zkproc_t *zk = zkproc_start(tick > 0 ? tick : 100);
    if (!zk)
        return 1;
    printf("hosts %s\n", zkproc_hosts(zk));
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        int ok;
        if (strncmp(line, "stop", 4) == 0)
            ok = zkproc_stop(zk) == 0;
        else if (strncmp(line, "restart", 7) == 0)
            ok = zkproc_restart(zk) == 0;
        else if (strncmp(line, "quit", 4) == 0)
            break;
        else
            ok = 0;
        printf("%s\n", ok ? "ok" : "fail");
        fflush(stdout);
    }
    zkproc_destroy(&zk);
    return 0;
}
