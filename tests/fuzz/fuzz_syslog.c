/* fuzz_syslog.c -- RFC 5424 / RFC 3164 syslog (src/format/fmt_logs.c) and the
 * RFC 6587 framer in front of it (src/logs/frame.c): the bytes go to the
 * parser as they are, then through the framer (stream and datagram mode)
 * into a second parser. The framer must never lengthen a message except by
 * the one LF that ends it. */
#include <string.h>

#include "fuzz.h"
#include "mend/logs.h"

struct framed {
    struct mend_parser *p;
    struct mend_sink k;
    size_t out;
};

static int to_parser(void *ctx, const char *b, size_t n)
{
    struct framed *f = ctx;
    f->out += n;
    return mend_parser_feed(f->p, b, n, &f->k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_format(MEND_FMT_SYSLOG, data, size);
    for (int dgram = 0; dgram < 2; dgram++) {
        struct mend_ingest_opts o;
        struct framed f = {NULL, {fuzz_point, fuzz_error, NULL}, 0};
        struct mend_syslog_frame fr;
        mend_ingest_opts_defaults(&o);
        o.max_line = 4096;
        if (mend_parser_new(MEND_FMT_SYSLOG, &o, &f.p) != MEND_OK)
            return 0;
        mend_syslog_frame_init(&fr, dgram);
        size_t cut = dgram ? size : (size ? data[size - 1] % (size + 1) : 0);
        (void)mend_syslog_frame_feed(&fr, (const char *)data, cut, to_parser, &f);
        (void)mend_syslog_frame_feed(&fr, (const char *)data + cut, size - cut, to_parser, &f);
        (void)mend_parser_finish(f.p, &f.k);
        FUZZ_CHECK(f.out <= size + fr.frames);
        FUZZ_CHECK(fr.bad <= 1);
        mend_parser_free(f.p);
    }
    return 0;
}
