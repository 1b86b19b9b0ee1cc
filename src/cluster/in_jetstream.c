/* in_jetstream.c -- src/cluster/ holds what takes mend beyond one machine:
 * this file, the "jetstream" input kind (a durable pull consumer on a NATS
 * JetStream stream, see cluster.h), lease.c (partition leases with a fencing
 * epoch in a JetStream key-value bucket) and cluster_conf.c (the `cluster:`
 * section).
 *
 * Threads: libnats calls block, the loop must not. A worker thread first
 * takes the consumer up -- connect, delete older epochs' consumers, create
 * ours -- while the input is "connecting" and delivers nothing; a failure
 * there is counted, reported through the input's error path, and retried
 * with backoff (100 ms doubling to 5 s), so open never waits for a server.
 * Then it fetches batches (natsSubscription_Fetch with a short timeout,
 * so stopping takes at most that long) into a bounded queue and signals an
 * eventfd the input watches; on_fd, on the loop thread, feeds a bounded
 * number of messages to the stream's parser and then either acknowledges them (ack=now) or holds
 * them for the checkpoint op (ack=checkpoint). Acks are sent from the loop
 * thread; libnats' connection is thread-safe, and its flusher thread writes
 * them out (the loop never waits for a server's answer: no Flush there).
 *
 * Closing never waits for the worker either: a worker caught in a NATS call
 * (the 5 s API timeout while a server is away) is told to stop and left to
 * free the instance itself when the call returns (it then naks what it
 * holds, and makes no consumer: it checks between its calls). Only
 * js_drain (mend_inputs_shutdown: the orderly end of `mend run` and of
 * `mend cluster`) joins it. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cluster_internal.h"

#define JS_QUEUE_MAX 8192        /* fetched messages waiting for the loop */
#define JS_DRAIN_PER_TURN 1024   /* messages fed per on_fd: bounded work per turn */
#define JS_FETCH_TIMEOUT_MS 200  /* a fetch waits this long: bounds the stop time */
#define JS_MARKS_MAX 16          /* checkpoints taken and not yet committed */
#define JS_SERVERS_MAX 8
#define JS_BATCH_MAX 4096
#define JS_BACKOFF_MIN_MS 100    /* first retry of a failed take-up */
#define JS_BACKOFF_MAX_MS 5000   /* ... doubling up to this */

struct js_mark {
    uint64_t gen;
    size_t n; /* held[0..n) are in checkpoint gen */
};

struct js_in {
    natsConnection *nc;
    natsOptions *opts;
    jsCtx *js;
    natsSubscription *sub;
    struct mend_stream *st;
    int efd;
    /* spec */
    char url[512];
    char stream[128], durable[128], subject[256];
    char creds[256], ca[256], cert[256], key[256];
    char replace[128];   /* a consumer to delete first (a takeover's predecessor) */
    char supersedes[128]; /* delete consumers PREFIX<N> with N below ours (PREFIX<M>) */
    int tls, batch, ack_now;
    int64_t ack_wait_s, max_pending;
    int64_t start_seq;   /* > 0: (re)create the consumer to deliver from this stream sequence */
    /* worker <-> loop, under mu (nc, opts, js, sub: the worker's until it
     * is joined or has finished; whoever frees the instance destroys them) */
    pthread_t th;
    int th_started; /* 0 never, 1 running, 2 joined */
    int mu_init;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    natsMsg **q;
    size_t qhead, qn;
    int stop;
    int ready;      /* the consumer is up: fetching */
    int th_done;    /* the worker has returned (the loop joins and frees) */
    int orphan;     /* the loop has closed: the worker frees on its way out */
    uint64_t fetched, redelivered, fetch_errors, setup_errors, lag, pending;
    char werr[200];
    /* loop thread only */
    natsMsg **held;
    size_t n_held, cap_held;
    struct js_mark marks[JS_MARKS_MAX];
    size_t n_marks;
    uint64_t delivered, acked, werr_seen, duplicates;
    uint64_t last_seq; /* highest stream sequence fed to the parser */
};

static int js_claims(const char *spec)
{
    return !strncmp(spec, "jetstream://", 12);
}

static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Strict unsigned decimal in [lo, hi]. */
static int parse_num(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* jetstream://H:P[,H:P]/STREAM/DURABLE[?k=v&...] into t; err names what. */
static int parse_spec(struct js_in *t, const char *spec, char *err, size_t errlen)
{
    const char *p = spec + 12, *slash = strchr(p, '/');
    t->batch = 256;
    t->ack_wait_s = 600;
    t->max_pending = 65536;
    if (!slash || slash == p) {
        snprintf(err, errlen, "%s: want jetstream://HOST:PORT/STREAM/DURABLE", spec);
        return MEND_EINVAL;
    }
    /* servers: "nats://a:1,nats://b:2" for natsOptions_SetServers */
    size_t o = 0;
    int n_srv = 0;
    for (const char *s = p; s < slash;) {
        const char *c = memchr(s, ',', (size_t)(slash - s));
        const char *e = c ? c : slash;
        int w = snprintf(t->url + o, sizeof t->url - o, "%snats://%.*s", n_srv ? "," : "", (int)(e - s), s);
        if (w < 0 || (size_t)w >= sizeof t->url - o || e == s || ++n_srv > JS_SERVERS_MAX) {
            snprintf(err, errlen, "%s: bad or too many servers (at most %d)", spec, JS_SERVERS_MAX);
            return MEND_EINVAL;
        }
        o += (size_t)w;
        s = c ? c + 1 : slash;
    }
    const char *s2 = slash + 1, *slash2 = strchr(s2, '/');
    const char *q = strchr(s2, '?');
    const char *dend = q ? q : s2 + strlen(s2);
    if (!slash2 || slash2 > dend || copy_field(t->stream, sizeof t->stream, s2, (size_t)(slash2 - s2)) ||
        copy_field(t->durable, sizeof t->durable, slash2 + 1, (size_t)(dend - slash2 - 1)) ||
        strpbrk(t->durable, "/.*> ")) {
        snprintf(err, errlen, "%s: want jetstream://HOST:PORT/STREAM/DURABLE (names without / . * > or space)",
                 spec);
        return MEND_EINVAL;
    }
    for (const char *k = q ? q + 1 : NULL; k && *k;) {
        const char *amp = strchr(k, '&'), *end = amp ? amp : k + strlen(k);
        const char *eq = memchr(k, '=', (size_t)(end - k));
        if (!eq) {
            snprintf(err, errlen, "%s: option '%.*s' wants KEY=VALUE", spec, (int)(end - k), k);
            return MEND_EINVAL;
        }
        size_t kl = (size_t)(eq - k), vl = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        int64_t num = 0;
        int bad = 0;
#define KEY(name) (kl == sizeof name - 1 && !memcmp(k, name, kl))
        if (KEY("subject"))
            bad = copy_field(t->subject, sizeof t->subject, v, vl);
        else if (KEY("batch"))
            bad = parse_num(v, vl, 1, JS_BATCH_MAX, &num) || ((t->batch = (int)num), 0);
        else if (KEY("ack"))
            bad = !(vl == 3 && !memcmp(v, "now", 3)) && !(vl == 10 && !memcmp(v, "checkpoint", 10)),
            t->ack_now = vl == 3;
        else if (KEY("ack_wait_s"))
            bad = parse_num(v, vl, 1, 86400 * 7, &t->ack_wait_s);
        else if (KEY("max_pending"))
            bad = parse_num(v, vl, 1, 1000000, &t->max_pending);
        else if (KEY("creds"))
            bad = copy_field(t->creds, sizeof t->creds, v, vl);
        else if (KEY("ca"))
            bad = copy_field(t->ca, sizeof t->ca, v, vl);
        else if (KEY("cert"))
            bad = copy_field(t->cert, sizeof t->cert, v, vl);
        else if (KEY("key"))
            bad = copy_field(t->key, sizeof t->key, v, vl);
        else if (KEY("start_seq"))
            bad = parse_num(v, vl, 1, INT64_MAX / 16, &t->start_seq);
        else if (KEY("replace"))
            bad = copy_field(t->replace, sizeof t->replace, v, vl) || strpbrk(t->replace, "/.*> ");
        else if (KEY("supersedes"))
            bad = copy_field(t->supersedes, sizeof t->supersedes, v, vl) || strpbrk(t->supersedes, "/.*> ");
        else if (KEY("tls"))
            bad = parse_num(v, vl, 0, 1, &num) || ((t->tls = (int)num), 0);
        else {
            snprintf(err, errlen, "%s: unknown option '%.*s'", spec, (int)kl, k);
            return MEND_EINVAL;
        }
#undef KEY
        if (bad) {
            snprintf(err, errlen, "%s: bad value for '%.*s'", spec, (int)kl, k);
            return MEND_EINVAL;
        }
        k = amp ? amp + 1 : NULL;
    }
    return MEND_OK;
}

static void efd_signal(int efd)
{
    uint64_t one = 1;
    ssize_t w = write(efd, &one, sizeof one); /* full counter (never): a wake is pending anyway */
    (void)w;
}

static void js_free(struct js_in *t);
static void delete_superseded(struct js_in *t);

static int js_stopping(struct js_in *t)
{
    pthread_mutex_lock(&t->mu);
    int stop = t->stop;
    pthread_mutex_unlock(&t->mu);
    return stop;
}

/* Worker thread: the consumer's take-up, every NATS call of it. A stop
 * asked for meanwhile is seen between the calls (NATS_ILLEGAL_STATE), so a
 * partition dropped while connecting makes no consumer. */
static natsStatus js_setup(struct js_in *t, const char **what, jsErrCode *jerr)
{
    natsStatus s = NATS_OK;
    *jerr = 0;
    if (!t->nc)
        s = mend_nats_connect(t->url, t->creds, t->tls, t->ca, t->cert, t->key, &t->opts, &t->nc, what);
    if (s == NATS_OK && !t->js)
        s = natsConnection_JetStream(&t->js, t->nc, NULL), *what = "jetstream";
    if (s == NATS_OK && js_stopping(t))
        return NATS_ILLEGAL_STATE;
    if (s == NATS_OK && t->start_seq > 0) {
        /* a takeover: the predecessor's consumer goes (its late acks then
         * reach nothing), ours delivers from the checkpoint on, in order.
         * Our own name must be gone for sure (a failed delete, then a
         * subscribe that binds to an old consumer of that name, would
         * deliver from its position, not the checkpoint's): redone on
         * every attempt, nothing consumed from it yet */
        if (t->replace[0])
            js_DeleteConsumer(t->js, t->stream, t->replace, NULL, jerr);
        if (t->supersedes[0])
            delete_superseded(t);
        *jerr = 0;
        s = js_DeleteConsumer(t->js, t->stream, t->durable, NULL, jerr);
        if (s == NATS_NOT_FOUND || *jerr == JSConsumerNotFoundErr)
            s = NATS_OK, *jerr = 0;
        *what = "delete old consumer";
    }
    if (s == NATS_OK && js_stopping(t))
        return NATS_ILLEGAL_STATE;
    if (s == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = t->stream;
        so.Config.Durable = t->durable;
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.AckWait = t->ack_wait_s * 1000000000LL;
        so.Config.MaxAckPending = t->max_pending;
        so.Config.FilterSubject = t->subject[0] ? t->subject : NULL;
        so.ManualAck = true;
        if (t->start_seq > 0) {
            so.Config.DeliverPolicy = js_DeliverByStartSequence;
            so.Config.OptStartSeq = (uint64_t)t->start_seq;
        }
        s = js_PullSubscribe(&t->sub, t->js, t->subject[0] ? t->subject : NULL, t->durable, NULL, &so, jerr);
        *what = "pull subscribe";
    }
    return s;
}

/* Worker thread: take the consumer up, retrying with backoff; returns 1
 * when it is up, 0 when asked to stop first. */
static int js_take_up(struct js_in *t)
{
    int64_t wait_ms = JS_BACKOFF_MIN_MS;
    for (;;) {
        const char *what = "connect";
        jsErrCode jerr = 0;
        natsStatus s = js_setup(t, &what, &jerr);
        pthread_mutex_lock(&t->mu);
        if (s == NATS_OK) {
            t->ready = 1;
            pthread_mutex_unlock(&t->mu);
            return 1;
        }
        if (t->stop) {
            pthread_mutex_unlock(&t->mu);
            return 0;
        }
        t->setup_errors++;
        snprintf(t->werr, sizeof t->werr, "%s: %s%s (retry in %" PRId64 " ms)", what, natsStatus_GetText(s),
                 jerr ? " (JetStream error)" : "", wait_ms);
        pthread_mutex_unlock(&t->mu);
        efd_signal(t->efd); /* the loop reports it */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&t->mu);
        while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT)
            ;
        int stop = t->stop;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            return 0;
        wait_ms = wait_ms * 2 > JS_BACKOFF_MAX_MS ? JS_BACKOFF_MAX_MS : wait_ms * 2;
    }
}

/* The worker: take the consumer up, then fetch, queue, signal; waits while
 * the queue is full. On its way out it frees the instance if the loop has
 * closed it meanwhile (orphan), else says it is done and the loop joins. */
static void *js_worker(void *arg)
{
    struct js_in *t = arg;
    struct timespec last_info = {0, 0};
    int up = js_take_up(t);
    while (up) {
        pthread_mutex_lock(&t->mu);
        while (!t->stop && t->qn + (size_t)t->batch > JS_QUEUE_MAX)
            pthread_cond_wait(&t->cv, &t->mu);
        int stop = t->stop;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        natsMsgList list = {NULL, 0};
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_Fetch(&list, t->sub, t->batch, JS_FETCH_TIMEOUT_MS, &jerr);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t lag = UINT64_MAX, pending = 0;
        if (now.tv_sec != last_info.tv_sec) {
            jsConsumerInfo *ci = NULL;
            if (natsSubscription_GetConsumerInfo(&ci, t->sub, NULL, NULL) == NATS_OK && ci) {
                pending = ci->NumPending;
                lag = ci->NumPending + (uint64_t)(ci->NumAckPending > 0 ? ci->NumAckPending : 0);
                jsConsumerInfo_Destroy(ci);
            }
            last_info = now;
        }
        pthread_mutex_lock(&t->mu);
        if (lag != UINT64_MAX) {
            t->lag = lag;
            t->pending = pending;
        }
        if (s == NATS_OK) {
            for (int i = 0; i < list.Count; i++) {
                jsMsgMetaData *md = NULL;
                if (natsMsg_GetMetaData(&md, list.Msgs[i]) == NATS_OK && md) {
                    if (md->NumDelivered > 1)
                        t->redelivered++;
                    jsMsgMetaData_Destroy(md);
                }
                t->q[(t->qhead + t->qn++) % JS_QUEUE_MAX] = list.Msgs[i];
                list.Msgs[i] = NULL;
            }
            t->fetched += (uint64_t)list.Count;
        } else if (s != NATS_TIMEOUT) {
            t->fetch_errors++;
            snprintf(t->werr, sizeof t->werr, "fetch: %s", natsStatus_GetText(s));
        }
        pthread_mutex_unlock(&t->mu);
        if (s == NATS_OK && list.Count > 0)
            efd_signal(t->efd);
        natsMsgList_Destroy(&list);
        if (s != NATS_OK && s != NATS_TIMEOUT)
            nats_Sleep(100); /* the server is away: do not spin */
    }
    pthread_mutex_lock(&t->mu);
    int orphan = t->orphan;
    t->th_done = 1;
    pthread_mutex_unlock(&t->mu);
    if (orphan)
        js_free(t); /* the loop has let go: nobody else touches t */
    return NULL;
}

/* Stops the worker and joins it (its fetch ends within JS_FETCH_TIMEOUT_MS,
 * but a NATS call of the take-up or a consumer look may take the API
 * timeout): only for js_drain, at the end. The queue stays for the loop
 * thread alone. */
static void js_stop_worker(struct js_in *t)
{
    if (t->th_started != 1)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL);
    t->th_started = 2; /* joined; mu and cv live until js_free */
}

/* Frees everything; the worker is joined, never started, or is the
 * caller (an orphan on its way out). */
static void js_free(struct js_in *t)
{
    if (t->mu_init) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
    }
    /* what was not acknowledged goes back to the consumer at once (not
     * after ack_wait), for whoever consumes next */
    for (size_t i = 0; i < t->qn; i++) {
        natsMsg *m = t->q[(t->qhead + i) % JS_QUEUE_MAX];
        natsMsg_Nak(m, NULL);
        natsMsg_Destroy(m);
    }
    for (size_t i = 0; i < t->n_held; i++) {
        natsMsg_Nak(t->held[i], NULL);
        natsMsg_Destroy(t->held[i]);
    }
    free(t->q);
    free(t->held);
    if (t->sub)
        natsSubscription_Destroy(t->sub); /* keeps the durable consumer */
    jsCtx_Destroy(t->js);
    if (t->nc) {
        /* the last acks; short: on the loop (joined after js_drain) or in
         * an orphaned worker, it bounds how long either waits */
        natsConnection_FlushTimeout(t->nc, 250);
        natsConnection_Destroy(t->nc);
    }
    natsOptions_Destroy(t->opts);
    if (t->efd >= 0)
        close(t->efd);
    free(t);
}

static void js_close(struct mend_input *in);

/* The number after prefix in name, or -1 when name is not prefix<digits>. */
static int64_t suffix_num(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) || !name[pl])
        return -1;
    int64_t v = 0;
    for (const char *c = name + pl; *c; c++) {
        if (*c < '0' || *c > '9' || v > INT64_MAX / 10 - 9)
            return -1;
        v = v * 10 + (*c - '0');
    }
    return v;
}

/* A takeover may follow several epochs that never got to consume (a
 * partition won and lost again before its consumer was made): every
 * consumer of an older epoch goes, not only the one just before ours --
 * one left behind would hold its messages unacknowledged for ever. Newer
 * ones are left alone (they belong to whoever fenced us). */
static void delete_superseded(struct js_in *t)
{
    int64_t mine = suffix_num(t->durable, t->supersedes);
    jsConsumerNamesList *names = NULL;
    jsErrCode jerr = 0;
    if (mine < 0 || js_ConsumerNames(&names, t->js, t->stream, NULL, &jerr) != NATS_OK || !names)
        return;
    for (int i = 0; i < names->Count; i++) {
        int64_t n = suffix_num(names->List[i], t->supersedes);
        if (n >= 0 && n < mine)
            js_DeleteConsumer(t->js, t->stream, names->List[i], NULL, &jerr);
    }
    jsConsumerNamesList_Destroy(names);
}

/* Opens without a NATS call: the worker takes the consumer up (see the
 * top). Errors here are the spec's or the machine's. */
static int js_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    struct js_in *t = calloc(1, sizeof *t);
    if (!t)
        return MEND_ENOMEM;
    t->efd = -1;
    int rc = parse_spec(t, spec, err, errlen);
    if (rc < 0) {
        free(t);
        return rc;
    }
    if (t->start_seq > 0)
        t->last_seq = (uint64_t)t->start_seq - 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the backoff's waits */
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    t->mu_init = 1;
    t->q = malloc(JS_QUEUE_MAX * sizeof *t->q);
    if (!t->q || (t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        js_free(t);
        return MEND_ENOMEM;
    }
    char name[300];
    snprintf(name, sizeof name, "jetstream:%s/%s", t->stream, t->durable);
    if ((rc = mend_stream_open(in, name, MEND_STREAM_LP, &t->st)) < 0) {
        js_free(t);
        return rc;
    }
    if ((rc = mend_input_watch(in, t->efd)) < 0) {
        mend_stream_free(t->st);
        js_free(t);
        return rc;
    }
    if (pthread_create(&t->th, NULL, js_worker, t) != 0) {
        mend_input_unwatch(in, t->efd);
        mend_stream_free(t->st);
        js_free(t);
        return MEND_ENOMEM;
    }
    t->th_started = 1;
    mend_input_set_priv(in, t);
    if (!t->ack_now && (rc = mend_input_every(in, t->ack_wait_s * 1000000000LL / 3)) < 0) {
        snprintf(err, errlen, "%s: no timer for in-progress notes", spec);
        js_close(in);
        return rc;
    }
    return MEND_OK;
}

static void ack(struct js_in *t, natsMsg *m)
{
    if (natsMsg_Ack(m, NULL) == NATS_OK)
        t->acked++;
    natsMsg_Destroy(m);
}

static int hold(struct js_in *t, natsMsg *m)
{
    if (t->n_held == t->cap_held) {
        size_t cap = t->cap_held ? t->cap_held * 2 : 1024;
        natsMsg **p = realloc(t->held, cap * sizeof *p);
        if (!p)
            return MEND_ENOMEM;
        t->held = p;
        t->cap_held = cap;
    }
    t->held[t->n_held++] = m;
    return MEND_OK;
}

static int js_on_fd(struct mend_input *in, int fd, unsigned events)
{
    struct js_in *t = mend_input_priv(in);
    (void)events;
    uint64_t cnt;
    ssize_t r = read(fd, &cnt, sizeof cnt); /* EAGAIN: a spurious wake, fine */
    (void)r;
    natsMsg *batch[JS_DRAIN_PER_TURN];
    size_t n = 0, left;
    pthread_mutex_lock(&t->mu);
    while (n < JS_DRAIN_PER_TURN && t->qn) {
        batch[n++] = t->q[t->qhead];
        t->qhead = (t->qhead + 1) % JS_QUEUE_MAX;
        t->qn--;
    }
    left = t->qn;
    if (t->fetch_errors + t->setup_errors > t->werr_seen) {
        t->werr_seen = t->fetch_errors + t->setup_errors;
        mend_input_error(in, mend_stream_name(t->st), t->werr, 0);
    }
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (left)
        efd_signal(t->efd); /* more next turn: bounded work per turn */
    int rc = MEND_OK;
    size_t i = 0;
    for (; i < n; i++) {
        /* one consumer sees its subjects in stream order, so a sequence at
         * or below the last one fed is a redelivery of a message already in
         * the state: acknowledge it with the others, never parse it twice */
        jsMsgMetaData *md = NULL;
        uint64_t seq = 0;
        if (natsMsg_GetMetaData(&md, batch[i]) == NATS_OK && md) {
            seq = md->Sequence.Stream;
            jsMsgMetaData_Destroy(md);
        }
        if (seq && seq <= t->last_seq) {
            t->duplicates++;
            if (t->ack_now)
                ack(t, batch[i]);
            else if ((rc = hold(t, batch[i])) < 0)
                break;
            continue;
        }
        if (seq)
            t->last_seq = seq;
        const char *d = natsMsg_GetData(batch[i]);
        int len = natsMsg_GetDataLength(batch[i]);
        mend_input_stats(in)->bytes += (uint64_t)(len > 0 ? len : 0);
        if (len > 0 && (rc = mend_stream_data(t->st, d, (size_t)len)) == MEND_ENOMEM)
            break;
        /* a message is a record: an unfinished last line ends with it */
        if ((rc = mend_stream_record_end(t->st)) == MEND_ENOMEM)
            break;
        rc = MEND_OK;
        t->delivered++;
        if (t->ack_now)
            ack(t, batch[i]);
        else if ((rc = hold(t, batch[i])) < 0)
            break;
    }
    /* a failed message is not acknowledged: the server redelivers it */
    for (; i < n; i++)
        natsMsg_Destroy(batch[i]);
    return rc;
}

/* Held messages wait for a checkpoint that may be further away than the
 * consumer's ack_wait: tell the server they are in progress, so it does not
 * redeliver them meanwhile. */
static int js_on_timer(struct mend_input *in, int64_t now_ns)
{
    struct js_in *t = mend_input_priv(in);
    (void)now_ns;
    /* no natsConnection_Flush here or after acks: it waits for the
     * server's PONG, on the loop, for as long as a server is away;
     * libnats' own flusher thread sends what publishing buffered */
    for (size_t i = 0; i < t->n_held; i++)
        natsMsg_InProgress(t->held[i], NULL);
    return MEND_OK;
}

static void js_checkpoint(struct mend_input *in, int phase, uint64_t gen)
{
    struct js_in *t = mend_input_priv(in);
    if (t->ack_now)
        return;
    if (phase == MEND_INPUT_CKPT_TAKEN) {
        if (t->n_marks == JS_MARKS_MAX) { /* never with one checkpoint at a time; keep the newest */
            memmove(t->marks, t->marks + 1, (JS_MARKS_MAX - 1) * sizeof t->marks[0]);
            t->n_marks--;
        }
        t->marks[t->n_marks++] = (struct js_mark){gen, t->n_held};
        return;
    }
    size_t k = 0;
    while (k < t->n_marks && t->marks[k].gen != gen)
        k++;
    if (k == t->n_marks)
        return;
    size_t upto = phase == MEND_INPUT_CKPT_COMMITTED ? t->marks[k].n : 0;
    for (size_t i = 0; i < upto; i++)
        ack(t, t->held[i]);
    /* held is NULL until the first message is held: memmove must not see
     * it (UBSan stops the process there -- a checkpoint committed before
     * any message came, e.g. the final one, made the engine exit 1) */
    if (upto) {
        memmove(t->held, t->held + upto, (t->n_held - upto) * sizeof *t->held);
        t->n_held -= upto;
    }
    /* a committed gen also covers every older one */
    size_t drop = phase == MEND_INPUT_CKPT_COMMITTED ? k + 1 : 0;
    if (phase == MEND_INPUT_CKPT_FAILED) {
        memmove(t->marks + k, t->marks + k + 1, (t->n_marks - k - 1) * sizeof t->marks[0]);
        t->n_marks--;
    } else {
        memmove(t->marks, t->marks + drop, (t->n_marks - drop) * sizeof t->marks[0]);
        t->n_marks -= drop;
    }
    for (size_t i = 0; i < t->n_marks; i++)
        t->marks[i].n = t->marks[i].n > upto ? t->marks[i].n - upto : 0;
}

/* Shutdown: what the worker fetched is fed now, in order, so the final
 * checkpoint covers it and acknowledges it. Handing it back (a nak) would
 * let the next engine see it after later messages, which it takes for
 * redeliveries of what the state already holds. */
static int js_drain(struct mend_input *in)
{
    struct js_in *t = mend_input_priv(in);
    if (!t)
        return MEND_OK;
    js_stop_worker(t);
    int rc = MEND_OK;
    while (t->qn && rc == MEND_OK)
        rc = js_on_fd(in, t->efd, 0);
    return rc;
}

/* Never waits for the worker: one still in a NATS call is left to free
 * the instance itself (orphan), so dropping a partition whose server is
 * away costs the loop nothing. */
static void js_close(struct mend_input *in)
{
    struct js_in *t = mend_input_priv(in);
    if (!t)
        return;
    mend_input_unwatch(in, t->efd);
    mend_stream_free(t->st);
    t->st = NULL;
    mend_input_set_priv(in, NULL);
    if (t->th_started == 1) {
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        pthread_cond_broadcast(&t->cv);
        if (!t->th_done) {
            pthread_t th = t->th; /* t is the worker's from the unlock on */
            t->orphan = 1;
            pthread_mutex_unlock(&t->mu);
            pthread_detach(th);
            return;
        }
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->th, NULL); /* it has returned: at once */
    }
    js_free(t);
}

uint64_t mend_jetstream_last_seq(struct mend_inputs *s)
{
    struct mend_input *in = mend_inputs_of_kind(s, &mend_input_jetstream_ops, 0);
    struct js_in *t = in ? mend_input_priv(in) : NULL;
    return t ? t->last_seq : 0;
}

int mend_jetstream_stats(struct mend_inputs *s, struct mend_jetstream_stats *out)
{
    struct mend_input *in;
    int n = 0;
    memset(out, 0, sizeof *out);
    while ((in = mend_inputs_of_kind(s, &mend_input_jetstream_ops, (size_t)n))) {
        struct js_in *t = mend_input_priv(in);
        n++;
        if (!t)
            continue;
        pthread_mutex_lock(&t->mu);
        out->fetched += t->fetched;
        out->redelivered += t->redelivered;
        out->fetch_errors += t->fetch_errors;
        out->setup_errors += t->setup_errors;
        out->connecting += !t->ready;
        out->lag += t->lag;
        out->pending += t->pending;
        pthread_mutex_unlock(&t->mu);
        out->delivered += t->delivered;
        out->acked += t->acked;
        out->held += t->n_held;
        out->duplicates += t->duplicates;
    }
    return n;
}

const struct mend_input_ops mend_input_jetstream_ops = {
    .kind = "jetstream",
    .claims = js_claims,
    .open = js_open,
    .on_fd = js_on_fd,
    .on_timer = js_on_timer,
    .peek_time = NULL,
    .close = js_close,
    .checkpoint = js_checkpoint,
    .drain = js_drain,
};
