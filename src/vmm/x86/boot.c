/* Pieces shared by both boot paths: the e820 map and initrd placement. */
#include "vmm/x86/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/util.h"
#include "vmm/core/vmm.h"

unsigned e820_build(uint64_t ram_size, struct e820_entry out[], unsigned max)
{
	unsigned n = 0;
	if (max < 3)
		return 0;
	out[n++] = (struct e820_entry){ 0, LAYOUT_MPTABLE, E820_RAM };
	/* MP table, EBDA and the legacy VGA/BIOS area. */
	out[n++] =
		(struct e820_entry){ LAYOUT_MPTABLE, LAYOUT_HIMEM - LAYOUT_MPTABLE, E820_RESERVED };
	out[n++] = (struct e820_entry){ LAYOUT_HIMEM, ram_size - LAYOUT_HIMEM, E820_RAM };
	return n;
}

int boot_is_elf(const struct kernel_image *k)
{
	return k->size >= 4 && memcmp(k->data,
				      "\x7f"
				      "ELF",
				      4) == 0;
}

int boot_load_initrd(struct vmm *v, const char *path, uint64_t min_start, uint64_t max_end,
		     uint64_t *gpa, uint64_t *size, struct cc_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return cc_error_set(err, errno, "opening initrd %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return cc_error_set(err, errno, "initrd %s is not a regular file", path);
	uint64_t len = (uint64_t)st.st_size;
	uint64_t end = v->mem.size < max_end ? v->mem.size : max_end;
	if (min_start < LAYOUT_HIMEM)
		min_start = LAYOUT_HIMEM;
	if (len == 0 || len > end || ((end - len) & ~0xfffull) < min_start)
		return cc_error_set(err, 0,
				    "initrd %s (%llu bytes) does not fit in guest RAM "
				    "above the kernel (0x%llx)",
				    path, (unsigned long long)len, (unsigned long long)min_start);
	uint64_t at = (end - len) & ~0xfffull;
	ssize_t n = cc_read_all(fd, gmem_ptr(&v->mem, at, len), len, err);
	if (n < 0)
		return cc_error_prefix(err, "reading initrd %s", path);
	if ((uint64_t)n != len)
		return cc_error_set(err, 0, "initrd %s shrank while reading", path);
	*gpa = at;
	*size = len;
	return 0;
}
