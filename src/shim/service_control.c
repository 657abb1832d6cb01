/* The Task API calls forwarded to the container in the guest: Pids, Pause, Resume,
 * Update and Stats (each on a thread of its own, service.c), and Checkpoint, which
 * cocoon refuses. */
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

int task_pids(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	      struct cc_error *err)
{
	const Containerd__Task__V2__PidsRequest *r = (const Containerd__Task__V2__PidsRequest *)msg;
	int rc = 0;
	Cocoon__Agent__V1__ListProcessesResponse *lresp = NULL;
	(void)user;

	if (shim_proc_known(r->id, NULL, err) < 0 ||
	    shim_container_call(r->id, AGENT_LIST_PROCESSES, (ProtobufCMessage **)&lresp, err) < 0)
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
	p = shim_find_proc(id, NULL, err);
	if (p && p->status != (pause ? SHIM_RUNNING : SHIM_PAUSED)) {
		cc_error_code(err, TTRPC_FAILED_PRECONDITION, "task %s is not %s", id,
			      pause ? "running" : "paused");
		p = NULL;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return -1;
	if (shim_container_call(id, pause ? AGENT_PAUSE_CONTAINER : AGENT_RESUME_CONTAINER, NULL,
				err) < 0)
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
	ttrpc_call_reply(call, &shim_empty.base);
	return 0;
}

int task_pause(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Containerd__Task__V2__PauseRequest *r =
		(const Containerd__Task__V2__PauseRequest *)msg;
	(void)user;
	return pause_resume(call, r->id, true, err);
}

int task_resume(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		struct cc_error *err)
{
	const Containerd__Task__V2__ResumeRequest *r =
		(const Containerd__Task__V2__ResumeRequest *)msg;
	(void)user;
	return pause_resume(call, r->id, false, err);
}

int task_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		    struct cc_error *err)
{
	(void)call, (void)msg, (void)user;
	return cc_error_code(
		err, TTRPC_UNIMPLEMENTED,
		"checkpoint is not supported by cocoon: the container's state lives in its VM");
}

int task_update(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
		struct cc_error *err)
{
	const Containerd__Task__V2__UpdateTaskRequest *r =
		(const Containerd__Task__V2__UpdateTaskRequest *)msg;
	int rc = 0;
	Cocoon__Agent__V1__UpdateContainerRequest ureq =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	(void)user;

	if (shim_proc_known(r->id, NULL, err) < 0)
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
		rc = cc_error_fail(err, TTRPC_INTERNAL);
	else
		ttrpc_call_reply(call, &shim_empty.base);
	return rc;
}

/* The guest's numbers as containerd's cgroup v1 Metrics (metrics.c). */
int task_stats(struct ttrpc_call *call, const ProtobufCMessage *msg, void *user,
	       struct cc_error *err)
{
	const Containerd__Task__V2__StatsRequest *r =
		(const Containerd__Task__V2__StatsRequest *)msg;
	int rc = 0;
	Cocoon__Agent__V1__StatsResponse *s = NULL;
	(void)user;

	if (shim_proc_known(r->id, NULL, err) < 0 ||
	    shim_container_call(r->id, AGENT_STATS_CONTAINER, (ProtobufCMessage **)&s, err) < 0)
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
