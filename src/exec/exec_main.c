/* exec_main.c -- the mend-exec program: `mend-exec --config ALLOWLIST.yaml`
 * (see exec.h). Exits 0 on SIGTERM/SIGINT after the running actions end,
 * 2 on a bad allowlist (every error as file:line:col), 1 when Redis cannot
 * be reached at start. --check only validates the allowlist. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mend/exec.h"

static volatile int stop_flag; /* the one process-wide flag a signal handler may touch */

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void print_err(void *ctx, const char *file, uint32_t line, uint32_t col, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s:%u:%u: %s\n", file, line, col, msg);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int check = 0, unsafe = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "--unsafe-control") && i + 1 < argc) {
            /* test-only negative controls, so the exactly-once test can show it can fail */
            const char *m = argv[++i];
            unsafe = !strcmp(m, "ack-first") ? 1 : !strcmp(m, "no-idem") ? 2 : !strcmp(m, "stall-before-go") ? 3 : -1;
            if (unsafe < 0) {
                fprintf(stderr, "mend-exec: --unsafe-control ack-first|no-idem|stall-before-go\n");
                return 2;
            }
        } else {
            fprintf(stdout, "usage: mend-exec --config ALLOWLIST.yaml [--check]\n"
                            "Runs signed actions from the Redis stream mend:actions (consumer group\n"
                            "mend-exec) with fork+execve from the allowlist; results to mend:results.\n");
            return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (!path) {
        fprintf(stderr, "mend-exec: --config ALLOWLIST.yaml is required\n");
        return 2;
    }
    struct mend_act_errs errs = {print_err, NULL};
    struct mend_exec_conf *c;
    if (mend_exec_conf_load(path, &errs, &c) != MEND_OK)
        return 2;
    struct mend_verifier *v;
    if (mend_verifier_new(&v) != MEND_OK) {
        mend_exec_conf_free(c);
        return 1;
    }
    int bad = 0;
    for (uint32_t i = 0; i < c->n_keys; i++)
        if (mend_verifier_add(v, c->key_ids[i], c->key_paths[i]) != MEND_OK) {
            fprintf(stderr, "%s: key %s: cannot read an Ed25519 public key from %s\n", path, c->key_ids[i],
                    c->key_paths[i]);
            bad = 1;
        }
    if (bad || check) {
        if (!bad)
            printf("%u actions, %u keys OK\n", c->n_actions, c->n_keys);
        mend_verifier_free(v);
        mend_exec_conf_free(c);
        return bad ? 2 : 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = mend_exec_run(c, v, unsafe, &stop_flag);
    mend_verifier_free(v);
    mend_exec_conf_free(c);
    return rc == MEND_OK ? 0 : 1;
}
