/* bench_logs.c -- the log figures of `make bench`.
 *
 *   bench_logs gen LINES > FILE   a log corpus with a realistic template mix
 *   bench_logs gen-syslog LINES > FILE   the same messages as RFC 5424 syslog
 *                                 lines (12 hosts, 6 apps, 20 lines a second)
 *   bench_logs run FILE           line splitting + template mining over FILE
 *   bench_logs syslog FILE        the whole log path over a gen-syslog file:
 *                                 RFC 6587 framing + syslog parsing + template
 *                                 mining + per-interval counts (format.h,
 *                                 logsig.h), as `mend replay` runs it
 *
 * gen writes LINES messages drawn from 48 event shapes (sshd, kernel, HTTP
 * access, a job scheduler, storage, a JVM service) with Zipf-like weights, so
 * a few events dominate and many are rare, as in real logs; parameters are
 * IPs, ports, pids, user and host names, paths, hex ids, UUIDs, durations
 * and sizes. The generator is deterministic (fixed seed).
 *
 * run reads FILE through the same line splitter and miner as `mend
 * templates` (default configuration) and prints one line:
 *   lines=N bytes=N seconds=S lines_per_s=N bytes_per_s=N templates=N */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mend/format.h"
#include "mend/ingest.h"
#include "mend/logs.h"
#include "mend/logsig.h"
#include "mend/template.h"

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const char *const users[] = {"root", "admin", "alice", "bob", "carol", "dave", "erin",
                                    "frank", "grace", "heidi", "ivan", "judy", "mallory",
                                    "oscar", "peggy", "trent", "victor", "walter", "deploy",
                                    "backup", "nagios", "postgres", "www-data", "git"};
static const char *const hosts[] = {"web-1", "web-2", "web-3", "db-1", "db-2", "cache-1",
                                    "queue-1", "api-1", "api-2", "batch-1", "edge-1", "edge-2"};
static const char *const paths[] = {"/", "/index.html", "/api/v1/users", "/api/v1/orders",
                                    "/static/app.js", "/static/app.css", "/login", "/logout",
                                    "/healthz", "/metrics", "/api/v2/search", "/favicon.ico"};
static const char *const verbs[] = {"GET", "POST", "PUT", "DELETE"};
static const char *const ifaces[] = {"eth0", "eth1", "bond0", "lo"};
static const char *const jobs[] = {"nightly-backup", "index-rebuild", "report-daily",
                                   "cleanup-tmp", "sync-users", "rotate-logs"};

#define PICK(a, r) (a)[(r) % (sizeof(a) / sizeof((a)[0]))]

static int gen_line(char *b, size_t cap, unsigned ev, uint64_t *s)
{
    uint64_t r = rnd(s), q = rnd(s);
    unsigned a = (unsigned)(r & 0xff), c = (unsigned)((r >> 8) & 0xff);
    unsigned port = 1024 + (unsigned)((r >> 16) % 64000), pid = 100 + (unsigned)((r >> 32) % 60000);
    const char *u = PICK(users, q), *h = PICK(hosts, q >> 8), *p = PICK(paths, q >> 16);
    switch (ev) {
    case 0: return snprintf(b, cap, "Accepted publickey for %s from 10.%u.%u.%u port %u ssh2", u, a, c, a ^ c, port);
    case 1: return snprintf(b, cap, "%s - - \"%s %s HTTP/1.1\" 200 %u \"-\" \"Mozilla/5.0\"", h, PICK(verbs, q >> 24), p, (unsigned)(q % 90000));
    case 2: return snprintf(b, cap, "pam_unix(sshd:session): session opened for user %s by (uid=0)", u);
    case 3: return snprintf(b, cap, "pam_unix(sshd:session): session closed for user %s", u);
    case 4: return snprintf(b, cap, "Connection closed by 192.168.%u.%u port %u [preauth]", a, c, port);
    case 5: return snprintf(b, cap, "request id=%016llx method=%s path=%s status=200 duration=%ums", (unsigned long long)q, PICK(verbs, r), p, (unsigned)(r % 900));
    case 6: return snprintf(b, cap, "Started Session %u of user %s.", pid, u);
    case 7: return snprintf(b, cap, "Received disconnect from 172.16.%u.%u port %u:11: disconnected by user", a, c, port);
    case 8: return snprintf(b, cap, "cache hit ratio %u.%02u%% over %u lookups on %s", a % 100, c % 100, (unsigned)(q % 100000), h);
    case 9: return snprintf(b, cap, "Failed password for invalid user %s from 203.0.%u.%u port %u ssh2", u, a, c, port);
    case 10: return snprintf(b, cap, "job %s started on %s with pid %u", PICK(jobs, q), h, pid);
    case 11: return snprintf(b, cap, "job %s finished on %s in %u.%03us exit=0", PICK(jobs, q), h, a, c);
    case 12: return snprintf(b, cap, "GC pause (G1 Evacuation Pause) young %uM->%uM(%uM) %u.%03ums", 100 + a, 50 + c, 1024 + a, c % 50, a);
    case 13: return snprintf(b, cap, "kernel: [%u.%06u] %s: link up, 1000Mbps, full-duplex", pid, port, PICK(ifaces, q));
    case 14: return snprintf(b, cap, "user %s logged in from %s.example.com", u, h);
    case 15: return snprintf(b, cap, "user %s logged out after %u seconds", u, (unsigned)(q % 86400));
    case 16: return snprintf(b, cap, "block blk_%lld replicated to %s:%u", (long long)(int64_t)q, h, port);
    case 17: return snprintf(b, cap, "Deleting block blk_%lld file /data/dfs/current/subdir%u/blk_%lld", (long long)(int64_t)q, a % 64, (long long)(int64_t)q);
    case 18: return snprintf(b, cap, "session %08x-%04x-%04x-%04x-%012llx expired", (unsigned)q, a, c, a ^ c, (unsigned long long)(r >> 16));
    case 19: return snprintf(b, cap, "disk /dev/sd%c%u usage %u%% above threshold 90%%", 'a' + (a % 4), c % 4, 90 + c % 10);
    case 20: return snprintf(b, cap, "WARN slow query took %ums rows=%u table=orders", 500 + (unsigned)(q % 5000), a * c);
    case 21: return snprintf(b, cap, "WARN slow query took %ums rows=%u table=users", 500 + (unsigned)(q % 5000), a * c);
    case 22: return snprintf(b, cap, "connection to %s:%u refused, retrying in %u s", h, port, a % 30);
    case 23: return snprintf(b, cap, "CRON[%u]: (%s) CMD (/usr/local/bin/%s.sh)", pid, u, PICK(jobs, q));
    case 24: return snprintf(b, cap, "Out of memory: Killed process %u (java) total-vm:%ukB", pid, (unsigned)(q % 9000000));
    case 25: return snprintf(b, cap, "%s: state changed from %s to %s", PICK(ifaces, q), a & 1 ? "up" : "down", a & 1 ? "down" : "up");
    default: break;
    }
    /* 26..47: a long tail of rarer events with the same kinds of parameters */
    return snprintf(b, cap, "service%u event%u on %s for %s took %u ms (code=%u)", ev, ev * 7, h, u, (unsigned)(q % 5000), a);
}

static int gen(long n, int syslog)
{
    enum { EVENTS = 48 };
    double w[EVENTS], total = 0;
    for (int i = 0; i < EVENTS; i++)
        total += w[i] = 1.0 / (i + 1.0); /* Zipf, s = 1 */
    uint64_t s = 0x2545f4914f6cdd1dULL;
    char line[512];
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    for (long i = 0; i < n; i++) {
        double x = (double)(rnd(&s) >> 11) / 9007199254740992.0 * total;
        unsigned ev = 0;
        while (ev + 1 < EVENTS && x >= w[ev])
            x -= w[ev++];
        if (syslog) {
            /* 20 lines a second from 2023-11-14T22:13:20Z */
            long t = 1700000000L + i / 20;
            long d = t / 86400, sec = t % 86400;
            static const char *const apps[] = {"sshd", "nginx", "kernel", "cron", "java", "postgres"};
            printf("<%u>1 2023-11-%02ldT%02ld:%02ld:%02ld.%03ldZ %s %s %u - - ", 8 + (ev % 5 ? 6 : 3),
                   d - 19675 + 14, sec / 3600, sec / 60 % 60, sec % 60, (i % 20) * 50,
                   PICK(hosts, (uint64_t)i * 7), PICK(apps, ev), 100 + (unsigned)(i % 30000));
        }
        int k = gen_line(line, sizeof line, ev, &s);
        if (k < 0)
            return 1;
        fwrite(line, 1, (size_t)k < sizeof line ? (size_t)k : sizeof line - 1, stdout);
        putchar('\n');
    }
    return fflush(stdout) ? 1 : 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int run(const char *path)
{
    struct mend_tmpl_conf c;
    struct mend_tmpl *m;
    struct mend_loglines l;
    mend_tmpl_conf_defaults(&c);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "bench_logs: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (mend_tmpl_new(&c, &m) || mend_loglines_init(&l, c.max_line)) {
        fprintf(stderr, "bench_logs: out of memory\n");
        return 1;
    }
    const char *line;
    size_t len, bytes = 0;
    int cut, got;
    uint64_t check = 0;
    double t0 = now();
    while ((got = mend_loglines_next(&l, fd, &line, &len, &cut)) == 1) {
        struct mend_tmpl_match r;
        if (mend_tmpl_add(m, line, len, &r))
            return 1;
        check += r.id; /* keep the work observable */
        bytes += len + 1;
    }
    double dt = now() - t0;
    if (got < 0) {
        fprintf(stderr, "bench_logs: %s: read error\n", path);
        return 1;
    }
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    printf("lines=%llu bytes=%zu seconds=%.3f lines_per_s=%.0f bytes_per_s=%.0f templates=%llu check=%llu\n",
           (unsigned long long)l.lines, bytes, dt, (double)l.lines / dt, (double)bytes / dt,
           (unsigned long long)s.templates, (unsigned long long)check);
    mend_tmpl_free(m);
    mend_loglines_fini(&l);
    close(fd);
    return 0;
}

struct sys_run {
    struct mend_parser *p;
    struct mend_sink k;
    uint64_t points;
};

static int count_point(void *ctx, const struct mend_point *pt)
{
    struct sys_run *r = ctx;
    r->points += pt->key_len > 0;
    return 0;
}

static int to_parser(void *ctx, const char *b, size_t n)
{
    struct sys_run *r = ctx;
    return mend_parser_feed(r->p, b, n, &r->k);
}

static int run_syslog(const char *path)
{
    struct mend_logsig *ls;
    struct mend_ingest_opts o;
    struct sys_run r = {NULL, {count_point, NULL, NULL}, 0};
    struct mend_syslog_frame fr;
    static char buf[1 << 20];
    r.k.ctx = &r;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "bench_logs: %s: %s\n", path, strerror(errno));
        return 1;
    }
    mend_ingest_opts_defaults(&o);
    if (mend_logsig_new(NULL, &ls, NULL, 0))
        return 1;
    o.logs = ls;
    if (mend_parser_new(MEND_FMT_SYSLOG, &o, &r.p))
        return 1;
    mend_syslog_frame_init(&fr, 0);
    size_t bytes = 0;
    double t0 = now();
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            fprintf(stderr, "bench_logs: %s: read error\n", path);
            return 1;
        }
        if (n == 0)
            break;
        bytes += (size_t)n;
        if (mend_syslog_frame_feed(&fr, buf, (size_t)n, to_parser, &r))
            return 1;
    }
    mend_parser_finish(r.p, &r.k);
    double dt = now() - t0;
    struct mend_parse_stats ps;
    struct mend_tmpl_stats ts;
    mend_parser_stats(r.p, &ps);
    mend_tmpl_get_stats(mend_logsig_miner(ls), &ts);
    printf("lines=%llu bytes=%zu seconds=%.3f lines_per_s=%.0f bytes_per_s=%.0f templates=%llu "
           "samples=%llu errors=%llu\n",
           (unsigned long long)ps.lines, bytes, dt, (double)ps.lines / dt, (double)bytes / dt,
           (unsigned long long)ts.templates, (unsigned long long)r.points,
           (unsigned long long)ps.errors);
    mend_parser_free(r.p);
    mend_logsig_free(ls);
    close(fd);
    return ps.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "gen"))
        return gen(atol(argv[2]), 0);
    if (argc == 3 && !strcmp(argv[1], "gen-syslog"))
        return gen(atol(argv[2]), 1);
    if (argc == 3 && !strcmp(argv[1], "run"))
        return run(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "syslog"))
        return run_syslog(argv[2]);
    fprintf(stderr, "usage: bench_logs gen|gen-syslog LINES > FILE | bench_logs run|syslog FILE\n");
    return 2;
}
