/* mask.c -- tokens and parameter masking for the template miner.
 *
 * A message is cut into tokens at whitespace and control bytes. Each token
 * is then masked so that the values that change from one occurrence of an
 * event to the next (numbers, hex, ids, addresses) read `<*>` while its
 * constant shape stays: surrounding punctuation and the key of `key=value`
 * are kept, and in a token mixing words and numbers only the hex runs that
 * hold a digit are replaced. Names of days and months are parameters too
 * (they are parts of dates), and an empty pair such as `()` is an empty
 * parameter, written `(<*>)`, so that it matches the filled one. The rules
 * are general on purpose: nothing here knows a particular program's
 * messages. */
#include <string.h>

#include "mask.h"
#include "mend/common.h"

static const char PARAM[] = "<*>";
#define PARAM_LEN 3u

static int is_sep(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alpha(unsigned char c)
{
    /* bytes of multi-byte UTF-8 count as letters: words in any script */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Punctuation that wraps a value without being part of it. */
static int is_wrap(unsigned char c)
{
    switch (c) {
    case '(': case ')': case '[': case ']': case '{': case '}': case '<': case '>':
    case ',': case ';': case ':': case '\'': case '"':
        return 1;
    default:
        return 0;
    }
}

static int is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* English day and month names, short and long, as a whole token. */
static int is_date_word(const char *t, size_t n)
{
    static const char *const shorts[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
                                         "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                         "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *const longs[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday", "January",
                                        "February", "March", "April", "June", "July",
                                        "August", "September", "October", "November",
                                        "December"};
    if (n < 3 || n > 9 || t[0] < 'A' || t[0] > 'Z' || t[1] < 'a' || t[1] > 'z')
        return 0;
    if (n == 3) {
        for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++)
            if (!memcmp(shorts[i], t, 3))
                return 1;
        return 0;
    }
    /* a long name starts with its short one */
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
        if (longs[i][0] == t[0] && longs[i][1] == t[1] && !strncmp(longs[i], t, n) &&
            longs[i][n] == '\0')
            return 1;
    return 0;
}

/* `()`, `[]`, `{}`, `<>`, `''`, `""`: the opening byte, or 0. */
static int empty_pair(const char *t, size_t n)
{
    static const char pairs[] = "()[]{}<>''\"\"";
    if (n != 2)
        return 0;
    for (size_t i = 0; i + 1 < sizeof pairs; i += 2)
        if (t[0] == pairs[i] && t[1] == pairs[i + 1])
            return 1;
    return 0;
}

/* 0x1F, or hex digits with at least one decimal digit (ids, hashes). */
static int is_hexval(const char *v, size_t n)
{
    size_t i = 0;
    int digit = 0;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        i = 2;
        digit = 1;
    }
    for (; i < n; i++) {
        if (!is_hex((unsigned char)v[i]))
            return 0;
        digit |= is_digit((unsigned char)v[i]);
    }
    return n > 0 && digit;
}

/* Hex digits joined by - or : holding a decimal digit: UUIDs, MAC and
 * IPv6 addresses, dashed serials (a group may lack a digit: `eebcccae-12`). */
static int is_hexsep(const char *v, size_t n)
{
    int digit = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!is_hex(c) && c != '-' && c != ':')
            return 0;
        digit |= is_digit(c);
    }
    return digit;
}

/* -12, 3.5, 1,024, 12:30:01, 1e-3, with a unit of up to 3 letters (10ms). */
static int is_num(const char *v, size_t n)
{
    size_t i = 0, d;
    if (i < n && (v[i] == '-' || v[i] == '+'))
        i++;
    for (d = i; i < n && is_digit((unsigned char)v[i]); i++)
        ;
    if (i == d)
        return 0;
    while (i + 1 < n && (v[i] == '.' || v[i] == ',' || v[i] == ':') &&
           is_digit((unsigned char)v[i + 1]))
        for (i++; i < n && is_digit((unsigned char)v[i]); i++)
            ;
    if (i < n && (v[i] == 'e' || v[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (v[j] == '-' || v[j] == '+'))
            j++;
        if (j < n && is_digit((unsigned char)v[j])) {
            while (j < n && is_digit((unsigned char)v[j]))
                j++;
            i = j;
        }
    }
    for (d = 0; i < n && d < 3 && (is_alpha((unsigned char)v[i]) || v[i] == '%'); i++, d++)
        ;
    return i == n;
}

/* URLs, paths, e-mail addresses, and dotted names of three parts or more
 * (host names, IPv4 addresses, versions). */
static int is_addr(const char *v, size_t n)
{
    size_t slashes = 0, dots = 0, part = 0;
    const char *at = NULL;
    int plain = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == ':' && i + 2 < n && v[i + 1] == '/' && v[i + 2] == '/')
            return 1;
        if (c == '/')
            slashes++;
        if (c == '@')
            at = v + i;
        if (c == '.') {
            if (part == 0)
                plain = 0;
            dots++;
            part = 0;
        } else if (is_digit(c) || (c < 0x80 && is_alpha(c)) || c == '-') {
            part++;
        } else {
            plain = 0;
        }
    }
    if (n && v[0] == '/' && slashes >= 2)
        return 1;
    if (at && memchr(at, '.', (size_t)(v + n - at)))
        return 1;
    return plain && dots >= 2 && part > 0;
}

/* Masks one token (t, n) into o; returns the bytes written (at most 3n).
 * maybe: the token holds a digit or a byte an address needs (. / : @);
 * most tokens are words without any, and are copied as they are. */
static size_t mask_token(const char *t, size_t n, char *o, int maybe)
{
    size_t a = 0, b = n, w = 0;
    if (!maybe) {
        if (is_date_word(t, n)) {
            memcpy(o, PARAM, PARAM_LEN);
            return PARAM_LEN;
        }
        if (empty_pair(t, n)) {
            o[0] = t[0];
            memcpy(o + 1, PARAM, PARAM_LEN);
            o[1 + PARAM_LEN] = t[1];
            return PARAM_LEN + 2;
        }
        goto raw;
    }
    while (a < b && is_wrap((unsigned char)t[a]))
        a++;
    while (b > a && (is_wrap((unsigned char)t[b - 1]) || t[b - 1] == '.'))
        b--;
    if (a == b)
        goto raw;
    const char *eq = memchr(t + a + 1, '=', b - a - 1);
    size_t vs = a; /* start of the value */
    if (b - a > 1 && eq) {
        vs = (size_t)(eq - t) + 1;
        if (vs == b)
            goto raw; /* `key=`: nothing to mask */
    }
    const char *v = t + vs;
    size_t vn = b - vs;
    memcpy(o, t, vs);
    w = vs;
    if (is_hexsep(v, vn) || is_hexval(v, vn) || is_num(v, vn) || is_addr(v, vn)) {
        memcpy(o + w, PARAM, PARAM_LEN);
        w += PARAM_LEN;
    } else {
        int digit = 0;
        for (size_t i = 0; i < vn; i++)
            digit |= is_digit((unsigned char)v[i]);
        if (!digit)
            goto raw;
        /* each maximal hex run holding a digit becomes <*> */
        for (size_t i = 0; i < vn;) {
            if (!is_hex((unsigned char)v[i])) {
                o[w++] = v[i++];
                continue;
            }
            size_t j = i;
            int d = 0;
            for (; j < vn && is_hex((unsigned char)v[j]); j++)
                d |= is_digit((unsigned char)v[j]);
            if (d) {
                /* a sign not glued to a word is the number's: blk_-12 */
                if (w > 0 && (o[w - 1] == '-' || o[w - 1] == '+') &&
                    (w == 1 || !is_alnum((unsigned char)o[w - 2])))
                    w--;
                /* and parameters next to each other are one: <*><*> is <*> */
                if (w < PARAM_LEN || memcmp(o + w - PARAM_LEN, PARAM, PARAM_LEN)) {
                    memcpy(o + w, PARAM, PARAM_LEN);
                    w += PARAM_LEN;
                }
            } else {
                memcpy(o + w, v + i, j - i);
                w += j - i;
            }
            i = j;
        }
    }
    memcpy(o + w, t + b, n - b);
    return w + (n - b);
raw:
    memcpy(o, t, n);
    return n;
}

void logs_tok_describe(const char *text, struct logs_tok *t)
{
    const char *p = text + t->off;
    size_t n = t->len;
    t->h = mend_hash(MEND_HASH_SEED, p, n);
    t->flags = 0;
    t->kv = 0;
    if (n == PARAM_LEN && !memcmp(p, PARAM, PARAM_LEN))
        t->flags |= LOGS_TOK_WILD | LOGS_TOK_PARAM;
    else if (n >= PARAM_LEN)
        for (size_t i = 0; i + PARAM_LEN <= n; i++)
            if (p[i] == '<' && !memcmp(p + i, PARAM, PARAM_LEN)) {
                t->flags |= LOGS_TOK_PARAM;
                break;
            }
    t->kvkind = LOGS_KV_EMPTY;
    const char *eq = n > 1 ? memchr(p + 1, '=', n - 1) : NULL;
    if (eq) {
        size_t i = (size_t)(eq - p) + 1;
        t->kv = (uint32_t)(eq - p);
        if (i < n) {
            while (i < n && is_alpha((unsigned char)p[i]))
                i++;
            t->kvkind = i == n ? LOGS_KV_WORD : LOGS_KV_VALUE;
        }
    }
    /* RUNNING, TASK_ABORT, [ERROR]: states and codes, never parameters */
    size_t a = 0, b = n;
    while (a < b && is_wrap((unsigned char)p[a]))
        a++;
    while (b > a && (is_wrap((unsigned char)p[b - 1]) || p[b - 1] == '.'))
        b--;
    if (b - a >= 2 && p[a] >= 'A' && p[a] <= 'Z') {
        size_t i = a + 1;
        while (i < b && ((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_'))
            i++;
        if (i == b)
            t->flags |= LOGS_TOK_CAPS;
    }
}

size_t logs_mask(const char *msg, size_t len, char *out, struct logs_tok *toks,
                 uint32_t max_tokens, uint32_t max_token, uint32_t *ntok,
                 struct logs_mask_counts *cnt)
{
    size_t i = 0, w = 0;
    uint32_t nt = 0;
    while (i < len) {
        unsigned char c = (unsigned char)msg[i];
        if (is_sep(c)) {
            if (c != ' ' && c != '\t')
                cnt->control_bytes++;
            i++;
            continue;
        }
        size_t s = i;
        int maybe = 0;
        for (; i < len; i++) {
            c = (unsigned char)msg[i];
            if (is_sep(c))
                break;
            /* . / 0-9 : are one run of ASCII, then @ */
            maybe |= (c >= '.' && c <= ':') || c == '@';
        }
        if (nt)
            out[w++] = ' ';
        struct logs_tok *t = &toks[nt];
        t->off = (uint32_t)w;
        if (nt + 1 == max_tokens) {
            /* the last slot: anything after this token folds into it */
            size_t j = i;
            while (j < len && is_sep((unsigned char)msg[j]))
                j++;
            if (j < len) {
                cnt->token_overflow++;
                for (; j < len; j++)
                    if (is_sep((unsigned char)msg[j]) && msg[j] != ' ' && msg[j] != '\t')
                        cnt->control_bytes++;
                memcpy(out + w, PARAM, PARAM_LEN);
                w += PARAM_LEN;
                t->len = PARAM_LEN;
                logs_tok_describe(out, t);
                nt++;
                break;
            }
        }
        if (i - s > max_token) {
            cnt->long_tokens++;
            memcpy(out + w, PARAM, PARAM_LEN);
            w += PARAM_LEN;
        } else {
            w += mask_token(msg + s, i - s, out + w, maybe);
        }
        t->len = (uint32_t)(w - t->off);
        logs_tok_describe(out, t);
        nt++;
    }
    *ntok = nt;
    return w;
}
