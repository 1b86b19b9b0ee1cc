/* fuzz_logsig_load.c -- the log-signal checkpoint section (mend_logsig_load,
 * src/logs/logsig.c): refused or loaded whole; after a load the context
 * takes messages and emits, and a save of it loads again into a fresh one. */
#include <string.h>

#include "fuzz.h"
#include "mend/logsig.h"

static int count(void *ctx, const struct mend_point *p)
{
    (*(size_t *)ctx)++;
    return fuzz_point(NULL, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mend_logsig_conf c;
    struct mend_logsig *ls, *ls2;
    mend_logsig_conf_defaults(&c);
    c.year = 2023;
    c.max_entities = 50;
    c.max_per_entity = 20;
    c.tmpl.max_templates = 100;
    if (mend_logsig_new(&c, &ls, NULL, 0) != MEND_OK)
        return 0;
    struct mend_rbuf r;
    mend_rbuf_init(&r, data, size);
    int rc = mend_logsig_load(ls, &r);
    size_t n = 0;
    struct mend_logmsg m = {"disk 3 failed", 13, NULL, 0, "h", 1, 1700000000LL * 1000000000LL, 3};
    FUZZ_CHECK(mend_logsig_add(ls, &m, NULL, count, &n, NULL) == MEND_OK);
    (void)mend_logsig_flush(ls, 1800000000LL * 1000000000LL, NULL, count, &n);
    if (rc == MEND_OK) {
        struct mend_wbuf w;
        mend_wbuf_init(&w);
        FUZZ_CHECK(mend_logsig_save(ls, &w) == MEND_OK);
        if (mend_logsig_new(&c, &ls2, NULL, 0) == MEND_OK) {
            mend_rbuf_init(&r, w.data, w.len);
            FUZZ_CHECK(mend_logsig_load(ls2, &r) == MEND_OK);
            mend_logsig_free(ls2);
        }
        mend_wbuf_fini(&w);
    }
    mend_logsig_free(ls);
    return 0;
}
