/* The OCI spec's linux section: namespaces, resources (also the whole document of an
 * Update), cgroupsPath, masked and read-only paths, sysctl, and seccomp, whose action,
 * architecture and operator names become libseccomp's numbers here (header constants
 * only: host binaries need no libseccomp at link time). */
#include "shared/oci_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "shared/oci_json.h"
#include "shared/util.h"

#define NV(x)         \
	{             \
#x, x \
	}
static const struct oj_name seccomp_archs[] = {
	NV(SCMP_ARCH_X86),	NV(SCMP_ARCH_X86_64),	   NV(SCMP_ARCH_X32),
	NV(SCMP_ARCH_ARM),	NV(SCMP_ARCH_AARCH64),	   NV(SCMP_ARCH_MIPS),
	NV(SCMP_ARCH_MIPS64),	NV(SCMP_ARCH_MIPS64N32),   NV(SCMP_ARCH_MIPSEL),
	NV(SCMP_ARCH_MIPSEL64), NV(SCMP_ARCH_MIPSEL64N32), NV(SCMP_ARCH_PPC),
	NV(SCMP_ARCH_PPC64),	NV(SCMP_ARCH_PPC64LE),	   NV(SCMP_ARCH_S390),
	NV(SCMP_ARCH_S390X),	NV(SCMP_ARCH_PARISC),	   NV(SCMP_ARCH_PARISC64),
	NV(SCMP_ARCH_RISCV64),
};

static const struct oj_name seccomp_ops[] = {
	NV(SCMP_CMP_NE), NV(SCMP_CMP_LT), NV(SCMP_CMP_LE),	  NV(SCMP_CMP_EQ),
	NV(SCMP_CMP_GE), NV(SCMP_CMP_GT), NV(SCMP_CMP_MASKED_EQ),
};
#undef NV

static const struct oj_name namespaces[] = {
	{ "pid", OCI_NS_PID },	     { "network", OCI_NS_NETWORK }, { "mount", OCI_NS_MOUNT },
	{ "ipc", OCI_NS_IPC },	     { "uts", OCI_NS_UTS },	    { "user", OCI_NS_USER },
	{ "cgroup", OCI_NS_CGROUP }, { "time", OCI_NS_TIME },
};

int oci_seccomp_arch(const char *name, uint32_t *arch)
{
	long v;
	if (oj_lookup(seccomp_archs, CC_ARRAY_SIZE(seccomp_archs), name, &v) < 0)
		return -1;
	*arch = (uint32_t)v;
	return 0;
}

/* ---- namespaces and resources ---- */

static int parse_namespaces(json_object *arr, const char *path, struct oci_spec *s,
			    struct cc_error *err)
{
	size_t n = json_object_array_length(arr);
	if (n > CC_ARRAY_SIZE(namespaces))
		return cc_error_set(err, 0, "%s: too many entries", path);
	s->namespaces = calloc(n + 1, sizeof(*s->namespaces));
	if (s->namespaces == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		char ep[PATH_MAX_LEN], tp[PATH_MAX_LEN];
		const char *name;
		long t;
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		if (oj_get_name(e, "type", ep, namespaces, CC_ARRAY_SIZE(namespaces), "namespace",
				&t, &name, err) < 0)
			return -1;
		oj_join(tp, ep, "type");
		for (size_t j = 0; j < i; j++) {
			if (s->namespaces[j].type == (enum oci_ns_type)t)
				return cc_error_set(err, 0, "%s: duplicate namespace %s", tp, name);
		}
		s->namespaces[i].type = (enum oci_ns_type)t;
		if (oj_get_string(e, "path", ep, &s->namespaces[i].path, err) < 0)
			return -1;
		s->n_namespaces++;
	}
	return 0;
}

/* Only what decides devices_allow_all: a rule with no type (or "a") and no major or
 * minor (or -1) names every device; the last such rule wins, as in the device cgroup. */
static int devices_from(json_object *arr, const char *path, struct oci_resources *r,
			struct cc_error *err)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		char ep[PATH_MAX_LEN];
		cleanup_free char *type = NULL, *access = NULL;
		bool allow = false;
		int64_t major = -1, minor = -1;
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		if (oj_member(e, "allow", json_type_boolean, ep, &v, err) < 0 ||
		    oj_required(v, ep, "allow", err) < 0 ||
		    oj_get_bool(e, "allow", ep, &allow, err) < 0 ||
		    oj_get_string(e, "type", ep, &type, err) < 0 ||
		    oj_get_string(e, "access", ep, &access, err) < 0 ||
		    oj_get_int_range(e, "major", ep, -1, INT64_MAX, &major, NULL, err) < 0 ||
		    oj_get_int_range(e, "minor", ep, -1, INT64_MAX, &minor, NULL, err) < 0)
			return -1;
		/* -1 is the wildcard, as an absent number. */
		if ((type && strcmp(type, "a") != 0) || major != -1 || minor != -1)
			continue;
		r->devices_allow_all = allow && access && strchr(access, 'r') &&
				       strchr(access, 'w') && strchr(access, 'm');
	}
	return 0;
}

int oci_parse_resources(json_object *o, const char *path, struct oci_resources *r,
			struct cc_error *err)
{
	json_object *v;
	char sub[PATH_MAX_LEN];
	memset(r, 0, sizeof(*r));
	r->memory_limit = r->memory_swap = r->cpu_quota = r->pids_limit = -1;
	if (!json_object_is_type(o, json_type_object))
		return oj_expected(err, path, "an object");
	if (oj_member_at(o, "memory", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL &&
	     (oj_get_int_range(v, "limit", sub, -1, INT64_MAX, &r->memory_limit, NULL, err) < 0 ||
	      oj_get_int_range(v, "swap", sub, -1, INT64_MAX, &r->memory_swap, NULL, err) < 0)))
		return -1;
	if (oj_member_at(o, "cpu", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL &&
	     (oj_get_int_range(v, "quota", sub, -1, INT64_MAX, &r->cpu_quota, NULL, err) < 0 ||
	      oj_get_uint64(v, "period", sub, &r->cpu_period, err) < 0 ||
	      oj_get_uint64(v, "shares", sub, &r->cpu_shares, err) < 0 ||
	      oj_get_string(v, "cpus", sub, &r->cpuset_cpus, err) < 0 ||
	      oj_get_string(v, "mems", sub, &r->cpuset_mems, err) < 0)))
		return -1;
	if (oj_member_at(o, "devices", json_type_array, path, &v, sub, err) < 0 ||
	    (v != NULL && devices_from(v, sub, r, err) < 0))
		return -1;
	if (oj_member_at(o, "pids", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL && oj_get_int_range(v, "limit", sub, INT64_MIN, INT64_MAX, &r->pids_limit,
					   NULL, err) < 0))
		return -1;
	return 0;
}

/* ---- seccomp ---- */

static int parse_action(json_object *o, const char *key, const char *errno_key, const char *path,
			uint32_t *out, struct cc_error *err)
{
	json_object *v;
	char ap[PATH_MAX_LEN];
	int64_t ret = EPERM;
	oj_join(ap, path, key);
	if (oj_member(o, key, json_type_string, path, &v, err) < 0 ||
	    oj_required(v, path, key, err) < 0)
		return -1;
	if (oj_get_int_range(o, errno_key, path, 0, 4095, &ret, NULL, err) < 0)
		return -1;
	const char *a = json_object_get_string(v);
	if (strcmp(a, "SCMP_ACT_KILL") == 0 || strcmp(a, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL_THREAD;
	else if (strcmp(a, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(a, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(a, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO((uint32_t)ret);
	else if (strcmp(a, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE((uint32_t)ret);
	else if (strcmp(a, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(a, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else
		return cc_error_set(err, 0, "%s: unsupported action \"%.64s\"", ap, a);
	return 0;
}

static int parse_seccomp_args(json_object *arr, const char *path, struct oci_seccomp_rule *r,
			      struct cc_error *err)
{
	size_t n = json_object_array_length(arr);
	if (n > 6)
		return cc_error_set(err, 0, "%s: more than 6 entries", path);
	r->args = calloc(n + 1, sizeof(*r->args));
	if (r->args == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		struct oci_seccomp_arg *a = &r->args[i];
		char ep[PATH_MAX_LEN];
		const char *name;
		int64_t idx = 0;
		long opv;
		bool found;
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		if (oj_get_int_range(e, "index", ep, 0, 5, &idx, &found, err) < 0)
			return -1;
		if (!found)
			return oj_required(NULL, ep, "index", err);
		a->index = (unsigned)idx;
		if (oj_get_uint64(e, "value", ep, &a->value, err) < 0 ||
		    oj_get_uint64(e, "valueTwo", ep, &a->value_two, err) < 0)
			return -1;
		if (oj_get_name(e, "op", ep, seccomp_ops, CC_ARRAY_SIZE(seccomp_ops), "operator",
				&opv, &name, err) < 0)
			return -1;
		a->op = (int)opv;
		r->n_args++;
	}
	return 0;
}

static int parse_seccomp(json_object *o, const char *path, struct oci_seccomp **out,
			 struct cc_error *err)
{
	struct oci_seccomp *sc = calloc(1, sizeof(*sc));
	json_object *arr;
	char sub[PATH_MAX_LEN];
	if (sc == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	*out = sc;
	if (parse_action(o, "defaultAction", "defaultErrnoRet", path, &sc->default_action, err) <
		    0 ||
	    oj_get_strv(o, "architectures", path, &sc->architectures, err) < 0)
		return -1;
	for (size_t i = 0; sc->architectures != NULL && sc->architectures[i] != NULL; i++) {
		uint32_t arch;
		if (oci_seccomp_arch(sc->architectures[i], &arch) < 0) {
			oj_join(sub, path, "architectures");
			return cc_error_set(err, 0, "%s[%zu]: unknown architecture \"%.64s\"", sub,
					    i, sc->architectures[i]);
		}
	}
	json_object *flags;
	if (oj_member(o, "flags", json_type_array, path, &flags, err) < 0)
		return -1;
	if (flags != NULL && json_object_array_length(flags) > 0) {
		oj_join(sub, path, "flags");
		return cc_error_set(err, 0, "%s: seccomp flags are not supported", sub);
	}
	if (oj_member(o, "syscalls", json_type_array, path, &arr, err) < 0)
		return -1;
	if (arr == NULL)
		return 0;
	oj_join(sub, path, "syscalls");
	size_t n = json_object_array_length(arr);
	sc->rules = oj_table(n, sizeof(*sc->rules), sub, err);
	if (sc->rules == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		struct oci_seccomp_rule *r = &sc->rules[i];
		char ep[PATH_MAX_LEN], np[PATH_MAX_LEN];
		oj_index_path(ep, sub, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		sc->n_rules++;
		oj_join(np, ep, "names");
		if (oj_get_strv(e, "names", ep, &r->names, err) < 0)
			return -1;
		if (r->names == NULL || r->names[0] == NULL)
			return cc_error_set(err, 0, "%s: required (a non-empty array)", np);
		if (parse_action(e, "action", "errnoRet", ep, &r->action, err) < 0)
			return -1;
		if (oj_member_at(e, "args", json_type_array, ep, &v, np, err) < 0 ||
		    (v != NULL && parse_seccomp_args(v, np, r, err) < 0))
			return -1;
	}
	return 0;
}

void oci_seccomp_free(struct oci_seccomp *sc)
{
	if (sc == NULL)
		return;
	oj_free_strv(sc->architectures);
	for (size_t i = 0; i < sc->n_rules; i++) {
		oj_free_strv(sc->rules[i].names);
		free(sc->rules[i].args);
	}
	free(sc->rules);
	free(sc);
}

/* ---- the section ---- */

int oci_parse_linux(json_object *o, const char *path, struct oci_spec *s, struct cc_error *err)
{
	json_object *v;
	char sub[PATH_MAX_LEN];
	if (oj_member_at(o, "namespaces", json_type_array, path, &v, sub, err) < 0 ||
	    (v != NULL && parse_namespaces(v, sub, s, err) < 0))
		return -1;
	if (oj_member_at(o, "resources", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL && oci_parse_resources(v, sub, &s->resources, err) < 0))
		return -1;
	if (oj_get_string(o, "cgroupsPath", path, &s->cgroups_path, err) < 0 ||
	    oj_get_strv(o, "maskedPaths", path, &s->masked_paths, err) < 0 ||
	    oj_get_strv(o, "readonlyPaths", path, &s->readonly_paths, err) < 0 ||
	    oj_get_map(o, "sysctl", path, &s->sysctl_keys, &s->sysctl_values, err) < 0)
		return -1;
	if (oj_member_at(o, "seccomp", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL && parse_seccomp(v, sub, &s->seccomp, err) < 0))
		return -1;
	return 0;
}
