/* fuzz.h -- what every fuzz target (tests/fuzz/fuzz_NAME.c) shares.
 *
 * A target defines LLVMFuzzerTestOneInput. Built with clang and
 * -fsanitize=fuzzer,address,undefined it is a libFuzzer binary (`make
 * fuzz`); built with the plain compiler and replay.c it replays its seed
 * corpus in `make test`. A target checks the invariants its parser
 * promises and calls FUZZ_CHECK, which aborts (a finding) when one breaks. */
#ifndef MEND_FUZZ_H
#define MEND_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mend/format.h"
#include "mend/ingest.h"
#include "mend/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* Every point a parser hands out: a key, a timestamp in range, a finite
 * value unless non-finite values were asked for. */
static inline int fuzz_point(void *ctx, const struct mend_point *p)
{
    (void)ctx;
    FUZZ_CHECK(p->key && p->key_len > 0);
    FUZZ_CHECK(!p->entity || p->entity_len < (1u << 20));
    FUZZ_CHECK(!p->has_time || (p->time_ns >= MEND_TIME_MIN_NS - 7 * 86400 * 1000000000LL &&
                                p->time_ns <= MEND_TIME_MAX_NS + 7 * 86400 * 1000000000LL));
    volatile char sink = p->key[p->key_len - 1]; /* the key is readable whole */
    (void)sink;
    return 0;
}

static inline void fuzz_error(void *ctx, uint64_t line, uint32_t col, const char *reason)
{
    (void)ctx;
    FUZZ_CHECK(line >= 1 && col >= 1 && reason && reason[0]);
}

/* Feeds data to a fresh parser of format f in two pieces (the first byte
 * picks the split, so framing across feeds is exercised), finishes and
 * flushes it; small caps so the limits are reached. */
static inline void fuzz_format(enum mend_format f, const uint8_t *data, size_t size)
{
    struct mend_ingest_opts o;
    struct mend_parser *p;
    struct mend_sink k = {fuzz_point, fuzz_error, NULL};
    mend_ingest_opts_defaults(&o);
    o.max_line = 4096;
    o.max_tags = 16;
    o.max_key = 512;
    if (mend_parser_new(f, &o, &p) != MEND_OK)
        return;
    size_t cut = size ? data[0] % (size + 1) : 0;
    (void)mend_parser_feed(p, (const char *)data, cut, &k);
    (void)mend_parser_feed(p, (const char *)data + cut, size - cut, &k);
    (void)mend_parser_finish(p, &k);
    (void)mend_parser_flush(p, INT64_MAX, &k);
    struct mend_parse_stats st;
    mend_parser_stats(p, &st);
    FUZZ_CHECK(st.overlong <= st.errors);
    mend_parser_free(p);
}

#endif
