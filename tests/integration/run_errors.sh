# `cocoon run` with bad input: each case fails before (or while) booting with a message
# naming what was wrong and the runtime-error exit status 125, leaving nothing behind.

run_err() { # EXPECTED_STATUS ARGS... ; sets $out (stderr+stdout) and checks the status
	local want=$1
	shift
	out=$("$COCOON" run "$@" 2>&1)
	local rc=$?
	assert_eq "$want" "$rc" "exit status of cocoon run $* ($out)"
}

test_run_missing_rootfs() {
	run_err 125 --rootfs "$T/nope" -- true
	assert_contains "$out" "cocoon: rootfs $T/nope: No such file or directory" "message"
}

test_run_rootfs_not_a_directory() {
	touch "$T/file"
	run_err 125 --rootfs "$T/file" -- true
	assert_contains "$out" "rootfs $T/file: Not a directory" "message"
}

test_run_needs_rootfs_or_bundle() {
	run_err 125 -- true
	assert_contains "$out" "exactly one of --rootfs DIR or --bundle DIR" "message"
	run_err 125 --rootfs "$T" --bundle "$T"
	assert_contains "$out" "exactly one of --rootfs DIR or --bundle DIR" "both given"
	run_err 125 --rootfs "$T"
	assert_contains "$out" "needs a command" "no command"
}

test_run_malformed_config_json() {
	mkdir -p "$T/bundle/rootfs"
	echo '{"process": {"args": ["true"]}, "root": {"path": "rootfs"' >"$T/bundle/config.json"
	run_err 125 --bundle "$T/bundle"
	assert_contains "$out" "cocoon: $T/bundle/config.json:" "names the file"
	echo '{"ociVersion": "1.0.2", "process": {"args": "true", "cwd": "/"}, "root": {"path": "rootfs"}}' \
		>"$T/bundle/config.json"
	run_err 125 --bundle "$T/bundle"
	assert_contains "$out" "process.args" "names the bad field"
}

test_run_bundle_without_config_json() {
	mkdir -p "$T/bundle"
	run_err 125 --bundle "$T/bundle" -- true
	assert_contains "$out" "config.json: No such file or directory" "message"
}

test_run_bundle_missing_rootfs() {
	mkdir -p "$T/bundle"
	echo '{"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "gone"}}' \
		>"$T/bundle/config.json"
	run_err 125 --bundle "$T/bundle"
	assert_contains "$out" "rootfs $T/bundle/gone: No such file or directory" "message"
}

test_run_missing_kernel() {
	mkdir -p "$T/rootfs"
	printf '# test config\nkernel = "/nonexistent/vmlinux"\n' >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "cocoon: guest kernel /nonexistent/vmlinux not found (set kernel= in $T/cocoon.conf)" "--config"
	out=$(COCOON_CONFIG=$T/cocoon.conf "$COCOON" run --rootfs "$T/rootfs" -- true 2>&1)
	assert_eq 125 $? "status with COCOON_CONFIG"
	assert_contains "$out" "guest kernel /nonexistent/vmlinux not found" "COCOON_CONFIG"
}

test_run_missing_initrd() {
	mkdir -p "$T/rootfs"
	echo 'initrd = /nonexistent/initrd.img' >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "guest initrd /nonexistent/initrd.img not found (set initrd= in $T/cocoon.conf)" "message"
}

test_run_missing_qemu() {
	mkdir -p "$T/rootfs"
	: >"$T/kernel"
	: >"$T/initrd"
	# The QEMU backend by name: `auto` is cocoon-vmm where the host has vmx/svm.
	printf 'hypervisor = qemu\nkernel = "%s"\ninitrd = "%s"\nqemu = "/nonexistent/qemu-system-x86_64"\n' \
		"$T/kernel" "$T/initrd" >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "cocoon: /nonexistent/qemu-system-x86_64 not found" "message"
	printf 'hypervisor = qemu\nkernel = "%s"\ninitrd = "%s"\nqemu = "no-such-qemu-binary"\n' \
		"$T/kernel" "$T/initrd" >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "cocoon: no-such-qemu-binary not found" "PATH lookup"
}

test_run_unknown_hypervisor() {
	mkdir -p "$T/rootfs"
	run_err 125 --hypervisor xen --rootfs "$T/rootfs" -- true
	assert_contains "$out" "cocoon: unknown hypervisor 'xen' (available: qemu" "message"
}

test_run_bad_memory() {
	mkdir -p "$T/rootfs"
	run_err 125 --memory lots --rootfs "$T/rootfs" -- true
	assert_contains "$out" "invalid --memory 'lots'" "not a size"
	run_err 125 --memory 1M --rootfs "$T/rootfs" -- true
	assert_contains "$out" "invalid --memory '1M': the minimum is 6M" "too small"
	run_err 125 --memory -5 --rootfs "$T/rootfs" -- true
	assert_contains "$out" "invalid --memory '-5'" "negative"
}

test_run_bad_options() {
	mkdir -p "$T/rootfs"
	run_err 125 --cpus 0 --rootfs "$T/rootfs" -- true
	assert_contains "$out" "invalid --cpus '0'" "zero cpus"
	run_err 125 -u alice --rootfs "$T/rootfs" -- true
	assert_contains "$out" "invalid --user 'alice'" "non-numeric user"
	run_err 125 -w relative --rootfs "$T/rootfs" -- true
	assert_contains "$out" "invalid --workdir 'relative'" "relative workdir"
	run_err 125 --no-such-flag --rootfs "$T/rootfs" -- true
	assert_contains "$out" "--no-such-flag" "unknown flag"
}

test_run_bad_config_file() {
	mkdir -p "$T/rootfs"
	printf 'kernel = "/x"\nmemory = 5\n' >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "cocoon: $T/cocoon.conf:2: unknown key 'memory'" "unknown key"
	printf 'default_vcpus = many\n' >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "$T/cocoon.conf:1: default_vcpus: expected a number" "bad value"
	run_err 125 --config "$T/missing.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "$T/missing.conf: No such file or directory" "missing file"
}

test_run_guest_never_answers() {
	# A guest whose init is not the agent: the run must give up after boot_timeout_ms,
	# show the guest console, and tear everything down.
	command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not installed (scripts/install-deps.sh installs it)"
	local kernel=$ROOT/build/share/cocoon/vmlinux
	[ -f "$kernel" ] || fail "guest kernel not built (make guest)"
	mkdir -p "$T/ird/bin" "$T/ird/dev" "$T/rootfs"
	cp /bin/busybox "$T/ird/bin/"
	printf '#!/bin/busybox sh\n/bin/busybox echo not-an-agent-%s\nexec /bin/busybox sleep 1000\n' "$$" >"$T/ird/init"
	chmod +x "$T/ird/init"
	(cd "$T/ird" && find . | cpio -o -H newc --quiet) >"$T/initrd.img"
	# The guest must reach its init (and print) before the timeout: 8 s here; in the
	# lab's L1 (COCOON_TEST_KVM_ONLY) a guest under nested emulation gets there in
	# 3-10 s with the L1s alone on the host's cores (25-35 s when other L1s shared
	# them), so it gets 40 s.
	local ms=8000
	[ -n "${COCOON_TEST_KVM_ONLY:-}" ] && ms=40000
	# On the backend the suite chose (tests/run.sh's KVM runs set it in COCOON_CONFIG).
	{
		grep -s '^hypervisor' "${COCOON_CONFIG:-/dev/null}"
		printf 'initrd = "%s"\nboot_timeout_ms = %s\n' "$T/initrd.img" "$ms"
	} >"$T/cocoon.conf"
	run_err 125 --config "$T/cocoon.conf" --rootfs "$T/rootfs" -- true
	assert_contains "$out" "the guest agent did not answer within $ms ms" "message"
	assert_contains "$out" "guest console" "console tail shown"
	assert_contains "$out" "not-an-agent-$$" "the guest's own output"
	# cocoon-vmm also says what its vCPUs did meanwhile.
	if grep -qs '^hypervisor = cocoon-vmm' "${COCOON_CONFIG:-/dev/null}"; then
		assert_contains "$out" "cocoon-vmm: the guest's first output at " "the VMM's view"
	fi
}

# Sockets live in the sandbox's state directory: one too deep for a unix socket path is
# refused up front, naming it, and leaves nothing behind.
test_run_state_dir_too_long() {
	mkdir -p "$T/rootfs"
	local deep=$T/$(printf 'd%.0s' $(seq 90))
	COCOON_STATE_DIR=$deep run_err 125 --rootfs "$T/rootfs" -- true
	assert_contains "$out" "state dir $deep is too long for sandbox" "message names the state dir"
	assert_contains "$out" "choose a shorter state_dir" "message says what to do"
	[ -z "$(ls -A "$deep" 2>/dev/null)" ] || fail "left in $deep: $(ls -A "$deep")"
}
