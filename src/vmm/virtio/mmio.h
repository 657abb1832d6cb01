/* The virtio-mmio transport (version 2): a device's register window, its interrupt line and queue
 * notifications. */
#ifndef COCOON_VMM_VIRTIO_MMIO_H
#define COCOON_VMM_VIRTIO_MMIO_H

#include "shared/error.h"

struct virtio_dev;
struct vmm;
struct bus_dev_ops;
/* The register window of one device: virtio_mmio_ops over the opaque that
 * virtio_mmio_new() returns (NULL when out of memory). Exposed for fuzzing. */
extern const struct bus_dev_ops virtio_mmio_ops;
void *virtio_mmio_new(struct virtio_dev *d);
/* Places the device in the next virtio-mmio window with its own interrupt line,
 * wires ioeventfd/irqfd and announces it on the kernel command line. */
int virtio_mmio_attach(struct vmm *v, struct virtio_dev *d, struct cc_error *err);
/* Snapshots: the state of the device behind a virtio_mmio_ops window, and putting it back
 * (refused when the window holds another kind of device than the snapshot says). After
 * a save, virtio_mmio_saved() gives stopped vhost-user queues back to their backend. */
struct snap_device;
void virtio_mmio_save(void *opaque, struct snap_device *s);
int virtio_mmio_restore(void *opaque, unsigned index, const struct snap_device *s,
			struct cc_error *err);
int virtio_mmio_saved(void *opaque, struct cc_error *err);

#endif
