/* PVH entry: 32-bit flat protected mode, paging off, EBX = hvm_start_info.
 * Set a stack, call main(start_info), then reset through the i8042. A machine without
 * an i8042 (QEMU microvm, used by bench/vmm.sh) gets a triple fault instead, which
 * QEMU -no-reboot turns into an exit; cocoon-vmm has ended the VM before that. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4, 4, 18 /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_start

	.section .text.entry, "ax"
	.code32
	.globl pvh_start
pvh_start:
	mov $stack_top, %esp
	push %ebx
	call main
	mov $0xfe, %al
	out %al, $0x64
	lidt null_idt
	ud2
1:	hlt
	jmp 1b

	.section .rodata
null_idt:
	.word 0
	.long 0

	.section .bss
	.balign 16
	.space 8192
stack_top:
