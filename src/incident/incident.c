/* incident.c -- grouping of anomaly events into incidents, JSON lines out
 * (see incident.h). Open incidents are few; they sit in a small array and a
 * per-scope index finds the one an event belongs to. */
#include "mend/incident.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INC_STATE_VERSION 1u

struct mend_incidents {
    struct mend_incident_conf conf;
    struct mend_incident_out out;
    struct mend_incident **open;   /* open incidents, in opening order */
    uint32_t n_open, cap_open;
    uint32_t *by_scope;            /* scope (entity id or 0) -> open index + 1 */
    uint32_t cap_scope;
    uint64_t next_id;
    struct mend_incident_stats st;
    struct mend_wbuf json;         /* reused for every line */
};

void mend_incident_conf_defaults(struct mend_incident_conf *c)
{
    c->resolve_after_ns = 10LL * 60 * 1000000000LL;
    c->max_signals = 64;
    c->max_open = 10000;
    c->group_by_entity = 1;
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
    if (!c || c->max_signals == 0 || c->max_open == 0 || c->resolve_after_ns <= 0)
        return MEND_EINVAL;
    struct mend_incidents *s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    s->conf = *c;
    if (out)
        s->out = *out;
    s->next_id = 1;
    mend_wbuf_init(&s->json);
    *res = s;
    return MEND_OK;
}

static void incident_free(struct mend_incident *inc)
{
    if (!inc)
        return;
    for (uint32_t i = 0; i < inc->n_signals; i++)
        free(inc->signals[i].key);
    free(inc->signals);
    free(inc->entity);
    free(inc);
}

void mend_incidents_free(struct mend_incidents *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_open; i++)
        incident_free(s->open[i]);
    free(s->open);
    free(s->by_scope);
    mend_wbuf_fini(&s->json);
    free(s);
}

static void js_str(struct mend_wbuf *w, const char *p, size_t n)
{
    mend_wbuf_u8(w, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\') {
            mend_wbuf_u8(w, '\\');
            mend_wbuf_u8(w, ch);
        } else if (ch < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            mend_wbuf_bytes(w, esc, 6);
        } else {
            mend_wbuf_u8(w, ch);
        }
    }
    mend_wbuf_u8(w, '"');
}

static void js_raw(struct mend_wbuf *w, const char *s)
{
    mend_wbuf_bytes(w, s, strlen(s));
}

static void js_num(struct mend_wbuf *w, double v)
{
    char b[40];
    if (!isfinite(v))
        js_raw(w, "null");
    else {
        snprintf(b, sizeof b, "%.6g", v);
        js_raw(w, b);
    }
}

static void js_time(struct mend_wbuf *w, const char *name, int64_t t)
{
    char b[64], n[40];
    js_raw(w, ",\"");
    js_raw(w, name);
    js_raw(w, "\":\"");
    js_raw(w, mend_time_format(t, b, sizeof b));
    snprintf(n, sizeof n, "\",\"%s_ns\":%" PRId64, name, t);
    js_raw(w, n);
}

static void emit(struct mend_incidents *s, const char *status, const struct mend_incident *inc,
                 int64_t now)
{
    if (!s->out.emit)
        return;
    struct mend_wbuf *w = &s->json;
    w->len = 0;
    char b[64];
    js_raw(w, "{\"type\":\"");
    js_raw(w, status);
    snprintf(b, sizeof b, "\",\"incident\":%" PRIu64 ",\"entity\":", inc->id);
    js_raw(w, b);
    js_str(w, inc->entity, strlen(inc->entity));
    js_time(w, "time", now);
    js_time(w, "start", inc->start_t);
    js_time(w, "last", inc->last_t);
    js_raw(w, ",\"max_score\":");
    js_num(w, inc->max_score);
    snprintf(b, sizeof b, ",\"events\":%u,\"signals_dropped\":%u,\"signals\":[", inc->events,
             inc->dropped_signals);
    js_raw(w, b);
    for (uint32_t i = 0; i < inc->n_signals; i++) {
        const struct mend_incident_signal *g = &inc->signals[i];
        js_raw(w, i ? ",{\"key\":" : "{\"key\":");
        js_str(w, g->key, strlen(g->key));
        js_raw(w, ",\"kind\":\"");
        js_raw(w, mend_anomaly_kind_name(g->kind));
        js_raw(w, "\"");
        js_time(w, "first", g->first_t);
        js_raw(w, ",\"score\":");
        js_num(w, g->max_score);
        js_raw(w, ",\"value\":");
        js_num(w, g->last_value);
        js_raw(w, ",\"expected\":");
        js_num(w, g->expected);
        snprintf(b, sizeof b, ",\"events\":%u}", g->events);
        js_raw(w, b);
    }
    js_raw(w, "]}");
    if (!w->failed)
        s->out.emit(s->out.ctx, status, inc, (const char *)w->data, w->len);
}

static int scope_set(struct mend_incidents *s, uint32_t scope, uint32_t idx1)
{
    if (scope >= s->cap_scope) {
        uint32_t cap = s->cap_scope ? s->cap_scope : 64;
        while (cap <= scope)
            cap *= 2;
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
            g->last_value = a->value;
            if (a->score > g->max_score) {
                g->max_score = a->score;
                g->expected = a->expected;
                *changed = 1;
            }
            return MEND_OK;
        }
    }
    if (inc->n_signals >= s->conf.max_signals) {
        inc->dropped_signals++;
        return MEND_OK;
    }
    if (inc->n_signals == inc->cap_signals) {
        uint32_t cap = inc->cap_signals ? inc->cap_signals * 2 : 4;
        struct mend_incident_signal *n = realloc(inc->signals, cap * sizeof *n);
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
    g->first_t = g->last_t = a->t_ns;
    g->max_score = a->score;
    g->last_value = a->value;
    g->expected = a->expected;
    g->events = 1;
    inc->n_signals++;
    *changed = 1;
    return MEND_OK;
}

int mend_incidents_add(struct mend_incidents *s, const struct mend_anomaly *a)
{
    uint32_t scope = scope_of(s, a->entity_id);
    uint32_t idx1 = scope < s->cap_scope ? s->by_scope[scope] : 0;
    struct mend_incident *inc = idx1 ? s->open[idx1 - 1] : NULL;
    if (inc && a->t_ns - inc->last_t > s->conf.resolve_after_ns) {
        /* the old one went quiet before this event: close it first */
        mend_incidents_advance(s, a->t_ns);
        inc = NULL;
    }
    int opened = 0, changed = 0;
    if (!inc) {
        if (s->n_open >= s->conf.max_open) {
            s->st.refused++;
            return MEND_ECAP;
        }
        if (s->n_open == s->cap_open) {
            uint32_t cap = s->cap_open ? s->cap_open * 2 : 16;
            struct mend_incident **n = realloc(s->open, cap * sizeof *n);
            if (!n)
                return MEND_ENOMEM;
            s->open = n;
            s->cap_open = cap;
        }
        inc = calloc(1, sizeof *inc);
        if (!inc)
            return MEND_ENOMEM;
        const char *en = s->conf.group_by_entity && a->entity ? a->entity : "";
        size_t el = s->conf.group_by_entity && a->entity ? a->entity_len : 0;
        inc->entity = malloc(el + 1);
        if (!inc->entity || scope_set(s, scope, s->n_open + 1)) {
            incident_free(inc);
            return MEND_ENOMEM;
        }
        memcpy(inc->entity, en, el);
        inc->entity[el] = '\0';
        inc->id = s->next_id++;
        inc->entity_id = scope;
        inc->start_t = a->t_ns;
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
    if (opened)
        emit(s, "open", inc, a->t_ns);
    else if (changed) {
        s->st.updated++;
        emit(s, "update", inc, a->t_ns);
    }
    return rc;
}

void mend_incidents_advance(struct mend_incidents *s, int64_t now)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < s->n_open; i++) {
        struct mend_incident *inc = s->open[i];
        if (now - inc->last_t > s->conf.resolve_after_ns) {
            s->st.resolved++;
            emit(s, "resolve", inc, now);
            s->by_scope[inc->entity_id] = 0;
            incident_free(inc);
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
    if (r->failed || n > mend_rbuf_remaining(r))
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
        }
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

int mend_incidents_load(struct mend_incidents *s, struct mend_rbuf *r)
{
    if (mend_rbuf_u32(r) != INC_STATE_VERSION)
        return r->failed ? MEND_ECORRUPT : MEND_EVERSION;
    for (uint32_t i = 0; i < s->n_open; i++)
        incident_free(s->open[i]);
    s->n_open = 0;
    if (s->by_scope)
        memset(s->by_scope, 0, s->cap_scope * sizeof *s->by_scope);
    s->next_id = mend_rbuf_u64(r);
    s->st.opened = mend_rbuf_u64(r);
    s->st.updated = mend_rbuf_u64(r);
    s->st.resolved = mend_rbuf_u64(r);
    s->st.refused = mend_rbuf_u64(r);
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n > s->conf.max_open)
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        struct mend_incident *inc = calloc(1, sizeof *inc);
        if (!inc)
            return MEND_ENOMEM;
        inc->id = mend_rbuf_u64(r);
        inc->entity_id = mend_rbuf_u32(r);
        inc->entity = get_str(r);
        inc->start_t = mend_rbuf_i64(r);
        inc->last_t = mend_rbuf_i64(r);
        inc->dropped_signals = mend_rbuf_u32(r);
        inc->events = mend_rbuf_u32(r);
        inc->max_score = mend_rbuf_f64(r);
        uint32_t ns = mend_rbuf_u32(r);
        if (r->failed || !inc->entity || ns > s->conf.max_signals) {
            incident_free(inc);
            return MEND_ECORRUPT;
        }
        inc->signals = calloc(ns ? ns : 1, sizeof *inc->signals);
        inc->cap_signals = ns ? ns : 1;
        if (!inc->signals) {
            incident_free(inc);
            return MEND_ENOMEM;
        }
        for (uint32_t k = 0; k < ns; k++) {
            struct mend_incident_signal *g = &inc->signals[k];
            g->series_id = mend_rbuf_u32(r);
            g->kind = (enum mend_anomaly_kind)mend_rbuf_u32(r);
            g->key = get_str(r);
            g->first_t = mend_rbuf_i64(r);
            g->last_t = mend_rbuf_i64(r);
            g->max_score = mend_rbuf_f64(r);
            g->last_value = mend_rbuf_f64(r);
            g->expected = mend_rbuf_f64(r);
            g->events = mend_rbuf_u32(r);
            inc->n_signals = k + 1;
            if (r->failed || !g->key) {
                incident_free(inc);
                return MEND_ECORRUPT;
            }
        }
        if (s->n_open == s->cap_open) {
            uint32_t cap = s->cap_open ? s->cap_open * 2 : 16;
            struct mend_incident **o = realloc(s->open, cap * sizeof *o);
            if (!o) {
                incident_free(inc);
                return MEND_ENOMEM;
            }
            s->open = o;
            s->cap_open = cap;
        }
        s->open[s->n_open++] = inc;
        if (scope_set(s, inc->entity_id, s->n_open))
            return MEND_ENOMEM;
    }
    return MEND_OK;
}
