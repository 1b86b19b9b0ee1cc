/* queue.c -- actions to Redis (see act.h): the lease, the fenced XADD, the
 * spool in front of it while Redis is away, results and approvals back.
 *
 * Fencing is done by Redis itself. One Lua script checks that mend:leader
 * is this engine, that mend:epoch is still the epoch it acquired, that
 * mend:off is unset, and that the action id was not sent before
 * (SET mend:sent:<id> NX), and only then XADDs: there is no window between
 * the check and the write in which a second engine could also emit. The
 * executor additionally rejects epochs older than the newest it has seen.
 *
 * Order: once anything is spooled, every new action joins the spool behind
 * it, and the spool drains oldest first, stopping at the first failure. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "mend/act.h"
#include "mend/redis.h"

#define MAX_FIELDS (14 + MEND_ACT_MAX_PARAMS) /* 11 fixed, 2 of a fence, sig */

struct mend_queue {
    struct mend_queue_conf c;
    struct mend_signer *signer;
    struct mend_spool *spool;
    redisContext *rc;
    int held;
    int64_t held_until;        /* monotonic: stop emitting after this without a renewal */
    int64_t next_renew;
    uint64_t epoch;
    char results_last[64];     /* last id read from mend:results */
    char k_leader[64], k_epoch[64], k_off[64], k_actions[64], k_results[64];
    struct mend_queue_stats st;
    char err[256];
};

static const char LEASE_LUA[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
    "return {1, tonumber(redis.call('GET', KEYS[2]) or '0')} end\n"
    "if cur then return {0, 0} end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return {1, redis.call('INCR', KEYS[2])}\n";

/* KEYS: leader, epoch, off, sent:<id>, actions. ARGV: node, epoch, maxlen,
 * sent ttl ms, then the entry's field/value pairs. */
static const char EMIT_LUA[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('NOTLEADER not the lease holder') end\n"
    "if redis.call('GET', KEYS[2]) ~= ARGV[2] then return redis.error_reply('NOTLEADER stale epoch') end\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then return redis.error_reply('MENDOFF the off switch is set') end\n"
    "if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[4]) then return 'DUP' end\n"
    "return redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 5))\n";

/* Partition fencing (mend cluster). KEYS: fence, off, sent:<id>, actions.
 * ARGV: epoch, maxlen, sent ttl ms, then the entry's field/value pairs.
 * The highest epoch a fence has seen wins: an older one is refused. */
static const char FENCED_EMIT_LUA[] =
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local e = tonumber(ARGV[1])\n"
    "if e < cur then return redis.error_reply('NOTLEADER stale partition epoch') end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('MENDOFF the off switch is set') end\n"
    "if e > cur then redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then return 'DUP' end\n"
    "return redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))\n";

/* KEYS: fence. ARGV: epoch. 1 raised (or equal), 0 a newer one is there. */
static const char FENCE_RAISE_LUA[] =
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local e = tonumber(ARGV[1])\n"
    "if e < cur then return 0 end\n"
    "if e > cur then redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "return 1\n";

void mend_queue_conf_defaults(struct mend_queue_conf *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->redis, sizeof c->redis, "unix:/run/redis/redis-server.sock");
    snprintf(c->node, sizeof c->node, "mend");
    snprintf(c->prefix, sizeof c->prefix, "mend");
    c->lease_ns = 10 * 1000000000LL;
    c->maxlen = 1000000;
    c->timeout_ns = 500 * 1000000LL;
}

int mend_queue_new(const struct mend_queue_conf *c, struct mend_signer *signer, struct mend_spool *spool,
                   struct mend_queue **res)
{
    if (!signer || c->lease_ns < 1000000 || !c->node[0])
        return MEND_EINVAL;
    struct mend_queue *q = calloc(1, sizeof *q);
    if (!q)
        return MEND_ENOMEM;
    q->c = *c;
    q->signer = signer;
    q->spool = spool;
    snprintf(q->k_leader, sizeof q->k_leader, "%s:leader", c->prefix);
    snprintf(q->k_epoch, sizeof q->k_epoch, "%s:epoch", c->prefix);
    snprintf(q->k_off, sizeof q->k_off, "%s:off", c->prefix);
    snprintf(q->k_actions, sizeof q->k_actions, "%s:actions", c->prefix);
    snprintf(q->k_results, sizeof q->k_results, "%s:results", c->prefix);
    q->results_last[0] = '\0';
    *res = q;
    return MEND_OK;
}

static void drop(struct mend_queue *q)
{
    if (q->rc)
        redisFree(q->rc);
    q->rc = NULL;
    q->st.redis_errors++; /* the lease is not given up here: held_until decides */
}

void mend_queue_free(struct mend_queue *q)
{
    if (!q)
        return;
    if (q->rc)
        redisFree(q->rc);
    free(q);
}

/* Connects (and authenticates) when not connected. */
static int connect_redis(struct mend_queue *q)
{
    if (q->rc)
        return MEND_OK;
    struct timeval tv = {(time_t)(q->c.timeout_ns / 1000000000LL),
                         (suseconds_t)(q->c.timeout_ns % 1000000000LL / 1000)};
    q->rc = mend_redis_connect(q->c.redis, q->c.user, q->c.password, tv, q->err, sizeof q->err);
    if (!q->rc) {
        q->st.redis_errors++;
        return MEND_EIO;
    }
    if (!q->results_last[0]) {
        /* results from before this start are not ours to act on */
        redisReply *r = redisCommand(q->rc, "XREVRANGE %s + - COUNT 1", q->k_results);
        if (!r) {
            drop(q);
            return MEND_EIO;
        }
        snprintf(q->results_last, sizeof q->results_last, "%s",
                 r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2
                     ? r->element[0]->element[0]->str
                     : "0-0");
        freeReplyObject(r);
    }
    return MEND_OK;
}

int mend_queue_lease(struct mend_queue *q, int64_t mono_ns)
{
    if (q->held && mono_ns >= q->held_until)
        q->held = 0; /* no renewal in time: stop at once, whatever Redis says later */
    if (q->held && mono_ns < q->next_renew)
        return 1;
    if (connect_redis(q) != MEND_OK)
        return MEND_EIO;
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)(q->c.lease_ns / 1000000));
    redisReply *r = redisCommand(q->rc, "EVAL %s 2 %s %s %s %s", LEASE_LUA, q->k_leader, q->k_epoch, q->c.node, ms);
    if (!r) {
        drop(q);
        return MEND_EIO;
    }
    int got = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer == 1;
    if (got) {
        uint64_t ep = (uint64_t)r->element[1]->integer;
        if (!q->held || ep != q->epoch)
            q->epoch = ep;
        q->held = 1;
        q->held_until = mono_ns + q->c.lease_ns * 2 / 3; /* before Redis lets it expire */
        q->next_renew = mono_ns + q->c.lease_ns / 3;
    } else {
        q->held = 0;
    }
    freeReplyObject(r);
    return q->held;
}

uint64_t mend_queue_epoch(const struct mend_queue *q)
{
    return q->held ? q->epoch : 0;
}

/* ---- records --------------------------------------------------------------- */

static void put_str(struct mend_wbuf *w, const char *s)
{
    mend_wbuf_u32(w, (uint32_t)strlen(s));
    mend_wbuf_bytes(w, s, strlen(s));
}

static int get_str(struct mend_rbuf *r, char *out, size_t cap)
{
    uint32_t n = mend_rbuf_u32(r);
    if (r->failed || n >= cap || mend_rbuf_bytes(r, out, n) != MEND_OK)
        return MEND_ECORRUPT;
    out[n] = '\0';
    return MEND_OK;
}

int mend_action_encode(const struct mend_action *a, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, 1); /* version */
    put_str(w, a->id);
    put_str(w, a->rule);
    put_str(w, a->action);
    put_str(w, a->target);
    mend_wbuf_u64(w, a->incident);
    mend_wbuf_u32(w, a->attempt);
    mend_wbuf_i64(w, a->ttl_ns);
    mend_wbuf_i64(w, a->created_ms);
    mend_wbuf_u32(w, a->n_params);
    for (uint32_t i = 0; i < a->n_params; i++) {
        put_str(w, a->params[i].name);
        put_str(w, a->params[i].value);
    }
    if (a->fence[0]) { /* optional tail: records without it read as unfenced */
        put_str(w, a->fence);
        mend_wbuf_u64(w, a->fence_epoch);
    }
    return w->failed ? MEND_ENOMEM : MEND_OK;
}

int mend_action_decode(const void *buf, size_t len, struct mend_action *a)
{
    struct mend_rbuf r;
    mend_rbuf_init(&r, buf, len);
    memset(a, 0, sizeof *a);
    if (mend_rbuf_u32(&r) != 1 || get_str(&r, a->id, sizeof a->id) || get_str(&r, a->rule, sizeof a->rule) ||
        get_str(&r, a->action, sizeof a->action) || get_str(&r, a->target, sizeof a->target))
        return MEND_ECORRUPT;
    a->incident = mend_rbuf_u64(&r);
    a->attempt = mend_rbuf_u32(&r);
    a->ttl_ns = mend_rbuf_i64(&r);
    a->created_ms = mend_rbuf_i64(&r);
    a->n_params = mend_rbuf_u32(&r);
    if (r.failed || a->n_params > MEND_ACT_MAX_PARAMS)
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < a->n_params; i++)
        if (get_str(&r, a->params[i].name, sizeof a->params[i].name) ||
            get_str(&r, a->params[i].value, sizeof a->params[i].value))
            return MEND_ECORRUPT;
    if (r.off < r.len) {
        if (get_str(&r, a->fence, sizeof a->fence))
            return MEND_ECORRUPT;
        a->fence_epoch = mend_rbuf_u64(&r);
        if (r.failed || r.off != r.len)
            return MEND_ECORRUPT;
    }
    return MEND_OK;
}

/* ---- emission -------------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One XADD through the fencing script. 0 sent (or collapsed), MEND_EAGAIN
 * (not leader / off), MEND_EIO (Redis away). */
static int xadd(struct mend_queue *q, const struct mend_action *a)
{
    /* Redis away: EIO, so the caller spools (the script decides at
     * delivery whether this engine may still emit) */
    if (connect_redis(q) != MEND_OK)
        return MEND_EIO;
    int fenced = a->fence[0] != '\0'; /* a partition's lease fences it, not ours */
    if (!q->held && !fenced)
        return MEND_EAGAIN;
    char incident[24], attempt[16], created[24], ttl[24], epoch[24], maxlen[24], sent_key[96], sent_ttl[24];
    char fence_key[96], fence_epoch[24];
    char pnames[MEND_ACT_MAX_PARAMS][MEND_ACT_NAME + 2];
    snprintf(incident, sizeof incident, "%" PRIu64, a->incident);
    snprintf(attempt, sizeof attempt, "%u", a->attempt);
    snprintf(created, sizeof created, "%" PRId64, a->created_ms);
    snprintf(ttl, sizeof ttl, "%" PRId64, a->ttl_ns / 1000000);
    snprintf(epoch, sizeof epoch, "%" PRIu64, fenced ? 0 : q->epoch);
    snprintf(fence_key, sizeof fence_key, "%s:fence:%s", q->c.prefix, a->fence);
    snprintf(fence_epoch, sizeof fence_epoch, "%" PRIu64, a->fence_epoch);
    snprintf(maxlen, sizeof maxlen, "%" PRIu64, q->c.maxlen);
    snprintf(sent_key, sizeof sent_key, "%s:sent:%s", q->c.prefix, a->id);
    snprintf(sent_ttl, sizeof sent_ttl, "%d", 7 * 86400 * 1000);
    const char *f[MAX_FIELDS], *v[MAX_FIELDS];
    size_t n = 0;
#define FV(a_, b_) (f[n] = (a_), v[n] = (b_), n++)
    FV("v", "1");
    FV("id", a->id);
    FV("rule", a->rule);
    FV("action", a->action);
    FV("target", a->target);
    FV("incident", incident);
    FV("attempt", attempt);
    FV("created_ms", created);
    FV("ttl_ms", ttl);
    FV("epoch", epoch);
    if (fenced) {
        FV("fence", a->fence);
        FV("fence_epoch", fence_epoch);
    }
    FV("kid", mend_signer_kid(q->signer));
    for (uint32_t i = 0; i < a->n_params; i++) {
        snprintf(pnames[i], sizeof pnames[i], "p.%s", a->params[i].name);
        FV(pnames[i], a->params[i].value);
    }
#undef FV
    char canon[8192], sig[129];
    size_t cl = mend_sign_canon(f, v, n, canon, sizeof canon);
    if (cl > sizeof canon || mend_signer_sign(q->signer, canon, cl, sig) != MEND_OK)
        return MEND_ECAP;
    const char *argv[16 + 2 * MAX_FIELDS];
    size_t argc = 0;
    argv[argc++] = "EVAL";
    if (fenced) {
        argv[argc++] = FENCED_EMIT_LUA;
        argv[argc++] = "4";
        argv[argc++] = fence_key;
        argv[argc++] = q->k_off;
        argv[argc++] = sent_key;
        argv[argc++] = q->k_actions;
        argv[argc++] = fence_epoch;
    } else {
        argv[argc++] = EMIT_LUA;
        argv[argc++] = "5";
        argv[argc++] = q->k_leader;
        argv[argc++] = q->k_epoch;
        argv[argc++] = q->k_off;
        argv[argc++] = sent_key;
        argv[argc++] = q->k_actions;
        argv[argc++] = q->c.node;
        argv[argc++] = epoch;
    }
    argv[argc++] = maxlen;
    argv[argc++] = sent_ttl;
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = f[i];
        argv[argc++] = v[i];
    }
    argv[argc++] = "sig";
    argv[argc++] = sig;
    redisReply *r = redisCommandArgv(q->rc, (int)argc, argv, NULL);
    if (!r) {
        drop(q);
        return MEND_EIO;
    }
    int rc = MEND_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(q->err, sizeof q->err, "%s", r->str);
        if (strstr(r->str, "NOTLEADER")) {
            if (!fenced)
                q->held = 0; /* lost: stop at once (a stale partition says nothing of our lease) */
            rc = MEND_EAGAIN;
        } else if (strstr(r->str, "MENDOFF")) {
            rc = MEND_EAGAIN;
        } else {
            rc = MEND_EIO;
        }
        q->st.refused++;
    } else if ((r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) && r->str && !strcmp(r->str, "DUP")) {
        /* the script's `return 'DUP'` is a bulk string to the client */
        q->st.collapsed++;
    } else {
        q->st.sent++;
    }
    freeReplyObject(r);
    return rc;
}

static int spool_put(struct mend_queue *q, const struct mend_action *a)
{
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    int rc = mend_action_encode(a, &w);
    if (rc == MEND_OK)
        rc = mend_spool_append(q->spool, w.data, w.len);
    mend_wbuf_fini(&w);
    if (rc == MEND_OK)
        q->st.spooled++;
    return rc;
}

int mend_queue_drain(struct mend_queue *q)
{
    if (!q->spool)
        return MEND_OK;
    while (mend_spool_pending(q->spool)) {
        const void *rec;
        size_t len;
        struct mend_action a;
        int rc = mend_spool_peek(q->spool, &rec, &len);
        if (rc != MEND_OK)
            return rc;
        if (mend_action_decode(rec, len, &a) != MEND_OK) {
            mend_spool_pop(q->spool); /* checksummed yet undecodable: skip it, counted */
            q->st.redis_errors++;
            continue;
        }
        rc = xadd(q, &a);
        if (rc == MEND_EAGAIN || rc == MEND_EIO)
            return MEND_EAGAIN;
        if ((rc = mend_spool_pop(q->spool)) != MEND_OK)
            return rc;
        q->st.drained++;
    }
    return MEND_OK;
}

int mend_queue_emit(struct mend_queue *q, const struct mend_action *a0)
{
    struct mend_action a = *a0;
    if (!a.created_ms)
        a.created_ms = wall_ms();
    if (q->spool && mend_spool_pending(q->spool)) {
        if (mend_queue_drain(q) != MEND_OK)
            return spool_put(q, &a);
    }
    int rc = xadd(q, &a);
    if (rc == MEND_EIO && q->spool)
        return spool_put(q, &a);
    return rc;
}

int mend_queue_results(struct mend_queue *q, void (*fn)(void *ctx, const char *id, const char *status, const char *why),
                       void *ctx)
{
    if (connect_redis(q) != MEND_OK)
        return MEND_EIO;
    redisReply *r = redisCommand(q->rc, "XREAD COUNT 256 STREAMS %s %s", q->k_results, q->results_last);
    if (!r) {
        drop(q);
        return MEND_EIO;
    }
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
        redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            if (e->elements != 2)
                continue;
            snprintf(q->results_last, sizeof q->results_last, "%s", e->element[0]->str);
            const char *id = "", *status = "", *why = "";
            redisReply *kv = e->element[1];
            for (size_t j = 0; j + 1 < kv->elements; j += 2) {
                const char *k = kv->element[j]->str, *v = kv->element[j + 1]->str;
                if (!strcmp(k, "id"))
                    id = v;
                else if (!strcmp(k, "status"))
                    status = v;
                else if (!strcmp(k, "reason"))
                    why = v;
            }
            fn(ctx, id, status, why);
            n++;
        }
    }
    freeReplyObject(r);
    return n;
}

int mend_queue_fence_raise(struct mend_queue *q, const char *fence, uint64_t epoch)
{
    if (!fence || !fence[0])
        return MEND_EINVAL;
    if (connect_redis(q) != MEND_OK)
        return MEND_EIO;
    char key[96], ep[24];
    snprintf(key, sizeof key, "%s:fence:%s", q->c.prefix, fence);
    snprintf(ep, sizeof ep, "%" PRIu64, epoch);
    redisReply *r = redisCommand(q->rc, "EVAL %s 1 %s %s", FENCE_RAISE_LUA, key, ep);
    if (!r) {
        drop(q);
        return MEND_EIO;
    }
    int rc = r->type == REDIS_REPLY_INTEGER ? (r->integer == 1 ? MEND_OK : MEND_EAGAIN) : MEND_EIO;
    freeReplyObject(r);
    return rc;
}

int mend_queue_approved(struct mend_queue *q, const char *id)
{
    if (connect_redis(q) != MEND_OK)
        return MEND_EIO;
    redisReply *r = redisCommand(q->rc, "GETDEL %s:approve:%s", q->c.prefix, id);
    if (!r) {
        drop(q);
        return MEND_EIO;
    }
    int yes = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return yes;
}

void mend_queue_stats(const struct mend_queue *q, struct mend_queue_stats *st)
{
    *st = q->st;
}
