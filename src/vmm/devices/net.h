/* virtio-net frame checks, exposed for unit tests and fuzzing. */
#ifndef COCOON_VMM_VIRTIO_NET_H
#define COCOON_VMM_VIRTIO_NET_H

#include <stdint.h>

#include "shared/error.h"
#include "vmm/virtio/virtqueue.h"

#define NET_HDR_LEN 12	    /* struct virtio_net_hdr_v1: the tap uses the same header */
#define NET_FRAME_MAX 65550 /* header + the largest frame a tap takes without GSO */

/* A tx chain is one header-prefixed frame, device-readable only; -1 otherwise. */
int net_check_tx(const struct vq_chain *c);
/* The iovecs that go to the tap for a checked tx chain: a header of zeroes of our own
 * (no offload was negotiated, so the guest's header can only ask the host kernel for
 * checksum or segmentation work it never agreed to do), then the frame from guest
 * memory. iov holds VQ_MAX_SEGS + 1 entries; returns how many were filled. */
struct iovec;
unsigned net_tx_iov(const struct vq_chain *c, struct iovec *iov);

struct vmm;
struct virtio_dev;
struct virtio_dev *virtio_net_create(struct vmm *v, const char *tap, const uint8_t mac[6],
				     struct cc_error *err);

#endif
