/* Paths inside a container rootfs, resolved the way the kernel would resolve them with
 * the rootfs as "/": symbolic links (the image's, or the guest's) never lead outside. */
#include "shared/in_root.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shared/util.h"

int openat2_in(int rootfd, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

int open_in_root(int rootfd, const char *path, int file, struct cc_error *err)
{
	int fd = openat2_in(rootfd, path, O_PATH);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : cc_error_set(err, errno, "open %s in rootfs", path);
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return cc_error_set(err, ENAMETOOLONG, "%s", path);
	for (char *p = buf; p != NULL;) {
		while (*p == '/')
			p++;
		char *next = strchr(p, '/');
		if (next != NULL)
			*next = '\0';
		cleanup_close int cur = openat2_in(rootfd, buf, O_PATH);
		if (cur < 0 && errno == ENOENT) {
			char *slash = strrchr(buf, '/');
			const char *name = slash != NULL ? slash + 1 : buf;
			cleanup_close int parent = -1;
			if (slash != NULL) {
				*slash = '\0';
				parent = openat2_in(rootfd, buf[0] ? buf : "/",
						    O_PATH | O_DIRECTORY);
				*slash = '/';
			} else {
				parent = openat2_in(rootfd, "/", O_PATH | O_DIRECTORY);
			}
			if (parent < 0)
				return cc_error_set(err, errno, "open parent of %s in rootfs", buf);
			int r;
			if (file && next == NULL) {
				r = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
					   0644);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(parent, name, 0755);
			}
			if (r < 0 && errno != EEXIST)
				return cc_error_set(err, errno, "create %s in rootfs", buf);
		} else if (cur < 0) {
			return cc_error_set(err, errno, "open %s in rootfs", buf);
		}
		if (next != NULL)
			*next = '/';
		p = next;
	}
	fd = openat2_in(rootfd, path, O_PATH);
	return fd >= 0 ? fd : cc_error_set(err, errno, "open %s in rootfs", path);
}
