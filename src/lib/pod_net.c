#include "lib/pod_net.h"

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
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define TAP_PREFIX "cctap"
#define FILTER_PRIO 1
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

/* A persistent tap: it outlives this fd, the VMM opens it by name. */
static int tap_create(struct pod_if *pi, unsigned idx, struct cc_error *err)
{
	snprintf(pi->tap, sizeof(pi->tap), TAP_PREFIX "%u", idx);
	cleanup_close int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return cc_error_set(err, errno, "open /dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, pi->tap, sizeof(pi->tap));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return cc_error_set(err, errno, "create tap %s%s", pi->tap,
				    errno == EBUSY ? " (is another sandbox using this namespace?)"
						   : "");
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		return cc_error_set(err, errno, "make tap %s persistent", pi->tap);
	pi->tap_ifindex = (int)if_nametoindex(pi->tap);
	if (pi->tap_ifindex == 0)
		return cc_error_set(err, errno, "tap %s", pi->tap);
	return 0;
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

/* Every frame arriving on from_ifindex leaves through to_ifindex: u32 with one
 * all-zero key (matches anything; no cls_matchall needed) and a mirred egress redirect. */
static int redirect(struct nl *nl, int from_ifindex, int to_ifindex)
{
	char buf[1024];
	struct tcmsg tcm = { .tcm_family = AF_UNSPEC,
			     .tcm_ifindex = from_ifindex,
			     .tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0),
			     .tcm_info = TC_H_MAKE(FILTER_PRIO << 16, htons(ETH_P_ALL)) };
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWTFILTER, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
				      &tcm, sizeof(tcm));
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key;
	} sel;
	memset(&sel, 0, sizeof(sel));
	sel.sel.flags = TC_U32_TERMINAL;
	sel.sel.nkeys = 1;
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel), &sel);
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

static int wire(struct nl *nl, struct pod_if *pi, unsigned idx, struct cc_error *err)
{
	if (tap_create(pi, idx, err) < 0 || link_set(nl, pi->tap_ifindex, pi->mtu, true, err) < 0)
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
	if (redirect(nl, pi->tap_ifindex, pi->ifindex) < 0)
		return cc_error_set(err, errno, "tc redirect %s -> %s", pi->tap, pi->name);
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
	}
	return rc;
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
