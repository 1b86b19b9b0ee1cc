/* detect_conf.c -- the scorer's options (`detect.*`), as a config map over
 * struct mend_scorer_conf (confmap.h). One list below gives both the map and
 * the {key, default, help} table of mend_scorer_conf_docs(), so they cannot
 * drift; mend_scorer_conf_set() in scorer.c sets through the map and
 * mend_scorer_conf_check() is the map's whole-struct check. The error texts
 * ("must be an integer in 2..100000") are the scorer's own, as before. */
#include "mend/confmap.h"
#include "mend/scorer.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define OFF(f) offsetof(struct mend_scorer_conf, f)

/* Printed in this order, so the default reads "ewma,range,seasonal". */
static const struct mend_conf_name detector_names[] = {
    {"gauss", MEND_DET_GAUSS}, {"ewma", MEND_DET_EWMA},         {"diff", MEND_DET_DIFF},
    {"robust", MEND_DET_ROBUST}, {"range", MEND_DET_RANGE}, {"seasonal", MEND_DET_SEASONAL},
    {"drift", MEND_DET_DRIFT}, {NULL, 0},
};

/* A period: plain seconds or a number with suffix s, m, h, d, w; <= 366d. */
static int parse_period(void *field, const char *v)
{
    size_t len = strlen(v);
    int64_t mul = 1;
    if (len > 0) {
        switch (v[len - 1]) {
        case 's': mul = 1; len--; break;
        case 'm': mul = 60; len--; break;
        case 'h': mul = 3600; len--; break;
        case 'd': mul = 86400; len--; break;
        case 'w': mul = 604800; len--; break;
        default: break;
        }
    }
    int64_t n;
    if (mend_parse_i64(v, len, &n) || n < 0 || n > 366 * 86400 / mul)
        return MEND_EINVAL;
    *(int64_t *)field = n * mul;
    return MEND_OK;
}

static void print_period(const void *field, char *out, size_t n)
{
    snprintf(out, n, "%" PRId64, *(const int64_t *)field);
}

static int check(const void *conf, char *err, size_t errlen)
{
    return mend_scorer_conf_check(conf, err, errlen);
}

#define DETECT_OPTIONS(X)                                                                          \
    X("detectors", "ewma,range,seasonal",                                                          \
      "detectors to fuse, comma list of gauss (Welford over all history), ewma (exponentially "   \
      "weighted level), diff (first differences), robust (median/MAD of a window), seasonal "     \
      "(time-of-day/day-of-week profile, allocates), range (beyond the running min/max), drift "  \
      "(short average against a long-memory baseline)",                                           \
      .type = MEND_CT_FLAGS, .off = OFF(detectors), .names = detector_names,                       \
      .accepts = "is not a comma list of gauss, ewma, diff, robust, seasonal, range, drift")       \
    X("probation", "600",                                                                          \
      "learning length P in samples (2..100000): the detectors' time constants scale with it",    \
      .type = MEND_CT_U32, .off = OFF(probation), .min = 2, .max = MEND_SCORER_MAX_PROBATION,      \
      .accepts = "must be an integer in 2..100000")                                                \
    X("range_margin", "0.05",                                                                      \
      "range channel: a new extreme less than this fraction of the running range beyond it is "   \
      "never an event on its record probability alone (the judgement from the top of the range "  \
      "does not take it) (0..10)",                                                                 \
      .type = MEND_CT_F64, .off = OFF(range_margin), .min = 0, .max = 10,                          \
      .accepts = "must be a number in 0..10")                                                      \
    X("threshold", "0.5", "score at which a sample counts as anomalous (0.01..1; 0.5 = 1e-5 tail)", \
      .type = MEND_CT_F64, .off = OFF(threshold), .min = 0.01, .max = 1,                           \
      .accepts = "must be a number in 0.01..1")                                                    \
    X("debounce_k", "1", "an event needs debounce_k of the last debounce_n samples anomalous (1..64)", \
      .type = MEND_CT_U32, .off = OFF(debounce_k), .min = 1, .max = MEND_SCORER_MAX_DEBOUNCE,      \
      .accepts = "must be an integer in 1..64")                                                    \
    X("debounce_n", "1", "window of the k-of-n debounce (1..64, >= debounce_k)",                   \
      .type = MEND_CT_U32, .off = OFF(debounce_n), .min = 1, .max = MEND_SCORER_MAX_DEBOUNCE,      \
      .accepts = "must be an integer in 1..64")                                                    \
    X("quiet", "0.2", "after an event stay quiet for quiet*P samples (0..100)",                    \
      .type = MEND_CT_F64, .off = OFF(quiet), .min = 0, .max = 100,                                \
      .accepts = "must be a number in 0..100")                                                     \
    X("rearm", "2",                                                                                \
      "during the quiet period an event needs rearm times the last evidence (1..1e6)",            \
      .type = MEND_CT_F64, .off = OFF(rearm), .min = 1, .max = 1e6,                                \
      .accepts = "must be a number in 1..1e6")                                                     \
    X("likelihood_short", "3", "short moving average of raw surprise, in samples (1..1000)",       \
      .type = MEND_CT_U32, .off = OFF(lik_short), .min = 1, .max = 1000,                           \
      .accepts = "must be an integer in 1..1000")                                                  \
    X("robust_window", "64", "robust detector: samples kept for median/MAD (3..1024)",             \
      .type = MEND_CT_U32, .off = OFF(robust_window), .min = 3,                                    \
      .max = MEND_SCORER_MAX_ROBUST_WINDOW, .accepts = "must be an integer in 3..1024")            \
    X("season_period", "0",                                                                        \
      "seasonal detector: period (seconds, or with suffix s/m/h/d/w; 0 = detect from the first "  \
      "P samples; up to 366d)",                                                                    \
      .type = MEND_CT_CUSTOM, .off = OFF(season_period_s), .parse = parse_period,                  \
      .print = print_period,                                                                       \
      .accepts = "must be a duration in 0..366d (seconds or N[smhdw]; 0 = detect)")                \
    X("season_bins", "48", "seasonal detector: bins per period (2..2016)",                         \
      .type = MEND_CT_U32, .off = OFF(season_bins), .min = 2, .max = MEND_SCORER_MAX_SEASON_BINS,  \
      .accepts = "must be an integer in 2..2016")                                                  \
    X("warmup", "150", "no event before this many samples (0..100000)",                            \
      .type = MEND_CT_U32, .off = OFF(warmup), .min = 0, .max = MEND_SCORER_MAX_PROBATION,         \
      .accepts = "must be an integer in 0..100000")

#define AS_ENTRY(k, d, h, ...) {.key = k, .def = d, .help = h, __VA_ARGS__},
#define AS_DOC(k, d, h, ...) {k, d, h},

static const struct mend_conf_entry entries[] = {DETECT_OPTIONS(AS_ENTRY)};
static const struct mend_conf_doc docs[] = {DETECT_OPTIONS(AS_DOC)};

const struct mend_conf_map mend_scorer_conf_map = {
    .name = "detect", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_scorer_conf), .check = check,
};

const struct mend_conf_doc *mend_scorer_conf_docs(size_t *n)
{
    *n = sizeof docs / sizeof docs[0];
    return docs;
}
