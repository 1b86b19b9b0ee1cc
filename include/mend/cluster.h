/* cluster.h -- mend beyond one machine: partitioned ingest from NATS
 * JetStream, and engines that share the partitions through leases.
 *
 * The "jetstream" input kind (mend_input_jetstream_ops) consumes a stream
 * through a durable pull consumer:
 *
 *   jetstream://HOST:PORT[,HOST:PORT...]/STREAM/DURABLE[?OPTS]
 *
 * OPTS, '&'-separated: subject=S (the consumer's filter subject, default
 * every subject of the stream), batch=N (messages per fetch, 1..4096,
 * default 256), ack=checkpoint|now (default checkpoint), ack_wait_s=N
 * (seconds before the server redelivers an unacknowledged message, default
 * 600; held messages are marked in progress every ack_wait/3 so a long
 * checkpoint interval does not cause redelivery), max_pending=N (unacknowledged
 * messages the consumer may have out, default 65536), start_seq=N (recreate
 * the durable consumer to deliver from stream sequence N), replace=NAME (a
 * consumer to delete first), supersedes=PREFIX (with start_seq: delete every
 * consumer PREFIX<n> with n below the number ending DURABLE = PREFIX<m>, the
 * earlier epochs of a partition), creds=FILE (NATS
 * credentials), tls=1, ca=FILE, cert=FILE, key=FILE.
 *
 * A message is a record of the stream's format (line protocol unless
 * input.format says otherwise): one or more whole lines. Opening makes no
 * NATS call: a worker thread takes the consumer up (connect, the deletes of
 * replace/supersedes/start_seq, create) while the input is "connecting" and
 * delivers nothing; a failed step is reported through the input's error
 * path ("STREAM:0:0: connect: ... (retry in N ms)"), counted (setup_errors)
 * and retried with backoff, 100 ms doubling to 5 s. Then the worker
 * fetches batches and hands them to the loop through an eventfd, so the
 * loop never waits on the network; closing does not wait for the worker
 * either (one caught in a NATS call frees the instance when it returns). With ack=checkpoint a message is
 * acknowledged only once the checkpoint that holds its samples is committed
 * (the input's checkpoint op, see input.h), so after a crash the server
 * redelivers exactly what the restored state lacks; with ack=now at once.
 *
 * Caps: JS_QUEUE_MAX fetched messages queued for the loop (the worker waits
 * when full), max_pending held for a checkpoint (the server stops delivering
 * at that count). */
#ifndef MEND_CLUSTER_H
#define MEND_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "mend/input.h"

/* ---- the `cluster:` section (cluster_conf.c) ------------------------------ */

#define MEND_CLUSTER_MAX_PARTITIONS 1024u

struct mend_cluster_conf {
    char servers[512];       /* "HOST:PORT[,HOST:PORT...]" of the NATS cluster */
    char stream[64];         /* the JetStream stream the collectors publish to */
    char subject_prefix[64]; /* partition p is subject PREFIX.p */
    uint32_t partitions;     /* fixed; more than there are engines */
    uint32_t replicas;       /* of the stream and the lease bucket, when mend creates them */
    int create;              /* create the stream and the bucket when missing */
    char bucket[64];         /* key-value bucket of the leases */
    int64_t lease_ttl_ns;    /* a lease not renewed this long is taken over */
    char name[64];           /* this engine's name in the leases; "" = HOST-PID */
    uint32_t batch;          /* messages per fetch */
    int64_t ack_wait_ns;     /* consumer ack wait (held messages are kept in progress) */
    char creds[256];         /* NATS credentials file; "" = none */
    int tls;                 /* TLS to the servers */
    char ca[256], cert[256], key[256];
};
void mend_cluster_conf_defaults(struct mend_cluster_conf *c);
struct mend_conf_map;
extern const struct mend_conf_map mend_cluster_conf_map;

/* What one `mend cluster` engine is doing, for its end-of-run summary and
 * for /metrics (mend_cluster_run_stats in src/cli/cli.h fills it). */
struct mend_cluster_stats {
    uint32_t partitions;       /* configured */
    uint32_t owned;            /* owned now */
    uint32_t live_engines;     /* engines whose announcement moved within a lease ttl (us included) */
    uint64_t samples;          /* in the state of the owned partitions */
    uint64_t lag;              /* consumer pending + unacknowledged messages, summed (looked at once a second) */
    uint64_t acquired;         /* leases acquired (fresh, free or taken over) */
    uint64_t taken_over;       /* of which from an engine that stopped renewing */
    uint64_t lost;             /* leases lost (taken by another, or renewal failing past validity) */
    uint64_t handed_on;        /* released above the fair share */
    uint64_t refused;          /* samples refused because their partition's lease had gone */
    uint64_t kv_errors;        /* failed key-value calls */
    uint64_t renewals;         /* lease renewals written */
    uint64_t renew_failures;   /* lease renewals refused or failed */
    uint8_t owns[MEND_CLUSTER_MAX_PARTITIONS]; /* 1 for each owned partition */
};

/* ---- a partition's checkpoint (part_state.c) ------------------------------
 * The engine's state plus the last stream sequence it holds and the epoch
 * of its writer, written in this thread (no fork: libnats' threads hold
 * allocator locks a child would inherit). still_ours (NULL = no check) is
 * called once the state is serialised, right before the commit's fsync and
 * rename: 0 there drops the file (MEND_EAGAIN, err says why) -- a fenced
 * engine must not replace its successor's checkpoint. _restore loads into a
 * fresh engine; MEND_ENOTFOUND when there is no file. err names the file. */
struct mend_engine;
int mend_cluster_part_save(const struct mend_engine *e, uint64_t last_seq, uint64_t epoch, const char *path,
                           int (*still_ours)(void *ctx), void *ctx, char *err, size_t errlen);
int mend_cluster_part_restore(struct mend_engine *e, const char *path, uint64_t *last_seq, uint64_t *epoch,
                              char *err, size_t errlen);

/* ---- leases (lease.c) ------------------------------------------------------
 * Partition p's lease is key "p<p>" of the bucket, value "OWNER EPOCH". The
 * owner renews it every ttl/4 by rewriting it (kvStore_Update against the
 * revision it wrote last, so a renewal after someone else's write fails:
 * the lease is lost at once). Others take over a lease whose revision they
 * have seen unchanged for ttl on their own monotonic clock -- no clock is
 * compared across machines -- by an Update against that revision with
 * EPOCH + 1 (the fencing epoch: whoever writes with the older epoch lost).
 * The owner counts its lease valid until ttl * 3/4 after it sent its last
 * successful renewal, so it stops before anyone may take over. Engines
 * announce themselves under "m.<name>" the same way; each claims free or
 * expired partitions up to its fair share, ceil(partitions / live engines),
 * and hands back the ones above it (after a checkpoint) so that a new
 * engine gets work.
 *
 * Threads. KV calls block (up to the 5 s JetStream API timeout while a
 * server is away). mend_leases_start runs the rounds on a worker thread of
 * the module's own, every ttl/4; the host's callbacks are then called on
 * that thread (the host hands them to its loop), and mend_leases_valid,
 * _epoch, _stats and _release may be called from any one other thread.
 * Without start, the caller drives mend_leases_tick itself (tests, on
 * injected time) and the callbacks run inside it. */
struct mend_leases;
struct mend_lease_host {
    /* p is ours with epoch: restore its checkpoint and start consuming. */
    int (*acquired)(void *ctx, uint32_t p, uint64_t epoch);
    /* p is no longer ours (taken over, or renewal failed for too long):
     * stop at once, no checkpoint, no acknowledgement. mend_leases_valid
     * is already 0 for it when this is called. */
    void (*lost)(void *ctx, uint32_t p);
    /* p is above our share: checkpoint it, stop, then mend_leases_release.
     * Asked again a ttl later while p is still held. */
    void (*surplus)(void *ctx, uint32_t p);
    void *ctx;
};
struct mend_lease_stats {
    uint32_t owned, live_engines;
    uint64_t acquired, taken_over, lost, released, kv_errors;
    uint64_t renewals, renew_failures; /* lease renewals written / refused or failed */
};
/* Connects with conf (servers, credentials, TLS); with conf->create makes
 * the stream (subjects PREFIX.*, conf->replicas) and the bucket when they are
 * missing, else binds them. conf and host are copied. Returns 0, MEND_EINVAL, MEND_EIO (err
 * says what), MEND_ENOMEM. */
int mend_leases_new(const struct mend_cluster_conf *conf, const struct mend_lease_host *host,
                    struct mend_leases **out, char *err, size_t errlen);
/* Starts the worker thread (a round at once, then every lease_ttl/4).
 * Returns 0, MEND_EINVAL (already started) or MEND_ENOMEM. */
int mend_leases_start(struct mend_leases *l);
/* Stops the worker (waiting out at most one KV call), writes the releases
 * asked for, releases every owned lease (free marker) unless crash != 0
 * (tests), then frees. NULL ok. */
void mend_leases_free(struct mend_leases *l, int crash);
/* One round at monotonic time now_ns: renew, announce, observe, claim,
 * report. Returns 0 or the host's first negative code. Not while the worker
 * runs. */
int mend_leases_tick(struct mend_leases *l, int64_t now_ns);
/* 1 while partition p is ours and its lease is valid at now_ns. */
int mend_leases_valid(const struct mend_leases *l, uint32_t p, int64_t now_ns);
uint64_t mend_leases_epoch(const struct mend_leases *l, uint32_t p);
/* Hands p's lease of epoch back (after the host's surplus checkpoint, or
 * when the host dropped p): p stops being valid at once. Without a worker
 * the free marker is written here (0 or MEND_EIO); with one it is queued
 * for the worker, which writes it only if it still holds p at that epoch
 * (0). MEND_EINVAL when p is not held at epoch (lost, or won again since:
 * a newer lease the caller has not seen is not given away). */
int mend_leases_release(struct mend_leases *l, uint32_t p, uint64_t epoch);
void mend_leases_stats(struct mend_leases *l, struct mend_lease_stats *st);
const char *mend_leases_name(const struct mend_leases *l);

extern const struct mend_input_ops mend_input_jetstream_ops;

/* What one jetstream input did; read from the loop thread. */
struct mend_jetstream_stats {
    uint64_t fetched;      /* messages fetched from the server */
    uint64_t delivered;    /* messages whose bytes went to the parser */
    uint64_t acked;        /* messages acknowledged */
    uint64_t redelivered;  /* messages the server delivered more than once */
    uint64_t fetch_errors; /* fetches that failed (not timeouts) */
    uint64_t duplicates;   /* redeliveries of messages already parsed (not parsed again) */
    uint64_t held;         /* delivered, waiting for a committed checkpoint */
    uint64_t lag;          /* the consumer's pending + unacknowledged messages (last look, once a second) */
    uint64_t pending;      /* of which not delivered yet (same look) */
    uint64_t setup_errors; /* failed attempts to take the consumer up (connect, delete, create; retried) */
    uint64_t connecting;   /* inputs whose consumer is not up yet (they deliver nothing) */
};

/* The highest stream sequence the first jetstream input of s has parsed (0
 * when none), for a checkpoint to record: a takeover restarts the consumer
 * after it (spec option start_seq=N: the durable consumer is recreated to
 * deliver from stream sequence N). */
uint64_t mend_jetstream_last_seq(struct mend_inputs *s);

/* Adds the stats of every jetstream input of s to *out (zeroed first).
 * Returns the number of jetstream inputs. */
int mend_jetstream_stats(struct mend_inputs *s, struct mend_jetstream_stats *out);

#endif
