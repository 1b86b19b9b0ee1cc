/* series.h -- the series registry: canonical key -> dense id, per-series
 * state (recent-value ring, timing, an opaque detector blob), and entities
 * (the groups named by the entity tag) with their member lists.
 *
 * Bounded: at most max_series live series (new ones beyond are refused with
 * MEND_ECAP and counted) and each ring holds at most ring_cap values. Rings
 * grow on demand in steps of 16 values up to ring_cap so memory follows what a series has
 * actually seen. Ids are dense and never reused, so iteration in id order is
 * deterministic (first-seen order). */
#ifndef MEND_SERIES_H
#define MEND_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

struct mend_series_conf {
    uint32_t max_series;   /* default 1,000,000 */
    uint32_t ring_cap;     /* recent values kept per series, default 512 */
    uint32_t max_entities; /* default 100,000 */
    size_t max_key;        /* longest key accepted, default 1024 */
};
void mend_series_conf_defaults(struct mend_series_conf *c);

/* One series. The detector blob (blob_size bytes given to mend_registry_new)
 * follows the struct in memory, 16-byte aligned: see mend_series_blob(). */
struct mend_series {
    uint64_t hash;
    const char *key;       /* owned by the registry's arena, NUL-terminated */
    uint32_t key_len;
    uint32_t id;
    uint32_t entity;       /* entity id; 0 = no entity */
    uint32_t next_in_entity; /* next member id + 1, 0 = end of list */
    int64_t first_t, last_t; /* event times of the first and newest sample */
    int64_t interval;      /* smoothed gap between samples (ns), 0 = unknown */
    uint64_t n;            /* samples accepted */
    float *ring;           /* recent values, oldest first from ring_head */
    uint32_t ring_cap_now, ring_len, ring_head;
    float last_score;
    uint8_t absent;        /* an absence event is out for this series */
    uint8_t flags;
    uint16_t mv_pos;       /* position + 1 in its entity's multivariate row, 0 = none */
    uint32_t next_hint;    /* id + 1 of the series that followed this one last time */
};

struct mend_entity {
    const char *name;      /* arena-owned */
    uint32_t name_len;
    uint32_t first_member; /* member id + 1, 0 = none */
    uint32_t n_members;
    void *user;            /* engine's per-entity state; the registry never touches it */
};

struct mend_registry;

/* blob_size: bytes of detector state per series (0 allowed). */
int mend_registry_new(const struct mend_series_conf *c, size_t blob_size, struct mend_registry **out);
void mend_registry_free(struct mend_registry *r); /* does not free entity->user */

/* Find the series for key, creating it (and its entity) when new. *created
 * tells which (may be NULL). Returns MEND_ECAP when the series (or entity)
 * cap is reached, MEND_EINVAL for an empty or over-long key. The returned
 * pointer stays valid for the registry's life. Borrows key and entity. */
int mend_registry_get(struct mend_registry *r, const char *key, size_t key_len,
                      const char *entity, size_t entity_len,
                      struct mend_series **out, int *created);
/* The same, first trying the series that followed prev last time (ids + 1
 * kept in prev->next_hint): collectors send series in a stable order, so a
 * hit skips hashing and the table. prev may be NULL. Updates the hint. */
int mend_registry_get_after(struct mend_registry *r, struct mend_series *prev, const char *key,
                            size_t key_len, const char *entity, size_t entity_len,
                            struct mend_series **out, int *created);
/* Lookup only; NULL when absent. */
struct mend_series *mend_registry_find(const struct mend_registry *r, const char *key, size_t key_len);

uint32_t mend_registry_count(const struct mend_registry *r);
struct mend_series *mend_registry_at(const struct mend_registry *r, uint32_t id);
void *mend_series_blob(struct mend_series *s);
uint32_t mend_registry_entity_count(const struct mend_registry *r); /* includes entity 0 */
struct mend_entity *mend_registry_entity(const struct mend_registry *r, uint32_t id);
uint64_t mend_registry_refused(const struct mend_registry *r);

/* Append a value to the series' ring (growing it up to ring_cap). Returns
 * MEND_ENOMEM only if growth failed; the value is then still recorded by
 * overwriting the oldest one. */
int mend_series_push(struct mend_registry *r, struct mend_series *s, double v);
/* Copy the newest min(n, ring_len) values, oldest first, into out; returns
 * how many were copied. */
size_t mend_series_recent(const struct mend_series *s, float *out, size_t n);

/* Bytes allocated by the registry (tables, records, arena, rings). */
size_t mend_registry_memory(const struct mend_registry *r);

#endif
