/* test_daemon.c -- `mend run` as a daemon (issue 10): /metrics passes
 * `promtool check metrics` and is scraped by a real Prometheus server,
 * /healthz answers, SIGHUP reopens outputs and never kills, nothing is
 * opened for writing before the command line is known good, a checkpoint
 * path that cannot be written stops the start (exit 1), a checkpoint that
 * fails later is reported and counted and makes the exit non-zero, a
 * checkpoint from other options names the option, --discard-checkpoint
 * starts fresh.
 *
 * The binary is $MEND_BIN (set by `make test`), else ./bin/mend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define FIX "tests/fixtures/cli/"

static char dir[64];
static const char *bin;

static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    (void)state;
    bin = getenv("MEND_BIN");
    if (!bin || !*bin)
        bin = "./bin/mend";
    snprintf(dir, sizeof dir, "/tmp/mend-test-daemon-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return run("rm -rf %s", dir);
}

/* A running daemon: its pid, its stderr, and the ports it said. */
struct daemon {
    pid_t pid;
    FILE *err;
    int port, metrics_port;
};

static void daemon_start(struct daemon *d, const char *const *extra)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "run";
    argv[n++] = "--listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--set";
    argv[n++] = "metrics.listen=127.0.0.1:0";
    for (int i = 0; extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int errp[2];
    assert_int_equal(pipe(errp), 0);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(errp[1]);
    d->err = fdopen(errp[0], "r");
    d->port = d->metrics_port = 0;
    char line[512];
    while ((!d->port || !d->metrics_port) && fgets(line, sizeof line, d->err)) {
        char *p = strstr(line, "(port ");
        if (p && strstr(line, "metrics on"))
            d->metrics_port = atoi(p + 6);
        else if (p)
            d->port = atoi(p + 6);
    }
    assert_true(d->port > 0);
    assert_true(d->metrics_port > 0);
}

static void feed(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
    fclose(in);
    close(fd);
}

/* A free loopback port for Prometheus's web listener (another test on
 * this machine may hold any fixed one). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Waits until the daemon's /metrics has line (a whole sample line). */
static int metrics_have(int port, const char *line)
{
    for (int i = 0; i < 200; i++) {
        if (run("curl -sf http://127.0.0.1:%d/metrics | grep -qx '%s'", port, line) == 0)
            return 1;
        nap_ms(25);
    }
    return 0;
}

/* Reads the daemon's stderr until a line with what (1), or EOF (0). */
static int err_until(struct daemon *d, const char *what)
{
    char line[1024];
    while (fgets(line, sizeof line, d->err))
        if (strstr(line, what))
            return 1;
    return 0;
}

static int daemon_stop(struct daemon *d)
{
    kill(d->pid, SIGTERM);
    int st;
    assert_int_equal(waitpid(d->pid, &st, 0), d->pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* /metrics: the counters move with the input, the exposition passes
 * promtool, and a real Prometheus scrapes it (up == 1); /healthz answers;
 * SIGHUP reopens the incidents file (a rotated one is left alone) and the
 * daemon lives on. */
static void test_metrics_promtool_prometheus_sighup(void **state)
{
    (void)state;
    char inc[128], ck[128];
    snprintf(inc, sizeof inc, "%s/inc.jsonl", dir);
    snprintf(ck, sizeof ck, "%s/state.ckpt", dir);
    const char *extra[] = {"--incidents", inc, "--checkpoint", ck, "--set", "checkpoint.interval=10m", NULL};
    struct daemon d;
    alarm(60);
    daemon_start(&d, extra);
    feed(d.port, FIX "run.lp");
    assert_true(metrics_have(d.metrics_port, "mend_samples_total 3600"));
    assert_true(metrics_have(d.metrics_port, "mend_series [1-9][0-9]*"));
    assert_int_equal(run("curl -sf http://127.0.0.1:%d/metrics > %s/m.txt", d.metrics_port, dir), 0);
    assert_int_equal(run("grep -q '^mend_input_lines_total{input=\"tcp://127.0.0.1:0\"} 1800$' %s/m.txt", dir), 0);
    assert_int_equal(run("grep -q '^# TYPE mend_anomalies_total counter$' %s/m.txt", dir), 0);
    assert_int_equal(run("grep -q '^mend_checkpoints_total [1-9]' %s/m.txt", dir), 0);
    assert_int_equal(run("grep -q '^mend_loop_lag_seconds ' %s/m.txt", dir), 0);
    assert_int_equal(run("grep -q '^mend_incidents_open ' %s/m.txt", dir), 0);
    if (run("command -v promtool >/dev/null") != 0)
        fail_msg("promtool is missing (Debian package prometheus)");
    assert_int_equal(run("promtool check metrics < %s/m.txt", dir), 0);
    /* /healthz, a 404, and a request over metrics.max_request */
    assert_int_equal(run("curl -sf http://127.0.0.1:%d/healthz | grep -qx ok", d.metrics_port), 0);
    assert_int_equal(run("test \"$(curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/nope)\" = 404",
                         d.metrics_port),
                     0);
    assert_int_equal(run("test \"$(curl -s -o /dev/null -w '%%{http_code}' -H \"X-Big: $(head -c 9000 /dev/zero | "
                         "tr '\\0' a)\" http://127.0.0.1:%d/metrics)\" = 431",
                         d.metrics_port),
                     0);

    /* a real Prometheus scrapes it */
    if (run("command -v prometheus >/dev/null") != 0)
        fail_msg("prometheus is missing (Debian package prometheus)");
    assert_int_equal(run("printf 'global:\\n  scrape_interval: 200ms\\n  scrape_timeout: 200ms\\nscrape_configs:\\n"
                         "  - job_name: mend\\n    static_configs:\\n      - targets: [\"127.0.0.1:%d\"]\\n' > "
                         "%s/prom.yml",
                         d.metrics_port, dir),
                     0);
    int pport = free_port();
    pid_t prom = fork();
    assert_true(prom >= 0);
    if (prom == 0) {
        char cfg[160], data[160], web[64];
        snprintf(web, sizeof web, "--web.listen-address=127.0.0.1:%d", pport);
        snprintf(cfg, sizeof cfg, "--config.file=%s/prom.yml", dir);
        snprintf(data, sizeof data, "--storage.tsdb.path=%s/promdata", dir);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execlp("prometheus", "prometheus", cfg, data, web, (char *)NULL);
        _exit(127);
    }
    int up = 0;
    for (int i = 0; i < 100 && !up; i++) {
        nap_ms(100);
        up = run("curl -sf 'http://127.0.0.1:%d/api/v1/query?query=up%%7Bjob%%3D%%22mend%%22%%7D' | "
                 "grep -q '\"value\":\\[[0-9.]*,\"1\"\\]'", pport) == 0;
    }
    int samples = up && run("curl -sf 'http://127.0.0.1:%d/api/v1/query?query=mend_samples_total' | "
                            "grep -q '\"3600\"'", pport) == 0;
    kill(prom, SIGTERM);
    waitpid(prom, NULL, 0);
    assert_true(up);
    assert_true(samples);

    /* SIGHUP: the rotated file keeps what it had, a new one is opened */
    assert_int_equal(run("mv %s %s.1", inc, inc), 0);
    kill(d.pid, SIGHUP);
    assert_true(err_until(&d, "SIGHUP: outputs reopened"));
    assert_int_equal(run("test -f %s", inc), 0);
    assert_true(metrics_have(d.metrics_port, "mend_sighup_total 1"));
    assert_int_equal(run("curl -sf http://127.0.0.1:%d/healthz >/dev/null", d.metrics_port), 0);
    assert_int_equal(daemon_stop(&d), 0);
    fclose(d.err);
    alarm(0);
}

/* A checkpoint that fails while running is said on stderr and counted in
 * /metrics; the final one failing makes `run` exit 1. */
static void test_checkpoint_failure_reported(void **state)
{
    (void)state;
    char sub[128], ck[160];
    snprintf(sub, sizeof sub, "%s/ckdir", dir);
    snprintf(ck, sizeof ck, "%s/state.ckpt", sub);
    assert_int_equal(run("mkdir -p %s", sub), 0);
    const char *extra[] = {"--checkpoint", ck, "--set", "checkpoint.interval=10m", "--incidents", "/dev/null", NULL};
    struct daemon d;
    alarm(30);
    daemon_start(&d, extra);
    /* the directory goes away after the start-up check (root ignores modes) */
    assert_int_equal(run("rm -rf %s", sub), 0);
    feed(d.port, FIX "run.lp");
    assert_true(err_until(&d, "checkpoint failed"));
    char want[64];
    snprintf(want, sizeof want, "mend_checkpoint_failures_total [1-9][0-9]*");
    assert_true(metrics_have(d.metrics_port, want));
    assert_int_equal(daemon_stop(&d), 1);
    fclose(d.err);
    alarm(0);
}

/* Nothing is opened for writing before the command line is known good: a
 * missing input after --incidents leaves the file as it was (and creates
 * nothing); outputs are appended. */
static void test_outputs_untouched_on_bad_command_line(void **state)
{
    (void)state;
    assert_int_equal(run("printf 'keep\\n' > %s/keep.jsonl", dir), 0);
    assert_int_equal(run("%s replay --quiet --incidents %s/keep.jsonl --scores %s/new.csv " FIX
                         "run.lp %s/no-such-file.lp 2>/dev/null",
                         bin, dir, dir, dir),
                     2);
    assert_int_equal(run("test \"$(cat %s/keep.jsonl)\" = keep", dir), 0);
    assert_int_not_equal(run("test -e %s/new.csv", dir), 0);
    /* a bad metrics address is refused before anything is written too */
    assert_int_equal(run("%s run --quiet --listen tcp://127.0.0.1:0 --set metrics.listen=nonsense "
                         "--incidents %s/new.jsonl 2>%s/err.txt",
                         bin, dir, dir),
                     2);
    assert_int_equal(run("grep -q 'metrics.listen' %s/err.txt", dir), 0);
    assert_int_not_equal(run("test -e %s/new.jsonl", dir), 0);
    /* a good run appends */
    assert_int_equal(run("%s replay --quiet --incidents %s/keep.jsonl " FIX "run.lp", bin, dir), 0);
    assert_int_equal(run("head -1 %s/keep.jsonl | grep -qx keep && test $(wc -l < %s/keep.jsonl) -gt 1", dir, dir),
                     0);
}

/* A checkpoint path that cannot be written fails at start, exit 1, with a
 * message naming it; nothing else was opened. */
static void test_checkpoint_path_checked_at_start(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay --quiet --checkpoint %s/no-dir/x.ckpt --incidents %s/ck-inc.jsonl " FIX
                         "run.lp 2>%s/err.txt",
                         bin, dir, dir, dir),
                     1);
    assert_int_equal(run("grep -q 'checkpoint path .*no-dir/x.ckpt cannot be written' %s/err.txt", dir), 0);
    assert_int_not_equal(run("test -e %s/ck-inc.jsonl", dir), 0);
    assert_int_equal(run("%s run --quiet --listen tcp://127.0.0.1:0 --checkpoint %s 2>%s/err.txt", bin, dir, dir),
                     1);
    assert_int_equal(run("grep -q 'not a regular file' %s/err.txt", dir), 0);
}

/* A checkpoint written under other options names the option; then
 * --discard-checkpoint starts fresh on purpose. */
static void test_checkpoint_option_named_and_discard(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay --quiet --set series.ring=64 --checkpoint %s/r.ckpt " FIX "part1.lp >/dev/null",
                         bin, dir),
                     0);
    assert_int_equal(run("%s replay --quiet --checkpoint %s/r.ckpt " FIX "part2.lp >/dev/null 2>%s/err.txt", bin,
                         dir, dir),
                     1);
    assert_int_equal(run("grep -q 'series.ring is 512 now but 64 in the checkpoint' %s/err.txt", dir), 0);
    assert_int_equal(run("grep -q -- '--discard-checkpoint' %s/err.txt", dir), 0);
    assert_int_equal(run("%s replay --discard-checkpoint --checkpoint %s/r.ckpt " FIX "part2.lp >/dev/null "
                         "2>%s/err.txt",
                         bin, dir, dir),
                     0);
    assert_int_equal(run("grep -q 'starting fresh' %s/err.txt", dir), 0);
    /* and the file now holds the new options' state */
    assert_int_equal(run("%s replay --quiet --checkpoint %s/r.ckpt " FIX "part2.lp >/dev/null", bin, dir), 0);
}

/* `mend --version` and `mend version`; `mend help CMD` is CMD's --help; a
 * missing input file is exit 2 in every command that reads one. */
static void test_cli_version_help_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(run("test \"$(%s --version)\" = \"$(%s version)\"", bin, bin), 0);
    assert_int_equal(run("%s version | grep -q '^mend [0-9]'", bin), 0);
    assert_int_equal(run("%s help run > %s/h1.txt && %s run --help > %s/h2.txt && cmp -s %s/h1.txt %s/h2.txt", bin,
                         dir, bin, dir, dir, dir),
                     0);
    assert_int_equal(run("%s help nosuch 2>/dev/null", bin), 2);
    const char *cmds[] = {"replay", "score", "templates", "run"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        assert_int_equal(run("%s %s %s/no-such-input.lp >/dev/null 2>&1", bin, cmds[i], dir), 2);
    assert_int_equal(run("%s --help | grep -q 'input file that cannot be opened'", bin), 0);
}

/* make install: binary, a man page per command, completion, example
 * configuration, and a sandboxed systemd unit that systemd-analyze
 * verify accepts. */
static void test_install(void **state)
{
    (void)state;
    char root[128];
    snprintf(root, sizeof root, "%s/inst", dir);
    assert_int_equal(run("sh scripts/install.sh %s '' %s/usr %s/etc >/dev/null", bin, root, root), 0);
    assert_int_equal(run("test -x %s/usr/bin/mend", root), 0);
    const char *pages[] = {"mend", "mend-run", "mend-replay", "mend-score", "mend-eval", "mend-templates"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
        assert_int_equal(run("MANWIDTH=80 man -l %s/usr/share/man/man1/%s.1 2>/dev/null | grep -q '%s'", root,
                             pages[i], pages[i]),
                         0);
    assert_int_equal(run("bash -n %s/usr/share/bash-completion/completions/mend", root), 0);
    assert_int_equal(run("bash -c '. %s/usr/share/bash-completion/completions/mend && complete -p mend' "
                         ">/dev/null",
                         root),
                     0);
    /* the example configuration is one mend accepts */
    assert_int_equal(run("%s replay --quiet --config %s/etc/mend/mend.yaml " FIX "run.lp >/dev/null", bin, root), 0);
    char unit[192];
    snprintf(unit, sizeof unit, "%s/usr/lib/systemd/system/mend.service", root);
    const char *need[] = {"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=mend", "LogsDirectory=mend",
                          "ExecReload=/bin/kill -HUP"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        assert_int_equal(run("grep -q '^%s' %s", need[i], unit), 0);
    if (run("command -v systemd-analyze >/dev/null") != 0) {
        fprintf(stderr, "SKIP systemd-analyze verify: systemd-analyze is not installed (Debian package systemd)\n");
        return;
    }
    assert_int_equal(run("systemd-analyze verify --man=no %s", unit), 0);
}

/* Garbage on stdin is counted as malformed (read as line protocol when no
 * format can be told), the good lines after it still count, and --strict
 * makes it exit 3; a CSV without a header is an error that says so. */
static void test_garbage_stdin_and_csv_shapes(void **state)
{
    (void)state;
    assert_int_equal(run("printf 'hello world\\n\\001\\002garbage;;;\\nzzz\\ncpu,host=a v=1 1000000000\\n' | "
                         "%s replay - > /dev/null 2>%s/err.txt",
                         bin, dir),
                     0);
    assert_int_equal(run("grep -q '1 samples, 1 series, 1 entities, 4 malformed lines' %s/err.txt", dir), 0);
    assert_int_equal(run("head -c 4000 /dev/urandom | %s replay --strict - > /dev/null 2>&1", bin), 3);
    assert_int_equal(run("printf '1,2\\n3,4\\n' > %s/nh.csv && %s replay %s/nh.csv >/dev/null 2>%s/err.txt", dir,
                         bin, dir, dir),
                     0);
    assert_int_equal(run("grep -q 'nh.csv:1:1: CSV without a header' %s/err.txt", dir), 0);
    assert_int_equal(run("grep -q '0 samples' %s/err.txt", dir), 0);
    assert_int_equal(run("printf 'timestamp,host,metric,value\\n1700000000,a,cpu,1\\n1700000001,b,cpu,2\\n' > "
                         "%s/long.csv && %s replay --format csvlong %s/long.csv >/dev/null 2>%s/err.txt",
                         dir, bin, dir, dir),
                     0);
    assert_int_equal(run("grep -q '2 samples, 2 series, 2 entities, 0 malformed' %s/err.txt", dir), 0);
    assert_int_equal(run("%s replay --help | grep -q 'long (csvlong)'", bin), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_version_help_exit_codes),
        cmocka_unit_test(test_install),
        cmocka_unit_test(test_garbage_stdin_and_csv_shapes),
        cmocka_unit_test(test_outputs_untouched_on_bad_command_line),
        cmocka_unit_test(test_checkpoint_path_checked_at_start),
        cmocka_unit_test(test_checkpoint_option_named_and_discard),
        cmocka_unit_test(test_checkpoint_failure_reported),
        cmocka_unit_test(test_metrics_promtool_prometheus_sighup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
