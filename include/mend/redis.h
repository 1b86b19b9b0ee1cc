/* redis.h -- connecting to Redis (hiredis) the one way mend does it, for
 * the engine's queue, mend-exec and `mend approve`. */
#ifndef MEND_REDIS_H
#define MEND_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <sys/time.h>

/* addr is "unix:/path.sock" or "tcp://host:port"; user and password may be
 * NULL or "" (no AUTH; a user without a password is ignored). tv bounds
 * the connect and every later command. Returns a connected context (free
 * with redisFree) or NULL with err set. */
redisContext *mend_redis_connect(const char *addr, const char *user, const char *password, struct timeval tv,
                                 char *err, size_t errlen);

#endif
