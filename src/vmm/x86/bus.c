#include "vmm/x86/bus.h"

#include <string.h>

int bus_add(struct bus *b, const char *name, uint64_t base, uint64_t len,
	    const struct bus_dev_ops *ops, void *opaque, struct cc_error *err)
{
	if (b->n == BUS_MAX_RANGES)
		return cc_error_set(err, 0, "too many devices on the bus");
	for (unsigned i = 0; i < b->n; i++)
		if (base < b->r[i].base + b->r[i].len && b->r[i].base < base + len)
			return cc_error_set(err, 0, "device range 0x%llx+0x%llx overlaps another",
					    (unsigned long long)base, (unsigned long long)len);
	b->r[b->n++] = (struct bus_range){ base, len, ops, opaque, name, 0 };
	return 0;
}

bool bus_access(struct bus *b, uint64_t addr, void *data, uint32_t len, bool write)
{
	for (unsigned i = 0; i < b->n; i++) {
		struct bus_range *r = &b->r[i];
		if (addr < r->base || addr - r->base >= r->len || len > r->len - (addr - r->base))
			continue;
		__atomic_fetch_add(&r->hits, 1, __ATOMIC_RELAXED);
		if (write)
			r->ops->write(r->opaque, addr - r->base, data, len);
		else
			r->ops->read(r->opaque, addr - r->base, data, len);
		return true;
	}
	if (!write)
		memset(data, 0xff, len);
	return false;
}
