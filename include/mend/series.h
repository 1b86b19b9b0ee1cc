/* series.h -- the series registry: canonical key -> dense id, per-series
 * state (a ring of recent values with their event times, timing, an opaque
 * detector blob), and entities (the groups named by the entity tag) with
 * their member lists.
 *
 * Bounded: at most max_series live series (new ones beyond are refused with
 * MEND_ECAP and counted), at most max_entities entities (a series over that
 * cap is still created, without an entity, and counted), keys of at most
 * max_key bytes (longer ones refused with MEND_EINVAL and counted), and each
 * ring holds at most ring_cap values. Rings grow on demand in steps of 16
 * values up to ring_cap so memory follows what a series has actually seen.
 *
 * Series can be evicted (mend_registry_evict): the id is freed and reused by
 * a later new series, last freed first (LIFO), so ids stay dense and the
 * order of ids is a function of the input alone: deterministic in replay.
 * Each record carries a generation number bumped at eviction, so a holder of
 * an (id, gen) pair can tell that its series is gone. mend_registry_at()
 * returns NULL for a free id; iterate with
 *     for (uint32_t i = 0; i < mend_registry_count(r); i++)
 *         if ((s = mend_registry_at(r, i))) ...
 *
 * The key table is hashed with XXH3 under a 64-bit seed drawn from
 * getrandom(2) at creation (or set in the conf for tests), because keys come
 * off the network and an unseeded hash lets a sender pile keys into one
 * probe run. Not thread-safe: one registry belongs to one thread. */
#ifndef MEND_SERIES_H
#define MEND_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

struct mend_series_conf {
    uint32_t max_series;   /* live series, default 1,000,000 */
    uint32_t ring_cap;     /* recent values kept per series, default 512, 1..65536 */
    uint32_t max_entities; /* real entities admitted (entity 0, "none", not counted), default 100,000 */
    size_t max_key;        /* longest key accepted in bytes, default 1024 */
    uint64_t hash_seed;    /* key hash seed; 0 (default) = draw one from getrandom(2) */
    int64_t idle_evict_ns; /* (engine) evict a series silent this long in event time; 0 = never; default 1 d */
};
void mend_series_conf_defaults(struct mend_series_conf *c);

/* One series. The detector blob (blob_size bytes given to mend_registry_new)
 * follows the struct in memory, 8-byte aligned (for double and int64_t, as
 * detector.h asks): see mend_series_blob().
 * Fields marked (engine) are kept by the caller; the registry only zeroes
 * them when the record is (re)used. The ring fields are private to
 * series.c: read the ring through mend_series_recent(). The record is 104
 * bytes; fields are ordered so that it has no padding. */
struct mend_series {
    /* owned by the registry, NUL-terminated; NULL = free slot. The key
     * store is compacted after heavy churn, which moves keys: do not keep
     * this pointer across mend_registry_get*() or _evict*(); copy the key */
    const char *key;
    uint32_t key_len;      /* 0 = free slot */
    uint32_t id;
    uint32_t gen;          /* bumped each time this id is evicted */
    uint32_t entity;       /* entity id; 0 = no entity */
    uint32_t next_in_entity; /* next member id + 1, 0 = end of list */
    uint32_t prev_in_entity; /* previous member id + 1, 0 = first of the list */
    int64_t first_t, last_t; /* (engine) event times of the first and newest sample */
    int64_t interval;      /* (engine) smoothed gap between samples (ns), 0 = unknown */
    uint64_t n;            /* (engine) samples accepted */
    /* ring: room for ring_capm1 + 1 values (when ring != NULL) and their
     * times, see series.c; ring_t is the newest value's event time */
    unsigned char *ring;
    int64_t ring_t;
    uint32_t ring_step;    /* time words of 0 bytes: every gap is ring_step units */
    uint32_t ring_len;     /* values held */
    uint16_t ring_head;
    uint16_t ring_capm1;
    uint16_t mv_pos;       /* (engine) position + 1 in its entity's multivariate row, 0 = none */
    uint8_t ring_enc;      /* low 4 bits: bytes per time word (0, 1, 2, 4, 8); high 4: unit 10^x ns */
    uint8_t flags;         /* (engine) its own bits: scorer ready, absence out; zeroed on reuse */
    float last_score;      /* (engine) */
    uint32_t next_hint;    /* id + 1 of the series that followed this one last time */
};

struct mend_entity {
    const char *name;      /* registry-owned; may move as series keys do (see there) */
    uint32_t name_len;
    uint32_t first_member; /* member id + 1, 0 = none; newest member first */
    uint32_t n_members;
    void *user;            /* engine's per-entity state; the registry never touches it */
};

struct mend_registry_stats {
    uint32_t live;         /* live series */
    uint32_t id_bound;     /* every id in use is below this (mend_registry_count) */
    uint32_t entities;     /* including entity 0 */
    uint64_t created;      /* series created, reuses of a freed id included */
    uint64_t evicted;      /* series evicted */
    uint64_t refused_cap;  /* new series refused at max_series */
    uint64_t refused_key;  /* keys refused: empty or longer than max_key */
    uint64_t no_entity;    /* series created without their entity: max_entities reached */
    size_t memory;         /* as mend_registry_memory() */
};

struct mend_registry;

/* blob_size: bytes of detector state per series (0 allowed). MEND_EINVAL for
 * a zero cap, ring_cap over 65536 or max_key of 0 or over UINT32_MAX - 1. */
int mend_registry_new(const struct mend_series_conf *c, size_t blob_size, struct mend_registry **out);
void mend_registry_free(struct mend_registry *r); /* does not free entity->user */

/* Find the series for key, creating it (and its entity) when new. *created
 * tells which (may be NULL). Returns MEND_ECAP when the series cap is reached,
 * MEND_EINVAL for an empty key or one longer than max_key (both counted).
 * When the entity cap is reached the series is created with entity 0 (and
 * counted in no_entity). A new series' record is zeroed, blob included. The
 * returned pointer stays valid until the series is evicted or the registry
 * freed. A failure creates no series. If the caller cannot set up a new
 * series' own state (its detector), mend_registry_evict() undoes the
 * creation. Borrows key and entity. */
int mend_registry_get(struct mend_registry *r, const char *key, size_t key_len,
                      const char *entity, size_t entity_len,
                      struct mend_series **out, int *created);
/* The same, first trying the series that followed prev last time (ids + 1
 * kept in prev->next_hint): collectors send series in a stable order, so a
 * hit skips hashing and the table. The hint is checked against the key, so
 * an evicted or reused id behind it is never returned wrongly. prev may be
 * NULL (or an evicted record, then ignored). Updates the hint. */
int mend_registry_get_after(struct mend_registry *r, struct mend_series *prev, const char *key,
                            size_t key_len, const char *entity, size_t entity_len,
                            struct mend_series **out, int *created);
/* A hint to the memory system, no effect otherwise: the series that
 * followed s last time (the likely next sample's) has its key and ring slot
 * fetched, and the one after it its record. Collectors send series in a
 * stable order and a sample's record, key and ring are each a cache miss
 * at 100,000s of series: fetched ahead they arrive while the scorer runs. */
void mend_registry_prefetch(const struct mend_registry *r, const struct mend_series *s);
/* The entity named name (len > 0), created when new, without a series (a
 * restored checkpoint names entities whose series were all evicted).
 * Returns MEND_OK with *id, MEND_ECAP at the entity cap, MEND_EINVAL for an
 * empty name, MEND_ENOMEM. */
int mend_registry_entity_get(struct mend_registry *r, const char *name, size_t len, uint32_t *id);
/* The free ids in the order new series will take them (first = next),
 * at most max of them; returns how many were written. A checkpoint keeps
 * this order so a restored registry hands out the same ids. */
uint32_t mend_registry_free_ids(const struct mend_registry *r, uint32_t *out, uint32_t max);
/* Lookup only; NULL when absent. */
struct mend_series *mend_registry_find(const struct mend_registry *r, const char *key, size_t key_len);

/* Remove a live series: its key leaves the table, its ring and key are
 * freed, it leaves its entity's member list (the entity itself stays), its
 * generation is bumped and its id goes on the free list for the next new
 * series. The caller must first release what the detector blob owns (the
 * blob's bytes are zeroed on reuse) and drop its own pointers to s (other
 * series' hints need no care). MEND_EINVAL if s is not a live series of r. */
int mend_registry_evict(struct mend_registry *r, struct mend_series *s);
/* Evict every live series with last_t < cutoff, in id order. Before each
 * eviction keep(ctx, s) is called (keep may be NULL): a nonzero answer keeps
 * the series, otherwise the callback must have released the blob and its
 * references as for mend_registry_evict. Returns the number evicted. This is
 * a full scan over the ids (no index ordered by time is kept: that would
 * cost a relink, with cache misses, on every sample); call it every few
 * ticks rather than on each one. */
uint32_t mend_registry_evict_idle(struct mend_registry *r, int64_t cutoff,
                                  int (*keep)(void *ctx, struct mend_series *s), void *ctx);

/* Bound of the ids in use (live or free): iterate 0..count-1 and skip NULLs. */
uint32_t mend_registry_count(const struct mend_registry *r);
/* Live series. */
uint32_t mend_registry_live(const struct mend_registry *r);
/* The live series with this id, NULL for a free or out-of-range id. */
struct mend_series *mend_registry_at(const struct mend_registry *r, uint32_t id);
/* The detector blob: right after the record, 8-byte aligned. Inline: it is
 * looked up for every sample scored. */
static inline void *mend_series_blob(struct mend_series *s)
{
    return (unsigned char *)s + ((sizeof(struct mend_series) + 7) & ~(size_t)7);
}
uint32_t mend_registry_entity_count(const struct mend_registry *r); /* includes entity 0 */
struct mend_entity *mend_registry_entity(const struct mend_registry *r, uint32_t id);
/* New series refused at max_series (as stats.refused_cap). */
uint64_t mend_registry_refused(const struct mend_registry *r);
void mend_registry_stats(const struct mend_registry *r, struct mend_registry_stats *st);

/* The keyed hash of a key under this registry's seed, and the seed itself
 * (diagnostics and tests; the seed is not persisted: checkpoints hold keys). */
uint64_t mend_registry_hash(const struct mend_registry *r, const char *key, size_t key_len);
uint64_t mend_registry_seed(const struct mend_registry *r);
/* Index of the table slot holding key, -1 when absent (tests, diagnostics). */
long mend_registry_slot(const struct mend_registry *r, const char *key, size_t key_len);

/* Append value v with event time t_ns to the series' ring (growing it by 16
 * up to ring_cap; once full the oldest value goes). Times are kept exactly
 * (see series.c for the compact encoding) and may go backwards. Returns
 * MEND_ENOMEM only if an allocation failed; the value is then still recorded,
 * overwriting the oldest one or, if the times would no longer fit the ring's
 * encoding, replacing the ring's contents; MEND_ENOMEM with nothing recorded
 * only when a series' very first ring cannot be allocated. */
int mend_series_push(struct mend_registry *r, struct mend_series *s, int64_t t_ns, double v);
/* Values the ring has room for before it next grows (0 before the first push). */
uint32_t mend_series_ring_cap(const struct mend_series *s);
/* Copy the newest min(n, ring_len) values, oldest first, into vals and their
 * event times into times (either may be NULL); returns how many. */
size_t mend_series_recent(const struct mend_series *s, float *vals, int64_t *times, size_t n);
/* 1 when the ring's times are known never to step back (each no earlier
 * than the one before it), so that the newest values are also the latest
 * in time and a reader may decode only the newest few; 0 when they may
 * (late samples, or an encoding that does not say). Free: read off the
 * ring's time encoding. */
int mend_series_ring_ordered(const struct mend_series *s);

/* Bytes allocated by the registry (tables, records, keys, rings; keys and
 * rings with an estimate of the allocator's per-block overhead). */
size_t mend_registry_memory(const struct mend_registry *r);

#endif
