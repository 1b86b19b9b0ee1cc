/* test_scrape.c -- `mend run` scraping real HTTP servers on loopback:
 *   - Debian's prometheus-node-exporter (/usr/bin/prometheus-node-exporter),
 *     scraped for ~2.5 s: series, labels (job, instance, extra), rates of
 *     its counters in a sane range, gauges untouched, scrape time stamps,
 *     the entity taken from `instance` (input.entity_tag: [host, instance]);
 *   - Python's http.server serving fixed bodies: a clashing exposed label
 *     kept as exported_job, a 404, sample/label/body limits (refused whole,
 *     counted), and a file_sd targets file re-read when it changes.
 * The binary is $MEND_BIN (set by `make test`), else ./bin/mend. A test
 * whose server is not installed is skipped, said so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mend/scrape.h"

#define NODE_EXPORTER "/usr/bin/prometheus-node-exporter"

static const char *bin;
static char dir[64];

static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    return b;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A port that was free a moment ago. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || getsockname(fd, (struct sockaddr *)&sa, &sl))
        return -1;
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_up(int port)
{
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return 1;
        sleep_ms(30);
    }
    return 0;
}

/* Starts argv with stdout and stderr to log. */
static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        (void)f;
        dup2(1, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int stop(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs `mend run --config cfg --scores scores` for ms milliseconds; its
 * stderr goes to err. Returns its exit code. */
static int mend_for(const char *cfg, const char *scores, const char *err, long ms)
{
    char *argv[] = {(char *)bin, "run", "--config", (char *)cfg, "--scores", (char *)scores, NULL};
    pid_t pid = spawn(argv, err);
    assert_true(pid > 0);
    sleep_ms(ms);
    return stop(pid);
}

static int setup(void **state)
{
    (void)state;
    bin = getenv("MEND_BIN");
    if (!bin || !*bin)
        bin = "./bin/mend";
    snprintf(dir, sizeof dir, "/tmp/mend-test-scrape-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return run("rm -rf %s", dir);
}

/* Scores of lines whose key starts with prefix: count, min and max value,
 * and the time range. */
struct sel {
    int n;
    double vmin, vmax;
    int64_t tmin, tmax;
};

static struct sel select_scores(const char *sc, const char *prefix)
{
    struct sel s = {0, 1e300, -1e300, INT64_MAX, INT64_MIN};
    size_t pl = strlen(prefix);
    for (const char *l = sc; l && *l;) {
        const char *nl = strchr(l, '\n');
        if (l[0] == '"' && !strncmp(l + 1, prefix, pl)) {
            const char *q = strstr(l, "\",");
            int64_t t;
            double v, score;
            if (q && sscanf(q + 2, "%" SCNd64 ",%lf,%lf", &t, &v, &score) == 3) {
                s.n++;
                s.vmin = v < s.vmin ? v : s.vmin;
                s.vmax = v > s.vmax ? v : s.vmax;
                s.tmin = t < s.tmin ? t : s.tmin;
                s.tmax = t > s.tmax ? t : s.tmax;
            }
        }
        l = nl ? nl + 1 : l + strlen(l);
    }
    return s;
}

static void test_node_exporter(void **state)
{
    (void)state;
    if (access(NODE_EXPORTER, X_OK) != 0) {
        print_message("skipped: %s is not installed (apt-get install prometheus-node-exporter)\n", NODE_EXPORTER);
        skip();
    }
    int port = free_port();
    assert_true(port > 0);
    char listen[64], log[128], cfg[128], sc[128], err[128];
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/node_exporter.log", dir);
    /* the cheap collectors only: cpu and stat give counters, loadavg and
     * meminfo gauges */
    char *argv[] = {NODE_EXPORTER, listen, "--collector.disable-defaults", "--collector.cpu",
                    "--collector.stat", "--collector.loadavg", "--collector.meminfo", NULL};
    pid_t ne = spawn(argv, log);
    assert_true(ne > 0);
    assert_true(port_up(port));

    snprintf(cfg, sizeof cfg, "%s/node.yaml", dir);
    snprintf(sc, sizeof sc, "%s/node.csv", dir);
    snprintf(err, sizeof err, "%s/node.err", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "input:\n  entity_tag: [host, instance]\n"
            "scrape:\n  interval: 500ms\n  timeout: 400ms\n"
            "  targets:\n    - url: http://127.0.0.1:%d/metrics\n      job: node\n      labels: {rack: r1}\n"
            "incidents:\n  output: %s/node.jsonl\n",
            port, dir);
    fclose(f);
    int64_t t0 = wall_ns();
    int rc = mend_for(cfg, sc, err, 2600);
    int64_t t1 = wall_ns();
    stop(ne); /* node_exporter dies of SIGTERM: its status says nothing */
    char *s = slurp(sc), *e = slurp(err);
    assert_non_null(s);
    assert_non_null(e);
    print_message("%s", e);
    assert_int_equal(rc, 0);

    char inst[64];
    snprintf(inst, sizeof inst, "instance=127.0.0.1:%d", port);
    /* labels: job, instance, the extra one, sorted into the key */
    char key[160];
    snprintf(key, sizeof key, "node_cpu_seconds_total,cpu=0,%s,job=node,mode=user,rack=r1", inst);
    struct sel cpu = select_scores(s, key);
    /* counters are rates: cpu seconds per second of one cpu in one mode */
    struct sel all_cpu = select_scores(s, "node_cpu_seconds_total,");
    snprintf(key, sizeof key, "node_context_switches_total,%s,job=node,rack=r1", inst);
    struct sel cs = select_scores(s, key);
    snprintf(key, sizeof key, "node_memory_MemTotal_bytes,%s,job=node,rack=r1", inst);
    struct sel mem = select_scores(s, key);
    snprintf(key, sizeof key, "node_load1,%s,job=node,rack=r1", inst);
    struct sel load = select_scores(s, key);
    print_message("node_cpu_seconds_total{cpu=0,mode=user}: %d rates in [%g, %g]; every cpu series: %d rates in "
                  "[%g, %g]\nnode_context_switches_total: %d rates in [%g, %g]; MemTotal (gauge): %d values in "
                  "[%g, %g]; load1: %d\n",
                  cpu.n, cpu.vmin, cpu.vmax, all_cpu.n, all_cpu.vmin, all_cpu.vmax, cs.n, cs.vmin, cs.vmax, mem.n,
                  mem.vmin, mem.vmax, load.n);
    /* ~5 scrapes in 2.6 s at 500 ms; the first of a counter gives no rate */
    assert_true(cpu.n >= 2);
    assert_true(cpu.vmin >= 0 && cpu.vmax <= 1.5);
    assert_true(all_cpu.vmin >= 0 && all_cpu.vmax <= 1.5);
    assert_true(cs.n >= 2 && cs.vmin > 0 && cs.vmax < 1e8);
    assert_true(mem.n >= 3 && mem.vmin > 1e6); /* a gauge stays a level */
    assert_true(mem.vmin == mem.vmax);
    assert_true(load.n >= 3);
    /* every sample is stamped with its scrape's time */
    struct sel any = select_scores(s, "node_");
    assert_true(any.tmin >= t0 && any.tmax <= t1);
    /* one entity: the instance (there is no host label) */
    assert_non_null(strstr(e, " series, 1 entities"));
    assert_non_null(strstr(e, " failed, 0 over body_limit"));
    assert_null(strstr(e, "scrape failed"));
    free(s);
    free(e);
}

static void write_file(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_limits_and_targets_file(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        print_message("skipped: python3 (its http.server) is not installed\n");
        skip();
    }
    int port = free_port();
    char www[128];
    snprintf(www, sizeof www, "%s/www", dir);
    assert_int_equal(run("mkdir -p %s", www), 0);
    write_file("www/a.prom", "# TYPE x_total counter\nx_total{job=\"exported\",k=\"v\"} 5\nup 1\n");
    write_file("www/metrics", "# TYPE y gauge\ny 2\n");
    /* 4 labels of its own + job + instance > label_limit 5 */
    write_file("www/wide.prom", "w{a=\"1\",b=\"2\",c=\"3\",d=\"4\"} 1\n");
    char many[4096] = "", big[3000];
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "m%d 1\n", i);
    write_file("www/many.prom", many);
    memset(big, 'z', sizeof big - 2);
    memcpy(big, "# ", 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    write_file("www/big.prom", big);
    char tf[160];
    snprintf(tf, sizeof tf, "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"job\": \"fromfile\", \"team\": \"t\"}}]\n",
             port);
    write_file("targets.json", tf);

    char sport[16], log[128];
    snprintf(sport, sizeof sport, "%d", port);
    snprintf(log, sizeof log, "%s/http.log", dir);
    char *argv[] = {"/usr/bin/python3", "-m", "http.server", sport, "--bind", "127.0.0.1", "--directory", www, NULL};
    pid_t py = spawn(argv, log);
    assert_true(py > 0);
    assert_true(port_up(port));

    char cfg[128], sc[128], err[128];
    snprintf(cfg, sizeof cfg, "%s/lim.yaml", dir);
    snprintf(sc, sizeof sc, "%s/lim.csv", dir);
    snprintf(err, sizeof err, "%s/lim.err", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "scrape:\n  interval: 300ms\n  timeout: 250ms\n  sample_limit: 20\n  label_limit: 5\n"
            "  body_limit: 2048\n  file: %s/targets.json\n  file_check: 200ms\n  job: j\n"
            "  targets:\n"
            "    - {url: \"http://127.0.0.1:%d/a.prom\"}\n"
            "    - {url: \"http://127.0.0.1:%d/missing\"}\n"
            "    - {url: \"http://127.0.0.1:%d/wide.prom\"}\n"
            "    - {url: \"http://127.0.0.1:%d/many.prom\"}\n"
            "    - {url: \"http://127.0.0.1:%d/big.prom\"}\n"
            "incidents:\n  output: %s/lim.jsonl\n",
            dir, port, port, port, port, port, dir);
    fclose(f);
    char *mv[] = {(char *)bin, "run", "--config", cfg, "--scores", sc, NULL};
    pid_t m = spawn(mv, err);
    assert_true(m > 0);
    sleep_ms(1000);
    /* the targets file changes: the target gets another label set */
    snprintf(tf, sizeof tf, "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"team\": \"u\"}}]\n", port);
    write_file("targets.json.new", tf);
    assert_int_equal(run("mv %s/targets.json.new %s/targets.json", dir, dir), 0);
    sleep_ms(1200);
    int rc = stop(m);
    stop(py);
    char *s = slurp(sc), *e = slurp(err);
    assert_non_null(s);
    assert_non_null(e);
    print_message("%s", e);
    assert_int_equal(rc, 0);
    char key[160];
    /* the exposed job label is kept as exported_job; x_total is a counter:
     * constant, so its rate is 0 */
    snprintf(key, sizeof key, "x_total,exported_job=exported,instance=127.0.0.1:%d,job=j,k=v\"", port);
    assert_non_null(strstr(s, key));
    struct sel x = select_scores(s, "x_total,");
    assert_true(x.n >= 1 && x.vmin == 0 && x.vmax == 0);
    /* file targets: /metrics with the file's labels, then the new ones */
    snprintf(key, sizeof key, "y,instance=127.0.0.1:%d,job=fromfile,team=t\"", port);
    assert_non_null(strstr(s, key));
    snprintf(key, sizeof key, "y,instance=127.0.0.1:%d,job=j,team=u\"", port);
    assert_non_null(strstr(s, key));
    /* and the old file target is no longer scraped */
    struct sel yt = select_scores(s, "y,instance=127.0.0.1"), yu = select_scores(s, key + 0);
    snprintf(key, sizeof key, "y,instance=127.0.0.1:%d,job=fromfile,team=t", port);
    yt = select_scores(s, key);
    snprintf(key, sizeof key, "y,instance=127.0.0.1:%d,job=j,team=u", port);
    yu = select_scores(s, key);
    assert_true(yt.n >= 1 && yu.n >= 2);
    assert_true(yt.tmax < yu.tmax - 500000000LL);
    /* refused whole and counted */
    assert_null(strstr(s, "\"w,"));
    assert_null(strstr(s, "\"m1,"));
    assert_non_null(strstr(e, "missing: scrape failed: HTTP status 404"));
    assert_non_null(strstr(e, "wide.prom: scrape failed: a sample with more than scrape.label_limit (5)"));
    assert_non_null(strstr(e, "many.prom: scrape failed: more than scrape.sample_limit (20)"));
    assert_non_null(strstr(e, "big.prom: scrape failed: body larger than scrape.body_limit (2048"));
    unsigned long done, failed, body, samples, labels;
    const char *l = strstr(e, "mend: scrapes: ");
    assert_non_null(l);
    assert_int_equal(sscanf(l, "mend: scrapes: %lu done, %lu failed, %lu over body_limit, %lu over sample_limit, "
                               "%lu over label_limit",
                            &done, &failed, &body, &samples, &labels),
                     5);
    assert_true(done >= 12 && failed >= 2 && body >= 2 && samples >= 2 && labels >= 2);
    free(s);
    free(e);
}

/* Bad scrape configurations are refused at start, naming the option. */
static void test_bad_config(void **state)
{
    (void)state;
    char cfg[128], err[128];
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", dir);
    snprintf(err, sizeof err, "%s/bad.err", dir);
    const char *bad[][2] = {
        {"scrape:\n  targets:\n    - url: ftp://x/metrics\n", "scrape.targets[0].url"},
        {"scrape:\n  interval: 1s\n  timeout: 2s\n  targets: [{url: \"http://x/\"}]\n", "scrape.timeout"},
        {"scrape:\n  targets:\n    - {url: \"http://x/\", labels: {\"__x\": y}}\n", "labels.__x"},
        {"scrape:\n  targets:\n    - {job: a}\n", "every target needs a url"},
        {"scrape:\n  targets: http://x/\n", "scrape.targets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(cfg, "w");
        assert_non_null(f);
        fputs(bad[i][0], f);
        fclose(f);
        assert_int_equal(run("%s run --config %s 2>%s", bin, cfg, err), 2);
        char *e = slurp(err);
        if (!strstr(e, bad[i][1]))
            fail_msg("case %zu: expected '%s' in: %s", i, bad[i][1], e);
        free(e);
    }
}

/* Prometheus's instance label from a URL. */
static void test_instance(void **state)
{
    (void)state;
    char b[64];
    const char *ok[][2] = {
        {"http://127.0.0.1:9100/metrics", "127.0.0.1:9100"}, {"http://node/metrics", "node:80"},
        {"https://node/x?y=1", "node:443"}, {"http://user:pw@h:1/", "h:1"},
        {"http://[::1]:9100/metrics", "[::1]:9100"}, {"https://[fe80::1]/", "[fe80::1]:443"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(mend_scrape_instance(ok[i][0], b, sizeof b), 0);
        assert_string_equal(b, ok[i][1]);
    }
    const char *bad[] = {"ftp://h/", "http:///x", "http://:80/", "http://[::1/", "node:9100"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mend_scrape_instance(bad[i], b, sizeof b), MEND_EINVAL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_exporter),
        cmocka_unit_test(test_limits_and_targets_file),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_instance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
