/* logsig.c -- log messages become per-interval samples (see
 * include/mend/logsig.h).
 *
 * One context per pipeline holds the template miner, the example line of
 * each template and one record per entity. An entity keeps its open
 * interval's counters in a dense array (emission walks it in a fixed order,
 * so a restored context emits in the order the uninterrupted one would)
 * with a small open-addressing index by template id beside it, rebuilt
 * whenever an interval closes and entries leave. Entities are found through
 * an index of the same kind by name. Examples are a ring ordered by id:
 * ids only grow, so the oldest template's example is the one dropped at the
 * cap, and a lookup is a binary search. */
#include "mend/logsig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mend/timefmt.h"

#define MAX_ENTITY 256            /* entity name bytes kept (longer are cut) */
#define MAX_INTERVAL (7LL * 86400 * 1000000000LL)
#define MIN_INTERVAL 1000000LL    /* 1 ms */
#define KEY_MAX (64 + 2 * MAX_ENTITY + 64)
#define OTHER_ID 0                /* template=other */

struct lcount {
    uint64_t id, n;
    uint32_t idle;
};

struct lent {
    char *name;
    size_t len;
    int64_t start;               /* open interval [start, start + interval) */
    uint64_t messages, created;
    uint32_t idle;               /* empty intervals in a row, for messages/new_templates */
    uint64_t sev[8];
    uint32_t sev_idle[8];
    uint8_t sev_live[8];
    struct lcount *c;
    uint32_t n, cap;
    uint32_t *idx;               /* position + 1 by id hash; idx_cap is a power of two */
    uint32_t idx_cap;
};

struct example {
    uint64_t id;
    char *text;
    uint32_t len;
};

struct mend_logsig {
    struct mend_logsig_conf conf;
    struct mend_tmpl *miner;
    struct lent *ent;
    uint32_t n_ent, cap_ent;
    uint32_t *eidx;              /* entity position + 1 by name hash */
    uint32_t eidx_cap;
    struct example *ex;          /* ring, ids rising from ex_head */
    uint32_t ex_head, ex_n, ex_cap;
    struct mend_logsig_stats st;
    char key[KEY_MAX];
};

static const char *const sev_names[8] = {"emerg", "alert", "crit", "err",
                                         "warning", "notice", "info", "debug"};

const char *mend_logsig_severity_name(int sev)
{
    return sev >= 0 && sev < 8 ? sev_names[sev] : "?";
}

int mend_logsig_severity_parse(const char *s, size_t n)
{
    static const struct {
        const char *w;
        int sev;
    } words[] = {
        {"emerg", 0}, {"emergency", 0}, {"panic", 0}, {"alert", 1}, {"crit", 2},
        {"critical", 2}, {"fatal", 2}, {"err", 3}, {"error", 3}, {"eror", 3},
        {"warn", 4}, {"warning", 4}, {"wrn", 4}, {"notice", 5}, {"info", 6},
        {"information", 6}, {"informational", 6}, {"inf", 6}, {"debug", 7},
        {"dbg", 7}, {"trace", 7}, {"verbose", 7}, {"fine", 7},
    };
    if (n == 0 || n > 16)
        return -1;
    if (n <= 2 && s[0] >= '0' && s[0] <= '9') {
        int v = s[0] - '0';
        if (n == 2) {
            if (s[1] < '0' || s[1] > '9')
                return -1;
            /* bunyan/pino: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal */
            v = v * 10 + (s[1] - '0');
            switch (v) {
            case 10: case 20: return 7;
            case 30: return 6;
            case 40: return 4;
            case 50: return 3;
            case 60: return 2;
            default: return -1;
            }
        }
        return v <= 7 ? v : -1;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].w) == n && !strncasecmp(words[i].w, s, n))
            return words[i].sev;
    return -1;
}

void mend_logsig_conf_defaults(struct mend_logsig_conf *c)
{
    memset(c, 0, sizeof *c);
    c->interval_ns = 60LL * 1000000000LL;
    c->idle_intervals = 10;
    c->max_entities = 10000;
    c->max_per_entity = 1000;
    c->max_example = 512;
    c->year = 0;
    c->syslog_entity_app = 0;
    c->json_message = "message,msg,log";
    c->json_level = "level,severity,lvl";
    c->json_time = "time,timestamp,@timestamp,ts";
    c->json_entity = "host,hostname";
    mend_tmpl_conf_defaults(&c->tmpl);
}

static int conf_check(const struct mend_logsig_conf *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->interval_ns < MIN_INTERVAL || c->interval_ns > MAX_INTERVAL)
        bad = "logs.interval: 1ms .. 7d";
    else if (c->idle_intervals > 1000)
        bad = "logs.idle_intervals: 0 .. 1000";
    else if (c->max_entities < 1 || c->max_entities > 10000000)
        bad = "logs.max_entities: 1 .. 10000000";
    else if (c->max_per_entity < 1 || c->max_per_entity > 1000000)
        bad = "logs.max_per_entity: 1 .. 1000000";
    else if (c->max_example > 65536)
        bad = "logs.max_example: 0 .. 65536";
    else if (c->year < 0 || c->year > 2261 || (c->year && c->year < 1678))
        bad = "logs.year: 0 (now) or 1678 .. 2261";
    else if (((uint64_t)c->idle_intervals + 1) * ((uint64_t)c->max_per_entity + 11) > 65536)
        /* one message closes at most idle_intervals + 1 intervals of its
         * entity, each up to max_per_entity + 11 samples: they must fit the
         * per-line sample queue of a replay (64 Ki samples) */
        bad = "logs.idle_intervals, logs.max_per_entity: (idle_intervals + 1) x (max_per_entity + 11) must be <= 65536";
    if (bad) {
        if (err && errlen)
            snprintf(err, errlen, "%s", bad);
        return MEND_EINVAL;
    }
    return mend_tmpl_conf_check(&c->tmpl, err, errlen);
}

int mend_logsig_new(const struct mend_logsig_conf *c, struct mend_logsig **out, char *err,
                    size_t errlen)
{
    struct mend_logsig_conf def;
    if (!out)
        return MEND_EINVAL;
    *out = NULL;
    if (!c) {
        mend_logsig_conf_defaults(&def);
        c = &def;
    }
    int rc = conf_check(c, err, errlen);
    if (rc != MEND_OK)
        return rc;
    struct mend_logsig *ls = calloc(1, sizeof *ls);
    if (!ls)
        return MEND_ENOMEM;
    ls->conf = *c;
    if (!ls->conf.year) {
        time_t now = time(NULL);
        struct tm tm;
        ls->conf.year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 1970;
    }
    ls->ex_cap = c->tmpl.max_templates;
    rc = mend_tmpl_new(&c->tmpl, &ls->miner);
    if (rc != MEND_OK) {
        free(ls);
        return rc;
    }
    *out = ls;
    return MEND_OK;
}

static void ent_fini(struct lent *e)
{
    free(e->name);
    free(e->c);
    free(e->idx);
}

static void clear_all(struct mend_logsig *ls)
{
    for (uint32_t i = 0; i < ls->n_ent; i++)
        ent_fini(&ls->ent[i]);
    free(ls->ent);
    free(ls->eidx);
    ls->ent = NULL;
    ls->eidx = NULL;
    ls->n_ent = ls->cap_ent = ls->eidx_cap = 0;
    for (uint32_t i = 0; i < ls->ex_n; i++)
        free(ls->ex[(ls->ex_head + i) % ls->ex_cap].text);
    free(ls->ex);
    ls->ex = NULL;
    ls->ex_head = ls->ex_n = 0;
}

void mend_logsig_free(struct mend_logsig *ls)
{
    if (!ls)
        return;
    clear_all(ls);
    mend_tmpl_free(ls->miner);
    free(ls);
}

const struct mend_logsig_conf *mend_logsig_conf(const struct mend_logsig *ls)
{
    return &ls->conf;
}

struct mend_tmpl *mend_logsig_miner(struct mend_logsig *ls)
{
    return ls->miner;
}

void mend_logsig_stats(const struct mend_logsig *ls, struct mend_logsig_stats *st)
{
    *st = ls->st;
    st->entities = ls->n_ent;
}

/* ---- indexes -------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Rebuilds e's template index for at least want entries. */
static int cidx_build(struct lent *e, uint32_t want)
{
    uint32_t cap = e->idx_cap ? e->idx_cap : 16;
    while (cap < 2 * (uint64_t)want)
        cap *= 2;
    if (cap != e->idx_cap) {
        uint32_t *p = malloc((size_t)cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        free(e->idx);
        e->idx = p;
        e->idx_cap = cap;
    }
    memset(e->idx, 0, (size_t)e->idx_cap * sizeof *e->idx);
    for (uint32_t i = 0; i < e->n; i++) {
        uint32_t h = (uint32_t)mix(e->c[i].id) & (e->idx_cap - 1);
        while (e->idx[h])
            h = (h + 1) & (e->idx_cap - 1);
        e->idx[h] = i + 1;
    }
    return MEND_OK;
}

static struct lcount *cfind(struct lent *e, uint64_t id)
{
    if (!e->idx_cap)
        return NULL;
    uint32_t h = (uint32_t)mix(id) & (e->idx_cap - 1);
    while (e->idx[h]) {
        struct lcount *c = &e->c[e->idx[h] - 1];
        if (c->id == id)
            return c;
        h = (h + 1) & (e->idx_cap - 1);
    }
    return NULL;
}

/* A new counter for id (not present). NULL on ENOMEM. */
static struct lcount *cadd(struct lent *e, uint64_t id)
{
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 8;
        struct lcount *p = realloc(e->c, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        e->c = p;
        e->cap = cap;
    }
    if (2 * ((uint64_t)e->n + 1) > e->idx_cap) {
        e->c[e->n] = (struct lcount){id, 0, 0};
        e->n++;
        if (cidx_build(e, e->n) != MEND_OK) {
            e->n--;
            return NULL;
        }
        return &e->c[e->n - 1];
    }
    uint32_t h = (uint32_t)mix(id) & (e->idx_cap - 1);
    while (e->idx[h])
        h = (h + 1) & (e->idx_cap - 1);
    e->c[e->n] = (struct lcount){id, 0, 0};
    e->idx[h] = ++e->n;
    return &e->c[e->n - 1];
}

static int eidx_build(struct mend_logsig *ls, uint32_t want)
{
    uint32_t cap = ls->eidx_cap ? ls->eidx_cap : 16;
    while (cap < 2 * (uint64_t)want)
        cap *= 2;
    if (cap != ls->eidx_cap) {
        uint32_t *p = malloc((size_t)cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        free(ls->eidx);
        ls->eidx = p;
        ls->eidx_cap = cap;
    }
    memset(ls->eidx, 0, (size_t)ls->eidx_cap * sizeof *ls->eidx);
    for (uint32_t i = 0; i < ls->n_ent; i++) {
        uint32_t h = (uint32_t)mend_hash(MEND_HASH_SEED, ls->ent[i].name, ls->ent[i].len) &
                     (ls->eidx_cap - 1);
        while (ls->eidx[h])
            h = (h + 1) & (ls->eidx_cap - 1);
        ls->eidx[h] = i + 1;
    }
    return MEND_OK;
}

static struct lent *efind(struct mend_logsig *ls, const char *name, size_t len)
{
    if (!ls->eidx_cap)
        return NULL;
    uint32_t h = (uint32_t)mend_hash(MEND_HASH_SEED, name, len) & (ls->eidx_cap - 1);
    while (ls->eidx[h]) {
        struct lent *e = &ls->ent[ls->eidx[h] - 1];
        if (e->len == len && !memcmp(e->name, name, len))
            return e;
        h = (h + 1) & (ls->eidx_cap - 1);
    }
    return NULL;
}

/* A new entity (not present); at the cap the one with the oldest open
 * interval goes first. NULL on ENOMEM. */
static struct lent *eadd(struct mend_logsig *ls, const char *name, size_t len, int64_t start)
{
    if (ls->n_ent >= ls->conf.max_entities) {
        uint32_t old = 0;
        for (uint32_t i = 1; i < ls->n_ent; i++)
            if (ls->ent[i].start < ls->ent[old].start)
                old = i;
        ent_fini(&ls->ent[old]);
        ls->ent[old] = ls->ent[--ls->n_ent];
        ls->st.entity_evicted++;
        if (eidx_build(ls, ls->n_ent) != MEND_OK)
            return NULL;
    }
    if (ls->n_ent == ls->cap_ent) {
        uint32_t cap = ls->cap_ent ? ls->cap_ent * 2 : 8;
        if (cap > ls->conf.max_entities)
            cap = ls->conf.max_entities;
        struct lent *p = realloc(ls->ent, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        ls->ent = p;
        ls->cap_ent = cap;
    }
    struct lent *e = &ls->ent[ls->n_ent];
    memset(e, 0, sizeof *e);
    e->name = malloc(len + 1);
    if (!e->name)
        return NULL;
    memcpy(e->name, name, len);
    e->name[len] = 0;
    e->len = len;
    e->start = start;
    ls->n_ent++;
    if (eidx_build(ls, ls->n_ent) != MEND_OK) {
        ls->n_ent--;
        free(e->name);
        return NULL;
    }
    return e;
}

/* ---- examples --------------------------------------------------------------- */

static struct example *ex_at(const struct mend_logsig *ls, uint32_t i)
{
    return &ls->ex[(ls->ex_head + i) % ls->ex_cap];
}

static const struct example *ex_find(const struct mend_logsig *ls, uint64_t id)
{
    uint32_t lo = 0, hi = ls->ex_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t v = ex_at(ls, mid)->id;
        if (v == id)
            return ex_at(ls, mid);
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Keeps text as the example of id (ids arrive rising). */
static int ex_push(struct mend_logsig *ls, uint64_t id, const char *text, size_t len)
{
    if (!ls->ex_cap || (ls->ex_n && id <= ex_at(ls, ls->ex_n - 1)->id))
        return MEND_OK; /* the ring stays sorted by id */
    if (!ls->ex && !(ls->ex = calloc(ls->ex_cap, sizeof *ls->ex)))
        return MEND_ENOMEM;
    if (len > ls->conf.max_example)
        len = ls->conf.max_example;
    char *t = malloc(len + 1);
    if (!t)
        return MEND_ENOMEM;
    memcpy(t, text, len);
    t[len] = 0;
    if (ls->ex_n == ls->ex_cap) {
        free(ex_at(ls, 0)->text);
        ls->ex_head = (ls->ex_head + 1) % ls->ex_cap;
        ls->ex_n--;
    }
    struct example *x = ex_at(ls, ls->ex_n++);
    x->id = id;
    x->text = t;
    x->len = (uint32_t)len;
    return MEND_OK;
}

/* ---- emission ------------------------------------------------------------------ */

/* Appends s[0, n) with line-protocol tag escaping. */
static size_t put_esc(char *k, size_t at, const char *s, size_t n)
{
    for (size_t i = 0; i < n && at + 2 < KEY_MAX; i++) {
        if (s[i] == ',' || s[i] == '=' || s[i] == ' ' || s[i] == '\\')
            k[at++] = '\\';
        k[at++] = s[i];
    }
    return at;
}

static size_t put(char *k, size_t at, const char *s)
{
    /* bytes, not memcpy: the key is sized for every part (entity names are
     * cut at MAX_ENTITY), the bound only guards the buffer */
    for (; *s && at + 1 < KEY_MAX; s++)
        k[at++] = *s;
    return at;
}

/* "logs[,TAG=E][,name=val] field", tags sorted by key. */
static size_t build_key(struct mend_logsig *ls, const struct lent *e, const char *etag,
                        const char *name, const char *val, const char *field)
{
    char *k = ls->key;
    size_t at = put(k, 0, "logs");
    int ent_first = !name || strcmp(etag, name) < 0;
    if (name && !ent_first) {
        at = put(k, at, ",");
        at = put(k, at, name);
        at = put(k, at, "=");
        at = put(k, at, val);
    }
    if (e->len) {
        at = put(k, at, ",");
        at = put_esc(k, at, etag, strlen(etag));
        at = put(k, at, "=");
        at = put_esc(k, at, e->name, e->len);
    }
    if (name && ent_first) {
        at = put(k, at, ",");
        at = put(k, at, name);
        at = put(k, at, "=");
        at = put(k, at, val);
    }
    at = put(k, at, " ");
    at = put(k, at, field);
    k[at] = 0;
    return at;
}

static int emit1(struct mend_logsig *ls, const struct lent *e, const char *etag,
                 const char *name, const char *val, const char *field, int64_t t, double v,
                 mend_logsig_emit_fn emit, void *ctx)
{
    struct mend_point pt;
    pt.key_len = build_key(ls, e, etag, name, val, field);
    pt.key = ls->key;
    pt.entity = e->len ? e->name : NULL;
    pt.entity_len = e->len;
    pt.time_ns = t;
    pt.has_time = 1;
    pt.value = v;
    ls->st.emitted++;
    return emit ? emit(ctx, &pt) : MEND_OK;
}

/* Emits e's open interval (stamped with its end), resets it and drops the
 * series that have been empty for idle_intervals. */
static int close_interval(struct mend_logsig *ls, struct lent *e, const char *etag,
                          mend_logsig_emit_fn emit, void *ctx)
{
    const int64_t t = e->start + ls->conf.interval_ns;
    const uint32_t idle = ls->conf.idle_intervals;
    char val[24];
    int rc = MEND_OK, r;
    ls->st.intervals++;
    if (e->messages || e->idle < idle) {
        if ((r = emit1(ls, e, etag, NULL, NULL, "messages", t, (double)e->messages, emit, ctx)) < 0 && !rc)
            rc = r;
        if ((r = emit1(ls, e, etag, NULL, NULL, "new_templates", t, (double)e->created, emit, ctx)) < 0 && !rc)
            rc = r;
    }
    e->idle = e->messages ? 0 : (e->idle < idle ? e->idle + 1 : idle); /* saturates */
    for (int s = 0; s < 8; s++) {
        if (!e->sev_live[s])
            continue;
        if ((r = emit1(ls, e, etag, "severity", sev_names[s], "count", t, (double)e->sev[s], emit, ctx)) < 0 && !rc)
            rc = r;
        e->sev_idle[s] = e->sev[s] ? 0 : e->sev_idle[s] + 1;
        if (e->sev_idle[s] >= idle) {
            e->sev_live[s] = 0;
            e->sev_idle[s] = 0;
        }
        e->sev[s] = 0;
    }
    uint32_t keep = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        struct lcount *c = &e->c[i];
        if (c->id == OTHER_ID)
            snprintf(val, sizeof val, "other");
        else
            snprintf(val, sizeof val, "%llu", (unsigned long long)c->id);
        if ((r = emit1(ls, e, etag, "template", val, "count", t, (double)c->n, emit, ctx)) < 0 && !rc)
            rc = r;
        c->idle = c->n ? 0 : c->idle + 1;
        c->n = 0;
        if (c->idle < idle)
            e->c[keep++] = *c;
    }
    if (keep != e->n) {
        e->n = keep;
        if (cidx_build(e, e->n) != MEND_OK && rc == MEND_OK)
            rc = MEND_ENOMEM;
    }
    e->messages = e->created = 0;
    e->start = t;
    return rc;
}

static int64_t align(int64_t t, int64_t iv)
{
    int64_t q = t / iv;
    if (t % iv < 0)
        q--;
    return q * iv;
}

/* Closes e's intervals that end at or before now. Compared as now >=
 * start + interval: start + interval cannot overflow (start is at most
 * MEND_TIME_MAX_NS, the interval at most 7 days), now - start could. */
static int advance(struct mend_logsig *ls, struct lent *e, int64_t now, const char *etag,
                   mend_logsig_emit_fn emit, void *ctx)
{
    const int64_t iv = ls->conf.interval_ns;
    int rc = MEND_OK, r;
    if (now > MEND_TIME_MAX_NS)
        now = MEND_TIME_MAX_NS;
    if (now < e->start + iv)
        return MEND_OK;
    if ((r = close_interval(ls, e, etag, emit, ctx)) < 0)
        rc = r;
    /* empty intervals in between: their zeros, while any series is live */
    for (uint32_t k = 0; k < ls->conf.idle_intervals && now >= e->start + iv; k++) {
        int live = e->n || e->idle < ls->conf.idle_intervals;
        for (int s = 0; s < 8; s++)
            live |= e->sev_live[s];
        if (!live)
            break;
        if ((r = close_interval(ls, e, etag, emit, ctx)) < 0 && !rc)
            rc = r;
    }
    if (now >= e->start + iv)
        e->start = align(now, iv);
    return rc;
}

static const char *tag_of(const char *etag)
{
    return etag && etag[0] ? etag : "host";
}

int mend_logsig_add(struct mend_logsig *ls, const struct mend_logmsg *m, const char *entity_tag,
                    mend_logsig_emit_fn emit, void *ctx, struct mend_tmpl_match *match)
{
    struct mend_tmpl_match mm;
    const char *etag = tag_of(entity_tag);
    int rc = mend_tmpl_add(ls->miner, m->msg, m->msg_len, &mm);
    if (rc != MEND_OK)
        return rc;
    if (match)
        *match = mm;
    ls->st.messages++;
    if (mm.created) {
        const char *ex = m->line ? m->line : m->msg;
        size_t exn = m->line ? m->line_len : m->msg_len;
        if (ex_push(ls, mm.id, ex, exn) != MEND_OK)
            return MEND_ENOMEM;
    }
    size_t elen = m->entity ? m->entity_len : 0;
    if (elen > MAX_ENTITY)
        elen = MAX_ENTITY;
    const char *ename = elen ? m->entity : "";
    int64_t t = m->time_ns;
    if (t < MEND_TIME_MIN_NS)
        t = MEND_TIME_MIN_NS;
    if (t > MEND_TIME_MAX_NS)
        t = MEND_TIME_MAX_NS;
    struct lent *e = efind(ls, ename, elen);
    if (!e && !(e = eadd(ls, ename, elen, align(t, ls->conf.interval_ns))))
        return MEND_ENOMEM;
    rc = advance(ls, e, t, etag, emit, ctx);
    if (t < e->start)
        ls->st.late++;
    e->messages++;
    if (mm.created)
        e->created++;
    if (m->severity >= 0 && m->severity < 8) {
        e->sev[m->severity]++;
        e->sev_live[m->severity] = 1;
        e->sev_idle[m->severity] = 0;
    }
    uint64_t id = mm.id;
    struct lcount *c = cfind(e, id);
    if (!c && e->n >= ls->conf.max_per_entity) {
        id = OTHER_ID;
        ls->st.other++;
        c = cfind(e, id);
    }
    if (!c && !(c = cadd(e, id)))
        return MEND_ENOMEM;
    c->n++;
    return rc;
}

int mend_logsig_flush(struct mend_logsig *ls, int64_t now_ns, const char *entity_tag,
                      mend_logsig_emit_fn emit, void *ctx)
{
    int rc = MEND_OK;
    for (uint32_t i = 0; i < ls->n_ent; i++) {
        int r = advance(ls, &ls->ent[i], now_ns, tag_of(entity_tag), emit, ctx);
        if (r < 0 && rc == MEND_OK)
            rc = r;
    }
    return rc;
}

int mend_logsig_annotate(const struct mend_logsig *ls, const char *key, size_t key_len,
                         const char **tmpl, size_t *tmpl_len, const char **example,
                         size_t *example_len)
{
    static const char tag[] = ",template=";
    if (!ls || key_len < 5 || memcmp(key, "logs,", 5))
        return 0;
    const char *p = NULL;
    for (size_t i = 4; i + sizeof tag - 1 <= key_len; i++) {
        if (key[i - 1] != '\\' && !memcmp(key + i, tag, sizeof tag - 1)) {
            p = key + i + sizeof tag - 1;
            break;
        }
    }
    if (!p)
        return 0;
    size_t n = 0;
    while (p + n < key + key_len && p[n] >= '0' && p[n] <= '9')
        n++;
    uint64_t id;
    if (!n || mend_parse_u64(p, n, &id) != MEND_OK || id == OTHER_ID)
        return 0;
    if (mend_tmpl_get(ls->miner, id, tmpl, tmpl_len) != MEND_OK)
        return 0;
    const struct example *x = ex_find(ls, id);
    *example = x ? x->text : "";
    *example_len = x ? x->len : 0;
    return 1;
}

/* ---- checkpoint ---------------------------------------------------------------- */

#define LS_MAGIC 0x4753474cu /* "LGSG" */

int mend_logsig_save(const struct mend_logsig *ls, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, LS_MAGIC);
    mend_wbuf_i64(w, ls->conf.interval_ns);
    mend_wbuf_u32(w, ls->conf.idle_intervals);
    mend_tmpl_save(ls->miner, w);
    mend_wbuf_u32(w, ls->ex_n);
    for (uint32_t i = 0; i < ls->ex_n; i++) {
        const struct example *x = ex_at(ls, i);
        mend_wbuf_u64(w, x->id);
        mend_wbuf_u32(w, x->len);
        mend_wbuf_bytes(w, x->text, x->len);
    }
    mend_wbuf_u32(w, ls->n_ent);
    for (uint32_t i = 0; i < ls->n_ent; i++) {
        const struct lent *e = &ls->ent[i];
        mend_wbuf_u32(w, (uint32_t)e->len);
        mend_wbuf_bytes(w, e->name, e->len);
        mend_wbuf_i64(w, e->start);
        mend_wbuf_u64(w, e->messages);
        mend_wbuf_u64(w, e->created);
        mend_wbuf_u32(w, e->idle);
        for (int s = 0; s < 8; s++) {
            mend_wbuf_u64(w, e->sev[s]);
            mend_wbuf_u32(w, e->sev_idle[s]);
            mend_wbuf_u8(w, e->sev_live[s]);
        }
        mend_wbuf_u32(w, e->n);
        for (uint32_t k = 0; k < e->n; k++) {
            mend_wbuf_u64(w, e->c[k].id);
            mend_wbuf_u64(w, e->c[k].n);
            mend_wbuf_u32(w, e->c[k].idle);
        }
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int load_body(struct mend_logsig *ls, struct mend_rbuf *r)
{
    const uint32_t idle = ls->conf.idle_intervals;
    const int64_t iv = ls->conf.interval_ns;
    if (mend_rbuf_u32(r) != LS_MAGIC)
        return r->failed ? MEND_ECORRUPT : MEND_EVERSION;
    int64_t siv = mend_rbuf_i64(r);
    uint32_t sidle = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    if (siv != iv || sidle != idle)
        return MEND_EVERSION; /* counters of another interval would mean something else */
    int rc = mend_tmpl_load(ls->miner, r);
    if (rc != MEND_OK)
        return rc;
    struct mend_tmpl_stats ts;
    mend_tmpl_get_stats(ls->miner, &ts);
    uint32_t nx = mend_rbuf_u32(r);
    if (r->failed || nx > ls->ex_cap || nx > mend_rbuf_remaining(r) / 12)
        return r->failed ? MEND_ECORRUPT : MEND_ECAP;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < nx; i++) {
        uint64_t id = mend_rbuf_u64(r);
        uint32_t len = mend_rbuf_u32(r);
        /* ids rise and were handed out by the miner (ids are 1..created) */
        if (r->failed || id <= prev || id > ts.created || len > ls->conf.max_example ||
            len > mend_rbuf_remaining(r))
            return MEND_ECORRUPT;
        char buf[65536];
        if (mend_rbuf_bytes(r, buf, len) != MEND_OK)
            return MEND_ECORRUPT;
        if (ex_push(ls, id, buf, len) != MEND_OK)
            return MEND_ENOMEM;
        prev = id;
    }
    uint32_t ne = mend_rbuf_u32(r);
    if (r->failed || ne > mend_rbuf_remaining(r) / 40)
        return MEND_ECORRUPT;
    if (ne > ls->conf.max_entities)
        return MEND_ECAP;
    for (uint32_t i = 0; i < ne; i++) {
        char name[MAX_ENTITY];
        uint32_t len = mend_rbuf_u32(r);
        if (r->failed || len > MAX_ENTITY || mend_rbuf_bytes(r, name, len) != MEND_OK)
            return MEND_ECORRUPT;
        int64_t start = mend_rbuf_i64(r);
        if (r->failed || efind(ls, name, len) || start % iv != 0 ||
            start < MEND_TIME_MIN_NS - iv || start > MEND_TIME_MAX_NS)
            return MEND_ECORRUPT;
        struct lent *e = eadd(ls, name, len, start);
        if (!e)
            return MEND_ENOMEM;
        e->messages = mend_rbuf_u64(r);
        e->created = mend_rbuf_u64(r);
        e->idle = mend_rbuf_u32(r);
        if (e->idle > idle || e->created > e->messages)
            return MEND_ECORRUPT;
        for (int s = 0; s < 8; s++) {
            e->sev[s] = mend_rbuf_u64(r);
            e->sev_idle[s] = mend_rbuf_u32(r);
            e->sev_live[s] = mend_rbuf_u8(r);
            if (e->sev_live[s] > 1 || e->sev_idle[s] > idle)
                return MEND_ECORRUPT;
        }
        uint32_t nc = mend_rbuf_u32(r);
        if (r->failed || nc > (uint64_t)ls->conf.max_per_entity + 1 ||
            nc > mend_rbuf_remaining(r) / 20)
            return MEND_ECORRUPT;
        for (uint32_t k = 0; k < nc; k++) {
            uint64_t id = mend_rbuf_u64(r), n = mend_rbuf_u64(r);
            uint32_t cidle = mend_rbuf_u32(r);
            if (r->failed || cidle > idle || cfind(e, id))
                return MEND_ECORRUPT;
            struct lcount *c = cadd(e, id);
            if (!c)
                return MEND_ENOMEM;
            c->n = n;
            c->idle = cidle;
        }
    }
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

int mend_logsig_load(struct mend_logsig *ls, struct mend_rbuf *r)
{
    struct mend_tmpl_stats ts;
    mend_tmpl_get_stats(ls->miner, &ts);
    if (ls->n_ent || ls->ex_n || ts.messages || ts.created)
        return MEND_EINVAL;
    int rc = load_body(ls, r);
    if (rc != MEND_OK) {
        clear_all(ls);
        struct mend_tmpl *fresh;
        if (mend_tmpl_new(&ls->conf.tmpl, &fresh) == MEND_OK) {
            mend_tmpl_free(ls->miner);
            ls->miner = fresh;
        }
    }
    return rc;
}
