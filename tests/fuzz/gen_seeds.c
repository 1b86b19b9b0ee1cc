/* gen_seeds.c -- writes the binary seeds of the loader targets (engine
 * state, checkpoint file, log-signal section, miner state) into
 * tests/fuzz/corpus/NAME/. Not a target (its name does not start with
 * fuzz_). Rebuild the seeds after a state format change:
 *   cc -Iinclude -o /tmp/gen_seeds tests/fuzz/gen_seeds.c build/libmend.a $(LDLIBS)
 *   /tmp/gen_seeds tests/fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/engine.h"
#include "mend/logsig.h"
#include "mend/state.h"
#include "mend/template.h"

#define S 1000000000LL

static void put(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static const char *const lines[] = {
    "Accepted password for root from 10.0.0.1 port 22 ssh2",
    "Accepted password for bob from 10.0.0.2 port 2222 ssh2",
    "session opened for user root by (uid=0)",
    "I/O error on dev sda1 sector 12345",
    "I/O error on dev sdb2 sector 999",
    "blk_-1608 replicated to 3 nodes",
    "GET /api/v1/users 200 12ms",
};

static int save_state_sections(const void *ctx, struct mend_state_writer *w)
{
    (void)ctx;
    for (uint32_t s = 1; s <= 3; s++) {
        struct mend_wbuf *b = mend_state_section_begin(w, 0x100 + s, s);
        if (!b)
            return MEND_EIO;
        for (uint32_t i = 0; i < s * 100; i++)
            mend_wbuf_u32(b, i * s);
        int rc = mend_state_section_end(w);
        if (rc)
            return rc;
    }
    return MEND_OK;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    char dir[512];
    struct mend_wbuf w;

    /* miner state */
    struct mend_tmpl_conf tc;
    struct mend_tmpl *m;
    mend_tmpl_conf_defaults(&tc);
    tc.max_templates = 200;
    mend_tmpl_new(&tc, &m);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct mend_tmpl_match r;
        mend_tmpl_add(m, lines[i], strlen(lines[i]), &r);
    }
    mend_wbuf_init(&w);
    mend_tmpl_save(m, &w);
    snprintf(dir, sizeof dir, "%s/template_load", root);
    put(dir, "seed-7-lines", w.data, w.len);
    mend_wbuf_fini(&w);
    mend_tmpl_free(m);

    /* log-signal section */
    struct mend_logsig_conf lc;
    struct mend_logsig *ls;
    mend_logsig_conf_defaults(&lc);
    lc.year = 2023;
    lc.max_entities = 50;
    lc.max_per_entity = 20;
    lc.tmpl.max_templates = 100;
    mend_logsig_new(&lc, &ls, NULL, 0);
    for (int i = 0; i < 200; i++) {
        const char *l = lines[i % 7];
        char host[16];
        snprintf(host, sizeof host, "web-%d", i % 3);
        struct mend_logmsg msg = {l, strlen(l), NULL, 0, host, strlen(host),
                                  (1700000000LL + i * 5) * S, i % 8};
        mend_logsig_add(ls, &msg, NULL, NULL, NULL, NULL);
    }
    mend_wbuf_init(&w);
    mend_logsig_save(ls, &w);
    snprintf(dir, sizeof dir, "%s/logsig_load", root);
    put(dir, "seed-200-messages", w.data, w.len);
    mend_wbuf_fini(&w);
    mend_logsig_free(ls);

    /* engine state: two entities, three series, an anomaly */
    struct mend_engine_conf ec;
    struct mend_engine *e;
    mend_engine_conf_defaults(&ec);
    ec.series.max_series = 1000;
    ec.series.max_entities = 100;
    ec.incidents.max_open = 100;
    mend_engine_new(&ec, NULL, NULL, &e);
    for (int i = 0; i < 400; i++) {
        int64_t t = (1700000000LL + i * 10) * S;
        double v = 10 + (i % 5) + (i == 350 ? 500 : 0);
        struct mend_point p1 = {"cpu,host=a usage", 16, "a", 1, t, 1, v};
        struct mend_point p2 = {"mem,host=a used", 15, "a", 1, t, 1, v * 2};
        struct mend_point p3 = {"cpu,host=b usage", 16, "b", 1, t, 1, 50 - v / 10};
        mend_engine_point(e, &p1);
        mend_engine_point(e, &p2);
        if (i < 300)
            mend_engine_point(e, &p3);
    }
    mend_wbuf_init(&w);
    mend_engine_save(e, &w);
    snprintf(dir, sizeof dir, "%s/engine_state", root);
    put(dir, "seed-3-series", w.data, w.len);
    mend_wbuf_fini(&w);
    mend_engine_free(e);

    /* a checkpoint file of kind FUZZ with three sections */
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/state/seed-3-sections", root);
    if (mend_state_save(path, 0x5a5a5546u, save_state_sections, NULL, err, sizeof err) != MEND_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}
