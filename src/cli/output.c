/* output.c - see output.h */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

int cli_format_parse(const char *name, cli_format_t *out)
{
    if (strcmp(name, "text") == 0)
        *out = CLI_FMT_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = CLI_FMT_JSON;
    else if (strcmp(name, "raw") == 0)
        *out = CLI_FMT_RAW;
    else
        return -1;
    return 0;
}

int cli_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0; /* a continuation byte, or 0xF8..0xFF */
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int cli_write_error(FILE *f)
{
    if (!ferror(f))
        return 0;
    return errno ? errno : EIO;
}

static void s_base64(FILE *f, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[0] = tab[v >> 18], out[1] = tab[(v >> 12) & 63];
        out[2] = tab[(v >> 6) & 63], out[3] = tab[v & 63];
        fwrite(out, 1, 4, f);
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[0] = tab[v >> 18], out[1] = tab[(v >> 12) & 63];
        out[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[3] = '=';
        fwrite(out, 1, 4, f);
    }
}

/* A JSON string of valid UTF-8: escape '"', '\\' and control characters;
 * copy everything else, runs at a time. */
static void s_json_string(FILE *f, const uint8_t *p, size_t n)
{
    fputc('"', f);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F)
            continue;
        fwrite(p + run, 1, i - run, f);
        run = i + 1;
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            fprintf(f, "\\u%04x", c);
        }
    }
    fwrite(p + run, 1, n - run, f);
    fputc('"', f);
}

/* ,"name":<string or base64> with its encoding marker when needed. */
static void s_json_bytes(FILE *f, const char *name, const uint8_t *p, size_t n)
{
    fprintf(f, ",\"%s\":", name);
    if (cli_utf8_valid(p, n)) {
        s_json_string(f, p, n);
        return;
    }
    fputc('"', f);
    s_base64(f, p, n);
    fprintf(f, "\",\"%s_encoding\":\"base64\"", name);
}

int cli_print_record(FILE *f, cli_format_t fmt, const seglog_record_t *r)
{
    switch (fmt) {
    case CLI_FMT_TEXT:
        fprintf(f, "%" PRIu64 "\t", r->offset);
        fwrite(r->value, 1, r->value_len, f);
        fputc('\n', f);
        break;
    case CLI_FMT_RAW:
        fwrite(r->value, 1, r->value_len, f);
        fputc('\n', f);
        break;
    case CLI_FMT_JSON:
        fprintf(f, "{\"offset\":%" PRIu64 ",\"timestamp_ms\":%" PRIu64, r->offset, r->timestamp_ms);
        if (r->key_len)
            s_json_bytes(f, "key", r->key, r->key_len);
        else
            fputs(",\"key\":null", f);
        s_json_bytes(f, "value", r->value, r->value_len);
        fputs("}\n", f);
        break;
    }
    return cli_write_error(f);
}
