/* main.c -- the `mend` command dispatcher. Each command lives in its own
 * cmd_*.c file; this file only picks one and owns the process-wide settings. */
#include "cli.h"

#include <gsl/gsl_errno.h>
#include <libsvm/svm.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", mend_cmd_run, "the daemon: listen, detect, write incidents"},
    {"replay", mend_cmd_replay, "the same pipeline over recorded input, as fast as possible"},
    {"score", mend_cmd_score, "score a univariate timestamp,value CSV (stdin -> stdout)"},
    {"train", mend_cmd_train, "train a one-class SVM model of one entity into models/NAME"},
    {"eval", mend_cmd_eval, "score detections against labels (NAB windows, P/R/F1, delay)"},
    {"templates", mend_cmd_templates, "mine log templates: one message per line -> ID<TAB>TEMPLATE"},
    {"localise", mend_cmd_localise, "rank the suspects of an incident window (offline)"},
    {"cluster", mend_cmd_cluster, "one engine of a fleet sharing a JetStream stream's partitions"},
    {"check-rules", mend_cmd_check_rules, "validate remediation rules (file:line:col: reason)"},
    {"approve", mend_cmd_approve, "approve remediation actions waiting for an operator"},
    {"report", mend_cmd_report, "reliability per entity (MTTR, MTBF, availability) from the audit log"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mend COMMAND [OPTIONS] [ARGS]\n\n"
               "Streaming anomaly detection over metrics (line protocol, Prometheus text, CSV).\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version (also: mend --version)");
    fprintf(f, "  %-10s %s\n", "help", "this text; 'mend help COMMAND' explains COMMAND");
    fprintf(f, "\n'mend COMMAND --help' (or 'mend help COMMAND') explains each command's options.\n"
               "exit codes, the same in every command:\n"
               "  0  ok\n"
               "  1  runtime error: I/O failure while running, a checkpoint that cannot be\n"
               "     written or restored\n"
               "  2  usage or configuration error, or an input file that cannot be opened\n"
               "  3  input had malformed lines and --strict was given\n");
}

/* libsvm prints its solver's progress to stdout, where mend writes data. */
static void svm_quiet(const char *s)
{
    (void)s;
}

int main(int argc, char **argv)
{
    gsl_set_error_handler_off(); /* GSL aborts by default; we check return codes */
    svm_set_print_string_function(svm_quiet); /* once, before any thread trains */
    if (argc < 2) {
        usage(stderr);
        return MEND_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "help") && argc > 2) {
        /* mend help CMD == mend CMD --help */
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            if (!strcmp(argv[2], commands[i].name)) {
                char *hargv[] = {argv[2], "--help", NULL};
                return commands[i].fn(2, hargv);
            }
        }
        fprintf(stderr, "mend help: unknown command '%s'\n\n", argv[2]);
        usage(stderr);
        return MEND_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("mend %s\n", MEND_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "mend: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return MEND_EXIT_USAGE;
}
