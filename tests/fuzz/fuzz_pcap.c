/* fuzz_pcap.c -- libFuzzer target for the packet side (pcap.h): the
 * decoder and the aggregator behind it, with caps small enough that flow
 * eviction, idle eviction, the row cap and interval changes all happen
 * within one input.
 *
 * Input layout: byte 0 picks the link type; then records of
 *   [len lo][len hi][dt] frame[len]
 * (len is cut to what is left; dt advances the packet clock by dt ms, a dt
 * of 255 moves it back 10 ms to try out-of-order stamps). Each frame is
 * copied into a buffer of exactly its size so ASan catches any read past
 * the captured length.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude
 *   tests/fuzz/fuzz_pcap.c src/pcap/pcap_decode.c src/pcap/pcap_agg.c
 *   src/core/common.c -lxxhash
 * Seeds: tests/fuzz/corpus/pcap/, dictionary tests/fuzz/dict/pcap.dict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mend/pcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ctx, const struct mend_pcap_row *r)
{
    uint64_t *n = ctx;
    /* touch every field so a bad row would show under the sanitizers */
    *n += r->packets + r->bytes + r->syn + r->unanswered + r->resets + r->retrans + r->dns_errors +
          r->http_5xx + r->rtt_n + r->port + (uint64_t)strlen(r->host);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int links[] = {0, 1, 12, 14, 101, 113, 228, 229, 276};
    struct mend_pcap_conf c;
    struct mend_pcap_agg *a;
    uint64_t n = 0;
    if (size < 1)
        return 0;
    int link = links[data[0] % (sizeof links / sizeof links[0])];
    mend_pcap_conf_defaults(&c);
    c.interval_ns = 50 * 1000000LL;
    c.max_flows = 4;
    c.max_rows = 3;
    c.idle_timeout_ns = 200 * 1000000LL;
    c.reply_timeout_ns = 30 * 1000000LL;
    if (mend_pcap_agg_new(&c, sink, &n, &a) != MEND_OK)
        return 0;
    int64_t t = 1700000000LL * 1000000000LL;
    size_t i = 1;
    while (size - i >= 3) {
        size_t len = (size_t)data[i] | (size_t)data[i + 1] << 8;
        uint8_t dt = data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i;
        t += dt == 255 ? -10 * 1000000LL : (int64_t)dt * 1000000LL;
        uint8_t *f = malloc(len ? len : 1);
        if (!f)
            break;
        memcpy(f, data + i, len);
        struct mend_pkt p;
        const char *why = NULL;
        int r = mend_pcap_decode(link, f, len, &p, &why);
        if (r == MEND_PKT_OK && (p.payload_cap > p.payload_len ||
                                 (p.payload_cap && (p.payload < f || p.payload + p.payload_cap > f + len))))
            abort();
        if (r != MEND_PKT_OK && !why)
            abort();
        (void)mend_pcap_agg_packet(a, link, t, f, len, (uint32_t)len, &why);
        free(f);
        i += len;
    }
    (void)mend_pcap_agg_finish(a);
    struct mend_pcap_stats st;
    mend_pcap_agg_stats(a, &st);
    if (st.flows_open > c.max_flows)
        abort();
    mend_pcap_agg_free(a);
    return 0;
}
