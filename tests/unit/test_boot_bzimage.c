/* The bzImage loader against synthetic images and guest memory: what a valid image puts
 * in the zero page and where it loads, and every field of a hostile file: bad magic, old
 * protocol, no 64-bit entry, setup_sects or syssize past the end, a header longer than
 * the file, addresses outside RAM, every truncation and every one-byte header change.
 * The image is an exact-size heap block, so ASan catches any read past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/x86/bzimage.h"
#include "vmm/core/vmm.h"

#define RAM (20ull << 20)
#define SETUP_LEN 0x400 /* setup_sects = 1 */
#define PAYLOAD_LEN 0x400
#define IMG_LEN (SETUP_LEN + PAYLOAD_LEN)
#define PREF 0x1000000ull
#define INIT_SIZE 0x100000u

struct fixture {
	struct vmm v;
	struct vmm_config cfg;
	uint8_t img[IMG_LEN];
	struct cc_error err;
	struct boot_entry e;
};

static void put(uint8_t *img, unsigned off, uint64_t v, unsigned len)
{
	memcpy(img + off, &v, len); /* little endian, like the boot protocol */
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->v.mem = (struct guest_mem){ .host = calloc(1, RAM), .size = RAM, .fd = -1 };
	f->v.cfg = &f->cfg;
	strcpy(f->v.cmdline, "console=ttyS0");
	f->v.cmdline_len = strlen(f->v.cmdline);
	uint8_t *img = f->img;
	put(img, 0x1f1, 1, 1);		      /* setup_sects */
	put(img, 0x1f4, PAYLOAD_LEN / 16, 4); /* syssize */
	put(img, 0x1fe, 0xaa55, 2);
	put(img, 0x200, 0xeb | 0x66 << 8, 2); /* jump: header ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	put(img, 0x206, 0x20c, 2);	/* version 2.12 */
	put(img, 0x22c, 0x7fffffff, 4); /* initrd_addr_max */
	put(img, 0x236, 1, 2);		/* xloadflags: XLF_KERNEL_64 */
	put(img, 0x238, 255, 4);	/* cmdline_size */
	put(img, 0x258, PREF, 8);	/* pref_address */
	put(img, 0x260, INIT_SIZE, 4);	/* init_size */
	memcpy(img + SETUP_LEN + 0x200, "ENTRY64", 7);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->v.mem.host);
	free(f);
	return 0;
}

/* Runs the loader on the first len bytes of img, copied to an exact-size block. */
static int load(struct fixture *f, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, f->img, len);
	struct kernel_image k = { copy, len };
	cc_error_clear(&f->err);
	int rc = boot_bzimage(&f->v, &k, &f->e, &f->err);
	free(copy);
	return rc;
}

static void expect_error(struct fixture *f, size_t len, const char *msg)
{
	assert_int_equal(load(f, len), -1);
	if (strstr(f->err.msg, msg) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", f->err.msg, msg);
}

static uint32_t bp32(struct fixture *f, unsigned off)
{
	uint32_t v;
	memcpy(&v, f->v.mem.host + LAYOUT_ZERO_PAGE + off, 4);
	return v;
}

static void test_valid_image(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, IMG_LEN), 0);
	assert_true(f->e.long_mode);
	assert_int_equal(f->e.ip, PREF + 0x200);
	assert_int_equal(f->e.rsi, LAYOUT_ZERO_PAGE);
	assert_memory_equal(f->v.mem.host + PREF + 0x200, "ENTRY64", 7);
	uint8_t *bp = f->v.mem.host + LAYOUT_ZERO_PAGE;
	assert_memory_equal(bp + 0x202, "HdrS", 4); /* setup header copied */
	assert_int_equal(bp[0x210], 0xff);	    /* type_of_loader */
	assert_int_equal(bp32(f, 0x228), LAYOUT_CMDLINE);
	assert_string_equal((char *)f->v.mem.host + LAYOUT_CMDLINE, "console=ttyS0");
	assert_int_equal(bp[0x1e8], 3); /* e820 entries; the last one ends at the top of RAM */
	uint64_t addr, size;
	memcpy(&addr, bp + 0x2d0 + 2 * 20, 8);
	memcpy(&size, bp + 0x2d0 + 2 * 20 + 8, 8);
	assert_int_equal(addr + size, RAM);
	assert_int_equal(bp32(f, 0x21c), 0); /* no initrd */
}

static void test_malformed_headers(void **state)
{
	struct fixture *f = *state;
	expect_error(f, 0, "no HdrS setup header");
	expect_error(f, 0x205, "no HdrS setup header");
	expect_error(f, 0x220, "bzImage truncated: 544 bytes, its setup header ends at 0x268");
	expect_error(f, IMG_LEN - 1,
		     "bzImage truncated: 1023 bytes after the setup sectors, "
		     "syssize says 1024");
	expect_error(f, SETUP_LEN, "setup_sects 1 puts the kernel at 0x400, past the end");

	memcpy(f->img + 0x202, "HdrZ", 4);
	expect_error(f, IMG_LEN, "no HdrS setup header");
	memcpy(f->img + 0x202, "HdrS", 4);
	put(f->img, 0x206, 0x20b, 2);
	expect_error(f, IMG_LEN, "boot protocol 2.11 is too old");
	put(f->img, 0x206, 0x20f, 2);
	put(f->img, 0x236, 0x2, 2); /* XLF_KERNEL_64 gone, another flag set */
	expect_error(f, IMG_LEN, "no 64-bit entry (XLF_KERNEL_64 not in xloadflags)");
	put(f->img, 0x236, 0x1, 2);
	put(f->img, 0x201, 0x50, 1); /* header ends at 0x252 */
	expect_error(f, IMG_LEN, "setup header ends at 0x252, before init_size");
	put(f->img, 0x201, 0xff, 1); /* the longest header a byte can describe: allowed */
	assert_int_equal(load(f, IMG_LEN), 0);
	put(f->img, 0x1f1, 0xff, 1);
	expect_error(f, IMG_LEN,
		     "setup_sects 255 puts the kernel at 0x20000, past the end of "
		     "the file (2048 bytes)");
	put(f->img, 0x1f1, 0, 1); /* 0 means 4: the kernel at 0xa00 */
	expect_error(f, IMG_LEN, "setup_sects 4 puts the kernel at 0xa00");
	put(f->img, 0x1f1, 1, 1);
	put(f->img, 0x1f4, 0xffffffff, 4);
	expect_error(f, IMG_LEN, "syssize says 68719476720");
}

static void test_load_address(void **state)
{
	struct fixture *f = *state;
	/* Outside the identity map (first 1 GiB), below 1 MiB, or wrapping: refused unless
	 * relocatable, then loaded at 16 MiB. */
	const uint64_t bad[] = { 0x40000000, 0x80000, UINT64_MAX - 0x100, RAM - 0x1000 };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(f->img, 0x258, bad[i], 8);
		put(f->img, 0x234, 0, 1);
		expect_error(f, IMG_LEN, "not relocatable");
		put(f->img, 0x234, 1, 1);
		assert_int_equal(load(f, IMG_LEN), 0);
		assert_int_equal(f->e.ip, 0x1000000 + 0x200);
	}
	put(f->img, 0x258, 0x200000, 8); /* a relocatable kernel that fits stays put */
	assert_int_equal(load(f, IMG_LEN), 0);
	assert_int_equal(f->e.ip, 0x200000 + 0x200);
	put(f->img, 0x260, 0xffffffff, 4); /* init_size beyond RAM, even at 16 MiB */
	expect_error(f, IMG_LEN,
		     "needs 0xffffffff bytes (init_size) from 0x1000000, more than "
		     "guest RAM");
}

static void test_cmdline_size(void **state)
{
	struct fixture *f = *state;
	put(f->img, 0x238, 13, 4); /* exactly "console=ttyS0" */
	assert_int_equal(load(f, IMG_LEN), 0);
	put(f->img, 0x238, 12, 4);
	expect_error(f, IMG_LEN, "command line is 13 bytes, the bzImage takes at most 12");
}

static void test_initrd_above_kernel(void **state)
{
	struct fixture *f = *state;
	char path[] = "/tmp/test_boot_bzimage.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	f->cfg.initrd = path;
	/* 4 MiB: the top of RAM minus the initrd is 16 MiB, inside the kernel's init_size. */
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	expect_error(f, IMG_LEN, "does not fit in guest RAM above the kernel (0x1100000)");
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(load(f, IMG_LEN), 0);
	assert_int_equal(bp32(f, 0x218), RAM - (1 << 20));
	assert_int_equal(bp32(f, 0x21c), 1 << 20);
	put(f->img, 0x22c, 0xfffff, 4); /* initrd_addr_max below the kernel */
	expect_error(f, IMG_LEN, "does not fit in guest RAM above the kernel");
	close(fd);
	unlink(path);
}

/* Every truncation and every one-byte header change: an error or a load, never a read
 * outside the file or RAM (ASan) and never an entry point outside the loaded image. */
static void test_every_mutation(void **state)
{
	struct fixture *f = *state;
	for (size_t len = 0; len <= IMG_LEN; len++)
		assert_int_equal(load(f, len), len == IMG_LEN ? 0 : -1);
	const uint8_t values[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	for (unsigned off = 0x1f1; off < 0x268; off++) {
		uint8_t orig = f->img[off];
		for (unsigned i = 0; i < sizeof(values); i++) {
			f->img[off] = values[i];
			if (load(f, IMG_LEN) == 0)
				assert_true(f->e.ip >= LAYOUT_HIMEM + 0x200 && f->e.ip < RAM);
		}
		f->img[off] = orig;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_above_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_mutation, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
