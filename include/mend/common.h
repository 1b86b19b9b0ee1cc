/* common.h -- error codes, the sample/point contract between parsers and the
 * engine, and little-endian serialisation buffers used by checkpoints.
 *
 * Every public function in mend returns 0 (MEND_OK) or a negative MEND_E*
 * code; results travel through out-parameters. mend_strerror() names a code. */
#ifndef MEND_COMMON_H
#define MEND_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum {
    MEND_OK = 0,
    MEND_EINVAL = -1,    /* bad argument or option value */
    MEND_ENOMEM = -2,    /* allocation failed */
    MEND_EPARSE = -3,    /* malformed input */
    MEND_ECAP = -4,      /* a configured cap was reached */
    MEND_EIO = -5,       /* read/write/socket failure (errno kept by caller) */
    MEND_ECORRUPT = -6,  /* checksum or structure mismatch */
    MEND_EVERSION = -7,  /* foreign or unsupported version */
    MEND_ERANGE = -8,    /* value out of range (NaN/Inf, overflow) */
    MEND_ENOTFOUND = -9, /* no such item */
    MEND_ELATE = -10,    /* sample older than the allowed lateness */
    MEND_EAGAIN = -11    /* try again later (would block) */
};

/* Returns a static string naming the code; never NULL. */
const char *mend_strerror(int code);

/* Writes a printf-style message to err (NUL-terminated, cut to errlen); does
 * nothing when err is NULL or errlen is 0. The one way functions that take
 * (err, errlen) fill them. */
void mend_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the parser → engine contract --------------------------------------
 * A parser turns one input line into zero or more points and hands each to
 * sink->point(). Everything a point points to is borrowed and valid only for
 * the duration of that call. */
struct mend_point {
    const char *key;     /* canonical series key (format-specific, see ingest.h) */
    size_t key_len;
    const char *entity;  /* value of the entity tag/label, or NULL when absent */
    size_t entity_len;
    int64_t time_ns;     /* event time, ns since the Unix epoch (CSV without a
                            time column: the row number) */
    int has_time;        /* 0 when the line carried no timestamp */
    double value;
    int kind;            /* enum mend_point_kind: what the source says the value
                            is; 0 (gauge/unknown) when it says nothing. The engine
                            turns a counter into a per-second rate (engine.h) */
};

/* The kind a source declares for a sample. Prometheus text carries it (a
 * `# TYPE` line, a `_total` name); line protocol does not (the engine matches
 * counters.patterns against the key instead). Zero-initialised points are
 * gauges, so parsers that know nothing need not set it. */
enum mend_point_kind {
    MEND_POINT_GAUGE = 0,   /* a level: scored as it is (or unknown) */
    MEND_POINT_COUNTER = 1  /* cumulative and monotonic, reset to 0 on restart */
};

struct mend_sink {
    /* Returns 0 to continue or a negative code to stop the current line. */
    int (*point)(void *ctx, const struct mend_point *p);
    /* A malformed line: where (1-based line and column) and why. The parser
     * skips the rest of that line after calling this. */
    void (*error)(void *ctx, uint64_t line, uint32_t col, const char *reason);
    void *ctx;
};

/* ---- serialisation ------------------------------------------------------
 * Growable write buffer and bounded read cursor; integers and doubles are
 * stored little-endian so checkpoints move between machines.
 *
 * Streaming. A write buffer may carry a flush hook: it never holds more than
 * flush_at bytes -- when a write would pass that, what is buffered goes to
 * the hook first and len drops back to 0, and a single write larger than
 * flush_at goes to the hook directly, uncopied. Bytes reach the hook in the
 * order they were written. A read
 * buffer may carry a refill hook: when a read needs more than the window
 * [p + off, p + len) holds, the hook replaces the window with the next piece
 * of the stream. So a module's `*_save(…, struct mend_wbuf *)` and
 * `*_load(…, struct mend_rbuf *)` stream to and from a file unchanged, as
 * long as they never look back at bytes already written (data, len) or use
 * len - off as "what is left": use mend_rbuf_remaining() for that. */
struct mend_wbuf {
    unsigned char *data;
    size_t len, cap;
    int failed;          /* sticky: set once an allocation or a flush fails */
    /* Optional sink (mend_wbuf_init_flush): returns 0 or a negative MEND_E*
     * code, which makes the buffer failed. Borrowed bytes, valid only for
     * the call. */
    int (*flush)(void *ctx, const unsigned char *p, size_t n);
    void *flush_ctx;
    size_t flush_at;
};

void mend_wbuf_init(struct mend_wbuf *w);
/* A buffer that hands its bytes to flush whenever more than threshold
 * (>= 1) bytes are buffered; memory stays near threshold whatever is
 * written. Call mend_wbuf_flush() at the end for the rest. */
void mend_wbuf_init_flush(struct mend_wbuf *w, size_t threshold,
                          int (*flush)(void *ctx, const unsigned char *p, size_t n), void *ctx);
/* Hands the buffered bytes to the flush hook now (no-op without one).
 * Returns 0, MEND_ENOMEM when the buffer had failed, or the hook's code. */
int mend_wbuf_flush(struct mend_wbuf *w);
void mend_wbuf_fini(struct mend_wbuf *w);
void mend_wbuf_bytes(struct mend_wbuf *w, const void *p, size_t n);
void mend_wbuf_u8(struct mend_wbuf *w, uint8_t v);
void mend_wbuf_u32(struct mend_wbuf *w, uint32_t v);
void mend_wbuf_u64(struct mend_wbuf *w, uint64_t v);
void mend_wbuf_i64(struct mend_wbuf *w, int64_t v);
void mend_wbuf_f64(struct mend_wbuf *w, double v);
void mend_wbuf_f32(struct mend_wbuf *w, float v);

struct mend_rbuf {
    const unsigned char *p;
    size_t len, off;
    int failed;          /* sticky: set once a read runs past the end */
    /* Optional source (mend_rbuf_init_refill): sets p, len (> 0), off = 0
     * and rest to the next window and returns 0, or returns a negative
     * MEND_E* code at the end of the stream or on error (the read then
     * fails). rest = bytes of the stream after the current window. */
    int (*refill)(void *ctx, struct mend_rbuf *r);
    void *refill_ctx;
    uint64_t rest;
};

void mend_rbuf_init(struct mend_rbuf *r, const void *p, size_t len);
/* An empty window that asks refill for data on the first read; rest is the
 * stream's total length (for mend_rbuf_remaining). */
void mend_rbuf_init_refill(struct mend_rbuf *r, uint64_t total,
                           int (*refill)(void *ctx, struct mend_rbuf *r), void *ctx);
/* Bytes left to read in the whole stream (window and beyond); 0 once
 * failed. Use it to check a count against the data before allocating. */
uint64_t mend_rbuf_remaining(const struct mend_rbuf *r);
int mend_rbuf_bytes(struct mend_rbuf *r, void *out, size_t n);
uint8_t mend_rbuf_u8(struct mend_rbuf *r);
uint32_t mend_rbuf_u32(struct mend_rbuf *r);
uint64_t mend_rbuf_u64(struct mend_rbuf *r);
int64_t mend_rbuf_i64(struct mend_rbuf *r);
double mend_rbuf_f64(struct mend_rbuf *r);
float mend_rbuf_f32(struct mend_rbuf *r);

/* ---- small helpers ------------------------------------------------------ */

/* 64-bit FNV-1a continuing from h (start with MEND_HASH_SEED). */
#define MEND_HASH_SEED 0xcbf29ce484222325ULL
uint64_t mend_hash(uint64_t h, const void *p, size_t n);

/* Strict decimal parsing over (s, len), no NUL needed. Return 0 or
 * MEND_EPARSE/MEND_ERANGE; *out untouched on error. */
int mend_parse_i64(const char *s, size_t len, int64_t *out);
int mend_parse_u64(const char *s, size_t len, uint64_t *out);
/* Accepts what strtod accepts in the "C" locale except hex floats and
 * blanks, whatever the process locale (LC_NUMERIC) is: the one float
 * parser to use for text from files, the network and the config. At most
 * 512 bytes. Rejects NaN/Inf (MEND_ERANGE) unless allow_nonfinite.
 * MEND_ENOMEM only if the C locale object could not be made. Leading zeros
 * do not count against the 20-digit cap of mend_parse_u64/i64. */
int mend_parse_f64(const char *s, size_t len, int allow_nonfinite, double *out);

#endif
