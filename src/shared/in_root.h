/* Opening and creating paths inside a container rootfs without leaving it
 * (openat2 RESOLVE_IN_ROOT): used by the agent for mount points in the guest and by the
 * host for those of a rootfs it shares read-only. */
#ifndef COCOON_IN_ROOT_H
#define COCOON_IN_ROOT_H

#include "shared/error.h"

/* openat2(rootfd, path, flags | O_CLOEXEC) resolved inside rootfd, no magic links. */
int openat2_in(int rootfd, const char *path, int flags);
/* Opens `path` inside the rootfs (an O_PATH fd), creating missing directories and,
 * when `file` is set, a missing last component as an empty file. */
int open_in_root(int rootfd, const char *path, int file, struct cc_error *err);

#endif
