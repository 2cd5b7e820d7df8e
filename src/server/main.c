/*
 * main.c - seglogd: options, signals, the server object.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread (the mask is set
 * before the server starts its threads, which inherit it), and the main
 * thread waits for them with sigwait(). So no handler runs at an arbitrary
 * point, and shutdown is ordinary code: seglog_server_stop(). czmq is used
 * only for its config parser; its own SIGINT/SIGTERM handlers are switched
 * off before anything else.
 */
#include "options.h"
#include "seglog/server.h"
#include "slog.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef SEGLOG_VERSION
#define SEGLOG_VERSION "0"
#endif

/* Each topic holds a few descriptors per segment; ask for what we may. */
static void s_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Write "bind=...", "pub=..." (and "http=...") to path via a temporary file and rename,
 * so a reader never sees half a file. */
static int s_write_endpoints(const char *path, const seglog_server_t *s)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp)
        return ENOMEM;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = f ? 0 : errno;
    if (f) {
        fprintf(f, "bind=%s\npub=%s\n", seglog_server_endpoint(s), seglog_server_pub_endpoint(s));
        if (seglog_server_http_endpoint(s))
            fprintf(f, "http=%s\n", seglog_server_http_endpoint(s));
        if (fflush(f) != 0 || fsync(fileno(f)) != 0)
            rc = errno;
        if (fclose(f) != 0 && !rc)
            rc = errno;
    }
    if (!rc && rename(tmp, path) != 0)
        rc = errno;
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL); /* we own SIGINT/SIGTERM, see above */

    sl_options_t opt;
    char err[512];
    if (sl_options_parse(argc, argv, &opt, err, sizeof err) != 0) {
        fprintf(stderr, "seglogd: %s\nTry 'seglogd --help'.\n", err);
        sl_options_free(&opt);
        return 2;
    }
    if (opt.help || opt.version) {
        if (opt.help)
            sl_options_usage(stdout);
        else
            printf("seglogd %s\n", SEGLOG_VERSION);
        sl_options_free(&opt);
        return 0;
    }
    sl_log_set_level(opt.log_level);
    s_raise_nofile();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    seglog_server_t *server = NULL;
    int rc = seglog_server_new(&opt.server, &server);
    if (rc) {
        fprintf(stderr, "seglogd: cannot start: %s\n", seglog_server_strerror(rc));
        sl_options_free(&opt);
        return 1;
    }
    if (opt.endpoints_file && (rc = s_write_endpoints(opt.endpoints_file, server)) != 0) {
        sl_log(SL_LOG_ERROR, "cannot write endpoints file path=%s error=\"%s\"", opt.endpoints_file,
               strerror(rc));
        seglog_server_destroy(&server);
        sl_options_free(&opt);
        return 1;
    }

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    sl_log(SL_LOG_INFO, "signal received signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = seglog_server_stop(server);
    seglog_server_destroy(&server);
    sl_options_free(&opt);
    return rc ? 1 : 0;
}
