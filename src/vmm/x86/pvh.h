/* PVH boot: an ELF kernel entered in 32-bit protected mode with hvm_start_info. */
#ifndef COCOON_VMM_PVH_H
#define COCOON_VMM_PVH_H

#include "shared/error.h"
#include "vmm/x86/boot.h"

int boot_pvh(struct vmm *v, const struct kernel_image *k, struct boot_entry *e,
	     struct cc_error *err);

#endif
