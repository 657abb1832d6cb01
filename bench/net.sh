#!/bin/bash
# Pod network throughput and latency, one run: host ↔ a VM started by
# `cocoon run --netns` (veth → tc redirect → tap → virtio-net) against host ↔ a plain
# network namespace (what a runc pod's network is), as ratios.
# iperf3 TCP for DURATION seconds (host is the client), then PINGS pings.
# Usage: bench/net.sh   (as root, after `make bins guest`; env DURATION, PINGS)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cocoon=$root/build/bin/cocoon
duration=${DURATION:-5}
pings=${PINGS:-20}
tag=$(printf '%04x' $((RANDOM)))
dir=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-netbench.XXXXXX")
s=10.$((RANDOM % 200 + 40)).$((RANDOM % 250))
vmns=ccbv-$tag
peerns=ccbp-$tag
vmpid=

cleanup() {
	set +e
	if [ -n "$vmpid" ]; then
		# The container's init is sh, which ignores SIGTERM as PID 1: ask, then kill.
		touch "$dir/rootfs/done"
		for _ in $(seq 50); do kill -0 "$vmpid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$vmpid" 2>/dev/null
		wait "$vmpid" 2>/dev/null
	fi
	ip netns pids "$peerns" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns del "$vmns" 2>/dev/null
	ip netns del "$peerns" 2>/dev/null
	ip link del "ccbv$tag" 2>/dev/null
	ip link del "ccbp$tag" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# pod NS HOSTIF HOSTIP PODIP: a namespace whose eth0 is a veth to the host.
pod() {
	ip netns add "$1"
	ip link add "$2" type veth peer name eth0 netns "$1"
	ip addr add "$3/32" dev "$2"
	ip link set "$2" up
	ip route add "$4/32" dev "$2"
	ip -n "$1" addr add "$4/24" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" route add "$3/32" dev eth0
	ip -n "$1" route add default via "$3"
}
pod "$vmns" "ccbv$tag" "$s.1" "$s.2"
pod "$peerns" "ccbp$tag" "$s.11" "$s.12"

# A rootfs with busybox and iperf3 with its libraries.
rootfs=$dir/rootfs
"$root/tests/busybox-rootfs.sh" "$rootfs"
iperf=$(command -v iperf3)
cp "$iperf" "$rootfs/bin/iperf3"
for lib in $(ldd "$iperf" | grep -oE '/[^ ]+\.so[^ ]*'); do
	mkdir -p "$rootfs$(dirname "$lib")"
	cp -L "$lib" "$rootfs$lib"
done

# iperf3 client run, retried until the server listens (a bare TCP probe would upset
# the server's control protocol); prints Gbit/s received.
iperf_gbps() { # IP
	local out g
	for _ in $(seq 300); do
		# With -J, iperf3 may exit 0 and put "connection refused" in the JSON.
		if out=$(iperf3 -c "$1" -t "$duration" -J 2>/dev/null) && g=$(echo "$out" | gbits 2>/dev/null); then
			echo "$g"
			return 0
		fi
		sleep 0.2
	done
	echo "net.sh: no iperf3 server at $1" >&2
	return 1
}

gbits() { # iperf3 -J output on stdin
	python3 -c 'import json,sys; j=json.load(sys.stdin); e=j.get("error"); sys.exit("iperf3: " + e) if e else print("%.3f" % (j["end"]["sum_received"]["bits_per_second"] / 1e9))'
}

rtt() { # ping summary on stdin: avg ms
	sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

# Plain namespace peer.
ip netns exec "$peerns" iperf3 -s >/dev/null 2>&1 &
peer_gbps=$(iperf_gbps "$s.12")
peer_ms=$(busybox ping -c "$pings" -i 0.2 -q "$s.12" | rtt)

# VM: an iperf3 server; the VM stays up for the pings until told to stop.
"$cocoon" run --cpus 1 --memory 256M --netns "/var/run/netns/$vmns" --rootfs "$rootfs" -- \
	sh -c 'iperf3 -s >/dev/null & while [ ! -e /done ]; do sleep 0.2; done' &
vmpid=$!
vm_gbps=$(iperf_gbps "$s.2")
vm_ms=$(busybox ping -c "$pings" -i 0.2 -q "$s.2" | rtt)
touch "$rootfs/done"
wait "$vmpid"
vmpid=

printf '%-28s %12s %12s\n' "" "throughput" "ping rtt"
printf '%-28s %9s Gb/s %9s ms\n' "host <-> plain netns (runc)" "$peer_gbps" "$peer_ms"
printf '%-28s %9s Gb/s %9s ms\n' "host <-> cocoon VM" "$vm_gbps" "$vm_ms"
python3 - "$vm_gbps" "$peer_gbps" "$vm_ms" "$peer_ms" <<'EOF'
import sys
vg, pg, vm, pm = map(float, sys.argv[1:])
print("ratio VM/plain: throughput %.4f, latency %.1fx" % (vg / pg, vm / pm))
EOF
