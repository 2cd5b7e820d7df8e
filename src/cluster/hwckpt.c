/* hwckpt.c - see hwckpt.h */
#include "hwckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER         "seglog-hw-checkpoint 1\n"
#define LINE_MAX_BYTES (SL_CL_TOPIC_MAX + 1 + 16 + 1 + 20 + 1)

char *sl_hwckpt_format(const sl_hwckpt_entry_t *e, int n, size_t *len)
{
    size_t cap = sizeof HEADER + 24 + (size_t)(n > 0 ? n : 0) * (LINE_MAX_BYTES + 1);
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t at = (size_t)snprintf(buf, cap, "%s%d\n", HEADER, n > 0 ? n : 0);
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s %016" PRIx64 " %" PRIu64 "\n", e[i].name,
                               e[i].log_id, e[i].hw);
    *len = at;
    return buf;
}

/* One line of the text at *p (up to end): its bytes without the newline
 * copied into out (cap bytes, NUL-terminated). -1 if there is no newline,
 * it is too long, or it holds a NUL. */
static int s_line(const char **p, const char *end, char *out, size_t cap)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl || (size_t)(nl - *p) >= cap || memchr(*p, '\0', (size_t)(nl - *p)))
        return -1;
    memcpy(out, *p, (size_t)(nl - *p));
    out[nl - *p] = '\0';
    *p = nl + 1;
    return 0;
}

/* A decimal without sign or leading zeros (but "0"), at most max. */
static int s_dec(const char *s, uint64_t max, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Exactly 16 lowercase hex digits, not all zero. */
static int s_hex16(const char *s, uint64_t *out)
{
    if (strlen(s) != 16)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return v ? 0 : -1;
}

static int s_entry(char *line, sl_hwckpt_entry_t *e)
{
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
        return -1;
    *sp1 = *sp2 = '\0';
    size_t nlen = (size_t)(sp1 - line);
    if (!sl_cl_topic_name_ok(line) || nlen >= sizeof e->name || s_hex16(sp1 + 1, &e->log_id) ||
        s_dec(sp2 + 1, INT64_MAX, &e->hw))
        return -1;
    memcpy(e->name, line, nlen + 1);
    return 0;
}

int sl_hwckpt_parse(const char *text, size_t len, sl_hwckpt_entry_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    const char *p = text, *end = text + len;
    char line[LINE_MAX_BYTES + 1];
    uint64_t count = 0;
    if (len < sizeof HEADER - 1 || memcmp(p, HEADER, sizeof HEADER - 1))
        return SL_CL_EBADDATA;
    p += sizeof HEADER - 1;
    if (s_line(&p, end, line, sizeof line) || s_dec(line, 1u << 24, &count))
        return SL_CL_EBADDATA;
    /* every entry line takes at least 21 bytes: no allocation on a lie */
    if (count > (uint64_t)(end - p) / 21)
        return SL_CL_EBADDATA;
    sl_hwckpt_entry_t *e = count ? calloc((size_t)count, sizeof *e) : NULL;
    if (count && !e)
        return SL_CL_ENOMEM;
    for (uint64_t i = 0; i < count; i++) {
        int dup = 0;
        if (s_line(&p, end, line, sizeof line) || s_entry(line, &e[i]))
            goto bad;
        for (uint64_t j = 0; j < i && !dup; j++)
            dup = strcmp(e[j].name, e[i].name) == 0;
        if (dup)
            goto bad;
    }
    if (p != end)
        goto bad;
    *out = e;
    *n = (int)count;
    return 0;
bad:
    free(e);
    return SL_CL_EBADDATA;
}

int sl_hwckpt_load(const char *dir, sl_hwckpt_entry_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, SL_HWCKPT_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? errno : 0;
    if (rc == 0 && (!S_ISREG(st.st_mode) || st.st_size > (off_t)SL_HWCKPT_MAX_BYTES))
        rc = SL_CL_EBADDATA;
    size_t len = rc == 0 ? (size_t)st.st_size : 0, got = 0;
    char *buf = rc == 0 ? malloc(len + 1) : NULL;
    if (rc == 0 && !buf)
        rc = SL_CL_ENOMEM;
    while (rc == 0 && got < len) {
        ssize_t k = read(fd, buf + got, len - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            rc = k < 0 ? errno : SL_CL_EBADDATA; /* shorter than its size */
        else
            got += (size_t)k;
    }
    close(fd);
    if (rc == 0)
        rc = sl_hwckpt_parse(buf, len, out, n);
    free(buf);
    return rc;
}

int sl_hwckpt_store(const char *dir, const char *text, size_t len)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, SL_HWCKPT_FILE);
    snprintf(path, sizeof path, "%s/%s", dir, SL_HWCKPT_FILE);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0)
        return errno;
    for (size_t at = 0; rc == 0 && at < len;) {
        ssize_t k = write(fd, text + at, len - at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            rc = k < 0 ? errno : EIO;
        else
            at += (size_t)k;
    }
    if (rc == 0 && fdatasync(fd) < 0)
        rc = errno;
    if (close(fd) < 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    rc = fsync(dfd) < 0 ? errno : 0;
    close(dfd);
    return rc;
}
