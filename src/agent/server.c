/* The RPC methods of cocoon.agent.v1.Agent: validate the request, find the container or
 * process, and act through the container API (container.h) and the process table
 * (process.c). Every id is checked; unknown ids are NOT_FOUND, duplicates ALREADY_EXISTS.
 * This file holds the method table, the helpers every handler uses and the methods about
 * the VM as a whole (Hello, network, reseed, shared directory, Shutdown); the
 * containers' methods are in server_container.c, the processes' and their stdio in
 * server_process.c. */
#include "agent/server.h"

#include <string.h>
#include <sys/utsname.h>

#include "shared/log.h"
#include "shared/util.h"

/* A JSON document field of a request: non-empty and bounded before it is parsed. */
int rpc_json_field_check(const char *name, ProtobufCBinaryData doc, struct cc_error *err)
{
	if (doc.len == 0 || doc.len > OCI_MAX_SPEC_BYTES)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "%s must be 1..%u bytes", name,
				     OCI_MAX_SPEC_BYTES);
	return 0;
}

int rpc_reply_empty(struct ttrpc_call *call)
{
	Cocoon__Agent__V1__Empty e = COCOON__AGENT__V1__EMPTY__INIT;
	ttrpc_call_reply(call, &e.base);
	return 0;
}

/* Finds a container, or returns NULL with err set (INVALID_ARGUMENT, NOT_FOUND). */
struct container *rpc_get_container(struct agent *a, const char *id, struct cc_error *err)
{
	if (agent_check_id("container_id", id, false, err) < 0)
		return NULL;
	struct container *c = agent_find_container(a, id);
	if (c == NULL)
		cc_error_code(err, TTRPC_NOT_FOUND, "container %s not found", id);
	return c;
}

struct process *rpc_get_process(struct agent *a, const char *cid, const char *eid,
				struct cc_error *err)
{
	struct container *c = rpc_get_container(a, cid, err);
	if (c == NULL)
		return NULL;
	if (agent_check_id("exec_id", eid, true, err) < 0)
		return NULL;
	struct process *p = agent_find_process(c, eid);
	if (p == NULL)
		cc_error_code(err, TTRPC_NOT_FOUND, "process %s in container %s not found", eid,
			      cid);
	return p;
}

bool rpc_init_running(const struct container *c)
{
	return c->procs != NULL && !c->procs->exited;
}

/* ---- the VM as a whole ---- */

int rpc_hello(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__HelloRequest *r = (const Cocoon__Agent__V1__HelloRequest *)msg;
	if (r->version != AGENT_PROTOCOL_VERSION)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "agent speaks protocol version %u, host sent %u",
				     AGENT_PROTOCOL_VERSION, r->version);
	struct utsname u;
	char boot_id[64] = "";
	cleanup_free char *bid = NULL;
	if (uname(&u) < 0)
		u.release[0] = '\0';
	if (cc_read_file("/proc/sys/kernel/random/boot_id", 64, &bid, NULL, err) == 0) {
		bid[strcspn(bid, "\n")] = '\0';
		snprintf(boot_id, sizeof(boot_id), "%s", bid);
	}
	Cocoon__Agent__V1__HelloResponse resp = COCOON__AGENT__V1__HELLO_RESPONSE__INIT;
	resp.version = AGENT_PROTOCOL_VERSION;
	resp.kernel_release = u.release;
	resp.boot_id = boot_id;
	resp.agent_start_ns = a->start_ns;
	resp.boot_to_ready_ns = a->ready_ns;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

int rpc_configure_network(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			  struct cc_error *err)
{
	(void)user;
	const Cocoon__Agent__V1__ConfigureNetworkRequest *r =
		(const Cocoon__Agent__V1__ConfigureNetworkRequest *)msg;
	if (guest_net_configure(r, err) < 0) {
		cc_warn("network: %s", err->msg);
		return cc_error_fail(err, TTRPC_UNKNOWN);
	}
	return rpc_reply_empty(call);
}

int rpc_reseed(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__ReseedRequest *r = (const Cocoon__Agent__V1__ReseedRequest *)msg;
	int64_t step;
	/* Only the guest's init sets the clock: an agent serving tests on a host never does. */
	int rc = guest_reseed(r->entropy.data, r->entropy.len, r->realtime_ns, a->pid1, &step, err);
	if (r->entropy.data != NULL)
		explicit_bzero(r->entropy.data, r->entropy.len);
	if (rc < 0) {
		cc_warn("reseed: %s", err->msg);
		return cc_error_fail(err, TTRPC_UNKNOWN);
	}
	cc_info("CRNG reseeded with %zu host bytes, clock stepped %lld ns", r->entropy.len,
		(long long)step);
	Cocoon__Agent__V1__ReseedResponse resp = COCOON__AGENT__V1__RESEED_RESPONSE__INIT;
	resp.clock_step_ns = step;
	resp.clock_set = a->pid1 && r->realtime_ns != 0;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

int rpc_mount_shared(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		     struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__Empty *r = (const Cocoon__Agent__V1__Empty *)msg;
	(void)r;
	if (!a->pid1)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "only the guest's init mounts the shared directory");
	if (guest_mount_shared(err) < 0) {
		cc_warn("%s", err->msg);
		return cc_error_fail(err, TTRPC_UNKNOWN);
	}
	return rpc_reply_empty(call);
}

int rpc_shutdown(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		 struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__Empty *r = (const Cocoon__Agent__V1__Empty *)msg;
	(void)r;
	cc_info("shutdown requested");
	(void)err;
	/* Answered first: the VM ends right after the loop returns. */
	rpc_reply_empty(call);
	a->stop = true;
	a->power_off = a->pid1;
	return 0;
}

const struct ttrpc_method agent_methods[] = {
	{ AGENT_SERVICE, "Hello", &cocoon__agent__v1__hello_request__descriptor, rpc_hello },
	{ AGENT_SERVICE, "CreateContainer",
	  &cocoon__agent__v1__create_container_request__descriptor, rpc_create },
	{ AGENT_SERVICE, "StartContainer", &cocoon__agent__v1__start_container_request__descriptor,
	  rpc_start },
	{ AGENT_SERVICE, "ExecProcess", &cocoon__agent__v1__exec_process_request__descriptor,
	  rpc_exec },
	{ AGENT_SERVICE, "SignalProcess", &cocoon__agent__v1__signal_process_request__descriptor,
	  rpc_signal },
	{ AGENT_SERVICE, "WaitProcess", &cocoon__agent__v1__wait_process_request__descriptor,
	  rpc_wait },
	{ AGENT_SERVICE, "ReadStream", &cocoon__agent__v1__read_stream_request__descriptor,
	  rpc_read },
	{ AGENT_SERVICE, "WriteStdin", &cocoon__agent__v1__write_stdin_request__descriptor,
	  rpc_write_stdin },
	{ AGENT_SERVICE, "CloseStdin", &cocoon__agent__v1__close_stdin_request__descriptor,
	  rpc_close_stdin },
	{ AGENT_SERVICE, "ResizePty", &cocoon__agent__v1__resize_pty_request__descriptor,
	  rpc_resize },
	{ AGENT_SERVICE, "StatsContainer", &cocoon__agent__v1__container_request__descriptor,
	  rpc_stats },
	{ AGENT_SERVICE, "PauseContainer", &cocoon__agent__v1__container_request__descriptor,
	  rpc_pause },
	{ AGENT_SERVICE, "ResumeContainer", &cocoon__agent__v1__container_request__descriptor,
	  rpc_resume },
	{ AGENT_SERVICE, "UpdateContainer",
	  &cocoon__agent__v1__update_container_request__descriptor, rpc_update },
	{ AGENT_SERVICE, "ListProcesses", &cocoon__agent__v1__container_request__descriptor,
	  rpc_list },
	{ AGENT_SERVICE, "RemoveContainer", &cocoon__agent__v1__container_request__descriptor,
	  rpc_remove_container },
	{ AGENT_SERVICE, "RemoveProcess", &cocoon__agent__v1__process_request__descriptor,
	  rpc_remove_process },
	{ AGENT_SERVICE, "ConfigureNetwork",
	  &cocoon__agent__v1__configure_network_request__descriptor, rpc_configure_network },
	{ AGENT_SERVICE, "Reseed", &cocoon__agent__v1__reseed_request__descriptor, rpc_reseed },
	{ AGENT_SERVICE, "MountShared", &cocoon__agent__v1__empty__descriptor, rpc_mount_shared },
	{ AGENT_SERVICE, "ConnectPort", &cocoon__agent__v1__connect_port_request__descriptor,
	  rpc_connect_port },
	{ AGENT_SERVICE, "Shutdown", &cocoon__agent__v1__empty__descriptor, rpc_shutdown },
};
const size_t agent_n_methods = CC_ARRAY_SIZE(agent_methods);
