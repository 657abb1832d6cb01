/* A sandbox is one VM with its agent: a private state directory, one virtiofsd sharing
 * <dir>/shared into the guest (tag "cocoon", mounted by the agent at
 * /run/cocoon/shared), the VMM launched through the hypervisor interface, and a ttrpc
 * client connected to the agent. `cocoon run` uses one sandbox per container; the shim
 * one per pod.
 *
 * Mounts: the caller first enters a private mount namespace (sandbox_enter_mount_ns,
 * before it starts any thread) so every bind mount a sandbox makes disappears with the
 * process, even on SIGKILL. <dir>/shared is a small tmpfs of the sandbox's own, read-only
 * to the guest, a shared mount with virtiofsd's namespace a slave of it, so directories
 * shared after boot still reach the guest. Each share is built as a detached mount (made
 * read-only there when asked) and moved onto its mount point; see docs/security.md. */
#ifndef COCOON_SANDBOX_H
#define COCOON_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/agent_client.h"
#include "shared/agent_proto.h"
#include "shared/error.h"
#include "host/host_cgroup.h"
#include "host/hypervisor.h"
#include "host/pod_net.h"

/* File in the state dir holding the sandbox id (what `shim delete` checks). */
#define SANDBOX_ID_FILE "sandbox-id"

struct sandbox_config {
	const char *id;		/* unique; names the state dir */
	const char *state_root; /* parent of per-sandbox dirs */
	const struct hypervisor_ops *hv;
	const char *vmm_binary; /* NULL: backend default */
	const char *virtiofsd;	/* path of virtiofsd */
	const char *kernel;
	const char *initrd;
	const char *extra_cmdline; /* NULL or extra kernel args */
	unsigned cpus;
	uint64_t memory_mib;
	/* Pod network namespace (e.g. the CRI sandbox's), NULL for none: the guest then has
	 * loopback only. Each interface CNI made there reaches the guest as a virtio-net
	 * device (see host/pod_net.h); the VMM runs in that namespace. */
	const char *netns;
	bool debug; /* agent and kernel log verbosely to the console log */
	/* The pod's CPU limit (CFS quota/period), 0: none. The host cgroup of the VMM and
	 * virtiofsd gets it plus an overhead, and memory_mib plus an overhead. */
	uint64_t cpu_quota_us, cpu_period_us;
	/* The caller (the pod's shim) joins that cgroup too, until sandbox_destroy. */
	bool join_cgroup;
	int boot_timeout_ms;
	/* Restore from a template of this shape when there is one, else boot cold and have
	 * one made in the background (host/template.h); the caller decides (config
	 * `template`, a backend that can save). */
	bool use_template;
	/* This sandbox is the template being made: booted with cocoon.template=1 (the
	 * agent mounts nothing, the host configures no network). */
	bool make_template;
	/* Spare copies of the template's RAM kept ready for the next restores (config
	 * template_spares; host/template.h), 0: every restore copies. */
	unsigned template_spares;
};

/* Timestamps (cc_now_ns) for the benchmark breakdown. */
struct sandbox_timings {
	uint64_t start, virtiofsd_ready, vmm_spawned, agent_connected, agent_ready;
	uint64_t guest_boot_to_ready_ns; /* reported by the agent (guest clock) */
};

struct ttrpc_client;

struct sandbox {
	char id[128];
	char dir[4096];	       /* <state_root>/<id> */
	char shared_dir[4096]; /* <dir>/shared, read-only to the guest */
	int shared_fd;	       /* O_PATH of shared_dir: mount points are opened under it */
	int shared_rw_fd;      /* writable, detached mount of the same tmpfs */
	struct vm vm;
	struct pod_net *net; /* NULL without a netns */
	struct vm_net nets[POD_NET_MAX_IFS];
	pid_t virtiofsd_pid;
	struct host_cgroup cgroup;
	struct ttrpc_client *agent;
	struct agent_client client; /* typed calls on agent (host/agent_client.h) */
	char guest_kernel[128];	    /* uname -r reported by the agent */
	char boot_id[64];
	struct sandbox_timings t;
	char template_name[96]; /* restored from this template; "" after a cold boot */
};

/* What the configuration says of every sandbox (cocoon run's and the shim's alike): the
 * backend and its binary, virtiofsd, guest kernel and initrd, default size, debug, boot
 * timeout, state root. The caller adds the id, the netns and what it sizes itself. */
struct cc_config;
void sandbox_config_from_settings(struct sandbox_config *sc, const struct cc_config *cfg,
				  const struct hypervisor_ops *hv);

int sandbox_enter_mount_ns(struct cc_error *err);
/* Boots the VM and returns once the agent answered Hello and, with a netns, configured
 * the guest's interfaces. On failure everything
 * started so far is stopped and removed; err says what failed (with the tail of
 * the guest console when the guest got far enough to print). */
int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct cc_error *err);
/* Mounts host_path (with its submounts; all read-only when readonly, for the guest and
 * virtiofsd alike) at <shared>/<name> and fills guest_path with where the guest sees it
 * (SANDBOX_GUEST_SHARED "/" name). */
int sandbox_share(struct sandbox *sb, const char *host_path, const char *name, bool readonly,
		  char *guest_path, size_t guest_path_len, struct cc_error *err);
/* Shares the source of every bind mount in an OCI spec (a json-c object: the document
 * root) as "<prefix>0", "<prefix>1", ... and rewrites the source to the guest path;
 * a memory-backed emptyDir is not shared but becomes the guest's SANDBOX_GUEST_MEMORY
 * tmpfs of the same size. Returns how many it shared; on failure it has undone its own shares. */
struct json_object;
int sandbox_share_spec_mounts(struct sandbox *sb, struct json_object *spec, const char *prefix,
			      struct cc_error *err);
/* Creates, inside rootfs and never through its links to the outside, the mount point of
 * every mount in the spec that lacks one, as runc does before it makes a rootfs
 * read-only: a rootfs shared read-only lets the guest create nothing. */
int sandbox_make_mountpoints(const char *rootfs, struct json_object *spec, struct cc_error *err);
/* Undoes the n shares sandbox_share_spec_mounts made with prefix. */
void sandbox_unshare_spec_mounts(struct sandbox *sb, const char *prefix, size_t n);
int sandbox_unshare(struct sandbox *sb, const char *name, struct cc_error *err);
/* True while the VMM process runs. */
bool sandbox_alive(struct sandbox *sb);
/* Asks the agent to power off, stops VMM and virtiofsd, removes taps and tc rules,
 * unmounts, removes the state dir, frees sb. Safe on a half-started or dead sandbox; always frees. */
int sandbox_destroy(struct sandbox *sb, struct cc_error *err);

#endif
