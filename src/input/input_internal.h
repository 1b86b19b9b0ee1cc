/* input_internal.h -- what the set (input.c) and streams (stream.c) share.
 * Kinds do not include this: they see only input.h, as a kind built outside
 * src/input/ would. The socket helpers at the end serve the tcp and udp
 * kinds. */
#ifndef MEND_INPUT_INTERNAL_H
#define MEND_INPUT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mend/input.h"

struct mend_input {
    const struct mend_input_ops *ops;
    struct mend_inputs *set;
    void *priv;
    const void *arg;           /* mend_inputs_add_arg */
    char *spec;
    int pull_fd;               /* read through on_fd by the set: regular files, merge mode */
    int ended;
    int has_port, port;
    uint64_t timer_id;
    struct mend_stream *mstream; /* merge mode: its only stream */
    int exhausted;             /* merge: peek_time said no more samples */
    int head_ok;               /* merge: head is the time of a queued sample */
    int64_t head;
    int direct;                /* merge fast path: the last input, unqueued */
    uint64_t bytes, lines;     /* given to this input's streams (for /metrics) */
};

struct mend_inputs {
    struct mend_input_conf conf;
    struct mend_input_host host;
    struct mend_loop *loop;
    const struct mend_input_ops *kinds[32];
    size_t n_kinds;
    struct mend_input **in;
    size_t n_in, cap_in;
    size_t n_streams;
    char *buf;                 /* MEND_INPUTS_FILE_CHUNK scratch */
    struct mend_inputs_stats st;
    char last_error[256];
    int fmt_given;
    enum mend_format fmt;
};

/* stream.c: merge-mode queue access for input.c */
int mend_stream_pop(struct mend_stream *st, const struct mend_input_host *host);
int mend_stream_go_direct(struct mend_stream *st);

/* in_file.c: the "file" kind, and its entry for mend_inputs_add_fd */
extern const struct mend_input_ops mend_input_file_ops;
int mend_input_file_open_fd(struct mend_input *in, int fd, const char *name, int owned, char *err,
                            size_t errlen);
extern const struct mend_input_ops mend_input_tcp_ops;
extern const struct mend_input_ops mend_input_udp_ops;

/* input_net.c: "HOST:PORT" parsing, binding, peer names */
#define MEND_NET_PEER_MAX 80 /* "tcp:[" + INET6_ADDRSTRLEN + "]:65535" fits */
/* Binds (and for TCP listens on) spec's address, spec being "tcp://..." or
 * "udp://...". Returns the fd (non-blocking, close-on-exec) or a negative
 * code with err naming spec and what failed. *port gets the bound port. */
int mend_net_listen(const char *spec, int udp, int *port, char *err, size_t errlen);
void mend_net_peer(char *out, size_t outlen, const char *proto, const struct sockaddr *sa,
                   socklen_t sl);
int mend_net_nonblock(int fd);

#endif
