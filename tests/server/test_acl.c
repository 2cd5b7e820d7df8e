/* test_acl.c - the ACL file (src/server/acl.h) and the security options. */
#include "acl.h"
#include "options.h"
#include "security.h"
#include "testutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define KEY_A "Ws*:5I4s7ys8=1L0}Im@xeC)9dPr^(Yke?2qU0mQ"
#define KEY_B "EuY)W<{L-+i5RFZPg.xNGEij(7}3=v/&U{&JX?F-"

static char s_path[256];

static int s_load(const char *text, sl_acl_t **acl, char *err)
{
    snprintf(s_path, sizeof s_path, "/tmp/seglog-test-acl-%d", (int)getpid());
    FILE *f = fopen(s_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    int rc = sl_acl_load(s_path, acl, err, 256);
    unlink(s_path);
    return rc;
}

static sl_principal_t s_who(const char *key, const char *name)
{
    sl_principal_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.key, sizeof p.key, "%s", key);
    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

static void test_matrix(void **state)
{
    (void)state;
    char err[256];
    sl_acl_t *acl = NULL;
    assert_int_equal(s_load("# comment\n"
                            "\n"
                            "name:alice  orders      produce\n"
                            "  name:bob  orders*     consume,admin\r\n"
                            "key:" KEY_B " logs.?   produce,consume\n"
                            "*           public      consume\n"
                            "name:root   *           all\n",
                            &acl, err),
                     0);
    sl_principal_t alice = s_who(KEY_A, "alice"), bob = s_who(KEY_A, "bob");
    sl_principal_t keyb = s_who(KEY_B, ""), anon = s_who(KEY_A, ""), none = s_who("", "");
    sl_principal_t root = s_who(KEY_A, "root");
    assert_true(sl_acl_allows(acl, &alice, "orders", SL_ACL_PRODUCE));
    assert_false(sl_acl_allows(acl, &alice, "orders", SL_ACL_CONSUME));
    assert_false(sl_acl_allows(acl, &alice, "orders-eu", SL_ACL_PRODUCE)); /* exact */
    assert_true(sl_acl_allows(acl, &bob, "orders-eu", SL_ACL_CONSUME));    /* glob */
    assert_true(sl_acl_allows(acl, &bob, "orders", SL_ACL_ADMIN));
    assert_false(sl_acl_allows(acl, &bob, "orders", SL_ACL_PRODUCE));
    assert_true(sl_acl_allows(acl, &keyb, "logs.1", SL_ACL_CONSUME));
    assert_false(sl_acl_allows(acl, &keyb, "logs.12", SL_ACL_CONSUME));
    assert_true(sl_acl_allows(acl, &anon, "public", SL_ACL_CONSUME)); /* any known key */
    assert_false(sl_acl_allows(acl, &anon, "public", SL_ACL_PRODUCE));
    assert_false(sl_acl_allows(acl, &none, "public", SL_ACL_CONSUME)); /* no identity */
    assert_true(sl_acl_allows(acl, &root, "anything", SL_ACL_REPLICATE));
    assert_false(sl_acl_allows(acl, &anon, "orders", SL_ACL_CONSUME)); /* default deny */
    assert_true(sl_acl_any(acl, &alice, "orders"));
    assert_false(sl_acl_any(acl, &alice, "logs.1"));
    sl_acl_destroy(&acl);
    assert_null(acl);
}

static void test_bad_files(void **state)
{
    (void)state;
    char err[256];
    sl_acl_t *acl = NULL;
    assert_int_equal(s_load("name:a orders\n", &acl, err), -1);
    assert_non_null(strstr(err, ":1: expected three fields"));
    assert_int_equal(s_load("# ok\nname:a orders write\n", &acl, err), -1);
    assert_non_null(strstr(err, ":2: rights"));
    assert_int_equal(s_load("key:short orders produce\n", &acl, err), -1);
    assert_non_null(strstr(err, "client must be"));
    assert_int_equal(s_load("alice orders produce\n", &acl, err), -1);
    assert_int_equal(s_load("name:a orders produce extra\n", &acl, err), -1);
    assert_null(acl);
    assert_int_equal(sl_acl_load("/nonexistent/acl", &acl, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read"));
}

static void test_local_endpoints(void **state)
{
    (void)state;
    assert_int_equal(sl_security_is_local("tcp://127.0.0.1:5555"), 0);
    assert_int_equal(sl_security_is_local("tcp://127.0.0.2:*"), 0);
    assert_int_equal(sl_security_is_local("tcp://localhost:1"), 0);
    assert_int_equal(sl_security_is_local("tcp://[::1]:1"), 0);
    assert_int_equal(sl_security_is_local("ipc:///tmp/x"), 0);
    assert_int_equal(sl_security_is_local("tcp://0.0.0.0:5555"), -1);
    assert_int_equal(sl_security_is_local("tcp://*:5555"), -1);
    assert_int_equal(sl_security_is_local("tcp://10.0.0.1:5555"), -1);
    assert_int_equal(sl_security_is_local("tcp://eth0:5555"), -1);
    assert_int_equal(sl_security_is_local("tcp://127.evil.com:5555"), -1); /* a name */
    assert_int_equal(sl_security_is_local("pgm://127.0.0.1;239.1.1.1:5555"), -1);
}

static void test_options(void **state)
{
    (void)state;
    sl_options_t o;
    char err[256];
    char *argv[] = {"seglogd", "--curve-cert", "s.key_secret", "--clients-dir", "c",
                    "--acl=a", "--allow-plaintext"};
    assert_int_equal(sl_options_parse(7, argv, &o, err, sizeof err), 0);
    assert_string_equal(o.server.curve_cert, "s.key_secret");
    assert_string_equal(o.server.clients_dir, "c");
    assert_string_equal(o.server.acl, "a");
    assert_int_equal(o.server.allow_plaintext, 1);
    sl_options_free(&o);
    char *argv2[] = {"seglogd", "--allow-plaintext=maybe"};
    assert_int_equal(sl_options_parse(2, argv2, &o, err, sizeof err), -1);
    sl_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_local_endpoints),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
