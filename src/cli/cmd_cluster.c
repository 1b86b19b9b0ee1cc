/* cmd_cluster.c -- `mend cluster`: one engine of a fleet that shares the
 * partitions of a JetStream stream (cluster.h).
 *
 * Simplest design first: one engine instance per owned partition inside the
 * process, each with its own input set (one jetstream input on subject
 * PREFIX.P) and its own checkpoint file, checkpoint.path + ".p" + P, on a
 * path every engine sees. The lease rounds (every lease_ttl/4) run on the
 * lease module's own thread, so a server that is away -- each KV call then
 * waits out the 5 s API timeout -- never stalls scoring; the round's
 * decisions come back to the loop as per-partition flags (under ev_mu, with
 * a wake-up) and are acted on there:
 *   acquired  restore the partition's checkpoint, recreate its consumer to
 *             deliver from the stream sequence after the one the checkpoint
 *             holds (the predecessor's consumer is deleted; on the input's
 *             fetch thread, see in_jetstream.c), consume;
 *   lost      drop the partition at once: no checkpoint, no ack;
 *   surplus   checkpoint in this thread, acknowledge, drop, release.
 * Every sample checks that its partition's lease is still valid (a coarse
 * clock read), so an engine that was paused past its lease and resumes
 * refuses what it had fetched before any timer has run.
 *
 * Checkpoints: per partition on event time (checkpoint.interval), written
 * in this thread; the lease is checked again right before the commit, so a
 * lease that lapsed while the state was written leaves the successor's
 * file alone. Messages are acknowledged once the checkpoint that holds them
 * is committed. On SIGTERM/SIGINT each partition's input stops and what it
 * had fetched goes into the state, then every partition is checkpointed,
 * acknowledged and released.
 *
 * With metrics.listen set, /metrics serves the engine's cluster families
 * (owned partitions, lag and epoch per partition, lease counters) on the
 * loop. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mend/act.h"
#include "mend/cluster.h"
#include "mend/metrics.h"
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
    uint64_t gen;
    int64_t next_ckpt;
    int ckpt_due;
    int lost;        /* the lease went: drop after this turn */
    uint64_t errors;
    uint64_t in_errors_seen; /* the input's errors (take-up, fetch) said so far */
    char path[MEND_CONFIG_PATH_MAX + 16];
};

struct mend_cluster_run {
    const struct pipeline_opts *po;
    struct mend_config *cfg;
    struct mend_loop *loop;
    struct mend_outputs *outs;
    struct mend_leases *leases;
    struct mend_metrics_server *metrics;
    struct mend_act *act;    /* remediation (--remediation / remediation.enabled), NULL = none */
    struct part_run **parts; /* by partition id, NULL = not ours */
    /* the lease thread's decisions, per partition, for the loop (under ev_mu) */
    pthread_mutex_t ev_mu;
    uint64_t *ev_acquired;   /* epoch to take up (0 = none) */
    uint8_t *ev_lost, *ev_surplus;
    int ev_any;
    int64_t started_ns;      /* wall clock, for /metrics */
    FILE *score_f;
    int stop;
    uint64_t dropped_samples;  /* refused after the lease went */
    uint64_t points_gone;      /* samples of partitions handed on (their engines are gone) */
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

/* The fence of partition p's actions: its lease key. */
static void fence_name(char *out, size_t cap, uint32_t p)
{
    snprintf(out, cap, "p%u", p);
}

static void on_incident(void *ctx, const char *status, const struct mend_incident *inc, const char *json,
                        size_t len)
{
    struct part_run *pr = ctx;
    struct mend_cluster_run *c = pr->c;
    /* the actions this incident makes carry the partition's epoch: Redis
     * refuses them once a successor has registered a newer one */
    if (c->act) {
        char fence[24];
        fence_name(fence, sizeof fence, pr->id);
        mend_act_set_fence(c->act, fence, pr->epoch);
    }
    mend_outputs_emit(c->outs, status, inc, json, len);
    if (c->act)
        mend_act_set_fence(c->act, "", 0);
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

/* Whether pr's lease still holds, with room for the commit's fsync and
 * rename: an eighth of a ttl (a successor cannot take over before a whole
 * ttl has passed since our last renewal, and we stop trusting it at 3/4). */
static int part_still_ours(void *ctx)
{
    struct part_run *pr = ctx;
    int64_t margin = pr->c->cfg->cluster.lease_ttl_ns / 8;
    return !pr->lost && mend_leases_valid(pr->c->leases, pr->id, mono_ns(CLOCK_MONOTONIC) + margin);
}

/* Checkpoint now, in this thread, only while the lease is valid -- checked
 * before and again right before the commit: a fenced engine must not
 * overwrite its successor's file. Messages are acknowledged only after the
 * commit. */
static int part_checkpoint(struct part_run *pr)
{
    char err[MEND_CONFIG_PATH_MAX + 512] = "";
    pr->ckpt_due = 0;
    if (!part_still_ours(pr)) {
        pr->lost = 1;
        return MEND_ENOTFOUND;
    }
    uint64_t seq = mend_jetstream_last_seq(pr->in);
    uint64_t gen = ++pr->gen;
    mend_inputs_checkpoint(pr->in, MEND_INPUT_CKPT_TAKEN, gen);
    int rc = mend_cluster_part_save(pr->eng, seq, pr->epoch, pr->path, part_still_ours, pr, err, sizeof err);
    if (rc != MEND_OK) {
        fprintf(stderr, "mend cluster: partition %u: checkpoint failed: %s\n", pr->id, err);
        if (rc == MEND_EAGAIN)
            pr->lost = 1; /* fenced at the commit: nothing acknowledged, dropped after the turn */
        else
            mend_inputs_checkpoint(pr->in, MEND_INPUT_CKPT_FAILED, gen);
        return rc;
    }
    mend_inputs_checkpoint(pr->in, MEND_INPUT_CKPT_COMMITTED, gen);
    return MEND_OK;
}

/* The input's own errors -- a take-up that failed against a server away or
 * slow (retried by the input with backoff), a failed fetch -- on stderr:
 * the first ten, then every hundredth. */
static void part_report_input(struct part_run *pr)
{
    struct mend_inputs_stats st;
    mend_inputs_stats(pr->in, &st);
    if (st.errors == pr->in_errors_seen)
        return;
    pr->in_errors_seen = st.errors;
    if (st.errors <= 10 || st.errors % 100 == 0)
        fprintf(stderr, "mend cluster: partition %u consumer %s (%" PRIu64 " errors)\n", pr->id,
                mend_inputs_last_error(pr->in), st.errors);
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
    mend_engine_free(pr->eng);
    free(pr);
}

/* Takes partition p up at epoch (loop thread): restore its checkpoint (a
 * local file read), and open its input, which recreates its consumer after
 * the sequence the checkpoint holds on its own thread -- no NATS call
 * here: a server that is away or slow delays this partition only
 * (connecting, retried with backoff, errors on stderr), never the loop. A
 * partition whose checkpoint cannot be restored is given back. */
static int part_take(struct mend_cluster_run *c, uint32_t p, uint64_t epoch)
{
    struct mend_config *cfg = c->cfg;
    struct mend_cluster_conf *cc = &cfg->cluster;
    char err[MEND_CONFIG_PATH_MAX + 512] = "";
    if (c->parts[p]) { /* an older epoch's, lost meanwhile: nothing of it is kept */
        part_free(c->parts[p]);
        c->parts[p] = NULL;
    }
    /* lost again before the loop got to it (a newer epoch's event follows
     * if it was won again), or its validity ran out while the loop was
     * busy: then give it back, or it would be renewed and never consumed */
    if (mend_leases_epoch(c->leases, p) != epoch)
        return MEND_OK;
    if (!mend_leases_valid(c->leases, p, mono_ns(CLOCK_MONOTONIC))) {
        mend_leases_release(c->leases, p, epoch);
        return MEND_OK;
    }
    struct part_run *pr = calloc(1, sizeof *pr);
    if (!pr)
        return MEND_ENOMEM;
    pr->c = c;
    pr->id = p;
    pr->epoch = epoch;
    pr->next_ckpt = INT64_MIN;
    snprintf(pr->path, sizeof pr->path, "%s.p%u", cfg->checkpoint_path, p);
    struct mend_incident_out iout = {on_incident, pr};
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
        mend_leases_release(c->leases, p, epoch);
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
        n += snprintf(spec + n, sizeof spec - (size_t)n, "&supersedes=mend-p%u-e", p);
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
        mend_leases_release(c->leases, p, epoch);
        return MEND_OK;
    }
    if (c->act) {
        /* from here on the predecessor's actions (older epoch) are refused;
         * Redis away: ours spool, and the script decides at delivery */
        char fence[24];
        fence_name(fence, sizeof fence, p);
        if (mend_act_fence_raise(c->act, fence, epoch) == MEND_EAGAIN)
            fprintf(stderr, "mend cluster: partition %u: Redis holds a newer epoch than %" PRIu64
                            ": its actions will be refused\n", p, epoch);
    }
    c->parts[p] = pr;
    if (!c->po->quiet)
        fprintf(stderr, "mend cluster: %s owns partition %u (epoch %" PRIu64 ", from stream sequence %" PRIu64 ")\n",
                mend_leases_name(c->leases), p, epoch, seq + 1);
    return MEND_OK;
}

/* The lease thread's callbacks: flags for the loop, and a wake-up. */
static int lease_acquired(void *ctx, uint32_t p, uint64_t epoch)
{
    struct mend_cluster_run *c = ctx;
    pthread_mutex_lock(&c->ev_mu);
    c->ev_acquired[p] = epoch;
    c->ev_surplus[p] = 0;
    c->ev_any = 1;
    pthread_mutex_unlock(&c->ev_mu);
    mend_loop_wake(c->loop);
    return MEND_OK;
}

static void lease_lost(void *ctx, uint32_t p)
{
    struct mend_cluster_run *c = ctx;
    pthread_mutex_lock(&c->ev_mu);
    c->ev_lost[p] = 1;
    c->ev_acquired[p] = 0;
    c->ev_surplus[p] = 0;
    c->ev_any = 1;
    pthread_mutex_unlock(&c->ev_mu);
    mend_loop_wake(c->loop);
}

static void lease_surplus(void *ctx, uint32_t p)
{
    struct mend_cluster_run *c = ctx;
    pthread_mutex_lock(&c->ev_mu);
    c->ev_surplus[p] = 1;
    c->ev_any = 1;
    pthread_mutex_unlock(&c->ev_mu);
    mend_loop_wake(c->loop);
}

/* Hands p on: checkpoint, acknowledge, drop, release. */
static void part_hand_on(struct mend_cluster_run *c, uint32_t p)
{
    struct part_run *pr = c->parts[p];
    if (!pr || pr->lost)
        return; /* not ours to hand on (the lease thread asks again if it still holds it) */
    if (part_checkpoint(pr) != MEND_OK)
        return; /* keep it: handing it on without a checkpoint would lose state */
    uint64_t epoch = pr->epoch;
    part_free(pr);
    c->parts[p] = NULL;
    mend_leases_release(c->leases, p, epoch);
    if (!c->po->quiet)
        fprintf(stderr, "mend cluster: %s handed partition %u on\n", mend_leases_name(c->leases), p);
}

/* What the lease thread decided since the last turn, in the order it
 * happens: lost first (a later acquisition is a newer epoch), then taken
 * up, then handed on. */
static int lease_events(struct mend_cluster_run *c)
{
    pthread_mutex_lock(&c->ev_mu);
    int any = c->ev_any;
    c->ev_any = 0;
    pthread_mutex_unlock(&c->ev_mu);
    if (!any)
        return MEND_OK;
    for (uint32_t p = 0; p < c->cfg->cluster.partitions; p++) {
        pthread_mutex_lock(&c->ev_mu);
        uint64_t acq = c->ev_acquired[p];
        int lost = c->ev_lost[p], surplus = c->ev_surplus[p];
        c->ev_acquired[p] = 0;
        c->ev_lost[p] = c->ev_surplus[p] = 0;
        pthread_mutex_unlock(&c->ev_mu);
        if (lost && c->parts[p])
            c->parts[p]->lost = 1; /* dropped (and said) after this sweep */
        if (acq) {
            int rc = part_take(c, p, acq);
            if (rc < 0)
                return rc;
        }
        if (surplus)
            part_hand_on(c, p);
    }
    return MEND_OK;
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
    out->renewals = ls.renewals;
    out->renew_failures = ls.renew_failures;
    out->refused = c->dropped_samples;
    int64_t now = mono_ns(CLOCK_MONOTONIC);
    for (uint32_t p = 0; p < c->cfg->cluster.partitions; p++) {
        struct part_run *pr = c->parts[p];
        /* owned = consumed and its lease valid now: a lease lapsing while
         * the renewer waits on a server shows at once, not when the next
         * sample of the partition is refused */
        if (!pr || pr->lost || !mend_leases_valid(c->leases, p, now))
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

/* The newest event time of the owned partitions (the planner's clock). */
static int64_t newest_event_time(struct mend_cluster_run *c)
{
    int64_t t = INT64_MIN;
    for (uint32_t p = 0; p < c->cfg->cluster.partitions; p++) {
        struct part_run *pr = c->parts[p];
        if (!pr)
            continue;
        struct mend_engine_stats st;
        mend_engine_stats(pr->eng, &st);
        if (st.watermark > t)
            t = st.watermark;
    }
    return t;
}

/* ---- /metrics ---------------------------------------------------------------- */


/* The engine's cluster families: what it owns, how far behind each owned
 * partition's consumer is, and what the leases did. Per-partition families
 * have one sample per owned partition (at most cluster.partitions). */
static int cluster_collect(void *ctx, struct mend_metrics_out *o)
{
    struct mend_cluster_run *c = ctx;
    static struct mend_cluster_stats cs; /* ~1 KiB of flags: off the stack (one loop thread) */
    int rc;
    mend_cluster_run_stats(c, &cs);
    const char *ver[] = {"version", MEND_VERSION, NULL};
    MEND_METRICS_FAM("mend_build_info", MEND_METRIC_GAUGE, "always 1; the version of mend");
    MEND_METRICS_VAL(ver, 1);
    MEND_METRICS_FAM("mend_start_time_seconds", MEND_METRIC_GAUGE, "when this process started, in Unix seconds");
    MEND_METRICS_VAL(NULL, (double)c->started_ns * 1e-9);
    MEND_METRICS_FAM("mend_cluster_partitions", MEND_METRIC_GAUGE, "partitions of the stream (cluster.partitions)");
    MEND_METRICS_VAL(NULL, cs.partitions);
    MEND_METRICS_FAM("mend_cluster_partitions_owned", MEND_METRIC_GAUGE,
                     "partitions this engine owns and consumes now");
    MEND_METRICS_VAL(NULL, cs.owned);
    /* taken up on the input's own thread (connect, consumers): a partition
     * waiting on a server that is away or slow shows here, and delivers nothing */
    uint64_t connecting = 0;
    struct mend_jetstream_stats js;
    for (uint32_t p = 0; p < cs.partitions; p++)
        if (c->parts[p] && !c->parts[p]->lost && mend_jetstream_stats(c->parts[p]->in, &js) > 0)
            connecting += js.connecting;
    MEND_METRICS_FAM("mend_cluster_partitions_connecting", MEND_METRIC_GAUGE,
        "owned partitions whose consumer is still being set up (connect, delete old consumers, create)");
    MEND_METRICS_VAL(NULL, connecting);
    MEND_METRICS_FAM("mend_cluster_engines_live", MEND_METRIC_GAUGE,
        "engines whose announcement moved within a lease ttl, this one included");
    MEND_METRICS_VAL(NULL, cs.live_engines);
    MEND_METRICS_FAM("mend_samples_total", MEND_METRIC_COUNTER, "samples in the state of the owned partitions");
    MEND_METRICS_VAL(NULL, cs.samples);
    /* per owned partition; the consumer's figures are looked at once a
     * second by the fetch thread */
    static const struct {
        const char *name, *help;
    } pfam[] = {
        {"mend_cluster_consumer_lag", "messages of the partition not yet delivered to this engine or not yet "
                                      "acknowledged (held for a checkpoint)"},
        {"mend_cluster_consumer_pending", "messages of the partition in the stream not yet delivered to this engine"},
        {"mend_cluster_unacked_messages",
         "messages scored and held for the partition's next checkpoint before they are acknowledged"},
        {"mend_cluster_partition_epoch", "the fencing epoch of each owned partition's lease"},
        {"mend_cluster_partition_samples", "samples in the state of each owned partition"},
    };
    char pid[16];
    const char *lab[] = {"partition", pid, NULL};
    for (size_t f = 0; f < sizeof pfam / sizeof pfam[0]; f++) {
        MEND_METRICS_FAM(pfam[f].name, MEND_METRIC_GAUGE, pfam[f].help);
        for (uint32_t p = 0; p < cs.partitions; p++) {
            struct part_run *pr = c->parts[p];
            if (!pr || pr->lost)
                continue;
            struct mend_engine_stats st;
            double v;
            mend_jetstream_stats(pr->in, &js);
            switch (f) {
            case 0: v = (double)js.lag; break;
            case 1: v = (double)js.pending; break;
            case 2: v = (double)js.held; break;
            case 3: v = (double)pr->epoch; break;
            default: mend_engine_stats(pr->eng, &st); v = (double)st.points; break;
            }
            snprintf(pid, sizeof pid, "%u", p);
            MEND_METRICS_VAL(lab, v);
        }
    }
    MEND_METRICS_FAM("mend_cluster_leases_acquired_total", MEND_METRIC_COUNTER,
                     "partition leases acquired (fresh, free or taken over)");
    MEND_METRICS_VAL(NULL, cs.acquired);
    MEND_METRICS_FAM("mend_cluster_takeovers_total", MEND_METRIC_COUNTER,
        "partition leases taken over from an engine that stopped renewing");
    MEND_METRICS_VAL(NULL, cs.taken_over);
    MEND_METRICS_FAM("mend_cluster_leases_lost_total", MEND_METRIC_COUNTER,
        "partition leases lost (taken by another engine, or not renewed in time)");
    MEND_METRICS_VAL(NULL, cs.lost);
    MEND_METRICS_FAM("mend_cluster_leases_handed_on_total", MEND_METRIC_COUNTER,
                     "partition leases released to another engine");
    MEND_METRICS_VAL(NULL, cs.handed_on);
    MEND_METRICS_FAM("mend_cluster_lease_renewals_total", MEND_METRIC_COUNTER, "lease renewals, by result");
    const char *r_ok[] = {"result", "ok", NULL}, *r_fail[] = {"result", "failed", NULL};
    MEND_METRICS_VAL(r_ok, cs.renewals);
    MEND_METRICS_VAL(r_fail, cs.renew_failures);
    MEND_METRICS_FAM("mend_cluster_kv_errors_total", MEND_METRIC_COUNTER,
                     "failed key-value calls (leases, announcements)");
    MEND_METRICS_VAL(NULL, cs.kv_errors);
    MEND_METRICS_FAM("mend_cluster_refused_samples_total", MEND_METRIC_COUNTER,
        "samples refused because their partition's lease had gone");
    MEND_METRICS_VAL(NULL, cs.refused);
    return MEND_OK;
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
    char err0[512];
    if (cfg.metrics.listen[0] && mend_metrics_listen_check(cfg.metrics.listen, err0, sizeof err0) != MEND_OK) {
        fprintf(stderr, "mend cluster: %s\n", err0);
        return MEND_EXIT_USAGE;
    }
    struct mend_cluster_run c;
    memset(&c, 0, sizeof c);
    c.po = &po;
    c.cfg = &cfg;
    c.started_ns = mono_ns(CLOCK_REALTIME);
    pthread_mutex_init(&c.ev_mu, NULL);
    int code = MEND_EXIT_OK;
    char err[512] = "";
    struct mend_outputs_conf ocf;
    mend_outputs_conf_defaults(&ocf);
    struct mend_output_report orep = {on_output_report, &c};
    struct mend_output_jsonl_conf jcf = {.path = cfg.incidents_output, .fd = -1};
    uint32_t P = cfg.cluster.partitions;
    if (!(c.parts = calloc(P, sizeof *c.parts)) || !(c.ev_acquired = calloc(P, sizeof *c.ev_acquired)) ||
        !(c.ev_lost = calloc(P, 1)) || !(c.ev_surplus = calloc(P, 1)) ||
        mend_outputs_new(&ocf, &orep, &c.outs) != MEND_OK ||
        mend_outputs_add(c.outs, &mend_output_jsonl_ops, &jcf, NULL, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend cluster: %s\n", err[0] ? err : "out of memory");
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    if (po.remediation_path || cfg.remediation.enabled) {
        if ((code = pipeline_remediation_open(po.remediation_path, &cfg.remediation, 0, &c.act)) != MEND_EXIT_OK)
            goto out;
        struct mend_act_output_conf acf = {c.act};
        if (mend_outputs_add(c.outs, &mend_output_act_ops, &acf, NULL, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend cluster: %s\n", err);
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
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
    if (cfg.metrics.listen[0]) {
        if ((rc = mend_metrics_server_new(&cfg.metrics, c.loop, &c.metrics, err, sizeof err)) != MEND_OK ||
            (rc = mend_metrics_register(c.metrics, cluster_collect, &c)) != MEND_OK) {
            fprintf(stderr, "mend cluster: %s\n", err[0] ? err : mend_strerror(rc));
            code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
            goto out;
        }
        fprintf(stderr, "mend cluster: metrics on http://%s/metrics (port %d)\n", cfg.metrics.listen,
                mend_metrics_server_port(c.metrics));
    }
    struct mend_lease_host lh = {lease_acquired, lease_lost, lease_surplus, &c};
    if ((rc = mend_leases_new(&cfg.cluster, &lh, &c.leases, err, sizeof err)) != MEND_OK) {
        fprintf(stderr, "mend cluster: %s\n", err[0] ? err : mend_strerror(rc));
        code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
        goto out;
    }
    if ((rc = mend_leases_start(c.leases)) != MEND_OK) {
        fprintf(stderr, "mend cluster: cannot start the lease thread: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    while (!c.stop) {
        rc = mend_loop_run_once(c.loop, 200);
        if (rc >= 0)
            rc = lease_events(&c);
        if (rc < 0) {
            fprintf(stderr, "mend cluster: %s\n", mend_strerror(rc));
            code = MEND_EXIT_RUNTIME;
            break;
        }
        for (uint32_t p = 0; p < P; p++) {
            struct part_run *pr = c.parts[p];
            if (!pr)
                continue;
            /* in this thread, not forked: libnats' own threads allocate all
             * the time, and a child forked while one holds an allocator lock
             * (ASan's does not reset them as glibc's does) never finishes.
             * A partition's state is a fraction of the whole: the stall is
             * short. */
            if (pr->ckpt_due && !pr->lost)
                part_checkpoint(pr);
            if (!pr->lost)
                part_report_input(pr);
            if (pr->lost) {
                /* fenced (lease lost, or not renewed in time): drop it, and if
                 * the lease module still holds it, give it back, so that it is
                 * claimed afresh -- from its checkpoint -- by whoever comes first */
                uint64_t epoch = pr->epoch;
                part_free(pr);
                c.parts[p] = NULL;
                int held = mend_leases_release(c.leases, p, epoch) == MEND_OK;
                if (!po.quiet)
                    fprintf(stderr, "mend cluster: %s lost partition %u%s\n", mend_leases_name(c.leases), p,
                            held ? " (lease not renewed in time)" : "");
            }
        }
        mend_outputs_retry(c.outs);
        if (c.act)
            mend_act_poll(c.act, newest_event_time(&c));
    }
    /* the end: every partition checkpointed and acknowledged, then released */
    for (uint32_t p = 0; p < cfg.cluster.partitions; p++) {
        struct part_run *pr = c.parts[p];
        if (!pr || pr->lost)
            continue;
        int64_t left = mend_leases_valid(c.leases, p, mono_ns(CLOCK_MONOTONIC)) ? 1 : 0;
        /* the input's thread stops (joined: at the end the loop may wait)
         * and what it fetched goes into the state now, in order, so the
         * final checkpoint covers and acknowledges it; a fenced sample
         * marks the partition lost, and the checkpoint below refuses */
        if (mend_inputs_shutdown(pr->in) == MEND_ENOMEM && code == MEND_EXIT_OK)
            code = MEND_EXIT_RUNTIME;
        rc = part_checkpoint(pr);
        if (rc == MEND_ENOTFOUND || rc == MEND_EAGAIN) {
            /* fenced: not ours to checkpoint; the next owner resumes from
             * the last checkpoint and the unacknowledged messages */
            if (!po.quiet)
                fprintf(stderr, "mend cluster: %s lost partition %u (lease %s at the end)\n",
                        mend_leases_name(c.leases), p, left ? "lapsing" : "lapsed");
        } else if (rc != MEND_OK && code == MEND_EXIT_OK) {
            code = MEND_EXIT_RUNTIME;
        }
    }
    if (c.act)
        mend_act_poll(c.act, newest_event_time(&c));
    mend_outputs_close(c.outs);
    if (!po.quiet)
        summary(&c);
out:
    /* the lease thread first: its callbacks use c.loop and the flags */
    mend_leases_free(c.leases, 0);
    if (c.parts)
        for (uint32_t p = 0; p < cfg.cluster.partitions; p++)
            part_free(c.parts[p]);
    free(c.parts);
    free(c.ev_acquired);
    free(c.ev_lost);
    free(c.ev_surplus);
    pthread_mutex_destroy(&c.ev_mu);
    mend_metrics_server_free(c.metrics);
    mend_loop_free(c.loop);
    mend_outputs_free(c.outs);
    mend_act_close(c.act); /* after the output set that borrows it */
    mend_ocsvm_kind_fini(&cfg.engine.ocsvm);
    fflush(stdout);
    if (c.score_f && c.score_f != stdout)
        fclose(c.score_f);
    return code;
}
