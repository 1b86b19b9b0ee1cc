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
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mend/act.h"
#include "mend/output.h"
#include "mend/state.h"

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
    uint64_t errors, bytes_total;
    int64_t next_ckpt;        /* event time of the next checkpoint (INT64_MAX: none) */
    int ckpt_due;             /* decided, waiting for the loop's turn */
    int progress;
    double last_progress;
    int stop;                 /* SIGTERM/SIGINT */
    struct mend_act *act;     /* remediation stage (--remediation), NULL = none */
};

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
            "  --format F          input format: lp, prom or csv (default: from the file\n"
            "                      extension .lp/.prom/.csv, else from the content)\n"
            "  --incidents FILE    write incident JSON lines to FILE ('-' = stdout)\n"
            "  --scores FILE       also write every sample's score as CSV: key,time_ns,value,score\n"
            "  --checkpoint FILE   restore state from FILE at start (if it exists) and save it on\n"
            "                      the checkpoint interval and at exit\n"
            "  --strict            exit with status 3 if any input line was malformed\n"
            "  --remediation FILE  turn incidents into actions: a YAML file with a remediation:\n"
            "                      section (rules, Redis, signing key, spool, audit log)\n"
            "  --quiet             no summary on stderr\n"
            "  --progress/--no-progress  progress on stderr (default: only on a terminal)\n"
            "  -h, --help          this text\n\n"
            "Malformed lines are reported on stderr as SOURCE:LINE:COL: REASON (the first\n"
            "input.error_log_limit per source), counted, and skipped; the rest is processed.\n\n"
            "exit codes: 0 ok, 1 runtime error (I/O, bad checkpoint), 2 usage or\n"
            "configuration error, 3 malformed input with --strict\n\n"
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
    if (mend_engine_checkpoint_bg(p->eng, p->cfg->checkpoint_path, &p->bg, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: checkpoint failed: %s\n", err);
        p->ckpt_failed = 1;
    }
}

/* The last checkpoint, at exit: in this process, and its result decides the
 * exit code. */
static int checkpoint_final(struct pipe *p)
{
    char err[512];
    checkpoint_reap(p, 1);
    if (mend_engine_checkpoint(p->eng, p->cfg->checkpoint_path, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: checkpoint failed: %s\n", err);
        return MEND_EIO;
    }
    return MEND_OK;
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
    if (st.watermark < p->next_ckpt)
        return 0;
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
        rc = mend_engine_point(p->eng, &q);
    } else {
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
    fputc('"', p->score_f);
    for (uint32_t i = 0; i < s->key_len; i++) {
        if (s->key[i] == '"')
            fputc('"', p->score_f);
        fputc(s->key[i], p->score_f);
    }
    fprintf(p->score_f, "\",%" PRId64 ",%.17g,%.6f\n", t, v, score);
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
    if (!(is.truncated | is.evicted | is.idle_closed | is.refused | is.accept_paused | is.errors | is.feed_failed))
        return;
    fprintf(stderr,
            "mend: inputs: %" PRIu64 " truncated lines, %" PRIu64 " connections evicted at the cap, %" PRIu64
            " closed idle, %" PRIu64 " refused, %" PRIu64 " accept pauses, %" PRIu64 " read errors, %" PRIu64
            " failed feeds%s%s\n",
            is.truncated, is.evicted, is.idle_closed, is.refused, is.accept_paused, is.errors, is.feed_failed,
            mend_inputs_last_error(p->in)[0] ? "; last: " : "", mend_inputs_last_error(p->in));
}

int pipeline_run(const struct pipeline_opts *po, struct mend_config *cfg)
{
    struct pipe p;
    memset(&p, 0, sizeof p);
    p.po = po;
    p.cfg = cfg;
    p.next_ckpt = cfg->checkpoint_path[0] ? INT64_MIN : INT64_MAX;
    int rc, code = MEND_EXIT_OK;
    char err[512];

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
    if (po->table) {
        struct mend_output_table_conf tcf = {.out = stdout, .max_rows = 0};
        if (mend_outputs_add(p.outs, &mend_output_table_ops, &tcf, NULL, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
    }
    if (po->remediation_path) {
        if ((code = pipeline_remediation_open(po->remediation_path, !po->live, &p.act)) != MEND_EXIT_OK)
            goto out;
        struct mend_act_output_conf acf = {p.act};
        if (mend_outputs_add(p.outs, &mend_output_act_ops, &acf, NULL, err, sizeof err) != MEND_OK) {
            fprintf(stderr, "mend: %s\n", err);
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
    }
    if (po->scores_path && !(p.score_f = open_out(po->scores_path, "scores"))) {
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    struct mend_incident_out iout = {on_incident, &p};
    struct mend_score_out sout = {on_score, &p};
    rc = mend_engine_new(&cfg->engine, &iout, p.score_f ? &sout : NULL, &p.eng);
    if (rc != MEND_OK) {
        fprintf(stderr, "mend: cannot start the engine: %s\n", mend_strerror(rc));
        code = rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
        goto out;
    }

    if (cfg->checkpoint_path[0]) {
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
        (rc = mend_loop_signal(p.loop, SIGINT, on_stop_signal, &p)) != MEND_OK) {
        fprintf(stderr, "mend: cannot set up the event loop: %s\n", mend_strerror(rc));
        code = MEND_EXIT_RUNTIME;
        goto out;
    }
    struct mend_input_conf ic;
    mend_input_conf_defaults(&ic);
    ic.format = cfg->format;
    ic.ingest = cfg->ingest;
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
        if (mend_loop_timer_add(p.loop, mend_loop_now(p.loop) + 1000000000LL, 1000000000LL, on_silence_timer, &p,
                                NULL) != MEND_OK) {
            code = MEND_EXIT_RUNTIME;
            goto out;
        }
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
        show_progress(&p, 0);
    }
    if (mend_inputs_shutdown(p.in) != MEND_OK && code == MEND_EXIT_OK)
        code = MEND_EXIT_RUNTIME;
    show_progress(&p, 1);
    if (cfg->checkpoint_path[0] && checkpoint_final(&p) != MEND_OK && code == MEND_EXIT_OK)
        code = MEND_EXIT_RUNTIME;
    if (p.act) { /* results of what is still in flight */
        struct mend_engine_stats ast;
        mend_engine_stats(p.eng, &ast);
        mend_act_finish(p.act, ast.watermark);
    }
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
    }
    if (code == MEND_EXIT_OK && po->strict && p.errors)
        code = MEND_EXIT_BADINPUT;
out:
    mend_inputs_free(p.in);
    mend_loop_free(p.loop);
    checkpoint_reap(&p, 1);
    mend_engine_free(p.eng);
    mend_outputs_free(p.outs);
    mend_act_close(p.act);
    fflush(stdout);
    if (p.score_f && p.score_f != stdout)
        fclose(p.score_f);
    return code;
}
