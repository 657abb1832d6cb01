/* Host bind mounts of an OCI spec (CRI's /etc/hosts, /etc/resolv.conf, hostname, volumes;
 * `cocoon run --bundle` mounts) reach the guest through the shared directory: each
 * source is shared into the sandbox and the spec points at its guest path instead. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "shared/in_root.h"
#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/util.h"

static bool is_bind(json_object *m)
{
	json_object *v;
	if (json_object_object_get_ex(m, "type", &v) &&
	    strcmp(json_object_get_string(v), "bind") == 0)
		return true;
	if (!json_object_object_get_ex(m, "options", &v) ||
	    !json_object_is_type(v, json_type_array))
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
	if (!json_object_object_get_ex(m, "options", &v) ||
	    !json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(v, i));
		if (o != NULL && strcmp(o, opt) == 0)
			return true;
	}
	return false;
}

static int share_name(char *name, size_t len, const char *prefix, size_t k, struct cc_error *err)
{
	int n = snprintf(name, len, "%s%zu", prefix, k);
	if (n < 0 || (size_t)n >= len)
		return cc_error_set(err, ENAMETOOLONG, "share name %s%zu", prefix, k);
	return 0;
}

/* kubelet's emptyDir with medium: Memory is a tmpfs it mounts at
 * <pod dir>/volumes/kubernetes.io~empty-dir/<name>. Its name and size when host is one. */
static bool memory_emptydir(const char *host, const char **name, uint64_t *size)
{
	static const char dir[] = "/volumes/kubernetes.io~empty-dir/";
	const char *base = strrchr(host, '/') + 1;
	struct statfs fs;
	if ((size_t)(base - host) < sizeof(dir) - 1 ||
	    strncmp(base - (sizeof(dir) - 1), dir, sizeof(dir) - 1) != 0 || base[0] == '\0' ||
	    strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strlen(base) > NAME_MAX ||
	    statfs(host, &fs) < 0 || fs.f_type != TMPFS_MAGIC)
		return false;
	*name = base;
	*size = (uint64_t)fs.f_blocks * (uint64_t)fs.f_bsize;
	return true;
}

/* The mount m is the guest's tmpfs SANDBOX_GUEST_MEMORY/name of that size instead. */
static void to_guest_tmpfs(json_object *m, const char *name, uint64_t size)
{
	char guest[sizeof(SANDBOX_GUEST_MEMORY) + NAME_MAX + 1], opt[64];
	snprintf(guest, sizeof(guest), "%s/%s", SANDBOX_GUEST_MEMORY, name);
	snprintf(opt, sizeof(opt), "%s%llu", SANDBOX_TMPFS_SIZE_OPT, (unsigned long long)size);
	json_object_object_add(m, "source", json_object_new_string(guest));
	json_object *opts;
	if (!json_object_object_get_ex(m, "options", &opts) ||
	    !json_object_is_type(opts, json_type_array)) {
		opts = json_object_new_array();
		json_object_object_add(m, "options", opts);
	}
	json_object_array_add(opts, json_object_new_string(opt));
}

void sandbox_unshare_spec_mounts(struct sandbox *sb, const char *prefix, size_t n)
{
	char name[NAME_MAX + 1];
	struct cc_error err = { 0 };

	for (size_t k = 0; k < n; k++)
		if (share_name(name, sizeof(name), prefix, k, &err) < 0 ||
		    sandbox_unshare(sb, name, &err) < 0)
			cc_warn("unshare mount %zu: %s", k, err.msg);
}

int sandbox_share_spec_mounts(struct sandbox *sb, json_object *spec, const char *prefix,
			      struct cc_error *err)
{
	json_object *mounts;
	size_t shared = 0;
	if (!json_object_object_get_ex(spec, "mounts", &mounts) ||
	    !json_object_is_type(mounts, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(mounts); i++) {
		json_object *m = json_object_array_get_idx(mounts, i), *src;
		if (!json_object_is_type(m, json_type_object) || !is_bind(m) ||
		    !json_object_object_get_ex(m, "source", &src))
			continue;
		const char *host = json_object_get_string(src);
		char name[NAME_MAX + 1], guest[4096];
		if (host == NULL || host[0] != '/') {
			cc_error_set(err, 0, "mount %zu: bind source must be an absolute path", i);
			goto fail;
		}
		const char *vol;
		uint64_t size;
		if (memory_emptydir(host, &vol, &size)) {
			cc_debug("mount %zu: %s is a memory emptyDir: a tmpfs of %llu bytes in the "
				 "guest",
				 i, host, (unsigned long long)size);
			to_guest_tmpfs(m, vol, size);
			continue;
		}
		if (share_name(name, sizeof(name), prefix, shared, err) < 0 ||
		    sandbox_share(sb, host, name, has_option(m, "ro"), guest, sizeof(guest), err) <
			    0) {
			cc_error_prefix(err, "mount %zu (%s)", i, host);
			goto fail;
		}
		shared++;
		json_object_object_add(m, "source", json_object_new_string(guest));
	}
	return (int)shared;
fail:
	sandbox_unshare_spec_mounts(sb, prefix, shared);
	return -1;
}

int sandbox_make_mountpoints(const char *rootfs, json_object *spec, struct cc_error *err)
{
	json_object *mounts;
	if (!json_object_object_get_ex(spec, "mounts", &mounts) ||
	    !json_object_is_type(mounts, json_type_array))
		return 0;
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cc_error_set(err, errno, "rootfs %s", rootfs);
	for (size_t i = 0; i < json_object_array_length(mounts); i++) {
		json_object *m = json_object_array_get_idx(mounts, i), *dst, *src;
		if (!json_object_is_type(m, json_type_object) ||
		    !json_object_object_get_ex(m, "destination", &dst) ||
		    !json_object_is_type(dst, json_type_string))
			continue;
		/* A file bind mount needs a file to mount on, anything else a directory. */
		struct stat st;
		bool file = is_bind(m) && json_object_object_get_ex(m, "source", &src) &&
			    stat(json_object_get_string(src), &st) == 0 && !S_ISDIR(st.st_mode);
		int fd = open_in_root(rootfd, json_object_get_string(dst), file, err);
		if (fd < 0)
			return cc_error_prefix(err, "mount point %zu in %s", i, rootfs);
		close(fd);
	}
	return 0;
}
