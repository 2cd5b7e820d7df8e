/* test_cluster_hwckpt.c - the HW checkpoint file (hwckpt.h): round trip,
 * hostile contents, and the crash-safe store and load in a directory. */
#include "hwckpt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int s_parse(const char *text, sl_hwckpt_entry_t **e, int *n)
{
    return sl_hwckpt_parse(text, strlen(text), e, n);
}

static void test_roundtrip(void **state)
{
    (void)state;
    sl_hwckpt_entry_t in[3] = {
        {"a", 1, 0}, {"topic.x-1_", 0xfedcba9876543210ull, 12345}, {"", 0x10, (uint64_t)INT64_MAX}};
    memset(in[2].name, 'z', SL_CL_TOPIC_MAX);
    size_t len = 0;
    char *text = sl_hwckpt_format(in, 3, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_non_null(strstr(text, "seglog-hw-checkpoint 1\n3\na 0000000000000001 0\n"));
    assert_non_null(strstr(text, "topic.x-1_ fedcba9876543210 12345\n"));
    sl_hwckpt_entry_t *out = NULL;
    int n = 0;
    assert_int_equal(sl_hwckpt_parse(text, len, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(in, out, sizeof in);
    free(out);
    free(text);
    text = sl_hwckpt_format(NULL, 0, &len);
    assert_string_equal(text, "seglog-hw-checkpoint 1\n0\n");
    assert_int_equal(sl_hwckpt_parse(text, len, &out, &n), 0);
    assert_int_equal(n, 0);
    assert_null(out);
    free(text);
}

static void test_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "seglog-hw-checkpoint 2\n0\n",
        "seglog-hw-checkpoint 1\n",
        "seglog-hw-checkpoint 1\n0",
        "seglog-hw-checkpoint 1\n0\nx",                       /* trailing bytes */
        "seglog-hw-checkpoint 1\n1\n",                        /* fewer lines than count */
        "seglog-hw-checkpoint 1\n01\na 0000000000000001 5\n", /* leading zero */
        "seglog-hw-checkpoint 1\n-1\n",
        "seglog-hw-checkpoint 1\n99999999\na 0000000000000001 5\n", /* a count that lies */
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 5",          /* no newline */
        "seglog-hw-checkpoint 1\n1\na 0000000000000000 5\n",        /* log_id 0 */
        "seglog-hw-checkpoint 1\n1\na 000000000000000G 5\n",
        "seglog-hw-checkpoint 1\n1\na 00000000000000A1 5\n", /* uppercase */
        "seglog-hw-checkpoint 1\n1\na 001 5\n",
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 -5\n",
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 05\n",
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 9223372036854775808\n", /* > INT64_MAX */
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 99999999999999999999999\n",
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 \n",
        "seglog-hw-checkpoint 1\n1\na  0000000000000001 5\n",
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 5 6\n",
        "seglog-hw-checkpoint 1\n1\na/b 0000000000000001 5\n", /* not a topic name */
        "seglog-hw-checkpoint 1\n1\n.. 0000000000000001 5\n",
        "seglog-hw-checkpoint 1\n2\na 0000000000000001 5\na 0000000000000002 6\n", /* twice */
        "seglog-hw-checkpoint 1\n1\na 0000000000000001 5\nb 0000000000000002 6\n", /* extra */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_hwckpt_entry_t *e = (void *)1;
        int n = -1;
        if (s_parse(bad[i], &e, &n) != SL_CL_EBADDATA)
            fail_msg("accepted: %s", bad[i]);
        assert_null(e);
        assert_int_equal(n, 0);
    }
    /* A NUL inside a line. */
    static const char nul[] = "seglog-hw-checkpoint 1\n1\na\0 0000000000000001 5\n";
    sl_hwckpt_entry_t *e = NULL;
    int n = 0;
    assert_int_equal(sl_hwckpt_parse(nul, sizeof nul - 1, &e, &n), SL_CL_EBADDATA);
    /* A name of 129 bytes. */
    char text[400];
    int at = snprintf(text, sizeof text, "seglog-hw-checkpoint 1\n1\n");
    memset(text + at, 'a', 129);
    snprintf(text + at + 129, sizeof text - (size_t)at - 129, " 0000000000000001 5\n");
    assert_int_equal(s_parse(text, &e, &n), SL_CL_EBADDATA);
}

static void test_store_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_hwckpt_XXXXXX";
    assert_non_null(mkdtemp(dir));
    sl_hwckpt_entry_t *e = (void *)1;
    int n = -1;
    assert_int_equal(sl_hwckpt_load(dir, &e, &n), 0); /* no file: nothing */
    assert_null(e);
    assert_int_equal(n, 0);
    sl_hwckpt_entry_t in[2] = {{"t1", 0xabc, 7}, {"t2", 0xdef, 9}};
    size_t len = 0;
    char *text = sl_hwckpt_format(in, 2, &len);
    assert_int_equal(sl_hwckpt_store(dir, text, len), 0);
    free(text);
    char path[300], tmp[300];
    snprintf(path, sizeof path, "%s/%s", dir, SL_HWCKPT_FILE);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, SL_HWCKPT_FILE);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed away */
    FILE *f = fopen(tmp, "w");                  /* a crash's leftover is not read */
    fputs("junk", f);
    fclose(f);
    assert_int_equal(sl_hwckpt_load(dir, &e, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(in, e, sizeof in);
    free(e);
    /* Rewritten over the leftover; then damaged: refused as a whole. */
    text = sl_hwckpt_format(in, 1, &len);
    assert_int_equal(sl_hwckpt_store(dir, text, len), 0);
    free(text);
    assert_int_equal(sl_hwckpt_load(dir, &e, &n), 0);
    assert_int_equal(n, 1);
    free(e);
    assert_int_equal(truncate(path, 30), 0);
    assert_int_equal(sl_hwckpt_load(dir, &e, &n), SL_CL_EBADDATA);
    assert_null(e);
    unlink(path);
    unlink(tmp);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_store_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
