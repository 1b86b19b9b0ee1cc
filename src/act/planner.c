/* planner.c -- when an incident becomes an action (see act.h).
 *
 * State is one "case" per (rule, target): its attempts in the window, the
 * cooldown now in force (multiplied by backoff after each attempt, back to
 * the base after reset_after without symptoms), which step comes next, and
 * what is in flight (emitted, awaiting its result), being verified, or
 * awaiting approval. Budgets count across cases: actions in flight, in
 * flight per target, and emitted in the last hour (a ring of times).
 * Outcomes are learnt per (rule, action, target kind) and choose:best picks
 * the step with the best smoothed recovery rate, (r+1)/(n+2), exploring a
 * bounded share of the time (a deterministic draw from the action id, so
 * replays decide the same). Every decision goes to the audit hook. */
#include <fnmatch.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/act.h"

enum { C_IDLE, C_INFLIGHT, C_VERIFYING, C_PENDING };

#define MAX_ATT 64 /* attempt times kept per case (max_attempts above this counts only these) */
#define MAX_LEARN 1024

struct pcase {
    int used, state;
    size_t rule;
    char target[MEND_ACT_TARGET];
    uint64_t incident;
    int64_t incident_start;
    int64_t att[MAX_ATT];
    uint32_t n_att;
    int64_t next_allowed, cooldown_cur, last_symptom;
    uint32_t step, attempt_no, chosen;
    int escalated;
    int missing;         /* the incident's last change had a series still
                            missing: a quiet verify window is no recovery */
    struct mend_action act;
    char lost[33];       /* id of the last action that timed out here ("" = none):
                            a result for it now is late */
    int64_t result_t, deadline, pending_until, flight_until;
};

struct learn {
    char rule[MEND_ACT_NAME], action[MEND_ACT_NAME], kind[MEND_ACT_TARGET];
    struct mend_outcome o;
};

struct mend_planner {
    struct mend_planner_conf c;
    const struct mend_rules *rules;
    struct mend_planner_hooks h;
    struct mend_rules_budget b;
    struct pcase *cases;
    size_t n_cases;
    int64_t *hour;  /* emission times, ring of b.max_per_hour */
    uint32_t hour_head, hour_n;
    struct learn *learn;
    size_t n_learn;
    int64_t now;
    struct mend_planner_stats st;
};

void mend_planner_conf_defaults(struct mend_planner_conf *c)
{
    c->enabled = 1;
    c->explore = 0.1;
    c->max_cases = 4096;
}

int mend_planner_new(const struct mend_planner_conf *c, const struct mend_rules *rules,
                     const struct mend_planner_hooks *hooks, struct mend_planner **res)
{
    if (!c->max_cases || c->max_cases > MEND_PLANNER_MAX_CASES || c->explore < 0 || c->explore > 1)
        return MEND_EINVAL;
    struct mend_planner *p = calloc(1, sizeof *p);
    if (!p)
        return MEND_ENOMEM;
    p->c = *c;
    p->rules = rules;
    p->h = *hooks;
    mend_rules_budget(rules, &p->b);
    p->cases = calloc(c->max_cases, sizeof *p->cases);
    p->hour = calloc(p->b.max_per_hour, sizeof *p->hour);
    p->learn = calloc(MAX_LEARN, sizeof *p->learn);
    p->now = INT64_MIN;
    if (!p->cases || !p->hour || !p->learn) {
        mend_planner_free(p);
        return MEND_ENOMEM;
    }
    *res = p;
    return MEND_OK;
}

void mend_planner_free(struct mend_planner *p)
{
    if (!p)
        return;
    free(p->cases);
    free(p->hour);
    free(p->learn);
    free(p);
}

void mend_planner_set_enabled(struct mend_planner *p, int on)
{
    p->c.enabled = on != 0;
}

void mend_planner_stats(const struct mend_planner *p, struct mend_planner_stats *st)
{
    *st = p->st;
    st->in_flight = 0;
    for (size_t i = 0; i < p->n_cases; i++)
        st->in_flight += p->cases[i].used && p->cases[i].state == C_INFLIGHT;
}

void mend_action_make_id(struct mend_action *a)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char buf[MEND_ACT_NAME + MEND_ACT_TARGET + 64];
    int n = snprintf(buf, sizeof buf, "%s%c%s%c%" PRIu64 "%c%u", a->rule, 0, a->target, 0, a->incident, 0,
                     a->attempt);
    EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(a->id + 2 * i, 3, "%02x", md[i]);
}

static void audit(struct mend_planner *p, const char *ev, const struct mend_rule *r, const struct pcase *k,
                  uint64_t incident, const struct mend_action *a, const char *why)
{
    if (p->h.audit)
        p->h.audit(p->h.ctx, p->now, ev, r ? r->name : "", k ? k->target : "", incident, a, why ? why : "");
}

/* ---- learning -------------------------------------------------------------- */

static void target_kind(const char *t, char *out, size_t cap)
{
    size_t n = strlen(t);
    while (n > 0 && ((t[n - 1] >= '0' && t[n - 1] <= '9') || t[n - 1] == '-' || t[n - 1] == '_' ||
                     t[n - 1] == '.'))
        n--;
    if (n == 0) /* all digits: keep it whole */
        n = strlen(t);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, t, n);
    out[n] = '\0';
}

static struct learn *learn_get(struct mend_planner *p, const char *rule, const char *action, const char *target,
                               int create)
{
    char kind[MEND_ACT_TARGET];
    target_kind(target, kind, sizeof kind);
    for (size_t i = 0; i < p->n_learn; i++)
        if (!strcmp(p->learn[i].rule, rule) && !strcmp(p->learn[i].action, action) &&
            !strcmp(p->learn[i].kind, kind))
            return &p->learn[i];
    if (!create || p->n_learn == MAX_LEARN)
        return NULL;
    struct learn *l = &p->learn[p->n_learn++];
    memset(l, 0, sizeof *l);
    snprintf(l->rule, sizeof l->rule, "%s", rule);
    snprintf(l->action, sizeof l->action, "%s", action);
    snprintf(l->kind, sizeof l->kind, "%s", kind);
    return l;
}

int mend_planner_outcome(const struct mend_planner *p, const char *rule, const char *action,
                         const char *target_kind_name, struct mend_outcome *o)
{
    for (size_t i = 0; i < p->n_learn; i++)
        if (!strcmp(p->learn[i].rule, rule) && !strcmp(p->learn[i].action, action) &&
            !strcmp(p->learn[i].kind, target_kind_name)) {
            *o = p->learn[i].o;
            return MEND_OK;
        }
    return MEND_ENOTFOUND;
}

static void learn_outcome(struct mend_planner *p, const struct pcase *k, int recovered, double ttr_s)
{
    struct learn *l = learn_get(p, k->act.rule, k->act.action, k->target, 1);
    if (!l)
        return;
    l->o.attempts++;
    if (recovered) {
        l->o.recoveries++;
        l->o.ttr_sum_s += ttr_s;
    }
}

#define LEARN_MAGIC 0x4c52414du /* "MARL" */

static void write_name(struct mend_wbuf *w, const char *s)
{
    mend_wbuf_u32(w, (uint32_t)strlen(s));
    mend_wbuf_bytes(w, s, strlen(s));
}

int mend_planner_save(const struct mend_planner *p, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, LEARN_MAGIC);
    mend_wbuf_u32(w, (uint32_t)p->n_learn);
    for (size_t i = 0; i < p->n_learn; i++) {
        const struct learn *l = &p->learn[i];
        write_name(w, l->rule);
        write_name(w, l->action);
        write_name(w, l->kind);
        mend_wbuf_u64(w, l->o.attempts);
        mend_wbuf_u64(w, l->o.recoveries);
        mend_wbuf_f64(w, l->o.ttr_sum_s);
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int read_name(struct mend_rbuf *r, char *out, size_t cap)
{
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n >= cap || mend_rbuf_bytes(r, out, n) != MEND_OK)
        return MEND_ECORRUPT;
    out[n] = '\0';
    return MEND_OK;
}

int mend_planner_load(struct mend_planner *p, struct mend_rbuf *r)
{
    uint32_t magic = mend_rbuf_u32(r), n = mend_rbuf_u32(r);
    if (r->failed || magic != LEARN_MAGIC || n > MAX_LEARN)
        return MEND_ECORRUPT;
    struct learn *tmp = calloc(n ? n : 1, sizeof *tmp);
    if (!tmp)
        return MEND_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        struct learn *l = &tmp[i];
        if (read_name(r, l->rule, sizeof l->rule) || read_name(r, l->action, sizeof l->action) ||
            read_name(r, l->kind, sizeof l->kind)) {
            free(tmp);
            return MEND_ECORRUPT;
        }
        l->o.attempts = mend_rbuf_u64(r);
        l->o.recoveries = mend_rbuf_u64(r);
        l->o.ttr_sum_s = mend_rbuf_f64(r);
        if (r->failed || l->o.recoveries > l->o.attempts || !(l->o.ttr_sum_s >= 0)) {
            free(tmp);
            return MEND_ECORRUPT;
        }
    }
    memcpy(p->learn, tmp, n * sizeof *tmp);
    p->n_learn = n;
    free(tmp);
    return MEND_OK;
}

size_t mend_planner_outcomes(const struct mend_planner *p)
{
    return p->n_learn;
}

/* ---- matching and filling -------------------------------------------------- */

static const struct mend_incident_signal *top_signal(const struct mend_incident *inc)
{
    const struct mend_incident_signal *best = NULL;
    for (uint32_t i = 0; i < inc->n_signals; i++)
        if (!best || inc->signals[i].max_score > best->max_score)
            best = &inc->signals[i];
    return best;
}

static int key_has_tag(const char *key, const char *name, const char *value)
{
    char pat[MEND_ACT_NAME + MEND_ACT_VALUE + 4];
    size_t nl = strlen(name), vl = strlen(value);
    /* line protocol: ",name=value" ended by ',' ' ' or the end */
    snprintf(pat, sizeof pat, ",%s=%s", name, value);
    for (const char *s = strstr(key, pat); s; s = strstr(s + 1, pat)) {
        char e = s[nl + vl + 2];
        if (e == ',' || e == ' ' || e == '\0')
            return 1;
    }
    /* Prometheus: name="value" */
    snprintf(pat, sizeof pat, "%s=\"%s\"", name, value);
    return strstr(key, pat) != NULL;
}

static int rule_matches(const struct mend_rule *r, const struct mend_incident *inc, const char *component,
                        int64_t now, char *why, size_t cap)
{
    if (r->entity[0] && fnmatch(r->entity, inc->entity, 0))
        return 0;
    if (r->component[0] && (!component || fnmatch(r->component, component, 0)))
        return 0;
    if (inc->max_score < r->min_score)
        return 0;
    if (now - inc->start_t < r->min_duration_ns)
        return 0;
    if (mend_incident_severity(inc) < r->min_severity)
        return 0;
    if (r->series[0]) {
        int any = 0;
        for (uint32_t i = 0; i < inc->n_signals && !any; i++)
            any = !fnmatch(r->series, inc->signals[i].key, 0);
        if (!any)
            return 0;
    }
    for (uint32_t t = 0; t < r->n_tags; t++) {
        int any = 0;
        for (uint32_t i = 0; i < inc->n_signals && !any; i++)
            any = key_has_tag(inc->signals[i].key, r->tags[t].name, r->tags[t].value);
        if (!any)
            return 0;
    }
    snprintf(why, cap, "entity %s, score %.3f, %u signals", inc->entity, inc->max_score, inc->n_signals);
    return 1;
}

/* Fills "{{ field }}" in t. Returns 0 or MEND_ECAP when the value is too long. */
static int fill(const char *t, const struct mend_incident *inc, const char *component, const char *target,
                const char *rule, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = t;
    while (*p) {
        const char *v = NULL;
        char num[64];
        const char *s = strstr(p, "{{"), *e = s ? strstr(s, "}}") : NULL;
        size_t lit = s && e ? (size_t)(s - p) : strlen(p);
        if (o + lit >= cap)
            return MEND_ECAP;
        memcpy(out + o, p, lit);
        o += lit;
        if (!(s && e))
            break;
        const char *a = s + 2, *b = e;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        size_t n = (size_t)(b - a);
#define IS(x) (n == sizeof(x) - 1 && !memcmp(a, x, n))
        if (IS("entity"))
            v = inc->entity;
        else if (IS("target"))
            v = target ? target : inc->entity;
        else if (IS("rule"))
            v = rule;
        else if (IS("root_cause.component"))
            v = component && *component ? component : inc->entity;
        else if (IS("incident.id"))
            snprintf(num, sizeof num, "%" PRIu64, inc->id), v = num;
        else if (IS("score"))
            snprintf(num, sizeof num, "%.3f", inc->max_score), v = num;
        else if (IS("signal.key"))
            v = top_signal(inc) ? top_signal(inc)->key : "";
        else
            v = ""; /* rules.c refused unknown fields; nothing else can reach here */
#undef IS
        size_t vl = strlen(v);
        if (o + vl >= cap)
            return MEND_ECAP;
        memcpy(out + o, v, vl);
        o += vl;
        p = e + 2;
    }
    out[o] = '\0';
    return MEND_OK;
}

static int build(const struct mend_rule *r, const struct mend_rule_step *st, const struct mend_incident *inc,
                 const char *component, const char *target, uint32_t attempt, struct mend_action *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->rule, sizeof a->rule, "%s", r->name);
    snprintf(a->action, sizeof a->action, "%s", st->action);
    snprintf(a->target, sizeof a->target, "%s", target);
    a->incident = inc->id;
    a->attempt = attempt;
    a->ttl_ns = r->ttl_ns;
    for (uint32_t i = 0; i < st->n_params; i++) {
        snprintf(a->params[i].name, sizeof a->params[i].name, "%s", st->params[i].name);
        if (fill(st->params[i].value, inc, component, target, r->name, a->params[i].value,
                 sizeof a->params[i].value))
            return MEND_ECAP;
    }
    a->n_params = st->n_params;
    mend_action_make_id(a);
    return MEND_OK;
}

/* ---- budgets --------------------------------------------------------------- */

static uint32_t hour_count(struct mend_planner *p)
{
    while (p->hour_n && p->hour[(p->hour_head + p->b.max_per_hour - p->hour_n) % p->b.max_per_hour] <=
                            p->now - 3600LL * 1000000000LL)
        p->hour_n--;
    return p->hour_n;
}

static void hour_add(struct mend_planner *p)
{
    p->hour[p->hour_head] = p->now;
    p->hour_head = (p->hour_head + 1) % p->b.max_per_hour;
    if (p->hour_n < p->b.max_per_hour)
        p->hour_n++;
}

/* 0 when within budget, else why into buf. */
static int over_budget(struct mend_planner *p, const char *target, char *why, size_t cap)
{
    uint32_t all = 0, tgt = 0;
    for (size_t i = 0; i < p->n_cases; i++) {
        const struct pcase *k = &p->cases[i];
        if (!k->used || k->state != C_INFLIGHT)
            continue;
        all++;
        tgt += !strcmp(k->target, target);
    }
    if (all >= p->b.max_concurrent)
        return snprintf(why, cap, "%u actions in flight (max_concurrent %u)", all, p->b.max_concurrent), 1;
    if (tgt >= p->b.max_per_target)
        return snprintf(why, cap, "%u in flight on %s (max_per_target %u)", tgt, target, p->b.max_per_target), 1;
    if (hour_count(p) >= p->b.max_per_hour)
        return snprintf(why, cap, "%u actions in the last hour (max_per_hour %u)", p->hour_n, p->b.max_per_hour),
               1;
    return 0;
}

/* ---- decisions ------------------------------------------------------------- */

static struct pcase *case_get(struct mend_planner *p, size_t rule, const char *target)
{
    struct pcase *free_slot = NULL;
    for (size_t i = 0; i < p->n_cases; i++) {
        struct pcase *k = &p->cases[i];
        if (k->used && k->rule == rule && !strcmp(k->target, target))
            return k;
        if (!k->used && !free_slot)
            free_slot = k;
    }
    if (!free_slot) {
        if (p->n_cases == p->c.max_cases) {
            /* reuse the idle case quiet the longest */
            for (size_t i = 0; i < p->n_cases; i++) {
                struct pcase *k = &p->cases[i];
                if (k->state == C_IDLE && (!free_slot || k->last_symptom < free_slot->last_symptom))
                    free_slot = k;
            }
            if (!free_slot)
                return NULL;
        } else {
            free_slot = &p->cases[p->n_cases++];
        }
    }
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = 1;
    free_slot->rule = rule;
    snprintf(free_slot->target, sizeof free_slot->target, "%s", target);
    free_slot->cooldown_cur = mend_rules_get(p->rules, rule)->cooldown_ns;
    free_slot->next_allowed = INT64_MIN;
    return free_slot;
}

static uint32_t attempts_in_window(struct pcase *k, int64_t now, int64_t window)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < k->n_att; i++)
        if (k->att[i] > now - window)
            k->att[n++] = k->att[i];
    k->n_att = n;
    return n;
}

static double draw(const char *id)
{
    uint64_t x = 0;
    for (int i = 0; i < 13 && id[i]; i++)
        x = x * 16 + (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    return (double)x / (double)(1ULL << 52);
}

/* Which step: in order (next after a failure), or best by recovery rate. */
static uint32_t choose(struct mend_planner *p, const struct mend_rule *r, struct pcase *k, const char *idseed,
                       char *why, size_t cap)
{
    if (!r->choose_best || r->n_steps == 1) {
        uint32_t s = k->step % r->n_steps;
        snprintf(why, cap, "step %u of %u", s + 1, r->n_steps);
        return s;
    }
    uint32_t best = 0, least = 0;
    double best_rate = -1;
    uint64_t least_n = UINT64_MAX;
    for (uint32_t i = 0; i < r->n_steps; i++) {
        struct learn *l = learn_get(p, r->name, r->steps[i].action, k->target, 0);
        uint64_t n = l ? l->o.attempts : 0, rec = l ? l->o.recoveries : 0;
        double rate = ((double)rec + 1.0) / ((double)n + 2.0);
        if (rate > best_rate)
            best_rate = rate, best = i;
        if (n < least_n)
            least_n = n, least = i;
    }
    if (least != best && draw(idseed) < p->c.explore) {
        snprintf(why, cap, "explore: %s tried %" PRIu64 " times (exploration share %.2f)", r->steps[least].action,
                 least_n, p->c.explore);
        return least;
    }
    snprintf(why, cap, "best: %s, smoothed recovery rate %.2f", r->steps[best].action, best_rate);
    return best;
}

static int send(struct mend_planner *p, const struct mend_rule *r, struct pcase *k, struct mend_action *a,
                const char *why)
{
    char w[256];
    if (!p->c.enabled) {
        audit(p, "disabled", r, k, a->incident, a, "the off switch is on");
        p->st.suppressed++;
        return MEND_EAGAIN;
    }
    if (over_budget(p, k->target, w, sizeof w)) {
        audit(p, "over_budget", r, k, a->incident, a, w);
        p->st.over_budget++;
        return MEND_EAGAIN;
    }
    a->created_ms = 0;
    if (p->h.emit && p->h.emit(p->h.ctx, a) != MEND_OK) {
        audit(p, "emit_failed", r, k, a->incident, a, "the queue did not take it");
        return MEND_EIO;
    }
    hour_add(p);
    p->st.emitted++;
    audit(p, "emitted", r, k, a->incident, a, why);
    return MEND_OK;
}

static void escalate(struct mend_planner *p, const struct mend_rule *r, struct pcase *k,
                     const struct mend_incident *inc, const char *component, const char *why)
{
    if (k->escalated)
        return;
    k->escalated = 1;
    p->st.escalated++;
    if (!r->escalate.action[0]) {
        audit(p, "exhausted", r, k, inc->id, NULL, why);
        return;
    }
    struct mend_action a;
    if (build(r, &r->escalate, inc, component, k->target, 0, &a) != MEND_OK) {
        audit(p, "emit_failed", r, k, inc->id, NULL, "escalation parameters too long");
        return;
    }
    audit(p, "escalated", r, k, inc->id, &a, why);
    send(p, r, k, &a, "escalation");
}

/* k's action was emitted: in flight until its result or result_timeout;
 * the attempt counts and the cooldown grows. */
static void took_off(struct mend_planner *p, const struct mend_rule *r, struct pcase *k)
{
    k->state = C_INFLIGHT;
    k->flight_until = p->now > INT64_MAX - r->result_timeout_ns ? INT64_MAX : p->now + r->result_timeout_ns;
    if (k->n_att < MAX_ATT)
        k->att[k->n_att++] = p->now;
    k->next_allowed = p->now + k->cooldown_cur;
    double nc = (double)k->cooldown_cur * r->backoff;
    k->cooldown_cur = nc > (double)r->max_cooldown_ns ? r->max_cooldown_ns : (int64_t)nc;
}

static void attempt(struct mend_planner *p, size_t ri, struct pcase *k, const struct mend_incident *inc,
                    const char *component)
{
    const struct mend_rule *r = mend_rules_get(p->rules, ri);
    char why[300], cw[200];
    if (k->state == C_INFLIGHT) {
        audit(p, "in_flight", r, k, inc->id, &k->act, "an action is running");
        p->st.suppressed++;
        return;
    }
    if (k->state == C_VERIFYING) {
        audit(p, "in_flight", r, k, inc->id, &k->act, "being verified");
        p->st.suppressed++;
        return;
    }
    if (k->state == C_PENDING) {
        audit(p, "awaiting_approval", r, k, inc->id, &k->act, "still waiting for mend approve");
        p->st.suppressed++;
        return;
    }
    /* attempts used up: escalate now -- the cooldown paces attempts of
     * the action, and holding a page back for up to max_cooldown after
     * the last attempt was judged would only delay the human */
    if (attempts_in_window(k, p->now, r->window_ns) >= r->max_attempts) {
        snprintf(why, sizeof why, "%u attempt%s within %.0f s (max_attempts %u)", k->n_att, k->n_att == 1 ? "" : "s",
                 (double)r->window_ns / 1e9, r->max_attempts);
        escalate(p, r, k, inc, component, why);
        return;
    }
    if (p->now < k->next_allowed) {
        snprintf(why, sizeof why, "cooldown for %.0f s more", (double)(k->next_allowed - p->now) / 1e9);
        audit(p, "cooldown", r, k, inc->id, NULL, why);
        p->st.suppressed++;
        return;
    }
    struct mend_action a;
    uint32_t att = k->attempt_no + 1;
    /* the seed for exploration: the id this attempt would have with step 0 */
    if (build(r, &r->steps[0], inc, component, k->target, att, &a) != MEND_OK) {
        audit(p, "emit_failed", r, k, inc->id, NULL, "parameters too long after filling");
        return;
    }
    uint32_t s = choose(p, r, k, a.id, cw, sizeof cw);
    if (s && build(r, &r->steps[s], inc, component, k->target, att, &a) != MEND_OK) {
        audit(p, "emit_failed", r, k, inc->id, NULL, "parameters too long after filling");
        return;
    }
    if (r->dry_run) {
        audit(p, "dry_run", r, k, inc->id, &a, cw);
        k->attempt_no = att;
        k->next_allowed = p->now + k->cooldown_cur;
        return;
    }
    k->chosen = s;
    k->act = a;
    if (r->require_approval) {
        k->state = C_PENDING;
        k->pending_until = p->now + r->approval_ttl_ns;
        k->attempt_no = att;
        audit(p, "awaiting_approval", r, k, inc->id, &a, cw);
        return;
    }
    if (send(p, r, k, &a, cw) != MEND_OK)
        return;
    k->attempt_no = att;
    took_off(p, r, k);
}

static void advance(struct mend_planner *p, int64_t now)
{
    if (now > p->now)
        p->now = now;
}

static void verified(struct mend_planner *p, struct pcase *k, const char *why)
{
    const struct mend_rule *r = mend_rules_get(p->rules, k->rule);
    double ttr = (double)(k->result_t - k->incident_start) / 1e9;
    char w[200];
    snprintf(w, sizeof w, "%s; time to repair %.0f s", why, ttr < 0 ? 0 : ttr);
    learn_outcome(p, k, 1, ttr < 0 ? 0 : ttr);
    audit(p, "verified", r, k, k->incident, &k->act, w);
    p->st.verified++;
    k->state = C_IDLE;
    k->step = 0;
}

/* An action that did not bring the symptom back to normal. */
static void not_recovered(struct mend_planner *p, const struct mend_rule *r, struct pcase *k, const char *why)
{
    learn_outcome(p, k, 0, 0);
    audit(p, "not_recovered", r, k, k->incident, &k->act, why);
    p->st.not_recovered++;
    k->state = C_IDLE;
    k->step++;
}

/* Absence signals of inc in state st (a series still missing, or evicted
 * as gone): a silent series raises no new anomaly, so its quiet is no sign
 * that it recovered. */
static int absence_in(const struct mend_incident *inc, enum mend_absence_state st)
{
    for (uint32_t i = 0; i < inc->n_signals; i++)
        if (inc->signals[i].kind == MEND_ANOM_ABSENCE && inc->signals[i].absence == st)
            return 1;
    return 0;
}

static void expire(struct mend_planner *p);

int mend_planner_incident(struct mend_planner *p, const char *status, const struct mend_incident *inc,
                          const char *component, int64_t now)
{
    advance(p, now);
    expire(p);
    int resolve = !strcmp(status, "resolve");
    for (size_t ri = 0; ri < mend_rules_count(p->rules); ri++) {
        const struct mend_rule *r = mend_rules_get(p->rules, ri);
        char target[MEND_ACT_TARGET], why[200];
        if (fill(r->target, inc, component, NULL, r->name, target, sizeof target) != MEND_OK)
            continue;
        if (resolve) {
            for (size_t i = 0; i < p->n_cases; i++) {
                struct pcase *k = &p->cases[i];
                if (k->used && k->rule == ri && k->incident == inc->id && k->state == C_VERIFYING) {
                    if (absence_in(inc, MEND_ABS_GONE))
                        not_recovered(p, r, k, "the incident ended with a series evicted as gone, not back");
                    else
                        verified(p, k, "the incident resolved");
                }
            }
            continue;
        }
        if (!rule_matches(r, inc, component, p->now, why, sizeof why))
            continue;
        struct pcase *k = case_get(p, ri, target);
        if (!k) {
            audit(p, "over_budget", r, NULL, inc->id, NULL, "no room for another (rule, target) state");
            return MEND_ECAP;
        }
        p->st.matched++;
        if (k->incident != inc->id) {
            /* a new incident on this target: its own attempt count */
            if (k->last_symptom != 0 && p->now - k->last_symptom >= r->reset_after_ns) {
                k->cooldown_cur = r->cooldown_ns;
                k->step = 0;
            }
            k->incident = inc->id;
            k->incident_start = inc->start_t;
            k->attempt_no = 0;
            k->escalated = 0;
        }
        if (k->state == C_VERIFYING && inc->last_t > k->result_t) {
            /* a symptom came back inside the verify window */
            snprintf(why, sizeof why, "new anomaly at %.0f s after the action", (double)(inc->last_t - k->result_t) / 1e9);
            not_recovered(p, r, k, why);
        }
        k->missing = absence_in(inc, MEND_ABS_MISSING);
        k->last_symptom = p->now;
        audit(p, "matched", r, k, inc->id, NULL, why);
        attempt(p, ri, k, inc, component);
    }
    return MEND_OK;
}

static struct pcase *case_by_id(struct mend_planner *p, const char *id)
{
    for (size_t i = 0; i < p->n_cases; i++)
        if (p->cases[i].used && p->cases[i].state != C_IDLE && !strcmp(p->cases[i].act.id, id))
            return &p->cases[i];
    return NULL;
}

/* A result for an action that timed out in flight: the executor got to it
 * after all (Redis or the executor were slow or away). Said, not learnt:
 * the rule has moved on. */
static void late_result(struct mend_planner *p, const char *action_id, const char *status, const char *why)
{
    for (size_t i = 0; i < p->n_cases; i++) {
        struct pcase *k = &p->cases[i];
        if (!k->used || !k->lost[0] || strcmp(k->lost, action_id))
            continue;
        char w[300];
        snprintf(w, sizeof w, "action %s: %s after timing out%s%s", action_id, status, why && *why ? ": " : "",
                 why ? why : "");
        audit(p, "late_result", mend_rules_get(p->rules, k->rule), k, k->incident, NULL, w);
        p->st.late_results++;
        k->lost[0] = '\0'; /* said once */
        return;
    }
}

int mend_planner_result(struct mend_planner *p, const char *action_id, const char *status, const char *why,
                        int64_t now)
{
    advance(p, now);
    expire(p);
    struct pcase *k = case_by_id(p, action_id);
    if (!k || k->state != C_INFLIGHT) {
        late_result(p, action_id, status, why);
        return MEND_ENOTFOUND;
    }
    const struct mend_rule *r = mend_rules_get(p->rules, k->rule);
    if (!strcmp(status, "ok")) {
        audit(p, "executed", r, k, k->incident, &k->act, why);
        k->result_t = p->now;
        k->deadline = p->now + r->verify_ns;
        k->state = C_VERIFYING;
        if (r->verify_ns == 0)
            verified(p, k, "no verify window");
        return MEND_OK;
    }
    audit(p, !strcmp(status, "rejected") ? "rejected" : "failed", r, k, k->incident, &k->act, why);
    p->st.failed++;
    learn_outcome(p, k, 0, 0);
    k->state = C_IDLE;
    k->step++;
    return MEND_OK;
}

/* What time alone decides: verify windows that ended, actions whose result
 * is overdue, approvals that expired. Run before every decision, so a
 * decision never sees a state time has already ended (time reaches the
 * planner in steps: a replay may jump hours between calls). */
static void expire(struct mend_planner *p)
{
    for (size_t i = 0; i < p->n_cases; i++) {
        struct pcase *k = &p->cases[i];
        if (!k->used)
            continue;
        if (k->state == C_VERIFYING && p->now >= k->deadline) {
            if (k->missing)
                not_recovered(p, mend_rules_get(p->rules, k->rule), k,
                              "a series of the incident is still missing at the end of the verify window");
            else
                verified(p, k, "no new anomaly within the verify window");
        } else if (k->state == C_INFLIGHT && p->now >= k->flight_until) {
            const struct mend_rule *r = mend_rules_get(p->rules, k->rule);
            /* the audit log stays in time order: the line is written when
             * time reaches the planner (a replay may jump hours), the
             * deadline it passed is in why */
            char w[200], due[48];
            mend_time_format(k->flight_until, due, sizeof due);
            snprintf(w, sizeof w, "no result within result_timeout %.0f s (due %s)", (double)r->result_timeout_ns / 1e9,
                     due);
            audit(p, "timed_out", r, k, k->incident, &k->act, w);
            p->st.timed_out++;
            learn_outcome(p, k, 0, 0);
            k->state = C_IDLE;
            memcpy(k->lost, k->act.id, sizeof k->lost);
            k->step++;
        } else if (k->state == C_PENDING && p->now >= k->pending_until) {
            audit(p, "approval_expired", mend_rules_get(p->rules, k->rule), k, k->incident, &k->act,
                  "not approved within approval_ttl");
            k->state = C_IDLE;
        }
    }
}

void mend_planner_tick(struct mend_planner *p, int64_t now)
{
    advance(p, now);
    expire(p);
}

int mend_planner_approve(struct mend_planner *p, const char *action_id, int64_t now)
{
    advance(p, now);
    expire(p);
    struct pcase *k = case_by_id(p, action_id);
    if (!k || k->state != C_PENDING)
        return MEND_ENOTFOUND;
    const struct mend_rule *r = mend_rules_get(p->rules, k->rule);
    int rc = send(p, r, k, &k->act, "approved");
    if (rc != MEND_OK)
        return MEND_EAGAIN;
    took_off(p, r, k);
    return MEND_OK;
}

size_t mend_planner_pending(const struct mend_planner *p, char (*ids)[33], size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_cases && n < cap; i++)
        if (p->cases[i].used && p->cases[i].state == C_PENDING)
            memcpy(ids[n++], p->cases[i].act.id, 33);
    return n;
}

/* ---- the case state in checkpoints ------------------------------------------
 *
 * What a restart must not lose: each case (attempts in the window, the
 * cooldown and when the next attempt may go, the action in flight with its
 * result deadline, the one awaiting approval, the verify window under way),
 * the budget's ring of emission times, and the planner's clock. A case
 * names its rule by name, not index: the rules may be edited between runs.
 * A case whose rule is gone is left out (said in the audit log when it had
 * something under way), and so are cases past max_cases (busy ones kept
 * first). Stats are counters of this run and are not carried. */

#define CASES_MAGIC 0x4352414du /* "MARC" */

static void write_action(struct mend_wbuf *w, const struct mend_action *a)
{
    write_name(w, a->id);
    write_name(w, a->rule);
    write_name(w, a->action);
    write_name(w, a->target);
    mend_wbuf_u64(w, a->incident);
    mend_wbuf_u32(w, a->attempt);
    mend_wbuf_u32(w, a->n_params);
    for (uint32_t i = 0; i < a->n_params; i++) {
        write_name(w, a->params[i].name);
        write_name(w, a->params[i].value);
    }
    mend_wbuf_i64(w, a->ttl_ns);
    mend_wbuf_i64(w, a->created_ms);
}

int mend_planner_save_cases(const struct mend_planner *p, struct mend_wbuf *w)
{
    uint32_t n = 0;
    for (size_t i = 0; i < p->n_cases; i++)
        n += p->cases[i].used != 0;
    mend_wbuf_u32(w, CASES_MAGIC);
    mend_wbuf_i64(w, p->now);
    /* the hour ring, oldest first (entries older than an hour are dropped
     * lazily: a few stale ones cost nothing and load keeps the newest) */
    mend_wbuf_u32(w, p->hour_n);
    for (uint32_t i = 0; i < p->hour_n; i++)
        mend_wbuf_i64(w, p->hour[(p->hour_head + p->b.max_per_hour - p->hour_n + i) % p->b.max_per_hour]);
    mend_wbuf_u32(w, n);
    for (size_t i = 0; i < p->n_cases; i++) {
        const struct pcase *k = &p->cases[i];
        if (!k->used)
            continue;
        write_name(w, mend_rules_get(p->rules, k->rule)->name);
        write_name(w, k->target);
        mend_wbuf_u32(w, (uint32_t)k->state);
        mend_wbuf_u64(w, k->incident);
        mend_wbuf_i64(w, k->incident_start);
        mend_wbuf_u32(w, k->n_att);
        for (uint32_t j = 0; j < k->n_att; j++)
            mend_wbuf_i64(w, k->att[j]);
        mend_wbuf_i64(w, k->next_allowed);
        mend_wbuf_i64(w, k->cooldown_cur);
        mend_wbuf_i64(w, k->last_symptom);
        mend_wbuf_u32(w, k->step);
        mend_wbuf_u32(w, k->attempt_no);
        mend_wbuf_u32(w, k->chosen);
        /* bit 0 escalated, bit 1 missing (a checkpoint without bit 1 reads
         * as before: nothing missing) */
        mend_wbuf_u32(w, (uint32_t)k->escalated | (uint32_t)k->missing << 1);
        write_action(w, &k->act);
        write_name(w, k->lost);
        mend_wbuf_i64(w, k->result_t);
        mend_wbuf_i64(w, k->deadline);
        mend_wbuf_i64(w, k->pending_until);
        mend_wbuf_i64(w, k->flight_until);
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static int is_id(const char *s, int may_be_empty)
{
    size_t n = strlen(s);
    if (n == 0)
        return may_be_empty;
    return n == 32 && strspn(s, "0123456789abcdef") == 32;
}

static int read_action(struct mend_rbuf *r, struct mend_action *a)
{
    if (read_name(r, a->id, sizeof a->id) || read_name(r, a->rule, sizeof a->rule) ||
        read_name(r, a->action, sizeof a->action) || read_name(r, a->target, sizeof a->target))
        return MEND_ECORRUPT;
    a->incident = mend_rbuf_u64(r);
    a->attempt = mend_rbuf_u32(r);
    a->n_params = mend_rbuf_u32(r);
    if (r->failed || a->n_params > MEND_ACT_MAX_PARAMS || !is_id(a->id, 1))
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < a->n_params; i++)
        if (read_name(r, a->params[i].name, sizeof a->params[i].name) ||
            read_name(r, a->params[i].value, sizeof a->params[i].value))
            return MEND_ECORRUPT;
    a->ttl_ns = mend_rbuf_i64(r);
    a->created_ms = mend_rbuf_i64(r);
    return r->failed || a->ttl_ns < 0 ? MEND_ECORRUPT : MEND_OK;
}

/* One case as saved; rule is its rule's name until resolved. */
struct saved_case {
    char rule[MEND_ACT_NAME];
    struct pcase k;
};

static int read_case(struct mend_rbuf *r, struct saved_case *sc)
{
    struct pcase *k = &sc->k;
    if (read_name(r, sc->rule, sizeof sc->rule) || read_name(r, k->target, sizeof k->target))
        return MEND_ECORRUPT;
    uint32_t state = mend_rbuf_u32(r);
    k->incident = mend_rbuf_u64(r);
    k->incident_start = mend_rbuf_i64(r);
    k->n_att = mend_rbuf_u32(r);
    if (r->failed || state > C_PENDING || k->n_att > MAX_ATT)
        return MEND_ECORRUPT;
    k->state = (int)state;
    for (uint32_t j = 0; j < k->n_att; j++)
        k->att[j] = mend_rbuf_i64(r);
    k->next_allowed = mend_rbuf_i64(r);
    k->cooldown_cur = mend_rbuf_i64(r);
    k->last_symptom = mend_rbuf_i64(r);
    k->step = mend_rbuf_u32(r);
    k->attempt_no = mend_rbuf_u32(r);
    k->chosen = mend_rbuf_u32(r);
    uint32_t esc = mend_rbuf_u32(r);
    if (r->failed || esc > 3 || k->cooldown_cur < 0 || k->chosen >= MEND_ACT_MAX_CANDIDATES)
        return MEND_ECORRUPT;
    k->escalated = (int)(esc & 1);
    k->missing = (int)(esc >> 1);
    if (read_action(r, &k->act) || read_name(r, k->lost, sizeof k->lost) || !is_id(k->lost, 1))
        return MEND_ECORRUPT;
    k->result_t = mend_rbuf_i64(r);
    k->deadline = mend_rbuf_i64(r);
    k->pending_until = mend_rbuf_i64(r);
    k->flight_until = mend_rbuf_i64(r);
    /* a case with something under way names its action */
    if (r->failed || (k->state != C_IDLE && !is_id(k->act.id, 0)))
        return MEND_ECORRUPT;
    k->used = 1;
    return MEND_OK;
}

static void say_dropped(struct mend_planner *p, const struct saved_case *sc, const char *why)
{
    if (sc->k.state == C_IDLE || !p->h.audit)
        return;
    static const char *const what[] = {"", "in flight", "being verified", "awaiting approval"};
    char w[300];
    snprintf(w, sizeof w, "restored case left out (%s): %s", what[sc->k.state], why);
    p->h.audit(p->h.ctx, p->now, "dropped", sc->rule, sc->k.target, sc->k.incident, &sc->k.act, w);
}

int mend_planner_load_cases(struct mend_planner *p, struct mend_rbuf *r, size_t *kept, size_t *dropped)
{
    uint32_t magic = mend_rbuf_u32(r);
    int64_t now = mend_rbuf_i64(r);
    uint32_t nh = mend_rbuf_u32(r);
    /* the largest budget rules.c accepts bounds the ring */
    if (r->failed || magic != CASES_MAGIC || nh > 1000000u || mend_rbuf_remaining(r) < (uint64_t)nh * 8)
        return MEND_ECORRUPT;
    int64_t *hour = calloc(nh ? nh : 1, sizeof *hour);
    if (!hour)
        return MEND_ENOMEM;
    for (uint32_t i = 0; i < nh; i++) {
        hour[i] = mend_rbuf_i64(r);
        if (i && hour[i] < hour[i - 1]) /* emission times only grow */
            r->failed = 1;
    }
    uint32_t n = mend_rbuf_u32(r);
    /* each case takes well over 100 bytes: a count the bytes cannot hold is
     * refused before anything is allocated for it */
    if (r->failed || n > MEND_PLANNER_MAX_CASES || mend_rbuf_remaining(r) < (uint64_t)n * 100) {
        free(hour);
        return MEND_ECORRUPT;
    }
    struct saved_case *sc = calloc(n ? n : 1, sizeof *sc);
    if (!sc) {
        free(hour);
        return MEND_ENOMEM;
    }
    int rc = MEND_OK;
    for (uint32_t i = 0; i < n && rc == MEND_OK; i++) {
        rc = read_case(r, &sc[i]);
        for (uint32_t j = 0; j < i && rc == MEND_OK; j++) /* one case per (rule, target) */
            if (!strcmp(sc[j].rule, sc[i].rule) && !strcmp(sc[j].k.target, sc[i].k.target))
                rc = MEND_ECORRUPT;
    }
    if (rc != MEND_OK) {
        free(hour);
        free(sc);
        return rc;
    }
    /* checked: from here on p changes */
    if (now > p->now)
        p->now = now;
    memset(p->cases, 0, p->c.max_cases * sizeof *p->cases);
    p->n_cases = 0;
    size_t nk = 0, nd = 0, nr = mend_rules_count(p->rules), fits = 0;
    for (uint32_t i = 0; i < n; i++) {
        sc[i].k.rule = nr;
        for (size_t j = 0; j < nr; j++)
            if (!strcmp(mend_rules_get(p->rules, j)->name, sc[i].rule))
                sc[i].k.rule = j;
        fits += sc[i].k.rule < nr;
    }
    /* in the saved order when all fit (the table as it was); else busy
     * cases first, and idle ones give way */
    int busy_first = fits > p->c.max_cases;
    for (int pass = busy_first ? 0 : 1; pass < 2; pass++) {
        for (uint32_t i = 0; i < n; i++) {
            if (busy_first && (sc[i].k.state == C_IDLE) != (pass == 1))
                continue;
            if (sc[i].k.rule == nr) {
                say_dropped(p, &sc[i], "its rule is no longer loaded");
                nd++;
            } else if (p->n_cases == p->c.max_cases) {
                say_dropped(p, &sc[i], "more cases than max_cases");
                nd++;
            } else {
                p->cases[p->n_cases++] = sc[i].k;
                nk++;
            }
        }
    }
    /* the newest emissions the (maybe smaller) budget ring holds */
    uint32_t take = nh < p->b.max_per_hour ? nh : p->b.max_per_hour;
    p->hour_n = 0;
    p->hour_head = 0;
    for (uint32_t i = nh - take; i < nh; i++) {
        p->hour[p->hour_head] = hour[i];
        p->hour_head = (p->hour_head + 1) % p->b.max_per_hour;
        p->hour_n++;
    }
    free(hour);
    free(sc);
    if (kept)
        *kept = nk;
    if (dropped)
        *dropped = nd;
    return MEND_OK;
}

size_t mend_planner_cases(const struct mend_planner *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_cases; i++)
        n += p->cases[i].used != 0;
    return n;
}

size_t mend_planner_in_flight(const struct mend_planner *p, char (*ids)[33], size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_cases && n < cap; i++)
        if (p->cases[i].used && p->cases[i].state == C_INFLIGHT)
            memcpy(ids[n++], p->cases[i].act.id, 33);
    return n;
}
