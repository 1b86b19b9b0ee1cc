/* report.c -- reliability figures per entity from the remediation audit
 * log (see act.h, `mend report`): every incident's start and end (from
 * its incident_open / incident_resolve lines), and the verified recoveries
 * with their times to repair. Over the period P: downtime D is the sum of
 * incident time inside P, MTTR = D / incidents, MTBF = (P - D) / incidents,
 * availability = 1 - D / P. Lines are read with a cap on their length and
 * count; lines that are not ours are skipped. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/act.h"

#define MAX_INC 100000

struct inc {
    uint64_t id;
    char entity[MEND_ACT_TARGET];
    int64_t start, end; /* end INT64_MIN: still open */
    double ttr;         /* verified time to repair, -1 none */
};

/* The string value of "key":"..." in line (no unescaping beyond \\"). */
static int str_of(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap) {
        if (*p == '\\' && p[1])
            p++;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return 1;
}

static int num_of(const char *line, const char *key, int64_t *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    size_t n = strspn(p, "-0123456789");
    return n && mend_parse_i64(p, n, out) == MEND_OK;
}

static struct inc *find_inc(struct inc *v, size_t n, uint64_t id)
{
    for (size_t i = n; i-- > 0;) /* the newest first: ids are reused by nothing */
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const struct mend_reliability *)a)->entity, ((const struct mend_reliability *)b)->entity);
}

int mend_reliability(const char *path, int64_t since_ns, int64_t until_ns, struct mend_reliability *rows, size_t cap,
                     int64_t *period_start, int64_t *period_end)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return MEND_EIO;
    struct inc *v = calloc(MAX_INC, sizeof *v);
    if (!v) {
        fclose(f);
        return MEND_ENOMEM;
    }
    size_t n = 0;
    char line[8192], ev[32], why[512], ent[MEND_ACT_TARGET];
    int64_t last = INT64_MIN, first = INT64_MAX;
    while (fgets(line, sizeof line, f)) {
        int64_t t, id;
        if (!str_of(line, "event", ev, sizeof ev) || !num_of(line, "t_ns", &t) || !num_of(line, "incident", &id))
            continue;
        if (t > last)
            last = t;
        if (!strcmp(ev, "incident_open") && n < MAX_INC && str_of(line, "entity", ent, sizeof ent)) {
            int64_t s = t;
            if (str_of(line, "why", why, sizeof why))
                sscanf(why, "start %" SCNd64, &s);
            struct inc *x = &v[n++];
            x->id = (uint64_t)id;
            snprintf(x->entity, sizeof x->entity, "%s", ent);
            x->start = s;
            x->end = INT64_MIN;
            x->ttr = -1;
            if (s < first)
                first = s;
        } else if (!strcmp(ev, "incident_resolve")) {
            struct inc *x = find_inc(v, n, (uint64_t)id);
            int64_t s, e = t;
            if (x && str_of(line, "why", why, sizeof why))
                sscanf(why, "start %" SCNd64 " end %" SCNd64, &s, &e);
            if (x)
                x->end = e;
        } else if (!strcmp(ev, "verified")) {
            struct inc *x = find_inc(v, n, (uint64_t)id);
            const char *p = str_of(line, "why", why, sizeof why) ? strstr(why, "time to repair ") : NULL;
            if (x && p)
                x->ttr = atof(p + 15);
        }
    }
    fclose(f);
    int64_t to = until_ns != INT64_MAX ? until_ns : last;
    int64_t from = since_ns == INT64_MAX || to == INT64_MIN ? first : to - since_ns;
    if (from == INT64_MAX || to == INT64_MIN || from >= to)
        from = to = 0;
    double period = (double)(to - from) / 1e9;
    size_t nrows = 0;
    struct mend_reliability *all = calloc(n ? n : 1, sizeof *all);
    if (!all) {
        free(v);
        return MEND_ENOMEM;
    }
    double *ttr_sum = calloc(n ? n : 1, sizeof *ttr_sum);
    for (size_t i = 0; i < n && ttr_sum; i++) {
        struct inc *x = &v[i];
        int64_t e = x->end == INT64_MIN ? to : x->end;
        int64_t s = x->start > from ? x->start : from, ee = e < to ? e : to;
        if (ee < s || x->start > to || e < from)
            continue;
        size_t r;
        for (r = 0; r < nrows && strcmp(all[r].entity, x->entity); r++)
            ;
        if (r == nrows)
            snprintf(all[nrows++].entity, sizeof all[0].entity, "%s", x->entity);
        all[r].incidents++;
        all[r].downtime_s += (double)(ee - s) / 1e9;
        if (x->ttr >= 0) {
            all[r].recoveries++;
            ttr_sum[r] += x->ttr;
        }
    }
    for (size_t r = 0; r < nrows && ttr_sum; r++) {
        struct mend_reliability *o = &all[r];
        o->mttr_s = o->incidents ? o->downtime_s / o->incidents : 0;
        o->mtbf_s = o->incidents ? (period - o->downtime_s) / o->incidents : period;
        o->availability = period > 0 ? 1.0 - o->downtime_s / period : 1.0;
        o->ttr_verified_s = o->recoveries ? ttr_sum[r] / o->recoveries : 0;
    }
    int ok = ttr_sum != NULL;
    qsort(all, nrows, sizeof *all, cmp_row);
    memcpy(rows, all, (nrows < cap ? nrows : cap) * sizeof *rows);
    free(all);
    free(ttr_sum);
    free(v);
    *period_start = from;
    *period_end = to;
    return ok ? (int)nrows : MEND_ENOMEM;
}
