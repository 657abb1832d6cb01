/* The VM: KVM handles, guest RAM, buses, vCPU threads, the event loop, and how the VMM
 * ends (exit status + message). One struct vmm per process. */
#ifndef COCOON_VMM_VMM_H
#define COCOON_VMM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"
#include "vmm/x86/bus.h"
#include "vmm/core/loop.h"
#include "vmm/core/memory.h"
#include "vmm/core/profile.h"

/* Guest physical layout (low memory below 1 MiB holds the boot structures). */
#define LAYOUT_GDT 0x500ull
#define LAYOUT_START_INFO 0x6000ull /* PVH hvm_start_info, modlist, memmap */
#define LAYOUT_ZERO_PAGE 0x7000ull  /* Linux boot_params */
#define LAYOUT_PML4 0x9000ull	    /* identity page tables for the 64-bit entry */
#define LAYOUT_CMDLINE 0x20000ull
#define LAYOUT_CMDLINE_MAX 4096u
#define LAYOUT_MPTABLE 0x9fc00ull /* end of base memory, where Linux scans */
#define LAYOUT_HIMEM 0x100000ull
#define LAYOUT_MMIO_BASE 0xd0000000ull /* virtio-mmio windows, 4 KiB each */
#define LAYOUT_RAM_MAX 0xc0000000ull   /* RAM stays below the MMIO hole */
#define VMM_MAX_CPUS 32

/* Exit statuses of the process. */
#define VMM_EXIT_OK 0	 /* guest reset or poweroff, or shutdown through the API */
#define VMM_EXIT_ERROR 1 /* VMM error (bad arguments, KVM failure, ...) */
#define VMM_EXIT_CRASH 2 /* guest crash: triple fault, internal error */

struct vmm_disk {
	const char *path;
	bool ro;
};
struct vmm_net {
	const char *tap;
	uint8_t mac[6];
};

struct vmm_config {
	const char *kernel, *initrd, *cmdline;
	unsigned cpus;
	uint64_t memory_mib;
	struct vmm_disk disks[4];
	unsigned n_disks;
	struct vmm_net nets[4];
	unsigned n_nets;
	uint64_t vsock_cid;
	const char *vsock_socket;
	const char *fs_tag, *fs_socket;
	const char *console_socket; /* virtio-console port "agent" served on this unix socket */
	const char *api_socket;
	bool profile; /* print the boot profile at exit */
	bool rng;     /* virtio-rng: opt-in, guests seed from RDRAND (random.trust_cpu) */
	/* --restore DIR: start from this snapshot (decoded by main) instead of a kernel. */
	const char *restore_dir;
	const struct vm_state *restore;
	/* --restore-fd STATE,MEMORY: the snapshot's files as inherited fds; restore_dir
	 * then only names them in messages. */
	bool restore_fds;
	int restore_state_fd, restore_memory_fd;
	/* --restore-fd ...,map: restore_memory_fd is the guest's RAM itself. */
	bool restore_map;
};

struct vcpu;
struct vm_state;

struct vmm {
	const struct vmm_config *cfg;
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	struct bus pio, mmio;
	struct loop loop;
	unsigned n_vcpus;
	struct vcpu *vcpus;
	uint64_t start_ns;
	struct profile prof;

	/* Pause/resume and exit, shared by vCPU threads, the API and devices. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused;
	unsigned parked; /* vCPUs parked because of pause */
	bool exiting;
	int exit_status;
	char exit_msg[512];
	int exit_efd;  /* eventfd: wakes the loop when someone asks the VM to end */
	int signal_fd; /* SIGTERM/SIGINT/SIGHUP */

	/* Device placement. */
	unsigned next_irq;
	uint64_t next_mmio;
	char cmdline[LAYOUT_CMDLINE_MAX]; /* kernel cmdline incl. virtio_mmio.device= */
	size_t cmdline_len;
};

int vmm_init(struct vmm *v, const struct vmm_config *cfg, struct cc_error *err);
/* Loads the kernel, starts the vCPUs, runs the loop; returns the process exit status. */
int vmm_run(struct vmm *v, struct cc_error *err);
/* Asks the VM to end with status; the first request wins. Safe from any thread. */
void vmm_request_exit(struct vmm *v, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vmm_set_irq_line(struct vmm *v, unsigned irq, int level);
/* Appends " text" to the kernel command line. */
int vmm_cmdline_append(struct vmm *v, const char *text, struct cc_error *err);
int vmm_alloc_irq(struct vmm *v, unsigned *irq, struct cc_error *err);
void vmm_pause(struct vmm *v);
void vmm_resume(struct vmm *v);

#endif
