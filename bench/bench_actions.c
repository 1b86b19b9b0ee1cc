/* bench_actions.c -- the remediation path's figures for `make bench`, with
 * a private redis-server (unix socket, appendfsync everysec) and mend-exec:
 *   incident -> action XADD acknowledged: the planner deciding plus the
 *     signed, fenced XADD, per incident (p50 / p99);
 *   executor read -> execve: measured by mend-exec from reading the entry
 *     to letting the child go (exec_latency_us in each result; p50 / p99);
 *   actions per second through the whole path (emit -> run /bin/true ->
 *     result + XACK), 8 at once.
 * Usage: bench_actions PATH/TO/mend-exec
 * Prints: bench actions xadd_p50_ms=.. xadd_p99_ms=T exec_p50_ms=.. exec_p99_ms=T actions_per_s=N */
#include <inttypes.h>
#include <math.h>

#include "../tests/redis_harness.h"
#include "mend/act.h"

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static int emit_hook(void *ctx, const struct mend_action *a)
{
    return mend_queue_emit(ctx, a);
}

static long results(redisContext *c)
{
    redisReply *r = redisCommand(c, "XLEN mend:results");
    long n = r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_actions PATH/TO/mend-exec\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rh h;
    snprintf(h.dir, sizeof h.dir, "/tmp/mend-bench-act-XXXXXX");
    if (!mkdtemp(h.dir))
        return 1;
    snprintf(h.sock, sizeof h.sock, "%s/redis.sock", h.dir);
    snprintf(h.addr, sizeof h.addr, "unix:%s", h.sock);
    if (rh_start(&h) || rh_keygen(h.dir, "k")) {
        fprintf(stderr, "bench actions: cannot start redis-server\n");
        rh_fini(&h);
        return 1;
    }
    redisContext *c = rh_connect(&h);
    redisReply *r = redisCommand(c, "CONFIG SET appendfsync everysec");
    freeReplyObject(r);
    char p[600];
    snprintf(p, sizeof p, "%s/allow.yaml", h.dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "redis: %s\nconsumer: bench\nmax_concurrent: 8\nbatch: 64\nkeys: {k1: %s/k.pub}\n"
               "actions:\n  restart:\n    argv: [/bin/true, '{service}']\n    timeout: 5s\n"
               "    params: {service: {type: pattern, pattern: '[a-z0-9-]+'}}\n",
            h.addr, h.dir);
    fclose(f);
    pid_t ex = fork();
    if (ex == 0) {
        char lp[600];
        snprintf(lp, sizeof lp, "%s/exec.log", h.dir);
        int dn = open(getenv("BENCH_EXEC_LOG") ? getenv("BENCH_EXEC_LOG") : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(dn, 2);
        execl(argv[1], "mend-exec", "--config", p, (char *)NULL);
        _exit(127);
    }
    /* the engine side: rules, planner, signer, queue */
    struct mend_rules *rules;
    mend_rules_new(&rules);
    const char *y = "budgets: {max_concurrent: 100000, max_per_target: 100000, max_per_hour: 1000000}\n"
                    "rules:\n  - name: all\n    match: {}\n    action: restart\n"
                    "    params: {service: '{{ entity }}'}\n    cooldown: 0s\n    max_attempts: 1000\n";
    mend_rules_load(rules, "bench", y, strlen(y), NULL);
    struct mend_signer *sg;
    snprintf(p, sizeof p, "%s/k.key", h.dir);
    mend_signer_load(p, "k1", &sg);
    struct mend_queue_conf qc;
    mend_queue_conf_defaults(&qc);
    memcpy(qc.redis, h.addr, strlen(h.addr) + 1);
    struct mend_queue *q;
    mend_queue_new(&qc, sg, NULL, &q);
    mend_queue_lease(q, mono());
    struct mend_planner_conf pc;
    mend_planner_conf_defaults(&pc);
    pc.max_cases = MEND_PLANNER_MAX_CASES; /* 1,500 targets: room to spare */
    struct mend_planner_hooks hk = {emit_hook, NULL, q};
    struct mend_planner *pl;
    if (!rules || !sg || !q || mend_planner_new(&pc, rules, &hk, &pl) != MEND_OK) {
        fprintf(stderr, "bench actions: cannot set up the engine side (rules, key, queue or planner)\n");
        kill(ex, SIGTERM);
        waitpid(ex, NULL, 0);
        rh_fini(&h);
        return 1;
    }
    enum { N = 500 };
    static double xadd_ms[N];
    struct mend_incident inc;
    struct mend_incident_signal sig;
    char ent[32], key[64];
    memset(&inc, 0, sizeof inc);
    memset(&sig, 0, sizeof sig);
    inc.entity = ent;
    inc.signals = &sig;
    inc.n_signals = 1;
    sig.key = key;
    inc.max_score = sig.max_score = 1;
    /* latency: one at a time, so the executor is idle and each is timed alone */
    int64_t t_all = mono();
    for (int i = 0; i < N; i++) {
        snprintf(ent, sizeof ent, "web-%d", i);
        snprintf(key, sizeof key, "cpu,host=web-%d usage", i);
        inc.id = (uint64_t)i + 1;
        inc.start_t = inc.last_t = 1000000000LL * (1000 + i);
        mend_queue_lease(q, mono()); /* renews at a third of the lease */
        int64_t t0 = mono();
        mend_planner_incident(pl, "open", &inc, NULL, inc.last_t);
        xadd_ms[i] = (double)(mono() - t0) / 1e6;
        if (getenv("BENCH_DEBUG") && (i < 30 || i % 100 == 0))
            fprintf(stderr, "%d: %.3f ms, %ld results\n", i, xadd_ms[i], results(c));
        /* the latency run: one at a time, each result awaited, so the
         * executor is idle when the next arrives */
        while (results(c) < i + 1 && mono() - t_all < 60000000000LL) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    while (results(c) < N && mono() - t_all < 30000000000LL)
        rh_sleep_ms(2);
    /* throughput: 1000 more as fast as they go, until every result is in */
    int64_t t1 = mono();
    enum { M = 1000 };
    for (int i = 0; i < M; i++) {
        snprintf(ent, sizeof ent, "db-%d", i);
        inc.id = (uint64_t)(N + i) + 1;
        mend_queue_lease(q, mono());
        mend_planner_incident(pl, "open", &inc, NULL, inc.last_t);
    }
    while (results(c) < N + M && mono() - t1 < 60000000000LL)
        rh_sleep_ms(1);
    double secs = (double)(mono() - t1) / 1e9;
    long done = results(c) - N;
    /* exec latencies from the results */
    static double ex_ms[N + M];
    size_t ne = 0;
    r = redisCommand(c, "XRANGE mend:results - + COUNT %d", N);
    for (size_t i = 0; r && i < r->elements; i++) {
        redisReply *kv = r->element[i]->element[1];
        for (size_t j = 0; j + 1 < kv->elements; j += 2)
            if (!strcmp(kv->element[j]->str, "exec_latency_us") && atoll(kv->element[j + 1]->str) >= 0)
                ex_ms[ne++] = (double)atoll(kv->element[j + 1]->str) / 1000.0;
    }
    if (r)
        freeReplyObject(r);
    double x50 = pct(xadd_ms, N, 0.5), x99 = pct(xadd_ms, N, 0.99);
    double e50 = ne ? pct(ex_ms, ne, 0.5) : -1.0, e99 = ne ? pct(ex_ms, ne, 0.99) : -1.0;
    printf("actions: incident->XADD p50 %.3f ms p99 %.3f ms (%d); read->execve p50 %.3f ms p99 %.3f ms (%zu); "
           "%ld of %d results in %.2f s\n",
           x50, x99, N, e50, e99, ne, done, M, secs);
    printf("bench actions xadd_p99_ms=%.3f exec_p99_ms=%.3f actions_per_s=%.0f\n", x99, e99, (double)done / secs);
    kill(ex, SIGTERM);
    waitpid(ex, NULL, 0);
    redisFree(c);
    mend_planner_free(pl);
    mend_queue_free(q);
    mend_signer_free(sg);
    mend_rules_free(rules);
    rh_fini(&h);
    return 0;
}
