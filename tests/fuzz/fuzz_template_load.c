/* fuzz_template_load.c -- the miner's checkpoint loader (mend_tmpl_load):
 * any bytes are refused or loaded whole; a miner that refused is empty and
 * usable, one that loaded mines on and saves again. */
#include <string.h>

#include "fuzz.h"
#include "mend/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mend_tmpl_conf c;
    struct mend_tmpl *m;
    mend_tmpl_conf_defaults(&c);
    c.max_templates = 200;
    if (mend_tmpl_new(&c, &m) != MEND_OK)
        return 0;
    struct mend_rbuf r;
    mend_rbuf_init(&r, data, size);
    int rc = mend_tmpl_load(m, &r);
    struct mend_tmpl_stats st;
    mend_tmpl_get_stats(m, &st);
    if (rc != MEND_OK)
        FUZZ_CHECK(st.templates == 0);
    struct mend_tmpl_match mm;
    FUZZ_CHECK(mend_tmpl_add(m, "connection from 10.0.0.1 closed", 31, &mm) == MEND_OK);
    FUZZ_CHECK(mm.id >= 1);
    struct mend_wbuf w;
    mend_wbuf_init(&w);
    mend_tmpl_save(m, &w);
    mend_wbuf_fini(&w);
    mend_tmpl_free(m);
    return 0;
}
