/* act.h -- remediation: rules turn incidents into actions, the planner
 * decides when an action may go (cooldown with backoff, attempt limits,
 * escalation, approval, budgets, an off switch), actions are signed
 * (Ed25519) and written to a Redis stream by the lease holder only, or to a
 * local durable spool while Redis is away; results come back, the planner
 * verifies recovery over the rule's verify window and learns which action
 * works for which kind of target. Everything here lives in src/act/; the
 * executor is src/exec/ (mend-exec).
 *
 * Time. The planner never reads a clock: every call carries `now` (ns), the
 * engine's event time, so replays decide exactly as live runs and tests
 * drive it with a replayed clock. Only the queue stamps wall time (the
 * executor checks TTLs against its own clock).
 *
 * Errors follow common.h. Parsers report every problem they find through a
 * struct mend_act_errs sink as file:line:col: reason. */
#ifndef MEND_ACT_H
#define MEND_ACT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mend/common.h"
#include "mend/incident.h"

/* Receives one problem; file and msg are borrowed for the call. */
struct mend_act_errs {
    void (*fn)(void *ctx, const char *file, uint32_t line, uint32_t col, const char *msg);
    void *ctx;
};

/* ---- rules ----------------------------------------------------------------- */

#define MEND_ACT_NAME 64       /* rule, action and parameter names */
#define MEND_ACT_VALUE 256     /* parameter values and templates */
#define MEND_ACT_TARGET 128
#define MEND_ACT_MAX_PARAMS 16
#define MEND_ACT_MAX_CANDIDATES 4
#define MEND_ACT_MAX_RULES 256
#define MEND_ACT_MAX_TAGS 8

struct mend_act_param {
    char name[MEND_ACT_NAME];
    char value[MEND_ACT_VALUE]; /* a template in a rule, the filled value in an action */
};

struct mend_rule_step {
    char action[MEND_ACT_NAME];
    struct mend_act_param params[MEND_ACT_MAX_PARAMS];
    uint32_t n_params;
};

enum mend_severity { MEND_SEV_INFO, MEND_SEV_WARNING, MEND_SEV_CRITICAL };

struct mend_rule {
    char name[MEND_ACT_NAME];
    uint32_t line;                       /* where it starts in its file */
    /* match (all given selectors must hold; globs as fnmatch(3)) */
    char entity[MEND_ACT_TARGET];        /* "" = any */
    char series[MEND_ACT_VALUE];         /* some signal's key matches; "" = any */
    struct mend_act_param tags[MEND_ACT_MAX_TAGS]; /* tag=value on some signal's key */
    uint32_t n_tags;
    char component[MEND_ACT_TARGET];     /* root_cause.component glob; "" = any */
    double min_score;
    int64_t min_duration_ns;
    enum mend_severity min_severity;
    /* what to do */
    char target[MEND_ACT_VALUE];         /* template, default "{{ entity }}" */
    struct mend_rule_step steps[MEND_ACT_MAX_CANDIDATES];
    uint32_t n_steps;
    int choose_best;                     /* choose: best (else in order) */
    struct mend_rule_step escalate;      /* n/a when escalate.action[0] == 0 */
    /* pacing */
    int64_t cooldown_ns, max_cooldown_ns, reset_after_ns;
    double backoff;
    uint32_t max_attempts;
    int64_t window_ns, verify_ns, ttl_ns, approval_ttl_ns;
    int64_t result_timeout_ns;           /* emitted and no result this long after: timed_out
                                            (default ttl + 5 min, at least ttl) */
    int dry_run, require_approval;
};

struct mend_rules_budget {
    uint32_t max_concurrent, max_per_target, max_per_hour;
};

struct mend_rules;
int mend_rules_new(struct mend_rules **res);
void mend_rules_free(struct mend_rules *r); /* NULL is fine */
/* Adds the rules of one YAML document (name is used in messages). Every
 * error is reported through errs (may be NULL); nothing is added from a
 * document with errors. Returns 0, MEND_EINVAL / MEND_EPARSE (reported),
 * MEND_ECAP (more than MEND_ACT_MAX_RULES, reported) or MEND_ENOMEM. */
int mend_rules_load(struct mend_rules *r, const char *name, const char *buf, size_t len,
                    const struct mend_act_errs *errs);
/* Same from a file; an unreadable file is reported as file:1:1. */
int mend_rules_load_file(struct mend_rules *r, const char *path, const struct mend_act_errs *errs);
size_t mend_rules_count(const struct mend_rules *r);
const struct mend_rule *mend_rules_get(const struct mend_rules *r, size_t i); /* NULL past the end */
/* The budgets: defaults 4 at once, 1 per target, 20 per hour; the first
 * file with budgets: replaces them, later files can only tighten. */
void mend_rules_budget(const struct mend_rules *r, struct mend_rules_budget *b);

/* Severity from an incident: critical when max_score >= 0.99 or 3+ signals,
 * warning when max_score >= 0.9, else info. */
enum mend_severity mend_incident_severity(const struct mend_incident *inc);

/* ---- actions --------------------------------------------------------------- */

struct mend_action {
    char id[33];                  /* hex: SHA-256(rule, target, incident, attempt)[0:16] */
    char rule[MEND_ACT_NAME];
    char action[MEND_ACT_NAME];
    char target[MEND_ACT_TARGET];
    uint64_t incident;
    uint32_t attempt;             /* 1-based per (rule, target, incident) */
    struct mend_act_param params[MEND_ACT_MAX_PARAMS];
    uint32_t n_params;
    int64_t ttl_ns;
    int64_t created_ms;           /* wall time, set by the queue when first taken */
    /* `mend cluster`: the partition lease the action was made under
     * ("p<N>", "" = none: the queue's own Redis lease fences it) and that
     * lease's epoch. Redis refuses it once PREFIX:fence:<fence> holds a
     * newer epoch (mend_queue_fence_raise), so a stale engine cannot act. */
    char fence[24];
    uint64_t fence_epoch;
};

/* Fills id from rule, target, incident and attempt. */
void mend_action_make_id(struct mend_action *a);

/* ---- the planner ----------------------------------------------------------- */

struct mend_planner_hooks {
    /* Sends one action (to the queue or its spool). 0 = taken; anything else
     * = not sent (counted, audited as "emit_failed", the attempt not used). */
    int (*emit)(void *ctx, const struct mend_action *a);
    /* One decision for the audit log: event names "matched", "cooldown",
     * "in_flight", "over_budget", "disabled", "dry_run", "awaiting_approval",
     * "approval_expired", "emitted", "emit_failed", "executed", "failed",
     * "rejected", "timed_out", "late_result", "verified", "not_recovered",
     * "escalated", "exhausted", "dropped" (a restored case left out:
     * mend_planner_load_cases).
     * a may be NULL; why is a short text; all borrowed for the call. */
    void (*audit)(void *ctx, int64_t now, const char *event, const char *rule, const char *target,
                  uint64_t incident, const struct mend_action *a, const char *why);
    void *ctx;
};

struct mend_planner_conf {
    int enabled;         /* the off switch, default 1 */
    double explore;      /* share of choose:best picks that explore, default 0.1 */
    uint32_t max_cases;  /* (rule, target) states kept, default 4,096, at most
                            MEND_PLANNER_MAX_CASES */
};
#define MEND_PLANNER_MAX_CASES 65536u
void mend_planner_conf_defaults(struct mend_planner_conf *c);

struct mend_planner;
/* rules and hooks are borrowed and must outlive the planner. */
int mend_planner_new(const struct mend_planner_conf *c, const struct mend_rules *rules,
                     const struct mend_planner_hooks *hooks, struct mend_planner **res);
void mend_planner_free(struct mend_planner *p);

/* An incident change ("open", "update", "resolve"). component is the
 * localised root cause (NULL when none: "{{ root_cause.component }}" then
 * fills with the entity). Returns 0 or MEND_ENOMEM / MEND_ECAP. */
int mend_planner_incident(struct mend_planner *p, const char *status, const struct mend_incident *inc,
                          const char *component, int64_t now);
/* An outcome from mend:results. status: "ok", "failed", "timeout",
 * "rejected". Unknown ids are ignored (MEND_ENOTFOUND). */
int mend_planner_result(struct mend_planner *p, const char *action_id, const char *status,
                        const char *why, int64_t now);
/* Time moved on: verify windows end, approvals expire, and an action
 * emitted longer ago than its rule's result_timeout with no result times
 * out: audited "timed_out", learnt as not recovered, its budget slot and
 * its (rule, target) freed, the rule's next step (or, with its attempts
 * used up, its escalation) taken at the next match -- as a failure. A
 * result that arrives after that is audited "late_result" and changes
 * nothing. */
void mend_planner_tick(struct mend_planner *p, int64_t now);
/* An operator approved action_id: it is emitted now (budgets still hold).
 * Returns 0, MEND_ENOTFOUND (no such pending action) or MEND_EAGAIN (over
 * budget: stays pending). */
int mend_planner_approve(struct mend_planner *p, const char *action_id, int64_t now);
/* The ids awaiting approval (up to cap); returns how many were written. */
size_t mend_planner_pending(const struct mend_planner *p, char (*ids)[33], size_t cap);
/* The ids of actions in flight (up to cap); returns how many were written. */
size_t mend_planner_in_flight(const struct mend_planner *p, char (*ids)[33], size_t cap);
/* The off switch: takes effect for the next decision. */
void mend_planner_set_enabled(struct mend_planner *p, int on);

struct mend_planner_stats {
    uint64_t matched, emitted, suppressed, over_budget, escalated, verified, not_recovered,
        failed, in_flight, timed_out, late_results;
};
void mend_planner_stats(const struct mend_planner *p, struct mend_planner_stats *st);

/* Outcome learning, per (rule, action, target kind); the target kind is the
 * target without its trailing digits and separators ("web-2" -> "web"). */
struct mend_outcome {
    uint64_t attempts, recoveries;
    double ttr_sum_s;              /* sum of times to repair, seconds */
};
/* Returns 0 or MEND_ENOTFOUND. */
int mend_planner_outcome(const struct mend_planner *p, const char *rule, const char *action,
                         const char *target_kind, struct mend_outcome *o);
/* The outcome table for checkpoints; load replaces it and refuses
 * malformed or oversized input with MEND_ECORRUPT, leaving it unchanged. */
int mend_planner_save(const struct mend_planner *p, struct mend_wbuf *w);
int mend_planner_load(struct mend_planner *p, struct mend_rbuf *r);
/* How many (rule, action, target kind) rows the outcome table holds. */
size_t mend_planner_outcomes(const struct mend_planner *p);

/* The case state for checkpoints, so a restart loses no retry: per (rule,
 * target) the attempts within the window, the cooldown in force and when
 * the next attempt may go, the action in flight with its result deadline,
 * the one awaiting approval, the verify window under way; the budget's
 * emission times of the last hour; the planner's clock. Cases name their
 * rule by name. load_cases replaces p's cases with the saved ones: a case
 * whose rule is not in p's rules, or past p's max_cases (busy cases are
 * kept first), is left out -- counted in *dropped, and audited "dropped"
 * when it had something under way. Malformed input (bad magic, a count
 * over MEND_PLANNER_MAX_CASES or more than the bytes hold, a name too
 * long, an unknown state, an action id that is not 32 hex digits, the
 * same (rule, target) twice) is MEND_ECORRUPT and leaves p unchanged.
 * kept and dropped may be NULL. Returns 0, MEND_ECORRUPT or MEND_ENOMEM. */
int mend_planner_save_cases(const struct mend_planner *p, struct mend_wbuf *w);
int mend_planner_load_cases(struct mend_planner *p, struct mend_rbuf *r, size_t *kept, size_t *dropped);
/* How many (rule, target) cases the planner holds. */
size_t mend_planner_cases(const struct mend_planner *p);

/* ---- learnt outcomes in the engine checkpoint ------------------------------ */

/* The outcome table travels in the engine's checkpoint as a section of its
 * own (engine.h, mend_engine_add_section). The section must be registered
 * before the checkpoint is restored, but the remediation stage opens later
 * (it connects to Redis and opens its audit log, which waits until
 * everything that can be refused is checked). So a store stands in for
 * the stage: restore loads the table into the store (checked as
 * mend_planner_load checks it: a damaged section fails the restore);
 * attach hands it to the stage's planner; from then on checkpoints carry
 * the planner's table. A store never attached writes back what it
 * restored, so a run without remediation keeps what was learnt. */
#define MEND_ACT_SECTION_TAG 0x4c544341u /* "ACTL" */
#define MEND_ACT_SECTION_VERSION 1u
/* The planner's case state (mend_planner_save_cases) travels the same way,
 * in a section of its own: the outcome table outlives rule edits and
 * restarts alike, cases are tied to the rules of the run; an older mend
 * skips a section it does not know, where bytes appended to ACTL would
 * make it refuse the checkpoint; and ACTL stays as it was. */
#define MEND_ACT_CASES_TAG 0x43544341u /* "ACTC" */
#define MEND_ACT_CASES_VERSION 1u
struct mend_act_store;
struct mend_engine_section;
int mend_act_store_new(struct mend_act_store **res); /* 0 or MEND_ENOMEM */
void mend_act_store_free(struct mend_act_store *s);  /* NULL is fine */
/* Fills sec for mend_engine_add_section; s is the section's ctx and must
 * outlive the engine. */
void mend_act_store_section(struct mend_act_store *s, struct mend_engine_section *sec);
/* Rows the store holds while no planner is attached (restored from a
 * checkpoint, or kept at detach). */
size_t mend_act_store_restored(const struct mend_act_store *s);
/* The second section, the planner's cases, on the same store (same
 * lifetime rules). Restore checks the bytes as mend_planner_load_cases
 * does (a damaged section fails the restore) and keeps them; attach loads
 * them into the stage's planner (its rules decide which cases stay); until
 * then, and after a detach, checkpoints carry the cases as they were. */
void mend_act_store_cases_section(struct mend_act_store *s, struct mend_engine_section *sec);
/* Cases the store holds (restored, or kept at detach; 0 when none), and,
 * after attach, how many the planner took and left out. */
struct mend_act_store_cases {
    size_t held, taken, dropped;
};
void mend_act_store_cases(const struct mend_act_store *s, struct mend_act_store_cases *c);
/* From now on the section is p's table (p borrowed: must outlive the store
 * or be detached with attach(s, NULL), which keeps a copy of its table and
 * cases for later checkpoints). When the store holds a restored table with
 * rows, it replaces p's (a checkpoint is newer than any remediation.state
 * file read at open); an empty one leaves p's as it is. Restored cases
 * replace p's cases (see mend_act_store_cases for what was left out).
 * Returns 0 or MEND_ENOMEM. */
int mend_act_store_attach(struct mend_act_store *s, struct mend_planner *p);

/* ---- signing (Ed25519, OpenSSL libcrypto) ---------------------------------- */

/* The bytes signed for a message of n field/value pairs (sig excluded) are,
 * for each pair in order, "<len>:<field>,<len>:<value>," (netstrings) --
 * unambiguous whatever the values hold. Returns the length needed (may be
 * more than cap: nothing past cap is written). */
size_t mend_sign_canon(const char *const *fields, const char *const *values, size_t n,
                       char *out, size_t cap);

struct mend_signer;
/* Loads a PEM Ed25519 private key; kid names it in messages ("key id").
 * Returns 0, MEND_EIO (unreadable), MEND_EPARSE (not an Ed25519 key). */
int mend_signer_load(const char *pem_path, const char *kid, struct mend_signer **res);
void mend_signer_free(struct mend_signer *s);
const char *mend_signer_kid(const struct mend_signer *s);
/* Signs msg into hex (129 bytes with the NUL). Returns 0 or MEND_EIO. */
int mend_signer_sign(struct mend_signer *s, const void *msg, size_t len, char hex[129]);

#define MEND_VERIFY_MAX_KEYS 16
struct mend_verifier;
int mend_verifier_new(struct mend_verifier **res);
void mend_verifier_free(struct mend_verifier *v);
/* Adds a PEM public key under kid. Returns 0, MEND_EIO, MEND_EPARSE, MEND_ECAP. */
int mend_verifier_add(struct mend_verifier *v, const char *kid, const char *pem_path);
/* Returns 0 (valid), MEND_ENOTFOUND (unknown kid), MEND_EPARSE (signature
 * not 128 hex digits) or MEND_ECORRUPT (does not verify). */
int mend_verifier_check(struct mend_verifier *v, const char *kid, const void *msg, size_t len,
                        const char *sig_hex);

/* ---- the durable spool ----------------------------------------------------- */

/* An append-only file of records, each "MSP1" + u32 length + u32 XXH32 of the
 * payload + payload, written with write(2) and fdatasync'd before append
 * returns; a side file PATH.pos holds how many records were delivered
 * (replaced atomically: write, fsync, rename). Open truncates a torn last
 * record (counted) and refuses a damaged one in the middle (MEND_ECORRUPT).
 * When every record is delivered both files are emptied. Records are
 * delivered oldest first. */
#define MEND_SPOOL_MAX_RECORD (64u * 1024u)
#define MEND_SPOOL_MAX_RECORDS 1000000u
struct mend_spool;
int mend_spool_open(const char *path, struct mend_spool **res, char *err, size_t errlen);
void mend_spool_close(struct mend_spool *s);
/* Returns 0, MEND_ECAP (record too big or spool full), MEND_EIO. */
int mend_spool_append(struct mend_spool *s, const void *rec, size_t len);
/* Records not yet delivered. */
uint64_t mend_spool_pending(const struct mend_spool *s);
/* The oldest undelivered record, borrowed until the next call. Returns 0,
 * MEND_ENOTFOUND (empty), MEND_EIO, MEND_ECORRUPT. */
int mend_spool_peek(struct mend_spool *s, const void **rec, size_t *len);
/* Marks the oldest record delivered (durably). Returns 0 or MEND_EIO. */
int mend_spool_pop(struct mend_spool *s);
uint64_t mend_spool_torn(const struct mend_spool *s); /* torn tails cut at open */

/* ---- the queue: Redis, lease, emission ------------------------------------- */

struct mend_queue_conf {
    char redis[256];        /* unix:/path/redis.sock or tcp://host:port */
    char user[64];          /* ACL user ("" = default) */
    char password[128];     /* "" = none */
    char node[64];          /* this engine's name in mend:leader */
    char prefix[32];        /* key prefix, default "mend" */
    int64_t lease_ns;       /* lease time, default 10 s (renewed at a third) */
    uint64_t maxlen;        /* MAXLEN ~ of the actions stream, default 1,000,000 */
    int64_t timeout_ns;     /* connect/command timeout, default 500 ms */
};
void mend_queue_conf_defaults(struct mend_queue_conf *c);

struct mend_queue;
/* signer and spool are borrowed (must outlive the queue); spool may be NULL
 * (then an unreachable Redis answers MEND_EAGAIN). No connection is made
 * yet. */
int mend_queue_new(const struct mend_queue_conf *c, struct mend_signer *signer, struct mend_spool *spool,
                   struct mend_queue **res);
void mend_queue_free(struct mend_queue *q);
/* Takes or renews the lease (mono_ns: a monotonic clock). Returns 1 when
 * this engine holds it (epoch set), 0 when another does, MEND_EIO when
 * Redis is away. Losing it stops emission at once. */
int mend_queue_lease(struct mend_queue *q, int64_t mono_ns);
uint64_t mend_queue_epoch(const struct mend_queue *q);
/* Sends a, signed, stamped with wall time and the epoch, through the spool
 * when it holds anything (so order holds). Redis itself refuses the XADD
 * unless this engine holds mend:leader and mend:off is unset (one script:
 * no window between the check and the write), and collapses a re-emitted
 * id (mend:sent:<id>). Returns 0 (sent or spooled), MEND_EAGAIN (not the
 * lease holder, or the off switch: not spooled), MEND_ECAP / MEND_EIO. */
int mend_queue_emit(struct mend_queue *q, const struct mend_action *a);
/* Delivers spooled records in order while Redis takes them. Returns 0
 * (spool empty), MEND_EAGAIN (Redis away or lease lost: try later). */
int mend_queue_drain(struct mend_queue *q);
/* Reads new entries of mend:results (non-blocking) and hands each one's
 * fields to fn. Returns how many were read, or MEND_EIO. */
int mend_queue_results(struct mend_queue *q,
                       void (*fn)(void *ctx, const char *id, const char *status, const char *why),
                       void *ctx);
/* Partition fencing (`mend cluster`): raises PREFIX:fence:<fence> to epoch
 * (never lowers it), so actions carrying an older epoch for that fence are
 * refused from now on. A new owner calls it when it takes a partition up.
 * Returns 0, MEND_EAGAIN (a newer epoch is there: the caller is stale),
 * MEND_EIO (Redis away). An action with a fence (see struct mend_action)
 * goes through its own script: written only while its epoch is at least
 * the fence's (which it then raises), the off switch unset and its id not
 * sent before; the queue's own lease is not needed for it. Its entry
 * carries "fence" and "fence_epoch" (signed) and "epoch" 0. */
int mend_queue_fence_raise(struct mend_queue *q, const char *fence, uint64_t epoch);
/* 1 when mend:approve:<id> exists (then deletes it), 0 when not, MEND_EIO. */
int mend_queue_approved(struct mend_queue *q, const char *id);

struct mend_queue_stats {
    uint64_t sent, spooled, drained, collapsed, refused, redis_errors;
};
void mend_queue_stats(const struct mend_queue *q, struct mend_queue_stats *st);

/* Serialises an action as a spool record / reads it back. */
int mend_action_encode(const struct mend_action *a, struct mend_wbuf *w);
int mend_action_decode(const void *buf, size_t len, struct mend_action *a);

/* ---- the remediation stage of the pipeline --------------------------------- */

#define MEND_REMEDIATION_MAX_RULES 16
struct mend_remediation_conf {
    int enabled;                                   /* the switch; default off */
    char rules[MEND_REMEDIATION_MAX_RULES][512];   /* rules files */
    size_t n_rules;
    char redis[256], user[64], password[128], node[64], prefix[32];
    char key[512], key_id[64];                     /* Ed25519 private key (PEM) and its id */
    char spool[512];                               /* durable spool; "" = none */
    char audit[512];                               /* audit JSON lines; "-" = stdout, "" = none */
    char state[512];                               /* outcome learning kept across runs besides the
                                                      checkpoint (read at open, written at close);
                                                      "" = none */
    int64_t lease_ns;
    uint64_t maxlen;
    int64_t result_wait_ns;                        /* replay: wait this long for results in flight */
    double explore;
};
void mend_remediation_conf_defaults(struct mend_remediation_conf *c);
struct mend_conf_map;
extern const struct mend_conf_map mend_remediation_conf_map; /* remediation.* */

/* The stage: rules, planner, signer, spool, queue and audit log, as one
 * output (output.h) of the incident set. */
struct mend_act;
/* Loads everything c names; refuses to start on any invalid rule (every
 * error is printed to errf as file:line:col: reason) or unreadable key.
 * replay: results are waited for (result_wait) so verification follows the
 * replayed clock. Returns 0, MEND_EINVAL (err says why), MEND_EIO,
 * MEND_ENOMEM. */
int mend_act_open(const struct mend_remediation_conf *c, int replay, FILE *errf, struct mend_act **res, char *err,
                  size_t errlen);
/* Saves the learning (state file), closes the audit log; NULL is fine. */
void mend_act_close(struct mend_act *a);
/* One turn: renew the lease, drain the spool, read results and approvals,
 * end verify windows. now is the engine's event time. */
void mend_act_poll(struct mend_act *a, int64_t now);
/* Call after the planner got actions in flight from before this start
 * (cases restored from a checkpoint, mend_act_store_attach): mend:results
 * is searched back, newest first and at most MEND_ACT_CATCHUP entries,
 * for their results, which came while no engine read them (the queue reads
 * only what comes after it connects). Found results are taken oldest
 * first on the planner's clock (the checkpoint's time, before any incident
 * moves it on); the rest keep waiting for their result_timeout. Done at
 * once, or at the next turn Redis answers. Returns how many actions are in
 * flight (0: nothing to search for). */
#define MEND_ACT_CATCHUP 10000
size_t mend_act_resume(struct mend_act *a);
/* Results found that way so far. */
uint64_t mend_act_caught_up(const struct mend_act *a);
/* Waits (replay) up to result_wait for actions in flight, then polls. */
void mend_act_finish(struct mend_act *a, int64_t now);
struct mend_planner *mend_act_planner(struct mend_act *a);
/* A /metrics collector (metrics.h, mend_metrics_register; ctx is the
 * struct mend_act, which must outlive the server): the planner's decisions
 * by kind (mend_remediation_decisions_total{decision=...}), actions in
 * flight, cases held, the queue's outcomes, Redis errors, the spool's
 * backlog. Returns 0 or the metrics writer's error. */
struct mend_metrics_out;
int mend_act_metrics(void *ctx, struct mend_metrics_out *o);
/* `mend cluster`: the fence (partition lease name and epoch) the actions the
 * planner emits from here on carry, until set again ("" = none); set it
 * before handing a partition's incident to the stage. Actions emitted
 * outside a partition's incident (approvals, escalations on results) carry
 * none and need the queue's own lease. */
void mend_act_set_fence(struct mend_act *a, const char *fence, uint64_t epoch);
/* mend_queue_fence_raise on the stage's queue. */
int mend_act_fence_raise(struct mend_act *a, const char *fence, uint64_t epoch);

/* The output kind "act": conf is a struct mend_act_output_conf whose act
 * (borrowed) must outlive the output set. */
struct mend_act_output_conf {
    struct mend_act *act;
};
struct mend_output_ops;
extern const struct mend_output_ops mend_output_act_ops;

/* Reliability per entity from an audit log (mend report): incidents opened
 * and resolved, verified recoveries and their times to repair, over
 * [since, until] of event time (until = the log's last event). */
struct mend_reliability {
    char entity[MEND_ACT_TARGET];
    uint32_t incidents, recoveries;
    double downtime_s, mttr_s, mtbf_s, availability, ttr_verified_s;
};
/* Reads the audit log at path; fills up to cap rows (sorted by entity).
 * Returns the number of entities (may exceed cap), or MEND_EIO/MEND_ENOMEM. */
int mend_reliability(const char *path, int64_t since_ns, int64_t until_ns, struct mend_reliability *rows, size_t cap,
                     int64_t *period_start, int64_t *period_end);

#endif
