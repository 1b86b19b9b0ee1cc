/* series.c -- the series registry (see series.h).
 *
 * Layout chosen for the hot path: an open-addressing table of 8-byte slots
 * (id + the high half of the hash, so most misses never touch a record),
 * records of fixed size in slabs of 4096 so pointers stay valid as the
 * registry grows, and keys in an append-only arena. Nothing here allocates
 * per sample except a ring's occasional doubling. */
#include "mend/series.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_SHIFT 12
#define SLAB_SIZE (1u << SLAB_SHIFT)
#define ARENA_CHUNK (1u << 20)
#define RING_STEP 16u

struct slot {
    uint32_t id1;    /* id + 1; 0 = empty */
    uint32_t hhi;    /* high 32 bits of the hash */
};

struct table {
    struct slot *slots;
    size_t mask;     /* capacity - 1, capacity a power of two */
    size_t used;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct mend_registry {
    struct mend_series_conf conf;
    size_t blob_size, rec_size;
    struct table series_tab, entity_tab;
    unsigned char **slabs;   /* series records */
    size_t n_slabs, slabs_cap;
    uint32_t count;
    struct mend_entity *entities;
    uint64_t *entity_hash;
    uint32_t n_entities, entities_cap;
    struct arena_chunk *arena;
    size_t arena_bytes, ring_bytes;
    uint64_t refused;
};

void mend_series_conf_defaults(struct mend_series_conf *c)
{
    c->max_series = 1000000;
    c->ring_cap = 512;
    c->max_entities = 100000;
    c->max_key = 1024;
}

static int table_init(struct table *t, size_t cap)
{
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots)
        return MEND_ENOMEM;
    t->mask = cap - 1;
    t->used = 0;
    return MEND_OK;
}

static const char *arena_copy(struct mend_registry *r, const char *s, size_t n)
{
    struct arena_chunk *c = r->arena;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = r->arena;
        c->used = 0;
        c->cap = cap;
        r->arena = c;
        r->arena_bytes += sizeof *c + cap;
    }
    char *d = c->data + c->used;
    memcpy(d, s, n);
    d[n] = '\0';
    c->used += n + 1;
    return d;
}

int mend_registry_new(const struct mend_series_conf *c, size_t blob_size, struct mend_registry **out)
{
    *out = NULL;
    if (!c || c->max_series == 0 || c->ring_cap == 0 || c->max_entities == 0)
        return MEND_EINVAL;
    struct mend_registry *r = calloc(1, sizeof *r);
    if (!r)
        return MEND_ENOMEM;
    r->conf = *c;
    r->blob_size = blob_size;
    size_t head = (sizeof(struct mend_series) + 15) & ~(size_t)15;
    r->rec_size = head + ((blob_size + 15) & ~(size_t)15);
    if (table_init(&r->series_tab, 1024) || table_init(&r->entity_tab, 256))
        goto fail;
    r->entities_cap = 64;
    r->entities = calloc(r->entities_cap, sizeof *r->entities);
    r->entity_hash = calloc(r->entities_cap, sizeof *r->entity_hash);
    if (!r->entities || !r->entity_hash)
        goto fail;
    /* entity 0 stands for "no entity tag on the sample" */
    r->entities[0].name = arena_copy(r, "", 0);
    if (!r->entities[0].name)
        goto fail;
    r->n_entities = 1;
    *out = r;
    return MEND_OK;
fail:
    mend_registry_free(r);
    return MEND_ENOMEM;
}

void mend_registry_free(struct mend_registry *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->count; i++)
        free(mend_registry_at(r, i)->ring);
    for (size_t i = 0; i < r->n_slabs; i++)
        free(r->slabs[i]);
    free(r->slabs);
    free(r->series_tab.slots);
    free(r->entity_tab.slots);
    free(r->entities);
    free(r->entity_hash);
    while (r->arena) {
        struct arena_chunk *n = r->arena->next;
        free(r->arena);
        r->arena = n;
    }
    free(r);
}

struct mend_series *mend_registry_at(const struct mend_registry *r, uint32_t id)
{
    if (id >= r->count)
        return NULL;
    return (struct mend_series *)(void *)(r->slabs[id >> SLAB_SHIFT] + (size_t)(id & (SLAB_SIZE - 1)) * r->rec_size);
}

void *mend_series_blob(struct mend_series *s)
{
    size_t head = (sizeof(struct mend_series) + 15) & ~(size_t)15;
    return (unsigned char *)s + head;
}

/* Grow a table to twice its size; rehash from the stored hashes. */
static int table_grow(struct table *t, const struct mend_registry *r, int entities)
{
    size_t cap = (t->mask + 1) * 2;
    struct slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return MEND_ENOMEM;
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->slots[i].id1)
            continue;
        uint32_t id = t->slots[i].id1 - 1;
        uint64_t h = entities ? r->entity_hash[id] : mend_registry_at(r, id)->hash;
        size_t j = (size_t)h & (cap - 1);
        while (ns[j].id1)
            j = (j + 1) & (cap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->mask = cap - 1;
    return MEND_OK;
}

/* 8 bytes at a time with a multiply-xorshift mix: several times faster than
 * a byte-wise hash on 40-100 byte keys, and this runs once per sample that
 * misses the successor hint. */
static uint64_t key_hash(const char *s, size_t n)
{
    const uint64_t m = 0x9e3779b97f4a7c15ULL;
    uint64_t h = MEND_HASH_SEED ^ (n * m);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * m;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * m;
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int entity_get(struct mend_registry *r, const char *name, size_t len, uint32_t *out)
{
    if (!name || len == 0) {
        *out = 0;
        return MEND_OK;
    }
    uint64_t h = key_hash(name, len);
    struct table *t = &r->entity_tab;
    size_t i = (size_t)h & t->mask;
    for (; t->slots[i].id1; i = (i + 1) & t->mask) {
        uint32_t id = t->slots[i].id1 - 1;
        if (r->entity_hash[id] == h && r->entities[id].name_len == len &&
            !memcmp(r->entities[id].name, name, len)) {
            *out = id;
            return MEND_OK;
        }
    }
    if (r->n_entities >= r->conf.max_entities || len > r->conf.max_key)
        return MEND_ECAP;
    if (r->n_entities == r->entities_cap) {
        uint32_t cap = r->entities_cap * 2;
        struct mend_entity *e = realloc(r->entities, cap * sizeof *e);
        if (!e)
            return MEND_ENOMEM;
        r->entities = e;
        uint64_t *eh = realloc(r->entity_hash, cap * sizeof *eh);
        if (!eh)
            return MEND_ENOMEM;
        r->entity_hash = eh;
        r->entities_cap = cap;
    }
    const char *copy = arena_copy(r, name, len);
    if (!copy)
        return MEND_ENOMEM;
    uint32_t id = r->n_entities++;
    memset(&r->entities[id], 0, sizeof r->entities[id]);
    r->entities[id].name = copy;
    r->entities[id].name_len = (uint32_t)len;
    r->entity_hash[id] = h;
    t->slots[i].id1 = id + 1;
    t->slots[i].hhi = (uint32_t)(h >> 32);
    if (++t->used * 4 > (t->mask + 1) * 3)
        return table_grow(t, r, 1) == MEND_OK ? (*out = id, MEND_OK) : MEND_ENOMEM;
    *out = id;
    return MEND_OK;
}

static struct mend_series *lookup(const struct mend_registry *r, const char *key, size_t len,
                                  uint64_t h, size_t *slot)
{
    const struct table *t = &r->series_tab;
    uint32_t hhi = (uint32_t)(h >> 32);
    size_t i = (size_t)h & t->mask;
    for (; t->slots[i].id1; i = (i + 1) & t->mask) {
        if (t->slots[i].hhi != hhi)
            continue;
        struct mend_series *s = mend_registry_at(r, t->slots[i].id1 - 1);
        if (s->hash == h && s->key_len == len && !memcmp(s->key, key, len))
            return s;
    }
    *slot = i;
    return NULL;
}

struct mend_series *mend_registry_find(const struct mend_registry *r, const char *key, size_t key_len)
{
    size_t slot;
    return lookup(r, key, key_len, key_hash(key, key_len), &slot);
}

int mend_registry_get_after(struct mend_registry *r, struct mend_series *prev, const char *key,
                            size_t key_len, const char *entity, size_t entity_len,
                            struct mend_series **out, int *created)
{
    if (prev && prev->next_hint) {
        struct mend_series *s = mend_registry_at(r, prev->next_hint - 1);
        if (s->key_len == key_len && !memcmp(s->key, key, key_len)) {
            if (created)
                *created = 0;
            *out = s;
            return MEND_OK;
        }
    }
    int rc = mend_registry_get(r, key, key_len, entity, entity_len, out, created);
    if (rc == MEND_OK && prev)
        prev->next_hint = (*out)->id + 1;
    return rc;
}

int mend_registry_get(struct mend_registry *r, const char *key, size_t key_len,
                      const char *entity, size_t entity_len,
                      struct mend_series **out, int *created)
{
    if (created)
        *created = 0;
    if (!key_len || key_len > r->conf.max_key)
        return MEND_EINVAL;
    uint64_t h = key_hash(key, key_len);
    size_t slot = 0;
    struct mend_series *s = lookup(r, key, key_len, h, &slot);
    if (s) {
        *out = s;
        return MEND_OK;
    }
    if (r->count >= r->conf.max_series) {
        r->refused++;
        return MEND_ECAP;
    }
    uint32_t eid;
    int rc = entity_get(r, entity, entity_len, &eid);
    if (rc) {
        r->refused++;
        return rc;
    }
    uint32_t id = r->count;
    if ((id >> SLAB_SHIFT) >= r->n_slabs) {
        if (r->n_slabs == r->slabs_cap) {
            size_t cap = r->slabs_cap ? r->slabs_cap * 2 : 16;
            unsigned char **ns = realloc(r->slabs, cap * sizeof *ns);
            if (!ns)
                return MEND_ENOMEM;
            r->slabs = ns;
            r->slabs_cap = cap;
        }
        /* the records' blobs hold doubles: 16-byte alignment from aligned_alloc */
        unsigned char *slab = aligned_alloc(16, SLAB_SIZE * r->rec_size);
        if (!slab)
            return MEND_ENOMEM;
        r->slabs[r->n_slabs++] = slab;
    }
    const char *copy = arena_copy(r, key, key_len);
    if (!copy)
        return MEND_ENOMEM;
    r->count++;
    s = mend_registry_at(r, id);
    memset(s, 0, r->rec_size);
    s->hash = h;
    s->key = copy;
    s->key_len = (uint32_t)key_len;
    s->id = id;
    s->entity = eid;
    /* members are appended at the head; the list order is therefore newest
     * first, which is deterministic, and the entity keeps a count */
    struct mend_entity *e = &r->entities[eid];
    s->next_in_entity = e->first_member;
    e->first_member = id + 1;
    e->n_members++;
    struct table *t = &r->series_tab;
    t->slots[slot].id1 = id + 1;
    t->slots[slot].hhi = (uint32_t)(h >> 32);
    if (++t->used * 4 > (t->mask + 1) * 3 && table_grow(t, r, 0) != MEND_OK)
        return MEND_ENOMEM;
    if (created)
        *created = 1;
    *out = s;
    return MEND_OK;
}

uint32_t mend_registry_count(const struct mend_registry *r) { return r->count; }
uint32_t mend_registry_entity_count(const struct mend_registry *r) { return r->n_entities; }
uint64_t mend_registry_refused(const struct mend_registry *r) { return r->refused; }

struct mend_entity *mend_registry_entity(const struct mend_registry *r, uint32_t id)
{
    return id < r->n_entities ? &r->entities[id] : NULL;
}

int mend_series_push(struct mend_registry *r, struct mend_series *s, double v)
{
    int rc = MEND_OK;
    if (s->ring_len == s->ring_cap_now && s->ring_cap_now < r->conf.ring_cap) {
        /* linear steps keep a young series' ring close to what it holds */
        uint32_t cap = s->ring_cap_now + RING_STEP;
        if (cap > r->conf.ring_cap)
            cap = r->conf.ring_cap;
        float *nr = malloc(cap * sizeof *nr);
        if (nr) {
            /* unroll into oldest-first order so head restarts at 0 */
            for (uint32_t i = 0; i < s->ring_len; i++)
                nr[i] = s->ring[(s->ring_head + i) % s->ring_cap_now];
            free(s->ring);
            r->ring_bytes += (size_t)(cap - s->ring_cap_now) * sizeof *nr;
            s->ring = nr;
            s->ring_head = 0;
            s->ring_cap_now = cap;
        } else {
            rc = MEND_ENOMEM;
        }
    }
    if (s->ring_cap_now == 0)
        return rc;
    /* compare-and-wrap rather than %: this runs once per sample */
    if (s->ring_len < s->ring_cap_now) {
        uint32_t i = s->ring_head + s->ring_len;
        if (i >= s->ring_cap_now)
            i -= s->ring_cap_now;
        s->ring[i] = (float)v;
        s->ring_len++;
    } else {
        s->ring[s->ring_head] = (float)v;
        if (++s->ring_head == s->ring_cap_now)
            s->ring_head = 0;
    }
    return rc;
}

size_t mend_series_recent(const struct mend_series *s, float *out, size_t n)
{
    size_t k = n < s->ring_len ? n : s->ring_len;
    size_t skip = s->ring_len - k;
    for (size_t i = 0; i < k; i++)
        out[i] = s->ring[(s->ring_head + skip + i) % s->ring_cap_now];
    return k;
}

size_t mend_registry_memory(const struct mend_registry *r)
{
    return sizeof *r + (r->series_tab.mask + 1) * sizeof(struct slot) +
           (r->entity_tab.mask + 1) * sizeof(struct slot) + r->n_slabs * SLAB_SIZE * r->rec_size +
           r->slabs_cap * sizeof *r->slabs +
           r->entities_cap * (sizeof *r->entities + sizeof *r->entity_hash) + r->arena_bytes +
           r->ring_bytes;
}
