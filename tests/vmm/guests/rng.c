/* Asks virtio-rng for 16 bytes and prints them. */
#include "guest.h"

static struct vq q __attribute__((aligned(4096)));
static u8 buf[16];

int main(void)
{
	u32 base = virtio_find(4);
	if (base == 0 || virtio_init(base) < 0) {
		puts("rng: no device\n");
		return 1;
	}
	virtio_queue(base, &q, 0);
	virtio_ready(base);
	q.desc[0] = (struct vdesc){ (u32)buf, sizeof(buf), VD_WRITE, 0 };
	vq_submit(&q, 0);
	u32 len = vq_wait(&q);
	puts("rng: ");
	puthex(len, 2);
	puts(" bytes ");
	for (u32 i = 0; i < sizeof(buf); i++)
		puthex(buf[i], 2);
	puts("\n");
	return 0;
}
