/* Boot paths (no firmware): PVH ELF entry and the Linux 64-bit protocol from a bzImage,
 * plus the tables both need (e820 map, MP table for SMP). */
#ifndef COCOON_VMM_BOOT_H
#define COCOON_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "shared/error.h"
#include "vmm/core/vcpu.h"

struct vmm;

#define E820_RAM 1
#define E820_RESERVED 2

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

/* Fills the guest memory map; returns the number of entries. */
unsigned e820_build(uint64_t ram_size, struct e820_entry out[], unsigned max);

/* The kernel image, read into memory once. */
struct kernel_image {
	const uint8_t *data;
	size_t size;
};

/* 1 when the image is an ELF (then it must carry the PVH note), 0 when it is not. */
int boot_is_elf(const struct kernel_image *k);
/* Loads the initrd at the top of RAM below max_end and not below min_start (the end of
 * the kernel); returns its gpa and size. */
int boot_load_initrd(struct vmm *v, const char *path, uint64_t min_start, uint64_t max_end,
		     uint64_t *gpa, uint64_t *size, struct cc_error *err);

#endif
