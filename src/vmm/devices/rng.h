/* virtio-rng: entropy from the host's getrandom(). */
#ifndef COCOON_VMM_VIRTIO_RNG_H
#define COCOON_VMM_VIRTIO_RNG_H

#include "shared/error.h"

struct virtio_dev;

struct virtio_dev *virtio_rng_create(struct cc_error *err);

#endif
