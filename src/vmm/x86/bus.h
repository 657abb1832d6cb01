/* Address decoding for port I/O and MMIO exits: each device claims one range and gets
 * offsets relative to its base. Accesses nobody claims read as all-ones. */
#ifndef COCOON_VMM_BUS_H
#define COCOON_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/error.h"

struct bus_dev_ops {
	void (*read)(void *opaque, uint64_t off, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const void *data, uint32_t len);
};

#define BUS_MAX_RANGES 32

struct bus {
	struct bus_range {
		uint64_t base, len;
		const struct bus_dev_ops *ops;
		void *opaque;
		const char *name; /* for the boot profile */
		uint64_t hits;	  /* accesses, counted for the boot profile */
	} r[BUS_MAX_RANGES];
	unsigned n;
};

int bus_add(struct bus *b, const char *name, uint64_t base, uint64_t len,
	    const struct bus_dev_ops *ops, void *opaque, struct cc_error *err);
/* Returns false when no device claims [addr, addr+len). */
bool bus_access(struct bus *b, uint64_t addr, void *data, uint32_t len, bool write);

#endif
