/* test_pcap.c -- the packet side (pcap.h): the decoder against hand-built
 * frames of every link type it knows, every truncation of them, impossible
 * header fields and random garbage; the aggregator against a capture whose
 * every counter was counted by hand; the flow, idle and row caps; and the
 * input kinds end to end: the test writes a capture file with the writer,
 * libpcap (and tcpdump, when installed) read it back, and the input set
 * delivers the samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "mend/input.h"
#include "mend/loop.h"
#include "mend/pcap.h"

#define S(x) ((int64_t)(x) * (int64_t)1000000000)
#define MS(x) ((int64_t)(x) * (int64_t)1000000)
#define T0 S(1700000000)   /* a multiple of 10 s: intervals start here */

static const uint8_t C1[4] = {10, 0, 0, 1}, C2[4] = {10, 0, 0, 2}, SRV[4] = {10, 0, 0, 5},
                     SSH[4] = {10, 0, 0, 6}, DNS[4] = {10, 0, 0, 53};

/* ---- decoder ---------------------------------------------------------------- */

static size_t tcp_frame(uint8_t *b, uint8_t flags, const char *payload)
{
    size_t n = mend_pcap_build_tcp4(b, 2048, C1, 40000, SRV, 80, flags, 1000, 2000, payload,
                                    payload ? strlen(payload) : 0);
    assert_true(n > 0);
    return n;
}

static void test_decode_ethernet_tcp_udp(void **state)
{
    (void)state;
    uint8_t b[2048];
    struct mend_pkt p;
    const char *why = NULL;
    size_t n = tcp_frame(b, MEND_TCP_SYN | MEND_TCP_ACK, "hello");
    assert_int_equal(n, 59);
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, b, n, &p, &why), MEND_PKT_OK);
    assert_int_equal(p.family, 4);
    assert_int_equal(p.proto, MEND_PKT_TCP);
    assert_memory_equal(p.src, C1, 4);
    assert_memory_equal(p.dst, SRV, 4);
    assert_int_equal(p.sport, 40000);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.seq, 1000);
    assert_int_equal(p.ack, 2000);
    assert_int_equal(p.tcp_flags, MEND_TCP_SYN | MEND_TCP_ACK);
    assert_int_equal(p.payload_len, 5);
    assert_int_equal(p.payload_cap, 5);
    assert_memory_equal(p.payload, "hello", 5);

    /* Ethernet padding past the IP total length is not payload */
    uint8_t pad[2048];
    n = mend_pcap_build_udp4(pad, sizeof pad, C1, 5353, DNS, 53, "ab", 2);
    assert_int_equal(n, 44);
    memset(pad + n, 0xee, 16);
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, pad, n + 16, &p, &why), MEND_PKT_OK);
    assert_int_equal(p.proto, MEND_PKT_UDP);
    assert_int_equal(p.payload_len, 2);
    assert_int_equal(p.payload_cap, 2);
}

/* A frame cut at every length: TRUNCATED while a header is incomplete, OK
 * once the transport header is whole (the payload then partly captured). */
static void check_prefixes(int link, const uint8_t *f, size_t n, size_t hdr)
{
    struct mend_pkt p;
    const char *why = NULL;
    for (size_t c = 0; c <= n; c++) {
        uint8_t *copy = malloc(c ? c : 1); /* exact size: ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, f, c);
        int r = mend_pcap_decode(link, copy, c, &p, &why);
        if (c < hdr) {
            if (r != MEND_PKT_TRUNCATED)
                fail_msg("link %d caplen %zu: %d (%s), want truncated", link, c, r, why);
        } else {
            if (r != MEND_PKT_OK)
                fail_msg("link %d caplen %zu: %d (%s), want ok", link, c, r, why);
            assert_int_equal(p.payload_cap, c - hdr);
        }
        free(copy);
    }
}

static void test_decode_link_types_and_truncation(void **state)
{
    (void)state;
    uint8_t eth[2048], f[2048];
    size_t n = tcp_frame(eth, MEND_TCP_ACK, "0123456789");
    const uint8_t *ip = eth + 14;
    size_t iplen = n - 14;
    struct mend_pkt p;

    check_prefixes(MEND_PCAP_LINK_ETHERNET, eth, n, 54);
    check_prefixes(MEND_PCAP_LINK_RAW, ip, iplen, 40);
    check_prefixes(MEND_PCAP_LINK_IPV4, ip, iplen, 40);

    /* 802.1Q inside 802.1ad */
    memcpy(f, eth, 12);
    const uint8_t tags[8] = {0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8};
    memcpy(f + 12, tags, 8);
    memcpy(f + 20, eth + 12, n - 12);
    check_prefixes(MEND_PCAP_LINK_ETHERNET, f, n + 8, 62);

    /* Linux cooked v1: 16 bytes, protocol last */
    memset(f, 0, 16);
    f[14] = 0x08;
    memcpy(f + 16, ip, iplen);
    check_prefixes(MEND_PCAP_LINK_LINUX_SLL, f, iplen + 16, 56);

    /* Linux cooked v2: 20 bytes, protocol first */
    memset(f, 0, 20);
    f[0] = 0x08;
    memcpy(f + 20, ip, iplen);
    check_prefixes(MEND_PCAP_LINK_LINUX_SLL2, f, iplen + 20, 60);

    /* BSD loopback, AF_INET in little-endian */
    memset(f, 0, 4);
    f[0] = 2;
    memcpy(f + 4, ip, iplen);
    check_prefixes(MEND_PCAP_LINK_NULL, f, iplen + 4, 44);

    /* IPv4 with 8 bytes of options (IHL 7) */
    memcpy(f, eth, 14);
    memcpy(f + 14, ip, 20);
    f[14] = 0x47;
    f[16] = (uint8_t)((iplen + 8) >> 8);
    f[17] = (uint8_t)(iplen + 8);
    memset(f + 34, 1, 8); /* NOPs */
    memcpy(f + 42, ip + 20, iplen - 20);
    check_prefixes(MEND_PCAP_LINK_ETHERNET, f, n + 8, 62);
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, f, n + 8, &p, NULL), MEND_PKT_OK);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.payload_len, 10);

    /* IPv6: hop-by-hop (8 bytes), fragment header (offset 0), then TCP */
    uint8_t v6[2048];
    memset(v6, 0, sizeof v6);
    v6[0] = 0x60;
    size_t plen = 8 + 8 + 20 + 4;
    v6[4] = 0;
    v6[5] = (uint8_t)plen;
    v6[6] = 0;  /* hop-by-hop next */
    v6[7] = 64;
    v6[8] = 0x20, v6[9] = 0x01, v6[10] = 0x0d, v6[11] = 0xb8, v6[23] = 1;  /* 2001:db8::1 */
    v6[24] = 0x20, v6[25] = 0x01, v6[26] = 0x0d, v6[27] = 0xb8, v6[39] = 5; /* 2001:db8::5 */
    v6[40] = 44; /* next: fragment */
    v6[41] = 0;  /* 8 bytes */
    v6[48] = 6;  /* next: TCP */
    v6[50] = 0, v6[51] = 1; /* offset 0, more fragments */
    uint8_t *t = v6 + 56;
    t[0] = 0x9c, t[1] = 0x40; /* 40000 */
    t[2] = 0, t[3] = 80;
    t[12] = 0x50;
    t[13] = MEND_TCP_SYN;
    memcpy(t + 20, "abcd", 4);
    check_prefixes(MEND_PCAP_LINK_RAW, v6, 40 + plen, 76);
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_IPV6, v6, 40 + plen, &p, NULL), MEND_PKT_OK);
    assert_int_equal(p.family, 6);
    assert_int_equal(p.src[15], 1);
    assert_int_equal(p.dst[15], 5);
    assert_int_equal(p.payload_len, 4);
    /* a later fragment has no transport header */
    v6[50] = 0x01, v6[51] = 0x00;
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_IPV6, v6, 40 + plen, &p, NULL), MEND_PKT_OTHER);
}

static void test_decode_malformed_and_other(void **state)
{
    (void)state;
    uint8_t b[2048], f[2048];
    struct mend_pkt p;
    const char *why = NULL;
    size_t n = tcp_frame(b, MEND_TCP_ACK, "xyz");
#define MUT(off, val, want)                                                                  \
    do {                                                                                     \
        memcpy(f, b, n);                                                                     \
        f[off] = (uint8_t)(val);                                                             \
        why = NULL;                                                                          \
        assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, f, n, &p, &why), want);   \
        if ((want) != MEND_PKT_OK)                                                           \
            assert_non_null(why);                                                            \
    } while (0)
    MUT(14, 0x44, MEND_PKT_MALFORMED);  /* IHL 4 */
    MUT(14, 0x55, MEND_PKT_MALFORMED);  /* version 5 */
    MUT(16, 0x00, MEND_PKT_OK);         /* total length high byte 0: still 57 */
    memcpy(f, b, n);
    f[16] = 0, f[17] = 0;               /* total length 0: an offloaded send, length = captured */
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, f, n, &p, &why), MEND_PKT_OK);
    assert_int_equal(p.payload_len, 3);
    MUT(17, 10, MEND_PKT_MALFORMED);    /* total length 10 < IHL */
    MUT(17, 30, MEND_PKT_MALFORMED);    /* room for 10 bytes of TCP only */
    MUT(46, 0x40, MEND_PKT_MALFORMED);  /* TCP data offset 4 */
    MUT(46, 0xf0, MEND_PKT_MALFORMED);  /* TCP data offset 60 > segment */
    MUT(23, 1, MEND_PKT_OTHER);         /* ICMP */
    MUT(21, 0x10, MEND_PKT_OTHER);      /* fragment offset 16 */
    MUT(12, 0x08, MEND_PKT_OK);         /* still 0x0800 */
    MUT(13, 0x06, MEND_PKT_OTHER);      /* ARP */
    MUT(12, 0x00, MEND_PKT_OTHER);      /* 802.3 length field */
    assert_string_equal(why, "ethernet: 802.3 frame");

    /* UDP length below 8 and beyond the IP payload */
    n = mend_pcap_build_udp4(b, sizeof b, C1, 1000, DNS, 53, "abcd", 4);
    MUT(39, 4, MEND_PKT_MALFORMED);
    MUT(39, 40, MEND_PKT_MALFORMED);
    MUT(39, 12, MEND_PKT_OK);

    /* VLAN tags stacked past the cap */
    memcpy(f, b, 12);
    for (int i = 0; i < MEND_PCAP_MAX_VLAN + 1; i++) {
        f[12 + 4 * i] = 0x81, f[13 + 4 * i] = 0x00, f[14 + 4 * i] = 0, f[15 + 4 * i] = 1;
    }
    memcpy(f + 12 + 4 * (MEND_PCAP_MAX_VLAN + 1), b + 12, n - 12);
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, f, n + 4 * (MEND_PCAP_MAX_VLAN + 1), &p, &why),
                     MEND_PKT_MALFORMED);

    /* IPv6 destination-options headers chained past the cap */
    memset(f, 0, sizeof f);
    f[0] = 0x60;
    f[5] = (uint8_t)(8 * 12);
    f[6] = 60;
    for (int i = 0; i < 12; i++)
        f[40 + 8 * i] = 60;
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_RAW, f, 40 + 8 * 12, &p, &why), MEND_PKT_MALFORMED);
    assert_string_equal(why, "ipv6: too many extension headers");
    /* an extension header longer than the payload */
    f[5] = 8;
    f[41] = 3;
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_RAW, f, 40 + 8 * 12, &p, &why), MEND_PKT_MALFORMED);
    /* unknown link type, NULL frame */
    assert_int_equal(mend_pcap_decode(147, b, n, &p, &why), MEND_PKT_OTHER);
    assert_int_equal(mend_pcap_decode(MEND_PCAP_LINK_ETHERNET, NULL, 100, &p, &why), MEND_PKT_TRUNCATED);
#undef MUT
}

/* Random bytes, and random damage to good frames: each exact-size copy is
 * decoded with every link type; ASan/UBSan watch the reads. */
static void test_decode_garbage(void **state)
{
    (void)state;
    static const int links[] = {0, 1, 12, 14, 101, 113, 228, 229, 276};
    uint64_t x = 88172645463325252ULL;
    uint8_t good[2048];
    size_t gn = tcp_frame(good, MEND_TCP_ACK, "HTTP/1.1 500 x");
    unsigned ok = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t buf[256];
        size_t n;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i % 2) {
            n = (size_t)(x % sizeof buf);
            for (size_t j = 0; j < n; j++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[j] = (uint8_t)x;
            }
        } else {
            n = gn;
            memcpy(buf, good, n);
            for (int k = 0; k < 3; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[x % n] = (uint8_t)(x >> 32);
            }
            n -= (size_t)((x >> 40) % 8);
        }
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        for (size_t l = 0; l < sizeof links / sizeof links[0]; l++) {
            struct mend_pkt p;
            const char *why = NULL;
            int r = mend_pcap_decode(links[l], copy, n, &p, &why);
            assert_true(r >= MEND_PKT_OK && r <= MEND_PKT_MALFORMED);
            if (r == MEND_PKT_OK) {
                assert_true(p.payload_cap <= p.payload_len);
                assert_true(p.payload_cap == 0 || (p.payload >= copy && p.payload + p.payload_cap <= copy + n));
                ok++;
            } else {
                assert_non_null(why);
            }
        }
        free(copy);
    }
    assert_true(ok > 0); /* damaged good frames still decode often */
}

/* ---- the hand-counted capture ------------------------------------------------- */

struct pw {
    FILE *f;
    struct mend_pcap_writer w;
    char path[64];
    unsigned n;
};

static void pw_open(struct pw *pw)
{
    snprintf(pw->path, sizeof pw->path, "/tmp/mend_test_pcap_XXXXXX");
    int fd = mkstemp(pw->path);
    assert_true(fd >= 0);
    pw->f = fdopen(fd, "wb");
    assert_non_null(pw->f);
    assert_int_equal(mend_pcap_writer_init(&pw->w, pw->f, MEND_PCAP_LINK_ETHERNET, 65535), 0);
    pw->n = 0;
}

static void pw_frame(struct pw *pw, int64_t t, const uint8_t *b, size_t cap, size_t orig)
{
    assert_int_equal(mend_pcap_writer_frame(&pw->w, t, b, (uint32_t)cap, (uint32_t)orig), 0);
    pw->n++;
}

static void pw_tcp(struct pw *pw, int64_t t, const uint8_t *s, uint16_t sp, const uint8_t *d, uint16_t dp,
                   uint8_t fl, uint32_t seq, uint32_t ack, const char *pl)
{
    uint8_t b[2048];
    size_t n = mend_pcap_build_tcp4(b, sizeof b, s, sp, d, dp, fl, seq, ack, pl, pl ? strlen(pl) : 0);
    assert_true(n > 0);
    pw_frame(pw, t, b, n, n);
}

static void pw_dns(struct pw *pw, int64_t t, const uint8_t *s, uint16_t sp, const uint8_t *d, uint16_t dp,
                   int response, int rcode)
{
    uint8_t b[256], h[12] = {0x12, 0x34};
    h[2] = (uint8_t)(response ? 0x81 : 0x01);
    h[3] = (uint8_t)(response ? 0x80 | rcode : 0);
    size_t n = mend_pcap_build_udp4(b, sizeof b, s, sp, d, dp, h, sizeof h);
    assert_int_equal(n, 54);
    pw_frame(pw, t, b, n, n);
}

enum { SYN = MEND_TCP_SYN, ACK = MEND_TCP_ACK, RST = MEND_TCP_RST, FIN = MEND_TCP_FIN, PSH = MEND_TCP_PSH };

/* The scenario; every counter in the comments below was counted by hand.
 * Frame sizes: TCP without payload 54 bytes, with n bytes 54 + n; DNS 54. */
static void write_scenario(struct pw *pw)
{
    const char *get = "GET / HTTP/1.1\r\n\r\n";                       /* 18 bytes */
    const char *e503 = "HTTP/1.1 503 Service Unavailable\r\n\r\n";    /* 36 bytes */
    char data100[101];
    memset(data100, 'd', 100);
    data100[100] = 0;
    pw_open(pw);
    /* interval 1 [T0, T0+10s): 10.0.0.5:80 -- flow 1: handshake in 30 ms, a
     * request, a 503, the 503 again (retransmission), a reset */
    pw_tcp(pw, T0 + MS(1000), C1, 40000, SRV, 80, SYN, 1000, 0, NULL);
    pw_tcp(pw, T0 + MS(1010), SRV, 80, C1, 40000, SYN | ACK, 5000, 1001, NULL);
    pw_tcp(pw, T0 + MS(1030), C1, 40000, SRV, 80, ACK, 1001, 5001, NULL);
    pw_tcp(pw, T0 + MS(1040), C1, 40000, SRV, 80, PSH | ACK, 1001, 5001, get);
    pw_tcp(pw, T0 + MS(1050), SRV, 80, C1, 40000, PSH | ACK, 5001, 1019, e503);
    pw_tcp(pw, T0 + MS(1060), SRV, 80, C1, 40000, PSH | ACK, 5001, 1019, e503);
    pw_tcp(pw, T0 + MS(1070), C1, 40000, SRV, 80, RST, 1019, 0, NULL);
    /* flow 2: the SYN repeated (a retransmission, no second connection, no RTT sample) */
    pw_tcp(pw, T0 + MS(2000), C2, 40001, SRV, 80, SYN, 2000, 0, NULL);
    pw_tcp(pw, T0 + MS(3000), C2, 40001, SRV, 80, SYN, 2000, 0, NULL);
    pw_tcp(pw, T0 + MS(3005), SRV, 80, C2, 40001, SYN | ACK, 7000, 2001, NULL);
    pw_tcp(pw, T0 + MS(3010), C2, 40001, SRV, 80, ACK, 2001, 7001, NULL);
    /* 10.0.0.6:22: a SYN nobody answers (reply timeout 3 s: known at T0+7s) */
    pw_tcp(pw, T0 + MS(4000), C1, 40002, SSH, 22, SYN, 3000, 0, NULL);
    /* 10.0.0.53:53: NXDOMAIN, NOERROR, and a query without an answer */
    pw_dns(pw, T0 + MS(5000), C1, 33333, DNS, 53, 0, 0);
    pw_dns(pw, T0 + MS(5001), DNS, 53, C1, 33333, 1, 3);
    pw_dns(pw, T0 + MS(5100), C2, 33334, DNS, 53, 0, 0);
    pw_dns(pw, T0 + MS(5101), DNS, 53, C2, 33334, 1, 0);
    pw_dns(pw, T0 + MS(6000), C2, 33335, DNS, 53, 0, 0);
    /* garbage: a truncated IPv4 header, IHL 2, an ARP frame */
    uint8_t g[128];
    size_t gn = mend_pcap_build_udp4(g, sizeof g, C1, 1, C2, 2, "zz", 2);
    pw_frame(pw, T0 + MS(6500), g, 24, gn); /* 14 + 10 bytes of IP captured */
    g[14] = 0x42;
    pw_frame(pw, T0 + MS(6600), g, gn, gn);
    g[14] = 0x45;
    g[12] = 0x08, g[13] = 0x06;
    pw_frame(pw, T0 + MS(6700), g, gn, gn);
    /* interval 2 [T0+10s, T0+20s): a clean exchange on :80 with a 200, 30 ms handshake */
    pw_tcp(pw, T0 + MS(15000), C2, 40003, SRV, 80, SYN, 3000, 0, NULL);
    pw_tcp(pw, T0 + MS(15020), SRV, 80, C2, 40003, SYN | ACK, 9000, 3001, NULL);
    pw_tcp(pw, T0 + MS(15030), C2, 40003, SRV, 80, ACK, 3001, 9001, NULL);
    pw_tcp(pw, T0 + MS(15040), C2, 40003, SRV, 80, PSH | ACK, 3001, 9001, data100);
    pw_tcp(pw, T0 + MS(15050), SRV, 80, C2, 40003, PSH | ACK, 9001, 3101, "HTTP/1.0 200 OK\r\n\r\n");
    pw_tcp(pw, T0 + MS(15060), C2, 40003, SRV, 80, FIN | ACK, 3101, 9020, NULL);
    /* another unanswered SYN to :22; the capture ends before its timeout */
    pw_tcp(pw, T0 + MS(18000), C1, 40004, SSH, 22, SYN, 4000, 0, NULL);
    g[12] = 0x08, g[13] = 0x06;
    pw_frame(pw, T0 + MS(18500), g, gn, gn);
    assert_int_equal(fclose(pw->f), 0);
}

struct rowset {
    struct mend_pcap_row r[32];
    char host[32][48];
    int n;
};

static int keep_row(void *ctx, const struct mend_pcap_row *r)
{
    struct rowset *rs = ctx;
    assert_true(rs->n < 32);
    rs->r[rs->n] = *r;
    snprintf(rs->host[rs->n], sizeof rs->host[0], "%s", r->host);
    rs->r[rs->n].host = rs->host[rs->n];
    rs->n++;
    return 0;
}

static const struct mend_pcap_row *find_row(const struct rowset *rs, int64_t t, const char *host, int port)
{
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].time_ns == t && !strcmp(rs->r[i].host, host) && rs->r[i].port == port)
            return &rs->r[i];
    fail_msg("no row %s:%d at %" PRId64, host, port, t);
    return NULL;
}

#define ROW(r, pk, by, sy, un, rs_, re, dn, h5)                                              \
    do {                                                                                     \
        assert_int_equal((r)->packets, pk);                                                  \
        assert_int_equal((r)->bytes, by);                                                    \
        assert_int_equal((r)->syn, sy);                                                      \
        assert_int_equal((r)->unanswered, un);                                               \
        assert_int_equal((r)->resets, rs_);                                                  \
        assert_int_equal((r)->retrans, re);                                                  \
        assert_int_equal((r)->dns_errors, dn);                                               \
        assert_int_equal((r)->http_5xx, h5);                                                 \
    } while (0)

/* Reads a capture file through libpcap's offline API into rows, the way the
 * input kind does (no stream). */
#include <pcap/pcap.h>
static void read_capture(const char *path, const struct mend_pcap_conf *c, struct rowset *rs,
                         struct mend_pcap_stats *st)
{
    char eb[PCAP_ERRBUF_SIZE];
    struct mend_pcap_agg *a;
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
    assert_non_null(pc);
    assert_int_equal(mend_pcap_agg_new(c, keep_row, rs, &a), 0);
    struct pcap_pkthdr *h;
    const u_char *d;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        int64_t t = (int64_t)h->ts.tv_sec * 1000000000LL + h->ts.tv_usec;
        assert_true(mend_pcap_agg_packet(a, pcap_datalink(pc), t, d, h->caplen, h->len, NULL) >= 0);
    }
    assert_int_equal(mend_pcap_agg_finish(a), 0);
    mend_pcap_agg_stats(a, st);
    mend_pcap_agg_free(a);
    pcap_close(pc);
}

static void test_agg_hand_counted(void **state)
{
    (void)state;
    struct pw pw;
    struct rowset rs = {.n = 0};
    struct mend_pcap_conf c;
    struct mend_pcap_stats st;
    write_scenario(&pw);
    mend_pcap_conf_defaults(&c);
    read_capture(pw.path, &c, &rs, &st);

    assert_int_equal(rs.n, 5);
    const int64_t e1 = T0 + S(10), e2 = T0 + S(20);
    const struct mend_pcap_row *r = find_row(&rs, e1, "10.0.0.5", 80);
    /* flow 1: 7 frames, 54*4 + 72 + 90*2 = 468 bytes; flow 2: 4 * 54 = 216 */
    ROW(r, 11, 684, 2, 0, 1, 2, 0, 1);
    assert_int_equal(r->rtt_n, 1);
    assert_float_equal(r->rtt_ms, 30.0, 1e-9);
    r = find_row(&rs, e1, "10.0.0.6", 22);
    ROW(r, 1, 54, 1, 1, 0, 0, 0, 0);
    assert_int_equal(r->rtt_n, 0);
    r = find_row(&rs, e1, "10.0.0.53", 53);
    ROW(r, 5, 270, 3, 1, 0, 0, 1, 0);
    r = find_row(&rs, e2, "10.0.0.5", 80);
    /* 54*4 + 154 + 73 = 443 */
    ROW(r, 6, 443, 1, 0, 0, 0, 0, 0);
    assert_int_equal(r->rtt_n, 1);
    assert_float_equal(r->rtt_ms, 30.0, 1e-9);
    r = find_row(&rs, e2, "10.0.0.6", 22);
    ROW(r, 1, 54, 1, 1, 0, 0, 0, 0);

    assert_int_equal(st.packets, pw.n);
    assert_int_equal(st.packets, 28);
    assert_int_equal(st.decoded, 24);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(st.other, 2);
    assert_int_equal(st.flows, 8);
    assert_int_equal(st.flows_evicted, 0);
    assert_int_equal(st.rows, 5);

    /* tcpdump reads what the writer wrote, frame for frame */
    if (access("/usr/bin/tcpdump", X_OK) == 0) {
        char cmd[160], line[64] = "";
        snprintf(cmd, sizeof cmd, "/usr/bin/tcpdump -nn -r %s 2>/dev/null | wc -l", pw.path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(line, sizeof line, p));
        pclose(p);
        assert_int_equal(atoi(line), (int)pw.n);
    }
    unlink(pw.path);
}

/* A short interval and a long gap: rows land in the intervals they belong
 * to, and the empty intervals in between produce nothing. */
static void test_agg_intervals_and_gap(void **state)
{
    (void)state;
    struct pw pw;
    struct rowset rs = {.n = 0};
    struct mend_pcap_conf c;
    struct mend_pcap_stats st;
    pw_open(&pw);
    pw_dns(&pw, T0 + MS(100), C1, 40000, DNS, 53, 0, 0);    /* unanswered at T0+0.6 */
    pw_dns(&pw, T0 + S(3600), C1, 40001, DNS, 53, 0, 0);    /* an hour later */
    pw_dns(&pw, T0 + S(3600) + MS(1), DNS, 53, C1, 40001, 1, 2);
    assert_int_equal(fclose(pw.f), 0);
    mend_pcap_conf_defaults(&c);
    c.interval_ns = S(1);
    c.reply_timeout_ns = MS(500);
    read_capture(pw.path, &c, &rs, &st);
    assert_int_equal(rs.n, 2);
    ROW(&rs.r[0], 1, 54, 1, 1, 0, 0, 0, 0);
    assert_int_equal(rs.r[0].time_ns, T0 + S(1));
    ROW(&rs.r[1], 2, 108, 1, 0, 0, 0, 1, 0);
    assert_int_equal(rs.r[1].time_ns, T0 + S(3601));
    assert_int_equal(st.flows_idle, 1); /* the first flow, idle for an hour */
    unlink(pw.path);
}

/* Caps: flows (LRU eviction counts a waiting attempt as unanswered), idle
 * eviction, rows per interval. */
static void test_agg_caps(void **state)
{
    (void)state;
    struct rowset rs = {.n = 0};
    struct mend_pcap_conf c;
    struct mend_pcap_agg *a;
    struct mend_pcap_stats st;
    uint8_t b[256], h[12] = {0};
    mend_pcap_conf_defaults(&c);
    c.max_flows = 2;
    assert_int_equal(mend_pcap_agg_new(&c, keep_row, &rs, &a), 0);
    for (uint16_t i = 0; i < 5; i++) {
        size_t n = mend_pcap_build_udp4(b, sizeof b, C1, (uint16_t)(30000 + i), DNS, 53, h, sizeof h);
        assert_int_equal(mend_pcap_agg_packet(a, 1, T0 + MS(i), b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    }
    mend_pcap_agg_stats(a, &st);
    assert_int_equal(st.flows, 5);
    assert_int_equal(st.flows_evicted, 3);
    assert_int_equal(st.flows_open, 2);
    assert_int_equal(mend_pcap_agg_finish(a), 0);
    assert_int_equal(rs.n, 1);
    ROW(&rs.r[0], 5, 270, 5, 5, 0, 0, 0, 0); /* 3 evicted + 2 at the end, all unanswered */
    mend_pcap_agg_free(a);

    /* rows: one per interval; the second server's packets are dropped and counted */
    rs.n = 0;
    mend_pcap_conf_defaults(&c);
    c.max_rows = 1;
    c.idle_timeout_ns = S(1);
    assert_int_equal(mend_pcap_agg_new(&c, keep_row, &rs, &a), 0);
    size_t n = mend_pcap_build_udp4(b, sizeof b, C1, 30000, DNS, 53, h, sizeof h);
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0, b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    n = mend_pcap_build_udp4(b, sizeof b, C1, 30000, SSH, 53, h, sizeof h);
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0 + MS(1), b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0 + MS(2), b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    /* 2 s later both flows are idle: evicted before this packet is counted */
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0 + S(3), b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    mend_pcap_agg_stats(a, &st);
    assert_int_equal(st.rows_dropped, 3);
    assert_int_equal(st.flows_idle, 2);
    assert_int_equal(st.flows, 3);
    assert_int_equal(mend_pcap_agg_finish(a), 0);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.r[0].host, "10.0.0.53");
    mend_pcap_agg_free(a);

    /* UDP: the first datagram's receiver serves (here the higher port),
     * unless it came from a port below 1024 to one above (an answer seen first) */
    rs.n = 0;
    mend_pcap_conf_defaults(&c);
    assert_int_equal(mend_pcap_agg_new(&c, keep_row, &rs, &a), 0);
    n = mend_pcap_build_udp4(b, sizeof b, C1, 5000, C2, 6000, h, sizeof h);
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0, b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    n = mend_pcap_build_udp4(b, sizeof b, C2, 7000, C1, 5001, h, sizeof h);
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0, b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    n = mend_pcap_build_udp4(b, sizeof b, DNS, 53, C1, 40000, h, sizeof h);
    assert_int_equal(mend_pcap_agg_packet(a, 1, T0, b, n, (uint32_t)n, NULL), MEND_PKT_OK);
    assert_int_equal(mend_pcap_agg_finish(a), 0);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.r[0].host, "10.0.0.2");
    assert_int_equal(rs.r[0].port, 6000);
    assert_string_equal(rs.r[1].host, "10.0.0.1");
    assert_int_equal(rs.r[1].port, 5001);
    assert_string_equal(rs.r[2].host, "10.0.0.53");
    assert_int_equal(rs.r[2].port, 53);
    mend_pcap_agg_free(a);

    /* stamps before 1970 or past the range are malformed, not trusted */
    mend_pcap_conf_defaults(&c);
    assert_int_equal(mend_pcap_agg_new(&c, keep_row, &rs, &a), 0);
    assert_int_equal(mend_pcap_agg_packet(a, 1, -1, b, n, (uint32_t)n, NULL), MEND_PKT_MALFORMED);
    assert_int_equal(mend_pcap_agg_packet(a, 1, INT64_MAX, b, n, (uint32_t)n, NULL), MEND_PKT_MALFORMED);
    mend_pcap_agg_stats(a, &st);
    assert_int_equal(st.malformed, 2);
    assert_int_equal(st.flows, 0);
    mend_pcap_agg_free(a);

    /* out-of-range options */
    mend_pcap_conf_defaults(&c);
    c.max_flows = 0;
    assert_int_equal(mend_pcap_agg_new(&c, keep_row, &rs, &a), MEND_EINVAL);
    mend_pcap_conf_defaults(&c);
    c.interval_ns = 1000;
    assert_int_equal(mend_pcap_agg_new(&c, keep_row, &rs, &a), MEND_EINVAL);
}

static void test_conf_parse(void **state)
{
    (void)state;
    struct mend_pcap_conf c;
    char err[256];
    mend_pcap_conf_defaults(&c);
    assert_int_equal(mend_pcap_conf_parse(&c, "interval=5s&max_flows=100&budget=64&promisc=1"
                                              "&filter=tcp port 80 && host 10.0.0.5",
                                          err, sizeof err),
                     0);
    assert_int_equal(c.interval_ns, S(5));
    assert_int_equal(c.max_flows, 100);
    assert_int_equal(c.budget, 64);
    assert_int_equal(c.promisc, 1);
    assert_string_equal(c.filter, "tcp port 80 && host 10.0.0.5");
    assert_int_equal(mend_pcap_conf_parse(&c, "interval=0s", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "interval"));
    assert_int_equal(c.interval_ns, S(5)); /* unchanged on error */
    assert_int_equal(mend_pcap_conf_parse(&c, "max_flows=0", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_pcap_conf_parse(&c, "snaplen=10", err, sizeof err), MEND_EINVAL);
    assert_int_equal(mend_pcap_conf_parse(&c, "colour=red", err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "unknown"));
    assert_int_equal(mend_pcap_conf_parse(&c, "interval", err, sizeof err), MEND_EINVAL);
}

/* ---- through the input set ------------------------------------------------------- */

struct rec {
    char *out;
    size_t len, cap;
    unsigned points, errors;
};

static int rec_point(void *ctx, const struct mend_point *p)
{
    struct rec *r = ctx;
    char line[512];
    int n = snprintf(line, sizeof line, "%.*s|%.*s|%" PRId64 "|%g\n", (int)p->key_len, p->key,
                     (int)p->entity_len, p->entity ? p->entity : "", p->time_ns, p->value);
    assert_true(n > 0 && (size_t)n < sizeof line);
    if (r->len + (size_t)n + 1 > r->cap) {
        r->cap = (r->cap + (size_t)n + 1) * 2;
        r->out = realloc(r->out, r->cap);
        assert_non_null(r->out);
    }
    memcpy(r->out + r->len, line, (size_t)n + 1);
    r->len += (size_t)n;
    r->points++;
    return 0;
}

static void rec_error(void *ctx, const char *stream, uint64_t nth, uint64_t line, uint32_t col,
                      const char *why)
{
    struct rec *r = ctx;
    (void)stream, (void)nth, (void)line, (void)col, (void)why;
    r->errors++;
}

/* Runs specs through a set (merge: replay; else live reading) to the end. */
static int run_set(int merge, const char *fmt, const char *spec, struct rec *r, char *err, size_t errlen)
{
    struct mend_loop *loop;
    struct mend_inputs *s;
    struct mend_input_conf ic;
    struct mend_input_host h = {rec_point, rec_error, r};
    mend_input_conf_defaults(&ic);
    ic.merge = merge;
    ic.format = fmt;
    assert_int_equal(mend_loop_new(MEND_CLOCK_EVENT, &loop), 0);
    assert_int_equal(mend_inputs_new(&ic, loop, &h, &s), 0);
    assert_int_equal(mend_inputs_register(s, &mend_pcap_file_ops), 0);
    assert_int_equal(mend_inputs_register(s, &mend_pcap_live_ops), 0);
    int rc = mend_inputs_add(s, spec, err, errlen);
    for (int i = 0; rc == 0 && !mend_inputs_done(s); i++) {
        assert_true(i < 100000);
        assert_true(mend_inputs_step(s, 4096) >= 0);
        assert_true(mend_loop_run_once(loop, 0) >= 0);
    }
    if (rc == 0)
        assert_int_equal(mend_inputs_shutdown(s), 0);
    mend_inputs_free(s);
    mend_loop_free(loop);
    return rc;
}

static void test_input_kind_end_to_end(void **state)
{
    (void)state;
    struct pw pw;
    char err[512], spec[160], want[256];
    write_scenario(&pw);
    for (int merge = 0; merge <= 1; merge++) {
        struct rec r = {0};
        /* input.format set to csv for other inputs: the capture still speaks lp */
        assert_int_equal(run_set(merge, "csv", pw.path, &r, err, sizeof err), 0);
        assert_int_equal(r.errors, 0);
        /* 5 rows x 8 counters + 2 rows with rtt_ms */
        assert_int_equal(r.points, 42);
        snprintf(want, sizeof want,
                 "net,host=10.0.0.5,port=80 packets|10.0.0.5|%" PRId64 "|11\n"
                 "net,host=10.0.0.5,port=80 bytes|10.0.0.5|%" PRId64 "|684\n",
                 T0 + S(10), T0 + S(10));
        assert_non_null(strstr(r.out, want));
        snprintf(want, sizeof want, "net,host=10.0.0.5,port=80 rtt_ms|10.0.0.5|%" PRId64 "|30\n",
                 T0 + S(20));
        assert_non_null(strstr(r.out, want));
        snprintf(want, sizeof want, "net,host=10.0.0.53,port=53 dns_errors|10.0.0.53|%" PRId64 "|1\n",
                 T0 + S(10));
        assert_non_null(strstr(r.out, want));
        snprintf(want, sizeof want, "net,host=10.0.0.6,port=22 unanswered|10.0.0.6|%" PRId64 "|1\n",
                 T0 + S(20));
        assert_non_null(strstr(r.out, want));
        free(r.out);
    }
    /* options and a BPF filter through the spec: only DNS, 1 s intervals */
    struct rec r = {0};
    snprintf(spec, sizeof spec, "pcap:%s?interval=1s&filter=udp port 53", pw.path);
    assert_int_equal(run_set(1, NULL, spec, &r, err, sizeof err), 0);
    assert_int_equal(r.points, 16); /* rows at T0+6s and T0+7s */
    assert_null(strstr(r.out, "port=80"));
    snprintf(want, sizeof want, "net,host=10.0.0.53,port=53 syn|10.0.0.53|%" PRId64 "|2\n", T0 + S(6));
    assert_non_null(strstr(r.out, want));
    free(r.out);

    /* errors name the spec */
    memset(&r, 0, sizeof r);
    snprintf(spec, sizeof spec, "pcap:%s?filter=tcp port", pw.path);
    assert_int_equal(run_set(1, NULL, spec, &r, err, sizeof err), MEND_EINVAL);
    assert_non_null(strstr(err, "filter"));
    assert_int_equal(run_set(1, NULL, "pcap:/nonexistent.pcap", &r, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "/nonexistent.pcap"));
    assert_int_equal(run_set(1, NULL, "pcap://lo", &r, err, sizeof err), MEND_EINVAL); /* live only */
    assert_int_equal(run_set(0, NULL, "pcap://nosuchif0?budget=8", &r, err, sizeof err), MEND_EIO);
    assert_non_null(strstr(err, "nosuchif0"));
    assert_int_equal(run_set(0, NULL, "pcap://lo?budget=0", &r, err, sizeof err), MEND_EINVAL);
    free(r.out);
    unlink(pw.path);
}

/* A file named anything is claimed by its magic number; a text file is not. */
static void test_claims_by_magic(void **state)
{
    (void)state;
    struct pw pw;
    pw_open(&pw);
    pw_dns(&pw, T0, C1, 40000, DNS, 53, 0, 0);
    assert_int_equal(fclose(pw.f), 0);
    assert_int_equal(mend_pcap_file_ops.claims(pw.path), 1);
    assert_int_equal(mend_pcap_file_ops.claims("x.pcapng"), 1);
    assert_int_equal(mend_pcap_file_ops.claims("tests/fixtures/nonexistent.lp"), 0);
    assert_int_equal(mend_pcap_file_ops.claims("-"), 0);
    assert_int_equal(mend_pcap_file_ops.claims("pcap://eth0"), 0);
    assert_int_equal(mend_pcap_live_ops.claims("pcap://eth0"), 1);
    FILE *f = fopen(pw.path, "w");
    fputs("cpu v=1 1\n", f);
    fclose(f);
    assert_int_equal(mend_pcap_file_ops.claims(pw.path), 0);
    unlink(pw.path);
}

/* pcapng (libpcap's offline API reads it too): a section header, one
 * interface (Ethernet, default microsecond stamps), enhanced packet blocks. */
static void le32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    assert_int_equal(fwrite(b, 1, 4, f), 4);
}

static void epb(FILE *f, int64_t t_ns, const uint8_t *frame, uint32_t n)
{
    uint32_t pad = (4 - n % 4) % 4, len = 32 + n + pad;
    uint64_t us = (uint64_t)(t_ns / 1000);
    le32(f, 6);
    le32(f, len);
    le32(f, 0);
    le32(f, (uint32_t)(us >> 32));
    le32(f, (uint32_t)us);
    le32(f, n);
    le32(f, n);
    assert_int_equal(fwrite(frame, 1, n, f), n);
    for (uint32_t i = 0; i < pad; i++)
        fputc(0, f);
    le32(f, len);
}

static void test_pcapng_file(void **state)
{
    (void)state;
    char path[] = "/tmp/mend_test_pcapng_XXXXXX", err[256], want[160];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    le32(f, 0x0a0d0d0a), le32(f, 28), le32(f, 0x1a2b3c4d), le32(f, 0x00000001); /* v1.0 */
    le32(f, 0xffffffff), le32(f, 0xffffffff), le32(f, 28);                   /* length unknown */
    le32(f, 1), le32(f, 20), le32(f, 1), le32(f, 65535), le32(f, 20);        /* IDB: Ethernet */
    uint8_t b[256], h[12] = {0x12, 0x34, 0x01, 0x00};
    size_t n = mend_pcap_build_udp4(b, sizeof b, C1, 33333, DNS, 53, h, sizeof h);
    epb(f, T0 + S(1), b, (uint32_t)n);
    h[2] = 0x81, h[3] = 0x82; /* SERVFAIL */
    n = mend_pcap_build_udp4(b, sizeof b, DNS, 53, C1, 33333, h, sizeof h);
    epb(f, T0 + S(1) + MS(2), b, (uint32_t)n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(mend_pcap_file_ops.claims(path), 1); /* by the magic number */
    struct rec r = {0};
    assert_int_equal(run_set(1, NULL, path, &r, err, sizeof err), 0);
    assert_int_equal(r.points, 8);
    snprintf(want, sizeof want, "net,host=10.0.0.53,port=53 dns_errors|10.0.0.53|%" PRId64 "|1\n", T0 + S(10));
    assert_non_null(strstr(r.out, want));
    snprintf(want, sizeof want, "net,host=10.0.0.53,port=53 packets|10.0.0.53|%" PRId64 "|2\n", T0 + S(10));
    assert_non_null(strstr(r.out, want));
    free(r.out);
    unlink(path);
}

/* Live capture on the loopback interface, when this process may capture
 * (root or CAP_NET_RAW; skipped otherwise): UDP datagrams to a port nobody
 * listens on, a BPF filter for that port, 50 ms intervals closed by the
 * input's timer on the loop's clock. */
static void test_live_loopback(void **state)
{
    (void)state;
    char eb[PCAP_ERRBUF_SIZE], spec[128], err[256], want[96];
    pcap_t *probe = pcap_create("lo", eb);
    int can = probe && pcap_activate(probe) >= 0;
    if (probe)
        pcap_close(probe);
    if (!can) {
        skip();
        return;
    }
    struct rec r = {0};
    struct mend_loop *loop;
    struct mend_inputs *s;
    struct mend_input_conf ic;
    struct mend_input_host h = {rec_point, rec_error, &r};
    mend_input_conf_defaults(&ic);
    assert_int_equal(mend_loop_new(MEND_CLOCK_MONOTONIC, &loop), 0);
    assert_int_equal(mend_inputs_new(&ic, loop, &h, &s), 0);
    assert_int_equal(mend_inputs_register(s, &mend_pcap_live_ops), 0);
    int port = 30000 + (int)(getpid() % 20000);
    snprintf(spec, sizeof spec, "pcap://lo?interval=50ms&budget=2&filter=udp dst port %d", port);
    assert_int_equal(mend_inputs_add(s, spec, err, sizeof err), 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sendto(fd, "ping", 4, 0, (struct sockaddr *)&sa, sizeof sa), 4);
    close(fd);
    snprintf(want, sizeof want, "net,host=127.0.0.1,port=%d packets|127.0.0.1|", port);
    /* every datagram lands in a row of (127.0.0.1, port) -- one row, or two
     * if an interval boundary fell between the sends; read in budget-sized
     * bites */
    long total = 0;
    for (int i = 0; i < 300 && total < 5; i++) {
        assert_true(mend_loop_run_once(loop, 10) >= 0);
        total = 0;
        for (const char *at = r.out ? strstr(r.out, want) : NULL; at; at = strstr(at + 1, want)) {
            const char *nl = strchr(at, '\n');
            const char *bar = nl;
            while (bar > at && bar[-1] != '|')
                bar--;
            total += strtol(bar, NULL, 10);
        }
    }
    if (total != 5) {
        struct mend_inputs_stats ist;
        mend_inputs_stats(s, &ist);
        fprintf(stderr, "live: %ld packets seen; errors %u, input errors %llu (%s); got:\n%s\n", total,
                r.errors, (unsigned long long)ist.errors, mend_inputs_last_error(s), r.out ? r.out : "");
    }
    assert_int_equal(total, 5);
    mend_inputs_free(s);
    mend_loop_free(loop);
    free(r.out);
}

/* `mend replay capture.pcap` (the binary of this build, as `make test`
 * names it): the kinds are registered in the pipeline. */
static void test_cli_replay(void **state)
{
    (void)state;
    const char *bin = getenv("MEND_BIN");
    if (!bin) {
        skip();
        return;
    }
    struct pw pw;
    char cmd[512], line[256], scores[] = "/tmp/mend_test_pcap_scores_XXXXXX";
    write_scenario(&pw);
    int fd = mkstemp(scores);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s replay --quiet --scores %s %s 2>&1", bin, scores, pw.path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof line, p))
        fprintf(stderr, "mend: %s", line);
    assert_int_equal(pclose(p), 0);
    FILE *f = fopen(scores, "r");
    assert_non_null(f);
    int seen = 0;
    snprintf(cmd, sizeof cmd, "\"net,host=10.0.0.5,port=80 http_5xx\",%" PRId64 ",1,", T0 + S(10));
    while (fgets(line, sizeof line, f))
        seen += strncmp(line, cmd, strlen(cmd)) == 0;
    fclose(f);
    assert_int_equal(seen, 1);
    unlink(scores);
    unlink(pw.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_ethernet_tcp_udp),
        cmocka_unit_test(test_decode_link_types_and_truncation),
        cmocka_unit_test(test_decode_malformed_and_other),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_agg_hand_counted),
        cmocka_unit_test(test_agg_intervals_and_gap),
        cmocka_unit_test(test_agg_caps),
        cmocka_unit_test(test_conf_parse),
        cmocka_unit_test(test_input_kind_end_to_end),
        cmocka_unit_test(test_claims_by_magic),
        cmocka_unit_test(test_pcapng_file),
        cmocka_unit_test(test_live_loopback),
        cmocka_unit_test(test_cli_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
