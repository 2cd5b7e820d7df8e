/* curve.c - reading CURVE certificates: seglog_curve_read_cert and
 * seglog_curve_read_key (seglog/client.h). The library does not link czmq
 * (client.h: no global state), so this reads the two lines of czmq's
 * certificate format (ZPL) it needs:
 *     curve
 *         public-key = "<40 Z85 characters>"
 *         secret-key = "<40 Z85 characters>"
 */
#include "seglog/client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The quoted value of `name = "..."` on line, when it is 40 characters. */
static int s_value(const char *line, const char *name, char out[41])
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0)
        return 0;
    line += n;
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line++ != '=')
        return 0;
    while (*line == ' ' || *line == '\t')
        line++;
    char q = *line;
    if (q == '"' || q == '\'')
        line++;
    else
        q = 0;
    size_t len = strcspn(line, q ? (q == '"' ? "\"" : "'") : " \t\r\n");
    if (len != 40)
        return -1;
    memcpy(out, line, 40);
    out[40] = '\0';
    return 1;
}

int seglog_curve_read_cert(const char *path, char pub[41], char sec[41], char *err, size_t cap)
{
    char secret_path[4096];
    pub[0] = sec[0] = '\0';
    snprintf(secret_path, sizeof secret_path, "%s_secret", path);
    const char *use = access(secret_path, R_OK) == 0 ? secret_path : path;
    FILE *f = fopen(use, "r");
    if (!f) {
        snprintf(err, cap, "cannot read certificate '%s': %s", path, strerror(errno));
        return SEGLOG_CLIENT_E_INVAL;
    }
    char line[512];
    int bad = 0;
    while (fgets(line, sizeof line, f)) {
        int r = s_value(line, "public-key", pub);
        if (r == 0)
            r = s_value(line, "secret-key", sec);
        bad |= r < 0;
    }
    fclose(f);
    if (bad || !pub[0]) {
        snprintf(err, cap, "'%s' is not a CURVE certificate (no 40-character public-key)", use);
        pub[0] = sec[0] = '\0';
        return SEGLOG_CLIENT_E_INVAL;
    }
    return 0;
}

int seglog_curve_read_key(const char *key_or_file, char out[41], char *err, size_t cap)
{
    if (strlen(key_or_file) == 40 && access(key_or_file, F_OK) != 0) {
        memcpy(out, key_or_file, 41);
        return 0;
    }
    /* The file itself, never NAME_secret: a server key is public. */
    FILE *f = fopen(key_or_file, "r");
    if (!f) {
        snprintf(err, cap, "'%s' is neither a 40-character Z85 key nor a readable certificate",
                 key_or_file);
        return SEGLOG_CLIENT_E_INVAL;
    }
    char line[512];
    out[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (s_value(line, "public-key", out) < 0)
            out[0] = '\0';
    fclose(f);
    if (!out[0]) {
        snprintf(err, cap, "'%s' is not a CURVE certificate (no public-key)", key_or_file);
        return SEGLOG_CLIENT_E_INVAL;
    }
    return 0;
}
