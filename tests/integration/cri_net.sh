# Pod networking under containerd's CRI with real CNI: the test's containerd calls the
# bridge + host-local plugins from /usr/lib/cni (conf dir, bridge name and subnet unique
# to the run); the cocoon shim takes over the pod's interfaces (docs/network.md).
# Each test boots at most two pod VMs; runc pods share the bridge for the mixed case.
source tests/integration/cri.sh

# The PodSandboxConfig kubelet would send for a pod on the pod network.
cn_pod_config() { # NAME
	jq -nc --arg n "$1" --arg l "$LOGS/$1" --arg s "$CN_NET" '{
		metadata: {name: $n, uid: ("uid-" + $n), namespace: "default", attempt: 0},
		hostname: ("host-" + $n), log_directory: $l,
		dns_config: {servers: [($s + ".53")], searches: ["svc.cocoon.test", "cocoon.test"],
			     options: ["ndots:3"]},
		labels: {app: $n},
		linux: {cgroup_parent: "", security_context: {namespace_options:
			{network: "POD", pid: "CONTAINER", ipc: "POD"}}}}'
}

# RunPodSandbox on the pod network; prints the pod id.
cn_pod() { # NAME HANDLER
	local out
	out=$(cri_ RunPodSandbox "$(jq -nc --argjson c "$(cn_pod_config "$1")" --arg h "$2" \
		'{config: $c, runtime_handler: $h}')") || return 1
	echo "$out" | jq -r .pod_sandbox_id
}

# A started container named NAME in the pod running CMD (JSON array) with MOUNTS (CRI
# Mount list, JSON); prints its id.
cn_ctr() { # POD_ID POD_NAME NAME CMD [MOUNTS]
	local out id
	out=$(cri_ CreateContainer "$(jq -nc --arg p "$1" --argjson pc "$(cn_pod_config "$2")" \
		--arg i "$IMG" --arg n "$3" --argjson c "$4" --argjson m "${5:-[]}" '{
			pod_sandbox_id: $p, sandbox_config: $pc, config: {
			metadata: {name: $n, attempt: 0}, image: {image: $i}, command: $c, mounts: $m,
			log_path: ($n + ".log"),
			linux: {security_context: {namespace_options:
				{network: "POD", pid: "CONTAINER", ipc: "POD"}}}}}')") || return 1
	id=$(echo "$out" | jq -r .container_id)
	cri_start_ctr "$id" || return 1
	echo "$id"
}

# A started container in the pod serving "TEXT" with busybox httpd on port 8080.
cn_httpd() { # POD_ID POD_NAME TEXT
	cn_ctr "$1" "$2" web "$(jq -nc --arg t "$3" '["sh", "-c", ("mkdir -p /www && echo " +
		($t | @sh) + " >/www/index.html && exec httpd -f -p 8080 -h /www")]')"
}

cn_pod_ip() { # POD_ID
	cri_ PodSandboxStatus "{\"pod_sandbox_id\":\"$1\"}" | jq -r .status.network.ip
}

# The pod's network namespace path, from the sandbox's runtime spec (verbose status).
cn_pod_netns() { # POD_ID
	cri_ PodSandboxStatus "{\"pod_sandbox_id\":\"$1\",\"verbose\":true}" |
		jq -r '.info.info | fromjson | .runtimeSpec.linux.namespaces[] |
			select(.type == "network") | .path'
}

# Fetches URL from inside a container (retries while the server comes up); prints the body.
cn_fetch() { # CONTAINER_ID URL
	cri_exec "$1" sh -c "for i in \$(seq 50); do timeout 5 wget -qO- $2 && exit 0; sleep 0.2; done; exit 1" |
		jq -r 'if .exit_code == 0 then .stdout else "exit \(.exit_code): \(.stderr)" end'
}

# Stop + remove through CRI; then nothing of the pod's network may remain: the netns,
# its taps and tc rules (they live in it), the host end of the veth on the bridge.
cn_pod_gone() { # POD_ID NETNS
	pod_gone "$1"
	[ ! -e "$2" ] || fail "netns $2 outlived RemovePodSandbox"
	grep -qF -- "$2" /proc/self/mountinfo && fail "netns mount $2 outlived RemovePodSandbox"
	true
}

# One cocoon pod: CNI's IP (PodSandboxStatus) is the guest's; the host fetches a page
# from busybox httpd in the VM; resolv.conf and hostname are the pod's; the taps and
# tc redirects exist while the pod runs and nothing is left after removal.
test_cri_net_pod_ip_http_dns() {
	cri_start
	local pod web ip netns out
	pod=$(cn_pod n1 cocoon) || { ctd_log_tail; fail "RunPodSandbox"; }
	ip=$(cn_pod_ip "$pod")
	[[ "$ip" == "$CN_NET".* ]] || fail "pod IP '$ip' not in CNI's subnet $CN_NET.0/24"
	netns=$(cn_pod_netns "$pod")
	[ -e "$netns" ] || fail "no pod netns in the sandbox spec: '$netns'"
	web=$(cn_httpd "$pod" n1 "served by cocoon pod n1") || { ctd_log_tail; fail "web container"; }
	out=$(wait_http "http://$ip:8080/") || fail "host could not fetch http://$ip:8080/ from the pod VM"
	assert_eq "served by cocoon pod n1" "$out" "page from the pod VM at the pod IP"
	# The server is in the VM: the guest kernel owns the pod IP.
	[ "$(cri_exec "$web" uname -r | jq -r .stdout)" != "$(uname -r)" ] || fail "container runs on the host kernel"
	assert_contains "$(cri_exec "$web" ip -4 addr show eth0 | jq -r .stdout)" "inet $ip/24" "guest eth0 address"
	assert_contains "$(cri_exec "$web" ip route | jq -r .stdout)" "default via $CN_NET.1 dev eth0" "guest default route"
	# DNS and hostname from RunPodSandbox.
	out=$(cri_exec "$web" cat /etc/resolv.conf | jq -r .stdout)
	assert_contains "$out" "nameserver $CN_NET.53" "resolv.conf nameserver"
	assert_contains "$out" "search svc.cocoon.test cocoon.test" "resolv.conf search"
	assert_contains "$out" "options ndots:3" "resolv.conf options"
	assert_eq "host-n1" "$(cri_exec "$web" hostname | jq -r .stdout)" "hostname in the pod"
	assert_eq "host-n1" "$(cri_exec "$web" cat /etc/hostname | jq -r .stdout)" "/etc/hostname in the pod"
	# While it runs: a tap with redirects both ways in the pod netns.
	assert_contains "$(nsenter --net="$netns" ip -o link show)" "cctap0" "tap in the pod netns"
	assert_contains "$(nsenter --net="$netns" tc filter show dev eth0 ingress)" "cctap0" "redirect eth0 -> tap"
	assert_contains "$(nsenter --net="$netns" tc filter show dev cctap0 ingress)" "eth0" "redirect tap -> eth0"
	cn_pod_gone "$pod" "$netns"
	[ -z "$(ip -o link show master "$CN_BR")" ] || fail "ports left on $CN_BR: $(ip -o link show master "$CN_BR")"
	ip -o link show | grep -q cctap && fail "a tap in the host namespace"
	cri_cleanup
	trap - EXIT
}

# Two cocoon pods on the bridge fetch each other's page.
test_cri_net_two_cocoon_pods() {
	cri_start
	local a b wa wb ia ib na nb
	a=$(cn_pod na cocoon) || { ctd_log_tail; fail "RunPodSandbox a"; }
	wa=$(cn_httpd "$a" na "from pod a") || { ctd_log_tail; fail "web a"; }
	b=$(cn_pod nb cocoon) || { ctd_log_tail; fail "RunPodSandbox b"; }
	wb=$(cn_httpd "$b" nb "from pod b") || { ctd_log_tail; fail "web b"; }
	ia=$(cn_pod_ip "$a"); ib=$(cn_pod_ip "$b")
	[ "$ia" != "$ib" ] || fail "both pods got $ia"
	na=$(cn_pod_netns "$a"); nb=$(cn_pod_netns "$b")
	assert_eq "from pod b" "$(cn_fetch "$wa" "http://$ib:8080/")" "pod a fetched from pod b ($ib)"
	assert_eq "from pod a" "$(cn_fetch "$wb" "http://$ia:8080/")" "pod b fetched from pod a ($ia)"
	cn_pod_gone "$a" "$na"
	cn_pod_gone "$b" "$nb"
	cri_cleanup
	trap - EXIT
}

# A runc pod (containerd's own runtime, restrict_oom_score_adj in the test config) and
# a cocoon pod on the same bridge fetch each other's page.
test_cri_net_runc_and_cocoon_pods() {
	cri_start
	local c r wc wr ic ir nc nr
	r=$(cn_pod nr runc) || { ctd_log_tail; fail "RunPodSandbox (runc)"; }
	wr=$(cn_httpd "$r" nr "from the runc pod") || { ctd_log_tail; fail "web (runc)"; }
	c=$(cn_pod nc cocoon) || { ctd_log_tail; fail "RunPodSandbox (cocoon)"; }
	wc=$(cn_httpd "$c" nc "from the cocoon pod") || { ctd_log_tail; fail "web (cocoon)"; }
	ic=$(cn_pod_ip "$c"); ir=$(cn_pod_ip "$r")
	nc=$(cn_pod_netns "$c"); nr=$(cn_pod_netns "$r")
	# The runc container shares the host kernel; the cocoon one does not.
	assert_eq "$(uname -r)" "$(cri_exec "$wr" uname -r | jq -r .stdout)" "runc pod kernel"
	assert_eq "from the runc pod" "$(cn_fetch "$wc" "http://$ir:8080/")" "cocoon pod fetched from the runc pod ($ir)"
	assert_eq "from the cocoon pod" "$(cn_fetch "$wr" "http://$ic:8080/")" "runc pod fetched from the cocoon pod ($ic)"
	cn_pod_gone "$c" "$nc"
	cn_pod_gone "$r" "$nr"
	cri_cleanup
	trap - EXIT
}

# A pod restored from a template (cocoon-vmm, template = auto): the first pod of its
# shape boots cold and has the template made, with a spare of its RAM; the next is
# restored from it, its RAM the spare, and is a whole pod: on the CNI bridge at its own
# IP with its own MAC (the host fetches its page), exec, exit codes, a file written to
# a volume through virtio-fs, its hostname, and random bytes of its own.
test_cri_net_template_pod() {
	grep -qwE 'vmx|svm' /proc/cpuinfo || skip "no hardware virtualization here: run in the lab"
	[ "$(sed -n 's/^hypervisor *= *//p' "${COCOON_CONFIG:-/dev/null}")" = cocoon-vmm ] ||
		skip "templates are cocoon-vmm's: this run is for another backend"
	grep -v '^template' "$COCOON_CONFIG" >"$T/tmpl.conf"
	printf 'template = auto\nlog_level = info\n' >>"$T/tmpl.conf"
	export COCOON_CONFIG=$T/tmpl.conf
	cri_start
	trap 'cri_cleanup; templates_cleanup' EXIT
	local a b wa wb ia ib na nb out c watcher tdir cgs
	# The maker pod a starts (once its agent answered) must not be charged to pod a:
	# a pod removed while its template boots (up to a minute in the lab) would find its
	# cgroup busy. While the template VM runs (its virtiofsd names the template's
	# sandbox dir), where are the maker and its NIC holder?
	(
		for _ in $(seq 600); do
			if pgrep -f -- "$COCOON_STATE_DIR/template-c" >/dev/null; then
				for p in $(pgrep -f -- "template-make --state-dir $COCOON_STATE_DIR"); do
					echo "$p: $(tr '\n' ' ' <"/proc/$p/cgroup")"
				done >"$T/maker-cgroups"
				exit 0
			fi
			sleep 0.1
		done
	) &
	watcher=$!
	a=$(cn_pod ta cocoon) || { ctd_log_tail; fail "RunPodSandbox a"; }
	wait "$watcher"
	[ -s "$T/maker-cgroups" ] || fail "never saw the template maker boot its VM"
	! grep -qF -- "$a" "$T/maker-cgroups" ||
		fail "the template maker was in pod a's cgroup while it booted the template VM: $(cat "$T/maker-cgroups")"
	wa=$(cn_httpd "$a" ta "from cold pod a") || { ctd_log_tail; fail "web a"; }
	tdir=$(wait_template c) || exit 1
	b=$(cn_pod tb cocoon) || { ctd_log_tail; fail "RunPodSandbox b"; }
	assert_contains "$(grep -o "pod VM [^ ]* ready: .*" "$CTD/containerd.log")" "booted cold" "the shim logs pod a's cold boot"
	assert_contains "$(grep -o "pod VM [^ ]* ready: .*" "$CTD/containerd.log")" "restored from a template" "the shim logs pod b's restore"
	assert_contains "$(grep -o "restored from template .*" "$CTD/containerd.log")" "(its memory from a spare)" "pod b's RAM is the spare the maker filled"
	assert_contains "$(cat "$CTD/containerd.log")" "templates in use (template = auto, backend cocoon-vmm)" "the shim logs that templates are in use"
	mkdir -p "$T/vol"
	wb=$(cn_ctr "$b" tb web "$(jq -nc '["sh", "-c", "mkdir -p /www && echo from restored pod b >/www/index.html && exec httpd -f -p 8080 -h /www"]')" \
		"$(jq -nc --arg h "$T/vol" '[{container_path: "/vol", host_path: $h}]')") || { ctd_log_tail; fail "web b"; }
	ia=$(cn_pod_ip "$a"); ib=$(cn_pod_ip "$b")
	na=$(cn_pod_netns "$a"); nb=$(cn_pod_netns "$b")
	out=$(wait_http "http://$ib:8080/") || fail "host could not fetch http://$ib:8080/ from the restored pod"
	assert_eq "from restored pod b" "$out" "page from the restored pod at its IP"
	assert_eq "from cold pod a" "$(cn_fetch "$wb" "http://$ia:8080/")" "restored pod b fetched from pod a ($ia)"
	assert_eq "from restored pod b" "$(cn_fetch "$wa" "http://$ib:8080/")" "pod a fetched from restored pod b ($ib)"
	# The pod's MAC, not the template's (the bridge learnt it from the veth CNI made).
	local mac
	mac=$(nsenter --net="$nb" ip -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
	[ -n "$mac" ] || fail "no MAC for eth0 in the pod netns $nb"
	assert_contains "$(cri_exec "$wb" cat /sys/class/net/eth0/address | jq -r .stdout)" "$mac" "restored pod's guest MAC is the pod's"
	assert_eq "host-tb" "$(cri_exec "$wb" hostname | jq -r .stdout)" "hostname of the restored pod"
	out=$(cri_exec "$wb" sh -c 'echo via-virtiofs >/vol/f; exit 3')
	assert_eq 3 "$(echo "$out" | jq -r .exit_code)" "exec exit code in the restored pod"
	assert_eq via-virtiofs "$(cat "$T/vol/f")" "file written through virtio-fs by the restored pod"
	[ "$(cri_exec "$wa" cat /proc/sys/kernel/random/uuid | jq -r .stdout)" != "$(cri_exec "$wb" cat /proc/sys/kernel/random/uuid | jq -r .stdout)" ] ||
		fail "the two pods made the same uuid"
	c=$(cn_ctr "$b" tb quits '["sh", "-c", "echo bye; exit 7"]') || fail "container quits"
	wait_exited "$c"
	assert_eq 7 "$(cri_status "$c" | jq -r .exit_code)" "exit code of a container in the restored pod"
	cn_pod_gone "$a" "$na"
	cn_pod_gone "$b" "$nb"
	cri_cleanup
	templates_cleanup
	trap - EXIT
	cgs=$(ls -d /sys/fs/cgroup/cocoon/"$(basename "$tdir")"-maker-* \
		/sys/fs/cgroup/{memory,cpu,pids}/cocoon/"$(basename "$tdir")"-maker-* 2>/dev/null)
	[ -z "$cgs" ] || fail "the maker's cgroup outlived it: $cgs"
}
