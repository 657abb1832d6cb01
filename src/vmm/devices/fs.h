/* virtio-fs: the queues are served by a vhost-user backend (virtiofsd). */
#ifndef COCOON_VMM_VIRTIO_FS_H
#define COCOON_VMM_VIRTIO_FS_H

#include "shared/error.h"

struct vmm;
struct virtio_dev;

struct virtio_dev *virtio_fs_create(struct vmm *v, const char *tag, const char *socket,
				    struct cc_error *err);

#endif
