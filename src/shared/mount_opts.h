/* mount(8)-style options (an OCI spec's mounts in the guest, containerd's rootfs mounts
 * on the host) split into mount(2) flags, propagation flags and the filesystem's data. */
#ifndef COCOON_MOUNT_OPTS_H
#define COCOON_MOUNT_OPTS_H

#include <stddef.h>

#include "shared/error.h"

#define MOUNT_PROPAGATION (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)

/* opts: up to n entries, or until a NULL one. Options that are not flags go, comma
 * separated, into data; fails when they do not fit in data_size. */
int mount_opts_parse(char *const *opts, size_t n, unsigned long *flags, unsigned long *prop,
		     char *data, size_t data_size, struct cc_error *err);

#endif
