#!/bin/bash
# Boot time of two guest kernels, interleaved in the same run: `cocoon run … true` with
# kernel A, then with kernel B, N times, so both see the same load. Prints, per kernel,
# the median wall time of the run and the agent's own boot-to-ready (kernel start to
# serving), and the ratio B/A of each.
# Usage: bench/kernel_boot.sh VMLINUX_A VMLINUX_B [N]   (default N = 10). Needs root and
# a built tree (make all). E.g. the guest kernel before and after a kernel.config change,
# both cached under ~/.cache/cocoon/kernel-<key>/vmlinux.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 VMLINUX_A VMLINUX_B [N]" >&2; exit 2; }
ka=$1 kb=$2 n=${3:-10}
for k in "$ka" "$kb"; do [ -f "$k" ] || { echo "bench: no kernel $k" >&2; exit 1; }; done
cocoon=$root/build/bin/cocoon
work=$(mktemp -d /tmp/cocoon-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$root/tests/busybox-rootfs.sh" "$work/rootfs" >/dev/null
# A loaded shared host can stretch a TCG boot past the default 30 s boot timeout.
printf 'kernel = "%s"\nboot_timeout_ms = 180000\n' "$ka" >"$work/a.conf"
printf 'kernel = "%s"\nboot_timeout_ms = 180000\n' "$kb" >"$work/b.conf"

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# One run: "<wall ms> <boot-to-ready ms>" to $work/K, or its failure to $work/K.failed
# (a boot that fails is counted, not timed: on a heavily loaded host a TCG guest can
# miss its timer check and panic, with either kernel).
one() {
	local t0 out
	t0=$(now_ms)
	if ! out=$("$cocoon" run --config "$work/$1.conf" --debug --rootfs "$work/rootfs" -- true 2>&1 >/dev/null); then
		echo "bench: a run with kernel $1 failed: $(echo "$out" | grep -E 'panic|error|did not' | head -2)" >&2
		echo x >>"$work/$1.failed"
		return
	fi
	echo "$(($(now_ms) - t0)) $(echo "$out" | sed -n 's/.*boot to ready \([0-9]*\) ms.*/\1/p')" >>"$work/$1"
}

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "kvm: $(grep -qwE 'vmx|svm' /proc/cpuinfo && echo hardware || echo 'no vmx/svm: QEMU TCG (software emulation)')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: $ka ($(stat -c %s "$ka") bytes)"
echo "B: $kb ($(stat -c %s "$kb") bytes)"
echo "runs: $n each, interleaved"
for i in $(seq 1 "$n"); do
	one a
	one b
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "failed boots: A $(cat "$work/a.failed" 2>/dev/null | wc -l), B $(cat "$work/b.failed" 2>/dev/null | wc -l)"
wa=$(cut -d' ' -f1 "$work/a" | median) wb=$(cut -d' ' -f1 "$work/b" | median)
ga=$(cut -d' ' -f2 "$work/a" | median) gb=$(cut -d' ' -f2 "$work/b" | median)
printf '%-34s %8s %8s %7s\n' "" A B "B/A"
printf '%-34s %8s %8s %7.2f\n' "run … true, wall ms (median)" "$wa" "$wb" "$(echo "$wb / $wa" | bc -l)"
printf '%-34s %8s %8s %7.2f\n' "agent boot to ready, ms (median)" "$ga" "$gb" "$(echo "$gb / $ga" | bc -l)"
range() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'; }
echo "spread (min-max): wall A $(cut -d' ' -f1 "$work/a" | range), B $(cut -d' ' -f1 "$work/b" | range);" \
	"boot to ready A $(cut -d' ' -f2 "$work/a" | range), B $(cut -d' ' -f2 "$work/b" | range)"
