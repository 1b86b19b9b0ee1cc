/* logsig_conf.c -- the `logs:` options (log formats as signals, logsig.h,
 * and the template miner, template.h) as a config map over struct
 * mend_logs_config (config.h): the numbers live in struct mend_logsig_conf,
 * the JSON field lists in strings of the config that the loader points the
 * conf at. */
#include "mend/config.h"
#include "mend/confmap.h"

#include <stddef.h>

#define OFF(f) offsetof(struct mend_logs_config, f)
#define SZ(f) sizeof(((struct mend_logs_config *)0)->f)

static const struct mend_conf_name bool_names[] = {{"hostname", 0}, {"app", 1}, {NULL, 0}};

static const struct mend_conf_entry entries[] = {
    {.key = "interval", .type = MEND_CT_DUR, .off = OFF(sig.interval_ns), .min = 1e-3, .max = 7 * 86400.0,
     .def = "1m", .help = "log signals: counting interval (count per template and severity, new templates)"},
    {.key = "idle_intervals", .type = MEND_CT_U32, .off = OFF(sig.idle_intervals), .min = 0, .max = 1000,
     .def = "10", .help = "empty intervals a log series keeps reporting 0 before it stops"},
    {.key = "max_entities", .type = MEND_CT_U32, .off = OFF(sig.max_entities), .min = 1, .max = 1e7,
     .def = "10000", .help = "entities whose log lines are counted (least recently seen evicted beyond)"},
    {.key = "max_per_entity", .type = MEND_CT_U32, .off = OFF(sig.max_per_entity), .min = 1, .max = 5000,
     .def = "1000", .help = "templates counted per entity; the rest count as template=other"},
    {.key = "max_example", .type = MEND_CT_U32, .off = OFF(sig.max_example), .min = 0, .max = 65536,
     .def = "512", .help = "bytes kept of each template's example line (shown in incidents)"},
    {.key = "entity", .type = MEND_CT_ENUM, .off = OFF(sig.syslog_entity_app), .size = 4, .names = bool_names,
     .def = "hostname", .help = "syslog field naming the entity: hostname or app"},
    {.key = "json_message", .type = MEND_CT_STR, .off = OFF(json_message), .size = SZ(json_message),
     .def = "message,msg,log", .help = "JSON logs: fields holding the message, first present wins"},
    {.key = "json_level", .type = MEND_CT_STR, .off = OFF(json_level), .size = SZ(json_level),
     .def = "level,severity,lvl", .help = "JSON logs: fields holding the level"},
    {.key = "json_time", .type = MEND_CT_STR, .off = OFF(json_time), .size = SZ(json_time),
     .def = "time,timestamp,@timestamp,ts", .help = "JSON logs: fields holding the time"},
    {.key = "json_entity", .type = MEND_CT_STR, .off = OFF(json_entity), .size = SZ(json_entity),
     .def = "host,hostname", .help = "JSON logs: fields naming the entity"},
    {.key = "depth", .type = MEND_CT_U32, .off = OFF(sig.tmpl.depth), .min = 3, .max = 16, .def = "4",
     .help = "template miner: parse-tree depth (root and length level included)"},
    {.key = "sim", .type = MEND_CT_F64, .off = OFF(sig.tmpl.sim), .min = 0.01, .max = 1, .def = "0.78",
     .help = "template miner: similarity a message needs to join a template"},
    {.key = "max_templates", .type = MEND_CT_U32, .off = OFF(sig.tmpl.max_templates), .min = 1, .max = 1e7,
     .def = "10000", .help = "template miner: templates in all (least recently used evicted beyond)"},
};

const struct mend_conf_map mend_logs_conf_map = {
    .name = "logs", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_logs_config),
};
