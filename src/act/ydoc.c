/* ydoc.c -- typed reads over a libyaml document with file:line:col errors
 * (see ydoc.h). Every error is reported and counted, none stops the walk,
 * so one pass names every problem of a file. */
#include "ydoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mend/confmap.h"

int ydoc_load(struct ydoc *d, const char *name, const char *buf, size_t len,
              const struct mend_act_errs *errs)
{
    yaml_parser_t p;
    memset(d, 0, sizeof *d);
    d->name = name;
    d->errs = errs;
    if (!yaml_parser_initialize(&p))
        return MEND_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&p, &d->doc)) {
        d->n_errors++;
        if (errs && errs->fn)
            errs->fn(errs->ctx, name, (uint32_t)p.problem_mark.line + 1,
                     (uint32_t)p.problem_mark.column + 1, p.problem ? p.problem : "malformed YAML");
        yaml_parser_delete(&p);
        return MEND_EPARSE;
    }
    yaml_parser_delete(&p);
    d->loaded = 1;
    return MEND_OK;
}

void ydoc_fini(struct ydoc *d)
{
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = 0;
}

yaml_node_t *ydoc_root(struct ydoc *d)
{
    return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *ydoc_node(struct ydoc *d, yaml_node_item_t i)
{
    return yaml_document_get_node(&d->doc, i);
}

void ydoc_err(struct ydoc *d, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->n_errors++;
    if (d->errs && d->errs->fn)
        d->errs->fn(d->errs->ctx, d->name, n ? (uint32_t)n->start_mark.line + 1 : 1,
                    n ? (uint32_t)n->start_mark.column + 1 : 1, msg);
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

yaml_node_t *ydoc_get(struct ydoc *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ydoc_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key))
            return ydoc_node(d, p->value);
    }
    return NULL;
}

void ydoc_check_keys(struct ydoc *d, yaml_node_t *m, const char *const *allowed, const char *what)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ydoc_node(d, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            ydoc_err(d, k, "%s: keys must be plain names", what);
            continue;
        }
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, sval(k));
        if (!ok)
            ydoc_err(d, k, "%s: unknown key '%.64s'", what, sval(k));
    }
}

static int scalar_or_err(struct ydoc *d, yaml_node_t *n, const char *key)
{
    if (n->type == YAML_SCALAR_NODE)
        return 1;
    ydoc_err(d, n, "%s: expected a plain value", key);
    return 0;
}

void ydoc_str(struct ydoc *d, yaml_node_t *n, char *out, size_t cap, const char *key)
{
    if (!n || !scalar_or_err(d, n, key))
        return;
    if (n->data.scalar.length >= cap) {
        ydoc_err(d, n, "%s: longer than %zu bytes", key, cap - 1);
        return;
    }
    memcpy(out, sval(n), n->data.scalar.length + 1);
}

void ydoc_dur(struct ydoc *d, yaml_node_t *n, int64_t *out, const char *key)
{
    int64_t v;
    if (!n || !scalar_or_err(d, n, key))
        return;
    if (mend_conf_parse_duration(sval(n), &v) != MEND_OK || v < 0) {
        ydoc_err(d, n, "%s: expected a duration such as 30s, 5m, 2h", key);
        return;
    }
    *out = v;
}

void ydoc_f64(struct ydoc *d, yaml_node_t *n, double *out, double min, double max, const char *key)
{
    double v;
    if (!n || !scalar_or_err(d, n, key))
        return;
    if (mend_parse_f64(sval(n), n->data.scalar.length, 0, &v) != MEND_OK || v < min || v > max) {
        ydoc_err(d, n, "%s: expected a number in [%g, %g]", key, min, max);
        return;
    }
    *out = v;
}

void ydoc_i64(struct ydoc *d, yaml_node_t *n, int64_t *out, int64_t min, int64_t max, const char *key)
{
    if (!n || !scalar_or_err(d, n, key))
        return;
    const char *s = sval(n);
    size_t i = s[0] == '-' ? 1 : 0;
    int64_t v = 0;
    int ok = s[i] != '\0' && n->data.scalar.length - i <= 18;
    for (; ok && s[i]; i++) {
        if (s[i] < '0' || s[i] > '9')
            ok = 0;
        else
            v = v * 10 + (s[i] - '0');
    }
    if (ok && s[0] == '-')
        v = -v;
    if (!ok || v < min || v > max) {
        ydoc_err(d, n, "%s: expected a whole number in [%lld, %lld]", key, (long long)min,
                 (long long)max);
        return;
    }
    *out = v;
}

void ydoc_u32(struct ydoc *d, yaml_node_t *n, uint32_t *out, uint32_t min, uint32_t max,
              const char *key)
{
    int64_t v = -1;
    ydoc_i64(d, n, &v, min, max, key);
    if (v >= 0)
        *out = (uint32_t)v;
}

void ydoc_bool(struct ydoc *d, yaml_node_t *n, int *out, const char *key)
{
    if (!n || !scalar_or_err(d, n, key))
        return;
    const char *s = sval(n);
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = 0;
    else
        ydoc_err(d, n, "%s: expected true or false", key);
}
