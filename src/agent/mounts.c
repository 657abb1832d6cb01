/* The container's filesystem view, built in its new mount namespace: the rootfs
 * bind-mounted onto itself, the spec's mounts (destinations resolved inside the rootfs,
 * never through its symlinks to the outside), /dev device nodes, pivot_root (the
 * agent moved its own root off the initramfs at boot so that this works), then masked and read-only
 * paths and the read-only root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/container_priv.h"
#include "shared/agent_proto.h"
#include "shared/in_root.h"
#include "shared/mount_opts.h"
#include "shared/util.h"

static void fd_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

int mounts_prepare(const char *rootfs, struct cc_error *err)
{
	/* Nothing the container mounts may propagate back to the agent's view. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return cc_error_set(err, errno, "make / rslave");
	/* pivot_root needs the new root to be a mount point. */
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return cc_error_set(err, errno, "bind rootfs %s", rootfs);
	return 0;
}

int mounts_memory_volumes(const struct oci_spec *spec, struct cc_error *err)
{
	static const char prefix[] = SANDBOX_GUEST_MEMORY "/";
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct oci_mount *m = &spec->mounts[i];
		if (m->source == NULL || strncmp(m->source, prefix, sizeof(prefix) - 1) != 0)
			continue;
		const char *name = m->source + sizeof(prefix) - 1;
		unsigned long long size = 0;
		for (size_t j = 0; m->options != NULL && m->options[j] != NULL; j++)
			if (strncmp(m->options[j], SANDBOX_TMPFS_SIZE_OPT,
				    strlen(SANDBOX_TMPFS_SIZE_OPT)) == 0)
				size = strtoull(m->options[j] + strlen(SANDBOX_TMPFS_SIZE_OPT),
						NULL, 10);
		if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0 || size == 0)
			return cc_error_set(err, EINVAL, "mounts[%zu]: memory volume %s", i,
					    m->source);
		/* The pod's other containers share it: mounted once, in the agent's view. */
		struct stat dir, parent;
		if (stat(m->source, &dir) == 0 && stat(SANDBOX_GUEST_MEMORY, &parent) == 0 &&
		    dir.st_dev != parent.st_dev)
			continue;
		char data[64];
		snprintf(data, sizeof(data), "size=%llu,mode=0777", size);
		if (cc_mkdir_p(m->source, 0755, err) < 0 ||
		    mount("tmpfs", m->source, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
			return cc_error_set(err, errno, "mounts[%zu]: tmpfs %s (%s)", i, m->source,
					    data);
	}
	return 0;
}

static int mount_one(int rootfd, const struct oci_mount *m, struct cc_error *err)
{
	unsigned long flags, prop;
	char data[4096], target[64];
	if (mount_opts_parse(m->options, SIZE_MAX, &flags, &prop, data, sizeof(data), err) < 0)
		return -1;
	const char *type = m->type != NULL ? m->type : "none";
	int bind = (flags & MS_BIND) || strcmp(type, "bind") == 0;
	int file = 0;
	if (bind) {
		struct stat st;
		if (m->source == NULL || stat(m->source, &st) < 0)
			return cc_error_set(err, m->source ? errno : ENOENT, "bind source %s",
					    m->source ? m->source : "(none)");
		file = !S_ISDIR(st.st_mode);
		flags |= MS_BIND;
	}
	/* The guest runs cgroup v2 only. */
	if (strcmp(type, "cgroup") == 0) {
		type = "cgroup2";
		data[0] = '\0';
	}
	cleanup_close int fd = open_in_root(rootfd, m->destination, file, err);
	if (fd < 0)
		return -1;
	fd_path(target, sizeof(target), fd);
	if (bind) {
		if (mount(m->source, target, NULL, flags & (MS_BIND | MS_REC), NULL) < 0)
			return cc_error_set(err, errno, "bind %s", m->source);
		/* Flags other than MS_BIND|MS_REC need a remount of the new mount. */
		if (flags & ~(MS_BIND | MS_REC)) {
			cleanup_close int top = openat2_in(rootfd, m->destination, O_PATH);
			if (top < 0)
				return cc_error_set(err, errno, "reopen %s", m->destination);
			fd_path(target, sizeof(target), top);
			if (mount(NULL, target, NULL, flags | MS_REMOUNT | MS_BIND, NULL) < 0)
				return cc_error_set(err, errno, "remount bind %s", m->destination);
		}
	} else if (mount(m->source ? m->source : type, target, type, flags, data[0] ? data : NULL) <
		   0) {
		return cc_error_set(err, errno, "mount %s", type);
	}
	if (prop != 0) {
		cleanup_close int top = openat2_in(rootfd, m->destination, O_PATH);
		if (top < 0)
			return cc_error_set(err, errno, "reopen %s", m->destination);
		fd_path(target, sizeof(target), top);
		if (mount(NULL, target, NULL, prop, NULL) < 0)
			return cc_error_set(err, errno, "propagation of %s", m->destination);
	}
	return 0;
}

/* The minimal device set of the OCI spec, in a /dev the spec mounted as tmpfs. */
static int setup_dev(int rootfd, bool console, struct cc_error *err)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} devs[] = { { "null", 1, 3 },	 { "zero", 1, 5 },    { "full", 1, 7 },
		     { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },	 { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	cleanup_close int dev = openat2_in(rootfd, "/dev", O_DIRECTORY);
	if (dev < 0)
		return cc_error_set(err, errno, "open /dev in rootfs");
	for (size_t i = 0; i < CC_ARRAY_SIZE(devs); i++) {
		if (mknodat(dev, devs[i].name, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) <
			    0 &&
		    errno != EEXIST)
			return cc_error_set(err, errno, "mknod /dev/%s", devs[i].name);
		/* mknod honours the umask; the nodes must be usable by every user. */
		if (fchmodat(dev, devs[i].name, 0666, 0) < 0)
			return cc_error_set(err, errno, "chmod /dev/%s", devs[i].name);
	}
	for (size_t i = 0; i < CC_ARRAY_SIZE(links); i++) {
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
			return cc_error_set(err, errno, "symlink /dev/%s", links[i][1]);
	}
	/* The terminal is bound here after pivot_root, once its pty exists. */
	if (console) {
		cleanup_close int c = open_in_root(rootfd, "/dev/console", 1, err);
		if (c < 0)
			return -1;
	}
	return 0;
}

/* Device nodes of the guest that are the agent's, not a container's: its channel to
 * the host (virtio-serial ports) and the VM console. */
static bool agent_device(const char *name)
{
	return strncmp(name, "vport", 5) == 0 || strcmp(name, "console") == 0 ||
	       strncmp(name, "hvc", 3) == 0 || strcmp(name, "ptmx") == 0;
}

/* Every device node of the guest's devtmpfs (`from`, one level of subdirectories such
 * as /dev/net) recreated in the container's /dev (`to`): a privileged container gets
 * the VM's devices, as runc gives the host's. Mount points (pts, shm, mqueue) are not
 * devtmpfs and are skipped. */
static int copy_devices(int from, int to, int depth, struct cc_error *err)
{
	struct stat top;
	int dupfd = dup(from);
	DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
	struct dirent *e;

	if (d == NULL) {
		if (dupfd >= 0)
			close(dupfd);
		return cc_error_set(err, errno, "read the guest's /dev");
	}
	if (fstat(from, &top) < 0) {
		closedir(d);
		return cc_error_set(err, errno, "stat the guest's /dev");
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' || agent_device(e->d_name) ||
		    fstatat(from, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_dev != top.st_dev)
			continue;
		if (S_ISDIR(st.st_mode) && depth > 0) {
			cleanup_close int sub =
				openat(from, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub < 0 ||
			    (mkdirat(to, e->d_name, st.st_mode & 07777) < 0 && errno != EEXIST))
				continue;
			cleanup_close int tsub = openat(
				to, e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (tsub >= 0 && copy_devices(sub, tsub, depth - 1, err) < 0) {
				closedir(d);
				return -1;
			}
			continue;
		}
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			continue;
		if (mknodat(to, e->d_name, st.st_mode, st.st_rdev) < 0) {
			if (errno == EEXIST)
				continue;
			closedir(d);
			return cc_error_set(err, errno, "mknod /dev/%s", e->d_name);
		}
		if (fchmodat(to, e->d_name, st.st_mode & 07777, 0) < 0 ||
		    fchownat(to, e->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
			closedir(d);
			return cc_error_set(err, errno, "chmod /dev/%s", e->d_name);
		}
	}
	closedir(d);
	return 0;
}

static int guest_devices(int rootfd, struct cc_error *err)
{
	cleanup_close int from = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int to = openat2_in(rootfd, "/dev", O_PATH | O_DIRECTORY);
	if (from < 0 || to < 0)
		return cc_error_set(err, errno, "open /dev");
	return copy_devices(from, to, 1, err);
}

int mounts_apply(const struct oci_spec *spec, const char *rootfs, bool console,
		 struct cc_error *err)
{
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int dev_tmpfs = 0;
	if (rootfd < 0)
		return cc_error_set(err, errno, "open rootfs %s", rootfs);
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct oci_mount *m = &spec->mounts[i];
		if (mount_one(rootfd, m, err) < 0)
			return cc_error_prefix(err, "mounts[%zu] (%s)", i, m->destination);
		if (strcmp(m->destination, "/dev") == 0)
			dev_tmpfs = m->type != NULL && strcmp(m->type, "tmpfs") == 0;
	}
	if (dev_tmpfs && setup_dev(rootfd, console, err) < 0)
		return -1;
	if (dev_tmpfs && spec->resources.devices_allow_all && guest_devices(rootfd, err) < 0)
		return cc_error_prefix(err, "privileged: the guest's devices");
	return 0;
}

int mounts_pivot(const char *rootfs, struct cc_error *err)
{
	if (chdir(rootfs) < 0)
		return cc_error_set(err, errno, "chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return cc_error_set(err, errno, "pivot_root %s", rootfs);
	/* The old root is now stacked under "."; detach it. */
	if (umount2(".", MNT_DETACH) < 0)
		return cc_error_set(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return cc_error_set(err, errno, "chdir /");
	return 0;
}

static int mask_path(const char *path, struct cc_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : cc_error_set(err, errno, "mask %s", path);
	int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k")
				    : mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (r < 0)
		return cc_error_set(err, errno, "mask %s", path);
	return 0;
}

static int readonly_path(const char *path, struct cc_error *err)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : cc_error_set(err, errno, "bind %s", path);
	if (mount(NULL, path, NULL,
		  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return cc_error_set(err, errno, "make %s read-only", path);
	return 0;
}

int mounts_finish(const struct oci_spec *spec, struct cc_error *err)
{
	for (char **p = spec->masked_paths; p != NULL && *p != NULL; p++) {
		if (mask_path(*p, err) < 0)
			return -1;
	}
	for (char **p = spec->readonly_paths; p != NULL && *p != NULL; p++) {
		if (readonly_path(*p, err) < 0)
			return -1;
	}
	if (spec->root_readonly &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return cc_error_set(err, errno, "make the root read-only");
	return 0;
}
