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
};

/* Creates and sizes the cgroup of the sandbox whose state dir is state_dir.
 * cg->procs_list is what a child writes "0" to. */
int host_cgroup_create(const char *state_dir, const struct host_cgroup_limits *l,
		       struct host_cgroup *cg, struct cc_error *err);
/* Removes it once its processes are gone (retries briefly while they exit). */
void host_cgroup_destroy(struct host_cgroup *cg);
/* The same for the state dir of a sandbox whose owner died without cleaning up. */
void host_cgroup_remove(const char *state_dir);

#endif
