#!/bin/bash
# containerd benchmark, cocoon against runc in the same run, same containerd, same image:
#   1. `ctr run --rm IMG true`: median wall time of RUNS runs each, and the ratio;
#   2. pod start through CRI (RunPodSandbox + CreateContainer + StartContainer, measured
#      by the client tests/cri/cri.js): median of RUNS pods each;
#   3. host memory of one idle pod (a pause and a sleeping container): PSS of the shim +
#      VMM + virtiofsd for cocoon, of the shim for runc (its containers run on the host
#      and are not counted; cocoon's run inside the VM and are);
#   4. 10 cocoon pods started at once: wall time until all are running, slowest pod.
# Prints a markdown section for docs/benchmarks.md ("containerd").
# Usage: bench/shim.sh [RUNS]   (default 5; each cocoon run boots a VM, TCG here)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${1:-5}
CONCURRENT=${CONCURRENT:-10}
T=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-bench.XXXXXX")
export T COCOON_STATE_DIR=$T/state
mkdir -p "$COCOON_STATE_DIR" "$T/logs"
source tests/lib.sh
source tests/integration/cri.sh
trap 'rm -rf "$T"' EXIT

# containerd with CRI and a CNI bridge: pods are on the pod network, as kubelet's are.
cri_start
# After cri_start, whose own EXIT trap would replace this one.
trap 'cri_cleanup; rm -rf "$T"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1fx", a / b; else print "n/a"}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

time_ctr_runs() { # RUNTIME
	local i t0
	for i in $(seq "$RUNS"); do
		t0=$(now_ms)
		ctr_ run --runtime "$1" --rm "$IMG" "b-$i" true >/dev/null 2>&1 || echo "ctr run $i with $1 failed" >&2
		echo $(($(now_ms) - t0))
	done | median
}

pod_up() { # HANDLER NAME [COMMAND...]  -> JSON {pod, container, ms}
	local h=$1 n=$2
	shift 2
	[ $# -gt 0 ] || set -- true
	cri_ podup "$(jq -nc --arg h "$h" --arg n "$n" --arg l "$T/logs/$n" --arg i "$IMG" \
		--argjson c "$(jq -nc '$ARGS.positional | map(.[1:])' --args "${@/#/x}")" \
		'{handler: $h, name: $n, logdir: $l, image: $i, command: $c}')"
}

pod_down() { # POD_ID
	cri_ StopPodSandbox "{\"pod_sandbox_id\":\"$1\"}" >/dev/null
	cri_ RemovePodSandbox "{\"pod_sandbox_id\":\"$1\"}" >/dev/null
}

time_pod_starts() { # HANDLER
	local i out
	for i in $(seq "$RUNS"); do
		out=$(pod_up "$1" "start-$1-$i") || { echo "pod start $i with $1 failed" >&2; continue; }
		echo "$out" | jq -r '.ms | floor'
		pod_down "$(echo "$out" | jq -r .pod)"
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

# Warm both paths once (page cache, image snapshots).
ctr_ run --runtime io.containerd.runc.v2 --rm "$IMG" warm-r true >/dev/null 2>&1
ctr_ run --runtime "$RUNTIME" --rm "$IMG" warm-c true >/dev/null 2>&1
runc_ctr_ms=$(time_ctr_runs io.containerd.runc.v2)
cocoon_ctr_ms=$(time_ctr_runs "$RUNTIME")
runc_pod_ms=$(time_pod_starts runc)
cocoon_pod_ms=$(time_pod_starts cocoon)

# Idle pods: memory after the guest settled.
idle_r=$(pod_up runc idle-r sleep 100000 | jq -r .pod)
idle_c=$(pod_up cocoon idle-c sleep 100000 | jq -r .pod)
sleep 5
runc_shim=$(pgrep -f -- "containerd-shim-runc-v2 -namespace k8s.io -id $idle_r")
cocoon_shim=$(pgrep -f -- "containerd-shim-cocoon-v2 -namespace k8s.io -id $idle_c")
vm_pids=$(pgrep -f -- "$COCOON_STATE_DIR/$idle_c")
runc_pss=$(pss_kb $runc_shim)
cocoon_pss=$(pss_kb $cocoon_shim $vm_pids)
detail="shim $(mib "$(pss_kb $cocoon_shim)")"
for p in $vm_pids; do detail+=", $(basename "$(readlink /proc/$p/exe)") $(mib "$(pss_kb $p)")"; done
pod_down "$idle_r"
pod_down "$idle_c"

# Concurrent pod starts.
t0=$(now_ms)
clients=()
for i in $(seq "$CONCURRENT"); do
	pod_up cocoon "conc-$i" sleep 100000 >"$T/conc-$i.json" 2>"$T/conc-$i.err" &
	clients+=($!)
done
wait "${clients[@]}" # not containerd, also a child of this shell
conc_ms=$(($(now_ms) - t0))
conc_ok=0
conc_max=0
for i in $(seq "$CONCURRENT"); do
	pod=$(jq -r .pod "$T/conc-$i.json" 2>/dev/null)
	[ -n "$pod" ] && [ "$pod" != null ] || { cat "$T/conc-$i.err" >&2; continue; }
	conc_ok=$((conc_ok + 1))
	ms=$(jq -r '.ms | floor' "$T/conc-$i.json")
	[ "$ms" -gt "$conc_max" ] && conc_max=$ms
done
vms=$(pgrep -fc -- "qemu-system.*$COCOON_STATE_DIR")
for i in $(seq "$CONCURRENT"); do
	pod=$(jq -r .pod "$T/conc-$i.json" 2>/dev/null)
	[ -n "$pod" ] && [ "$pod" != null ] && pod_down "$pod"
done

accel=TCG
hypervisor_hw=$(grep -qwE 'vmx|svm' /proc/cpuinfo && echo yes || echo no)
[ "$hypervisor_hw" = yes ] && accel=KVM
cat <<MD
## containerd

Measured by \`bench/shim.sh $RUNS\` on $(date -u +%Y-%m-%d), $(nproc) CPUs, containerd $(containerd --version | awk '{print $3}'),
QEMU microvm under $accel, busybox image imported from an OCI tar. Medians of $RUNS runs each,
same containerd, same run. Pods use the node network (no CNI).

| | runc | cocoon | ratio |
|---|---|---|---|
| \`ctr run --rm IMG true\` | ${runc_ctr_ms} ms | ${cocoon_ctr_ms} ms | $(ratio "$cocoon_ctr_ms" "$runc_ctr_ms") |
| pod start (RunPodSandbox + CreateContainer + StartContainer) | ${runc_pod_ms} ms | ${cocoon_pod_ms} ms | $(ratio "$cocoon_pod_ms" "$runc_pod_ms") |
| host memory of an idle pod (PSS) | $(mib "$runc_pss") MiB (shim) | $(mib "$cocoon_pss") MiB ($detail MiB) | $(ratio "$cocoon_pss" "$runc_pss") |

$CONCURRENT cocoon pods started at once: $conc_ok of $CONCURRENT running after ${conc_ms} ms
(slowest pod ${conc_max} ms; $vms VMs were up at once).
MD
