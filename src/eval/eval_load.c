/* eval_load.c -- readers for the files `mend eval` compares: detector output
 * (`timestamp,value,anomaly_score` CSV, one per series) and NAB's
 * windows.csv. Kept apart from the scoring core so that the core stays free
 * of I/O. Both readers are strict: a malformed line stops the load with a
 * "path:line:col: reason" message, because silently skipping a row would
 * shift every later row's position in its window and change the score. */
#include "mend/eval.h"
#include "mend/common.h"
#include "mend/timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 64

/* ---- timestamps --------------------------------------------------------- */

/* The one timestamp parser of timefmt.c, so `mend eval` reads every time
 * `mend score` accepts and writes back (offsets such as +00:00 included),
 * and a year after 2261 is an error instead of an overflow. The eval.h
 * contract collapses its codes to MEND_EPARSE: to the loaders a time out of
 * range is as unusable as a malformed one. */
int mend_eval_parse_time(const char *s, size_t len, int64_t *ns)
{
    if (!s || !ns)
        return MEND_EINVAL;
    int64_t t;
    if (mend_time_parse_any(s, len, &t) != MEND_OK)
        return MEND_EPARSE;
    *ns = t;
    return MEND_OK;
}

/* ---- line reading ------------------------------------------------------- */

struct reader {
    FILE *f;
    const char *path;
    size_t line;
    char buf[MEND_EVAL_MAX_LINE + 2];
};

/* Next line without its newline (and CR) into r->buf. Returns 1 for a line,
 * 0 at EOF, or a negative code with err set. */
static int next_line(struct reader *r, size_t *len, char *err, size_t errlen)
{
    if (!fgets(r->buf, sizeof r->buf, r->f)) {
        if (ferror(r->f)) {
            mend_set_err(err, errlen, "%s:%zu: read error: %s", r->path, r->line + 1, strerror(errno));
            return MEND_EIO;
        }
        return 0;
    }
    r->line++;
    size_t n = strlen(r->buf);
    if (n && r->buf[n - 1] == '\n') {
        n--;
    } else if (n > MEND_EVAL_MAX_LINE) {
        mend_set_err(err, errlen, "%s:%zu: line longer than %d bytes", r->path, r->line,
               MEND_EVAL_MAX_LINE);
        return MEND_ECAP;
    }
    if (n && r->buf[n - 1] == '\r')
        n--;
    r->buf[n] = '\0';
    *len = n;
    return 1;
}

struct field {
    const char *p;
    size_t len;
    size_t col;   /* 1-based column of its first byte */
};

/* Splits on commas, trims blanks and one pair of double quotes. Returns the
 * number of fields, or -1 when there are more than max. */
static int split(const char *s, size_t len, struct field *f, int max)
{
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n == max)
            return -1;
        size_t a = i;
        while (i < len && s[i] != ',')
            i++;
        size_t b = i;
        while (a < b && (s[a] == ' ' || s[a] == '\t'))
            a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
            b--;
        if (b - a >= 2 && s[a] == '"' && s[b - 1] == '"') {
            a++;
            b--;
        }
        f[n].p = s + a;
        f[n].len = b - a;
        f[n].col = a + 1;
        n++;
        if (i >= len)
            return n;
        i++;
    }
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int field_is(const struct field *f, const char *name)
{
    return f->len == strlen(name) && !memcmp(f->p, name, f->len);
}

/* ---- results files ------------------------------------------------------ */

static int series_push(struct mend_eval_series *s, int64_t t, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        int64_t *tn = realloc(s->time_ns, cap * sizeof *tn);
        if (!tn)
            return MEND_ENOMEM;
        s->time_ns = tn;
        double *sn = realloc(s->score, cap * sizeof *sn);
        if (!sn)
            return MEND_ENOMEM;
        s->score = sn;
        s->cap = cap;
    }
    s->time_ns[s->n] = t;
    s->score[s->n] = v;
    s->n++;
    return MEND_OK;
}

void mend_eval_series_fini(struct mend_eval_series *s)
{
    if (!s)
        return;
    free(s->time_ns);
    free(s->score);
    memset(s, 0, sizeof *s);
}

/* Opens path for line reading; MEND_ENOMEM, or MEND_EIO with err naming the
 * path and the system's reason. */
static int reader_open(const char *path, struct reader **out, char *err, size_t errlen)
{
    struct reader *r = malloc(sizeof *r);
    if (!r)
        return MEND_ENOMEM;
    r->path = path;
    r->line = 0;
    r->f = fopen(path, "r");
    if (!r->f) {
        mend_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(r);
        return MEND_EIO;
    }
    *out = r;
    return MEND_OK;
}

int mend_eval_series_load(const char *path, struct mend_eval_series *out,
                          char *err, size_t errlen)
{
    if (!path || !out)
        return MEND_EINVAL;
    memset(out, 0, sizeof *out);
    struct reader *r;
    int orc = reader_open(path, &r, err, errlen);
    if (orc != MEND_OK)
        return orc;
    struct mend_eval_series s = {0};
    struct field f[MAX_FIELDS];
    int rc, ncols = -1, tcol = 0, scol = -1;
    size_t len;
    while ((rc = next_line(r, &len, err, errlen)) == 1) {
        if (blank(r->buf, len))
            continue;
        int n = split(r->buf, len, f, MAX_FIELDS);
        if (n < 0) {
            mend_set_err(err, errlen, "%s:%zu: more than %d fields", path, r->line, MAX_FIELDS);
            rc = MEND_EPARSE;
            break;
        }
        int64_t t;
        if (ncols < 0) {
            ncols = n;
            if (mend_eval_parse_time(f[0].p, f[0].len, &t)) {   /* a header */
                tcol = scol = -1;
                for (int c = 0; c < n; c++) {
                    if (field_is(&f[c], "timestamp"))
                        tcol = c;
                    else if (field_is(&f[c], "anomaly_score"))
                        scol = c;
                }
                if (tcol < 0 || scol < 0) {
                    mend_set_err(err, errlen, "%s:%zu: header needs 'timestamp' and 'anomaly_score' columns",
                           path, r->line);
                    rc = MEND_EPARSE;
                    break;
                }
                continue;
            }
            if (n < 2) {
                mend_set_err(err, errlen, "%s:%zu: need at least timestamp and anomaly_score columns",
                       path, r->line);
                rc = MEND_EPARSE;
                break;
            }
            scol = n - 1;
        }
        if (n != ncols) {
            mend_set_err(err, errlen, "%s:%zu: %d fields, expected %d", path, r->line, n, ncols);
            rc = MEND_EPARSE;
            break;
        }
        if (mend_eval_parse_time(f[tcol].p, f[tcol].len, &t)) {
            mend_set_err(err, errlen, "%s:%zu:%zu: bad timestamp '%.*s'", path, r->line, f[tcol].col,
                   (int)(f[tcol].len > 64 ? 64 : f[tcol].len), f[tcol].p);
            rc = MEND_EPARSE;
            break;
        }
        double v;
        if (mend_parse_f64(f[scol].p, f[scol].len, 0, &v)) {
            mend_set_err(err, errlen, "%s:%zu:%zu: bad anomaly_score '%.*s'", path, r->line,
                   f[scol].col, (int)(f[scol].len > 64 ? 64 : f[scol].len), f[scol].p);
            rc = MEND_EPARSE;
            break;
        }
        if (s.n && t < s.time_ns[s.n - 1]) {
            mend_set_err(err, errlen, "%s:%zu:%zu: timestamp goes backwards", path, r->line,
                   f[tcol].col);
            rc = MEND_EPARSE;
            break;
        }
        if (s.n >= MEND_EVAL_MAX_ROWS) {
            mend_set_err(err, errlen, "%s:%zu: more than %d rows", path, r->line, MEND_EVAL_MAX_ROWS);
            rc = MEND_ECAP;
            break;
        }
        if ((rc = series_push(&s, t, v)) != 0) {
            mend_set_err(err, errlen, "%s:%zu: out of memory", path, r->line);
            break;
        }
        rc = 1;
    }
    fclose(r->f);
    free(r);
    if (rc < 0) {
        mend_eval_series_fini(&s);
        return rc;
    }
    *out = s;
    return MEND_OK;
}

/* ---- windows.csv -------------------------------------------------------- */

void mend_eval_labels_fini(struct mend_eval_labels *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].file);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int label_cmp(const void *a, const void *b)
{
    const struct mend_eval_label *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    return (x->win.start_ns > y->win.start_ns) - (x->win.start_ns < y->win.start_ns);
}

int mend_eval_labels_load(const char *path, struct mend_eval_labels *out,
                          char *err, size_t errlen)
{
    if (!path || !out)
        return MEND_EINVAL;
    memset(out, 0, sizeof *out);
    struct reader *r;
    int orc = reader_open(path, &r, err, errlen);
    if (orc != MEND_OK)
        return orc;
    struct mend_eval_labels l = {0};
    struct field f[4];
    int rc;
    size_t len;
    while ((rc = next_line(r, &len, err, errlen)) == 1) {
        if (blank(r->buf, len))
            continue;
        int n = split(r->buf, len, f, 4);
        if (r->line == 1 && n >= 1 && field_is(&f[0], "file"))
            continue;
        if (n != 3) {
            mend_set_err(err, errlen, "%s:%zu: expected file,window_start,window_end", path, r->line);
            rc = MEND_EPARSE;
            break;
        }
        if (f[0].len == 0 || f[0].len > MEND_EVAL_MAX_NAME) {
            mend_set_err(err, errlen, "%s:%zu:1: file name empty or longer than %d bytes", path,
                   r->line, MEND_EVAL_MAX_NAME);
            rc = MEND_EPARSE;
            break;
        }
        struct mend_eval_window w;
        if (mend_eval_parse_time(f[1].p, f[1].len, &w.start_ns) ||
            mend_eval_parse_time(f[2].p, f[2].len, &w.end_ns)) {
            int bad = mend_eval_parse_time(f[1].p, f[1].len, &w.start_ns) ? 1 : 2;
            mend_set_err(err, errlen, "%s:%zu:%zu: bad timestamp '%.*s'", path, r->line, f[bad].col,
                   (int)(f[bad].len > 64 ? 64 : f[bad].len), f[bad].p);
            rc = MEND_EPARSE;
            break;
        }
        if (w.end_ns < w.start_ns) {
            mend_set_err(err, errlen, "%s:%zu: window ends before it starts", path, r->line);
            rc = MEND_EPARSE;
            break;
        }
        if (l.n >= MEND_EVAL_MAX_WINDOWS) {
            mend_set_err(err, errlen, "%s:%zu: more than %d windows", path, r->line,
                   MEND_EVAL_MAX_WINDOWS);
            rc = MEND_ECAP;
            break;
        }
        if (l.n == l.cap) {
            size_t cap = l.cap ? l.cap * 2 : 64;
            struct mend_eval_label *v = realloc(l.v, cap * sizeof *v);
            if (!v) {
                rc = MEND_ENOMEM;
                mend_set_err(err, errlen, "%s:%zu: out of memory", path, r->line);
                break;
            }
            l.v = v;
            l.cap = cap;
        }
        char *name = malloc(f[0].len + 1);
        if (!name) {
            rc = MEND_ENOMEM;
            mend_set_err(err, errlen, "%s:%zu: out of memory", path, r->line);
            break;
        }
        memcpy(name, f[0].p, f[0].len);
        name[f[0].len] = '\0';
        l.v[l.n].file = name;
        l.v[l.n].win = w;
        l.v[l.n].line = r->line;
        l.n++;
        rc = 1;
    }
    fclose(r->f);
    free(r);
    if (rc == 0 && l.n) {
        qsort(l.v, l.n, sizeof *l.v, label_cmp);
        for (size_t i = 1; i < l.n; i++) {
            if (!strcmp(l.v[i].file, l.v[i - 1].file) &&
                l.v[i].win.start_ns <= l.v[i - 1].win.end_ns) {
                mend_set_err(err, errlen, "%s:%zu: window overlaps the one on line %zu", path,
                       l.v[i].line, l.v[i - 1].line);
                rc = MEND_EPARSE;
                break;
            }
        }
    }
    if (rc < 0) {
        mend_eval_labels_fini(&l);
        return rc;
    }
    *out = l;
    return MEND_OK;
}
