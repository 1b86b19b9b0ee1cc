/* jsonl.c -- the JSON-lines incident output (see output.h): one line per
 * incident change, appended to a file or written to stdout with write(2),
 * so an answer of OK means the whole line reached the kernel. */
#include "mend/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct jsonl {
    int fd;
    int own_fd;      /* opened here, closed here */
    char name[256];  /* for messages */
    char *pending;   /* the unwritten rest of a line cut short */
    size_t pending_len, pending_off;
    int need_nl;     /* a cut line was abandoned: end it before the next one */
    char *path;      /* own_fd: what to open again on reopen (SIGHUP) */
    char err[512];
};

static void set_err(struct jsonl *j, const char *what, int e)
{
    snprintf(j->err, sizeof j->err, "%s: %s: %s", j->name, what, strerror(e));
}

/* Full, space or would-block: the destination may come back. */
static int retryable(int e)
{
    return e == ENOSPC || e == EAGAIN || e == EWOULDBLOCK
#ifdef EDQUOT
           || e == EDQUOT
#endif
        ;
}

/* Writes as much of (p, n) as the descriptor takes. Returns 0 when all of
 * it went, else the errno that stopped it; *done says how much went. */
static int write_some(struct jsonl *j, const char *p, size_t n, size_t *done)
{
    *done = 0;
    if (j->fd == STDOUT_FILENO)
        fflush(stdout); /* keep order with stdio text already queued for stdout */
    while (*done < n) {
        ssize_t w = write(j->fd, p + *done, n - *done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;
        *done += (size_t)w;
    }
    return 0;
}

/* Finishes a cut line. OK when none is left, RETRY while the destination is
 * down, MEND_EIO when the rest was abandoned (a newline will end it). */
static int finish_pending(struct jsonl *j)
{
    if (!j->pending)
        return MEND_OK;
    size_t done;
    int e = write_some(j, j->pending + j->pending_off, j->pending_len - j->pending_off, &done);
    j->pending_off += done;
    if (e == 0) {
        free(j->pending);
        j->pending = NULL;
        return MEND_OK;
    }
    if (retryable(e)) {
        set_err(j, "write (will retry)", e);
        return MEND_OUTPUT_RETRY;
    }
    set_err(j, "write failed, a line cut short was lost", e);
    free(j->pending);
    j->pending = NULL;
    j->need_nl = 1;
    return MEND_EIO;
}

static int jsonl_open(const void *conf, void **inst, char *err, size_t errlen)
{
    const struct mend_output_jsonl_conf *c = conf;
    *inst = NULL;
    if (!c || (!c->path && c->fd < 0)) {
        snprintf(err, errlen, "jsonl output: no path or descriptor");
        return MEND_EINVAL;
    }
    struct jsonl *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "jsonl output: out of memory");
        return MEND_ENOMEM;
    }
    if (!c->path) {
        j->fd = c->fd;
        snprintf(j->name, sizeof j->name, "fd %d", c->fd);
    } else if (!strcmp(c->path, "-")) {
        j->fd = STDOUT_FILENO;
        snprintf(j->name, sizeof j->name, "stdout");
    } else {
        /* append, never truncate: a restart continues the record */
        j->fd = open(c->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (j->fd < 0) {
            snprintf(err, errlen, "cannot open incidents output %s: %s", c->path, strerror(errno));
            free(j);
            return MEND_EIO;
        }
        j->own_fd = 1;
        snprintf(j->name, sizeof j->name, "%s", c->path);
        if (!(j->path = strdup(c->path))) {
            close(j->fd);
            free(j);
            snprintf(err, errlen, "jsonl output: out of memory");
            return MEND_ENOMEM;
        }
    }
    *inst = j;
    return MEND_OK;
}

static int jsonl_incident(void *inst, const char *status, const struct mend_incident *inc, const char *json,
                          size_t len)
{
    (void)status;
    (void)inc;
    struct jsonl *j = inst;
    int rc = finish_pending(j);
    if (rc != MEND_OK)
        return rc; /* RETRY: wait behind the cut line; EIO: this line is refused so the loss is counted */
    /* one buffer, so the line, its newline and a fragment's terminator go
     * out in one write: no torn line between two processes appending */
    size_t lead = j->need_nl ? 1 : 0, n = lead + len + 1;
    char stackbuf[4096];
    char *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf) {
        snprintf(j->err, sizeof j->err, "%s: out of memory", j->name);
        return MEND_ENOMEM;
    }
    if (lead)
        buf[0] = '\n';
    memcpy(buf + lead, json, len);
    buf[n - 1] = '\n';
    size_t done;
    int e = write_some(j, buf, n, &done);
    if (lead && done >= lead)
        j->need_nl = 0;
    if (e && done > 0 && done < n) {
        /* part of it went: the rest is ours to finish before anything else */
        char *rest = malloc(n - done);
        if (rest) {
            memcpy(rest, buf + done, n - done);
            j->pending = rest;
            j->pending_len = n - done;
            j->pending_off = 0;
            set_err(j, retryable(e) ? "write cut short (will finish)" : "write cut short", e);
            rc = MEND_OK;
        } else {
            set_err(j, "write cut short and out of memory", e);
            j->need_nl = 1;
            rc = MEND_ENOMEM;
        }
    } else if (e) {
        set_err(j, retryable(e) ? "write (will retry)" : "write failed", e);
        rc = retryable(e) ? MEND_OUTPUT_RETRY : MEND_EIO;
    }
    if (buf != stackbuf)
        free(buf);
    return rc;
}

static int jsonl_flush(void *inst)
{
    return finish_pending(inst);
}

static void jsonl_close(void *inst)
{
    struct jsonl *j = inst;
    if (!j)
        return;
    if (j->own_fd)
        close(j->fd);
    free(j->pending);
    free(j->path);
    free(j);
}

/* The new file is opened before the old one is closed: on failure the
 * output keeps writing where it did. A line cut short stays pending and
 * goes to the new file, where it would have gone next anyway. */
static int jsonl_reopen(void *inst, char *err, size_t errlen)
{
    struct jsonl *j = inst;
    if (!j->own_fd)
        return MEND_OK;
    int fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot reopen %s (still writing to the old file): %s", j->path, strerror(errno));
        return MEND_EIO;
    }
    close(j->fd);
    j->fd = fd;
    return MEND_OK;
}

static const char *jsonl_last_error(void *inst)
{
    struct jsonl *j = inst;
    return j->err[0] ? j->err : NULL;
}

const struct mend_output_ops mend_output_jsonl_ops = {
    .name = "jsonl",
    .open = jsonl_open,
    .incident = jsonl_incident,
    .flush = jsonl_flush,
    .close = jsonl_close,
    .last_error = jsonl_last_error,
    .reopen = jsonl_reopen,
};
