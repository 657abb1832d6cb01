/* vCPU threads: register setup for the boot entry and the KVM_RUN exit loop. */
#ifndef COCOON_VMM_VCPU_H
#define COCOON_VMM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "shared/error.h"

struct vmm;

/* How the boot loader wants the BSP started. */
struct boot_entry {
	uint64_t ip;
	bool long_mode; /* false: 32-bit flat protected mode, paging off (PVH) */
	uint64_t rbx;	/* PVH: hvm_start_info */
	uint64_t rsi;	/* Linux 64-bit: boot_params */
};

struct vcpu {
	struct vmm *vmm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	int stats_fd; /* KVM's statistics of this vCPU, -1: none (boot profile) */
};

int vcpu_create(struct vmm *v, struct vcpu *c, unsigned id, struct cc_error *err);
int vcpu_setup_boot(struct vcpu *c, const struct boot_entry *e, struct cc_error *err);
int vcpu_start(struct vcpu *c, struct cc_error *err);
/* Forces the vCPU out of KVM_RUN (pause, exit). */
void vcpu_kick(struct vcpu *c);

#endif
