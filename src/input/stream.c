/* stream.c -- a byte stream of an input and its parser (see input.h).
 *
 * Live, bytes go straight to the parser and its points straight to the
 * host. In merge mode a stream keeps one read chunk (pend) and parses it a
 * line at a time, only when the merge asks for its next sample, into a small
 * queue whose keys are copied into an arena: one line gives a handful of
 * points, so the queue holds one line's worth and the arena is reset each
 * time it drains. A record may span lines (a string field with a newline),
 * so parsing goes on until a point comes out or the stream ends.
 *
 * The stream also decides what an unfinished last line means: the end of a
 * file completes it, a disconnect cuts it (counted as truncated, dropped). */
#include "input_internal.h"

#include "mend/logs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define Q_MAX_POINTS (1u << 16) /* one line never gives more (fields/columns cap at 1024) */
#define Q_MAX_ARENA (64u << 20) /* keys of queued points */

struct qpoint {
    size_t key, key_len, ent, ent_len; /* offsets into the arena */
    int has_ent;
    int64_t time_ns;
    int has_time;
    double value;
    int kind;
};

struct mend_stream {
    struct mend_input *in;
    char *name;
    unsigned flags;
    struct mend_parser *parser;
    int no_format;             /* format could not be told: bytes are dropped */
    uint64_t errors;
    int ended, finished;       /* no more bytes; parser finished */
    int mid_line;              /* the last byte seen was not a newline */
    int has_time;              /* mend_stream_set_time: time_ns stamps untimed samples */
    int64_t time_ns;
    struct mend_syslog_frame *frame; /* MEND_STREAM_SYSLOG: RFC 6587 framing before the parser */
    /* merge mode */
    int queued;
    char *pend;
    size_t pend_len, pend_off;
    struct qpoint *q;
    size_t q_head, q_len, q_cap;
    char *arena;
    size_t arena_len, arena_cap;
};

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void report(struct mend_stream *st, uint64_t line, uint32_t col, const char *reason)
{
    const struct mend_input_host *h = &st->in->set->host;
    st->errors++;
    if (h->error)
        h->error(h->ctx, st->name, st->errors, line, col, reason);
}

static void on_error(void *ctx, uint64_t line, uint32_t col, const char *reason)
{
    report(ctx, line, col, reason);
}

static int on_point_direct(void *ctx, const struct mend_point *p)
{
    struct mend_stream *st = ctx;
    const struct mend_input_host *h = &st->in->set->host;
    return h->point(h->ctx, p);
}

static int arena_put(struct mend_stream *st, const char *p, size_t n, size_t *off)
{
    if (n > Q_MAX_ARENA - st->arena_len)
        return MEND_ECAP;
    if (st->arena_len + n > st->arena_cap) {
        size_t cap = st->arena_cap ? st->arena_cap : 4096;
        while (cap < st->arena_len + n)
            cap *= 2;
        char *a = realloc(st->arena, cap);
        if (!a)
            return MEND_ENOMEM;
        st->arena = a;
        st->arena_cap = cap;
    }
    memcpy(st->arena + st->arena_len, p, n);
    *off = st->arena_len;
    st->arena_len += n;
    return MEND_OK;
}

static int on_point_queue(void *ctx, const struct mend_point *p)
{
    struct mend_stream *st = ctx;
    struct qpoint *qp;
    int rc;
    if (st->q_len >= Q_MAX_POINTS)
        return MEND_ECAP;
    if (st->q_len == st->q_cap) {
        size_t cap = st->q_cap ? st->q_cap * 2 : 64;
        qp = realloc(st->q, cap * sizeof *qp);
        if (!qp)
            return MEND_ENOMEM;
        st->q = qp;
        st->q_cap = cap;
    }
    qp = &st->q[st->q_len];
    memset(qp, 0, sizeof *qp);
    if ((rc = arena_put(st, p->key, p->key_len, &qp->key)) < 0)
        return rc;
    qp->key_len = p->key_len;
    if (p->entity) {
        if ((rc = arena_put(st, p->entity, p->entity_len, &qp->ent)) < 0)
            return rc;
        qp->ent_len = p->entity_len;
        qp->has_ent = 1;
    }
    qp->time_ns = p->time_ns;
    qp->has_time = p->has_time;
    qp->value = p->value;
    qp->kind = p->kind;
    st->q_len++;
    return MEND_OK;
}

static void sink_of(struct mend_stream *st, struct mend_sink *k)
{
    k->point = st->queued ? on_point_queue : on_point_direct;
    k->error = on_error;
    k->ctx = st;
}

/* Creates the parser on the first bytes: input.format, else the kind's
 * hint, else the name's extension or the content. */
static int ensure_parser(struct mend_stream *st, const char *buf, size_t len)
{
    const struct mend_inputs *s = st->in->set;
    enum mend_format f;
    if (st->parser || st->no_format)
        return MEND_OK;
    if (st->flags & MEND_STREAM_OWN_LP)
        f = MEND_FMT_LP;
    else if (st->flags & MEND_STREAM_PROM)
        f = MEND_FMT_PROM;
    else if (st->flags & MEND_STREAM_SYSLOG)
        f = MEND_FMT_SYSLOG; /* the scheme said so */
    else if (s->fmt_given)
        f = s->fmt;
    else if (st->flags & MEND_STREAM_LP)
        f = MEND_FMT_LP;
    else if (mend_format_guess(st->name, buf, len, &f) != MEND_OK) {
        /* Garbage (or a format mend cannot tell) is read as line protocol,
         * mend's own format: every bad line is then reported and counted
         * as malformed, and the good lines after it still count -- rather
         * than one error that ends the whole input. */
        report(st, 1, 1,
               "cannot tell the input format from the name or content; reading it as line protocol "
               "(pass --format lp|prom|csv|csvlong|syslog|json|text)");
        f = MEND_FMT_LP;
    }
    struct mend_ingest_opts o = s->conf.ingest;
    if (st->flags & MEND_STREAM_OWN_LP)
        o.precision_ns = 1; /* the kind writes ns timestamps */
    return mend_parser_new(f, &o, &st->parser);
}

/* A feed/finish code: MEND_ENOMEM stops everything; anything else (a queue
 * or host cap) loses the rest of that chunk, so it is counted and reported
 * where it happened, and the stream goes on. */
static int feed_rc(struct mend_stream *st, int rc)
{
    char why[96];
    struct mend_parse_stats ps;
    if (rc == MEND_OK || rc == MEND_ENOMEM)
        return rc;
    st->in->set->st.feed_failed++;
    mend_parser_stats(st->parser, &ps);
    snprintf(why, sizeof why, "samples dropped: %s", mend_strerror(rc));
    report(st, ps.lines ? ps.lines : 1, 1, why);
    return MEND_OK;
}

static int feed(struct mend_stream *st, const char *buf, size_t len)
{
    struct mend_sink k;
    int rc = ensure_parser(st, buf, len);
    if (rc < 0 || !st->parser)
        return rc;
    if (st->has_time)
        mend_parser_set_default_time(st->parser, st->time_ns);
    else if (st->in->set->conf.stamp_arrival)
        mend_parser_set_default_time(st->parser, realtime_ns());
    sink_of(st, &k);
    return feed_rc(st, mend_parser_feed(st->parser, buf, len, &k));
}

static int finish(struct mend_stream *st)
{
    struct mend_sink k;
    if (st->finished)
        return MEND_OK;
    st->finished = 1;
    if (!st->parser)
        return MEND_OK;
    if (st->mid_line && (!(st->flags & MEND_STREAM_EOF_ENDS_LINE) || st->ended > 1)) {
        struct mend_parse_stats ps;
        mend_parser_stats(st->parser, &ps);
        st->in->set->st.truncated++;
        report(st, ps.lines + 1, 1, "line cut off by the end of the connection: truncated, dropped");
        return MEND_OK;
    }
    sink_of(st, &k);
    return feed_rc(st, mend_parser_finish(st->parser, &k));
}

int mend_stream_open(struct mend_input *in, const char *name, unsigned flags, struct mend_stream **out)
{
    struct mend_inputs *s = in->set;
    struct mend_stream *st;
    *out = NULL;
    if (s->n_streams >= MEND_INPUTS_MAX_STREAMS)
        return MEND_ECAP;
    if (s->conf.merge && in->mstream)
        return MEND_EINVAL;
    st = calloc(1, sizeof *st);
    if (!st)
        return MEND_ENOMEM;
    st->name = strdup(name ? name : "?");
    if (!st->name) {
        free(st);
        return MEND_ENOMEM;
    }
    st->in = in;
    st->flags = flags;
    if (flags & MEND_STREAM_SYSLOG) {
        if (!(st->frame = malloc(sizeof *st->frame))) {
            free(st->name);
            free(st);
            return MEND_ENOMEM;
        }
        mend_syslog_frame_init(st->frame, (flags & MEND_STREAM_DGRAM) != 0);
    }
    if (s->conf.merge) {
        st->queued = 1; /* pend is allocated with the first bytes */
        in->mstream = st;
    }
    s->n_streams++;
    s->st.streams++;
    *out = st;
    return MEND_OK;
}

static int stream_bytes(struct mend_stream *st, const char *buf, size_t len);

static int framed_bytes(void *ctx, const char *buf, size_t len)
{
    return stream_bytes(ctx, buf, len);
}

int mend_stream_data(struct mend_stream *st, const char *buf, size_t len)
{
    if (!st || st->ended || len == 0)
        return MEND_OK;
    if (st->frame)
        return mend_syslog_frame_feed(st->frame, buf, len, framed_bytes, st);
    return stream_bytes(st, buf, len);
}

static int stream_bytes(struct mend_stream *st, const char *buf, size_t len)
{
    if (len == 0)
        return MEND_OK;
    st->mid_line = buf[len - 1] != '\n';
    /* per-input counts for /metrics: newlines are counted here, once per
     * byte, whatever the format (a memchr pass: cheap next to parsing) */
    st->in->bytes += len;
    for (const char *p = buf, *end = buf + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        st->in->lines++;
    if (!st->queued)
        return feed(st, buf, len);
    /* merge: keep the chunk; mend_stream_peek parses it as asked */
    if (st->pend_off < st->pend_len) {
        /* the kind gave bytes before the last were parsed: parse them now */
        int rc = feed(st, st->pend + st->pend_off, st->pend_len - st->pend_off);
        st->pend_off = st->pend_len = 0;
        if (rc < 0)
            return rc;
    }
    if (!st->pend && !(st->pend = malloc(MEND_INPUTS_SOCK_CHUNK)))
        return MEND_ENOMEM;
    while (len > MEND_INPUTS_SOCK_CHUNK) { /* more than one pend: parse the head now */
        int rc = feed(st, buf, MEND_INPUTS_SOCK_CHUNK);
        if (rc < 0)
            return rc;
        buf += MEND_INPUTS_SOCK_CHUNK;
        len -= MEND_INPUTS_SOCK_CHUNK;
    }
    memcpy(st->pend, buf, len);
    st->pend_len = len;
    st->pend_off = 0;
    return MEND_OK;
}

int mend_stream_record_end(struct mend_stream *st)
{
    struct mend_sink k;
    if (!st || st->ended || !st->parser)
        return MEND_OK;
    if (st->queued && st->pend_off < st->pend_len) {
        int rc = feed(st, st->pend + st->pend_off, st->pend_len - st->pend_off);
        st->pend_off = st->pend_len = 0;
        if (rc < 0)
            return rc;
    }
    st->mid_line = 0;
    sink_of(st, &k);
    return feed_rc(st, mend_parser_finish(st->parser, &k));
}

int mend_stream_end(struct mend_stream *st, int cut)
{
    if (!st || st->ended)
        return MEND_OK;
    st->ended = cut ? 2 : 1;
    if (st->queued && st->pend_off < st->pend_len)
        return MEND_OK; /* finished once the kept bytes are parsed */
    return finish(st);
}

void mend_stream_free(struct mend_stream *st)
{
    if (!st)
        return;
    if (!st->ended) {
        st->ended = 2;
        st->pend_off = st->pend_len = 0;
        (void)finish(st);
    }
    if (st->in->mstream == st)
        st->in->mstream = NULL;
    st->in->set->n_streams--;
    mend_parser_free(st->parser);
    free(st->pend);
    free(st->q);
    free(st->arena);
    free(st->frame);
    free(st->name);
    free(st);
}

const char *mend_stream_name(const struct mend_stream *st)
{
    return st ? st->name : "";
}

void mend_stream_error(struct mend_stream *st, const char *reason)
{
    report(st, 0, 0, reason);
}

void mend_stream_set_time(struct mend_stream *st, int64_t t_ns)
{
    st->has_time = 1;
    st->time_ns = t_ns;
}

int mend_stream_queued(const struct mend_stream *st)
{
    return st ? st->queued : 0;
}

/* Parses the next line of pend (up to and including its newline, or the
 * rest). Returns 1 when bytes were parsed, 0 when pend is empty, or < 0. */
static int parse_line(struct mend_stream *st)
{
    if (st->pend_off >= st->pend_len)
        return 0;
    const char *b = st->pend + st->pend_off;
    size_t n = st->pend_len - st->pend_off;
    const char *nl = memchr(b, '\n', n);
    size_t take = nl ? (size_t)(nl - b) + 1 : n;
    st->pend_off += take;
    if (st->pend_off == st->pend_len)
        st->pend_off = st->pend_len = 0;
    int rc = feed(st, b, take);
    return rc < 0 ? rc : 1;
}

int mend_stream_peek(struct mend_stream *st, int (*more)(void *ctx), void *ctx, int64_t *t_ns)
{
    if (!st || !st->queued)
        return MEND_EINVAL;
    for (;;) {
        if (st->q_head < st->q_len) {
            const struct qpoint *qp = &st->q[st->q_head];
            *t_ns = qp->has_time ? qp->time_ns : INT64_MIN;
            return MEND_OK;
        }
        int rc = parse_line(st);
        if (rc < 0)
            return rc;
        if (rc > 0)
            continue;
        if (st->ended) {
            if (!st->finished) {
                if ((rc = finish(st)) < 0)
                    return rc;
                continue;
            }
            return MEND_ENOTFOUND;
        }
        if ((rc = more(ctx)) < 0)
            return rc;
    }
}

int mend_stream_pop(struct mend_stream *st, const struct mend_input_host *host)
{
    if (st->q_head >= st->q_len)
        return MEND_ENOTFOUND;
    const struct qpoint *qp = &st->q[st->q_head++];
    struct mend_point p;
    p.key = st->arena + qp->key;
    p.key_len = qp->key_len;
    p.entity = qp->has_ent ? st->arena + qp->ent : NULL;
    p.entity_len = qp->ent_len;
    p.time_ns = qp->time_ns;
    p.has_time = qp->has_time;
    p.value = qp->value;
    p.kind = qp->kind;
    int rc = host->point(host->ctx, &p);
    if (st->q_head == st->q_len) /* drained: the arena starts over */
        st->q_head = st->q_len = st->arena_len = 0;
    return feed_rc(st, rc);
}

int mend_stream_go_direct(struct mend_stream *st)
{
    int rc;
    const struct mend_input_host *h = &st->in->set->host;
    while (st->q_head < st->q_len)
        if ((rc = mend_stream_pop(st, h)) < 0)
            return rc;
    st->queued = 0;
    if (st->pend_off < st->pend_len) {
        rc = feed(st, st->pend + st->pend_off, st->pend_len - st->pend_off);
        st->pend_off = st->pend_len = 0;
        if (rc < 0)
            return rc;
    }
    if (st->ended)
        return finish(st);
    return MEND_OK;
}
