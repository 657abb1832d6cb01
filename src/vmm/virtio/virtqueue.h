/* Split virtqueue walker. Everything the guest wrote (ring indices, descriptor
 * addresses, lengths, next links, indirect tables) is validated here before a device
 * sees it; a chain that breaks a rule is reported as malformed (-1) and the device
 * goes to NEEDS_RESET. Descriptors are copied out of guest memory once, so the guest
 * cannot change them between check and use. */
#ifndef COCOON_VMM_VIRTQUEUE_H
#define COCOON_VMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/memory.h"

#define VQ_MAX_SIZE 256
#define VQ_MAX_SEGS 256 /* longest chain accepted, counting indirect entries */

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq {
	uint16_t size; /* QueueNum, a power of two <= VQ_MAX_SIZE */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next avail ring slot the device consumes */
	uint16_t used_idx;
};

struct vq_seg {
	uint8_t *ptr; /* host address, the whole [ptr, ptr+len) is inside guest RAM */
	uint32_t len;
};

/* One descriptor chain: device-readable segments first, then device-writable ones. */
struct vq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	struct vq_seg seg[VQ_MAX_SEGS]; /* seg[0..n_out) readable, then n_in writable */
	uint64_t out_len, in_len;
};

/* Resets the ring state (queue reset or device reset). */
void virtq_reset(struct virtq *q);
/* Checks size and ring placement when the driver sets QueueReady. */
int virtq_validate(const struct virtq *q, const struct guest_mem *m);
/* 1: a chain was popped into c; 0: nothing available; -1: malformed.
 * A device's notify handles at most q->size chains (virtio_pass in virtio.h owns the
 * limit): a driver never has more outstanding, and a guest that lays the used ring or
 * a buffer over the avail index would otherwise keep it moving with the device's own
 * writes, forever (found by fuzz_rng). A driver that adds more meanwhile kicks again. */
int virtq_pop(struct virtq *q, const struct guest_mem *m, struct vq_chain *c);
/* Gives back the chain popped last, unused (the device found nothing to put in it). */
void virtq_unpop(struct virtq *q);
/* Returns a chain to the driver with the number of bytes written into it. */
void virtq_push(struct virtq *q, const struct guest_mem *m, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt for used buffers. */
bool virtq_should_notify(const struct virtq *q, const struct guest_mem *m);

/* Gather/scatter over a chain's segments, starting at byte offset off.
 * Return the number of bytes copied (short when the segments end). */
size_t vq_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len);
size_t vq_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len);
/* iovecs for up to len bytes from offset off of the readable (writable=false) or the
 * writable segments, for readv/writev straight to or from guest memory. Returns the
 * number of iovecs filled (at most max). */
struct iovec;
unsigned vq_iov(const struct vq_chain *c, bool writable, uint64_t off, uint64_t len,
		struct iovec *iov, unsigned max);

#endif
