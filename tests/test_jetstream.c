/* test_jetstream.c -- the "jetstream" input against a real nats-server
 * (JetStream on, loopback, temporary store), driven through the mend binary:
 *   - a recording published to the stream and consumed by `mend run` gives
 *     byte for byte the incidents and scores of `mend replay` of the file;
 *   - with a checkpoint, messages stay unacknowledged until the checkpoint
 *     that holds them is committed (here: the final one at SIGTERM);
 *   - kill -9 after a committed checkpoint: the restarted engine restores it
 *     and gets exactly the unacknowledged messages again, so its state
 *     counts every sample once (3600, as replay).
 *
 * The binary is $MEND_BIN (set by `make test`), else ./bin/mend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nats_harness.h"

#define FIX "tests/fixtures/cli/"

static char dir[64];
static const char *bin;
static int port;
static pid_t srv;
static natsConnection *nc;
static jsCtx *js;

static int setup(void **state)
{
    (void)state;
    bin = getenv("MEND_BIN");
    if (!bin || !*bin)
        bin = "./bin/mend";
    snprintf(dir, sizeof dir, "/tmp/mend-test-js-XXXXXX");
    if (!mkdtemp(dir) || (port = nh_free_port()) < 0)
        return -1;
    char sd[128];
    snprintf(sd, sizeof sd, "%s/js", dir);
    srv = nh_server(port, sd);
    if (!(nc = nh_connect(port)) || natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return -1;
    return nh_stream(js, "MEND", "mend.in.>", 1);
}

static int teardown(void **state)
{
    (void)state;
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nh_stop(srv, SIGTERM);
    return getenv("MEND_KEEP") ? 0 : run("rm -rf %s", dir);
}

/* Publishes a fixture file to subject, per_msg lines a message. */
static int publish_file(const char *path, const char *subject, int per_msg)
{
    size_t len;
    char *b = slurp(path, &len);
    assert_non_null(b);
    int n = nh_publish_lines(js, subject, b, len, per_msg);
    assert_true(n > 0);
    free(b);
    return n;
}

/* Starts `mend run` on durable with extra options; log to dir/NAME.log. */
static pid_t start_mend(const char *name, const char *opts, const char *durable, const char *subject,
                        const char *ack)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "exec %s run %s --incidents %s/%s.jsonl --scores %s/%s.csv "
             "'jetstream://127.0.0.1:%d/MEND/%s?subject=%s&batch=64%s' 2> %s/%s.log",
             bin, opts, dir, name, dir, name, port, durable, subject, ack, dir, name);
    char *argv[] = {"sh", "-c", cmd, NULL};
    return nh_spawn(argv, NULL);
}

/* Stops engine NAME (pid m) with sig; when it did not exit cleanly, its
 * log goes to the test output so a failure says why. */
static int stop_mend(const char *name, pid_t m, int sig)
{
    int st = nh_stop(m, sig);
    if (st != 0 && sig != SIGKILL) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s.log", dir, name);
        char *log = slurp(path, NULL);
        fprintf(stderr, "mend %s: wait status 0x%x; its log:\n%s\n", name, (unsigned)st, log ? log : "(none)");
        free(log);
    }
    return st;
}

/* Waits (up to 10 s) until the consumer has nothing pending and, when
 * want_ack_pending >= 0, exactly that many unacknowledged. */
static void wait_consumed(const char *durable, int64_t want_ack_pending)
{
    double until = nh_now() + 10;
    uint64_t pend = 1;
    int64_t ackp = -1;
    for (;;) {
        if (nh_consumer(js, "MEND", durable, &pend, &ackp, NULL) == 0 && pend == 0 &&
            (want_ack_pending < 0 ? ackp > 0 : ackp == want_ack_pending))
            return;
        if (nh_now() > until)
            fail_msg("consumer %s: %llu pending, %lld unacknowledged after 10 s", durable,
                     (unsigned long long)pend, (long long)ackp);
        nats_Sleep(20);
    }
}

static uint64_t summary_samples(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s.log", dir, name);
    char *log = slurp(path, NULL);
    assert_non_null(log);
    const char *last = NULL;
    for (char *p = strstr(log, " samples, "); p; p = strstr(p + 1, " samples, "))
        last = p;
    assert_non_null(last);
    while (last > log && last[-1] >= '0' && last[-1] <= '9')
        last--;
    uint64_t n = strtoull(last, NULL, 10);
    free(log);
    return n;
}

static void assert_files_equal(const char *a, const char *b)
{
    assert_int_equal(run("cmp -s %s/%s %s/%s", dir, a, dir, b), 0);
}

static void test_run_equals_replay(void **state)
{
    (void)state;
    publish_file(FIX "run.lp", "mend.in.0", 20);
    pid_t m = start_mend("live", "", "d0", "mend.in.0", "");
    /* no checkpoint: nothing durable to wait for, every turn acknowledges */
    wait_consumed("d0", 0);
    assert_int_equal(stop_mend("live", m, SIGTERM), 0);
    assert_int_equal(run("%s replay --quiet --incidents %s/rep.jsonl --scores %s/rep.csv " FIX "run.lp", bin, dir,
                         dir),
                     0);
    assert_files_equal("live.jsonl", "rep.jsonl");
    assert_files_equal("live.csv", "rep.csv");
    assert_int_equal(summary_samples("live"), 3600);
}

static void test_ack_after_checkpoint(void **state)
{
    (void)state;
    /* the reference: a replay resumed from part1's checkpoint */
    assert_int_equal(run("%s replay --quiet --checkpoint %s/ckr --scores %s/r1.csv " FIX "part1.lp > /dev/null", bin,
                         dir, dir),
                     0);
    assert_int_equal(run("%s replay --quiet --checkpoint %s/ckr --scores %s/r2.csv " FIX "part2.lp > /dev/null", bin,
                         dir, dir),
                     0);
    int m1 = publish_file(FIX "part1.lp", "mend.in.1", 25);
    /* a checkpoint interval longer than the data: no checkpoint until exit */
    char ck[128];
    snprintf(ck, sizeof ck, "--checkpoint %s/ck1 --set checkpoint.interval=100d", dir);
    pid_t m = start_mend("c1", ck, "d1", "mend.in.1", "&ack_wait_s=2");
    wait_consumed("d1", -1); /* all delivered, held for the checkpoint */
    uint64_t pend;
    int64_t ackp;
    assert_int_equal(nh_consumer(js, "MEND", "d1", &pend, &ackp, NULL), 0);
    assert_true(ackp > 0);
    assert_int_equal(stop_mend("c1", m, SIGTERM), 0); /* final checkpoint, then the acks */
    assert_int_equal(nh_consumer(js, "MEND", "d1", &pend, &ackp, NULL), 0);
    assert_int_equal(ackp, 0);

    /* the rest of the recording; this engine dies without a checkpoint */
    int m2 = publish_file(FIX "part2.lp", "mend.in.1", 25);
    m = start_mend("c2", ck, "d1", "mend.in.1", "&ack_wait_s=2");
    wait_consumed("d1", -1);
    nh_stop(m, SIGKILL);
    /* the next one restores part1's state and gets part2 again */
    m = start_mend("c3", ck, "d1", "mend.in.1", "&ack_wait_s=2");
    /* the killed engine's deliveries come back after ack_wait (600 s by
     * default; 2 s here): wait until the consumer has delivered part2 twice
     * (once to the dead engine, once to this one), then until this one's
     * scores stop growing */
    double until = nh_now() + 10;
    for (;;) {
        jsConsumerInfo *ci = NULL;
        jsErrCode je = 0;
        uint64_t dc = 0;
        if (js_GetConsumerInfo(&ci, js, "MEND", "d1", NULL, &je) == NATS_OK && ci) {
            dc = ci->Delivered.Consumer;
            jsConsumerInfo_Destroy(ci);
        }
        if (dc >= (uint64_t)(m1 + 2 * m2))
            break;
        if (nh_now() > until)
            fail_msg("consumer delivered %llu of %d after 10 s", (unsigned long long)dc, m1 + 2 * m2);
        nats_Sleep(20);
    }
    char c3[128];
    snprintf(c3, sizeof c3, "%s/c3.csv", dir);
    size_t last = (size_t)-1, len = 0;
    for (;;) {
        free(slurp(c3, &len));
        if (len == last)
            break;
        last = len;
        nats_Sleep(200);
    }
    assert_int_equal(stop_mend("c3", m, SIGTERM), 0);
    /* the state counts every sample of the recording once */
    assert_int_equal(summary_samples("c3"), 3600);
    /* and what the restored engine scored is what the resumed replay scores */
    assert_files_equal("c3.csv", "r2.csv");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_equals_replay),
        cmocka_unit_test(test_ack_after_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
