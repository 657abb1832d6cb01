/* Boot profile: what the guest made the VMM do, by exit reason and by device, and when
 * the boot reached each phase (docs/vmm.md, "Boot profile"). It is how the guest kernel's
 * boot was cut: every exit to user space costs a round trip, and a device the kernel
 * probes for nothing shows up as unclaimed accesses. */
#ifndef COCOON_VMM_PROFILE_H
#define COCOON_VMM_PROFILE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmm;
struct vcpu;

enum profile_phase {
	PROFILE_LOADED,	      /* kernel, initrd and boot structures in guest RAM */
	PROFILE_RUNNING,      /* vCPU threads started */
	PROFILE_FIRST_OUTPUT, /* the guest's first byte on the serial port */
	PROFILE_AGENT,	      /* the first host connection the guest accepted over vsock */
	PROFILE_PHASES
};

/* Exits to user space, by KVM exit reason. */
enum profile_exit {
	PROFILE_EXIT_IO,
	PROFILE_EXIT_MMIO,
	PROFILE_EXIT_INTR,
	PROFILE_EXIT_OTHER,
	PROFILE_EXITS
};

#define PROFILE_UNCLAIMED 16 /* distinct unclaimed addresses counted one by one */
#define PROFILE_KVM_STATS 16 /* KVM's own per-vCPU counters reported */
#define PROFILE_LINE_MAX 2048

struct profile {
	uint64_t start_ns;
	uint64_t phase_ns[PROFILE_PHASES]; /* 0: not reached */
	uint64_t exits[PROFILE_EXITS];
	uint64_t exit_ns[PROFILE_EXITS]; /* time the VMM spent handling them */
	/* Accesses no device claims (a probe the guest could skip). */
	pthread_mutex_t lock;
	struct {
		uint64_t addr, n;
		bool mmio;
	} unclaimed[PROFILE_UNCLAIMED];
	unsigned n_unclaimed;
	uint64_t unclaimed_other;
	/* KVM's binary statistics (KVM_GET_STATS_FD): exits KVM handles itself (HLT,
	 * interrupt windows, emulated instructions) never reach us otherwise. */
	struct {
		char name[48];
		uint32_t offset; /* of the value in a vCPU's stats file */
	} kvm[PROFILE_KVM_STATS];
	unsigned n_kvm;
};

void profile_init(struct profile *p, uint64_t start_ns);
/* Records when the boot first reached ph; later calls keep the first time. */
void profile_mark(struct profile *p, enum profile_phase ph);
void profile_count_exit(struct profile *p, enum profile_exit why, uint64_t ns);
void profile_count_unclaimed(struct profile *p, bool mmio, uint64_t addr);
/* Opens the vCPU's KVM statistics (best effort: older kernels have none) and, for the
 * first vCPU, learns where the counters worth reporting are. Before seccomp. */
void profile_open_vcpu_stats(struct profile *p, struct vcpu *c);
/* The profile so far as one line of key=value pairs (no newline), cut to len. */
size_t profile_format(struct vmm *v, char *buf, size_t len);

#endif
