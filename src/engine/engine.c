/* engine.c -- the detection loop (see engine.h).
 *
 * Per point: find the series, drop it if too late, push the value into the
 * series' ring, run the series' scorer, raise an anomaly event when the
 * scorer says so, and put the value into its entity's current row. When an
 * entity's row is complete (a later timestamp arrives for that entity) the
 * row goes through the entity's multivariate model. Whenever the watermark
 * crosses a tick boundary, silent series raise absence events and quiet
 * incidents resolve. Nothing here allocates per sample once a series and its
 * entity exist (rings grow by doubling, up to their cap). */
#include "mend/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/checkpoint.h"

#define ENGINE_STATE_VERSION 2u /* 2: ring values carry their event times */
#define ENGINE_CKPT_KIND MEND_CKPT_KIND('E', 'N', 'G', '1')
#define NO_TIME INT64_MIN

/* Per-entity state behind mend_entity.user. */
struct ent_state {
    uint32_t dim;          /* members with a row position */
    uint32_t cap;
    uint32_t *members;     /* series id per position */
    double *row;           /* the row being assembled; NaN = not yet seen */
    double *contrib;       /* per-dimension contributions of the last step */
    int64_t row_t;
    uint32_t row_filled;
    uint64_t rows;
    struct mend_mvg *mvg;
    uint32_t model_dim;    /* dimension mvg was built with */
    int in_event;          /* an event is out; re-arm once the tail recovers */
};

struct mend_engine {
    struct mend_engine_conf conf;
    struct mend_incident_out inc_out;
    struct mend_score_out score_out;
    int has_scores;
    struct mend_registry *reg;
    struct mend_incidents *inc;
    size_t blob_size;
    int64_t watermark;
    int64_t next_tick;
    int64_t next_absence;     /* event time of the next scan for silent series */
    struct mend_engine_stats st;
    size_t ent_bytes;
    struct mend_series *prev; /* the last series seen, for the successor hint */
};

void mend_engine_conf_defaults(struct mend_engine_conf *c)
{
    memset(c, 0, sizeof *c);
    mend_series_conf_defaults(&c->series);
    mend_scorer_conf_defaults(&c->scorer);
    mend_incident_conf_defaults(&c->incidents);
    mend_mvg_conf_defaults(&c->mvg);
    c->mvg_enabled = 1;
    c->mvg_threshold = 1e-6;
    c->absence_enabled = 1;
    c->absence_factor = 5.0;
    c->absence_min_ns = 60LL * 1000000000LL;
    c->lateness_ns = 0;
    c->tick_ns = 10LL * 1000000000LL;
}

int mend_engine_new(const struct mend_engine_conf *conf, const struct mend_incident_out *incidents,
                    const struct mend_score_out *scores, struct mend_engine **out)
{
    *out = NULL;
    char err[256];
    if (!conf || conf->tick_ns <= 0 || conf->absence_factor <= 0 || conf->lateness_ns < 0 ||
        mend_scorer_conf_check(&conf->scorer, err, sizeof err) != MEND_OK)
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
    e->watermark = NO_TIME;
    e->next_absence = INT64_MIN;
    e->next_tick = NO_TIME;
    int rc = mend_registry_new(&conf->series, e->blob_size, &e->reg);
    if (rc == MEND_OK)
        rc = mend_incidents_new(&conf->incidents, incidents, &e->inc);
    if (rc != MEND_OK) {
        mend_engine_free(e);
        return rc;
    }
    *out = e;
    return MEND_OK;
}

static void ent_state_free(struct ent_state *es)
{
    if (!es)
        return;
    mend_mvg_free(es->mvg);
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
        for (uint32_t i = 0; i < n; i++)
            mend_scorer_fini(mend_series_blob(mend_registry_at(e->reg, i)), &e->conf.scorer);
        uint32_t ne = mend_registry_entity_count(e->reg);
        for (uint32_t i = 0; i < ne; i++)
            ent_state_free(mend_registry_entity(e->reg, i)->user);
    }
    mend_registry_free(e->reg);
    mend_incidents_free(e->inc);
    free(e);
}

struct mend_registry *mend_engine_registry(struct mend_engine *e) { return e->reg; }

static void raise_event(struct mend_engine *e, enum mend_anomaly_kind kind, const struct mend_series *s,
                        uint32_t entity_id, int64_t t, double score, double value, double expected,
                        const char *key, size_t key_len)
{
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
    };
    mend_incidents_add(e->inc, &a);
}

/* Silent series: a series that has reported a few times and has now been
 * quiet for factor x its usual interval (and at least absence_min). */
static void check_absence(struct mend_engine *e, int64_t now)
{
    uint32_t n = mend_registry_count(e->reg);
    for (uint32_t i = 0; i < n; i++) {
        struct mend_series *s = mend_registry_at(e->reg, i);
        if (s->absent || s->n < 3 || s->interval <= 0)
            continue;
        double lim = e->conf.absence_factor * (double)s->interval;
        if (lim < (double)e->conf.absence_min_ns)
            lim = (double)e->conf.absence_min_ns;
        if ((double)(now - s->last_t) > lim) {
            s->absent = 1;
            e->st.absences++;
            raise_event(e, MEND_ANOM_ABSENCE, s, s->entity, now, 1.0, NAN, NAN, s->key, s->key_len);
        }
    }
}

static void tick(struct mend_engine *e, int64_t now)
{
    if (e->next_tick == NO_TIME) {
        e->next_tick = now - (now % e->conf.tick_ns) + e->conf.tick_ns;
        return;
    }
    if (now < e->next_tick)
        return;
    /* a full scan of the series every absence_min/2 of event time: a
     * silent series is noticed at most that late, and a tick stays cheap */
    if (e->conf.absence_enabled && now >= e->next_absence) {
        check_absence(e, now);
        int64_t every = e->conf.absence_min_ns / 2 > e->conf.tick_ns ? e->conf.absence_min_ns / 2 : e->conf.tick_ns;
        e->next_absence = now + every;
    }
    mend_incidents_advance(e->inc, now);
    e->next_tick = now - (now % e->conf.tick_ns) + e->conf.tick_ns;
}

void mend_engine_advance(struct mend_engine *e, int64_t now)
{
    if (e->watermark != NO_TIME && now <= e->watermark)
        return;
    e->watermark = now;
    tick(e, now);
}

static struct ent_state *ent_state_get(struct mend_engine *e, struct mend_entity *ent)
{
    if (!ent->user) {
        struct ent_state *es = calloc(1, sizeof *es);
        if (!es)
            return NULL;
        es->row_t = NO_TIME;
        ent->user = es;
        e->ent_bytes += sizeof *es;
    }
    return ent->user;
}

static int ent_add_member(struct mend_engine *e, struct ent_state *es, struct mend_series *s)
{
    if (es->dim == es->cap) {
        uint32_t cap = es->cap ? es->cap * 2 : 4;
        if (cap > e->conf.mvg.max_dim)
            cap = (uint32_t)e->conf.mvg.max_dim;
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

/* The row for es->row_t is complete: score it with the entity's model. */
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
    if (es->mvg && es->model_dim != es->dim) {
        /* membership grew while the model was young: start it again */
        mend_mvg_free(es->mvg);
        es->mvg = NULL;
    }
    if (!es->mvg) {
        if (mend_mvg_new(es->dim, &e->conf.mvg, &es->mvg) != MEND_OK)
            goto reset;
        es->model_dim = es->dim;
    }
    double score = 0, d2 = 0;
    if (mend_mvg_step(es->mvg, es->row, &score, &d2, es->contrib) != MEND_OK)
        goto reset;
    double tail = 1.0 - score;
    if (tail <= e->conf.mvg_threshold && !es->in_event) {
        es->in_event = 1;
        e->st.multivariate++;
        /* name the dimension that contributed most */
        uint32_t top = 0;
        for (uint32_t i = 1; i < es->dim; i++)
            if (es->contrib[i] > es->contrib[top])
                top = i;
        struct mend_series *s = mend_registry_at(e->reg, es->members[top]);
        const struct mend_entity *ent = mend_registry_entity(e->reg, entity_id);
        char key[512];
        int n = snprintf(key, sizeof key, "%.*s (multivariate, top: %.*s)", (int)ent->name_len,
                         ent->name, (int)(s->key_len > 300 ? 300 : s->key_len), s->key);
        raise_event(e, MEND_ANOM_MULTIVARIATE, NULL, entity_id, es->row_t, score,
                    es->row[top], NAN, key, n < 0 ? 0 : (size_t)n >= sizeof key ? sizeof key - 1 : (size_t)n);
    } else if (tail > e->conf.mvg_threshold * 1000.0) {
        es->in_event = 0;
    }
reset:
    for (uint32_t i = 0; i < es->dim; i++)
        es->row[i] = NAN;
    es->row_filled = 0;
}

static void ent_observe(struct mend_engine *e, struct mend_series *s, int64_t t, double v)
{
    struct mend_entity *ent = mend_registry_entity(e->reg, s->entity);
    struct ent_state *es = ent_state_get(e, ent);
    if (!es)
        return;
    if (es->row_t != NO_TIME && t > es->row_t)
        ent_close_row(e, s->entity, es);
    if (es->row_t == NO_TIME || t > es->row_t)
        es->row_t = t;
    if (!s->mv_pos) {
        /* members join while the model is still warming up; later arrivals
         * stay out of it rather than reset what it has learnt */
        if (es->dim >= e->conf.mvg.max_dim || (es->mvg && es->rows >= e->conf.mvg.warmup) ||
            ent_add_member(e, es, s) != MEND_OK)
            return;
    }
    if (isnan(es->row[s->mv_pos - 1]))
        es->row_filled++;
    es->row[s->mv_pos - 1] = v;
}

int mend_engine_point(struct mend_engine *e, const struct mend_point *p)
{
    e->st.points++;
    int64_t t = p->time_ns;
    if (!p->has_time) {
        e->st.no_time++;
        t = e->watermark == NO_TIME ? 0 : e->watermark;
    }
    struct mend_series *s;
    int created;
    int rc = mend_registry_get_after(e->reg, e->prev, p->key, p->key_len, p->entity, p->entity_len, &s,
                                     &created);
    if (rc != MEND_OK) {
        e->st.refused_series++;
        return rc == MEND_ENOMEM ? rc : MEND_OK;
    }
    if (created) {
        rc = mend_scorer_init(mend_series_blob(s), &e->conf.scorer);
        if (rc != MEND_OK)
            return rc;
        s->first_t = s->last_t = t;
    } else if (t < s->last_t) {
        if (s->last_t - t > e->conf.lateness_ns) {
            e->st.late_dropped++;
            return MEND_OK;
        }
        t = s->last_t; /* within the allowed lateness: scored as the newest */
    }
    if (s->n > 0 && t > s->last_t) {
        int64_t gap = t - s->last_t;
        s->interval = s->interval ? s->interval + (gap - s->interval) / 8 : gap;
    }
    e->prev = s;
    s->last_t = t;
    s->n++;
    s->absent = 0;
    if (mend_series_push(e->reg, s, t, p->value) == MEND_ENOMEM)
        return MEND_ENOMEM;
    int event = 0;
    double score = mend_scorer_step(mend_series_blob(s), &e->conf.scorer, t, p->value, &event);
    s->last_score = (float)score;
    e->st.scored++;
    if (e->has_scores)
        e->score_out.emit(e->score_out.ctx, s, t, p->value, score);
    if (event) {
        struct mend_scorer_detail d;
        mend_scorer_detail(mend_series_blob(s), &e->conf.scorer, &d);
        e->st.anomalies++;
        raise_event(e, MEND_ANOM_SCORE, s, s->entity, t, score, p->value, d.expected, s->key,
                    s->key_len);
    }
    if (e->conf.mvg_enabled && s->entity)
        ent_observe(e, s, t, p->value);
    if (e->watermark == NO_TIME || t > e->watermark) {
        e->watermark = t;
        tick(e, t);
    }
    return MEND_OK;
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
    st->watermark = e->watermark;
    st->memory = mend_registry_memory(e->reg) + e->ent_bytes;
}

/* ---- checkpoints --------------------------------------------------------- */

static void put_bytes32(struct mend_wbuf *w, const char *p, size_t n)
{
    mend_wbuf_u32(w, (uint32_t)n);
    mend_wbuf_bytes(w, p, n);
}

int mend_engine_save(const struct mend_engine *e, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, ENGINE_STATE_VERSION);
    mend_wbuf_u64(w, e->blob_size);
    mend_wbuf_u32(w, e->conf.series.ring_cap);
    mend_wbuf_u32(w, (uint32_t)e->conf.mvg_enabled);
    mend_wbuf_i64(w, e->watermark);
    mend_wbuf_i64(w, e->next_tick);
    mend_wbuf_i64(w, e->next_absence);
    const struct mend_engine_stats *st = &e->st;
    uint64_t counters[] = {st->points, st->scored, st->late_dropped, st->refused_series,
                           st->anomalies, st->absences, st->multivariate, st->no_time,
                           st->sparse_rows};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        mend_wbuf_u64(w, counters[i]);
    uint32_t n = mend_registry_count(e->reg);
    mend_wbuf_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        struct mend_series *s = mend_registry_at(e->reg, i);
        const struct mend_entity *ent = mend_registry_entity(e->reg, s->entity);
        put_bytes32(w, s->key, s->key_len);
        put_bytes32(w, ent->name, ent->name_len);
        mend_wbuf_i64(w, s->first_t);
        mend_wbuf_i64(w, s->last_t);
        mend_wbuf_i64(w, s->interval);
        mend_wbuf_u64(w, s->n);
        mend_wbuf_f32(w, s->last_score);
        mend_wbuf_u8(w, s->absent);
        mend_wbuf_u32(w, s->ring_len);
        if (s->ring_len) {
            float *tmp = malloc(s->ring_len * sizeof *tmp);
            int64_t *tt = malloc(s->ring_len * sizeof *tt);
            if (!tmp || !tt) {
                free(tmp);
                free(tt);
                return MEND_ENOMEM;
            }
            mend_series_recent(s, tmp, tt, s->ring_len);
            for (uint32_t k = 0; k < s->ring_len; k++) {
                mend_wbuf_f32(w, tmp[k]);
                mend_wbuf_i64(w, tt[k]);
            }
            free(tmp);
            free(tt);
        }
        int rc = mend_scorer_save(mend_series_blob(s), &e->conf.scorer, w);
        if (rc)
            return rc;
    }
    uint32_t ne = mend_registry_entity_count(e->reg);
    mend_wbuf_u32(w, ne);
    for (uint32_t i = 0; i < ne; i++) {
        const struct ent_state *es = mend_registry_entity(e->reg, i)->user;
        mend_wbuf_u8(w, es != NULL);
        if (!es)
            continue;
        mend_wbuf_u32(w, es->dim);
        for (uint32_t k = 0; k < es->dim; k++) {
            mend_wbuf_u32(w, es->members[k]);
            mend_wbuf_f64(w, es->row[k]);
        }
        mend_wbuf_i64(w, es->row_t);
        mend_wbuf_u32(w, es->row_filled);
        mend_wbuf_u64(w, es->rows);
        mend_wbuf_u8(w, (uint8_t)es->in_event);
        mend_wbuf_u8(w, es->mvg != NULL);
        if (es->mvg) {
            int rc = mend_mvg_save(es->mvg, w);
            if (rc)
                return rc;
        }
    }
    int rc = mend_incidents_save(e->inc, w);
    if (rc)
        return rc;
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

int mend_engine_load(struct mend_engine *e, struct mend_rbuf *r)
{
    if (mend_registry_count(e->reg) != 0)
        return MEND_EINVAL; /* only into a fresh engine */
    uint32_t ver = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    if (ver != ENGINE_STATE_VERSION)
        return MEND_EVERSION;
    if (mend_rbuf_u64(r) != e->blob_size || mend_rbuf_u32(r) != e->conf.series.ring_cap ||
        mend_rbuf_u32(r) != (uint32_t)e->conf.mvg_enabled)
        return r->failed ? MEND_ECORRUPT : MEND_EVERSION;
    e->watermark = mend_rbuf_i64(r);
    e->next_tick = mend_rbuf_i64(r);
    e->next_absence = mend_rbuf_i64(r);
    struct mend_engine_stats *st = &e->st;
    uint64_t *counters[] = {&st->points, &st->scored, &st->late_dropped, &st->refused_series,
                            &st->anomalies, &st->absences, &st->multivariate, &st->no_time,
                            &st->sparse_rows};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        *counters[i] = mend_rbuf_u64(r);
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n > e->conf.series.max_series)
        return MEND_ECORRUPT;
    char *key = malloc(e->conf.series.max_key + 1), *ent = malloc(e->conf.series.max_key + 1);
    int rc = key && ent ? MEND_OK : MEND_ENOMEM;
    for (uint32_t i = 0; i < n && rc == MEND_OK; i++) {
        uint32_t kl = mend_rbuf_u32(r);
        if (r->failed || kl == 0 || kl > e->conf.series.max_key) {
            rc = MEND_ECORRUPT;
            break;
        }
        mend_rbuf_bytes(r, key, kl);
        uint32_t el = mend_rbuf_u32(r);
        if (r->failed || el > e->conf.series.max_key) {
            rc = MEND_ECORRUPT;
            break;
        }
        mend_rbuf_bytes(r, ent, el);
        struct mend_series *s;
        int created = 0;
        rc = mend_registry_get(e->reg, key, kl, ent, el, &s, &created);
        if (rc == MEND_OK && (!created || s->id != i))
            rc = MEND_ECORRUPT; /* a duplicate key */
        if (rc != MEND_OK)
            break;
        rc = mend_scorer_init(mend_series_blob(s), &e->conf.scorer);
        if (rc != MEND_OK)
            break;
        s->first_t = mend_rbuf_i64(r);
        s->last_t = mend_rbuf_i64(r);
        s->interval = mend_rbuf_i64(r);
        s->n = mend_rbuf_u64(r);
        s->last_score = mend_rbuf_f32(r);
        s->absent = mend_rbuf_u8(r);
        uint32_t rl = mend_rbuf_u32(r);
        if (r->failed || rl > e->conf.series.ring_cap) {
            rc = MEND_ECORRUPT;
            break;
        }
        for (uint32_t k = 0; k < rl && rc == MEND_OK; k++) {
            float v = mend_rbuf_f32(r);
            rc = mend_series_push(e->reg, s, mend_rbuf_i64(r), v);
        }
        if (rc == MEND_OK)
            rc = mend_scorer_load(mend_series_blob(s), &e->conf.scorer, r);
    }
    free(key);
    free(ent);
    if (rc != MEND_OK)
        return rc;
    uint32_t ne = mend_rbuf_u32(r);
    if (r->failed || ne != mend_registry_entity_count(e->reg))
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < ne; i++) {
        if (!mend_rbuf_u8(r))
            continue;
        struct mend_entity *entity = mend_registry_entity(e->reg, i);
        struct ent_state *es = ent_state_get(e, entity);
        if (!es)
            return MEND_ENOMEM;
        uint32_t dim = mend_rbuf_u32(r);
        if (r->failed || dim > e->conf.mvg.max_dim)
            return MEND_ECORRUPT;
        for (uint32_t k = 0; k < dim; k++) {
            uint32_t sid = mend_rbuf_u32(r);
            double v = mend_rbuf_f64(r);
            struct mend_series *s = mend_registry_at(e->reg, sid);
            if (r->failed || !s || s->entity != i || s->mv_pos)
                return MEND_ECORRUPT;
            if (ent_add_member(e, es, s) != MEND_OK)
                return MEND_ENOMEM;
            es->row[k] = v;
        }
        es->row_t = mend_rbuf_i64(r);
        es->row_filled = mend_rbuf_u32(r);
        es->rows = mend_rbuf_u64(r);
        es->in_event = mend_rbuf_u8(r);
        if (mend_rbuf_u8(r)) {
            rc = mend_mvg_load(r, &e->conf.mvg, &es->mvg);
            if (rc != MEND_OK)
                return rc;
            if (mend_mvg_dim(es->mvg) != es->dim)
                return MEND_ECORRUPT;
            es->model_dim = es->dim;
        }
        if (r->failed)
            return MEND_ECORRUPT;
    }
    rc = mend_incidents_load(e->inc, r, mend_registry_entity_count(e->reg), mend_registry_count(e->reg));
    if (rc != MEND_OK)
        return rc;
    if (r->failed || r->off != r->len)
        return MEND_ECORRUPT;
    return MEND_OK;
}

int mend_engine_checkpoint(const struct mend_engine *e, const char *path, char *err, size_t errlen)
{
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    int rc = mend_engine_save(e, &w);
    if (rc == MEND_OK)
        rc = mend_ckpt_write(path, ENGINE_CKPT_KIND, ENGINE_STATE_VERSION, w.data, w.len, err, errlen);
    else
        snprintf(err, errlen, "%s: cannot serialise engine state: %s", path, mend_strerror(rc));
    mend_wbuf_fini(&w);
    return rc;
}

int mend_engine_restore(struct mend_engine *e, const char *path, char *err, size_t errlen)
{
    unsigned char *payload = NULL;
    size_t len = 0;
    int rc = mend_ckpt_read(path, ENGINE_CKPT_KIND, ENGINE_STATE_VERSION, &payload, &len, err, errlen);
    if (rc != MEND_OK)
        return rc;
    struct mend_rbuf r;
    mend_rbuf_init(&r, payload, len);
    rc = mend_engine_load(e, &r);
    if (rc != MEND_OK)
        snprintf(err, errlen,
                 "%s: checkpoint does not match this configuration or is damaged (%s); "
                 "move it away to start fresh",
                 path, mend_strerror(rc));
    free(payload);
    return rc;
}
