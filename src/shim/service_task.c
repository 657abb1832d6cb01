/* The task's lifecycle in the Task API: Create (the work is create.c's), Start, Kill
 * and Delete. */
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

/* ---- Create ---- */

int task_create(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		struct cc_error *err)
{
	const Containerd__Task__V2__CreateTaskRequest *r =
		(const Containerd__Task__V2__CreateTaskRequest *)msg;
	int rc = 0;
	struct shim_task *t = NULL;
	bool booted = false;
	(void)user;

	/* Container ids become share and file names, and the agent's. */
	if (agent_check_id("task id", r->id, false, err) < 0) {
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "invalid task id '%s'", r->id);
	}
	if (!r->bundle || r->bundle[0] != '/') {
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "bundle must be an absolute path");
	}
	if (r->checkpoint && *r->checkpoint) {
		return cc_error_code(err, TTRPC_UNIMPLEMENTED,
				     "restoring from a checkpoint is not supported by cocoon");
	}
	if (shim_task_find(r->id)) {
		return cc_error_code(err, TTRPC_ALREADY_EXISTS, "task %s already exists", r->id);
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->id = strdup(r->id)) || !(t->bundle = strdup(r->bundle)) ||
	    !(t->init.exec_id = strdup("")) || !(t->init.stdin_path = strdup(r->stdin)) ||
	    !(t->init.stdout_path = strdup(r->stdout)) ||
	    !(t->init.stderr_path = strdup(r->stderr))) {
		if (t)
			shim_task_free(t);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	t->init.task = t;
	t->init.terminal = r->terminal;
	t->init.status = SHIM_CREATED;
	if (shim_task_create(r, t, &booted, err) < 0) {
		cc_err("create %s: %s", r->id, err->msg);
		cc_error_fail(err, TTRPC_INTERNAL);
		shim_task_abandon(t, booted);
		return -1;
	}
	t->init.io = shim_io_start(t->id, "", r->stdin, r->stdout, r->stderr, r->terminal);
	pthread_mutex_lock(&shim.lock);
	shim_task_add(t);
	pthread_mutex_unlock(&shim.lock);
	if (shim_proc_watch(&t->init, err) < 0)
		cc_err("%s", err->msg);

	Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	io.stdin = r->stdin;
	io.stdout = r->stdout;
	io.stderr = r->stderr;
	io.terminal = r->terminal;
	ev.container_id = r->id;
	ev.bundle = r->bundle;
	ev.n_rootfs = r->n_rootfs;
	ev.rootfs = r->rootfs;
	ev.io = &io;
	ev.pid = t->init.host_pid;
	shim_publish("/tasks/create", "containerd.events.TaskCreate", &ev.base);

	Containerd__Task__V2__CreateTaskResponse resp =
		CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	resp.pid = t->init.host_pid;
	ttrpc_call_reply(call, &resp.base);
	cc_info("created %s (guest pid %u, VMM pid %u)", r->id, t->init.guest_pid, resp.pid);
	return rc;
}

/* ---- Start ---- */

static int start_exec(struct shim_proc *p, struct cc_error *err)
{
	if (agent_exec(shim_agent(), p->task->id, p->exec_id, p->process_json,
		       strlen(p->process_json), *p->stdin_path != 0, &p->guest_pid,
		       SHIM_AGENT_TIMEOUT_MS, err) < 0)
		return -1;
	p->host_pid = shim_vm_pid();
	p->io = shim_io_start(p->task->id, p->exec_id, p->stdin_path, p->stdout_path,
			      p->stderr_path, p->terminal);
	return shim_proc_watch(p, err);
}

int task_start(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Containerd__Task__V2__StartRequest *r =
		(const Containerd__Task__V2__StartRequest *)msg;
	int rc = 0;
	struct shim_proc *p;
	bool is_exec;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	p = shim_find_proc(r->id, r->exec_id, err);
	if (p && p->status != SHIM_CREATED) {
		cc_error_code(err, TTRPC_FAILED_PRECONDITION, "%s %s was already started", r->id,
			      r->exec_id);
		p = NULL;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return -1;
	is_exec = *p->exec_id != 0;
	if (is_exec) {
		rc = start_exec(p, err);
	} else {
		rc = agent_start(shim_agent(), r->id, SHIM_AGENT_TIMEOUT_MS, err);
	}
	if (rc < 0) {
		cc_err("start %s %s: %s", r->id, r->exec_id, err->msg);
		return cc_error_fail(err, TTRPC_INTERNAL);
	}
	pthread_mutex_lock(&shim.lock);
	if (p->status == SHIM_CREATED)
		p->status = SHIM_RUNNING;
	if (is_exec) {
		Containerd__Events__TaskExecStarted ev =
			CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
		ev.container_id = r->id;
		ev.exec_id = r->exec_id;
		ev.pid = p->host_pid;
		shim_publish("/tasks/exec-started", "containerd.events.TaskExecStarted", &ev.base);
	} else {
		Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
		ev.container_id = r->id;
		ev.pid = p->host_pid;
		shim_publish("/tasks/start", "containerd.events.TaskStart", &ev.base);
	}
	Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	resp.pid = p->host_pid;
	pthread_mutex_unlock(&shim.lock);
	ttrpc_call_reply(call, &resp.base);
	return rc;
}

/* ---- Kill ---- */

int task_kill(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	const Containerd__Task__V2__KillRequest *r = (const Containerd__Task__V2__KillRequest *)msg;
	int rc = 0;
	struct shim_proc *p;
	bool ok = false;
	(void)user;

	if (r->signal == 0 || r->signal > 64)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "invalid signal %u", r->signal);
	pthread_mutex_lock(&shim.lock);
	p = shim_find_proc(r->id, r->exec_id, err);
	if (p && p->exited && !r->all)
		cc_error_code(err, TTRPC_NOT_FOUND, "process already finished");
	else if (p && *p->exec_id && p->status == SHIM_CREATED)
		cc_error_code(err, TTRPC_FAILED_PRECONDITION, "exec %s was not started",
			      p->exec_id);
	else
		ok = p != NULL;
	pthread_mutex_unlock(&shim.lock);
	if (!ok)
		return -1;
	if (r->signal == SIGKILL)
		shim_watch_kill(r->id, r->all ? "" : r->exec_id);
	/* A SIGKILL is carried out by the host if the guest does not: not an error. */
	int sent = agent_signal(shim_agent(), r->id, r->exec_id, r->signal, r->all,
				shim_stop_wait_ms(), err);
	/* A guest silent for the whole grace: the host does what the watchdog would. */
	if (sent < 0 && r->signal == SIGKILL && err->code == TTRPC_DEADLINE_EXCEEDED) {
		pthread_mutex_lock(&shim.lock);
		if (!shim_vm_is_lost())
			shim_vm_kill("the guest did not answer SIGKILL within stop_grace_ms");
		pthread_mutex_unlock(&shim.lock);
	}
	if (sent < 0 && !(r->signal == SIGKILL && shim_vm_is_lost()))
		rc = cc_error_fail(err, TTRPC_INTERNAL);
	else
		ttrpc_call_reply(call, &shim_empty.base);
	return rc;
}

/* ---- Delete ---- */

static void reply_delete(struct ttrpc_call *call, uint32_t pid, uint32_t status, uint64_t at)
{
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	shim_timestamp(&ts, at);
	resp.pid = pid;
	resp.exit_status = status;
	resp.exited_at = &ts;
	ttrpc_call_reply(call, &resp.base);
}

static bool all_exited(const struct shim_task *t)
{
	if (!t->init.exited)
		return false;
	for (const struct shim_proc *p = t->execs; p; p = p->next)
		if (!p->exited && p->status != SHIM_CREATED)
			return false;
	return true;
}

static int delete_exec(struct ttrpc_call *call, struct shim_task *t, struct shim_proc *p,
		       struct cc_error *err)
{
	if (!p->exited && p->status != SHIM_CREATED)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "exec %s is still running",
				     p->exec_id);
	for (struct shim_proc **pp = &t->execs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	reply_delete(call, p->host_pid, p->exit_status, p->exited_at_ns);
	shim_proc_free(p);
	return 0;
}

/* A created task that never started is killed before it is deleted (as runc does). */
static bool kill_created(struct shim_task *t)
{
	struct cc_error err = { 0 };

	shim_watch_kill(t->id, "");
	if (agent_signal(shim_agent(), t->id, "", SIGKILL, true, shim_stop_wait_ms(), &err) < 0)
		cc_warn("%s: kill before delete: %s", t->id, err.msg);
	/* The watchdog stops the VM after the grace; its exit reaches the watcher soon after. */
	for (int i = 0; i < shim_limits.stop_grace_ms / 50 + 100; i++) {
		pthread_mutex_lock(&shim.lock);
		bool done = t->init.exited;
		pthread_mutex_unlock(&shim.lock);
		if (done)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

int task_delete(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		struct cc_error *err)
{
	const Containerd__Task__V2__DeleteRequest *r =
		(const Containerd__Task__V2__DeleteRequest *)msg;
	int rc = 0;
	struct shim_proc *p;
	struct shim_task *t;
	cleanup_free char *link = NULL;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	p = shim_find_proc(r->id, r->exec_id, err);
	if (p && *p->exec_id) {
		rc = delete_exec(call, p->task, p, err);
		pthread_mutex_unlock(&shim.lock);
		return rc;
	}
	bool created = p && p->status == SHIM_CREATED && !p->exited;
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return -1;
	t = p->task;
	if (created && !kill_created(t)) {
		return cc_error_code(err, TTRPC_DEADLINE_EXCEEDED, "task %s did not die on SIGKILL",
				     t->id);
	}
	if (!t->init.exited) {
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION, "task %s is still running",
				     t->id);
	}

	if (!shim_vm_is_lost() &&
	    agent_remove_container(shim_agent(), t->id, shim_stop_wait_ms(), err) < 0)
		cc_warn("%s: %s", t->id, err->msg);
	shim_task_unshare(t);
	if (t->rootfs_mounted)
		shim_rootfs_umount(t->bundle);
	link = cc_strdup_printf("%s/%s", t->bundle, SHIM_STATE_LINK);
	if (link)
		unlink(link);

	pthread_mutex_lock(&shim.lock);
	shim_task_remove(t);
	Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	shim_timestamp(&ts, t->init.exited_at_ns);
	ev.container_id = t->id;
	ev.pid = t->init.host_pid;
	ev.exit_status = t->init.exit_status;
	ev.exited_at = &ts;
	shim_publish("/tasks/delete", "containerd.events.TaskDelete", &ev.base);
	reply_delete(call, t->init.host_pid, t->init.exit_status, t->init.exited_at_ns);
	bool can_free = all_exited(t);
	pthread_mutex_unlock(&shim.lock);
	/* A watcher still blocked in the guest would make the join hang: leak instead. */
	if (can_free)
		shim_task_free(t);
	else
		cc_warn("%s: a process never reported its exit; keeping its record", r->id);
	return rc;
}
