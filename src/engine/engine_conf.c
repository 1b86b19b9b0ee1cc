/* engine_conf.c -- the engine's own options, as config maps over struct
 * mend_engine_conf (confmap.h), one per section they appear in:
 * `multivariate.*` (the switch and threshold, then the model's own map
 * inlined), `absence.*` and `engine.*`. input.lateness is an engine field
 * too but is listed with the input options (config.c). */
#include "mend/confmap.h"
#include "mend/engine.h"

#include <stddef.h>

#define OFF(f) offsetof(struct mend_engine_conf, f)

static const struct mend_conf_entry mv[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = OFF(mvg_enabled), .def = "true",
     .help = "one multivariate Gaussian per entity over its series"},
    {.key = "threshold", .type = MEND_CT_F64, .off = OFF(mvg_threshold), .min = 1e-300,
     .max = 0.5, .def = "1e-06",
     .help = "chi-square tail probability at or below which an entity's row is an anomaly"},
    {.key = "model", .type = MEND_CT_INLINE, .off = OFF(mvg), .sub = &mend_mvg_conf_map},
};

const struct mend_conf_map mend_engine_mv_conf_map = {
    .name = "multivariate", .entries = mv, .n = sizeof mv / sizeof mv[0],
    .struct_size = sizeof(struct mend_engine_conf),
};

static const struct mend_conf_entry absence[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = OFF(absence_enabled), .def = "true",
     .help = "raise an event when a series stops reporting"},
    {.key = "factor", .type = MEND_CT_F64, .off = OFF(absence_factor), .min = 1, .max = 1e6,
     .def = "5", .help = "silent for this many usual intervals counts as absent"},
    {.key = "min", .type = MEND_CT_DUR, .off = OFF(absence_min_ns), .min = 0,
     .max = 86400.0 * 365, .def = "1m",
     .help = "and for at least this long (series are checked every half of this, or every "
             "engine.tick if longer)"},
};

const struct mend_conf_map mend_engine_absence_conf_map = {
    .name = "absence", .entries = absence, .n = sizeof absence / sizeof absence[0],
    .struct_size = sizeof(struct mend_engine_conf),
};

static const struct mend_conf_entry tick[] = {
    {.key = "tick", .type = MEND_CT_DUR, .off = OFF(tick_ns), .min = 1e-3, .max = 86400,
     .def = "10s", .help = "event time between absence checks and incident resolution"},
};

const struct mend_conf_map mend_engine_tick_conf_map = {
    .name = "engine", .entries = tick, .n = sizeof tick / sizeof tick[0],
    .struct_size = sizeof(struct mend_engine_conf),
};
