/* rules.c -- remediation rules from YAML (see act.h): selectors, the action
 * steps with typed parameter templates, escalation, pacing and budgets.
 *
 * Each document is read whole (libyaml's document API) so every problem is
 * reported with its line and column, not just the first; a document with
 * any error adds nothing. Templates are checked here: "{{ NAME }}" must be
 * one of the fields the planner can fill (entity, target, incident.id,
 * root_cause.component, signal.key, score, rule), so a typo fails at
 * `mend check-rules` rather than at 3 a.m. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/act.h"
#include "ydoc.h"

struct mend_rules {
    struct mend_rule *rules;
    size_t n;
    struct mend_rules_budget budget;
    int budget_given;  /* a file set budgets: the defaults no longer apply */
};

int mend_rules_new(struct mend_rules **res)
{
    struct mend_rules *r = calloc(1, sizeof *r);
    if (!r)
        return MEND_ENOMEM;
    r->budget.max_concurrent = 4;
    r->budget.max_per_target = 1;
    r->budget.max_per_hour = 20;
    *res = r;
    return MEND_OK;
}

void mend_rules_free(struct mend_rules *r)
{
    if (!r)
        return;
    free(r->rules);
    free(r);
}

size_t mend_rules_count(const struct mend_rules *r)
{
    return r->n;
}

const struct mend_rule *mend_rules_get(const struct mend_rules *r, size_t i)
{
    return i < r->n ? &r->rules[i] : NULL;
}

void mend_rules_budget(const struct mend_rules *r, struct mend_rules_budget *b)
{
    *b = r->budget;
}

enum mend_severity mend_incident_severity(const struct mend_incident *inc)
{
    if (inc->max_score >= 0.99 || inc->n_signals >= 3)
        return MEND_SEV_CRITICAL;
    return inc->max_score >= 0.9 ? MEND_SEV_WARNING : MEND_SEV_INFO;
}

static const char *const fields[] = {"entity",     "target", "incident.id", "root_cause.component",
                                     "signal.key", "score",  "rule",        NULL};

/* Checks every "{{ name }}" of a template. */
static void check_template(struct ydoc *d, yaml_node_t *n, const char *t, const char *key)
{
    const char *p = t;
    while ((p = strstr(p, "{{")) != NULL) {
        const char *e = strstr(p, "}}");
        if (!e) {
            ydoc_err(d, n, "%s: '{{' without '}}'", key);
            return;
        }
        const char *a = p + 2, *b = e;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        int ok = 0;
        for (const char *const *f = fields; *f && !ok; f++)
            ok = strlen(*f) == (size_t)(b - a) && !memcmp(*f, a, (size_t)(b - a));
        if (!ok)
            ydoc_err(d, n, "%s: unknown template field '%.*s' (known: entity, target, incident.id, "
                           "root_cause.component, signal.key, score, rule)",
                     key, (int)(b - a > 64 ? 64 : b - a), a);
        p = e + 2;
    }
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static void read_step(struct ydoc *d, yaml_node_t *n, struct mend_rule_step *st, const char *what)
{
    static const char *const keys[] = {"action", "params", NULL};
    if (n->type == YAML_SCALAR_NODE) { /* shorthand: just the action name */
        ydoc_str(d, n, st->action, sizeof st->action, what);
    } else if (n->type == YAML_MAPPING_NODE) {
        ydoc_check_keys(d, n, keys, what);
        yaml_node_t *a = ydoc_get(d, n, "action");
        if (!a)
            ydoc_err(d, n, "%s: 'action' is required", what);
        ydoc_str(d, a, st->action, sizeof st->action, "action");
        yaml_node_t *ps = ydoc_get(d, n, "params");
        if (ps && ps->type != YAML_MAPPING_NODE) {
            ydoc_err(d, ps, "params: expected a mapping of name: value");
        } else if (ps) {
            for (yaml_node_pair_t *p = ps->data.mapping.pairs.start; p < ps->data.mapping.pairs.top; p++) {
                yaml_node_t *k = ydoc_node(d, p->key), *v = ydoc_node(d, p->value);
                if (st->n_params == MEND_ACT_MAX_PARAMS) {
                    ydoc_err(d, k, "params: at most %d", MEND_ACT_MAX_PARAMS);
                    break;
                }
                struct mend_act_param *q = &st->params[st->n_params];
                q->name[0] = q->value[0] = '\0';
                ydoc_str(d, k, q->name, sizeof q->name, "params");
                if (!valid_name(q->name)) {
                    ydoc_err(d, k, "params: a name is letters, digits, '_', '-', '.'");
                    continue;
                }
                ydoc_str(d, v, q->value, sizeof q->value, q->name);
                check_template(d, v, q->value, q->name);
                st->n_params++;
            }
        }
    } else {
        ydoc_err(d, n, "%s: expected an action name or a mapping with action and params", what);
        return;
    }
    if (st->action[0] && !valid_name(st->action))
        ydoc_err(d, n, "%s: an action name is letters, digits, '_', '-', '.'", what);
}

static const char *const rule_keys[] = {
    "name",     "match",   "action",   "params",       "actions",      "choose",
    "escalate", "target",  "cooldown", "backoff",      "max_cooldown", "reset_after",
    "max_attempts", "window", "verify", "ttl", "dry_run", "require_approval", "approval_ttl",
    "result_timeout", NULL};
static const char *const match_keys[] = {"entity", "series", "tags",     "component",
                                         "min_score", "min_duration", "severity", NULL};

static void read_rule(struct ydoc *d, yaml_node_t *n, struct mend_rule *r)
{
    memset(r, 0, sizeof *r);
    r->line = (uint32_t)n->start_mark.line + 1;
    snprintf(r->target, sizeof r->target, "{{ entity }}");
    r->cooldown_ns = 300 * 1000000000LL;
    r->max_cooldown_ns = 3600 * 1000000000LL;
    r->reset_after_ns = 3600 * 1000000000LL;
    r->backoff = 2.0;
    r->max_attempts = 3;
    r->window_ns = 3600 * 1000000000LL;
    r->verify_ns = 300 * 1000000000LL;
    r->ttl_ns = 300 * 1000000000LL;
    r->approval_ttl_ns = 3600 * 1000000000LL;
    if (n->type != YAML_MAPPING_NODE) {
        ydoc_err(d, n, "a rule is a mapping (name, match, action, ...)");
        return;
    }
    ydoc_check_keys(d, n, rule_keys, "rule");
    yaml_node_t *v = ydoc_get(d, n, "name");
    if (!v)
        ydoc_err(d, n, "rule: 'name' is required");
    ydoc_str(d, v, r->name, sizeof r->name, "name");
    if (v && !valid_name(r->name))
        ydoc_err(d, v, "name: letters, digits, '_', '-', '.'");
    yaml_node_t *m = ydoc_get(d, n, "match");
    if (m && m->type != YAML_MAPPING_NODE) {
        ydoc_err(d, m, "match: expected a mapping");
    } else if (m) {
        ydoc_check_keys(d, m, match_keys, "match");
        ydoc_str(d, ydoc_get(d, m, "entity"), r->entity, sizeof r->entity, "entity");
        ydoc_str(d, ydoc_get(d, m, "series"), r->series, sizeof r->series, "series");
        ydoc_str(d, ydoc_get(d, m, "component"), r->component, sizeof r->component, "component");
        ydoc_f64(d, ydoc_get(d, m, "min_score"), &r->min_score, 0, 1, "min_score");
        ydoc_dur(d, ydoc_get(d, m, "min_duration"), &r->min_duration_ns, "min_duration");
        yaml_node_t *s = ydoc_get(d, m, "severity");
        if (s) {
            char sv[16] = "";
            ydoc_str(d, s, sv, sizeof sv, "severity");
            if (!strcmp(sv, "info"))
                r->min_severity = MEND_SEV_INFO;
            else if (!strcmp(sv, "warning"))
                r->min_severity = MEND_SEV_WARNING;
            else if (!strcmp(sv, "critical"))
                r->min_severity = MEND_SEV_CRITICAL;
            else
                ydoc_err(d, s, "severity: one of info, warning, critical");
        }
        yaml_node_t *t = ydoc_get(d, m, "tags");
        if (t && t->type != YAML_MAPPING_NODE) {
            ydoc_err(d, t, "tags: expected a mapping of tag: value");
        } else if (t) {
            for (yaml_node_pair_t *p = t->data.mapping.pairs.start; p < t->data.mapping.pairs.top; p++) {
                if (r->n_tags == MEND_ACT_MAX_TAGS) {
                    ydoc_err(d, ydoc_node(d, p->key), "tags: at most %d", MEND_ACT_MAX_TAGS);
                    break;
                }
                struct mend_act_param *q = &r->tags[r->n_tags++];
                ydoc_str(d, ydoc_node(d, p->key), q->name, sizeof q->name, "tags");
                ydoc_str(d, ydoc_node(d, p->value), q->value, sizeof q->value, q->name);
            }
        }
    }
    yaml_node_t *a = ydoc_get(d, n, "action"), *as = ydoc_get(d, n, "actions");
    if (a && as)
        ydoc_err(d, as, "rule: give 'action' or 'actions', not both");
    if (a) {
        if (a->type != YAML_SCALAR_NODE) {
            ydoc_err(d, a, "action: expected an action name (parameters go under params)");
        } else {
            /* action + params at the rule level: build a step mapping view */
            ydoc_str(d, a, r->steps[0].action, sizeof r->steps[0].action, "action");
            if (!valid_name(r->steps[0].action))
                ydoc_err(d, a, "action: letters, digits, '_', '-', '.'");
            yaml_node_t *ps = ydoc_get(d, n, "params");
            if (ps) {
                struct mend_rule_step tmp;
                memset(&tmp, 0, sizeof tmp);
                /* reuse read_step's params walk on a synthetic view: read
                 * the params mapping directly */
                if (ps->type != YAML_MAPPING_NODE) {
                    ydoc_err(d, ps, "params: expected a mapping of name: value");
                } else {
                    for (yaml_node_pair_t *p = ps->data.mapping.pairs.start; p < ps->data.mapping.pairs.top;
                         p++) {
                        yaml_node_t *k = ydoc_node(d, p->key), *val = ydoc_node(d, p->value);
                        if (tmp.n_params == MEND_ACT_MAX_PARAMS) {
                            ydoc_err(d, k, "params: at most %d", MEND_ACT_MAX_PARAMS);
                            break;
                        }
                        struct mend_act_param *q = &tmp.params[tmp.n_params];
                        ydoc_str(d, k, q->name, sizeof q->name, "params");
                        if (!valid_name(q->name)) {
                            ydoc_err(d, k, "params: a name is letters, digits, '_', '-', '.'");
                            continue;
                        }
                        ydoc_str(d, val, q->value, sizeof q->value, q->name);
                        check_template(d, val, q->value, q->name);
                        tmp.n_params++;
                    }
                }
                memcpy(r->steps[0].params, tmp.params, sizeof tmp.params);
                r->steps[0].n_params = tmp.n_params;
            }
            r->n_steps = 1;
        }
    } else if (as) {
        if (ydoc_get(d, n, "params"))
            ydoc_err(d, ydoc_get(d, n, "params"), "params: with 'actions', give params per action");
        if (as->type != YAML_SEQUENCE_NODE) {
            ydoc_err(d, as, "actions: expected a list");
        } else {
            for (yaml_node_item_t *it = as->data.sequence.items.start; it < as->data.sequence.items.top; it++) {
                if (r->n_steps == MEND_ACT_MAX_CANDIDATES) {
                    ydoc_err(d, ydoc_node(d, *it), "actions: at most %d", MEND_ACT_MAX_CANDIDATES);
                    break;
                }
                read_step(d, ydoc_node(d, *it), &r->steps[r->n_steps++], "actions");
            }
        }
    } else {
        ydoc_err(d, n, "rule: 'action' (or 'actions') is required");
    }
    yaml_node_t *c = ydoc_get(d, n, "choose");
    if (c) {
        char cv[16] = "";
        ydoc_str(d, c, cv, sizeof cv, "choose");
        if (!strcmp(cv, "best"))
            r->choose_best = 1;
        else if (strcmp(cv, "first"))
            ydoc_err(d, c, "choose: one of first (in order, next on failure), best (by recovery rate)");
    }
    yaml_node_t *e = ydoc_get(d, n, "escalate");
    if (e)
        read_step(d, e, &r->escalate, "escalate");
    yaml_node_t *t = ydoc_get(d, n, "target");
    ydoc_str(d, t, r->target, sizeof r->target, "target");
    if (t)
        check_template(d, t, r->target, "target");
    ydoc_dur(d, ydoc_get(d, n, "cooldown"), &r->cooldown_ns, "cooldown");
    ydoc_dur(d, ydoc_get(d, n, "max_cooldown"), &r->max_cooldown_ns, "max_cooldown");
    ydoc_dur(d, ydoc_get(d, n, "reset_after"), &r->reset_after_ns, "reset_after");
    ydoc_f64(d, ydoc_get(d, n, "backoff"), &r->backoff, 1, 100, "backoff");
    ydoc_u32(d, ydoc_get(d, n, "max_attempts"), &r->max_attempts, 1, 1000, "max_attempts");
    ydoc_dur(d, ydoc_get(d, n, "window"), &r->window_ns, "window");
    ydoc_dur(d, ydoc_get(d, n, "verify"), &r->verify_ns, "verify");
    ydoc_dur(d, ydoc_get(d, n, "ttl"), &r->ttl_ns, "ttl");
    ydoc_dur(d, ydoc_get(d, n, "approval_ttl"), &r->approval_ttl_ns, "approval_ttl");
    /* the executor refuses an action older than its ttl, and one it started
     * runs at most its allowlist timeout (30 s by default) plus the
     * reaper's reclaim: 5 min past the ttl covers that with room */
    yaml_node_t *rt = ydoc_get(d, n, "result_timeout");
    r->result_timeout_ns = r->ttl_ns > INT64_MAX - 300 * 1000000000LL ? INT64_MAX : r->ttl_ns + 300 * 1000000000LL;
    ydoc_dur(d, rt, &r->result_timeout_ns, "result_timeout");
    if (rt && r->result_timeout_ns < r->ttl_ns)
        ydoc_err(d, rt, "result_timeout: shorter than ttl (the executor may still start the action after that)");
    ydoc_bool(d, ydoc_get(d, n, "dry_run"), &r->dry_run, "dry_run");
    ydoc_bool(d, ydoc_get(d, n, "require_approval"), &r->require_approval, "require_approval");
    if (r->max_cooldown_ns < r->cooldown_ns)
        ydoc_err(d, n, "rule %s: max_cooldown is shorter than cooldown", r->name);
    if (r->ttl_ns <= 0)
        ydoc_err(d, ydoc_get(d, n, "ttl"), "ttl: must be more than 0");
    if (r->window_ns <= 0)
        ydoc_err(d, ydoc_get(d, n, "window"), "window: must be more than 0");
}

int mend_rules_load(struct mend_rules *r, const char *name, const char *buf, size_t len,
                    const struct mend_act_errs *errs)
{
    struct ydoc d;
    int rc = ydoc_load(&d, name, buf, len, errs);
    if (rc != MEND_OK)
        return rc;
    struct mend_rule *got = NULL;
    size_t n = 0;
    struct mend_rules_budget b = r->budget;
    yaml_node_t *bn = NULL;
    yaml_node_t *root = ydoc_root(&d);
    static const char *const top[] = {"rules", "budgets", NULL};
    static const char *const bkeys[] = {"max_concurrent", "max_per_target", "max_per_hour", NULL};
    if (!root || root->type != YAML_MAPPING_NODE) {
        ydoc_err(&d, root, "expected a mapping with 'rules:' (and optionally 'budgets:')");
        goto done;
    }
    ydoc_check_keys(&d, root, top, "top level");
    bn = ydoc_get(&d, root, "budgets");
    if (bn) {
        struct mend_rules_budget nb = {0, 0, 0};
        ydoc_check_keys(&d, bn, bkeys, "budgets");
        ydoc_u32(&d, ydoc_get(&d, bn, "max_concurrent"), &nb.max_concurrent, 1, 100000, "max_concurrent");
        ydoc_u32(&d, ydoc_get(&d, bn, "max_per_target"), &nb.max_per_target, 1, 100000, "max_per_target");
        ydoc_u32(&d, ydoc_get(&d, bn, "max_per_hour"), &nb.max_per_hour, 1, 1000000, "max_per_hour");
        /* the first file's budgets replace the defaults (for what it
         * gives); after that the tightest any file asks for wins */
        if (nb.max_concurrent && (!r->budget_given || nb.max_concurrent < b.max_concurrent))
            b.max_concurrent = nb.max_concurrent;
        if (nb.max_per_target && (!r->budget_given || nb.max_per_target < b.max_per_target))
            b.max_per_target = nb.max_per_target;
        if (nb.max_per_hour && (!r->budget_given || nb.max_per_hour < b.max_per_hour))
            b.max_per_hour = nb.max_per_hour;
    }
    yaml_node_t *rl = ydoc_get(&d, root, "rules");
    if (!rl) {
        ydoc_err(&d, root, "'rules:' is required");
        goto done;
    }
    if (rl->type != YAML_SEQUENCE_NODE) {
        ydoc_err(&d, rl, "rules: expected a list of rules");
        goto done;
    }
    size_t cnt = (size_t)(rl->data.sequence.items.top - rl->data.sequence.items.start);
    if (r->n + cnt > MEND_ACT_MAX_RULES) {
        ydoc_err(&d, rl, "rules: at most %d in all", MEND_ACT_MAX_RULES);
        rc = MEND_ECAP;
        goto done;
    }
    got = calloc(cnt ? cnt : 1, sizeof *got);
    if (!got) {
        rc = MEND_ENOMEM;
        goto done;
    }
    for (yaml_node_item_t *it = rl->data.sequence.items.start; it < rl->data.sequence.items.top; it++) {
        yaml_node_t *rn = ydoc_node(&d, *it);
        read_rule(&d, rn, &got[n]);
        for (size_t j = 0; j < n + r->n; j++) {
            const struct mend_rule *o = j < n ? &got[j] : &r->rules[j - n];
            if (got[n].name[0] && !strcmp(o->name, got[n].name))
                ydoc_err(&d, rn, "rule %s: the name is already used (line %u%s)", got[n].name, o->line,
                         j < n ? "" : " of an earlier file");
        }
        n++;
    }
done:
    if (rc == MEND_OK && d.n_errors)
        rc = MEND_EINVAL;
    if (rc == MEND_OK && n) {
        struct mend_rule *nr = realloc(r->rules, (r->n + n) * sizeof *nr);
        if (!nr) {
            rc = MEND_ENOMEM;
        } else {
            memcpy(nr + r->n, got, n * sizeof *nr);
            r->rules = nr;
            r->n += n;
        }
    }
    if (rc == MEND_OK) {
        r->budget = b;
        r->budget_given |= bn != NULL;
    }
    free(got);
    ydoc_fini(&d);
    return rc;
}

int mend_rules_load_file(struct mend_rules *r, const char *path, const struct mend_act_errs *errs)
{
    FILE *f = fopen(path, "rb");
    char msg[300];
    if (!f) {
        snprintf(msg, sizeof msg, "cannot read: %s", strerror(errno));
        if (errs && errs->fn)
            errs->fn(errs->ctx, path, 1, 1, msg);
        return MEND_EIO;
    }
    size_t cap = 1 << 20, len = 0; /* a rules file is small: cap it at 1 MiB */
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return MEND_ENOMEM;
    }
    len = fread(buf, 1, cap, f);
    int toolong = len == cap;
    fclose(f);
    int rc;
    if (toolong) {
        if (errs && errs->fn)
            errs->fn(errs->ctx, path, 1, 1, "larger than 1 MiB");
        rc = MEND_ECAP;
    } else {
        rc = mend_rules_load(r, path, buf, len, errs);
    }
    free(buf);
    return rc;
}
