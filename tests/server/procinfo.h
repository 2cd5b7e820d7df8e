/*
 * procinfo.h - what /proc says about a (server) process, for the abuse
 * and slow-subscriber tests: open descriptors and resident memory, and the
 * memory bound those tests hold seglogd to.
 */
#ifndef PROCINFO_H
#define PROCINFO_H

#include <stdint.h>
#include <sys/types.h>

/* The bound on seglogd's resident memory (VmRSS) under abuse, as
 * docs/PROTOCOL.md states it. */
#define PI_RSS_BOUND_MIB 256

/* Entries in /proc/<pid>/fd, or -1. */
int pi_fd_count(pid_t pid);

/* VmRSS of /proc/<pid>/status in KiB, or -1. */
long pi_rss_kib(pid_t pid);

/* The RSS bound to check in this build, in KiB: PI_RSS_BOUND_MIB, plus
 * the sanitizer runtime's own memory when the build has one (its shadow
 * memory and ASan's quarantine of freed blocks are not server memory). */
long pi_rss_bound_kib(void);

/* 1 in an ASan or TSan build (the server runs several times slower). */
int pi_sanitized(void);

#endif
