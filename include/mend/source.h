/* source.h -- where input bytes come from: regular files, stdin (or any
 * already-open fd), TCP listeners and UDP listeners, polled together with
 * poll(2) from a single thread.
 *
 * Nothing else in mend knows where bytes came from: a source turns every
 * input into "streams" (a file, stdin, one TCP connection, or one UDP
 * datagram) and reports each through three callbacks: open, data (any
 * chunking -- a line may be split across calls), close. The receiver keeps
 * per-stream line state keyed by the stream id and flushes a partial last
 * line on close.
 *
 * Regular files are read one after another, in the order added (like cat),
 * 1 MiB at a time; pipes, ttys and sockets are read concurrently as poll(2)
 * reports them, 64 KiB at a time. Every count has a cap: accepted TCP
 * connections (default 1024; beyond it a connection is accepted and closed at
 * once, counted as refused), inputs added (MEND_SOURCES_MAX_INPUTS), and the
 * datagram size (64 KiB). No threads, no global state. */
#ifndef MEND_SOURCE_H
#define MEND_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#define MEND_SOURCES_MAX_INPUTS 1024       /* files + fds + listeners per set */
#define MEND_SOURCES_DEFAULT_MAX_CONNS 1024
#define MEND_SOURCES_FILE_CHUNK (1u << 20) /* read size for regular files */
#define MEND_SOURCES_SOCK_CHUNK (1u << 16) /* read size for pipes/sockets, and
                                              the largest datagram kept whole */

struct mend_source_events {
    /* A stream starts. stream is unique within the set (never 0, never
     * reused). peer (borrowed, valid for this call only) names it: the path,
     * "-" for stdin, "tcp:127.0.0.1:5555", "tcp:[::1]:5555", "udp:...".
     * Returning a negative code aborts mend_sources_poll() with that code and
     * drops the stream (no close is delivered for it). */
    int (*open)(void *ctx, uint64_t stream, const char *peer);
    /* Bytes of the stream (borrowed, valid for this call only; len > 0).
     * Returning a negative code aborts mend_sources_poll() with that code;
     * the bytes count as consumed and the stream stays open. */
    int (*data)(void *ctx, uint64_t stream, const char *buf, size_t len);
    /* End of the stream (EOF, peer closed, read error, or shutdown). */
    void (*close)(void *ctx, uint64_t stream);
    void *ctx;
};

struct mend_sources_stats {
    uint64_t bytes;      /* delivered through data() */
    uint64_t streams;    /* opened (each datagram counts as one) */
    uint64_t datagrams;  /* UDP datagrams received */
    uint64_t refused;    /* TCP connections closed at once: over the cap */
    uint64_t errors;     /* read/accept errors, truncated datagrams */
    size_t open_conns;   /* TCP connections currently open */
};

struct mend_sources; /* opaque: a set of inputs polled together */

/* Returns 0 or MEND_ENOMEM. Free with mend_sources_free (accepts NULL), which
 * closes every fd the set owns without delivering close events. */
int mend_sources_new(struct mend_sources **out);
void mend_sources_free(struct mend_sources *s);

/* Caps the number of simultaneously open TCP connections (>= 1); returns 0
 * or MEND_EINVAL. Connections already open are kept. */
int mend_sources_set_max_conns(struct mend_sources *s, size_t max_conns);

/* Adds an input. spec: a file path, "-" for stdin, "tcp://HOST:PORT" or
 * "udp://HOST:PORT" to listen (HOST may be a name, an IPv4 address, "[v6]",
 * or empty for every address -- dual-stack "::" when the host has IPv6; PORT
 * 0 picks a free port, see mend_sources_port). The first resolved address
 * that binds is used. Files are opened now so a missing one fails here.
 * Returns 0, MEND_EINVAL (bad spec), MEND_EIO (open/bind/listen failed),
 * MEND_ECAP (too many inputs) or MEND_ENOMEM; on error a message naming the
 * spec and what failed (with the errno text) is written to err (if errlen >
 * 0). Stdin is borrowed (never closed); everything else is owned by the set. */
int mend_sources_add(struct mend_sources *s, const char *spec, char *err, size_t errlen);

/* Adds an already-open fd named name (copied; the peer of its stream). A
 * regular file is read in 1 MiB chunks in add order; anything else (pipe,
 * tty, socket) is polled. With owned != 0 the set takes ownership and closes
 * fd; otherwise the caller keeps it open and closes it after the set is done
 * with it. The fd's flags are not changed (a pollable fd is read once per
 * readiness, so it need not be non-blocking). Errors as mend_sources_add. */
int mend_sources_add_fd(struct mend_sources *s, int fd, const char *name, int owned,
                        char *err, size_t errlen);

/* Waits up to timeout_ms (negative: forever; 0 when a regular file still has
 * bytes) for input and delivers it through ev (which must have all three
 * callbacks). Returns the number of bytes delivered (>= 0, clamped to
 * INT_MAX), 0 when interrupted by a signal, MEND_EIO when poll(2) itself
 * fails, or the negative code a callback returned. Read errors on one stream
 * close that stream and are counted (see mend_sources_last_error). */
int mend_sources_poll(struct mend_sources *s, int timeout_ms, const struct mend_source_events *ev);

/* 1 when every file/fd input has reached its end and there are no
 * listeners (listeners never end), else 0. */
int mend_sources_done(const struct mend_sources *s);

/* Closes every listener and every open stream, delivering close for each
 * stream that was opened (so receivers flush partial lines). After this,
 * mend_sources_done() is 1. ev may be NULL to skip the events. */
void mend_sources_shutdown(struct mend_sources *s, const struct mend_source_events *ev);

/* The bound port of the idx-th listener (0-based, counting only tcp:// and
 * udp:// inputs in the order added). Returns 0 or MEND_ENOTFOUND. */
int mend_sources_port(const struct mend_sources *s, size_t idx, int *port);

void mend_sources_stats(const struct mend_sources *s, struct mend_sources_stats *out);

/* Text of the last per-stream error (e.g. "tcp:127.0.0.1:4242: read:
 * Connection reset by peer"), or "" when none; owned by the set. */
const char *mend_sources_last_error(const struct mend_sources *s);

#endif
