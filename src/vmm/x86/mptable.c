/* Intel MultiProcessor table at the end of base memory, so a guest without ACPI finds
 * its CPUs, the IOAPIC and the interrupt routing (Linux: CONFIG_X86_MPPARSE). */
#include <string.h>

#include "vmm/x86/boot.h"
#include "vmm/x86/mptable.h"
#include "vmm/core/vmm.h"

#define APIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define LAPIC_ADDR 0xfee00000u
#define IOAPIC_ADDR 0xfec00000u
#define IOAPIC_PINS 24

struct __attribute__((packed)) mpf {
	char sig[4];
	uint32_t physptr;
	uint8_t length, spec_rev, checksum, feature[5];
};
struct __attribute__((packed)) mpc_header {
	char sig[4];
	uint16_t length;
	uint8_t spec_rev, checksum;
	char oem[8], product[12];
	uint32_t oem_ptr;
	uint16_t oem_size, count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum, reserved;
};
struct __attribute__((packed)) mpc_cpu {
	uint8_t type, apic_id, apic_ver, flags;
	uint32_t signature, features, reserved[2];
};
struct __attribute__((packed)) mpc_bus {
	uint8_t type, bus_id;
	char bus_type[6];
};
struct __attribute__((packed)) mpc_ioapic {
	uint8_t type, id, ver, flags;
	uint32_t addr;
};
struct __attribute__((packed)) mpc_intsrc {
	uint8_t type, irq_type;
	uint16_t irq_flag;
	uint8_t src_bus, src_irq, dst_apic, dst_irq;
};

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return (uint8_t)-s;
}

int mptable_write(struct vmm *v, unsigned cpus, struct cc_error *err)
{
	size_t size = sizeof(struct mpf) + sizeof(struct mpc_header) +
		      cpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + (IOAPIC_PINS + 2) * sizeof(struct mpc_intsrc);
	uint8_t *base = gmem_ptr(&v->mem, LAYOUT_MPTABLE, size);
	if (base == NULL || size > 0xa0000 - LAYOUT_MPTABLE)
		return cc_error_set(err, 0, "MP table does not fit for %u CPUs", cpus);
	memset(base, 0, size);
	struct mpf *f = (struct mpf *)base;
	struct mpc_header *h = (struct mpc_header *)(f + 1);
	uint8_t *p = (uint8_t *)(h + 1);
	uint16_t count = 0;

	for (unsigned i = 0; i < cpus; i++, count++) {
		struct mpc_cpu c = { .type = 0,
				     .apic_id = (uint8_t)i,
				     .apic_ver = APIC_VERSION,
				     .flags = (uint8_t)(1 | (i == 0 ? 2 : 0)),
				     .signature = 0x600,
				     .features = 0x201 /* FPU, APIC */ };
		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
	}
	struct mpc_bus bus = { .type = 1,
			       .bus_id = 0,
			       .bus_type = { 'I', 'S', 'A', ' ', ' ', ' ' } };
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	count++;
	uint8_t ioapic_id = (uint8_t)cpus;
	struct mpc_ioapic io = {
		.type = 2, .id = ioapic_id, .ver = IOAPIC_VERSION, .flags = 1, .addr = IOAPIC_ADDR
	};
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	count++;
	for (uint8_t pin = 0; pin < IOAPIC_PINS; pin++, count++) {
		struct mpc_intsrc s = { .type = 3,
					.irq_type = 0,
					.src_bus = 0,
					.src_irq = pin,
					.dst_apic = ioapic_id,
					.dst_irq = pin };
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
	}
	struct mpc_intsrc extint = { .type = 4, .irq_type = 3, .dst_apic = 0xff, .dst_irq = 0 };
	struct mpc_intsrc nmi = { .type = 4, .irq_type = 1, .dst_apic = 0xff, .dst_irq = 1 };
	memcpy(p, &extint, sizeof(extint));
	p += sizeof(extint);
	memcpy(p, &nmi, sizeof(nmi));
	p += sizeof(nmi);
	count += 2;

	memcpy(h->sig, "PCMP", 4);
	h->length = (uint16_t)(p - (uint8_t *)h);
	h->spec_rev = 4;
	memcpy(h->oem, "COCOON  ", 8);
	memcpy(h->product, "COCOON-VMM  ", 12);
	h->count = count;
	h->lapic = LAPIC_ADDR;
	h->checksum = checksum((uint8_t *)h, h->length);

	memcpy(f->sig, "_MP_", 4);
	f->physptr = (uint32_t)(LAYOUT_MPTABLE + sizeof(*f));
	f->length = 1;
	f->spec_rev = 4;
	f->checksum = checksum((uint8_t *)f, sizeof(*f));
	return 0;
}
