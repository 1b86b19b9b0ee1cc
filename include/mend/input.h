/* input.h -- where samples come from: a set of inputs, each an instance of
 * an input kind (a `static const struct mend_input_ops`), driven by one
 * event loop (loop.h).
 *
 * Kinds: files and stdin ("file"), TCP listeners and their connections
 * ("tcp"), UDP listeners ("udp"), Prometheus scrapes ("scrape", scrape.h,
 * added with an argument: mend_inputs_add_arg); the tcp and udp listeners speak syslog as
 * "syslog+tcp://HOST:PORT" and "syslog+udp://HOST:PORT"; more (pcap,
 * Redis, NATS) plug in with mend_inputs_register() the same way. The set and
 * its host never switch on kinds: a spec goes to the first kind that claims
 * it, and everything after that goes through the ops table.
 *
 * An input turns bytes into "streams" (a file, one TCP connection, one UDP
 * listener); the set gives each stream a parser (format from the
 * configuration, the kind's hint, the file name or the first bytes) whose
 * points go to the host's point callback. So the host sees samples, never
 * bytes, and malformed lines arrive named "STREAM:LINE:COL".
 *
 * Two modes:
 *   live  (`mend run`): inputs register their fds with the loop and are read
 *         as they become ready; regular files have no readiness and are read
 *         in add order, one chunk per mend_inputs_step (like cat).
 *   merge (`mend replay`): every input must be replayable (peek_time); each
 *         step delivers the globally oldest sample of all inputs (ties: the
 *         input added first), so a recording split into files gives what
 *         the whole file gives. While only one input is left, its bytes go
 *         straight to its parser (no queue) for full speed.
 *
 * Caps: MEND_INPUTS_MAX inputs, MEND_INPUTS_MAX_STREAMS streams, TCP
 * connections per listener (conf.max_conns; at the cap the least recently
 * active one is closed for the newcomer), idle connections closed after
 * conf.idle_timeout_ns, datagrams of 64 KiB. No global state. */
#ifndef MEND_INPUT_H
#define MEND_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"
#include "mend/ingest.h"
#include "mend/loop.h"

#define MEND_INPUTS_MAX 1024              /* inputs per set */
#define MEND_INPUTS_MAX_STREAMS 4096      /* open streams per set */
#define MEND_INPUTS_DEFAULT_MAX_CONNS 1024
#define MEND_INPUTS_DEFAULT_IDLE_NS (300LL * 1000000000LL)  /* 5 min */
#define MEND_INPUTS_DEFAULT_ACCEPT_PAUSE_NS (200LL * 1000000LL) /* 200 ms */
#define MEND_INPUTS_FILE_CHUNK (1u << 20) /* read size for regular files (live, single input) */
#define MEND_INPUTS_SOCK_CHUNK (1u << 16) /* read size for pipes/sockets and the
                                             largest datagram; also merge-mode reads */

struct mend_input_conf {
    size_t max_conns;            /* TCP connections per listener, >= 1 */
    int64_t idle_timeout_ns;     /* close a TCP connection silent this long (loop clock); 0 = never */
    int64_t accept_pause_ns;     /* stop accepting this long when out of fds (EMFILE/ENFILE) */
    const char *format;          /* "lp", "prom", "csv"; NULL or "" = hint, name or content */
    struct mend_ingest_opts ingest; /* copied; entity_tag must outlive the set */
    int stamp_arrival;           /* live: untimed Prometheus samples get the real clock */
    int merge;                   /* replay: deliver samples of all inputs in event-time order */
};
void mend_input_conf_defaults(struct mend_input_conf *c);

/* What the set delivers. point: every sample, in order (the struct and what it
 * points to are borrowed for the call); MEND_ENOMEM stops the current step
 * and is returned by it, any other negative code drops the rest of that
 * chunk (counted in feed_failed, reported through error). error (may be NULL): a malformed or truncated
 * line; stream names where ("tcp:127.0.0.1:5555", a path), nth counts the
 * errors of that stream so far (1-based) so the host can rate-limit. */
struct mend_input_host {
    int (*point)(void *ctx, const struct mend_point *p);
    void (*error)(void *ctx, const char *stream, uint64_t nth, uint64_t line, uint32_t col,
                  const char *reason);
    void *ctx;
};

struct mend_inputs_stats {
    uint64_t bytes;        /* read from every input */
    uint64_t streams;      /* opened */
    uint64_t datagrams;    /* UDP datagrams received */
    uint64_t refused;      /* TCP connections closed at once (over the cap, or no stream slot) */
    uint64_t evicted;      /* TCP connections closed at the cap to admit a new one */
    uint64_t idle_closed;  /* TCP connections closed after idle_timeout_ns */
    uint64_t truncated;    /* lines cut off by a disconnect (dropped, not parsed) */
    uint64_t accept_paused;/* times accepting paused for lack of fds */
    uint64_t errors;       /* read/accept/recv errors, oversized datagrams */
    uint64_t feed_failed;  /* parser feeds that stopped on an error (the rest of that chunk is lost) */
    uint64_t scrapes;      /* scrapes done (scrape.h), successful or not */
    uint64_t scrape_failed;/* ... that failed: connect, timeout, HTTP status, still running at the next */
    uint64_t scrape_body_limit;   /* ... refused: body over body_limit */
    uint64_t scrape_sample_limit; /* ... refused: more than sample_limit samples */
    uint64_t scrape_label_limit;  /* ... refused: a sample over label_limit labels */
    size_t open_conns;     /* TCP connections open now */
};

struct mend_inputs;  /* the set */
struct mend_input;   /* one instance; generic part owned by the set */
struct mend_stream;  /* one byte stream of an instance, with its parser */

/* ---- the kind: an ops table ----------------------------------------------
 * Every callback gets the instance; priv (mend_input_priv) is the kind's own
 * state. Return 0 or a negative MEND_E* code; only MEND_ENOMEM or a code
 * from the host's point callback should escape on_fd/on_timer/peek_time --
 * everything else (a reset connection) is noted with mend_input_error and
 * handled inside. */
struct mend_input_ops {
    const char *kind;                               /* "file", "tcp", ... */
    /* 1 when spec is for this kind ("tcp://..."). */
    int (*claims)(const char *spec);
    /* Opens the instance: binds, opens files, registers fds
     * (mend_input_watch) and timers (mend_input_every), sets priv. Errors
     * name spec in err. On error close is not called: release everything. */
    int (*open)(struct mend_input *in, const char *spec, char *err, size_t errlen);
    /* fd (watched) is ready: do a bounded amount of work (one read, a burst
     * of accepts). In merge mode and for regular files the set calls it
     * without readiness ("read on"); it may then answer MEND_EAGAIN when
     * nothing came in time (the set turns the loop and asks again). */
    int (*on_fd)(struct mend_input *in, int fd, unsigned events);
    /* The period asked for with mend_input_every has passed (may be NULL). */
    int (*on_timer)(struct mend_input *in, int64_t now_ns);
    /* Merge mode: make sure the next sample of this input is queued in its
     * stream and give its event time (INT64_MIN for a sample without one: it
     * goes first). MEND_ENOTFOUND when the input has no more samples,
     * MEND_EAGAIN when it has none yet (the step ends; no other input's
     * sample may overtake it). NULL for
     * live-only kinds (listeners): they cannot be added in merge mode.
     * mend_stream_peek() does it for inputs that read bytes. */
    int (*peek_time)(struct mend_input *in, int64_t *t_ns);
    /* Releases everything: unwatch and close fds, end and free streams. */
    void (*close)(struct mend_input *in);
    /* Checkpoints (may be NULL): the host took a checkpoint's image of the
     * state (MEND_INPUT_CKPT_TAKEN: every sample delivered so far is in
     * checkpoint gen), that checkpoint is durable (COMMITTED), or it failed
     * (FAILED: its samples wait for the next one). Kinds that acknowledge
     * to a sender (JetStream) acknowledge what a committed gen covers.
     * Inputs with this op stay open through mend_inputs_shutdown (no more
     * samples are delivered) and close at mend_inputs_free, so the final
     * checkpoint after shutdown can still acknowledge. */
    void (*checkpoint)(struct mend_input *in, int phase, uint64_t gen);
    /* Shutdown (may be NULL): stop receiving and deliver, now, what was
     * already received and not yet delivered (a bounded queue), so the
     * final checkpoint covers it instead of handing it back out of order.
     * Only MEND_ENOMEM or a code from the point callback may escape. */
    int (*drain)(struct mend_input *in);
};

#define MEND_INPUT_CKPT_TAKEN 1
#define MEND_INPUT_CKPT_COMMITTED 2
#define MEND_INPUT_CKPT_FAILED 3

/* ---- the set (the host's side) -------------------------------------------- */

/* conf and host are copied; loop is borrowed and must outlive the set.
 * Returns 0, MEND_EINVAL or MEND_ENOMEM. */
int mend_inputs_new(const struct mend_input_conf *conf, struct mend_loop *loop,
                    const struct mend_input_host *host, struct mend_inputs **out);
/* Accepts NULL. Closes every input (their close op) without finishing
 * partial lines; call mend_inputs_shutdown first for an orderly end. */
void mend_inputs_free(struct mend_inputs *s);

/* Adds a kind, tried before the built-in ones; ops must outlive the set.
 * Returns 0, MEND_EINVAL or MEND_ECAP. */
int mend_inputs_register(struct mend_inputs *s, const struct mend_input_ops *ops);

/* Adds an input: a file path, "-" for stdin, "tcp://HOST:PORT",
 * "udp://HOST:PORT" (HOST may be a name, an IPv4 address, "[v6]", or empty
 * for every address; PORT 0 picks a free one, see mend_inputs_port), or a
 * spec a registered kind claims. Returns 0, MEND_EINVAL (bad spec, unknown
 * scheme, a live-only kind in merge mode), MEND_EIO (open/bind failed),
 * MEND_ECAP or MEND_ENOMEM, with a message naming spec in err. */
int mend_inputs_add(struct mend_inputs *s, const char *spec, char *err, size_t errlen);
/* The same, with an argument for the kind's open (mend_input_arg): how a
 * kind configured by more than a spec (scrape targets) gets its
 * configuration. arg is borrowed and must outlive the input. */
int mend_inputs_add_arg(struct mend_inputs *s, const char *spec, const void *arg, char *err, size_t errlen);
/* Adds an open fd named name as a "file" input; owned != 0 gives it to the
 * set. Errors as mend_inputs_add. */
int mend_inputs_add_fd(struct mend_inputs *s, int fd, const char *name, int owned, char *err,
                       size_t errlen);

/* Work that needs no waiting: merge mode delivers up to budget samples (or,
 * on the single-input fast path, reads up to budget/1024 + 1 chunks); live
 * mode reads one chunk of the first unfinished regular file. Returns > 0
 * when something was done, 0 when nothing is ready without the loop (an
 * input said MEND_EAGAIN: turn the loop, then step again), or MEND_ENOMEM,
 * MEND_EINVAL (a parser cannot be made). A stream whose format cannot be
 * told is read as line protocol (reported once). Call it outside loop
 * callbacks. */
int mend_inputs_step(struct mend_inputs *s, size_t budget);
/* 1 while mend_inputs_step has work that needs no waiting (the loop then
 * turns with a zero timeout). */
int mend_inputs_pending(const struct mend_inputs *s);
/* 1 when every input has ended (listeners never end on their own). */
int mend_inputs_done(const struct mend_inputs *s);
/* Ends every input in order: streams finish their last line (a connection's
 * unfinished line counts as truncated), listeners close. Returns 0 or the
 * first negative code of the host's point callback. */
int mend_inputs_shutdown(struct mend_inputs *s);

/* The bound port of the idx-th input that has one (listeners, in add
 * order). Returns 0 or MEND_ENOTFOUND. */
int mend_inputs_port(const struct mend_inputs *s, size_t idx, int *port);
void mend_inputs_stats(const struct mend_inputs *s, struct mend_inputs_stats *out);
/* The inputs added so far, and the idx-th one's spec (owned by the set) with
 * the bytes and newline-ended lines its streams were given (for /metrics).
 * Returns 0 or MEND_ENOTFOUND. */
size_t mend_inputs_count(const struct mend_inputs *s);
int mend_inputs_counts(const struct mend_inputs *s, size_t idx, const char **spec, uint64_t *bytes,
                       uint64_t *lines);
/* Tells every input about checkpoint gen (phase MEND_INPUT_CKPT_*, see the
 * ops table). A host without durable state calls TAKEN then COMMITTED after
 * each step: what was delivered is all it will ever hold. */
void mend_inputs_checkpoint(struct mend_inputs *s, int phase, uint64_t gen);
/* The idx-th input of kind ops (in add order), for a kind's own stats
 * function; NULL past the last. */
struct mend_input *mend_inputs_of_kind(struct mend_inputs *s, const struct mend_input_ops *ops, size_t idx);
/* The last per-input error ("tcp://:8094: accept: Too many open files"),
 * "" when none; owned by the set. */
const char *mend_inputs_last_error(const struct mend_inputs *s);

/* ---- services for kinds (the plug-in's side) ------------------------------ */

void mend_input_set_priv(struct mend_input *in, void *priv);
void *mend_input_priv(const struct mend_input *in);
/* The arg given to mend_inputs_add_arg, NULL for mend_inputs_add. */
const void *mend_input_arg(const struct mend_input *in);
const struct mend_input_conf *mend_input_conf(const struct mend_input *in);
struct mend_loop *mend_input_loop(const struct mend_input *in);
int mend_input_merging(const struct mend_input *in);
/* The set's scratch buffer (MEND_INPUTS_FILE_CHUNK bytes), borrowed for the
 * current callback only. */
char *mend_input_buf(const struct mend_input *in, size_t *cap);
/* The set's counters, for the kind to add to. */
struct mend_inputs_stats *mend_input_stats(struct mend_input *in);

/* Calls on_fd when fd is readable. A regular file (no readiness), and any fd
 * in merge mode, is not given to the loop: the set calls on_fd when it wants
 * bytes. Returns 0 or a loop error. */
int mend_input_watch(struct mend_input *in, int fd);
void mend_input_unwatch(struct mend_input *in, int fd);
/* Calls on_timer every period_ns of loop time (one timer per input; a new
 * call replaces the period). Returns 0 or a loop error. */
int mend_input_every(struct mend_input *in, int64_t period_ns);
/* The input has no more data (EOF): mend_inputs_done counts it as ended. */
void mend_input_ended(struct mend_input *in);
/* Records a per-input error: counted, and kept as the last error text
 * "WHO: WHAT: strerror(eno)" ("WHO: WHAT" when eno is 0). */
void mend_input_error(struct mend_input *in, const char *who, const char *what, int eno);
/* Records the port a listener bound. */
void mend_input_set_port(struct mend_input *in, int port);

/* Stream flags. */
#define MEND_STREAM_EOF_ENDS_LINE 1u /* the end of the stream ends its last line (files, pipes);
                                        without it an unfinished last line is truncated */
#define MEND_STREAM_LP 2u            /* speaks line protocol unless input.format says otherwise */
#define MEND_STREAM_OWN_LP 4u        /* the kind writes line protocol itself (pcap): always lp,
                                        whatever input.format says */
#define MEND_STREAM_PROM 8u          /* Prometheus text, whatever input.format says (scrapes) */
#define MEND_STREAM_SYSLOG 16u        /* syslog (whatever input.format says), framed per RFC 6587
                                        (octet counting or newlines, told per stream; logs.h) */
#define MEND_STREAM_DGRAM 32u         /* with MEND_STREAM_SYSLOG: one message per mend_stream_data */

/* Opens a stream named name (copied). In merge mode an input has one stream,
 * whose samples are queued for peek_time. Returns 0, MEND_ECAP (stream cap;
 * the kind should refuse the peer), MEND_EINVAL (a second stream in merge
 * mode) or MEND_ENOMEM. */
int mend_stream_open(struct mend_input *in, const char *name, unsigned flags, struct mend_stream **out);
/* Bytes of the stream (borrowed; any chunking). Parsed now (live), or kept
 * and parsed line by line as peek_time asks (merge). Returns 0,
 * MEND_ENOMEM, or MEND_EINVAL when the format cannot be told from the name
 * or the first bytes (reported through the host's error; the stream's bytes
 * are dropped from then on). Other failures are counted and reported, see
 * mend_input_host. */
int mend_stream_data(struct mend_stream *st, const char *buf, size_t len);
/* Samples without a timestamp in the bytes given from now on get t_ns
 * (a scrape's time), instead of the arrival time (conf.stamp_arrival) or
 * none. */
void mend_stream_set_time(struct mend_stream *st, int64_t t_ns);
/* A record boundary (one UDP datagram): its unfinished line is complete. */
int mend_stream_record_end(struct mend_stream *st);
/* No more bytes. With MEND_STREAM_EOF_ENDS_LINE (and cut == 0) the last line
 * is parsed; otherwise an unfinished last line is counted as truncated and
 * reported, not parsed. Returns like mend_stream_data. */
int mend_stream_end(struct mend_stream *st, int cut);
/* Releases the stream (ending it first with cut = 1 if not ended). Accepts NULL. */
void mend_stream_free(struct mend_stream *st);
const char *mend_stream_name(const struct mend_stream *st);
/* Reports a problem of the stream as a whole (a failed scrape) through the
 * host's error callback, with line and column 0. */
void mend_stream_error(struct mend_stream *st, const char *reason);
/* 1 while the stream queues samples for merging (read small chunks then:
 * MEND_INPUTS_SOCK_CHUNK is kept per stream), 0 when bytes go straight to
 * the parser. */
int mend_stream_queued(const struct mend_stream *st);
/* The generic peek_time for inputs that read bytes: while st has no queued
 * sample, parse a kept line, or call more(ctx) (which must give st bytes with
 * mend_stream_data, or end it with mend_stream_end). Returns 0 with *t_ns,
 * MEND_ENOTFOUND once st has ended and is drained, or more's error. */
int mend_stream_peek(struct mend_stream *st, int (*more)(void *ctx), void *ctx, int64_t *t_ns);

#endif
