/* PID 1 duties inside the VM: the filesystems every container and the agent rely on,
 * cgroup v2 with its controllers delegated, the shared virtio-fs directory, loopback,
 * the kernel command line, and ending the VM. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "shared/agent_proto.h"
#include "shared/log.h"
#include "shared/util.h"

void guest_parse_cmdline(const char *cmdline, struct guest_cmdline *out)
{
	out->channel = CHANNEL_SERIAL;
	out->debug = false;
	out->template = false;
	const char *p = cmdline;
	while (*p != '\0') {
		size_t n = strcspn(p, " \t\n");
		if (n == strlen("cocoon.channel=vsock") &&
		    strncmp(p, "cocoon.channel=vsock", n) == 0)
			out->channel = CHANNEL_VSOCK;
		else if (n == strlen("cocoon.channel=serial") &&
			 strncmp(p, "cocoon.channel=serial", n) == 0)
			out->channel = CHANNEL_SERIAL;
		else if (n == strlen("cocoon.debug=1") && strncmp(p, "cocoon.debug=1", n) == 0)
			out->debug = true;
		else if (n == strlen("cocoon.template=1") &&
			 strncmp(p, "cocoon.template=1", n) == 0)
			out->template = true;
		p += n;
		p += strspn(p, " \t\n");
	}
}

struct guest_mount {
	const char *src, *dst, *type;
	unsigned long flags;
	const char *data;
};

static const struct guest_mount guest_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620,gid=5" },
	{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate" },
};

static int mount_one(const struct guest_mount *m, struct cc_error *err)
{
	if (mkdir(m->dst, 0755) < 0 && errno != EEXIST)
		return cc_error_set(err, errno, "mkdir %s", m->dst);
	if (mount(m->src, m->dst, m->type, m->flags, m->data) < 0) {
		/* The kernel may have mounted devtmpfs itself (CONFIG_DEVTMPFS_MOUNT). */
		if (errno == EBUSY && strcmp(m->type, "devtmpfs") == 0)
			return 0;
		return cc_error_set(err, errno, "mount %s on %s", m->type, m->dst);
	}
	return 0;
}

/* Containers get their own cgroups below the root, so the root hands them the
 * controllers. One write per controller: a kernel without one still gets the rest. */
static void enable_controllers(void)
{
	static const char *const ctrls[] = { "+cpu", "+memory", "+pids", "+cpuset", "+io" };
	for (size_t i = 0; i < CC_ARRAY_SIZE(ctrls); i++) {
		struct cc_error err;
		if (cc_write_file("/sys/fs/cgroup/cgroup.subtree_control", ctrls[i],
				  strlen(ctrls[i]), 0644, &err) < 0)
			cc_warn("cgroup controller %s: %s", ctrls[i] + 1, err.msg);
	}
}

static int loopback_up(struct cc_error *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cc_error_set(err, errno, "socket for lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return cc_error_set(err, errno, "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return cc_error_set(err, errno, "SIOCSIFFLAGS lo");
	return 0;
}

/* The initramfs is the root of the mount tree, which pivot_root cannot move away
 * from; containers then could only chroot, which a process with CAP_SYS_CHROOT can
 * escape. A tmpfs moved over it becomes a root pivot_root can leave. The agent needs
 * no file of the initramfs after this. */
static int reroot_on_tmpfs(struct cc_error *err)
{
	if (mkdir("/root.tmp", 0755) < 0 && errno != EEXIST)
		return cc_error_set(err, errno, "mkdir /root.tmp");
	if (mount("rootfs", "/root.tmp", "tmpfs", 0, "mode=0755") < 0)
		return cc_error_set(err, errno, "mount tmpfs on /root.tmp");
	if (chdir("/root.tmp") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		return cc_error_set(err, errno, "move the root onto a tmpfs");
	return 0;
}

int guest_setup(struct cc_error *err)
{
	if (reroot_on_tmpfs(err) < 0)
		return -1;
	for (size_t i = 0; i < CC_ARRAY_SIZE(guest_mounts); i++)
		if (mount_one(&guest_mounts[i], err) < 0)
			return -1;
	/* /dev/ptmx of devtmpfs would open the initial devpts instance, not ours. */
	unlink("/dev/ptmx");
	if (symlink("pts/ptmx", "/dev/ptmx") < 0)
		return cc_error_set(err, errno, "symlink /dev/ptmx");
	enable_controllers();
	if (cc_mkdir_p(SANDBOX_GUEST_SHARED, 0755, err) < 0)
		return -1;
	if (loopback_up(err) < 0)
		return -1;
	return 0;
}

int guest_mount_shared(struct cc_error *err)
{
	struct stat dir, parent;
	/* Mounted already (at boot, or by an earlier MountShared): the mount point's device
	 * differs from its parent's. */
	if (stat(SANDBOX_GUEST_SHARED, &dir) < 0 || stat(SANDBOX_GUEST_SHARED "/..", &parent) < 0)
		return cc_error_set(err, errno, "stat %s", SANDBOX_GUEST_SHARED);
	if (dir.st_dev != parent.st_dev)
		return 0;
	/* Not nosuid: container rootfs and volumes are binds of it, and setuid binaries in
	 * them (sudo, su, ping) work as under runc, inside the VM; a spec mount with
	 * "nosuid" and no_new_privs (allowPrivilegeEscalation: false) still stop them. */
	if (mount(SANDBOX_FS_TAG, SANDBOX_GUEST_SHARED, "virtiofs", MS_NODEV, NULL) < 0)
		return cc_error_set(err, errno, "mount virtiofs %s on %s", SANDBOX_FS_TAG,
				    SANDBOX_GUEST_SHARED);
	return 0;
}

/* QEMU microvm with acpi=off has no way for the guest to power off, so the VM ends by
 * rebooting: the host starts QEMU with -no-reboot (a reset exits QEMU) and the kernel
 * with reboot=t (triple fault, which needs no device). RB_POWER_OFF would only halt the
 * CPUs and leave QEMU running. */
void guest_power_off(void)
{
	/* Containers are gone by now; flush what went to the shared directory. */
	sync();
	if (umount2(SANDBOX_GUEST_SHARED, MNT_DETACH) < 0 && errno != EINVAL)
		cc_warn("umount %s: %s", SANDBOX_GUEST_SHARED, strerror(errno));
	sync();
	reboot(RB_AUTOBOOT);
	/* Only reached without CAP_SYS_BOOT; PID 1 must not exit (that panics). */
	for (;;)
		pause();
}
