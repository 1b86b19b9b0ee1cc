/* nats_conn.c -- connecting to NATS for the jetstream input and the leases
 * (see cluster_internal.h). */
#include <stdbool.h>
#include <string.h>

#include "cluster_internal.h"

#define CONN_SERVERS_MAX 8

natsStatus mend_nats_connect(const char *urls, const char *creds, int tls, const char *ca, const char *cert,
                             const char *key, natsOptions **opts, natsConnection **nc, const char **what)
{
    char buf[1024];
    const char *servers[CONN_SERVERS_MAX];
    int n = 0;
    *opts = NULL;
    *nc = NULL;
    *what = "servers";
    if (strlen(urls) >= sizeof buf)
        return NATS_INVALID_ARG;
    memcpy(buf, urls, strlen(urls) + 1);
    for (char *sv, *save = NULL, *u = buf; n < CONN_SERVERS_MAX && (sv = strtok_r(u, ",", &save)); u = NULL)
        servers[n++] = sv;
    if (n == 0)
        return NATS_INVALID_ARG;
    natsStatus s = natsOptions_Create(opts);
    *what = "options";
    if (s == NATS_OK)
        s = natsOptions_SetServers(*opts, servers, n);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(*opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(*opts, 200);
    if (s == NATS_OK && creds[0])
        s = natsOptions_SetUserCredentialsFromFiles(*opts, creds, NULL), *what = "creds";
    if (s == NATS_OK && (tls || ca[0]))
        s = natsOptions_SetSecure(*opts, true), *what = "tls";
    if (s == NATS_OK && ca[0])
        s = natsOptions_SetCATrustedCertificates(*opts, ca), *what = "ca";
    if (s == NATS_OK && cert[0])
        s = natsOptions_SetCertificatesChain(*opts, cert, key), *what = "cert";
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, *opts), *what = "connect";
    if (s != NATS_OK) {
        natsConnection_Destroy(*nc);
        natsOptions_Destroy(*opts);
        *nc = NULL;
        *opts = NULL;
    }
    return s;
}
