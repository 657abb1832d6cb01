# cocoon CLI: the version command carries the git commit it was built from.
COCOON_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
$(B)/obj/src/cli/version.o: ALL_CFLAGS += -DCOCOON_COMMIT='"$(COCOON_COMMIT)"'
