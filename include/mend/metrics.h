/* metrics.h -- mend's own metrics in the Prometheus text exposition format
 * (version 0.0.4), served over a small HTTP/1.1 server on the event loop:
 * GET /metrics and GET /healthz.
 *
 * Nothing is stored here between scrapes: at each GET /metrics the server
 * calls every registered collector, which writes its families straight
 * into the response with mend_metrics_family / mend_metrics_sample (the
 * engine's, the inputs', the checkpoints' counters live where they are
 * counted). A module that comes later -- the Prometheus scraper -- plugs its
 * counters in with mend_metrics_register, as the pipeline does its own.
 * The server adds its own: the loop's lag (measured by a timer on the
 * loop), and its HTTP counters.
 *
 * Caps: max_conns connections at once (more are closed at once and
 * counted), a request of at most max_request bytes (else 431), timeout_ns
 * for a whole exchange (else closed, counted), MEND_METRICS_MAX_BODY bytes
 * of response (else 500), MEND_METRICS_MAX_COLLECTORS collectors. Every
 * response closes its connection (HTTP/1.1 "Connection: close"). */
#ifndef MEND_METRICS_H
#define MEND_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "mend/loop.h"

#define MEND_METRICS_MAX_COLLECTORS 16
#define MEND_METRICS_MAX_BODY (16u << 20)

struct mend_metrics_conf {
    char listen[256];   /* HOST:PORT ([v6]:PORT; PORT 0 = any free); "" = no server */
    uint32_t max_conns; /* HTTP connections at once, default 16 */
    size_t max_request; /* bytes of request line + headers, default 8192 */
    int64_t timeout_ns; /* a whole exchange, default 5s */
};

void mend_metrics_conf_defaults(struct mend_metrics_conf *c);
/* The metrics.* options (metrics_conf.c). */
struct mend_conf_map;
extern const struct mend_conf_map mend_metrics_conf_map;

/* Checks that listen is a HOST:PORT mend can parse (no socket is opened):
 * 0, or MEND_EINVAL with err saying what is accepted. For the command line
 * to refuse a bad address before anything is opened. */
int mend_metrics_listen_check(const char *listen, char *err, size_t errlen);

/* ---- writing an exposition ------------------------------------------------ */

enum mend_metric_type { MEND_METRIC_COUNTER, MEND_METRIC_GAUGE };

struct mend_metrics_out; /* a response body being built; owned by the server */

/* Starts a family: "# HELP name help" and "# TYPE name type". name must be a
 * valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total); a
 * family must not be started twice in one exposition. Returns 0,
 * MEND_EINVAL (bad or repeated name) or MEND_ECAP (body cap). */
int mend_metrics_family(struct mend_metrics_out *o, const char *name, enum mend_metric_type type,
                        const char *help);
/* One sample of the current family. labels: NULL, or name/value pairs ended
 * by NULL ({"input", "tcp://:8094", NULL}); values are escaped as the
 * format wants (\\, \", \n). Returns 0, MEND_EINVAL (no family, bad label
 * name) or MEND_ECAP. */
int mend_metrics_sample(struct mend_metrics_out *o, const char *const *labels, double value);

/* For collectors: a family or a sample, returning the error from the
 * collector at once. They expect `struct mend_metrics_out *o` and `int rc`
 * in scope. */
#define MEND_METRICS_FAM(name, type, help)                                                                     \
    do {                                                                                                       \
        if ((rc = mend_metrics_family(o, name, type, help)) != MEND_OK)                                        \
            return rc;                                                                                         \
    } while (0)
#define MEND_METRICS_VAL(labels, v)                                                                            \
    do {                                                                                                       \
        if ((rc = mend_metrics_sample(o, labels, (double)(v))) != MEND_OK)                                     \
            return rc;                                                                                         \
    } while (0)

/* A collector: writes its families into o; returns 0 or a negative code
 * (the scrape then answers 500). Called on the loop thread. */
typedef int (*mend_metrics_collect_fn)(void *ctx, struct mend_metrics_out *o);

/* ---- the server ------------------------------------------------------------ */

struct mend_metrics_server;

/* Binds c->listen and serves on loop (borrowed, must outlive the server);
 * c is copied. With an empty listen nothing is bound and the server only
 * renders (tests, mend_metrics_render). Returns 0, MEND_EINVAL (bad
 * address), MEND_EIO (bind/listen failed: err names the address and why),
 * MEND_ENOMEM. */
int mend_metrics_server_new(const struct mend_metrics_conf *c, struct mend_loop *loop,
                            struct mend_metrics_server **out, char *err, size_t errlen);
/* Accepts NULL; closes every connection and the listener. */
void mend_metrics_server_free(struct mend_metrics_server *s);
/* The bound port (0 when not listening). */
int mend_metrics_server_port(const struct mend_metrics_server *s);

/* Adds a collector, called in registration order at every scrape; ctx is
 * borrowed. Returns 0 or MEND_ECAP. */
int mend_metrics_register(struct mend_metrics_server *s, mend_metrics_collect_fn fn, void *ctx);

/* Builds the exposition as a scrape would: *body (malloc'd, the caller
 * frees) of *len bytes. Returns 0 or the first collector's error. */
int mend_metrics_render(struct mend_metrics_server *s, char **body, size_t *len);

#endif
