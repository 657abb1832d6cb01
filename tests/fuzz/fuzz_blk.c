/* virtio-blk: request parsing and execution against a 64 KiB scratch disk. */
#include "fuzz_device.h"

static struct virtio_dev *dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dev == NULL)
		dev = fuzz_blk_scratch();
	fuzz_device(dev, 0, data, size);
	return 0;
}
