#pragma once
#include <sys/types.h>

/// Starts `path` with `argv` (NULL-terminated) and `envp` (NULL-terminated; NULL: inherit) in `cwd`,
/// standard input from /dev/null and standard output and error appended to `log_fd`, in a process
/// group of its own (a terminal's Ctrl-C reaches the harness, which stops the server in order).
///
/// Between fork and exec the child, in this order:
/// - when `inner_uid` >= 0, enters a new user namespace in which it is `inner_uid`/`inner_gid`
///   (mapped onto the caller's own uid and gid outside): PostgreSQL refuses to run as root, and
///   inside the namespace it is not root while every file it touches is still the caller's;
/// - sets PR_SET_PDEATHSIG(SIGKILL), after every credential change (which would clear it), and exits
///   at once if the parent is already gone: the kernel kills the server when the *thread* that forked
///   it exits, so fork from a thread that lives as long as the server.
///
/// Returns the child's pid, or -errno when fork failed or the child could not get to exec (the
/// errno of the failing step, passed back through a close-on-exec pipe; `*failed_step` names it).
pid_t orbit_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int log_fd,
                  int inner_uid, int inner_gid, const char **failed_step);

/// Managed servers, for the signal and exit handlers: a table of live server pids, each with the
/// signal that stops it cleanly. Async-signal-safe to read.
void orbit_servers_track(pid_t pid, int stop_signal);
void orbit_servers_untrack(pid_t pid);

/// Installs (once) handlers for SIGINT, SIGTERM and SIGHUP and an atexit hook that send each tracked
/// server its stop signal and wait (at most `grace_ms`) for it to exit before the harness goes on
/// dying; a server still running after that is killed by its PR_SET_PDEATHSIG.
void orbit_servers_install_handlers(int grace_ms);

#include <stdint.h>
#include <stddef.h>
/// A TCP connection's payload bytes so far (Linux TCP_INFO: tcpi_bytes_acked, tcpi_bytes_received).
/// Returns -1 for a socket that is not TCP (a Unix-domain socket) or a kernel without the fields.
int orbit_tcp_bytes(int fd, uint64_t *sent, uint64_t *received);
