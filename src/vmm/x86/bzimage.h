/* Linux's 64-bit boot protocol from a bzImage. */
#ifndef COCOON_VMM_BZIMAGE_H
#define COCOON_VMM_BZIMAGE_H

#include "shared/error.h"
#include "vmm/x86/boot.h"

int boot_bzimage(struct vmm *v, const struct kernel_image *k, struct boot_entry *e,
		 struct cc_error *err);

#endif
