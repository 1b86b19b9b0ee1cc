/* outcomes.c -- the learnt outcome table as a section of the engine's
 * checkpoint (see act.h, "learnt outcomes in the engine checkpoint").
 *
 * The store holds a scratch planner over an empty rule set: restore loads
 * the section into it, which checks the bytes exactly as a live planner
 * would (counts, name lengths, recoveries <= attempts), so a damaged
 * section fails the restore rather than the stage's start. Until a stage
 * attaches, checkpoints write the scratch table back unchanged; after, the
 * stage's planner table. Save runs in the forked checkpoint writer too: it
 * only reads. */
#include <stdlib.h>

#include "mend/act.h"
#include "mend/engine.h"

struct mend_act_store {
    struct mend_rules *empty;      /* rules for the scratch planner: none */
    struct mend_planner *scratch;  /* what the checkpoint held */
    struct mend_planner *live;     /* the stage's planner, once attached (borrowed) */
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
    *res = s;
    return MEND_OK;
}

void mend_act_store_free(struct mend_act_store *s)
{
    if (!s)
        return;
    mend_planner_free(s->scratch);
    mend_rules_free(s->empty);
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

int mend_act_store_attach(struct mend_act_store *s, struct mend_planner *p)
{
    int rc = MEND_OK;
    if (p && !s->live && mend_planner_outcomes(s->scratch) > 0)
        rc = copy_table(p, s->scratch);
    else if (!p && s->live) /* detached: keep what the stage learnt for later checkpoints */
        rc = copy_table(s->scratch, s->live);
    if (rc != MEND_OK)
        return rc;
    s->live = p;
    return MEND_OK;
}
