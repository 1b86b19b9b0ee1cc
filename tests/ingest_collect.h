/* ingest_collect.h -- a sink for the ingest tests that renders every point
 * and error as one text line ("key|entity|time|value" or "E line:col
 * reason"), so a test compares the whole outcome of a parse with one string.
 * Included by the test_ingest_*.c files only. */
#ifndef MEND_TEST_INGEST_COLLECT_H
#define MEND_TEST_INGEST_COLLECT_H

#include <stdarg.h>
#include <stdio.h>

#include "mend/common.h"

struct collect {
    char buf[1 << 17];
    size_t len;
    int stop_after; /* > 0: return MEND_ECAP from the n-th point */
    int npoints;
};

static inline void out(struct collect *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->buf + c->len, sizeof c->buf - c->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof c->buf - c->len);
    c->len += (size_t)n;
}

/* key|entity or -|time or notime|value */
static inline int collect_point(void *ctx, const struct mend_point *p)
{
    struct collect *c = ctx;
    out(c, "%.*s|", (int)p->key_len, p->key);
    if (p->entity)
        out(c, "%.*s|", (int)p->entity_len, p->entity);
    else
        out(c, "-|");
    if (p->has_time)
        out(c, "%lld|", (long long)p->time_ns);
    else
        out(c, "notime|");
    out(c, "%.17g\n", p->value);
    c->npoints++;
    if (c->stop_after && c->npoints == c->stop_after)
        return MEND_ECAP;
    return 0;
}

static inline void on_error(void *ctx, uint64_t line, uint32_t col, const char *reason)
{
    struct collect *c = ctx;
    out(c, "E %llu:%u %s\n", (unsigned long long)line, (unsigned)col, reason);
}

#endif
