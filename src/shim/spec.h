/* The bundle's OCI config.json as containerd wrote it, edited for the guest: paths on
 * the host become paths under the pod's shared directory, and the namespaces a VM
 * already provides (network, ipc, uts: one per pod) are dropped; a container with a
 * hostname gets a fresh uts namespace for it. */
#ifndef COCOON_SHIM_SPEC_H
#define COCOON_SHIM_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/error.h"

struct json_object;

struct shim_spec {
	struct json_object *root;
};

int shim_spec_load(const char *bundle, struct shim_spec *s, struct cc_error *err);
void shim_spec_free(struct shim_spec *s);
const char *shim_spec_annotation(const struct shim_spec *s, const char *key);
/* Path of the network namespace the spec asks to join (the CRI pod netns), or NULL. */
const char *shim_spec_netns(const struct shim_spec *s);
/* root.path resolved (no symbolic links) into out, which must hold PATH_MAX bytes, and
 * root.readonly; refuses a root.path that is not inside the bundle. */
int shim_spec_root(const struct shim_spec *s, const char *bundle, char *out, size_t len,
		   bool *readonly, struct cc_error *err);
int shim_spec_set_root(struct shim_spec *s, const char *guest_path, struct cc_error *err);
/* The spec's hostname, NULL if none. */
const char *shim_spec_hostname(const struct shim_spec *s);
/* Drops the pod-level namespaces (the VM is the pod); a container without a hostname
 * of its own gets the pod's (pod_hostname, may be NULL). A container joining the pod's
 * PID namespace joins pod_pidns (the pause container's, a guest path) instead; every
 * container gets a PID namespace (a new one, when it asked for none or the pod's is
 * unknown). */
void shim_spec_drop_pod_namespaces(struct shim_spec *s, const char *pod_hostname,
				   const char *pod_pidns);

/* Refuses what a VM cannot give a pod: the host's network, IPC or PID namespace for a
 * CRI sandbox (its spec then has no namespace of that type), and Bidirectional mount
 * propagation ("rshared"/"shared" on a mount) for any container. The error names the
 * pod field and says why. */
int shim_spec_check_pod(const struct shim_spec *s, struct cc_error *err);

const char *shim_spec_json(const struct shim_spec *s, size_t *len);

/* The config.json of the bundle in the working directory: which shim group it joins
 * (the CRI sandbox id, else the container id). */
int shim_spec_group(const char *bundle, const char *id, char *out, size_t len,
		    struct cc_error *err);

#endif
