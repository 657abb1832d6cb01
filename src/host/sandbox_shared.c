/* The sandbox's shared directory: the small tmpfs virtiofsd exports to the guest, and
 * the shares (a container's rootfs, a volume) moved onto it; docs/security.md says why
 * each step is done the way it is. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/sandbox.h"
#include "host/sandbox_priv.h"
#include "shared/util.h"

#define SHARED_DIR_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define SHARED_DIR_OPTS "size=64k,nr_inodes=4096,mode=0755"

/* The share root is a small tmpfs of the sandbox's own, so nothing done there lands on
 * the host's /run. The guest sees it read-only (it can neither fill it nor plant links
 * between our mkdir and mount); the host makes mount points through a second, writable
 * mount of the same tmpfs that is detached (in no namespace, so virtiofsd never sees it)
 * and lives only as sb->shared_rw_fd. <dir>/shared is made shared so that shares moved
 * in after virtiofsd started still propagate into its (slave) namespace. */
int sandbox_mount_shared_dir(struct sandbox *sb, struct cc_error *err)
{
	if (mkdir(sb->shared_dir, 0700) < 0)
		return cc_error_set(err, errno, "mkdir %s", sb->shared_dir);
	if (mount("cocoon-shared", sb->shared_dir, "tmpfs", SHARED_DIR_FLAGS, SHARED_DIR_OPTS) < 0)
		return cc_error_set(err, errno, "mount a tmpfs on %s", sb->shared_dir);
	sb->shared_rw_fd =
		(int)open_tree(AT_FDCWD, sb->shared_dir,
			       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (sb->shared_rw_fd < 0)
		return cc_error_set(err, errno, "clone the mount of %s", sb->shared_dir);
	if (mount(NULL, sb->shared_dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | SHARED_DIR_FLAGS,
		  NULL) < 0)
		return cc_error_set(err, errno, "make %s read-only", sb->shared_dir);
	if (mount(NULL, sb->shared_dir, NULL, MS_SHARED, NULL) < 0)
		return cc_error_set(err, errno, "make %s shared", sb->shared_dir);
	sb->shared_fd = open(sb->shared_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sb->shared_fd < 0)
		return cc_error_set(err, errno, "open %s", sb->shared_dir);
	return 0;
}

static int check_share_name(const char *name, struct cc_error *err)
{
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL ||
	    strlen(name) > NAME_MAX)
		return cc_error_set(err, 0, "invalid share name '%s'", name);
	return 0;
}

/* The share is built where nobody else can see it: a detached copy of host_path (with
 * what is mounted below it), made read-only there when asked, recursively, and only
 * then moved onto its mount point. A read-only flag set after the mount had propagated
 * would not reach virtiofsd's copy, which would go on writing through. */
int sandbox_share(struct sandbox *sb, const char *host_path, const char *name, bool readonly,
		  char *guest_path, size_t guest_path_len, struct cc_error *err)
{
	if (check_share_name(name, err) < 0)
		return -1;
	if ((size_t)snprintf(guest_path, guest_path_len, "%s/%s", SANDBOX_GUEST_SHARED, name) >=
	    guest_path_len)
		return cc_error_set(err, ENAMETOOLONG, "%s", name);
	/* MS_REC's equivalent: the container sees what is mounted below its rootfs too. */
	cleanup_close int tree = (int)open_tree(AT_FDCWD, host_path,
						OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return cc_error_set(err, errno, "%s", host_path);
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (readonly && mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		return cc_error_set(err, errno, "make %s read-only", host_path);
	struct stat st;
	if (fstat(tree, &st) < 0)
		return cc_error_set(err, errno, "%s", host_path);
	/* Through the writable mount of the share root: the guest's view of it is read-only. */
	bool dir = S_ISDIR(st.st_mode);
	if ((dir ? mkdirat(sb->shared_rw_fd, name, 0755)
		 : mknodat(sb->shared_rw_fd, name, S_IFREG | 0644, 0)) < 0)
		return cc_error_set(err, errno, "create the mount point %s/%s", sb->shared_dir,
				    name);
	cleanup_close int point = openat(sb->shared_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (point < 0 || move_mount(tree, "", point, "",
				    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int e = errno;
		unlinkat(sb->shared_rw_fd, name, dir ? AT_REMOVEDIR : 0);
		return cc_error_set(err, e, "mount %s on %s/%s", host_path, sb->shared_dir, name);
	}
	return 0;
}

int sandbox_unshare(struct sandbox *sb, const char *name, struct cc_error *err)
{
	if (check_share_name(name, err) < 0)
		return -1;
	char target[4400];
	snprintf(target, sizeof(target), "%s/%s", sb->shared_dir, name);
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return cc_error_set(err, errno, "unmount %s", target);
	if (unlinkat(sb->shared_rw_fd, name, AT_REMOVEDIR) < 0 &&
	    (errno != ENOTDIR || unlinkat(sb->shared_rw_fd, name, 0) < 0))
		return cc_error_set(err, errno, "remove %s", target);
	return 0;
}
