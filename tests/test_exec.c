/* test_exec.c -- mend-exec against a real redis-server (started here on a
 * unix socket): forged, unsigned, tampered, unknown-key, expired,
 * stale-epoch, unknown-action and bad-parameter messages are rejected with
 * their reason; shell metacharacters reach the program as literal argv; a
 * timeout kills the process group; and the SIGKILL loop: many kills of
 * mend-exec over many actions leave every action's effect in the ledger
 * exactly once -- while the two negative controls (acknowledge before the
 * effect; no idempotency key) lose or repeat effects, so the check can
 * fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>

#include "mend/act.h"
#include "mend/checkpoint.h"
#include "mend/engine.h"
#include "mend/loop.h"
#include "mend/metrics.h"
#include "mend/output.h"
#include "mend/state.h"
#include "redis_harness.h"

static struct rh h;
static char exec_bin[512];
static struct mend_signer *k1, *other;
static unsigned max_deliveries = 1000; /* the allowlists written next */
static char extra_conf[700];           /* more top-level lines for them */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_allowlist(const char *prefix, const char *consumer)
{
    char p[512];
    snprintf(p, sizeof p, "%s/allow-%s.yaml", h.dir, prefix);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f,
            "redis: %s\nprefix: %s\nconsumer: %s\nmax_concurrent: 2\nbatch: 8\nmax_deliveries: %u\n"
            "reap_every: 100ms\n%skeys:\n  k1: %s/k1.pub\n"
            "actions:\n"
            "  echo:\n    argv: [/usr/bin/printf, '%%s|', '{msg}', '--n={n}']\n    timeout: 5s\n"
            "    params:\n      msg: {type: string, max_len: 200}\n      n: {type: int, min: 1, max: 10}\n"
            "  mode:\n    argv: [/bin/echo, '{m}']\n    params:\n      m: {type: enum, values: [fast, slow]}\n"
            "  svc:\n    argv: [/bin/echo, '{service}']\n    params:\n"
            "      service: {type: pattern, pattern: '[a-z][a-z0-9-]*'}\n"
            "  ledger:\n    argv: [/bin/sh, -c, 'echo \"$1\" >> %s/ledger-%s; sleep 0.02', ledger, '{n}']\n"
            "    timeout: 5s\n    params:\n      n: {type: int, min: 0, max: 100000}\n"
            "  slowledger:\n    argv: [/bin/sh, -c, 'sleep 0.8; echo \"$1\" >> %s/ledger-%s', slowledger, '{n}']\n"
            "    timeout: 5s\n    params:\n      n: {type: int, min: 0, max: 100000}\n"
            "  slow:\n    argv: [/bin/sh, -c, 'sleep 9.87 & sleep 9.87']\n    timeout: 200ms\n"
            "  env:\n    argv: [/usr/bin/env]\n"
            "  fds:\n    argv: [/bin/ls, /proc/self/fd]\n",
            h.addr, prefix, consumer, max_deliveries, extra_conf, h.dir, h.dir, prefix, h.dir, prefix);
    fclose(f);
}

static pid_t start_exec(const char *prefix, const char *unsafe)
{
    char cfg[512], log[512];
    snprintf(cfg, sizeof cfg, "%s/allow-%s.yaml", h.dir, prefix);
    snprintf(log, sizeof log, "%s/exec-%s.log", h.dir, prefix);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        if (unsafe)
            execl(exec_bin, "mend-exec", "--config", cfg, "--unsafe-control", unsafe, (char *)NULL);
        else
            execl(exec_bin, "mend-exec", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_exec(pid_t pid, int sig)
{
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

/* XADDs one message: fields f/v (n), signed by s under kid unless s is
 * NULL; tamper changes the last field's value after signing. Returns the
 * stream id (static storage). */
static const char *send_msg(redisContext *c, const char *prefix, struct mend_signer *s, const char **f, const char **v,
                            size_t n, int tamper)
{
    static char sid[64];
    char canon[8192], sig[129];
    const char *argv[80];
    size_t argc = 0;
    char key[64];
    snprintf(key, sizeof key, "%s:actions", prefix);
    argv[argc++] = "XADD";
    argv[argc++] = key;
    argv[argc++] = "*";
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = f[i];
        argv[argc++] = v[i];
    }
    if (s) {
        size_t cl = mend_sign_canon(f, v, n, canon, sizeof canon);
        assert_true(cl <= sizeof canon);
        assert_int_equal(mend_signer_sign(s, canon, cl, sig), 0);
        argv[argc++] = "sig";
        argv[argc++] = sig;
    }
    if (tamper)
        argv[argc - 3] = "tampered";
    redisReply *r = redisCommandArgv(c, (int)argc, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(sid, sizeof sid, "%s", r->str);
    freeReplyObject(r);
    return sid;
}

struct result {
    char status[32], reason[256], output[1100];
};

/* Waits (up to 5 s) for the result of stream entry sid. */
static int wait_result(redisContext *c, const char *prefix, const char *sid, struct result *res)
{
    for (int t = 0; t < 500; t++) {
        redisReply *r = redisCommand(c, "XRANGE %s:results - +", prefix);
        assert_non_null(r);
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *kv = r->element[i]->element[1];
            int mine = 0;
            memset(res, 0, sizeof *res);
            for (size_t j = 0; j + 1 < kv->elements; j += 2) {
                const char *k = kv->element[j]->str, *v = kv->element[j + 1]->str;
                if (!strcmp(k, "entry") && !strcmp(v, sid))
                    mine = 1;
                else if (!strcmp(k, "status"))
                    snprintf(res->status, sizeof res->status, "%s", v);
                else if (!strcmp(k, "reason"))
                    snprintf(res->reason, sizeof res->reason, "%s", v);
                else if (!strcmp(k, "output"))
                    snprintf(res->output, sizeof res->output, "%s", v);
            }
            if (mine) {
                freeReplyObject(r);
                return 0;
            }
        }
        freeReplyObject(r);
        rh_sleep_ms(10);
    }
    return -1;
}

static void mkid(char *out, unsigned n)
{
    snprintf(out, 33, "%032x", n);
}

/* A well-formed message for action with up to 3 params; fields into f/v. */
struct msg {
    const char *f[24], *v[24];
    size_t n;
    char id[33], created[24], epoch[24];
};

static void msg_init(struct msg *m, unsigned idn, const char *action, int64_t created, uint64_t epoch, const char *kid)
{
    memset(m, 0, sizeof *m);
    mkid(m->id, idn);
    snprintf(m->created, sizeof m->created, "%lld", (long long)created);
    snprintf(m->epoch, sizeof m->epoch, "%llu", (unsigned long long)epoch);
    const char *f[] = {"v", "id", "rule", "action", "target", "incident", "attempt", "created_ms", "ttl_ms", "epoch", "kid"};
    const char *v[] = {"1", m->id, "t", action, "x", "1", "1", m->created, "60000", m->epoch, kid};
    for (size_t i = 0; i < 11; i++) {
        m->f[m->n] = f[i];
        m->v[m->n++] = v[i];
    }
}

static void msg_param(struct msg *m, const char *name, const char *value)
{
    m->f[m->n] = name;
    m->v[m->n++] = value;
}

static int setup(void **state)
{
    (void)state;
    const char *mb = getenv("MEND_BIN");
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", mb && *mb ? mb : "./bin/mend");
    snprintf(exec_bin, sizeof exec_bin, "%s/mend-exec", dirname(tmp));
    if (rh_init(&h, "exec") != 0)
        return -1;
    if (rh_keygen(h.dir, "k1") || rh_keygen(h.dir, "other"))
        return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/k1.key", h.dir);
    if (mend_signer_load(p, "k1", &k1))
        return -1;
    snprintf(p, sizeof p, "%s/other.key", h.dir);
    return mend_signer_load(p, "k1", &other); /* a forger claiming kid k1 */
}

static int teardown(void **state)
{
    (void)state;
    mend_signer_free(k1);
    mend_signer_free(other);
    if (getenv("KEEP"))
        fprintf(stderr, "kept %s\n", h.dir);
    else
        rh_fini(&h);
    return 0;
}

static void expect(redisContext *c, const char *sid, const char *status, const char *reason)
{
    struct result r;
    assert_int_equal(wait_result(c, "r", sid, &r), 0);
    if (strcmp(r.status, status) || !strstr(r.reason, reason))
        fprintf(stderr, "entry %s: got %s (%s), want %s (%s)\n", sid, r.status, r.reason, status, reason);
    assert_string_equal(r.status, status);
    assert_non_null(strstr(r.reason, reason));
}

static void test_rejections_and_literal_argv(void **state)
{
    (void)state;
    write_allowlist("r", "exec-r");
    pid_t ex = start_exec("r", NULL);
    redisContext *c = rh_connect(&h);
    assert_non_null(c);
    struct msg m;
    int64_t now = now_ms();
    unsigned idn = 1000;
    const char *evil = "$(touch PWNED); rm -rf / ; `id` | cat > x && echo \"hi\" 'q' * ~ \\ %s";
    char pwned[512];
    snprintf(pwned, sizeof pwned, "%s/PWNED", h.dir);

    msg_init(&m, idn++, "echo", now, 5, "k1");
    msg_param(&m, "p.msg", evil);
    msg_param(&m, "p.n", "3");
    const char *sid = send_msg(c, "r", k1, m.f, m.v, m.n, 0);
    struct result r;
    assert_int_equal(wait_result(c, "r", sid, &r), 0);
    assert_string_equal(r.status, "ok");
    char want[400];
    snprintf(want, sizeof want, "%s|--n=3|", evil);
    assert_string_equal(r.output, want); /* every byte literal, one argv element */
    assert_int_not_equal(access(pwned, F_OK), 0);
    assert_int_not_equal(access("PWNED", F_OK), 0);

    /* unsigned */
    msg_init(&m, idn++, "echo", now, 5, "k1");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", NULL, m.f, m.v, m.n, 0), "rejected", "missing signature");
    /* forged: another key claiming kid k1 */
    expect(c, send_msg(c, "r", other, m.f, m.v, m.n, 0), "rejected", "bad signature");
    /* tampered after signing */
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 1), "rejected", "bad signature");
    /* unknown key id */
    msg_init(&m, idn++, "echo", now, 5, "k9");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "unknown key id k9");
    /* expired */
    msg_init(&m, idn++, "echo", now - 120000, 5, "k1");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "expired");
    /* stale epoch: 4 after 5 was seen */
    msg_init(&m, idn++, "echo", now, 4, "k1");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "stale epoch 4");
    /* a partition's action (mend cluster): judged by its fence, not the
     * global epoch (0 here, below the 5 seen): p3's owner is at epoch 2 */
    redisReply *fr = redisCommand(c, "SET r:fence:p3 2");
    assert_non_null(fr);
    freeReplyObject(fr);
    msg_init(&m, idn++, "echo", now, 0, "k1");
    msg_param(&m, "fence", "p3");
    msg_param(&m, "fence_epoch", "1");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "stale partition epoch 1 (fence p3 is at 2)");
    msg_init(&m, idn++, "echo", now, 0, "k1");
    msg_param(&m, "fence", "p3");
    msg_param(&m, "fence_epoch", "2");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "ok", "");
    msg_init(&m, idn++, "echo", now, 0, "k1");
    msg_param(&m, "fence", "p3");
    msg_param(&m, "fence_epoch", "two");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "malformed fence");
    /* unknown action */
    msg_init(&m, idn++, "reboot", now, 5, "k1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "not in the allowlist");
    /* bad parameters: int range, int syntax, enum, pattern, undeclared, missing */
    msg_init(&m, idn++, "echo", now, 5, "k1");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "11");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "parameter n: not a whole number in [1, 10]");
    msg_init(&m, idn++, "echo", now, 5, "k1");
    msg_param(&m, "p.msg", "a");
    msg_param(&m, "p.n", "3;reboot");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "parameter n");
    msg_init(&m, idn++, "mode", now, 5, "k1");
    msg_param(&m, "p.m", "medium");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "parameter m: not one of");
    msg_init(&m, idn++, "svc", now, 5, "k1");
    msg_param(&m, "p.service", "web;rm -rf /");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "parameter service: does not match");
    msg_init(&m, idn++, "svc", now, 5, "k1");
    msg_param(&m, "p.service", "web-1");
    msg_param(&m, "p.extra", "1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "parameter extra is not declared");
    msg_init(&m, idn++, "svc", now, 5, "k1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "rejected", "parameter service is missing");
    /* a valid pattern runs */
    msg_init(&m, idn++, "svc", now, 5, "k1");
    msg_param(&m, "p.service", "web-1");
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "ok", "exit 0");
    /* the same id again: collapses, not run twice */
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "duplicate", "already executed");
    /* a timeout kills the whole process group (both sleeps) */
    msg_init(&m, idn++, "slow", now, 5, "k1");
    int64_t t0 = now_ms();
    expect(c, send_msg(c, "r", k1, m.f, m.v, m.n, 0), "timeout", "timeout");
    assert_true(now_ms() - t0 < 3000);
    rh_sleep_ms(50);
    assert_int_not_equal(system("pgrep -f '^sleep 9.87' >/dev/null"), 0);
    /* a clean environment, and no descriptor but stdin/stdout/stderr */
    msg_init(&m, idn++, "env", now, 5, "k1");
    sid = send_msg(c, "r", k1, m.f, m.v, m.n, 0);
    assert_int_equal(wait_result(c, "r", sid, &r), 0);
    snprintf(want, sizeof want,
             "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\nLC_ALL=C\nMEND_ACTION_ID=%s\n",
             m.id);
    assert_string_equal(r.output, want);
    msg_init(&m, idn++, "fds", now, 5, "k1");
    sid = send_msg(c, "r", k1, m.f, m.v, m.n, 0);
    assert_int_equal(wait_result(c, "r", sid, &r), 0);
    assert_string_equal(r.output, "0\n1\n2\n3\n"); /* 3: ls's own directory handle */
    /* nothing left pending */
    redisReply *x = redisCommand(c, "XPENDING r:actions mend-exec");
    assert_int_equal(x->element[0]->integer, 0);
    freeReplyObject(x);
    redisFree(c);
    stop_exec(ex, SIGTERM);
}

/* The kill loop: n actions appending their number to a ledger, mend-exec
 * SIGKILLed kills times at random moments and restarted, then left to
 * finish. Returns duplicates and missing effects in the ledger. */
static void kill_loop(const char *prefix, const char *unsafe, unsigned n, int kills, int *dups, int *missing)
{
    write_allowlist(prefix, "exec-k");
    redisContext *c = rh_connect(&h);
    assert_non_null(c);
    int64_t now = now_ms();
    char last[64] = "";
    for (unsigned i = 0; i < n; i++) {
        struct msg m;
        char num[16];
        snprintf(num, sizeof num, "%u", i);
        msg_init(&m, 50000 + i, "ledger", now, 5, "k1");
        msg_param(&m, "p.n", num);
        snprintf(last, sizeof last, "%s", send_msg(c, prefix, k1, m.f, m.v, m.n, 0));
    }
    unsigned seed = 12345;
    for (int k = 0; k < kills; k++) {
        pid_t ex = start_exec(prefix, unsafe);
        rh_sleep_ms(25 + (long)(rand_r(&seed) % 40));
        stop_exec(ex, SIGKILL);
    }
    pid_t ex = start_exec(prefix, unsafe);
    /* done when the group has read everything and nothing is pending */
    int done = 0;
    for (int t = 0; t < 1500 && !done; t++) {
        redisReply *r = redisCommand(c, "XINFO GROUPS %s:actions", prefix);
        assert_non_null(r);
        long long pending = -1;
        char delivered[64] = "";
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            redisReply *g = r->element[0];
            for (size_t j = 0; j + 1 < g->elements; j += 2) {
                if (!strcmp(g->element[j]->str, "pending"))
                    pending = g->element[j + 1]->integer;
                if (!strcmp(g->element[j]->str, "last-delivered-id"))
                    snprintf(delivered, sizeof delivered, "%s", g->element[j + 1]->str);
            }
        }
        freeReplyObject(r);
        done = pending == 0 && !strcmp(delivered, last);
        if (!done)
            rh_sleep_ms(10);
    }
    stop_exec(ex, SIGTERM);
    assert_true(done);
    rh_sleep_ms(150); /* children of killed executors finish on their own */
    char p[512];
    snprintf(p, sizeof p, "%s/ledger-%s", h.dir, prefix);
    FILE *f = fopen(p, "r");
    int *seen = calloc(n, sizeof *seen);
    unsigned v;
    while (f && fscanf(f, "%u", &v) == 1)
        if (v < n)
            seen[v]++;
    if (f)
        fclose(f);
    *dups = *missing = 0;
    for (unsigned i = 0; i < n; i++) {
        *dups += seen[i] > 1 ? seen[i] - 1 : 0;
        *missing += seen[i] == 0;
    }
    free(seen);
    redisFree(c);
}

static void test_sigkill_loop_exactly_once(void **state)
{
    (void)state;
    int dups, missing;
    kill_loop("k0", NULL, 40, 15, &dups, &missing);
    fprintf(stderr, "  exactly-once: 40 actions, 15 SIGKILLs: %d duplicates, %d missing\n", dups, missing);
    assert_int_equal(dups, 0);
    assert_int_equal(missing, 0);
}

static void test_negative_control_no_idempotency_key(void **state)
{
    (void)state;
    int dups, missing;
    kill_loop("k1", "no-idem", 40, 15, &dups, &missing);
    fprintf(stderr, "  control no-idem: %d duplicates, %d missing\n", dups, missing);
    assert_true(dups > 0);
}

static void test_negative_control_ack_first(void **state)
{
    (void)state;
    int dups, missing;
    kill_loop("k2", "ack-first", 40, 15, &dups, &missing);
    fprintf(stderr, "  control ack-first: %d duplicates, %d missing\n", dups, missing);
    assert_true(missing > 0);
}

/* An entry delivered more than max_deliveries times goes to the DLQ with
 * its fields, and is acknowledged: never run. */
static void test_dead_letter_queue(void **state)
{
    (void)state;
    max_deliveries = 2;
    write_allowlist("d", "exec-d");
    max_deliveries = 1000;
    redisContext *c = rh_connect(&h);
    struct msg m;
    msg_init(&m, 7777, "svc", now_ms(), 5, "k1");
    msg_param(&m, "p.service", "web-9");
    const char *sid = send_msg(c, "d", k1, m.f, m.v, m.n, 0);
    char keep[64];
    snprintf(keep, sizeof keep, "%s", sid);
    redisReply *r = redisCommand(c, "XGROUP CREATE d:actions mend-exec 0");
    freeReplyObject(r);
    /* three deliveries to exec-d that never finished (a crash loop) */
    r = redisCommand(c, "XREADGROUP GROUP mend-exec exec-d COUNT 1 STREAMS d:actions >");
    freeReplyObject(r);
    for (int i = 0; i < 2; i++) {
        r = redisCommand(c, "XCLAIM d:actions mend-exec exec-d 0 %s", keep);
        freeReplyObject(r);
    }
    pid_t ex = start_exec("d", NULL);
    int moved = 0;
    for (int t = 0; t < 300 && !moved; t++) {
        r = redisCommand(c, "XLEN d:dlq");
        moved = r->integer == 1;
        freeReplyObject(r);
        if (!moved)
            rh_sleep_ms(10);
    }
    stop_exec(ex, SIGTERM);
    assert_true(moved);
    r = redisCommand(c, "XRANGE d:dlq - +");
    redisReply *kv = r->element[0]->element[1];
    int has_reason = 0, has_id = 0;
    for (size_t j = 0; j + 1 < kv->elements; j += 2) {
        has_reason |= !strcmp(kv->element[j]->str, "reason") && strstr(kv->element[j + 1]->str, "times (max_deliveries 2)");
        has_id |= !strcmp(kv->element[j]->str, "id") && !strcmp(kv->element[j + 1]->str, m.id);
    }
    freeReplyObject(r);
    assert_true(has_reason);
    assert_true(has_id);
    r = redisCommand(c, "XPENDING d:actions mend-exec");
    assert_int_equal(r->element[0]->integer, 0);
    freeReplyObject(r);
    r = redisCommand(c, "EXISTS d:idem:%s", m.id); /* never claimed, never run */
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    redisFree(c);
}

static size_t count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* The whole loop through the CLI: mend replay with a remediation section
 * over the demo recording, mend-exec running the actions, the audit log
 * showing each action emitted, executed and verified; and the engine
 * refusing to start on invalid rules. */
static void test_replay_closes_the_loop(void **state)
{
    (void)state;
    char mend[512], p[600], audit[600], cmd[4096];
    snprintf(mend, sizeof mend, "%s", exec_bin);
    mend[strlen(mend) - 5] = '\0'; /* .../mend-exec -> .../mend */
    write_allowlist("mend", "exec-e2e");
    /* rules for the demo recording, with actions from the test allowlist */
    snprintf(p, sizeof p, "%s/rules.yaml", h.dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "rules:\n"
               "  - name: web\n    match: {entity: 'web-*', series: '*latency*', min_duration: 1m}\n"
               "    action: svc\n    params: {service: '{{ root_cause.component }}'}\n    verify: 10m\n"
               "  - name: db\n    match: {entity: 'db-*'}\n    action: echo\n"
               "    params: {msg: 'db {{ entity }}; $(reboot)', n: '2'}\n    verify: 5m\n");
    fclose(f);
    snprintf(audit, sizeof audit, "%s/audit.jsonl", h.dir);
    snprintf(p, sizeof p, "%s/remediation.yaml", h.dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "remediation:\n  enabled: true\n  rules: [%s/rules.yaml]\n  redis: %s\n  prefix: mend\n"
               "  key: %s/k1.key\n  key_id: k1\n  spool: %s/e2e-spool\n  audit: %s\n  state: %s/learnt\n",
            h.dir, h.addr, h.dir, h.dir, audit, h.dir);
    fclose(f);
    pid_t ex = start_exec("mend", NULL);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s/remediation.yaml "
                              "--checkpoint %s/ckpt data/demo.lp > %s/inc.jsonl",
             mend, h.dir, h.dir, h.dir);
    assert_int_equal(system(cmd), 0);
    stop_exec(ex, SIGTERM);
    assert_int_equal(count_lines(audit, "\"event\":\"emitted\""), 2);   /* web-2, db-1 */
    assert_int_equal(count_lines(audit, "\"event\":\"executed\""), 2);
    /* each action's outcome is judged: web-2's CPU fault goes on for an
     * hour, so its restart is not recovered; db-1's disk collector never
     * reports again, so its notify did not bring the series back either */
    assert_int_equal(count_lines(audit, "\"event\":\"verified\""), 0);
    assert_int_equal(count_lines(audit, "\"event\":\"not_recovered\""), 2);
    assert_int_equal(count_lines(audit, "still missing at the end of the verify window"), 1);
    assert_true(count_lines(audit, "\"service\":\"web-2\"") >= 3); /* emitted, executed, not recovered, ... */
    /* what was learnt is in the engine's checkpoint, both outcomes */
    snprintf(p, sizeof p, "%s/ckpt", h.dir);
    struct mend_state_reader *sr;
    char err[600];
    assert_int_equal(mend_state_read_open(p, MEND_CKPT_KIND('E', 'N', 'G', '1'), &sr, err, sizeof err), 0);
    struct mend_act_store *store;
    struct mend_engine_section sec;
    assert_int_equal(mend_act_store_new(&store), 0);
    mend_act_store_section(store, &sec);
    uint32_t tag, ver;
    struct mend_rbuf *rb;
    int found = 0;
    while (mend_state_read_section(sr, &tag, &ver, &rb) == 0)
        if (tag == MEND_ACT_SECTION_TAG) {
            assert_int_equal(ver, MEND_ACT_SECTION_VERSION);
            assert_int_equal(sec.load(sec.ctx, rb), 0);
            found = 1;
        }
    mend_state_read_close(sr);
    assert_true(found);
    struct mend_rules *rules;
    struct mend_planner *pl;
    struct mend_planner_conf pc;
    struct mend_planner_hooks ph = {NULL, NULL, NULL};
    mend_planner_conf_defaults(&pc);
    assert_int_equal(mend_rules_new(&rules), 0);
    snprintf(p, sizeof p, "%s/rules.yaml", h.dir);
    assert_int_equal(mend_rules_load_file(rules, p, NULL), 0);
    assert_int_equal(mend_planner_new(&pc, rules, &ph, &pl), 0);
    assert_int_equal(mend_act_store_attach(store, pl), 0);
    struct mend_outcome o;
    assert_int_equal(mend_planner_outcome(pl, "web", "svc", "web", &o), 0);
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.recoveries, 0);
    assert_int_equal(mend_planner_outcome(pl, "db", "echo", "db", &o), 0);
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.recoveries, 0);
    mend_planner_free(pl);
    /* a restart from that checkpoint, the state file gone: the stage gets
     * the outcomes from the checkpoint (and writes them to its state file
     * again at exit) */
    snprintf(p, sizeof p, "%s/learnt", h.dir);
    assert_int_equal(unlink(p), 0);
    /* (no executor now: the still open db incident's action is not waited for) */
    snprintf(cmd, sizeof cmd, "sed 's/^  enabled: true/  enabled: true\\n  result_wait: 0s/' %s/remediation.yaml > %s/r2.yaml",
             h.dir, h.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s/r2.yaml "
                              "--checkpoint %s/ckpt data/demo.lp > %s/inc2.jsonl",
             mend, h.dir, h.dir, h.dir);
    assert_int_equal(system(cmd), 0);
    static unsigned char sbuf[1 << 16];
    f = fopen(p, "rb");
    assert_non_null(f);
    size_t sn = fread(sbuf, 1, sizeof sbuf, f);
    fclose(f);
    assert_true(sn > 8 && sn < sizeof sbuf);
    struct mend_rbuf srb;
    mend_rbuf_init(&srb, sbuf, sn - 8); /* the state file ends in its XXH64 */
    assert_int_equal(mend_planner_new(&pc, rules, &ph, &pl), 0);
    assert_int_equal(mend_planner_load(pl, &srb), 0);
    assert_int_equal(mend_planner_outcomes(pl), 2);
    assert_int_equal(mend_planner_outcome(pl, "db", "echo", "db", &o), 0);
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.recoveries, 0);
    mend_planner_free(pl);
    mend_rules_free(rules);
    mend_act_store_free(store);
    /* reliability from the audit log */
    snprintf(cmd, sizeof cmd, "%s report --audit %s > %s/report.txt", mend, audit, h.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/report.txt", h.dir);
    assert_int_equal(count_lines(p, "web-2 "), 1);
    assert_int_equal(count_lines(p, "db-1 "), 1);
    /* invalid rules: refused with file:line:col, exit 2, nothing emitted */
    snprintf(p, sizeof p, "%s/rules.yaml", h.dir);
    f = fopen(p, "w");
    fprintf(f, "rules:\n  - name: web\n    action: svc\n    cooldown: soon\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --remediation %s/remediation.yaml data/demo.lp >/dev/null 2>%s/err.txt",
             mend, h.dir, h.dir);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    snprintf(p, sizeof p, "%s/err.txt", h.dir);
    assert_int_equal(count_lines(p, "rules.yaml:4:15: cooldown: expected a duration"), 1);
}

/* The replay with no executor at all: the actions get no result, and each
 * times out on the replayed clock at its rule's result_timeout, freeing
 * its budget slot (max_concurrent 1 here: the db action goes only because
 * the web one timed out). */
static void test_replay_without_executor_times_out(void **state)
{
    (void)state;
    char mend[512], p[600], audit[600], cmd[4096];
    snprintf(mend, sizeof mend, "%s", exec_bin);
    mend[strlen(mend) - 5] = '\0';
    snprintf(p, sizeof p, "%s/rules-nx.yaml", h.dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "budgets: {max_concurrent: 1}\n"
               "rules:\n"
               "  - name: web\n    match: {entity: 'web-2', series: '*latency*', min_duration: 1m}\n"
               "    action: svc\n    params: {service: '{{ entity }}'}\n    ttl: 1m\n    result_timeout: 3m\n"
               "  - name: db\n    match: {entity: 'db-*'}\n    action: echo\n"
               "    params: {msg: 'db', n: '2'}\n    ttl: 1m\n    result_timeout: 3m\n");
    fclose(f);
    snprintf(audit, sizeof audit, "%s/audit-nx.jsonl", h.dir);
    snprintf(p, sizeof p, "%s/remediation-nx.yaml", h.dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "remediation:\n  enabled: true\n  rules: [%s/rules-nx.yaml]\n  redis: %s\n  prefix: nx\n"
               "  key: %s/k1.key\n  key_id: k1\n  audit: %s\n  result_wait: 0s\n",
            h.dir, h.addr, h.dir, audit);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s data/demo.lp > /dev/null",
             mend, p);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_lines(audit, "\"event\":\"emitted\""), 2);
    assert_int_equal(count_lines(audit, "\"event\":\"executed\""), 0);
    assert_int_equal(count_lines(audit, "\"event\":\"timed_out\""), 2);
    assert_int_equal(count_lines(audit, "no result within result_timeout 180 s (due "), 2);
    /* web-2's action went at 09:01 and timed out at 09:04 of the recording
     * (said when the replay's time next reached the planner) */
    assert_int_equal(count_lines(audit, "result_timeout 180 s (due 2023-11-16T09:04:00Z)"), 1);
    assert_int_equal(count_lines(audit, "\"event\":\"over_budget\""), 0);
}

/* A process that exists and is not a zombie (an orphan's new parent may
 * not reap it). */
static int proc_alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

struct orphan_run {
    char status[32], reason[256], journal_seen[160];
    size_t ledger;
    int journal_left;
};

/* One action whose executor is killed between "started" and the go (the
 * stall-before-go control stops it exactly there), with Redis down for the
 * orphan's whole orphan_wait when redis_down; then Redis back and a new
 * executor. Fills what the orphan wrote in the journal, the result and the
 * ledger's lines. */
static void orphan_case(const char *prefix, int journal, int redis_down, int slow, struct orphan_run *out)
{
    char jdir[400], p[600];
    memset(out, 0, sizeof *out);
    snprintf(jdir, sizeof jdir, "%s/journal-%s", h.dir, prefix);
    snprintf(extra_conf, sizeof extra_conf, "orphan_wait: 500ms\n%s%s%s", journal ? "journal: " : "",
             journal ? jdir : "", journal ? "\n" : "");
    write_allowlist(prefix, "exec-o");
    extra_conf[0] = '\0';
    redisContext *c = rh_connect(&h);
    assert_non_null(c);
    struct msg m;
    msg_init(&m, 70000, slow ? "slowledger" : "ledger", now_ms(), 5, "k1");
    msg_param(&m, "p.n", "7");
    char sid[64];
    snprintf(sid, sizeof sid, "%s", send_msg(c, prefix, k1, m.f, m.v, m.n, 0));
    pid_t ex = start_exec(prefix, "stall-before-go");
    long child = 0;
    for (int t = 0; t < 500 && !child; t++) {
        redisReply *r = redisCommand(c, "GET %s:idem:%s", prefix, m.id);
        assert_non_null(r);
        const char *colon = r->type == REDIS_REPLY_STRING && !strncmp(r->str, "started:", 8) ? strrchr(r->str, ':')
                                                                                              : NULL;
        if (colon)
            child = strtol(colon + 1, NULL, 10);
        freeReplyObject(r);
        if (!child)
            rh_sleep_ms(10);
    }
    assert_true(child > 0);
    if (redis_down) {
        redisFree(c);
        rh_kill(&h);
    }
    stop_exec(ex, SIGKILL); /* the child is an orphan now */
    if (slow) { /* the next executor meets it running, and waits for it */
        rh_sleep_ms(200);
        assert_true(proc_alive((pid_t)child));
        ex = start_exec(prefix, NULL);
    }
    for (int t = 0; t < 500 && proc_alive((pid_t)child); t++)
        rh_sleep_ms(10);
    assert_false(proc_alive((pid_t)child));
    snprintf(p, sizeof p, "%s/%s.%ld", jdir, m.id, child);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(out->journal_seen, sizeof out->journal_seen, f))
            out->journal_seen[0] = '\0';
        fclose(f);
    }
    if (redis_down) {
        assert_int_equal(rh_start(&h), 0);
        c = rh_connect(&h);
        assert_non_null(c);
    }
    if (!slow)
        ex = start_exec(prefix, NULL);
    struct result res;
    assert_int_equal(wait_result(c, prefix, sid, &res), 0);
    stop_exec(ex, SIGTERM);
    snprintf(out->status, sizeof out->status, "%s", res.status);
    snprintf(out->reason, sizeof out->reason, "%s", res.reason);
    snprintf(p, sizeof p, "%s/ledger-%s", h.dir, prefix);
    out->ledger = count_lines(p, "7");
    snprintf(p, sizeof p, "%s/%s.%ld", jdir, m.id, child);
    out->journal_left = access(p, F_OK) == 0;
    redisFree(c);
}

/* An orphaned child with Redis unreachable for its whole orphan_wait does
 * not run, records so in the executor's journal, and the next executor
 * (Redis back) runs the action: once. An orphan that can reach Redis runs
 * it, and its exit status comes from the journal, not "unknown". Without
 * a journal (the control) the action never happens and is reported
 * "unknown". */
static void test_orphan_journal(void **state)
{
    (void)state;
    struct orphan_run r;
    orphan_case("o1", 1, 1, 0, &r);
    fprintf(stderr, "  orphan, Redis down: journal '%.60s', then %s (%s), ledger %zu\n", r.journal_seen, r.status,
            r.reason, r.ledger);
    assert_non_null(strstr(r.journal_seen, "mend-orphan v1 ran=0 "));
    assert_string_equal(r.status, "ok");
    assert_int_equal(r.ledger, 1);
    assert_false(r.journal_left);

    orphan_case("o2", 1, 0, 0, &r);
    fprintf(stderr, "  orphan, Redis up: journal '%.60s', then %s (%s), ledger %zu\n", r.journal_seen, r.status,
            r.reason, r.ledger);
    assert_non_null(strstr(r.journal_seen, "mend-orphan v1 ran=1 exit=0 signal=0 "));
    assert_string_equal(r.status, "ok");
    assert_non_null(strstr(r.reason, "ran while its executor was gone"));
    assert_int_equal(r.ledger, 1);
    assert_false(r.journal_left);

    orphan_case("o3", 0, 1, 0, &r);
    fprintf(stderr, "  control, no journal, Redis down: %s (%s), ledger %zu\n", r.status, r.reason, r.ledger);
    assert_string_equal(r.status, "unknown");
    assert_int_equal(r.ledger, 0);

    /* the orphan still running when the next executor starts: it waits for
     * that pid, then reports the status the orphan recorded */
    orphan_case("o4", 1, 0, 1, &r);
    fprintf(stderr, "  orphan running at restart: %s (%s), ledger %zu\n", r.status, r.reason, r.ledger);
    assert_string_equal(r.status, "ok");
    assert_non_null(strstr(r.reason, "ran while its executor was gone"));
    assert_int_equal(r.ledger, 1);
    assert_false(r.journal_left);
    char p[600];
    snprintf(p, sizeof p, "%s/exec-o4.log", h.dir);
    assert_int_equal(count_lines(p, "runs under a previous executor as pid"), 1);
}

/* The planner's decisions in an audit log, one "event id" line each (the
 * stage's incident lines left out: they are the engine's, and when a tick
 * lands depends on where a replay's turns fall), with t_ns for emissions
 * (they happen at incident updates, the same in any run). */
static size_t decisions(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char line[16384];
    size_t n = 0, o = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char ev[32] = "", id[40] = "", tns[32] = "";
        const char *e = strstr(line, "\"event\":\""), *i = strstr(line, "\"id\":\""), *t = strstr(line, "\"t_ns\":");
        if (e)
            sscanf(e + 9, "%31[^\"]", ev);
        if (i)
            sscanf(i + 6, "%39[^\"]", id);
        if (t)
            sscanf(t + 7, "%31[0-9-]", tns);
        if (!strncmp(ev, "incident_", 9))
            continue;
        int w = snprintf(out + o, cap - o, "%s %s %s\n", ev, id, strcmp(ev, "emitted") ? "" : tns);
        assert_true(w > 0 && (size_t)w < cap - o);
        o += (size_t)w;
        n++;
    }
    fclose(f);
    return n;
}

/* Copies a checkpoint leaving one section out (the negative control: a
 * checkpoint as mend wrote it before it kept the planner's cases). */
static void strip_section(const char *from, const char *to, uint32_t drop)
{
    struct mend_state_reader *sr;
    struct mend_state_writer *sw;
    char err[600];
    uint32_t kind = MEND_CKPT_KIND('E', 'N', 'G', '1'), tag, ver;
    struct mend_rbuf *rb;
    assert_int_equal(mend_state_read_open(from, kind, &sr, err, sizeof err), 0);
    assert_int_equal(mend_state_write_begin(to, kind, &sw, err, sizeof err), 0);
    int dropped = 0;
    while (mend_state_read_section(sr, &tag, &ver, &rb) == 0) {
        if (tag == drop) {
            dropped = 1;
            continue;
        }
        size_t len = (size_t)mend_rbuf_remaining(rb);
        unsigned char *buf = malloc(len ? len : 1);
        assert_non_null(buf);
        assert_int_equal(mend_rbuf_bytes(rb, buf, len), 0);
        assert_int_equal(mend_state_read_done(sr, err, sizeof err), 0);
        struct mend_wbuf *w = mend_state_section_begin(sw, tag, ver);
        assert_non_null(w);
        mend_wbuf_bytes(w, buf, len);
        assert_int_equal(mend_state_section_end(sw), 0);
        free(buf);
    }
    mend_state_read_close(sr);
    assert_int_equal(mend_state_write_commit(sw, err, sizeof err), 0);
    assert_true(dropped);
}

static long long xlen(const char *key)
{
    redisContext *c = rh_connect(&h);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XLEN %s", key);
    assert_non_null(r);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* A replay stopped and resumed from its checkpoint decides as one that
 * never stopped: the action in flight at the stop is still in flight after
 * it (not sent again) and times out at its result_timeout, and the
 * cooldown it started holds the next incident's attempt back. Nothing is
 * emitted twice: the audit logs hold the same decisions, the actions
 * streams the same number of entries. No executor: every action stays in
 * flight until it times out. */
static void test_replay_resumed_keeps_cases(void **state)
{
    (void)state;
    char mend[512], p[600], cmd[4096];
    snprintf(mend, sizeof mend, "%s", exec_bin);
    mend[strlen(mend) - 5] = '\0';
    snprintf(p, sizeof p, "%s/rules-rs.yaml", h.dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    /* one case for every incident of the recording (target "all"): web-2
     * at 09:01, db-1 at 14:07 (in the cooldown), web-1 at 20:00 */
    fprintf(f, "rules:\n"
               "  - name: any\n    match: {}\n    target: all\n"
               "    action: svc\n    params: {service: '{{ entity }}'}\n    ttl: 1m\n    result_timeout: 3m\n"
               "    cooldown: 6h\n    max_cooldown: 12h\n    max_attempts: 3\n    window: 1d\n");
    fclose(f);
    const char *runs[] = {"u", "s", "n"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/remediation-%s.yaml", h.dir, runs[i]);
        f = fopen(p, "w");
        assert_non_null(f);
        fprintf(f, "remediation:\n  enabled: true\n  rules: [%s/rules-rs.yaml]\n  redis: %s\n  prefix: rs%s\n"
                   "  key: %s/k1.key\n  key_id: k1\n  audit: %s/audit-%s.jsonl\n  result_wait: 0s\n",
                h.dir, h.addr, runs[i], h.dir, h.dir, runs[i]);
        fclose(f);
    }
    /* the recording split at 09:02:30 of its second day: web-2's first
     * action went at 09:01 and is in flight then */
    snprintf(cmd, sizeof cmd,
             "grep -v '^#' data/demo.lp | awk '$NF <  1700125350000000000' > %s/a.lp && "
             "grep -v '^#' data/demo.lp | awk '$NF >= 1700125350000000000' > %s/b.lp",
             h.dir, h.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s/remediation-u.yaml "
                              "data/demo.lp > /dev/null", mend, h.dir);
    assert_int_equal(system(cmd), 0);
    for (int part = 0; part < 2; part++) {
        snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s/remediation-s.yaml "
                                  "--checkpoint %s/ckpt-rs %s/%s.lp > /dev/null",
                 mend, h.dir, h.dir, h.dir, part ? "b" : "a");
        assert_int_equal(system(cmd), 0);
        if (part == 0) { /* the stop: web-2's action in flight, nothing else yet */
            snprintf(p, sizeof p, "%s/audit-s.jsonl", h.dir);
            assert_int_equal(count_lines(p, "\"event\":\"emitted\""), 1);
            assert_int_equal(count_lines(p, "\"event\":\"timed_out\""), 0);
        }
    }
    /* the negative control: the same stop and resume, from a checkpoint
     * without the cases */
    snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s/remediation-n.yaml "
                              "--checkpoint %s/ckpt-n0 %s/a.lp > /dev/null", mend, h.dir, h.dir, h.dir);
    assert_int_equal(system(cmd), 0);
    char p0[600];
    snprintf(p0, sizeof p0, "%s/ckpt-n0", h.dir);
    snprintf(p, sizeof p, "%s/ckpt-n", h.dir);
    strip_section(p0, p, MEND_ACT_CASES_TAG);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --config data/demo.yaml --remediation %s/remediation-n.yaml "
                              "--checkpoint %s/ckpt-n %s/b.lp > /dev/null", mend, h.dir, h.dir, h.dir);
    assert_int_equal(system(cmd), 0);
    static char du[1 << 16], ds[1 << 16], dn[1 << 16];
    snprintf(p, sizeof p, "%s/audit-u.jsonl", h.dir);
    size_t nu = decisions(p, du, sizeof du);
    assert_int_equal(count_lines(p, "\"event\":\"emitted\""), 2); /* web-2, web-1 */
    assert_int_equal(count_lines(p, "\"event\":\"timed_out\""), 2);
    assert_int_equal(count_lines(p, "\"event\":\"cooldown\",\"rule\":\"any\",\"target\":\"all\",\"incident\":2"), 2); /* db-1 */
    assert_true(count_lines(p, "\"event\":\"in_flight\"") >= 1);
    snprintf(p, sizeof p, "%s/audit-s.jsonl", h.dir);
    size_t ns = decisions(p, ds, sizeof ds);
    if (strcmp(du, ds))
        fprintf(stderr, "never stopped:\n%s\nstopped and resumed:\n%s\n", du, ds);
    assert_int_equal(nu, ns);
    assert_string_equal(du, ds);
    assert_int_equal(xlen("rsu:actions"), 2);
    assert_int_equal(xlen("rss:actions"), 2);
    /* without the cases the resumed replay has forgotten web-2's action in
     * flight and sends it again at 09:03 (the same id: Redis collapses it,
     * the planner's decision is what went wrong), and never times it out */
    snprintf(p, sizeof p, "%s/audit-n.jsonl", h.dir);
    decisions(p, dn, sizeof dn);
    assert_string_not_equal(du, dn);
    assert_int_equal(count_lines(p, "\"event\":\"emitted\""), 3);
    assert_int_equal(xlen("rsn:actions"), 2);
}

/* The stage's counters on /metrics: an incident matched, its action sent
 * to Redis and in flight, a second update suppressed, as the metrics
 * server renders them. */
static struct mend_act *open_stage(const char *prefix)
{
    char p[600], err[600];
    snprintf(p, sizeof p, "%s/rules-mx.yaml", h.dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "rules:\n  - name: web\n    match: {entity: 'web-*'}\n    action: svc\n"
               "    params: {service: '{{ entity }}'}\n    verify: 5m\n");
    fclose(f);
    struct mend_remediation_conf c;
    mend_remediation_conf_defaults(&c);
    c.enabled = 1;
    assert_true(strlen(p) < sizeof c.rules[0] && strlen(h.addr) < sizeof c.redis);
    memcpy(c.rules[0], p, strlen(p) + 1);
    c.n_rules = 1;
    memcpy(c.redis, h.addr, strlen(h.addr) + 1);
    snprintf(c.prefix, sizeof c.prefix, "%s", prefix);
    assert_true(strlen(h.dir) + 8 < sizeof c.key);
    memcpy(c.key, h.dir, strlen(h.dir));
    memcpy(c.key + strlen(h.dir), "/k1.key", 8);
    snprintf(c.key_id, sizeof c.key_id, "k1");
    c.audit[0] = '\0';
    c.state[0] = '\0';
    struct mend_act *act;
    int rc = mend_act_open(&c, 0, stderr, &act, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return act;
}

/* One incident on web-3 through the stage, as the incident set hands it. */
static void stage_incident(struct mend_act *act, const char *status, int64_t last_s)
{
    static struct mend_incident_signal sig;
    static struct mend_incident inc;
    memset(&sig, 0, sizeof sig);
    memset(&inc, 0, sizeof inc);
    sig.key = "app,host=web-3 latency";
    sig.max_score = 0.95;
    inc.id = 7;
    inc.entity = "web-3";
    inc.start_t = sig.first_t = 1700000000LL * 1000000000LL;
    inc.last_t = sig.last_t = last_s * 1000000000LL;
    inc.max_score = 0.95;
    inc.n_signals = 1;
    inc.signals = &sig;
    const char *json = "{\"entity\":\"web-3\"}";
    assert_int_equal(mend_output_act_ops.incident(act, status, &inc, json, strlen(json)), MEND_OUTPUT_OK);
}

static void test_stage_metrics(void **state)
{
    (void)state;
    char err[600];
    struct mend_act *act = open_stage("mx");
    stage_incident(act, "open", 1700000000LL);
    stage_incident(act, "update", 1700000060LL);

    struct mend_loop *loop;
    struct mend_metrics_server *ms;
    struct mend_metrics_conf mc;
    mend_metrics_conf_defaults(&mc);
    mc.listen[0] = '\0';
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &loop), 0);
    assert_int_equal(mend_metrics_server_new(&mc, loop, &ms, err, sizeof err), 0);
    assert_int_equal(mend_metrics_register(ms, mend_act_metrics, act), 0);
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(mend_metrics_render(ms, &body, &len), 0);
    if (getenv("KEEP"))
        fprintf(stderr, "%.*s", (int)len, body);
    assert_non_null(strstr(body, "# TYPE mend_remediation_decisions_total counter\n"));
    assert_non_null(strstr(body, "mend_remediation_decisions_total{decision=\"matched\"} 2\n"));
    assert_non_null(strstr(body, "mend_remediation_decisions_total{decision=\"emitted\"} 1\n"));
    assert_non_null(strstr(body, "mend_remediation_decisions_total{decision=\"suppressed\"} 1\n"));
    assert_non_null(strstr(body, "mend_remediation_decisions_total{decision=\"timed_out\"} 0\n"));
    assert_non_null(strstr(body, "mend_remediation_in_flight 1\n"));
    assert_non_null(strstr(body, "mend_remediation_cases 1\n"));
    assert_non_null(strstr(body, "mend_remediation_queue_total{outcome=\"sent\"} 1\n"));
    assert_non_null(strstr(body, "mend_remediation_spool_pending 0\n"));
    assert_int_equal(xlen("mx:actions"), 1);
    free(body);
    mend_metrics_server_free(ms);
    mend_loop_free(loop);
    mend_act_close(act);
}

/* An action in flight when the engine stopped, whose result came while it
 * was down: the restarted stage's queue reads only results after it
 * connects (the negative control: still in flight after a turn), and
 * mend_act_resume finds it in mend:results, once. Without the case (a stop
 * before the checkpoint) the re-sent action collapses in Redis. */
static void test_results_read_back_after_restart(void **state)
{
    (void)state;
    struct mend_act *a = open_stage("cu");
    stage_incident(a, "open", 1700000000LL);
    char ids[2][33];
    assert_int_equal(mend_planner_in_flight(mend_act_planner(a), ids, 2), 1);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    assert_int_equal(mend_planner_save_cases(mend_act_planner(a), &w), 0);
    mend_act_close(a);
    /* the executor's result lands while no engine runs, then another's */
    redisContext *c = rh_connect(&h);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XADD cu:results * v 1 id %s status ok reason %s", ids[0], "exit 0");
    assert_non_null(r);
    freeReplyObject(r);
    r = redisCommand(c, "XADD cu:results * v 1 id %s status ok reason other", "0123456789abcdef0123456789abcdef");
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);

    struct mend_act *b = open_stage("cu");
    struct mend_rbuf rb;
    mend_rbuf_init(&rb, w.data, w.len);
    size_t kept = 0;
    assert_int_equal(mend_planner_load_cases(mend_act_planner(b), &rb, &kept, NULL), 0);
    assert_int_equal(kept, 1);
    struct mend_planner_stats st;
    mend_act_poll(b, INT64_MIN);
    mend_planner_stats(mend_act_planner(b), &st);
    assert_int_equal(st.in_flight, 1); /* the queue alone never sees it */
    assert_int_equal(mend_act_resume(b), 1);
    mend_planner_stats(mend_act_planner(b), &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.failed, 0);
    assert_int_equal(mend_act_caught_up(b), 1);
    /* being verified now: the update inside the window judges it */
    stage_incident(b, "update", 1700000120LL);
    mend_planner_stats(mend_act_planner(b), &st);
    assert_int_equal(st.not_recovered, 1);
    assert_int_equal(mend_act_resume(b), 0); /* nothing in flight (the cooldown holds the next attempt) */
    assert_int_equal(mend_act_caught_up(b), 1);
    mend_act_close(b);
    mend_wbuf_fini(&w);

    /* a stop before the checkpoint took the case: the restarted stage
     * sends the same action again (same id), and Redis collapses it */
    struct mend_act *d = open_stage("cu");
    stage_incident(d, "open", 1700000000LL);
    mend_planner_stats(mend_act_planner(d), &st);
    assert_int_equal(st.emitted, 1);
    assert_int_equal(xlen("cu:actions"), 1);
    mend_act_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejections_and_literal_argv),
        cmocka_unit_test(test_sigkill_loop_exactly_once),
        cmocka_unit_test(test_negative_control_no_idempotency_key),
        cmocka_unit_test(test_negative_control_ack_first),
        cmocka_unit_test(test_dead_letter_queue),
        cmocka_unit_test(test_replay_closes_the_loop),
        cmocka_unit_test(test_orphan_journal),
        cmocka_unit_test(test_replay_without_executor_times_out),
        cmocka_unit_test(test_replay_resumed_keeps_cases),
        cmocka_unit_test(test_stage_metrics),
        cmocka_unit_test(test_results_read_back_after_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
