/* cmd_score_train.c -- `mend score --train TRAIN.csv TEST.csv`: one entity's
 * multivariate series, learnt from a normal period, then scored causally.
 *
 * Input: CSV with a header of column names; the first column is a timestamp
 * when its header says so (timestamp, time, date, datetime, ts), else rows
 * are numbered. An empty cell is a missing value. TRAIN and TEST must have
 * the same columns in the same order.
 *
 * Every TRAIN row is learnt as normal by three models: the per-column
 * baselines (the univariate scorer of `mend score`, one per column), the
 * multivariate Gaussian of the entity (no forgetting, so every training row
 * counts the same), and the one-class SVM over the columns' features
 * (ocsvm.h). Each model's anomaly value is then calibrated on the training
 * rows themselves into the same scale, -log10(tail probability)/10 (0.5 = a
 * 1e-5 tail), so the channels are comparable. The Gaussian family's score is
 * its more surprising channel (per-column or joint); the fused score is the
 * mean of the family's and the SVM's, i.e. the geometric mean of their tail
 * probabilities, so both families must agree for a row to score high. TEST rows are then scored in order: per-column
 * baselines keep learning (they are online models), the Gaussian and the SVM
 * stay as trained. Each channel's calibrated score is averaged over the last
 * detect.likelihood_short rows, as the univariate likelihood layer does,
 * which turns isolated blips down and sustained departures up.
 *
 * Output: `timestamp,anomaly_score,gauss,ocsvm` per TEST row: the fused
 * score (mean of the other two), the Gaussian family (max of the per-column
 * and the multivariate channel) and the SVM, each in [0,1]. Rows are echoed in order; a row that
 * cannot be scored (bad cells are treated as missing, a time going backwards
 * or an overlong line is reported) is still written, with 0s. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "mend/common.h"
#include "mend/config.h"
#include "mend/mvgauss.h"
#include "mend/ocsvm.h"
#include "mend/scorer.h"
#include "mend/timefmt.h"

#define ST_MAX_LINE 65536          /* longer rows are refused */
#define ST_MAX_VALUES (16u << 20)  /* TRAIN rows x columns kept in memory */
#define ST_MAX_MESSAGES 20         /* malformed-cell messages before only counting */
#define ST_MAX_SMOOTH 1000u

struct csv_in {
    FILE *f;
    const char *name;
    uint64_t line;
    char buf[ST_MAX_LINE + 2];
    size_t len;
};

/* Reads one line into in->buf without its line ending. Returns 1, 0 at end
 * of file, 2 for an overlong line (the rest of it is consumed), -1 on a read
 * error. Bounded: never holds more than ST_MAX_LINE bytes. */
static int read_line(struct csv_in *in)
{
    if (!fgets(in->buf, sizeof in->buf, in->f))
        return ferror(in->f) ? -1 : 0;
    in->line++;
    size_t n = strlen(in->buf);
    if (n && in->buf[n - 1] != '\n' && n == sizeof in->buf - 1) {
        int c;
        while ((c = fgetc(in->f)) != EOF && c != '\n')
            ;
        return 2;
    }
    while (n && (in->buf[n - 1] == '\n' || in->buf[n - 1] == '\r'))
        n--;
    in->buf[n] = '\0';
    in->len = n;
    return 1;
}

/* Next comma-separated cell of (s, end): trimmed and unquoted. */
static const char *next_cell(const char **s, const char *end, size_t *len, size_t *col0)
{
    const char *p = *s;
    const char *c = memchr(p, ',', (size_t)(end - p));
    const char *ce = c ? c : end;
    *col0 = 0;
    *s = c ? c + 1 : end + 1;
    while (p < ce && (*p == ' ' || *p == '\t'))
        p++;
    while (ce > p && (ce[-1] == ' ' || ce[-1] == '\t'))
        ce--;
    if (ce - p >= 2 && *p == '"' && ce[-1] == '"') {
        p++;
        ce--;
    }
    *len = (size_t)(ce - p);
    return p;
}

struct header {
    size_t ncol;          /* value columns */
    int has_time;
    char *names[MEND_OCSVM_MAX_SERIES];
};

static void header_fini(struct header *h)
{
    for (size_t i = 0; i < h->ncol; i++)
        free(h->names[i]);
    memset(h, 0, sizeof *h);
}

static int is_time_name(const char *s, size_t n)
{
    static const char *const names[] = {"timestamp", "time", "date", "datetime", "ts"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && !strncasecmp(s, names[i], n))
            return 1;
    return 0;
}

static int read_header(struct csv_in *in, struct header *h)
{
    int r;
    memset(h, 0, sizeof *h);
    while ((r = read_line(in)) == 1 && in->len == 0)
        ;
    if (r != 1) {
        fprintf(stderr, "mend score: %s: %s\n", in->name,
                r == 0 ? "empty file (a header of column names is needed)"
                : r == 2 ? "header line longer than 65536 bytes"
                         : strerror(errno));
        return MEND_EPARSE;
    }
    const char *s = in->buf, *end = in->buf + in->len;
    size_t idx = 0;
    while (s <= end) {
        size_t l, c0;
        const char *cell = next_cell(&s, end, &l, &c0);
        if (idx == 0 && is_time_name(cell, l)) {
            h->has_time = 1;
            idx++;
            continue;
        }
        idx++;
        if (l == 0) {
            fprintf(stderr, "mend score: %s:%llu: column %zu has an empty name\n", in->name,
                    (unsigned long long)in->line, idx);
            header_fini(h);
            return MEND_EPARSE;
        }
        if (h->ncol == MEND_OCSVM_MAX_SERIES) {
            fprintf(stderr, "mend score: %s:%llu: more than %d value columns\n", in->name,
                    (unsigned long long)in->line, MEND_OCSVM_MAX_SERIES);
            header_fini(h);
            return MEND_ECAP;
        }
        h->names[h->ncol] = strndup(cell, l);
        if (!h->names[h->ncol]) {
            header_fini(h);
            return MEND_ENOMEM;
        }
        h->ncol++;
    }
    if (h->ncol == 0) {
        fprintf(stderr, "mend score: %s:%llu: no value columns in the header\n", in->name,
                (unsigned long long)in->line);
        return MEND_EPARSE;
    }
    return MEND_OK;
}

struct run {
    struct header hdr;
    uint64_t bad;            /* malformed cells or rows */
    uint64_t rownum;         /* rows seen so far, TRAIN then TEST (the time of
                                rows without a timestamp column) */
    uint64_t test_rows;      /* TEST rows written (their number when untimed) */
    int64_t last_t;
    int have_t;
};

static void complain(struct run *r, const struct csv_in *in, size_t col, const char *what)
{
    r->bad++;
    if (r->bad <= ST_MAX_MESSAGES)
        fprintf(stderr, "mend score: %s:%llu:%zu: %s\n", in->name, (unsigned long long)in->line,
                col, what);
    if (r->bad == ST_MAX_MESSAGES)
        fprintf(stderr, "mend score: further malformed cells are only counted\n");
}

/* Parses the current line of in into row (NaN = missing) and *t. Returns 1
 * for a usable row, 0 for one that cannot be scored. ts/tslen: the
 * timestamp text as given (for the echo). */
static int parse_row(struct run *r, struct csv_in *in, double *row, int64_t *t, const char **ts,
                     size_t *tslen)
{
    const char *s = in->buf, *end = in->buf + in->len;
    size_t k = 0, col = 1;
    int ok = 1;
    *ts = "";
    *tslen = 0;
    for (size_t i = 0; i < r->hdr.ncol; i++)
        row[i] = NAN;
    if (r->hdr.has_time) {
        size_t l, c0;
        const char *cell = next_cell(&s, end, &l, &c0);
        *ts = cell;
        *tslen = l;
        if (mend_time_parse_any(cell, l, t)) {
            complain(r, in, col, "bad timestamp (row scored 0)");
            ok = 0;
        }
        col = (size_t)(s - in->buf) + 1;
    } else {
        *t = (int64_t)r->rownum;
    }
    while (s <= end && k < r->hdr.ncol) {
        size_t l, c0;
        size_t at = (size_t)(s - in->buf) + 1;
        const char *cell = next_cell(&s, end, &l, &c0);
        double v;
        if (l == 0) {
            k++;
            continue;
        }
        if (mend_parse_f64(cell, l, 0, &v)) {
            complain(r, in, at, "bad value (treated as missing)");
            k++;
            continue;
        }
        row[k++] = v;
    }
    if (s <= end)
        complain(r, in, (size_t)(s - in->buf) + 1, "more cells than header columns (ignored)");
    if (ok && r->have_t && *t < r->last_t) {
        complain(r, in, 1,
                 "timestamp earlier than the previous row's, TEST must follow TRAIN (row scored 0)");
        ok = 0;
    }
    if (ok) {
        r->last_t = *t;
        r->have_t = 1;
    }
    r->rownum++;
    return ok;
}

/* Causal mean of a channel's last w scores. */
struct smooth {
    double v[ST_MAX_SMOOTH];
    uint32_t w, n, head;
    double sum;
};

static double smooth_push(struct smooth *s, double x)
{
    if (s->n == s->w) {
        s->sum -= s->v[s->head];
        s->n--;
    }
    s->v[s->head] = x;
    s->head = (s->head + 1) % s->w;
    s->sum += x;
    s->n++;
    double m = s->sum / s->n;
    return m < 0 ? 0 : m > 1 ? 1 : m;
}

struct models {
    struct mend_scorer_conf sconf;
    size_t ssize;
    unsigned char *sstate;      /* ncol scorer blobs */
    struct mend_mvg *mvg;       /* NULL when the entity has more columns than it takes */
    struct mend_ocsvm_feat *feat;
    struct mend_ocsvm *svm;
    double *fx, *scratch;       /* feature vector, scoring scratch */
    struct mend_calib *col_cal, *mvg_cal;
    struct smooth sm[3];
};

static void *state_of(struct models *m, size_t c)
{
    return m->sstate + c * m->ssize;
}

/* The per-column channel: the largest calibrated likelihood over the row's
 * columns (each scorer learns the value). */
static double step_columns(struct models *m, size_t ncol, int64_t t, const double *row)
{
    double best = 0.0;
    for (size_t c = 0; c < ncol; c++) {
        if (isnan(row[c]))
            continue;
        struct mend_scorer_detail d;
        mend_scorer_step(state_of(m, c), &m->sconf, t, row[c], NULL);
        mend_scorer_detail(state_of(m, c), &m->sconf, &d);
        if (d.likelihood > best)
            best = d.likelihood;
    }
    return best;
}

/* The multivariate channel's anomaly value: d^2 standardised by its
 * chi-square mean and spread for the observed dimensions, so rows with holes
 * stay comparable. NaN when nothing could be scored. */
static double mvg_value(struct mend_mvg *g, const double *row, size_t ncol)
{
    double d2 = 0.0;
    size_t k = 0;
    for (size_t c = 0; c < ncol; c++)
        k += isnan(row[c]) ? 0u : 1u;
    if (!g || k == 0 || mend_mvg_score(g, row, NULL, &d2, NULL) != MEND_OK)
        return NAN;
    return (d2 - (double)k) / sqrt(2.0 * (double)k);
}

static void models_fini(struct models *m, size_t ncol)
{
    if (m->sstate)
        for (size_t c = 0; c < ncol; c++)
            mend_scorer_fini(state_of(m, c), &m->sconf);
    free(m->sstate);
    mend_mvg_free(m->mvg);
    mend_ocsvm_feat_free(m->feat);
    mend_ocsvm_free(m->svm);
    free(m->fx);
    free(m->scratch);
    free(m->col_cal);
    free(m->mvg_cal);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mend score --train TRAIN.csv [--config FILE] [--set KEY=VALUE]... "
            "[--strict] TEST.csv\n\n"
            "Learns one entity's multivariate series from TRAIN.csv (every row is normal) and\n"
            "scores TEST.csv causally. Both are CSV with a header of column names and an\n"
            "optional first timestamp column (named timestamp, time, date, datetime or ts);\n"
            "an empty cell is missing. Writes `timestamp,anomaly_score,gauss,ocsvm` per test\n"
            "row: the fused score (the mean of the next two), the Gaussian family (per-column\n"
            "baselines and the multivariate Gaussian) and the one-class SVM, each in [0,1] on the\n"
            "scale -log10(tail probability)/10 learnt on TRAIN.csv (0.5 = a 1e-5 tail).\n\n"
            "options:\n"
            "  --train FILE     the normal period (required for this mode)\n"
            "  --config FILE    YAML configuration (detect: and multivariate: sections)\n"
            "  --set KEY=VALUE  detect.KEY or ocsvm.KEY (diffs, lags, missing, nu, gamma,\n"
            "                   max_train, select, tol, seed); repeatable\n"
            "  --strict         exit 3 when any cell or row was malformed\n");
}

static int open_in(struct csv_in *in, const char *path)
{
    memset(in, 0, sizeof *in);
    in->name = path;
    in->f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in->f) {
        fprintf(stderr, "mend score: %s: %s\n", path, strerror(errno));
        return MEND_EIO;
    }
    return MEND_OK;
}

static void close_in(struct csv_in *in)
{
    if (in->f && in->f != stdin)
        fclose(in->f);
    in->f = NULL;
}

/* Reads every TRAIN row into *vals (rows x ncol) and *times. */
static int load_train(struct run *r, struct csv_in *in, double **vals, int64_t **times,
                      size_t *nrows)
{
    size_t cap = 0, n = 0, ncol = r->hdr.ncol;
    double *v = NULL;
    int64_t *t = NULL;
    int got;
    while ((got = read_line(in)) > 0) {
        if (got == 2) {
            complain(r, in, ST_MAX_LINE + 1, "row longer than 65536 bytes (skipped)");
            continue;
        }
        if (in->len == 0)
            continue;
        if ((n + 1) * ncol > ST_MAX_VALUES) {
            fprintf(stderr, "mend score: %s: more than %u values; the rest is not learnt\n",
                    in->name, ST_MAX_VALUES);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            double *nv = realloc(v, nc * ncol * sizeof *v);
            if (!nv)
                goto nomem;
            v = nv;
            int64_t *nt = realloc(t, nc * sizeof *t);
            if (!nt)
                goto nomem;
            t = nt;
            cap = nc;
        }
        const char *ts;
        size_t tl;
        if (parse_row(r, in, v + n * ncol, &t[n], &ts, &tl))
            n++;
    }
    if (got < 0) {
        fprintf(stderr, "mend score: %s: read error: %s\n", in->name, strerror(errno));
        free(v);
        free(t);
        return MEND_EIO;
    }
    *vals = v;
    *times = t;
    *nrows = n;
    return MEND_OK;
nomem:
    fprintf(stderr, "mend score: %s: out of memory\n", in->name);
    free(v);
    free(t);
    return MEND_ENOMEM;
}

/* Learns the training rows into every model and fits the calibrations. */
static int train_models(struct run *r, struct models *m, const struct mend_config *cfg,
                        const struct mend_ocsvm_conf *oc, const double *vals,
                        const int64_t *times, size_t n)
{
    size_t ncol = r->hdr.ncol;
    char err[512];
    int rc;
    double *cal = malloc((n ? n : 1) * sizeof *cal);
    double *X = NULL;
    struct mend_ocsvm_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!cal)
        return MEND_ENOMEM;

    /* Per-column baselines: learnt online; the channel's calibration uses
     * the rows after the scorer's warm-up. */
    size_t warm = m->sconf.warmup < n / 2 ? m->sconf.warmup : n / 2, nc = 0;
    for (size_t i = 0; i < n; i++) {
        double v = step_columns(m, ncol, times[i], vals + i * ncol);
        if (i >= warm)
            cal[nc++] = v;
    }
    rc = mend_calib_fit(m->col_cal, cal, nc);
    if (rc) {
        fprintf(stderr, "mend score: too few training rows to calibrate the baselines (%zu)\n",
                n);
        goto out;
    }

    /* Multivariate Gaussian: every training row with the same weight. */
    if (m->mvg) {
        for (size_t i = 0; i < n; i++)
            mend_mvg_learn(m->mvg, vals + i * ncol);
        nc = 0;
        for (size_t i = 0; i < n; i++) {
            double a = mvg_value(m->mvg, vals + i * ncol, ncol);
            if (!isnan(a))
                cal[nc++] = a;
        }
        if (mend_calib_fit(m->mvg_cal, cal, nc)) {
            mend_mvg_free(m->mvg);
            m->mvg = NULL;
        }
    }

    /* One-class SVM on the feature vectors of the training rows. */
    rc = mend_ocsvm_spec_init(&spec, (const char *const *)r->hdr.names, ncol, oc);
    if (rc)
        goto out;
    rc = mend_ocsvm_feat_new(&spec, &m->feat);
    if (rc)
        goto out;
    size_t dim = mend_ocsvm_spec_dim(&spec), nx = 0;
    X = malloc((n ? n : 1) * dim * sizeof *X);
    m->fx = malloc(dim * sizeof *m->fx);
    if (!X || !m->fx) {
        rc = MEND_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (mend_ocsvm_feat_push(m->feat, vals + i * ncol, X + nx * dim) == 1)
            nx++;
    rc = mend_ocsvm_train(oc, &spec, X, nx, n ? times[0] : 0, n ? times[n - 1] : 0,
                          MEND_VERSION, NULL, NULL, &m->svm, NULL, err, sizeof err);
    if (rc) {
        fprintf(stderr, "mend score: training the one-class SVM: %s\n", err);
        goto out;
    }
    m->scratch = malloc(mend_ocsvm_scratch_len(m->svm) * sizeof *m->scratch);
    if (!m->scratch)
        rc = MEND_ENOMEM;
out:
    (void)cfg;
    mend_ocsvm_spec_fini(&spec);
    free(cal);
    free(X);
    return rc;
}

/* Scores the current TEST line and writes its output row. */
static void score_test_row(struct run *r, struct models *m, struct csv_in *in, double *row,
                           FILE *out)
{
    size_t ncol = r->hdr.ncol;
    int64_t t;
    const char *ts;
    size_t tl;
    double col = 0, mv = 0, sv = 0;
    if (parse_row(r, in, row, &t, &ts, &tl)) {
        col = mend_calib_score(m->col_cal, step_columns(m, ncol, t, row));
        double a = mvg_value(m->mvg, row, ncol);
        mv = isnan(a) ? 0.0 : mend_calib_score(m->mvg_cal, a);
        if (mend_ocsvm_feat_push(m->feat, row, m->fx) == 1)
            mend_ocsvm_score(m->svm, m->fx, m->scratch, NULL, &sv);
    }
    col = smooth_push(&m->sm[0], col);
    mv = smooth_push(&m->sm[1], mv);
    sv = smooth_push(&m->sm[2], sv);
    double gauss = col > mv ? col : mv;
    /* The mean of the two families' surprises is the geometric mean of their
     * tail probabilities: agreement counts, one family's lone blip is halved. */
    double fused = 0.5 * (gauss + sv);
    if (r->hdr.has_time)
        fprintf(out, "%.*s,%.6f,%.6f,%.6f\n", (int)tl, ts, fused, gauss, sv);
    else
        fprintf(out, "%llu,%.6f,%.6f,%.6f\n", (unsigned long long)r->test_rows, fused, gauss,
                sv);
    r->test_rows++; /* after the echo */
}

int mend_cmd_score_train(int argc, char **argv)
{
    struct mend_config cfg;
    struct mend_ocsvm_conf oc;
    char err[512];
    const char *train_path = NULL, *test_path = NULL;
    int strict = 0, rc, exit_code = MEND_EXIT_RUNTIME;

    mend_config_defaults(&cfg);
    mend_ocsvm_conf_defaults(&oc);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return MEND_EXIT_OK;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mend score: --config needs a file\n");
                return MEND_EXIT_USAGE;
            }
            if (mend_config_load(&cfg, argv[++i], err, sizeof err)) {
                fprintf(stderr, "mend score: %s\n", err);
                return MEND_EXIT_USAGE;
            }
        }
    }
    struct mend_scorer_conf sconf = cfg.engine.scorer;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
        } else if (!strcmp(argv[i], "--train")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mend score: --train needs a file\n");
                return MEND_EXIT_USAGE;
            }
            train_path = argv[++i];
        } else if (!strcmp(argv[i], "--set")) {
            char kv[256];
            char *eq;
            if (i + 1 >= argc || strlen(argv[i + 1]) >= sizeof kv ||
                !(eq = strchr(strcpy(kv, argv[i + 1]), '='))) {
                fprintf(stderr, "mend score: --set needs KEY=VALUE\n");
                return MEND_EXIT_USAGE;
            }
            i++;
            *eq = '\0';
            if (!strncmp(kv, "ocsvm.", 6))
                rc = mend_ocsvm_conf_set(&oc, kv + 6, eq + 1, err, sizeof err);
            else
                rc = mend_scorer_conf_set(&sconf, strncmp(kv, "detect.", 7) ? kv : kv + 7,
                                          eq + 1, err, sizeof err);
            if (rc) {
                fprintf(stderr, "mend score: %s\n", err);
                return MEND_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--strict")) {
            strict = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "mend score: unknown option '%s' (see mend score --train x --help)\n",
                    argv[i]);
            return MEND_EXIT_USAGE;
        } else if (!test_path) {
            test_path = argv[i];
        } else {
            fprintf(stderr, "mend score: one test file at most ('%s')\n", argv[i]);
            return MEND_EXIT_USAGE;
        }
    }
    if (!train_path || !test_path) {
        fprintf(stderr, "mend score: --train TRAIN.csv and a TEST.csv are both needed\n");
        return MEND_EXIT_USAGE;
    }
    if (mend_scorer_conf_check(&sconf, err, sizeof err)) {
        fprintf(stderr, "mend score: %s\n", err);
        return MEND_EXIT_USAGE;
    }

    struct run r;
    struct models m;
    struct csv_in *in = malloc(sizeof *in);
    struct header th;
    double *vals = NULL, *row = NULL;
    int64_t *times = NULL;
    size_t n = 0;
    memset(&r, 0, sizeof r);
    memset(&m, 0, sizeof m);
    memset(&th, 0, sizeof th);
    if (!in) {
        fprintf(stderr, "mend score: out of memory\n");
        return MEND_EXIT_RUNTIME;
    }
    in->f = NULL;
    if (open_in(in, train_path))
        goto out;
    if (read_header(in, &r.hdr))
        goto out;
    if (load_train(&r, in, &vals, &times, &n))
        goto out;
    close_in(in);
    if (n < 2) {
        fprintf(stderr, "mend score: %s: at least 2 usable rows are needed, got %zu\n",
                train_path, n);
        goto out;
    }

    size_t ncol = r.hdr.ncol;
    m.sconf = sconf;
    m.ssize = mend_scorer_state_size(&m.sconf);
    m.sstate = calloc(ncol, m.ssize);
    m.col_cal = malloc(sizeof *m.col_cal);
    m.mvg_cal = malloc(sizeof *m.mvg_cal);
    row = malloc(ncol * sizeof *row);
    if (!m.sstate || !m.col_cal || !m.mvg_cal || !row) {
        fprintf(stderr, "mend score: out of memory\n");
        goto out;
    }
    for (size_t c = 0; c < ncol; c++)
        if ((rc = mend_scorer_init(state_of(&m, c), &m.sconf))) {
            fprintf(stderr, "mend score: cannot set up the scorer: %s\n", mend_strerror(rc));
            goto out;
        }
    struct mend_mvg_conf gc = cfg.engine.mvg;
    gc.half_life = INFINITY;
    if (ncol <= gc.max_dim && ncol >= 2 && mend_mvg_new(ncol, &gc, &m.mvg)) {
        fprintf(stderr, "mend score: cannot set up the multivariate Gaussian\n");
        goto out;
    }
    for (int k = 0; k < 3; k++)
        m.sm[k].w = m.sconf.lik_short < ST_MAX_SMOOTH ? m.sconf.lik_short : ST_MAX_SMOOTH;
    if ((rc = train_models(&r, &m, &cfg, &oc, vals, times, n))) {
        if (rc != MEND_ERANGE && rc != MEND_EINVAL)
            fprintf(stderr, "mend score: training failed: %s\n", mend_strerror(rc));
        goto out;
    }
    free(vals);
    vals = NULL;

    if (open_in(in, test_path))
        goto out;
    if (read_header(in, &th))
        goto out;
    if (th.has_time != r.hdr.has_time || th.ncol != ncol) {
        fprintf(stderr, "mend score: %s: %zu value columns%s, %s has %zu%s\n", test_path,
                th.ncol, th.has_time ? " and a timestamp" : "", train_path, ncol,
                r.hdr.has_time ? " and a timestamp" : "");
        goto out;
    }
    for (size_t c = 0; c < ncol; c++)
        if (strcmp(th.names[c], r.hdr.names[c])) {
            fprintf(stderr, "mend score: %s: column %zu is '%s', in %s it is '%s'\n", test_path,
                    c + 1, th.names[c], train_path, r.hdr.names[c]);
            goto out;
        }
    fputs("timestamp,anomaly_score,gauss,ocsvm\n", stdout);
    int got;
    while ((got = read_line(in)) > 0) {
        if (got == 2) {
            complain(&r, in, ST_MAX_LINE + 1, "row longer than 65536 bytes (scored 0)");
            fprintf(stdout, "%llu,0,0,0\n", (unsigned long long)r.test_rows++);
            r.rownum++;
            continue;
        }
        if (in->len == 0)
            continue;
        score_test_row(&r, &m, in, row, stdout);
    }
    if (got < 0) {
        fprintf(stderr, "mend score: %s: read error: %s\n", test_path, strerror(errno));
        goto out;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "mend score: write error: %s\n", strerror(errno));
        goto out;
    }
    struct mend_ocsvm_feat_stats fs;
    mend_ocsvm_feat_stats(m.feat, &fs);
    if (r.bad || fs.imputed || fs.skipped)
        fprintf(stderr,
                "mend score: %llu malformed cells or rows; svm features: %llu values imputed, "
                "%llu rows skipped\n",
                (unsigned long long)r.bad, (unsigned long long)fs.imputed,
                (unsigned long long)fs.skipped);
    exit_code = strict && r.bad ? MEND_EXIT_BADINPUT : MEND_EXIT_OK;
out:
    if (in)
        close_in(in);
    free(in);
    models_fini(&m, r.hdr.ncol);
    header_fini(&th);
    header_fini(&r.hdr);
    free(vals);
    free(times);
    free(row);
    return exit_code;
}
