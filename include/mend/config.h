/* config.h -- mend's configuration: one YAML file (libyaml), every option
 * with a default so mend runs with no file at all.
 *
 * The file is a mapping of sections to mappings of options:
 *
 *   input:      { listen: [tcp://127.0.0.1:8094], format: lp, entity_tag: host }
 *   detect:     { threshold: 0.5 }
 *   incidents:  { output: /var/log/mend/incidents.jsonl, resolve_after: 10m }
 *
 * Every option is declared once, in a config map (confmap.h): each module
 * has its own (series, detect, multivariate, absence, engine, incidents) and
 * config.c adds the program's (input, incidents.output, checkpoint) and
 * places them under their sections. Options are set by dotted key
 * ("section.key", deeper for nested maps and lists: see confmap.h); values
 * are read, validated and range-checked before they are assigned, and an
 * error names file:line:col and the key with what is accepted. */
#ifndef MEND_CONFIG_H
#define MEND_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mend/cluster.h"
#include "mend/engine.h"
#include "mend/ingest.h"
#include "mend/scrape.h"
#include "mend/metrics.h"
#include "mend/logsig.h"
#include "mend/act.h"

#define MEND_CONFIG_MAX_LISTEN 16
#define MEND_CONFIG_PATH_MAX 1024

/* The `logs:` section: the log signals' conf and the strings its JSON field
 * lists point into. */
struct mend_logs_config {
    struct mend_logsig_conf sig;
    char json_message[128], json_level[128], json_time[128], json_entity[128];
};
extern const struct mend_conf_map mend_logs_conf_map;

struct mend_config {
    struct mend_engine_conf engine;
    struct mend_ingest_opts ingest;
    char entity_tag[128];                     /* storage behind ingest.entity_tag */
    char listen[MEND_CONFIG_MAX_LISTEN][256]; /* input.listen */
    size_t n_listen;
    char format[8];                           /* "" = from extension/content */
    char incidents_output[MEND_CONFIG_PATH_MAX]; /* "-" = stdout */
    char checkpoint_path[MEND_CONFIG_PATH_MAX];  /* "" = no checkpoints */
    int64_t checkpoint_interval_ns;           /* event time between checkpoints */
    uint32_t error_log_limit;                 /* malformed-line messages per
                                                 source before they are only counted */
    uint32_t max_conns;                       /* TCP connections per listener */
    int64_t idle_timeout_ns;                  /* close a TCP connection silent this long; 0 = never */
    int64_t accept_pause_ns;                  /* stop accepting this long when out of fds */
    struct mend_scrape_conf scrape;           /* scrape.*: Prometheus targets of `mend run` */
    struct mend_remediation_conf remediation; /* remediation.*: rules, Redis, signing (act.h) */
    struct mend_logs_config logs;             /* logs.*: log formats as signals, template miner */
    struct mend_metrics_conf metrics;         /* metrics.*: /metrics and /healthz (run) */
    struct mend_cluster_conf cluster;         /* cluster.* (mend cluster) */
};

void mend_config_defaults(struct mend_config *c);

/* The whole configuration's map (sections as nested maps), over struct
 * mend_config; static storage. */
struct mend_conf_map;
const struct mend_conf_map *mend_config_map(void);

/* Sets "section.key" from text; err names the key and what is accepted.
 * Returns 0, MEND_EINVAL (unknown key, bad value; c unchanged) or MEND_ECAP
 * (a list is full). input.max_key is also handed to series.max_key. */
int mend_config_set(struct mend_config *c, const char *key, const char *value, char *err,
                    size_t errlen);

/* Reads a YAML file over the current values. On error, err starts with
 * "path:line:col:" and c may hold some of the file's values. */
int mend_config_load(struct mend_config *c, const char *path, char *err, size_t errlen);

/* Same, from memory (name is used in messages). */
int mend_config_load_buf(struct mend_config *c, const char *name, const char *buf, size_t len,
                         char *err, size_t errlen);

/* Parses a duration: "250ms", "10s", "5m", "2h", "1d"; a unit is required
 * (a bare number other than 0 is MEND_EINVAL) (mend_conf_parse_duration;
 * locale-free). */
int mend_parse_duration(const char *s, int64_t *ns);


/* Prints every option (detect.* too) with its default, taken from
 * mend_config_defaults so the text cannot drift, and its help. */
void mend_config_print_docs(FILE *f);

#endif
