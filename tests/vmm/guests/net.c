/* virtio-net: prints its MAC, waits for a frame of ethertype 0x88b5 (others, such as
 * the host's IPv6 chatter, are skipped) and sends it back to its sender with "echo: "
 * in front of the payload. */
#include "guest.h"

#define HDR 12
#define ETYPE_HI 0x88
#define ETYPE_LO 0xb5

static struct vq rxq __attribute__((aligned(4096)));
static struct vq txq __attribute__((aligned(4096)));
static u8 rxbuf[VQ_SIZE][1536], tx[1536];

int main(void)
{
	u32 base = virtio_find(1);
	if (base == 0 || virtio_init(base) < 0) {
		puts("net: no device\n");
		return 1;
	}
	u8 mac[6];
	for (u32 i = 0; i < 6; i++)
		mac[i] = *(volatile u8 *)(base + 0x100 + i);
	virtio_queue(base, &rxq, 0);
	virtio_queue(base, &txq, 1);
	virtio_ready(base);
	for (u16 i = 0; i < VQ_SIZE; i++) {
		rxq.desc[i] = (struct vdesc){ (u32)rxbuf[i], sizeof(rxbuf[i]), VD_WRITE, 0 };
		rxq.avail.ring[i] = i;
	}
	rxq.avail.idx = VQ_SIZE;
	mmio_write(rxq.notify, 0);
	puts("net: mac ");
	for (u32 i = 0; i < 6; i++) {
		puthex(mac[i], 2);
		puts(i < 5 ? ":" : "\n");
	}

	for (;;) {
		while (rxq.used.idx == rxq.next_used)
			__asm__ volatile("pause");
		u16 id = (u16)(rxq.used.ring[rxq.next_used % VQ_SIZE].id % VQ_SIZE);
		u32 len = rxq.used.ring[rxq.next_used % VQ_SIZE].len;
		rxq.next_used++;
		u8 *f = rxbuf[id] + HDR;
		if (len > HDR + 14 && len < sizeof(tx) - 6 && f[12] == ETYPE_HI &&
		    f[13] == ETYPE_LO) {
			u32 plen = len - HDR - 14;
			memset(tx, 0, HDR);
			memcpy(tx + HDR, f + 6, 6); /* back to the sender */
			memcpy(tx + HDR + 6, mac, 6);
			tx[HDR + 12] = ETYPE_HI;
			tx[HDR + 13] = ETYPE_LO;
			memcpy(tx + HDR + 14, "echo: ", 6);
			memcpy(tx + HDR + 20, f + 14, plen);
			txq.desc[0] = (struct vdesc){ (u32)tx, HDR + 20 + plen, 0, 0 };
			vq_submit(&txq, 0);
			vq_wait(&txq);
			puts("net: echoed a frame\n");
			return 0;
		}
		vq_submit(&rxq, id);
	}
}
