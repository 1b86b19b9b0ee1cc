/* remediation_conf.c -- the `remediation.*` options, as a config map over
 * struct mend_remediation_conf (confmap.h): where the rules, the Redis
 * server, the signing key, the spool, the audit log and the learnt state
 * are, and the lease. Off unless enabled. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mend/act.h"
#include "mend/confmap.h"

#define OFF(f) offsetof(struct mend_remediation_conf, f)
#define SZ(f) sizeof(((struct mend_remediation_conf *)0)->f)

static const struct mend_conf_entry rules_elem = {
    .key = "rules", .type = MEND_CT_STR, .size = SZ(rules[0]),
};

static const struct mend_conf_entry entries[] = {
    {.key = "enabled", .type = MEND_CT_BOOL, .off = OFF(enabled), .def = "false",
     .help = "turn incidents into actions by the rules (the global switch; mend:off in Redis stops emission at once)"},
    {.key = "rules", .type = MEND_CT_LIST, .off = OFF(rules), .size = SZ(rules[0]), .elem = &rules_elem,
     .count_off = OFF(n_rules), .max_items = MEND_REMEDIATION_MAX_RULES, .def = "",
     .help = "rules files (YAML, see rules/); mend refuses to start when any is invalid"},
    {.key = "redis", .type = MEND_CT_STR, .off = OFF(redis), .size = SZ(redis),
     .def = "unix:/run/redis/redis-server.sock", .help = "Redis: unix:/PATH or tcp://HOST:PORT"},
    {.key = "user", .type = MEND_CT_STR, .off = OFF(user), .size = SZ(user), .def = "",
     .help = "Redis ACL user (with password)"},
    {.key = "password", .type = MEND_CT_STR, .off = OFF(password), .size = SZ(password), .def = "",
     .help = "Redis password; empty = no AUTH"},
    {.key = "node", .type = MEND_CT_STR, .off = OFF(node), .size = SZ(node), .def = "mend",
     .help = "this engine's name in the lease (mend:leader); give each engine its own"},
    {.key = "prefix", .type = MEND_CT_STR, .off = OFF(prefix), .size = SZ(prefix), .def = "mend",
     .help = "Redis key prefix (PREFIX:actions, :results, :leader, :epoch, :off, ...)"},
    {.key = "key", .type = MEND_CT_STR, .off = OFF(key), .size = SZ(key), .def = "",
     .help = "Ed25519 private key (PEM) that signs actions"},
    {.key = "key_id", .type = MEND_CT_STR, .off = OFF(key_id), .size = SZ(key_id), .def = "k1",
     .help = "the key's id, sent with each action (the executor looks the public key up by it)"},
    {.key = "spool", .type = MEND_CT_STR, .off = OFF(spool), .size = SZ(spool), .def = "",
     .help = "durable spool for actions while Redis is away; empty = none (actions then fail)"},
    {.key = "audit", .type = MEND_CT_STR, .off = OFF(audit), .size = SZ(audit), .def = "",
     .help = "audit log: one JSON line per decision; - = stdout, empty = none"},
    {.key = "state", .type = MEND_CT_STR, .off = OFF(state), .size = SZ(state), .def = "",
     .help = "file also keeping the learnt outcomes (the checkpoint carries them and wins when it has any); empty = none"},
    {.key = "lease", .type = MEND_CT_DUR, .off = OFF(lease_ns), .min = 0.01, .max = 3600, .def = "10s",
     .help = "leader lease (renewed at a third); only the holder emits"},
    {.key = "maxlen", .type = MEND_CT_U64, .off = OFF(maxlen), .min = 1000, .max = 1e12, .def = "1000000",
     .help = "approximate cap of the actions stream (XADD MAXLEN ~)"},
    {.key = "result_wait", .type = MEND_CT_DUR, .off = OFF(result_wait_ns), .min = 0, .max = 600, .def = "10s",
     .help = "replay: wait this long for the results of actions in flight"},
    {.key = "explore", .type = MEND_CT_F64, .off = OFF(explore), .min = 0, .max = 1, .def = "0.1",
     .help = "share of choose: best decisions that try a less-tried action"},
};

const struct mend_conf_map mend_remediation_conf_map = {
    .name = "remediation", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_remediation_conf),
};

void mend_remediation_conf_defaults(struct mend_remediation_conf *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->redis, sizeof c->redis, "unix:/run/redis/redis-server.sock");
    snprintf(c->node, sizeof c->node, "mend");
    snprintf(c->prefix, sizeof c->prefix, "mend");
    snprintf(c->key_id, sizeof c->key_id, "k1");
    c->lease_ns = 10 * 1000000000LL;
    c->maxlen = 1000000;
    c->result_wait_ns = 10 * 1000000000LL;
    c->explore = 0.1;
}
