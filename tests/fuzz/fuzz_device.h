/* A whole device (parse + execute + error state) driven through virtio_dev_kick with the
 * fuzzed queue as its queue q; the device is reset after every input. */
#ifndef COCOON_FUZZ_DEVICE_H
#define COCOON_FUZZ_DEVICE_H

#include <unistd.h>

#include "fuzz.h"
#include "vmm/devices/blk.h"
#include "vmm/virtio/virtio.h"

/* A virtio-blk device on a 64 KiB scratch disk that is unlinked at once. */
static inline struct virtio_dev *fuzz_blk_scratch(void)
{
	char path[] = "/tmp/cocoon-fuzz-blk.XXXXXX";
	int fd = mkstemp(path);
	struct cc_error err;
	if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
		abort();
	struct virtio_dev *d = virtio_blk_create(path, false, &err);
	unlink(path);
	close(fd);
	if (d == NULL)
		abort();
	return d;
}

static inline void fuzz_device(struct virtio_dev *d, unsigned q, const uint8_t *data, size_t size)
{
	struct fuzz f;
	if (fuzz_begin(&f, data, size) < 0)
		return;
	d->mem = &f.mem;
	d->driver_features = VIRTIO_F_VERSION_1;
	virtio_dev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	d->vq[q] = f.q;
	d->vq[q].ready = false;
	virtio_dev_queue_ready(d, q, true);
	virtio_dev_kick(d, q);
	virtio_dev_kick(d, q); /* again: a broken device must stay quiet */
	virtio_dev_set_status(d, 0);
	d->mem = NULL;
	fuzz_end(&f);
}

#endif
