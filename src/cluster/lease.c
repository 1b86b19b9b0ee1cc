/* lease.c -- partition leases with a fencing epoch in a JetStream key-value
 * bucket (the protocol is described in cluster.h).
 *
 * Why revisions and not deadlines: engines' clocks are not compared. Every
 * write of a key gets a new revision from the server; a renewal is a write.
 * An observer that has seen one revision for lease_ttl on its own monotonic
 * clock knows the owner has not renewed for at least that long, whatever
 * the owner's clock says; the owner, for its part, stops trusting its lease
 * 3/4 of a ttl after it sent its last successful renewal. Both sides are
 * conditional writes (create-if-absent, update-if-revision), so of two
 * engines racing for a partition exactly one wins.
 *
 * Threads (mend_leases_start): a KV call waits up to the 5 s JetStream API
 * timeout while a server is away, and the loop must go on scoring
 * meanwhile, so the rounds run on threads of their own -- two, because a
 * renewal must not wait behind a slow call of another kind (listing the
 * bucket's keys, which makes a consumer, took the whole 5 s after a node
 * of three was killed while the renewals took milliseconds):
 *   the renewer  renews owned leases every ttl/4 and writes the releases
 *                the loop asks for; it alone touches own_rev;
 *   the claimer  announces, counts engines, hands surplus on, observes and
 *                claims every ttl/4; it alone touches the observation
 *                fields and the members. A claim sets own_rev before it
 *                publishes owned (atomic), after which the renewer has it.
 * What the loop reads -- owned, epoch, valid_until -- is atomic; the stats
 * and the release requests are under mu, held only for a moment (never
 * across a KV call). Without threads (tests drive mend_leases_tick on
 * injected time) both halves run in the caller. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_internal.h"

#define LEASE_MEMBERS_MAX 256  /* engines tracked */
#define LEASE_VALUE_MAX 160

struct part {
    _Atomic int owned;
    _Atomic uint64_t epoch;      /* ours when owned; the last seen otherwise */
    _Atomic int64_t valid_until; /* owned: lease trusted until (0 once lost) */
    uint64_t own_rev;     /* renewer: the revision we wrote last */
    uint64_t obs_rev;     /* claimer: the revision last seen (not owned) */
    int64_t seen_at;      /* claimer: monotonic time obs_rev was first seen */
    int seen;             /* claimer: obs_rev/seen_at are meaningful */
    int64_t surplus_asked; /* claimer: when the host was last asked to hand it on (0 = not) */
    uint64_t release_epoch; /* under mu: the loop asked to release this epoch (0 = no) */
};

struct member {
    char name[64];
    uint64_t rev;
    int64_t seen_at;
};

struct mend_leases {
    struct mend_cluster_conf conf;
    struct mend_lease_host host;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    char name[64];
    struct part *p;
    struct member m[LEASE_MEMBERS_MAX];
    size_t n_m;
    uint64_t my_member_rev;
    struct mend_lease_stats st;  /* under mu */
    /* threads (mend_leases_start) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th_renew, th_claim;
    int th_started, stop, releases_due;
};

#define ST_ADD(l, field, n)                                                                                    \
    do {                                                                                                       \
        pthread_mutex_lock(&(l)->mu);                                                                          \
        (l)->st.field += (n);                                                                                  \
        pthread_mutex_unlock(&(l)->mu);                                                                        \
    } while (0)

static void seterr(char *err, size_t errlen, const char *what, natsStatus s)
{
    snprintf(err, errlen, "cluster: %s: %s", what, natsStatus_GetText(s));
}

int mend_leases_new(const struct mend_cluster_conf *conf, const struct mend_lease_host *host,
                    struct mend_leases **out, char *err, size_t errlen)
{
    if (!conf || !host || !out || conf->partitions == 0 || conf->partitions > MEND_CLUSTER_MAX_PARTITIONS)
        return MEND_EINVAL;
    struct mend_leases *l = calloc(1, sizeof *l);
    if (!l || !(l->p = calloc(conf->partitions, sizeof *l->p))) {
        free(l);
        return MEND_ENOMEM;
    }
    l->conf = *conf;
    l->host = *host;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* rounds are timed on the monotonic clock */
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (conf->name[0]) {
        snprintf(l->name, sizeof l->name, "%s", conf->name);
    } else {
        char hn[40] = "host";
        gethostname(hn, sizeof hn - 1);
        snprintf(l->name, sizeof l->name, "%.40s-%ld", hn, (long)getpid());
    }
    for (char *c = l->name; *c; c++) /* key tokens: no dots, spaces or wildcards */
        if (*c == '.' || *c == ' ' || *c == '*' || *c == '>')
            *c = '_';
    char urls[1024];
    size_t o = 0;
    const char *s0 = conf->servers;
    while (*s0 && o < sizeof urls - 16) {
        const char *c = strchr(s0, ',');
        size_t n = c ? (size_t)(c - s0) : strlen(s0);
        int w = snprintf(urls + o, sizeof urls - o, "%snats://%.*s", o ? "," : "", (int)n, s0);
        if (w < 0 || (size_t)w >= sizeof urls - o)
            break;
        o += (size_t)w;
        s0 = c ? c + 1 : s0 + n;
    }
    const char *what = "connect";
    natsStatus s = mend_nats_connect(urls, conf->creds, conf->tls, conf->ca, conf->cert, conf->key, &l->opts,
                                     &l->nc, &what);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&l->js, l->nc, NULL), what = "jetstream";
    if (s == NATS_OK && conf->create) {
        /* the stream the collectors' subjects map into: PREFIX.<partition> */
        jsStreamInfo *si = NULL;
        jsErrCode je = 0;
        what = "stream";
        if (js_GetStreamInfo(&si, l->js, conf->stream, NULL, &je) == NATS_OK) {
            jsStreamInfo_Destroy(si);
        } else {
            char subj[80];
            const char *subs[1] = {subj};
            jsStreamConfig sc;
            snprintf(subj, sizeof subj, "%s.*", conf->subject_prefix);
            jsStreamConfig_Init(&sc);
            sc.Name = conf->stream;
            sc.Subjects = subs;
            sc.SubjectsLen = 1;
            sc.Replicas = (int64_t)conf->replicas;
            s = js_AddStream(&si, l->js, &sc, NULL, &je);
            jsStreamInfo_Destroy(si);
        }
    }
    if (s == NATS_OK) {
        what = "lease bucket";
        s = js_KeyValue(&l->kv, l->js, conf->bucket);
        if (s != NATS_OK && conf->create) {
            kvConfig kc;
            kvConfig_Init(&kc);
            kc.Bucket = conf->bucket;
            kc.History = 1;
            kc.Replicas = (int)conf->replicas;
            s = js_CreateKeyValue(&l->kv, l->js, &kc);
        }
    }
    if (s != NATS_OK) {
        seterr(err, errlen, what, s);
        mend_leases_free(l, 1);
        return MEND_EIO;
    }
    *out = l;
    return MEND_OK;
}

static int value_parse(const char *v, int len, char *owner, size_t cap, uint64_t *epoch)
{
    char buf[LEASE_VALUE_MAX];
    if (len <= 0 || (size_t)len >= sizeof buf)
        return -1;
    memcpy(buf, v, (size_t)len);
    buf[len] = '\0';
    char *sp = strchr(buf, ' ');
    if (!sp || (size_t)(sp - buf) >= cap)
        return -1;
    *sp = '\0';
    char *end;
    unsigned long long e = strtoull(sp + 1, &end, 10);
    if (*end || end == sp + 1)
        return -1;
    memcpy(owner, buf, (size_t)(sp - buf) + 1);
    *epoch = e;
    return 0;
}

static void lose(struct mend_leases *l, uint32_t i)
{
    /* validity first: the loop's next sample check fails from here on */
    atomic_store(&l->p[i].valid_until, 0);
    atomic_store(&l->p[i].owned, 0);
    ST_ADD(l, lost, 1);
    l->host.lost(l->host.ctx, i);
}

static int release_now(struct mend_leases *l, uint32_t i);

/* The releases the loop asked for (worker thread), each only while the
 * lease is still the epoch it was asked for: a lease lost and won again
 * meanwhile is a new one the loop has not seen yet. */
static void do_releases(struct mend_leases *l)
{
    pthread_mutex_lock(&l->mu);
    int due = l->releases_due;
    l->releases_due = 0;
    pthread_mutex_unlock(&l->mu);
    if (!due)
        return;
    for (uint32_t i = 0; i < l->conf.partitions; i++) {
        pthread_mutex_lock(&l->mu);
        uint64_t ep = l->p[i].release_epoch;
        l->p[i].release_epoch = 0;
        pthread_mutex_unlock(&l->mu);
        if (ep && atomic_load(&l->p[i].owned) && atomic_load(&l->p[i].epoch) == ep)
            release_now(l, i);
    }
}

static int64_t mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void renew_round(struct mend_leases *l, int64_t now);
static int claim_round(struct mend_leases *l, int64_t now);

/* One of the two threads: a round every ttl/4 from when the last one
 * started (a round slowed by a server away does not push the next one
 * further out); the renewer also wakes for releases. */
static void *lease_worker(struct mend_leases *l, int renewer)
{
    int64_t period = l->conf.lease_ttl_ns / 4 > 0 ? l->conf.lease_ttl_ns / 4 : 1;
    int64_t next = mono_now();
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && !(renewer && l->releases_due) && mono_now() < next) {
            struct timespec ts = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        if (renewer)
            do_releases(l);
        int64_t now = mono_now();
        if (now < next)
            continue; /* woken for releases only */
        if (renewer)
            renew_round(l, now);
        else
            claim_round(l, now);
        next = now + period;
    }
    return NULL;
}

static void *renewer_main(void *arg)
{
    return lease_worker(arg, 1);
}

static void *claimer_main(void *arg)
{
    return lease_worker(arg, 0);
}

int mend_leases_start(struct mend_leases *l)
{
    if (!l || l->th_started)
        return MEND_EINVAL;
    if (pthread_create(&l->th_renew, NULL, renewer_main, l) != 0)
        return MEND_ENOMEM;
    if (pthread_create(&l->th_claim, NULL, claimer_main, l) != 0) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th_renew, NULL);
        l->stop = 0;
        return MEND_ENOMEM;
    }
    l->th_started = 1;
    return MEND_OK;
}

void mend_leases_free(struct mend_leases *l, int crash)
{
    if (!l)
        return;
    if (l->th_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th_renew, NULL); /* each waits out at most one KV call */
        pthread_join(l->th_claim, NULL);
        l->th_started = 0;
        do_releases(l);
    }
    if (!crash && l->kv)
        for (uint32_t i = 0; i < l->conf.partitions; i++)
            if (atomic_load(&l->p[i].owned))
                release_now(l, i);
    if (!crash && l->kv) {
        char key[80];
        snprintf(key, sizeof key, "m.%s", l->name);
        kvStore_Delete(l->kv, key);
    }
    kvStore_Destroy(l->kv);
    jsCtx_Destroy(l->js);
    natsConnection_Destroy(l->nc);
    natsOptions_Destroy(l->opts);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->p);
    free(l);
}

/* Announces us and counts the engines whose announcement moved within ttl. */
static void members(struct mend_leases *l, int64_t now)
{
    char key[80];
    snprintf(key, sizeof key, "m.%s", l->name);
    if (kvStore_PutString(&l->my_member_rev, l->kv, key, "1") != NATS_OK)
        ST_ADD(l, kv_errors, 1);
    kvKeysList keys = {NULL, 0};
    uint32_t live = 1;
    if (kvStore_Keys(&keys, l->kv, NULL) != NATS_OK) {
        ST_ADD(l, kv_errors, 1); /* the last count stands */
        return;
    }
    for (int k = 0; k < keys.Count; k++) {
        const char *kn = keys.Keys[k];
        if (strncmp(kn, "m.", 2) || !strcmp(kn + 2, l->name))
            continue;
        kvEntry *e = NULL;
        if (kvStore_Get(&e, l->kv, kn) != NATS_OK)
            continue;
        uint64_t rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
        size_t j = 0;
        while (j < l->n_m && strcmp(l->m[j].name, kn + 2))
            j++;
        if (j == l->n_m) {
            if (l->n_m == LEASE_MEMBERS_MAX)
                continue;
            snprintf(l->m[j].name, sizeof l->m[j].name, "%s", kn + 2);
            l->m[j].rev = 0;
            l->n_m++;
        }
        if (l->m[j].rev != rev) {
            l->m[j].rev = rev;
            l->m[j].seen_at = now;
        }
        if (now - l->m[j].seen_at < l->conf.lease_ttl_ns)
            live++;
    }
    kvKeysList_Destroy(&keys);
    pthread_mutex_lock(&l->mu);
    l->st.live_engines = live;
    pthread_mutex_unlock(&l->mu);
}

static int write_lease(struct mend_leases *l, uint32_t i, uint64_t epoch, uint64_t last, int create, uint64_t *rev)
{
    char key[32], val[LEASE_VALUE_MAX];
    snprintf(key, sizeof key, "p%u", i);
    snprintf(val, sizeof val, "%s %" PRIu64, l->name, epoch);
    natsStatus s = create ? kvStore_CreateString(rev, l->kv, key, val) : kvStore_UpdateString(rev, l->kv, key, val, last);
    return s == NATS_OK ? 0 : -1;
}

/* now_ns plus the real time spent in this tick so far: a round that
 * acquires partitions (consumers to create, checkpoints to restore) can take
 * a while, and a lease is only valid from when it was written. */
static int64_t elapsed_now(int64_t now, const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return now + (int64_t)(t.tv_sec - t0->tv_sec) * 1000000000LL + (t.tv_nsec - t0->tv_nsec);
}

/* Renews what we own; a failed conditional write means someone else
 * wrote: lost now. Other failures (server away) count against validity. */
static void renew_round(struct mend_leases *l, int64_t now)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t i = 0; i < l->conf.partitions; i++) {
        struct part *p = &l->p[i];
        if (!atomic_load(&p->owned))
            continue;
        uint64_t rev = 0;
        int64_t sent = elapsed_now(now, &t0);
        char key[32], val[LEASE_VALUE_MAX];
        snprintf(key, sizeof key, "p%u", i);
        snprintf(val, sizeof val, "%s %" PRIu64, l->name, atomic_load(&p->epoch));
        natsStatus s = kvStore_UpdateString(&rev, l->kv, key, val, p->own_rev);
        if (s == NATS_OK) {
            p->own_rev = rev;
            atomic_store(&p->valid_until, sent + l->conf.lease_ttl_ns * 3 / 4);
            ST_ADD(l, renewals, 1);
            continue;
        }
        ST_ADD(l, renew_failures, 1);
        ST_ADD(l, kv_errors, 1);
        kvEntry *e = NULL;
        /* did someone else write it, or is the server away? */
        if (kvStore_Get(&e, l->kv, key) == NATS_OK && e && kvEntry_Revision(e) != p->own_rev) {
            kvEntry_Destroy(e);
            lose(l, i);
            continue;
        }
        kvEntry_Destroy(e);
        if (elapsed_now(now, &t0) >= atomic_load(&p->valid_until))
            lose(l, i);
    }
}

/* Announces, counts engines, hands surplus on, observes and claims. */
static int claim_round(struct mend_leases *l, int64_t now)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint32_t P = l->conf.partitions, owned = 0, leaving = 0;
    int64_t ttl = l->conf.lease_ttl_ns;
    for (uint32_t i = 0; i < P; i++) {
        if (!atomic_load(&l->p[i].owned))
            l->p[i].surplus_asked = 0; /* lost or released since */
        else {
            owned++;
            leaving += l->p[i].surplus_asked != 0;
        }
    }
    /* who is alive, hence our share */
    members(l, now);
    pthread_mutex_lock(&l->mu);
    uint32_t live = l->st.live_engines ? l->st.live_engines : 1;
    pthread_mutex_unlock(&l->mu);
    uint32_t share = (P + live - 1) / live;
    /* above the share: hand back the highest partitions (the host
     * checkpoints, then calls mend_leases_release -- at once without
     * threads, later through the renewer with them; a host that could not
     * checkpoint is asked again a ttl later) */
    for (uint32_t i = P; i-- > 0 && owned - leaving > share;) {
        struct part *p = &l->p[i];
        if (!atomic_load(&p->owned) || (p->surplus_asked && now - p->surplus_asked < ttl))
            continue;
        if (!p->surplus_asked)
            leaving++;
        p->surplus_asked = now ? now : 1;
        l->host.surplus(l->host.ctx, i);
        if (!atomic_load(&p->owned)) {
            owned--;
            leaving--;
            p->surplus_asked = 0;
        }
    }
    /* watch every partition we do not own (so an owner's silence is timed
     * from the first round after its last renewal, whatever our share), and
     * claim free, absent or expired ones up to the share, starting at a
     * place of our own so engines do not all race for partition 0 */
    uint32_t start = 0;
    for (const char *c = l->name; *c; c++)
        start = start * 31u + (unsigned char)*c;
    for (uint32_t k = 0; k < P; k++) {
        uint32_t i = (start + k) % P;
        struct part *p = &l->p[i];
        if (atomic_load(&p->owned))
            continue;
        char key[32], owner[64];
        snprintf(key, sizeof key, "p%u", i);
        kvEntry *e = NULL;
        natsStatus s = kvStore_Get(&e, l->kv, key);
        uint64_t rev = 0, epoch = 0, newrev = 0;
        int ok = -1;
        int64_t sent = elapsed_now(now, &t0);
        if (s == NATS_NOT_FOUND) {
            if (owned - leaving >= share)
                continue;
            ok = write_lease(l, i, 1, 0, 1, &newrev);
            epoch = 1;
        } else if (s == NATS_OK && e) {
            rev = kvEntry_Revision(e);
            int bad = value_parse(kvEntry_Value(e), kvEntry_ValueLen(e), owner, sizeof owner, &epoch);
            kvEntry_Destroy(e);
            e = NULL;
            if (!p->seen || p->obs_rev != rev) {
                p->obs_rev = rev;
                p->seen_at = now;
                p->seen = 1;
            }
            atomic_store(&p->epoch, epoch);
            /* free ("-"), unreadable, or unchanged for a whole ttl: take it */
            if (owned - leaving < share && (bad || !strcmp(owner, "-") || now - p->seen_at >= ttl)) {
                int takeover = !bad && strcmp(owner, "-");
                epoch = epoch + 1;
                ok = write_lease(l, i, epoch, rev, 0, &newrev);
                if (ok == 0 && takeover)
                    ST_ADD(l, taken_over, 1);
            }
        } else {
            ST_ADD(l, kv_errors, 1);
        }
        kvEntry_Destroy(e);
        if (ok != 0)
            continue;
        p->own_rev = newrev;
        p->surplus_asked = 0;
        atomic_store(&p->epoch, epoch);
        atomic_store(&p->valid_until, sent + ttl * 3 / 4);
        atomic_store(&p->owned, 1); /* the renewer has it from here */
        ST_ADD(l, acquired, 1);
        owned++;
        int rc = l->host.acquired(l->host.ctx, i, epoch);
        if (rc < 0)
            return rc;
    }
    return MEND_OK;
}

int mend_leases_tick(struct mend_leases *l, int64_t now)
{
    renew_round(l, now);
    return claim_round(l, now);
}

int mend_leases_valid(const struct mend_leases *l, uint32_t p, int64_t now)
{
    /* valid_until before owned: lose() clears it first */
    return p < l->conf.partitions && now < atomic_load(&l->p[p].valid_until) && atomic_load(&l->p[p].owned);
}

uint64_t mend_leases_epoch(const struct mend_leases *l, uint32_t p)
{
    return p < l->conf.partitions ? atomic_load(&l->p[p].epoch) : 0;
}

static int release_now(struct mend_leases *l, uint32_t i)
{
    if (i >= l->conf.partitions || !atomic_load(&l->p[i].owned))
        return MEND_EINVAL;
    char key[32], val[LEASE_VALUE_MAX];
    snprintf(key, sizeof key, "p%u", i);
    /* the free marker keeps the epoch: the next owner counts on from it */
    snprintf(val, sizeof val, "- %" PRIu64, atomic_load(&l->p[i].epoch));
    /* not ours from here on, whatever the write says */
    atomic_store(&l->p[i].valid_until, 0);
    atomic_store(&l->p[i].owned, 0);
    uint64_t rev;
    natsStatus s = kvStore_UpdateString(&rev, l->kv, key, val, l->p[i].own_rev);
    ST_ADD(l, released, 1);
    return s == NATS_OK ? MEND_OK : MEND_EIO;
}

int mend_leases_release(struct mend_leases *l, uint32_t i, uint64_t epoch)
{
    /* only the lease the caller means: one lost and won again meanwhile is
     * a newer one the caller has not seen yet */
    if (i >= l->conf.partitions || !atomic_load(&l->p[i].owned) || atomic_load(&l->p[i].epoch) != epoch)
        return MEND_EINVAL;
    if (!l->th_started)
        return release_now(l, i);
    /* the worker writes it (the loop must not wait on the server) if it
     * still holds this epoch then; the lease stops counting as valid here */
    pthread_mutex_lock(&l->mu);
    l->p[i].release_epoch = epoch;
    l->releases_due = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    atomic_store(&l->p[i].valid_until, 0);
    return MEND_OK;
}

void mend_leases_stats(struct mend_leases *l, struct mend_lease_stats *st)
{
    uint32_t owned = 0;
    for (uint32_t i = 0; i < l->conf.partitions; i++)
        owned += atomic_load(&l->p[i].owned) != 0;
    pthread_mutex_lock(&l->mu);
    *st = l->st;
    pthread_mutex_unlock(&l->mu);
    st->owned = owned;
}

const char *mend_leases_name(const struct mend_leases *l)
{
    return l->name;
}
