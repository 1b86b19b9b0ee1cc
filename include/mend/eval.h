/* eval.h -- scoring a detector's output against labelled anomaly windows.
 *
 * Implements the Numenta Anomaly Benchmark (NAB) window score, its threshold
 * optimisation and normalisation, plus plain event-level precision / recall /
 * F1 and detection delay, so detectors can be tuned against one number.
 *
 * The scoring core is pure: it works over caller-owned arrays (timestamps,
 * scores, windows) and allocates only scratch space, so every rule can be
 * checked with hand-computed cases. The loaders at the end read the CSV files
 * `mend score` writes and NAB's windows.csv.
 *
 * NAB rules, as implemented (they follow numenta/NAB's sweeper):
 *  - rows [0, P) of each file are a probation period and are never scored,
 *    P = min(floor(0.15 * rows), 750);
 *  - a detection is a row whose score >= threshold;
 *  - inside a window [s, e] (row indices, inclusive, width W = e - s + 1) only
 *    the earliest detection counts; a detection at row i earns
 *    tp_weight * S(-(e - i + 1) / W) / S(-1), where
 *    S(x) = 2 / (1 + exp(5x)) - 1 for x < 3 and -1 for x >= 3,
 *    so a detection on the first window row earns exactly tp_weight;
 *  - a window with no detection costs fn_weight;
 *  - a detection outside every window costs fp_weight * S(x) (S is negative
 *    there) with x = (i - e_prev) / (W_prev - 1) relative to the window before
 *    it (a one-row window counts as W_prev - 1 = 1), or the full fp_weight
 *    when no window precedes it;
 *  - a window none of whose rows is past the probation period is ignored;
 *  - normalised = 100 * (raw - null) / (perfect - null), with null = the
 *    detector that never fires (-fn_weight per window) and perfect = one
 *    detection on the first scorable row of every window (tp_weight per
 *    window when windows lie after the probation period, as in NAB). */
#ifndef MEND_EVAL_H
#define MEND_EVAL_H

#include <stddef.h>
#include <stdint.h>

/* Caps on what the loaders accept. */
#define MEND_EVAL_MAX_LINE 4096          /* bytes per CSV line */
#define MEND_EVAL_MAX_ROWS 50000000      /* rows per results file */
#define MEND_EVAL_MAX_WINDOWS 1000000    /* rows of windows.csv */
#define MEND_EVAL_MAX_NAME 1024          /* bytes of a file name in windows.csv */

/* One labelled anomaly window, both ends inclusive, ns since the epoch. */
struct mend_eval_window {
    int64_t start_ns;
    int64_t end_ns;
};

/* One scored series. Everything is borrowed: the arrays must outlive every
 * call that is given this struct. time_ns must be non-decreasing; windows
 * sorted by start and not overlapping. A window that covers no row is
 * ignored (NAB windows always start and end on existing timestamps). */
struct mend_eval_file {
    const char *name;                        /* for messages; may be NULL */
    const int64_t *time_ns;                  /* n entries */
    const double *score;                     /* n entries, finite */
    size_t n;
    const struct mend_eval_window *windows;  /* nwin entries */
    size_t nwin;
};

/* A NAB cost profile. */
struct mend_eval_profile {
    const char *name;
    double tp_weight, fp_weight, fn_weight;
};

enum {
    MEND_EVAL_STANDARD = 0,
    MEND_EVAL_LOW_FP = 1,   /* NAB "reward_low_FP_rate" */
    MEND_EVAL_LOW_FN = 2,   /* NAB "reward_low_FN_rate" */
    MEND_EVAL_NPROFILES = 3
};

/* NAB's three profiles (standard 1/0.11/1, low FP 1/0.22/1, low FN 1/0.11/2
 * for tp/fp/fn). Returns a pointer to static read-only storage, or NULL when
 * which is out of range. */
const struct mend_eval_profile *mend_eval_profile_get(int which);

/* The NAB outcome of one profile at one threshold. */
struct mend_eval_result {
    double threshold;    /* detections are scores >= threshold; INFINITY = never */
    double raw;          /* sum of window and false-positive terms */
    double null_score;   /* raw score of a detector that never fires */
    double perfect;      /* raw score of the ideal detector */
    double normalized;   /* 100 * (raw - null) / (perfect - null); NaN without windows */
    size_t windows;      /* scorable windows */
    size_t detected;     /* windows with at least one detection */
    size_t fp_rows;      /* scored detections outside every window */
};

/* Scores files[0..nfiles) under one profile at one threshold (which may be
 * INFINITY). Returns 0, MEND_EINVAL (NULL arguments, unsorted times or
 * windows, NaN threshold), MEND_ERANGE (a non-finite score) or MEND_ENOMEM. */
int mend_eval_score(const struct mend_eval_file *files, size_t nfiles,
                    const struct mend_eval_profile *prof, double threshold,
                    struct mend_eval_result *out);

/* Finds the threshold that maximises the raw score summed over all files,
 * sweeping every distinct score value (one sort of all scorable rows), and
 * fills *out as mend_eval_score would at that threshold. Ties go to the
 * highest threshold; when no threshold beats never firing, out->threshold is
 * INFINITY. Same errors as mend_eval_score. */
int mend_eval_optimize(const struct mend_eval_file *files, size_t nfiles,
                       const struct mend_eval_profile *prof,
                       struct mend_eval_result *out);

/* Event-level view of the same detections (probation rows excluded): a window
 * is one true event, detected when any of its rows is a detection; a run of
 * consecutive detections outside windows is one false event. precision =
 * detected / (detected + false_events), recall = detected / windows, both 0
 * when their denominator is 0. Delays run from a window's first row to its
 * earliest detection, averaged over detected windows (NaN when none). */
struct mend_eval_events {
    double threshold;
    size_t windows, detected, false_events;
    double precision, recall, f1;
    double mean_delay_rows, mean_delay_s;
};

/* Same errors as mend_eval_score. */
int mend_eval_events(const struct mend_eval_file *files, size_t nfiles,
                     double threshold, struct mend_eval_events *out);

/* Leave-one-group-out NAB score: for each group (group[i] names the group of
 * files[i], e.g. the NAB category), the threshold is chosen by
 * mend_eval_optimize on the files of every other group only, and the group's
 * own files are scored at it. The raw, null and perfect terms of all groups
 * are summed and normalised as usual; out->threshold is NAN (there is one per
 * group), out->detected and out->fp_rows are summed. With fewer than two
 * groups nothing is left to choose on: out->normalized is NAN. Same errors
 * as mend_eval_score; allocates one scratch array of nfiles entries. */
int mend_eval_loco(const struct mend_eval_file *files, const size_t *group, size_t nfiles,
                   const struct mend_eval_profile *prof, struct mend_eval_result *out);

/* ---- loaders ------------------------------------------------------------ */

/* Loaders report what went wrong as "PATH:LINE: reason" into err (errlen
 * bytes, always NUL-terminated when errlen > 0). */

/* A loaded results file: owns its arrays. */
struct mend_eval_series {
    int64_t *time_ns;
    double *score;
    size_t n, cap;
};

/* Reads a `timestamp,value,anomaly_score` CSV (header optional; with a header
 * the columns named timestamp and anomaly_score are used, without one the
 * first and last). Timestamps are "YYYY-MM-DD[ T]hh:mm[:ss[.frac]][Z]" (UTC)
 * or an epoch number whose unit follows its size as in timefmt.h (< 1e11 s,
 * < 1e14 ms, < 1e17 us, else ns); they must not go backwards. Blank lines are skipped. On
 * success *out owns new arrays (release with mend_eval_series_fini); on error
 * *out is left empty. Returns 0, MEND_EIO (cannot open/read), MEND_EPARSE
 * (malformed line), MEND_ECAP (line or row cap) or MEND_ENOMEM. */
int mend_eval_series_load(const char *path, struct mend_eval_series *out,
                          char *err, size_t errlen);
void mend_eval_series_fini(struct mend_eval_series *s);

/* windows.csv: one label per row, `file,window_start,window_end`. */
struct mend_eval_label {
    char *file;               /* owned; as written in the CSV */
    struct mend_eval_window win;
    size_t line;              /* 1-based line in the CSV, for messages */
};

struct mend_eval_labels {
    struct mend_eval_label *v;
    size_t n, cap;
};

/* Reads windows.csv (a header line starting with "file" is skipped) and
 * sorts the labels by file then start. Rejects a window whose end precedes
 * its start and windows of one file that overlap. On success *out owns the
 * labels (release with mend_eval_labels_fini). Errors as for
 * mend_eval_series_load. */
int mend_eval_labels_load(const char *path, struct mend_eval_labels *out,
                          char *err, size_t errlen);
void mend_eval_labels_fini(struct mend_eval_labels *l);

/* Parses a timestamp as the loaders do. Returns 0 or MEND_EPARSE. */
int mend_eval_parse_time(const char *s, size_t len, int64_t *ns);

#endif
