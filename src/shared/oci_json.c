#include "shared/oci_json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/oci_spec.h"
#include "shared/util.h"

/* ---- typed accessors; `path` names the value being read ---- */

int oj_expected(struct cc_error *err, const char *path, const char *what)
{
	return cc_error_set(err, 0, "%s: expected %s", path, what);
}

/* JSON paths for messages; a path longer than PATH_MAX_LEN is cut, which only shortens
 * a message. */
void oj_path_fmt(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX_LEN, fmt, ap);
	va_end(ap);
}

void oj_join(char *buf, const char *parent, const char *key)
{
	oj_path_fmt(buf, "%s%s%s", parent, parent[0] != '\0' ? "." : "", key);
}

void oj_index_path(char *buf, const char *parent, size_t i)
{
	oj_path_fmt(buf, "%s[%zu]", parent, i);
}

/* Member `key` of `obj`: NULL when absent or null, an error when of another type. */
int oj_member(json_object *obj, const char *key, json_type type, const char *parent,
	      json_object **out, struct cc_error *err)
{
	static const char *const names[] = {
		[json_type_boolean] = "a boolean", [json_type_double] = "a number",
		[json_type_int] = "an integer",	   [json_type_object] = "an object",
		[json_type_array] = "an array",	   [json_type_string] = "a string",
	};
	json_object *v = NULL;
	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, type)) {
		char path[PATH_MAX_LEN];
		oj_join(path, parent, key);
		return oj_expected(err, path, names[type]);
	}
	*out = v;
	return 0;
}

int oj_member_at(json_object *obj, const char *key, json_type type, const char *parent,
		 json_object **out, char *path, struct cc_error *err)
{
	oj_join(path, parent, key);
	return oj_member(obj, key, type, parent, out, err);
}

int oj_required(const json_object *v, const char *parent, const char *key, struct cc_error *err)
{
	if (v != NULL)
		return 0;
	char path[PATH_MAX_LEN];
	oj_join(path, parent, key);
	return cc_error_set(err, 0, "%s: required", path);
}

int oj_dup_string(json_object *v, const char *path, char **out, struct cc_error *err)
{
	if (!json_object_is_type(v, json_type_string))
		return oj_expected(err, path, "a string");
	const char *s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return cc_error_set(err, 0, "%s: string contains a NUL byte", path);
	*out = strdup(s);
	if (*out == NULL)
		return cc_error_set(err, ENOMEM, "%s", path);
	return 0;
}

int oj_get_string(json_object *obj, const char *key, const char *parent, char **out,
		  struct cc_error *err)
{
	json_object *v;
	char path[PATH_MAX_LEN];
	if (oj_member(obj, key, json_type_string, parent, &v, err) < 0)
		return -1;
	if (v == NULL)
		return 0;
	oj_join(path, parent, key);
	return oj_dup_string(v, path, out, err);
}

int oj_get_bool(json_object *obj, const char *key, const char *parent, bool *out,
		struct cc_error *err)
{
	json_object *v;
	if (oj_member(obj, key, json_type_boolean, parent, &v, err) < 0)
		return -1;
	if (v != NULL)
		*out = json_object_get_boolean(v);
	return 0;
}

int oj_check_int(json_object *v, const char *path, struct cc_error *err)
{
	if (!json_object_is_type(v, json_type_int))
		return oj_expected(err, path, "an integer");
	return 0;
}

/* Integer in [min, max]; `*found` tells whether the member was present. */
int oj_get_int_range(json_object *obj, const char *key, const char *parent, int64_t min,
		     int64_t max, int64_t *out, bool *found, struct cc_error *err)
{
	json_object *v;
	char path[PATH_MAX_LEN];
	oj_join(path, parent, key);
	if (found != NULL)
		*found = false;
	if (oj_member(obj, key, json_type_int, parent, &v, err) < 0)
		return -1;
	if (v == NULL)
		return 0;
	int64_t x = json_object_get_int64(v);
	if (x < min || x > max || (x == INT64_MAX && json_object_get_uint64(v) > INT64_MAX))
		return cc_error_set(err, 0, "%s: %s out of range [%lld, %lld]", path,
				    json_object_get_string(v), (long long)min, (long long)max);
	*out = x;
	if (found != NULL)
		*found = true;
	return 0;
}

int oj_to_uint64(json_object *v, const char *path, uint64_t *out, struct cc_error *err)
{
	if (oj_check_int(v, path, err) < 0)
		return -1;
	if (json_object_get_int64(v) < 0)
		return oj_expected(err, path, "a non-negative integer");
	*out = json_object_get_uint64(v);
	return 0;
}

int oj_get_uint64(json_object *obj, const char *key, const char *parent, uint64_t *out,
		  struct cc_error *err)
{
	json_object *v;
	char path[PATH_MAX_LEN];
	if (oj_member(obj, key, json_type_int, parent, &v, err) < 0)
		return -1;
	if (v == NULL)
		return 0;
	oj_join(path, parent, key);
	return oj_to_uint64(v, path, out, err);
}

/* A zeroed table of N entries of SIZE bytes and one more (a NULL end where the entries
 * are pointers), N bounded by OCI_MAX_ITEMS; NULL with ERR set otherwise. */
void *oj_table(size_t n, size_t size, const char *path, struct cc_error *err)
{
	if (n > OCI_MAX_ITEMS) {
		cc_error_set(err, 0, "%s: more than %d entries", path, OCI_MAX_ITEMS);
		return NULL;
	}
	void *t = calloc(n + 1, size);
	if (t == NULL)
		cc_error_set(err, ENOMEM, "%s", path);
	return t;
}

void oj_free_strv(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* A NULL-terminated copy of an array of strings (an empty array gives { NULL }). */
int oj_strv_from(json_object *arr, const char *path, char ***out, struct cc_error *err)
{
	if (!json_object_is_type(arr, json_type_array))
		return oj_expected(err, path, "an array of strings");
	size_t n = json_object_array_length(arr);
	char **v = oj_table(n, sizeof(*v), path, err);
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		char p[PATH_MAX_LEN];
		oj_index_path(p, path, i);
		if (e == NULL || !json_object_is_type(e, json_type_string)) {
			oj_free_strv(v);
			return cc_error_set(err, 0, "%s: expected an array of strings", path);
		}
		if (oj_dup_string(e, p, &v[i], err) < 0) {
			oj_free_strv(v);
			return -1;
		}
	}
	*out = v;
	return 0;
}

int oj_get_strv(json_object *obj, const char *key, const char *parent, char ***out,
		struct cc_error *err)
{
	json_object *v;
	char path[PATH_MAX_LEN];
	oj_join(path, parent, key);
	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	return oj_strv_from(v, path, out, err);
}

/* A string->string object as two parallel NULL-terminated arrays. */
int oj_get_map(json_object *obj, const char *key, const char *parent, char ***keys, char ***values,
	       struct cc_error *err)
{
	json_object *m;
	char path[PATH_MAX_LEN];
	oj_join(path, parent, key);
	if (oj_member(obj, key, json_type_object, parent, &m, err) < 0)
		return -1;
	if (m == NULL)
		return 0;
	size_t n = (size_t)json_object_object_length(m), i = 0;
	*keys = oj_table(n, sizeof(char *), path, err);
	if (*keys == NULL)
		return -1;
	*values = oj_table(n, sizeof(char *), path, err);
	if (*values == NULL)
		return -1;
	json_object_object_foreach(m, k, v)
	{
		char p[PATH_MAX_LEN];
		oj_join(p, path, k);
		if (v == NULL || !json_object_is_type(v, json_type_string))
			return oj_expected(err, p, "a string");
		(*keys)[i] = strdup(k);
		if ((*keys)[i] == NULL)
			return cc_error_set(err, ENOMEM, "%s", p);
		if (oj_dup_string(v, p, &(*values)[i], err) < 0)
			return -1;
		i++;
	}
	return 0;
}

/* ---- process ---- */

int oj_lookup(const struct oj_name *t, size_t n, const char *name, long *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			*out = t[i].value;
			return 0;
		}
	}
	return -1;
}

int oj_get_name(json_object *obj, const char *key, const char *parent, const struct oj_name *t,
		size_t n, const char *what, long *out, const char **name, struct cc_error *err)
{
	json_object *v;
	char path[PATH_MAX_LEN];
	if (oj_member(obj, key, json_type_string, parent, &v, err) < 0 ||
	    oj_required(v, parent, key, err) < 0)
		return -1;
	*name = json_object_get_string(v);
	if (oj_lookup(t, n, *name, out) < 0) {
		oj_join(path, parent, key);
		return cc_error_set(err, 0, "%s: unknown %s \"%.64s\"", path, what, *name);
	}
	return 0;
}
