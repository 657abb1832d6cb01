/* A sandbox's lifecycle: start (state dir, shared directory, virtiofsd, the VMM through
 * its backend, the agent's first calls) and destroy. The agent calls are
 * sandbox_agent.c's, the console sandbox_console.c's, the shares sandbox_shared.c's. */
#include "host/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shared/agent_proto.h"
#include "host/child.h"
#include "host/config.h"
#include "host/template.h"
#include "shared/log.h"
#include "shared/ttrpc.h"
#include "shared/util.h"
#include "host/sandbox_priv.h"
#include "host/virtiofsd.h"
#include "proto/agent.pb-c.h"

#define SHUTDOWN_RPC_MS 2000
#define VMM_EXIT_AFTER_SHUTDOWN_MS 3000
#define VMM_TERM_GRACE_MS 2000
/* The share root holds only mount points: a few hundred shares at most per pod. */

int sandbox_enter_mount_ns(struct cc_error *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return cc_error_set(err, errno, "unshare mount namespace");
	/* Slave, not private: host mounts made later still show up here, ours never leak out. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return cc_error_set(err, errno, "make / rslave");
	return 0;
}

void sandbox_config_from_settings(struct sandbox_config *sc, const struct cc_config *cfg,
				  const struct hypervisor_ops *hv)
{
	*sc = (struct sandbox_config){
		.state_root = cfg->state_dir,
		.hv = hv,
		/* An empty qemu= leaves the backend its default. */
		.vmm_binary = strcmp(hv->name, "qemu") == 0 && cfg->qemu[0] ? cfg->qemu : NULL,
		.virtiofsd = cfg->virtiofsd,
		.kernel = cfg->kernel,
		.initrd = cfg->initrd,
		.cpus = cfg->default_vcpus,
		.memory_mib = cfg->default_memory_mib,
		.debug = cfg->log_level >= CC_LOG_DEBUG,
		.boot_timeout_ms = cfg->boot_timeout_ms,
		.template_spares = cfg->template_spares,
	};
}

/* A restore that failed: its VM and virtiofsd (which serves one VM) stopped, why logged,
 * the sandbox ready to boot cold. */
static int restore_to_cold(struct sandbox *sb, const struct sandbox_config *cfg, int budget_ms,
			   const char *fs_sock, const char *fs_log, struct cc_error *err)
{
	char why[sizeof(err->msg)];
	bool exited = sb->vm.pid <= 0 || cc_child_wait(&sb->vm.pid, 0, &sb->vm.status);
	bool timed_out = err->err_no == ETIMEDOUT || err->code == TTRPC_DEADLINE_EXCEEDED;
	if (timed_out)
		/* Which step it waited on: the connection, Hello, Reseed or MountShared. */
		snprintf(why, sizeof(why), "its agent did not answer within %d ms (%.900s)",
			 budget_ms, err->msg);
	else
		snprintf(why, sizeof(why), "%s", err->msg);
	if (sb->agent != NULL) {
		ttrpc_client_free(sb->agent);
		sb->agent = NULL;
	}
	struct cc_error ignored;
	cfg->hv->stop(&sb->vm, VMM_TERM_GRACE_MS, &ignored);
	cfg->hv->destroy(&sb->vm);
	if (exited) {
		sandbox_vmm_last_words(sb, why, sizeof(why));
		cc_warn("sandbox %s: template %s refused by cocoon-vmm: %s; booting cold (a new "
			"one is made)",
			sb->id, sb->template_name, why);
	} else {
		cc_warn("sandbox %s: restore from template %s failed: %s; booting cold (a new "
			"one is made)",
			sb->id, sb->template_name, why);
		/* What the restored guest printed, if anything (a lockup, an RCU stall). */
		if (timed_out)
			sandbox_log_console(sb, CC_LOG_WARN, CONSOLE_TAIL_LINES);
	}
	sb->template_name[0] = '\0';
	sb->vm.cfg.restore = false;
	sb->vm.cfg.restore_map = false;
	char path[4200];
	snprintf(path, sizeof(path), "%s/vm", sb->dir);
	cc_rm_rf(path, &ignored);
	snprintf(path, sizeof(path), "%s/vmm-root", sb->dir);
	rmdir(path);
	virtiofsd_stop(&sb->virtiofsd_pid);
	unlink(fs_sock);
	return virtiofsd_start(cfg->virtiofsd, sb->shared_dir, fs_sock, fs_log,
			       sb->cgroup.procs_list, cfg->boot_timeout_ms, &sb->virtiofsd_pid,
			       err);
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = cc_now_ns();
	return now >= deadline ? 1 : (int)((deadline - now) / 1000000ull) + 1;
}

int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct cc_error *err)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (sb == NULL)
		return cc_error_set(err, ENOMEM, "sandbox");
	sb->client = (struct agent_client){ .conn = sandbox_agent_conn, .ctx = sb };
	sb->shared_fd = sb->shared_rw_fd = -1;
	sb->t.start = cc_now_ns();
	uint64_t deadline = sb->t.start + (uint64_t)cfg->boot_timeout_ms * 1000000ull;
	struct cc_error ignored;
	/* Declared before the first goto: a cleanup attribute runs even for a variable whose
	 * declaration a goto jumped over. */
	cleanup_free char *cmdline = NULL;
	cleanup_close int tstate = -1;
	cleanup_close int tmem = -1;

	if (strlen(cfg->id) >= sizeof(sb->id) || strchr(cfg->id, '/') != NULL ||
	    cfg->id[0] == '.' || cfg->id[0] == '\0') {
		free(sb);
		return cc_error_set(err, 0, "invalid sandbox id '%s'", cfg->id);
	}
	snprintf(sb->id, sizeof(sb->id), "%s", cfg->id);
	if ((size_t)snprintf(sb->dir, sizeof(sb->dir), "%s/%s", cfg->state_root, cfg->id) >=
	    sizeof(sb->dir) - 64) {
		free(sb);
		return cc_error_set(err, ENAMETOOLONG, "state dir %s", cfg->state_root);
	}
	/* The sandbox's unix sockets (agent.sock, vsock.sock, fs.sock, api.sock) live in its
	 * directory; say so before anything starts rather than fail in a child. */
	size_t sock_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	if (strlen(sb->dir) + strlen("/agent.sock") > sock_max) {
		cc_error_set(
			err, ENAMETOOLONG,
			"state dir %s is too long for sandbox %s: its sockets would need %zu "
			"bytes, a unix socket path has at most %zu; choose a shorter state_dir",
			cfg->state_root, cfg->id, strlen(sb->dir) + strlen("/agent.sock"),
			sock_max);
		free(sb);
		return -1;
	}
	if ((size_t)snprintf(sb->shared_dir, sizeof(sb->shared_dir), "%s/shared", sb->dir) >=
	    sizeof(sb->shared_dir)) {
		free(sb);
		return cc_error_set(err, ENAMETOOLONG, "state dir %s", cfg->state_root);
	}
	if (cc_mkdir_p(cfg->state_root, 0711, err) < 0) {
		free(sb);
		return cc_error_prefix(err, "state dir");
	}
	if (mkdir(sb->dir, 0700) < 0) {
		int e = errno;
		free(sb);
		return cc_error_set(err, e, "state dir %s/%s", cfg->state_root, cfg->id);
	}
	/* Names the directory as this sandbox's: `shim delete` checks it before it kills or
	 * removes anything a bundle points at. */
	char marker[4200];
	snprintf(marker, sizeof(marker), "%s/%s", sb->dir, SANDBOX_ID_FILE);
	if (cc_write_file(marker, sb->id, strlen(sb->id), 0600, err) < 0)
		goto fail;

	char fs_sock[4200], fs_log[4200];
	snprintf(fs_sock, sizeof(fs_sock), "%s/fs.sock", sb->dir);
	snprintf(fs_log, sizeof(fs_log), "%s/virtiofsd.log", sb->dir);
	struct host_cgroup_limits lim = { .memory_mib = cfg->memory_mib,
					  .cpu_quota_us = cfg->cpu_quota_us,
					  .cpu_period_us = cfg->cpu_period_us };
	/* virtiofsd's start counts against boot_timeout_ms like the rest of the boot: with
	 * ten sandboxes starting at once in the nested-KVM lab, a fixed 5 s failed eight. */
	if (host_cgroup_create(sb->dir, &lim, &sb->cgroup, err) < 0 ||
	    (cfg->join_cgroup && host_cgroup_join_self(&sb->cgroup, err) < 0) ||
	    sandbox_mount_shared_dir(sb, err) < 0 ||
	    virtiofsd_start(cfg->virtiofsd, sb->shared_dir, fs_sock, fs_log, sb->cgroup.procs_list,
			    remaining_ms(deadline), &sb->virtiofsd_pid, err) < 0)
		goto fail;
	sb->t.virtiofsd_ready = cc_now_ns();

	if (cfg->netns != NULL) {
		if (pod_net_setup(cfg->netns, &sb->net, err) < 0)
			goto fail;
		for (unsigned i = 0; i < sb->net->n_ifs; i++) {
			const struct pod_if *pi = &sb->net->ifs[i];
			snprintf(sb->nets[i].tap, sizeof(sb->nets[i].tap), "%s", pi->tap);
			memcpy(sb->nets[i].mac, pi->mac, 6);
			sb->nets[i].mtu = pi->mtu;
		}
		if (sb->net->n_ifs == 0)
			cc_info("sandbox %s: %s has no interface besides lo, the guest has loopback only",
				sb->id, cfg->netns);
		cc_debug("sandbox %s: %u interfaces from %s", sb->id, sb->net->n_ifs, cfg->netns);
	} else {
		cc_info("sandbox %s: no network namespace, the guest has loopback only", sb->id);
	}

	cmdline = cc_strdup_printf("%s%s%s%s", cfg->debug ? "loglevel=7 cocoon.debug=1" : "",
				   cfg->debug && cfg->extra_cmdline ? " " : "",
				   cfg->extra_cmdline ? cfg->extra_cmdline : "",
				   !cfg->make_template		      ? ""
				   : cfg->debug || cfg->extra_cmdline ? " " TEMPLATE_CMDLINE
								      : TEMPLATE_CMDLINE);
	sb->vm.ops = cfg->hv;
	sb->vm.cfg = (struct vm_config){
		.id = sb->id,
		.dir = sb->dir,
		.vmm_binary = cfg->vmm_binary,
		.kernel = cfg->kernel,
		.initrd = cfg->initrd,
		.cmdline = cmdline && *cmdline ? cmdline : NULL,
		.cpus = cfg->cpus,
		.memory_mib = cfg->memory_mib,
		.fs_socket = fs_sock,
		.fs_tag = SANDBOX_FS_TAG,
		.netns = cfg->netns,
		.nets = sb->nets,
		.n_nets = sb->net != NULL ? sb->net->n_ifs : 0,
		.accel_kvm = hypervisor_hw_virt(),
		.cgroup_procs = sb->cgroup.procs_list,
	};
	if ((size_t)snprintf(sb->vm.console_log, sizeof(sb->vm.console_log), "%s/console.log",
			     sb->dir) >= sizeof(sb->vm.console_log)) {
		cc_error_set(err, ENAMETOOLONG, "state dir %s", sb->dir);
		goto fail;
	}
	unsigned n_nics = sb->vm.cfg.n_nets;
	/* The maker starts once this sandbox's agent answered: it never competes with the
	 * cold boot it is meant to spare the next sandboxes. */
	bool want_maker = false, want_filler = false;
	struct template_key tk;
	if (cfg->use_template && cfg->hv->snapshot != NULL) {
		struct cc_error te;
		int r = template_key(cfg, n_nics, &tk, &te) < 0
				? -2
				: template_open(cfg->state_root, &tk, &tstate, &tmem, &te);
		if (r == 0) {
			sb->vm.cfg.restore = true;
			sb->vm.cfg.restore_state_fd = tstate;
			sb->vm.cfg.restore_memory_fd = tmem;
			snprintf(sb->template_name, sizeof(sb->template_name), "%s", tk.name);
			/* A spare made ahead (host/template.h) is the guest's RAM as it is; without
			 * one the VMM copies the template's. Either way a filler tops them up. */
			int spare = -1;
			if (cfg->template_spares > 0 && template_spares_here(cfg->state_root)) {
				want_filler = true;
				r = template_take_spare(cfg->state_root, &tk, sb->dir, tmem, &spare,
							&te);
				if (r < 0)
					cc_warn("sandbox %s: spare of template %s: %s; copying its "
						"memory",
						sb->id, tk.name, te.msg);
			}
			if (spare >= 0) {
				close(tmem);
				tmem = spare;
				sb->vm.cfg.restore_memory_fd = tmem;
				sb->vm.cfg.restore_map = true;
			}
		} else if (r == -2) {
			cc_warn("sandbox %s: no template: %s; booting cold", sb->id, te.msg);
		} else {
			if (r < 0) {
				cc_warn("sandbox %s: template %s refused: %s; booting cold (a new "
					"one is made)",
					sb->id, tk.name, te.msg);
				template_discard(cfg->state_root, &tk);
			} else {
				cc_info("sandbox %s: no template %s yet: booting cold, one is made "
					"beside it",
					sb->id, tk.name);
			}
			want_maker = true;
		}
	}
	if (cfg->hv->probe(&sb->vm.cfg, err) < 0)
		goto fail;
	/* A restore has a fifth of the boot's time (on a KVM host it takes milliseconds);
	 * past it, or failing, the sandbox boots cold with the whole boot_timeout_ms. */
	uint64_t vm_deadline =
		sb->vm.cfg.restore ? cc_now_ns() + (uint64_t)cfg->boot_timeout_ms * 1000000ull / 5
				   : deadline;
start_vm:
	if (cfg->hv->start(&sb->vm, err) < 0)
		goto fail;
	sb->t.vmm_spawned = cc_now_ns();

	int fd = cfg->hv->agent_connect(&sb->vm, remaining_ms(vm_deadline), err);
	if (fd < 0 && sb->vm.cfg.restore)
		goto restore_failed;
	if (fd < 0) {
		/* The same words whichever backend waited (cocoon-vmm waits in connect, QEMU in
		 * hello): what the user can change is boot_timeout_ms, not a socket. */
		if (err->err_no == ETIMEDOUT) {
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			cc_error_set(err, 0, "the guest agent did not answer within %d ms (%.900s)",
				     cfg->boot_timeout_ms, why);
		}
		goto fail_console;
	}
	sb->agent = ttrpc_client_new(fd, err);
	if (sb->agent == NULL)
		goto fail;
	sb->t.agent_connected = cc_now_ns();
	cc_debug("sandbox %s: agent connected", sb->id);
	if (sandbox_hello(sb, remaining_ms(vm_deadline), err) < 0) {
		if (sb->vm.cfg.restore)
			goto restore_failed;
		if (err->code == TTRPC_DEADLINE_EXCEEDED)
			cc_error_set(err, 0, "the guest agent did not answer within %d ms",
				     cfg->boot_timeout_ms);
		else if (err->code == TTRPC_UNAVAILABLE)
			cc_error_set(err, 0, "the VM stopped before its agent answered");
		goto fail_console;
	}
	if (sb->vm.cfg.restore && sandbox_after_restore(sb, remaining_ms(vm_deadline), err) < 0)
		goto restore_failed;
	cc_debug("sandbox %s: agent said hello%s", sb->id,
		 sb->template_name[0] != '\0' ? ", reseeded, share mounted" : "");
	if (!cfg->make_template && sb->net != NULL && sb->net->n_ifs > 0 &&
	    sandbox_configure_network(sb, remaining_ms(vm_deadline), err) < 0)
		goto restore_failed;
	if (want_maker)
		template_spawn_maker(cfg, n_nics);
	if (sb->template_name[0] != '\0')
		cc_info("sandbox %s: restored from template %s in %.0f ms (%s)", sb->id,
			sb->template_name, (double)(cc_now_ns() - sb->t.start) / 1e6,
			sb->vm.cfg.restore_map ? "its memory from a spare" : "its memory copied");
	if (want_filler && sb->template_name[0] != '\0')
		template_spawn_filler(cfg->state_root, sb->template_name, cfg->template_spares);
	sb->t.agent_ready = cc_now_ns();
	cc_debug("sandbox %s: agent ready (guest %s, boot to ready %llu ms)", sb->id,
		 sb->guest_kernel, (unsigned long long)(sb->t.guest_boot_to_ready_ns / 1000000ull));
	/* Closes the agent's connection if the client is freed after a failure below. */
	*out = sb;
	return 0;

restore_failed:
	if (!sb->vm.cfg.restore)
		goto fail_console;
	/* The template was refused (corrupt, foreign, KVM would not take its state) or its
	 * VM did not come up in time: say why, drop it, boot this sandbox cold. */
	if (restore_to_cold(sb, cfg, cfg->boot_timeout_ms / 5, fs_sock, fs_log, err) < 0)
		goto fail;
	template_discard(cfg->state_root, &tk);
	want_maker = true;
	deadline = vm_deadline = cc_now_ns() + (uint64_t)cfg->boot_timeout_ms * 1000000ull;
	goto start_vm;

fail_console:
	/* Stop the VMM first so its console file is complete. */
	if (sb->vm.pid > 0)
		cfg->hv->stop(&sb->vm, VMM_TERM_GRACE_MS, &ignored);
	sandbox_add_console_tail(sb, err);
fail:
	sandbox_destroy(sb, &ignored);
	return -1;
}

bool sandbox_alive(struct sandbox *sb)
{
	return sb->vm.pid > 0 && !cc_child_wait(&sb->vm.pid, 0, &sb->vm.status);
}

int sandbox_destroy(struct sandbox *sb, struct cc_error *err)
{
	if (sb == NULL)
		return 0;
	int rc = 0;
	if (sb->agent != NULL) {
		if (sb->vm.pid > 0 && !ttrpc_client_closed(sb->agent)) {
			/* A clean power-off flushes the guest; the VMM then exits by itself. */
			Cocoon__Agent__V1__Empty req = COCOON__AGENT__V1__EMPTY__INIT;
			struct cc_error e;
			if (agent_call(&sb->client, AGENT_SHUTDOWN, &req.base, NULL,
				       SHUTDOWN_RPC_MS, &e) == 0 ||
			    e.code == TTRPC_UNAVAILABLE)
				cc_child_wait(&sb->vm.pid, VMM_EXIT_AFTER_SHUTDOWN_MS,
					      &sb->vm.status);
			else
				cc_debug("sandbox %s: Shutdown: %s", sb->id, e.msg);
		}
		ttrpc_client_free(sb->agent);
		sb->agent = NULL;
	}
	if (sb->vm.ops != NULL) {
		if (sb->vm.pid > 0 && sb->vm.ops->stop(&sb->vm, VMM_TERM_GRACE_MS, err) < 0)
			rc = -1;
		sb->vm.ops->destroy(&sb->vm);
	}
	virtiofsd_stop(&sb->virtiofsd_pid);
	host_cgroup_destroy(&sb->cgroup);
	sandbox_log_console(sb, CC_LOG_DEBUG, CONSOLE_DEBUG_LINES);
	struct cc_error e;
	if (pod_net_teardown(sb->net, rc == 0 ? err : &e) < 0)
		rc = -1;
	sb->net = NULL;
	if (sb->shared_fd >= 0)
		close(sb->shared_fd);
	if (sb->shared_rw_fd >= 0)
		close(sb->shared_rw_fd);
	if (sb->shared_dir[0] != '\0' &&
	    umount2(sb->shared_dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
	    errno != ENOENT && rc == 0)
		rc = cc_error_set(err, errno, "unmount %s", sb->shared_dir);
	if (cc_rm_rf(sb->dir, rc == 0 ? err : &e) < 0)
		rc = -1;
	free(sb);
	return rc;
}
