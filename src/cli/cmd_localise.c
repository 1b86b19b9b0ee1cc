/* cmd_localise.c -- `mend localise`: rank the columns of a CSV recording (and,
 * with a call graph, the components they belong to) as suspects for an
 * incident in rows START..END, against a baseline recording of normal
 * operation. The offline face of src/localise, and what `make eval-localise`
 * drives. Output: one `RANK<TAB>NAME<TAB>SCORE` line per suspect, best first,
 * followed by key=value evidence columns. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mend/common.h"
#include "mend/localise.h"

#define LOCALISE_MAX_SYMPTOMS 16

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mend localise --input INCIDENT.csv --window START:END [--baseline NORMAL.csv]\n"
            "                     [--symptom COLUMN [--onset ROW]]... [--topology GRAPH.csv]\n"
            "                     [--components]\n"
            "                     [--method rank|nsigma] [--top K]\n\n"
            "Ranks the columns of INCIDENT.csv as suspects for an incident in its rows\n"
            "START..END (0-based data rows, inclusive), against NORMAL.csv (the same columns\n"
            "in normal operation; without it, the input's rows outside the window). Prints\n"
            "RANK<TAB>COLUMN<TAB>SCORE per column, best first, then evidence: shift (nats),\n"
            "z (largest |z| against the baseline), mi (MI with the symptoms, nats), lag (rows\n"
            "by which the column leads the symptom), onset (first row past 3 sigma, -1 none).\n\n"
            "CSV: one or more header rows (a PetShop-style component / metric / statistic\n"
            "header gives names like 'PetSite|latency|Average'), an optional leading time\n"
            "column (time, timestamp, unix_timestamp, date, datetime), empty cell = missing.\n\n"
            "options:\n"
            "  --symptom COLUMN  a symptom series (repeatable, up to %d): suspects are also\n"
            "                    ranked by the information they share with it and by lead\n"
            "  --onset ROW       the data row where the preceding --symptom's anomaly began\n"
            "                    (as a detector saw it; default: its first row past 3 sigma)\n"
            "  --topology FILE   call graph as a CSV adjacency matrix (row A, column B\n"
            "                    non-zero: A calls B); a column belongs to the node whose\n"
            "                    name is its longest prefix followed by _ . | , or space\n"
            "  --components      print the ranked graph nodes instead of the columns\n"
            "                    (RANK<TAB>NODE<TAB>SCORE, then own, explains, series)\n"
            "  --method M        rank (default) or nsigma (largest |z| only, the reference)\n"
            "  --top K           print the best K only\n"
            "  --help            this text\n",
            LOCALISE_MAX_SYMPTOMS);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (e == s || *e != '\0' || errno || v > UINT32_MAX || *s == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_window(const char *s, uint32_t *a, uint32_t *b)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon - s >= 32)
        return -1;
    char tmp[32];
    memcpy(tmp, s, (size_t)(colon - s));
    tmp[colon - s] = '\0';
    if (parse_u32(tmp, a) || parse_u32(colon + 1, b) || *b < *a)
        return -1;
    return 0;
}

/* Column j of table t as a contiguous array of rows [r0, r1). */
static void column(const struct mend_table *t, uint32_t j, uint32_t r0, uint32_t r1, double *out)
{
    for (uint32_t r = r0; r < r1; r++)
        out[r - r0] = t->v[(size_t)r * t->n_cols + j];
}

int mend_cmd_localise(int argc, char **argv)
{
    const char *input = NULL, *baseline = NULL, *topology = NULL, *window = NULL;
    const char *symptoms[LOCALISE_MAX_SYMPTOMS];
    int64_t onsets[LOCALISE_MAX_SYMPTOMS];
    uint32_t n_sym = 0, top = UINT32_MAX;
    int components = 0, method = MEND_LOCALISE_RANK;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return MEND_EXIT_OK;
        }
        if (!strcmp(o, "--components")) {
            components = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mend localise: %s needs a value (or is unknown)\n\n", o);
            usage(stderr);
            return MEND_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (!strcmp(o, "--input"))
            input = v;
        else if (!strcmp(o, "--baseline"))
            baseline = v;
        else if (!strcmp(o, "--topology"))
            topology = v;
        else if (!strcmp(o, "--window"))
            window = v;
        else if (!strcmp(o, "--symptom")) {
            if (n_sym == LOCALISE_MAX_SYMPTOMS) {
                fprintf(stderr, "mend localise: at most %d --symptom\n", LOCALISE_MAX_SYMPTOMS);
                return MEND_EXIT_USAGE;
            }
            onsets[n_sym] = MEND_LOCALISE_NO_ONSET;
            symptoms[n_sym++] = v;
        } else if (!strcmp(o, "--onset")) {
            uint32_t row;
            if (n_sym == 0 || parse_u32(v, &row)) {
                fprintf(stderr, "mend localise: --onset wants a data row after a --symptom, not '%s'\n",
                        v);
                return MEND_EXIT_USAGE;
            }
            onsets[n_sym - 1] = row;
        } else if (!strcmp(o, "--top")) {
            if (parse_u32(v, &top) || top == 0) {
                fprintf(stderr, "mend localise: --top wants a positive integer, not '%s'\n", v);
                return MEND_EXIT_USAGE;
            }
        } else if (!strcmp(o, "--method")) {
            if (!strcmp(v, "rank"))
                method = MEND_LOCALISE_RANK;
            else if (!strcmp(v, "nsigma"))
                method = MEND_LOCALISE_NSIGMA;
            else {
                fprintf(stderr, "mend localise: --method is rank or nsigma, not '%s'\n", v);
                return MEND_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "mend localise: unknown option '%s'\n\n", o);
            usage(stderr);
            return MEND_EXIT_USAGE;
        }
    }
    uint32_t w0, w1;
    if (!input || !window) {
        fprintf(stderr, "mend localise: --input and --window are required\n\n");
        usage(stderr);
        return MEND_EXIT_USAGE;
    }
    if (parse_window(window, &w0, &w1)) {
        fprintf(stderr, "mend localise: --window wants START:END with START <= END, not '%s'\n",
                window);
        return MEND_EXIT_USAGE;
    }
    if (components && !topology) {
        fprintf(stderr, "mend localise: --components needs --topology\n");
        return MEND_EXIT_USAGE;
    }

    int ret = MEND_EXIT_RUNTIME;
    char err[512];
    struct mend_table in = {0}, base = {0};
    struct mend_topo_file g = {0};
    struct mend_localise_series *ser = NULL;
    double *buf = NULL;
    uint32_t *sym_idx = NULL;
    struct mend_localise *loc = NULL;

    if (mend_table_load(input, &in, err, sizeof err)) {
        fprintf(stderr, "mend localise: %s\n", err);
        goto out;
    }
    if (baseline && mend_table_load(baseline, &base, err, sizeof err)) {
        fprintf(stderr, "mend localise: %s\n", err);
        goto out;
    }
    if (topology && mend_topo_load(topology, &g, err, sizeof err)) {
        fprintf(stderr, "mend localise: %s\n", err);
        goto out;
    }
    if (w1 >= in.n_rows) {
        fprintf(stderr, "mend localise: --window %u:%u is past the %u data rows of %s\n", w0, w1,
                in.n_rows, input);
        ret = MEND_EXIT_USAGE;
        goto out;
    }
    const uint32_t W = w1 - w0 + 1, nc = in.n_cols;
    /* lead-in: the rows before the window, as many as the localiser may use
     * (the window's length, at least 20: see lead_slots in localise.c) */
    const uint32_t want = W > 20 ? W : 20, lead = w0 < want ? w0 : want;
    uint32_t ref_rows = baseline ? base.n_rows : in.n_rows - W;
    size_t per = (size_t)ref_rows + lead + W;
    ser = calloc(nc, sizeof *ser);
    buf = malloc((size_t)nc * per * sizeof *buf);
    sym_idx = malloc(LOCALISE_MAX_SYMPTOMS * sizeof *sym_idx);
    if (!ser || !buf || !sym_idx) {
        fprintf(stderr, "mend localise: out of memory\n");
        goto out;
    }
    for (uint32_t k = 0; k < n_sym; k++) {
        int32_t j = mend_table_col(&in, symptoms[k]);
        if (j < 0) {
            fprintf(stderr, "mend localise: --symptom '%s' is not a column of %s\n", symptoms[k],
                    input);
            ret = MEND_EXIT_USAGE;
            goto out;
        }
        sym_idx[k] = (uint32_t)j;
    }
    uint32_t missing = 0;
    for (uint32_t j = 0; j < nc; j++) {
        double *ref = buf + (size_t)j * per, *ctx = ref + ref_rows, *win = ctx + lead;
        uint32_t rn = 0;
        if (baseline) {
            int32_t bj = mend_table_col(&base, in.names[j]);
            if (bj >= 0) {
                column(&base, (uint32_t)bj, 0, base.n_rows, ref);
                rn = base.n_rows;
            } else {
                missing++; /* no normal behaviour known: no shift evidence */
            }
        } else {
            /* rows after the window first, so that the reference ends with the
             * rows just before it: its tail is then the lead-in */
            column(&in, j, w1 + 1, in.n_rows, ref);
            column(&in, j, 0, w0, ref + (in.n_rows - w1 - 1));
            rn = ref_rows;
        }
        column(&in, j, w0 - lead, w0, ctx);
        column(&in, j, w0, w1 + 1, win);
        ser[j].ref = ref;
        ser[j].ref_n = rn;
        /* the lead-in: the input's rows before the window, continued into the
         * past by the baseline's tail; without a baseline the reference's
         * tail already is those rows */
        ser[j].ctx = lead && baseline ? ctx : NULL;
        ser[j].ctx_n = lead;
        ser[j].win = win;
        ser[j].win_n = W;
        ser[j].node = topology ? mend_topo_node_of(&g, in.names[j]) : -1;
        ser[j].onset = MEND_LOCALISE_NO_ONSET;
        for (uint32_t k = 0; k < n_sym; k++)
            if (sym_idx[k] == j)
                ser[j].onset = onsets[k];
    }
    if (missing)
        fprintf(stderr, "mend localise: %u column(s) of %s are not in %s: ranked without a shift\n",
                missing, input, baseline);

    struct mend_localise_conf conf;
    mend_localise_conf_defaults(&conf);
    conf.max_series = nc;
    conf.max_window = W > conf.max_lag ? W : conf.max_lag + 1;
    conf.max_ref = ref_rows > lead ? ref_rows : lead;
    conf.max_nodes = topology ? g.n : 0;
    conf.method = method;
    if (!(loc = mend_localise_new(&conf))) {
        fprintf(stderr, "mend localise: cannot set up a window of %u rows over %u columns\n", W, nc);
        goto out;
    }
    struct mend_localise_topo topo = {g.n, g.adj};
    struct mend_localise_input li = {
        .series = ser, .n_series = nc, .symptoms = sym_idx, .n_symptoms = n_sym,
        /* index-aligned (no time arrays), with rows as the time unit so
         * that --onset rows place onsets on the window's slots */
        .topo = topology ? &topo : NULL, .slots = W, .t0 = w0, .step = 1,
    };
    struct mend_localise_result res;
    int rc = mend_localise_run(loc, &li, &res);
    if (rc) {
        fprintf(stderr, "mend localise: %s\n", mend_strerror(rc));
        goto out;
    }
    if (components) {
        for (uint32_t k = 0; k < res.n_comps && k < top; k++) {
            const struct mend_localise_comp *c = &res.comps[k];
            printf("%u\t%s\t%.6f\town=%.6f\texplains=%u\tseries=%s\n", k + 1, g.names[c->node],
                   c->score, c->own, c->explains, in.names[c->best_series]);
        }
    } else {
        for (uint32_t k = 0; k < res.n_items && k < top; k++) {
            const struct mend_localise_item *it = &res.items[k];
            printf("%u\t%s\t%.6f\tshift=%.6f\tz=%.6g\tmi=%.6f\tlag=%d\tonset=%d", k + 1,
                   in.names[it->series], it->score, it->shift, it->z, it->mi, it->lag,
                   it->onset < 0 ? -1 : (int)(it->onset + (int32_t)w0));
            if (topology)
                printf("\tnode=%s", it->node >= 0 ? g.names[it->node] : "-");
            putchar('\n');
        }
    }
    ret = fflush(stdout) ? MEND_EXIT_RUNTIME : MEND_EXIT_OK;
out:
    mend_localise_free(loc);
    free(sym_idx);
    free(buf);
    free(ser);
    mend_topo_fini(&g);
    mend_table_fini(&base);
    mend_table_fini(&in);
    return ret;
}
