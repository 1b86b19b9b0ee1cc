/* logsig.h -- log messages become signals: one template miner (template.h)
 * shared by every log stream of a pipeline, and per-entity counters that
 * turn the mined messages into ordinary samples, one set per interval.
 *
 * The log formats (syslog, json, text in src/format/fmt_logs.c) parse a
 * record into a struct mend_logmsg and hand it to mend_logsig_add. The
 * context mines the message, and counts it for its entity (the syslog
 * HOSTNAME or APP-NAME, the JSON entity field, none for plain text) in the
 * entity's open interval [start, start + interval), aligned to the epoch so
 * a replay started anywhere cuts the same intervals. When a message of that
 * entity arrives at or past the interval's end, the closed interval is
 * emitted, stamped with its end time, as these series (TAG is the
 * entity tag, input.entity_tag, "host" by default; keys are in canonical
 * line-protocol form, tags sorted):
 *
 *   logs,TAG=E,template=ID count       messages of template ID
 *   logs,TAG=E,severity=NAME count     messages of that syslog severity
 *   logs,TAG=E messages                all messages
 *   logs,TAG=E new_templates           templates this entity's messages created
 *
 * A template or severity the entity has sent keeps reporting 0 for
 * idle_intervals empty intervals after its last message (a count that drops
 * to nothing is the signal), then stops; intervals with no message of the
 * entity are filled with those zeros, at most idle_intervals of them. An
 * entity whose messages stop sends nothing more (the engine's absence
 * check sees its series go silent). Intervals close on the entity's own
 * event time only: nothing is emitted for the last open interval at the
 * end of a replay, so a replay split in two at a line (with the state
 * carried in the checkpoint) emits exactly what the whole replay emits.
 * A message older than its entity's open interval is counted in that open
 * interval (and in stats.late).
 *
 * The first message of each template is kept (cut at max_example bytes) as
 * its example, for incident annotations (mend_logsig_annotate).
 *
 * Caps: max_entities (at the cap the entity with the oldest interval is
 * dropped, counted), max_per_entity templates counted per entity (the rest
 * are counted under template=other), the miner's own caps, examples for at
 * most the miner's max_templates newest templates.
 *
 * Not thread-safe; no global state. */
#ifndef MEND_LOGSIG_H
#define MEND_LOGSIG_H

#include <stddef.h>
#include <stdint.h>

#include "mend/common.h"
#include "mend/template.h"

struct mend_logsig_conf {
    int64_t interval_ns;       /* counting interval, default 60 s (>= 1 ms) */
    uint32_t idle_intervals;   /* empty intervals a series keeps reporting 0, default 10 (0..1000) */
    uint32_t max_entities;     /* default 10,000 */
    uint32_t max_per_entity;   /* templates counted per entity, default 1,000; (idle_intervals
                                  + 1) x (max_per_entity + 11) <= 65536, the samples one
                                  message may close, so they fit a replay's line queue */
    uint32_t max_example;      /* bytes kept of each template's example line, default 512 */
    int year;                  /* year of RFC 3164 timestamps (they carry none); 0 = the
                                  current UTC year when the context is made */
    int syslog_entity_app;     /* 0 (default): syslog entity is HOSTNAME; 1: APP-NAME */
    const char *json_message;  /* JSON field names, comma lists, first present wins; */
    const char *json_level;    /*   defaults "message,msg,log", "level,severity,lvl", */
    const char *json_time;     /*   "time,timestamp,@timestamp,ts", "host,hostname"; */
    const char *json_entity;   /*   strings borrowed: must outlive the context */
    struct mend_tmpl_conf tmpl;
};
void mend_logsig_conf_defaults(struct mend_logsig_conf *c);

/* One parsed log record; everything borrowed for the call. */
struct mend_logmsg {
    const char *msg;           /* the message text that is mined */
    size_t msg_len;
    const char *line;          /* the whole record, kept as the example; may be NULL (= msg) */
    size_t line_len;
    const char *entity;        /* NULL or empty: no entity */
    size_t entity_len;
    int64_t time_ns;
    int severity;              /* 0 (emerg) .. 7 (debug), -1 unknown */
};

/* Syslog severity name ("emerg" ... "debug"), "?" outside 0..7. */
const char *mend_logsig_severity_name(int sev);
/* Severity from a level word ("ERROR", "warn", "fatal", "3", bunyan's
 * "50"...), case-insensitive; -1 when not a level. */
int mend_logsig_severity_parse(const char *s, size_t n);

struct mend_logsig_stats {
    uint64_t messages;         /* added */
    uint64_t emitted;          /* samples emitted */
    uint64_t intervals;        /* entity intervals closed */
    uint64_t late;             /* messages older than their entity's open interval */
    uint64_t entities;         /* entities now */
    uint64_t entity_evicted;   /* entities dropped at max_entities */
    uint64_t other;            /* messages counted as template=other (max_per_entity) */
};

struct mend_logsig;

/* Where samples go: a mend_point (borrowed for the call); a negative code
 * stops the emission and is returned. */
typedef int (*mend_logsig_emit_fn)(void *ctx, const struct mend_point *pt);

/* c is copied (its strings borrowed). Returns 0, MEND_EINVAL (bad conf:
 * err, if given, names the option) or MEND_ENOMEM. */
int mend_logsig_new(const struct mend_logsig_conf *c, struct mend_logsig **out, char *err,
                    size_t errlen);
void mend_logsig_free(struct mend_logsig *ls); /* accepts NULL */
const struct mend_logsig_conf *mend_logsig_conf(const struct mend_logsig *ls);

/* Mines and counts one message; first emits the entity's intervals that end
 * at or before m->time_ns. entity_tag names the entity tag in the keys
 * (NULL or "" = "host"). Returns 0, MEND_ENOMEM, or emit's negative code
 * (the message is then still counted). The template the message got is in
 * *match when match is not NULL (borrowed as in template.h). */
int mend_logsig_add(struct mend_logsig *ls, const struct mend_logmsg *m, const char *entity_tag,
                    mend_logsig_emit_fn emit, void *ctx, struct mend_tmpl_match *match);

/* Emits every entity's intervals that end at or before now_ns (the format's
 * flush). Same returns as mend_logsig_add. */
int mend_logsig_flush(struct mend_logsig *ls, int64_t now_ns, const char *entity_tag,
                      mend_logsig_emit_fn emit, void *ctx);

/* For a series key emitted above with template=ID: the template's current
 * text and its example line (borrowed until the next add/load). Returns 1
 * with both set (example may be empty when it was dropped at the cap), 0
 * when the key is not a template series or the template is gone. */
int mend_logsig_annotate(const struct mend_logsig *ls, const char *key, size_t key_len,
                         const char **tmpl, size_t *tmpl_len, const char **example,
                         size_t *example_len);

void mend_logsig_stats(const struct mend_logsig *ls, struct mend_logsig_stats *st);
struct mend_tmpl *mend_logsig_miner(struct mend_logsig *ls);

/* Checkpoint state: the miner, the examples and every entity's open
 * interval. save appends to w (check w->failed). load restores into a fresh
 * context made with the same configuration: 0, MEND_EINVAL (not fresh),
 * MEND_EVERSION (another format, or saved with another interval or miner
 * limits), MEND_ECAP, MEND_ECORRUPT (anything inconsistent: counts beyond
 * the data or the caps, ids out of order) or MEND_ENOMEM; on error the
 * context is emptied (fresh again), never half-loaded. */
#define MEND_LOGSIG_TAG 0x53474f4cu /* "LOGS", the checkpoint section tag */
#define MEND_LOGSIG_VERSION 1u
int mend_logsig_save(const struct mend_logsig *ls, struct mend_wbuf *w);
int mend_logsig_load(struct mend_logsig *ls, struct mend_rbuf *r);

#endif
