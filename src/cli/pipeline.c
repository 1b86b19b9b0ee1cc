/* pipeline.c -- the body of `mend replay` and `mend run` (see pipeline.h).
 *
 * One event loop (loop.h) and one input set (input.h): the inputs turn
 * bytes into samples, which go straight into the engine. `replay` merges its
 * inputs by event time and runs the loop's timers on event time; `run` reads
 * inputs as they come and runs timers on the clock. The wall clock is read
 * only for progress display, for stamping untimed live input, and -- in
 * `run` -- to move event time on while live input is silent; detection
 * itself only ever sees event time. Checkpoints are decided as samples pass
 * and written from the loop's turn. */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mend/incident.h"
#include "mend/numfmt.h"
#include "mend/metrics.h"
#include "mend/logsig.h"
#include "mend/cluster.h"
#include "mend/act.h"
#include "mend/output.h"
#include "mend/pcap.h"
#include "mend/state.h"

#define MAX_HUP_HOOKS 8

struct pipe {
    const struct pipeline_opts *po;
    struct mend_config *cfg;
    struct mend_engine *eng;
    struct mend_loop *loop;
    struct mend_inputs *in;
    struct mend_outputs *outs;  /* every consumer of incidents: jsonl, table, ... */
    FILE *score_f;
    struct mend_state_bg *bg;   /* a checkpoint being written by a child */
    int ckpt_failed;            /* the last checkpoint failed */
    uint64_t ckpt_gen, bg_gen;  /* checkpoints taken; the one bg is writing (inputs ack on commit) */
    uint64_t errors, bytes_total;
    int64_t next_ckpt;        /* event time of the next checkpoint (INT64_MAX: none) */
    int ckpt_due;             /* decided, waiting for the loop's turn */
    int progress;
    double last_progress;
    int stop;                 /* SIGTERM/SIGINT */
    int seen_time;            /* a sample with a timestamp went by */
    uint64_t untimed_start;   /* replay: untimed samples before any timestamp, given untimed_t */
    uint64_t untimed_live;    /* run: untimed samples, given their arrival time */
    int64_t untimed_t;        /* the replay's start (wall clock), taken at the first of them */
    struct mend_metrics_server *metrics; /* run with metrics.listen: /metrics, /healthz */
    /* checkpoints, for /metrics */
    double ckpt_started;      /* monotonic seconds when the one being written began */
    double ckpt_duration;     /* seconds the last finished one took */
    int64_t ckpt_last_ok;     /* realtime ns of the last success; 0 = none yet */
    uint64_t ckpt_ok, ckpt_failures;
    int64_t started_ns;       /* realtime ns at start */
    /* SIGHUP: what can change without a restart registers here (scrape
     * targets, later rules); run after the outputs are reopened */
    struct {
        int (*fn)(void *ctx, char *err, size_t errlen);
        void *ctx;
    } hup[MAX_HUP_HOOKS];
    size_t n_hup;
    uint64_t hups;
    struct mend_logsig *logs; /* the log formats' shared miner and counters (logsig.h) */
    struct mend_act *act;     /* remediation stage (--remediation), NULL = none */
    struct mend_act_store *act_store; /* its learnt outcomes in the checkpoint (act.h) */
};

/* The log-signal context as a checkpoint section and an incident annotator. */
static int logs_save(const void *ctx, struct mend_wbuf *w)
{
    return mend_logsig_save(ctx, w);
}

static int logs_load(void *ctx, struct mend_rbuf *r)
{
    return mend_logsig_load(ctx, r);
}

static int logs_note(void *ctx, const char *key, size_t key_len, const char **tmpl, size_t *tmpl_len,
                     const char **example, size_t *example_len)
{
    return mend_logsig_annotate(ctx, key, key_len, tmpl, tmpl_len, example, example_len);
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void pipeline_help_common(FILE *f)
{
    fprintf(f,
            "  --config FILE       YAML configuration (every option has a default; see below)\n"
            "  --set KEY=VALUE     set one option, e.g. --set detect.threshold=0.6 (repeatable,\n"
            "                      applied after --config)\n"
            "  --format F          input format: lp, prom, csv, csvlong, syslog, json or text\n"
            "                      (default: from the file extension .lp/.prom/.csv/.jsonl,\n"
            "                      else from the content; what cannot be told is read as lp,\n"
            "                      its bad lines counted)\n"
            "  --incidents FILE    write incident JSON lines to FILE ('-' = stdout)\n"
            "  --scores FILE       also write every sample's score as CSV: key,time_ns,value,score\n"
            "                      (a counter's value is its per-second rate: counters.*)\n"
            "  --checkpoint FILE   restore state from FILE at start (if it exists) and save it on\n"
            "                      the checkpoint interval and at exit\n"
            "  --discard-checkpoint  start fresh on purpose: do not restore the checkpoint\n"
            "                      (one written under other options cannot be); the file is\n"
            "                      replaced at the next checkpoint\n"
            "  --strict            exit with status 3 if any input line was malformed\n"
            "  --remediation FILE  turn incidents into actions: a YAML file with a remediation:\n"
            "                      section (rules, Redis, signing key, spool, audit log)\n"
            "  --quiet             no summary on stderr\n"
            "  --progress/--no-progress  progress on stderr (default: only on a terminal)\n"
            "  -h, --help          this text\n\n"
            "CSV shapes (a header line is required; a first line of numbers is an error):\n"
            "  wide (csv)      timestamp,NAME,NAME,...  one series per column; the first column\n"
            "                  is the time when named time or timestamp (ISO-8601 or epoch),\n"
            "                  else the row number is the time\n"
            "  long (csvlong)  timestamp,TAG,...,metric,value  one sample per row; the series\n"
            "                  is METRIC,TAG=VALUE,...; the input.entity_tag column names the\n"
            "                  entity; never guessed: pass --format csvlong\n\n"
            "Malformed lines are reported on stderr as SOURCE:LINE:COL: REASON (the first\n"
            "input.error_log_limit per source), counted, and skipped; the rest is processed.\n\n"
            "exit codes: 0 ok, 1 runtime error (I/O, bad checkpoint), 2 usage or\n"
            "configuration error or an input that cannot be opened, 3 malformed input with --strict\n\n"
            "options (KEY, default, meaning):\n");
    mend_config_print_docs(f);
}

int pipeline_parse_args(int argc, char **argv, const char *cmd, void (*help)(FILE *),
                        struct pipeline_opts *po, struct mend_config *cfg)
{
    memset(po, 0, sizeof *po);
    po->progress = -1;
    mend_config_defaults(cfg);
    char err[512];
    /* --config first, so --set always wins whatever the order on the line */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return MEND_EXIT_OK;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            po->config_path = argv[++i];
            if (mend_config_load(cfg, po->config_path, err, sizeof err) != MEND_OK) {
                fprintf(stderr, "mend %s: %s\n", cmd, err);
                return MEND_EXIT_USAGE;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--config") && has_val) {
            i++;
        } else if (!strcmp(a, "--set") && has_val) {
            const char *kv = argv[++i];
            const char *eq = strchr(kv, '=');
            char key[128];
            if (!eq || (size_t)(eq - kv) >= sizeof key) {
                fprintf(stderr, "mend %s: --set wants KEY=VALUE, got '%s'\n", cmd, kv);
                return MEND_EXIT_USAGE;
            }
            memcpy(key, kv, (size_t)(eq - kv));
            key[eq - kv] = '\0';
            if (mend_config_set(cfg, key, eq + 1, err, sizeof err) != MEND_OK) {
                fprintf(stderr, "mend %s: --set %s\n", cmd, err);
                return MEND_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--format") && has_val) {
            if (mend_config_set(cfg, "input.format", argv[++i], err, sizeof err) != MEND_OK) {
                fprintf(stderr, "mend %s: --format %s\n", cmd, err);
                return MEND_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--incidents") && has_val) {
            po->incidents_path = argv[++i];
        } else if (!strcmp(a, "--scores") && has_val) {
            po->scores_path = argv[++i];
        } else if (!strcmp(a, "--checkpoint") && has_val) {
            po->checkpoint_path = argv[++i];
        } else if (!strcmp(a, "--discard-checkpoint")) {
            po->discard_checkpoint = 1;
        } else if (!strcmp(a, "--remediation") && has_val) {
            po->remediation_path = argv[++i];
        } else if (!strcmp(a, "--strict")) {
            po->strict = 1;
        } else if (!strcmp(a, "--quiet")) {
            po->quiet = 1;
        } else if (!strcmp(a, "--progress")) {
            po->progress = 1;
        } else if (!strcmp(a, "--no-progress")) {
            po->progress = 0;
        } else if (!strcmp(a, "--table")) {
            po->table = 1;
        } else if (a[0] == '-' && a[1] == '-' && a[2] == '\0') {
            po->inputs = argv + i + 1;
            po->n_inputs = argc - i - 1;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "mend %s: unknown or incomplete option '%s' (see mend %s --help)\n", cmd, a, cmd);
            return MEND_EXIT_USAGE;
        } else {
            /* positional: gather the inputs in place, in order */
            if (!po->inputs)
                po->inputs = argv + i;
            po->inputs[po->n_inputs++] = argv[i];
        }
    }
    if (mend_scorer_conf_check(&cfg->engine.scorer, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend %s: detect: %s\n", cmd, err);
        return MEND_EXIT_USAGE;
    }
    if (po->incidents_path)
        snprintf(cfg->incidents_output, sizeof cfg->incidents_output, "%s", po->incidents_path);
    if (po->checkpoint_path)
        snprintf(cfg->checkpoint_path, sizeof cfg->checkpoint_path, "%s", po->checkpoint_path);
    return -1;
}

/* ---- callbacks ------------------------------------------------------------ */

static void on_parse_error(void *ctx, const char *stream, uint64_t nth, uint64_t line, uint32_t col,
                           const char *reason)
{
    struct pipe *p = ctx;
    if (line == 0) { /* the stream as a whole (a scrape that failed): not a malformed line */
        fprintf(stderr, "mend: %s: %s\n", stream, reason);
        return;
    }
    p->errors++;
    if (nth <= p->cfg->error_log_limit)
        fprintf(stderr, "%s:%" PRIu64 ":%u: %s\n", stream, line, col, reason);
    if (nth == (uint64_t)p->cfg->error_log_limit + 1)
        fprintf(stderr, "%s: more malformed lines; only counting them from now on\n", stream);
}

/* The result of a background checkpoint, once its child is done (wait: block
 * until it is). */
static void checkpoint_reap(struct pipe *p, int wait)
{
    if (!p->bg)
        return;
    char err[512];
    int rc = mend_state_bg_reap(p->bg, wait, err, sizeof err);
    if (rc == MEND_EAGAIN)
        return;
    if (rc != MEND_OK)
        fprintf(stderr, "mend: checkpoint failed: %s\n", err);
    p->ckpt_failed = rc != MEND_OK;
    p->ckpt_duration = wall_now() - p->ckpt_started;
    if (rc == MEND_OK) {
        p->ckpt_ok++;
        p->ckpt_last_ok = realtime_ns();
    } else {
        p->ckpt_failures++;
    }
    if (p->in)
        mend_inputs_checkpoint(p->in, rc == MEND_OK ? MEND_INPUT_CKPT_COMMITTED : MEND_INPUT_CKPT_FAILED, p->bg_gen);
    mend_state_bg_free(p->bg);
    p->bg = NULL;
}

/* A checkpoint on the interval: written by a forked child from a
 * copy-on-write image of the state as it is now, so ingest goes on while
 * the file is written (as Redis's BGSAVE). One at a time: a checkpoint
 * due while the last is still being written waits for it. */
static void checkpoint_now(struct pipe *p)
{
    char err[512];
    p->ckpt_due = 0;
    checkpoint_reap(p, 1);
    p->ckpt_started = wall_now();
    if (mend_inputs_of_kind(p->in, &mend_input_jetstream_ops, 0)) {
        /* a JetStream input runs libnats' threads, which allocate all the
         * time: a child forked while one holds an allocator lock may never
         * finish (glibc resets its locks at fork, ASan's do not), so this
         * checkpoint is written here */
        uint64_t gen = ++p->ckpt_gen;
        mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_TAKEN, gen);
        int rc = mend_engine_checkpoint(p->eng, p->cfg->checkpoint_path, err, sizeof err);
        p->ckpt_duration = wall_now() - p->ckpt_started;
        if (rc != MEND_OK) {
            fprintf(stderr, "mend: checkpoint failed: %s\n", err);
            p->ckpt_failed = 1;
            p->ckpt_failures++;
        } else {
            p->ckpt_failed = 0;
            p->ckpt_ok++;
            p->ckpt_last_ok = realtime_ns();
        }
        mend_inputs_checkpoint(p->in, rc == MEND_OK ? MEND_INPUT_CKPT_COMMITTED : MEND_INPUT_CKPT_FAILED, gen);
        return;
    }
    if (mend_engine_checkpoint_bg(p->eng, p->cfg->checkpoint_path, &p->bg, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: checkpoint failed: %s\n", err);
        p->ckpt_failed = 1;
        p->ckpt_failures++;
        return;
    }
    /* the child's image holds every sample delivered so far */
    p->bg_gen = ++p->ckpt_gen;
    mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_TAKEN, p->bg_gen);
}

/* The last checkpoint, at exit: in this process, and its result decides the
 * exit code. */
static int checkpoint_final(struct pipe *p)
{
    char err[512];
    checkpoint_reap(p, 1);
    uint64_t gen = ++p->ckpt_gen;
    mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_TAKEN, gen);
    if (mend_engine_checkpoint(p->eng, p->cfg->checkpoint_path, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: checkpoint failed: %s\n", err);
        p->ckpt_failures++;
        mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_FAILED, gen);
        return MEND_EIO;
    }
    p->ckpt_ok++;
    mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_COMMITTED, gen);
    return MEND_OK;
}

/* Without a checkpoint path nothing is durable: what was delivered is all
 * the state will ever hold, so inputs that acknowledge may do it now. */
static void no_state_commit(struct pipe *p)
{
    if (p->cfg->checkpoint_path[0])
        return;
    uint64_t gen = ++p->ckpt_gen;
    mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_TAKEN, gen);
    mend_inputs_checkpoint(p->in, MEND_INPUT_CKPT_COMMITTED, gen);
}

static int on_ckpt_timer(struct mend_loop *l, uint64_t id, void *ctx)
{
    (void)l;
    (void)id;
    checkpoint_now(ctx);
    return MEND_OK;
}

/* Decides, in the data path, whether event time has passed the next
 * checkpoint; the checkpoint itself is written by a timer due at once, i.e.
 * from the loop's turn, never from inside a parser callback. Returns 1 when
 * one is due. */
static int checkpoint_decide(struct pipe *p)
{
    struct mend_engine_stats st;
    if (!p->cfg->checkpoint_path[0] || p->ckpt_due)
        return 0;
    mend_engine_stats(p->eng, &st);
    if (st.watermark == INT64_MIN)
        return 0;
    if (p->next_ckpt == INT64_MIN) {
        p->next_ckpt = st.watermark > INT64_MAX - p->cfg->checkpoint_interval_ns
                           ? INT64_MAX
                           : st.watermark + p->cfg->checkpoint_interval_ns;
        return 0;
    }
    if (st.watermark < p->next_ckpt || p->next_ckpt == INT64_MAX)
        return 0; /* INT64_MAX: the interval ran off the end of time */
    p->next_ckpt = st.watermark > INT64_MAX - p->cfg->checkpoint_interval_ns
                       ? INT64_MAX
                       : st.watermark + p->cfg->checkpoint_interval_ns;
    p->ckpt_due = 1;
    return 1;
}

static int on_point(void *ctx, const struct mend_point *pt)
{
    struct pipe *p = ctx;
    int rc;
    if (!pt->has_time && p->po->live) {
        struct mend_point q = *pt;
        q.time_ns = realtime_ns();
        q.has_time = 1;
        p->untimed_live++;
        rc = mend_engine_point(p->eng, &q);
    } else if (!pt->has_time && !p->seen_time) {
        /* replay, and no time seen yet: the engine would have only 0 (1970)
         * to give; the replay's start is what a collector would stamp */
        struct mend_point q = *pt;
        if (!p->untimed_start)
            p->untimed_t = realtime_ns();
        p->untimed_start++;
        q.time_ns = p->untimed_t;
        q.has_time = 1;
        rc = mend_engine_point(p->eng, &q);
    } else {
        p->seen_time |= pt->has_time;
        rc = mend_engine_point(p->eng, pt);
    }
    if (pt->has_time && pt->time_ns >= p->next_ckpt && checkpoint_decide(p) &&
        mend_loop_timer_add(p->loop, mend_loop_now(p->loop), 0, on_ckpt_timer, p, NULL) != MEND_OK)
        p->ckpt_due = 0; /* no timer slot: try again at the next sample */
    return rc;
}

static void show_progress(struct pipe *p, int final)
{
    if (!p->progress)
        return;
    double now = wall_now();
    if (!final && now - p->last_progress < 0.5)
        return;
    p->last_progress = now;
    struct mend_engine_stats st;
    struct mend_inputs_stats is;
    mend_engine_stats(p->eng, &st);
    mend_inputs_stats(p->in, &is);
    if (p->bytes_total)
        fprintf(stderr, "\r%5.1f%%  %" PRIu64 " samples  %u series  %" PRIu64 " anomalies  %" PRIu64 " errors   ",
                100.0 * (double)is.bytes / (double)p->bytes_total, st.points, st.series, st.anomalies, p->errors);
    else
        fprintf(stderr, "\r%" PRIu64 " bytes  %" PRIu64 " samples  %u series  %" PRIu64 " anomalies   ", is.bytes,
                st.points, st.series, st.anomalies);
    if (final)
        fputc('\n', stderr);
}

/* `run`: while live input is silent, the clock moves event time on so that
 * silent series are noticed -- but only when the data's own times are near
 * the clock (not while old data is being fed into `run`). */
static int on_silence_timer(struct mend_loop *l, uint64_t id, void *ctx)
{
    struct pipe *p = ctx;
    struct mend_engine_stats st;
    (void)l;
    (void)id;
    mend_engine_stats(p->eng, &st);
    int64_t now = realtime_ns();
    if (st.watermark != INT64_MIN && now > st.watermark && now - st.watermark < 3600LL * 1000000000LL)
        mend_engine_advance(p->eng, now);
    if (checkpoint_decide(p)) /* we are in the loop's turn: write it now */
        checkpoint_now(p);
    return MEND_OK;
}

static int on_stop_signal(struct mend_loop *l, int sig, void *ctx)
{
    struct pipe *p = ctx;
    (void)sig;
    p->stop = 1;
    mend_loop_stop(l);
    return MEND_OK;
}

static void on_incident(void *ctx, const char *status, const struct mend_incident *inc, const char *json,
                        size_t len)
{
    struct pipe *p = ctx;
    if (p->outs) /* outputs open after everything was checked */
        mend_outputs_emit(p->outs, status, inc, json, len);
}

static void on_output_report(void *ctx, const char *output, int code, uint64_t count, const char *msg)
{
    (void)ctx;
    (void)code;
    if (count <= 10 || count % 1000 == 0)
        fprintf(stderr, "mend: output %s: %s (%" PRIu64 " so far)\n", output, msg, count);
}

static void on_score(void *ctx, const struct mend_series *s, int64_t t, double v, double score)
{
    struct pipe *p = ctx;
    if (!p->score_f)
        return;
    fputc('"', p->score_f);
    if (!memchr(s->key, '"', s->key_len)) { /* the usual key: one write, not a call per byte */
        fwrite(s->key, 1, s->key_len, p->score_f);
    } else {
        for (uint32_t i = 0; i < s->key_len; i++) {
            if (s->key[i] == '"')
                fputc('"', p->score_f);
            fputc(s->key[i], p->score_f);
        }
    }
    /* "\",%" PRId64 ",%.17g,%.6f\n" without printf's slow exact path (numfmt.h) */
    char line[8 + 24 + MEND_FMT_G17_MAX + MEND_FMT_F6_MAX];
    size_t n = 0;
    line[n++] = '"';
    line[n++] = ',';
    n += mend_fmt_i64(line + n, t);
    line[n++] = ',';
    n += mend_fmt_g17(line + n, v);
    line[n++] = ',';
    n += mend_fmt_f6(line + n, score);
    line[n++] = '\n';
    fwrite(line, 1, n, p->score_f);
}

static FILE *open_out(const char *path, const char *what)
{
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "a"); /* appended, never truncated */
    if (!f)
        fprintf(stderr, "mend: cannot open %s output %s: %s\n", what, path, strerror(errno));
    return f;
}

/* Samples delivered per step of a replay between two turns of the loop
 * (signals, timers): small enough to react at once, large enough that a
 * turn costs nothing next to the samples. */
#define STEP_SAMPLES 4096

static void print_input_stats(const struct pipe *p)
{
    struct mend_inputs_stats is;
    mend_inputs_stats(p->in, &is);
    if (is.scrapes)
        fprintf(stderr,
                "mend: scrapes: %" PRIu64 " done, %" PRIu64 " failed, %" PRIu64 " over body_limit, %" PRIu64
                " over sample_limit, %" PRIu64 " over label_limit\n",
                is.scrapes, is.scrape_failed, is.scrape_body_limit, is.scrape_sample_limit, is.scrape_label_limit);
    if (!(is.truncated | is.evicted | is.idle_closed | is.refused | is.accept_paused | is.errors | is.feed_failed))
        return;
    fprintf(stderr,
            "mend: inputs: %" PRIu64 " truncated lines, %" PRIu64 " connections evicted at the cap, %" PRIu64
            " closed idle, %" PRIu64 " refused, %" PRIu64 " accept pauses, %" PRIu64 " read errors, %" PRIu64
            " failed feeds%s%s\n",
            is.truncated, is.evicted, is.idle_closed, is.refused, is.accept_paused, is.errors, is.feed_failed,
            mend_inputs_last_error(p->in)[0] ? "; last: " : "", mend_inputs_last_error(p->in));
}

/* ---- SIGHUP ------------------------------------------------------------------ */

/* Registers what SIGHUP re-reads (the scraper's targets, later rules):
 * fn runs on the loop thread after the outputs were reopened; a failure is
 * reported and the old setting kept -- a HUP never stops the daemon.
 * Returns 0 or MEND_ECAP. */
static int pipeline_on_hup(struct pipe *p, int (*fn)(void *ctx, char *err, size_t errlen), void *ctx)
{
    if (p->n_hup == MAX_HUP_HOOKS)
        return MEND_ECAP;
    p->hup[p->n_hup].fn = fn;
    p->hup[p->n_hup].ctx = ctx;
    p->n_hup++;
    return MEND_OK;
}

/* Reopens the scores file by name (appended): new file first, so a failure
 * keeps the old one. */
static int reopen_scores(void *ctx, char *err, size_t errlen)
{
    struct pipe *p = ctx;
    if (!p->score_f || p->score_f == stdout)
        return MEND_OK;
    FILE *f = fopen(p->po->scores_path, "a");
    if (!f) {
        snprintf(err, errlen, "cannot reopen scores output %s (still writing to the old file): %s",
                 p->po->scores_path, strerror(errno));
        return MEND_EIO;
    }
    fclose(p->score_f);
    p->score_f = f;
    return MEND_OK;
}

static int on_hup_signal(struct mend_loop *l, int sig, void *ctx)
{
    struct pipe *p = ctx;
    char err[512];
    (void)l;
    (void)sig;
    p->hups++;
    int failed = 0;
    if (p->outs && mend_outputs_reopen(p->outs, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: SIGHUP: %s\n", err);
        failed = 1;
    }
    for (size_t i = 0; i < p->n_hup; i++) {
        err[0] = '\0';
        if (p->hup[i].fn(p->hup[i].ctx, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: SIGHUP: %s\n", err[0] ? err : "a reload failed");
            failed = 1;
        }
    }
    if (!p->po->quiet)
        fprintf(stderr, "mend: SIGHUP: outputs reopened%s\n", failed ? " (with errors above)" : "");
    return MEND_OK; /* never a reason to stop */
}

/* ---- /metrics ---------------------------------------------------------------- */


/* The pipeline's own families: the engine's, the incidents', the inputs'
 * and the checkpoints' counters, read where they are counted. */
/* One per-input counter family: bytes read (lines 0) or lines read (1). */
static int input_counts(struct mend_metrics_out *o, const struct mend_inputs *in, int lines)
{
    int rc;
    if (lines)
        MEND_METRICS_FAM("mend_input_lines_total", MEND_METRIC_COUNTER, "newline-ended lines read, per input");
    else
        MEND_METRICS_FAM("mend_input_bytes_total", MEND_METRIC_COUNTER, "bytes read, per input");
    size_t n_in = mend_inputs_count(in);
    for (size_t i = 0; i < n_in; i++) {
        const char *spec;
        uint64_t nb, nl;
        if (mend_inputs_counts(in, i, &spec, &nb, &nl) == MEND_OK) {
            const char *lab[] = {"input", spec, NULL};
            MEND_METRICS_VAL(lab, lines ? nl : nb);
        }
    }
    return MEND_OK;
}

static int pipe_collect(void *ctx, struct mend_metrics_out *o)
{
    struct pipe *p = ctx;
    struct mend_engine_stats st;
    struct mend_incident_stats is;
    struct mend_inputs_stats ins;
    int rc;
    mend_engine_stats(p->eng, &st);
    mend_engine_incident_stats(p->eng, &is);
    mend_inputs_stats(p->in, &ins);
    const char *ver[] = {"version", MEND_VERSION, NULL};
    MEND_METRICS_FAM("mend_build_info", MEND_METRIC_GAUGE, "always 1; the version of mend");
    MEND_METRICS_VAL(ver, 1);
    MEND_METRICS_FAM("mend_start_time_seconds", MEND_METRIC_GAUGE, "when this process started, in Unix seconds");
    MEND_METRICS_VAL(NULL, (double)p->started_ns * 1e-9);
    MEND_METRICS_FAM("mend_samples_total", MEND_METRIC_COUNTER, "samples taken in (after parsing)");
    MEND_METRICS_VAL(NULL, st.points);
    MEND_METRICS_FAM("mend_samples_scored_total", MEND_METRIC_COUNTER, "samples scored by the detectors");
    MEND_METRICS_VAL(NULL, st.scored);
    MEND_METRICS_FAM("mend_series", MEND_METRIC_GAUGE, "live series");
    MEND_METRICS_VAL(NULL, st.series);
    MEND_METRICS_FAM("mend_entities", MEND_METRIC_GAUGE, "entities (hosts, services) with a model");
    MEND_METRICS_VAL(NULL, st.entities);
    MEND_METRICS_FAM("mend_malformed_lines_total", MEND_METRIC_COUNTER, "input lines refused as malformed");
    MEND_METRICS_VAL(NULL, p->errors);
    MEND_METRICS_FAM("mend_late_samples_total", MEND_METRIC_COUNTER,
        "samples older than their series' newest beyond input.lateness, dropped");
    MEND_METRICS_VAL(NULL, st.late_dropped);
    MEND_METRICS_FAM("mend_refused_samples_total", MEND_METRIC_COUNTER,
        "samples refused: series cap reached (series_cap), too far ahead of event time (ahead)");
    const char *r1[] = {"reason", "series_cap", NULL}, *r2[] = {"reason", "ahead", NULL};
    MEND_METRICS_VAL(r1, st.refused_series);
    MEND_METRICS_VAL(r2, st.ahead_refused);
    MEND_METRICS_FAM("mend_evicted_series_total", MEND_METRIC_COUNTER, "idle series evicted (series.idle_evict)");
    MEND_METRICS_VAL(NULL, st.evicted);
    MEND_METRICS_FAM("mend_anomalies_total", MEND_METRIC_COUNTER, "anomaly events, by kind");
    const char *k1[] = {"kind", "series", NULL}, *k2[] = {"kind", "absence", NULL},
               *k3[] = {"kind", "multivariate", NULL};
    MEND_METRICS_VAL(k1, st.anomalies);
    MEND_METRICS_VAL(k2, st.absences);
    MEND_METRICS_VAL(k3, st.multivariate);
    MEND_METRICS_FAM("mend_incidents_open", MEND_METRIC_GAUGE, "incidents open now");
    MEND_METRICS_VAL(NULL, is.open_now);
    MEND_METRICS_FAM("mend_incidents_opened_total", MEND_METRIC_COUNTER, "incidents opened");
    MEND_METRICS_VAL(NULL, is.opened);
    MEND_METRICS_FAM("mend_incidents_resolved_total", MEND_METRIC_COUNTER, "incidents resolved");
    MEND_METRICS_VAL(NULL, is.resolved);
    MEND_METRICS_FAM("mend_incident_excursions_total", MEND_METRIC_COUNTER,
        "sub-alarm excursions of open incidents' signals written as updates (incidents.watch_tail)");
    MEND_METRICS_VAL(NULL, is.excursions);
    MEND_METRICS_FAM("mend_incident_excursions_dropped_total", MEND_METRIC_COUNTER,
        "excursions counted but not written (incidents.max_excursions reached)");
    MEND_METRICS_VAL(NULL, is.excursions_dropped);
    MEND_METRICS_FAM("mend_incident_events_refused_total", MEND_METRIC_COUNTER,
        "anomaly events no incident could take (incidents.max_open reached)");
    MEND_METRICS_VAL(NULL, st.events_refused);
    MEND_METRICS_FAM("mend_memory_bytes", MEND_METRIC_GAUGE, "memory held by series, detectors and rings");
    MEND_METRICS_VAL(NULL, st.memory);
    if (st.watermark != INT64_MIN) {
        MEND_METRICS_FAM("mend_event_time_seconds", MEND_METRIC_GAUGE,
                         "the newest event time (watermark), Unix seconds");
        MEND_METRICS_VAL(NULL, (double)st.watermark * 1e-9);
    }
    if ((rc = input_counts(o, p->in, 0)) != MEND_OK || (rc = input_counts(o, p->in, 1)) != MEND_OK)
        return rc;
    MEND_METRICS_FAM("mend_input_connections", MEND_METRIC_GAUGE, "TCP connections open now");
    MEND_METRICS_VAL(NULL, ins.open_conns);
    MEND_METRICS_FAM("mend_input_connections_closed_total", MEND_METRIC_COUNTER,
        "TCP connections closed by mend: over input.max_conns (refused, evicted), idle");
    const char *c1[] = {"reason", "refused", NULL}, *c2[] = {"reason", "evicted", NULL},
               *c3[] = {"reason", "idle", NULL};
    MEND_METRICS_VAL(c1, ins.refused);
    MEND_METRICS_VAL(c2, ins.evicted);
    MEND_METRICS_VAL(c3, ins.idle_closed);
    MEND_METRICS_FAM("mend_input_truncated_lines_total", MEND_METRIC_COUNTER, "lines cut off by a disconnect, dropped");
    MEND_METRICS_VAL(NULL, ins.truncated);
    MEND_METRICS_FAM("mend_input_errors_total", MEND_METRIC_COUNTER, "read, accept and receive errors");
    MEND_METRICS_VAL(NULL, ins.errors);
    MEND_METRICS_FAM("mend_sighup_total", MEND_METRIC_COUNTER, "SIGHUPs handled (outputs reopened)");
    MEND_METRICS_VAL(NULL, p->hups);
    if (mend_scrape_configured(&p->cfg->scrape)) {
        const char *sk_failed[] = {"result", "failed", NULL}, *sk_body[] = {"result", "body_limit", NULL},
                   *sk_samples[] = {"result", "sample_limit", NULL}, *sk_labels[] = {"result", "label_limit", NULL};
        MEND_METRICS_FAM("mend_scrapes_total", MEND_METRIC_COUNTER, "Prometheus scrapes done, successful or not");
        MEND_METRICS_VAL(NULL, ins.scrapes);
        MEND_METRICS_FAM("mend_scrape_problems_total", MEND_METRIC_COUNTER,
            "scrapes that failed (no answer, an HTTP error) or were refused whole over a limit");
        MEND_METRICS_VAL(sk_failed, ins.scrape_failed);
        MEND_METRICS_VAL(sk_body, ins.scrape_body_limit);
        MEND_METRICS_VAL(sk_samples, ins.scrape_sample_limit);
        MEND_METRICS_VAL(sk_labels, ins.scrape_label_limit);
    }
    MEND_METRICS_FAM("mend_rate_resets_total", MEND_METRIC_COUNTER,
                     "cumulative series that fell (restarts), not scored as anomalies");
    MEND_METRICS_VAL(NULL, st.rate_resets);
    if (p->cfg->checkpoint_path[0]) {
        double since = (double)(realtime_ns() - (p->ckpt_last_ok ? p->ckpt_last_ok : p->started_ns)) * 1e-9;
        MEND_METRICS_FAM("mend_checkpoint_age_seconds", MEND_METRIC_GAUGE,
            "seconds since the last successful checkpoint (since start when none yet)");
        MEND_METRICS_VAL(NULL, since > 0 ? since : 0);
        MEND_METRICS_FAM("mend_checkpoint_last_success_timestamp_seconds", MEND_METRIC_GAUGE,
            "Unix time of the last successful checkpoint; 0 = none yet");
        MEND_METRICS_VAL(NULL, (double)p->ckpt_last_ok * 1e-9);
        MEND_METRICS_FAM("mend_checkpoint_duration_seconds", MEND_METRIC_GAUGE,
                         "how long the last finished checkpoint took");
        MEND_METRICS_VAL(NULL, p->ckpt_duration);
        MEND_METRICS_FAM("mend_checkpoints_total", MEND_METRIC_COUNTER, "checkpoints written");
        MEND_METRICS_VAL(NULL, p->ckpt_ok);
        MEND_METRICS_FAM("mend_checkpoint_failures_total", MEND_METRIC_COUNTER, "checkpoints that failed");
        MEND_METRICS_VAL(NULL, p->ckpt_failures);
    }
    return MEND_OK;
}

/* A checkpoint path is tried at start, before anything is opened for
 * writing, by creating a file beside it -- where the writer puts its
 * temporary file -- so a path that cannot be written stops the start
 * (exit 1) rather than the first checkpoint an hour later. */
static int checkpoint_probe(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "checkpoint path %s cannot be written: not a regular file", path);
        return MEND_EIO;
    }
    char probe[MEND_CONFIG_PATH_MAX + 32];
    int n = snprintf(probe, sizeof probe, "%s.probe-%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof probe) {
        snprintf(err, errlen, "checkpoint path %s: too long", path);
        return MEND_EINVAL;
    }
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "checkpoint path %s cannot be written: %s", path, strerror(errno));
        return MEND_EIO;
    }
    close(fd);
    unlink(probe);
    return MEND_OK;
}

int pipeline_run(const struct pipeline_opts *po, struct mend_config *cfg)
{
    struct pipe p;
    memset(&p, 0, sizeof p);
    p.po = po;
    p.cfg = cfg;
    p.next_ckpt = cfg->checkpoint_path[0] ? INT64_MIN : INT64_MAX;
    p.started_ns = realtime_ns();
    int rc, code = MEND_EXIT_OK;
    char err[MEND_CONFIG_PATH_MAX + 512] = ""; /* messages name paths */

    /* Order: everything that can be refused -- the metrics address, the
     * checkpoint path, the engine's options, the checkpoint's contents,
     * the inputs, the listeners -- comes first; only then are the
     * outputs opened for writing, so a typo anywhere on the command line
     * leaves every output file as it was. */
    int serve_metrics = po->live && cfg->metrics.listen[0];
    if (serve_metrics && mend_metrics_listen_check(cfg->metrics.listen, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: %s\n", err);
        return MEND_EXIT_USAGE;
    }
    if (cfg->checkpoint_path[0] && checkpoint_probe(cfg->checkpoint_path, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: %s\n", err);
        return MEND_EXIT_RUNTIME;
    }
    struct mend_incident_out iout = {on_incident, &p};
    struct mend_score_out sout = {on_score, &p};
    rc = mend_engine_new(&cfg->engine, &iout, po->scores_path ? &sout : NULL, &p.eng);
    if (rc != MEND_OK) {
        fprintf(stderr, "mend: cannot start the engine: %s\n", mend_strerror(rc));
        code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
        goto out;
    }
    if (cfg->engine.ocsvm.enabled) {
        /* the one-class SVM is the second entity model (ocsvm.h); its model
         * directory, if any, is read here, on the main thread */
        struct mend_model_kind kind;
        rc = mend_ocsvm_kind_init(&cfg->engine.ocsvm, &kind, err, sizeof err);
        if (rc == MEND_OK)
            rc = mend_engine_add_model(p.eng, &kind);
        else
            fprintf(stderr, "mend: %s\n", err);
        if (rc != MEND_OK) {
            if (!err[0])
                fprintf(stderr, "mend: cannot add the one-class SVM: %s\n", mend_strerror(rc));
            code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
            goto out;
        }
    }

    /* one log miner for every log stream: template ids mean the same in
     * every series and survive in the checkpoint (logs.* options) */
    if ((rc = mend_logsig_new(&cfg->logs.sig, &p.logs, err, sizeof err)) != MEND_OK) {
        fprintf(stderr, "mend: logs: %s\n", rc == MEND_EINVAL ? err : mend_strerror(rc));
        code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
        goto out;
    }
    struct mend_engine_section lsec = {MEND_LOGSIG_TAG, MEND_LOGSIG_VERSION, logs_save, logs_load, p.logs};
    struct mend_incident_signal_note note = {logs_note, p.logs};
    if ((rc = mend_engine_add_section(p.eng, &lsec)) != MEND_OK) {
        fprintf(stderr, "mend: logs: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    mend_incidents_set_signal_note(mend_engine_incidents(p.eng), &note);
    /* remediation's learnt outcomes: registered whether or not remediation
     * is on, so a run without it keeps them in the checkpoint */
    struct mend_engine_section asec, csec;
    if ((rc = mend_act_store_new(&p.act_store)) == MEND_OK) {
        mend_act_store_section(p.act_store, &asec);
        rc = mend_engine_add_section(p.eng, &asec);
    }
    if (rc == MEND_OK) { /* and its cases: no retry lost on restart */
        mend_act_store_cases_section(p.act_store, &csec);
        rc = mend_engine_add_section(p.eng, &csec);
    }
    if (rc != MEND_OK) {
        fprintf(stderr, "mend: remediation: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }

    if (cfg->checkpoint_path[0] && po->discard_checkpoint) {
        if (!po->quiet)
            fprintf(stderr, "mend: --discard-checkpoint: starting fresh; %s is replaced at the next checkpoint\n",
                    cfg->checkpoint_path);
    } else if (cfg->checkpoint_path[0]) {
        rc = mend_engine_restore(p.eng, cfg->checkpoint_path, err, sizeof err);
        if (rc != MEND_OK && rc != MEND_ENOTFOUND) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
        if (rc == MEND_OK && !po->quiet)
            fprintf(stderr, "mend: restored state from %s\n", cfg->checkpoint_path);
    }

    /* replay: timers on event time, moved on as the samples' time moves;
     * run: timers on the clock */
    if ((rc = mend_loop_new(po->live ? MEND_CLOCK_MONOTONIC : MEND_CLOCK_EVENT, &p.loop)) != MEND_OK ||
        (rc = mend_loop_signal(p.loop, SIGTERM, on_stop_signal, &p)) != MEND_OK ||
        (rc = mend_loop_signal(p.loop, SIGINT, on_stop_signal, &p)) != MEND_OK ||
        (rc = mend_loop_signal(p.loop, SIGHUP, on_hup_signal, &p)) != MEND_OK ||
        (rc = pipeline_on_hup(&p, reopen_scores, &p)) != MEND_OK) {
        fprintf(stderr, "mend: cannot set up the event loop: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    struct mend_input_conf ic;
    mend_input_conf_defaults(&ic);
    ic.format = cfg->format;
    ic.ingest = cfg->ingest;
    ic.ingest.logs = p.logs;
    ic.stamp_arrival = po->live;
    ic.merge = !po->live;
    ic.max_conns = cfg->max_conns;
    ic.idle_timeout_ns = cfg->idle_timeout_ns;
    ic.accept_pause_ns = cfg->accept_pause_ns;
    struct mend_input_host host = {on_point, on_parse_error, &p};
    if ((rc = mend_inputs_new(&ic, p.loop, &host, &p.in)) != MEND_OK) {
        fprintf(stderr, "mend: cannot set up the inputs: %s\n", mend_strerror(rc));
        code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
        goto out;
    }
    /* capture files and interfaces (pcap.h) */
    if ((rc = mend_inputs_register(p.in, &mend_pcap_file_ops)) != MEND_OK ||
        (rc = mend_inputs_register(p.in, &mend_pcap_live_ops)) != MEND_OK) {
        fprintf(stderr, "mend: cannot set up the pcap inputs: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    mend_inputs_register(p.in, &mend_input_jetstream_ops); /* jetstream://, cluster.h */
    for (int i = 0; i < po->n_inputs; i++) {
        if (mend_inputs_add(p.in, po->inputs[i], err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_USAGE;
            goto out;
        }
        struct stat sb;
        if (strcmp(po->inputs[i], "-") && stat(po->inputs[i], &sb) == 0 && S_ISREG(sb.st_mode))
            p.bytes_total += (uint64_t)sb.st_size;
    }
    if (po->live) {
        size_t ports = 0;
        for (size_t i = 0; i < cfg->n_listen; i++) {
            if (mend_inputs_add(p.in, cfg->listen[i], err, sizeof err) != MEND_OK) {
                fprintf(stderr, "mend: %s\n", err);
                code = MEND_EXIT_USAGE;
                goto out;
            }
            int port = 0;
            if (mend_inputs_port(p.in, ports, &port) == MEND_OK)
                ports++;
            /* always said, even with --quiet: with port 0 it is the only way
             * to learn where to connect */
            fprintf(stderr, "mend: listening on %s (port %d)\n", cfg->listen[i], port);
        }
        if (mend_scrape_configured(&cfg->scrape) && mend_scrape_add(p.in, &cfg->scrape, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_USAGE;
            goto out;
        }
        if (mend_loop_timer_add(p.loop, mend_loop_now(p.loop) + 1000000000LL, 1000000000LL, on_silence_timer, &p,
                                NULL) != MEND_OK) {
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
    }
    if (serve_metrics) {
        if ((rc = mend_metrics_server_new(&cfg->metrics, p.loop, &p.metrics, err, sizeof err)) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err[0] ? err : mend_strerror(rc));
            code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
            goto out;
        }
        /* the scraper (and later modules) add theirs with mend_metrics_register */
        if (mend_metrics_register(p.metrics, pipe_collect, &p) != MEND_OK) {
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
        fprintf(stderr, "mend: metrics on http://%s/metrics (port %d)\n", cfg->metrics.listen,
                mend_metrics_server_port(p.metrics));
    }

    /* everything checked: now the outputs */
    struct mend_outputs_conf ocf;
    mend_outputs_conf_defaults(&ocf);
    struct mend_output_report orep = {on_output_report, &p};
    if (mend_outputs_new(&ocf, &orep, &p.outs) != MEND_OK) {
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    struct mend_output_jsonl_conf jcf = {.path = cfg->incidents_output, .fd = -1};
    if (mend_outputs_add(p.outs, &mend_output_jsonl_ops, &jcf, NULL, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: %s\n", err);
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    /* the remediation stage: its rules were checked at start (an invalid
     * file refuses it); it consumes incidents as an output */
    if (po->remediation_path || cfg->remediation.enabled) {
        if ((code = pipeline_remediation_open(po->remediation_path, &cfg->remediation, !po->live, &p.act)) !=
            MEND_EXIT_OK)
            goto out;
        if ((rc = mend_act_store_attach(p.act_store, mend_act_planner(p.act))) != MEND_OK) {
            fprintf(stderr, "mend: remediation: cannot take the learnt outcomes: %s\n", mend_strerror(rc));
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
        struct mend_act_store_cases cs;
        mend_act_store_cases(p.act_store, &cs);
        size_t flying = mend_act_resume(p.act); /* results that came while it was down */
        if (cs.held && !po->quiet)
            fprintf(stderr,
                    "mend: remediation: %zu cases from the checkpoint (%zu left out: rule gone or over the cap), "
                    "%zu actions in flight, %" PRIu64 " results found that came meanwhile\n",
                    cs.taken, cs.dropped, flying, mend_act_caught_up(p.act));
        if (p.metrics && (rc = mend_metrics_register(p.metrics, mend_act_metrics, p.act)) != MEND_OK) {
            fprintf(stderr, "mend: remediation: /metrics: %s\n", mend_strerror(rc));
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
        struct mend_act_output_conf acf = {p.act};
        if (mend_outputs_add(p.outs, &mend_output_act_ops, &acf, NULL, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
    }
    if (po->table) {
        struct mend_output_table_conf tcf = {.out = stdout, .max_rows = 0};
        if (mend_outputs_add(p.outs, &mend_output_table_ops, &tcf, NULL, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
    }
    if (po->scores_path && !(p.score_f = open_out(po->scores_path, "scores"))) {
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    p.progress = po->progress < 0 ? isatty(STDERR_FILENO) && !po->live : po->progress;

    while (!p.stop && !mend_inputs_done(p.in)) {
        rc = mend_inputs_step(p.in, STEP_SAMPLES);
        if (rc < 0) {
            fprintf(stderr, "mend: input failed: %s\n", mend_strerror(rc));
            code = MEND_EXIT_RUNTIME;
            break;
        }
        if (!po->live) {
            struct mend_engine_stats st;
            mend_engine_stats(p.eng, &st);
            mend_loop_set_time(p.loop, st.watermark);
        }
        /* replay never waits here: its inputs are read on demand (a pipe
         * blocks in its read), the turn only takes signals and timers */
        int wait = !po->live || mend_inputs_pending(p.in) || mend_inputs_done(p.in) || mend_loop_timer_due(p.loop)
                       ? 0
                       : 1000;
        rc = mend_loop_run_once(p.loop, wait);
        if (rc < 0) {
            fprintf(stderr, "mend: %s\n", mend_strerror(rc));
            code = MEND_EXIT_RUNTIME;
            break;
        }
        mend_outputs_retry(p.outs); /* a destination that was down gets its spool */
        if (p.act) {
            struct mend_engine_stats ast;
            mend_engine_stats(p.eng, &ast);
            mend_act_poll(p.act, ast.watermark);
        }
        checkpoint_reap(&p, 0);
        no_state_commit(&p);
        show_progress(&p, 0);
    }
    if (mend_inputs_shutdown(p.in) != MEND_OK && code == MEND_EXIT_OK)
        code = MEND_EXIT_RUNTIME;
    no_state_commit(&p);
    show_progress(&p, 1);
    if (p.act) { /* results of what is still in flight, learnt before the last checkpoint */
        struct mend_engine_stats ast;
        mend_engine_stats(p.eng, &ast);
        mend_act_finish(p.act, ast.watermark);
    }
    if (cfg->checkpoint_path[0] && checkpoint_final(&p) != MEND_OK && code == MEND_EXIT_OK)
        code = MEND_EXIT_RUNTIME;
    /* the last offer to every output; the table prints here */
    mend_outputs_close(p.outs);
    fflush(stdout);
    struct mend_engine_stats st;
    mend_engine_stats(p.eng, &st);
    if (!po->quiet) {
        fprintf(stderr,
                "mend: %" PRIu64 " samples, %u series, %u entities, %" PRIu64 " malformed lines, %" PRIu64
                " late, %" PRIu64 " refused; %" PRIu64 " anomalies, %" PRIu64 " absences, %" PRIu64
                " multivariate\n",
                st.points, st.series, st.entities, p.errors, st.late_dropped, st.refused_series, st.anomalies,
                st.absences, st.multivariate);
        print_input_stats(&p);
        if (st.ahead_refused | st.clock_jumps | st.evicted | st.init_failed | st.events_refused)
            fprintf(stderr,
                    "mend: time: %" PRIu64 " samples refused as more than input.max_ahead past the newest "
                    "event time, %" PRIu64 " gaps crossed; %" PRIu64 " idle series evicted; %" PRIu64
                    " samples dropped (scorer could not start); %" PRIu64 " events over the incident cap\n",
                    st.ahead_refused, st.clock_jumps, st.evicted, st.init_failed, st.events_refused);
        if (st.counters || st.rate_resets || st.monotonic_found)
            fprintf(stderr,
                    "mend: counters: %u series scored as per-second rates (%" PRIu64 " found monotonic), %" PRIu64
                    " resets taken as restarts\n",
                    st.counters, st.monotonic_found, st.rate_resets);
        if (st.no_time || p.untimed_start || p.untimed_live) {
            char when[40] = "";
            time_t secs = (time_t)(p.untimed_t / 1000000000LL);
            struct tm tm;
            if (p.untimed_start && gmtime_r(&secs, &tm))
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (po->live)
                fprintf(stderr, "mend: %" PRIu64 " samples had no timestamp: they got their arrival time\n",
                        p.untimed_live + st.no_time);
            else
                fprintf(stderr,
                        "mend: %" PRIu64 " samples had no timestamp: %" PRIu64
                        " got the newest event time seen before them, %" PRIu64
                        " (before any timestamp) the replay's start, %s\n",
                        st.no_time + p.untimed_start, st.no_time, p.untimed_start, p.untimed_start ? when : "-");
        }
        struct mend_logsig_stats ls;
        mend_logsig_stats(p.logs, &ls);
        if (ls.messages) {
            struct mend_tmpl_stats ts;
            mend_tmpl_get_stats(mend_logsig_miner(p.logs), &ts);
            fprintf(stderr,
                    "mend: logs: %" PRIu64 " messages, %" PRIu64 " templates, %" PRIu64 " entities, %" PRIu64
                    " samples, %" PRIu64 " late, %" PRIu64 " over the per-entity template cap\n",
                    ls.messages, ts.templates, ls.entities, ls.emitted, ls.late, ls.other);
        }
    }
    if (code == MEND_EXIT_OK && po->strict && p.errors)
        code = MEND_EXIT_BADINPUT;
out:
    mend_metrics_server_free(p.metrics);
    mend_inputs_free(p.in);
    p.in = NULL;
    mend_loop_free(p.loop);
    checkpoint_reap(&p, 1);
    mend_engine_free(p.eng);
    mend_ocsvm_kind_fini(&cfg->engine.ocsvm);
    mend_logsig_free(p.logs);
    mend_outputs_free(p.outs);
    mend_act_close(p.act);
    mend_act_store_free(p.act_store); /* after the engine (its section) and the planner it pointed to */
    fflush(stdout);
    if (p.score_f && p.score_f != stdout)
        fclose(p.score_f);
    return code;
}
