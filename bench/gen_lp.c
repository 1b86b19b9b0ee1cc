/* gen_lp.c -- deterministic benchmark data in InfluxDB line protocol, shaped
 * like what Telegraf writes, for throughput and memory measurements of mend.
 *
 *   gen_lp --samples N --series S [--fields F] [--seed X] [--start NS]
 *          [--interval SEC] [--spike-every K] > file.lp
 *
 * N numeric field values are spread over S series (series = measurement +
 * tag set + field key); each line carries F fields, so there are ceil(S/F)
 * tag sets. Every series reports once per round; rounds are --interval
 * seconds apart and all lines of a round share its timestamp. Tag sets are
 * (host, measurement) pairs with tags already in sorted key order, as
 * Telegraf writes them. Values are a per-series random walk in [0, 100] with
 * about one spike per --spike-every samples, so detectors have something to
 * find. The same arguments always give the same bytes.
 *
 * Standalone on purpose (libc only): it must run before mend builds, and
 * its speed must not depend on mend's. Output is assembled by hand in a
 * large buffer because printf-style formatting would dominate the run time. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MAX_FIELDS 64
#define GEN_MAX_SERIES 50000000ULL       /* walk state: 4 bytes per series */
#define GEN_OUT_BUF (1u << 20)
#define GEN_LINE_MAX (256 + GEN_MAX_FIELDS * 48) /* worst-case line length */

struct gen_measurement {
    const char *name;
    const char *fields[8];
};

/* Field names as Telegraf's inputs name them; beyond 8, "field_N". */
static const struct gen_measurement gen_meas[4] = {
    { "cpu", { "usage_user", "usage_system", "usage_idle", "usage_iowait",
               "usage_irq", "usage_softirq", "usage_steal", "usage_nice" } },
    { "mem", { "used_percent", "available_percent", "cached_percent", "buffered_percent",
               "free_percent", "shared_percent", "slab_percent", "swap_percent" } },
    { "disk", { "used_percent", "inodes_used_percent", "read_util", "write_util",
                "queue_depth", "await_ms", "svctm_ms", "busy_percent" } },
    { "net", { "rx_util", "tx_util", "err_in_rate", "err_out_rate",
               "drop_in_rate", "drop_out_rate", "rx_pkts_k", "tx_pkts_k" } },
};
static const char *const gen_region[4] = { "ap-1", "eu-1", "eu-2", "us-1" };
static const char *const gen_service[5] = { "api", "cache", "db", "queue", "web" };

struct gen_out {
    char *buf;
    size_t len;
};

static uint64_t rng_next(uint64_t *s) /* splitmix64: cheap, good enough */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void flush_out(struct gen_out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, stdout) != o->len) {
        fprintf(stderr, "gen_lp: write: %s\n", strerror(errno));
        exit(1);
    }
    o->len = 0;
}

static void put_str(struct gen_out *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_u64(struct gen_out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        o->buf[o->len++] = tmp[--n];
}

/* v in hundredths, printed shortest: 1250 -> "12.5", 1200 -> "12". */
static void put_centi(struct gen_out *o, uint32_t v)
{
    uint32_t frac = v % 100;
    put_u64(o, v / 100, 0);
    if (frac) {
        o->buf[o->len++] = '.';
        o->buf[o->len++] = (char)('0' + frac / 10);
        if (frac % 10)
            o->buf[o->len++] = (char)('0' + frac % 10);
    }
}

static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    if (!s || !*s || *s == '-') {
        fprintf(stderr, "gen_lp: %s needs a number\n", opt);
        return -1;
    }
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "gen_lp: %s: '%s' is not in %" PRIu64 "..%" PRIu64 "\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: gen_lp --samples N --series S [--fields F] [--seed X]\n"
          "              [--start NS] [--interval SEC] [--spike-every K] > file.lp\n"
          "  N numeric values over S series (measurement+tags+field), F fields a line\n"
          "  (default 3, at most 64), rounds --interval seconds apart (default 10)\n"
          "  from --start ns (default 1700000000000000000); about one spike per K\n"
          "  samples (default 5000, 0 = none). Deterministic for given arguments.\n", f);
}

int main(int argc, char **argv)
{
    uint64_t samples = 0, series = 0, fields = 3, seed = 1, start = 1700000000000000000ULL;
    uint64_t interval = 10, spike_every = 5000;
    uint64_t ntags, emitted = 0, round, rng, hosts_width;
    uint32_t *walk;
    struct gen_out o;
    int i, have_n = 0, have_s = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--samples")) {
            rc = parse_u64(a, v, 1, UINT64_MAX / 2, &samples), have_n = 1;
        } else if (!strcmp(a, "--series")) {
            rc = parse_u64(a, v, 1, GEN_MAX_SERIES, &series), have_s = 1;
        } else if (!strcmp(a, "--fields")) {
            rc = parse_u64(a, v, 1, GEN_MAX_FIELDS, &fields);
        } else if (!strcmp(a, "--seed")) {
            rc = parse_u64(a, v, 0, UINT64_MAX, &seed);
        } else if (!strcmp(a, "--start")) {
            rc = parse_u64(a, v, 0, (uint64_t)INT64_MAX / 2, &start);
        } else if (!strcmp(a, "--interval")) {
            rc = parse_u64(a, v, 1, 86400, &interval);
        } else if (!strcmp(a, "--spike-every")) {
            rc = parse_u64(a, v, 0, UINT32_MAX, &spike_every);
        } else {
            fprintf(stderr, "gen_lp: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (rc < 0)
            return 2;
        i++;
    }
    if (!have_n || !have_s) {
        usage(stderr);
        return 2;
    }
    if (fields > series)
        fields = series;
    ntags = (series + fields - 1) / fields;
    /* timestamps must stay inside int64 for every round we will write */
    if ((samples / series + 1) > ((uint64_t)INT64_MAX - start) / (interval * 1000000000ULL)) {
        fprintf(stderr, "gen_lp: too many rounds for --start/--interval\n");
        return 2;
    }

    walk = malloc((size_t)series * sizeof *walk);
    o.buf = malloc(GEN_OUT_BUF + GEN_LINE_MAX);
    if (!walk || !o.buf) {
        fprintf(stderr, "gen_lp: out of memory\n");
        return 1;
    }
    o.len = 0;
    rng = seed;
    for (uint64_t k = 0; k < series; k++) /* start every walk at 5..95 */
        walk[k] = 500 + (uint32_t)(rng_next(&rng) % 9001);
    {
        uint64_t h = ntags / 4 + 1;
        for (hosts_width = 1; h >= 10; h /= 10)
            hosts_width++;
        if (hosts_width < 4)
            hosts_width = 4;
    }

    for (round = 0; emitted < samples; round++) {
        uint64_t ts = start + round * interval * 1000000000ULL;
        for (uint64_t t = 0; t < ntags && emitted < samples; t++) {
            const struct gen_measurement *m = &gen_meas[t % 4];
            uint64_t host = t / 4, first = t * fields;
            uint64_t nf = series - first < fields ? series - first : fields;
            put_str(&o, m->name);
            put_str(&o, ",host=host");
            put_u64(&o, host, (int)hosts_width);
            put_str(&o, ",region=");
            put_str(&o, gen_region[host % 4]);
            put_str(&o, ",service=");
            put_str(&o, gen_service[(host / 4) % 5]);
            o.buf[o.len++] = ' ';
            for (uint64_t f = 0; f < nf && emitted < samples; f++, emitted++) {
                uint64_t r = rng_next(&rng);
                int32_t v = (int32_t)walk[first + f] + (int32_t)(r % 201) - 100;
                uint32_t out;
                if (v < 0)
                    v = -v;           /* reflect at the bounds */
                if (v > 10000)
                    v = 20000 - v;
                walk[first + f] = (uint32_t)v;
                out = (uint32_t)v;
                if (spike_every && (r >> 32) % spike_every == 0)
                    out += 5000 + (uint32_t)((r >> 8) % 20000); /* +50..+250 */
                if (f) {
                    o.buf[o.len++] = ',';
                }
                if (f < 8) {
                    put_str(&o, m->fields[f]);
                } else {
                    put_str(&o, "field_");
                    put_u64(&o, f, 0);
                }
                o.buf[o.len++] = '=';
                put_centi(&o, out);
            }
            o.buf[o.len++] = ' ';
            put_u64(&o, ts, 0);
            o.buf[o.len++] = '\n';
            if (o.len >= GEN_OUT_BUF)
                flush_out(&o);
        }
    }
    flush_out(&o);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gen_lp: write: %s\n", strerror(errno));
        return 1;
    }
    free(walk);
    free(o.buf);
    return 0;
}
