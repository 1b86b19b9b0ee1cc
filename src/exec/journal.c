/* journal.c -- what became of an orphaned child's action, kept on the
 * executor's own disk while Redis cannot hear it (see exec.h, "the orphan
 * journal"). One small file per (action id, pid), written whole or not at
 * all (temporary name, fsync, rename, fsync of the directory), read back
 * strictly, removed once reported. Called from a forked child too: plain
 * system calls, no allocation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mend/exec.h"

#define JOURNAL_MAGIC "mend-orphan v1"
#define JOURNAL_KEEP_S (7 * 86400) /* the idempotency key's lifetime: a record older is moot */

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= 32 && strspn(id, "0123456789abcdef") == n;
}

static int rec_path(char *out, size_t cap, const char *dir, const char *id, int pid, const char *suffix)
{
    if (!dir || !dir[0] || !valid_id(id) || pid <= 0)
        return MEND_EINVAL;
    int n = snprintf(out, cap, "%s/%s.%d%s", dir, id, pid, suffix);
    return n > 0 && (size_t)n < cap ? MEND_OK : MEND_ECAP;
}

int mend_exec_journal_put(const char *dir, const char *id, int pid, const struct mend_exec_orphan_rec *rec)
{
    char path[1100], tmp[1100], line[160];
    int rc = rec_path(path, sizeof path, dir, id, pid, "");
    if (rc == MEND_OK)
        rc = rec_path(tmp, sizeof tmp, dir, id, pid, ".tmp");
    if (rc != MEND_OK)
        return rc;
    int n = snprintf(line, sizeof line, JOURNAL_MAGIC " ran=%d exit=%d signal=%d finished_ms=%" PRId64 "\n",
                     rec->ran != 0, rec->exit_code, rec->sig, rec->finished_ms);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return MEND_EIO;
    int ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return MEND_EIO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the rename itself must survive a crash */
        fsync(dfd);
        close(dfd);
    }
    return MEND_OK;
}

int mend_exec_journal_get(const char *dir, const char *id, int pid, struct mend_exec_orphan_rec *rec)
{
    char path[1100], buf[200];
    int rc = rec_path(path, sizeof path, dir, id, pid, "");
    if (rc != MEND_OK)
        return rc == MEND_EINVAL ? MEND_ENOTFOUND : rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? MEND_ENOTFOUND : MEND_EIO;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return MEND_ECORRUPT;
    buf[n] = '\0';
    int ran, code, sig, used = 0;
    long long fin;
    if (sscanf(buf, JOURNAL_MAGIC " ran=%d exit=%d signal=%d finished_ms=%lld\n%n", &ran, &code, &sig, &fin, &used) !=
            4 ||
        used != n || (ran != 0 && ran != 1) || sig < 0 || sig > 64 || code < -1 || code > 255)
        return MEND_ECORRUPT;
    rec->ran = ran;
    rec->exit_code = code;
    rec->sig = sig;
    rec->finished_ms = fin;
    return MEND_OK;
}

int mend_exec_journal_del(const char *dir, const char *id, int pid)
{
    char path[1100];
    int rc = rec_path(path, sizeof path, dir, id, pid, "");
    if (rc != MEND_OK)
        return rc;
    return unlink(path) == 0 || errno == ENOENT ? MEND_OK : MEND_EIO;
}

int mend_exec_journal_open(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "journal %s: %s", dir, strerror(errno));
        return MEND_EIO;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "journal %s: not a directory", dir);
        return MEND_EINVAL;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "journal %s: %s", dir, strerror(errno));
        return MEND_EIO;
    }
    /* records nobody will ask for any more, and temporary files of a child
     * that died while writing; a bounded sweep per start */
    time_t now = time(NULL);
    struct dirent *de;
    int seen = 0;
    while ((de = readdir(d)) != NULL && seen++ < 100000) {
        char path[1100];
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || (size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
            continue;
        int is_tmp = l > 4 && !strcmp(de->d_name + l - 4, ".tmp");
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            ((is_tmp && now - st.st_mtime > 60) || now - st.st_mtime > JOURNAL_KEEP_S))
            unlink(path);
    }
    closedir(d);
    return MEND_OK;
}
