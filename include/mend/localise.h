/* localise.h -- fault localisation: rank the series (and the components they
 * belong to) that most likely caused an incident, with the evidence for each.
 *
 * Three parts, usable alone:
 *   - mutual-information estimators: a binned one with Miller-Madow bias
 *     correction (GSL 2-D histogram over rank-transformed values) and the
 *     Kraskov-Stoegbauer-Grassberger k-nearest-neighbour one;
 *   - the ranking (struct mend_localise): a workspace sized once at _new for
 *     the largest problem it will see, then any number of mend_localise_run()
 *     calls that allocate nothing and whose work is bounded by those sizes;
 *   - a table and topology loader for the offline command (`mend localise`)
 *     and the evaluation: CSV with one or more header rows, an optional leading
 *     time column, and a CSV adjacency matrix whose nodes claim columns by the
 *     longest-prefix rule.
 *
 * The ranking formula and its reasoning are at the top of src/localise/localise.c.
 * Errors: every int function returns 0 or a negative MEND_E* code. */
#ifndef MEND_LOCALISE_H
#define MEND_LOCALISE_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

/* ---- mutual information ------------------------------------------------ */

/* Binned MI in nats of (x[i], y[i]), i < n. Values are replaced by their
 * ranks (ties share a rank) and counted in a bins x bins GSL histogram, so
 * the estimate does not depend on the scale or skew of either variable; the
 * plug-in estimate is corrected with Miller-Madow ((occupied cells - 1)/2n
 * per entropy) and clamped at 0. bins = 0 picks floor(sqrt(n/5)) within
 * [2, 64]. Pairs where either value is NaN are skipped. Allocates its
 * scratch (use struct mend_localise for allocation-free repeated use).
 * Returns 0 and *mi, MEND_EINVAL (n < 4 usable pairs, bins > 64), MEND_ENOMEM. */
int mend_mi_binned(const double *x, const double *y, size_t n, unsigned bins, double *mi);

/* KSG estimator (algorithm 1 of Kraskov et al. 2004) in nats with k
 * neighbours under the max-norm: psi(k) + psi(n) - <psi(nx+1) + psi(ny+1)>.
 * The neighbour search is sorted (the brute force's result bit for bit, in
 * about n sqrt(k n) steps for uncoupled data, O(n^2) at worst), and n is
 * capped at MEND_MI_KSG_MAX. Ties (repeated values) bias KSG upwards;
 * continuous data is assumed. Pairs where either value is NaN or infinite
 * are skipped. Allocates about 48 n bytes of scratch.
 * Returns 0 and *mi (may be slightly negative for independent data: it is
 * not clamped, so callers see the estimator's own spread), MEND_EINVAL
 * (k == 0, fewer than k+2 usable pairs, n > cap), MEND_ENOMEM. */
#define MEND_MI_KSG_MAX 16384u
int mend_mi_ksg(const double *x, const double *y, size_t n, unsigned k, double *mi);

/* ---- ranking ----------------------------------------------------------- */

enum {
    MEND_LOCALISE_RANK = 0,   /* the combined score (shift + MI + lead + topology) */
    MEND_LOCALISE_NSIGMA = 1  /* reference: largest |z| in the window, nothing else */
};

struct mend_localise_conf {
    uint32_t max_series;   /* series per call, default 100,000 */
    uint32_t max_window;   /* incident-window slots, default 4,096 */
    uint32_t max_ref;      /* reference samples per series, default 65,536 */
    uint32_t max_nodes;    /* topology nodes, default 4,096 */
    uint32_t max_lag;      /* lags tried each way for lead/lag, default 3 */
    uint32_t max_symptoms; /* symptom series per call, default 16 */
    int method;            /* MEND_LOCALISE_RANK (default) or _NSIGMA */
};
void mend_localise_conf_defaults(struct mend_localise_conf *c);

/* One candidate series. Values are in time order; NaN marks a missing value.
 * ref is the normal behaviour (its distribution and step sizes are used,
 * and its tail as a lead-in, so it needs no times). ctx is the lead-in: the
 * values just before the window (ctx NULL: the tail of ref is the lead-in,
 * as when the reference window ends where the incident begins). The MI with
 * the symptoms is taken over P = max(slots, 20) lead-in slots followed by
 * the `slots` window slots. With times (win_t / ctx_t non-NULL, int64 event
 * times in the unit of mend_localise_input.step) values are placed on that
 * slot grid by time, the last one in a slot winning; without, the window is
 * index-aligned (win_n must equal slots) and the lead-in is the last P
 * values of ctx, continued into the past by the tail of ref when ctx is
 * shorter. All pointers are borrowed for the duration of the call. */
struct mend_localise_series {
    const double *ref;     /* reference (normal) window */
    uint32_t ref_n;
    const double *ctx;     /* lead-in, NULL = tail of ref */
    const int64_t *ctx_t;  /* NULL = index-aligned */
    uint32_t ctx_n;
    const double *win;     /* incident window */
    const int64_t *win_t;  /* NULL = index-aligned */
    uint32_t win_n;
    int32_t node;          /* topology node of this series, -1 = none */
    int64_t onset;         /* the series' own anomaly start if the caller's
                              detectors know it, else MEND_LOCALISE_NO_ONSET */
};
#define MEND_LOCALISE_NO_ONSET INT64_MIN

/* A call graph: adj[a * n_nodes + b] != 0 when node a calls (depends on)
 * node b, so a fault in b shows up in a: b is upstream of a in the causal
 * sense. adj NULL = no edges: nodes are then plain groups (the entity tag:
 * host, service), ranked from their series alone. Borrowed. */
struct mend_localise_topo {
    uint32_t n_nodes;
    const uint8_t *adj;
};

struct mend_localise_input {
    const struct mend_localise_series *series;
    uint32_t n_series;
    const uint32_t *symptoms; /* indices into series; may be empty */
    uint32_t n_symptoms;
    const struct mend_localise_topo *topo; /* NULL = no topology */
    uint32_t slots;        /* incident window length in slots */
    int64_t t0, step;      /* slot s covers [t0 + s*step, t0 + (s+1)*step);
                              step = 0: index alignment */
};

/* Evidence for one ranked series. */
struct mend_localise_item {
    uint32_t series;       /* index into the input */
    int32_t node;          /* its topology node, -1 = none */
    double score;          /* nats; higher = more likely the cause */
    double shift;          /* distribution shift, nats: level + step + swing
                              (localise.c: ln(1+z) capped at ln(n+1), and the
                              window's farthest value and range against the
                              reference's own windows); once for a constant
                              reference */
    double z;              /* largest |z| of the window against the reference */
    double mi;             /* MI with the best symptom at a lag where this series
                              leads or is level, nats (0 without symptoms) */
    int32_t lag;           /* lag of the largest MI over -L..L: slots by which
                              this series leads that symptom (< 0: trails) */
    int32_t onset;         /* first anomalous slot of the window, -1 = none */
};

/* Evidence for one ranked component (topology node). */
struct mend_localise_comp {
    int32_t node;
    double score;          /* nats: own evidence + what it explains upstream */
    double own;            /* its series' evidence (see localise.c) */
    uint32_t best_series;  /* index into the input of its best series */
    uint32_t explains;     /* anomalous dependants it accounts for */
};

/* The answer of one run. Arrays live in the workspace and stay valid until
 * the next mend_localise_run() or _free on it. Best first. */
struct mend_localise_result {
    const struct mend_localise_item *items;
    uint32_t n_items;
    const struct mend_localise_comp *comps;
    uint32_t n_comps;      /* 0 without a topology */
};

struct mend_localise;

/* Allocates the workspace for conf's caps (conf NULL = defaults): about
 * 56 * max_series + 61 * max_nodes + (42 + 10 * max_symptoms) * span bytes,
 * span = max_window + max(max_window, 20), plus GSL histograms of up to
 * 64 x 64 cells (under 1 MB); about 8 MB at the defaults. The caller's
 * topology adjacency is borrowed per run, not copied. Returns NULL on a bad
 * conf (a zero or absurd cap, max_lag > 64, an unknown method) or no memory. */
struct mend_localise *mend_localise_new(const struct mend_localise_conf *conf);
void mend_localise_free(struct mend_localise *l);

/* Ranks in->series. No allocation; time O(n_series * (ref + slots * lags))
 * plus O(anomalous nodes * nodes^2) with a topology. Returns 0, MEND_EINVAL (no series, slots
 * 0, a symptom index out of range, index-aligned win_n != slots, a node out
 * of range) or MEND_ECAP (a count above the workspace's caps). */
int mend_localise_run(struct mend_localise *l, const struct mend_localise_input *in,
                      struct mend_localise_result *out);

/* ---- tables and topologies (offline use) ------------------------------- */

/* A numeric table read from CSV. Header: every leading row that has a
 * non-numeric cell after the first column, or no value cell at all, is a
 * header row; a column's name is its header cells joined with '|' (empty
 * ones skipped), so PetShop's component / metric / statistic rows give
 * "PetSite|latency|Average". When the first column's name is time,
 * timestamp, unix_timestamp, date or datetime (any case, any row), it holds
 * times (ISO-8601 or epoch, see timefmt.h); else every column is a value and
 * the row number stands in for time. Empty cells and "nan" are NaN. */
struct mend_table {
    uint32_t n_cols, n_rows;
    char **names;          /* n_cols names */
    double *v;             /* n_rows * n_cols, row-major */
    int64_t *t;            /* n_rows times (ns) or row numbers */
    int has_time;
};

#define MEND_TABLE_MAX_COLS 100000u
#define MEND_TABLE_MAX_ROWS 10000000u
#define MEND_TABLE_MAX_LINE (16u << 20)

/* Reads path into *t. On error fills err (file:line:col and why) and returns
 * MEND_EIO, MEND_EPARSE (a bad cell, a row with more cells than the header),
 * MEND_ECAP (a cap above) or MEND_ENOMEM; *t is then empty. */
int mend_table_load(const char *path, struct mend_table *t, char *err, size_t errlen);
void mend_table_fini(struct mend_table *t);
/* Column index by exact name, or -1. */
int32_t mend_table_col(const struct mend_table *t, const char *name);

/* A CSV adjacency matrix: a header row of node names (first cell ignored),
 * then one row per node (its name, then 0/1 or weights; non-zero = calls).
 * Rows are matched to the header names, so any row order works. */
struct mend_topo_file {
    uint32_t n;
    char **names;
    uint8_t *adj;          /* n * n */
};
int mend_topo_load(const char *path, struct mend_topo_file *g, char *err, size_t errlen);
void mend_topo_fini(struct mend_topo_file *g);

/* The node claiming a column: the longest node name that is the whole
 * column name or a prefix of it followed by a separator (_ . | , space).
 * Returns the node index or -1. */
int32_t mend_topo_node_of(const struct mend_topo_file *g, const char *column);

/* ---- attached to the engine: every incident names its suspects --------- */

/* The localiser as an incident annotator (incident.h): on every "open" and
 * "update" it reads the scope's series from the registry's rings (exact
 * event times, mend_series_recent), lines them up on a slot grid of the
 * symptoms' sampling interval starting at the incident's start, takes the
 * samples before it as the reference, runs mend_localise_run with the
 * incident's score signals as symptoms (their first event times as onsets)
 * and the entities as components, and appends to the line
 *
 *   ,"localise":{"scope":"entity","window":{"start":ISO,"start_ns":T,
 *     "end_ns":T,"step_ns":N,"slots":W,"reference":R,"samples":N,
 *     "candidates":N,
 *     "candidates_dropped":N,"series":[{"key":K,"component":E,"score":F,
 *     "shift":F,"z":F,"mi":F,"lag":N,"onset":ISO|null,"onset_ns":T|null},
 *     ...],"components":[{"component":E,"score":F,"series":K},...]}
 *
 * (or {"error":"why"} when there is nothing to rank). window.start is the
 * incident's start (the centre of slot 0), end_ns the centre of the last
 * slot, reference the most reference samples a series had, samples the
 * values all candidates had in the window: the line is written while the
 * change's own collection round is still arriving, so series that report
 * after the symptom in that round are ranked without its last slot (an
 * "update" a moment later sees it); lag is in slots, > 0 when the series leads the symptom; onset is
 * when the series' own anomaly began (its first event for a symptom, else
 * the first slot past 3 sigma).
 *
 * Bounded: at most max_series candidates (the symptoms first, then the
 * scope's other series by id; the rest counted in candidates_dropped),
 * `window` slots and `reference` samples each, so one annotation costs at
 * most what bench_localise measures for that size. Buffers (about
 * max_series * (reference + window) * 16 bytes plus the localiser's
 * workspace) are allocated at the first annotation, so an engine that
 * never opens an incident pays nothing; none afterwards (but up to 64
 * remembered rankings of at most 32 KB each, see reuse). Deterministic: the
 * result is a function of the rings and the incident, so a replay writes
 * the same lines, and so does a run restored from a checkpoint. */
enum { MEND_LOCALISE_SCOPE_ENTITY = 0, MEND_LOCALISE_SCOPE_ALL = 1 };

struct mend_localise_attach_conf {
    int enabled;           /* default 1 */
    int32_t scope;         /* SCOPE_ENTITY (default; all series when the
                              incident has no entity) or SCOPE_ALL */
    uint32_t window;       /* incident-window slots at most, default 64 */
    uint32_t reference;    /* reference samples per series at most, default 256 */
    uint32_t max_series;   /* candidates per annotation, default 100: the
                              ranking's KSG regime (spans up to 128 slots)
                              costs about 0.13 ms per candidate and symptom
                              at its worst (a 64-slot window, bench_localise),
                              so 100 bound an annotation near 13 ms per
                              symptom; longer windows (binned) are ~10x
                              cheaper */
    uint32_t top;          /* ranked series written per line, default 5 */
    uint32_t top_components; /* ranked components written per line, default 3 */
    int reuse;             /* default 1: a line whose gathered input is identical
                              to an earlier ranking's (a full window that no
                              sample changed) copies that ranking's bytes
                              instead of ranking again; the same bytes either
                              way (attach.c). 0 ranks every time. */
};
void mend_localise_attach_conf_defaults(struct mend_localise_attach_conf *c);
/* The `localise:` config section over struct mend_localise_attach_conf. */
struct mend_conf_map;
extern const struct mend_conf_map mend_localise_conf_map;

struct mend_registry;
struct mend_incident;
struct mend_wbuf;
struct mend_localise_attach;

/* reg is borrowed and must outlive the attachment; ring_cap is its
 * series.ring_cap (the scratch a ring is read into). Returns 0, MEND_EINVAL
 * (a zero or absurd cap, an unknown scope) or MEND_ENOMEM. */
int mend_localise_attach_new(const struct mend_localise_attach_conf *c, struct mend_registry *reg,
                             uint32_t ring_cap, struct mend_localise_attach **out);
void mend_localise_attach_free(struct mend_localise_attach *a);
/* The annotate callback of struct mend_incident_annotator (ctx = the
 * attachment). */
void mend_localise_attach_annotate(void *ctx, const char *status, const struct mend_incident *inc,
                                   int64_t now_ns, struct mend_wbuf *w);

struct mend_localise_attach_stats {
    uint64_t runs;         /* rankings written */
    uint64_t reused;       /* of those, copied from an identical earlier input */
    uint64_t skipped;      /* annotations that wrote an error instead */
    uint64_t dropped;      /* candidates left out at max_series, summed */
};
void mend_localise_attach_stats(const struct mend_localise_attach *a,
                                struct mend_localise_attach_stats *st);

#endif
