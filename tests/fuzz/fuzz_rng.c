/* virtio-rng: every writable buffer filled, whatever the chain looks like. */
#include "fuzz_device.h"
#include "vmm/devices/rng.h"

static struct virtio_dev *dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_error err;
	if (dev == NULL && (dev = virtio_rng_create(&err)) == NULL)
		abort();
	fuzz_device(dev, 0, data, size);
	return 0;
}
