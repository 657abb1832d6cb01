/* virtio-fs as a vhost-user frontend: the device model (config space with the mount
 * tag, the queues' registers) lives here, the FUSE request queues are served by
 * virtiofsd directly from guest memory. On DRIVER_OK the rings go to the backend; on
 * reset the backend stops them. The VMM never parses FUSE traffic.
 * Interrupt status: the backend interrupts the guest through the irqfd without telling
 * us, so the ISR register always shows "used buffer" for this device (see virtio/mmio.c);
 * a spurious check of the rings costs the guest driver nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "vmm/devices/fs.h"
#include "vmm/virtio/vhost_user.h"
#include "vmm/virtio/virtio.h"
#include "vmm/core/vmm.h"

#define VIRTIO_ID_FS 26
#define FS_TAG_MAX 36
#define FS_REQUEST_QUEUES 1

struct fs {
	struct virtio_dev dev;
	struct vhost_user vu;
	char tag[FS_TAG_MAX];
};

static int fs_notify(struct virtio_dev *d, unsigned q)
{
	(void)d;
	(void)q;
	return 0; /* kicks go to the backend through the ioeventfds */
}

static int fs_activate(struct virtio_dev *d, struct cc_error *err)
{
	struct fs *f = d->priv;
	return vhost_user_start(&f->vu, d, err);
}

static void fs_reset(struct virtio_dev *d)
{
	struct fs *f = d->priv;
	vhost_user_stop(&f->vu, d);
}

/* Snapshots: the backend stops its queues (their positions land in last_avail) so guest
 * RAM is quiet while it is copied; a restored VM hands them to its own, fresh backend. */
static void fs_save(struct virtio_dev *d, uint8_t state[16])
{
	(void)state;
	fs_reset(d);
}

static int fs_restore(struct virtio_dev *d, const uint8_t state[16], struct cc_error *err)
{
	(void)state;
	return virtio_dev_running(d) ? fs_activate(d, err) : 0;
}

static void fs_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct fs *f = d->priv;
	uint8_t cfg[FS_TAG_MAX + 4];
	uint32_t nq = FS_REQUEST_QUEUES;
	memcpy(cfg, f->tag, FS_TAG_MAX);
	memcpy(cfg + FS_TAG_MAX, &nq, 4);
	memcpy(data, cfg + off, len);
}

static const struct virtio_dev_ops fs_ops = {
	.name = "virtio-fs",
	.device_id = VIRTIO_ID_FS,
	.num_queues = 1 + FS_REQUEST_QUEUES, /* hiprio + requests */
	.config_size = FS_TAG_MAX + 4,
	.config_read = fs_config_read,
	.notify = fs_notify,
	.activate = fs_activate,
	.reset = fs_reset,
	.save = fs_save,
	.restore = fs_restore,
};

struct virtio_dev *virtio_fs_create(struct vmm *v, const char *tag, const char *socket,
				    struct cc_error *err)
{
	if (strlen(tag) == 0 || strlen(tag) > FS_TAG_MAX) {
		cc_error_set(err, 0, "--fs: tag must be 1..%d bytes", FS_TAG_MAX);
		return NULL;
	}
	struct fs *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		cc_error_set(err, ENOMEM, "virtio-fs");
		return NULL;
	}
	strncpy(f->tag, tag, FS_TAG_MAX); /* not NUL-terminated at 36 bytes, per the spec */
	if (vhost_user_connect(&f->vu, socket, &v->mem, err) < 0) {
		if (f->vu.fd >= 0)
			close(f->vu.fd);
		free(f);
		return NULL;
	}
	/* Offer only what both the backend and our transport handle. */
	virtio_dev_init(&f->dev, &fs_ops, f, 0);
	f->dev.backend_queues = true;
	return &f->dev;
}
