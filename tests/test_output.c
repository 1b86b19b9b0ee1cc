/* test_output.c -- the JSON writers (shortest round-trip doubles in any
 * locale, UTF-8 that is always valid), the output set (spooling on RETRY,
 * order, overflow, errors, close), and the shipped outputs (jsonl, table).
 * Every JSON line produced here is checked with jansson, an independent
 * parser that refuses ill-formed UTF-8. */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "mend/incident.h"
#include "mend/json.h"
#include "mend/output.h"

#define SEC 1000000000LL

/* ---- helpers ------------------------------------------------------------- */

static json_t *parse_json(const char *p, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("not valid JSON (%s at %d): %.*s", e.text, e.position, (int)n, p);
    return j;
}

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static struct mend_anomaly ev(uint32_t sid, uint32_t ent, const char *key, const char *entity, int64_t t, double score)
{
    struct mend_anomaly a = {
        .kind = MEND_ANOM_SCORE, .series_id = sid, .entity_id = ent, .key = key, .key_len = strlen(key),
        .entity = entity, .entity_len = entity ? strlen(entity) : 0, .t_ns = t, .score = score, .value = 1.5,
        .expected = NAN};
    return a;
}

/* ---- numbers ------------------------------------------------------------- */

/* The shortest form reads back bit for bit, and one digit fewer would not. */
static void check_shortest(double v)
{
    char b[MEND_JSON_NUM_MAX];
    size_t n = mend_json_fmt_f64(v, b, sizeof b);
    assert_int_equal(n, strlen(b));
    char *end;
    double back = strtod(b, &end);
    assert_true(*end == '\0');
    if (bits(back) != bits(v))
        fail_msg("%.17g written as %s reads back as %.17g", v, b, back);
    json_t *j = parse_json(b, n);
    assert_true(json_is_number(j));
    if (json_is_real(j))
        assert_true(bits(json_real_value(j)) == bits(v));
    else
        assert_true((double)json_integer_value(j) == v);
    json_decref(j);
    /* count significant digits and check one fewer does not round trip */
    int digits = 0, seen = 0;
    for (const char *p = b; *p && *p != 'e'; p++)
        if (*p >= '1' && *p <= '9')
            seen = 1, digits++;
        else if (*p == '0' && seen)
            digits++;
    /* trailing zeros of an integer are not significant */
    if (!strchr(b, '.') && !strchr(b, 'e'))
        for (const char *p = b + n; p > b && p[-1] == '0'; p--)
            digits--;
    if (digits > 1) {
        char s[64];
        snprintf(s, sizeof s, "%.*e", digits - 2, v);
        assert_true(strtod(s, NULL) != v);
    }
}

static void test_number_known(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0.1, "0.1"},
        {1e-300, "1e-300"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e308"},
        {123456.789, "123456.789"},
        {-0.0, "-0.0"},
        {0.0, "0"},
        {0.9, "0.9"},
        {1.5, "1.5"},
        {100, "100"},
        {-42, "-42"},
        {0.000001, "0.000001"},
        {1e-7, "1e-7"},
        {1e15, "1000000000000000"},
        {1e16, "1e16"},
        {0.30000000000000004, "0.30000000000000004"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {9007199254740993.0, "9007199254740992"},
        {-1.25e-5, "-0.0000125"},
        {123456789012345680.0, "1.2345678901234568e17"},
    };
    char b[MEND_JSON_NUM_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mend_json_fmt_f64(cases[i].v, b, sizeof b);
        assert_string_equal(b, cases[i].s);
        check_shortest(cases[i].v);
    }
    mend_json_fmt_f64(NAN, b, sizeof b);
    assert_string_equal(b, "null");
    mend_json_fmt_f64(INFINITY, b, sizeof b);
    assert_string_equal(b, "null");
    mend_json_fmt_f64(-INFINITY, b, sizeof b);
    assert_string_equal(b, "null");
    /* too small a buffer gives nothing rather than a cut number */
    assert_int_equal(mend_json_fmt_f64(0.1, b, 8), 0);
    assert_string_equal(b, "");
}

static void test_number_random(void **state)
{
    (void)state;
    /* random bit patterns cover every exponent, subnormals included */
    for (int i = 0; i < 20000; i++) {
        uint64_t u = rng();
        double v;
        memcpy(&v, &u, sizeof v);
        if (!isfinite(v))
            continue;
        check_shortest(v);
    }
    /* and values of the kind scores and samples are */
    for (int i = 0; i < 5000; i++) {
        double v = (double)(rng() >> 11) / 9007199254740992.0 * pow(10, (double)(int)(rng() % 13) - 6);
        check_shortest(v);
    }
}

/* The reference the fast formatter must match digit for digit: the
 * original search, one snprintf("%.*e") and one strtod per probe (run in
 * the C locale). Writes the digits (no trailing zeros) and returns the
 * decimal exponent. */
static int ref_shortest(double v, char *dig, size_t dlen)
{
    char e[64];
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(e, sizeof e, "%.*e", mid - 1, v);
        if (strtod(e, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(e, sizeof e, "%.*e", lo - 1, v);
    size_t n = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && n + 1 < dlen)
            dig[n++] = *p;
    while (n > 1 && dig[n - 1] == '0')
        n--;
    dig[n] = '\0';
    return *p ? atoi(p + 1) : 0;
}

/* Takes a written number apart again: its significant digits (no leading
 * or trailing zeros) and the decimal exponent of the first one. */
static int written_digits(const char *s, char *dig, size_t dlen)
{
    if (*s == '-')
        s++;
    int point = -1, n = 0, lead = 0, seen = 0;
    size_t k = 0;
    const char *p = s;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            point = n;
            continue;
        }
        if (!seen && *p == '0') {
            lead++;
            n++;
            continue;
        }
        seen = 1;
        if (k + 1 < dlen)
            dig[k++] = *p;
        n++;
    }
    while (k > 1 && dig[k - 1] == '0')
        k--;
    dig[k] = '\0';
    if (point < 0)
        point = n;
    return point - lead - 1 + (*p ? atoi(p + 1) : 0);
}

static void check_against_ref(double v)
{
    char b[MEND_JSON_NUM_MAX], rd[40], wd[40];
    if (v == 0 || !isfinite(v))
        return; /* literals, tested above */
    mend_json_fmt_f64(v, b, sizeof b);
    int re = ref_shortest(v, rd, sizeof rd);
    int we = written_digits(b, wd, sizeof wd);
    if (strcmp(rd, wd) != 0 || re != we)
        fail_msg("%a: wrote %s, the reference search gives %se%d", v, b, rd, re);
}

/* The formatter rounds the shorter candidates from 17 exact digits and
 * checks read-back with exact arithmetic where it can: it must give what
 * the plain snprintf/strtod search gives, probe for probe, also where that
 * search is not monotone (powers of two, whose lower neighbour is nearer)
 * and at exact half-way digits (dyadic fractions). Checked against ~3M
 * values while it was written; a sample of each kind here. */
static void test_number_reference(void **state)
{
    (void)state;
    for (int i = 0; i < 4000; i++) {
        uint64_t u = rng();
        double v;
        memcpy(&v, &u, sizeof v);
        if (isfinite(v) && v != 0)
            check_against_ref(v);
        /* the fast range, 1e-11..1e17, with 15..17-digit values */
        v = (double)(rng() >> 11) / 9007199254740992.0 * pow(10, (double)(int)(rng() % 28) - 11);
        if (v != 0)
            check_against_ref(v);
        /* short decimals and their neighbours */
        v = (double)(rng() % 100000000) / 1e4;
        if (v != 0) {
            check_against_ref(v);
            check_against_ref(nextafter(v, 0));
            check_against_ref(-nextafter(v, 1e300));
        }
        /* odd 53-bit mantissas over small powers of two: exact 17-digit ties */
        uint64_t m = ((rng() % ((1ULL << 53) - (1ULL << 40))) + (1ULL << 40)) | 1;
        check_against_ref(ldexp((double)m, -(int)(1 + i % 40)));
    }
    for (int e = -1074; e < 1024; e++) {
        double v = ldexp(1.0, e);
        check_against_ref(v);
        check_against_ref(nextafter(v, 0));
        check_against_ref(nextafter(v, INFINITY));
    }
    for (int e = -323; e < 309; e++) {
        double v = pow(10, e);
        check_against_ref(v);
        check_against_ref(nextafter(v, 0));
        check_against_ref(nextafter(v, INFINITY));
    }
    static const double edge[] = {5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e23, 9007199254740993.0,
                                  9007199254740991.0, 1e-11, 1e17, 99999999999999990.0, 9.9999999999999995e-12};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        check_against_ref(edge[i]);
        check_against_ref(nextafter(edge[i], 0));
        check_against_ref(nextafter(edge[i], INFINITY));
    }
}

/* Makes a locale whose decimal point is ',' (only LC_NUMERIC, a few ms with
 * localedef) in a fresh directory; returns 0 and switches LC_NUMERIC to it,
 * or -1 when localedef or its charmaps are not installed. */
static int comma_locale(char *dir, size_t dlen)
{
    snprintf(dir, dlen, "%s/mend-loc.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    char src[600], cmd[2048];
    snprintf(src, sizeof src, "%s/comma.src", dir);
    FILE *f = fopen(src, "w");
    if (!f)
        return -1;
    fputs("LC_NUMERIC\ndecimal_point \"<U002C>\"\nthousands_sep \"<U002E>\"\ngrouping 3;3\nEND LC_NUMERIC\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "localedef -c -i '%s' -f ANSI_X3.4-1968 '%s/comma_NUM' >/dev/null 2>&1", src, dir);
    int rc = system(cmd);
    (void)rc; /* -c makes localedef exit 1 for the categories left out */
    setenv("LOCPATH", dir, 1);
    if (!setlocale(LC_NUMERIC, "comma_NUM"))
        return -1;
    return 0;
}

static void test_number_locale(void **state)
{
    (void)state;
    char dir[512], probe[32];
    if (comma_locale(dir, sizeof dir) != 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void)!system(cmd);
        skip();
    }
    /* the locale is really in force for this thread ... */
    snprintf(probe, sizeof probe, "%.1f", 1.5);
    assert_string_equal(probe, "1,5");
    /* ... and the writers do not follow it */
    char b[MEND_JSON_NUM_MAX];
    mend_json_fmt_f64(0.1, b, sizeof b);
    assert_string_equal(b, "0.1");
    mend_json_fmt_f64(123456.789, b, sizeof b);
    assert_string_equal(b, "123456.789");
    mend_json_fmt_f64(1.7976931348623157e308, b, sizeof b);
    assert_string_equal(b, "1.7976931348623157e308");
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    mend_json_num(&w, 2.5);
    assert_int_equal(w.len, 3);
    assert_memory_equal(w.data, "2.5", 3);
    mend_wbuf_fini(&w);
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- strings ------------------------------------------------------------- */

/* Writes (in, n) as a JSON string, checks jansson reads it, and compares
 * the decoded text with want. */
static void check_str(const char *in, size_t n, const char *want_json, const char *want_text)
{
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    mend_json_str(&w, in, n);
    assert_false(w.failed);
    if (want_json) {
        if (w.len != strlen(want_json) || memcmp(w.data, want_json, w.len))
            fail_msg("wrote %.*s, wanted %s", (int)w.len, (const char *)w.data, want_json);
    }
    json_t *j = parse_json((const char *)w.data, w.len);
    assert_true(json_is_string(j));
    if (want_text) {
        assert_int_equal(json_string_length(j), strlen(want_text));
        assert_memory_equal(json_string_value(j), want_text, strlen(want_text));
    }
    json_decref(j);
    mend_wbuf_fini(&w);
}

#define R "\xef\xbf\xbd" /* U+FFFD */
#define LIT(s) s, sizeof(s) - 1

static void test_string_utf8(void **state)
{
    (void)state;
    /* well-formed text passes unchanged, 1 to 4 bytes a character */
    check_str(LIT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"", NULL);
    /* escapes: quote, backslash, controls and DEL */
    check_str(LIT("a\"b\\c\x01\n\x1f\x7f"), "\"a\\\"b\\\\c\\u0001\\u000a\\u001f\\u007f\"", "a\"b\\c\x01\n\x1f\x7f");
    check_str(LIT("nul\0here"), "\"nul\\u0000here\"", NULL);
    /* overlong forms: C0/C1 leads, E0 80..9F, F0 80..8F */
    check_str(LIT("\xc0\xaf"), "\"" R R "\"", R R);
    check_str(LIT("\xc1\xbf"), "\"" R R "\"", NULL);
    check_str(LIT("\xe0\x80\xaf"), "\"" R R R "\"", NULL);
    check_str(LIT("\xf0\x80\x80\xaf"), "\"" R R R R "\"", NULL);
    /* UTF-16 surrogates encoded as UTF-8 (U+D800, U+DFFF) */
    check_str(LIT("\xed\xa0\x80"), "\"" R R R "\"", NULL);
    check_str(LIT("\xed\xbf\xbf"), "\"" R R R "\"", NULL);
    /* above U+10FFFF: F4 90.., and the leads F5..FF */
    check_str(LIT("\xf4\x90\x80\x80"), "\"" R R R R "\"", NULL);
    check_str(LIT("\xf5\x80\x80\x80"), "\"" R R R R "\"", NULL);
    check_str(LIT("\xff\xfe"), "\"" R R "\"", NULL);
    /* truncated: a valid prefix is one replacement, at the end or before
     * another character */
    check_str(LIT("\xe2\x82"), "\"" R "\"", NULL);
    check_str(LIT("\xe2\x82" "A"), "\"" R "A\"", NULL);
    check_str(LIT("\xf0\x9f\x98"), "\"" R "\"", NULL);
    check_str(LIT("\xf0\x9f\x98\xe2\x82\xac"), "\"" R "\xe2\x82\xac\"", NULL);
    check_str(LIT("\xc3"), "\"" R "\"", NULL);
    /* stray continuation bytes */
    check_str(LIT("\x80"), "\"" R "\"", NULL);
    check_str(LIT("a\xbf\xbf" "b"), "\"a" R R "b\"", NULL);
    /* anything at all: always a string jansson accepts */
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rng() % sizeof buf);
        for (size_t k = 0; k < n; k++) {
            uint64_t r = rng();
            /* favour the interesting bytes */
            buf[k] = (char)(r % 4 == 0 ? 0x80 + (r >> 8) % 0x80 : r % 4 == 1 ? 0xc0 + (r >> 8) % 0x40 : (r >> 8) & 0xff);
        }
        check_str(buf, n, NULL, NULL);
    }
}

/* ---- a test double: the kind is pluggable --------------------------------
 * "flaky" answers RETRY `retries` times in a row every `every`-th offer (or
 * from the start), then OK; it records what it took, in order, and keeps a
 * pointer-free check that the incident record it got matches the JSON. */
struct flaky_log {
    uint64_t ids[256];
    char status[256][8];
    uint32_t signals[256];
    char json[256][2048];
    int n;
    int offers;
    int down;           /* while set, every offer answers RETRY */
    int error_on;       /* offer number that answers MEND_EIO (0 = never) */
    int closed;
};

struct flaky_conf {
    struct flaky_log *log;
};

static int flaky_open(const void *conf, void **inst, char *err, size_t errlen)
{
    const struct flaky_conf *c = conf;
    if (!c || !c->log) {
        snprintf(err, errlen, "flaky: no log");
        return MEND_EINVAL;
    }
    *inst = c->log;
    return MEND_OK;
}

static int flaky_incident(void *inst, const char *status, const struct mend_incident *inc, const char *json,
                          size_t len)
{
    struct flaky_log *l = inst;
    l->offers++;
    if (l->error_on && l->offers == l->error_on)
        return MEND_EIO;
    if (l->down)
        return MEND_OUTPUT_RETRY;
    assert_true(l->n < 256);
    l->ids[l->n] = inc->id;
    snprintf(l->status[l->n], sizeof l->status[0], "%s", status);
    l->signals[l->n] = inc->n_signals;
    assert_true(len < sizeof l->json[0]);
    memcpy(l->json[l->n], json, len);
    l->json[l->n][len] = '\0';
    l->n++;
    return MEND_OK;
}

static void flaky_close(void *inst)
{
    struct flaky_log *l = inst;
    l->closed++;
}

static const struct mend_output_ops flaky_ops = {
    .name = "flaky", .open = flaky_open, .incident = flaky_incident, .flush = NULL, .close = flaky_close,
    .last_error = NULL};

struct reports {
    int n;
    int codes[64];
    char msgs[64][512];
};

static void on_report(void *ctx, const char *output, int code, uint64_t count, const char *msg)
{
    (void)count;
    struct reports *r = ctx;
    if (r->n < 64) {
        r->codes[r->n] = code;
        snprintf(r->msgs[r->n], sizeof r->msgs[0], "%s: %s", output, msg);
    }
    r->n++;
}

/* Reference: what an output that is never down receives. */
static void test_set_spools_in_order(void **state)
{
    (void)state;
    static struct flaky_log ref, fl; /* large: not on the stack */
    struct flaky_conf rc_ = {&ref}, fc = {&fl};
    struct reports rep = {0};
    struct mend_output_report r = {on_report, &rep};
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, &r, &outs), MEND_OK);
    char err[256];
    size_t i_ref, i_fl;
    assert_int_equal(mend_outputs_add(outs, &flaky_ops, &rc_, &i_ref, err, sizeof err), MEND_OK);
    assert_int_equal(mend_outputs_add(outs, &flaky_ops, &fc, &i_fl, err, sizeof err), MEND_OK);
    assert_int_equal(mend_outputs_count(outs), 2);

    struct mend_incident_conf ic;
    mend_incident_conf_defaults(&ic);
    ic.resolve_after_ns = 60 * SEC;
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&ic, NULL, &s), MEND_OK);
    mend_incidents_set_outputs(s, outs);

    /* a stream of changes with the destination going down and up */
    int64_t t = 1000 * SEC;
    for (int step = 0; step < 40; step++) {
        if (step == 5)
            fl.down = 1;
        if (step == 17)
            fl.down = 0; /* back: the spool goes first, then the new change */
        if (step == 25)
            fl.down = 1;
        uint32_t ent = (uint32_t)(step % 3) + 1;
        char key[32];
        snprintf(key, sizeof key, "k%d", step % 7);
        struct mend_anomaly a = ev((uint32_t)(step % 7), ent, key, ent == 1 ? "a" : ent == 2 ? "b" : "c", t,
                                   0.5 + 0.01 * step);
        assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
        t += 30 * SEC;
        if (step % 9 == 8) {
            t += 120 * SEC;
            mend_incidents_advance(s, t); /* resolves */
        }
    }
    struct mend_output_stats st;
    assert_int_equal(mend_outputs_stats(outs, i_fl, &st), MEND_OK);
    assert_string_equal(st.name, "flaky");
    assert_true(st.spool_items > 0);
    assert_true(st.retries > 0);
    assert_int_equal(mend_outputs_retry(outs), MEND_EAGAIN); /* still down */
    fl.down = 0;
    assert_int_equal(mend_outputs_retry(outs), MEND_OK);
    assert_int_equal(mend_outputs_stats(outs, i_fl, &st), MEND_OK);
    assert_int_equal(st.spool_items, 0);
    assert_int_equal(st.spool_bytes, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.errors, 0);
    /* nothing lost, nothing reordered, records intact */
    assert_true(ref.n > 40);
    assert_int_equal(fl.n, ref.n);
    for (int i = 0; i < ref.n; i++) {
        assert_int_equal(fl.ids[i], ref.ids[i]);
        assert_string_equal(fl.status[i], ref.status[i]);
        assert_int_equal(fl.signals[i], ref.signals[i]);
        assert_string_equal(fl.json[i], ref.json[i]);
    }
    assert_int_equal(st.delivered, (uint64_t)ref.n);
    assert_int_equal(rep.n, 0);
    mend_incidents_free(s);
    assert_int_equal(mend_outputs_close(outs), MEND_OK);
    assert_int_equal(fl.closed, 1);
    assert_int_equal(mend_outputs_close(outs), MEND_OK); /* idempotent */
    assert_int_equal(fl.closed, 1);
    mend_outputs_free(outs);
}

/* Builds a small incident by hand for the set-level tests. */
static void mk_incident(struct mend_incident *inc, struct mend_incident_signal *sig, uint64_t id)
{
    memset(inc, 0, sizeof *inc);
    memset(sig, 0, sizeof *sig);
    static char key[] = "cpu,host=a usage";
    static char ent[] = "a";
    sig->key = key;
    sig->max_score = 0.75;
    inc->id = id;
    inc->entity = ent;
    inc->n_signals = inc->cap_signals = 1;
    inc->signals = sig;
}

static void test_set_overflow_error_close(void **state)
{
    (void)state;
    static struct flaky_log fl, tl;
    struct flaky_conf fc = {&fl};
    struct reports rep = {0};
    struct mend_output_report r = {on_report, &rep};
    struct mend_outputs_conf oc = {.spool_max_items = 3, .spool_max_bytes = 1 << 20};
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, &r, &outs), MEND_OK);
    char err[256];
    assert_int_equal(mend_outputs_add(outs, &flaky_ops, &fc, NULL, err, sizeof err), MEND_OK);
    struct mend_incident inc;
    struct mend_incident_signal sig;
    char line[64];
    fl.down = 1;
    for (uint64_t id = 1; id <= 5; id++) {
        mk_incident(&inc, &sig, id);
        int n = snprintf(line, sizeof line, "{\"incident\":%llu}", (unsigned long long)id);
        assert_int_equal(mend_outputs_emit(outs, "open", &inc, line, (size_t)n), MEND_OK);
    }
    struct mend_output_stats st;
    mend_outputs_stats(outs, 0, &st);
    /* 3 kept, the two oldest dropped and reported */
    assert_int_equal(st.spool_items, 3);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.spooled, 5);
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.codes[0], MEND_ECAP);
    assert_non_null(strstr(rep.msgs[0], "incident 1 open"));
    assert_non_null(strstr(rep.msgs[1], "incident 2 open"));
    /* back up: 3, 4, 5 in order */
    fl.down = 0;
    assert_int_equal(mend_outputs_flush(outs), MEND_OK);
    assert_int_equal(fl.n, 3);
    assert_int_equal(fl.ids[0], 3);
    assert_int_equal(fl.ids[1], 4);
    assert_int_equal(fl.ids[2], 5);
    assert_string_equal(fl.json[2], "{\"incident\":5}");

    /* an ERROR answer loses that change only, counted and reported */
    fl.error_on = fl.offers + 1;
    mk_incident(&inc, &sig, 6);
    assert_int_equal(mend_outputs_emit(outs, "update", &inc, "{}", 2), MEND_EIO);
    mk_incident(&inc, &sig, 7);
    assert_int_equal(mend_outputs_emit(outs, "update", &inc, "{}", 2), MEND_OK);
    mend_outputs_stats(outs, 0, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.last_error, MEND_EIO);
    assert_int_equal(fl.ids[fl.n - 1], 7);
    assert_int_equal(rep.n, 3);
    assert_non_null(strstr(rep.msgs[2], "incident 6 update"));

    /* a byte cap smaller than one change: dropped at once, counted */
    struct mend_outputs *tiny;
    struct mend_outputs_conf tc = {.spool_max_items = 10, .spool_max_bytes = 16};
    tl.down = 1;
    struct flaky_conf tfc = {&tl};
    assert_int_equal(mend_outputs_new(&tc, NULL, &tiny), MEND_OK);
    assert_int_equal(mend_outputs_add(tiny, &flaky_ops, &tfc, NULL, err, sizeof err), MEND_OK);
    assert_int_equal(mend_outputs_emit(tiny, "open", &inc, "{}", 2), MEND_OK);
    mend_outputs_stats(tiny, 0, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.spool_items, 0);
    mend_outputs_free(tiny);

    /* still down at close: what is spooled is counted lost and reported */
    fl.down = 1;
    mk_incident(&inc, &sig, 8);
    assert_int_equal(mend_outputs_emit(outs, "resolve", &inc, "{}", 2), MEND_OK);
    assert_int_equal(mend_outputs_close(outs), MEND_EAGAIN);
    mend_outputs_stats(outs, 0, &st);
    assert_int_equal(st.lost_at_close, 1);
    assert_non_null(strstr(rep.msgs[rep.n - 1], "incident 8 resolve"));
    assert_int_equal(fl.closed, 1);
    mend_outputs_free(outs);

    /* bad configuration and a failing open are refused cleanly */
    struct mend_outputs_conf bad = {.spool_max_items = 0, .spool_max_bytes = 1};
    assert_int_equal(mend_outputs_new(&bad, NULL, &outs), MEND_EINVAL);
    mend_outputs_conf_defaults(&oc);
    assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
    struct flaky_conf none = {NULL};
    assert_int_equal(mend_outputs_add(outs, &flaky_ops, &none, NULL, err, sizeof err), MEND_EINVAL);
    assert_string_equal(err, "flaky: no log");
    assert_int_equal(mend_outputs_count(outs), 0);
    assert_int_equal(mend_outputs_stats(outs, 0, &st), MEND_ENOTFOUND);
    for (int i = 0; i < MEND_OUTPUTS_MAX; i++)
        assert_int_equal(mend_outputs_add(outs, &flaky_ops, &fc, NULL, err, sizeof err), MEND_OK);
    assert_int_equal(mend_outputs_add(outs, &flaky_ops, &fc, NULL, err, sizeof err), MEND_ECAP);
    fl.closed = 0;
    mend_outputs_free(outs);
    assert_int_equal(fl.closed, MEND_OUTPUTS_MAX);
}

/* ---- jsonl ----------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Checks every line of (p, n) with jansson; returns the number of lines. */
static int check_lines(const char *p, size_t n)
{
    int lines = 0;
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl); /* every line is terminated */
        json_t *j = parse_json(p, (size_t)(nl - p));
        assert_true(json_is_object(j));
        json_decref(j);
        lines++;
        p = nl + 1;
    }
    return lines;
}

static void test_jsonl_file(void **state)
{
    (void)state;
    char path[] = "/tmp/mend-jsonl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct mend_incident_conf ic;
    mend_incident_conf_defaults(&ic);
    ic.resolve_after_ns = 60 * SEC;
    for (int run = 0; run < 2; run++) {
        struct mend_outputs_conf oc;
        mend_outputs_conf_defaults(&oc);
        struct mend_outputs *outs;
        assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
        struct mend_output_jsonl_conf jc = {.path = path, .fd = -1};
        char err[256];
        assert_int_equal(mend_outputs_add(outs, &mend_output_jsonl_ops, &jc, NULL, err, sizeof err), MEND_OK);
        struct mend_incidents *s;
        assert_int_equal(mend_incidents_new(&ic, NULL, &s), MEND_OK);
        mend_incidents_set_outputs(s, outs);
        /* hostile bytes in keys and entity names, and numbers that %.6g cut */
        static const char *keys[] = {"cpu,host=\xff\xfe usage", "m,host=a \xed\xa0\x80 x", "ctl\x01\x1b[2J\"\\",
                                     "ok \xe2\x82\xac"};
        for (int k = 0; k < 4; k++) {
            struct mend_anomaly a = ev((uint32_t)k, 1, keys[k], "h\xc3\x28st", (1000 + k) * SEC, 0.123456789012345 + k);
            a.value = k == 0 ? 123456.789 : k == 1 ? 1e-300 : k == 2 ? INFINITY : -0.0;
            a.expected = 5e-324;
            assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
        }
        mend_incidents_advance(s, 5000 * SEC);
        mend_incidents_free(s);
        struct mend_output_stats st;
        mend_outputs_stats(outs, 0, &st);
        assert_int_equal(st.delivered, 5); /* open, 3 updates, resolve */
        assert_int_equal(mend_outputs_close(outs), MEND_OK);
        mend_outputs_free(outs);
    }
    size_t n;
    char *text = slurp(path, &n);
    /* opened for append: the second run added to the first */
    assert_int_equal(check_lines(text, n), 10);
    /* the numbers read back exactly, the strings are the replaced text */
    const char *last = text;
    for (const char *p = text; p < text + n - 1; p++)
        if (*p == '\n')
            last = p + 1;
    json_t *j = parse_json(last, strlen(last) - 1);
    json_t *sigs = json_object_get(j, "signals");
    assert_int_equal(json_array_size(sigs), 4);
    assert_true(json_real_value(json_object_get(json_array_get(sigs, 0), "value")) == 123456.789);
    assert_true(json_real_value(json_object_get(json_array_get(sigs, 1), "value")) == 1e-300);
    assert_true(json_is_null(json_object_get(json_array_get(sigs, 2), "value")));
    double nz = json_real_value(json_object_get(json_array_get(sigs, 3), "value"));
    assert_true(nz == 0 && signbit(nz));
    assert_true(json_real_value(json_object_get(json_array_get(sigs, 1), "expected")) == 5e-324);
    assert_true(json_real_value(json_object_get(json_array_get(sigs, 1), "score")) == 0.123456789012345 + 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sigs, 0), "key")),
                        "cpu,host=" R R " usage");
    assert_string_equal(json_string_value(json_object_get(json_array_get(sigs, 2), "key")), "ctl\x01\x1b[2J\"\\");
    assert_string_equal(json_string_value(json_object_get(j, "entity")), "h" R "(st");
    json_decref(j);
    unlink(path);

    /* a directory that does not exist: refused at open, with the reason */
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
    struct mend_output_jsonl_conf bad = {.path = "/nonexistent-dir/x.jsonl", .fd = -1};
    char err[256];
    assert_int_equal(mend_outputs_add(outs, &mend_output_jsonl_ops, &bad, NULL, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "/nonexistent-dir/x.jsonl"));
    mend_outputs_free(outs);
}

/* A full disk answers RETRY, and the set spools instead of losing. */
static void test_jsonl_full_disk(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    struct reports rep = {0};
    struct mend_output_report r = {on_report, &rep};
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, &r, &outs), MEND_OK);
    struct mend_output_jsonl_conf jc = {.path = "/dev/full", .fd = -1};
    char err[256];
    assert_int_equal(mend_outputs_add(outs, &mend_output_jsonl_ops, &jc, NULL, err, sizeof err), MEND_OK);
    struct mend_incident inc;
    struct mend_incident_signal sig;
    mk_incident(&inc, &sig, 1);
    assert_int_equal(mend_outputs_emit(outs, "open", &inc, "{\"a\":1}", 7), MEND_OK);
    assert_int_equal(mend_outputs_emit(outs, "update", &inc, "{\"a\":2}", 7), MEND_OK);
    struct mend_output_stats st;
    mend_outputs_stats(outs, 0, &st);
    assert_int_equal(st.spool_items, 2);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.errors, 0);
    assert_int_equal(mend_outputs_retry(outs), MEND_EAGAIN);
    /* never came back: lost at close, and said so with the reason */
    assert_int_equal(mend_outputs_close(outs), MEND_EAGAIN);
    mend_outputs_stats(outs, 0, &st);
    assert_int_equal(st.lost_at_close, 2);
    assert_int_equal(rep.n, 2);
    assert_non_null(strstr(rep.msgs[0], "/dev/full"));
    assert_non_null(strstr(rep.msgs[0], strerror(ENOSPC)));
    mend_outputs_free(outs);
}

/* A non-blocking pipe that fills mid-line: the cut line is finished first,
 * newer lines wait in the spool, and the reader sees whole lines in order;
 * a reader that goes away makes the output answer ERROR. */
static void test_jsonl_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_SETPIPE_SZ, 4096);
    assert_true(cap >= 4096);
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    struct reports rep = {0};
    struct mend_output_report r = {on_report, &rep};
    assert_int_equal(mend_outputs_new(&oc, &r, &outs), MEND_OK);
    struct mend_output_jsonl_conf jc = {.path = NULL, .fd = p[1]};
    char err[256];
    assert_int_equal(mend_outputs_add(outs, &mend_output_jsonl_ops, &jc, NULL, err, sizeof err), MEND_OK);
    struct mend_incident inc;
    struct mend_incident_signal sig;
    mk_incident(&inc, &sig, 1);
    /* lines longer than PIPE_BUF, so the kernel may take part of one */
    static char line[7000];
    int total = 8;
    for (int i = 0; i < total; i++) {
        int n = snprintf(line, sizeof line, "{\"n\":%d,\"pad\":\"%0*d\"}", i, 6000 + 37 * i, 0);
        assert_int_equal(mend_outputs_emit(outs, "update", &inc, line, (size_t)n), MEND_OK);
    }
    struct mend_output_stats st;
    mend_outputs_stats(outs, 0, &st);
    assert_true(st.spool_items > 0);
    /* drain the reader while retrying until everything went */
    static char got[1 << 16];
    size_t have = 0;
    for (int round = 0; round < 1000; round++) {
        ssize_t k = read(p[0], got + have, sizeof got - have);
        if (k > 0)
            have += (size_t)k;
        if (mend_outputs_flush(outs) == MEND_OK) {
            while ((k = read(p[0], got + have, sizeof got - have)) > 0)
                have += (size_t)k;
            break;
        }
    }
    mend_outputs_stats(outs, 0, &st);
    assert_int_equal(st.spool_items, 0);
    assert_int_equal((int)st.delivered, total);
    assert_int_equal(check_lines(got, have), total);
    /* in order */
    const char *q = got;
    for (int i = 0; i < total; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d,", i);
        assert_memory_equal(q, want, strlen(want));
        q = (const char *)memchr(q, '\n', (size_t)(got + have - q)) + 1;
    }
    /* the reader goes away: a hard error, counted and named */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    close(p[0]);
    assert_int_equal(mend_outputs_emit(outs, "resolve", &inc, "{}", 2), MEND_EIO);
    mend_outputs_stats(outs, 0, &st);
    assert_int_equal(st.errors, 1);
    assert_true(rep.n >= 1);
    assert_non_null(strstr(rep.msgs[rep.n - 1], strerror(EPIPE)));
    mend_outputs_free(outs);
    signal(SIGPIPE, old);
    close(p[1]); /* the caller's descriptor: not closed by the output */
}

/* ---- table ------------------------------------------------------------------ */

static void test_table(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
    struct mend_output_table_conf tc = {.out = f, .max_rows = 2};
    char err[256];
    assert_int_equal(mend_outputs_add(outs, &mend_output_table_ops, &tc, NULL, err, sizeof err), MEND_OK);
    struct mend_incident_conf ic;
    mend_incident_conf_defaults(&ic);
    ic.resolve_after_ns = 60 * SEC;
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&ic, NULL, &s), MEND_OK);
    mend_incidents_set_outputs(s, outs);
    int64_t t0 = 1397114100LL * SEC;
    struct mend_anomaly a = ev(0, 1, "cpu,host=web-2 usage_user", "web-2", t0, 0.91234);
    struct mend_anomaly b = ev(1, 1, "lat,host=web-2 p99", "web-2", t0 + 10 * SEC, 0.99);
    b.kind = MEND_ANOM_ABSENCE;
    struct mend_anomaly c = ev(2, 0, "evil\x1b[2J key", NULL, t0 + 20 * SEC, 0.5);
    struct mend_anomaly d = ev(3, 3, "x", "db-1", t0 + 30 * SEC, 0.7);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &c), MEND_OK);
    mend_incidents_series_back(s, 1, t0 + 70 * SEC, 1); /* the missing series reports again */
    mend_incidents_advance(s, t0 + 75 * SEC); /* resolves incident 1 */
    assert_int_equal(mend_incidents_add(s, &d), MEND_OK); /* a third incident: beyond max_rows */
    mend_incidents_free(s);
    assert_int_equal(mend_outputs_close(outs), MEND_OK);
    mend_outputs_free(outs);
    rewind(f);
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_string_equal(text,
                        "\n"
                        "id  status  start (UTC)           entity               max score sigs top signal\n"
                        "1   resolve 2014-04-10T07:15:00Z  web-2                0.9900    2    [absent] "
                        "lat,host=web-2 p99\n"
                        "2   open    2014-04-10T07:15:20Z  -                    0.5000    1    evil?[2J key\n"
                        "(1 changes of further incidents not listed: the table keeps 2 rows)\n");

    /* no incidents at all */
    f = tmpfile();
    assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
    tc.out = f;
    assert_int_equal(mend_outputs_add(outs, &mend_output_table_ops, &tc, NULL, err, sizeof err), MEND_OK);
    mend_outputs_free(outs); /* free closes, and the table prints */
    rewind(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_string_equal(text, "\nid  status  start (UTC)           entity               max score sigs top signal\n"
                              "(no incidents)\n");
}

/* Issue 10: columns never shift -- a time with a fraction of a second, a
 * long entity (cut with "..."), a UTF-8 entity (counted in characters), a
 * long key (cut with "...") -- and the status is the JSON's word. */
static void test_table_alignment(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct mend_outputs_conf oc;
    mend_outputs_conf_defaults(&oc);
    struct mend_outputs *outs;
    assert_int_equal(mend_outputs_new(&oc, NULL, &outs), MEND_OK);
    struct mend_output_table_conf tc = {.out = f, .max_rows = 10};
    char err[256];
    assert_int_equal(mend_outputs_add(outs, &mend_output_table_ops, &tc, NULL, err, sizeof err), MEND_OK);
    struct mend_incident_conf ic;
    mend_incident_conf_defaults(&ic);
    ic.resolve_after_ns = 60 * SEC;
    struct mend_incidents *s;
    assert_int_equal(mend_incidents_new(&ic, NULL, &s), MEND_OK);
    mend_incidents_set_outputs(s, outs);
    int64_t t0 = 1397114100LL * SEC;
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    struct mend_anomaly a = ev(0, 1, "cpu x", "a-very-long-entity-name-of-a-host-in-a-rack", t0 + 123456789, 0.5);
    struct mend_anomaly b = ev(1, 2, longkey, "h\xc3\xb6st-\xc3\xa9", t0 + 5 * SEC, 0.75);
    assert_int_equal(mend_incidents_add(s, &a), MEND_OK);
    assert_int_equal(mend_incidents_add(s, &b), MEND_OK);
    mend_incidents_free(s);
    assert_int_equal(mend_outputs_close(outs), MEND_OK);
    mend_outputs_free(outs);
    rewind(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    /* every line's "max score" cell starts at the same character */
    size_t col = (size_t)-1;
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '(')
            continue;
        char *at = strstr(line, lines == 0 ? "max score" : lines == 1 ? "0.5000" : "0.7500");
        assert_non_null(at);
        size_t chars = 0;
        for (char *q = line; q < at; q++)
            chars += ((unsigned char)*q & 0xC0) != 0x80;
        if (col == (size_t)-1)
            col = chars;
        assert_int_equal(chars, col);
        if (lines == 1) {
            assert_non_null(strstr(line, "2014-04-10T07:15:00.123456789Z"));
            assert_non_null(strstr(line, "a-very-long-entity-na..."));
            assert_non_null(strstr(line, " open "));
        }
        if (lines == 2) {
            assert_non_null(strstr(line, "h\xc3\xb6st-\xc3\xa9"));
            assert_non_null(strstr(line, "kkk..."));
            assert_true(strlen(strstr(line, "kkk")) == 80);
        }
        lines++;
    }
    assert_int_equal(lines, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_known),
        cmocka_unit_test(test_number_random),
        cmocka_unit_test(test_number_reference),
        cmocka_unit_test(test_number_locale),
        cmocka_unit_test(test_string_utf8),
        cmocka_unit_test(test_set_spools_in_order),
        cmocka_unit_test(test_set_overflow_error_close),
        cmocka_unit_test(test_jsonl_file),
        cmocka_unit_test(test_jsonl_full_disk),
        cmocka_unit_test(test_jsonl_pipe),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_table_alignment),
    };
    return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
