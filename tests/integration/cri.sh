# Pods as VMs through containerd's CRI plugin (runtime handler `cocoon`), driven by a
# real CRI client (tests/cri/cri.js, gRPC). Pods are on a CNI network as kubelet's are
# (bridge + host-local, unique to the test; a cocoon pod cannot use the host's network);
# tests/integration/cri_net.sh tests that network itself.
source tests/containerd_lib.sh
source tests/integration/net.sh

# A CNI config for the test's containerd, containerd with CRI and the client; sets LOGS
# (the pods' log directory), CN_BR (bridge), CN_NET (10.X.Y: the /24 host-local allocates
# from). The bridge is removed on every path (cri_cleanup).
cri_start() {
	[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
		fail "containernetworking-plugins missing in /usr/lib/cni (scripts/install-deps.sh installs them)"
	local tag
	tag=$(net_tag)
	CN_NET=$(net_subnet)
	CN_BR=ccr$tag
	mkdir -p "$T/cni"
	cat >"$T/cni/10-cocoon-test.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "cocoon-cri-$tag", "plugins": [
 {"type": "bridge", "bridge": "$CN_BR", "isGateway": true, "ipMasq": false,
  "ipam": {"type": "host-local", "subnet": "$CN_NET.0/24", "dataDir": "$T/ipam",
           "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
	ctd_start cri
	cri_client_start
	# ctd_start's EXIT trap, plus the bridge.
	trap cri_cleanup EXIT
	LOGS=$T/logs
	mkdir -p "$LOGS"
}

# Failure paths too: ctd_stop takes every pod through CRI (CNI DEL, netns removed)
# before containerd stops; the bridge is ours to remove.
cri_cleanup() {
	ctd_stop
	ip link del "$CN_BR" 2>/dev/null
	true
}

json_array() { # WORD...  (each gets a prefix: jq would take words like -c as its options)
	jq -nc '$ARGS.positional | map(.[1:])' --args "${@/#/x}"
}

# RunPodSandbox with handler cocoon (HANDLER in the environment picks another);
# prints the pod id. RESOURCES: LinuxContainerResources JSON; POD: more of the client's
# pod options (tests/cri/cri.js podConfig: namespace_options, security_context), kept
# for the pod's containers.
cri_pod() { # NAME [RESOURCES [POD]]
	local out
	printf '%s' "${3:-{\}}" >"$T/pod-$1.json"
	out=$(cri_ RunPodSandbox "$(jq -nc --arg n "$1" --arg l "$LOGS/$1" --argjson r "${2:-{\}}" \
		--argjson p "${3:-{\}}" --arg h "${HANDLER:-cocoon}" \
		'{handler: $h, pod: ({name: $n, logdir: $l, resources: $r} + $p)}')") || return 1
	echo "$out" | jq -r .pod_sandbox_id
}

# CreateContainer (log file $LOGS/POD_NAME/NAME.log); prints the container id. CTR (in
# the environment): more of the client's container options (security_context, mounts).
cri_create() { # POD_ID POD_NAME NAME CMD...
	local pod=$1 pname=$2 name=$3
	shift 3
	local out
	out=$(cri_ CreateContainer "$(jq -nc --arg p "$pod" --arg pn "$pname" --arg l "$LOGS/$pname" \
		--arg n "$name" --arg i "$IMG" --argjson c "$(json_array "$@")" \
		--argjson pp "$(cat "$T/pod-$pname.json" 2>/dev/null || echo '{}')" --argjson x "${CTR:-{\}}" \
		'{pod: $p, pod_config: ({name: $pn, logdir: $l} + $pp), container: $n, image: $i,
		  command: $c} + $x')") ||
		return 1
	echo "$out" | jq -r .container_id
}

cri_start_ctr() { # ID
	cri_ StartContainer "{\"container_id\":\"$1\"}" >/dev/null
}

cri_status() { # ID  -> ContainerStatus JSON
	cri_ ContainerStatus "{\"container_id\":\"$1\"}" | jq -c .status
}

cri_exec() { # ID CMD...  -> ExecSyncResponse JSON
	local id=$1
	shift
	cri_ ExecSync "$(jq -nc --arg c "$id" --argjson cmd "$(json_array "$@")" '{container_id: $c, cmd: $cmd, timeout: 60}')"
}

# Exec and its streaming session (tests/cri/cri.js exec) -> {stdout, stderr, status}
cri_exec_stream() { # ID TTY INPUT CMD...
	local id=$1 tty=$2 input=$3
	shift 3
	cri_ exec "$(jq -nc --arg c "$id" --argjson t "$tty" --arg in "$input" \
		--argjson cmd "$(json_array "$@")" \
		'{container_id: $c, cmd: $cmd, tty: $t, stdin: true, stdout: true, stderr: ($t | not),
		  resize: (if $t then {Width: 101, Height: 33} else null end), input: $in}')"
}

# The exit code in a remote command Status (v4 protocol): 0 for Success.
status_code() { # STREAM_JSON
	jq -r '.status | if .status == "Success" then 0
		else (.details.causes[]? | select(.reason == "ExitCode") | .message) end' <<<"$1"
}

wait_exited() { # ID
	local i
	for i in $(seq 100); do
		[ "$(cri_status "$1" | jq -r .state)" = CONTAINER_EXITED ] && return 0
		sleep 0.2
	done
	return 1
}

# The pod's host processes: the VMM and virtiofsd name the sandbox state dir.
vm_procs() { # POD_ID
	pgrep -f -- "$COCOON_STATE_DIR/$1" || true
}

pod_gone() { # POD_ID
	cri_ StopPodSandbox "{\"pod_sandbox_id\":\"$1\"}" >/dev/null || fail "StopPodSandbox"
	cri_ RemovePodSandbox "{\"pod_sandbox_id\":\"$1\"}" >/dev/null || fail "RemovePodSandbox"
	local i sock
	sock=/run/containerd/s/$(printf '%s/k8s.io/%s' "$CTD_SOCK" "$1" | sha256sum | cut -d' ' -f1)
	for i in $(seq 50); do
		[ -z "$(vm_procs "$1")" ] && [ ! -e "$sock" ] && [ ! -e "$COCOON_STATE_DIR/$1" ] && break
		sleep 0.2
	done
	[ -z "$(vm_procs "$1")" ] || fail "VM processes outlived RemovePodSandbox: $(ps -o args= -p "$(vm_procs "$1")")"
	[ ! -e "$sock" ] || fail "shim socket $sock outlived RemovePodSandbox"
	[ ! -e "$COCOON_STATE_DIR/$1" ] || fail "sandbox state outlived RemovePodSandbox"
	pgrep -f -- "containerd-shim-cocoon-v2 -namespace k8s.io -id $1" >/dev/null &&
		fail "shim outlived RemovePodSandbox"
	true
}

# After a refused or failed RunPodSandbox: no shim, no sandbox state.
no_pod_left() { # WHAT
	sleep 1
	pgrep -af -- "containerd-shim-cocoon-v2 -namespace k8s.io" | grep -F -- "$CTD_SOCK" &&
		fail "a shim outlived $1"
	[ -z "$(ls -A "$COCOON_STATE_DIR")" ] || fail "state left: $(ls "$COCOON_STATE_DIR")"
}

# StopPodSandbox + RemovePodSandbox (a runc pod; cocoon pods use pod_gone, which checks).
pod_rm() { # POD_ID
	cri_ StopPodSandbox "{\"pod_sandbox_id\":\"$1\"}" >/dev/null
	cri_ RemovePodSandbox "{\"pod_sandbox_id\":\"$1\"}" >/dev/null
}

test_cri_pod_shares_one_vm() {
	cri_start
	local pod a b c out
	# 1 CPU and 128 MiB for the pod: the VM gets them on top of the defaults (1, 256 MiB).
	pod=$(cri_pod p1 '{"cpu_period": 100000, "cpu_quota": 100000, "memory_limit_in_bytes": 134217728}') ||
		{ ctd_log_tail; fail "RunPodSandbox"; }
	[ -n "$pod" ] || fail "no pod id"
	# The pod's VMM and its flags, for the backend the suite chose (COCOON_CONFIG).
	local vmm="qemu-system" cpus="-smp 2 " mem="-m 384"
	[ "$(sed -n 's/^hypervisor *= *//p' "${COCOON_CONFIG:-/dev/null}")" = cocoon-vmm ] &&
		vmm=cocoon-vmm cpus="--cpus 2 " mem="--memory 384"
	out=$(ps -o args= -p "$(pgrep -f -- "$vmm.*$COCOON_STATE_DIR/$pod" | head -1)")
	assert_contains "$out" "$cpus" "VM vCPUs from the pod's CPU limit"
	assert_contains "$out" "$mem" "VM memory from the pod's memory limit"
	a=$(cri_create "$pod" p1 a sh -c 'echo log-a; echo err-a >&2; nc -l -p 7777; sleep 1000') || fail "CreateContainer a"
	cri_start_ctr "$a" || fail "StartContainer a"
	b=$(cri_create "$pod" p1 b sleep 1000) || fail "CreateContainer b"
	cri_start_ctr "$b" || fail "StartContainer b"
	[ "$(pgrep -fc -- "$vmm.*$COCOON_STATE_DIR")" = 1 ] || fail "expected one VM for the pod"
	# Same VM: same guest boot id, and a guest kernel that is not the host's.
	local ba bb
	ba=$(cri_exec "$a" cat /proc/sys/kernel/random/boot_id | jq -r .stdout)
	bb=$(cri_exec "$b" cat /proc/sys/kernel/random/boot_id | jq -r .stdout)
	[ -n "$ba" ] || fail "no boot id from container a: $(cri_status "$a"); log: $(cat "$LOGS/p1/a.log")"
	assert_eq "$ba" "$bb" "guest boot id of the two containers"
	[ "$ba" != "$(cat /proc/sys/kernel/random/boot_id)" ] || fail "containers see the host's boot id"
	[ "$(cri_exec "$b" uname -r | jq -r .stdout)" != "$(uname -r)" ] || fail "exec ran on the host kernel"
	# b reaches a over localhost; a's log shows what arrived.
	out=$(cri_exec "$b" sh -c 'echo over-localhost | nc 127.0.0.1 7777; echo rc=$?')
	assert_contains "$out" "rc=0" "nc from b to a over localhost"
	# ExecSync keeps stdout, stderr and the exit code apart.
	out=$(cri_exec "$b" sh -c 'echo to-out; echo to-err >&2; exit 4')
	assert_eq 4 "$(echo "$out" | jq -r .exit_code)" "ExecSync exit code"
	assert_eq to-out "$(echo "$out" | jq -r .stdout)" "ExecSync stdout"
	assert_eq to-err "$(echo "$out" | jq -r .stderr)" "ExecSync stderr"
	# CRI log file: containerd writes what the shim relays, stream by stream.
	local i
	for i in $(seq 25); do grep -q over-localhost "$LOGS/p1/a.log" 2>/dev/null && break; sleep 0.2; done
	out=$(cat "$LOGS/p1/a.log")
	assert_contains "$out" "stdout F log-a" "container a's log (stdout)"
	assert_contains "$out" "stderr F err-a" "container a's log (stderr)"
	assert_contains "$out" "stdout F over-localhost" "what b sent, in a's log"
	# Stats from the guest's cgroups.
	out=$(cri_ ContainerStats "{\"container_id\":\"$b\"}") || fail "ContainerStats"
	[ "$(echo "$out" | jq -r '.stats.memory.working_set_bytes.value // 0')" -gt 0 ] ||
		fail "ContainerStats: no memory working set: $out"
	[ "$(echo "$out" | jq -r '.stats.cpu.usage_core_nano_seconds.value // 0')" -gt 0 ] ||
		fail "ContainerStats: no CPU usage: $out"
	# UpdateContainerResources reaches the container's cgroup in the VM.
	cri_ UpdateContainerResources "{\"container_id\":\"$b\",\"linux\":{\"memory_limit_in_bytes\":$((80 << 20)),\"cpu_period\":100000,\"cpu_quota\":50000}}" >/dev/null ||
		fail "UpdateContainerResources"
	# (No cgroup namespace: the container's own cgroup is the one /proc/self/cgroup names.)
	local cg='cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)'
	assert_eq $((80 << 20)) "$(cri_exec "$b" sh -c "$cg/memory.max" | jq -r .stdout)" "memory.max after the update"
	assert_eq "50000 100000" "$(cri_exec "$b" sh -c "$cg/cpu.max" | jq -r .stdout)" "cpu.max after the update"
	# A container that exits: its status has the exit code.
	c=$(cri_create "$pod" p1 c sh -c 'exit 7') || fail "CreateContainer c"
	cri_start_ctr "$c" || fail "StartContainer c"
	wait_exited "$c" || fail "container c did not exit"
	assert_eq 7 "$(cri_status "$c" | jq -r .exit_code)" "ContainerStatus exit code"
	# StopContainer of a running one: SIGTERM is ignored by sleep as PID 1, so after the
	# grace period it is killed (137).
	cri_ StopContainer "{\"container_id\":\"$b\",\"timeout\":1}" >/dev/null || fail "StopContainer"
	assert_eq 137 "$(cri_status "$b" | jq -r .exit_code)" "exit code of a stopped container"
	pod_gone "$pod"
	cri_cleanup
}

test_cri_missing_command() {
	cri_start
	local pod a b out
	pod=$(cri_pod p2) || { ctd_log_tail; fail "RunPodSandbox"; }
	a=$(cri_create "$pod" p2 a /no/such/command) || fail "CreateContainer"
	out=$(cri_start_ctr "$a" 2>&1) && fail "StartContainer of a missing command succeeded"
	assert_contains "$out" "/no/such/command" "StartContainer error names the command"
	# The pod (and its VM) stays usable.
	b=$(cri_create "$pod" p2 b sleep 1000) || fail "CreateContainer after the failure"
	cri_start_ctr "$b" || fail "StartContainer after the failure"
	out=$(cri_exec "$b" echo still-works | jq -r .stdout)
	assert_eq still-works "$out" "ExecSync in the pod after the failure"
	pod_gone "$pod"
	cri_cleanup
}

test_cri_shim_killed() {
	cri_start
	local pod a shim i
	pod=$(cri_pod p3) || { ctd_log_tail; fail "RunPodSandbox"; }
	a=$(cri_create "$pod" p3 a sleep 1000) || fail "CreateContainer"
	cri_start_ctr "$a" || fail "StartContainer"
	[ -n "$(vm_procs "$pod")" ] || fail "no VM processes for the pod"
	shim=$(pgrep -f -- "containerd-shim-cocoon-v2 -namespace k8s.io -id $pod")
	[ -n "$shim" ] || fail "no shim for the pod"
	kill -9 "$shim"
	# containerd sees the shim's socket close and runs `containerd-shim-cocoon-v2 delete`,
	# which stops the VM and virtiofsd and removes the state; the tasks are gone.
	for i in $(seq 75); do
		[ -z "$(vm_procs "$pod")" ] && [ ! -e "$COCOON_STATE_DIR/$pod" ] && break
		sleep 0.2
	done
	[ -z "$(vm_procs "$pod")" ] || { ctd_log_tail; fail "VM processes outlived the shim"; }
	[ ! -e "$COCOON_STATE_DIR/$pod" ] || { ctd_log_tail; fail "sandbox state outlived the shim"; }
	for i in $(seq 50); do
		[ "$(cri_status "$a" | jq -r .state)" = CONTAINER_EXITED ] && break
		sleep 0.2
	done
	assert_eq CONTAINER_EXITED "$(cri_status "$a" | jq -r .state)" "container state after the shim died"
	pod_gone "$pod"
	cri_cleanup
}

# The pod's host cgroup (docs/security.md) holds every host process of the pod: the
# shim as well as the VMM and virtiofsd, so the node's accounting sees all the pod costs
# and none of it is charged to containerd. It is a leaf (cgroup v2 lets only leaves hold
# processes); after StopPodSandbox + RemovePodSandbox it is gone and the shim with it.
test_cri_pod_host_cgroup() {
	cri_start
	local cg=/sys/fs/cgroup pod a shim dirs d pid procs usage
	[ -d $cg/cpu ] && [ -d $cg/memory ] || [ -f $cg/cgroup.controllers ] ||
		skip "neither cgroup v1 cpu+memory nor a v2 root at $cg"
	pod=$(cri_pod hc '{"cpu_period": 100000, "cpu_quota": 50000, "memory_limit_in_bytes": 134217728}') ||
		{ ctd_log_tail; fail "RunPodSandbox"; }
	a=$(cri_create "$pod" hc a sleep 1000) || fail "CreateContainer"
	cri_start_ctr "$a" || fail "StartContainer"
	shim=$(pgrep -f -- "containerd-shim-cocoon-v2 -namespace k8s.io -id $pod")
	[ -n "$shim" ] || fail "no shim for the pod"
	[ "$(vm_procs "$pod" | wc -l)" -ge 2 ] || fail "expected the VMM and virtiofsd: $(vm_procs "$pod")"
	if [ -f $cg/cgroup.controllers ]; then
		dirs=$(echo $cg/cocoon/"$pod"-*)
		assert_eq "" "$(cat "$dirs/cgroup.subtree_control")" "controllers enabled below the pod's cgroup"
	else
		dirs="$(echo $cg/cpu/cocoon/"$pod"-*) $(echo $cg/memory/cocoon/"$pod"-*) $(echo $cg/pids/cocoon/"$pod"-*)"
	fi
	for d in $dirs; do
		[ -d "$d" ] || fail "no pod cgroup $d"
		procs=$(cat "$d/cgroup.procs")
		for pid in $shim $(vm_procs "$pod"); do
			echo "$procs" | grep -qx "$pid" ||
				fail "$(ps -o args= -p "$pid" | cut -c1-60) ($pid) is not in $d: $procs"
		done
		# And nothing else: every member is the shim or names the pod's state dir, or is
		# the kernel's worker of the pod's KVM VM (kvm-nx-lpage-recovery-<VMM pid>),
		# which KVM puts in the VMM's cgroups.
		for pid in $procs; do
			[ "$pid" = "$shim" ] || vm_procs "$pod" | grep -qx "$pid" ||
				[[ "$(cat /proc/$pid/comm 2>/dev/null)" == kvm-* ]] ||
				fail "$d holds $pid: $(ps -o args= -p "$pid")"
		done
	done
	for d in $dirs; do
		case $d in */memory/* | $cg/cocoon/*)
			if [ -f "$d/memory.current" ]; then usage=$(cat "$d/memory.current"); else usage=$(cat "$d/memory.usage_in_bytes"); fi
			[ "$usage" -gt $((32 << 20)) ] || fail "the pod's cgroup accounts only $usage bytes"
			;;
		esac
	done
	pod_gone "$pod"
	for d in $dirs; do
		wait_gone "$d" || fail "cgroup $d outlived RemovePodSandbox"
	done
	cri_cleanup
}

test_cri_guest_kernel_missing() {
	printf 'kernel = %s/no-such-vmlinux\n' "$T" >"$T/cocoon.conf"
	CTD_COCOON_CONFIG=$T/cocoon.conf cri_start
	local out
	out=$(cri_pod p4 2>&1) && fail "RunPodSandbox succeeded without a guest kernel"
	assert_contains "$out" "guest kernel $T/no-such-vmlinux" "RunPodSandbox error"
	assert_contains "$out" "$T/cocoon.conf" "the error names the config file (ConfigPath)"
	no_pod_left "the failed RunPodSandbox"
	cri_cleanup
}

# crictl exec -it / kubectl exec -it: Exec returns a URL on containerd's streaming
# server; the client speaks the remote command protocol there (WebSocket,
# v4.channel.k8s.io) with a terminal size (resize channel) and stdin.
test_cri_exec_tty() {
	cri_start
	local pod a out
	pod=$(cri_pod p5) || { ctd_log_tail; fail "RunPodSandbox"; }
	a=$(cri_create "$pod" p5 a sleep 1000) || fail "CreateContainer"
	cri_start_ctr "$a" || fail "StartContainer"
	# The client sends the size (101x33) and then this line. containerd applies a resize
	# only once the process started, so the shell waits briefly for it; the size is
	# spelled as arithmetic so that the pty's echo of the line cannot match.
	local line='i=0; while [ "$(stty size)" != "$((30+3)) $((100+1))" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; stty size | sed s/^/size=/; tty | sed s/^/tty=/; exit 3'
	out=$(cri_exec_stream "$a" true "$line"$'\n' sh) || { ctd_log_tail; fail "exec -it sh"; }
	assert_contains "$(jq -r .stdout <<<"$out")" "size=33 101" "terminal size after the resize"
	assert_contains "$(jq -r .stdout <<<"$out")" "tty=/dev/pts/" "the shell's terminal"
	assert_eq NonZeroExitCode "$(jq -r .status.reason <<<"$out")" "status reason: $out"
	assert_eq 3 "$(status_code "$out")" "exit code of exec -it"
	# Without a terminal: stdin piped in, stdout and stderr apart, success status.
	out=$(cri_exec_stream "$a" false $'from-stdin\n' sh -c 'read l; echo "got:$l"; echo to-err >&2') ||
		fail "exec -i"
	assert_eq "got:from-stdin" "$(jq -r .stdout <<<"$out")" "stdout of exec -i"
	assert_eq "to-err" "$(jq -r .stderr <<<"$out")" "stderr of exec -i"
	assert_eq 0 "$(status_code "$out")" "exit code of exec -i"
	# The client goes away (kubectl killed) while cat still reads: containerd closes the
	# exec's stdin (its FIFO end, then CloseIO), cat sees EOF and ends. (With a terminal
	# containerd closes only the output, as with runc, so a shell there stays.)
	out=$(cri_ exec "$(jq -nc --arg c "$a" '{container_id: $c, cmd: ["cat"], stdin: true, stdout: true,
		stderr: true, input: "via-cat\n", hangup_on: "via-cat\n"}')") || fail "exec -i cat"
	assert_eq true "$(jq -r .hangup <<<"$out")" "cat echoed its input: $out"
	local i
	for i in $(seq 50); do
		cri_exec "$a" ps -o args | jq -r .stdout | grep -qx cat || break
		sleep 0.2
	done
	cri_exec "$a" ps -o args | jq -r .stdout | grep -qx cat && fail "cat outlived its client"
	pod_gone "$pod"
	cri_cleanup
}
