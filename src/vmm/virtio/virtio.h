/* virtio device core, independent of the transport: feature and status state, the
 * queues, interrupts and the error state. Devices implement virtio_dev_ops; the
 * virtio-mmio transport (virtio/mmio.c, mmio.h) maps registers onto this. */
#ifndef COCOON_VMM_VIRTIO_H
#define COCOON_VMM_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"
#include "vmm/core/memory.h"
#include "vmm/virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_ISR_VRING 1
#define VIRTIO_ISR_CONFIG 2

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	unsigned num_queues;
	uint32_t config_size;
	/* Reads device config; the transport has checked off+len <= config_size. */
	void (*config_read)(struct virtio_dev *d, uint32_t off, void *data, uint32_t len);
	/* Queue q has new buffers (lock held). <0: the guest broke the protocol. */
	int (*notify)(struct virtio_dev *d, unsigned q);
	/* Optional: DRIVER_OK was set (lock held). */
	int (*activate)(struct virtio_dev *d, struct cc_error *err);
	/* Optional: the driver reset the device (lock held). */
	void (*reset)(struct virtio_dev *d);
	/* Optional, snapshots (lock held): keeps device-private bytes in state; a vhost-user
	 * device also stops its backend's queues, so RAM is quiet while it is copied. */
	void (*save)(struct virtio_dev *d, uint8_t state[16]);
	/* Optional: the transport and queue state were restored from a snapshot (lock held). */
	int (*restore)(struct virtio_dev *d, const uint8_t state[16], struct cc_error *err);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;
	const struct guest_mem *mem;
	pthread_mutex_t lock;
	uint64_t features; /* offered, VIRTIO_F_VERSION_1 included */
	uint64_t driver_features;
	uint32_t status;
	uint32_t isr;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	int irq_fd;			/* irqfd eventfd of the device's line; -1: none */
	int kick_fd[VIRTIO_MAX_QUEUES]; /* ioeventfd per queue; -1: none */
	bool backend_queues;		/* queues served by a vhost-user backend */
	unsigned interrupts;		/* interrupts raised, for tests */
	char error[160];		/* why the device entered NEEDS_RESET */
};

void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, void *priv,
		     uint64_t features);
bool virtio_dev_running(const struct virtio_dev *d);
/* Runs ops->notify for queue q under the lock, unless stopped or broken. */
void virtio_dev_kick(struct virtio_dev *d, unsigned q);
/* Used buffers were added to q: interrupt the driver unless it opted out. */
void virtio_dev_signal_used(struct virtio_dev *d, unsigned q);

/* One notify's pass over a queue, for every device loop: it owns the per-kick limit of
 * at most the queue's size in chains (virtq_pop() says why), and interrupts the driver
 * at the end if any chain was used.
 *	struct virtio_pass p = virtio_pass_begin(d, q);
 *	while (virtio_pass_next(&p, &c)) { ...; virtio_pass_push(&p, c.head, written); }
 *	return virtio_pass_end(&p);
 */
struct virtio_pass {
	struct virtio_dev *d;
	unsigned q, popped;
	bool used;
	int rc; /* the last virtq_pop(): 0 drained, 1 stopped at the limit, -1 malformed */
};
struct virtio_pass virtio_pass_begin(struct virtio_dev *d, unsigned q);
/* Pops the next chain into c; false when the queue is drained or broken, or the limit
 * is reached. */
bool virtio_pass_next(struct virtio_pass *p, struct vq_chain *c);
/* Returns a chain to the driver with the number of bytes written into it. */
void virtio_pass_push(struct virtio_pass *p, uint16_t head, uint32_t written);
/* Interrupts the driver if chains were used; returns what notify returns (<0: a
 * malformed chain). */
int virtio_pass_end(struct virtio_pass *p);
void virtio_dev_interrupt(struct virtio_dev *d, uint32_t isr_bits);
/* The guest broke the protocol: NEEDS_RESET, config interrupt, queues stop. */
void virtio_dev_fail(struct virtio_dev *d, const char *why);
/* Status register write from the driver (lock held). */
void virtio_dev_set_status(struct virtio_dev *d, uint32_t status);
/* QueueReady write (lock held). */
void virtio_dev_queue_ready(struct virtio_dev *d, unsigned q, bool ready);

#endif
