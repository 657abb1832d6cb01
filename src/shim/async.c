/* Calls that wait for the guest: Task API handlers run on threads of their own, so a
 * guest that stops answering delays only those calls, and the host's watch over a
 * SIGKILL, which stops the pod VM when the guest does not carry it out. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "shim/shim.h"

/* Handler threads at once; more calls than that wait for the guest already. */
#define MAX_ASYNC 32

struct async_call {
	ttrpc_handler_fn fn;
	struct ttrpc_call *call;
	const ProtobufCMessage *req; /* valid until the call is finished */
};

static void *async_main(void *arg)
{
	struct async_call *a = arg;
	struct cc_error err = { 0 };
	ttrpc_call_finish_handler(a->call, a->fn(a->call, a->req, NULL, &err), &err);
	free(a);
	pthread_mutex_lock(&shim.lock);
	shim.n_async--;
	pthread_cond_broadcast(&shim.async_done);
	pthread_mutex_unlock(&shim.lock);
	return NULL;
}

/* Runs fn in a thread of its own; the call is the thread's from then on. */
int shim_run_async(ttrpc_handler_fn fn, struct ttrpc_call *call, const ProtobufCMessage *req,
		   struct cc_error *err)
{
	struct async_call *a = malloc(sizeof(*a));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_mutex_lock(&shim.lock);
	bool room = shim.n_async < MAX_ASYNC;
	if (room)
		shim.n_async++;
	pthread_mutex_unlock(&shim.lock);
	if (!room) {
		free(a);
		return cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED,
				     "%d calls are already waiting for the pod VM's guest",
				     MAX_ASYNC);
	}
	if (!a) {
		cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto undo;
	}
	*a = (struct async_call){ .fn = fn, .call = call, .req = req };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, async_main, a);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return 0;
	free(a);
	cc_error_code(err, TTRPC_RESOURCE_EXHAUSTED, "starting a handler thread: %s", strerror(rc));
undo:
	pthread_mutex_lock(&shim.lock);
	shim.n_async--;
	pthread_cond_broadcast(&shim.async_done);
	pthread_mutex_unlock(&shim.lock);
	return -1;
}

static bool drained(int timeout_ms)
{
	struct timespec until = cc_timespec_after(CLOCK_REALTIME, timeout_ms);
	int rc = 0;
	while (shim.n_async > 0 && rc == 0)
		rc = pthread_cond_timedwait(&shim.async_done, &shim.lock, &until);
	return shim.n_async == 0;
}

void shim_async_drain(int timeout_ms)
{
	pthread_mutex_lock(&shim.lock);
	if (!drained(timeout_ms)) {
		shim_vm_kill("the shim is exiting and the guest keeps calls waiting");
		if (!drained(timeout_ms))
			cc_warn("%u calls still waiting for the guest at exit", shim.n_async);
	}
	pthread_mutex_unlock(&shim.lock);
}

/* After a SIGKILL the host does not take the guest's word: if the process has not
 * exited within stop_grace_ms, the host stops the whole VM (the guest is either wedged
 * or lying), and every process of the pod is reported exited. */
struct kill_watch {
	char *id, *exec_id;
	int grace_ms;
};

static void *kill_watchdog(void *arg)
{
	struct kill_watch *w = arg;
	uint64_t until = cc_now_ns() + (uint64_t)w->grace_ms * 1000000ull;
	bool done = false;

	while (!done) {
		pthread_mutex_lock(&shim.lock);
		struct shim_proc *p = shim_proc_find(w->id, w->exec_id);
		done = !p || p->exited || shim_vm_is_lost();
		if (!done && cc_now_ns() >= until) {
			char why[512];
			snprintf(why, sizeof(why),
				 "%s%s%s did not exit within %d ms of SIGKILL: the host stopped "
				 "the pod VM",
				 w->id, *w->exec_id ? "/" : "", w->exec_id, w->grace_ms);
			shim_vm_kill(why);
			done = true;
		}
		pthread_mutex_unlock(&shim.lock);
		if (!done)
			usleep(50 * 1000);
	}
	free(w->id);
	free(w->exec_id);
	free(w);
	return NULL;
}

void shim_watch_kill(const char *id, const char *exec_id)
{
	struct kill_watch *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;

	if (w && (w->id = strdup(id)) && (w->exec_id = strdup(exec_id ? exec_id : ""))) {
		w->grace_ms = shim_limits.stop_grace_ms;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&t, &attr, kill_watchdog, w);
		pthread_attr_destroy(&attr);
		if (rc == 0)
			return;
	}
	/* No watchdog: stop the VM now rather than trust the guest. */
	cc_warn("%s: cannot watch the SIGKILL; stopping the pod VM", id);
	pthread_mutex_lock(&shim.lock);
	shim_vm_kill("SIGKILL could not be watched");
	pthread_mutex_unlock(&shim.lock);
	if (w) {
		free(w->id);
		free(w->exec_id);
	}
	free(w);
}
