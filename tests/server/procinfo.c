/* procinfo.c - see procinfo.h */
#include "procinfo.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PI_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PI_SANITIZED 1
#endif
#endif
#ifndef PI_SANITIZED
#define PI_SANITIZED 0
#endif

/* ASan keeps up to 256 MiB of freed memory in quarantine and TSan adds
 * shadow and history memory in proportion; neither is the server's. */
#define PI_SANITIZER_EXTRA_MIB 768

int pi_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

long pi_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0 && sscanf(line + 6, "%ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

long pi_rss_bound_kib(void)
{
    return ((long)PI_RSS_BOUND_MIB + (PI_SANITIZED ? PI_SANITIZER_EXTRA_MIB : 0)) * 1024;
}

int pi_sanitized(void)
{
    return PI_SANITIZED;
}
