/* cli.h -- entry points of the mend sub-commands (one cmd_*.c file each).
 * Each takes argv with argv[0] = the command name and returns an exit code. */
#ifndef MEND_CLI_H
#define MEND_CLI_H

#define MEND_VERSION "0.1.0"

enum {
    MEND_EXIT_OK = 0,
    MEND_EXIT_RUNTIME = 1, /* I/O failure, bad checkpoint, ... */
    MEND_EXIT_USAGE = 2,   /* bad option or configuration, or an input file
                              given on the command line that cannot be opened */
    MEND_EXIT_BADINPUT = 3 /* input had malformed lines and --strict was given */
};

int mend_cmd_run(int argc, char **argv);
int mend_cmd_replay(int argc, char **argv);
int mend_cmd_score(int argc, char **argv);
int mend_cmd_eval(int argc, char **argv);
int mend_cmd_templates(int argc, char **argv);
int mend_cmd_score_train(int argc, char **argv); /* `mend score --train` */
int mend_cmd_train(int argc, char **argv);
int mend_cmd_localise(int argc, char **argv);
int mend_cmd_cluster(int argc, char **argv);
/* The running `mend cluster` engine's figures (mend/cluster.h), for /metrics:
 * run is the handle cmd_cluster.c passes around (struct mend_cluster_run);
 * call from the loop thread. */
struct mend_cluster_run;
struct mend_cluster_stats;
void mend_cluster_run_stats(const struct mend_cluster_run *run, struct mend_cluster_stats *out);
int mend_cmd_check_rules(int argc, char **argv);
int mend_cmd_approve(int argc, char **argv);
int mend_cmd_report(int argc, char **argv);

#endif
