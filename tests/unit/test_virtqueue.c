/* Split virtqueue walker and virtio device error state against synthetic guest memory:
 * plain and indirect chains, index wrap-around, and every kind of malformed chain a
 * hostile guest can build (out-of-range addresses, loops, huge lengths, bad indices).
 * A malformed chain must be reported (-1) and put the device in NEEDS_RESET, never
 * read outside guest RAM (ASan would catch it: RAM is an exact-size heap block). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "shared/log.h"
#include "vmm/devices/rng.h"
#include "vmm/virtio/virtio.h"
#include "vmm/devices/blk.h"
#include "vmm/devices/net.h"
#include "vmm/virtio/virtqueue.h"

#define RAM (64 * 1024)
#define QSIZE 8
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define INDIRECT 0x4000
#define DATA 0x8000

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct fixture {
	struct guest_mem mem;
	struct virtq q;
	struct vq_chain c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->mem = (struct guest_mem){ .host = calloc(1, RAM), .size = RAM, .fd = -1 };
	f->q = (struct virtq){
		.size = QSIZE, .ready = true, .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->mem.host);
	free(f);
	return 0;
}

static struct desc *desc_at(struct fixture *f, uint64_t table, unsigned i)
{
	return (struct desc *)(f->mem.host + table + 16 * i);
}

static void set_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*desc_at(f, DESC, i) = (struct desc){ addr, len, flags, next };
}

static uint16_t *avail_idx(struct fixture *f)
{
	return (uint16_t *)(f->mem.host + AVAIL + 2);
}

/* Puts head in the next avail slot and bumps avail->idx. */
static void offer(struct fixture *f, uint16_t head)
{
	uint16_t idx = *avail_idx(f);
	((uint16_t *)(f->mem.host + AVAIL + 4))[idx % QSIZE] = head;
	*avail_idx(f) = (uint16_t)(idx + 1);
}

static void test_validate(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(virtq_validate(&f->q, &f->mem), 0);
	f->q.size = 6; /* not a power of two */
	assert_int_equal(virtq_validate(&f->q, &f->mem), -1);
	f->q.size = 512; /* above the maximum */
	assert_int_equal(virtq_validate(&f->q, &f->mem), -1);
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC + 8; /* misaligned */
	assert_int_equal(virtq_validate(&f->q, &f->mem), -1);
	f->q.desc_gpa = RAM - 16; /* table runs past the end of RAM */
	assert_int_equal(virtq_validate(&f->q, &f->mem), -1);
	f->q.desc_gpa = DESC;
	f->q.used_gpa = UINT64_MAX - 3; /* wraps around the address space */
	assert_int_equal(virtq_validate(&f->q, &f->mem), -1);
}

static void test_empty_and_simple_chain(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 0);

	memcpy(f->mem.host + DATA, "hello", 5);
	set_desc(f, 0, DATA, 5, VIRTQ_DESC_F_NEXT, 3);
	set_desc(f, 3, DATA + 0x100, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
	set_desc(f, 5, DATA + 0x200, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 1);
	assert_int_equal(f->c.head, 0);
	assert_int_equal(f->c.n_out, 1);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.out_len, 5);
	assert_int_equal(f->c.in_len, 12);

	char buf[8] = { 0 };
	assert_int_equal(vq_read(&f->c, 1, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ello", 4);
	/* Writes scatter across the writable segments and stop at their end. */
	assert_int_equal(vq_write(&f->c, 2, "abcdefghijklmnop", 16), 10);
	assert_memory_equal(f->mem.host + DATA + 0x102, "ab", 2);
	assert_memory_equal(f->mem.host + DATA + 0x200, "cdefghij", 8);

	virtq_push(&f->q, &f->mem, f->c.head, 12);
	uint16_t used_idx;
	uint32_t elem[2];
	memcpy(&used_idx, f->mem.host + USED + 2, 2);
	memcpy(elem, f->mem.host + USED + 4, 8);
	assert_int_equal(used_idx, 1);
	assert_int_equal(elem[0], 0);
	assert_int_equal(elem[1], 12);
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 0);
}

static void test_indirect(void **state)
{
	struct fixture *f = *state;
	*desc_at(f, INDIRECT, 0) = (struct desc){ DATA, 16, VIRTQ_DESC_F_NEXT, 2 };
	*desc_at(f, INDIRECT, 2) = (struct desc){ DATA + 0x100, 32, VIRTQ_DESC_F_NEXT, 1 };
	*desc_at(f, INDIRECT, 1) = (struct desc){ DATA + 0x200, 1, VIRTQ_DESC_F_WRITE, 0 };
	set_desc(f, 4, INDIRECT, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 4);
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 1);
	assert_int_equal(f->c.head, 4);
	assert_int_equal(f->c.n_out, 2);
	assert_int_equal(f->c.n_in, 1);
	assert_int_equal(f->c.out_len, 48);
	assert_ptr_equal(f->c.seg[2].ptr, f->mem.host + DATA + 0x200);
}

static void test_wrap_around(void **state)
{
	struct fixture *f = *state;
	/* Ring indices are free-running u16: start just below the wrap. */
	f->q.last_avail = 0xfffe;
	f->q.used_idx = 0xfffe;
	*avail_idx(f) = 0xfffe;
	set_desc(f, 1, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
	for (int i = 0; i < 4; i++) {
		offer(f, 1);
		assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 1);
		assert_int_equal(f->c.head, 1);
		virtq_push(&f->q, &f->mem, 1, 8);
	}
	assert_int_equal(*avail_idx(f), 2);
	assert_int_equal(f->q.last_avail, 2);
	uint16_t used_idx;
	memcpy(&used_idx, f->mem.host + USED + 2, 2);
	assert_int_equal(used_idx, 2);
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 0);
}

/* Each builder makes one malformed chain at head 0. */
static void bad_addr(struct fixture *f)
{
	set_desc(f, 0, RAM - 4, 8, 0, 0); /* straddles the end of RAM */
}
static void bad_huge_len(struct fixture *f)
{
	set_desc(f, 0, DATA, 0xffffffff, 0, 0);
}
static void bad_addr_wraps(struct fixture *f)
{
	set_desc(f, 0, UINT64_MAX - 1, 16, 0, 0);
}
static void bad_loop(struct fixture *f)
{
	set_desc(f, 0, DATA, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA, 1, VIRTQ_DESC_F_NEXT, 0);
}
static void bad_self_loop(struct fixture *f)
{
	set_desc(f, 0, DATA, 1, VIRTQ_DESC_F_NEXT, 0);
}
static void bad_next_index(struct fixture *f)
{
	set_desc(f, 0, DATA, 1, VIRTQ_DESC_F_NEXT, QSIZE);
}
static void bad_head_index(struct fixture *f)
{
	((uint16_t *)(f->mem.host + AVAIL + 4))[0] = QSIZE + 3;
}
static void bad_avail_idx(struct fixture *f)
{
	set_desc(f, 0, DATA, 1, 0, 0);
	*avail_idx(f) = QSIZE + 1; /* more pending than the ring holds */
}
static void bad_order(struct fixture *f)
{
	set_desc(f, 0, DATA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(f, 1, DATA, 1, 0, 0); /* readable after writable */
}
static void bad_nested_indirect(struct fixture *f)
{
	*desc_at(f, INDIRECT, 0) = (struct desc){ INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0 };
	set_desc(f, 0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0);
}
static void bad_indirect_with_next(struct fixture *f)
{
	*desc_at(f, INDIRECT, 0) = (struct desc){ DATA, 1, 0, 0 };
	set_desc(f, 0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA, 1, 0, 0);
}
static void bad_indirect_len(struct fixture *f)
{
	set_desc(f, 0, INDIRECT, 24, VIRTQ_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
}
static void bad_indirect_table_addr(struct fixture *f)
{
	set_desc(f, 0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
}
static void bad_indirect_loop(struct fixture *f)
{
	*desc_at(f, INDIRECT, 0) = (struct desc){ DATA, 1, VIRTQ_DESC_F_NEXT, 1 };
	*desc_at(f, INDIRECT, 1) = (struct desc){ DATA, 1, VIRTQ_DESC_F_NEXT, 0 };
	set_desc(f, 0, INDIRECT, 32, VIRTQ_DESC_F_INDIRECT, 0);
}
static void bad_indirect_next_out_of_table(struct fixture *f)
{
	*desc_at(f, INDIRECT, 0) = (struct desc){ DATA, 1, VIRTQ_DESC_F_NEXT, 5 };
	set_desc(f, 0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0);
}
static void bad_too_many_segments(struct fixture *f)
{
	/* A 4096-entry indirect table that is one long legal-looking chain. */
	for (unsigned i = 0; i < 1024; i++)
		*desc_at(f, 0x10000 - 0x4000, i) =
			(struct desc){ DATA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1) };
	set_desc(f, 0, 0x10000 - 0x4000, 1024 * 16, VIRTQ_DESC_F_INDIRECT, 0);
}

static void (*const malformed[])(struct fixture *) = {
	bad_addr,
	bad_huge_len,
	bad_addr_wraps,
	bad_loop,
	bad_self_loop,
	bad_next_index,
	bad_head_index,
	bad_avail_idx,
	bad_order,
	bad_nested_indirect,
	bad_indirect_with_next,
	bad_indirect_len,
	bad_indirect_table_addr,
	bad_indirect_loop,
	bad_indirect_next_out_of_table,
	bad_too_many_segments,
};

static void test_malformed_chains(void **state)
{
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct fixture *f;
		setup((void **)&f);
		offer(f, 0);
		malformed[i](f);
		if (virtq_pop(&f->q, &f->mem, &f->c) != -1)
			fail_msg("malformed chain #%zu was accepted", i);
		teardown((void **)&f);
	}
	(void)state;
}

/* A virtio-rng device on the fixture's RAM, negotiated and DRIVER_OK. */
static struct virtio_dev *running_rng(struct fixture *f)
{
	struct cc_error err = { 0 };
	struct virtio_dev *d = virtio_rng_create(&err);
	assert_non_null(d);
	d->mem = &f->mem;
	d->driver_features = VIRTIO_F_VERSION_1;
	virtio_dev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return d;
}

/* A device fed a malformed chain enters NEEDS_RESET, raises a config interrupt, ignores
 * further kicks, and works again after the driver resets it. */
static void test_device_error_state(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *d = running_rng(f);
	assert_true(virtio_dev_running(d));
	d->vq[0] = f->q;
	d->vq[0].ready = false;
	virtio_dev_queue_ready(d, 0, true);
	assert_true(d->vq[0].ready);

	set_desc(f, 0, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	virtio_dev_kick(d, 0);
	assert_int_equal(d->vq[0].used_idx, 1);
	assert_int_equal(d->interrupts, 1);

	bad_loop(f);
	set_desc(f, 1, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	offer(f, 1);
	virtio_dev_kick(d, 0);
	assert_true(d->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_dev_running(d));
	assert_true(d->isr & VIRTIO_ISR_CONFIG);
	assert_non_null(strstr(d->error, "malformed"));
	/* The driver cannot clear NEEDS_RESET by writing status... */
	virtio_dev_set_status(d, d->status & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET);
	assert_true(d->status & VIRTIO_STATUS_NEEDS_RESET);
	/* ...and a stopped device does not touch the ring. */
	set_desc(f, 1, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 1);
	virtio_dev_kick(d, 0);
	assert_int_equal(d->vq[0].used_idx, 1);
	/* Reset clears it. */
	virtio_dev_set_status(d, 0);
	assert_int_equal(d->status, 0);
	assert_string_equal(d->error, "");
	/* A queue placed outside RAM is refused at QueueReady. */
	virtio_dev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	d->vq[0] = (struct virtq){
		.size = QSIZE, .desc_gpa = RAM, .avail_gpa = AVAIL, .used_gpa = USED
	};
	virtio_dev_queue_ready(d, 0, true);
	assert_false(d->vq[0].ready);
	assert_true(d->status & VIRTIO_STATUS_NEEDS_RESET);
	free(d);
}

/* A guest that lays the used ring over the avail index (and starts the queue with the
 * used index ahead) makes every completion announce a new buffer. The device must
 * still return from the kick after at most a queue's worth of chains. */
static void test_device_writes_cannot_loop(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *d = running_rng(f);
	f->q.used_gpa = AVAIL;
	f->q.used_idx = 1;
	f->q.ready = false;
	d->vq[0] = f->q;
	virtio_dev_queue_ready(d, 0, true);
	assert_true(d->vq[0].ready);
	set_desc(f, 0, DATA, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	virtio_dev_kick(d, 0);
	assert_int_equal(d->vq[0].last_avail, QSIZE);
	free(d);
}

static void test_features_negotiation(void **state)
{
	(void)state;
	struct cc_error err = { 0 };
	struct virtio_dev *d = virtio_rng_create(&err);
	assert_non_null(d);
	/* Without VERSION_1 (legacy driver) FEATURES_OK does not stick. */
	d->driver_features = 0;
	virtio_dev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					 VIRTIO_STATUS_FEATURES_OK);
	assert_false(d->status & VIRTIO_STATUS_FEATURES_OK);
	/* Features the device never offered are refused too. */
	d->driver_features = VIRTIO_F_VERSION_1 | (1ull << 40);
	virtio_dev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_false(d->status & VIRTIO_STATUS_DRIVER_OK);
	free(d);
}

/* virtio-blk request layout: header, data, status. */
static void chain_of(struct fixture *f, const uint32_t *lens, const uint16_t *flags, unsigned n)
{
	uint64_t addr = DATA;
	for (unsigned i = 0; i < n; i++) {
		set_desc(f, i, addr, lens[i],
			 (uint16_t)(flags[i] | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			 (uint16_t)(i + 1));
		addr += (lens[i] + 15) & ~15u;
	}
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 1);
}

static void blk_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	memcpy(f->mem.host + DATA, &type, 4);
	memcpy(f->mem.host + DATA + 8, &sector, 8);
}

static void test_blk_parse(void **state)
{
	struct fixture *f = *state;
	struct blk_request r;
	const uint16_t W = VIRTQ_DESC_F_WRITE;

	blk_hdr(f, VIRTIO_BLK_T_IN, 2);
	chain_of(f, (uint32_t[]){ 16, 1024, 1 }, (uint16_t[]){ 0, W, W }, 3);
	assert_int_equal(blk_parse_request(&f->c, 8, &r), 0);
	assert_int_equal(r.type, VIRTIO_BLK_T_IN);
	assert_int_equal(r.sector, 2);
	assert_int_equal(r.data_len, 1024);
	assert_int_equal(r.status_code, VIRTIO_BLK_S_OK);
	/* Past the end of the disk: an I/O error for the guest, not a protocol break. */
	assert_int_equal(blk_parse_request(&f->c, 3, &r), 0);
	assert_int_equal(r.status_code, VIRTIO_BLK_S_IOERR);
	blk_hdr(f, VIRTIO_BLK_T_IN, UINT64_MAX);
	assert_int_equal(blk_parse_request(&f->c, 8, &r), 0);
	assert_int_equal(r.status_code, VIRTIO_BLK_S_IOERR);
	/* Data that is not whole sectors. */
	blk_hdr(f, VIRTIO_BLK_T_IN, 0);
	chain_of(f, (uint32_t[]){ 16, 100, 1 }, (uint16_t[]){ 0, W, W }, 3);
	assert_int_equal(blk_parse_request(&f->c, 8, &r), -1);
	/* Header shorter than 16 bytes, or no status byte. */
	chain_of(f, (uint32_t[]){ 8, 1 }, (uint16_t[]){ 0, W }, 2);
	assert_int_equal(blk_parse_request(&f->c, 8, &r), -1);
	chain_of(f, (uint32_t[]){ 16, 512 }, (uint16_t[]){ 0, 0 }, 2);
	assert_int_equal(blk_parse_request(&f->c, 8, &r), -1);
	/* Write: data is the readable part after the header. */
	blk_hdr(f, VIRTIO_BLK_T_OUT, 1);
	chain_of(f, (uint32_t[]){ 16, 512, 1 }, (uint16_t[]){ 0, 0, W }, 3);
	assert_int_equal(blk_parse_request(&f->c, 8, &r), 0);
	assert_int_equal(r.data_first, 1);
	assert_int_equal(r.data_len, 512);
}

/* A tx frame reaches the tap behind a header of zeroes, whatever header the guest wrote:
 * no offload was negotiated, so GSO or checksum requests must never reach the host's
 * tap driver. The frame after the guest's header goes out unchanged, split or not. */
static void test_net_tx_header_zeroed(void **state)
{
	struct fixture *f = *state;
	uint8_t hostile[NET_HDR_LEN] = { 1, 1, 0xff, 0xff, 1, 0, 0xff, 0xff, 0xff, 0xff, 1, 0 };
	const char frame[] = "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x08\x00payload";
	memcpy(f->mem.host + DATA, hostile, NET_HDR_LEN);
	memcpy(f->mem.host + DATA + NET_HDR_LEN, frame, 10);
	memcpy(f->mem.host + DATA + 0x100, frame + 10, sizeof(frame) - 10);
	set_desc(f, 0, DATA, NET_HDR_LEN + 10, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA + 0x100, sizeof(frame) - 10, 0, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->mem, &f->c), 1);
	assert_int_equal(net_check_tx(&f->c), 0);
	struct iovec iov[VQ_MAX_SEGS + 1];
	unsigned n = net_tx_iov(&f->c, iov);
	uint8_t out[256];
	size_t len = 0;
	for (unsigned k = 0; k < n; k++) {
		assert_true(len + iov[k].iov_len <= sizeof(out));
		memcpy(out + len, iov[k].iov_base, iov[k].iov_len);
		len += iov[k].iov_len;
	}
	assert_int_equal(len, NET_HDR_LEN + sizeof(frame));
	static const uint8_t zero[NET_HDR_LEN];
	assert_memory_equal(out, zero, NET_HDR_LEN);
	assert_memory_equal(out + NET_HDR_LEN, frame, sizeof(frame));
}

int main(void)
{
	cc_log_init("test_virtqueue", CC_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_simple_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrap_around, setup, teardown),
		cmocka_unit_test(test_malformed_chains),
		cmocka_unit_test_setup_teardown(test_device_error_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_writes_cannot_loop, setup, teardown),
		cmocka_unit_test(test_features_negotiation),
		cmocka_unit_test_setup_teardown(test_blk_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_tx_header_zeroed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
