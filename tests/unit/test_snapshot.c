/* Snapshot format (src/vmm/core/snapshot_format.c) and guest RAM files (snapshot.c) without
 * KVM: every saved state block survives encode → decode unchanged, and the decoder
 * refuses truncated, corrupt and foreign files and every malformed record with an error
 * naming what is wrong (never reading outside the buffer: ASan). RAM goes through a real
 * memfd: only touched, non-zero pages are written, and only they are filled on load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/util.h"
#include "vmm/devices/blk.h"
#include "vmm/devices/rng.h"
#include "vmm/virtio/mmio.h"
#include "vmm/x86/serial.h"
#include "vmm/core/snapshot.h"

/* Fills a state with bytes that differ per block and per vCPU, then makes the fields
 * the decoder checks valid. */
static struct vm_state *sample(unsigned n_vcpus, unsigned n_devices, unsigned seed)
{
	struct vm_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	uint8_t *p = (uint8_t *)s;
	for (size_t i = 0; i < sizeof(*s); i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 9));
	s->n_vcpus = n_vcpus;
	s->n_devices = n_devices;
	s->mem_size = 64ull << 20;
	for (unsigned i = 0; i < SNAP_IRQCHIPS; i++)
		s->irqchip[i].chip_id = i;
	s->serial.rx_head = 3;
	s->serial.rx_len = 10;
	for (unsigned i = 0; i < n_vcpus; i++)
		s->vcpu[i].n_msrs = 20 + i;
	for (unsigned i = 0; i < SNAP_MAX_DEVICES; i++) {
		struct snap_device *d = &s->dev[i];
		d->mmio_base = LAYOUT_MMIO_BASE + 0x1000ull * i;
		d->irq = 5 + i;
		d->num_queues = 3;
		d->features = 0x1000000ffull;
		d->driver_features = 0x100000003ull;
		d->status = 0xf;
		memset(d->vq, 0, sizeof(d->vq));
		for (unsigned q = 0; q < 3; q++)
			d->vq[q] = (struct snap_virtq){ .desc = 0x10000 + 0x1000 * q,
							.avail = 0x20000 + 0x1000 * q,
							.used = 0x30000 + 0x1000 * q,
							.size = 128,
							.last_avail = (uint16_t)(q + seed),
							.used_idx = (uint16_t)(q * 2 + seed),
							.ready = 1 };
	}
	return s;
}

static uint8_t *encode(const struct vm_state *s, size_t *len)
{
	uint8_t *buf;
	struct cc_error err;
	assert_int_equal(snap_encode(s, &buf, len, &err), 0);
	return buf;
}

static void expect_refused(const uint8_t *buf, size_t len, const char *needle)
{
	struct vm_state *s = malloc(sizeof(*s));
	struct cc_error err = { 0 };
	assert_non_null(s);
	int rc = snap_decode(buf, len, s, &err);
	free(s);
	if (rc == 0 || strstr(err.msg, needle) == NULL)
		fail_msg("decode: rc %d, error '%s', expected one containing '%s'", rc, err.msg,
			 needle);
}

static void expect_same(const struct vm_state *a, const struct vm_state *b)
{
	assert_int_equal(a->n_vcpus, b->n_vcpus);
	assert_int_equal(a->n_devices, b->n_devices);
	assert_true(a->mem_size == b->mem_size);
	assert_memory_equal(a->irqchip, b->irqchip, sizeof(a->irqchip));
	assert_memory_equal(&a->pit, &b->pit, sizeof(a->pit));
	assert_memory_equal(&a->clock, &b->clock, sizeof(a->clock));
	assert_memory_equal(&a->serial, &b->serial, sizeof(a->serial));
	assert_memory_equal(a->dev, b->dev, a->n_devices * sizeof(a->dev[0]));
	for (unsigned i = 0; i < a->n_vcpus; i++) {
		const struct snap_vcpu *x = &a->vcpu[i], *y = &b->vcpu[i];
		assert_int_equal(x->n_msrs, y->n_msrs);
		assert_memory_equal(x->msrs, y->msrs, x->n_msrs * sizeof(x->msrs[0]));
#define SAME(f) assert_memory_equal(&x->f, &y->f, sizeof(x->f))
		SAME(regs);
		SAME(sregs);
		SAME(fpu);
		SAME(xsave);
		SAME(xcrs);
		SAME(lapic);
		SAME(events);
		SAME(mp_state);
		SAME(debugregs);
#undef SAME
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	struct cc_error err;
	for (unsigned n = 1; n <= VMM_MAX_CPUS; n += 15) {
		struct vm_state *s = sample(n, n % 5, n), *d = malloc(sizeof(*d));
		size_t len, len2;
		uint8_t *buf = encode(s, &len);
		assert_non_null(d);
		assert_int_equal(snap_decode(buf, len, d, &err), 0);
		expect_same(s, d);
		/* Encoding what was decoded gives the same bytes. */
		uint8_t *again = encode(d, &len2);
		assert_int_equal(len, len2);
		assert_memory_equal(buf, again, len);
		free(again);
		free(buf);
		free(s);
		free(d);
	}
}

/* Each saved block on its own: changing it changes the file, and it comes back as set. */
static void test_round_trip_each_block(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		size_t off, size;
	} blocks[] = {
#define VCPU(f) { #f, offsetof(struct vm_state, vcpu[1].f), sizeof(((struct snap_vcpu *)0)->f) }
		VCPU(regs),
		VCPU(sregs),
		VCPU(fpu),
		VCPU(xsave),
		VCPU(xcrs),
		VCPU(lapic),
		VCPU(events),
		VCPU(mp_state),
		VCPU(debugregs),
		VCPU(msrs[0]),
		VCPU(msrs[20]),
#undef VCPU
		{ "irqchip[1]", offsetof(struct vm_state, irqchip[1].chip.pic),
		  sizeof(struct kvm_pic_state) },
		{ "ioapic", offsetof(struct vm_state, irqchip[2].chip.ioapic),
		  sizeof(struct kvm_ioapic_state) },
		{ "pit", offsetof(struct vm_state, pit), sizeof(struct kvm_pit_state2) },
		{ "clock", offsetof(struct vm_state, clock), sizeof(struct kvm_clock_data) },
		{ "serial.rx", offsetof(struct vm_state, serial.rx), 64 },
		{ "serial regs", offsetof(struct vm_state, serial), 8 },
		{ "device queue", offsetof(struct vm_state, dev[1].vq[2].last_avail), 4 },
		{ "device features", offsetof(struct vm_state, dev[0].driver_features), 8 },
		{ "device private", offsetof(struct vm_state, dev[1].dev_state), SNAP_DEV_STATE },
	};
	struct cc_error err;
	struct vm_state *base = sample(2, 2, 1), *d = malloc(sizeof(*d));
	size_t base_len;
	uint8_t *base_buf = encode(base, &base_len);
	assert_non_null(d);
	for (size_t b = 0; b < CC_ARRAY_SIZE(blocks); b++) {
		struct vm_state *s = malloc(sizeof(*s));
		assert_non_null(s);
		memcpy(s, base, sizeof(*s));
		uint8_t *p = (uint8_t *)s + blocks[b].off;
		for (size_t i = 0; i < blocks[b].size; i++)
			p[i] = (uint8_t)(p[i] ^ (0x5a + i));
		if (strcmp(blocks[b].name, "device features") == 0)
			s->dev[0].driver_features = 0x100000001ull; /* still within the offer */
		size_t len;
		uint8_t *buf = encode(s, &len);
		assert_int_equal(len, base_len);
		if (memcmp(buf, base_buf, len) == 0)
			fail_msg("block %s is not in the file", blocks[b].name);
		if (snap_decode(buf, len, d, &err) < 0)
			fail_msg("block %s: %s", blocks[b].name, err.msg);
		if (memcmp((uint8_t *)d + blocks[b].off, p, blocks[b].size) != 0)
			fail_msg("block %s changed on the way", blocks[b].name);
		expect_same(s, d);
		free(buf);
		free(s);
	}
	free(base_buf);
	free(base);
	free(d);
}

/* Offset of record (type, index) in an encoded image, or 0. */
static size_t find_rec(const uint8_t *buf, size_t len, unsigned type, unsigned index)
{
	for (size_t off = SNAP_HEADER_SIZE; off + 8 <= len;) {
		uint16_t t, i;
		uint32_t n;
		memcpy(&t, buf + off, 2);
		memcpy(&i, buf + off + 2, 2);
		memcpy(&n, buf + off + 4, 4);
		if (t == type && i == index)
			return off;
		off += 8 + n;
	}
	return 0;
}

static void set_body_len(uint8_t *buf, size_t len)
{
	uint64_t body = len - SNAP_HEADER_SIZE;
	memcpy(buf + 24, &body, 8);
	snap_fix_crc(buf, len);
}

static void test_refuses_foreign_and_corrupt(void **state)
{
	(void)state;
	struct vm_state *s = sample(1, 1, 2);
	size_t len;
	uint8_t *buf = encode(s, &len), *c = malloc(len);
	assert_non_null(c);
	expect_refused(buf, 10, "truncated: 10 bytes, the header alone is 32");
	memcpy(c, buf, len);
	memcpy(c, "ELF\x7f", 4);
	expect_refused(c, len, "not a cocoon-vmm snapshot (bad magic)");
	memcpy(c, buf, len);
	c[8] = 2;
	expect_refused(c, len, "snapshot format version 2, this cocoon-vmm reads 1");
	memcpy(c, buf, len);
	c[12] = 183; /* aarch64 */
	expect_refused(c, len, "snapshot of machine type 183, not x86-64");
	memcpy(c, buf, len);
	c[16] = 64;
	expect_refused(c, len, "header size 64, expected 32");
	memcpy(c, buf, len);
	c[len / 2] ^= 1;
	expect_refused(c, len, "checksum mismatch: the file is corrupt");
	/* Every truncation, as a torn write leaves it. */
	for (size_t n = 0; n < len; n += n < 400 ? 1 : 97)
		expect_refused(buf, n, n < SNAP_HEADER_SIZE ? "truncated" : "truncated or padded");
	/* Truncations whose header was made to match: the records themselves must tell. */
	for (size_t n = SNAP_HEADER_SIZE; n < len; n += n < 400 ? 1 : 89) {
		memcpy(c, buf, n);
		set_body_len(c, n);
		struct vm_state *d = malloc(sizeof(*d));
		struct cc_error err;
		assert_non_null(d);
		assert_int_equal(snap_decode(c, n, d, &err), -1);
		free(d);
	}
	free(c);
	free(buf);
	free(s);
}

/* One record changed in a valid image (checksum fixed), and the error expected. */
static void patch_refused(const struct vm_state *s, unsigned type, unsigned index, size_t at,
			  const void *bytes, size_t n, const char *needle)
{
	size_t len;
	uint8_t *buf = encode(s, &len);
	size_t off = find_rec(buf, len, type, index);
	assert_true(off != 0);
	memcpy(buf + off + at, bytes, n);
	snap_fix_crc(buf, len);
	expect_refused(buf, len, needle);
	free(buf);
}

static void test_refuses_bad_records(void **state)
{
	(void)state;
	struct vm_state *s = sample(2, 2, 3);
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	u16 = 99;
	patch_refused(s, SNAP_REC_LAPIC, 1, 0, &u16, 2, "unknown record type 99");
	u16 = 5;
	patch_refused(s, SNAP_REC_REGS, 1, 2, &u16, 2, "record REGS: index 5 out of range (2)");
	u32 = 1000;
	patch_refused(s, SNAP_REC_LAPIC, 0, 4, &u32, 4,
		      "record LAPIC 0: 1000 bytes, expected 1024");
	u32 = 0x7fffffff;
	patch_refused(s, SNAP_REC_XSAVE, 1, 4, &u32, 4, "bytes run past the end");
	u16 = SNAP_REC_SREGS; /* REGS of vCPU 0 becomes a second SREGS, which has another size */
	patch_refused(s, SNAP_REC_REGS, 0, 0, &u16, 2, "record SREGS 0");
	u16 = 1; /* REGS of vCPU 0 claims to be vCPU 1's: a duplicate */
	patch_refused(s, SNAP_REC_REGS, 0, 2, &u16, 2, "record REGS 1 appears twice");
	u16 = SNAP_REC_REGS; /* the VM record first, always */
	patch_refused(s, SNAP_REC_VM, 0, 0, &u16, 2, "the VM record must come first");
	u32 = 300;
	patch_refused(s, SNAP_REC_MSRS, 1, 8, &u32, 4,
		      "record MSRS of vCPU 1: 300 MSRs, at most 256");
	u32 = 21;
	patch_refused(s, SNAP_REC_MSRS, 0, 8, &u32, 4, "record MSRS 0: 328 bytes, expected 344");
	u32 = 33;
	patch_refused(s, SNAP_REC_VM, 0, 8, &u32, 4, "record VM: 33 vCPUs (1..32)");
	u32 = 17;
	patch_refused(s, SNAP_REC_VM, 0, 12, &u32, 4, "record VM: 17 devices (at most 16)");
	u64 = (64ull << 20) + 4096;
	patch_refused(s, SNAP_REC_VM, 0, 16, &u64, 8, "memory size 67112960 is not 2..3072 MiB");
	u32 = 0; /* IRQCHIP record 1 holding chip 0 */
	patch_refused(s, SNAP_REC_IRQCHIP, 1, 8, &u32, 4, "record IRQCHIP 1 holds chip 0");
	uint8_t rx[3] = { 64, 0, 0 };
	patch_refused(s, SNAP_REC_SERIAL, 0, 8 + 9, rx, 1, "receive FIFO head 64");
	const size_t dev = 8; /* device record payload offsets */
	u32 = 30;
	patch_refused(s, SNAP_REC_DEVICE, 1, dev + 4, &u32, 4,
		      "device 1: interrupt line 30 not in 5..23");
	u64 = 0xc0000000;
	patch_refused(s, SNAP_REC_DEVICE, 0, dev + 8, &u64, 8,
		      "device 0: MMIO base 0xc0000000 outside");
	u64 = LAYOUT_MMIO_BASE;
	patch_refused(s, SNAP_REC_DEVICE, 1, dev + 8, &u64, 8, "devices 0 and 1 share");
	u32 = 9;
	patch_refused(s, SNAP_REC_DEVICE, 0, dev + offsetof(struct snap_device, num_queues), &u32,
		      4, "device 0: 9 queues (1..8)");
	u64 = 1ull << 40;
	patch_refused(s, SNAP_REC_DEVICE, 0, dev + offsetof(struct snap_device, driver_features),
		      &u64, 8, "driver features 0x10000000000 beyond the offered");
	const size_t q1 = dev + offsetof(struct snap_device, vq[1]);
	u64 = (64ull << 20) - 16; /* descriptor table running past the end of RAM */
	patch_refused(s, SNAP_REC_DEVICE, 1, q1 + offsetof(struct snap_virtq, desc), &u64, 8,
		      "device 1 queue 1: descriptor table at 0x3fffff0 (+2048) is not inside RAM");
	u64 = 0x20001;
	patch_refused(s, SNAP_REC_DEVICE, 1, q1 + offsetof(struct snap_virtq, avail), &u64, 8,
		      "device 1 queue 1: avail ring at 0x20001");
	u16 = 100;
	patch_refused(s, SNAP_REC_DEVICE, 0, q1 + offsetof(struct snap_virtq, size), &u16, 2,
		      "device 0 queue 1: size 100 is not a power of two <= 256");
	u16 = 512;
	patch_refused(s, SNAP_REC_DEVICE, 0, q1 + offsetof(struct snap_virtq, size), &u16, 2,
		      "size 512 is not a power of two <= 256");
	const size_t q5 = dev + offsetof(struct snap_device, vq[5]);
	uint8_t one = 1;
	patch_refused(s, SNAP_REC_DEVICE, 0, q5 + offsetof(struct snap_virtq, ready), &one, 1,
		      "device 0: queue 5 set up beyond its 3 queues");

	/* A record missing, bytes after END, no END at all. */
	size_t len;
	uint8_t *buf = encode(s, &len), *c = malloc(len + 16);
	assert_non_null(c);
	size_t off = find_rec(buf, len, SNAP_REC_LAPIC, 1),
	       next = find_rec(buf, len, SNAP_REC_EVENTS, 1);
	memcpy(c, buf, off);
	memcpy(c + off, buf + next, len - next);
	set_body_len(c, len - (next - off));
	expect_refused(c, len - (next - off), "record LAPIC of vCPU 1 is missing");
	off = find_rec(buf, len, SNAP_REC_DEVICE, 1);
	memcpy(c, buf, len);
	memmove(c + off, c + len - 8, 8); /* END where DEVICE 1 was */
	set_body_len(c, off + 8);
	expect_refused(c, off + 8, "record DEVICE 1 is missing");
	memcpy(c, buf, len);
	memset(c + len, 0, 16);
	set_body_len(c, len + 16);
	expect_refused(c, len + 16, "16 bytes after the END record");
	set_body_len(c, len - 8);
	expect_refused(c, len - 8, "no END record: the file ends at offset");
	free(c);
	free(buf);
	free(s);
}

/* ---- guest RAM ---- */

struct tmp {
	char dir[64];
	int dirfd;
};

static void tmp_make(struct tmp *t)
{
	strcpy(t->dir, "/tmp/cocoon-snap-test.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->dirfd >= 0);
}

static void tmp_remove(struct tmp *t)
{
	struct cc_error err;
	close(t->dirfd);
	assert_int_equal(cc_rm_rf(t->dir, &err), 0);
}

static uint64_t allocated(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void test_memory_round_trip(void **state)
{
	(void)state;
	struct guest_mem a, b;
	struct cc_error err;
	struct tmp t;
	uint64_t pages;
	tmp_make(&t);
	assert_int_equal(gmem_create(&a, 8 << 20, &err), 0);
	assert_int_equal(gmem_create(&b, 8 << 20, &err), 0);
	/* Three pages with data, one touched but zero, the rest never touched. */
	memset(a.host, 0xab, 4096);
	a.host[5 * 4096 + 17] = 1;
	memset(a.host + (8 << 20) - 4096, 0x5c, 4096);
	a.host[7 * 4096] = 0;
	assert_int_equal(snap_memory_save(&a, t.dirfd, &pages, &err), 0);
	assert_int_equal(pages, 3);

	char path[128];
	snprintf(path, sizeof(path), "%s/%s", t.dir, SNAP_MEMORY_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(allocated(fd) <= 64 * 1024); /* sparse: holes for the rest */
	close(fd);

	assert_int_equal(snap_memory_load(&b, t.dir, &pages, &err), 0);
	/* The new memfd holds the snapshot's pages only (the file system may round extents),
	 * checked before the comparison below reads, and so allocates, every page. */
	assert_true(allocated(b.fd) >= 3 * 4096 && allocated(b.fd) <= 64 * 1024);
	assert_memory_equal(a.host, b.host, 8 << 20);

	/* A second save into the same directory is refused, the files are kept. */
	assert_int_equal(snap_memory_save(&a, t.dirfd, &pages, &err), -1);
	assert_int_equal(err.err_no, EEXIST);

	gmem_destroy(&b);
	assert_int_equal(gmem_create(&b, 16 << 20, &err), 0);
	assert_int_equal(snap_memory_load(&b, t.dir, &pages, &err), -1);
	assert_non_null(strstr(err.msg, "8388608 bytes, the snapshot's RAM is 16777216"));
	gmem_destroy(&a);
	gmem_destroy(&b);
	tmp_remove(&t);
}

static void test_read_names_the_file(void **state)
{
	(void)state;
	struct tmp t;
	struct cc_error err;
	struct vm_state *out = NULL;
	tmp_make(&t);
	assert_int_equal(snapshot_read(t.dir, &out, &err), -1);
	assert_non_null(strstr(err.msg, SNAP_STATE_FILE));

	struct vm_state *s = sample(1, 0, 4);
	size_t len;
	uint8_t *buf = encode(s, &len);
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", t.dir, SNAP_STATE_FILE);
	assert_int_equal(cc_write_file(path, buf, len - 1, 0600, &err), 0);
	assert_int_equal(snapshot_read(t.dir, &out, &err), -1);
	char want[256];
	snprintf(want, sizeof(want), "snapshot %s: truncated or padded", path);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error '%s'", err.msg);
	assert_int_equal(cc_write_file(path, buf, len, 0600, &err), 0);
	assert_int_equal(snapshot_read(t.dir, &out, &err), 0);
	expect_same(s, out);
	free(out);
	free(buf);
	free(s);
	tmp_remove(&t);
}

/* The fd variants (--restore-fd) check what the path variants check and name the file
 * they were given. */
static void test_fd_variants(void **state)
{
	(void)state;
	struct tmp t;
	struct cc_error err;
	struct vm_state *out = NULL;
	tmp_make(&t);
	struct vm_state *s = sample(2, 1, 8);
	size_t len;
	uint8_t *buf = encode(s, &len);
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", t.dir, SNAP_STATE_FILE);
	assert_int_equal(cc_write_file(path, buf, len - 3, 0600, &err), 0);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(snapshot_read_fd(fd, "--restore-fd", &out, &err), -1);
	assert_non_null(strstr(err.msg, "snapshot --restore-fd: truncated or padded"));
	close(fd);
	assert_int_equal(cc_write_file(path, buf, len, 0600, &err), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(snapshot_read_fd(fd, "--restore-fd", &out, &err), 0);
	expect_same(s, out);
	free(out);
	close(fd);
	fd = open(t.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(snapshot_read_fd(fd, "--restore-fd", &out, &err), -1);
	assert_non_null(strstr(err.msg, "--restore-fd: not a regular file"));
	close(fd);

	struct guest_mem a;
	uint64_t pages;
	assert_int_equal(gmem_create(&a, 4 << 20, &err), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(snap_memory_load_fd(&a, fd, "--restore-fd", &pages, &err), -1);
	assert_non_null(strstr(err.msg, "--restore-fd: "));
	assert_non_null(strstr(err.msg, "bytes, the snapshot's RAM is 4194304"));
	close(fd);
	gmem_destroy(&a);
	free(buf);
	free(s);
	tmp_remove(&t);
}

/* An interrupt in flight at the pause: its IOAPIC line in service (remote IRR) but no
 * saved LAPIC holds the vector. Saved as idle; a line whose vector a LAPIC has pending
 * or in service is kept. */
static void test_settle_ioapic(void **state)
{
	(void)state;
	struct vm_state *s = sample(2, 0, 4);
	struct kvm_ioapic_state *io = &s->irqchip[KVM_IRQCHIP_IOAPIC].chip.ioapic;
	for (unsigned i = 0; i < s->n_vcpus; i++)
		memset(s->vcpu[i].lapic.regs + 0x100, 0, 0x180);
	io->redirtbl[5].fields.vector = 0x25;
	io->redirtbl[5].fields.remote_irr = 1; /* in flight: no LAPIC has 0x25 */
	io->redirtbl[6].fields.vector = 0x26;
	io->redirtbl[6].fields.remote_irr = 1; /* in service on vCPU 1 */
	uint32_t isr;
	memcpy(&isr, s->vcpu[1].lapic.regs + 0x100 + (0x26 / 32) * 16, 4);
	isr |= 1u << (0x26 % 32);
	memcpy(s->vcpu[1].lapic.regs + 0x100 + (0x26 / 32) * 16, &isr, 4);
	io->redirtbl[7].fields.vector = 0x47;
	io->redirtbl[7].fields.remote_irr = 1; /* pending on vCPU 0 */
	uint32_t irr = 1u << (0x47 % 32);
	memcpy(s->vcpu[0].lapic.regs + 0x200 + (0x47 / 32) * 16, &irr, 4);
	snap_settle_ioapic(s);
	assert_int_equal(io->redirtbl[5].fields.remote_irr, 0);
	assert_int_equal(io->redirtbl[6].fields.remote_irr, 1);
	assert_int_equal(io->redirtbl[7].fields.remote_irr, 1);
	free(s);
}

/* ---- device state through the real device models ---- */

static void reg_write(void *t, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(t, off, &v, 4);
}

static uint32_t reg_read(void *t, uint64_t off)
{
	uint32_t v;
	virtio_mmio_ops.read(t, off, &v, 4);
	return v;
}

/* A virtio-rng driven through its register window (features, one queue, DRIVER_OK),
 * saved, and restored into a fresh device: the new window reads back the same. */
static void test_virtio_transport_round_trip(void **state)
{
	(void)state;
	struct cc_error err;
	uint8_t *ram = calloc(1, 64 * 1024);
	assert_non_null(ram);
	struct guest_mem mem = { .host = ram, .size = 64 * 1024, .fd = -1 };
	struct virtio_dev *a = virtio_rng_create(&err), *b = virtio_rng_create(&err);
	assert_non_null(a);
	assert_non_null(b);
	a->mem = b->mem = &mem;
	void *ta = virtio_mmio_new(a), *tb = virtio_mmio_new(b);
	assert_non_null(ta);
	assert_non_null(tb);
	reg_write(ta, 0x70, 3);	     /* ACKNOWLEDGE | DRIVER */
	reg_write(ta, 0x24, 1);	     /* driver features, high word */
	reg_write(ta, 0x20, 1);	     /* VIRTIO_F_VERSION_1 */
	reg_write(ta, 0x70, 11);     /* FEATURES_OK */
	reg_write(ta, 0x30, 0);	     /* queue 0 */
	reg_write(ta, 0x38, 16);     /* size */
	reg_write(ta, 0x80, 0x1000); /* descriptor table */
	reg_write(ta, 0x90, 0x2000); /* avail ring */
	reg_write(ta, 0xa0, 0x3000); /* used ring */
	reg_write(ta, 0x44, 1);	     /* ready */
	reg_write(ta, 0x70, 15);     /* DRIVER_OK */
	reg_write(ta, 0x14, 1);	     /* device features selector */
	a->vq[0].last_avail = 300;   /* requests the device consumed */
	a->vq[0].used_idx = 299;
	a->isr = 1;
	struct snap_device s;
	virtio_mmio_save(ta, &s);
	assert_int_equal(s.device_id, 4);
	assert_int_equal(s.status, 15);
	assert_int_equal(s.vq[0].size, 16);
	assert_int_equal(s.vq[0].ready, 1);

	assert_int_equal(virtio_mmio_restore(tb, 0, &s, &err), 0);
	assert_int_equal(reg_read(tb, 0x70), 15);
	assert_int_equal(reg_read(tb, 0x44), 1);
	assert_int_equal(reg_read(tb, 0x60), 1);
	assert_int_equal(reg_read(tb, 0x10), 1); /* selector 1: VERSION_1's word */
	assert_true(b->driver_features == a->driver_features);
	assert_memory_equal(&b->vq[0], &a->vq[0], sizeof(a->vq[0]));

	/* The same window holding another kind of device is refused, by name. */
	char path[] = "/tmp/cocoon-snap-blk.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	struct virtio_dev *blk = virtio_blk_create(path, false, &err);
	unlink(path);
	close(fd);
	assert_non_null(blk);
	void *tc = virtio_mmio_new(blk);
	assert_int_equal(virtio_mmio_restore(tc, 2, &s, &err), -1);
	assert_non_null(strstr(err.msg, "device 2: the snapshot has virtio device type 4"));
	assert_non_null(strstr(err.msg, "this VM has virtio-blk (type 2)"));
	/* Same kind, other features: refused too. */
	s.features ^= 1;
	assert_int_equal(virtio_mmio_restore(tb, 0, &s, &err), -1);
	assert_non_null(
		strstr(err.msg, "device 0 (virtio-rng): the snapshot has 1 queues and features"));
	free(ta);
	free(tb);
	free(tc);
	free(a);
	free(b);
	free(blk->priv); /* the devices have no destructor: a VMM frees them by exiting */
	free(blk);
	free(ram);
}

/* The UART's registers and receive FIFO, through the port bus as a guest sees them. */
static void test_serial_round_trip(void **state)
{
	(void)state;
	struct cc_error err;
	struct vmm *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	a->vm_fd = b->vm_fd = -1; /* interrupt line changes go nowhere */
	assert_int_equal(loop_init(&a->loop, &err), 0);
	assert_int_equal(loop_init(&b->loop, &err), 0);
	assert_int_equal(serial_create(a, &err), 0);
	assert_int_equal(serial_create(b, &err), 0);
	uint8_t v;
	const uint8_t regs[][2] = { { 3, 0x83 }, { 0, 0x0c }, { 1, 0x00 }, { 3, 0x03 },
				    { 1, 0x01 }, { 4, 0x10 }, { 7, 0x5a }, { 0, 'x' } };
	for (size_t i = 0; i < CC_ARRAY_SIZE(regs); i++) {
		v = regs[i][1];
		bus_access(&a->pio, 0x3f8 + regs[i][0], &v, 1, true);
	}
	struct snap_serial s;
	serial_save(a, &s);
	assert_int_equal(s.dll, 0x0c);
	assert_int_equal(s.scr, 0x5a);
	assert_int_equal(s.rx_len, 1); /* 'x' looped back in loopback mode */
	serial_restore(b, &s);
	for (unsigned off = 1; off < 8; off++) {
		uint8_t x, y;
		bus_access(&a->pio, 0x3f8 + off, &x, 1, false);
		bus_access(&b->pio, 0x3f8 + off, &y, 1, false);
		if (off != 2) /* reading IIR may clear THRI: compared once, below */
			assert_int_equal(x, y);
	}
	bus_access(&b->pio, 0x3f8, &v, 1, false);
	assert_int_equal(v, 'x');
	loop_destroy(&a->loop);
	loop_destroy(&b->loop);
	free(a->pio.r[0].opaque);
	free(b->pio.r[0].opaque);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_each_block),
		cmocka_unit_test(test_refuses_foreign_and_corrupt),
		cmocka_unit_test(test_refuses_bad_records),
		cmocka_unit_test(test_memory_round_trip),
		cmocka_unit_test(test_read_names_the_file),
		cmocka_unit_test(test_fd_variants),
		cmocka_unit_test(test_settle_ioapic),
		cmocka_unit_test(test_virtio_transport_round_trip),
		cmocka_unit_test(test_serial_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
