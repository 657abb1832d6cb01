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

#include "lib/config.h"
#include "lib/log.h"
#include "lib/sandbox.h"
#include "lib/ttrpc.h"
#include "lib/util.h"
#include "proto/agent.pb-c.h"
#include "shim/shim.h"
#include "shim/spec.h"

#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/pkg/runtimeoptions/v1/api.pb-c.h"

#define MAX_PROCESS_JSON (1u << 20)

static const Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;

/* Handler threads at once; more calls than that wait for the guest already. */
#define MAX_ASYNC 32

struct shim_limits shim_limits = { .stop_grace_ms = 10000, .max_execs = 128 };

/* How long a call that stops or removes something (Kill, Delete) waits for the guest: a
 * silent guest must not hold up the pod's teardown longer than the host's own grace. */
static int stop_wait_ms(void)
{
	return shim_limits.stop_grace_ms < SHIM_AGENT_TIMEOUT_MS ? shim_limits.stop_grace_ms
								 : SHIM_AGENT_TIMEOUT_MS;
}

struct async_call {
	ttrpc_handler_fn fn;
	struct ttrpc_call *call;
	const uint8_t *req; /* valid until the call is finished */
	size_t len;
};

static void *async_main(void *arg)
{
	struct async_call *a = arg;
	a->fn(a->call, a->req, a->len, NULL);
	free(a);
	pthread_mutex_lock(&shim.lock);
	shim.n_async--;
	pthread_cond_broadcast(&shim.async_done);
	pthread_mutex_unlock(&shim.lock);
	return NULL;
}

static void run_async(ttrpc_handler_fn fn, struct ttrpc_call *call, const uint8_t *req, size_t len)
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
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED,
				"%d calls are already waiting for the pod VM's guest", MAX_ASYNC);
		return;
	}
	if (!a) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto undo;
	}
	*a = (struct async_call){ .fn = fn, .call = call, .req = req, .len = len };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, async_main, a);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return;
	free(a);
	ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "starting a handler thread: %s",
			strerror(rc));
undo:
	pthread_mutex_lock(&shim.lock);
	shim.n_async--;
	pthread_cond_broadcast(&shim.async_done);
	pthread_mutex_unlock(&shim.lock);
}

#define ASYNC(fn)                                                                       \
	static void fn##_async(struct ttrpc_call *call, const uint8_t *req, size_t len, \
			       void *user)                                              \
	{                                                                               \
		(void)user;                                                             \
		run_async(fn, call, req, len);                                          \
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

static void *unpack(struct ttrpc_call *call, const ProtobufCMessageDescriptor *d,
		    const uint8_t *req, size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, req);
	if (!m)
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "malformed %s", d->name);
	return m;
}

static void fail_err(struct ttrpc_call *call, const struct cc_error *err, enum ttrpc_code dflt)
{
	ttrpc_call_fail(call, err->code ? (enum ttrpc_code)err->code : dflt, "%s", err->msg);
}

/* Container ids become share and file names. */
static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || id[0] == '.')
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Looks the process up and fails the call when it is missing. Lock held. */
static struct shim_proc *find_proc(struct ttrpc_call *call, const char *id, const char *exec_id)
{
	struct shim_proc *p = shim_proc_find(id, exec_id);
	if (!p) {
		if (exec_id && *exec_id)
			ttrpc_call_fail(call, TTRPC_NOT_FOUND, "process %s of task %s not found",
					exec_id, id);
		else
			ttrpc_call_fail(call, TTRPC_NOT_FOUND, "task %s not found", id);
	}
	return p;
}

/* find_proc under the lock, for handlers that only pass the id on to the agent. */
static bool proc_known(struct ttrpc_call *call, const char *id, const char *exec_id)
{
	pthread_mutex_lock(&shim.lock);
	bool found = find_proc(call, id, exec_id) != NULL;
	pthread_mutex_unlock(&shim.lock);
	return found;
}

/* A per-container agent query (Pids, Pause/Resume, Stats): the container's id in a
 * ContainerRequest; an agent error fails the containerd call. */
static int container_call(struct ttrpc_call *call, const char *id, const char *method,
			  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	Cocoon__Agent__V1__ContainerRequest creq = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	struct cc_error err = { 0 };

	creq.container_id = (char *)id;
	if (shim_agent_call(method, &creq.base, resp_desc, resp, SHIM_AGENT_TIMEOUT_MS, &err) < 0) {
		fail_err(call, &err, TTRPC_INTERNAL);
		return -1;
	}
	return 0;
}

/* ---- Create ---- */

static const struct {
	const char *name;
	unsigned long set, clear;
} mount_flags[] = {
	{ "ro", MS_RDONLY, 0 },	      { "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },   { "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },     { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },   { "exec", 0, MS_NOEXEC },
	{ "bind", MS_BIND, 0 },	      { "rbind", MS_BIND | MS_REC, 0 },
	{ "noatime", MS_NOATIME, 0 }, { "relatime", MS_RELATIME, 0 },
};

/* containerd's rootfs mounts (overlay from the snapshotter, or a bind of a directory)
 * stacked on target, like containerd's mount.All. */
static int mount_rootfs(Containerd__Types__Mount **mounts, size_t n, const char *target,
			struct cc_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const Containerd__Types__Mount *m = mounts[i];
		unsigned long flags = 0;
		char data[8192] = "";
		size_t dlen = 0;

		for (size_t o = 0; o < m->n_options; o++) {
			size_t f;
			for (f = 0; f < CC_ARRAY_SIZE(mount_flags); f++)
				if (strcmp(m->options[o], mount_flags[f].name) == 0)
					break;
			if (f < CC_ARRAY_SIZE(mount_flags)) {
				flags = (flags | mount_flags[f].set) & ~mount_flags[f].clear;
				continue;
			}
			int w = snprintf(data + dlen, sizeof(data) - dlen, "%s%s", dlen ? "," : "",
					 m->options[o]);
			if (w < 0 || (size_t)w >= sizeof(data) - dlen)
				return cc_error_code(err, TTRPC_INVALID_ARGUMENT,
						     "rootfs mount options too long");
			dlen += (size_t)w;
		}
		const char *type = m->type && *m->type ? m->type : NULL;
		if (flags & MS_BIND)
			type = NULL;
		if (mount(m->source, target, type, flags & ~MS_RDONLY, dlen ? data : NULL) < 0)
			return cc_error_set(err, errno, "mounting rootfs %s (%s) on %s", m->source,
					    m->type, target);
		if ((flags & MS_BIND) && (flags & MS_RDONLY) &&
		    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			return cc_error_set(err, errno, "remounting rootfs %s read-only", target);
		if (!(flags & MS_BIND) && (flags & MS_RDONLY) &&
		    mount(NULL, target, NULL, MS_REMOUNT | flags, dlen ? data : NULL) < 0)
			return cc_error_set(err, errno, "remounting rootfs %s read-only", target);
	}
	return 0;
}

static void umount_rootfs(const char *bundle)
{
	cleanup_free char *target = cc_strdup_printf("%s/rootfs", bundle);
	/* Stacked mounts: peel until nothing is mounted there. */
	for (int i = 0; target && i < 16 && umount2(target, MNT_DETACH) == 0; i++)
		;
}

/* Share names of the spec's bind mounts (CRI's /etc/hosts, resolv.conf, volumes). */
static int mount_share_prefix(const struct shim_task *t, char *out, size_t len,
			      struct cc_error *err)
{
	int n = snprintf(out, len, "%s-m", t->id);
	if (n < 0 || (size_t)n >= len)
		return cc_error_set(err, 0, "container id too long");
	return 0;
}

static void unshare_task(struct shim_task *t)
{
	struct cc_error err = { 0 };

	if (!shim_vm())
		return;
	char prefix[256];
	if (t->n_mount_shares && mount_share_prefix(t, prefix, sizeof(prefix), &err) == 0)
		sandbox_unshare_spec_mounts(shim_vm(), prefix, t->n_mount_shares);
	if (t->share_name && sandbox_unshare(shim_vm(), t->share_name, &err) < 0)
		cc_warn("%s: unshare rootfs: %s", t->id, err.msg);
}

void shim_options_config_path(const Google__Protobuf__Any *opts, char *out, size_t len)
{
	Runtimeoptions__V1__Options *o;

	out[0] = '\0';
	if (!opts || !opts->type_url || !strstr(opts->type_url, "runtimeoptions.v1.Options"))
		return;
	o = runtimeoptions__v1__options__unpack(NULL, opts->value.len, opts->value.data);
	if (!o)
		return;
	snprintf(out, len, "%s", o->config_path ? o->config_path : "");
	runtimeoptions__v1__options__free_unpacked(o, NULL);
}

/* The task options' ConfigPath (ctr --runtime-config-path), else the runtime options'
 * one that `start` got (CRI's runtime handler options), else none. */
static const char *config_path(const Google__Protobuf__Any *opts)
{
	static char path[4096];

	shim_options_config_path(opts, path, sizeof(path));
	if (path[0])
		return path;
	return shim.args->config && shim.args->config[0] ? shim.args->config : NULL;
}

static int create_task(const Containerd__Task__V2__CreateTaskRequest *r, struct shim_task *t,
		       bool *booted, struct cc_error *err)
{
	struct shim_spec spec = { 0 };
	struct cc_config cfg;
	char root[PATH_MAX], guest[4096];
	cleanup_free char *link = NULL, *target = NULL, *pidns = NULL;
	const char *type;
	int rc = -1;

	if (shim_spec_load(r->bundle, &spec, err) < 0) {
		err->code = TTRPC_INVALID_ARGUMENT;
		return -1;
	}
	type = shim_spec_annotation(&spec, "io.kubernetes.cri.container-type");
	t->is_sandbox = !(type && strcmp(type, "container") == 0);
	if (shim_spec_check_pod(&spec, err) < 0) {
		err->code = TTRPC_INVALID_ARGUMENT;
		goto out;
	}
	if (t->is_sandbox) {
		if (cc_config_load(&cfg, config_path(r->options), err) < 0) {
			err->code = TTRPC_INVALID_ARGUMENT;
			goto out;
		}
		if (cfg.log_level >= CC_LOG_DEBUG)
			cc_log_set_level(CC_LOG_DEBUG);
		shim_limits.stop_grace_ms = cfg.stop_grace_ms;
		shim_limits.max_execs = cfg.max_execs;
		rc = shim_vm_boot(&spec, t->id, &cfg, err);
		if (rc < 0)
			goto out;
		rc = -1;
		*booted = true;
	} else if (!shim_vm() || shim_vm_is_lost()) {
		cc_error_code(err, TTRPC_FAILED_PRECONDITION,
			      "the VM of pod %s is not running in this shim",
			      shim_spec_annotation(&spec, "io.kubernetes.cri.sandbox-id"));
		goto out;
	}

	if (r->n_rootfs > 0) {
		target = cc_strdup_printf("%s/rootfs", r->bundle);
		if (!target || cc_mkdir_p(target, 0711, err) < 0)
			goto out;
		t->rootfs_mounted = true;
		if (mount_rootfs(r->rootfs, r->n_rootfs, target, err) < 0)
			goto out;
	}
	bool root_ro;
	if (shim_spec_root(&spec, r->bundle, root, sizeof(root), &root_ro, err) < 0) {
		err->code = TTRPC_INVALID_ARGUMENT;
		goto out;
	}
	if (root_ro && sandbox_make_mountpoints(root, spec.root, err) < 0)
		goto out;
	t->share_name = strdup(t->id);
	if (!t->share_name)
		goto out;
	if (sandbox_share(shim_vm(), root, t->share_name, root_ro, guest, sizeof(guest), err) < 0) {
		free(t->share_name);
		t->share_name = NULL;
		cc_error_prefix(err, "sharing the rootfs %s", root);
		goto out;
	}
	if (shim_spec_set_root(&spec, guest, err) < 0)
		goto out;
	if (!t->is_sandbox) {
		/* shareProcessNamespace: the pause container's namespace, pause as PID 1. */
		const char *sid = shim_spec_annotation(&spec, "io.kubernetes.cri.sandbox-id");
		pthread_mutex_lock(&shim.lock);
		struct shim_task *pause = sid ? shim_task_find(sid) : NULL;
		if (pause && pause->init.guest_pid && pause->init.status != SHIM_STOPPED)
			pidns = cc_strdup_printf("/proc/%u/ns/pid", pause->init.guest_pid);
		pthread_mutex_unlock(&shim.lock);
	}
	shim_spec_drop_pod_namespaces(&spec, t->is_sandbox ? NULL : shim_vm_hostname(), pidns);
	char prefix[256];
	int shared;
	if (mount_share_prefix(t, prefix, sizeof(prefix), err) < 0 ||
	    (shared = sandbox_share_spec_mounts(shim_vm(), spec.root, prefix, err)) < 0)
		goto out;
	t->n_mount_shares = (size_t)shared;

	/* `delete` finds the pod's state from any of its bundles after a shim crash. */
	link = cc_strdup_printf("%s/%s", r->bundle, SHIM_STATE_LINK);
	if (!link || cc_write_file(link, shim_vm()->dir, strlen(shim_vm()->dir), 0644, err) < 0)
		goto out;

	Cocoon__Agent__V1__CreateContainerRequest creq =
		COCOON__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Cocoon__Agent__V1__CreateContainerResponse *cresp = NULL;
	size_t jlen;
	creq.container_id = t->id;
	creq.spec_json.data = (uint8_t *)shim_spec_json(&spec, &jlen);
	creq.spec_json.len = jlen;
	creq.stdin = r->stdin && *r->stdin;
	if (shim_agent_call("CreateContainer", &creq.base,
			    &cocoon__agent__v1__create_container_response__descriptor,
			    (ProtobufCMessage **)&cresp, SHIM_AGENT_TIMEOUT_MS, err) < 0)
		goto out;
	t->init.guest_pid = cresp->pid;
	t->init.host_pid = shim_vm_pid();
	protobuf_c_message_free_unpacked(&cresp->base, NULL);
	rc = 0;
out:
	shim_spec_free(&spec);
	return rc;
}

/* Undoes what create_task did for a task that never made it into the table. */
static void abandon_task(struct shim_task *t, bool booted)
{
	cleanup_free char *link = cc_strdup_printf("%s/%s", t->bundle, SHIM_STATE_LINK);

	unshare_task(t);
	if (t->rootfs_mounted)
		umount_rootfs(t->bundle);
	if (link)
		unlink(link);
	if (booted)
		shim_vm_destroy();
	shim_task_free(t);
}

static void h_create(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__CreateTaskRequest *r =
		unpack(call, &containerd__task__v2__create_task_request__descriptor, req, len);
	struct cc_error err = { 0 };
	struct shim_task *t = NULL;
	bool booted = false;
	(void)user;

	if (!r)
		return;
	if (!valid_id(r->id)) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "invalid task id '%s'", r->id);
		goto out;
	}
	if (!r->bundle || r->bundle[0] != '/') {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "bundle must be an absolute path");
		goto out;
	}
	if (r->checkpoint && *r->checkpoint) {
		ttrpc_call_fail(call, TTRPC_UNIMPLEMENTED,
				"restoring from a checkpoint is not supported by cocoon");
		goto out;
	}
	if (shim_task_find(r->id)) {
		ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "task %s already exists", r->id);
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->id = strdup(r->id)) || !(t->bundle = strdup(r->bundle)) ||
	    !(t->init.exec_id = strdup("")) || !(t->init.stdin_path = strdup(r->stdin)) ||
	    !(t->init.stdout_path = strdup(r->stdout)) ||
	    !(t->init.stderr_path = strdup(r->stderr))) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		if (t)
			shim_task_free(t);
		goto out;
	}
	t->init.task = t;
	t->init.terminal = r->terminal;
	t->init.status = SHIM_CREATED;
	if (create_task(r, t, &booted, &err) < 0) {
		cc_err("create %s: %s", r->id, err.msg);
		fail_err(call, &err, TTRPC_INTERNAL);
		abandon_task(t, booted);
		goto out;
	}
	t->init.io = shim_io_start(t->id, "", r->stdin, r->stdout, r->stderr, r->terminal);
	pthread_mutex_lock(&shim.lock);
	shim_task_add(t);
	pthread_mutex_unlock(&shim.lock);
	if (shim_proc_watch(&t->init, &err) < 0)
		cc_err("%s", err.msg);

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
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- Start, Exec ---- */

static int start_exec(struct shim_proc *p, struct cc_error *err)
{
	Cocoon__Agent__V1__ExecProcessRequest req = COCOON__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	Cocoon__Agent__V1__ExecProcessResponse *resp = NULL;

	req.container_id = p->task->id;
	req.exec_id = p->exec_id;
	req.process_json.data = (uint8_t *)p->process_json;
	req.process_json.len = strlen(p->process_json);
	req.stdin = *p->stdin_path != 0;
	if (shim_agent_call("ExecProcess", &req.base,
			    &cocoon__agent__v1__exec_process_response__descriptor,
			    (ProtobufCMessage **)&resp, SHIM_AGENT_TIMEOUT_MS, err) < 0)
		return -1;
	p->guest_pid = resp->pid;
	p->host_pid = shim_vm_pid();
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	p->io = shim_io_start(p->task->id, p->exec_id, p->stdin_path, p->stdout_path,
			      p->stderr_path, p->terminal);
	return shim_proc_watch(p, err);
}

static void h_start(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__StartRequest *r =
		unpack(call, &containerd__task__v2__start_request__descriptor, req, len);
	struct cc_error err = { 0 };
	struct shim_proc *p;
	bool is_exec;
	int rc;
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	p = find_proc(call, r->id, r->exec_id);
	if (p && p->status != SHIM_CREATED) {
		ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "%s %s was already started", r->id,
				r->exec_id);
		p = NULL;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		goto out;
	is_exec = *p->exec_id != 0;
	if (is_exec) {
		rc = start_exec(p, &err);
	} else {
		Cocoon__Agent__V1__StartContainerRequest sreq =
			COCOON__AGENT__V1__START_CONTAINER_REQUEST__INIT;
		sreq.container_id = r->id;
		rc = shim_agent_call("StartContainer", &sreq.base, NULL, NULL,
				     SHIM_AGENT_TIMEOUT_MS, &err);
	}
	if (rc < 0) {
		cc_err("start %s %s: %s", r->id, r->exec_id, err.msg);
		fail_err(call, &err, TTRPC_INTERNAL);
		goto out;
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
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
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

static void h_exec(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__ExecProcessRequest *r =
		unpack(call, &containerd__task__v2__exec_process_request__descriptor, req, len);
	struct shim_task *t;
	struct shim_proc *p = NULL;
	(void)user;

	if (!r)
		return;
	if (!valid_id(r->exec_id)) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "invalid exec id '%s'", r->exec_id);
		goto out;
	}
	if (!r->spec || r->spec->value.len == 0 || r->spec->value.len > MAX_PROCESS_JSON) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT,
				"exec %s: missing or oversized process spec", r->exec_id);
		goto out;
	}
	pthread_mutex_lock(&shim.lock);
	t = shim_task_find(r->id);
	if (!t) {
		ttrpc_call_fail(call, TTRPC_NOT_FOUND, "task %s not found", r->id);
	} else if (shim_proc_find(r->id, r->exec_id)) {
		ttrpc_call_fail(call, TTRPC_ALREADY_EXISTS, "exec %s already exists", r->exec_id);
	} else if (t->init.exited) {
		ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "task %s has exited", r->id);
	} else if (live_execs() >= shim_limits.max_execs) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED,
				"exec %s: the pod already has %u live exec processes (max_execs)",
				r->exec_id, shim_limits.max_execs);
	} else if (!(p = calloc(1, sizeof(*p))) || !(p->exec_id = strdup(r->exec_id)) ||
		   !(p->process_json =
			     strndup((const char *)r->spec->value.data, r->spec->value.len)) ||
		   !(p->stdin_path = strdup(r->stdin)) || !(p->stdout_path = strdup(r->stdout)) ||
		   !(p->stderr_path = strdup(r->stderr))) {
		if (p)
			shim_proc_free(p);
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
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
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- Wait, State, Kill ---- */

static void h_wait(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__WaitRequest *r =
		unpack(call, &containerd__task__v2__wait_request__descriptor, req, len);
	struct shim_proc *p;
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	p = find_proc(call, r->id, r->exec_id);
	if (p && p->exited) {
		Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
		Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		shim_timestamp(&ts, p->exited_at_ns);
		resp.exit_status = p->exit_status;
		resp.exited_at = &ts;
		ttrpc_call_reply(call, &resp.base);
	} else if (p) {
		struct ttrpc_call **w = realloc(p->waiters, (p->n_waiters + 1) * sizeof(*w));
		if (!w) {
			ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
		} else {
			p->waiters = w;
			p->waiters[p->n_waiters++] = call;
		}
	}
	pthread_mutex_unlock(&shim.lock);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void h_state(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__StateRequest *r =
		unpack(call, &containerd__task__v2__state_request__descriptor, req, len);
	Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct shim_proc *p;
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	p = find_proc(call, r->id, r->exec_id);
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
	protobuf_c_message_free_unpacked(&r->base, NULL);
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

static void watch_kill(const char *id, const char *exec_id)
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

static void h_kill(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__KillRequest *r =
		unpack(call, &containerd__task__v2__kill_request__descriptor, req, len);
	Cocoon__Agent__V1__SignalProcessRequest sreq =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	struct cc_error err = { 0 };
	struct shim_proc *p;
	bool ok = false;
	(void)user;

	if (!r)
		return;
	if (r->signal == 0 || r->signal > 64) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "invalid signal %u", r->signal);
		goto out;
	}
	pthread_mutex_lock(&shim.lock);
	p = find_proc(call, r->id, r->exec_id);
	if (p && p->exited && !r->all)
		ttrpc_call_fail(call, TTRPC_NOT_FOUND, "process already finished");
	else if (p && *p->exec_id && p->status == SHIM_CREATED)
		ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "exec %s was not started",
				p->exec_id);
	else
		ok = p != NULL;
	pthread_mutex_unlock(&shim.lock);
	if (!ok)
		goto out;
	sreq.container_id = r->id;
	sreq.exec_id = r->exec_id;
	sreq.signal = r->signal;
	sreq.all = r->all;
	if (r->signal == SIGKILL)
		watch_kill(r->id, r->all ? "" : r->exec_id);
	/* A SIGKILL is carried out by the host if the guest does not: not an error. */
	int rc = shim_agent_call("SignalProcess", &sreq.base, NULL, NULL, stop_wait_ms(), &err);
	/* A guest silent for the whole grace: the host does what the watchdog would. */
	if (rc < 0 && r->signal == SIGKILL && err.code == TTRPC_DEADLINE_EXCEEDED) {
		pthread_mutex_lock(&shim.lock);
		if (!shim_vm_is_lost())
			shim_vm_kill("the guest did not answer SIGKILL within stop_grace_ms");
		pthread_mutex_unlock(&shim.lock);
	}
	if (rc < 0 && !(r->signal == SIGKILL && shim_vm_is_lost()))
		fail_err(call, &err, TTRPC_INTERNAL);
	else
		ttrpc_call_reply(call, &empty.base);
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
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

static void delete_exec(struct ttrpc_call *call, struct shim_task *t, struct shim_proc *p)
{
	if (!p->exited && p->status != SHIM_CREATED) {
		ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "exec %s is still running",
				p->exec_id);
		return;
	}
	for (struct shim_proc **pp = &t->execs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	reply_delete(call, p->host_pid, p->exit_status, p->exited_at_ns);
	shim_proc_free(p);
}

/* A created task that never started is killed before it is deleted (as runc does). */
static bool kill_created(struct shim_task *t)
{
	Cocoon__Agent__V1__SignalProcessRequest sreq =
		COCOON__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	struct cc_error err = { 0 };

	sreq.container_id = t->id;
	sreq.exec_id = "";
	sreq.signal = SIGKILL;
	sreq.all = true;
	watch_kill(t->id, "");
	if (shim_agent_call("SignalProcess", &sreq.base, NULL, NULL, stop_wait_ms(), &err) < 0)
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

static void h_delete(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__DeleteRequest *r =
		unpack(call, &containerd__task__v2__delete_request__descriptor, req, len);
	struct cc_error err = { 0 };
	struct shim_proc *p;
	struct shim_task *t;
	cleanup_free char *link = NULL;
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	p = find_proc(call, r->id, r->exec_id);
	if (p && *p->exec_id) {
		delete_exec(call, p->task, p);
		p = NULL;
	}
	bool created = p && p->status == SHIM_CREATED && !p->exited;
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		goto out;
	t = p->task;
	if (created && !kill_created(t)) {
		ttrpc_call_fail(call, TTRPC_DEADLINE_EXCEEDED, "task %s did not die on SIGKILL",
				t->id);
		goto out;
	}
	if (!t->init.exited) {
		ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "task %s is still running", t->id);
		goto out;
	}

	Cocoon__Agent__V1__ContainerRequest creq = COCOON__AGENT__V1__CONTAINER_REQUEST__INIT;
	creq.container_id = t->id;
	if (!shim_vm_is_lost() &&
	    shim_agent_call("RemoveContainer", &creq.base, NULL, NULL, stop_wait_ms(), &err) < 0)
		cc_warn("%s: %s", t->id, err.msg);
	unshare_task(t);
	if (t->rootfs_mounted)
		umount_rootfs(t->bundle);
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
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- the rest of the API ---- */

static void h_pids(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__PidsRequest *r =
		unpack(call, &containerd__task__v2__pids_request__descriptor, req, len);
	Cocoon__Agent__V1__ListProcessesResponse *lresp = NULL;
	(void)user;

	if (!r)
		return;
	if (!proc_known(call, r->id, NULL) ||
	    container_call(call, r->id, "ListProcesses",
			   &cocoon__agent__v1__list_processes_response__descriptor,
			   (ProtobufCMessage **)&lresp) < 0)
		goto out;
	size_t n = lresp->n_pids < 65536 ? lresp->n_pids : 65536;
	Containerd__V1__Types__ProcessInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Containerd__V1__Types__ProcessInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!infos || !ptrs) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
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
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Pause and Resume: the guest freezes the container's cgroup. */
static void pause_resume(struct ttrpc_call *call, const char *id, bool pause)
{
	struct shim_proc *p;

	pthread_mutex_lock(&shim.lock);
	p = find_proc(call, id, NULL);
	if (p && p->status != (pause ? SHIM_RUNNING : SHIM_PAUSED)) {
		ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "task %s is not %s", id,
				pause ? "running" : "paused");
		p = NULL;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!p)
		return;
	if (container_call(call, id, pause ? "PauseContainer" : "ResumeContainer", NULL, NULL) < 0)
		return;
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
}

static void h_pause(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__PauseRequest *r =
		unpack(call, &containerd__task__v2__pause_request__descriptor, req, len);
	(void)user;
	if (!r)
		return;
	pause_resume(call, r->id, true);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void h_resume(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__ResumeRequest *r =
		unpack(call, &containerd__task__v2__resume_request__descriptor, req, len);
	(void)user;
	if (!r)
		return;
	pause_resume(call, r->id, false);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void h_checkpoint(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	(void)req, (void)len, (void)user;
	ttrpc_call_fail(
		call, TTRPC_UNIMPLEMENTED,
		"checkpoint is not supported by cocoon: the container's state lives in its VM");
}

static void h_resize_pty(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__ResizePtyRequest *r =
		unpack(call, &containerd__task__v2__resize_pty_request__descriptor, req, len);
	Cocoon__Agent__V1__ResizePtyRequest areq = COCOON__AGENT__V1__RESIZE_PTY_REQUEST__INIT;
	struct cc_error err = { 0 };
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	bool found = find_proc(call, r->id, r->exec_id) != NULL;
	pthread_mutex_unlock(&shim.lock);
	/* A client without a terminal size (0x0) asks for nothing. */
	if (found && (r->width == 0 || r->height == 0)) {
		ttrpc_call_reply(call, &empty.base);
	} else if (found) {
		areq.container_id = r->id;
		areq.exec_id = r->exec_id;
		areq.width = r->width;
		areq.height = r->height;
		if (shim_agent_call("ResizePty", &areq.base, NULL, NULL, SHIM_AGENT_TIMEOUT_MS,
				    &err) < 0)
			fail_err(call, &err, TTRPC_INTERNAL);
		else
			ttrpc_call_reply(call, &empty.base);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void h_close_io(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__CloseIORequest *r =
		unpack(call, &containerd__task__v2__close_iorequest__descriptor, req, len);
	struct shim_io *io = NULL;
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	struct shim_proc *p = find_proc(call, r->id, r->exec_id);
	if (p)
		io = p->io;
	pthread_mutex_unlock(&shim.lock);
	if (p) {
		if (io && r->stdin)
			shim_io_close_stdin(io);
		ttrpc_call_reply(call, &empty.base);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void h_update(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__UpdateTaskRequest *r =
		unpack(call, &containerd__task__v2__update_task_request__descriptor, req, len);
	Cocoon__Agent__V1__UpdateContainerRequest ureq =
		COCOON__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	struct cc_error err = { 0 };
	(void)user;

	if (!r)
		return;
	if (!proc_known(call, r->id, NULL))
		goto out;
	/* containerd sends the OCI LinuxResources as JSON inside the Any. */
	if (!r->resources || r->resources->value.len == 0 ||
	    r->resources->value.len > MAX_PROCESS_JSON) {
		ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT,
				"update: missing or oversized resources");
		goto out;
	}
	ureq.container_id = r->id;
	ureq.resources_json = r->resources->value;
	if (shim_agent_call("UpdateContainer", &ureq.base, NULL, NULL, SHIM_AGENT_TIMEOUT_MS,
			    &err) < 0)
		fail_err(call, &err, TTRPC_INTERNAL);
	else
		ttrpc_call_reply(call, &empty.base);
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The guest's cgroup v2 numbers in the cgroup v1 Metrics message containerd's CRI
 * decodes for `crictl stats` / `kubectl top`. */
static void h_stats(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__StatsRequest *r =
		unpack(call, &containerd__task__v2__stats_request__descriptor, req, len);
	Cocoon__Agent__V1__StatsResponse *s = NULL;
	(void)user;

	if (!r)
		return;
	if (!proc_known(call, r->id, NULL) ||
	    container_call(call, r->id, "StatsContainer",
			   &cocoon__agent__v1__stats_response__descriptor,
			   (ProtobufCMessage **)&s) < 0)
		goto out;
	Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
	Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
	Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
	Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
	Io__Containerd__Cgroups__V1__Throttle thr = IO__CONTAINERD__CGROUPS__V1__THROTTLE__INIT;
	Io__Containerd__Cgroups__V1__MemoryStat mem =
		IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
	Io__Containerd__Cgroups__V1__MemoryEntry mu =
		IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;
	Io__Containerd__Cgroups__V1__MemoryOomControl oom =
		IO__CONTAINERD__CGROUPS__V1__MEMORY_OOM_CONTROL__INIT;
	Io__Containerd__Cgroups__V1__BlkIOStat blk = IO__CONTAINERD__CGROUPS__V1__BLK_IOSTAT__INIT;
	Io__Containerd__Cgroups__V1__BlkIOEntry rd = IO__CONTAINERD__CGROUPS__V1__BLK_IOENTRY__INIT;
	Io__Containerd__Cgroups__V1__BlkIOEntry wr = IO__CONTAINERD__CGROUPS__V1__BLK_IOENTRY__INIT;
	Io__Containerd__Cgroups__V1__BlkIOEntry *ios[2] = { &rd, &wr };

	pids.current = s->pids_current;
	pids.limit = s->pids_limit;
	usage.total = s->cpu_usage_ns;
	usage.user = s->cpu_user_ns;
	usage.kernel = s->cpu_system_ns;
	thr.throttled_periods = s->cpu_throttled_periods;
	thr.throttled_time = s->cpu_throttled_ns;
	cpu.usage = &usage;
	cpu.throttling = &thr;
	mu.usage = s->memory_usage;
	mu.limit = s->memory_limit;
	mem.usage = &mu;
	mem.rss = mem.total_rss = s->memory_rss;
	mem.cache = mem.total_cache = s->memory_cache;
	/* CRI's working set = usage - total_inactive_file. */
	mem.total_inactive_file = mem.inactive_file =
		s->memory_usage > s->memory_working_set ? s->memory_usage - s->memory_working_set
							: 0;
	oom.oom_kill = s->memory_oom_kills;
	rd.op = "Read";
	rd.device = "";
	rd.value = s->io_read_bytes;
	wr.op = "Write";
	wr.device = "";
	wr.value = s->io_write_bytes;
	blk.n_io_service_bytes_recursive = 2;
	blk.io_service_bytes_recursive = ios;
	m.pids = &pids;
	m.cpu = &cpu;
	m.memory = &mem;
	m.memory_oom_control = &oom;
	m.blkio = &blk;

	size_t plen = protobuf_c_message_get_packed_size(&m.base);
	uint8_t *buf = malloc(plen ? plen : 1);
	if (!buf) {
		ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
		Containerd__Task__V2__StatsResponse resp =
			CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
		protobuf_c_message_pack(&m.base, buf);
		any.type_url = "io.containerd.cgroups.v1.Metrics";
		any.value.data = buf;
		any.value.len = plen;
		resp.stats = &any;
		ttrpc_call_reply(call, &resp.base);
		free(buf);
	}
	protobuf_c_message_free_unpacked(&s->base, NULL);
out:
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void h_connect(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	Containerd__Task__V2__ConnectRequest *r =
		unpack(call, &containerd__task__v2__connect_request__descriptor, req, len);
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	(void)user;

	if (!r)
		return;
	pthread_mutex_lock(&shim.lock);
	struct shim_task *t = shim_task_find(r->id);
	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = t ? t->init.host_pid : 0;
	resp.version = "cocoon";
	pthread_mutex_unlock(&shim.lock);
	ttrpc_call_reply(call, &resp.base);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* containerd sends Shutdown after each task's Delete; the pod's shim stays while any
 * of its containers remain. */
static void h_shutdown(struct ttrpc_call *call, const uint8_t *req, size_t len, void *user)
{
	(void)req, (void)len, (void)user;
	pthread_mutex_lock(&shim.lock);
	size_t left = shim_task_count();
	pthread_mutex_unlock(&shim.lock);
	ttrpc_call_reply(call, &empty.base);
	if (left == 0)
		shim_request_exit();
}

ASYNC(h_pids)
ASYNC(h_pause)
ASYNC(h_resume)
ASYNC(h_kill)
ASYNC(h_resize_pty)
ASYNC(h_close_io)
ASYNC(h_update)
ASYNC(h_stats)

#define M(name, fn)                                 \
	{                                           \
		"containerd.task.v2.Task", name, fn \
	}
const struct ttrpc_method shim_task_methods[] = {
	M("State", h_state),
	M("Create", h_create),
	M("Start", h_start),
	M("Delete", h_delete),
	M("Pids", h_pids_async),
	M("Pause", h_pause_async),
	M("Resume", h_resume_async),
	M("Checkpoint", h_checkpoint),
	M("Kill", h_kill_async),
	M("Exec", h_exec),
	M("ResizePty", h_resize_pty_async),
	M("CloseIO", h_close_io_async),
	M("Update", h_update_async),
	M("Wait", h_wait),
	M("Stats", h_stats_async),
	M("Connect", h_connect),
	M("Shutdown", h_shutdown),
};
const size_t shim_n_task_methods = CC_ARRAY_SIZE(shim_task_methods);
