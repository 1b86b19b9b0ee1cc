/* engine_rate.c -- counters become per-second rates before detection (see
 * struct mend_rate_conf in engine.h for what counts as a counter).
 *
 * Why here and not in the parsers: the rate needs the previous raw value
 * and time of the same series, which only the engine has (per series id,
 * in e->rate_ix and e->rate_pool), and which must survive a checkpoint (the
 * RATE section, engine_rate_save/load). The parsers only say what a source
 * declared (mend_point.kind); the line-protocol patterns are matched here,
 * once per series at its first sample, so the hot path pays one array
 * lookup and a compare per sample.
 *
 * A reset (a fall) is a restart of whatever exports the counter: the sample
 * gives no rate, is counted, and the counter goes on from the new value, so
 * neither the fall nor the first rate after it is an anomaly. */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "mend/confmap.h"

/* Telegraf's cumulative fields (inputs.net, diskio, nstat, kernel, swap,
 * cpu with collect_cpu_time, procstat, nginx). Exclusions (`!`) come first:
 * the first pattern that matches decides. nstat's few gauges are excluded
 * by name. */
const char mend_rate_default_patterns[] =
    "net bytes_sent,net bytes_recv,net packets_sent,net packets_recv,net err_in,net err_out,net drop_in,net drop_out,"
    "diskio reads,diskio writes,diskio read_bytes,diskio write_bytes,diskio read_time,"
    "diskio write_time,diskio io_time,diskio weighted_io_time,diskio merged_*,"
    "!nstat TcpCurrEstab,!nstat TcpMaxConn,!nstat TcpRto*,!nstat IpForwarding,!nstat IpDefaultTTL,"
    "!nstat Ip6*Forwarding,nstat *,"
    "kernel context_switches,kernel interrupts,kernel processes_forked,kernel disk_pages_*,"
    "swap in,swap out,cpu time_*,procstat cpu_time*,nginx accepts,nginx handled,nginx requests";

#define OFF(f) offsetof(struct mend_engine_conf, f)

static const struct mend_conf_entry rate_entries[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = OFF(rates.enabled), .def = "true",
     .help = "score cumulative counters as per-second rates; a fall is a reset (counted), not an anomaly"},
    {.key = "patterns", .type = MEND_CT_STR, .off = OFF(rates.patterns), .size = MEND_RATE_PATTERNS_MAX,
     .def = mend_rate_default_patterns, .seq_joins = 1,
     .help = "line-protocol counters: a list of \"MEASUREMENT FIELD\" globs (* = any run; \"NAME\" alone "
             "for keys without a field; !PATTERN excludes; the first match decides); Prometheus "
             "samples carry their TYPE"},
    {.key = "detect_monotonic", .type = MEND_CT_BOOL, .off = OFF(rates.detect_monotonic), .def = "false",
     .help = "treat a series whose first counters.monotonic_after samples never fell as a counter"},
    {.key = "monotonic_after", .type = MEND_CT_U32, .off = OFF(rates.monotonic_after), .min = 3,
     .max = 100000, .def = "30", .help = "samples watched before a series is called monotonic"},
};

const struct mend_conf_map mend_engine_rate_conf_map = {
    .name = "counters", .entries = rate_entries, .n = sizeof rate_entries / sizeof rate_entries[0],
    .struct_size = sizeof(struct mend_engine_conf),
};

/* ---- patterns ----------------------------------------------------------------- */

static int glob(const char *p, size_t pl, const char *s, size_t sl)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < sl) {
        if (pi < pl && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pl && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pl && p[pi] == '*')
        pi++;
    return pi == pl;
}

int engine_rate_init(struct mend_engine *e)
{
    const char *c = e->conf.rates.patterns;
    if (!memchr(c, '\0', sizeof e->conf.rates.patterns))
        return MEND_EINVAL;
    e->n_pat = 0;
    memset(e->pat_by_first, 0, sizeof e->pat_by_first);
    e->pat_star = 0;
    while (*c) {
        while (*c == ',' || *c == ' ')
            c++;
        if (!*c)
            break;
        const char *b = c;
        while (*c && *c != ',')
            c++;
        const char *end = c;
        while (end > b && end[-1] == ' ')
            end--;
        if (e->n_pat >= RATE_MAX_PATTERNS)
            return MEND_EINVAL;
        struct rate_pattern *rp = &e->pat[e->n_pat++];
        memset(rp, 0, sizeof *rp);
        rp->m = b;
        const char *sp = memchr(b, ' ', (size_t)(end - b));
        rp->ml = (size_t)((sp ? sp : end) - b);
        if (sp) {
            rp->has_field = 1;
            rp->f = sp + 1;
            while (rp->f < end && *rp->f == ' ')
                rp->f++;
            rp->fl = (size_t)(end - rp->f);
            if (!rp->fl || memchr(rp->f, ' ', rp->fl))
                return MEND_EINVAL; /* "a b c": one space only */
        }
        if (rp->ml == 0 || (rp->m[0] == '!' && rp->ml == 1))
            return MEND_EINVAL;
        rp->m_lit = !memchr(rp->m, '*', rp->ml);
        rp->f_lit = !rp->has_field || !memchr(rp->f, '*', rp->fl);
        uint64_t bit = (uint64_t)1 << (e->n_pat - 1);
        unsigned char first = (unsigned char)rp->m[rp->m[0] == '!'];
        if (first == '*') {
            e->pat_star |= bit;
            for (size_t ch = 0; ch < 256; ch++)
                e->pat_by_first[ch] |= bit;
        } else {
            e->pat_by_first[first] |= bit;
        }
    }
    return MEND_OK;
}

/* Measurement (or metric name) and field of a canonical key (ingest.h):
 * the name ends at the first unescaped ',' or ' ', the field follows the
 * first unescaped ' ' (line protocol only). */
static int key_matches(const struct mend_engine *e, const char *k, size_t kl)
{
    size_t i = 0, name_end = SIZE_MAX, field = SIZE_MAX;
    for (; i < kl; i++) {
        if (k[i] == '\\') {
            i++;
            continue;
        }
        if ((k[i] == ',' || k[i] == ' ') && name_end == SIZE_MAX)
            name_end = i;
        if (k[i] == ' ') {
            field = i + 1;
            break;
        }
    }
    if (name_end == SIZE_MAX)
        name_end = kl;
    /* only the patterns whose first byte can match, in their order (each
     * new series runs this against the whole list otherwise) */
    uint64_t cand = name_end ? e->pat_by_first[(unsigned char)k[0]] : e->pat_star;
    for (; cand; cand &= cand - 1) {
        uint32_t j = (uint32_t)__builtin_ctzll(cand);
        const struct rate_pattern *rp = &e->pat[j];
        int neg = rp->m[0] == '!';
        const char *m = rp->m + neg;
        size_t ml = rp->ml - (size_t)neg;
        if (rp->has_field != (field != SIZE_MAX))
            continue;
        /* a pattern without '*' matches only its own length: most of the
         * list is rejected on the length (each new series runs it) */
        if (rp->m_lit ? ml != name_end || memcmp(m, k, ml) : !glob(m, ml, k, name_end))
            continue;
        if (rp->has_field && (rp->f_lit ? rp->fl != kl - field || memcmp(rp->f, k + field, rp->fl)
                                        : !glob(rp->f, rp->fl, k + field, kl - field)))
            continue;
        return !neg;
    }
    return 0;
}

/* ---- per series ---------------------------------------------------------------- */

static int rate_reserve(struct mend_engine *e, uint32_t id)
{
    if (id < e->rate_cap)
        return MEND_OK;
    size_t cap = e->rate_cap ? e->rate_cap : 1024;
    while (cap <= id)
        cap *= 2;
    uint32_t *ix = realloc(e->rate_ix, cap * sizeof *ix);
    if (!ix)
        return MEND_ENOMEM;
    memset(ix + e->rate_cap, 0, (cap - e->rate_cap) * sizeof *ix); /* RATE_IX_UNDECIDED */
    e->rate_ix = ix;
    e->ent_bytes += (cap - e->rate_cap) * sizeof *ix;
    e->rate_cap = cap;
    return MEND_OK;
}

/* The state of series id (reserved), NULL for an undecided series or a
 * gauge. Valid until the next rate_state_new. */
static struct rate_series *rate_state(struct mend_engine *e, uint32_t id)
{
    uint32_t ix = e->rate_ix[id];
    return ix >= 2 ? &e->rate_pool[ix - 2] : NULL;
}

static uint8_t rate_mode(struct mend_engine *e, uint32_t id)
{
    uint32_t ix = id < e->rate_cap ? e->rate_ix[id] : RATE_IX_UNDECIDED;
    return ix == RATE_IX_UNDECIDED ? RATE_UNDECIDED : ix == RATE_IX_GAUGE ? RATE_GAUGE : e->rate_pool[ix - 2].mode;
}

/* Gives series id (reserved, without a state) a zeroed state of mode m:
 * a freed entry, or a new one (the pool grows by doubling; it never holds
 * more entries than there are series ids). MEND_OK or MEND_ENOMEM. */
static int rate_state_new(struct mend_engine *e, uint32_t id, uint8_t mode)
{
    uint32_t k;
    if (e->rate_free) {
        k = e->rate_free - 1;
        e->rate_free = e->rate_pool[k].next_free;
    } else {
        if (e->rate_pool_n == e->rate_pool_cap) {
            uint32_t cap = e->rate_pool_cap ? e->rate_pool_cap * 2 : 64;
            struct rate_series *p = realloc(e->rate_pool, (size_t)cap * sizeof *p);
            if (!p)
                return MEND_ENOMEM;
            e->rate_pool = p;
            e->ent_bytes += (size_t)(cap - e->rate_pool_cap) * sizeof *p;
            e->rate_pool_cap = cap;
        }
        k = e->rate_pool_n++;
    }
    memset(&e->rate_pool[k], 0, sizeof e->rate_pool[k]);
    e->rate_pool[k].mode = mode;
    e->rate_ix[id] = k + 2;
    return MEND_OK;
}

/* Series id becomes undecided (or, with ix RATE_IX_GAUGE, a gauge); its
 * state, if any, goes back to the pool. */
static void rate_state_drop(struct mend_engine *e, uint32_t id, uint32_t ix)
{
    struct rate_series *rs = rate_state(e, id);
    if (rs) {
        if (rs->mode == RATE_COUNTER && e->st.counters)
            e->st.counters--;
        rs->mode = RATE_UNDECIDED;
        rs->next_free = e->rate_free;
        e->rate_free = e->rate_ix[id] - 1;
    }
    e->rate_ix[id] = ix;
}

void engine_rate_forget(struct mend_engine *e, uint32_t id)
{
    if (id >= e->rate_cap)
        return;
    rate_state_drop(e, id, RATE_IX_UNDECIDED);
}

/* The series' scorer learnt raw values: it starts again on rates. */
static void restart_scorer(struct mend_engine *e, struct mend_series *s)
{
    if (!(s->flags & SERIES_READY))
        return;
    mend_scorer_fini(mend_series_blob(s), &e->conf.scorer);
    if (mend_scorer_init(mend_series_blob(s), &e->conf.scorer) != MEND_OK) {
        s->flags &= (uint8_t)~SERIES_READY; /* started again at its next sample */
        e->st.init_failed++;
    }
}

/* Series id becomes a counter with no base yet: its state (a new one, or
 * the probe's) in *rs. MEND_OK or MEND_ENOMEM. */
static int become_counter(struct mend_engine *e, uint32_t id, struct rate_series **rs)
{
    if (!rate_state(e, id) && rate_state_new(e, id, RATE_COUNTER) != MEND_OK)
        return MEND_ENOMEM;
    *rs = rate_state(e, id);
    (*rs)->mode = RATE_COUNTER;
    (*rs)->last_t = NO_TIME;
    e->st.counters++;
    return MEND_OK;
}

int engine_rate_apply(struct mend_engine *e, struct mend_series *s, int created, const struct mend_point *p,
                      int64_t t, double *v)
{
    *v = p->value;
    if (!e->conf.rates.enabled)
        return 1;
    if (rate_reserve(e, s->id) != MEND_OK)
        return MEND_ENOMEM;
    if (created)
        engine_rate_forget(e, s->id);
    uint8_t mode = rate_mode(e, s->id);
    struct rate_series *rs = rate_state(e, s->id);
    if (mode == RATE_UNDECIDED) {
        if (p->kind == MEND_POINT_COUNTER || key_matches(e, s->key, s->key_len)) {
            if (become_counter(e, s->id, &rs) != MEND_OK)
                return MEND_ENOMEM;
        } else if (e->conf.rates.detect_monotonic) {
            if (rate_state_new(e, s->id, RATE_PROBE) != MEND_OK)
                return MEND_ENOMEM;
            rs = rate_state(e, s->id);
            rs->last_t = NO_TIME;
        } else {
            e->rate_ix[s->id] = RATE_IX_GAUGE;
        }
    } else if (p->kind == MEND_POINT_COUNTER && mode != RATE_COUNTER) {
        if (become_counter(e, s->id, &rs) != MEND_OK) /* the source says so now: believe it */
            return MEND_ENOMEM;
        restart_scorer(e, s);
    }
    mode = rate_mode(e, s->id);
    switch (mode) {
    case RATE_PROBE:
        if (rs->last_t != NO_TIME) {
            if (p->value < rs->last_v) {
                rate_state_drop(e, s->id, RATE_IX_GAUGE); /* it fell: a level, for good */
                return 1;
            }
            rs->probe_up += p->value > rs->last_v;
        }
        rs->probe_n++;
        rs->last_v = p->value;
        rs->last_t = t;
        if (rs->probe_n >= e->conf.rates.monotonic_after && 2u * rs->probe_up >= rs->probe_n - 1u &&
            rs->probe_up > 0) {
            if (become_counter(e, s->id, &rs) != MEND_OK)
                return MEND_ENOMEM;
            rs->last_v = p->value;
            rs->last_t = t;
            e->st.monotonic_found++;
            restart_scorer(e, s);
            return 0;
        }
        return 1;
    case RATE_COUNTER:
        if (rs->last_t == NO_TIME) {
            e->st.rate_first++;
            break;
        }
        if (t <= rs->last_t) {
            e->st.rate_same_time++;
            return 0; /* no time passed: no rate; the older sample stays the base */
        }
        if (p->value < rs->last_v) {
            e->st.rate_resets++;
            break;
        }
        *v = (p->value - rs->last_v) / ((double)engine_sat_sub(t, rs->last_t) / 1e9);
        rs->last_v = p->value;
        rs->last_t = t;
        return 1;
    default:
        /* a gauge for good: the engine skips this call from now on (the
         * flag is cleared with the record when its id is reused) */
        s->flags |= SERIES_GAUGE;
        return 1;
    }
    rs->last_v = p->value;
    rs->last_t = t;
    return 0;
}

/* ---- RATE section ---------------------------------------------------------------- */

int engine_rate_save(const struct mend_engine *e, struct mend_wbuf *w)
{
    uint32_t n = mend_registry_count(e->reg);
    mend_wbuf_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ix = i < e->rate_cap ? e->rate_ix[i] : RATE_IX_UNDECIDED;
        const struct rate_series *rs = ix >= 2 ? &e->rate_pool[ix - 2] : NULL;
        uint8_t mode = rs ? rs->mode : ix == RATE_IX_GAUGE ? RATE_GAUGE : RATE_UNDECIDED;
        mend_wbuf_u8(w, mode);
        if (mode == RATE_COUNTER || mode == RATE_PROBE) {
            mend_wbuf_f64(w, rs->last_v);
            mend_wbuf_i64(w, rs->last_t);
            mend_wbuf_u32(w, rs->probe_n);
            mend_wbuf_u32(w, rs->probe_up);
        }
    }
    /* the kinds of the clock guard's held samples (ENGN keeps the rest) */
    mend_wbuf_u32(w, e->n_held);
    for (uint32_t i = 0; i < e->n_held; i++)
        mend_wbuf_u8(w, (uint8_t)e->held[i].kind);
    mend_wbuf_u64(w, e->st.rate_first);
    mend_wbuf_u64(w, e->st.rate_resets);
    mend_wbuf_u64(w, e->st.rate_same_time);
    mend_wbuf_u64(w, e->st.monotonic_found);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

int engine_rate_load(struct mend_engine *e, struct mend_rbuf *r)
{
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n != mend_registry_count(e->reg))
        return MEND_ECORRUPT;
    if (n && rate_reserve(e, n - 1) != MEND_OK)
        return MEND_ENOMEM;
    e->st.counters = 0;
    for (uint32_t i = 0; i < n; i++) {
        rate_state_drop(e, i, RATE_IX_UNDECIDED); /* a fresh engine: nothing to drop */
        uint8_t mode = mend_rbuf_u8(r);
        if (r->failed || mode > RATE_PROBE || (mode != RATE_UNDECIDED && !mend_registry_at(e->reg, i)))
            return MEND_ECORRUPT;
        if (mode == RATE_GAUGE)
            e->rate_ix[i] = RATE_IX_GAUGE;
        if (mode == RATE_COUNTER || mode == RATE_PROBE) {
            if (rate_state_new(e, i, mode) != MEND_OK)
                return MEND_ENOMEM;
            struct rate_series *rs = rate_state(e, i);
            rs->last_v = mend_rbuf_f64(r);
            rs->last_t = mend_rbuf_i64(r);
            rs->probe_n = mend_rbuf_u32(r);
            rs->probe_up = mend_rbuf_u32(r);
        }
        e->st.counters += mode == RATE_COUNTER;
    }
    uint32_t nh = mend_rbuf_u32(r);
    if (r->failed || nh != e->n_held)
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < nh; i++) {
        uint8_t k = mend_rbuf_u8(r);
        if (r->failed || k > MEND_POINT_COUNTER)
            return MEND_ECORRUPT;
        e->held[i].kind = k;
    }
    e->st.rate_first = mend_rbuf_u64(r);
    e->st.rate_resets = mend_rbuf_u64(r);
    e->st.rate_same_time = mend_rbuf_u64(r);
    e->st.monotonic_found = mend_rbuf_u64(r);
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}
