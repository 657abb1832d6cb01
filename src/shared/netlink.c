#include "shared/netlink.h"

#include <errno.h>
#include <net/if.h>
#include <netlink/route/link.h>

#include "shared/log.h"

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	(void)nla;
	*(int *)arg = -e->error;
	return NL_STOP;
}

int cc_nl_open(struct cc_nl *nl, struct cc_error *err)
{
	nl->kerr = 0;
	nl->sk = nl_socket_alloc();
	if (nl->sk == NULL)
		return cc_error_set(err, ENOMEM, "netlink socket");
	int rc = nl_connect(nl->sk, NETLINK_ROUTE);
	if (rc == 0)
		rc = nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, on_error, &nl->kerr);
	if (rc < 0) {
		cc_nl_close(nl);
		return cc_error_set(err, 0, "netlink socket: %s", nl_geterror(rc));
	}
	return 0;
}

void cc_nl_close(struct cc_nl *nl)
{
	if (nl->sk != NULL)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
}

int cc_nl_result(struct cc_nl *nl, int rc)
{
	if (rc >= 0)
		return 0;
	if (nl->kerr != 0) {
		errno = nl->kerr;
	} else {
		cc_debug("netlink: %s", nl_geterror(rc));
		errno = rc == -NLE_NOMEM ? ENOMEM : EPROTO;
	}
	return -1;
}

int cc_nl_link_set(struct cc_nl *nl, int ifindex, const char *name, unsigned mtu, bool up)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *change = rtnl_link_alloc();
	int rc = -NLE_NOMEM;
	if (orig != NULL && change != NULL) {
		rtnl_link_set_ifindex(orig, ifindex);
		if (name != NULL)
			rtnl_link_set_name(change, name);
		if (mtu != 0)
			rtnl_link_set_mtu(change, mtu);
		if (up)
			rtnl_link_set_flags(change, IFF_UP);
		else
			rtnl_link_unset_flags(change, IFF_UP);
		cc_nl_begin(nl);
		rc = rtnl_link_change(nl->sk, orig, change, 0);
	}
	rtnl_link_put(orig);
	rtnl_link_put(change);
	return cc_nl_result(nl, rc);
}
