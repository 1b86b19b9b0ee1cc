/* pcap_agg.c -- the traffic aggregator of pcap.h: decoded packets in, one
 * row of counters per (server host, service port) and interval out.
 *
 * Two tables, both capped:
 *   flows  keyed by the normalised 5-tuple (lower endpoint first), chained
 *          hash over a pool that grows up to max_flows; an LRU list (head =
 *          most recent) gives the victim at the cap and the idle flows; a
 *          second list holds the attempts still waiting for a reply, oldest
 *          first, so the reply timeout is checked in O(expired).
 *   rows   the current interval's (host, port) counters, open addressing,
 *          cleared slot by slot when the interval is emitted; a flow caches
 *          its row index with the interval's generation so a packet costs
 *          one flow lookup, not two.
 * Time is the packets' own: an interval closes when a packet (or
 * mend_pcap_agg_advance) reaches its end. Nothing here allocates per packet
 * except when the flow pool grows. */
#include "mend/pcap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define NIL UINT32_MAX
#define LRU_SLACK_NS 1000000000LL /* how stale a flow's LRU position may get (1 s of event time) */

struct fkey {            /* packed and zero-padded: hashed and compared as bytes */
    uint8_t a[16], b[16];
    uint16_t pa, pb;
    uint8_t fam, proto;
    uint8_t pad[2];
};

enum { HS_NONE, HS_SYN, HS_SYNACK, HS_DONE };

struct flow {
    struct fkey k;
    uint32_t hnext;      /* hash chain, or free list */
    uint32_t lprev, lnext;
    uint32_t pprev, pnext;
    int64_t last_ns;
    int64_t linked_ns;   /* last_ns when the flow last moved to the LRU head */
    int64_t syn_ns, deadline;
    uint32_t syn_seq, synack_seq;
    uint32_t hi[2];      /* highest sequence end sent by endpoint a (0) / b (1) */
    uint32_t row;        /* row index when row_gen == the interval's generation */
    uint32_t row_gen;
    uint8_t srv;         /* 0: a is the server, 1: b */
    uint8_t hi_ok[2];
    uint8_t hs, karn, pending, used;
};

struct rkey {
    uint8_t addr[16];
    uint16_t port;
    uint8_t fam;
    uint8_t pad;
};

struct row {
    struct rkey k;
    uint32_t slot;
    uint64_t packets, bytes, syn, unanswered, resets, retrans, dns_errors, http_5xx, rtt_n;
    int64_t rtt_sum_ns;
};

struct mend_pcap_agg {
    struct mend_pcap_conf conf;
    int (*emit)(void *ctx, const struct mend_pcap_row *row);
    void *ctx;
    /* flows */
    struct flow *fl;
    uint32_t n_fl, cap_fl, free_fl;
    uint32_t *bucket;
    uint32_t n_bucket;   /* power of two */
    uint32_t lru_head, lru_tail, pend_head, pend_tail;
    /* rows */
    struct row *rows;
    uint32_t n_rows;
    uint32_t *slot;      /* row index + 1, 0 = empty */
    uint32_t n_slot;     /* power of two, >= 2 * max_rows */
    uint32_t gen;
    /* time */
    int started;
    int64_t cur_end;
    struct mend_pcap_stats st;
};

void mend_pcap_conf_defaults(struct mend_pcap_conf *c)
{
    memset(c, 0, sizeof *c);
    c->interval_ns = MEND_PCAP_DEFAULT_INTERVAL_NS;
    c->max_flows = MEND_PCAP_DEFAULT_MAX_FLOWS;
    c->max_rows = MEND_PCAP_DEFAULT_MAX_ROWS;
    c->idle_timeout_ns = MEND_PCAP_DEFAULT_IDLE_NS;
    c->reply_timeout_ns = MEND_PCAP_DEFAULT_REPLY_NS;
    c->budget = MEND_PCAP_DEFAULT_BUDGET;
    c->snaplen = MEND_PCAP_DEFAULT_SNAPLEN;
    c->promisc = 0;
}

static int conf_ok(const struct mend_pcap_conf *c)
{
    return c->interval_ns >= 1000000 && c->max_flows >= 1 &&
           c->max_flows <= MEND_PCAP_MAX_FLOWS_CAP && c->max_rows >= 1 &&
           c->max_rows <= MEND_PCAP_MAX_ROWS_CAP && c->idle_timeout_ns > 0 &&
           c->reply_timeout_ns > 0 && c->budget >= 1 && c->snaplen >= 64 &&
           c->snaplen <= MEND_PCAP_DEFAULT_SNAPLEN;
}

int mend_pcap_agg_new(const struct mend_pcap_conf *conf,
                      int (*emit)(void *ctx, const struct mend_pcap_row *row), void *ctx,
                      struct mend_pcap_agg **out)
{
    struct mend_pcap_agg *a;
    *out = NULL;
    if (!conf || !emit || !conf_ok(conf))
        return MEND_EINVAL;
    a = calloc(1, sizeof *a);
    if (!a)
        return MEND_ENOMEM;
    a->conf = *conf;
    a->emit = emit;
    a->ctx = ctx;
    a->n_bucket = 1024;
    a->n_slot = 16;
    while (a->n_slot < 2 * conf->max_rows)
        a->n_slot *= 2;
    a->bucket = malloc(a->n_bucket * sizeof *a->bucket);
    a->slot = calloc(a->n_slot, sizeof *a->slot);
    a->rows = malloc(conf->max_rows * sizeof *a->rows);
    if (!a->bucket || !a->slot || !a->rows) {
        mend_pcap_agg_free(a);
        return MEND_ENOMEM;
    }
    memset(a->bucket, 0xff, a->n_bucket * sizeof *a->bucket);
    a->free_fl = a->lru_head = a->lru_tail = a->pend_head = a->pend_tail = NIL;
    a->gen = 1;
    *out = a;
    return MEND_OK;
}

void mend_pcap_agg_free(struct mend_pcap_agg *a)
{
    if (!a)
        return;
    free(a->fl);
    free(a->bucket);
    free(a->slot);
    free(a->rows);
    free(a);
}

void mend_pcap_agg_stats(const struct mend_pcap_agg *a, struct mend_pcap_stats *out)
{
    *out = a->st;
}

/* ---- rows ----------------------------------------------------------------- */

static uint32_t row_find(struct mend_pcap_agg *a, const struct rkey *k)
{
    uint32_t mask = a->n_slot - 1;
    uint32_t i = (uint32_t)XXH3_64bits(k, sizeof *k) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t r = a->slot[i];
        if (r == 0)
            break;
        if (!memcmp(&a->rows[r - 1].k, k, sizeof *k))
            return r - 1;
    }
    if (a->n_rows >= a->conf.max_rows)
        return NIL;
    struct row *rw = &a->rows[a->n_rows];
    memset(rw, 0, sizeof *rw);
    rw->k = *k;
    rw->slot = i;
    a->slot[i] = ++a->n_rows;
    return a->n_rows - 1;
}

/* The row of f's server in the current interval, NIL at the row cap. */
static struct row *flow_row(struct mend_pcap_agg *a, struct flow *f)
{
    if (f->row_gen != a->gen) {
        struct rkey k;
        memset(&k, 0, sizeof k);
        memcpy(k.addr, f->srv ? f->k.b : f->k.a, 16);
        k.port = f->srv ? f->k.pb : f->k.pa;
        k.fam = f->k.fam;
        f->row = row_find(a, &k);
        f->row_gen = a->gen;
    }
    return f->row == NIL ? NULL : &a->rows[f->row];
}

static int emit_rows(struct mend_pcap_agg *a)
{
    char host[INET6_ADDRSTRLEN];
    int rc = MEND_OK;
    for (uint32_t i = 0; i < a->n_rows; i++) {
        struct row *rw = &a->rows[i];
        a->slot[rw->slot] = 0;
        if (rc < 0)
            continue; /* the emitter stopped: clear the rest all the same */
        struct mend_pcap_row o = {
            .time_ns = a->cur_end, .host = host, .port = rw->k.port,
            .packets = rw->packets, .bytes = rw->bytes, .syn = rw->syn,
            .unanswered = rw->unanswered, .resets = rw->resets, .retrans = rw->retrans,
            .dns_errors = rw->dns_errors, .http_5xx = rw->http_5xx, .rtt_n = rw->rtt_n,
            .rtt_ms = rw->rtt_n ? (double)rw->rtt_sum_ns / (double)rw->rtt_n / 1e6 : 0.0,
        };
        if (!inet_ntop(rw->k.fam == 4 ? AF_INET : AF_INET6, rw->k.addr, host, sizeof host))
            snprintf(host, sizeof host, "?");
        a->st.rows++;
        rc = a->emit(a->ctx, &o);
    }
    a->n_rows = 0;
    a->gen++;
    if (a->gen == 0) { /* wrapped: no flow may think its cached row is current */
        for (uint32_t i = 0; i < a->n_fl; i++)
            a->fl[i].row_gen = 0;
        a->gen = 1;
    }
    return rc;
}

/* ---- flows ---------------------------------------------------------------- */

static uint32_t fhash(const struct mend_pcap_agg *a, const struct fkey *k)
{
    return (uint32_t)XXH3_64bits(k, sizeof *k) & (a->n_bucket - 1);
}

static void lru_unlink(struct mend_pcap_agg *a, uint32_t i)
{
    struct flow *f = &a->fl[i];
    if (f->lprev != NIL)
        a->fl[f->lprev].lnext = f->lnext;
    else
        a->lru_head = f->lnext;
    if (f->lnext != NIL)
        a->fl[f->lnext].lprev = f->lprev;
    else
        a->lru_tail = f->lprev;
}

static void lru_push(struct mend_pcap_agg *a, uint32_t i)
{
    struct flow *f = &a->fl[i];
    f->lprev = NIL;
    f->lnext = a->lru_head;
    if (a->lru_head != NIL)
        a->fl[a->lru_head].lprev = i;
    else
        a->lru_tail = i;
    a->lru_head = i;
}

static void pend_unlink(struct mend_pcap_agg *a, uint32_t i)
{
    struct flow *f = &a->fl[i];
    if (!f->pending)
        return;
    if (f->pprev != NIL)
        a->fl[f->pprev].pnext = f->pnext;
    else
        a->pend_head = f->pnext;
    if (f->pnext != NIL)
        a->fl[f->pnext].pprev = f->pprev;
    else
        a->pend_tail = f->pprev;
    f->pending = 0;
}

static void pend_push(struct mend_pcap_agg *a, uint32_t i, int64_t deadline)
{
    struct flow *f = &a->fl[i];
    pend_unlink(a, i);
    f->deadline = deadline;
    f->pending = 1;
    f->pnext = NIL;
    f->pprev = a->pend_tail;
    if (a->pend_tail != NIL)
        a->fl[a->pend_tail].pnext = i;
    else
        a->pend_head = i;
    a->pend_tail = i;
}

/* An attempt is known to have gone unanswered: counted now. */
static void unanswered(struct mend_pcap_agg *a, uint32_t i)
{
    struct row *rw = flow_row(a, &a->fl[i]);
    if (rw)
        rw->unanswered++;
    pend_unlink(a, i);
}

static void flow_drop(struct mend_pcap_agg *a, uint32_t i)
{
    struct flow *f = &a->fl[i];
    uint32_t *pp = &a->bucket[fhash(a, &f->k)];
    if (f->pending)
        unanswered(a, i);
    while (*pp != NIL && *pp != i)
        pp = &a->fl[*pp].hnext;
    if (*pp == i)
        *pp = f->hnext;
    lru_unlink(a, i);
    f->used = 0;
    f->hnext = a->free_fl;
    a->free_fl = i;
    a->st.flows_open--;
}

static int rehash(struct mend_pcap_agg *a, uint32_t n)
{
    uint32_t *b = malloc((size_t)n * sizeof *b);
    if (!b)
        return MEND_ENOMEM;
    free(a->bucket);
    a->bucket = b;
    a->n_bucket = n;
    memset(b, 0xff, (size_t)n * sizeof *b);
    for (uint32_t i = 0; i < a->n_fl; i++) {
        if (!a->fl[i].used)
            continue;
        uint32_t h = fhash(a, &a->fl[i].k);
        a->fl[i].hnext = b[h];
        b[h] = i;
    }
    return MEND_OK;
}

/* A slot for a new flow: the free list, a grown pool, or the LRU victim. */
static int flow_alloc(struct mend_pcap_agg *a, uint32_t *out)
{
    if (a->free_fl != NIL) {
        *out = a->free_fl;
        a->free_fl = a->fl[*out].hnext;
        return MEND_OK;
    }
    if (a->n_fl < a->conf.max_flows) {
        if (a->n_fl == a->cap_fl) {
            size_t cap = a->cap_fl ? (size_t)a->cap_fl * 2 : 256;
            if (cap > a->conf.max_flows)
                cap = a->conf.max_flows;
            struct flow *f = realloc(a->fl, cap * sizeof *f);
            if (!f)
                return MEND_ENOMEM;
            a->fl = f;
            a->cap_fl = (uint32_t)cap;
        }
        *out = a->n_fl++;
        if (a->n_fl > a->n_bucket && a->n_bucket < (1u << 24)) {
            a->fl[*out].used = 0; /* not in a chain yet */
            int rc = rehash(a, a->n_bucket * 2);
            if (rc < 0) {
                a->n_fl--;
                return rc;
            }
        }
        return MEND_OK;
    }
    *out = a->lru_tail; /* max_flows >= 1, so the table is not empty */
    a->st.flows_evicted++;
    flow_drop(a, *out);
    *out = a->free_fl;
    a->free_fl = a->fl[*out].hnext;
    return MEND_OK;
}

static uint32_t flow_find(struct mend_pcap_agg *a, const struct fkey *k)
{
    for (uint32_t i = a->bucket[fhash(a, k)]; i != NIL; i = a->fl[i].hnext)
        if (!memcmp(&a->fl[i].k, k, sizeof *k))
            return i;
    return NIL;
}

/* ---- time ----------------------------------------------------------------- */

static int64_t floor_to(int64_t t, int64_t iv)
{
    int64_t q = t / iv;
    if (t % iv < 0)
        q--;
    return q * iv;
}

/* Attempts whose reply time ran out before end. */
static void sweep_pending(struct mend_pcap_agg *a, int64_t end)
{
    while (a->pend_head != NIL && a->fl[a->pend_head].deadline < end)
        unanswered(a, a->pend_head);
}

/* The LRU list is ordered by linked_ns, which trails last_ns by less than
 * LRU_SLACK_NS: a tail seen since it was linked moves to the head first. */
static void sweep_idle(struct mend_pcap_agg *a, int64_t now)
{
    while (a->lru_tail != NIL) {
        uint32_t i = a->lru_tail;
        struct flow *f = &a->fl[i];
        if (f->last_ns <= now - a->conf.idle_timeout_ns) {
            a->st.flows_idle++;
            flow_drop(a, i);
        } else if (f->last_ns > f->linked_ns) {
            lru_unlink(a, i);
            lru_push(a, i);
            f->linked_ns = f->last_ns;
        } else {
            break;
        }
    }
}

int mend_pcap_agg_advance(struct mend_pcap_agg *a, int64_t now)
{
    const int64_t iv = a->conf.interval_ns;
    if (!a->started)
        return MEND_OK;
    if (now > MEND_PCAP_MAX_TIME_NS)
        now = MEND_PCAP_MAX_TIME_NS;
    while (now >= a->cur_end) {
        sweep_pending(a, a->cur_end);
        int rc = emit_rows(a);
        if (rc < 0)
            return rc;
        int64_t next = a->cur_end > INT64_MAX - iv ? INT64_MAX : a->cur_end + iv;
        /* jump over intervals that would stay empty: nothing is pending
         * before the one that holds now (or the next deadline) */
        int64_t to = now;
        if (a->pend_head != NIL && a->fl[a->pend_head].deadline < to)
            to = a->fl[a->pend_head].deadline;
        if (to >= next && to <= INT64_MAX - iv)
            next = floor_to(to, iv) + iv;
        if (next <= a->cur_end) { /* the end of time: nothing more can close */
            a->started = 0;
            return MEND_OK;
        }
        a->cur_end = next;
    }
    return MEND_OK;
}

/* ---- packets -------------------------------------------------------------- */

static int is_http_5xx(const uint8_t *p, uint32_t n)
{
    /* "HTTP/1.x NNN" */
    if (n < 12 || memcmp(p, "HTTP/1.", 7) || p[7] < '0' || p[7] > '9' || p[8] != ' ')
        return 0;
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return p[9] == '5' && (n == 12 || p[12] == ' ' || p[12] == '\r' || p[12] == '\n');
}

static int seq_lt(uint32_t x, uint32_t y)
{
    return (int32_t)(x - y) < 0;
}

static void count_tcp(struct mend_pcap_agg *a, uint32_t fi, const struct mend_pkt *p, int s,
                      int64_t t, struct row *rw)
{
    struct flow *f = &a->fl[fi];
    int from_srv = s == f->srv;
    uint8_t fl = p->tcp_flags;
    int retrans = 0;
    uint32_t seg = p->payload_len + ((fl & MEND_TCP_SYN) ? 1u : 0u) + ((fl & MEND_TCP_FIN) ? 1u : 0u);
    if (seg) {
        if (f->hi_ok[s] && seq_lt(p->seq, f->hi[s]))
            retrans = 1;
        uint32_t end = p->seq + seg;
        if (!f->hi_ok[s] || seq_lt(f->hi[s], end)) {
            f->hi[s] = end;
            f->hi_ok[s] = 1;
        }
    }
    if (fl & MEND_TCP_RST) {
        if (rw)
            rw->resets++;
    } else if ((fl & (MEND_TCP_SYN | MEND_TCP_ACK)) == (MEND_TCP_SYN | MEND_TCP_ACK) && from_srv) {
        if (f->hs == HS_SYN) {
            f->hs = HS_SYNACK;
            f->synack_seq = p->seq;
        } else if (f->hs == HS_SYNACK) {
            f->karn = 1;
        }
    } else if ((fl & MEND_TCP_SYN) && !from_srv && retrans) {
        f->karn = 1; /* a repeated SYN: the RTT would be ambiguous */
    } else if ((fl & (MEND_TCP_SYN | MEND_TCP_ACK)) == MEND_TCP_ACK && !from_srv &&
               f->hs == HS_SYNACK && p->ack == f->synack_seq + 1) {
        f->hs = HS_DONE;
        if (!f->karn && rw && t >= f->syn_ns) {
            rw->rtt_n++;
            rw->rtt_sum_ns += t - f->syn_ns;
        }
    }
    if (rw && retrans)
        rw->retrans++;
    if (rw && from_srv && !retrans && is_http_5xx(p->payload, p->payload_cap))
        rw->http_5xx++;
}

int mend_pcap_agg_packet(struct mend_pcap_agg *a, int link, int64_t t, const uint8_t *frame,
                         size_t caplen, uint32_t wire_len, const char **why)
{
    struct mend_pkt p;
    struct fkey k;
    int rc, s, isnew = 0;
    a->st.packets++;
    a->st.bytes += wire_len;
    if (t < 0 || t > MEND_PCAP_MAX_TIME_NS) {
        a->st.malformed++;
        if (why)
            *why = "timestamp out of range (before 1970 or after 2116)";
        return MEND_PKT_MALFORMED;
    }
    if (!a->started) {
        a->started = 1;
        a->cur_end = floor_to(t, a->conf.interval_ns);
        a->cur_end = a->cur_end > INT64_MAX - a->conf.interval_ns ? INT64_MAX
                                                                  : a->cur_end + a->conf.interval_ns;
    }
    if ((rc = mend_pcap_agg_advance(a, t)) < 0)
        return rc;
    sweep_pending(a, t + 1); /* t <= MEND_PCAP_MAX_TIME_NS: no overflow here or below */
    sweep_idle(a, t);
    rc = mend_pcap_decode(link, frame, caplen, &p, why);
    if (rc == MEND_PKT_OTHER)
        a->st.other++;
    else if (rc == MEND_PKT_TRUNCATED)
        a->st.truncated++;
    else if (rc == MEND_PKT_MALFORMED)
        a->st.malformed++;
    if (rc != MEND_PKT_OK)
        return rc;
    a->st.decoded++;

    /* the normalised key: the lower (address, port) first */
    memset(&k, 0, sizeof k);
    k.fam = p.family;
    k.proto = p.proto;
    int c = memcmp(p.src, p.dst, 16);
    s = c > 0 || (c == 0 && p.sport > p.dport); /* the sender is b */
    memcpy(k.a, s ? p.dst : p.src, 16);
    memcpy(k.b, s ? p.src : p.dst, 16);
    k.pa = s ? p.dport : p.sport;
    k.pb = s ? p.sport : p.dport;

    int syn_only = p.proto == MEND_PKT_TCP &&
                   (p.tcp_flags & (MEND_TCP_SYN | MEND_TCP_ACK | MEND_TCP_RST)) == MEND_TCP_SYN;
    uint32_t fi = flow_find(a, &k);
    if (fi != NIL && syn_only && a->fl[fi].hs != HS_NONE && p.seq != a->fl[fi].syn_seq &&
        s != a->fl[fi].srv) {
        flow_drop(a, fi); /* the 5-tuple reused by a new connection */
        fi = NIL;
    } else if (fi != NIL && syn_only && a->fl[fi].hs == HS_NONE) {
        flow_drop(a, fi); /* a flow caught mid-way, now a proper start */
        fi = NIL;
    }
    if (fi == NIL) {
        if ((rc = flow_alloc(a, &fi)) < 0)
            return rc;
        struct flow *f = &a->fl[fi];
        memset(f, 0, sizeof *f);
        f->k = k;
        f->used = 1;
        f->pprev = f->pnext = NIL;
        f->last_ns = f->linked_ns = t;
        if (syn_only)
            f->srv = (uint8_t)!s; /* the SYN's receiver */
        else if (p.proto == MEND_PKT_UDP)
            /* the first datagram's receiver, unless it looks like an answer
             * from a well-known port to an ephemeral one (a capture that
             * began mid-exchange) */
            f->srv = (uint8_t)(p.sport < 1024 && p.dport >= 1024 ? s : !s);
        else if (p.sport != p.dport) /* TCP caught mid-way: the lower port serves */
            f->srv = (uint8_t)(k.pa < k.pb ? 0 : 1);
        else
            f->srv = (uint8_t)!s;
        uint32_t h = fhash(a, &k);
        f->hnext = a->bucket[h];
        a->bucket[h] = fi;
        lru_push(a, fi);
        a->st.flows++;
        a->st.flows_open++;
        isnew = 1;
        if (syn_only) {
            f->hs = HS_SYN;
            f->syn_ns = t;
            f->syn_seq = p.seq;
        }
    } else {
        struct flow *f = &a->fl[fi];
        if (t > f->last_ns)
            f->last_ns = t;
        /* moving to the head costs two cold neighbours per packet: done
         * only when the position is LRU_SLACK_NS stale (sweep_idle and the
         * cap's victim choice stay within that of true LRU) */
        if (f->last_ns - f->linked_ns >= LRU_SLACK_NS) {
            lru_unlink(a, fi);
            lru_push(a, fi);
            f->linked_ns = f->last_ns;
        }
    }
    struct flow *f = &a->fl[fi];
    struct row *rw = flow_row(a, f);
    if (!rw)
        a->st.rows_dropped++;
    if (isnew && (syn_only || p.proto == MEND_PKT_UDP)) {
        if (rw)
            rw->syn++;
        int64_t dl = t > INT64_MAX - a->conf.reply_timeout_ns ? INT64_MAX : t + a->conf.reply_timeout_ns;
        pend_push(a, fi, dl);
    }
    if (s == f->srv && f->pending)
        pend_unlink(a, fi); /* answered */
    if (rw) {
        rw->packets++;
        rw->bytes += wire_len;
    }
    if (p.proto == MEND_PKT_TCP)
        count_tcp(a, fi, &p, s, t, rw);
    else if (rw && (p.sport == 53) && p.payload_cap >= 12 && (p.payload[2] & 0x80) &&
             (p.payload[3] & 0x0f))
        rw->dns_errors++;
    return MEND_PKT_OK;
}

int mend_pcap_agg_finish(struct mend_pcap_agg *a)
{
    if (!a->started)
        return MEND_OK;
    while (a->pend_head != NIL)
        unanswered(a, a->pend_head);
    if (a->n_rows == 0)
        return MEND_OK;
    return emit_rows(a);
}
