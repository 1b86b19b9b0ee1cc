/* test_act.c -- rules and the planner under a replayed clock: every
 * rules error is reported with its place; cooldown, backoff, attempt
 * limits, escalation, approval, budgets, the off switch, verification and
 * outcome learning decide as specified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mend/act.h"
#include "mend/engine.h"

#define S 1000000000LL

struct errlog {
    char text[4096];
    int n;
};

static void on_err(void *ctx, const char *file, uint32_t line, uint32_t col, const char *msg)
{
    struct errlog *e = ctx;
    size_t l = strlen(e->text);
    snprintf(e->text + l, sizeof e->text - l, "%s:%u:%u: %s\n", file, line, col, msg);
    e->n++;
}

static void test_rules_errors_all_reported(void **state)
{
    (void)state;
    struct mend_rules *r;
    struct errlog e = {"", 0};
    struct mend_act_errs errs = {on_err, &e};
    assert_int_equal(mend_rules_new(&r), 0);
    assert_int_equal(mend_rules_load_file(r, "tests/fixtures/act/bad.yaml", &errs), MEND_EINVAL);
    assert_int_equal(e.n, 5);
    assert_non_null(strstr(e.text, "bad.yaml:2:11: name"));
    assert_non_null(strstr(e.text, "bad.yaml:3:24: match: unknown key 'bogus'"));
    assert_non_null(strstr(e.text, "bad.yaml:5:19: svc: unknown template field 'enity'"));
    assert_non_null(strstr(e.text, "bad.yaml:6:15: cooldown"));
    assert_non_null(strstr(e.text, "bad.yaml:7:5: rule: 'action'"));
    assert_int_equal(mend_rules_count(r), 0); /* nothing from a bad document */
    e.n = 0;
    assert_int_equal(mend_rules_load_file(r, "rules/examples.yaml", &errs), 0);
    assert_int_equal(e.n, 0);
    assert_int_equal(mend_rules_count(r), 6);
    /* a second file may not reuse a name */
    assert_int_equal(mend_rules_load_file(r, "rules/examples.yaml", &errs), MEND_EINVAL);
    assert_non_null(strstr(e.text, "already used"));
    /* YAML syntax errors have a place too */
    e.text[0] = 0;
    assert_int_equal(mend_rules_load(r, "x.yaml", "rules: [\n  {a: b\n", 15, &errs), MEND_EPARSE);
    assert_non_null(strstr(e.text, "x.yaml:"));
    mend_rules_free(r);
}

/* ---- planner harness -------------------------------------------------------- */

#define MAX_EV 256
struct rec {
    char ev[MAX_EV][24];
    char id[MAX_EV][33];
    char action[MAX_EV][64];
    char p0[MAX_EV][256];
    int n;
    int emitted;
    int refuse;
};

static int h_emit(void *ctx, const struct mend_action *a)
{
    struct rec *r = ctx;
    (void)a;
    if (r->refuse)
        return MEND_EIO;
    r->emitted++;
    return 0;
}

static void h_audit(void *ctx, int64_t now, const char *ev, const char *rule, const char *target, uint64_t inc,
                    const struct mend_action *a, const char *why)
{
    struct rec *r = ctx;
    (void)now, (void)rule, (void)target, (void)inc, (void)why;
    if (r->n == MAX_EV)
        return;
    snprintf(r->ev[r->n], sizeof r->ev[0], "%s", ev);
    snprintf(r->id[r->n], sizeof r->id[0], "%s", a ? a->id : "");
    snprintf(r->action[r->n], sizeof r->action[0], "%s", a ? a->action : "");
    snprintf(r->p0[r->n], sizeof r->p0[0], "%s", a && a->n_params ? a->params[0].value : "");
    r->n++;
}

static int count(const struct rec *r, const char *ev)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += !strcmp(r->ev[i], ev);
    return n;
}

static const char *last_id(const struct rec *r, const char *ev)
{
    for (int i = r->n - 1; i >= 0; i--)
        if (!strcmp(r->ev[i], ev))
            return r->id[i];
    return NULL;
}

static struct mend_incident *mk(uint64_t id, const char *entity, int64_t start, int64_t last, double score)
{
    static struct mend_incident inc;
    static struct mend_incident_signal sig;
    static char key[64], ent[64];
    snprintf(key, sizeof key, "app,host=%s latency", entity);
    snprintf(ent, sizeof ent, "%s", entity);
    memset(&inc, 0, sizeof inc);
    memset(&sig, 0, sizeof sig);
    sig.key = key;
    sig.max_score = score;
    sig.first_t = start;
    sig.last_t = last;
    inc.id = id;
    inc.entity = ent;
    inc.start_t = start;
    inc.last_t = last;
    inc.max_score = score;
    inc.n_signals = 1;
    inc.signals = &sig;
    return &inc;
}

static struct mend_planner *planner(const char *yaml, struct mend_rules **rules, struct rec *rec)
{
    struct errlog e = {"", 0};
    struct mend_act_errs errs = {on_err, &e};
    assert_int_equal(mend_rules_new(rules), 0);
    int rc = mend_rules_load(*rules, "t.yaml", yaml, strlen(yaml), &errs);
    if (rc)
        fprintf(stderr, "%s", e.text);
    assert_int_equal(rc, 0);
    struct mend_planner_conf c;
    mend_planner_conf_defaults(&c);
    struct mend_planner_hooks h = {h_emit, h_audit, rec};
    struct mend_planner *p;
    assert_int_equal(mend_planner_new(&c, *rules, &h, &p), 0);
    return p;
}

static void test_cooldown_backoff_attempts_escalation(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("rules:\n"
                                     "  - name: r\n"
                                     "    match: {entity: 'web-*', min_score: 0.5}\n"
                                     "    action: restart\n"
                                     "    params: {service: '{{ root_cause.component }}'}\n"
                                     "    cooldown: 60s\n    backoff: 2\n    max_cooldown: 200s\n"
                                     "    max_attempts: 4\n    window: 1h\n    verify: 5m\n"
                                     "    escalate: {action: notify, params: {msg: 'gave up on {{ target }}'}}\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    /* below min_score: nothing */
    mend_planner_incident(p, "open", mk(1, "web-1", t, t, 0.3), NULL, t);
    assert_int_equal(rec.emitted, 0);
    /* match: emitted at once, the component falls back to the entity */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + S, 0.9), "svc-a", t + S);
    assert_int_equal(rec.emitted, 1);
    assert_string_equal(rec.p0[rec.n - 1], "svc-a");
    char id1[33];
    strcpy(id1, last_id(&rec, "emitted"));
    /* while in flight: suppressed */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 2 * S, 0.9), NULL, t + 2 * S);
    assert_int_equal(count(&rec, "in_flight"), 1);
    assert_int_equal(rec.emitted, 1);
    /* fails: the next attempt waits for the cooldown (60 s after emission) */
    mend_planner_result(p, id1, "failed", "exit 1", t + 3 * S);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 30 * S, 0.9), NULL, t + 30 * S);
    assert_int_equal(count(&rec, "cooldown"), 1);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 62 * S, 0.9), NULL, t + 62 * S);
    assert_int_equal(rec.emitted, 2);
    const char *id2 = last_id(&rec, "emitted");
    assert_string_not_equal(id1, id2); /* attempt 2 is its own action */
    mend_planner_result(p, id2, "failed", "exit 1", t + 63 * S);
    /* backoff: cooldown now 120 s from t+62 -> t+182 */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 180 * S, 0.9), NULL, t + 180 * S);
    assert_int_equal(rec.emitted, 2);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 183 * S, 0.9), NULL, t + 183 * S);
    assert_int_equal(rec.emitted, 3);
    mend_planner_result(p, last_id(&rec, "emitted"), "failed", "exit 1", t + 184 * S);
    /* capped backoff: 200 s (not 240) -> t+383 */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 382 * S, 0.9), NULL, t + 382 * S);
    assert_int_equal(rec.emitted, 3);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 383 * S, 0.9), NULL, t + 383 * S);
    assert_int_equal(rec.emitted, 4);
    mend_planner_result(p, last_id(&rec, "emitted"), "failed", "exit 1", t + 384 * S);
    assert_int_equal(count(&rec, "escalated"), 0);
    /* 4 attempts within the window: escalate (once), to notify, at the
     * next match -- not after the cooldown, which paces attempts only */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 385 * S, 0.9), NULL, t + 385 * S);
    assert_int_equal(count(&rec, "escalated"), 1);
    assert_int_equal(rec.emitted, 5);
    assert_string_equal(rec.action[rec.n - 1], "notify");
    assert_string_equal(rec.p0[rec.n - 1], "gave up on web-1");
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 900 * S, 0.9), NULL, t + 900 * S);
    assert_int_equal(count(&rec, "escalated"), 1);
    assert_int_equal(rec.emitted, 5);
    struct mend_outcome o;
    assert_int_equal(mend_planner_outcome(p, "r", "restart", "web", &o), 0);
    assert_int_equal(o.attempts, 4);
    assert_int_equal(o.recoveries, 0);
    mend_planner_free(p);
    mend_rules_free(rules);
}

static void test_verify_and_learning(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("rules:\n"
                                     "  - name: r\n"
                                     "    match: {}\n"
                                     "    actions: [restart, scale]\n"
                                     "    choose: first\n"
                                     "    cooldown: 10s\n    verify: 5m\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    mend_planner_incident(p, "open", mk(7, "web-2", t, t, 0.9), NULL, t);
    assert_string_equal(rec.action[rec.n - 1], "restart");
    mend_planner_result(p, last_id(&rec, "emitted"), "ok", "exit 0", t + 10 * S);
    /* a new anomaly inside the verify window: not recovered, next step */
    mend_planner_incident(p, "update", mk(7, "web-2", t, t + 60 * S, 0.9), NULL, t + 60 * S);
    assert_int_equal(count(&rec, "not_recovered"), 1);
    assert_string_equal(rec.action[rec.n - 1], "scale");
    mend_planner_result(p, last_id(&rec, "emitted"), "ok", "exit 0", t + 70 * S);
    mend_planner_tick(p, t + 70 * S + 299 * S);
    assert_int_equal(count(&rec, "verified"), 0);
    mend_planner_tick(p, t + 70 * S + 300 * S);
    assert_int_equal(count(&rec, "verified"), 1);
    struct mend_outcome o;
    assert_int_equal(mend_planner_outcome(p, "r", "scale", "web", &o), 0);
    assert_int_equal(o.recoveries, 1);
    assert_true(o.ttr_sum_s > 69 && o.ttr_sum_s < 71);
    assert_int_equal(mend_planner_outcome(p, "r", "restart", "web", &o), 0);
    assert_int_equal(o.recoveries, 0);
    assert_int_equal(o.attempts, 1);
    /* learning survives a save/load, and a damaged copy is refused */
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_planner_save(p, &w), 0);
    struct mend_planner_conf c;
    mend_planner_conf_defaults(&c);
    struct mend_planner_hooks h = {h_emit, h_audit, &rec};
    struct mend_planner *q;
    assert_int_equal(mend_planner_new(&c, rules, &h, &q), 0);
    struct mend_rbuf rb;
    mend_rbuf_init(&rb, w.data, w.len - 3);
    assert_int_equal(mend_planner_load(q, &rb), MEND_ECORRUPT);
    assert_int_equal(mend_planner_outcome(q, "r", "scale", "web", &o), MEND_ENOTFOUND);
    mend_rbuf_init(&rb, w.data, w.len);
    assert_int_equal(mend_planner_load(q, &rb), 0);
    assert_int_equal(mend_planner_outcome(q, "r", "scale", "web", &o), 0);
    assert_int_equal(o.recoveries, 1);
    mend_wbuf_fini(&w);
    mend_planner_free(q);
    mend_planner_free(p);
    mend_rules_free(rules);
}

/* A silent series raises no new anomaly: while one of the incident's series
 * is still missing, a quiet verify window is no recovery; back is, gone is
 * not. */
static void test_absence_needs_the_series_back(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("rules:\n"
                                     "  - name: r\n"
                                     "    match: {}\n"
                                     "    actions: [restart, scale]\n"
                                     "    choose: first\n"
                                     "    cooldown: 10s\n    verify: 5m\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    struct mend_incident *inc = mk(7, "db-1", t, t, 1.0);
    inc->signals[0].kind = MEND_ANOM_ABSENCE;
    inc->signals[0].absence = MEND_ABS_MISSING;
    mend_planner_incident(p, "open", inc, NULL, t);
    mend_planner_result(p, last_id(&rec, "emitted"), "ok", "exit 0", t + 10 * S);
    mend_planner_tick(p, t + 10 * S + 300 * S);
    assert_int_equal(count(&rec, "verified"), 0);
    assert_int_equal(count(&rec, "not_recovered"), 1);
    struct mend_outcome o;
    assert_int_equal(mend_planner_outcome(p, "r", "restart", "db", &o), 0);
    assert_int_equal(o.recoveries, 0);

    /* the next step's action, then the series comes back: verified */
    inc = mk(7, "db-1", t, t, 1.0);
    inc->signals[0].kind = MEND_ANOM_ABSENCE;
    inc->signals[0].absence = MEND_ABS_MISSING;
    mend_planner_incident(p, "update", inc, NULL, t + 400 * S);
    const char *id = last_id(&rec, "emitted");
    assert_non_null(id);
    assert_string_equal(rec.action[rec.n - 1], "scale");
    mend_planner_result(p, id, "ok", "exit 0", t + 410 * S);
    inc = mk(7, "db-1", t, t, 1.0);
    inc->signals[0].kind = MEND_ANOM_ABSENCE;
    inc->signals[0].absence = MEND_ABS_BACK;
    mend_planner_incident(p, "update", inc, NULL, t + 420 * S);
    mend_planner_tick(p, t + 410 * S + 300 * S);
    assert_int_equal(count(&rec, "verified"), 1);
    assert_int_equal(count(&rec, "not_recovered"), 1);

    /* another incident whose series is evicted as gone: it resolves, but
     * that is no recovery */
    inc = mk(8, "db-2", t + 2000 * S, t + 2000 * S, 1.0);
    inc->signals[0].kind = MEND_ANOM_ABSENCE;
    inc->signals[0].absence = MEND_ABS_MISSING;
    mend_planner_incident(p, "open", inc, NULL, t + 2000 * S);
    mend_planner_result(p, last_id(&rec, "emitted"), "ok", "exit 0", t + 2010 * S);
    inc = mk(8, "db-2", t + 2000 * S, t + 2000 * S, 1.0);
    inc->signals[0].kind = MEND_ANOM_ABSENCE;
    inc->signals[0].absence = MEND_ABS_GONE;
    mend_planner_incident(p, "resolve", inc, NULL, t + 2100 * S);
    assert_int_equal(count(&rec, "verified"), 1);
    assert_int_equal(count(&rec, "not_recovered"), 2);
    mend_planner_free(p);
    mend_rules_free(rules);
}

static void test_choose_best(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("rules:\n"
                                     "  - name: r\n    match: {}\n    actions: [restart, scale]\n"
                                     "    choose: best\n    cooldown: 1s\n    verify: 10s\n    max_attempts: 100\n    backoff: 1\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    int picks_scale = 0;
    /* scale always recovers, restart never: after learning, best = scale */
    for (uint64_t i = 1; i <= 40; i++) {
        int64_t t0 = t + (int64_t)i * 100 * S;
        mend_planner_incident(p, "open", mk(i, "web-1", t0, t0, 0.9), NULL, t0);
        const char *id = last_id(&rec, "emitted");
        int is_scale = !strcmp(rec.action[rec.n - 1], "scale");
        if (is_scale) {
            mend_planner_result(p, id, "ok", "", t0 + S);
            mend_planner_tick(p, t0 + 20 * S);
        } else {
            mend_planner_result(p, id, "failed", "exit 1", t0 + S);
        }
        if (getenv("DBG"))
            fprintf(stderr, "%d %s\n", is_scale, rec.ev[rec.n - 1]);
        if (i > 20)
            picks_scale += is_scale;
    }
    assert_true(picks_scale >= 16); /* explore share 0.1: most late picks are the best */
    mend_planner_free(p);
    mend_rules_free(rules);
}

static void test_approval_budgets_offswitch_dryrun(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("budgets: {max_concurrent: 2, max_per_target: 1, max_per_hour: 3}\n"
                                     "rules:\n"
                                     "  - name: appr\n    match: {entity: 'db-*'}\n    action: failover\n"
                                     "    require_approval: true\n    approval_ttl: 10m\n"
                                     "  - name: dry\n    match: {entity: 'q-*'}\n    action: throttle\n"
                                     "    dry_run: true\n"
                                     "  - name: web\n    match: {entity: 'web-*'}\n    action: restart\n"
                                     "    cooldown: 1s\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    /* approval: waits, then expires */
    mend_planner_incident(p, "open", mk(1, "db-1", t, t, 0.9), NULL, t);
    assert_int_equal(count(&rec, "awaiting_approval"), 1);
    assert_int_equal(rec.emitted, 0);
    char ids[4][33];
    assert_int_equal(mend_planner_pending(p, ids, 4), 1);
    mend_planner_tick(p, t + 601 * S);
    assert_int_equal(count(&rec, "approval_expired"), 1);
    assert_int_equal(mend_planner_approve(p, ids[0], t + 602 * S), MEND_ENOTFOUND);
    /* a new one, approved in time: emitted */
    mend_planner_incident(p, "open", mk(2, "db-1", t + 700 * S, t + 700 * S, 0.9), NULL, t + 700 * S);
    assert_int_equal(mend_planner_pending(p, ids, 4), 1);
    assert_int_equal(mend_planner_approve(p, ids[0], t + 701 * S), 0);
    assert_int_equal(rec.emitted, 1);
    /* dry run: audited, never emitted */
    mend_planner_incident(p, "open", mk(3, "q-1", t + 702 * S, t + 702 * S, 0.9), NULL, t + 702 * S);
    assert_int_equal(count(&rec, "dry_run"), 1);
    assert_int_equal(rec.emitted, 1);
    /* max_concurrent 2: db-1 in flight + web-1 -> web-2 over budget */
    mend_planner_incident(p, "open", mk(4, "web-1", t + 703 * S, t + 703 * S, 0.9), NULL, t + 703 * S);
    assert_int_equal(rec.emitted, 2);
    mend_planner_incident(p, "open", mk(5, "web-2", t + 704 * S, t + 704 * S, 0.9), NULL, t + 704 * S);
    assert_int_equal(rec.emitted, 2);
    assert_int_equal(count(&rec, "over_budget"), 1);
    /* max_per_hour 3: after web-1 finishes, web-2 goes (3rd), web-3 refused */
    mend_planner_result(p, rec.id[rec.n - 3], "ok", "", t + 705 * S); /* id of web-1's emission */
    mend_planner_incident(p, "update", mk(5, "web-2", t + 704 * S, t + 706 * S, 0.9), NULL, t + 706 * S);
    assert_int_equal(rec.emitted, 3);
    mend_planner_result(p, last_id(&rec, "emitted"), "ok", "", t + 707 * S);
    struct mend_planner_stats st;
    mend_planner_stats(p, &st);
    mend_planner_incident(p, "open", mk(6, "web-3", t + 708 * S, t + 708 * S, 0.9), NULL, t + 708 * S);
    assert_int_equal(rec.emitted, 3);
    /* an hour later the breaker lets one through again */
    mend_planner_result(p, ids[0], "ok", "", t + 709 * S);
    mend_planner_incident(p, "update", mk(6, "web-3", t + 708 * S, t + 4400 * S, 0.9), NULL, t + 4400 * S);
    assert_int_equal(rec.emitted, 4);
    /* the off switch: at once */
    mend_planner_set_enabled(p, 0);
    mend_planner_incident(p, "open", mk(7, "web-4", t + 4401 * S, t + 4401 * S, 0.9), NULL, t + 4401 * S);
    assert_int_equal(rec.emitted, 4);
    assert_int_equal(count(&rec, "disabled"), 1);
    /* a queue that refuses: the attempt is not used up */
    mend_planner_set_enabled(p, 1);
    rec.refuse = 1;
    mend_planner_incident(p, "update", mk(7, "web-4", t + 4401 * S, t + 4402 * S, 0.9), NULL, t + 4402 * S);
    assert_int_equal(count(&rec, "emit_failed"), 1);
    rec.refuse = 0;
    mend_planner_incident(p, "update", mk(7, "web-4", t + 4401 * S, t + 4403 * S, 0.9), NULL, t + 4403 * S);
    assert_int_equal(rec.emitted, 5);
    mend_planner_free(p);
    mend_rules_free(rules);
}

/* The backoff returns to the base cooldown after reset_after without
 * symptoms on the target. */
static void test_backoff_resets_after_healthy_period(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("rules:\n  - name: r\n    match: {}\n    action: restart\n"
                                     "    cooldown: 60s\n    backoff: 4\n    max_cooldown: 1h\n"
                                     "    reset_after: 10m\n    max_attempts: 100\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    mend_planner_incident(p, "open", mk(1, "web-1", t, t, 0.9), NULL, t);
    mend_planner_result(p, last_id(&rec, "emitted"), "failed", "", t + S);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 61 * S, 0.9), NULL, t + 61 * S);
    assert_int_equal(rec.emitted, 2); /* cooldown now 240 s, then 960 s */
    mend_planner_result(p, last_id(&rec, "emitted"), "failed", "", t + 62 * S);
    /* without a healthy period the backoff holds: 240 s after t+61 */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 200 * S, 0.9), NULL, t + 200 * S);
    assert_int_equal(rec.emitted, 2);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 302 * S, 0.9), NULL, t + 302 * S);
    assert_int_equal(rec.emitted, 3); /* cooldown now 960 s from t+302 */
    mend_planner_result(p, last_id(&rec, "emitted"), "failed", "", t + 303 * S);
    /* quiet for 20 min (> reset_after), a new incident: base cooldown again */
    int64_t t2 = t + 1500 * S;
    mend_planner_incident(p, "open", mk(2, "web-1", t2, t2, 0.9), NULL, t2);
    assert_int_equal(rec.emitted, 4);
    mend_planner_result(p, last_id(&rec, "emitted"), "failed", "", t2 + S);
    mend_planner_incident(p, "update", mk(2, "web-1", t2, t2 + 61 * S, 0.9), NULL, t2 + 61 * S);
    assert_int_equal(rec.emitted, 5); /* 60 s, not 3840 s */
    mend_planner_free(p);
    mend_rules_free(rules);
}

/* An action that never gets a result times out on the replayed clock at
 * its rule's result_timeout: its budget slot and its (rule, target) are
 * free again, it is learnt as not recovered, the next attempt goes, and
 * with the attempts used up the rule escalates. A result that comes after
 * is audited as late and changes nothing. */
static void test_in_flight_timeout(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("budgets: {max_concurrent: 1, max_per_target: 1, max_per_hour: 100}\n"
                                     "rules:\n"
                                     "  - name: r\n    match: {entity: 'web-*'}\n    action: restart\n"
                                     "    escalate: notify\n    cooldown: 10s\n    backoff: 1\n"
                                     "    max_attempts: 2\n    ttl: 60s\n    result_timeout: 90s\n"
                                     "  - name: d\n    match: {entity: 'db-*'}\n    action: failover\n    ttl: 60s\n",
                                     &rules, &rec);
    assert_int_equal(mend_rules_get(rules, 0)->result_timeout_ns, 90 * S);
    assert_int_equal(mend_rules_get(rules, 1)->result_timeout_ns, 360 * S); /* ttl + 5 min */
    int64_t t = 1000 * S;
    struct mend_planner_stats st;
    mend_planner_incident(p, "open", mk(1, "web-1", t, t, 0.9), NULL, t);
    assert_int_equal(rec.emitted, 1);
    char id1[33];
    snprintf(id1, sizeof id1, "%s", last_id(&rec, "emitted"));
    mend_planner_incident(p, "open", mk(2, "web-2", t + 5 * S, t + 5 * S, 0.9), NULL, t + 5 * S);
    assert_int_equal(count(&rec, "over_budget"), 1); /* web-1's action holds the only slot */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 30 * S, 0.9), NULL, t + 30 * S);
    assert_int_equal(count(&rec, "in_flight"), 1);
    mend_planner_tick(p, t + 89 * S);
    assert_int_equal(count(&rec, "timed_out"), 0);
    mend_planner_stats(p, &st);
    assert_int_equal(st.in_flight, 1);
    mend_planner_tick(p, t + 90 * S);
    assert_int_equal(count(&rec, "timed_out"), 1);
    assert_string_equal(last_id(&rec, "timed_out"), id1);
    mend_planner_stats(p, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.timed_out, 1);
    struct mend_outcome o;
    assert_int_equal(mend_planner_outcome(p, "r", "restart", "web", &o), 0);
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.recoveries, 0);
    /* the slot is free: web-2 goes, and its result in time stops its clock */
    mend_planner_incident(p, "update", mk(2, "web-2", t + 5 * S, t + 91 * S, 0.9), NULL, t + 91 * S);
    assert_int_equal(rec.emitted, 2);
    assert_int_equal(mend_planner_result(p, last_id(&rec, "emitted"), "ok", "exit 0", t + 92 * S), 0);
    /* the pair is free: web-1's second attempt */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 93 * S, 0.9), NULL, t + 93 * S);
    assert_int_equal(rec.emitted, 3);
    char id3[33];
    snprintf(id3, sizeof id3, "%s", last_id(&rec, "emitted"));
    assert_string_not_equal(id1, id3);
    /* the first one's result, late: said once, nothing else moves */
    assert_int_equal(mend_planner_result(p, id1, "ok", "exit 0", t + 94 * S), MEND_ENOTFOUND);
    assert_int_equal(mend_planner_result(p, id1, "ok", "exit 0", t + 95 * S), MEND_ENOTFOUND);
    assert_int_equal(count(&rec, "late_result"), 1);
    mend_planner_stats(p, &st);
    assert_int_equal(st.late_results, 1);
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(mend_planner_outcome(p, "r", "restart", "web", &o), 0);
    assert_int_equal(o.recoveries, 0);
    mend_planner_tick(p, t + 182 * S);
    assert_int_equal(count(&rec, "timed_out"), 1);
    mend_planner_tick(p, t + 183 * S);
    assert_int_equal(count(&rec, "timed_out"), 2);
    assert_string_equal(last_id(&rec, "timed_out"), id3);
    /* two attempts, both timed out: the rule escalates */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 190 * S, 0.9), NULL, t + 190 * S);
    assert_int_equal(count(&rec, "escalated"), 1);
    assert_string_equal(rec.action[rec.n - 1], "notify");
    assert_int_equal(rec.emitted, 4);
    /* time comes in steps (a replay): a decision after the deadline sees
     * the timeout first, without a tick in between */
    mend_planner_incident(p, "open", mk(3, "web-9", t + 200 * S, t + 200 * S, 0.9), NULL, t + 200 * S);
    assert_int_equal(rec.emitted, 5);
    mend_planner_incident(p, "update", mk(3, "web-9", t + 200 * S, t + 400 * S, 0.9), NULL, t + 400 * S);
    assert_int_equal(count(&rec, "timed_out"), 3);
    assert_int_equal(count(&rec, "over_budget"), 1);
    assert_int_equal(rec.emitted, 6);
    mend_planner_free(p);
    mend_rules_free(rules);

    /* result_timeout shorter than ttl is refused, with its place */
    struct errlog e = {"", 0};
    struct mend_act_errs errs = {on_err, &e};
    const char *bad = "rules:\n  - name: r\n    match: {}\n    action: restart\n    ttl: 60s\n"
                      "    result_timeout: 30s\n";
    assert_int_equal(mend_rules_new(&rules), 0);
    assert_int_equal(mend_rules_load(rules, "t.yaml", bad, strlen(bad), &errs), MEND_EINVAL);
    assert_non_null(strstr(e.text, "t.yaml:6:21: result_timeout: shorter than ttl"));
    mend_rules_free(rules);
}

/* The last allowed attempt judged not recovered: the rule escalates in
 * the same decision, though the cooldown still runs (it paces attempts). */
static void test_not_recovered_escalates_at_once(void **state)
{
    (void)state;
    struct rec rec;
    memset(&rec, 0, sizeof rec);
    struct mend_rules *rules;
    struct mend_planner *p = planner("rules:\n  - name: r\n    match: {}\n    action: restart\n"
                                     "    cooldown: 5m\n    max_attempts: 1\n    verify: 10m\n"
                                     "    escalate: {action: notify, params: {msg: '{{ target }} not recovered'}}\n",
                                     &rules, &rec);
    int64_t t = 1000 * S;
    mend_planner_incident(p, "open", mk(1, "web-2", t, t, 0.9), NULL, t);
    mend_planner_result(p, last_id(&rec, "emitted"), "ok", "exit 0", t + S);
    mend_planner_incident(p, "update", mk(1, "web-2", t, t + 60 * S, 0.9), NULL, t + 60 * S);
    assert_int_equal(count(&rec, "not_recovered"), 1);
    assert_int_equal(count(&rec, "escalated"), 1);
    assert_int_equal(count(&rec, "cooldown"), 0);
    assert_string_equal(rec.action[rec.n - 1], "notify");
    assert_string_equal(rec.p0[rec.n - 1], "web-2 not recovered");
    assert_int_equal(rec.emitted, 2);
    mend_planner_free(p);
    mend_rules_free(rules);
}

/* ---- learnt outcomes in the engine checkpoint ------------------------------ */

#define BEST_RULES                                                                                             \
    "rules:\n"                                                                                                 \
    "  - name: r\n    match: {}\n    actions: [restart, scale]\n"                                              \
    "    choose: best\n    cooldown: 1s\n    verify: 10s\n    max_attempts: 100\n    backoff: 1\n"

/* scale recovers, restart never: the learnt table ends up favouring scale */
static void teach(struct mend_planner *p, struct rec *rec, const char *target, uint64_t first, uint64_t n,
                  int64_t t)
{
    for (uint64_t i = first; i < first + n; i++) {
        int64_t t0 = t + (int64_t)i * 100 * S;
        mend_planner_incident(p, "open", mk(i, target, t0, t0, 0.9), NULL, t0);
        const char *id = last_id(rec, "emitted");
        if (!strcmp(rec->action[rec->n - 1], "scale")) {
            mend_planner_result(p, id, "ok", "", t0 + S);
            mend_planner_tick(p, t0 + 20 * S);
        } else {
            mend_planner_result(p, id, "failed", "exit 1", t0 + S);
        }
    }
}

static struct mend_engine *engine_store(struct mend_act_store **st)
{
    struct mend_engine_conf ec;
    struct mend_engine *e;
    struct mend_engine_section sec;
    mend_engine_conf_defaults(&ec);
    assert_int_equal(mend_engine_new(&ec, NULL, NULL, &e), MEND_OK);
    assert_int_equal(mend_act_store_new(st), MEND_OK);
    mend_act_store_section(*st, &sec);
    assert_int_equal(mend_engine_add_section(e, &sec), MEND_OK);
    mend_act_store_cases_section(*st, &sec);
    assert_int_equal(mend_engine_add_section(e, &sec), MEND_OK);
    return e;
}

static size_t slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    assert_true(n < cap);
    return n;
}

static void assert_same_outcomes(const struct mend_planner *a, const struct mend_planner *b)
{
    const char *acts[] = {"restart", "scale"};
    for (int i = 0; i < 2; i++) {
        struct mend_outcome x, y;
        assert_int_equal(mend_planner_outcome(a, "r", acts[i], "web", &x), 0);
        assert_int_equal(mend_planner_outcome(b, "r", acts[i], "web", &y), 0);
        assert_int_equal(x.attempts, y.attempts);
        assert_int_equal(x.recoveries, y.recoveries);
        assert_memory_equal(&x.ttr_sum_s, &y.ttr_sum_s, sizeof x.ttr_sum_s);
    }
    struct mend_wbuf wa, wb;
    mend_wbuf_init(&wa);
    mend_wbuf_init(&wb);
    assert_int_equal(mend_planner_save(a, &wa), 0);
    assert_int_equal(mend_planner_save(b, &wb), 0);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.data, wb.data, wa.len);
    mend_wbuf_fini(&wa);
    mend_wbuf_fini(&wb);
}

/* Learnt outcomes ride in the engine checkpoint: restored, they equal what
 * was saved, a checkpoint written again is byte-identical, and the planner
 * that gets them decides exactly as the one that learnt them (a fresh one
 * does not: the negative control). A run without remediation keeps them;
 * a damaged section is refused. */
static void test_outcomes_in_checkpoint(void **state)
{
    (void)state;
    char dir[] = "/tmp/mend-act-ckpt-XXXXXX", p1[64], p2[64], p3[64], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(p1, sizeof p1, "%s/a.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/b.ckpt", dir);
    snprintf(p3, sizeof p3, "%s/c.ckpt", dir);
    struct rec *rec = calloc(3, sizeof *rec);
    assert_non_null(rec);
    struct mend_rules *rules, *rules2, *rules3;
    struct mend_planner *p = planner(BEST_RULES, &rules, &rec[0]);
    int64_t t = 1000 * S;
    teach(p, &rec[0], "web-1", 1, 30, t);
    assert_int_equal(mend_planner_outcomes(p), 2);

    struct mend_act_store *s1, *s2, *s3;
    struct mend_engine *e1 = engine_store(&s1);
    assert_int_equal(mend_act_store_attach(s1, p), 0);
    assert_int_equal(mend_engine_checkpoint(e1, p1, err, sizeof err), MEND_OK);

    /* a restart: the section comes back before any stage is open */
    struct mend_engine *e2 = engine_store(&s2);
    assert_int_equal(mend_engine_restore(e2, p1, err, sizeof err), MEND_OK);
    assert_int_equal(mend_act_store_restored(s2), 2);
    struct mend_planner *q = planner(BEST_RULES, &rules2, &rec[1]);
    assert_int_equal(mend_act_store_attach(s2, q), 0);
    assert_same_outcomes(p, q);
    assert_int_equal(mend_engine_checkpoint(e2, p2, err, sizeof err), MEND_OK);
    static unsigned char f1[1 << 16], f2[1 << 16];
    size_t n1 = slurp(p1, f1, sizeof f1), n2 = slurp(p2, f2, sizeof f2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);

    /* the same incidents on a new target of the same kind: the restored
     * planner's decisions are the learning planner's, line for line */
    struct mend_planner *fresh = planner(BEST_RULES, &rules3, &rec[2]);
    for (int i = 0; i < 3; i++)
        memset(&rec[i], 0, sizeof rec[i]);
    teach(p, &rec[0], "web-7", 100, 10, t);
    teach(q, &rec[1], "web-7", 100, 10, t);
    teach(fresh, &rec[2], "web-7", 100, 10, t);
    assert_true(rec[0].n > 10);
    assert_int_equal(rec[0].n, rec[1].n);
    assert_memory_equal(&rec[0], &rec[1], sizeof rec[0]);
    assert_string_equal(rec[1].action[1], "scale"); /* matched, then the learnt best */
    assert_string_equal(rec[2].action[1], "restart"); /* nothing learnt: restart first */
    assert_same_outcomes(p, q);

    /* an engine without remediation keeps the table in its checkpoints */
    mend_act_store_free(s1); /* e1's section ctx: e1 goes first */
    mend_engine_free(e1);
    struct mend_engine *e3 = engine_store(&s3);
    assert_int_equal(mend_engine_restore(e3, p2, err, sizeof err), MEND_OK);
    assert_int_equal(mend_engine_checkpoint(e3, p3, err, sizeof err), MEND_OK);
    n1 = slurp(p3, f1, sizeof f1);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    /* ... and a detached stage leaves its latest table there */
    assert_int_equal(mend_act_store_attach(s2, NULL), 0);
    assert_int_equal(mend_act_store_restored(s2), 2);
    assert_int_equal(mend_engine_checkpoint(e2, p3, err, sizeof err), MEND_OK);
    mend_engine_free(e3);
    mend_act_store_free(s3);
    e3 = engine_store(&s3);
    assert_int_equal(mend_engine_restore(e3, p3, err, sizeof err), MEND_OK);
    assert_int_equal(mend_act_store_attach(s3, fresh), 0);
    assert_same_outcomes(q, fresh);

    /* a damaged section is refused by the load the restore calls */
    struct mend_engine_section sec;
    mend_act_store_section(s3, &sec);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_planner_save(q, &w), 0);
    w.data[8] = 0xff; /* the first name's length: longer than a name may be */
    struct mend_rbuf rb;
    mend_rbuf_init(&rb, w.data, w.len);
    assert_int_equal(sec.load(sec.ctx, &rb), MEND_ECORRUPT);
    mend_wbuf_fini(&w);

    mend_engine_free(e2);
    mend_engine_free(e3);
    mend_act_store_free(s2);
    mend_act_store_free(s3);
    mend_planner_free(p);
    mend_planner_free(q);
    mend_planner_free(fresh);
    mend_rules_free(rules);
    mend_rules_free(rules2);
    mend_rules_free(rules3);
    free(rec);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    rmdir(dir);
}

/* ---- the planner's cases in the engine checkpoint -------------------------- */

#define CASE_RULES                                                                                             \
    "budgets: {max_concurrent: 4, max_per_target: 1, max_per_hour: 8}\n"                                      \
    "rules:\n"                                                                                                 \
    "  - name: r\n    match: {entity: 'web-*'}\n    action: restart\n    escalate: notify\n"                  \
    "    cooldown: 60s\n    backoff: 2\n    max_cooldown: 10m\n    max_attempts: 3\n    window: 2h\n"         \
    "    verify: 5m\n    ttl: 60s\n    result_timeout: 5m\n"                                                   \
    "  - name: a\n    match: {entity: 'db-*'}\n    action: failover\n    require_approval: true\n"            \
    "    approval_ttl: 10m\n"

static void note(struct rec *r, const char *what, int rc)
{
    if (r->n == MAX_EV)
        return;
    snprintf(r->ev[r->n], sizeof r->ev[0], "%s=%d", what, rc);
    r->id[r->n][0] = r->action[r->n][0] = r->p0[r->n][0] = '\0';
    r->n++;
}

/* Before the restart: web-1's action in flight (result due at +300 s),
 * web-2's being verified, web-3 failed once (cooldown to +60 s), web-4
 * failed twice (cooldown doubled: to +190 s, two of three attempts used),
 * db-1's awaiting approval, five of the hour's eight emissions spent. */
static void cases_before(struct mend_planner *p, struct rec *rec, int64_t t)
{
    mend_planner_incident(p, "open", mk(1, "web-1", t, t, 0.9), NULL, t);
    mend_planner_incident(p, "open", mk(2, "web-2", t, t, 0.9), NULL, t);
    mend_planner_result(p, last_id(rec, "emitted"), "ok", "exit 0", t + 5 * S);
    mend_planner_incident(p, "open", mk(3, "web-3", t, t, 0.9), NULL, t + 6 * S);
    mend_planner_result(p, last_id(rec, "emitted"), "failed", "exit 1", t + 7 * S);
    mend_planner_incident(p, "open", mk(4, "db-1", t, t, 0.9), NULL, t + 8 * S);
    mend_planner_incident(p, "open", mk(5, "web-4", t, t, 0.9), NULL, t + 10 * S);
    mend_planner_result(p, last_id(rec, "emitted"), "failed", "exit 1", t + 12 * S);
    mend_planner_incident(p, "update", mk(5, "web-4", t, t + 70 * S, 0.9), NULL, t + 70 * S);
    mend_planner_result(p, last_id(rec, "emitted"), "failed", "exit 1", t + 72 * S);
}

/* After it: every kind of state is consulted. */
static void cases_after(struct mend_planner *p, struct rec *rec, int64_t t)
{
    char ids[4][33];
    size_t n = mend_planner_pending(p, ids, 4);
    note(rec, "pending", (int)n);
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 100 * S, 0.9), NULL, t + 100 * S);
    mend_planner_incident(p, "update", mk(5, "web-4", t, t + 150 * S, 0.9), NULL, t + 150 * S);
    mend_planner_incident(p, "update", mk(3, "web-3", t, t + 155 * S, 0.9), NULL, t + 155 * S);
    mend_planner_incident(p, "update", mk(2, "web-2", t, t + 160 * S, 0.9), NULL, t + 160 * S);
    if (n)
        note(rec, "approve", mend_planner_approve(p, ids[0], t + 170 * S));
    mend_planner_incident(p, "update", mk(5, "web-4", t, t + 200 * S, 0.9), NULL, t + 200 * S);
    mend_planner_tick(p, t + 400 * S); /* web-1's result never came */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 410 * S, 0.9), NULL, t + 410 * S);
    mend_planner_incident(p, "open", mk(6, "web-5", t + 3000 * S, t + 3000 * S, 0.9), NULL, t + 3000 * S);
    mend_planner_incident(p, "update", mk(5, "web-4", t, t + 3700 * S, 0.9), NULL, t + 3700 * S);
    mend_planner_result(p, last_id(rec, "emitted"), "failed", "exit 1", t + 3750 * S);
    mend_planner_incident(p, "update", mk(5, "web-4", t, t + 3800 * S, 0.9), NULL, t + 3800 * S);
}

static void assert_same_decisions(const struct rec *a, const struct rec *b)
{
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->ev[i], b->ev[i]) || strcmp(a->id[i], b->id[i]))
            fprintf(stderr, "decision %d: %s %s vs %s %s\n", i, a->ev[i], a->id[i], b->ev[i], b->id[i]);
        assert_string_equal(a->ev[i], b->ev[i]);
        assert_string_equal(a->id[i], b->id[i]);
        assert_string_equal(a->action[i], b->action[i]);
    }
    assert_int_equal(a->emitted, b->emitted);
}

static int first(const struct rec *r, const char *ev)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->ev[i], ev))
            return i;
    return -1;
}

/* A restart loses no retry: a planner stopped in the middle of a cooldown,
 * with an action in flight, one being verified, one awaiting approval and
 * attempts used, checkpointed through a real engine checkpoint file and
 * restored into a fresh planner, decides from then on exactly as the one
 * that never stopped; a planner that starts fresh decides otherwise (the
 * negative control: it re-emits what is in flight, ignores the cooldown,
 * the attempts and the hour's budget). A checkpoint written again after the
 * restore is byte-identical. */
static void test_cases_survive_restart(void **state)
{
    (void)state;
    char dir[] = "/tmp/mend-act-cases-XXXXXX", p1[64], p2[64], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(p1, sizeof p1, "%s/a.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/b.ckpt", dir);
    struct rec *rec = calloc(3, sizeof *rec);
    assert_non_null(rec);
    struct mend_rules *rules, *rules2, *rules3;
    struct mend_planner *p = planner(CASE_RULES, &rules, &rec[0]);
    int64_t t = 1000 * S;
    cases_before(p, &rec[0], t);
    assert_int_equal(rec[0].emitted, 5);
    assert_int_equal(mend_planner_cases(p), 5);

    struct mend_act_store *s1, *s2;
    struct mend_engine *e1 = engine_store(&s1);
    assert_int_equal(mend_act_store_attach(s1, p), 0);
    assert_int_equal(mend_engine_checkpoint(e1, p1, err, sizeof err), MEND_OK);
    struct mend_engine *e2 = engine_store(&s2);
    assert_int_equal(mend_engine_restore(e2, p1, err, sizeof err), MEND_OK);
    struct mend_act_store_cases sc;
    mend_act_store_cases(s2, &sc);
    assert_int_equal(sc.held, 5);
    struct mend_planner *q = planner(CASE_RULES, &rules2, &rec[1]);
    assert_int_equal(mend_act_store_attach(s2, q), 0);
    mend_act_store_cases(s2, &sc);
    assert_int_equal(sc.taken, 5);
    assert_int_equal(sc.dropped, 0);
    assert_int_equal(mend_planner_cases(q), 5);
    struct mend_planner_stats st;
    mend_planner_stats(q, &st);
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(mend_engine_checkpoint(e2, p2, err, sizeof err), MEND_OK);
    static unsigned char f1[1 << 16], f2[1 << 16];
    size_t n1 = slurp(p1, f1, sizeof f1), n2 = slurp(p2, f2, sizeof f2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);

    struct mend_planner *fresh = planner(CASE_RULES, &rules3, &rec[2]);
    char web1[33];
    snprintf(web1, sizeof web1, "%s", rec[0].id[first(&rec[0], "emitted")]);
    for (int i = 0; i < 3; i++)
        memset(&rec[i], 0, sizeof rec[i]);
    cases_after(p, &rec[0], t);
    cases_after(q, &rec[1], t);
    cases_after(fresh, &rec[2], t);
    assert_same_decisions(&rec[0], &rec[1]);
    for (int i = 0; getenv("ACT_DEBUG") && i < rec[1].n; i++)
        fprintf(stderr, "%2d %-18s %-18s %s\n", i, rec[1].ev[i], i < rec[2].n ? rec[2].ev[i] : "", rec[1].action[i]);
    /* what the restored planner decided, kind by kind, and what the fresh
     * one did instead */
    assert_string_equal(rec[1].ev[0], "pending=1");            /* db-1 still awaits approval */
    assert_string_equal(rec[2].ev[0], "pending=0");
    assert_string_equal(rec[1].ev[2], "in_flight");            /* web-1: still in flight ... */
    assert_string_equal(rec[1].id[2], web1);
    assert_string_equal(rec[2].ev[2], "emitted");              /* ... the fresh one sends it again */
    assert_string_equal(rec[2].id[2], web1);
    assert_string_equal(rec[1].ev[4], "cooldown");             /* web-4 at +150: cooldown to +190 */
    assert_string_equal(rec[2].ev[4], "emitted");
    assert_int_equal(count(&rec[1], "not_recovered"), 1);      /* web-2 was being verified */
    assert_int_equal(count(&rec[2], "not_recovered"), 0);
    assert_int_equal(count(&rec[1], "approve=0"), 1);
    int to = -1;
    for (int i = 0; i < rec[1].n; i++)
        if (!strcmp(rec[1].ev[i], "timed_out") && !strcmp(rec[1].id[i], web1))
            to = i;
    assert_true(to > 0);                                       /* web-1's result never came: due +300 */
    assert_int_equal(count(&rec[1], "escalated"), 1);          /* web-4: its third attempt failed */
    assert_string_equal(rec[1].action[first(&rec[1], "escalated")], "notify");
    assert_int_equal(count(&rec[2], "escalated"), 0);
    assert_true(count(&rec[1], "over_budget") > count(&rec[2], "over_budget")); /* the hour's emissions count */

    mend_engine_free(e1);
    mend_engine_free(e2);
    mend_act_store_free(s1);
    mend_act_store_free(s2);
    mend_planner_free(p);
    mend_planner_free(q);
    mend_planner_free(fresh);
    mend_rules_free(rules);
    mend_rules_free(rules2);
    mend_rules_free(rules3);
    free(rec);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

static int junk_save(const void *ctx, struct mend_wbuf *w)
{
    (void)ctx;
    mend_wbuf_u32(w, 0x4352414du); /* the cases magic, then a count far past the bytes */
    mend_wbuf_i64(w, 0);
    mend_wbuf_u32(w, 0);
    mend_wbuf_u32(w, 4000);
    return MEND_OK;
}

static int junk_load(void *ctx, struct mend_rbuf *r)
{
    (void)ctx, (void)r;
    return MEND_OK;
}

/* Loads bytes (modified or not) through the store's cases section. */
static int load_bytes(const struct mend_engine_section *sec, const unsigned char *data, size_t len)
{
    struct mend_rbuf rb;
    mend_rbuf_init(&rb, data, len);
    return sec->load(sec->ctx, &rb);
}

/* The cases section is bounded and checked: a damaged one is refused by
 * name when the checkpoint is restored, and by the load itself for every
 * kind of damage, leaving what the store held; a case whose rule is gone
 * is left out and said; a smaller case table keeps the busy cases. */
static void test_cases_section_refused_and_bounded(void **state)
{
    (void)state;
    struct rec *rec = calloc(2, sizeof *rec);
    assert_non_null(rec);
    struct mend_rules *rules, *rules2;
    struct mend_planner *p = planner(CASE_RULES, &rules, &rec[0]);
    int64_t t = 1000 * S;
    cases_before(p, &rec[0], t);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_planner_save_cases(p, &w), 0);
    struct mend_act_store *s;
    struct mend_engine_section sec;
    assert_int_equal(mend_act_store_new(&s), 0);
    mend_act_store_cases_section(s, &sec);
    assert_int_equal(load_bytes(&sec, w.data, w.len), 0);
    struct mend_act_store_cases sc;
    mend_act_store_cases(s, &sc);
    assert_int_equal(sc.held, 5);

    /* damage of every kind: refused, the store keeps its five cases */
    static unsigned char b[1 << 16];
    assert_true(w.len < sizeof b);
    size_t state_at = 4 + 8 + 4 + 5 * 8 + 4 + (4 + 1) + (4 + 5); /* web-1's state */
    memcpy(b, w.data, w.len);
    assert_int_equal(b[state_at], 1); /* in flight */
    b[state_at] = 9;
    assert_int_equal(load_bytes(&sec, b, w.len), MEND_ECORRUPT);
    memcpy(b, w.data, w.len);
    b[0] ^= 1; /* magic */
    assert_int_equal(load_bytes(&sec, b, w.len), MEND_ECORRUPT);
    memcpy(b, w.data, w.len);
    assert_int_equal(load_bytes(&sec, b, w.len - 1), MEND_ECORRUPT); /* cut short */
    memcpy(b, w.data, w.len);
    b[w.len] = 0;
    assert_int_equal(load_bytes(&sec, b, w.len + 1), MEND_ECORRUPT); /* bytes left over */
    size_t count_at = 4 + 8 + 4 + 5 * 8;
    memcpy(b, w.data, w.len);
    b[count_at + 2] = 1; /* 65541 cases: over MEND_PLANNER_MAX_CASES */
    assert_int_equal(load_bytes(&sec, b, w.len), MEND_ECORRUPT);
    memcpy(b, w.data, w.len);
    b[count_at] = 200; /* more than the bytes hold */
    assert_int_equal(load_bytes(&sec, b, w.len), MEND_ECORRUPT);
    memcpy(b, w.data, w.len);
    b[state_at - 1] = '#'; /* the target becomes "web-#": fine as a name... */
    assert_int_equal(load_bytes(&sec, b, w.len), 0);
    memcpy(b, w.data, w.len);
    memcpy(b + state_at - 5, "web-2", 5); /* ...but web-2 twice under rule r is not */
    assert_int_equal(load_bytes(&sec, b, w.len), MEND_ECORRUPT);
    mend_act_store_cases(s, &sc);
    assert_int_equal(sc.held, 5);

    /* through a checkpoint file: the restore names the damage */
    char dir[] = "/tmp/mend-act-bad-XXXXXX", path[64], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/bad.ckpt", dir);
    struct mend_engine_conf ec;
    struct mend_engine *e;
    mend_engine_conf_defaults(&ec);
    assert_int_equal(mend_engine_new(&ec, NULL, NULL, &e), MEND_OK);
    struct mend_engine_section junk = {MEND_ACT_CASES_TAG, MEND_ACT_CASES_VERSION, junk_save, junk_load, NULL};
    assert_int_equal(mend_engine_add_section(e, &junk), MEND_OK);
    assert_int_equal(mend_engine_checkpoint(e, path, err, sizeof err), MEND_OK);
    mend_engine_free(e);
    struct mend_act_store *s2;
    e = engine_store(&s2);
    assert_int_equal(mend_engine_restore(e, path, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "checkpoint not usable: damaged"));
    mend_engine_free(e);
    mend_act_store_free(s2);
    unlink(path);
    rmdir(dir);

    /* a rule gone: its case is left out, and said (db-1 awaited approval) */
    struct mend_planner *q = planner("rules:\n  - name: r\n    match: {entity: 'web-*'}\n    action: restart\n"
                                     "    result_timeout: 5m\n    ttl: 60s\n",
                                     &rules2, &rec[1]);
    assert_int_equal(mend_act_store_attach(s, q), 0);
    mend_act_store_cases(s, &sc);
    assert_int_equal(sc.taken, 4);
    assert_int_equal(sc.dropped, 1);
    assert_int_equal(count(&rec[1], "dropped"), 1);
    assert_string_equal(rec[1].action[0], "failover");
    assert_int_equal(mend_planner_cases(q), 4);
    /* detached, the store keeps the planner's four for later checkpoints */
    assert_int_equal(mend_act_store_attach(s, NULL), 0);
    mend_act_store_cases(s, &sc);
    assert_int_equal(sc.held, 4);
    mend_planner_free(q);
    mend_rules_free(rules2);

    /* a smaller table: the busy cases are kept (web-1 in flight, web-2
     * being verified), the rest left out */
    struct mend_planner_conf c;
    mend_planner_conf_defaults(&c);
    c.max_cases = MEND_PLANNER_MAX_CASES + 1;
    struct mend_planner_hooks h = {h_emit, h_audit, &rec[1]};
    assert_int_equal(mend_planner_new(&c, rules, &h, &q), MEND_EINVAL);
    c.max_cases = 2;
    assert_int_equal(mend_planner_new(&c, rules, &h, &q), 0);
    memset(&rec[1], 0, sizeof rec[1]);
    struct mend_rbuf rb;
    mend_rbuf_init(&rb, w.data, w.len);
    size_t kept = 0, dropped = 0;
    assert_int_equal(mend_planner_load_cases(q, &rb, &kept, &dropped), 0);
    assert_int_equal(kept, 2);
    assert_int_equal(dropped, 3);
    assert_int_equal(count(&rec[1], "dropped"), 1); /* db-1 awaiting approval; idle ones quietly */
    struct mend_planner_stats st;
    mend_planner_stats(q, &st);
    assert_int_equal(st.in_flight, 1);
    char ids[2][33];
    assert_int_equal(mend_planner_pending(q, ids, 2), 0);
    mend_planner_free(q);

    mend_wbuf_fini(&w);
    mend_act_store_free(s);
    mend_planner_free(p);
    mend_rules_free(rules);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_errors_all_reported),
        cmocka_unit_test(test_cooldown_backoff_attempts_escalation),
        cmocka_unit_test(test_verify_and_learning),
        cmocka_unit_test(test_absence_needs_the_series_back),
        cmocka_unit_test(test_choose_best),
        cmocka_unit_test(test_approval_budgets_offswitch_dryrun),
        cmocka_unit_test(test_backoff_resets_after_healthy_period),
        cmocka_unit_test(test_outcomes_in_checkpoint),
        cmocka_unit_test(test_in_flight_timeout),
        cmocka_unit_test(test_not_recovered_escalates_at_once),
        cmocka_unit_test(test_cases_survive_restart),
        cmocka_unit_test(test_cases_section_refused_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
