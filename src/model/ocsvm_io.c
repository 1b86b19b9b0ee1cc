/* ocsvm_io.c -- one-class SVM models as bytes: the versioned record that goes
 * into checkpoints (mend_ocsvm_save/_load over mend_wbuf/mend_rbuf) and the
 * model directory written by `mend train` (model.bin + meta.txt).
 *
 * The record is ours, not libsvm's text format: libsvm's save/load go through
 * files and switch the process locale (setlocale is process-wide, so another
 * thread parsing numbers at that moment would misread them), and its format
 * has no checksum. A record is read defensively: every count is checked
 * against the caps and against the bytes that remain before anything is
 * allocated, every double must be finite, so a crafted or truncated record is
 * refused, never half-loaded.
 *
 * model.bin = "MENDOCSV" | u32 format | u64 payload length | SHA-256 of the
 * payload | payload (the record). meta.txt is the readable side: one
 * `key value` per line; its feature spec is what a configuration is checked
 * against, and its model_sha256 ties it to model.bin. Only integers, names
 * and hex are parsed back from it (no floating point, so the process locale
 * cannot matter). */
#include "mend/ocsvm.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ocsvm_internal.h"

#define REC_TAG 0x3153434fu /* "OCS1" little-endian */
#define REC_VERSION 1u
#define FILE_MAGIC "MENDOCSV"
#define FILE_FORMAT 1u
#define FILE_HDR (8 + 4 + 8 + 32)
#define MAX_FILE (256u << 20) /* model.bin cap: 100000 SVs x 2000 features fit */
#define MAX_META (64u << 20)
#define MAX_META_LINE (1u << 20)

/* ---- the record --------------------------------------------------------- */

int mend_ocsvm_save(const struct mend_ocsvm *m, struct mend_wbuf *w)
{
    const struct mend_ocsvm_spec *s = &m->spec;
    mend_wbuf_u32(w, REC_TAG);
    mend_wbuf_u32(w, REC_VERSION);
    mend_wbuf_u32(w, s->n_series);
    for (uint32_t i = 0; i < s->n_series; i++) {
        uint32_t l = (uint32_t)strlen(s->names[i]);
        mend_wbuf_u32(w, l);
        mend_wbuf_bytes(w, s->names[i], l);
    }
    mend_wbuf_u32(w, s->diffs);
    mend_wbuf_u32(w, s->lags);
    mend_wbuf_u32(w, (uint32_t)s->missing);
    uint32_t vl = (uint32_t)strlen(m->version);
    mend_wbuf_u32(w, vl);
    mend_wbuf_bytes(w, m->version, vl);
    mend_wbuf_u64(w, m->dim);
    mend_wbuf_u64(w, m->n_sv);
    mend_wbuf_f64(w, m->gamma);
    mend_wbuf_f64(w, m->rho);
    mend_wbuf_f64(w, m->nu);
    mend_wbuf_i64(w, m->t_first);
    mend_wbuf_i64(w, m->t_last);
    mend_wbuf_u64(w, m->n_train);
    for (size_t j = 0; j < m->dim; j++)
        mend_wbuf_f64(w, m->mean[j]);
    for (size_t j = 0; j < m->dim; j++)
        mend_wbuf_f64(w, m->inv_sd[j]);
    for (size_t k = 0; k < m->n_sv * m->dim; k++)
        mend_wbuf_f64(w, m->sv[k]);
    for (size_t k = 0; k < m->n_sv; k++)
        mend_wbuf_f64(w, m->coef[k]);
    mend_wbuf_u32(w, m->calib.nq);
    mend_wbuf_u64(w, m->calib.n);
    for (uint32_t i = 0; i < m->calib.nq; i++)
        mend_wbuf_f64(w, m->calib.q[i]);
    mend_wbuf_f64(w, m->calib.tail_from);
    mend_wbuf_f64(w, m->calib.tail_scale);
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

static size_t left(const struct mend_rbuf *r)
{
    uint64_t n = mend_rbuf_remaining(r); /* the whole rest, also when streamed */
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* Reads n finite doubles. */
static int read_f64s(struct mend_rbuf *r, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = mend_rbuf_f64(r);
        if (!isfinite(out[i]))
            return MEND_ECORRUPT;
    }
    return r->failed ? MEND_ECORRUPT : MEND_OK;
}

int mend_ocsvm_load(struct mend_rbuf *r, struct mend_ocsvm **out)
{
    char *names[MEND_OCSVM_MAX_SERIES];
    uint32_t ns = 0;
    struct mend_ocsvm *m = NULL;
    int rc = MEND_ECORRUPT;

    if (mend_rbuf_u32(r) != REC_TAG || r->failed)
        return MEND_ECORRUPT;
    if (mend_rbuf_u32(r) != REC_VERSION)
        return r->failed ? MEND_ECORRUPT : MEND_EVERSION;
    uint32_t n_series = mend_rbuf_u32(r);
    if (r->failed || n_series == 0 || n_series > MEND_OCSVM_MAX_SERIES)
        return MEND_ECORRUPT;
    for (; ns < n_series; ns++) {
        uint32_t l = mend_rbuf_u32(r);
        if (r->failed || l == 0 || l > MEND_OCSVM_MAX_NAME || l > left(r))
            goto out;
        names[ns] = malloc((size_t)l + 1);
        if (!names[ns]) {
            rc = MEND_ENOMEM;
            goto out;
        }
        mend_rbuf_bytes(r, names[ns], l);
        names[ns][l] = '\0';
        if (strlen(names[ns]) != l) {
            ns++; /* freed below */
            goto out;
        }
    }
    uint32_t diffs = mend_rbuf_u32(r), lags = mend_rbuf_u32(r), miss = mend_rbuf_u32(r);
    uint32_t vl = mend_rbuf_u32(r);
    if (r->failed || diffs > 1 || lags > MEND_OCSVM_MAX_LAGS || miss > 1 ||
        vl >= MEND_OCSVM_MAX_VERSION || vl > left(r))
        goto out;
    char version[MEND_OCSVM_MAX_VERSION];
    mend_rbuf_bytes(r, version, vl);
    version[vl] = '\0';
    uint64_t dim = mend_rbuf_u64(r), n_sv = mend_rbuf_u64(r);
    if (r->failed || dim != (uint64_t)n_series * (1u + diffs + lags) || n_sv == 0 ||
        n_sv > MEND_OCSVM_MAX_TRAIN)
        goto out;
    /* Everything that follows is doubles: check the size before allocating. */
    uint64_t need = (2 * dim + n_sv * dim + n_sv + 3) * 8 + 24;
    if (need > left(r))
        goto out;
    rc = mend_ocsvm_alloc(&m, (size_t)dim, (size_t)n_sv);
    if (rc)
        goto out;
    rc = MEND_ECORRUPT;
    m->gamma = mend_rbuf_f64(r);
    m->rho = mend_rbuf_f64(r);
    m->nu = mend_rbuf_f64(r);
    m->t_first = mend_rbuf_i64(r);
    m->t_last = mend_rbuf_i64(r);
    m->n_train = mend_rbuf_u64(r);
    if (r->failed || !(m->gamma > 0 && isfinite(m->gamma)) || !isfinite(m->rho) ||
        !(m->nu > 0 && m->nu <= 1))
        goto out;
    if (read_f64s(r, m->mean, m->dim) || read_f64s(r, m->inv_sd, m->dim) ||
        read_f64s(r, m->sv, m->n_sv * m->dim) || read_f64s(r, m->coef, m->n_sv))
        goto out;
    for (size_t j = 0; j < m->dim; j++)
        if (!(m->inv_sd[j] > 0))
            goto out;
    mend_ocsvm_transpose(m);
    m->calib.nq = mend_rbuf_u32(r);
    m->calib.n = mend_rbuf_u64(r);
    if (r->failed || m->calib.nq < 2 || m->calib.nq > MEND_OCSVM_QUANTILES || m->calib.n < 2)
        goto out;
    if (read_f64s(r, m->calib.q, m->calib.nq))
        goto out;
    for (uint32_t i = 1; i < m->calib.nq; i++)
        if (m->calib.q[i] < m->calib.q[i - 1])
            goto out;
    m->calib.tail_from = mend_rbuf_f64(r);
    m->calib.tail_scale = mend_rbuf_f64(r);
    if (r->failed || !isfinite(m->calib.tail_from) || !(m->calib.tail_scale > 0) ||
        !isfinite(m->calib.tail_scale))
        goto out;
    rc = mend_ocsvm_spec_build(&m->spec, (const char *const *)names, NULL, n_series, diffs, lags,
                               (int)miss);
    if (rc) {
        rc = rc == MEND_ENOMEM ? rc : MEND_ECORRUPT;
        goto out;
    }
    memcpy(m->version, version, vl + 1);
    *out = m;
    m = NULL;
    rc = MEND_OK;
out:
    for (uint32_t i = 0; i < ns; i++)
        free(names[i]);
    mend_ocsvm_free(m);
    return rc;
}

/* ---- files -------------------------------------------------------------- */

static int sha256(const void *p, size_t n, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, p, n) == 1 && EVP_DigestFinal_ex(ctx, out, &outlen) == 1 &&
             outlen == 32;
    EVP_MD_CTX_free(ctx);
    return ok ? MEND_OK : MEND_ENOMEM;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* Writes n bytes to path through path.tmp, fsync and rename. */
static int write_file(const char *path, const void *a, size_t alen, const void *b, size_t blen,
                      char *err, size_t errlen)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) {
        mend_set_err(err, errlen, "%s: out of memory", path);
        return MEND_ENOMEM;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    int rc = MEND_OK;
    if (!f) {
        mend_set_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return MEND_EIO;
    }
    if ((alen && fwrite(a, 1, alen, f) != alen) || (blen && fwrite(b, 1, blen, f) != blen) ||
        fflush(f) || fsync(fileno(f))) {
        mend_set_err(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        rc = MEND_EIO;
    }
    if (fclose(f) && !rc) {
        mend_set_err(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        rc = MEND_EIO;
    }
    if (!rc && rename(tmp, path)) {
        mend_set_err(err, errlen, "%s: rename failed: %s", path, strerror(errno));
        rc = MEND_EIO;
    }
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static void put_u32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Appends a line of formatted text to w. */
static void wprintf_(struct mend_wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wprintf_(struct mend_wbuf *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        mend_wbuf_bytes(w, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void w_doubles(struct mend_wbuf *w, const char *key, const double *v, size_t n)
{
    wprintf_(w, "%s", key);
    for (size_t i = 0; i < n; i++)
        wprintf_(w, " %.17g", v[i]);
    wprintf_(w, "\n");
}

int mend_ocsvm_write_dir(const struct mend_ocsvm *m, const char *dir, const char *entity,
                         char *err, size_t errlen)
{
    struct mend_wbuf rec, meta;
    unsigned char hdr[FILE_HDR], dig[32];
    char dhex[65];
    char *pbin = NULL, *pmeta = NULL;
    int rc;

    if (mkdir(dir, 0777) && errno != EEXIST) {
        mend_set_err(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return MEND_EIO;
    }
    mend_wbuf_init(&rec);
    mend_wbuf_init(&meta);
    rc = mend_ocsvm_save(m, &rec);
    if (rc || sha256(rec.data, rec.len, dig)) {
        mend_set_err(err, errlen, "%s: out of memory", dir);
        rc = MEND_ENOMEM;
        goto out;
    }
    memcpy(hdr, FILE_MAGIC, 8);
    put_u32le(hdr + 8, FILE_FORMAT);
    put_u64le(hdr + 12, rec.len);
    memcpy(hdr + 20, dig, 32);
    hex(dig, 32, dhex);

    const struct mend_ocsvm_spec *s = &m->spec;
    wprintf_(&meta, "# mend one-class SVM model (RBF kernel); model.bin holds the model\n");
    wprintf_(&meta, "format %u\n", FILE_FORMAT);
    wprintf_(&meta, "mend_version %s\n", m->version);
    if (entity)
        wprintf_(&meta, "entity %.400s\n", entity);
    wprintf_(&meta, "series %u\n", s->n_series);
    for (uint32_t i = 0; i < s->n_series; i++) {
        wprintf_(&meta, "series_name ");
        mend_wbuf_bytes(&meta, s->names[i], strlen(s->names[i]));
        wprintf_(&meta, "\n");
    }
    wprintf_(&meta, "diffs %u\nlags %u\nmissing %s\n", s->diffs, s->lags,
             s->missing == MEND_OCSVM_MISSING_SKIP ? "skip" : "impute");
    wprintf_(&meta, "features %zu\n", m->dim);
    w_doubles(&meta, "scaler_mean", m->mean, m->dim);
    double *sd = malloc(m->dim * sizeof(double));
    if (sd) {
        for (size_t j = 0; j < m->dim; j++)
            sd[j] = 1.0 / m->inv_sd[j];
        w_doubles(&meta, "scaler_sd", sd, m->dim);
        free(sd);
    } else {
        meta.failed = 1;
    }
    wprintf_(&meta, "nu %.17g\ngamma %.17g\nrho %.17g\nsupport_vectors %zu\n", m->nu, m->gamma,
             m->rho, m->n_sv);
    wprintf_(&meta, "train_first_ns %lld\ntrain_last_ns %lld\ntrain_vectors %llu\n",
             (long long)m->t_first, (long long)m->t_last, (unsigned long long)m->n_train);
    wprintf_(&meta, "calibration_samples %llu\n", (unsigned long long)m->calib.n);
    w_doubles(&meta, "calibration_quantiles", m->calib.q, m->calib.nq);
    wprintf_(&meta, "calibration_tail %.17g %.17g\n", m->calib.tail_from, m->calib.tail_scale);
    wprintf_(&meta, "model_sha256 %s\n", dhex);
    if (meta.failed) {
        mend_set_err(err, errlen, "%s: out of memory", dir);
        rc = MEND_ENOMEM;
        goto out;
    }
    pbin = join(dir, "model.bin");
    pmeta = join(dir, "meta.txt");
    if (!pbin || !pmeta) {
        mend_set_err(err, errlen, "%s: out of memory", dir);
        rc = MEND_ENOMEM;
        goto out;
    }
    rc = write_file(pbin, hdr, sizeof hdr, rec.data, rec.len, err, errlen);
    if (!rc)
        rc = write_file(pmeta, meta.data, meta.len, NULL, 0, err, errlen);
out:
    free(pbin);
    free(pmeta);
    mend_wbuf_fini(&rec);
    mend_wbuf_fini(&meta);
    return rc;
}

/* Reads a whole file of at most cap bytes into a malloc'd buffer. */
static int slurp(const char *path, size_t cap, unsigned char **out, size_t *len, char *err,
                 size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mend_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MEND_EIO;
    }
    size_t n = 0, sz = 65536;
    unsigned char *buf = malloc(sz);
    int rc = MEND_OK;
    while (buf) {
        if (n == sz) {
            if (sz > cap) {
                mend_set_err(err, errlen, "%s: larger than %zu bytes", path, cap);
                rc = MEND_ECORRUPT;
                break;
            }
            unsigned char *nb = realloc(buf, sz * 2);
            if (!nb)
                break;
            buf = nb;
            sz *= 2;
        }
        size_t got = fread(buf + n, 1, sz - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (!buf) {
        rc = MEND_ENOMEM;
        mend_set_err(err, errlen, "%s: out of memory", path);
    } else if (!rc && ferror(f)) {
        rc = MEND_EIO;
        mend_set_err(err, errlen, "%s: read error", path);
    } else if (!rc && n > cap) {
        rc = MEND_ECORRUPT;
        mend_set_err(err, errlen, "%s: larger than %zu bytes", path, cap);
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return MEND_OK;
}

struct meta {
    uint64_t format, series, features, diffs, lags;
    int missing;
    char *names[MEND_OCSVM_MAX_SERIES];
    size_t lens[MEND_OCSVM_MAX_SERIES];
    uint32_t n_names;
    char sha[65];
    unsigned seen; /* bits of the required keys */
};

enum { K_FORMAT = 1, K_SERIES = 2, K_DIFFS = 4, K_LAGS = 8, K_MISSING = 16, K_FEATURES = 32,
       K_SHA = 64, K_ALL = 127 };

/* Parses meta.txt (buf, len); names point into buf. */
static int parse_meta(const char *path, char *buf, size_t len, struct meta *mt, char *err,
                      size_t errlen)
{
    size_t lineno = 0;
    char *p = buf, *end = buf + len;
    memset(mt, 0, sizeof *mt);
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        size_t ll = (size_t)(le - p);
        if (ll > MAX_META_LINE) {
            mend_set_err(err, errlen, "%s:%zu: line too long", path, lineno);
            return MEND_ECORRUPT;
        }
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll == 0 || p[0] == '#') {
            p = le + 1;
            continue;
        }
        char *sp = memchr(p, ' ', ll);
        size_t kl = sp ? (size_t)(sp - p) : ll;
        const char *v = sp ? sp + 1 : p + ll;
        size_t vl = sp ? ll - kl - 1 : 0;
#define KEY(s) (kl == sizeof(s) - 1 && !memcmp(p, s, kl))
        int bad = 0;
        if (KEY("format")) {
            bad = mend_parse_u64(v, vl, &mt->format) != MEND_OK;
            mt->seen |= K_FORMAT;
        } else if (KEY("series")) {
            bad = mend_parse_u64(v, vl, &mt->series) != MEND_OK || mt->series == 0 ||
                  mt->series > MEND_OCSVM_MAX_SERIES;
            mt->seen |= K_SERIES;
        } else if (KEY("series_name")) {
            bad = mt->n_names >= MEND_OCSVM_MAX_SERIES || vl == 0 || vl > MEND_OCSVM_MAX_NAME;
            if (!bad) {
                mt->names[mt->n_names] = (char *)v;
                mt->lens[mt->n_names++] = vl;
            }
        } else if (KEY("diffs")) {
            bad = mend_parse_u64(v, vl, &mt->diffs) != MEND_OK || mt->diffs > 1;
            mt->seen |= K_DIFFS;
        } else if (KEY("lags")) {
            bad = mend_parse_u64(v, vl, &mt->lags) != MEND_OK || mt->lags > MEND_OCSVM_MAX_LAGS;
            mt->seen |= K_LAGS;
        } else if (KEY("missing")) {
            if (vl == 6 && !memcmp(v, "impute", 6))
                mt->missing = MEND_OCSVM_MISSING_IMPUTE;
            else if (vl == 4 && !memcmp(v, "skip", 4))
                mt->missing = MEND_OCSVM_MISSING_SKIP;
            else
                bad = 1;
            mt->seen |= K_MISSING;
        } else if (KEY("features")) {
            bad = mend_parse_u64(v, vl, &mt->features) != MEND_OK;
            mt->seen |= K_FEATURES;
        } else if (KEY("model_sha256")) {
            bad = vl != 64;
            if (!bad) {
                memcpy(mt->sha, v, 64);
                mt->sha[64] = '\0';
            }
            mt->seen |= K_SHA;
        } /* every other key is informational (scaler, calibration, span) */
#undef KEY
        if (bad) {
            mend_set_err(err, errlen, "%s:%zu: bad value for '%.*s'", path, lineno, (int)kl, p);
            return MEND_ECORRUPT;
        }
        p = le + 1;
    }
    if ((mt->seen & K_ALL) != K_ALL) {
        mend_set_err(err, errlen,
                "%s: incomplete metadata (needs format, series, series_name, diffs, lags, "
                "missing, features, model_sha256)",
                path);
        return MEND_ECORRUPT;
    }
    if (mt->format != FILE_FORMAT) {
        mend_set_err(err, errlen, "%s: format %llu, this mend reads format %u", path,
                (unsigned long long)mt->format, FILE_FORMAT);
        return MEND_EVERSION;
    }
    if (mt->n_names != mt->series) {
        mend_set_err(err, errlen, "%s: %llu series announced, %u series_name lines", path,
                (unsigned long long)mt->series, mt->n_names);
        return MEND_ECORRUPT;
    }
    if (mt->features != mt->series * (1 + mt->diffs + mt->lags)) {
        mend_set_err(err, errlen, "%s: features %llu does not follow from the spec", path,
                (unsigned long long)mt->features);
        return MEND_ECORRUPT;
    }
    return MEND_OK;
}

int mend_ocsvm_read_dir(const char *dir, const struct mend_ocsvm_spec *want,
                        struct mend_ocsvm **out, char *err, size_t errlen)
{
    char *pbin = join(dir, "model.bin"), *pmeta = join(dir, "meta.txt");
    unsigned char *mbuf = NULL, *bbuf = NULL;
    size_t mlen = 0, blen = 0;
    struct meta mt;
    struct mend_ocsvm_spec ms;
    struct mend_ocsvm *m = NULL;
    char why[400];
    int rc;

    memset(&ms, 0, sizeof ms);
    if (!pbin || !pmeta) {
        mend_set_err(err, errlen, "%s: out of memory", dir);
        rc = MEND_ENOMEM;
        goto out;
    }
    rc = slurp(pmeta, MAX_META, &mbuf, &mlen, err, errlen);
    if (rc)
        goto out;
    rc = parse_meta(pmeta, (char *)mbuf, mlen, &mt, err, errlen);
    if (rc)
        goto out;
    rc = mend_ocsvm_spec_build(&ms, (const char *const *)mt.names, mt.lens, mt.n_names,
                               (uint32_t)mt.diffs, (uint32_t)mt.lags, mt.missing);
    if (rc) {
        mend_set_err(err, errlen, "%s: bad feature spec (%s)", pmeta, mend_strerror(rc));
        rc = rc == MEND_ENOMEM ? rc : MEND_ECORRUPT;
        goto out;
    }
    if (want && mend_ocsvm_spec_compare(&ms, want, why, sizeof why)) {
        mend_set_err(err, errlen, "%s: the model's feature spec does not match the configuration: %s",
                pmeta, why);
        rc = MEND_EINVAL;
        goto out;
    }
    rc = slurp(pbin, MAX_FILE, &bbuf, &blen, err, errlen);
    if (rc)
        goto out;
    rc = MEND_ECORRUPT;
    if (blen < FILE_HDR || memcmp(bbuf, FILE_MAGIC, 8)) {
        mend_set_err(err, errlen, "%s: not a mend model file (bad magic or too short)", pbin);
        goto out;
    }
    uint32_t fmt = (uint32_t)bbuf[8] | (uint32_t)bbuf[9] << 8 | (uint32_t)bbuf[10] << 16 |
                   (uint32_t)bbuf[11] << 24;
    if (fmt != FILE_FORMAT) {
        mend_set_err(err, errlen, "%s: format %u, this mend reads format %u", pbin, fmt, FILE_FORMAT);
        rc = MEND_EVERSION;
        goto out;
    }
    uint64_t plen = get_u64le(bbuf + 12);
    if (plen != blen - FILE_HDR) {
        mend_set_err(err, errlen, "%s: truncated or damaged (payload %llu bytes, file has %zu)", pbin,
                (unsigned long long)plen, blen - FILE_HDR);
        goto out;
    }
    unsigned char dig[32];
    char dhex[65];
    if (sha256(bbuf + FILE_HDR, (size_t)plen, dig)) {
        mend_set_err(err, errlen, "%s: cannot compute SHA-256", pbin);
        rc = MEND_ENOMEM;
        goto out;
    }
    if (memcmp(dig, bbuf + 20, 32)) {
        mend_set_err(err, errlen, "%s: checksum mismatch, the file is damaged", pbin);
        goto out;
    }
    hex(dig, 32, dhex);
    if (strcmp(dhex, mt.sha)) {
        mend_set_err(err, errlen, "%s: model_sha256 does not match %s (files from different models?)",
                pmeta, pbin);
        goto out;
    }
    struct mend_rbuf r;
    mend_rbuf_init(&r, bbuf + FILE_HDR, (size_t)plen);
    rc = mend_ocsvm_load(&r, &m);
    if (rc) {
        mend_set_err(err, errlen, "%s: %s model record", pbin,
                rc == MEND_EVERSION ? "unsupported version of the" : "damaged or inconsistent");
        goto out;
    }
    if (r.off != r.len) {
        mend_set_err(err, errlen, "%s: %zu trailing bytes after the model record", pbin, r.len - r.off);
        rc = MEND_ECORRUPT;
        goto out;
    }
    if (mend_ocsvm_spec_compare(&m->spec, &ms, why, sizeof why)) {
        mend_set_err(err, errlen, "%s: disagrees with %s: %s", pbin, pmeta, why);
        rc = MEND_ECORRUPT;
        goto out;
    }
    *out = m;
    m = NULL;
    rc = MEND_OK;
out:
    mend_ocsvm_free(m);
    mend_ocsvm_spec_fini(&ms);
    free(mbuf);
    free(bbuf);
    free(pbin);
    free(pmeta);
    return rc;
}
