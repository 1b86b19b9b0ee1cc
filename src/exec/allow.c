/* allow.c -- mend-exec's allowlist and settings from YAML (see exec.h), and
 * the check of one action entry against them: signature, key id, TTL,
 * epoch, action, parameter types; then the argv with the values put in
 * literally. Every reason for a rejection is a short text the result
 * carries back to the engine. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../act/ydoc.h"
#include "mend/exec.h"

void mend_exec_conf_free(struct mend_exec_conf *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->n_actions; i++)
        for (uint32_t j = 0; j < c->actions[i].n_params; j++)
            if (c->actions[i].params[j].has_re)
                regfree(&c->actions[i].params[j].re);
    free(c);
}

static int is_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static void read_param(struct ydoc *d, yaml_node_t *k, yaml_node_t *n, struct mend_exec_param *p)
{
    static const char *const keys[] = {"type", "min", "max", "values", "pattern", "max_len", NULL};
    memset(p, 0, sizeof *p);
    ydoc_str(d, k, p->name, sizeof p->name, "params");
    if (!is_name(p->name))
        ydoc_err(d, k, "params: a name is letters, digits, '_', '-', '.'");
    p->max_len = 256;
    p->min = INT64_MIN / 2;
    p->max = INT64_MAX / 2;
    if (!n || n->type != YAML_MAPPING_NODE) {
        ydoc_err(d, n, "%s: expected a mapping with type", p->name);
        return;
    }
    ydoc_check_keys(d, n, keys, p->name);
    char type[16] = "";
    yaml_node_t *t = ydoc_get(d, n, "type");
    ydoc_str(d, t, type, sizeof type, "type");
    if (!strcmp(type, "string")) {
        p->type = MEND_EXEC_P_STRING;
        ydoc_u32(d, ydoc_get(d, n, "max_len"), &p->max_len, 1, MEND_ACT_VALUE - 1, "max_len");
    } else if (!strcmp(type, "int")) {
        p->type = MEND_EXEC_P_INT;
        ydoc_i64(d, ydoc_get(d, n, "min"), &p->min, -999999999999999999LL, 999999999999999999LL, "min");
        ydoc_i64(d, ydoc_get(d, n, "max"), &p->max, -999999999999999999LL, 999999999999999999LL, "max");
        if (p->min > p->max)
            ydoc_err(d, n, "%s: min is above max", p->name);
    } else if (!strcmp(type, "enum")) {
        p->type = MEND_EXEC_P_ENUM;
        yaml_node_t *vs = ydoc_get(d, n, "values");
        if (!vs || vs->type != YAML_SEQUENCE_NODE) {
            ydoc_err(d, vs ? vs : n, "%s: values: expected a list", p->name);
            return;
        }
        for (yaml_node_item_t *it = vs->data.sequence.items.start; it < vs->data.sequence.items.top; it++) {
            if (p->n_values == MEND_EXEC_MAX_ENUM) {
                ydoc_err(d, ydoc_node(d, *it), "values: at most %d", MEND_EXEC_MAX_ENUM);
                break;
            }
            ydoc_str(d, ydoc_node(d, *it), p->values[p->n_values++], MEND_ACT_NAME, "values");
        }
    } else if (!strcmp(type, "pattern")) {
        p->type = MEND_EXEC_P_PATTERN;
        yaml_node_t *pn = ydoc_get(d, n, "pattern");
        ydoc_str(d, pn, p->pattern, sizeof p->pattern, "pattern");
        char anchored[MEND_ACT_VALUE + 8];
        snprintf(anchored, sizeof anchored, "^(%s)$", p->pattern);
        if (!p->pattern[0] || regcomp(&p->re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
            ydoc_err(d, pn ? pn : n, "%s: pattern: not a valid extended regular expression", p->name);
        else
            p->has_re = 1;
    } else {
        ydoc_err(d, t ? t : n, "%s: type: one of string, int, enum, pattern", p->name);
    }
}

static void read_action(struct ydoc *d, yaml_node_t *k, yaml_node_t *n, struct mend_exec_action *a)
{
    static const char *const keys[] = {"argv", "timeout", "params", NULL};
    memset(a, 0, sizeof *a);
    ydoc_str(d, k, a->name, sizeof a->name, "actions");
    if (!is_name(a->name))
        ydoc_err(d, k, "actions: a name is letters, digits, '_', '-', '.'");
    a->timeout_ns = 30 * 1000000000LL;
    if (!n || n->type != YAML_MAPPING_NODE) {
        ydoc_err(d, n, "%s: expected a mapping with argv (and timeout, params)", a->name);
        return;
    }
    ydoc_check_keys(d, n, keys, a->name);
    ydoc_dur(d, ydoc_get(d, n, "timeout"), &a->timeout_ns, "timeout");
    if (a->timeout_ns < 1000000)
        ydoc_err(d, ydoc_get(d, n, "timeout"), "timeout: at least 1ms");
    yaml_node_t *ps = ydoc_get(d, n, "params");
    if (ps && ps->type != YAML_MAPPING_NODE) {
        ydoc_err(d, ps, "params: expected a mapping of name: {type: ...}");
    } else if (ps) {
        for (yaml_node_pair_t *p = ps->data.mapping.pairs.start; p < ps->data.mapping.pairs.top; p++) {
            if (a->n_params == MEND_ACT_MAX_PARAMS) {
                ydoc_err(d, ydoc_node(d, p->key), "params: at most %d", MEND_ACT_MAX_PARAMS);
                break;
            }
            read_param(d, ydoc_node(d, p->key), ydoc_node(d, p->value), &a->params[a->n_params++]);
        }
    }
    yaml_node_t *av = ydoc_get(d, n, "argv");
    if (!av || av->type != YAML_SEQUENCE_NODE) {
        ydoc_err(d, av ? av : n, "%s: argv: expected a list (the program first, an absolute path)", a->name);
        return;
    }
    for (yaml_node_item_t *it = av->data.sequence.items.start; it < av->data.sequence.items.top; it++) {
        yaml_node_t *e = ydoc_node(d, *it);
        if (a->n_argv == MEND_EXEC_MAX_ARGV) {
            ydoc_err(d, e, "argv: at most %d", MEND_EXEC_MAX_ARGV);
            break;
        }
        char *s = a->argv[a->n_argv++];
        ydoc_str(d, e, s, MEND_ACT_VALUE, "argv");
        /* every {slot} must be a declared parameter */
        for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
            const char *q = strchr(p, '}');
            if (!q) {
                ydoc_err(d, e, "argv: '{' without '}'");
                break;
            }
            int found = 0;
            for (uint32_t j = 0; j < a->n_params && !found; j++)
                found = strlen(a->params[j].name) == (size_t)(q - p - 1) &&
                        !memcmp(a->params[j].name, p + 1, (size_t)(q - p - 1));
            if (!found)
                ydoc_err(d, e, "argv: slot {%.*s} is not a declared parameter", (int)(q - p - 1 > 64 ? 64 : q - p - 1),
                         p + 1);
        }
    }
    if (a->n_argv == 0 || a->argv[0][0] != '/' || strchr(a->argv[0], '{'))
        ydoc_err(d, av, "%s: argv[0] must be an absolute program path without slots (no PATH search, no shell)",
                 a->name);
}

int mend_exec_conf_load(const char *path, const struct mend_act_errs *errs, struct mend_exec_conf **res)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char m[300];
        snprintf(m, sizeof m, "cannot read: %s", strerror(errno));
        if (errs && errs->fn)
            errs->fn(errs->ctx, path, 1, 1, m);
        return MEND_EIO;
    }
    size_t cap = 1 << 20; /* an allowlist is small: 1 MiB at most */
    char *buf = malloc(cap);
    struct mend_exec_conf *c = calloc(1, sizeof *c);
    if (!buf || !c) {
        fclose(f);
        free(buf);
        free(c);
        return MEND_ENOMEM;
    }
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    if (len == cap) {
        if (errs && errs->fn)
            errs->fn(errs->ctx, path, 1, 1, "larger than 1 MiB");
        free(buf);
        free(c);
        return MEND_ECAP;
    }
    snprintf(c->redis, sizeof c->redis, "unix:/run/redis/redis-server.sock");
    snprintf(c->prefix, sizeof c->prefix, "mend");
    snprintf(c->group, sizeof c->group, "mend-exec");
    snprintf(c->consumer, sizeof c->consumer, "exec-1");
    c->max_concurrent = 4;
    c->max_deliveries = 5;
    c->batch = 16;
    c->output_tail = 1024;
    c->reap_every_ns = 1000000000LL;
    c->orphan_wait_ns = 20 * 1000000000LL;
    struct ydoc d;
    int rc = ydoc_load(&d, path, buf, len, errs);
    if (rc != MEND_OK) {
        free(buf);
        free(c);
        return rc;
    }
    static const char *const top[] = {"redis",   "user",          "password", "prefix",     "group",
                                      "consumer", "keys",         "max_concurrent", "max_deliveries",
                                      "batch",   "output_tail",   "reap_every", "reap_idle", "actions",
                                      "journal", "orphan_wait", NULL};
    yaml_node_t *root = ydoc_root(&d);
    if (!root || root->type != YAML_MAPPING_NODE) {
        ydoc_err(&d, root, "expected a mapping (redis, keys, actions, ...)");
        goto done;
    }
    ydoc_check_keys(&d, root, top, "top level");
    ydoc_str(&d, ydoc_get(&d, root, "redis"), c->redis, sizeof c->redis, "redis");
    ydoc_str(&d, ydoc_get(&d, root, "user"), c->user, sizeof c->user, "user");
    ydoc_str(&d, ydoc_get(&d, root, "password"), c->password, sizeof c->password, "password");
    ydoc_str(&d, ydoc_get(&d, root, "prefix"), c->prefix, sizeof c->prefix, "prefix");
    ydoc_str(&d, ydoc_get(&d, root, "group"), c->group, sizeof c->group, "group");
    ydoc_str(&d, ydoc_get(&d, root, "consumer"), c->consumer, sizeof c->consumer, "consumer");
    ydoc_u32(&d, ydoc_get(&d, root, "max_concurrent"), &c->max_concurrent, 1, 256, "max_concurrent");
    ydoc_u32(&d, ydoc_get(&d, root, "max_deliveries"), &c->max_deliveries, 1, 1000, "max_deliveries");
    ydoc_u32(&d, ydoc_get(&d, root, "batch"), &c->batch, 1, 1000, "batch");
    ydoc_u32(&d, ydoc_get(&d, root, "output_tail"), &c->output_tail, 16, 65536, "output_tail");
    ydoc_dur(&d, ydoc_get(&d, root, "reap_every"), &c->reap_every_ns, "reap_every");
    ydoc_dur(&d, ydoc_get(&d, root, "reap_idle"), &c->reap_idle_ns, "reap_idle");
    ydoc_str(&d, ydoc_get(&d, root, "journal"), c->journal, sizeof c->journal, "journal");
    yaml_node_t *ow = ydoc_get(&d, root, "orphan_wait");
    ydoc_dur(&d, ow, &c->orphan_wait_ns, "orphan_wait");
    if (ow && (c->orphan_wait_ns < 100000000LL || c->orphan_wait_ns > 3600 * 1000000000LL))
        ydoc_err(&d, ow, "orphan_wait: between 100ms and 1h");
    yaml_node_t *ks = ydoc_get(&d, root, "keys");
    if (!ks || ks->type != YAML_MAPPING_NODE) {
        ydoc_err(&d, ks ? ks : root, "keys: expected a mapping of key id: public key PEM file");
    } else {
        for (yaml_node_pair_t *p = ks->data.mapping.pairs.start; p < ks->data.mapping.pairs.top; p++) {
            if (c->n_keys == MEND_VERIFY_MAX_KEYS) {
                ydoc_err(&d, ydoc_node(&d, p->key), "keys: at most %d", MEND_VERIFY_MAX_KEYS);
                break;
            }
            ydoc_str(&d, ydoc_node(&d, p->key), c->key_ids[c->n_keys], 64, "keys");
            ydoc_str(&d, ydoc_node(&d, p->value), c->key_paths[c->n_keys], 1024, c->key_ids[c->n_keys]);
            c->n_keys++;
        }
    }
    yaml_node_t *as = ydoc_get(&d, root, "actions");
    if (!as || as->type != YAML_MAPPING_NODE) {
        ydoc_err(&d, as ? as : root, "actions: expected a mapping of action name: {argv, timeout, params}");
    } else {
        for (yaml_node_pair_t *p = as->data.mapping.pairs.start; p < as->data.mapping.pairs.top; p++) {
            if (c->n_actions == MEND_EXEC_MAX_ACTIONS) {
                ydoc_err(&d, ydoc_node(&d, p->key), "actions: at most %d", MEND_EXEC_MAX_ACTIONS);
                break;
            }
            read_action(&d, ydoc_node(&d, p->key), ydoc_node(&d, p->value), &c->actions[c->n_actions++]);
        }
    }
    if (!c->reap_idle_ns) {
        for (uint32_t i = 0; i < c->n_actions; i++)
            if (c->actions[i].timeout_ns > c->reap_idle_ns)
                c->reap_idle_ns = c->actions[i].timeout_ns;
        c->reap_idle_ns += 5 * 1000000000LL;
    }
done:
    rc = d.n_errors ? MEND_EINVAL : MEND_OK;
    ydoc_fini(&d);
    free(buf);
    if (rc != MEND_OK) {
        mend_exec_conf_free(c);
        return rc;
    }
    *res = c;
    return MEND_OK;
}

/* ---- checking one entry ---------------------------------------------------- */

static const char *field(const char *const *f, const char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i], name))
            return v[i];
    return NULL;
}

static int param_ok(const struct mend_exec_param *p, const char *v, char *why, size_t wl)
{
    switch (p->type) {
    case MEND_EXEC_P_INT: {
        int64_t x;
        if (mend_parse_i64(v, strlen(v), &x) != MEND_OK || x < p->min || x > p->max)
            return snprintf(why, wl, "parameter %s: not a whole number in [%" PRId64 ", %" PRId64 "]", p->name,
                            p->min, p->max),
                   0;
        return 1;
    }
    case MEND_EXEC_P_ENUM:
        for (uint32_t i = 0; i < p->n_values; i++)
            if (!strcmp(p->values[i], v))
                return 1;
        return snprintf(why, wl, "parameter %s: not one of the allowed values", p->name), 0;
    case MEND_EXEC_P_PATTERN:
        if (!p->has_re || regexec(&p->re, v, 0, NULL, 0) != 0)
            return snprintf(why, wl, "parameter %s: does not match %s", p->name, p->pattern), 0;
        return 1;
    case MEND_EXEC_P_STRING:
        if (strlen(v) > p->max_len || strchr(v, '\n'))
            return snprintf(why, wl, "parameter %s: longer than %u bytes or multi-line", p->name, p->max_len), 0;
        return 1;
    }
    return 0;
}

#define REJECT(...) (snprintf(why, whylen, __VA_ARGS__), MEND_EINVAL)

int mend_exec_check(const struct mend_exec_conf *c, struct mend_verifier *ver, const char *const *f,
                    const char *const *v, size_t n, int64_t now_ms, uint64_t *max_epoch, struct mend_exec_job *job,
                    char *why, size_t whylen)
{
    memset(job, 0, sizeof *job);
    const char *id = field(f, v, n, "id");
    if (id && strlen(id) < sizeof job->id)
        snprintf(job->id, sizeof job->id, "%s", id);
#define COPY(dst, name)                                                                                      \
    do {                                                                                                     \
        const char *x_ = field(f, v, n, name);                                                               \
        if (x_)                                                                                              \
            snprintf(dst, sizeof dst, "%s", x_);                                                             \
    } while (0)
    COPY(job->rule, "rule");
    COPY(job->action, "action");
    COPY(job->target, "target");
    COPY(job->incident, "incident");
#undef COPY
    const char *ver_s = field(f, v, n, "v"), *sig = NULL, *kid = field(f, v, n, "kid");
    if (!ver_s || strcmp(ver_s, "1"))
        return REJECT("unknown message version");
    if (n < 2 || strcmp(f[n - 1], "sig"))
        return REJECT("missing signature (sig must be the last field)");
    sig = v[n - 1];
    if (!kid)
        return REJECT("missing key id");
    if (!id || strlen(id) != 32)
        return REJECT("missing or malformed id");
    char canon[16384];
    size_t cl = mend_sign_canon(f, v, n - 1, canon, sizeof canon);
    if (cl > sizeof canon)
        return REJECT("message too large");
    int rc = mend_verifier_check(ver, kid, canon, cl, sig);
    if (rc == MEND_ENOTFOUND)
        return REJECT("unknown key id %.64s", kid);
    if (rc != MEND_OK)
        return REJECT("bad signature");
    /* from here on the fields are the engine's own */
    int64_t created, ttl;
    uint64_t epoch;
    const char *cs = field(f, v, n, "created_ms"), *ts = field(f, v, n, "ttl_ms"), *es = field(f, v, n, "epoch");
    if (!cs || !ts || !es || mend_parse_i64(cs, strlen(cs), &created) || mend_parse_i64(ts, strlen(ts), &ttl) ||
        mend_parse_u64(es, strlen(es), &epoch))
        return REJECT("missing or malformed created_ms, ttl_ms or epoch");
    if (now_ms > created + ttl)
        return REJECT("expired: created %" PRId64 " ms ago, ttl %" PRId64 " ms", now_ms - created, ttl);
    const char *fs = field(f, v, n, "fence"), *fes = field(f, v, n, "fence_epoch");
    if (fs || fes) { /* a partition's lease fences it: the caller checks its fence */
        if (!fs || !fes || !*fs || strlen(fs) >= sizeof job->fence ||
            mend_parse_u64(fes, strlen(fes), &job->fence_epoch))
            return REJECT("malformed fence or fence_epoch");
        snprintf(job->fence, sizeof job->fence, "%s", fs);
    } else {
        if (epoch < *max_epoch)
            return REJECT("stale epoch %" PRIu64 " (newest seen %" PRIu64 ")", epoch, *max_epoch);
        *max_epoch = epoch;
    }
    job->epoch = epoch;
    const struct mend_exec_action *a = NULL;
    for (uint32_t i = 0; i < c->n_actions && !a; i++)
        if (!strcmp(c->actions[i].name, job->action))
            a = &c->actions[i];
    if (!a)
        return REJECT("action %.64s is not in the allowlist", job->action);
    job->spec = a;
    /* every parameter given must be declared, every declared one given */
    const char *vals[MEND_ACT_MAX_PARAMS] = {0};
    for (size_t i = 0; i < n; i++) {
        if (strncmp(f[i], "p.", 2))
            continue;
        uint32_t j;
        for (j = 0; j < a->n_params && strcmp(a->params[j].name, f[i] + 2); j++)
            ;
        if (j == a->n_params)
            return REJECT("parameter %.64s is not declared for %s", f[i] + 2, a->name);
        if (!param_ok(&a->params[j], v[i], why, whylen))
            return MEND_EINVAL;
        vals[j] = v[i];
    }
    for (uint32_t j = 0; j < a->n_params; j++)
        if (!vals[j])
            return REJECT("parameter %s is missing", a->params[j].name);
    /* argv: the template with each {slot} replaced by its value, literally */
    for (uint32_t k = 0; k < a->n_argv; k++) {
        char *out = job->argv[k];
        size_t o = 0, cap = sizeof job->argv[k];
        for (const char *p = a->argv[k]; *p;) {
            const char *q = *p == '{' ? strchr(p, '}') : NULL;
            if (q) {
                uint32_t j;
                for (j = 0; j < a->n_params; j++)
                    if (strlen(a->params[j].name) == (size_t)(q - p - 1) &&
                        !memcmp(a->params[j].name, p + 1, (size_t)(q - p - 1)))
                        break;
                if (j < a->n_params) {
                    size_t l = strlen(vals[j]);
                    if (o + l >= cap)
                        return REJECT("argument %u too long", k);
                    memcpy(out + o, vals[j], l);
                    o += l;
                    p = q + 1;
                    continue;
                }
            }
            if (o + 1 >= cap)
                return REJECT("argument %u too long", k);
            out[o++] = *p++;
        }
        out[o] = '\0';
    }
    job->n_argv = a->n_argv;
    return MEND_OK;
}
