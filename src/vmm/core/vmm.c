/* VM lifecycle: KVM VM with in-kernel irqchip and PIT, memfd RAM, device setup, boot,
 * vCPU threads, then the event loop until someone asks the VM to end. */
#include "vmm/core/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/core/api.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/bzimage.h"
#include "vmm/x86/mptable.h"
#include "vmm/x86/pvh.h"
#include "vmm/core/devices.h"
#include "vmm/core/privs.h"
#include "vmm/core/seccomp.h"
#include "vmm/core/snapshot.h"
#include "vmm/core/vcpu.h"

/* Addresses KVM needs for its real-mode helpers on Intel, just below 4 GiB. */
#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

void vmm_request_exit(struct vmm *v, int status, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&v->lock);
	if (!v->exiting) {
		v->exiting = true;
		v->exit_status = status;
		va_start(ap, fmt);
		vsnprintf(v->exit_msg, sizeof(v->exit_msg), fmt, ap);
		va_end(ap);
		uint64_t one = 1;
		if (write(v->exit_efd, &one, sizeof(one)) < 0)
			abort(); /* an eventfd write cannot fail here; never lose an exit */
	}
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

int vmm_set_irq_line(struct vmm *v, unsigned irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };
	return ioctl(v->vm_fd, KVM_IRQ_LINE, &l);
}

int vmm_cmdline_append(struct vmm *v, const char *text, struct cc_error *err)
{
	size_t n = strlen(text);
	if (v->cmdline_len + n + 2 > sizeof(v->cmdline))
		return cc_error_set(err, 0, "kernel command line longer than %u bytes",
				    LAYOUT_CMDLINE_MAX - 1);
	if (v->cmdline_len > 0)
		v->cmdline[v->cmdline_len++] = ' ';
	memcpy(v->cmdline + v->cmdline_len, text, n + 1);
	v->cmdline_len += n;
	return 0;
}

int vmm_alloc_irq(struct vmm *v, unsigned *irq, struct cc_error *err)
{
	/* 0-4 are legacy (PIT, i8042, cascade, COM2, COM1); the IOAPIC has 24 pins. */
	if (v->next_irq > 23)
		return cc_error_set(err, 0, "out of interrupt lines for devices");
	*irq = v->next_irq++;
	return 0;
}

void vmm_pause(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	v->paused = true;
	pthread_mutex_unlock(&v->lock);
	for (unsigned i = 0; i < v->n_vcpus; i++)
		vcpu_kick(&v->vcpus[i]);
	pthread_mutex_lock(&v->lock);
	while (v->parked < v->n_vcpus && !v->exiting)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

void vmm_resume(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	v->paused = false;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static int kvm_check_cap(struct vmm *v, int cap, const char *name, struct cc_error *err)
{
	if (ioctl(v->kvm_fd, KVM_CHECK_EXTENSION, cap) <= 0)
		return cc_error_set(err, 0, "KVM lacks %s", name);
	return 0;
}

int vmm_init(struct vmm *v, const struct vmm_config *cfg, struct cc_error *err)
{
	memset(v, 0, sizeof(*v));
	v->cfg = cfg;
	v->kvm_fd = v->vm_fd = v->exit_efd = v->signal_fd = -1;
	v->mem.fd = -1;
	v->loop.epfd = -1;
	v->next_irq = 5;
	v->next_mmio = LAYOUT_MMIO_BASE;
	v->start_ns = cc_now_ns();
	profile_init(&v->prof, v->start_ns);
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);

	if (cfg->cpus == 0 || cfg->cpus > VMM_MAX_CPUS)
		return cc_error_set(err, 0, "--cpus must be 1..%d", VMM_MAX_CPUS);
	uint64_t ram = cfg->memory_mib << 20;
	if (cfg->memory_mib < 2 || ram > LAYOUT_RAM_MAX)
		return cc_error_set(err, 0, "--memory must be 2..%llu MiB",
				    (unsigned long long)(LAYOUT_RAM_MAX >> 20));

	v->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm_fd < 0)
		return cc_error_set(err, errno, "opening /dev/kvm");
	if (ioctl(v->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return cc_error_set(err, 0, "unsupported KVM API version");
	if (kvm_check_cap(v, KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", err) < 0 ||
	    kvm_check_cap(v, KVM_CAP_IRQFD, "KVM_CAP_IRQFD", err) < 0 ||
	    kvm_check_cap(v, KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", err) < 0 ||
	    kvm_check_cap(v, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", err) < 0)
		return -1;
	v->vm_fd = ioctl(v->kvm_fd, KVM_CREATE_VM, 0);
	if (v->vm_fd < 0)
		return cc_error_set(err, errno, "KVM_CREATE_VM");
	/* Best effort: needed on Intel VMX for real mode, absent on some KVM flavours. */
	if (ioctl(v->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		cc_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(v->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		cc_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(v->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return cc_error_set(err, errno, "KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(v->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return cc_error_set(err, errno, "KVM_CREATE_PIT2");

	if ((cfg->restore_map ? gmem_adopt(&v->mem, cfg->restore_memory_fd, ram, err)
			      : gmem_create(&v->mem, ram, err)) < 0)
		return -1;
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = ram,
		.userspace_addr = (uint64_t)(uintptr_t)v->mem.host,
	};
	if (ioctl(v->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return cc_error_set(err, errno, "KVM_SET_USER_MEMORY_REGION");

	v->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->exit_efd < 0)
		return cc_error_set(err, errno, "eventfd");
	if (loop_init(&v->loop, err) < 0)
		return -1;
	if (cfg->cmdline != NULL && vmm_cmdline_append(v, cfg->cmdline, err) < 0)
		return -1;
	return 0;
}

static int read_kernel(const char *path, struct kernel_image *k, struct cc_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return cc_error_set(err, errno, "opening kernel %s", path);
	if (fstat(fd, &st) < 0)
		return cc_error_set(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return cc_error_set(err, 0, "kernel %s is not a non-empty regular file", path);
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return cc_error_set(err, errno, "mapping kernel %s", path);
	k->data = p;
	k->size = (size_t)st.st_size;
	return 0;
}

static void on_exit_request(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	(void)events;
	v->loop.stop = 1;
}

/* SIGTERM/SIGINT/SIGHUP end the VM like the API's shutdown: sockets are removed and the
 * exit status is 0. They arrive through a signalfd, so no async handler touches state. */
static void on_signal(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(v->signal_fd, &si, sizeof(si)) == sizeof(si))
		vmm_request_exit(v, VMM_EXIT_OK, "terminated by signal %u", si.ssi_signo);
}

static int watch_signals(struct vmm *v, struct cc_error *err)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before the vCPU threads start, so they inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	v->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (v->signal_fd < 0)
		return cc_error_set(err, errno, "signalfd");
	return loop_add(&v->loop, v->signal_fd, EPOLLIN, on_signal, v, err) == NULL ? -1 : 0;
}

static int vmm_boot(struct vmm *v, struct boot_entry *e, struct cc_error *err)
{
	struct kernel_image k;
	if (read_kernel(v->cfg->kernel, &k, err) < 0)
		return -1;
	int rc = boot_is_elf(&k) ? boot_pvh(v, &k, e, err) : boot_bzimage(v, &k, e, err);
	munmap((void *)k.data, k.size);
	if (rc < 0)
		return cc_error_prefix(err, "booting %s", v->cfg->kernel);
	return mptable_write(v, v->n_vcpus, err);
}

int vmm_run(struct vmm *v, struct cc_error *err)
{
	struct boot_entry entry = { 0 };

	if (devices_setup(v, err) < 0)
		return -1;
	v->n_vcpus = v->cfg->cpus;
	if (v->cfg->restore == NULL && vmm_boot(v, &entry, err) < 0)
		return -1;
	profile_mark(&v->prof, PROFILE_LOADED);
	v->vcpus = calloc(v->n_vcpus, sizeof(*v->vcpus));
	if (v->vcpus == NULL)
		return cc_error_set(err, ENOMEM, "allocating vCPUs");
	for (unsigned i = 0; i < v->n_vcpus; i++)
		if (vcpu_create(v, &v->vcpus[i], i, err) < 0)
			return -1;
	if (v->cfg->restore != NULL
		    ? snapshot_restore(v, v->cfg->restore, v->cfg->restore_dir, err) < 0
		    : vcpu_setup_boot(&v->vcpus[0], &entry, err) < 0)
		return -1;
	if (loop_add(&v->loop, v->exit_efd, EPOLLIN, on_exit_request, v, err) == NULL)
		return -1;
	if (v->cfg->api_socket != NULL && api_start(v, v->cfg->api_socket, err) < 0)
		return -1;
	if (watch_signals(v, err) < 0 || privs_drop(err) < 0)
		return -1;
	for (unsigned i = 0; i < v->n_vcpus; i++)
		if (vcpu_start(&v->vcpus[i], err) < 0)
			return -1;
	profile_mark(&v->prof, PROFILE_RUNNING);
	if (seccomp_apply(SECCOMP_THREAD_MAIN, err) < 0)
		return -1;
	cc_debug("vm started in %.3f ms", (double)(cc_now_ns() - v->start_ns) / 1e6);
	if (loop_run(&v->loop, err) < 0)
		return -1;
	pthread_mutex_lock(&v->lock);
	int status = v->exit_status;
	pthread_mutex_unlock(&v->lock);
	return status;
}
