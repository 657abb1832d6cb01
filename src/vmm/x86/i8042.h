/* The i8042 controller's reset line: how a guest reboots (which ends the VM). */
#ifndef COCOON_VMM_I8042_H
#define COCOON_VMM_I8042_H

#include "shared/error.h"

struct vmm;

int i8042_create(struct vmm *v, struct cc_error *err);

#endif
