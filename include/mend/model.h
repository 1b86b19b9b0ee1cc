/* model.h -- the entity-model plug-in kind, and the trainer that fits models
 * on a worker thread.
 *
 * An entity model judges one row of an entity's signals at a time (all the
 * series of one host or service, lined up in a time bucket). The engine
 * knows models only through this ops table: the multivariate Gaussian
 * (mend_model_mvgauss) is the first entry, the one-class SVM the second, and
 * a test can plug in its own without touching the engine.
 *
 * Contracts:
 *  - score is on the hot path: it reads a const model and takes no lock.
 *    What it needs to write goes to a scratch the caller owns (one per
 *    entity), made by scratch_new; a scratch may take room it needs only
 *    for some rows when the first such row comes, once (mvgauss: the factor
 *    of a marginal, at the first row with a hole; MEND_ENOMEM if it cannot,
 *    the row then not judged), and score allocates nothing after that.
 *  - learn (online update) and train (batch) are optional. A model with
 *    train is fitted on rows the engine collects; train runs on a worker
 *    thread, must only read its arguments, and returns a fresh model. The
 *    engine makes that model live at a defined event time (the event time
 *    of the last row it was trained on plus a configured delay) and, if the
 *    worker is not done by then, waits for it there: output never depends on
 *    how fast the worker was, so a replay is byte-identical.
 *  - save/load carry the model's state (not its configuration) through the
 *    checkpoint; load refuses damaged data with MEND_ECORRUPT and never
 *    half-loads.
 *
 * score: in [0,1], the probability that a normal row is less extreme than
 * this one (0.999 = further out than 99.9% of normal rows); the engine
 * raises an event when 1 - score falls to the kind's threshold. contrib
 * (may be NULL) receives dim entries: how much each dimension pushed the
 * row out, used to name the signal that contributed most. Return MEND_OK,
 * or MEND_ERANGE when the row cannot be judged (outputs are then 0). */
#ifndef MEND_MODEL_H
#define MEND_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

struct mend_model_ops {
    const char *name;
    int (*create)(const void *conf, size_t dim, void **out);         /* NULL when only train makes models */
    int (*scratch_new)(const void *conf, size_t dim, void **out);    /* NULL: needs none */
    void (*scratch_free)(void *scratch);
    int (*score)(const void *m, const double *row, void *scratch, double *score, double *contrib);
    int (*learn)(void *m, const double *row, void *scratch);         /* may be NULL */
    int (*train)(const void *conf, size_t dim, const double *rows, size_t n, void **out); /* may be NULL */
    int (*save)(const void *m, struct mend_wbuf *w);
    int (*load)(const void *conf, size_t dim, struct mend_rbuf *r, void **out);
    void (*destroy)(void *m);                                        /* accepts NULL */
    size_t (*dim)(const void *m);
    /* Optional (NULL = not used), added for models that keep online state
     * beside what they learnt (the one-class SVM's feature history):
     *  - create_named: as create, but also given the entity's name and its
     *    members' series keys in row order (keys[i] NULL for a vacant
     *    position), so a kind can pick a model trained for those series.
     *    Used instead of create when set.
     *  - trained: 0 when m is a shell still waiting for its first training
     *    (its rows are collected and trained on after train_rows rows, as
     *    when there is no model), 1 when trained (retrained every
     *    retrain_every normal rows), 2 when fixed (never retrained, no rows
     *    collected). NULL: every model counts as trained (1).
     *  - carry: at go-live, before the old model is destroyed, hands its
     *    online state to the new one (to is fresh from train, from is the
     *    model going away). Its failure keeps the new model without it.
     *  - prefetch: asks the memory system for what the next score and
     *    learn of m (with scratch, which may be NULL) will touch, without
     *    changing anything. The engine calls it with step 0, 1, ... at
     *    successive samples before the entity's next row is likely to
     *    close, so that a model out of cache does not stall the row; step
     *    n may read what step n - 1 asked for (a model behind pointers is
     *    fetched level by level, never waited for). Returns nonzero while
     *    it has a further step. A hint: a wrong guess costs a few loads,
     *    never a result. */
    int (*create_named)(const void *conf, const char *entity, size_t entity_len,
                        const char *const *keys, const size_t *key_lens, size_t dim, void **out);
    int (*trained)(const void *m);
    int (*carry)(void *to, const void *from);
    int (*prefetch)(const void *m, const void *scratch, unsigned step);
};

/* One kind of model the engine keeps per entity, with the engine-side
 * settings that go with it. conf is the model's own configuration
 * (borrowed: must outlive the engine). */
struct mend_model_kind {
    const struct mend_model_ops *ops;
    const void *conf;
    double threshold;          /* event when 1 - score <= threshold */
    uint32_t train_rows;       /* rows per (re)training; 0 = online only */
    uint32_t retrain_every;    /* normal rows between retrainings; 0 = train once */
    int64_t train_delay_ns;    /* event time from the last training row to go-live */
};

/* The multivariate Gaussian (mvgauss.h); conf is a struct mend_mvg_conf.
 * The one-class SVM is mend_model_ocsvm (ocsvm.h). */
extern const struct mend_model_ops mend_model_mvgauss;

/* ---- trainer: a worker thread that runs ops->train --------------------- */

struct mend_trainer;
struct mend_train_job;

/* Starts one worker thread. Returns MEND_OK or MEND_ENOMEM / MEND_EIO. */
int mend_trainer_new(struct mend_trainer **out);
/* Stops the worker (a running job finishes first; queued ones are dropped
 * and their results freed) and frees everything; accepts NULL. */
void mend_trainer_free(struct mend_trainer *t);
/* Called on the worker thread after each job (e.g. to wake an event loop). */
void mend_trainer_set_notify(struct mend_trainer *t, void (*fn)(void *ctx), void *ctx);

/* Queues a training: takes ownership of rows (n x dim, malloc'ed). Returns
 * MEND_OK with *job set, or MEND_ENOMEM (rows are then freed). */
int mend_trainer_submit(struct mend_trainer *t, const struct mend_model_kind *kind, size_t dim,
                        double *rows, size_t n, struct mend_train_job **job);
/* 1 when the job has finished, else 0. Never blocks. */
int mend_train_job_done(struct mend_train_job *job);
/* Waits for the job, then hands over its result (*model, or NULL with the
 * job's error code returned) and frees the job. */
int mend_train_job_take(struct mend_train_job *job, void **model);
/* Cancels: frees the job and its result once the worker is done with it. */
void mend_train_job_drop(struct mend_train_job *job);
/* The rows the job trains on (for checkpoints: a pending job is saved as
 * its rows and resubmitted on restore). */
const double *mend_train_job_rows(const struct mend_train_job *job, size_t *n, size_t *dim);

#endif
