/* Typed, bounded reads of a JSON document for the OCI spec parser (oci_spec.c,
 * oci_process.c, oci_linux.c): each names the JSON path of a value it refuses; and the
 * parser's sections, which call each other. Internal to the parser. */
#ifndef COCOON_OCI_JSON_H
#define COCOON_OCI_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/error.h"

#define PATH_MAX_LEN 192

int oj_expected(struct cc_error *err, const char *path, const char *what);
void oj_path_fmt(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oj_join(char *buf, const char *parent, const char *key);
void oj_index_path(char *buf, const char *parent, size_t i);
int oj_member(json_object *obj, const char *key, json_type type, const char *parent,
	      json_object **out, struct cc_error *err);
/* oj_member, and path (PATH_MAX_LEN) set to the member's own path for its parser. */
int oj_member_at(json_object *obj, const char *key, json_type type, const char *parent,
		 json_object **out, char *path, struct cc_error *err);
int oj_required(const json_object *v, const char *parent, const char *key, struct cc_error *err);
int oj_dup_string(json_object *v, const char *path, char **out, struct cc_error *err);
int oj_get_string(json_object *obj, const char *key, const char *parent, char **out,
		  struct cc_error *err);
int oj_get_bool(json_object *obj, const char *key, const char *parent, bool *out,
		struct cc_error *err);
int oj_check_int(json_object *v, const char *path, struct cc_error *err);
int oj_get_int_range(json_object *obj, const char *key, const char *parent, int64_t min,
		     int64_t max, int64_t *out, bool *found, struct cc_error *err);
int oj_to_uint64(json_object *v, const char *path, uint64_t *out, struct cc_error *err);
int oj_get_uint64(json_object *obj, const char *key, const char *parent, uint64_t *out,
		  struct cc_error *err);
void *oj_table(size_t n, size_t size, const char *path, struct cc_error *err);
void oj_free_strv(char **v);
int oj_strv_from(json_object *arr, const char *path, char ***out, struct cc_error *err);
int oj_get_strv(json_object *obj, const char *key, const char *parent, char ***out,
		struct cc_error *err);
int oj_get_map(json_object *obj, const char *key, const char *parent, char ***keys, char ***values,
	       struct cc_error *err);

/* A name of the spec and the number it stands for. */
struct oj_name {
	const char *name;
	long value;
};
/* The value of name in t[0..n), or -1 when t has no such name. */
int oj_lookup(const struct oj_name *t, size_t n, const char *name, long *out);
/* Member key of obj, a required string naming an entry of t: its value in *out, the
 * name in *name; else an error naming the path and the kind of name (what). */
int oj_get_name(json_object *obj, const char *key, const char *parent, const struct oj_name *t,
		size_t n, const char *what, long *out, const char **name, struct cc_error *err);

/* ---- the parser's sections ---- */

struct oci_process;
struct oci_resources;
struct oci_seccomp;
struct oci_spec;
int oci_parse_process(json_object *o, const char *path, struct oci_process *p,
		      struct cc_error *err);
int oci_parse_resources(json_object *o, const char *path, struct oci_resources *r,
			struct cc_error *err);
int oci_parse_linux(json_object *o, const char *path, struct oci_spec *s, struct cc_error *err);
void oci_seccomp_free(struct oci_seccomp *sc);

#endif
