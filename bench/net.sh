#!/bin/bash
# Pod network throughput and latency under containerd's CRI on a real CNI network
# (bridge + host-local, tests/integration/cri_net.sh), one run: a cocoon pod (veth → tc
# redirect → tap → virtio-net in the pod VM) against a runc pod (veth straight into the
# pod netns) on the same bridge. Each pod runs `iperf3 -s` in a container; the host is
# the iperf3 client (TCP, DURATION s) and pings each pod IP (PINGS pings). Prints both,
# the ratios cocoon/runc, and QEMU's CPU time during the cocoon transfer.
# iperf3 in the pod is the host's: its directory of libraries and the binary are CRI bind
# mounts (virtiofs in the VM) over the busybox test image, started through the loader.
# Usage: bench/net.sh   (as root, after `make bins guest`; env DURATION (5), PINGS (20))
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-5}
PINGS=${PINGS:-20}
# Short: the shim's agent socket, $T/state/<64-hex pod id>/agent.sock, must fit sun_path.
T=$(mktemp -d "${TMPDIR:-/tmp}/ccnet.XXXXXX")
export T COCOON_STATE_DIR=$T/state
mkdir -p "$COCOON_STATE_DIR"
source tests/lib.sh
source tests/integration/cri_net.sh
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

iperf=$(command -v iperf3) || fail "iperf3 is not installed"
loader=$(readlink -f /lib64/ld-linux-x86-64.so.2)
libdir=$(dirname "$loader")
for lib in $(ldd "$iperf" | grep -oE '/[^ ]+\.so[^ ]*'); do
	[ "$(dirname "$(readlink -f "$lib")")" = "$libdir" ] || fail "$lib is not in $libdir"
done
mounts=$(jq -nc --arg l "$libdir" --arg i "$iperf" '[
	{container_path: "/hostlib", host_path: $l, readonly: true},
	{container_path: "/iperf3", host_path: $i, readonly: true}]')
server=$(jq -nc --arg l "/hostlib/$(basename "$loader")" '[$l, "--library-path", "/hostlib", "/iperf3", "-s"]')

cri_start
trap 'cri_cleanup; rm -rf "$T"' EXIT

# A pod on the CNI network with an iperf3 server; prints the pod id.
iperf_pod() { # NAME HANDLER
	local pod
	pod=$(cn_pod "$1" "$2") || { ctd_log_tail >&2; fail "RunPodSandbox ($2)"; }
	cn_ctr "$pod" "$1" iperf3 "$server" "$mounts" >/dev/null || { ctd_log_tail >&2; fail "iperf3 container ($2)"; }
	echo "$pod"
}

# iperf3 client run, retried until the server listens (a bare TCP probe would upset
# the server's control protocol); prints Gbit/s received.
iperf_gbps() { # IP
	local out g
	for _ in $(seq 300); do
		# With -J, iperf3 may exit 0 and put "connection refused" in the JSON.
		if out=$(iperf3 -c "$1" -t "$DURATION" -J 2>/dev/null) &&
			g=$(echo "$out" | jq -er 'if .error then error(.error) else
				.end.sum_received.bits_per_second / 1e9 * 1000 | round / 1000 end' 2>/dev/null); then
			echo "$g"
			return 0
		fi
		sleep 0.2
	done
	fail "no iperf3 server at $1"
}

rtt_ms() { # IP  -> average ping RTT in ms
	busybox ping -c "$PINGS" -i 0.2 -q "$1" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

# CPU ticks used so far by each thread of a process: "TID TICKS" lines.
thread_ticks() { # PID
	local f
	for f in /proc/"$1"/task/*; do
		# Fields after the ")" closing the name: utime is the 12th, stime the 13th.
		echo "${f##*/} $(sed 's/.*) //' "$f/stat" 2>/dev/null | awk '{print $12 + $13}')"
	done
}

runc_pod=$(iperf_pod net-runc runc) || exit 1
cocoon_pod=$(iperf_pod net-cocoon cocoon) || exit 1
runc_ip=$(cn_pod_ip "$runc_pod")
cocoon_ip=$(cn_pod_ip "$cocoon_pod")
qemu=$(pgrep -f -- "qemu-system.*$COCOON_STATE_DIR/$cocoon_pod" | head -1)
[ -n "$qemu" ] || fail "no QEMU process for the cocoon pod"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# The first run of each waits for its server (in the VM: iperf3 loading over virtiofs
# under TCG) and warms up; the second is measured, with QEMU's CPU time around it.
iperf_gbps "$runc_ip" >/dev/null || exit 1
runc_gbps=$(iperf_gbps "$runc_ip") || exit 1
runc_ms=$(rtt_ms "$runc_ip")
iperf_gbps "$cocoon_ip" >/dev/null || exit 1
t0=$(date +%s.%N)
thread_ticks "$qemu" >"$T/ticks0"
cocoon_gbps=$(iperf_gbps "$cocoon_ip") || exit 1
thread_ticks "$qemu" >"$T/ticks1"
t1=$(date +%s.%N)
cocoon_ms=$(rtt_ms "$cocoon_ip")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

[ -n "$runc_ms" ] && [ -n "$cocoon_ms" ] || fail "ping failed (runc '$runc_ms' ms, cocoon '$cocoon_ms' ms)"
echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo);" \
	"$(grep -qwE 'vmx|svm' /proc/cpuinfo && echo 'KVM' || echo 'QEMU TCG (no vmx/svm)');" \
	"load average $load_before before, $load_after after"
echo "iperf3 TCP ${DURATION} s (host is the client), $PINGS pings; CNI bridge $CN_BR, $CN_NET.0/24"
printf '%-36s %12s %12s\n' "" "throughput" "ping rtt"
printf '%-36s %7s Gb/s %9s ms\n' "host <-> runc pod ($runc_ip)" "$runc_gbps" "$runc_ms" \
	"host <-> cocoon pod ($cocoon_ip)" "$cocoon_gbps" "$cocoon_ms"
awk -v cg="$cocoon_gbps" -v rg="$runc_gbps" -v cm="$cocoon_ms" -v rm="$runc_ms" \
	'BEGIN {printf "ratio cocoon/runc: throughput %.4f, RTT %.1fx\n", cg / rg, cm / rm}'
# QEMU's threads are unnamed: the busiest one during the transfer is the vCPU (TCG).
awk -v hz="$(getconf CLK_TCK)" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" '
	NR == FNR {t0[$1] = $2; next}
	{d = $2 - t0[$1]; all += d; if (d > max) max = d}
	END {printf "QEMU CPU during the cocoon transfer: busiest thread %.0f%% of a core, all threads %.0f%%\n",
		100 * max / hz / s, 100 * all / hz / s}' "$T/ticks0" "$T/ticks1"
