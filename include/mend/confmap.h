/* confmap.h -- declarative configuration maps, in the way of Fluent Bit's
 * config maps: each module describes its conf struct once, as a table of
 * options (key, type, offset into the struct, default, range, help), and the
 * generic code here sets options from text, walks YAML into them, checks
 * defaults, and prints the documentation. Nothing else knows an option's
 * name, type or bounds.
 *
 * Values. A map describes one struct; an entry's off is the field's offset
 * in it (offsetof). Scalars: booleans (int), u32, size_t, u64, double, durations
 * (int64_t ns, written "250ms", "10s", "5m", "2h", "1d"; a unit is required,
 * only a bare 0 goes without), fixed-size strings, enumerations (a name table into an int32 or
 * int64 field), flag sets (a comma list of names OR-ed into an unsigned),
 * and custom scalars (parse/print callbacks). Structure:
 *   MEND_CT_MAP     a nested struct described by entry.sub ("a.b.c" keys,
 *                   YAML mappings);
 *   MEND_CT_INLINE  a nested struct whose keys appear at this level (a
 *                   section made of fields of two structs);
 *   MEND_CT_LIST    an array of up to max_items elements of elem_size
 *                   bytes with a size_t count at count_off; an element is a
 *                   scalar described by entry.elem, or a struct described by
 *                   entry.sub (a list of mappings: scrape targets, rules);
 *   MEND_CT_DICT    free-form name: value pairs (labels), an array of
 *                   struct mend_conf_pair with a size_t count.
 * Every count, string and list has a cap; all numbers go through
 * mend_parse_f64 (locale-free), never bare strtod.
 *
 * Keys. mend_conf_set takes a dotted path: "series.ring", "detect.quiet",
 * "scrape.targets.0.url" (element 0 of a list of mappings; index = count
 * appends an element with the element map's defaults),
 * "scrape.targets.0.labels.rack" (a dict entry). Setting a scalar list
 * ("input.listen") by key appends; a YAML sequence replaces the list.
 *
 * Errors are "KEY: what is accepted", and from YAML "name:line:col: KEY:
 * what is accepted"; the target is unchanged when one value is refused. A
 * section or key given twice in one YAML mapping is an error naming the
 * first place, never "the last one wins". */
#ifndef MEND_CONFMAP_H
#define MEND_CONFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum mend_conf_type {
    MEND_CT_BOOL,   /* int: true/false, yes/no, on/off, 1/0 */
    MEND_CT_U32,    /* uint32_t, whole number in [min, max] */
    MEND_CT_SIZE,   /* size_t, whole number in [min, max] */
    MEND_CT_U64,    /* uint64_t, whole number in [min, max] */
    MEND_CT_F64,    /* double in [min, max], finite */
    MEND_CT_DUR,    /* int64_t ns; min and max in seconds */
    MEND_CT_STR,    /* char[size], NUL-terminated */
    MEND_CT_ENUM,   /* size 4 (int32_t) or 8 (int64_t): one of names */
    MEND_CT_FLAGS,  /* unsigned: comma list of names, at least one */
    MEND_CT_CUSTOM, /* parse/print callbacks */
    MEND_CT_MAP,    /* nested struct: sub */
    MEND_CT_INLINE, /* nested struct whose keys live at this level: sub */
    MEND_CT_LIST,   /* array + size_t count: elem (scalar) or sub (struct) */
    MEND_CT_DICT    /* array of struct mend_conf_pair + size_t count */
};

/* A name for MEND_CT_ENUM / MEND_CT_FLAGS; a table ends with name NULL. */
struct mend_conf_name {
    const char *name;
    int64_t value;
};

#define MEND_CONF_PAIR_KEY 64
#define MEND_CONF_PAIR_VALUE 256
struct mend_conf_pair {
    char key[MEND_CONF_PAIR_KEY];
    char value[MEND_CONF_PAIR_VALUE];
};

struct mend_conf_map;

struct mend_conf_entry {
    const char *key;
    enum mend_conf_type type;
    size_t off;            /* field offset in the map's struct */
    size_t size;           /* STR: buffer size; ENUM: 4 or 8; LIST/DICT: element size */
    double min, max;       /* numeric bounds (DUR: seconds) */
    const char *def;       /* default as text ("" = empty; NULL for MAP/INLINE) */
    const char *help;
    const struct mend_conf_name *names; /* ENUM, FLAGS */
    const struct mend_conf_map *sub;    /* MAP, INLINE, LIST of structs */
    const struct mend_conf_entry *elem; /* LIST of scalars: the element (off 0) */
    size_t count_off;      /* LIST, DICT: offset of the size_t count */
    size_t max_items;      /* LIST, DICT: cap on the count */
    /* CUSTOM (and an extra check for STR elements): parse text into the
     * field, 0 or MEND_EINVAL; print the field as text. */
    int (*parse)(void *field, const char *text);
    void (*print)(const void *field, char *out, size_t outlen);
    const char *accepts;   /* what is accepted, for errors (NULL = from type) */
    int seq_joins;         /* STR, CUSTOM: a YAML sequence of plain values is also
                              accepted, as its items joined with ',' (one value that
                              is a comma list: input.entity_tag, counters.patterns);
                              without it a sequence for a scalar is an error */
};

struct mend_conf_map {
    const char *name;      /* for messages: "detect", "series", "target" */
    const struct mend_conf_entry *entries;
    size_t n;
    size_t struct_size;    /* sizeof the struct (for list elements) */
    /* Whole-struct check after a file is read (cross-field rules);
     * optional. 0 or MEND_EINVAL with a message. */
    int (*check)(const void *conf, char *err, size_t errlen);
};

/* Sets the option at dotted path key (relative to map) in conf from text.
 * prefix (may be NULL or "") is prepended to the key in messages, e.g.
 * "detect". Returns 0, MEND_EINVAL (unknown key, bad value: err says what is
 * accepted), MEND_ECAP (a list is full). conf is unchanged on error. */
int mend_conf_set(const struct mend_conf_map *map, void *conf, const char *prefix,
                  const char *key, const char *value, char *err, size_t errlen);

/* Sets every option of map (recursively; lists and dicts become empty) from
 * its def text. Returns 0, or MEND_EINVAL when a default does not parse (a
 * bug in the map; err names it). */
int mend_conf_defaults(const struct mend_conf_map *map, void *conf, char *err, size_t errlen);

/* Compares what map's def texts give with the module's defaults in conf,
 * option by option (as printed). Returns 0 or MEND_EINVAL naming the first
 * option that differs: a test keeps maps and *_conf_defaults() in step. */
int mend_conf_defaults_match(const struct mend_conf_map *map, const void *conf, const char *prefix,
                             char *err, size_t errlen);

/* Writes the current value of one entry's field as text. */
void mend_conf_format(const struct mend_conf_entry *e, const void *conf, char *out, size_t outlen);

/* Prints every option under map with its value in conf (pass the defaults)
 * and help, one "  prefix.key  value\n      help\n" per option. List
 * elements' options are listed as "prefix.list[].key". */
void mend_conf_print(FILE *f, const struct mend_conf_map *map, const void *conf,
                     const char *prefix);

/* Reads a YAML document (libyaml) whose top level is a mapping described by
 * map, into conf. name is used in messages ("name:line:col: key: ..."). Runs
 * every map's check afterwards. Returns 0, MEND_EPARSE (YAML syntax),
 * MEND_EINVAL (unknown key, bad value, wrong shape), MEND_ECAP, MEND_ENOMEM;
 * on error conf may hold some of the document's values. */
int mend_conf_load_yaml(const struct mend_conf_map *map, void *conf, const char *name,
                        const char *buf, size_t len, char *err, size_t errlen);

/* Parses a duration ("250ms", "10s", "1.5m", "2h", "1d"; units ns, us, ms,
 * s, m, h, d; a bare number other than 0 is refused: which unit?) into ns.
 * MEND_EINVAL, or MEND_ERANGE above ~285 years. */
int mend_conf_parse_duration(const char *s, int64_t *ns);

/* ---- the modules' maps (each next to its module: src/DIR/NAME_conf.c) ---- */

extern const struct mend_conf_map mend_series_conf_map;   /* struct mend_series_conf */
extern const struct mend_conf_map mend_mvg_conf_map;      /* struct mend_mvg_conf */
extern const struct mend_conf_map mend_incident_conf_map; /* struct mend_incident_conf */
extern const struct mend_conf_map mend_scorer_conf_map;   /* struct mend_scorer_conf */
/* struct mend_engine_conf, one map per config section it contributes to */
extern const struct mend_conf_map mend_engine_mv_conf_map;      /* multivariate.* */
extern const struct mend_conf_map mend_engine_absence_conf_map; /* absence.* */
extern const struct mend_conf_map mend_engine_tick_conf_map;    /* engine.* */
extern const struct mend_conf_map mend_engine_rate_conf_map;    /* counters.* */

#endif
