/* Pod networking on the host, Kata "tcfilter" style: for every interface CNI put in the
 * pod's network namespace (lo aside) a tap is created next to it in that namespace, and
 * two tc ingress redirects (u32 match-all + mirred egress) move every frame veth→tap and
 * tap→veth. The VMM, started in the same namespace, backs a virtio-net device with the
 * tap; the guest NIC gets the veth's MAC, MTU, addresses and routes, so the pod keeps the
 * identity CNI gave it and Services/NetworkPolicies acting on the host-side veth apply.
 * All netlink is done with libnl-route-3 from inside the namespace (setns of this thread). */
#ifndef COCOON_POD_NET_H
#define COCOON_POD_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"

#define POD_NET_MAX_IFS 8
#define POD_NET_MAX_ADDRS 16 /* per interface */
#define POD_NET_MAX_ROUTES 64

struct pod_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix_len;
	uint8_t addr[16];
};

struct pod_if {
	char name[IF_NAMESIZE]; /* CNI's name, e.g. eth0; the guest NIC is renamed to it */
	int ifindex;
	char tap[IF_NAMESIZE];
	int tap_ifindex;
	int sink_ifindex; /* cctapNd: where frames not from the pod's MAC/IPs are dropped */
	bool veth_qdisc;  /* ingress qdiscs we added (teardown removes them) */
	uint8_t mac[6];
	unsigned mtu;
	struct pod_addr addrs[POD_NET_MAX_ADDRS];
	unsigned n_addrs;
};

struct pod_route {
	uint8_t family;
	uint8_t dst_len; /* 0: default route */
	uint8_t dst[16];
	bool has_gateway;
	uint8_t gateway[16];
	unsigned iface; /* index into pod_net.ifs */
	uint32_t metric;
};

struct pod_net {
	int nsfd; /* keeps the namespace for teardown */
	struct pod_if ifs[POD_NET_MAX_IFS];
	unsigned n_ifs;
	struct pod_route routes[POD_NET_MAX_ROUTES];
	unsigned n_routes;
};

/* Reads the interfaces, addresses and routes of the namespace at netns_path, creates
 * the taps and tc redirects. On failure nothing it made is left. */
int pod_net_setup(const char *netns_path, struct pod_net **out, struct cc_error *err);
/* Removes taps and qdiscs (with their filters), closes the namespace, frees pn.
 * Safe on NULL; always frees. */
int pod_net_teardown(struct pod_net *pn, struct cc_error *err);

#endif
