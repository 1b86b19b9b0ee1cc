/* config.c -- the YAML configuration (see config.h).
 *
 * One table maps "section.key" to a field of struct mend_config, its type,
 * bounds and help; setting, validation, and the documentation all come from
 * it. The YAML walker only turns the document into (key, value, position)
 * triples. */
#include "mend/config.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>
#include <yaml.h>

enum opt_type { T_BOOL, T_U32, T_SIZE, T_DBL, T_DUR, T_STR, T_PREC, T_LIST, T_FORMAT };

struct opt {
    const char *key;
    enum opt_type type;
    size_t off;
    size_t size;      /* T_STR: buffer size */
    double min, max;  /* numeric bounds (durations in seconds) */
    const char *help;
};

#define F(field) offsetof(struct mend_config, field)
#define SZ(field) sizeof(((struct mend_config *)0)->field)

static const struct opt opts[] = {
    {"input.listen", T_LIST, F(listen), 0, 0, 0,
     "listeners for `mend run`: tcp://HOST:PORT or udp://HOST:PORT (line protocol), a list"},
    {"input.format", T_FORMAT, F(format), SZ(format), 0, 0,
     "input format: lp, prom or csv; empty = from the file extension or content"},
    {"input.precision", T_PREC, F(ingest.precision_ns), 0, 0, 0,
     "line-protocol timestamp unit: ns, us, ms or s"},
    {"input.entity_tag", T_STR, F(entity_tag), SZ(entity_tag), 0, 0,
     "tag/label naming the entity (host, service) a series belongs to; empty = none"},
    {"input.max_line", T_SIZE, F(ingest.max_line), 0, 64, 16 << 20, "longest input line in bytes"},
    {"input.max_tags", T_SIZE, F(ingest.max_tags), 0, 1, 4096, "most tags/labels on one line"},
    {"input.max_key", T_SIZE, F(ingest.max_key), 0, 16, 65536, "longest series key in bytes"},
    {"input.keep_nonfinite", T_BOOL, F(ingest.keep_nonfinite), 0, 0, 0,
     "accept NaN/Inf values instead of rejecting them as errors"},
    {"input.lateness", T_DUR, F(engine.lateness_ns), 0, 0, 86400.0 * 365,
     "accept samples this much older than the series' newest (scored as the newest); older ones are dropped and counted"},
    {"input.error_log_limit", T_U32, F(error_log_limit), 0, 0, 1e9,
     "malformed-line messages printed per source; later ones are only counted"},
    {"series.max_series", T_U32, F(engine.series.max_series), 0, 1, 1e8,
     "live series cap; new series beyond it are refused and counted"},
    {"series.ring", T_U32, F(engine.series.ring_cap), 0, 2, 65536,
     "recent values kept per series (for localisation)"},
    {"series.max_entities", T_U32, F(engine.series.max_entities), 0, 1, 1e8, "entity cap"},
    {"multivariate.enabled", T_BOOL, F(engine.mvg_enabled), 0, 0, 0,
     "one multivariate Gaussian per entity over its series"},
    {"multivariate.threshold", T_DBL, F(engine.mvg_threshold), 0, 1e-300, 0.5,
     "chi-square tail probability at or below which an entity's row is an anomaly"},
    {"multivariate.max_dim", T_SIZE, F(engine.mvg.max_dim), 0, 2, 256,
     "series per entity in the model (later ones stay out)"},
    {"multivariate.half_life", T_DBL, F(engine.mvg.half_life), 0, 2, 1e9,
     "rows after which an old row's weight halves"},
    {"multivariate.warmup", T_SIZE, F(engine.mvg.warmup), 0, 2, 1e9, "rows learnt before scoring"},
    {"multivariate.refit_every", T_U32, F(engine.mvg.refit_every), 0, 1, 1e6,
     "rows between refits of the Cholesky factor"},
    {"multivariate.shrinkage", T_DBL, F(engine.mvg.shrinkage), 0, -1, 1,
     "covariance shrinkage toward the diagonal in [0,1]; -1 = estimate from the data"},
    {"absence.enabled", T_BOOL, F(engine.absence_enabled), 0, 0, 0,
     "raise an event when a series stops reporting"},
    {"absence.factor", T_DBL, F(engine.absence_factor), 0, 1, 1e6,
     "silent for this many usual intervals counts as absent"},
    {"absence.min", T_DUR, F(engine.absence_min_ns), 0, 0, 86400.0 * 365,
     "and for at least this long (series are checked every half of this, or every engine.tick if longer)"},
    {"incidents.output", T_STR, F(incidents_output), SZ(incidents_output), 0, 0,
     "where incident JSON lines go: a file path, or - for stdout"},
    {"incidents.resolve_after", T_DUR, F(engine.incidents.resolve_after_ns), 0, 1e-3, 86400.0 * 365,
     "event time without a new event after which an incident resolves"},
    {"incidents.max_signals", T_U32, F(engine.incidents.max_signals), 0, 1, 1e6,
     "signals listed per incident (more are counted)"},
    {"incidents.max_open", T_U32, F(engine.incidents.max_open), 0, 1, 1e8, "open incidents at once"},
    {"incidents.group_by_entity", T_BOOL, F(engine.incidents.group_by_entity), 0, 0, 0,
     "one incident per entity; off = one incident for everything at a time"},
    {"engine.tick", T_DUR, F(engine.tick_ns), 0, 1e-3, 86400,
     "event time between absence checks and incident resolution"},
    {"checkpoint.path", T_STR, F(checkpoint_path), SZ(checkpoint_path), 0, 0,
     "state file, restored at start and written on the interval and at exit; empty = none"},
    {"checkpoint.interval", T_DUR, F(checkpoint_interval_ns), 0, 1, 86400.0 * 365,
     "event time between checkpoints"},
};

void mend_config_defaults(struct mend_config *c)
{
    memset(c, 0, sizeof *c);
    mend_engine_conf_defaults(&c->engine);
    mend_ingest_opts_defaults(&c->ingest);
    snprintf(c->entity_tag, sizeof c->entity_tag, "%s", "host");
    c->ingest.entity_tag = c->entity_tag;
    snprintf(c->incidents_output, sizeof c->incidents_output, "-");
    c->checkpoint_interval_ns = 3600LL * 1000000000LL;
    c->error_log_limit = 100;
}

int mend_parse_duration(const char *s, int64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return MEND_EINVAL;
    static const struct { const char *unit; double ns; } units[] = {
        {"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    double mult = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit))
            mult = units[i].ns;
    if (mult < 0)
        return MEND_EINVAL;
    if (v * mult > 9e18)
        return MEND_ERANGE;
    *ns = (int64_t)llround(v * mult);
    return MEND_OK;
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(v, yes[i]))
            return *out = 1, MEND_OK;
        if (!strcmp(v, no[i]))
            return *out = 0, MEND_OK;
    }
    return MEND_EINVAL;
}

static int set_opt(struct mend_config *c, const struct opt *o, const char *v, char *err, size_t errlen)
{
    char *base = (char *)c + o->off;
    double d;
    int b;
    int64_t ns;
    switch (o->type) {
    case T_BOOL:
        if (parse_bool(v, &b))
            goto bad;
        *(int *)(void *)base = b;
        return MEND_OK;
    case T_U32:
    case T_SIZE:
    case T_DBL:
        if (mend_parse_f64(v, strlen(v), 0, &d) || d < o->min || d > o->max ||
            (o->type != T_DBL && d != floor(d)))
            goto bad;
        if (o->type == T_U32)
            *(uint32_t *)(void *)base = (uint32_t)d;
        else if (o->type == T_SIZE)
            *(size_t *)(void *)base = (size_t)d;
        else
            *(double *)(void *)base = d;
        return MEND_OK;
    case T_DUR:
        if (mend_parse_duration(v, &ns) || (double)ns < o->min * 1e9 || (double)ns > o->max * 1e9)
            goto bad;
        *(int64_t *)(void *)base = ns;
        return MEND_OK;
    case T_STR:
        if (strlen(v) >= o->size)
            goto bad;
        memcpy(base, v, strlen(v) + 1);
        if (o->off == F(entity_tag))
            c->ingest.entity_tag = c->entity_tag[0] ? c->entity_tag : NULL;
        return MEND_OK;
    case T_PREC: {
        static const struct { const char *n; int64_t v; } p[] = {
            {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
        for (size_t i = 0; i < 4; i++)
            if (!strcmp(v, p[i].n))
                return *(int64_t *)(void *)base = p[i].v, MEND_OK;
        goto bad;
    }
    case T_FORMAT: {
        enum mend_format f;
        if (*v && mend_format_parse(v, &f) != MEND_OK)
            goto bad;
        snprintf(c->format, sizeof c->format, "%s", v);
        return MEND_OK;
    }
    case T_LIST:
        if (c->n_listen >= MEND_CONFIG_MAX_LISTEN || strlen(v) >= sizeof c->listen[0] ||
            (strncmp(v, "tcp://", 6) && strncmp(v, "udp://", 6)))
            goto bad;
        snprintf(c->listen[c->n_listen++], sizeof c->listen[0], "%s", v);
        return MEND_OK;
    }
bad:
    switch (o->type) {
    case T_BOOL: snprintf(err, errlen, "%s: '%s' is not a boolean (true/false)", o->key, v); break;
    case T_U32:
    case T_SIZE:
        snprintf(err, errlen, "%s: '%s' is not a whole number in [%.0f, %.0f]", o->key, v, o->min, o->max);
        break;
    case T_DBL: snprintf(err, errlen, "%s: '%s' is not a number in [%g, %g]", o->key, v, o->min, o->max); break;
    case T_DUR:
        snprintf(err, errlen, "%s: '%s' is not a duration (like 250ms, 10s, 5m, 2h, 1d) in [%gs, %gs]",
                 o->key, v, o->min, o->max);
        break;
    case T_STR: snprintf(err, errlen, "%s: value longer than %zu bytes", o->key, o->size - 1); break;
    case T_PREC: snprintf(err, errlen, "%s: '%s' is not one of ns, us, ms, s", o->key, v); break;
    case T_FORMAT: snprintf(err, errlen, "%s: '%s' is not one of lp, prom, csv", o->key, v); break;
    case T_LIST:
        snprintf(err, errlen, "%s: '%s' must be tcp://HOST:PORT or udp://HOST:PORT (at most %d)", o->key, v,
                 MEND_CONFIG_MAX_LISTEN);
        break;
    }
    return MEND_EINVAL;
}

int mend_config_set(struct mend_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    if (!strncmp(key, "detect.", 7))
        return mend_scorer_conf_set(&c->engine.scorer, key + 7, value, err, errlen);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(opts[i].key, key))
            return set_opt(c, &opts[i], value, err, errlen);
    snprintf(err, errlen, "unknown option '%s' (see `mend run --help` for the list)", key);
    return MEND_EINVAL;
}

/* ---- YAML walker --------------------------------------------------------- */

struct walker {
    yaml_parser_t p;
    const char *name;
    char *err;
    size_t errlen;
};

static int next(struct walker *w, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&w->p, ev)) {
        snprintf(w->err, w->errlen, "%s:%zu:%zu: YAML error: %s", w->name, w->p.problem_mark.line + 1,
                 w->p.problem_mark.column + 1, w->p.problem ? w->p.problem : "malformed");
        return MEND_EPARSE;
    }
    return MEND_OK;
}

static int fail_at(struct walker *w, const yaml_event_t *ev, const char *msg)
{
    snprintf(w->err, w->errlen, "%s:%zu:%zu: %s", w->name, ev->start_mark.line + 1,
             ev->start_mark.column + 1, msg);
    return MEND_EINVAL;
}

static int set_at(struct mend_config *c, struct walker *w, const yaml_event_t *ev, const char *key,
                  const char *val)
{
    char msg[512];
    if (mend_config_set(c, key, val, msg, sizeof msg) != MEND_OK)
        return fail_at(w, ev, msg);
    return MEND_OK;
}

/* section: { key: scalar | [scalars] } */
static int walk_section(struct mend_config *c, struct walker *w, const char *section)
{
    yaml_event_t ev;
    int rc;
    for (;;) {
        if ((rc = next(w, &ev)))
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return MEND_OK;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            rc = fail_at(w, &ev, "expected an option name");
            yaml_event_delete(&ev);
            return rc;
        }
        char key[256];
        snprintf(key, sizeof key, "%s.%s", section, (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if ((rc = next(w, &ev)))
            return rc;
        if (ev.type == YAML_SCALAR_EVENT) {
            rc = set_at(c, w, &ev, key, (const char *)ev.data.scalar.value);
            yaml_event_delete(&ev);
        } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
            yaml_event_delete(&ev);
            if (!strcmp(key, "input.listen"))
                c->n_listen = 0; /* the file's list replaces the default */
            for (rc = MEND_OK; rc == MEND_OK;) {
                if ((rc = next(w, &ev)))
                    return rc;
                if (ev.type == YAML_SEQUENCE_END_EVENT) {
                    yaml_event_delete(&ev);
                    break;
                }
                if (ev.type != YAML_SCALAR_EVENT)
                    rc = fail_at(w, &ev, "expected a list of plain values");
                else
                    rc = set_at(c, w, &ev, key, (const char *)ev.data.scalar.value);
                yaml_event_delete(&ev);
            }
        } else {
            rc = fail_at(w, &ev, "expected a value or a list of values");
            yaml_event_delete(&ev);
        }
        if (rc)
            return rc;
    }
}

int mend_config_load_buf(struct mend_config *c, const char *name, const char *buf, size_t len,
                         char *err, size_t errlen)
{
    struct walker w = {.name = name, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&w.p)) {
        snprintf(err, errlen, "%s: cannot initialise the YAML parser", name);
        return MEND_ENOMEM;
    }
    yaml_parser_set_input_string(&w.p, (const unsigned char *)buf, len);
    yaml_event_t ev;
    int rc = MEND_OK, depth = 0;
    for (;;) {
        if ((rc = next(&w, &ev)))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (depth == 0) {
            if (t == YAML_MAPPING_START_EVENT)
                depth = 1;
            else if (!(t == YAML_SCALAR_EVENT && ev.data.scalar.length == 0))
                rc = fail_at(&w, &ev, "the configuration must be a mapping of sections");
            yaml_event_delete(&ev);
            if (rc)
                break;
            continue;
        }
        if (t == YAML_MAPPING_END_EVENT) {
            depth = 0;
            yaml_event_delete(&ev);
            continue;
        }
        if (t != YAML_SCALAR_EVENT) {
            rc = fail_at(&w, &ev, "expected a section name (input, series, detect, multivariate, absence, incidents, engine, checkpoint)");
            yaml_event_delete(&ev);
            break;
        }
        char section[64];
        snprintf(section, sizeof section, "%s", (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if ((rc = next(&w, &ev)))
            break;
        if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0) {
            yaml_event_delete(&ev); /* an empty section */
            continue;
        }
        if (ev.type != YAML_MAPPING_START_EVENT) {
            char msg[128];
            snprintf(msg, sizeof msg, "section '%s' must be a mapping of options", section);
            rc = fail_at(&w, &ev, msg);
            yaml_event_delete(&ev);
            break;
        }
        yaml_event_delete(&ev);
        if ((rc = walk_section(c, &w, section)))
            break;
    }
    yaml_parser_delete(&w.p);
    if (rc == MEND_OK) {
        char msg[256];
        if (mend_scorer_conf_check(&c->engine.scorer, msg, sizeof msg) != MEND_OK) {
            snprintf(err, errlen, "%s: detect: %s", name, msg);
            return MEND_EINVAL;
        }
    }
    return rc;
}

int mend_config_load(struct mend_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open configuration: %s", path, strerror(errno));
        return MEND_EIO;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return MEND_ENOMEM;
    }
    len = fread(buf, 1, cap, f);
    int toolong = len == cap && fgetc(f) != EOF;
    fclose(f);
    int rc;
    if (toolong) {
        snprintf(err, errlen, "%s: configuration larger than 1 MiB", path);
        rc = MEND_ECAP;
    } else {
        rc = mend_config_load_buf(c, path, buf, len, err, errlen);
    }
    free(buf);
    return rc;
}

static void print_value(FILE *f, const struct mend_config *d, const struct opt *o)
{
    const char *base = (const char *)d + o->off;
    switch (o->type) {
    case T_BOOL: fprintf(f, "%s", *(const int *)(const void *)base ? "true" : "false"); break;
    case T_U32: fprintf(f, "%" PRIu32, *(const uint32_t *)(const void *)base); break;
    case T_SIZE: fprintf(f, "%zu", *(const size_t *)(const void *)base); break;
    case T_DBL: fprintf(f, "%g", *(const double *)(const void *)base); break;
    case T_DUR: {
        int64_t ns = *(const int64_t *)(const void *)base;
        if (ns % 3600000000000LL == 0 && ns)
            fprintf(f, "%" PRId64 "h", (int64_t)(ns / 3600000000000LL));
        else if (ns % 60000000000LL == 0 && ns)
            fprintf(f, "%" PRId64 "m", (int64_t)(ns / 60000000000LL));
        else if (ns % 1000000000LL == 0)
            fprintf(f, "%" PRId64 "s", (int64_t)(ns / 1000000000LL));
        else
            fprintf(f, "%" PRId64 "ms", (int64_t)(ns / 1000000LL));
        break;
    }
    case T_STR: fprintf(f, "%s", *base ? base : "\"\""); break;
    case T_PREC: {
        int64_t p = *(const int64_t *)(const void *)base;
        fprintf(f, "%s", p == 1 ? "ns" : p == 1000 ? "us" : p == 1000000 ? "ms" : "s");
        break;
    }
    case T_FORMAT: fprintf(f, "%s", *base ? base : "\"\" (guess)"); break;
    case T_LIST: fprintf(f, "%s", d->n_listen ? d->listen[0] : "[] (none)"); break;
    }
}

void mend_config_print_docs(FILE *f)
{
    struct mend_config d;
    mend_config_defaults(&d);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        fprintf(f, "  %-28s ", opts[i].key);
        print_value(f, &d, &opts[i]);
        fprintf(f, "\n      %s\n", opts[i].help);
    }
    size_t n;
    const struct mend_conf_doc *sd = mend_scorer_conf_docs(&n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  detect.%-21s %s\n      %s\n", sd[i].key, sd[i].def, sd[i].help);
}
