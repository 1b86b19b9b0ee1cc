/* trainer.c -- one worker thread that fits entity models (see model.h).
 *
 * Jobs run in submission order. A job owns its rows and, once done, its
 * result; the engine takes the result when event time reaches the job's
 * go-live time, waiting for it there if need be, so how fast the worker runs
 * never changes what the engine writes. Dropping a job that is still queued
 * or running hands it to the worker to free when it gets there. */
#include "mend/model.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct mend_train_job {
    struct mend_train_job *next;  /* queue link */
    struct mend_trainer *t;
    const struct mend_model_kind *kind;
    size_t dim, n;
    double *rows;
    void *model;                  /* result */
    int rc;
    int done;                     /* guarded by t->mu */
    int dropped;                  /* the owner gave up on it: free when done */
};

struct mend_trainer {
    pthread_mutex_t mu;
    pthread_cond_t work, finished;
    pthread_t thread;
    struct mend_train_job *head, *tail;
    int stop;
    void (*notify)(void *ctx);
    void *notify_ctx;
};

static void job_free(struct mend_train_job *j)
{
    if (!j)
        return;
    if (j->model && j->kind->ops->destroy)
        j->kind->ops->destroy(j->model);
    free(j->rows);
    free(j);
}

static void *worker(void *arg)
{
    struct mend_trainer *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->head && !t->stop)
            pthread_cond_wait(&t->work, &t->mu);
        if (t->stop)
            break;
        struct mend_train_job *j = t->head;
        t->head = j->next;
        if (!t->head)
            t->tail = NULL;
        int skip = j->dropped;
        pthread_mutex_unlock(&t->mu);
        void *model = NULL;
        int rc = skip ? MEND_EINVAL
                      : j->kind->ops->train(j->kind->conf, j->dim, j->rows, j->n, &model);
        pthread_mutex_lock(&t->mu);
        j->model = rc == MEND_OK ? model : NULL;
        j->rc = rc;
        j->done = 1;
        if (j->dropped) {
            job_free(j);
        } else {
            pthread_cond_broadcast(&t->finished);
        }
        if (t->notify) {
            pthread_mutex_unlock(&t->mu);
            t->notify(t->notify_ctx);
            pthread_mutex_lock(&t->mu);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int mend_trainer_new(struct mend_trainer **out)
{
    *out = NULL;
    struct mend_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return MEND_ENOMEM;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->work, NULL);
    pthread_cond_init(&t->finished, NULL);
    /* the worker takes no signals: they belong to the event loop's thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&t->thread, NULL, worker, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        pthread_cond_destroy(&t->work);
        pthread_cond_destroy(&t->finished);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return MEND_EIO;
    }
    *out = t;
    return MEND_OK;
}

void mend_trainer_free(struct mend_trainer *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_broadcast(&t->work);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    /* queued jobs never ran; their owners dropped them or are gone */
    for (struct mend_train_job *j = t->head, *n; j; j = n) {
        n = j->next;
        if (j->dropped)
            job_free(j);
        else
            j->t = NULL, j->done = 1, j->rc = MEND_EIO;
    }
    pthread_cond_destroy(&t->work);
    pthread_cond_destroy(&t->finished);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void mend_trainer_set_notify(struct mend_trainer *t, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&t->mu);
    t->notify = fn;
    t->notify_ctx = ctx;
    pthread_mutex_unlock(&t->mu);
}

int mend_trainer_submit(struct mend_trainer *t, const struct mend_model_kind *kind, size_t dim,
                        double *rows, size_t n, struct mend_train_job **job)
{
    *job = NULL;
    struct mend_train_job *j = calloc(1, sizeof *j);
    if (!j || !kind->ops->train) {
        free(j);
        free(rows);
        return j ? MEND_EINVAL : MEND_ENOMEM;
    }
    j->t = t;
    j->kind = kind;
    j->dim = dim;
    j->n = n;
    j->rows = rows;
    pthread_mutex_lock(&t->mu);
    if (t->tail)
        t->tail->next = j;
    else
        t->head = j;
    t->tail = j;
    pthread_cond_signal(&t->work);
    pthread_mutex_unlock(&t->mu);
    *job = j;
    return MEND_OK;
}

int mend_train_job_done(struct mend_train_job *j)
{
    if (!j->t)
        return 1;
    pthread_mutex_lock(&j->t->mu);
    int d = j->done;
    pthread_mutex_unlock(&j->t->mu);
    return d;
}

int mend_train_job_take(struct mend_train_job *j, void **model)
{
    *model = NULL;
    struct mend_trainer *t = j->t;
    if (t) {
        pthread_mutex_lock(&t->mu);
        while (!j->done)
            pthread_cond_wait(&t->finished, &t->mu);
        pthread_mutex_unlock(&t->mu);
    }
    int rc = j->rc;
    *model = j->model;
    j->model = NULL;
    job_free(j);
    return rc;
}

void mend_train_job_drop(struct mend_train_job *j)
{
    if (!j)
        return;
    struct mend_trainer *t = j->t;
    if (!t) {
        job_free(j);
        return;
    }
    pthread_mutex_lock(&t->mu);
    if (j->done) {
        pthread_mutex_unlock(&t->mu);
        job_free(j);
        return;
    }
    j->dropped = 1; /* the worker frees it */
    pthread_mutex_unlock(&t->mu);
}

const double *mend_train_job_rows(const struct mend_train_job *j, size_t *n, size_t *dim)
{
    *n = j->n;
    *dim = j->dim;
    return j->rows;
}
