/* localise.c -- ranks the series and components that most likely caused an
 * incident, from a normal reference window, a lead-in and the incident
 * window of each series, the symptom series and an optional call graph.
 *
 * The formula (all terms in nats):
 *
 *   score(i) = shift(i) * coupling(i) + order(i)
 *
 *   shift(i) = level(i) + min(ln(1 + z_step), ln(n + 1)) + swing(i)
 *   level(i) = max(min(ln(1 + z_level), ln(n + 1)), tail_S(excursion))
 *     z_level = max over the window of |x - mean_ref| / sd_ref: how far the
 *               values left their normal range (the N-sigma statistic);
 *     z_step  = max over the window (and its entry from the lead-in) of
 *               |x_t - x_t-1| / sd(x_t - x_t-1)_ref: how abrupt the change is
 *               against the series' own step-to-step noise;
 *     n       = the number of reference samples.
 *     A series that wanders widely but smoothly (daily load) has a large sd
 *     and a small step sd; a spiky one has the opposite. Either z alone ranks
 *     one kind too high; they are separate pieces of evidence, and under a
 *     heavy-tailed null -ln P(|Z| > z) grows like ln z, so their logarithms
 *     add. Each is capped at ln(n + 1): n reference samples cannot vouch for
 *     a tail rarer than 1/(n + 1), so a metric that was constant in the
 *     reference (sd ~ 0) does not get unbounded evidence from any change.
 *     And for such a metric the terms are one event (its first departure is
 *     a level change, a step and a swing at once; it has no scale to tell
 *     them apart), so it counts once: shift = max(level, step term, swing).
 *   tail_S(T) = -ln((1 + k) / (1 + B)): the empirical tail of a window
 *     statistic T among the reference's own stretches of the same S
 *     values: the reference cut into B = floor(n / S) consecutive blocks
 *     (ending with its newest value), k of which reach at least the
 *     incident window's T; at most ln(1 + B). Disjoint blocks, not every
 *     overlapping window: those would add no independent evidence (N
 *     windows overlapping by S - 1 hold about N / S independent ones) and
 *     cost a sliding pass. The z terms judge single values against one spread
 *     for the whole reference, and cannot tell a series whose normal life
 *     is quiet with rare spikes (a large sd from a few points; spikes in
 *     every stretch) from one that wanders slowly (a large sd from the
 *     wander; little movement within S moments), nor see that a bounded
 *     series (a utilisation in [0, 1]) has gone where none of its normal
 *     stretches went although z is only 2.5. Stretches of the reference as
 *     long as the window calibrate each series against its own spikiness
 *     and bounds: a spiky series earns little for one more spike, a smooth
 *     one that starts to swing or leaves its range earns up to ln(1 + B).
 *     Windows shorter than 20 slots (TAIL_MIN_SLOTS) get no tail terms:
 *     a few values have no course of their own (their range is the entry
 *     jump or a step or two, their farthest value the level the z already
 *     judges), as the MI asks for 20 pairs.
 *   excursion = max over the window of |x - mean_ref|, so level(i) holds
 *     two tests of one hypothesis (the values left their normal range):
 *     the parametric z and the empirical tail. Each is valid; the evidence
 *     is the stronger (the Bonferroni price, ln 2, is the same for every
 *     series, so the ranking does not pay it): the z speaks where the
 *     reference is short or the value lies beyond every stretch of it, the
 *     tail where the series' own windows show what is routine.
 *   swing(i) = tail_S(max - min of the window): how widely the series moves
 *     within the incident, a third piece of evidence beside level and step
 *     (a series can swing widely with neither an extreme value nor one
 *     large step), so its evidence adds.
 *   coupling(i) = 1 without symptoms. With symptoms: 1 - exp(-2 I), Linfoot's
 *     informational coefficient of correlation squared (rho^2 for Gaussians,
 *     in [0, 1) for anything), of I = the largest MI(x(t); s(t + l)) over the
 *     symptoms s and the lags 0 <= l <= L at which i leads or is level with
 *     s. A shift that shares nothing with the symptom is no evidence that it
 *     caused it, and information that only appears with i trailing the
 *     symptom makes i an effect, not a cause. MI is taken over the lead-in
 *     (the last max(window, 20) moments before the window: normal behaviour)
 *     and the window, on ranks, so the incident's rows stand out against
 *     normal ones whatever the scale. Estimator: KSG (k = 3, ranks with ties
 *     broken by a tiny deterministic jitter) when the span has at most 128
 *     slots, where bins would be too coarse and KSG is cheap (mi.c); the binned
 *     Miller-Madow estimator beyond. Fewer than 20 complete pairs (five per
 *     cell of the smallest 2 x 2 table) give I = 0; a symptom is not coupled
 *     with itself; and when no symptom has 20 usable slots, no series
 *     shares any information with a symptom (every I is 0), or the window
 *     has no more slots than the lags L (too few of the incident's own
 *     moments to show co-movement or lead: an incident's first line), the
 *     coupling is 1 for all (no evidence either way, rank by shift).
 *   order(i) = +ln 2 when i leads the symptom (the best lag over -L..L is
 *     positive, or 0 with an onset before the symptom's), -ln 2 when it
 *     trails, else 0: causes precede effects, taken as 2:1 prior odds.
 *
 * Components (topology nodes): own(c) = ln((1/k) sum over c's k series of
 * exp(score)), the log of the average likelihood ratio of its series. If c
 * is faulty, some one of its series shows it, each equally likely a priori:
 * averaging over which one is Bayesian model averaging, and the average
 * is the Bayes factor for "c is faulty". Its series (p50, p90, p99 and mean
 * of one latency) are largely the same evidence, so they are averaged, not
 * added: a component with many series does not win by their number, and
 * one strong series is diluted by at most ln k. median = the median series
 * score, e(c) = own(c) - median; anom(a) = max(0, best shift of a's series
 * - median shift), how anomalous a
 * is at all (the symptom's own node included). A fault in c shows in what
 * depends on c (calls it, directly or not), so
 *
 *   score(c) = own(c) + max over dependants a of c of min(e(c), anom(a))
 *
 * credits c for explaining an anomalous dependant, capped by its own excess
 * (a node cannot account for more surprise than it shows, and the credit at
 * most doubles its excess, so a weak node deep in the graph does not win by
 * the number of nodes above it). This prefers the upstream end of an
 * anomalous chain -- in the causal sense: the callee -- over the callers that
 * merely inherit its fault, with no weight to tune.
 *
 * The N-sigma reference method scores a series by z_level alone and a
 * component by its best series.
 *
 * Work is bounded: O(ref + window * (1 + symptoms * (2L+1))) per series
 * (on short spans O(128 * v * symptoms * (2L+1)), v the neighbours KSG
 * visits per point: about sqrt(k * 128) ~ 20 for unrelated series, 128 at
 * worst), plus O(anomalous nodes *
 * nodes^2) for the graph; every buffer is sized at mend_localise_new() from
 * the caps, and a run allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "localise_internal.h"
#include "mend/localise.h"

#define LEVEL_ONSET_Z 3.0 /* a window sample counts as anomalous past 3 sigma */
/* Binned MI needs about five pairs per cell of the smallest (2 x 2) table,
 * the rule that also sets the bin count (mi_auto_bins): the lead-in is made
 * long enough for that even when the window is short. */
#define MI_MIN_PAIRS 20u
#define KSG_K 3u /* neighbours: Kraskov et al.'s recommended 2-4 */
/* The tail terms need windows long enough to have a course of their own
 * (see the top): 20 slots, the count the MI asks for (MI_MIN_PAIRS), for
 * the same reason: below it a handful of points cannot show a
 * distribution. */
#define TAIL_MIN_SLOTS MI_MIN_PAIRS

/* Lead-in slots before a window of S: at least S, and at least enough for
 * the MI to be estimable when the window itself is short. */
static uint32_t lead_slots(uint32_t S)
{
    return S > MI_MIN_PAIRS ? S : MI_MIN_PAIRS;
}

/* ---- per-series statistics ------------------------------------------- */

struct ref_stats {
    double mean, sd, step_sd;
    double lo, hi;         /* smallest and largest value (0, 0 without values) */
    uint32_t n;
    int constant;          /* the reference never moved: sd is the floor */
};

/* Statistics of references met recently, with a copy of each reference:
 * the same reference comes back on every line of an incident (it is the
 * samples before the incident's start) and twice a run for a symptom. A
 * hit is an exact comparison of the values, so it gives the very bits a
 * fresh pass gives. Direct-mapped; longer references are not kept. */
#define REF_MEMO 64u
#define REF_MEMO_MAX 512u
struct ref_memo {
    uint32_t n;            /* 0: empty */
    struct ref_stats r;
};

struct mend_localise {
    struct mend_localise_conf conf;
    uint32_t span_cap;                   /* max_window + lead_slots(max_window) */
    struct mend_localise_item *items;    /* max_series */
    double *scores;                      /* max_series, scratch for the median */
    struct mend_localise_comp *comps;    /* max_nodes */
    double *own, *excess, *anom;         /* max_nodes */
    uint32_t *queue;                     /* max_nodes */
    uint8_t *seen;                       /* max_nodes */
    double *span, *rank;                 /* span_cap */
    double *sym_rank;                    /* max_symptoms * span_cap */
    uint16_t *sym_bin, *bin;             /* cell offsets: symptoms' columns, this series' rows */
    int32_t *sym_onset;                  /* max_symptoms */
    double *sym_h;                       /* max_symptoms: MI(s; s) = H(s) */
    uint64_t *ka, *kb;                   /* span_cap each: radix-sort scratch */
    uint32_t *ord, *ord_tmp;             /* MI_KSG_SMALL each: this series' order for KSG */
    uint32_t *sym_ord;                   /* max_symptoms * MI_KSG_SMALL: the symptoms' */
    uint32_t *sym_nord;                  /* max_symptoms: their lengths */
    double *psi;                         /* MI_KSG_SMALL + 2: digammas for KSG */
    double *clnc;                        /* span_cap + 1: c ln c */
    gsl_histogram2d *hist[MI_MAX_BINS + 1]; /* by bin count */
    struct ref_memo *rmemo;              /* REF_MEMO: see ref_stats_memo */
    double *rmemo_x;                     /* REF_MEMO * REF_MEMO_MAX: their references */
};

void mend_localise_conf_defaults(struct mend_localise_conf *c)
{
    c->max_series = 100000;
    c->max_window = 4096;
    c->max_ref = 65536;
    c->max_nodes = 4096;
    c->max_lag = 3;
    c->max_symptoms = 16;
    c->method = MEND_LOCALISE_RANK;
}

void mend_localise_free(struct mend_localise *l)
{
    if (!l)
        return;
    for (unsigned b = 0; b <= MI_MAX_BINS; b++)
        if (l->hist[b])
            gsl_histogram2d_free(l->hist[b]);
    free(l->items);
    free(l->scores);
    free(l->comps);
    free(l->own);
    free(l->excess);
    free(l->anom);
    free(l->queue);
    free(l->seen);
    free(l->span);
    free(l->rank);
    free(l->sym_rank);
    free(l->sym_bin);
    free(l->bin);
    free(l->sym_onset);
    free(l->sym_h);
    free(l->ka);
    free(l->kb);
    free(l->clnc);
    free(l->ord);
    free(l->ord_tmp);
    free(l->sym_ord);
    free(l->sym_nord);
    free(l->psi);
    free(l->rmemo);
    free(l->rmemo_x);
    free(l);
}

struct mend_localise *mend_localise_new(const struct mend_localise_conf *conf)
{
    struct mend_localise_conf c;
    if (conf)
        c = *conf;
    else
        mend_localise_conf_defaults(&c);
    if (c.max_series == 0 || c.max_series > 10000000 || c.max_window == 0 ||
        c.max_window > (1u << 20) || c.max_ref > (1u << 30) || c.max_nodes > 65536 ||
        c.max_lag > 64 || c.max_symptoms > 1024 ||
        (c.method != MEND_LOCALISE_RANK && c.method != MEND_LOCALISE_NSIGMA))
        return NULL;
    struct mend_localise *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->conf = c;
    l->span_cap = c.max_window + lead_slots(c.max_window);
    size_t nodes = c.max_nodes ? c.max_nodes : 1;
    size_t syms = c.max_symptoms ? c.max_symptoms : 1;
    l->items = malloc(c.max_series * sizeof *l->items);
    l->scores = malloc(c.max_series * sizeof *l->scores);
    l->comps = malloc(nodes * sizeof *l->comps);
    l->own = malloc(nodes * sizeof *l->own);
    l->excess = malloc(nodes * sizeof *l->excess);
    l->anom = malloc(nodes * sizeof *l->anom);
    l->queue = malloc(nodes * sizeof *l->queue);
    l->seen = malloc(nodes);
    l->span = malloc(l->span_cap * sizeof *l->span);
    l->rank = malloc(l->span_cap * sizeof *l->rank);
    l->sym_rank = malloc(syms * l->span_cap * sizeof *l->sym_rank);
    l->sym_onset = malloc(syms * sizeof *l->sym_onset);
    l->sym_bin = malloc(syms * l->span_cap * sizeof *l->sym_bin);
    l->bin = malloc(l->span_cap * sizeof *l->bin);
    l->sym_h = malloc(syms * sizeof *l->sym_h);
    l->ka = malloc(l->span_cap * sizeof *l->ka);
    l->kb = malloc(l->span_cap * sizeof *l->kb);
    l->clnc = malloc((l->span_cap + 1) * sizeof *l->clnc);
    l->ord = malloc(MI_KSG_SMALL * sizeof *l->ord);
    l->ord_tmp = malloc(MI_KSG_SMALL * sizeof *l->ord_tmp);
    l->sym_ord = malloc(syms * MI_KSG_SMALL * sizeof *l->sym_ord);
    l->sym_nord = malloc(syms * sizeof *l->sym_nord);
    l->psi = malloc((MI_KSG_SMALL + 2) * sizeof *l->psi);
    l->rmemo = calloc(REF_MEMO, sizeof *l->rmemo);
    l->rmemo_x = malloc((size_t)REF_MEMO * REF_MEMO_MAX * sizeof *l->rmemo_x);
    if (!l->rmemo || !l->rmemo_x)
        goto fail;
    if (!l->items || !l->scores || !l->comps || !l->own || !l->excess || !l->anom || !l->queue ||
        !l->seen || !l->span || !l->rank || !l->sym_rank || !l->sym_onset || !l->sym_bin || !l->bin || !l->sym_h || !l->ka || !l->kb || !l->clnc ||
        !l->ord || !l->ord_tmp || !l->sym_ord || !l->sym_nord || !l->psi)
        goto fail;
    mi_clnc_table(l->clnc, l->span_cap);
    mi_psi_table(l->psi, MI_KSG_SMALL + 2);
    /* One histogram per bin count a span up to span_cap can ask for, so a
     * run never allocates. */
    unsigned maxb = mi_auto_bins(l->span_cap);
    for (unsigned b = 2; b <= maxb; b++)
        if (!(l->hist[b] = gsl_histogram2d_alloc(b, b)))
            goto fail;
    return l;
fail:
    mend_localise_free(l);
    return NULL;
}

/* Mean and sd of the reference, and sd of its steps between consecutive
 * non-NaN values. Sds get a floor relative to the level, so a constant
 * reference yields a very large but finite z instead of a division by 0. */
static void ref_stats(const double *x, uint32_t n, struct ref_stats *s)
{
    /* one pass; sums are taken about the first value so that a large level
     * with a small spread does not cancel catastrophically */
    double sum = 0, sum2 = 0, dsum = 0, dsum2 = 0, prev = NAN, origin = NAN;
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    uint32_t m = 0, dm = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v))
            continue;
        if (isnan(origin))
            origin = v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        double c = v - origin;
        sum += c;
        sum2 += c * c;
        m++;
        if (!isnan(prev)) {
            double d = v - prev;
            dsum += d;
            dsum2 += d * d;
            dm++;
        }
        prev = v;
    }
    s->n = m;
    s->lo = m ? lo : 0;
    s->hi = m ? hi : 0;
    double cm = m ? sum / m : 0;
    s->mean = m ? origin + cm : 0;
    s->sd = m > 1 ? sqrt(fmax(0, (sum2 - m * cm * cm) / (m - 1))) : 0;
    double dmean = dm ? dsum / dm : 0;
    s->step_sd = dm > 1 ? sqrt(fmax(0, (dsum2 - dm * dmean * dmean) / (dm - 1))) : 0;
    double floor = 1e-9 * (1 + fabs(s->mean));
    s->constant = s->sd < floor;
    if (s->sd < floor)
        s->sd = floor;
    if (s->step_sd < floor)
        s->step_sd = floor;
}

/* ref_stats through l's memo (struct ref_memo): the slot is picked by a
 * few of the values, the hit decided by all of them. */
static void ref_stats_memo(struct mend_localise *l, const double *x, uint32_t n,
                           struct ref_stats *s)
{
    if (n == 0 || n > REF_MEMO_MAX) {
        ref_stats(x, n, s);
        return;
    }
    uint64_t a, b, c;
    memcpy(&a, x, sizeof a);
    memcpy(&b, x + n / 2, sizeof b);
    memcpy(&c, x + n - 1, sizeof c);
    uint64_t h = a * 0x9E3779B97F4A7C15ull ^ b * 0xC2B2AE3D27D4EB4Full ^ (c + n) * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    size_t slot = (size_t)(h % REF_MEMO);
    struct ref_memo *e = &l->rmemo[slot];
    double *copy = l->rmemo_x + slot * REF_MEMO_MAX;
    if (e->n == n && memcmp(copy, x, n * sizeof *x) == 0) {
        *s = e->r;
        return;
    }
    ref_stats(x, n, s);
    e->n = n;
    e->r = *s;
    memcpy(copy, x, n * sizeof *x);
}

/* Fills span[0, P + S): P lead-in slots, then the S window slots. The
 * lead-in is the series' ctx; index-aligned, when ctx is shorter than P its
 * earlier slots come from the tail of the reference (normal behaviour). */
static void fill_span(const struct mend_localise_series *s, const struct mend_localise_input *in,
                      uint32_t P, double *span)
{
    uint32_t S = in->slots;
    for (uint32_t i = 0; i < P + S; i++)
        span[i] = NAN;
    if (in->step > 0 && s->ctx && s->ctx_t) {
        int64_t lo = in->t0 - (int64_t)P * in->step;
        for (uint32_t i = 0; i < s->ctx_n; i++)
            if (s->ctx_t[i] >= lo && s->ctx_t[i] < in->t0)
                span[(s->ctx_t[i] - lo) / in->step] = s->ctx[i];
    } else {
        uint32_t k = 0;
        if (s->ctx) {
            k = s->ctx_n < P ? s->ctx_n : P;
            for (uint32_t i = 0; i < k; i++)
                span[P - k + i] = s->ctx[s->ctx_n - k + i];
        }
        uint32_t r = s->ref_n < P - k ? s->ref_n : P - k;
        for (uint32_t i = 0; i < r; i++)
            span[P - k - r + i] = s->ref[s->ref_n - r + i];
    }
    double *w = span + P;
    if (in->step > 0 && s->win_t) {
        for (uint32_t i = 0; i < s->win_n; i++)
            if (s->win_t[i] >= in->t0 && (s->win_t[i] - in->t0) / in->step < (int64_t)S)
                w[(s->win_t[i] - in->t0) / in->step] = s->win[i];
    } else {
        for (uint32_t i = 0; i < s->win_n && i < S; i++)
            w[i] = s->win[i];
    }
}

/* Level z, step z, range (max - min, 0 with fewer than two values) and
 * onset slot of the window part of span. */
static void window_z(const double *span, uint32_t P, uint32_t S, const struct ref_stats *r,
                     double *zl, double *zs, double *range, int32_t *onset)
{
    double best_l = 0, best_s = 0, prev = NAN, lo = HUGE_VAL, hi = -HUGE_VAL;
    const double inv_sd = 1.0 / r->sd, inv_step = 1.0 / r->step_sd;
    int32_t on = -1;
    for (uint32_t i = P; i-- > 0;) /* the lead-in's last value, for the entry step */
        if (!isnan(span[i])) {
            prev = span[i];
            break;
        }
    for (uint32_t i = 0; i < S; i++) {
        double v = span[P + i];
        if (isnan(v))
            continue;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
        double z = fabs(v - r->mean) * inv_sd;
        if (z > best_l)
            best_l = z;
        if (on < 0 && z > LEVEL_ONSET_Z)
            on = (int32_t)i;
        if (!isnan(prev)) {
            double d = fabs(v - prev) * inv_step;
            if (d > best_s)
                best_s = d;
        }
        prev = v;
    }
    *zl = best_l;
    *zs = best_s;
    /* less a rounding allowance: ranges equal in the data's own digits
     * (0.8 - 0.3 against 0.7 - 0.2) must compare equal, not by the last
     * bit; the engine's rings hold floats (about 7 digits) */
    *range = hi > lo ? (hi - lo) - 1e-6 * (fabs(hi) + fabs(lo)) : 0;
    *onset = on;
}

/* The tail terms (see the top): the reference x[0, n) cut into B = n / len
 * blocks of len values, ending with its last value (its oldest n mod len
 * values are left out); k_range of them have a range (max - min) of at
 * least range, k_level a farthest excursion max(max - c, c - min) from the
 * reference mean c of at least level; each tail is -ln((1 + k) / (1 + B)).
 * One pass, skipped when the whole reference does not reach the window's
 * statistic (k = 0). Missing values (NaN) are left out of their block. */
static void window_tails(const double *x, uint32_t n, uint32_t len, const struct ref_stats *rs,
                         double range, double level, double *t_range, double *t_level)
{
    *t_range = *t_level = 0;
    const uint32_t B = len ? n / len : 0;
    if (B == 0 || rs->n == 0)
        return; /* no stretch of the reference as long as the window */
    const double c = rs->mean, none = log1p((double)B);
    int need_r = range > 0 && rs->hi - rs->lo >= range;
    int need_l = level > 0 && fmax(rs->hi - c, c - rs->lo) >= level;
    if (range > 0 && !need_r)
        *t_range = none;
    if (level > 0 && !need_l)
        *t_level = none;
    if (!need_r && !need_l)
        return;
    if (B == 1 && n == len)
        return; /* the one block is the whole reference, which reaches it */
    uint32_t kr = 0, kl = 0;
    for (const double *y = x + (n - B * len), *end = x + n; y < end; y += len) {
        double hi = -HUGE_VAL, lo = HUGE_VAL;
        for (uint32_t i = 0; i < len; i++) { /* a NaN fails both tests */
            double v = y[i];
            hi = v > hi ? v : hi;
            lo = v < lo ? v : lo;
        }
        kr += hi - lo >= range;                             /* false without values */
        kl += (hi - c > c - lo ? hi - c : c - lo) >= level; /* likewise */
    }
    if (need_r)
        *t_range = -log((1.0 + kr) / (1.0 + B));
    if (need_l)
        *t_level = -log((1.0 + kl) / (1.0 + B));
}

static int32_t onset_slot(const struct mend_localise_series *s,
                          const struct mend_localise_input *in, int32_t computed)
{
    if (s->onset == MEND_LOCALISE_NO_ONSET || in->step <= 0)
        return computed;
    if (s->onset < in->t0)
        return 0;
    int64_t k = (s->onset - in->t0) / in->step;
    return k >= (int64_t)in->slots ? (int32_t)in->slots - 1 : (int32_t)k;
}

/* Best MI of rank vector rx against symptom ranks rs over lags [-L, L]:
 * lag > 0 pairs x(t) with s(t + lag), i.e. x leads. Lag 0 is tried first
 * and a lag must beat it strictly, so ties favour no lead. */
static double best_lagged_mi(struct mend_localise *l, unsigned bins, const uint16_t *rx,
                             const uint16_t *rs, uint32_t m, uint32_t L, int32_t *lag,
                             double *causal)
{
    gsl_histogram2d *h = l->hist[bins];
    double best = mi_binned_index(h, bins, rx, 0, rs, 0, m, l->clnc, MI_MIN_PAIRS);
    double lead = best;
    int32_t bl = 0;
    for (uint32_t k = 1; k <= L && k + 4 < m; k++) {
        double a = mi_binned_index(h, bins, rx, 0, rs, k, m - k, l->clnc, MI_MIN_PAIRS); /* x leads */
        double b = mi_binned_index(h, bins, rx, k, rs, 0, m - k, l->clnc, MI_MIN_PAIRS); /* x trails */
        if (a > lead)
            lead = a;
        if (a > best) {
            best = a;
            bl = (int32_t)k;
        }
        if (b > best) {
            best = b;
            bl = -(int32_t)k;
        }
    }
    *lag = bl;
    *causal = lead;
    return best;
}

/* Breaks ties of a rank vector for KSG, which assumes continuous values:
 * a deterministic pseudo-random offset far below one rank step, drawn from
 * (seed, slot) so that two series' ties are not broken alike. */
static void jitter_ranks(double *r, uint32_t m, uint64_t seed)
{
    for (uint32_t i = 0; i < m; i++) {
        if (isnan(r[i]))
            continue;
        uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1; /* splitmix64 */
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        r[i] += ((double)(z >> 11) / 9007199254740992.0) * 1e-3 / (double)m;
    }
}

/* KSG counterpart of best_lagged_mi for short spans, in two halves so that
 * the lags where the symptom leads are computed only where they matter.
 * ord: the two spans' orders (mi_ksg_order), read by every lag instead of
 * sorting again.
 *
 * ksg_lead: what ranks a series against each symptom, the lag-0 MI (into
 * a[0]) and the MIs where x leads (x(t) with s(t + k), into a[k]); returns
 * the best of them (the causal MI). */
static double ksg_lead(const double *rx, const double *rs, uint32_t m, uint32_t L,
                       const struct mi_ksg_orders *ord, double *a)
{
    double lead = a[0] = mi_ksg_small(rx, 0, rs, 0, m, KSG_K, MI_MIN_PAIRS, ord);
    for (uint32_t k = 1; k <= L && k + 4 < m; k++) {
        a[k] = mi_ksg_small(rx, 0, rs, k, m - k, KSG_K, MI_MIN_PAIRS, ord);
        if (a[k] > lead)
            lead = a[k];
    }
    return lead;
}

/* ksg_lag: the lag of the best MI over lags [-L, L] from ksg_lead's a and
 * the MIs where the symptom leads (computed here), met in the order lag 0,
 * +1, -1, +2, -2, ... and beaten only strictly, so ties favour no lead and
 * then the shorter lag. Only the symptom a series ends up paired with needs
 * its lag; the MIs are pure functions of their inputs, so a[k] is the value
 * a single pass would have had. */
static int32_t ksg_lag(const double *rx, const double *rs, uint32_t m, uint32_t L,
                       const struct mi_ksg_orders *ord, const double *a)
{
    double best = a[0];
    int32_t bl = 0;
    for (uint32_t k = 1; k <= L && k + 4 < m; k++) {
        double b = mi_ksg_small(rx, k, rs, 0, m - k, KSG_K, MI_MIN_PAIRS, ord);
        if (a[k] > best) {
            best = a[k];
            bl = (int32_t)k;
        }
        if (b > best) {
            best = b;
            bl = -(int32_t)k;
        }
    }
    return bl;
}

static int item_cmp(const void *a, const void *b)
{
    const struct mend_localise_item *x = a, *y = b;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return (x->series > y->series) - (x->series < y->series);
}

static int comp_cmp(const void *a, const void *b)
{
    const struct mend_localise_comp *x = a, *y = b;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return (x->node > y->node) - (x->node < y->node);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int check_input(const struct mend_localise *l, const struct mend_localise_input *in)
{
    if (!in->series || in->n_series == 0 || in->slots == 0 || in->step < 0)
        return MEND_EINVAL;
    if (in->n_series > l->conf.max_series || in->slots > l->conf.max_window ||
        in->n_symptoms > l->conf.max_symptoms)
        return MEND_ECAP;
    if (in->n_symptoms && !in->symptoms)
        return MEND_EINVAL;
    for (uint32_t k = 0; k < in->n_symptoms; k++)
        if (in->symptoms[k] >= in->n_series)
            return MEND_EINVAL;
    if (in->topo) {
        if (in->topo->n_nodes > l->conf.max_nodes)
            return MEND_ECAP;
    }
    for (uint32_t i = 0; i < in->n_series; i++) {
        const struct mend_localise_series *s = &in->series[i];
        if ((!s->ref && s->ref_n) || (!s->win && s->win_n))
            return MEND_EINVAL;
        if (s->ref_n > l->conf.max_ref || s->ctx_n > l->conf.max_ref)
            return MEND_ECAP;
        if (!(in->step > 0 && s->win_t) && s->win_n != in->slots)
            return MEND_EINVAL;
        if (s->node >= 0 && (!in->topo || (uint32_t)s->node >= in->topo->n_nodes))
            return MEND_EINVAL;
    }
    return 0;
}

/* Components: own evidence, then credit for the dependants each explains
 * (a breadth-first walk against the call edges from every anomalous node). */
static void rank_components(struct mend_localise *l, const struct mend_localise_input *in,
                            uint32_t n_items, struct mend_localise_result *out)
{
    const struct mend_localise_topo *g = in->topo;
    uint32_t n = g->n_nodes;
    for (uint32_t c = 0; c < n; c++) {
        l->anom[c] = 0;
        l->own[c] = -HUGE_VAL;
        l->comps[c].node = (int32_t)c;
        l->comps[c].best_series = UINT32_MAX;
        l->comps[c].explains = 0;
    }
    for (uint32_t k = 0; k < n_items; k++) {
        const struct mend_localise_item *it = &l->items[k];
        if (it->node >= 0 && it->shift > l->anom[it->node])
            l->anom[it->node] = it->shift;
        if (it->node >= 0 && it->score > l->own[it->node]) {
            l->own[it->node] = it->score;
            l->comps[it->node].best_series = it->series;
        }
    }
    for (uint32_t k = 0; k < n_items; k++)
        l->scores[k] = l->items[k].score;
    qsort(l->scores, n_items, sizeof *l->scores, dbl_cmp);
    double median = l->scores[n_items / 2];
    for (uint32_t k = 0; k < n_items; k++)
        l->scores[k] = l->items[k].shift;
    qsort(l->scores, n_items, sizeof *l->scores, dbl_cmp);
    double median_shift = l->scores[n_items / 2];
    for (uint32_t c = 0; c < n; c++)
        l->anom[c] = l->anom[c] > median_shift ? l->anom[c] - median_shift : 0;
    if (l->conf.method == MEND_LOCALISE_RANK) {
        /* own(c) = ln mean exp(score) over c's series (see the top) */
        for (uint32_t c = 0; c < n; c++) {
            l->excess[c] = l->own[c]; /* the best score, for a stable sum */
            l->own[c] = 0;
            l->queue[c] = 0;
        }
        for (uint32_t k = 0; k < n_items; k++) {
            const struct mend_localise_item *it = &l->items[k];
            if (it->node >= 0) {
                l->own[it->node] += exp(it->score - l->excess[it->node]);
                l->queue[it->node]++; /* its series count */
            }
        }
        for (uint32_t c = 0; c < n; c++)
            if (l->comps[c].best_series != UINT32_MAX)
                l->own[c] = l->excess[c] + log(l->own[c]) - log((double)l->queue[c]);
    }
    uint32_t m = 0;
    for (uint32_t c = 0; c < n; c++) {
        if (l->comps[c].best_series == UINT32_MAX) {
            l->own[c] = 0;
            l->excess[c] = 0;
            continue; /* a node without series has no evidence of its own */
        }
        l->excess[c] = l->own[c] > median ? l->own[c] - median : 0;
    }
    for (uint32_t c = 0; c < n; c++) {
        double score = l->own[c], credit = 0;
        if (l->excess[c] > 0 && g->adj && l->conf.method == MEND_LOCALISE_RANK) {
            memset(l->seen, 0, n);
            uint32_t head = 0, tail = 0;
            l->queue[tail++] = c;
            l->seen[c] = 1;
            while (head < tail) {
                uint32_t b = l->queue[head++];
                for (uint32_t a = 0; a < n; a++)
                    if (!l->seen[a] && g->adj[(size_t)a * n + b]) { /* a calls b */
                        l->seen[a] = 1;
                        l->queue[tail++] = a;
                        if (l->anom[a] > 0) {
                            double cr = fmin(l->excess[c], l->anom[a]);
                            if (cr > credit)
                                credit = cr;
                            l->comps[c].explains++;
                        }
                    }
            }
        }
        score += credit;
        if (l->comps[c].best_series == UINT32_MAX)
            continue;
        l->comps[m] = l->comps[c];
        l->comps[m].own = l->own[c];
        l->comps[m].score = score;
        m++;
    }
    qsort(l->comps, m, sizeof *l->comps, comp_cmp);
    out->comps = l->comps;
    out->n_comps = m;
}

int mend_localise_run(struct mend_localise *l, const struct mend_localise_input *in,
                      struct mend_localise_result *out)
{
    if (!l || !in || !out)
        return MEND_EINVAL;
    int rc = check_input(l, in);
    if (rc)
        return rc;
    const uint32_t S = in->slots, P = lead_slots(S), m = P + S;
    const int rank_mode = l->conf.method == MEND_LOCALISE_RANK;
    const unsigned bins = mi_auto_bins(m);
    uint32_t L = l->conf.max_lag;
    if (L >= S)
        L = S - 1;

    /* The symptoms' ranks and onsets, computed once. */
    uint32_t nsym = rank_mode ? in->n_symptoms : 0, usable = 0;
    for (uint32_t k = 0; k < nsym; k++) {
        const struct mend_localise_series *s = &in->series[in->symptoms[k]];
        struct ref_stats r;
        double zl, zs, range;
        int32_t on;
        ref_stats_memo(l, s->ref, s->ref_n, &r);
        fill_span(s, in, P, l->span);
        window_z(l->span, P, S, &r, &zl, &zs, &range, &on);
        l->sym_onset[k] = onset_slot(s, in, on);
        double *rs = l->sym_rank + (size_t)k * l->span_cap;
        mi_ranks_radix(l->span, m, rs, l->ka, l->kb);
        if (m <= MI_KSG_SMALL) {
            jitter_ranks(rs, m, 0xFFFFFFFFull + k);
            l->sym_nord[k] = (uint32_t)mi_ksg_order(rs, m, l->sym_ord + (size_t)k * MI_KSG_SMALL,
                                                    l->ord_tmp);
        }
        uint16_t *bs = l->sym_bin + (size_t)k * l->span_cap;
        mi_bin_index(rs, m, bins, 1, bs);
        mi_bin_index(rs, m, bins, bins, l->bin); /* as rows, for its own entropy */
        l->sym_h[k] = mi_binned_index(l->hist[bins], bins, l->bin, 0, bs, 0, m, l->clnc,
                                      MI_MIN_PAIRS);
        usable += l->sym_h[k] > 0;
    }

    double max_mi = 0;
    for (uint32_t i = 0; i < in->n_series; i++) {
        const struct mend_localise_series *s = &in->series[i];
        struct mend_localise_item *it = &l->items[i];
        struct ref_stats r;
        double zl, zs, range;
        int32_t on;
        ref_stats_memo(l, s->ref, s->ref_n, &r);
        fill_span(s, in, P, l->span);
        window_z(l->span, P, S, &r, &zl, &zs, &range, &on);
        it->series = i;
        it->node = s->node;
        it->z = zl;
        it->onset = onset_slot(s, in, on);
        {
            /* n reference samples cannot vouch for a tail rarer than 1/(n+1) */
            double cap = log1p((double)r.n);
            double el = fmin(log1p(zl), cap), es = fmin(log1p(zs), cap), sw = 0;
            if (S >= TAIL_MIN_SLOTS) {
                /* the tail terms (see the top). The level's two tests: the
                 * stronger counts. The excursion less the same rounding
                 * allowance as the range (window_z). */
                double d = zl * r.sd;
                d -= 1e-6 * (2 * fabs(r.mean) + d);
                double tl;
                window_tails(s->ref, s->ref_n, S, &r, range, d, &sw, &tl);
                el = fmax(el, tl);
            }
            /* a reference that never moved has no scale: leaving its value
             * is one event (a level change, a step and a swing at once),
             * worth its evidence once, not thrice */
            it->shift = r.constant ? fmax(fmax(el, es), sw) : el + es + sw;
        }
        it->mi = 0;
        it->lag = 0;
        if (!rank_mode) {
            it->score = zl;
            continue;
        }
        double order = 0;
        if (nsym) {
            mi_ranks_radix(l->span, m, l->rank, l->ka, l->kb);
            uint32_t nord = 0;
            if (m <= MI_KSG_SMALL) {
                jitter_ranks(l->rank, m, i);
                nord = (uint32_t)mi_ksg_order(l->rank, m, l->ord, l->ord_tmp);
            }
            mi_bin_index(l->rank, m, bins, bins, l->bin);
            double best = -1;
            int32_t best_lag = 0, best_k = -1;
            /* KSG: the lead MIs of the best symptom so far, and of this one */
            double lead_buf[2][MI_KSG_SMALL];
            double *lead_best = lead_buf[0], *lead_cur = lead_buf[1];
            for (uint32_t k = 0; k < nsym; k++) {
                if (in->symptoms[k] == i || l->sym_h[k] <= 0)
                    continue; /* itself (trivial), or too short or flat for MI */
                int32_t lag = 0;
                double causal;
                if (m <= MI_KSG_SMALL) { /* short span: bins too coarse, KSG cheap */
                    const struct mi_ksg_orders ord = {l->ord, l->sym_ord + (size_t)k * MI_KSG_SMALL,
                                                      nord, l->sym_nord[k], l->psi,
                                                      MI_KSG_SMALL + 2};
                    causal = ksg_lead(l->rank, l->sym_rank + (size_t)k * l->span_cap, m, L, &ord,
                                      lead_cur);
                    if (causal > best) { /* keep its lead MIs for ksg_lag below */
                        double *t = lead_best;
                        lead_best = lead_cur;
                        lead_cur = t;
                    }
                }
                else
                    best_lagged_mi(l, bins, l->bin, l->sym_bin + (size_t)k * l->span_cap, m, L,
                                   &lag, &causal);
                double mi = causal; /* coupling counts only where x leads or is level */
                if (mi > best) {
                    best = mi;
                    best_lag = lag;
                    best_k = (int32_t)k;
                }
            }
            if (best_k >= 0 && m <= MI_KSG_SMALL) {
                const uint32_t k = (uint32_t)best_k;
                const struct mi_ksg_orders ord = {l->ord, l->sym_ord + (size_t)k * MI_KSG_SMALL,
                                                  nord, l->sym_nord[k], l->psi, MI_KSG_SMALL + 2};
                best_lag = ksg_lag(l->rank, l->sym_rank + (size_t)k * l->span_cap, m, L, &ord,
                                   lead_best);
            }
            if (best_k >= 0) {
                it->mi = best;
                it->lag = best_lag;
                int32_t so = l->sym_onset[best_k];
                if (best_lag > 0 || (best_lag == 0 && it->onset >= 0 && so >= 0 && it->onset < so))
                    order = M_LN2;
                else if (best_lag < 0 || (it->onset >= 0 && so >= 0 && it->onset > so))
                    order = -M_LN2;
            }
        }
        double coupling = 1.0; /* without symptoms every shift counts whole */
        if (nsym) {
            /* Linfoot's informational coefficient of correlation, squared:
             * rho^2 for Gaussians, in [0, 1) for any pair */
            coupling = 1 - exp(-2 * it->mi);
            if (!usable)
                coupling = 1.0; /* no symptom supports an MI estimate: shift alone */
        }
        it->score = it->shift * coupling + order;
        l->scores[i] = order;
        if (it->mi > max_mi)
            max_mi = it->mi;
    }
    if (nsym && usable && (max_mi <= 0 || S <= l->conf.max_lag)) {
        /* no series shares any information with the symptoms, or the
         * window is no longer than the lags tried (it holds too few of the
         * incident's own moments to show who moves with the symptom, let
         * alone who leads: an incident's first line): the MI is no
         * evidence either way, so it weighs nobody down */
        for (uint32_t i = 0; i < in->n_series; i++)
            l->items[i].score = l->items[i].shift + l->scores[i];
    }
    qsort(l->items, in->n_series, sizeof *l->items, item_cmp);
    out->items = l->items;
    out->n_items = in->n_series;
    out->comps = NULL;
    out->n_comps = 0;
    if (in->topo && in->topo->n_nodes)
        rank_components(l, in, in->n_series, out);
    return 0;
}
