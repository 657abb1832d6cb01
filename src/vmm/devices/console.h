/* virtio-console control messages, exposed for unit tests and fuzzing. */
#ifndef COCOON_VMM_VIRTIO_CONSOLE_H
#define COCOON_VMM_VIRTIO_CONSOLE_H

#include <stdint.h>

#include "shared/error.h"
#include "vmm/virtio/virtqueue.h"

enum console_event {
	CONSOLE_DEVICE_READY = 0,
	CONSOLE_DEVICE_ADD = 1,
	CONSOLE_DEVICE_REMOVE = 2,
	CONSOLE_PORT_READY = 3,
	CONSOLE_CONSOLE_PORT = 4,
	CONSOLE_RESIZE = 5,
	CONSOLE_PORT_OPEN = 6,
	CONSOLE_PORT_NAME = 7,
};

struct console_ctrl {
	uint32_t id;
	uint16_t event, value;
};

/* Reads a control message from a driver chain; -1 when the chain cannot hold one. */
int console_parse_ctrl(const struct vq_chain *c, struct console_ctrl *m);

struct vmm;
struct virtio_dev;
struct virtio_dev *virtio_console_create(struct vmm *v, const char *socket, struct cc_error *err);

#endif
