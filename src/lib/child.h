/* Helper processes a sandbox owns (VMM, virtiofsd): spawned in their own process group
 * so a terminal's Ctrl-C reaches only the CLI (which forwards it to the container),
 * killed by the kernel if their parent dies (PR_SET_PDEATHSIG), always reaped. */
#ifndef COCOON_CHILD_H
#define COCOON_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

/* Finds an executable: a name with a '/' is checked as is, else searched in $PATH.
 * Fails with "NAME not found" (ENOENT) or "NAME: Permission denied". */
int cc_find_executable(const char *name, char *out, size_t out_len, struct cc_error *err);

/* Starts argv[0] (a path) with stdin from /dev/null and stdout+stderr appended to
 * log_path, in the network namespace at netns unless that is NULL. Returns once exec
 * succeeded; a failed exec (or setns) is reported in err. */
int cc_child_spawn(char *const argv[], const char *log_path, const char *netns, pid_t *pid,
		   struct cc_error *err);

/* Waits up to timeout_ms (0: just check) for *pid to exit. Returns 1 and sets
 * *pid = 0 (and *status if not NULL) once reaped, 0 if still running. */
int cc_child_wait(pid_t *pid, int timeout_ms, int *status);

/* SIGTERM, up to grace_ms to exit, then SIGKILL; always reaps. No-op when *pid == 0. */
void cc_child_stop(pid_t *pid, int grace_ms);

#endif
