/* The VM's device set: devices_setup() creates the devices the configuration asks for
 * (each one file behind an ops table, its constructor declared in its own header) and
 * announces virtio devices on the kernel command line. */
#ifndef COCOON_VMM_DEVICES_H
#define COCOON_VMM_DEVICES_H

#include "shared/error.h"

struct vmm;

int devices_setup(struct vmm *v, struct cc_error *err);

#endif
