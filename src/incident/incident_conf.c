/* incident_conf.c -- the incident grouper's options (`incidents.*`), as a
 * config map over struct mend_incident_conf (confmap.h). The output path
 * belongs to the program, not the grouper: config.c adds it in front. */
#include "mend/confmap.h"
#include "mend/incident.h"

#include <stddef.h>

#define OFF(f) offsetof(struct mend_incident_conf, f)

static const struct mend_conf_entry entries[] = {
    {.key = "resolve_after", .type = MEND_CT_DUR, .off = OFF(resolve_after_ns), .min = 1e-3,
     .max = 86400.0 * 365, .def = "10m",
     .help = "event time without a new event after which an incident resolves"},
    {.key = "max_signals", .type = MEND_CT_U32, .off = OFF(max_signals), .min = 1, .max = 1e6,
     .def = "64", .help = "signals listed per incident (more are counted)"},
    {.key = "max_open", .type = MEND_CT_U32, .off = OFF(max_open), .min = 1, .max = 1e8,
     .def = "10000", .help = "open incidents at once"},
    {.key = "group_by_entity", .type = MEND_CT_BOOL, .off = OFF(group_by_entity), .def = "true",
     .help = "one incident per entity; off = one incident for everything at a time"},
    {.key = "watch_tail", .type = MEND_CT_F64, .off = OFF(watch_tail), .min = 0, .max = 0.02,
     .def = "0.001",
     .help = "a new run of an open incident's signal that gets this rare (tail probability, "
             "below the alarm's 1e-5) is written as an excursion update; 0 = off"},
    {.key = "max_excursions", .type = MEND_CT_U32, .off = OFF(max_excursions), .min = 0, .max = 1e6,
     .def = "16", .help = "excursion lines per incident (more are counted)"},
};

const struct mend_conf_map mend_incident_conf_map = {
    .name = "incidents", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_incident_conf),
};
