/* Snapshots with KVM: capturing a paused VM (vCPUs, irqchip, PIT, clock, serial, every
 * virtio device) into a directory, and putting a decoded snapshot into a freshly created
 * VM instead of booting a kernel. The format and its checks are in snapshot_format.c.
 * Guest RAM is copied extent by extent (SEEK_DATA/SEEK_HOLE) so pages the guest never
 * touched are neither read (a read would allocate them in the memfd) nor written, and a
 * restored VM's memfd holds only what the snapshot had: it stays a memfd a vhost-user
 * backend can map (docs/vmm.md says why not a private mapping of the file). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "vmm/virtio/mmio.h"
#include "vmm/x86/serial.h"
#include "vmm/core/snapshot.h"
#include "vmm/core/vcpu.h"

#define PAGE 4096ull

/* ---- guest RAM ---- */

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i] != 0)
			return false;
	return true;
}

/* Extent [*data, *hole) of fd at or after off; false past the last one. Memory without
 * a file (tests) is one extent. */
static bool next_extent(int fd, uint64_t off, uint64_t size, uint64_t *data, uint64_t *hole)
{
	if (fd >= 0)
		return cc_next_extent(fd, off, size, data, hole);
	*data = off;
	*hole = size;
	return off < size;
}

int snap_memory_save(const struct guest_mem *m, int dirfd, uint64_t *pages, struct cc_error *err)
{
	cleanup_close int fd = openat(dirfd, SNAP_MEMORY_FILE, SNAP_OPEN_CREATE, 0600);
	if (fd < 0)
		return cc_error_set(err, errno, "creating %s", SNAP_MEMORY_FILE);
	if (ftruncate(fd, (off_t)m->size) < 0)
		return cc_error_set(err, errno, "sizing %s", SNAP_MEMORY_FILE);
	*pages = 0;
	uint64_t off = 0, data, hole;
	while (next_extent(m->fd, off, m->size, &data, &hole)) {
		/* Runs of non-zero pages, one write each; zero pages stay holes. */
		for (uint64_t p = data; p < hole;) {
			if (page_is_zero(m->host + p)) {
				p += PAGE;
				continue;
			}
			uint64_t end = p + PAGE;
			while (end < hole && !page_is_zero(m->host + end))
				end += PAGE;
			for (uint64_t done = p; done < end;) {
				ssize_t n = pwrite(fd, m->host + done, end - done, (off_t)done);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					return cc_error_set(err, n < 0 ? errno : EIO, "writing %s",
							    SNAP_MEMORY_FILE);
				done += (uint64_t)n;
			}
			*pages += (end - p) / PAGE;
			p = end;
		}
		off = hole;
	}
	if (fsync(fd) < 0)
		return cc_error_set(err, errno, "fsync %s", SNAP_MEMORY_FILE);
	return 0;
}

int snap_memory_load_fd(struct guest_mem *m, int fd, const char *path, uint64_t *pages,
			struct cc_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cc_error_set(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != m->size)
		return cc_error_set(err, 0, "%s: %lld bytes, the snapshot's RAM is %llu", path,
				    (long long)st.st_size, (unsigned long long)m->size);
	/* Into the memfd by the kernel (sendfile), not through our mapping: no page of it is
	 * zeroed first or mapped here; the guest's first touch maps it. */
	if (m->fd >= 0)
		return cc_copy_extents(m->fd, fd, m->size, pages, err) < 0
			       ? cc_error_prefix(err, "reading %s", path)
			       : 0;
	/* Memory without a file (tests) is read into the mapping. */
	*pages = 0;
	uint64_t off = 0, data, hole;
	while (next_extent(fd, off, m->size, &data, &hole)) {
		for (uint64_t done = data; done < hole;) {
			ssize_t n = pread(fd, m->host + done, hole - done, (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return cc_error_set(err, n < 0 ? errno : EIO, "reading %s", path);
			done += (uint64_t)n;
		}
		*pages += (hole - data) / PAGE;
		off = hole;
	}
	return 0;
}

int snap_memory_load(struct guest_mem *m, const char *dir, uint64_t *pages, struct cc_error *err)
{
	cleanup_free char *path = cc_strdup_printf("%s/%s", dir, SNAP_MEMORY_FILE);
	if (path == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cc_error_set(err, errno, "opening %s", path);
	return snap_memory_load_fd(m, fd, path, pages, err);
}

static int decode_state(const char *buf, size_t len, const char *path, struct vm_state **out,
			struct cc_error *err)
{
	struct vm_state *s = malloc(sizeof(*s));
	if (s == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	if (snap_decode((const uint8_t *)buf, len, s, err) < 0) {
		free(s);
		return cc_error_prefix(err, "snapshot %s", path);
	}
	*out = s;
	return 0;
}

int snapshot_read(const char *dir, struct vm_state **out, struct cc_error *err)
{
	cleanup_free char *path = cc_strdup_printf("%s/%s", dir, SNAP_STATE_FILE);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (path == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	if (cc_read_file(path, SNAP_STATE_MAX, &buf, &len, err) < 0)
		return -1;
	return decode_state(buf, len, path, out, err);
}

int snapshot_read_fd(int fd, const char *path, struct vm_state **out, struct cc_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cc_error_set(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SNAP_STATE_MAX)
		return cc_error_set(err, 0, "%s: not a regular file of at most %u bytes", path,
				    SNAP_STATE_MAX);
	size_t len = (size_t)st.st_size;
	cleanup_free char *buf = malloc(len + 1);
	if (buf == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cc_error_set(err, n < 0 ? errno : EIO, "reading %s", path);
		done += (size_t)n;
	}
	return decode_state(buf, len, path, out, err);
}

/* ---- KVM state ---- */

static int msr_indices(struct vmm *v, uint32_t *idx, uint32_t *n, struct cc_error *err)
{
	cleanup_free struct kvm_msr_list *l =
		calloc(1, sizeof(*l) + SNAP_MAX_MSRS * sizeof(l->indices[0]));
	if (l == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	l->nmsrs = SNAP_MAX_MSRS;
	if (ioctl(v->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0)
		return cc_error_set(err, errno, "KVM_GET_MSR_INDEX_LIST (more than %d MSRs?)",
				    SNAP_MAX_MSRS);
	memcpy(idx, l->indices, l->nmsrs * sizeof(idx[0]));
	*n = l->nmsrs;
	return 0;
}

/* Every MSR KVM lists that this vCPU can read; one KVM cannot read on this host is left
 * out (KVM_GET_MSRS stops at the first failure and says how many it read). */
static int get_msrs(struct vcpu *c, const uint32_t *idx, uint32_t n, struct snap_vcpu *out,
		    struct cc_error *err)
{
	cleanup_free struct kvm_msrs *m =
		calloc(1, sizeof(*m) + SNAP_MAX_MSRS * sizeof(struct kvm_msr_entry));
	if (m == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	out->n_msrs = 0;
	for (uint32_t next = 0; next < n;) {
		m->nmsrs = n - next;
		for (uint32_t i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = idx[next + i] };
		int got = ioctl(c->fd, KVM_GET_MSRS, m);
		if (got < 0)
			return cc_error_set(err, errno, "KVM_GET_MSRS");
		memcpy(out->msrs + out->n_msrs, m->entries, (size_t)got * sizeof(m->entries[0]));
		out->n_msrs += (uint32_t)got;
		next += (uint32_t)got;
		if (next < n) {
			cc_debug("snapshot: MSR 0x%x not readable, left out", idx[next]);
			next++;
		}
	}
	return 0;
}

#define GET(fd, req, arg)                                                            \
	do {                                                                         \
		if (ioctl(fd, req, arg) < 0)                                         \
			return cc_error_set(err, errno, "vCPU %u: %s", c->id, #req); \
	} while (0)

static int get_vcpu(struct vcpu *c, const uint32_t *idx, uint32_t n, struct snap_vcpu *s,
		    struct cc_error *err)
{
	GET(c->fd, KVM_GET_REGS, &s->regs);
	GET(c->fd, KVM_GET_SREGS, &s->sregs);
	GET(c->fd, KVM_GET_FPU, &s->fpu);
	GET(c->fd, KVM_GET_XSAVE, s->xsave);
	GET(c->fd, KVM_GET_XCRS, &s->xcrs);
	GET(c->fd, KVM_GET_LAPIC, &s->lapic);
	GET(c->fd, KVM_GET_VCPU_EVENTS, &s->events);
	GET(c->fd, KVM_GET_MP_STATE, &s->mp_state);
	GET(c->fd, KVM_GET_DEBUGREGS, &s->debugregs);
	return get_msrs(c, idx, n, s, err);
}

/* The order follows what KVM needs: MP state and registers first, then the extended
 * state, the LAPIC (after SREGS set its base), MSRs, and pending events last. */
static int set_vcpu(struct vcpu *c, const struct snap_vcpu *s, struct cc_error *err)
{
	struct kvm_mp_state mp = s->mp_state;
	struct kvm_regs regs = s->regs;
	struct kvm_sregs sregs = s->sregs;
	struct kvm_fpu fpu = s->fpu;
	struct kvm_xcrs xcrs = s->xcrs;
	struct kvm_lapic_state lapic = s->lapic;
	struct kvm_debugregs dregs = s->debugregs;
	struct kvm_vcpu_events ev = s->events;
	GET(c->fd, KVM_SET_MP_STATE, &mp);
	GET(c->fd, KVM_SET_REGS, &regs);
	GET(c->fd, KVM_SET_SREGS, &sregs);
	GET(c->fd, KVM_SET_FPU, &fpu);
	GET(c->fd, KVM_SET_XSAVE, s->xsave);
	GET(c->fd, KVM_SET_XCRS, &xcrs);
	GET(c->fd, KVM_SET_DEBUGREGS, &dregs);
	GET(c->fd, KVM_SET_LAPIC, &lapic);
	cleanup_free struct kvm_msrs *m =
		calloc(1, sizeof(*m) + SNAP_MAX_MSRS * sizeof(struct kvm_msr_entry));
	if (m == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	m->nmsrs = s->n_msrs;
	memcpy(m->entries, s->msrs, s->n_msrs * sizeof(s->msrs[0]));
	int set = ioctl(c->fd, KVM_SET_MSRS, m);
	if (set < 0)
		return cc_error_set(err, errno, "vCPU %u: KVM_SET_MSRS", c->id);
	if ((uint32_t)set < s->n_msrs)
		return cc_error_set(err, 0, "vCPU %u: KVM refused MSR 0x%x = 0x%llx", c->id,
				    s->msrs[set].index, (unsigned long long)s->msrs[set].data);
	GET(c->fd, KVM_SET_VCPU_EVENTS, &ev);
	return 0;
}
#undef GET

static int vm_ioctl(struct vmm *v, unsigned long req, void *arg, const char *name,
		    struct cc_error *err)
{
	if (ioctl(v->vm_fd, req, arg) < 0)
		return cc_error_set(err, errno, "%s", name);
	return 0;
}

static int get_vm(struct vmm *v, struct vm_state *s, struct cc_error *err)
{
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++) {
		s->irqchip[i].chip_id = i;
		if (vm_ioctl(v, KVM_GET_IRQCHIP, &s->irqchip[i], "KVM_GET_IRQCHIP", err) < 0)
			return -1;
	}
	if (vm_ioctl(v, KVM_GET_PIT2, &s->pit, "KVM_GET_PIT2", err) < 0 ||
	    vm_ioctl(v, KVM_GET_CLOCK, &s->clock, "KVM_GET_CLOCK", err) < 0)
		return -1;
	return 0;
}

static int set_vm(struct vmm *v, const struct vm_state *s, struct cc_error *err)
{
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++) {
		struct kvm_irqchip chip = s->irqchip[i];
		if (vm_ioctl(v, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP", err) < 0)
			return -1;
	}
	struct kvm_pit_state2 pit = s->pit;
	/* The guest's kvmclock goes on from the saved value: its monotonic time does not
	 * jump. Its wall clock is the agent's to set (docs/vmm.md). */
	struct kvm_clock_data clock = { .clock = s->clock.clock };
	if (vm_ioctl(v, KVM_SET_PIT2, &pit, "KVM_SET_PIT2", err) < 0 ||
	    vm_ioctl(v, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK", err) < 0)
		return -1;
	return 0;
}

/* The virtio-mmio windows, in the order devices_setup() created them. */
static unsigned virtio_windows(struct vmm *v, void *opaque[SNAP_MAX_DEVICES + 1])
{
	unsigned n = 0;
	for (unsigned i = 0; i < v->mmio.n && n <= SNAP_MAX_DEVICES; i++)
		if (v->mmio.r[i].ops == &virtio_mmio_ops)
			opaque[n++] = v->mmio.r[i].opaque;
	return n;
}

/* Whether vector is pending or in service in any saved LAPIC (IRR at 0x200, ISR at 0x100:
 * eight 32-bit words 16 bytes apart). */
static bool lapic_holds(const struct vm_state *s, unsigned vector)
{
	for (unsigned i = 0; i < s->n_vcpus; i++) {
		const char *r = s->vcpu[i].lapic.regs;
		size_t word = (vector / 32) * 16, bit = vector % 32;
		uint32_t isr, irr;
		memcpy(&isr, r + 0x100 + word, 4);
		memcpy(&irr, r + 0x200 + word, 4);
		if (((isr | irr) >> bit) & 1)
			return true;
	}
	return false;
}

/* A device's interrupt goes through its irqfd, which KVM injects from a work item: one
 * raised just before the pause can reach the IOAPIC after the LAPICs were read. Its
 * level-triggered line is then saved as in service (remote IRR) with no LAPIC holding
 * the vector: restored, it would wait forever for an EOI that never comes, and the
 * device would never interrupt again. Such a line is saved as idle; the device's ISR is
 * kept, and the restore raises its interrupt again (virtio_mmio_restore). */
void snap_settle_ioapic(struct vm_state *s)
{
	struct kvm_ioapic_state *io = &s->irqchip[KVM_IRQCHIP_IOAPIC].chip.ioapic;
	for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
		if (!io->redirtbl[pin].fields.remote_irr ||
		    lapic_holds(s, io->redirtbl[pin].fields.vector))
			continue;
		cc_debug("snapshot: IOAPIC pin %u (vector %u) was in flight: saved as idle", pin,
			 io->redirtbl[pin].fields.vector);
		io->redirtbl[pin].fields.remote_irr = 0;
	}
}

static int capture(struct vmm *v, struct vm_state *s, struct cc_error *err)
{
	void *win[SNAP_MAX_DEVICES + 1];
	s->n_vcpus = v->n_vcpus;
	s->mem_size = v->mem.size;
	s->n_devices = virtio_windows(v, win);
	if (s->n_devices > SNAP_MAX_DEVICES)
		return cc_error_set(err, 0, "more than %d virtio devices", SNAP_MAX_DEVICES);
	for (unsigned i = 0; i < s->n_devices; i++)
		virtio_mmio_save(win[i], &s->dev[i]);
	serial_save(v, &s->serial);
	uint32_t idx[SNAP_MAX_MSRS], n = 0;
	if (msr_indices(v, idx, &n, err) < 0)
		return -1;
	for (unsigned i = 0; i < v->n_vcpus; i++)
		if (get_vcpu(&v->vcpus[i], idx, n, &s->vcpu[i], err) < 0)
			return -1;
	if (get_vm(v, s, err) < 0)
		return -1;
	snap_settle_ioapic(s);
	return 0;
}

static int write_state(int dirfd, const struct vm_state *s, uint64_t *bytes, struct cc_error *err)
{
	cleanup_free uint8_t *buf = NULL;
	size_t len;
	if (snap_encode(s, &buf, &len, err) < 0)
		return -1;
	cleanup_close int fd = openat(dirfd, SNAP_STATE_FILE, SNAP_OPEN_CREATE, 0600);
	if (fd < 0)
		return cc_error_set(err, errno, "creating %s", SNAP_STATE_FILE);
	if (cc_write_all(fd, buf, len, err) < 0)
		return -1;
	if (fsync(fd) < 0)
		return cc_error_set(err, errno, "fsync %s", SNAP_STATE_FILE);
	*bytes = len;
	return 0;
}

static void remove_files(const char *dir)
{
	static const char *const names[] = { SNAP_MEMORY_FILE, SNAP_STATE_FILE };
	for (size_t i = 0; i < CC_ARRAY_SIZE(names); i++) {
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path))
			unlink(path);
	}
}

int snapshot_save(struct vmm *v, const char *dir, struct snap_stats *st, struct cc_error *err)
{
	uint64_t t0 = cc_now_ns();
	pthread_mutex_lock(&v->lock);
	bool quiet = v->paused && v->parked == v->n_vcpus && !v->exiting;
	pthread_mutex_unlock(&v->lock);
	if (!quiet)
		return cc_error_set(err, 0, "the VM is not paused");
	cleanup_close int dirfd = open(dir, SNAP_OPEN_DIR);
	if (dirfd < 0)
		return cc_error_set(err, errno, "opening directory %s", dir);
	/* Files are created exclusively: an existing snapshot is never overwritten, and one
	 * that fails half-way is removed, never left looking complete. */
	static const char *const names[] = { SNAP_MEMORY_FILE, SNAP_STATE_FILE };
	for (size_t i = 0; i < CC_ARRAY_SIZE(names); i++) {
		struct stat sb;
		int e = fstatat(dirfd, names[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 ? EEXIST : errno;
		if (e != ENOENT)
			return cc_error_set(err, e, "%s/%s", dir, names[i]);
	}
	struct vm_state *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cc_error_set(err, ENOMEM, "snapshot");
	bool created = false;
	int rc = capture(v, s, err);
	if (rc == 0) {
		created = true;
		rc = snap_memory_save(&v->mem, dirfd, &st->memory_pages, err);
	}
	if (rc == 0)
		rc = write_state(dirfd, s, &st->state_bytes, err);
	free(s);
	if (rc < 0 && created)
		remove_files(dir);
	/* Hand vhost-user queues back to their backend, whatever happened. */
	void *win[SNAP_MAX_DEVICES + 1];
	unsigned n = virtio_windows(v, win);
	for (unsigned i = 0; i < n && i < SNAP_MAX_DEVICES; i++) {
		struct cc_error e2;
		if (virtio_mmio_saved(win[i], &e2) < 0) {
			cc_warn("snapshot: restarting device %u: %s", i, e2.msg);
			if (rc == 0)
				rc = cc_error_set(err, 0, "restarting device %u: %s", i, e2.msg);
		}
	}
	st->ms = (double)(cc_now_ns() - t0) / 1e6;
	return rc;
}

int snapshot_restore(struct vmm *v, const struct vm_state *s, const char *dir, struct cc_error *err)
{
	void *win[SNAP_MAX_DEVICES + 1];
	unsigned n = virtio_windows(v, win);
	if (s->n_vcpus != v->n_vcpus || s->mem_size != v->mem.size)
		return cc_error_set(err, 0,
				    "the snapshot has %u vCPUs and %llu MiB, this VM %u and %llu",
				    s->n_vcpus, (unsigned long long)(s->mem_size >> 20), v->n_vcpus,
				    (unsigned long long)(v->mem.size >> 20));
	if (n != s->n_devices)
		return cc_error_set(err, 0,
				    "the snapshot has %u virtio devices, the command line gives %u",
				    s->n_devices, n);
	uint64_t pages = 0, t0 = cc_now_ns();
	/* A mapped spare already holds the snapshot's RAM: nothing to copy. */
	if (!v->cfg->restore_map &&
	    (v->cfg->restore_fds
		     ? snap_memory_load_fd(&v->mem, v->cfg->restore_memory_fd, dir, &pages, err)
		     : snap_memory_load(&v->mem, dir, &pages, err)) < 0)
		return -1;
	uint64_t t1 = cc_now_ns();
	if (set_vm(v, s, err) < 0)
		return -1;
	for (unsigned i = 0; i < v->n_vcpus; i++)
		if (set_vcpu(&v->vcpus[i], &s->vcpu[i], err) < 0)
			return -1;
	serial_restore(v, &s->serial);
	for (unsigned i = 0; i < n; i++)
		if (virtio_mmio_restore(win[i], i, &s->dev[i], err) < 0)
			return -1;
	cc_debug("restored %s: %s%llu pages of RAM in %.1f ms, the rest in %.1f ms", dir,
		 v->cfg->restore_map ? "spare mapped, " : "", (unsigned long long)pages,
		 (double)(t1 - t0) / 1e6, (double)(cc_now_ns() - t1) / 1e6);
	return 0;
}
