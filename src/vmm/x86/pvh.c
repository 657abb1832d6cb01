/* PVH boot: load an ELF's PT_LOAD segments at their physical addresses and enter at
 * XEN_ELFNOTE_PHYS32_ENTRY in 32-bit flat protected mode with EBX = hvm_start_info.
 * Works for any PVH ELF, Linux vmlinux or a freestanding program. */
#include <elf.h>
#include <string.h>

#include "vmm/x86/pvh.h"
#include "vmm/core/vmm.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

#define START_INFO_MODLIST (LAYOUT_START_INFO + 0x100)
#define START_INFO_MEMMAP (LAYOUT_START_INFO + 0x200)
#define MAX_MEMMAP 16

/* One program header, whatever the ELF class. */
struct phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

static int get_phdr(const struct kernel_image *k, bool is64, uint64_t phoff, unsigned i,
		    struct phdr *p)
{
	if (is64) {
		Elf64_Phdr ph;
		uint64_t at = phoff + (uint64_t)i * sizeof(ph);
		if (at > k->size || sizeof(ph) > k->size - at)
			return -1;
		memcpy(&ph, k->data + at, sizeof(ph));
		*p = (struct phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	} else {
		Elf32_Phdr ph;
		uint64_t at = phoff + (uint64_t)i * sizeof(ph);
		if (at > k->size || sizeof(ph) > k->size - at)
			return -1;
		memcpy(&ph, k->data + at, sizeof(ph));
		*p = (struct phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	}
	return 0;
}

/* Searches a PT_NOTE segment for the PVH entry; returns 1 and sets entry when found. */
static int find_pvh_note(const struct kernel_image *k, const struct phdr *p, uint64_t *entry)
{
	if (p->offset > k->size || p->filesz > k->size - p->offset)
		return -1;
	const uint8_t *n = k->data + p->offset, *end = n + p->filesz;
	while (end - n >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, n, 4);
		memcpy(&descsz, n + 4, 4);
		memcpy(&type, n + 8, 4);
		uint64_t name_len = ((uint64_t)namesz + 3) & ~3ull,
			 desc_len = ((uint64_t)descsz + 3) & ~3ull;
		if (name_len + desc_len > (uint64_t)(end - n - 12))
			return -1;
		const uint8_t *name = n + 12, *desc = name + name_len;
		if (namesz == 4 && memcmp(name, "Xen", 4) == 0 &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8)) {
			uint32_t e32;
			memcpy(&e32, desc, 4);
			*entry = e32;
			return 1;
		}
		n = desc + desc_len;
	}
	return 0;
}

int boot_pvh(struct vmm *v, const struct kernel_image *k, struct boot_entry *e,
	     struct cc_error *err)
{
	const uint8_t *id = k->data;
	if (k->size < sizeof(Elf64_Ehdr))
		return cc_error_set(err, 0, "ELF file too short");
	bool is64 = id[EI_CLASS] == ELFCLASS64;
	uint64_t phoff;
	unsigned phnum;
	if (is64) {
		Elf64_Ehdr h;
		memcpy(&h, id, sizeof(h));
		if (h.e_machine != EM_X86_64)
			return cc_error_set(err, 0, "ELF is not for x86");
		phoff = h.e_phoff;
		phnum = h.e_phnum;
	} else if (id[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h;
		memcpy(&h, id, sizeof(h));
		if (h.e_machine != EM_386)
			return cc_error_set(err, 0, "ELF is not for x86");
		phoff = h.e_phoff;
		phnum = h.e_phnum;
	} else {
		return cc_error_set(err, 0, "unknown ELF class");
	}

	uint64_t entry = 0, kernel_end = 0;
	int found = 0;
	for (unsigned i = 0; i < phnum; i++) {
		struct phdr p;
		if (get_phdr(k, is64, phoff, i, &p) < 0)
			return cc_error_set(err, 0, "ELF program header %u out of file", i);
		if (p.type == PT_NOTE && !found) {
			found = find_pvh_note(k, &p, &entry);
			if (found < 0)
				return cc_error_set(err, 0, "malformed ELF note segment");
		}
		if (p.type != PT_LOAD || p.memsz == 0)
			continue;
		if (p.filesz > p.memsz || p.offset > k->size || p.filesz > k->size - p.offset)
			return cc_error_set(err, 0, "ELF segment %u out of file", i);
		uint8_t *dst = gmem_ptr(&v->mem, p.paddr, p.memsz);
		if (dst == NULL || p.paddr < LAYOUT_HIMEM)
			return cc_error_set(
				err, 0,
				"ELF segment %u (0x%llx+0x%llx) is outside guest RAM above 1 MiB",
				i, (unsigned long long)p.paddr, (unsigned long long)p.memsz);
		memcpy(dst, k->data + p.offset, p.filesz);
		memset(dst + p.filesz, 0, p.memsz - p.filesz);
		if (p.paddr + p.memsz > kernel_end)
			kernel_end = p.paddr + p.memsz;
	}
	if (!found)
		return cc_error_set(err, 0, "ELF has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");

	struct hvm_start_info *si = gmem_ptr(&v->mem, LAYOUT_START_INFO, sizeof(*si));
	memset(si, 0, sizeof(*si));
	si->magic = HVM_START_MAGIC;
	si->version = 1;
	memcpy(gmem_ptr(&v->mem, LAYOUT_CMDLINE, v->cmdline_len + 1), v->cmdline,
	       v->cmdline_len + 1);
	si->cmdline_paddr = LAYOUT_CMDLINE;

	if (v->cfg->initrd != NULL) {
		struct hvm_modlist_entry *mod = gmem_ptr(&v->mem, START_INFO_MODLIST, sizeof(*mod));
		memset(mod, 0, sizeof(*mod));
		if (boot_load_initrd(v, v->cfg->initrd, kernel_end, LAYOUT_RAM_MAX, &mod->paddr,
				     &mod->size, err) < 0)
			return -1;
		si->nr_modules = 1;
		si->modlist_paddr = START_INFO_MODLIST;
	}

	struct e820_entry map[MAX_MEMMAP];
	unsigned n = e820_build(v->mem.size, map, MAX_MEMMAP);
	struct hvm_memmap_entry *mm = gmem_ptr(&v->mem, START_INFO_MEMMAP, n * sizeof(*mm));
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	si->memmap_paddr = START_INFO_MEMMAP;
	si->memmap_entries = n;

	*e = (struct boot_entry){ .ip = entry, .long_mode = false, .rbx = LAYOUT_START_INFO };
	return 0;
}
