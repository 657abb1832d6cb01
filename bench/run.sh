#!/bin/bash
# Benchmark for `cocoon run`: one container running `true`, against runc running the
# same busybox rootfs on the host, in the same run. Prints
#   - wall time per run (median of N) for both, and the ratio;
#   - cocoon's breakdown from its --debug timing lines (runtime side) and the agent's
#     boot-to-ready (guest side);
#   - host memory (PSS) of one idle sandbox (cocoon + QEMU + virtiofsd) against runc's
#     (runc + the container process).
# Usage: bench/run.sh [N]   (default 10 runs each). Needs root, a built tree (make).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10}
cocoon=$root/build/bin/cocoon
work=$(mktemp -d /tmp/cocoon-bench.XXXXXX)
runc_id=cocoon-bench-$$
cleanup() {
	runc delete -f "$runc_id" >/dev/null 2>&1 || true
	[ -n "${idle_pid:-}" ] && kill "$idle_pid" 2>/dev/null && wait "$idle_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"$root/tests/busybox-rootfs.sh" "$work/bundle/rootfs" >/dev/null
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/' config.json)

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Wall time of N runs of a command, one per line in ms.
time_runs() {
	local i t0
	for i in $(seq 1 "$n"); do
		t0=$(now_ms)
		"$@" >/dev/null 2>&1 || { echo "bench: run failed: $*" >&2; exit 1; }
		echo $(($(now_ms) - t0))
	done
}

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "kvm: $(grep -qwE 'vmx|svm' /proc/cpuinfo && echo hardware || echo 'no vmx/svm: QEMU TCG (software emulation)')"
echo "runs: $n each"
echo

cocoon_ms=$(time_runs "$cocoon" run --rootfs "$work/bundle/rootfs" -- true | median)
runc_ms=$(time_runs runc run --bundle "$work/bundle" "$runc_id" | median)
printf '%-36s %8s ms\n' "cocoon run true (median)" "$cocoon_ms" "runc run true (median)" "$runc_ms"
printf '%-36s %8.1fx\n' "ratio cocoon/runc" "$(echo "$cocoon_ms / $runc_ms" | bc -l)"
echo

# Breakdown: the runtime's timing lines are ms since cocoon started; steps are deltas.
echo "breakdown of one cocoon run (median of $n; ms):"
for i in $(seq 1 "$n"); do
	"$cocoon" run --debug --rootfs "$work/bundle/rootfs" -- true 2>&1 >/dev/null |
		awk '/^timing / {t[$2]=$3}
		     /boot to ready/ {match($0, /boot to ready [0-9]+/); g=substr($0, RSTART+14, RLENGTH-14)}
		     END {printf "%.1f %.1f %s %.1f %.1f %.1f %.1f\n", t["vmm_spawned"],
			t["agent_ready"]-t["vmm_spawned"], g, t["container_created"]-t["agent_ready"],
			t["container_exited"]-t["container_created"], t["teardown_done"]-t["container_exited"],
			t["teardown_done"]}'
done >"$work/breakdown"
col() { awk -v c="$1" '{print $c}' "$work/breakdown" | median; }
printf '  %-44s %8s\n' \
	"virtiofsd + VMM spawned" "$(col 1)" \
	"VMM spawn to agent ready (kernel boot)" "$(col 2)" \
	"  of which the guest's own boot-to-ready" "$(col 3)" \
	"container create" "$(col 4)" \
	"container start to exit" "$(col 5)" \
	"teardown (power-off, VMM exit, cleanup)" "$(col 6)" \
	"total" "$(col 7)"
echo

source "$root/bench/lib.sh"

# The idle container ends on SIGTERM (as init it would ignore it without a trap).
idle_cmd="trap 'exit 0' TERM; echo idle-ready; while :; do sleep 1; done"
"$cocoon" run --rootfs "$work/bundle/rootfs" -- sh -c "$idle_cmd" >"$work/idle.out" 2>&1 &
idle_pid=$!
wait_for "$work/idle.out" idle-ready 300
sleep 2 # let the guest settle
cocoon_pss=$(pss_kb "$idle_pid")
kill "$idle_pid"; wait "$idle_pid" 2>/dev/null || true
idle_pid=

sed -i "s/\"sh\"/\"sh\", \"-c\", \"$idle_cmd\"/" "$work/bundle/config.json"
runc run --bundle "$work/bundle" "$runc_id" >"$work/idle.out" 2>&1 &
idle_pid=$!
wait_for "$work/idle.out" idle-ready 300
sleep 1
runc_pss=$(pss_kb "$idle_pid")
runc kill "$runc_id" KILL 2>/dev/null || true
wait "$idle_pid" 2>/dev/null || true
idle_pid=

echo "host memory of one idle container (PSS):"
printf '  %-44s %8s kB\n' "cocoon (cocoon + QEMU + virtiofsd)" "$cocoon_pss" "runc (runc + container)" "$runc_pss"
printf '  %-44s %8.1fx\n' "ratio cocoon/runc" "$(echo "$cocoon_pss / $runc_pss" | bc -l)"
