#include "vmm/core/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shared/log.h"
#include "vmm/core/seccomp.h"
#include "vmm/core/vmm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

/* Local APIC register offsets and LVT delivery modes. */
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static int set_cpuid(struct vcpu *c, struct cc_error *err)
{
	const int max = 100;
	struct kvm_cpuid2 *cpuid =
		calloc(1, sizeof(*cpuid) + max * sizeof(struct kvm_cpuid_entry2));
	if (cpuid == NULL)
		return cc_error_set(err, ENOMEM, "cpuid");
	cpuid->nent = max;
	if (ioctl(c->vmm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		free(cpuid);
		return cc_error_set(err, errno, "KVM_GET_SUPPORTED_CPUID");
	}
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function == 1) {
			/* Initial APIC id = vCPU index, as the MP table says. */
			e->ebx = (e->ebx & 0x00ffffff) | (c->id << 24);
			e->ecx |= 1u << 31; /* hypervisor present */
		} else if (e->function == 0xb) {
			e->edx = c->id;
		}
	}
	int rc = ioctl(c->fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (rc < 0)
		return cc_error_set(err, errno, "KVM_SET_CPUID2");
	return 0;
}

/* LINT0 as ExtINT (the PIC in virtual-wire mode) and LINT1 as NMI, as firmware would. */
static int set_lapic(struct vcpu *c, struct cc_error *err)
{
	struct kvm_lapic_state lapic;
	if (ioctl(c->fd, KVM_GET_LAPIC, &lapic) < 0)
		return cc_error_set(err, errno, "KVM_GET_LAPIC");
	uint32_t lvt0, lvt1;
	memcpy(&lvt0, lapic.regs + APIC_LVT0, 4);
	memcpy(&lvt1, lapic.regs + APIC_LVT1, 4);
	lvt0 = (lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	lvt1 = (lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT0, &lvt0, 4);
	memcpy(lapic.regs + APIC_LVT1, &lvt1, 4);
	if (ioctl(c->fd, KVM_SET_LAPIC, &lapic) < 0)
		return cc_error_set(err, errno, "KVM_SET_LAPIC");
	return 0;
}

int vcpu_create(struct vmm *v, struct vcpu *c, unsigned id, struct cc_error *err)
{
	c->vmm = v;
	c->id = id;
	c->stats_fd = -1;
	c->fd = ioctl(v->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (c->fd < 0)
		return cc_error_set(err, errno, "KVM_CREATE_VCPU %u", id);
	int size = ioctl(v->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return cc_error_set(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
	c->run_size = (size_t)size;
	c->run = mmap(NULL, c->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		return cc_error_set(err, errno, "mapping kvm_run of vCPU %u", id);
	}
	if (set_cpuid(c, err) < 0 || set_lapic(c, err) < 0)
		return cc_error_prefix(err, "vCPU %u", id);
	profile_open_vcpu_stats(&v->prof, c);
	return 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code64 ? 0 : 1,
		.s = 1,
		.l = code64 ? 1 : 0,
		.g = 1,
	};
}

int vcpu_setup_boot(struct vcpu *c, const struct boot_entry *e, struct cc_error *err)
{
	struct kvm_sregs s;
	if (ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return cc_error_set(err, errno, "KVM_GET_SREGS");
	s.cs = flat_segment(0x10, 0xb, e->long_mode);
	s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(0x18, 0x3, false);
	s.tr = (struct kvm_segment){ .selector = 0x20, .limit = 0x67, .type = 0xb, .present = 1 };
	s.ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .limit = 0xffff };
	s.cr0 = CR0_PE | CR0_ET;
	s.cr4 = 0;
	s.efer = 0;
	if (e->long_mode) {
		s.gdt.base = LAYOUT_GDT;
		s.gdt.limit = 4 * 8 - 1;
		s.cr3 = LAYOUT_PML4;
		s.cr4 = CR4_PAE;
		s.cr0 |= CR0_PG;
		s.efer = EFER_LME | EFER_LMA;
	}
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0)
		return cc_error_set(err, errno, "KVM_SET_SREGS");
	struct kvm_regs r = { .rip = e->ip, .rflags = 0x2, .rbx = e->rbx, .rsi = e->rsi };
	if (ioctl(c->fd, KVM_SET_REGS, &r) < 0)
		return cc_error_set(err, errno, "KVM_SET_REGS");
	return 0;
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *c)
{
	struct vmm *v = c->vmm;
	struct kvm_run *run = c->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		if (run->io.data_offset + (uint64_t)run->io.size * run->io.count > c->run_size)
			break;
		for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
			if (!bus_access(&v->pio, run->io.port, data, run->io.size,
					run->io.direction == KVM_EXIT_IO_OUT))
				profile_count_unclaimed(&v->prof, false, run->io.port);
		return true;
	}
	case KVM_EXIT_MMIO:
		if (run->mmio.len > sizeof(run->mmio.data))
			break;
		if (!bus_access(&v->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
				run->mmio.is_write))
			profile_count_unclaimed(&v->prof, true, run->mmio.phys_addr);
		return true;
	case KVM_EXIT_INTR: return true;
	case KVM_EXIT_SHUTDOWN: {
		/* Where it died: enough to tell a lost IDT or stack from a bad page table. */
		struct kvm_regs r;
		struct kvm_sregs sr;
		if (ioctl(c->fd, KVM_GET_REGS, &r) == 0 && ioctl(c->fd, KVM_GET_SREGS, &sr) == 0)
			vmm_request_exit(
				v, VMM_EXIT_CRASH,
				"guest crashed: triple fault on vCPU %u (rip 0x%llx rsp 0x%llx "
				"cr0 0x%llx cr2 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx idt "
				"0x%llx/%u gdt 0x%llx/%u tr 0x%llx)",
				c->id, (unsigned long long)r.rip, (unsigned long long)r.rsp,
				(unsigned long long)sr.cr0, (unsigned long long)sr.cr2,
				(unsigned long long)sr.cr3, (unsigned long long)sr.cr4,
				(unsigned long long)sr.efer, (unsigned long long)sr.idt.base,
				sr.idt.limit, (unsigned long long)sr.gdt.base, sr.gdt.limit,
				(unsigned long long)sr.tr.base);
		else
			vmm_request_exit(v, VMM_EXIT_CRASH,
					 "guest crashed: triple fault on vCPU %u", c->id);
		return false;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vmm_request_exit(v, VMM_EXIT_OK, "guest %s",
					 run->system_event.type == KVM_SYSTEM_EVENT_RESET
						 ? "reset"
						 : "powered off");
			return false;
		}
		vmm_request_exit(v, VMM_EXIT_CRASH, "guest crashed (system event %u)",
				 run->system_event.type);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vmm_request_exit(v, VMM_EXIT_CRASH,
				 "guest crashed: KVM internal error %u on vCPU %u",
				 run->internal.suberror, c->id);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vmm_request_exit(v, VMM_EXIT_CRASH, "guest crashed: entry failed (reason 0x%llx)",
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	default: break;
	}
	vmm_request_exit(v, VMM_EXIT_ERROR, "unhandled KVM exit %u on vCPU %u", run->exit_reason,
			 c->id);
	return false;
}

static enum profile_exit exit_kind(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO: return PROFILE_EXIT_IO;
	case KVM_EXIT_MMIO: return PROFILE_EXIT_MMIO;
	case KVM_EXIT_INTR: return PROFILE_EXIT_INTR;
	default: return PROFILE_EXIT_OTHER;
	}
}

/* Parks the thread while the VM is paused; false when the VM is ending. */
static bool wait_runnable(struct vcpu *c)
{
	struct vmm *v = c->vmm;
	pthread_mutex_lock(&v->lock);
	if (v->paused && !v->exiting) {
		/* KVM finishes an I/O read (or an MMIO access) the last exit handed us only on
		 * the next KVM_RUN; with immediate_exit it does that and returns without
		 * entering the guest, so a snapshot of a parked vCPU is consistent. */
		c->run->immediate_exit = 1;
		if (ioctl(c->fd, KVM_RUN, 0) == 0 || errno != EINTR)
			cc_debug("vCPU %u: completing I/O before parking: %s", c->id,
				 strerror(errno));
		c->run->immediate_exit = 0;
		v->parked++;
		pthread_cond_broadcast(&v->cond);
		while (v->paused && !v->exiting)
			pthread_cond_wait(&v->cond, &v->lock);
		v->parked--;
	}
	bool run = !v->exiting;
	pthread_mutex_unlock(&v->lock);
	return run;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct cc_error err = { 0 };

	if (seccomp_apply(SECCOMP_THREAD_VCPU, &err) < 0) {
		vmm_request_exit(c->vmm, VMM_EXIT_ERROR, "vCPU %u: %s", c->id, err.msg);
		return NULL;
	}
	while (wait_runnable(c)) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				c->run->immediate_exit = 0;
				continue;
			}
			vmm_request_exit(c->vmm, VMM_EXIT_ERROR, "KVM_RUN on vCPU %u: %s", c->id,
					 strerror(errno));
			break;
		}
		uint64_t t = cc_now_ns();
		bool go_on = handle_exit(c);
		profile_count_exit(&c->vmm->prof, exit_kind(c->run->exit_reason), cc_now_ns() - t);
		if (!go_on)
			break;
	}
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_start(struct vcpu *c, struct cc_error *err)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	int rc = pthread_create(&c->thread, NULL, vcpu_thread, c);
	if (rc != 0)
		return cc_error_set(err, rc, "starting vCPU %u thread", c->id);
	c->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *c)
{
	if (!c->started)
		return;
	c->run->immediate_exit = 1;
	pthread_kill(c->thread, VCPU_KICK_SIGNAL);
}
