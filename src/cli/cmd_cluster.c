/* cmd_cluster.c -- `mend cluster`: one engine of a fleet that shares the
 * partitions of a JetStream stream (cluster.h).
 *
 * Simplest design first: one engine instance per owned partition inside the
 * process, each with its own input set (one jetstream input on subject
 * PREFIX.P) and its own checkpoint file, checkpoint.path + ".p" + P, on a
 * path every engine sees. A lease tick (every lease_ttl/4, on the loop)
 * renews, claims and hands back partitions:
 *   acquired  restore the partition's checkpoint, recreate its consumer to
 *             deliver from the stream sequence after the one the checkpoint
 *             holds (the predecessor's consumer is deleted), consume;
 *   lost      drop the partition at once: no checkpoint, no ack;
 *   surplus   checkpoint in this thread, acknowledge, drop, release.
 * Every sample checks that its partition's lease is still valid (a coarse
 * clock read), so an engine that was paused past its lease and resumes
 * refuses what it had fetched before any timer has run.
 *
 * Checkpoints: per partition on event time (checkpoint.interval), written
 * by a forked child; messages are acknowledged once the checkpoint that
 * holds them is committed. On SIGTERM/SIGINT every partition is
 * checkpointed, acknowledged and released. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mend/cluster.h"
#include "mend/output.h"
#include "mend/state.h"
#include "pipeline.h"

struct mend_cluster_run;

struct part_run {
    struct mend_cluster_run *c;
    uint32_t id;
    uint64_t epoch;
    struct mend_engine *eng;
    struct mend_inputs *in;
    struct mend_state_bg *bg;
    uint64_t gen, bg_gen;
    int64_t next_ckpt;
    int ckpt_due;
    int lost;        /* the lease went: drop after this turn */
    uint64_t errors;
    char path[MEND_CONFIG_PATH_MAX + 16];
};

struct mend_cluster_run {
    const struct pipeline_opts *po;
    struct mend_config *cfg;
    struct mend_loop *loop;
    struct mend_outputs *outs;
    struct mend_leases *leases;
    struct part_run **parts; /* by partition id, NULL = not ours */
    FILE *score_f;
    int stop;
    uint64_t dropped_samples;  /* refused after the lease went */
    uint64_t points_gone;      /* samples of partitions handed on (their engines are gone) */
    int64_t first_acquire_ns;  /* monotonic: when we first owned something */
};

static int64_t mono_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_parse_error(void *ctx, const char *stream, uint64_t nth, uint64_t line, uint32_t col,
                           const char *reason)
{
    struct part_run *pr = ctx;
    pr->errors++;
    if (pr->lost)
        return; /* samples refused after the lease went: counted, not malformed */
    if (nth <= pr->c->cfg->error_log_limit)
        fprintf(stderr, "%s:%" PRIu64 ":%u: %s\n", stream, line, col, reason);
}

static int on_point(void *ctx, const struct mend_point *pt)
{
    struct part_run *pr = ctx;
    if (pr->lost || !mend_leases_valid(pr->c->leases, pr->id, mono_ns(CLOCK_MONOTONIC))) {
        /* fenced: nothing more goes into this partition's state; its
         * messages stay unacknowledged for the next owner */
        pr->lost = 1;
        pr->c->dropped_samples++;
        return MEND_ENOTFOUND; /* not EAGAIN: parsers read that as "line goes on" */
    }
    int rc = mend_engine_point(pr->eng, pt);
    if (pt->has_time && pt->time_ns >= pr->next_ckpt && !pr->ckpt_due) {
        struct mend_engine_stats st;
        mend_engine_stats(pr->eng, &st);
        int64_t iv = pr->c->cfg->checkpoint_interval_ns;
        if (pr->next_ckpt == INT64_MIN) {
            pr->next_ckpt = st.watermark > INT64_MAX - iv ? INT64_MAX : st.watermark + iv;
        } else if (st.watermark >= pr->next_ckpt && pr->next_ckpt != INT64_MAX) {
            pr->next_ckpt = st.watermark > INT64_MAX - iv ? INT64_MAX : st.watermark + iv;
            pr->ckpt_due = 1; /* written after the turn, never from a parser callback */
        }
    }
    return rc;
}

static void on_incident(void *ctx, const char *status, const struct mend_incident *inc, const char *json,
                        size_t len)
{
    struct mend_cluster_run *c = ctx;
    mend_outputs_emit(c->outs, status, inc, json, len);
}

static void on_score(void *ctx, const struct mend_series *s, int64_t t, double v, double score)
{
    struct mend_cluster_run *c = ctx;
    fputc('"', c->score_f);
    for (uint32_t i = 0; i < s->key_len; i++) {
        if (s->key[i] == '"')
            fputc('"', c->score_f);
        fputc(s->key[i], c->score_f);
    }
    fprintf(c->score_f, "\",%" PRId64 ",%.17g,%.6f\n", t, v, score);
}

static void on_output_report(void *ctx, const char *output, int code, uint64_t count, const char *msg)
{
    (void)ctx;
    (void)code;
    if (count <= 10 || count % 1000 == 0)
        fprintf(stderr, "mend: output %s: %s (%" PRIu64 " so far)\n", output, msg, count);
}

/* The result of a partition's background checkpoint (wait: block). */
static void part_reap(struct part_run *pr, int wait)
{
    if (!pr->bg)
        return;
    char err[512] = "";
    int rc = mend_state_bg_reap(pr->bg, wait, err, sizeof err);
    if (rc == MEND_EAGAIN)
        return;
    if (rc != MEND_OK)
        fprintf(stderr, "mend cluster: partition %u: checkpoint failed: %s\n", pr->id, err);
    /* a partition lost meanwhile acknowledges nothing: its consumer is the
     * next owner's business now */
    if (!pr->lost)
        mend_inputs_checkpoint(pr->in, rc == MEND_OK ? MEND_INPUT_CKPT_COMMITTED : MEND_INPUT_CKPT_FAILED,
                               pr->bg_gen);
    mend_state_bg_free(pr->bg);
    pr->bg = NULL;
}

/* Checkpoint now: forked (bg) or in this thread. Only while the lease is
 * valid: a fenced engine must not overwrite its successor's file. */
static int part_checkpoint(struct part_run *pr, int bg)
{
    char err[512] = "";
    pr->ckpt_due = 0;
    part_reap(pr, 1);
    if (pr->lost || !mend_leases_valid(pr->c->leases, pr->id, mono_ns(CLOCK_MONOTONIC))) {
        pr->lost = 1;
        return MEND_ENOTFOUND;
    }
    uint64_t seq = mend_jetstream_last_seq(pr->in);
    uint64_t gen = ++pr->gen;
    int rc = mend_cluster_part_save(pr->eng, seq, pr->epoch, pr->path, bg ? &pr->bg : NULL, err, sizeof err);
    if (rc != MEND_OK) {
        fprintf(stderr, "mend cluster: partition %u: checkpoint failed: %s\n", pr->id, err);
        return rc;
    }
    mend_inputs_checkpoint(pr->in, MEND_INPUT_CKPT_TAKEN, gen);
    if (bg)
        pr->bg_gen = gen;
    else
        mend_inputs_checkpoint(pr->in, MEND_INPUT_CKPT_COMMITTED, gen);
    return MEND_OK;
}

static void part_free(struct part_run *pr)
{
    if (!pr)
        return;
    struct mend_engine_stats st;
    if (pr->eng) {
        mend_engine_stats(pr->eng, &st);
        pr->c->points_gone += st.points;
    }
    mend_inputs_free(pr->in); /* stops the worker; unacknowledged messages go back */
    pr->in = NULL;
    part_reap(pr, 1);
    mend_engine_free(pr->eng);
    free(pr);
}

static int lease_acquired(void *ctx, uint32_t p, uint64_t epoch)
{
    struct mend_cluster_run *c = ctx;
    struct mend_config *cfg = c->cfg;
    struct mend_cluster_conf *cc = &cfg->cluster;
    char err[512] = "";
    if (c->parts[p]) /* cannot happen: the lease module owns one claim per partition */
        return MEND_OK;
    struct part_run *pr = calloc(1, sizeof *pr);
    if (!pr)
        return MEND_ENOMEM;
    pr->c = c;
    pr->id = p;
    pr->epoch = epoch;
    pr->next_ckpt = INT64_MIN;
    snprintf(pr->path, sizeof pr->path, "%s.p%u", cfg->checkpoint_path, p);
    struct mend_incident_out iout = {on_incident, c};
    struct mend_score_out sout = {on_score, c};
    int rc = mend_engine_new(&cfg->engine, &iout, c->score_f ? &sout : NULL, &pr->eng);
    uint64_t seq = 0, wepoch = 0;
    if (rc == MEND_OK) {
        rc = mend_cluster_part_restore(pr->eng, pr->path, &seq, &wepoch, err, sizeof err);
        if (rc == MEND_ENOTFOUND)
            rc = MEND_OK;
    }
    if (rc != MEND_OK) {
        /* a damaged checkpoint stops this engine from owning the partition:
         * say so, give it back, and let an operator look */
        fprintf(stderr, "mend cluster: partition %u: %s\n", p, err[0] ? err : mend_strerror(rc));
        mend_engine_free(pr->eng);
        free(pr);
        mend_leases_release(c->leases, p);
        return MEND_OK;
    }
    struct mend_input_conf ic;
    mend_input_conf_defaults(&ic);
    ic.format = cfg->format;
    ic.ingest = cfg->ingest;
    struct mend_input_host host = {on_point, on_parse_error, pr};
    char spec[2048];
    int n = snprintf(spec, sizeof spec,
                     "jetstream://%s/%s/mend-p%u-e%" PRIu64 "?subject=%s.%u&batch=%u&ack_wait_s=%" PRId64
                     "&start_seq=%" PRIu64,
                     cc->servers, cc->stream, p, epoch, cc->subject_prefix, p, cc->batch,
                     (int64_t)(cc->ack_wait_ns / 1000000000), seq + 1);
    if (epoch > 1)
        n += snprintf(spec + n, sizeof spec - (size_t)n, "&replace=mend-p%u-e%" PRIu64, p, epoch - 1);
    if (cc->creds[0])
        n += snprintf(spec + n, sizeof spec - (size_t)n, "&creds=%s", cc->creds);
    if (cc->tls)
        n += snprintf(spec + n, sizeof spec - (size_t)n, "&tls=1");
    if (cc->ca[0])
        n += snprintf(spec + n, sizeof spec - (size_t)n, "&ca=%s", cc->ca);
    if (cc->cert[0])
        n += snprintf(spec + n, sizeof spec - (size_t)n, "&cert=%s&key=%s", cc->cert, cc->key);
    if ((size_t)n >= sizeof spec) {
        rc = MEND_EINVAL;
        snprintf(err, sizeof err, "partition %u: consumer spec too long", p);
    }
    if (rc == MEND_OK && (rc = mend_inputs_new(&ic, c->loop, &host, &pr->in)) == MEND_OK &&
        (rc = mend_inputs_register(pr->in, &mend_input_jetstream_ops)) == MEND_OK)
        rc = mend_inputs_add(pr->in, spec, err, sizeof err);
    if (rc != MEND_OK) {
        fprintf(stderr, "mend cluster: partition %u: %s\n", p, err[0] ? err : mend_strerror(rc));
        mend_inputs_free(pr->in);
        mend_engine_free(pr->eng);
        free(pr);
        mend_leases_release(c->leases, p);
        return MEND_OK;
    }
    c->parts[p] = pr;
    if (!c->first_acquire_ns)
        c->first_acquire_ns = mono_ns(CLOCK_MONOTONIC);
    if (!c->po->quiet)
        fprintf(stderr, "mend cluster: %s owns partition %u (epoch %" PRIu64 ", from stream sequence %" PRIu64 ")\n",
                mend_leases_name(c->leases), p, epoch, seq + 1);
    return MEND_OK;
}

static void lease_lost(void *ctx, uint32_t p)
{
    struct mend_cluster_run *c = ctx;
    if (!c->parts[p])
        return;
    /* dropped after the turn (we may be inside its callbacks' reach) */
    c->parts[p]->lost = 1;
    if (!c->po->quiet)
        fprintf(stderr, "mend cluster: %s lost partition %u\n", mend_leases_name(c->leases), p);
}

static void lease_surplus(void *ctx, uint32_t p)
{
    struct mend_cluster_run *c = ctx;
    struct part_run *pr = c->parts[p];
    if (pr && !pr->lost && part_checkpoint(pr, 0) != MEND_OK)
        return; /* keep it: handing it on without a checkpoint would lose state */
    part_free(pr);
    c->parts[p] = NULL;
    mend_leases_release(c->leases, p);
    if (!c->po->quiet)
        fprintf(stderr, "mend cluster: %s handed partition %u on\n", mend_leases_name(c->leases), p);
}

static int on_tick(struct mend_loop *l, uint64_t id, void *ctx)
{
    struct mend_cluster_run *c = ctx;
    (void)l;
    (void)id;
    return mend_leases_tick(c->leases, mono_ns(CLOCK_MONOTONIC));
}

static int on_stop_signal(struct mend_loop *l, int sig, void *ctx)
{
    struct mend_cluster_run *c = ctx;
    (void)sig;
    c->stop = 1;
    mend_loop_stop(l);
    return MEND_OK;
}

static void help(FILE *f)
{
    fprintf(f, "usage: mend cluster [OPTIONS]\n\n"
               "One engine of a fleet sharing the partitions of a NATS JetStream stream (the\n"
               "cluster.* options): it claims partitions through leases in a key-value bucket,\n"
               "restores each one's checkpoint (checkpoint.path + \".pN\", on a path every engine\n"
               "sees), consumes it from there, and takes over the partitions of engines that\n"
               "stop renewing their leases. SIGTERM or SIGINT: checkpoint every partition,\n"
               "acknowledge, release the leases, exit 0.\n\n");
    pipeline_help_common(f);
}

void mend_cluster_run_stats(const struct mend_cluster_run *c, struct mend_cluster_stats *out)
{
    struct mend_lease_stats ls;
    memset(out, 0, sizeof *out);
    mend_leases_stats(c->leases, &ls);
    out->partitions = c->cfg->cluster.partitions;
    out->live_engines = ls.live_engines;
    out->acquired = ls.acquired;
    out->taken_over = ls.taken_over;
    out->lost = ls.lost;
    out->handed_on = ls.released;
    out->kv_errors = ls.kv_errors;
    out->refused = c->dropped_samples;
    for (uint32_t p = 0; p < c->cfg->cluster.partitions; p++) {
        struct part_run *pr = c->parts[p];
        if (!pr || pr->lost)
            continue;
        struct mend_engine_stats st;
        struct mend_jetstream_stats js;
        mend_engine_stats(pr->eng, &st);
        mend_jetstream_stats(pr->in, &js);
        out->samples += st.points;
        out->lag += js.lag;
        out->owns[p] = 1;
        out->owned++;
    }
}

/* The end-of-run summary: the engine, then each owned partition. */
static void summary(struct mend_cluster_run *c)
{
    static struct mend_cluster_stats cs; /* ~1 KiB of flags: off the stack */
    mend_cluster_run_stats(c, &cs);
    char owned[1024] = "";
    size_t o = 0;
    for (uint32_t p = 0; p < cs.partitions; p++)
        if (cs.owns[p] && o < sizeof owned - 16)
            o += (size_t)snprintf(owned + o, sizeof owned - o, "%s%u", o ? "," : "", p);
    fprintf(stderr,
            "mend cluster: %s: partitions owned %u [%s], %" PRIu64 " samples in their state, consumer lag %" PRIu64
            ", %u engines live; acquired %" PRIu64 ", taken over %" PRIu64 ", lost %" PRIu64 ", handed on %" PRIu64
            ", %" PRIu64 " samples refused after a lease went, %" PRIu64 " KV errors\n",
            mend_leases_name(c->leases), cs.owned, owned, cs.samples, cs.lag, cs.live_engines, cs.acquired,
            cs.taken_over, cs.lost, cs.handed_on, cs.refused, cs.kv_errors);
    for (uint32_t p = 0; p < c->cfg->cluster.partitions; p++) {
        struct part_run *pr = c->parts[p];
        if (!pr)
            continue;
        struct mend_engine_stats st;
        mend_engine_stats(pr->eng, &st);
        fprintf(stderr, "mend cluster: partition %u epoch %" PRIu64 ": %" PRIu64 " samples, %u series, %" PRIu64
                        " anomalies, last stream sequence %" PRIu64 "\n",
                p, pr->epoch, st.points, st.series, st.anomalies, mend_jetstream_last_seq(pr->in));
    }
}

int mend_cmd_cluster(int argc, char **argv)
{
    struct pipeline_opts po;
    static struct mend_config cfg; /* large: keep off the stack */
    int rc = pipeline_parse_args(argc, argv, "cluster", help, &po, &cfg);
    if (rc >= 0)
        return rc;
    if (!cfg.checkpoint_path[0]) {
        fprintf(stderr, "mend cluster: checkpoint.path (or --checkpoint) is required: partitions are handed\n"
                        "between engines through their checkpoints, on a path every engine sees\n");
        return MEND_EXIT_USAGE;
    }
    if (po.n_inputs) {
        fprintf(stderr, "mend cluster: reads only the cluster's stream (no INPUT arguments)\n");
        return MEND_EXIT_USAGE;
    }
    struct mend_cluster_run c;
    memset(&c, 0, sizeof c);
    c.po = &po;
    c.cfg = &cfg;
    int code = MEND_EXIT_OK;
    char err[512] = "";
    struct mend_outputs_conf ocf;
    mend_outputs_conf_defaults(&ocf);
    struct mend_output_report orep = {on_output_report, &c};
    struct mend_output_jsonl_conf jcf = {.path = cfg.incidents_output, .fd = -1};
    if (!(c.parts = calloc(cfg.cluster.partitions, sizeof *c.parts)) ||
        mend_outputs_new(&ocf, &orep, &c.outs) != MEND_OK ||
        mend_outputs_add(c.outs, &mend_output_jsonl_ops, &jcf, NULL, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend cluster: %s\n", err[0] ? err : "out of memory");
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    if (po.scores_path && !(c.score_f = strcmp(po.scores_path, "-") ? fopen(po.scores_path, "a") : stdout)) {
        fprintf(stderr, "mend cluster: cannot open %s\n", po.scores_path);
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    if ((rc = mend_loop_new(MEND_CLOCK_MONOTONIC, &c.loop)) != MEND_OK ||
        (rc = mend_loop_signal(c.loop, SIGTERM, on_stop_signal, &c)) != MEND_OK ||
        (rc = mend_loop_signal(c.loop, SIGINT, on_stop_signal, &c)) != MEND_OK) {
        fprintf(stderr, "mend cluster: cannot set up the event loop: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    struct mend_lease_host lh = {lease_acquired, lease_lost, lease_surplus, &c};
    if ((rc = mend_leases_new(&cfg.cluster, &lh, &c.leases, err, sizeof err)) != MEND_OK) {
        fprintf(stderr, "mend cluster: %s\n", err[0] ? err : mend_strerror(rc));
        code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
        goto out;
    }
    int64_t period = cfg.cluster.lease_ttl_ns / 4;
    if ((rc = mend_loop_timer_add(c.loop, mend_loop_now(c.loop), period, on_tick, &c, NULL)) != MEND_OK) {
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    while (!c.stop) {
        rc = mend_loop_run_once(c.loop, 200);
        if (rc < 0) {
            fprintf(stderr, "mend cluster: %s\n", mend_strerror(rc));
            code = MEND_EXIT_RUNTIME;
            break;
        }
        for (uint32_t p = 0; p < cfg.cluster.partitions; p++) {
            struct part_run *pr = c.parts[p];
            if (!pr)
                continue;
            if (pr->lost) {
                /* fenced (lease lost, or not renewed in time): drop it, and if
                 * the lease module still holds it, give it back, so that it is
                 * claimed afresh -- from its checkpoint -- by whoever comes first */
                part_free(pr);
                c.parts[p] = NULL;
                if (mend_leases_release(c.leases, p) == MEND_OK && !po.quiet)
                    fprintf(stderr, "mend cluster: %s lost partition %u (lease not renewed in time)\n",
                            mend_leases_name(c.leases), p);
                continue;
            }
            part_reap(pr, 0);
            /* in this thread, not forked: libnats' own threads allocate all
             * the time, and a child forked while one holds an allocator lock
             * (ASan's does not reset them as glibc's does) never finishes.
             * A partition's state is a fraction of the whole: the stall is
             * short. */
            if (pr->ckpt_due)
                part_checkpoint(pr, 0);
        }
        mend_outputs_retry(c.outs);
    }
    /* the end: every partition checkpointed and acknowledged, then released */
    for (uint32_t p = 0; p < cfg.cluster.partitions; p++) {
        struct part_run *pr = c.parts[p];
        if (pr && !pr->lost && part_checkpoint(pr, 0) != MEND_OK && code == MEND_EXIT_OK)
            code = MEND_EXIT_RUNTIME;
    }
    mend_outputs_close(c.outs);
    if (!po.quiet)
        summary(&c);
out:
    if (c.parts)
        for (uint32_t p = 0; p < cfg.cluster.partitions; p++)
            part_free(c.parts[p]);
    free(c.parts);
    mend_leases_free(c.leases, 0);
    mend_loop_free(c.loop);
    mend_outputs_free(c.outs);
    mend_ocsvm_kind_fini(&cfg.engine.ocsvm);
    fflush(stdout);
    if (c.score_f && c.score_f != stdout)
        fclose(c.score_f);
    return code;
}
