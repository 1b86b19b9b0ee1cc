/* in_file.c -- the "file" input kind: a regular file, stdin ("-"), or any
 * fd handed in (a pipe, a tty). One stream per input, named by the path
 * (or "-"), whose end completes its last line.
 *
 * A regular file has no readiness: the set reads it by calling on_fd
 * (1 MiB at a time, or 64 KiB while merging). A pipe is watched by the loop
 * when live; when merging, the set's peek blocks on it until bytes come,
 * which is what a replay wants. The fd's flags are left alone (a watched fd
 * is read once per readiness, so it need not be non-blocking). */
#include "input_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_NAME_MAX 4096
#define FILE_WAIT_MS 200 /* longest wait for a pipe in merge mode before the loop turns */

struct file_in {
    int fd;
    int owned;     /* close fd at the end (not stdin nor borrowed fds) */
    int regular;
    struct mend_stream *st;
};

static int file_claims(const char *spec)
{
    return !strcmp(spec, "-") || !strstr(spec, "://");
}

static void file_stop(struct mend_input *in, struct file_in *f)
{
    if (f->fd >= 0) {
        mend_input_unwatch(in, f->fd);
        if (f->owned)
            close(f->fd);
    }
    f->fd = -1;
    mend_input_ended(in);
}

/* One read: bytes to the stream, or its end. */
static int file_read(struct mend_input *in, struct file_in *f)
{
    size_t cap;
    char *buf = mend_input_buf(in, &cap);
    if (f->fd < 0)
        return MEND_OK;
    if (mend_stream_queued(f->st) || !f->regular)
        cap = MEND_INPUTS_SOCK_CHUNK;
    if (!f->regular && mend_input_merging(in)) {
        /* read on demand, but let a signal (^C on a tty) through: the loop
         * takes it at its next turn */
        int r = mend_loop_wait_fd(mend_input_loop(in), f->fd, FILE_WAIT_MS);
        if (r < 0)
            return r;
        if (r == 0)
            return MEND_EAGAIN;
    }
    ssize_t n = read(f->fd, buf, cap);
    if (n > 0) {
        mend_input_stats(in)->bytes += (uint64_t)n;
        return mend_stream_data(f->st, buf, (size_t)n);
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return MEND_OK;
    if (n < 0)
        mend_input_error(in, mend_stream_name(f->st), "read", errno);
    int rc = mend_stream_end(f->st, n < 0);
    file_stop(in, f);
    return rc;
}

static int file_on_fd(struct mend_input *in, int fd, unsigned events)
{
    (void)fd;
    (void)events;
    return file_read(in, mend_input_priv(in));
}

static int file_more(void *ctx)
{
    struct mend_input *in = ctx;
    struct file_in *f = mend_input_priv(in);
    if (f->fd < 0) /* ended earlier: the stream knows */
        return mend_stream_end(f->st, 0);
    return file_read(in, f);
}

static int file_peek(struct mend_input *in, int64_t *t)
{
    struct file_in *f = mend_input_priv(in);
    return mend_stream_peek(f->st, file_more, in, t);
}

static void file_close(struct mend_input *in)
{
    struct file_in *f = mend_input_priv(in);
    if (!f)
        return;
    mend_stream_free(f->st);
    file_stop(in, f);
    free(f);
    mend_input_set_priv(in, NULL);
}

int mend_input_file_open_fd(struct mend_input *in, int fd, const char *name, int owned, char *err,
                            size_t errlen)
{
    struct stat sb;
    struct file_in *f;
    int rc;
    if (strnlen(name, FILE_NAME_MAX + 1) > FILE_NAME_MAX) {
        snprintf(err, errlen, "input name longer than %d bytes", FILE_NAME_MAX);
        return MEND_EINVAL;
    }
    if (fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        return MEND_EIO;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: is a directory", name);
        return MEND_EINVAL;
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", name);
        return MEND_ENOMEM;
    }
    f->fd = -1;
    f->regular = S_ISREG(sb.st_mode);
    rc = mend_stream_open(in, name, MEND_STREAM_EOF_ENDS_LINE, &f->st);
    if (rc == MEND_OK)
        rc = mend_input_watch(in, fd);
    if (rc < 0) {
        mend_stream_free(f->st);
        free(f);
        snprintf(err, errlen, "%s: %s", name, mend_strerror(rc));
        return rc;
    }
    if (f->regular) /* a replay reads it once, front to back */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    f->fd = fd;
    f->owned = owned;
    mend_input_set_priv(in, f);
    return MEND_OK;
}

static int file_open(struct mend_input *in, const char *spec, char *err, size_t errlen)
{
    int fd, rc;
    if (!strcmp(spec, "-"))
        return mend_input_file_open_fd(in, STDIN_FILENO, "-", 0, err, errlen);
    fd = open(spec, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        return MEND_EIO;
    }
    rc = mend_input_file_open_fd(in, fd, spec, 1, err, errlen);
    if (rc < 0)
        close(fd);
    return rc;
}

const struct mend_input_ops mend_input_file_ops = {
    .kind = "file",
    .claims = file_claims,
    .open = file_open,
    .on_fd = file_on_fd,
    .on_timer = NULL,
    .peek_time = file_peek,
    .close = file_close,
};
