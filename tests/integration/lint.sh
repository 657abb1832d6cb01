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

# The guest agent and the code both sides share include no host code (src/host, the
# CLI, the shim, the VMM): the agent's archive could not link it anyway.
test_lint_guest_code_includes_no_host_code() {
	local out
	out=$(grep -rnE '#include "(host|cli|shim|vmm)/' "$ROOT/src/agent" "$ROOT/src/shared")
	assert_eq "" "$out" "guest or shared code includes host code"
}
