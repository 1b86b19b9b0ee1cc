/* fmt_logs.c -- the log formats: RFC 5424 and RFC 3164 syslog, JSON lines
 * and plain text lines, as entries of the format ops table (format.h).
 *
 * Each record is parsed into a struct mend_logmsg (time, severity, entity,
 * message) and handed to the pipeline's shared log-signal context
 * (logsig.h, given in mend_ingest_opts.logs; a parser made without one
 * gets a private context with the defaults), which mines the message and
 * emits per-interval counts through this parser's sink. So a log parser
 * emits samples only when an interval of an entity closes.
 *
 * syslog  "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]" (RFC 5424; "-"
 *         for nil fields, structured data skipped with its escapes, a UTF-8
 *         BOM before MSG dropped) or "<PRI>Mmm dd hh:mm:ss HOST TAG[pid]: MSG"
 *         (RFC 3164; the year from logs.year; an RFC 3339 timestamp in its
 *         place is read too, as rsyslog writes files). PRI is optional (log
 *         files carry none: severity unknown). Entity: HOST, or APP with
 *         logs.syslog_entity_app.
 * json    one object per line (jansson); message, level, time and entity
 *         from the first present field of configurable lists. Time is
 *         RFC 3339 text or an epoch number (unit by magnitude, timefmt.h);
 *         level a word, a syslog number 0..7 or a bunyan/pino 10..60.
 * text    any line; a leading "YYYY-MM-DD[T ]hh:mm:ss[.,frac][zone]" or
 *         "Mmm dd hh:mm:ss" is its time, a level word among the next three
 *         tokens ("ERROR", "[warn]", "INFO:") its severity; no entity.
 *
 * A record without a time takes the time of the record before it in the
 * stream (continuation lines, stack traces), else the scrape/arrival time
 * (mend_parser_set_default_time), else it is an error. Guessing: syslog
 * when the first line starts with "<PRI>" or a syslog/RFC 3339 timestamp
 * followed by a host and a tag; json when it is "{...}"; text is never
 * guessed (--format text). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_internal.h"
#include "mend/logsig.h"

enum { K_SYSLOG, K_JSON, K_TEXT };

#define MAX_FIELDS 8      /* names per JSON field list */
#define MAX_FIELD_NAME 64

struct logfmt {
    int kind;
    struct mend_logsig *ls;
    int own;              /* ls made here */
    const char *etag;
    int64_t last_t;
    int has_last;
    int year;
    int app_entity;
    char names[4][MAX_FIELDS][MAX_FIELD_NAME + 1]; /* json: message, level, time, entity */
    int n_names[4];
};

struct emit_ctx {
    struct mend_parser *p;
    const struct mend_sink *sink;
};

static int emit_cb(void *ctx, const struct mend_point *pt)
{
    struct emit_ctx *c = ctx;
    return mend_format_emit(c->p, c->sink, pt);
}

static void split_names(struct logfmt *f, int which, const char *list)
{
    f->n_names[which] = 0;
    if (!list)
        return;
    const char *s = list;
    while (*s && f->n_names[which] < MAX_FIELDS) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && s[0] == ' ') {
            s++;
            n--;
        }
        while (n && s[n - 1] == ' ')
            n--;
        if (n && n <= MAX_FIELD_NAME) {
            memcpy(f->names[which][f->n_names[which]], s, n);
            f->names[which][f->n_names[which]][n] = 0;
            f->n_names[which]++;
        }
        if (!e)
            break;
        s = e + 1;
    }
}

static int init_kind(struct mend_parser *p, const struct mend_ingest_opts *o, void **state, int kind)
{
    (void)p;
    struct logfmt *f = calloc(1, sizeof *f);
    if (!f)
        return MEND_ENOMEM;
    f->kind = kind;
    f->etag = o->entity_tag;
    f->ls = o->logs;
    if (!f->ls) {
        int rc = mend_logsig_new(NULL, &f->ls, NULL, 0);
        if (rc != MEND_OK) {
            free(f);
            return rc;
        }
        f->own = 1;
    }
    const struct mend_logsig_conf *c = mend_logsig_conf(f->ls);
    f->year = c->year;
    f->app_entity = c->syslog_entity_app;
    split_names(f, 0, c->json_message);
    split_names(f, 1, c->json_level);
    split_names(f, 2, c->json_time);
    split_names(f, 3, c->json_entity);
    *state = f;
    return MEND_OK;
}

static int init_syslog(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    return init_kind(p, o, state, K_SYSLOG);
}

static int init_json(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    return init_kind(p, o, state, K_JSON);
}

static int init_text(struct mend_parser *p, const struct mend_ingest_opts *o, void **state)
{
    return init_kind(p, o, state, K_TEXT);
}

static void fini(void *state)
{
    struct logfmt *f = state;
    if (!f)
        return;
    if (f->own)
        mend_logsig_free(f->ls);
    free(f);
}

/* ---- time helpers ------------------------------------------------------------ */

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int dig(char c)
{
    return c >= '0' && c <= '9';
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "Mmm dd hh:mm:ss" (day may be " d") at s: 1 with *t (in year), else 0. */
static int bsd_time(const char *s, size_t n, int year, int64_t *t)
{
    if (n < 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':')
        return 0;
    int mon = -1;
    for (int i = 0; i < 12; i++)
        if (!memcmp(s, months[i], 3))
            mon = i;
    if (mon < 0 || !(s[4] == ' ' || dig(s[4])) || !dig(s[5]) || !dig(s[7]) || !dig(s[8]) ||
        !dig(s[10]) || !dig(s[11]) || !dig(s[13]) || !dig(s[14]))
        return 0;
    int day = (s[4] == ' ' ? 0 : s[4] - '0') * 10 + (s[5] - '0');
    int hh = (s[7] - '0') * 10 + (s[8] - '0'), mm = (s[10] - '0') * 10 + (s[11] - '0');
    int ss = (s[13] - '0') * 10 + (s[14] - '0');
    if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return 0;
    int64_t days = days_from_civil(year, mon + 1, day);
    *t = ((days * 24 + hh) * 60 + mm) * 60 * 1000000000LL + (int64_t)ss * 1000000000LL;
    return 1;
}

/* An ISO date-time at s ("YYYY-MM-DD", 'T' or ' ', "hh:mm:ss", optional
 * [.,]fraction and zone): its length and time, or 0. */
static size_t iso_time(const char *s, size_t n, int64_t *t)
{
    char buf[64];
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return 0;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !dig(s[i]))
            return 0;
    size_t i = 19;
    if (i < n && (s[i] == '.' || s[i] == ',') && i + 1 < n && dig(s[i + 1])) {
        i++;
        while (i < n && dig(s[i]) && i < 40)
            i++;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 2 < n && (s[i] == '+' || s[i] == '-') && dig(s[i + 1]) && dig(s[i + 2])) {
        i += 3;
        if (i + 2 < n && s[i] == ':' && dig(s[i + 1]) && dig(s[i + 2]))
            i += 3;
        else if (i + 1 < n && dig(s[i]) && dig(s[i + 1]))
            i += 2;
    }
    if (i >= sizeof buf)
        return 0;
    memcpy(buf, s, i);
    for (size_t k = 0; k < i; k++)
        if (buf[k] == ',')
            buf[k] = '.';
    if (mend_time_parse_iso8601(buf, i, t) != MEND_OK)
        return 0;
    return i;
}

/* The record's time: its own, else the one before it, else the default
 * time. 0 when there is none. */
static int pick_time(struct mend_parser *p, struct logfmt *f, int has, int64_t t, int64_t *out)
{
    if (has) {
        f->last_t = t;
        f->has_last = 1;
        *out = t;
        return 1;
    }
    if (f->has_last) {
        *out = f->last_t;
        return 1;
    }
    return mend_format_default_time(p, out);
}

static int deliver(struct mend_parser *p, struct logfmt *f, const struct mend_sink *sink,
                   struct mend_logmsg *m)
{
    struct emit_ctx c = {p, sink};
    int rc = mend_logsig_add(f->ls, m, f->etag, emit_cb, &c, NULL);
    return rc == MEND_ENOMEM ? rc : (rc < 0 ? rc : MEND_OK);
}

/* ---- syslog ------------------------------------------------------------------- */

/* The token at s[*i] up to a space; moves *i past it and one space. */
static void token(const char *s, size_t n, size_t *i, const char **tok, size_t *tn)
{
    size_t b = *i;
    while (*i < n && s[*i] != ' ')
        (*i)++;
    *tok = s + b;
    *tn = *i - b;
    if (*i < n)
        (*i)++;
}

static int nil(const char *t, size_t n)
{
    return n == 1 && t[0] == '-';
}

static int line_syslog(struct mend_parser *p, void *state, const char *s, size_t n,
                       const struct mend_sink *sink)
{
    struct logfmt *f = state;
    struct mend_logmsg m = {0};
    size_t i = 0;
    int64_t t = 0;
    int has_t = 0;
    const char *host = NULL, *app = NULL;
    size_t hn = 0, an = 0;
    m.severity = -1;
    m.line = s;
    m.line_len = n;
    if (n && s[0] == '<') {
        size_t k = 1;
        unsigned pri = 0;
        while (k < n && k <= 3 && dig(s[k]))
            pri = pri * 10 + (unsigned)(s[k++] - '0');
        if (k == 1 || k >= n || s[k] != '>' || pri > 191) {
            mend_format_error(p, sink, 2, "bad PRI: expected <0..191>");
            return MEND_OK;
        }
        m.severity = (int)(pri & 7);
        i = k + 1;
    }
    if (i > 0 && i + 1 < n && dig(s[i]) && (s[i + 1] == ' ' || (dig(s[i + 1]) && i + 2 < n && s[i + 2] == ' '))) {
        /* RFC 5424: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG] */
        const char *tok;
        size_t tn;
        token(s, n, &i, &tok, &tn); /* version */
        size_t tcol = i + 1;
        token(s, n, &i, &tok, &tn);
        if (!tn) {
            mend_format_error(p, sink, tcol, "RFC 5424: missing TIMESTAMP");
            return MEND_OK;
        }
        if (!nil(tok, tn)) {
            if (mend_time_parse_iso8601(tok, tn, &t) != MEND_OK) {
                mend_format_error(p, sink, tcol, "RFC 5424: bad TIMESTAMP");
                return MEND_OK;
            }
            has_t = 1;
        }
        token(s, n, &i, &host, &hn);
        token(s, n, &i, &app, &an);
        token(s, n, &i, &tok, &tn); /* procid */
        token(s, n, &i, &tok, &tn); /* msgid */
        if (i < n && s[i] == '-') {
            i++;
        } else if (i < n && s[i] == '[') {
            while (i < n && s[i] == '[') {
                int q = 0;
                i++;
                while (i < n) {
                    if (q && s[i] == '\\' && i + 1 < n) {
                        i += 2;
                        continue;
                    }
                    if (s[i] == '"')
                        q = !q;
                    else if (!q && s[i] == ']')
                        break;
                    i++;
                }
                if (i >= n) {
                    mend_format_error(p, sink, n + 1, "RFC 5424: STRUCTURED-DATA not closed");
                    return MEND_OK;
                }
                i++;
            }
        } else {
            mend_format_error(p, sink, i + 1, "RFC 5424: missing STRUCTURED-DATA");
            return MEND_OK;
        }
        if (i < n && s[i] == ' ')
            i++;
        if (n - i >= 3 && !memcmp(s + i, "\xEF\xBB\xBF", 3))
            i += 3;
        if (nil(host, hn))
            hn = 0;
        if (nil(app, an))
            an = 0;
    } else {
        /* RFC 3164: TIMESTAMP HOSTNAME TAG: MSG */
        size_t tl;
        if (bsd_time(s + i, n - i, f->year, &t)) {
            has_t = 1;
            i += 15;
        } else if ((tl = iso_time(s + i, n - i, &t)) != 0) {
            has_t = 1;
            i += tl;
        }
        if (has_t) {
            while (i < n && s[i] == ' ')
                i++;
            size_t save = i;
            const char *tok;
            size_t tn;
            token(s, n, &i, &tok, &tn);
            if (tn && tok[tn - 1] == ':') {
                i = save; /* no HOSTNAME: this is the tag */
            } else {
                host = tok;
                hn = tn;
            }
        }
        /* TAG: alphanumerics up to '[' or ':' (at most 48) */
        size_t b = i, k = i;
        while (k < n && k - b < 48 && s[k] != '[' && s[k] != ':' && s[k] != ' ')
            k++;
        if (k > b && k < n && (s[k] == '[' || s[k] == ':')) {
            size_t e = k;
            if (s[k] == '[') {
                while (e < n && s[e] != ']')
                    e++;
                if (e < n)
                    e++;
            }
            if (e < n && s[e] == ':') {
                app = s + b;
                an = k - b;
                i = e + 1;
                if (i < n && s[i] == ' ')
                    i++;
            }
        }
    }
    if (!pick_time(p, f, has_t, t, &m.time_ns)) {
        mend_format_error(p, sink, 1, "no timestamp (and none before it in the stream)");
        return MEND_OK;
    }
    m.msg = s + i;
    m.msg_len = n - i;
    if (f->app_entity) {
        m.entity = app;
        m.entity_len = an;
    } else {
        m.entity = hn ? host : app;
        m.entity_len = hn ? hn : an;
    }
    return deliver(p, f, sink, &m);
}

static int guess_syslog(const char *head, size_t len)
{
    const char *s;
    size_t n;
    int64_t t;
    if (!mend_ingest_first_line(head, len, &s, &n))
        return 0;
    if (n >= 4 && s[0] == '<' && dig(s[1])) {
        size_t k = 1;
        while (k < n && k <= 4 && dig(s[k]))
            k++;
        return k < n && s[k] == '>';
    }
    size_t tl = bsd_time(s, n, 2000, &t) ? 15 : iso_time(s, n, &t);
    if (!tl || tl >= n || s[tl] != ' ')
        return 0;
    /* a host, then a tag ending in ':' or holding '[' */
    size_t i = tl + 1;
    while (i < n && s[i] != ' ')
        i++;
    if (i >= n)
        return 0;
    i++;
    size_t b = i;
    while (i < n && s[i] != ' ' && s[i] != '[' && s[i] != ':')
        i++;
    return i > b && i < n && (s[i] == '[' || s[i] == ':');
}

/* ---- json --------------------------------------------------------------------- */

static json_t *field(json_t *obj, const struct logfmt *f, int which)
{
    for (int i = 0; i < f->n_names[which]; i++) {
        json_t *v = json_object_get(obj, f->names[which][i]);
        if (v && !json_is_null(v))
            return v;
    }
    return NULL;
}

static int line_json(struct mend_parser *p, void *state, const char *s, size_t n,
                     const struct mend_sink *sink)
{
    struct logfmt *f = state;
    struct mend_logmsg m = {0};
    json_error_t je;
    char num[64], why[200];
    size_t b = 0;
    while (b < n && (s[b] == ' ' || s[b] == '\t'))
        b++;
    if (b == n)
        return MEND_OK; /* blank line */
    json_t *obj = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!obj) {
        snprintf(why, sizeof why, "JSON: %s", je.text);
        mend_format_error(p, sink, je.column > 0 ? (size_t)je.column : 1, why);
        return MEND_OK;
    }
    int rc = MEND_OK;
    if (!json_is_object(obj)) {
        mend_format_error(p, sink, b + 1, "JSON: a log line must be an object");
        goto out;
    }
    json_t *msg = field(obj, f, 0);
    if (!msg || !json_is_string(msg)) {
        mend_format_error(p, sink, b + 1, msg ? "JSON: message field is not a string"
                                              : "JSON: no message field (logs.json_message)");
        goto out;
    }
    m.msg = json_string_value(msg);
    m.msg_len = json_string_length(msg);
    m.line = s;
    m.line_len = n;
    m.severity = -1;
    json_t *lv = field(obj, f, 1);
    if (lv && json_is_string(lv))
        m.severity = mend_logsig_severity_parse(json_string_value(lv), json_string_length(lv));
    else if (lv && json_is_integer(lv)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(lv));
        m.severity = mend_logsig_severity_parse(num, strlen(num));
    }
    int64_t t = 0;
    int has_t = 0;
    json_t *tv = field(obj, f, 2);
    if (tv) {
        int trc = MEND_EPARSE;
        if (json_is_string(tv))
            trc = mend_time_parse_any(json_string_value(tv), json_string_length(tv), &t);
        else if (json_is_integer(tv)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(tv));
            trc = mend_time_parse_epoch(num, strlen(num), &t);
        } else if (json_is_real(tv)) {
            snprintf(num, sizeof num, "%.6f", json_real_value(tv));
            trc = mend_time_parse_epoch(num, strlen(num), &t);
        }
        if (trc != MEND_OK) {
            mend_format_error(p, sink, b + 1, "JSON: bad time field (RFC 3339 text or epoch number)");
            goto out;
        }
        has_t = 1;
    }
    if (!pick_time(p, f, has_t, t, &m.time_ns)) {
        mend_format_error(p, sink, b + 1, "JSON: no time field (and none before it in the stream)");
        goto out;
    }
    json_t *ev = field(obj, f, 3);
    if (ev && json_is_string(ev)) {
        m.entity = json_string_value(ev);
        m.entity_len = json_string_length(ev);
    } else if (ev && json_is_integer(ev)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(ev));
        m.entity = num;
        m.entity_len = strlen(num);
    }
    rc = deliver(p, f, sink, &m);
out:
    json_decref(obj);
    return rc;
}

static int guess_json(const char *head, size_t len)
{
    const char *s;
    size_t n;
    if (!mend_ingest_first_line(head, len, &s, &n))
        return 0;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

/* ---- text --------------------------------------------------------------------- */

static int line_text(struct mend_parser *p, void *state, const char *s, size_t n,
                     const struct mend_sink *sink)
{
    struct logfmt *f = state;
    struct mend_logmsg m = {0};
    int64_t t = 0;
    int has_t = 0;
    size_t i = 0, tl;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n)
        return MEND_OK; /* blank line */
    if ((tl = iso_time(s + i, n - i, &t)) != 0) {
        has_t = 1;
        i += tl;
    } else if (bsd_time(s + i, n - i, f->year, &t)) {
        has_t = 1;
        i += 15;
    }
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    m.severity = -1;
    size_t k = i;
    for (int w = 0; w < 3 && k < n; w++) {
        size_t b = k;
        while (k < n && s[k] != ' ' && s[k] != '\t')
            k++;
        size_t wb = b, we = k;
        while (wb < we && (s[wb] == '[' || s[wb] == '<' || s[wb] == '('))
            wb++;
        while (we > wb && (s[we - 1] == ']' || s[we - 1] == '>' || s[we - 1] == ')' || s[we - 1] == ':'))
            we--;
        int alpha = we > wb;
        for (size_t c = wb; c < we; c++)
            if (!((s[c] >= 'a' && s[c] <= 'z') || (s[c] >= 'A' && s[c] <= 'Z')))
                alpha = 0;
        if (alpha && (m.severity = mend_logsig_severity_parse(s + wb, we - wb)) >= 0)
            break;
        while (k < n && (s[k] == ' ' || s[k] == '\t'))
            k++;
    }
    if (!pick_time(p, f, has_t, t, &m.time_ns)) {
        mend_format_error(p, sink, 1, "no timestamp (and none before it in the stream)");
        return MEND_OK;
    }
    m.msg = s + i;
    m.msg_len = n - i;
    m.line = s;
    m.line_len = n;
    return deliver(p, f, sink, &m);
}

static int flush(struct mend_parser *p, void *state, int64_t now_ns, const struct mend_sink *sink)
{
    struct logfmt *f = state;
    struct emit_ctx c = {p, sink};
    return mend_logsig_flush(f->ls, now_ns, f->etag, emit_cb, &c);
}

static const char *const syslog_alias[] = {"rfc5424", "rfc3164", NULL};
static const char *const json_alias[] = {"jsonl", "ndjson", NULL};
static const char *const json_ext[] = {"jsonl", "ndjson", NULL};
static const char *const text_alias[] = {"log", "plain", NULL};

const struct mend_format_ops mend_format_syslog = {
    .name = "syslog",
    .aliases = syslog_alias,
    .exts = NULL,
    .init = init_syslog,
    .line = line_syslog,
    .flush = flush,
    .guess = guess_syslog,
    .record_open = NULL,
    .fini = fini,
};

const struct mend_format_ops mend_format_json = {
    .name = "json",
    .aliases = json_alias,
    .exts = json_ext,
    .init = init_json,
    .line = line_json,
    .flush = flush,
    .guess = guess_json,
    .record_open = NULL,
    .fini = fini,
};

const struct mend_format_ops mend_format_text = {
    .name = "text",
    .aliases = text_alias,
    .exts = NULL,
    .init = init_text,
    .line = line_text,
    .flush = flush,
    .guess = NULL,
    .record_open = NULL,
    .fini = fini,
};
