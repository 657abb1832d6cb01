/* virtio-blk: reads sector 0 and prints its first line, writes a marker to sector 1,
 * flushes, and reports each request's status. The host checks the file afterwards. */
#include "guest.h"

static struct vq q __attribute__((aligned(4096)));
static struct {
	u32 type, reserved;
	u64 sector;
} hdr;
static u8 data[512];
static u8 status;

static u8 request(u32 type, u64 sector, int has_data, int device_writes)
{
	hdr.type = type;
	hdr.sector = sector;
	status = 0xff;
	q.desc[0] = (struct vdesc){ (u32)&hdr, sizeof(hdr), VD_NEXT, 1 };
	u16 next = 1;
	if (has_data) {
		q.desc[1] = (struct vdesc){ (u32)data, sizeof(data),
					    (u16)(VD_NEXT | (device_writes ? VD_WRITE : 0)), 2 };
		next = 2;
	}
	q.desc[next] = (struct vdesc){ (u32)&status, 1, VD_WRITE, 0 };
	vq_submit(&q, 0);
	vq_wait(&q);
	return status;
}

int main(void)
{
	u32 base = virtio_find(2);
	if (base == 0 || virtio_init(base) < 0) {
		puts("blk: no device\n");
		return 1;
	}
	virtio_queue(base, &q, 0);
	virtio_ready(base);

	u8 st = request(0, 0, 1, 1);
	puts("blk read status ");
	puthex(st, 2);
	puts(": ");
	for (u32 i = 0; i < sizeof(data) && data[i] >= ' '; i++)
		outb(0x3f8, data[i]);
	puts("\n");

	memset(data, 0, sizeof(data));
	memcpy(data, "written by the guest", 20);
	st = request(1, 1, 1, 0);
	puts("blk write status ");
	puthex(st, 2);
	puts("\n");
	st = request(4, 0, 0, 0);
	puts("blk flush status ");
	puthex(st, 2);
	puts("\n");
	st = request(0, 1u << 30, 1, 1);
	puts("blk out-of-range status ");
	puthex(st, 2);
	puts("\n");
	return 0;
}
