# Unit tests: tests/unit/test_*.c, one cmocka binary each, built with ASan/UBSan.
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
# Unit tests of agent/vmm internals link the component's objects (minus its main.c).
AGENT_LIB_SRC := $(filter-out src/agent/main.c,$(AGENT_SRC))
VMM_LIB_SRC := $(filter-out src/vmm/core/main.c,$(VMM_SRC))

# The shim's and the CLI's objects (minus main.c) are archives: a test links the members
# it uses.
SHIM_LIB_SRC := $(filter-out src/shim/main.c,$(SHIM_SRC))
CLI_LIB_SRC := $(filter-out src/cli/main.c,$(CLI_SRC))
$(B)/libshim-asan.a: $(call asan_obj,$(SHIM_LIB_SRC) $(SHIM_PROTO_C))
	@rm -f $@
	ar rcs $@ $^
$(B)/libcli-asan.a: $(call asan_obj,$(CLI_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^
$(call asan_obj,$(SHIM_LIB_SRC)): | $(SHIM_PROTO_H)

$(B)/tests/test_%: tests/unit/test_%.c $(call asan_obj,$(AGENT_LIB_SRC) $(VMM_LIB_SRC)) $(B)/libshim-asan.a $(B)/libcli-asan.a $(B)/libcocoon-asan.a | $(PROTO_H) $(SHIM_PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $(filter %.c %.o %.a,$^) -lcmocka -lseccomp -lcap $(SHIM_LIBS)

unit-test: $(UNIT_BINS)

# The whole suite: unit tests, then integration tests that boot real VMs.
test: all unit-test
	tests/run.sh
