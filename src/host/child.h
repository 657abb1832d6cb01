/* Helper processes a sandbox owns (VMM, virtiofsd): spawned in their own process group
 * so a terminal's Ctrl-C reaches only the CLI (which forwards it to the container),
 * killed by the kernel if their parent dies (PR_SET_PDEATHSIG), always reaped. */
#ifndef COCOON_CHILD_H
#define COCOON_CHILD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "shared/error.h"

/* Finds an executable: a name with a '/' is checked as is, else searched in $PATH.
 * Fails with "NAME not found" (ENOENT) or "NAME: Permission denied". */
int cc_find_executable(const char *name, char *out, size_t out_len, struct cc_error *err);

/* A jail for a sandbox's VMM: the process starts as PID 1 of a new pid namespace (it
 * sees no other process) in a new mount namespace whose root is an empty tmpfs holding
 * only the listed paths, bind-mounted at their host paths; then it drops to uid/gid
 * with no supplementary groups, an empty capability bounding set and no_new_privs.
 * What a guest that took over the VMM reaches: those paths and its open fds. A listed
 * path that does not exist on the host is left out. */
struct cc_jail {
	uid_t uid;
	gid_t gid;
	const char *root;	 /* an empty directory the jail's root tmpfs is mounted on; NULL:
				  * no namespaces, ids or root change (only cgroups, fds) */
	const char *const *ro;	 /* NULL-terminated host paths, visible read-only */
	const char *const *rw;	 /* visible read-write (the sandbox's sockets, devices) */
	const char *const *taps; /* taps (in netns) handed to uid, so it opens them unprivileged */
	const int *fds;		 /* inherited by the process (close-on-exec cleared) */
	size_t n_fds;
	int log_fd;		    /* stdout and stderr when the log path is NULL */
	const char *const *cgroups; /* cgroup.procs files joined before exec (any jail) */
};

/* Per-sandbox ids for jails, unique among live processes: derived from the spawning
 * process's pid and a counter. Never 0, never an id of /etc/passwd's range. */
void cc_jail_ids(uid_t *uid, gid_t *gid);

/* Starts argv[0] (a path) with stdin from /dev/null and stdout+stderr appended to
 * log_path, in the network namespace at netns unless that is NULL, in a jail (see
 * struct cc_jail; NULL: none). Returns once exec succeeded; a failed exec (or setns) is
 * reported in err. The log file is opened before the jail is entered (log_path NULL:
 * jail->log_fd instead); argv[0] must be reachable inside it. */
int cc_child_spawn_jail(char *const argv[], const char *log_path, const char *netns,
			const struct cc_jail *jail, pid_t *pid, struct cc_error *err);

/* A log a sandbox's process writes through a socket and a thread of ours copies to a
 * file, keeping only its last max/2..max bytes: however much a guest makes it print,
 * the file stays bounded. */
struct cc_log_pump {
	int wr; /* the writer's end: hand it to the child */
	int rd, file;
	size_t max;
	pthread_t thread;
	bool started;
};
/* Creates (truncates) path and starts the copying thread. */
int cc_log_pump_start(struct cc_log_pump *p, const char *path, size_t max, struct cc_error *err);
/* Closes our copy of the writer's end once the child has it. */
void cc_log_pump_detach(struct cc_log_pump *p);
/* Waits until every writer is gone (the child exited) and the file is complete. */
void cc_log_pump_stop(struct cc_log_pump *p);

/* Waits up to timeout_ms (0: just check) for *pid to exit. Returns 1 and sets
 * *pid = 0 (and *status if not NULL) once reaped, 0 if still running. */
int cc_child_wait(pid_t *pid, int timeout_ms, int *status);

/* SIGTERM, up to grace_ms to exit, then SIGKILL; always reaps. No-op when *pid == 0. */
void cc_child_stop(pid_t *pid, int grace_ms);

#endif
