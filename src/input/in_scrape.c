/* in_scrape.c -- the "scrape" input kind: Prometheus targets scraped over
 * HTTP(S) with libcurl (contract in scrape.h).
 *
 * One instance scrapes every target of a mend_scrape_conf. libcurl's multi
 * interface runs inside mend's loop: its socket callback turns curl's
 * sockets into loop fds (re-added when the events it wants change), its
 * timer callback into one loop timer, and each target has a periodic loop
 * timer that starts its transfer. So a slow target never blocks ingest or
 * the other targets, and everything runs on the loop thread: no locks.
 *
 * A target owns an easy handle (kept between scrapes, so the connection is
 * kept alive), a body buffer bounded by body_limit, and a stream (name =
 * its URL) whose parser is Prometheus text. When a transfer ends well, the
 * body is rewritten line by line to carry the target's labels (job,
 * instance, extra; clashing exposed labels become exported_NAME), checked
 * against sample_limit and label_limit, and fed to the stream stamped with
 * the scrape's start time. A failed or refused scrape is counted and
 * reported when the target's state changes (up -> down, down -> up), not
 * every interval.
 *
 * Targets from scrape.file are reconciled on change: a target whose URL
 * and labels are unchanged keeps its state and connection; gone ones are
 * dropped (after their transfer, if one runs), new ones start. */
#include "input_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <yaml.h>

#include "mend/scrape.h"

#define NS 1000000000LL

struct target {
    struct scrape *sc;
    char url[MEND_SCRAPE_URL_MAX + 160];
    char *labels;              /* ',name="value"...' as added to every sample (escaped) */
    size_t labels_len;
    uint32_t n_labels;
    char names[MEND_SCRAPE_MAX_LABELS + 2][MEND_CONF_PAIR_KEY]; /* our label names, for clashes */
    int64_t interval_ns, timeout_ns;
    int from_file, gone, busy, down;
    CURL *easy;
    struct curl_slist *hdrs;
    uint64_t timer;
    struct mend_stream *st;
    char *body;
    size_t len, cap;
    int too_big;
    int64_t started;           /* wall clock at the start of the transfer */
    char err[CURL_ERROR_SIZE];
};

struct scrape {
    struct mend_input *in;
    const struct mend_scrape_conf *conf;
    CURLM *multi;
    uint64_t curl_timer;
    struct target **t;
    size_t n, cap;
    uint64_t file_timer;
    struct stat file_st;
    int file_seen;
    char *rew;                 /* the rewritten body */
    size_t rew_len, rew_cap;
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- configuration ----------------------------------------------------------- */

void mend_scrape_conf_defaults(struct mend_scrape_conf *c)
{
    memset(c, 0, sizeof *c);
    c->file_check_ns = 5 * NS;
    snprintf(c->scheme, sizeof c->scheme, "http");
    snprintf(c->metrics_path, sizeof c->metrics_path, "/metrics");
    c->interval_ns = 15 * NS;
    c->timeout_ns = 10 * NS;
    snprintf(c->job, sizeof c->job, "scrape");
    c->body_limit = 16u << 20;
    c->sample_limit = 100000;
    c->label_limit = 64;
}

int mend_scrape_configured(const struct mend_scrape_conf *c)
{
    return c->n_targets > 0 || c->file[0];
}

int mend_scrape_instance(const char *url, char *out, size_t outlen)
{
    const char *h;
    const char *port = NULL;
    if (!strncmp(url, "http://", 7)) {
        h = url + 7;
        port = "80";
    } else if (!strncmp(url, "https://", 8)) {
        h = url + 8;
        port = "443";
    } else {
        return MEND_EINVAL;
    }
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n);
    if (at) { /* user:password@ stays out of the label */
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    if (!n || h[0] == ':')
        return MEND_EINVAL;
    const char *close = h[0] == '[' ? memchr(h, ']', n) : NULL;
    if (h[0] == '[' && !close)
        return MEND_EINVAL;
    const char *colon = memchr(close ? close : h, ':', n - (size_t)((close ? close : h) - h));
    int w = colon ? snprintf(out, outlen, "%.*s", (int)n, h) : snprintf(out, outlen, "%.*s:%s", (int)n, h, port);
    return w < 0 || (size_t)w >= outlen ? MEND_EINVAL : MEND_OK;
}

static int valid_label_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int check_conf(const void *conf, char *err, size_t errlen)
{
    const struct mend_scrape_conf *c = conf;
    char inst[300];
    if (c->timeout_ns > c->interval_ns) {
        snprintf(err, errlen, "scrape.timeout: must not be longer than scrape.interval");
        return MEND_EINVAL;
    }
    if (strcmp(c->scheme, "http") && strcmp(c->scheme, "https")) {
        snprintf(err, errlen, "scrape.scheme: must be http or https");
        return MEND_EINVAL;
    }
    for (size_t i = 0; i < c->n_targets; i++) {
        const struct mend_scrape_target *t = &c->targets[i];
        if (!t->url[0]) {
            snprintf(err, errlen, "scrape.targets[%zu]: every target needs a url", i);
            return MEND_EINVAL;
        }
        if (mend_scrape_instance(t->url, inst, sizeof inst) != MEND_OK) {
            snprintf(err, errlen, "scrape.targets[%zu].url: must be http://HOST[:PORT]/PATH or https://...", i);
            return MEND_EINVAL;
        }
        int64_t iv = t->interval_ns ? t->interval_ns : c->interval_ns;
        int64_t to = t->timeout_ns ? t->timeout_ns : c->timeout_ns;
        if (to > iv) {
            snprintf(err, errlen, "scrape.targets[%zu].timeout: must not be longer than its interval", i);
            return MEND_EINVAL;
        }
        for (size_t k = 0; k < t->n_labels; k++)
            if (!valid_label_name(t->labels[k].key) || !strncmp(t->labels[k].key, "__", 2)) {
                snprintf(err, errlen, "scrape.targets[%zu].labels.%s: not a label name ([a-zA-Z_][a-zA-Z0-9_]*, "
                         "no leading __)", i, t->labels[k].key);
                return MEND_EINVAL;
            }
    }
    return MEND_OK;
}

#define TOFF(f) offsetof(struct mend_scrape_target, f)
static const struct mend_conf_entry target_entries[] = {
    {.key = "url", .type = MEND_CT_STR, .off = TOFF(url), .size = MEND_SCRAPE_URL_MAX, .def = "",
     .help = "what to scrape: http(s)://HOST:PORT/metrics"},
    {.key = "interval", .type = MEND_CT_DUR, .off = TOFF(interval_ns), .min = 0, .max = 86400, .def = "0s",
     .help = "time between scrapes; 0 = scrape.interval"},
    {.key = "timeout", .type = MEND_CT_DUR, .off = TOFF(timeout_ns), .min = 0, .max = 86400, .def = "0s",
     .help = "give up a scrape after this long; 0 = scrape.timeout"},
    {.key = "job", .type = MEND_CT_STR, .off = TOFF(job), .size = MEND_SCRAPE_JOB_MAX, .def = "",
     .help = "the job label; empty = scrape.job"},
    {.key = "labels", .type = MEND_CT_DICT, .off = TOFF(labels), .size = sizeof(struct mend_conf_pair),
     .count_off = TOFF(n_labels), .max_items = MEND_SCRAPE_MAX_LABELS, .def = "",
     .help = "extra labels added to every sample of the target (at most 8)"},
};

static int target_check(const void *conf, char *err, size_t errlen)
{
    const struct mend_scrape_target *t = conf;
    if (!t->url[0]) {
        snprintf(err, errlen, "scrape.targets: every target needs a url");
        return MEND_EINVAL;
    }
    return MEND_OK;
}

static const struct mend_conf_map target_map = {
    .name = "target", .entries = target_entries, .n = sizeof target_entries / sizeof target_entries[0],
    .struct_size = sizeof(struct mend_scrape_target), .check = target_check,
};

#define SOFF(f) offsetof(struct mend_scrape_conf, f)
static const struct mend_conf_entry scrape_entries[] = {
    {.key = "targets", .type = MEND_CT_LIST, .off = SOFF(targets), .size = sizeof(struct mend_scrape_target),
     .sub = &target_map, .count_off = SOFF(n_targets), .max_items = MEND_SCRAPE_MAX_TARGETS, .def = "",
     .help = "Prometheus targets `mend run` scrapes, a list of mappings (url, interval, timeout, job, labels)"},
    {.key = "file", .type = MEND_CT_STR, .off = SOFF(file), .size = 1024, .def = "",
     .help = "more targets in Prometheus file_sd form (YAML or JSON list of {targets: [HOST:PORT], labels: "
             "{...}}), re-read when it changes; empty = none"},
    {.key = "file_check", .type = MEND_CT_DUR, .off = SOFF(file_check_ns), .min = 0.1, .max = 86400, .def = "5s",
     .help = "how often scrape.file is checked for changes"},
    {.key = "scheme", .type = MEND_CT_STR, .off = SOFF(scheme), .size = 8, .def = "http",
     .help = "scheme of file targets: http or https"},
    {.key = "metrics_path", .type = MEND_CT_STR, .off = SOFF(metrics_path), .size = 128, .def = "/metrics",
     .help = "path of file targets"},
    {.key = "interval", .type = MEND_CT_DUR, .off = SOFF(interval_ns), .min = 0.1, .max = 86400, .def = "15s",
     .help = "time between scrapes of a target"},
    {.key = "timeout", .type = MEND_CT_DUR, .off = SOFF(timeout_ns), .min = 0.01, .max = 86400, .def = "10s",
     .help = "give up a scrape after this long (at most the interval)"},
    {.key = "job", .type = MEND_CT_STR, .off = SOFF(job), .size = MEND_SCRAPE_JOB_MAX, .def = "scrape",
     .help = "job label of targets that name none (file targets: their `job` label)"},
    {.key = "body_limit", .type = MEND_CT_SIZE, .off = SOFF(body_limit), .min = 1024, .max = 1 << 30,
     .def = "16777216", .help = "largest scrape body in bytes, after decompression; a larger one is refused, counted"},
    {.key = "sample_limit", .type = MEND_CT_U32, .off = SOFF(sample_limit), .min = 1, .max = 1e8, .def = "100000",
     .help = "most samples in one scrape; a scrape with more is refused whole, counted"},
    {.key = "label_limit", .type = MEND_CT_U32, .off = SOFF(label_limit), .min = 2, .max = 4096, .def = "64",
     .help = "most labels on a sample, job and instance included; a scrape with more is refused whole, counted"},
    {.key = "tls_insecure", .type = MEND_CT_BOOL, .off = SOFF(tls_insecure), .def = "false",
     .help = "do not verify https targets' certificates"},
    {.key = "ca_file", .type = MEND_CT_STR, .off = SOFF(ca_file), .size = 1024, .def = "",
     .help = "CA certificates for https targets; empty = the system's"},
};

const struct mend_conf_map mend_scrape_conf_map = {
    .name = "scrape", .entries = scrape_entries, .n = sizeof scrape_entries / sizeof scrape_entries[0],
    .struct_size = sizeof(struct mend_scrape_conf), .check = check_conf,
};

/* ---- targets ----------------------------------------------------------------- */

/* Appends a label value with the text format's escaping (\\ \" \n). */
static int put_label(char **b, size_t *len, size_t *cap, const char *name, const char *v)
{
    size_t need = *len + strlen(name) + 2 * strlen(v) + 8;
    if (need > *cap) {
        size_t nc = need * 2;
        char *p = realloc(*b, nc);
        if (!p)
            return MEND_ENOMEM;
        *b = p;
        *cap = nc;
    }
    *len += (size_t)sprintf(*b + *len, ",%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            (*b)[(*len)++] = '\\';
        if (*v == '\n') {
            (*b)[(*len)++] = '\\';
            (*b)[(*len)++] = 'n';
            continue;
        }
        (*b)[(*len)++] = *v;
    }
    (*b)[(*len)++] = '"';
    (*b)[*len] = '\0';
    return MEND_OK;
}

static void target_free(struct target *t)
{
    if (!t)
        return;
    struct mend_loop *l = mend_input_loop(t->sc->in);
    if (t->timer)
        mend_loop_timer_del(l, t->timer);
    if (t->easy) {
        if (t->busy)
            curl_multi_remove_handle(t->sc->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->hdrs);
    mend_stream_free(t->st);
    free(t->labels);
    free(t->body);
    free(t);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct target *t = ctx;
    size_t len = size * n;
    size_t limit = t->sc->conf->body_limit;
    if (t->len > limit || len > limit - t->len) {
        t->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (t->len + len + 1 > t->cap) {
        size_t nc = t->cap ? t->cap : 65536;
        while (nc < t->len + len + 1)
            nc *= 2;
        if (nc > limit + 1)
            nc = limit + 1;
        char *b = realloc(t->body, nc);
        if (!b)
            return 0;
        t->body = b;
        t->cap = nc;
    }
    memcpy(t->body + t->len, p, len);
    t->len += len;
    return len;
}

static int on_target_timer(struct mend_loop *l, uint64_t id, void *ctx);

/* A target for url with labels (pairs, n of them) and job. */
static int target_new(struct scrape *sc, const char *url, const char *job, const struct mend_conf_pair *lab,
                      size_t n, int64_t interval, int64_t timeout, int from_file, struct target **out, char *err,
                      size_t errlen)
{
    char inst[300];
    if (mend_scrape_instance(url, inst, sizeof inst) != MEND_OK) {
        snprintf(err, errlen, "scrape: %s: not an http(s)://HOST[:PORT]/PATH URL", url);
        return MEND_EINVAL;
    }
    struct target *t = calloc(1, sizeof *t);
    if (!t)
        return MEND_ENOMEM;
    t->sc = sc;
    snprintf(t->url, sizeof t->url, "%s", url);
    t->interval_ns = interval;
    t->timeout_ns = timeout;
    t->from_file = from_file;
    size_t cap = 0;
    int rc = MEND_OK;
    /* job and instance first; a target label of the same name replaces them */
    const char *job_v = job, *inst_v = inst;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(lab[i].key, "job"))
            job_v = lab[i].value;
        else if (!strcmp(lab[i].key, "instance"))
            inst_v = lab[i].value;
    }
    rc = put_label(&t->labels, &t->labels_len, &cap, "job", job_v);
    if (rc == MEND_OK)
        rc = put_label(&t->labels, &t->labels_len, &cap, "instance", inst_v);
    snprintf(t->names[0], sizeof t->names[0], "job");
    snprintf(t->names[1], sizeof t->names[1], "instance");
    t->n_labels = 2;
    for (size_t i = 0; i < n && rc == MEND_OK && t->n_labels < MEND_SCRAPE_MAX_LABELS + 2; i++) {
        if (!strcmp(lab[i].key, "job") || !strcmp(lab[i].key, "instance") || !lab[i].value[0])
            continue;
        rc = put_label(&t->labels, &t->labels_len, &cap, lab[i].key, lab[i].value);
        snprintf(t->names[t->n_labels++], sizeof t->names[0], "%s", lab[i].key);
    }
    if (rc == MEND_OK)
        rc = mend_stream_open(sc->in, url, MEND_STREAM_PROM | MEND_STREAM_EOF_ENDS_LINE, &t->st);
    if (rc == MEND_OK && !(t->easy = curl_easy_init()))
        rc = MEND_ENOMEM;
    if (rc == MEND_OK) {
        char h[96];
        snprintf(h, sizeof h, "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)timeout / 1e9);
        struct curl_slist *a =
            curl_slist_append(NULL, "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1");
        struct curl_slist *b = a ? curl_slist_append(a, h) : NULL;
        t->hdrs = b ? b : a;
        if (!b)
            rc = MEND_ENOMEM;
    }
    if (rc == MEND_OK) {
        const struct mend_scrape_conf *c = sc->conf;
        CURL *e = t->easy;
        int ok = curl_easy_setopt(e, CURLOPT_URL, t->url) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK && /* gzip, deflate, ... */
                 curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout / 1000000)) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdrs) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_USERAGENT, "mend") == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_WRITEDATA, t) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_PRIVATE, t) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->err) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
        if (ok && c->tls_insecure)
            ok = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK &&
                 curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
        if (ok && c->ca_file[0])
            ok = curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) == CURLE_OK;
        if (!ok) {
            snprintf(err, errlen, "scrape: %s: libcurl refused an option (too old a libcurl?)", url);
            rc = MEND_EIO;
        }
    }
    if (rc == MEND_OK) {
        /* spread targets over their interval as Prometheus does, from a
         * hash of the URL, so they do not all fire at once */
        struct mend_loop *l = mend_input_loop(sc->in);
        int64_t off = (int64_t)(mend_hash(MEND_HASH_SEED, url, strlen(url)) % (uint64_t)interval);
        rc = mend_loop_timer_add(l, mend_loop_now(l) + off, interval, on_target_timer, t, &t->timer);
    }
    if (rc != MEND_OK) {
        if (!err[0])
            snprintf(err, errlen, "scrape: %s: %s", url, mend_strerror(rc));
        target_free(t);
        return rc;
    }
    *out = t;
    return MEND_OK;
}

static int targets_push(struct scrape *sc, struct target *t)
{
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 16;
        struct target **p = realloc(sc->t, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        sc->t = p;
        sc->cap = cap;
    }
    sc->t[sc->n++] = t;
    return MEND_OK;
}

/* ---- one scrape ------------------------------------------------------------------ */

static int rew_put(struct scrape *sc, const char *p, size_t n)
{
    if (sc->rew_len + n + 1 > sc->rew_cap) {
        size_t nc = sc->rew_cap ? sc->rew_cap : 65536;
        while (nc < sc->rew_len + n + 1)
            nc *= 2;
        char *b = realloc(sc->rew, nc);
        if (!b)
            return MEND_ENOMEM;
        sc->rew = b;
        sc->rew_cap = nc;
    }
    memcpy(sc->rew + sc->rew_len, p, n);
    sc->rew_len += n;
    return MEND_OK;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

enum { REW_OK = 0, REW_SAMPLES = 1, REW_LABELS = 2 };

/* Rewrites one sample line (no terminator) into sc->rew with t's labels.
 * Lines it cannot follow go through unchanged: the parser reports them.
 * *labels gets the sample's label count after the rewrite. */
static int rewrite_line(struct scrape *sc, const struct target *t, const char *s, size_t n, uint32_t *labels)
{
    size_t i = 0, start = sc->rew_len;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t name0 = i;
    while (i < n && name_char(s[i]))
        i++;
    size_t name1 = i;
    *labels = t->n_labels;
    if (name1 == name0)
        return rew_put(sc, s, n);
    int rc = rew_put(sc, s, name1); /* leading blanks and the name */
    if (rc)
        return rc;
    rc = rew_put(sc, "{", 1);
    size_t j = i;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    int first = 1;
    if (j < n && s[j] == '{') {
        j++;
        for (;;) {
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == ','))
                j++;
            if (j >= n)
                goto verbatim;
            if (s[j] == '}') {
                j++;
                break;
            }
            size_t ln0 = j;
            while (j < n && name_char(s[j]))
                j++;
            size_t ln1 = j;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            if (ln1 == ln0 || j >= n || s[j] != '=')
                goto verbatim;
            j++;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            if (j >= n || s[j] != '"')
                goto verbatim;
            size_t v0 = j++;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            if (j >= n)
                goto verbatim;
            size_t v1 = ++j;
            /* an exposed label clashing with ours is kept as exported_NAME */
            int clash = 0;
            for (uint32_t k = 0; k < t->n_labels && !clash; k++)
                clash = strlen(t->names[k]) == ln1 - ln0 && !memcmp(t->names[k], s + ln0, ln1 - ln0);
            if ((rc = rew_put(sc, ",", first ? 0 : 1)) || (clash && (rc = rew_put(sc, "exported_", 9))) ||
                (rc = rew_put(sc, s + ln0, ln1 - ln0)) || (rc = rew_put(sc, "=", 1)) ||
                (rc = rew_put(sc, s + v0, v1 - v0)))
                return rc;
            first = 0;
            (*labels)++;
        }
    }
    /* ours: t->labels starts with a comma */
    if ((rc = rew_put(sc, t->labels + first, t->labels_len - (size_t)first)) || (rc = rew_put(sc, "}", 1)))
        return rc;
    return rew_put(sc, s + j, n - j);
verbatim:
    sc->rew_len = start; /* undo what was written of this line */
    return rew_put(sc, s, n);
}

/* The body with t's labels on every sample; REW_* when a limit is passed. */
static int rewrite(struct scrape *sc, const struct target *t, uint32_t *samples, int *limited)
{
    const struct mend_scrape_conf *c = sc->conf;
    const char *p = t->body, *end = t->body + t->len;
    sc->rew_len = 0;
    *samples = 0;
    *limited = REW_OK;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *q = p;
        while (q < p + n && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        int rc;
        if (q == p + n || *q == '#') {
            rc = rew_put(sc, p, n);
        } else {
            uint32_t labels;
            if (++*samples > c->sample_limit) {
                *limited = REW_SAMPLES;
                return MEND_OK;
            }
            rc = rewrite_line(sc, t, p, n, &labels);
            if (rc == MEND_OK && labels > c->label_limit) {
                *limited = REW_LABELS;
                return MEND_OK;
            }
        }
        if (rc == MEND_OK)
            rc = rew_put(sc, "\n", 1);
        if (rc)
            return rc;
        p += n + (nl ? 1 : 0);
    }
    return MEND_OK;
}

/* The target went down (why) or came back (why NULL): said once per change. */
static void target_state(struct target *t, const char *why)
{
    char msg[CURL_ERROR_SIZE + 160];
    if (why) {
        if (!t->down) {
            mend_input_error(t->sc->in, t->url, why, 0); /* the last error; counted once per outage */
            snprintf(msg, sizeof msg, "scrape failed: %s (reported again when it recovers)", why);
            mend_stream_error(t->st, msg);
        }
        t->down = 1;
    } else if (t->down) {
        t->down = 0;
        mend_stream_error(t->st, "scrape recovered");
    }
}

static int scrape_done(struct scrape *sc, struct target *t, CURLcode res)
{
    struct mend_inputs_stats *st = mend_input_stats(sc->in);
    char why[CURL_ERROR_SIZE + 96];
    t->busy = 0;
    st->scrapes++;
    if (t->gone)
        return MEND_OK;
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    if (t->too_big) {
        st->scrape_body_limit++;
        snprintf(why, sizeof why, "body larger than scrape.body_limit (%zu bytes): refused", sc->conf->body_limit);
        target_state(t, why);
        return MEND_OK;
    }
    if (res != CURLE_OK || code != 200) {
        st->scrape_failed++;
        if (res != CURLE_OK)
            snprintf(why, sizeof why, "%s", t->err[0] ? t->err : curl_easy_strerror(res));
        else
            snprintf(why, sizeof why, "HTTP status %ld", code);
        target_state(t, why);
        return MEND_OK;
    }
    uint32_t samples;
    int limited;
    int rc = rewrite(sc, t, &samples, &limited);
    if (rc)
        return rc;
    if (limited) {
        if (limited == REW_SAMPLES) {
            st->scrape_sample_limit++;
            snprintf(why, sizeof why, "more than scrape.sample_limit (%u) samples: refused", sc->conf->sample_limit);
        } else {
            st->scrape_label_limit++;
            snprintf(why, sizeof why, "a sample with more than scrape.label_limit (%u) labels: refused",
                     sc->conf->label_limit);
        }
        target_state(t, why);
        return MEND_OK;
    }
    target_state(t, NULL);
    mend_stream_set_time(t->st, t->started);
    st->bytes += t->len;
    rc = mend_stream_data(t->st, sc->rew, sc->rew_len);
    if (rc == MEND_OK)
        rc = mend_stream_record_end(t->st);
    return rc == MEND_ENOMEM ? rc : MEND_OK;
}

static void drop_gone(struct scrape *sc)
{
    size_t k = 0;
    for (size_t i = 0; i < sc->n; i++) {
        if (sc->t[i]->gone && !sc->t[i]->busy)
            target_free(sc->t[i]);
        else
            sc->t[k++] = sc->t[i];
    }
    sc->n = k;
}

static int check_done(struct scrape *sc)
{
    CURLMsg *m;
    int left, rc = MEND_OK, gone = 0;
    while ((m = curl_multi_info_read(sc->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct target *t = NULL;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(sc->multi, e);
        if (!t)
            continue;
        int r = scrape_done(sc, t, res);
        gone |= t->gone;
        if (r && rc == MEND_OK)
            rc = r;
    }
    if (gone)
        drop_gone(sc);
    return rc;
}

static int on_target_timer(struct mend_loop *l, uint64_t id, void *ctx)
{
    (void)l;
    (void)id;
    struct target *t = ctx;
    struct scrape *sc = t->sc;
    if (t->gone)
        return MEND_OK;
    if (t->busy) {
        mend_input_stats(sc->in)->scrapes++;
        mend_input_stats(sc->in)->scrape_failed++;
        target_state(t, "the previous scrape is still running");
        return MEND_OK;
    }
    t->len = 0;
    t->too_big = 0;
    t->err[0] = '\0';
    t->started = wall_ns();
    if (curl_multi_add_handle(sc->multi, t->easy) != CURLM_OK) {
        mend_input_stats(sc->in)->scrape_failed++;
        target_state(t, "libcurl would not start the transfer");
        return MEND_OK;
    }
    t->busy = 1;
    return MEND_OK;
}

/* ---- libcurl on the loop ------------------------------------------------------------ */

static int on_sock(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    (void)l;
    struct scrape *sc = ctx;
    int running, mask = 0;
    if (events & MEND_LOOP_READ)
        mask |= CURL_CSELECT_IN;
    if (events & MEND_LOOP_WRITE)
        mask |= CURL_CSELECT_OUT;
    curl_multi_socket_action(sc->multi, fd, mask, &running);
    return check_done(sc);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    struct scrape *sc = userp;
    struct mend_loop *l = mend_input_loop(sc->in);
    mend_loop_del_fd(l, s); /* re-added below with the events curl wants now */
    if (what == CURL_POLL_REMOVE)
        return 0;
    unsigned ev = 0;
    if (what & CURL_POLL_IN)
        ev |= MEND_LOOP_READ;
    if (what & CURL_POLL_OUT)
        ev |= MEND_LOOP_WRITE;
    if (mend_loop_add_fd(l, s, ev, on_sock, sc) != MEND_OK) {
        mend_input_error(sc->in, "scrape", "cannot watch a socket", 0);
        return -1; /* fails that transfer */
    }
    return 0;
}

static int on_curl_timer(struct mend_loop *l, uint64_t id, void *ctx)
{
    (void)l;
    (void)id;
    struct scrape *sc = ctx;
    int running;
    sc->curl_timer = 0; /* a one-shot; curl may ask for the next one below */
    curl_multi_socket_action(sc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    return check_done(sc);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct scrape *sc = userp;
    struct mend_loop *l = mend_input_loop(sc->in);
    if (sc->curl_timer) {
        mend_loop_timer_del(l, sc->curl_timer);
        sc->curl_timer = 0;
    }
    if (timeout_ms < 0)
        return 0;
    if (mend_loop_timer_add(l, mend_loop_now(l) + (int64_t)timeout_ms * 1000000, 0, on_curl_timer, sc,
                            &sc->curl_timer) != MEND_OK)
        return -1;
    return 0;
}

/* ---- the targets file (file_sd) ------------------------------------------------------ */

struct fd_group {
    char addr[64][MEND_SCRAPE_URL_MAX];
    size_t n_addr;
    struct mend_conf_pair labels[MEND_SCRAPE_MAX_LABELS];
    size_t n_labels;
};

/* Reads the file into groups (caller frees *out). A list of mappings with
 * `targets` (a list of HOST:PORT) and optional `labels` (a mapping). */
static int file_read(const char *path, struct fd_group **out, size_t *n_out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return MEND_EIO;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    struct fd_group *g = NULL;
    size_t n = 0, total = 0;
    int rc = MEND_OK, depth = 0, in_group = 0;
    /* state: 0 = expecting key in a group, 1 = in targets list, 2 = in labels map */
    int state = 0, want_value = 0;
    char key[64] = "", lkey[MEND_CONF_PAIR_KEY] = "";
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1, p.problem_mark.column + 1,
                     p.problem ? p.problem : "bad YAML/JSON");
            rc = MEND_EINVAL;
            break;
        }
        yaml_event_type_t ty = ev.type;
        size_t line = ev.start_mark.line + 1;
        const char *sv = ty == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : "";
        int bad = 0;
        if (ty == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        switch (ty) {
        case YAML_SEQUENCE_START_EVENT:
            depth++;
            if (depth == 1 && !in_group)
                break;
            if (in_group && state == 0 && !strcmp(key, "targets") && want_value) {
                state = 1;
                want_value = 0;
            } else {
                bad = 1;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            if (state == 1)
                state = 0;
            break;
        case YAML_MAPPING_START_EVENT:
            depth++;
            if (!in_group && depth == 2) {
                struct fd_group *ng = realloc(g, (n + 1) * sizeof *g);
                if (!ng) {
                    rc = MEND_ENOMEM;
                    break;
                }
                g = ng;
                memset(&g[n++], 0, sizeof *g);
                in_group = 1;
                state = 0;
                want_value = 0;
            } else if (in_group && state == 0 && want_value && !strcmp(key, "labels")) {
                state = 2;
                want_value = 0;
                lkey[0] = '\0';
            } else {
                bad = 1;
            }
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            if (state == 2)
                state = 0;
            else if (in_group && depth == 1)
                in_group = 0;
            break;
        case YAML_SCALAR_EVENT:
            if (!in_group) {
                bad = 1;
            } else if (state == 0) {
                if (want_value) {
                    bad = 1; /* targets/labels must be a list/mapping */
                } else {
                    snprintf(key, sizeof key, "%s", sv);
                    if (strcmp(key, "targets") && strcmp(key, "labels"))
                        bad = 1;
                    want_value = 1;
                }
            } else if (state == 1) {
                struct fd_group *gg = &g[n - 1];
                if (gg->n_addr >= 64 || ++total > MEND_SCRAPE_MAX_FILE_TARGETS || !*sv ||
                    strlen(sv) >= MEND_SCRAPE_URL_MAX - 140 || strpbrk(sv, "/?# ")) {
                    bad = 1;
                } else {
                    snprintf(gg->addr[gg->n_addr++], MEND_SCRAPE_URL_MAX, "%s", sv);
                }
            } else if (state == 2) {
                struct fd_group *gg = &g[n - 1];
                if (!lkey[0]) {
                    if (!valid_label_name(sv) || strlen(sv) >= sizeof lkey)
                        bad = 1;
                    else
                        snprintf(lkey, sizeof lkey, "%s", sv);
                } else {
                    if (gg->n_labels >= MEND_SCRAPE_MAX_LABELS || strlen(sv) >= MEND_CONF_PAIR_VALUE)
                        bad = 1;
                    else {
                        snprintf(gg->labels[gg->n_labels].key, MEND_CONF_PAIR_KEY, "%s", lkey);
                        snprintf(gg->labels[gg->n_labels++].value, MEND_CONF_PAIR_VALUE, "%s", sv);
                    }
                    lkey[0] = '\0';
                }
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (bad) {
            snprintf(err, errlen,
                     "%s:%zu: expected a list of {targets: [HOST:PORT, ...], labels: {NAME: VALUE}} "
                     "(at most %d targets, %d labels)",
                     path, line, MEND_SCRAPE_MAX_FILE_TARGETS, MEND_SCRAPE_MAX_LABELS);
            rc = MEND_EINVAL;
        }
        if (rc)
            break;
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (rc) {
        free(g);
        return rc;
    }
    *out = g;
    *n_out = n;
    return MEND_OK;
}

static int same_labels(const struct target *t, const char *labels, size_t len)
{
    return t->labels_len == len && !memcmp(t->labels, labels, len);
}

/* Re-reads the file when it changed; keeps the old targets on an error. */
static int file_sync(struct scrape *sc, char *err, size_t errlen)
{
    const struct mend_scrape_conf *c = sc->conf;
    struct stat st;
    if (stat(c->file, &st) != 0) {
        snprintf(err, errlen, "%s: %s", c->file, strerror(errno));
        return MEND_EIO;
    }
    if (sc->file_seen && st.st_mtim.tv_sec == sc->file_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == sc->file_st.st_mtim.tv_nsec && st.st_size == sc->file_st.st_size &&
        st.st_ino == sc->file_st.st_ino)
        return MEND_OK;
    struct fd_group *g = NULL;
    size_t n = 0;
    int rc = file_read(c->file, &g, &n, err, errlen);
    if (rc)
        return rc;
    sc->file_seen = 1;
    sc->file_st = st;
    for (size_t i = 0; i < sc->n; i++)
        if (sc->t[i]->from_file)
            sc->t[i]->gone = 2; /* 2: gone unless found again below */
    for (size_t i = 0; i < n && rc == MEND_OK; i++) {
        const char *job = c->job;
        for (size_t k = 0; k < g[i].n_labels; k++)
            if (!strcmp(g[i].labels[k].key, "job"))
                job = g[i].labels[k].value;
        for (size_t a = 0; a < g[i].n_addr && rc == MEND_OK; a++) {
            char url[MEND_SCRAPE_URL_MAX];
            snprintf(url, sizeof url, "%s://%s%s", c->scheme, g[i].addr[a], c->metrics_path);
            struct target *nt = NULL;
            char e2[256] = "";
            rc = target_new(sc, url, job, g[i].labels, g[i].n_labels, c->interval_ns, c->timeout_ns, 1, &nt, e2,
                            sizeof e2);
            if (rc) {
                snprintf(err, errlen, "%s", e2);
                break;
            }
            struct target *old = NULL;
            for (size_t k = 0; k < sc->n && !old; k++)
                if (sc->t[k]->from_file && sc->t[k]->gone == 2 && !strcmp(sc->t[k]->url, url) &&
                    same_labels(sc->t[k], nt->labels, nt->labels_len))
                    old = sc->t[k];
            if (old) {
                old->gone = 0; /* unchanged: keeps its connection and schedule */
                target_free(nt);
            } else if ((rc = targets_push(sc, nt)) != MEND_OK) {
                target_free(nt);
            }
        }
    }
    free(g);
    for (size_t i = 0; i < sc->n; i++)
        if (sc->t[i]->gone == 2)
            sc->t[i]->gone = 1;
    drop_gone(sc);
    return rc;
}

static int on_file_timer(struct mend_loop *l, uint64_t id, void *ctx)
{
    (void)l;
    (void)id;
    struct scrape *sc = ctx;
    char err[512] = "";
    int rc = file_sync(sc, err, sizeof err);
    if (rc == MEND_ENOMEM)
        return rc;
    if (rc)
        mend_input_error(sc->in, "scrape.file", err, 0); /* the old targets stay */
    return MEND_OK;
}

/* ---- the kind ------------------------------------------------------------------------ */

static int scrape_claims(const char *spec)
{
    return !strcmp(spec, "scrape:");
}

static void scrape_close(struct mend_input *in)
{
    struct scrape *sc = mend_input_priv(in);
    if (!sc)
        return;
    struct mend_loop *l = mend_input_loop(in);
    for (size_t i = 0; i < sc->n; i++)
        target_free(sc->t[i]);
    free(sc->t);
    if (sc->multi)
        curl_multi_cleanup(sc->multi); /* removes its sockets through sock_cb */
    if (sc->curl_timer)
        mend_loop_timer_del(l, sc->curl_timer);
    if (sc->file_timer)
        mend_loop_timer_del(l, sc->file_timer);
    free(sc->rew);
    free(sc);
    mend_input_set_priv(in, NULL);
}

static int scrape_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    (void)spec;
    const struct mend_scrape_conf *c = mend_input_arg(in);
    if (!c) {
        snprintf(err, errlen, "scrape: no targets given (mend_scrape_add)");
        return MEND_EINVAL;
    }
    if (mend_input_merging(in)) {
        snprintf(err, errlen, "scrape: targets are scraped by `mend run` only");
        return MEND_EINVAL;
    }
    if (check_conf(c, err, errlen) != MEND_OK)
        return MEND_EINVAL;
    struct scrape *sc = calloc(1, sizeof *sc);
    if (!sc)
        return MEND_ENOMEM;
    sc->in = in;
    sc->conf = c;
    mend_input_set_priv(in, sc);
    int rc = MEND_OK;
    if (!(sc->multi = curl_multi_init())) {
        snprintf(err, errlen, "scrape: libcurl would not start");
        rc = MEND_EIO;
    }
    if (rc == MEND_OK &&
        (curl_multi_setopt(sc->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) != CURLM_OK ||
         curl_multi_setopt(sc->multi, CURLMOPT_SOCKETDATA, sc) != CURLM_OK ||
         curl_multi_setopt(sc->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
         curl_multi_setopt(sc->multi, CURLMOPT_TIMERDATA, sc) != CURLM_OK)) {
        snprintf(err, errlen, "scrape: libcurl refused the event-loop callbacks");
        rc = MEND_EIO;
    }
    for (size_t i = 0; i < c->n_targets && rc == MEND_OK; i++) {
        const struct mend_scrape_target *tc = &c->targets[i];
        struct target *t = NULL;
        rc = target_new(sc, tc->url, tc->job[0] ? tc->job : c->job, tc->labels, tc->n_labels,
                        tc->interval_ns ? tc->interval_ns : c->interval_ns,
                        tc->timeout_ns ? tc->timeout_ns : c->timeout_ns, 0, &t, err, errlen);
        if (rc == MEND_OK && (rc = targets_push(sc, t)) != MEND_OK)
            target_free(t);
    }
    if (rc == MEND_OK && c->file[0]) {
        rc = file_sync(sc, err, errlen);
        if (rc == MEND_OK) {
            struct mend_loop *l = mend_input_loop(in);
            rc = mend_loop_timer_add(l, mend_loop_now(l) + c->file_check_ns, c->file_check_ns, on_file_timer, sc,
                                     &sc->file_timer);
        }
    }
    if (rc != MEND_OK) {
        scrape_close(in);
        return rc;
    }
    return MEND_OK;
}

static int scrape_on_fd(struct mend_input *in, int fd, unsigned events)
{
    (void)in;
    (void)fd;
    (void)events;
    return MEND_OK; /* curl's sockets are the loop's directly (sock_cb) */
}

static const struct mend_input_ops scrape_ops = {
    .kind = "scrape",
    .claims = scrape_claims,
    .open = scrape_open,
    .on_fd = scrape_on_fd,
    .on_timer = NULL,
    .peek_time = NULL,
    .close = scrape_close,
};

int mend_scrape_add(struct mend_inputs *s, const struct mend_scrape_conf *c, char *err, size_t errlen)
{
    /* registered kinds are tried before the file kind, which would take
     * "scrape:" for a path */
    int rc = mend_inputs_register(s, &scrape_ops);
    if (rc != MEND_OK) {
        snprintf(err, errlen, "scrape: %s", mend_strerror(rc));
        return rc;
    }
    return mend_inputs_add_arg(s, "scrape:", c, err, errlen);
}
