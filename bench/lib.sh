# Helpers the benchmarks share (sourced, not run).

# The PIDs of a process tree: the process, then its descendants.
tree_pids() { # PID
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}

# PSS (kB) of a process tree; with "descendants", of the tree without its root.
pss_kb() { # PID [descendants]
	local sum=0 p v skip=1
	[ "${2:-}" = descendants ] && skip=2
	for p in $(tree_pids "$1" | tail -n +$skip); do
		v=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# Waits for TEXT in FILE, at most TENTHS tenths of a second (120 s by default); exits
# the bench when it does not come.
wait_for() { # FILE TEXT [TENTHS]
	local i
	for i in $(seq 1 "${3:-1200}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "bench: timed out waiting for '$2' in $1" >&2
	exit 1
}
