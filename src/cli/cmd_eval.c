/* cmd_eval.c -- `mend eval`: score a directory of detector output against
 * NAB-style labelled windows and print the NAB scores (per profile, with the
 * threshold optimised over all files) and event-level precision / recall /
 * F1 / delay. This file only handles arguments, finding files and printing;
 * the rules live in src/eval.c. */
#include "cli.h"
#include "mend/common.h"
#include "mend/eval.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 100000
#define MAX_DEPTH 8
#define MAX_PATH 4096

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mend eval --windows WINDOWS.csv [--threshold T] [--per-file]\n"
            "                 [--allow-missing] RESULTS_DIR\n\n"
            "Scores detector output against labelled anomaly windows (NAB rules).\n\n"
            "RESULTS_DIR holds one CSV per series, CATEGORY/NAME.csv, with the rows\n"
            "`mend score` writes: timestamp,value,anomaly_score. WINDOWS.csv lists\n"
            "file,window_start,window_end with file named relative to RESULTS_DIR\n"
            "(NAB's windows.csv). Results files without windows are scored too: every\n"
            "detection there is a false positive.\n\n"
            "A row is a detection when anomaly_score >= threshold. The first 15%% of\n"
            "each file (at most 750 rows) is probation and not scored. For each NAB\n"
            "profile (standard, reward_low_FP_rate, reward_low_FN_rate) one threshold\n"
            "is chosen over all files to maximise the raw score, which is then\n"
            "normalised: 0 = never firing, 100 = one detection at each window start.\n"
            "Event metrics (a window is an event; a run of detections outside windows\n"
            "is one false event) use the standard profile's threshold.\n\n"
            "options:\n"
            "  --windows FILE   labelled windows (required)\n"
            "  --threshold T    score this fixed threshold instead of optimising\n"
            "  --per-file       also print a table per results file\n"
            "  --allow-missing  labelled files absent from RESULTS_DIR are skipped\n"
            "                   (default: an error, as their windows would go unscored)\n"
            "  --help           this text\n\n"
            "Without --threshold the line before the last gives the leave-one-category-out\n"
            "scores: for each category (a directory of RESULTS_DIR) the threshold is\n"
            "chosen on the other categories only, and the category is scored at it:\n"
            "nab loco standard=S low_fp=S low_fn=S categories=N\n"
            "The last line reads: nab standard=S low_fp=S low_fn=S files=N\n"
            "exit codes: 0 ok, 1 unreadable or malformed input, 2 usage\n");
}

struct names {
    char **v;
    size_t n, cap;
};

static void names_fini(struct names *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i]);
    free(n->v);
}

static int names_push(struct names *n, const char *s)
{
    if (n->n >= MAX_FILES)
        return MEND_ECAP;
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 64;
        char **v = realloc(n->v, cap * sizeof *v);
        if (!v)
            return MEND_ENOMEM;
        n->v = v;
        n->cap = cap;
    }
    n->v[n->n] = strdup(s);
    if (!n->v[n->n])
        return MEND_ENOMEM;
    n->n++;
    return MEND_OK;
}

/* Collects every *.csv under root/rel (rel "" at the top) as paths relative
 * to root. Hidden entries are skipped. */
static int walk(const char *root, const char *rel, int depth, struct names *out)
{
    char dir[MAX_PATH];
    int w = snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (w < 0 || (size_t)w >= sizeof dir) {
        fprintf(stderr, "mend eval: path too long under %s\n", root);
        return MEND_ECAP;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "mend eval: %s: cannot open directory: %s\n", dir, strerror(errno));
        return MEND_EIO;
    }
    int rc = MEND_OK;
    struct dirent *e;
    while (rc == MEND_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[MAX_PATH], full[MAX_PATH];
        int a = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        int b = snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (a < 0 || (size_t)a >= sizeof sub || b < 0 || (size_t)b >= sizeof full) {
            fprintf(stderr, "mend eval: path too long: %s/%s\n", dir, e->d_name);
            rc = MEND_ECAP;
            break;
        }
        struct stat st;
        if (stat(full, &st) != 0)
            continue;   /* vanished or dangling link: nothing to score */
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH) {
                fprintf(stderr, "mend eval: %s: nested deeper than %d levels\n", full, MAX_DEPTH);
                rc = MEND_ECAP;
            } else {
                rc = walk(root, sub, depth + 1, out);
            }
        } else if (S_ISREG(st.st_mode)) {
            size_t n = strlen(e->d_name);
            if (n > 4 && !strcmp(e->d_name + n - 4, ".csv")) {
                rc = names_push(out, sub);
                if (rc == MEND_ECAP)
                    fprintf(stderr, "mend eval: more than %d results files\n", MAX_FILES);
            }
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* First label of file name in the sorted labels, or l->n. */
static size_t labels_lower(const struct mend_eval_labels *l, const char *name)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(l->v[mid].file, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void fmt_thr(char *buf, size_t len, double t)
{
    if (isinf(t))
        snprintf(buf, len, "inf");
    else
        snprintf(buf, len, "%.6g", t);
}

static const char *const short_name[MEND_EVAL_NPROFILES] = {"standard", "low_fp", "low_fn"};

int mend_cmd_eval(int argc, char **argv)
{
    const char *windows = NULL, *dir = NULL;
    double fixed = NAN;
    int per_file = 0, allow_missing = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return MEND_EXIT_OK;
        } else if (!strcmp(a, "--windows") || !strcmp(a, "--threshold")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mend eval: %s needs a value\n", a);
                return MEND_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--windows")) {
                windows = v;
            } else if (mend_parse_f64(v, strlen(v), 0, &fixed)) {
                fprintf(stderr, "mend eval: --threshold: not a finite number: '%s'\n", v);
                return MEND_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--per-file")) {
            per_file = 1;
        } else if (!strcmp(a, "--allow-missing")) {
            allow_missing = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mend eval: unknown option '%s'\n\n", a);
            usage(stderr);
            return MEND_EXIT_USAGE;
        } else if (!dir) {
            dir = a;
        } else {
            fprintf(stderr, "mend eval: more than one RESULTS_DIR ('%s', '%s')\n", dir, a);
            return MEND_EXIT_USAGE;
        }
    }
    if (!windows || !dir) {
        fprintf(stderr, "mend eval: %s\n\n", !windows ? "--windows is required" : "RESULTS_DIR is required");
        usage(stderr);
        return MEND_EXIT_USAGE;
    }

    int ret = MEND_EXIT_RUNTIME;
    char err[512] = "";
    struct mend_eval_labels labels = {0};
    struct names names = {0};
    struct mend_eval_series *series = NULL;
    struct mend_eval_file *files = NULL;
    struct mend_eval_window *wins = NULL;
    unsigned char *used = NULL;

    if (mend_eval_labels_load(windows, &labels, err, sizeof err)) {
        fprintf(stderr, "mend eval: %s\n", err);
        goto out;
    }
    if (walk(dir, "", 0, &names))
        goto out;
    if (!names.n) {
        fprintf(stderr, "mend eval: no *.csv results files under %s\n", dir);
        goto out;
    }
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    series = calloc(names.n, sizeof *series);
    files = calloc(names.n, sizeof *files);
    wins = malloc((labels.n ? labels.n : 1) * sizeof *wins);
    used = calloc(labels.n ? labels.n : 1, 1);
    if (!series || !files || !wins || !used) {
        fprintf(stderr, "mend eval: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < labels.n; i++)
        wins[i] = labels.v[i].win;
    for (size_t i = 0; i < names.n; i++) {
        char path[MAX_PATH];
        int w = snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        if (w < 0 || (size_t)w >= sizeof path) {
            fprintf(stderr, "mend eval: path too long: %s/%s\n", dir, names.v[i]);
            goto out;
        }
        if (mend_eval_series_load(path, &series[i], err, sizeof err)) {
            fprintf(stderr, "mend eval: %s\n", err);
            goto out;
        }
        size_t lo = labels_lower(&labels, names.v[i]), hi = lo;
        while (hi < labels.n && !strcmp(labels.v[hi].file, names.v[i]))
            used[hi++] = 1;
        files[i].name = names.v[i];
        files[i].time_ns = series[i].time_ns;
        files[i].score = series[i].score;
        files[i].n = series[i].n;
        files[i].windows = wins + lo;
        files[i].nwin = hi - lo;
    }
    for (size_t i = 0; i < labels.n; i++) {
        if (used[i] || (i && !strcmp(labels.v[i].file, labels.v[i - 1].file)))
            continue;
        fprintf(stderr, "mend eval: %s:%zu: %s has windows but no results file in %s%s\n",
                windows, labels.v[i].line, labels.v[i].file, dir,
                allow_missing ? " (skipped)" : "");
        if (!allow_missing)
            goto out;
    }

    struct mend_eval_result res[MEND_EVAL_NPROFILES];
    for (int p = 0; p < MEND_EVAL_NPROFILES; p++) {
        const struct mend_eval_profile *prof = mend_eval_profile_get(p);
        int rc = isnan(fixed) ? mend_eval_optimize(files, names.n, prof, &res[p])
                              : mend_eval_score(files, names.n, prof, fixed, &res[p]);
        if (rc) {
            fprintf(stderr, "mend eval: scoring failed: %s\n", mend_strerror(rc));
            goto out;
        }
    }
    struct mend_eval_events ev;
    if (mend_eval_events(files, names.n, res[MEND_EVAL_STANDARD].threshold, &ev)) {
        fprintf(stderr, "mend eval: event scoring failed\n");
        goto out;
    }

    char tb[32];
    if (per_file) {
        const struct mend_eval_profile *std = mend_eval_profile_get(MEND_EVAL_STANDARD);
        fmt_thr(tb, sizeof tb, res[MEND_EVAL_STANDARD].threshold);
        printf("per file, standard profile at threshold %s:\n", tb);
        printf("%-56s %8s %4s %4s %6s %9s %7s\n", "file", "rows", "win", "hit", "fp", "raw",
               "score");
        for (size_t i = 0; i < names.n; i++) {
            struct mend_eval_result r;
            if (mend_eval_score(&files[i], 1, std, res[MEND_EVAL_STANDARD].threshold, &r))
                continue;
            printf("%-56s %8zu %4zu %4zu %6zu %9.3f ", names.v[i], files[i].n, r.windows,
                   r.detected, r.fp_rows, r.raw);
            if (isnan(r.normalized))
                printf("%7s\n", "-");
            else
                printf("%7.1f\n", r.normalized);
        }
        printf("\n");
    }
    printf("%-20s %10s %9s %9s %9s %5s %5s %6s %7s\n", "profile", "threshold", "raw", "null",
           "perfect", "win", "hit", "fp", "score");
    for (int p = 0; p < MEND_EVAL_NPROFILES; p++) {
        fmt_thr(tb, sizeof tb, res[p].threshold);
        printf("%-20s %10s %9.3f %9.3f %9.3f %5zu %5zu %6zu %7.1f\n",
               mend_eval_profile_get(p)->name, tb, res[p].raw, res[p].null_score,
               res[p].perfect, res[p].windows, res[p].detected, res[p].fp_rows,
               res[p].normalized);
    }
    fmt_thr(tb, sizeof tb, ev.threshold);
    printf("events precision=%.3f recall=%.3f f1=%.3f mean_delay_rows=%.1f mean_delay_s=%.0f "
           "windows=%zu detected=%zu false_events=%zu threshold=%s\n",
           ev.precision, ev.recall, ev.f1, ev.mean_delay_rows, ev.mean_delay_s, ev.windows,
           ev.detected, ev.false_events, tb);
    if (isnan(fixed)) {
        /* Leave one category out: the category is the results file's
         * directory (NAB's realAWSCloudwatch, ...); names are sorted, so a
         * category is a run of equal prefixes. */
        size_t *group = malloc(names.n * sizeof *group);
        if (!group) {
            fprintf(stderr, "mend eval: out of memory\n");
            goto out;
        }
        size_t ngroups = 0;
        for (size_t i = 0; i < names.n; i++) {
            const char *s = strrchr(names.v[i], '/');
            size_t len = s ? (size_t)(s - names.v[i]) : 0;
            int same = 0;
            if (i) {
                const char *q = strrchr(names.v[i - 1], '/');
                size_t qlen = q ? (size_t)(q - names.v[i - 1]) : 0;
                same = qlen == len && !strncmp(names.v[i], names.v[i - 1], len);
            }
            group[i] = same ? group[i - 1] : ngroups++;
        }
        printf("nab loco");
        for (int p = 0; p < MEND_EVAL_NPROFILES; p++) {
            struct mend_eval_result lr;
            if (mend_eval_loco(files, group, names.n, mend_eval_profile_get(p), &lr)) {
                free(group);
                fprintf(stderr, "mend eval: leave-one-category-out scoring failed\n");
                goto out;
            }
            if (isnan(lr.normalized))
                printf(" %s=-", short_name[p]);
            else
                printf(" %s=%.1f", short_name[p], lr.normalized);
        }
        printf(" categories=%zu\n", ngroups);
        free(group);
    }
    printf("nab");
    for (int p = 0; p < MEND_EVAL_NPROFILES; p++)
        printf(" %s=%.1f", short_name[p], res[p].normalized);
    printf(" files=%zu\n", names.n);
    ret = MEND_EXIT_OK;
out:
    if (series)
        for (size_t i = 0; i < names.n; i++)
            mend_eval_series_fini(&series[i]);
    free(series);
    free(files);
    free(wins);
    free(used);
    names_fini(&names);
    mend_eval_labels_fini(&labels);
    return ret;
}
