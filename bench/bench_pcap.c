/* bench_pcap.c -- the packet figure of `make bench`.
 *
 *   bench_pcap gen PACKETS FILE   a capture with a realistic traffic mix
 *   bench_pcap run FILE           the capture-file path of `mend replay`
 *
 * gen writes PACKETS Ethernet frames (classic pcap, ns stamps, snaplen 128
 * as monitoring captures usually are: frames are cut, their original length
 * kept) from 64 interleaved conversations over 40 servers and 4000
 * clients: HTTP on 80/8080 (handshake, request, 1-4 response segments with
 * a status line, 3 % of them 5xx, FIN exchange), TLS-looking bulk on 443,
 * SSH on 22, Postgres on 5432, and DNS over UDP (3 % NXDOMAIN). 1 % of data
 * segments are sent twice (retransmissions), 2 % of connections end in a
 * reset and 1 % of SYNs get no answer. 20 000 packets per second of event
 * time. Deterministic (fixed seed).
 *
 * run reads FILE through the input set in merge mode with the "pcap" kind
 * (libpcap offline read, decoding, flow table, 10 s rows as line protocol,
 * parsing into samples) -- everything `mend replay FILE` does before the
 * engine -- and prints one line:
 *   packets=N seconds=S packets_per_s=N samples=N errors=N */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mend/input.h"
#include "mend/loop.h"
#include "mend/pcap.h"

#include <pcap/pcap.h>

#define SNAP 128
#define CONV 64

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

enum { K_HTTP, K_TLS, K_SSH, K_PG, K_DNS };

struct conv {
    int kind, step, nresp, bad, reset, mute;
    uint8_t cli[4], srv[4];
    uint16_t cport, sport;
    uint32_t cseq, sseq;
};

static void conv_new(struct conv *c, uint64_t *s)
{
    uint64_t r = rnd(s);
    unsigned k = (unsigned)(r % 100);
    memset(c, 0, sizeof *c);
    c->kind = k < 45 ? K_HTTP : k < 65 ? K_TLS : k < 70 ? K_SSH : k < 80 ? K_PG : K_DNS;
    unsigned srv = (unsigned)((r >> 8) % 40), cli = (unsigned)((r >> 16) % 4000);
    c->srv[0] = 10, c->srv[1] = 1, c->srv[2] = 0, c->srv[3] = (uint8_t)(10 + srv);
    c->cli[0] = 10, c->cli[1] = 2, c->cli[2] = (uint8_t)(cli >> 8), c->cli[3] = (uint8_t)cli;
    c->cport = (uint16_t)(32768 + (r >> 28) % 28000);
    static const uint16_t ports[] = {80, 443, 22, 5432, 53};
    c->sport = c->kind == K_HTTP && (r >> 44) % 4 == 0 ? 8080 : ports[c->kind];
    c->cseq = (uint32_t)(r >> 20);
    c->sseq = (uint32_t)(r >> 3);
    c->nresp = 1 + (int)((r >> 50) % 4);
    c->bad = (r >> 54) % 100 < 3;
    c->reset = (r >> 40) % 100 < 2;
    c->mute = (r >> 34) % 100 < 1;
}

/* Writes the conversation's next packet; returns 0 when it has ended. */
static int conv_step(struct conv *c, struct mend_pcap_writer *w, int64_t t, uint64_t *s, uint64_t *n)
{
    uint8_t b[2048];
    char pl[1500];
    size_t len = 0, plen = 0;
    uint64_t r = rnd(s);
    int again = 0;
    enum { SYN = MEND_TCP_SYN, ACK = MEND_TCP_ACK, PSH = MEND_TCP_PSH, FIN = MEND_TCP_FIN, RST = MEND_TCP_RST };
    if (c->kind == K_DNS) {
        uint8_t d[40] = {(uint8_t)r, (uint8_t)(r >> 8)};
        d[5] = 1; /* one question */
        memcpy(d + 12, "\3www\7example\3com\0\0\1\0\1", 21);
        if (c->step == 0) {
            d[2] = 0x01;
            len = mend_pcap_build_udp4(b, sizeof b, c->cli, c->cport, c->srv, 53, d, 33);
        } else if (c->step == 1 && !c->mute) {
            d[2] = 0x81;
            d[3] = (uint8_t)(0x80 | ((r >> 16) % 100 < 3 ? 3 : 0));
            len = mend_pcap_build_udp4(b, sizeof b, c->srv, 53, c->cli, c->cport, d, 40);
        } else {
            return 0;
        }
        c->step++;
        goto out;
    }
    int resp_end = 4 + c->nresp;
    if (c->step == 0) {
        len = mend_pcap_build_tcp4(b, sizeof b, c->cli, c->cport, c->srv, c->sport, SYN, c->cseq++, 0, NULL, 0);
    } else if (c->mute) {
        return 0;
    } else if (c->step == 1) {
        len = mend_pcap_build_tcp4(b, sizeof b, c->srv, c->sport, c->cli, c->cport, SYN | ACK, c->sseq++, c->cseq,
                                   NULL, 0);
    } else if (c->step == 2) {
        len = mend_pcap_build_tcp4(b, sizeof b, c->cli, c->cport, c->srv, c->sport, ACK, c->cseq, c->sseq, NULL, 0);
    } else if (c->step == 3) { /* the request */
        plen = c->kind == K_HTTP ? (size_t)snprintf(pl, sizeof pl, "GET /api/v1/items/%u HTTP/1.1\r\nHost: svc\r\n\r\n",
                                                    (unsigned)(r % 100000))
                                 : 80 + (size_t)(r % 400);
        if (c->kind != K_HTTP)
            memset(pl, 'q', plen);
        len = mend_pcap_build_tcp4(b, sizeof b, c->cli, c->cport, c->srv, c->sport, PSH | ACK, c->cseq, c->sseq, pl, plen);
        c->cseq += (uint32_t)plen;
    } else if (c->step < resp_end) { /* response segments */
        plen = 600 + (size_t)(r % 800);
        memset(pl, 'r', plen);
        if (c->kind == K_HTTP && c->step == 4) {
            int m = snprintf(pl, sizeof pl, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n\r\n",
                             c->bad ? "503 Service Unavailable" : "200 OK");
            pl[m] = 'r';
        }
        len = mend_pcap_build_tcp4(b, sizeof b, c->srv, c->sport, c->cli, c->cport, PSH | ACK, c->sseq, c->cseq, pl, plen);
        again = (r >> 32) % 100 < 1;
        c->sseq += (uint32_t)plen;
    } else if (c->step == resp_end) {
        if (c->reset)
            len = mend_pcap_build_tcp4(b, sizeof b, c->cli, c->cport, c->srv, c->sport, RST, c->cseq, 0, NULL, 0);
        else
            len = mend_pcap_build_tcp4(b, sizeof b, c->cli, c->cport, c->srv, c->sport, FIN | ACK, c->cseq++, c->sseq,
                                       NULL, 0);
    } else if (c->step == resp_end + 1 && !c->reset) {
        len = mend_pcap_build_tcp4(b, sizeof b, c->srv, c->sport, c->cli, c->cport, FIN | ACK, c->sseq++, c->cseq,
                                   NULL, 0);
    } else if (c->step == resp_end + 2 && !c->reset) {
        len = mend_pcap_build_tcp4(b, sizeof b, c->cli, c->cport, c->srv, c->sport, ACK, c->cseq, c->sseq, NULL, 0);
    } else {
        return 0;
    }
    c->step++;
out:
    if (len == 0)
        return 0;
    uint32_t cap = len > SNAP ? SNAP : (uint32_t)len;
    if (mend_pcap_writer_frame(w, t, b, cap, (uint32_t)len) < 0)
        return -1;
    (*n)++;
    if (again) {
        if (mend_pcap_writer_frame(w, t + 200000, b, cap, (uint32_t)len) < 0)
            return -1;
        (*n)++;
    }
    return 1;
}

static int gen(uint64_t packets, const char *path)
{
    FILE *f = fopen(path, "wb");
    struct mend_pcap_writer w;
    struct conv cv[CONV];
    uint64_t s = 0x9e3779b97f4a7c15ULL, n = 0;
    int64_t t = 1700000000LL * 1000000000LL;
    if (!f || mend_pcap_writer_init(&w, f, MEND_PCAP_LINK_ETHERNET, SNAP) < 0) {
        perror(path);
        return 1;
    }
    for (int i = 0; i < CONV; i++)
        conv_new(&cv[i], &s);
    while (n < packets) {
        struct conv *c = &cv[rnd(&s) % CONV];
        int r = conv_step(c, &w, t, &s, &n);
        if (r < 0) {
            perror(path);
            return 1;
        }
        if (r == 0)
            conv_new(c, &s);
        else
            t += 50000; /* 20,000 packets per second */
    }
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static int count_point(void *ctx, const struct mend_point *p)
{
    (void)p;
    (*(uint64_t *)ctx)++;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *path)
{
    struct mend_loop *loop;
    struct mend_inputs *s;
    struct mend_input_conf ic;
    uint64_t samples = 0;
    struct mend_input_host h = {count_point, NULL, &samples};
    char err[512];
    mend_input_conf_defaults(&ic);
    ic.merge = 1;
    if (mend_loop_new(MEND_CLOCK_EVENT, &loop) < 0 || mend_inputs_new(&ic, loop, &h, &s) < 0 ||
        mend_inputs_register(s, &mend_pcap_file_ops) < 0)
        return 1;
    double t0 = now_s();
    if (mend_inputs_add(s, path, err, sizeof err) < 0) {
        fprintf(stderr, "bench_pcap: %s\n", err);
        return 1;
    }
    while (!mend_inputs_done(s)) {
        int rc = mend_inputs_step(s, 65536);
        if (rc < 0) {
            fprintf(stderr, "bench_pcap: %s\n", mend_strerror(rc));
            return 1;
        }
    }
    (void)mend_inputs_shutdown(s);
    double secs = now_s() - t0;
    struct mend_inputs_stats st;
    mend_inputs_stats(s, &st);
    mend_inputs_free(s);
    mend_loop_free(loop);
    /* the packet count, read back with libpcap (untimed) */
    char eb[PCAP_ERRBUF_SIZE];
    uint64_t packets = 0;
    pcap_t *pc = pcap_open_offline(path, eb);
    if (pc) {
        struct pcap_pkthdr *ph;
        const u_char *pd;
        while (pcap_next_ex(pc, &ph, &pd) == 1)
            packets++;
        pcap_close(pc);
    }
    printf("packets=%" PRIu64 " seconds=%.3f packets_per_s=%.0f samples=%" PRIu64 " errors=%" PRIu64 "\n",
           packets, secs, (double)packets / secs, samples, st.errors);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "gen"))
        return gen(strtoull(argv[2], NULL, 10), argv[3]);
    if (argc == 3 && !strcmp(argv[1], "run"))
        return run(argv[2]);
    fprintf(stderr, "usage: bench_pcap gen PACKETS FILE | bench_pcap run FILE\n");
    return 2;
}
