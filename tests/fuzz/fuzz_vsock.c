/* virtio-vsock: packet headers parsed from guest tx chains. */
#include "fuzz.h"
#include "vmm/devices/vsock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	static struct vq_chain c;
	static uint8_t payload[FUZZ_RAM];
	if (fuzz_begin(&f, data, size) < 0)
		return 0;
	for (int i = 0; i < FUZZ_MAX_CHAINS && virtq_pop(&f.q, &f.mem, &c) > 0; i++) {
		struct vsock_hdr h;
		if (vsock_parse_hdr(&c, &h) == 0) /* the device then reads len payload bytes */
			if (vq_read(&c, sizeof(h), payload, h.len) != h.len)
				abort();
	}
	fuzz_end(&f);
	return 0;
}
