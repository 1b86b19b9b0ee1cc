/* cmd_train.c -- `mend train`: a one-class SVM model of one entity from
 * recorded input, written to a model directory (models/NAME/).
 *
 * The input (line protocol, Prometheus text or CSV, any number of files or -)
 * goes through the same parsers as `mend replay`. The chosen entity's samples
 * are assembled into rows by timestamp, one column per series, the columns
 * in byte order of their keys so the feature spec does not depend on the
 * order in which series first appeared. Rows then go through the feature
 * extractor and the model is trained (ocsvm.h). Progress is shown on stderr
 * when it is a terminal. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mend/common.h"
#include "mend/config.h"
#include "mend/ingest.h"
#include "mend/ocsvm.h"
#include "mend/timefmt.h"

#define TR_MAX_POINTS (4u << 20)  /* samples of the chosen entity kept (96 MiB) */
#define TR_MAX_ENTITIES 4096u     /* distinct entities tracked */
#define TR_MAX_ENTITY_NAME 256u
#define TR_READ 65536u

struct pt {
    int64_t t;
    uint32_t key;
    double v;
};

struct collect {
    const char *entity;      /* wanted entity, NULL = not chosen yet */
    int64_t until;           /* samples at or after this event time are left out */
    uint64_t after_until;
    char ents[TR_MAX_ENTITIES][TR_MAX_ENTITY_NAME]; /* entities seen (capped) */
    uint32_t n_ents;
    int no_entity;           /* some samples carry no entity */
    char *keys[MEND_OCSVM_MAX_SERIES];
    uint32_t n_keys;
    struct pt *pts;
    size_t n_pts, cap_pts;
    uint64_t dropped_keys, dropped_pts, no_time, errors;
    const char *src;
    int failed;              /* ENOMEM */
};

static int entity_match(const struct collect *c, const struct mend_point *p)
{
    if (!c->entity)
        return 1;
    if (!p->entity)
        return c->entity[0] == '\0';
    return strlen(c->entity) == p->entity_len && !memcmp(c->entity, p->entity, p->entity_len);
}

static void note_entity(struct collect *c, const struct mend_point *p)
{
    if (!p->entity) {
        c->no_entity = 1;
        return;
    }
    size_t l = p->entity_len < TR_MAX_ENTITY_NAME - 1 ? p->entity_len : TR_MAX_ENTITY_NAME - 1;
    for (uint32_t i = 0; i < c->n_ents; i++)
        if (strlen(c->ents[i]) == l && !memcmp(c->ents[i], p->entity, l))
            return;
    if (c->n_ents < TR_MAX_ENTITIES) {
        memcpy(c->ents[c->n_ents], p->entity, l);
        c->ents[c->n_ents++][l] = '\0';
    }
}

static int on_point(void *ctx, const struct mend_point *p)
{
    struct collect *c = ctx;
    note_entity(c, p);
    if (!entity_match(c, p))
        return 0;
    if (!c->entity && c->n_ents + (c->no_entity ? 1u : 0u) > 1)
        return 0; /* no --entity and a second one: refused at the end, keep nothing */
    if (!p->has_time) {
        c->no_time++;
        return 0;
    }
    if (p->time_ns >= c->until) {
        c->after_until++;
        return 0;
    }
    uint32_t k;
    for (k = 0; k < c->n_keys; k++)
        if (strlen(c->keys[k]) == p->key_len && !memcmp(c->keys[k], p->key, p->key_len))
            break;
    if (k == c->n_keys) {
        if (c->n_keys == MEND_OCSVM_MAX_SERIES || p->key_len > MEND_OCSVM_MAX_NAME) {
            c->dropped_keys++;
            return 0;
        }
        c->keys[k] = strndup(p->key, p->key_len);
        if (!c->keys[k]) {
            c->failed = 1;
            return MEND_ENOMEM;
        }
        c->n_keys++;
    }
    if (c->n_pts == c->cap_pts) {
        if (c->cap_pts >= TR_MAX_POINTS) {
            c->dropped_pts++;
            return 0;
        }
        size_t nc = c->cap_pts ? c->cap_pts * 2 : 4096;
        struct pt *np = realloc(c->pts, nc * sizeof *np);
        if (!np) {
            c->failed = 1;
            return MEND_ENOMEM;
        }
        c->pts = np;
        c->cap_pts = nc;
    }
    c->pts[c->n_pts++] = (struct pt){p->time_ns, k, p->value};
    return 0;
}

static void on_error(void *ctx, uint64_t line, uint32_t col, const char *reason)
{
    struct collect *c = ctx;
    c->errors++;
    if (c->errors <= 20)
        fprintf(stderr, "mend train: %s:%llu:%u: %s\n", c->src, (unsigned long long)line, col,
                reason);
}

static int read_input(const char *path, const struct mend_config *cfg, struct collect *c)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf = malloc(TR_READ);
    struct mend_parser *p = NULL;
    struct mend_sink sink = {on_point, on_error, c};
    int rc = MEND_OK;
    if (!f || !buf) {
        fprintf(stderr, "mend train: %s: %s\n", path, f ? "out of memory" : strerror(errno));
        free(buf);
        if (f && f != stdin)
            fclose(f);
        return MEND_EIO;
    }
    c->src = path;
    size_t got = fread(buf, 1, TR_READ, f);
    enum mend_format fmt;
    if (cfg->format[0]) {
        rc = mend_format_parse(cfg->format, &fmt);
    } else if (mend_format_guess(strcmp(path, "-") ? path : NULL, buf, got, &fmt)) {
        fprintf(stderr, "mend train: %s: cannot tell the format; pass --format lp|prom|csv\n",
                path);
        rc = MEND_EINVAL;
    }
    if (!rc)
        rc = mend_parser_new(fmt, &cfg->ingest, &p);
    while (!rc && got > 0) {
        rc = mend_parser_feed(p, buf, got, &sink);
        if (!rc)
            got = fread(buf, 1, TR_READ, f);
    }
    if (!rc)
        rc = mend_parser_finish(p, &sink);
    if (!rc && ferror(f)) {
        fprintf(stderr, "mend train: %s: read error\n", path);
        rc = MEND_EIO;
    }
    mend_parser_free(p);
    free(buf);
    if (f != stdin)
        fclose(f);
    return rc;
}

static int cmp_pt_time(const void *a, const void *b)
{
    const struct pt *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void progress(void *ctx, const char *phase, double frac)
{
    (void)ctx;
    fprintf(stderr, "\rmend train: %-20s %3.0f%%", phase, 100.0 * frac);
    if (frac >= 1.0)
        fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mend train [--config FILE] [--set ocsvm.KEY=VALUE]... [--entity NAME]\n"
            "                  [--until TIME] [--format lp|prom|csv] [--progress|--no-progress]\n"
            "                  --out DIR "
            "INPUT...\n\n"
            "Trains a one-class SVM (libsvm, RBF kernel) on one entity's recorded series and\n"
            "writes DIR/model.bin and DIR/meta.txt (feature spec, scaler, calibration,\n"
            "training span, mend version). Every row of the input is taken as normal.\n"
            "Rows are the entity's samples grouped by timestamp, one column per series.\n\n"
            "options:\n"
            "  --out DIR          model directory (created if missing), e.g. models/web-1\n"
            "  --entity NAME      the entity (value of input.entity_tag); needed when the\n"
            "                     input holds more than one\n"
            "  --config FILE      YAML configuration (input: section)\n"
            "  --set KEY=VALUE    input.KEY, or ocsvm.KEY: diffs (true), lags (0), missing\n"
            "                     (impute|skip), nu (0.01), gamma (0 = median heuristic),\n"
            "                     max_train (4000), select (false: choose gamma on held-back\n"
            "                     rows), tol (0.001), seed (1)\n"
            "  --until TIME       learn only samples before TIME (ISO-8601 or epoch seconds)\n"
            "  --format F         input format instead of guessing\n"
            "  --progress, --no-progress  progress on stderr (default: when a terminal)\n");
}

int mend_cmd_train(int argc, char **argv)
{
    static struct mend_config cfg; /* large: keep off the stack */
    struct mend_ocsvm_conf oc;
    char err[512];
    const char *out_dir = NULL, *entity = NULL;
    const char *inputs[256];
    int n_in = 0, show = isatty(2), exit_code = MEND_EXIT_RUNTIME;
    int64_t until = INT64_MAX;

    mend_config_defaults(&cfg);
    mend_ocsvm_conf_defaults(&oc);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return MEND_EXIT_OK;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc || mend_config_load(&cfg, argv[i + 1], err, sizeof err)) {
                fprintf(stderr, "mend train: %s\n", i + 1 >= argc ? "--config needs a file" : err);
                return MEND_EXIT_USAGE;
            }
            i++;
        }
    }
    oc = cfg.engine.ocsvm.lib; /* the config file's ocsvm: section, so a replay with the same
                                  file accepts the model; --set ocsvm.* below wins */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--config")) {
            i++;
        } else if (!strcmp(a, "--out") || !strcmp(a, "--entity") || !strcmp(a, "--format") ||
                   !strcmp(a, "--set") || !strcmp(a, "--until")) {
            if (!has) {
                fprintf(stderr, "mend train: %s needs a value\n", a);
                return MEND_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--out")) {
                out_dir = v;
            } else if (!strcmp(a, "--until")) {
                if (mend_time_parse_any(v, strlen(v), &until)) {
                    fprintf(stderr, "mend train: --until: '%s' is not a time\n", v);
                    return MEND_EXIT_USAGE;
                }
            } else if (!strcmp(a, "--entity")) {
                entity = v;
            } else if (!strcmp(a, "--format")) {
                if (mend_config_set(&cfg, "input.format", v, err, sizeof err)) {
                    fprintf(stderr, "mend train: %s\n", err);
                    return MEND_EXIT_USAGE;
                }
            } else {
                char kv[512];
                char *eq;
                if (strlen(v) >= sizeof kv || !(eq = strchr(strcpy(kv, v), '='))) {
                    fprintf(stderr, "mend train: --set needs KEY=VALUE\n");
                    return MEND_EXIT_USAGE;
                }
                *eq = '\0';
                int rc = !strncmp(kv, "ocsvm.", 6)
                             ? mend_ocsvm_conf_set(&oc, kv + 6, eq + 1, err, sizeof err)
                             : mend_config_set(&cfg, kv, eq + 1, err, sizeof err);
                if (rc) {
                    fprintf(stderr, "mend train: %s\n", err);
                    return MEND_EXIT_USAGE;
                }
            }
        } else if (!strcmp(a, "--progress")) {
            show = 1;
        } else if (!strcmp(a, "--no-progress")) {
            show = 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "mend train: unknown option '%s' (see mend train --help)\n", a);
            return MEND_EXIT_USAGE;
        } else if (n_in == (int)(sizeof inputs / sizeof inputs[0])) {
            fprintf(stderr, "mend train: at most 256 inputs\n");
            return MEND_EXIT_USAGE;
        } else {
            inputs[n_in++] = a;
        }
    }
    if (!out_dir || n_in == 0) {
        fprintf(stderr, "mend train: --out DIR and at least one INPUT are needed "
                        "(see mend train --help)\n");
        return MEND_EXIT_USAGE;
    }

    struct collect *c = calloc(1, sizeof *c);
    struct mend_ocsvm_spec spec;
    struct mend_ocsvm_feat *feat = NULL;
    struct mend_ocsvm *model = NULL;
    double *rows = NULL, *X = NULL;
    int64_t *rt = NULL;
    memset(&spec, 0, sizeof spec);
    if (!c) {
        fprintf(stderr, "mend train: out of memory\n");
        return MEND_EXIT_RUNTIME;
    }
    c->entity = entity;
    c->until = until;
    for (int i = 0; i < n_in; i++) {
        if (show)
            fprintf(stderr, "\rmend train: reading %-40.40s", inputs[i]);
        if (read_input(inputs[i], &cfg, c)) {
            if (c->failed)
                fprintf(stderr, "mend train: out of memory\n");
            goto out;
        }
    }
    if (show)
        fputc('\n', stderr);
    if (!entity) {
        uint32_t kinds = c->n_ents + (c->no_entity ? 1u : 0u);
        if (kinds > 1) {
            fprintf(stderr, "mend train: the input holds %s%u entities; choose one with --entity:",
                    c->n_ents == TR_MAX_ENTITIES ? "at least " : "", kinds);
            for (uint32_t i = 0; i < c->n_ents && i < 10; i++)
                fprintf(stderr, " %s", c->ents[i]);
            fputc('\n', stderr);
            exit_code = MEND_EXIT_USAGE;
            goto out;
        }
        entity = c->n_ents ? c->ents[0] : NULL;
    }
    if (c->n_keys == 0 || c->n_pts == 0) {
        fprintf(stderr, "mend train: no timestamped samples for entity '%s'\n",
                entity ? entity : "");
        goto out;
    }
    if (c->dropped_keys || c->dropped_pts || c->no_time)
        fprintf(stderr,
                "mend train: %llu samples of series beyond the %d-series cap, %llu beyond the "
                "sample cap and %llu without a timestamp were left out\n",
                (unsigned long long)c->dropped_keys, MEND_OCSVM_MAX_SERIES,
                (unsigned long long)c->dropped_pts, (unsigned long long)c->no_time);

    /* Columns in byte order of the keys; rows by timestamp. */
    uint32_t nk = c->n_keys;
    char *sorted[MEND_OCSVM_MAX_SERIES];
    uint32_t remap[MEND_OCSVM_MAX_SERIES];
    memcpy(sorted, c->keys, nk * sizeof *sorted);
    qsort(sorted, nk, sizeof *sorted, cmp_str);
    for (uint32_t k = 0; k < nk; k++)
        for (uint32_t j = 0; j < nk; j++)
            if (sorted[j] == c->keys[k])
                remap[k] = j;
    qsort(c->pts, c->n_pts, sizeof *c->pts, cmp_pt_time);
    size_t nr = 0;
    for (size_t i = 0; i < c->n_pts; i++)
        nr += i == 0 || c->pts[i].t != c->pts[i - 1].t;
    rows = malloc(nr * nk * sizeof *rows);
    rt = malloc(nr * sizeof *rt);
    if (!rows || !rt) {
        fprintf(stderr, "mend train: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < nr * nk; i++)
        rows[i] = NAN;
    for (size_t i = 0, r = 0; i < c->n_pts; i++) {
        if (i > 0 && c->pts[i].t != c->pts[i - 1].t)
            r++;
        rt[r] = c->pts[i].t;
        rows[r * nk + remap[c->pts[i].key]] = c->pts[i].v;
    }

    int rc = mend_ocsvm_spec_init(&spec, (const char *const *)sorted, nk, &oc);
    if (!rc)
        rc = mend_ocsvm_feat_new(&spec, &feat);
    size_t dim = mend_ocsvm_spec_dim(&spec), nx = 0;
    if (!rc && !(X = malloc(nr * dim * sizeof *X)))
        rc = MEND_ENOMEM;
    if (rc) {
        fprintf(stderr, "mend train: cannot set up the features: %s\n", mend_strerror(rc));
        goto out;
    }
    for (size_t r = 0; r < nr; r++)
        if (mend_ocsvm_feat_push(feat, rows + r * nk, X + nx * dim) == 1)
            nx++;
    struct mend_ocsvm_feat_stats fs;
    mend_ocsvm_feat_stats(feat, &fs);
    fprintf(stderr,
            "mend train: entity '%s': %zu rows x %u series -> %zu vectors x %zu features "
            "(%llu values imputed, %llu rows skipped, %llu warming up)\n",
            entity ? entity : "", nr, nk, nx, dim, (unsigned long long)fs.imputed,
            (unsigned long long)fs.skipped, (unsigned long long)fs.warming);
    struct mend_ocsvm_train_info info;
    /* one vector in 4 is held back to calibrate on (ocsvm.h: in-sample
     * decision values give far too thin a tail for alarms); with too few,
     * all train and the calibration stays in-sample */
    size_t nt = nx / 4 >= 20 ? mend_ocsvm_hold_back(X, nx, dim, 4) : nx;
    rc = mend_ocsvm_train(&oc, &spec, X, nt, rt[0], rt[nr - 1], MEND_VERSION,
                          show ? progress : NULL, NULL, &model, &info, err, sizeof err);
    if (rc) {
        fprintf(stderr, "mend train: %s\n", err);
        goto out;
    }
    if (nt < nx && (rc = mend_ocsvm_recalibrate(model, X + nt * dim, nx - nt)) != MEND_OK) {
        fprintf(stderr, "mend train: calibration on the held-back vectors: %s\n",
                mend_strerror(rc));
        goto out;
    }
    if (mend_ocsvm_write_dir(model, out_dir, entity, err, sizeof err)) {
        fprintf(stderr, "mend train: %s\n", err);
        goto out;
    }
    fprintf(stderr, "mend train: wrote %s: %u support vectors, nu=%g gamma=%g (from %zu of %zu "
                    "vectors)\n",
            out_dir, info.n_sv, info.nu, info.gamma, info.n_used, info.n_in);
    exit_code = MEND_EXIT_OK;
out:
    for (uint32_t k = 0; k < c->n_keys; k++)
        free(c->keys[k]);
    free(c->pts);
    free(c);
    mend_ocsvm_spec_fini(&spec);
    mend_ocsvm_feat_free(feat);
    mend_ocsvm_free(model);
    free(rows);
    free(rt);
    free(X);
    return exit_code;
}
