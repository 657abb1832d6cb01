/* virtio-console multiport: does the control handshake, prints the port's name, waits
 * for the host end to open, echoes one buffer, and waits for the host to close. */
#include "guest.h"

struct ctrl {
	u32 id;
	u16 event, value;
};
enum { DEVICE_READY = 0, DEVICE_ADD = 1, PORT_READY = 3, PORT_OPEN = 6, PORT_NAME = 7 };

static struct vq prx __attribute__((aligned(4096)));
static struct vq ptx __attribute__((aligned(4096)));
static struct vq crx __attribute__((aligned(4096)));
static struct vq ctx __attribute__((aligned(4096)));
static u8 pbuf[VQ_SIZE][128], cbuf[VQ_SIZE][64], out[128];
static struct ctrl cout;

static void post_all(struct vq *q, u8 *bufs, u32 size)
{
	for (u16 i = 0; i < VQ_SIZE; i++) {
		q->desc[i] = (struct vdesc){ (u32)(bufs + i * size), size, VD_WRITE, 0 };
		q->avail.ring[i] = i;
	}
	q->avail.idx = VQ_SIZE;
	mmio_write(q->notify, q->qid);
}

/* Waits for the next used rx buffer; returns its index, length in *len. */
static u16 take(struct vq *q, u32 *len)
{
	while (q->used.idx == q->next_used)
		__asm__ volatile("pause");
	u16 id = (u16)(q->used.ring[q->next_used % VQ_SIZE].id % VQ_SIZE);
	*len = q->used.ring[q->next_used % VQ_SIZE].len;
	q->next_used++;
	return id;
}

static void give(struct vq *q, u16 id)
{
	vq_submit(q, id);
}

static void send(struct vq *q, const void *p, u32 len)
{
	q->desc[0] = (struct vdesc){ (u32)p, len, 0, 0 };
	vq_submit(q, 0);
	vq_wait(q);
}

static void control(u16 event, u16 value)
{
	cout = (struct ctrl){ 0, event, value };
	send(&ctx, &cout, sizeof(cout));
}

/* Next control message from the device, copied out. */
static struct ctrl in;
static char name[16];
static void next_ctrl(void)
{
	u32 len;
	u16 id = take(&crx, &len);
	memcpy(&in, cbuf[id], sizeof(in));
	if (in.event == PORT_NAME)
		for (u32 i = 0; i + 8 < len && i < sizeof(name) - 1; i++)
			name[i] = (char)cbuf[id][8 + i];
	give(&crx, id);
}

int main(void)
{
	u32 base = virtio_find(3);
	if (base == 0)
		return 1;
	mmio_write(base + 0x70, 0);
	mmio_write(base + 0x70, 1 | 2);
	mmio_write(base + 0x24, 0);
	mmio_write(base + 0x20, 2); /* MULTIPORT */
	mmio_write(base + 0x24, 1);
	mmio_write(base + 0x20, 1); /* VERSION_1 */
	mmio_write(base + 0x70, 1 | 2 | 8);
	virtio_queue(base, &prx, 0);
	virtio_queue(base, &ptx, 1);
	virtio_queue(base, &crx, 2);
	virtio_queue(base, &ctx, 3);
	virtio_ready(base);
	post_all(&crx, &cbuf[0][0], sizeof(cbuf[0]));
	post_all(&prx, &pbuf[0][0], sizeof(pbuf[0]));

	control(DEVICE_READY, 1);
	int host_open = 0;
	while (name[0] == 0 || !host_open) {
		next_ctrl();
		if (in.event == DEVICE_ADD)
			control(PORT_READY, 1);
		else if (in.event == PORT_OPEN)
			host_open = in.value;
	}
	puts("console: port ");
	puts(name);
	puts(" open\n");
	control(PORT_OPEN, 1);

	u32 len;
	u16 id = take(&prx, &len);
	memcpy(out, pbuf[id], len);
	give(&prx, id);
	send(&ptx, out, len);
	puts("console: echoed ");
	puthex(len, 2);
	puts(" bytes\n");
	while (host_open) {
		next_ctrl();
		if (in.event == PORT_OPEN)
			host_open = in.value;
	}
	puts("console: host closed\n");
	return 0;
}
