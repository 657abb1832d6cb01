# The guest is hostile. These tests play the attacker: a privileged container stands in
# for a guest kernel the workload rewrote and goes for the host side of the shared
# directory (virtio-fs tag SANDBOX_FS_TAG, "cocoon"); other tests hand the host bad
# paths that would reach host operations. docs/security.md lists each boundary crossing
# these check.
#
# Where the attacker reaches the share root: mounting the tag again in the guest
# (`mount -t virtiofs cocoon /mnt`) gives the newest superblock of that virtio-fs device,
# which is a submount's (a share's) as soon as a container runs. So the cocoon run tests
# share the guest's pid namespace and go through /proc/1/root to the agent's own mount
# of the whole tree, which is what a hostile guest kernel sees.
source tests/containerd_lib.sh

# sec_bundle DIR SCRIPT: a bundle whose container has CAP_SYS_ADMIN and CAP_SYS_PTRACE,
# the guest's pid namespace, a read-only rootfs and $T/hostro (a host directory with a
# file "secret") bind-mounted read-only at /data, and runs SCRIPT with sh, with $S the
# share root as the guest's agent sees it.
sec_bundle() {
	local dir=$1 script=$2 caps
	make_rootfs "$dir/rootfs"
	mkdir -p "$T/hostro" "$dir/rootfs/data"
	echo original >"$T/hostro/secret"
	caps='["CAP_SYS_ADMIN","CAP_SYS_PTRACE","CAP_DAC_OVERRIDE","CAP_CHOWN","CAP_FOWNER","CAP_MKNOD","CAP_SETUID","CAP_SETGID"]'
	jq -n --arg script "$script" --arg ro "$T/hostro" --argjson caps "$caps" '{
	  ociVersion: "1.0.2",
	  process: {terminal: false, user: {uid: 0, gid: 0}, args: ["sh", "-c", $script],
	    env: ["PATH=/bin", "S=/proc/1/root/run/cocoon/shared"], cwd: "/",
	    capabilities: {bounding: $caps, effective: $caps, permitted: $caps}},
	  root: {path: "rootfs", readonly: true},
	  mounts: [{destination: "/proc", type: "proc", source: "proc"},
	           {destination: "/tmp", type: "tmpfs", source: "tmpfs"},
	           {destination: "/data", type: "bind", source: $ro, options: ["rbind", "ro"]}],
	  linux: {namespaces: [{type: "mount"}, {type: "uts"}, {type: "ipc"}]}
	}' >"$dir/config.json" || fail "jq"
}

# The guest writes through every read-only share it finds in the shared directory: the
# bind-mounted volume and the read-only rootfs.
test_sec_read_only_shares_stay_read_only() {
	sec_bundle "$T/b" 'ls $S || exit 9; echo reached
		for d in $S/*; do
			echo pwned >"$d/secret" 2>/tmp/e && echo "wrote $d/secret"
			echo pwned >"$d/pwned" 2>/tmp/e && echo "wrote $d/pwned"
		done; true'
	local out
	out=$("$COCOON" run --bundle "$T/b" 2>&1)
	assert_eq 0 $? "exit status ($out)"
	assert_contains "$out" "reached" "the guest reached the share root"
	assert_contains "$out" "rootfs" "the guest sees the shares"
	assert_eq original "$(cat "$T/hostro/secret")" "host file shared read-only"
	[ ! -e "$T/hostro/pwned" ] || fail "a file was created in a read-only volume: $out"
	[ ! -e "$T/b/rootfs/pwned" ] || fail "a file was created in the read-only rootfs: $out"
	assert_not_contains "$out" "wrote" "writes through read-only shares"
}

# The share root: the guest can neither fill it (it sat on the host's /run) nor plant a
# symbolic link or a directory where the host makes its mount points.
test_sec_share_root_unwritable() {
	# (no /dev in this read-only rootfs: /tmp/e stands in for /dev/null)
	sec_bundle "$T/b" 'ls $S >/tmp/e || exit 9; echo reached
		yes | head -c 8388608 >$S/fill 2>/tmp/e && echo "filled"
		ln -s / $S/mount9 2>/tmp/e && echo "linked"
		mkdir $S/mount8 2>/tmp/e && echo "made dir"
		touch $S/x 2>&1; true'
	local out
	out=$("$COCOON" run --debug --bundle "$T/b" 2>"$T/err")
	assert_eq 0 $? "exit status ($out) $(tail -5 "$T/err")"
	assert_contains "$out" "reached" "the guest reached the share root"
	assert_contains "$out" "Read-only file system" "the share root refuses writes"
	assert_not_contains "$out" "filled" "8 MiB written into the share root"
	assert_not_contains "$out" "linked" "symbolic link planted in the share root"
	assert_not_contains "$out" "made dir" "directory made in the share root"
}

# A netns path naming the namespace cocoon itself runs in would hand its interfaces to
# the guest. Run in a fresh namespace so nothing real is at stake if this regresses.
test_sec_host_netns_refused() {
	make_rootfs "$T/r"
	local out
	out=$(unshare -n "$COCOON" run --netns /proc/self/ns/net --rootfs "$T/r" -- true 2>&1)
	assert_eq 125 $? "exit status ($out)"
	assert_contains "$out" "network namespace /proc/self/ns/net is the host's own" "error"
}

# Guest error text reaches the user's terminal: escape sequences in it are neutralised.
test_sec_guest_error_text_sanitized() {
	make_rootfs "$T/r"
	local out
	out=$("$COCOON" run --rootfs "$T/r" -- $'no-such\e]0;owned\a\e[2J' 2>&1)
	assert_eq 127 $? "exit status"
	assert_contains "$out" "no-such" "message names the command"
	[[ "$out" != *$'\e'* && "$out" != *$'\a'* ]] || fail "control characters reached the terminal: $(printf %q "$out")"
}

# ctr run --rootfs DIR makes root.path an absolute host path: sharing it would hand the
# guest any host directory, writable.
test_sec_ctr_rootfs_outside_bundle_refused() {
	ctd_start
	make_rootfs "$T/hostdir"
	local out
	out=$(timeout --foreground 120 ctr --address "$CTD_SOCK" -n "$CTD_NS" run --rm --runtime "$RUNTIME" \
		--rootfs "$T/hostdir" c1 sh -c 'echo pwned >/pwned' 2>&1)
	[ $? -ne 0 ] || fail "ctr run --rootfs succeeded: $out"
	[ ! -e "$T/hostdir/pwned" ] || fail "the guest wrote into a host directory"
	assert_contains "$out" "is outside the bundle" "error says why"
	ctr_ containers rm c1 >/dev/null 2>&1
	ctd_stop
}

# The read-only rootfs of a containerd container (readOnlyRootFilesystem) is read-only
# on the host side too, whatever the guest mounts. Mounting the tag again gives the
# newest share's superblock (this container's rootfs) or the root: both are tried.
test_sec_ctr_read_only_rootfs() {
	ctd_start
	local out
	out=$(timeout --foreground 120 ctr --address "$CTD_SOCK" -n "$CTD_NS" run --rm --runtime "$RUNTIME" \
		--read-only --cap-add CAP_SYS_ADMIN "$IMG" c1 sh -c 'mount -t virtiofs cocoon /root || exit 9; echo mounted
			for f in /root/pwned /root/c1/pwned; do echo pwned 2>&1 >$f && echo wrote $f; done; true' 2>&1)
	assert_eq 0 $? "exit status ($out)"
	assert_contains "$out" "mounted" "the guest mounted the virtio-fs tag"
	assert_contains "$out" "Read-only file system" "write refused"
	assert_not_contains "$out" "wrote" "write through the read-only rootfs"
	ctd_stop
}

# containerd shows the pid of a host process it may signal or inspect: the VMM's, never
# a guest pid that names some unrelated host process.
test_sec_ctr_task_pid_is_the_vmm() {
	ctd_start
	timeout --foreground 120 ctr --address "$CTD_SOCK" -n "$CTD_NS" run --runtime "$RUNTIME" \
		-d "$IMG" c1 sleep 1000 >/dev/null || fail "ctr run -d"
	local pid i
	for i in $(seq 100); do
		pid=$(ctr_ tasks ls | awk '$1 == "c1" && $3 == "RUNNING" {print $2}')
		[ -n "$pid" ] && break
		sleep 0.2
	done
	[ -n "$pid" ] || fail "c1 not RUNNING: $(ctr_ tasks ls)"
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$COCOON_STATE_DIR" ||
		fail "task pid $pid is not the VMM: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>&1)"
	ctr_ tasks kill -s KILL c1 >/dev/null
	for i in $(seq 100); do ctr_ tasks ls | grep -q '^c1 .*STOPPED' && break; sleep 0.2; done
	ctr_ tasks rm c1 >/dev/null 2>&1
	ctr_ containers rm c1 >/dev/null 2>&1
	ctd_stop
}

# `shim delete` kills and removes what the bundle's state file names: a path that is
# not this pod's sandbox dir is refused, and nothing there is touched.
test_sec_shim_delete_refuses_foreign_state() {
	mkdir -p "$T/bundle" "$T/victim"
	echo keep >"$T/victim/file"
	echo '{"ociVersion":"1.0.2","root":{"path":"rootfs"}}' >"$T/bundle/config.json"
	printf '%s' "$T/victim" >"$T/bundle/cocoon-state"
	# One process whose command line names the directory, as the VMM's names its state dir.
	tail -f "$T/victim/file" >/dev/null &
	local victim=$! out rc
	out=$("$ROOT/build/bin/containerd-shim-cocoon-v2" -namespace sec -address "$T/no.sock" \
		-publish-binary /bin/true -id c1 -bundle "$T/bundle" delete 2>&1 >/dev/null)
	rc=$?
	kill -0 "$victim" 2>/dev/null && local alive=1
	kill "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
	[ "${alive:-0}" = 1 ] || fail "delete killed a process naming $T/victim/"
	[ -f "$T/victim/file" ] || fail "delete removed $T/victim"
	[ $rc -ne 0 ] || fail "delete succeeded"
	assert_contains "$out" "refusing state path '$T/victim'" "error names the path"
	# Named like the pod and holding its id file, but a symbolic link: refused too.
	printf c1 >"$T/victim/sandbox-id"
	mkdir -p "$T/other" && ln -s "$T/victim" "$T/other/c1"
	printf '%s' "$T/other/c1" >"$T/bundle/cocoon-state"
	out=$("$ROOT/build/bin/containerd-shim-cocoon-v2" -namespace sec -address "$T/no.sock" \
		-publish-binary /bin/true -id c1 -bundle "$T/bundle" delete 2>&1 >/dev/null)
	[ $? -ne 0 ] || fail "delete through a symbolic link succeeded"
	[ -f "$T/victim/file" ] || fail "delete removed $T/victim through a symbolic link"
	assert_contains "$out" "not a directory" "error says why"
	# The pod's own state dir is still cleaned up.
	mkdir -p "$COCOON_STATE_DIR/c1"
	printf c1 >"$COCOON_STATE_DIR/c1/sandbox-id"
	printf '%s' "$COCOON_STATE_DIR/c1" >"$T/bundle/cocoon-state"
	"$ROOT/build/bin/containerd-shim-cocoon-v2" -namespace sec -address "$T/no.sock" \
		-publish-binary /bin/true -id c1 -bundle "$T/bundle" delete >/dev/null ||
		fail "delete of a genuine state dir failed"
	[ ! -e "$COCOON_STATE_DIR/c1" ] || fail "the sandbox state dir was not removed"
}

# A bounded libFuzzer run of the host's decoding of agent replies (ttrpc frames, the
# Response, each reply message, the callers' checks); COCOON_FUZZ_SECONDS, 10 by default.
test_sec_fuzz_agent_replies_bounded() {
	command -v clang >/dev/null || fail "no clang (scripts/install-deps.sh installs it)"
	make -s -C "$ROOT" build/fuzz/fuzz_agent_reply >"$T/build.log" 2>&1 || fail "building the fuzzer: $(tail -5 "$T/build.log")"
	"$ROOT/tests/fuzz/seeds.py" "$T/fuzz" || fail "seeds"
	"$ROOT/build/fuzz/fuzz_agent_reply" -max_total_time="${COCOON_FUZZ_SECONDS:-10}" -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$T/" "$T/fuzz/corpus-fuzz_agent_reply" >"$T/fuzz.log" 2>&1 ||
		fail "the fuzzer found a crash: $(tail -30 "$T/fuzz.log")"
	grep -q '^Done' "$T/fuzz.log" || fail "the fuzzer did not finish: $(tail -5 "$T/fuzz.log")"
}

# A guest may only send as the pod: frames whose source IP or MAC is not the pod's are
# dropped on the tap. The guest here adds another address and changes its MAC.
test_sec_net_spoofed_source_dropped() {
	source "$ROOT/tests/integration/net.sh"
	trap net_cleanup EXIT
	local tag s ns
	tag=$(net_tag); s=$(net_subnet); ns=ccs-$tag
	net_pod "$ns" "cch$tag" "$s.2/24" "$s.1"
	ip addr add "$s.1/24" dev "cch$tag"
	make_rootfs "$T/bundle/rootfs"
	local caps='["CAP_NET_ADMIN","CAP_NET_RAW"]'
	jq -n --arg s "$s" --argjson caps "$caps" '{
	  ociVersion: "1.0.2",
	  process: {user: {uid: 0, gid: 0}, cwd: "/", env: ["PATH=/bin"],
	    capabilities: {bounding: $caps, effective: $caps, permitted: $caps},
	    args: ["sh", "-c", ("ping -c1 -W5 \($s).1 >/dev/null && echo legit-ok
	      ip addr add \($s).99/24 dev eth0
	      ping -c1 -W3 -I \($s).99 \($s).1 >/dev/null && echo spoofed-ip-ok
	      ip addr del \($s).99/24 dev eth0
	      ip link set eth0 address 02:00:00:00:00:99 && echo mac-changed
	      arping -c1 -w3 -I eth0 \($s).1 >/dev/null && echo spoofed-mac-ok; true")]},
	  root: {path: "rootfs"},
	  mounts: [{destination: "/proc", type: "proc", source: "proc"}],
	  linux: {namespaces: [{type: "pid"}, {type: "mount"}, {type: "ipc"}]}
	}' >"$T/bundle/config.json" || fail "jq"
	local out
	out=$("$COCOON" run --netns "/var/run/netns/$ns" --bundle "$T/bundle" 2>&1)
	assert_eq 0 $? "exit status ($out)"
	assert_contains "$out" "legit-ok" "the pod's own traffic passes"
	assert_contains "$out" "mac-changed" "the guest changed its MAC"
	assert_not_contains "$out" "spoofed-ip-ok" "traffic from another IP"
	assert_not_contains "$out" "spoofed-mac-ok" "traffic from another MAC"
	assert_ns_clean "$ns"
	net_cleanup
	trap - EXIT
}
