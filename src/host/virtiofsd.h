/* virtiofsd (the C one shipped with QEMU): one per sandbox, serving a directory to the
 * guest over a vhost-user socket. It runs with sandbox=namespace: its mount namespace is
 * a slave of ours, so bind mounts added later under a shared-propagation source appear
 * to the guest. */
#ifndef COCOON_VIRTIOFSD_H
#define COCOON_VIRTIOFSD_H

#include <sys/types.h>

#include "shared/error.h"

#define VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"

/* Starts binary (NULL: VIRTIOFSD_DEFAULT) serving source on socket_path and returns
 * once the socket exists, within timeout_ms. Its output goes to log_path. It joins the
 * cgroups whose cgroup.procs files are listed (NULL: none) before exec. */
int virtiofsd_start(const char *binary, const char *source, const char *socket_path,
		    const char *log_path, const char *const *cgroup_procs, int timeout_ms,
		    pid_t *pid, struct cc_error *err);
/* Stops and reaps it (it also exits by itself when the VMM disconnects). */
void virtiofsd_stop(pid_t *pid);

#endif
