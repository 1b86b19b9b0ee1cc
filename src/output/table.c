/* table.c -- the end-of-run incident table of `mend replay --table` (see
 * output.h). It keeps one row per incident, updated by every change, and
 * prints them all when closed. The format is the one pipeline.c printed
 * before outputs were plug-ins. */
#include "mend/output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_DEFAULT_ROWS 100000u

struct row {
    uint64_t id;
    char status[8];
    char entity[64];
    int64_t start, last;
    double max_score;
    uint32_t signals;
    char top[160];
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
    snprintf(r->status, sizeof r->status, "%s", !strcmp(status, "resolve") ? "closed" : "open");
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

static void table_print(struct table *t)
{
    FILE *f = t->out;
    fprintf(f, "\n%-4s %-7s %-22s %-20s %-9s %-5s %s\n", "id", "status", "start (UTC)", "entity", "max score",
            "sigs", "top signal");
    for (uint32_t i = 0; i < t->n; i++) {
        const struct row *r = &t->rows[i];
        char ts[64];
        mend_time_format(r->start, ts, sizeof ts);
        fprintf(f, "%-4" PRIu64 " %-7s %-22s %-20.20s %-9.4f %-5u %.70s\n", r->id, r->status, ts, r->entity,
                r->max_score, r->signals, r->top);
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
