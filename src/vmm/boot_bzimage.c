/* Linux 64-bit boot protocol from a bzImage: the protected-mode kernel goes to its
 * preferred address, boot_params (zero page) carries the setup header, cmdline, initrd
 * and e820 map, and the BSP starts in long mode on identity page tables (first 1 GiB)
 * at the 64-bit entry (load address + 0x200). */
#include <string.h>

#include "vmm/boot.h"
#include "vmm/vmm.h"

/* Offsets in boot_params / the setup header (Documentation/x86/boot.rst). */
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
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
#define BP_XLOADFLAGS 0x236
#define BP_PREF_ADDRESS 0x258
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

#define LOADFLAGS_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x1
#define DEFAULT_LOAD_ADDR 0x1000000ull

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
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

int boot_bzimage(struct vmm *v, const struct kernel_image *k, struct boot_entry *e,
		 struct cc_error *err)
{
	const uint8_t *img = k->data;
	if (k->size < 0x1000 || memcmp(img + BP_HEADER, "HdrS", 4) != 0)
		return cc_error_set(err, 0, "neither an ELF nor a bzImage (no HdrS setup header)");
	uint16_t version = (uint16_t)(img[BP_VERSION] | img[BP_VERSION + 1] << 8);
	if (version < 0x20c || !(img[BP_XLOADFLAGS] & XLF_KERNEL_64))
		return cc_error_set(err, 0, "bzImage protocol 0x%x has no 64-bit entry", version);
	unsigned setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	uint64_t kernel_off = (setup_sects + 1) * 512ull;
	if (kernel_off >= k->size)
		return cc_error_set(err, 0, "bzImage truncated");
	uint64_t kernel_len = k->size - kernel_off;
	uint64_t load = DEFAULT_LOAD_ADDR;
	uint64_t pref;
	memcpy(&pref, img + BP_PREF_ADDRESS, 8);
	if (pref >= LAYOUT_HIMEM && pref < LAYOUT_RAM_MAX)
		load = pref;
	uint8_t *dst = gmem_ptr(&v->mem, load, kernel_len);
	if (dst == NULL)
		return cc_error_set(err, 0, "bzImage does not fit in guest RAM at 0x%llx",
				    (unsigned long long)load);
	memcpy(dst, img + kernel_off, kernel_len);

	uint8_t *bp = gmem_ptr(&v->mem, LAYOUT_ZERO_PAGE, 4096);
	memset(bp, 0, 4096);
	size_t hdr_end = 0x202 + img[BP_HDR_END_JUMP];
	if (hdr_end > 0x1000)
		hdr_end = 0x1000;
	memcpy(bp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	bp[BP_TYPE_OF_LOADER] = 0xff;
	bp[BP_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP;
	bp[BP_HEAP_END_PTR] = 0x00;
	bp[BP_HEAP_END_PTR + 1] = 0xfe;
	memcpy(gmem_ptr(&v->mem, LAYOUT_CMDLINE, v->cmdline_len + 1), v->cmdline, v->cmdline_len + 1);
	wr32(bp + BP_CMD_LINE_PTR, LAYOUT_CMDLINE);
	if (v->cfg->initrd != NULL) {
		uint64_t gpa, size;
		uint64_t max = (uint64_t)rd32(img + BP_INITRD_ADDR_MAX) + 1;
		if (boot_load_initrd(v, v->cfg->initrd, max, &gpa, &size, err) < 0)
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
