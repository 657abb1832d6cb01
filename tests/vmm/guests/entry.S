/* PVH entry: 32-bit flat protected mode, paging off, EBX = hvm_start_info.
 * Set a stack, call main(start_info), then reset through the i8042. */
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
1:	hlt
	jmp 1b

	.section .bss
	.balign 16
	.space 8192
stack_top:
