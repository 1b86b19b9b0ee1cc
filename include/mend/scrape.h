/* scrape.h -- `mend run` scrapes Prometheus targets itself: the "scrape"
 * input kind (src/input/in_scrape.c) and the `scrape:` config section.
 *
 * Targets are a static list (scrape.targets: url, interval, timeout, job,
 * labels) and/or a file of targets in Prometheus's file_sd format (YAML or
 * JSON: a list of {targets: [HOST:PORT...], labels: {NAME: VALUE...}}),
 * re-read when it changes (checked every scrape.file_check; a file that does
 * not parse is reported and the targets already known are kept, as
 * Prometheus does).
 *
 * HTTP is libcurl's multi interface driven by mend's event loop (its
 * sockets are loop fds, its timeouts loop timers): nothing blocks ingest,
 * connections are kept alive between scrapes, gzip is accepted, TLS is
 * verified unless tls_insecure. Each scrape:
 *   - is stamped with its start time (wall clock): samples without their
 *     own timestamp get it;
 *   - gets `job` and `instance` (the target's HOST:PORT) labels and the
 *     target's extra labels, as Prometheus adds them; a label the target
 *     itself exposes under one of those names is kept as exported_NAME;
 *   - is refused whole (counted, reported) when its body passes
 *     body_limit bytes (after decompression), it has more than
 *     sample_limit samples, or a sample more than label_limit labels.
 * The body is Prometheus text whatever input.format says. Counters (the
 * TYPE lines) become rates in the engine (engine.h). */
#ifndef MEND_SCRAPE_H
#define MEND_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "mend/confmap.h"
#include "mend/input.h"

#define MEND_SCRAPE_MAX_TARGETS 64     /* static targets in the config */
#define MEND_SCRAPE_MAX_FILE_TARGETS 4096 /* targets from the file */
#define MEND_SCRAPE_MAX_LABELS 8       /* extra labels per target */
#define MEND_SCRAPE_URL_MAX 256
#define MEND_SCRAPE_JOB_MAX 64

struct mend_scrape_target {
    char url[MEND_SCRAPE_URL_MAX];    /* http:// or https:// */
    int64_t interval_ns;              /* 0 = scrape.interval */
    int64_t timeout_ns;               /* 0 = scrape.timeout */
    char job[MEND_SCRAPE_JOB_MAX];    /* "" = scrape.job */
    struct mend_conf_pair labels[MEND_SCRAPE_MAX_LABELS];
    size_t n_labels;
};

struct mend_scrape_conf {
    struct mend_scrape_target targets[MEND_SCRAPE_MAX_TARGETS];
    size_t n_targets;
    char file[1024];                  /* file_sd targets; "" = none */
    int64_t file_check_ns;            /* how often the file is checked for changes, default 5 s */
    char scheme[8];                   /* for file targets: http (default) or https */
    char metrics_path[128];           /* for file targets: default /metrics */
    int64_t interval_ns;              /* default 15 s */
    int64_t timeout_ns;               /* default 10 s, at most the interval */
    char job[MEND_SCRAPE_JOB_MAX];    /* default "scrape" */
    size_t body_limit;                /* bytes after decompression, default 16 MiB */
    uint32_t sample_limit;            /* samples per scrape, default 100000 */
    uint32_t label_limit;             /* labels per sample (ours included), default 64 */
    int tls_insecure;                 /* default 0: certificates are verified */
    char ca_file[1024];               /* "" = the system's */
};

void mend_scrape_conf_defaults(struct mend_scrape_conf *c);
/* 1 when c names any target (a static one or a file). */
int mend_scrape_configured(const struct mend_scrape_conf *c);

/* The `scrape:` section over struct mend_scrape_conf. */
extern const struct mend_conf_map mend_scrape_conf_map;

/* Adds one "scrape" input to the live set s that scrapes every target of c
 * (c is borrowed: it must outlive the set). Registers the kind (call it
 * once per set). Returns 0, MEND_EINVAL (a bad URL or file, merge mode: err says
 * which), MEND_ENOMEM or MEND_EIO (libcurl could not start). */
int mend_scrape_add(struct mend_inputs *s, const struct mend_scrape_conf *c, char *err, size_t errlen);

/* Prometheus's instance label for a URL: "HOST:PORT" (the scheme's port
 * when the URL has none; an IPv6 host keeps its brackets). Returns 0 or
 * MEND_EINVAL when url is not http(s)://HOST... */
int mend_scrape_instance(const char *url, char *out, size_t outlen);

#endif
