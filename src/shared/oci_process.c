/* The OCI spec's process (also the whole document of an exec): args, env, cwd, user,
 * capabilities, rlimits, terminal. Capability and rlimit names become numbers here. */
#include "shared/oci_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <linux/capability.h>
#include <sys/resource.h>

#include "shared/oci_json.h"
#include "shared/util.h"

#define NV(x)         \
	{             \
#x, x \
	}
static const struct oj_name capabilities[] = {
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

static const struct oj_name rlimits[] = {
	NV(RLIMIT_AS),	   NV(RLIMIT_CORE),   NV(RLIMIT_CPU),	     NV(RLIMIT_DATA),
	NV(RLIMIT_FSIZE),  NV(RLIMIT_LOCKS),  NV(RLIMIT_MEMLOCK),    NV(RLIMIT_MSGQUEUE),
	NV(RLIMIT_NICE),   NV(RLIMIT_NOFILE), NV(RLIMIT_NPROC),	     NV(RLIMIT_RSS),
	NV(RLIMIT_RTPRIO), NV(RLIMIT_RTTIME), NV(RLIMIT_SIGPENDING), NV(RLIMIT_STACK),
};

#undef NV

static int parse_caps(json_object *arr, const char *path, int **out, size_t *n,
		      struct cc_error *err)
{
	if (!json_object_is_type(arr, json_type_array))
		return oj_expected(err, path, "an array of strings");
	size_t len = json_object_array_length(arr);
	*out = oj_table(len, sizeof(int), path, err);
	if (*out == NULL)
		return -1;
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		char p[PATH_MAX_LEN];
		long cap;
		oj_index_path(p, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_string))
			return oj_expected(err, p, "a string");
		const char *name = json_object_get_string(e);
		if (oj_lookup(capabilities, CC_ARRAY_SIZE(capabilities), name, &cap) < 0)
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
	p->rlimits = oj_table(n, sizeof(*p->rlimits), path, err);
	if (p->rlimits == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		struct oci_rlimit *r = &p->rlimits[i];
		char ep[PATH_MAX_LEN], vp[PATH_MAX_LEN];
		const char *name;
		long res;
		oj_index_path(ep, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return oj_expected(err, ep, "an object");
		if (oj_get_name(e, "type", ep, rlimits, CC_ARRAY_SIZE(rlimits), "rlimit", &res,
				&name, err) < 0)
			return -1;
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

int oci_parse_process(json_object *o, const char *path, struct oci_process *p, struct cc_error *err)
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
	if (oj_member_at(o, "user", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL && parse_user(v, sub, p, err) < 0))
		return -1;
	if (oj_member_at(o, "capabilities", json_type_object, path, &v, sub, err) < 0 ||
	    (v != NULL && parse_capabilities(v, sub, p, err) < 0))
		return -1;
	if (oj_member_at(o, "rlimits", json_type_array, path, &v, sub, err) < 0 ||
	    (v != NULL && parse_rlimits(v, sub, p, err) < 0))
		return -1;
	if (oj_get_bool(o, "noNewPrivileges", path, &p->no_new_privileges, err) < 0)
		return -1;
	if (oj_get_int_range(o, "oomScoreAdj", path, -1000, 1000, &x, &p->has_oom_score_adj, err) <
	    0)
		return -1;
	if (p->has_oom_score_adj)
		p->oom_score_adj = (int)x;
	return 0;
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
