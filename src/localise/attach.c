/* attach.c -- the localiser attached to the engine as an incident annotator
 * (localise.h, incident.h): every "open" and "update" line names its
 * suspects. This file only gathers: it reads the scope's series from the
 * registry's rings, lines them up by event time on the grid of the
 * symptoms' sampling interval, and writes the ranking of mend_localise_run
 * into the line. The ranking itself is localise.c's, the same one
 * `mend localise` prints offline, so the two agree on the same window.
 *
 * Where the windows come from, and why:
 *   - the incident window starts at the incident's start (its first event:
 *     the earliest onset among its signals) and runs to the change's event
 *     time, at most conf.window slots, so the onset stays in view on later
 *     updates and the work does not grow with the incident's age;
 *   - slots are the smallest sampling interval among the symptom series
 *     (their smoothed gap, series.h), offset by half a slot so that samples
 *     of a collection round that arrive a little before or after the
 *     symptom's land in the same slot;
 *   - the reference is the ring's samples before the window (at most
 *     conf.reference): the series' own recent normal behaviour. It doubles
 *     as the lead-in (ctx with times), as in the offline command.
 * Runs on the engine's thread at the rare incident changes, never per
 * sample; its work per change is bounded by the caps (see localise.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/confmap.h"
#include "mend/incident.h"
#include "mend/json.h"
#include "mend/localise.h"
#include "mend/series.h"

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: no allocation per line */
#include <xxhash.h>

#define ATTACH_MAX_SYMPTOMS 16u
/* Rankings kept for reuse (see memo_* below): a few incidents' worth, and
 * each no longer than a line's localise member can reasonably be. */
#define ATTACH_MEMO 64u
#define ATTACH_MEMO_MAX_BYTES (32u << 10)

/* One remembered ranking: the hash of everything it was computed from, and
 * the bytes it wrote. */
struct memo_ent {
    XXH128_hash_t h;
    unsigned char *bytes; /* NULL = empty */
    size_t len, cap;
};

struct mend_localise_attach {
    struct mend_localise_attach_conf conf;
    struct mend_registry *reg;
    struct mend_localise *loc;           /* NULL until the first annotation */
    uint32_t ring_cap;                   /* the registry's ring cap: fv / tv */
    float *fv;                           /* ring_cap */
    int64_t *tv;                         /* ring_cap */
    double *vals;                        /* max_series * (reference + window) */
    int64_t *times;                      /* likewise */
    struct mend_localise_series *ser;    /* max_series */
    uint32_t *cand;                      /* max_series: series ids */
    uint32_t *cand_ent;                  /* max_series: entity id of each */
    uint32_t *node_ent;                  /* max_series: entity id of each node */
    uint32_t *hash;                      /* 2 * max_series (power of 2): entity -> node + 1 */
    uint32_t hash_mask;
    struct mend_wbuf frag;               /* this line's localise member, then copied */
    struct memo_ent memo[ATTACH_MEMO];   /* by hash */
    int failed;                          /* allocation failed once: stays off */
    struct mend_localise_attach_stats st;
};

void mend_localise_attach_conf_defaults(struct mend_localise_attach_conf *c)
{
    c->enabled = 1;
    c->scope = MEND_LOCALISE_SCOPE_ENTITY;
    c->window = 64;
    c->reference = 256;
    c->max_series = 100;
    c->top = 5;
    c->top_components = 3;
    c->reuse = 1;
}

int mend_localise_attach_new(const struct mend_localise_attach_conf *c, struct mend_registry *reg,
                             uint32_t ring_cap, struct mend_localise_attach **out)
{
    *out = NULL;
    if (!c || !reg || ring_cap == 0 || ring_cap > 65536 || c->window == 0 || c->window > 65536 || c->reference < 2 ||
        c->reference > 65536 || c->max_series == 0 || c->max_series > 1000000 ||
        (c->reuse != 0 && c->reuse != 1) ||
        (c->scope != MEND_LOCALISE_SCOPE_ENTITY && c->scope != MEND_LOCALISE_SCOPE_ALL))
        return MEND_EINVAL;
    struct mend_localise_attach *a = calloc(1, sizeof *a);
    if (!a)
        return MEND_ENOMEM;
    a->conf = *c;
    a->reg = reg;
    mend_wbuf_init(&a->frag);
    a->ring_cap = ring_cap;
    *out = a;
    return MEND_OK;
}

void mend_localise_attach_free(struct mend_localise_attach *a)
{
    if (!a)
        return;
    mend_localise_free(a->loc);
    free(a->fv);
    free(a->tv);
    free(a->vals);
    free(a->times);
    free(a->ser);
    free(a->cand);
    free(a->cand_ent);
    free(a->node_ent);
    free(a->hash);
    mend_wbuf_fini(&a->frag);
    for (uint32_t k = 0; k < ATTACH_MEMO; k++)
        free(a->memo[k].bytes);
    free(a);
}

void mend_localise_attach_stats(const struct mend_localise_attach *a,
                                struct mend_localise_attach_stats *st)
{
    *st = a->st;
}

/* The buffers, at the first annotation. */
static int attach_alloc(struct mend_localise_attach *a)
{
    if (a->failed)
        return MEND_ENOMEM;
    if (a->loc)
        return MEND_OK;
    const struct mend_localise_attach_conf *c = &a->conf;
    size_t n = c->max_series, per = (size_t)c->reference + c->window;
    uint32_t hs = 2;
    while (hs < 2 * c->max_series)
        hs <<= 1;
    struct mend_localise_conf lc;
    mend_localise_conf_defaults(&lc);
    lc.max_series = c->max_series;
    lc.max_window = c->window;
    lc.max_ref = c->reference;
    lc.max_nodes = c->max_series;
    lc.max_symptoms = ATTACH_MAX_SYMPTOMS;
    a->vals = malloc(n * per * sizeof *a->vals);
    a->times = malloc(n * per * sizeof *a->times);
    a->ser = malloc(n * sizeof *a->ser);
    a->cand = malloc(n * sizeof *a->cand);
    a->cand_ent = malloc(n * sizeof *a->cand_ent);
    a->node_ent = malloc(n * sizeof *a->node_ent);
    a->hash = malloc(hs * sizeof *a->hash);
    a->hash_mask = hs - 1;
    a->fv = malloc(a->ring_cap * sizeof *a->fv);
    a->tv = malloc(a->ring_cap * sizeof *a->tv);
    a->loc = mend_localise_new(&lc);
    if (!a->vals || !a->times || !a->ser || !a->cand || !a->cand_ent || !a->node_ent || !a->hash ||
        !a->fv || !a->tv || !a->loc) {
        a->failed = 1; /* do not retry a few MB on every change */
        return MEND_ENOMEM;
    }
    return MEND_OK;
}

/* The signal's series, if it is still the one the signal was raised on
 * (ids are reused after eviction: the key tells). */
static const struct mend_series *signal_series(const struct mend_localise_attach *a,
                                               const struct mend_incident_signal *g)
{
    if (g->series_id == UINT32_MAX || g->kind != MEND_ANOM_SCORE)
        return NULL;
    const struct mend_series *s = mend_registry_at(a->reg, g->series_id);
    if (!s || !g->key || strlen(g->key) != s->key_len || memcmp(g->key, s->key, s->key_len))
        return NULL;
    return s;
}

static int has_cand(const struct mend_localise_attach *a, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (a->cand[i] == id)
            return 1;
    return 0;
}

static int u32_cmp(const void *x, const void *y)
{
    uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
    return (p > q) - (p < q);
}

/* Node of entity e (entities met in this run get nodes in order). */
static int32_t node_of(struct mend_localise_attach *a, uint32_t e, uint32_t *n_nodes)
{
    uint32_t h = (e * 2654435761u) & a->hash_mask;
    while (a->hash[h]) {
        if (a->node_ent[a->hash[h] - 1] == e)
            return (int32_t)(a->hash[h] - 1);
        h = (h + 1) & a->hash_mask;
    }
    a->node_ent[*n_nodes] = e;
    a->hash[h] = ++*n_nodes;
    return (int32_t)(*n_nodes - 1);
}

static void js_error(struct mend_localise_attach *a, struct mend_wbuf *w, const char *why)
{
    a->st.skipped++;
    mend_json_raw(w, ",\"localise\":{\"error\":\"");
    mend_json_raw(w, why);
    mend_json_raw(w, "\"}");
}

static void js_entity(const struct mend_localise_attach *a, struct mend_wbuf *w, uint32_t e)
{
    const struct mend_entity *ent = mend_registry_entity(a->reg, e);
    if (ent && ent->name && ent->name_len)
        mend_json_str(w, ent->name, ent->name_len);
    else
        mend_json_raw(w, "\"\"");
}

static void js_i64(struct mend_wbuf *w, const char *name, int64_t v)
{
    char b[64];
    snprintf(b, sizeof b, ",\"%s\":%" PRId64, name, v);
    mend_json_raw(w, b);
}

/* The last number written and its text: a series' score is often its shift
 * exactly (no symptom coupling to weigh it, no lead or lag), and the
 * shortest round-trip text costs a few printf/strtod tries, so the
 * repeat is copied (the same bytes mend_json_num writes). */
struct js_last {
    double v;
    size_t len; /* 0: none yet */
    char txt[MEND_JSON_NUM_MAX];
};

static void js_f64(struct mend_wbuf *w, struct js_last *last, const char *name, double v)
{
    mend_json_raw(w, ",\"");
    mend_json_raw(w, name);
    mend_json_raw(w, "\":");
    if (!(last->len && memcmp(&last->v, &v, sizeof v) == 0)) {
        last->len = mend_json_fmt_f64(v, last->txt, sizeof last->txt);
        last->v = v;
    }
    mend_wbuf_bytes(w, last->txt, last->len);
}

/* ---- reuse of identical rankings ---------------------------------------
 * An incident's later lines often rank exactly what an earlier one did: once
 * the window is full (conf.window slots from the start) its samples stop
 * changing, and a change that adds no sample in scope adds nothing to rank.
 * The member written is a function of the gathered input alone (the
 * candidates' keys, components, samples and times, the symptoms and their
 * onsets, the grid), so a hash of that input (XXH3, 128 bits) finds an
 * earlier identical ranking, whose bytes are copied instead of ranking
 * again. Nothing else is reused: a different input (one more sample, a
 * moved window, a new symptom) ranks afresh, so the line is byte for byte
 * what ranking would write, whatever the memo holds -- which keeps replays
 * identical, and a run restored from a checkpoint (an empty memo) writes
 * what an uninterrupted one does. */
static XXH128_hash_t memo_hash(const struct mend_localise_attach *a, uint32_t n, int by_entity,
                               uint64_t dropped, const struct mend_localise_input *in,
                               int64_t start)
{
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    int64_t head[8] = {by_entity, (int64_t)dropped, in->slots, in->t0, in->step, start, n,
                       in->n_symptoms};
    XXH3_128bits_update(&st, head, sizeof head);
    XXH3_128bits_update(&st, in->symptoms, in->n_symptoms * sizeof *in->symptoms);
    for (uint32_t i = 0; i < n; i++) {
        const struct mend_localise_series *ls = &in->series[i];
        const struct mend_series *s = mend_registry_at(a->reg, a->cand[i]);
        const struct mend_entity *ent = mend_registry_entity(a->reg, a->cand_ent[i]);
        int64_t meta[7] = {a->cand[i], a->cand_ent[i], ls->node, ls->onset, ls->ref_n, ls->win_n,
                           (int64_t)s->key_len};
        XXH3_128bits_update(&st, meta, sizeof meta);
        XXH3_128bits_update(&st, s->key, s->key_len);
        if (ent && ent->name && ent->name_len) {
            uint64_t el = ent->name_len;
            XXH3_128bits_update(&st, &el, sizeof el);
            XXH3_128bits_update(&st, ent->name, ent->name_len);
        }
        /* ref doubles as the lead-in (ctx = ref), so it is hashed once */
        XXH3_128bits_update(&st, ls->ref, ls->ref_n * sizeof *ls->ref);
        XXH3_128bits_update(&st, ls->ctx_t, ls->ref_n * sizeof *ls->ctx_t);
        XXH3_128bits_update(&st, ls->win, ls->win_n * sizeof *ls->win);
        XXH3_128bits_update(&st, ls->win_t, ls->win_n * sizeof *ls->win_t);
    }
    return XXH3_128bits_digest(&st);
}

static struct memo_ent *memo_slot(struct mend_localise_attach *a, XXH128_hash_t h)
{
    return &a->memo[h.low64 % ATTACH_MEMO];
}

/* Keeps the member just written for h (skipped above the cap or when out of
 * memory: the next identical input then ranks again, no harm done). */
static void memo_store(struct mend_localise_attach *a, XXH128_hash_t h, const unsigned char *p,
                       size_t len)
{
    struct memo_ent *e = memo_slot(a, h);
    if (len > ATTACH_MEMO_MAX_BYTES) {
        e->len = 0;
        return;
    }
    if (len > e->cap) {
        unsigned char *nb = realloc(e->bytes, len);
        if (!nb) {
            e->len = 0;
            return;
        }
        e->bytes = nb;
        e->cap = len;
    }
    memcpy(e->bytes, p, len);
    e->len = len;
    e->h = h;
}

void mend_localise_attach_annotate(void *ctx, const char *status, const struct mend_incident *inc,
                                   int64_t now_ns, struct mend_wbuf *w)
{
    struct mend_localise_attach *a = ctx;
    const struct mend_localise_attach_conf *c = &a->conf;
    (void)status;
    if (!c->enabled)
        return;

    /* the symptoms: the incident's score signals whose series still live */
    uint32_t sym_id[ATTACH_MAX_SYMPTOMS];
    int64_t sym_on[ATTACH_MAX_SYMPTOMS];
    uint32_t nsym = 0;
    int64_t step = 0;
    for (uint32_t i = 0; i < inc->n_signals && nsym < ATTACH_MAX_SYMPTOMS; i++) {
        const struct mend_series *s = signal_series(a, &inc->signals[i]);
        if (!s)
            continue;
        sym_id[nsym] = s->id;
        sym_on[nsym] = inc->signals[i].first_t;
        nsym++;
        if (s->interval > 0 && (step == 0 || s->interval < step))
            step = s->interval;
    }

    /* the candidates: symptoms first, then the scope by id, capped */
    uint32_t n = 0;
    uint64_t dropped = 0;
    int by_entity = c->scope == MEND_LOCALISE_SCOPE_ENTITY && inc->entity_id != 0;
    if (attach_alloc(a) != MEND_OK) {
        js_error(a, w, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < nsym && n < c->max_series; i++)
        if (!has_cand(a, n, sym_id[i]))
            a->cand[n++] = sym_id[i];
    uint32_t n_sym_cand = n;
    if (by_entity) {
        const struct mend_entity *ent = mend_registry_entity(a->reg, inc->entity_id);
        for (uint32_t m = ent ? ent->first_member : 0; m;) {
            const struct mend_series *s = mend_registry_at(a->reg, m - 1);
            if (!s)
                break;
            if (!has_cand(a, n_sym_cand, s->id)) {
                if (n < c->max_series)
                    a->cand[n++] = s->id;
                else
                    dropped++;
            }
            m = s->next_in_entity;
        }
    } else {
        for (uint32_t i = 0; i < mend_registry_count(a->reg); i++) {
            if (!mend_registry_at(a->reg, i) || has_cand(a, n_sym_cand, i))
                continue;
            if (n < c->max_series)
                a->cand[n++] = i;
            else
                dropped++;
        }
    }
    /* id order, as the columns of a recording are: the ranking breaks ties
     * by position, and offline and attached runs should break them alike */
    qsort(a->cand, n, sizeof *a->cand, u32_cmp);
    for (uint32_t i = 0; i < n && step == 0; i++) {
        const struct mend_series *s = mend_registry_at(a->reg, a->cand[i]);
        if (s->interval > 0)
            step = s->interval; /* no symptom series: the first known interval */
    }
    if (n == 0) {
        js_error(a, w, "no series in scope");
        return;
    }
    if (step <= 0) {
        js_error(a, w, "no sampling interval known yet");
        return;
    }

    /* the grid: slot 0 is centred on the incident's start */
    const int64_t start = inc->start_t;
    int64_t span = now_ns > start ? now_ns - start : 0;
    int64_t slots = span / step + 1;
    if (slots > (int64_t)c->window)
        slots = c->window;
    const uint32_t S = (uint32_t)slots;
    const int64_t t0 = start - step / 2, t_end = t0 + (int64_t)S * step;
    const size_t per = (size_t)c->reference + c->window;
    /* the reference, this window at up to two samples a slot, a few more:
     * what an ordered ring usually needs decoded (see below) */
    const size_t few = (size_t)c->reference + 2 * (size_t)S + 16;
    uint32_t n_nodes = 0, ref_max = 0;
    uint64_t samples = 0;
    memset(a->hash, 0, ((size_t)a->hash_mask + 1) * sizeof *a->hash);
    uint32_t sym_idx[ATTACH_MAX_SYMPTOMS], n_si = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct mend_series *s = mend_registry_at(a->reg, a->cand[i]);
        /* A ring whose times never step back needs only its newest values
         * decoded: once `reference` of them lie before t0, every older one
         * does too (so it would be skipped below, and is not in the window),
         * and the split is the same as over the whole ring. Else, or when
         * that many do not, the whole ring. */
        size_t want = a->ring_cap;
        if (few < want && mend_series_ring_ordered(s))
            want = few;
        size_t got = mend_series_recent(s, a->fv, a->tv, want);
        /* ring times may step back (late samples): split on time, not index */
        double *rv = a->vals + (size_t)i * per, *wv = rv + c->reference;
        int64_t *rt = a->times + (size_t)i * per, *wt = rt + c->reference;
        uint32_t rn = 0, wn = 0, before = 0;
        for (size_t k = 0; k < got; k++)
            before += a->tv[k] < t0;
        if (got == want && want < a->ring_cap && before < c->reference) {
            got = mend_series_recent(s, a->fv, a->tv, a->ring_cap);
            before = 0;
            for (size_t k = 0; k < got; k++)
                before += a->tv[k] < t0;
        }
        uint32_t skip = before > c->reference ? before - c->reference : 0, seen = 0;
        for (size_t k = 0; k < got; k++) {
            if (a->tv[k] < t0) {
                if (seen++ >= skip) {
                    rv[rn] = a->fv[k];
                    rt[rn++] = a->tv[k];
                }
            } else if (a->tv[k] < t_end && wn < c->window) {
                wv[wn] = a->fv[k];
                wt[wn++] = a->tv[k];
            }
        }
        if (rn > ref_max)
            ref_max = rn;
        samples += wn;
        struct mend_localise_series *ls = &a->ser[i];
        ls->ref = rv;
        ls->ref_n = rn;
        ls->ctx = rv;
        ls->ctx_t = rt;
        ls->ctx_n = rn;
        ls->win = wv;
        ls->win_t = wt;
        ls->win_n = wn;
        a->cand_ent[i] = s->entity;
        ls->node = node_of(a, s->entity, &n_nodes);
        ls->onset = MEND_LOCALISE_NO_ONSET;
        for (uint32_t k = 0; k < nsym; k++)
            if (sym_id[k] == s->id) {
                ls->onset = sym_on[k];
                sym_idx[n_si++] = i;
            }
    }
    if (samples == 0) {
        /* an absence tick, or the round has not arrived: nothing to rank */
        js_error(a, w, "no samples in the incident window yet");
        return;
    }
    struct mend_localise_topo topo = {n_nodes, NULL};
    struct mend_localise_input in = {
        .series = a->ser, .n_series = n, .symptoms = sym_idx, .n_symptoms = n_si,
        .topo = &topo, .slots = S, .t0 = t0, .step = step,
    };
    XXH128_hash_t h = {0, 0};
    if (c->reuse) {
        h = memo_hash(a, n, by_entity, dropped, &in, start);
        const struct memo_ent *me = memo_slot(a, h);
        if (me->len && XXH128_isEqual(me->h, h)) {
            mend_wbuf_bytes(w, me->bytes, me->len);
            a->st.runs++;
            a->st.reused++;
            a->st.dropped += dropped;
            return;
        }
    }
    struct mend_localise_result res;
    if (mend_localise_run(a->loc, &in, &res) != MEND_OK) {
        js_error(a, w, "ranking refused its input");
        return;
    }
    a->st.runs++;
    a->st.dropped += dropped;

    /* the member goes to frag first, to be remembered, then to the line */
    struct mend_wbuf *const line = w;
    w = &a->frag;
    w->len = 0;
    char b[64];
    struct js_last last = {0, 0, {0}};
    mend_json_raw(w, ",\"localise\":{\"scope\":\"");
    mend_json_raw(w, by_entity ? "entity" : "all");
    mend_json_raw(w, "\",\"window\":{\"start\":\"");
    mend_json_raw(w, mend_time_format(start, b, sizeof b));
    mend_json_raw(w, "\"");
    js_i64(w, "start_ns", start);
    js_i64(w, "end_ns", start + (int64_t)(S - 1) * step);
    js_i64(w, "step_ns", step);
    js_i64(w, "slots", S);
    js_i64(w, "reference", ref_max);
    js_i64(w, "samples", (int64_t)samples);
    mend_json_raw(w, "}");
    js_i64(w, "candidates", n);
    js_i64(w, "candidates_dropped", (int64_t)dropped);
    mend_json_raw(w, ",\"series\":[");
    for (uint32_t k = 0; k < res.n_items && k < c->top; k++) {
        const struct mend_localise_item *it = &res.items[k];
        const struct mend_series *s = mend_registry_at(a->reg, a->cand[it->series]);
        mend_json_raw(w, k ? ",{\"key\":" : "{\"key\":");
        mend_json_str(w, s->key, s->key_len);
        mend_json_raw(w, ",\"component\":");
        js_entity(a, w, a->cand_ent[it->series]);
        js_f64(w, &last, "score", it->score);
        js_f64(w, &last, "shift", it->shift);
        js_f64(w, &last, "z", it->z);
        js_f64(w, &last, "mi", it->mi);
        js_i64(w, "lag", it->lag);
        if (it->onset >= 0) {
            int64_t on = a->ser[it->series].onset != MEND_LOCALISE_NO_ONSET
                             ? a->ser[it->series].onset
                             : start + (int64_t)it->onset * step;
            mend_json_raw(w, ",\"onset\":\"");
            mend_json_raw(w, mend_time_format(on, b, sizeof b));
            mend_json_raw(w, "\"");
            js_i64(w, "onset_ns", on);
        } else {
            mend_json_raw(w, ",\"onset\":null,\"onset_ns\":null");
        }
        mend_json_raw(w, "}");
    }
    mend_json_raw(w, "],\"components\":[");
    for (uint32_t k = 0; k < res.n_comps && k < c->top_components; k++) {
        const struct mend_localise_comp *cp = &res.comps[k];
        const struct mend_series *s = mend_registry_at(a->reg, a->cand[cp->best_series]);
        mend_json_raw(w, k ? ",{\"component\":" : "{\"component\":");
        js_entity(a, w, a->node_ent[cp->node]);
        js_f64(w, &last, "score", cp->score);
        mend_json_raw(w, ",\"series\":");
        mend_json_str(w, s->key, s->key_len);
        mend_json_raw(w, "}");
    }
    mend_json_raw(w, "]}");
    if (w->failed) { /* out of memory for the scratch: say so, remember nothing */
        w->failed = 0;
        js_error(a, line, "out of memory");
        return;
    }
    if (c->reuse)
        memo_store(a, h, w->data, w->len);
    mend_wbuf_bytes(line, w->data, w->len);
}

/* ---- the `localise:` config section ------------------------------------ */

#define OFF(f) offsetof(struct mend_localise_attach_conf, f)

static const struct mend_conf_name scopes[] = {
    {"entity", MEND_LOCALISE_SCOPE_ENTITY}, {"all", MEND_LOCALISE_SCOPE_ALL}, {NULL, 0}};

static const struct mend_conf_entry entries[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = OFF(enabled), .def = "true",
     .help = "rank suspect series and components in every incident open/update line"},
    {.key = "scope", .type = MEND_CT_ENUM, .off = OFF(scope), .size = 4, .names = scopes,
     .def = "entity",
     .help = "candidates: the incident's entity (entity) or every series (all)"},
    {.key = "window", .type = MEND_CT_U32, .off = OFF(window), .min = 1, .max = 65536, .def = "64",
     .help = "incident-window slots at most (slot = the symptoms' sampling interval)"},
    {.key = "reference", .type = MEND_CT_U32, .off = OFF(reference), .min = 2, .max = 65536,
     .def = "256", .help = "reference samples per series (from its ring, before the window)"},
    {.key = "max_series", .type = MEND_CT_U32, .off = OFF(max_series), .min = 1, .max = 1e6,
     .def = "100", .help = "candidate series per ranking (symptoms first; more are counted)"},
    {.key = "top", .type = MEND_CT_U32, .off = OFF(top), .min = 0, .max = 1e6, .def = "5",
     .help = "ranked series written per incident line"},
    {.key = "top_components", .type = MEND_CT_U32, .off = OFF(top_components), .min = 0,
     .max = 1e6, .def = "3", .help = "ranked components (entities) written per incident line"},
    {.key = "reuse", .type = MEND_CT_BOOL, .off = OFF(reuse), .def = "true",
     .help = "copy the ranking of an identical earlier input (the same samples, window and "
             "symptoms) instead of ranking again: the same bytes, less work"},
};

const struct mend_conf_map mend_localise_conf_map = {
    .name = "localise", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_localise_attach_conf),
};
