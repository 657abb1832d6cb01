# Shared helpers for integration tests (sourced by tests/run.sh for each test function).
# Each test gets a private directory $T, its own cocoon state dir, and after it returns
# the harness asserts that nothing was left behind: no process, mount or file that
# names $T. A test skips with `skip "reason"` (exit 77) and fails on any non-zero exit.

ROOT=$(pwd)
COCOON=$ROOT/build/bin/cocoon
COCOON_VMM=$ROOT/build/bin/cocoon-vmm

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

assert_eq() { # expected actual what
	[ "$1" == "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_contains() { # haystack needle what
	[[ "$1" == *"$2"* ]] || fail "$3: '$2' not found in: $1"
}

assert_not_contains() { # haystack needle what
	[[ "$1" != *"$2"* ]] || fail "$3: '$2' unexpectedly found in: $1"
}

# Busybox rootfs: a directory with busybox and its applet links (no host libraries).
make_rootfs() { # DIR
	"$ROOT/tests/busybox-rootfs.sh" "$1"
}

# Sandbox templates (host/template.h), made by a detached maker and topped up with spares
# by a detached filler: waits until neither runs and the template of a shape is in
# place (with the spares the maker filled); prints its directory.
template_workers() {
	pgrep -f -- "template-(make|spare) --state-dir $COCOON_STATE_DIR" >/dev/null
}
wait_template() { # SHAPE
	local i d
	for i in $(seq 600); do
		if ! template_workers; then
			d=$(ls -d "$COCOON_STATE_DIR"/templates/"$1"* 2>/dev/null | head -1)
			[ -n "$d" ] && { echo "$d"; return 0; }
		fi
		sleep 0.5
	done
	fail "no template $1 after 300 s: $(cat "$COCOON_STATE_DIR/templates/maker.log" 2>/dev/null | tail -5)"
}
# At a template test's end, whatever happened: no maker or filler running, no template left.
templates_cleanup() {
	local i
	for i in $(seq 600); do
		template_workers || break
		sleep 0.5
	done
	rm -rf "$COCOON_STATE_DIR/templates"
}

# Everything a test may have started or created carries $T in its paths.
leftovers() {
	local found=0
	local pids
	pids=$(pgrep -f -- "$T" 2>/dev/null | grep -vx "$$" || true)
	if [ -n "$pids" ]; then
		echo "LEFTOVER processes naming $T:"
		ps -o pid,args -p $pids 2>/dev/null | sed 's/^/    /'
		found=1
	fi
	if grep -q -- "$T" /proc/self/mountinfo; then
		echo "LEFTOVER mounts under $T:"
		grep -- "$T" /proc/self/mountinfo | sed 's/^/    /'
		found=1
	fi
	if [ -d "$COCOON_STATE_DIR" ] && [ -n "$(ls -A "$COCOON_STATE_DIR")" ]; then
		echo "LEFTOVER state in $COCOON_STATE_DIR:"
		find "$COCOON_STATE_DIR" | sed 's/^/    /'
		found=1
	fi
	return $found
}

cc_timed_out() { # PGID
	echo "TIMEOUT: the test ran out of time (COCOON_TEST_TIMEOUT); still running:"
	ps -o pid,etimes,args --forest -p "$(pgrep -d, -g "$1")" 2>/dev/null | sed "s/^/    /"
	kill -TERM -- "-$1" 2>/dev/null
	sleep 2
	kill -KILL -- "-$1" 2>/dev/null
}

cc_run_test() { # NAME
	T=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-test.XXXXXX")
	export T
	export COCOON_STATE_DIR=$T/state
	mkdir -p "$COCOON_STATE_DIR"
	# The test in a process group of its own (job control), so that a test stopped by
	# tests/run.sh's per-test timeout (SIGTERM to this shell) is shown — what was
	# still running names the stalled step — and killed, group and all.
	set -m
	(cd "$T" && "$1") &
	local pid=$!
	set +m
	trap 'cc_timed_out "$pid"' TERM
	wait "$pid"
	local rc=$?
	trap - TERM
	if [ $rc -ne 77 ]; then
		# Give exiting processes a moment to be reaped before judging.
		local i
		for i in 1 2 3 4 5 6 7 8 9 10; do leftovers >/dev/null && break; sleep 0.3; done
		if ! leftovers; then
			rc=1
			pkill -9 -f -- "$T" 2>/dev/null
			grep -- "$T" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
		fi
	fi
	rm -rf "$T"
	return $rc
}
