/* OCI runtime spec (config.json) parsed into plain C structs with json-c. Used by the
 * agent to create containers and by the host to validate a bundle before booting a VM.
 * Unknown fields are ignored; malformed known fields are errors naming the JSON path
 * (e.g. "process.user.uid: expected a number"). */
#ifndef COCOON_OCI_SPEC_H
#define COCOON_OCI_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shared/error.h"

#define OCI_MAX_SPEC_BYTES (1u << 20)
/* Upper bound on the length of any array or object in a spec (args, env, mounts, ...). */
#define OCI_MAX_ITEMS 8192

struct oci_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct oci_process {
	bool terminal;
	unsigned console_width, console_height;
	char **args; /* NULL-terminated */
	char **env;  /* NULL-terminated */
	char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *additional_gids;
	size_t n_additional_gids;
	/* capability sets as CAP_* numbers */
	int *cap_bounding, *cap_effective, *cap_inheritable, *cap_permitted, *cap_ambient;
	size_t n_bounding, n_effective, n_inheritable, n_permitted, n_ambient;
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	int oom_score_adj;
	bool has_oom_score_adj;
};

struct oci_mount {
	char *destination;
	char *type;
	char *source;
	char **options; /* NULL-terminated, as in the spec */
};

enum oci_ns_type {
	OCI_NS_PID,
	OCI_NS_NETWORK,
	OCI_NS_MOUNT,
	OCI_NS_IPC,
	OCI_NS_UTS,
	OCI_NS_USER,
	OCI_NS_CGROUP,
	OCI_NS_TIME
};

struct oci_namespace {
	enum oci_ns_type type;
	char *path; /* join this one instead of creating; NULL to create */
};

struct oci_seccomp_arg {
	unsigned index;
	uint64_t value, value_two;
	int op; /* libseccomp enum scmp_compare */
};

struct oci_seccomp_rule {
	char **names;	 /* syscall names, NULL-terminated */
	uint32_t action; /* libseccomp SCMP_ACT_* value (errno already folded in) */
	struct oci_seccomp_arg *args;
	size_t n_args;
};

struct oci_seccomp {
	uint32_t default_action;
	char **architectures; /* "SCMP_ARCH_X86_64", ... NULL-terminated */
	struct oci_seccomp_rule *rules;
	size_t n_rules;
};

struct oci_resources {
	int64_t memory_limit; /* bytes, -1 unset */
	int64_t memory_swap;  /* -1 unset */
	int64_t cpu_quota;    /* -1 unset */
	uint64_t cpu_period;  /* 0 unset */
	uint64_t cpu_shares;  /* 0 unset; converted to cpu.weight by the agent */
	char *cpuset_cpus, *cpuset_mems;
	int64_t pids_limit; /* -1 unset */
	/* The last rule of devices[] that names every device allows all of them ("rwm"):
	 * CRI's privileged container. The agent then gives the container every device of
	 * the guest (never the host's linux.devices, which it ignores). */
	bool devices_allow_all;
};

struct oci_spec {
	char *root_path;
	bool root_readonly;
	char *hostname;
	struct oci_process process;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	char **masked_paths;   /* NULL-terminated */
	char **readonly_paths; /* NULL-terminated */
	struct oci_resources resources;
	char *cgroups_path;
	struct oci_seccomp *seccomp;	     /* NULL when absent */
	char **sysctl_keys, **sysctl_values; /* NULL-terminated, same length */
	char **annotation_keys, **annotation_values;
};

int oci_spec_parse(const char *json, size_t len, struct oci_spec **out, struct cc_error *err);
int oci_process_parse(const char *json, size_t len, struct oci_process *out, struct cc_error *err);
int oci_resources_parse(const char *json, size_t len, struct oci_resources *out,
			struct cc_error *err);
void oci_spec_free(struct oci_spec *spec);
void oci_process_free(struct oci_process *p);
const char *oci_spec_annotation(const struct oci_spec *spec, const char *key);
/* "SCMP_ARCH_X86_64" -> SCMP_ARCH_X86_64 (the parser accepts only names this knows). */
int oci_seccomp_arch(const char *name, uint32_t *arch);

/* What `cocoon run --rootfs` uses: the defaults of `runc spec` (namespaces, mounts,
 * masked/readonly paths, default capabilities) for the given args. Returns JSON text
 * (caller frees) that a caller may edit before handing to the agent. */
struct oci_default_opts {
	char *const *args;
	char *const *env; /* extra K=V on top of PATH and TERM */
	const char *cwd;  /* NULL: "/" */
	uid_t uid;
	gid_t gid;
	bool terminal;
	bool readonly;
	const char *root_path;
	const char *hostname; /* NULL: "cocoon" */
	int64_t memory_limit; /* -1 none */
	int64_t cpu_quota;    /* -1 none */
	uint64_t cpu_period;
};
char *oci_spec_default_json(const struct oci_default_opts *o, struct cc_error *err);

#endif
