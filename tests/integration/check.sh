# `cocoon check`: says whether this host can run sandboxes, with which backend and why,
# and exits 0 only when it can.

test_check_this_host() {
	local out
	out=$("$COCOON" check 2>&1)
	assert_eq 0 $? "check on this host ($out)"
	# The backend a config names (tests/run.sh picks each KVM backend that way), else the default.
	local backend
	backend=$(sed -n 's/^hypervisor *= *//p' "${COCOON_CONFIG:-/dev/null}")
	assert_contains "$out" "This host can run sandboxes: backend ${backend:-qemu}" "verdict"
	if grep -qwE 'vmx|svm' /proc/cpuinfo; then
		assert_contains "$out" "accelerator kvm" "hardware virtualization is used"
	else
		assert_contains "$out" "accelerator tcg" "TCG fallback without vmx/svm"
		[ -e /dev/kvm ] && assert_contains "$out" "no vmx/svm" "says why KVM is not used"
	fi
}

test_check_missing_kernel_and_qemu() {
	printf 'kernel = /nonexistent/vmlinux\nqemu = /nonexistent/qemu\n' >"$T/cocoon.conf"
	local out
	out=$(COCOON_CONFIG=$T/cocoon.conf "$COCOON" check 2>&1)
	local rc=$?
	[ $rc -ne 0 ] || fail "check passed without a kernel or QEMU: $out"
	assert_contains "$out" "/nonexistent/vmlinux" "names the missing kernel"
	assert_contains "$out" "/nonexistent/qemu" "names the missing QEMU"
	assert_not_contains "$out" "This host can run sandboxes" "no positive verdict"
}
