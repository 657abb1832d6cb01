/* Editing an OCI spec document (json-c) on the host before it goes to the agent:
 * cocoon run's flags over a bundle's config.json, the guest path of the shared rootfs.
 * The document was parsed and checked first (shared/oci_spec.h); these only set what
 * the host decides. The shares of its bind mounts are the sandbox's
 * (sandbox_share_spec_mounts). */
#ifndef COCOON_OCI_EDIT_H
#define COCOON_OCI_EDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

/* The object member `key` of obj, created (in place of any other type) when absent. */
struct json_object *oci_edit_object(struct json_object *obj, const char *key);

/* root.path, and root.readonly = true when readonly (false leaves it as it is). */
void oci_edit_root(struct json_object *spec, const char *path, bool readonly);

struct oci_edit_process {
	char *const *args; /* NULL or empty: keep the spec's */
	char *const *env;  /* K=V appended to the spec's; NULL: none */
	const char *cwd;   /* NULL: keep */
	bool has_user;
	uid_t uid;
	gid_t gid;
	bool terminal; /* true: process.terminal; false: keep */
};
void oci_edit_process(struct json_object *spec, const struct oci_edit_process *p);

/* linux.resources: memory.limit in bytes (0: keep) and cpu quota/period (period 0:
 * keep). */
void oci_edit_limits(struct json_object *spec, uint64_t memory, int64_t cpu_quota,
		     int64_t cpu_period);

#endif
