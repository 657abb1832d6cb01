# Cocoon top-level build. `make` builds every binary and the guest artifacts into
# build/ laid out like an install (build/bin, build/share/cocoon), `make test` runs the
# whole suite, `make install PREFIX=DIR` installs.
PREFIX ?= /usr/local
DESTDIR ?=
B := build
CC ?= gcc

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -Isrc -I$(B)/gen -MMD -MP
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(B)/gen/proto/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

# Code both sides link (errors, logging, ttrpc, the agent protocol, OCI spec) and code
# only the host links (sandbox, hypervisor backends, pod networking, config, cgroups).
SHARED_SRC := $(wildcard src/shared/*.c)
HOST_SRC := $(wildcard src/host/*.c)
AGENT_SRC := $(wildcard src/agent/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
VMM_SRC := $(wildcard src/vmm/*.c src/vmm/*/*.c)
SHIM_SRC := $(wildcard src/shim/*.c)

LIBS := -lprotobuf-c -ljson-c -lpthread
# rtnetlink on both sides (pod networking on the host, the guest NIC in the agent):
# libnl-route-3, whose static archives the static agent links.
NL_CFLAGS := -I/usr/include/libnl3
NL_LIBS := -lnl-route-3 -lnl-3
ALL_CFLAGS += $(NL_CFLAGS)
HOST_LIBS := $(NL_LIBS) $(LIBS)
SHIM_LIBS := -lcrypto $(HOST_LIBS)
AGENT_LIBS := -static -lseccomp -lcap $(NL_LIBS) $(LIBS)
VMM_LIBS := -lseccomp -lpthread

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
asan_obj = $(patsubst %.c,$(B)/asan/%.o,$(1))

# A component joins the build once it has sources.
BINS := $(B)/bin/cocoon $(B)/bin/cocoon-agent
ifneq ($(VMM_SRC),)
BINS += $(B)/bin/cocoon-vmm
endif
ifneq ($(SHIM_SRC),)
BINS += $(B)/bin/containerd-shim-cocoon-v2
endif
KERNEL := $(B)/share/cocoon/vmlinux $(B)/share/cocoon/bzImage $(B)/share/cocoon/kernel.release
GUEST := $(KERNEL) $(B)/share/cocoon/initrd.img

# Nothing is an intermediate to delete: the tests link sanitized objects no archive holds.
.SECONDARY:
.PHONY: all bins guest test unit-test integration-test bench install clean format lint fuzz
all: bins guest
bins: $(BINS)
guest: $(GUEST)

$(B)/gen/proto/%.pb-c.c $(B)/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen $<

$(B)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(B)/asan/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -c $< -o $@

# The static guest agent links libcocoon-shared.a alone, so it cannot reach host code.
$(B)/libcocoon-shared.a: $(call obj,$(SHARED_SRC) $(PROTO_C))
	@rm -f $@
	ar rcs $@ $^
$(B)/libcocoon-host.a: $(call obj,$(HOST_SRC))
	@rm -f $@
	ar rcs $@ $^
$(B)/libcocoon-asan.a: $(call asan_obj,$(HOST_SRC) $(SHARED_SRC) $(PROTO_C))
	@rm -f $@
	ar rcs $@ $^

$(B)/bin/cocoon: $(call obj,$(CLI_SRC)) $(B)/libcocoon-host.a $(B)/libcocoon-shared.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(HOST_LIBS)
$(B)/bin/cocoon-agent: $(call obj,$(AGENT_SRC)) $(B)/libcocoon-shared.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(AGENT_LIBS)
$(B)/bin/cocoon-vmm: $(call obj,$(VMM_SRC)) $(B)/libcocoon-shared.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(VMM_LIBS) $(LIBS)
$(B)/bin/containerd-shim-cocoon-v2: $(call obj,$(SHIM_SRC)) $(B)/libcocoon-host.a $(B)/libcocoon-shared.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(SHIM_LIBS)

# Guest kernel: cached outside the clone by guest/build-kernel.sh.
$(KERNEL) &: guest/kernel.config guest/build-kernel.sh
	guest/build-kernel.sh $(B)/share/cocoon
	@touch $(KERNEL)
$(B)/share/cocoon/initrd.img: $(B)/bin/cocoon-agent guest/build-initrd.sh
	guest/build-initrd.sh $(B)/bin/cocoon-agent $@

# Component makefile fragments (tests, fuzzers, benchmarks) live beside what they build.
-include $(wildcard mk/*.mk)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/cocoon
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(GUEST) $(DESTDIR)$(PREFIX)/share/cocoon/

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
