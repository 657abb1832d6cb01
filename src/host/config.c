#include "host/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/hypervisor.h"
#include "host/template.h"
#include "shared/log.h"
#include "shared/util.h"

#define CONFIG_MAX_BYTES (64u << 10)

int cc_install_prefix(char *out, size_t len, struct cc_error *err)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return cc_error_set(err, errno, "readlink /proc/self/exe");
	exe[n] = '\0';
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return cc_error_set(err, 0, "cannot find the install prefix of %s", exe);
		*slash = '\0';
	}
	if ((size_t)snprintf(out, len, "%s", exe[0] ? exe : "/") >= len)
		return cc_error_set(err, ENAMETOOLONG, "install prefix");
	return 0;
}

void cc_config_defaults(struct cc_config *cfg, const char *prefix)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->hypervisor, sizeof(cfg->hypervisor), "auto");
	/* The PVH vmlinux boots faster than the bzImage under TCG (no decompression). */
	snprintf(cfg->kernel, sizeof(cfg->kernel), "%s/share/cocoon/vmlinux", prefix);
	snprintf(cfg->initrd, sizeof(cfg->initrd), "%s/share/cocoon/initrd.img", prefix);
	snprintf(cfg->qemu, sizeof(cfg->qemu), "qemu-system-x86_64");
	snprintf(cfg->virtiofsd, sizeof(cfg->virtiofsd), "/usr/lib/qemu/virtiofsd");
	cfg->default_vcpus = 1;
	cfg->default_memory_mib = 256;
	cfg->log_level = CC_LOG_WARN;
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/run/cocoon");
	/* Generous: TCG boots take seconds when the host is busy. */
	cfg->boot_timeout_ms = 30000;
	cfg->stop_grace_ms = 10000;
	cfg->max_execs = 128;
	snprintf(cfg->template_mode, sizeof(cfg->template_mode), "auto");
	cfg->template_spares = 1;
}

bool cc_config_templates(const struct cc_config *cfg, const struct hypervisor_ops *hv,
			 const char **why)
{
	if (strcmp(cfg->template_mode, "off") == 0) {
		*why = "off (template = off)";
		return false;
	}
	if (hv == NULL || hv->snapshot == NULL) {
		*why = "not used: the backend cannot restore a VM (only cocoon-vmm can)";
		return false;
	}
	*why = "in use (template = auto, backend cocoon-vmm)";
	return true;
}

enum key_type { K_STRING, K_UINT, K_LOGLEVEL, K_TEMPLATE };

struct key {
	const char *name;
	enum key_type type;
	size_t off, size;
	uint64_t min, max;
};

#define STR(f) K_STRING, offsetof(struct cc_config, f), sizeof(((struct cc_config *)0)->f), 0, 0
#define UINT(f, lo, hi) \
	K_UINT, offsetof(struct cc_config, f), sizeof(((struct cc_config *)0)->f), lo, hi

static const struct key keys[] = {
	{ "hypervisor", STR(hypervisor) },
	{ "kernel", STR(kernel) },
	{ "initrd", STR(initrd) },
	{ "qemu", STR(qemu) },
	{ "virtiofsd", STR(virtiofsd) },
	{ "state_dir", STR(state_dir) },
	{ "default_vcpus", UINT(default_vcpus, 1, 256) },
	{ "default_memory_mib", UINT(default_memory_mib, 64, 1u << 20) },
	{ "boot_timeout_ms", UINT(boot_timeout_ms, 100, 3600000) },
	{ "stop_grace_ms", UINT(stop_grace_ms, 100, 600000) },
	{ "max_execs", UINT(max_execs, 1, 4096) },
	{ "template", K_TEMPLATE, offsetof(struct cc_config, template_mode),
	  sizeof(((struct cc_config *)0)->template_mode), 0, 0 },
	{ "template_spares", UINT(template_spares, 0, TEMPLATE_MAX_SPARES) },
	{ "log_level", K_LOGLEVEL, offsetof(struct cc_config, log_level), sizeof(int), 0, 0 },
};

/* Parses a value: "quoted" (with \" and \\ escapes) or a bare word. */
static int parse_value(char *s, char **val, const char **why)
{
	if (*s == '"') {
		char *w = s, *r = s + 1;
		for (;; r++) {
			if (*r == '\0') {
				*why = "unterminated string";
				return -1;
			}
			if (*r == '"')
				break;
			if (*r == '\\') {
				r++;
				if (*r != '"' && *r != '\\') {
					*why = "unsupported escape in string";
					return -1;
				}
			}
			*w++ = *r;
		}
		char *rest = r + 1;
		*w = '\0';
		rest += strspn(rest, " \t");
		if (*rest != '\0' && *rest != '#') {
			*why = "unexpected text after the value";
			return -1;
		}
		*val = s;
		return 0;
	}
	char *hash = strchr(s, '#');
	if (hash != NULL)
		*hash = '\0';
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n == 0 || strpbrk(s, " \t") != NULL) {
		*why = n == 0 ? "missing value" : "a value with spaces must be quoted";
		return -1;
	}
	*val = s;
	return 0;
}

static int set_key(struct cc_config *cfg, const struct key *k, const char *val, const char *file,
		   unsigned line, struct cc_error *err)
{
	char *base = (char *)cfg + k->off;
	switch (k->type) {
	case K_STRING:
		if (*val == '\0')
			return cc_error_set(err, 0, "%s:%u: %s: empty value", file, line, k->name);
		if (strlen(val) >= k->size)
			return cc_error_set(err, 0, "%s:%u: %s: value too long", file, line,
					    k->name);
		memcpy(base, val, strlen(val) + 1);
		return 0;
	case K_UINT: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(val, &end, 10);
		if (!isdigit((unsigned char)*val) || *end != '\0' || errno != 0 || v < k->min ||
		    v > k->max)
			return cc_error_set(
				err, 0, "%s:%u: %s: expected a number from %llu to %llu, got '%s'",
				file, line, k->name, (unsigned long long)k->min,
				(unsigned long long)k->max, val);
		if (k->size == sizeof(uint64_t))
			*(uint64_t *)base = v;
		else
			*(unsigned *)base = (unsigned)v;
		return 0;
	}
	case K_TEMPLATE:
		if (strcmp(val, "auto") != 0 && strcmp(val, "off") != 0)
			return cc_error_set(err, 0,
					    "%s:%u: template: expected auto or off, got '%s'", file,
					    line, val);
		memcpy(base, val, strlen(val) + 1);
		return 0;
	case K_LOGLEVEL: {
		int lvl = cc_log_parse_level(val);
		if (lvl < 0)
			return cc_error_set(
				err, 0,
				"%s:%u: log_level: expected error, warn, info or debug, got '%s'",
				file, line, val);
		*(int *)base = lvl;
		return 0;
	}
	}
	return 0;
}

int cc_config_parse(struct cc_config *cfg, const char *text, const char *file, struct cc_error *err)
{
	cleanup_free char *copy = strdup(text);
	if (copy == NULL)
		return cc_error_set(err, ENOMEM, "%s", file);
	unsigned line = 0;
	char *save = NULL;
	/* strtok_r would skip empty lines and so miscount; split by hand. */
	for (char *p = copy; p != NULL; p = save) {
		line++;
		save = strchr(p, '\n');
		if (save != NULL)
			*save++ = '\0';
		p += strspn(p, " \t\r");
		size_t n = strlen(p);
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			p[--n] = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		if (*p == '[')
			return cc_error_set(err, 0, "%s:%u: tables are not supported", file, line);
		char *eq = strchr(p, '=');
		if (eq == NULL)
			return cc_error_set(err, 0, "%s:%u: expected key = value", file, line);
		char *name = p, *v = eq + 1;
		*eq = '\0';
		size_t kn = strlen(name);
		while (kn > 0 && isspace((unsigned char)name[kn - 1]))
			name[--kn] = '\0';
		v += strspn(v, " \t");
		const struct key *k = NULL;
		for (size_t i = 0; i < CC_ARRAY_SIZE(keys); i++)
			if (strcmp(keys[i].name, name) == 0)
				k = &keys[i];
		if (k == NULL)
			return cc_error_set(err, 0, "%s:%u: unknown key '%s'", file, line, name);
		char *val;
		const char *why;
		if (parse_value(v, &val, &why) < 0)
			return cc_error_set(err, 0, "%s:%u: %s: %s", file, line, name, why);
		if (set_key(cfg, k, val, file, line, err) < 0)
			return -1;
	}
	return 0;
}

static int load_file(struct cc_config *cfg, const char *path, struct cc_error *err)
{
	cleanup_free char *text = NULL;
	if (cc_read_file(path, CONFIG_MAX_BYTES, &text, NULL, err) < 0)
		return cc_error_prefix(err, "config");
	if (cc_config_parse(cfg, text, path, err) < 0)
		return -1;
	snprintf(cfg->source, sizeof(cfg->source), "%s", path);
	return 0;
}

int cc_config_load(struct cc_config *cfg, const char *explicit_path, struct cc_error *err)
{
	char prefix[PATH_MAX];
	if (cc_install_prefix(prefix, sizeof(prefix), err) < 0)
		return -1;
	cc_config_defaults(cfg, prefix);

	const char *env = getenv("COCOON_CONFIG");
	int rc = 0;
	if (explicit_path != NULL) {
		rc = load_file(cfg, explicit_path, err);
	} else if (env != NULL && *env != '\0') {
		rc = load_file(cfg, env, err);
	} else {
		char p[PATH_MAX + 32];
		snprintf(p, sizeof(p), "%s/etc/cocoon/cocoon.conf", prefix);
		if (access(p, F_OK) == 0)
			rc = load_file(cfg, p, err);
		else if (access("/etc/cocoon/cocoon.conf", F_OK) == 0)
			rc = load_file(cfg, "/etc/cocoon/cocoon.conf", err);
	}
	if (rc < 0)
		return -1;

	const char *sd = getenv("COCOON_STATE_DIR");
	if (sd != NULL && *sd != '\0') {
		if (strlen(sd) >= sizeof(cfg->state_dir))
			return cc_error_set(err, 0, "COCOON_STATE_DIR is too long");
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", sd);
	}
	return 0;
}
