/* containerd.task.v2.Task handlers. They run on the main thread; each RPC that needs
 * the guest forwards to the agent without holding shim.lock. Wait is answered later,
 * by the process's exit watcher. Handlers that only forward a request to the agent
 * (Kill, Pids, Pause, Resume, Stats, Update, ResizePty, CloseIO) run on a thread of
 * their own, so a guest that stops answering delays only those calls: State, Wait,
 * Connect, Exec and Shutdown are still answered at once. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/config.h"
#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "proto/agent.pb-c.h"
#include "shim/shim.h"
#include "shim/spec.h"

#include "github.com/containerd/containerd/api/events/task.pb-c.h"

#define MAX_PROCESS_JSON (1u << 20)

static const Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;

struct shim_limits shim_limits = { .stop_grace_ms = 10000, .max_execs = 128 };

/* How long a call that stops or removes something (Kill, Delete) waits for the guest: a
 * silent guest must not hold up the pod's teardown longer than the host's own grace. */
static int stop_wait_ms(void)
{
	return shim_limits.stop_grace_ms < SHIM_AGENT_TIMEOUT_MS ? shim_limits.stop_grace_ms
								 : SHIM_AGENT_TIMEOUT_MS;
}

#define ASYNC(fn)                                                                               \
	static int fn##_async(struct ttrpc_call *call, const ProtobufCMessage *req, void *user, \
			      struct cc_error *err)                                             \
	{                                                                                       \
		(void)user;                                                                     \
		return shim_run_async(fn, call, req, err);                                      \
	}

/* A failure whose code the callee did not choose gets dflt. Returns -1. */
static int fail(struct cc_error *err, enum ttrpc_code dflt)
{
	if (!err->code)
		err->code = dflt;
	return -1;
}

/* Looks the process up; NULL with err set (NOT_FOUND) when it is missing. Lock held. */
static struct shim_proc *find_proc(const char *id, const char *exec_id, struct cc_error *err)
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

/* find_proc under the lock, for handlers that only pass the id on to the agent. */
static int proc_known(const char *id, const char *exec_id, struct cc_error *err)
{
	pthread_mutex_lock(&shim.lock);
	bool found = find_proc(id, exec_id, err) != NULL;
	pthread_mutex_unlock(&shim.lock);
	return found ? 0 : -1;
}

/* A per-container agent query (Pids, Pause/Resume, Stats): the container's id in a
 * ContainerRequest; an agent error fails the containerd call. */
static int container_call(const char *id, enum agent_method method, ProtobufCMessage **resp,
			  struct cc_error *err)
{
	if (agent_container_call(shim_agent(), method, id, resp, SHIM_AGENT_TIMEOUT_MS, err) < 0)
		return fail(err, TTRPC_INTERNAL);
	return 0;
}

/* ---- Create (the work is create.c's) ---- */

static int h_create(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
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
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		if (t)
			shim_task_free(t);
	}
	t->init.task = t;
	t->init.terminal = r->terminal;
	t->init.status = SHIM_CREATED;
	if (shim_task_create(r, t, &booted, err) < 0) {
		cc_err("create %s: %s", r->id, err->msg);
		fail(err, TTRPC_INTERNAL);
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

/* ---- Start, Exec ---- */

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

static int h_start(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	const Containerd__Task__V2__StartRequest *r =
		(const Containerd__Task__V2__StartRequest *)msg;
	int rc = 0;
	struct shim_proc *p;
	bool is_exec;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	p = find_proc(r->id, r->exec_id, err);
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
		return fail(err, TTRPC_INTERNAL);
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

/* Exec'd processes of the pod not yet exited or deleted. Lock held. */
static unsigned live_execs(void)
{
	unsigned n = 0;
	for (const struct shim_task *t = shim.tasks; t; t = t->next)
		for (const struct shim_proc *p = t->execs; p; p = p->next)
			n += !p->exited;
	return n;
}

static int h_exec(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
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
		ttrpc_call_reply(call, &empty.base);
	}
	pthread_mutex_unlock(&shim.lock);
	return rc;
}

/* ---- Wait, State, Kill ---- */

static int h_wait(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		  struct cc_error *err)
{
	const Containerd__Task__V2__WaitRequest *r = (const Containerd__Task__V2__WaitRequest *)msg;
	int rc = 0;
	struct shim_proc *p;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	p = find_proc(r->id, r->exec_id, err);
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

static int h_state(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
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
	p = find_proc(r->id, r->exec_id, err);
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

static int h_kill(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
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
	p = find_proc(r->id, r->exec_id, err);
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
	int sent = agent_signal(shim_agent(), r->id, r->exec_id, r->signal, r->all, stop_wait_ms(),
				err);
	/* A guest silent for the whole grace: the host does what the watchdog would. */
	if (sent < 0 && r->signal == SIGKILL && err->code == TTRPC_DEADLINE_EXCEEDED) {
		pthread_mutex_lock(&shim.lock);
		if (!shim_vm_is_lost())
			shim_vm_kill("the guest did not answer SIGKILL within stop_grace_ms");
		pthread_mutex_unlock(&shim.lock);
	}
	if (sent < 0 && !(r->signal == SIGKILL && shim_vm_is_lost()))
		rc = fail(err, TTRPC_INTERNAL);
	else
		ttrpc_call_reply(call, &empty.base);
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
	if (agent_signal(shim_agent(), t->id, "", SIGKILL, true, stop_wait_ms(), &err) < 0)
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

static int h_delete(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
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
	p = find_proc(r->id, r->exec_id, err);
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
	    agent_remove_container(shim_agent(), t->id, stop_wait_ms(), err) < 0)
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

/* ---- the rest of the API ---- */

static int h_pids(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		  struct cc_error *err)
{
	const Containerd__Task__V2__PidsRequest *r = (const Containerd__Task__V2__PidsRequest *)msg;
	int rc = 0;
	Cocoon__Agent__V1__ListProcessesResponse *lresp = NULL;
	(void)user;

	if (proc_known(r->id, NULL, err) < 0 ||
	    container_call(r->id, AGENT_LIST_PROCESSES, (ProtobufCMessage **)&lresp, err) < 0)
		return -1;
	size_t n = lresp->n_pids < 65536 ? lresp->n_pids : 65536;
	Containerd__V1__Types__ProcessInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Containerd__V1__Types__ProcessInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!infos || !ptrs) {
		rc = cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
		for (size_t i = 0; i < n; i++) {
			containerd__v1__types__process_info__init(&infos[i]);
			infos[i].pid = lresp->pids[i];
			ptrs[i] = &infos[i];
		}
		resp.n_processes = n;
		resp.processes = ptrs;
		ttrpc_call_reply(call, &resp.base);
	}
	free(infos);
	free(ptrs);
	protobuf_c_message_free_unpacked(&lresp->base, NULL);
	return rc;
}

/* Pause and Resume: the guest freezes the container's cgroup. */
static int pause_resume(struct ttrpc_call *call, const char *id, bool pause, struct cc_error *err)
{
	struct shim_proc *p;

	pthread_mutex_lock(&shim.lock);
	p = find_proc(id, NULL, err);
	if (p && p->status != (pause ? SHIM_RUNNING : SHIM_PAUSED)) {
		cc_error_code(err, TTRPC_FAILED_PRECONDITION, "task %s is not %s", id,
			      pause ? "running" : "paused");
		p = NULL;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return -1;
	if (container_call(id, pause ? AGENT_PAUSE_CONTAINER : AGENT_RESUME_CONTAINER, NULL, err) <
	    0)
		return -1;
	pthread_mutex_lock(&shim.lock);
	if (!p->exited)
		p->status = pause ? SHIM_PAUSED : SHIM_RUNNING;
	pthread_mutex_unlock(&shim.lock);
	if (pause) {
		Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
		ev.container_id = (char *)id;
		shim_publish("/tasks/paused", "containerd.events.TaskPaused", &ev.base);
	} else {
		Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
		ev.container_id = (char *)id;
		shim_publish("/tasks/resumed", "containerd.events.TaskResumed", &ev.base);
	}
	ttrpc_call_reply(call, &empty.base);
	return 0;
}

static int h_pause(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	const Containerd__Task__V2__PauseRequest *r =
		(const Containerd__Task__V2__PauseRequest *)msg;
	(void)user;
	return pause_resume(call, r->id, true, err);
}

static int h_resume(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Containerd__Task__V2__ResumeRequest *r =
		(const Containerd__Task__V2__ResumeRequest *)msg;
	(void)user;
	return pause_resume(call, r->id, false, err);
}

static int h_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			struct cc_error *err)
{
	(void)call, (void)msg, (void)user;
	return cc_error_code(
		err, TTRPC_UNIMPLEMENTED,
		"checkpoint is not supported by cocoon: the container's state lives in its VM");
}

static int h_resize_pty(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
			struct cc_error *err)
{
	const Containerd__Task__V2__ResizePtyRequest *r =
		(const Containerd__Task__V2__ResizePtyRequest *)msg;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	bool found = find_proc(r->id, r->exec_id, err) != NULL;
	pthread_mutex_unlock(&shim.lock);
	if (!found)
		return -1;
	/* A client without a terminal size (0x0) asks for nothing. */
	if (r->width != 0 && r->height != 0 &&
	    agent_resize(shim_agent(), r->id, r->exec_id, r->width, r->height,
			 SHIM_AGENT_TIMEOUT_MS, err) < 0)
		return fail(err, TTRPC_INTERNAL);
	ttrpc_call_reply(call, &empty.base);
	return 0;
}

static int h_close_io(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		      struct cc_error *err)
{
	const Containerd__Task__V2__CloseIORequest *r =
		(const Containerd__Task__V2__CloseIORequest *)msg;
	struct stdio_relay *io = NULL;
	(void)user;

	pthread_mutex_lock(&shim.lock);
	struct shim_proc *p = find_proc(r->id, r->exec_id, err);
	if (p)
		io = p->io;
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return -1;
	if (io && r->stdin)
		stdio_relay_close_stdin(io);
	ttrpc_call_reply(call, &empty.base);
	return 0;
}

static int h_update(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	const Containerd__Task__V2__UpdateTaskRequest *r =
		(const Containerd__Task__V2__UpdateTaskRequest *)msg;
	int rc = 0;
	Cocoon__Agent__V1__UpdateContainerRequest ureq =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	(void)user;

	if (proc_known(r->id, NULL, err) < 0)
		return -1;
	/* containerd sends the OCI LinuxResources as JSON inside the Any. */
	if (!r->resources || r->resources->value.len == 0 ||
	    r->resources->value.len > MAX_PROCESS_JSON) {
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
				     "update: missing or oversized resources");
	}
	ureq.container_id = r->id;
	ureq.resources_json = r->resources->value;
	if (agent_call(shim_agent(), AGENT_UPDATE_CONTAINER, &ureq.base, NULL,
		       SHIM_AGENT_TIMEOUT_MS, err) < 0)
		rc = fail(err, TTRPC_INTERNAL);
	else
		ttrpc_call_reply(call, &empty.base);
	return rc;
}

/* The guest's numbers as containerd's cgroup v1 Metrics (metrics.c). */
static int h_stats(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		   struct cc_error *err)
{
	const Containerd__Task__V2__StatsRequest *r =
		(const Containerd__Task__V2__StatsRequest *)msg;
	int rc = 0;
	Cocoon__Agent__V1__StatsResponse *s = NULL;
	(void)user;

	if (proc_known(r->id, NULL, err) < 0 ||
	    container_call(r->id, AGENT_STATS_CONTAINER, (ProtobufCMessage **)&s, err) < 0)
		return -1;
	size_t plen;
	uint8_t *buf = shim_metrics_pack(s, &plen);
	if (!buf) {
		rc = cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
		Containerd__Task__V2__StatsResponse resp =
			CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
		any.type_url = "io.containerd.cgroups.v1.Metrics";
		any.value.data = buf;
		any.value.len = plen;
		resp.stats = &any;
		ttrpc_call_reply(call, &resp.base);
		free(buf);
	}
	protobuf_c_message_free_unpacked(&s->base, NULL);
	return rc;
}

static int h_connect(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
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
static int h_shutdown(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		      struct cc_error *err)
{
	(void)msg, (void)user, (void)err;
	pthread_mutex_lock(&shim.lock);
	size_t left = shim_task_count();
	pthread_mutex_unlock(&shim.lock);
	ttrpc_call_reply(call, &empty.base);
	if (left == 0)
		shim_request_exit();
	return 0;
}

ASYNC(h_pids)
ASYNC(h_pause)
ASYNC(h_resume)
ASYNC(h_kill)
ASYNC(h_resize_pty)
ASYNC(h_close_io)
ASYNC(h_update)
ASYNC(h_stats)

#define M(name, desc, fn)                                  \
	{                                                  \
		"containerd.task.v2.Task", name, &desc, fn \
	}
const struct ttrpc_method shim_task_methods[] = {
	M("State", containerd__task__v2__state_request__descriptor, h_state),
	M("Create", containerd__task__v2__create_task_request__descriptor, h_create),
	M("Start", containerd__task__v2__start_request__descriptor, h_start),
	M("Delete", containerd__task__v2__delete_request__descriptor, h_delete),
	M("Pids", containerd__task__v2__pids_request__descriptor, h_pids_async),
	M("Pause", containerd__task__v2__pause_request__descriptor, h_pause_async),
	M("Resume", containerd__task__v2__resume_request__descriptor, h_resume_async),
	M("Checkpoint", containerd__task__v2__checkpoint_task_request__descriptor, h_checkpoint),
	M("Kill", containerd__task__v2__kill_request__descriptor, h_kill_async),
	M("Exec", containerd__task__v2__exec_process_request__descriptor, h_exec),
	M("ResizePty", containerd__task__v2__resize_pty_request__descriptor, h_resize_pty_async),
	M("CloseIO", containerd__task__v2__close_iorequest__descriptor, h_close_io_async),
	M("Update", containerd__task__v2__update_task_request__descriptor, h_update_async),
	M("Wait", containerd__task__v2__wait_request__descriptor, h_wait),
	M("Stats", containerd__task__v2__stats_request__descriptor, h_stats_async),
	M("Connect", containerd__task__v2__connect_request__descriptor, h_connect),
	M("Shutdown", containerd__task__v2__shutdown_request__descriptor, h_shutdown),
};
const size_t shim_n_task_methods = CC_ARRAY_SIZE(shim_task_methods);
