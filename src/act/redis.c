/* redis.c -- one way to reach Redis for the engine, mend-exec and the CLI:
 * "unix:/path/to.sock" or "tcp://host:port", with an optional ACL user and
 * password (AUTH), and a timeout on connect and on every command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/act.h"
#include "mend/redis.h"

redisContext *mend_redis_connect(const char *addr, const char *user, const char *password, struct timeval tv,
                                 char *err, size_t errlen)
{
    redisContext *c = NULL;
    if (!strncmp(addr, "unix:", 5)) {
        const char *p = addr + 5;
        while (p[0] == '/' && p[1] == '/')
            p++;
        c = redisConnectUnixWithTimeout(p, tv);
    } else if (!strncmp(addr, "tcp://", 6)) {
        char host[256];
        const char *colon = strrchr(addr + 6, ':');
        if (!colon || (size_t)(colon - addr - 6) >= sizeof host) {
            snprintf(err, errlen, "%s: expected tcp://HOST:PORT", addr);
            return NULL;
        }
        memcpy(host, addr + 6, (size_t)(colon - addr - 6));
        host[colon - addr - 6] = '\0';
        c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    } else {
        snprintf(err, errlen, "%s: expected unix:/PATH or tcp://HOST:PORT", addr);
        return NULL;
    }
    if (!c || c->err) {
        snprintf(err, errlen, "%s: %s", addr, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (password && *password) {
        redisReply *r = user && *user ? redisCommand(c, "AUTH %s %s", user, password)
                                       : redisCommand(c, "AUTH %s", password);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        snprintf(err, errlen, "%s: AUTH: %s", addr, r && r->str ? r->str : "no reply");
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}
