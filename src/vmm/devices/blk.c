/* virtio-blk on a raw file: read, write, flush and get-id, with a read-only mode.
 * Requests are parsed and bounds-checked (sector range against the file size, header
 * and status placement) before any I/O; the data moves with preadv/pwritev straight
 * between the file and guest buffers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shared/util.h"
#include "vmm/virtio/virtio.h"
#include "vmm/devices/blk.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

#define BLK_ID_BYTES 20

struct blk {
	int fd;
	bool ro;
	uint64_t sectors;
	char id[BLK_ID_BYTES];
};

int blk_parse_request(const struct vq_chain *c, uint64_t capacity, struct blk_request *r)
{
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} hdr;
	if (c->n_out == 0 || c->n_in == 0 || c->seg[0].len < sizeof(hdr) ||
	    c->seg[c->n_out + c->n_in - 1].len < 1)
		return -1;
	memcpy(&hdr, c->seg[0].ptr, sizeof(hdr));
	r->type = hdr.type;
	r->sector = hdr.sector;
	r->status = c->seg[c->n_out + c->n_in - 1].ptr + c->seg[c->n_out + c->n_in - 1].len - 1;
	/* Data: the readable segments after the header (write), or the writable ones
	 * before the status byte (read). The header must fill its segment exactly. */
	if (c->seg[0].len != sizeof(hdr))
		return -1;
	r->data_first = r->type == VIRTIO_BLK_T_OUT ? 1 : c->n_out;
	r->data_count = r->type == VIRTIO_BLK_T_OUT ? c->n_out - 1 : c->n_in;
	r->data_len = r->type == VIRTIO_BLK_T_OUT ? c->out_len - sizeof(hdr) : c->in_len - 1;
	if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) {
		if (r->data_len % BLK_SECTOR_SIZE != 0)
			return -1;
		uint64_t n = r->data_len / BLK_SECTOR_SIZE;
		if (r->sector > capacity || n > capacity - r->sector)
			r->status_code =
				VIRTIO_BLK_S_IOERR; /* a guest mistake, not a protocol break */
		else
			r->status_code = VIRTIO_BLK_S_OK;
	} else {
		r->status_code = VIRTIO_BLK_S_OK;
	}
	return 0;
}

static uint8_t do_io(struct blk *b, const struct vq_chain *c, const struct blk_request *r)
{
	struct iovec iov[VQ_MAX_SEGS];
	unsigned n = 0;
	uint64_t left = r->data_len;
	for (unsigned i = 0; i < r->data_count && left > 0; i++) {
		const struct vq_seg *s = &c->seg[r->data_first + i];
		size_t len = s->len < left ? s->len : left;
		iov[n++] = (struct iovec){ s->ptr, len };
		left -= len;
	}
	off_t off = (off_t)(r->sector * BLK_SECTOR_SIZE);
	uint64_t done = 0;
	while (done < r->data_len) {
		/* Skip the iovecs already transferred. */
		uint64_t skip = done;
		unsigned first = 0;
		while (first < n && skip >= iov[first].iov_len) {
			skip -= iov[first].iov_len;
			first++;
		}
		if (first == n)
			return VIRTIO_BLK_S_IOERR;
		struct iovec saved = iov[first];
		iov[first].iov_base = (uint8_t *)iov[first].iov_base + skip;
		iov[first].iov_len -= skip;
		ssize_t got =
			r->type == VIRTIO_BLK_T_IN
				? preadv(b->fd, iov + first, (int)(n - first), off + (off_t)done)
				: pwritev(b->fd, iov + first, (int)(n - first), off + (off_t)done);
		iov[first] = saved;
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return VIRTIO_BLK_S_IOERR;
		done += (uint64_t)got;
	}
	return VIRTIO_BLK_S_OK;
}

static uint32_t handle(struct blk *b, const struct vq_chain *c, struct blk_request *r)
{
	uint32_t written = 0;
	uint8_t st = r->status_code;
	if (st == VIRTIO_BLK_S_OK) {
		switch (r->type) {
		case VIRTIO_BLK_T_IN:
			st = do_io(b, c, r);
			if (st == VIRTIO_BLK_S_OK)
				written = (uint32_t)r->data_len;
			break;
		case VIRTIO_BLK_T_OUT: st = b->ro ? VIRTIO_BLK_S_IOERR : do_io(b, c, r); break;
		case VIRTIO_BLK_T_FLUSH:
			st = b->ro || fdatasync(b->fd) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
			break;
		case VIRTIO_BLK_T_GET_ID:
			written = (uint32_t)vq_write(c, 0, b->id,
						     r->data_len < BLK_ID_BYTES ? r->data_len
										: BLK_ID_BYTES);
			break;
		default: st = VIRTIO_BLK_S_UNSUPP;
		}
	}
	*r->status = st;
	return written + 1;
}

static int blk_notify(struct virtio_dev *d, unsigned qi)
{
	struct blk *b = d->priv;
	struct vq_chain c;
	struct virtio_pass p = virtio_pass_begin(d, qi);
	while (virtio_pass_next(&p, &c)) {
		struct blk_request r;
		if (blk_parse_request(&c, b->sectors, &r) < 0)
			return -1;
		virtio_pass_push(&p, c.head, handle(b, &c, &r));
	}
	return virtio_pass_end(&p);
}

static void blk_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct blk *b = d->priv;
	/* capacity (u64), size_max (u32), seg_max (u32): the rest reads as zero. */
	uint8_t cfg[16] = { 0 };
	uint32_t seg_max = VQ_MAX_SEGS - 2;
	memcpy(cfg, &b->sectors, 8);
	memcpy(cfg + 12, &seg_max, 4);
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.config_size = 60,
	.config_read = blk_config_read,
	.notify = blk_notify,
};

struct virtio_dev *virtio_blk_create(const char *path, bool ro, struct cc_error *err)
{
	cleanup_close int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		cc_error_set(err, errno, "opening disk %s", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cc_error_set(err, errno, "disk %s is not a regular file", path);
		return NULL;
	}
	struct blk *b = calloc(1, sizeof(*b));
	struct virtio_dev *d = calloc(1, sizeof(*d));
	if (b == NULL || d == NULL) {
		free(b);
		free(d);
		cc_error_set(err, ENOMEM, "virtio-blk");
		return NULL;
	}
	b->ro = ro;
	b->sectors = (uint64_t)st.st_size / BLK_SECTOR_SIZE;
	snprintf(b->id, sizeof(b->id), "cocoon-%llx", (unsigned long long)st.st_ino);
	b->fd = cc_steal_fd(&fd);
	virtio_dev_init(d, &blk_ops, b,
			VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH | (ro ? VIRTIO_BLK_F_RO : 0));
	return d;
}
