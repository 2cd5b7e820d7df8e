/* topics_dir.c - see topics_dir.h */
#include "topics_dir.h"

#include "errors.h"
#include "slog.h"
#include "topics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove a tombstone directory (a log directory holds files only). */
int sl_tdir_remove_tomb(int dir_fd, const char *name)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            unlinkat(dirfd(d), de->d_name, 0) < 0 && !rc)
            rc = errno;
    closedir(d);
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && !rc)
        rc = errno;
    return rc;
}

/* 1 if name is a deletion's tombstone: VALIDNAME~deleted~HEX. */
static int s_is_tomb(const char *name)
{
    const char *m = strstr(name, SL_TOMB_MARK);
    if (!m || !sl_topic_name_valid(name, (size_t)(m - name)))
        return 0;
    const char *hex = m + strlen(SL_TOMB_MARK);
    return *hex && strspn(hex, "0123456789abcdef") == strlen(hex);
}

int sl_tdir_mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return SEGLOG_E_NOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = errno;
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rc;
}

/* Create and remove a file in the data directory: a read-only mount (or
 * a directory we may not write) must stop the server at start, not fail
 * every produce later. Asking access(2) instead would miss what only a
 * real create finds (immutable directories, some network file systems).
 * The name is not a topic name's directory, so a probe left behind by a
 * crash is ignored by the scan and replaced by the next start. */
int sl_tdir_probe_writable(int dir_fd)
{
    static const char probe[] = ".seglogd-write-probe";
    int fd = openat(dir_fd, probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    return unlinkat(dir_fd, probe, 0) < 0 ? errno : 0;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the topic directories in the data directory, sorted. */
int sl_tdir_scan(int dir_fd, char ***names_out, size_t *n_out)
{
    int fd = dup(dir_fd);
    if (fd < 0)
        return errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return e;
    }
    rewinddir(d);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (s_is_tomb(de->d_name)) {
            /* A delete that a crash interrupted after its rename: finish it. */
            int e = sl_tdir_remove_tomb(dir_fd, de->d_name);
            sl_log(e ? SL_LOG_WARN : SL_LOG_INFO, "finished deleting topic dir=%s error=\"%s\"",
                   de->d_name, e ? sl_strerror(e) : "none");
            continue;
        }
        if (!sl_topic_name_valid(de->d_name, strlen(de->d_name))) {
            char q[300];
            sl_log(SL_LOG_WARN, "ignoring directory that is not a topic name dir=%s",
                   sl_log_quote(q, sizeof q, de->d_name, strlen(de->d_name)));
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = SEGLOG_E_NOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = SEGLOG_E_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof *names, s_cmp_str);
    *names_out = names;
    *n_out = n;
    return 0;
}

