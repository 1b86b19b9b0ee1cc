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
 * engines racing for a partition exactly one wins. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_internal.h"

#define LEASE_MEMBERS_MAX 256  /* engines tracked */
#define LEASE_VALUE_MAX 160

struct part {
    int owned;
    uint64_t epoch;       /* ours when owned; the last seen otherwise */
    uint64_t rev;         /* revision we wrote (owned) or last saw */
    int64_t seen_at;      /* monotonic time rev was first seen (not owned) */
    int64_t valid_until;  /* owned: lease trusted until */
    int64_t renew_fail_since; /* 0 = none */
    int seen;             /* rev/seen_at are meaningful */
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
    struct mend_lease_stats st;
};

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
    l->p[i].owned = 0;
    l->p[i].seen = 0;
    l->st.lost++;
    l->host.lost(l->host.ctx, i);
}

void mend_leases_free(struct mend_leases *l, int crash)
{
    if (!l)
        return;
    if (!crash && l->kv)
        for (uint32_t i = 0; i < l->conf.partitions; i++)
            if (l->p[i].owned)
                mend_leases_release(l, i);
    if (!crash && l->kv) {
        char key[80];
        snprintf(key, sizeof key, "m.%s", l->name);
        kvStore_Delete(l->kv, key);
    }
    kvStore_Destroy(l->kv);
    jsCtx_Destroy(l->js);
    natsConnection_Destroy(l->nc);
    natsOptions_Destroy(l->opts);
    free(l->p);
    free(l);
}

/* Announces us and counts the engines whose announcement moved within ttl. */
static void members(struct mend_leases *l, int64_t now)
{
    char key[80];
    snprintf(key, sizeof key, "m.%s", l->name);
    if (kvStore_PutString(&l->my_member_rev, l->kv, key, "1") != NATS_OK)
        l->st.kv_errors++;
    kvKeysList keys = {NULL, 0};
    uint32_t live = 1;
    if (kvStore_Keys(&keys, l->kv, NULL) != NATS_OK) {
        l->st.kv_errors++;
        l->st.live_engines = l->st.live_engines ? l->st.live_engines : 1;
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
    l->st.live_engines = live;
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

int mend_leases_tick(struct mend_leases *l, int64_t now)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint32_t P = l->conf.partitions, owned = 0;
    int64_t ttl = l->conf.lease_ttl_ns;
    /* 1. renew what we own; a failed conditional write means someone else
     * wrote: lost now. Other failures (server away) count against validity. */
    for (uint32_t i = 0; i < P; i++) {
        struct part *p = &l->p[i];
        if (!p->owned)
            continue;
        uint64_t rev = 0;
        int64_t sent = elapsed_now(now, &t0);
        char key[32], val[LEASE_VALUE_MAX];
        snprintf(key, sizeof key, "p%u", i);
        snprintf(val, sizeof val, "%s %" PRIu64, l->name, p->epoch);
        natsStatus s = kvStore_UpdateString(&rev, l->kv, key, val, p->rev);
        if (s == NATS_OK) {
            p->rev = rev;
            p->valid_until = sent + ttl * 3 / 4;
            p->renew_fail_since = 0;
        } else {
            l->st.kv_errors++;
            kvEntry *e = NULL;
            /* did someone else write it, or is the server away? */
            if (kvStore_Get(&e, l->kv, key) == NATS_OK && e && kvEntry_Revision(e) != p->rev) {
                kvEntry_Destroy(e);
                lose(l, i);
                continue;
            }
            kvEntry_Destroy(e);
            if (now >= p->valid_until) {
                lose(l, i);
                continue;
            }
        }
        owned++;
    }
    /* 2. who is alive, hence our share */
    members(l, now);
    uint32_t live = l->st.live_engines ? l->st.live_engines : 1;
    uint32_t share = (P + live - 1) / live;
    /* 3. above the share: hand back the highest partitions (the host
     * checkpoints, then calls mend_leases_release) */
    for (uint32_t i = P; i-- > 0 && owned > share;) {
        if (!l->p[i].owned)
            continue;
        l->host.surplus(l->host.ctx, i);
        if (!l->p[i].owned)
            owned--;
    }
    /* 4. watch every partition we do not own (so an owner's silence is timed
     * from the first tick after its last renewal, whatever our share), and
     * claim free, absent or expired ones up to the share, starting at a
     * place of our own so engines do not all race for partition 0 */
    uint32_t start = 0;
    for (const char *c = l->name; *c; c++)
        start = start * 31u + (unsigned char)*c;
    for (uint32_t k = 0; k < P; k++) {
        uint32_t i = (start + k) % P;
        struct part *p = &l->p[i];
        if (p->owned)
            continue;
        char key[32], owner[64];
        snprintf(key, sizeof key, "p%u", i);
        kvEntry *e = NULL;
        natsStatus s = kvStore_Get(&e, l->kv, key);
        uint64_t rev = 0, epoch = 0, newrev = 0;
        int ok = -1;
        int64_t sent = elapsed_now(now, &t0);
        if (s == NATS_NOT_FOUND) {
            if (owned >= share)
                continue;
            ok = write_lease(l, i, 1, 0, 1, &newrev);
            epoch = 1;
        } else if (s == NATS_OK && e) {
            rev = kvEntry_Revision(e);
            int bad = value_parse(kvEntry_Value(e), kvEntry_ValueLen(e), owner, sizeof owner, &epoch);
            kvEntry_Destroy(e);
            e = NULL;
            if (!p->seen || p->rev != rev) {
                p->rev = rev;
                p->seen_at = now;
                p->seen = 1;
            }
            p->epoch = epoch;
            /* free ("-"), unreadable, or unchanged for a whole ttl: take it */
            if (owned < share && (bad || !strcmp(owner, "-") || now - p->seen_at >= ttl)) {
                int takeover = !bad && strcmp(owner, "-");
                epoch = epoch + 1;
                ok = write_lease(l, i, epoch, rev, 0, &newrev);
                if (ok == 0 && takeover)
                    l->st.taken_over++;
            }
        } else {
            l->st.kv_errors++;
        }
        kvEntry_Destroy(e);
        if (ok != 0)
            continue;
        p->owned = 1;
        p->epoch = epoch;
        p->rev = newrev;
        p->valid_until = sent + ttl * 3 / 4;
        p->renew_fail_since = 0;
        l->st.acquired++;
        owned++;
        int rc = l->host.acquired(l->host.ctx, i, epoch);
        if (rc < 0)
            return rc;
    }
    l->st.owned = owned;
    return MEND_OK;
}

int mend_leases_valid(const struct mend_leases *l, uint32_t p, int64_t now)
{
    return p < l->conf.partitions && l->p[p].owned && now < l->p[p].valid_until;
}

uint64_t mend_leases_epoch(const struct mend_leases *l, uint32_t p)
{
    return p < l->conf.partitions ? l->p[p].epoch : 0;
}

int mend_leases_release(struct mend_leases *l, uint32_t i)
{
    if (i >= l->conf.partitions || !l->p[i].owned)
        return MEND_EINVAL;
    char key[32], val[LEASE_VALUE_MAX];
    snprintf(key, sizeof key, "p%u", i);
    /* the free marker keeps the epoch: the next owner counts on from it */
    snprintf(val, sizeof val, "- %" PRIu64, l->p[i].epoch);
    uint64_t rev;
    natsStatus s = kvStore_UpdateString(&rev, l->kv, key, val, l->p[i].rev);
    l->p[i].owned = 0;
    l->p[i].seen = 0;
    if (l->st.owned)
        l->st.owned--;
    l->st.released++;
    return s == NATS_OK ? MEND_OK : MEND_EIO;
}

void mend_leases_stats(const struct mend_leases *l, struct mend_lease_stats *st)
{
    *st = l->st;
}

const char *mend_leases_name(const struct mend_leases *l)
{
    return l->name;
}
