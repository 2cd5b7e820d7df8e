/*
 * options.h - seglogd's command line and config file.
 *
 * Every option is "--name VALUE" or "--name=VALUE" on the command line and
 * "name = VALUE" at the top level of a config file (czmq's ZPL format,
 * rfc.zeromq.org/spec:4/ZPL) given with --config FILE. The command line
 * wins over the file, whatever the order. Sizes take K, M or G (powers of
 * 1024).
 *
 * Ownership: sl_options_t owns copies of every string it holds;
 * sl_options_free() releases them. o->server points into those copies.
 */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include "seglog/server.h"

#include <stddef.h>
#include <stdio.h>

typedef struct sl_options {
    seglog_server_config_t server;
    char *endpoints_file; /* NULL: none */
    int log_level;        /* SL_LOG_* */
    int help;
    int version;
    char *owned[16]; /* string copies; freed by sl_options_free */
    int nowned;
} sl_options_t;

/* Parse argv (and the --config file it names) over the defaults. Returns
 * 0, or -1 with a one-line reason in err. */
int sl_options_parse(int argc, char **argv, sl_options_t *o, char *err, size_t errlen);

void sl_options_free(sl_options_t *o);

void sl_options_usage(FILE *out);

#endif
