/* virtio-fs through virtiofsd: prints the mount tag, sends FUSE_INIT and a LOOKUP of
 * "hello.txt" in the root on the request queue, and prints the answers. virtiofsd
 * reads and writes our rings and buffers itself; the VMM only set the queue up. */
#include "guest.h"

struct in_hdr {
	u32 len, opcode;
	u64 unique, nodeid;
	u32 uid, gid, pid;
	u16 extlen, pad;
};
struct out_hdr {
	u32 len;
	int error;
	u64 unique;
};
enum { FUSE_LOOKUP = 1, FUSE_INIT = 26 };

static struct vq hiprio __attribute__((aligned(4096)));
static struct vq req __attribute__((aligned(4096)));
static struct {
	struct in_hdr h;
	union {
		u32 init[4]; /* major, minor, max_readahead, flags */
		char name[16];
	} a;
} msg;
static u8 reply[256];

static struct out_hdr *call(u32 opcode, u64 nodeid, u32 arglen)
{
	msg.h = (struct in_hdr){
		sizeof(struct in_hdr) + arglen, opcode, opcode, nodeid, 0, 0, 1, 0, 0
	};
	memset(reply, 0xee, sizeof(reply));
	req.desc[0] = (struct vdesc){ (u32)&msg, sizeof(struct in_hdr) + arglen, VD_NEXT, 1 };
	req.desc[1] = (struct vdesc){ (u32)reply, sizeof(reply), VD_WRITE, 0 };
	vq_submit(&req, 0);
	vq_wait(&req);
	return (struct out_hdr *)reply;
}

int main(void)
{
	u32 base = virtio_find(26);
	if (base == 0 || virtio_init(base) < 0) {
		puts("fs: no device\n");
		return 1;
	}
	puts("fs: tag ");
	for (u32 i = 0; i < 36; i++) {
		u8 c = *(volatile u8 *)(base + 0x100 + i);
		if (c == 0)
			break;
		outb(0x3f8, c);
	}
	puts("\n");
	virtio_queue(base, &hiprio, 0);
	virtio_queue(base, &req, 1);
	virtio_ready(base);

	msg.a.init[0] = 7;
	msg.a.init[1] = 31;
	msg.a.init[2] = 0;
	msg.a.init[3] = 0;
	struct out_hdr *o = call(FUSE_INIT, 0, 16);
	u32 *init_out = (u32 *)(o + 1);
	puts("fs: init error ");
	puthex((u32)o->error, 8);
	puts(" version ");
	puthex(init_out[0], 2);
	puts(".");
	puthex(init_out[1], 2);
	puts("\n");

	memcpy(msg.a.name, "hello.txt", 10);
	o = call(FUSE_LOOKUP, 1, 10);
	/* fuse_entry_out: nodeid, generation, entry_valid, attr_valid (u64), two u32, then
	 * fuse_attr whose second u64 is the size. */
	u32 size = *(u32 *)((u8 *)(o + 1) + 40 + 8);
	puts("fs: lookup error ");
	puthex((u32)o->error, 8);
	puts(" size ");
	puthex(size, 8);
	puts("\n");
	return 0;
}
