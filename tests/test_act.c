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

#include <cmocka.h>

#include "mend/act.h"

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
                                     "    max_attempts: 3\n    window: 1h\n    verify: 5m\n"
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
    assert_int_equal(count(&rec, "escalated"), 0);
    /* 3 attempts within the window: escalate (once), to notify */
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 384 * S, 0.9), NULL, t + 384 * S);
    assert_int_equal(count(&rec, "escalated"), 1);
    assert_int_equal(rec.emitted, 4);
    assert_string_equal(rec.action[rec.n - 1], "notify");
    assert_string_equal(rec.p0[rec.n - 1], "gave up on web-1");
    mend_planner_incident(p, "update", mk(1, "web-1", t, t + 900 * S, 0.9), NULL, t + 900 * S);
    assert_int_equal(count(&rec, "escalated"), 1);
    assert_int_equal(rec.emitted, 4);
    struct mend_outcome o;
    assert_int_equal(mend_planner_outcome(p, "r", "restart", "web", &o), 0);
    assert_int_equal(o.attempts, 3);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_errors_all_reported),
        cmocka_unit_test(test_cooldown_backoff_attempts_escalation),
        cmocka_unit_test(test_verify_and_learning),
        cmocka_unit_test(test_choose_best),
        cmocka_unit_test(test_approval_budgets_offswitch_dryrun),
        cmocka_unit_test(test_backoff_resets_after_healthy_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
