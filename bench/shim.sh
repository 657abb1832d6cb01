#!/bin/bash
# containerd benchmark: `ctr run --rm IMG true` with the cocoon runtime against runc
# (medians and ratio, same containerd, same image, same run), and the host memory of
# one idle container: PSS of shim + VMM + virtiofsd for cocoon, of the shim for runc.
# Prints a markdown section for docs/benchmarks.md ("containerd").
# Usage: bench/shim.sh [RUNS]   (default 5; each cocoon run boots a VM)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${1:-5}
T=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-bench.XXXXXX")
export T COCOON_STATE_DIR=$T/state
mkdir -p "$COCOON_STATE_DIR"
source tests/lib.sh
source tests/containerd_lib.sh
trap 'ctd_stop; rm -rf "$T"' EXIT

ctd_start

ms() { date +%s%N; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

time_runs() { # RUNTIME
	local i t0 t1
	for i in $(seq "$RUNS"); do
		t0=$(ms)
		ctr_ run --runtime "$1" --rm "$IMG" "b-$i" true >/dev/null 2>&1 || echo "run $i with $1 failed" >&2
		t1=$(ms)
		echo $(((t1 - t0) / 1000000))
	done | median
}

pss_kb() { # PID...
	local total=0 p v
	for p in "$@"; do
		v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

# Warm both paths once (page cache, image snapshot).
ctr_ run --runtime io.containerd.runc.v2 --rm "$IMG" warm-r true >/dev/null 2>&1
ctr_ run --runtime "$RUNTIME" --rm "$IMG" warm-c true >/dev/null 2>&1
runc_ms=$(time_runs io.containerd.runc.v2)
cocoon_ms=$(time_runs "$RUNTIME")

ctr_ run --runtime io.containerd.runc.v2 -d "$IMG" idle-r sleep 1000 >/dev/null
ctr_ run --runtime "$RUNTIME" -d "$IMG" idle-c sleep 1000 >/dev/null
sleep 3
runc_shim=$(pgrep -f -- "containerd-shim-runc-v2 -namespace $CTD_NS -id idle-r -address $CTD_SOCK")
cocoon_shim=$(shim_pid idle-c)
vm_pids=$(pgrep -f -- "$COCOON_STATE_DIR/")
runc_pss=$(pss_kb $runc_shim)
cocoon_pss=$(pss_kb $cocoon_shim $vm_pids)
cocoon_shim_pss=$(pss_kb $cocoon_shim)
vm_detail=$(for p in $vm_pids; do printf '%s=%s MiB ' "$(basename "$(readlink /proc/$p/exe)")" $(($(pss_kb $p) / 1024)); done)

cat <<MD
## containerd

Measured by \`bench/shim.sh $RUNS\` on $(date -u +%Y-%m-%d), $(nproc) CPUs, containerd $(containerd --version | awk '{print $3}'),
busybox image imported from an OCI tar. Medians of $RUNS runs each, same containerd.

| | runc | cocoon | ratio |
|---|---|---|---|
| \`ctr run --rm IMG true\` | ${runc_ms} ms | ${cocoon_ms} ms | $(awk -v a="$cocoon_ms" -v b="$runc_ms" 'BEGIN {printf "%.1fx", a / b}') |
| host memory of an idle container (PSS) | $((runc_pss / 1024)) MiB (shim) | $((cocoon_pss / 1024)) MiB (shim $((cocoon_shim_pss / 1024)) MiB, $vm_detail) | $(awk -v a="$cocoon_pss" -v b="$runc_pss" 'BEGIN {printf "%.1fx", a / b}') |
MD
