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
 * again with a higher score) and "resolve".
 *
 * The record keeps each signal's series id so later stages (the localiser)
 * can read the series' recent values from the registry. */
#ifndef MEND_INCIDENT_H
#define MEND_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

struct mend_incident_conf {
    int64_t resolve_after_ns; /* quiet event time before resolving, default 10 min */
    uint32_t max_signals;     /* signals kept per incident, default 64 (more are counted) */
    uint32_t max_open;        /* open incidents at once, default 10,000 (more are counted) */
    int group_by_entity;      /* 1 (default): one incident scope per entity */
};
void mend_incident_conf_defaults(struct mend_incident_conf *c);

enum mend_anomaly_kind { MEND_ANOM_SCORE, MEND_ANOM_ABSENCE, MEND_ANOM_MULTIVARIATE };
const char *mend_anomaly_kind_name(enum mend_anomaly_kind k);

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
};

struct mend_incident_signal {
    uint32_t series_id;
    enum mend_anomaly_kind kind;
    char *key;                /* owned */
    int64_t first_t, last_t;
    double max_score, last_value, expected;
    uint32_t events;
};

struct mend_incident {
    uint64_t id;
    uint32_t entity_id;
    char *entity;             /* owned, "" when none */
    int64_t start_t, last_t;
    uint32_t n_signals, cap_signals;
    uint32_t dropped_signals;
    uint32_t events;
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

struct mend_incidents;

int mend_incidents_new(const struct mend_incident_conf *c, const struct mend_incident_out *out,
                       struct mend_incidents **res);
void mend_incidents_free(struct mend_incidents *s);
/* Returns 0, MEND_ECAP when the open-incident cap is reached (counted), or
 * MEND_ENOMEM. */
int mend_incidents_add(struct mend_incidents *s, const struct mend_anomaly *a);
/* Event time moved on to now: resolve incidents quiet for resolve_after. */
void mend_incidents_advance(struct mend_incidents *s, int64_t now_ns);

struct mend_incident_stats {
    uint64_t opened, updated, resolved, refused, open_now;
};
void mend_incidents_stats(const struct mend_incidents *s, struct mend_incident_stats *st);

/* State for checkpoints; load replaces the current open incidents. */
int mend_incidents_save(const struct mend_incidents *s, struct mend_wbuf *w);
int mend_incidents_load(struct mend_incidents *s, struct mend_rbuf *r);

/* Formats t_ns as ISO-8601 UTC ("2014-04-10T07:15:00Z", with a fraction
 * when not whole seconds) into buf; returns buf. */
const char *mend_time_format(int64_t t_ns, char *buf, size_t len);

#endif
