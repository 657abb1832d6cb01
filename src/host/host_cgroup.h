/* The host cgroup of a sandbox: its VMM and virtiofsd are charged to it from their
 * first instruction (they join it before exec), so the node's accounting sees the pod's
 * guest RAM and VMM CPU, and the pod's limits hold on the host too. Sized from the pod's
 * limits plus an overhead for the VMM's own work. cgroup v2 where /sys/fs/cgroup is the
 * unified hierarchy, else the v1 controllers cpu, memory and pids under /sys/fs/cgroup.
 * Layout: <hierarchy>/cocoon/<sandbox id>-<hash of its state dir>: sandbox ids are
 * unique per state dir only (two containerd namespaces may both run a "web"). */
#ifndef COCOON_HOST_CGROUP_H
#define COCOON_HOST_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"

#define HOST_CGROUP_MEM_OVERHEAD_MIB 512 /* QEMU under TCG keeps a translation cache */
#define HOST_CGROUP_CPU_OVERHEAD_PCT 50	 /* of one CPU: device emulation, I/O threads */
#define HOST_CGROUP_PIDS_MAX 1024u	 /* VMM and virtiofsd threads */

struct host_cgroup_limits {
	uint64_t memory_mib;		      /* guest RAM; the overhead is added */
	uint64_t cpu_quota_us, cpu_period_us; /* the pod's CPU limit, 0: none */
};

struct host_cgroup {
	char dirs[3][PATH_MAX]; /* created, removed by host_cgroup_destroy */
	char procs[3][PATH_MAX];
	const char *procs_list[4]; /* NULL-terminated cgroup.procs files to join */
	unsigned n;
	char back[3][PATH_MAX]; /* where host_cgroup_join_self found the caller */
	bool joined;
};

/* Creates and sizes the cgroup of the sandbox whose state dir is state_dir.
 * cg->procs_list is what a child writes "0" to. */
int host_cgroup_create(const char *state_dir, const struct host_cgroup_limits *l,
		       struct host_cgroup *cg, struct cc_error *err);
/* Moves the calling process (all its threads) into the cgroup, e.g. the pod's shim, so
 * every host process of the sandbox is charged to it. A leaf: no controller is enabled
 * below it, which cgroup v2's no-internal-process rule needs of a cgroup with members. */
int host_cgroup_join_self(struct host_cgroup *cg, struct cc_error *err);
/* Moves it back where it was (the hierarchy's root if that is gone), so the cgroup can
 * be removed while the caller still runs. */
void host_cgroup_leave_self(struct host_cgroup *cg);
/* Removes it once its processes are gone (retries briefly while they exit). */
void host_cgroup_destroy(struct host_cgroup *cg);
/* The same for the state dir of a sandbox whose owner died without cleaning up. */
void host_cgroup_remove(const char *state_dir);
/* The cgroups made for "<prefix><pid>" by processes that died without removing them
 * (killed, say): those whose pid no longer exists. */
void host_cgroup_remove_dead(const char *prefix);

#endif
