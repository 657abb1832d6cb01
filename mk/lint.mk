# Static analysis: cppcheck over our sources (generated protobuf code included, so the
# protobuf-c version macros its headers test are given).
CPPCHECK_FLAGS := -q --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
	-D_GNU_SOURCE -DPROTOBUF_C_VERSION_NUMBER=1004001 -DPROTOBUF_C_MIN_COMPILER_VERSION=1000000 \
	-Isrc -I$(B)/gen --suppress=missingIncludeSystem

lint: $(PROTO_H)
	cppcheck $(CPPCHECK_FLAGS) -j2 src tests/unit

# Formatting: .clang-format over our C (not generated code).
FORMAT_SRC = $(shell git ls-files 'src/*.[ch]' 'tests/*.[ch]')

.PHONY: format-check
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)
