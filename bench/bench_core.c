/* bench_core.c -- throughput and memory of mend's hot path on one core.
 *
 *   bench_core parse FILE    parse only (line protocol), points counted
 *   bench_core score FILE    parse + the engine with its default
 *                            configuration (per-series scorer, entity
 *                            models, absence, incidents)
 *   bench_core ckpt N DIR    N series (12 per host) under the default
 *                            configuration, three samples each; then a
 *                            checkpoint written in this thread (the
 *                            reference: what ingest would wait without a
 *                            fork), and one written by a forked child while
 *                            ingest goes on, timing every batch of 10,000
 *                            samples: the longest batch is the stall
 *
 * The file is read into memory first so that disk speed is not measured.
 * Prints one line of key=value figures: samples, seconds, samples_per_s,
 * series, and for `score` the engine's own memory accounting and the growth
 * of the resident set, both per series. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mend/engine.h"
#include "mend/ingest.h"
#include "mend/state.h"

#include <sys/stat.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static int count_point(void *ctx, const struct mend_point *p)
{
    (void)p;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void on_error(void *ctx, uint64_t line, uint32_t col, const char *reason)
{
    (void)ctx;
    fprintf(stderr, "bench: %" PRIu64 ":%u: %s\n", line, col, reason);
}

static void discard(void *ctx, const char *status, const struct mend_incident *inc, const char *json, size_t len)
{
    (void)status;
    (void)inc;
    (void)json;
    (*(uint64_t *)ctx) += len > 0;
}

/* Feeds sample k of series s (value from k, host s/12). */
static void feed_one(struct mend_engine *e, uint32_t s, int64_t t, double v)
{
    char key[64], host[24];
    int hl = snprintf(host, sizeof host, "h%u", s / 12);
    int kl = snprintf(key, sizeof key, "cpu,host=%s f%u", host, s % 12);
    struct mend_point p = {.key = key, .key_len = (size_t)kl, .entity = host, .entity_len = (size_t)hl,
                           .time_ns = t, .has_time = 1, .value = v};
    mend_engine_point(e, &p);
}

static int bench_ckpt(uint32_t n, const char *dir)
{
    struct mend_engine_conf c;
    mend_engine_conf_defaults(&c);
    uint64_t incidents = 0;
    struct mend_incident_out io = {discard, &incidents};
    struct mend_engine *e;
    if (mend_engine_new(&c, &io, NULL, &e) != MEND_OK)
        return 1;
    int64_t t = 1700000000LL * 1000000000LL;
    for (int k = 0; k < 3; k++, t += 10LL * 1000000000LL)
        for (uint32_t s = 0; s < n; s++)
            feed_one(e, s, t, (double)(s % 97) + k);
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/bench.ckpt", dir);
    double t0 = now_s();
    if (mend_engine_checkpoint(e, path, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    double sync_s = now_s() - t0;
    struct stat sb;
    stat(path, &sb);
    /* ingest batches of 10,000 samples: a baseline, then with a checkpoint
     * being written by a forked child */
    uint32_t s = 0;
    double base = 0;
    for (int b = 0; b < 20; b++) {
        double b0 = now_s();
        for (int i = 0; i < 10000; i++, s = (s + 1) % n)
            feed_one(e, s, t + (int64_t)(s % 7), 1.0);
        double d = now_s() - b0;
        base = d > base ? d : base;
    }
    t += 10LL * 1000000000LL;
    struct mend_state_bg *bg;
    t0 = now_s();
    if (mend_engine_checkpoint_bg(e, path, &bg, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    double fork_s = now_s() - t0, stall = fork_s;
    uint64_t during = 0;
    int rc;
    while ((rc = mend_state_bg_reap(bg, 0, err, sizeof err)) == MEND_EAGAIN) {
        double b0 = now_s();
        for (int i = 0; i < 10000; i++, s = (s + 1) % n)
            feed_one(e, s, t + (int64_t)(s % 7), 1.0);
        during += 10000;
        double d = now_s() - b0;
        stall = d > stall ? d : stall;
    }
    double bg_s = now_s() - t0;
    mend_state_bg_free(bg);
    if (rc != MEND_OK) {
        fprintf(stderr, "bench: background checkpoint: %s\n", err);
        return 1;
    }
    unlink(path);
    printf("bench checkpoint series=%u file_mb=%.0f sync_s=%.2f bg_s=%.2f fork_ms=%.1f "
           "samples_during=%" PRIu64 " batch_ms=%.1f max_stall_ms=%.1f\n",
           n, (double)sb.st_size / 1e6, sync_s, bg_s, fork_s * 1e3, during, base * 1e3, stall * 1e3);
    mend_engine_free(e);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "ckpt"))
        return bench_ckpt((uint32_t)strtoul(argv[2], NULL, 10), argv[3]);
    if (argc != 3 || (strcmp(argv[1], "parse") && strcmp(argv[1], "score"))) {
        fprintf(stderr, "usage: bench_core parse|score FILE.lp | bench_core ckpt N DIR\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "bench: cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);

    struct mend_ingest_opts o;
    mend_ingest_opts_defaults(&o);
    struct mend_parser *p;
    if (mend_parser_new(MEND_FMT_LP, &o, &p) != MEND_OK)
        return 1;
    uint64_t points = 0, incidents = 0;
    struct mend_engine *e = NULL;
    struct mend_sink sink = {count_point, on_error, &points};
    int score = !strcmp(argv[1], "score");
    long rss0 = rss_kib();
    if (score) {
        struct mend_engine_conf c;
        mend_engine_conf_defaults(&c);
        struct mend_incident_out io = {discard, &incidents};
        if (mend_engine_new(&c, &io, NULL, &e) != MEND_OK)
            return 1;
        mend_engine_sink(e, &sink);
        sink.error = on_error;
    }
    double t0 = now_s();
    /* 1 MiB feeds, as the file source delivers them */
    for (long off = 0; off < size; off += 1 << 20) {
        size_t n = (size_t)(size - off < (1 << 20) ? size - off : (1 << 20));
        mend_parser_feed(p, buf + off, n, &sink);
    }
    mend_parser_finish(p, &sink);
    double dt = now_s() - t0;
    struct mend_parse_stats ps;
    mend_parser_stats(p, &ps);
    if (!score) {
        printf("mode=parse samples=%" PRIu64 " seconds=%.3f samples_per_s=%.0f bytes_per_s=%.0f\n", ps.points, dt,
               (double)ps.points / dt, (double)size / dt);
    } else {
        struct mend_engine_stats st;
        mend_engine_stats(e, &st);
        long rss1 = rss_kib();
        printf("mode=score samples=%" PRIu64 " seconds=%.3f samples_per_s=%.0f bytes_per_s=%.0f series=%u "
               "entities=%u anomalies=%" PRIu64 " incident_lines=%" PRIu64 " engine_bytes_per_series=%.0f "
               "rss_bytes_per_series=%.0f\n",
               st.scored, dt, (double)st.scored / dt, (double)size / dt, st.series, st.entities, st.anomalies,
               incidents, (double)st.memory / st.series, (double)(rss1 - rss0) * 1024.0 / st.series);
    }
    mend_engine_free(e);
    mend_parser_free(p);
    free(buf);
    return 0;
}
