/* output.h -- consumers of incidents as plug-ins: one ops table per kind of
 * output, a set of output instances that every incident change goes to, and
 * a bounded spool per output so a destination that is down delays delivery
 * instead of losing it.
 *
 * Every consumer of incidents -- the JSON-lines file, the end-of-run table,
 * and later the localiser, the rules, Redis and the report -- registers the
 * same way: a `static const struct mend_output_ops` (the type) plus the
 * output's own conf struct, from which `open` makes an instance. Each
 * instance receives every "open", "update" and "resolve" of an incident
 * together with the incident record and its JSON line, and answers:
 *
 *   MEND_OUTPUT_OK    (0)           taken (written, queued by the output
 *                                   itself, acted upon);
 *   MEND_OUTPUT_RETRY (MEND_EAGAIN) not now, the destination is down: the set
 *                                   spools a deep copy and offers it again;
 *   any other negative MEND_E*      failed for good: the item is lost for
 *                                   this output, counted, and reported.
 *
 * Delivery order per output is the order of emission: while an output has
 * anything spooled, newer items join the spool behind it rather than
 * overtaking it, and the spool is offered again (oldest first, stopping at
 * the first RETRY) at the start of every emit, flush and retry. So after an
 * output answers RETRY, the next item it is offered is that same item again
 * -- unless the spool overflowed and dropped it.
 *
 * Spool overflow (per output, by items or bytes, whichever is reached first)
 * drops the OLDEST item and counts it. Every line is a full snapshot of its
 * incident, so the newest lines carry the most current state, and a
 * "resolve" -- the line a dashboard or pager most needs to see last -- is
 * never the one refused.
 *
 * Outputs are called from the thread that drives the engine; a set is not
 * safe for concurrent use. */
#ifndef MEND_OUTPUT_H
#define MEND_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mend/common.h"
#include "mend/incident.h"

#define MEND_OUTPUT_OK MEND_OK
#define MEND_OUTPUT_RETRY MEND_EAGAIN

struct mend_output_ops {
    const char *name; /* kind, e.g. "jsonl"; static */
    /* Makes an instance from conf (the output's own conf struct, borrowed for
     * the call). Returns 0 with *inst set, or a negative MEND_E* code with a
     * message in err (never NULL, errlen > 0) and nothing to free. */
    int (*open)(const void *conf, void **inst, char *err, size_t errlen);
    /* One incident change. status is "open", "update" or "resolve"; inc and
     * json (one line, no newline) are borrowed for the call. Answers as
     * above. Must not call back into the set. */
    int (*incident)(void *inst, const char *status, const struct mend_incident *inc, const char *json,
                    size_t len);
    /* Pushes out what the output buffers itself (may be NULL). Answers as
     * incident() does; RETRY means "still holding data". */
    int (*flush)(void *inst);
    /* Releases the instance and all it holds (may be NULL: nothing to do).
     * Called once, after a last flush. */
    void (*close)(void *inst);
    /* Names the last failure in words, e.g. "out.jsonl: No space left on
     * device" (may be NULL, may return NULL). Borrowed until the next call. */
    const char *(*last_error)(void *inst);
    /* SIGHUP: closes and opens again what the output writes to by name (a
     * file moved away by logrotate is left alone, a new one is created
     * beside it; appended, never truncated). May be NULL (nothing named).
     * 0, or a negative code with err set: the old destination is kept. */
    int (*reopen)(void *inst, char *err, size_t errlen);
};

struct mend_outputs_conf {
    uint32_t spool_max_items; /* per output, default 4,096 */
    size_t spool_max_bytes;   /* per output, default 16 MiB (JSON + record copies) */
};
void mend_outputs_conf_defaults(struct mend_outputs_conf *c);

/* Told of every ERROR answer, spool overflow and item still spooled at close
 * (code: the output's answer, MEND_ECAP for an overflow drop). count is the
 * running total of that kind for that output, so a caller can log the first
 * few and then only every thousandth. msg is borrowed for the call. */
struct mend_output_report {
    void (*fn)(void *ctx, const char *output, int code, uint64_t count, const char *msg);
    void *ctx;
};

struct mend_outputs;

/* report may be NULL (and is copied). Returns 0, MEND_EINVAL (a zero cap) or
 * MEND_ENOMEM. */
int mend_outputs_new(const struct mend_outputs_conf *c, const struct mend_output_report *report,
                     struct mend_outputs **res);
/* Closes what is still open (as mend_outputs_close) and frees; NULL is fine. */
void mend_outputs_free(struct mend_outputs *o);

/* Opens one instance of ops from conf and appends it (at most
 * MEND_OUTPUTS_MAX). ops must outlive the set. Returns 0, the code of a
 * failed open (err says why), MEND_ECAP or MEND_ENOMEM. *index (may be NULL)
 * receives the instance's position for mend_outputs_stats. */
#define MEND_OUTPUTS_MAX 32
int mend_outputs_add(struct mend_outputs *o, const struct mend_output_ops *ops, const void *conf,
                     size_t *index, char *err, size_t errlen);

/* Offers one incident change to every output, spooling for those that
 * answer RETRY. Returns 0 when every output took it or spooled it, else the
 * last ERROR code (already counted and reported). */
int mend_outputs_emit(struct mend_outputs *o, const char *status, const struct mend_incident *inc,
                      const char *json, size_t len);
/* Offers the spools again (a timer calls this while a destination is down).
 * Returns 0 when every spool is empty, MEND_EAGAIN when something is still
 * waiting, or the last ERROR code. */
int mend_outputs_retry(struct mend_outputs *o);
/* As retry, then asks every output to flush its own buffers. */
int mend_outputs_flush(struct mend_outputs *o);
/* Last offer of every spool, a flush, then close of every instance (the
 * table output prints here). What is still spooled is counted as lost and
 * reported. Stats stay readable until free; emit, retry and flush do
 * nothing after close. Returns 0 or MEND_EAGAIN when something was lost.
 * Idempotent. */
int mend_outputs_close(struct mend_outputs *o);

/* Asks every output that has a reopen op to reopen (SIGHUP). Returns 0, or
 * the last failure's code with err naming the output; every output is
 * asked whatever the others answer. */
int mend_outputs_reopen(struct mend_outputs *o, char *err, size_t errlen);

struct mend_output_stats {
    const char *name;        /* the ops' name */
    uint64_t delivered;      /* answered OK (first time or from the spool) */
    uint64_t retries;        /* RETRY answers */
    uint64_t spooled;        /* items that entered the spool */
    uint64_t spool_items;    /* waiting now */
    size_t spool_bytes;      /* their size now */
    uint64_t dropped;        /* spool overflow: oldest dropped */
    uint64_t errors;         /* ERROR answers: items lost */
    uint64_t lost_at_close;  /* still spooled (or unflushed) at close */
    int last_error;          /* the last ERROR code, 0 if none */
};
size_t mend_outputs_count(const struct mend_outputs *o);
/* Returns 0 or MEND_ENOTFOUND for an index out of range. */
int mend_outputs_stats(const struct mend_outputs *o, size_t index, struct mend_output_stats *st);

/* ---- the outputs shipped with mend -------------------------------------- */

/* jsonl: one JSON line per incident change, to a file or stdout.
 *
 * The file is opened for append (created 0644 when missing) and never
 * truncated: a restart continues the record rather than erasing it. Each
 * line goes out with write(2) as it comes (incidents are rare; a line in the
 * kernel is a line that survives our crash), after flushing stdio's stdout
 * when the output is stdout, so it stays ordered with other stdout text.
 * Answers RETRY when nothing of the line could be written because the
 * destination is full or would block (ENOSPC, EDQUOT, EAGAIN): space may
 * come back. Any other write failure (EIO, EPIPE, EBADF, EFBIG ...) answers
 * MEND_EIO: the line is lost, counted and named by last_error. A line cut
 * short by a failure after part of it was written keeps its remainder in
 * the output, which writes it before anything else (answering RETRY for
 * newer lines until it can), so no line is ever interleaved with another;
 * if the remainder cannot be written at all, a newline ends the fragment
 * before the next line. */
struct mend_output_jsonl_conf {
    const char *path; /* file name, or "-" for stdout; borrowed for open */
    int fd;           /* used when path is NULL: a descriptor the caller keeps
                         open until close (not closed by the output) */
};
extern const struct mend_output_ops mend_output_jsonl_ops;

/* table: the human summary `mend replay --table` prints once at the end, one
 * row per incident in the order incidents were first seen:
 *   id status start (UTC) entity max score sigs top signal
 * Rows beyond max_rows are counted and summarised in one closing line.
 * Control characters in entity and key are shown as '?', so a crafted
 * series name cannot drive the terminal. Printed at close, to out. */
struct mend_output_table_conf {
    FILE *out;         /* borrowed, must outlive close; NULL = stdout */
    uint32_t max_rows; /* 0 = the default, 100,000 */
};
extern const struct mend_output_ops mend_output_table_ops;

#endif
