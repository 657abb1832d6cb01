# Static analysis is part of the suite: a cppcheck warning fails it.

test_lint_cppcheck_clean() {
	command -v cppcheck >/dev/null || fail "cppcheck is not installed (scripts/install-deps.sh installs it)"
	local out
	out=$(make -s -C "$ROOT" lint 2>&1)
	assert_eq 0 $? "make lint: $out"
}
