#!/bin/bash
# Benchmark of the two KVM backends against each other in one run: cocoon-vmm vs QEMU
# -accel kvm, each selected by a COCOON_CONFIG file. Prints, per backend and as the
# ratio cocoon-vmm/QEMU:
#   - `cocoon run true` wall time (median of N) and its breakdown from --debug timing
#     lines and the agent's boot-to-ready;
#   - host memory (PSS) of one idle sandbox: cocoon + VMM + virtiofsd;
#   - wall time for 10 sandboxes started at once (each `cocoon run true`).
# Without vmx/svm here, it runs itself inside the nested-KVM lab's L1 (tests/lab/lab.sh):
# the guests then run under emulated SVM, so absolute figures are far from hardware and
# only the ratios mean something ("lab, nested emulation").
# Usage: bench/lab.sh [N]   (default 5 runs each). Needs root, a built tree (make).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	out=$(mktemp -d /tmp/cocoon-bench-lab.XXXXXX)
	trap 'rm -rf "$out"' EXIT
	echo "no vmx/svm here: running in the nested-KVM lab (L1 under QEMU TCG)"
	# The host is shared: its load says how much the figures are worth.
	echo "host: $(date -u '+%F %H:%M UTC'), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	rc=0
	COCOON_LAB_TIMEOUT=${COCOON_LAB_TIMEOUT:-1800} "$root/tests/lab/lab.sh" "$out" bench/lab.sh "$n" || rc=1
	grep -v '^lab-l1: done' "$out/console.log" 2>/dev/null || true
	echo "host: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	[ $rc -eq 0 ] || { cat "$out/summary" 2>/dev/null; exit 1; }
	grep -q '^lab-l1: command exited 0' "$out/console.log"
	exit
fi
[ -w /dev/kvm ] || { echo "bench: vmx/svm but no usable /dev/kvm" >&2; exit 1; }

cocoon=$root/build/bin/cocoon
work=$(mktemp -d /tmp/cocoon-bench.XXXXXX)
pids=()
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
"$root/tests/busybox-rootfs.sh" "$work/rootfs" >/dev/null
backends=(cocoon-vmm qemu)
# The lab's L2 guests boot under emulated SVM: far slower than the 30 s default allows.
for b in "${backends[@]}"; do printf 'hypervisor = %s\nboot_timeout_ms = 300000\n' "$b" >"$work/$b.conf"; done

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2fx'; }
cocoon_b() { # BACKEND ARGS...: cocoon with that backend's config
	local b=$1
	shift
	COCOON_CONFIG=$work/$b.conf "$cocoon" "$@"
}

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "kvm: $(grep -qw svm /proc/cpuinfo && echo svm || echo vmx)$([ "$(hostname)" = cocoon-lab ] && echo ' (lab, nested emulation: L1 under QEMU TCG)')"
echo "runs: $n each, backends alternated"
echo

# Start: N runs of `cocoon run --debug true` per backend, alternated so that load
# changes hit both; one line per run: wall, then the breakdown.
for i in $(seq 1 "$n"); do
	for b in "${backends[@]}"; do
		t0=$(now_ms)
		cocoon_b "$b" run --debug --rootfs "$work/rootfs" -- true 2>"$work/err" >/dev/null ||
			{ echo "bench: $b run failed: $(tail -5 "$work/err")" >&2; exit 1; }
		wall=$(($(now_ms) - t0))
		awk -v w="$wall" '/^timing / {t[$2]=$3}
			/boot to ready/ {match($0, /boot to ready [0-9]+/); g=substr($0, RSTART+14, RLENGTH-14)}
			END {printf "%d %.1f %.1f %s %.1f %.1f %.1f\n", w, t["vmm_spawned"],
				t["agent_ready"]-t["vmm_spawned"], g, t["container_created"]-t["agent_ready"],
				t["container_exited"]-t["container_created"], t["teardown_done"]-t["container_exited"]}' \
			"$work/err" >>"$work/start-$b"
	done
done
col() { awk -v c="$2" '{print $c}' "$work/start-$1" | median; }
echo "cocoon run true, median of $n (ms):"
printf '  %-44s %10s %10s %8s\n' "" cocoon-vmm qemu ratio
row() { # LABEL COLUMN
	local a q
	a=$(col cocoon-vmm "$2")
	q=$(col qemu "$2")
	printf '  %-44s %10s %10s %8s\n' "$1" "$a" "$q" "$( [ "${q%.*}" -gt 0 ] 2>/dev/null && ratio "$a" "$q" || echo -)"
}
row "wall time" 1
row "virtiofsd + VMM spawned" 2
row "VMM spawn to agent ready (kernel boot)" 3
row "  of which the guest's own boot-to-ready" 4
row "container create" 5
row "container start to exit" 6
row "teardown (power-off, VMM exit, cleanup)" 7
echo

source "$root/bench/lib.sh"
idle_cmd="trap 'exit 0' TERM; echo idle-ready; while :; do sleep 1; done"
declare -A pss
for b in "${backends[@]}"; do
	cocoon_b "$b" run --rootfs "$work/rootfs" -- sh -c "$idle_cmd" >"$work/idle.out" 2>&1 &
	pids=($!)
	wait_for "$work/idle.out" idle-ready
	sleep 3 # let the guest settle
	pss[$b]=$(pss_kb "${pids[0]}")
	kill "${pids[0]}"
	wait "${pids[0]}" 2>/dev/null || true
	pids=()
done
echo "host memory of one idle sandbox (PSS of cocoon + VMM + virtiofsd, kB):"
printf '  %-44s %10s %10s %8s\n' "" "${pss[cocoon-vmm]}" "${pss[qemu]}" "$(ratio "${pss[cocoon-vmm]}" "${pss[qemu]}")"
echo

# 10 sandboxes at once: wall time from the first start to the last exit.
declare -A burst
for b in "${backends[@]}"; do
	t0=$(now_ms)
	for i in $(seq 1 10); do
		cocoon_b "$b" run --rootfs "$work/rootfs" -- true >"$work/burst-$i.out" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { echo "bench: a $b sandbox of the 10 failed: $(cat "$work"/burst-*.out)" >&2; exit 1; }; done
	pids=()
	burst[$b]=$(($(now_ms) - t0))
done
echo "10 sandboxes started at once, wall time to the last exit (ms):"
printf '  %-44s %10s %10s %8s\n' "" "${burst[cocoon-vmm]}" "${burst[qemu]}" "$(ratio "${burst[cocoon-vmm]}" "${burst[qemu]}")"
