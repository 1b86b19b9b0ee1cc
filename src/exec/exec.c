/* exec.c -- mend-exec's consumer loop (see exec.h): consumer group on
 * mend:actions; at start its own pending entries first, then new ones; a
 * reaper (XAUTOCLAIM) takes over entries other consumers left idle longer
 * than the longest action timeout; after max_deliveries an entry goes to
 * mend:dlq. Up to max_concurrent children run at once; the loop polls their
 * output pipes, reaps them, kills a process group that outlives its
 * timeout, and writes each outcome with the idempotency key and the XACK
 * in one MULTI. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mend/exec.h"
#include "mend/redis.h"

#define MAX_F 64             /* fields per entry */
#define MAX_ENTRY_BYTES 16384

struct entry {
    char sid[48];            /* stream id */
    int64_t read_mono;       /* when it was read (for exec_latency_us) */
    int redelivered;         /* came from the pending list or the reaper */
    size_t n;
    char *f[MAX_F], *v[MAX_F];
    char arena[MAX_ENTRY_BYTES];
};

struct slot {
    int used, orphan;
    pid_t pid;
    int out_fd;
    struct mend_exec_job job;
    char sid[48];
    int64_t start_mono, deadline_mono, start_ms;
    int64_t latency_us;      /* entry read -> child let go to execve */
    int killed;
    char *tail;
    size_t tail_len;
};

struct ex {
    const struct mend_exec_conf *c;
    struct mend_verifier *ver;
    int unsafe;
    redisContext *rc;
    char k_actions[64], k_results[64], k_dlq[64];
    char host[64];
    uint64_t max_epoch;
    struct slot *slots;
    struct entry *wait;      /* entries read, not yet started: a ring (entries
                                point into themselves, so they never move) */
    size_t head_wait, n_wait, cap_wait;
    char pending_cursor[48]; /* "" once our own pending list is done */
    int64_t next_reap;
    uint64_t ran, rejected, dlq, dup;
};

static int64_t mono_ns(void)
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

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mend-exec: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int entry_from_reply(struct entry *e, const redisReply *r, int redelivered)
{
    memset(e, 0, offsetof(struct entry, arena));
    e->redelivered = redelivered;
    e->read_mono = mono_ns();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING)
        return MEND_EPARSE;
    snprintf(e->sid, sizeof e->sid, "%s", r->element[0]->str);
    const redisReply *kv = r->element[1];
    if (kv->type != REDIS_REPLY_ARRAY) /* trimmed away while pending */
        return MEND_ENOTFOUND;
    size_t o = 0;
    for (size_t i = 0; i + 1 < kv->elements && e->n < MAX_F; i += 2) {
        const redisReply *k = kv->element[i], *v = kv->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || o + k->len + v->len + 2 > MAX_ENTRY_BYTES ||
            memchr(k->str, 0, k->len) || memchr(v->str, 0, v->len))
            return MEND_EPARSE;
        e->f[e->n] = e->arena + o;
        memcpy(e->arena + o, k->str, k->len + 1);
        o += k->len + 1;
        e->v[e->n] = e->arena + o;
        memcpy(e->arena + o, v->str, v->len + 1);
        o += v->len + 1;
        e->n++;
    }
    if (kv->elements / 2 > MAX_F)
        return MEND_ECAP;
    return MEND_OK;
}

/* A process that exists and is not a zombie waiting for a parent that is
 * not us (an orphan of a killed executor may linger as one). */
static int alive(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return 0;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the state follows the command name */
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* One round trip of a MULTI ... EXEC built by the caller; 0 or MEND_EIO. */
static int exec_reply(struct ex *x, int n_queued)
{
    int ok = 1;
    for (int i = 0; i < n_queued + 2; i++) { /* MULTI, the commands, EXEC */
        redisReply *r;
        if (redisGetReply(x->rc, (void **)&r) != REDIS_OK || !r)
            return MEND_EIO;
        if (r->type == REDIS_REPLY_ERROR || (i == n_queued + 1 && r->type != REDIS_REPLY_ARRAY))
            ok = 0;
        freeReplyObject(r);
    }
    return ok ? MEND_OK : MEND_EIO;
}

/* Result + idempotency key + XACK in one MULTI. status: ok, failed,
 * timeout, rejected, duplicate, unknown. */
static int finish(struct ex *x, const char *sid, const struct mend_exec_job *j, const char *status, int exit_code,
                  int sig, int64_t start_ms, int64_t dur_ms, const char *out, size_t out_len, const char *reason,
                  int set_idem, int64_t latency_us)
{
    char lat_s[24];
    snprintf(lat_s, sizeof lat_s, "%" PRId64, latency_us);
    char exit_s[16], sig_s[16], dur_s[24], start_s[24], fin_s[24], epoch_s[24], idem_key[96], idem_val[64];
    snprintf(exit_s, sizeof exit_s, "%d", exit_code);
    snprintf(sig_s, sizeof sig_s, "%d", sig);
    snprintf(dur_s, sizeof dur_s, "%" PRId64, dur_ms);
    snprintf(start_s, sizeof start_s, "%" PRId64, start_ms);
    snprintf(fin_s, sizeof fin_s, "%" PRId64, wall_ms());
    snprintf(epoch_s, sizeof epoch_s, "%" PRIu64, j->epoch);
    snprintf(idem_key, sizeof idem_key, "%s:idem:%s", x->c->prefix, j->id);
    snprintf(idem_val, sizeof idem_val, "done:%s", status);
    int q = 0;
    redisAppendCommand(x->rc, "MULTI");
    if (set_idem && j->id[0] && x->unsafe != 2) {
        redisAppendCommand(x->rc, "SET %s %s PX %d", idem_key, idem_val, 7 * 86400 * 1000);
        q++;
    }
    const char *argv[] = {"XADD", x->k_results, "MAXLEN", "~", "100000", "*", "v", "1", "id", j->id, "entry", sid,
                          "rule", j->rule, "action", j->action, "target", j->target, "incident", j->incident,
                          "epoch", epoch_s, "status", status, "exit", exit_s, "signal", sig_s, "started_ms", start_s,
                          "finished_ms", fin_s, "duration_ms", dur_s, "exec_latency_us", lat_s, "consumer",
                          x->c->consumer, "reason", reason, "output", out};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i + 1 < sizeof argv / sizeof argv[0]; i++)
        lens[i] = strlen(argv[i]);
    lens[sizeof argv / sizeof argv[0] - 1] = out_len; /* the output tail is not NUL-terminated */
    redisAppendCommandArgv(x->rc, (int)(sizeof argv / sizeof argv[0]), argv, lens);
    q++;
    if (x->unsafe != 1) { /* ack-first acked on receipt */
        redisAppendCommand(x->rc, "XACK %s %s %s", x->k_actions, x->c->group, sid);
        q++;
    }
    redisAppendCommand(x->rc, "EXEC");
    return exec_reply(x, q);
}

static int idem_cmd(struct ex *x, redisReply **out, const char *fmt, const char *id, const char *val)
{
    char key[96];
    snprintf(key, sizeof key, "%s:idem:%s", x->c->prefix, id);
    *out = redisCommand(x->rc, fmt, key, val);
    return *out ? MEND_OK : MEND_EIO;
}

static struct slot *free_slot(struct ex *x)
{
    for (uint32_t i = 0; i < x->c->max_concurrent; i++)
        if (!x->slots[i].used)
            return &x->slots[i];
    return NULL;
}

/* Moves a dead or unwanted entry to the DLQ (with its fields) and acks it. */
static int to_dlq(struct ex *x, const struct entry *e, const char *reason)
{
    const char *argv[8 + 2 * MAX_F];
    int n = 0;
    argv[n++] = "XADD";
    argv[n++] = x->k_dlq;
    argv[n++] = "*";
    argv[n++] = "entry";
    argv[n++] = e->sid;
    argv[n++] = "reason";
    argv[n++] = reason;
    for (size_t i = 0; i < e->n; i++) {
        argv[n++] = e->f[i];
        argv[n++] = e->v[i];
    }
    redisAppendCommand(x->rc, "MULTI");
    redisAppendCommandArgv(x->rc, n, argv, NULL);
    redisAppendCommand(x->rc, "XACK %s %s %s", x->k_actions, x->c->group, e->sid);
    redisAppendCommand(x->rc, "EXEC");
    x->dlq++;
    logf_("entry %s to %s: %s", e->sid, x->k_dlq, reason);
    return exec_reply(x, 2);
}

/* How often the group has delivered sid (XPENDING), 0 when not pending. */
static long long deliveries(struct ex *x, const char *sid)
{
    redisReply *r = redisCommand(x->rc, "XPENDING %s %s %s %s 1", x->k_actions, x->c->group, sid, sid);
    long long n = -1;
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY) {
        n = 0;
        if (r->elements == 1 && r->element[0]->elements == 4)
            n = r->element[0]->element[3]->integer;
    }
    freeReplyObject(r);
    return n;
}

struct orphan_ctx {
    const struct ex *x;
    const char *id;
};

/* In a child whose executor died before the go: may it run? Only if the
 * idempotency key names this process as started. Redis is asked again
 * until it answers, for at most orphan_wait: 1 yes, 0 no, -1 it never
 * answered (an error reply, e.g. LOADING after a restart, is no answer). */
static int orphan_check(void *ctx)
{
    const struct orphan_ctx *o = ctx;
    char want[128], err[256], key[96];
    snprintf(want, sizeof want, "started:%s:%d", o->x->host, (int)getpid());
    snprintf(key, sizeof key, "%s:idem:%s", o->x->c->prefix, o->id);
    int64_t end = mono_ns() + o->x->c->orphan_wait_ns;
    for (;;) {
        int64_t left = end - mono_ns();
        if (left <= 0)
            return -1;
        if (left > 1000000000LL)
            left = 1000000000LL;
        struct timeval tv = {(time_t)(left / 1000000000LL), (suseconds_t)(left % 1000000000LL / 1000)};
        redisContext *rc = mend_redis_connect(o->x->c->redis, o->x->c->user, o->x->c->password, tv, err, sizeof err);
        if (rc) {
            redisReply *r = redisCommand(rc, "GET %s", key);
            int got = r && r->type != REDIS_REPLY_ERROR, yes = r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, want);
            if (r)
                freeReplyObject(r);
            redisFree(rc);
            if (got)
                return yes;
        }
        usleep(100000);
    }
}

/* In the orphan: what became of its action, for the next executor (the
 * journal, exec.h). Nothing to keep without a journal. */
static void orphan_ended(void *ctx, int ran, int wstatus)
{
    const struct orphan_ctx *o = ctx;
    if (!o->x->c->journal[0])
        return;
    struct mend_exec_orphan_rec rec = {ran, -1, 0, wall_ms()};
    if (ran && WIFEXITED(wstatus))
        rec.exit_code = WEXITSTATUS(wstatus);
    else if (ran && WIFSIGNALED(wstatus))
        rec.sig = WTERMSIG(wstatus);
    mend_exec_journal_put(o->x->c->journal, o->id, (int)getpid(), &rec);
}

/* Reports what an orphan recorded it did (ran = 1), then forgets the
 * record. 0 or MEND_EIO. */
static int report_orphan(struct ex *x, const char *sid, const struct mend_exec_job *job, pid_t pid,
                         const struct mend_exec_orphan_rec *rec, int64_t start_ms)
{
    const char *status = rec->sig == SIGALRM ? "timeout" : rec->exit_code == 0 && !rec->sig ? "ok" : "failed";
    char why[200];
    if (rec->sig)
        snprintf(why, sizeof why, "ran while its executor was gone (pid %d); killed by signal %d; output not kept",
                 (int)pid, rec->sig);
    else
        snprintf(why, sizeof why, "ran while its executor was gone (pid %d); exit %d; output not kept", (int)pid,
                 rec->exit_code);
    logf_("%s (id %s): the orphan's journal says %s", sid, job->id, why);
    int64_t end = rec->finished_ms > start_ms ? rec->finished_ms : start_ms;
    if (finish(x, sid, job, status, rec->exit_code, rec->sig, start_ms, end - start_ms, "", 0, why, 1, -1))
        return MEND_EIO;
    mend_exec_journal_del(x->c->journal, job->id, (int)pid);
    return MEND_OK;
}

/* Starts one entry in slot s (or finishes it at once). 0 or MEND_EIO. */
static int start(struct ex *x, struct entry *e, struct slot *s)
{
    char why[300];
    struct mend_exec_job job;
    int64_t now = wall_ms();
    int stale_pid = 0; /* an orphan's pid whose journal says it never ran */
    if (e->redelivered) {
        long long d = deliveries(x, e->sid);
        if (d < 0)
            return MEND_EIO;
        if (d == 0) /* acked meanwhile (a reclaim race): nothing to do */
            return MEND_OK;
        if ((uint64_t)d > x->c->max_deliveries) {
            snprintf(why, sizeof why, "delivered %lld times (max_deliveries %u)", d, x->c->max_deliveries);
            return to_dlq(x, e, why);
        }
    }
    if (mend_exec_check(x->c, x->ver, (const char *const *)e->f, (const char *const *)e->v, e->n, now, &x->max_epoch,
                        &job, why, sizeof why) != MEND_OK) {
        x->rejected++;
        logf_("rejected %s (id %s, action %s): %s", e->sid, job.id[0] ? job.id : "-", job.action[0] ? job.action : "-",
              why);
        return finish(x, e->sid, &job, "rejected", -1, 0, now, 0, "", 0, why, 0, -1);
    }
    redisReply *r;
    if (job.fence[0]) {
        /* a partition's action: the owner that took the partition over
         * raised its fence; an action from an older owner is stale */
        r = redisCommand(x->rc, "GET %s:fence:%s", x->c->prefix, job.fence);
        if (!r)
            return MEND_EIO;
        uint64_t newest = 0;
        int bad = r->type == REDIS_REPLY_STRING && mend_parse_u64(r->str, r->len, &newest) != MEND_OK;
        freeReplyObject(r);
        if (bad || newest > job.fence_epoch) {
            if (bad)
                snprintf(why, sizeof why, "fence %s: unreadable epoch in Redis", job.fence);
            else
                snprintf(why, sizeof why, "stale partition epoch %" PRIu64 " (fence %s is at %" PRIu64 ")",
                         job.fence_epoch, job.fence, newest);
            x->rejected++;
            logf_("rejected %s (id %s, action %s): %s", e->sid, job.id, job.action, why);
            return finish(x, e->sid, &job, "rejected", -1, 0, now, 0, "", 0, why, 0, -1);
        }
    }
    if (x->unsafe != 2) {
        char claimed[96];
        snprintf(claimed, sizeof claimed, "claimed:%s", x->c->consumer);
        if (idem_cmd(x, &r, "SET %s %s NX PX 604800000", job.id, claimed))
            return MEND_EIO;
        int fresh = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!fresh) {
            if (idem_cmd(x, &r, "GET %s%s", job.id, ""))
                return MEND_EIO;
            char val[128] = "";
            if (r->type == REDIS_REPLY_STRING)
                snprintf(val, sizeof val, "%s", r->str);
            freeReplyObject(r);
            if (!strncmp(val, "done:", 5)) {
                x->dup++;
                return finish(x, e->sid, &job, "duplicate", -1, 0, now, 0, "", 0,
                              "already executed (idempotency key done)", 0, -1);
            }
            if (!strncmp(val, "started:", 8)) {
                /* it ran or runs under a previous executor: never again */
                char host[64] = "";
                long pid = 0;
                sscanf(val + 8, "%63[^:]:%ld", host, &pid);
                int here = !strcmp(host, x->host) && pid > 0 && pid < INT32_MAX;
                if (here && alive((pid_t)pid)) {
                    memset(s, 0, offsetof(struct slot, tail)); /* the tail buffer stays */
                    s->tail_len = 0;
                    s->used = s->orphan = 1;
                    s->pid = (pid_t)pid;
                    s->out_fd = -1;
                    s->job = job;
                    snprintf(s->sid, sizeof s->sid, "%s", e->sid);
                    s->start_mono = mono_ns();
                    s->deadline_mono = s->start_mono + job.spec->timeout_ns + 5000000000LL;
                    s->start_ms = now;
                    logf_("%s (id %s) runs under a previous executor as pid %ld: waiting for it", e->sid, job.id, pid);
                    return MEND_OK;
                }
                struct mend_exec_orphan_rec rec;
                int jr = here && x->c->journal[0] ? mend_exec_journal_get(x->c->journal, job.id, (int)pid, &rec)
                                                  : MEND_ENOTFOUND;
                if (jr == MEND_OK && rec.ran)
                    return report_orphan(x, e->sid, &job, (pid_t)pid, &rec, now);
                if (jr != MEND_OK)
                    return finish(x, e->sid, &job, "unknown", -1, 0, now, 0, "", 0,
                                  "ran under a previous executor; exit status unknown", 1, -1);
                /* its child recorded that it never ran the program (Redis
                 * was away): the effect has not happened, so it is ours */
                logf_("%s (id %s): pid %ld of a previous executor never ran it (journal): running it now", e->sid,
                      job.id, pid);
                stale_pid = (int)pid;
            }
            /* "claimed" by an executor that died before the start, or
             * started by an orphan that never ran it: ours now */
            if (idem_cmd(x, &r, "SET %s %s PX 604800000", job.id, claimed))
                return MEND_EIO;
            freeReplyObject(r);
        }
    }
    int pid, out_fd, go_fd;
    struct orphan_ctx oc = {x, job.id};
    struct mend_exec_orphan oh = {orphan_check, orphan_ended, &oc};
    if (mend_exec_spawn(&job, job.spec->timeout_ns, x->unsafe == 1 || x->unsafe == 2 ? NULL : &oh, &pid, &out_fd,
                        &go_fd) != MEND_OK) {
        snprintf(why, sizeof why, "fork failed: %s", strerror(errno));
        return finish(x, e->sid, &job, "failed", -1, 0, now, 0, "", 0, why, 1, -1);
    }
    if (x->unsafe != 2) {
        char started[128];
        snprintf(started, sizeof started, "started:%s:%d", x->host, pid);
        if (idem_cmd(x, &r, "SET %s %s PX 604800000", job.id, started)) {
            close(go_fd); /* the child exits without running */
            close(out_fd);
            waitpid(pid, NULL, 0);
            return MEND_EIO;
        }
        freeReplyObject(r);
        if (stale_pid) /* the key names our child now: the old record is moot */
            mend_exec_journal_del(x->c->journal, job.id, stale_pid);
        while (x->unsafe == 3) /* test control: "killed" right here, before the go */
            pause();
    }
    memset(s, 0, offsetof(struct slot, tail)); /* the tail buffer stays */
    s->used = 1;
    s->pid = pid;
    s->out_fd = out_fd;
    s->job = job;
    snprintf(s->sid, sizeof s->sid, "%s", e->sid);
    s->start_mono = mono_ns();
    s->deadline_mono = s->start_mono + job.spec->timeout_ns;
    s->start_ms = now;
    s->tail_len = 0;
    mend_exec_go(go_fd);
    s->latency_us = (mono_ns() - e->read_mono) / 1000;
    x->ran++;
    return MEND_OK;
}

static void drain_out(struct ex *x, struct slot *s)
{
    char buf[4096];
    ssize_t r;
    while (s->out_fd >= 0 && (r = read(s->out_fd, buf, sizeof buf)) > 0) {
        size_t cap = x->c->output_tail, n = (size_t)r;
        const char *p = buf;
        if (n >= cap) {
            p += n - cap;
            n = cap;
            s->tail_len = 0;
        } else if (s->tail_len + n > cap) {
            size_t drop = s->tail_len + n - cap;
            memmove(s->tail, s->tail + drop, s->tail_len - drop);
            s->tail_len -= drop;
        }
        memcpy(s->tail + s->tail_len, p, n);
        s->tail_len += n;
    }
}

/* Checks running children; finishes the ones that ended. */
static int reap(struct ex *x)
{
    int64_t now = mono_ns();
    for (uint32_t i = 0; i < x->c->max_concurrent; i++) {
        struct slot *s = &x->slots[i];
        if (!s->used)
            continue;
        if (s->orphan) {
            if (alive(s->pid) && now < s->deadline_mono)
                continue;
            s->used = 0;
            logf_("%s: pid %d of a previous executor gone after %" PRId64 " ms", s->sid, (int)s->pid,
                  (now - s->start_mono) / 1000000);
            struct mend_exec_orphan_rec rec;
            int jr = x->c->journal[0] && !alive(s->pid)
                         ? mend_exec_journal_get(x->c->journal, s->job.id, (int)s->pid, &rec)
                         : MEND_ENOTFOUND;
            if (jr == MEND_OK && rec.ran) {
                if (report_orphan(x, s->sid, &s->job, s->pid, &rec, s->start_ms))
                    return MEND_EIO;
                continue;
            }
            if (jr == MEND_OK) {
                /* it never ran: left pending, the reaper hands it out
                 * again and start() runs it */
                logf_("%s: pid %d never ran it (journal); left for the reaper", s->sid, (int)s->pid);
                continue;
            }
            if (finish(x, s->sid, &s->job, "unknown", -1, 0, s->start_ms, wall_ms() - s->start_ms, "", 0,
                       "ran under a previous executor; exit status unknown", 1, -1))
                return MEND_EIO;
            continue;
        }
        drain_out(x, s);
        int st;
        pid_t w = waitpid(s->pid, &st, WNOHANG);
        if (w == 0) {
            if (now >= s->deadline_mono && !s->killed) {
                kill(-s->pid, SIGKILL); /* the whole group: whatever it started */
                s->killed = 1;
            }
            continue;
        }
        drain_out(x, s);
        /* the group may still hold children that kept the pipe: end them */
        kill(-s->pid, SIGKILL);
        close(s->out_fd);
        s->out_fd = -1;
        s->used = 0;
        int code = w > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        int sig = w > 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        const char *status = s->killed ? "timeout" : code == 0 ? "ok" : "failed";
        char why[128];
        if (s->killed)
            snprintf(why, sizeof why, "killed after the %.3f s timeout", (double)s->job.spec->timeout_ns / 1e9);
        else if (sig)
            snprintf(why, sizeof why, "killed by signal %d", sig);
        else
            snprintf(why, sizeof why, "exit %d", code);
        if (finish(x, s->sid, &s->job, status, code, sig, s->start_ms, wall_ms() - s->start_ms, s->tail, s->tail_len,
                   why, 1, s->latency_us))
            return MEND_EIO;
    }
    return MEND_OK;
}

static size_t running(const struct ex *x)
{
    size_t n = 0;
    for (uint32_t i = 0; i < x->c->max_concurrent; i++)
        n += x->slots[i].used != 0;
    return n;
}

/* Appends the entries of an XREADGROUP/XAUTOCLAIM entry list to wait. */
static int take(struct ex *x, const redisReply *list, int redelivered, char *last_sid, size_t last_len)
{
    for (size_t i = 0; i < list->elements && x->n_wait < x->cap_wait; i++) {
        struct entry *e = &x->wait[(x->head_wait + x->n_wait) % x->cap_wait];
        int rc = entry_from_reply(e, list->element[i], redelivered);
        if (last_sid && e->sid[0])
            snprintf(last_sid, last_len, "%s", e->sid);
        if (rc == MEND_ENOTFOUND) { /* trimmed while pending: nothing to run */
            redisReply *r = redisCommand(x->rc, "XACK %s %s %s", x->k_actions, x->c->group, e->sid);
            if (!r)
                return MEND_EIO;
            freeReplyObject(r);
            continue;
        }
        if (rc != MEND_OK) {
            if (to_dlq(x, e, "malformed entry"))
                return MEND_EIO;
            continue;
        }
        if (x->unsafe == 1) { /* negative control: acknowledge on receipt */
            redisReply *r = redisCommand(x->rc, "XACK %s %s %s", x->k_actions, x->c->group, e->sid);
            if (!r)
                return MEND_EIO;
            freeReplyObject(r);
        }
        x->n_wait++;
    }
    return MEND_OK;
}

static int read_more(struct ex *x, int block_ms)
{
    if (x->n_wait)
        return MEND_OK;
    char count[16];
    snprintf(count, sizeof count, "%u", x->c->batch);
    redisReply *r;
    int own = x->pending_cursor[0] != '\0';
    if (own)
        r = redisCommand(x->rc, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s %s", x->c->group, x->c->consumer, count,
                         x->k_actions, x->pending_cursor);
    else if (block_ms > 0)
        r = redisCommand(x->rc, "XREADGROUP GROUP %s %s COUNT %s BLOCK %d STREAMS %s >", x->c->group, x->c->consumer,
                         count, block_ms, x->k_actions);
    else
        r = redisCommand(x->rc, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s >", x->c->group, x->c->consumer, count,
                         x->k_actions);
    if (!r)
        return MEND_EIO;
    int rc = MEND_OK;
    size_t got = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
        got = r->element[0]->element[1]->elements;
        rc = take(x, r->element[0]->element[1], own, own ? x->pending_cursor : NULL, sizeof x->pending_cursor);
    }
    if (own && got == 0)
        x->pending_cursor[0] = '\0'; /* our own backlog is done: new entries from now on */
    freeReplyObject(r);
    return rc;
}

static int reaper(struct ex *x)
{
    int64_t now = mono_ns();
    if (now < x->next_reap || x->n_wait)
        return MEND_OK;
    x->next_reap = now + x->c->reap_every_ns;
    char idle[24], count[16];
    snprintf(idle, sizeof idle, "%" PRId64, x->c->reap_idle_ns / 1000000);
    snprintf(count, sizeof count, "%u", x->c->batch);
    redisReply *r = redisCommand(x->rc, "XAUTOCLAIM %s %s %s %s 0-0 COUNT %s", x->k_actions, x->c->group,
                                 x->c->consumer, idle, count);
    if (!r)
        return MEND_EIO;
    int rc = MEND_OK;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_ARRAY) {
        if (r->element[1]->elements)
            logf_("reclaimed %zu idle entries", r->element[1]->elements);
        rc = take(x, r->element[1], 1, NULL, 0);
    }
    freeReplyObject(r);
    return rc;
}

int mend_exec_run(const struct mend_exec_conf *c, struct mend_verifier *v, int unsafe, volatile int *stop)
{
    struct ex x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.ver = v;
    x.unsafe = unsafe;
    snprintf(x.k_actions, sizeof x.k_actions, "%s:actions", c->prefix);
    snprintf(x.k_results, sizeof x.k_results, "%s:results", c->prefix);
    snprintf(x.k_dlq, sizeof x.k_dlq, "%s:dlq", c->prefix);
    snprintf(x.pending_cursor, sizeof x.pending_cursor, "0");
    if (gethostname(x.host, sizeof x.host) != 0)
        snprintf(x.host, sizeof x.host, "localhost");
    x.host[sizeof x.host - 1] = '\0';
    for (char *p = x.host; *p; p++)
        if (*p == ':')
            *p = '_';
    x.slots = calloc(c->max_concurrent, sizeof *x.slots);
    x.cap_wait = c->batch;
    x.wait = calloc(x.cap_wait, sizeof *x.wait);
    int rc = MEND_OK;
    if (!x.slots || !x.wait) {
        rc = MEND_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < c->max_concurrent; i++) {
        x.slots[i].out_fd = -1;
        x.slots[i].tail = malloc(c->output_tail);
        if (!x.slots[i].tail) {
            rc = MEND_ENOMEM;
            goto out;
        }
    }
    if (c->journal[0]) {
        char err[600];
        if (mend_exec_journal_open(c->journal, err, sizeof err) != MEND_OK) {
            logf_("%s", err);
            rc = MEND_EIO;
            goto out;
        }
    }
    int connected_once = 0;
    while (!*stop || running(&x)) {
        if (!x.rc) {
            char err[256];
            struct timeval tv = {2, 0};
            x.rc = mend_redis_connect(c->redis, c->user, c->password, tv, err, sizeof err);
            if (!x.rc) {
                if (!connected_once) {
                    logf_("%s", err);
                    rc = MEND_EIO;
                    goto out;
                }
                usleep(200000);
                continue;
            }
            redisReply *r = redisCommand(x.rc, "XGROUP CREATE %s %s 0 MKSTREAM", x.k_actions, c->group);
            if (r)
                freeReplyObject(r); /* BUSYGROUP: it exists */
            /* the newest epoch the engines reached: older ones are fenced off */
            r = redisCommand(x.rc, "GET %s:epoch", c->prefix);
            if (r && r->type == REDIS_REPLY_STRING) {
                uint64_t ep;
                if (mend_parse_u64(r->str, r->len, &ep) == MEND_OK && ep > x.max_epoch)
                    x.max_epoch = ep;
            }
            if (r)
                freeReplyObject(r);
            if (!connected_once)
                logf_("consumer %s of group %s on %s (%u at once)", c->consumer, c->group, x.k_actions,
                      c->max_concurrent);
            connected_once = 1;
        }
        int io = MEND_OK;
        if (!*stop) {
            size_t busy = running(&x);
            /* block on Redis only when no child needs watching */
            io = read_more(&x, busy ? 0 : 100);
            if (io == MEND_OK)
                io = reaper(&x);
            while (io == MEND_OK && x.n_wait) {
                struct slot *s = free_slot(&x);
                if (!s)
                    break;
                struct entry *e = &x.wait[x.head_wait];
                io = start(&x, e, s);
                if (io == MEND_OK) {
                    x.head_wait = (x.head_wait + 1) % x.cap_wait;
                    x.n_wait--;
                }
            }
        }
        if (io == MEND_OK && running(&x)) {
            struct pollfd pf[256];
            nfds_t n = 0;
            for (uint32_t i = 0; i < c->max_concurrent && n < 256; i++)
                if (x.slots[i].used && x.slots[i].out_fd >= 0)
                    pf[n++] = (struct pollfd){.fd = x.slots[i].out_fd, .events = POLLIN};
            poll(pf, n, 5);
            io = reap(&x);
        }
        if (io != MEND_OK) {
            logf_("redis: %s; reconnecting", x.rc && x.rc->errstr[0] ? x.rc->errstr : "error");
            redisFree(x.rc);
            x.rc = NULL;
            x.n_wait = x.head_wait = 0; /* they stay pending in Redis: read again */
            snprintf(x.pending_cursor, sizeof x.pending_cursor, "0");
        }
    }
    logf_("stopping: %" PRIu64 " run, %" PRIu64 " rejected, %" PRIu64 " to the DLQ, %" PRIu64 " duplicates", x.ran,
          x.rejected, x.dlq, x.dup);
out:
    if (x.rc)
        redisFree(x.rc);
    for (uint32_t i = 0; x.slots && i < c->max_concurrent; i++)
        free(x.slots[i].tail);
    free(x.slots);
    free(x.wait);
    return rc;
}
