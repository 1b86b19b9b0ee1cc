/* template.c -- the log template miner (see include/mend/template.h).
 *
 * This is where src/logs starts. A log format plug-in (issue 5's format ops
 * table) is meant to own one miner per instance: its line op extracts the
 * message and calls mend_tmpl_add(), counting the returned id (and
 * match.created, for the rate of new templates) per entity; its flush op
 * emits those counts as series for the interval and clears them; its
 * checkpoint section is mend_tmpl_save() / mend_tmpl_load(). Ids are stable,
 * so a series keyed by template id keeps its meaning as the template text
 * generalises; mend_tmpl_get() gives the text for an incident. The miner owns a fixed-depth parse tree (root, then one node per
 * token count, then one level per leading token) whose leaves list template
 * slots, a slot array holding the templates, and a least-recently-used list
 * over the slots. Slots are reused after eviction; ids never are.
 *
 * Every structure is bounded by the conf: children per node, templates per
 * leaf and in all, tokens per message and bytes per token and line. An
 * evicted template leaves no empty tree nodes behind (they are pruned), so
 * churn in messages does not grow the tree for good. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask.h"
#include "mend/template.h"

#define NONE UINT32_MAX
#define TMPL_MAGIC 0x4c504d54u /* "TMPL" */
#define TMPL_VERSION 1u

struct tnode {
    uint64_t h;            /* hash of the token, or the token count at level 1 */
    char *key;             /* token bytes (owned); NULL at the root and level 1 */
    uint32_t klen;
    struct tnode *parent;
    struct tnode *wkid;    /* the `<*>` child among kid[], or NULL */
    struct tnode **kid;
    uint32_t nkid, kidcap;
    uint32_t *leaf;        /* template slots in creation order */
    uint32_t nleaf, leafcap;
};

struct clu {
    uint64_t id, count, tick;
    char *text;            /* NUL-terminated for convenience; tlen bytes */
    uint32_t tlen;
    struct logs_tok *tok;
    uint32_t ntok, nwild;
    struct tnode *leaf;
    uint32_t prev, next;   /* LRU list, prev = more recently used */
    uint8_t used;
};

struct mend_tmpl {
    struct mend_tmpl_conf conf;
    struct tnode root;
    struct clu *slot;
    uint32_t nslot, slotcap;
    uint32_t free_head;    /* free slots chained through next */
    uint32_t lru_head, lru_tail;
    uint64_t next_id, tick;
    uint64_t bytes;        /* template text and tokens held, against max_mbytes */
    struct mend_tmpl_stats st;
    char *buf;             /* the masked message */
    struct logs_tok *mtok; /* its tokens */
};

void mend_tmpl_conf_defaults(struct mend_tmpl_conf *c)
{
    c->depth = 4;
    c->sim = 0.78;
    c->max_children = 100;
    c->max_templates = 10000;
    c->max_mbytes = 64;
    c->max_leaf = 1000;
    c->max_tokens = 256;
    c->max_token = 256;
    c->max_line = 65536;
}

/* The options, one table for the check, --set and the help text. */
static const struct tmpl_opt {
    const char *key;
    size_t off;
    int is_f64;
    double min, max;
    const char *help;
} tmpl_opts[] = {
    {"depth", offsetof(struct mend_tmpl_conf, depth), 0, 3, 16,
     "parse tree depth: root, token count, then depth-2 leading tokens"},
    {"sim", offsetof(struct mend_tmpl_conf, sim), 1, 0, 1,
     "share of equal tokens needed to join a template (above 0, at most 1)"},
    {"max_children", offsetof(struct mend_tmpl_conf, max_children), 0, 1, 100000,
     "token children per tree node; more go to the <*> child"},
    {"max_templates", offsetof(struct mend_tmpl_conf, max_templates), 0, 1, 10000000,
     "templates kept; the least recently used is evicted beyond"},
    {"max_mbytes", offsetof(struct mend_tmpl_conf, max_mbytes), 0, 1, 65536,
     "MiB of template text kept; the least recently used is evicted beyond"},
    {"max_leaf", offsetof(struct mend_tmpl_conf, max_leaf), 0, 1, 1000000,
     "templates per tree leaf; the least recently used is evicted beyond"},
    {"max_tokens", offsetof(struct mend_tmpl_conf, max_tokens), 0, 1, 65536,
     "tokens per message; the rest folds into one <*>"},
    {"max_token", offsetof(struct mend_tmpl_conf, max_token), 0, 3, 1048576,
     "longest token in bytes; a longer one becomes <*>"},
    {"max_line", offsetof(struct mend_tmpl_conf, max_line), 0, 1, 16777216,
     "longest message in bytes; the rest is cut"},
};
#define N_OPTS (sizeof tmpl_opts / sizeof tmpl_opts[0])

static double opt_get(const struct mend_tmpl_conf *c, const struct tmpl_opt *o)
{
    const char *p = (const char *)c + o->off;
    double d;
    uint32_t u;
    if (o->is_f64) {
        memcpy(&d, p, sizeof d);
        return d;
    }
    memcpy(&u, p, sizeof u);
    return u;
}

static int opt_bad(const struct tmpl_opt *o, char *err, size_t errlen)
{
    if (err && errlen) {
        if (o->is_f64)
            snprintf(err, errlen, "logs.%s: above %g and at most %g", o->key, o->min, o->max);
        else
            snprintf(err, errlen, "logs.%s: a whole number from %.0f to %.0f", o->key, o->min,
                     o->max);
    }
    return MEND_EINVAL;
}

int mend_tmpl_conf_check(const struct mend_tmpl_conf *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct tmpl_opt *o = &tmpl_opts[i];
        double v = opt_get(c, o);
        /* sim excludes its minimum: 0 would join everything */
        if (!(v >= o->min && v <= o->max) || (o->is_f64 && v == o->min))
            return opt_bad(o, err, errlen);
    }
    return MEND_OK;
}

int mend_tmpl_conf_set(struct mend_tmpl_conf *c, const char *key, const char *value, char *err,
                       size_t errlen)
{
    if (!strncmp(key, "logs.", 5))
        key += 5;
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct tmpl_opt *o = &tmpl_opts[i];
        if (strcmp(key, o->key))
            continue;
        char *p = (char *)c + o->off;
        if (o->is_f64) {
            double d;
            if (mend_parse_f64(value, strlen(value), 0, &d) || !(d > o->min && d <= o->max))
                return opt_bad(o, err, errlen);
            memcpy(p, &d, sizeof d);
        } else {
            uint64_t u;
            if (mend_parse_u64(value, strlen(value), &u) || (double)u < o->min ||
                (double)u > o->max)
                return opt_bad(o, err, errlen);
            uint32_t v = (uint32_t)u;
            memcpy(p, &v, sizeof v);
        }
        return MEND_OK;
    }
    if (err && errlen)
        snprintf(err, errlen, "logs.%s: no such option", key);
    return MEND_EINVAL;
}

size_t mend_tmpl_conf_describe(size_t i, const char **key, char *def, size_t deflen,
                               const char **help)
{
    if (i >= N_OPTS)
        return 0;
    struct mend_tmpl_conf c;
    mend_tmpl_conf_defaults(&c);
    *key = tmpl_opts[i].key;
    *help = tmpl_opts[i].help;
    snprintf(def, deflen, "%g", opt_get(&c, &tmpl_opts[i]));
    return N_OPTS;
}

/* ---- tree ---------------------------------------------------------------- */

static void node_fini(struct tnode *n)
{
    for (uint32_t i = 0; i < n->nkid; i++) {
        node_fini(n->kid[i]);
        free(n->kid[i]);
    }
    free(n->kid);
    free(n->leaf);
    free(n->key);
    memset(n, 0, sizeof *n);
}

static int is_wild(const char *k, size_t n)
{
    return n == 3 && !memcmp(k, MEND_TMPL_PARAM, 3);
}

static struct tnode *node_find(const struct tnode *n, uint64_t h, const char *key, uint32_t klen)
{
    for (uint32_t i = 0; i < n->nkid; i++) {
        struct tnode *k = n->kid[i];
        if (k->h == h && k->klen == klen && (!klen || !memcmp(k->key, key, klen)))
            return k;
    }
    return NULL;
}

/* A new child of p; key NULL for a level-1 (token count) node. */
static struct tnode *node_add(struct tnode *p, uint64_t h, const char *key, uint32_t klen)
{
    if (p->nkid == p->kidcap) {
        uint32_t cap = p->kidcap ? p->kidcap * 2 : 4;
        struct tnode **k = realloc(p->kid, cap * sizeof *k);
        if (!k)
            return NULL;
        p->kid = k;
        p->kidcap = cap;
    }
    struct tnode *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (key) {
        c->key = malloc(klen ? klen : 1);
        if (!c->key) {
            free(c);
            return NULL;
        }
        memcpy(c->key, key, klen);
    }
    c->h = h;
    c->klen = klen;
    c->parent = p;
    if (key && is_wild(key, klen))
        p->wkid = c;
    p->kid[p->nkid++] = c;
    return c;
}

/* Drops empty nodes from n upwards, stopping at the root and at keep. */
static void node_prune(struct mend_tmpl *m, struct tnode *n, const struct tnode *keep)
{
    while (n != &m->root && n != keep && n->nkid == 0 && n->nleaf == 0) {
        struct tnode *p = n->parent;
        for (uint32_t i = 0; i < p->nkid; i++)
            if (p->kid[i] == n) {
                /* keep sibling order: it is saved, and a restored tree must
                 * be the same tree */
                memmove(p->kid + i, p->kid + i + 1, (p->nkid - i - 1) * sizeof *p->kid);
                p->nkid--;
                break;
            }
        if (p->wkid == n)
            p->wkid = NULL;
        node_fini(n);
        free(n);
        n = p;
    }
}

/* ---- slots and the LRU list --------------------------------------------- */

static void lru_unlink(struct mend_tmpl *m, uint32_t s)
{
    struct clu *c = &m->slot[s];
    if (c->prev != NONE)
        m->slot[c->prev].next = c->next;
    else
        m->lru_head = c->next;
    if (c->next != NONE)
        m->slot[c->next].prev = c->prev;
    else
        m->lru_tail = c->prev;
    c->prev = c->next = NONE;
}

static void lru_push(struct mend_tmpl *m, uint32_t s)
{
    struct clu *c = &m->slot[s];
    c->prev = NONE;
    c->next = m->lru_head;
    if (m->lru_head != NONE)
        m->slot[m->lru_head].prev = s;
    m->lru_head = s;
    if (m->lru_tail == NONE)
        m->lru_tail = s;
}

static void lru_touch(struct mend_tmpl *m, uint32_t s)
{
    if (m->lru_head == s)
        return;
    lru_unlink(m, s);
    lru_push(m, s);
}

static uint64_t clu_bytes(const struct clu *c)
{
    return (uint64_t)c->tlen + (uint64_t)c->ntok * sizeof *c->tok;
}

static void clu_release(struct clu *c)
{
    free(c->text);
    free(c->tok);
    memset(c, 0, sizeof *c);
}

/* Removes template s from its leaf, the LRU list and the slot array. */
static void clu_remove(struct mend_tmpl *m, uint32_t s, const struct tnode *keep)
{
    struct clu *c = &m->slot[s];
    struct tnode *leaf = c->leaf;
    for (uint32_t i = 0; i < leaf->nleaf; i++)
        if (leaf->leaf[i] == s) {
            memmove(leaf->leaf + i, leaf->leaf + i + 1, (leaf->nleaf - i - 1) * sizeof *leaf->leaf);
            leaf->nleaf--;
            break;
        }
    lru_unlink(m, s);
    m->bytes -= clu_bytes(c);
    clu_release(c);
    c->next = m->free_head;
    m->free_head = s;
    m->st.templates--;
    node_prune(m, leaf, keep);
}

/* A free slot, growing the array up to max_templates; NONE when out of memory. */
static uint32_t slot_take(struct mend_tmpl *m)
{
    if (m->free_head != NONE) {
        uint32_t s = m->free_head;
        m->free_head = m->slot[s].next;
        return s;
    }
    if (m->nslot == m->slotcap) {
        uint32_t cap = m->slotcap ? m->slotcap * 2 : 64;
        if (cap > m->conf.max_templates)
            cap = m->conf.max_templates;
        if (cap <= m->slotcap)
            return NONE;
        struct clu *n = realloc(m->slot, (size_t)cap * sizeof *n);
        if (!n)
            return NONE;
        m->slot = n;
        m->slotcap = cap;
    }
    memset(&m->slot[m->nslot], 0, sizeof m->slot[0]);
    return m->nslot++;
}

/* Sets c's text (len bytes) and splits it into tokens at single spaces. */
static int clu_set_text(struct clu *c, const char *text, uint32_t len, uint32_t ntok_hint)
{
    char *t = malloc((size_t)len + 1);
    struct logs_tok *tok = malloc((size_t)(ntok_hint ? ntok_hint : 1) * sizeof *tok);
    if (!t || !tok) {
        free(t);
        free(tok);
        return MEND_ENOMEM;
    }
    memcpy(t, text, len);
    t[len] = '\0';
    uint32_t n = 0, s = 0, nw = 0;
    for (uint32_t i = 0; len && i <= len; i++) {
        if (i == len || t[i] == ' ') {
            if (n == ntok_hint) {
                free(t);
                free(tok);
                return MEND_ECORRUPT;
            }
            tok[n].off = s;
            tok[n].len = i - s;
            logs_tok_describe(t, &tok[n]);
            nw += (tok[n].flags & LOGS_TOK_WILD) != 0;
            n++;
            s = i + 1;
        }
    }
    free(c->text);
    free(c->tok);
    c->text = t;
    c->tlen = len;
    c->tok = tok;
    c->ntok = n;
    c->nwild = nw;
    return MEND_OK;
}

/* ---- lifecycle ------------------------------------------------------------ */

int mend_tmpl_new(const struct mend_tmpl_conf *c, struct mend_tmpl **out)
{
    *out = NULL;
    if (mend_tmpl_conf_check(c, NULL, 0))
        return MEND_EINVAL;
    struct mend_tmpl *m = calloc(1, sizeof *m);
    if (!m)
        return MEND_ENOMEM;
    m->conf = *c;
    m->buf = malloc(LOGS_MASK_OUT(c->max_line));
    m->mtok = malloc((size_t)c->max_tokens * sizeof *m->mtok);
    if (!m->buf || !m->mtok) {
        mend_tmpl_free(m);
        return MEND_ENOMEM;
    }
    m->free_head = m->lru_head = m->lru_tail = NONE;
    m->next_id = 1;
    *out = m;
    return MEND_OK;
}

/* Back to the state of a fresh miner (conf and buffers kept). */
static void tmpl_reset(struct mend_tmpl *m)
{
    node_fini(&m->root);
    for (uint32_t i = 0; i < m->nslot; i++)
        clu_release(&m->slot[i]);
    free(m->slot);
    m->slot = NULL;
    m->nslot = m->slotcap = 0;
    m->free_head = m->lru_head = m->lru_tail = NONE;
    m->next_id = 1;
    m->tick = 0;
    m->bytes = 0;
    memset(&m->st, 0, sizeof m->st);
}

void mend_tmpl_free(struct mend_tmpl *m)
{
    if (!m)
        return;
    tmpl_reset(m);
    free(m->buf);
    free(m->mtok);
    free(m);
}

/* ---- mining --------------------------------------------------------------- */

static int tok_eq(const char *ta, const struct logs_tok *a, const char *tb, const struct logs_tok *b)
{
    return a->h == b->h && a->len == b->len && !memcmp(ta + a->off, tb + b->off, a->len);
}

/* Share of equal tokens over the positions where neither side is `<*>`, or
 * -1 when the two cannot be one event (same key, different word values). */
static double similarity(const struct clu *c, const char *mt, const struct logs_tok *mtok)
{
    uint32_t same = 0, total = 0;
    for (uint32_t i = 0; i < c->ntok; i++) {
        const struct logs_tok *a = &c->tok[i], *b = &mtok[i];
        if ((a->flags | b->flags) & LOGS_TOK_WILD)
            continue;
        total++;
        if (tok_eq(c->text, a, mt, b))
            same++;
        else if (a->kv && a->kv == b->kv && !memcmp(c->text + a->off, mt + b->off, a->kv) &&
                 (a->kvkind != b->kvkind || a->kvkind == LOGS_KV_WORD))
            return -1.0; /* user=root vs user=guest; tty=:0 vs tty=ssh; rhost= vs rhost=x */
        else if (a->flags & b->flags & LOGS_TOK_CAPS)
            return -1.0; /* from NEW vs from RUNNING */
    }
    return total ? (double)same / (double)total : 1.0;
}

/* Turns the positions where the message differs into `<*>`; returns 1 when
 * the template changed, 0 when not, or MEND_ENOMEM. */
static int clu_merge(struct clu *c, const char *mt, const struct logs_tok *mtok)
{
    size_t len = 0;
    int changed = 0;
    for (uint32_t i = 0; i < c->ntok; i++) {
        const struct logs_tok *a = &c->tok[i];
        if (!(a->flags & LOGS_TOK_WILD) && !tok_eq(c->text, a, mt, &mtok[i])) {
            changed = 1;
            len += 3;
        } else {
            len += a->len;
        }
        len += i > 0;
    }
    if (!changed)
        return 0;
    char *t = malloc(len + 1);
    if (!t)
        return MEND_ENOMEM;
    size_t w = 0;
    for (uint32_t i = 0; i < c->ntok; i++) {
        struct logs_tok *a = &c->tok[i];
        if (i)
            t[w++] = ' ';
        uint32_t off = (uint32_t)w;
        if (!(a->flags & LOGS_TOK_WILD) && !tok_eq(c->text, a, mt, &mtok[i])) {
            memcpy(t + w, MEND_TMPL_PARAM, 3);
            w += 3;
            c->nwild++;
        } else {
            memcpy(t + w, c->text + a->off, a->len);
            w += a->len;
        }
        a->off = off;
        a->len = (uint32_t)(w - off);
    }
    t[w] = '\0';
    free(c->text);
    c->text = t;
    c->tlen = (uint32_t)w;
    for (uint32_t i = 0; i < c->ntok; i++)
        logs_tok_describe(t, &c->tok[i]);
    return 1;
}

/* Evicts least recently used templates while the text held is over
 * max_mbytes, never the most recent one (the one just used). */
static void trim_bytes(struct mend_tmpl *m, const struct tnode *keep)
{
    uint64_t cap = (uint64_t)m->conf.max_mbytes << 20;
    while (m->bytes > cap && m->lru_tail != m->lru_head) {
        clu_remove(m, m->lru_tail, keep);
        m->st.evicted++;
    }
}

/* The leaf for a masked message, creating the path as needed. */
static struct tnode *route(struct mend_tmpl *m, const char *mt, const struct logs_tok *tok, uint32_t ntok)
{
    struct tnode *n = node_find(&m->root, ntok, NULL, 0);
    if (!n && !(n = node_add(&m->root, ntok, NULL, 0)))
        return NULL;
    uint32_t levels = m->conf.depth - 2;
    if (levels > ntok)
        levels = ntok;
    for (uint32_t i = 0; i < levels; i++) {
        const char *key = mt + tok[i].off;
        uint32_t klen = tok[i].len;
        uint64_t h = tok[i].h;
        if (tok[i].flags & LOGS_TOK_PARAM) {
            key = MEND_TMPL_PARAM;
            klen = 3;
            h = mend_hash(MEND_HASH_SEED, key, 3);
        }
        struct tnode *k = node_find(n, h, key, klen);
        if (!k && !is_wild(key, klen) && n->nkid - (n->wkid != NULL) >= m->conf.max_children) {
            m->st.child_overflow++;
            key = MEND_TMPL_PARAM;
            klen = 3;
            h = mend_hash(MEND_HASH_SEED, key, 3);
            k = n->wkid;
        }
        if (!k && !(k = node_add(n, h, key, klen))) {
            node_prune(m, n, NULL); /* no empty path left behind */
            return NULL;
        }
        n = k;
    }
    return n;
}

int mend_tmpl_add(struct mend_tmpl *m, const char *msg, size_t len, struct mend_tmpl_match *out)
{
    struct logs_mask_counts cnt = {0, 0, 0};
    uint32_t ntok;
    memset(out, 0, sizeof *out);
    if (len > m->conf.max_line) {
        len = m->conf.max_line;
        m->st.long_lines++;
    }
    size_t mlen = logs_mask(msg, len, m->buf, m->mtok, m->conf.max_tokens, m->conf.max_token,
                            &ntok, &cnt);
    m->st.token_overflow += cnt.token_overflow;
    m->st.long_tokens += cnt.long_tokens;
    m->st.control_bytes += cnt.control_bytes;
    m->st.messages++;
    m->tick++;
    if (!ntok)
        m->st.empty++;

    struct tnode *leaf = route(m, m->buf, m->mtok, ntok);
    if (!leaf)
        return MEND_ENOMEM;
    uint32_t best = NONE, best_wild = 0;
    double best_sim = -1.0;
    for (uint32_t i = 0; i < leaf->nleaf; i++) {
        const struct clu *c = &m->slot[leaf->leaf[i]];
        double s = similarity(c, m->buf, m->mtok);
        if (s > best_sim || (s == best_sim && best != NONE && c->nwild > best_wild)) {
            best = leaf->leaf[i];
            best_sim = s;
            best_wild = c->nwild;
        }
    }
    if (best != NONE && best_sim >= m->conf.sim) {
        struct clu *c = &m->slot[best];
        uint64_t before = clu_bytes(c);
        int rc = clu_merge(c, m->buf, m->mtok);
        if (rc < 0)
            return rc;
        m->bytes = m->bytes - before + clu_bytes(c);
        m->st.generalised += (uint64_t)rc;
        c->count++;
        c->tick = m->tick;
        lru_touch(m, best);
        trim_bytes(m, leaf);
        out->id = c->id;
        out->text = c->text;
        out->len = c->tlen;
        out->changed = rc;
        return MEND_OK;
    }

    /* a new template: make room first */
    if (leaf->nleaf >= m->conf.max_leaf) {
        uint32_t old = leaf->leaf[0];
        for (uint32_t i = 1; i < leaf->nleaf; i++)
            if (m->slot[leaf->leaf[i]].tick < m->slot[old].tick)
                old = leaf->leaf[i];
        clu_remove(m, old, leaf);
        m->st.leaf_evicted++;
    }
    if (m->st.templates >= m->conf.max_templates) {
        clu_remove(m, m->lru_tail, leaf);
        m->st.evicted++;
    }
    if (leaf->nleaf == leaf->leafcap) {
        uint32_t cap = leaf->leafcap ? leaf->leafcap * 2 : 2;
        uint32_t *l = realloc(leaf->leaf, cap * sizeof *l);
        if (!l)
            goto nomem;
        leaf->leaf = l;
        leaf->leafcap = cap;
    }
    uint32_t s = slot_take(m);
    if (s == NONE)
        goto nomem;
    struct clu *c = &m->slot[s];
    if (clu_set_text(c, m->buf, (uint32_t)mlen, ntok)) {
        c->next = m->free_head;
        m->free_head = s;
        goto nomem;
    }
    c->used = 1;
    c->id = m->next_id++;
    c->count = 1;
    c->tick = m->tick;
    c->leaf = leaf;
    leaf->leaf[leaf->nleaf++] = s;
    lru_push(m, s);
    m->bytes += clu_bytes(c);
    m->st.templates++;
    m->st.created++;
    trim_bytes(m, leaf);
    out->id = c->id;
    out->text = c->text;
    out->len = c->tlen;
    out->created = 1;
    return MEND_OK;
nomem:
    node_prune(m, leaf, NULL);
    return MEND_ENOMEM;
}

int mend_tmpl_get(const struct mend_tmpl *m, uint64_t id, const char **text, size_t *len)
{
    for (uint32_t i = 0; i < m->nslot; i++)
        if (m->slot[i].used && m->slot[i].id == id) {
            *text = m->slot[i].text;
            *len = m->slot[i].tlen;
            return MEND_OK;
        }
    return MEND_ENOTFOUND;
}

void mend_tmpl_get_stats(const struct mend_tmpl *m, struct mend_tmpl_stats *s)
{
    *s = m->st;
}

/* ---- checkpoint ------------------------------------------------------------ */

static void stats_io_save(const struct mend_tmpl_stats *s, struct mend_wbuf *w)
{
    mend_wbuf_u64(w, s->messages);
    mend_wbuf_u64(w, s->created);
    mend_wbuf_u64(w, s->generalised);
    mend_wbuf_u64(w, s->evicted);
    mend_wbuf_u64(w, s->leaf_evicted);
    mend_wbuf_u64(w, s->child_overflow);
    mend_wbuf_u64(w, s->long_lines);
    mend_wbuf_u64(w, s->token_overflow);
    mend_wbuf_u64(w, s->long_tokens);
    mend_wbuf_u64(w, s->control_bytes);
    mend_wbuf_u64(w, s->empty);
}

static void stats_io_load(struct mend_tmpl_stats *s, struct mend_rbuf *r)
{
    s->messages = mend_rbuf_u64(r);
    s->created = mend_rbuf_u64(r);
    s->generalised = mend_rbuf_u64(r);
    s->evicted = mend_rbuf_u64(r);
    s->leaf_evicted = mend_rbuf_u64(r);
    s->child_overflow = mend_rbuf_u64(r);
    s->long_lines = mend_rbuf_u64(r);
    s->token_overflow = mend_rbuf_u64(r);
    s->long_tokens = mend_rbuf_u64(r);
    s->control_bytes = mend_rbuf_u64(r);
    s->empty = mend_rbuf_u64(r);
}

/* Preorder: leaf entries (as positions in the saved LRU order), then the
 * children, each with its key. The depth is bounded by conf.depth. */
static void node_save(const struct tnode *n, int level, const uint32_t *pos, struct mend_wbuf *w)
{
    mend_wbuf_u32(w, n->nleaf);
    for (uint32_t i = 0; i < n->nleaf; i++)
        mend_wbuf_u32(w, pos[n->leaf[i]]);
    mend_wbuf_u32(w, n->nkid);
    for (uint32_t i = 0; i < n->nkid; i++) {
        const struct tnode *k = n->kid[i];
        if (level == 0) {
            mend_wbuf_u32(w, (uint32_t)k->h);
        } else {
            mend_wbuf_u32(w, k->klen);
            mend_wbuf_bytes(w, k->key, k->klen);
        }
        node_save(k, level + 1, pos, w);
    }
}

void mend_tmpl_save(const struct mend_tmpl *m, struct mend_wbuf *w)
{
    uint32_t *pos = malloc((size_t)(m->nslot ? m->nslot : 1) * sizeof *pos);
    if (!pos) {
        w->failed = 1;
        return;
    }
    mend_wbuf_u32(w, TMPL_MAGIC);
    mend_wbuf_u32(w, TMPL_VERSION);
    mend_wbuf_u32(w, m->conf.depth);
    mend_wbuf_u32(w, m->conf.max_tokens);
    mend_wbuf_u32(w, m->conf.max_token);
    mend_wbuf_u32(w, m->conf.max_line);
    mend_wbuf_u64(w, m->next_id);
    mend_wbuf_u64(w, m->tick);
    stats_io_save(&m->st, w);
    mend_wbuf_u32(w, (uint32_t)m->st.templates);
    uint32_t k = 0;
    for (uint32_t s = m->lru_head; s != NONE; s = m->slot[s].next) {
        const struct clu *c = &m->slot[s];
        pos[s] = k++;
        mend_wbuf_u64(w, c->id);
        mend_wbuf_u64(w, c->count);
        mend_wbuf_u64(w, c->tick);
        mend_wbuf_u32(w, c->ntok);
        mend_wbuf_u32(w, c->tlen);
        mend_wbuf_bytes(w, c->text, c->tlen);
    }
    node_save(&m->root, 0, pos, w);
    free(pos);
}

/* Bytes the miner never writes into a template or key: a checkpoint that
 * holds them was not written by it (and they would break the output). */
static int has_control(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 1;
    return 0;
}

struct load_ctx {
    struct mend_tmpl *m;
    struct mend_rbuf *r;
    uint32_t n;        /* templates read */
    uint8_t *placed;   /* per template: already in a leaf */
    uint32_t key_cap;  /* longest route key a message can produce */
};

static int node_load(struct load_ctx *x, struct tnode *n, uint32_t level, uint32_t count)
{
    struct mend_tmpl *m = x->m;
    struct mend_rbuf *r = x->r;
    /* the level below the root names a token count; levels after it one token
     * each, as many as route() walks for that count */
    uint32_t levels = m->conf.depth - 2;
    if (level >= 1 && levels > count)
        levels = count;
    int at_leaf = level >= 1 && level - 1 == levels;

    uint32_t nleaf = mend_rbuf_u32(r);
    if (r->failed || (nleaf && !at_leaf) || nleaf > x->n)
        return MEND_ECORRUPT;
    if (nleaf > m->conf.max_leaf)
        return MEND_ECAP;
    if (nleaf) {
        n->leaf = malloc(nleaf * sizeof *n->leaf);
        if (!n->leaf)
            return MEND_ENOMEM;
        n->leafcap = nleaf;
    }
    for (uint32_t i = 0; i < nleaf; i++) {
        uint32_t p = mend_rbuf_u32(r);
        if (r->failed || p >= x->n || x->placed[p] || m->slot[p].ntok != count)
            return MEND_ECORRUPT;
        x->placed[p] = 1;
        m->slot[p].leaf = n;
        n->leaf[n->nleaf++] = p;
    }
    uint32_t nkid = mend_rbuf_u32(r);
    if (r->failed || (nkid && at_leaf) || (level == 0 && nkid > m->conf.max_tokens + 1))
        return MEND_ECORRUPT;
    for (uint32_t i = 0; i < nkid; i++) {
        struct tnode *k;
        uint32_t kcount = count;
        if (level == 0) {
            kcount = mend_rbuf_u32(r);
            if (r->failed || kcount > m->conf.max_tokens || node_find(n, kcount, NULL, 0))
                return MEND_ECORRUPT;
            if (!(k = node_add(n, kcount, NULL, 0)))
                return MEND_ENOMEM;
        } else {
            uint32_t klen = mend_rbuf_u32(r);
            if (r->failed || klen == 0 || klen > x->key_cap || klen > mend_rbuf_remaining(r))
                return MEND_ECORRUPT;
            const char *key = (const char *)r->p + r->off;
            r->off += klen;
            if (memchr(key, ' ', klen) || has_control(key, klen))
                return MEND_ECORRUPT;
            uint64_t h = mend_hash(MEND_HASH_SEED, key, klen);
            if (node_find(n, h, key, klen))
                return MEND_ECORRUPT;
            if (!is_wild(key, klen) && n->nkid - (n->wkid != NULL) >= m->conf.max_children)
                return MEND_ECAP;
            if (!(k = node_add(n, h, key, klen)))
                return MEND_ENOMEM;
        }
        int rc = node_load(x, k, level + 1, kcount);
        if (rc)
            return rc;
    }
    return MEND_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int tmpl_load(struct mend_tmpl *m, struct mend_rbuf *r)
{
    if (mend_rbuf_u32(r) != TMPL_MAGIC || r->failed)
        return MEND_ECORRUPT;
    if (mend_rbuf_u32(r) != TMPL_VERSION)
        return r->failed ? MEND_ECORRUPT : MEND_EVERSION;
    uint32_t depth = mend_rbuf_u32(r), max_tokens = mend_rbuf_u32(r);
    uint32_t max_token = mend_rbuf_u32(r), max_line = mend_rbuf_u32(r);
    if (r->failed)
        return MEND_ECORRUPT;
    if (depth != m->conf.depth || max_tokens != m->conf.max_tokens ||
        max_token != m->conf.max_token || max_line != m->conf.max_line)
        return MEND_EINVAL;
    m->next_id = mend_rbuf_u64(r);
    m->tick = mend_rbuf_u64(r);
    stats_io_load(&m->st, r);
    uint32_t n = mend_rbuf_u32(r);
    /* ids are handed out 1, 2, ...: created is next_id - 1 (a log-signal
     * section relies on ids never exceeding it) */
    if (r->failed || m->next_id == 0 || m->next_id - 1 < n || m->st.created != m->next_id - 1)
        return MEND_ECORRUPT;
    if (n > m->conf.max_templates)
        return MEND_ECAP;

    /* templates, most recently used first: slots 0..n-1 in that order */
    size_t text_cap = LOGS_MASK_OUT(m->conf.max_line);
    if (n) {
        m->slot = calloc(n, sizeof *m->slot);
        if (!m->slot)
            return MEND_ENOMEM;
        m->slotcap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct clu *c = &m->slot[i];
        m->nslot = i + 1;
        c->prev = c->next = NONE;
        c->id = mend_rbuf_u64(r);
        c->count = mend_rbuf_u64(r);
        c->tick = mend_rbuf_u64(r);
        uint32_t ntok = mend_rbuf_u32(r), tlen = mend_rbuf_u32(r);
        if (r->failed || c->id == 0 || c->id >= m->next_id || c->tick > m->tick ||
            ntok > m->conf.max_tokens || tlen > text_cap || tlen > mend_rbuf_remaining(r) ||
            (ntok == 0) != (tlen == 0) || has_control((const char *)r->p + r->off, tlen))
            return MEND_ECORRUPT;
        int rc = clu_set_text(c, (const char *)r->p + r->off, tlen, ntok);
        if (rc)
            return rc;
        r->off += tlen;
        if (c->ntok != ntok)
            return MEND_ECORRUPT;
        for (uint32_t t = 0; t < ntok; t++)
            if (c->tok[t].len == 0)
                return MEND_ECORRUPT; /* two spaces in a row, or one at an end */
        c->used = 1;
        m->bytes += clu_bytes(c);
        if (i) {
            c->prev = i - 1;
            m->slot[i - 1].next = i;
        }
    }
    m->lru_head = n ? 0 : NONE;
    m->lru_tail = n ? n - 1 : NONE;
    m->st.templates = n;
    if (m->bytes > (uint64_t)m->conf.max_mbytes << 20)
        return MEND_ECAP;

    /* ids must be distinct: a duplicate would merge two events in the output */
    if (n > 1) {
        uint64_t *ids = malloc(n * sizeof *ids);
        if (!ids)
            return MEND_ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            ids[i] = m->slot[i].id;
        qsort(ids, n, sizeof *ids, cmp_u64);
        int dup = 0;
        for (uint32_t i = 1; i < n; i++)
            dup |= ids[i] == ids[i - 1];
        free(ids);
        if (dup)
            return MEND_ECORRUPT;
    }

    struct load_ctx x = {m, r, n, calloc(n ? n : 1, 1), 0};
    if (!x.placed)
        return MEND_ENOMEM;
    x.key_cap = (uint32_t)LOGS_MASK_OUT(m->conf.max_token);
    int rc = node_load(&x, &m->root, 0, 0);
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        if (!x.placed[i])
            rc = MEND_ECORRUPT; /* a template in no leaf */
    free(x.placed);
    return rc;
}

int mend_tmpl_load(struct mend_tmpl *m, struct mend_rbuf *r)
{
    if (m->nslot || m->root.nkid || m->st.messages)
        return MEND_EINVAL;
    int rc = tmpl_load(m, r);
    if (rc)
        tmpl_reset(m);
    return rc;
}
