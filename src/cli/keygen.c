/* keygen.c - seglog keygen NAME [--dir DIR] [--force]: a CURVE certificate
 * pair with czmq's zcert (docs/SECURITY.md). NAME.key holds the public key
 * (give it to the other side: a client's goes into the server's
 * --clients-dir, the server's to its clients); NAME.key_secret holds both
 * keys and is written with mode 0600. The certificate's "name" metadata is
 * NAME, which ACL rules can name (name:NAME). */
#include "cli.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char s_usage[] =
    "usage: seglog keygen NAME [--dir DIR] [--force]\n"
    "\n"
    "Write a CURVE certificate pair: DIR/NAME.key (public) and DIR/NAME.key_secret\n"
    "(public and secret key, mode 0600), in czmq's zcert format, with name = NAME.\n"
    "  --dir DIR    where to write them (default: the current directory)\n"
    "  --force      overwrite existing files\n";

int cli_keygen(int argc, char **argv, cli_common_t *c)
{
    enum { OPT_DIR = CLI_OPT_FIRST_FREE, OPT_FORCE };
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS,
                                             {"dir", required_argument, NULL, OPT_DIR},
                                             {"force", no_argument, NULL, OPT_FORCE},
                                             {NULL, 0, NULL, 0}};
    const char *dir = ".";
    int force = 0, opt, exit_code;
    while ((opt = cli_next_option(argc, argv, ":t:h", longopts, c, s_usage, &exit_code)) != -1) {
        if (opt == CLI_OPT_EXIT)
            return exit_code;
        if (opt == OPT_DIR)
            dir = optarg;
        else if (opt == OPT_FORCE)
            force = 1;
        else
            return cli_usage_error(argv[0], "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error(argv[0], "keygen wants exactly one NAME");
    const char *name = argv[optind];
    if (!*name || strchr(name, '/') || strlen(name) > 64)
        return cli_usage_error(argv[0], "NAME must be 1..64 characters without '/'");
    char pub[4096], sec[4200];
    snprintf(pub, sizeof pub, "%s/%s.key", dir, name);
    snprintf(sec, sizeof sec, "%s_secret", pub);
    if (!force && (access(pub, F_OK) == 0 || access(sec, F_OK) == 0)) {
        cli_error("keygen: %s or %s exists (use --force to overwrite)", pub, sec);
        return CLI_EXIT_ERROR;
    }
    zsys_handler_set(NULL);
    zcert_t *cert = zcert_new();
    if (!cert) {
        cli_error("keygen: cannot make a key pair");
        return CLI_EXIT_ERROR;
    }
    zcert_set_meta(cert, "name", "%s", name);
    unlink(sec);
    int rc = zcert_save(cert, pub); /* writes pub and pub_secret */
    if (rc == 0)
        rc = chmod(sec, 0600);
    if (rc != 0) {
        cli_error("keygen: cannot write %s: %s", pub, strerror(errno));
        zcert_destroy(&cert);
        return CLI_EXIT_ERROR;
    }
    printf("%s\n%s\npublic key %s\n", pub, sec, zcert_public_txt(cert));
    zcert_destroy(&cert);
    return CLI_EXIT_OK;
}
