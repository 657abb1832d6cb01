/* The bzImage layout of the Linux boot protocol (Documentation/arch/x86/boot.rst):
 * (setup_sects + 1) sectors of real-mode setup holding the setup header at 0x1f1, then
 * the protected-mode part, which the loader puts at pref_address. That part has the
 * 32-bit entry at +0 (not offered: it halts) and the 64-bit entry at +0x200, entered in
 * long mode on identity page tables with RSI = boot_params. There is no real-mode code:
 * only loaders that use the 64-bit entry can start this image. bzimage.ld places the
 * two parts and computes syssize and init_size; objcopy -O binary writes the file. */
	.set SETUP_SECTS, 1

	.section .setup, "a"
	.org 0x1f1
	.byte SETUP_SECTS
	.word 0			/* root_flags */
	.long syssize		/* protected-mode part, in 16-byte units */
	.word 0, 0, 0		/* ram_size, vid_mode, root_dev */
	.word 0xaa55		/* boot_flag */
	.byte 0xeb, hdr_end - 1f /* jump over the header: its length is 0x202 + this byte */
1:	.ascii "HdrS"
	.word 0x020c		/* protocol 2.12: xloadflags */
	.long 0			/* realmode_swtch */
	.word 0			/* start_sys_seg */
	.word version - 0x200	/* kernel_version: where `file` finds the version string */
	.byte 0			/* type_of_loader, filled by the loader */
	.byte 0x01		/* loadflags: LOADED_HIGH */
	.word 0			/* setup_move_size */
	.long PREF_ADDRESS	/* code32_start */
	.long 0, 0		/* ramdisk_image, ramdisk_size */
	.long 0			/* bootsect_kludge */
	.word 0			/* heap_end_ptr */
	.byte 0, 0		/* ext_loader_ver, ext_loader_type */
	.long 0			/* cmd_line_ptr */
	.long 0x7fffffff	/* initrd_addr_max */
	.long 0x200000		/* kernel_alignment */
	.byte 0, 0		/* relocatable_kernel: no; min_alignment */
	.word 0x1		/* xloadflags: XLF_KERNEL_64 */
	.long 255		/* cmdline_size */
	.long 0			/* hardware_subarch */
	.quad 0			/* hardware_subarch_data */
	.long 0, 0		/* payload_offset, payload_length */
	.quad 0			/* setup_data */
	.quad PREF_ADDRESS	/* pref_address */
	.long init_size		/* memory the protected-mode part needs, bss included */
	.long 0			/* handover_offset */
hdr_end:
version:
	.asciz "cocoon-vmm bzImage test guest"
	.org (SETUP_SECTS + 1) * 512

	.section .text.head, "ax"
	.code32
startup_32:
	hlt
	jmp startup_32

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	lea stack_top(%rip), %rsp
	mov %rsi, %rdi
	call guest_main
	mov $0xfe, %al
	out %al, $0x64
	lidt null_idt(%rip)
	ud2

	.section .rodata
null_idt:
	.word 0
	.quad 0

	.section .bss
	.balign 16
	.space 8192
stack_top:
