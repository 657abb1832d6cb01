/* Hypervisor interface: the sandbox code drives a VM through this ops table, so the
 * QEMU backend and cocoon-vmm are interchangeable (`--hypervisor NAME`, `hypervisor =`
 * in the config file). A backend launches one VMM process per VM. */
#ifndef COCOON_HYPERVISOR_H
#define COCOON_HYPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shared/error.h"

/* One virtio-net device backed by a tap (pod networking). */
struct vm_net {
	char tap[16]; /* tap device name, in the VMM's network namespace */
	uint8_t mac[6];
	unsigned mtu;
};

struct vm_config {
	const char *id;		/* sandbox id, used in names and logs */
	const char *dir;	/* private per-VM state directory (sockets, logs) */
	const char *vmm_binary; /* NULL: the backend's default (PATH lookup) */
	const char *kernel;	/* vmlinux (PVH) or bzImage */
	const char *initrd;
	const char *cmdline; /* extra kernel arguments appended after the backend's */
	unsigned cpus;
	uint64_t memory_mib;
	const char *fs_socket; /* vhost-user-fs socket of virtiofsd, NULL for none */
	const char *fs_tag;    /* virtio-fs mount tag in the guest */
	const char *netns;     /* path of the netns the VMM joins for its taps, or NULL */
	const struct vm_net *nets;
	unsigned n_nets;
	int accel_kvm;			 /* 1: KVM, 0: software emulation (TCG) */
	const char *const *cgroup_procs; /* host cgroup the VMM joins before exec, or NULL */
	/* Restore from a template instead of booting (backends with snapshot only): the
	 * open vm.state and memory files; kernel, initrd, cmdline, cpus and memory then
	 * only describe the template. */
	bool restore;
	int restore_state_fd, restore_memory_fd;
	/* restore_memory_fd is a spare of the template's RAM, read-write: the VM's RAM as
	 * it is, not copied (host/template.h). */
	bool restore_map;
};

/* Kernel arguments both backends give the guest to cut its boot, found with cocoon-vmm's
 * boot profile (bench/boot.sh, docs/benchmarks.md "Boot profile"): no PCI bus scan (every
 * device is virtio-mmio; the scan was most of the guest's port I/O exits), no legacy
 * BSD ptys (256 devices registered that nothing opens). */
#define HV_GUEST_BOOT_CUTS "pci=off pty.legacy_count=0"

struct vm;

struct hypervisor_ops {
	const char *name;
	/* Can this backend run here? 0 yes; -1 with the reason in err. */
	int (*probe)(const struct vm_config *cfg, struct cc_error *err);
	/* Launches the VMM process; the guest starts booting. */
	int (*start)(struct vm *vm, struct cc_error *err);
	/* Returns a connected byte-stream fd to the agent (virtio-serial port or vsock). */
	int (*agent_connect)(struct vm *vm, int timeout_ms, struct cc_error *err);
	/* Stops the VM: asks the VMM to quit, kills it after timeout_ms, reaps it. */
	int (*stop)(struct vm *vm, int timeout_ms, struct cc_error *err);
	/* Frees backend state; the VMM must already be reaped. */
	void (*destroy)(struct vm *vm);
	/* Pauses the VM and saves it (templates); fills dir with where the files are.
	 * NULL: the backend cannot. */
	int (*snapshot)(struct vm *vm, char *dir, size_t dir_len, int timeout_ms,
			struct cc_error *err);
};

struct vm {
	const struct hypervisor_ops *ops;
	struct vm_config cfg;
	pid_t pid;		/* VMM process, 0 when not running */
	int status;		/* its wait status once reaped */
	char console_log[4096]; /* guest serial console output */
	void *priv;		/* backend state */
};

const struct hypervisor_ops *hypervisor_find(const char *name);
/* The backend a sandbox gets for a configured name: "auto" (the default) picks
 * cocoon-vmm where KVM is hardware virtualization and QEMU (TCG) elsewhere; any other
 * name is looked up as is. NULL for an unknown name. *why says how it was chosen. */
const struct hypervisor_ops *hypervisor_select(const char *name, bool hw_virt, const char **why);
/* True where KVM is real hardware virtualization: /proc/cpuinfo shows vmx or svm and
 * /dev/kvm opens. (/dev/kvm alone may be PVM, which cannot boot our guest kernel.) */
bool hypervisor_hw_virt(void);
/* Names of every backend, NULL-terminated, for help and errors. */
const char *const *hypervisor_names(void);

/* The cocoon-vmm binary a vm_config gets (templates are keyed by it). */
int hv_cocoon_vmm_binary(const struct vm_config *cfg, char *out, size_t len, struct cc_error *err);

extern const struct hypervisor_ops hypervisor_qemu;
extern const struct hypervisor_ops hypervisor_cocoon_vmm;

#endif
