/* mvgauss_conf.c -- the multivariate Gaussian's options, as a config map
 * over struct mend_mvg_conf (confmap.h); they appear under `multivariate.`
 * next to the engine's own switches (engine_conf.c inlines this map). */
#include "mend/confmap.h"
#include "mend/mvgauss.h"

#include <stddef.h>

#define OFF(f) offsetof(struct mend_mvg_conf, f)

static const struct mend_conf_name changes_names[] = {
    {"levels", 0}, {"changes", 1}, {"gated", 2}, {NULL, 0}};

static const struct mend_conf_entry entries[] = {
    {.key = "max_dim", .type = MEND_CT_SIZE, .off = OFF(max_dim), .min = 2, .max = 256,
     .def = "64", .help = "series per entity in the model (later ones stay out)"},
    {.key = "half_life", .type = MEND_CT_F64, .off = OFF(half_life), .min = 2, .max = 1e9,
     .def = "1000", .help = "rows after which an old row's weight halves"},
    {.key = "warmup", .type = MEND_CT_U64, .off = OFF(warmup), .min = 2, .max = 1e9, .def = "100",
     .help = "rows learnt before scoring"},
    {.key = "refit_every", .type = MEND_CT_U32, .off = OFF(refit_every), .min = 1, .max = 1e6,
     .def = "32", .help = "rows between refits of the Cholesky factor"},
    {.key = "shrinkage", .type = MEND_CT_F64, .off = OFF(shrinkage), .min = -1, .max = 1,
     .def = "-1",
     .help = "covariance shrinkage toward the diagonal in [0,1]; -1 = estimate from the data"},
    {.key = "changes", .type = MEND_CT_ENUM, .off = OFF(changes), .size = 4, .names = changes_names,
     .def = "gated",
     .help = "what the model judges: levels (rows as they are), changes (each member's step), or gated "
             "(an event needs both: a wandering level alone is none)"},
};

const struct mend_conf_map mend_mvg_conf_map = {
    .name = "multivariate", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_mvg_conf),
};
