#include "shim/spec.h"

#include <errno.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/oci_edit.h"
#include "shared/oci_spec.h"
#include "shared/util.h"

int shim_spec_load(const char *bundle, struct shim_spec *s, struct cc_error *err)
{
	cleanup_free char *path = cc_strdup_printf("%s/config.json", bundle);
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct json_tokener *tok;

	s->root = NULL;
	if (!path)
		return cc_error_set(err, ENOMEM, "config.json");
	if (cc_read_file(path, OCI_MAX_SPEC_BYTES, &text, &len, err) < 0)
		return -1;
	tok = json_tokener_new();
	if (!tok)
		return cc_error_set(err, ENOMEM, "json");
	s->root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!s->root || jerr != json_tokener_success ||
	    !json_object_is_type(s->root, json_type_object)) {
		shim_spec_free(s);
		return cc_error_set(err, 0, "%s: not a JSON object (%s)", path,
				    json_tokener_error_desc(jerr));
	}
	return 0;
}

void shim_spec_free(struct shim_spec *s)
{
	if (s->root)
		json_object_put(s->root);
	s->root = NULL;
}

static struct json_object *get(struct json_object *o, const char *key, json_type type)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *shim_spec_annotation(const struct shim_spec *s, const char *key)
{
	struct json_object *v =
		get(get(s->root, "annotations", json_type_object), key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

const char *shim_spec_netns(const struct shim_spec *s)
{
	struct json_object *nss =
		get(get(s->root, "linux", json_type_object), "namespaces", json_type_array);
	for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
		struct json_object *ns = json_object_array_get_idx(nss, i);
		struct json_object *type = get(ns, "type", json_type_string);
		struct json_object *path = get(ns, "path", json_type_string);
		if (type && path && strcmp(json_object_get_string(type), "network") == 0 &&
		    *json_object_get_string(path))
			return json_object_get_string(path);
	}
	return NULL;
}

int shim_spec_root(const struct shim_spec *s, const char *bundle, char *out, size_t len,
		   bool *readonly, struct cc_error *err)
{
	struct json_object *root = get(s->root, "root", json_type_object);
	struct json_object *p = get(root, "path", json_type_string);
	struct json_object *ro = get(root, "readonly", json_type_boolean);
	const char *path = p ? json_object_get_string(p) : NULL;
	char joined[PATH_MAX], real_bundle[PATH_MAX];
	int n;

	if (!path || !*path)
		return cc_error_set(err, 0, "config.json: root.path is missing");
	*readonly = ro && json_object_get_boolean(ro);
	n = path[0] == '/' ? snprintf(joined, sizeof(joined), "%s", path)
			   : snprintf(joined, sizeof(joined), "%s/%s", bundle, path);
	if (n < 0 || (size_t)n >= sizeof(joined) || (size_t)n >= len)
		return cc_error_set(err, 0, "config.json: root.path too long");
	/* Whatever the rootfs is shared into the guest, writable: it must be the bundle's
	 * own, never a host directory named by an absolute path or reached through "..". */
	if (!realpath(bundle, real_bundle))
		return cc_error_set(err, errno, "bundle %s", bundle);
	if (!realpath(joined, out))
		return cc_error_set(err, errno, "config.json: root.path %s", path);
	size_t bl = strlen(real_bundle);
	if (strncmp(out, real_bundle, bl) != 0 || out[bl] != '/')
		return cc_error_set(err, 0,
				    "config.json: root.path %s is outside the bundle %s; "
				    "a rootfs must be inside its bundle",
				    path, bundle);
	return 0;
}

int shim_spec_set_root(struct shim_spec *s, const char *guest_path, struct cc_error *err)
{
	if (!get(s->root, "root", json_type_object))
		return cc_error_set(err, 0, "config.json: root is missing");
	oci_edit_root(s->root, guest_path, false);
	return 0;
}

const char *shim_spec_hostname(const struct shim_spec *s)
{
	struct json_object *h = get(s->root, "hostname", json_type_string);
	return h ? json_object_get_string(h) : NULL;
}

void shim_spec_drop_pod_namespaces(struct shim_spec *s, const char *pod_hostname,
				   const char *pod_pidns)
{
	struct json_object *nss =
		get(get(s->root, "linux", json_type_object), "namespaces", json_type_array);
	struct json_object *kept = json_object_new_array();
	bool pid = false;

	if (!nss || !kept) {
		json_object_put(kept);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(nss); i++) {
		struct json_object *ns = json_object_array_get_idx(nss, i);
		struct json_object *type = get(ns, "type", json_type_string);
		const char *t = type ? json_object_get_string(type) : "";
		/* The pod's PID namespace (CRI names the pause process's on the host) is the
		 * pause container's in the guest. */
		if (strcmp(t, "pid") == 0 && get(ns, "path", json_type_string) && pod_pidns) {
			struct json_object *p = json_object_new_object();
			if (p) {
				json_object_object_add(p, "type", json_object_new_string("pid"));
				json_object_object_add(p, "path",
						       json_object_new_string(pod_pidns));
				json_object_array_add(kept, p);
				pid = true;
			}
			continue;
		}
		/* The VM is the pod: its network, ipc and uts are the pod's. Paths name host
		 * namespaces (the pod netns, the pause process) that mean nothing inside. */
		if (strcmp(t, "network") == 0 || strcmp(t, "ipc") == 0 || strcmp(t, "uts") == 0 ||
		    get(ns, "path", json_type_string))
			continue;
		pid |= strcmp(t, "pid") == 0;
		json_object_array_add(kept, json_object_get(ns));
	}
	/* Never the agent's PID namespace: a container there would see and could signal
	 * the agent (PID 1 of the VM) and every other pod process. */
	if (!pid) {
		struct json_object *p = json_object_new_object();
		if (p) {
			json_object_object_add(p, "type", json_object_new_string("pid"));
			json_object_array_add(kept, p);
		}
	}
	/* CRI names only the pause container; the others joined its uts namespace. */
	if (!shim_spec_hostname(s) && pod_hostname && *pod_hostname)
		json_object_object_add(s->root, "hostname", json_object_new_string(pod_hostname));
	/* A hostname needs a uts namespace of its own (the agent, like runc, refuses to
	 * rename the guest); CRI sets one even for host-network pods, where it dropped uts. */
	if (shim_spec_hostname(s)) {
		struct json_object *uts = json_object_new_object();

		if (uts) {
			json_object_object_add(uts, "type", json_object_new_string("uts"));
			json_object_array_add(kept, uts);
		}
	}
	json_object_object_add(get(s->root, "linux", json_type_object), "namespaces", kept);
}

static bool has_namespace(struct json_object *nss, const char *type)
{
	for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
		struct json_object *t =
			get(json_object_array_get_idx(nss, i), "type", json_type_string);
		if (t && strcmp(json_object_get_string(t), type) == 0)
			return true;
	}
	return false;
}

int shim_spec_check_pod(const struct shim_spec *s, struct cc_error *err)
{
	static const struct {
		const char *ns, *field;
	} host_ns[] = { { "network", "hostNetwork" }, { "ipc", "hostIPC" }, { "pid", "hostPID" } };
	const char *type = shim_spec_annotation(s, "io.kubernetes.cri.container-type");
	struct json_object *lin = get(s->root, "linux", json_type_object);
	struct json_object *mounts = get(s->root, "mounts", json_type_array);

	/* CRI leaves a namespace out of the sandbox spec to share the host's. */
	for (size_t i = 0; type && strcmp(type, "sandbox") == 0 && i < CC_ARRAY_SIZE(host_ns); i++)
		if (!has_namespace(get(lin, "namespaces", json_type_array), host_ns[i].ns))
			return cc_error_set(
				err, 0,
				"%s: true is not supported by the cocoon runtime: the pod "
				"is a VM with its own kernel, which cannot share the "
				"host's %s namespace",
				host_ns[i].field, host_ns[i].ns);
	for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++) {
		struct json_object *m = json_object_array_get_idx(mounts, i);
		struct json_object *opts = get(m, "options", json_type_array);
		struct json_object *dst = get(m, "destination", json_type_string);

		for (size_t j = 0; opts && j < json_object_array_length(opts); j++) {
			const char *o = json_object_get_string(json_object_array_get_idx(opts, j));
			if (o && (strcmp(o, "rshared") == 0 || strcmp(o, "shared") == 0))
				return cc_error_set(
					err, 0,
					"mount %s: mountPropagation Bidirectional is not supported "
					"by the cocoon runtime: mounts made in the VM cannot "
					"propagate to the host (use HostToContainer or None)",
					dst ? json_object_get_string(dst) : "?");
		}
	}
	return 0;
}

const char *shim_spec_json(const struct shim_spec *s, size_t *len)
{
	const char *text = json_object_to_json_string_ext(s->root, JSON_C_TO_STRING_PLAIN);
	*len = strlen(text);
	return text;
}

int shim_spec_group(const char *bundle, const char *id, char *out, size_t len, struct cc_error *err)
{
	struct shim_spec s;
	const char *type, *sandbox;
	int n;

	if (shim_spec_load(bundle, &s, err) < 0)
		return -1;
	type = shim_spec_annotation(&s, "io.kubernetes.cri.container-type");
	sandbox = shim_spec_annotation(&s, "io.kubernetes.cri.sandbox-id");
	n = snprintf(out, len, "%s",
		     type && strcmp(type, "container") == 0 && sandbox && *sandbox ? sandbox : id);
	shim_spec_free(&s);
	if (n < 0 || (size_t)n >= len)
		return cc_error_set(err, 0, "sandbox id too long");
	return 0;
}
