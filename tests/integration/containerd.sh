# containerd-shim-cocoon-v2 under a real containerd (Debian's 1.6), driven with ctr.
# Every test starts its own containerd (tests/containerd_lib.sh) and stops it before
# returning; the harness then checks that no process, mount or state names $T.
source tests/containerd_lib.sh

# The VMM of a ctr container (either backend): it names the sandbox's state dir.
vmm_of() { # ID
	pgrep -f -- "(qemu-system|cocoon-vmm).*$COCOON_STATE_DIR/$1([ /]|\$)" | head -1
}

ctr_run() { # ARGS... (ctr run with the cocoon runtime; bounded)
	# Past the boot timeout: 120 s, and 300 s in the lab's L1, whose configs give an L2
	# boot under nested emulation 300 s (a pod's boot took over 100 s on loaded cores).
	local bound=120
	[ -n "${COCOON_TEST_KVM_ONLY:-}" ] && bound=300
	timeout --foreground $bound ctr --address "$CTD_SOCK" -n "$CTD_NS" run --runtime "$RUNTIME" "$@"
}

wait_gone() { # PATH
	local i
	for i in $(seq 50); do [ -e "$1" ] || return 0; sleep 0.1; done
	return 1
}

wait_state_empty() {
	local i
	for i in $(seq 50); do [ -z "$(ls -A "$COCOON_STATE_DIR")" ] && return 0; sleep 0.2; done
	return 1
}

wait_task_status() { # ID STATUS
	local i
	for i in $(seq 100); do
		ctr_ tasks ls 2>/dev/null | grep -qE "^$1 .* $2\$" && return 0
		sleep 0.2
	done
	ctr_ tasks ls
	return 1
}

test_ctr_run_guest_kernel_and_exit_code() {
	ctd_start
	local out rc
	out=$(ctr_run --rm "$IMG" c1 sh -c 'uname -r; echo to-stderr >&2; exit 3' 2>&1)
	rc=$?
	[ "$rc" -eq 3 ] || { ctd_log_tail; fail "exit code: expected 3, got $rc; output: $out"; }
	local kernel
	kernel=$(echo "$out" | head -1)
	[ -n "$kernel" ] || fail "no output from uname -r"
	[ "$kernel" != "$(uname -r)" ] || fail "uname -r shows the host kernel ($kernel): not in a VM"
	assert_contains "$out" "to-stderr" "stderr of the container"
	wait_gone "$(shim_socket c1)" || fail "shim socket left behind"
	ctr_ containers ls -q | grep -qx c1 && fail "--rm left the container"
	ctd_stop
}

test_ctr_exec_kill() {
	ctd_start
	# Events the shim forwards to containerd, as `ctr events` shows them.
	ctr_ events >"$T/events" 2>&1 &
	local events_pid=$!
	ctr_run -d "$IMG" c2 sleep 1000 >/dev/null || { ctd_log_tail; fail "ctr run -d failed"; }
	wait_task_status c2 RUNNING || fail "task c2 not RUNNING"
	local out rc
	out=$(timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks exec --exec-id e1 c2 sh -c 'echo exec-out; ps; exit 5' 2>&1)
	rc=$?
	assert_eq 5 "$rc" "exec exit code"
	assert_contains "$out" "exec-out" "exec stdout"
	assert_contains "$out" "sleep 1000" "exec sees the container's processes"
	# Same VM: the exec'd process runs in the guest kernel.
	out=$(timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks exec --exec-id e2 c2 uname -r 2>&1)
	[ "$out" != "$(uname -r)" ] || fail "exec ran on the host kernel"
	timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks exec --exec-id e3 c2 sh -c 'kill -9 $$'
	assert_eq 137 "$?" "exit status of a SIGKILLed exec"
	ctr_ tasks ps c2 | grep -q . || fail "ctr tasks ps shows nothing"
	# sleep is PID 1 of its container and ignores SIGTERM, as under runc.
	ctr_ tasks kill -s SIGKILL c2 || fail "kill"
	wait_task_status c2 STOPPED || fail "task did not stop after SIGKILL"
	ctr_ tasks rm c2 >/dev/null || fail "tasks rm"
	ctr_ containers rm c2 || fail "containers rm"
	wait_gone "$(shim_socket c2)" || fail "shim socket left behind"
	local topic
	for topic in /tasks/create /tasks/start /tasks/exec-added /tasks/exec-started /tasks/exit /tasks/delete; do
		grep -q " $topic " "$T/events" || { cat "$T/events"; fail "no $topic event"; }
	done
	grep -q '/tasks/exit .*"exit_status":137' "$T/events" || grep -q '/tasks/exit .*137' "$T/events" ||
		{ cat "$T/events"; fail "no exit event with status 137"; }
	kill "$events_pid"
	wait "$events_pid" 2>/dev/null
	ctd_stop
}

test_ctr_kill_all_and_pause() {
	ctd_start
	ctr_run -d "$IMG" c3 sh -c 'sleep 1000 & sleep 1000' >/dev/null || fail "ctr run -d"
	wait_task_status c3 RUNNING || fail "not RUNNING"
	ctr_ tasks pause c3 || fail "pause"
	wait_task_status c3 PAUSED || fail "not PAUSED"
	ctr_ tasks resume c3 || fail "resume"
	wait_task_status c3 RUNNING || fail "not RUNNING after resume"
	ctr_ tasks kill -a -s SIGKILL c3 || fail "kill --all"
	wait_task_status c3 STOPPED || fail "not STOPPED after kill --all"
	out=$(ctr_ tasks rm c3 2>&1)
	ctr_ containers rm c3
	ctd_stop
}

test_ctr_run_tty() {
	ctd_start
	local out
	# ctr sizes the container's terminal from its own (ResizePty before Start).
	# --foreground: timeout otherwise puts ctr in a background process group whenever
	# script's shell forks it (dash, where SHELL is unset, as in CI), and ctr's first
	# tcsetattr on the terminal stops it with SIGTTOU: a hang, not a failure.
	out=$(script -qec "stty rows 33 cols 101; timeout --foreground 120 ctr --address $CTD_SOCK -n $CTD_NS run --runtime $RUNTIME -t --rm $IMG c4 sh -c '[ -t 0 ] && [ -t 1 ] && echo is-a-tty; echo size \$(stty size); exit 7'" /dev/null 2>&1)
	local rc=$?
	assert_contains "$out" "is-a-tty" "stdin and stdout are a terminal"
	assert_contains "$out" "size 33 101" "terminal size from ctr's terminal"
	assert_eq 7 "$rc" "exit code through the tty"
	# The same for `ctr tasks exec -t`.
	ctr_run -d "$IMG" c4x sleep 1000 >/dev/null || fail "ctr run -d"
	wait_task_status c4x RUNNING || fail "not RUNNING"
	out=$(script -qec "stty rows 21 cols 77; timeout --foreground 60 ctr --address $CTD_SOCK -n $CTD_NS tasks exec -t --exec-id t1 c4x sh -c 'echo size \$(stty size); tty'" /dev/null 2>&1)
	assert_contains "$out" "size 21 77" "exec terminal size"
	assert_contains "$out" "/dev/pts/" "exec has a terminal"
	ctr_ tasks kill -s SIGKILL c4x || fail "kill"
	wait_task_status c4x STOPPED || fail "not STOPPED"
	ctr_ tasks rm c4x >/dev/null
	ctr_ containers rm c4x
	ctd_stop
}

test_ctr_missing_command() {
	ctd_start
	local out rc
	out=$(ctr_run --rm "$IMG" c5 /no/such/command 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] || fail "a missing command succeeded"
	assert_contains "$out" "/no/such/command" "error names the command"
	# The runtime still works afterwards.
	out=$(ctr_run --rm "$IMG" c6 echo still-works 2>&1)
	assert_contains "$out" "still-works" "a later container"
	ctd_stop
}

test_ctr_shim_killed() {
	ctd_start
	ctr_run -d "$IMG" c7 sleep 1000 >/dev/null || fail "ctr run -d"
	wait_task_status c7 RUNNING || fail "not RUNNING"
	local pid
	pid=$(shim_pid c7)
	[ -n "$pid" ] || fail "no shim process"
	pgrep -f -- "$COCOON_STATE_DIR" >/dev/null || fail "no VM process naming the state dir"
	kill -9 "$pid"
	# containerd notices, runs `containerd-shim-cocoon-v2 delete` and drops the task.
	local i
	for i in $(seq 50); do ctr_ tasks ls -q | grep -qx c7 || break; sleep 0.2; done
	ctr_ tasks ls -q | grep -qx c7 && { ctd_log_tail; fail "task still listed after the shim died"; }
	for i in $(seq 50); do pgrep -f -- "$COCOON_STATE_DIR" >/dev/null || break; sleep 0.2; done
	pgrep -af -- "$COCOON_STATE_DIR" && fail "VM or virtiofsd outlived the shim"
	for i in $(seq 50); do [ -z "$(ls -A "$COCOON_STATE_DIR")" ] && break; sleep 0.2; done
	[ -z "$(ls -A "$COCOON_STATE_DIR")" ] || { ctd_log_tail; fail "sandbox state outlived the shim: $(ls "$COCOON_STATE_DIR")"; }
	ctr_ containers rm c7
	ctd_stop
}

test_ctr_guest_kernel_missing() {
	ctd_start
	printf 'kernel = %s/no-such-vmlinux\n' "$T" >"$T/cocoon.conf"
	local out rc
	out=$(ctr_run --runtime-config-path "$T/cocoon.conf" --rm "$IMG" c8 true 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] || fail "ran without a guest kernel"
	assert_contains "$out" "no-such-vmlinux" "error names the missing kernel"
	ctd_stop
}

test_ctr_vm_dies() {
	ctd_start
	ctr_run --rm "$IMG" c9 sleep 1000 >"$T/c9.out" 2>&1 &
	local ctr_pid=$!
	wait_task_status c9 RUNNING || fail "not RUNNING"
	local vmm
	vmm=$(vmm_of c9)
	[ -n "$vmm" ] || fail "no VMM process"
	kill -9 $vmm
	# The task exits with an error status (255: lost with its VM), and `ctr run` with it.
	wait "$ctr_pid"
	assert_eq 255 "$?" "exit status of a task whose VM died"
	ctr_ containers ls -q | grep -qx c9 && fail "--rm left the container"
	wait_gone "$(shim_socket c9)" || fail "shim socket left behind"
	wait_state_empty || fail "sandbox state left: $(ls "$COCOON_STATE_DIR")"
	ctd_stop
}

test_ctr_containerd_restart() {
	ctd_start
	ctr_run -d "$IMG" c10 sh -c 'echo before; sleep 1000' >/dev/null || fail "ctr run -d"
	wait_task_status c10 RUNNING || fail "not RUNNING"
	local shim
	shim=$(shim_pid c10)
	ctd_restart
	# The shim kept running; containerd found it again through the bundle's address.
	kill -0 "$shim" 2>/dev/null || fail "the shim died with containerd"
	wait_task_status c10 RUNNING || { ctd_log_tail; fail "task not RUNNING after the restart"; }
	local out
	out=$(timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks exec --exec-id e1 c10 echo after-restart 2>&1)
	assert_eq after-restart "$out" "exec after containerd restarted"
	ctr_ tasks kill -s SIGKILL c10 || fail "kill after the restart"
	wait_task_status c10 STOPPED || fail "not STOPPED after SIGKILL"
	ctr_ tasks rm c10 >/dev/null || fail "tasks rm"
	ctr_ containers rm c10 || fail "containers rm"
	wait_gone "$(shim_socket c10)" || fail "shim socket left behind"
	ctd_stop
}

# Resources: the memory limit reaches the container's cgroup in the guest, Stats
# reports it and the usage (`ctr tasks metrics`), an OOM kill is an oom event and exit
# 137, Checkpoint is refused with a reason. (Update: tests/integration/cri.sh.)
test_ctr_metrics_oom_checkpoint() {
	ctd_start
	ctr_ events >"$T/events" 2>&1 &
	local events_pid=$! out
	ctr_run -d --memory-limit $((96 << 20)) "$IMG" c11 sh -c 'sleep 1000' >/dev/null || fail "ctr run -d"
	wait_task_status c11 RUNNING || fail "not RUNNING"
	# ctr's spec mounts no cgroupfs in the container: read the limit through Stats.
	metric() { ctr_ tasks metrics c11 2>&1 | awk -v k="$1" '$1 == k {print $2}'; }
	assert_eq $((96 << 20)) "$(metric memory.limit_in_bytes)" "memory limit in the guest from --memory-limit"
	[ "$(metric memory.usage_in_bytes)" -gt 0 ] 2>/dev/null ||
		fail "metrics show no memory usage: $(ctr_ tasks metrics c11 2>&1)"
	out=$(ctr_ tasks checkpoint c11 2>&1) && fail "checkpoint succeeded: $out"
	assert_contains "$out" "checkpoint is not supported by cocoon" "checkpoint refused with a reason"
	ctr_ tasks kill -s SIGKILL c11 || fail "kill"
	wait_task_status c11 STOPPED || fail "not STOPPED after SIGKILL"
	ctr_ tasks rm c11 >/dev/null || fail "tasks rm"
	ctr_ containers rm c11 || fail "containers rm"
	# 128 MiB in one buffer under a 64 MiB limit: the guest kernel OOM-kills it.
	ctr_run --rm --memory-limit $((64 << 20)) "$IMG" c12 dd if=/dev/zero of=/dev/null bs=128M count=1 >/dev/null 2>&1
	assert_eq 137 "$?" "exit status of an OOM-killed container"
	local i
	for i in $(seq 20); do grep -q "/tasks/oom " "$T/events" && break; sleep 0.2; done
	grep -q "/tasks/oom " "$T/events" || { cat "$T/events"; fail "no /tasks/oom event"; }
	kill "$events_pid"
	wait "$events_pid" 2>/dev/null
	ctd_stop
}

# A guest that stops answering (its VMM frozen with SIGSTOP: nothing in it runs, the
# agent channel is not read). Calls that need the guest wait for it, alone: containerd's
# State of the task is still answered. A SIGKILL is carried out by the host: after
# stop_grace_ms the shim kills the VMM and reports the task exited (137), and delete
# leaves nothing. Exec'd processes per pod are capped by max_execs.
test_ctr_silent_guest() {
	ctd_start
	suite_config 'stop_grace_ms = 2000\nmax_execs = 1\n'
	ctr_run --runtime-config-path "$T/cocoon.conf" -d "$IMG" c13 sleep 1000 >/dev/null || fail "ctr run -d"
	wait_task_status c13 RUNNING || fail "not RUNNING"
	local out rc
	timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks exec --detach --exec-id e1 c13 sleep 1000 ||
		fail "first exec"
	out=$(timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks exec --exec-id e2 c13 true 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] || fail "a second live exec was allowed with max_execs = 1"
	assert_contains "$out" "max_execs" "the refused exec names the limit"

	local vmm
	vmm=$(vmm_of c13)
	[ -n "$vmm" ] || fail "no VMM process"
	kill -STOP $vmm
	# SIGTERM needs the guest: this call waits (on its own).
	ctr_ tasks kill -s SIGTERM c13 >"$T/term.out" 2>&1 &
	local term_pid=$!
	sleep 1
	local t0 t1
	t0=$(date +%s%N)
	timeout 10 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks ls >"$T/ls.out" 2>&1 ||
		fail "ctr tasks ls blocked behind a call to a silent guest"
	t1=$(date +%s%N)
	grep -q "^c13 .*RUNNING" "$T/ls.out" || fail "tasks ls: $(cat "$T/ls.out")"
	[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "tasks ls took $(((t1 - t0) / 1000000)) ms"
	# SIGKILL: the host does not wait for the guest.
	t0=$(date +%s%N)
	timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks kill -s SIGKILL c13 || fail "SIGKILL to a silent guest failed"
	wait_task_status c13 STOPPED || { ctd_log_tail; fail "task not STOPPED after SIGKILL to a silent guest"; }
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 20000 ] || fail "stopping took $(((t1 - t0) / 1000000)) ms"
	kill -0 $vmm 2>/dev/null && [ "$(ps -o stat= -p $vmm | cut -c1)" != Z ] && fail "the VMM still runs"
	wait "$term_pid"
	out=$(ctr_ tasks rm c13 2>&1) || fail "tasks rm: $out"
	assert_contains "$out" "137" "exit status of a task the host killed"
	ctr_ containers rm c13 || fail "containers rm"
	wait_gone "$(shim_socket c13)" || fail "shim socket left behind"
	wait_state_empty || fail "sandbox state left: $(ls "$COCOON_STATE_DIR")"
	ctd_stop
}

# Deleting the task of a guest that stopped answering (its VMM frozen with SIGSTOP after
# the task exited): Delete's call to the guest (RemoveContainer) gives up after
# stop_grace_ms, not the 30 s other calls wait, and the pod's teardown leaves nothing.
test_ctr_silent_guest_delete() {
	ctd_start
	suite_config 'stop_grace_ms = 2000\n'
	ctr_run --runtime-config-path "$T/cocoon.conf" -d "$IMG" c16 true >/dev/null || fail "ctr run -d"
	wait_task_status c16 STOPPED || fail "not STOPPED"
	local vmm out t0 ms
	vmm=$(vmm_of c16)
	[ -n "$vmm" ] || fail "no VMM process"
	kill -STOP $vmm
	t0=$(date +%s%N)
	out=$(timeout 60 ctr --address "$CTD_SOCK" -n "$CTD_NS" tasks rm c16 2>&1) || fail "tasks rm: $out"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "Delete with a silent guest took $ms ms (stop_grace_ms 2000)"
	# Without the grace, Delete waits for the agent's reply timeout (30 s). The bound sits
	# between the two: in the lab's L1 under load, ctr alone takes seconds.
	[ "$ms" -lt 20000 ] || fail "Delete waited $ms ms for a silent guest (stop_grace_ms 2000, the agent timeout 30000)"
	ctr_ containers rm c16 || fail "containers rm"
	wait_gone "$(shim_socket c16)" || fail "shim socket left behind"
	for i in $(seq 50); do kill -0 $vmm 2>/dev/null || break; sleep 0.2; done
	kill -0 $vmm 2>/dev/null && fail "the frozen VMM outlived the pod"
	wait_state_empty || fail "sandbox state left: $(ls "$COCOON_STATE_DIR")"
	ctd_stop
}

# The jail of the pod's host processes, seen from inside (docs/security.md): QEMU runs
# as its own unprivileged uid with no capabilities, no_new_privs and seccomp, PID 1 of
# its own pid namespace, and its root holds neither containerd's socket nor the host's
# files nor other processes. virtiofsd (root: it serves files of any owner) is in its
# own namespaces with the shared directory as its root.
test_ctr_vmm_jail() {
	ctd_start
	echo host-secret >"$T/secret"
	ctr_run -d "$IMG" c14 sleep 1000 >/dev/null || fail "ctr run -d"
	wait_task_status c14 RUNNING || fail "not RUNNING"
	local vmm vfs uid st v
	vmm=$(vmm_of c14)
	[ -n "$vmm" ] || fail "no VMM process"
	v=$(cat /proc/$vmm/comm) # qemu-system-x86 or cocoon-vmm
	st=$(cat /proc/$vmm/status)
	uid=$(awk '/^Uid:/ {print $2}' <<<"$st")
	[ "$uid" -ne 0 ] || fail "$v runs as root"
	grep -q "^CapEff:	0000000000000000" <<<"$st" || fail "$v has capabilities: $(grep ^Cap <<<"$st")"
	grep -q "^CapBnd:	0000000000000000" <<<"$st" || fail "$v's bounding set is not empty"
	grep -q "^NoNewPrivs:	1" <<<"$st" || fail "$v lacks no_new_privs"
	grep -q "^Seccomp:	2" <<<"$st" || fail "$v has no seccomp filter"
	grep -q "^NSpid:	$vmm	1\$" <<<"$st" || fail "$v is not PID 1 of its own pid namespace: $(grep ^NSpid <<<"$st")"
	local root=/proc/$vmm/root
	[ -e "$root$CTD_SOCK" ] && fail "containerd's socket is visible to $v"
	[ -e "$root$T/secret" ] && fail "host files are visible to $v"
	[ -e "$root/etc/passwd" ] && fail "/etc is visible to $v"
	if [ "$v" = cocoon-vmm ]; then
		# It connects by path: of the state dir it sees its own directory <pod>/vm (its
		# sockets) and virtiofsd's socket, nothing else (docs/security.md).
		local seen
		seen=$(cd "$root$COCOON_STATE_DIR" && find . -mindepth 1 -maxdepth 2 | sort | tr '\n' ' ')
		[[ "$seen" =~ ^\./([^/]+)\ \./([^/]+)/fs\.sock\ \./([^/]+)/vm\ $ ]] &&
			[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[3]}" ] ||
			fail "cocoon-vmm sees more of the state dir than its own: $seen"
	else
		[ -e "$root$COCOON_STATE_DIR" ] && fail "the sandbox state dir is visible to QEMU: $(ls -R "$root$COCOON_STATE_DIR")"
	fi
	# From inside its namespaces, with its ids: no other process, no containerd.
	local out
	out=$(nsenter -t "$vmm" -m -p -r -w -S "$uid" -G "$uid" /bin/sh -c \
		"ls /proc | grep -E '^[0-9]+\$' | tr '\n' ' '; test -e $CTD_SOCK && echo SOCK; cat $T/secret 2>/dev/null; echo end" 2>&1)
	assert_not_contains "$out" "SOCK" "containerd socket from $v's namespaces"
	assert_not_contains "$out" "host-secret" "host file from $v's namespaces"
	[[ "$out" == "1 "* ]] || fail "$v's pid namespace shows other processes: $out"
	# virtiofsd: its own mount namespace rooted at the shared directory.
	vfs=$(pgrep -f -- "virtiofsd.*$COCOON_STATE_DIR" | head -1)
	[ -n "$vfs" ] || fail "no virtiofsd"
	# (sandbox=namespace: the process that serves is a child; its parent only waits.)
	local served
	served=$(pgrep -P "$vfs" | head -1)
	[ -n "$served" ] || fail "virtiofsd has no sandboxed child"
	[ -e "/proc/$served/root$CTD_SOCK" ] && fail "containerd's socket is visible to virtiofsd"
	[ -e "/proc/$served/root$T/secret" ] && fail "host files are visible to virtiofsd"
	grep -q "Max open files *16384" /proc/$served/limits ||
		fail "virtiofsd fd limit: $(grep 'open files' /proc/$served/limits)"
	ctr_ tasks kill -s SIGKILL c14 || fail "kill"
	wait_task_status c14 STOPPED || fail "not STOPPED"
	ctr_ tasks rm c14 >/dev/null || fail "tasks rm"
	ctr_ containers rm c14 || fail "containers rm"
	ctd_stop
}

# A guest that took over its VMM, played from the VMM's own view (either backend): with
# the VMM's uid and gid, in its mount, pid and network namespaces, connecting to
# containerd's socket, reading a host file and signalling the VMM of another sandbox
# all fail. Each of the two VMMs has its own uid, no capabilities, no_new_privs and a
# seccomp filter. (Un-jailed, the VMM was root in the host's namespaces: all three
# succeeded.)
test_ctr_vmm_jail_escape() {
	ctd_start
	echo host-secret >"$T/secret"
	chmod 644 "$T/secret"
	ctr_run -d "$IMG" c17 sleep 1000 >/dev/null || fail "ctr run -d c17"
	ctr_run -d "$IMG" c18 sleep 1000 >/dev/null || fail "ctr run -d c18"
	wait_task_status c17 RUNNING || fail "c17 not RUNNING"
	wait_task_status c18 RUNNING || fail "c18 not RUNNING"
	local a b st uid gid ns out
	a=$(vmm_of c17) b=$(vmm_of c18)
	[ -n "$a" ] && [ -n "$b" ] || fail "no VMM processes ($a, $b): $(pgrep -af -- "$COCOON_STATE_DIR")"
	for pid in $a $b; do
		st=$(cat /proc/$pid/status)
		grep -q "^CapEff:	0000000000000000" <<<"$st" || fail "VMM $pid has capabilities"
		grep -q "^NoNewPrivs:	1" <<<"$st" || fail "VMM $pid lacks no_new_privs"
		grep -q "^Seccomp:	2" <<<"$st" || fail "VMM $pid has no seccomp filter"
		for ns in mnt pid; do
			[ "$(readlink /proc/$pid/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] ||
				fail "VMM $pid is in the host's $ns namespace"
		done
	done
	uid=$(awk '/^Uid:/ {print $2}' /proc/$a/status)
	gid=$(awk '/^Gid:/ {print $2}' /proc/$a/status)
	[ "$uid" -ne 0 ] || fail "the VMM runs as root"
	[ "$uid" != "$(awk '/^Uid:/ {print $2}' /proc/$b/status)" ] || fail "two sandboxes' VMMs share uid $uid"
	[ "$(readlink /proc/$a/ns/pid)" != "$(readlink /proc/$b/ns/pid)" ] || fail "two VMMs share a pid namespace"
	# perl is in the jail's /usr (QEMU's and cocoon-vmm's jails hold /usr read-only).
	out=$(nsenter -t "$a" -m -p -n -r -w -S "$uid" -G "$gid" /usr/bin/perl -MIO::Socket::UNIX -e '
		print IO::Socket::UNIX->new(Peer => $ARGV[0]) ? "CONNECTED\n" : "connect: $!\n";
		my $f;
		print open($f, "<", $ARGV[1]) ? "READ " . <$f> : "open: $!\n";
		print kill(0, $ARGV[2]) ? "SIGNALLED\n" : "kill: $!\n";' "$CTD_SOCK" "$T/secret" "$b" 2>&1)
	echo "as the VMM of c17: $out"
	assert_contains "$out" "connect: " "connecting to containerd's socket from the VMM's view"
	assert_contains "$out" "open: " "opening a host file from the VMM's view"
	assert_contains "$out" "kill: " "signalling another sandbox's VMM from the VMM's view"
	assert_not_contains "$out" "CONNECTED" "containerd's socket"
	assert_not_contains "$out" "host-secret" "host file"
	assert_not_contains "$out" "SIGNALLED" "the other VMM"
	kill -0 "$b" || fail "the other VMM died"
	ctr_ tasks kill -s SIGKILL c17 && ctr_ tasks kill -s SIGKILL c18 || fail "kill"
	wait_task_status c17 STOPPED && wait_task_status c18 STOPPED || fail "not STOPPED"
	ctr_ tasks rm c17 >/dev/null && ctr_ tasks rm c18 >/dev/null || fail "tasks rm"
	ctr_ containers rm c17 c18 || fail "containers rm"
	ctd_stop
}

# The pod's host cgroup (docs/security.md): QEMU and virtiofsd are charged to
# <hierarchy>/cocoon/<pod>-<hash of its state dir>, sized from the pod's limits plus an overhead, so a guest
# spinning on both its vCPUs gets at most the pod's CPU limit + 0.5 CPU of host time,
# the node's accounting sees the guest's memory, and nothing is left after delete.
test_ctr_host_cgroup() {
	ctd_start
	local cg=/sys/fs/cgroup
	[ -d $cg/cpu ] && [ -d $cg/memory ] || [ -f $cg/cgroup.controllers ] ||
		skip "neither cgroup v1 cpu+memory nor a v2 root at $cg"
	ctr_run -d --annotation io.kubernetes.cri.sandbox-cpu-quota=20000 \
		--annotation io.kubernetes.cri.sandbox-cpu-period=100000 \
		--annotation io.kubernetes.cri.sandbox-memory=$((64 << 20)) \
		"$IMG" c15 sh -c 'while :; do :; done & while :; do :; done' >/dev/null || fail "ctr run -d"
	wait_task_status c15 RUNNING || fail "not RUNNING"
	local vmm vfs cpu_dir mem_dir
	vmm=$(vmm_of c15)
	vfs=$(pgrep -f -- "virtiofsd.*$COCOON_STATE_DIR" | head -1)
	if [ -f $cg/cgroup.controllers ]; then
		cpu_dir=$(echo $cg/cocoon/c15-*) mem_dir=$cpu_dir
		assert_eq "70000 100000" "$(cat $cpu_dir/cpu.max)" "cpu.max: pod limit 0.2 + 0.5 CPU"
		assert_eq $(((256 + 64 + 512) << 20)) "$(cat $mem_dir/memory.max)" "memory.max"
	else
		cpu_dir=$(echo $cg/cpu/cocoon/c15-*) mem_dir=$(echo $cg/memory/cocoon/c15-*)
		assert_eq 70000 "$(cat $cpu_dir/cpu.cfs_quota_us)" "CFS quota: pod limit 0.2 + 0.5 CPU"
		assert_eq $(((256 + 64 + 512) << 20)) "$(cat $mem_dir/memory.limit_in_bytes)" "memory limit: guest RAM + overhead"
	fi
	grep -qx "$vmm" $cpu_dir/cgroup.procs || fail "the VMM ($(cat /proc/$vmm/comm)) is not in the pod's cgroup"
	grep -qx "$vfs" $mem_dir/cgroup.procs || fail "virtiofsd is not in the pod's cgroup"
	# Host CPU of QEMU over 5 s while the guest spins on both vCPUs.
	local hz t0 t1
	hz=$(getconf CLK_TCK)
	t0=$(awk '{print $14 + $15}' /proc/$vmm/stat)
	sleep 5
	t1=$(awk '{print $14 + $15}' /proc/$vmm/stat)
	local ms=$(((t1 - t0) * 1000 / hz))
	echo "QEMU used $ms ms of CPU in 5000 ms (limit 3500)"
	[ "$ms" -le 4000 ] || fail "a busy guest took $ms ms of host CPU in 5 s, over its 0.7 CPU limit"
	# The quota binds (on a loaded host the share alone may keep QEMU below it).
	local throttled
	throttled=$(awk '$1 == "nr_throttled" {print $2}' $cpu_dir/cpu.stat)
	echo "throttled in $throttled periods"
	[ "${throttled:-0}" -gt 0 ] || fail "the pod's CPU quota never throttled a spinning guest"
	# The guest's RAM is charged to the pod.
	local usage
	if [ -f $mem_dir/memory.current ]; then usage=$(cat $mem_dir/memory.current); else usage=$(cat $mem_dir/memory.usage_in_bytes); fi
	[ "$usage" -gt $((16 << 20)) ] || fail "the pod's cgroup accounts only $usage bytes"
	ctr_ tasks kill -s SIGKILL c15 || fail "kill"
	wait_task_status c15 STOPPED || fail "not STOPPED"
	ctr_ tasks rm c15 >/dev/null || fail "tasks rm"
	ctr_ containers rm c15 || fail "containers rm"
	wait_gone "$(shim_socket c15)" || fail "shim socket left behind"
	wait_gone "$cpu_dir" || fail "cgroup $cpu_dir left behind"
	wait_gone "$mem_dir" || fail "cgroup $mem_dir left behind"
	ctd_stop
}
