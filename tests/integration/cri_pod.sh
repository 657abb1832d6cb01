# A cocoon pod behaves like a runc pod wherever a VM allows (docs/shim.md, "Pod
# features"): driven through containerd's CRI as kubelet would, with a runc pod beside
# it where the comparison is the point; what a VM cannot do is refused with an error
# naming the pod field.
source tests/integration/cri.sh

# The shim process of a pod (its command line names the pod id).
pod_shim() { # POD_ID
	pgrep -f -- "containerd-shim-.*-namespace k8s.io .*-id $1" | head -1
}

test_cri_pod_shim_name() {
	cri_start
	local pod rpod shim rshim
	pod=$(cri_pod sn) || { ctd_log_tail; fail "RunPodSandbox"; }
	rpod=$(HANDLER=runc cri_pod sn-runc) || { ctd_log_tail; fail "RunPodSandbox (runc)"; }
	shim=$(pod_shim "$pod")
	rshim=$(pod_shim "$rpod")
	[ -n "$shim" ] && [ -n "$rshim" ] || fail "no shim process for the pods ($shim, $rshim)"
	# ps, top and pgrep show the process name (15 bytes, as the kernel keeps it).
	assert_eq "$(ps -o comm= -p "$rshim")" "$(ps -o comm= -p "$shim")" "cocoon shim's name beside runc's"
	assert_eq containerd-shim "$(ps -o comm= -p "$shim")" "cocoon shim's name"
	pgrep -x containerd-shim | grep -qx "$shim" || fail "pgrep -x containerd-shim does not list the cocoon shim"
	assert_contains "$(ps -o args= -p "$shim")" "containerd-shim-cocoon-v2 -namespace" "the shim's command line"
	pod_gone "$pod"
	cri_cleanup
}

# kubelet's hostNetwork/hostIPC/hostPID: runc shares the host's namespace; a VM cannot,
# so RunPodSandbox fails naming the field, before any VM starts.
test_cri_pod_host_namespaces_refused() {
	cri_start
	local kind field out rpod
	for kind in network:hostNetwork ipc:hostIPC pid:hostPID; do
		field=${kind#*:}
		out=$(cri_pod "h-${kind%%:*}" '{}' "{\"namespace_options\": {\"${kind%%:*}\": \"NODE\"}}" 2>&1) &&
			fail "RunPodSandbox with $field succeeded: $out"
		assert_contains "$out" "$field: true is not supported by the cocoon runtime" "RunPodSandbox error"
		assert_contains "$out" "cannot share the host's ${kind%%:*} namespace" "RunPodSandbox error"
		# The same pod under runc starts (the refusal is the VM's, not the pod's).
		rpod=$(HANDLER=runc cri_pod "hr-${kind%%:*}" '{}' "{\"namespace_options\": {\"${kind%%:*}\": \"NODE\"}}") ||
			{ ctd_log_tail; fail "runc pod with $field"; }
		pod_rm "$rpod"
	done
	no_pod_left "the refused pods"
	cri_cleanup
}

# mountPropagation: HostToContainer (rslave) shows in the guest what the host mounts
# later under the volume, once the host side is a shared mount (kubelet checks that;
# here a bind mount made shared, as / is private on these machines). Bidirectional
# would need the guest's mounts on the host: refused.
test_cri_pod_mount_propagation() {
	mkdir -p "$T/vol"
	mount --bind "$T/vol" "$T/vol" && mount --make-shared "$T/vol" || fail "shared bind mount of $T/vol"
	trap 'cri_cleanup; umount -R "$T/vol" 2>/dev/null; true' EXIT
	cri_start
	trap 'cri_cleanup; umount -R "$T/vol" 2>/dev/null; true' EXIT
	local pod a b out i
	pod=$(cri_pod mp) || { ctd_log_tail; fail "RunPodSandbox"; }
	a=$(CTR="{\"mounts\": [{\"container_path\": \"/vol\", \"host_path\": \"$T/vol\",
		\"propagation\": \"PROPAGATION_HOST_TO_CONTAINER\"}]}" cri_create "$pod" mp a sleep 1000) ||
		fail "CreateContainer with HostToContainer"
	cri_start_ctr "$a" || fail "StartContainer with HostToContainer"
	mkdir -p "$T/vol/sub"
	mount -t tmpfs -o size=1m tmpfs "$T/vol/sub" || fail "mount under the volume"
	echo mounted-later >"$T/vol/sub/file"
	for i in $(seq 25); do
		out=$(cri_exec "$a" cat /vol/sub/file | jq -r .stdout)
		[ "$out" = mounted-later ] && break
		sleep 0.2
	done
	assert_eq mounted-later "$out" "a host mount made after start, seen in the container"
	# containerd creates the task (the shim's Create) at StartContainer.
	b=$(CTR="{\"mounts\": [{\"container_path\": \"/vol\", \"host_path\": \"$T/vol\",
		\"propagation\": \"PROPAGATION_BIDIRECTIONAL\"}]}" cri_create "$pod" mp b sleep 1000) ||
		fail "CreateContainer with Bidirectional"
	out=$(cri_start_ctr "$b" 2>&1) && fail "StartContainer with Bidirectional succeeded"
	assert_contains "$out" "mount /vol: mountPropagation Bidirectional is not supported by the cocoon runtime" \
		"StartContainer error"
	pod_gone "$pod"
	cri_cleanup
	umount "$T/vol/sub" && umount "$T/vol" || fail "umount $T/vol"
}

# A setuid-root binary (from a volume, as sudo/su/ping in an image) run by user 1000:
# euid 0 unless allowPrivilegeEscalation is false (no_new_privs), as under runc. The
# volume is writable: its guest bind then keeps the share's own mount flags, as an
# image's rootfs does (a read-only one is remounted, which cleared a share's nosuid and
# hid the bug).
test_cri_pod_setuid() {
	mkdir -p "$T/suid"
	printf '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("uid=%%d euid=%%d\\n", (int)getuid(), (int)geteuid()); return 0; }\n' >"$T/euid.c"
	gcc -static -o "$T/suid/euid" "$T/euid.c" || fail "gcc -static (build-essential)"
	chown 0:0 "$T/suid/euid" && chmod 4755 "$T/suid/euid"
	cri_start
	local h pod a b out m
	m="[{\"container_path\": \"/suid\", \"host_path\": \"$T/suid\"}]"
	for h in runc cocoon; do
		pod=$(HANDLER=$h cri_pod "su-$h") || { ctd_log_tail; fail "RunPodSandbox ($h)"; }
		a=$(CTR="{\"mounts\": $m, \"security_context\": {\"run_as_user\": {\"value\": 1000}}}" \
			cri_create "$pod" "su-$h" a sleep 1000) || fail "CreateContainer ($h)"
		cri_start_ctr "$a" || fail "StartContainer ($h)"
		b=$(CTR="{\"mounts\": $m, \"security_context\": {\"run_as_user\": {\"value\": 1000}, \"no_new_privs\": true}}" \
			cri_create "$pod" "su-$h" b sleep 1000) || fail "CreateContainer b ($h)"
		cri_start_ctr "$b" || fail "StartContainer b ($h)"
		out=$(cri_exec "$a" /suid/euid | jq -r .stdout)
		assert_eq "uid=1000 euid=0" "$out" "setuid binary under $h"
		out=$(cri_exec "$b" /suid/euid | jq -r .stdout)
		assert_eq "uid=1000 euid=1000" "$out" "setuid binary with allowPrivilegeEscalation: false under $h"
		if [ $h = cocoon ]; then pod_gone "$pod"; else pod_rm "$pod"; fi
	done
	cri_cleanup
}

# How long containerd's StopContainer took for container ID, from containerd's own log
# (the CRI client's start-up would dwarf it).
stop_ms() { # ID
	local t0 t1
	t0=$(grep -F "StopContainer for \\\"$1\\\" with timeout" "$CTD/containerd.log" | sed -n 's/^time="\([^"]*\)".*/\1/p' | tail -1)
	t1=$(grep -F "StopContainer for \\\"$1\\\" returns successfully" "$CTD/containerd.log" | sed -n 's/^time="\([^"]*\)".*/\1/p' | tail -1)
	[ -n "$t0" ] && [ -n "$t1" ] || fail "no StopContainer lines for $1 in the containerd log"
	echo $((($(date -d "$t1" +%s%N) - $(date -d "$t0" +%s%N)) / 1000000))
}

# The pod's PID namespace, runc beside cocoon: with shareProcessNamespace (pid POD) the
# pause process is PID 1 and the containers share it; by default (pid CONTAINER) the
# container's own process is PID 1. No container sees (or can signal) the agent or the
# guest kernel's threads. StopContainer is prompt when a child holds the output pipes.
test_cri_pod_pid_namespace() {
	cri_start
	local h mode pod a out ms
	local -A runc_ms
	# A shell that exits on SIGTERM and leaves a child holding its stdout and stderr.
	local stopper='trap "exit 0" TERM; sleep 1000 & wait'
	for h in runc cocoon; do
		for mode in POD CONTAINER; do
			pod=$(HANDLER=$h cri_pod "pid-$h-$mode" '{}' "{\"namespace_options\": {\"pid\": \"$mode\"}}") ||
				{ ctd_log_tail; fail "RunPodSandbox ($h, pid $mode)"; }
			a=$(cri_create "$pod" "pid-$h-$mode" a sleep 1000) || fail "CreateContainer ($h)"
			cri_start_ctr "$a" || fail "StartContainer ($h)"
			out=$(cri_exec "$a" sh -c "tr '\\0' ' ' </proc/1/cmdline" | jq -r .stdout)
			if [ $mode = POD ]; then
				assert_eq "sleep 1000000000 " "$out" "PID 1 with shareProcessNamespace under $h (the pause process)"
			else
				assert_eq "sleep 1000 " "$out" "PID 1 of a container under $h"
			fi
			out=$(cri_exec "$a" ps -o pid,args | jq -r .stdout)
			assert_not_contains "$out" "/init" "processes a container sees under $h, pid $mode"
			assert_not_contains "$out" "kthreadd" "processes a container sees under $h, pid $mode"
			out=$(cri_exec "$a" sh -c 'for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline; echo; done' | jq -r .stdout)
			assert_not_contains "$out" "cocoon-agent" "processes a container sees under $h, pid $mode"
			local b
			b=$(cri_create "$pod" "pid-$h-$mode" b sh -c "$stopper") || fail "CreateContainer b ($h)"
			cri_start_ctr "$b" || fail "StartContainer b ($h)"
			sleep 1
			cri_ StopContainer "{\"container_id\":\"$b\",\"timeout\":30}" >/dev/null || fail "StopContainer ($h)"
			ms=$(stop_ms "$b")
			assert_eq 0 "$(cri_status "$b" | jq -r .exit_code)" "exit code of the stopped shell under $h"
			echo "StopContainer with a child holding the pipes: $h, pid $mode: $ms ms"
			# runc runs first. cocoon: as prompt, give or take a second of emulated guest
			# (a child left holding the pipes used to cost the agent's 2 s output drain).
			[ $h = runc ] && runc_ms[$mode]=$ms
			[ $h = runc ] || [ "$ms" -lt $((${runc_ms[$mode]} + 1000)) ] ||
				fail "StopContainer under cocoon, pid $mode took $ms ms (runc: ${runc_ms[$mode]} ms)"
			if [ $h = cocoon ]; then pod_gone "$pod"; else pod_rm "$pod"; fi
		done
	done
	cri_cleanup
}

# The AKS how-to's manifests as kubelet turns them into CRI calls: the Deployment's
# container (readOnlyRootFilesystem, runAsNonRoot with runAsUser 1000, an emptyDir), the
# Job's (env from a ConfigMap, `timeout 60` as the command, its exit code, a timeout's
# 124) and a ConfigMap volume that kubelet updates with its atomic `..data` symlink swap
# while the pod runs. The Job's image has coreutils' timeout: the host's /usr here.
test_cri_pod_aks_manifests() {
	cri_start
	local pod api job late out i usr
	mkdir -p "$T/empty" "$T/cm/..2026_12_01_a"
	chmod 777 "$T/empty"
	printf '#!/bin/sh\necho "code: $USER_CODE"\nexit 3\n' >"$T/cm/..2026_12_01_a/run-user-code.sh"
	chmod 755 "$T/cm/..2026_12_01_a/run-user-code.sh"
	ln -s ..2026_12_01_a "$T/cm/..data"
	ln -s ..data/run-user-code.sh "$T/cm/run-user-code.sh"
	usr=$(jq -nc --arg t "$T" '[
		{container_path: "/usr", host_path: "/usr", readonly: true},
		{container_path: "/lib", host_path: "/usr/lib", readonly: true},
		{container_path: "/lib64", host_path: "/usr/lib64", readonly: true},
		{container_path: "/code", host_path: ($t + "/cm"), readonly: true}]')
	pod=$(cri_pod aks) || { ctd_log_tail; fail "RunPodSandbox"; }
	api=$(CTR="{\"mounts\": [{\"container_path\": \"/tmp\", \"host_path\": \"$T/empty\"}],
		\"security_context\": {\"run_as_user\": {\"value\": 1000}, \"readonly_rootfs\": true}}" \
		cri_create "$pod" aks api sleep 1000) || fail "CreateContainer (Deployment)"
	cri_start_ctr "$api" || fail "StartContainer (Deployment)"
	assert_eq 1000 "$(cri_exec "$api" id -u | jq -r .stdout)" "runAsUser"
	out=$(cri_exec "$api" sh -c 'touch /x 2>&1; echo rc=$?')
	assert_contains "$(jq -r .stdout <<<"$out")" "Read-only file system" "readOnlyRootFilesystem"
	out=$(cri_exec "$api" sh -c 'echo in-emptydir >/tmp/f && cat /tmp/f' | jq -r .stdout)
	assert_eq in-emptydir "$out" "the emptyDir is writable by user 1000"
	assert_eq in-emptydir "$(cat "$T/empty/f")" "the emptyDir on the node"
	job=$(CTR="{\"mounts\": $usr, \"envs\": [[\"USER_CODE\", \"print(42)\"]]}" \
		cri_create "$pod" aks executor timeout 60 /code/run-user-code.sh) || fail "CreateContainer (Job)"
	cri_start_ctr "$job" || fail "StartContainer (Job)"
	late=$(CTR="{\"mounts\": $usr}" cri_create "$pod" aks late timeout 1 sleep 30) ||
		fail "CreateContainer (Job past its timeout)"
	cri_start_ctr "$late" || fail "StartContainer (Job past its timeout)"
	wait_exited "$job" || fail "the Job's container did not exit"
	assert_eq 3 "$(cri_status "$job" | jq -r .exit_code)" "the Job's exit code"
	assert_contains "$(cat "$LOGS/aks/executor.log")" "code: print(42)" "env from the ConfigMap"
	wait_exited "$late" || fail "the timed-out container did not exit"
	assert_eq 124 "$(cri_status "$late" | jq -r .exit_code)" "exit code of timeout 1 sleep 30"
	# kubelet's atomic update of the ConfigMap volume while the pod runs.
	local reader
	reader=$(CTR="{\"mounts\": [{\"container_path\": \"/code\", \"host_path\": \"$T/cm\", \"readonly\": true}]}" \
		cri_create "$pod" aks reader sleep 1000) || fail "CreateContainer (ConfigMap reader)"
	cri_start_ctr "$reader" || fail "StartContainer (ConfigMap reader)"
	assert_contains "$(cri_exec "$reader" cat /code/run-user-code.sh | jq -r .stdout)" 'exit 3' "ConfigMap before the update"
	mkdir "$T/cm/..2026_12_01_b"
	printf '#!/bin/sh\nexit 4\n' >"$T/cm/..2026_12_01_b/run-user-code.sh"
	ln -s ..2026_12_01_b "$T/cm/..data_tmp"
	mv -T "$T/cm/..data_tmp" "$T/cm/..data"
	rm -rf "$T/cm/..2026_12_01_a"
	for i in $(seq 25); do
		out=$(cri_exec "$reader" cat /code/run-user-code.sh | jq -r .stdout)
		[[ "$out" == *"exit 4"* ]] && break
		sleep 0.2
	done
	assert_contains "$out" "exit 4" "ConfigMap content after kubelet's ..data swap"
	pod_gone "$pod"
	cri_cleanup
}

# emptyDir with medium: Memory: kubelet mounts a tmpfs (of the volume's sizeLimit) at
# <pod dir>/volumes/kubernetes.io~empty-dir/NAME and has it bound into each container. In
# a cocoon pod the volume is a tmpfs of that size in the guest, shared by the pod's
# containers: the data is in the pod's RAM, never in the node's tmpfs.
test_cri_pod_memory_emptydir() {
	local vol=$T/pods/0a1b/volumes/kubernetes.io~empty-dir/cache
	mkdir -p "$vol"
	mount -t tmpfs -o size=64m tmpfs "$vol" || fail "tmpfs at $vol"
	trap 'cri_cleanup; umount "$vol" 2>/dev/null; true' EXIT
	cri_start
	trap 'cri_cleanup; umount "$vol" 2>/dev/null; true' EXIT
	local pod a b out m
	m="{\"mounts\": [{\"container_path\": \"/cache\", \"host_path\": \"$vol\"}]}"
	pod=$(cri_pod mem) || { ctd_log_tail; fail "RunPodSandbox"; }
	a=$(CTR=$m cri_create "$pod" mem a sleep 1000) || fail "CreateContainer a"
	cri_start_ctr "$a" || fail "StartContainer a"
	b=$(CTR=$m cri_create "$pod" mem b sleep 1000) || fail "CreateContainer b"
	cri_start_ctr "$b" || fail "StartContainer b"
	out=$(cri_exec "$a" grep " /cache " /proc/mounts | jq -r .stdout)
	assert_contains "$out" "tmpfs /cache tmpfs " "the memory emptyDir in the container"
	assert_contains "$out" "size=65536k" "its size, from the node's tmpfs"
	out=$(cri_exec "$a" sh -c 'echo in-guest-ram >/cache/f && cat /cache/f' | jq -r .stdout)
	assert_eq in-guest-ram "$out" "write to the memory emptyDir"
	assert_eq in-guest-ram "$(cri_exec "$b" cat /cache/f | jq -r .stdout)" "the pod's other container sees it"
	[ -z "$(ls -A "$vol")" ] || fail "the data is in the node's tmpfs: $(ls -A "$vol")"
	pod_gone "$pod"
	umount "$vol" || fail "umount $vol"
	cri_cleanup
}

# kubectl port-forward: containerd dials localhost:PORT in the pod's netns. A server in
# the pod that binds only 127.0.0.1 is reached on any port, runc beside cocoon; a port
# nobody serves ends the connection; the pod's teardown leaves nothing in its netns.
test_cri_pod_port_forward() {
	cri_start
	local h pod a out port
	for h in runc cocoon; do
		pod=$(HANDLER=$h cri_pod "pf-$h") || { ctd_log_tail; fail "RunPodSandbox ($h)"; }
		# Two servers on ports nobody announced, bound to the pod's loopback only.
		a=$(cri_create "$pod" "pf-$h" web sh -c 'mkdir -p /www /www2 && echo "served-by-$(hostname)" >/www/index.html &&
			echo second-server >/www2/index.html && httpd -p 127.0.0.1:8080 -h /www &&
			httpd -p 127.0.0.1:31337 -h /www2 && exec sleep 1000') ||
			fail "CreateContainer ($h)"
		cri_start_ctr "$a" || fail "StartContainer ($h)"
		for port in 8080 31337; do
			for _ in $(seq 50); do
				cri_exec "$a" sh -c "netstat -ltn | grep -q 127.0.0.1:$port" | jq -e '.exit_code // 0 | . == 0' >/dev/null && break
				sleep 0.2
			done
		done
		out=$(cri_ portforward "$(jq -nc --arg p "$pod" '{pod_sandbox_id: $p, port: 8080,
			input: "GET /index.html HTTP/1.0\r\n\r\n"}')") || { ctd_log_tail; fail "port-forward to 8080 ($h)"; }
		assert_contains "$(jq -r .data <<<"$out")" "200 OK" "HTTP reply through port-forward under $h"
		assert_contains "$(jq -r .data <<<"$out")" "served-by-" "page through port-forward under $h"
		out=$(cri_ portforward "$(jq -nc --arg p "$pod" '{pod_sandbox_id: $p, port: 31337,
			input: "GET / HTTP/1.0\r\n\r\n"}')") || fail "port-forward to 31337 ($h)"
		assert_contains "$(jq -r .data <<<"$out")" "second-server" "second port through port-forward under $h"
		out=$(cri_ portforward "$(jq -nc --arg p "$pod" '{pod_sandbox_id: $p, port: 9, input: "x"}')" 2>&1)
		assert_not_contains "$out" "served-by" "a port nobody serves under $h"
		if [ $h = cocoon ]; then pod_gone "$pod"; else pod_rm "$pod"; fi
	done
	cri_cleanup
}

# privileged: true in a cocoon pod: every capability containerd has, no seccomp, a
# writable /sys, and every device node of the guest (its devtmpfs, but the agent's
# channel and the VM console), never one only the host has (containerd lists the
# host's in the spec). A container that is not privileged keeps the minimal /dev.
test_cri_pod_privileged() {
	cri_start
	local pod a b out
	cat >"$T/priv.sh" <<'SH'
grep '^CapEff' /proc/self/status
grep '^Seccomp:' /proc/self/status
awk '$2 == "/sys" { print "sys: " substr($4, 1, 2) }' /proc/mounts
mkdir -p /tmp/dt && mount -t devtmpfs devtmpfs /tmp/dt || exit 1
for d in /tmp/dt/* /tmp/dt/net/*; do
	n=${d#/tmp/dt/}
	case $n in vport* | hvc* | console | ptmx) continue ;; esac
	[ -c "$d" ] || [ -b "$d" ] || continue
	[ -e "/dev/$n" ] || echo "missing guest device: $n"
done
for d in /dev/* /dev/net/*; do
	[ -L "$d" ] && continue
	[ -c "$d" ] || [ -b "$d" ] || continue
	[ -e "/tmp/dt/${d#/dev/}" ] || echo "foreign device: $d"
done
umount /tmp/dt
echo "devices: checked"
SH
	mkdir -p "$T/priv" && mv "$T/priv.sh" "$T/priv/"
	# kubelet runs the sandbox privileged when a container is.
	pod=$(cri_pod priv "{}" "{\"security_context\": {\"privileged\": true}}") || { ctd_log_tail; fail "RunPodSandbox"; }
	a=$(CTR="{\"mounts\": [{\"container_path\": \"/priv\", \"host_path\": \"$T/priv\", \"readonly\": true}],
		\"security_context\": {\"privileged\": true}}" cri_create "$pod" priv a sleep 1000) ||
		fail "CreateContainer (privileged)"
	cri_start_ctr "$a" || { ctd_log_tail; fail "StartContainer (privileged)"; }
	b=$(cri_create "$pod" priv b sleep 1000) || fail "CreateContainer"
	cri_start_ctr "$b" || fail "StartContainer"
	out=$(cri_exec "$a" sh /priv/priv.sh | jq -r '.stdout + .stderr')
	echo "$out"
	assert_contains "$out" "CapEff:	$(awk '/^CapBnd/ {print $2}' "/proc/$(cat "$CTD/pid")/status")" \
		"capabilities of a privileged container (containerd's own)"
	assert_contains "$out" "Seccomp:	0" "no seccomp filter"
	assert_contains "$out" "sys: rw" "writable /sys"
	assert_contains "$out" "devices: checked" "the device check ran"
	assert_not_contains "$out" "missing guest device" "the guest's devices in a privileged container"
	assert_not_contains "$out" "foreign device" "devices of a privileged container"
	out=$(cri_exec "$b" ls /dev | jq -r .stdout)
	assert_not_contains "$out" "kmsg" "/dev of a container that is not privileged"
	pod_gone "$pod"
	cri_cleanup
}

# A docker-save archive (what `docker load` reads) of the busybox test image, named NAME.
make_busybox_docker_tar() { # OUT.tar NAME
	local d=$T/dsave layer config
	mkdir -p "$d/rootfs"
	make_rootfs "$d/rootfs"
	tar -C "$d/rootfs" --owner=0 --group=0 --numeric-owner -cf "$d/layer.tar" .
	rm -rf "$d/rootfs"
	layer=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
	mkdir -p "$d/$layer" && mv "$d/layer.tar" "$d/$layer/layer.tar"
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$layer" >"$d/config.json"
	config=$(sha256sum "$d/config.json" | cut -d' ' -f1)
	mv "$d/config.json" "$d/$config.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config" "$2" "$layer" >"$d/manifest.json"
	tar -C "$d" -cf "$1" manifest.json "$config.json" "$layer"
	rm -rf "$d"
}

# A privileged cocoon pod whose guest kernel has what container engines need (bridge,
# veth, tun, loop, netfilter with NAT and conntrack in the nft and legacy iptables
# flavours, overlayfs). The how-to's CI use case: Debian's dockerd (the host's docker.io, given to the container with the host's
# /usr as read-only volumes over the busybox image) starts, loads an image, runs it and
# builds from it.
test_cri_pod_privileged_docker() {
	command -v dockerd >/dev/null || fail "dockerd is not installed (scripts/install-deps.sh installs docker.io)"
	mkdir -p "$T/img"
	make_busybox_docker_tar "$T/img/busybox-docker.tar" busybox:dind
	cat >"$T/img/dind.sh" <<'SH'
set -e
# The host's iproute2 (its /usr/sbin/ip links to /bin/ip, which is busybox's here).
ip() { /usr/bin/ip "$@"; }
ls /dev/net/tun /dev/loop0 >/dev/null && echo "devices: tun, loop"
for ipt in iptables-nft iptables-legacy; do
	$ipt -t nat -A POSTROUTING -s 10.99.0.0/24 ! -o br-test -j MASQUERADE
	$ipt -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	$ipt -t nat -S POSTROUTING | grep -q MASQUERADE && echo "$ipt: nat ok"
	$ipt -t nat -F POSTROUTING && $ipt -F FORWARD
done
ip link add br-test type bridge && ip link add v-test type veth peer name v-peer &&
	ip link set v-test master br-test && ip tuntap add tap-test mode tap && echo "links: ok"
ip link del br-test && ip link del v-test && ip link del tap-test
# Docker's state in guest memory (as an emptyDir with medium: Memory would be): overlay2
# needs an upper filesystem with xattrs, which the virtio-fs rootfs does not offer.
mkdir -p /var/lib/docker /tmp/ctx && mount -t tmpfs -o size=256m tmpfs /var/lib/docker
mount -t tmpfs tmpfs /run && ln -sfn /run /var/run
# The host's docker CLI is /usr/bin/docker (a PATH entry before it may hold another).
docker() { /usr/bin/docker "$@"; }
dockerd --data-root /var/lib/docker -H unix:///var/run/docker.sock >/tmp/dockerd.log 2>&1 &
i=0
until docker version >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 300 ] || { tail -20 /tmp/dockerd.log; exit 1; }
	sleep 1
done
echo "dockerd: up after ${i}s, storage $(docker info --format '{{.Driver}}')"
docker load -i /img/busybox-docker.tar
docker run --rm busybox:dind echo ran-in-docker
printf 'FROM busybox:dind\nRUN echo built-in-docker >/built\n' >/tmp/ctx/Dockerfile
docker build -q -t built:dind /tmp/ctx >/dev/null
docker run --rm built:dind cat /built
echo DIND-OK
SH
	cri_start
	local pod a out i m state
	m=$(jq -nc --arg t "$T" '[
		{container_path: "/usr", host_path: "/usr", readonly: true},
		{container_path: "/lib", host_path: "/usr/lib", readonly: true},
		{container_path: "/lib64", host_path: "/usr/lib64", readonly: true},
		{container_path: "/etc/alternatives", host_path: "/etc/alternatives", readonly: true},
		{container_path: "/img", host_path: ($t + "/img"), readonly: true}]')
	# 1 GiB and a second vCPU on top of the VM's defaults: three Go daemons run in it.
	pod=$(cri_pod dind '{"cpu_period": 100000, "cpu_quota": 100000, "memory_limit_in_bytes": 1073741824}' \
		'{"security_context": {"privileged": true}}') ||
		{ ctd_log_tail; fail "RunPodSandbox"; }
	a=$(CTR="{\"mounts\": $m, \"security_context\": {\"privileged\": true}}" \
		cri_create "$pod" dind builder sh /img/dind.sh) || { ctd_log_tail; fail "CreateContainer (privileged)"; }
	cri_start_ctr "$a" || { ctd_log_tail; fail "StartContainer (privileged)"; }
	for i in $(seq 300); do
		state=$(cri_status "$a" | jq -r .state)
		[ "$state" = CONTAINER_EXITED ] && break
		sleep 3
	done
	out=$(sed 's/^[^ ]* [a-z]* [FP] //' "$LOGS/dind/builder.log")
	echo "$out" | tail -30
	assert_eq CONTAINER_EXITED "$state" "the docker build container after 900 s"
	assert_contains "$out" "devices: tun, loop" "the guest kernel's tun and loop devices"
	assert_contains "$out" "iptables-nft: nat ok" "nft iptables with NAT and conntrack"
	assert_contains "$out" "iptables-legacy: nat ok" "legacy iptables with NAT and conntrack"
	assert_contains "$out" "links: ok" "bridge, veth and tap"
	assert_contains "$out" "ran-in-docker" "docker run --rm in the pod"
	assert_contains "$out" "built-in-docker" "docker build in the pod"
	assert_contains "$out" "DIND-OK" "the whole docker sequence"
	assert_eq 0 "$(cri_status "$a" | jq -r .exit_code)" "exit code of the docker sequence"
	pod_gone "$pod"
	cri_cleanup
}
