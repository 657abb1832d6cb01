#include "shared/mount_opts.h"

#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "shared/util.h"

struct mount_opt {
	const char *name;
	int clear;
	unsigned long flag;
};

static const struct mount_opt mount_opts[] = {
	{ "defaults", 0, 0 },
	{ "ro", 0, MS_RDONLY },
	{ "rw", 1, MS_RDONLY },
	{ "nosuid", 0, MS_NOSUID },
	{ "suid", 1, MS_NOSUID },
	{ "nodev", 0, MS_NODEV },
	{ "dev", 1, MS_NODEV },
	{ "noexec", 0, MS_NOEXEC },
	{ "exec", 1, MS_NOEXEC },
	{ "sync", 0, MS_SYNCHRONOUS },
	{ "async", 1, MS_SYNCHRONOUS },
	{ "dirsync", 0, MS_DIRSYNC },
	{ "mand", 0, MS_MANDLOCK },
	{ "nomand", 1, MS_MANDLOCK },
	{ "noatime", 0, MS_NOATIME },
	{ "atime", 1, MS_NOATIME },
	{ "nodiratime", 0, MS_NODIRATIME },
	{ "diratime", 1, MS_NODIRATIME },
	{ "relatime", 0, MS_RELATIME },
	{ "norelatime", 1, MS_RELATIME },
	{ "strictatime", 0, MS_STRICTATIME },
	{ "nostrictatime", 1, MS_STRICTATIME },
	{ "bind", 0, MS_BIND },
	{ "rbind", 0, MS_BIND | MS_REC },
	{ "private", 0, MS_PRIVATE },
	{ "rprivate", 0, MS_PRIVATE | MS_REC },
	{ "shared", 0, MS_SHARED },
	{ "rshared", 0, MS_SHARED | MS_REC },
	{ "slave", 0, MS_SLAVE },
	{ "rslave", 0, MS_SLAVE | MS_REC },
	{ "unbindable", 0, MS_UNBINDABLE },
	{ "runbindable", 0, MS_UNBINDABLE | MS_REC },
};

int mount_opts_parse(char *const *opts, size_t n, unsigned long *flags, unsigned long *prop,
		     char *data, size_t data_size, struct cc_error *err)
{
	size_t len = 0;
	*flags = *prop = 0;
	data[0] = '\0';
	for (size_t i = 0; opts != NULL && i < n && opts[i] != NULL; i++) {
		const struct mount_opt *o = NULL;
		for (size_t j = 0; j < CC_ARRAY_SIZE(mount_opts) && o == NULL; j++) {
			if (strcmp(opts[i], mount_opts[j].name) == 0)
				o = &mount_opts[j];
		}
		if (o == NULL) {
			int n = snprintf(data + len, data_size - len, "%s%s", len ? "," : "",
					 opts[i]);
			if (n < 0 || (size_t)n >= data_size - len)
				return cc_error_set(err, 0, "mount options too long");
			len += (size_t)n;
		} else if (o->flag & MOUNT_PROPAGATION) {
			*prop |= o->flag;
		} else if (o->clear) {
			*flags &= ~o->flag;
		} else {
			*flags |= o->flag;
		}
	}
	return 0;
}
