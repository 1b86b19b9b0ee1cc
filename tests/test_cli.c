/* test_cli.c -- the mend binary as a user runs it: replays are
 * byte-identical, a replay resumed from its checkpoint writes what one
 * uninterrupted replay writes, malformed lines are reported as
 * file:line:col and counted, exit codes, --help.
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

static char *slurp(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static int setup(void **state)
{
    (void)state;
    bin = getenv("MEND_BIN");
    if (!bin || !*bin)
        bin = "./bin/mend";
    snprintf(dir, sizeof dir, "/tmp/mend-test-cli-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return run("rm -rf %s", dir);
}

static void test_replay_is_deterministic(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay --quiet " FIX "run.lp > %s/a.jsonl", bin, dir), 0);
    assert_int_equal(run("%s replay --quiet --scores %s/s.csv " FIX "run.lp > %s/b.jsonl", bin, dir, dir), 0);
    size_t la, lb;
    char *a = slurp("a.jsonl", &la), *b = slurp("b.jsonl", &lb);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    /* the spike on host a at step 600 is found */
    assert_non_null(strstr(a, "\"type\":\"open\""));
    assert_non_null(strstr(a, "\"key\":\"app,host=a cpu\""));
    /* one score row per sample: 900 steps x 2 hosts x 2 fields */
    char *s = slurp("s.csv", NULL);
    size_t rows = 0;
    for (char *p = s; *p; p++)
        rows += *p == '\n';
    assert_int_equal(rows, 3600);
    free(a);
    free(b);
    free(s);
}

static void test_resume_from_checkpoint(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay --quiet --scores %s/full.csv " FIX "run.lp > %s/full.jsonl", bin, dir, dir), 0);
    assert_int_equal(run("%s replay --quiet --checkpoint %s/ck --scores %s/p1.csv " FIX "part1.lp > %s/p1.jsonl",
                         bin, dir, dir, dir),
                     0);
    assert_int_equal(run("%s replay --quiet --checkpoint %s/ck --scores %s/p2.csv " FIX "part2.lp > %s/p2.jsonl",
                         bin, dir, dir, dir),
                     0);
    assert_int_equal(run("cat %s/p1.csv %s/p2.csv > %s/parts.csv && cmp -s %s/parts.csv %s/full.csv", dir, dir, dir,
                         dir, dir),
                     0);
    assert_int_equal(run("cat %s/p1.jsonl %s/p2.jsonl > %s/parts.jsonl && cmp -s %s/parts.jsonl %s/full.jsonl", dir,
                         dir, dir, dir, dir),
                     0);
    /* without the checkpoint the second half scores differently: the test
     * above is not trivially true */
    assert_int_equal(run("%s replay --quiet --scores %s/cold.csv " FIX "part2.lp > /dev/null", bin, dir), 0);
    assert_int_not_equal(run("cat %s/p1.csv %s/cold.csv | cmp -s - %s/full.csv", dir, dir, dir), 0);
    /* a damaged checkpoint is refused with exit 1 and a message naming it */
    assert_int_equal(run("printf 'MENDCKPTjunk' > %s/bad.ckpt", dir), 0);
    assert_int_equal(run("%s replay --quiet --checkpoint %s/bad.ckpt " FIX "part2.lp > /dev/null 2> %s/err.txt",
                         bin, dir, dir),
                     1);
    char *err = slurp("err.txt", NULL);
    assert_non_null(strstr(err, "bad.ckpt"));
    free(err);
}

/* Replay merges its inputs by event time: a recording split into one file
 * per host (tests/fixtures/cli/split-*.lp, cut from whole.lp with awk) gives
 * byte-identical incidents and scores -- a pipe among them too. Read one
 * after another, the split lost db-1's absence incidents. */
static void test_split_recording_replays_as_whole(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay --quiet --scores %s/ws.csv " FIX "whole.lp > %s/w.jsonl", bin, dir, dir), 0);
    assert_int_equal(run("%s replay --quiet --scores %s/ss.csv " FIX "split-web-1.lp " FIX "split-web-2.lp " FIX
                         "split-db-1.lp > %s/s.jsonl",
                         bin, dir, dir),
                     0);
    assert_int_equal(run("cmp -s %s/w.jsonl %s/s.jsonl", dir, dir), 0);
    assert_int_equal(run("cmp -s %s/ws.csv %s/ss.csv", dir, dir), 0);
    assert_int_equal(run("cat " FIX "split-web-2.lp | %s replay --quiet --format lp --scores %s/ps.csv " FIX
                         "split-web-1.lp - " FIX "split-db-1.lp > %s/p.jsonl",
                         bin, dir, dir),
                     0);
    assert_int_equal(run("cmp -s %s/w.jsonl %s/p.jsonl", dir, dir), 0);
    assert_int_equal(run("cmp -s %s/ws.csv %s/ps.csv", dir, dir), 0);
    /* what the split must not lose: db-1 went silent for an hour */
    char *w = slurp("w.jsonl", NULL);
    assert_non_null(strstr(w, "\"kind\":\"absence\""));
    assert_non_null(strstr(w, "sys,host=db-1 cpu"));
    free(w);
}

static void test_malformed_lines(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay " FIX "bad.lp > /dev/null 2> %s/err.txt", bin, dir), 0);
    char *err = slurp("err.txt", NULL);
    assert_non_null(strstr(err, FIX "bad.lp:51:"));
    assert_non_null(strstr(err, FIX "bad.lp:52:"));
    assert_non_null(strstr(err, FIX "bad.lp:53:"));
    assert_non_null(strstr(err, "3 malformed lines"));
    /* the good lines around them were all scored: 100 lines x 2 fields */
    assert_non_null(strstr(err, "200 samples"));
    free(err);
    assert_int_equal(run("%s replay --strict --quiet " FIX "bad.lp > /dev/null 2>&1", bin), 3);
}

static void test_usage_and_help(void **state)
{
    (void)state;
    assert_int_equal(run("%s --help > %s/h.txt", bin, dir), 0);
    assert_int_equal(run("%s replay --help > %s/h.txt", bin, dir), 0);
    char *h = slurp("h.txt", NULL);
    assert_non_null(strstr(h, "--checkpoint"));
    assert_non_null(strstr(h, "detect.threshold"));
    assert_non_null(strstr(h, "exit codes"));
    free(h);
    assert_int_equal(run("%s > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s frobnicate > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s replay > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s replay --bogus x > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s replay --set series.ring=1 " FIX "run.lp > /dev/null 2>&1", bin), 2);
    assert_int_equal(run("%s replay %s/does-not-exist.lp > /dev/null 2> %s/err.txt", bin, dir, dir), 2);
    char *err = slurp("err.txt", NULL);
    assert_non_null(strstr(err, "does-not-exist.lp"));
    free(err);
    assert_int_equal(run("%s run > /dev/null 2>&1", bin), 2);
}

/* The daemon: listens on an ephemeral TCP port, takes line protocol from a
 * real connection, and on SIGTERM writes its checkpoint and exits 0. */
static void test_daemon_tcp_sigterm(void **state)
{
    (void)state;
    char inc[128], ck[128];
    snprintf(inc, sizeof inc, "%s/daemon.jsonl", dir);
    snprintf(ck, sizeof ck, "%s/daemon.ckpt", dir);
    int errp[2];
    assert_int_equal(pipe(errp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        execl(bin, bin, "run", "--listen", "tcp://127.0.0.1:0", "--incidents", inc, "--checkpoint", ck, "--set",
              "checkpoint.interval=10m", (char *)NULL);
        _exit(127);
    }
    close(errp[1]);
    alarm(30); /* a hung daemon fails the test instead of hanging it */
    FILE *err = fdopen(errp[0], "r");
    char line[512];
    int port = 0;
    while (!port && fgets(line, sizeof line, err)) {
        char *p = strstr(line, "(port ");
        if (p)
            port = atoi(p + 6);
    }
    assert_true(port > 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    FILE *in = fopen(FIX "run.lp", "rb");
    assert_non_null(in);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
    fclose(in);
    /* cut off by the disconnect: counted as truncated, not ingested */
    assert_int_equal(write(fd, "app,host=a cpu=1", 16), 16);
    /* half-close, then wait for the daemon to close its side: it does so
     * once it has read everything up to our end of stream, so the SIGTERM
     * below cannot overtake data still in the socket */
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    /* wait for the spike's incident to reach the file, then stop the daemon */
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) {
        struct timespec ts = {0, 25000000};
        nanosleep(&ts, NULL);
        seen = run("grep -q 'app,host=a cpu' %s", inc) == 0;
    }
    assert_true(seen);
    /* event time passed checkpoint.interval many times: written while
     * running, from the loop's turn */
    for (int i = 0; i < 200 && run("test -s %s", ck) != 0; i++) {
        struct timespec ts = {0, 25000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(run("test -s %s", ck), 0);
    kill(pid, SIGTERM);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    int samples = 0, truncated = 0;
    while (fgets(line, sizeof line, err)) {
        if (strstr(line, "3600 samples"))
            samples = 1;
        if (strstr(line, "1 truncated lines"))
            truncated = 1;
    }
    fclose(err);
    alarm(0);
    assert_true(samples);
    assert_true(truncated);
    /* the checkpoint it wrote at exit restores */
    assert_int_equal(run("%s replay --quiet --checkpoint %s " FIX "part2.lp > /dev/null", bin, ck), 0);
}

/* `run` keeps its timers on the clock: while live input is silent, the
 * clock moves event time on, so a series that stops is reported absent
 * without any further sample. */
static void test_daemon_silence_moves_time(void **state)
{
    (void)state;
    char inc[128];
    snprintf(inc, sizeof inc, "%s/silence.jsonl", dir);
    int errp[2];
    assert_int_equal(pipe(errp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        execl(bin, bin, "run", "--quiet", "--listen", "tcp://127.0.0.1:0", "--incidents", inc, "--set",
              "absence.min=1s", "--set", "engine.tick=1s", (char *)NULL);
        _exit(127);
    }
    close(errp[1]);
    alarm(30);
    FILE *err = fdopen(errp[0], "r");
    char line[512];
    int port = 0;
    while (!port && fgets(line, sizeof line, err)) {
        char *p = strstr(line, "(port ");
        if (p)
            port = atoi(p + 6);
    }
    assert_true(port > 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long t = (long long)now.tv_sec * 1000000000LL + now.tv_nsec - 2000000000LL;
    for (int i = 0; i < 20; i++) {
        int n = snprintf(line, sizeof line, "quiet,host=q v=%d %lld\n", i % 3, t + i * 100000000LL);
        assert_int_equal(write(fd, line, (size_t)n), n);
    }
    /* no more samples: only the clock can make it absent */
    int seen = 0;
    for (int i = 0; i < 400 && !seen; i++) {
        struct timespec ts = {0, 25000000};
        nanosleep(&ts, NULL);
        seen = run("grep -q '\"kind\":\"absence\"' %s", inc) == 0;
    }
    close(fd);
    kill(pid, SIGTERM);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    fclose(err);
    alarm(0);
    assert_true(seen);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The README's option list must stay true to the binary. */
static void test_readme_documents_every_option(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay --help > %s/help.txt", bin, dir), 0);
    char *help = slurp("help.txt", NULL);
    FILE *f = fopen("README.md", "rb");
    assert_non_null(f);
    static char readme[1 << 17];
    size_t n = fread(readme, 1, sizeof readme - 1, f);
    readme[n] = '\0';
    fclose(f);
    int keys = 0;
    char *opts = strstr(help, "options (KEY, default, meaning):");
    assert_non_null(opts);
    for (char *line = strtok(opts, "\n"); line; line = strtok(NULL, "\n")) {
        char key[64];
        if (sscanf(line, "  %63s", key) == 1 && strchr(key, '.') && line[2] != ' ') {
            keys++;
            if (!strstr(readme, key))
                fail_msg("README.md does not document option %s (run scripts/readme-options.sh)", key);
        }
    }
    assert_true(keys > 30);
    free(help);
}

/* Untimestamped samples in a replay never get time 0 (1970): before any
 * timestamp they get the replay's start, after one the newest time seen,
 * and the summary counts both and says the time. */
static void test_untimed_replay(void **state)
{
    (void)state;
    assert_int_equal(run("printf 'cpu,host=a v=1\\ncpu,host=a v=2\\nmem,host=a v=3 1700000000000000000\\n"
                         "mem,host=a v=4\\n' > %s/untimed.lp",
                         dir),
                     0);
    time_t before = time(NULL);
    assert_int_equal(run("%s replay --scores %s/untimed.csv %s/untimed.lp > /dev/null 2> %s/untimed.err", bin, dir,
                         dir, dir),
                     0);
    char *sc = slurp("untimed.csv", NULL), *err = slurp("untimed.err", NULL);
    long long t1, t2, t4;
    assert_int_equal(sscanf(sc, "\"cpu,host=a v\",%lld,1,", &t1), 1);
    const char *l2 = strstr(sc, "\"cpu,host=a v\",");
    l2 = l2 ? strstr(l2 + 1, "\"cpu,host=a v\",") : NULL;
    assert_non_null(l2);
    assert_int_equal(sscanf(l2, "\"cpu,host=a v\",%lld,2,", &t2), 1);
    assert_true(t1 >= (long long)before * 1000000000LL && t1 == t2);
    const char *l4 = strstr(sc, ",4,");
    assert_non_null(l4);
    while (l4 > sc && l4[-1] != '"')
        l4--;
    assert_int_equal(sscanf(l4 - 1, "\",%lld,4,", &t4), 1);
    assert_int_equal(t4, t1); /* the newest time seen: the replay's start */
    assert_non_null(strstr(err, "mend: 3 samples had no timestamp: 1 got the newest event time seen before them, "
                                "2 (before any timestamp) the replay's start, 20"));
    free(sc);
    free(err);
}

/* The Telegraf trial's feed (tests/fixtures/cli/telegraf_counters.py):
 * net bytes_recv is cumulative; a x10 burst at 00:10 and a reboot (the
 * counter falls to ~0) at 00:35. As rates, the burst opens an incident
 * and the reset none; as raw values (counters.enabled=false, what mend
 * did before) it is the other way round. */
static void test_telegraf_counters(void **state)
{
    (void)state;
    assert_int_equal(run("%s replay " FIX "telegraf_counters.lp > %s/tc.jsonl 2> %s/tc.err", bin, dir, dir), 0);
    assert_int_equal(run("%s replay --set counters.enabled=false " FIX "telegraf_counters.lp > %s/tc0.jsonl 2>/dev/null",
                         bin, dir),
                     0);
    char *on = slurp("tc.jsonl", NULL), *off = slurp("tc0.jsonl", NULL), *err = slurp("tc.err", NULL);
    assert_non_null(strstr(on, "\"type\":\"open\",\"incident\":1,\"entity\":\"web-1\",\"time\":\"2023-11-15T00:10:00Z\""));
    assert_null(strstr(on, "\"start\":\"2023-11-15T00:35"));
    assert_null(strstr(off, "\"start\":\"2023-11-15T00:10"));
    assert_non_null(strstr(off, "\"type\":\"open\",\"incident\":1,\"entity\":\"web-1\",\"time\":\"2023-11-15T00:35:00Z\""));
    assert_non_null(strstr(err, "mend: counters: 2 series scored as per-second rates (0 found monotonic), 2 resets"));
    free(on);
    free(off);
    free(err);
}

/* A counter's kind survives the merge of two recordings (the queued
 * path): its scores are rates. */
static void test_prom_counters_merged(void **state)
{
    (void)state;
    assert_int_equal(run("printf '# TYPE req_total counter\\nreq_total{instance=\"a\"} 100 1700000000000\\n"
                         "req_total{instance=\"a\"} 110 1700000001000\\nreq_total{instance=\"a\"} 130 1700000002000\\n'"
                         " > %s/a.prom && printf 'g 1 1700000000500\\ng 2 1700000001500\\n' > %s/b.prom",
                         dir, dir),
                     0);
    assert_int_equal(run("%s replay --scores %s/m.csv %s/a.prom %s/b.prom > /dev/null 2> %s/m.err", bin, dir, dir, dir,
                         dir),
                     0);
    char *sc = slurp("m.csv", NULL), *err = slurp("m.err", NULL);
    assert_non_null(strstr(sc, "\"req_total,instance=a\",1700000001000000000,10,"));
    assert_non_null(strstr(sc, "\"req_total,instance=a\",1700000002000000000,20,"));
    assert_non_null(strstr(sc, "\"g\",1700000001500000000,2,"));
    assert_non_null(strstr(err, "mend: counters: 1 series scored as per-second rates"));
    free(sc);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_is_deterministic),
        cmocka_unit_test(test_resume_from_checkpoint),
        cmocka_unit_test(test_split_recording_replays_as_whole),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_usage_and_help),
        cmocka_unit_test(test_readme_documents_every_option),
        cmocka_unit_test(test_daemon_tcp_sigterm),
        cmocka_unit_test(test_daemon_silence_moves_time),
        cmocka_unit_test(test_untimed_replay),
        cmocka_unit_test(test_telegraf_counters),
        cmocka_unit_test(test_prom_counters_merged),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
