/* The pod's VM: booted by the first (sandbox) container, sized from the CRI sandbox
 * annotations on top of the configured defaults, shared by the pod's containers, and
 * destroyed when the shim exits. */
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/agent_proto.h"
#include "host/config.h"
#include "shared/log.h"
#include "host/sandbox.h"
#include "shared/ttrpc.h"
#include "proto/agent.pb-c.h"
#include "shared/util.h"
#include "shim/shim.h"
#include "shim/spec.h"

/* Caps on what pod annotations may ask for. */
#define MAX_VCPUS 16
#define MAX_MEMORY_MIB (64u << 10)

static struct {
	struct sandbox *sb;
	bool lost;
	bool killed; /* by the host, for a SIGKILL the guest did not carry out */
	char lost_why[256];
	char hostname[256]; /* the pod's, from the sandbox container's spec */
} vm;

struct sandbox *shim_vm(void)
{
	return vm.sb;
}

const char *shim_vm_hostname(void)
{
	return vm.hostname;
}

uint32_t shim_vm_pid(void)
{
	return vm.sb ? (uint32_t)vm.sb->vm.pid : 0;
}

static struct ttrpc_client *agent_conn(void *ctx, struct cc_error *err)
{
	(void)ctx;
	if (!vm.sb || vm.lost) {
		cc_error_code(err, TTRPC_UNAVAILABLE, "the pod VM is not running%s%s",
			      vm.lost ? ": " : "", vm.lost ? vm.lost_why : "");
		return NULL;
	}
	return vm.sb->agent;
}

const struct agent_client *shim_agent(void)
{
	static const struct agent_client client = { .conn = agent_conn, .name_calls = true };
	return &client;
}

struct stdio_relay *shim_io_start(const char *id, const char *exec_id, const char *stdin_path,
				  const char *stdout_path, const char *stderr_path, bool terminal)
{
	struct stdio_relay_config c = {
		.agent = shim_agent(),
		.cid = id,
		.eid = exec_id,
		.stdin_path = stdin_path,
		.stdout_path = stdout_path,
		.stderr_path = stderr_path,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.terminal = terminal,
		.read_max = 64u << 10,
		.write_timeout_ms = SHIM_AGENT_TIMEOUT_MS,
		.close_timeout_ms = SHIM_AGENT_TIMEOUT_MS,
	};
	return stdio_relay_start(&c);
}

/* Sandbox annotations: memory in bytes, CPU as CFS quota/period (containerd's CRI). */
static void size_vm(const struct shim_spec *spec, const struct cc_config *cfg, unsigned *cpus,
		    uint64_t *memory_mib)
{
	const char *mem = shim_spec_annotation(spec, "io.kubernetes.cri.sandbox-memory");
	const char *quota = shim_spec_annotation(spec, "io.kubernetes.cri.sandbox-cpu-quota");
	const char *period = shim_spec_annotation(spec, "io.kubernetes.cri.sandbox-cpu-period");

	*cpus = cfg->default_vcpus;
	*memory_mib = cfg->default_memory_mib;
	if (mem) {
		unsigned long long bytes = strtoull(mem, NULL, 10);
		*memory_mib += bytes / (1024 * 1024);
	}
	if (quota && period) {
		long long q = strtoll(quota, NULL, 10), p = strtoll(period, NULL, 10);
		if (q > 0 && p > 0)
			*cpus += (unsigned)((q + p - 1) / p);
	}
	if (*cpus > MAX_VCPUS)
		*cpus = MAX_VCPUS;
	if (*memory_mib > MAX_MEMORY_MIB)
		*memory_mib = MAX_MEMORY_MIB;
}

int shim_vm_boot(const struct shim_spec *spec, const char *group, const struct cc_config *cfg,
		 struct cc_error *err)
{
	struct sandbox_config sc = { 0 };
	const char *file = cfg->source[0] ? cfg->source : "the built-in defaults";

	if (vm.sb)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "this shim already runs a VM for pod %s", vm.sb->id);
	const char *hv_why;
	bool hw_virt = hypervisor_hw_virt();
	sc.hv = hypervisor_select(cfg->hypervisor, hw_virt, &hv_why);
	if (!sc.hv)
		return cc_error_code(err, TTRPC_INVALID_ARGUMENT, "unknown hypervisor '%s' in %s",
				     cfg->hypervisor, file);
	if (access(cfg->kernel, R_OK) < 0)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "guest kernel %s: %s (set kernel= in %s)", cfg->kernel,
				     strerror(errno), file);
	if (access(cfg->initrd, R_OK) < 0)
		return cc_error_code(err, TTRPC_FAILED_PRECONDITION,
				     "guest initrd %s: %s (set initrd= in %s)", cfg->initrd,
				     strerror(errno), file);
	sandbox_config_from_settings(&sc, cfg, sc.hv);
	sc.id = group;
	sc.netns = shim_spec_netns(spec);
	sc.join_cgroup = true;
	size_vm(spec, cfg, &sc.cpus, &sc.memory_mib);
	const char *tmpl_why;
	sc.use_template = cc_config_templates(cfg, sc.hv, &tmpl_why);
	const char *quota = shim_spec_annotation(spec, "io.kubernetes.cri.sandbox-cpu-quota");
	const char *period = shim_spec_annotation(spec, "io.kubernetes.cri.sandbox-cpu-period");
	if (quota && period && strtoll(quota, NULL, 10) > 0 && strtoll(period, NULL, 10) > 0) {
		sc.cpu_quota_us = (uint64_t)strtoll(quota, NULL, 10);
		sc.cpu_period_us = (uint64_t)strtoll(period, NULL, 10);
	}
	snprintf(vm.hostname, sizeof(vm.hostname), "%s",
		 shim_spec_hostname(spec) ? shim_spec_hostname(spec) : "");
	if (cc_mkdir_p(cfg->state_dir, 0711, err) < 0)
		return -1;
	cc_info("booting pod VM %s: %s (%s), %u vCPU, %llu MiB, templates %s", group, sc.hv->name,
		hv_why, sc.cpus, (unsigned long long)sc.memory_mib, tmpl_why);
	if (!hw_virt)
		cc_warn("pod VM %s runs under software emulation (QEMU TCG): this host has no "
			"hardware virtualization, so the guest is slow; isolation is unchanged",
			group);
	if (sandbox_start(&sc, &vm.sb, err) < 0) {
		vm.sb = NULL;
		if (!err->code)
			err->code = TTRPC_UNAVAILABLE;
		return cc_error_prefix(err, "starting the pod VM");
	}
	cc_info("pod VM %s ready: guest kernel %s, %s", group, vm.sb->guest_kernel,
		vm.sb->template_name[0] ? "restored from a template" : "booted cold");
	/* A CRI pod: kubectl port-forward dials into its netns (the sandbox container is
	 * the group). Without it the pod still runs. */
	const char *type = shim_spec_annotation(spec, "io.kubernetes.cri.container-type");
	if (sc.netns && type && strcmp(type, "sandbox") == 0 &&
	    shim_portfwd_start(sc.netns, group, err) < 0)
		cc_warn("%s; kubectl port-forward will not reach this pod", err->msg);
	return 0;
}

void shim_vm_lost(const char *why)
{
	if (vm.lost)
		return;
	vm.lost = true;
	snprintf(vm.lost_why, sizeof(vm.lost_why), "%s", why);
	cc_err("pod VM lost: %s", why);
}

void shim_vm_kill(const char *why)
{
	if (!vm.sb || vm.lost)
		return;
	/* Not reaped here: sandbox_destroy (or sandbox_alive) does that. The agent's
	 * connection closes with the VMM, so every exit watcher reports its process. */
	if (vm.sb->vm.pid > 0)
		kill(vm.sb->vm.pid, SIGKILL);
	vm.killed = true;
	shim_vm_lost(why);
}

uint32_t shim_vm_lost_status(void)
{
	return vm.killed ? 128 + SIGKILL : 255;
}

bool shim_vm_is_lost(void)
{
	return vm.lost || (vm.sb && !sandbox_alive(vm.sb));
}

void shim_vm_destroy(void)
{
	struct cc_error err = { 0 };

	/* Under the lock: a kill watchdog may be looking at the VM. */
	pthread_mutex_lock(&shim.lock);
	struct sandbox *sb = vm.sb;
	vm.sb = NULL;
	pthread_mutex_unlock(&shim.lock);
	if (!sb)
		return;
	shim_portfwd_stop();
	if (sandbox_destroy(sb, &err) < 0)
		cc_warn("destroying the pod VM: %s", err.msg);
}
