/* Creating container processes inside the guest from an OCI spec: namespaces, rootfs
 * and mounts, pivot_root, masked/readonly paths, hostname, cgroup v2 placement and
 * limits, rlimits, user and groups, capabilities, no_new_privs, seccomp, exec.
 * The agent's RPC layer (server.c) calls these; they know nothing of the protocol. */
#ifndef COCOON_AGENT_CONTAINER_H
#define COCOON_AGENT_CONTAINER_H

#include <sys/types.h>

#include "shared/error.h"
#include "shared/oci_spec.h"

/* The child's stdio: fds to dup onto 0/1/2 (-1 gives /dev/null). create/exec do not
 * close them: the caller closes its copies after the call. With process.terminal they
 * are ignored: the child opens a pty in the container's own devpts (so tty(1) names
 * it, as under runc) and `console` returns its master, which the caller then owns;
 * otherwise console is -1. */
struct spawn_stdio {
	int in, out, err;
	int console;
};

/* The caller fills id ([A-Za-z0-9_.-], at most 100) and spec; create fills the rest.
 * spec->root_path must be an absolute guest path (the caller resolves it against the
 * bundle). Namespaces: a mount namespace is required; "network" is ignored (containers
 * share the VM's network, which is the pod network); user and time are refused; a
 * namespace with a path joins that guest path (/proc/<pid>/ns/..., e.g. to share a
 * pod's ipc/uts), so the caller must drop host paths such as CRI's pod netns. */
struct container_rt {
	char id[128];
	struct oci_spec *spec; /* owned; freed by container_destroy */
	char cgroup[256];      /* absolute path of its cgroup v2 directory; "" if none */
	pid_t init_pid;	       /* 0 until created */
	int start_fd;	       /* sync socket that releases init to exec; -1 once started */
};

/* Where container cgroups go: <root>/<id>. Default /sys/fs/cgroup/cocoon. Every
 * controller available is enabled from the cgroup2 mount down to root. */
int container_set_cgroup_root(const char *root, struct cc_error *err);

/* Creates the cgroup and the init process in new namespaces, fully set up (mounts,
 * pivot_root, hostname, sysctl, rlimits) and blocked just before dropping privileges
 * and execve until container_start. On failure nothing is left behind (no process, no
 * cgroup); spec stays owned by c. init_pid is a child of the caller, who reaps it. */
int container_create(struct container_rt *c, struct spawn_stdio *io, struct cc_error *err);
/* Lets init drop privileges (user, capabilities, no_new_privs, seccomp) and exec the
 * spec's process. Returns once execve succeeded, or -1 with the child's error, e.g.
 * "exec: foo: not found"; init then exits with 127 (not found), 126 (not executable)
 * or 1 (other setup failure) and the caller reaps it as usual. */
int container_start(struct container_rt *c, struct cc_error *err);
/* Runs an extra process inside the running container's namespaces and cgroup, with
 * the container's seccomp profile. *pid is set whenever a process was forked, also
 * when -1 is returned for a failed exec (it then exits 127/126/1 as above); the
 * process is a child of the caller. */
int container_exec(struct container_rt *c, const struct oci_process *p, struct spawn_stdio *io,
		   pid_t *pid, struct cc_error *err);
/* Signals init, or every process in the cgroup when all is set. */
int container_kill(struct container_rt *c, int sig, int all, struct cc_error *err);
int container_freeze(struct container_rt *c, int frozen, struct cc_error *err);
/* Applies the positive values of r (unset/-1/0 fields are left as they are). */
int container_update(struct container_rt *c, const struct oci_resources *r, struct cc_error *err);
/* SIGKILLs every process of the container, removes its cgroup, frees the spec. Safe
 * on a container whose create failed. Does not reap: the caller's SIGCHLD handling
 * collects the exits. */
int container_destroy(struct container_rt *c, struct cc_error *err);

/* cgroup v2 statistics of the container, named as the fields of proto StatsResponse: the
 * struct and the handler's copy into the reply are both made from this one list. */
/* clang-format off */
#define CONTAINER_STATS_FIELDS(X)                                                   \
	X(cpu_usage_ns) X(cpu_user_ns) X(cpu_system_ns)                             \
	X(cpu_throttled_periods) X(cpu_throttled_ns)                                \
	X(memory_usage) X(memory_limit) X(memory_working_set) X(memory_rss)         \
	X(memory_cache) X(memory_oom_kills)                                         \
	X(pids_current) X(pids_limit) X(io_read_bytes) X(io_write_bytes)
/* clang-format on */
struct container_stats {
#define CONTAINER_STATS_FIELD(name) uint64_t name;
	CONTAINER_STATS_FIELDS(CONTAINER_STATS_FIELD)
#undef CONTAINER_STATS_FIELD
};
int container_stats(struct container_rt *c, struct container_stats *st, struct cc_error *err);
/* Pids in the container's cgroup (caller frees *pids). */
int container_pids(struct container_rt *c, pid_t **pids, size_t *n, struct cc_error *err);

#endif
