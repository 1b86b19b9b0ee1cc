/* in_pcap.c -- the libpcap input kinds of pcap.h: "pcap" reads capture files
 * (pcap and pcapng, libpcap's offline API, nanosecond timestamps),
 * "pcap-live" captures from an interface.
 *
 * Both run packets through the aggregator (pcap_agg.c) and write its rows as
 * line protocol into the input's one stream (MEND_STREAM_OWN_LP, so
 * input.format cannot change how they are read); the set parses them like
 * any line and the host sees samples. That keeps merge mode (replay) for
 * free: peek_time reads packets until an interval closes and its rows are
 * queued.
 *
 * Files: the set pulls (on_fd without readiness) -- up to budget packets a
 * call; merge mode reads on until rows come out. Live: pcap_setnonblock and
 * the fd pcap_get_selectable_fd gives are watched by the loop, each
 * readiness dispatches at most budget packets, and a timer closes intervals
 * when traffic stops (event time is the packets' own wall-clock stamps).
 *
 * Spec: "pcap:PATH[?QUERY]" or a plain path that looks like a capture;
 * "pcap://IFACE[?QUERY]". QUERY: mend_pcap_conf_parse. Text written to the
 * stream is bounded: at most MEND_INPUTS_SOCK_CHUNK bytes per hand-over in
 * merge mode (the stream's queue stays one chunk), and one interval's rows
 * (max_rows) in total. */
#include "mend/pcap.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mend/config.h"

#define PCAP_SPEC_MAX 4096
#define PCAP_REPORT_MAX 8          /* bad packets named in the last error, then only counted */
#define PCAP_LIVE_GRACE_NS 1000000000LL /* live: an interval closes this long after its end
                                           (packets still in kernel buffers), or one interval */
#define PCAP_TIMER_NS 500000000LL  /* live: how often idle intervals are closed (or each interval) */

struct pcap_in {
    struct mend_input *in;
    pcap_t *pc;
    int link;
    int live;
    int fd;
    int done;                      /* the capture ended (EOF) and the aggregator finished */
    struct mend_pcap_conf conf;
    struct mend_pcap_agg *agg;
    struct mend_stream *st;
    char *out;                     /* line protocol not yet handed to the stream */
    size_t out_len, out_off, out_cap;
    int emit_rc;
    char tag[160];                 /* the entity tag key, escaped */
    char name[PCAP_SPEC_MAX + 8];
    uint64_t bad;
    int64_t ts_mul;                /* 1 when libpcap gives ns, 1000 for us */
    int watched;
    uint64_t handed;               /* hand-overs to the stream (bytes or its end) */
};

/* ---- options -------------------------------------------------------------- */

static int parse_size(const char *v, size_t n, size_t lo, size_t hi, size_t *out)
{
    uint64_t x;
    if (mend_parse_u64(v, n, &x) != MEND_OK || x < lo || x > hi)
        return MEND_EINVAL;
    *out = (size_t)x;
    return MEND_OK;
}

int mend_pcap_conf_parse(struct mend_pcap_conf *c, const char *q, char *err, size_t errlen)
{
    struct mend_pcap_conf t = *c;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        if (!eq) {
            snprintf(err, errlen, "pcap option '%.*s': expected key=value", (int)(n > 64 ? 64 : n), q);
            return MEND_EINVAL;
        }
        size_t kl = (size_t)(eq - q);
        const char *v = eq + 1;
        if (kl == 6 && !memcmp(q, "filter", 6)) { /* the rest, verbatim: BPF has "&&" */
            size_t vl = strlen(v);
            if (vl >= sizeof t.filter) {
                snprintf(err, errlen, "pcap option filter: longer than %zu bytes", sizeof t.filter - 1);
                return MEND_EINVAL;
            }
            memcpy(t.filter, v, vl + 1);
            break;
        }
        size_t vl = n - kl - 1;
        char val[64];
        if (vl >= sizeof val) {
            snprintf(err, errlen, "pcap option '%.*s': value too long", (int)kl, q);
            return MEND_EINVAL;
        }
        memcpy(val, v, vl);
        val[vl] = 0;
        size_t sz;
        int rc = MEND_EINVAL;
        const char *want = "";
#define KEY(s) (kl == sizeof(s) - 1 && !memcmp(q, s, kl))
        if (KEY("interval") || KEY("idle") || KEY("reply_timeout")) {
            int64_t ns;
            want = "a duration such as 10s or 250ms (interval >= 1ms, the others > 0)";
            if (mend_parse_duration(val, &ns) == MEND_OK &&
                ns >= (KEY("interval") ? 1000000 : 1)) {
                *(KEY("interval") ? &t.interval_ns : KEY("idle") ? &t.idle_timeout_ns : &t.reply_timeout_ns) = ns;
                rc = MEND_OK;
            }
        } else if (KEY("max_flows")) {
            want = "1..16777216";
            if ((rc = parse_size(val, vl, 1, MEND_PCAP_MAX_FLOWS_CAP, &sz)) == MEND_OK)
                t.max_flows = sz;
        } else if (KEY("max_rows")) {
            want = "1..4194304";
            if ((rc = parse_size(val, vl, 1, MEND_PCAP_MAX_ROWS_CAP, &sz)) == MEND_OK)
                t.max_rows = sz;
        } else if (KEY("budget")) {
            want = "1..1000000";
            if ((rc = parse_size(val, vl, 1, 1000000, &sz)) == MEND_OK)
                t.budget = sz;
        } else if (KEY("snaplen")) {
            want = "64..262144";
            if ((rc = parse_size(val, vl, 64, MEND_PCAP_DEFAULT_SNAPLEN, &sz)) == MEND_OK)
                t.snaplen = (int)sz;
        } else if (KEY("promisc")) {
            want = "0 or 1";
            if ((rc = parse_size(val, vl, 0, 1, &sz)) == MEND_OK)
                t.promisc = (int)sz;
        } else {
            snprintf(err, errlen,
                     "pcap option '%.*s' unknown (interval, idle, reply_timeout, max_flows, "
                     "max_rows, budget, snaplen, promisc, filter)",
                     (int)(kl > 64 ? 64 : kl), q);
            return MEND_EINVAL;
        }
#undef KEY
        if (rc != MEND_OK) {
            snprintf(err, errlen, "pcap option %.*s='%s': expected %s", (int)kl, q, val, want);
            return MEND_EINVAL;
        }
        q = amp ? amp + 1 : NULL;
    }
    *c = t;
    return MEND_OK;
}

/* ---- rows as line protocol ---------------------------------------------- */

static int out_reserve(struct pcap_in *p, size_t n)
{
    if (p->out_len + n <= p->out_cap)
        return MEND_OK;
    if (p->out_off) { /* slide what is left to the front first */
        memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
        p->out_len -= p->out_off;
        p->out_off = 0;
        if (p->out_len + n <= p->out_cap)
            return MEND_OK;
    }
    size_t cap = p->out_cap ? p->out_cap : 4096;
    while (cap < p->out_len + n)
        cap *= 2;
    char *o = realloc(p->out, cap);
    if (!o)
        return MEND_ENOMEM;
    p->out = o;
    p->out_cap = cap;
    return MEND_OK;
}

static int on_row(void *ctx, const struct mend_pcap_row *r)
{
    struct pcap_in *p = ctx;
    char line[1024];
    int n = snprintf(line, sizeof line,
                     "net,%s=%s,port=%u packets=%" PRIu64 ",bytes=%" PRIu64 ",syn=%" PRIu64
                     ",unanswered=%" PRIu64 ",resets=%" PRIu64 ",retrans=%" PRIu64
                     ",dns_errors=%" PRIu64 ",http_5xx=%" PRIu64,
                     p->tag, r->host, (unsigned)r->port, r->packets, r->bytes, r->syn, r->unanswered,
                     r->resets, r->retrans, r->dns_errors, r->http_5xx);
    if (n > 0 && r->rtt_n && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, ",rtt_ms=%.6f", r->rtt_ms);
    if (n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " %" PRId64 "\n", r->time_ns);
    if (n <= 0 || (size_t)n >= sizeof line)
        return MEND_OK; /* cannot happen with the tag capped at 160 bytes */
    int rc = out_reserve(p, (size_t)n);
    if (rc < 0)
        return p->emit_rc = rc;
    memcpy(p->out + p->out_len, line, (size_t)n);
    p->out_len += (size_t)n;
    return MEND_OK;
}

/* Hands kept text to the stream: all of it when parsed at once, at most one
 * chunk (ending at a newline) when the stream queues for merging. */
static int out_flush(struct pcap_in *p)
{
    while (p->out_off < p->out_len) {
        size_t n = p->out_len - p->out_off;
        int queued = mend_stream_queued(p->st);
        if (queued && n > MEND_INPUTS_SOCK_CHUNK) {
            n = MEND_INPUTS_SOCK_CHUNK;
            while (n > 0 && p->out[p->out_off + n - 1] != '\n')
                n--;
            if (n == 0)
                n = MEND_INPUTS_SOCK_CHUNK;
        }
        int rc = mend_stream_data(p->st, p->out + p->out_off, n);
        p->out_off += n;
        p->handed++;
        if (rc < 0)
            return rc;
        if (queued)
            break;
    }
    if (p->out_off >= p->out_len)
        p->out_off = p->out_len = 0;
    return MEND_OK;
}

/* ---- packets -------------------------------------------------------------- */

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct pcap_in *p = (struct pcap_in *)user;
    const char *why = NULL;
    char what[192];
    if (p->emit_rc < 0)
        return; /* out of memory: the caller stops */
    int64_t t = -1; /* out of range: the aggregator counts the packet as malformed */
    if (h->ts.tv_sec >= 0 && h->ts.tv_sec <= MEND_PCAP_MAX_TIME_NS / 1000000000LL &&
        h->ts.tv_usec >= 0 && h->ts.tv_usec < 1000000000L)
        t = (int64_t)h->ts.tv_sec * 1000000000LL + (int64_t)h->ts.tv_usec * p->ts_mul;
    size_t cap = h->caplen;
    if (cap > h->len) /* a capture file can say anything */
        cap = h->len;
    int rc = mend_pcap_agg_packet(p->agg, p->link, t, bytes, cap, h->len, &why);
    if (rc < 0) {
        p->emit_rc = rc;
        return;
    }
    if (rc == MEND_PKT_TRUNCATED || rc == MEND_PKT_MALFORMED) {
        struct mend_pcap_stats s;
        mend_pcap_agg_stats(p->agg, &s);
        if (++p->bad <= PCAP_REPORT_MAX) {
            snprintf(what, sizeof what, "packet %" PRIu64 " skipped (%s)", s.packets,
                     why ? why : "?");
            mend_input_error(p->in, p->name, what, EBADMSG);
        }
    }
}

/* After a batch: rows to the stream, or the emitter's failure. */
static int batch_done(struct pcap_in *p)
{
    int rc = p->emit_rc;
    if (rc < 0)
        return rc;
    return out_flush(p);
}

/* The capture ended: last rows, then the stream's end (the fd stays
 * watched until then: the set pulls through it). */
static int capture_end(struct pcap_in *p)
{
    int rc;
    if (!p->done) {
        p->done = 1;
        rc = mend_pcap_agg_finish(p->agg);
        if (rc < 0 || p->emit_rc < 0)
            return rc < 0 ? rc : p->emit_rc;
    }
    if (p->out_off < p->out_len) {
        if ((rc = out_flush(p)) < 0)
            return rc;
        if (p->out_off < p->out_len)
            return MEND_OK; /* merging: one chunk at a time */
    }
    rc = mend_stream_end(p->st, 0);
    p->handed++;
    if (p->watched)
        mend_input_unwatch(p->in, p->fd);
    p->watched = 0;
    mend_input_ended(p->in);
    return rc;
}

/* Up to budget packets of a file; at its end, the rest. */
static int file_read(struct pcap_in *p, size_t budget)
{
    if (p->done)
        return capture_end(p);
    if (p->out_off < p->out_len) /* text kept from the last interval first */
        return out_flush(p);
    int n = pcap_dispatch(p->pc, budget > INT32_MAX ? INT32_MAX : (int)budget, on_packet, (u_char *)p);
    int rc = batch_done(p);
    if (rc < 0)
        return rc;
    if (n == 0)
        return capture_end(p);
    if (n == PCAP_ERROR) {
        char what[PCAP_ERRBUF_SIZE + 16];
        snprintf(what, sizeof what, "read: %s", pcap_geterr(p->pc));
        mend_input_error(p->in, p->name, what, EIO);
        return capture_end(p);
    }
    return MEND_OK;
}

static int pin_on_fd(struct mend_input *in, int fd, unsigned events)
{
    struct pcap_in *p = mend_input_priv(in);
    (void)fd;
    (void)events;
    if (!p->live)
        return file_read(p, p->conf.budget);
    int n = pcap_dispatch(p->pc, (int)p->conf.budget, on_packet, (u_char *)p);
    int rc = batch_done(p);
    if (rc < 0)
        return rc;
    if (n == PCAP_ERROR) { /* the interface went away: this input ends, the others go on */
        char what[PCAP_ERRBUF_SIZE + 16];
        snprintf(what, sizeof what, "capture: %s", pcap_geterr(p->pc));
        mend_input_error(in, p->name, what, EIO);
        return capture_end(p);
    }
    return MEND_OK;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Live: intervals close even when no packet comes to close them. */
static int pin_on_timer(struct mend_input *in, int64_t now_ns)
{
    struct pcap_in *p = mend_input_priv(in);
    (void)now_ns;
    int64_t grace = p->conf.interval_ns < PCAP_LIVE_GRACE_NS ? p->conf.interval_ns : PCAP_LIVE_GRACE_NS;
    int rc = mend_pcap_agg_advance(p->agg, realtime_ns() - grace);
    if (rc < 0)
        return rc;
    return batch_done(p);
}

/* Merge mode: read packets until rows reach the stream (or it ends). */
static int file_more(void *ctx)
{
    struct pcap_in *p = ctx;
    uint64_t h = p->handed;
    do {
        int rc = file_read(p, p->conf.budget);
        if (rc < 0)
            return rc;
    } while (p->handed == h);
    return MEND_OK;
}

static int pin_peek(struct mend_input *in, int64_t *t)
{
    struct pcap_in *p = mend_input_priv(in);
    return mend_stream_peek(p->st, file_more, p, t);
}

static void pin_free(struct mend_input *in, struct pcap_in *p)
{
    if (!p)
        return;
    mend_stream_free(p->st);
    if (p->watched)
        mend_input_unwatch(in, p->fd);
    if (p->pc)
        pcap_close(p->pc);
    mend_pcap_agg_free(p->agg);
    free(p->out);
    free(p);
}

static void pin_close(struct mend_input *in)
{
    pin_free(in, mend_input_priv(in));
    mend_input_set_priv(in, NULL);
}

/* ---- opening -------------------------------------------------------------- */

/* Copies s into out with line-protocol tag escaping (`,` `=` ` `). */
static int tag_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        if (o + 3 > cap)
            return MEND_EINVAL;
        if (*s == ',' || *s == '=' || *s == ' ')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = 0;
    return o ? MEND_OK : MEND_EINVAL;
}

/* Everything after pcap_t is open: link check, filter, aggregator, stream,
 * fd. Takes pc (closed on error through pin_free). */
static int pin_setup(struct mend_input *in, struct pcap_in *p, const char *spec, char *err,
                     size_t errlen)
{
    int rc;
    p->link = pcap_datalink(p->pc);
    if (!mend_pcap_link_ok(p->link)) {
        const char *ln = pcap_datalink_val_to_name(p->link);
        snprintf(err, errlen, "%s: link type %d (%s) not supported (Ethernet, Linux SLL/SLL2, raw IP, BSD loopback)",
                 spec, p->link, ln ? ln : "?");
        return MEND_EINVAL;
    }
    if (p->conf.filter[0]) {
        struct bpf_program prog;
        if (pcap_compile(p->pc, &prog, p->conf.filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            snprintf(err, errlen, "%s: filter '%s': %s", spec, p->conf.filter, pcap_geterr(p->pc));
            return MEND_EINVAL;
        }
        rc = pcap_setfilter(p->pc, &prog);
        pcap_freecode(&prog);
        if (rc < 0) {
            snprintf(err, errlen, "%s: filter: %s", spec, pcap_geterr(p->pc));
            return MEND_EIO;
        }
    }
    const char *et = mend_input_conf(in)->ingest.entity_tag;
    if (tag_escape(p->tag, sizeof p->tag, et && *et ? et : "host") < 0) {
        snprintf(err, errlen, "%s: entity tag too long for the net series", spec);
        return MEND_EINVAL;
    }
    if ((rc = mend_pcap_agg_new(&p->conf, on_row, p, &p->agg)) < 0) {
        snprintf(err, errlen, "%s: %s", spec, mend_strerror(rc));
        return rc;
    }
    if ((rc = mend_stream_open(in, spec, MEND_STREAM_OWN_LP | MEND_STREAM_EOF_ENDS_LINE, &p->st)) < 0) {
        snprintf(err, errlen, "%s: %s", spec, mend_strerror(rc));
        return rc;
    }
    if (p->fd < 0) {
        snprintf(err, errlen, "%s: libpcap gives no file descriptor to wait on", spec);
        return MEND_EIO;
    }
    if ((rc = mend_input_watch(in, p->fd)) < 0) {
        snprintf(err, errlen, "%s: %s", spec, mend_strerror(rc));
        return rc;
    }
    p->watched = 1;
    if (p->live && (rc = mend_input_every(in, p->conf.interval_ns < PCAP_TIMER_NS ? p->conf.interval_ns
                                                                                : PCAP_TIMER_NS)) < 0) {
        snprintf(err, errlen, "%s: timer: %s", spec, mend_strerror(rc));
        return rc;
    }
    mend_input_set_priv(in, p);
    return MEND_OK;
}

/* Allocates p with spec's query applied; *rest gets the part before '?'. */
static int pin_new(const char *spec, const char *body, char *path, size_t pathcap,
                   struct pcap_in **out, char *err, size_t errlen)
{
    const char *qm = strchr(body, '?');
    size_t n = qm ? (size_t)(qm - body) : strlen(body);
    *out = NULL;
    if (strlen(spec) > PCAP_SPEC_MAX || n >= pathcap || n == 0) {
        snprintf(err, errlen, "%.64s: bad pcap spec (empty or too long)", spec);
        return MEND_EINVAL;
    }
    memcpy(path, body, n);
    path[n] = 0;
    struct pcap_in *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", spec);
        return MEND_ENOMEM;
    }
    p->fd = -1;
    p->ts_mul = 1;
    snprintf(p->name, sizeof p->name, "%s", spec);
    mend_pcap_conf_defaults(&p->conf);
    if (qm) {
        char e[256];
        if (mend_pcap_conf_parse(&p->conf, qm + 1, e, sizeof e) < 0) {
            snprintf(err, errlen, "%s: %s", spec, e);
            free(p);
            return MEND_EINVAL;
        }
    }
    *out = p;
    return MEND_OK;
}

static int has_ext(const char *s, size_t n, const char *ext)
{
    size_t e = strlen(ext);
    return n > e && !strncasecmp(s + n - e, ext, e);
}

static int file_claims(const char *spec)
{
    if (!strncmp(spec, "pcap:", 5))
        return strncmp(spec, "pcap://", 7) != 0;
    if (!strcmp(spec, "-") || strstr(spec, "://"))
        return 0;
    size_t n = strlen(spec);
    if (has_ext(spec, n, ".pcap") || has_ext(spec, n, ".pcapng") || has_ext(spec, n, ".cap"))
        return 1;
    /* any other name: by its magic number */
    uint8_t m[4];
    FILE *f = fopen(spec, "rb");
    if (!f)
        return 0;
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    if (got != 4)
        return 0;
    uint32_t le = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
    uint32_t be = (uint32_t)m[3] | (uint32_t)m[2] << 8 | (uint32_t)m[1] << 16 | (uint32_t)m[0] << 24;
    return le == 0xa1b2c3d4u || be == 0xa1b2c3d4u || le == 0xa1b23c4du || be == 0xa1b23c4du ||
           le == 0x0a0d0d0au;
}

static int file_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    char path[PCAP_SPEC_MAX + 1], eb[PCAP_ERRBUF_SIZE];
    struct pcap_in *p;
    int plain = strncmp(spec, "pcap:", 5) != 0;
    const char *body = plain ? spec : spec + 5;
    int rc;
    if (plain) { /* a plain path takes no query: '?' may be in the name */
        if (strlen(spec) > PCAP_SPEC_MAX) {
            snprintf(err, errlen, "%.64s...: path too long", spec);
            return MEND_EINVAL;
        }
        rc = pin_new(spec, "x", path, sizeof path, &p, err, errlen);
        snprintf(path, sizeof path, "%s", spec);
    } else {
        rc = pin_new(spec, body, path, sizeof path, &p, err, errlen);
    }
    if (rc < 0)
        return rc;
    p->in = in;
    p->pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
    if (!p->pc) {
        snprintf(err, errlen, "%s: %s", spec, eb);
        free(p);
        return MEND_EIO;
    }
    if (pcap_get_tstamp_precision(p->pc) != PCAP_TSTAMP_PRECISION_NANO)
        p->ts_mul = 1000;
    FILE *f = pcap_file(p->pc);
    p->fd = f ? fileno(f) : -1;
    if ((rc = pin_setup(in, p, spec, err, errlen)) < 0) {
        pin_free(in, p);
        return rc;
    }
    return MEND_OK;
}

static int live_claims(const char *spec)
{
    return !strncmp(spec, "pcap://", 7);
}

static int live_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    char dev[256], eb[PCAP_ERRBUF_SIZE];
    struct pcap_in *p;
    int rc = pin_new(spec, spec + 7, dev, sizeof dev, &p, err, errlen);
    if (rc < 0)
        return rc;
    p->in = in;
    p->live = 1;
    eb[0] = 0;
    p->pc = pcap_create(dev, eb);
    if (!p->pc) {
        snprintf(err, errlen, "%s: %s", spec, eb);
        free(p);
        return MEND_EIO;
    }
    (void)pcap_set_snaplen(p->pc, p->conf.snaplen);
    (void)pcap_set_promisc(p->pc, p->conf.promisc);
    (void)pcap_set_timeout(p->pc, 100);
    (void)pcap_set_immediate_mode(p->pc, 1); /* readiness per packet, not per filled block */
    if (pcap_set_tstamp_precision(p->pc, PCAP_TSTAMP_PRECISION_NANO) != 0)
        p->ts_mul = 1000;
    rc = pcap_activate(p->pc);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot capture on %s: %s (%s)", spec, dev, pcap_statustostr(rc),
                 pcap_geterr(p->pc));
        pin_free(in, p);
        return MEND_EIO;
    }
    if (pcap_get_tstamp_precision(p->pc) != PCAP_TSTAMP_PRECISION_NANO)
        p->ts_mul = 1000;
    if (pcap_setnonblock(p->pc, 1, eb) < 0) {
        snprintf(err, errlen, "%s: non-blocking: %s", spec, eb);
        pin_free(in, p);
        return MEND_EIO;
    }
    p->fd = pcap_get_selectable_fd(p->pc);
    if ((rc = pin_setup(in, p, spec, err, errlen)) < 0) {
        pin_free(in, p);
        return rc;
    }
    return MEND_OK;
}

const struct mend_input_ops mend_pcap_file_ops = {
    .kind = "pcap",
    .claims = file_claims,
    .open = file_open,
    .on_fd = pin_on_fd,
    .on_timer = NULL,
    .peek_time = pin_peek,
    .close = pin_close,
};

const struct mend_input_ops mend_pcap_live_ops = {
    .kind = "pcap-live",
    .claims = live_claims,
    .open = live_open,
    .on_fd = pin_on_fd,
    .on_timer = pin_on_timer,
    .peek_time = NULL,
    .close = pin_close,
};
