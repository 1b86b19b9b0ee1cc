/* incident.h -- groups anomaly events into incidents and writes them as JSON
 * lines.
 *
 * An anomaly event (one series starting an anomalous run, a series going
 * silent, or an entity's multivariate model firing) joins the open incident
 * of its scope (its entity, or one global scope when group_by_entity is 0)
 * if that incident saw an event within resolve_after of event time;
 * otherwise it opens a new incident. An incident is resolved once
 * resolve_after of event time passes with no new event in it. Each change is
 * one JSON line: "open", "update" (a new signal joined, or a signal fired
 * again, whatever its score) and "resolve".
 *
 * While an incident is open its score signals are watched more closely than
 * the alarm threshold: a new run of such a series (its evidence left the
 * ordinary level after having been back to it, scorer.h) that reaches the
 * watch level (watch_tail) without being an event is an excursion: an
 * "update" line whose "event" has kind "excursion", the run's start and the
 * step's score. An excursion never opens an incident, is not an event (the
 * incident's and signal's "events" and its "last" do not move, so it never
 * holds an incident open), at most one is written per run, and at most
 * max_excursions per incident (the rest are counted). The second of two
 * identical spikes scores under the threshold -- the scorer learnt from the
 * first -- and shows this way.
 *
 * The record keeps each signal's series id so later stages (the localiser)
 * can read the series' recent values from the registry.
 *
 * Consumers receive each change either through the one callback given to
 * mend_incidents_new (struct mend_incident_out, the original path) or
 * through a set of outputs (output.h: the JSON-lines file, the table, ...)
 * given with mend_incidents_set_outputs; both may be used at once. The JSON
 * line is built once per change and is always valid JSON (json.h): numbers
 * are the shortest form that reads back to the same double, NaN/Inf are
 * null, and bytes of keys and entity names that are not UTF-8 become
 * U+FFFD. */
#ifndef MEND_INCIDENT_H
#define MEND_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

struct mend_outputs;

struct mend_incident_conf {
    int64_t resolve_after_ns; /* quiet event time before resolving, default 10 min */
    uint32_t max_signals;     /* signals kept per incident, default 64 (more are counted) */
    uint32_t max_open;        /* open incidents at once, default 10,000 (more are counted) */
    int group_by_entity;      /* 1 (default): one incident scope per entity */
    double watch_tail;        /* excursion level of a member's new run, as a
                                 tail probability: default 1e-3 (evidence 3,
                                 score 0.3); 0 = no excursions. Meant to
                                 be above the alarm's tail (1e-5 at the
                                 default threshold): a rarer level only sees
                                 what the debounce held back */
    uint32_t max_excursions;  /* excursion lines per incident, default 16
                                 (more are counted) */
};
void mend_incident_conf_defaults(struct mend_incident_conf *c);

enum mend_anomaly_kind { MEND_ANOM_SCORE, MEND_ANOM_ABSENCE, MEND_ANOM_MULTIVARIATE };
const char *mend_anomaly_kind_name(enum mend_anomaly_kind k);

/* The JSON line of each change (open, update, resolve): incident fields,
 * the event that caused an update ("event": key, kind, time, score), and
 * per signal its key, its series as a map ("series": name, labels, field,
 * read from the canonical key), kind, first and latest start, score, value,
 * expected, events, and for absence: last seen, usual interval, state.
 * An incident with excursions also has "excursions" (and, once the cap
 * refused one, "excursions_dropped") after "signals_dropped"; an
 * excursion's "event" also has "start" (the run's first sample). */

/* One anomaly event; strings are borrowed for the call. */
struct mend_anomaly {
    enum mend_anomaly_kind kind;
    uint32_t series_id;       /* UINT32_MAX for entity-level events */
    uint32_t entity_id;       /* 0 = no entity */
    const char *key;          /* the signal's name */
    size_t key_len;
    const char *entity;       /* entity name, may be NULL */
    size_t entity_len;
    int64_t t_ns;
    double score;             /* in [0,1] */
    double value;             /* the sample's value (NaN for absence) */
    double expected;          /* the baseline's expectation, NaN if unknown */
    int64_t last_seen_ns;     /* absence: the series' last sample */
    int64_t interval_ns;      /* absence: its usual interval (0 = unknown) */
};

/* A signal's absence state (kind MEND_ANOM_ABSENCE). */
enum mend_absence_state {
    MEND_ABS_MISSING = 0,     /* still missing: the incident stays open */
    MEND_ABS_BACK = 1,        /* the series reported again */
    MEND_ABS_GONE = 2         /* evicted as gone */
};

struct mend_incident_signal {
    uint32_t series_id;
    enum mend_anomaly_kind kind;
    char *key;                /* owned */
    int64_t first_t, last_t;  /* first event, latest event */
    int64_t start_t;          /* start of the latest run: a signal that fires
                                 again after a quiet spell shows its new start */
    double max_score, last_value, expected;
    uint32_t events;
    /* absence only */
    int64_t last_seen_t, interval_ns, back_t; /* back_t: reported again / gone at */
    enum mend_absence_state absence;
};

struct mend_incident {
    uint64_t id;
    uint32_t entity_id;
    char *entity;             /* owned, "" when none */
    int64_t start_t, last_t;
    uint32_t n_signals, cap_signals;
    uint32_t dropped_signals;
    uint32_t events;
    uint32_t excursions, dropped_excursions; /* written; refused by the cap */
    double max_score;
    struct mend_incident_signal *signals;
};

/* Receives each JSON line (without the trailing newline), borrowed. The
 * incident is passed too so callers can act on it (a localiser, a table). */
struct mend_incident_out {
    void (*emit)(void *ctx, const char *status, const struct mend_incident *inc,
                 const char *json, size_t len);
    void *ctx;
};

/* Deep copy of an incident record (strings and signals included), for
 * consumers that keep it past the call (an output's spool). Returns 0 or
 * MEND_ENOMEM; free the copy with mend_incident_free. */
int mend_incident_copy(const struct mend_incident *src, struct mend_incident **res);
void mend_incident_free(struct mend_incident *inc); /* NULL is fine */

struct mend_incidents;

/* out may be NULL (no callback) and is copied. */
int mend_incidents_new(const struct mend_incident_conf *c, const struct mend_incident_out *out,
                       struct mend_incidents **res);
void mend_incidents_free(struct mend_incidents *s);
/* Every change from now on also goes to outs (borrowed: it must outlive s,
 * or be unset with NULL first). Delivery answers, spooling and errors are
 * the set's business (see output.h) and do not fail the add. */
void mend_incidents_set_outputs(struct mend_incidents *s, struct mend_outputs *outs);

/* An annotator adds members to the JSON line of every "open" and "update"
 * (not "resolve": the incident is over) before the line is closed and
 * handed on, so every consumer sees the same annotated line. annotate()
 * appends to w text that begins with ',' and is a sequence of JSON members
 * ("key":value); it is called on the engine's thread with the incident
 * (borrowed) and the event time of the change, must not call back into the
 * set, and should bound its own work (the localiser does: localise.h). A
 * failed write is the wbuf's failed flag, which drops the line as any out
 * of memory does (counted in unsent). The annotator is copied; a = NULL or
 * annotate = NULL removes it. */
struct mend_incident_annotator {
    void (*annotate)(void *ctx, const char *status, const struct mend_incident *inc, int64_t now_ns,
                     struct mend_wbuf *w);
    void *ctx;
};
void mend_incidents_set_annotator(struct mend_incidents *s, const struct mend_incident_annotator *a);
/* Signal notes (optional): a signal whose key the annotator knows gets
 * ,"log":{"template":T,"example":E} in its JSON object -- the log template a
 * log-count series stands for and one line of it (logsig.h). note returns
 * 1 with both strings set (borrowed for the call), else 0; it is asked each
 * time a line is built, so nothing extra is stored or checkpointed here.
 * a is copied; NULL removes it. */
struct mend_incident_signal_note {
    int (*note)(void *ctx, const char *key, size_t key_len, const char **tmpl, size_t *tmpl_len,
                const char **example, size_t *example_len);
    void *ctx;
};
void mend_incidents_set_signal_note(struct mend_incidents *s, const struct mend_incident_signal_note *a);

/* Returns 0, MEND_ECAP when the open-incident cap is reached (counted), or
 * MEND_ENOMEM. */
int mend_incidents_add(struct mend_incidents *s, const struct mend_anomaly *a);
/* A run of series a->series_id (kind MEND_ANOM_SCORE, its key; a->t_ns,
 * score and value are the step's, expected is not read: the signal keeps
 * the one of its highest score) that started at start_ns raised its peak
 * evidence from before to peak (struct mend_scorer_run: -log10 of a tail
 * probability). When the series is a score signal of the open incident of
 * its scope, the incident has not gone quiet, and the rise crossed the
 * watch level (before < -log10(watch_tail) <= peak), writes the excursion's
 * update line and sets the signal's start to start_ns and its value to
 * a->value. Returns 0 (written, or nothing to write) or MEND_ECAP when the
 * incident's max_excursions is spent (counted in the incident and stats).
 * Never allocates, never opens an incident. A caller that raised an event
 * for the same step does not call this: the event says more. */
int mend_incidents_excursion(struct mend_incidents *s, const struct mend_anomaly *a, int64_t start_ns,
                             double before, double peak);

/* Event time moved on to now: resolve incidents quiet for resolve_after
 * whose absence signals are all back or gone (a series still missing keeps
 * its incident open). */
void mend_incidents_advance(struct mend_incidents *s, int64_t now_ns);
/* Series series_id reported again at t (back = 1) or was evicted as gone
 * (back = 0): its missing absence signals say so in an update line, and
 * no longer hold their incident open. */
void mend_incidents_series_back(struct mend_incidents *s, uint32_t series_id, int64_t t, int back);

struct mend_incident_stats {
    uint64_t opened, updated, resolved, refused, open_now;
    uint64_t unsent;          /* changes whose JSON line could not be built (no memory) */
    uint64_t excursions, excursions_dropped; /* excursion lines written (also in
                                 updated); refused by max_excursions */
};
void mend_incidents_stats(const struct mend_incidents *s, struct mend_incident_stats *st);

/* State for checkpoints; load replaces the current open incidents.
 *
 * Nothing read is trusted beyond the buffer it came in: load is told how
 * many entities (entity 0 included) and series the rest of the checkpoint
 * restored, and refuses with MEND_ECORRUPT an incident whose entity id is
 * not below n_entities or whose scope is taken twice, a signal whose series
 * id is neither below n_series nor UINT32_MAX (an entity-level signal), an
 * unknown signal kind, more than max_open incidents or max_signals signals
 * per incident, ids out of order, and strings longer than
 * MEND_INCIDENT_MAX_STR. Growth is overflow-checked, so no count read from
 * the file can loop or allocate beyond those caps. On any error the state
 * is left as it was before the call, never half-loaded. */
#define MEND_INCIDENT_MAX_STR 65536u /* the longest key input.max_key allows */
int mend_incidents_save(const struct mend_incidents *s, struct mend_wbuf *w);
int mend_incidents_load(struct mend_incidents *s, struct mend_rbuf *r, uint32_t n_entities,
                        uint32_t n_series);

/* Formats t_ns as ISO-8601 UTC ("2014-04-10T07:15:00Z", with a fraction
 * when not whole seconds) into buf; returns buf. */
const char *mend_time_format(int64_t t_ns, char *buf, size_t len);

#endif
