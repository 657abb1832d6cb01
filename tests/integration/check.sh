# `cocoon check`: says whether this host can run sandboxes, with which backend and why,
# and exits 0 only when it can.

# The backend `auto` (the default) gives here: cocoon-vmm with hardware virtualization,
# QEMU (TCG) without; a backend named in $COCOON_CONFIG wins.
expected_backend() {
	local named=""
	[ -n "${COCOON_CONFIG:-}" ] &&
		named=$(sed -n 's/^[[:space:]]*hypervisor[[:space:]]*=[[:space:]]*"\{0,1\}\([a-z-]*\).*/\1/p' "$COCOON_CONFIG")
	if [ -n "$named" ] && [ "$named" != auto ]; then
		echo "$named"
	elif grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
		echo cocoon-vmm
	else
		echo qemu
	fi
}

test_check_this_host() {
	local out want
	want=$(expected_backend)
	out=$("$COCOON" check 2>&1)
	assert_eq 0 $? "check on this host ($out)"
	assert_contains "$out" "This host can run sandboxes: backend $want" "verdict"
	if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
		assert_contains "$out" "accelerator kvm" "hardware virtualization is used"
	else
		assert_contains "$out" "accelerator tcg (software emulation)" "TCG fallback without vmx/svm"
		if [ -e /dev/kvm ]; then
			assert_contains "$out" "no vmx/svm" "says why KVM is not used"
		fi
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

# hypervisor = auto (the default): cocoon-vmm with hardware virtualization, QEMU's
# emulation without, and check says which and why.
test_check_auto_backend() {
	printf 'hypervisor = auto\n' >"$T/cocoon.conf"
	local out
	out=$(COCOON_CONFIG=$T/cocoon.conf "$COCOON" check 2>&1)
	assert_eq 0 $? "check with hypervisor = auto ($out)"
	if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
		assert_contains "$out" "cocoon-vmm (auto: hardware virtualization)" "the backend and why"
		assert_contains "$out" "This host can run sandboxes: backend cocoon-vmm, accelerator kvm" "verdict"
	else
		assert_contains "$out" "qemu (auto: no hardware virtualization, so QEMU's software emulation (TCG))" "the backend and why"
		assert_contains "$out" "This host can run sandboxes: backend qemu, accelerator tcg (software emulation)" "verdict"
	fi
}

test_check_named_backend() {
	printf 'hypervisor = qemu\n' >"$T/cocoon.conf"
	local out
	out=$(COCOON_CONFIG=$T/cocoon.conf "$COCOON" check 2>&1)
	assert_eq 0 $? "check with hypervisor = qemu ($out)"
	assert_contains "$out" "qemu (named in the configuration)" "the configured backend and why"
	assert_contains "$out" "This host can run sandboxes: backend qemu" "verdict"
	printf 'hypervisor = xen\n' >"$T/cocoon.conf"
	out=$(COCOON_CONFIG=$T/cocoon.conf "$COCOON" check 2>&1)
	[ $? -ne 0 ] || fail "check passed with an unknown backend: $out"
	assert_contains "$out" "unknown hypervisor 'xen'" "names the unknown backend"
}
