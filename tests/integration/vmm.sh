# cocoon-vmm through the real binary with freestanding PVH guests (tests/vmm/guests).
GUESTS=$ROOT/build/tests/vmm-guests

# The freestanding guests need a /dev/kvm (PVM is enough for them); a host without one
# runs them in the nested-KVM lab (tests/lab), which tests/run.sh boots.
need_kvm() {
	[ -e /dev/kvm ] || skip "no /dev/kvm here: run in the lab"
}

vmm_guest() { # NAME: path of a built test guest, or fail
	[ -f "$GUESTS/$1.elf" ] || fail "test guest $1 not built (make vmm-guests)"
	echo "$GUESTS/$1.elf"
}

test_vmm_serial_hello_and_reset() {
	need_kvm
	local out rc
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" 2>"$T/err")
	rc=$?
	assert_eq 0 "$rc" "exit status after i8042 reset"
	assert_eq "hello from cocoon guest" "$out" "serial output"
	# Application processors wait for a SIPI the guest never sends; exit still works.
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --cpus 4 2>"$T/err")
	assert_eq 0 "$?" "exit status with 4 vCPUs"
	assert_eq "hello from cocoon guest" "$out" "serial output with 4 vCPUs"
}

# The bzImage guest (tests/vmm/bzimage): the 64-bit boot protocol with a real bzImage.
vmm_bzimage() {
	[ -f "$GUESTS/hello.bzImage" ] || fail "test guest hello.bzImage not built (make vmm-guests)"
	echo "$GUESTS/hello.bzImage"
}

test_vmm_bzimage_boot_protocol() {
	need_kvm
	local out rc
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_bzimage)" --cmdline "via boot_params" --memory 64 2>"$T/err")
	rc=$?
	assert_eq 0 "$rc" "exit status after i8042 reset ($(cat "$T/err"))"
	# cmd_line_ptr, the e820 map (3 entries, RAM up to 64 MiB), type_of_loader
	assert_eq "bzimage: cmdline=[via boot_params] e820=03 ram_end=04000000 loader=ff" "$out" "what the guest read from boot_params"
	printf 'initrd first line\nsecond\n' >"$T/initrd"
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_bzimage)" --initrd "$T/initrd" 2>"$T/err")
	assert_eq 0 "$?" "exit status with an initrd ($(cat "$T/err"))"
	assert_eq "bzimage: cmdline=[] e820=03 ram_end=08000000 loader=ff initrd=00000019:initrd first line" "$out" \
		"ramdisk_image/ramdisk_size in boot_params"
}

bz_patch() { # FILE OFFSET BYTES (printf format): overwrite bytes in place
	printf "$3" | dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none
}

bz_refused() { # FILE MESSAGE [VMM ARGS...]: cocoon-vmm refuses FILE with MESSAGE and status 1
	local file=$1 msg=$2 rc
	shift 2
	timeout 20 "$COCOON_VMM" --kernel "$file" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	assert_eq 1 "$rc" "exit status for $(basename "$file")"
	assert_contains "$(cat "$T/err")" "booting $file: $msg" "error for $(basename "$file")"
	assert_eq "" "$(cat "$T/out")" "guest output for $(basename "$file")"
}

test_vmm_bzimage_malformed_refused() {
	need_kvm
	local good size
	good=$(vmm_bzimage)
	size=$(stat -c %s "$good")
	cp "$good" "$T/magic" && bz_patch "$T/magic" 0x202 'HdrZ'
	bz_refused "$T/magic" "neither an ELF nor a bzImage (no HdrS setup header)"
	cp "$good" "$T/old" && bz_patch "$T/old" 0x206 '\x0b\x02'
	bz_refused "$T/old" "bzImage boot protocol 2.11 is too old: the 64-bit entry needs 2.12"
	cp "$good" "$T/no64" && bz_patch "$T/no64" 0x236 '\x00'
	bz_refused "$T/no64" "bzImage has no 64-bit entry (XLF_KERNEL_64 not in xloadflags)"
	cp "$good" "$T/sects" && bz_patch "$T/sects" 0x1f1 '\xff'
	bz_refused "$T/sects" "bzImage setup_sects 255 puts the kernel at 0x20000, past the end of the file ($size bytes)"
	head -c $((size - 16)) "$good" >"$T/short"
	bz_refused "$T/short" "bzImage truncated: $((size - 16 - 0x400)) bytes after the setup sectors, syssize says $((size - 0x400))"
	head -c $((0x220)) "$good" >"$T/header"
	bz_refused "$T/header" "bzImage truncated: 544 bytes, its setup header ends at 0x268"
	# A valid image the VM cannot hold: linked at 16 MiB, not relocatable.
	local init_size
	init_size=$(od -An -tx4 -j $((0x260)) -N4 "$good" | tr -d ' ' | sed 's/^0*//')
	bz_refused "$good" "bzImage is not relocatable and its 0x$init_size bytes (init_size) do not fit at pref_address 0x1000000" --memory 16
}

test_vmm_triple_fault_is_a_crash() {
	need_kvm
	local rc
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest crash)" >"$T/out" 2>"$T/err"
	rc=$?
	assert_eq 2 "$rc" "exit status of a crashed guest"
	assert_contains "$(cat "$T/err")" "triple fault on vCPU 0 (rip 0x" "crash message with the registers"
}

test_vmm_rejects_bad_kernel() {
	need_kvm
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

test_vmm_virtio_rng_returns_bytes() {
	need_kvm
	local out
	assert_contains "$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest rng)")" "rng: no device" "rng is opt-in"
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest rng)" --rng 2>"$T/err") || fail "rng guest failed: $(cat "$T/err")"
	[[ "$out" =~ ^rng:\ 10\ bytes\ ([0-9a-f]{32})$ ]] || fail "unexpected rng output: $out"
	[ "${BASH_REMATCH[1]}" != "00000000000000000000000000000000" ] || fail "rng returned zeros"
}

test_vmm_virtio_blk_read_write_flush() {
	need_kvm
	local out
	printf 'sector zero says hi\n' >"$T/disk.img"
	truncate -s 1M "$T/disk.img"
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest blk)" --disk "$T/disk.img" 2>"$T/err") ||
		fail "blk guest failed: $(cat "$T/err")"
	assert_contains "$out" "blk read status 00: sector zero says hi" "guest read sector 0"
	assert_contains "$out" "blk write status 00" "write status"
	assert_contains "$out" "blk flush status 00" "flush status"
	assert_contains "$out" "blk out-of-range status 01" "out-of-range read is an I/O error"
	assert_eq "written by the guest" "$(dd if="$T/disk.img" bs=512 skip=1 count=1 2>/dev/null | head -c 20)" \
		"sector 1 on the host after the guest wrote it"
}

test_vmm_virtio_blk_read_only() {
	need_kvm
	local out
	printf 'sector zero says hi\n' >"$T/disk.img"
	truncate -s 1M "$T/disk.img"
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest blk)" --disk "$T/disk.img,ro" 2>"$T/err") ||
		fail "blk guest failed: $(cat "$T/err")"
	assert_contains "$out" "blk read status 00: sector zero says hi" "guest read sector 0"
	assert_contains "$out" "blk write status 01" "write to a read-only disk fails"
	assert_eq "" "$(dd if="$T/disk.img" bs=512 skip=1 count=1 2>/dev/null | tr -d '\0')" "sector 1 untouched"
}

test_vmm_vsock_hybrid_echo() {
	need_kvm
	local out
	"$ROOT/tests/vmm/vsock_peer.py" "$T/v.sock" >"$T/peer.out" 2>&1 &
	local peer=$!
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest vsock)" --vsock "cid=7,socket=$T/v.sock" 2>"$T/err") ||
		fail "vsock guest failed: $out $(cat "$T/err")"
	wait $peer || fail "host peer failed: $(cat "$T/peer.out")"
	assert_contains "$out" "vsock: cid 07" "guest reads its CID from config space"
	assert_contains "$(cat "$T/peer.out")" "host got: OK 1073741824" "OK line after CONNECT"
	assert_contains "$(cat "$T/peer.out")" "host echo: hello guest" "guest echoed host data"
	assert_contains "$out" "vsock: host says pong: ping" "guest-initiated connection to PATH_5000"
	assert_contains "$out" "vsock: done" "guest saw the connection reset"
	[ ! -e "$T/v.sock" ] || fail "vsock socket left behind after exit"
}

test_vmm_vsock_rejects_host_cid() {
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --vsock "cid=2,socket=$T/v.sock" >"$T/out" 2>"$T/err"
	assert_eq 1 "$?" "exit status for cid 2"
	assert_contains "$(cat "$T/err")" "cid must be >= 3" "error names the problem"
}

wait_for_socket() { # PATH
	local i
	for i in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	fail "socket $1 never appeared"
}

test_vmm_api_pause_resume_shutdown() {
	need_kvm
	local api="$ROOT/tests/vmm/api_client.py" pid a b out
	"$COCOON_VMM" --kernel "$(vmm_guest spin)" --api-socket "$T/api.sock" >"$T/out" 2>"$T/err" &
	pid=$!
	trap 'kill $pid 2>/dev/null' EXIT
	wait_for_socket "$T/api.sock"
	out=$("$api" "$T/api.sock" ping info)
	assert_contains "$out" "ok pong" "ping"
	assert_contains "$out" "ok state=running pid=$pid vcpus=1 memory_mib=128" "info"
	# Every thread runs under its seccomp filter (mode 2), and still does its job.
	local st
	# No capability is left either, though the VMM was started as root.
	for st in /proc/$pid/task/*/status; do
		assert_eq "Seccomp:	2" "$(grep '^Seccomp:' "$st")" "seccomp mode of $st"
		assert_eq "CapEff:	0000000000000000" "$(grep '^CapEff:' "$st")" "capabilities of $st"
		assert_eq "CapPrm:	0000000000000000" "$(grep '^CapPrm:' "$st")" "capabilities of $st"
	done
	assert_eq "ok paused" "$("$api" "$T/api.sock" pause)" "pause"
	a=$(stat -c %s "$T/out")
	sleep 0.3
	b=$(stat -c %s "$T/out")
	assert_eq "$a" "$b" "serial output while paused"
	assert_contains "$("$api" "$T/api.sock" info)" "state=paused" "info while paused"
	assert_eq "ok running" "$("$api" "$T/api.sock" resume)" "resume"
	sleep 0.3
	[ "$(stat -c %s "$T/out")" -gt "$b" ] || fail "guest did not run again after resume"
	# The boot profile while it runs: the spin guest only writes the serial port.
	out=$("$api" "$T/api.sock" profile)
	assert_contains "$out" "ok uptime_ms=" "profile"
	assert_contains "$out" " running_ms=" "profile: vCPUs started"
	assert_contains "$out" " first_output_ms=" "profile: first serial byte"
	[[ "$out" =~ \ dev\.serial=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 100 ] ||
		fail "profile: serial accesses counted: $out"
	assert_contains "$("$api" "$T/api.sock" frobnicate)" "error unknown command" "bad command"
	assert_eq "ok shutting down" "$("$api" "$T/api.sock" shutdown)" "shutdown"
	wait $pid
	assert_eq 0 "$?" "exit status after API shutdown"
	[ ! -e "$T/api.sock" ] || fail "API socket left behind"
}

# --profile: the boot profile at exit, with the exits KVM handled itself.
test_vmm_boot_profile_at_exit() {
	local out err
	need_kvm
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --profile 2>"$T/err")
	assert_eq 0 "$?" "exit status ($(cat "$T/err"))"
	assert_eq "hello from cocoon guest" "$out" "serial output"
	err=$(grep '^cocoon-vmm: profile ' "$T/err") || fail "no profile line: $(cat "$T/err")"
	local key
	for key in loaded_ms running_ms first_output_ms vmm_exits io mmio dev.serial dev.i8042 kvm.exits; do
		[[ "$err" =~ \ $key=[0-9.]+ ]] || fail "profile has no $key: $err"
	done
	# One port write per character at least, and the i8042 reset.
	[[ "$err" =~ \ dev\.serial=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 24 ] ||
		fail "serial accesses: $err"
	[[ "$err" =~ \ kvm\.io_exits=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 24 ] ||
		fail "KVM's own io_exits count: $err"
	assert_not_contains "$err" "agent_ms" "no agent in this guest"
}

# Snapshot and restore (src/vmm/core/snapshot.c): the spin guest counts on the serial line; a
# restored copy goes on counting from where the saved one stopped, in a new process.
last_tick() { grep -aoE '^tick [0-9a-f]{8}$' "$1" | tail -1 | cut -c6-; }
first_tick() { grep -aoE '^tick [0-9a-f]{8}$' "$1" | head -1 | cut -c6-; }

test_vmm_snapshot_restore_resumes() {
	local api="$ROOT/tests/vmm/api_client.py" pid out last first
	need_kvm
	"$COCOON_VMM" --kernel "$(vmm_guest spin)" --cpus 2 --memory 64 --rng --api-socket "$T/api.sock" >"$T/out1" 2>"$T/err1" &
	pid=$!
	trap 'kill $pid 2>/dev/null' EXIT
	wait_for_socket "$T/api.sock"
	sleep 0.2
	mkdir "$T/snap"
	out=$("$api" "$T/api.sock" "snapshot $T/snap")
	assert_contains "$out" "ok saved state_bytes=" "snapshot answer ($(cat "$T/err1"))"
	assert_contains "$("$api" "$T/api.sock" info)" "state=paused" "the VM stays paused after a snapshot"
	# The saved VM can go on, and a second snapshot into the same directory is refused.
	assert_contains "$("$api" "$T/api.sock" "snapshot $T/snap")" "error snapshot $T/snap: $T/snap/memory: File exists" "second snapshot"
	assert_eq "ok shutting down" "$("$api" "$T/api.sock" shutdown)" "shutdown"
	wait $pid
	assert_eq 0 "$?" "exit status of the saved VM"
	last=$(last_tick "$T/out1")
	[ -n "$last" ] || fail "the guest printed no tick before the snapshot: $(head -c 300 "$T/out1")"
	[ "$(stat -c %a "$T/snap/memory") $(stat -c %a "$T/snap/vm.state")" = "600 600" ] || fail "snapshot files are not 0600"
	# Sparse: a 64 MiB guest that touched a few pages leaves a small file.
	[ "$(du -k "$T/snap/memory" | cut -f1)" -lt 4096 ] || fail "memory file not sparse: $(du -k "$T/snap/memory")"

	"$COCOON_VMM" --restore "$T/snap" --rng --api-socket "$T/api2.sock" >"$T/out2" 2>"$T/err2" &
	pid=$!
	wait_for_socket "$T/api2.sock"
	sleep 0.3
	assert_contains "$("$api" "$T/api2.sock" info)" "state=running pid=$pid vcpus=2 memory_mib=64" "info of the restored VM"
	assert_eq "ok shutting down" "$("$api" "$T/api2.sock" shutdown)" "shutdown of the restored VM"
	wait $pid
	assert_eq 0 "$?" "exit status of the restored VM ($(cat "$T/err2"))"
	first=$(first_tick "$T/out2")
	# The line being printed at the snapshot may be split between the two outputs.
	[ -n "$first" ] && [ $((16#$first)) -ge $((16#$last + 1)) ] && [ $((16#$first)) -le $((16#$last + 2)) ] ||
		fail "restored guest printed tick ${first:-none} first, the saved one ended at $last"
	grep -aq '^tick 00000000$' "$T/out2" && fail "the restored guest started over"
	return 0
}

# What --restore refuses, each with status 1 and a message naming the problem. The first
# checks need no KVM (the snapshot is read before the VM is created).
test_vmm_restore_refuses_bad_snapshots() {
	local rc
	restore_refused() { # MESSAGE ARGS...
		local msg=$1
		shift
		timeout 20 "$COCOON_VMM" "$@" >"$T/out" 2>"$T/err"
		rc=$?
		assert_eq 1 "$rc" "exit status for $*"
		assert_contains "$(cat "$T/err")" "$msg" "error for $*"
	}
	restore_refused "$T/none/vm.state" --restore "$T/none"
	mkdir "$T/junk"
	head -c 4096 /dev/urandom >"$T/junk/vm.state"
	restore_refused "snapshot $T/junk/vm.state: not a cocoon-vmm snapshot (bad magic)" --restore "$T/junk"
	restore_refused "--restore resumes a booted VM: --kernel" --restore "$T/junk" --kernel "$(vmm_guest spin)"
	# --restore-fd: the files a privileged parent opened for a jailed VMM.
	restore_refused "--restore-fd: expected STATE,MEMORY[,map] (fds >= 3), got '1,2'" --restore-fd 1,2
	restore_refused "--restore-fd: expected STATE,MEMORY[,map] (fds >= 3), got '3,3x'" --restore-fd 3,3x
	restore_refused "--restore-fd: expected STATE,MEMORY[,map] (fds >= 3), got '3,4,copy'" --restore-fd 3,4,copy
	restore_refused "snapshot --restore-fd: not a cocoon-vmm snapshot (bad magic)" --restore-fd 3,4 3<"$T/junk/vm.state" 4</dev/null
	[ -e /dev/kvm ] || skip "no /dev/kvm for a real snapshot"
	local api="$ROOT/tests/vmm/api_client.py" pid size
	"$COCOON_VMM" --kernel "$(vmm_guest spin)" --api-socket "$T/api.sock" >/dev/null 2>"$T/err1" &
	pid=$!
	trap 'kill $pid 2>/dev/null' EXIT
	wait_for_socket "$T/api.sock"
	mkdir "$T/snap"
	assert_contains "$("$api" "$T/api.sock" "snapshot $T/snap" shutdown)" "ok saved" "snapshot"
	wait $pid
	size=$(stat -c %s "$T/snap/vm.state")
	mkdir "$T/short" "$T/flip"
	cp --sparse=always "$T/snap/memory" "$T/short/memory"
	cp --sparse=always "$T/snap/memory" "$T/flip/memory"
	head -c $((size - 100)) "$T/snap/vm.state" >"$T/short/vm.state"
	restore_refused "snapshot $T/short/vm.state: truncated or padded" --restore "$T/short"
	cp "$T/snap/vm.state" "$T/flip/vm.state"
	printf '\xff' | dd of="$T/flip/vm.state" bs=1 seek=$((size / 2)) conv=notrunc status=none
	restore_refused "checksum mismatch: the file is corrupt" --restore "$T/flip"
	restore_refused "--cpus/--memory differ from the snapshot's 1 vCPUs and 128 MiB" --restore "$T/snap" --memory 256
	# A command line that builds another machine (an extra device) is refused.
	restore_refused "the snapshot has 0 virtio devices, the command line gives 1" --restore "$T/snap" --rng
	truncate -s 64M "$T/snap/memory"
	restore_refused "memory: 67108864 bytes, the snapshot's RAM is 134217728" --restore "$T/snap"
}

test_vmm_console_agent_port_echo() {
	need_kvm
	local out
	python3 - "$T/c.sock" >"$T/peer.out" 2>&1 <<'PY' &
import os, socket, sys, time
path = sys.argv[1]
deadline = time.time() + 20
while not os.path.exists(path) and time.time() < deadline:
    time.sleep(0.01)
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(path)
s.sendall(b"hello agent\n")
print("host got", s.recv(100).decode().strip())
s.close()
PY
	local peer=$!
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest console)" --console "socket=$T/c.sock" 2>"$T/err") ||
		fail "console guest failed: $out $(cat "$T/err")"
	wait $peer || fail "host peer failed: $(cat "$T/peer.out")"
	assert_contains "$out" "console: port agent open" "port named agent, host end open"
	assert_contains "$out" "console: echoed 0c bytes" "guest received the host's line"
	assert_contains "$(cat "$T/peer.out")" "host got hello agent" "host received the echo"
	assert_contains "$out" "console: host closed" "guest told when the host end closes"
}

test_vmm_virtio_net_tap_echo() {
	need_kvm
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	local tap="cct$RANDOM" out
	"$ROOT/tests/vmm/net_peer.py" "$tap" 02:cc:00:00:00:2a >"$T/peer.out" 2>&1 &
	local peer=$!
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest net)" --net "tap=$tap,mac=02:cc:00:00:00:2a" 2>"$T/err") ||
		fail "net guest failed: $out $(cat "$T/err")"
	wait $peer || fail "host peer failed: $(cat "$T/peer.out")"
	assert_contains "$out" "net: mac 02:cc:00:00:00:2a" "guest reads the MAC from config space"
	assert_contains "$(cat "$T/peer.out")" "host got: echo: hello net" "frame went host → guest → host"
	[ ! -e "/sys/class/net/$tap" ] || fail "tap $tap outlived the VMM"
}

test_vmm_net_rejects_bad_options() {
	need_kvm
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --net "tap=averyveryverylongtapname" >"$T/out" 2>"$T/err"
	assert_eq 1 "$?" "exit status for a too-long tap name"
	assert_contains "$(cat "$T/err")" "tap name" "error names the tap"
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --net "tap=x,mac=zz" >"$T/out" 2>"$T/err"
	assert_eq 1 "$?" "exit status for a bad mac"
	assert_contains "$(cat "$T/err")" "bad mac" "error names the mac"
}

# Device options are k=v lists (getsubopt): an unknown key or a key without its value is
# refused by name before any VM exists (no /dev/kvm needed).
test_vmm_device_options_refused() {
	local opt want
	for opt in "--net tap=x,bogus=1|--net: unknown key in 'bogus=1'" "--net tap|--net: expected tap=value" \
		"--fs tag=a,socket=/s,x|--fs: unknown key in 'x'" "--vsock cid=3|--vsock: cid= and socket= are required" \
		"--console sock=/s|--console: unknown key in 'sock=/s'"; do
		want=${opt#*|}
		# shellcheck disable=SC2086
		timeout 20 "$COCOON_VMM" --kernel "$T/no-kernel" ${opt%%|*} >"$T/out" 2>"$T/err"
		assert_eq 1 "$?" "exit status for ${opt%%|*}"
		assert_contains "$(cat "$T/err")" "$want" "error for ${opt%%|*}"
	done
}

test_vmm_virtio_fs_via_virtiofsd() {
	need_kvm
	local vfsd=/usr/lib/qemu/virtiofsd out
	[ -x $vfsd ] || fail "no $vfsd (qemu-system-common; scripts/install-deps.sh installs it)"
	mkdir "$T/share"
	printf 'hi from the host\n' >"$T/share/hello.txt"
	$vfsd --socket-path="$T/fs.sock" -o source="$T/share" -o cache=none -o sandbox=namespace \
		-o log_level=warn >"$T/vfsd.log" 2>&1 &
	local vpid=$!
	wait_for_socket "$T/fs.sock"
	out=$(timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest fs)" --fs "tag=cocoonfs,socket=$T/fs.sock" 2>"$T/err") ||
		fail "fs guest failed: $out $(cat "$T/err")"
	assert_contains "$out" "fs: tag cocoonfs" "mount tag in config space"
	assert_contains "$out" "fs: init error 00000000 version 07." "FUSE_INIT answered by virtiofsd"
	assert_contains "$out" "fs: lookup error 00000000 size 00000011" "LOOKUP sees the 17-byte host file"
	wait $vpid # virtiofsd ends once the VMM disconnects
}

test_vmm_fs_backend_missing() {
	need_kvm
	timeout 20 "$COCOON_VMM" --kernel "$(vmm_guest hello)" --fs "tag=x,socket=$T/none.sock" >"$T/out" 2>"$T/err"
	assert_eq 1 "$?" "exit status without a backend"
	assert_contains "$(cat "$T/err")" "connecting to vhost-user backend $T/none.sock" "error names the socket"
}

# Linux guests under cocoon-vmm need VT-x/SVM: on a PVM host the kernel does not boot.
need_hw_virt() {
	grep -qwE 'vmx|svm' /proc/cpuinfo || skip "no hardware virtualization here: run in the lab"
}

test_vmm_linux_cocoon_run() {
	need_hw_virt
	make_rootfs "$T/rootfs"
	local out
	out=$("$COCOON" run --hypervisor cocoon-vmm --rootfs "$T/rootfs" -- sh -c 'echo hi from $(uname -r); exit 7')
	assert_eq 7 "$?" "container exit status through cocoon-vmm"
	assert_contains "$out" "hi from" "container output"
}

# A Linux template: the guest kernel and agent booted with cocoon.template=1 and saved
# once the agent answers, then two clones restored from it at the same time. Each
# clone's agent answers on the clone's own vsock socket (the transport reset dropped
# the template's connection), is the same boot (boot_id), and takes Reseed: its CRNG
# reseeded from host bytes and its wall clock set (stepped forward by the time since the
# save). Reading different random bytes in the two needs containers: the product test.
test_vmm_linux_template_clones() {
	need_hw_virt
	local share=$ROOT/build/share/cocoon api="$ROOT/tests/vmm/api_client.py" agent="$ROOT/tests/vmm/agent_client.py"
	[ -f "$share/vmlinux" ] && [ -f "$share/initrd.img" ] || fail "guest kernel/initrd not built (make guest)"
	local pid pa pb out boot a b
	"$COCOON_VMM" --kernel "$share/vmlinux" --initrd "$share/initrd.img" --memory 256 --cpus 2 \
		--cmdline "console=ttyS0 reboot=k panic=-1 random.trust_cpu=on cocoon.channel=vsock cocoon.template=1" \
		--vsock cid=3,socket="$T/t.vsock" --api-socket "$T/t.api" >"$T/t.console" 2>&1 &
	pid=$!
	trap 'kill $pid $pa $pb 2>/dev/null' EXIT
	out=$("$agent" "$T/t.vsock" hello) || fail "template agent: $out $(tail -5 "$T/t.console")"
	boot=${out##*boot_id=}
	mkdir "$T/tpl"
	assert_contains "$("$api" "$T/t.api" "snapshot $T/tpl" shutdown)" "ok saved" "template snapshot"
	wait $pid
	sleep 1 # so a clone's clock is visibly behind the host's
	"$COCOON_VMM" --restore "$T/tpl" --vsock cid=3,socket="$T/a.vsock" --api-socket "$T/a.api" >"$T/a.console" 2>&1 &
	pa=$!
	"$COCOON_VMM" --restore "$T/tpl" --vsock cid=3,socket="$T/b.vsock" --api-socket "$T/b.api" >"$T/b.console" 2>&1 &
	pb=$!
	a=$("$agent" "$T/a.vsock" hello reseed) || fail "clone a: $a $(tail -20 "$T/a.console")"
	b=$("$agent" "$T/b.vsock" hello reseed) || fail "clone b: $b $(tail -20 "$T/b.console")"
	assert_contains "$a" "boot_id=$boot" "clone a is the template's boot"
	assert_contains "$b" "boot_id=$boot" "clone b is the template's boot"
	assert_contains "$a" "reseed clock_set=1 clock_step_ns=" "clone a reseeded"
	assert_contains "$b" "reseed clock_set=1 clock_step_ns=" "clone b reseeded"
	local step=${a##*clock_step_ns=}
	[ "$step" -gt 500000000 ] || fail "clone a's clock moved $step ns, expected the time since the save"
	assert_eq "ok shutting down" "$("$api" "$T/a.api" shutdown)" "clone a shutdown"
	assert_eq "ok shutting down" "$("$api" "$T/b.api" shutdown)" "clone b shutdown"
	wait $pa
	assert_eq 0 "$?" "clone a exit status"
	wait $pb
	assert_eq 0 "$?" "clone b exit status"
}

# A template test's start: a rootfs, templates on with BOOT_TIMEOUT_MS, and whatever
# happens, no maker left running and no template left behind at its end.
template_test_init() { # BOOT_TIMEOUT_MS
	need_hw_virt
	make_rootfs "$T/rootfs"
	printf 'hypervisor = cocoon-vmm\ntemplate = auto\nlog_level = info\nboot_timeout_ms = %s\n' "$1" >"$T/c.conf"
	export COCOON_CONFIG=$T/c.conf
	trap templates_cleanup EXIT
}

# The spares (spare-*) of the template in DIR once no filler runs.
spares_of() { # DIR
	local i
	for i in $(seq 600); do template_workers || break; sleep 0.5; done
	ls "$1" | grep -c '^spare-'
}

# The first sandbox of a shape boots cold and has a template made beside it, with a
# spare of its RAM (template_spares = 1); the next ones are restored from it: exit
# codes, stdout/stderr, stdin, a file written through virtio-fs (virtiofsd maps the
# spare), and what must differ between clones (urandom, uuid) or follow the host (the
# wall clock). Of two clones at once one takes the spare and the other copies the
# template's memory (or takes a spare refilled meanwhile); the spare is refilled. A
# changed VM size makes a new template; a corrupt template is refused by name and the
# sandbox boots cold.
test_vmm_linux_template_cocoon_run() {
	template_test_init 300000
	local out dir a b before after
	out=$("$COCOON" run --rootfs "$T/rootfs" -- sh -c 'echo cold; exit 3' 2>"$T/err0")
	assert_eq 3 "$?" "exit status of the cold run ($(tail -3 "$T/err0"))"
	assert_eq cold "$out" "stdout of the cold run"
	assert_contains "$(cat "$T/err0")" "booting cold, one is made beside it" "the cold run says a template is being made"
	dir=$(wait_template c1-m256-n0-) || exit 1
	assert_eq "700 600 600 600" "$(stat -c %a "$dir" "$dir/memory" "$dir/vm.state" "$dir/key" | tr '\n' ' ' | sed 's/ $//')" "template permissions"
	assert_contains "$("$COCOON" check 2>&1)" "in use (template = auto, backend cocoon-vmm)" "cocoon check"
	[ "$(stat -f -c %T "$COCOON_STATE_DIR")" = tmpfs ] || fail "the state dir is not on tmpfs here: no spares to test"
	assert_eq 1 "$(spares_of "$dir")" "the maker filled one spare"
	assert_eq "600 0" "$(stat -c '%a %u' "$dir"/spare-*)" "the spare is root-only"
	assert_contains "$(cat "$COCOON_STATE_DIR/templates/maker.log")" "spare 1 of c1-m256-n0-" "the maker's log names the spare"

	# Two clones at once.
	for c in a b; do
		(before=$(date +%s.%N)
		 echo "in-$c" | "$COCOON" run -i --rootfs "$T/rootfs" -- sh -c "cat; echo err-$c >&2; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; cat /proc/sys/kernel/random/uuid; date +%s; echo written-$c >/file-$c; exit 5" >"$T/out-$c" 2>"$T/err-$c"
		 echo "rc=$? before=$before after=$(date +%s.%N)" >"$T/rc-$c") &
	done
	wait
	local spared=0
	for c in a b; do
		assert_contains "$(cat "$T/rc-$c")" "rc=5 " "exit status of clone $c ($(tail -5 "$T/err-$c"))"
		assert_contains "$(cat "$T/err-$c")" "restored from template c1-m256-n0-" "clone $c was restored"
		if grep -q "restored from template c1-m256-n0-.*(its memory from a spare)" "$T/err-$c"; then
			spared=$((spared + 1))
		else
			assert_contains "$(cat "$T/err-$c")" "(its memory copied)" "clone $c copied the template's memory"
		fi
		assert_contains "$(cat "$T/err-$c")" "err-$c" "stderr of clone $c"
		assert_eq "in-$c" "$(sed -n 1p "$T/out-$c")" "stdin to stdout of clone $c"
		assert_eq "written-$c" "$(cat "$T/rootfs/file-$c")" "file written through virtio-fs by clone $c"
		# The guest's wall clock is the host's (within a second) once restored.
		local g=$(sed -n 4p "$T/out-$c") rc=$(cat "$T/rc-$c")
		before=${rc#*before=}; before=${before%% *}; after=${rc##*after=}
		awk -v g="$g" -v b="$before" -v a="$after" 'BEGIN { exit !(g >= int(b) - 1 && g <= a + 1) }' ||
			fail "clone $c's clock $g is not within a second of the host's [$before, $after]"
	done
	a=$(sed -n 2,3p "$T/out-a"); b=$(sed -n 2,3p "$T/out-b")
	[ "$(sed -n 2p "$T/out-a")" != "$(sed -n 2p "$T/out-b")" ] || fail "two clones read the same /dev/urandom bytes: $a"
	[ "$(sed -n 3p "$T/out-a")" != "$(sed -n 3p "$T/out-b")" ] || fail "two clones made the same uuid: $a"
	# One spare: one clone took it; the other copied, unless a filler had refilled it.
	[ $spared -ge 1 ] || fail "no clone was restored from the spare"
	assert_eq 1 "$(spares_of "$dir")" "the spare is refilled"
	assert_contains "$(cat "$COCOON_STATE_DIR/templates/maker.log")" "spare 1 of c1-m256-n0-" "a filler refilled it"
	[ -z "$(ls -A "$dir" | grep -v -e '^spare-[0-9]*-[0-9]*$' -e '^spares.lock$' -e '^memory$' -e '^vm.state$' -e '^key$')" ] ||
		fail "unexpected files in the template: $(ls -A "$dir")"
	# A restore from the spare with template_spares = 0: no spare is taken, none made.
	printf 'template_spares = 0\n' >>"$T/c.conf"
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err-nospare" || fail "run with template_spares = 0: $(tail -3 "$T/err-nospare")"
	assert_contains "$(cat "$T/err-nospare")" "(its memory copied)" "template_spares = 0 copies"
	assert_eq 1 "$(spares_of "$dir")" "template_spares = 0 leaves the spare"
	sed -i '/template_spares/d' "$T/c.conf"

	# Another VM size: another template, beside the first.
	"$COCOON" run --memory 200M --rootfs "$T/rootfs" -- true 2>"$T/err2"
	assert_eq 0 "$?" "run with another size ($(tail -3 "$T/err2"))"
	assert_contains "$(cat "$T/err2")" "booting cold" "another size boots cold first"
	local dir2
	dir2=$(wait_template c1-m296-n0-) || exit 1
	[ -d "$dir" ] || fail "the first template was removed by another size's"

	# A corrupt template: refused, named, the sandbox boots cold, a new one is made.
	printf 'X' | dd of="$dir/vm.state" bs=1 seek=100 conv=notrunc 2>/dev/null
	out=$("$COCOON" run --rootfs "$T/rootfs" -- echo still 2>"$T/err3")
	assert_eq 0 "$?" "run with a corrupt template ($(tail -3 "$T/err3"))"
	assert_eq still "$out" "stdout with a corrupt template"
	assert_contains "$(cat "$T/err3")" "refused by cocoon-vmm: snapshot --restore-fd: checksum mismatch: the file is corrupt; booting cold" "the refusal says why"
	wait_template c1-m256-n0- >/dev/null || exit 1
}

# A template whose VM never answers once restored: its vCPU is saved spinning on itself
# (a jump to itself written where it stopped, in the kernel or in a guest process,
# interrupts off), so the guest never handles the vsock reset and the host's connect is
# never let through. The restore (from the template's spare) runs out of its time (a
# fifth of boot_timeout_ms), the sandbox boots cold with a line naming why, the template
# is replaced, spares and all, and the next run restores.
test_vmm_linux_template_restore_hangs() {
	template_test_init 150000
	local dir out
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err0" || fail "cold run: $(tail -3 "$T/err0")"
	dir=$(wait_template c1-m256-n0-) || exit 1
	assert_eq 1 "$(ls "$dir" | grep -c '^spare-')" "the template has a spare"
	python3 - "$dir" <<'EOF' || fail "damaging $dir"
import os, struct, sys, zlib
d = sys.argv[1]
b = bytearray(open(d + '/vm.state', 'rb').read())
off, rip, cr3 = 32, None, None  # the header; then records: u16 type, u16 index, u32 length, payload
while off < len(b):
    t, i, n = struct.unpack_from('<HHI', b, off)
    if t == 2:  # REGS: rip and rflags follow 16 registers; interrupts off
        rip, f = struct.unpack_from('<QQ', b, off + 8 + 128)
        struct.pack_into('<Q', b, off + 8 + 136, f & ~0x200)
    elif t == 3:  # SREGS: cr3 follows 8 segments, gdt, idt, cr0 and cr2
        cr3, = struct.unpack_from('<Q', b, off + 8 + 240)
    elif t == 10:  # MP_STATE: runnable
        struct.pack_into('<I', b, off + 8, 0)
    off += 8 + n
struct.pack_into('<I', b, 20, zlib.crc32(bytes(b[32:])))  # the header's body CRC
if rip is None or cr3 is None:
    sys.exit('no REGS or SREGS record in vm.state')
mem = open(d + '/memory', 'rb')
def phys(va):  # the guest's 4-level page walk, large pages included
    table, shift = cr3, 39
    while True:
        mem.seek((table & 0xffffffffff000) + ((va >> shift) & 511) * 8)
        e, = struct.unpack('<Q', mem.read(8))
        if not e & 1:
            sys.exit('rip %#x is not mapped in the saved page tables' % rip)
        if shift == 12 or (shift < 39 and e & 0x80):
            return (e & 0xffffffffff000 & ~((1 << shift) - 1)) | (va & ((1 << shift) - 1))
        table, shift = e, shift - 9
# The template's RAM and its spares (copies of it, made ahead) alike; byte by byte, as
# the two bytes may straddle pages.
at = [phys(rip), phys(rip + 1)]
for f in ['memory'] + [f for f in os.listdir(d) if f.startswith('spare-')]:
    with open(d + '/' + f, 'r+b') as m:
        for a, byte in zip(at, b'\xeb\xfe'):  # jmp .
            m.seek(a)
            m.write(bytes([byte]))
open(d + '/vm.state', 'wb').write(b)
EOF
	out=$("$COCOON" run --rootfs "$T/rootfs" -- echo cold-again 2>"$T/err1")
	assert_eq 0 "$?" "run with a template that hangs ($(tail -3 "$T/err1"))"
	assert_eq cold-again "$out" "stdout after the restore failed"
	assert_contains "$(cat "$T/err1")" "restore from template c1-m256-n0-" "the fallback is logged"
	assert_contains "$(cat "$T/err1")" "failed: its agent did not answer within 30000 ms (no agent on vsock port 1024" "the fallback says why and on what it waited"
	assert_contains "$(cat "$T/err1")" "; cocoon-vmm: the guest's first output at - ms;" "the VMM's view: the restored guest printed nothing"
	assert_contains "$(cat "$T/err1")" "over 1 s KVM exits" "the VMM's view: whether its vCPU still runs"
	assert_contains "$(cat "$T/err1")" "moved in that second:" "the VMM's view: what kind of exits"
	assert_contains "$(cat "$T/err1")" "; booting cold" "the fallback says what comes next"
	wait_template c1-m256-n0- >/dev/null || exit 1
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err2" || fail "run after: $(tail -3 "$T/err2")"
	assert_contains "$(cat "$T/err2")" "restored from template c1-m256-n0-" "the new template is used"
}

# A maker killed while it boots its VM, and an unfinished template of one killed while
# it saved: the next maker (under the template's lock) removes both and makes its
# template; the killed maker's VMM and virtiofsd died with it. A spares filler killed
# in its own cgroup: the next filler removes that cgroup.
test_vmm_linux_template_workers_die() {
	template_test_init 300000
	local i mpid sbdir name
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err0" || fail "cold run: $(tail -3 "$T/err0")"
	for i in $(seq 600); do
		mpid=$(pgrep -f -- "template-make --state-dir $COCOON_STATE_DIR")
		sbdir=$(ls -d "$COCOON_STATE_DIR"/template-c1-m256-n0-* 2>/dev/null)
		[ -n "$mpid" ] && [ -n "$sbdir" ] && pgrep -f -- "$sbdir/vm" >/dev/null && break
		sleep 0.2
	done
	[ -n "$sbdir" ] || fail "the maker's sandbox never appeared: $(tail -5 "$COCOON_STATE_DIR/templates/maker.log")"
	kill -9 $mpid
	for i in $(seq 100); do
		pgrep -f -- "$sbdir/" >/dev/null || break
		sleep 0.2
	done
	pgrep -f -- "$sbdir/" >/dev/null && fail "the killed maker's VMM or virtiofsd lives on: $(pgrep -af -- "$sbdir/")"
	name=${sbdir##*/template-}
	mkdir -m 700 "$COCOON_STATE_DIR/templates/.tmp-$name-99999"
	echo partial >"$COCOON_STATE_DIR/templates/.tmp-$name-99999/memory"
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err1" || fail "second cold run: $(tail -3 "$T/err1")"
	wait_template c1-m256-n0- >/dev/null || exit 1
	assert_contains "$(cat "$COCOON_STATE_DIR/templates/maker.log")" "removing $sbdir, left by a maker that died" "the dead maker's sandbox is removed"
	assert_contains "$(cat "$COCOON_STATE_DIR/templates/maker.log")" ".tmp-$name-99999, left by a maker that died" "the unfinished template is removed"
	[ ! -e "$sbdir" ] || fail "$sbdir is still there"
	[ -z "$(ls -A "$COCOON_STATE_DIR/templates" | grep '^\.tmp-')" ] || fail "debris left: $(ls -A "$COCOON_STATE_DIR/templates")"
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err2" || fail "run after: $(tail -3 "$T/err2")"
	assert_contains "$(cat "$T/err2")" "restored from template c1-m256-n0-" "the template is used"
	# The filler that restore started waits for the spares lock held here, in its own
	# cgroup: killed there, it leaves that cgroup; the next restore's filler removes it.
	local tdir lk fpid cg
	for i in $(seq 600); do template_workers || break; sleep 0.5; done
	tdir=$(ls -d "$COCOON_STATE_DIR"/templates/c1-m256-n0-*/ | head -1)
	exec {lk}<"$tdir/spares.lock" || fail "no spares lock in $tdir"
	flock -x "$lk"
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err3" || fail "run with the lock held: $(tail -3 "$T/err3")"
	for i in $(seq 100); do
		fpid=$(pgrep -f -- "template-spare --state-dir $COCOON_STATE_DIR" | head -1)
		[ -n "$fpid" ] && cg=$(grep -o "/cocoon/[^ ]*-spares-$fpid-[0-9a-f]*" "/proc/$fpid/cgroup" | head -1) &&
			[ -n "$cg" ] && break
		sleep 0.2
	done
	[ -n "$cg" ] || fail "no filler waiting in a cgroup of its own (filler: '$fpid')"
	kill -9 "$fpid"
	flock -u "$lk"
	exec {lk}<&-
	[ -n "$(ls -d /sys/fs/cgroup/*"$cg" /sys/fs/cgroup"$cg" 2>/dev/null)" ] ||
		fail "the killed filler's cgroup $cg is not there to clean"
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err4" || fail "run after the filler died: $(tail -3 "$T/err4")"
	for i in $(seq 600); do template_workers || break; sleep 0.5; done
	[ -z "$(ls -d /sys/fs/cgroup/*"$cg" /sys/fs/cgroup"$cg" 2>/dev/null)" ] ||
		fail "the killed filler's cgroup $cg outlived the next filler: $(tail -5 "$COCOON_STATE_DIR/templates/maker.log")"
	assert_contains "$(cat "$COCOON_STATE_DIR/templates/maker.log")" "its process $fpid died, removing it" "the next filler says so"
}

# template = off: every sandbox boots cold, no template is made, and check says so.
test_vmm_linux_template_off() {
	need_hw_virt
	make_rootfs "$T/rootfs"
	printf 'hypervisor = cocoon-vmm\ntemplate = off\nlog_level = info\nboot_timeout_ms = 300000\n' >"$T/c.conf"
	export COCOON_CONFIG=$T/c.conf
	"$COCOON" run --rootfs "$T/rootfs" -- true 2>"$T/err"
	assert_eq 0 "$?" "run ($(tail -3 "$T/err"))"
	assert_not_contains "$(cat "$T/err")" "template" "no template line with template = off"
	[ ! -e "$COCOON_STATE_DIR/templates" ] || fail "a template was made with template = off"
	assert_contains "$("$COCOON" check 2>&1)" "off (template = off)" "cocoon check"
}

test_vmm_cocoon_run_says_why_not_here() {
	grep -qwE 'vmx|svm' /proc/cpuinfo && skip "hardware virtualization present"
	make_rootfs "$T/rootfs"
	"$COCOON" run --hypervisor cocoon-vmm --rootfs "$T/rootfs" -- true >"$T/out" 2>"$T/err"
	[ $? -ne 0 ] || fail "cocoon run with cocoon-vmm succeeded without vmx/svm"
	assert_contains "$(cat "$T/err")" "needs hardware virtualization" "error message"
}

# A bounded libFuzzer run of the virtqueue walker, every device parser and the snapshot
# loader (make fuzz);
# COCOON_FUZZ_SECONDS per target, 10 by default.
test_vmm_fuzz_bounded() {
	command -v clang >/dev/null || fail "no clang (scripts/install-deps.sh installs it)"
	make -s -C "$ROOT" fuzz-build >"$T/build.log" 2>&1 || fail "building fuzzers: $(tail -5 "$T/build.log")"
	local out
	out=$("$ROOT/tests/fuzz/run.sh" "${COCOON_FUZZ_SECONDS:-10}") || fail "a fuzzer found a crash: $out"
	[ "$(grep -c ': ok' <<<"$out")" -ge 8 ] || fail "expected 8 fuzz targets to run: $out"
}
