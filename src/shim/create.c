/* Create orchestration: what a new task needs before the agent creates its container —
 * the pod VM (booted by the sandbox container), the rootfs mounted and shared into the
 * guest, the spec's bind mounts shared, the spec rewritten for the guest — and undoing
 * it for a task that never made it. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/agent_client.h"
#include "host/config.h"
#include "host/sandbox.h"
#include "shared/log.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "shim/shim.h"
#include "shim/spec.h"

#include "github.com/containerd/containerd/pkg/runtimeoptions/v1/api.pb-c.h"

/* Share names of the spec's bind mounts (CRI's /etc/hosts, resolv.conf, volumes). */
static int mount_share_prefix(const struct shim_task *t, char *out, size_t len,
			      struct cc_error *err)
{
	int n = snprintf(out, len, "%s-m", t->id);
	if (n < 0 || (size_t)n >= len)
		return cc_error_set(err, 0, "container id too long");
	return 0;
}

void shim_task_unshare(struct shim_task *t)
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

int shim_task_create(const Containerd__Task__V2__CreateTaskRequest *r, struct shim_task *t,
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
		if (shim_rootfs_mount(r->rootfs, r->n_rootfs, target, err) < 0)
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

	size_t jlen;
	const char *json = shim_spec_json(&spec, &jlen);
	if (agent_create(shim_agent(), t->id, json, jlen, r->stdin && *r->stdin, &t->init.guest_pid,
			 SHIM_AGENT_TIMEOUT_MS, err) < 0)
		goto out;
	t->init.host_pid = shim_vm_pid();
	rc = 0;
out:
	shim_spec_free(&spec);
	return rc;
}

/* Undoes what create_task did for a task that never made it into the table. */
void shim_task_abandon(struct shim_task *t, bool booted)
{
	cleanup_free char *link = cc_strdup_printf("%s/%s", t->bundle, SHIM_STATE_LINK);

	shim_task_unshare(t);
	if (t->rootfs_mounted)
		shim_rootfs_umount(t->bundle);
	if (link)
		unlink(link);
	if (booted)
		shim_vm_destroy();
	shim_task_free(t);
}
