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
 * messages the consumer may have out, default 65536), creds=FILE (NATS
 * credentials), tls=1, ca=FILE, cert=FILE, key=FILE.
 *
 * A message is a record of the stream's format (line protocol unless
 * input.format says otherwise): one or more whole lines. A worker thread
 * fetches batches and hands them to the loop through an eventfd, so the
 * loop never waits on the network. With ack=checkpoint a message is
 * acknowledged only once the checkpoint that holds its samples is committed
 * (the input's checkpoint op, see input.h), so after a crash the server
 * redelivers exactly what the restored state lacks; with ack=now at once.
 *
 * Caps: JS_QUEUE_MAX fetched messages queued for the loop (the worker waits
 * when full), max_pending held for a checkpoint (the server stops delivering
 * at that count). */
#ifndef MEND_CLUSTER_H
#define MEND_CLUSTER_H

#include <stdint.h>

#include "mend/input.h"

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
};

/* Adds the stats of every jetstream input of s to *out (zeroed first).
 * Returns the number of jetstream inputs. */
int mend_jetstream_stats(struct mend_inputs *s, struct mend_jetstream_stats *out);

#endif
