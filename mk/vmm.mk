# cocoon-vmm drops its capabilities with libcap once set up (src/vmm/core/privs.c).
VMM_LIBS += -lcap

# cocoon-vmm test guests: freestanding 32-bit PVH ELF programs booted by the real binary.
VMM_GUEST_SRC := $(wildcard tests/vmm/guests/*.c)
VMM_GUESTS := $(patsubst tests/vmm/guests/%.c,$(B)/tests/vmm-guests/%.elf,$(VMM_GUEST_SRC))
VMM_GUEST_COMMON := -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -static \
	-fno-pic -no-pie -fno-stack-protector -fno-asynchronous-unwind-tables -mgeneral-regs-only \
	-fno-builtin -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-z,noexecstack
VMM_GUEST_CFLAGS := -m32 -march=i686 $(VMM_GUEST_COMMON)

$(B)/tests/vmm-guests/%.elf: tests/vmm/guests/%.c tests/vmm/guests/entry.S tests/vmm/guests/guest.h tests/vmm/guests/guest.ld
	@mkdir -p $(dir $@)
	$(CC) $(VMM_GUEST_CFLAGS) -T tests/vmm/guests/guest.ld -o $@ tests/vmm/guests/entry.S $<

# The bzImage test guest: x86-64 code for the 64-bit boot protocol, packaged as a
# bzImage by its linker script and objcopy (tests/vmm/bzimage/header.S explains the layout).
VMM_BZ_DEPS := $(wildcard tests/vmm/bzimage/*) tests/vmm/guests/guest.h
$(B)/tests/vmm-guests/bzhello.elf: $(VMM_BZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -m64 -mno-red-zone $(VMM_GUEST_COMMON) -T tests/vmm/bzimage/bzimage.ld -o $@ \
		tests/vmm/bzimage/header.S tests/vmm/bzimage/hello64.c
$(B)/tests/vmm-guests/hello.bzImage: $(B)/tests/vmm-guests/bzhello.elf
	objcopy -O binary $< $@

.PHONY: vmm-guests
vmm-guests: $(VMM_GUESTS) $(B)/tests/vmm-guests/hello.bzImage
all: vmm-guests
test: vmm-guests

# libFuzzer targets (clang): the virtqueue walker and each device's request parser.
# `make fuzz` builds them and runs each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 20
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_LINK := $(filter-out src/vmm/core/main.c,$(VMM_SRC)) $(addprefix src/shared/,log.c error.c util.c)
# (libseccomp's SCMP_A* macros trip clang's missing-field-initializers; gcc builds them clean)
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(B)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(FUZZ_LINK)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LINK) -lseccomp -lcap -lpthread

# The host's decoding of agent replies (ttrpc frames, Response, each reply message): no
# VMM code, the ttrpc client and the generated protobuf code instead.
AGENT_REPLY_FUZZ_LINK := $(addprefix src/shared/,ttrpc_frame.c ttrpc_client.c agent_proto.c log.c error.c util.c) \
	$(B)/gen/proto/agent.pb-c.c $(B)/gen/proto/ttrpc.pb-c.c
$(B)/fuzz/fuzz_agent_reply: tests/fuzz/fuzz_agent_reply.c $(AGENT_REPLY_FUZZ_LINK) | $(PROTO_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -I$(B)/gen -o $@ $< $(AGENT_REPLY_FUZZ_LINK) -lprotobuf-c -lpthread

fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)
.PHONY: fuzz-build
