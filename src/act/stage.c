/* stage.c -- the remediation stage as an output of the incident set (see
 * act.h): each incident change goes to the planner; the planner's actions
 * go to the queue (or its spool); each turn of the pipeline renews the
 * lease, drains the spool, reads results and approvals and closes verify
 * windows; every decision is one JSON line in the audit log. The audit log
 * also records incidents opening and resolving, which is what `mend
 * report` computes reliability from. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "mend/act.h"
#include "mend/json.h"
#include "mend/metrics.h"
#include "mend/output.h"
#include "mend/redis.h"

struct mend_act {
    struct mend_remediation_conf c;
    int replay;
    struct mend_rules *rules;
    struct mend_planner *planner;
    struct mend_signer *signer;
    struct mend_spool *spool;
    struct mend_queue *queue;
    FILE *audit;
    int64_t now;
    int warned_redis;
    int catch_up;           /* mend_act_resume: search mend:results at the next turn with Redis */
    uint64_t caught_up;     /* results found that way */
    char fence[24];          /* mend_act_set_fence: stamped on each emitted action */
    uint64_t fence_epoch;
};

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kv_str(struct mend_wbuf *w, const char *k, const char *v)
{
    mend_json_raw(w, ",\"");
    mend_json_raw(w, k);
    mend_json_raw(w, "\":");
    mend_json_str(w, v, strlen(v));
}

static void audit_line(struct mend_act *a, int64_t now, const char *event, const char *rule, const char *target,
                       uint64_t incident, const struct mend_action *act, const char *why, const char *entity)
{
    if (!a->audit)
        return;
    struct mend_wbuf w;
    char tbuf[48], num[32];
    mend_wbuf_init(&w);
    mend_json_raw(&w, "{\"t\":");
    if (now == INT64_MIN) {
        mend_json_raw(&w, "null");
    } else {
        mend_time_format(now, tbuf, sizeof tbuf);
        mend_json_str(&w, tbuf, strlen(tbuf));
    }
    snprintf(num, sizeof num, "%" PRId64, now);
    mend_json_raw(&w, ",\"t_ns\":");
    mend_json_raw(&w, num);
    snprintf(num, sizeof num, "%" PRId64, wall_ms());
    mend_json_raw(&w, ",\"wall_ms\":");
    mend_json_raw(&w, num);
    kv_str(&w, "event", event);
    if (rule && *rule)
        kv_str(&w, "rule", rule);
    if (target && *target)
        kv_str(&w, "target", target);
    if (entity)
        kv_str(&w, "entity", entity);
    snprintf(num, sizeof num, "%" PRIu64, incident);
    mend_json_raw(&w, ",\"incident\":");
    mend_json_raw(&w, num);
    if (act) {
        kv_str(&w, "id", act->id);
        kv_str(&w, "action", act->action);
        mend_json_raw(&w, ",\"params\":{");
        for (uint32_t i = 0; i < act->n_params; i++) {
            if (i)
                mend_json_raw(&w, ",");
            mend_json_str(&w, act->params[i].name, strlen(act->params[i].name));
            mend_json_raw(&w, ":");
            mend_json_str(&w, act->params[i].value, strlen(act->params[i].value));
        }
        mend_json_raw(&w, "}");
    }
    if (why && *why)
        kv_str(&w, "why", why);
    mend_json_raw(&w, "}\n");
    if (!w.failed) {
        fwrite(w.data, 1, w.len, a->audit);
        fflush(a->audit);
    }
    mend_wbuf_fini(&w);
}

static void on_audit(void *ctx, int64_t now, const char *event, const char *rule, const char *target, uint64_t incident,
                     const struct mend_action *act, const char *why)
{
    audit_line(ctx, now, event, rule, target, incident, act, why, NULL);
}

static int on_emit(void *ctx, const struct mend_action *act0)
{
    struct mend_act *a = ctx;
    struct mend_queue_stats before, after;
    struct mend_action fenced;
    const struct mend_action *act = act0;
    if (a->fence[0] && !act0->fence[0]) {
        fenced = *act0;
        snprintf(fenced.fence, sizeof fenced.fence, "%s", a->fence);
        fenced.fence_epoch = a->fence_epoch;
        act = &fenced;
    }
    mend_queue_stats(a->queue, &before);
    int rc = mend_queue_emit(a->queue, act);
    mend_queue_stats(a->queue, &after);
    if (rc == MEND_OK && after.spooled > before.spooled)
        audit_line(a, a->now, "spooled", act->rule, act->target, act->incident, act, "Redis unreachable", NULL);
    /* sent before (by this engine before a restart, or a predecessor): its
     * result may already be in mend:results, where no read from now on
     * would see it -- look there at the next turn */
    if (rc == MEND_OK && after.collapsed > before.collapsed)
        a->catch_up = 1;
    return rc;
}

static int load_state(struct mend_act *a, char *err, size_t errlen)
{
    if (!a->c.state[0])
        return MEND_OK;
    FILE *f = fopen(a->c.state, "rb");
    if (!f)
        return errno == ENOENT ? MEND_OK : (snprintf(err, errlen, "%s: %s", a->c.state, strerror(errno)), MEND_EIO);
    unsigned char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    int rc = MEND_ECORRUPT;
    if (buf && n >= 8) {
        uint64_t sum = 0;
        for (int i = 0; i < 8; i++)
            sum |= (uint64_t)buf[n - 8 + (size_t)i] << (8 * i);
        if (sum == XXH64(buf, n - 8, 0)) {
            struct mend_rbuf r;
            mend_rbuf_init(&r, buf, n - 8);
            rc = mend_planner_load(a->planner, &r);
        }
    }
    free(buf);
    if (rc != MEND_OK)
        snprintf(err, errlen, "%s: damaged remediation state (%s)", a->c.state, mend_strerror(rc));
    return rc;
}

static void save_state(struct mend_act *a)
{
    if (!a->c.state[0])
        return;
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    mend_planner_save(a->planner, &w);
    uint64_t sum = XXH64(w.data, w.len, 0);
    mend_wbuf_u64(&w, sum);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", a->c.state);
    FILE *f = w.failed ? NULL : fopen(tmp, "wb");
    int ok = f && fwrite(w.data, 1, w.len, f) == w.len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, a->c.state) != 0)
        fprintf(stderr, "mend: remediation: cannot save %s: %s\n", a->c.state, strerror(errno));
    mend_wbuf_fini(&w);
}

static void print_rule_err(void *ctx, const char *file, uint32_t line, uint32_t col, const char *msg)
{
    fprintf(ctx, "%s:%u:%u: %s\n", file, line, col, msg);
}

int mend_act_open(const struct mend_remediation_conf *c, int replay, FILE *errf, struct mend_act **res, char *err,
                  size_t errlen)
{
    struct mend_act *a = calloc(1, sizeof *a);
    if (!a)
        return MEND_ENOMEM;
    a->c = *c;
    a->replay = replay;
    a->now = INT64_MIN;
    int rc = mend_rules_new(&a->rules);
    struct mend_act_errs errs = {print_rule_err, errf ? errf : stderr};
    if (rc)
        goto fail;
    if (!c->n_rules) {
        snprintf(err, errlen, "remediation.rules: no rules file given");
        rc = MEND_EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < c->n_rules; i++)
        if (mend_rules_load_file(a->rules, c->rules[i], &errs) != MEND_OK) {
            snprintf(err, errlen, "remediation: invalid rules in %s (see above); not starting", c->rules[i]);
            rc = MEND_EINVAL;
            goto fail;
        }
    if ((rc = mend_signer_load(c->key, c->key_id, &a->signer)) != MEND_OK) {
        snprintf(err, errlen, "remediation.key: cannot read an Ed25519 private key from '%s'", c->key);
        rc = MEND_EINVAL;
        goto fail;
    }
    if (c->spool[0] && (rc = mend_spool_open(c->spool, &a->spool, err, errlen)) != MEND_OK)
        goto fail;
    struct mend_queue_conf qc;
    mend_queue_conf_defaults(&qc);
    snprintf(qc.redis, sizeof qc.redis, "%s", c->redis);
    snprintf(qc.user, sizeof qc.user, "%s", c->user);
    snprintf(qc.password, sizeof qc.password, "%s", c->password);
    snprintf(qc.node, sizeof qc.node, "%s", c->node);
    snprintf(qc.prefix, sizeof qc.prefix, "%s", c->prefix);
    qc.lease_ns = c->lease_ns;
    qc.maxlen = c->maxlen;
    if ((rc = mend_queue_new(&qc, a->signer, a->spool, &a->queue)) != MEND_OK) {
        snprintf(err, errlen, "remediation: bad queue settings");
        goto fail;
    }
    struct mend_planner_conf pc;
    mend_planner_conf_defaults(&pc);
    pc.enabled = c->enabled;
    pc.explore = c->explore;
    struct mend_planner_hooks h = {on_emit, on_audit, a};
    if ((rc = mend_planner_new(&pc, a->rules, &h, &a->planner)) != MEND_OK) {
        snprintf(err, errlen, "remediation: cannot make the planner: %s", mend_strerror(rc));
        goto fail;
    }
    if ((rc = load_state(a, err, errlen)) != MEND_OK)
        goto fail;
    if (!strcmp(c->audit, "-")) {
        a->audit = stdout;
    } else if (c->audit[0] && !(a->audit = fopen(c->audit, "a"))) {
        snprintf(err, errlen, "remediation.audit: %s: %s", c->audit, strerror(errno));
        rc = MEND_EIO;
        goto fail;
    }
    mend_act_poll(a, INT64_MIN);
    *res = a;
    return MEND_OK;
fail:
    a->c.state[0] = '\0'; /* nothing learnt to save */
    mend_act_close(a);
    return rc;
}

void mend_act_close(struct mend_act *a)
{
    if (!a)
        return;
    if (a->planner)
        save_state(a);
    mend_planner_free(a->planner);
    mend_queue_free(a->queue);
    mend_spool_close(a->spool);
    mend_signer_free(a->signer);
    mend_rules_free(a->rules);
    if (a->audit && a->audit != stdout)
        fclose(a->audit);
    else if (a->audit)
        fflush(a->audit);
    free(a);
}

void mend_act_set_fence(struct mend_act *a, const char *fence, uint64_t epoch)
{
    snprintf(a->fence, sizeof a->fence, "%s", fence ? fence : "");
    a->fence_epoch = a->fence[0] ? epoch : 0;
}

int mend_act_fence_raise(struct mend_act *a, const char *fence, uint64_t epoch)
{
    return mend_queue_fence_raise(a->queue, fence, epoch);
}

struct mend_planner *mend_act_planner(struct mend_act *a)
{
    return a->planner;
}

static void on_result(void *ctx, const char *id, const char *status, const char *why)
{
    struct mend_act *a = ctx;
    mend_planner_result(a->planner, id, status, why, a->now);
}

/* ---- results that came while no engine read them ------------------------- */

#define CATCHUP_IDS 256  /* in-flight actions searched for; more is past any budget in use */
#define CATCHUP_PAGE 500 /* entries per XREVRANGE */

struct found {
    char id[33];
    char status[16];
    char why[256];
};

static const char *field(const redisReply *kv, const char *name)
{
    for (size_t j = 0; j + 1 < kv->elements; j += 2)
        if (kv->element[j]->type == REDIS_REPLY_STRING && kv->element[j + 1]->type == REDIS_REPLY_STRING &&
            !strcmp(kv->element[j]->str, name))
            return kv->element[j + 1]->str;
    return NULL;
}

/* Searches mend:results back from the newest entry for the actions in
 * flight; runs once the queue is connected, so its cursor (set when it
 * connected) is older than anything read here: a result read twice is
 * ignored the second time (its action is no longer in flight). Returns
 * 0 or MEND_EIO (tried again at the next turn). */
static int catch_up(struct mend_act *a)
{
    char (*ids)[33] = calloc(CATCHUP_IDS, sizeof *ids);
    struct found *got = calloc(CATCHUP_IDS, sizeof *got);
    int rc = MEND_OK;
    if (!ids || !got) {
        rc = MEND_ENOMEM;
        goto out;
    }
    size_t n = mend_planner_in_flight(a->planner, ids, CATCHUP_IDS), n_got = 0;
    if (n == 0)
        goto out;
    char err[300], key[64], end[64] = "+";
    struct timeval tv = {2, 0};
    redisContext *conn = mend_redis_connect(a->c.redis, a->c.user, a->c.password, tv, err, sizeof err);
    if (!conn) {
        rc = MEND_EIO;
        goto out;
    }
    snprintf(key, sizeof key, "%s:results", a->c.prefix);
    for (size_t seen = 0; seen < MEND_ACT_CATCHUP && n_got < n;) {
        redisReply *r = redisCommand(conn, "XREVRANGE %s %s - COUNT %d", key, end, CATCHUP_PAGE);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            rc = r ? MEND_EINVAL : MEND_EIO;
            if (r)
                freeReplyObject(r);
            break;
        }
        size_t got_page = r->elements;
        for (size_t i = 0; i < r->elements && seen < MEND_ACT_CATCHUP; i++, seen++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            /* the next page ends just before this entry: "(" excludes it */
            snprintf(end, sizeof end, "(%s", e->element[0]->str);
            const char *id = field(e->element[1], "id"), *st = field(e->element[1], "status");
            const char *why = field(e->element[1], "reason");
            if (!id || !st)
                continue;
            for (size_t k = 0; k < n; k++) {
                if (!ids[k][0] || strcmp(ids[k], id))
                    continue;
                /* the newest result per action wins (a redelivery may
                 * have written more than one) */
                snprintf(got[n_got].id, sizeof got[n_got].id, "%s", id);
                snprintf(got[n_got].status, sizeof got[n_got].status, "%s", st);
                snprintf(got[n_got].why, sizeof got[n_got].why, "%s (read back at start)", why ? why : "");
                n_got++;
                ids[k][0] = '\0';
                break;
            }
        }
        freeReplyObject(r);
        if (got_page < CATCHUP_PAGE)
            break; /* the stream's start */
    }
    redisFree(conn);
    if (rc == MEND_EINVAL) {
        fprintf(stderr, "mend: remediation: %s is not a stream; results from before this start not read\n", key);
        rc = MEND_OK;
    }
    /* oldest first, as they came, on the planner's own clock: right after
     * a restore that is the checkpoint's time, so a result that came in
     * time is not taken for a timeout by a replay that has moved on */
    if (rc == MEND_OK)
        for (size_t i = n_got; i-- > 0;) {
            mend_planner_result(a->planner, got[i].id, got[i].status, got[i].why, INT64_MIN);
            a->caught_up++;
        }
out:
    free(ids);
    free(got);
    return rc;
}

size_t mend_act_resume(struct mend_act *a)
{
    struct mend_planner_stats st;
    mend_planner_stats(a->planner, &st);
    a->catch_up = st.in_flight > 0;
    if (a->catch_up) /* now, before any incident moves the planner's clock on */
        mend_act_poll(a, INT64_MIN);
    return st.in_flight;
}

uint64_t mend_act_caught_up(const struct mend_act *a)
{
    return a->caught_up;
}

void mend_act_poll(struct mend_act *a, int64_t now)
{
    if (now > a->now)
        a->now = now;
    int lease = mend_queue_lease(a->queue, mono());
    if (lease < 0 && !a->warned_redis) {
        fprintf(stderr, "mend: remediation: Redis at %s unreachable; actions go to the spool\n", a->c.redis);
        a->warned_redis = 1;
    } else if (lease >= 0) {
        a->warned_redis = 0;
    }
    if (lease == 1)
        mend_queue_drain(a->queue);
    if (lease >= 0 && a->catch_up && catch_up(a) != MEND_EIO)
        a->catch_up = 0;
    if (lease >= 0) {
        mend_queue_results(a->queue, on_result, a);
        char ids[16][33];
        size_t n = mend_planner_pending(a->planner, ids, 16);
        for (size_t i = 0; i < n; i++)
            if (mend_queue_approved(a->queue, ids[i]) == 1)
                mend_planner_approve(a->planner, ids[i], a->now);
    }
    if (a->now != INT64_MIN)
        mend_planner_tick(a->planner, a->now);
}

/* Replay runs far faster than actions: hold the replayed clock while
 * something is in flight, so results land at the event time they belong
 * to and verification follows the recording. */
static void wait_in_flight(struct mend_act *a)
{
    if (!a->replay)
        return;
    int64_t end = mono() + a->c.result_wait_ns;
    struct mend_planner_stats st;
    for (;;) {
        mend_act_poll(a, a->now);
        mend_planner_stats(a->planner, &st);
        if (!st.in_flight || mono() >= end)
            return;
        usleep(2000);
    }
}

void mend_act_finish(struct mend_act *a, int64_t now)
{
    if (now > a->now)
        a->now = now;
    wait_in_flight(a);
    mend_act_poll(a, a->now);
}

/* ---- /metrics --------------------------------------------------------------- */


int mend_act_metrics(void *ctx, struct mend_metrics_out *o)
{
    struct mend_act *a = ctx;
    struct mend_planner_stats st;
    struct mend_queue_stats qs;
    int rc;
    mend_planner_stats(a->planner, &st);
    mend_queue_stats(a->queue, &qs);
    /* the planner's decisions, one label each: what the audit log says line
     * by line, counted since this process started */
    const struct {
        const char *name;
        uint64_t v;
    } dec[] = {{"matched", st.matched},         {"emitted", st.emitted},     {"suppressed", st.suppressed},
               {"over_budget", st.over_budget}, {"escalated", st.escalated}, {"verified", st.verified},
               {"not_recovered", st.not_recovered}, {"failed", st.failed},   {"timed_out", st.timed_out},
               {"late_result", st.late_results}};
    MEND_METRICS_FAM("mend_remediation_decisions_total", MEND_METRIC_COUNTER,
        "remediation decisions by kind (suppressed: cooldown, in flight, awaiting approval, off switch)");
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++) {
        const char *l[] = {"decision", dec[i].name, NULL};
        MEND_METRICS_VAL(l, dec[i].v);
    }
    MEND_METRICS_FAM("mend_remediation_in_flight", MEND_METRIC_GAUGE, "actions emitted and awaiting their result");
    MEND_METRICS_VAL(NULL, st.in_flight);
    MEND_METRICS_FAM("mend_remediation_cases", MEND_METRIC_GAUGE, "(rule, target) cases the planner holds");
    MEND_METRICS_VAL(NULL, mend_planner_cases(a->planner));
    const struct {
        const char *name;
        uint64_t v;
    } q[] = {{"sent", qs.sent},           {"spooled", qs.spooled}, {"drained", qs.drained},
             {"collapsed", qs.collapsed}, {"refused", qs.refused}};
    MEND_METRICS_FAM("mend_remediation_queue_total", MEND_METRIC_COUNTER,
        "actions through the queue: sent to Redis, spooled while it was away, drained from the spool, "
        "collapsed as sent before, refused (not the lease holder, or the off switch)");
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        const char *l[] = {"outcome", q[i].name, NULL};
        MEND_METRICS_VAL(l, q[i].v);
    }
    MEND_METRICS_FAM("mend_remediation_redis_errors_total", MEND_METRIC_COUNTER,
                     "Redis connections or commands that failed");
    MEND_METRICS_VAL(NULL, qs.redis_errors);
    MEND_METRICS_FAM("mend_remediation_spool_pending", MEND_METRIC_GAUGE,
                     "actions in the durable spool not yet delivered");
    MEND_METRICS_VAL(NULL, a->spool ? mend_spool_pending(a->spool) : 0);
    return MEND_OK;
}

/* ---- the output ------------------------------------------------------------ */

static int out_open(const void *conf, void **inst, char *err, size_t errlen)
{
    const struct mend_act_output_conf *c = conf;
    if (!c || !c->act) {
        snprintf(err, errlen, "act output: no remediation stage");
        return MEND_EINVAL;
    }
    *inst = c->act;
    return MEND_OK;
}

static const char *find(const char *h, size_t hl, const char *n, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (h[i] == n[0] && !memcmp(h + i, n, nl))
            return h + i;
    return NULL;
}

/* The localised root cause, when the incident line carries one:
 * "root_cause":{..."component":"NAME"...}. */
static const char *component_of(const char *json, size_t len, char *out, size_t cap)
{
    const char *end = json + len;
    const char *p = find(json, len, "\"root_cause\"", 12);
    if (!p)
        return NULL;
    const char *q = find(p, (size_t)(end - p), "\"component\":\"", 13);
    if (!q || q - p > 4096)
        return NULL;
    q += 13;
    size_t n = 0;
    while (q < end && *q != '"' && n + 1 < cap) {
        if (*q == '\\' && q + 1 < end)
            q++;
        out[n++] = *q++;
    }
    out[n] = '\0';
    return n ? out : NULL;
}

static int out_incident(void *inst, const char *status, const struct mend_incident *inc, const char *json, size_t len)
{
    struct mend_act *a = inst;
    char comp[MEND_ACT_TARGET];
    if (inc->last_t > a->now)
        a->now = inc->last_t;
    if (strcmp(status, "update")) {
        char why[64];
        snprintf(why, sizeof why, "start %" PRId64 " end %" PRId64, inc->start_t, inc->last_t);
        audit_line(a, a->now, !strcmp(status, "open") ? "incident_open" : "incident_resolve", "", "", inc->id, NULL,
                   why, inc->entity);
    }
    int rc = mend_planner_incident(a->planner, status, inc, component_of(json, len, comp, sizeof comp), a->now);
    wait_in_flight(a);
    return rc == MEND_ENOMEM ? MEND_ENOMEM : MEND_OUTPUT_OK;
}

static int out_flush(void *inst)
{
    struct mend_act *a = inst;
    mend_act_poll(a, a->now);
    return MEND_OUTPUT_OK;
}

const struct mend_output_ops mend_output_act_ops = {
    .name = "act",
    .open = out_open,
    .incident = out_incident,
    .flush = out_flush,
    .close = NULL,
    .last_error = NULL,
};
