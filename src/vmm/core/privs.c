/* Started as root (a tap to attach, files owned by root), the VMM needs no capability
 * once /dev/kvm, the disks, the taps and the sockets are open: CAP_NET_ADMIN,
 * CAP_DAC_OVERRIDE, CAP_SYS_ADMIN... are dropped before any guest code runs, so a guest
 * that took over the VMM holds only its open fds, under the seccomp filters. */
#include "vmm/core/privs.h"

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int privs_drop(struct cc_error *err)
{
	cap_t none = cap_init(); /* all sets empty */
	if (none == NULL)
		return cc_error_set(err, errno, "cap_init");
	int rc = cap_set_proc(none);
	cap_free(none);
	if (rc < 0)
		return cc_error_set(err, errno, "dropping capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cc_error_set(err, errno, "PR_SET_NO_NEW_PRIVS");
	return 0;
}
