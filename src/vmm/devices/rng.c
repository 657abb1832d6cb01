/* virtio-rng (entropy source): fills every device-writable buffer from getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "vmm/devices/rng.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_ID_RNG 4
#define RNG_MAX_PER_REQUEST 65536 /* more is allowed by the spec but never needed */

static int rng_notify(struct virtio_dev *d, unsigned qi)
{
	struct vq_chain c;
	struct virtio_pass p = virtio_pass_begin(d, qi);
	while (virtio_pass_next(&p, &c)) {
		if (c.n_out > 0 || c.n_in == 0)
			return -1;
		uint32_t written = 0;
		for (unsigned i = 0; i < c.n_in && written < RNG_MAX_PER_REQUEST; i++) {
			struct vq_seg *s = &c.seg[i];
			size_t want = s->len < RNG_MAX_PER_REQUEST - written
					      ? s->len
					      : RNG_MAX_PER_REQUEST - written;
			ssize_t n = getrandom(s->ptr, want, 0);
			if (n < 0)
				n = 0;
			written += (uint32_t)n;
			if ((size_t)n < want)
				break;
		}
		virtio_pass_push(&p, c.head, written);
	}
	return virtio_pass_end(&p);
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.notify = rng_notify,
};

struct virtio_dev *virtio_rng_create(struct cc_error *err)
{
	struct virtio_dev *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		cc_error_set(err, ENOMEM, "virtio-rng");
		return NULL;
	}
	virtio_dev_init(d, &rng_ops, NULL, 0);
	return d;
}
