/* series_conf.c -- the series registry's options (`series.*`), as a config
 * map over struct mend_series_conf (confmap.h). max_key is not here: it
 * follows input.max_key, so the registry accepts exactly the keys the
 * parsers build. */
#include "mend/confmap.h"
#include "mend/series.h"

#include <stddef.h>

#define OFF(f) offsetof(struct mend_series_conf, f)

static const struct mend_conf_entry entries[] = {
    {.key = "max_series", .type = MEND_CT_U32, .off = OFF(max_series), .min = 1, .max = 1e8,
     .def = "1000000", .help = "live series cap; new series beyond it are refused and counted"},
    {.key = "ring", .type = MEND_CT_U32, .off = OFF(ring_cap), .min = 2, .max = 65536,
     .def = "512", .help = "recent values kept per series (for localisation)"},
    {.key = "max_entities", .type = MEND_CT_U32, .off = OFF(max_entities), .min = 1, .max = 1e8,
     .def = "100000", .help = "entity cap"},
    {.key = "idle_evict", .type = MEND_CT_DUR, .off = OFF(idle_evict_ns), .min = 0,
     .max = 86400.0 * 3660, .def = "1d",
     .help = "a series silent this long (event time) is evicted, its id reused (churning labels "
             "do not fill the cap for good); 0 = never"},
};

const struct mend_conf_map mend_series_conf_map = {
    .name = "series", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_series_conf),
};
