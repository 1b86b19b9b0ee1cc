/* test_queue.c -- the engine's side of the queue against a real
 * redis-server: the durable spool (order, torn tail cut, damage refused,
 * survives reopening); Redis SIGKILLed while actions are emitted and
 * started again: every action arrives once, in order; two engines against
 * one Redis never both emit (the lease, the fenced XADD, the epoch); the
 * off switch; signatures verify with the public key only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>

#include "mend/act.h"
#include "redis_harness.h"

static struct rh h;

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as the engine does: a dead Redis socket is an error, not a signal */
    if (rh_init(&h, "queue") != 0)
        return -1;
    return rh_keygen(h.dir, "eng");
}

static int teardown(void **state)
{
    (void)state;
    rh_fini(&h);
    return 0;
}

static void mk_action(struct mend_action *a, unsigned i)
{
    memset(a, 0, sizeof *a);
    snprintf(a->rule, sizeof a->rule, "r");
    snprintf(a->action, sizeof a->action, "restart");
    snprintf(a->target, sizeof a->target, "web-%u", i % 3);
    a->incident = i;
    a->attempt = 1;
    a->ttl_ns = 60 * 1000000000LL;
    snprintf(a->params[0].name, sizeof a->params[0].name, "n");
    snprintf(a->params[0].value, sizeof a->params[0].value, "%u", i);
    a->n_params = 1;
    mend_action_make_id(a);
}

static void test_spool(void **state)
{
    (void)state;
    char path[400], err[256];
    snprintf(path, sizeof path, "%s/spool", h.dir);
    struct mend_spool *s;
    assert_int_equal(mend_spool_open(path, &s, err, sizeof err), 0);
    for (unsigned i = 0; i < 5; i++) {
        char rec[32];
        int n = snprintf(rec, sizeof rec, "record-%u", i);
        assert_int_equal(mend_spool_append(s, rec, (size_t)n), 0);
    }
    const void *p;
    size_t len;
    assert_int_equal(mend_spool_peek(s, &p, &len), 0);
    assert_memory_equal(p, "record-0", len);
    assert_int_equal(mend_spool_pop(s), 0);
    mend_spool_close(s);
    /* a torn append (crash mid-write) is cut; what was delivered stays so */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(write(fd, "MSP1\x20\0\0\0garbage", 15) == 15);
    close(fd);
    assert_int_equal(mend_spool_open(path, &s, err, sizeof err), 0);
    assert_int_equal(mend_spool_torn(s), 1);
    assert_int_equal(mend_spool_pending(s), 4);
    for (unsigned i = 1; i < 5; i++) {
        assert_int_equal(mend_spool_peek(s, &p, &len), 0);
        char want[32];
        snprintf(want, sizeof want, "record-%u", i);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(p, want, len);
        assert_int_equal(mend_spool_pop(s), 0);
    }
    assert_int_equal(mend_spool_peek(s, &p, &len), MEND_ENOTFOUND);
    assert_int_equal(mend_spool_append(s, "x", 1), 0);
    assert_int_equal(mend_spool_append(s, "y", 1), 0);
    mend_spool_close(s);
    /* damage in the middle is refused, not skipped */
    fd = open(path, O_WRONLY);
    assert_true(pwrite(fd, "Z", 1, 12) == 1);
    close(fd);
    assert_int_equal(mend_spool_open(path, &s, err, sizeof err), MEND_ECORRUPT);
    assert_non_null(strstr(err, "damaged record at byte 0"));
}

static struct mend_queue *engine(const char *node, struct mend_signer **sg, struct mend_spool **sp, const char *spool)
{
    char p[400], err[256];
    snprintf(p, sizeof p, "%s/eng.key", h.dir);
    assert_int_equal(mend_signer_load(p, "eng1", sg), 0);
    *sp = NULL;
    if (spool) {
        snprintf(p, sizeof p, "%s/%s", h.dir, spool);
        assert_int_equal(mend_spool_open(p, sp, err, sizeof err), 0);
    }
    struct mend_queue_conf c;
    mend_queue_conf_defaults(&c);
    snprintf(c.node, sizeof c.node, "%s", node);
    assert_true(strlen(h.addr) < sizeof c.redis);
    memcpy(c.redis, h.addr, strlen(h.addr) + 1);
    c.lease_ns = 30 * 1000000000LL; /* Redis may be down a while in this test */
    c.timeout_ns = 200 * 1000000LL;
    struct mend_queue *q;
    assert_int_equal(mend_queue_new(&c, *sg, *sp, &q), 0);
    return q;
}

/* The ids of mend:actions in stream order. */
static size_t stream_ids(char (*ids)[33], size_t cap)
{
    redisContext *c = rh_connect(&h);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XRANGE mend:actions - +");
    assert_non_null(r);
    size_t n = 0;
    for (size_t i = 0; i < r->elements && n < cap; i++) {
        redisReply *kv = r->element[i]->element[1];
        for (size_t j = 0; j + 1 < kv->elements; j += 2)
            if (!strcmp(kv->element[j]->str, "id"))
                snprintf(ids[n++], 33, "%s", kv->element[j + 1]->str);
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_redis_killed_while_emitting(void **state)
{
    (void)state;
    struct mend_signer *sg;
    struct mend_spool *sp;
    struct mend_queue *q = engine("eng-a", &sg, &sp, "emit-spool");
    assert_int_equal(mend_queue_lease(q, mono()), 1);
    enum { N = 100 };
    static char want[N][33];
    for (unsigned i = 0; i < N; i++) {
        if (i == 20)
            rh_kill(&h);
        if (i == 60)
            assert_int_equal(rh_start(&h), 0);
        struct mend_action a;
        mk_action(&a, i);
        memcpy(want[i], a.id, 33);
        mend_queue_lease(q, mono());
        assert_int_equal(mend_queue_emit(q, &a), 0);
        /* a re-emit of the same decision collapses */
        if (i % 20 == 7)
            assert_int_equal(mend_queue_emit(q, &a), 0);
    }
    assert_int_equal(mend_queue_drain(q), 0);
    struct mend_queue_stats st;
    mend_queue_stats(q, &st);
    assert_true(st.spooled >= 40); /* 20..59 at least went through the spool */
    /* the re-emits at 7, 67 and 87 met Redis up: each one collapsed */
    assert_true(st.collapsed >= 3);
    assert_int_equal(mend_spool_pending(sp), 0);
    static char got[N + 10][33];
    size_t n = stream_ids(got, N + 10);
    assert_int_equal(n, N);
    for (unsigned i = 0; i < N; i++)
        assert_string_equal(got[i], want[i]);
    mend_queue_free(q);
    mend_spool_close(sp);
    mend_signer_free(sg);
}

static void test_two_engines_never_both_emit(void **state)
{
    (void)state;
    redisContext *c = rh_connect(&h);
    redisReply *r = redisCommand(c, "DEL mend:actions mend:leader");
    freeReplyObject(r);
    struct mend_signer *sa, *sb;
    struct mend_spool *pa, *pb;
    struct mend_queue *a = engine("eng-a", &sa, &pa, NULL), *b = engine("eng-b", &sb, &pb, NULL);
    int64_t t = mono();
    assert_int_equal(mend_queue_lease(a, t), 1);
    assert_int_equal(mend_queue_lease(b, t), 0);
    uint64_t ea = mend_queue_epoch(a);
    assert_true(ea > 0);
    struct mend_action x;
    int a_sent = 0, b_sent = 0;
    for (unsigned i = 0; i < 20; i++) {
        mk_action(&x, 1000 + i);
        a_sent += mend_queue_emit(a, &x) == 0;
        mk_action(&x, 2000 + i);
        b_sent += mend_queue_emit(b, &x) == 0;
    }
    assert_int_equal(a_sent, 20);
    assert_int_equal(b_sent, 0);
    /* a stalls (its lease runs out in Redis: PEXPIRE to 1 ms stands in for
     * 30 s without renewal); b takes over with a newer epoch */
    r = redisCommand(c, "PEXPIRE mend:leader 1");
    freeReplyObject(r);
    rh_sleep_ms(5);
    assert_int_equal(mend_queue_lease(b, mono()), 1);
    assert_true(mend_queue_epoch(b) > ea);
    /* a still believes it holds the lease (its own clock says so), but
     * Redis refuses its XADD: it stops at once */
    mk_action(&x, 3000);
    assert_int_equal(mend_queue_emit(a, &x), MEND_EAGAIN);
    assert_int_equal(mend_queue_epoch(a), 0);
    mk_action(&x, 3001);
    assert_int_equal(mend_queue_emit(b, &x), 0);
    /* a renewing sees b's lease */
    assert_int_equal(mend_queue_lease(a, mono()), 0);
    /* the off switch: refused at once, for the leader too */
    r = redisCommand(c, "SET mend:off 1");
    freeReplyObject(r);
    mk_action(&x, 3002);
    assert_int_equal(mend_queue_emit(b, &x), MEND_EAGAIN);
    r = redisCommand(c, "DEL mend:off");
    freeReplyObject(r);
    assert_int_equal(mend_queue_emit(b, &x), 0);
    /* the stream: 20 of a's (epoch ea), then b's only */
    r = redisCommand(c, "XRANGE mend:actions - +");
    assert_int_equal(r->elements, 22);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *kv = r->element[i]->element[1];
        for (size_t j = 0; j + 1 < kv->elements; j += 2)
            if (!strcmp(kv->element[j]->str, "epoch")) {
                unsigned long long ep = strtoull(kv->element[j + 1]->str, NULL, 10);
                if (i < 20)
                    assert_int_equal(ep, ea);
                else
                    assert_true(ep > ea);
            }
    }
    freeReplyObject(r);
    redisFree(c);
    mend_queue_free(a);
    mend_queue_free(b);
    mend_signer_free(sa);
    mend_signer_free(sb);
}

static void test_signature_verifies_with_public_key(void **state)
{
    (void)state;
    char p[400];
    struct mend_signer *s;
    struct mend_verifier *v;
    snprintf(p, sizeof p, "%s/eng.key", h.dir);
    assert_int_equal(mend_signer_load(p, "eng1", &s), 0);
    assert_int_equal(mend_verifier_new(&v), 0);
    snprintf(p, sizeof p, "%s/eng.pub", h.dir);
    assert_int_equal(mend_verifier_add(v, "eng1", p), 0);
    /* a private key file is not accepted where a public one is expected and vice versa */
    snprintf(p, sizeof p, "%s/eng.pub", h.dir);
    struct mend_signer *bad;
    assert_int_equal(mend_signer_load(p, "x", &bad), MEND_EPARSE);
    const char *f[] = {"a", "b"}, *val[] = {"1:x,", "2"};
    char canon[256], sig[129];
    size_t n = mend_sign_canon(f, val, 2, canon, sizeof canon);
    assert_int_equal(n, strlen("1:a,4:1:x,,1:b,1:2,"));
    assert_memory_equal(canon, "1:a,4:1:x,,1:b,1:2,", n);
    assert_int_equal(mend_signer_sign(s, canon, n, sig), 0);
    assert_int_equal(mend_verifier_check(v, "eng1", canon, n, sig), 0);
    canon[5] = 'y';
    assert_int_equal(mend_verifier_check(v, "eng1", canon, n, sig), MEND_ECORRUPT);
    assert_int_equal(mend_verifier_check(v, "eng2", canon, n, sig), MEND_ENOTFOUND);
    assert_int_equal(mend_verifier_check(v, "eng1", canon, n, "zz"), MEND_EPARSE);
    mend_verifier_free(v);
    mend_signer_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool),
        cmocka_unit_test(test_redis_killed_while_emitting),
        cmocka_unit_test(test_two_engines_never_both_emit),
        cmocka_unit_test(test_signature_verifies_with_public_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
