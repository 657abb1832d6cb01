/* containerd.task.v2.Task handlers. They run on the main thread; each RPC that needs
 * the guest forwards to the agent without holding shim.lock. Wait is answered later,
 * by the process's exit watcher. Handlers that only forward a request to the agent
 * (Kill, Pids, Pause, Resume, Stats, Update, ResizePty, CloseIO) run on a thread of
 * their own, so a guest that stops answering delays only those calls: State, Wait,
 * Connect, Exec and Shutdown are still answered at once.
 *
 * This file: the method table, the helpers every handler uses (service.h), and the
 * calls that only read the table (State, Wait, Connect) or end the shim (Shutdown).
 * The task's lifecycle (Create, Start, Kill, Delete) is service_task.c's, Exec and the
 * stdio calls service_exec.c's, the calls forwarded to the agent (Pids, Pause, Resume,
 * Update, Stats, Checkpoint) service_control.c's. */
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
#include "shim/service.h"

#include "github.com/containerd/containerd/api/events/task.pb-c.h"

const Google__Protobuf__Empty shim_empty = GOOGLE__PROTOBUF__EMPTY__INIT;

struct shim_limits shim_limits = { .stop_grace_ms = 10000, .max_execs = 128 };

/* A silent guest must not hold up the pod's teardown longer than the host's own grace. */
int shim_stop_wait_ms(void)
{
	return shim_limits.stop_grace_ms < SHIM_AGENT_TIMEOUT_MS ? shim_limits.stop_grace_ms
								 : SHIM_AGENT_TIMEOUT_MS;
}

/* Looks the process up; NULL with err set (NOT_FOUND) when it is missing. Lock held. */
struct shim_proc *shim_find_proc(const char *id, const char *exec_id, struct cc_error *err)
{
	struct shim_proc *p = shim_proc_find(id, exec_id);
	if (!p) {
		if (exec_id && *exec_id)
			cc_error_code(err, TTRPC_NOT_FOUND, "process %s of task %s not found",
				      exec_id, id);
		else
			cc_error_code(err, TTRPC_NOT_FOUND, "task %s not found", id);
	}
	return p;
}

int shim_proc_known(const char *id, const char *exec_id, struct cc_error *err)
{
	pthread_mutex_lock(&shim.lock);
	bool found = shim_find_proc(id, exec_id, err) != NULL;
	pthread_mutex_unlock(&shim.lock);
	return found ? 0 : -1;
}

/* A per-container agent query (Pids, Pause/Resume, Stats): the container's id in a
 * ContainerRequest; an agent error fails the containerd call. */
int shim_container_call(const char *id, enum agent_method method, ProtobufCMessage **resp,
			struct cc_error *err)
{
	if (agent_container_call(shim_agent(), method, id, resp, SHIM_AGENT_TIMEOUT_MS, err) < 0)
		return cc_error_fail(err, TTRPC_INTERNAL);
	return 0;
}

/* ---- Wait, State, Connect, Shutdown ---- */

int task_wait(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	const Containerd__Task__V2__WaitRequest *r = (const Containerd__Task__V2__WaitRequest *)msg;
	int rc = 0;
	struct shim_proc *p;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	p = shim_find_proc(r->id, r->exec_id, err);
	if (!p) {
		rc = -1;
	} else if (p->exited) {
		Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
		Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		shim_timestamp(&ts, p->exited_at_ns);
		resp.exit_status = p->exit_status;
		resp.exited_at = &ts;
		ttrpc_call_reply(call, &resp.base);
	} else {
		struct ttrpc_call **w = realloc(p->waiters, (p->n_waiters + 1) * sizeof(*w));
		if (!w) {
			rc = cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		} else {
			p->waiters = w;
			p->waiters[p->n_waiters++] = call;
		}
	}
	pthread_mutex_unlock(&shim.lock);
	return rc;
}

int task_state(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Containerd__Task__V2__StateRequest *r =
		(const Containerd__Task__V2__StateRequest *)msg;
	int rc = 0;
	Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct shim_proc *p;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	p = shim_find_proc(r->id, r->exec_id, err);
	if (!p)
		rc = -1;
	if (p) {
		resp.id = p->task->id;
		resp.exec_id = p->exec_id;
		resp.bundle = p->task->bundle;
		resp.pid = p->host_pid;
		resp.status = (Containerd__V1__Types__Status)p->status;
		resp.stdin = p->stdin_path;
		resp.stdout = p->stdout_path;
		resp.stderr = p->stderr_path;
		resp.terminal = p->terminal;
		resp.exit_status = p->exit_status;
		if (p->exited) {
			shim_timestamp(&ts, p->exited_at_ns);
			resp.exited_at = &ts;
		}
		ttrpc_call_reply(call, &resp.base);
	}
	pthread_mutex_unlock(&shim.lock);
	return rc;
}

int task_connect(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		 struct cc_error *err)
{
	const Containerd__Task__V2__ConnectRequest *r =
		(const Containerd__Task__V2__ConnectRequest *)msg;
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	(void)user, (void)err;

	pthread_mutex_lock(&shim.lock);
	struct shim_task *t = shim_task_find(r->id);
	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = t ? t->init.host_pid : 0;
	resp.version = "cocoon";
	pthread_mutex_unlock(&shim.lock);
	ttrpc_call_reply(call, &resp.base);
	return 0;
}

/* containerd sends Shutdown after each task's Delete; the pod's shim stays while any
 * of its containers remain. */
int task_shutdown(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		  struct cc_error *err)
{
	(void)msg, (void)user, (void)err;
	pthread_mutex_lock(&shim.lock);
	size_t left = shim_task_count();
	pthread_mutex_unlock(&shim.lock);
	ttrpc_call_reply(call, &shim_empty.base);
	if (left == 0)
		shim_request_exit();
	return 0;
}

#define ASYNC(fn)                                                                               \
	static int fn##_async(struct ttrpc_call *call, const ProtobufCMessage *req, void *user, \
			      struct cc_error *err)                                             \
	{                                                                                       \
		(void)user;                                                                     \
		return shim_run_async(fn, call, req, err);                                      \
	}

ASYNC(task_pids)
ASYNC(task_pause)
ASYNC(task_resume)
ASYNC(task_kill)
ASYNC(task_resize_pty)
ASYNC(task_close_io)
ASYNC(task_update)
ASYNC(task_stats)

#define M(name, desc, fn)                                  \
	{                                                  \
		"containerd.task.v2.Task", name, &desc, fn \
	}
const struct ttrpc_method shim_task_methods[] = {
	M("State", containerd__task__v2__state_request__descriptor, task_state),
	M("Create", containerd__task__v2__create_task_request__descriptor, task_create),
	M("Start", containerd__task__v2__start_request__descriptor, task_start),
	M("Delete", containerd__task__v2__delete_request__descriptor, task_delete),
	M("Pids", containerd__task__v2__pids_request__descriptor, task_pids_async),
	M("Pause", containerd__task__v2__pause_request__descriptor, task_pause_async),
	M("Resume", containerd__task__v2__resume_request__descriptor, task_resume_async),
	M("Checkpoint", containerd__task__v2__checkpoint_task_request__descriptor, task_checkpoint),
	M("Kill", containerd__task__v2__kill_request__descriptor, task_kill_async),
	M("Exec", containerd__task__v2__exec_process_request__descriptor, task_exec),
	M("ResizePty", containerd__task__v2__resize_pty_request__descriptor, task_resize_pty_async),
	M("CloseIO", containerd__task__v2__close_iorequest__descriptor, task_close_io_async),
	M("Update", containerd__task__v2__update_task_request__descriptor, task_update_async),
	M("Wait", containerd__task__v2__wait_request__descriptor, task_wait),
	M("Stats", containerd__task__v2__stats_request__descriptor, task_stats_async),
	M("Connect", containerd__task__v2__connect_request__descriptor, task_connect),
	M("Shutdown", containerd__task__v2__shutdown_request__descriptor, task_shutdown),
};
const size_t shim_n_task_methods = CC_ARRAY_SIZE(shim_task_methods);
