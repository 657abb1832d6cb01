/* Pod networking pieces that need no VM: the agent's bounds on ConfigureNetwork (every
 * field checked before anything is applied) and the host side's errors for a missing or
 * wrong namespace path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "host/pod_net.h"
#include "proto/agent.pb-c.h"

struct req {
	Cocoon__Agent__V1__ConfigureNetworkRequest r;
	Cocoon__Agent__V1__NetInterface ifs[2], *ifp[2];
	Cocoon__Agent__V1__IPAddress addr, *addrp[1];
	Cocoon__Agent__V1__NetRoute route, *routep[1];
	uint8_t mac[2][6], ip[4], zero[4], gw[4];
};

/* One interface eth0 with 10.0.0.2/24 and a default route via 10.0.0.1. */
static void good(struct req *q)
{
	memset(q, 0, sizeof(*q));
	cocoon__agent__v1__configure_network_request__init(&q->r);
	for (int i = 0; i < 2; i++) {
		cocoon__agent__v1__net_interface__init(&q->ifs[i]);
		q->ifp[i] = &q->ifs[i];
		q->mac[i][5] = (uint8_t)(i + 1);
		q->ifs[i].mac = (ProtobufCBinaryData){ 6, q->mac[i] };
		q->ifs[i].mtu = 1500;
	}
	q->ifs[0].name = "eth0";
	q->ifs[1].name = "eth1";
	memcpy(q->ip, (uint8_t[]){ 10, 0, 0, 2 }, 4);
	memcpy(q->gw, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	cocoon__agent__v1__ipaddress__init(&q->addr);
	q->addr.addr = (ProtobufCBinaryData){ 4, q->ip };
	q->addr.prefix_len = 24;
	q->addrp[0] = &q->addr;
	q->ifs[0].addresses = q->addrp;
	q->ifs[0].n_addresses = 1;
	cocoon__agent__v1__net_route__init(&q->route);
	q->route.dst = (ProtobufCBinaryData){ 4, q->zero };
	q->route.gateway = (ProtobufCBinaryData){ 4, q->gw };
	q->route.device = "eth0";
	q->routep[0] = &q->route;
	q->r.interfaces = q->ifp;
	q->r.n_interfaces = 1;
	q->r.routes = q->routep;
	q->r.n_routes = 1;
}

static void expect_invalid(struct req *q, const char *what)
{
	struct cc_error err;
	assert_int_equal(guest_net_validate(&q->r, &err), -1);
	assert_int_equal(err.code, TTRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, what));
}

static void test_valid(void **state)
{
	(void)state;
	struct req q;
	struct cc_error err;
	good(&q);
	assert_int_equal(guest_net_validate(&q.r, &err), 0);
	q.r.n_interfaces = 2;
	assert_int_equal(guest_net_validate(&q.r, &err), 0);
}

static void test_bad_interfaces(void **state)
{
	(void)state;
	struct req q;
	good(&q);
	q.ifs[0].name = "";
	expect_invalid(&q, "invalid name");
	good(&q);
	q.ifs[0].name = "a-name-that-is-too-long";
	expect_invalid(&q, "invalid name");
	good(&q);
	q.ifs[0].name = "eth0/x";
	expect_invalid(&q, "invalid name");
	good(&q);
	q.ifs[0].mac.len = 5;
	expect_invalid(&q, "mac must be 6 bytes");
	good(&q);
	/* guest_mac (a restored VM's NIC): empty or 6 bytes. */
	q.ifs[0].guest_mac = (ProtobufCBinaryData){ 6, q.mac[1] };
	struct cc_error e2;
	assert_int_equal(guest_net_validate(&q.r, &e2), 0);
	q.ifs[0].guest_mac.len = 7;
	expect_invalid(&q, "interface eth0: guest_mac must be empty or 6 bytes");
	good(&q);
	q.ifs[0].mtu = 0;
	expect_invalid(&q, "mtu 0 out of 68..65535");
	good(&q);
	q.ifs[0].mtu = 70000;
	expect_invalid(&q, "mtu 70000");
	good(&q);
	q.addr.prefix_len = 33;
	expect_invalid(&q, "address 0 invalid");
	good(&q);
	q.addr.addr.len = 5;
	expect_invalid(&q, "address 0 invalid");
	good(&q);
	q.ifs[0].n_addresses = 17;
	expect_invalid(&q, "at most 16 addresses");
	good(&q);
	q.r.n_interfaces = 9;
	expect_invalid(&q, "at most 8 interfaces");
	good(&q);
	q.ifs[1].name = "eth0";
	q.r.n_interfaces = 2;
	expect_invalid(&q, "repeated");
	good(&q);
	q.mac[1][5] = 1;
	q.r.n_interfaces = 2;
	expect_invalid(&q, "repeated");
}

static void test_bad_routes(void **state)
{
	(void)state;
	struct req q;
	good(&q);
	q.route.device = "eth9";
	expect_invalid(&q, "route 0: unknown device");
	good(&q);
	q.route.gateway.len = 16;
	expect_invalid(&q, "route 0: invalid destination or gateway");
	good(&q);
	q.route.dst_len = 40;
	expect_invalid(&q, "route 0: invalid destination or gateway");
	good(&q);
	q.r.n_routes = 65;
	expect_invalid(&q, "64 routes");
}

static void test_host_bad_netns(void **state)
{
	(void)state;
	struct pod_net *pn = NULL;
	struct cc_error err;
	assert_int_equal(pod_net_setup("/nonexistent/netns", &pn, &err), -1);
	assert_null(pn);
	assert_int_equal(err.err_no, ENOENT);
	assert_non_null(strstr(err.msg, "network namespace /nonexistent/netns"));
	/* A file that is not a namespace: setns refuses it. */
	assert_int_equal(pod_net_setup("/proc/self/exe", &pn, &err), -1);
	assert_non_null(strstr(err.msg, "enter the pod network namespace"));
	assert_int_equal(pod_net_teardown(NULL, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_bad_interfaces),
		cmocka_unit_test(test_bad_routes),
		cmocka_unit_test(test_host_bad_netns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
