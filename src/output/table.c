/* table.c -- the end-of-run incident table of `mend replay --table` (see
 * output.h). It keeps one row per incident, updated by every change, and
 * prints them all when closed.
 *
 * Columns are sized to what they hold (times with fractions of a second,
 * ids past 9999), counted in characters, not bytes (UTF-8 names), so they
 * never shift; an entity longer than ENTITY_COLS or a signal longer than
 * TOP_COLS characters is cut with "...". The status column shows the
 * incident's last change in the JSON's own words: open, update, resolve. */
#include "mend/output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_DEFAULT_ROWS 100000u
#define ENTITY_COLS 24
#define TOP_COLS 80

struct row {
    uint64_t id;
    char status[8];
    char entity[256];
    int64_t start, last;
    double max_score;
    uint32_t signals;
    char top[512];
};

struct table {
    FILE *out;
    struct row *rows;
    uint32_t n, cap, max;
    uint64_t not_listed; /* changes of incidents beyond max rows */
};

/* Copies s into dst (size n), truncated, with control characters shown as
 * '?': keys come off the network and this goes to a terminal. */
static void copy_shown(char *dst, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[i] = '\0';
}

static int table_open(const void *conf, void **inst, char *err, size_t errlen)
{
    const struct mend_output_table_conf *c = conf;
    *inst = NULL;
    struct table *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "table output: out of memory");
        return MEND_ENOMEM;
    }
    t->out = c && c->out ? c->out : stdout;
    t->max = c && c->max_rows ? c->max_rows : TABLE_DEFAULT_ROWS;
    *inst = t;
    return MEND_OK;
}

static int table_incident(void *inst, const char *status, const struct mend_incident *inc, const char *json,
                          size_t len)
{
    (void)json;
    (void)len;
    struct table *t = inst;
    struct row *r = NULL;
    /* the row of a change is nearly always one of the last few */
    for (uint32_t i = t->n; i-- > 0;)
        if (t->rows[i].id == inc->id) {
            r = &t->rows[i];
            break;
        }
    if (!r) {
        if (t->n >= t->max) {
            t->not_listed++;
            return MEND_OK;
        }
        if (t->n == t->cap) {
            uint32_t cap = t->cap == 0 ? 64 : t->cap > t->max / 2 ? t->max : t->cap * 2;
            if (cap < 64 && cap < t->max)
                cap = 64;
            struct row *nr = realloc(t->rows, (size_t)cap * sizeof *nr);
            if (!nr)
                return MEND_ENOMEM;
            t->rows = nr;
            t->cap = cap;
        }
        r = &t->rows[t->n++];
        memset(r, 0, sizeof *r);
        r->id = inc->id;
    }
    copy_shown(r->status, sizeof r->status, status); /* the JSON's word: open, update, resolve */
    copy_shown(r->entity, sizeof r->entity, inc->entity && inc->entity[0] ? inc->entity : "-");
    r->start = inc->start_t;
    r->last = inc->last_t;
    r->max_score = inc->max_score;
    r->signals = inc->n_signals;
    uint32_t best = 0;
    for (uint32_t i = 1; i < inc->n_signals; i++)
        if (inc->signals[i].max_score > inc->signals[best].max_score)
            best = i;
    if (inc->n_signals) {
        char top[sizeof r->top];
        snprintf(top, sizeof top, "%s%s", inc->signals[best].kind == MEND_ANOM_ABSENCE ? "[absent] " : "",
                 inc->signals[best].key);
        copy_shown(r->top, sizeof r->top, top);
    }
    return MEND_OK;
}

/* Characters (UTF-8 code points) in s. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* s cut to at most max characters, the cut marked with "..." (never inside
 * a UTF-8 sequence), into dst. */
static void ellipsize(char *dst, size_t dstlen, const char *s, size_t max)
{
    if (chars(s) <= max) {
        snprintf(dst, dstlen, "%s", s);
        return;
    }
    size_t keep = max - 3, n = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == keep)
            break;
    }
    snprintf(dst, dstlen, "%.*s...", (int)i, s);
}

/* s, then spaces up to width characters, then one space. */
static void cell(FILE *f, const char *s, size_t width)
{
    fputs(s, f);
    for (size_t n = chars(s); n < width; n++)
        fputc(' ', f);
    fputc(' ', f);
}

static void table_print(struct table *t)
{
    FILE *f = t->out;
    static const char *const head[] = {"id", "status", "start (UTC)", "entity", "max score", "sigs"};
    size_t w[6];
    for (size_t k = 0; k < 6; k++)
        w[k] = chars(head[k]);
    if (w[0] < 3)
        w[0] = 3;
    if (w[1] < 7)
        w[1] = 7;
    if (w[2] < 21)
        w[2] = 21;
    if (w[3] < 20)
        w[3] = 20;
    char c[6][ENTITY_COLS * 4 + 64];
    /* pass 1: widths */
    for (uint32_t i = 0; i < t->n; i++) {
        const struct row *r = &t->rows[i];
        snprintf(c[0], sizeof c[0], "%" PRIu64, r->id);
        snprintf(c[1], sizeof c[1], "%s", r->status);
        mend_time_format(r->start, c[2], sizeof c[2]);
        ellipsize(c[3], sizeof c[3], r->entity, ENTITY_COLS);
        snprintf(c[4], sizeof c[4], "%.4f", r->max_score);
        snprintf(c[5], sizeof c[5], "%u", r->signals);
        for (size_t k = 0; k < 6; k++)
            if (chars(c[k]) > w[k])
                w[k] = chars(c[k]);
    }
    fputc('\n', f);
    for (size_t k = 0; k < 6; k++)
        cell(f, head[k], w[k]);
    fputs("top signal\n", f);
    /* pass 2: the rows */
    for (uint32_t i = 0; i < t->n; i++) {
        const struct row *r = &t->rows[i];
        char top[TOP_COLS * 4 + 8];
        snprintf(c[0], sizeof c[0], "%" PRIu64, r->id);
        snprintf(c[1], sizeof c[1], "%s", r->status);
        mend_time_format(r->start, c[2], sizeof c[2]);
        ellipsize(c[3], sizeof c[3], r->entity, ENTITY_COLS);
        snprintf(c[4], sizeof c[4], "%.4f", r->max_score);
        snprintf(c[5], sizeof c[5], "%u", r->signals);
        for (size_t k = 0; k < 6; k++)
            cell(f, c[k], w[k]);
        ellipsize(top, sizeof top, r->top, TOP_COLS);
        fprintf(f, "%s\n", top);
    }
    if (!t->n)
        fprintf(f, "(no incidents)\n");
    if (t->not_listed)
        fprintf(f, "(%" PRIu64 " changes of further incidents not listed: the table keeps %u rows)\n",
                t->not_listed, t->max);
}

static int table_flush(void *inst)
{
    (void)inst;
    return MEND_OK; /* printed once, at close */
}

static void table_close(void *inst)
{
    struct table *t = inst;
    if (!t)
        return;
    table_print(t);
    fflush(t->out);
    free(t->rows);
    free(t);
}

const struct mend_output_ops mend_output_table_ops = {
    .name = "table",
    .open = table_open,
    .incident = table_incident,
    .flush = table_flush,
    .close = table_close,
    .last_error = NULL,
};
