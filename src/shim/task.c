/* The task table: containers of the pod and their exec'd processes, and the thread per
 * process that waits for its exit in the guest. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/ttrpc.h"
#include "proto/agent.pb-c.h"
#include "shim/shim.h"

#include "github.com/containerd/containerd/api/events/task.pb-c.h"

/* An exit whose cause is on the host (the VM died, the agent failed): like runc's
 * status for a process it lost track of. */
#define EXIT_STATUS_LOST 255

struct shim_task *shim_task_find(const char *id)
{
	for (struct shim_task *t = shim.tasks; t; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

struct shim_proc *shim_proc_find(const char *id, const char *exec_id)
{
	struct shim_task *t = shim_task_find(id);

	if (!t)
		return NULL;
	if (!exec_id || !*exec_id)
		return &t->init;
	for (struct shim_proc *p = t->execs; p; p = p->next)
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

void shim_task_add(struct shim_task *t)
{
	t->next = shim.tasks;
	shim.tasks = t;
}

void shim_task_remove(struct shim_task *t)
{
	for (struct shim_task **pp = &shim.tasks; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			return;
		}
}

size_t shim_task_count(void)
{
	size_t n = 0;
	for (struct shim_task *t = shim.tasks; t; t = t->next)
		n++;
	return n;
}

static void proc_clear(struct shim_proc *p)
{
	/* The watcher owns nothing of p once it recorded the exit. */
	if (p->wait_started)
		pthread_join(p->wait_thread, NULL);
	stdio_relay_release(p->io);
	for (size_t i = 0; i < p->n_waiters; i++)
		ttrpc_call_fail(p->waiters[i], TTRPC_NOT_FOUND, "process deleted");
	free(p->waiters);
	free(p->exec_id);
	free(p->process_json);
	free(p->stdin_path);
	free(p->stdout_path);
	free(p->stderr_path);
}

void shim_proc_free(struct shim_proc *p)
{
	proc_clear(p);
	free(p);
}

void shim_task_free(struct shim_task *t)
{
	while (t->execs) {
		struct shim_proc *p = t->execs;
		t->execs = p->next;
		shim_proc_free(p);
	}
	proc_clear(&t->init);
	free(t->share_name);
	free(t->id);
	free(t->bundle);
	free(t);
}

void shim_timestamp(Google__Protobuf__Timestamp *ts, uint64_t ns)
{
	ts->seconds = (int64_t)(ns / 1000000000ull);
	ts->nanos = (int32_t)(ns % 1000000000ull);
}

void shim_proc_set_exited(struct shim_proc *p, uint32_t status, uint64_t at_ns)
{
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;

	if (p->exited)
		return;
	p->exited = true;
	p->status = SHIM_STOPPED;
	p->exit_status = status;
	p->exited_at_ns = at_ns;
	shim_timestamp(&ts, at_ns);
	ev.container_id = p->task->id;
	ev.id = *p->exec_id ? p->exec_id : p->task->id;
	ev.pid = p->host_pid;
	ev.exit_status = status;
	ev.exited_at = &ts;
	shim_publish("/tasks/exit", "containerd.events.TaskExit", &ev.base);
	resp.exit_status = status;
	resp.exited_at = &ts;
	for (size_t i = 0; i < p->n_waiters; i++)
		ttrpc_call_reply(p->waiters[i], &resp.base);
	free(p->waiters);
	p->waiters = NULL;
	p->n_waiters = 0;
}

static void *watch(void *arg)
{
	struct shim_proc *p = arg;
	struct cc_error err = { 0 };
	struct agent_exit exit;
	uint32_t status = EXIT_STATUS_LOST;
	bool oom = false;

	/* p stays valid: Delete joins this thread before freeing it. */
	if (agent_wait(shim_agent(), p->task->id, p->exec_id, &exit, &err) < 0) {
		cc_warn("%s/%s: lost the process: %s", p->task->id, p->exec_id, err.msg);
	} else {
		/* exit codes are 0..255, signals 128+N: anything else is not a status. */
		status = exit.status >= 0 && exit.status <= 255 ? (uint32_t)exit.status
								: EXIT_STATUS_LOST;
		oom = exit.oom_killed;
	}
	/* Logs first: containerd closes the log once it learns of the exit. */
	if (p->io)
		stdio_relay_wait_outputs(p->io, 2000);
	pthread_mutex_lock(&shim.lock);
	/* The agent's connection closes only when the VM went away: every later call
	 * fails at once, saying why. */
	if (err.msg[0] && shim_vm() && ttrpc_client_closed(shim_vm()->agent))
		shim_vm_lost(err.msg);
	if (err.msg[0] && shim_vm_is_lost())
		status = shim_vm_lost_status();
	if (oom && !*p->exec_id) {
		Containerd__Events__TaskOOM ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
		ev.container_id = p->task->id;
		shim_publish("/tasks/oom", "containerd.events.TaskOOM", &ev.base);
	}
	shim_proc_set_exited(p, status, cc_clock_ns(CLOCK_REALTIME));
	pthread_mutex_unlock(&shim.lock);
	return NULL;
}

int shim_proc_watch(struct shim_proc *p, struct cc_error *err)
{
	int rc = pthread_create(&p->wait_thread, NULL, watch, p);
	if (rc != 0)
		return cc_error_set(err, rc, "starting the exit watcher of %s", p->task->id);
	p->wait_started = true;
	return 0;
}
