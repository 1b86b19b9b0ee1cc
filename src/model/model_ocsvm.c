/* model_ocsvm.c -- the one-class SVM (ocsvm.h) as the engine's second
 * entity model (model.h ops table), with its `ocsvm:` configuration map.
 *
 * An instance holds the feature extractor of its entity (the history the
 * first differences and lags need) and, once trained, the SVM. learn pushes
 * every row into the history; score only peeks at it, so it is const,
 * allocation-free and lock-free (what it writes goes to the per-entity
 * scratch). Before the first training an instance is a shell: it keeps the
 * history and cannot judge (MEND_ERANGE), and the engine collects its rows.
 * The train op runs on the engine's trainer thread: a fresh extractor turns
 * the collected rows (oldest first) into feature vectors, mend_ocsvm_train
 * fits and calibrates, and the result is a new instance with an empty
 * history that the carry op fills from the live one at go-live -- so a
 * retrained model continues the diffs and lags exactly where the old one
 * was, and a checkpoint (which saves the history with the model) restores
 * them exactly. mend_ocsvm_train is pure and libsvm's print hook is set once
 * in main (ocsvm.h), so training on the worker thread shares nothing with
 * the loop thread that scores.
 *
 * A configured model directory (`ocsvm.model`) is read once, on the main
 * thread, by mend_ocsvm_kind_init; an entity whose series keys include
 * every series of its feature spec borrows it (its series are picked by
 * name) and keeps it: such an instance is fixed, never retrained. */
#include "mend/ocsvm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/confmap.h"
#include "mend/model.h"

#include "ocsvm_internal.h"

#define INST_TAG 0x314d434fu /* "OCM1" little-endian */
#define INST_VERSION 1u
#define ONLINE_VERSION "online"
#define CALIB_EVERY 4u  /* one training vector in 4 is held back for the calibration */
#define CALIB_MIN 20u   /* held-back vectors needed: fewer, and training fails */ /* the version field of a model trained in the engine */

enum { ST_SHELL = 0, ST_OWN = 1, ST_FIXED = 2 };

struct inst {
    const struct mend_ocsvm *svm; /* the model in use: own, or the configured one; NULL = shell */
    struct mend_ocsvm *own;       /* owned model, when it is ours */
    struct mend_ocsvm_feat *feat; /* history, in the model's series order */
    uint32_t dim;                 /* row members (the engine's dimension) */
    uint32_t n;                   /* series of the feature spec */
    uint32_t *pos;                /* n: row position of spec series i; NULL = identity */
    uint8_t state;                /* ST_* */
    uint32_t fdim;                /* features per vector */
};

/* Per-entity scratch: the permuted row, the imputed row, the feature
 * vector and its standardisation -- O(features), not O(support vectors),
 * so an entity costs the same whatever model it will get. */
struct scratch {
    uint32_t ncap, fcap;
    double *row, *cur, *x, *z;
};

/* ---- configuration ------------------------------------------------------- */

void mend_ocsvm_engine_conf_defaults(struct mend_ocsvm_engine_conf *c)
{
    memset(c, 0, sizeof *c);
    c->enabled = 0;
    c->threshold = 1e-5;
    c->train_rows = 1440;
    c->retrain_every = 1440;
    c->train_delay_ns = 300LL * 1000000000LL;
    mend_ocsvm_conf_defaults(&c->lib);
}

#define OFF(f) offsetof(struct mend_ocsvm_engine_conf, f)

static int parse_diffs(void *field, const char *v)
{
    uint32_t *d = field;
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *d = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *d = 0;
    else
        return MEND_EINVAL;
    return MEND_OK;
}

static void print_diffs(const void *field, char *out, size_t n)
{
    snprintf(out, n, "%s", *(const uint32_t *)field ? "true" : "false");
}

static const struct mend_conf_name missing_names[] = {
    {"impute", MEND_OCSVM_MISSING_IMPUTE}, {"skip", MEND_OCSVM_MISSING_SKIP}, {NULL, 0}};

static const struct mend_conf_entry entries[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = OFF(enabled), .def = "false",
     .help = "one-class SVM per entity over its series, their first differences and lags "
             "(trained in the background on each entity's first train_rows rows, then "
             "retrained on recent normal rows)"},
    {.key = "threshold", .type = MEND_CT_F64, .off = OFF(threshold), .min = 1e-300, .max = 0.5,
     .def = "1e-05",
     .help = "tail probability of the decision value (calibrated on the training rows) at or "
             "below which an entity's row is an anomaly"},
    {.key = "train_rows", .type = MEND_CT_U32, .off = OFF(train_rows), .min = 100, .max = 100000,
     .def = "1440", .help = "rows per entity per (re)training: the sliding window of normal rows"},
    {.key = "retrain_every", .type = MEND_CT_U32, .off = OFF(retrain_every), .min = 0,
     .max = 1e9, .def = "1440", .help = "normal rows between retrainings; 0 = train once"},
    {.key = "train_delay", .type = MEND_CT_DUR, .off = OFF(train_delay_ns), .min = 0,
     .max = 86400.0 * 365, .def = "5m",
     .help = "event time from a training's last row to its model going live (training runs on "
             "a worker thread meanwhile; output never depends on its speed)"},
    {.key = "model", .type = MEND_CT_STR, .off = OFF(model_dir), .size = MEND_OCSVM_MAX_DIR,
     .def = "",
     .help = "a model directory written by `mend train` (models/NAME): entities having its "
             "series use it and are not retrained; empty = train online only"},
    {.key = "diffs", .type = MEND_CT_CUSTOM, .off = OFF(lib.diffs), .parse = parse_diffs,
     .print = print_diffs, .def = "true", .accepts = "must be true or false",
     .help = "first difference of each series as a feature"},
    {.key = "lags", .type = MEND_CT_U32, .off = OFF(lib.lags), .min = 0,
     .max = MEND_OCSVM_MAX_LAGS, .def = "0", .help = "lagged values of each series as features"},
    {.key = "missing", .type = MEND_CT_ENUM, .off = OFF(lib.missing), .size = 4,
     .names = missing_names, .def = "impute",
     .help = "a row missing a member: impute (last value, counted) or skip (counted)"},
    {.key = "nu", .type = MEND_CT_F64, .off = OFF(lib.nu), .min = 1e-6, .max = 1, .def = "0.01",
     .help = "libsvm nu: bound on the training rows outside the learnt support"},
    {.key = "gamma", .type = MEND_CT_F64, .off = OFF(lib.gamma), .min = 0, .max = 1e6,
     .def = "0", .help = "RBF kernel gamma; 0 = 1/median squared distance of the training rows"},
    {.key = "max_train", .type = MEND_CT_U32, .off = OFF(lib.max_train), .min = 2,
     .max = MEND_OCSVM_MAX_TRAIN, .def = "4000",
     .help = "training vectors kept (evenly subsampled beyond): bounds training time"},
    {.key = "select", .type = MEND_CT_BOOL, .off = OFF(lib.select), .def = "false",
     .help = "choose nu and gamma by validation on held-back normal rows"},
    {.key = "tol", .type = MEND_CT_F64, .off = OFF(lib.tol), .min = 1e-9, .max = 1,
     .def = "0.001", .help = "libsvm stopping tolerance"},
    {.key = "seed", .type = MEND_CT_U64, .off = OFF(lib.seed), .min = 0, .max = 1e15, .def = "1",
     .help = "subsampling seed (training is deterministic)"},
};

static int conf_check(const void *conf, char *err, size_t errlen)
{
    const struct mend_ocsvm_engine_conf *c = conf;
    if (c->retrain_every && c->retrain_every > 1000000000u) {
        snprintf(err, errlen, "ocsvm.retrain_every: too large");
        return MEND_EINVAL;
    }
    return mend_ocsvm_conf_check(&c->lib, err, errlen);
}

const struct mend_conf_map mend_ocsvm_conf_map = {
    .name = "ocsvm", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_ocsvm_engine_conf), .check = conf_check,
};

/* ---- instances ------------------------------------------------------------ */

static void inst_free(struct inst *o)
{
    if (!o)
        return;
    mend_ocsvm_free(o->own);
    mend_ocsvm_feat_free(o->feat);
    free(o->pos);
    free(o);
}

/* A spec over n series named by row position (online models see rows, not
 * names: the engine's row order is their identity). */
static int spec_positional(struct mend_ocsvm_spec *s, size_t n, const struct mend_ocsvm_conf *c)
{
    char **names = calloc(n, sizeof *names);
    char *buf = malloc(n * 12);
    int rc = MEND_ENOMEM;
    if (names && buf) {
        for (size_t i = 0; i < n; i++) {
            names[i] = buf + i * 12;
            snprintf(names[i], 12, "m%u", (unsigned)(i & 0xffffu)); /* i < MEND_OCSVM_MAX_SERIES */
        }
        rc = mend_ocsvm_spec_init(s, (const char *const *)names, n, c);
    }
    free(names);
    free(buf);
    return rc;
}

/* An instance over spec (copied) for rows of dim members. */
static int inst_new(const struct mend_ocsvm_spec *spec, size_t dim, struct inst **out)
{
    struct inst *o = calloc(1, sizeof *o);
    if (!o)
        return MEND_ENOMEM;
    int rc = mend_ocsvm_feat_new(spec, &o->feat);
    if (rc != MEND_OK) {
        free(o);
        return rc;
    }
    o->dim = (uint32_t)dim;
    o->n = spec->n_series;
    o->fdim = (uint32_t)mend_ocsvm_spec_dim(spec);
    *out = o;
    return MEND_OK;
}

static int oc_create(const void *conf, size_t dim, void **out)
{
    const struct mend_ocsvm_engine_conf *c = conf;
    if (dim < 1 || dim > MEND_OCSVM_MAX_SERIES)
        return MEND_EINVAL;
    struct mend_ocsvm_spec spec;
    int rc = spec_positional(&spec, dim, &c->lib);
    if (rc != MEND_OK)
        return rc;
    struct inst *o;
    rc = inst_new(&spec, dim, &o);
    mend_ocsvm_spec_fini(&spec);
    if (rc == MEND_OK)
        *out = o;
    return rc;
}

static int oc_create_named(const void *conf, const char *entity, size_t entity_len,
                           const char *const *keys, const size_t *lens, size_t dim, void **out)
{
    (void)entity;
    (void)entity_len;
    const struct mend_ocsvm_engine_conf *c = conf;
    const struct mend_ocsvm *pre = c->pretrained;
    if (!pre)
        return oc_create(conf, dim, out);
    const struct mend_ocsvm_spec *spec = mend_ocsvm_spec(pre);
    if (spec->n_series > dim)
        return oc_create(conf, dim, out);
    uint32_t *pos = malloc(spec->n_series * sizeof *pos);
    if (!pos)
        return MEND_ENOMEM;
    for (uint32_t j = 0; j < spec->n_series; j++) {
        size_t l = strlen(spec->names[j]);
        pos[j] = UINT32_MAX;
        for (uint32_t i = 0; i < dim; i++)
            if (keys[i] && lens[i] == l && !memcmp(keys[i], spec->names[j], l)) {
                pos[j] = i; /* keys are unique in the registry */
                break;
            }
        if (pos[j] == UINT32_MAX) {
            free(pos); /* not this model's entity: learn online */
            return oc_create(conf, dim, out);
        }
    }
    struct inst *o;
    int rc = inst_new(spec, dim, &o);
    if (rc != MEND_OK) {
        free(pos);
        return rc;
    }
    o->svm = pre;
    o->pos = pos;
    o->state = ST_FIXED;
    *out = o;
    return MEND_OK;
}

static int oc_scratch_new(const void *conf, size_t dim, void **out)
{
    const struct mend_ocsvm_engine_conf *c = conf;
    size_t n = dim;
    if (c->pretrained && mend_ocsvm_spec(c->pretrained)->n_series > n)
        n = mend_ocsvm_spec(c->pretrained)->n_series;
    size_t per = 1u + c->lib.diffs + c->lib.lags;
    size_t fcap = n * per;
    struct scratch *s = calloc(1, sizeof *s);
    size_t total = 2 * n + 2 * fcap;
    double *mem = s ? malloc(total * sizeof *mem) : NULL;
    if (!mem) {
        free(s);
        return MEND_ENOMEM;
    }
    s->ncap = (uint32_t)n;
    s->fcap = (uint32_t)fcap;
    s->row = mem;
    s->cur = s->row + n;
    s->x = s->cur + n;
    s->z = s->x + fcap;
    *out = s;
    return MEND_OK;
}

static void oc_scratch_free(void *scratch)
{
    struct scratch *s = scratch;
    if (!s)
        return;
    free(s->row);
    free(s);
}

/* The row in the instance's series order (the scratch's copy when o picks
 * series by name), or NULL when the scratch is too small. */
static const double *inst_row(const struct inst *o, const double *row, struct scratch *s)
{
    if (o->n > s->ncap || o->fdim > s->fcap)
        return NULL;
    if (!o->pos)
        return row;
    for (uint32_t i = 0; i < o->n; i++)
        s->row[i] = row[o->pos[i]];
    return s->row;
}

/* The decision value of standardised z, one support vector at a time: no
 * workspace. Each distance is summed over the features in order and the
 * kernel terms in support-vector order, as mend_ocsvm_decision_z does, so
 * the value is the same to the bit (the engine scores one row per entity
 * per interval; the feature-major sweep pays off on batches). */
static double decision(const struct mend_ocsvm *m, const double *restrict z)
{
    const size_t dim = mend_ocsvm_dim(m), nsv = mend_ocsvm_n_sv(m);
    const double *restrict sv = mend_ocsvm_sv(m);
    const double *restrict coef = mend_ocsvm_coef(m);
    const double g = mend_ocsvm_gamma(m);
    double sum = 0.0;
    for (size_t k = 0; k < nsv; k++) {
        const double *restrict v = sv + k * dim;
        double d2 = 0.0;
        for (size_t j = 0; j < dim; j++) {
            double t = z[j] - v[j];
            d2 += t * t;
        }
        sum += coef[k] * exp(-g * d2);
    }
    return sum - mend_ocsvm_rho(m);
}

static int oc_score(const void *m, const double *row, void *scratch, double *score, double *contrib)
{
    const struct inst *o = m;
    struct scratch *s = scratch;
    *score = 0.0;
    if (contrib)
        for (uint32_t i = 0; i < o->dim; i++)
            contrib[i] = 0.0;
    if (!o->svm)
        return MEND_ERANGE; /* a shell: nothing to judge with yet */
    const double *in = inst_row(o, row, s);
    if (!in || mend_ocsvm_dim(o->svm) != o->fdim ||
        mend_ocsvm_feat_peek(o->feat, in, s->cur, s->x) != 1)
        return MEND_ERANGE; /* warming up, skipped (missing), or not finite */
    mend_ocsvm_standardise(o->svm, s->x, s->z);
    *score = 1.0 - mend_ocsvm_tail(o->svm, decision(o->svm, s->z));
    if (contrib) {
        /* a member's push: the squared standardised distance of its features */
        uint32_t per = o->fdim / o->n;
        for (uint32_t i = 0; i < o->n; i++) {
            double sum = 0.0;
            for (uint32_t k = 0; k < per; k++)
                sum += s->z[i * per + k] * s->z[i * per + k];
            contrib[o->pos ? o->pos[i] : i] = sum;
        }
    }
    return MEND_OK;
}

static int oc_learn(void *m, const double *row, void *scratch)
{
    struct inst *o = m;
    struct scratch *s = scratch;
    const double *in = inst_row(o, row, s);
    if (!in)
        return MEND_ERANGE;
    int rc = mend_ocsvm_feat_push(o->feat, in, s->x);
    return rc < 0 ? rc : MEND_OK;
}

static int oc_train(const void *conf, size_t dim, const double *rows, size_t n, void **out)
{
    const struct mend_ocsvm_engine_conf *c = conf;
    if (dim < 1 || dim > MEND_OCSVM_MAX_SERIES || n < 2)
        return MEND_EINVAL;
    struct mend_ocsvm_spec spec;
    int rc = spec_positional(&spec, dim, &c->lib);
    if (rc != MEND_OK)
        return rc;
    size_t fdim = mend_ocsvm_spec_dim(&spec), nx = 0;
    struct mend_ocsvm_feat *f = NULL;
    struct inst *o = NULL;
    struct mend_ocsvm *svm = NULL;
    double *X = malloc(n * fdim * sizeof *X);
    if (!X) {
        rc = MEND_ENOMEM;
        goto out;
    }
    rc = mend_ocsvm_feat_new(&spec, &f);
    if (rc != MEND_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (mend_ocsvm_feat_push(f, rows + i * dim, X + nx * fdim) == 1)
            nx++;
    /* every 4th vector is held back for the calibration (ocsvm.h) */
    size_t nt = mend_ocsvm_hold_back(X, nx, fdim, CALIB_EVERY);
    char err[256];
    rc = mend_ocsvm_train(&c->lib, &spec, X, nt, 0, 0, ONLINE_VERSION, NULL, NULL, &svm, NULL, err,
                          sizeof err);
    if (rc == MEND_OK)
        rc = nx - nt >= CALIB_MIN ? mend_ocsvm_recalibrate(svm, X + nt * fdim, nx - nt)
                                  : MEND_ERANGE;
    if (rc != MEND_OK)
        goto out; /* too few vectors, or libsvm gave nothing usable: the old model stays */
    rc = inst_new(&spec, dim, &o);
    if (rc != MEND_OK)
        goto out;
    o->own = svm;
    o->svm = svm;
    o->state = ST_OWN;
    svm = NULL;
    *out = o;
out:
    mend_ocsvm_free(svm);
    mend_ocsvm_feat_free(f);
    free(X);
    mend_ocsvm_spec_fini(&spec);
    return rc;
}

static int oc_carry(void *to, const void *from)
{
    struct inst *t = to;
    const struct inst *f = from;
    uint32_t map[MEND_OCSVM_MAX_SERIES];
    if (t->pos || t->n > MEND_OCSVM_MAX_SERIES)
        return MEND_EINVAL; /* only models trained here (row order) take history */
    for (uint32_t i = 0; i < t->n; i++) {
        map[i] = UINT32_MAX;
        if (!f->pos) {
            if (i < f->n)
                map[i] = i;
        } else {
            for (uint32_t j = 0; j < f->n; j++)
                if (f->pos[j] == i)
                    map[i] = j;
        }
    }
    return mend_ocsvm_feat_carry(t->feat, f->feat, map);
}

static int oc_trained(const void *m)
{
    const struct inst *o = m;
    return o->state == ST_FIXED ? 2 : o->svm ? 1 : 0;
}

static size_t oc_dim(const void *m) { return ((const struct inst *)m)->dim; }

static void oc_destroy(void *m) { inst_free(m); }

/* Record: tag, version, dim, n, state, pos (when picked by name), the
 * model (when trained), then the history. */
static int oc_save(const void *m, struct mend_wbuf *w)
{
    const struct inst *o = m;
    mend_wbuf_u32(w, INST_TAG);
    mend_wbuf_u32(w, INST_VERSION);
    mend_wbuf_u32(w, o->dim);
    mend_wbuf_u32(w, o->n);
    mend_wbuf_u8(w, o->state);
    mend_wbuf_u8(w, o->pos != NULL);
    if (o->pos)
        for (uint32_t i = 0; i < o->n; i++)
            mend_wbuf_u32(w, o->pos[i]);
    if (o->svm) {
        int rc = mend_ocsvm_save(o->svm, w);
        if (rc != MEND_OK)
            return rc;
    }
    return mend_ocsvm_feat_save(o->feat, w);
}

static int oc_load(const void *conf, size_t dim, struct mend_rbuf *r, void **out)
{
    const struct mend_ocsvm_engine_conf *c = conf;
    if (mend_rbuf_u32(r) != INST_TAG || r->failed)
        return MEND_ECORRUPT;
    if (mend_rbuf_u32(r) != INST_VERSION)
        return r->failed ? MEND_ECORRUPT : MEND_EVERSION;
    uint32_t d = mend_rbuf_u32(r), n = mend_rbuf_u32(r);
    uint8_t state = mend_rbuf_u8(r), has_pos = mend_rbuf_u8(r);
    if (r->failed || d != dim || n < 1 || n > MEND_OCSVM_MAX_SERIES || state > ST_FIXED ||
        has_pos > 1 || (has_pos && state != ST_FIXED) || (!has_pos && n != d) ||
        (has_pos && n > d))
        return MEND_ECORRUPT;
    uint32_t *pos = NULL;
    if (has_pos) {
        if (mend_rbuf_remaining(r) < (size_t)n * 4)
            return MEND_ECORRUPT;
        pos = malloc(n * sizeof *pos);
        if (!pos)
            return MEND_ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            pos[i] = mend_rbuf_u32(r);
            if (pos[i] >= d) {
                free(pos);
                return MEND_ECORRUPT;
            }
        }
    }
    struct mend_ocsvm *svm = NULL;
    struct mend_ocsvm_spec spec;
    int rc;
    if (state != ST_SHELL) {
        rc = mend_ocsvm_load(r, &svm);
        if (rc != MEND_OK) {
            free(pos);
            return rc;
        }
        if (mend_ocsvm_spec(svm)->n_series != n) {
            mend_ocsvm_free(svm);
            free(pos);
            return MEND_ECORRUPT;
        }
        rc = mend_ocsvm_spec_copy(&spec, mend_ocsvm_spec(svm));
    } else {
        rc = spec_positional(&spec, n, &c->lib);
    }
    if (rc != MEND_OK) {
        mend_ocsvm_free(svm);
        free(pos);
        return rc;
    }
    struct inst *o;
    rc = inst_new(&spec, d, &o);
    mend_ocsvm_spec_fini(&spec);
    if (rc != MEND_OK) {
        mend_ocsvm_free(svm);
        free(pos);
        return rc;
    }
    o->own = svm;
    o->svm = svm;
    o->pos = pos;
    o->state = state;
    rc = mend_ocsvm_feat_load(o->feat, r);
    if (rc != MEND_OK) {
        inst_free(o);
        return rc;
    }
    *out = o;
    return MEND_OK;
}

const struct mend_model_ops mend_model_ocsvm = {
    .name = "ocsvm",
    .create = oc_create,
    .scratch_new = oc_scratch_new,
    .scratch_free = oc_scratch_free,
    .score = oc_score,
    .learn = oc_learn,
    .train = oc_train,
    .save = oc_save,
    .load = oc_load,
    .destroy = oc_destroy,
    .dim = oc_dim,
    .create_named = oc_create_named,
    .trained = oc_trained,
    .carry = oc_carry,
};

/* ---- the kind --------------------------------------------------------------- */

int mend_ocsvm_kind_init(struct mend_ocsvm_engine_conf *c, struct mend_model_kind *kind,
                         char *err, size_t errlen)
{
    c->pretrained = NULL;
    int rc = conf_check(c, err, errlen);
    if (rc != MEND_OK)
        return rc;
    if (!(c->threshold > 0.0) || c->train_rows < 100 || c->train_delay_ns < 0) {
        snprintf(err, errlen, "ocsvm: threshold must be > 0, train_rows >= 100, train_delay >= 0");
        return MEND_EINVAL;
    }
    if (c->model_dir[0]) {
        struct mend_ocsvm *m;
        rc = mend_ocsvm_read_dir(c->model_dir, NULL, &m, err, errlen);
        if (rc != MEND_OK)
            return rc;
        const struct mend_ocsvm_spec *s = mend_ocsvm_spec(m);
        const char *what = s->diffs != c->lib.diffs     ? "diffs"
                           : s->lags != c->lib.lags     ? "lags"
                           : s->missing != c->lib.missing ? "missing"
                                                          : NULL;
        if (what) {
            snprintf(err, errlen,
                     "ocsvm.model %s: the model's feature spec does not match the configuration: "
                     "%s is %u in the model, %u in ocsvm.%s",
                     c->model_dir, what,
                     (unsigned)(what[0] == 'd' ? s->diffs : what[0] == 'l' ? s->lags : (uint32_t)s->missing),
                     (unsigned)(what[0] == 'd' ? c->lib.diffs : what[0] == 'l' ? c->lib.lags : (uint32_t)c->lib.missing),
                     what);
            mend_ocsvm_free(m);
            return MEND_EINVAL;
        }
        c->pretrained = m;
    }
    memset(kind, 0, sizeof *kind);
    kind->ops = &mend_model_ocsvm;
    kind->conf = c;
    kind->threshold = c->threshold;
    kind->train_rows = c->train_rows;
    kind->retrain_every = c->retrain_every;
    kind->train_delay_ns = c->train_delay_ns;
    return MEND_OK;
}

void mend_ocsvm_kind_fini(struct mend_ocsvm_engine_conf *c)
{
    if (!c)
        return;
    mend_ocsvm_free(c->pretrained);
    c->pretrained = NULL;
}
