/* confmap.c -- the generic side of the declarative config maps (confmap.h):
 * dotted-path setting, defaults from the maps' texts, value formatting and
 * the option list, and a libyaml event walker that follows the maps, so a
 * module only writes its table.
 *
 * A value is always parsed into a temporary and copied into place only when
 * it is accepted, so a refused value leaves the target as it was. Recursion
 * follows the maps (static tables), never the input, so its depth is
 * bounded by how deeply the maps nest. */
#include "mend/confmap.h"
#include "mend/common.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define KEY_MAX 256   /* longest dotted key in messages */
#define MSG_MAX 512


static void join(char *out, size_t n, const char *prefix, const char *key, size_t klen)
{
    if (prefix && *prefix)
        snprintf(out, n, "%s.%.*s", prefix, (int)klen, key);
    else
        snprintf(out, n, "%.*s", (int)klen, key);
}

static int is_scalar(enum mend_conf_type t)
{
    return t != MEND_CT_MAP && t != MEND_CT_INLINE && t != MEND_CT_LIST && t != MEND_CT_DICT;
}

static size_t *count_at(const struct mend_conf_entry *e, char *base)
{
    return (size_t *)(void *)(base + e->count_off);
}

static const size_t *ccount_at(const struct mend_conf_entry *e, const char *base)
{
    return (const size_t *)(const void *)(base + e->count_off);
}

/* Finds name in map, looking through INLINE entries; *base moves to the
 * struct the entry belongs to. */
static const struct mend_conf_entry *find(const struct mend_conf_map *m, const char *name,
                                          size_t nlen, char **base)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct mend_conf_entry *e = &m->entries[i];
        if (e->type == MEND_CT_INLINE) {
            char *b = *base + e->off;
            const struct mend_conf_entry *f = find(e->sub, name, nlen, &b);
            if (f) {
                *base = b;
                return f;
            }
        } else if (strlen(e->key) == nlen && !memcmp(e->key, name, nlen)) {
            return e;
        }
    }
    return NULL;
}

/* ---- numbers and durations ------------------------------------------------ */

int mend_conf_parse_duration(const char *s, int64_t *ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1},
                 {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    size_t len = strlen(s), num = len;
    while (num > 0 && ((s[num - 1] >= 'a' && s[num - 1] <= 'z') ||
                       (s[num - 1] >= 'A' && s[num - 1] <= 'Z')))
        num--;
    double mult = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(s + num, units[i].unit))
            mult = units[i].ns;
    double v;
    /* A bare number is refused: "10" read as seconds by one reader and as
     * minutes by the next is how a 10-minute window became 10 seconds.
     * Zero is the same in every unit, so a bare 0 stays accepted. */
    if (num == len && !strcmp(s, "0"))
        mult = 1;
    if (mult < 0 || mend_parse_f64(s, num, 0, &v) != MEND_OK || v < 0)
        return MEND_EINVAL;
    if (v * mult > 9e18)
        return MEND_ERANGE;
    *ns = (int64_t)llround(v * mult);
    return MEND_OK;
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(v, yes[i]))
            return *out = 1, MEND_OK;
        if (!strcmp(v, no[i]))
            return *out = 0, MEND_OK;
    }
    return MEND_EINVAL;
}

/* A whole number in [min, max] (written as an integer or like 1e6). */
static int parse_whole(const char *v, double min, double max, double *out)
{
    double d;
    if (mend_parse_f64(v, strlen(v), 0, &d) || d < min || d > max || d != floor(d))
        return MEND_EINVAL;
    *out = d;
    return MEND_OK;
}

static int parse_flags(const struct mend_conf_name *names, const char *v, unsigned *out)
{
    unsigned bits = 0;
    const char *p = v;
    while (*p) {
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t len = (size_t)(b - a);
        unsigned bit = 0;
        for (size_t i = 0; names[i].name && !bit; i++)
            if (strlen(names[i].name) == len && !memcmp(a, names[i].name, len))
                bit = (unsigned)names[i].value;
        if (!bit)
            return MEND_EINVAL;
        bits |= bit;
        p = *e ? e + 1 : e;
    }
    if (!bits)
        return MEND_EINVAL;
    *out = bits;
    return MEND_OK;
}

static void names_list(const struct mend_conf_name *names, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; names && names[i].name && used < n; i++) {
        int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", names[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* "KEY: 'value' <what is accepted>" */
static int bad_value(const struct mend_conf_entry *e, const char *key, const char *v, char *err,
                     size_t errlen)
{
    char what[256];
    if (e->accepts) {
        mend_set_err(err, errlen, "%s: '%s' %s", key, v, e->accepts);
        return MEND_EINVAL;
    }
    switch (e->type) {
    case MEND_CT_BOOL: snprintf(what, sizeof what, "is not a boolean (true/false)"); break;
    case MEND_CT_U32:
    case MEND_CT_SIZE:
    case MEND_CT_U64:
        snprintf(what, sizeof what, "is not a whole number in [%.0f, %.0f]", e->min, e->max);
        break;
    case MEND_CT_F64: snprintf(what, sizeof what, "is not a number in [%g, %g]", e->min, e->max); break;
    case MEND_CT_DUR: {
        double num;
        if (mend_parse_f64(v, strlen(v), 0, &num) == MEND_OK)
            snprintf(what, sizeof what,
                     "is a bare number: a duration needs a unit (ns, us, ms, s, m, h, d), like 30s or 10m");
        else
            snprintf(what, sizeof what,
                     "is not a duration (like 250ms, 10s, 5m, 2h, 1d) in [%gs, %gs]", e->min, e->max);
        break;
    }
    case MEND_CT_STR:
        mend_set_err(err, errlen, "%s: value longer than %zu bytes", key, e->size - 1);
        return MEND_EINVAL;
    case MEND_CT_ENUM: {
        char l[192];
        names_list(e->names, l, sizeof l);
        snprintf(what, sizeof what, "is not one of %s", l);
        break;
    }
    case MEND_CT_FLAGS: {
        char l[192];
        names_list(e->names, l, sizeof l);
        snprintf(what, sizeof what, "is not a comma list of %s", l);
        break;
    }
    default: snprintf(what, sizeof what, "is not accepted"); break;
    }
    mend_set_err(err, errlen, "%s: '%s' %s", key, v, what);
    return MEND_EINVAL;
}

/* Parses v for scalar entry e into field (only written on success). */
static int set_scalar(const struct mend_conf_entry *e, void *field, const char *key, const char *v,
                      char *err, size_t errlen)
{
    double d;
    int b;
    int64_t ns;
    switch (e->type) {
    case MEND_CT_BOOL:
        if (parse_bool(v, &b))
            break;
        *(int *)field = b;
        return MEND_OK;
    case MEND_CT_U32:
        if (parse_whole(v, e->min, e->max, &d) || d > UINT32_MAX)
            break;
        *(uint32_t *)field = (uint32_t)d;
        return MEND_OK;
    case MEND_CT_SIZE:
        if (parse_whole(v, e->min, e->max, &d) || d >= 18446744073709551616.0)
            break;
        *(size_t *)field = (size_t)d;
        return MEND_OK;
    case MEND_CT_U64:
        if (parse_whole(v, e->min, e->max, &d) || d >= 18446744073709551616.0)
            break;
        *(uint64_t *)field = (uint64_t)d;
        return MEND_OK;
    case MEND_CT_F64:
        if (mend_parse_f64(v, strlen(v), 0, &d) || d < e->min || d > e->max)
            break;
        *(double *)field = d;
        return MEND_OK;
    case MEND_CT_DUR:
        if (mend_conf_parse_duration(v, &ns) || (double)ns < e->min * 1e9 ||
            (double)ns > e->max * 1e9)
            break;
        *(int64_t *)field = ns;
        return MEND_OK;
    case MEND_CT_STR:
        if (strlen(v) >= e->size)
            break;
        memcpy(field, v, strlen(v) + 1);
        return MEND_OK;
    case MEND_CT_ENUM:
        for (size_t i = 0; e->names && e->names[i].name; i++) {
            if (strcmp(v, e->names[i].name))
                continue;
            if (e->size == 4)
                *(int32_t *)field = (int32_t)e->names[i].value;
            else
                *(int64_t *)field = e->names[i].value;
            return MEND_OK;
        }
        break;
    case MEND_CT_FLAGS: {
        unsigned bits;
        if (parse_flags(e->names, v, &bits))
            break;
        *(unsigned *)field = bits;
        return MEND_OK;
    }
    case MEND_CT_CUSTOM:
        if (!e->parse || e->parse(field, v) != MEND_OK)
            break;
        return MEND_OK;
    default:
        mend_set_err(err, errlen, "%s: is not a single value", key);
        return MEND_EINVAL;
    }
    return bad_value(e, key, v, err, errlen);
}

/* Appends one scalar element to list e at base. */
static int list_append(const struct mend_conf_entry *e, char *base, const char *key, const char *v,
                       char *err, size_t errlen)
{
    size_t *cnt = count_at(e, base);
    if (*cnt >= e->max_items) {
        mend_set_err(err, errlen, "%s: list is full (at most %zu)", key, e->max_items);
        return MEND_ECAP;
    }
    union {
        max_align_t align; /* the element may hold any scalar type */
        unsigned char b[1024];
    } tmp;
    if (e->size > sizeof tmp.b) {
        mend_set_err(err, errlen, "%s: element too large for a scalar list", key);
        return MEND_EINVAL;
    }
    memset(tmp.b, 0, e->size);
    int rc = set_scalar(e->elem, tmp.b, key, v, err, errlen);
    if (rc)
        return rc;
    memcpy(base + e->off + *cnt * e->size, tmp.b, e->size);
    (*cnt)++;
    return MEND_OK;
}

/* Sets or replaces name in dict e at base. */
static int dict_put(const struct mend_conf_entry *e, char *base, const char *key,
                    const char *name, size_t nlen, const char *v, char *err, size_t errlen)
{
    size_t *cnt = count_at(e, base);
    struct mend_conf_pair *pairs = (struct mend_conf_pair *)(void *)(base + e->off);
    if (nlen == 0 || nlen >= MEND_CONF_PAIR_KEY || memchr(name, '\0', nlen)) {
        mend_set_err(err, errlen, "%s: name must be 1..%d bytes", key, MEND_CONF_PAIR_KEY - 1);
        return MEND_EINVAL;
    }
    if (strlen(v) >= MEND_CONF_PAIR_VALUE) {
        mend_set_err(err, errlen, "%s.%.*s: value longer than %d bytes", key, (int)nlen, name,
                MEND_CONF_PAIR_VALUE - 1);
        return MEND_EINVAL;
    }
    size_t i = 0;
    while (i < *cnt && !(strlen(pairs[i].key) == nlen && !memcmp(pairs[i].key, name, nlen)))
        i++;
    if (i == *cnt) {
        if (*cnt >= e->max_items) {
            mend_set_err(err, errlen, "%s: at most %zu entries", key, e->max_items);
            return MEND_ECAP;
        }
        memcpy(pairs[i].key, name, nlen);
        pairs[i].key[nlen] = '\0';
        (*cnt)++;
    }
    snprintf(pairs[i].value, sizeof pairs[i].value, "%s", v);
    return MEND_OK;
}

static int set_path(const struct mend_conf_map *m, char *base, const char *prefix,
                    const char *path, const char *value, char *err, size_t errlen);

/* path = "N.rest" into list of structs e at base. */
static int set_in_element(const struct mend_conf_entry *e, char *base, const char *key,
                          const char *path, const char *value, char *err, size_t errlen)
{
    const char *dot = strchr(path, '.');
    uint64_t idx;
    size_t *cnt = count_at(e, base);
    if (!dot || mend_parse_u64(path, (size_t)(dot - path), &idx) != MEND_OK || idx > *cnt) {
        mend_set_err(err, errlen, "%s: want %s.N.OPTION with N in 0..%zu", key, key, *cnt);
        return MEND_EINVAL;
    }
    if (idx == *cnt && *cnt >= e->max_items) {
        mend_set_err(err, errlen, "%s: list is full (at most %zu)", key, e->max_items);
        return MEND_ECAP;
    }
    /* Work on a copy so a refused value leaves the list as it was. */
    char *tmp = malloc(e->size);
    if (!tmp) {
        mend_set_err(err, errlen, "%s: out of memory", key);
        return MEND_ENOMEM;
    }
    char *slot = base + e->off + (size_t)idx * e->size;
    int rc = MEND_OK;
    if (idx < *cnt)
        memcpy(tmp, slot, e->size);
    else
        rc = mend_conf_defaults(e->sub, tmp, err, errlen);
    char sub[KEY_MAX + 24];
    snprintf(sub, sizeof sub, "%s.%" PRIu64, key, idx);
    if (rc == MEND_OK)
        rc = set_path(e->sub, tmp, sub, dot + 1, value, err, errlen);
    if (rc == MEND_OK) {
        memcpy(slot, tmp, e->size);
        if (idx == *cnt)
            (*cnt)++;
    }
    free(tmp);
    return rc;
}

/* prefix is the path walked so far, path the rest. */
static int set_path(const struct mend_conf_map *m, char *base, const char *prefix,
                    const char *path, const char *value, char *err, size_t errlen)
{
    const char *dot = strchr(path, '.');
    size_t nlen = dot ? (size_t)(dot - path) : strlen(path);
    char *b = base;
    const struct mend_conf_entry *e = find(m, path, nlen, &b);
    char key[KEY_MAX];
    join(key, sizeof key, prefix, path, nlen);
    if (!e || (dot && is_scalar(e->type)) || (dot && e->type == MEND_CT_LIST && !e->sub)) {
        char shown[KEY_MAX];
        join(shown, sizeof shown, prefix, path, strlen(path));
        mend_set_err(err, errlen, "unknown option '%s' (see `mend run --help` for the list)", shown);
        return MEND_EINVAL;
    }
    switch (e->type) {
    case MEND_CT_MAP:
        if (!dot)
            break;
        return set_path(e->sub, b + e->off, key, dot + 1, value, err, errlen);
    case MEND_CT_LIST:
        if (e->sub)
            return dot ? set_in_element(e, b, key, dot + 1, value, err, errlen)
                       : (mend_set_err(err, errlen, "%s: a list of mappings: set %s.N.OPTION", key, key),
                          MEND_EINVAL);
        return list_append(e, b, key, value, err, errlen);
    case MEND_CT_DICT:
        if (!dot)
            break;
        return dict_put(e, b, key, dot + 1, strlen(dot + 1), value, err, errlen);
    default:
        return set_scalar(e, b + e->off, key, value, err, errlen);
    }
    mend_set_err(err, errlen, "%s: is a group of options, not one (see `mend run --help`)", key);
    return MEND_EINVAL;
}

int mend_conf_set(const struct mend_conf_map *map, void *conf, const char *prefix,
                  const char *key, const char *value, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!map || !conf || !key || !value) {
        mend_set_err(err, errlen, "%s: missing key or value", key ? key : "?");
        return MEND_EINVAL;
    }
    return set_path(map, conf, prefix, key, value, err, errlen);
}

int mend_conf_defaults(const struct mend_conf_map *map, void *conf, char *err, size_t errlen)
{
    char *base = conf;
    for (size_t i = 0; i < map->n; i++) {
        const struct mend_conf_entry *e = &map->entries[i];
        int rc = MEND_OK;
        switch (e->type) {
        case MEND_CT_MAP:
        case MEND_CT_INLINE: rc = mend_conf_defaults(e->sub, base + e->off, err, errlen); break;
        case MEND_CT_LIST:
        case MEND_CT_DICT: *count_at(e, base) = 0; break;
        default:
            if (e->type == MEND_CT_STR && e->def && !*e->def)
                memset(base + e->off, 0, e->size);
            else
                rc = set_scalar(e, base + e->off, e->key, e->def ? e->def : "", err, errlen);
        }
        if (rc)
            return rc;
    }
    return MEND_OK;
}

/* ---- formatting and docs -------------------------------------------------- */

static void format_dur(int64_t ns, char *out, size_t n)
{
    if (ns % 3600000000000LL == 0 && ns)
        snprintf(out, n, "%" PRId64 "h", (int64_t)(ns / 3600000000000LL));
    else if (ns % 60000000000LL == 0 && ns)
        snprintf(out, n, "%" PRId64 "m", (int64_t)(ns / 60000000000LL));
    else if (ns % 1000000000LL == 0)
        snprintf(out, n, "%" PRId64 "s", (int64_t)(ns / 1000000000LL));
    else if (ns % 1000000LL == 0)
        snprintf(out, n, "%" PRId64 "ms", (int64_t)(ns / 1000000LL));
    else
        snprintf(out, n, "%" PRId64 "ns", ns);
}

static void format_scalar(const struct mend_conf_entry *e, const void *field, char *out, size_t n)
{
    switch (e->type) {
    case MEND_CT_BOOL: snprintf(out, n, "%s", *(const int *)field ? "true" : "false"); break;
    case MEND_CT_U32: snprintf(out, n, "%" PRIu32, *(const uint32_t *)field); break;
    case MEND_CT_SIZE: snprintf(out, n, "%zu", *(const size_t *)field); break;
    case MEND_CT_U64: snprintf(out, n, "%" PRIu64, *(const uint64_t *)field); break;
    case MEND_CT_F64: snprintf(out, n, "%g", *(const double *)field); break;
    case MEND_CT_DUR: format_dur(*(const int64_t *)field, out, n); break;
    case MEND_CT_STR: snprintf(out, n, "%s", *(const char *)field ? (const char *)field : "\"\""); break;
    case MEND_CT_ENUM: {
        int64_t v = e->size == 4 ? *(const int32_t *)field : *(const int64_t *)field;
        snprintf(out, n, "%" PRId64, v);
        for (size_t i = 0; e->names && e->names[i].name; i++)
            if (e->names[i].value == v)
                snprintf(out, n, "%s", e->names[i].name);
        break;
    }
    case MEND_CT_FLAGS: {
        unsigned bits = *(const unsigned *)field;
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; e->names && e->names[i].name && used < n; i++)
            if (bits & (unsigned)e->names[i].value) {
                int w = snprintf(out + used, n - used, "%s%s", used ? "," : "", e->names[i].name);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
        break;
    }
    case MEND_CT_CUSTOM:
        if (e->print)
            e->print(field, out, n);
        else
            snprintf(out, n, "?");
        break;
    default: snprintf(out, n, "%s", ""); break;
    }
}

void mend_conf_format(const struct mend_conf_entry *e, const void *conf, char *out, size_t n)
{
    const char *base = conf;
    if (n == 0)
        return;
    if (is_scalar(e->type)) {
        format_scalar(e, base + e->off, out, n);
        return;
    }
    if (e->type == MEND_CT_LIST || e->type == MEND_CT_DICT) {
        size_t cnt = *ccount_at(e, base);
        if (cnt == 0) {
            snprintf(out, n, "%s", e->type == MEND_CT_LIST ? "[] (none)" : "{} (none)");
            return;
        }
        if (e->type == MEND_CT_LIST && e->sub) {
            snprintf(out, n, "[%zu items]", cnt);
            return;
        }
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; i < cnt && used < n; i++) {
            char v[MEND_CONF_PAIR_KEY + MEND_CONF_PAIR_VALUE + 4];
            const char *item = base + e->off + i * e->size;
            if (e->type == MEND_CT_DICT) {
                const struct mend_conf_pair *p = (const void *)item;
                snprintf(v, sizeof v, "%s: %s", p->key, p->value);
            } else {
                format_scalar(e->elem, item, v, sizeof v);
            }
            int w = snprintf(out + used, n - used, "%s%s", i ? "," : "", v);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        return;
    }
    out[0] = '\0';
}

void mend_conf_print(FILE *f, const struct mend_conf_map *map, const void *conf, const char *prefix)
{
    const char *base = conf;
    for (size_t i = 0; i < map->n; i++) {
        const struct mend_conf_entry *e = &map->entries[i];
        char key[KEY_MAX];
        join(key, sizeof key, prefix, e->key ? e->key : "", e->key ? strlen(e->key) : 0);
        if (e->type == MEND_CT_INLINE) {
            mend_conf_print(f, e->sub, base + e->off, prefix);
            continue;
        }
        if (e->type == MEND_CT_MAP) {
            mend_conf_print(f, e->sub, base + e->off, key);
            continue;
        }
        char v[512];
        mend_conf_format(e, base, v, sizeof v);
        fprintf(f, "  %-28s %s\n      %s\n", key, v, e->help ? e->help : "");
        if (e->type == MEND_CT_LIST && e->sub) {
            /* each element's options, with the element defaults */
            char *el = calloc(1, e->sub->struct_size ? e->sub->struct_size : 1);
            if (el && mend_conf_defaults(e->sub, el, NULL, 0) == MEND_OK) {
                char sub[KEY_MAX + 4];
                snprintf(sub, sizeof sub, "%s[]", key);
                mend_conf_print(f, e->sub, el, sub);
            }
            free(el);
        }
    }
}

static int match_walk(const struct mend_conf_map *map, const char *a, const char *b,
                      const char *prefix, char *err, size_t errlen)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct mend_conf_entry *e = &map->entries[i];
        char key[KEY_MAX];
        join(key, sizeof key, prefix, e->key ? e->key : "", e->key ? strlen(e->key) : 0);
        int rc = MEND_OK;
        if (e->type == MEND_CT_INLINE)
            rc = match_walk(e->sub, a + e->off, b + e->off, prefix, err, errlen);
        else if (e->type == MEND_CT_MAP)
            rc = match_walk(e->sub, a + e->off, b + e->off, key, err, errlen);
        else {
            char va[512], vb[512];
            mend_conf_format(e, a, va, sizeof va);
            mend_conf_format(e, b, vb, sizeof vb);
            if (strcmp(va, vb)) {
                mend_set_err(err, errlen, "%s: map default '%s' but the module's default is '%s'", key,
                        va, vb);
                rc = MEND_EINVAL;
            }
        }
        if (rc)
            return rc;
    }
    return MEND_OK;
}

int mend_conf_defaults_match(const struct mend_conf_map *map, const void *conf, const char *prefix,
                             char *err, size_t errlen)
{
    char *mine = calloc(1, map->struct_size ? map->struct_size : 1);
    if (!mine)
        return MEND_ENOMEM;
    int rc = mend_conf_defaults(map, mine, err, errlen);
    if (rc == MEND_OK)
        rc = match_walk(map, mine, conf, prefix, err, errlen);
    free(mine);
    return rc;
}

/* ---- YAML ------------------------------------------------------------------ */

struct walker {
    yaml_parser_t p;
    const char *name;
    char *err;
    size_t errlen;
};

static int next(struct walker *w, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&w->p, ev)) {
        mend_set_err(w->err, w->errlen, "%s:%zu:%zu: YAML error: %s", w->name,
                w->p.problem_mark.line + 1, w->p.problem_mark.column + 1,
                w->p.problem ? w->p.problem : "malformed");
        return MEND_EPARSE;
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        mend_set_err(w->err, w->errlen, "%s:%zu:%zu: YAML aliases are not supported here", w->name,
                ev->start_mark.line + 1, ev->start_mark.column + 1);
        yaml_event_delete(ev);
        return MEND_EINVAL;
    }
    return MEND_OK;
}

static int fail_at(struct walker *w, const yaml_event_t *ev, int rc, const char *msg)
{
    mend_set_err(w->err, w->errlen, "%s:%zu:%zu: %s", w->name, ev->start_mark.line + 1,
            ev->start_mark.column + 1, msg);
    return rc;
}

static const char *scalar(const yaml_event_t *ev)
{
    return (const char *)ev->data.scalar.value;
}

static int empty_scalar(const yaml_event_t *ev)
{
    return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0;
}

static int walk_map(struct walker *w, const struct mend_conf_map *m, char *base, const char *prefix,
                    int top);

static int walk_list(struct walker *w, const struct mend_conf_entry *e, char *b, const char *key)
{
    char msg[MSG_MAX];
    size_t *cnt = count_at(e, b);
    *cnt = 0; /* a list in the file replaces the default */
    for (;;) {
        yaml_event_t ev;
        int rc = next(w, &ev);
        if (rc)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return MEND_OK;
        }
        if (!e->sub) {
            if (ev.type != YAML_SCALAR_EVENT) {
                snprintf(msg, sizeof msg, "%s: expected a list of plain values", key);
                rc = fail_at(w, &ev, MEND_EINVAL, msg);
            } else if ((rc = list_append(e, b, key, scalar(&ev), msg, sizeof msg)) != MEND_OK) {
                rc = fail_at(w, &ev, rc, msg);
            }
            yaml_event_delete(&ev);
            if (rc)
                return rc;
            continue;
        }
        if (ev.type != YAML_MAPPING_START_EVENT) {
            snprintf(msg, sizeof msg, "%s: expected a list of mappings", key);
            rc = fail_at(w, &ev, MEND_EINVAL, msg);
            yaml_event_delete(&ev);
            return rc;
        }
        if (*cnt >= e->max_items) {
            snprintf(msg, sizeof msg, "%s: list is full (at most %zu)", key, e->max_items);
            rc = fail_at(w, &ev, MEND_ECAP, msg);
            yaml_event_delete(&ev);
            return rc;
        }
        yaml_event_delete(&ev);
        char *el = b + e->off + *cnt * e->size;
        if ((rc = mend_conf_defaults(e->sub, el, msg, sizeof msg)) != MEND_OK) {
            mend_set_err(w->err, w->errlen, "%s: %s", w->name, msg);
            return rc;
        }
        char sub[KEY_MAX + 24];
        snprintf(sub, sizeof sub, "%s[%zu]", key, *cnt);
        if ((rc = walk_map(w, e->sub, el, sub, 0)) != MEND_OK)
            return rc;
        (*cnt)++;
    }
}

static int walk_dict(struct walker *w, const struct mend_conf_entry *e, char *b, const char *key)
{
    char msg[MSG_MAX];
    for (;;) {
        yaml_event_t k, v;
        int rc = next(w, &k);
        if (rc)
            return rc;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return MEND_OK;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            snprintf(msg, sizeof msg, "%s: expected name: value pairs", key);
            rc = fail_at(w, &k, MEND_EINVAL, msg);
            yaml_event_delete(&k);
            return rc;
        }
        if ((rc = next(w, &v)) != MEND_OK) {
            yaml_event_delete(&k);
            return rc;
        }
        if (v.type != YAML_SCALAR_EVENT) {
            snprintf(msg, sizeof msg, "%s.%s: expected a plain value", key, scalar(&k));
            rc = fail_at(w, &v, MEND_EINVAL, msg);
        } else if ((rc = dict_put(e, b, key, scalar(&k), k.data.scalar.length, scalar(&v), msg,
                                  sizeof msg)) != MEND_OK) {
            rc = fail_at(w, &v, rc, msg);
        }
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (rc)
            return rc;
    }
}

/* A sequence of plain values for a scalar that takes a comma list
 * (entry.seq_joins): the items joined with ',' are set as one value, at
 * the sequence's position. Items may not hold a comma themselves. */
static int walk_joined(struct walker *w, const struct mend_conf_entry *e, char *b, const char *key,
                       yaml_event_t *start)
{
    char msg[MSG_MAX];
    char joined[8192];
    size_t len = 0;
    int rc = MEND_OK;
    joined[0] = '\0';
    for (;;) {
        yaml_event_t ev;
        if ((rc = next(w, &ev)) != MEND_OK)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            if ((rc = set_scalar(e, b + e->off, key, joined, msg, sizeof msg)) != MEND_OK)
                rc = fail_at(w, start, rc, msg);
            break;
        }
        size_t n = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.length : 0;
        if (ev.type != YAML_SCALAR_EVENT || !n || memchr(scalar(&ev), ',', n) ||
            len + n + 2 > sizeof joined) {
            snprintf(msg, sizeof msg, "%s: expected a list of plain values without commas (at most %zu bytes)",
                     key, sizeof joined - 1);
            rc = fail_at(w, &ev, MEND_EINVAL, msg);
            yaml_event_delete(&ev);
            break;
        }
        if (len)
            joined[len++] = ',';
        memcpy(joined + len, scalar(&ev), n);
        len += n;
        joined[len] = '\0';
        yaml_event_delete(&ev);
    }
    yaml_event_delete(start);
    return rc;
}

/* One value for entry e (its start event in ev, consumed here). */
static int walk_value(struct walker *w, const struct mend_conf_entry *e, char *b, const char *key,
                      yaml_event_t *ev)
{
    char msg[MSG_MAX];
    int rc = MEND_OK;
    yaml_event_type_t t = ev->type;
    if (t == YAML_SCALAR_EVENT) {
        if (is_scalar(e->type))
            rc = set_scalar(e, b + e->off, key, scalar(ev), msg, sizeof msg);
        else if (e->type == MEND_CT_LIST && !e->sub)
            rc = list_append(e, b, key, scalar(ev), msg, sizeof msg);
        else if (!empty_scalar(ev)) { /* an empty group is fine */
            snprintf(msg, sizeof msg, "%s: expected %s", key,
                     e->type == MEND_CT_LIST ? "a list" : "a mapping of options");
            rc = MEND_EINVAL;
        }
        if (rc)
            rc = fail_at(w, ev, rc, msg);
        yaml_event_delete(ev);
        return rc;
    }
    if (t == YAML_SEQUENCE_START_EVENT && e->type == MEND_CT_LIST) {
        yaml_event_delete(ev);
        return walk_list(w, e, b, key);
    }
    if (t == YAML_SEQUENCE_START_EVENT && e->seq_joins && is_scalar(e->type))
        return walk_joined(w, e, b, key, ev);
    if (t == YAML_MAPPING_START_EVENT && e->type == MEND_CT_MAP) {
        yaml_event_delete(ev);
        return walk_map(w, e->sub, b + e->off, key, 0);
    }
    if (t == YAML_MAPPING_START_EVENT && e->type == MEND_CT_DICT) {
        yaml_event_delete(ev);
        return walk_dict(w, e, b, key);
    }
    snprintf(msg, sizeof msg, "%s: expected %s", key,
             is_scalar(e->type) ? "a value"
             : e->type == MEND_CT_LIST ? "a list" : "a mapping");
    rc = fail_at(w, ev, MEND_EINVAL, msg);
    yaml_event_delete(ev);
    return rc;
}

/* The keys already set in one YAML mapping: a second `detect:` section or a
 * repeated key is an error, never a silent "last one wins" (libyaml
 * reports duplicates as ordinary events). Capped: a mapping holds at most
 * one entry per option of its map, so more than SEEN_MAX distinct keys
 * means unknown ones, which fail anyway. */
#define SEEN_MAX 256
struct seen_keys {
    const struct mend_conf_entry *e[SEEN_MAX];
    const char *base[SEEN_MAX];
    size_t line[SEEN_MAX];
    size_t n;
};

static int walk_map_body(struct walker *w, const struct mend_conf_map *m, char *base, const char *prefix,
                         int top, struct seen_keys *seen);

static int walk_map(struct walker *w, const struct mend_conf_map *m, char *base, const char *prefix,
                    int top)
{
    struct seen_keys *seen = calloc(1, sizeof *seen);
    if (!seen)
        return MEND_ENOMEM;
    int rc = walk_map_body(w, m, base, prefix, top, seen);
    free(seen);
    return rc;
}

static int walk_map_body(struct walker *w, const struct mend_conf_map *m, char *base, const char *prefix,
                         int top, struct seen_keys *seen)
{
    char msg[MSG_MAX];
    for (;;) {
        yaml_event_t ev;
        int rc = next(w, &ev);
        if (rc)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return MEND_OK;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            if (top) {
                char l[256] = "";
                size_t used = 0;
                for (size_t i = 0; i < m->n && used < sizeof l; i++) {
                    int n = snprintf(l + used, sizeof l - used, "%s%s", i ? ", " : "",
                                     m->entries[i].key);
                    if (n < 0)
                        break;
                    used += (size_t)n;
                }
                snprintf(msg, sizeof msg, "expected a section name (%s)", l);
            } else {
                snprintf(msg, sizeof msg, "%s%sexpected an option name", prefix ? prefix : "",
                         prefix && *prefix ? ": " : "");
            }
            rc = fail_at(w, &ev, MEND_EINVAL, msg);
            yaml_event_delete(&ev);
            return rc;
        }
        char *b = base;
        const struct mend_conf_entry *e = find(m, scalar(&ev), ev.data.scalar.length, &b);
        char key[KEY_MAX];
        join(key, sizeof key, prefix, scalar(&ev), ev.data.scalar.length);
        if (e) {
            for (size_t i = 0; i < seen->n; i++) {
                if (seen->e[i] == e && seen->base[i] == b) {
                    snprintf(msg, sizeof msg, "%s '%s' given twice (first at line %zu)",
                             top ? "section" : "option", key, seen->line[i]);
                    rc = fail_at(w, &ev, MEND_EINVAL, msg);
                    yaml_event_delete(&ev);
                    return rc;
                }
            }
            if (seen->n < SEEN_MAX) {
                seen->e[seen->n] = e;
                seen->base[seen->n] = b;
                seen->line[seen->n++] = ev.start_mark.line + 1;
            }
        }
        yaml_event_delete(&ev);
        if ((rc = next(w, &ev)) != MEND_OK)
            return rc;
        if (!e) {
            snprintf(msg, sizeof msg, "unknown option '%s' (see `mend run --help` for the list)",
                     key);
            rc = fail_at(w, &ev, MEND_EINVAL, msg);
            yaml_event_delete(&ev);
            return rc;
        }
        if ((rc = walk_value(w, e, b, key, &ev)) != MEND_OK)
            return rc;
    }
}

/* Runs every map's check over conf, lists of structs included. */
static int check_all(const struct mend_conf_map *m, const char *base, char *err, size_t errlen)
{
    if (m->check) {
        int rc = m->check(base, err, errlen);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct mend_conf_entry *e = &m->entries[i];
        int rc = MEND_OK;
        if (e->type == MEND_CT_MAP || e->type == MEND_CT_INLINE)
            rc = check_all(e->sub, base + e->off, err, errlen);
        else if (e->type == MEND_CT_LIST && e->sub)
            for (size_t k = 0; k < *ccount_at(e, base) && rc == MEND_OK; k++)
                rc = check_all(e->sub, base + e->off + k * e->size, err, errlen);
        if (rc)
            return rc;
    }
    return MEND_OK;
}

int mend_conf_load_yaml(const struct mend_conf_map *map, void *conf, const char *name,
                        const char *buf, size_t len, char *err, size_t errlen)
{
    struct walker w = {.name = name, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&w.p)) {
        mend_set_err(err, errlen, "%s: cannot initialise the YAML parser", name);
        return MEND_ENOMEM;
    }
    yaml_parser_set_input_string(&w.p, (const unsigned char *)buf, len);
    int rc = MEND_OK, seen = 0;
    for (;;) {
        yaml_event_t ev;
        if ((rc = next(&w, &ev)))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT ||
            t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_MAPPING_START_EVENT && !seen) {
            seen = 1;
            yaml_event_delete(&ev);
            if ((rc = walk_map(&w, map, conf, NULL, 1)))
                break;
            continue;
        }
        if (empty_scalar(&ev)) { /* an empty document */
            yaml_event_delete(&ev);
            continue;
        }
        rc = fail_at(&w, &ev, MEND_EINVAL,
                     seen ? "one configuration document only"
                          : "the configuration must be a mapping of sections");
        yaml_event_delete(&ev);
        break;
    }
    yaml_parser_delete(&w.p);
    if (rc == MEND_OK) {
        char msg[MSG_MAX];
        if ((rc = check_all(map, conf, msg, sizeof msg)) != MEND_OK)
            mend_set_err(err, errlen, "%s: %s", name, msg);
    }
    return rc;
}
