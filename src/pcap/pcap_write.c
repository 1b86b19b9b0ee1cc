/* pcap_write.c -- a minimal classic-pcap writer and frame builders (see
 * pcap.h), so tests and the bench can make capture files with exactly known
 * contents without a capture: little-endian, nanosecond magic (a1b23c4d),
 * which libpcap and tcpdump read. Checksums are left zero: the decoder does
 * not check them and tcpdump only comments on them with -vv. */
#include "mend/pcap.h"

#include <string.h>

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int mend_pcap_writer_init(struct mend_pcap_writer *w, FILE *f, int link, uint32_t snaplen)
{
    uint8_t h[24];
    w->f = f;
    w->link = link;
    w->snaplen = snaplen;
    w->failed = 0;
    le32(h, 0xa1b23c4du);
    h[4] = 2, h[5] = 0, h[6] = 4, h[7] = 0; /* version 2.4 */
    le32(h + 8, 0);                          /* thiszone */
    le32(h + 12, 0);                         /* sigfigs */
    le32(h + 16, snaplen);
    le32(h + 20, (uint32_t)link);
    if (fwrite(h, 1, sizeof h, f) != sizeof h)
        w->failed = 1;
    return w->failed ? MEND_EIO : MEND_OK;
}

int mend_pcap_writer_frame(struct mend_pcap_writer *w, int64_t t_ns, const void *frame,
                           uint32_t caplen, uint32_t orig_len)
{
    uint8_t h[16];
    if (w->failed)
        return MEND_EIO;
    if (t_ns < 0 || caplen > orig_len)
        return MEND_EINVAL;
    le32(h, (uint32_t)(t_ns / 1000000000LL));
    le32(h + 4, (uint32_t)(t_ns % 1000000000LL));
    le32(h + 8, caplen);
    le32(h + 12, orig_len);
    if (fwrite(h, 1, sizeof h, w->f) != sizeof h ||
        (caplen && fwrite(frame, 1, caplen, w->f) != caplen))
        w->failed = 1;
    return w->failed ? MEND_EIO : MEND_OK;
}

/* Ethernet + IPv4 header for an l4_len-byte transport segment; returns 34. */
static size_t eth_ip4(uint8_t *b, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                      size_t l4_len)
{
    static const uint8_t mac_d[6] = {0x02, 0, 0, 0, 0, 0x02}, mac_s[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(b, mac_d, 6);
    memcpy(b + 6, mac_s, 6);
    be16(b + 12, 0x0800);
    uint8_t *ip = b + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    be16(ip + 2, (uint32_t)(20 + l4_len));
    be16(ip + 6, 0x4000); /* don't fragment */
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    return 34;
}

size_t mend_pcap_build_tcp4(uint8_t *buf, size_t cap, const uint8_t src[4], uint16_t sport,
                            const uint8_t dst[4], uint16_t dport, uint8_t flags, uint32_t seq,
                            uint32_t ack, const void *payload, size_t len)
{
    if (len > 65535 - 40 || cap < 54 + len)
        return 0;
    size_t o = eth_ip4(buf, src, dst, MEND_PKT_TCP, 20 + len);
    uint8_t *t = buf + o;
    memset(t, 0, 20);
    be16(t, sport);
    be16(t + 2, dport);
    be32(t + 4, seq);
    be32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    be16(t + 14, 65535); /* window */
    if (len)
        memcpy(t + 20, payload, len);
    return o + 20 + len;
}

size_t mend_pcap_build_udp4(uint8_t *buf, size_t cap, const uint8_t src[4], uint16_t sport,
                            const uint8_t dst[4], uint16_t dport, const void *payload, size_t len)
{
    if (len > 65535 - 28 || cap < 42 + len)
        return 0;
    size_t o = eth_ip4(buf, src, dst, MEND_PKT_UDP, 8 + len);
    uint8_t *u = buf + o;
    be16(u, sport);
    be16(u + 2, dport);
    be16(u + 4, (uint32_t)(8 + len));
    be16(u + 6, 0);
    if (len)
        memcpy(u + 8, payload, len);
    return o + 8 + len;
}
