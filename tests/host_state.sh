# What a run of the suite may leave on the host if a test or the product leaks: the
# per-test check (tests/lib.sh leftovers) sees processes, mounts and files that name the
# test's directory; links, network namespaces and cgroups are named otherwise (a CNI
# bridge, a pod's netns, cocoon/<sandbox>-<hash>), so tests/run.sh compares the host
# before and after the whole run. Sourced by tests/run.sh.

# One sorted line per thing: links of the root netns, named netns, cgroups Cocoon
# (cocoon/), containerd's CRI (k8s.io/) and the suite's containerd namespace
# (cocoon-test/) make, and processes of the stack.
host_state() {
	{
		ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
		ip netns list 2>/dev/null | awk '{ print "netns " $1 }'
		local h
		for h in /sys/fs/cgroup /sys/fs/cgroup/*/; do
			find "${h%/}/cocoon" "${h%/}/k8s.io" "${h%/}/cocoon-test" -mindepth 1 -type d 2>/dev/null
		done | sed 's/^/cgroup /'
		ps -e -o pid=,comm=,args= |
			awk '$2 ~ /^(cocoon|cocoon-vmm|cocoon-agent|virtiofsd|containerd|containerd-shim.*|qemu-system-.*|dockerd)$/ {
				print "process " $1 " " $3 }'
	} | sort -u
}

# Lines of AFTER not in BEFORE; waits up to 15 s for them to go (a sandbox's last
# processes exit, a template's filler ends) before calling them left.
host_state_new() { # BEFORE_FILE
	local i new
	for i in $(seq 30); do
		new=$(host_state | comm -13 "$1" -)
		[ -z "$new" ] && return 0
		sleep 0.5
	done
	printf '%s\n' "$new"
}
