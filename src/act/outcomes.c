/* outcomes.c -- the learnt outcome table and the planner's case state as
 * two sections of the engine's checkpoint (see act.h, "learnt outcomes in
 * the engine checkpoint").
 *
 * The store holds a scratch planner over an empty rule set: restore loads
 * the section into it, which checks the bytes exactly as a live planner
 * would (counts, name lengths, recoveries <= attempts), so a damaged
 * section fails the restore rather than the stage's start. Until a stage
 * attaches, checkpoints write the scratch table back unchanged; after, the
 * stage's planner table. Cases are checked the same way (loaded into the
 * scratch planner, which has no rules and so keeps none of them) and kept
 * as the bytes they came in: which of them a planner takes depends on its
 * rules, known only at attach. Save runs in the forked checkpoint writer
 * too: it only reads. */
#include <stdlib.h>

#include "mend/act.h"
#include "mend/engine.h"

struct mend_act_store {
    struct mend_rules *empty;      /* rules for the scratch planner: none */
    struct mend_planner *scratch;  /* what the checkpoint held */
    struct mend_planner *live;     /* the stage's planner, once attached (borrowed) */
    struct mend_wbuf cases;        /* the cases section as restored or kept at detach */
    int has_cases;                 /* cases holds a checked section */
    size_t held, taken, dropped;   /* cases in it; what attach took and left out */
};

int mend_act_store_new(struct mend_act_store **res)
{
    struct mend_act_store *s = calloc(1, sizeof *s);
    if (!s)
        return MEND_ENOMEM;
    struct mend_planner_conf c;
    mend_planner_conf_defaults(&c);
    c.max_cases = 1; /* it never plans: only its outcome table is used */
    struct mend_planner_hooks h = {NULL, NULL, NULL};
    int rc = mend_rules_new(&s->empty);
    if (rc == MEND_OK)
        rc = mend_planner_new(&c, s->empty, &h, &s->scratch);
    if (rc != MEND_OK) {
        mend_act_store_free(s);
        return rc;
    }
    mend_wbuf_init(&s->cases);
    *res = s;
    return MEND_OK;
}

void mend_act_store_free(struct mend_act_store *s)
{
    if (!s)
        return;
    mend_planner_free(s->scratch);
    mend_rules_free(s->empty);
    mend_wbuf_fini(&s->cases);
    free(s);
}

static int store_save(const void *ctx, struct mend_wbuf *w)
{
    const struct mend_act_store *s = ctx;
    return mend_planner_save(s->live ? s->live : s->scratch, w);
}

static int store_load(void *ctx, struct mend_rbuf *r)
{
    struct mend_act_store *s = ctx;
    /* a restore goes to the scratch table even when a stage is attached:
     * restores happen before the stage opens (the pipeline's order) */
    return mend_planner_load(s->scratch, r);
}

void mend_act_store_section(struct mend_act_store *s, struct mend_engine_section *sec)
{
    sec->tag = MEND_ACT_SECTION_TAG;
    sec->version = MEND_ACT_SECTION_VERSION;
    sec->save = store_save;
    sec->load = store_load;
    sec->ctx = s;
}

static int cases_save(const void *ctx, struct mend_wbuf *w)
{
    const struct mend_act_store *s = ctx;
    if (s->live)
        return mend_planner_save_cases(s->live, w);
    if (s->has_cases) {
        mend_wbuf_bytes(w, s->cases.data, s->cases.len);
        return w->failed ? MEND_ENOMEM : MEND_OK;
    }
    return mend_planner_save_cases(s->scratch, w); /* none: an empty table */
}

/* Checks bytes as a planner's load does and keeps them (the cases section
 * as restored, or a detached planner's). */
static int keep_cases(struct mend_act_store *s, const unsigned char *data, size_t len)
{
    struct mend_rbuf r;
    size_t kept = 0, dropped = 0;
    mend_rbuf_init(&r, data, len);
    int rc = mend_planner_load_cases(s->scratch, &r, &kept, &dropped);
    if (rc == MEND_OK && mend_rbuf_remaining(&r) != 0)
        rc = MEND_ECORRUPT; /* the section is the cases and nothing else */
    if (rc != MEND_OK)
        return rc;
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    mend_wbuf_bytes(&w, data, len);
    if (w.failed) {
        mend_wbuf_fini(&w);
        return MEND_ENOMEM;
    }
    mend_wbuf_fini(&s->cases);
    s->cases = w;
    s->has_cases = 1;
    s->held = kept + dropped; /* the scratch planner has no rules: all dropped, all counted */
    return MEND_OK;
}

static int cases_load(void *ctx, struct mend_rbuf *r)
{
    struct mend_act_store *s = ctx;
    /* the section is read whole (a checkpoint's section is bounded by what
     * one planner's max_cases can write) and checked before it is kept */
    uint64_t len = mend_rbuf_remaining(r);
    if (len > (uint64_t)1 << 31)
        return MEND_ECORRUPT;
    unsigned char *buf = malloc(len ? (size_t)len : 1);
    if (!buf)
        return MEND_ENOMEM;
    int rc = mend_rbuf_bytes(r, buf, (size_t)len);
    if (rc == MEND_OK)
        rc = keep_cases(s, buf, (size_t)len);
    free(buf);
    return rc == MEND_OK || rc == MEND_ENOMEM ? rc : MEND_ECORRUPT;
}

void mend_act_store_cases_section(struct mend_act_store *s, struct mend_engine_section *sec)
{
    sec->tag = MEND_ACT_CASES_TAG;
    sec->version = MEND_ACT_CASES_VERSION;
    sec->save = cases_save;
    sec->load = cases_load;
    sec->ctx = s;
}

void mend_act_store_cases(const struct mend_act_store *s, struct mend_act_store_cases *c)
{
    c->held = s->has_cases ? s->held : 0;
    c->taken = s->taken;
    c->dropped = s->dropped;
}

size_t mend_act_store_restored(const struct mend_act_store *s)
{
    return mend_planner_outcomes(s->scratch);
}

/* The planners share no rules, so a table moves through its own encoding:
 * the same bytes a checkpoint holds. */
static int copy_table(struct mend_planner *dst, const struct mend_planner *src)
{
    struct mend_wbuf w;
    struct mend_rbuf r;
    mend_wbuf_init(&w);
    int rc = mend_planner_save(src, &w);
    if (rc == MEND_OK) {
        mend_rbuf_init(&r, w.data, w.len);
        rc = mend_planner_load(dst, &r);
    }
    mend_wbuf_fini(&w);
    return rc == MEND_ECORRUPT ? MEND_ENOMEM : rc; /* src's table loaded once: only memory can fail */
}

/* The live planner's cases, kept as bytes at detach. */
static int keep_live_cases(struct mend_act_store *s)
{
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    int rc = mend_planner_save_cases(s->live, &w);
    if (rc == MEND_OK)
        rc = keep_cases(s, w.data, w.len);
    mend_wbuf_fini(&w);
    return rc == MEND_ECORRUPT ? MEND_ENOMEM : rc; /* written by a planner: only memory can fail */
}

int mend_act_store_attach(struct mend_act_store *s, struct mend_planner *p)
{
    int rc = MEND_OK;
    if (p && !s->live && mend_planner_outcomes(s->scratch) > 0)
        rc = copy_table(p, s->scratch);
    else if (!p && s->live) /* detached: keep what the stage learnt for later checkpoints */
        rc = copy_table(s->scratch, s->live);
    if (rc == MEND_OK && p && !s->live && s->has_cases) {
        struct mend_rbuf r;
        mend_rbuf_init(&r, s->cases.data, s->cases.len);
        rc = mend_planner_load_cases(p, &r, &s->taken, &s->dropped);
        rc = rc == MEND_ECORRUPT ? MEND_ENOMEM : rc; /* checked at restore */
    } else if (rc == MEND_OK && !p && s->live) {
        rc = keep_live_cases(s);
    }
    if (rc != MEND_OK)
        return rc;
    s->live = p;
    return MEND_OK;
}
