/* cmd_replay.c -- `mend replay`: the run pipeline over recorded input, as
 * fast as the machine allows, its inputs merged by event time. Event time
 * only, so two replays of the same input write byte-identical incidents. */
#include <stdio.h>

#include "cli.h"
#include "pipeline.h"

static void help(FILE *f)
{
    fprintf(f, "usage: mend replay [OPTIONS] INPUT...\n\n"
               "Runs the detection pipeline over recorded input (files, or - for stdin) as fast\n"
               "as possible and writes incidents as JSON lines (stdout by default). Time is the\n"
               "samples' own timestamps, never the clock: two replays of the same input give\n"
               "byte-identical output, and a replay resumed from --checkpoint continues exactly\n"
               "where the first one stopped. Samples without a timestamp take the newest time\n"
               "seen so far. Several inputs are merged by event time (equal times: in the order\n"
               "given), so a recording split into one file per host replays like the whole.\n\n"
               "  --table             after the run, print a readable table of the incidents\n");
    pipeline_help_common(f);
}

int mend_cmd_replay(int argc, char **argv)
{
    struct pipeline_opts po;
    static struct mend_config cfg; /* large (paths, listeners): keep off the stack */
    int rc = pipeline_parse_args(argc, argv, "replay", help, &po, &cfg);
    if (rc >= 0)
        return rc;
    if (po.n_inputs == 0) {
        fprintf(stderr, "mend replay: no input given (a file, or - for stdin); see mend replay --help\n");
        return MEND_EXIT_USAGE;
    }
    return pipeline_run(&po, &cfg);
}
