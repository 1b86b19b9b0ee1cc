/* cmd_run.c -- `mend run`: the daemon. Listens on the configured TCP/UDP
 * endpoints (and reads any files or - given), detects, writes incidents,
 * checkpoints on the interval and on SIGTERM/SIGINT, then exits 0. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pipeline.h"

static void help(FILE *f)
{
    fprintf(f, "usage: mend run [OPTIONS] [INPUT...]\n\n"
               "The daemon: listens on input.listen (line protocol over TCP or UDP), reads any\n"
               "INPUT files or - (stdin) too, and writes incidents as JSON lines. Samples without\n"
               "a timestamp are stamped with the clock on arrival. While live input is silent,\n"
               "the clock moves event time on so that series that stop reporting are noticed.\n"
               "SIGTERM or SIGINT: flush, write the checkpoint (if configured), exit 0 (1 when\n"
               "that last checkpoint fails). SIGHUP: reopen the output files (after logrotate)\n"
               "and re-read what can change without a restart; never stops the daemon.\n"
               "With metrics.listen (e.g. --set metrics.listen=127.0.0.1:9108), serves /metrics\n"
               "(Prometheus text format) and /healthz over HTTP.\n"
               "Nothing is opened for writing until the command line, the configuration, the\n"
               "checkpoint (path writable, contents usable) and the inputs were checked; a\n"
               "checkpoint path that cannot be written stops the start with exit 1.\n"
               "An INPUT may also be a syslog listener: syslog+tcp://HOST:PORT (RFC 6587\n"
               "octet counting or newline framing, told per connection) or syslog+udp://HOST:PORT.\n\n"
               "  --listen URL        add a listener (tcp://HOST:PORT or udp://HOST:PORT),\n"
               "                      repeatable, after those of input.listen\n");
    pipeline_help_common(f);
}

int mend_cmd_run(int argc, char **argv)
{
    struct pipeline_opts po;
    static struct mend_config cfg; /* large (paths, listeners): keep off the stack */
    const char *listen[MEND_CONFIG_MAX_LISTEN];
    int n_listen = 0, n = 0;
    /* --listen is run's own option: take it out before the shared parsing */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            if (n_listen == MEND_CONFIG_MAX_LISTEN) {
                fprintf(stderr, "mend run: at most %d listeners\n", MEND_CONFIG_MAX_LISTEN);
                return MEND_EXIT_USAGE;
            }
            listen[n_listen++] = argv[++i];
            continue;
        }
        argv[n++] = argv[i];
    }
    int rc = pipeline_parse_args(n, argv, "run", help, &po, &cfg);
    if (rc >= 0)
        return rc;
    char err[512];
    for (int i = 0; i < n_listen; i++)
        if (mend_config_set(&cfg, "input.listen", listen[i], err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend run: --listen %s\n", err);
            return MEND_EXIT_USAGE;
        }
    if (cfg.n_listen == 0 && po.n_inputs == 0 && !mend_scrape_configured(&cfg.scrape)) {
        fprintf(stderr, "mend run: nothing to read: give --listen tcp://HOST:PORT, input.listen or scrape\n"
                        "targets in the configuration, or input files / - for stdin; see mend run --help\n");
        return MEND_EXIT_USAGE;
    }
    po.live = 1;
    return pipeline_run(&po, &cfg);
}
