/* The split virtqueue walker: pop every chain, touch every byte of every segment
 * (gather the readable ones, scatter into the writable ones), push it back. */
#include "fuzz.h"

static uint8_t buf[FUZZ_RAM];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	static struct vq_chain c;
	if (fuzz_begin(&f, data, size) < 0)
		return 0;
	for (int i = 0; i < FUZZ_MAX_CHAINS && virtq_pop(&f.q, &f.mem, &c) > 0; i++) {
		if (c.out_len > 0)
			vq_read(&c, 0, buf, sizeof(buf));
		if (c.in_len > 0)
			vq_write(&c, 0, buf, sizeof(buf));
		virtq_push(&f.q, &f.mem, c.head, (uint32_t)c.in_len);
		virtq_should_notify(&f.q, &f.mem);
	}
	fuzz_end(&f);
	return 0;
}
