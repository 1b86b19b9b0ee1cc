/* cmd_score.c -- `mend score`: one univariate series through the scorer.
 *
 * Reads `timestamp,value` CSV (stdin or a file), writes
 * `timestamp,value,anomaly_score` with one output row per input row, the
 * timestamp and value echoed exactly as given, the score computed causally
 * in one pass. A row that cannot be scored (bad timestamp or value, time
 * going backwards, overlong line) is reported on stderr with line:col and
 * still written, with score 0, so the output lines up with the input. This
 * is the command `make eval-nab` drives. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mend/common.h"
#include "mend/config.h"
#include "mend/scorer.h"
#include "mend/timefmt.h"

#define SCORE_MAX_LINE 65536   /* longer rows are rejected, not split */
#define SCORE_MAX_MESSAGES 20  /* malformed-row messages before only counting */

static void usage(FILE *f)
{
    size_t n;
    const struct mend_conf_doc *d = mend_scorer_conf_docs(&n);
    fprintf(f,
            "usage: mend score [--config FILE] [--set KEY=VALUE]... [--strict] [FILE]\n\n"
            "Scores a univariate `timestamp,value` CSV (FILE or stdin) and writes\n"
            "`timestamp,value,anomaly_score` to stdout, one row per input row, timestamp and\n"
            "value echoed as given. The score is in [0,1], causal (a row's score depends only\n"
            "on earlier rows) and event-shaped: the first row of an anomalous run scores at\n"
            "or above detect.threshold, the rows after it are held below it unless the\n"
            "evidence gets much stronger. Timestamps are ISO-8601 or epoch numbers and must\n"
            "not go backwards. A row that cannot be scored is reported on stderr (line:col)\n"
            "and written with score 0.\n\n"
            "options:\n"
            "  --config FILE    YAML configuration; its detect: section sets the options below\n"
            "  --set KEY=VALUE  set one detect option (repeatable, applied after --config)\n"
            "  --strict         exit 3 when any row was malformed\n"
            "  --help           this text\n\n"
            "detect options (defaults are the NAB-tuned configuration):\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-17s %-16s %s\n", d[i].key, d[i].def, d[i].help);
}

struct scorer_run {
    struct mend_scorer_conf conf;
    void *state;
    uint64_t line, bad, rows;
    int64_t last_t;
    int have_t;
    const char *name; /* input name for messages */
};

static void complain(struct scorer_run *r, size_t col, const char *what, const char *s,
                     size_t len)
{
    r->bad++;
    if (r->bad <= SCORE_MAX_MESSAGES)
        fprintf(stderr, "mend score: %s:%llu:%zu: %s '%.*s' (row scored 0)\n", r->name,
                (unsigned long long)r->line, col, what, (int)(len > 60 ? 60 : len), s);
    if (r->bad == SCORE_MAX_MESSAGES)
        fprintf(stderr, "mend score: further malformed rows are only counted\n");
}

/* Strips one pair of surrounding double quotes and blanks for parsing; the
 * echo keeps the original text. */
static void unwrap(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
    if (*len >= 2 && (*s)[0] == '"' && (*s)[*len - 1] == '"') {
        (*s)++;
        *len -= 2;
    }
}

/* Scores one row (without its line ending) and writes the output row. */
static void score_row(struct scorer_run *r, const char *p, size_t len, FILE *out)
{
    const char *comma = memchr(p, ',', len);
    if (!comma) {
        complain(r, 1, "expected timestamp,value, got", p, len);
        fprintf(out, "%.*s,,0\n", (int)len, p);
        return;
    }
    size_t tlen = (size_t)(comma - p);
    const char *v = comma + 1;
    const char *vend = memchr(v, ',', len - tlen - 1);
    size_t vlen = vend ? (size_t)(vend - v) : len - tlen - 1;
    size_t vcol = tlen + 2;
    double score = 0.0;

    const char *ts = p, *vs = v;
    size_t tl = tlen, vl = vlen;
    unwrap(&ts, &tl);
    unwrap(&vs, &vl);
    int64_t t;
    double x;
    if (mend_time_parse_any(ts, tl, &t)) {
        complain(r, 1, "bad timestamp", p, tlen);
    } else if (mend_parse_f64(vs, vl, 0, &x)) {
        complain(r, vcol, "bad value", v, vlen);
    } else if (r->have_t && t < r->last_t) {
        complain(r, 1, "timestamp earlier than the previous row's", p, tlen);
    } else {
        r->last_t = t;
        r->have_t = 1;
        score = mend_scorer_step(r->state, &r->conf, t, x, NULL);
    }
    r->rows++;
    fprintf(out, "%.*s,%.*s,%.6f\n", (int)tlen, p, (int)vlen, v, score);
}

/* A first row whose timestamp is not a time is a header. */
static int is_header(const char *p, size_t len)
{
    const char *comma = memchr(p, ',', len);
    size_t tl = comma ? (size_t)(comma - p) : len;
    const char *ts = p;
    int64_t t;
    unwrap(&ts, &tl);
    return mend_time_parse_any(ts, tl, &t) != 0 && tl > 0 && !(ts[0] >= '0' && ts[0] <= '9');
}

/* Reads one row into buf (at most cap bytes kept) without its LF. The rest
 * of a longer row is read and dropped, so memory stays at cap whatever the
 * input: a file with no newline at all costs cap bytes, not its size.
 * Returns 1 with *len (and *overlong when bytes were dropped), 0 at the end
 * of input, MEND_EIO on a read error. */
static int read_row(FILE *in, char *buf, size_t cap, size_t *len, int *overlong)
{
    size_t n = 0;
    int c, any = 0;
    *overlong = 0;
    while ((c = getc_unlocked(in)) != EOF) {
        any = 1;
        if (c == '\n') {
            *len = n;
            return 1;
        }
        if (n < cap)
            buf[n++] = (char)c;
        else
            *overlong = 1;
    }
    if (ferror(in))
        return MEND_EIO;
    *len = n;
    return any;
}

static int score_stream(struct scorer_run *r, FILE *in, FILE *out)
{
    /* room for SCORE_MAX_LINE bytes and a CR; one byte more proves the
     * row overlong */
    const size_t cap = SCORE_MAX_LINE + 2;
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "mend score: out of memory\n");
        return MEND_ENOMEM;
    }
    int rc = MEND_OK, got, overlong;
    size_t len;
    fputs("timestamp,value,anomaly_score\n", out);
    while ((got = read_row(in, buf, cap, &len, &overlong)) == 1) {
        r->line++;
        while (len && buf[len - 1] == '\r')
            len--;
        if (len == 0 && !overlong)
            continue;
        if (overlong || len > SCORE_MAX_LINE) {
            complain(r, SCORE_MAX_LINE + 1, "row longer than 65536 bytes:", buf, 60);
            fprintf(out, "%.*s,,0\n", 60, buf);
            r->rows++;
            continue;
        }
        if (r->line == 1 && is_header(buf, len))
            continue;
        score_row(r, buf, len, out);
    }
    if (got < 0) {
        fprintf(stderr, "mend score: %s: read error: %s\n", r->name, strerror(errno));
        rc = MEND_EIO;
    }
    free(buf);
    return rc;
}

int mend_cmd_score(int argc, char **argv)
{
    struct scorer_run r;
    struct mend_config cfg;
    char err[512];
    const char *path = NULL;
    int strict = 0, rc;

    for (int i = 1; i < argc; i++) /* --train: the multivariate mode (cmd_score_train.c) */
        if (!strcmp(argv[i], "--train"))
            return mend_cmd_score_train(argc, argv);

    /* Output is one short row per input row: full buffering saves a
     * syscall per row on a terminal too. setvbuf is only valid before any
     * other operation on the stream, so it comes first, with a buffer
     * stdio owns (one of ours would have to outlive main's exit flush). */
    setvbuf(stdout, NULL, _IOFBF, 0);
    memset(&r, 0, sizeof r);
    mend_config_defaults(&cfg);
    r.conf = cfg.engine.scorer;
    /* --config first, so --set overrides it wherever it appears. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return MEND_EXIT_OK;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mend score: --config needs a file\n");
                return MEND_EXIT_USAGE;
            }
            if (mend_config_load(&cfg, argv[++i], err, sizeof err)) {
                fprintf(stderr, "mend score: %s\n", err);
                return MEND_EXIT_USAGE;
            }
            r.conf = cfg.engine.scorer;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
        } else if (!strcmp(argv[i], "--set")) {
            char kv[256];
            char *eq;
            if (i + 1 >= argc || strlen(argv[i + 1]) >= sizeof kv ||
                !(eq = strchr(strcpy(kv, argv[i + 1]), '='))) {
                fprintf(stderr, "mend score: --set needs KEY=VALUE\n");
                return MEND_EXIT_USAGE;
            }
            i++;
            *eq = '\0';
            const char *key = strncmp(kv, "detect.", 7) ? kv : kv + 7;
            if (mend_scorer_conf_set(&r.conf, key, eq + 1, err, sizeof err)) {
                fprintf(stderr, "mend score: %s\n", err);
                return MEND_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--strict")) {
            strict = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "mend score: unknown option '%s' (see mend score --help)\n", argv[i]);
            return MEND_EXIT_USAGE;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "mend score: one input file at most ('%s')\n", argv[i]);
            return MEND_EXIT_USAGE;
        }
    }
    if (mend_scorer_conf_check(&r.conf, err, sizeof err)) {
        fprintf(stderr, "mend score: %s\n", err);
        return MEND_EXIT_USAGE;
    }

    FILE *in = stdin;
    r.name = "<stdin>";
    if (path && strcmp(path, "-")) {
        in = fopen(path, "r");
        if (!in) {
            fprintf(stderr, "mend score: %s: %s\n", path, strerror(errno));
            return MEND_EXIT_USAGE; /* an input that cannot be opened: 2 in every command */
        }
        r.name = path;
    }
    r.state = calloc(1, mend_scorer_state_size(&r.conf));
    rc = r.state ? mend_scorer_init(r.state, &r.conf) : MEND_ENOMEM;
    if (rc) {
        fprintf(stderr, "mend score: cannot set up the scorer: %s\n", mend_strerror(rc));
        free(r.state);
        if (in != stdin)
            fclose(in);
        return MEND_EXIT_RUNTIME;
    }
    rc = score_stream(&r, in, stdout);
    mend_scorer_fini(r.state, &r.conf);
    free(r.state);
    if (in != stdin)
        fclose(in);
    int werr = fflush(stdout) || ferror(stdout);
    int saved = errno;
    if (werr) {
        fprintf(stderr, "mend score: write error: %s\n", strerror(saved));
        return MEND_EXIT_RUNTIME;
    }
    if (r.bad)
        fprintf(stderr, "mend score: %s: %llu of %llu rows malformed (scored 0)\n", r.name,
                (unsigned long long)r.bad, (unsigned long long)r.rows);
    if (rc)
        return MEND_EXIT_RUNTIME;
    return strict && r.bad ? MEND_EXIT_BADINPUT : MEND_EXIT_OK;
}
