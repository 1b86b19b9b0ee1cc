/* test_cmd_score.c -- `mend score` as a process (MEND_BIN, set by make
 * test): a row without a newline far larger than the 64 KiB cap is one
 * error row and costs the cap, not its size, in memory (issue 5, defect
 * 8); and what score writes back, eval reads (defect 5). Skipped when
 * MEND_BIN is not set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mend/common.h"
#include "mend/eval.h"

static const char *mend_bin(void)
{
    const char *b = getenv("MEND_BIN");
    if (!b || access(b, X_OK) != 0) {
        fprintf(stderr, "MEND_BIN not set: skipped (make test sets it)\n");
        skip();
    }
    return b;
}

/* Runs `mend score` with stdin fed `total` bytes: `prefix`, then `fill`
 * repeated, no newline. stdout and stderr go to the files named. Returns
 * the exit status; *maxrss_kb gets the child's peak resident size. */
static int run_score(const char *prefix, char fill, size_t total, const char *out,
                     const char *errf, long *maxrss_kb)
{
    const char *bin = mend_bin();
    int in[2];
    assert_int_equal(pipe(in), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(in[0], 0);
        dup2(o, 1);
        dup2(e, 2);
        close(in[1]);
        execl(bin, bin, "score", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    signal(SIGPIPE, SIG_IGN);
    static char block[1 << 16];
    memset(block, fill, sizeof block);
    size_t plen = strlen(prefix);
    assert_int_equal(write(in[1], prefix, plen), (ssize_t)plen);
    for (size_t sent = plen; sent < total;) {
        size_t n = total - sent < sizeof block ? total - sent : sizeof block;
        ssize_t w = write(in[1], block, n);
        assert_true(w > 0);
        sent += (size_t)w;
    }
    close(in[1]);
    int st;
    struct rusage ru;
    assert_int_equal(wait4(pid, &st, 0, &ru), pid);
    *maxrss_kb = ru.ru_maxrss;
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static char *slurp(const char *path, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = calloc(1, cap + 1);
    assert_non_null(b);
    size_t n = fread(b, 1, cap, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void test_unbounded_line_is_bounded(void **state)
{
    (void)state;
    char out[] = "/tmp/mend-score-out-XXXXXX", errf[] = "/tmp/mend-score-err-XXXXXX";
    close(mkstemp(out));
    close(mkstemp(errf));
    /* 32 MiB in one row: reading it whole (as getline did) would take at
     * least that much memory; bounded reading stays near the 64 KiB cap
     * plus the process's own size (larger under ASan, hence the margin) */
    long rss;
    size_t total = (size_t)32 << 20;
    int rc = run_score("2024-01-01T00:00:00Z,", '7', total, out, errf, &rss);
    assert_int_equal(rc, 0);
    char *o = slurp(out, 4096), *e = slurp(errf, 4096);
    unlink(out);
    unlink(errf);
    assert_non_null(strstr(e, ":1:65537: row longer than 65536 bytes"));
    assert_non_null(strstr(e, "1 of 1 rows malformed"));
    assert_non_null(strstr(o, "timestamp,value,anomaly_score\n2024-01-01T00:00:00Z,777"));
    assert_non_null(strstr(o, ",,0\n"));
    if (rss > 24 * 1024)
        fail_msg("peak RSS %ld KiB for a %zu-byte row: not bounded", rss, total);
    free(o);
    free(e);
}

static void test_eval_reads_what_score_writes(void **state)
{
    (void)state;
    char out[] = "/tmp/mend-score-out-XXXXXX", errf[] = "/tmp/mend-score-err-XXXXXX";
    close(mkstemp(out));
    close(mkstemp(errf));
    long rss;
    const char *rows = "timestamp,value\n"
                       "2024-01-01T00:00:00+00:00,1\n"
                       "2024-01-01T01:00:00+00:00,2\n"
                       "2024-01-01T03:00:00+01:00,3\n";
    /* the last byte of rows is sent as the "fill" so total is exact */
    size_t n = strlen(rows);
    char prefix[256];
    memcpy(prefix, rows, n - 1);
    prefix[n - 1] = '\0';
    assert_int_equal(run_score(prefix, '\n', n, out, errf, &rss), 0);
    char *e = slurp(errf, 4096);
    assert_string_equal(e, "");
    free(e);
    struct mend_eval_series s;
    char err[256] = "";
    int rc = mend_eval_series_load(out, &s, err, sizeof err);
    unlink(out);
    unlink(errf);
    if (rc)
        fail_msg("eval refused score's output: %s", err);
    assert_int_equal(s.n, 3);
    assert_true(s.time_ns[2] - s.time_ns[0] == INT64_C(7200000000000));
    mend_eval_series_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbounded_line_is_bounded),
        cmocka_unit_test(test_eval_reads_what_score_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
