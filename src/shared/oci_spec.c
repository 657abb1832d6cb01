/* OCI runtime spec parser: the entry points, the document's top level (root, hostname,
 * mounts, annotations) and freeing; the process is oci_process.c's, linux (namespaces,
 * resources, seccomp) oci_linux.c's. Every value is type-checked and bounded; an error names the
 * JSON path of the offending value. Names (capabilities, rlimits, seccomp actions and
 * operators) become numbers here so the agent never handles strings it cannot map.
 * The name tables use only kernel/libseccomp header constants, so host binaries that
 * validate a bundle need neither libcap nor libseccomp at link time. */
#include "shared/oci_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "shared/oci_json.h"
#include "shared/util.h"

static int parse_mounts(json_object *arr, const char *path, struct oci_spec *s,
			struct cc_error *err)
{
	size_t n = json_object_array_length(arr);
	s->mounts = oj_table(n, sizeof(*s->mounts), path, err);
	if (s->mounts == NULL)
		return -1;
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
	    oci_parse_process(v, "process", &s->process, err) < 0)
		return -1;
	if (oj_member(o, "mounts", json_type_array, "", &v, err) < 0 ||
	    (v != NULL && parse_mounts(v, "mounts", s, err) < 0))
		return -1;
	if (oj_get_map(o, "annotations", "", &s->annotation_keys, &s->annotation_values, err) < 0)
		return -1;
	if (oj_member(o, "linux", json_type_object, "", &v, err) < 0 ||
	    (v != NULL && oci_parse_linux(v, "linux", s, err) < 0))
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
	int r = oci_parse_process(o, "process", out, err);
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
	int r = oci_parse_resources(o, "resources", out, err);
	json_object_put(o);
	if (r < 0) {
		free(out->cpuset_cpus);
		free(out->cpuset_mems);
		out->cpuset_cpus = out->cpuset_mems = NULL;
	}
	return r;
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
	oci_seccomp_free(s->seccomp);
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
