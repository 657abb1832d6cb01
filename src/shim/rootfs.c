/* The container's root filesystem on the host: containerd's rootfs mounts (an overlay
 * from the snapshotter, or a bind of a directory) stacked on <bundle>/rootfs, and their
 * removal. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>

#include "shared/mount_opts.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "shim/shim.h"

/* containerd's rootfs mounts (overlay from the snapshotter, or a bind of a directory)
 * stacked on target, like containerd's mount.All. */
int shim_rootfs_mount(Containerd__Types__Mount **mounts, size_t n, const char *target,
		      struct cc_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const Containerd__Types__Mount *m = mounts[i];
		unsigned long flags, prop; /* propagation: the shim's mount namespace decides */
		char data[8192];

		if (mount_opts_parse(m->options, m->n_options, &flags, &prop, data, sizeof(data),
				     err) < 0) {
			err->code = TTRPC_INVALID_ARGUMENT;
			return cc_error_prefix(err, "rootfs");
		}
		size_t dlen = strlen(data);
		const char *type = m->type && *m->type ? m->type : NULL;
		if (flags & MS_BIND)
			type = NULL;
		if (mount(m->source, target, type, flags & ~MS_RDONLY, dlen ? data : NULL) < 0)
			return cc_error_set(err, errno, "mounting rootfs %s (%s) on %s", m->source,
					    m->type, target);
		if ((flags & MS_BIND) && (flags & MS_RDONLY) &&
		    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			return cc_error_set(err, errno, "remounting rootfs %s read-only", target);
		if (!(flags & MS_BIND) && (flags & MS_RDONLY) &&
		    mount(NULL, target, NULL, MS_REMOUNT | flags, dlen ? data : NULL) < 0)
			return cc_error_set(err, errno, "remounting rootfs %s read-only", target);
	}
	return 0;
}

void shim_rootfs_umount(const char *bundle)
{
	cleanup_free char *target = cc_strdup_printf("%s/rootfs", bundle);
	/* Stacked mounts: peel until nothing is mounted there. */
	for (int i = 0; target && i < 16 && umount2(target, MNT_DETACH) == 0; i++)
		;
}
