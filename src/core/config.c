/* config.c -- the YAML configuration (see config.h).
 *
 * The file is one config map (confmap.h): a section per entry, each a
 * nested map -- the input options and the program's own (listen, format,
 * outputs, checkpoints) are described here over struct mend_config; the
 * modules' options come from their own maps (series_conf.c, detect_conf.c,
 * engine_conf.c, mvgauss_conf.c, incident_conf.c) placed at their conf
 * struct's offset. Setting, the YAML walk, checks and the documentation all
 * come from the maps; this file adds only what spans modules (the entity
 * tag pointer, input.max_key handed to the series registry). */
#include "mend/config.h"
#include "mend/confmap.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(struct mend_config, field)
#define SZ(field) sizeof(((struct mend_config *)0)->field)

static int parse_format(void *field, const char *v)
{
    enum mend_format f;
    if (*v && mend_format_parse(v, &f) != MEND_OK)
        return MEND_EINVAL;
    snprintf(field, SZ(format), "%s", v);
    return MEND_OK;
}

static void print_format(const void *field, char *out, size_t n)
{
    snprintf(out, n, "%s", *(const char *)field ? (const char *)field : "\"\" (guess)");
}

/* A listener is SCHEME://REST; which schemes exist is the input kinds'
 * business (input.h `claims`): an unknown one is refused when the inputs
 * are set up, naming it. */
static int parse_listen(void *field, const char *v)
{
    size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    if (strlen(v) >= SZ(listen[0]) || n == 0 || strncmp(v + n, "://", 3) || !v[n + 3])
        return MEND_EINVAL;
    snprintf(field, SZ(listen[0]), "%s", v);
    return MEND_OK;
}

static void print_listen(const void *field, char *out, size_t n)
{
    snprintf(out, n, "%s", (const char *)field);
}

/* One name or a comma list of at most 8 non-empty names without blanks.
 * Brackets are refused: "[host,instance]" given as text (--set) is a list
 * written the YAML way, not a tag named "[host". */
static int parse_entity_tag(void *field, const char *v)
{
    size_t len = strlen(v), names = 0;
    if (len >= SZ(entity_tag))
        return MEND_EINVAL;
    for (const char *c = v; *c;) {
        const char *b = c;
        while (*c && *c != ',') {
            if (strchr(" \t=\"[]{}", *c))
                return MEND_EINVAL;
            c++;
        }
        if (c == b || ++names > 8)
            return MEND_EINVAL;
        if (*c == ',' && !*++c)
            return MEND_EINVAL;
    }
    snprintf(field, SZ(entity_tag), "%s", v);
    return MEND_OK;
}

static const struct mend_conf_entry listen_elem = {
    .key = "listen", .type = MEND_CT_CUSTOM, .parse = parse_listen, .print = print_listen,
    .accepts = "must be SCHEME://ADDRESS such as tcp://HOST:PORT, udp://HOST:PORT or pcap://IFACE (at most 16)",
};

static const struct mend_conf_name precisions[] = {
    {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}, {NULL, 0}};

static const struct mend_conf_entry input[] = {
    {.key = "listen", .type = MEND_CT_LIST, .off = F(listen), .size = SZ(listen[0]),
     .elem = &listen_elem, .count_off = F(n_listen), .max_items = MEND_CONFIG_MAX_LISTEN,
     .def = "",
     .help = "listeners for `mend run`, a list: tcp://HOST:PORT or udp://HOST:PORT (line protocol), "
             "pcap://IFACE?filter=... (traffic features)"},
    {.key = "format", .type = MEND_CT_CUSTOM, .off = F(format), .size = SZ(format),
     .parse = parse_format, .print = print_format, .def = "",
     .accepts = "is not one of lp, prom, csv, csvlong, syslog, json, text",
     .help = "input format: lp, prom, csv, csvlong, syslog, json or text; empty = from the file extension or content"},
    {.key = "precision", .type = MEND_CT_ENUM, .off = F(ingest.precision_ns), .size = 8,
     .names = precisions, .def = "ns", .help = "line-protocol timestamp unit: ns, us, ms or s"},
    {.key = "entity_tag", .type = MEND_CT_CUSTOM, .off = F(entity_tag), .size = SZ(entity_tag),
     .parse = parse_entity_tag, .print = print_listen, .seq_joins = 1, .def = "host",
     .accepts = "must be a tag/label name or a list of at most 8 (\"host,instance\" or [host, instance])",
     .help = "tag/label naming the entity (host, service) a series belongs to, or a list of them "
             "tried in order ([host, instance]); empty = none"},
    {.key = "max_line", .type = MEND_CT_SIZE, .off = F(ingest.max_line), .min = 64,
     .max = 16 << 20, .def = "65536", .help = "longest input line in bytes"},
    {.key = "max_tags", .type = MEND_CT_SIZE, .off = F(ingest.max_tags), .min = 1, .max = 4096,
     .def = "64", .help = "most tags/labels on one line"},
    {.key = "max_key", .type = MEND_CT_SIZE, .off = F(ingest.max_key), .min = 16, .max = 65536,
     .def = "1024", .help = "longest series key in bytes"},
    {.key = "keep_nonfinite", .type = MEND_CT_BOOL, .off = F(ingest.keep_nonfinite),
     .def = "false", .help = "accept NaN/Inf values instead of rejecting them as errors"},
    {.key = "lateness", .type = MEND_CT_DUR, .off = F(engine.lateness_ns), .min = 0,
     .max = 86400.0 * 365, .def = "0s",
     .help = "accept samples this much older than the series' newest (scored as the newest); "
             "older ones are dropped and counted"},
    {.key = "error_log_limit", .type = MEND_CT_U32, .off = F(error_log_limit), .min = 0,
     .max = 1e9, .def = "100",
     .help = "malformed-line messages printed per source; later ones are only counted"},
    {.key = "max_ahead", .type = MEND_CT_DUR, .off = F(engine.max_ahead_ns), .min = 1e-3,
     .max = 86400.0 * 3660, .def = "1h",
     .help = "a sample further than this past the newest event time does not move the clock: "
             "it is held, and refused (counted) unless samples from other entities or times "
             "confirm that the whole input moved on"},
    {.key = "max_conns", .type = MEND_CT_U32, .off = F(max_conns), .min = 1, .max = 1e6,
     .def = "1024",
     .help = "TCP connections per listener; at the cap the least recently active one is closed"},
    {.key = "idle_timeout", .type = MEND_CT_DUR, .off = F(idle_timeout_ns), .min = 0,
     .max = 86400.0 * 365, .def = "5m",
     .help = "close a TCP connection that sent nothing for this long; 0 = never"},
    {.key = "accept_pause", .type = MEND_CT_DUR, .off = F(accept_pause_ns), .min = 1e-3,
     .max = 3600, .def = "200ms",
     .help = "stop accepting connections this long when out of file descriptors"},
};

static const struct mend_conf_map input_map = {
    .name = "input", .entries = input, .n = sizeof input / sizeof input[0],
    .struct_size = sizeof(struct mend_config),
};

static const struct mend_conf_entry incidents[] = {
    {.key = "output", .type = MEND_CT_STR, .off = F(incidents_output),
     .size = SZ(incidents_output), .def = "-",
     .help = "where incident JSON lines go: a file path, or - for stdout"},
    {.key = "grouping", .type = MEND_CT_INLINE, .off = F(engine.incidents),
     .sub = &mend_incident_conf_map},
};

static const struct mend_conf_map incidents_map = {
    .name = "incidents", .entries = incidents, .n = sizeof incidents / sizeof incidents[0],
    .struct_size = sizeof(struct mend_config),
};

static const struct mend_conf_entry checkpoint[] = {
    {.key = "path", .type = MEND_CT_STR, .off = F(checkpoint_path), .size = SZ(checkpoint_path),
     .def = "",
     .help = "state file, restored at start and written on the interval and at exit; empty = none"},
    {.key = "interval", .type = MEND_CT_DUR, .off = F(checkpoint_interval_ns), .min = 1,
     .max = 86400.0 * 365, .def = "1h", .help = "event time between checkpoints"},
};

static const struct mend_conf_map checkpoint_map = {
    .name = "checkpoint", .entries = checkpoint, .n = sizeof checkpoint / sizeof checkpoint[0],
    .struct_size = sizeof(struct mend_config),
};

/* The sections, in the order of the documentation. */
static const struct mend_conf_entry sections[] = {
    {.key = "input", .type = MEND_CT_MAP, .off = 0, .sub = &input_map},
    {.key = "series", .type = MEND_CT_MAP, .off = F(engine.series), .sub = &mend_series_conf_map},
    {.key = "multivariate", .type = MEND_CT_MAP, .off = F(engine),
     .sub = &mend_engine_mv_conf_map},
    {.key = "absence", .type = MEND_CT_MAP, .off = F(engine),
     .sub = &mend_engine_absence_conf_map},
    {.key = "incidents", .type = MEND_CT_MAP, .off = 0, .sub = &incidents_map},
    {.key = "engine", .type = MEND_CT_MAP, .off = F(engine), .sub = &mend_engine_tick_conf_map},
    {.key = "checkpoint", .type = MEND_CT_MAP, .off = 0, .sub = &checkpoint_map},
    {.key = "detect", .type = MEND_CT_MAP, .off = F(engine.scorer), .sub = &mend_scorer_conf_map},
    {.key = "ocsvm", .type = MEND_CT_MAP, .off = F(engine.ocsvm), .sub = &mend_ocsvm_conf_map},
    {.key = "counters", .type = MEND_CT_MAP, .off = F(engine), .sub = &mend_engine_rate_conf_map},
    {.key = "scrape", .type = MEND_CT_MAP, .off = F(scrape), .sub = &mend_scrape_conf_map},
    {.key = "localise", .type = MEND_CT_MAP, .off = F(engine.localise), .sub = &mend_localise_conf_map},
    {.key = "metrics", .type = MEND_CT_MAP, .off = F(metrics), .sub = &mend_metrics_conf_map},
    {.key = "logs", .type = MEND_CT_MAP, .off = F(logs), .sub = &mend_logs_conf_map},
    {.key = "remediation", .type = MEND_CT_MAP, .off = F(remediation), .sub = &mend_remediation_conf_map},
    {.key = "cluster", .type = MEND_CT_MAP, .off = F(cluster), .sub = &mend_cluster_conf_map},
};

static const struct mend_conf_map config_map = {
    .name = "", .entries = sections, .n = sizeof sections / sizeof sections[0],
    .struct_size = sizeof(struct mend_config),
};

const struct mend_conf_map *mend_config_map(void)
{
    return &config_map;
}

/* What spans modules, after any change. */
static void finish(struct mend_config *c)
{
    c->logs.sig.json_message = c->logs.json_message;
    c->logs.sig.json_level = c->logs.json_level;
    c->logs.sig.json_time = c->logs.json_time;
    c->logs.sig.json_entity = c->logs.json_entity;
    c->ingest.entity_tag = c->entity_tag[0] ? c->entity_tag : NULL;
    /* The registry must take every key the parsers build (defect 14). */
    c->engine.series.max_key = c->ingest.max_key;
}

void mend_config_defaults(struct mend_config *c)
{
    memset(c, 0, sizeof *c);
    mend_engine_conf_defaults(&c->engine);
    mend_ingest_opts_defaults(&c->ingest);
    mend_scrape_conf_defaults(&c->scrape);
    snprintf(c->entity_tag, sizeof c->entity_tag, "%s", "host");
    c->ingest.entity_tag = c->entity_tag;
    snprintf(c->incidents_output, sizeof c->incidents_output, "-");
    c->checkpoint_interval_ns = 3600LL * 1000000000LL;
    c->error_log_limit = 100;
    mend_logsig_conf_defaults(&c->logs.sig);
    mend_remediation_conf_defaults(&c->remediation);
    snprintf(c->logs.json_message, sizeof c->logs.json_message, "%s", c->logs.sig.json_message);
    snprintf(c->logs.json_level, sizeof c->logs.json_level, "%s", c->logs.sig.json_level);
    snprintf(c->logs.json_time, sizeof c->logs.json_time, "%s", c->logs.sig.json_time);
    snprintf(c->logs.json_entity, sizeof c->logs.json_entity, "%s", c->logs.sig.json_entity);
    c->max_conns = 1024;
    c->idle_timeout_ns = 300LL * 1000000000LL;
    c->accept_pause_ns = 200LL * 1000000LL;
    mend_metrics_conf_defaults(&c->metrics);
    mend_cluster_conf_defaults(&c->cluster);
    finish(c);
}

int mend_parse_duration(const char *s, int64_t *ns)
{
    return mend_conf_parse_duration(s, ns);
}

int mend_config_set(struct mend_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    int rc = mend_conf_set(&config_map, c, NULL, key, value, err, errlen);
    finish(c);
    return rc;
}

int mend_config_load_buf(struct mend_config *c, const char *name, const char *buf, size_t len,
                         char *err, size_t errlen)
{
    int rc = mend_conf_load_yaml(&config_map, c, name, buf, len, err, errlen);
    finish(c);
    return rc;
}

int mend_config_load(struct mend_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open configuration: %s", path, strerror(errno));
        return MEND_EIO;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return MEND_ENOMEM;
    }
    len = fread(buf, 1, cap, f);
    int toolong = len == cap && fgetc(f) != EOF;
    fclose(f);
    int rc;
    if (toolong) {
        snprintf(err, errlen, "%s: configuration larger than 1 MiB", path);
        rc = MEND_ECAP;
    } else {
        rc = mend_config_load_buf(c, path, buf, len, err, errlen);
    }
    free(buf);
    return rc;
}

void mend_config_print_docs(FILE *f)
{
    struct mend_config d;
    mend_config_defaults(&d);
    mend_conf_print(f, &config_map, &d, NULL);
}
