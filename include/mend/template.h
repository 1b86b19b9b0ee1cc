/* template.h -- the log template miner: one message in, one template id out.
 *
 * A miner in the style of Drain (He et al., ICWS 2017), written for mend. A
 * message is split into tokens on whitespace (and control bytes). Tokens that
 * hold numbers, hex, addresses (IPs, host names, paths, URLs, e-mail) or ids
 * are masked: a token that is such a value as a whole becomes `<*>`, and in a
 * mixed token every run of hex characters holding a digit becomes `<*>`
 * (`blk_-1608` -> `blk_<*>`, `node-12` -> `node-<*>`; a sign not glued to a
 * word is part of the number, and neighbouring parameters merge into one),
 * so the token keeps its shape. Hex groups joined by `-` or `:` (UUIDs, MAC
 * and IPv6 addresses) are one parameter. A `key=value` token keeps its key. Day and month names are
 * masked (they are parts of dates), and an empty pair such as `()` reads
 * `(<*>)` so that it matches a filled one.
 *
 * Masked messages go down a fixed-depth parse tree: first by token count,
 * then by their first depth-2 tokens (a token holding a parameter goes to the
 * `<*>` child, and so does any new token once a node has max_children
 * children). The leaf holds a list of templates; the message joins the most
 * similar one when the share of equal tokens, counted over the positions
 * where neither side is `<*>`, reaches `sim`. Two kinds of difference are
 * never bridged, because in logs they name different events rather than
 * different parameters: two upper-case identifiers (`from NEW` against
 * `from RUNNING`), and the values of one key when both are plain words or
 * when they are of different kinds (`user=root` against `user=guest`;
 * `tty=:0` against `tty=ssh`; `rhost=` against `rhost=<*>`). Joining turns
 * the positions that differ into `<*>`; otherwise the message starts a new
 * template.
 *
 * Ids are assigned in creation order from 1 and never change or get reused:
 * a template generalised by a later message keeps its id. Every cap is
 * enforced and counted in struct mend_tmpl_stats: line length, tokens per
 * message, token length, children per node, templates per leaf, templates
 * in all and the bytes they hold (least-recently-used eviction). The whole
 * state saves to and loads from a checkpoint buffer, and a restored miner
 * continues exactly as the uninterrupted one would have.
 *
 * Not thread-safe: one miner per thread (or a lock around it). */
#ifndef MEND_TEMPLATE_H
#define MEND_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"

/* The parameter marker written into templates. */
#define MEND_TMPL_PARAM "<*>"

struct mend_tmpl_conf {
    uint32_t depth;         /* tree depth incl. root and length level, 3..16, default 4 */
    double sim;             /* similarity needed to join a template, (0,1], default 0.78 */
    uint32_t max_children;  /* token children per tree node, default 100 */
    uint32_t max_templates; /* templates in all (LRU eviction beyond), default 10,000 */
    uint32_t max_mbytes;    /* MiB of template text and tokens (LRU eviction beyond), default 64 */
    uint32_t max_leaf;      /* templates per leaf (LRU eviction beyond), default 1,000 */
    uint32_t max_tokens;    /* tokens per message; the rest folds into one `<*>`, default 256 */
    uint32_t max_token;     /* longest token in bytes; longer ones become `<*>`, default 256 */
    uint32_t max_line;      /* longest message in bytes; the rest is cut, default 65536 */
};
void mend_tmpl_conf_defaults(struct mend_tmpl_conf *c);
/* 0, or MEND_EINVAL with a message naming the option (`logs.KEY: ...`) in
 * err (err may be NULL). */
int mend_tmpl_conf_check(const struct mend_tmpl_conf *c, char *err, size_t errlen);
/* Sets one option by name (`sim` or `logs.sim`) from text; same error
 * contract. c is unchanged on error. */
int mend_tmpl_conf_set(struct mend_tmpl_conf *c, const char *key, const char *value, char *err,
                       size_t errlen);
/* Option i (0-based): its key, default (written to def) and help. Returns
 * the number of options, 0 when i is past the last. */
size_t mend_tmpl_conf_describe(size_t i, const char **key, char *def, size_t deflen,
                               const char **help);

/* Counters; every cap has one. */
struct mend_tmpl_stats {
    uint64_t messages;       /* messages mined */
    uint64_t templates;      /* live templates now */
    uint64_t created;        /* templates created (ids handed out) */
    uint64_t generalised;    /* joins that turned a template token into `<*>` */
    uint64_t evicted;        /* templates dropped at max_templates or max_mbytes (LRU) */
    uint64_t leaf_evicted;   /* templates dropped at max_leaf (LRU within the leaf) */
    uint64_t child_overflow; /* tokens sent to the `<*>` child at max_children */
    uint64_t long_lines;     /* messages cut at max_line */
    uint64_t token_overflow; /* messages whose tokens past max_tokens were folded */
    uint64_t long_tokens;    /* tokens longer than max_token, masked whole */
    uint64_t control_bytes;  /* control bytes (< 0x20, 0x7f) read as separators */
    uint64_t empty;          /* messages with no token */
};

struct mend_tmpl;

/* The result of mend_tmpl_add(). text is borrowed from the miner and valid
 * until the next call that changes it (add, load, free). */
struct mend_tmpl_match {
    uint64_t id;       /* template id, >= 1 */
    const char *text;  /* the template now, tokens joined by one space */
    size_t len;
    int created;       /* 1: this message started the template */
    int changed;       /* 1: this message generalised the template */
};

/* Returns 0, MEND_EINVAL (bad conf) or MEND_ENOMEM. */
int mend_tmpl_new(const struct mend_tmpl_conf *c, struct mend_tmpl **out);
void mend_tmpl_free(struct mend_tmpl *m); /* accepts NULL */

/* Mines one message (msg, len: any bytes, no NUL needed; no line ending
 * expected). Returns 0 or MEND_ENOMEM (the miner stays usable). Never fails
 * on content: over-long, binary and empty messages are mined as described
 * above and counted. */
int mend_tmpl_add(struct mend_tmpl *m, const char *msg, size_t len, struct mend_tmpl_match *out);

/* The current text of template id (borrowed, as above). O(templates): for
 * reports, not the hot path. Returns 0 or MEND_ENOTFOUND (never created, or
 * evicted). */
int mend_tmpl_get(const struct mend_tmpl *m, uint64_t id, const char **text, size_t *len);

void mend_tmpl_get_stats(const struct mend_tmpl *m, struct mend_tmpl_stats *s);

/* Appends the whole state (templates in LRU order, the tree, the next id and
 * the counters) to w; check w->failed afterwards. */
void mend_tmpl_save(const struct mend_tmpl *m, struct mend_wbuf *w);

/* Restores a state written by mend_tmpl_save() into m, which must be empty
 * (fresh from mend_tmpl_new). Everything read is checked: returns 0,
 * MEND_EVERSION (foreign or newer format), MEND_EINVAL (m not empty, or
 * saved with a different depth or token/line limits, which would mine
 * differently), MEND_ECAP (more templates or children than m's caps allow),
 * MEND_ECORRUPT (any inconsistency) or MEND_ENOMEM. On error m is left empty
 * and usable. */
int mend_tmpl_load(struct mend_tmpl *m, struct mend_rbuf *r);

#endif
