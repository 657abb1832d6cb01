/* virtio-vsock packet parsing, exposed for unit tests and fuzzing. */
#ifndef COCOON_VMM_VIRTIO_VSOCK_H
#define COCOON_VMM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "shared/error.h"
#include "vmm/virtio/virtqueue.h"

#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE,
	VSOCK_OP_RST,
	VSOCK_OP_SHUTDOWN,
	VSOCK_OP_RW,
	VSOCK_OP_CREDIT_UPDATE,
	VSOCK_OP_CREDIT_REQUEST,
};
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

/* Reads the header of a guest tx chain. -1: the chain cannot hold a packet (too short,
 * payload longer than the chain, device-writable parts): a protocol break. 0: parsed;
 * whether the packet is acceptable (addresses, type, op) is the device's decision. */
int vsock_parse_hdr(const struct vq_chain *c, struct vsock_hdr *h);

struct vmm;
struct virtio_dev;
struct virtio_dev *virtio_vsock_create(struct vmm *v, uint64_t cid, const char *uds,
				       struct cc_error *err);

#endif
