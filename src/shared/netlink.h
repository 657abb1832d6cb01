/* rtnetlink through libnl-route-3, the one netlink library of both sides (the agent's
 * guest NIC setup, the host's pod networking): a socket that keeps the kernel's errno
 * when it refuses a request, which names the failure better than libnl's own codes. */
#ifndef COCOON_NETLINK_H
#define COCOON_NETLINK_H

#include <netlink/netlink.h>
#include <stdbool.h>

#include "shared/error.h"

struct cc_nl {
	struct nl_sock *sk;
	int kerr; /* errno of the kernel's last refusal, 0 if none */
};

/* A NETLINK_ROUTE socket. */
int cc_nl_open(struct cc_nl *nl, struct cc_error *err);
void cc_nl_close(struct cc_nl *nl);
/* Before each request. */
static inline void cc_nl_begin(struct cc_nl *nl)
{
	nl->kerr = 0;
}
/* A libnl call's result: 0, or -1 with errno set to the kernel's refusal (ENOMEM or
 * EPROTO for a failure of libnl's own). */
int cc_nl_result(struct cc_nl *nl, int rc);

/* Renames a link (name != NULL), sets its MTU (mtu != 0) and its up flag; 0 or -1 with
 * errno set. */
int cc_nl_link_set(struct cc_nl *nl, int ifindex, const char *name, unsigned mtu, bool up);

#endif
