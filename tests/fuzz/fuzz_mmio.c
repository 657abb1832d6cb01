/* The virtio-mmio register window, the guest's other way in: a sequence of register
 * reads and writes (byte 0: how many; then 8 bytes each: offset u16, size, direction,
 * value u32) against a virtio-blk device on a scratch disk, in guest RAM taken from
 * the rest of the input.
 * Covers feature negotiation, the status machine, queue placement and QueueReady
 * checks, notifications into the device, and reset. */
#include "fuzz_device.h"
#include "vmm/virtio/mmio.h"
#include "vmm/x86/bus.h"

static struct virtio_dev *dev;
static void *window;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dev == NULL) {
		dev = fuzz_blk_scratch();
		if ((window = virtio_mmio_new(dev)) == NULL)
			abort();
	}
	cc_log_init("fuzz", CC_LOG_ERROR, 2);
	if (size == 0)
		return 0;
	size_t n_ops = data[0];
	data++;
	size--;
	if (n_ops > size / 8)
		n_ops = size / 8;
	struct guest_mem mem = { .host = calloc(1, FUZZ_RAM), .size = FUZZ_RAM, .fd = -1 };
	if (mem.host == NULL)
		abort();
	size_t tail = size - n_ops * 8;
	memcpy(mem.host, data + n_ops * 8, tail < FUZZ_RAM ? tail : FUZZ_RAM);
	dev->mem = &mem;
	for (size_t i = 0; i < n_ops; i++) {
		const uint8_t *op = data + 8 * i;
		uint64_t off = fuzz_u16(op) & 0x1ff; /* registers and the start of config */
		static const uint32_t sizes[4] = { 1, 2, 4, 8 };
		uint32_t len = sizes[op[2] & 3];
		uint8_t val[8] = { 0 };
		memcpy(val, op + 4, 4);
		if (op[3] & 1)
			virtio_mmio_ops.write(window, off, val, len);
		else
			virtio_mmio_ops.read(window, off, val, len);
	}
	uint32_t zero = 0;
	virtio_mmio_ops.write(window, 0x70, &zero, 4); /* driver reset */
	dev->mem = NULL;
	free(mem.host);
	return 0;
}
