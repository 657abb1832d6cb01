# `cocoon run`: a container in its own VM (QEMU backend; TCG on hosts without vmx/svm).
# Every test boots a real guest kernel with the agent as init.

rootfs() {
	[ -d "$T/rootfs" ] || make_rootfs "$T/rootfs"
	echo "$T/rootfs"
}

test_run_exit_codes() {
	local r; r=$(rootfs)
	"$COCOON" run --rootfs "$r" -- true || fail "true exited $?"
	"$COCOON" run --rootfs "$r" -- sh -c 'exit 1'; assert_eq 1 $? "exit 1"
	"$COCOON" run --rootfs "$r" -- sh -c 'exit 42'; assert_eq 42 $? "exit 42"
}

test_run_killed_by_signal() {
	local r; r=$(rootfs)
	# The container's init ignores signals it sends itself (pid namespace rule), so
	# die by a fault: unbounded recursion on a 64 KiB stack is a SIGSEGV.
	"$COCOON" run --rootfs "$r" -- sh -c 'ulimit -s 64; f() { f; }; f'
	assert_eq 139 $? "death by SIGSEGV is 128+11"
}

test_run_stdout_stderr_apart() {
	local r; r=$(rootfs)
	"$COCOON" run --rootfs "$r" -- sh -c 'echo to-out; echo to-err >&2' >out 2>err
	assert_eq 0 $? "exit status"
	assert_eq "to-out" "$(cat out)" "stdout"
	assert_eq "to-err" "$(cat err)" "stderr"
}

test_run_stdin_piped() {
	local r; r=$(rootfs)
	local got
	got=$(printf 'hi\nthere\n' | "$COCOON" run -i --rootfs "$r" -- cat)
	assert_eq $'hi\nthere' "$got" "stdin echoed by cat"
	got=$(head -c 300000 /dev/zero | "$COCOON" run -i --rootfs "$r" -- wc -c)
	assert_eq 300000 "$(echo $got)" "300 kB of stdin arrive whole"
}

test_run_env_cwd_user() {
	local r; r=$(rootfs)
	mkdir -p "$r/work"
	local got
	got=$("$COCOON" run -e FOO=bar -e EMPTY= -w /work -u 65534:65534 --rootfs "$r" -- \
		sh -c 'echo "$FOO|$EMPTY|$(pwd)|$(id -u):$(id -g)"')
	assert_eq "bar||/work|65534:65534" "$got" "env, cwd and user"
}

test_run_read_only() {
	local r; r=$(rootfs)
	local out
	out=$("$COCOON" run --read-only --rootfs "$r" -- sh -c 'touch /written 2>&1; echo rc=$?')
	assert_contains "$out" "Read-only file system" "write refused"
	[ ! -e "$r/written" ] || fail "file written through --read-only"
	"$COCOON" run --rootfs "$r" -- touch /written || fail "writable run"
	[ -e "$r/written" ] || fail "a write without --read-only reaches the rootfs"
}

test_run_guest_kernel_not_host() {
	local r; r=$(rootfs)
	local got
	got=$("$COCOON" run --rootfs "$r" -- uname -r)
	[ -n "$got" ] || fail "no uname output"
	assert_not_contains "$got" "$(uname -r)" "guest kernel differs from the host's"
	assert_eq "$(cat "$ROOT/build/share/cocoon/kernel.release" 2>/dev/null || echo "$got")" "$got" "guest kernel release"
}

test_run_ps_shows_only_container() {
	local r; r=$(rootfs)
	local got
	got=$("$COCOON" run --rootfs "$r" -- ps -o pid,comm)
	# header + ps itself, PID 1 being ps
	assert_eq 2 "$(echo "$got" | wc -l)" "process list: $got"
	assert_contains "$(echo "$got" | sed -n 2p)" "1 ps" "ps is PID 1"
}

test_run_host_paths_unreachable() {
	local r; r=$(rootfs)
	local token="tok-$RANDOM$RANDOM"
	echo "$token" >"$T/host-file"
	local got
	got=$("$COCOON" run --rootfs "$r" -- sh -c "cat $T/host-file 2>&1; cat /proc/1/cmdline | tr '\\0' ' '")
	assert_not_contains "$got" "$token" "host file outside the rootfs"
	assert_contains "$got" "No such file" "host path absent in the guest"
}

test_run_memory_limit_oom() {
	local r; r=$(rootfs)
	local out rc
	# dd allocates its block and fills it: 128 MiB against a 64 MiB limit.
	out=$("$COCOON" run --memory 64M --rootfs "$r" -- dd if=/dev/zero of=/dev/null bs=128M count=1 2>&1)
	rc=$?
	assert_eq 137 "$rc" "exit status of an OOM-killed container ($out)"
	assert_contains "$out" "container killed: out of memory" "the run says why"
}

test_run_oom_of_a_child_keeps_main_status() {
	local r; r=$(rootfs)
	local out rc
	out=$("$COCOON" run --memory 64M --rootfs "$r" -- sh -c 'dd if=/dev/zero of=/dev/null bs=128M count=1; echo survived' 2>&1)
	rc=$?
	assert_eq 0 "$rc" "the main process survived ($out)"
	assert_contains "$out" "survived" "main process kept running"
	assert_contains "$out" "a process in the container was killed: out of memory" "the run says what happened"
}

test_run_unknown_command() {
	local r; r=$(rootfs)
	local out
	out=$("$COCOON" run --rootfs "$r" -- no-such-command 2>&1)
	assert_eq 127 $? "unknown command status"
	assert_contains "$out" "no-such-command" "message names the command"
}

test_run_bundle() {
	local r; r=$(rootfs)
	mkdir -p "$T/bundle"
	mv "$r" "$T/bundle/rootfs"
	cat >"$T/bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "echo bundle $GREETING $(hostname); exit 7"],
    "env": ["PATH=/bin", "GREETING=hello"],
    "cwd": "/"
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bundled",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]}
}
JSON
	local out
	out=$("$COCOON" run --bundle "$T/bundle")
	assert_eq 7 $? "bundle exit status"
	assert_eq "bundle hello bundled" "$out" "bundle output"
}

test_run_tty() {
	local r; r=$(rootfs)
	command -v script >/dev/null || fail "script(1) from bsdutils is missing"
	local out
	# script(1) gives cocoon a real terminal on the host side, sized 33x101.
	out=$(script -qec "stty rows 33 cols 101; $COCOON run -t --rootfs $r -- sh -c '[ -t 0 ] && [ -t 1 ] && echo is-a-tty; tty; stty size'" /dev/null </dev/null)
	assert_contains "$out" "is-a-tty" "the container has a terminal"
	assert_contains "$out" "/dev/pts/0" "the terminal is the container's own pty"
	assert_contains "$out" "33 101" "the terminal has the host's size"
}

# Starts `cocoon run` of sh -c CMD in the background, output in ./out, and waits until
# CMD printed "ready". RUN_PID is cocoon's pid: a child of the test's shell, to wait on.
run_until_ready() { # ROOTFS CMD
	"$COCOON" run --rootfs "$1" -- sh -c "$2" >out 2>&1 &
	RUN_PID=$!
	local i
	for i in $(seq 1 300); do grep -q ready out 2>/dev/null && break; sleep 0.1; done
	grep -q ready out || { kill -9 $RUN_PID; fail "container never started: $(cat out)"; }
}

test_run_sigterm_forwarded() {
	local r; r=$(rootfs)
	local pid
	run_until_ready "$r" 'trap "echo got-term; exit 3" TERM; echo ready; while true; do sleep 0.1; done'
	pid=$RUN_PID
	kill -TERM $pid
	wait $pid
	assert_eq 3 $? "exit status after SIGTERM was forwarded"
	assert_contains "$(cat out)" "got-term" "the container's trap ran"
}

test_run_third_interrupt_kills() {
	local r; r=$(rootfs)
	# sleep as the container's init has no SIGTERM handler: the first two are ignored.
	local pid
	run_until_ready "$r" 'echo ready; exec sleep 600'
	pid=$RUN_PID
	kill -TERM $pid; sleep 0.5; kill -TERM $pid; sleep 0.5
	kill -0 $pid 2>/dev/null || fail "cocoon ended before the third signal: $(cat out)"
	kill -TERM $pid
	wait $pid
	assert_eq 137 $? "exit status after the third SIGTERM"
	assert_contains "$(cat out)" "killing the container" "the run says why"
}
