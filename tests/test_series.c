/* test_series.c -- the series registry: ids, entities, caps, rings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mend/series.h"

static void test_ids_and_lookup(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    struct mend_registry *r;
    assert_int_equal(mend_registry_new(&c, 24, &r), MEND_OK);
    char key[64];
    /* enough keys to force several table growths and a second slab */
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "cpu,host=h%d usage", i);
        struct mend_series *s;
        int created;
        assert_int_equal(mend_registry_get(r, key, strlen(key), "h", 1, &s, &created), MEND_OK);
        assert_int_equal(created, 1);
        assert_int_equal(s->id, (uint32_t)i);
        assert_true(((uintptr_t)mend_series_blob(s) & 15) == 0);
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
    }
    assert_null(mend_registry_find(r, "nope", 4));
    assert_int_equal(mend_registry_count(r), 10000);
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
    struct mend_registry *r;
    assert_int_equal(mend_registry_new(&c, 0, &r), MEND_OK);
    struct mend_series *a, *b, *d, *n;
    assert_int_equal(mend_registry_get(r, "a", 1, "web-1", 5, &a, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "b", 1, "web-2", 5, &b, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "d", 1, "web-1", 5, &d, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "n", 1, NULL, 0, &n, NULL), MEND_OK);
    assert_int_equal(a->entity, d->entity);
    assert_int_not_equal(a->entity, b->entity);
    assert_int_equal(n->entity, 0);
    struct mend_entity *e = mend_registry_entity(r, a->entity);
    assert_string_equal(e->name, "web-1");
    assert_int_equal(e->n_members, 2);
    /* member list: newest first */
    assert_int_equal(e->first_member, d->id + 1);
    assert_int_equal(d->next_in_entity, a->id + 1);
    assert_int_equal(a->next_in_entity, 0);
    mend_registry_free(r);
}

static void test_caps(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.max_series = 3;
    c.max_key = 8;
    struct mend_registry *r;
    assert_int_equal(mend_registry_new(&c, 0, &r), MEND_OK);
    struct mend_series *s;
    assert_int_equal(mend_registry_get(r, "a", 1, NULL, 0, &s, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "b", 1, NULL, 0, &s, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "c", 1, NULL, 0, &s, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "d", 1, NULL, 0, &s, NULL), MEND_ECAP);
    assert_int_equal(mend_registry_refused(r), 1);
    /* existing series are still found at the cap */
    assert_int_equal(mend_registry_get(r, "b", 1, NULL, 0, &s, NULL), MEND_OK);
    assert_int_equal(mend_registry_get(r, "123456789", 9, NULL, 0, &s, NULL), MEND_EINVAL);
    assert_int_equal(mend_registry_get(r, "", 0, NULL, 0, &s, NULL), MEND_EINVAL);
    mend_registry_free(r);
}

static void test_ring(void **state)
{
    (void)state;
    struct mend_series_conf c;
    mend_series_conf_defaults(&c);
    c.ring_cap = 40; /* not a power of two: growth 16, 32, 40 */
    struct mend_registry *r;
    assert_int_equal(mend_registry_new(&c, 0, &r), MEND_OK);
    struct mend_series *s;
    assert_int_equal(mend_registry_get(r, "x", 1, NULL, 0, &s, NULL), MEND_OK);
    float out[64];
    assert_int_equal(mend_series_recent(s, out, 10), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(mend_series_push(r, s, (double)i), MEND_OK);
    assert_int_equal(s->ring_len, 40);
    assert_int_equal(s->ring_cap_now, 40);
    assert_int_equal(mend_series_recent(s, out, 64), 40);
    for (int i = 0; i < 40; i++)
        assert_float_equal(out[i], (float)(60 + i), 0);
    assert_int_equal(mend_series_recent(s, out, 3), 3);
    assert_float_equal(out[0], 97, 0);
    assert_float_equal(out[2], 99, 0);
    mend_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_lookup),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_ring),
    };
    return cmocka_run_group_tests_name("series", tests, NULL, NULL);
}
