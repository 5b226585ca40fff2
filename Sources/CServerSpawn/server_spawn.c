#define _GNU_SOURCE
#include "server_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The child reports the step that failed and its errno through this pipe; exec closes it. */
struct spawn_failure { int step; int err; };

static const char *const spawn_steps[] = {
    "fork", "pipe", "open /dev/null", "dup2", "chdir", "setpgid", "unshare(CLONE_NEWUSER)",
    "write /proc/self/setgroups", "write /proc/self/uid_map", "write /proc/self/gid_map",
    "prctl(PR_SET_PDEATHSIG)", "parent exited", "execve",
};

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)n ? 0 : -1;
}

static void fail(int fd, int step) {
    struct spawn_failure f = { step, errno };
    ssize_t ignored = write(fd, &f, sizeof f);
    (void)ignored;
    _exit(127);
}

pid_t orbit_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int log_fd,
                  int inner_uid, int inner_gid, const char **failed_step) {
    int pipefd[2];
    *failed_step = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0) { *failed_step = spawn_steps[1]; return -errno; }
    /* Written before fork: the child must not allocate (another thread may hold malloc's lock). */
    char uid_map[64], gid_map[64];
    snprintf(uid_map, sizeof uid_map, "%d %d 1\n", inner_uid, (int)geteuid());
    snprintf(gid_map, sizeof gid_map, "%d %d 1\n", inner_gid, (int)getegid());
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]); close(pipefd[1]);
        *failed_step = spawn_steps[0];
        return -e;
    }
    if (pid == 0) {
        int w = pipefd[1];
        close(pipefd[0]);
        /* Default dispositions and an empty mask: the harness's handlers are not the server's. */
        sigset_t none; sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0) fail(w, 2);
        if (dup2(nul, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) fail(w, 3);
        if (nul > 2) close(nul);
        if (cwd && chdir(cwd) != 0) fail(w, 4);
        if (setpgid(0, 0) != 0) fail(w, 5);
        if (inner_uid >= 0) {
            if (unshare(CLONE_NEWUSER) != 0) fail(w, 6);
            if (write_file("/proc/self/setgroups", "deny") != 0) fail(w, 7);
            if (write_file("/proc/self/uid_map", uid_map) != 0) fail(w, 8);
            if (write_file("/proc/self/gid_map", gid_map) != 0) fail(w, 9);
        }
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(w, 10);
        if (getppid() != parent) { errno = ESRCH; fail(w, 11); }
        if (envp) execve(path, argv, envp); else execv(path, argv);
        fail(w, 12);
    }
    close(pipefd[1]);
    struct spawn_failure f;
    ssize_t r;
    do { r = read(pipefd[0], &f, sizeof f); } while (r < 0 && errno == EINTR);
    close(pipefd[0]);
    if (r == (ssize_t)sizeof f) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *failed_step = spawn_steps[f.step];
        return -f.err;
    }
    return pid;
}

/* ---- the table of live servers, for the signal and exit handlers ---- */

#define MAX_SERVERS 64
static _Atomic pid_t tracked_pid[MAX_SERVERS];
static _Atomic int tracked_signal[MAX_SERVERS];
static int grace_millis = 10000;

void orbit_servers_track(pid_t pid, int stop_signal) {
    for (int i = 0; i < MAX_SERVERS; i++) {
        pid_t expected = 0;
        if (atomic_compare_exchange_strong(&tracked_pid[i], &expected, pid)) {
            atomic_store(&tracked_signal[i], stop_signal);
            return;
        }
    }
    /* Table full: the server still dies with its PR_SET_PDEATHSIG, only not cleanly. */
}

void orbit_servers_untrack(pid_t pid) {
    for (int i = 0; i < MAX_SERVERS; i++) {
        pid_t expected = pid;
        if (atomic_compare_exchange_strong(&tracked_pid[i], &expected, 0)) return;
    }
}

/* Async-signal-safe: kill, waitid (WNOWAIT: the keeper thread still reaps), nanosleep. */
static void stop_all(void) {
    int stopping = 0;
    for (int i = 0; i < MAX_SERVERS; i++) {
        pid_t p = atomic_load(&tracked_pid[i]);
        if (p > 0) { kill(p, atomic_load(&tracked_signal[i])); stopping++; }
    }
    if (!stopping) return;
    struct timespec tick = { 0, 10 * 1000 * 1000 };
    for (int waited = 0; waited < grace_millis; waited += 10) {
        int running = 0;
        for (int i = 0; i < MAX_SERVERS; i++) {
            pid_t p = atomic_load(&tracked_pid[i]);
            if (p <= 0) continue;
            siginfo_t info;
            memset(&info, 0, sizeof info);
            if (waitid(P_PID, (id_t)p, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0) running++;
        }
        if (!running) return;
        nanosleep(&tick, NULL);
    }
}

static void on_signal(int sig) {
    int saved = errno;
    stop_all();
    signal(sig, SIG_DFL);
    errno = saved;
    raise(sig);
}

void orbit_servers_install_handlers(int grace_ms) {
    static atomic_flag installed = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&installed)) return;
    grace_millis = grace_ms;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* Leave alone a signal someone else handles or ignores. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) sigaction(sigs[i], &sa, NULL);
    }
    atexit(stop_all);
}
