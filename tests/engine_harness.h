/* engine_harness.h -- what the engine test binaries share: an engine whose
 * incident lines and scores are collected in memory, and recorded
 * workloads (arrays of points) that can be fed whole or in pieces. */
#ifndef MEND_TEST_ENGINE_HARNESS_H
#define MEND_TEST_ENGINE_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/engine.h"

#define SEC 1000000000LL

struct out {
    char *inc;      /* all incident lines, newline-separated */
    size_t inc_len, inc_cap;
    char *sc;       /* every score as "key time value score" lines */
    size_t sc_len, sc_cap;
    int opens, resolves, absences, mv;
    struct mend_incident_out io; /* borrowed by the engine */
    struct mend_score_out so;
};

static void buf_add(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 2 > *cap) {
        *cap = (*len + n + 2) * 2;
        *b = realloc(*b, *cap);
        if (!*b)
            abort();
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[(*len)++] = '\n';
    (*b)[*len] = '\0';
}

static void h_on_inc(void *ctx, const char *status, const struct mend_incident *inc, const char *json,
                     size_t len)
{
    struct out *o = ctx;
    buf_add(&o->inc, &o->inc_len, &o->inc_cap, json, len);
    o->opens += !strcmp(status, "open");
    o->resolves += !strcmp(status, "resolve");
    for (uint32_t i = 0; i < inc->n_signals; i++) {
        o->absences += inc->signals[i].kind == MEND_ANOM_ABSENCE && inc->signals[i].events == 1 &&
                       !strcmp(status, "open");
        o->mv += inc->signals[i].kind == MEND_ANOM_MULTIVARIATE;
    }
}

static void h_on_score(void *ctx, const struct mend_series *s, int64_t t, double v, double score)
{
    struct out *o = ctx;
    char line[1400];
    int n = snprintf(line, sizeof line, "%.*s %" PRId64 " %.17g %.17g", (int)s->key_len, s->key, t, v, score);
    buf_add(&o->sc, &o->sc_len, &o->sc_cap, line, (size_t)n);
}

static void out_free(struct out *o)
{
    free(o->inc);
    free(o->sc);
    memset(o, 0, sizeof *o);
}

static struct mend_engine *h_make(struct out *o, const struct mend_engine_conf *c)
{
    o->io = (struct mend_incident_out){h_on_inc, o};
    o->so = (struct mend_score_out){h_on_score, o};
    struct mend_engine *e = NULL;
    if (mend_engine_new(c, &o->io, &o->so, &e) != MEND_OK)
        abort();
    return e;
}

/* A recorded workload. */
struct pt {
    char key[96];
    char ent[16];
    int has_ent;
    int64_t t;
    double v;
    int kind;       /* mend_point.kind */
};

struct load {
    struct pt *p;
    size_t n, cap;
};

static void load_add(struct load *l, const char *key, const char *ent, int64_t t, double v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->p = realloc(l->p, l->cap * sizeof *l->p);
        if (!l->p)
            abort();
    }
    struct pt *p = &l->p[l->n++];
    snprintf(p->key, sizeof p->key, "%s", key);
    p->has_ent = ent != NULL;
    snprintf(p->ent, sizeof p->ent, "%s", ent ? ent : "");
    p->t = t;
    p->v = v;
    p->kind = MEND_POINT_GAUGE;
}

/* A sample the source declares a counter (Prometheus TYPE). */
static inline void load_add_counter(struct load *l, const char *key, const char *ent, int64_t t, double v)
{
    load_add(l, key, ent, t, v);
    l->p[l->n - 1].kind = MEND_POINT_COUNTER;
}

static int load_feed(struct mend_engine *e, const struct load *l, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < l->n; i++) {
        const struct pt *q = &l->p[i];
        struct mend_point p = {.key = q->key, .key_len = strlen(q->key),
                               .entity = q->has_ent ? q->ent : NULL,
                               .entity_len = q->has_ent ? strlen(q->ent) : 0,
                               .time_ns = q->t, .has_time = 1, .value = q->v, .kind = q->kind};
        int rc = mend_engine_point(e, &p);
        if (rc != MEND_OK)
            return rc;
    }
    return MEND_OK;
}

/* Deterministic noise in [-0.5, 0.5). */
static double h_noise(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*x >> 11) / 9007199254740992.0 - 0.5;
}

#endif
