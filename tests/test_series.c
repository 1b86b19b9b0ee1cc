/* test_series.c -- the series registry: ids, entities, caps, rings with
 * their event times, eviction and id reuse, the seeded hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mend/series.h"

#define SEC 1000000000LL
#define TW(s) ((s)->ring_enc & 15) /* bytes per time word */

static struct mend_registry *reg_new(struct mend_series_conf *c, size_t blob)
{
    struct mend_registry *r;
    assert_int_equal(mend_registry_new(c, blob, &r), MEND_OK);
    return r;
}

static struct mend_series *get(struct mend_registry *r, const char *key, const char *ent)
{
    struct mend_series *s = NULL;
    assert_int_equal(mend_registry_get(r, key, strlen(key), ent, ent ? strlen(ent) : 0, &s, NULL),
                     MEND_OK);
    return s;
}

/* xorshift64*: the tests' inputs are reproducible */
static uint64_t rnd(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static void test_ids_and_lookup(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    struct mend_registry *r = reg_new(&c, 24);
    char key[64];
    /* enough keys to force several table growths and a second slab */
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "cpu,host=h%d usage", i);
        struct mend_series *s;
        int created;
        assert_int_equal(mend_registry_get(r, key, strlen(key), "h", 1, &s, &created), MEND_OK);
        assert_int_equal(created, 1);
        assert_int_equal(s->id, (uint32_t)i);
        assert_int_equal(s->gen, 0);
        assert_true(((uintptr_t)mend_series_blob(s) & 7) == 0);
        memset(mend_series_blob(s), 0xab, 24); /* must not clobber the next record */
    }
    for (int i = 0; i < 10000; i += 7) {
        snprintf(key, sizeof key, "cpu,host=h%d usage", i);
        struct mend_series *s = mend_registry_find(r, key, strlen(key));
        assert_non_null(s);
        assert_int_equal(s->id, (uint32_t)i);
        assert_string_equal(s->key, key);
        int created = 1;
        struct mend_series *t;
        assert_int_equal(mend_registry_get(r, key, strlen(key), "h", 1, &t, &created), MEND_OK);
        assert_int_equal(created, 0);
        assert_ptr_equal(s, t);
        assert_ptr_equal(mend_registry_at(r, (uint32_t)i), s);
    }
    assert_null(mend_registry_find(r, "nope", 4));
    assert_null(mend_registry_at(r, 10000));
    assert_int_equal(mend_registry_count(r), 10000);
    assert_int_equal(mend_registry_live(r), 10000);
    /* one entity "h" plus entity 0 */
    assert_int_equal(mend_registry_entity_count(r), 2);
    assert_int_equal(mend_registry_entity(r, 1)->n_members, 10000);
    mend_registry_free(r);
}

static void test_entities(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *a = get(r, "a", "web-1"), *b = get(r, "b", "web-2"), *d = get(r, "d", "web-1"),
                       *n = get(r, "n", NULL);
    assert_int_equal(a->entity, d->entity);
    assert_int_not_equal(a->entity, b->entity);
    assert_int_equal(n->entity, 0);
    struct mend_entity *e = mend_registry_entity(r, a->entity);
    assert_string_equal(e->name, "web-1");
    assert_int_equal(e->n_members, 2);
    /* member list: newest first, linked both ways */
    assert_int_equal(e->first_member, d->id + 1);
    assert_int_equal(d->next_in_entity, a->id + 1);
    assert_int_equal(a->next_in_entity, 0);
    assert_int_equal(a->prev_in_entity, d->id + 1);
    assert_int_equal(d->prev_in_entity, 0);
    mend_registry_free(r);
}

static void test_caps(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.max_series = 3;
    c.max_key = 8;
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *s;
    get(r, "a", NULL);
    get(r, "b", NULL);
    get(r, "c", NULL);
    assert_int_equal(mend_registry_get(r, "d", 1, NULL, 0, &s, NULL), MEND_ECAP);
    assert_int_equal(mend_registry_refused(r), 1);
    /* existing series are still found at the cap */
    assert_int_equal(mend_registry_get(r, "b", 1, NULL, 0, &s, NULL), MEND_OK);
    /* max_key is honoured: 8 bytes pass, 9 are refused, counted apart from the cap */
    assert_int_equal(mend_registry_get(r, "123456789", 9, NULL, 0, &s, NULL), MEND_EINVAL);
    assert_int_equal(mend_registry_get(r, "", 0, NULL, 0, &s, NULL), MEND_EINVAL);
    assert_null(mend_registry_find(r, "123456789", 9));
    struct mend_registry_stats st;
    mend_registry_stats(r, &st);
    assert_int_equal(st.refused_cap, 1);
    assert_int_equal(st.refused_key, 2);
    assert_int_equal(st.live, 3);
    mend_registry_free(r);

    /* a long max_key (the config allows 65536) is honoured too */
    c.max_series = 10;
    c.max_key = 5000;
    r = reg_new(&c, 0);
    static char big[5001];
    memset(big, 'k', sizeof big);
    assert_int_equal(mend_registry_get(r, big, 5000, NULL, 0, &s, NULL), MEND_OK);
    assert_int_equal(s->key_len, 5000);
    assert_int_equal(mend_registry_get(r, big, 5001, NULL, 0, &s, NULL), MEND_EINVAL);
    mend_registry_free(r);

    mend_series_conf_defaults(&c);
    c.ring_cap = 65537;
    assert_int_equal(mend_registry_new(&c, 0, &r), MEND_EINVAL);
    c.ring_cap = 512;
    c.max_key = 0;
    assert_int_equal(mend_registry_new(&c, 0, &r), MEND_EINVAL);
}

/* Issue 10: series.max_entities=N admits exactly N entities. */
static void test_entity_cap_exact(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.max_entities = 1;
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *a = get(r, "cpu,host=a x", "a");
    struct mend_series *b = get(r, "cpu,host=b x", "b");
    assert_int_not_equal(a->entity, 0);
    assert_int_equal(b->entity, 0);
    mend_registry_free(r);
}

/* Defect 12: at the entity cap a series is still created, without an
 * entity, and counted; series of existing entities still join them. */
static void test_entity_cap(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.max_entities = 2; /* two entities (entity 0, "none", is not counted: issue 10) */
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *a = get(r, "cpu,host=a x", "a");
    struct mend_series *b = get(r, "cpu,host=b x", "b");
    char key[64], host[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "cpu,host=c%d x", i);
        snprintf(host, sizeof host, "c%d", i);
        struct mend_series *s = get(r, key, host);
        assert_int_equal(s->entity, 0);
    }
    struct mend_series *a2 = get(r, "mem,host=a y", "a");
    assert_int_equal(a2->entity, a->entity);
    assert_int_not_equal(b->entity, 0);
    struct mend_registry_stats st;
    mend_registry_stats(r, &st);
    assert_int_equal(st.live, 53);
    assert_int_equal(st.entities, 3); /* the registry's count includes entity 0 */
    assert_int_equal(st.no_entity, 50);
    assert_int_equal(st.refused_cap, 0);
    assert_int_equal(mend_registry_entity(r, 0)->n_members, 50);
    /* the same key again is found, not counted again */
    get(r, "cpu,host=c7 x", "c7");
    mend_registry_stats(r, &st);
    assert_int_equal(st.no_entity, 50);
    mend_registry_free(r);
}

static void test_ring(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.ring_cap = 40; /* not a multiple of 16: growth 16, 32, 40 */
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *s = get(r, "x", NULL);
    float out[64];
    int64_t tt[64];
    assert_int_equal(mend_series_recent(s, out, tt, 10), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(mend_series_push(r, s, 1700000000 * SEC + i * 10 * SEC, (double)i), MEND_OK);
        if (i == 15)
            assert_int_equal(mend_series_ring_cap(s), 16);
        if (i == 16)
            assert_int_equal(mend_series_ring_cap(s), 32);
    }
    assert_int_equal(s->ring_len, 40);
    assert_int_equal(mend_series_ring_cap(s), 40);
    /* a fixed 10 s interval costs no bytes per value */
    assert_int_equal(TW(s), 0);
    assert_int_equal(mend_series_recent(s, out, tt, 64), 40);
    for (int i = 0; i < 40; i++) {
        assert_float_equal(out[i], (float)(60 + i), 0);
        assert_int_equal(tt[i], 1700000000 * SEC + (60 + i) * 10 * SEC);
    }
    assert_int_equal(mend_series_recent(s, out, NULL, 3), 3);
    assert_float_equal(out[0], 97, 0);
    assert_float_equal(out[2], 99, 0);
    assert_int_equal(mend_series_recent(s, NULL, tt, 2), 2);
    assert_int_equal(tt[1], 1700000000 * SEC + 990 * SEC);
    mend_registry_free(r);
}

/* A model of the ring: the last cap (t, v) pairs pushed. */
struct model {
    int64_t t[600];
    float v[600];
    size_t n;
};

static void model_push(struct model *m, size_t cap, int64_t t, float v)
{
    if (m->n == cap) {
        memmove(m->t, m->t + 1, (cap - 1) * sizeof m->t[0]);
        memmove(m->v, m->v + 1, (cap - 1) * sizeof m->v[0]);
        m->n--;
    }
    m->t[m->n] = t;
    m->v[m->n] = v;
    m->n++;
}

static void check_ring(const struct mend_series *s, const struct model *m)
{
    float v[600];
    int64_t t[600];
    assert_int_equal(mend_series_recent(s, v, t, 600), m->n);
    for (size_t i = 0; i < m->n; i++) {
        assert_int_equal(t[i], m->t[i]);
        assert_float_equal(v[i], m->v[i], 0);
    }
    /* a ring said to be in time order is: readers rely on it to decode
     * only the newest values (attach.c) */
    int stepped_back = 0;
    for (size_t i = 1; i < m->n; i++)
        stepped_back |= m->t[i] < m->t[i - 1];
    if (stepped_back)
        assert_int_equal(mend_series_ring_ordered(s), 0);
    /* the newest k alone come out the same */
    size_t k = m->n / 3;
    assert_int_equal(mend_series_recent(s, NULL, t, k), k);
    for (size_t i = 0; i < k; i++)
        assert_int_equal(t[i], m->t[m->n - k + i]);
}

/* Gap generators: each stresses one part of the encoding. */
static int64_t next_time(int pattern, int64_t t, uint64_t *st, int i)
{
    uint64_t x = rnd(st);
    switch (pattern) {
    case 0: /* fixed interval */
        return t + 10 * SEC;
    case 1: /* ms-jittered scrapes: 10 s +- 50 ms, in ms */
        return t + 10 * SEC + ((int64_t)(x % 101) - 50) * 1000000LL;
    case 2: /* ns jitter: 4-byte gaps in ns... and some over 4 s */
        return t + (int64_t)(x % (6 * SEC));
    case 3: /* fixed interval with a rare long silence (wider, then narrow again) */
        return t + (i % 97 == 0 ? 3600 * SEC : 10 * SEC);
    case 4: /* backwards now and then: absolute times */
        return t + (x % 7 == 0 ? -(int64_t)(x % (100 * SEC)) : (int64_t)(x % (20 * SEC)));
    case 5: /* equal times (two samples in one instant) and 1 ns steps */
        return t + (int64_t)(x % 2);
    case 6: /* gaps of up to a century in ns: more than 4 bytes (and back
             * to the far past before the range runs out) */
        if (t > INT64_MAX / 2)
            t = INT64_MIN / 2;
        return t + (int64_t)(x % (100LL * 365 * 86400 * SEC));
    case 7: /* Telegraf with collection jitter: 10 s +- 0.5 s in ns */
        return t + 10 * SEC + (int64_t)(x % SEC) - SEC / 2;
    default: /* extremes of the range */
        return (x & 1) ? INT64_MAX - (int64_t)(x % 1000) : INT64_MIN + (int64_t)(x % 1000);
    }
}

static void test_ring_times_exact(void **state)
{
    (void)state;
    const uint32_t caps[] = {1, 2, 3, 16, 17, 40, 512};
    for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++) {
        for (int pattern = 0; pattern < 9; pattern++) {
            struct mend_series_conf c;
            mend_series_conf_defaults(&c);
            c.ring_cap = caps[ci];
            c.hash_seed = 1;
            struct mend_registry *r = reg_new(&c, 0);
            struct mend_series *s = get(r, "x", NULL);
            static struct model m;
            memset(&m, 0, sizeof m);
            uint64_t st = 0x1234567u + (uint64_t)pattern * 77 + ci;
            int64_t t = pattern == 8 ? 0 : 1700000000 * SEC;
            int widest = 0;
            for (int i = 0; i < 1300; i++) {
                t = next_time(pattern, t, &st, i);
                float v = (float)(i * 0.5);
                assert_int_equal(mend_series_push(r, s, t, v), MEND_OK);
                model_push(&m, caps[ci], t, v);
                if (TW(s) > widest)
                    widest = TW(s);
                if (i % 61 == 0 || i > 1290)
                    check_ring(s, &m);
            }
            check_ring(s, &m);
            /* in-order times are known to be (the cheap reading applies) */
            if (pattern == 0 || pattern == 1 || pattern == 5 || pattern == 7)
                assert_int_equal(mend_series_ring_ordered(s), 1);
            if (pattern == 4 && caps[ci] >= 16)
                assert_int_equal(mend_series_ring_ordered(s), 0);
            /* compactness where the gaps allow it */
            if (pattern == 0 || pattern == 5)
                assert_true(TW(s) <= 1);
            if (pattern == 1 && caps[ci] > 2)
                assert_int_equal(TW(s), 1); /* ms units: 10,000 +- 50 above a base */
            if (pattern == 7 && caps[ci] > 2)
                assert_int_equal(TW(s), 4); /* ns: 1e10 +- 5e8, a spread under 2^32 */
            if (pattern == 3 && caps[ci] >= 40) {
                /* the hour-long gap widened the ring; it narrows back once
                 * the gap has left the ring (cap 512 holds one always) */
                assert_true(widest >= 2);
                if (caps[ci] == 40)
                    assert_true(TW(s) <= 2);
            }
            if (pattern == 4 && caps[ci] >= 16)
                assert_int_equal(widest, 8);
            mend_registry_free(r);
        }
    }
}

/* The memory figure follows the encoding: a regular ring costs 4 bytes a
 * value, and going irregular costs the gap bytes, not 8 a value. */
static void test_ring_memory(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.ring_cap = 512;
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *s = get(r, "x", NULL);
    size_t m0 = mend_registry_memory(r);
    int64_t t = 1700000000 * SEC;
    for (int i = 0; i < 100; i++)
        mend_series_push(r, s, t += 10 * SEC, i);
    size_t m1 = mend_registry_memory(r);
    assert_int_equal(mend_series_ring_cap(s), 112);
    assert_int_equal(TW(s), 0);
    assert_true(m1 - m0 >= 112 * 4 && m1 - m0 <= 112 * 4 + 32);
    mend_series_push(r, s, t += 10 * SEC + 1000000, 1.0); /* 1 ms late: ms units */
    size_t m2 = mend_registry_memory(r);
    assert_int_equal(TW(s), 1); /* base 10,000 ms, then 0 or 1 a value */
    assert_true(m2 - m0 >= 112 * 5 + 8 && m2 - m0 <= 112 * 5 + 8 + 32);
    int64_t tt[2];
    assert_int_equal(mend_series_recent(s, NULL, tt, 2), 2);
    assert_int_equal(tt[1] - tt[0], 10 * SEC + 1000000);
    mend_series_push(r, s, t += 10 * SEC + 7, 1.0); /* ns units, a spread over 2^16 */
    assert_int_equal(TW(s), 4);
    assert_true(mend_registry_memory(r) - m0 <= 112 * 8 + 8 + 32);
    mend_registry_free(r);
}

/* Eviction: the key leaves the table, the id is reused LIFO with a new
 * generation, member lists and counts follow, other keys are untouched. */
static void test_evict_reuse(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.max_series = 3000;
    c.hash_seed = 42;
    struct mend_registry *r = reg_new(&c, 32);
    char key[64], host[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "cpu,host=h%d x", i);
        snprintf(host, sizeof host, "h%d", i % 10);
        struct mend_series *s = get(r, key, host);
        mend_series_push(r, s, i, 1.0);
    }
    /* at the cap: nothing new until something is evicted */
    struct mend_series *s;
    assert_int_equal(mend_registry_get(r, "new", 3, NULL, 0, &s, NULL), MEND_ECAP);
    /* evict every third series, in a scrambled but fixed order */
    uint64_t st = 99;
    int evicted[3000] = {0};
    uint32_t order[1000];
    int ne = 0;
    while (ne < 1000) {
        uint32_t id = (uint32_t)(rnd(&st) % 3000);
        if (id % 3 || evicted[id])
            continue;
        struct mend_series *v = mend_registry_at(r, id);
        assert_non_null(v);
        uint32_t ent = v->entity;
        uint32_t members = mend_registry_entity(r, ent)->n_members;
        assert_int_equal(mend_registry_evict(r, v), MEND_OK);
        assert_int_equal(mend_registry_entity(r, ent)->n_members, members - 1);
        assert_int_equal(v->gen, 1);
        assert_null(mend_registry_at(r, id));
        evicted[id] = 1;
        order[ne++] = id;
    }
    assert_int_equal(mend_registry_evict(r, NULL), MEND_EINVAL);
    assert_int_equal(mend_registry_live(r), 2000);
    assert_int_equal(mend_registry_count(r), 3000);
    /* every remaining key is still found (backward-shift deletion kept the
     * probe runs whole); evicted ones are gone */
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "cpu,host=h%d x", i);
        struct mend_series *f = mend_registry_find(r, key, strlen(key));
        if (evicted[i]) {
            assert_null(f);
        } else {
            assert_non_null(f);
            assert_int_equal(f->id, (uint32_t)i);
        }
    }
    /* member lists hold exactly the live members, both ways */
    for (uint32_t e = 0; e < mend_registry_entity_count(r); e++) {
        const struct mend_entity *en = mend_registry_entity(r, e);
        uint32_t k = 0, prev = 0;
        for (uint32_t m = en->first_member; m; m = mend_registry_at(r, m - 1)->next_in_entity) {
            struct mend_series *ms = mend_registry_at(r, m - 1);
            assert_non_null(ms);
            assert_int_equal(ms->entity, e);
            assert_int_equal(ms->prev_in_entity, prev);
            prev = m;
            k++;
        }
        assert_int_equal(k, en->n_members);
    }
    /* new series take the freed ids, last freed first, zeroed, gen kept */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "pod,name=p%d x", i);
        int created = 0;
        assert_int_equal(mend_registry_get(r, key, strlen(key), "pods", 4, &s, &created), MEND_OK);
        assert_int_equal(created, 1);
        assert_int_equal(s->id, order[999 - i]);
        assert_int_equal(s->gen, 1);
        assert_int_equal(s->ring_len, 0);
        assert_int_equal(s->n, 0);
        const unsigned char *b = mend_series_blob(s);
        for (int k = 0; k < 32; k++)
            assert_int_equal(b[k], 0);
        memset(mend_series_blob(s), 0x5a, 32);
    }
    assert_int_equal(mend_registry_count(r), 3000); /* ids stayed dense */
    assert_int_equal(mend_registry_get(r, "new", 3, NULL, 0, &s, NULL), MEND_ECAP);
    struct mend_registry_stats rs;
    mend_registry_stats(r, &rs);
    assert_int_equal(rs.evicted, 1000);
    assert_int_equal(rs.created, 4000);
    assert_int_equal(rs.live, 3000);
    assert_int_equal(rs.refused_cap, 2);
    /* evicting twice is refused */
    s = mend_registry_at(r, 1);
    assert_int_equal(mend_registry_evict(r, s), MEND_OK);
    assert_int_equal(mend_registry_evict(r, s), MEND_EINVAL);
    assert_int_equal(s->gen, 1);
    mend_registry_free(r);
}

/* Deterministic: the same input gives the same ids, evictions included. */
static void test_evict_deterministic(void **state)
{
    (void)state;
    uint32_t ids[2][400];
    for (int run = 0; run < 2; run++) {
        struct mend_series_conf c;
        mend_series_conf_defaults(&c);
        c.hash_seed = 0; /* a different random seed each run: ids must not depend on it */
        struct mend_registry *r = reg_new(&c, 0);
        char key[32];
        uint64_t st = 7;
        for (int i = 0; i < 400; i++) {
            snprintf(key, sizeof key, "k%u", (unsigned)(rnd(&st) % 150));
            struct mend_series *s = get(r, key, NULL);
            ids[run][i] = s->id;
            if (rnd(&st) % 3 == 0)
                assert_int_equal(mend_registry_evict(r, s), MEND_OK);
        }
        mend_registry_free(r);
    }
    assert_memory_equal(ids[0], ids[1], sizeof ids[0]);
}

/* The successor hint never returns an evicted or reused record wrongly. */
static void test_hint_after_evict(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    struct mend_registry *r = reg_new(&c, 0);
    struct mend_series *a, *b, *x;
    int created;
    assert_int_equal(mend_registry_get_after(r, NULL, "a", 1, NULL, 0, &a, &created), MEND_OK);
    assert_int_equal(mend_registry_get_after(r, a, "b", 1, NULL, 0, &b, &created), MEND_OK);
    assert_int_equal(a->next_hint, b->id + 1);
    uint32_t bid = b->id;
    /* b evicted: the hint points at a free record; asking for b again makes a new b */
    assert_int_equal(mend_registry_evict(r, b), MEND_OK);
    assert_int_equal(mend_registry_get_after(r, a, "b", 1, NULL, 0, &x, &created), MEND_OK);
    assert_int_equal(created, 1);
    assert_int_equal(x->id, bid); /* the freed id, reused */
    assert_int_equal(x->gen, 1);
    assert_ptr_equal(mend_registry_find(r, "b", 1), x);
    /* evict b again; c reuses the id: the hint now leads to c, which is
     * right for c and wrong for b */
    assert_int_equal(mend_registry_evict(r, x), MEND_OK);
    struct mend_series *cc = get(r, "c", NULL);
    assert_int_equal(cc->id, bid);
    assert_int_equal(cc->gen, 2);
    assert_int_equal(a->next_hint, bid + 1);
    assert_int_equal(mend_registry_get_after(r, a, "b", 1, NULL, 0, &x, &created), MEND_OK);
    assert_int_equal(created, 1);
    assert_ptr_not_equal(x, cc);
    assert_string_equal(x->key, "b");
    assert_int_equal(mend_registry_get_after(r, a, "c", 1, NULL, 0, &x, &created), MEND_OK);
    assert_int_equal(created, 0);
    assert_ptr_equal(x, cc);
    /* an evicted prev is ignored, and not written to */
    struct mend_series *gone = get(r, "gone", NULL);
    assert_int_equal(mend_registry_get_after(r, gone, "c", 1, NULL, 0, &x, NULL), MEND_OK);
    assert_int_equal(mend_registry_evict(r, gone), MEND_OK);
    assert_int_equal(mend_registry_get_after(r, gone, "c", 1, NULL, 0, &x, NULL), MEND_OK);
    assert_ptr_equal(x, cc);
    assert_int_equal(gone->next_hint, 0);
    mend_registry_free(r);
}

/* Memory goes back when series are evicted and is not taken again when
 * their records are reused. */
/* The hint is taken only for the very key: keys that differ from the
 * hinted one in a single byte, at every position and for lengths around the
 * 8- and 16-byte steps of the inline compare, are looked up, never mistaken
 * for the hinted series. */
static void test_hint_compares_whole_key(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.hash_seed = 1;
    struct mend_registry *r = reg_new(&c, 0);
    static const size_t lens[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100};
    char key[128], alt[128];
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        for (size_t i = 0; i < n; i++)
            key[i] = (char)('a' + (li * 7 + i) % 26);
        struct mend_series *prev = NULL, *hinted = NULL, *x = NULL;
        int created = 0;
        /* prev -> hinted: the hint now names the key */
        snprintf(alt, sizeof alt, "prev%zu", n);
        assert_int_equal(mend_registry_get_after(r, NULL, alt, strlen(alt), NULL, 0, &prev, NULL), MEND_OK);
        assert_int_equal(mend_registry_get_after(r, prev, key, n, NULL, 0, &hinted, &created), MEND_OK);
        assert_int_equal(mend_registry_get_after(r, prev, key, n, NULL, 0, &x, &created), MEND_OK);
        assert_ptr_equal(x, hinted);
        assert_int_equal(created, 0);
        for (size_t pos = 0; pos < n; pos++) {
            memcpy(alt, key, n);
            alt[pos] = (char)(alt[pos] == 'Z' ? 'Y' : 'Z');
            assert_int_equal(mend_registry_get_after(r, prev, alt, n, NULL, 0, &x, &created), MEND_OK);
            assert_ptr_not_equal(x, hinted);
            assert_int_equal(created, 1);
            assert_int_equal(x->key_len, n);
            assert_memory_equal(x->key, alt, n);
            /* put the hint back on the original key for the next position */
            assert_int_equal(mend_registry_get_after(r, prev, key, n, NULL, 0, &x, NULL), MEND_OK);
            assert_ptr_equal(x, hinted);
        }
        /* a key one byte shorter or longer is a different series too */
        if (n > 1) {
            assert_int_equal(mend_registry_get_after(r, prev, key, n - 1, NULL, 0, &x, &created), MEND_OK);
            assert_ptr_not_equal(x, hinted);
            assert_int_equal(mend_registry_get_after(r, prev, key, n, NULL, 0, &x, NULL), MEND_OK);
        }
    }
    mend_registry_free(r);
}

static void test_memory_after_evict(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    struct mend_registry *r = reg_new(&c, 64);
    size_t m0 = mend_registry_memory(r);
    char key[64];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "flow,src=10.0.%d.%d bytes", i / 256, i % 256);
        struct mend_series *s = get(r, key, NULL);
        for (int k = 0; k < 40; k++)
            mend_series_push(r, s, k * SEC, k);
    }
    size_t m1 = mend_registry_memory(r);
    for (uint32_t i = 0; i < 500; i++)
        assert_int_equal(mend_registry_evict(r, mend_registry_at(r, i)), MEND_OK);
    size_t m2 = mend_registry_memory(r);
    /* the rings (48 floats each) of 500 series are returned; the keys' blocks
     * stay in the key store for the next keys */
    assert_true(m1 - m2 >= 500 * 48 * 4);
    assert_true(m2 >= m0);
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "flow,src=10.1.%d.%d bytes", i / 256, i % 256);
        struct mend_series *s = get(r, key, NULL);
        for (int k = 0; k < 40; k++)
            mend_series_push(r, s, k * SEC, k);
    }
    assert_int_equal(mend_registry_count(r), 500);
    assert_int_equal(mend_registry_memory(r), m1); /* same key lengths, same rings */
    mend_registry_free(r);
}

/* Keys whose length keeps changing cannot reuse freed blocks; the key store
 * is compacted so that its size stays bounded by the live keys, and every
 * live key is still found, its pointer moved right, afterwards. */
static void make_key(char *key, int i, int round, size_t len)
{
    char head[32];
    memset(key, 'a' + round % 26, len);
    snprintf(head, sizeof head, "%05d-%04d.", i % 100000, round % 10000);
    memcpy(key, head, 11);
}

static void test_key_store_churn(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.max_series = 2000;
    struct mend_registry *r = reg_new(&c, 0);
    static char key[1100];
    static struct mend_series *prev[1000], *cur[1000];
    size_t peak = 0, first = 0;
    for (int round = 0; round < 60; round++) {
        size_t len = 20 + (size_t)round * 16; /* a new size class each round */
        for (int i = 0; i < 1000; i++) {
            char host[16];
            int hl = snprintf(host, sizeof host, "host-%d", i % 37);
            make_key(key, i, round, len);
            assert_int_equal(mend_registry_get(r, key, len, host, (size_t)hl, &cur[i], NULL), MEND_OK);
        }
        /* this round's keys and the last round's (which compaction moved) */
        for (int back = 0; back < 2 && back <= round; back++) {
            size_t l = 20 + (size_t)(round - back) * 16;
            for (int i = 0; i < 1000; i++) {
                make_key(key, i, round - back, l);
                struct mend_series *s = mend_registry_find(r, key, l);
                assert_ptr_equal(s, back ? prev[i] : cur[i]);
                assert_memory_equal(s->key, key, l);
                assert_int_equal(s->key[l], '\0');
                /* entity names live in the same store and move with it */
                char host[16];
                snprintf(host, sizeof host, "host-%d", i % 37);
                assert_string_equal(mend_registry_entity(r, s->entity)->name, host);
            }
        }
        size_t m = mend_registry_memory(r);
        if (round == 1)
            first = m;
        if (m > peak)
            peak = m;
        if (round)
            for (int i = 0; i < 1000; i++)
                assert_int_equal(mend_registry_evict(r, prev[i]), MEND_OK);
        memcpy(prev, cur, sizeof prev);
    }
    /* without compaction the store would hold every round's keys: 1000 x
     * (20 + 16 k) bytes summed over 60 rounds, about 29 MB; with it, a few
     * times the two live rounds' keys (2 x 1 MB) */
    assert_true(peak < first + 8 * 1000 * 1000);
    mend_registry_free(r);
}

static int keep_odd(void *ctx, struct mend_series *s)
{
    (*(int *)ctx)++;
    return (int)(s->id & 1);
}

static void test_evict_idle(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    struct mend_registry *r = reg_new(&c, 0);
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "s%d", i);
        get(r, key, NULL)->last_t = i * SEC;
    }
    int asked = 0;
    /* idle: last_t < 10 s, i.e. ids 0..9; the callback keeps the odd ones */
    assert_int_equal(mend_registry_evict_idle(r, 10 * SEC, keep_odd, &asked), 5);
    assert_int_equal(asked, 10);
    for (uint32_t i = 0; i < 20; i++)
        assert_true((mend_registry_at(r, i) == NULL) == (i < 10 && !(i & 1)));
    assert_int_equal(mend_registry_evict_idle(r, 15 * SEC, NULL, NULL), 10);
    assert_int_equal(mend_registry_live(r), 5);
    mend_registry_free(r);
}

/* Defect 9: the hash is keyed. Different seeds put keys in different
 * slots; lookups work under both; the same seed gives the same layout. */
static void test_seeded_hash(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.hash_seed = 0x1111;
    struct mend_registry *r1 = reg_new(&c, 0), *r3 = reg_new(&c, 0);
    c.hash_seed = 0x2222;
    struct mend_registry *r2 = reg_new(&c, 0);
    assert_int_equal(mend_registry_seed(r1), 0x1111);
    assert_int_equal(mend_registry_seed(r2), 0x2222);
    char key[64];
    int differ = 0;
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "cpu,host=h%d usage", i);
        get(r1, key, NULL);
        get(r2, key, NULL);
        get(r3, key, NULL);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "cpu,host=h%d usage", i);
        size_t n = strlen(key);
        long s1 = mend_registry_slot(r1, key, n), s2 = mend_registry_slot(r2, key, n);
        assert_true(s1 >= 0 && s2 >= 0);
        assert_int_equal(mend_registry_slot(r3, key, n), s1);
        differ += s1 != s2;
        assert_int_not_equal(mend_registry_hash(r1, key, n), mend_registry_hash(r2, key, n));
        assert_int_equal(mend_registry_find(r1, key, n)->id, (uint32_t)i);
        assert_int_equal(mend_registry_find(r2, key, n)->id, (uint32_t)i);
    }
    assert_true(differ > 450);
    assert_int_equal(mend_registry_slot(r1, "absent", 6), -1);
    /* seed 0 draws one: two registries get different seeds */
    c.hash_seed = 0;
    struct mend_registry *a = reg_new(&c, 0), *b = reg_new(&c, 0);
    assert_int_not_equal(mend_registry_seed(a), 0);
    assert_int_not_equal(mend_registry_seed(a), mend_registry_seed(b));
    mend_registry_free(a);
    mend_registry_free(b);
    mend_registry_free(r1);
    mend_registry_free(r2);
    mend_registry_free(r3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_lookup),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_entity_cap_exact),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_entity_cap),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_ring_times_exact),
        cmocka_unit_test(test_ring_memory),
        cmocka_unit_test(test_evict_reuse),
        cmocka_unit_test(test_evict_deterministic),
        cmocka_unit_test(test_hint_after_evict),
        cmocka_unit_test(test_hint_compares_whole_key),
        cmocka_unit_test(test_memory_after_evict),
        cmocka_unit_test(test_evict_idle),
        cmocka_unit_test(test_key_store_churn),
        cmocka_unit_test(test_seeded_hash),
    };
    return cmocka_run_group_tests_name("series", tests, NULL, NULL);
}
