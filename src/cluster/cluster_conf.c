/* cluster_conf.c -- the `cluster:` section: where the NATS cluster is, which
 * stream and how many partitions, the lease bucket and its time to live,
 * credentials and TLS. Read by `mend cluster` (src/cli/cmd_cluster.c). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mend/cluster.h"
#include "mend/common.h"
#include "mend/confmap.h"

void mend_cluster_conf_defaults(struct mend_cluster_conf *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->servers, sizeof c->servers, "127.0.0.1:4222");
    snprintf(c->stream, sizeof c->stream, "MEND");
    snprintf(c->subject_prefix, sizeof c->subject_prefix, "mend.in");
    c->partitions = 16;
    c->replicas = 1;
    c->create = 1;
    snprintf(c->bucket, sizeof c->bucket, "mend-leases");
    c->lease_ttl_ns = 10LL * 1000000000LL;
    c->batch = 256;
    c->ack_wait_ns = 60LL * 1000000000LL;
}

#define OFF(f) offsetof(struct mend_cluster_conf, f)
#define SZ(f) sizeof(((struct mend_cluster_conf *)0)->f)

static const struct mend_conf_entry entries[] = {
    {.key = "servers", .type = MEND_CT_STR, .off = OFF(servers), .size = SZ(servers), .def = "127.0.0.1:4222",
     .help = "NATS servers, HOST:PORT separated by commas (any node of the cluster will do)"},
    {.key = "stream", .type = MEND_CT_STR, .off = OFF(stream), .size = SZ(stream), .def = "MEND",
     .help = "JetStream stream the collectors publish to"},
    {.key = "subject_prefix", .type = MEND_CT_STR, .off = OFF(subject_prefix), .size = SZ(subject_prefix),
     .def = "mend.in", .help = "partition P is subject PREFIX.P (the server's subject mapping picks P per entity)"},
    {.key = "partitions", .type = MEND_CT_U32, .off = OFF(partitions), .min = 1,
     .max = MEND_CLUSTER_MAX_PARTITIONS, .def = "16",
     .help = "number of partitions: fixed, as in the subject mapping, and more than there are engines"},
    {.key = "replicas", .type = MEND_CT_U32, .off = OFF(replicas), .min = 1, .max = 5, .def = "1",
     .help = "replicas of the stream and the lease bucket when mend creates them"},
    {.key = "create", .type = MEND_CT_BOOL, .off = OFF(create), .def = "true",
     .help = "create the stream and the lease bucket when they do not exist"},
    {.key = "bucket", .type = MEND_CT_STR, .off = OFF(bucket), .size = SZ(bucket), .def = "mend-leases",
     .help = "JetStream key-value bucket holding the partition leases"},
    {.key = "lease_ttl", .type = MEND_CT_DUR, .off = OFF(lease_ttl_ns), .min = 0.2, .max = 3600, .def = "10s",
     .help = "a lease not renewed this long is taken over (renewed every ttl/4; bounds takeover time)"},
    {.key = "name", .type = MEND_CT_STR, .off = OFF(name), .size = SZ(name), .def = "",
     .help = "this engine's name in the leases; empty = HOST-PID"},
    {.key = "batch", .type = MEND_CT_U32, .off = OFF(batch), .min = 1, .max = 4096, .def = "256",
     .help = "messages per fetch"},
    {.key = "ack_wait", .type = MEND_CT_DUR, .off = OFF(ack_wait_ns), .min = 1, .max = 86400, .def = "1m",
     .help = "consumer ack wait; messages held for a checkpoint are kept in progress meanwhile"},
    {.key = "creds", .type = MEND_CT_STR, .off = OFF(creds), .size = SZ(creds), .def = "",
     .help = "NATS credentials file (JWT and seed); empty = none"},
    {.key = "tls", .type = MEND_CT_BOOL, .off = OFF(tls), .def = "false", .help = "TLS to the servers"},
    {.key = "ca", .type = MEND_CT_STR, .off = OFF(ca), .size = SZ(ca), .def = "",
     .help = "CA certificates file for TLS; empty = the system's"},
    {.key = "cert", .type = MEND_CT_STR, .off = OFF(cert), .size = SZ(cert), .def = "",
     .help = "client certificate file for TLS; empty = none"},
    {.key = "key", .type = MEND_CT_STR, .off = OFF(key), .size = SZ(key), .def = "",
     .help = "client key file for TLS"},
};

static int conf_check(const void *conf, char *err, size_t errlen)
{
    const struct mend_cluster_conf *c = conf;
    if (strpbrk(c->stream, ". *>") || strpbrk(c->bucket, ". *>")) {
        snprintf(err, errlen, "cluster: stream and bucket names cannot hold '.', '*', '>' or spaces");
        return MEND_EINVAL;
    }
    if (!c->subject_prefix[0] || strpbrk(c->subject_prefix, " *>")) {
        snprintf(err, errlen, "cluster.subject_prefix: a subject without wildcards or spaces");
        return MEND_EINVAL;
    }
    if (c->cert[0] && !c->key[0]) {
        snprintf(err, errlen, "cluster.cert wants cluster.key");
        return MEND_EINVAL;
    }
    return MEND_OK;
}

const struct mend_conf_map mend_cluster_conf_map = {
    .name = "cluster", .entries = entries, .n = sizeof entries / sizeof entries[0],
    .struct_size = sizeof(struct mend_cluster_conf), .check = conf_check,
};
