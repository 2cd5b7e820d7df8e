/*
 * output.h - how the seglog tool prints records: text, json or raw.
 *
 *   text  "<offset>\t<value>\n", the value's bytes as they are
 *   json  one object per line: {"offset":N,"timestamp_ms":N,"key":...,
 *         "value":...}; key and value are JSON strings when they are valid
 *         UTF-8, else base64 with "key_encoding"/"value_encoding":"base64"
 *         next to them; an empty key is null
 *   raw   "<value>\n"
 *
 * Every function writes through stdio and returns 0, or the errno of a
 * failed write (EPIPE when the reader went away).
 */
#ifndef CLI_OUTPUT_H
#define CLI_OUTPUT_H

#include "seglog/client.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { CLI_FMT_TEXT, CLI_FMT_JSON, CLI_FMT_RAW } cli_format_t;

/* "text", "json" or "raw"; -1 for anything else. */
int cli_format_parse(const char *name, cli_format_t *out);

int cli_print_record(FILE *f, cli_format_t fmt, const seglog_record_t *r);

/* 1 if p[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF). */
int cli_utf8_valid(const uint8_t *p, size_t n);

/* Check f for a write error: 0 or its errno. */
int cli_write_error(FILE *f);

#endif
