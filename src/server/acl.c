/* acl.c - see acl.h */
#include "acl.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

typedef struct {
    enum { WHO_ANY, WHO_NAME, WHO_KEY } kind;
    char who[SL_NAME_MAX + 1];
    char *pattern;
    unsigned rights;
} rule_t;

struct sl_acl {
    rule_t *rules;
    size_t n;
};

static int s_fail(char *err, size_t errlen, const char *path, int line, const char *why)
{
    snprintf(err, errlen, "acl %s:%d: %s", path, line, why);
    return -1;
}

static int s_rights(char *s, unsigned *out)
{
    *out = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "produce") == 0)
            *out |= SL_ACL_PRODUCE;
        else if (strcmp(t, "consume") == 0)
            *out |= SL_ACL_CONSUME;
        else if (strcmp(t, "admin") == 0)
            *out |= SL_ACL_ADMIN;
        else if (strcmp(t, "replicate") == 0)
            *out |= SL_ACL_REPLICATE;
        else if (strcmp(t, "all") == 0)
            *out |= SL_ACL_ALL;
        else
            return -1;
    }
    return *out ? 0 : -1;
}

/* One non-comment line into r. */
static int s_rule(char *line, rule_t *r, const char **why)
{
    char *save = NULL;
    char *who = strtok_r(line, " \t\r\n", &save);
    char *pat = strtok_r(NULL, " \t\r\n", &save);
    char *rights = strtok_r(NULL, " \t\r\n", &save);
    if (!who || !pat || !rights || strtok_r(NULL, " \t\r\n", &save)) {
        *why = "expected three fields: CLIENT TOPIC-PATTERN RIGHTS";
        return -1;
    }
    memset(r, 0, sizeof *r);
    if (strcmp(who, "*") == 0) {
        r->kind = WHO_ANY;
    } else if (strncmp(who, "name:", 5) == 0 && who[5] && strlen(who + 5) <= SL_NAME_MAX) {
        r->kind = WHO_NAME;
        strcpy(r->who, who + 5);
    } else if (strncmp(who, "key:", 4) == 0 && strlen(who + 4) == SL_KEY_Z85_LEN) {
        r->kind = WHO_KEY;
        strcpy(r->who, who + 4);
    } else {
        *why = "client must be name:NAME, key:<40-character Z85 public key> or *";
        return -1;
    }
    if (s_rights(rights, &r->rights)) {
        *why = "rights must be a comma-separated list of produce, consume, admin, replicate, all";
        return -1;
    }
    if (!(r->pattern = strdup(pat))) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

int sl_acl_load(const char *path, sl_acl_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "acl: cannot read \"%s\": %s", path, strerror(errno));
        return -1;
    }
    sl_acl_t *acl = calloc(1, sizeof *acl);
    size_t cap = 0;
    char buf[1024];
    int lineno = 0, rc = acl ? 0 : s_fail(err, errlen, path, 0, "out of memory");
    while (rc == 0 && fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n') {
            rc = s_fail(err, errlen, path, lineno, "line too long");
            break;
        }
        char *p = buf;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        if (acl->n == cap) {
            cap = cap ? cap * 2 : 16;
            rule_t *v = realloc(acl->rules, cap * sizeof *v);
            if (!v) {
                rc = s_fail(err, errlen, path, lineno, "out of memory");
                break;
            }
            acl->rules = v;
        }
        const char *why = NULL;
        if (s_rule(p, &acl->rules[acl->n], &why))
            rc = s_fail(err, errlen, path, lineno, why);
        else
            acl->n++;
    }
    fclose(f);
    if (rc) {
        sl_acl_destroy(&acl);
        return -1;
    }
    *out = acl;
    return 0;
}

static int s_names(const rule_t *r, const sl_principal_t *who)
{
    switch (r->kind) {
    case WHO_ANY:
        return who->key[0] != '\0';
    case WHO_NAME:
        return who->name[0] && strcmp(r->who, who->name) == 0;
    case WHO_KEY:
        return strcmp(r->who, who->key) == 0;
    }
    return 0;
}

int sl_acl_allows(const sl_acl_t *acl, const sl_principal_t *who, const char *topic,
                  unsigned right)
{
    for (size_t i = 0; i < acl->n; i++) {
        const rule_t *r = &acl->rules[i];
        if ((r->rights & right) && s_names(r, who) && fnmatch(r->pattern, topic, 0) == 0)
            return 1;
    }
    return 0;
}

int sl_acl_any(const sl_acl_t *acl, const sl_principal_t *who, const char *topic)
{
    return sl_acl_allows(acl, who, topic, SL_ACL_ALL);
}

const char *sl_acl_right_name(unsigned right)
{
    switch (right) {
    case SL_ACL_PRODUCE:
        return "produce";
    case SL_ACL_CONSUME:
        return "consume";
    case SL_ACL_ADMIN:
        return "admin";
    case SL_ACL_REPLICATE:
        return "replicate";
    default:
        return "?";
    }
}

int sl_principal_from_msg(sl_principal_t *who, void *zmq_msg)
{
    const char *key = zmq_msg_gets(zmq_msg, "User-Id");
    who->key[0] = who->name[0] = '\0';
    if (!key || strlen(key) != SL_KEY_Z85_LEN)
        return -1;
    memcpy(who->key, key, SL_KEY_Z85_LEN + 1);
    const char *name = zmq_msg_gets(zmq_msg, "name");
    if (name && strlen(name) <= SL_NAME_MAX)
        strcpy(who->name, name);
    return 0;
}

const char *sl_principal_str(const sl_principal_t *who, char *buf, size_t cap)
{
    if (who->name[0])
        snprintf(buf, cap, "name:%s", who->name);
    else
        snprintf(buf, cap, "key:%s", who->key[0] ? who->key : "(none)");
    return buf;
}

void sl_acl_destroy(sl_acl_t **acl_p)
{
    sl_acl_t *acl = *acl_p;
    if (!acl)
        return;
    for (size_t i = 0; i < acl->n; i++)
        free(acl->rules[i].pattern);
    free(acl->rules);
    free(acl);
    *acl_p = NULL;
}
