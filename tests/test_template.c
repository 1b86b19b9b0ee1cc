/* test_template.c -- the log template miner (src/logs): masking, grouping,
 * stable ids, every cap and its counter, bad input, the checkpoint round
 * trip (a miner restored mid-stream continues exactly as an uninterrupted
 * one), hostile checkpoints, the line splitter and `mend templates`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mend/logs.h"
#include "mend/template.h"

static struct mend_tmpl *miner(const struct mend_tmpl_conf *c)
{
    struct mend_tmpl_conf d;
    struct mend_tmpl *m;
    if (!c) {
        mend_tmpl_conf_defaults(&d);
        c = &d;
    }
    assert_int_equal(mend_tmpl_new(c, &m), MEND_OK);
    return m;
}

static struct mend_tmpl_match add(struct mend_tmpl *m, const char *s)
{
    struct mend_tmpl_match r;
    assert_int_equal(mend_tmpl_add(m, s, strlen(s), &r), MEND_OK);
    assert_true(r.id >= 1);
    return r;
}

/* The template a message gets on its own. */
static void check_mask(const char *msg, const char *want)
{
    struct mend_tmpl *m = miner(NULL);
    struct mend_tmpl_match r = add(m, msg);
    if (r.len != strlen(want) || memcmp(r.text, want, r.len))
        fail_msg("'%s' -> '%.*s', want '%s'", msg, (int)r.len, r.text, want);
    mend_tmpl_free(m);
}

static void test_masking(void **state)
{
    (void)state;
    check_mask("conn from 10.1.2.3:8080 took 12ms", "conn from <*> took <*>");
    check_mask("open /var/log/app.log failed", "open <*> failed");
    check_mask("id=0xdeadbeef state=up", "id=<*> state=up");
    check_mask("blk_-123 node-7 (uid=0) [42],", "blk_<*> node-<*> (uid=<*>) [<*>],");
    check_mask("at Fri Jun 17 () '' done", "at <*> <*> <*> (<*>) '<*>' done");
    check_mask("session eebcccae-9c2d-4a1b-8d2d-1234567890ab from 00:1a:2b:3c:4d:5e on 2017-07-03",
               "session <*> from <*> on <*>");
    check_mask("file log-2017_07_03.txt.gz", "file log-<*>_<*>_<*>.txt.gz");
    check_mask("file log-20170703x.gz and abc-12-34y", "file log-<*>x.gz and abc-<*>y");
    check_mask("mail bob@example.com at https://x.org/a", "mail <*> at <*>");
    check_mask("hash 9f86d081884c7d65 ok", "hash <*> ok");
    check_mask("peer db.example.com version v2.3.1", "peer <*> version <*>");
    check_mask("value deadbeef -3.5e-2 +7", "value deadbeef <*> <*>");
    check_mask("  spaced\tout   words  ", "spaced out words");
    check_mask("key= =x a=b=c", "key= =x a=b=c");
}

static void test_grouping_and_stable_ids(void **state)
{
    (void)state;
    struct mend_tmpl *m = miner(NULL);
    struct mend_tmpl_match a = add(m, "session opened for user alice by (uid=0)");
    assert_int_equal(a.created, 1);
    assert_int_equal(a.id, 1);
    struct mend_tmpl_match b = add(m, "disk full on /dev/sda1");
    assert_int_equal(b.id, 2);
    struct mend_tmpl_match c = add(m, "session opened for user bob by (uid=0)");
    assert_int_equal(c.id, 1); /* generalised, same id */
    assert_int_equal(c.created, 0);
    assert_int_equal(c.changed, 1);
    assert_memory_equal(c.text, "session opened for user <*> by (uid=<*>)", c.len);
    struct mend_tmpl_match d = add(m, "session opened for user carol by (uid=0)");
    assert_int_equal(d.id, 1);
    assert_int_equal(d.changed, 0);
    /* a different event of the same length stays apart */
    struct mend_tmpl_match e = add(m, "session closed for user carol by (uid=0)");
    assert_int_not_equal(e.id, 1);
    /* and so does the same start with another length */
    struct mend_tmpl_match f = add(m, "session opened for user dave");
    assert_int_not_equal(f.id, 1);
    assert_int_not_equal(f.id, e.id);
    const char *t;
    size_t n;
    assert_int_equal(mend_tmpl_get(m, 1, &t, &n), MEND_OK);
    assert_memory_equal(t, "session opened for user <*> by (uid=<*>)", n);
    assert_int_equal(mend_tmpl_get(m, 99, &t, &n), MEND_ENOTFOUND);
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    assert_int_equal(s.messages, 6);
    assert_int_equal(s.templates, 4);
    assert_int_equal(s.created, 4);
    assert_int_equal(s.generalised, 1);
    mend_tmpl_free(m);
}

static void test_key_word_values(void **state)
{
    (void)state;
    struct mend_tmpl *m = miner(NULL);
#define BASE "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s user=%s"
    char buf[256];
    snprintf(buf, sizeof buf, BASE, "10.0.0.1", "root");
    uint64_t root = add(m, buf).id;
    snprintf(buf, sizeof buf, BASE, "host.example.org", "root");
    assert_int_equal(add(m, buf).id, root);
    snprintf(buf, sizeof buf, BASE, "10.0.0.9", "guest");
    uint64_t guest = add(m, buf).id;
    assert_int_not_equal(guest, root);
    snprintf(buf, sizeof buf, BASE, "10.0.0.3", "guest");
    assert_int_equal(add(m, buf).id, guest);
    /* a value of another kind is another event: tty=:0 against tty=ssh */
    assert_int_not_equal(add(m, "login on tty=:0 from console").id,
                         add(m, "login on tty=ssh from console").id);
    /* upper-case identifiers are states, not parameters */
    uint64_t t1 = add(m, "task 12 Transitioned from NEW to SCHEDULED").id;
    uint64_t t2 = add(m, "task 13 Transitioned from SCHEDULED to RUNNING").id;
    assert_int_not_equal(t1, t2);
    assert_int_equal(add(m, "task 14 Transitioned from NEW to SCHEDULED").id, t1);
    /* numeric values are parameters, not categories */
    assert_int_equal(add(m, "job done status=1 after 3 tries").id,
                     add(m, "job done status=22 after 4 tries").id);
    mend_tmpl_free(m);
}

static void test_cap_templates_lru(void **state)
{
    (void)state;
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    c.max_templates = 3;
    struct mend_tmpl *m = miner(&c);
    uint64_t a = add(m, "alpha event").id;
    uint64_t b = add(m, "beta event happened").id;
    uint64_t g = add(m, "gamma event happened here").id;
    assert_int_equal(add(m, "alpha event").id, a); /* a is now the most recent */
    uint64_t d = add(m, "delta event happened here now").id; /* evicts b */
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    assert_int_equal(s.evicted, 1);
    assert_int_equal(s.templates, 3);
    const char *t;
    size_t n;
    assert_int_equal(mend_tmpl_get(m, b, &t, &n), MEND_ENOTFOUND);
    assert_int_equal(mend_tmpl_get(m, a, &t, &n), MEND_OK);
    assert_int_equal(mend_tmpl_get(m, g, &t, &n), MEND_OK);
    assert_int_equal(mend_tmpl_get(m, d, &t, &n), MEND_OK);
    /* b comes back under a new id: ids are never reused */
    uint64_t b2 = add(m, "beta event happened").id;
    assert_true(b2 > d);
    mend_tmpl_free(m);
}

static void test_cap_bytes(void **state)
{
    (void)state;
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    c.max_mbytes = 1;
    c.max_line = 1u << 20;
    c.max_tokens = 65536;
    struct mend_tmpl *m = miner(&c);
    /* 40 distinct messages of 10 KB (5,000 tokens) each */
    size_t len = 10000;
    char *b = malloc(len);
    assert_non_null(b);
    for (int k = 0; k < 40; k++) {
        for (size_t i = 0; i < len; i += 2) {
            b[i] = (char)('a' + ((size_t)k + i / 2) % 26);
            b[i + 1] = ' ';
        }
        b[0] = (char)('A' + k % 26);
        b[2] = (char)('A' + k / 26);
        struct mend_tmpl_match r;
        assert_int_equal(mend_tmpl_add(m, b, len, &r), MEND_OK);
        assert_int_equal(r.created, 1);
    }
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    assert_true(s.evicted > 0);
    /* what is left fits in 1 MiB: 10 KB of text and 5,000 token records each */
    assert_true(s.templates >= 2 && s.templates < 1048576 / 10000);
    assert_int_equal(s.templates + s.evicted, 40);
    free(b);
    mend_tmpl_free(m);
}

static void test_cap_leaf_and_children(void **state)
{
    (void)state;
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    c.depth = 3; /* one token level: the first token picks the leaf */
    c.max_leaf = 2;
    c.max_children = 2;
    struct mend_tmpl *m = miner(&c);
    uint64_t x1 = add(m, "a b c d e").id;
    uint64_t x2 = add(m, "a x y z w").id;
    assert_int_equal(add(m, "a b c d e").id, x1); /* x1 now more recent than x2 */
    uint64_t x3 = add(m, "a p q r s").id;         /* leaf full: evicts x2 */
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    assert_int_equal(s.leaf_evicted, 1);
    const char *t;
    size_t n;
    assert_int_equal(mend_tmpl_get(m, x2, &t, &n), MEND_ENOTFOUND);
    assert_int_equal(mend_tmpl_get(m, x3, &t, &n), MEND_OK);
    /* children: "a" and "b" fill the length-5 node; "c" and "d" overflow
     * into the <*> child and still meet there */
    add(m, "b b c d e");
    uint64_t c1 = add(m, "c k l m n").id;
    uint64_t d1 = add(m, "d k l m n").id;
    assert_int_equal(add(m, "c k l m n").id, c1);
    mend_tmpl_get_stats(m, &s);
    assert_int_equal(s.child_overflow, 3);
    assert_int_equal(mend_tmpl_get(m, d1, &t, &n), MEND_OK);
    assert_memory_equal(t, "<*> k l m n", n); /* joined in the shared leaf */
    assert_int_equal(d1, c1);
    mend_tmpl_free(m);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void test_bad_input(void **state)
{
    (void)state;
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    c.max_tokens = 16;
    c.max_token = 64;
    c.max_line = 4096;
    struct mend_tmpl *m = miner(&c);
    struct mend_tmpl_stats s;

    /* empty and blank messages: one template with no tokens */
    struct mend_tmpl_match e1 = add(m, "");
    struct mend_tmpl_match e2 = add(m, " \t  ");
    assert_int_equal(e1.id, e2.id);
    assert_int_equal(e2.len, 0);

    /* a huge line without spaces: cut at max_line, one long token */
    size_t big = 1u << 20;
    char *h = malloc(big);
    assert_non_null(h);
    memset(h, 'a', big);
    struct mend_tmpl_match r;
    assert_int_equal(mend_tmpl_add(m, h, big, &r), MEND_OK);
    assert_memory_equal(r.text, "<*>", 3);
    /* a huge line of many tokens: folded after max_tokens */
    for (size_t i = 1; i < big; i += 2)
        h[i] = ' ';
    assert_int_equal(mend_tmpl_add(m, h, big, &r), MEND_OK);
    size_t spaces = 0;
    for (size_t i = 0; i < r.len; i++)
        spaces += r.text[i] == ' ';
    assert_int_equal(spaces, c.max_tokens - 1);
    assert_memory_equal(r.text + r.len - 3, "<*>", 3);
    mend_tmpl_get_stats(m, &s);
    assert_int_equal(s.long_lines, 2);
    assert_int_equal(s.long_tokens, 1);
    assert_int_equal(s.token_overflow, 1);
    assert_int_equal(s.empty, 2);

    /* random bytes, NULs and control bytes included */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(rng_next(&seed) % 300);
        for (size_t j = 0; j < len; j++)
            h[j] = (char)(rng_next(&seed) & 0xff);
        assert_int_equal(mend_tmpl_add(m, h, len, &r), MEND_OK);
        for (size_t j = 0; j < r.len; j++) {
            unsigned char ch = (unsigned char)r.text[j];
            assert_true(ch > 0x20 || ch == ' ');
            assert_true(ch != 0x7f);
        }
    }
    mend_tmpl_get_stats(m, &s);
    assert_true(s.control_bytes > 0);
    assert_int_equal(s.messages, 3004);
    assert_true(s.templates <= c.max_templates);
    free(h);
    mend_tmpl_free(m);
}

/* A stream from a few dozen made-up events with parameters of every kind. */
static void gen_message(uint64_t *seed, char *buf, size_t cap)
{
    static const char *const words[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta",
                                        "eta", "theta", "iota", "kappa", "lambda", "mu"};
    uint64_t r = rng_next(seed);
    unsigned ev = (unsigned)(r % 40), k = (unsigned)((r >> 8) % 1000);
    const char *w = words[(r >> 20) % 12], *v = words[(r >> 28) % 12];
    /* the event's name is a word, so it routes in the tree */
    char name[8] = {'e', 'v', (char)('a' + ev % 26), (char)('a' + ev / 26), 0};
    switch (ev % 8) {
    case 0:
        snprintf(buf, cap, "%s connection from 10.%u.%u.1 port %u", name, k % 256, k / 7, k * 13);
        break;
    case 1:
        snprintf(buf, cap, "%s user %s logged in from host-%u", name, w, k);
        break;
    case 2:
        snprintf(buf, cap, "%s request %s /api/%s/%u took %ums", name, w, v, k, k % 97);
        break;
    case 3:
        snprintf(buf, cap, "%s state=%s id=0x%x", name, (r >> 40) & 1 ? "up" : "down", k);
        break;
    case 4:
        snprintf(buf, cap, "%s %s %s %s done", name, w, v, words[(r >> 36) % 12]);
        break;
    case 5:
        snprintf(buf, cap, "%s block blk_%llu replicated", name, (unsigned long long)(r >> 3));
        break;
    case 6:
        snprintf(buf, cap, "%s", name);
        break;
    default:
        snprintf(buf, cap, "%s a b c %s d e f %u g", name, w, k);
        break;
    }
}

static void save(const struct mend_tmpl *m, struct mend_wbuf *w)
{
    mend_wbuf_init(w);
    mend_tmpl_save(m, w);
    assert_int_equal(w->failed, 0);
}

static void test_checkpoint_roundtrip(void **state)
{
    (void)state;
    enum { N = 3000 };
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    /* small caps, so eviction and pruning happen on both sides of a cut */
    c.max_templates = 40;
    c.max_leaf = 3;
    c.max_children = 6;
    uint64_t *ids = malloc(N * sizeof *ids);
    char **texts = calloc(N, sizeof *texts);
    assert_non_null(ids);
    assert_non_null(texts);
    char msg[256];

    struct mend_tmpl *ref = miner(&c);
    uint64_t seed = 42;
    for (int i = 0; i < N; i++) {
        gen_message(&seed, msg, sizeof msg);
        struct mend_tmpl_match r = add(ref, msg);
        ids[i] = r.id;
        texts[i] = strndup(r.text, r.len);
    }
    struct mend_tmpl_stats rs;
    mend_tmpl_get_stats(ref, &rs);
    assert_true(rs.evicted > 0);
    assert_true(rs.leaf_evicted > 0);
    assert_true(rs.child_overflow > 0);
    struct mend_wbuf want;
    save(ref, &want);

    static const int cuts[] = {0, 1, 17, 500, 1234, 2999, 3000};
    for (size_t ci = 0; ci < sizeof cuts / sizeof cuts[0]; ci++) {
        struct mend_tmpl *a = miner(&c);
        seed = 42;
        int i = 0;
        for (; i < cuts[ci]; i++) {
            gen_message(&seed, msg, sizeof msg);
            add(a, msg);
        }
        struct mend_wbuf w;
        save(a, &w);
        mend_tmpl_free(a);
        struct mend_tmpl *b = miner(&c);
        struct mend_rbuf rb;
        mend_rbuf_init(&rb, w.data, w.len);
        assert_int_equal(mend_tmpl_load(b, &rb), MEND_OK);
        assert_int_equal(rb.off, w.len);
        mend_wbuf_fini(&w);
        for (; i < N; i++) {
            gen_message(&seed, msg, sizeof msg);
            struct mend_tmpl_match r = add(b, msg);
            if (r.id != ids[i] || strlen(texts[i]) != r.len || memcmp(texts[i], r.text, r.len))
                fail_msg("cut %d, message %d '%s': %llu '%.*s', uninterrupted %llu '%s'",
                         cuts[ci], i, msg, (unsigned long long)r.id, (int)r.len, r.text,
                         (unsigned long long)ids[i], texts[i]);
        }
        /* the whole state ends identical, counters included */
        struct mend_wbuf got;
        save(b, &got);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        mend_wbuf_fini(&got);
        mend_tmpl_free(b);
    }
    mend_wbuf_fini(&want);
    mend_tmpl_free(ref);
    for (int i = 0; i < N; i++)
        free(texts[i]);
    free(texts);
    free(ids);
}

/* After a failed load the miner is empty and works like a fresh one. */
static void check_usable(struct mend_tmpl *m)
{
    struct mend_tmpl_stats s;
    mend_tmpl_get_stats(m, &s);
    assert_int_equal(s.messages, 0);
    assert_int_equal(s.templates, 0);
    assert_int_equal(add(m, "fresh start 1").id, 1);
}

static void test_hostile_checkpoints(void **state)
{
    (void)state;
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    struct mend_tmpl *m = miner(&c);
    char msg[256];
    uint64_t seed = 7;
    for (int i = 0; i < 200; i++) {
        gen_message(&seed, msg, sizeof msg);
        add(m, msg);
    }
    struct mend_wbuf w;
    save(m, &w);
    mend_tmpl_free(m);
    struct mend_rbuf r;

    /* every truncation fails cleanly */
    for (size_t len = 0; len < w.len; len++) {
        m = miner(&c);
        mend_rbuf_init(&r, w.data, len);
        assert_int_not_equal(mend_tmpl_load(m, &r), MEND_OK);
        check_usable(m);
        mend_tmpl_free(m);
    }
    /* single-byte damage anywhere: refused, or loaded into a working miner */
    unsigned char *d = malloc(w.len);
    assert_non_null(d);
    for (int t = 0; t < 2000; t++) {
        memcpy(d, w.data, w.len);
        d[rng_next(&seed) % w.len] ^= (unsigned char)(1u << (rng_next(&seed) % 8));
        m = miner(&c);
        mend_rbuf_init(&r, d, w.len);
        if (mend_tmpl_load(m, &r) != MEND_OK)
            check_usable(m);
        for (int i = 0; i < 20; i++) {
            gen_message(&seed, msg, sizeof msg);
            add(m, msg);
        }
        mend_tmpl_free(m);
    }
    /* named refusals */
    memcpy(d, w.data, w.len);
    d[0] ^= 1;
    m = miner(&c);
    mend_rbuf_init(&r, d, w.len);
    assert_int_equal(mend_tmpl_load(m, &r), MEND_ECORRUPT);
    mend_tmpl_free(m);
    memcpy(d, w.data, w.len);
    d[4] = 9; /* version */
    m = miner(&c);
    mend_rbuf_init(&r, d, w.len);
    assert_int_equal(mend_tmpl_load(m, &r), MEND_EVERSION);
    mend_tmpl_free(m);

    struct mend_tmpl_conf c2 = c;
    c2.depth = 5; /* would route differently */
    m = miner(&c2);
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_tmpl_load(m, &r), MEND_EINVAL);
    check_usable(m);
    mend_tmpl_free(m);
    c2 = c;
    c2.max_templates = 2;
    m = miner(&c2);
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_tmpl_load(m, &r), MEND_ECAP);
    mend_tmpl_free(m);
    /* a control byte inside a saved template: never written by the miner */
    memcpy(d, w.data, w.len);
    unsigned char *hit = NULL;
    for (size_t i = 0; !hit && i + 10 <= w.len; i++)
        if (!memcmp(d + i, "connection", 10))
            hit = d + i;
    assert_non_null(hit);
    hit[3] = 0x01;
    m = miner(&c);
    mend_rbuf_init(&r, d, w.len);
    assert_int_equal(mend_tmpl_load(m, &r), MEND_ECORRUPT);
    check_usable(m);
    mend_tmpl_free(m);
    /* only into an empty miner */
    m = miner(&c);
    add(m, "not empty");
    mend_rbuf_init(&r, w.data, w.len);
    assert_int_equal(mend_tmpl_load(m, &r), MEND_EINVAL);
    mend_tmpl_free(m);
    free(d);
    mend_wbuf_fini(&w);
}

static void test_conf_check(void **state)
{
    (void)state;
    struct mend_tmpl_conf c;
    char err[128];
    mend_tmpl_conf_defaults(&c);
    assert_int_equal(mend_tmpl_conf_check(&c, err, sizeof err), MEND_OK);
    c.sim = 0.0;
    assert_int_equal(mend_tmpl_conf_check(&c, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "logs.sim"));
    mend_tmpl_conf_defaults(&c);
    assert_int_equal(mend_tmpl_conf_set(&c, "logs.sim", "0.5", err, sizeof err), MEND_OK);
    assert_true(c.sim == 0.5);
    assert_int_equal(mend_tmpl_conf_set(&c, "max_leaf", "7", err, sizeof err), MEND_OK);
    assert_int_equal(c.max_leaf, 7);
    assert_int_equal(mend_tmpl_conf_set(&c, "depth", "17", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "logs.depth"));
    assert_int_equal(c.depth, 4);
    assert_int_equal(mend_tmpl_conf_set(&c, "max_leaf", "x", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_tmpl_conf_set(&c, "nope", "1", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_tmpl_conf_check(&c, NULL, 0), MEND_OK);
    c.depth = 2;
    struct mend_tmpl *m;
    assert_int_equal(mend_tmpl_new(&c, &m), MEND_EINVAL);
    assert_null(m);
}

static void test_loglines(void **state)
{
    (void)state;
    char path[] = "/tmp/mend-test-lines-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "one\r\n\nthis line is far too long\nshort\n0123456789\nlast";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    struct mend_loglines l;
    assert_int_equal(mend_loglines_init(&l, 10), MEND_OK);
    static const char *const want[] = {"one", "", "this line ", "short", "0123456789", "last"};
    static const int want_cut[] = {0, 0, 1, 0, 0, 0};
    const char *line;
    size_t len;
    int cut;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(mend_loglines_next(&l, fd, &line, &len, &cut), 1);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(line, want[i], len);
        assert_int_equal(cut, want_cut[i]);
    }
    assert_int_equal(mend_loglines_next(&l, fd, &line, &len, &cut), 0);
    assert_int_equal(l.lines, 6);
    assert_int_equal(l.long_lines, 1);
    mend_loglines_fini(&l);
    close(fd);
    unlink(path);
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    const char *bin = getenv("MEND_BIN");
    if (!bin || !*bin)
        bin = "./bin/mend";
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s templates tests/fixtures/logs/sample.log | cmp -s - tests/fixtures/logs/sample.expected",
             bin);
    assert_int_equal(sh(cmd), 0);
    /* stdin, and the same output */
    snprintf(cmd, sizeof cmd,
             "%s templates < tests/fixtures/logs/sample.log | cmp -s - tests/fixtures/logs/sample.expected",
             bin);
    assert_int_equal(sh(cmd), 0);
    /* binary garbage and an over-long line: one output line per input line */
    snprintf(cmd, sizeof cmd,
             "f=$(mktemp) && { head -c 300000 /dev/urandom; echo; } > $f &&"
             " n=$(%s templates --set max_line=500 < $f 2>/dev/null | wc -l) &&"
             " test \"$n\" -eq $(wc -l < $f); rc=$?; rm -f $f; exit $rc",
             bin);
    assert_int_equal(sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s templates --set logs.sim=2 /dev/null 2>/dev/null", bin);
    assert_int_equal(sh(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s templates /nonexistent/file 2>/dev/null", bin);
    assert_int_equal(sh(cmd), 2); /* a missing input is 2 in every command (issue 10) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_grouping_and_stable_ids),
        cmocka_unit_test(test_key_word_values),
        cmocka_unit_test(test_cap_templates_lru),
        cmocka_unit_test(test_cap_bytes),
        cmocka_unit_test(test_cap_leaf_and_children),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_checkpoint_roundtrip),
        cmocka_unit_test(test_hostile_checkpoints),
        cmocka_unit_test(test_conf_check),
        cmocka_unit_test(test_loglines),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
