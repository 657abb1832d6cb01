/* Snapshots: the whole state of a paused VM saved to a directory, and a VM started from
 * it (docs/vmm.md, "Snapshots"). A snapshot directory holds two files:
 *  - `memory`: guest RAM as a sparse file of exactly the RAM size; only pages the guest
 *    touched (and that are not all zero) are written, the rest are holes;
 *  - `vm.state`: a versioned header and typed records (vCPU registers, irqchip, PIT,
 *    clock, serial, each virtio device's transport and queue state).
 * snapshot_format.c encodes and decodes vm.state and checks everything in it (pure, no
 * KVM: unit-tested and fuzzed); snapshot.c captures and applies the state with KVM. */
#ifndef COCOON_VMM_SNAPSHOT_H
#define COCOON_VMM_SNAPSHOT_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/kvm.h>

#include "shared/error.h"
#include "vmm/core/memory.h"
#include "vmm/virtio/virtio.h"
#include "vmm/core/vmm.h"

#define SNAP_MAGIC "COCNSNAP"
#define SNAP_VERSION 1
#define SNAP_MACHINE_X86_64 62 /* ELF e_machine of the guest architecture */
#define SNAP_HEADER_SIZE 32
#define SNAP_STATE_FILE "vm.state"
#define SNAP_MEMORY_FILE "memory"
#define SNAP_STATE_MAX (4u << 20) /* a 32-vCPU VM with 16 devices needs ~400 KiB */
#define SNAP_MAX_MSRS 256
#define SNAP_MAX_DEVICES 16
#define SNAP_IRQCHIPS 3 /* PIC master, PIC slave, IOAPIC */
#define SNAP_DEV_STATE 16
/* The only open flags the saver uses: the seccomp filter of the loop thread allows
 * openat with exactly these, so it can create new files but not read or overwrite one. */
#define SNAP_OPEN_DIR (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#define SNAP_OPEN_CREATE (O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW)

/* A device model saves and restores with one function that lists its fields once, each
 * through SNAP_COPY, so the two directions cannot drift apart; a restore then clamps
 * what the device needs bounded. */
enum snap_dir { SNAP_SAVE, SNAP_LOAD };
#define SNAP_COPY(dir, live, snap) \
	((dir) == SNAP_SAVE ? (void)((snap) = (live)) : (void)((live) = (snap)))
#define SNAP_COPY_BYTES(dir, live, snap, n) \
	((dir) == SNAP_SAVE ? (void)memcpy(snap, live, n) : (void)memcpy(live, snap, n))

/* Record types of vm.state; the numbers are part of the format. */
enum snap_record {
	SNAP_REC_VM = 1,
	SNAP_REC_REGS,
	SNAP_REC_SREGS,
	SNAP_REC_FPU,
	SNAP_REC_XSAVE,
	SNAP_REC_XCRS,
	SNAP_REC_LAPIC,
	SNAP_REC_MSRS,
	SNAP_REC_EVENTS,
	SNAP_REC_MP_STATE,
	SNAP_REC_DEBUGREGS,
	SNAP_REC_IRQCHIP,
	SNAP_REC_PIT,
	SNAP_REC_CLOCK,
	SNAP_REC_SERIAL,
	SNAP_REC_DEVICE,
	SNAP_REC_END,
	SNAP_REC_MAX = SNAP_REC_END,
};

struct snap_vcpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint32_t xsave[1024]; /* struct kvm_xsave's region (its flexible tail is unused) */
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	uint32_t n_msrs;
	struct kvm_msr_entry msrs[SNAP_MAX_MSRS];
};

/* The 8250's registers and receive FIFO. */
struct snap_serial {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, thri_pending;
	uint8_t irq_level, rx_head, rx_len, pad[5];
	uint8_t rx[64];
} __attribute__((packed));

struct snap_virtq {
	uint64_t desc, avail, used;
	uint16_t size, last_avail, used_idx;
	uint8_t ready, pad;
} __attribute__((packed));

/* One virtio-mmio device: where it sits, what was negotiated, its queues, and a few
 * bytes the device model keeps for itself (virtio-console: whether the port is ready). */
struct snap_device {
	uint32_t device_id, irq;
	uint64_t mmio_base;
	uint64_t features, driver_features;
	uint32_t status, isr;
	uint32_t dev_features_sel, drv_features_sel, queue_sel, num_queues;
	struct snap_virtq vq[VIRTIO_MAX_QUEUES];
	uint8_t dev_state[SNAP_DEV_STATE];
} __attribute__((packed));

struct vm_state {
	uint32_t n_vcpus, n_devices;
	uint64_t mem_size;
	struct kvm_irqchip irqchip[SNAP_IRQCHIPS];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct snap_serial serial;
	struct snap_device dev[SNAP_MAX_DEVICES];
	struct snap_vcpu vcpu[VMM_MAX_CPUS];
};

/* snapshot_format.c */
uint32_t snap_crc32(const uint8_t *p, size_t len);
/* Encodes s (n_vcpus and n_devices say how much of it) into a malloc'ed buffer. */
int snap_encode(const struct vm_state *s, uint8_t **out, size_t *out_len, struct cc_error *err);
/* Decodes and checks a whole vm.state image; on failure err names what is wrong. */
int snap_decode(const uint8_t *buf, size_t len, struct vm_state *s, struct cc_error *err);
/* Rewrites the header's checksum after the body changed (tests and fuzzing). */
void snap_fix_crc(uint8_t *buf, size_t len);
const char *snap_record_name(unsigned type);

/* snapshot.c: an IOAPIC line saved in service whose vector no saved LAPIC holds (its
 * interrupt was in flight at the pause) is saved as idle. */
void snap_settle_ioapic(struct vm_state *s);
/* snapshot.c: guest RAM, usable without KVM. Returns the pages written / read. */
int snap_memory_save(const struct guest_mem *m, int dirfd, uint64_t *pages, struct cc_error *err);
int snap_memory_load(struct guest_mem *m, const char *dir, uint64_t *pages, struct cc_error *err);
/* The same from an open memory file (path names it in errors). */
int snap_memory_load_fd(struct guest_mem *m, int fd, const char *path, uint64_t *pages,
			struct cc_error *err);
/* Reads and decodes DIR/vm.state into a malloc'ed state. */
int snapshot_read(const char *dir, struct vm_state **out, struct cc_error *err);
/* The same from an open vm.state (--restore-fd: a jailed VMM cannot open the root-only
 * files of a template; the host opens them and passes the fds). */
int snapshot_read_fd(int fd, const char *path, struct vm_state **out, struct cc_error *err);

struct snap_stats {
	uint64_t state_bytes, memory_pages;
	double ms;
};
/* Saves the paused VM v into dir (an existing directory without snapshot files).
 * Runs in the loop thread; the VM stays paused. */
int snapshot_save(struct vmm *v, const char *dir, struct snap_stats *st, struct cc_error *err);
/* Puts a decoded snapshot into a VM whose devices and vCPUs are created (vmm_run with
 * --restore), instead of loading a kernel. */
int snapshot_restore(struct vmm *v, const struct vm_state *s, const char *dir,
		     struct cc_error *err);

#endif
