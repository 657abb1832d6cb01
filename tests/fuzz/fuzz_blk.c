/* virtio-blk: request parsing and execution against a 64 KiB scratch disk. */
#include <stdio.h>
#include <unistd.h>

#include "fuzz_device.h"
#include "vmm/devices.h"

static struct virtio_dev *dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dev == NULL) {
		char path[] = "/tmp/cocoon-fuzz-blk.XXXXXX";
		int fd = mkstemp(path);
		struct cc_error err;
		if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
			abort();
		dev = virtio_blk_create(path, false, &err);
		unlink(path);
		close(fd);
		if (dev == NULL)
			abort();
	}
	fuzz_device(dev, 0, data, size);
	return 0;
}
