/* cmd_rules.c -- `mend check-rules FILE...`: reads every rules file and
 * prints each problem as file:line:col: reason; exit 0 when all are valid,
 * 2 when any is not. The engine refuses to start on the same errors. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mend/act.h"

static void print_err(void *ctx, const char *file, uint32_t line, uint32_t col, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s\n", file, line, col, msg);
}

int mend_cmd_check_rules(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: mend check-rules FILE...\n"
                "Validates remediation rules; prints file:line:col: reason per error.\n");
        return argc < 2 ? MEND_EXIT_USAGE : MEND_EXIT_OK;
    }
    struct mend_rules *r;
    if (mend_rules_new(&r) != MEND_OK)
        return MEND_EXIT_RUNTIME;
    struct mend_act_errs errs = {print_err, NULL};
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= mend_rules_load_file(r, argv[i], &errs) != MEND_OK;
    if (!bad)
        printf("%zu rules OK\n", mend_rules_count(r));
    mend_rules_free(r);
    return bad ? MEND_EXIT_USAGE : MEND_EXIT_OK;
}
