# cocoon-vmm through the real binary with freestanding PVH guests (tests/vmm/guests).
GUESTS=$ROOT/build/tests/vmm-guests

vmm_guest() { # NAME: path of a built test guest, or fail
	[ -f "$GUESTS/$1.elf" ] || fail "test guest $1 not built (make vmm-guests)"
	echo "$GUESTS/$1.elf"
}

test_vmm_serial_hello_and_reset() {
	local out rc
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" 2>"$T/err")
	rc=$?
	assert_eq 0 "$rc" "exit status after i8042 reset"
	assert_eq "hello from cocoon guest" "$out" "serial output"
}

test_vmm_triple_fault_is_a_crash() {
	local rc
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest crash)" >"$T/out" 2>"$T/err"
	rc=$?
	assert_eq 2 "$rc" "exit status of a crashed guest"
	assert_contains "$(cat "$T/err")" "triple fault" "crash message"
}

test_vmm_rejects_bad_kernel() {
	local rc
	echo "not a kernel" >"$T/bad"
	timeout 20 "$COCOON_VMM" --kernel "$T/bad" >"$T/out" 2>"$T/err"
	rc=$?
	assert_eq 1 "$rc" "exit status for a bad kernel"
	assert_contains "$(cat "$T/err")" "neither an ELF nor a bzImage" "error message"
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --memory 0 >"$T/out" 2>"$T/err"
	assert_eq 1 "$?" "exit status for --memory 0"
	assert_contains "$(cat "$T/err")" "--memory" "error names the option"
}
