#!/bin/bash
# The nested-KVM lab: boots L1 = Debian's own kernel (scripts/lab-kernel.sh) under
# QEMU TCG with an emulated AMD-V CPU, where kvm-amd gives a real /dev/kvm, and runs the
# clone's tests/run.sh there for the KVM backends (cocoon-vmm, QEMU -accel kvm). L1
# sees the host's / read-only over 9p (an overlay with a tmpfs on top), so it runs the
# host's binaries and this clone's build as they are.
#
# Usage: tests/lab/lab.sh OUTDIR [FILTER...]
#   Leaves OUTDIR/summary ("pass|fail|skip NAME" lines, named by L1's tests/run.sh) and
#   OUTDIR/console.log (L1's tests/run.sh output). Exits 0 when L1 ran to its end, 1 when
#   it could not boot or ran out of time (COCOON_LAB_TIMEOUT seconds, 1500 by default);
#   the summary then holds what finished plus a failed "L1" line.
# Environment: COCOON_LAB_MEMORY (MiB, default 4096), COCOON_LAB_CPUS (default 2).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:?usage: tests/lab/lab.sh OUTDIR [FILTER...]}
shift
mkdir -p "$dest"
lab_fail() {
	echo "lab: $*" >&2
	echo "fail L1 ($*)" >>"$dest/summary"
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
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The initramfs: static busybox, the 9p and overlay modules with what they depend on.
ird=$run/initramfs
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/lib/modules/$ver"
cp /bin/busybox "$ird/bin/busybox"
cp "$root/tests/lab/initramfs-init" "$ird/init"
cp "$mods/modules.dep" "$ird/lib/modules/$ver/"
for m in virtio_pci 9pnet_virtio 9p overlay; do
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
	printf 'LAB_ARGS=('
	[ $# -gt 0 ] && printf '%q ' "$@"
	printf ')\n'
} >"$run/out/env"

start=$SECONDS
limit=${COCOON_LAB_TIMEOUT:-1500}
qemu-system-x86_64 -accel tcg -cpu max -smp "${COCOON_LAB_CPUS:-2}" -m "${COCOON_LAB_MEMORY:-4096}" \
	-M q35 -display none -monitor none -no-reboot -nic none \
	-serial "file:$run/serial.log" \
	-kernel "$kdir/vmlinuz" -initrd "$run/initrd.img" \
	-append "console=ttyS0 quiet panic=-1 lab.init=$root/tests/lab/l1-init.sh" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$run/out,mount_tag=labout,security_model=none" \
	>"$run/qemu.log" 2>&1 &
qemu_pid=$!
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$limit" ]; then
		kill "$qemu_pid"
		wait "$qemu_pid" 2>/dev/null
		qemu_pid=
		cat "$run/out/summary" >>"$dest/summary" 2>/dev/null
		cp "$run/out/console.log" "$dest/" 2>/dev/null
		lab_fail "L1 still running after ${limit}s: killed (console: $(tail -c 2000 "$run/out/console.log" 2>/dev/null))"
	fi
	sleep 1
done
wait "$qemu_pid"
qrc=$?
qemu_pid=
cat "$run/out/summary" >>"$dest/summary" 2>/dev/null
cp "$run/out/console.log" "$dest/" 2>/dev/null
grep -q '^lab-l1: tests/run.sh exited' "$run/out/console.log" 2>/dev/null ||
	lab_fail "L1 ended before its tests did (QEMU status $qrc after $((SECONDS - start))s; serial: $(tail -c 3000 "$run/serial.log") $(cat "$run/qemu.log"))"
echo "lab: L1 ran for $((SECONDS - start))s" >&2
exit 0
