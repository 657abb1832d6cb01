/* vhost-user frontend (the VMM side of the protocol): hands guest memory and whole
 * virtqueues to a backend process such as virtiofsd. The backend reads the rings from
 * the shared memfd, is kicked by the queue's ioeventfd and interrupts the guest through
 * the queue's irqfd, so the VMM is not on the data path at all. */
#ifndef COCOON_VMM_VHOST_USER_H
#define COCOON_VMM_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"
#include "vmm/core/memory.h"

struct virtio_dev;

struct vhost_user {
	int fd;
	uint64_t features;	/* offered by the backend */
	bool protocol_features; /* VHOST_USER_F_PROTOCOL_FEATURES negotiated */
	unsigned started;	/* bitmap of queues handed to the backend */
};

/* Connects, takes ownership, reads the features and sends the memory table. */
int vhost_user_connect(struct vhost_user *u, const char *path, const struct guest_mem *m,
		       struct cc_error *err);
/* DRIVER_OK: features and every ready queue go to the backend, each starting at its
 * last_avail (0 after a reset; where the backend stopped, after a snapshot). */
int vhost_user_start(struct vhost_user *u, struct virtio_dev *d, struct cc_error *err);
/* Device reset or snapshot: the backend stops every queue it was given; each queue's
 * last_avail becomes the backend's position in its avail ring. */
void vhost_user_stop(struct vhost_user *u, struct virtio_dev *d);

#endif
