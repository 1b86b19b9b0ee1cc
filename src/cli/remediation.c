/* remediation.c -- the CLI side of remediation: `--remediation FILE` for
 * replay/run (a YAML file with a `remediation:` section, the same shape the
 * main configuration will carry), `mend approve ID...`, `mend report`. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mend/act.h"
#include "mend/confmap.h"
#include "mend/redis.h"
#include "pipeline.h"

static const struct mend_conf_entry section[] = {
    {.key = "remediation", .type = MEND_CT_MAP, .off = 0, .sub = &mend_remediation_conf_map},
};
static const struct mend_conf_map file_map = {
    .name = "", .entries = section, .n = 1, .struct_size = sizeof(struct mend_remediation_conf),
};

int pipeline_remediation_conf(const char *path, struct mend_remediation_conf *c, char *err, size_t errlen)
{
    mend_remediation_conf_defaults(c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return MEND_EIO;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    size_t n = buf ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    if (!buf)
        return MEND_ENOMEM;
    int rc = n == cap ? (snprintf(err, errlen, "%s: larger than 1 MiB", path), MEND_ECAP)
                      : mend_conf_load_yaml(&file_map, c, path, buf, n, err, errlen);
    free(buf);
    return rc;
}

int pipeline_remediation_open(const char *path, const struct mend_remediation_conf *cfg, int replay,
                              struct mend_act **res)
{
    struct mend_remediation_conf c;
    char err[600];
    if (path && pipeline_remediation_conf(path, &c, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend: %s\n", err);
        return MEND_EXIT_USAGE;
    }
    if (!path)
        c = *cfg; /* the `remediation:` section of the configuration */
    int rc = mend_act_open(&c, replay, stderr, res, err, sizeof err);
    if (rc != MEND_OK) {
        fprintf(stderr, "mend: %s\n", err);
        return rc == MEND_EINVAL ? MEND_EXIT_USAGE : MEND_EXIT_RUNTIME;
    }
    return MEND_EXIT_OK;
}

/* `mend approve [--remediation FILE] ID...` */
int mend_cmd_approve(int argc, char **argv)
{
    const char *path = NULL;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--remediation")) {
        path = argv[2];
        first = 3;
    }
    if (first >= argc || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(first >= argc ? stderr : stdout,
                "usage: mend approve [--remediation FILE] ACTION_ID...\n"
                "Approves actions waiting under require_approval (the engine emits them on its next turn).\n");
        return first >= argc ? MEND_EXIT_USAGE : MEND_EXIT_OK;
    }
    struct mend_remediation_conf c;
    char err[600];
    if (path && pipeline_remediation_conf(path, &c, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "mend approve: %s\n", err);
        return MEND_EXIT_USAGE;
    }
    if (!path)
        mend_remediation_conf_defaults(&c);
    struct timeval tv = {2, 0};
    redisContext *rc = mend_redis_connect(c.redis, c.user, c.password, tv, err, sizeof err);
    if (!rc) {
        fprintf(stderr, "mend approve: %s\n", err);
        return MEND_EXIT_RUNTIME;
    }
    int code = MEND_EXIT_OK;
    for (int i = first; i < argc; i++) {
        if (strlen(argv[i]) != 32 || strspn(argv[i], "0123456789abcdef") != 32) {
            fprintf(stderr, "mend approve: %s: an action id is 32 hex digits\n", argv[i]);
            code = MEND_EXIT_USAGE;
            continue;
        }
        redisReply *r = redisCommand(rc, "SET %s:approve:%s 1 EX 86400", c.prefix, argv[i]);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "mend approve: %s: %s\n", argv[i], r ? r->str : rc->errstr);
            code = MEND_EXIT_RUNTIME;
        } else {
            printf("approved %s\n", argv[i]);
        }
        if (r)
            freeReplyObject(r);
    }
    redisFree(rc);
    return code;
}

/* `mend report --audit FILE [--since DUR]` */
int mend_cmd_report(int argc, char **argv)
{
    const char *audit = NULL, *since = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--audit") && i + 1 < argc)
            audit = argv[++i];
        else if (!strcmp(argv[i], "--since") && i + 1 < argc)
            since = argv[++i];
        else {
            fprintf(strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? stderr : stdout,
                    "usage: mend report --audit FILE [--since DURATION]\n"
                    "Reliability per entity from the remediation audit log: incidents, MTTR, MTBF,\n"
                    "availability over the period (DURATION before the log's last event; default all).\n");
            return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? MEND_EXIT_USAGE : MEND_EXIT_OK;
        }
    }
    if (!audit) {
        fprintf(stderr, "mend report: --audit FILE is required\n");
        return MEND_EXIT_USAGE;
    }
    int64_t span = INT64_MAX;
    if (since && mend_conf_parse_duration(since, &span) != MEND_OK) {
        fprintf(stderr, "mend report: --since wants a duration such as 7d, 24h\n");
        return MEND_EXIT_USAGE;
    }
    struct mend_reliability rows[256];
    int64_t from, to;
    int n = mend_reliability(audit, span, INT64_MAX, rows, 256, &from, &to);
    if (n < 0) {
        fprintf(stderr, "mend report: %s: %s\n", audit, mend_strerror(n));
        return MEND_EXIT_RUNTIME;
    }
    char a[48], b[48];
    printf("period %s .. %s (%.1f h)\n", mend_time_format(from, a, sizeof a), mend_time_format(to, b, sizeof b),
           (double)(to - from) / 3.6e12);
    printf("%-24s %9s %10s %10s %12s %12s %12s\n", "entity", "incidents", "recovered", "MTTR_s", "MTBF_s",
           "avail", "verified_TTR_s");
    for (int i = 0; i < n && i < 256; i++)
        printf("%-24s %9u %10u %10.0f %12.0f %11.4f%% %12.0f\n", rows[i].entity, rows[i].incidents,
               rows[i].recoveries, rows[i].mttr_s, rows[i].mtbf_s, 100.0 * rows[i].availability,
               rows[i].ttr_verified_s);
    return MEND_EXIT_OK;
}
