/* virtio-mmio transport (version 2, "modern"): one 4 KiB register window per device,
 * one interrupt line per device driven through an irqfd, and one ioeventfd per queue on
 * QueueNotify so kicks reach the event loop without a trip through the vCPU thread.
 * Linux finds the devices on its command line (virtio_mmio.device=4K@ADDR:IRQ), which
 * needs neither ACPI nor a PCI bus. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/core/snapshot.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtio.h"
#include "vmm/core/vmm.h"

#define MMIO_WINDOW 0x1000
#define MMIO_MAGIC 0x74726976  /* "virt" */
#define MMIO_VENDOR 0x4e434f43 /* "COCN" */

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_CONFIG_GENERATION = 0x0fc,
	REG_CONFIG = 0x100,
};

struct virtio_mmio {
	struct virtio_dev *dev;
	uint32_t dev_features_sel, drv_features_sel, queue_sel;
	uint64_t base; /* where virtio_mmio_attach put it (for snapshots) */
	unsigned irq;
};

struct mmio_kick {
	struct virtio_dev *dev;
	unsigned q;
};

static struct virtq *selected(struct virtio_mmio *t)
{
	return t->queue_sel < t->dev->ops->num_queues ? &t->dev->vq[t->queue_sel] : NULL;
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	*v = high ? (*v & 0xffffffffull) | ((uint64_t)val << 32) : (*v & ~0xffffffffull) | val;
}

static void mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		uint64_t coff = off - REG_CONFIG;
		if (coff + len <= d->ops->config_size && d->ops->config_read != NULL)
			d->ops->config_read(d, (uint32_t)coff, data, len);
		else
			memset(data, 0, len);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	struct virtq *q = selected(t);
	switch (len == 4 ? off : ~0ull) {
	case REG_MAGIC: v = MMIO_MAGIC; break;
	case REG_VERSION: v = 2; break;
	case REG_DEVICE_ID: v = d->ops->device_id; break;
	case REG_VENDOR_ID: v = MMIO_VENDOR; break;
	case REG_DEVICE_FEATURES:
		v = t->dev_features_sel == 0   ? (uint32_t)d->features
		    : t->dev_features_sel == 1 ? (uint32_t)(d->features >> 32)
					       : 0;
		break;
	case REG_QUEUE_NUM_MAX: v = q != NULL ? VQ_MAX_SIZE : 0; break;
	case REG_QUEUE_READY: v = q != NULL && q->ready; break;
	case REG_INTERRUPT_STATUS:
		/* A vhost-user backend interrupts through the irqfd behind our back. */
		v = d->isr | (d->backend_queues ? VIRTIO_ISR_VRING : 0);
		break;
	case REG_STATUS: v = d->status; break;
	case REG_CONFIG_GENERATION: v = 0; break;
	}
	pthread_mutex_unlock(&d->lock);
	memcpy(data, &v, len < 4 ? len : 4);
}

static void mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	uint32_t v;

	if (len != 4 || off >= REG_CONFIG) /* config space is read-only for our devices */
		return;
	memcpy(&v, data, 4);
	if (off == REG_QUEUE_NOTIFY) {
		/* Reached only when no ioeventfd caught the write. */
		virtio_dev_kick(d, v);
		return;
	}
	pthread_mutex_lock(&d->lock);
	struct virtq *q = selected(t);
	/* Queue layout may change only while the queue is not live. */
	bool q_writable = q != NULL && !q->ready;
	switch (off) {
	case REG_DEVICE_FEATURES_SEL: t->dev_features_sel = v; break;
	case REG_DRIVER_FEATURES:
		if (t->drv_features_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&d->driver_features, t->drv_features_sel == 1, v);
		break;
	case REG_DRIVER_FEATURES_SEL: t->drv_features_sel = v; break;
	case REG_QUEUE_SEL: t->queue_sel = v; break;
	case REG_QUEUE_NUM:
		if (q_writable)
			q->size = v > VQ_MAX_SIZE ? 0 : (uint16_t)v;
		break;
	case REG_QUEUE_READY:
		if (q != NULL)
			virtio_dev_queue_ready(d, t->queue_sel, v == 1);
		break;
	case REG_INTERRUPT_ACK: d->isr &= ~v; break;
	case REG_STATUS: virtio_dev_set_status(d, v); break;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		if (q_writable)
			set_half(&q->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
		break;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		if (q_writable)
			set_half(&q->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
		break;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		if (q_writable)
			set_half(&q->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
		break;
	}
	pthread_mutex_unlock(&d->lock);
}

const struct bus_dev_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };

void *virtio_mmio_new(struct virtio_dev *d)
{
	struct virtio_mmio *t = calloc(1, sizeof(*t));
	if (t != NULL)
		t->dev = d;
	return t;
}

static void on_kick(void *opaque, uint32_t events)
{
	struct mmio_kick *k = opaque;
	uint64_t n;
	(void)events;
	if (read(k->dev->kick_fd[k->q], &n, sizeof(n)) == sizeof(n))
		virtio_dev_kick(k->dev, k->q);
}

int virtio_mmio_attach(struct vmm *v, struct virtio_dev *d, struct cc_error *err)
{
	unsigned irq;
	if (v->next_mmio + MMIO_WINDOW > LAYOUT_MMIO_BASE + 0x1000000)
		return cc_error_set(err, 0, "too many virtio devices");
	if (vmm_alloc_irq(v, &irq, err) < 0)
		return -1;
	uint64_t base = v->next_mmio;
	v->next_mmio += MMIO_WINDOW;
	d->mem = &v->mem;

	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->irq_fd < 0)
		return cc_error_set(err, errno, "eventfd");
	struct kvm_irqfd irqfd = { .fd = (uint32_t)d->irq_fd, .gsi = irq };
	if (ioctl(v->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return cc_error_set(err, errno, "KVM_IRQFD for %s", d->ops->name);

	for (unsigned q = 0; q < d->ops->num_queues; q++) {
		d->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->kick_fd[q] < 0)
			return cc_error_set(err, errno, "eventfd");
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = base + REG_QUEUE_NOTIFY,
			.len = 4,
			.fd = d->kick_fd[q],
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (ioctl(v->vm_fd, KVM_IOEVENTFD, &io) < 0)
			return cc_error_set(err, errno, "KVM_IOEVENTFD for %s", d->ops->name);
		if (d->backend_queues)
			continue;
		struct mmio_kick *k = calloc(1, sizeof(*k));
		if (k == NULL)
			return cc_error_set(err, ENOMEM, "virtio-mmio");
		*k = (struct mmio_kick){ d, q };
		if (loop_add(&v->loop, d->kick_fd[q], EPOLLIN, on_kick, k, err) == NULL)
			return -1;
	}
	struct virtio_mmio *t = virtio_mmio_new(d);
	if (t == NULL)
		return cc_error_set(err, ENOMEM, "virtio-mmio");
	t->base = base;
	t->irq = irq;
	if (bus_add(&v->mmio, d->ops->name, base, MMIO_WINDOW, &virtio_mmio_ops, t, err) < 0) {
		free(t);
		return -1;
	}
	char arg[64];
	snprintf(arg, sizeof(arg), "virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)base,
		 irq);
	return vmm_cmdline_append(v, arg, err);
}

/* Both directions of a snapshot: the transport's and the queues' state (lock held). The
 * machine's shape (type, window, line, queues, offered features) is saved, and on a
 * restore checked, by the callers. */
static void mmio_snap(struct virtio_mmio *t, struct snap_device *s, enum snap_dir dir)
{
	struct virtio_dev *d = t->dev;
	SNAP_COPY(dir, t->dev_features_sel, s->dev_features_sel);
	SNAP_COPY(dir, t->drv_features_sel, s->drv_features_sel);
	SNAP_COPY(dir, t->queue_sel, s->queue_sel);
	SNAP_COPY(dir, d->driver_features, s->driver_features);
	SNAP_COPY(dir, d->status, s->status);
	SNAP_COPY(dir, d->isr, s->isr);
	for (unsigned q = 0; q < d->ops->num_queues && q < VIRTIO_MAX_QUEUES; q++) {
		struct virtq *v = &d->vq[q];
		struct snap_virtq *sv = &s->vq[q];
		SNAP_COPY(dir, v->desc_gpa, sv->desc);
		SNAP_COPY(dir, v->avail_gpa, sv->avail);
		SNAP_COPY(dir, v->used_gpa, sv->used);
		SNAP_COPY(dir, v->size, sv->size);
		SNAP_COPY(dir, v->last_avail, sv->last_avail);
		SNAP_COPY(dir, v->used_idx, sv->used_idx);
		SNAP_COPY(dir, v->ready, sv->ready);
	}
}

void virtio_mmio_save(void *opaque, struct snap_device *s)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&d->lock);
	if (d->ops->save != NULL)
		d->ops->save(d, s->dev_state);
	s->device_id = d->ops->device_id;
	s->irq = t->irq;
	s->mmio_base = t->base;
	s->features = d->features;
	s->num_queues = d->ops->num_queues;
	mmio_snap(t, s, SNAP_SAVE);
	pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_restore(void *opaque, unsigned index, const struct snap_device *s,
			struct cc_error *err)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	/* The command line must build the same machine: same device kinds in the same order
	 * (hence the same windows and lines) with the same offered features. */
	if (s->device_id != d->ops->device_id || s->mmio_base != t->base || s->irq != t->irq)
		return cc_error_set(err, 0,
				    "device %u: the snapshot has virtio device type %u at 0x%llx "
				    "(irq %u), this VM has %s (type %u) at 0x%llx (irq %u)",
				    index, s->device_id, (unsigned long long)s->mmio_base, s->irq,
				    d->ops->name, d->ops->device_id, (unsigned long long)t->base,
				    t->irq);
	if (s->num_queues != d->ops->num_queues || s->features != d->features)
		return cc_error_set(
			err, 0,
			"device %u (%s): the snapshot has %u queues and features 0x%llx, "
			"this VM offers %u and 0x%llx",
			index, d->ops->name, s->num_queues, (unsigned long long)s->features,
			d->ops->num_queues, (unsigned long long)d->features);
	struct snap_device in = *s;
	pthread_mutex_lock(&d->lock);
	mmio_snap(t, &in, SNAP_LOAD);
	int rc = d->ops->restore != NULL ? d->ops->restore(d, s->dev_state, err) : 0;
	/* An interrupt the guest had not taken when the VM was saved (snapshot.c,
	 * snap_settle_ioapic): raised again; a spurious one only makes the guest read ISR. */
	if (rc == 0 && d->isr != 0 && virtio_dev_running(d))
		virtio_dev_interrupt(d, 0);
	pthread_mutex_unlock(&d->lock);
	return rc < 0 ? cc_error_prefix(err, "device %u (%s)", index, d->ops->name) : 0;
}

int virtio_mmio_saved(void *opaque, struct cc_error *err)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	int rc = 0;
	pthread_mutex_lock(&d->lock);
	if (d->backend_queues && virtio_dev_running(d) && d->ops->activate != NULL)
		rc = d->ops->activate(d, err);
	pthread_mutex_unlock(&d->lock);
	return rc;
}
