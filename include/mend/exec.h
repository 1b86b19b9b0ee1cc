/* exec.h -- mend-exec, the executor (src/exec/): reads signed actions from
 * the Redis stream mend:actions in consumer group mend-exec, checks each
 * against its own allowlist, and runs it with fork + execve (never a
 * shell), so that its effect happens once.
 *
 * The allowlist (YAML, the executor's own file) maps an action name to a
 * fixed argv template with typed parameter slots "{name}"; a parameter is
 * an enum (values), an int (min..max), a pattern (POSIX extended regex,
 * matched whole) or a string (max_len, no NUL/newline). Values are put into
 * argv as literal bytes: no shell ever sees them.
 *
 * Exactly once. Before running, SET mend:idem:<id> "claimed:<consumer>" NX;
 * the child is forked but waits on a pipe; the key becomes
 * "started:<host>:<pid>" and only then is the child let go to execve. When
 * the child ends, one MULTI sets the key to "done:<status>", appends the
 * result to mend:results and XACKs the entry. After a crash, a re-delivered
 * entry finds: "claimed" (the child never ran: run it), "started" (it ran
 * or runs: wait for that pid to be gone, then report, never run again),
 * "done" (report and ack). A child whose executor died before letting it
 * go reads the key itself and runs only if it says "started" with its own
 * pid -- so whichever way the executor's last SET went, the action runs
 * once: not at all by this child if the key stayed "claimed" (the next
 * executor runs it), or by this child alone if it says "started". Children are in their own process group and
 * outlive an executor that dies, so a restart never cuts a remediation in
 * half; they still carry alarm(timeout) as a backstop.
 *
 * Such an orphan asks Redis for at most orphan_wait. When Redis never
 * answers, it does not run, and says so in the executor's journal (below),
 * so the next executor runs the action instead of reporting "unknown"; an
 * orphan that ran records its exit status there, which the next executor
 * reports (Redis may be down when the orphan ends). */
#ifndef MEND_EXEC_H
#define MEND_EXEC_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "mend/act.h"

#define MEND_EXEC_MAX_ARGV 32
#define MEND_EXEC_MAX_ACTIONS 64
#define MEND_EXEC_MAX_ENUM 16

enum mend_exec_ptype { MEND_EXEC_P_STRING, MEND_EXEC_P_INT, MEND_EXEC_P_ENUM, MEND_EXEC_P_PATTERN };

struct mend_exec_param {
    char name[MEND_ACT_NAME];
    enum mend_exec_ptype type;
    int64_t min, max;                           /* int */
    char values[MEND_EXEC_MAX_ENUM][MEND_ACT_NAME]; /* enum */
    uint32_t n_values;
    char pattern[MEND_ACT_VALUE];               /* pattern */
    regex_t re;
    int has_re;
    uint32_t max_len;                           /* string, default 256 */
};

struct mend_exec_action {
    char name[MEND_ACT_NAME];
    char argv[MEND_EXEC_MAX_ARGV][MEND_ACT_VALUE];
    uint32_t n_argv;
    int64_t timeout_ns;                         /* default 30 s */
    struct mend_exec_param params[MEND_ACT_MAX_PARAMS];
    uint32_t n_params;
};

struct mend_exec_conf {
    char redis[256], user[64], password[128], prefix[32], group[64], consumer[64];
    char key_ids[MEND_VERIFY_MAX_KEYS][64], key_paths[MEND_VERIFY_MAX_KEYS][1024];
    uint32_t n_keys;
    uint32_t max_concurrent;   /* default 4 */
    uint32_t max_deliveries;   /* then mend:dlq; default 5 */
    uint32_t batch;            /* entries read at once; default 16 */
    uint32_t output_tail;      /* bytes of output kept; default 1024 */
    int64_t reap_every_ns;     /* XAUTOCLAIM period; default 1 s */
    int64_t reap_idle_ns;      /* 0 = longest action timeout + 5 s */
    char journal[512];         /* orphan journal directory; "" = none (an orphan
                                  that cannot reach Redis leaves "unknown") */
    int64_t orphan_wait_ns;    /* how long an orphan tries Redis; default 20 s */
    struct mend_exec_action actions[MEND_EXEC_MAX_ACTIONS];
    uint32_t n_actions;
};

/* Reads the allowlist file; every error goes to errs as file:line:col.
 * Returns 0, MEND_EINVAL/MEND_EPARSE (reported), MEND_EIO, MEND_ENOMEM.
 * Free with mend_exec_conf_free (frees compiled patterns). */
int mend_exec_conf_load(const char *path, const struct mend_act_errs *errs, struct mend_exec_conf **res);
void mend_exec_conf_free(struct mend_exec_conf *c);

/* A checked action, ready to run. */
struct mend_exec_job {
    char id[33];
    char rule[MEND_ACT_NAME], action[MEND_ACT_NAME], target[MEND_ACT_TARGET], incident[24];
    uint64_t epoch;
    /* a partition's fence (`mend cluster`): its name ("" = none, the global
     * epoch applies) and the lease epoch the action was emitted under */
    char fence[24];
    uint64_t fence_epoch;
    const struct mend_exec_action *spec;
    char argv[MEND_EXEC_MAX_ARGV][MEND_ACT_VALUE * 2];
    uint32_t n_argv;
};

/* Checks one stream entry (n field/value pairs as received, sig among
 * them): version, fields, signature and key id, TTL against now_ms, epoch
 * against *max_epoch (raised when newer; a fenced action -- fence and
 * fence_epoch fields -- is judged against its fence's epoch by the caller
 * instead, job->fence), allowlist and parameter types;
 * builds argv. Returns 0, or MEND_EINVAL with the reason in why (and what
 * fields could be read in job, for the result). */
int mend_exec_check(const struct mend_exec_conf *c, struct mend_verifier *v, const char *const *fields,
                    const char *const *values, size_t n, int64_t now_ms, uint64_t *max_epoch,
                    struct mend_exec_job *job, char *why, size_t whylen);

/* What a child does when its executor dies before the go. Both hooks run
 * in the child, after every inherited descriptor is closed. may_run: 1 =
 * run the program, 0 = exit 125 without running (the record says someone
 * else), < 0 = exit 125 without running, and no one could be asked.
 * ended (may be NULL): what became of it -- ran 0 (may_run < 0), or ran 1
 * with the program's wait status. An orphan that runs has no reader for
 * its output (it goes to /dev/null) and forks the program, waiting for it
 * so that ended hears how it ended. */
struct mend_exec_orphan {
    int (*may_run)(void *ctx);
    void (*ended)(void *ctx, int ran, int wstatus);
    void *ctx;
};

/* fork + execve of job->argv with a clean environment (PATH, LANG=C,
 * MEND_ACTION_ID), stdin /dev/null, stdout+stderr to *out_fd, every other
 * fd closed, its own process group, alarm(timeout) as a backstop. The child
 * waits until mend_exec_go() is called. If the go pipe closes first (the
 * executor died), the child follows orphan (NULL: exit 125 without
 * running). orphan is borrowed for the call (the child has its copy).
 * Returns 0 with *pid, *out_fd (non-blocking) and *go_fd, or MEND_EIO. */
int mend_exec_spawn(const struct mend_exec_job *job, int64_t timeout_ns, const struct mend_exec_orphan *orphan,
                    int *pid, int *out_fd, int *go_fd);

/* ---- the orphan journal ---------------------------------------------------- */

/* One file DIR/<action id>.<pid> per orphan that could not tell Redis what
 * became of its action, written to a temporary name, fsync'd and renamed
 * (whole or absent), one line:
 *   "mend-orphan v1 ran=<0|1> exit=<code> signal=<n> finished_ms=<ms>\n".
 * The next executor that meets the entry with its key still saying
 * "started:<host>:<pid>" and that pid gone reads it: ran=0 -> the action
 * never ran, so it runs it now (still once); ran=1 -> it reports the exit
 * status instead of "unknown". Records are removed once reported; open
 * sweeps ones older than the idempotency key's 7 days. */
struct mend_exec_orphan_rec {
    int ran, exit_code, sig;
    int64_t finished_ms;
};
/* Returns 0, MEND_EINVAL (no dir, an id not hex, pid <= 0), MEND_EIO. */
int mend_exec_journal_put(const char *dir, const char *id, int pid, const struct mend_exec_orphan_rec *rec);
/* Returns 0, MEND_ENOTFOUND, MEND_ECORRUPT (not a whole record), MEND_EIO. */
int mend_exec_journal_get(const char *dir, const char *id, int pid, struct mend_exec_orphan_rec *rec);
int mend_exec_journal_del(const char *dir, const char *id, int pid);
/* Creates dir if needed and sweeps stale files. 0, MEND_EINVAL, MEND_EIO (err says why). */
int mend_exec_journal_open(const char *dir, char *err, size_t errlen);
/* Lets the child execve; closes go_fd. Returns 0 or MEND_EIO. */
int mend_exec_go(int go_fd);

/* The consumer loop; stops when *stop becomes non-zero. unsafe is a test
 * switch for the negative controls: 0 normal, 1 "ack-first" (XACK on
 * receipt), 2 "no-idem" (no idempotency key), 3 "stall-before-go" (stops
 * for good right after recording "started", before letting the child go:
 * the point where a test kills it to make an orphan). Returns 0 or
 * MEND_EIO when Redis cannot be reached at start (or the journal cannot
 * be opened). */
int mend_exec_run(const struct mend_exec_conf *c, struct mend_verifier *v, int unsafe, volatile int *stop);

#endif
