/* Host bind mounts of an OCI spec (CRI's /etc/hosts, /etc/resolv.conf, hostname, volumes;
 * `cocoon run --bundle` mounts) reach the guest through the shared directory: each
 * source is shared into the sandbox and the spec points at its guest path instead. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "lib/sandbox.h"

static bool is_bind(json_object *m)
{
	json_object *v;
	if (json_object_object_get_ex(m, "type", &v) && strcmp(json_object_get_string(v), "bind") == 0)
		return true;
	if (!json_object_object_get_ex(m, "options", &v) || !json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(v, i));
		if (o != NULL && (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0))
			return true;
	}
	return false;
}

static bool has_option(json_object *m, const char *opt)
{
	json_object *v;
	if (!json_object_object_get_ex(m, "options", &v) || !json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(v, i));
		if (o != NULL && strcmp(o, opt) == 0)
			return true;
	}
	return false;
}

int sandbox_share_spec_mounts(struct sandbox *sb, json_object *spec, const char *prefix,
			      struct cc_error *err)
{
	json_object *mounts;
	if (!json_object_object_get_ex(spec, "mounts", &mounts) ||
	    !json_object_is_type(mounts, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(mounts); i++) {
		json_object *m = json_object_array_get_idx(mounts, i), *src;
		if (!json_object_is_type(m, json_type_object) || !is_bind(m) ||
		    !json_object_object_get_ex(m, "source", &src))
			continue;
		const char *host = json_object_get_string(src);
		if (host == NULL || host[0] != '/')
			return cc_error_set(err, 0, "mount %zu: bind source must be an absolute path", i);
		char name[64], guest[4096];
		snprintf(name, sizeof(name), "%s%zu", prefix, i);
		if (sandbox_share(sb, host, name, has_option(m, "ro"), guest, sizeof(guest), err) < 0)
			return cc_error_prefix(err, "mount %zu (%s)", i, host);
		json_object_object_add(m, "source", json_object_new_string(guest));
	}
	return 0;
}
