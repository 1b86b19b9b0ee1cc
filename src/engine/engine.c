/* engine.c -- the detection loop (see engine.h). State save/load lives in
 * engine_state.c; what both share is in engine_internal.h.
 *
 * Per point: guard the clock (a sample far past the watermark is held until
 * confirmed, else refused), find the series, drop it if too late, turn a
 * counter into its per-second rate (engine_rate.c: a counter's first sample
 * and a reset give nothing to score), push the value and its time into the
 * series' ring, run the series' scorer, raise an
 * anomaly event when the scorer says so, and put the value into its entity's
 * current row. Rows are time buckets: a row closes when a sample comes at
 * least a quarter of the entity's shortest member interval after the row's start, or
 * when a member reports twice, so members that report a few milliseconds
 * apart (two collector inputs) still share a row. A closed row goes through
 * every entity model kind (model.h). Whenever the watermark crosses a tick
 * boundary, silent series raise absence events, long-idle series are
 * evicted and quiet incidents resolve. Nothing here allocates per sample
 * once a series and its entity exist. With many entities a closing row's
 * models are out of cache; the row likely to close next is guessed from
 * the order rows closed in before and its models are prefetched while the
 * current row fills (ent_prefetch_*), which changes no result. */
#include "engine_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mend_engine_conf_defaults(struct mend_engine_conf *c)
{
    memset(c, 0, sizeof *c);
    mend_series_conf_defaults(&c->series);
    mend_scorer_conf_defaults(&c->scorer);
    mend_incident_conf_defaults(&c->incidents);
    mend_mvg_conf_defaults(&c->mvg);
    mend_ocsvm_engine_conf_defaults(&c->ocsvm);
    c->mvg_enabled = 1;
    c->mvg_threshold = 1e-6;
    c->absence_enabled = 1;
    c->absence_factor = 5.0;
    c->absence_min_ns = 60LL * 1000000000LL;
    c->lateness_ns = 0;
    c->tick_ns = 10LL * 1000000000LL;
    c->max_ahead_ns = 3600LL * 1000000000LL;
    c->rates.enabled = 1;
    snprintf(c->rates.patterns, sizeof c->rates.patterns, "%s", mend_rate_default_patterns);
    c->rates.detect_monotonic = 0;
    c->rates.monotonic_after = 30;
    mend_localise_attach_conf_defaults(&c->localise);
}

int64_t engine_sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

int64_t engine_sat_sub(int64_t a, int64_t b)
{
    if (b < 0 && a > INT64_MAX + b)
        return INT64_MAX;
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    return a - b;
}

int mend_engine_new(const struct mend_engine_conf *conf, const struct mend_incident_out *incidents,
                    const struct mend_score_out *scores, struct mend_engine **out)
{
    *out = NULL;
    char err[256];
    if (!conf || conf->tick_ns <= 0 || conf->absence_factor <= 0 || conf->lateness_ns < 0 ||
        conf->max_ahead_ns <= 0 || conf->series.idle_evict_ns < 0 ||
        mend_scorer_conf_check(&conf->scorer, err, sizeof err) != MEND_OK ||
        (conf->mvg_enabled && mend_mvg_conf_check(&conf->mvg) != MEND_OK) ||
        conf->rates.monotonic_after < 3)
        return MEND_EINVAL;
    struct mend_engine *e = calloc(1, sizeof *e);
    if (!e)
        return MEND_ENOMEM;
    e->conf = *conf;
    if (scores && scores->emit) {
        e->score_out = *scores;
        e->has_scores = 1;
    }
    e->blob_size = mend_scorer_state_size(&conf->scorer);
    engine_watermark_set(e, NO_TIME);
    e->next_absence = INT64_MIN;
    e->next_tick = NO_TIME;
    int rc = engine_rate_init(e);
    if (rc == MEND_OK)
        rc = mend_registry_new(&conf->series, e->blob_size, &e->reg);
    if (rc == MEND_OK)
        rc = mend_incidents_new(&conf->incidents, incidents, &e->inc);
    if (rc == MEND_OK && conf->localise.enabled &&
        (rc = mend_localise_attach_new(&conf->localise, e->reg, conf->series.ring_cap, &e->loc)) ==
            MEND_OK) {
        struct mend_incident_annotator an = {mend_localise_attach_annotate, e->loc};
        mend_incidents_set_annotator(e->inc, &an);
    }
    if (rc == MEND_OK && conf->mvg_enabled) {
        struct mend_model_kind k = {
            .ops = &mend_model_mvgauss,
            .conf = &e->conf.mvg,
            .threshold = conf->mvg_threshold,
        };
        rc = mend_engine_add_model(e, &k);
    }
    if (rc != MEND_OK) {
        mend_engine_free(e);
        return rc;
    }
    *out = e;
    return MEND_OK;
}

int mend_engine_add_model(struct mend_engine *e, const struct mend_model_kind *kind)
{
    if (!kind || !kind->ops || !kind->ops->score || !kind->ops->save || !kind->ops->load ||
        !kind->ops->destroy || !kind->ops->dim || (!kind->ops->create && !kind->ops->train) ||
        (kind->ops->train && kind->train_rows < 2) || !(kind->threshold > 0.0) ||
        kind->train_delay_ns < 0 || e->st.points > 0 || mend_registry_entity_count(e->reg) > 1)
        return MEND_EINVAL;
    if (e->n_kinds >= MEND_ENGINE_MAX_MODELS)
        return MEND_ECAP;
    if (kind->ops->train && !e->trainer) {
        int rc = mend_trainer_new(&e->trainer);
        if (rc != MEND_OK)
            return rc;
    }
    e->kinds[e->n_kinds++] = *kind;
    return MEND_OK;
}

void engine_model_clear(struct mend_engine *e, uint32_t k, struct ent_model *em)
{
    const struct mend_model_ops *ops = e->kinds[k].ops;
    mend_train_job_drop(em->job);
    ops->destroy(em->m);
    if (em->scratch && ops->scratch_free)
        ops->scratch_free(em->scratch);
    free(em->buf);
    memset(em, 0, sizeof *em);
}

void engine_ent_free(struct mend_engine *e, struct ent_state *es)
{
    if (!es)
        return;
    for (uint32_t k = 0; k < e->n_kinds; k++)
        engine_model_clear(e, k, &es->mod[k]);
    free(es->members);
    free(es->row);
    free(es->contrib);
    free(es);
}

void mend_engine_free(struct mend_engine *e)
{
    if (!e)
        return;
    if (e->reg) {
        uint32_t n = mend_registry_count(e->reg);
        for (uint32_t i = 0; i < n; i++) {
            struct mend_series *s = mend_registry_at(e->reg, i);
            if (s && (s->flags & SERIES_READY))
                mend_scorer_fini(mend_series_blob(s), &e->conf.scorer);
        }
        uint32_t ne = mend_registry_entity_count(e->reg);
        for (uint32_t i = 0; i < ne; i++)
            engine_ent_free(e, mend_registry_entity(e->reg, i)->user);
    }
    mend_trainer_free(e->trainer);
    mend_registry_free(e->reg);
    mend_incidents_free(e->inc);
    mend_localise_attach_free(e->loc);
    free(e->seen_w);
    free(e->held);
    free(e->held_keys);
    free(e->rate_ix);
    free(e->rate_pool);
    free(e);
}

struct mend_registry *mend_engine_registry(struct mend_engine *e) { return e->reg; }
struct mend_incidents *mend_engine_incidents(struct mend_engine *e) { return e->inc; }

static void raise_event(struct mend_engine *e, enum mend_anomaly_kind kind, const struct mend_series *s,
                        uint32_t entity_id, int64_t t, double score, double value, double expected,
                        const char *key, size_t key_len)
{
    int absence = kind == MEND_ANOM_ABSENCE && s;
    const struct mend_entity *ent = mend_registry_entity(e->reg, entity_id);
    struct mend_anomaly a = {
        .kind = kind,
        .series_id = s ? s->id : UINT32_MAX,
        .entity_id = entity_id,
        .key = key,
        .key_len = key_len,
        .entity = ent && ent->name_len ? ent->name : NULL,
        .entity_len = ent ? ent->name_len : 0,
        .t_ns = t,
        .score = score,
        .value = value,
        .expected = expected,
        .last_seen_ns = absence ? s->last_t : 0,
        .interval_ns = absence ? s->interval : 0,
    };
    if (mend_incidents_add(e->inc, &a) != MEND_OK)
        e->st.events_refused++; /* the incident cap (counted by incidents too) or memory */
}

/* A run of s rose under the threshold (mend_scorer_run): the incident set
 * decides whether it is an excursion of an open incident s belongs to. */
static void excursion(struct mend_engine *e, const struct mend_series *s, int64_t t, double score,
                      double value, const struct mend_scorer_run *run)
{
    const struct mend_entity *ent = mend_registry_entity(e->reg, s->entity);
    struct mend_anomaly a = {
        .kind = MEND_ANOM_SCORE, .series_id = s->id, .entity_id = s->entity,
        .key = s->key, .key_len = s->key_len,
        .entity = ent && ent->name_len ? ent->name : NULL, .entity_len = ent ? ent->name_len : 0,
        .t_ns = t, .score = score, .value = value, .expected = NAN, /* an excursion keeps the signal's */
    };
    (void)mend_incidents_excursion(e->inc, &a, run->start_ns, run->before, run->peak); /* a cap is counted there */
}

/* ---- silence and eviction -------------------------------------------------- */

/* How long series id has been silent in watermark time: the watermark now
 * against the watermark when it last reported, so a host whose clock runs
 * behind the others' is not silent while it keeps reporting. */
static int64_t silent_for(const struct mend_engine *e, uint32_t id, int64_t now)
{
    return engine_sat_sub(now, e->seen_w[id]);
}

/* Removes series s from its entity's rows: its position stays (models keep
 * their dimension) but is vacant, so it reads as a missing value. */
static void ent_vacate(struct mend_engine *e, struct mend_series *s)
{
    if (!s->mv_pos || !s->entity)
        return;
    struct ent_state *es = mend_registry_entity(e->reg, s->entity)->user;
    if (!es)
        return;
    uint32_t pos = s->mv_pos - 1u;
    if (!isnan(es->row[pos]))
        es->row_filled--;
    es->row[pos] = NAN;
    es->members[pos] = VACANT;
    s->mv_pos = 0;
}

static void evict(struct mend_engine *e, struct mend_series *s)
{
    if (s->flags & SERIES_ABSENT) /* its absence incident may close: it is gone */
        mend_incidents_series_back(e->inc, s->id, e->watermark, 0);
    ent_vacate(e, s);
    if (s->flags & SERIES_READY)
        mend_scorer_fini(mend_series_blob(s), &e->conf.scorer);
    s->flags = 0;
    engine_rate_forget(e, s->id);
    if (e->prev == s)
        e->prev = NULL;
    mend_registry_evict(e->reg, s);
    e->st.evicted++;
}

/* Silent series: a series that has reported a few times and has now been
 * quiet for factor x its usual interval (and at least absence_min). Series
 * idle for idle_evict are evicted. */
static void scan_series(struct mend_engine *e, int64_t now, int absence, int eviction)
{
    uint32_t n = mend_registry_count(e->reg);
    /* A series quiet for no longer than both limits below cannot be absent
     * (its limit is at least absence_min) nor evicted: it is passed over
     * on seen_w alone, a sequential read, without touching its record (one
     * cache miss per series, which made the scan show in the profile). The
     * full test below decides the rest exactly as before. */
    int64_t calm = INT64_MAX; /* quiet <= calm: nothing to do */
    if (absence)
        calm = e->conf.absence_min_ns;
    if (eviction && e->conf.series.idle_evict_ns - 1 < calm)
        calm = e->conf.series.idle_evict_ns - 1;
    uint32_t lim_n = n < e->seen_cap ? n : (uint32_t)e->seen_cap;
    for (uint32_t i = 0; i < n; i++) {
        if (i < lim_n && silent_for(e, i, now) <= calm)
            continue;
        struct mend_series *s = mend_registry_at(e->reg, i);
        if (!s || !(s->flags & SERIES_READY))
            continue;
        int64_t quiet = silent_for(e, i, now);
        if (eviction && quiet >= e->conf.series.idle_evict_ns) {
            evict(e, s);
            continue;
        }
        if (!absence || (s->flags & SERIES_ABSENT) || s->n < 3 || s->interval <= 0)
            continue;
        double lim = e->conf.absence_factor * (double)s->interval;
        if (lim < (double)e->conf.absence_min_ns)
            lim = (double)e->conf.absence_min_ns;
        if ((double)quiet > lim) {
            s->flags |= SERIES_ABSENT;
            e->st.absences++;
            raise_event(e, MEND_ANOM_ABSENCE, s, s->entity, now, 1.0, NAN, NAN, s->key, s->key_len);
        }
    }
}

/* The next tick boundary after now (saturating at the top of time). */
static int64_t next_boundary(int64_t now, int64_t step)
{
    int64_t r = now % step; /* in (-step, step) */
    if (r < 0)
        return engine_sat_add(now, -r); /* toward zero is the boundary above */
    return engine_sat_add(now - r, step);
}

static void tick(struct mend_engine *e, int64_t now)
{
    if (e->next_tick == NO_TIME) {
        e->next_tick = next_boundary(now, e->conf.tick_ns);
        return;
    }
    if (now < e->next_tick)
        return;
    /* a full scan of the series every absence_min/2 of event time: a
     * silent series is noticed at most that late, and a tick stays cheap */
    int absence = e->conf.absence_enabled && now >= e->next_absence;
    int eviction = e->conf.series.idle_evict_ns > 0 && now >= e->next_evict;
    if (absence || eviction)
        scan_series(e, now, absence, eviction);
    if (absence) {
        int64_t every = e->conf.absence_min_ns / 2 > e->conf.tick_ns ? e->conf.absence_min_ns / 2 : e->conf.tick_ns;
        e->next_absence = engine_sat_add(now, every);
    }
    if (eviction) {
        int64_t every = e->conf.series.idle_evict_ns / 16 > e->conf.tick_ns ? e->conf.series.idle_evict_ns / 16 : e->conf.tick_ns;
        e->next_evict = engine_sat_add(now, every);
    }
    mend_incidents_advance(e->inc, now);
    e->next_tick = next_boundary(now, e->conf.tick_ns);
}

static inline void move_watermark(struct mend_engine *e, int64_t t)
{
    if (e->watermark == NO_TIME || t > e->watermark) {
        engine_watermark_set(e, t);
        tick(e, t);
    }
}

void mend_engine_advance(struct mend_engine *e, int64_t now)
{
    move_watermark(e, now);
}

/* ---- entity rows and models ------------------------------------------------ */

static struct ent_state *ent_state_get(struct mend_engine *e, struct mend_entity *ent)
{
    if (!ent->user) {
        struct ent_state *es = calloc(1, sizeof *es + e->n_kinds * sizeof es->mod[0]);
        if (!es)
            return NULL;
        es->row_t = NO_TIME;
        ent->user = es;
        e->ent_bytes += sizeof *es + e->n_kinds * sizeof es->mod[0];
    }
    return ent->user;
}

int engine_ent_add_member(struct mend_engine *e, struct ent_state *es, struct mend_series *s)
{
    if (es->dim == es->cap) {
        uint32_t cap = es->cap ? es->cap * 2 : 4;
        if (cap > e->conf.mvg.max_dim)
            cap = (uint32_t)e->conf.mvg.max_dim;
        if (cap <= es->cap)
            return MEND_ECAP;
        uint32_t *m = realloc(es->members, cap * sizeof *m);
        if (!m)
            return MEND_ENOMEM;
        es->members = m;
        double *row = realloc(es->row, cap * sizeof *row);
        if (!row)
            return MEND_ENOMEM;
        es->row = row;
        double *c = realloc(es->contrib, cap * sizeof *c);
        if (!c)
            return MEND_ENOMEM;
        es->contrib = c;
        e->ent_bytes += (cap - es->cap) * (sizeof *m + 2 * sizeof *row);
        es->cap = cap;
    }
    es->members[es->dim] = s->id;
    es->row[es->dim] = NAN;
    s->mv_pos = (uint16_t)(++es->dim);
    return MEND_OK;
}

static void model_event(struct mend_engine *e, uint32_t k, uint32_t entity_id, struct ent_state *es,
                        double score)
{
    /* name the dimension that contributed most */
    uint32_t top = UINT32_MAX;
    for (uint32_t i = 0; i < es->dim; i++)
        if (es->members[i] != VACANT && (top == UINT32_MAX || es->contrib[i] > es->contrib[top]))
            top = i;
    if (top == UINT32_MAX)
        return;
    struct mend_series *s = mend_registry_at(e->reg, es->members[top]);
    const struct mend_entity *ent = mend_registry_entity(e->reg, entity_id);
    const char *what = e->kinds[k].ops == &mend_model_mvgauss ? "multivariate" : e->kinds[k].ops->name;
    char key[512];
    int n = snprintf(key, sizeof key, "%.*s (%s, top: %.*s)", (int)ent->name_len, ent->name, what,
                     (int)(s->key_len > 300 ? 300 : s->key_len), s->key);
    e->st.multivariate++;
    raise_event(e, MEND_ANOM_MULTIVARIATE, NULL, entity_id, es->row_t, score, es->row[top], NAN, key,
                n < 0 ? 0 : (size_t)n >= sizeof key ? sizeof key - 1 : (size_t)n);
}

/* Starts a training of kind k on the buffered rows, oldest first. */
static void model_submit(struct mend_engine *e, uint32_t k, struct ent_model *em, int64_t t)
{
    const struct mend_model_kind *kind = &e->kinds[k];
    size_t n = em->buf_n, d = em->bdim;
    double *rows = malloc(n * d * sizeof *rows);
    if (!rows)
        return; /* tried again on the next normal row */
    uint32_t cap = kind->train_rows;
    uint32_t first = (em->buf_head + cap - em->buf_n) % cap;
    for (size_t i = 0; i < n; i++)
        memcpy(rows + i * d, em->buf + ((first + i) % cap) * d, d * sizeof *rows);
    if (mend_trainer_submit(e->trainer, kind, d, rows, n, &em->job) != MEND_OK)
        return;
    em->live_at = engine_sat_add(t, kind->train_delay_ns);
    em->since_train = 0;
}

/* How far m is trained (model.h, the trained op): 0 none yet (no model,
 * or a shell keeping online state), 1 trained, 2 fixed (never retrained). */
static int model_trained(const struct mend_model_ops *ops, const void *m)
{
    if (!m)
        return 0;
    return ops->trained ? ops->trained(m) : 1;
}

/* A row judged normal (or any row before the first model) joins the
 * training window; a full window is trained on, first once and then every
 * retrain_every normal rows. */
static void model_collect(struct mend_engine *e, uint32_t k, struct ent_state *es, struct ent_model *em)
{
    const struct mend_model_kind *kind = &e->kinds[k];
    if (em->bdim != es->dim) {
        free(em->buf);
        em->buf = calloc((size_t)kind->train_rows * es->dim, sizeof *em->buf);
        em->bdim = em->buf ? es->dim : 0;
        em->buf_n = em->buf_head = em->since_train = 0;
        if (!em->buf)
            return;
    }
    memcpy(em->buf + (size_t)em->buf_head * em->bdim, es->row, em->bdim * sizeof *es->row);
    em->buf_head = (em->buf_head + 1) % kind->train_rows;
    if (em->buf_n < kind->train_rows)
        em->buf_n++;
    em->since_train++;
    if (em->job || em->buf_n < kind->train_rows)
        return;
    if (model_trained(kind->ops, em->m) ? kind->retrain_every && em->since_train >= kind->retrain_every
                                        : em->since_train >= kind->train_rows)
        model_submit(e, k, em, es->row_t);
}

static int model_scratch(struct mend_engine *e, uint32_t k, struct ent_model *em, size_t dim)
{
    const struct mend_model_ops *ops = e->kinds[k].ops;
    if (em->scratch && ops->scratch_free)
        ops->scratch_free(em->scratch);
    em->scratch = NULL;
    if (ops->scratch_new)
        return ops->scratch_new(e->kinds[k].conf, dim, &em->scratch);
    return MEND_OK;
}

/* A new instance of kind k for the entity: create_named sees the entity's
 * name and its members' keys (a kind may pick a model trained for them). */
static int model_create(struct mend_engine *e, uint32_t k, uint32_t entity_id,
                        const struct ent_state *es, void **out)
{
    const struct mend_model_kind *kind = &e->kinds[k];
    if (!kind->ops->create_named)
        return kind->ops->create(kind->conf, es->dim, out);
    const char **keys = calloc(es->dim, sizeof *keys);
    size_t *lens = calloc(es->dim, sizeof *lens);
    int rc = MEND_ENOMEM;
    if (keys && lens) {
        for (uint32_t i = 0; i < es->dim; i++) {
            const struct mend_series *s =
                es->members[i] == VACANT ? NULL : mend_registry_at(e->reg, es->members[i]);
            keys[i] = s ? s->key : NULL;
            lens[i] = s ? s->key_len : 0;
        }
        const struct mend_entity *ent = mend_registry_entity(e->reg, entity_id);
        rc = kind->ops->create_named(kind->conf, ent ? ent->name : NULL, ent ? ent->name_len : 0,
                                     keys, lens, es->dim, out);
    }
    free(keys);
    free(lens);
    return rc;
}

static void model_row(struct mend_engine *e, uint32_t k, uint32_t entity_id, struct ent_state *es)
{
    const struct mend_model_kind *kind = &e->kinds[k];
    const struct mend_model_ops *ops = kind->ops;
    struct ent_model *em = &es->mod[k];
    if (em->job && es->row_t >= em->live_at) {
        /* go-live is an event time: wait for the worker here if need be */
        void *nm = NULL;
        int rc = mend_train_job_take(em->job, &nm);
        em->job = NULL;
        if (rc == MEND_OK && nm) {
            if (model_scratch(e, k, em, ops->dim(nm)) == MEND_OK) {
                if (ops->carry && em->m)
                    ops->carry(nm, em->m); /* online state (history) goes on */
                ops->destroy(em->m);
                em->m = nm;
                em->dim = (uint32_t)ops->dim(nm);
                e->st.models_trained++;
            } else {
                ops->destroy(nm);
            }
        }
    }
    if (em->m && em->dim != es->dim) {
        /* membership grew while the model was young: start it again */
        ops->destroy(em->m);
        em->m = NULL;
    }
    if (!em->m && (ops->create_named || ops->create)) {
        if (model_create(e, k, entity_id, es, &em->m) != MEND_OK) {
            em->m = NULL;
            return;
        }
        em->dim = es->dim;
        if (model_scratch(e, k, em, es->dim) != MEND_OK) {
            ops->destroy(em->m);
            em->m = NULL;
            return;
        }
    }
    int normal = 1;
    if (em->m) {
        double score = 0.0;
        /* the contributions only name an event's top dimension: asked for
         * again, from the same const model and row, when there is one (the
         * same bits; every other row saves the model their solve) */
        if (ops->score(em->m, es->row, em->scratch, &score, NULL) == MEND_OK) {
            double tail = 1.0 - score;
            normal = tail > kind->threshold;
            if (!normal && !em->in_event) {
                em->in_event = 1;
                double again = score;
                if (ops->score(em->m, es->row, em->scratch, &again, es->contrib) != MEND_OK)
                    memset(es->contrib, 0, es->dim * sizeof *es->contrib);
                model_event(e, k, entity_id, es, score);
            } else if (tail > kind->threshold * 1000.0) {
                em->in_event = 0;
            }
        }
        if (ops->learn)
            ops->learn(em->m, es->row, em->scratch);
    }
    if (ops->train && normal && model_trained(ops, em->m) != 2)
        model_collect(e, k, es, em);
}

/* The row that started at es->row_t is complete: score it with every model. */
static void ent_close_row(struct mend_engine *e, uint32_t entity_id, struct ent_state *es)
{
    if (es->dim < 2 || es->row_filled == 0)
        goto reset;
    if (es->row_filled * 2 < es->dim) {
        /* mostly holes: the members do not report together at this time,
         * and every new hole pattern would cost a fresh O(d^3) factor */
        e->st.sparse_rows++;
        goto reset;
    }
    es->rows++;
    for (uint32_t k = 0; k < e->n_kinds; k++)
        model_row(e, k, entity_id, es);
reset:
    for (uint32_t i = 0; i < es->dim; i++)
        es->row[i] = NAN;
    es->row_filled = 0;
}

/* Entity rows close one after another in an order that mostly repeats
 * (each collector round sends its hosts in the same order), and a row's
 * models are out of cache by the time it closes again: with many entities
 * the row stalls on them. So the row that closes after this one last time
 * is guessed (es->next) and its memory asked for step by step while this
 * row fills: at the close, its state; at each following sample of this
 * row, one more level of its models (the prefetch op). A wrong guess costs
 * a few loads, never a result. */
#define PF_STEPS 8 /* cap on a model's prefetch steps */

static void ent_prefetch_begin(struct mend_engine *e, uint32_t entity_id, struct ent_state *es)
{
    if (e->last_closed && e->last_closed != es) {
        e->last_closed->next = es;
        e->last_closed->next_id = entity_id;
    }
    e->last_closed = es;
    es->pf = 0;
    struct ent_state *nx = es->next;
    if (!nx)
        return;
#if defined(__GNUC__)
    __builtin_prefetch(mend_registry_entity(e->reg, es->next_id));
    __builtin_prefetch(nx, 1);
    __builtin_prefetch((const char *)(nx->mod + e->n_kinds) - 1, 1);
#endif
    es->pf = 1;
}

static void ent_prefetch_step(struct mend_engine *e, struct ent_state *es)
{
    const struct ent_state *nx = es->next;
    unsigned step = es->pf - 1;
    int more = 0;
#if defined(__GNUC__)
    if (step == 0) {
        __builtin_prefetch(nx->row, 1);
        __builtin_prefetch(nx->members);
    }
#endif
    for (uint32_t k = 0; k < e->n_kinds; k++)
        if (nx->mod[k].m && e->kinds[k].ops->prefetch)
            more |= e->kinds[k].ops->prefetch(nx->mod[k].m, nx->mod[k].scratch, step);
    es->pf = more && es->pf < PF_STEPS ? es->pf + 1 : 0;
}

static void ent_observe(struct mend_engine *e, struct mend_series *s, int64_t t, double v)
{
    struct mend_entity *ent = mend_registry_entity(e->reg, s->entity);
    struct ent_state *es = ent_state_get(e, ent);
    if (!es)
        return;
    if (s->interval > 0 && (es->min_iv == 0 || s->interval < es->min_iv))
        es->min_iv = s->interval;
    /* the row is a time bucket of a quarter of the shortest member interval; a
     * member reporting twice starts the next row whatever the jitter */
    int refill = s->mv_pos && !isnan(es->row[s->mv_pos - 1]);
    if (es->row_t != NO_TIME &&
        (refill || (t > es->row_t && engine_sat_sub(t, es->row_t) >= es->min_iv / 4))) {
        ent_close_row(e, s->entity, es);
        es->row_t = t;
        ent_prefetch_begin(e, s->entity, es);
    } else if (es->pf) {
        ent_prefetch_step(e, es);
    }
    if (es->row_t == NO_TIME)
        es->row_t = t;
    if (!s->mv_pos) {
        /* members join while the models are still warming up; later
         * arrivals stay out of them rather than reset what they learnt */
        if (es->dim >= e->conf.mvg.max_dim || es->rows >= e->conf.mvg.warmup ||
            engine_ent_add_member(e, es, s) != MEND_OK)
            return;
    }
    if (isnan(es->row[s->mv_pos - 1]))
        es->row_filled++;
    es->row[s->mv_pos - 1] = v;
}

/* ---- samples ---------------------------------------------------------------- */

int engine_seen_reserve(struct mend_engine *e, uint32_t id)
{
    if (id < e->seen_cap)
        return MEND_OK;
    size_t cap = e->seen_cap ? e->seen_cap : 1024;
    while (cap <= id)
        cap *= 2;
    int64_t *p = realloc(e->seen_w, cap * sizeof *p);
    if (!p)
        return MEND_ENOMEM;
    /* zeroed: the tick's scan reads seen_w before the record (scan_series) */
    memset(p + e->seen_cap, 0, (cap - e->seen_cap) * sizeof *p);
    e->seen_w = p;
    e->ent_bytes += (cap - e->seen_cap) * sizeof *p;
    e->seen_cap = cap;
    return MEND_OK;
}

/* One sample whose time the clock guard accepted. Not inlined: its callers
 * reach it by a tail call. */
ENGINE_NOINLINE static int point_in(struct mend_engine *e, const struct mend_point *p, int64_t t)
{
    struct mend_series *s;
    int created;
    int rc = mend_registry_get_after(e->reg, e->prev, p->key, p->key_len, p->entity, p->entity_len, &s,
                                     &created);
    if (rc != MEND_OK) {
        e->st.refused_series++;
        return rc == MEND_ENOMEM ? rc : MEND_OK;
    }
    mend_registry_prefetch(e->reg, s); /* the next samples' series, while this one is scored */
    if (s->id >= e->seen_cap && engine_seen_reserve(e, s->id) != MEND_OK)
        return MEND_ENOMEM;
    if (!(s->flags & SERIES_READY)) {
        /* new, or its scorer could not start last time: never score on a
         * state that did not initialise */
        if (mend_scorer_init(mend_series_blob(s), &e->conf.scorer) != MEND_OK) {
            e->st.init_failed++;
            return MEND_OK;
        }
        s->flags |= SERIES_READY;
        s->first_t = s->last_t = t;
        s->n = 0;
    } else if (t < s->last_t) {
        if (engine_sat_sub(s->last_t, t) > e->conf.lateness_ns) {
            e->st.late_dropped++;
            return MEND_OK;
        }
        t = s->last_t; /* within the allowed lateness: scored as the newest */
    }
    if (s->n > 0 && t > s->last_t) {
        int64_t gap = engine_sat_sub(t, s->last_t);
        s->interval = s->interval ? s->interval + (gap - s->interval) / 8 : gap;
    }
    e->prev = s;
    s->last_t = t;
    s->n++;
    if (s->flags & SERIES_ABSENT) { /* back: its absence no longer holds an incident open */
        s->flags &= (uint8_t)~SERIES_ABSENT;
        mend_incidents_series_back(e->inc, s->id, t, 1);
    }
    /* a counter is scored as its rate (engine_rate.c); its first sample and
     * a reset give none, but the series did report */
    double v = p->value;
    rc = (s->flags & SERIES_GAUGE) && p->kind != MEND_POINT_COUNTER ? 1 : engine_rate_apply(e, s, created, p, t, &v);
    if (rc < 0)
        return rc;
    if (rc == 0 || !(s->flags & SERIES_READY)) {
        move_watermark(e, t);
        e->seen_w[s->id] = e->watermark;
        return MEND_OK;
    }
    if (mend_series_push(e->reg, s, t, v) == MEND_ENOMEM)
        return MEND_ENOMEM;
    int event = 0;
    double score = mend_scorer_step(mend_series_blob(s), &e->conf.scorer, t, v, &event);
    s->last_score = (float)score;
    e->st.scored++;
    if (e->has_scores)
        e->score_out.emit(e->score_out.ctx, s, t, v, score);
    if (event) {
        struct mend_scorer_detail d;
        mend_scorer_detail(mend_series_blob(s), &e->conf.scorer, &d);
        e->st.anomalies++;
        raise_event(e, MEND_ANOM_SCORE, s, s->entity, t, score, v, d.expected, s->key,
                    s->key_len);
    } else {
        /* a run rising under the threshold: an open incident this series
         * belongs to may take it as an excursion (incident.h); no event */
        struct mend_scorer_run run;
        if (mend_scorer_run(mend_series_blob(s), &e->conf.scorer, &run))
            excursion(e, s, t, score, v, &run);
    }
    if (e->n_kinds && s->entity)
        ent_observe(e, s, t, v);
    move_watermark(e, t);
    e->seen_w[s->id] = e->watermark;
    return MEND_OK;
}

/* ---- the clock guard ---------------------------------------------------------
 * A sample more than max_ahead past the watermark is held (key copied). The
 * held run is refused and counted as soon as an ordinary sample arrives: one
 * source's clock (a host a day ahead, a line dated 2200) does not move time
 * for everyone. The run is confirmed -- the watermark jumps to its oldest
 * sample and the held samples are scored in arrival order -- when it shows
 * that the input as a whole moved on: samples from two entities (or, with
 * one entity or none, two distinct times), or a full hold. */

static void held_refuse(struct mend_engine *e)
{
    e->st.ahead_refused += e->n_held;
    e->n_held = 0;
    e->held_bytes = 0;
}

int engine_hold(struct mend_engine *e, const struct mend_point *p, int64_t t)
{
    size_t need = p->key_len + (p->entity ? p->entity_len : 0);
    if (!e->held) {
        e->held = calloc(HOLD_MAX, sizeof *e->held);
        e->held_keys = malloc(HOLD_BYTES);
        if (!e->held || !e->held_keys)
            return MEND_ENOMEM;
    }
    if (e->n_held >= HOLD_MAX || e->held_bytes + need > HOLD_BYTES)
        return MEND_ECAP;
    struct held_point *h = &e->held[e->n_held++];
    h->key_off = e->held_bytes;
    h->key_len = p->key_len;
    memcpy(e->held_keys + e->held_bytes, p->key, p->key_len);
    e->held_bytes += p->key_len;
    h->has_entity = p->entity != NULL;
    h->ent_off = e->held_bytes;
    h->ent_len = p->entity ? p->entity_len : 0;
    if (h->ent_len)
        memcpy(e->held_keys + e->held_bytes, p->entity, h->ent_len);
    e->held_bytes += h->ent_len;
    h->t = t;
    h->value = p->value;
    h->kind = p->kind;
    return MEND_OK;
}

/* Does the held run show the whole input moving? */
static int held_confirmed(const struct mend_engine *e)
{
    const struct held_point *a = &e->held[0];
    int one_entity = mend_registry_entity_count(e->reg) <= 2;
    for (uint32_t i = 1; i < e->n_held; i++) {
        const struct held_point *b = &e->held[i];
        if (one_entity ? b->t != a->t
                       : b->has_entity != a->has_entity || b->ent_len != a->ent_len ||
                             memcmp(e->held_keys + b->ent_off, e->held_keys + a->ent_off, a->ent_len))
            return 1;
    }
    return 0;
}

static int held_release(struct mend_engine *e)
{
    int64_t t0 = e->held[0].t;
    for (uint32_t i = 1; i < e->n_held; i++)
        if (e->held[i].t < t0)
            t0 = e->held[i].t;
    e->st.clock_jumps++;
    move_watermark(e, t0);
    uint32_t n = e->n_held;
    e->n_held = 0; /* the released samples are in range now */
    int rc = MEND_OK;
    for (uint32_t i = 0; i < n && rc == MEND_OK; i++) {
        const struct held_point *h = &e->held[i];
        struct mend_point q = {
            .key = e->held_keys + h->key_off,
            .key_len = h->key_len,
            .entity = h->has_entity ? e->held_keys + h->ent_off : NULL,
            .entity_len = h->ent_len,
            .time_ns = h->t,
            .has_time = 1,
            .value = h->value,
            .kind = h->kind,
        };
        rc = point_in(e, &q, h->t);
    }
    e->held_bytes = 0;
    return rc;
}

/* Everything but the usual sample: no time, far ahead of the watermark, or
 * a held run waiting. */
ENGINE_COLD static int point_guarded(struct mend_engine *e, const struct mend_point *p)
{
    int64_t t = p->time_ns;
    if (!p->has_time) {
        e->st.no_time++;
        t = e->watermark == NO_TIME ? 0 : e->watermark;
    }
    if (e->watermark != NO_TIME && t > engine_sat_add(e->watermark, e->conf.max_ahead_ns)) {
        if (e->n_held && (t > engine_sat_add(e->held[0].t, e->conf.max_ahead_ns) ||
                          e->held[0].t > engine_sat_add(t, e->conf.max_ahead_ns)))
            held_refuse(e); /* not the same move: the older run was noise */
        int rc = engine_hold(e, p, t);
        if (rc == MEND_ENOMEM)
            return rc;
        if (rc == MEND_ECAP || held_confirmed(e)) {
            int rrc = held_release(e);
            if (rrc != MEND_OK)
                return rrc;
            if (rc == MEND_ECAP)
                return point_in(e, p, t);
        }
        return MEND_OK;
    }
    if (e->n_held)
        held_refuse(e);
    return point_in(e, p, t);
}

int mend_engine_point(struct mend_engine *e, const struct mend_point *p)
{
    e->st.points++;
    /* the usual sample, timed within max_ahead of the watermark with no
     * held run, goes straight on (a tail call: this saves no registers);
     * ahead_lim is the watermark + max_ahead (engine_watermark_set) */
    if (__builtin_expect(p->has_time && p->time_ns <= e->ahead_lim && !e->n_held, 1))
        return point_in(e, p, p->time_ns);
    return point_guarded(e, p);
}

static int sink_point(void *ctx, const struct mend_point *p)
{
    return mend_engine_point(ctx, p);
}

void mend_engine_sink(struct mend_engine *e, struct mend_sink *sink)
{
    sink->point = sink_point;
    sink->error = NULL;
    sink->ctx = e;
}

void mend_engine_stats(const struct mend_engine *e, struct mend_engine_stats *st)
{
    *st = e->st;
    st->series = mend_registry_count(e->reg);
    st->entities = mend_registry_entity_count(e->reg) - 1;
    st->refused_series = e->st.refused_series;
    st->ahead_refused += e->n_held; /* held right now: refused unless confirmed */
    st->watermark = e->watermark;
    st->memory = mend_registry_memory(e->reg) + e->ent_bytes;
}

void mend_engine_incident_stats(const struct mend_engine *e, struct mend_incident_stats *st)
{
    mend_incidents_stats(e->inc, st);
}
