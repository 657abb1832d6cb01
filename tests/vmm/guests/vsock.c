/* virtio-vsock: accepts a host connection on port 1024 (the agent's port) and echoes one
 * message, then connects to host port 5000, sends "ping" and prints the answer. Packets are built
 * by hand; one tx descriptor, eight rx buffers, everything polled. */
#include "guest.h"

struct hdr {
	u64 src_cid, dst_cid;
	u32 src_port, dst_port, len;
	u16 type, op;
	u32 flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
struct pkt {
	struct hdr h;
	u8 data[128];
};
enum { REQUEST = 1, RESPONSE, RST, SHUTDOWN, RW };

static struct vq rxq __attribute__((aligned(4096)));
static struct vq txq __attribute__((aligned(4096)));
static struct vq evq __attribute__((aligned(4096)));
static struct pkt rxbuf[VQ_SIZE], tx;
static u32 cid, fwd;

static void send(u32 src_port, u32 dst_port, u16 op, u32 flags, const u8 *data, u32 len)
{
	tx.h = (struct hdr){ cid, 2, src_port, dst_port, len, 1, op, flags, 4096, fwd };
	memcpy(tx.data, data, len);
	txq.desc[0] = (struct vdesc){ (u32)&tx, sizeof(struct hdr) + len, 0, 0 };
	vq_submit(&txq, 0);
	vq_wait(&txq);
}

/* Next packet from the host, copied out; its buffer goes straight back to the device. */
static struct pkt in;
static void recv(void)
{
	while (rxq.used.idx == rxq.next_used)
		__asm__ volatile("pause");
	u32 id = rxq.used.ring[rxq.next_used % VQ_SIZE].id;
	rxq.next_used++;
	memcpy(&in, &rxbuf[id % VQ_SIZE], sizeof(in));
	if (in.h.op == RW)
		fwd += in.h.len;
	vq_submit(&rxq, (u16)(id % VQ_SIZE));
}

static void expect(u16 op, const char *what)
{
	recv();
	if (in.h.op != op) {
		puts("vsock: unexpected op ");
		puthex(in.h.op, 1);
		puts(" waiting for ");
		puts(what);
		puts("\n");
		__asm__ volatile("ud2"); /* no IDT: a triple fault, the test sees a crash */
	}
}

int main(void)
{
	u32 base = virtio_find(19);
	if (base == 0 || virtio_init(base) < 0) {
		puts("vsock: no device\n");
		return 1;
	}
	cid = mmio_read(base + 0x100);
	virtio_queue(base, &rxq, 0);
	virtio_queue(base, &txq, 1);
	virtio_queue(base, &evq, 2);
	virtio_ready(base);
	for (u16 i = 0; i < VQ_SIZE; i++) {
		rxq.desc[i] = (struct vdesc){ (u32)&rxbuf[i], sizeof(struct pkt), VD_WRITE, 0 };
		rxq.avail.ring[i] = i;
	}
	rxq.avail.idx = VQ_SIZE;
	mmio_write(rxq.notify, 0);
	puts("vsock: cid ");
	puthex(cid, 2);
	puts("\n");

	/* Host-initiated: CONNECT 1024 through the unix socket. */
	expect(REQUEST, "request");
	u32 peer = in.h.src_port;
	if (in.h.dst_port != 1024)
		return 1;
	send(1024, peer, RESPONSE, 0, 0, 0);
	expect(RW, "data");
	puts("vsock: echoing ");
	puthex(in.h.len, 2);
	puts(" bytes\n");
	send(1024, peer, RW, 0, in.data, in.h.len);
	expect(SHUTDOWN, "shutdown");
	send(1024, peer, RST, 0, 0, 0);

	/* Guest-initiated: host port 5000 is the unix socket PATH_5000. */
	fwd = 0; /* credit counters are per connection */
	send(7000, 5000, REQUEST, 0, 0, 0);
	recv();
	if (in.h.op == RST) {
		puts("vsock: nobody on host port 5000\n");
		return 0;
	}
	send(7000, 5000, RW, 0, (const u8 *)"ping\n", 5);
	expect(RW, "reply");
	puts("vsock: host says ");
	for (u32 i = 0; i < in.h.len && i < sizeof(in.data) && in.data[i] >= ' '; i++)
		outb(0x3f8, in.data[i]);
	puts("\n");
	send(7000, 5000, SHUTDOWN, 3, 0, 0);
	do /* the host may have shut down first: its SHUTDOWN, then our RST */
		recv();
	while (in.h.op != RST);
	puts("vsock: done\n");
	return 0;
}
