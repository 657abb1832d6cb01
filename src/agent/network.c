/* Guest side of pod networking: applies a ConfigureNetworkRequest with rtnetlink.
 * Raw NETLINK_ROUTE messages rather than libmnl: the agent is static and Debian ships
 * no libmnl.a; the few request types needed fit in this file. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/agent.pb-c.h"

#define NET_MAX_IFS 8
#define NET_MAX_ADDRS 16
#define NET_MAX_ROUTES 64

struct nlreq {
	struct nlmsghdr h;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rtm;
	};
	char attrs[512];
};

static void nl_init(struct nlreq *r, uint16_t type, uint16_t flags, size_t body)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(body);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

static void nl_attr(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends one request and returns the kernel's answer as 0 or -errno. */
static int nl_call(int fd, struct nlreq *r)
{
	static uint32_t seq;
	r->h.nlmsg_seq = ++seq;
	if (send(fd, r, r->h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		size_t len = (size_t)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				return -EPROTO;
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

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

static int set_link(int fd, int ifindex, const char *name, unsigned mtu, bool up)
{
	struct nlreq r;
	nl_init(&r, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
	r.ifi.ifi_family = AF_UNSPEC;
	r.ifi.ifi_index = ifindex;
	r.ifi.ifi_change = IFF_UP;
	r.ifi.ifi_flags = up ? IFF_UP : 0;
	if (name != NULL)
		nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	if (mtu != 0)
		nl_attr(&r, IFLA_MTU, &mtu, sizeof(mtu));
	return nl_call(fd, &r);
}

static int add_addr(int fd, int ifindex, const Cocoon__Agent__V1__IPAddress *a)
{
	struct nlreq r;
	nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(struct ifaddrmsg));
	r.ifa.ifa_family = a->addr.len == 4 ? AF_INET : AF_INET6;
	r.ifa.ifa_prefixlen = (unsigned char)a->prefix_len;
	r.ifa.ifa_index = (unsigned)ifindex;
	/* No duplicate address detection: the address is CNI's, usable at once. */
	r.ifa.ifa_flags = a->addr.len == 16 ? IFA_F_NODAD : 0;
	nl_attr(&r, IFA_LOCAL, a->addr.data, a->addr.len);
	nl_attr(&r, IFA_ADDRESS, a->addr.data, a->addr.len);
	return nl_call(fd, &r);
}

static int add_route(int fd, int ifindex, const Cocoon__Agent__V1__NetRoute *rt)
{
	struct nlreq r;
	nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(struct rtmsg));
	r.rtm.rtm_family = rt->dst.len == 4 ? AF_INET : AF_INET6;
	r.rtm.rtm_dst_len = (unsigned char)rt->dst_len;
	r.rtm.rtm_table = RT_TABLE_MAIN;
	r.rtm.rtm_protocol = RTPROT_BOOT;
	r.rtm.rtm_scope = rt->gateway.len ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	r.rtm.rtm_type = RTN_UNICAST;
	if (rt->dst_len > 0)
		nl_attr(&r, RTA_DST, rt->dst.data, rt->dst.len);
	if (rt->gateway.len)
		nl_attr(&r, RTA_GATEWAY, rt->gateway.data, rt->gateway.len);
	uint32_t oif = (uint32_t)ifindex;
	nl_attr(&r, RTA_OIF, &oif, sizeof(oif));
	if (rt->metric)
		nl_attr(&r, RTA_PRIORITY, &rt->metric, sizeof(rt->metric));
	return nl_call(fd, &r);
}

static const char *ip_str(const ProtobufCBinaryData *a, char *buf, size_t len)
{
	return inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->data, buf, (socklen_t)len);
}

int guest_net_configure(const Cocoon__Agent__V1__ConfigureNetworkRequest *r, struct cc_error *err)
{
	if (guest_net_validate(r, err) < 0)
		return -1;
	cleanup_close int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	cleanup_close int io = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nl < 0 || io < 0)
		return cc_error_set(err, errno, "netlink socket");
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
		int rc = set_link(nl, idx[i], tmp, 0, false);
		if (rc < 0)
			return cc_error_set(err, -rc, "rename guest NIC for %s", ni->name);
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
		int rc = set_link(nl, idx[i], ni->name, ni->mtu, true);
		if (rc < 0)
			return cc_error_set(err, -rc, "set %s mtu %u up", ni->name, ni->mtu);
		for (size_t k = 0; k < ni->n_addresses; k++) {
			char s[INET6_ADDRSTRLEN];
			rc = add_addr(nl, idx[i], ni->addresses[k]);
			if (rc < 0)
				return cc_error_set(err, -rc, "add address %s/%u to %s",
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
				return cc_error_set(err, -rc, "add route %s/%u dev %s",
						    ip_str(&rt->dst, d, sizeof(d)), rt->dst_len,
						    rt->device);
			}
		}
	}
	cc_info("network: %zu interfaces, %zu routes configured", r->n_interfaces, r->n_routes);
	return 0;
}
