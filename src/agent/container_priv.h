/* Internal pieces of container creation, one file each: cgroup.c (cgroup v2),
 * mounts.c (rootfs, mounts, /dev, pivot_root, masked/readonly paths) and security.c
 * (rlimits, user, capabilities, no_new_privs, seccomp). Functions marked "child" run in
 * the forked container process before exec and may not return to the agent. */
#ifndef COCOON_AGENT_CONTAINER_PRIV_H
#define COCOON_AGENT_CONTAINER_PRIV_H

#include <stdbool.h>
#include <seccomp.h>
#include <stddef.h>

#include "agent/container.h"
#include "shared/error.h"
#include "shared/oci_spec.h"

/* cgroup.c */
int cgroup_create(const char *id, char *path, size_t path_size, struct cc_error *err);
int cgroup_apply(const char *path, const struct oci_resources *r, struct cc_error *err);
int cgroup_join_self(const char *path, struct cc_error *err); /* child */
int cgroup_freeze(const char *path, int frozen, struct cc_error *err);
int cgroup_signal_all(const char *path, int sig, struct cc_error *err);
int cgroup_remove(const char *path, struct cc_error *err);
int cgroup_read_pids(const char *path, pid_t **pids, size_t *n, struct cc_error *err);
int cgroup_read_stats(const char *path, struct container_stats *st, struct cc_error *err);

/* mounts.c, all child-side, in this order */
int mounts_prepare(const char *rootfs, struct cc_error *err);
/* Mounts, in the agent's own view, the tmpfs of each memory-backed emptyDir the spec
 * binds (SANDBOX_GUEST_MEMORY/<name>) that is not mounted yet. */
int mounts_memory_volumes(const struct oci_spec *spec, struct cc_error *err);
int mounts_apply(const struct oci_spec *spec, const char *rootfs, bool console,
		 struct cc_error *err);
int mounts_pivot(const char *rootfs, struct cc_error *err);
int mounts_finish(const struct oci_spec *spec, struct cc_error *err);

/* security.c, child-side */
int security_build_seccomp(const struct oci_seccomp *sc, scmp_filter_ctx *out,
			   struct cc_error *err);
int security_limits(const struct oci_process *p, struct cc_error *err);
/* User and groups, capabilities, no_new_privs and the seccomp filter (may be NULL),
 * in the order the kernel requires; the filter is the last thing before exec. */
int security_drop(const struct oci_process *p, scmp_filter_ctx filter, struct cc_error *err);

#endif
