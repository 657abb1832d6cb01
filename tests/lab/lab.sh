#!/bin/bash
# The nested-KVM lab: boots L1 = Debian's own kernel (scripts/lab-kernel.sh) under
# QEMU TCG with an emulated AMD-V CPU, where kvm-amd gives a real /dev/kvm, and runs the
# clone's tests/run.sh there for the KVM backends (cocoon-vmm, QEMU -accel kvm). L1
# sees the host's / over virtio-fs (mounted read-only, under an overlay with a tmpfs on
# top), so it runs the host's binaries and this clone's build as they are. virtio-fs,
# not 9p: an exec in L1 opens ld.so and libraries, and each 9p request waits on QEMU's
# main loop; a dynamic /bin/true took 350 ms over 9p, 175 ms over virtio-fs. The
# results directory is a small 9p share.
#
# Usage: tests/lab/lab.sh OUTDIR COMMAND [ARG...]
#   Runs COMMAND in L1 from the clone's top directory, with LAB_OUT naming a directory
#   whose files come back to OUTDIR, and COCOON_TEST_SUMMARY=$LAB_OUT/summary (where
#   tests/run.sh leaves its "pass|fail|skip NAME" lines). OUTDIR/console.log is the
#   command's output. Exits 0 when L1 ran the command to its end, 1 when it could not
#   boot or ran out of time (COCOON_LAB_TIMEOUT seconds, 3000 by default); OUTDIR/summary
#   then holds what finished plus a failed "L1" line; 3 when L1 froze (below), with a
#   "froze L1" line.
# Environment: COCOON_LAB_MEMORY (MiB, default 4096), COCOON_LAB_CPUS (default 2),
# COCOON_LAB_FROZEN_S (default 120: an L1 that used no CPU that long froze).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:?usage: tests/lab/lab.sh OUTDIR COMMAND [ARG...]}
shift
[ $# -gt 0 ] || { echo "usage: tests/lab/lab.sh OUTDIR COMMAND [ARG...]" >&2; exit 2; }
mkdir -p "$dest"
lab_fail() {
	echo "lab: $*" >&2
	printf 'fail L1 (%s)\n' "$(printf '%s' "$*" | tr '\n' ' ')" >>"$dest/summary" # one line
	exit 1
}
case $root in *[[:space:]]*) lab_fail "the clone's path has blanks: $root" ;; esac
command -v qemu-system-x86_64 >/dev/null || lab_fail "qemu-system-x86_64 missing (scripts/install-deps.sh)"
[ -x /bin/busybox ] || lab_fail "/bin/busybox missing (busybox-static)"
kdir=$("$root/scripts/lab-kernel.sh") || lab_fail "no lab kernel (scripts/lab-kernel.sh failed)"
ver=$(cat "$kdir/version")
mods=$kdir/lib/modules/$ver

run=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-lab.XXXXXX")
qemu_pid=
vfsd_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
	[ -n "$vfsd_pid" ] && kill "$vfsd_pid" 2>/dev/null && wait "$vfsd_pid" 2>/dev/null
	rm -rf "$run"
}
# What L1 wrote so far: results of the tests that finished, its output, its console.
collect() {
	cat "$run/out/summary" >>"$dest/summary" 2>/dev/null
	cp "$run/out/console.log" "$run/serial.log" "$dest/" 2>/dev/null
	find "$run/out" -maxdepth 1 -type f ! -name summary ! -name console.log ! -name env -exec cp {} "$dest/" \;
}
trap cleanup EXIT
trap 'collect; lab_fail "interrupted"' INT TERM

# The initramfs: static busybox, the virtio-fs, 9p and overlay modules with what they
# depend on.
ird=$run/initramfs
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/lib/modules/$ver"
cp /bin/busybox "$ird/bin/busybox"
cp "$root/tests/lab/initramfs-init" "$ird/init"
cp "$mods/modules.dep" "$ird/lib/modules/$ver/"
for m in virtio_pci 9pnet_virtio 9p virtiofs overlay; do
	line=$(grep -E "(^|/)$m\.ko:" "$mods/modules.dep") || lab_fail "module $m not in $mods/modules.dep"
	for f in ${line%%:*} ${line#*:}; do
		mkdir -p "$ird/lib/modules/$ver/$(dirname "$f")"
		cp "$mods/$f" "$ird/lib/modules/$ver/$f"
	done
done
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$run/initrd.img" || lab_fail "building the initramfs"

mkdir "$run/out"
{
	printf 'LAB_ROOT=%q\nLAB_KERNEL_DIR=%q\n' "$root" "$kdir"
	printf 'LAB_CMD=('
	printf '%q ' "$@"
	printf ')\n'
} >"$run/out/env"

# A soft-locked L1 kernel panics (after 2 x watchdog_thresh s) and so ends L1 at once,
# with the lockup in its serial log, instead of holding the run until the limit. The
# HMP monitor at $run/monitor.sock is for a person looking at a live L1 (`info
# registers -a`).
# sandbox=chroot: the namespace sandbox pivot_roots into the source, and / cannot be.
/usr/lib/qemu/virtiofsd --socket-path="$run/vfs.sock" -o source=/ -o cache=always -o sandbox=chroot \
	-o log_level=warn >"$run/virtiofsd.log" 2>&1 &
vfsd_pid=$!
for _ in $(seq 100); do [ -S "$run/vfs.sock" ] && break; sleep 0.1; done
[ -S "$run/vfs.sock" ] || lab_fail "virtiofsd did not start: $(cat "$run/virtiofsd.log")"
start=$SECONDS
limit=${COCOON_LAB_TIMEOUT:-3000}
qemu-system-x86_64 -accel tcg -cpu max -smp "${COCOON_LAB_CPUS:-2}" -m "${COCOON_LAB_MEMORY:-4096}" \
	-M q35 -display none -monitor "unix:$run/monitor.sock,server,nowait" -no-reboot -nic none \
	-serial "file:$run/serial.log" \
	-kernel "$kdir/vmlinuz" -initrd "$run/initrd.img" \
	-append "console=ttyS0 loglevel=4 watchdog_thresh=60 softlockup_panic=1 panic=-1 lab.init=$root/tests/lab/l1-init.sh" \
	-object memory-backend-memfd,id=mem,size="${COCOON_LAB_MEMORY:-4096}M",share=on -numa node,memdev=mem \
	-chardev socket,id=vfs,path="$run/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=hostroot \
	-virtfs "local,path=$run/out,mount_tag=labout,security_model=none" \
	>"$run/qemu.log" 2>&1 &
qemu_pid=$!
# A frozen L1: QEMU's TCG has now and then left L1's vCPU halted for good, interrupts
# on, its LAPIC timer's vector pending in IRR and deliverable, and an NMI from the
# monitor did not wake it either: interrupts blocked below L1's own flags, as by a
# global interrupt flag (SVM's GIF) left clear in QEMU's emulation (docs/lab.md,
# "Known failures"). L1's kernel cannot report that, so it is seen from outside: the
# QEMU process used no CPU time for COCOON_LAB_FROZEN_S seconds (120), where a live L1
# always has timers to serve. Its tests then end with a "froze L1" line, not a wait
# until the limit.
frozen_s=${COCOON_LAB_FROZEN_S:-120}
cpu_time() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
# What the monitor shows of a frozen vCPU: halted or not, its flags, pending vectors.
vcpu_state() {
	python3 - "$run/monitor.sock" <<'PY' 2>&1 | tr -s ' \t\n' ' '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
out = b''
for c in (b'info registers\n', b'info lapic\n'):
    s.sendall(c)
    time.sleep(1)
    try:
        while True:
            out += s.recv(65536)
    except socket.timeout:
        pass
for line in out.decode(errors='replace').splitlines():
    if line.startswith(('RIP=', 'IRR', 'ISR', 'Timer', 'APR')):
        print(line.strip())
PY
}
# Ends L1 before its command did, keeping what it wrote so far.
stop_l1() {
	kill "$qemu_pid"
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
	collect
}
last_cpu=-1
last_change=$SECONDS
while kill -0 "$qemu_pid" 2>/dev/null; do
	cpu=$(cpu_time "$qemu_pid")
	if [ "$cpu" != "$last_cpu" ]; then
		last_cpu=$cpu
		last_change=$SECONDS
	fi
	if [ $((SECONDS - last_change)) -ge "$frozen_s" ]; then
		state=$(vcpu_state)
		stop_l1
		echo "lab: L1 froze after $((SECONDS - start))s: no CPU time for ${frozen_s}s; its vCPU: $state" >&2
		printf 'froze L1 (no CPU time for %ss after %ss; its vCPU: %s)\n' "$frozen_s" \
			"$((SECONDS - start))" "$state" >>"$dest/summary"
		exit 3
	fi
	if [ $((SECONDS - start)) -ge "$limit" ]; then
		stop_l1
		lab_fail "L1 still running after ${limit}s: killed (console: $(tail -c 2000 "$run/out/console.log" 2>/dev/null))"
	fi
	sleep 1
done
wait "$qemu_pid"
qrc=$?
qemu_pid=
collect
if ! grep -q '^lab-l1: command exited' "$run/out/console.log" 2>/dev/null; then
	# The L1 kernel's last words, from its first report of trouble (at most 200 lines).
	first=$(grep -n -m1 -E 'BUG|Oops|panic|soft lockup|rcu.*stall|general protection|double fault' \
		"$run/serial.log" | cut -d: -f1)
	{
		echo "lab: L1's serial log:"
		if [ -n "$first" ]; then tail -n +"$first" "$run/serial.log" | head -200; else tail -50 "$run/serial.log"; fi
		cat "$run/qemu.log"
	} | sed 's/^/    /' >&2
	lab_fail "L1 ended before its tests did (QEMU status $qrc after $((SECONDS - start))s; its serial log above)"
fi
echo "lab: L1 ran for $((SECONDS - start))s" >&2
exit 0
