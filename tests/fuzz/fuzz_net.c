/* virtio-net: tx frames checked, then gathered the way writev would take them (the
 * header always ours, all zeroes). */
#include <sys/uio.h>

#include "fuzz.h"
#include "vmm/devices/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	static struct vq_chain c;
	static uint8_t frame[NET_FRAME_MAX];
	if (fuzz_begin(&f, data, size) < 0)
		return 0;
	for (int i = 0; i < FUZZ_MAX_CHAINS && virtq_pop(&f.q, &f.mem, &c) > 0; i++) {
		if (net_check_tx(&c) < 0)
			continue;
		struct iovec iov[VQ_MAX_SEGS + 1];
		unsigned n = net_tx_iov(&c, iov);
		size_t off = 0;
		for (unsigned k = 0; k < n; k++) {
			memcpy(frame + off, iov[k].iov_base, iov[k].iov_len);
			off += iov[k].iov_len;
		}
		static const uint8_t zero[NET_HDR_LEN];
		if (off != c.out_len || memcmp(frame, zero, NET_HDR_LEN) != 0)
			abort();
	}
	fuzz_end(&f);
	return 0;
}
