/* fuzz_engine_state.c -- the engine state loader (src/engine/engine_state.c,
 * mend_engine_load; the series, entity, model and incident sections): any
 * bytes are refused or loaded; a loaded engine takes samples, advances and
 * saves again. A fresh engine per input, default configuration. */
#include <string.h>

#include "fuzz.h"
#include "mend/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mend_engine_conf c;
    struct mend_engine *e;
    mend_engine_conf_defaults(&c);
    c.series.max_series = 1000;
    c.series.max_entities = 100;
    c.incidents.max_open = 100;
    if (mend_engine_new(&c, NULL, NULL, &e) != MEND_OK)
        return 0;
    struct mend_rbuf r;
    mend_rbuf_init(&r, data, size);
    int rc = mend_engine_load(e, &r);
    if (rc == MEND_OK) {
        struct mend_point p = {.key = "cpu,host=a usage", .key_len = 16, .entity = "a", .entity_len = 1,
                               .time_ns = 1700000000LL * 1000000000LL, .has_time = 1, .value = 1.0};
        FUZZ_CHECK(mend_engine_point(e, &p) == MEND_OK);
        mend_engine_advance(e, 1700003600LL * 1000000000LL);
        struct mend_wbuf w;
        mend_wbuf_init(&w);
        FUZZ_CHECK(mend_engine_save(e, &w) == MEND_OK);
        mend_wbuf_fini(&w);
    }
    mend_engine_free(e);
    return 0;
}
