/* input.c -- the input set (see input.h). src/input/ holds where samples
 * come from: this file (the set, kind lookup, the event-time merge), stream.c
 * (bytes -> parser -> points, the merge queue), one in_*.c per kind and
 * input_net.c (socket helpers of the tcp and udp kinds).
 *
 * The set never looks at what kind an input is: it finds the kind by asking
 * each ops table whether it claims the spec, then only calls the ops. The
 * merge asks every unfinished input for the time of its next sample
 * (peek_time, cached until that sample is taken) and delivers the oldest;
 * ties go to the input added first, so the order is a function of the data
 * and the command line alone. */
#include "input_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void mend_input_conf_defaults(struct mend_input_conf *c)
{
    memset(c, 0, sizeof *c);
    c->max_conns = MEND_INPUTS_DEFAULT_MAX_CONNS;
    c->idle_timeout_ns = MEND_INPUTS_DEFAULT_IDLE_NS;
    c->accept_pause_ns = MEND_INPUTS_DEFAULT_ACCEPT_PAUSE_NS;
    mend_ingest_opts_defaults(&c->ingest);
}

int mend_inputs_new(const struct mend_input_conf *conf, struct mend_loop *loop,
                    const struct mend_input_host *host, struct mend_inputs **out)
{
    struct mend_inputs *s;
    if (!out)
        return MEND_EINVAL;
    *out = NULL;
    if (!conf || !loop || !host || !host->point || conf->max_conns == 0 || conf->idle_timeout_ns < 0 ||
        conf->accept_pause_ns < 0)
        return MEND_EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    s->conf = *conf;
    s->conf.format = NULL; /* not kept: parsed here */
    if (conf->format && conf->format[0]) {
        if (mend_format_parse(conf->format, &s->fmt) != MEND_OK) {
            free(s);
            return MEND_EINVAL;
        }
        s->fmt_given = 1;
    }
    s->host = *host;
    s->loop = loop;
    s->buf = malloc(MEND_INPUTS_FILE_CHUNK);
    if (!s->buf) {
        free(s);
        return MEND_ENOMEM;
    }
    /* built-in kinds last, so registered ones can claim a spec first; the
     * file kind claims anything without a scheme */
    s->kinds[0] = &mend_input_tcp_ops;
    s->kinds[1] = &mend_input_udp_ops;
    s->kinds[2] = &mend_input_file_ops;
    s->n_kinds = 3;
    *out = s;
    return MEND_OK;
}

static void input_close(struct mend_input *in)
{
    if (in->ops && in->ops->close)
        in->ops->close(in);
    if (in->timer_id)
        mend_loop_timer_del(in->set->loop, in->timer_id);
    in->timer_id = 0;
    in->ops = NULL;
    in->ended = 1;
}

void mend_inputs_free(struct mend_inputs *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_in; i++) {
        input_close(s->in[i]);
        free(s->in[i]->spec);
        free(s->in[i]);
    }
    free(s->in);
    free(s->buf);
    free(s);
}

int mend_inputs_register(struct mend_inputs *s, const struct mend_input_ops *ops)
{
    if (!s || !ops || !ops->claims || !ops->open || !ops->on_fd || !ops->close)
        return MEND_EINVAL;
    if (s->n_kinds >= sizeof s->kinds / sizeof s->kinds[0])
        return MEND_ECAP;
    memmove(s->kinds + 1, s->kinds, s->n_kinds * sizeof s->kinds[0]);
    s->kinds[0] = ops;
    s->n_kinds++;
    return MEND_OK;
}

/* A new instance slot, not yet in the set. */
static int input_alloc(struct mend_inputs *s, const char *spec, const struct mend_input_ops *ops,
                       struct mend_input **out)
{
    struct mend_input *in;
    if (s->n_in >= MEND_INPUTS_MAX)
        return MEND_ECAP;
    if (s->n_in == s->cap_in) {
        size_t cap = s->cap_in ? s->cap_in * 2 : 8;
        struct mend_input **p = realloc(s->in, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        s->in = p;
        s->cap_in = cap;
    }
    in = calloc(1, sizeof *in);
    if (!in)
        return MEND_ENOMEM;
    in->spec = strdup(spec);
    if (!in->spec) {
        free(in);
        return MEND_ENOMEM;
    }
    in->ops = ops;
    in->set = s;
    in->pull_fd = -1;
    *out = in;
    return MEND_OK;
}

/* Keeps an opened instance, or releases a failed one. */
static int input_commit(struct mend_inputs *s, struct mend_input *in, int rc)
{
    if (rc < 0) {
        if (in->timer_id)
            mend_loop_timer_del(s->loop, in->timer_id);
        free(in->spec);
        free(in);
        return rc;
    }
    s->in[s->n_in++] = in;
    return MEND_OK;
}

int mend_inputs_add(struct mend_inputs *s, const char *spec, char *err, size_t errlen)
{
    return mend_inputs_add_arg(s, spec, NULL, err, errlen);
}

const void *mend_input_arg(const struct mend_input *in)
{
    return in->arg;
}

int mend_inputs_add_arg(struct mend_inputs *s, const char *spec, const void *arg, char *err, size_t errlen)
{
    const struct mend_input_ops *ops = NULL;
    struct mend_input *in;
    int rc;
    mend_set_err(err, errlen, "%s", "");
    if (!s || !spec || !*spec) {
        mend_set_err(err, errlen, "empty input spec");
        return MEND_EINVAL;
    }
    for (size_t i = 0; i < s->n_kinds && !ops; i++)
        if (s->kinds[i]->claims(spec))
            ops = s->kinds[i];
    if (!ops) {
        /* name the kinds there are, so the message stays true as kinds plug in */
        char kinds[256] = "";
        size_t o = 0;
        for (size_t i = 0; i < s->n_kinds && o < sizeof kinds; i++) {
            int w = snprintf(kinds + o, sizeof kinds - o, "%s%s", i ? ", " : "", s->kinds[i]->kind);
            o += w > 0 ? (size_t)w : 0;
        }
        mend_set_err(err, errlen, "%s: no input kind takes this (kinds: %s)", spec, kinds);
        return MEND_EINVAL;
    }
    if (s->conf.merge && !ops->peek_time) {
        mend_set_err(err, errlen, "%s: a %s input is live only: it cannot be replayed", spec, ops->kind);
        return MEND_EINVAL;
    }
    if ((rc = input_alloc(s, spec, ops, &in)) < 0) {
        mend_set_err(err, errlen, "%s: %s", spec, mend_strerror(rc));
        return rc;
    }
    in->arg = arg;
    rc = ops->open(in, spec, err, errlen);
    if (rc < 0 && err && errlen && !err[0])
        mend_set_err(err, errlen, "%s: %s", spec, mend_strerror(rc));
    return input_commit(s, in, rc);
}

int mend_inputs_add_fd(struct mend_inputs *s, int fd, const char *name, int owned, char *err, size_t errlen)
{
    struct mend_input *in;
    int rc;
    mend_set_err(err, errlen, "%s", "");
    if (!s || fd < 0 || !name) {
        mend_set_err(err, errlen, "%s: invalid fd", name ? name : "(null)");
        return MEND_EINVAL;
    }
    if ((rc = input_alloc(s, name, &mend_input_file_ops, &in)) < 0) {
        mend_set_err(err, errlen, "%s: %s", name, mend_strerror(rc));
        return rc;
    }
    rc = mend_input_file_open_fd(in, fd, name, owned, err, errlen);
    return input_commit(s, in, rc);
}

/* ---- driving -------------------------------------------------------------- */

/* Merge mode: delivers up to budget samples, oldest first. */
static int merge_step(struct mend_inputs *s, size_t budget)
{
    size_t done = 0;
    while (done < budget) {
        struct mend_input *best = NULL;
        size_t active = 0;
        int rc;
        for (size_t i = 0; i < s->n_in; i++) {
            struct mend_input *in = s->in[i];
            if (in->exhausted)
                continue;
            if (in->direct) { /* the fast path: the last input, read on */
                best = in;
                active = 1;
                break;
            }
            if (!in->head_ok) {
                rc = in->ops->peek_time(in, &in->head);
                if (rc == MEND_ENOTFOUND) {
                    in->exhausted = 1;
                    continue;
                }
                if (rc == MEND_EAGAIN) /* no sample may go before this input's next */
                    return done > 0;
                if (rc < 0)
                    return rc;
                in->head_ok = 1;
            }
            active++;
            if (!best || in->head < best->head)
                best = in;
        }
        if (!best)
            break;
        if (active == 1 && !best->direct && best->mstream) {
            /* one input left: its queue is delivered, then bytes go straight
             * to its parser */
            if ((rc = mend_stream_go_direct(best->mstream)) < 0)
                return rc;
            best->direct = 1;
            best->head_ok = 0;
            done++;
            continue;
        }
        if (best->direct) {
            if (best->ended || best->pull_fd < 0) {
                best->exhausted = 1;
                continue;
            }
            rc = best->ops->on_fd(best, best->pull_fd, MEND_LOOP_READ);
            if (rc == MEND_EAGAIN)
                return done > 0;
            if (rc < 0)
                return rc;
            done += 1024; /* a chunk counts as many samples */
            continue;
        }
        best->head_ok = 0;
        if (!best->mstream) { /* a kind that peeks without a stream: nothing to take */
            best->exhausted = 1;
            continue;
        }
        rc = mend_stream_pop(best->mstream, &s->host);
        if (rc < 0 && rc != MEND_ENOTFOUND)
            return rc;
        done++;
    }
    return done > 0;
}

int mend_inputs_step(struct mend_inputs *s, size_t budget)
{
    if (!s)
        return MEND_EINVAL;
    if (s->conf.merge)
        return merge_step(s, budget ? budget : 1);
    for (size_t i = 0; i < s->n_in; i++) {
        struct mend_input *in = s->in[i];
        if (in->ended || in->pull_fd < 0)
            continue;
        int rc = in->ops->on_fd(in, in->pull_fd, MEND_LOOP_READ);
        return rc == MEND_EAGAIN ? 0 : rc < 0 ? rc : 1;
    }
    return 0;
}

int mend_inputs_pending(const struct mend_inputs *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < s->n_in; i++) {
        const struct mend_input *in = s->in[i];
        if (s->conf.merge ? !in->exhausted : !in->ended && in->pull_fd >= 0)
            return 1;
    }
    return 0;
}

int mend_inputs_done(const struct mend_inputs *s)
{
    if (!s)
        return 1;
    for (size_t i = 0; i < s->n_in; i++) {
        const struct mend_input *in = s->in[i];
        if (s->conf.merge ? !in->exhausted : !in->ended)
            return 0;
    }
    return 1;
}

int mend_inputs_shutdown(struct mend_inputs *s)
{
    if (!s)
        return MEND_OK;
    int rc = MEND_OK;
    for (size_t i = 0; i < s->n_in; i++) {
        struct mend_input *in = s->in[i];
        if (in->ops && in->ops->drain && !in->ended) {
            int r = in->ops->drain(in);
            if (r < 0 && rc == MEND_OK)
                rc = r;
        }
        if (in->ops && in->ops->checkpoint) {
            /* it acknowledges on the final checkpoint, after this: close at free */
            in->ended = 1;
            continue;
        }
        input_close(in);
    }
    return rc;
}

size_t mend_inputs_count(const struct mend_inputs *s)
{
    return s ? s->n_in : 0;
}

int mend_inputs_counts(const struct mend_inputs *s, size_t idx, const char **spec, uint64_t *bytes,
                       uint64_t *lines)
{
    if (!s || idx >= s->n_in)
        return MEND_ENOTFOUND;
    *spec = s->in[idx]->spec;
    *bytes = s->in[idx]->bytes;
    *lines = s->in[idx]->lines;
    return MEND_OK;
}

int mend_inputs_port(const struct mend_inputs *s, size_t idx, int *port)
{
    size_t k = 0;
    if (!s || !port)
        return MEND_EINVAL;
    for (size_t i = 0; i < s->n_in; i++) {
        if (!s->in[i]->has_port)
            continue;
        if (k++ == idx) {
            *port = s->in[i]->port;
            return MEND_OK;
        }
    }
    return MEND_ENOTFOUND;
}

void mend_inputs_stats(const struct mend_inputs *s, struct mend_inputs_stats *out)
{
    if (!out)
        return;
    if (!s) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->st;
}

void mend_inputs_checkpoint(struct mend_inputs *s, int phase, uint64_t gen)
{
    for (size_t i = 0; i < s->n_in; i++)
        if (s->in[i]->ops && s->in[i]->ops->checkpoint)
            s->in[i]->ops->checkpoint(s->in[i], phase, gen);
}

struct mend_input *mend_inputs_of_kind(struct mend_inputs *s, const struct mend_input_ops *ops, size_t idx)
{
    for (size_t i = 0; i < s->n_in; i++)
        if (s->in[i]->ops == ops && idx-- == 0)
            return s->in[i];
    return NULL;
}

const char *mend_inputs_last_error(const struct mend_inputs *s)
{
    return s ? s->last_error : "";
}

/* ---- services for kinds --------------------------------------------------- */

void mend_input_set_priv(struct mend_input *in, void *priv)
{
    in->priv = priv;
}

void *mend_input_priv(const struct mend_input *in)
{
    return in->priv;
}

const struct mend_input_conf *mend_input_conf(const struct mend_input *in)
{
    return &in->set->conf;
}

struct mend_loop *mend_input_loop(const struct mend_input *in)
{
    return in->set->loop;
}

int mend_input_merging(const struct mend_input *in)
{
    return in->set->conf.merge;
}

char *mend_input_buf(const struct mend_input *in, size_t *cap)
{
    if (cap)
        *cap = MEND_INPUTS_FILE_CHUNK;
    return in->set->buf;
}

struct mend_inputs_stats *mend_input_stats(struct mend_input *in)
{
    return &in->set->st;
}

static int watch_cb(struct mend_loop *l, int fd, unsigned events, void *ctx)
{
    struct mend_input *in = ctx;
    (void)l;
    if (!in->ops)
        return MEND_OK;
    int rc = in->ops->on_fd(in, fd, events);
    return rc == MEND_EAGAIN ? MEND_OK : rc;
}

int mend_input_watch(struct mend_input *in, int fd)
{
    struct stat st;
    if (fd < 0)
        return MEND_EINVAL;
    if (in->set->conf.merge || (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))) {
        if (in->pull_fd >= 0)
            return MEND_EINVAL; /* one pulled fd per input */
        in->pull_fd = fd;
        return MEND_OK;
    }
    int rc = mend_loop_add_fd(in->set->loop, fd, MEND_LOOP_READ, watch_cb, in);
    if (rc == MEND_EINVAL && in->pull_fd < 0 && fstat(fd, &st) == 0 && S_ISCHR(st.st_mode)) {
        /* epoll refuses it (/dev/null, some character devices): such an
         * fd is always ready, so read it like a file */
        in->pull_fd = fd;
        return MEND_OK;
    }
    return rc;
}

void mend_input_unwatch(struct mend_input *in, int fd)
{
    if (fd < 0)
        return;
    if (in->pull_fd == fd) {
        in->pull_fd = -1;
        return;
    }
    (void)mend_loop_del_fd(in->set->loop, fd);
}

static int timer_cb(struct mend_loop *l, uint64_t id, void *ctx)
{
    struct mend_input *in = ctx;
    (void)id;
    if (!in->ops || !in->ops->on_timer)
        return MEND_OK;
    return in->ops->on_timer(in, mend_loop_now(l));
}

int mend_input_every(struct mend_input *in, int64_t period_ns)
{
    struct mend_loop *l = in->set->loop;
    int64_t now = mend_loop_now(l);
    if (period_ns <= 0)
        return MEND_EINVAL;
    if (in->timer_id)
        mend_loop_timer_del(l, in->timer_id);
    in->timer_id = 0;
    return mend_loop_timer_add(l, now > INT64_MAX - period_ns ? INT64_MAX : now + period_ns, period_ns,
                               timer_cb, in, &in->timer_id);
}

void mend_input_ended(struct mend_input *in)
{
    in->ended = 1;
}

void mend_input_error(struct mend_input *in, const char *who, const char *what, int eno)
{
    in->set->st.errors++;
    if (eno)
        snprintf(in->set->last_error, sizeof in->set->last_error, "%s: %s: %s", who ? who : in->spec, what,
                 strerror(eno));
    else
        snprintf(in->set->last_error, sizeof in->set->last_error, "%s: %s", who ? who : in->spec, what);
}

void mend_input_set_port(struct mend_input *in, int port)
{
    in->has_port = 1;
    in->port = port;
}
