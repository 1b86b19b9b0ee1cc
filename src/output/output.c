/* output.c -- the set of incident outputs (see output.h). This folder,
 * src/output/, holds everything that consumes incidents: the set and its
 * spools here, the shared JSON writers (json.c), and one file per shipped
 * output kind (jsonl.c, table.c). Outputs that live elsewhere (the
 * localiser, rules, Redis) plug in through the same ops table.
 *
 * Each output owns a ring of spooled changes (deep copies) that it answered
 * RETRY for. The ring is offered again, oldest first, before anything newer,
 * so per-output order is emission order; it is capped by items and bytes,
 * and overflow drops the oldest change. */
#include "mend/output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spool_item {
    char status[8];
    struct mend_incident *inc; /* deep copy, owned */
    char *json;                /* owned, len bytes, NUL-terminated */
    size_t len;
    size_t bytes;              /* accounted size of the whole item */
};

struct output {
    const struct mend_output_ops *ops;
    void *inst;
    int open;
    struct spool_item *ring;
    uint32_t head, n, cap;
    size_t bytes;
    struct mend_output_stats st;
};

struct mend_outputs {
    struct mend_outputs_conf conf;
    struct mend_output_report report;
    struct output out[MEND_OUTPUTS_MAX];
    size_t n;
};

void mend_outputs_conf_defaults(struct mend_outputs_conf *c)
{
    c->spool_max_items = 4096;
    c->spool_max_bytes = (size_t)16 << 20;
}

int mend_outputs_new(const struct mend_outputs_conf *c, const struct mend_output_report *report,
                     struct mend_outputs **res)
{
    *res = NULL;
    if (!c || c->spool_max_items == 0 || c->spool_max_bytes == 0)
        return MEND_EINVAL;
    struct mend_outputs *o = calloc(1, sizeof *o);
    if (!o)
        return MEND_ENOMEM;
    o->conf = *c;
    if (report)
        o->report = *report;
    *res = o;
    return MEND_OK;
}

static void report(struct mend_outputs *o, struct output *out, int code, uint64_t count, const char *fmt,
                   const char *status, const struct mend_incident *inc)
{
    if (!o->report.fn)
        return;
    const char *why = out->ops->last_error && out->open ? out->ops->last_error(out->inst) : NULL;
    char msg[512];
    snprintf(msg, sizeof msg, "%s (incident %" PRIu64 " %s): %s", fmt, inc ? inc->id : 0, status ? status : "-",
             why && code != MEND_ECAP ? why : mend_strerror(code));
    o->report.fn(o->report.ctx, out->ops->name, code, count, msg);
}

static size_t item_bytes(const struct mend_incident *inc, size_t len)
{
    size_t b = sizeof(struct spool_item) + len + 1 + sizeof *inc + strlen(inc->entity ? inc->entity : "") + 1;
    for (uint32_t i = 0; i < inc->n_signals; i++)
        b += sizeof inc->signals[i] + strlen(inc->signals[i].key) + 1;
    return b;
}

static void item_free(struct spool_item *it)
{
    mend_incident_free(it->inc);
    free(it->json);
    memset(it, 0, sizeof *it);
}

static void spool_pop(struct output *out)
{
    struct spool_item *it = &out->ring[out->head];
    out->bytes -= it->bytes;
    item_free(it);
    out->head = out->head + 1 == out->cap ? 0 : out->head + 1;
    out->n--;
    out->st.spool_items = out->n;
    out->st.spool_bytes = out->bytes;
}

/* Makes room for one more item, doubling the ring up to the item cap. */
static int spool_reserve(struct mend_outputs *o, struct output *out)
{
    if (out->n < out->cap)
        return MEND_OK;
    uint32_t max = o->conf.spool_max_items;
    uint32_t cap = out->cap == 0 ? (max < 16 ? max : 16) : out->cap > max / 2 ? max : out->cap * 2;
    struct spool_item *r = calloc(cap, sizeof *r);
    if (!r)
        return MEND_ENOMEM;
    for (uint32_t i = 0; i < out->n; i++)
        r[i] = out->ring[(out->head + i) % out->cap];
    free(out->ring);
    out->ring = r;
    out->cap = cap;
    out->head = 0;
    return MEND_OK;
}

static void spool_drop_oldest(struct mend_outputs *o, struct output *out)
{
    struct spool_item *it = &out->ring[out->head];
    out->st.dropped++;
    report(o, out, MEND_ECAP, out->st.dropped, "spool full, oldest change dropped", it->status, it->inc);
    spool_pop(out);
}

static void spool_push(struct mend_outputs *o, struct output *out, const char *status,
                       const struct mend_incident *inc, const char *json, size_t len)
{
    size_t bytes = item_bytes(inc, len);
    if (bytes > o->conf.spool_max_bytes) {
        /* larger than the whole spool: it can only be dropped */
        out->st.dropped++;
        report(o, out, MEND_ECAP, out->st.dropped, "change larger than the spool, dropped", status, inc);
        return;
    }
    while (out->n && (out->n >= o->conf.spool_max_items || out->bytes + bytes > o->conf.spool_max_bytes))
        spool_drop_oldest(o, out);
    struct spool_item it;
    memset(&it, 0, sizeof it);
    snprintf(it.status, sizeof it.status, "%s", status);
    it.len = len;
    it.bytes = bytes;
    it.json = malloc(len + 1);
    int rc = it.json ? mend_incident_copy(inc, &it.inc) : MEND_ENOMEM;
    if (rc == MEND_OK)
        rc = spool_reserve(o, out);
    if (rc != MEND_OK) {
        item_free(&it);
        out->st.errors++;
        out->st.last_error = rc;
        report(o, out, rc, out->st.errors, "cannot spool change, lost", status, inc);
        return;
    }
    memcpy(it.json, json, len);
    it.json[len] = '\0';
    out->ring[(out->head + out->n) % out->cap] = it;
    out->n++;
    out->bytes += bytes;
    out->st.spooled++;
    out->st.spool_items = out->n;
    out->st.spool_bytes = out->bytes;
}

/* One offer; counts the answer. Returns OK, RETRY or the error code. */
static int deliver(struct mend_outputs *o, struct output *out, const char *status,
                   const struct mend_incident *inc, const char *json, size_t len)
{
    int rc = out->ops->incident(out->inst, status, inc, json, len);
    if (rc == MEND_OUTPUT_OK) {
        out->st.delivered++;
    } else if (rc == MEND_OUTPUT_RETRY) {
        out->st.retries++;
    } else {
        if (rc > 0)
            rc = MEND_EINVAL; /* not an answer the contract knows */
        out->st.errors++;
        out->st.last_error = rc;
        report(o, out, rc, out->st.errors, "change lost", status, inc);
    }
    return rc;
}

/* Offers the spool, oldest first, up to the first RETRY. Returns RETRY
 * when something is still waiting, else the last error or OK. */
static int drain(struct mend_outputs *o, struct output *out)
{
    int last = MEND_OK;
    while (out->n) {
        struct spool_item *it = &out->ring[out->head];
        int rc = deliver(o, out, it->status, it->inc, it->json, it->len);
        if (rc == MEND_OUTPUT_RETRY)
            return rc;
        if (rc != MEND_OK)
            last = rc;
        spool_pop(out);
    }
    return last;
}

void mend_outputs_free(struct mend_outputs *o)
{
    if (!o)
        return;
    mend_outputs_close(o);
    for (size_t i = 0; i < o->n; i++)
        free(o->out[i].ring);
    free(o);
}

int mend_outputs_add(struct mend_outputs *o, const struct mend_output_ops *ops, const void *conf, size_t *index,
                     char *err, size_t errlen)
{
    if (!ops || !ops->name || !ops->open || !ops->incident) {
        snprintf(err, errlen, "output: incomplete ops table");
        return MEND_EINVAL;
    }
    if (o->n >= MEND_OUTPUTS_MAX) {
        snprintf(err, errlen, "output %s: at most %d outputs", ops->name, MEND_OUTPUTS_MAX);
        return MEND_ECAP;
    }
    struct output *out = &o->out[o->n];
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    int rc = ops->open(conf, &out->inst, err, errlen);
    if (rc != MEND_OK) {
        if (!err[0])
            snprintf(err, errlen, "output %s: %s", ops->name, mend_strerror(rc));
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->ops = ops;
    out->open = 1;
    out->st.name = ops->name;
    if (index)
        *index = o->n;
    o->n++;
    return MEND_OK;
}

int mend_outputs_emit(struct mend_outputs *o, const char *status, const struct mend_incident *inc,
                      const char *json, size_t len)
{
    int last = MEND_OK;
    for (size_t i = 0; i < o->n; i++) {
        struct output *out = &o->out[i];
        if (!out->open)
            continue;
        int rc = drain(o, out);
        if (rc != MEND_OUTPUT_RETRY) {
            if (rc != MEND_OK)
                last = rc;
            rc = deliver(o, out, status, inc, json, len);
        }
        if (rc == MEND_OUTPUT_RETRY)
            spool_push(o, out, status, inc, json, len);
        else if (rc != MEND_OK)
            last = rc;
    }
    return last;
}

int mend_outputs_retry(struct mend_outputs *o)
{
    int last = MEND_OK, waiting = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (!o->out[i].open)
            continue;
        int rc = drain(o, &o->out[i]);
        if (rc == MEND_OUTPUT_RETRY)
            waiting = 1;
        else if (rc != MEND_OK)
            last = rc;
    }
    return last != MEND_OK ? last : waiting ? MEND_EAGAIN : MEND_OK;
}

/* The output's own flush, answer counted like a delivery's. */
static int flush_one(struct mend_outputs *o, struct output *out)
{
    if (!out->ops->flush)
        return MEND_OK;
    int rc = out->ops->flush(out->inst);
    if (rc != MEND_OK && rc != MEND_OUTPUT_RETRY) {
        if (rc > 0)
            rc = MEND_EINVAL;
        out->st.errors++;
        out->st.last_error = rc;
        report(o, out, rc, out->st.errors, "flush failed", NULL, NULL);
    }
    return rc;
}

int mend_outputs_flush(struct mend_outputs *o)
{
    int rc = mend_outputs_retry(o), waiting = rc == MEND_EAGAIN;
    int last = rc == MEND_EAGAIN ? MEND_OK : rc;
    for (size_t i = 0; i < o->n; i++) {
        if (!o->out[i].open)
            continue;
        int f = flush_one(o, &o->out[i]);
        if (f == MEND_OUTPUT_RETRY)
            waiting = 1;
        else if (f != MEND_OK)
            last = f;
    }
    return last != MEND_OK ? last : waiting ? MEND_EAGAIN : MEND_OK;
}

int mend_outputs_close(struct mend_outputs *o)
{
    int lost = 0;
    for (size_t i = 0; i < o->n; i++) {
        struct output *out = &o->out[i];
        if (!out->open)
            continue;
        drain(o, out);
        int f = flush_one(o, out);
        if (f == MEND_OUTPUT_RETRY) {
            /* the output still holds data it could not push out */
            out->st.lost_at_close++;
            report(o, out, f, out->st.lost_at_close, "unflushed data lost at close", NULL, NULL);
            lost = 1;
        }
        while (out->n) {
            struct spool_item *it = &out->ring[out->head];
            out->st.lost_at_close++;
            report(o, out, MEND_EAGAIN, out->st.lost_at_close, "still spooled at close, lost", it->status,
                   it->inc);
            spool_pop(out);
            lost = 1;
        }
        if (out->ops->close)
            out->ops->close(out->inst);
        out->inst = NULL;
        out->open = 0;
    }
    return lost ? MEND_EAGAIN : MEND_OK;
}

size_t mend_outputs_count(const struct mend_outputs *o)
{
    return o->n;
}

int mend_outputs_stats(const struct mend_outputs *o, size_t index, struct mend_output_stats *st)
{
    if (index >= o->n)
        return MEND_ENOTFOUND;
    *st = o->out[index].st;
    return MEND_OK;
}

int mend_outputs_reopen(struct mend_outputs *o, char *err, size_t errlen)
{
    int last = MEND_OK;
    for (size_t i = 0; i < o->n; i++) {
        struct output *out = &o->out[i];
        if (!out->open || !out->ops->reopen)
            continue;
        char e[512] = "";
        int rc = out->ops->reopen(out->inst, e, sizeof e);
        if (rc != MEND_OK) {
            snprintf(err, errlen, "output %s: %s", out->ops->name, e[0] ? e : mend_strerror(rc));
            last = rc;
        }
    }
    return last;
}
