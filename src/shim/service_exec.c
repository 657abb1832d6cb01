/* Exec and the stdio calls of the Task API (ResizePty, CloseIO). An exec is only
 * recorded here; Start (service_task.c) runs it in the guest. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"
#include "shared/agent_proto.h"
#include "shim/service.h"

#include "github.com/containerd/containerd/api/events/task.pb-c.h"

/* Exec'd processes of the pod not yet exited or deleted. Lock held. */
static unsigned live_execs(void)
{
	unsigned n = 0;
	for (const struct shim_task *t = shim.tasks; t; t = t->next)
		for (const struct shim_proc *p = t->execs; p; p = p->next)
			n += !p->exited;
	return n;
}

int task_exec(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	const Containerd__Task__V2__ExecProcessRequest *r =
		(const Containerd__Task__V2__ExecProcessRequest *)msg;
	int rc = 0;
	struct shim_task *t;
	struct shim_proc *p = NULL;
	(void)user;

	if (agent_check_id("exec id", r->exec_id, false, err) < 0) {
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "invalid exec id '%s'",
				     r->exec_id);
	}
	if (!r->spec || r->spec->value.len == 0 || r->spec->value.len > MAX_PROCESS_JSON) {
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "exec %s: missing or oversized process spec", r->exec_id);
	}
	pthread_mutex_lock(&shim.lock);
	t = shim_task_find(r->id);
	if (!t) {
		rc = cc_error_code(err, TTRPC_NOT_FOUND, "task %s not found", r->id);
	} else if (shim_proc_find(r->id, r->exec_id)) {
		rc = cc_error_code(err, TTRPC_ALREADY_EXISTS, "exec %s already exists", r->exec_id);
	} else if (t->init.exited) {
		rc = cc_error_code(err, TTRPC_FAILED_PRECONDITION, "task %s has exited", r->id);
	} else if (live_execs() >= shim_limits.max_execs) {
		rc = cc_error_code(
			err, TTRPC_RESOURCE_EXHAUSTED,
			"exec %s: the pod already has %u live exec processes (max_execs)",
			r->exec_id, shim_limits.max_execs);
	} else if (!(p = calloc(1, sizeof(*p))) || !(p->exec_id = strdup(r->exec_id)) ||
		   !(p->process_json =
			     strndup((const char *)r->spec->value.data, r->spec->value.len)) ||
		   !(p->stdin_path = strdup(r->stdin)) || !(p->stdout_path = strdup(r->stdout)) ||
		   !(p->stderr_path = strdup(r->stderr))) {
		if (p)
			shim_proc_free(p);
		rc = cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		p->task = t;
		p->terminal = r->terminal;
		p->status = SHIM_CREATED;
		p->next = t->execs;
		t->execs = p;
		Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
		ev.container_id = r->id;
		ev.exec_id = r->exec_id;
		shim_publish("/tasks/exec-added", "containerd.events.TaskExecAdded", &ev.base);
		ttrpc_call_reply(call, &shim_empty.base);
	}
	pthread_mutex_unlock(&shim.lock);
	return rc;
}

int task_resize_pty(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Containerd__Task__V2__ResizePtyRequest *r =
		(const Containerd__Task__V2__ResizePtyRequest *)msg;
	(void)user;

	if (shim_proc_known(r->id, r->exec_id, err) < 0)
		return -1;
	/* A client without a terminal size (0x0) asks for nothing. */
	if (r->width != 0 && r->height != 0 &&
	    agent_resize(shim_agent(), r->id, r->exec_id, r->width, r->height,
			 SHIM_AGENT_TIMEOUT_MS, err) < 0)
		return cc_error_fail(err, TTRPC_INTERNAL);
	ttrpc_call_reply(call, &shim_empty.base);
	return 0;
}

int task_close_io(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		  struct cc_error *err)
{
	const Containerd__Task__V2__CloseIORequest *r =
		(const Containerd__Task__V2__CloseIORequest *)msg;
	struct stdio_relay *io = NULL;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	struct shim_proc *p = shim_find_proc(r->id, r->exec_id, err);
	if (p)
		io = p->io;
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return -1;
	if (io && r->stdin)
		stdio_relay_close_stdin(io);
	ttrpc_call_reply(call, &shim_empty.base);
	return 0;
}
