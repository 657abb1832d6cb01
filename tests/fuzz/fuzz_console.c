/* virtio-console: control messages parsed from the driver's control queue. */
#include "fuzz.h"
#include "vmm/devices/console.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	static struct vq_chain c;
	if (fuzz_begin(&f, data, size) < 0)
		return 0;
	for (int i = 0; i < FUZZ_MAX_CHAINS && virtq_pop(&f.q, &f.mem, &c) > 0; i++) {
		struct console_ctrl m;
		console_parse_ctrl(&c, &m);
	}
	fuzz_end(&f);
	return 0;
}
