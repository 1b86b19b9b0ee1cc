/* pipeline.h -- what `mend replay` and `mend run` share: option parsing,
 * inputs (merged by event time in replay) -> engine -> incident and score writers,
 * rate-limited error reports, checkpoints and progress. */
#ifndef MEND_CLI_PIPELINE_H
#define MEND_CLI_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "mend/config.h"
#include "mend/engine.h"
#include "mend/ingest.h"
#include "mend/input.h"
#include "mend/loop.h"

struct pipeline_opts {
    const char *config_path;
    const char *incidents_path;  /* overrides incidents.output */
    const char *scores_path;     /* per-sample scores CSV, NULL = none */
    const char *checkpoint_path; /* overrides checkpoint.path */
    int strict;                  /* exit 3 when any line was malformed */
    int quiet;                   /* no summary on stderr */
    int progress;                /* -1 auto (stderr is a terminal), 0 off, 1 on */
    int table;                   /* print an incident table at the end */
    int live;                    /* run: stamp untimed points with the clock */
    int discard_checkpoint;      /* --discard-checkpoint: never restore, start fresh */
    char **inputs;
    int n_inputs;
    const char *remediation_path; /* --remediation FILE: rules -> actions (src/act) */
};

/* remediation.c: reads a file with a `remediation:` section; opens the
 * stage (prints why not and returns an exit code other than 0). */
struct mend_act;
struct mend_remediation_conf;
int pipeline_remediation_conf(const char *path, struct mend_remediation_conf *c, char *err, size_t errlen);
struct mend_remediation_conf;
int pipeline_remediation_open(const char *path, const struct mend_remediation_conf *cfg, int replay,
                              struct mend_act **res);

/* Parses the options common to replay and run into po and cfg (defaults,
 * then --config, then --set in order). Returns -1 to go on, or an exit code
 * (help printed, or a usage error reported). */
int pipeline_parse_args(int argc, char **argv, const char *cmd, void (*help)(FILE *),
                        struct pipeline_opts *po, struct mend_config *cfg);

/* Runs the pipeline until every finite input is done (replay) or a
 * termination signal arrives (run). Returns an exit code. */
int pipeline_run(const struct pipeline_opts *po, struct mend_config *cfg);

/* The options text shared by both commands' --help. */
void pipeline_help_common(FILE *f);

#endif
