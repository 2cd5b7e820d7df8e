/* test_options.c - seglogd's command line and config file. */
#include "options.h"
#include "slog.h"
#include "testutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int s_parse(sl_options_t *o, char *err, int argc, ...)
{
    char *argv[32] = {"seglogd"};
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    return sl_options_parse(argc + 1, argv, o, err, 256);
}

static void test_defaults(void **state)
{
    (void)state;
    sl_options_t o;
    char err[256];
    assert_int_equal(s_parse(&o, err, 0), 0);
    assert_string_equal(o.server.bind, "tcp://127.0.0.1:5555");
    assert_string_equal(o.server.pub, "tcp://127.0.0.1:5556");
    assert_int_equal(o.server.sync, SEGLOG_SYNC_INTERVAL);
    assert_int_equal(o.server.sync_interval_ms, 1000);
    assert_int_equal(o.server.max_record_bytes, 1 << 20);
    assert_int_equal(o.server.workers, 0);
    assert_null(o.endpoints_file);
    sl_options_free(&o);
}

static void test_values(void **state)
{
    (void)state;
    sl_options_t o;
    char err[256];
    assert_int_equal(s_parse(&o, err, 14, "--data-dir", "/x", "--bind=tcp://0.0.0.0:1", "--workers",
                             "3", "--sync", "interval:250", "--segment-bytes", "8M",
                             "--max-record-bytes=64k", "--pub-hwm", "5", "--endpoints-file",
                             "/tmp/e"),
                     0);
    assert_string_equal(o.server.data_dir, "/x");
    assert_string_equal(o.server.bind, "tcp://0.0.0.0:1");
    assert_int_equal(o.server.workers, 3);
    assert_int_equal(o.server.sync, SEGLOG_SYNC_INTERVAL);
    assert_int_equal(o.server.sync_interval_ms, 250);
    assert_int_equal(o.server.segment_bytes, 8 << 20);
    assert_int_equal(o.server.max_record_bytes, 64 << 10);
    assert_int_equal(o.server.pub_hwm, 5);
    assert_string_equal(o.endpoints_file, "/tmp/e");
    assert_int_equal(o.server.produce_on, SEGLOG_PRODUCE_AUTO);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 2, "--produce-on", "workers"), 0);
    assert_int_equal(o.server.produce_on, SEGLOG_PRODUCE_WORKERS);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 1, "--produce-on=frontend"), 0);
    assert_int_equal(o.server.produce_on, SEGLOG_PRODUCE_FRONTEND);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 2, "--sync", "always"), 0);
    assert_int_equal(o.server.sync, SEGLOG_SYNC_ALWAYS);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 2, "--log-level", "debug"), 0);
    assert_int_equal(o.log_level, SL_LOG_DEBUG);
    sl_options_free(&o);
}

static void test_rejects(void **state)
{
    (void)state;
    sl_options_t o;
    char err[256];
    const char *bad[][2] = {
        {"--sync", "sometimes"},  {"--sync", "interval:"},
        {"--sync", "interval:0"}, {"--workers", "-1"},
        {"--workers", "257"},     {"--segment-bytes", "12Q"},
        {"--pub-hwm", "0"},       {"--max-record-bytes", "0"},
        {"--bogus", "1"},         {"--data-dir", ""},
        {"--log-level", "loud"},  {"--segment-bytes", "99999999999999999999"},
        {"--produce-on", "both"}, {"--produce-on", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(s_parse(&o, err, 2, bad[i][0], bad[i][1]), -1);
        assert_true(strlen(err) > 0);
        sl_options_free(&o);
    }
    assert_int_equal(s_parse(&o, err, 1, "--workers"), -1); /* missing value */
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 1, "stray"), -1);
    sl_options_free(&o);
}

static void test_config_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir("options");
    char *path = tu_path(dir, "seglogd.cfg");
    const char *text = "# seglogd test config\n"
                       "data-dir = \"/var/lib/seglog\"\n"
                       "sync = always\n"
                       "workers = 2\n"
                       "pub = \"tcp://127.0.0.1:7000\"\n";
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    sl_options_t o;
    char err[256];
    /* The command line wins over the file, whatever the order. */
    assert_int_equal(s_parse(&o, err, 4, "--workers", "5", "--config", path), 0);
    assert_string_equal(o.server.data_dir, "/var/lib/seglog");
    assert_int_equal(o.server.sync, SEGLOG_SYNC_ALWAYS);
    assert_int_equal(o.server.workers, 5);
    assert_string_equal(o.server.pub, "tcp://127.0.0.1:7000");
    sl_options_free(&o);

    const char *typo = "workerz = 2\n";
    assert_int_equal(tu_write_file(path, typo, strlen(typo)), 0);
    assert_int_equal(s_parse(&o, err, 2, "--config", path), -1);
    assert_non_null(strstr(err, "workerz"));
    sl_options_free(&o);

    assert_int_equal(s_parse(&o, err, 2, "--config", "/nonexistent/seglogd.cfg"), -1);
    sl_options_free(&o);
    free(path);
    tu_rmrf(&dir);
}

/* Cluster mode's HW checkpoint period: default, flag, range, config file. */
static void test_hw_checkpoint_ms(void **state)
{
    (void)state;
    sl_options_t o;
    char err[256];
    assert_int_equal(s_parse(&o, err, 0), 0);
    assert_int_equal(o.server.hw_checkpoint_ms, 5000);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 2, "--hw-checkpoint-ms", "250"), 0);
    assert_int_equal(o.server.hw_checkpoint_ms, 250);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 2, "--hw-checkpoint-ms", "99"), -1);
    sl_options_free(&o);
    assert_int_equal(s_parse(&o, err, 2, "--hw-checkpoint-ms", "3600001"), -1);
    sl_options_free(&o);
    char *dir = tu_tempdir("options");
    char *path = tu_path(dir, "seglogd.cfg");
    const char *text = "hw-checkpoint-ms = 1000\n";
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    assert_int_equal(s_parse(&o, err, 2, "--config", path), 0);
    assert_int_equal(o.server.hw_checkpoint_ms, 1000);
    sl_options_free(&o);
    free(path);
    tu_rmrf(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_hw_checkpoint_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
