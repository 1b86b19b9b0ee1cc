/* pcap.h -- packets become signals: a bounds-checked packet decoder, a
 * traffic aggregator that turns packets into per-interval counts per host
 * and service port, a small capture-file writer (tests, bench), and the
 * libpcap input kinds that put it all behind input.h.
 *
 * Layers (src/pcap/), each usable alone:
 *   pcap_decode.c  mend_pcap_decode: one captured frame -> struct mend_pkt.
 *                  Pure, no libpcap, no allocation; every header read is
 *                  checked against the captured length. The fuzz target.
 *   pcap_agg.c     struct mend_pcap_agg: flows (capped, LRU + idle
 *                  eviction) and per-interval rows, emitted through a
 *                  callback when event time (packet timestamps) passes an
 *                  interval's end.
 *   pcap_write.c   struct mend_pcap_writer: classic pcap files (ns
 *                  timestamps) with hand-built frames.
 *   in_pcap.c      the input kinds "pcap" (capture files, pcap and pcapng,
 *                  through libpcap's offline API) and "pcap-live" (an
 *                  interface, non-blocking, BPF filter, a packet budget per
 *                  loop turn); rows are written as line protocol into the
 *                  input's stream, so the host sees ordinary samples.
 *
 * Series (line protocol, canonical keys of ingest.h). One row per server
 * host and service port that saw traffic in the interval:
 *
 *   net,host=10.0.0.5,port=80 packets=..,bytes=..,syn=..,unanswered=..,
 *       resets=..,retrans=..,dns_errors=..,http_5xx=..[,rtt_ms=..] T
 *
 * so the keys are "net,host=10.0.0.5,port=80 syn" and friends; host is the
 * entity tag (ingest's default), so every signal of a host groups under
 * that entity. T is the interval's END (the row summarises [T - interval,
 * T)), so a row is never older than the packets already read. Rows are
 * emitted only for (host, port) pairs with at least one packet in the
 * interval; all counters are written then (zeros included), rtt_ms only
 * when a handshake completed in the interval.
 *
 * Who is the server of a flow: for TCP the receiver of the first SYN seen,
 * and for a TCP flow caught mid-way the endpoint with the lower port (ties:
 * the first packet's destination); for UDP the first datagram's destination,
 * unless it went from a port below 1024 to one above (an answer seen
 * first: the sender serves).
 *
 * Counters, per row and interval:
 *   packets, bytes  both directions; bytes = original frame length.
 *   syn             new connections: a TCP SYN (without ACK) that opens a
 *                   flow, or the first UDP packet of a flow.
 *   unanswered      attempts that got nothing back from the server within
 *                   reply_timeout of event time, or before the flow left the
 *                   table (eviction, end of the capture). Counted in the
 *                   interval in which that is known.
 *   resets          TCP segments with RST, either direction.
 *   retrans         TCP segments whose sequence range (payload, SYN, FIN)
 *                   starts before the highest sequence already seen in that
 *                   direction (a range seen again; keep-alives count too).
 *                   A repeated SYN counts here, not in syn.
 *   rtt_ms          mean handshake time SYN -> SYN/ACK -> ACK (first SYN to
 *                   the client's ACK of the SYN/ACK) over the handshakes
 *                   that completed in the interval; handshakes with a
 *                   repeated SYN or SYN/ACK are left out (Karn).
 *   dns_errors      DNS responses (UDP, from port 53, QR set) with rcode != 0.
 *   http_5xx        server-side TCP payloads that begin with an HTTP/1.x
 *                   status line whose code is 500..599 (retransmissions
 *                   are not counted again).
 *
 * Packets timestamped before the current interval (out of order in the
 * capture) count in the current interval. No global state; caps on flows,
 * rows, extension headers, VLAN tags. */
#ifndef MEND_PCAP_H
#define MEND_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mend/common.h"
#include "mend/input.h"

/* ---- decoder -------------------------------------------------------------- */

/* Link types (the pcap LINKTYPE_ values) the decoder understands. */
#define MEND_PCAP_LINK_NULL 0       /* BSD loopback: 4-byte address family, host order */
#define MEND_PCAP_LINK_ETHERNET 1
#define MEND_PCAP_LINK_RAW 101      /* raw IPv4/IPv6 (DLT_RAW is 12 or 14 on some systems) */
#define MEND_PCAP_LINK_LINUX_SLL 113
#define MEND_PCAP_LINK_IPV4 228
#define MEND_PCAP_LINK_IPV6 229
#define MEND_PCAP_LINK_LINUX_SLL2 276

#define MEND_PCAP_MAX_VLAN 4        /* stacked 802.1Q/802.1ad tags followed */
#define MEND_PCAP_MAX_EXT_HDRS 8    /* IPv6 extension headers followed */

enum mend_pkt_result {
    MEND_PKT_OK = 0,      /* an IPv4/IPv6 TCP or UDP packet, headers complete */
    MEND_PKT_OTHER,       /* well formed but not for us: ARP, ICMP, a later fragment, ESP */
    MEND_PKT_TRUNCATED,   /* a header we need runs past the captured bytes */
    MEND_PKT_MALFORMED    /* a header field is impossible (IHL < 5, length < header, ...) */
};

#define MEND_PKT_TCP 6
#define MEND_PKT_UDP 17

#define MEND_TCP_FIN 0x01u
#define MEND_TCP_SYN 0x02u
#define MEND_TCP_RST 0x04u
#define MEND_TCP_PSH 0x08u
#define MEND_TCP_ACK 0x10u

struct mend_pkt {
    uint8_t family;          /* 4 or 6 */
    uint8_t proto;           /* MEND_PKT_TCP or MEND_PKT_UDP */
    uint8_t tcp_flags;
    uint8_t src[16], dst[16];/* IPv4 in the first 4 bytes, rest zero */
    uint16_t sport, dport;
    uint32_t seq, ack;       /* TCP */
    uint32_t payload_len;    /* from the IP/UDP lengths: what was sent, captured or not */
    const uint8_t *payload;  /* the captured part of the payload (borrowed from the frame) */
    uint32_t payload_cap;    /* its length, <= payload_len */
};

/* Decodes frame[0, caplen) of link type link into *out. Never reads outside
 * the frame. Returns an enum mend_pkt_result; *why (may be NULL) gets a
 * static text naming what was wrong for TRUNCATED/MALFORMED/OTHER ("ipv4:
 * header length 12 < 20"). out is filled only for MEND_PKT_OK. */
int mend_pcap_decode(int link, const uint8_t *frame, size_t caplen, struct mend_pkt *out,
                     const char **why);

/* 1 when link is a link type mend_pcap_decode understands. */
int mend_pcap_link_ok(int link);

/* ---- aggregator ----------------------------------------------------------- */

#define MEND_PCAP_DEFAULT_INTERVAL_NS (10LL * 1000000000LL)
#define MEND_PCAP_DEFAULT_MAX_FLOWS 65536
#define MEND_PCAP_DEFAULT_MAX_ROWS 16384
#define MEND_PCAP_DEFAULT_IDLE_NS (120LL * 1000000000LL)
#define MEND_PCAP_DEFAULT_REPLY_NS (3LL * 1000000000LL)
#define MEND_PCAP_DEFAULT_BUDGET 512
#define MEND_PCAP_DEFAULT_SNAPLEN 262144
#define MEND_PCAP_MAX_FLOWS_CAP (1u << 24)
#define MEND_PCAP_MAX_ROWS_CAP (1u << 22)
#define MEND_PCAP_MAX_TIME_NS (INT64_MAX / 2) /* packet stamps beyond (2116) or before 1970
                                                  are counted as malformed */

/* The options of a pcap input (spec query: see in_pcap.c / mend_pcap_conf_parse). */
struct mend_pcap_conf {
    int64_t interval_ns;      /* event time per row, >= 1 ms (default 10 s) */
    size_t max_flows;         /* flow table cap, 1..MEND_PCAP_MAX_FLOWS_CAP; at the cap the
                                 least recently seen flow (to within 1 s of event time) is
                                 evicted (counted) */
    size_t max_rows;          /* (host, port) rows per interval, 1..MEND_PCAP_MAX_ROWS_CAP;
                                 packets of further rows are counted in rows_dropped */
    int64_t idle_timeout_ns;  /* a flow silent this long (event time) is evicted; > 0 */
    int64_t reply_timeout_ns; /* an attempt without a reply this long is unanswered; > 0 */
    size_t budget;            /* packets per loop turn / per read-on, >= 1 */
    int snaplen;              /* live capture bytes per packet, 64..262144 */
    int promisc;              /* live: promiscuous mode */
    char filter[1024];        /* BPF filter ("" = none), applied to files too */
};
void mend_pcap_conf_defaults(struct mend_pcap_conf *c);

/* Parses "key=value&key=value..." over c (defaults already there): interval,
 * idle, reply_timeout (durations: "10s", "250ms"), max_flows, max_rows,
 * budget, snaplen, promisc (0/1), and filter, which must come last and
 * takes the rest of the text verbatim (BPF has "&&"). Returns 0 or
 * MEND_EINVAL with err naming the key and what is accepted. */
int mend_pcap_conf_parse(struct mend_pcap_conf *c, const char *query, char *err, size_t errlen);

/* One emitted row; host is text ("10.0.0.5", "2001:db8::1"), borrowed. */
struct mend_pcap_row {
    int64_t time_ns;          /* the interval's end */
    const char *host;
    uint16_t port;
    uint64_t packets, bytes, syn, unanswered, resets, retrans, dns_errors, http_5xx;
    uint64_t rtt_n;           /* handshakes behind rtt_ms (0: no rtt_ms) */
    double rtt_ms;
};

struct mend_pcap_stats {
    uint64_t packets;         /* handed to mend_pcap_agg_packet */
    uint64_t bytes;
    uint64_t decoded;         /* TCP/UDP over IP, counted in rows */
    uint64_t other;           /* not TCP/UDP over IP (ARP, ICMP, later fragments) */
    uint64_t truncated;       /* a needed header cut off by the capture: skipped */
    uint64_t malformed;       /* an impossible header field: skipped */
    uint64_t flows;           /* flows created */
    uint64_t flows_evicted;   /* evicted at the max_flows cap */
    uint64_t flows_idle;      /* evicted after idle_timeout_ns */
    size_t flows_open;
    uint64_t rows_dropped;    /* packets not counted: the max_rows cap was reached */
    uint64_t rows;            /* rows emitted */
};

struct mend_pcap_agg;

/* emit(ctx, row) gets every row (borrowed for the call); a negative return
 * stops the emission in progress and is returned by the call that caused it
 * (the rest of that interval's rows are lost). conf is copied. Returns 0,
 * MEND_EINVAL (a value out of range) or MEND_ENOMEM. */
int mend_pcap_agg_new(const struct mend_pcap_conf *conf,
                      int (*emit)(void *ctx, const struct mend_pcap_row *row), void *ctx,
                      struct mend_pcap_agg **out);
void mend_pcap_agg_free(struct mend_pcap_agg *a);

/* One captured frame: t_ns its timestamp (0..MEND_PCAP_MAX_TIME_NS, else
 * the packet is malformed), wire_len its original length. Intervals that
 * ended at or before t_ns are emitted first. Returns an enum
 * mend_pkt_result (>= 0; a non-OK packet is counted and skipped) or a
 * negative code from emit / MEND_ENOMEM. *why as mend_pcap_decode. */
int mend_pcap_agg_packet(struct mend_pcap_agg *a, int link, int64_t t_ns, const uint8_t *frame,
                         size_t caplen, uint32_t wire_len, const char **why);
/* Emits every interval that ended at or before now_ns (a live capture with
 * no traffic still closes its intervals). Returns 0 or emit's code. */
int mend_pcap_agg_advance(struct mend_pcap_agg *a, int64_t now_ns);
/* End of the capture: every pending attempt counts as unanswered and the
 * current interval is emitted (if it has rows). Returns 0 or emit's code. */
int mend_pcap_agg_finish(struct mend_pcap_agg *a);
void mend_pcap_agg_stats(const struct mend_pcap_agg *a, struct mend_pcap_stats *out);

/* ---- writer --------------------------------------------------------------- */

/* Classic pcap (magic a1b23c4d: nanosecond timestamps), little-endian. */
struct mend_pcap_writer {
    FILE *f;                  /* borrowed */
    int link;
    uint32_t snaplen;
    int failed;               /* sticky: a write failed */
};

/* Writes the file header to f (borrowed, must outlive w). Returns 0 or MEND_EIO. */
int mend_pcap_writer_init(struct mend_pcap_writer *w, FILE *f, int link, uint32_t snaplen);
/* One record: frame[0, caplen) captured of an orig_len frame at t_ns. Returns 0 or MEND_EIO. */
int mend_pcap_writer_frame(struct mend_pcap_writer *w, int64_t t_ns, const void *frame,
                           uint32_t caplen, uint32_t orig_len);

/* Frame builders: an Ethernet + IPv4 (+ TCP or UDP) frame into buf (cap
 * bytes) with correct lengths (checksums are left 0: nothing checks them).
 * src/dst are IPv4 addresses in network order as 4 bytes. Return the frame
 * length, or 0 when cap is too small. */
size_t mend_pcap_build_tcp4(uint8_t *buf, size_t cap, const uint8_t src[4], uint16_t sport,
                            const uint8_t dst[4], uint16_t dport, uint8_t flags, uint32_t seq,
                            uint32_t ack, const void *payload, size_t len);
size_t mend_pcap_build_udp4(uint8_t *buf, size_t cap, const uint8_t src[4], uint16_t sport,
                            const uint8_t dst[4], uint16_t dport, const void *payload, size_t len);

/* ---- input kinds ---------------------------------------------------------- */

/* "pcap": a capture file (pcap or pcapng). Claims "pcap:PATH[?QUERY]",
 * and a plain path whose name ends in .pcap, .pcapng or .cap or whose first
 * bytes are a pcap/pcapng magic number. Replayable (merge mode).
 * "pcap-live": "pcap://IFACE[?QUERY]", live only (`mend run`), the fd
 * libpcap selects on watched by the loop, non-blocking, up to budget
 * packets per readiness. QUERY as mend_pcap_conf_parse. Register both with
 * mend_inputs_register. Stream name: the spec. Errors name the spec. */
extern const struct mend_input_ops mend_pcap_file_ops;
extern const struct mend_input_ops mend_pcap_live_ops;

#endif
