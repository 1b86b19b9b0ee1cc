/* cli.h -- entry points of the mend sub-commands (one cmd_*.c file each).
 * Each takes argv with argv[0] = the command name and returns an exit code. */
#ifndef MEND_CLI_H
#define MEND_CLI_H

#define MEND_VERSION "0.1.0"

enum {
    MEND_EXIT_OK = 0,
    MEND_EXIT_RUNTIME = 1, /* I/O failure, bad checkpoint, ... */
    MEND_EXIT_USAGE = 2,   /* bad option or configuration */
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
int mend_cmd_check_rules(int argc, char **argv);
int mend_cmd_approve(int argc, char **argv);
int mend_cmd_report(int argc, char **argv);

#endif
