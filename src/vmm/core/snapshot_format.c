/* vm.state: encoding and the checking decoder. Layout (little-endian, docs/vmm.md):
 *   header (32 bytes): magic "COCNSNAP", u32 version, u32 machine (62 = x86-64),
 *                      u32 header size (32), u32 CRC-32 of the body, u64 body length
 *   body: records, each u16 type, u16 index, u32 length, then `length` payload bytes;
 *         VM first, END last, every other record exactly once per index.
 * The decoder trusts nothing: every length, index, count and guest address is checked,
 * and a truncated, corrupt or foreign file is refused with a message naming the field. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"
#include "vmm/core/snapshot.h"
#include "vmm/virtio/virtqueue.h"

#define REC_HDR 8
_Static_assert(sizeof(((struct snap_vcpu *)0)->xsave) == sizeof(struct kvm_xsave), "xsave");
#define MMIO_WINDOW_END (LAYOUT_MMIO_BASE + 0x1000000ull)

struct snap_header {
	char magic[8];
	uint32_t version, machine, header_size, crc;
	uint64_t body_len;
} __attribute__((packed));
_Static_assert(sizeof(struct snap_header) == SNAP_HEADER_SIZE, "header layout");

struct snap_vm_rec {
	uint32_t n_vcpus, n_devices;
	uint64_t mem_size;
} __attribute__((packed));

struct msrs_hdr {
	uint32_t n, pad;
} __attribute__((packed));

static const char *const rec_names[SNAP_REC_MAX + 1] = {
	[SNAP_REC_VM] = "VM",
	[SNAP_REC_REGS] = "REGS",
	[SNAP_REC_SREGS] = "SREGS",
	[SNAP_REC_FPU] = "FPU",
	[SNAP_REC_XSAVE] = "XSAVE",
	[SNAP_REC_XCRS] = "XCRS",
	[SNAP_REC_LAPIC] = "LAPIC",
	[SNAP_REC_MSRS] = "MSRS",
	[SNAP_REC_EVENTS] = "EVENTS",
	[SNAP_REC_MP_STATE] = "MP_STATE",
	[SNAP_REC_DEBUGREGS] = "DEBUGREGS",
	[SNAP_REC_IRQCHIP] = "IRQCHIP",
	[SNAP_REC_PIT] = "PIT",
	[SNAP_REC_CLOCK] = "CLOCK",
	[SNAP_REC_SERIAL] = "SERIAL",
	[SNAP_REC_DEVICE] = "DEVICE",
	[SNAP_REC_END] = "END",
};

const char *snap_record_name(unsigned type)
{
	return type <= SNAP_REC_MAX && rec_names[type] != NULL ? rec_names[type] : "unknown";
}

/* Per vCPU records with a fixed payload: where it lives in snap_vcpu and its size. */
static const struct {
	unsigned type;
	size_t off, size;
} vcpu_fixed[] = {
	{ SNAP_REC_REGS, offsetof(struct snap_vcpu, regs), sizeof(struct kvm_regs) },
	{ SNAP_REC_SREGS, offsetof(struct snap_vcpu, sregs), sizeof(struct kvm_sregs) },
	{ SNAP_REC_FPU, offsetof(struct snap_vcpu, fpu), sizeof(struct kvm_fpu) },
	{ SNAP_REC_XSAVE, offsetof(struct snap_vcpu, xsave),
	  sizeof(((struct snap_vcpu *)0)->xsave) },
	{ SNAP_REC_XCRS, offsetof(struct snap_vcpu, xcrs), sizeof(struct kvm_xcrs) },
	{ SNAP_REC_LAPIC, offsetof(struct snap_vcpu, lapic), sizeof(struct kvm_lapic_state) },
	{ SNAP_REC_EVENTS, offsetof(struct snap_vcpu, events), sizeof(struct kvm_vcpu_events) },
	{ SNAP_REC_MP_STATE, offsetof(struct snap_vcpu, mp_state), sizeof(struct kvm_mp_state) },
	{ SNAP_REC_DEBUGREGS, offsetof(struct snap_vcpu, debugregs), sizeof(struct kvm_debugregs) },
};

uint32_t snap_crc32(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	if (table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

/* ---- encoding ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

static int put(struct wbuf *w, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (w->len + n > w->cap) {
		size_t cap = w->cap * 2 + n;
		uint8_t *p = realloc(w->p, cap);
		if (p == NULL)
			return -1;
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
	return 0;
}

static int put_rec(struct wbuf *w, unsigned type, unsigned index, const void *a, size_t alen,
		   const void *b, size_t blen)
{
	struct {
		uint16_t type, index;
		uint32_t len;
	} __attribute__((packed)) h = { (uint16_t)type, (uint16_t)index, (uint32_t)(alen + blen) };
	return put(w, &h, sizeof(h)) < 0 || put(w, a, alen) < 0 || (blen > 0 && put(w, b, blen) < 0)
		       ? -1
		       : 0;
}

int snap_encode(const struct vm_state *s, uint8_t **out, size_t *out_len, struct cc_error *err)
{
	if (s->n_vcpus == 0 || s->n_vcpus > VMM_MAX_CPUS || s->n_devices > SNAP_MAX_DEVICES)
		return cc_error_set(err, 0, "snapshot: %u vCPUs and %u devices cannot be saved",
				    s->n_vcpus, s->n_devices);
	struct wbuf w = { 0 };
	struct snap_header h = { .version = SNAP_VERSION,
				 .machine = SNAP_MACHINE_X86_64,
				 .header_size = SNAP_HEADER_SIZE };
	memcpy(h.magic, SNAP_MAGIC, 8);
	struct snap_vm_rec vm = { s->n_vcpus, s->n_devices, s->mem_size };
	int rc = put(&w, &h, sizeof(h));
	rc |= put_rec(&w, SNAP_REC_VM, 0, &vm, sizeof(vm), NULL, 0);
	for (unsigned i = 0; i < s->n_vcpus; i++) {
		const struct snap_vcpu *c = &s->vcpu[i];
		for (size_t k = 0; k < CC_ARRAY_SIZE(vcpu_fixed); k++)
			rc |= put_rec(&w, vcpu_fixed[k].type, i,
				      (const uint8_t *)c + vcpu_fixed[k].off, vcpu_fixed[k].size,
				      NULL, 0);
		if (c->n_msrs > SNAP_MAX_MSRS) {
			free(w.p);
			return cc_error_set(err, 0, "snapshot: vCPU %u has %u MSRs", i, c->n_msrs);
		}
		struct msrs_hdr mh = { c->n_msrs, 0 };
		rc |= put_rec(&w, SNAP_REC_MSRS, i, &mh, sizeof(mh), c->msrs,
			      c->n_msrs * sizeof(c->msrs[0]));
	}
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++)
		rc |= put_rec(&w, SNAP_REC_IRQCHIP, i, &s->irqchip[i], sizeof(s->irqchip[i]), NULL,
			      0);
	rc |= put_rec(&w, SNAP_REC_PIT, 0, &s->pit, sizeof(s->pit), NULL, 0);
	rc |= put_rec(&w, SNAP_REC_CLOCK, 0, &s->clock, sizeof(s->clock), NULL, 0);
	rc |= put_rec(&w, SNAP_REC_SERIAL, 0, &s->serial, sizeof(s->serial), NULL, 0);
	for (unsigned i = 0; i < s->n_devices; i++)
		rc |= put_rec(&w, SNAP_REC_DEVICE, i, &s->dev[i], sizeof(s->dev[i]), NULL, 0);
	rc |= put_rec(&w, SNAP_REC_END, 0, NULL, 0, NULL, 0);
	if (rc != 0) {
		free(w.p);
		return cc_error_set(err, ENOMEM, "snapshot: encoding the state");
	}
	struct snap_header *hp = (struct snap_header *)w.p;
	hp->body_len = w.len - SNAP_HEADER_SIZE;
	hp->crc = snap_crc32(w.p + SNAP_HEADER_SIZE, w.len - SNAP_HEADER_SIZE);
	*out = w.p;
	*out_len = w.len;
	return 0;
}

void snap_fix_crc(uint8_t *buf, size_t len)
{
	if (len < SNAP_HEADER_SIZE)
		return;
	struct snap_header *h = (struct snap_header *)buf;
	h->crc = snap_crc32(buf + SNAP_HEADER_SIZE, len - SNAP_HEADER_SIZE);
}

/* ---- decoding ---- */

static int check_queue(const struct snap_device *d, unsigned di, unsigned q, uint64_t mem,
		       struct cc_error *err)
{
	const struct snap_virtq *v = &d->vq[q];
	uint64_t n = v->size;
	if (v->ready > 1)
		return cc_error_set(err, 0, "device %u queue %u: ready flag %u is not 0 or 1", di,
				    q, v->ready);
	if (n > VQ_MAX_SIZE || (n & (n - 1)) != 0)
		return cc_error_set(err, 0,
				    "device %u queue %u: size %llu is not a power of two <= %d", di,
				    q, (unsigned long long)n, VQ_MAX_SIZE);
	if (!v->ready)
		return 0;
	struct {
		const char *name;
		uint64_t gpa, len, align;
	} rings[] = { { "descriptor table", v->desc, 16 * n, 16 },
		      { "avail ring", v->avail, 6 + 2 * n, 2 },
		      { "used ring", v->used, 6 + 8 * n, 4 } };
	if (n == 0)
		return cc_error_set(err, 0, "device %u queue %u: ready with size 0", di, q);
	for (size_t i = 0; i < CC_ARRAY_SIZE(rings); i++)
		if (rings[i].gpa % rings[i].align != 0 || rings[i].gpa > mem ||
		    rings[i].len > mem - rings[i].gpa)
			return cc_error_set(
				err, 0,
				"device %u queue %u: %s at 0x%llx (+%llu) is not inside RAM "
				"or not aligned",
				di, q, rings[i].name, (unsigned long long)rings[i].gpa,
				(unsigned long long)rings[i].len);
	return 0;
}

static int check_device(const struct snap_device *d, unsigned di, uint64_t mem,
			struct cc_error *err)
{
	if (d->mmio_base < LAYOUT_MMIO_BASE || d->mmio_base >= MMIO_WINDOW_END ||
	    (d->mmio_base & 0xfff) != 0)
		return cc_error_set(err, 0, "device %u: MMIO base 0x%llx outside the virtio window",
				    di, (unsigned long long)d->mmio_base);
	if (d->irq < 5 || d->irq > 23)
		return cc_error_set(err, 0, "device %u: interrupt line %u not in 5..23", di,
				    d->irq);
	if (d->num_queues == 0 || d->num_queues > VIRTIO_MAX_QUEUES)
		return cc_error_set(err, 0, "device %u: %u queues (1..%d)", di, d->num_queues,
				    VIRTIO_MAX_QUEUES);
	if (d->driver_features & ~d->features)
		return cc_error_set(
			err, 0, "device %u: driver features 0x%llx beyond the offered 0x%llx", di,
			(unsigned long long)d->driver_features, (unsigned long long)d->features);
	if (d->status > 0xff)
		return cc_error_set(err, 0, "device %u: status 0x%x is not a byte", di, d->status);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (q >= d->num_queues && (d->vq[q].ready || d->vq[q].size != 0))
			return cc_error_set(err, 0,
					    "device %u: queue %u set up beyond its %u queues", di,
					    q, d->num_queues);
		if (check_queue(d, di, q, mem, err) < 0)
			return -1;
	}
	return 0;
}

/* What a record must look like: its payload size and how many indices it takes. */
static int expect(const struct vm_state *s, unsigned type, unsigned index, uint32_t len,
		  const uint8_t *payload, size_t *size, struct cc_error *err)
{
	unsigned max_index = 1;
	switch (type) {
	case SNAP_REC_VM: *size = sizeof(struct snap_vm_rec); break;
	case SNAP_REC_MSRS: {
		max_index = s->n_vcpus;
		if (len < sizeof(struct msrs_hdr))
			return cc_error_set(err, 0, "record MSRS of vCPU %u: %u bytes, too short",
					    index, len);
		struct msrs_hdr mh;
		memcpy(&mh, payload, sizeof(mh));
		if (mh.n > SNAP_MAX_MSRS)
			return cc_error_set(err, 0, "record MSRS of vCPU %u: %u MSRs, at most %d",
					    index, mh.n, SNAP_MAX_MSRS);
		*size = sizeof(mh) + mh.n * sizeof(struct kvm_msr_entry);
		break;
	}
	case SNAP_REC_IRQCHIP:
		max_index = SNAP_IRQCHIPS;
		*size = sizeof(struct kvm_irqchip);
		break;
	case SNAP_REC_PIT: *size = sizeof(struct kvm_pit_state2); break;
	case SNAP_REC_CLOCK: *size = sizeof(struct kvm_clock_data); break;
	case SNAP_REC_SERIAL: *size = sizeof(struct snap_serial); break;
	case SNAP_REC_DEVICE:
		max_index = s->n_devices;
		*size = sizeof(struct snap_device);
		break;
	case SNAP_REC_END: *size = 0; break;
	default:
		*size = 0;
		for (size_t k = 0; k < CC_ARRAY_SIZE(vcpu_fixed); k++)
			if (vcpu_fixed[k].type == type)
				*size = vcpu_fixed[k].size;
		if (*size == 0)
			return cc_error_set(err, 0, "unknown record type %u", type);
		max_index = s->n_vcpus;
	}
	if (index >= max_index)
		return cc_error_set(err, 0, "record %s: index %u out of range (%u)",
				    snap_record_name(type), index, max_index);
	if (len != *size)
		return cc_error_set(err, 0, "record %s %u: %u bytes, expected %zu",
				    snap_record_name(type), index, len, *size);
	return 0;
}

static int check_vm(const struct snap_vm_rec *vm, struct cc_error *err)
{
	if (vm->n_vcpus == 0 || vm->n_vcpus > VMM_MAX_CPUS)
		return cc_error_set(err, 0, "record VM: %u vCPUs (1..%d)", vm->n_vcpus,
				    VMM_MAX_CPUS);
	if (vm->n_devices > SNAP_MAX_DEVICES)
		return cc_error_set(err, 0, "record VM: %u devices (at most %d)", vm->n_devices,
				    SNAP_MAX_DEVICES);
	if (vm->mem_size < (2ull << 20) || vm->mem_size > LAYOUT_RAM_MAX ||
	    (vm->mem_size & ((1ull << 20) - 1)) != 0)
		return cc_error_set(err, 0,
				    "record VM: memory size %llu is not 2..%llu MiB in whole MiB",
				    (unsigned long long)vm->mem_size,
				    (unsigned long long)(LAYOUT_RAM_MAX >> 20));
	return 0;
}

/* Bitmaps of records seen, to refuse duplicates and find missing ones. */
struct seen {
	uint32_t vcpu[VMM_MAX_CPUS]; /* bit = record type */
	uint32_t global;	     /* bit = record type, index 0 */
	uint8_t irqchip, dev[SNAP_MAX_DEVICES];
};

static bool mark(struct seen *sn, unsigned type, unsigned index)
{
	uint32_t bit = 1u << type;
	uint32_t *word;
	if (type == SNAP_REC_IRQCHIP) {
		bool was = sn->irqchip & (1u << index);
		sn->irqchip |= (uint8_t)(1u << index);
		return !was;
	}
	if (type == SNAP_REC_DEVICE) {
		bool was = sn->dev[index];
		sn->dev[index] = 1;
		return !was;
	}
	bool global = type == SNAP_REC_VM || type == SNAP_REC_PIT || type == SNAP_REC_CLOCK ||
		      type == SNAP_REC_SERIAL || type == SNAP_REC_END;
	word = global ? &sn->global : &sn->vcpu[index];
	bool was = *word & bit;
	*word |= bit;
	return !was;
}

static void store(struct vm_state *s, unsigned type, unsigned index, const uint8_t *p, size_t n)
{
	switch (type) {
	case SNAP_REC_MSRS: {
		struct msrs_hdr mh;
		memcpy(&mh, p, sizeof(mh));
		s->vcpu[index].n_msrs = mh.n;
		memcpy(s->vcpu[index].msrs, p + sizeof(mh), n - sizeof(mh));
		return;
	}
	case SNAP_REC_IRQCHIP: memcpy(&s->irqchip[index], p, n); return;
	case SNAP_REC_PIT: memcpy(&s->pit, p, n); return;
	case SNAP_REC_CLOCK: memcpy(&s->clock, p, n); return;
	case SNAP_REC_SERIAL: memcpy(&s->serial, p, n); return;
	case SNAP_REC_DEVICE: memcpy(&s->dev[index], p, n); return;
	}
	for (size_t k = 0; k < CC_ARRAY_SIZE(vcpu_fixed); k++)
		if (vcpu_fixed[k].type == type)
			memcpy((uint8_t *)&s->vcpu[index] + vcpu_fixed[k].off, p, n);
}

static int check_complete(const struct vm_state *s, const struct seen *sn, struct cc_error *err)
{
	static const unsigned global[] = { SNAP_REC_PIT, SNAP_REC_CLOCK, SNAP_REC_SERIAL };
	for (unsigned i = 0; i < s->n_vcpus; i++) {
		for (size_t k = 0; k < CC_ARRAY_SIZE(vcpu_fixed); k++)
			if (!(sn->vcpu[i] & (1u << vcpu_fixed[k].type)))
				return cc_error_set(err, 0, "record %s of vCPU %u is missing",
						    snap_record_name(vcpu_fixed[k].type), i);
		if (!(sn->vcpu[i] & (1u << SNAP_REC_MSRS)))
			return cc_error_set(err, 0, "record MSRS of vCPU %u is missing", i);
	}
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++)
		if (!(sn->irqchip & (1u << i)))
			return cc_error_set(err, 0, "record IRQCHIP %u is missing", i);
	for (size_t k = 0; k < CC_ARRAY_SIZE(global); k++)
		if (!(sn->global & (1u << global[k])))
			return cc_error_set(err, 0, "record %s is missing",
					    snap_record_name(global[k]));
	for (unsigned i = 0; i < s->n_devices; i++)
		if (!sn->dev[i])
			return cc_error_set(err, 0, "record DEVICE %u is missing", i);
	return 0;
}

static int check_contents(const struct vm_state *s, struct cc_error *err)
{
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++)
		if (s->irqchip[i].chip_id != i)
			return cc_error_set(err, 0, "record IRQCHIP %u holds chip %u", i,
					    s->irqchip[i].chip_id);
	if (s->serial.rx_head >= sizeof(s->serial.rx) || s->serial.rx_len > sizeof(s->serial.rx))
		return cc_error_set(err, 0,
				    "record SERIAL: receive FIFO head %u / length %u out of range",
				    s->serial.rx_head, s->serial.rx_len);
	for (unsigned i = 0; i < s->n_devices; i++) {
		if (check_device(&s->dev[i], i, s->mem_size, err) < 0)
			return -1;
		for (unsigned j = 0; j < i; j++)
			if (s->dev[j].mmio_base == s->dev[i].mmio_base ||
			    s->dev[j].irq == s->dev[i].irq)
				return cc_error_set(
					err, 0,
					"devices %u and %u share an MMIO window or an interrupt line",
					j, i);
	}
	return 0;
}

int snap_decode(const uint8_t *buf, size_t len, struct vm_state *s, struct cc_error *err)
{
	struct snap_header h;
	memset(s, 0, sizeof(*s));
	if (len < sizeof(h))
		return cc_error_set(err, 0, "truncated: %zu bytes, the header alone is %d", len,
				    SNAP_HEADER_SIZE);
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, SNAP_MAGIC, 8) != 0)
		return cc_error_set(err, 0, "not a cocoon-vmm snapshot (bad magic)");
	if (h.version != SNAP_VERSION)
		return cc_error_set(err, 0, "snapshot format version %u, this cocoon-vmm reads %d",
				    h.version, SNAP_VERSION);
	if (h.machine != SNAP_MACHINE_X86_64)
		return cc_error_set(err, 0, "snapshot of machine type %u, not x86-64 (%d)",
				    h.machine, SNAP_MACHINE_X86_64);
	if (h.header_size != SNAP_HEADER_SIZE)
		return cc_error_set(err, 0, "header size %u, expected %d", h.header_size,
				    SNAP_HEADER_SIZE);
	if (h.body_len != len - SNAP_HEADER_SIZE)
		return cc_error_set(
			err, 0,
			"truncated or padded: the header says %llu body bytes, the file has %zu",
			(unsigned long long)h.body_len, len - SNAP_HEADER_SIZE);
	if (snap_crc32(buf + SNAP_HEADER_SIZE, len - SNAP_HEADER_SIZE) != h.crc)
		return cc_error_set(err, 0, "checksum mismatch: the file is corrupt");

	struct seen sn;
	memset(&sn, 0, sizeof(sn));
	size_t off = SNAP_HEADER_SIZE;
	bool end = false;
	while (!end) {
		struct {
			uint16_t type, index;
			uint32_t len;
		} __attribute__((packed)) r;
		if (off == len)
			return cc_error_set(err, 0, "no END record: the file ends at offset %zu",
					    off);
		if (len - off < REC_HDR)
			return cc_error_set(err, 0,
					    "record at offset %zu: header runs past the end", off);
		memcpy(&r, buf + off, REC_HDR);
		off += REC_HDR;
		if (r.len > len - off)
			return cc_error_set(err, 0,
					    "record %s at offset %zu: %u bytes run past the end",
					    snap_record_name(r.type), off - REC_HDR, r.len);
		if ((r.type == SNAP_REC_VM) != (off == SNAP_HEADER_SIZE + REC_HDR))
			return cc_error_set(
				err, 0,
				"record %s at offset %zu: the VM record must come first, once",
				snap_record_name(r.type), off - REC_HDR);
		size_t size = 0;
		if (expect(s, r.type, r.index, r.len, buf + off, &size, err) < 0)
			return -1;
		if (!mark(&sn, r.type, r.index))
			return cc_error_set(err, 0, "record %s %u appears twice",
					    snap_record_name(r.type), r.index);
		if (r.type == SNAP_REC_VM) {
			struct snap_vm_rec vm;
			memcpy(&vm, buf + off, sizeof(vm));
			if (check_vm(&vm, err) < 0)
				return -1;
			s->n_vcpus = vm.n_vcpus;
			s->n_devices = vm.n_devices;
			s->mem_size = vm.mem_size;
		} else if (r.type == SNAP_REC_END) {
			end = true;
		} else {
			store(s, r.type, r.index, buf + off, size);
		}
		off += r.len;
	}
	if (off != len)
		return cc_error_set(err, 0, "%zu bytes after the END record", len - off);
	if (check_complete(s, &sn, err) < 0)
		return -1;
	return check_contents(s, err);
}
