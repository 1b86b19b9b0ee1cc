/* table.c -- the CSV readers behind `mend localise` and its evaluation: a
 * numeric table with one or more header rows and an optional leading time
 * column, and a call graph given as a CSV adjacency matrix, with the
 * longest-prefix rule that assigns columns to graph nodes.
 *
 * Files are read whole (capped at MEND_TABLE_MAX_BYTES) and parsed in place:
 * these are offline inputs of a few megabytes, and one pass over a buffer is
 * simpler to bound than a line reader. Every error names file:line:col. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mend/localise.h"
#include "mend/timefmt.h"

#define MEND_TABLE_MAX_BYTES (1ull << 30)

static int slurp(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mend_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return MEND_EIO;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        fclose(f);
        return MEND_ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MEND_TABLE_MAX_BYTES) {
                free(b);
                fclose(f);
                mend_set_err(err, errlen, "%s: larger than %llu bytes", path,
                       (unsigned long long)MEND_TABLE_MAX_BYTES);
                return MEND_ECAP;
            }
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                fclose(f);
                return MEND_ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        mend_set_err(err, errlen, "%s: read error", path);
        return MEND_EIO;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

struct cell {
    const char *s;
    size_t n;
    size_t col; /* 1-based byte column of the cell */
};

#define MAX_CELLS_LINE (MEND_TABLE_MAX_COLS + 1)

/* Splits [line, end) into cells (commas outside double quotes; quotes are
 * stripped, "" inside stays doubled -- names with quotes are rare and only
 * compared, never unescaped). Blanks around cells are trimmed. Returns the
 * count, or -1 when there are more than cap cells. */
static long split(const char *line, const char *end, struct cell *c, size_t cap)
{
    size_t k = 0;
    const char *p = line;
    for (;;) {
        if (k == cap)
            return -1;
        const char *a = p;
        int q = 0;
        while (p < end && (q || *p != ',')) {
            if (*p == '"')
                q = !q;
            p++;
        }
        const char *b = p;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (b - a >= 2 && *a == '"' && b[-1] == '"') {
            a++;
            b--;
        }
        c[k].s = a;
        c[k].n = (size_t)(b - a);
        c[k].col = (size_t)(a - line) + 1;
        k++;
        if (p >= end)
            break;
        p++;
    }
    return (long)k;
}

/* A finite number, or an empty / "nan" cell (NaN). 0 or MEND_EPARSE. */
static int parse_num(const struct cell *c, double *v)
{
    if (c->n == 0 || (c->n == 3 && !strncasecmp(c->s, "nan", 3))) {
        *v = NAN;
        return 0;
    }
    char tmp[64];
    if (c->n >= sizeof tmp)
        return MEND_EPARSE;
    memcpy(tmp, c->s, c->n);
    tmp[c->n] = '\0';
    char *e;
    errno = 0;
    double d = strtod(tmp, &e);
    if (e == tmp || *e != '\0' || !isfinite(d))
        return MEND_EPARSE;
    *v = d;
    return 0;
}

static int is_time_name(const struct cell *c)
{
    static const char *const names[] = {"time", "timestamp", "unix_timestamp", "date",
                                        "datetime"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (c->n == strlen(names[i]) && !strncasecmp(c->s, names[i], c->n))
            return 1;
    return 0;
}

void mend_table_fini(struct mend_table *t)
{
    if (!t)
        return;
    if (t->names)
        for (uint32_t i = 0; i < t->n_cols; i++)
            free(t->names[i]);
    free(t->names);
    free(t->v);
    free(t->t);
    memset(t, 0, sizeof *t);
}

int32_t mend_table_col(const struct mend_table *t, const char *name)
{
    for (uint32_t i = 0; i < t->n_cols; i++)
        if (!strcmp(t->names[i], name))
            return (int32_t)i;
    return -1;
}

/* Lines of buf: returns the next line [*a, *b) and advances *p; 0 at end. */
static int next_line(const char **p, const char *end, const char **a, const char **b)
{
    if (*p >= end)
        return 0;
    *a = *p;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *b = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    return 1;
}

static int blank(const char *a, const char *b)
{
    for (; a < b; a++)
        if (!isspace((unsigned char)*a))
            return 0;
    return 1;
}

int mend_table_load(const char *path, struct mend_table *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    char *buf;
    size_t len;
    int rc = slurp(path, &buf, &len, err, errlen);
    if (rc)
        return rc;
    struct cell *c = malloc(MAX_CELLS_LINE * sizeof *c);
    /* header rows: up to 8, each kept as its cells */
    enum { MAX_HDR = 8 };
    struct cell *hdr[MAX_HDR] = {0};
    size_t hdr_n[MAX_HDR] = {0};
    size_t n_hdr = 0, width = 0, rows_cap = 0, line = 0;
    int has_time = 0;
    rc = MEND_ENOMEM;
    if (!c)
        goto fail;
    const char *p = buf, *end = buf + len, *a, *b;
    while (next_line(&p, end, &a, &b)) {
        line++;
        if ((size_t)(b - a) > MEND_TABLE_MAX_LINE) {
            mend_set_err(err, errlen, "%s:%zu: line longer than %u bytes", path, line,
                   MEND_TABLE_MAX_LINE);
            rc = MEND_ECAP;
            goto fail;
        }
        if (blank(a, b))
            continue;
        long k = split(a, b, c, MAX_CELLS_LINE);
        if (k < 0) {
            mend_set_err(err, errlen, "%s:%zu: more than %u columns", path, line, MEND_TABLE_MAX_COLS);
            rc = MEND_ECAP;
            goto fail;
        }
        int header = 1;
        if (n_hdr > 0) { /* a row is a header while it has no numbers after col 1 */
            header = 0;
            int any = 0;
            for (long i = 1; i < k; i++) {
                double v;
                if (c[i].n == 0)
                    continue;
                any = 1;
                if (parse_num(&c[i], &v)) {
                    header = 1;
                    break;
                }
            }
            if (!any && k > 1)
                header = 1;
            if (k == 1) { /* one column: numeric means data */
                double v;
                header = parse_num(&c[0], &v) != 0 && !(n_hdr && t->n_rows);
            }
        }
        if (header && t->n_rows == 0) {
            if (n_hdr == MAX_HDR) {
                mend_set_err(err, errlen, "%s:%zu: more than %d header rows", path, line, MAX_HDR);
                rc = MEND_EPARSE;
                goto fail;
            }
            hdr[n_hdr] = malloc((size_t)k * sizeof *c);
            if (!hdr[n_hdr])
                goto fail;
            memcpy(hdr[n_hdr], c, (size_t)k * sizeof *c);
            hdr_n[n_hdr] = (size_t)k;
            if ((size_t)k > width)
                width = (size_t)k;
            if (is_time_name(&c[0]))
                has_time = 1;
            n_hdr++;
            continue;
        }
        if (t->n_rows == 0) { /* first data row: fix the columns */
            size_t first = has_time ? 1 : 0;
            if (width <= first) {
                mend_set_err(err, errlen, "%s:%zu: no value columns in the header", path, line);
                rc = MEND_EPARSE;
                goto fail;
            }
            t->n_cols = (uint32_t)(width - first);
            t->has_time = has_time;
            t->names = calloc(t->n_cols, sizeof *t->names);
            if (!t->names)
                goto fail;
            for (uint32_t j = 0; j < t->n_cols; j++) {
                size_t need = 1;
                for (size_t h = 0; h < n_hdr; h++)
                    if (first + j < hdr_n[h])
                        need += hdr[h][first + j].n + 1;
                char *nm = malloc(need);
                if (!nm)
                    goto fail;
                size_t o = 0;
                for (size_t h = 0; h < n_hdr; h++) {
                    if (first + j >= hdr_n[h] || hdr[h][first + j].n == 0)
                        continue;
                    if (o)
                        nm[o++] = '|';
                    memcpy(nm + o, hdr[h][first + j].s, hdr[h][first + j].n);
                    o += hdr[h][first + j].n;
                }
                nm[o] = '\0';
                t->names[j] = nm;
            }
        }
        size_t first = t->has_time ? 1 : 0;
        if ((size_t)k > t->n_cols + first) {
            mend_set_err(err, errlen, "%s:%zu: %ld cells, the header has %zu", path, line, k,
                   (size_t)t->n_cols + first);
            rc = MEND_EPARSE;
            goto fail;
        }
        if (t->n_rows == MEND_TABLE_MAX_ROWS) {
            mend_set_err(err, errlen, "%s:%zu: more than %u rows", path, line, MEND_TABLE_MAX_ROWS);
            rc = MEND_ECAP;
            goto fail;
        }
        if (t->n_rows == rows_cap) {
            size_t nc = rows_cap ? rows_cap * 2 : 256;
            if (nc > MEND_TABLE_MAX_ROWS)
                nc = MEND_TABLE_MAX_ROWS;
            double *nv = realloc(t->v, nc * t->n_cols * sizeof *nv);
            if (!nv)
                goto fail;
            t->v = nv;
            int64_t *nt = realloc(t->t, nc * sizeof *nt);
            if (!nt)
                goto fail;
            t->t = nt;
            rows_cap = nc;
        }
        double *row = t->v + (size_t)t->n_rows * t->n_cols;
        if (t->has_time) {
            if (k < 1 || mend_time_parse_any(c[0].s, c[0].n, &t->t[t->n_rows])) {
                mend_set_err(err, errlen, "%s:%zu:%zu: bad time '%.*s'", path, line, c[0].col,
                       (int)(c[0].n > 40 ? 40 : c[0].n), c[0].s);
                rc = MEND_EPARSE;
                goto fail;
            }
        } else {
            t->t[t->n_rows] = (int64_t)t->n_rows;
        }
        for (uint32_t j = 0; j < t->n_cols; j++) {
            size_t ci = first + j;
            if (ci >= (size_t)k) {
                row[j] = NAN;
                continue;
            }
            if (parse_num(&c[ci], &row[j])) {
                mend_set_err(err, errlen, "%s:%zu:%zu: column '%s': bad number '%.*s'", path, line,
                       c[ci].col, t->names[j], (int)(c[ci].n > 40 ? 40 : c[ci].n), c[ci].s);
                rc = MEND_EPARSE;
                goto fail;
            }
        }
        t->n_rows++;
    }
    if (n_hdr == 0 || t->n_cols == 0) {
        mend_set_err(err, errlen, "%s: no header row or no data rows", path);
        rc = MEND_EPARSE;
        goto fail;
    }
    for (size_t h = 0; h < n_hdr; h++)
        free(hdr[h]);
    free(c);
    free(buf);
    return 0;
fail:
    for (size_t h = 0; h < n_hdr; h++)
        free(hdr[h]);
    free(c);
    free(buf);
    mend_table_fini(t);
    return rc;
}

void mend_topo_fini(struct mend_topo_file *g)
{
    if (!g)
        return;
    if (g->names)
        for (uint32_t i = 0; i < g->n; i++)
            free(g->names[i]);
    free(g->names);
    free(g->adj);
    memset(g, 0, sizeof *g);
}

#define MEND_TOPO_MAX_NODES 65536u

int mend_topo_load(const char *path, struct mend_topo_file *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    char *buf;
    size_t len;
    int rc = slurp(path, &buf, &len, err, errlen);
    if (rc)
        return rc;
    struct cell *c = malloc((MEND_TOPO_MAX_NODES + 2) * sizeof *c);
    rc = MEND_ENOMEM;
    if (!c)
        goto fail;
    const char *p = buf, *end = buf + len, *a, *b;
    size_t line = 0;
    while (next_line(&p, end, &a, &b)) {
        line++;
        if (blank(a, b))
            continue;
        long k = split(a, b, c, MEND_TOPO_MAX_NODES + 2);
        if (k < 0) {
            mend_set_err(err, errlen, "%s:%zu: more than %u nodes", path, line, MEND_TOPO_MAX_NODES);
            rc = MEND_ECAP;
            goto fail;
        }
        if (!g->names) { /* the header: node names after the first cell */
            if (k < 2) {
                mend_set_err(err, errlen, "%s:%zu: header names no nodes", path, line);
                rc = MEND_EPARSE;
                goto fail;
            }
            g->n = (uint32_t)(k - 1);
            g->names = calloc(g->n, sizeof *g->names);
            g->adj = calloc((size_t)g->n * g->n, 1);
            if (!g->names || !g->adj)
                goto fail;
            for (uint32_t i = 0; i < g->n; i++) {
                if (!(g->names[i] = strndup(c[i + 1].s, c[i + 1].n)))
                    goto fail;
            }
            continue;
        }
        int32_t row = -1;
        for (uint32_t i = 0; i < g->n; i++)
            if (strlen(g->names[i]) == c[0].n && !memcmp(g->names[i], c[0].s, c[0].n)) {
                row = (int32_t)i;
                break;
            }
        if (row < 0) {
            mend_set_err(err, errlen, "%s:%zu:1: row '%.*s' is not a node of the header", path, line,
                   (int)(c[0].n > 60 ? 60 : c[0].n), c[0].s);
            rc = MEND_EPARSE;
            goto fail;
        }
        if ((size_t)k != (size_t)g->n + 1) {
            mend_set_err(err, errlen, "%s:%zu: %ld cells, expected %u", path, line, k, g->n + 1);
            rc = MEND_EPARSE;
            goto fail;
        }
        for (uint32_t j = 0; j < g->n; j++) {
            double v;
            if (parse_num(&c[j + 1], &v) || isnan(v)) {
                mend_set_err(err, errlen, "%s:%zu:%zu: bad weight '%.*s'", path, line, c[j + 1].col,
                       (int)(c[j + 1].n > 40 ? 40 : c[j + 1].n), c[j + 1].s);
                rc = MEND_EPARSE;
                goto fail;
            }
            g->adj[(size_t)row * g->n + j] = v != 0;
        }
    }
    if (!g->names) {
        mend_set_err(err, errlen, "%s: empty", path);
        rc = MEND_EPARSE;
        goto fail;
    }
    free(c);
    free(buf);
    return 0;
fail:
    free(c);
    free(buf);
    mend_topo_fini(g);
    return rc;
}

int32_t mend_topo_node_of(const struct mend_topo_file *g, const char *column)
{
    int32_t best = -1;
    size_t best_len = 0, cl = strlen(column);
    for (uint32_t i = 0; i < g->n; i++) {
        size_t nl = strlen(g->names[i]);
        if (nl == 0 || nl > cl || nl <= best_len || memcmp(g->names[i], column, nl))
            continue;
        char sep = column[nl];
        if (sep == '\0' || sep == '_' || sep == '.' || sep == '|' || sep == ',' || sep == ' ') {
            best = (int32_t)i;
            best_len = nl;
        }
    }
    return best;
}
