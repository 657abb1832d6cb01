/* Device constructors. Each device is one file behind an ops table; devices_setup()
 * creates the set the configuration asks for and announces virtio devices on the
 * kernel command line. */
#ifndef COCOON_VMM_DEVICES_H
#define COCOON_VMM_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

struct vmm;
struct virtio_dev;

int devices_setup(struct vmm *v, struct cc_error *err);

int serial_create(struct vmm *v, struct cc_error *err);
int i8042_create(struct vmm *v, struct cc_error *err);
/* Snapshots of the UART's registers and receive FIFO. */
struct snap_serial;
void serial_save(struct vmm *v, struct snap_serial *out);
void serial_restore(struct vmm *v, const struct snap_serial *in);

/* virtio devices, handed to the virtio-mmio transport by devices_setup(). */
struct virtio_dev *virtio_rng_create(struct cc_error *err);
struct virtio_dev *virtio_blk_create(const char *path, bool ro, struct cc_error *err);
struct virtio_dev *virtio_net_create(struct vmm *v, const char *tap, const uint8_t mac[6],
				     struct cc_error *err);
struct virtio_dev *virtio_vsock_create(struct vmm *v, uint64_t cid, const char *uds,
				       struct cc_error *err);
struct virtio_dev *virtio_fs_create(struct vmm *v, const char *tag, const char *socket,
				    struct cc_error *err);
struct virtio_dev *virtio_console_create(struct vmm *v, const char *socket, struct cc_error *err);

#endif
