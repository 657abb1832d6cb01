# containerd-shim-cocoon-v2: containerd's own .proto files (Debian's gocode tree) compiled
# with protoc-c. They carry gogoproto imports and options that only the Go generator
# understands; sed drops them, so no gogo descriptor needs compiling.
GOCODE ?= /usr/share/gocode/src
SHIM_PROTO_ROOT := $(B)/shimproto
SHIM_PROTOS := \
	github.com/containerd/containerd/runtime/v2/task/shim.proto \
	github.com/containerd/containerd/api/types/mount.proto \
	github.com/containerd/containerd/api/types/task/task.proto \
	github.com/containerd/containerd/api/events/task.proto \
	github.com/containerd/containerd/api/services/ttrpc/events/v1/events.proto \
	github.com/containerd/containerd/pkg/runtimeoptions/v1/api.proto \
	github.com/containerd/cgroups/stats/v1/metrics.proto \
	google/protobuf/any.proto \
	google/protobuf/empty.proto \
	google/protobuf/timestamp.proto
SHIM_PROTO_C := $(patsubst %.proto,$(B)/gen/%.pb-c.c,$(SHIM_PROTOS))
SHIM_PROTO_H := $(SHIM_PROTO_C:.c=.h)

$(SHIM_PROTO_ROOT)/github.com/%.proto: $(GOCODE)/github.com/%.proto
	@mkdir -p $(dir $@)
	sed -E -e '/^import (weak )?"(github.com\/gogo\/protobuf\/)?(gogoproto|github.com\/containerd\/containerd\/protobuf\/plugin)/d' \
		-e '/^[[:space:]]*option \((gogoproto|containerd\.plugin)\./d' \
		-e 's/ *\[\((gogoproto|containerd\.plugin)\.[^]]*\]//' $< >$@
$(SHIM_PROTO_ROOT)/google/protobuf/%.proto: /usr/include/google/protobuf/%.proto
	@mkdir -p $(dir $@)
	cp $< $@

# One protoc-c run per file, all resolved against the stripped copies.
$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: $(SHIM_PROTO_ROOT)/%.proto $(addprefix $(SHIM_PROTO_ROOT)/,$(SHIM_PROTOS))
	@mkdir -p $(B)/gen
	protoc-c -I$(SHIM_PROTO_ROOT) --c_out=$(B)/gen $(patsubst $(SHIM_PROTO_ROOT)/%,%,$<)

# Generated files are reached through pattern rules only; the Makefile's bare .SECONDARY
# keeps make from deleting them (a .SECONDARY with targets here would cancel it).

$(call obj,$(SHIM_SRC)): | $(SHIM_PROTO_H)
$(B)/bin/containerd-shim-cocoon-v2: $(call obj,$(SHIM_PROTO_C))
