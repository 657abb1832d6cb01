#include "host/pod_net.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/netlink.h"
#include "shared/util.h"

#define TAP_PREFIX "cctap"
#define FILTER_PRIO 1
#define FILTER_MAX_KEYS 8

/* Enters the namespace for the calling thread only; netns_leave returns. */
static int netns_enter(int nsfd, int *saved, struct cc_error *err)
{
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return cc_error_set(err, errno, "open own network namespace");
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(*saved);
		return cc_error_set(err, e, "enter the pod network namespace");
	}
	return 0;
}

static void netns_leave(int saved)
{
	/* Failing to return would leave this thread in the pod's namespace: never go on. */
	if (setns(saved, CLONE_NEWNET) < 0)
		abort();
	close(saved);
}

/* ---- discovery ---- */

struct dump_ctx {
	struct pod_net *pn;
	int over; /* a limit was hit: refuse rather than half-configure */
};

static struct pod_if *if_by_index(struct pod_net *pn, int ifindex)
{
	for (unsigned i = 0; i < pn->n_ifs; i++)
		if (pn->ifs[i].ifindex == ifindex)
			return &pn->ifs[i];
	return NULL;
}

static void link_cb(struct nl_object *o, void *data)
{
	struct dump_ctx *c = data;
	struct rtnl_link *l = (struct rtnl_link *)o;
	const char *name = rtnl_link_get_name(l);
	struct nl_addr *mac = rtnl_link_get_addr(l);
	if (rtnl_link_get_arptype(l) != ARPHRD_ETHER || (rtnl_link_get_flags(l) & IFF_LOOPBACK) ||
	    name == NULL || mac == NULL || nl_addr_get_len(mac) != 6)
		return;
	if (strncmp(name, TAP_PREFIX, strlen(TAP_PREFIX)) == 0)
		return;
	if (c->pn->n_ifs == POD_NET_MAX_IFS) {
		c->over = 1;
		return;
	}
	struct pod_if *pi = &c->pn->ifs[c->pn->n_ifs++];
	snprintf(pi->name, sizeof(pi->name), "%.*s", IF_NAMESIZE - 1, name);
	pi->ifindex = rtnl_link_get_ifindex(l);
	memcpy(pi->mac, nl_addr_get_binary_addr(mac), 6);
	pi->mtu = rtnl_link_get_mtu(l) ? rtnl_link_get_mtu(l) : 1500;
}

static void addr_cb(struct nl_object *o, void *data)
{
	struct dump_ctx *c = data;
	struct rtnl_addr *ra = (struct rtnl_addr *)o;
	int family = rtnl_addr_get_family(ra);
	struct pod_if *pi = if_by_index(c->pn, rtnl_addr_get_ifindex(ra));
	/* The local address (IFA_LOCAL where a point-to-point setup has a peer). */
	struct nl_addr *a = rtnl_addr_get_local(ra);
	size_t alen = family == AF_INET ? 4 : 16;
	/* Link-local addresses: the guest derives the same one from the same MAC. */
	if (pi == NULL || rtnl_addr_get_scope(ra) == RT_SCOPE_LINK || a == NULL ||
	    (family != AF_INET && family != AF_INET6) || nl_addr_get_len(a) != alen)
		return;
	if (pi->n_addrs == POD_NET_MAX_ADDRS) {
		c->over = 1;
		return;
	}
	struct pod_addr *pa = &pi->addrs[pi->n_addrs++];
	pa->family = (uint8_t)family;
	pa->prefix_len = (uint8_t)rtnl_addr_get_prefixlen(ra);
	memcpy(pa->addr, nl_addr_get_binary_addr(a), alen);
}

static void route_cb(struct nl_object *o, void *data)
{
	struct dump_ctx *c = data;
	struct rtnl_route *rt = (struct rtnl_route *)o;
	int family = rtnl_route_get_family(rt);
	/* Prefix routes of addresses (proto kernel) come back by themselves in the guest;
	 * multipath routes are not carried over. */
	if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || rtnl_route_get_type(rt) != RTN_UNICAST ||
	    rtnl_route_get_protocol(rt) == RTPROT_KERNEL || rtnl_route_get_nnexthops(rt) != 1 ||
	    (family != AF_INET && family != AF_INET6))
		return;
	struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
	struct nl_addr *dst = rtnl_route_get_dst(rt), *gw = rtnl_route_nh_get_gateway(nh);
	struct pod_if *pi = if_by_index(c->pn, rtnl_route_nh_get_ifindex(nh));
	size_t alen = family == AF_INET ? 4 : 16;
	if (pi == NULL || dst == NULL ||
	    (nl_addr_get_len(dst) != 0 && nl_addr_get_len(dst) != alen) ||
	    (gw != NULL && nl_addr_get_len(gw) != alen))
		return;
	if (c->pn->n_routes == POD_NET_MAX_ROUTES) {
		c->over = 1;
		return;
	}
	struct pod_route *r = &c->pn->routes[c->pn->n_routes++];
	r->family = (uint8_t)family;
	r->dst_len = (uint8_t)nl_addr_get_prefixlen(dst);
	if (nl_addr_get_len(dst) != 0)
		memcpy(r->dst, nl_addr_get_binary_addr(dst), alen);
	r->has_gateway = gw != NULL;
	if (r->has_gateway)
		memcpy(r->gateway, nl_addr_get_binary_addr(gw), alen);
	r->iface = (unsigned)(pi - c->pn->ifs);
	r->metric = rtnl_route_get_priority(rt);
}

enum dump_kind { DUMP_LINKS, DUMP_ADDRS, DUMP_ROUTES };

/* Lists the namespace's links, addresses or routes (one dump into a libnl cache). */
static int dump(struct cc_nl *nl, enum dump_kind kind, struct dump_ctx *c, struct cc_error *err)
{
	static const char *const what[] = { "interfaces", "addresses", "routes" };
	static void (*const each[])(struct nl_object *, void *) = { link_cb, addr_cb, route_cb };
	struct nl_cache *cache = NULL;
	int rc;
	cc_nl_begin(nl);
	switch (kind) {
	case DUMP_LINKS: rc = rtnl_link_alloc_cache(nl->sk, AF_UNSPEC, &cache); break;
	case DUMP_ADDRS: rc = rtnl_addr_alloc_cache(nl->sk, &cache); break;
	default: rc = rtnl_route_alloc_cache(nl->sk, AF_UNSPEC, 0, &cache); break;
	}
	if (cc_nl_result(nl, rc) < 0)
		return cc_error_set(err, errno, "list %s of the pod network namespace", what[kind]);
	nl_cache_foreach(cache, each[kind], c);
	nl_cache_free(cache);
	if (c->over)
		return cc_error_set(err, E2BIG,
				    "the pod network namespace has too many %s "
				    "(at most %d interfaces, %d addresses each, %d routes)",
				    what[kind], POD_NET_MAX_IFS, POD_NET_MAX_ADDRS,
				    POD_NET_MAX_ROUTES);
	return 0;
}

static int discover(struct cc_nl *nl, struct pod_net *pn, struct cc_error *err)
{
	struct dump_ctx c = { .pn = pn };
	if (dump(nl, DUMP_LINKS, &c, err) < 0 || dump(nl, DUMP_ADDRS, &c, err) < 0 ||
	    dump(nl, DUMP_ROUTES, &c, err) < 0)
		return -1;
	return 0;
}

/* ---- taps and tc ---- */

/* A persistent tap named name: it outlives this fd, the VMM opens it by name. */
static int tap_open(const char *name, int *ifindex, struct cc_error *err)
{
	cleanup_close int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return cc_error_set(err, errno, "open /dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return cc_error_set(err, errno, "create tap %s%s", name,
				    errno == EBUSY ? " (is another sandbox using this namespace?)"
						   : "");
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		return cc_error_set(err, errno, "make tap %s persistent", name);
	*ifindex = (int)if_nametoindex(name);
	if (*ifindex == 0)
		return cc_error_set(err, errno, "tap %s", name);
	return 0;
}

static int tap_create(struct pod_if *pi, unsigned idx, struct cc_error *err)
{
	snprintf(pi->tap, sizeof(pi->tap), TAP_PREFIX "%u", idx);
	return tap_open(pi->tap, &pi->tap_ifindex, err);
}

/* Where frames the guest may not send go: a tap nobody opens or brings up. A mirred
 * redirect to a device without carrier drops the frame (this host's kernel has no
 * gact, tc's plain drop action; mirred is the one action it has). */
static int sink_create(struct pod_if *pi, unsigned idx, struct cc_error *err)
{
	char name[IF_NAMESIZE + 16];
	snprintf(name, sizeof(name), TAP_PREFIX "%ud", idx % POD_NET_MAX_IFS);
	return tap_open(name, &pi->sink_ifindex, err);
}

static int link_set(struct cc_nl *nl, int ifindex, unsigned mtu, bool up, struct cc_error *err)
{
	if (cc_nl_link_set(nl, ifindex, NULL, mtu, up) < 0)
		return cc_error_set(err, errno, "set link %d mtu %u up", ifindex, mtu);
	return 0;
}

static int link_del(struct cc_nl *nl, int ifindex)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int rc = -NLE_NOMEM;
	if (l != NULL) {
		rtnl_link_set_ifindex(l, ifindex);
		cc_nl_begin(nl);
		rc = rtnl_link_delete(nl->sk, l);
	}
	rtnl_link_put(l);
	return cc_nl_result(nl, rc);
}

static int ingress_qdisc(struct cc_nl *nl, int ifindex, bool add)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int rc = -NLE_NOMEM;
	if (q != NULL) {
		rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
		rtnl_tc_set_handle(TC_CAST(q), TC_H_MAKE(TC_H_INGRESS, 0));
		rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
		rc = rtnl_tc_set_kind(TC_CAST(q), "ingress");
		cc_nl_begin(nl);
		if (rc == 0)
			rc = add ? rtnl_qdisc_add(nl->sk, q, NLM_F_CREATE | NLM_F_EXCL)
				 : rtnl_qdisc_delete(nl->sk, q);
	}
	rtnl_qdisc_put(q);
	return cc_nl_result(nl, rc);
}

/* One u32 filter on the ingress of from_ifindex: frames of ethertype proto (ETH_P_ALL:
 * any) whose 32-bit words match every key leave through to_ifindex (mirred egress
 * redirect). Key offsets count from the network
 * header; the Ethernet header is at -14 (source MAC at -8). No keys: u32 with one
 * all-zero key, which matches anything (no cls_matchall needed). */
static int add_filter(struct cc_nl *nl, int from_ifindex, unsigned prio, uint16_t proto,
		      const struct tc_u32_key *keys, unsigned nkeys, int to_ifindex)
{
	static const struct tc_u32_key any;
	struct rtnl_cls *cls = rtnl_cls_alloc();
	struct rtnl_act *act = rtnl_act_alloc();
	int rc = -NLE_NOMEM;
	if (cls == NULL || act == NULL)
		goto out;
	rtnl_tc_set_ifindex(TC_CAST(cls), from_ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), TC_H_MAKE(TC_H_INGRESS, 0));
	rtnl_cls_set_prio(cls, (uint16_t)prio);
	rtnl_cls_set_protocol(cls, proto);
	if ((rc = rtnl_tc_set_kind(TC_CAST(cls), "u32")) < 0 ||
	    (rc = rtnl_u32_set_cls_terminal(cls)) < 0)
		goto out;
	if (nkeys == 0) {
		keys = &any;
		nkeys = 1;
	}
	for (unsigned i = 0; i < nkeys; i++)
		if ((rc = rtnl_u32_add_key(cls, keys[i].val, keys[i].mask, keys[i].off, 0)) < 0)
			goto out;
	if ((rc = rtnl_tc_set_kind(TC_CAST(act), "mirred")) < 0 ||
	    (rc = rtnl_mirred_set_action(act, TCA_EGRESS_REDIR)) < 0 ||
	    (rc = rtnl_mirred_set_policy(act, TC_ACT_STOLEN)) < 0 ||
	    (rc = rtnl_mirred_set_ifindex(act, (uint32_t)to_ifindex)) < 0 ||
	    (rc = rtnl_u32_add_action(cls, act)) < 0)
		goto out;
	cc_nl_begin(nl);
	rc = rtnl_cls_add(nl->sk, cls, NLM_F_CREATE | NLM_F_EXCL);
out:
	rtnl_act_put(act);
	rtnl_cls_put(cls);
	return cc_nl_result(nl, rc);
}

/* Every frame arriving on from_ifindex leaves through to_ifindex. */
static int redirect(struct cc_nl *nl, int from_ifindex, int to_ifindex)
{
	return add_filter(nl, from_ifindex, FILTER_PRIO, ETH_P_ALL, NULL, 0, to_ifindex);
}

/* Appends a key matching len (1..4) bytes at off, which must not cross a 32-bit word
 * boundary of the packet relative to off & ~3. */
static void key_bytes(struct tc_u32_key *k, unsigned *n, int off, const uint8_t *b, unsigned len)
{
	uint32_t val = 0, mask = 0;
	int word = off >= 0 ? off & ~3 : -((-off + 3) & ~3);
	for (unsigned i = 0; i < len; i++) {
		unsigned shift = 8 * (3 - (unsigned)(off - word) - i);
		val |= (uint32_t)b[i] << shift;
		mask |= 0xffu << shift;
	}
	k[(*n)++] = (struct tc_u32_key){ .val = htonl(val), .mask = htonl(mask), .off = word };
}

/* Source MAC (bytes -8..-3 of the network header) is mac. */
static void key_src_mac(struct tc_u32_key *k, unsigned *n, const uint8_t mac[6])
{
	key_bytes(k, n, -8, mac, 4);
	key_bytes(k, n, -4, mac + 4, 2);
}

/* A 4- or 16-byte address at off, the first prefix_len bits of it compared. */
static void key_addr(struct tc_u32_key *k, unsigned *n, int off, const uint8_t *a, unsigned len,
		     unsigned prefix_len)
{
	for (unsigned w = 0; w < len / 4 && prefix_len > 32 * w; w++) {
		unsigned bits = prefix_len - 32 * w > 32 ? 32 : prefix_len - 32 * w;
		uint32_t mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
		uint32_t val;
		memcpy(&val, a + 4 * w, 4);
		k[(*n)++] = (struct tc_u32_key){ .val = val & htonl(mask),
						 .mask = htonl(mask),
						 .off = off + 4 * (int)w };
	}
}

/* What the guest sends leaves the tap only if it comes from the pod's own MAC and
 * addresses (its IPv4/IPv6 addresses; for IPv6 also its link-local and the unspecified
 * source of duplicate address detection; ARP only with its MAC and an IPv4 address as
 * sender): a guest cannot spoof another pod's or the node's traffic. Everything else
 * goes to the sink by the last, catch-all filter, and is dropped there. */
static int guard_pod_traffic(struct cc_nl *nl, const struct pod_if *pi)
{
	static const uint8_t link_local[16] = { 0xfe, 0x80 }, unspecified[16];
	unsigned prio = FILTER_PRIO;
	struct tc_u32_key k[FILTER_MAX_KEYS];
	unsigned n;
	for (unsigned i = 0; i < pi->n_addrs; i++) {
		const struct pod_addr *a = &pi->addrs[i];
		n = 0;
		key_src_mac(k, &n, pi->mac);
		if (a->family == AF_INET) {
			key_addr(k, &n, 12, a->addr, 4, 32); /* IPv4 source */
			if (add_filter(nl, pi->tap_ifindex, prio++, ETH_P_IP, k, n, pi->ifindex) <
			    0)
				return -1;
			n = 0;
			key_src_mac(k, &n, pi->mac);
			key_bytes(k, &n, 8, pi->mac, 4); /* ARP sender hardware address */
			key_bytes(k, &n, 12, pi->mac + 4, 2);
			key_bytes(k, &n, 14, a->addr, 2); /* ARP sender IP, across two words */
			key_bytes(k, &n, 16, a->addr + 2, 2);
			if (add_filter(nl, pi->tap_ifindex, prio++, ETH_P_ARP, k, n, pi->ifindex) <
			    0)
				return -1;
		} else {
			key_addr(k, &n, 8, a->addr, 16, 128); /* IPv6 source */
			if (add_filter(nl, pi->tap_ifindex, prio++, ETH_P_IPV6, k, n, pi->ifindex) <
			    0)
				return -1;
		}
	}
	const uint8_t *v6_any[] = { link_local, unspecified };
	const unsigned v6_len[] = { 10, 128 };
	for (unsigned i = 0; i < 2; i++) {
		n = 0;
		key_src_mac(k, &n, pi->mac);
		key_addr(k, &n, 8, v6_any[i], 16, v6_len[i]);
		if (add_filter(nl, pi->tap_ifindex, prio++, ETH_P_IPV6, k, n, pi->ifindex) < 0)
			return -1;
	}
	return add_filter(nl, pi->tap_ifindex, prio, ETH_P_ALL, NULL, 0, pi->sink_ifindex);
}

static int wire(struct cc_nl *nl, struct pod_if *pi, unsigned idx, struct cc_error *err)
{
	if (tap_create(pi, idx, err) < 0 || link_set(nl, pi->tap_ifindex, pi->mtu, true, err) < 0 ||
	    sink_create(pi, idx, err) < 0)
		return -1;
	if (ingress_qdisc(nl, pi->ifindex, true) < 0)
		return cc_error_set(err, errno, "add ingress qdisc on %s%s", pi->name,
				    errno == EEXIST ? " (is another sandbox using this namespace?)"
						    : "");
	pi->veth_qdisc = true;
	if (ingress_qdisc(nl, pi->tap_ifindex, true) < 0)
		return cc_error_set(err, errno, "add ingress qdisc on %s", pi->tap);
	if (redirect(nl, pi->ifindex, pi->tap_ifindex) < 0)
		return cc_error_set(err, errno, "tc redirect %s -> %s", pi->name, pi->tap);
	if (guard_pod_traffic(nl, pi) < 0)
		return cc_error_set(err, errno, "tc redirect %s -> %s (pod MAC and addresses only)",
				    pi->tap, pi->name);
	/* CNI may leave the veth down until the runtime starts the pod. */
	return link_set(nl, pi->ifindex, 0, true, err);
}

static int unwire(struct cc_nl *nl, struct pod_net *pn, struct cc_error *err)
{
	int rc = 0;
	for (unsigned i = 0; i < pn->n_ifs; i++) {
		struct pod_if *pi = &pn->ifs[i];
		/* Deleting a qdisc deletes its filters; deleting the tap deletes its qdisc. */
		if (pi->veth_qdisc && ingress_qdisc(nl, pi->ifindex, false) < 0 &&
		    errno != ENODEV && errno != EINVAL && errno != ENOENT && rc == 0)
			rc = cc_error_set(err, errno, "remove ingress qdisc of %s", pi->name);
		pi->veth_qdisc = false;
		if (pi->tap_ifindex > 0 && link_del(nl, pi->tap_ifindex) < 0 && errno != ENODEV &&
		    rc == 0)
			rc = cc_error_set(err, errno, "remove tap %s", pi->tap);
		pi->tap_ifindex = 0;
		if (pi->sink_ifindex > 0 && link_del(nl, pi->sink_ifindex) < 0 && errno != ENODEV &&
		    rc == 0)
			rc = cc_error_set(err, errno, "remove the sink tap of %s", pi->tap);
		pi->sink_ifindex = 0;
	}
	return rc;
}

/* A sandbox takes every interface of its namespace over: given the host's own (that of
 * init, or the one we run in), it would pull the host's NICs into the guest. */
static int check_not_host_netns(int nsfd, const char *path, struct cc_error *err)
{
	static const char *const host[] = { "/proc/1/ns/net", "/proc/self/ns/net" };
	struct stat st, h;
	if (fstat(nsfd, &st) < 0)
		return cc_error_set(err, errno, "network namespace %s", path);
	for (size_t i = 0; i < CC_ARRAY_SIZE(host); i++)
		if (stat(host[i], &h) == 0 && h.st_dev == st.st_dev && h.st_ino == st.st_ino)
			return cc_error_set(
				err, 0,
				"network namespace %s is the host's own (%s); a sandbox "
				"needs a namespace of its own (the pod's)",
				path, i == 0 ? "that of pid 1" : "the one cocoon runs in");
	return 0;
}

int pod_net_setup(const char *netns_path, struct pod_net **out, struct cc_error *err)
{
	struct pod_net *pn = calloc(1, sizeof(*pn));
	if (pn == NULL)
		return cc_error_set(err, ENOMEM, "pod network");
	pn->nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (pn->nsfd < 0) {
		int e = errno;
		free(pn);
		return cc_error_set(err, e, "network namespace %s", netns_path);
	}
	if (check_not_host_netns(pn->nsfd, netns_path, err) < 0) {
		close(pn->nsfd);
		free(pn);
		return -1;
	}
	int saved;
	if (netns_enter(pn->nsfd, &saved, err) < 0) {
		close(pn->nsfd);
		free(pn);
		return cc_error_prefix(err, "%s", netns_path);
	}
	struct cc_nl nl;
	int rc = cc_nl_open(&nl, err);
	if (rc == 0) {
		rc = discover(&nl, pn, err);
		for (unsigned i = 0; rc == 0 && i < pn->n_ifs; i++)
			rc = wire(&nl, &pn->ifs[i], i, err);
		struct cc_error ignored;
		if (rc < 0)
			unwire(&nl, pn, &ignored);
		cc_nl_close(&nl);
	}
	netns_leave(saved);
	if (rc < 0) {
		close(pn->nsfd);
		free(pn);
		return cc_error_prefix(err, "pod network %s", netns_path);
	}
	*out = pn;
	return 0;
}

int pod_net_teardown(struct pod_net *pn, struct cc_error *err)
{
	if (pn == NULL)
		return 0;
	int saved, rc = netns_enter(pn->nsfd, &saved, err);
	if (rc == 0) {
		struct cc_nl nl;
		rc = cc_nl_open(&nl, err);
		if (rc == 0) {
			rc = unwire(&nl, pn, err);
			cc_nl_close(&nl);
		}
		netns_leave(saved);
	}
	close(pn->nsfd);
	free(pn);
	return rc;
}
