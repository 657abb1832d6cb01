#include "host/oci_edit.h"

#include <json-c/json.h>

struct json_object *oci_edit_object(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_object)) {
		v = json_object_new_object();
		json_object_object_add(obj, key, v);
	}
	return v;
}

void oci_edit_root(struct json_object *spec, const char *path, bool readonly)
{
	struct json_object *root = oci_edit_object(spec, "root");
	json_object_object_add(root, "path", json_object_new_string(path));
	if (readonly)
		json_object_object_add(root, "readonly", json_object_new_boolean(1));
}

void oci_edit_process(struct json_object *spec, const struct oci_edit_process *p)
{
	struct json_object *proc = oci_edit_object(spec, "process");
	if (p->args != NULL && p->args[0] != NULL) {
		struct json_object *args = json_object_new_array();
		for (size_t i = 0; p->args[i] != NULL; i++)
			json_object_array_add(args, json_object_new_string(p->args[i]));
		json_object_object_add(proc, "args", args);
	}
	if (p->env != NULL && p->env[0] != NULL) {
		struct json_object *e;
		if (!json_object_object_get_ex(proc, "env", &e) ||
		    !json_object_is_type(e, json_type_array)) {
			e = json_object_new_array();
			json_object_object_add(proc, "env", e);
		}
		for (size_t i = 0; p->env[i] != NULL; i++)
			json_object_array_add(e, json_object_new_string(p->env[i]));
	}
	if (p->cwd != NULL)
		json_object_object_add(proc, "cwd", json_object_new_string(p->cwd));
	if (p->has_user) {
		struct json_object *u = json_object_new_object();
		json_object_object_add(u, "uid", json_object_new_int64(p->uid));
		json_object_object_add(u, "gid", json_object_new_int64(p->gid));
		json_object_object_add(proc, "user", u);
	}
	if (p->terminal)
		json_object_object_add(proc, "terminal", json_object_new_boolean(1));
}

void oci_edit_limits(struct json_object *spec, uint64_t memory, int64_t cpu_quota,
		     int64_t cpu_period)
{
	if (memory == 0 && cpu_period == 0)
		return;
	struct json_object *res = oci_edit_object(oci_edit_object(spec, "linux"), "resources");
	if (memory != 0) {
		struct json_object *mem = json_object_new_object();
		json_object_object_add(mem, "limit", json_object_new_int64((int64_t)memory));
		json_object_object_add(res, "memory", mem);
	}
	if (cpu_period != 0) {
		struct json_object *cpu = json_object_new_object();
		json_object_object_add(cpu, "quota", json_object_new_int64(cpu_quota));
		json_object_object_add(cpu, "period", json_object_new_int64(cpu_period));
		json_object_object_add(res, "cpu", cpu);
	}
}
