/* The Intel MP table: CPUs, IOAPIC and IRQ routing for an SMP guest without ACPI. */
#ifndef COCOON_VMM_MPTABLE_H
#define COCOON_VMM_MPTABLE_H

#include "shared/error.h"

struct vmm;

int mptable_write(struct vmm *v, unsigned cpus, struct cc_error *err);

#endif
