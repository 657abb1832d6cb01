/* OCI runtime spec parser. Every value is type-checked and bounded; an error names the
 * JSON path of the offending value. Names (capabilities, rlimits, seccomp actions and
 * operators) become numbers here so the agent never handles strings it cannot map.
 * The name tables use only kernel/libseccomp header constants, so host binaries that
 * validate a bundle need neither libcap nor libseccomp at link time. */
#include "shared/oci_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "shared/oci_json.h"
#include "shared/util.h"

struct name_value {
	const char *name;
	long value;
};

#define NV(x)         \
	{             \
#x, x \
	}
static const struct name_value capabilities[] = {
	NV(CAP_CHOWN),
	NV(CAP_DAC_OVERRIDE),
	NV(CAP_DAC_READ_SEARCH),
	NV(CAP_FOWNER),
	NV(CAP_FSETID),
	NV(CAP_KILL),
	NV(CAP_SETGID),
	NV(CAP_SETUID),
	NV(CAP_SETPCAP),
	NV(CAP_LINUX_IMMUTABLE),
	NV(CAP_NET_BIND_SERVICE),
	NV(CAP_NET_BROADCAST),
	NV(CAP_NET_ADMIN),
	NV(CAP_NET_RAW),
	NV(CAP_IPC_LOCK),
	NV(CAP_IPC_OWNER),
	NV(CAP_SYS_MODULE),
	NV(CAP_SYS_RAWIO),
	NV(CAP_SYS_CHROOT),
	NV(CAP_SYS_PTRACE),
	NV(CAP_SYS_PACCT),
	NV(CAP_SYS_ADMIN),
	NV(CAP_SYS_BOOT),
	NV(CAP_SYS_NICE),
	NV(CAP_SYS_RESOURCE),
	NV(CAP_SYS_TIME),
	NV(CAP_SYS_TTY_CONFIG),
	NV(CAP_MKNOD),
	NV(CAP_LEASE),
	NV(CAP_AUDIT_WRITE),
	NV(CAP_AUDIT_CONTROL),
	NV(CAP_SETFCAP),
	NV(CAP_MAC_OVERRIDE),
	NV(CAP_MAC_ADMIN),
	NV(CAP_SYSLOG),
	NV(CAP_WAKE_ALARM),
	NV(CAP_BLOCK_SUSPEND),
	NV(CAP_AUDIT_READ),
	NV(CAP_PERFMON),
	NV(CAP_BPF),
	NV(CAP_CHECKPOINT_RESTORE),
};

static const struct name_value rlimits[] = {
	NV(RLIMIT_AS),	   NV(RLIMIT_CORE),   NV(RLIMIT_CPU),	     NV(RLIMIT_DATA),
	NV(RLIMIT_FSIZE),  NV(RLIMIT_LOCKS),  NV(RLIMIT_MEMLOCK),    NV(RLIMIT_MSGQUEUE),
	NV(RLIMIT_NICE),   NV(RLIMIT_NOFILE), NV(RLIMIT_NPROC),	     NV(RLIMIT_RSS),
	NV(RLIMIT_RTPRIO), NV(RLIMIT_RTTIME), NV(RLIMIT_SIGPENDING), NV(RLIMIT_STACK),
};

static const struct name_value seccomp_archs[] = {
	NV(SCMP_ARCH_X86),	NV(SCMP_ARCH_X86_64),	   NV(SCMP_ARCH_X32),
	NV(SCMP_ARCH_ARM),	NV(SCMP_ARCH_AARCH64),	   NV(SCMP_ARCH_MIPS),
	NV(SCMP_ARCH_MIPS64),	NV(SCMP_ARCH_MIPS64N32),   NV(SCMP_ARCH_MIPSEL),
	NV(SCMP_ARCH_MIPSEL64), NV(SCMP_ARCH_MIPSEL64N32), NV(SCMP_ARCH_PPC),
	NV(SCMP_ARCH_PPC64),	NV(SCMP_ARCH_PPC64LE),	   NV(SCMP_ARCH_S390),
	NV(SCMP_ARCH_S390X),	NV(SCMP_ARCH_PARISC),	   NV(SCMP_ARCH_PARISC64),
	NV(SCMP_ARCH_RISCV64),
};

static const struct name_value seccomp_ops[] = {
	NV(SCMP_CMP_NE), NV(SCMP_CMP_LT), NV(SCMP_CMP_LE),	  NV(SCMP_CMP_EQ),
	NV(SCMP_CMP_GE), NV(SCMP_CMP_GT), NV(SCMP_CMP_MASKED_EQ),
};
#undef NV

static const struct name_value namespaces[] = {
	{ "pid", OCI_NS_PID },	     { "network", OCI_NS_NETWORK }, { "mount", OCI_NS_MOUNT },
	{ "ipc", OCI_NS_IPC },	     { "uts", OCI_NS_UTS },	    { "user", OCI_NS_USER },
	{ "cgroup", OCI_NS_CGROUP }, { "time", OCI_NS_TIME },
};

static int lookup(const struct name_value *t, size_t n, const char *name, long *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			*out = t[i].value;
			return 0;
		}
	}
	return -1;
}

int oci_seccomp_arch(const char *name, uint32_t *arch)
{
	long v;
	if (lookup(seccomp_archs, CC_ARRAY_SIZE(seccomp_archs), name, &v) < 0)
		return -1;
	*arch = (uint32_t)v;
	return 0;
}

static int parse_caps(json_object *arr, const char *path, int **out, size_t *n,
		      struct cc_error *err)
{
	if (!json_object_is_type(arr, json_type_array))
		return oj_expected(err, path, "an array of strings");
	size_t len = json_object_array_length(arr);
	if (oj_check_count(len, path, err) < 0)
		return -1;
	*out = calloc(len + 1, sizeof(int));
	if (*out == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		char p[PATH_MAX_LEN];
		long cap;
		oj_index_path(p, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_string))
			return oj_expected(err, p, "a string");
		const char *name = json_object_get_string(e);
		if (lookup(capabilities, CC_ARRAY_SIZE(capabilities), name, &cap) < 0)
			return cc_error_set(err, 0, "%s: unknown capability \"%.64s\"", p, name);
		(*out)[(*n)++] = (int)cap;
	}
	return 0;
}

static int parse_capabilities(json_object *caps, const char *parent, struct oci_process *p,
			      struct cc_error *err)
{
	struct {
		const char *key;
		int **set;
		size_t *n;
	} sets[] = {
		{ "bounding", &p->cap_bounding, &p->n_bounding },
		{ "effective", &p->cap_effective, &p->n_effective },
		{ "inheritable", &p->cap_inheritable, &p->n_inheritable },
		{ "permitted", &p->cap_permitted, &p->n_permitted },
		{ "ambient", &p->cap_ambient, &p->n_ambient },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(sets); i++) {
		json_object *v;
		char path[PATH_MAX_LEN];
		oj_join(path, parent, sets[i].key);
		if (!json_object_object_get_ex(caps, sets[i].key, &v) || v == NULL)
			continue;
		if (parse_caps(v, path, sets[i].set, sets[i].n, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_rlimits(json_object *arr, const char *path, struct oci_process *p,
			 struct cc_error *err)
{
	size_t n = json_object_array_length(arr);
	if (oj_check_count(n, path, err) < 0)
		return -1;
	p->rlimits = calloc(n + 1, sizeof(*p->rlimits));
	if (p->rlimits == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *type, *v;
		struct oci_rlimit *r = &p->rlimits[i];
		char ep[PATH_MAX_LEN], vp[PATH_MAX_LEN];
		long res;
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		if (oj_member(e, "type", json_type_string, ep, &type, err) < 0 ||
		    oj_required(type, ep, "type", err) < 0)
			return -1;
		const char *name = json_object_get_string(type);
		if (lookup(rlimits, CC_ARRAY_SIZE(rlimits), name, &res) < 0) {
			oj_join(vp, ep, "type");
			return cc_error_set(err, 0, "%s: unknown rlimit \"%.64s\"", vp, name);
		}
		for (size_t j = 0; j < i; j++) {
			if (p->rlimits[j].resource == (int)res)
				return cc_error_set(err, 0, "%s: duplicate rlimit %s", ep, name);
		}
		r->resource = (int)res;
		const char *keys[] = { "soft", "hard" };
		uint64_t *vals[] = { &r->soft, &r->hard };
		for (size_t k = 0; k < 2; k++) {
			if (oj_member(e, keys[k], json_type_int, ep, &v, err) < 0 ||
			    oj_required(v, ep, keys[k], err) < 0)
				return -1;
			oj_join(vp, ep, keys[k]);
			if (oj_to_uint64(v, vp, vals[k], err) < 0)
				return -1;
		}
		if (r->soft > r->hard)
			return cc_error_set(err, 0, "%s: soft limit above hard limit", ep);
		p->n_rlimits++;
	}
	return 0;
}

static int parse_user(json_object *user, const char *path, struct oci_process *p,
		      struct cc_error *err)
{
	int64_t v;
	bool found;
	const int64_t id_max = (int64_t)UINT32_MAX - 1; /* (uid_t)-1 means "unchanged" */
	if (oj_get_int_range(user, "uid", path, 0, id_max, &v, &found, err) < 0)
		return -1;
	p->uid = found ? (uid_t)v : 0;
	if (oj_get_int_range(user, "gid", path, 0, id_max, &v, &found, err) < 0)
		return -1;
	p->gid = found ? (gid_t)v : 0;
	json_object *arr;
	char ap[PATH_MAX_LEN];
	oj_join(ap, path, "additionalGids");
	if (oj_member(user, "additionalGids", json_type_array, path, &arr, err) < 0)
		return -1;
	if (arr == NULL)
		return 0;
	size_t n = json_object_array_length(arr);
	if (n > NGROUPS_MAX)
		return cc_error_set(err, 0, "%s: more than %d groups", ap, NGROUPS_MAX);
	p->additional_gids = calloc(n + 1, sizeof(gid_t));
	if (p->additional_gids == NULL)
		return cc_error_set(err, ENOMEM, "%s", ap);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		char ep[PATH_MAX_LEN];
		oj_index_path(ep, ap, i);
		if (e == NULL || oj_check_int(e, ep, err) < 0)
			return e == NULL ? oj_expected(err, ep, "an integer") : -1;
		int64_t g = json_object_get_int64(e);
		if (g < 0 || g > id_max)
			return cc_error_set(err, 0, "%s: %lld out of range", ep, (long long)g);
		p->additional_gids[p->n_additional_gids++] = (gid_t)g;
	}
	return 0;
}

static int parse_process(json_object *o, const char *path, struct oci_process *p,
			 struct cc_error *err)
{
	json_object *v;
	char sub[PATH_MAX_LEN];
	int64_t x;

	memset(p, 0, sizeof(*p));
	if (!json_object_is_type(o, json_type_object))
		return oj_expected(err, path, "an object");
	if (oj_get_bool(o, "terminal", path, &p->terminal, err) < 0)
		return -1;
	if (oj_member(o, "consoleSize", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "consoleSize");
		int64_t w = 0, h = 0;
		if (oj_get_int_range(v, "width", sub, 0, UINT16_MAX, &w, NULL, err) < 0 ||
		    oj_get_int_range(v, "height", sub, 0, UINT16_MAX, &h, NULL, err) < 0)
			return -1;
		p->console_width = (unsigned)w;
		p->console_height = (unsigned)h;
	}
	oj_join(sub, path, "args");
	if (!json_object_object_get_ex(o, "args", &v) || v == NULL)
		return cc_error_set(err, 0, "%s: required", sub);
	if (oj_strv_from(v, sub, &p->args, err) < 0)
		return -1;
	if (p->args[0] == NULL || p->args[0][0] == '\0')
		return cc_error_set(err, 0, "%s: needs a non-empty first element", sub);
	if (oj_get_strv(o, "env", path, &p->env, err) < 0)
		return -1;
	if (p->env == NULL && (p->env = calloc(1, sizeof(char *))) == NULL)
		return cc_error_set(err, ENOMEM, "%s.env", path);
	oj_join(sub, path, "cwd");
	if (oj_get_string(o, "cwd", path, &p->cwd, err) < 0)
		return -1;
	if (p->cwd == NULL)
		return cc_error_set(err, 0, "%s: required", sub);
	if (p->cwd[0] != '/')
		return cc_error_set(err, 0, "%s: must be an absolute path", sub);
	if (oj_member(o, "user", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "user");
		if (parse_user(v, sub, p, err) < 0)
			return -1;
	}
	if (oj_member(o, "capabilities", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "capabilities");
		if (parse_capabilities(v, sub, p, err) < 0)
			return -1;
	}
	if (oj_member(o, "rlimits", json_type_array, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "rlimits");
		if (parse_rlimits(v, sub, p, err) < 0)
			return -1;
	}
	if (oj_get_bool(o, "noNewPrivileges", path, &p->no_new_privileges, err) < 0)
		return -1;
	if (oj_get_int_range(o, "oomScoreAdj", path, -1000, 1000, &x, &p->has_oom_score_adj, err) <
	    0)
		return -1;
	if (p->has_oom_score_adj)
		p->oom_score_adj = (int)x;
	return 0;
}

/* ---- linux ---- */

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
		json_object *e = json_object_array_get_idx(arr, i), *type;
		char ep[PATH_MAX_LEN], tp[PATH_MAX_LEN];
		long t;
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		if (oj_member(e, "type", json_type_string, ep, &type, err) < 0 ||
		    oj_required(type, ep, "type", err) < 0)
			return -1;
		oj_join(tp, ep, "type");
		const char *name = json_object_get_string(type);
		if (lookup(namespaces, CC_ARRAY_SIZE(namespaces), name, &t) < 0)
			return cc_error_set(err, 0, "%s: unknown namespace \"%.64s\"", tp, name);
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

static int resources_from(json_object *o, const char *path, struct oci_resources *r,
			  struct cc_error *err)
{
	json_object *v;
	char sub[PATH_MAX_LEN];
	memset(r, 0, sizeof(*r));
	r->memory_limit = r->memory_swap = r->cpu_quota = r->pids_limit = -1;
	if (!json_object_is_type(o, json_type_object))
		return oj_expected(err, path, "an object");
	if (oj_member(o, "memory", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "memory");
		if (oj_get_int_range(v, "limit", sub, -1, INT64_MAX, &r->memory_limit, NULL, err) <
			    0 ||
		    oj_get_int_range(v, "swap", sub, -1, INT64_MAX, &r->memory_swap, NULL, err) < 0)
			return -1;
	}
	if (oj_member(o, "cpu", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "cpu");
		if (oj_get_int_range(v, "quota", sub, -1, INT64_MAX, &r->cpu_quota, NULL, err) <
			    0 ||
		    oj_get_uint64(v, "period", sub, &r->cpu_period, err) < 0 ||
		    oj_get_uint64(v, "shares", sub, &r->cpu_shares, err) < 0 ||
		    oj_get_string(v, "cpus", sub, &r->cpuset_cpus, err) < 0 ||
		    oj_get_string(v, "mems", sub, &r->cpuset_mems, err) < 0)
			return -1;
	}
	if (oj_member(o, "devices", json_type_array, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "devices");
		if (devices_from(v, sub, r, err) < 0)
			return -1;
	}
	if (oj_member(o, "pids", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "pids");
		if (oj_get_int_range(v, "limit", sub, INT64_MIN, INT64_MAX, &r->pids_limit, NULL,
				     err) < 0)
			return -1;
	}
	return 0;
}

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
		json_object *e = json_object_array_get_idx(arr, i), *op;
		struct oci_seccomp_arg *a = &r->args[i];
		char ep[PATH_MAX_LEN], op_path[PATH_MAX_LEN];
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
		if (oj_member(e, "op", json_type_string, ep, &op, err) < 0 ||
		    oj_required(op, ep, "op", err) < 0)
			return -1;
		oj_join(op_path, ep, "op");
		const char *name = json_object_get_string(op);
		if (lookup(seccomp_ops, CC_ARRAY_SIZE(seccomp_ops), name, &opv) < 0)
			return cc_error_set(err, 0, "%s: unknown operator \"%.64s\"", op_path,
					    name);
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
	if (oj_check_count(n, sub, err) < 0)
		return -1;
	sc->rules = calloc(n + 1, sizeof(*sc->rules));
	if (sc->rules == NULL)
		return cc_error_set(err, ENOMEM, "%s", sub);
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
		if (oj_member(e, "args", json_type_array, ep, &v, err) < 0)
			return -1;
		if (v != NULL) {
			oj_join(np, ep, "args");
			if (parse_seccomp_args(v, np, r, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int parse_mounts(json_object *arr, const char *path, struct oci_spec *s,
			struct cc_error *err)
{
	size_t n = json_object_array_length(arr);
	if (oj_check_count(n, path, err) < 0)
		return -1;
	s->mounts = calloc(n + 1, sizeof(*s->mounts));
	if (s->mounts == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		struct oci_mount *m = &s->mounts[i];
		char ep[PATH_MAX_LEN], dp[PATH_MAX_LEN];
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		s->n_mounts++;
		oj_join(dp, ep, "destination");
		if (oj_get_string(e, "destination", ep, &m->destination, err) < 0 ||
		    oj_get_string(e, "type", ep, &m->type, err) < 0 ||
		    oj_get_string(e, "source", ep, &m->source, err) < 0 ||
		    oj_get_strv(e, "options", ep, &m->options, err) < 0)
			return -1;
		if (m->destination == NULL)
			return cc_error_set(err, 0, "%s: required", dp);
		if (m->destination[0] != '/')
			return cc_error_set(err, 0, "%s: must be an absolute path", dp);
	}
	return 0;
}

static int parse_linux(json_object *o, const char *path, struct oci_spec *s, struct cc_error *err)
{
	json_object *v;
	char sub[PATH_MAX_LEN];
	if (oj_member(o, "namespaces", json_type_array, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "namespaces");
		if (parse_namespaces(v, sub, s, err) < 0)
			return -1;
	}
	if (oj_member(o, "resources", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "resources");
		if (resources_from(v, sub, &s->resources, err) < 0)
			return -1;
	}
	if (oj_get_string(o, "cgroupsPath", path, &s->cgroups_path, err) < 0 ||
	    oj_get_strv(o, "maskedPaths", path, &s->masked_paths, err) < 0 ||
	    oj_get_strv(o, "readonlyPaths", path, &s->readonly_paths, err) < 0 ||
	    oj_get_map(o, "sysctl", path, &s->sysctl_keys, &s->sysctl_values, err) < 0)
		return -1;
	if (oj_member(o, "seccomp", json_type_object, path, &v, err) < 0)
		return -1;
	if (v != NULL) {
		oj_join(sub, path, "seccomp");
		if (parse_seccomp(v, sub, &s->seccomp, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- entry points ---- */

static json_object *parse_json(const char *json, size_t len, struct cc_error *err)
{
	if (len > OCI_MAX_SPEC_BYTES) {
		cc_error_set(err, 0, "spec is larger than %u bytes", OCI_MAX_SPEC_BYTES);
		return NULL;
	}
	json_tokener *tok = json_tokener_new_ex(16);
	if (tok == NULL) {
		cc_error_set(err, ENOMEM, "json");
		return NULL;
	}
	json_object *o = json_tokener_parse_ex(tok, json, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (o == NULL || jerr != json_tokener_success) {
		cc_error_set(err, 0, "invalid JSON at byte %zu: %s", end,
			     json_tokener_error_desc(
				     jerr == json_tokener_success ? json_tokener_continue : jerr));
		json_object_put(o);
		o = NULL;
	} else {
		while (end < len && strchr(" \t\r\n", json[end]) != NULL && json[end] != '\0')
			end++;
		if (end < len) {
			cc_error_set(err, 0, "invalid JSON: trailing data at byte %zu", end);
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

static int parse_spec(json_object *o, struct oci_spec *s, struct cc_error *err)
{
	json_object *v;
	if (!json_object_is_type(o, json_type_object))
		return oj_expected(err, "(root)", "an object");
	if (oj_member(o, "root", json_type_object, "", &v, err) < 0 ||
	    oj_required(v, "", "root", err) < 0)
		return -1;
	if (oj_get_string(v, "path", "root", &s->root_path, err) < 0 ||
	    oj_get_bool(v, "readonly", "root", &s->root_readonly, err) < 0)
		return -1;
	if (s->root_path == NULL || s->root_path[0] == '\0')
		return cc_error_set(err, 0, "root.path: required");
	if (oj_get_string(o, "hostname", "", &s->hostname, err) < 0)
		return -1;
	if (s->hostname != NULL && strlen(s->hostname) > 64)
		return cc_error_set(err, 0, "hostname: longer than 64 bytes");
	if (oj_member(o, "process", json_type_object, "", &v, err) < 0 ||
	    oj_required(v, "", "process", err) < 0 ||
	    parse_process(v, "process", &s->process, err) < 0)
		return -1;
	if (oj_member(o, "mounts", json_type_array, "", &v, err) < 0 ||
	    (v != NULL && parse_mounts(v, "mounts", s, err) < 0))
		return -1;
	if (oj_get_map(o, "annotations", "", &s->annotation_keys, &s->annotation_values, err) < 0)
		return -1;
	if (oj_member(o, "linux", json_type_object, "", &v, err) < 0 ||
	    (v != NULL && parse_linux(v, "linux", s, err) < 0))
		return -1;
	return 0;
}

int oci_spec_parse(const char *json, size_t len, struct oci_spec **out, struct cc_error *err)
{
	json_object *o = parse_json(json, len, err);
	if (o == NULL)
		return -1;
	struct oci_spec *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		json_object_put(o);
		return cc_error_set(err, ENOMEM, "spec");
	}
	s->resources.memory_limit = s->resources.memory_swap = -1;
	s->resources.cpu_quota = s->resources.pids_limit = -1;
	int r = parse_spec(o, s, err);
	json_object_put(o);
	if (r < 0) {
		oci_spec_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int oci_process_parse(const char *json, size_t len, struct oci_process *out, struct cc_error *err)
{
	json_object *o = parse_json(json, len, err);
	if (o == NULL)
		return -1;
	int r = parse_process(o, "process", out, err);
	json_object_put(o);
	if (r < 0)
		oci_process_free(out);
	return r;
}

int oci_resources_parse(const char *json, size_t len, struct oci_resources *out,
			struct cc_error *err)
{
	json_object *o = parse_json(json, len, err);
	if (o == NULL)
		return -1;
	int r = resources_from(o, "resources", out, err);
	json_object_put(o);
	if (r < 0) {
		free(out->cpuset_cpus);
		free(out->cpuset_mems);
		out->cpuset_cpus = out->cpuset_mems = NULL;
	}
	return r;
}

void oci_process_free(struct oci_process *p)
{
	oj_free_strv(p->args);
	oj_free_strv(p->env);
	free(p->cwd);
	free(p->additional_gids);
	free(p->cap_bounding);
	free(p->cap_effective);
	free(p->cap_inheritable);
	free(p->cap_permitted);
	free(p->cap_ambient);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

static void seccomp_free(struct oci_seccomp *sc)
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

void oci_spec_free(struct oci_spec *s)
{
	if (s == NULL)
		return;
	free(s->root_path);
	free(s->hostname);
	oci_process_free(&s->process);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].destination);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		oj_free_strv(s->mounts[i].options);
	}
	free(s->mounts);
	for (size_t i = 0; i < s->n_namespaces; i++)
		free(s->namespaces[i].path);
	free(s->namespaces);
	oj_free_strv(s->masked_paths);
	oj_free_strv(s->readonly_paths);
	free(s->resources.cpuset_cpus);
	free(s->resources.cpuset_mems);
	free(s->cgroups_path);
	seccomp_free(s->seccomp);
	oj_free_strv(s->sysctl_keys);
	oj_free_strv(s->sysctl_values);
	oj_free_strv(s->annotation_keys);
	oj_free_strv(s->annotation_values);
	free(s);
}

const char *oci_spec_annotation(const struct oci_spec *spec, const char *key)
{
	for (size_t i = 0; spec->annotation_keys != NULL && spec->annotation_keys[i] != NULL; i++) {
		if (strcmp(spec->annotation_keys[i], key) == 0)
			return spec->annotation_values[i];
	}
	return NULL;
}
