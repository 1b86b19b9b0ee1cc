/* incident.c -- grouping of anomaly events into incidents, JSON lines out
 * (see incident.h). Open incidents are few; they sit in a small array and a
 * per-scope index finds the one an event belongs to. Each change is written
 * once as a JSON line (json.h) and handed to the callback and/or the output
 * set (output.h). */
#include "mend/incident.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mend/json.h"
#include "mend/output.h"

#define INC_STATE_VERSION 3u /* 2: run starts, absence state; 3: excursions (2 still loads) */

struct mend_incidents {
    struct mend_incident_conf conf;
    struct mend_incident_out out;
    struct mend_outputs *outs;     /* borrowed, may be NULL */
    struct mend_incident_annotator annot; /* annotate NULL = none */
    struct mend_incident **open;   /* open incidents, in opening order (ids rising) */
    uint32_t n_open, cap_open;
    uint32_t *by_scope;            /* scope (entity id or 0) -> open index + 1 */
    size_t cap_scope;
    uint64_t next_id;
    struct mend_incident_stats st;
    struct mend_wbuf json;         /* reused for every line */
    struct mend_incident_signal_note note; /* log annotations; note.note NULL = none */
    double watch_ev;               /* -log10(watch_tail); INFINITY = no excursions */
};

void mend_incidents_set_signal_note(struct mend_incidents *s, const struct mend_incident_signal_note *a)
{
    if (a)
        s->note = *a;
    else
        memset(&s->note, 0, sizeof s->note);
}

void mend_incident_conf_defaults(struct mend_incident_conf *c)
{
    c->resolve_after_ns = 10LL * 60 * 1000000000LL;
    c->max_signals = 64;
    c->max_open = 10000;
    c->group_by_entity = 1;
    /* A decade and a half past the ordinary level (the 2% tail where a run
     * starts) and two decades short of the alarm (1e-5): on a calibrated
     * series a member's noise gets there once in 1000 samples, about once
     * in 17 incidents of 10 minutes at 10 s, while a repeat of what opened
     * the incident -- the second of two identical 30-sigma spikes scores
     * 0.41, evidence 4.1 -- clears it by a decade. */
    c->watch_tail = 1e-3;
    c->max_excursions = 16;
}

/* a - b clamped to int64: event times come from the network and from
 * checkpoints, so their difference must not overflow. */
static int64_t sat_sub(int64_t a, int64_t b)
{
    if (b < 0 && a > INT64_MAX + b)
        return INT64_MAX;
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    return a - b;
}

const char *mend_anomaly_kind_name(enum mend_anomaly_kind k)
{
    switch (k) {
    case MEND_ANOM_SCORE: return "score";
    case MEND_ANOM_ABSENCE: return "absence";
    case MEND_ANOM_MULTIVARIATE: return "multivariate";
    }
    return "unknown";
}

const char *mend_time_format(int64_t t_ns, char *buf, size_t len)
{
    int64_t sec = t_ns / 1000000000LL, frac = t_ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec--;
    }
    time_t tt = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(buf, len, "%" PRId64, t_ns);
        return buf;
    }
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac == 0)
        snprintf(buf, len, "%sZ", base);
    else if (frac % 1000000 == 0)
        snprintf(buf, len, "%s.%03" PRId64 "Z", base, (int64_t)(frac / 1000000));
    else
        snprintf(buf, len, "%s.%09" PRId64 "Z", base, frac);
    return buf;
}

int mend_incidents_new(const struct mend_incident_conf *c, const struct mend_incident_out *out,
                       struct mend_incidents **res)
{
    *res = NULL;
    if (!c || c->max_signals == 0 || c->max_open == 0 || c->resolve_after_ns <= 0 ||
        !(c->watch_tail >= 0.0 && c->watch_tail < 1.0))
        return MEND_EINVAL;
    struct mend_incidents *s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    s->conf = *c;
    if (out)
        s->out = *out;
    s->next_id = 1;
    s->watch_ev = c->watch_tail > 0.0 ? -log10(c->watch_tail) : INFINITY;
    mend_wbuf_init(&s->json);
    *res = s;
    return MEND_OK;
}

void mend_incident_free(struct mend_incident *inc)
{
    if (!inc)
        return;
    for (uint32_t i = 0; i < inc->n_signals; i++)
        free(inc->signals[i].key);
    free(inc->signals);
    free(inc->entity);
    free(inc);
}

static char *str_dup(const char *p)
{
    size_t n = strlen(p);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, p, n + 1);
    return d;
}

int mend_incident_copy(const struct mend_incident *src, struct mend_incident **res)
{
    *res = NULL;
    struct mend_incident *c = calloc(1, sizeof *c);
    if (!c)
        return MEND_ENOMEM;
    *c = *src;
    c->entity = NULL;
    c->signals = NULL;
    c->n_signals = c->cap_signals = 0;
    if (!(c->entity = str_dup(src->entity ? src->entity : "")))
        goto nomem;
    if (src->n_signals) {
        c->signals = calloc(src->n_signals, sizeof *c->signals);
        if (!c->signals)
            goto nomem;
        c->cap_signals = src->n_signals;
        for (uint32_t i = 0; i < src->n_signals; i++) {
            c->signals[i] = src->signals[i];
            c->signals[i].key = str_dup(src->signals[i].key);
            if (!c->signals[i].key)
                goto nomem;
            c->n_signals = i + 1;
        }
    }
    *res = c;
    return MEND_OK;
nomem:
    mend_incident_free(c);
    return MEND_ENOMEM;
}

void mend_incidents_free(struct mend_incidents *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_open; i++)
        mend_incident_free(s->open[i]);
    free(s->open);
    free(s->by_scope);
    mend_wbuf_fini(&s->json);
    free(s);
}

void mend_incidents_set_outputs(struct mend_incidents *s, struct mend_outputs *outs)
{
    s->outs = outs;
}

void mend_incidents_set_annotator(struct mend_incidents *s, const struct mend_incident_annotator *a)
{
    if (a)
        s->annot = *a;
    else
        memset(&s->annot, 0, sizeof s->annot);
}

static void js_time(struct mend_wbuf *w, const char *name, int64_t t)
{
    char b[64], n[40];
    mend_json_raw(w, ",\"");
    mend_json_raw(w, name);
    mend_json_raw(w, "\":\"");
    mend_json_raw(w, mend_time_format(t, b, sizeof b));
    snprintf(n, sizeof n, "\",\"%s_ns\":%" PRId64, name, t);
    mend_json_raw(w, n);
}

/* Writes the series part of a canonical key as a map: "name" (measurement or
 * metric), "labels" (tags), and "field" (line protocol's field key). Keys
 * are `name[,label=value]...[ field]` with `\,` `\=` `\ ` escapes (see
 * ingest.h); a key of another shape (a CSV column) is only a name. */
static void js_series(struct mend_wbuf *w, const char *key)
{
    size_t n = strlen(key);
    char *buf = malloc(n + 1);
    if (!buf) {
        w->failed = 1;
        return;
    }
    /* split on unescaped separators, unescaping into buf: parts are
     * recorded as (offset, length) in buf */
    size_t off[2 * 64 + 2], len[2 * 64 + 2];
    int kind[2 * 64 + 2]; /* 0 name, 1 label key, 2 label value, 3 field */
    size_t np = 0, o = 0;
    int k = 0, ok = 1;
    off[0] = 0;
    kind[0] = 0;
    for (size_t i = 0; i < n && ok; i++) {
        char c = key[i];
        if (c == '\\' && i + 1 < n && (key[i + 1] == ',' || key[i + 1] == '=' || key[i + 1] == ' ' ||
                                        key[i + 1] == '\\')) {
            buf[o++] = key[++i];
            continue;
        }
        int sep = (c == ',' && k != 3) || (c == '=' && k == 1) || (c == ' ' && k != 3);
        if (!sep) {
            buf[o++] = c;
            continue;
        }
        len[np] = o - off[np];
        if (++np >= sizeof off / sizeof off[0] - 1) {
            ok = 0;
            break;
        }
        off[np] = o;
        k = c == ',' ? 1 : c == '=' ? 2 : 3;
        if (c == '=' && kind[np - 1] != 1)
            ok = 0;
        kind[np] = k;
    }
    if (ok) {
        len[np] = o - off[np];
        np++;
        /* every label key needs its value */
        for (size_t i = 0; i < np; i++)
            if (kind[i] == 1 && (i + 1 >= np || kind[i + 1] != 2))
                ok = 0;
    }
    mend_json_raw(w, ",\"series\":{\"name\":");
    if (!ok) {
        mend_json_str(w, key, n);
        mend_json_raw(w, "}");
        free(buf);
        return;
    }
    mend_json_str(w, buf + off[0], len[0]);
    mend_json_raw(w, ",\"labels\":{");
    int first = 1;
    for (size_t i = 1; i < np; i++) {
        if (kind[i] != 1)
            continue;
        mend_json_raw(w, first ? "" : ",");
        first = 0;
        mend_json_str(w, buf + off[i], len[i]);
        mend_json_raw(w, ":");
        mend_json_str(w, buf + off[i + 1], len[i + 1]);
    }
    mend_json_raw(w, "}");
    for (size_t i = 1; i < np; i++) {
        if (kind[i] == 3) {
            mend_json_raw(w, ",\"field\":");
            mend_json_str(w, buf + off[i], len[i]);
        }
    }
    mend_json_raw(w, "}");
    free(buf);
}

static const char *absence_name(enum mend_absence_state a)
{
    return a == MEND_ABS_BACK ? "back" : a == MEND_ABS_GONE ? "gone" : "missing";
}

/* What caused an update line beyond its signal: an excursion's kind, score
 * and run start. */
struct evinfo {
    const char *kind;
    double score;
    int64_t start;
};

/* ev: what caused this line (NULL for open and resolve); evkind overrides
 * its kind name ("back", "gone"); x, when not NULL, is an excursion's
 * (overrides evkind). */
static void emit_x(struct mend_incidents *s, const char *status, const struct mend_incident *inc,
                   int64_t now, const struct mend_incident_signal *ev, const char *evkind,
                   const struct evinfo *x)
{
    if (!s->out.emit && !s->outs)
        return;
    struct mend_wbuf *w = &s->json;
    w->len = 0;
    char b[64];
    mend_json_raw(w, "{\"type\":\"");
    mend_json_raw(w, status);
    snprintf(b, sizeof b, "\",\"incident\":%" PRIu64 ",\"entity\":", inc->id);
    mend_json_raw(w, b);
    mend_json_str(w, inc->entity, strlen(inc->entity));
    js_time(w, "time", now);
    js_time(w, "start", inc->start_t);
    js_time(w, "last", inc->last_t);
    mend_json_raw(w, ",\"max_score\":");
    mend_json_num(w, inc->max_score);
    if (ev) {
        mend_json_raw(w, ",\"event\":{\"key\":");
        mend_json_str(w, ev->key, strlen(ev->key));
        mend_json_raw(w, ",\"kind\":\"");
        mend_json_raw(w, x ? x->kind : evkind ? evkind : mend_anomaly_kind_name(ev->kind));
        mend_json_raw(w, "\"");
        js_time(w, "time", now);
        if (x)
            js_time(w, "start", x->start);
        mend_json_raw(w, ",\"score\":");
        mend_json_num(w, x ? x->score : evkind ? 0.0 : ev->max_score);
        mend_json_raw(w, "}");
    }
    snprintf(b, sizeof b, ",\"events\":%u,\"signals_dropped\":%u", inc->events, inc->dropped_signals);
    mend_json_raw(w, b);
    /* only incidents that had excursions say so: every other line stays
     * as it was before excursions existed */
    if (inc->excursions || inc->dropped_excursions) {
        snprintf(b, sizeof b, ",\"excursions\":%u", inc->excursions);
        mend_json_raw(w, b);
        if (inc->dropped_excursions) {
            snprintf(b, sizeof b, ",\"excursions_dropped\":%u", inc->dropped_excursions);
            mend_json_raw(w, b);
        }
    }
    mend_json_raw(w, ",\"signals\":[");
    for (uint32_t i = 0; i < inc->n_signals; i++) {
        const struct mend_incident_signal *g = &inc->signals[i];
        mend_json_raw(w, i ? ",{\"key\":" : "{\"key\":");
        mend_json_str(w, g->key, strlen(g->key));
        mend_json_raw(w, ",\"kind\":\"");
        mend_json_raw(w, mend_anomaly_kind_name(g->kind));
        mend_json_raw(w, "\"");
        if (g->kind != MEND_ANOM_MULTIVARIATE) /* its key names the entity and model, not a series */
            js_series(w, g->key);
        js_time(w, "first", g->first_t);
        js_time(w, "start", g->start_t);
        if (g->kind == MEND_ANOM_ABSENCE) {
            js_time(w, "last_seen", g->last_seen_t);
            mend_json_raw(w, ",\"interval_s\":");
            mend_json_num(w, (double)g->interval_ns / 1e9);
            mend_json_raw(w, ",\"state\":\"");
            mend_json_raw(w, absence_name(g->absence));
            mend_json_raw(w, "\"");
            if (g->absence != MEND_ABS_MISSING)
                js_time(w, g->absence == MEND_ABS_BACK ? "back" : "gone", g->back_t);
        }
        mend_json_raw(w, ",\"score\":");
        mend_json_num(w, g->max_score);
        mend_json_raw(w, ",\"value\":");
        mend_json_num(w, g->last_value);
        mend_json_raw(w, ",\"expected\":");
        mend_json_num(w, g->expected);
        const char *nt, *ne;
        size_t ntl, nel;
        if (s->note.note && s->note.note(s->note.ctx, g->key, strlen(g->key), &nt, &ntl, &ne, &nel)) {
            mend_json_raw(w, ",\"log\":{\"template\":");
            mend_json_str(w, nt, ntl);
            mend_json_raw(w, ",\"example\":");
            mend_json_str(w, ne, nel);
            mend_json_raw(w, "}");
        }
        snprintf(b, sizeof b, ",\"events\":%u}", g->events);
        mend_json_raw(w, b);
    }
    mend_json_raw(w, "]");
    if (s->annot.annotate && strcmp(status, "resolve") != 0)
        s->annot.annotate(s->annot.ctx, status, inc, now, w);
    mend_json_raw(w, "}");
    if (w->failed) {
        /* out of memory for the line: say so in the stats, start afresh */
        s->st.unsent++;
        mend_wbuf_fini(w);
        return;
    }
    if (s->out.emit)
        s->out.emit(s->out.ctx, status, inc, (const char *)w->data, w->len);
    if (s->outs)
        mend_outputs_emit(s->outs, status, inc, (const char *)w->data, w->len);
}

static void emit(struct mend_incidents *s, const char *status, const struct mend_incident *inc,
                 int64_t now, const struct mend_incident_signal *ev, const char *evkind)
{
    emit_x(s, status, inc, now, ev, evkind, NULL);
}

/* Grows the scope index to hold scope. The capacity is a size_t and every
 * step is checked, so no scope value can wrap it (a uint32_t capacity
 * doubled past 2^31 used to become 0 and loop for ever); callers bound
 * scope by the entity count, which bounds the memory. */
static int scope_set(struct mend_incidents *s, uint32_t scope, uint32_t idx1)
{
    if (scope >= s->cap_scope) {
        size_t cap = s->cap_scope ? s->cap_scope : 64;
        while (cap <= scope) {
            if (cap > SIZE_MAX / 2 / sizeof *s->by_scope)
                return MEND_ENOMEM;
            cap *= 2;
        }
        uint32_t *n = realloc(s->by_scope, cap * sizeof *n);
        if (!n)
            return MEND_ENOMEM;
        memset(n + s->cap_scope, 0, (cap - s->cap_scope) * sizeof *n);
        s->by_scope = n;
        s->cap_scope = cap;
    }
    s->by_scope[scope] = idx1;
    return MEND_OK;
}

/* Next capacity for an array of cap elements that may hold up to max:
 * doubling, clamped to max, never wrapping. */
static uint32_t grow_cap(uint32_t cap, uint32_t first, uint32_t max)
{
    if (cap == 0)
        return first < max ? first : max;
    return cap > max / 2 ? max : cap * 2;
}

static int open_reserve(struct mend_incidents *s)
{
    if (s->n_open < s->cap_open)
        return MEND_OK;
    uint32_t cap = grow_cap(s->cap_open, 16, s->conf.max_open);
    if (cap <= s->n_open)
        return MEND_ECAP;
    struct mend_incident **n = realloc(s->open, (size_t)cap * sizeof *n);
    if (!n)
        return MEND_ENOMEM;
    s->open = n;
    s->cap_open = cap;
    return MEND_OK;
}

static uint32_t scope_of(const struct mend_incidents *s, uint32_t entity)
{
    return s->conf.group_by_entity ? entity : 0;
}

static int signal_add(struct mend_incidents *s, struct mend_incident *inc,
                      const struct mend_anomaly *a, int *changed)
{
    for (uint32_t i = 0; i < inc->n_signals; i++) {
        struct mend_incident_signal *g = &inc->signals[i];
        if (g->kind == a->kind && g->series_id == a->series_id &&
            (a->series_id != UINT32_MAX ||
             (strlen(g->key) == a->key_len && !memcmp(g->key, a->key, a->key_len)))) {
            g->events++;
            g->last_t = a->t_ns;
            g->start_t = a->t_ns; /* an event is the first point of a run */
            g->last_value = a->value;
            if (a->score > g->max_score) {
                g->max_score = a->score;
                g->expected = a->expected;
            }
            if (a->kind == MEND_ANOM_ABSENCE) {
                g->absence = MEND_ABS_MISSING; /* missing again */
                g->last_seen_t = a->last_seen_ns;
                g->interval_ns = a->interval_ns;
            }
            *changed = (int)i + 1;
            return MEND_OK;
        }
    }
    if (inc->n_signals >= s->conf.max_signals) {
        inc->dropped_signals++;
        return MEND_OK;
    }
    if (inc->n_signals == inc->cap_signals) {
        uint32_t cap = grow_cap(inc->cap_signals, 4, s->conf.max_signals);
        struct mend_incident_signal *n = realloc(inc->signals, (size_t)cap * sizeof *n);
        if (!n)
            return MEND_ENOMEM;
        inc->signals = n;
        inc->cap_signals = cap;
    }
    struct mend_incident_signal *g = &inc->signals[inc->n_signals];
    memset(g, 0, sizeof *g);
    g->key = malloc(a->key_len + 1);
    if (!g->key)
        return MEND_ENOMEM;
    memcpy(g->key, a->key, a->key_len);
    g->key[a->key_len] = '\0';
    g->series_id = a->series_id;
    g->kind = a->kind;
    g->first_t = g->last_t = g->start_t = a->t_ns;
    g->last_seen_t = a->last_seen_ns;
    g->interval_ns = a->interval_ns;
    g->absence = MEND_ABS_MISSING;
    g->max_score = a->score;
    g->last_value = a->value;
    g->expected = a->expected;
    g->events = 1;
    inc->n_signals++;
    *changed = (int)inc->n_signals;
    return MEND_OK;
}

int mend_incidents_add(struct mend_incidents *s, const struct mend_anomaly *a)
{
    uint32_t scope = scope_of(s, a->entity_id);
    uint32_t idx1 = scope < s->cap_scope ? s->by_scope[scope] : 0;
    struct mend_incident *inc = idx1 ? s->open[idx1 - 1] : NULL;
    if (inc && sat_sub(a->t_ns, inc->last_t) > s->conf.resolve_after_ns) {
        /* the old one went quiet before this event: close it first, unless
         * a series of it is still missing -- then it is still open, and
         * this event joins it */
        mend_incidents_advance(s, a->t_ns);
        idx1 = scope < s->cap_scope ? s->by_scope[scope] : 0;
        inc = idx1 ? s->open[idx1 - 1] : NULL;
    }
    int opened = 0, changed = 0;
    if (!inc) {
        if (s->n_open >= s->conf.max_open) {
            s->st.refused++;
            return MEND_ECAP;
        }
        int rc = open_reserve(s);
        if (rc != MEND_OK)
            return rc;
        inc = calloc(1, sizeof *inc);
        if (!inc)
            return MEND_ENOMEM;
        const char *en = s->conf.group_by_entity && a->entity ? a->entity : "";
        size_t el = s->conf.group_by_entity && a->entity ? a->entity_len : 0;
        inc->entity = malloc(el + 1);
        if (!inc->entity || scope_set(s, scope, s->n_open + 1)) {
            mend_incident_free(inc);
            return MEND_ENOMEM;
        }
        memcpy(inc->entity, en, el);
        inc->entity[el] = '\0';
        inc->id = s->next_id++;
        inc->entity_id = scope;
        inc->start_t = inc->last_t = a->t_ns;
        s->open[s->n_open++] = inc;
        s->st.opened++;
        opened = 1;
    }
    inc->events++;
    if (a->t_ns > inc->last_t)
        inc->last_t = a->t_ns;
    if (a->score > inc->max_score)
        inc->max_score = a->score;
    int rc = signal_add(s, inc, a, &changed);
    if (opened) {
        emit(s, "open", inc, a->t_ns, NULL, NULL);
    } else {
        /* every event is a line, with its own time and signal, even when no
         * score rose: a second spike, or a fault that joins an incident
         * noise opened, must show (a dropped signal shows in the count) */
        s->st.updated++;
        emit(s, "update", inc, a->t_ns, changed ? &inc->signals[changed - 1] : NULL, NULL);
    }
    return rc;
}

int mend_incidents_excursion(struct mend_incidents *s, const struct mend_anomaly *a, int64_t start_ns,
                             double before, double peak)
{
    /* the cheap test first: most rises of a run cross nothing */
    if (!(before < s->watch_ev && peak >= s->watch_ev) || a->kind != MEND_ANOM_SCORE)
        return MEND_OK;
    uint32_t scope = scope_of(s, a->entity_id);
    uint32_t idx1 = scope < s->cap_scope ? s->by_scope[scope] : 0;
    if (!idx1)
        return MEND_OK;
    struct mend_incident *inc = s->open[idx1 - 1];
    /* quiet for resolve_after: it resolves at the next tick, it is not
     * watching any more */
    if (sat_sub(a->t_ns, inc->last_t) > s->conf.resolve_after_ns)
        return MEND_OK;
    /* the key too: a series id freed by eviction may name another series
     * now (this path runs once per crossing, not per sample) */
    struct mend_incident_signal *g = NULL;
    for (uint32_t i = 0; i < inc->n_signals && !g; i++) {
        struct mend_incident_signal *h = &inc->signals[i];
        if (h->kind == MEND_ANOM_SCORE && h->series_id == a->series_id &&
            strlen(h->key) == a->key_len && !memcmp(h->key, a->key, a->key_len))
            g = h;
    }
    if (!g)
        return MEND_OK;
    if (inc->excursions >= s->conf.max_excursions) {
        if (inc->dropped_excursions < UINT32_MAX)
            inc->dropped_excursions++;
        s->st.excursions_dropped++;
        return MEND_ECAP;
    }
    inc->excursions++;
    g->start_t = start_ns; /* the signal shows its new start */
    g->last_value = a->value;
    s->st.updated++;
    s->st.excursions++;
    struct evinfo x = {"excursion", a->score, start_ns};
    emit_x(s, "update", inc, a->t_ns, g, NULL, &x);
    return MEND_OK;
}

static int still_missing(const struct mend_incident *inc)
{
    for (uint32_t k = 0; k < inc->n_signals; k++)
        if (inc->signals[k].kind == MEND_ANOM_ABSENCE && inc->signals[k].absence == MEND_ABS_MISSING)
            return 1;
    return 0;
}

void mend_incidents_series_back(struct mend_incidents *s, uint32_t series_id, int64_t t, int back)
{
    for (uint32_t i = 0; i < s->n_open; i++) {
        struct mend_incident *inc = s->open[i];
        for (uint32_t k = 0; k < inc->n_signals; k++) {
            struct mend_incident_signal *g = &inc->signals[k];
            if (g->kind != MEND_ANOM_ABSENCE || g->series_id != series_id || g->absence != MEND_ABS_MISSING)
                continue;
            g->absence = back ? MEND_ABS_BACK : MEND_ABS_GONE;
            g->back_t = t;
            s->st.updated++;
            emit(s, "update", inc, t, g, back ? "back" : "gone");
        }
    }
}

void mend_incidents_advance(struct mend_incidents *s, int64_t now)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < s->n_open; i++) {
        struct mend_incident *inc = s->open[i];
        /* quiet long enough, and no series of it is still missing */
        if (sat_sub(now, inc->last_t) > s->conf.resolve_after_ns && !still_missing(inc)) {
            s->st.resolved++;
            emit(s, "resolve", inc, now, NULL, NULL);
            s->by_scope[inc->entity_id] = 0;
            mend_incident_free(inc);
            continue;
        }
        s->open[j] = inc;
        s->by_scope[inc->entity_id] = j + 1;
        j++;
    }
    s->n_open = j;
}

void mend_incidents_stats(const struct mend_incidents *s, struct mend_incident_stats *st)
{
    *st = s->st;
    st->open_now = s->n_open;
}

static void put_str(struct mend_wbuf *w, const char *p)
{
    size_t n = strlen(p);
    mend_wbuf_u32(w, (uint32_t)n);
    mend_wbuf_bytes(w, p, n);
}

static char *get_str(struct mend_rbuf *r)
{
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n > MEND_INCIDENT_MAX_STR || n > mend_rbuf_remaining(r))
        return r->failed = 1, NULL;
    char *p = malloc((size_t)n + 1);
    if (!p)
        return NULL;
    mend_rbuf_bytes(r, p, n);
    p[n] = '\0';
    return p;
}

int mend_incidents_save(const struct mend_incidents *s, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, INC_STATE_VERSION);
    mend_wbuf_u64(w, s->next_id);
    mend_wbuf_u64(w, s->st.opened);
    mend_wbuf_u64(w, s->st.updated);
    mend_wbuf_u64(w, s->st.resolved);
    mend_wbuf_u64(w, s->st.refused);
    mend_wbuf_u64(w, s->st.excursions);
    mend_wbuf_u64(w, s->st.excursions_dropped);
    mend_wbuf_u32(w, s->n_open);
    for (uint32_t i = 0; i < s->n_open; i++) {
        const struct mend_incident *inc = s->open[i];
        mend_wbuf_u64(w, inc->id);
        mend_wbuf_u32(w, inc->entity_id);
        put_str(w, inc->entity);
        mend_wbuf_i64(w, inc->start_t);
        mend_wbuf_i64(w, inc->last_t);
        mend_wbuf_u32(w, inc->dropped_signals);
        mend_wbuf_u32(w, inc->events);
        mend_wbuf_f64(w, inc->max_score);
        mend_wbuf_u32(w, inc->excursions);
        mend_wbuf_u32(w, inc->dropped_excursions);
        mend_wbuf_u32(w, inc->n_signals);
        for (uint32_t k = 0; k < inc->n_signals; k++) {
            const struct mend_incident_signal *g = &inc->signals[k];
            mend_wbuf_u32(w, g->series_id);
            mend_wbuf_u32(w, (uint32_t)g->kind);
            put_str(w, g->key);
            mend_wbuf_i64(w, g->first_t);
            mend_wbuf_i64(w, g->last_t);
            mend_wbuf_f64(w, g->max_score);
            mend_wbuf_f64(w, g->last_value);
            mend_wbuf_f64(w, g->expected);
            mend_wbuf_u32(w, g->events);
            mend_wbuf_i64(w, g->start_t);
            mend_wbuf_i64(w, g->last_seen_t);
            mend_wbuf_i64(w, g->interval_ns);
            mend_wbuf_i64(w, g->back_t);
            mend_wbuf_u8(w, (uint8_t)g->absence);
        }
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

/* Reads one incident; *res is NULL on error. */
static int load_incident(const struct mend_incidents *s, struct mend_rbuf *r, uint32_t ver,
                         uint32_t n_entities, uint32_t n_series, struct mend_incident **res)
{
    *res = NULL;
    struct mend_incident *inc = calloc(1, sizeof *inc);
    if (!inc)
        return MEND_ENOMEM;
    int rc = MEND_ECORRUPT;
    inc->id = mend_rbuf_u64(r);
    inc->entity_id = mend_rbuf_u32(r);
    inc->entity = get_str(r);
    inc->start_t = mend_rbuf_i64(r);
    inc->last_t = mend_rbuf_i64(r);
    inc->dropped_signals = mend_rbuf_u32(r);
    inc->events = mend_rbuf_u32(r);
    inc->max_score = mend_rbuf_f64(r);
    if (ver >= 3) {
        inc->excursions = mend_rbuf_u32(r);
        inc->dropped_excursions = mend_rbuf_u32(r);
    }
    uint32_t ns = mend_rbuf_u32(r);
    if (!inc->entity && !r->failed)
        rc = MEND_ENOMEM;
    if (r->failed || !inc->entity || inc->entity_id >= n_entities || ns > s->conf.max_signals)
        goto fail;
    if (ns) {
        /* ns is bounded by max_signals above, so this is bounded too */
        inc->signals = calloc(ns, sizeof *inc->signals);
        if (!inc->signals) {
            rc = MEND_ENOMEM;
            goto fail;
        }
        inc->cap_signals = ns;
    }
    for (uint32_t k = 0; k < ns; k++) {
        struct mend_incident_signal *g = &inc->signals[k];
        g->series_id = mend_rbuf_u32(r);
        uint32_t kind = mend_rbuf_u32(r);
        g->key = get_str(r);
        inc->n_signals = k + 1; /* so the key is freed on failure */
        g->first_t = mend_rbuf_i64(r);
        g->last_t = mend_rbuf_i64(r);
        g->max_score = mend_rbuf_f64(r);
        g->last_value = mend_rbuf_f64(r);
        g->expected = mend_rbuf_f64(r);
        g->events = mend_rbuf_u32(r);
        g->start_t = mend_rbuf_i64(r);
        g->last_seen_t = mend_rbuf_i64(r);
        g->interval_ns = mend_rbuf_i64(r);
        g->back_t = mend_rbuf_i64(r);
        uint8_t abs_state = mend_rbuf_u8(r);
        if (abs_state > MEND_ABS_GONE)
            goto fail;
        g->absence = (enum mend_absence_state)abs_state;
        if (!g->key && !r->failed)
            rc = MEND_ENOMEM;
        if (r->failed || !g->key || kind > MEND_ANOM_MULTIVARIATE ||
            (g->series_id >= n_series && g->series_id != UINT32_MAX))
            goto fail;
        g->kind = (enum mend_anomaly_kind)kind;
    }
    *res = inc;
    return MEND_OK;
fail:
    mend_incident_free(inc);
    return rc;
}

int mend_incidents_load(struct mend_incidents *s, struct mend_rbuf *r, uint32_t n_entities,
                        uint32_t n_series)
{
    uint32_t ver = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    if (ver != INC_STATE_VERSION && ver != 2u)
        return MEND_EVERSION;
    struct mend_incident_stats st = s->st;
    uint64_t next_id = mend_rbuf_u64(r);
    st.opened = mend_rbuf_u64(r);
    st.updated = mend_rbuf_u64(r);
    st.resolved = mend_rbuf_u64(r);
    st.refused = mend_rbuf_u64(r);
    st.excursions = st.excursions_dropped = 0;
    if (ver >= 3) {
        st.excursions = mend_rbuf_u64(r);
        st.excursions_dropped = mend_rbuf_u64(r);
    }
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n > s->conf.max_open || next_id == 0 || next_id == UINT64_MAX)
        return MEND_ECORRUPT;
    /* everything is read into fresh storage first; the current state is
     * replaced only once the whole section checked out */
    struct mend_incident **open = NULL;
    uint32_t *by_scope = NULL;
    size_t cap_scope = 0;
    int rc = MEND_OK;
    if (n) {
        open = calloc(n, sizeof *open); /* n <= max_open */
        if (!open)
            return MEND_ENOMEM;
    }
    uint64_t prev_id = 0;
    uint32_t got = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct mend_incident *inc;
        rc = load_incident(s, r, ver, n_entities, n_series, &inc);
        if (rc != MEND_OK)
            break;
        open[got++] = inc;
        /* open incidents are kept in opening order, so ids rise strictly */
        if (inc->id <= prev_id || inc->id >= next_id) {
            rc = MEND_ECORRUPT;
            break;
        }
        prev_id = inc->id;
        /* entity_id < n_entities, so the index is bounded by the entity
         * count; entity_id < 2^32 keeps cap below 2^33: no wrap */
        if (inc->entity_id >= cap_scope) {
            size_t cap = cap_scope ? cap_scope : 64;
            while (cap <= inc->entity_id)
                cap *= 2;
            uint32_t *b = cap <= SIZE_MAX / sizeof *b ? realloc(by_scope, cap * sizeof *b) : NULL;
            if (!b) {
                rc = MEND_ENOMEM;
                break;
            }
            memset(b + cap_scope, 0, (cap - cap_scope) * sizeof *b);
            by_scope = b;
            cap_scope = cap;
        }
        if (by_scope[inc->entity_id]) {
            rc = MEND_ECORRUPT; /* two open incidents for one scope */
            break;
        }
        by_scope[inc->entity_id] = got;
    }
    if (rc == MEND_OK && r->failed)
        rc = MEND_ECORRUPT;
    if (rc != MEND_OK) {
        for (uint32_t i = 0; i < got; i++)
            mend_incident_free(open[i]);
        free(open);
        free(by_scope);
        return rc;
    }
    for (uint32_t i = 0; i < s->n_open; i++)
        mend_incident_free(s->open[i]);
    free(s->open);
    free(s->by_scope);
    s->open = open;
    s->n_open = s->cap_open = n;
    s->by_scope = by_scope;
    s->cap_scope = cap_scope;
    s->next_id = next_id;
    s->st = st;
    return MEND_OK;
}
