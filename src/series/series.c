/* series.c -- the series registry (see series.h).
 *
 * Layout chosen for the hot path: an open-addressing table (linear probing)
 * of 8-byte slots holding id + 1 and the high 32 bits of the key's seeded
 * XXH3 hash. The home slot is taken from the top bits of that fingerprint,
 * so growing the table and deleting from it (backward shift, no tombstones,
 * so lookups do not slow down under churn) never touch a record, and most
 * misses never touch one either. Records are of fixed size in slabs of 4096
 * so pointers stay valid as the registry grows; a freed record goes on a
 * LIFO free list threaded through next_in_entity. Keys live in a store of
 * their own that reuses freed blocks (see key_alloc). Nothing here allocates
 * per sample except when a ring grows (every 16 values up to ring_cap) or its
 * time encoding has to change.
 *
 * Ring times. Each ring keeps the exact event time of every value without
 * 8 bytes per value. The record holds the newest time (ring_t); gaps between
 * consecutive values are counted in a unit of 10^texp ns, the coarsest that
 * divides them all, and each slot holds its gap to the value before it as
 * base + a word of tw bytes (1, 2 or 4), base being the smallest gap (kept
 * in the ring's block). So 10 s +- 50 ms in ms takes 1 byte a value and
 * 10 s +- 0.5 s in ns 4 bytes. tw = 0 means every gap is ring_step units (a
 * collector on a fixed interval: no bytes per value at all), and tw = 8
 * stores absolute times (gaps that are negative, or spread over more than
 * 4 bytes). Times are decoded backwards from ring_t, so the gap stored in the
 * oldest slot is never read. When a new gap does not fit the encoding, the
 * ring is re-encoded from its decoded times with the narrowest encoding that
 * fits them all ("reshape", also done when a ring grows); when a full ring
 * wraps around with tw > 0 the same choice may narrow it again once an
 * outlier gap has left. Every path is exact: there is no lossy case. The
 * block is [cap floats][base, 8 bytes, tw 1-4 only][cap words of tw bytes]. */
#include "mend/series.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <sys/random.h>
#include <time.h>

#define XXH_INLINE_ALL /* the hash runs once per sample that misses the hint */
#include <xxhash.h>

#define SLAB_SHIFT 12
#define SLAB_SIZE (1u << SLAB_SHIFT)
#define RING_STEP 16u
#define RING_MAX 65536u
#define TABLE_MIN_BITS 10
#define TEXP_MAX 9
#define KCHUNK (1u << 18)
#define KBIG 4096u
#define KGRAIN 8u
#define KCLASSES (KBIG / KGRAIN)

/* Slow paths of mend_series_push kept out of line, so that its fast path
 * does not pay for their registers on every sample. */
#if defined(__GNUC__)
#define COLD __attribute__((noinline, cold))
#define HOT_INLINE inline __attribute__((always_inline))
#else
#define COLD
#define HOT_INLINE inline
#endif

/* the ring's room and encoding, packed in the record (see series.h) */
#define RCAP(s) ((s)->ring ? (uint32_t)(s)->ring_capm1 + 1u : 0u)
#define RTW(s) ((unsigned)((s)->ring_enc & 15u))
#define RTEXP(s) ((unsigned)((s)->ring_enc >> 4))

#if UINTPTR_MAX == UINT64_MAX
/* bytes per series matter (1,000,000 of them): the record must not grow by
 * accident; series.h orders its fields so that it has no padding */
_Static_assert(sizeof(struct mend_series) == 104, "struct mend_series grew");
#endif

static const uint64_t pow10_tab[TEXP_MAX + 1] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL};

struct slot {
    uint32_t id1;    /* id + 1; 0 = empty */
    uint32_t fp;     /* high 32 bits of the hash; its top bits pick the home slot */
};

struct table {
    struct slot *slots;
    uint32_t bits;   /* capacity = 1 << bits */
    size_t mask;
    size_t used;
};

struct kchunk {
    struct kchunk *next;
    size_t used, cap;
    _Alignas(8) char data[];
};

struct mend_registry {
    struct mend_series_conf conf;
    uint64_t seed;
    size_t blob_size, rec_size;
    struct table series_tab, entity_tab;
    unsigned char **slabs;   /* series records */
    size_t n_slabs, slabs_cap;
    uint32_t count;          /* id bound */
    uint32_t free_head;      /* id + 1 of the last freed record, 0 = none */
    uint32_t n_free;
    struct mend_entity *entities;
    uint32_t n_entities, entities_cap;
    size_t key_bytes, ring_bytes; /* entity names and big keys; rings */
    struct kchunk *kchunks;  /* the key store, see key_alloc */
    char *kfree[KCLASSES];   /* freed key blocks by size class */
    size_t k_arena, k_live, k_dead;
    int64_t *scratch_t;      /* ring_cap + 1 decoded times, for reshapes */
    float *scratch_v;
    uint64_t created, evicted, refused_cap, refused_key, no_entity;
};

void mend_series_conf_defaults(struct mend_series_conf *c)
{
    c->max_series = 1000000;
    c->ring_cap = 512;
    c->max_entities = 100000;
    c->max_key = 1024;
    c->hash_seed = 0;
    c->idle_evict_ns = 86400LL * 1000000000LL;
}

/* What malloc(n) costs, as glibc rounds it: a 8-byte header, 16-byte
 * granules, 32 bytes at least. An estimate, for the memory figure only. */
static size_t blk(size_t n)
{
    size_t b = (n + 8 + 15) & ~(size_t)15;
    return b < 32 ? 32 : b;
}

/* Bytes of a ring block: cap floats, then for tw 1, 2 and 4 the base gap
 * (8 bytes, so that gaps of 10 s +- jitter in ns fit 4 bytes), then cap
 * time words of tw bytes. */
static size_t ring_size(uint32_t cap, unsigned tw)
{
    return (size_t)cap * (4u + tw) + (tw && tw < 8 ? 8u : 0u);
}

static size_t ring_alloc_bytes(const struct mend_series *s)
{
    return s->ring ? blk(ring_size(RCAP(s), RTW(s))) : 0;
}

/* A key's block in the key store: the key and its NUL in 8-byte granules
 * (a free block holds the free list's next pointer). */
static size_t kblock(size_t len) { return (len + 1 + KGRAIN - 1) & ~(size_t)(KGRAIN - 1); }

static int64_t u2i(uint64_t u)
{
    int64_t i;
    memcpy(&i, &u, sizeof i);
    return i;
}

static int table_init(struct table *t, uint32_t bits)
{
    t->slots = calloc((size_t)1 << bits, sizeof *t->slots);
    if (!t->slots)
        return MEND_ENOMEM;
    t->bits = bits;
    t->mask = ((size_t)1 << bits) - 1;
    t->used = 0;
    return MEND_OK;
}

static size_t home(const struct table *t, uint32_t fp)
{
    return (size_t)(fp >> (32 - t->bits));
}

/* Twice the size, rehashed from the fingerprints alone. */
static int table_grow(struct table *t)
{
    if (t->bits >= 32)
        return MEND_ECAP;
    struct table n;
    if (table_init(&n, t->bits + 1))
        return MEND_ENOMEM;
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->slots[i].id1)
            continue;
        size_t j = home(&n, t->slots[i].fp);
        while (n.slots[j].id1)
            j = (j + 1) & n.mask;
        n.slots[j] = t->slots[i];
    }
    n.used = t->used;
    free(t->slots);
    *t = n;
    return MEND_OK;
}

/* Make room for one more entry (grow at 3/4 full) before inserting, so that
 * a failed growth leaves nothing half made. */
static int table_reserve(struct table *t)
{
    if ((t->used + 1) * 4 > (t->mask + 1) * 3)
        return table_grow(t);
    return MEND_OK;
}

/* The empty slot that ends fp's probe run. */
static size_t table_free_slot(const struct table *t, uint32_t fp)
{
    size_t i = home(t, fp);
    while (t->slots[i].id1)
        i = (i + 1) & t->mask;
    return i;
}

/* Remove slot i by shifting later members of its probe run back, so the
 * table never holds tombstones. */
static void table_delete(struct table *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j].id1)
            break;
        size_t k = home(t, t->slots[j].fp);
        /* the entry at j stays if its home lies cyclically in (i, j] */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        i = j;
    }
    t->slots[i].id1 = 0;
    t->slots[i].fp = 0;
    t->used--;
}

uint64_t mend_registry_hash(const struct mend_registry *r, const char *key, size_t key_len)
{
    return XXH3_64bits_withSeed(key, key_len, r->seed);
}

uint64_t mend_registry_seed(const struct mend_registry *r) { return r->seed; }

/* A seed nobody on the network can guess. getrandom without GRND_NONBLOCK
 * could stall a daemon started early in boot; if the pool is not ready (or
 * the call is missing) fall back to the clocks and an ASLR'd address, which
 * is weaker but still differs per process. */
static uint64_t draw_seed(const void *salt)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s && s)
        return s;
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    clock_gettime(CLOCK_MONOTONIC, &ts[1]);
    uintptr_t a = (uintptr_t)salt;
    s = XXH3_64bits_withSeed(ts, sizeof ts, (uint64_t)a);
    return s ? s : 0x9e3779b97f4a7c15ULL;
}

int mend_registry_new(const struct mend_series_conf *c, size_t blob_size, struct mend_registry **out)
{
    *out = NULL;
    if (!c || c->max_series == 0 || c->ring_cap == 0 || c->ring_cap > RING_MAX ||
        c->max_entities == 0 || c->max_key == 0 || c->max_key >= UINT32_MAX)
        return MEND_EINVAL;
    struct mend_registry *r = calloc(1, sizeof *r);
    if (!r)
        return MEND_ENOMEM;
    r->conf = *c;
    r->seed = c->hash_seed ? c->hash_seed : draw_seed(r);
    r->blob_size = blob_size;
    /* 8-byte alignment is what blobs need (detector.h); 16 would cost 8
     * bytes a record */
    size_t head = (sizeof(struct mend_series) + 7) & ~(size_t)7;
    r->rec_size = head + ((blob_size + 7) & ~(size_t)7);
    if (table_init(&r->series_tab, TABLE_MIN_BITS) || table_init(&r->entity_tab, 8))
        goto fail;
    r->entities_cap = 64;
    r->entities = calloc(r->entities_cap, sizeof *r->entities);
    r->scratch_t = malloc(((size_t)c->ring_cap + 1) * sizeof *r->scratch_t);
    r->scratch_v = malloc(((size_t)c->ring_cap + 1) * sizeof *r->scratch_v);
    if (!r->entities || !r->scratch_t || !r->scratch_v)
        goto fail;
    /* entity 0 stands for "no entity tag on the sample" (or no room for it) */
    r->entities[0].name = "";
    r->n_entities = 1;
    *out = r;
    return MEND_OK;
fail:
    mend_registry_free(r);
    return MEND_ENOMEM;
}

static struct mend_series *rec(const struct mend_registry *r, uint32_t id)
{
    return (struct mend_series *)(void *)(r->slabs[id >> SLAB_SHIFT] +
                                          (size_t)(id & (SLAB_SIZE - 1)) * r->rec_size);
}

void mend_registry_free(struct mend_registry *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->count; i++) {
        struct mend_series *s = rec(r, i);
        free(s->ring);
        if (s->key && kblock(s->key_len) > KBIG)
            free((char *)(uintptr_t)s->key);
    }
    while (r->kchunks) {
        struct kchunk *n = r->kchunks->next;
        free(r->kchunks);
        r->kchunks = n;
    }
    for (size_t i = 0; i < r->n_slabs; i++)
        free(r->slabs[i]);
    free(r->slabs);
    free(r->series_tab.slots);
    free(r->entity_tab.slots);
    for (uint32_t i = 1; i < r->n_entities; i++)
        if (kblock(r->entities[i].name_len) > KBIG)
            free((char *)(uintptr_t)r->entities[i].name);
    free(r->entities);
    free(r->scratch_t);
    free(r->scratch_v);
    free(r);
}

struct mend_series *mend_registry_at(const struct mend_registry *r, uint32_t id)
{
    if (id >= r->count)
        return NULL;
    struct mend_series *s = rec(r, id);
    return s->key ? s : NULL;
}

/* ---- the key store ------------------------------------------------------
 * Keys (and entity names, which are never freed) live in chunks of 256 KiB
 * in blocks of 8-byte granules. A freed
 * block goes on the free list of its size class and is handed to the next
 * key of that size (churning labels usually keep their length). Keeping
 * keys out of the malloc heap matters for memory: one malloc per key sits
 * between the ring blocks and pins a hole each time a ring grows (+69 bytes
 * of RSS per series on `make bench`). When dead blocks outweigh live ones
 * (and a chunk), the store is compacted: live keys are copied into fresh
 * chunks and s->key updated, so dead space is bounded by the live keys.
 * Keys over 4 KiB are malloc'd one by one. */
static char *kchunk_take(struct mend_registry *r, size_t bs)
{
    struct kchunk *c = r->kchunks;
    if (!c || c->cap - c->used < bs) {
        /* the tail of the old chunk is left unused: at most KBIG bytes */
        c = malloc(sizeof *c + KCHUNK);
        if (!c)
            return NULL;
        c->next = r->kchunks;
        c->used = 0;
        c->cap = KCHUNK;
        r->kchunks = c;
        r->k_arena += blk(sizeof *c + KCHUNK);
    }
    char *p = c->data + c->used;
    c->used += bs;
    return p;
}

/* The j-th string of the key store: series keys by id, then entity names
 * (entity 0's "" is not in it). NULL for a free record. */
static const char **kstr_at(struct mend_registry *r, uint32_t j, size_t *len)
{
    if (j < r->count) {
        struct mend_series *s = rec(r, j);
        *len = s->key_len;
        return s->key ? &s->key : NULL;
    }
    struct mend_entity *e = &r->entities[j - r->count + 1];
    *len = e->name_len;
    return &e->name;
}

static void key_compact(struct mend_registry *r)
{
    uint32_t nstr = r->count + r->n_entities - 1;
    /* pass 1: the chunks the live strings fill, packed in order; all are
     * allocated before anything moves, so a failure leaves things as they were */
    size_t n = 0, used = KCHUNK, len;
    for (uint32_t j = 0; j < nstr; j++) {
        size_t bs;
        if (!kstr_at(r, j, &len) || (bs = kblock(len)) > KBIG)
            continue;
        if (KCHUNK - used < bs) {
            n++;
            used = 0;
        }
        used += bs;
    }
    struct kchunk *first = NULL, **tail = &first;
    for (size_t k = 0; k < n; k++) {
        struct kchunk *c = malloc(sizeof *c + KCHUNK);
        if (!c) {
            while (first) {
                struct kchunk *x = first->next;
                free(first);
                first = x;
            }
            return; /* no room to compact: the store just stays larger */
        }
        c->next = NULL;
        c->used = 0;
        c->cap = KCHUNK;
        *tail = c;
        tail = &c->next;
    }
    /* pass 2: copy in the same order, so the chunks fill as counted */
    struct kchunk *c = first;
    for (uint32_t j = 0; j < nstr; j++) {
        const char **p = kstr_at(r, j, &len);
        size_t bs;
        if (!p || (bs = kblock(len)) > KBIG)
            continue;
        if (c->cap - c->used < bs)
            c = c->next;
        memcpy(c->data + c->used, *p, len + 1);
        *p = c->data + c->used;
        c->used += bs;
    }
    while (r->kchunks) {
        struct kchunk *x = r->kchunks->next;
        free(r->kchunks);
        r->kchunks = x;
    }
    /* reversed, so that the last chunk filled is the one new keys go to */
    while (first) {
        struct kchunk *x = first->next;
        first->next = r->kchunks;
        r->kchunks = first;
        first = x;
    }
    r->k_arena = n * blk(sizeof(struct kchunk) + KCHUNK);
    memset(r->kfree, 0, sizeof r->kfree);
    r->k_dead = 0;
}

static char *key_alloc(struct mend_registry *r, const char *key, size_t len)
{
    size_t bs = kblock(len);
    char *p;
    if (bs > KBIG) {
        p = malloc(len + 1);
        if (!p)
            return NULL;
        r->key_bytes += blk(len + 1);
    } else if (r->kfree[bs / KGRAIN - 1]) {
        p = r->kfree[bs / KGRAIN - 1];
        memcpy(&r->kfree[bs / KGRAIN - 1], p, sizeof p);
        r->k_dead -= bs;
        r->k_live += bs;
    } else {
        if (r->k_dead > r->k_live && r->k_dead > KCHUNK)
            key_compact(r);
        p = kchunk_take(r, bs);
        if (!p)
            return NULL;
        r->k_live += bs;
    }
    memcpy(p, key, len);
    p[len] = '\0';
    return p;
}

static void key_free(struct mend_registry *r, char *p, size_t len)
{
    size_t bs = kblock(len);
    if (bs > KBIG) {
        free(p);
        r->key_bytes -= blk(len + 1);
        return;
    }
    memcpy(p, &r->kfree[bs / KGRAIN - 1], sizeof p);
    r->kfree[bs / KGRAIN - 1] = p;
    r->k_live -= bs;
    r->k_dead += bs;
}

/* Entity id for name, creating it when new. *out = 0 when there is no name,
 * and (with *capped set) when the entity cap leaves no room for a new one. */
static int entity_get(struct mend_registry *r, const char *name, size_t len, uint32_t *out, int *capped)
{
    *out = 0;
    *capped = 0;
    if (!name || len == 0)
        return MEND_OK;
    uint32_t fp = (uint32_t)(mend_registry_hash(r, name, len) >> 32);
    struct table *t = &r->entity_tab;
    size_t i = home(t, fp);
    for (; t->slots[i].id1; i = (i + 1) & t->mask) {
        uint32_t id = t->slots[i].id1 - 1;
        if (t->slots[i].fp == fp && r->entities[id].name_len == len &&
            !memcmp(r->entities[id].name, name, len)) {
            *out = id;
            return MEND_OK;
        }
    }
    if (r->n_entities - 1 >= r->conf.max_entities) { /* entity 0 ("none") is not one of them */
        *capped = 1;
        return MEND_OK;
    }
    if (table_reserve(t) != MEND_OK)
        return MEND_ENOMEM;
    if (r->n_entities == r->entities_cap) {
        uint32_t cap = r->entities_cap * 2;
        struct mend_entity *e = realloc(r->entities, cap * sizeof *e);
        if (!e)
            return MEND_ENOMEM;
        r->entities = e;
        r->entities_cap = cap;
    }
    char *copy = key_alloc(r, name, len); /* never freed: entities stay */
    if (!copy)
        return MEND_ENOMEM;
    uint32_t id = r->n_entities++;
    memset(&r->entities[id], 0, sizeof r->entities[id]);
    r->entities[id].name = copy;
    r->entities[id].name_len = (uint32_t)len;
    i = table_free_slot(t, fp); /* the table may have grown */
    t->slots[i].id1 = id + 1;
    t->slots[i].fp = fp;
    t->used++;
    *out = id;
    return MEND_OK;
}

/* The record for key, or NULL with *slot at the empty slot ending its run. */
static struct mend_series *lookup(const struct mend_registry *r, const char *key, size_t len,
                                  uint32_t fp, size_t *slot)
{
    const struct table *t = &r->series_tab;
    size_t i = home(t, fp);
    for (; t->slots[i].id1; i = (i + 1) & t->mask) {
        if (t->slots[i].fp != fp)
            continue;
        struct mend_series *s = rec(r, t->slots[i].id1 - 1);
        if (s->key_len == len && !memcmp(s->key, key, len))
            return s;
    }
    *slot = i;
    return NULL;
}

struct mend_series *mend_registry_find(const struct mend_registry *r, const char *key, size_t key_len)
{
    size_t slot;
    if (!key_len || key_len > r->conf.max_key)
        return NULL;
    return lookup(r, key, key_len, (uint32_t)(mend_registry_hash(r, key, key_len) >> 32), &slot);
}

long mend_registry_slot(const struct mend_registry *r, const char *key, size_t key_len)
{
    const struct mend_series *s = mend_registry_find(r, key, key_len);
    if (!s)
        return -1;
    const struct table *t = &r->series_tab;
    size_t i = home(t, (uint32_t)(mend_registry_hash(r, key, key_len) >> 32));
    while (t->slots[i].id1 != s->id + 1)
        i = (i + 1) & t->mask;
    return (long)i;
}

uint32_t mend_registry_free_ids(const struct mend_registry *r, uint32_t *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t f = r->free_head; f && n < max; f = rec(r, f - 1)->next_in_entity)
        out[n++] = f - 1;
    return n;
}

int mend_registry_entity_get(struct mend_registry *r, const char *name, size_t len, uint32_t *id)
{
    int capped = 0;
    int rc = entity_get(r, name, len, id, &capped);
    if (rc == MEND_OK && capped)
        return MEND_ECAP;
    if (rc == MEND_OK && *id == 0)
        return MEND_EINVAL;
    return rc;
}

/* Equal keys of n bytes: sixteen (or eight) bytes at a time, inline (the hint is checked
 * for every sample, and a call to memcmp made its caller save registers). */
static HOT_INLINE int key_eq(const char *a, const char *b, size_t n)
{
#ifdef __SSE2__
    if (n >= 16) { /* sixteen at a time, the last sixteen overlapping */
        for (size_t i = 0; i + 16 < n; i += 16) {
            __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
            __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
            if (_mm_movemask_epi8(_mm_cmpeq_epi8(va, vb)) != 0xFFFF)
                return 0;
        }
        __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(a + n - 16));
        __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(b + n - 16));
        return _mm_movemask_epi8(_mm_cmpeq_epi8(va, vb)) == 0xFFFF;
    }
#endif
    uint64_t x, y;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return 0;
        return 1;
    }
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    memcpy(&x, a + n - 8, 8); /* the last eight, overlapping what went before */
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* A miss of the hint: the table, and the hint for next time. */
COLD static int get_after_miss(struct mend_registry *r, struct mend_series *prev, const char *key,
                               size_t key_len, const char *entity, size_t entity_len,
                               struct mend_series **out, int *created)
{
    int rc = mend_registry_get(r, key, key_len, entity, entity_len, out, created);
    if (rc == MEND_OK && prev)
        prev->next_hint = (*out)->id + 1;
    return rc;
}

int mend_registry_get_after(struct mend_registry *r, struct mend_series *prev, const char *key,
                            size_t key_len, const char *entity, size_t entity_len,
                            struct mend_series **out, int *created)
{
    if (prev && !prev->key)
        prev = NULL; /* evicted since the caller kept it */
    if (prev && prev->next_hint) {
        /* a free record has key_len 0 and never matches a valid key; a
         * reused one matches only if it now holds this very key */
        struct mend_series *s = rec(r, prev->next_hint - 1);
        if (s->key_len == key_len && key_eq(s->key, key, key_len)) {
            if (created)
                *created = 0;
            *out = s;
            return MEND_OK;
        }
    }
    return get_after_miss(r, prev, key, key_len, entity, entity_len, out, created);
}

void mend_registry_prefetch(const struct mend_registry *r, const struct mend_series *s)
{
#if defined(__GNUC__)
    if (!s->next_hint)
        return;
    /* the next series: its record was asked for one sample ago, so reading
     * it here rarely waits; ask for what the next sample will touch of it
     * (the key the hint compares, the ring slot the value goes to) and for
     * the record after it */
    const struct mend_series *n1 = rec(r, s->next_hint - 1);
    if (n1->key) {
        __builtin_prefetch(n1->key);
        if (n1->ring) {
            uint32_t cap = RCAP(n1), i = n1->ring_head + n1->ring_len;
            if (n1->ring_len >= cap)
                i = n1->ring_head;
            else if (i >= cap)
                i -= cap;
            __builtin_prefetch(n1->ring + (size_t)i * sizeof(float), 1);
        }
    }
    if (!n1->next_hint)
        return;
    /* every other line: the L2's pair-line prefetch brings the rest (on
     * the bench, as fast as every line, with half the instructions) */
    const char *n2 = (const char *)rec(r, n1->next_hint - 1);
    for (size_t off = 0; off < r->rec_size; off += 128)
        __builtin_prefetch(n2 + off, 1);
#else
    (void)r;
    (void)s;
#endif
}

static int new_record(struct mend_registry *r, uint32_t *id_out)
{
    if (r->free_head) {
        *id_out = r->free_head - 1;
        return MEND_OK;
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
        /* the records' blobs hold doubles: 8-byte alignment at least */
        unsigned char *slab = aligned_alloc(16, SLAB_SIZE * r->rec_size);
        if (!slab)
            return MEND_ENOMEM;
        r->slabs[r->n_slabs++] = slab;
    }
    *id_out = id;
    return MEND_OK;
}

int mend_registry_get(struct mend_registry *r, const char *key, size_t key_len,
                      const char *entity, size_t entity_len,
                      struct mend_series **out, int *created)
{
    if (created)
        *created = 0;
    if (!key_len || key_len > r->conf.max_key) {
        r->refused_key++;
        return MEND_EINVAL;
    }
    uint32_t fp = (uint32_t)(mend_registry_hash(r, key, key_len) >> 32);
    size_t slot = 0;
    struct mend_series *s = lookup(r, key, key_len, fp, &slot);
    if (s) {
        *out = s;
        return MEND_OK;
    }
    if (r->count - r->n_free >= r->conf.max_series) {
        r->refused_cap++;
        return MEND_ECAP;
    }
    /* everything that can fail comes before the series is linked in, so
     * that a failure leaves no series behind (at most an entity or a slab
     * for the next one) */
    struct table *t = &r->series_tab;
    if (table_reserve(t) != MEND_OK)
        return MEND_ENOMEM;
    slot = table_free_slot(t, fp); /* the table may have grown */
    uint32_t eid;
    int capped;
    int rc = entity_get(r, entity, entity_len, &eid, &capped);
    if (rc)
        return rc;
    uint32_t id;
    rc = new_record(r, &id);
    if (rc)
        return rc;
    char *copy = key_alloc(r, key, key_len);
    if (!copy)
        return MEND_ENOMEM;
    if (capped)
        r->no_entity++;
    s = rec(r, id);
    uint32_t gen = 0;
    if (id < r->count) {
        /* a freed record: take it off the free list, keep its generation */
        gen = s->gen;
        r->free_head = s->next_in_entity;
        r->n_free--;
    } else {
        r->count++;
    }
    memset(s, 0, r->rec_size);
    s->key = copy;
    s->key_len = (uint32_t)key_len;
    s->id = id;
    s->gen = gen;
    s->entity = eid;
    /* members are linked at the head: the list order is newest first, which
     * is deterministic, and both links make removal O(1) even for entity 0 */
    struct mend_entity *e = &r->entities[eid];
    s->next_in_entity = e->first_member;
    if (e->first_member)
        rec(r, e->first_member - 1)->prev_in_entity = id + 1;
    e->first_member = id + 1;
    e->n_members++;
    r->created++;
    t->slots[slot].id1 = id + 1;
    t->slots[slot].fp = fp;
    t->used++;
    if (created)
        *created = 1;
    *out = s;
    return MEND_OK;
}

int mend_registry_evict(struct mend_registry *r, struct mend_series *s)
{
    if (!s || !s->key || s->id >= r->count || rec(r, s->id) != s)
        return MEND_EINVAL;
    struct table *t = &r->series_tab;
    uint32_t fp = (uint32_t)(mend_registry_hash(r, s->key, s->key_len) >> 32);
    size_t i = home(t, fp);
    while (t->slots[i].id1 && t->slots[i].id1 != s->id + 1)
        i = (i + 1) & t->mask;
    if (!t->slots[i].id1)
        return MEND_ECORRUPT; /* cannot happen: every live series is in the table */
    table_delete(t, i);
    struct mend_entity *e = &r->entities[s->entity];
    if (s->prev_in_entity)
        rec(r, s->prev_in_entity - 1)->next_in_entity = s->next_in_entity;
    else
        e->first_member = s->next_in_entity;
    if (s->next_in_entity)
        rec(r, s->next_in_entity - 1)->prev_in_entity = s->prev_in_entity;
    e->n_members--;
    r->ring_bytes -= ring_alloc_bytes(s);
    free(s->ring);
    key_free(r, (char *)(uintptr_t)s->key, s->key_len);
    s->ring = NULL;
    s->ring_capm1 = 0;
    s->ring_len = s->ring_head = 0;
    s->ring_enc = 0;
    s->key = NULL;
    s->key_len = 0;
    s->next_hint = 0;
    s->prev_in_entity = 0;
    s->gen++;
    s->next_in_entity = r->free_head;
    r->free_head = s->id + 1;
    r->n_free++;
    r->evicted++;
    return MEND_OK;
}

uint32_t mend_registry_evict_idle(struct mend_registry *r, int64_t cutoff,
                                  int (*keep)(void *ctx, struct mend_series *s), void *ctx)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->count; i++) {
        struct mend_series *s = rec(r, i);
        if (!s->key || s->last_t >= cutoff || (keep && keep(ctx, s)))
            continue;
        if (mend_registry_evict(r, s) == MEND_OK)
            n++;
    }
    return n;
}

uint32_t mend_registry_count(const struct mend_registry *r) { return r->count; }
uint32_t mend_registry_live(const struct mend_registry *r) { return r->count - r->n_free; }
uint32_t mend_registry_entity_count(const struct mend_registry *r) { return r->n_entities; }
uint64_t mend_registry_refused(const struct mend_registry *r) { return r->refused_cap; }

struct mend_entity *mend_registry_entity(const struct mend_registry *r, uint32_t id)
{
    return id < r->n_entities ? &r->entities[id] : NULL;
}

void mend_registry_stats(const struct mend_registry *r, struct mend_registry_stats *st)
{
    st->live = r->count - r->n_free;
    st->id_bound = r->count;
    st->entities = r->n_entities;
    st->created = r->created;
    st->evicted = r->evicted;
    st->refused_cap = r->refused_cap;
    st->refused_key = r->refused_key;
    st->no_entity = r->no_entity;
    st->memory = mend_registry_memory(r);
}

/* ---- rings ------------------------------------------------------------ */

static float *ring_vals(const struct mend_series *s) { return (float *)(void *)s->ring; }

static unsigned char *ring_times(const struct mend_series *s)
{
    return s->ring + (size_t)RCAP(s) * sizeof(float) + (RTW(s) && RTW(s) < 8 ? 8u : 0u);
}

/* The gap every time word adds to: ring_step for tw 0, the block's base
 * for tw 1, 2 and 4 (unused for tw 8). */
static uint64_t ring_base(const struct mend_series *s)
{
    if (!RTW(s))
        return s->ring_step;
    uint64_t b;
    memcpy(&b, s->ring + (size_t)RCAP(s) * sizeof(float), sizeof b);
    return b;
}

static void tword_put(struct mend_series *s, uint32_t i, uint64_t w)
{
    unsigned char *p = ring_times(s) + (size_t)i * RTW(s);
    switch (RTW(s)) {
    case 1:
        *p = (unsigned char)w;
        break;
    case 2: {
        uint16_t v = (uint16_t)w;
        memcpy(p, &v, sizeof v);
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)w;
        memcpy(p, &v, sizeof v);
        break;
    }
    case 8:
        memcpy(p, &w, sizeof w);
        break;
    default:
        break;
    }
}

/* The newest k values (k <= ring_len), oldest first; times walk back from
 * ring_t. The values are at most two runs of the ring, copied as such; the
 * times have one loop per word width, so that the width is not asked again
 * for every value (the localiser decodes a few hundred values per series
 * for every incident line). */
static void ring_decode(const struct mend_series *s, size_t k, float *vals, int64_t *times)
{
    uint32_t cap = RCAP(s);
    uint32_t newest = s->ring_head + s->ring_len - 1;
    if (newest >= cap)
        newest -= cap;
    if (vals) {
        size_t first = (size_t)newest + 1 + cap - k; /* in [1, 2 cap): k <= ring_len <= cap */
        if (first >= cap)
            first -= cap;
        size_t run = cap - first < k ? cap - first : k;
        const float *rv = ring_vals(s);
        memcpy(vals, rv + first, run * sizeof *vals);
        memcpy(vals + run, rv, (k - run) * sizeof *vals);
    }
    if (!times)
        return;
    const unsigned char *tp = ring_times(s);
    uint32_t i = newest;
    if (RTW(s) == 8) {
        for (size_t j = k; j-- > 0;) {
            uint64_t v;
            memcpy(&v, tp + (size_t)i * 8, sizeof v);
            times[j] = u2i(v);
            i = i ? i - 1 : cap - 1;
        }
        return;
    }
    const uint64_t unit = pow10_tab[RTEXP(s)], base = ring_base(s);
    uint64_t cur = (uint64_t)s->ring_t;
    /* modulo 2^64, exact: every true gap fits and the times it leads to are
     * the ones pushed */
    switch (RTW(s)) {
    default: /* 0 (no other width is ever set): no words */
        for (size_t j = k; j-- > 0;) {
            times[j] = u2i(cur);
            cur -= base * unit;
        }
        break;
    case 1:
        for (size_t j = k; j-- > 0;) {
            times[j] = u2i(cur);
            cur -= (base + tp[i]) * unit;
            i = i ? i - 1 : cap - 1;
        }
        break;
    case 2:
        for (size_t j = k; j-- > 0;) {
            uint16_t v;
            memcpy(&v, tp + (size_t)i * 2, sizeof v);
            times[j] = u2i(cur);
            cur -= (base + v) * unit;
            i = i ? i - 1 : cap - 1;
        }
        break;
    case 4:
        for (size_t j = k; j-- > 0;) {
            uint32_t v;
            memcpy(&v, tp + (size_t)i * 4, sizeof v);
            times[j] = u2i(cur);
            cur -= (base + v) * unit;
            i = i ? i - 1 : cap - 1;
        }
        break;
    }
}

uint32_t mend_series_ring_cap(const struct mend_series *s) { return RCAP(s); }

/* Every encoding but absolute times stores gaps, and a gap is never
 * negative: tenc_put refuses a time before ring_t and enc_choose picks
 * tw 8 as soon as one time steps back. */
int mend_series_ring_ordered(const struct mend_series *s) { return s->ring && RTW(s) < 8; }

size_t mend_series_recent(const struct mend_series *s, float *vals, int64_t *times, size_t n)
{
    size_t k = n < s->ring_len ? n : s->ring_len;
    if (k)
        ring_decode(s, k, vals, times);
    return k;
}

struct tenc {
    uint8_t tw, texp;
    uint64_t base; /* in units; the step for tw 0 */
};

/* The narrowest exact encoding of times t[0..m): the coarsest power-of-ten
 * unit dividing every gap, the smallest gap as the base, and words wide
 * enough for the spread of the gaps above it. */
static struct tenc enc_choose(const int64_t *t, size_t m)
{
    struct tenc e = {0, 0, 0};
    if (m < 2)
        return e;
    int texp = TEXP_MAX;
    uint64_t dmax = 0, dmin = UINT64_MAX;
    for (size_t i = 1; i < m; i++) {
        if (t[i] < t[i - 1]) {
            e.tw = 8;
            return e;
        }
        uint64_t d = (uint64_t)t[i] - (uint64_t)t[i - 1];
        while (texp > 0 && d % pow10_tab[texp])
            texp--;
        if (d > dmax)
            dmax = d;
        if (d < dmin)
            dmin = d;
    }
    uint64_t lo = dmin / pow10_tab[texp], spread = (dmax - dmin) / pow10_tab[texp];
    e.texp = (uint8_t)texp;
    e.base = lo;
    if (spread == 0 && lo <= UINT32_MAX)
        e.tw = 0;
    else if (spread <= UINT8_MAX)
        e.tw = 1;
    else if (spread <= UINT16_MAX)
        e.tw = 2;
    else if (spread <= UINT32_MAX)
        e.tw = 4;
    else
        e = (struct tenc){8, 0, 0};
    return e;
}

/* Write vals/times [0..m) into block (cap slots, encoding e), oldest at 0,
 * and make it s's ring. */
static void ring_fill(struct mend_series *s, unsigned char *block, uint32_t cap, struct tenc e,
                      const float *vals, const int64_t *times, uint32_t m)
{
    s->ring = block;
    s->ring_capm1 = (uint16_t)(cap - 1);
    s->ring_len = m;
    s->ring_head = 0;
    s->ring_enc = (uint8_t)(e.tw | e.texp << 4);
    s->ring_step = e.tw ? 0 : (uint32_t)e.base;
    s->ring_t = times[m - 1];
    memcpy(block, vals, (size_t)m * sizeof *vals);
    if (e.tw && e.tw < 8)
        memcpy(block + (size_t)cap * sizeof(float), &e.base, sizeof e.base);
    uint64_t unit = pow10_tab[e.texp];
    for (uint32_t i = 0; i < m; i++) {
        if (e.tw == 8)
            tword_put(s, i, (uint64_t)times[i]);
        else if (e.tw)
            tword_put(s, i, i ? ((uint64_t)times[i] - (uint64_t)times[i - 1]) / unit - e.base : 0);
    }
}

/* Rebuild s's ring with room for cap values holding its newest values plus
 * (t, v), in the narrowest encoding that holds their times exactly. On an
 * allocation failure the ring keeps its block and as many of the newest
 * values as that block can hold encoded; MEND_ENOMEM is returned. */
COLD static int ring_reshape(struct mend_registry *r, struct mend_series *s, uint32_t cap, int64_t t,
                        double v)
{
    uint32_t keep = s->ring_len < cap ? s->ring_len : cap - 1;
    float *vals = r->scratch_v;
    int64_t *times = r->scratch_t;
    if (keep)
        ring_decode(s, keep, vals, times);
    vals[keep] = (float)v;
    times[keep] = t;
    uint32_t m = keep + 1;
    struct tenc e = enc_choose(times, m);
    size_t need = ring_size(cap, e.tw);
    unsigned char *block = malloc(need);
    if (block) {
        r->ring_bytes -= ring_alloc_bytes(s);
        r->ring_bytes += blk(need);
        free(s->ring);
        ring_fill(s, block, cap, e, vals, times, m);
        return MEND_OK;
    }
    if (!s->ring)
        return MEND_ENOMEM;
    /* no memory: re-encode in place within the old block, dropping the
     * oldest values until the encoding fits (a single value always does:
     * it has no gap to store). */
    cap = RCAP(s);
    size_t have = ring_size(cap, RTW(s));
    const float *vp = vals;
    const int64_t *tp = times;
    if (m > cap) {
        vp += m - cap;
        tp += m - cap;
        m = cap;
    }
    for (;;) {
        e = enc_choose(tp, m);
        if (ring_size(cap, e.tw) <= have)
            break;
        vp++;
        tp++;
        m--;
    }
    /* the accounting follows the encoding (it may now under-count the
     * block by a few bytes) so that eviction subtracts what was added */
    size_t acc = ring_alloc_bytes(s);
    ring_fill(s, s->ring, cap, e, vp, tp, m);
    r->ring_bytes -= acc;
    r->ring_bytes += ring_alloc_bytes(s);
    return MEND_ENOMEM;
}

/* t is the newest time plus the fixed step of a tw 0 ring. */
static HOT_INLINE int tenc_fixed(const struct mend_series *s, int64_t t)
{
    return RTW(s) == 0 && t >= s->ring_t &&
           (uint64_t)t - (uint64_t)s->ring_t == (uint64_t)s->ring_step * pow10_tab[RTEXP(s)];
}

/* Store t's gap into slot i in the current encoding if it fits; fresh: no
 * gap is held besides this one, so a tw 0 ring may take any step. */
static HOT_INLINE int tenc_put(struct mend_series *s, uint32_t i, int64_t t, int fresh)
{
    /* a fixed interval first: the common case */
    if (tenc_fixed(s, t))
        return 1;
    if (RTW(s) == 8) {
        tword_put(s, i, (uint64_t)t);
        return 1;
    }
    if (t < s->ring_t)
        return 0;
    uint64_t d = (uint64_t)t - (uint64_t)s->ring_t;
    if (RTW(s) == 0) {
        if (!fresh)
            return 0;
        int texp = TEXP_MAX;
        while (texp > 0 && d % pow10_tab[texp])
            texp--;
        if (d / pow10_tab[texp] > UINT32_MAX)
            return 0;
        s->ring_enc = (uint8_t)((unsigned)texp << 4); /* tw stays 0 */
        s->ring_step = (uint32_t)(d / pow10_tab[texp]);
        return 1;
    }
    uint64_t u = d;
    if (RTEXP(s)) {
        uint64_t unit = pow10_tab[RTEXP(s)];
        if (d % unit)
            return 0;
        u = d / unit;
    }
    uint64_t base = ring_base(s);
    if (u < base || (u - base) >> (8 * RTW(s)))
        return 0;
    tword_put(s, i, u - base);
    return 1;
}

/* A full ring that wrapped: narrow its encoding if the gaps now allow. */
COLD static int ring_maybe_narrow(struct mend_registry *r, struct mend_series *s)
{
    uint32_t m = s->ring_len;
    ring_decode(s, m, r->scratch_v, r->scratch_t);
    struct tenc e = enc_choose(r->scratch_t, m);
    if (e.tw >= RTW(s))
        return MEND_OK;
    size_t need = ring_size(RCAP(s), e.tw);
    unsigned char *block = malloc(need);
    if (!block)
        return MEND_OK; /* the wider encoding is still exact */
    r->ring_bytes -= ring_alloc_bytes(s);
    r->ring_bytes += blk(need);
    free(s->ring);
    ring_fill(s, block, RCAP(s), e, r->scratch_v, r->scratch_t, m);
    return MEND_OK;
}

/* Move s's ring into a block with room for cap values, keeping its
 * encoding: a plain copy, unrolled oldest first (a young series grows every
 * 16 values, so this must not decode and re-encode). */
COLD static int ring_grow(struct mend_registry *r, struct mend_series *s, uint32_t cap)
{
    unsigned tw = RTW(s);
    size_t need = ring_size(cap, tw);
    unsigned char *block = malloc(need);
    if (!block)
        return MEND_ENOMEM;
    uint32_t old = RCAP(s), len = s->ring_len, head = s->ring_head;
    uint32_t first = old - head < len ? old - head : len; /* head .. end of the old block */
    memcpy(block, s->ring + (size_t)head * 4, (size_t)first * 4);
    memcpy(block + (size_t)first * 4, s->ring, (size_t)(len - first) * 4);
    if (tw) {
        const unsigned char *ot = ring_times(s);
        unsigned char *nt = block + (size_t)cap * 4 + (tw < 8 ? 8u : 0u);
        if (tw < 8)
            memcpy(block + (size_t)cap * 4, s->ring + (size_t)old * 4, 8);
        memcpy(nt, ot + (size_t)head * tw, (size_t)first * tw);
        memcpy(nt + (size_t)first * tw, ot, (size_t)(len - first) * tw);
    }
    r->ring_bytes -= ring_alloc_bytes(s);
    r->ring_bytes += blk(need);
    free(s->ring);
    s->ring = block;
    s->ring_capm1 = (uint16_t)(cap - 1);
    s->ring_head = 0;
    return MEND_OK;
}

/* Everything but the common case: the first value, a ring that must grow,
 * a gap the encoding cannot hold. */
COLD static int push_slow(struct mend_registry *r, struct mend_series *s, int64_t t, double v)
{
    uint32_t cap = RCAP(s), len = s->ring_len;
    if (!s->ring) {
        /* the first value: no gap yet, so no time words */
        cap = RING_STEP < r->conf.ring_cap ? RING_STEP : r->conf.ring_cap;
        unsigned char *block = malloc(ring_size(cap, 0));
        if (!block)
            return MEND_ENOMEM;
        s->ring = block;
        s->ring_capm1 = (uint16_t)(cap - 1);
        s->ring_len = 1;
        s->ring_head = 0;
        s->ring_enc = 0;
        s->ring_step = 0;
        s->ring_t = t;
        ring_vals(s)[0] = (float)v;
        r->ring_bytes += ring_alloc_bytes(s);
        return MEND_OK;
    }
    if (len == cap && cap < r->conf.ring_cap) {
        /* linear steps keep a young series' ring close to what it holds */
        uint32_t ncap = cap + RING_STEP < r->conf.ring_cap ? cap + RING_STEP : r->conf.ring_cap;
        if (cap == 0 || len == 0 || ring_grow(r, s, ncap) != MEND_OK)
            return ring_reshape(r, s, ncap, t, v);
        cap = ncap;
        /* the grown ring has room: store (t, v) in its encoding if it fits */
        if (tenc_put(s, len, t, len <= 1)) {
            ring_vals(s)[len] = (float)v;
            s->ring_t = t;
            s->ring_len++;
            return MEND_OK;
        }
    }
    return ring_reshape(r, s, cap, t, v);
}

/* Every push but a fixed interval's into a ring with room or full. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int push_general(struct mend_registry *r, struct mend_series *s, int64_t t, double v)
{
    uint32_t cap = RCAP(s), len = s->ring_len;
    if (len == 0 || (len == cap && cap < r->conf.ring_cap))
        return push_slow(r, s, t, v);
    uint32_t i;
    int fresh;
    if (len < cap) {
        i = s->ring_head + len; /* compare-and-wrap rather than % */
        if (i >= cap)
            i -= cap;
        fresh = len <= 1;
    } else {
        i = s->ring_head; /* full: the oldest value goes */
        fresh = len <= 2;
    }
    if (!tenc_put(s, i, t, fresh))
        return push_slow(r, s, t, v);
    ring_vals(s)[i] = (float)v;
    s->ring_t = t;
    if (len < cap) {
        s->ring_len++;
        return MEND_OK;
    }
    uint32_t h = s->ring_head + 1u; /* in 32 bits: cap may be 65536 */
    if (h < cap) {
        s->ring_head = (uint16_t)h;
        return MEND_OK;
    }
    s->ring_head = 0;
    return RTW(s) ? ring_maybe_narrow(r, s) : MEND_OK;
}

int mend_series_push(struct mend_registry *r, struct mend_series *s, int64_t t, double v)
{
    /* the usual sample: the series' fixed interval again, into a ring that
     * has room or is full. This path makes no call but a tail call, so it
     * saves no registers (tenc_put's other cases would make it): it runs
     * once per sample. What it does is push_general's for that case. */
    uint32_t cap = RCAP(s), len = s->ring_len;
    if (len == 0 || (len == cap && cap < r->conf.ring_cap) || !tenc_fixed(s, t))
        return push_general(r, s, t, v);
    uint32_t i;
    if (len < cap) {
        i = s->ring_head + len; /* compare-and-wrap rather than % */
        if (i >= cap)
            i -= cap;
        ring_vals(s)[i] = (float)v;
        s->ring_t = t;
        s->ring_len++;
        return MEND_OK;
    }
    i = s->ring_head; /* full: the oldest value goes */
    ring_vals(s)[i] = (float)v;
    s->ring_t = t;
    uint32_t h = i + 1u; /* in 32 bits: cap may be 65536 */
    s->ring_head = (uint16_t)(h < cap ? h : 0); /* tw 0: nothing to narrow after a wrap */
    return MEND_OK;
}

size_t mend_registry_memory(const struct mend_registry *r)
{
    return sizeof *r + (r->series_tab.mask + 1) * sizeof(struct slot) +
           (r->entity_tab.mask + 1) * sizeof(struct slot) + r->n_slabs * SLAB_SIZE * r->rec_size +
           r->slabs_cap * sizeof *r->slabs + r->entities_cap * sizeof *r->entities +
           ((size_t)r->conf.ring_cap + 1) * (sizeof *r->scratch_t + sizeof *r->scratch_v) +
           r->key_bytes + r->k_arena + r->ring_bytes;
}
