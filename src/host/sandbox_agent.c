/* What the host says to a sandbox's agent as the sandbox starts: Hello (protocol
 * version, guest kernel, boot id), after a restore from a template what must differ
 * between clones (Reseed, then MountShared), and the guest's share of the pod network.
 * Every reply is bounded before use: the guest is hostile. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "host/sandbox.h"
#include "host/sandbox_priv.h"
#include "host/template.h"
#include "proto/agent.pb-c.h"
#include "shared/log.h"
#include "shared/ttrpc.h"
#include "shared/util.h"

struct ttrpc_client *sandbox_agent_conn(void *ctx, struct cc_error *err)
{
	struct sandbox *sb = ctx;
	if (sb->agent == NULL)
		cc_error_code(err, TTRPC_UNAVAILABLE, "no connection to the agent");
	return sb->agent;
}

int sandbox_hello(struct sandbox *sb, int timeout_ms, struct cc_error *err)
{
	Cocoon__Agent__V1__HelloRequest req = COCOON__AGENT__V1__HELLO_REQUEST__INIT;
	req.version = AGENT_PROTOCOL_VERSION;
	Cocoon__Agent__V1__HelloResponse *resp = NULL;
	if (agent_call(&sb->client, AGENT_HELLO, &req.base, (ProtobufCMessage **)&resp, timeout_ms,
		       err) < 0)
		return cc_error_prefix(err, "agent Hello");
	int rc = 0;
	if (resp->version != AGENT_PROTOCOL_VERSION)
		rc = cc_error_set(err, 0,
				  "agent speaks protocol %u, cocoon %u (rebuild the initrd)",
				  resp->version, AGENT_PROTOCOL_VERSION);
	snprintf(sb->guest_kernel, sizeof(sb->guest_kernel), "%.*s",
		 (int)strnlen(resp->kernel_release, sizeof(sb->guest_kernel) - 1),
		 resp->kernel_release);
	snprintf(sb->boot_id, sizeof(sb->boot_id), "%.*s",
		 (int)strnlen(resp->boot_id, sizeof(sb->boot_id) - 1), resp->boot_id);
	ttrpc_sanitize_text(sb->guest_kernel); /* both end up in logs */
	ttrpc_sanitize_text(sb->boot_id);
	sb->t.guest_boot_to_ready_ns = resp->boot_to_ready_ns;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rc;
}

/* The guest's share of the pod network: what CNI gave each interface, keyed by MAC. */
int sandbox_configure_network(struct sandbox *sb, int timeout_ms, struct cc_error *err)
{
	const struct pod_net *pn = sb->net;
	Cocoon__Agent__V1__NetInterface ifs[POD_NET_MAX_IFS], *ifp[POD_NET_MAX_IFS];
	Cocoon__Agent__V1__IPAddress addrs[POD_NET_MAX_IFS][POD_NET_MAX_ADDRS];
	Cocoon__Agent__V1__IPAddress *addrp[POD_NET_MAX_IFS][POD_NET_MAX_ADDRS];
	Cocoon__Agent__V1__NetRoute routes[POD_NET_MAX_ROUTES], *routep[POD_NET_MAX_ROUTES];
	static const uint8_t zero[16];
	uint8_t tmpl_macs[POD_NET_MAX_IFS][6];
	for (unsigned i = 0; i < pn->n_ifs; i++) {
		const struct pod_if *pi = &pn->ifs[i];
		cocoon__agent__v1__net_interface__init(&ifs[i]);
		ifs[i].name = (char *)pi->name;
		ifs[i].mac = (ProtobufCBinaryData){ 6, (uint8_t *)pi->mac };
		/* Restored: the NIC still has the template's MAC; the agent sets the pod's. */
		if (sb->template_name[0] != '\0') {
			uint8_t tmac[6] = TEMPLATE_MAC(i);
			memcpy(tmpl_macs[i], tmac, 6);
			ifs[i].guest_mac = (ProtobufCBinaryData){ 6, tmpl_macs[i] };
		}
		ifs[i].mtu = pi->mtu;
		for (unsigned k = 0; k < pi->n_addrs; k++) {
			cocoon__agent__v1__ipaddress__init(&addrs[i][k]);
			addrs[i][k].addr =
				(ProtobufCBinaryData){ pi->addrs[k].family == AF_INET ? 4 : 16,
						       (uint8_t *)pi->addrs[k].addr };
			addrs[i][k].prefix_len = pi->addrs[k].prefix_len;
			addrp[i][k] = &addrs[i][k];
		}
		ifs[i].addresses = addrp[i];
		ifs[i].n_addresses = pi->n_addrs;
		ifp[i] = &ifs[i];
	}
	for (unsigned i = 0; i < pn->n_routes; i++) {
		const struct pod_route *r = &pn->routes[i];
		size_t alen = r->family == AF_INET ? 4 : 16;
		cocoon__agent__v1__net_route__init(&routes[i]);
		routes[i].dst = (ProtobufCBinaryData){ alen, r->dst_len ? (uint8_t *)r->dst
									: (uint8_t *)zero };
		routes[i].dst_len = r->dst_len;
		if (r->has_gateway)
			routes[i].gateway = (ProtobufCBinaryData){ alen, (uint8_t *)r->gateway };
		routes[i].device = (char *)pn->ifs[r->iface].name;
		routes[i].metric = r->metric;
		routep[i] = &routes[i];
	}
	Cocoon__Agent__V1__ConfigureNetworkRequest req =
		COCOON__AGENT__V1__CONFIGURE_NETWORK_REQUEST__INIT;
	req.interfaces = ifp;
	req.n_interfaces = pn->n_ifs;
	req.routes = routep;
	req.n_routes = pn->n_routes;
	if (agent_call(&sb->client, AGENT_CONFIGURE_NETWORK, &req.base, NULL, timeout_ms, err) < 0)
		return cc_error_prefix(err, "guest network");
	return 0;
}

/* What must differ between clones of one template, before anything runs in this one:
 * fresh entropy for the guest CRNG and the host's wall clock; then the share, which a
 * template never mounts. */
int sandbox_after_restore(struct sandbox *sb, int timeout_ms, struct cc_error *err)
{
	uint8_t entropy[64];
	if (getrandom(entropy, sizeof(entropy), 0) != (ssize_t)sizeof(entropy))
		return cc_error_set(err, errno, "getrandom");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	Cocoon__Agent__V1__ReseedRequest req = COCOON__AGENT__V1__RESEED_REQUEST__INIT;
	req.entropy = (ProtobufCBinaryData){ sizeof(entropy), entropy };
	req.realtime_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	Cocoon__Agent__V1__ReseedResponse *resp = NULL;
	int rc = agent_call(&sb->client, AGENT_RESEED, &req.base, (ProtobufCMessage **)&resp,
			    timeout_ms, err);
	explicit_bzero(entropy, sizeof(entropy));
	if (rc < 0)
		return cc_error_prefix(err, "agent Reseed");
	cc_debug("sandbox %s: guest CRNG reseeded, clock stepped %lld ms", sb->id,
		 (long long)(resp->clock_step_ns / 1000000));
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	Cocoon__Agent__V1__Empty empty = COCOON__AGENT__V1__EMPTY__INIT;
	if (agent_call(&sb->client, AGENT_MOUNT_SHARED, &empty.base, NULL, timeout_ms, err) < 0)
		return cc_error_prefix(err, "agent MountShared");
	return 0;
}
