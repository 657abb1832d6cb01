/* Guest side of pod networking: applies a ConfigureNetworkRequest with rtnetlink, through
 * libnl-route-3 (shared/netlink.h) like the host's pod networking, linked statically. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "shared/log.h"
#include "shared/netlink.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"

#define NET_MAX_IFS 8
#define NET_MAX_ADDRS 16
#define NET_MAX_ROUTES 64

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= IF_NAMESIZE || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static bool valid_ip(const ProtobufCBinaryData *a, unsigned prefix)
{
	return (a->len == 4 && prefix <= 32) || (a->len == 16 && prefix <= 128);
}

int guest_net_validate(const Cocoon__Agent__V1__ConfigureNetworkRequest *r, struct cc_error *err)
{
	if (r->n_interfaces > NET_MAX_IFS || r->n_routes > NET_MAX_ROUTES)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "at most %d interfaces and %d routes", NET_MAX_IFS,
				     NET_MAX_ROUTES);
	for (size_t i = 0; i < r->n_interfaces; i++) {
		const Cocoon__Agent__V1__NetInterface *ni = r->interfaces[i];
		if (!valid_name(ni->name))
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "interface %zu: invalid name", i);
		if (ni->mac.len != 6)
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "interface %s: mac must be 6 bytes", ni->name);
		if (ni->guest_mac.len != 0 && ni->guest_mac.len != 6)
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "interface %s: guest_mac must be empty or 6 bytes",
					     ni->name);
		if (ni->mtu < 68 || ni->mtu > 65535)
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "interface %s: mtu %u out of 68..65535", ni->name,
					     ni->mtu);
		if (ni->n_addresses > NET_MAX_ADDRS)
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "interface %s: at most %d addresses", ni->name,
					     NET_MAX_ADDRS);
		for (size_t k = 0; k < ni->n_addresses; k++)
			if (!valid_ip(&ni->addresses[k]->addr, ni->addresses[k]->prefix_len))
				return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
						     "interface %s: address %zu invalid", ni->name,
						     k);
		for (size_t k = 0; k < i; k++)
			if (strcmp(r->interfaces[k]->name, ni->name) == 0 ||
			    memcmp(r->interfaces[k]->mac.data, ni->mac.data, 6) == 0)
				return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
						     "interface %s: name or mac repeated",
						     ni->name);
	}
	for (size_t i = 0; i < r->n_routes; i++) {
		const Cocoon__Agent__V1__NetRoute *rt = r->routes[i];
		bool known = false;
		for (size_t k = 0; k < r->n_interfaces; k++)
			known |= strcmp(r->interfaces[k]->name, rt->device) == 0;
		if (!known)
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "route %zu: unknown device", i);
		if (!valid_ip(&rt->dst, rt->dst_len) ||
		    (rt->gateway.len != 0 && rt->gateway.len != rt->dst.len))
			return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
					     "route %zu: invalid destination or gateway", i);
	}
	return 0;
}

/* The guest NIC the host gave this MAC. */
static int ifindex_by_mac(int fd, const uint8_t *mac)
{
	struct if_nameindex *all = if_nameindex();
	int found = 0;
	for (struct if_nameindex *p = all; p != NULL && p->if_index != 0; p++) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->if_name);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 &&
		    memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) == 0) {
			found = (int)p->if_index;
			break;
		}
	}
	if (all != NULL)
		if_freenameindex(all);
	return found;
}

static struct nl_addr *nl_address(int family, const ProtobufCBinaryData *a, unsigned prefix)
{
	struct nl_addr *r = nl_addr_build(family, a->data, a->len);
	if (r != NULL)
		nl_addr_set_prefixlen(r, (int)prefix);
	return r;
}

static int add_addr(struct cc_nl *nl, int ifindex, const Cocoon__Agent__V1__IPAddress *a)
{
	int family = a->addr.len == 4 ? AF_INET : AF_INET6;
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local = nl_address(family, &a->addr, a->prefix_len);
	int rc = -NLE_NOMEM;
	if (ra != NULL && local != NULL) {
		rtnl_addr_set_ifindex(ra, ifindex);
		rtnl_addr_set_family(ra, family);
		rc = rtnl_addr_set_local(ra, local); /* IFA_LOCAL and IFA_ADDRESS */
		rtnl_addr_set_prefixlen(ra, (int)a->prefix_len);
		/* No duplicate address detection: the address is CNI's, usable at once. */
		if (family == AF_INET6)
			rtnl_addr_set_flags(ra, IFA_F_NODAD);
		cc_nl_begin(nl);
		if (rc == 0)
			rc = rtnl_addr_add(nl->sk, ra, NLM_F_REPLACE);
	}
	nl_addr_put(local);
	rtnl_addr_put(ra);
	return cc_nl_result(nl, rc);
}

static int add_route(struct cc_nl *nl, int ifindex, const Cocoon__Agent__V1__NetRoute *rt)
{
	int family = rt->dst.len == 4 ? AF_INET : AF_INET6;
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	/* A default route carries no destination attribute. */
	struct nl_addr *dst =
		rt->dst_len > 0 ? nl_address(family, &rt->dst, rt->dst_len) : nl_addr_alloc(0);
	struct nl_addr *gw =
		rt->gateway.len ? nl_addr_build(family, rt->gateway.data, rt->gateway.len) : NULL;
	int rc = -NLE_NOMEM;
	if (r != NULL && nh != NULL && dst != NULL && (gw != NULL || rt->gateway.len == 0)) {
		nl_addr_set_family(dst, family);
		rtnl_route_set_family(r, (uint8_t)family);
		rc = rtnl_route_set_dst(r, dst);
		rtnl_route_set_table(r, RT_TABLE_MAIN);
		rtnl_route_set_protocol(r, RTPROT_BOOT);
		rtnl_route_set_scope(r, gw != NULL ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		rtnl_route_set_type(r, RTN_UNICAST);
		if (rt->metric)
			rtnl_route_set_priority(r, rt->metric);
		rtnl_route_nh_set_ifindex(nh, ifindex);
		if (gw != NULL)
			rtnl_route_nh_set_gateway(nh, gw);
		rtnl_route_add_nexthop(r, nh); /* the route owns it now */
		nh = NULL;
		cc_nl_begin(nl);
		if (rc == 0)
			rc = rtnl_route_add(nl->sk, r, NLM_F_REPLACE);
	}
	if (nh != NULL)
		rtnl_route_nh_free(nh);
	nl_addr_put(gw);
	nl_addr_put(dst);
	rtnl_route_put(r);
	return cc_nl_result(nl, rc);
}

static const char *ip_str(const ProtobufCBinaryData *a, char *buf, size_t len)
{
	return inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->data, buf, (socklen_t)len);
}

/* Renames, addresses and routes, in that order. */
static int configure(struct cc_nl *nl, int io, const Cocoon__Agent__V1__ConfigureNetworkRequest *r,
		     struct cc_error *err)
{
	int idx[NET_MAX_IFS];
	/* Two passes of renames: the host's names may be a permutation of the guest's. */
	for (size_t i = 0; i < r->n_interfaces; i++) {
		const Cocoon__Agent__V1__NetInterface *ni = r->interfaces[i];
		bool remac = ni->guest_mac.len == 6;
		idx[i] = ifindex_by_mac(io, remac ? ni->guest_mac.data : ni->mac.data);
		if (idx[i] == 0)
			return cc_error_set(err, ENODEV, "no guest NIC has the MAC of %s",
					    ni->name);
		char tmp[IF_NAMESIZE];
		snprintf(tmp, sizeof(tmp), "ccnet%u", (unsigned)i % NET_MAX_IFS);
		int rc = cc_nl_link_set(nl, idx[i], tmp, 0, false);
		if (rc < 0)
			return cc_error_set(err, errno, "rename guest NIC for %s", ni->name);
		if (remac) {
			struct ifreq ifr = { 0 };
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tmp);
			ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
			memcpy(ifr.ifr_hwaddr.sa_data, ni->mac.data, 6);
			if (ioctl(io, SIOCSIFHWADDR, &ifr) < 0)
				return cc_error_set(err, errno, "set the MAC of %s", ni->name);
		}
	}
	for (size_t i = 0; i < r->n_interfaces; i++) {
		const Cocoon__Agent__V1__NetInterface *ni = r->interfaces[i];
		int rc = cc_nl_link_set(nl, idx[i], ni->name, ni->mtu, true);
		if (rc < 0)
			return cc_error_set(err, errno, "set %s mtu %u up", ni->name, ni->mtu);
		for (size_t k = 0; k < ni->n_addresses; k++) {
			char s[INET6_ADDRSTRLEN];
			rc = add_addr(nl, idx[i], ni->addresses[k]);
			if (rc < 0)
				return cc_error_set(err, errno, "add address %s/%u to %s",
						    ip_str(&ni->addresses[k]->addr, s, sizeof(s)),
						    ni->addresses[k]->prefix_len, ni->name);
		}
	}
	/* On-link routes first: gateway routes need their gateway reachable. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->n_routes; i++) {
			const Cocoon__Agent__V1__NetRoute *rt = r->routes[i];
			if ((rt->gateway.len != 0) != (pass == 1))
				continue;
			size_t k = 0;
			while (strcmp(r->interfaces[k]->name, rt->device) != 0)
				k++; /* validated: the device exists */
			int rc = add_route(nl, idx[k], rt);
			if (rc < 0) {
				char d[INET6_ADDRSTRLEN];
				return cc_error_set(err, errno, "add route %s/%u dev %s",
						    ip_str(&rt->dst, d, sizeof(d)), rt->dst_len,
						    rt->device);
			}
		}
	}
	return 0;
}

int guest_net_configure(const Cocoon__Agent__V1__ConfigureNetworkRequest *r, struct cc_error *err)
{
	if (guest_net_validate(r, err) < 0)
		return -1;
	cleanup_close int io = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (io < 0)
		return cc_error_set(err, errno, "socket");
	struct cc_nl nl;
	if (cc_nl_open(&nl, err) < 0)
		return -1;
	int rc = configure(&nl, io, r, err);
	cc_nl_close(&nl);
	if (rc == 0)
		cc_info("network: %zu interfaces, %zu routes configured", r->n_interfaces,
			r->n_routes);
	return rc;
}
