/* spawn.c -- running one allowlisted action: fork + execve, never a shell
 * (see exec.h). The child starts its own process group (so a timeout can
 * kill everything it started), gets a clean environment and /dev/null as
 * stdin, writes stdout and stderr into one pipe, closes every other
 * descriptor, and waits on a "go" pipe before execve: the parent first
 * records "started" under the idempotency key, so a crash before that
 * point leaves a child that exits without running anything. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mend/exec.h"

static void close_others(int keep)
{
#ifdef SYS_close_range
    /* one system call instead of one per possible descriptor */
    if ((keep < 3 || syscall(SYS_close_range, 3, (unsigned)keep - 1, 0) == 0) &&
        syscall(SYS_close_range, (unsigned)(keep < 3 ? 3 : keep + 1), ~0U, 0) == 0)
        return;
#endif
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 65536;
    if (max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++)
        if (fd != keep)
            close(fd);
}

/* pipe(2) with close-on-exec on both ends (single-threaded: no race). */
static int cloexec_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

/* The orphan's way (see exec.h): never a reader for its output now, so
 * /dev/null (a program writing to the dead pipe would die of SIGPIPE);
 * run only when may_run says so, as a child of this process, so that
 * ended hears the exit status. Never returns. */
static void run_orphan(char *const argv[], char *const envp[], unsigned secs, const struct mend_exec_orphan *o)
{
    int dn = open("/dev/null", O_WRONLY);
    if (dn >= 0) {
        dup2(dn, 1);
        dup2(dn, 2);
        if (dn > 2)
            close(dn);
    }
    int may = o ? o->may_run(o->ctx) : 0;
    if (may != 1) {
        if (may < 0 && o->ended)
            o->ended(o->ctx, 0, 0);
        _exit(125);
    }
    pid_t g = fork();
    if (g == 0) {
        alarm(secs);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    if (g < 0) { /* it did not run: say so, the next executor runs it */
        if (o->ended)
            o->ended(o->ctx, 0, 0);
        _exit(125);
    }
    int st = 0;
    while (waitpid(g, &st, 0) < 0 && errno == EINTR)
        ;
    if (o->ended)
        o->ended(o->ctx, 1, st);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
}

int mend_exec_spawn(const struct mend_exec_job *job, int64_t timeout_ns, const struct mend_exec_orphan *orphan,
                    int *pid_out, int *out_fd, int *go_fd)
{
    int go[2], out[2];
    if (cloexec_pipe(go) != 0)
        return MEND_EIO;
    if (cloexec_pipe(out) != 0) {
        close(go[0]);
        close(go[1]);
        return MEND_EIO;
    }
    char *argv[MEND_EXEC_MAX_ARGV + 1];
    for (uint32_t i = 0; i < job->n_argv; i++)
        argv[i] = (char *)job->argv[i];
    argv[job->n_argv] = NULL;
    char idenv[64];
    snprintf(idenv, sizeof idenv, "MEND_ACTION_ID=%s", job->id);
    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C", idenv,
                    NULL};
    unsigned secs = (unsigned)(timeout_ns / 1000000000LL) + 2;
    pid_t pid = fork();
    if (pid < 0) {
        close(go[0]), close(go[1]), close(out[0]), close(out[1]);
        return MEND_EIO;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* default dispositions and an empty mask for the program */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < 32; s++)
            if (s != SIGKILL && s != SIGSTOP)
                signal(s, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
            _exit(126);
        int g = go[0];
        close_others(g);
        char b;
        ssize_t r;
        do
            r = read(g, &b, 1);
        while (r < 0 && errno == EINTR);
        close(g);
        /* the executor died before letting us go: run only if its record
         * says this very process was started */
        if (r != 1)
            run_orphan(argv, envp, secs, orphan);
        alarm(secs); /* backstop should the executor be gone */
        execve(argv[0], argv, envp);
        _exit(127);
    }
    setpgid(pid, pid); /* also from here: no race with a kill(-pid) right after */
    close(go[0]);
    close(out[1]);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    *pid_out = pid;
    *out_fd = out[0];
    *go_fd = go[1];
    return MEND_OK;
}

int mend_exec_go(int go_fd)
{
    char b = 'g';
    ssize_t r;
    do
        r = write(go_fd, &b, 1);
    while (r < 0 && errno == EINTR);
    close(go_fd);
    return r == 1 ? MEND_OK : MEND_EIO;
}
