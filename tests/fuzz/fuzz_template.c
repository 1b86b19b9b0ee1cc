/* fuzz_template.c -- the template miner (src/logs/template.c, mask.c): every
 * line of the input is mined by a miner with tiny caps (so LRU eviction,
 * the child cap and the leaf cap are all reached); ids must be >= 1 and
 * match the text mend_tmpl_get gives; then the state is saved, loaded into
 * a fresh miner and saved again, and the two saves must be equal. */
#include <string.h>

#include "fuzz.h"
#include "mend/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mend_tmpl_conf c;
    struct mend_tmpl *m, *m2;
    mend_tmpl_conf_defaults(&c);
    c.max_templates = 40;
    c.max_leaf = 6;
    c.max_children = 4;
    c.max_tokens = 24;
    c.max_token = 40;
    c.max_line = 512;
    c.depth = size ? 3 + data[0] % 4 : 4;
    if (mend_tmpl_new(&c, &m) != MEND_OK)
        return 0;
    const char *s = (const char *)data;
    size_t off = 0;
    while (off < size) {
        const char *nl = memchr(s + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - (s + off)) : size - off;
        struct mend_tmpl_match r;
        if (mend_tmpl_add(m, s + off, n, &r) == MEND_OK) {
            FUZZ_CHECK(r.id >= 1);
            const char *t;
            size_t tl;
            FUZZ_CHECK(mend_tmpl_get(m, r.id, &t, &tl) == MEND_OK);
            FUZZ_CHECK(tl == r.len && !memcmp(t, r.text, tl));
        }
        off += n + 1;
    }
    struct mend_wbuf w1, w2;
    mend_wbuf_init(&w1);
    mend_wbuf_init(&w2);
    mend_tmpl_save(m, &w1);
    if (!w1.failed && mend_tmpl_new(&c, &m2) == MEND_OK) {
        struct mend_rbuf r;
        mend_rbuf_init(&r, w1.data, w1.len);
        FUZZ_CHECK(mend_tmpl_load(m2, &r) == MEND_OK);
        FUZZ_CHECK(r.off == w1.len);
        mend_tmpl_save(m2, &w2);
        FUZZ_CHECK(w2.failed || (w2.len == w1.len && !memcmp(w1.data, w2.data, w1.len)));
        mend_tmpl_free(m2);
    }
    mend_wbuf_fini(&w1);
    mend_wbuf_fini(&w2);
    mend_tmpl_free(m);
    return 0;
}
