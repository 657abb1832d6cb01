#include "host/pod_net.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

#define TAP_PREFIX "cctap"
#define FILTER_PRIO 1
#define FILTER_MAX_KEYS 8
#define NL_BUF (32u << 10)

struct nl {
	struct mnl_socket *s;
	unsigned portid, seq;
};

/* Runs one request; cb (may be NULL) sees every answer of a dump. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static __thread char buf[NL_BUF];
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->s, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->s, buf, sizeof(buf));
		if (n < 0)
			return -1;
		int rc = mnl_cb_run(buf, (size_t)n, nl->seq, nl->portid, cb, data);
		if (rc <= MNL_CB_STOP)
			return rc < 0 ? -1 : 0;
	}
}

static struct nlmsghdr *nl_msg(char *buf, uint16_t type, uint16_t flags, void *hdr, size_t hdr_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	memcpy(mnl_nlmsg_put_extra_header(nlh, hdr_len), hdr, hdr_len);
	return nlh;
}

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

static int nl_open(struct nl *nl, struct cc_error *err)
{
	nl->s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (nl->s == NULL || mnl_socket_bind(nl->s, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		if (nl->s != NULL)
			mnl_socket_close(nl->s);
		return cc_error_set(err, e, "netlink socket");
	}
	nl->portid = mnl_socket_get_portid(nl->s);
	nl->seq = 0;
	return 0;
}

/* ---- discovery ---- */

struct dump_ctx {
	struct pod_net *pn;
	int over; /* a limit was hit: refuse rather than half-configure */
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= IFLA_MAX) /* IFLA_MAX > IFA_MAX, RTA_MAX; callers size tb for it */
		tb[type] = a;
	return MNL_CB_OK;
}

static struct pod_if *if_by_index(struct pod_net *pn, int ifindex)
{
	for (unsigned i = 0; i < pn->n_ifs; i++)
		if (pn->ifs[i].ifindex == ifindex)
			return &pn->ifs[i];
	return NULL;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, tb);
	if (ifi->ifi_type != ARPHRD_ETHER || (ifi->ifi_flags & IFF_LOOPBACK) ||
	    tb[IFLA_IFNAME] == NULL || tb[IFLA_ADDRESS] == NULL ||
	    mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) != 6)
		return MNL_CB_OK;
	const char *name = mnl_attr_get_str(tb[IFLA_IFNAME]);
	if (strncmp(name, TAP_PREFIX, strlen(TAP_PREFIX)) == 0)
		return MNL_CB_OK;
	if (c->pn->n_ifs == POD_NET_MAX_IFS) {
		c->over = 1;
		return MNL_CB_OK;
	}
	struct pod_if *pi = &c->pn->ifs[c->pn->n_ifs++];
	snprintf(pi->name, sizeof(pi->name), "%.*s", IF_NAMESIZE - 1, name);
	pi->ifindex = ifi->ifi_index;
	memcpy(pi->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
	pi->mtu = tb[IFLA_MTU] ? mnl_attr_get_u32(tb[IFLA_MTU]) : 1500;
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, tb);
	struct pod_if *pi = if_by_index(c->pn, (int)ifa->ifa_index);
	size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
	/* Link-local addresses: the guest derives the same one from the same MAC. */
	if (pi == NULL || ifa->ifa_scope == RT_SCOPE_LINK || tb[IFA_ADDRESS] == NULL ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
	    mnl_attr_get_payload_len(tb[IFA_ADDRESS]) != alen)
		return MNL_CB_OK;
	if (pi->n_addrs == POD_NET_MAX_ADDRS) {
		c->over = 1;
		return MNL_CB_OK;
	}
	/* IPv4 point-to-point setups put the local address in IFA_LOCAL. */
	const struct nlattr *a =
		tb[IFA_LOCAL] && ifa->ifa_family == AF_INET ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	struct pod_addr *pa = &pi->addrs[pi->n_addrs++];
	pa->family = ifa->ifa_family;
	pa->prefix_len = ifa->ifa_prefixlen;
	memcpy(pa->addr, mnl_attr_get_payload(a), alen);
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, tb);
	/* Prefix routes of addresses (proto kernel) come back by themselves in the guest. */
	if (rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST ||
	    rtm->rtm_protocol == RTPROT_KERNEL || tb[RTA_OIF] == NULL ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return MNL_CB_OK;
	struct pod_if *pi = if_by_index(c->pn, (int)mnl_attr_get_u32(tb[RTA_OIF]));
	size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;
	if (pi == NULL || (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) != alen) ||
	    (tb[RTA_GATEWAY] && mnl_attr_get_payload_len(tb[RTA_GATEWAY]) != alen))
		return MNL_CB_OK;
	if (c->pn->n_routes == POD_NET_MAX_ROUTES) {
		c->over = 1;
		return MNL_CB_OK;
	}
	struct pod_route *r = &c->pn->routes[c->pn->n_routes++];
	r->family = rtm->rtm_family;
	r->dst_len = rtm->rtm_dst_len;
	if (tb[RTA_DST])
		memcpy(r->dst, mnl_attr_get_payload(tb[RTA_DST]), alen);
	r->has_gateway = tb[RTA_GATEWAY] != NULL;
	if (r->has_gateway)
		memcpy(r->gateway, mnl_attr_get_payload(tb[RTA_GATEWAY]), alen);
	r->iface = (unsigned)(pi - c->pn->ifs);
	r->metric = tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
	return MNL_CB_OK;
}

static int dump(struct nl *nl, uint16_t type, void *hdr, size_t hdr_len, mnl_cb_t cb,
		struct dump_ctx *c, const char *what, struct cc_error *err)
{
	char buf[256];
	struct nlmsghdr *nlh = nl_msg(buf, type, NLM_F_DUMP, hdr, hdr_len);
	if (nl_talk(nl, nlh, cb, c) < 0)
		return cc_error_set(err, errno, "list %s of the pod network namespace", what);
	if (c->over)
		return cc_error_set(err, E2BIG,
				    "the pod network namespace has too many %s "
				    "(at most %d interfaces, %d addresses each, %d routes)",
				    what, POD_NET_MAX_IFS, POD_NET_MAX_ADDRS, POD_NET_MAX_ROUTES);
	return 0;
}

static int discover(struct nl *nl, struct pod_net *pn, struct cc_error *err)
{
	struct dump_ctx c = { .pn = pn };
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	struct rtmsg rtm = { .rtm_family = AF_UNSPEC };
	if (dump(nl, RTM_GETLINK, &ifi, sizeof(ifi), link_cb, &c, "interfaces", err) < 0 ||
	    dump(nl, RTM_GETADDR, &ifa, sizeof(ifa), addr_cb, &c, "addresses", err) < 0 ||
	    dump(nl, RTM_GETROUTE, &rtm, sizeof(rtm), route_cb, &c, "routes", err) < 0)
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

static int link_set(struct nl *nl, int ifindex, unsigned mtu, bool up, struct cc_error *err)
{
	char buf[256];
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC,
				 .ifi_index = ifindex,
				 .ifi_change = IFF_UP,
				 .ifi_flags = up ? IFF_UP : 0 };
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	if (mtu != 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (nl_talk(nl, nlh, NULL, NULL) < 0)
		return cc_error_set(err, errno, "set link %d mtu %u up", ifindex, mtu);
	return 0;
}

static int link_del(struct nl *nl, int ifindex)
{
	char buf[256];
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	return nl_talk(nl, nl_msg(buf, RTM_DELLINK, NLM_F_ACK, &ifi, sizeof(ifi)), NULL, NULL);
}

static int ingress_qdisc(struct nl *nl, int ifindex, bool add)
{
	char buf[256];
	struct tcmsg tcm = { .tcm_family = AF_UNSPEC,
			     .tcm_ifindex = ifindex,
			     .tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0),
			     .tcm_parent = TC_H_INGRESS };
	struct nlmsghdr *nlh =
		nl_msg(buf, add ? RTM_NEWQDISC : RTM_DELQDISC,
		       NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), &tcm, sizeof(tcm));
	mnl_attr_put_strz(nlh, TCA_KIND, "ingress");
	return nl_talk(nl, nlh, NULL, NULL);
}

/* One u32 filter on the ingress of from_ifindex: frames of ethertype proto (ETH_P_ALL:
 * any) whose 32-bit words match every key leave through to_ifindex (mirred egress
 * redirect). Key offsets count from the network
 * header; the Ethernet header is at -14 (source MAC at -8). No keys: u32 with one
 * all-zero key, which matches anything (no cls_matchall needed). */
static int add_filter(struct nl *nl, int from_ifindex, unsigned prio, uint16_t proto,
		      const struct tc_u32_key *keys, unsigned nkeys, int to_ifindex)
{
	char buf[2048];
	struct tcmsg tcm = { .tcm_family = AF_UNSPEC,
			     .tcm_ifindex = from_ifindex,
			     .tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
			     .tcm_info = TC_H_MAKE(prio << 16, htons(proto)) };
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWTFILTER, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
				      &tcm, sizeof(tcm));
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key[FILTER_MAX_KEYS];
	} sel;
	memset(&sel, 0, sizeof(sel));
	sel.sel.flags = TC_U32_TERMINAL;
	sel.sel.nkeys = nkeys > 0 ? (unsigned char)nkeys : 1;
	if (nkeys > 0)
		memcpy(sel.key, keys, nkeys * sizeof(*keys));
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel.sel) + sel.sel.nkeys * sizeof(*keys), &sel);
	struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
	struct nlattr *act = mnl_attr_nest_start(nlh, 1); /* action order 1 */
	mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
	struct nlattr *aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
	struct tc_mirred m = { .action = TC_ACT_STOLEN,
			       .eaction = TCA_EGRESS_REDIR,
			       .ifindex = (uint32_t)to_ifindex };
	mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(m), &m);
	mnl_attr_nest_end(nlh, aopts);
	mnl_attr_nest_end(nlh, act);
	mnl_attr_nest_end(nlh, acts);
	mnl_attr_nest_end(nlh, opts);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* Every frame arriving on from_ifindex leaves through to_ifindex. */
static int redirect(struct nl *nl, int from_ifindex, int to_ifindex)
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
static int guard_pod_traffic(struct nl *nl, const struct pod_if *pi)
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

static int wire(struct nl *nl, struct pod_if *pi, unsigned idx, struct cc_error *err)
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

static int unwire(struct nl *nl, struct pod_net *pn, struct cc_error *err)
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
	struct nl nl;
	int rc = nl_open(&nl, err);
	if (rc == 0) {
		rc = discover(&nl, pn, err);
		for (unsigned i = 0; rc == 0 && i < pn->n_ifs; i++)
			rc = wire(&nl, &pn->ifs[i], i, err);
		struct cc_error ignored;
		if (rc < 0)
			unwire(&nl, pn, &ignored);
		mnl_socket_close(nl.s);
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
		struct nl nl;
		rc = nl_open(&nl, err);
		if (rc == 0) {
			rc = unwire(&nl, pn, err);
			mnl_socket_close(nl.s);
		}
		netns_leave(saved);
	}
	close(pn->nsfd);
	free(pn);
	return rc;
}
