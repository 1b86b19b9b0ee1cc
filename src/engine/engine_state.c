/* engine_state.c -- the engine's state in checkpoints (see engine.h).
 *
 * The state is four sections, each tagged and versioned on its own, written
 * in this order and read back in it:
 *
 *   ENGN  the clock (watermark, next tick/scan times), counters, the clock
 *         guard's held samples, and what the state depends on in the
 *         configuration (scorer blob size, ring size, model kinds)
 *   SERS  every series slot in id order: key, entity, timing, ring (values
 *         and times), scorer blob; evicted slots as holes, so ids and the
 *         order free ids are reused in come back as they were
 *   ENTS  every entity: row assembly state and, per model kind, the model,
 *         its training window and any training under way (saved as its rows
 *         and resubmitted on restore, so its model goes live at the same
 *         event time)
 *   INCS  open incidents (incident.c)
 *   RATE  counters (engine_rate.c): per series its kind and last raw value
 *         and time, the held samples' kinds, the rate counters
 *
 * Everything read is checked against what it refers to (series ids against
 * the series count, entity ids against the entities, dimensions against
 * max_dim, counts against their caps) before it is used or allocated, so a
 * damaged or crafted file is refused, never half-loaded into a running
 * engine (load is only into a fresh engine, discarded on error). */
#include "engine_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/checkpoint.h"
#include "mend/state.h"

#define ENGINE_CKPT_KIND MEND_CKPT_KIND('E', 'N', 'G', '1')
#define ENGINE_STATE_VERSION 4u /* 3: sections, time-stamped rings, model kinds; 4: RATE */

#define SEC_ENGINE MEND_CKPT_KIND('E', 'N', 'G', 'N')
#define SEC_SERIES MEND_CKPT_KIND('S', 'E', 'R', 'S')
#define SEC_ENTITIES MEND_CKPT_KIND('E', 'N', 'T', 'S')
#define SEC_INCIDENTS MEND_CKPT_KIND('I', 'N', 'C', 'S')
#define SEC_RATES MEND_CKPT_KIND('R', 'A', 'T', 'E')
#define V_RATES 1u
#define V_ENGINE 1u
#define V_SERIES 1u
#define V_ENTITIES 1u
#define V_INCIDENTS 1u

/* Placeholder key of an evicted slot while a state is loaded: a NUL byte
 * first, which no parser lets into a key. */
#define HOLE_KEY "\0hole"
#define HOLE_KEY_LEN 5u

/* The counters saved, in order (new ones go at the end with a version bump). */
#define COUNTERS(st)                                                                                \
    { &(st)->points, &(st)->scored, &(st)->late_dropped, &(st)->refused_series, &(st)->anomalies, \
      &(st)->absences, &(st)->multivariate, &(st)->no_time, &(st)->sparse_rows,                    \
      &(st)->ahead_refused, &(st)->clock_jumps, &(st)->evicted, &(st)->init_failed,                \
      &(st)->models_trained, &(st)->events_refused }

static void put_bytes32(struct mend_wbuf *w, const char *p, size_t n)
{
    mend_wbuf_u32(w, (uint32_t)n);
    mend_wbuf_bytes(w, p, n);
}

static int get_bytes32(struct mend_rbuf *r, char *buf, size_t max, size_t *len)
{
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n > max)
        return MEND_ECORRUPT;
    if (n && mend_rbuf_bytes(r, buf, n) != MEND_OK)
        return MEND_ECORRUPT;
    *len = n;
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

/* ---- ENGN ------------------------------------------------------------------- */

static int save_engine(const struct mend_engine *e, struct mend_wbuf *w)
{
    mend_wbuf_u64(w, e->blob_size);
    mend_wbuf_u32(w, e->conf.series.ring_cap);
    mend_wbuf_u32(w, e->n_kinds);
    for (uint32_t k = 0; k < e->n_kinds; k++)
        put_bytes32(w, e->kinds[k].ops->name, strlen(e->kinds[k].ops->name));
    mend_wbuf_i64(w, e->watermark);
    mend_wbuf_i64(w, e->next_tick);
    mend_wbuf_i64(w, e->next_absence);
    mend_wbuf_i64(w, e->next_evict);
    struct mend_engine_stats st = e->st;
    uint64_t *c[] = COUNTERS(&st);
    mend_wbuf_u32(w, (uint32_t)(sizeof c / sizeof c[0]));
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        mend_wbuf_u64(w, *c[i]);
    mend_wbuf_u32(w, e->n_held);
    for (uint32_t i = 0; i < e->n_held; i++) {
        const struct held_point *h = &e->held[i];
        put_bytes32(w, e->held_keys + h->key_off, h->key_len);
        mend_wbuf_u8(w, (uint8_t)h->has_entity);
        put_bytes32(w, e->held_keys + h->ent_off, h->ent_len);
        mend_wbuf_i64(w, h->t);
        mend_wbuf_f64(w, h->value);
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int load_engine(struct mend_engine *e, struct mend_rbuf *r)
{
    uint64_t blob = mend_rbuf_u64(r);
    uint32_t ring = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    /* Each mismatch names the option that causes it, so the message says
     * what to put back (or to start fresh with --discard-checkpoint). */
    if (ring != e->conf.series.ring_cap) {
        snprintf(e->restore_why, sizeof e->restore_why,
                 "series.ring is %u now but %u in the checkpoint", e->conf.series.ring_cap, ring);
        return MEND_EVERSION;
    }
    if (blob != e->blob_size) {
        snprintf(e->restore_why, sizeof e->restore_why,
                 "the detectors (detect.*) differ: per-series state is %zu bytes now but %" PRIu64
                 " in the checkpoint",
                 e->blob_size, blob);
        return MEND_EVERSION;
    }
    uint32_t nk = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    if (nk != e->n_kinds) {
        snprintf(e->restore_why, sizeof e->restore_why,
                 "the entity models differ (multivariate.enabled and model kinds): %u now but %u in the checkpoint",
                 e->n_kinds, nk);
        return MEND_EVERSION;
    }
    for (uint32_t k = 0; k < nk; k++) {
        char name[64];
        size_t len;
        if (get_bytes32(r, name, sizeof name, &len) != MEND_OK)
            return MEND_ECORRUPT;
        if (len != strlen(e->kinds[k].ops->name) || memcmp(name, e->kinds[k].ops->name, len)) {
            snprintf(e->restore_why, sizeof e->restore_why,
                     "entity model %u is '%s' now but '%.*s' in the checkpoint (multivariate.*, model kinds)",
                     k, e->kinds[k].ops->name, (int)len, name);
            return MEND_EVERSION;
        }
    }
    engine_watermark_set(e, mend_rbuf_i64(r));
    e->next_tick = mend_rbuf_i64(r);
    e->next_absence = mend_rbuf_i64(r);
    e->next_evict = mend_rbuf_i64(r);
    struct mend_engine_stats *st = &e->st;
    uint64_t *c[] = COUNTERS(st);
    if (mend_rbuf_u32(r) != sizeof c / sizeof c[0])
        return MEND_ECORRUPT;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        *c[i] = mend_rbuf_u64(r);
    uint32_t nh = mend_rbuf_u32(r);
    if (r->failed || nh > HOLD_MAX)
        return MEND_ECORRUPT;
    char *key = malloc(e->conf.series.max_key + 1);
    char *ent = malloc(e->conf.series.max_key + 1);
    int rc = key && ent ? MEND_OK : MEND_ENOMEM;
    for (uint32_t i = 0; i < nh && rc == MEND_OK; i++) {
        size_t kl, el;
        struct mend_point p = {0};
        if (get_bytes32(r, key, e->conf.series.max_key, &kl) != MEND_OK) {
            rc = MEND_ECORRUPT;
            break;
        }
        int has_ent = mend_rbuf_u8(r);
        if (get_bytes32(r, ent, e->conf.series.max_key, &el) != MEND_OK || has_ent > 1) {
            rc = MEND_ECORRUPT;
            break;
        }
        p.key = key;
        p.key_len = kl;
        p.entity = has_ent ? ent : NULL;
        p.entity_len = el;
        p.time_ns = mend_rbuf_i64(r);
        p.has_time = 1;
        p.value = mend_rbuf_f64(r);
        rc = engine_hold(e, &p, p.time_ns);
        if (rc == MEND_ECAP)
            rc = MEND_ECORRUPT;
    }
    free(key);
    free(ent);
    if (rc == MEND_OK && r->failed)
        rc = MEND_ECORRUPT;
    return rc;
}

/* ---- SERS ------------------------------------------------------------------- */

static int save_series(const struct mend_engine *e, struct mend_wbuf *w)
{
    /* entity names first, so a restore gives every entity its old id
     * whatever order its series come back in */
    uint32_t ne = mend_registry_entity_count(e->reg);
    mend_wbuf_u32(w, ne);
    for (uint32_t i = 1; i < ne; i++) {
        const struct mend_entity *ent = mend_registry_entity(e->reg, i);
        put_bytes32(w, ent->name, ent->name_len);
    }
    uint32_t n = mend_registry_count(e->reg);
    mend_wbuf_u32(w, n);
    uint32_t cap = e->conf.series.ring_cap;
    float *vals = malloc(cap * sizeof *vals);
    int64_t *times = malloc(cap * sizeof *times);
    int rc = vals && times ? MEND_OK : MEND_ENOMEM;
    for (uint32_t i = 0; i < n && rc == MEND_OK; i++) {
        struct mend_series *s = mend_registry_at(e->reg, i);
        mend_wbuf_u8(w, s != NULL);
        if (!s)
            continue;
        const struct mend_entity *ent = mend_registry_entity(e->reg, s->entity);
        put_bytes32(w, s->key, s->key_len);
        mend_wbuf_u32(w, s->entity);
        put_bytes32(w, ent->name, ent->name_len);
        mend_wbuf_u8(w, (s->flags & SERIES_READY) != 0);
        mend_wbuf_i64(w, s->first_t);
        mend_wbuf_i64(w, s->last_t);
        mend_wbuf_i64(w, s->interval);
        mend_wbuf_u64(w, s->n);
        mend_wbuf_f32(w, s->last_score);
        mend_wbuf_u8(w, (s->flags & SERIES_ABSENT) != 0);
        mend_wbuf_i64(w, i < e->seen_cap ? e->seen_w[i] : NO_TIME);
        size_t rl = mend_series_recent(s, vals, times, cap);
        mend_wbuf_u32(w, (uint32_t)rl);
        for (size_t k = 0; k < rl; k++) {
            mend_wbuf_i64(w, times[k]);
            mend_wbuf_f32(w, vals[k]);
        }
        if (s->flags & SERIES_READY)
            rc = mend_scorer_save(mend_series_blob(s), &e->conf.scorer, w);
    }
    free(vals);
    free(times);
    /* the order free ids are handed out in */
    uint32_t nfree = n - mend_registry_live(e->reg);
    uint32_t *ids = nfree ? malloc(nfree * sizeof *ids) : NULL;
    if (rc == MEND_OK && nfree && !ids)
        rc = MEND_ENOMEM;
    if (rc == MEND_OK) {
        uint32_t got = nfree ? mend_registry_free_ids(e->reg, ids, nfree) : 0;
        mend_wbuf_u32(w, got);
        for (uint32_t i = 0; i < got; i++)
            mend_wbuf_u32(w, ids[i]);
    }
    free(ids);
    if (rc == MEND_OK && w->failed)
        rc = MEND_ENOMEM;
    return rc;
}

static int load_one_series(struct mend_engine *e, struct mend_rbuf *r, uint32_t i, char *key, char *ent)
{
    size_t kl, el;
    if (get_bytes32(r, key, e->conf.series.max_key, &kl) != MEND_OK || kl == 0)
        return MEND_ECORRUPT;
    uint32_t ent_id = mend_rbuf_u32(r);
    if (get_bytes32(r, ent, e->conf.series.max_key, &el) != MEND_OK)
        return MEND_ECORRUPT;
    struct mend_series *s;
    int created = 0;
    int rc = mend_registry_get(e->reg, key, kl, ent, el, &s, &created);
    if (rc == MEND_ECAP || rc == MEND_EINVAL)
        return MEND_ECORRUPT;
    if (rc != MEND_OK)
        return rc;
    if (!created || s->id != i || s->entity != ent_id)
        return MEND_ECORRUPT; /* a duplicate key, or ids that do not line up */
    uint8_t ready = mend_rbuf_u8(r);
    if (ready > 1)
        return MEND_ECORRUPT;
    if (ready) {
        rc = mend_scorer_init(mend_series_blob(s), &e->conf.scorer);
        if (rc != MEND_OK)
            return rc;
        s->flags |= SERIES_READY;
    }
    s->first_t = mend_rbuf_i64(r);
    s->last_t = mend_rbuf_i64(r);
    s->interval = mend_rbuf_i64(r);
    s->n = mend_rbuf_u64(r);
    s->last_score = mend_rbuf_f32(r);
    uint8_t absent = mend_rbuf_u8(r);
    if (absent == 1)
        s->flags |= SERIES_ABSENT;
    if (engine_seen_reserve(e, i) != MEND_OK)
        return MEND_ENOMEM;
    e->seen_w[i] = mend_rbuf_i64(r);
    uint32_t rl = mend_rbuf_u32(r);
    if (r->failed || rl > e->conf.series.ring_cap || absent > 1 || s->interval < 0)
        return MEND_ECORRUPT;
    for (uint32_t k = 0; k < rl; k++) {
        int64_t t = mend_rbuf_i64(r);
        float v = mend_rbuf_f32(r);
        if (r->failed)
            return MEND_ECORRUPT;
        rc = mend_series_push(e->reg, s, t, v);
        if (rc != MEND_OK)
            return rc;
    }
    if (ready)
        return mend_scorer_load(mend_series_blob(s), &e->conf.scorer, r);
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

static int load_series(struct mend_engine *e, struct mend_rbuf *r)
{
    uint32_t ne = mend_rbuf_u32(r);
    if (r->failed || ne < 1 || ne > e->conf.series.max_entities + 1u)
        return MEND_ECORRUPT;
    char *key = malloc(e->conf.series.max_key + 1), *ent = malloc(e->conf.series.max_key + 1);
    int rc = key && ent ? MEND_OK : MEND_ENOMEM;
    for (uint32_t i = 1; i < ne && rc == MEND_OK; i++) {
        size_t nl;
        uint32_t id = 0;
        rc = get_bytes32(r, ent, e->conf.series.max_key, &nl);
        if (rc == MEND_OK)
            rc = mend_registry_entity_get(e->reg, ent, nl, &id);
        if (rc != MEND_ENOMEM && (rc != MEND_OK || id != i))
            rc = MEND_ECORRUPT; /* empty, duplicate, or over the cap */
    }
    uint32_t n = mend_rbuf_u32(r);
    if (rc == MEND_OK && (r->failed || n > e->conf.series.max_series))
        rc = MEND_ECORRUPT;
    uint32_t holes = 0;
    for (uint32_t i = 0; i < n && rc == MEND_OK; i++) {
        uint8_t live = mend_rbuf_u8(r);
        if (r->failed || live > 1) {
            rc = MEND_ECORRUPT;
        } else if (live) {
            rc = load_one_series(e, r, i, key, ent);
        } else {
            /* an evicted slot: a placeholder now, evicted once all are in,
             * in id order, so free ids are reused as they would have been */
            char hk[32];
            memcpy(hk, HOLE_KEY, HOLE_KEY_LEN);
            int l = snprintf(hk + HOLE_KEY_LEN, sizeof hk - HOLE_KEY_LEN, "%u", i);
            struct mend_series *s;
            int created = 0;
            rc = mend_registry_get(e->reg, hk, HOLE_KEY_LEN + (size_t)l, NULL, 0, &s, &created);
            if (rc == MEND_OK && (!created || s->id != i))
                rc = MEND_ECORRUPT;
            holes++;
        }
    }
    free(key);
    free(ent);
    if (rc != MEND_OK)
        return rc == MEND_ECAP ? MEND_ECORRUPT : rc;
    /* evict the placeholders so that the first id to be reused is the
     * first of the saved order: the free list is last-in, first-out */
    uint32_t nfree = mend_rbuf_u32(r);
    if (r->failed || nfree != holes)
        return MEND_ECORRUPT;
    uint32_t *ids = nfree ? malloc(nfree * sizeof *ids) : NULL;
    unsigned char *seen = nfree ? calloc(n, 1) : NULL;
    if (nfree && (!ids || !seen)) {
        free(ids);
        free(seen);
        return MEND_ENOMEM;
    }
    for (uint32_t i = 0; i < nfree; i++) {
        ids[i] = mend_rbuf_u32(r);
        struct mend_series *s = r->failed || ids[i] >= n ? NULL : mend_registry_at(e->reg, ids[i]);
        if (!s || s->key_len == 0 || s->key[0] != '\0' || seen[ids[i]]) {
            free(ids);
            free(seen);
            return MEND_ECORRUPT; /* not a hole, or named twice */
        }
        seen[ids[i]] = 1;
    }
    for (uint32_t i = nfree; i-- > 0;)
        mend_registry_evict(e->reg, mend_registry_at(e->reg, ids[i]));
    free(ids);
    free(seen);
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

/* ---- ENTS ------------------------------------------------------------------- */

static void save_rows(struct mend_wbuf *w, const double *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mend_wbuf_f64(w, rows[i]);
}

static int load_rows(struct mend_rbuf *r, double *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rows[i] = mend_rbuf_f64(r);
        if (isinf(rows[i]))
            return MEND_ECORRUPT;
    }
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

static int save_model(const struct mend_engine *e, uint32_t k, const struct ent_model *em,
                      struct mend_wbuf *w)
{
    const struct mend_model_kind *kind = &e->kinds[k];
    mend_wbuf_u8(w, em->m != NULL);
    if (em->m) {
        mend_wbuf_u32(w, em->dim);
        int rc = kind->ops->save(em->m, w);
        if (rc != MEND_OK)
            return rc;
    }
    mend_wbuf_u8(w, em->in_event);
    mend_wbuf_u32(w, em->bdim);
    mend_wbuf_u32(w, em->buf_n);
    mend_wbuf_u32(w, em->since_train);
    if (em->buf_n) {
        /* oldest first, so the ring restarts at position buf_n */
        uint32_t cap = kind->train_rows;
        uint32_t first = (em->buf_head + cap - em->buf_n) % cap;
        for (uint32_t i = 0; i < em->buf_n; i++)
            save_rows(w, em->buf + (size_t)((first + i) % cap) * em->bdim, em->bdim);
    }
    mend_wbuf_u8(w, em->job != NULL);
    if (em->job) {
        size_t n, d;
        const double *rows = mend_train_job_rows(em->job, &n, &d);
        mend_wbuf_i64(w, em->live_at);
        mend_wbuf_u32(w, (uint32_t)d);
        mend_wbuf_u32(w, (uint32_t)n);
        save_rows(w, rows, n * d);
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int load_model(struct mend_engine *e, uint32_t k, struct ent_state *es, struct mend_rbuf *r)
{
    const struct mend_model_kind *kind = &e->kinds[k];
    struct ent_model *em = &es->mod[k];
    uint8_t has = mend_rbuf_u8(r);
    if (r->failed || has > 1)
        return MEND_ECORRUPT;
    if (has) {
        uint32_t dim = mend_rbuf_u32(r);
        if (r->failed || dim < 1 || dim > es->dim)
            return MEND_ECORRUPT;
        int rc = kind->ops->load(kind->conf, dim, r, &em->m);
        if (rc != MEND_OK) {
            em->m = NULL;
            return rc;
        }
        em->dim = dim;
        if (kind->ops->scratch_new && kind->ops->scratch_new(kind->conf, dim, &em->scratch) != MEND_OK)
            return MEND_ENOMEM;
    }
    em->in_event = mend_rbuf_u8(r);
    em->bdim = mend_rbuf_u32(r);
    em->buf_n = mend_rbuf_u32(r);
    em->since_train = mend_rbuf_u32(r);
    if (r->failed || em->in_event > 1 || em->bdim > es->dim ||
        (kind->ops->train ? em->buf_n > kind->train_rows : em->buf_n != 0) ||
        (em->buf_n && !em->bdim))
        return MEND_ECORRUPT;
    if (em->bdim && kind->ops->train) {
        em->buf = calloc((size_t)kind->train_rows * em->bdim, sizeof *em->buf);
        if (!em->buf)
            return MEND_ENOMEM;
        if (load_rows(r, em->buf, (size_t)em->buf_n * em->bdim) != MEND_OK)
            return MEND_ECORRUPT;
        em->buf_head = em->buf_n % kind->train_rows;
    }
    uint8_t job = mend_rbuf_u8(r);
    if (r->failed || job > 1 || (job && !kind->ops->train))
        return MEND_ECORRUPT;
    if (job) {
        em->live_at = mend_rbuf_i64(r);
        uint32_t d = mend_rbuf_u32(r), n = mend_rbuf_u32(r);
        if (r->failed || d < 1 || d > es->dim || n < 1 || n > kind->train_rows)
            return MEND_ECORRUPT;
        double *rows = malloc((size_t)n * d * sizeof *rows);
        if (!rows)
            return MEND_ENOMEM;
        if (load_rows(r, rows, (size_t)n * d) != MEND_OK) {
            free(rows);
            return MEND_ECORRUPT;
        }
        int rc = mend_trainer_submit(e->trainer, kind, d, rows, n, &em->job);
        if (rc != MEND_OK)
            return rc;
    }
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

static int save_entities(const struct mend_engine *e, struct mend_wbuf *w)
{
    uint32_t ne = mend_registry_entity_count(e->reg);
    mend_wbuf_u32(w, ne);
    for (uint32_t i = 0; i < ne; i++) {
        const struct mend_entity *ent = mend_registry_entity(e->reg, i);
        const struct ent_state *es = ent->user;
        put_bytes32(w, ent->name, ent->name_len);
        mend_wbuf_u8(w, es != NULL);
        if (!es)
            continue;
        mend_wbuf_u32(w, es->dim);
        for (uint32_t k = 0; k < es->dim; k++) {
            mend_wbuf_u32(w, es->members[k]);
            mend_wbuf_f64(w, es->row[k]);
        }
        mend_wbuf_i64(w, es->row_t);
        mend_wbuf_i64(w, es->min_iv);
        mend_wbuf_u32(w, es->row_filled);
        mend_wbuf_u64(w, es->rows);
        for (uint32_t k = 0; k < e->n_kinds; k++) {
            int rc = save_model(e, k, &es->mod[k], w);
            if (rc != MEND_OK)
                return rc;
        }
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int load_entities(struct mend_engine *e, struct mend_rbuf *r)
{
    uint32_t ne = mend_rbuf_u32(r);
    if (r->failed || ne > e->conf.series.max_entities + 1u)
        return MEND_ECORRUPT;
    char *name = malloc(e->conf.series.max_key + 1);
    if (!name)
        return MEND_ENOMEM;
    int rc = MEND_OK;
    for (uint32_t i = 0; i < ne && rc == MEND_OK; i++) {
        size_t nl;
        if (get_bytes32(r, name, e->conf.series.max_key, &nl) != MEND_OK) {
            rc = MEND_ECORRUPT;
            break;
        }
        /* the series section made the entities: names must agree */
        const struct mend_entity *known = i < mend_registry_entity_count(e->reg) ? mend_registry_entity(e->reg, i) : NULL;
        if (!known || known->name_len != nl || memcmp(known->name, name, nl)) {
            rc = MEND_ECORRUPT;
            break;
        }
        uint8_t has = mend_rbuf_u8(r);
        if (r->failed || has > 1) {
            rc = MEND_ECORRUPT;
            break;
        }
        if (!has)
            continue;
        struct mend_entity *entity = mend_registry_entity(e->reg, i);
        struct ent_state *es = calloc(1, sizeof *es + e->n_kinds * sizeof es->mod[0]);
        if (!es) {
            rc = MEND_ENOMEM;
            break;
        }
        entity->user = es;
        e->ent_bytes += sizeof *es + e->n_kinds * sizeof es->mod[0];
        uint32_t dim = mend_rbuf_u32(r);
        if (r->failed || dim > e->conf.mvg.max_dim) {
            rc = MEND_ECORRUPT;
            break;
        }
        for (uint32_t k = 0; k < dim && rc == MEND_OK; k++) {
            uint32_t sid = mend_rbuf_u32(r);
            double v = mend_rbuf_f64(r);
            struct mend_series *s = sid == VACANT ? NULL : mend_registry_at(e->reg, sid);
            if (r->failed || (sid != VACANT && (!s || s->entity != i || s->mv_pos)) || isinf(v)) {
                rc = MEND_ECORRUPT;
                break;
            }
            if (s) {
                rc = engine_ent_add_member(e, es, s);
            } else {
                /* a vacant position keeps its place */
                struct mend_series tmp = {.id = (uint32_t)VACANT};
                rc = engine_ent_add_member(e, es, &tmp);
            }
            if (rc == MEND_OK)
                es->row[k] = v;
        }
        if (rc != MEND_OK)
            break;
        es->row_t = mend_rbuf_i64(r);
        es->min_iv = mend_rbuf_i64(r);
        es->row_filled = mend_rbuf_u32(r);
        es->rows = mend_rbuf_u64(r);
        uint32_t filled = 0;
        for (uint32_t k = 0; k < es->dim; k++)
            filled += isnan(es->row[k]) ? 0u : 1u;
        if (r->failed || es->row_filled != filled || es->min_iv < 0) {
            rc = MEND_ECORRUPT;
            break;
        }
        for (uint32_t k = 0; k < e->n_kinds && rc == MEND_OK; k++)
            rc = load_model(e, k, es, r);
    }
    free(name);
    if (rc == MEND_OK && ne != mend_registry_entity_count(e->reg))
        rc = MEND_ECORRUPT; /* a series named an entity the list does not have */
    return rc;
}

/* ---- the sections ------------------------------------------------------------ */

struct section {
    uint32_t tag, version;
    int (*save)(const struct mend_engine *e, struct mend_wbuf *w);
    int (*load)(struct mend_engine *e, struct mend_rbuf *r);
};

static int save_incidents(const struct mend_engine *e, struct mend_wbuf *w)
{
    return mend_incidents_save(e->inc, w);
}

static int load_incidents(struct mend_engine *e, struct mend_rbuf *r)
{
    return mend_incidents_load(e->inc, r, mend_registry_entity_count(e->reg), mend_registry_count(e->reg));
}

static const struct section sections[] = {
    {SEC_ENGINE, V_ENGINE, save_engine, load_engine},
    {SEC_SERIES, V_SERIES, save_series, load_series},
    {SEC_ENTITIES, V_ENTITIES, save_entities, load_entities},
    {SEC_INCIDENTS, V_INCIDENTS, save_incidents, load_incidents},
    {SEC_RATES, V_RATES, engine_rate_save, engine_rate_load},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

int mend_engine_save(const struct mend_engine *e, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, ENGINE_STATE_VERSION);
    for (size_t i = 0; i < N_SECTIONS; i++) {
        mend_wbuf_u32(w, sections[i].tag);
        mend_wbuf_u32(w, sections[i].version);
        int rc = sections[i].save(e, w);
        if (rc != MEND_OK)
            return rc;
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

int mend_engine_load(struct mend_engine *e, struct mend_rbuf *r)
{
    if (mend_registry_count(e->reg) != 0 || e->st.points != 0)
        return MEND_EINVAL; /* only into a fresh engine */
    uint32_t ver = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    if (ver != ENGINE_STATE_VERSION)
        return MEND_EVERSION;
    for (size_t i = 0; i < N_SECTIONS; i++) {
        uint32_t tag = mend_rbuf_u32(r), v = mend_rbuf_u32(r);
        if (r->failed || tag != sections[i].tag)
            return MEND_ECORRUPT;
        if (v != sections[i].version)
            return MEND_EVERSION;
        int rc = sections[i].load(e, r);
        if (rc != MEND_OK)
            return rc;
    }
    if (r->failed || r->off != r->len)
        return MEND_ECORRUPT;
    return MEND_OK;
}

/* ---- checkpoint files: one state.h section per engine section ------------- */

static int save_file(const void *ctx, struct mend_state_writer *sw)
{
    const struct mend_engine *e = ctx;
    for (size_t i = 0; i < N_SECTIONS; i++) {
        /* the section version carries the state version too */
        struct mend_wbuf *w =
            mend_state_section_begin(sw, sections[i].tag, ENGINE_STATE_VERSION << 16 | sections[i].version);
        if (!w)
            return MEND_EIO; /* the writer failed; commit names why */
        int rc = sections[i].save(e, w);
        if (rc != MEND_OK)
            return rc;
        rc = mend_state_section_end(sw);
        if (rc != MEND_OK)
            return rc;
    }
    for (uint32_t i = 0; i < e->n_extra; i++) {
        const struct mend_engine_section *x = &e->extra[i];
        struct mend_wbuf *w = mend_state_section_begin(sw, x->tag, x->version);
        if (!w)
            return MEND_EIO;
        int rc = x->save(x->ctx, w);
        if (rc != MEND_OK)
            return rc;
        if ((rc = mend_state_section_end(sw)) != MEND_OK)
            return rc;
    }
    return MEND_OK;
}

int mend_engine_add_section(struct mend_engine *e, const struct mend_engine_section *sec)
{
    if (!sec || !sec->tag || !sec->save || !sec->load)
        return MEND_EINVAL;
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (sections[i].tag == sec->tag)
            return MEND_EINVAL;
    for (uint32_t i = 0; i < e->n_extra; i++)
        if (e->extra[i].tag == sec->tag)
            return MEND_EINVAL;
    if (e->n_extra >= MEND_ENGINE_MAX_SECTIONS)
        return MEND_ECAP;
    e->extra[e->n_extra++] = *sec;
    return MEND_OK;
}

/* The sections after the engine's own: registered ones are loaded, others
 * skipped. */
static int restore_extra(struct mend_engine *e, struct mend_state_reader *sr, const char **what,
                         char *err, size_t errlen)
{
    for (;;) {
        uint32_t tag, v;
        struct mend_rbuf *r;
        int rc = mend_state_read_section(sr, &tag, &v, &r);
        if (rc == MEND_ENOTFOUND)
            return MEND_OK;
        if (rc != MEND_OK)
            return rc;
        for (uint32_t i = 0; i < e->n_extra; i++) {
            const struct mend_engine_section *x = &e->extra[i];
            if (x->tag != tag)
                continue;
            if (v != x->version) {
                *what = "a section written by another version of mend";
                return MEND_EVERSION;
            }
            if ((rc = x->load(x->ctx, r)) != MEND_OK) {
                *what = rc == MEND_EVERSION ? "a section's configuration differs" : "damaged";
                return rc;
            }
            if ((rc = mend_state_read_done(sr, err, errlen)) != MEND_OK) {
                *what = "damaged";
                return rc;
            }
        }
    }
}

int mend_engine_checkpoint(const struct mend_engine *e, const char *path, char *err, size_t errlen)
{
    return mend_state_save(path, ENGINE_CKPT_KIND, save_file, e, err, errlen);
}

int mend_engine_checkpoint_bg(const struct mend_engine *e, const char *path, struct mend_state_bg **bg,
                              char *err, size_t errlen)
{
    return mend_state_save_bg(path, ENGINE_CKPT_KIND, save_file, e, bg, err, errlen);
}

int mend_engine_restore(struct mend_engine *e, const char *path, char *err, size_t errlen)
{
    if (mend_registry_count(e->reg) != 0 || e->st.points != 0)
        return MEND_EINVAL; /* only into a fresh engine */
    unsigned removed = 0;
    if (mend_state_clean_temps(path, &removed, err, errlen) != MEND_OK)
        return MEND_EIO;
    struct mend_state_reader *sr;
    int rc = mend_state_read_open(path, ENGINE_CKPT_KIND, &sr, err, errlen);
    if (rc != MEND_OK)
        return rc;
    const char *what = "";
    for (size_t i = 0; i < N_SECTIONS && rc == MEND_OK; i++) {
        uint32_t tag, v;
        struct mend_rbuf *r;
        rc = mend_state_read_section(sr, &tag, &v, &r);
        if (rc != MEND_OK || tag != sections[i].tag) {
            rc = MEND_ECORRUPT;
            what = "sections missing or out of order";
            break;
        }
        if (v != (ENGINE_STATE_VERSION << 16 | sections[i].version)) {
            rc = MEND_EVERSION;
            what = "written by another version of mend";
            break;
        }
        rc = sections[i].load(e, r);
        if (rc == MEND_OK) {
            rc = mend_state_read_done(sr, err, errlen);
            if (rc != MEND_OK) {
                mend_state_read_close(sr);
                return rc;
            }
        } else {
            what = rc != MEND_EVERSION ? "damaged"
                   : e->restore_why[0] ? e->restore_why
                                       : "the configuration differs (series.ring, detect.*, multivariate.*)";
        }
    }
    if (rc == MEND_OK)
        rc = restore_extra(e, sr, &what, err, errlen);
    mend_state_read_close(sr);
    if (rc != MEND_OK)
        snprintf(err, errlen,
                 "%s: checkpoint not usable: %s (%s); put the option back, or start fresh with "
                 "--discard-checkpoint",
                 path, what, mend_strerror(rc));
    return rc;
}
