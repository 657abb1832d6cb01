/* Creating container processes inside the guest from an OCI spec: namespaces, rootfs
 * and mounts, pivot_root, masked/readonly paths, hostname, cgroup v2 placement and
 * limits, rlimits, user and groups, capabilities, no_new_privs, seccomp, exec.
 * The agent's RPC layer (server.c) calls these; they know nothing of the protocol. */
#ifndef COCOON_AGENT_CONTAINER_H
#define COCOON_AGENT_CONTAINER_H

#include <sys/types.h>

#include "lib/error.h"
#include "lib/oci_spec.h"

/* The child's stdio: fds to dup onto 0/1/2 (a pty slave for all three with a terminal).
 * The parent closes its copies after spawn. */
struct spawn_stdio {
	int in, out, err;
};

struct container_rt {
	char id[128];
	struct oci_spec *spec;   /* owned */
	char cgroup[256];        /* absolute path of its cgroup v2 directory */
	pid_t init_pid;          /* 0 until created */
	int start_fd;            /* write end of the pipe that releases init to exec */
};

/* Creates the cgroup and the init process in new namespaces, fully set up and
 * blocked just before execve until container_start. */
int container_create(struct container_rt *c, const struct spawn_stdio *io, struct cc_error *err);
/* Lets init exec the spec's process. */
int container_start(struct container_rt *c, struct cc_error *err);
/* Runs an extra process inside the running container's namespaces and cgroup. */
int container_exec(struct container_rt *c, const struct oci_process *p,
		   const struct spawn_stdio *io, pid_t *pid, struct cc_error *err);
/* Signals init, or every process in the cgroup when all is set. */
int container_kill(struct container_rt *c, int sig, int all, struct cc_error *err);
int container_freeze(struct container_rt *c, int frozen, struct cc_error *err);
int container_update(struct container_rt *c, const struct oci_resources *r, struct cc_error *err);
/* Kills what is left, removes the cgroup and the container's guest state. */
int container_destroy(struct container_rt *c, struct cc_error *err);

/* cgroup v2 statistics of the container. */
struct container_stats {
	uint64_t cpu_usage_ns, cpu_user_ns, cpu_system_ns, cpu_throttled_periods, cpu_throttled_ns;
	uint64_t memory_usage, memory_limit, memory_working_set, memory_rss, memory_cache;
	uint64_t memory_oom_kills, pids_current, pids_limit, io_read_bytes, io_write_bytes;
};
int container_stats(struct container_rt *c, struct container_stats *st, struct cc_error *err);
/* Pids in the container's cgroup (caller frees *pids). */
int container_pids(struct container_rt *c, pid_t **pids, size_t *n, struct cc_error *err);

#endif
