/* virtio-blk request parsing, exposed for unit tests and fuzzing. */
#ifndef COCOON_VMM_VIRTIO_BLK_H
#define COCOON_VMM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"
#include "vmm/virtio/virtqueue.h"

#define BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

struct blk_request {
	uint32_t type;
	uint64_t sector;
	unsigned data_first, data_count; /* data segments in the chain */
	uint64_t data_len;
	uint8_t *status;     /* last byte of the last writable segment */
	uint8_t status_code; /* IOERR already decided at parse time (out of range) */
};

/* Splits a chain into header, data and status; -1 when the layout is malformed. */
int blk_parse_request(const struct vq_chain *c, uint64_t capacity, struct blk_request *r);

struct virtio_dev;
struct virtio_dev *virtio_blk_create(const char *path, bool ro, struct cc_error *err);

#endif
