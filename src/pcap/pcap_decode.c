/* pcap_decode.c -- src/pcap/ holds mend's packet side (see pcap.h): this
 * decoder, the traffic aggregator (pcap_agg.c), the capture-file writer
 * (pcap_write.c) and the libpcap input kinds (in_pcap.c).
 *
 * This file turns one captured frame into a struct mend_pkt: link layer
 * (Ethernet with stacked 802.1Q/802.1ad tags, Linux cooked SLL and SLL2, BSD
 * loopback, raw IP), IPv4 with options, IPv6 with extension headers, TCP or
 * UDP. It trusts nothing: every read goes through a cursor that knows the
 * captured length, and every length field is checked against what it must
 * hold before it is used. Pure and allocation-free, so it is also the
 * fuzz target's entry point. */
#include "mend/pcap.h"

#include <string.h>

struct cur {
    const uint8_t *p;
    size_t len; /* captured bytes from p on */
};

static int have(const struct cur *c, size_t n)
{
    return c->len >= n;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void skip(struct cur *c, size_t n)
{
    c->p += n;
    c->len -= n;
}

#define FAIL(code, text)                                                                         \
    do {                                                                                         \
        if (why)                                                                                 \
            *why = (text);                                                                       \
        return (code);                                                                           \
    } while (0)

int mend_pcap_link_ok(int link)
{
    switch (link) {
    case MEND_PCAP_LINK_NULL:
    case MEND_PCAP_LINK_ETHERNET:
    case MEND_PCAP_LINK_RAW:
    case 12: /* DLT_RAW as most systems number it in memory */
    case 14: /* DLT_RAW on OpenBSD */
    case MEND_PCAP_LINK_LINUX_SLL:
    case MEND_PCAP_LINK_IPV4:
    case MEND_PCAP_LINK_IPV6:
    case MEND_PCAP_LINK_LINUX_SLL2:
        return 1;
    default:
        return 0;
    }
}

/* TCP or UDP at c; l4_len is what the IP layer says the segment holds (may
 * exceed what was captured). */
static int decode_l4(struct cur *c, uint8_t proto, size_t l4_len, struct mend_pkt *out,
                     const char **why)
{
    size_t hl;
    if (proto == MEND_PKT_TCP) {
        if (l4_len < 20)
            FAIL(MEND_PKT_MALFORMED, "tcp: segment shorter than 20 bytes");
        if (!have(c, 20))
            FAIL(MEND_PKT_TRUNCATED, "tcp: header cut off");
        hl = (size_t)(c->p[12] >> 4) * 4;
        if (hl < 20)
            FAIL(MEND_PKT_MALFORMED, "tcp: data offset < 5");
        if (hl > l4_len)
            FAIL(MEND_PKT_MALFORMED, "tcp: header longer than the segment");
        if (!have(c, hl))
            FAIL(MEND_PKT_TRUNCATED, "tcp: options cut off");
        out->sport = rd16(c->p);
        out->dport = rd16(c->p + 2);
        out->seq = rd32(c->p + 4);
        out->ack = rd32(c->p + 8);
        out->tcp_flags = c->p[13];
    } else {
        if (l4_len < 8)
            FAIL(MEND_PKT_MALFORMED, "udp: datagram shorter than 8 bytes");
        if (!have(c, 8))
            FAIL(MEND_PKT_TRUNCATED, "udp: header cut off");
        size_t ulen = rd16(c->p + 4);
        if (ulen < 8)
            FAIL(MEND_PKT_MALFORMED, "udp: length < 8");
        if (ulen > l4_len)
            FAIL(MEND_PKT_MALFORMED, "udp: length beyond the IP payload");
        l4_len = ulen; /* trailing bytes past the datagram are padding */
        hl = 8;
        out->sport = rd16(c->p);
        out->dport = rd16(c->p + 2);
        out->seq = out->ack = 0;
        out->tcp_flags = 0;
    }
    out->proto = proto;
    skip(c, hl);
    out->payload_len = (uint32_t)(l4_len - hl);
    out->payload = c->p;
    out->payload_cap = (uint32_t)(c->len < l4_len - hl ? c->len : l4_len - hl);
    return MEND_PKT_OK;
}

static int decode_ipv4(struct cur *c, struct mend_pkt *out, const char **why)
{
    if (!have(c, 20))
        FAIL(MEND_PKT_TRUNCATED, "ipv4: header cut off");
    if (c->p[0] >> 4 != 4)
        FAIL(MEND_PKT_MALFORMED, "ipv4: version is not 4");
    size_t ihl = (size_t)(c->p[0] & 0x0f) * 4;
    size_t total = rd16(c->p + 2);
    if (ihl < 20)
        FAIL(MEND_PKT_MALFORMED, "ipv4: header length < 20");
    if (total == 0) /* a segmentation-offload send captured before the NIC split it (as tcpdump reads it) */
        total = c->len;
    if (total < ihl)
        FAIL(MEND_PKT_MALFORMED, "ipv4: total length < header length");
    if (!have(c, ihl))
        FAIL(MEND_PKT_TRUNCATED, "ipv4: options cut off");
    uint16_t frag = rd16(c->p + 6);
    uint8_t proto = c->p[9];
    memset(out, 0, sizeof *out);
    out->family = 4;
    memcpy(out->src, c->p + 12, 4);
    memcpy(out->dst, c->p + 16, 4);
    if (frag & 0x1fff)
        FAIL(MEND_PKT_OTHER, "ipv4: a later fragment (no transport header)");
    if (proto != MEND_PKT_TCP && proto != MEND_PKT_UDP)
        FAIL(MEND_PKT_OTHER, "ipv4: neither TCP nor UDP");
    skip(c, ihl);
    /* a first fragment's transport header is there; its length is the fragment's */
    return decode_l4(c, proto, total - ihl, out, why);
}

static int decode_ipv6(struct cur *c, struct mend_pkt *out, const char **why)
{
    if (!have(c, 40))
        FAIL(MEND_PKT_TRUNCATED, "ipv6: header cut off");
    if (c->p[0] >> 4 != 6)
        FAIL(MEND_PKT_MALFORMED, "ipv6: version is not 6");
    size_t plen = rd16(c->p + 4);
    uint8_t nh = c->p[6];
    memset(out, 0, sizeof *out);
    out->family = 6;
    memcpy(out->src, c->p + 8, 16);
    memcpy(out->dst, c->p + 24, 16);
    skip(c, 40);
    if (plen == 0) /* a jumbogram (hop-by-hop option) or bogus: take what was captured */
        plen = c->len;
    for (int n = 0;; n++) {
        size_t hl;
        switch (nh) {
        case MEND_PKT_TCP:
        case MEND_PKT_UDP:
            return decode_l4(c, nh, plen, out, why);
        case 0:  /* hop-by-hop */
        case 43: /* routing */
        case 60: /* destination options */
        case 135: /* mobility */
            if (!have(c, 2))
                FAIL(MEND_PKT_TRUNCATED, "ipv6: extension header cut off");
            hl = ((size_t)c->p[1] + 1) * 8;
            break;
        case 44: /* fragment */
            if (!have(c, 8))
                FAIL(MEND_PKT_TRUNCATED, "ipv6: fragment header cut off");
            if (rd16(c->p + 2) & 0xfff8)
                FAIL(MEND_PKT_OTHER, "ipv6: a later fragment (no transport header)");
            hl = 8;
            break;
        case 51: /* authentication header: length in 4-byte units minus 2 */
            if (!have(c, 2))
                FAIL(MEND_PKT_TRUNCATED, "ipv6: authentication header cut off");
            hl = ((size_t)c->p[1] + 2) * 4;
            break;
        default: /* ESP, ICMPv6, no next header, ... */
            FAIL(MEND_PKT_OTHER, "ipv6: neither TCP nor UDP");
        }
        if (n + 1 >= MEND_PCAP_MAX_EXT_HDRS)
            FAIL(MEND_PKT_MALFORMED, "ipv6: too many extension headers");
        if (hl > plen)
            FAIL(MEND_PKT_MALFORMED, "ipv6: extension header longer than the payload");
        if (!have(c, hl))
            FAIL(MEND_PKT_TRUNCATED, "ipv6: extension header cut off");
        nh = c->p[0];
        skip(c, hl);
        plen -= hl;
    }
}

/* The network layer named by an ethertype. */
static int decode_ethertype(struct cur *c, uint16_t type, struct mend_pkt *out, const char **why)
{
    if (type == 0x0800)
        return decode_ipv4(c, out, why);
    if (type == 0x86dd)
        return decode_ipv6(c, out, why);
    FAIL(MEND_PKT_OTHER, "link: not IP");
}

/* Raw IP: the version nibble says which. */
static int decode_ip(struct cur *c, struct mend_pkt *out, const char **why)
{
    if (!have(c, 1))
        FAIL(MEND_PKT_TRUNCATED, "ip: empty packet");
    if (c->p[0] >> 4 == 4)
        return decode_ipv4(c, out, why);
    if (c->p[0] >> 4 == 6)
        return decode_ipv6(c, out, why);
    FAIL(MEND_PKT_MALFORMED, "ip: version is neither 4 nor 6");
}

int mend_pcap_decode(int link, const uint8_t *frame, size_t caplen, struct mend_pkt *out,
                     const char **why)
{
    struct cur c = {frame, frame ? caplen : 0};
    uint16_t type;
    switch (link) {
    case MEND_PCAP_LINK_ETHERNET:
        if (!have(&c, 14))
            FAIL(MEND_PKT_TRUNCATED, "ethernet: header cut off");
        type = rd16(c.p + 12);
        skip(&c, 14);
        for (int n = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; n++) {
            if (n >= MEND_PCAP_MAX_VLAN)
                FAIL(MEND_PKT_MALFORMED, "vlan: too many stacked tags");
            if (!have(&c, 4))
                FAIL(MEND_PKT_TRUNCATED, "vlan: tag cut off");
            type = rd16(c.p + 2);
            skip(&c, 4);
        }
        if (type <= 1500) /* an 802.3 length: LLC/SNAP, not IP over Ethernet II */
            FAIL(MEND_PKT_OTHER, "ethernet: 802.3 frame");
        return decode_ethertype(&c, type, out, why);
    case MEND_PCAP_LINK_LINUX_SLL: /* 16 bytes, protocol last */
        if (!have(&c, 16))
            FAIL(MEND_PKT_TRUNCATED, "sll: header cut off");
        type = rd16(c.p + 14);
        skip(&c, 16);
        return decode_ethertype(&c, type, out, why);
    case MEND_PCAP_LINK_LINUX_SLL2: /* 20 bytes, protocol first */
        if (!have(&c, 20))
            FAIL(MEND_PKT_TRUNCATED, "sll2: header cut off");
        type = rd16(c.p);
        skip(&c, 20);
        return decode_ethertype(&c, type, out, why);
    case MEND_PCAP_LINK_NULL: {
        if (!have(&c, 4))
            FAIL(MEND_PKT_TRUNCATED, "null: header cut off");
        /* the family is in the writer's byte order: accept either */
        uint32_t fam = (uint32_t)c.p[0] | (uint32_t)c.p[1] << 8 | (uint32_t)c.p[2] << 16 |
                       (uint32_t)c.p[3] << 24;
        if (fam > 0xffff)
            fam = rd32(c.p);
        skip(&c, 4);
        if (fam == 2)
            return decode_ipv4(&c, out, why);
        if (fam == 24 || fam == 28 || fam == 30) /* AF_INET6 on the BSDs and macOS */
            return decode_ipv6(&c, out, why);
        FAIL(MEND_PKT_OTHER, "null: not IP");
    }
    case MEND_PCAP_LINK_RAW:
    case 12:
    case 14:
        return decode_ip(&c, out, why);
    case MEND_PCAP_LINK_IPV4:
        return decode_ipv4(&c, out, why);
    case MEND_PCAP_LINK_IPV6:
        return decode_ipv6(&c, out, why);
    default:
        FAIL(MEND_PKT_OTHER, "link: type not supported");
    }
}
