# Static analysis and formatting are part of the suite: a cppcheck warning or a file
# clang-format would change fails it.

test_lint_cppcheck_clean() {
	command -v cppcheck >/dev/null || fail "cppcheck is not installed (scripts/install-deps.sh installs it)"
	local out
	out=$(make -s -C "$ROOT" lint 2>&1)
	assert_eq 0 $? "make lint: $out"
}

# The C sources follow .clang-format (`make format` fixes them).
test_lint_clang_format_clean() {
	command -v clang-format >/dev/null || fail "clang-format is not installed (scripts/install-deps.sh installs it)"
	local out
	out=$(make -s -C "$ROOT" format-check 2>&1)
	assert_eq 0 $? "make format-check: $(echo "$out" | grep -m5 'error:')"
}
