/* cluster_internal.h -- what the jetstream input and the leases share: one
 * way to connect to NATS. */
#ifndef MEND_CLUSTER_INTERNAL_H
#define MEND_CLUSTER_INTERNAL_H

#include <nats/nats.h>

#include "mend/cluster.h"

/* Connects to urls ("nats://a:1,nats://b:2", at most 8) with optional
 * credentials file and TLS (tls, or a CA file, turns it on), reconnecting
 * without end (a cluster node going away is normal). creds/ca/cert/key ""
 * = none. On success *opts and *nc are the caller's to destroy; on failure
 * both are NULL and *what names the step that failed. */
natsStatus mend_nats_connect(const char *urls, const char *creds, int tls, const char *ca, const char *cert,
                             const char *key, natsOptions **opts, natsConnection **nc, const char **what);

#endif
