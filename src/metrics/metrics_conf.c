/* metrics_conf.c -- the metrics.* options (struct mend_metrics_conf): where
 * /metrics and /healthz are served and the caps of that small server. */
#include "mend/confmap.h"
#include "mend/metrics.h"

#include <stddef.h>

#define OFF(f) offsetof(struct mend_metrics_conf, f)

static const struct mend_conf_entry entries[] = {
    {.key = "listen", .type = MEND_CT_STR, .off = OFF(listen),
     .size = sizeof(((struct mend_metrics_conf *)0)->listen), .def = "",
     .help = "serve /metrics (Prometheus text format) and /healthz on HOST:PORT in `mend run`, "
             "e.g. 127.0.0.1:9108; empty = no server"},
    {.key = "max_conns", .type = MEND_CT_U32, .off = OFF(max_conns), .min = 1, .max = 4096,
     .def = "16", .help = "HTTP connections at once; more are closed at once and counted"},
    {.key = "max_request", .type = MEND_CT_SIZE, .off = OFF(max_request), .min = 64, .max = 1 << 20,
     .def = "8192", .help = "largest HTTP request head in bytes (else 431)"},
    {.key = "timeout", .type = MEND_CT_DUR, .off = OFF(timeout_ns), .min = 1e-3, .max = 3600,
     .def = "5s", .help = "time for a whole HTTP exchange before the connection is closed"},
};

const struct mend_conf_map mend_metrics_conf_map = {
    .name = "metrics", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_metrics_conf),
};
