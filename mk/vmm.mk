# cocoon-vmm test guests: freestanding 32-bit PVH ELF programs booted by the real binary.
VMM_GUEST_SRC := $(wildcard tests/vmm/guests/*.c)
VMM_GUESTS := $(patsubst tests/vmm/guests/%.c,$(B)/tests/vmm-guests/%.elf,$(VMM_GUEST_SRC))
VMM_GUEST_CFLAGS := -m32 -march=i686 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -static \
	-fno-pic -no-pie -fno-stack-protector -fno-asynchronous-unwind-tables -mgeneral-regs-only \
	-fno-builtin -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-z,noexecstack

$(B)/tests/vmm-guests/%.elf: tests/vmm/guests/%.c tests/vmm/guests/entry.S tests/vmm/guests/guest.h tests/vmm/guests/guest.ld
	@mkdir -p $(dir $@)
	$(CC) $(VMM_GUEST_CFLAGS) -T tests/vmm/guests/guest.ld -o $@ tests/vmm/guests/entry.S $<

.PHONY: vmm-guests
vmm-guests: $(VMM_GUESTS)
all: vmm-guests
test: vmm-guests
