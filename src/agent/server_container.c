/* The containers' methods: create, start, stats, pause and resume, update, list and
 * remove. */
#include "agent/server.h"

#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"

int rpc_create(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	struct agent *a = user;
	const Cocoon__Agent__V1__CreateContainerRequest *r =
		(const Cocoon__Agent__V1__CreateContainerRequest *)msg;
	if (agent_check_id("container_id", r->container_id, false, err) < 0)
		return cc_error_fail(err, TTRPC_INVALID_ARGUMENT);
	if (agent_find_container(a, r->container_id) != NULL)
		return cc_error_code(err, TTRPC_ALREADY_EXISTS, "container %s already exists",
				     r->container_id);
	if (rpc_json_field_check("spec_json", r->spec_json, err) < 0)
		return -1;
	struct oci_spec *spec = NULL;
	if (oci_spec_parse((const char *)r->spec_json.data, r->spec_json.len, &spec, err) < 0) {
		cc_error_prefix(err, "spec_json");
		return cc_error_fail(err, TTRPC_INVALID_ARGUMENT);
	}
	struct container *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		oci_spec_free(spec);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	snprintf(c->rt.id, sizeof(c->rt.id), "%s", r->container_id);
	c->rt.spec = spec;
	c->rt.start_fd = -1;
	struct stdio_pair io;
	if (rpc_stdio_open(&io, spec->process.terminal, r->stdin, err) < 0 ||
	    container_create(&c->rt, &io.child, err) < 0) {
		rpc_stdio_close(&io);
		oci_spec_free(spec);
		free(c);
		return cc_error_fail(err, TTRPC_UNKNOWN);
	}
	if (rpc_stdio_take_console(&io, r->stdin, err) < 0) {
		struct cc_error ignored;
		rpc_stdio_close(&io);
		container_destroy(&c->rt, &ignored); /* frees the spec */
		free(c);
		return cc_error_fail(err, TTRPC_RESOURCE_EXHAUSTED);
	}
	rpc_stdio_close_child(&io);
	c->next = a->containers;
	a->containers = c;
	if (agent_add_process(a, c, "", c->rt.init_pid, spec->process.terminal, io.out, io.err,
			      io.in) == NULL) {
		rpc_stdio_close(&io);
		if (agent_container_remove(a, c, err) < 0)
			cc_warn("container %s: %s", r->container_id, err->msg);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	cc_info("container %s created, init pid %d", c->rt.id, (int)c->rt.init_pid);
	Cocoon__Agent__V1__CreateContainerResponse resp =
		COCOON__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
	resp.pid = (uint32_t)c->rt.init_pid;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

int rpc_start(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	const Cocoon__Agent__V1__StartContainerRequest *r =
		(const Cocoon__Agent__V1__StartContainerRequest *)msg;
	struct container *c = rpc_get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	if (c->started || !rpc_init_running(c))
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "container %s was already started", c->rt.id);
	if (container_start(&c->rt, err) < 0)
		return cc_error_fail(err, TTRPC_UNKNOWN);
	c->started = true;
	return rpc_reply_empty(call);
}

int rpc_stats(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = rpc_get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	struct container_stats st;
	if (container_stats(&c->rt, &st, err) < 0)
		return cc_error_fail(err, TTRPC_UNKNOWN);
	Cocoon__Agent__V1__StatsResponse resp = COCOON__AGENT__V1__STATS_RESPONSE__INIT;
#define COPY(name) resp.name = st.name;
	CONTAINER_STATS_FIELDS(COPY)
#undef COPY
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

static int freeze(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, int frozen,
		  struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = rpc_get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	if (container_freeze(&c->rt, frozen, err) < 0)
		return cc_error_fail(err, TTRPC_UNKNOWN);
	return rpc_reply_empty(call);
}

int rpc_pause(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	return freeze(call, msg, user, 1, err);
}

int rpc_resume(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	return freeze(call, msg, user, 0, err);
}

int rpc_update(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Cocoon__Agent__V1__UpdateContainerRequest *r =
		(const Cocoon__Agent__V1__UpdateContainerRequest *)msg;
	struct container *c = rpc_get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	if (rpc_json_field_check("resources_json", r->resources_json, err) < 0)
		return -1;
	struct oci_resources res;
	memset(&res, 0, sizeof(res));
	int rc;
	if (oci_resources_parse((const char *)r->resources_json.data, r->resources_json.len, &res,
				err) < 0) {
		cc_error_prefix(err, "resources_json");
		rc = cc_error_fail(err, TTRPC_INVALID_ARGUMENT);
	} else if (container_update(&c->rt, &res, err) < 0) {
		rc = cc_error_fail(err, TTRPC_UNKNOWN);
	} else {
		rc = rpc_reply_empty(call);
	}
	free(res.cpuset_cpus);
	free(res.cpuset_mems);
	return rc;
}

int rpc_list(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user, struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = rpc_get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	if (container_pids(&c->rt, &pids, &n, err) < 0)
		return cc_error_fail(err, TTRPC_UNKNOWN);
	cleanup_free uint32_t *out = calloc(n > 0 ? n : 1, sizeof(*out));
	if (out == NULL)
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++)
		out[i] = (uint32_t)pids[i];
	Cocoon__Agent__V1__ListProcessesResponse resp =
		COCOON__AGENT__V1__LIST_PROCESSES_RESPONSE__INIT;
	resp.pids = out;
	resp.n_pids = n;
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

int rpc_remove_container(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			 struct cc_error *err)
{
	const Cocoon__Agent__V1__ContainerRequest *r =
		(const Cocoon__Agent__V1__ContainerRequest *)msg;
	struct container *c = rpc_get_container(user, r->container_id, err);
	if (c == NULL)
		return -1;
	/* A created but never started container may go; a running one is killed first. */
	if (c->started && rpc_init_running(c))
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "container %s is running; signal it and wait first", c->rt.id);
	if (agent_container_remove(user, c, err) < 0)
		return cc_error_fail(err, TTRPC_UNKNOWN);
	cc_info("container %s removed", r->container_id);
	return rpc_reply_empty(call);
}
