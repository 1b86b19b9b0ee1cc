/* mask.h -- internal to src/logs: splitting a message into tokens and
 * masking the parameters in each (see template.h for the rules). */
#ifndef MEND_LOGS_MASK_H
#define MEND_LOGS_MASK_H

#include <stddef.h>
#include <stdint.h>

/* One token of a masked message or of a template. */
struct logs_tok {
    uint64_t h;      /* hash of the token bytes */
    uint32_t off;    /* offset into the text it belongs to */
    uint32_t len;
    uint32_t kv;     /* length of the key of a `key=value` token (0 = not one) */
    uint8_t kvkind;  /* LOGS_KV_*: what its value is */
    uint8_t flags;   /* LOGS_TOK_* */
};

enum {
    LOGS_TOK_WILD = 1,  /* the token is exactly `<*>` */
    LOGS_TOK_PARAM = 2, /* the token holds `<*>` somewhere */
    LOGS_TOK_CAPS = 4   /* an upper-case identifier (RUNNING, TASK_ABORT): a constant */
};

enum {
    LOGS_KV_EMPTY = 0, /* `key=` */
    LOGS_KV_WORD = 1,  /* `key=letters`: a categorical value */
    LOGS_KV_VALUE = 2  /* anything else: numbers, names, masked parameters */
};

/* Fills in h, kv and flags of a token whose off and len are set; they
 * depend only on the token's bytes, so a template re-split from its text
 * after a load gets the same values. */
void logs_tok_describe(const char *text, struct logs_tok *t);

/* Counters the masker bumps. */
struct logs_mask_counts {
    uint64_t token_overflow, long_tokens, control_bytes;
};

/* Bytes of `out` that logs_mask() may need for a message of len bytes. */
#define LOGS_MASK_OUT(len) (3u * (size_t)(len) + 8u)

/* Splits msg into tokens and writes the masked tokens, joined by one space,
 * to out (which holds at least LOGS_MASK_OUT(len) bytes), describing each in
 * toks (room for max_tokens). At most max_tokens tokens: the rest of the
 * message folds into a last `<*>`. A token longer than max_token becomes
 * `<*>`. Returns the number of bytes written; *ntok gets the token count. */
size_t logs_mask(const char *msg, size_t len, char *out, struct logs_tok *toks,
                 uint32_t max_tokens, uint32_t max_token, uint32_t *ntok,
                 struct logs_mask_counts *cnt);

#endif
