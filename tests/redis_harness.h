/* redis_harness.h -- a private redis-server for tests: started on a unix
 * socket in a temp dir (no TCP port), with an append-only file fsync'd on
 * every write so a SIGKILL and restart keeps what it acknowledged; killed
 * and restarted at will; plus Ed25519 test keys written as PEM files. */
#ifndef MEND_TEST_REDIS_HARNESS_H
#define MEND_TEST_REDIS_HARNESS_H

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct rh {
    char dir[256];
    char sock[300];
    char addr[310];
    pid_t pid;
};

static void rh_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static redisContext *rh_connect(struct rh *h)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectUnixWithTimeout(h->sock, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server; returns 0 once it answers PING. */
static int rh_start(struct rh *h)
{
    h->pid = fork();
    if (h->pid == 0) {
        int dn = open("/dev/null", 1);
        dup2(dn, 1);
        dup2(dn, 2);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", h->sock, "--dir", h->dir,
               "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        redisContext *c = rh_connect(h);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        rh_sleep_ms(10);
    }
    return -1;
}

static void rh_kill(struct rh *h)
{
    if (h->pid > 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
    }
    h->pid = 0;
}

__attribute__((unused)) static int rh_init(struct rh *h, const char *name)
{
    snprintf(h->dir, sizeof h->dir, "/tmp/mend-%s-XXXXXX", name);
    if (!mkdtemp(h->dir))
        return -1;
    snprintf(h->sock, sizeof h->sock, "%s/redis.sock", h->dir);
    snprintf(h->addr, sizeof h->addr, "unix:%s", h->sock);
    return rh_start(h);
}

static void rh_fini(struct rh *h)
{
    rh_kill(h);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", h->dir);
}

/* Writes an Ed25519 key pair as DIR/NAME.key (private) and DIR/NAME.pub. */
static int rh_keygen(const char *dir, const char *name)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1)
        return -1;
    EVP_PKEY_CTX_free(c);
    char p[512];
    snprintf(p, sizeof p, "%s/%s.key", dir, name);
    FILE *f = fopen(p, "w");
    int ok = f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/%s.pub", dir, name);
    f = fopen(p, "w");
    ok = ok && f && PEM_write_PUBKEY(f, k) == 1;
    if (f)
        fclose(f);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

#endif
