/* test_engine_prefetch.c -- the engine's prefetch of the entity row likely to
 * close next (engine.c, ent_prefetch_*): with entities whose rows close in a
 * repeating order, each model is asked for, step by step through the
 * model's prefetch op, while the row before it fills, and before its own
 * row is scored; with the default multivariate model, prefetching changes
 * no incident byte (a run with the same data and the op removed is the
 * reference). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mend/engine.h"
#include "mend/model.h"

#define SEC 1000000000LL
#define LOG_MAX 4096

/* What the test model saw, in order: 'P' step (a prefetch) or 'S' (a
 * score), and which entity's model. */
struct ev {
    char what;
    int who;
    unsigned step;
};
struct evlog {
    struct ev ev[LOG_MAX];
    size_t n;
    int next_id; /* ids handed to models in creation order */
};

struct tm {
    struct evlog *log;
    int id;
    size_t dim;
};

static void log_add(struct evlog *l, char what, int who, unsigned step)
{
    if (l->n < LOG_MAX)
        l->ev[l->n++] = (struct ev){what, who, step};
}

static int tm_create(const void *conf, size_t dim, void **out)
{
    struct evlog *l = (struct evlog *)(uintptr_t)conf;
    struct tm *m = calloc(1, sizeof *m);
    if (!m)
        return MEND_ENOMEM;
    m->log = l;
    m->id = l->next_id++;
    m->dim = dim;
    *out = m;
    return MEND_OK;
}

static int tm_score(const void *m, const double *row, void *scratch, double *score, double *contrib)
{
    (void)row;
    (void)scratch;
    const struct tm *t = m;
    log_add(t->log, 'S', t->id, 0);
    *score = 0.5;
    if (contrib) /* may be NULL (model.h) */
        memset(contrib, 0, t->dim * sizeof *contrib);
    return MEND_OK;
}

/* Two steps: 0 and 1. */
static int tm_prefetch(const void *m, const void *scratch, unsigned step)
{
    (void)scratch;
    const struct tm *t = m;
    log_add(t->log, 'P', t->id, step);
    return step < 1;
}

static int tm_save(const void *m, struct mend_wbuf *w)
{
    (void)m;
    (void)w;
    return MEND_OK;
}

static int tm_load(const void *conf, size_t dim, struct mend_rbuf *r, void **out)
{
    (void)r;
    return tm_create(conf, dim, out);
}

static void tm_destroy(void *m) { free(m); }
static size_t tm_dim(const void *m) { return ((const struct tm *)m)->dim; }

static const struct mend_model_ops tm_ops = {
    .name = "prefetch-test",
    .create = tm_create,
    .score = tm_score,
    .save = tm_save,
    .load = tm_load,
    .destroy = tm_destroy,
    .dim = tm_dim,
    .prefetch = tm_prefetch,
};

static void on_inc(void *ctx, const char *status, const struct mend_incident *inc, const char *json,
                   size_t len)
{
    (void)status;
    (void)inc;
    char **acc = ctx;
    size_t have = *acc ? strlen(*acc) : 0;
    char *p = realloc(*acc, have + len + 2);
    assert_non_null(p);
    memcpy(p + have, json, len);
    p[have + len] = '\n';
    p[have + len + 1] = '\0';
    *acc = p;
}

static void feed_point(struct mend_engine *e, const char *key, const char *ent, int64_t t, double v)
{
    struct mend_point p = {.key = key, .key_len = strlen(key), .entity = ent, .entity_len = strlen(ent),
                           .time_ns = t, .has_time = 1, .value = v};
    assert_int_equal(mend_engine_point(e, &p), MEND_OK);
}

/* Rounds of three entities (e0, e1, e2) of three members each, in that
 * order every round. */
static void feed_rounds(struct mend_engine *e, int rounds, int spike_at)
{
    uint64_t x = 5;
    for (int k = 0; k < rounds; k++) {
        for (int h = 0; h < 3; h++) {
            char ent[16];
            snprintf(ent, sizeof ent, "e%d", h);
            for (int f = 0; f < 3; f++) {
                char key[48];
                snprintf(key, sizeof key, "m,host=e%d f%d", h, f);
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                double v = 10.0 * (f + 1) + (double)(x >> 40) / 16777216.0 + (k >= spike_at && h == 1 && f == 2 ? 25.0 : 0.0);
                feed_point(e, key, ent, (int64_t)k * 10 * SEC, v);
            }
        }
    }
}

static void test_next_row_prefetched(void **unused)
{
    (void)unused;
    static struct evlog log; /* large: not on the stack */
    memset(&log, 0, sizeof log);
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.mvg_enabled = 0;
    char *inc = NULL;
    struct mend_incident_out io = {on_inc, &inc};
    struct mend_engine *e;
    assert_int_equal(mend_engine_new(&c, &io, NULL, &e), MEND_OK);
    struct mend_model_kind k = {.ops = &tm_ops, .conf = &log, .threshold = 1e-6};
    assert_int_equal(mend_engine_add_model(e, &k), MEND_OK);
    feed_rounds(e, 20, 1000);
    /* models were made in the order e0, e1, e2 (ids 0, 1, 2) */
    assert_int_equal(log.next_id, 3);
    size_t scores = 0, prefetched = 0;
    for (size_t i = 0; i < log.n; i++) {
        if (log.ev[i].what != 'S')
            continue;
        scores++;
        /* from the third round on the order is known: the row scored was
         * prefetched in both steps since the last score of another model,
         * and nothing else was */
        if (scores <= 6)
            continue;
        int who = log.ev[i].who;
        size_t j = i;
        while (j > 0 && log.ev[j - 1].what == 'P')
            j--;
        assert_int_equal(i - j, 2);
        assert_int_equal(log.ev[j].who, who);
        assert_int_equal(log.ev[j].step, 0);
        assert_int_equal(log.ev[j + 1].who, who);
        assert_int_equal(log.ev[j + 1].step, 1);
        prefetched++;
    }
    assert_true(scores >= 50);
    assert_int_equal(prefetched, scores - 6);
    mend_engine_free(e);
    free(inc);
}

/* The default multivariate model with and without its prefetch op: the
 * same incidents, byte for byte (and some of them multivariate). */
static const struct mend_model_ops *mvg_without_prefetch(void)
{
    static struct mend_model_ops ops;
    ops = mend_model_mvgauss;
    ops.prefetch = NULL;
    return &ops;
}

static char *run_mvg(const struct mend_model_ops *ops, size_t room)
{
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    c.mvg_enabled = 0;
    c.mvg.warmup = 30;
    char *inc = NULL;
    struct mend_incident_out io = {on_inc, &inc};
    struct mend_engine *e;
    assert_int_equal(mend_engine_new(&c, &io, NULL, &e), MEND_OK);
    struct mend_engine_conf *keep = malloc(sizeof *keep);
    assert_non_null(keep);
    *keep = c;
    struct mend_model_kind k = {.ops = ops, .conf = &keep->mvg, .threshold = 1e-6};
    assert_int_equal(mend_engine_add_model(e, &k), MEND_OK);
    feed_rounds(e, 300, 200);
    /* room for the renaming in test_mvg_same_bytes */
    assert_non_null(inc);
    char *grown = realloc(inc, strlen(inc) + room + 1);
    assert_non_null(grown);
    inc = grown;
    struct mend_engine_stats st;
    mend_engine_stats(e, &st);
    assert_true(st.multivariate >= 1);
    mend_engine_free(e);
    free(keep);
    return inc;
}

static void test_mvg_same_bytes(void **unused)
{
    (void)unused;
    char *with = run_mvg(&mend_model_mvgauss, 0);
    char *without = run_mvg(mvg_without_prefetch(), 4096);
    assert_non_null(with);
    assert_non_null(strstr(with, "multivariate"));
    /* the engine names its own mvgauss kind "multivariate" and a copy of
     * the ops by the copy's name: the one difference allowed */
    for (char *p = without; (p = strstr(p, "(mvgauss, ")) != NULL;) {
        memmove(p + 13, p + 8, strlen(p + 8) + 1);
        memcpy(p, "(multivariate", 13);
        p += 13;
    }
    assert_string_equal(with, without);
    free(with);
    free(without);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_row_prefetched),
        cmocka_unit_test(test_mvg_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
