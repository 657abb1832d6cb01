# Pod networking: `cocoon run --netns` takes over the interfaces of a network namespace
# (veth ↔ tap tc redirect, virtio-net in the guest). Each test builds its own namespaces,
# veths and bridge with names unique to the run, and removes them on every path.

NET_NS=()
NET_LINKS=()

net_cleanup() {
	local x
	for x in "${NET_NS[@]}"; do ip netns del "$x" 2>/dev/null; done
	for x in "${NET_LINKS[@]}"; do ip link del "$x" 2>/dev/null; done
}

# A short tag unique to this test run (interface names have 15 characters at most).
net_tag() {
	echo "${T##*.}" | tr -dc 'a-zA-Z0-9' | tail -c 6
}

# A /24 nobody else on this host routes: 10.X.Y.0.
net_subnet() {
	local s
	for _ in $(seq 50); do
		s=10.$((RANDOM % 200 + 40)).$((RANDOM % 250))
		ip route show | grep -q "^$s\." || { echo "$s"; return; }
	done
	fail "no free 10.x.y.0/24"
}

# net_pod NS HOSTIF IP/PREFIX GATEWAY [MASTER]: a namespace whose eth0 is a veth with
# HOSTIF as the host end (enslaved to bridge MASTER when given).
net_pod() {
	local ns=$1 hif=$2 addr=$3 gw=$4 master=${5:-}
	ip netns add "$ns" || fail "ip netns add $ns"
	NET_NS+=("$ns")
	ip link add "$hif" type veth peer name eth0 netns "$ns" || fail "veth $hif"
	NET_LINKS+=("$hif")
	[ -n "$master" ] && ip link set "$hif" master "$master"
	ip link set "$hif" up
	ip -n "$ns" addr add "$addr" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$gw"
}

# Nothing cocoon made may remain in the namespace once the VM is gone.
assert_ns_clean() { # NS
	local links filters
	links=$(ip -n "$1" -o link show)
	assert_not_contains "$links" "cctap" "tap left in $1"
	filters=$(ip netns exec "$1" tc qdisc show dev eth0)
	assert_not_contains "$filters" "ingress" "ingress qdisc left on eth0 in $1"
	filters=$(ip netns exec "$1" tc filter show dev eth0 ingress)
	assert_eq "" "$filters" "tc filters left on eth0 in $1"
}

# Waits until URL answers from the host; prints the body. (busybox 1.35 wget -T
# crashes, hence timeout.)
wait_http() { # URL [NS]
	local i out
	for i in $(seq 150); do
		if [ -n "${2:-}" ]; then
			out=$(ip netns exec "$2" timeout 3 busybox wget -qO- "$1" 2>/dev/null) && { echo "$out"; return 0; }
		else
			out=$(timeout 3 busybox wget -qO- "$1" 2>/dev/null) && { echo "$out"; return 0; }
		fi
		sleep 0.2
	done
	return 1
}

# A rootfs serving www/index.html; the guest's httpd script waits for www/done.
net_rootfs() { # DIR TEXT
	make_rootfs "$1"
	mkdir -p "$1/www"
	echo "$2" >"$1/www/index.html"
}
SERVE='httpd -p 8080 -h /www; i=0; while [ ! -e /www/done ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done'

# One VM: the guest has the pod's IPv4/IPv6 addresses, MTU and default route, the
# bundle's /etc/resolv.conf and /etc/hosts bind mounts, and serves HTTP to the host.
test_net_pod_ip_dns_http() {
	trap net_cleanup EXIT
	local tag s ns
	tag=$(net_tag); s=$(net_subnet); ns=ccn-$tag
	net_pod "$ns" "cch$tag" "$s.2/24" "$s.1"
	ip addr add "$s.1/24" dev "cch$tag"
	ip -n "$ns" link set eth0 mtu 1400
	ip link set "cch$tag" mtu 1400
	ip -n "$ns" addr add "fd00:cc::2/64" dev eth0 nodad
	mkdir -p "$T/bundle"
	net_rootfs "$T/bundle/rootfs" "hello from the pod"
	printf 'nameserver %s.53\nsearch cocoon.test\n' "$s" >"$T/resolv.conf"
	printf '127.0.0.1 localhost\n%s.2 mypod\n' "$s" >"$T/hosts"
	cat >"$T/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "env": ["PATH=/bin"],
    "args": ["sh", "-c", "ip addr show eth0; ip route; ip -6 addr show eth0; cat /etc/resolv.conf /etc/hosts; $SERVE"]},
  "root": {"path": "rootfs"},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/etc/resolv.conf", "type": "bind", "source": "$T/resolv.conf", "options": ["rbind", "ro"]},
    {"destination": "/etc/hosts", "type": "bind", "source": "$T/hosts", "options": ["rbind", "ro"]}
  ],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}]}
}
JSON
	"$COCOON" run --netns "/var/run/netns/$ns" --bundle "$T/bundle" >"$T/out" 2>&1 &
	local pid=$! body
	body=$(wait_http "http://$s.2:8080/")
	local fetched=$?
	touch "$T/bundle/rootfs/www/done"
	wait $pid
	local rc=$?
	local out; out=$(cat "$T/out")
	assert_eq 0 $fetched "host fetched http://$s.2:8080/ from the VM (guest said: $out)"
	assert_eq "hello from the pod" "$body" "page served by httpd in the VM"
	assert_eq 0 $rc "cocoon run exit status"
	assert_contains "$out" "inet $s.2/24" "guest IPv4 address"
	assert_contains "$out" "mtu 1400" "guest MTU"
	assert_contains "$out" "default via $s.1 dev eth0" "guest default route"
	assert_contains "$out" "inet6 fd00:cc::2/64" "guest IPv6 address"
	assert_contains "$out" "search cocoon.test" "resolv.conf from the bundle mount"
	assert_contains "$out" "$s.2 mypod" "hosts from the bundle mount"
	assert_ns_clean "$ns"
	net_cleanup
	ip netns list | grep -q "$ns" && fail "netns $ns still there"
	trap - EXIT
}

# Two VMs and a plain namespace (a runc pod's network as runc leaves it) on one
# bridge: VM B and the plain peer fetch from VM A, VM B fetches from the plain peer.
test_net_two_vms_and_peer_on_bridge() {
	trap net_cleanup EXIT
	local tag s br
	tag=$(net_tag); s=$(net_subnet); br=ccb$tag
	ip link add "$br" type bridge || fail "bridge"
	NET_LINKS+=("$br")
	ip addr add "$s.1/24" dev "$br"
	ip link set "$br" up
	net_pod "cca-$tag" "cca$tag" "$s.2/24" "$s.1" "$br"
	net_pod "ccb-$tag" "ccv$tag" "$s.3/24" "$s.1" "$br"
	net_pod "ccp-$tag" "ccp$tag" "$s.4/24" "$s.1" "$br"
	net_rootfs "$T/a" "served by VM A"
	make_rootfs "$T/b"
	mkdir -p "$T/peer"
	echo "served by the plain peer" >"$T/peer/index.html"
	ip netns exec "ccp-$tag" busybox httpd -p 8080 -h "$T/peer"
	"$COCOON" run --netns "/var/run/netns/cca-$tag" --rootfs "$T/a" -- sh -c "$SERVE" >"$T/a.out" 2>&1 &
	local pid=$! fromhost frompeer fromb
	fromhost=$(wait_http "http://$s.2:8080/")
	frompeer=$(wait_http "http://$s.2:8080/" "ccp-$tag")
	fromb=$("$COCOON" run --netns "/var/run/netns/ccb-$tag" --rootfs "$T/b" -- \
		sh -c "timeout 5 wget -qO- http://$s.2:8080/; timeout 5 wget -qO- http://$s.4:8080/" 2>&1)
	# A second sandbox on VM A's namespace is refused and leaves VM A's wiring alone.
	local second again
	second=$("$COCOON" run --netns "/var/run/netns/cca-$tag" --rootfs "$T/b" -- true 2>&1)
	local second_rc=$?
	again=$(wait_http "http://$s.2:8080/")
	touch "$T/a/www/done"
	wait $pid
	local rc=$?
	pkill -f -- "-h $T/peer"
	assert_eq "served by VM A" "$fromhost" "host -> VM A"
	assert_eq "served by VM A" "$frompeer" "plain peer -> VM A"
	assert_eq $'served by VM A\nserved by the plain peer' "$fromb" "VM B -> VM A and -> plain peer"
	assert_eq 0 $rc "VM A exit status ($(cat "$T/a.out"))"
	assert_eq 125 $second_rc "second sandbox on one namespace"
	assert_contains "$second" "is another sandbox using this namespace?" "why it was refused"
	assert_eq "served by VM A" "$again" "VM A still reachable after the refused second sandbox"
	assert_ns_clean "cca-$tag"
	assert_ns_clean "ccb-$tag"
	net_cleanup
	trap - EXIT
}

# The real CNI plugins (bridge + host-local, as containerd's CRI calls them) set up the
# namespace; the VM serves the IP CNI allocated; CNI DEL and teardown leave nothing.
test_net_cni_bridge_plugin() {
	[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || fail "containernetworking-plugins missing (scripts/install-deps.sh installs them)"
	trap net_cleanup EXIT
	local tag s ns br conf
	tag=$(net_tag); s=$(net_subnet); ns=ccc-$tag; br=cni$tag
	ip netns add "$ns" || fail "ip netns add"
	NET_NS+=("$ns")
	NET_LINKS+=("$br")
	conf=$(cat <<JSON
{"cniVersion": "0.4.0", "name": "cocoon-test-$tag", "type": "bridge", "bridge": "$br",
 "isGateway": true, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "$s.0/24", "dataDir": "$T/ipam",
          "routes": [{"dst": "0.0.0.0/0"}]}}
JSON
)
	cni() { # COMMAND
		echo "$conf" | CNI_COMMAND=$1 CNI_CONTAINERID="c$tag" CNI_NETNS="/var/run/netns/$ns" \
			CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge
	}
	local result ip
	result=$(cni ADD) || fail "CNI ADD: $result"
	ip=$(echo "$result" | jq -r '.ips[0].address' | cut -d/ -f1)
	[[ "$ip" == "$s".* ]] || fail "CNI gave no address in $s.0/24: $result"
	net_rootfs "$T/r" "pod on the CNI bridge"
	"$COCOON" run --netns "/var/run/netns/$ns" --rootfs "$T/r" -- \
		sh -c "ip route; $SERVE" >"$T/out" 2>&1 &
	local pid=$! body
	body=$(wait_http "http://$ip:8080/")
	touch "$T/r/www/done"
	wait $pid
	assert_eq 0 $? "cocoon run exit status ($(cat "$T/out"))"
	assert_eq "pod on the CNI bridge" "$body" "host fetched the page at the CNI address $ip"
	assert_contains "$(cat "$T/out")" "default via $s.1 dev eth0" "CNI's default route in the guest"
	assert_ns_clean "$ns"
	cni DEL || fail "CNI DEL"
	net_cleanup
	trap - EXIT
}

test_net_without_netns_loopback_only() {
	make_rootfs "$T/r"
	local out
	out=$("$COCOON" run --debug --rootfs "$T/r" -- ip -o link 2>&1)
	assert_eq 0 $? "exit status"
	assert_contains "$out" "1: lo:" "loopback present"
	assert_contains "$out" "LOOPBACK,UP" "loopback up"
	assert_not_contains "$out" "eth0" "no NIC without a netns"
	assert_contains "$out" "no network namespace, the guest has loopback only" "log says so"
}

test_net_bad_netns() {
	make_rootfs "$T/r"
	local out
	out=$("$COCOON" run --netns "$T/no-such-netns" --rootfs "$T/r" -- true 2>&1)
	assert_eq 125 $? "exit status"
	assert_contains "$out" "network namespace $T/no-such-netns: No such file or directory" "error names the path"
	out=$("$COCOON" run --netns "$T/r/bin/busybox" --rootfs "$T/r" -- true 2>&1)
	assert_eq 125 $? "exit status for a file that is not a netns"
	assert_contains "$out" "enter the pod network namespace" "error says what failed"
}
