/* bzImage test guest, entered at the 64-bit entry with boot_params (the zero page) as
 * argument. Prints what the loader passed in it on COM1: the command line through
 * cmd_line_ptr, the e820 entry count and where the last entry ends, type_of_loader, and
 * the initrd's size and first line when there is one. header.S then resets the VM. */
#include "../guests/guest.h"

/* Offsets in boot_params (Documentation/arch/x86/zero-page.rst). */
#define BP_E820_ENTRIES 0x1e8
#define BP_TYPE_OF_LOADER 0x210
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0

struct e820_entry {
	u64 addr, size;
	u32 type;
} __attribute__((packed));

static u32 rd32(const u8 *bp, unsigned off)
{
	return *(const u32 *)(bp + off);
}

void guest_main(const u8 *bp)
{
	const struct e820_entry *map = (const void *)(bp + BP_E820_TABLE);
	unsigned n = bp[BP_E820_ENTRIES];

	puts("bzimage: cmdline=[");
	puts((const char *)(unsigned long)rd32(bp, BP_CMD_LINE_PTR));
	puts("] e820=");
	puthex(n, 2);
	if (n > 0) {
		puts(" ram_end=");
		puthex((u32)(map[n - 1].addr + map[n - 1].size), 8);
	}
	puts(" loader=");
	puthex(bp[BP_TYPE_OF_LOADER], 2);
	u32 rd_size = rd32(bp, BP_RAMDISK_SIZE);
	if (rd_size != 0) {
		const char *rd = (const char *)(unsigned long)rd32(bp, BP_RAMDISK_IMAGE);
		puts(" initrd=");
		puthex(rd_size, 8);
		puts(":");
		for (u32 i = 0; i < rd_size && i < 32 && rd[i] != '\n'; i++)
			outb(0x3f8, (u8)rd[i]);
	}
	puts("\n");
}
