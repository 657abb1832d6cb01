/* Linux 64-bit boot protocol from a bzImage: the protected-mode kernel goes to its
 * preferred address, boot_params (zero page) carries the setup header, cmdline, initrd
 * and e820 map, and the BSP starts in long mode on identity page tables (first 1 GiB)
 * at the 64-bit entry (load address + 0x200). */
#include <string.h>

#include "vmm/x86/bzimage.h"
#include "vmm/core/vmm.h"

/* Offsets in boot_params / the setup header (Documentation/arch/x86/boot.rst). */
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_SYSSIZE 0x1f4      /* protected-mode part, in 16-byte units */
#define BP_HDR_END_JUMP 0x201 /* header length = 0x202 + this byte */
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_HEAP_END_PTR 0x224
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_RELOCATABLE 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_HDR_MIN_END 0x264 /* init_size is the last field read here */
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

#define LOADFLAGS_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x1
#define DEFAULT_LOAD_ADDR 0x1000000ull
#define IDENT_MAP_END 0x40000000ull /* write_page_tables maps the first 1 GiB */

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void write_page_tables(struct vmm *v)
{
	uint64_t *pml4 = gmem_ptr(&v->mem, LAYOUT_PML4, 3 * 4096);
	uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
	memset(pml4, 0, 3 * 4096);
	pml4[0] = (LAYOUT_PML4 + 0x1000) | 0x3;
	pdpt[0] = (LAYOUT_PML4 + 0x2000) | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	uint64_t *gdt = gmem_ptr(&v->mem, LAYOUT_GDT, 4 * 8);
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffull; /* 0x10: 64-bit code */
	gdt[3] = 0x00cf93000000ffffull; /* 0x18: data */
}

/* Every field comes from the file: the header must lie inside it, and so must the
 * protected-mode part (syssize) after the setup sectors. Returns where that part starts. */
static int check_header(const struct kernel_image *k, uint64_t *kernel_off, struct cc_error *err)
{
	const uint8_t *img = k->data;
	if (k->size < BP_HEADER + 4 || memcmp(img + BP_HEADER, "HdrS", 4) != 0)
		return cc_error_set(err, 0, "neither an ELF nor a bzImage (no HdrS setup header)");
	size_t hdr_end = 0x202 + img[BP_HDR_END_JUMP];
	if (k->size < hdr_end)
		return cc_error_set(err, 0,
				    "bzImage truncated: %zu bytes, its setup header ends "
				    "at 0x%zx",
				    k->size, hdr_end);
	uint16_t version = rd16(img + BP_VERSION);
	if (version < 0x20c)
		return cc_error_set(err, 0,
				    "bzImage boot protocol %u.%02u is too old: "
				    "the 64-bit entry needs 2.12",
				    version >> 8, version & 0xff);
	if (hdr_end < BP_HDR_MIN_END)
		return cc_error_set(err, 0, "bzImage setup header ends at 0x%zx, before init_size",
				    hdr_end);
	if (!(rd16(img + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return cc_error_set(
			err, 0, "bzImage has no 64-bit entry (XLF_KERNEL_64 not in xloadflags)");
	unsigned setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	*kernel_off = (setup_sects + 1) * 512ull;
	if (*kernel_off >= k->size)
		return cc_error_set(err, 0,
				    "bzImage setup_sects %u puts the kernel at 0x%llx, "
				    "past the end of the file (%zu bytes)",
				    setup_sects, (unsigned long long)*kernel_off, k->size);
	uint64_t sys_len = rd32(img + BP_SYSSIZE) * 16ull;
	if (k->size - *kernel_off < sys_len)
		return cc_error_set(err, 0,
				    "bzImage truncated: %llu bytes after the setup sectors, "
				    "syssize says %llu",
				    (unsigned long long)(k->size - *kernel_off),
				    (unsigned long long)sys_len);
	return 0;
}

int boot_bzimage(struct vmm *v, const struct kernel_image *k, struct boot_entry *e,
		 struct cc_error *err)
{
	const uint8_t *img = k->data;
	uint64_t kernel_off = 0;
	if (check_header(k, &kernel_off, err) < 0)
		return -1;
	uint64_t kernel_len = k->size - kernel_off;
	uint32_t cmdline_size = rd32(img + BP_CMDLINE_SIZE);
	if (v->cmdline_len > cmdline_size)
		return cc_error_set(err, 0,
				    "command line is %zu bytes, the bzImage takes at most %u "
				    "(cmdline_size)",
				    v->cmdline_len, cmdline_size);

	/* The kernel and the init_size bytes it runs in must be RAM the page tables map;
	 * a relocatable kernel that does not fit at pref_address goes to 16 MiB. */
	uint64_t need = rd32(img + BP_INIT_SIZE);
	if (need < kernel_len)
		need = kernel_len;
	uint64_t top = v->mem.size < IDENT_MAP_END ? v->mem.size : IDENT_MAP_END;
	uint64_t load = rd64(img + BP_PREF_ADDRESS);
	if (load < LAYOUT_HIMEM || load > top || need > top - load) {
		if (!img[BP_RELOCATABLE])
			return cc_error_set(err, 0,
					    "bzImage is not relocatable and its 0x%llx bytes "
					    "(init_size) do not fit at pref_address 0x%llx",
					    (unsigned long long)need, (unsigned long long)load);
		load = DEFAULT_LOAD_ADDR;
	}
	if (load > top || need > top - load)
		return cc_error_set(err, 0,
				    "bzImage needs 0x%llx bytes (init_size) from 0x%llx, "
				    "more than guest RAM",
				    (unsigned long long)need, (unsigned long long)load);
	memcpy(gmem_ptr(&v->mem, load, kernel_len), img + kernel_off, kernel_len);

	uint8_t *bp = gmem_ptr(&v->mem, LAYOUT_ZERO_PAGE, 4096);
	memset(bp, 0, 4096);
	size_t hdr_end = 0x202 + img[BP_HDR_END_JUMP]; /* inside the file: check_header */
	memcpy(bp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	bp[BP_TYPE_OF_LOADER] = 0xff;
	bp[BP_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP;
	bp[BP_HEAP_END_PTR] = 0x00;
	bp[BP_HEAP_END_PTR + 1] = 0xfe;
	memcpy(gmem_ptr(&v->mem, LAYOUT_CMDLINE, v->cmdline_len + 1), v->cmdline,
	       v->cmdline_len + 1);
	wr32(bp + BP_CMD_LINE_PTR, LAYOUT_CMDLINE);
	if (v->cfg->initrd != NULL) {
		uint64_t gpa, size;
		uint64_t max = (uint64_t)rd32(img + BP_INITRD_ADDR_MAX) + 1;
		if (boot_load_initrd(v, v->cfg->initrd, load + need, max, &gpa, &size, err) < 0)
			return -1;
		wr32(bp + BP_RAMDISK_IMAGE, (uint32_t)gpa);
		wr32(bp + BP_RAMDISK_SIZE, (uint32_t)size);
	}
	struct e820_entry map[BP_E820_MAX];
	unsigned n = e820_build(v->mem.size, map, BP_E820_MAX);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ent = bp + BP_E820_TABLE + i * 20;
		memcpy(ent, &map[i].addr, 8);
		memcpy(ent + 8, &map[i].size, 8);
		memcpy(ent + 16, &map[i].type, 4);
	}
	write_page_tables(v);
	*e = (struct boot_entry){ .ip = load + 0x200, .long_mode = true, .rsi = LAYOUT_ZERO_PAGE };
	return 0;
}
