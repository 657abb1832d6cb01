/* The spec `cocoon run` gives a bare rootfs: the defaults of `runc spec`, except that
 * no network namespace is created (a container shares its VM's network, which is the
 * pod network). */
#include "shared/oci_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const default_caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" };
static const char *const default_masked[] = {
	"/proc/acpi",	       "/proc/asound",	   "/proc/kcore",	"/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/sys/firmware",       "/proc/scsi",
};
static const char *const default_readonly[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
						"/proc/sysrq-trigger" };
static const char *const default_namespaces[] = { "pid", "ipc", "uts", "mount", "cgroup" };

struct default_mount {
	const char *dest, *type, *source;
	const char *const options[8];
};
static const struct default_mount default_mounts[] = {
	{ "/proc", "proc", "proc", { NULL } },
	{ "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
	{ "/dev/pts",
	  "devpts",
	  "devpts",
	  { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
	{ "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
	{ "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
	{ "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
	{ "/sys/fs/cgroup", "cgroup", "cgroup", { "nosuid", "noexec", "nodev", "relatime", "ro" } },
};

/* A failed json-c allocation returns NULL, and adding NULL stores a JSON null: one
 * has_null() walk at the end catches every failed leaf. */
static json_object *str_array(const char *const *v, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; a != NULL && i < n && v[i] != NULL; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *env_array(char *const *extra)
{
	json_object *a = json_object_new_array();
	bool has_path = false, has_term = false;
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
		has_path |= strncmp(extra[i], "PATH=", 5) == 0;
		has_term |= strncmp(extra[i], "TERM=", 5) == 0;
	}
	if (!has_path)
		json_object_array_add(a, json_object_new_string(DEFAULT_PATH));
	if (!has_term)
		json_object_array_add(a, json_object_new_string("TERM=xterm"));
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		json_object_array_add(a, json_object_new_string(extra[i]));
	return a;
}

static json_object *process_object(const struct oci_default_opts *o)
{
	json_object *p = json_object_new_object(), *user = json_object_new_object();
	json_object *caps = json_object_new_object(), *rl = json_object_new_object();
	json_object *rlimits = json_object_new_array();
	size_t nargs = 0;
	while (o->args[nargs] != NULL)
		nargs++;
	json_object_object_add(p, "terminal", json_object_new_boolean(o->terminal));
	json_object_object_add(user, "uid", json_object_new_int64(o->uid));
	json_object_object_add(user, "gid", json_object_new_int64(o->gid));
	json_object_object_add(p, "user", user);
	json_object_object_add(p, "args", str_array((const char *const *)o->args, nargs));
	json_object_object_add(p, "env", env_array(o->env));
	json_object_object_add(p, "cwd", json_object_new_string(o->cwd != NULL ? o->cwd : "/"));
	for (const char *const *set =
		     (const char *const[]){ "bounding", "effective", "permitted", NULL };
	     *set != NULL; set++)
		json_object_object_add(caps, *set,
				       str_array(default_caps, CC_ARRAY_SIZE(default_caps)));
	json_object_object_add(p, "capabilities", caps);
	json_object_object_add(rl, "type", json_object_new_string("RLIMIT_NOFILE"));
	json_object_object_add(rl, "hard", json_object_new_int64(1024));
	json_object_object_add(rl, "soft", json_object_new_int64(1024));
	json_object_array_add(rlimits, rl);
	json_object_object_add(p, "rlimits", rlimits);
	json_object_object_add(p, "noNewPrivileges", json_object_new_boolean(1));
	return p;
}

static json_object *mounts_array(void)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < CC_ARRAY_SIZE(default_mounts); i++) {
		const struct default_mount *d = &default_mounts[i];
		json_object *m = json_object_new_object();
		size_t n = 0;
		while (n < CC_ARRAY_SIZE(d->options) && d->options[n] != NULL)
			n++;
		json_object_object_add(m, "destination", json_object_new_string(d->dest));
		json_object_object_add(m, "type", json_object_new_string(d->type));
		json_object_object_add(m, "source", json_object_new_string(d->source));
		if (n > 0)
			json_object_object_add(m, "options", str_array(d->options, n));
		json_object_array_add(a, m);
	}
	return a;
}

static json_object *linux_object(const struct oci_default_opts *o)
{
	json_object *l = json_object_new_object(), *ns = json_object_new_array();
	json_object *res = json_object_new_object();
	for (size_t i = 0; i < CC_ARRAY_SIZE(default_namespaces); i++) {
		json_object *n = json_object_new_object();
		json_object_object_add(n, "type", json_object_new_string(default_namespaces[i]));
		json_object_array_add(ns, n);
	}
	json_object_object_add(l, "namespaces", ns);
	if (o->memory_limit >= 0) {
		json_object *mem = json_object_new_object();
		json_object_object_add(mem, "limit", json_object_new_int64(o->memory_limit));
		json_object_object_add(res, "memory", mem);
	}
	if (o->cpu_quota >= 0) {
		json_object *cpu = json_object_new_object();
		json_object_object_add(cpu, "quota", json_object_new_int64(o->cpu_quota));
		json_object_object_add(
			cpu, "period",
			json_object_new_uint64(o->cpu_period ? o->cpu_period : 100000));
		json_object_object_add(res, "cpu", cpu);
	}
	json_object_object_add(l, "resources", res);
	json_object_object_add(l, "maskedPaths",
			       str_array(default_masked, CC_ARRAY_SIZE(default_masked)));
	json_object_object_add(l, "readonlyPaths",
			       str_array(default_readonly, CC_ARRAY_SIZE(default_readonly)));
	return l;
}

/* True when json-c stored a null anywhere (an allocation failed on the way). */
static bool has_null(json_object *o)
{
	if (o == NULL)
		return true;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (has_null(json_object_array_get_idx(o, i)))
				return true;
		}
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			if (has_null(v))
				return true;
		}
	}
	return false;
}

char *oci_spec_default_json(const struct oci_default_opts *o, struct cc_error *err)
{
	if (o->args == NULL || o->args[0] == NULL)
		return cc_error_set(err, 0, "default spec: no command given"), NULL;
	json_object *s = json_object_new_object(), *root = json_object_new_object();
	json_object_object_add(s, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(s, "process", process_object(o));
	json_object_object_add(root, "path",
			       json_object_new_string(o->root_path ? o->root_path : "rootfs"));
	json_object_object_add(root, "readonly", json_object_new_boolean(o->readonly));
	json_object_object_add(s, "root", root);
	json_object_object_add(s, "hostname",
			       json_object_new_string(o->hostname ? o->hostname : "cocoon"));
	json_object_object_add(s, "mounts", mounts_array());
	json_object_object_add(s, "linux", linux_object(o));
	char *out = NULL;
	const char *text =
		has_null(s) ? NULL
			    : json_object_to_json_string_ext(
				      s, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL)
		out = strdup(text);
	json_object_put(s);
	if (out == NULL)
		cc_error_set(err, ENOMEM, "default spec");
	return out;
}
