#include "vmm/virtio/virtio.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"

void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, void *priv,
		     uint64_t features)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->priv = priv;
	d->features = features | VIRTIO_F_VERSION_1;
	d->irq_fd = -1;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->kick_fd[i] = -1;
	pthread_mutex_init(&d->lock, NULL);
}

bool virtio_dev_running(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(d->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

void virtio_dev_interrupt(struct virtio_dev *d, uint32_t isr_bits)
{
	d->isr |= isr_bits;
	d->interrupts++;
	if (d->irq_fd >= 0) {
		uint64_t one = 1;
		if (write(d->irq_fd, &one, sizeof(one)) < 0)
			cc_warn("%s: interrupt lost", d->ops->name);
	}
}

void virtio_dev_signal_used(struct virtio_dev *d, unsigned q)
{
	if (q < VIRTIO_MAX_QUEUES && virtq_should_notify(&d->vq[q], d->mem))
		virtio_dev_interrupt(d, VIRTIO_ISR_VRING);
}

struct virtio_pass virtio_pass_begin(struct virtio_dev *d, unsigned q)
{
	return (struct virtio_pass){ .d = d, .q = q };
}

bool virtio_pass_next(struct virtio_pass *p, struct vq_chain *c)
{
	struct virtq *q = &p->d->vq[p->q];
	if (p->popped >= q->size)
		return false;
	p->rc = virtq_pop(q, p->d->mem, c);
	if (p->rc <= 0)
		return false;
	p->popped++;
	return true;
}

void virtio_pass_push(struct virtio_pass *p, uint16_t head, uint32_t written)
{
	virtq_push(&p->d->vq[p->q], p->d->mem, head, written);
	p->used = true;
}

int virtio_pass_end(struct virtio_pass *p)
{
	if (p->used)
		virtio_dev_signal_used(p->d, p->q);
	return p->rc;
}

void virtio_dev_fail(struct virtio_dev *d, const char *why)
{
	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	snprintf(d->error, sizeof(d->error), "%s", why);
	cc_warn("%s: guest error, device needs reset: %s", d->ops->name, why);
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev_interrupt(d, VIRTIO_ISR_CONFIG);
}

void virtio_dev_kick(struct virtio_dev *d, unsigned q)
{
	pthread_mutex_lock(&d->lock);
	if (q < d->ops->num_queues && virtio_dev_running(d) && d->vq[q].ready &&
	    d->ops->notify(d, q) < 0)
		virtio_dev_fail(d, "malformed descriptor chain or request");
	pthread_mutex_unlock(&d->lock);
}

static void reset(struct virtio_dev *d)
{
	if (d->ops->reset != NULL)
		d->ops->reset(d);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&d->vq[i]);
	d->driver_features = 0;
	d->status = 0;
	d->isr = 0;
	d->error[0] = '\0';
}

void virtio_dev_set_status(struct virtio_dev *d, uint32_t status)
{
	if (status == 0) {
		reset(d);
		return;
	}
	uint32_t added = status & ~d->status;
	/* The device owns NEEDS_RESET: the driver can neither set nor clear it. */
	status = (status & ~VIRTIO_STATUS_NEEDS_RESET) | (d->status & VIRTIO_STATUS_NEEDS_RESET);
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		if ((d->driver_features & ~d->features) ||
		    !(d->driver_features & VIRTIO_F_VERSION_1))
			status &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK))
		status &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
	d->status = status;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && (status & VIRTIO_STATUS_DRIVER_OK) &&
	    d->ops->activate != NULL) {
		struct cc_error err = { 0 };
		if (d->ops->activate(d, &err) < 0)
			virtio_dev_fail(d, err.msg);
	}
}

void virtio_dev_queue_ready(struct virtio_dev *d, unsigned q, bool ready)
{
	if (q >= d->ops->num_queues)
		return;
	if (!ready) {
		d->vq[q].ready = false;
		return;
	}
	if (virtq_validate(&d->vq[q], d->mem) < 0) {
		virtio_dev_fail(d, "queue size or ring address invalid");
		return;
	}
	d->vq[q].ready = true;
}
